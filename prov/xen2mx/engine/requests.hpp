// The engine's per-operation state: sends, posted receives, unexpected
// messages and medium messages being assembled. Sends and receives come from
// pools made when the endpoint opens, so posting allocates nothing.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/intrusive_list.hpp"
#include "engine/types.hpp"

namespace xen2mx::engine {

// Gather lists carry the application's entries plus one for the 8 bytes of
// remote CQ data that travel in front of the payload.
inline constexpr size_t kMaxIov = 16;
inline constexpr size_t kMaxIovWithData = kMaxIov + 1;
inline constexpr size_t kDataPrefix = 8;

// Message flags, carried in the src_generation byte that MX leaves unused
// (MX peers send 0 there: a tagged message without CQ data).
inline constexpr uint8_t kFlagUntagged = 0x01;
inline constexpr uint8_t kFlagCqData = 0x02;

// Send requests the application cannot take: a NOTIFY (or an answer to an
// RMA request) must always find one, or a peer would wait for it forever.
inline constexpr size_t kNotifyReserve = 64;

struct SendRequest {
    // RmaWrite, RmaRead: our one-sided operations; RmaReply: our answer to
    // a peer's (engine/rma.cpp).
    enum class Kind : uint8_t { Tiny, Small, Medium, Large, Notify, RmaWrite, RmaRead, RmaAtomic, RmaReply };
    // WaitNotify: a region of ours waits for the peer's NOTIFY (Large,
    // RmaReply); WaitReply: an RMA operation waits for the target's answer.
    enum class State : uint8_t { Pending, Unacked, WaitNotify, WaitReply };

    SendRequest* prev = nullptr;
    SendRequest* next = nullptr;
    Kind kind = Kind::Tiny;
    State state = State::Pending;
    PeerId peer = kNoPeer;
    void* context = nullptr;
    bool report = true;  // post a completion when done
    uint8_t flags = 0;
    uint64_t match = 0;
    uint64_t data = 0;
    std::array<iovec, kMaxIovWithData> iov{};
    size_t iov_count = 0;
    size_t length = 0;  // message bytes, the CQ data prefix included
    std::array<uint8_t, kDataPrefix> prefix{};
    std::vector<uint8_t> copy;  // the data of an inject, owned

    // Reliability.
    uint16_t seq = 0;
    TimePoint first_sent{};
    TimePoint last_sent{};
    Duration delay{};

    // Large: the region id the receiver pulls from; Notify: what it reports.
    uint8_t region = 0;
    uint8_t region_seq = 0;
    uint32_t notify_length = 0;
    bool link_serves = false;  // the link answers the region's pulls itself
    bool offer_on_transmit = false;  // offered to the link once the pair agreed on frame sizes

    // RMA: the target's memory, our handle for the answer (the initiator's,
    // in an RmaReply), the RMA_REQUEST flags, and the status of a reply.
    uint64_t rma_key = 0;
    uint64_t rma_addr = 0;
    uint32_t rma_handle = 0;
    uint8_t rma_flags = 0;
    uint8_t rma_status = 0;
    // RmaAtomic: the wire op (Atomic, FetchAtomic, CompareAtomic), type and
    // operation; the operands and compare values are in `copy`, and iov says
    // where fetched values go.
    uint8_t rma_op = 0;
    uint8_t atomic_type = 0;
    uint8_t atomic_op = 0;

    size_t payload_length() const { return (flags & kFlagCqData) ? length - kDataPrefix : length; }
    void reset() {
        std::vector<uint8_t> keep = std::move(copy);
        keep.clear();
        *this = SendRequest{};
        copy = std::move(keep);
    }
};

struct Unexpected;

// What a probe does with the message it finds.
enum class ProbeAction : uint8_t {
    Peek,     // describe it, leave it for any receive
    Claim,    // describe it and set it aside for Endpoint::claim with the same context
    Discard,  // describe it and drop it
};

struct RecvRequest {
    enum class Kind : uint8_t {
        Receive,  // a receive into the application's buffers
        Multi,    // a multi-receive buffer: messages go to pieces carved from it
        Piece,    // one message's share of a multi-receive buffer
        Probe,    // a look at the unexpected queue
        RmaTarget,  // a peer's write we pull into our region
        RmaFetch,   // our read, pulled from the target's region
    };

    RecvRequest* prev = nullptr;
    RecvRequest* next = nullptr;
    Kind kind = Kind::Receive;
    bool report = true;  // post a completion entry (errors always are)
    void* context = nullptr;
    bool tagged = false;
    uint64_t tag = 0;
    uint64_t ignore = 0;
    PeerId from = kNoPeer;  // kNoPeer: any source
    std::array<iovec, kMaxIovWithData> iov{};  // the application's entries
    size_t iov_count = 0;
    size_t capacity = 0;

    // Once matched: where the message goes (the CQ data prefix first when
    // the message has one), and what it is.
    std::array<iovec, kMaxIovWithData> dest{};
    size_t dest_count = 0;
    std::array<uint8_t, kDataPrefix> prefix{};
    uint8_t flags = 0;
    uint64_t match = 0;
    size_t message_length = 0;
    size_t transfer_length = 0;  // what fits: min(message, prefix + capacity)
    PeerId peer = kNoPeer;
    bool matched = false;
    uint64_t order = 0;  // when it was posted: a receive given back takes its place again
    // A large message waiting for a pull slot: the region to pull from.
    uint8_t pull_region = 0;
    uint8_t pull_region_seq = 0;
    uint32_t pull_channel = 0;
    bool discard = false;  // a claimed message dropped unread: nothing is delivered
    // RmaFetch: the read it completes, and whether it pulls by the read's
    // key and address (KEY_PULL) rather than from a region the target's
    // answer named; key_refused: the target nacked that.
    SendRequest* origin = nullptr;
    bool by_key = false;
    bool key_refused = false;
    // RmaTarget: what the answer needs.
    uint32_t rma_handle = 0;
    bool rma_cq = false;
    uint64_t rma_data = 0;

    // Multi: how much of the buffer pieces have taken, the free space below
    // which it is released, and the pieces whose messages are still arriving.
    size_t used = 0;
    size_t min_free = 0;
    size_t pieces = 0;
    bool retired = false;  // takes no more messages; released with its last piece
    RecvRequest* parent = nullptr;  // Piece: its buffer

    // Probe.
    ProbeAction action = ProbeAction::Peek;
    Unexpected* target = nullptr;  // the message it waits to describe

    void reset() { *this = RecvRequest{}; }
    // Forgets the message it was matched to, to wait for another.
    void unmatch() {
        dest_count = 0;
        flags = 0;
        match = 0;
        message_length = transfer_length = 0;
        peer = kNoPeer;
        matched = false;
    }
    // Points dest at the prefix and the application's buffers.
    void prepare(uint8_t message_flags, uint64_t message_match, size_t length, PeerId source);
};

// A message that arrived before a matching receive: its data is kept (or,
// for a large message, its rendezvous, to pull once matched).
struct Unexpected {
    Unexpected* prev = nullptr;
    Unexpected* next = nullptr;
    PeerId peer = kNoPeer;
    uint8_t flags = 0;
    uint64_t match = 0;
    size_t message_length = 0;
    std::vector<uint8_t> data;
    bool complete = false;  // every byte is here
    bool large = false;
    uint8_t region = 0;
    uint8_t region_seq = 0;
    uint32_t channel = 0;  // the same-host channel its rendezvous came on (0: none)
    uint16_t seq = 0;
    RecvRequest* claimed = nullptr;  // matched while frags were still arriving

    // Probes. A probe that claims or discards reserves the message as soon as
    // it finds it: no receive or other probe matches it any more.
    bool reserved = false;
    void* claim_context = nullptr;  // claimed: only Endpoint::claim with this context takes it
    Status lost = Status::Ok;       // claimed, then its sender reset: the claim fails with this
    // The CQ data of a large message is in its payload: a probe pulls those
    // first bytes (`fetch`) before it can describe the message.
    bool cq_data_known = false;
    uint64_t cq_data = 0;
    RecvRequest* fetch = nullptr;
    IntrusiveList<RecvRequest> probes;  // waiting for it to be whole, or for its CQ data

    bool tagged() const { return !(flags & kFlagUntagged); }
    bool has_cq_data() const { return flags & kFlagCqData; }
    // Whether a probe can describe it now: its CQ data, if any, is known (a
    // message too short to hold it has none to fetch).
    bool describable() const {
        return complete || (large && (!has_cq_data() || cq_data_known || message_length < kDataPrefix));
    }
};

// A MEDIUM message whose frags are arriving.
struct Partial {
    uint16_t seq = 0;
    uint32_t msg_length = 0;      // as the first frag said; every other frag must agree
    uint32_t frags_expected = 0;  // a bit per frag
    uint32_t frags_received = 0;
    RecvRequest* recv = nullptr;
    Unexpected* unexpected = nullptr;
    TimePoint started{};
};

}  // namespace xen2mx::engine
