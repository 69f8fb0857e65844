// Filling op-table slots of operations the provider does not perform (yet):
// each returns -FI_ENOSYS, with the exact signature libfabric expects.
#pragma once

#include <rdma/fi_errno.h>

namespace xen2mx::api {

template <typename Slot>
struct NotSupported;

template <typename R, typename... Args>
struct NotSupported<R (*)(Args...)> {
    static R call(Args...) { return static_cast<R>(-FI_ENOSYS); }
};

}  // namespace xen2mx::api

// The -FI_ENOSYS function for member `slot` of op table type `ops`.
#define X2M_ENOSYS(ops, slot) (&::xen2mx::api::NotSupported<decltype(ops::slot)>::call)
