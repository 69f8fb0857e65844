// Counters: completed operations and errors, with threshold waits.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include <rdma/fi_domain.h>
#include <rdma/fi_eq.h>

#include "domain.hpp"
#include "fid.hpp"
#include "progress.hpp"
#include "wait_object.hpp"

namespace xen2mx::api {

struct Counter {
    fid_cntr handle{};
    Domain* domain = nullptr;
    Dependents dependents;
    WaitObject wait;
    ProgressList sources;  // the endpoints that report here

    std::mutex lock;
    std::condition_variable changed;
    uint64_t value = 0;
    uint64_t errors = 0;

    void add(uint64_t amount);
    void add_error(uint64_t amount);
};

int open_cntr(fid_domain* domain, fi_cntr_attr* attr, fid_cntr** cntr, void* context);

}  // namespace xen2mx::api
