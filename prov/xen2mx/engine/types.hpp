// What the engine hands back to the layer above: completions and their
// status, and the tunables of an endpoint. Nothing here knows libfabric.
#pragma once

#include <time.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "wire/mxoe.hpp"
#include "wire/mxoe_codec.hpp"

namespace xen2mx::engine {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// The time to hand the engine on its hot paths: the coarse monotonic clock
// (same origin as steady_clock, a few milliseconds of resolution) is a
// memory read, where the precise one costs tens of nanoseconds per call; the
// protocol's timers count in tens of milliseconds.
inline TimePoint coarse_now() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::seconds(now.tv_sec) +
                                                          std::chrono::nanoseconds(now.tv_nsec)));
}

// Index of a partner (a remote endpoint) in the endpoint's partner table.
using PeerId = uint32_t;
inline constexpr PeerId kNoPeer = ~PeerId{0};

enum class Status : uint8_t {
    Ok,
    Truncated,    // the message was longer than the receive buffer
    Canceled,     // fi_cancel
    PeerTimeout,  // the peer did not answer within the peer timeout
    PeerRefused,  // the peer refused the connection (wrong endpoint key)
    PeerReset,    // the peer restarted (new session) while the operation was in flight
    PeerGone,     // the peer closed its endpoint or exited while the operation was in flight
    ReadFailed,   // the sender's memory could not be read (a large message on the same host)
    NoResources,  // no room to keep an unexpected message, or to serve an RMA operation
    NoMessage,    // a probe found no matching unexpected message
    AccessDenied, // RMA: no region with that key, or not open to that access
    OutOfBounds,  // RMA: bytes outside the region
    Unsupported,  // RMA: an operation or type the target does not offer
};

const char* status_text(Status status);

// Which side of which operation a completion is for.
enum class RmaRole : uint8_t {
    None,         // a message (Completion::is_send tells sends from receives)
    Read,         // our read of a peer's memory
    Write,        // our write (or atomic) into a peer's memory
    RemoteRead,   // a peer read our memory
    RemoteWrite,  // a peer wrote into our memory (or applied an atomic)
};

struct Completion {
    void* context = nullptr;
    bool is_send = false;
    RmaRole rma = RmaRole::None;
    bool atomic = false;  // an RMA operation that was an atomic
    bool tagged = false;
    bool has_data = false;  // remote CQ data came with the message
    uint64_t tag = 0;
    uint64_t data = 0;
    size_t length = 0;           // bytes moved
    size_t message_length = 0;   // the message's full length (receives)
    PeerId peer = kNoPeer;       // the sender (receives)
    Status status = Status::Ok;
    bool report = true;          // the operation asked for a completion entry

    // Multi-receive buffers (RecvArgs::multi).
    void* buf = nullptr;         // where this message was placed in the buffer
    bool released = false;       // the buffer is done with: its last completion
    bool release_only = false;   // no message: only the release of a buffer

    // Probes (Endpoint::probe) and claimed messages (Endpoint::claim).
    bool probe = false;          // describes a waiting message: nothing moved (message_length is its size)
    bool discarded = false;      // the message was dropped unread
};

class CompletionSink {
public:
    virtual void complete(const Completion& completion) = 0;

protected:
    ~CompletionSink() = default;
};

struct Config {
    bool reliable = true;  // RDM; false: DGRAM (no connection, no acks, no resends)
    uint32_t key = 0x58324d58;  // endpoint key ("X2MX"), checked on connect
    wire::WireMode mode = wire::WireMode::OpenMx;
    wire::WireLimits limits = *wire::WireLimits::open_mx(wire::kOpenMxDefaultMtu);
    size_t rndv_threshold = 32768;  // larger messages go by rendezvous + pull
    Duration resend_delay = std::chrono::milliseconds(20);   // first resend
    Duration resend_delay_max = std::chrono::seconds(1);    // backoff limit
    Duration peer_timeout = std::chrono::seconds(30);       // then operations fail
    // How long an explicit ack may wait to cover more messages. 0: until the
    // end of the progress call that took them; longer only when something
    // keeps progressing the endpoint, since a peer that is not progressed
    // would leave its senders waiting for acks until they time out.
    Duration ack_delay = Duration::zero();
    unsigned ack_every = 4;                                  // immediate ack threshold
    size_t max_sends = 1024;   // outstanding sends
    size_t max_recvs = 1024;   // posted receives
    size_t unexpected_bytes = size_t{64} << 20;  // buffered unexpected data
};

// Frames and events counted per endpoint, for xen2mx_info and tests.
struct Counters {
    uint64_t frames_sent = 0;
    uint64_t frames_received = 0;
    uint64_t resends = 0;
    uint64_t acks_sent = 0;
    uint64_t duplicates = 0;
    uint64_t out_of_order = 0;
    uint64_t not_for_us = 0;
    uint64_t forged_source = 0;  // frames of a channel vouching for another sender endpoint than theirs
    uint64_t bad_session = 0;
    uint64_t dropped_unexpected = 0;
    uint64_t rma_refused = 0;  // RMA requests of peers refused (key, rights, bounds)
    uint64_t key_pulls_served = 0;   // blocks of peers' reads answered here by key
    uint64_t key_pulls_refused = 0;  // peers' KEY_PULLs answered with a nack (they ask again in sequence)
    uint64_t key_reads_resent = 0;   // our reads whose KEY_PULL was refused, asked again in sequence
    uint64_t regions_link_served = 0;   // regions whose pulls the link answered itself
    uint64_t regions_link_refused = 0;  // regions the link could not take: answered here
    uint64_t decode_drops[wire::kDropReasonCount] = {};
};

}  // namespace xen2mx::engine
