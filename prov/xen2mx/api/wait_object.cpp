#include "wait_object.hpp"

#include <rdma/fi_errno.h>

#include "enum_field.hpp"
#include "fabric.hpp"
#include "log.hpp"

namespace xen2mx::api {

int WaitObject::open(const fi_wait_obj& requested, fid_wait* wait_set, Fabric* fabric, fid* owner) {
    switch (raw(requested)) {
    case FI_WAIT_NONE:
    case FI_WAIT_YIELD: kind_ = requested; return 0;
    case FI_WAIT_UNSPEC:
    case FI_WAIT_FD: kind_ = requested; return signal_.open();
    case FI_WAIT_SET: {
        if (!wait_set) return -FI_EINVAL;
        auto* set = object_of<WaitSet>(wait_set);
        if (set->fabric != fabric) return -FI_EINVAL;
        kind_ = requested;
        if (int ret = signal_.open()) return ret;
        if (int ret = set->add(owner, signal_.fd())) return ret;
        set_ = set;
        return 0;
    }
    default:
        X2M_WARN(FI_LOG_CORE, "wait object %d not supported (NONE, UNSPEC, FD, SET, YIELD are)\n", raw(requested));
        return -FI_ENOSYS;
    }
}

void WaitObject::close(fid* owner) {
    if (set_) set_->remove(owner, signal_.fd());
    set_ = nullptr;
}

int WaitObject::control(int command, void* arg) const {
    switch (command) {
    case FI_GETWAIT:
        if (!arg) return -FI_EINVAL;
        if (kind_ != FI_WAIT_FD && kind_ != FI_WAIT_UNSPEC) return -FI_ENODATA;
        *static_cast<int*>(arg) = signal_.fd();
        return 0;
    case FI_GETWAITOBJ:
        if (!arg) return -FI_EINVAL;
        *static_cast<fi_wait_obj*>(arg) = kind_ == FI_WAIT_UNSPEC ? FI_WAIT_FD : kind_;
        return 0;
    default: return -FI_ENOSYS;
    }
}

}  // namespace xen2mx::api
