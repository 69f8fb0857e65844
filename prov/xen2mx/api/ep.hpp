// Endpoints (FI_EP_RDM and FI_EP_DGRAM): bindings, enabling and the
// operation tables.
#pragma once

#include <cstdint>
#include <mutex>

#include <rdma/fi_endpoint.h>

#include "domain.hpp"
#include "fid.hpp"

namespace xen2mx::api {

struct AddressVector;
struct CompletionQueue;
struct Counter;
struct EventQueue;

struct Endpoint {
    fid_ep handle{};
    Domain* domain = nullptr;
    Dependents dependents;
    fi_ep_type type = FI_EP_RDM;
    uint64_t caps = 0;
    uint64_t tx_op_flags = 0;
    uint64_t rx_op_flags = 0;

    std::mutex lock;
    bool enabled = false;
    AddressVector* av = nullptr;
    EventQueue* eq = nullptr;
    CompletionQueue* tx_cq = nullptr;
    CompletionQueue* rx_cq = nullptr;
    bool tx_selective = false;
    bool rx_selective = false;
    // Counters by event: send, recv, read, write, remote read, remote write.
    enum CounterSlot { kSendCntr, kRecvCntr, kReadCntr, kWriteCntr, kRemoteReadCntr, kRemoteWriteCntr, kCntrSlots };
    Counter* cntrs[kCntrSlots] = {};
};

int open_endpoint(fid_domain* domain, fi_info* info, fid_ep** ep, void* context);

}  // namespace xen2mx::api
