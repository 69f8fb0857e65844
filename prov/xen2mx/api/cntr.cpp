#include "cntr.hpp"

#include <sched.h>

#include <memory>

#include <rdma/fi_errno.h>

#include "enum_field.hpp"
#include "log.hpp"

namespace xen2mx::api {

namespace {

uint64_t cntr_read(fid_cntr* handle) {
    auto* cntr = object_of<Counter>(handle);
    cntr->sources.progress();
    std::lock_guard guard(cntr->lock);
    return cntr->value;
}

uint64_t cntr_readerr(fid_cntr* handle) {
    auto* cntr = object_of<Counter>(handle);
    cntr->sources.progress();
    std::lock_guard guard(cntr->lock);
    return cntr->errors;
}

// Applies a change and wakes the waiters.
template <typename Change>
int update(Counter* cntr, Change change) {
    {
        std::lock_guard guard(cntr->lock);
        change(*cntr);
    }
    cntr->wait.raise();
    cntr->changed.notify_all();
    return 0;
}

int cntr_add(fid_cntr* handle, uint64_t value) {
    return update(object_of<Counter>(handle), [value](Counter& c) { c.value += value; });
}
int cntr_set(fid_cntr* handle, uint64_t value) {
    return update(object_of<Counter>(handle), [value](Counter& c) { c.value = value; });
}
int cntr_adderr(fid_cntr* handle, uint64_t value) {
    return update(object_of<Counter>(handle), [value](Counter& c) { c.errors += value; });
}
int cntr_seterr(fid_cntr* handle, uint64_t value) {
    return update(object_of<Counter>(handle), [value](Counter& c) { c.errors = value; });
}

int cntr_wait(fid_cntr* handle, uint64_t threshold, int timeout) {
    auto* cntr = object_of<Counter>(handle);
    const Deadline deadline(timeout);
    uint64_t errors_before;
    {
        std::lock_guard guard(cntr->lock);
        errors_before = cntr->errors;
    }
    if (!cntr->sources.empty()) {
        // Manual progress: sleep on the links, waking for frames and timers.
        for (;;) {
            cntr->sources.progress();
            {
                std::lock_guard guard(cntr->lock);
                if (cntr->value >= threshold) return 0;
                if (cntr->errors != errors_before) return -FI_EAVAIL;
            }
            const int left = deadline.remaining_ms();
            if (left == 0) return -FI_ETIMEDOUT;
            cntr->sources.wait(cntr->wait.fd(), left);
        }
    }
    std::unique_lock guard(cntr->lock);
    for (;;) {
        if (cntr->value >= threshold) return 0;
        if (cntr->errors != errors_before) return -FI_EAVAIL;
        const int left = deadline.remaining_ms();
        if (left == 0) return -FI_ETIMEDOUT;
        if (cntr->wait.yields()) {
            guard.unlock();
            sched_yield();
            guard.lock();
        } else if (left < 0) {
            cntr->changed.wait(guard);
        } else {
            cntr->changed.wait_for(guard, std::chrono::milliseconds(left));
        }
    }
}

int cntr_close(fid* f) {
    auto* cntr = object_of<Counter>(f);
    if (cntr->dependents.busy()) return -FI_EBUSY;
    cntr->wait.close(f);
    cntr->domain->dependents.release();
    std::unique_ptr<Counter> owner(cntr);
    return 0;
}

int cntr_control(fid* f, int command, void* arg) {
    return object_of<Counter>(f)->wait.control(command, arg);
}

fi_ops cntr_fid_ops = {
    .size = sizeof(fi_ops),
    .close = cntr_close,
    .bind = fid_no_bind,
    .control = cntr_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_cntr cntr_ops = {
    .size = sizeof(fi_ops_cntr),
    .read = cntr_read,
    .readerr = cntr_readerr,
    .add = cntr_add,
    .set = cntr_set,
    .wait = cntr_wait,
    .adderr = cntr_adderr,
    .seterr = cntr_seterr,
};

}  // namespace

void Counter::add(uint64_t amount) { cntr_add(&handle, amount); }
void Counter::add_error(uint64_t amount) { cntr_adderr(&handle, amount); }

int open_cntr(fid_domain* domain_handle, fi_cntr_attr* attr, fid_cntr** cntr_handle, void* context) {
    if (!domain_handle || !cntr_handle) return -FI_EINVAL;
    fi_cntr_attr defaults{};
    defaults.events = FI_CNTR_EVENTS_COMP;
    defaults.wait_obj = FI_WAIT_UNSPEC;
    if (!attr) attr = &defaults;
    if (raw(attr->events) != FI_CNTR_EVENTS_COMP) return -FI_ENOSYS;
    if (attr->flags) return -FI_EBADFLAGS;

    auto* domain = object_of<Domain>(domain_handle);
    auto cntr = std::make_unique<Counter>();
    cntr->domain = domain;
    cntr->handle.fid.fclass = FI_CLASS_CNTR;
    cntr->handle.fid.context = context;
    cntr->handle.fid.ops = &cntr_fid_ops;
    cntr->handle.ops = &cntr_ops;
    if (int ret = cntr->wait.open(attr->wait_obj, attr->wait_set, cntr->domain->fabric, &cntr->handle.fid)) return ret;
    domain->dependents.hold();
    *cntr_handle = &cntr.release()->handle;
    return 0;
}

}  // namespace xen2mx::api
