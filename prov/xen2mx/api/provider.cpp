// The provider description handed to libfabric by fi_prov_ini (entry.cpp).
#include <rdma/fi_errno.h>

#include "attr.hpp"
#include "fabric.hpp"
#include "getinfo.hpp"
#include "log.hpp"
#include "params.hpp"

namespace xen2mx::api {

namespace {

void cleanup() {}

int fabric(fi_fabric_attr* attr, fid_fabric** fabric, void* context) {
    return open_fabric(attr, fabric, context);
}

}  // namespace

fi_provider provider = {
    .version = kProviderVersion,
    .fi_version = kApiVersion,
    .context = {},
    .name = "xen2mx",
    .getinfo = getinfo,
    .fabric = fabric,
    .cleanup = cleanup,
};

}  // namespace xen2mx::api
