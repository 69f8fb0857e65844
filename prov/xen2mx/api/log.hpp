// Logging through libfabric's logger, so FI_LOG_LEVEL and FI_LOG_SUBSYS apply.
#pragma once

#include <cerrno>

#include <rdma/fabric.h>
#include <rdma/providers/fi_log.h>
#include <rdma/providers/fi_prov.h>

namespace xen2mx::api {
extern fi_provider provider;
}  // namespace xen2mx::api

#define X2M_WARN(subsys, ...) FI_WARN(&::xen2mx::api::provider, subsys, __VA_ARGS__)
#define X2M_INFO(subsys, ...) FI_INFO(&::xen2mx::api::provider, subsys, __VA_ARGS__)
#define X2M_DBG(subsys, ...) FI_DBG(&::xen2mx::api::provider, subsys, __VA_ARGS__)
