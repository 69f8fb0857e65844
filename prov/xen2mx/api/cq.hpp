// Completion queues, in every format libfabric defines.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include <rdma/fi_domain.h>
#include <rdma/fi_eq.h>

#include "attr.hpp"
#include "domain.hpp"
#include "fid.hpp"
#include "progress.hpp"
#include "wait_object.hpp"

namespace xen2mx::api {

struct Completion {
    void* op_context = nullptr;
    uint64_t flags = 0;
    size_t len = 0;
    void* buf = nullptr;
    uint64_t data = 0;
    uint64_t tag = 0;
    fi_addr_t source = FI_ADDR_NOTAVAIL;
};

struct CompletionError {
    Completion entry;
    size_t olen = 0;
    int err = 0;
    int prov_errno = 0;
    std::array<uint8_t, kMaxErrData> err_data{};
    size_t err_data_size = 0;
};

struct CompletionQueue {
    fid_cq handle{};
    Domain* domain = nullptr;
    Dependents dependents;
    fi_cq_format format = FI_CQ_FORMAT_CONTEXT;
    fi_cq_wait_cond wait_cond = FI_CQ_COND_NONE;
    WaitObject wait;
    ProgressList sources;  // the endpoints that report here

    std::mutex lock;
    std::condition_variable changed;
    // Completions in order: a ring sized by the application, and an overflow
    // list so that nothing is lost when the application reads too slowly.
    std::vector<Completion> ring;
    size_t head = 0;
    size_t count = 0;
    std::deque<Completion> overflow;
    std::deque<CompletionError> errors;
    CompletionError last_error;  // err_data stays valid until the next readerr
    bool signaled = false;
    uint64_t overflowed = 0;

    void post(const Completion& completion);
    void post_error(const CompletionError& error);
    bool has_entries();
};

int open_cq(fid_domain* domain, fi_cq_attr* attr, fid_cq** cq, void* context);

}  // namespace xen2mx::api
