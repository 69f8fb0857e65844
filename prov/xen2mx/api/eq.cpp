#include "eq.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include <rdma/fi_errno.h>

#include "attr.hpp"
#include "log.hpp"

namespace xen2mx::api {

namespace {

int eq_close(fid* f) {
    auto* eq = object_of<EventQueue>(f);
    if (eq->dependents.busy()) return -FI_EBUSY;
    eq->wait.close(f);
    eq->fabric->dependents.release();
    std::unique_ptr<EventQueue> owner(eq);
    return 0;
}

int eq_control(fid* f, int command, void* arg) {
    return object_of<EventQueue>(f)->wait.control(command, arg);
}

// Takes the head event under the lock; the caller holds `guard`.
ssize_t read_locked(EventQueue* eq, uint32_t* event, void* buf, size_t len, uint64_t flags) {
    if (eq->events.empty()) return -FI_EAGAIN;
    EventQueue::Event& head = eq->events.front();
    if (head.is_error) return -FI_EAVAIL;
    if (len < head.data.size()) return -FI_ETOOSMALL;
    if (event) *event = head.type;
    const ssize_t size = static_cast<ssize_t>(head.data.size());
    if (size) std::memcpy(buf, head.data.data(), head.data.size());
    if (!(flags & FI_PEEK)) {
        eq->events.pop_front();
        if (eq->events.empty()) eq->wait.clear();
    }
    return size;
}

ssize_t eq_read(fid_eq* handle, uint32_t* event, void* buf, size_t len, uint64_t flags) {
    auto* eq = object_of<EventQueue>(handle);
    if (flags & ~FI_PEEK) return -FI_EBADFLAGS;
    if (len && !buf) return -FI_EINVAL;
    std::lock_guard guard(eq->lock);
    return read_locked(eq, event, buf, len, flags);
}

ssize_t eq_sread(fid_eq* handle, uint32_t* event, void* buf, size_t len, int timeout, uint64_t flags) {
    auto* eq = object_of<EventQueue>(handle);
    if (flags & ~FI_PEEK) return -FI_EBADFLAGS;
    if (len && !buf) return -FI_EINVAL;
    std::unique_lock guard(eq->lock);
    const auto ready = [eq] { return !eq->events.empty(); };
    if (timeout < 0) {
        eq->changed.wait(guard, ready);
    } else if (!eq->changed.wait_for(guard, std::chrono::milliseconds(timeout), ready)) {
        return -FI_EAGAIN;
    }
    return read_locked(eq, event, buf, len, flags);
}

ssize_t eq_readerr(fid_eq* handle, fi_eq_err_entry* buf, uint64_t flags) {
    auto* eq = object_of<EventQueue>(handle);
    if (!buf) return -FI_EINVAL;
    if (flags & ~FI_PEEK) return -FI_EBADFLAGS;
    std::lock_guard guard(eq->lock);
    if (eq->events.empty() || !eq->events.front().is_error) return -FI_EAGAIN;
    EventQueue::Event& head = eq->events.front();
    const size_t user_room = buf->err_data_size;
    void* user_data = buf->err_data;
    buf->fid = head.error.fid;
    buf->context = head.error.context;
    buf->data = head.error.data;
    buf->err = head.error.err;
    buf->prov_errno = head.error.prov_errno;
    if (FI_VERSION_GE(eq->api_version, FI_VERSION(1, 5)) && user_room && user_data) {
        const size_t n = std::min(user_room, head.error_data.size());
        if (n) std::memcpy(user_data, head.error_data.data(), n);
        buf->err_data_size = n;
    } else {
        eq->last_error_data = head.error_data;
        buf->err_data = eq->last_error_data.empty() ? nullptr : eq->last_error_data.data();
        if (FI_VERSION_GE(eq->api_version, FI_VERSION(1, 5))) buf->err_data_size = eq->last_error_data.size();
    }
    if (!(flags & FI_PEEK)) {
        eq->events.pop_front();
        if (eq->events.empty()) eq->wait.clear();
    }
    return sizeof(*buf);
}

ssize_t eq_write(fid_eq* handle, uint32_t event, const void* buf, size_t len, uint64_t flags) {
    auto* eq = object_of<EventQueue>(handle);
    if (!(eq->flags & FI_WRITE)) {
        X2M_WARN(FI_LOG_EQ, "fi_eq_write needs an EQ opened with FI_WRITE\n");
        return -FI_EINVAL;
    }
    if (flags) return -FI_EBADFLAGS;
    if (len && !buf) return -FI_EINVAL;
    if (int ret = eq->post(event, buf, len)) return ret;
    return static_cast<ssize_t>(len);
}

const char* eq_strerror(fid_eq*, int prov_errno, const void*, char* buf, size_t len) {
    return provide_text(fi_strerror(prov_errno < 0 ? -prov_errno : prov_errno), buf, len);
}

fi_ops eq_fid_ops = {
    .size = sizeof(fi_ops),
    .close = eq_close,
    .bind = fid_no_bind,
    .control = eq_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_eq eq_ops = {
    .size = sizeof(fi_ops_eq),
    .read = eq_read,
    .readerr = eq_readerr,
    .write = eq_write,
    .sread = eq_sread,
    .strerror = eq_strerror,
};

}  // namespace

int EventQueue::post(uint32_t type, const void* data, size_t length) {
    try {
        Event event;
        event.type = type;
        event.data.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + length);
        std::lock_guard guard(lock);
        events.push_back(std::move(event));
    } catch (const std::bad_alloc&) {
        return -FI_ENOMEM;
    }
    wait.raise();
    changed.notify_all();
    return 0;
}

int EventQueue::post_error(fid_t fid, void* context, uint64_t data, int err, int prov_errno) {
    try {
        Event event;
        event.is_error = true;
        event.error.fid = fid;
        event.error.context = context;
        event.error.data = data;
        event.error.err = err;
        event.error.prov_errno = prov_errno;
        std::lock_guard guard(lock);
        events.push_back(std::move(event));
    } catch (const std::bad_alloc&) {
        return -FI_ENOMEM;
    }
    wait.raise();
    changed.notify_all();
    return 0;
}

bool EventQueue::has_events() {
    std::lock_guard guard(lock);
    return !events.empty();
}

int open_eq(fid_fabric* fabric_handle, fi_eq_attr* attr, fid_eq** eq_handle, void* context) {
    if (!fabric_handle || !attr || !eq_handle) return -FI_EINVAL;
    if (attr->flags & ~uint64_t{FI_WRITE | FI_AFFINITY}) return -FI_EBADFLAGS;
    auto* fabric = object_of<Fabric>(fabric_handle);
    auto eq = std::make_unique<EventQueue>();
    eq->fabric = fabric;
    eq->flags = attr->flags;
    eq->api_version = fabric_handle->api_version ? fabric_handle->api_version : kApiVersion;
    eq->handle.fid.fclass = FI_CLASS_EQ;
    eq->handle.fid.context = context;
    eq->handle.fid.ops = &eq_fid_ops;
    eq->handle.ops = &eq_ops;
    if (int ret = eq->wait.open(attr->wait_obj, attr->wait_set, fabric, &eq->handle.fid)) return ret;
    fabric->dependents.hold();
    *eq_handle = &eq.release()->handle;
    return 0;
}

}  // namespace xen2mx::api
