// MXoE, the Ethernet protocol of Myrinet Express as Open-MX speaks it: the
// constants, the two header layouts and one plain struct per packet body.
// The codec (mxoe_codec.hpp) turns these into bytes and back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

namespace xen2mx::wire {

inline constexpr uint16_t kEthertype = 0x86DF;
inline constexpr size_t kEthZlen = 60;  // shortest Ethernet frame, FCS excluded
inline constexpr size_t kHeadLength = 16;
inline constexpr size_t kPtypeOffset = 16;  // first byte of every body

// Longest frame a raw endpoint may hand in, Ethernet header included.
inline constexpr size_t kRawFrameMax = 1024;

inline constexpr uint32_t kHostQueryMagic = 0x13052008;
// Marks a CONNECT that carries xen2mx's frame size (Connect::max_frame).
inline constexpr uint32_t kConnectFrameMagic = 0x58324d46;
inline constexpr uint32_t kPullMagicXor = 0x21071980;
inline constexpr uint8_t kTrucAck = 0x55;

// Bytes of the "data" that CONNECT, TRUC and RNDV declare in their length field.
inline constexpr uint8_t kConnectDataLength = 16;
inline constexpr uint8_t kTrucDataLength = 16;
inline constexpr uint16_t kRndvDataLength = 8;

inline constexpr uint32_t kTinyMax = 32;
inline constexpr uint32_t kSmallMax = 128;

enum class PacketType : uint8_t {
    Raw = 1,
    HostQuery = 3,
    HostReply = 4,
    Truc = 35,
    Connect = 36,
    Tiny = 37,
    Small = 38,
    Medium = 39,
    Rndv = 40,
    Pull = 41,
    PullReply = 42,
    Notify = 43,
    NackLib = 44,
    NackMcp = 45,
    // xen2mx's extension for RMA (see RmaRequest): types MX never sends. A
    // peer that speaks plain MXoE drops them as unknown; RMA is offered only
    // in the OpenMx wire mode, between xen2mx endpoints.
    RmaRequest = 48,
    RmaReply = 49,
    KeyPull = 50,
};

// Their values 1..4 are also the failure statuses a pull reports, so a nack
// can be passed on as it is.
enum class NackType : uint8_t {
    None = 0,
    BadEndpoint = 1,
    EndpointClosed = 2,
    BadSession = 3,
    BadRdmaWindow = 4,
};

enum class ConnectStatus : uint8_t {
    Ok = 0,
    BadKey = 11,  // the value MX itself uses, kept for wire compatibility
};

// Which header layout is on the wire. They differ only in MEDIUM and PULL.
enum class WireMode : uint8_t {
    OpenMx,    // Open-MX's own layout (its default build)
    MxCompat,  // the layout of MX itself (Open-MX built with --enable-mx-wire)
};

// The size limits both peers must agree on; they follow from the mode and,
// for Open-MX's layout, the MTU.
struct WireLimits {
    uint32_t medium_frag_max = 0;    // payload bytes in one MEDIUM frag
    uint32_t medium_frags_max = 0;   // frags in one medium message
    uint32_t pull_reply_max = 0;     // payload bytes in one PULL_REPLY
    uint32_t replies_per_block = 0;  // PULL_REPLYs answering one PULL

    uint64_t medium_msg_max() const { return uint64_t{medium_frag_max} * medium_frags_max; }
    uint64_t pull_block_max() const { return uint64_t{pull_reply_max} * replies_per_block; }

    // mtu counts the whole frame from the destination MAC on, as Open-MX's
    // own MTU setting did. Empty when the MTU cannot carry every packet type
    // or would need a PULL_REPLY longer than its 16-bit length field.
    static constexpr std::optional<WireLimits> open_mx(uint32_t mtu);
    static constexpr WireLimits mx_compat();

    friend bool operator==(const WireLimits&, const WireLimits&) = default;
};

inline constexpr uint32_t kOpenMxDefaultMtu = 9000;

constexpr std::optional<WireLimits> WireLimits::open_mx(uint32_t mtu) {
    // A SMALL header and its largest payload must fit; a PULL_REPLY's length
    // is 16 bits.
    constexpr uint32_t kMsgHeader = 40, kMediumHeader = 48, kPullReplyHeader = 32;
    if (mtu < kMsgHeader + kSmallMax || mtu - kPullReplyHeader > 0xffff) return std::nullopt;
    WireLimits limits;
    // Frags of up to 4 KiB take what the MTU leaves; above that they stay at
    // 4 or 8 KiB, so that a frag fills a power-of-two receive slot.
    if (mtu - kMediumHeader <= 4096) limits.medium_frag_max = mtu - kMediumHeader;
    else if (8192 + kMediumHeader <= mtu) limits.medium_frag_max = 8192;
    else limits.medium_frag_max = 4096;
    limits.medium_frags_max = 32;  // enough for 32 KiB messages at MTU 1500
    limits.pull_reply_max = mtu - kPullReplyHeader;
    limits.replies_per_block = 32;
    return limits;
}

constexpr WireLimits WireLimits::mx_compat() {
    WireLimits limits;
    limits.medium_frag_max = 4096;
    limits.medium_frags_max = 8;
    limits.pull_reply_max = 4096;
    limits.replies_per_block = 8;
    return limits;
}

// The 16 bytes every frame starts with. The ethertype is always kEthertype.
struct Head {
    uint64_t dst_mac = 0;  // first MAC byte in bits 47..40
    uint64_t src_mac = 0;
    // The sender's index in the receiver's peer table, so the receiver knows
    // who sent without a lookup.
    uint16_t dst_src_peer_index = 0;

    friend bool operator==(const Head&, const Head&) = default;
};

// TINY and SMALL: the payload follows the header.
struct MsgHeader {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint16_t length = 0;  // payload bytes
    uint16_t checksum = 0;
    uint16_t lib_seqnum = 0;
    uint16_t lib_piggyack = 0;
    uint64_t match_info = 0;
    uint32_t session = 0;  // the target endpoint's session id

    friend bool operator==(const MsgHeader&, const MsgHeader&) = default;
};

// One frag of a MEDIUM message; every frag carries the message's header.
struct MediumFrag {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint32_t msg_length = 0;  // 16 bits in MxCompat
    uint16_t lib_seqnum = 0;  // the same in every frag of the message
    uint16_t lib_piggyack = 0;
    uint64_t match_info = 0;
    uint32_t session = 0;
    uint16_t frag_length = 0;
    uint8_t frag_seqnum = 0;    // index of the frag in the message
    uint8_t frag_pipeline = 0;  // MxCompat only: log2 of the frag size; 0 in OpenMx
    uint16_t checksum = 0;

    friend bool operator==(const MediumFrag&, const MediumFrag&) = default;
};

// Announces a large message the receiver then pulls. The header's length
// field is always kRndvDataLength, so it has no member here.
struct Rndv {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint16_t checksum = 0;
    uint16_t lib_seqnum = 0;
    uint16_t lib_piggyack = 0;
    uint64_t match_info = 0;
    uint32_t session = 0;
    uint32_t msg_length = 0;
    uint8_t pulled_rdma_id = 0;
    uint8_t pulled_rdma_seqnum = 0;
    uint16_t pulled_rdma_offset = 0;

    friend bool operator==(const Rndv&, const Rndv&) = default;
};

// Asks the sender of a large message for one block of it.
struct PullRequest {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint32_t session = 0;
    uint32_t total_length = 0;        // of the whole pull
    uint32_t pulled_rdma_id = 0;      // 8 bits in MxCompat
    uint8_t pulled_rdma_seqnum = 0;
    uint32_t pulled_rdma_offset = 0;  // 16 bits in MxCompat
    uint32_t src_pull_handle = 0;
    uint32_t src_magic = 0;           // see pull_magic()
    uint32_t first_frame_offset = 0;  // 16 bits in MxCompat
    uint32_t block_length = 0;        // 16 bits in MxCompat
    uint32_t frame_index = 0;

    friend bool operator==(const PullRequest&, const PullRequest&) = default;
};

struct PullReply {
    uint8_t frame_seqnum = 0;  // frame index mod 256
    uint16_t frame_length = 0;
    uint32_t msg_offset = 0;
    uint32_t dst_pull_handle = 0;  // the request's src_pull_handle
    uint32_t dst_magic = 0;        // the request's src_magic

    friend bool operator==(const PullReply&, const PullReply&) = default;
};

// Tells the sender of a large message that the pull is over.
struct Notify {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint32_t session = 0;
    uint32_t total_length = 0;  // bytes actually pulled
    uint8_t pulled_rdma_id = 0;
    uint8_t pulled_rdma_seqnum = 0;
    uint16_t lib_seqnum = 0;
    uint16_t lib_piggyack = 0;

    friend bool operator==(const Notify&, const Notify&) = default;
};

// CONNECT request and reply share one layout; the word at 36 is the app key
// in a request and the replier's session in a reply, and only a reply has a
// status. The member the other direction uses is 0 after decoding.
//
// xen2mx adds, in bytes MX leaves unused in both directions, the longest
// frame (Ethernet header included) the sender exchanges with the target on
// its path, so that both ends size medium frags, pull replies and inline
// data for the smaller of their two paths. MX and Open-MX send whatever
// happens to be in those bytes: the field counts only behind
// kConnectFrameMagic, and is 0 when a frame does not carry it.
struct Connect {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint16_t lib_seqnum = 0;
    uint16_t src_dst_peer_index = 0;  // the sender's own index for the target
    uint32_t src_session_id = 0;      // the requester's, echoed in the reply
    uint32_t app_key = 0;             // request only
    uint32_t target_session_id = 0;   // reply only
    uint16_t target_recv_seqnum_start = 0;
    bool is_reply = false;
    uint8_t connect_seqnum = 0;
    uint8_t status = 0;  // reply only; a ConnectStatus value
    uint16_t max_frame = 0;  // xen2mx only; 0: not advertised

    friend bool operator==(const Connect&, const Connect&) = default;
};

// TRUC carrying an explicit lib ack. The session goes on the wire twice
// (offsets 24 and 32) and a frame where the two differ is dropped, so there
// is one member for both.
struct Truc {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint32_t session = 0;
    uint16_t lib_seqnum = 0;  // every seqnum below this one was received
    uint32_t acknum = 0;      // grows with each explicit ack; stale ones are dropped
    uint16_t send_seq = 0;
    uint8_t resent = 0;

    friend bool operator==(const Truc&, const Truc&) = default;
};

struct NackLib {
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    NackType nack_type = NackType::None;
    uint8_t dst_endpoint = 0;
    uint16_t dst_src_peer_index = 0;  // repeats the head's
    uint16_t lib_seqnum = 0;          // of the nacked message

    friend bool operator==(const NackLib&, const NackLib&) = default;
};

// A nack answering a PULL.
struct NackMcp {
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    NackType nack_type = NackType::None;
    uint32_t src_pull_handle = 0;  // echoes of the PULL's
    uint32_t src_magic = 0;

    friend bool operator==(const NackMcp&, const NackMcp&) = default;
};

struct HostQuery {
    uint16_t src_dst_peer_index = 0;

    friend bool operator==(const HostQuery&, const HostQuery&) = default;
};

// The hostname ("host:iface") follows the header, NUL included in the length.
struct HostReply {
    uint16_t src_dst_peer_index = 0;
    uint8_t hostname_length = 0;

    friend bool operator==(const HostReply&, const HostReply&) = default;
};

// Everything after the type byte belongs to the application.
struct Raw {
    friend bool operator==(const Raw&, const Raw&) = default;
};

// What an RMA_REQUEST asks of its target.
enum class RmaOp : uint8_t {
    Write = 1,          // store the data (inline, or pulled from the initiator's region)
    Read = 2,           // answer with the data (inline, or a region of ours to pull)
    Atomic = 3,         // apply operands to the target's elements
    FetchAtomic = 4,    // the same, answering with the elements' values before
    CompareAtomic = 5,  // compare-and-swap: operands, then as many compare values
};
inline constexpr uint8_t kRmaOpMax = 5;

// RMA_REQUEST flags.
inline constexpr uint8_t kRmaCqData = 0x01;  // cq_data goes to the target's completion queue
inline constexpr uint8_t kRmaPulled = 0x02;  // Write: the target pulls the data from
                                             // pulled_rdma_id/seqnum instead of inline
inline constexpr uint8_t kRmaFlagsKnown = kRmaCqData | kRmaPulled;

// A one-sided operation on a memory region of the target, named by its key
// and an address (a virtual address, or an offset from the region's start,
// as the target registered it). Sequenced like a message: it is acked,
// resent and taken in order, and always answered by an RMA_REPLY. The
// payload is the inline data of a Write, or the operands of an atomic.
struct RmaRequest {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    RmaOp op = RmaOp::Write;
    uint8_t flags = 0;
    uint8_t datatype = 0;   // atomics: the element type (the engine's numbering)
    uint8_t atomic_op = 0;  // atomics: the operation (the engine's numbering)
    uint16_t lib_seqnum = 0;
    uint16_t lib_piggyack = 0;
    uint32_t session = 0;
    uint32_t handle = 0;  // the initiator's, echoed in the reply
    uint32_t length = 0;  // bytes of the target's memory the operation covers
    uint64_t key = 0;
    uint64_t addr = 0;
    uint64_t cq_data = 0;
    uint8_t pulled_rdma_id = 0;  // Write with kRmaPulled
    uint8_t pulled_rdma_seqnum = 0;
    uint16_t payload_length = 0;

    friend bool operator==(const RmaRequest&, const RmaRequest&) = default;
};

// How the target answered (RmaReply::status).
enum class RmaStatus : uint8_t {
    Ok = 0,
    BadKey = 1,       // no region with that key, or not open to this access
    OutOfBounds = 2,  // the bytes are not all inside the region
    Busy = 3,         // the target had no room to serve it
    Unsupported = 4,  // an operation or type the target does not offer
};
inline constexpr uint8_t kRmaStatusMax = 4;

// The answer to an RMA_REQUEST, sequenced as well. Its payload is the data
// of a Read or the values a fetching atomic found, inline; a larger Read
// instead names a region of the target (kRmaPulled) that the initiator
// pulls and then releases with a NOTIFY, as for a large message.
struct RmaReply {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    RmaStatus status = RmaStatus::Ok;
    uint8_t flags = 0;  // kRmaPulled
    uint16_t lib_seqnum = 0;
    uint16_t lib_piggyack = 0;
    uint32_t session = 0;
    uint32_t handle = 0;
    uint32_t length = 0;  // bytes the answer has
    uint8_t pulled_rdma_id = 0;
    uint8_t pulled_rdma_seqnum = 0;
    uint16_t payload_length = 0;

    friend bool operator==(const RmaReply&, const RmaReply&) = default;
};

// A PULL naming the target's memory by an RMA key and an address instead of
// a region of a message: how an RMA read fetches its data, in one round
// trip and without the target's library (its kernel may answer). Not
// sequenced, like a PULL: it is answered with ordinary PULL_REPLYs of
// reply_max bytes each (whose offsets count from the read's first byte and
// whose head carries reply_peer_index), or refused with a NACK_MCP, after
// which the initiator asks again with an RMA_REQUEST.
struct KeyPull {
    uint8_t dst_endpoint = 0;
    uint8_t src_endpoint = 0;
    uint8_t src_generation = 0;
    uint32_t session = 0;
    uint32_t total_length = 0;  // of the whole read
    uint64_t key = 0;
    uint64_t addr = 0;          // the read's first byte, as the target names it
    uint32_t src_magic = 0;     // see pull_magic()
    uint32_t src_pull_handle = 0;
    uint32_t block_length = 0;
    uint32_t frame_index = 0;   // the block starts frame_index × reply_max into the read
    uint16_t reply_max = 0;
    uint16_t reply_peer_index = 0;

    uint64_t block_offset() const { return uint64_t{frame_index} * reply_max; }

    friend bool operator==(const KeyPull&, const KeyPull&) = default;
};

// TINY and SMALL both use MsgHeader; Frame::type tells them apart.
using Body = std::variant<MsgHeader, MediumFrag, Rndv, PullRequest, PullReply, Notify, Connect, Truc, NackLib,
                          NackMcp, HostQuery, HostReply, Raw, RmaRequest, RmaReply, KeyPull>;

// A decoded frame. The payload points into the buffer that was decoded: the
// data of TINY, SMALL, MEDIUM and PULL_REPLY, the hostname of HOST_REPLY
// (with its NUL), everything after the type byte of RAW, and nothing for the
// other types. Ethernet padding is never part of it, except for RAW, whose
// length the frame does not say.
struct Frame {
    Head head;
    PacketType type = PacketType::Raw;
    Body body;
    std::span<const uint8_t> payload;
};

// The magic a puller puts in its PULLs, and the endpoint a PULL_REPLY's
// dst_magic names (empty when it cannot come from pull_magic()).
inline constexpr uint32_t pull_magic(uint8_t endpoint) { return uint32_t{endpoint} ^ kPullMagicXor; }
inline constexpr std::optional<uint8_t> endpoint_of_pull_magic(uint32_t magic) {
    const uint32_t endpoint = magic ^ kPullMagicXor;
    if (endpoint > 0xff) return std::nullopt;
    return static_cast<uint8_t>(endpoint);
}

}  // namespace xen2mx::wire
