// Endpoints (FI_EP_RDM and FI_EP_DGRAM): bindings, enabling, the operation
// tables, and the bridge between libfabric calls and the engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <rdma/fi_atomic.h>
#include <rdma/fi_endpoint.h>

#include "attr.hpp"
#include "domain.hpp"
#include "engine/endpoint.hpp"
#include "fid.hpp"
#include "wake_signal.hpp"

namespace xen2mx::api {

struct AddressVector;
struct Completion;
struct CompletionError;
struct CompletionQueue;
struct Counter;
struct EventQueue;

struct Endpoint;

// Carries the engine's completions to the endpoint (which must stay free of
// virtual functions: its fid is its first byte).
struct EndpointSink final : engine::CompletionSink {
    Endpoint* ep = nullptr;
    void complete(const engine::Completion& completion) override;
};

struct Endpoint {
    fid_ep handle{};
    Domain* domain = nullptr;
    Dependents dependents;
    fi_ep_type type = FI_EP_RDM;
    uint64_t caps = 0;
    uint64_t tx_op_flags = 0;
    uint64_t rx_op_flags = 0;
    size_t max_msg_size = 0;
    size_t inject_size = 0;

    // Guards the bindings and every call into the engine.
    std::mutex lock;
    bool enabled = false;
    AddressVector* av = nullptr;
    EventQueue* eq = nullptr;
    CompletionQueue* tx_cq = nullptr;
    CompletionQueue* rx_cq = nullptr;
    bool tx_selective = false;
    bool rx_selective = false;
    // FI_OPT_MIN_MULTI_RECV: a multi-receive buffer with less free space is released.
    size_t min_multi_recv = kDefaultMinMultiRecv;
    // Counters by event: send, recv, read, write, remote read, remote write.
    enum CounterSlot { kSendCntr, kRecvCntr, kReadCntr, kWriteCntr, kRemoteReadCntr, kRemoteWriteCntr, kCntrSlots };
    Counter* cntrs[kCntrSlots] = {};

    std::unique_ptr<engine::Endpoint> engine;
    // fi_addr_t to engine peer, filled on first use, and back (FI_SOURCE).
    std::vector<engine::PeerId> peers;
    std::vector<fi_addr_t> addrs;

    // FI_PROGRESS_AUTO: a thread that makes progress while the application does not.
    std::thread progress_thread;
    std::atomic<bool> stopping{false};
    WakeSignal stop_signal;

    // Manual data progress on a reliable endpoint: the application's calls
    // make progress, and a keeper thread sees that the protocol never stalls
    // for long without them. It completes at once the connections that sends
    // wait for (control progress is automatic), and steps in when the
    // application has not made progress for a while (it computes), so that
    // peers get their acks rather than take this endpoint for dead.
    std::thread keeper_thread;
    WakeSignal keeper_wake;
    // Guarded by `lock`: the application's last progress, and the peers
    // whose connection sends wait for.
    engine::TimePoint last_progress{};
    std::vector<engine::PeerId> connecting;

    EndpointSink sink;

    ~Endpoint();

    // A completion from the engine, called with `lock` held.
    void complete(const engine::Completion& completion);
    void complete_rma(const engine::Completion& completion, Completion& entry, int err);
    // Error data: the name of the peer an error concerns (fi_cq_strerror shows it).
    void describe_peer(engine::PeerId peer, CompletionError* error);
    // Whether a failure belongs to an injected operation, which gets no entry.
    bool unowned_failure(const engine::Completion& c, int err);
    // An error entry for a failed operation, on the CQ of its side.
    void post_failure(CompletionQueue* cq, const Completion& entry, const engine::Completion& c, int err);

    // The engine peer for an fi_addr_t, or kNoPeer when the AV has none.
    engine::PeerId peer_of(fi_addr_t addr);

    // One round of progress, taking the lock.
    void progress();

    // After a send to `peer`, called with `lock` held: a send that waits for
    // its connection is the keeper's to see through.
    void watch_connection(engine::PeerId peer);
    // The keeper thread's loop.
    void keep();
    // Stops the progress and keeper threads (before the bindings go).
    void stop_threads();
};

int open_endpoint(fid_domain* domain, fi_info* info, fid_ep** ep, void* context);

// The data-path op tables (ep_msg.cpp, ep_rma.cpp).
extern fi_ops_msg endpoint_msg_ops;
extern fi_ops_tagged endpoint_tagged_ops;
extern fi_ops_rma endpoint_rma_ops;
extern fi_ops_atomic endpoint_atomic_ops;

// Hands an RMA operation or atomic to the engine (ep_rma.cpp): the peer
// looked up, a retry after progress when no request is free, the answer as
// a libfabric code.
ssize_t submit_rma(Endpoint* ep, engine::RmaArgs& args, fi_addr_t peer);

// fi_query_atomic (ep_atomic.cpp).
int query_atomic(fid_domain* domain, fi_datatype datatype, fi_op op, fi_atomic_attr* attr, uint64_t flags);

// fi_getopt and fi_setopt (ep_msg.cpp): FI_OPT_MIN_MULTI_RECV.
int endpoint_getopt(fid_t fid, int level, int optname, void* optval, size_t* optlen);
int endpoint_setopt(fid_t fid, int level, int optname, const void* optval, size_t optlen);

// Maps an engine status to a positive fabric errno.
int fabric_errno(engine::Status status);

}  // namespace xen2mx::api
