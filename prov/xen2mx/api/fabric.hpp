// The fabric object, wait sets, and fi_trywait.
#pragma once

#include <mutex>
#include <vector>

#include <rdma/fabric.h>
#include <rdma/fi_eq.h>

#include "fid.hpp"

namespace xen2mx::api {

struct Fabric {
    fid_fabric handle{};
    Dependents dependents;
};

int open_fabric(fi_fabric_attr* attr, fid_fabric** fabric, void* context);

// A wait set: an epoll descriptor over the wake signals of its members.
struct WaitSet {
    fid_wait handle{};
    Fabric* fabric = nullptr;
    int epoll_fd = -1;
    Dependents dependents;
    std::mutex lock;
    std::vector<fid*> members;

    ~WaitSet();
    // Adds or removes a member object and its wake descriptor.
    int add(fid* member, int fd);
    void remove(fid* member, int fd);
};

// Whether an object has entries a waiter would return at once (fi_trywait).
bool has_pending(fid* object);

}  // namespace xen2mx::api
