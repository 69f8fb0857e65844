#include "cq.hpp"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include <rdma/fi_errno.h>

#include "enum_field.hpp"
#include "engine/types.hpp"
#include "log.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx::api {

namespace {

constexpr size_t kMaxCqSize = size_t{1} << 22;

size_t entry_size(fi_cq_format format) {
    switch (format) {
    case FI_CQ_FORMAT_CONTEXT: return sizeof(fi_cq_entry);
    case FI_CQ_FORMAT_MSG: return sizeof(fi_cq_msg_entry);
    case FI_CQ_FORMAT_DATA: return sizeof(fi_cq_data_entry);
    case FI_CQ_FORMAT_TAGGED: return sizeof(fi_cq_tagged_entry);
    default: return 0;
    }
}

void write_entry(fi_cq_format format, const Completion& c, void* out) {
    switch (format) {
    case FI_CQ_FORMAT_CONTEXT: *static_cast<fi_cq_entry*>(out) = {c.op_context}; break;
    case FI_CQ_FORMAT_MSG: *static_cast<fi_cq_msg_entry*>(out) = {c.op_context, c.flags, c.len}; break;
    case FI_CQ_FORMAT_DATA:
        *static_cast<fi_cq_data_entry*>(out) = {c.op_context, c.flags, c.len, c.buf, c.data};
        break;
    case FI_CQ_FORMAT_TAGGED:
        *static_cast<fi_cq_tagged_entry*>(out) = {c.op_context, c.flags, c.len, c.buf, c.data, c.tag};
        break;
    default: break;
    }
}

// Pops up to `count` completions in order; the caller holds the lock.
ssize_t read_locked(CompletionQueue* cq, void* buf, size_t count, fi_addr_t* src_addr) {
    if (!cq->errors.empty()) return -FI_EAVAIL;
    if (cq->count == 0) return -FI_EAGAIN;
    const size_t size = entry_size(cq->format);
    auto* out = static_cast<uint8_t*>(buf);
    size_t n = 0;
    while (n < count && cq->count) {
        const Completion& c = cq->ring[cq->head];
        write_entry(cq->format, c, out + n * size);
        if (src_addr) src_addr[n] = c.source;
        cq->head = (cq->head + 1) % cq->ring.size();
        --cq->count;
        ++n;
        // Refill the ring from the overflow list, keeping the order.
        if (!cq->overflow.empty()) {
            cq->ring[(cq->head + cq->count) % cq->ring.size()] = cq->overflow.front();
            cq->overflow.pop_front();
            ++cq->count;
        }
    }
    if (cq->count == 0) cq->wait.clear();
    return static_cast<ssize_t>(n);
}

ssize_t cq_readfrom(fid_cq* handle, void* buf, size_t count, fi_addr_t* src_addr) {
    auto* cq = object_of<CompletionQueue>(handle);
    if (count && !buf) return -FI_EINVAL;
    cq->sources.progress();
    std::lock_guard guard(cq->lock);
    return read_locked(cq, buf, count, src_addr);
}

ssize_t cq_read(fid_cq* handle, void* buf, size_t count) { return cq_readfrom(handle, buf, count, nullptr); }

ssize_t cq_sreadfrom(fid_cq* handle, void* buf, size_t count, fi_addr_t* src_addr, const void* cond,
                     int timeout) {
    auto* cq = object_of<CompletionQueue>(handle);
    if (count && !buf) return -FI_EINVAL;
    size_t threshold = 1;
    if (cq->wait_cond == FI_CQ_COND_THRESHOLD && cond)
        threshold = std::clamp<size_t>(*static_cast<const size_t*>(cond), 1, std::max<size_t>(count, 1));
    const Deadline deadline(timeout);
    const auto ready = [cq, threshold] {
        return cq->signaled || !cq->errors.empty() || cq->count >= threshold;
    };
    if (!cq->sources.empty()) {
        // Manual progress: sleep on the links, waking for frames and timers.
        for (;;) {
            cq->sources.progress();
            {
                std::lock_guard guard(cq->lock);
                if (ready()) break;
            }
            const int left = deadline.remaining_ms();
            if (left == 0) return -FI_EAGAIN;
            cq->sources.wait(cq->wait.fd(), left);
        }
    }
    std::unique_lock guard(cq->lock);
    while (!ready()) {
        if (cq->wait.yields()) {
            guard.unlock();
            sched_yield();
            guard.lock();
            if (deadline.expired() && !ready()) return -FI_EAGAIN;
            continue;
        }
        const int left = deadline.remaining_ms();
        if (left < 0) {
            cq->changed.wait(guard);
        } else if (left == 0 ||
                   !cq->changed.wait_for(guard, std::chrono::milliseconds(left), ready)) {
            if (!ready()) return -FI_EAGAIN;
        }
    }
    if (cq->signaled && cq->errors.empty() && cq->count == 0) {
        cq->signaled = false;
        return -FI_ECANCELED;
    }
    cq->signaled = false;
    return read_locked(cq, buf, count, src_addr);
}

ssize_t cq_sread(fid_cq* handle, void* buf, size_t count, const void* cond, int timeout) {
    return cq_sreadfrom(handle, buf, count, nullptr, cond, timeout);
}

ssize_t cq_readerr(fid_cq* handle, fi_cq_err_entry* buf, uint64_t flags) {
    auto* cq = object_of<CompletionQueue>(handle);
    if (!buf) return -FI_EINVAL;
    if (flags) return -FI_EBADFLAGS;
    std::lock_guard guard(cq->lock);
    if (cq->errors.empty()) return -FI_EAGAIN;
    cq->last_error = cq->errors.front();
    cq->errors.pop_front();
    const CompletionError& e = cq->last_error;
    const bool sized = FI_VERSION_GE(cq->domain->api_version, FI_VERSION(1, 5));
    const size_t user_room = sized ? buf->err_data_size : 0;
    void* user_data = buf->err_data;
    buf->op_context = e.entry.op_context;
    buf->flags = e.entry.flags;
    buf->len = e.entry.len;
    buf->buf = e.entry.buf;
    buf->data = e.entry.data;
    buf->tag = e.entry.tag;
    buf->olen = e.olen;
    buf->err = e.err;
    buf->prov_errno = e.prov_errno;
    if (user_room && user_data) {
        const size_t n = std::min(user_room, e.err_data_size);
        if (n) std::memcpy(user_data, e.err_data.data(), n);
        buf->err_data_size = n;
    } else {
        // Before API 1.5 the entry ends at err_data: err_data_size is not the application's.
        buf->err_data = e.err_data_size ? const_cast<uint8_t*>(e.err_data.data()) : nullptr;
        if (sized) buf->err_data_size = e.err_data_size;
    }
    if (cq->count == 0 && cq->errors.empty()) cq->wait.clear();
    return 1;
}

int cq_signal(fid_cq* handle) {
    auto* cq = object_of<CompletionQueue>(handle);
    {
        std::lock_guard guard(cq->lock);
        cq->signaled = true;
    }
    cq->wait.raise();
    cq->changed.notify_all();
    return 0;
}

// prov_errno of a completion error is the engine's status, and err_data the
// name of the peer concerned, which the text shows when there is room.
const char* cq_strerror(fid_cq*, int prov_errno, const void* err_data, char* buf, size_t len) {
    const bool status = prov_errno >= 0 && prov_errno <= 0xff;  // engine::Status is 8 bits
    const char* text = status ? engine::status_text(static_cast<engine::Status>(prov_errno))
                              : fi_strerror(prov_errno < 0 ? -prov_errno : prov_errno);
    if (!buf || !len || !err_data) return provide_text(text, buf, len);
    auto peer = wire::decode_address({static_cast<const uint8_t*>(err_data), wire::kAddressLength});
    if (!peer) return provide_text(text, buf, len);
    const std::string full = std::string(text) + " (peer " + wire::address_to_string(*peer) + ")";
    return provide_text(full.c_str(), buf, len);
}

int cq_close(fid* f) {
    auto* cq = object_of<CompletionQueue>(f);
    if (cq->dependents.busy()) return -FI_EBUSY;
    cq->wait.close(f);
    cq->domain->dependents.release();
    std::unique_ptr<CompletionQueue> owner(cq);
    return 0;
}

int cq_control(fid* f, int command, void* arg) {
    return object_of<CompletionQueue>(f)->wait.control(command, arg);
}

fi_ops cq_fid_ops = {
    .size = sizeof(fi_ops),
    .close = cq_close,
    .bind = fid_no_bind,
    .control = cq_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_cq cq_ops = {
    .size = sizeof(fi_ops_cq),
    .read = cq_read,
    .readfrom = cq_readfrom,
    .readerr = cq_readerr,
    .sread = cq_sread,
    .sreadfrom = cq_sreadfrom,
    .signal = cq_signal,
    .strerror = cq_strerror,
};

}  // namespace

void CompletionQueue::post(const Completion& completion) {
    {
        std::lock_guard guard(lock);
        if (count < ring.size() && overflow.empty()) {
            ring[(head + count) % ring.size()] = completion;
            ++count;
        } else {
            // The application posted more than the queue holds: keep the
            // completion anyway, in order, and say so once.
            if (overflowed++ == 0)
                X2M_WARN(FI_LOG_CQ, "completion queue of %zu entries overflowed; size it larger\n", ring.size());
            overflow.push_back(completion);
        }
    }
    wait.raise();
    changed.notify_all();
}

void CompletionQueue::post_error(const CompletionError& error) {
    {
        std::lock_guard guard(lock);
        errors.push_back(error);
    }
    wait.raise();
    changed.notify_all();
}

bool CompletionQueue::has_entries() {
    sources.progress();
    std::lock_guard guard(lock);
    return count != 0 || !errors.empty();
}

int open_cq(fid_domain* domain_handle, fi_cq_attr* attr, fid_cq** cq_handle, void* context) {
    if (!domain_handle || !attr || !cq_handle) return -FI_EINVAL;
    if (attr->flags & ~uint64_t{FI_AFFINITY}) return -FI_EBADFLAGS;
    if (attr->size > kMaxCqSize) {
        X2M_WARN(FI_LOG_CQ, "CQ size %zu above the limit %zu\n", attr->size, kMaxCqSize);
        return -FI_EINVAL;
    }
    const int asked_format = raw(attr->format);
    if (asked_format < FI_CQ_FORMAT_UNSPEC || asked_format > FI_CQ_FORMAT_TAGGED) return -FI_EINVAL;
    const fi_cq_format format = asked_format == FI_CQ_FORMAT_UNSPEC ? FI_CQ_FORMAT_CONTEXT : attr->format;
    const int cond = raw(attr->wait_cond);
    if (cond != FI_CQ_COND_NONE && cond != FI_CQ_COND_THRESHOLD) return -FI_EINVAL;

    auto* domain = object_of<Domain>(domain_handle);
    auto cq = std::make_unique<CompletionQueue>();
    cq->domain = domain;
    cq->format = format;
    cq->wait_cond = attr->wait_cond;
    cq->ring.resize(attr->size ? attr->size : kQueueSize);
    cq->handle.fid.fclass = FI_CLASS_CQ;
    cq->handle.fid.context = context;
    cq->handle.fid.ops = &cq_fid_ops;
    cq->handle.ops = &cq_ops;
    if (int ret = cq->wait.open(attr->wait_obj, attr->wait_set, cq->domain->fabric, &cq->handle.fid)) return ret;
    domain->dependents.hold();
    *cq_handle = &cq.release()->handle;
    return 0;
}

}  // namespace xen2mx::api
