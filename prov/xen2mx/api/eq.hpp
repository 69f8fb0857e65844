// Event queues: control events (FI_AV_COMPLETE, FI_MR_COMPLETE, events the
// application writes) and their errors, in order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include <rdma/fi_eq.h>

#include "fabric.hpp"
#include "fid.hpp"
#include "wait_object.hpp"

namespace xen2mx::api {

struct EventQueue {
    struct Event {
        uint32_t type = 0;
        bool is_error = false;
        std::vector<uint8_t> data;  // the fi_eq_entry (or other) bytes
        fi_eq_err_entry error{};
        std::vector<uint8_t> error_data;
    };

    fid_eq handle{};
    Fabric* fabric = nullptr;
    Dependents dependents;
    uint64_t flags = 0;
    uint32_t api_version = 0;
    WaitObject wait;

    std::mutex lock;
    std::condition_variable changed;
    std::deque<Event> events;
    std::vector<uint8_t> last_error_data;  // valid until the next readerr

    // Queues an event or an error. The queue grows as needed: control events
    // are rare, and none may be lost. Returns 0 or -FI_ENOMEM.
    int post(uint32_t type, const void* data, size_t length);
    int post_error(fid_t fid, void* context, uint64_t data, int err, int prov_errno);
    bool has_events();
};

int open_eq(fid_fabric* fabric, fi_eq_attr* attr, fid_eq** eq, void* context);

}  // namespace xen2mx::api
