#include "fabric.hpp"

#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include <rdma/fi_errno.h>

#include "attr.hpp"
#include "cntr.hpp"
#include "cq.hpp"
#include "domain.hpp"
#include "eq.hpp"
#include "enum_field.hpp"
#include "log.hpp"

namespace xen2mx::api {

namespace {

// ------------------------------------------------------------------ wait sets

int wait_set_close(fid* f) {
    auto* set = object_of<WaitSet>(f);
    if (set->dependents.busy()) return -FI_EBUSY;
    set->fabric->dependents.release();
    std::unique_ptr<WaitSet> owner(set);
    return 0;
}

int wait_set_control(fid* f, int command, void* arg) {
    auto* set = object_of<WaitSet>(f);
    switch (command) {
    case FI_GETWAIT:
        if (!arg) return -FI_EINVAL;
        *static_cast<int*>(arg) = set->epoll_fd;
        return 0;
    case FI_GETWAITOBJ:
        if (!arg) return -FI_EINVAL;
        *static_cast<fi_wait_obj*>(arg) = FI_WAIT_FD;
        return 0;
    default: return -FI_ENOSYS;
    }
}

int wait_set_wait(fid_wait* handle, int timeout) {
    auto* set = object_of<WaitSet>(handle);
    epoll_event event;
    Deadline deadline(timeout);
    for (;;) {
        const int n = epoll_wait(set->epoll_fd, &event, 1, deadline.remaining_ms());
        if (n > 0) return 0;
        if (n == 0) return -FI_ETIMEDOUT;
        if (errno != EINTR) return -errno;
        if (deadline.expired()) return -FI_ETIMEDOUT;
    }
}

fi_ops wait_set_fid_ops = {
    .size = sizeof(fi_ops),
    .close = wait_set_close,
    .bind = fid_no_bind,
    .control = wait_set_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_wait wait_set_ops = {
    .size = sizeof(fi_ops_wait),
    .wait = wait_set_wait,
};

int open_wait_set(fid_fabric* fabric_handle, fi_wait_attr* attr, fid_wait** waitset) {
    if (!fabric_handle || !attr || !waitset) return -FI_EINVAL;
    if (attr->flags) return -FI_EBADFLAGS;
    if (raw(attr->wait_obj) != FI_WAIT_UNSPEC && raw(attr->wait_obj) != FI_WAIT_FD) {
        X2M_WARN(FI_LOG_FABRIC, "wait sets are FI_WAIT_FD (or FI_WAIT_UNSPEC), not %d\n", raw(attr->wait_obj));
        return -FI_ENOSYS;
    }
    auto set = std::make_unique<WaitSet>();
    set->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (set->epoll_fd < 0) return -errno;
    auto* fabric = object_of<Fabric>(fabric_handle);
    set->fabric = fabric;
    set->handle.fid.fclass = FI_CLASS_WAIT;
    set->handle.fid.context = nullptr;
    set->handle.fid.ops = &wait_set_fid_ops;
    set->handle.ops = &wait_set_ops;
    fabric->dependents.hold();
    *waitset = &set.release()->handle;
    return 0;
}

int trywait(fid_fabric*, fid** fids, int count) {
    if (count < 0 || (count && !fids)) return -FI_EINVAL;
    for (int i = 0; i < count; ++i) {
        if (!fids[i]) return -FI_EINVAL;
        // A counter has no queue to drain: its descriptor is re-armed here.
        if (fids[i]->fclass == FI_CLASS_CNTR) {
            object_of<Counter>(fids[i])->wait.clear();
        }
        if (has_pending(fids[i])) return -FI_EAGAIN;
    }
    return 0;
}

// ------------------------------------------------------------------ fabric

int fabric_close(fid* f) {
    auto* fabric = object_of<Fabric>(f);
    if (fabric->dependents.busy()) return -FI_EBUSY;
    std::unique_ptr<Fabric> owner(fabric);
    return 0;
}

int fabric_domain2(fid_fabric* fabric, fi_info* info, fid_domain** domain, uint64_t flags, void* context) {
    if (flags) return -FI_EBADFLAGS;
    return open_domain(fabric, info, domain, context);
}

int fabric_passive_ep(fid_fabric*, fi_info*, fid_pep**, void*) {
    // Passive endpoints belong to FI_EP_MSG, which the provider does not offer.
    return -FI_ENOSYS;
}

fi_ops fabric_fid_ops = {
    .size = sizeof(fi_ops),
    .close = fabric_close,
    .bind = fid_no_bind,
    .control = fid_no_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_fabric fabric_ops = {
    .size = sizeof(fi_ops_fabric),
    .domain = open_domain,
    .passive_ep = fabric_passive_ep,
    .eq_open = open_eq,
    .wait_open = open_wait_set,
    .trywait = trywait,
    .domain2 = fabric_domain2,
};

}  // namespace

WaitSet::~WaitSet() {
    if (epoll_fd >= 0) ::close(epoll_fd);
}

int WaitSet::add(fid* member, int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = member;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) return -errno;
    std::lock_guard guard(lock);
    members.push_back(member);
    dependents.hold();
    return 0;
}

void WaitSet::remove(fid* member, int fd) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    std::lock_guard guard(lock);
    members.erase(std::remove(members.begin(), members.end(), member), members.end());
    dependents.release();
}

bool has_pending(fid* object) {
    switch (object->fclass) {
    case FI_CLASS_CQ: return object_of<CompletionQueue>(object)->has_entries();
    case FI_CLASS_EQ: return object_of<EventQueue>(object)->has_events();
    case FI_CLASS_WAIT: {
        auto* set = object_of<WaitSet>(object);
        std::lock_guard guard(set->lock);
        return std::any_of(set->members.begin(), set->members.end(), has_pending);
    }
    default: return false;
    }
}

int open_fabric(fi_fabric_attr* attr, fid_fabric** fabric_handle, void* context) {
    if (!attr || !fabric_handle) return -FI_EINVAL;
    if (attr->name && strcasecmp(attr->name, kFabricName) != 0) {
        X2M_INFO(FI_LOG_FABRIC, "fabric %s unknown\n", attr->name);
        return -FI_ENODATA;
    }
    auto fabric = std::make_unique<Fabric>();
    fabric->handle.fid.fclass = FI_CLASS_FABRIC;
    fabric->handle.fid.context = context;
    fabric->handle.fid.ops = &fabric_fid_ops;
    fabric->handle.ops = &fabric_ops;
    fabric->handle.api_version = attr->api_version ? attr->api_version : kApiVersion;
    *fabric_handle = &fabric.release()->handle;
    return 0;
}

}  // namespace xen2mx::api
