// The entry point libfabric looks up after loading libxen2mx-fi.so; the only
// symbol the module exports.
#include "attr.hpp"
#include "log.hpp"
#include "params.hpp"

extern "C" __attribute__((visibility("default"))) fi_provider* fi_prov_ini(void) {
    xen2mx::api::define_params();
    X2M_INFO(FI_LOG_CORE, "xen2mx %u.%u loaded\n", FI_MAJOR(xen2mx::api::kProviderVersion),
             FI_MINOR(xen2mx::api::kProviderVersion));
    return &xen2mx::api::provider;
}
