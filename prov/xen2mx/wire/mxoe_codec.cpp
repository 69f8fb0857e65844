#include "wire/mxoe_codec.hpp"

#include <array>
#include <cstring>

#include "wire/bytes.hpp"

// Offsets below count from the destination MAC, as in the layout tables of
// the protocol description, so that each line can be checked against them.

namespace xen2mx::wire {

namespace {

constexpr size_t kMsgHeaderLength = 40;        // TINY, SMALL
constexpr size_t kMediumHeaderLength = 48;
constexpr size_t kRndvHeaderLength = 48;
constexpr size_t kPullHeaderLength = 60;
constexpr size_t kPullCompatHeaderLength = 48;
constexpr size_t kPullReplyHeaderLength = 32;
constexpr size_t kNotifyHeaderLength = 40;
constexpr size_t kConnectHeaderLength = 48;
constexpr size_t kTrucHeaderLength = 44;
constexpr size_t kNackHeaderLength = 32;       // NACK_LIB, NACK_MCP
constexpr size_t kHostHeaderLength = 32;       // HOST_QUERY, HOST_REPLY
constexpr size_t kRawHeaderLength = 17;        // head and type byte
constexpr size_t kRmaRequestHeaderLength = 72;
constexpr size_t kRmaReplyHeaderLength = 48;
constexpr size_t kKeyPullHeaderLength = 64;

constexpr std::array<uint8_t, kEthZlen> kZeros{};

// Zeroes the header, so that pad bytes go out as zero, and writes the head
// and the type byte. Null when out is too short.
uint8_t* start(const Head& head, PacketType type, size_t length, std::span<uint8_t> out) {
    if (out.size() < length) return nullptr;
    uint8_t* p = out.data();
    std::memset(p, 0, length);
    put_mac(p + 0, head.dst_mac);
    put_mac(p + 6, head.src_mac);
    put_be16(p + 12, kEthertype);
    put_be16(p + 14, head.dst_src_peer_index);
    put_u8(p + 16, static_cast<uint8_t>(type));
    return p;
}

void put_match(uint8_t* p, uint64_t match_info) {
    put_be32(p, static_cast<uint32_t>(match_info >> 32));
    put_be32(p + 4, static_cast<uint32_t>(match_info));
}
uint64_t get_match(const uint8_t* p) { return (uint64_t{get_be32(p)} << 32) | get_be32(p + 4); }

size_t encode_msg(const Head& head, PacketType type, const MsgHeader& m, std::span<uint8_t> out) {
    uint8_t* p = start(head, type, kMsgHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, m.dst_endpoint);
    put_u8(p + 18, m.src_endpoint);
    put_u8(p + 19, m.src_generation);
    put_be16(p + 20, m.length);
    put_be16(p + 22, m.checksum);
    put_be16(p + 24, m.lib_seqnum);
    put_be16(p + 26, m.lib_piggyack);
    put_match(p + 28, m.match_info);
    put_be32(p + 36, m.session);
    return kMsgHeaderLength;
}

size_t encode_host(const Head& head, PacketType type, uint16_t peer_index, uint8_t name_length,
                   std::span<uint8_t> out) {
    uint8_t* p = start(head, type, kHostHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, name_length);
    put_be16(p + 18, peer_index);
    put_be32(p + 24, kHostQueryMagic);
    return kHostHeaderLength;
}

bool valid_nack(uint8_t type) {
    return type >= static_cast<uint8_t>(NackType::BadEndpoint) && type <= static_cast<uint8_t>(NackType::BadRdmaWindow);
}

// Each parser reads the body of a frame at least header_length() long, and
// sets how many payload bytes the header declares, or says why not.
using Parsed = std::variant<Body, DropReason>;

MsgHeader parse_msg(const uint8_t* p) {
    MsgHeader m;
    m.dst_endpoint = get_u8(p + 17);
    m.src_endpoint = get_u8(p + 18);
    m.src_generation = get_u8(p + 19);
    m.length = get_be16(p + 20);
    m.checksum = get_be16(p + 22);
    m.lib_seqnum = get_be16(p + 24);
    m.lib_piggyack = get_be16(p + 26);
    m.match_info = get_match(p + 28);
    m.session = get_be32(p + 36);
    return m;
}

Parsed parse_tiny_small(const uint8_t* p, uint32_t max, size_t& payload) {
    MsgHeader m = parse_msg(p);
    if (m.length > max) return DropReason::BadLength;
    payload = m.length;
    return m;
}

Parsed parse_medium(const uint8_t* p, WireMode mode, const WireLimits& limits, size_t& payload) {
    MediumFrag f;
    f.dst_endpoint = get_u8(p + 17);
    f.src_endpoint = get_u8(p + 18);
    f.src_generation = get_u8(p + 19);
    f.msg_length = mode == WireMode::MxCompat ? get_be16(p + 20) : get_be32(p + 20);
    f.lib_seqnum = get_be16(p + 24);
    f.lib_piggyack = get_be16(p + 26);
    f.match_info = get_match(p + 28);
    f.session = get_be32(p + 36);
    f.frag_length = get_be16(p + 40);
    f.frag_seqnum = get_u8(p + 42);
    if (mode == WireMode::MxCompat) f.frag_pipeline = get_u8(p + 43);
    f.checksum = get_be16(p + 44);

    if (f.frag_length > limits.medium_frag_max) return DropReason::BadLength;
    if (f.msg_length > limits.medium_msg_max()) return DropReason::BadFragment;
    // MX announces the frag size in each frag; a size other than the agreed
    // one would make frags overlap or leave holes.
    if (mode == WireMode::MxCompat &&
        (f.frag_pipeline >= 32 || (uint64_t{1} << f.frag_pipeline) != limits.medium_frag_max)) {
        return DropReason::BadFragment;
    }
    // Every frag but the last is full, so the message's length fixes each
    // frag's length; an empty message is one empty frag.
    const uint64_t offset = medium_frag_offset(f, mode, limits);
    if (f.msg_length == 0) {
        if (f.frag_seqnum != 0 || f.frag_length != 0) return DropReason::BadFragment;
    } else {
        if (offset >= f.msg_length) return DropReason::BadFragment;
        const uint64_t rest = f.msg_length - offset;
        const uint64_t expected = rest < limits.medium_frag_max ? rest : limits.medium_frag_max;
        if (f.frag_length != expected) return DropReason::BadFragment;
    }
    payload = f.frag_length;
    return f;
}

Parsed parse_rndv(const uint8_t* p) {
    const MsgHeader m = parse_msg(p);
    if (m.length != kRndvDataLength) return DropReason::BadLength;
    Rndv r;
    r.dst_endpoint = m.dst_endpoint;
    r.src_endpoint = m.src_endpoint;
    r.src_generation = m.src_generation;
    r.checksum = m.checksum;
    r.lib_seqnum = m.lib_seqnum;
    r.lib_piggyack = m.lib_piggyack;
    r.match_info = m.match_info;
    r.session = m.session;
    r.msg_length = get_be32(p + 40);
    r.pulled_rdma_id = get_u8(p + 44);
    r.pulled_rdma_seqnum = get_u8(p + 45);
    r.pulled_rdma_offset = get_be16(p + 46);
    return r;
}

Parsed parse_pull(const uint8_t* p, WireMode mode, const WireLimits& limits) {
    PullRequest r;
    r.dst_endpoint = get_u8(p + 17);
    r.src_endpoint = get_u8(p + 18);
    r.src_generation = get_u8(p + 19);
    r.session = get_be32(p + 20);
    r.total_length = get_be32(p + 24);
    if (mode == WireMode::MxCompat) {
        r.pulled_rdma_id = get_u8(p + 28);
        r.pulled_rdma_seqnum = get_u8(p + 29);
        r.pulled_rdma_offset = get_be16(p + 30);
        r.src_pull_handle = get_be32(p + 32);
        r.src_magic = get_be32(p + 36);
        r.first_frame_offset = get_be16(p + 40);
        r.block_length = get_be16(p + 42);
        r.frame_index = get_be32(p + 44);
    } else {
        r.pulled_rdma_id = get_be32(p + 28);
        r.pulled_rdma_seqnum = get_u8(p + 32);
        r.pulled_rdma_offset = get_be32(p + 36);
        r.src_pull_handle = get_be32(p + 40);
        r.src_magic = get_be32(p + 44);
        r.first_frame_offset = get_be32(p + 48);
        r.block_length = get_be32(p + 52);
        r.frame_index = get_be32(p + 56);
    }

    // One block is answered by at most replies_per_block frames, the first
    // of which starts first_frame_offset into a frame.
    const uint64_t block_max = limits.pull_block_max();
    if (r.block_length > block_max) return DropReason::BadLength;
    if (r.first_frame_offset >= limits.pull_reply_max) return DropReason::BadOffset;
    if (uint64_t{r.first_frame_offset} + r.block_length > block_max) return DropReason::BadOffset;
    // The block must lie inside the transfer it belongs to.
    const std::optional<uint64_t> start = pull_block_offset(r, limits);
    if (!start || *start + r.block_length > r.total_length) return DropReason::BadOffset;
    return r;
}

Parsed parse_pull_reply(const uint8_t* p, const WireLimits& limits, size_t& payload) {
    PullReply r;
    r.frame_seqnum = get_u8(p + 17);
    r.frame_length = get_be16(p + 18);
    r.msg_offset = get_be32(p + 20);
    r.dst_pull_handle = get_be32(p + 24);
    r.dst_magic = get_be32(p + 28);
    if (r.frame_length == 0 || r.frame_length > limits.pull_reply_max) return DropReason::BadLength;
    // Transfers are described with 32-bit lengths; nothing ends past 4 GiB.
    if (uint64_t{r.msg_offset} + r.frame_length > uint64_t{UINT32_MAX} + 1) return DropReason::BadOffset;
    payload = r.frame_length;
    return r;
}

Parsed parse_notify(const uint8_t* p) {
    Notify n;
    n.dst_endpoint = get_u8(p + 17);
    n.src_endpoint = get_u8(p + 18);
    n.src_generation = get_u8(p + 19);
    n.session = get_be32(p + 20);
    n.total_length = get_be32(p + 24);
    n.pulled_rdma_id = get_u8(p + 28);
    n.pulled_rdma_seqnum = get_u8(p + 29);
    n.lib_seqnum = get_be16(p + 34);
    n.lib_piggyack = get_be16(p + 36);
    return n;
}

Parsed parse_connect(const uint8_t* p) {
    if (get_u8(p + 20) != kConnectDataLength) return DropReason::BadConnect;
    const uint8_t is_reply = get_u8(p + 42);
    if (is_reply > 1) return DropReason::BadConnect;
    Connect c;
    c.dst_endpoint = get_u8(p + 17);
    c.src_endpoint = get_u8(p + 18);
    c.src_generation = get_u8(p + 19);
    c.lib_seqnum = get_be16(p + 24);
    c.src_dst_peer_index = get_be16(p + 26);
    c.src_session_id = get_be32(p + 32);
    c.is_reply = is_reply == 1;
    if (c.is_reply) c.target_session_id = get_be32(p + 36);
    else c.app_key = get_be32(p + 36);
    c.target_recv_seqnum_start = get_be16(p + 40);
    c.connect_seqnum = get_u8(p + 43);
    if (c.is_reply) c.status = get_u8(p + 44);
    // xen2mx's frame size: 22 (16 bits), behind the magic at 28.
    if (get_be32(p + 28) == kConnectFrameMagic) c.max_frame = get_be16(p + 22);
    return c;
}

Parsed parse_truc(const uint8_t* p) {
    if (get_u8(p + 20) != kTrucDataLength || get_u8(p + 28) != kTrucAck) return DropReason::BadTruc;
    Truc t;
    t.dst_endpoint = get_u8(p + 17);
    t.src_endpoint = get_u8(p + 18);
    t.src_generation = get_u8(p + 19);
    t.session = get_be32(p + 24);
    if (get_be32(p + 32) != t.session) return DropReason::BadTruc;
    t.lib_seqnum = get_be16(p + 30);
    t.acknum = get_be32(p + 36);
    t.send_seq = get_be16(p + 40);
    t.resent = get_u8(p + 42);
    return t;
}

Parsed parse_nack_lib(const uint8_t* p) {
    if (!valid_nack(get_u8(p + 19))) return DropReason::BadNack;
    NackLib n;
    n.src_endpoint = get_u8(p + 17);
    n.src_generation = get_u8(p + 18);
    n.nack_type = static_cast<NackType>(get_u8(p + 19));
    n.dst_endpoint = get_u8(p + 25);
    n.dst_src_peer_index = get_be16(p + 26);
    n.lib_seqnum = get_be16(p + 28);
    return n;
}

Parsed parse_nack_mcp(const uint8_t* p) {
    if (!valid_nack(get_u8(p + 19))) return DropReason::BadNack;
    NackMcp n;
    n.src_endpoint = get_u8(p + 17);
    n.src_generation = get_u8(p + 18);
    n.nack_type = static_cast<NackType>(get_u8(p + 19));
    n.src_pull_handle = get_be32(p + 24);
    n.src_magic = get_be32(p + 28);
    return n;
}

// RMA_REQUEST, xen2mx's extension:
//  17 dst_endpoint   18 src_endpoint   19 op   20 flags   21 datatype
//  22 atomic_op      23 pulled_rdma_id 24 lib_seqnum      26 lib_piggyack
//  28 session        32 handle         36 length          40 key (64)
//  48 addr (64)      56 cq_data (64)   64 payload_length  66 pulled_rdma_seqnum
//  67..71 zero, then the payload.
Parsed parse_rma_request(const uint8_t* p, size_t& payload) {
    RmaRequest r;
    const uint8_t op = get_u8(p + 19);
    r.flags = get_u8(p + 20);
    if (op == 0 || op > kRmaOpMax || (r.flags & ~kRmaFlagsKnown)) return DropReason::BadRma;
    r.op = static_cast<RmaOp>(op);
    r.dst_endpoint = get_u8(p + 17);
    r.src_endpoint = get_u8(p + 18);
    r.datatype = get_u8(p + 21);
    r.atomic_op = get_u8(p + 22);
    r.pulled_rdma_id = get_u8(p + 23);
    r.lib_seqnum = get_be16(p + 24);
    r.lib_piggyack = get_be16(p + 26);
    r.session = get_be32(p + 28);
    r.handle = get_be32(p + 32);
    r.length = get_be32(p + 36);
    r.key = get_match(p + 40);
    r.addr = get_match(p + 48);
    r.cq_data = get_match(p + 56);
    r.payload_length = get_be16(p + 64);
    r.pulled_rdma_seqnum = get_u8(p + 66);
    // Only a Write may pull, and then it carries no data of its own.
    if ((r.flags & kRmaPulled) && (r.op != RmaOp::Write || r.payload_length)) return DropReason::BadRma;
    payload = r.payload_length;
    return r;
}

// RMA_REPLY:
//  17 dst_endpoint   18 src_endpoint   19 status   20 flags   21 zero
//  22 lib_seqnum     24 lib_piggyack   26 zero     28 session 32 handle
//  36 length         40 payload_length 42 pulled_rdma_id      43 pulled_rdma_seqnum
//  44..47 zero, then the payload.
Parsed parse_rma_reply(const uint8_t* p, size_t& payload) {
    RmaReply r;
    const uint8_t status = get_u8(p + 19);
    r.flags = get_u8(p + 20);
    if (status > kRmaStatusMax || (r.flags & ~kRmaPulled)) return DropReason::BadRma;
    r.status = static_cast<RmaStatus>(status);
    r.dst_endpoint = get_u8(p + 17);
    r.src_endpoint = get_u8(p + 18);
    r.lib_seqnum = get_be16(p + 22);
    r.lib_piggyack = get_be16(p + 24);
    r.session = get_be32(p + 28);
    r.handle = get_be32(p + 32);
    r.length = get_be32(p + 36);
    r.payload_length = get_be16(p + 40);
    r.pulled_rdma_id = get_u8(p + 42);
    r.pulled_rdma_seqnum = get_u8(p + 43);
    if ((r.flags & kRmaPulled) && r.payload_length) return DropReason::BadRma;
    payload = r.payload_length;
    return r;
}

// KEY_PULL:
//  17 dst_endpoint   18 src_endpoint   19 src_generation   20 session
//  24 total_length   28 key (64)       36 addr (64)        44 src_magic
//  48 src_pull_handle                  52 block_length     56 frame_index
//  60 reply_max (16) 62 reply_peer_index (16); no payload.
// The magic sits where a PULL's does, so that the kernel stamps both alike.
Parsed parse_key_pull(const uint8_t* p, const WireLimits& limits) {
    KeyPull r;
    r.dst_endpoint = get_u8(p + 17);
    r.src_endpoint = get_u8(p + 18);
    r.src_generation = get_u8(p + 19);
    r.session = get_be32(p + 20);
    r.total_length = get_be32(p + 24);
    r.key = get_match(p + 28);
    r.addr = get_match(p + 36);
    r.src_magic = get_be32(p + 44);
    r.src_pull_handle = get_be32(p + 48);
    r.block_length = get_be32(p + 52);
    r.frame_index = get_be32(p + 56);
    r.reply_max = get_be16(p + 60);
    r.reply_peer_index = get_be16(p + 62);
    if (r.reply_max == 0 || r.block_length == 0) return DropReason::BadLength;
    if (r.block_length > uint64_t{r.reply_max} * limits.replies_per_block) return DropReason::BadLength;
    if (r.block_offset() + r.block_length > r.total_length) return DropReason::BadOffset;
    return r;
}

Parsed parse_host(const uint8_t* p, PacketType type, size_t& payload) {
    if (get_be32(p + 24) != kHostQueryMagic) return DropReason::BadMagic;
    const uint16_t peer_index = get_be16(p + 18);
    if (type == PacketType::HostQuery) return HostQuery{peer_index};
    const uint8_t name_length = get_u8(p + 17);
    if (name_length == 0) return DropReason::BadHostname;  // not even the NUL
    payload = name_length;
    return HostReply{peer_index, name_length};
}

}  // namespace

size_t header_length(PacketType type, WireMode mode) {
    switch (type) {
    case PacketType::Raw: return kRawHeaderLength;
    case PacketType::HostQuery:
    case PacketType::HostReply: return kHostHeaderLength;
    case PacketType::Truc: return kTrucHeaderLength;
    case PacketType::Connect: return kConnectHeaderLength;
    case PacketType::Tiny:
    case PacketType::Small: return kMsgHeaderLength;
    case PacketType::Medium: return kMediumHeaderLength;
    case PacketType::Rndv: return kRndvHeaderLength;
    case PacketType::Pull: return mode == WireMode::MxCompat ? kPullCompatHeaderLength : kPullHeaderLength;
    case PacketType::PullReply: return kPullReplyHeaderLength;
    case PacketType::Notify: return kNotifyHeaderLength;
    case PacketType::NackLib:
    case PacketType::NackMcp: return kNackHeaderLength;
    case PacketType::RmaRequest: return mode == WireMode::OpenMx ? kRmaRequestHeaderLength : 0;
    case PacketType::RmaReply: return mode == WireMode::OpenMx ? kRmaReplyHeaderLength : 0;
    case PacketType::KeyPull: return mode == WireMode::OpenMx ? kKeyPullHeaderLength : 0;
    }
    return 0;
}

size_t encode_tiny(const Head& head, const MsgHeader& msg, std::span<uint8_t> out) {
    return encode_msg(head, PacketType::Tiny, msg, out);
}

size_t encode_small(const Head& head, const MsgHeader& msg, std::span<uint8_t> out) {
    return encode_msg(head, PacketType::Small, msg, out);
}

size_t encode_medium(const Head& head, const MediumFrag& f, WireMode mode, std::span<uint8_t> out) {
    const bool compat = mode == WireMode::MxCompat;
    if (compat && f.msg_length > 0xffff) return 0;
    uint8_t* p = start(head, PacketType::Medium, kMediumHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, f.dst_endpoint);
    put_u8(p + 18, f.src_endpoint);
    put_u8(p + 19, f.src_generation);
    if (compat) put_be16(p + 20, static_cast<uint16_t>(f.msg_length));
    else put_be32(p + 20, f.msg_length);
    put_be16(p + 24, f.lib_seqnum);
    put_be16(p + 26, f.lib_piggyack);
    put_match(p + 28, f.match_info);
    put_be32(p + 36, f.session);
    put_be16(p + 40, f.frag_length);
    put_u8(p + 42, f.frag_seqnum);
    if (compat) put_u8(p + 43, f.frag_pipeline);
    put_be16(p + 44, f.checksum);
    return kMediumHeaderLength;
}

size_t encode_rndv(const Head& head, const Rndv& r, std::span<uint8_t> out) {
    MsgHeader m;
    m.dst_endpoint = r.dst_endpoint;
    m.src_endpoint = r.src_endpoint;
    m.src_generation = r.src_generation;
    m.length = kRndvDataLength;
    m.checksum = r.checksum;
    m.lib_seqnum = r.lib_seqnum;
    m.lib_piggyack = r.lib_piggyack;
    m.match_info = r.match_info;
    m.session = r.session;
    if (out.size() < kRndvHeaderLength || !encode_msg(head, PacketType::Rndv, m, out)) return 0;
    uint8_t* p = out.data();
    std::memset(p + kMsgHeaderLength, 0, kRndvHeaderLength - kMsgHeaderLength);
    put_be32(p + 40, r.msg_length);
    put_u8(p + 44, r.pulled_rdma_id);
    put_u8(p + 45, r.pulled_rdma_seqnum);
    put_be16(p + 46, r.pulled_rdma_offset);
    return kRndvHeaderLength;
}

size_t encode_pull_request(const Head& head, const PullRequest& r, WireMode mode, std::span<uint8_t> out) {
    if (mode == WireMode::MxCompat) {
        if (r.pulled_rdma_id > 0xff || r.pulled_rdma_offset > 0xffff || r.first_frame_offset > 0xffff ||
            r.block_length > 0xffff) {
            return 0;
        }
        uint8_t* p = start(head, PacketType::Pull, kPullCompatHeaderLength, out);
        if (!p) return 0;
        put_u8(p + 17, r.dst_endpoint);
        put_u8(p + 18, r.src_endpoint);
        put_u8(p + 19, r.src_generation);
        put_be32(p + 20, r.session);
        put_be32(p + 24, r.total_length);
        put_u8(p + 28, static_cast<uint8_t>(r.pulled_rdma_id));
        put_u8(p + 29, r.pulled_rdma_seqnum);
        put_be16(p + 30, static_cast<uint16_t>(r.pulled_rdma_offset));
        put_be32(p + 32, r.src_pull_handle);
        put_be32(p + 36, r.src_magic);
        put_be16(p + 40, static_cast<uint16_t>(r.first_frame_offset));
        put_be16(p + 42, static_cast<uint16_t>(r.block_length));
        put_be32(p + 44, r.frame_index);
        return kPullCompatHeaderLength;
    }
    uint8_t* p = start(head, PacketType::Pull, kPullHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, r.dst_endpoint);
    put_u8(p + 18, r.src_endpoint);
    put_u8(p + 19, r.src_generation);
    put_be32(p + 20, r.session);
    put_be32(p + 24, r.total_length);
    put_be32(p + 28, r.pulled_rdma_id);
    put_u8(p + 32, r.pulled_rdma_seqnum);
    put_be32(p + 36, r.pulled_rdma_offset);
    put_be32(p + 40, r.src_pull_handle);
    put_be32(p + 44, r.src_magic);
    put_be32(p + 48, r.first_frame_offset);
    put_be32(p + 52, r.block_length);
    put_be32(p + 56, r.frame_index);
    return kPullHeaderLength;
}

size_t encode_pull_reply(const Head& head, const PullReply& r, std::span<uint8_t> out) {
    uint8_t* p = start(head, PacketType::PullReply, kPullReplyHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, r.frame_seqnum);
    put_be16(p + 18, r.frame_length);
    put_be32(p + 20, r.msg_offset);
    put_be32(p + 24, r.dst_pull_handle);
    put_be32(p + 28, r.dst_magic);
    return kPullReplyHeaderLength;
}

size_t encode_notify(const Head& head, const Notify& n, std::span<uint8_t> out) {
    uint8_t* p = start(head, PacketType::Notify, kNotifyHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, n.dst_endpoint);
    put_u8(p + 18, n.src_endpoint);
    put_u8(p + 19, n.src_generation);
    put_be32(p + 20, n.session);
    put_be32(p + 24, n.total_length);
    put_u8(p + 28, n.pulled_rdma_id);
    put_u8(p + 29, n.pulled_rdma_seqnum);
    put_be16(p + 34, n.lib_seqnum);
    put_be16(p + 36, n.lib_piggyack);
    return kNotifyHeaderLength;
}

size_t encode_connect(const Head& head, const Connect& c, std::span<uint8_t> out) {
    uint8_t* p = start(head, PacketType::Connect, kConnectHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, c.dst_endpoint);
    put_u8(p + 18, c.src_endpoint);
    put_u8(p + 19, c.src_generation);
    put_u8(p + 20, kConnectDataLength);
    put_be16(p + 24, c.lib_seqnum);
    put_be16(p + 26, c.src_dst_peer_index);
    put_be32(p + 32, c.src_session_id);
    put_be32(p + 36, c.is_reply ? c.target_session_id : c.app_key);
    put_be16(p + 40, c.target_recv_seqnum_start);
    put_u8(p + 42, c.is_reply ? 1 : 0);
    put_u8(p + 43, c.connect_seqnum);
    if (c.is_reply) put_u8(p + 44, c.status);
    if (c.max_frame) {
        put_be16(p + 22, c.max_frame);
        put_be32(p + 28, kConnectFrameMagic);
    }
    return kConnectHeaderLength;
}

size_t encode_truc(const Head& head, const Truc& t, std::span<uint8_t> out) {
    uint8_t* p = start(head, PacketType::Truc, kTrucHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, t.dst_endpoint);
    put_u8(p + 18, t.src_endpoint);
    put_u8(p + 19, t.src_generation);
    put_u8(p + 20, kTrucDataLength);
    put_be32(p + 24, t.session);
    put_u8(p + 28, kTrucAck);
    put_be16(p + 30, t.lib_seqnum);
    put_be32(p + 32, t.session);
    put_be32(p + 36, t.acknum);
    put_be16(p + 40, t.send_seq);
    put_u8(p + 42, t.resent);
    return kTrucHeaderLength;
}

size_t encode_nack_lib(const Head& head, const NackLib& n, std::span<uint8_t> out) {
    uint8_t* p = start(head, PacketType::NackLib, kNackHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, n.src_endpoint);
    put_u8(p + 18, n.src_generation);
    put_u8(p + 19, static_cast<uint8_t>(n.nack_type));
    put_u8(p + 25, n.dst_endpoint);
    put_be16(p + 26, n.dst_src_peer_index);
    put_be16(p + 28, n.lib_seqnum);
    return kNackHeaderLength;
}

size_t encode_nack_mcp(const Head& head, const NackMcp& n, std::span<uint8_t> out) {
    uint8_t* p = start(head, PacketType::NackMcp, kNackHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, n.src_endpoint);
    put_u8(p + 18, n.src_generation);
    put_u8(p + 19, static_cast<uint8_t>(n.nack_type));
    put_be32(p + 24, n.src_pull_handle);
    put_be32(p + 28, n.src_magic);
    return kNackHeaderLength;
}

size_t encode_host_query(const Head& head, const HostQuery& q, std::span<uint8_t> out) {
    return encode_host(head, PacketType::HostQuery, q.src_dst_peer_index, 0, out);
}

size_t encode_host_reply(const Head& head, const HostReply& r, std::span<uint8_t> out) {
    return encode_host(head, PacketType::HostReply, r.src_dst_peer_index, r.hostname_length, out);
}

size_t encode_raw(const Head& head, std::span<uint8_t> out) {
    return start(head, PacketType::Raw, kRawHeaderLength, out) ? kRawHeaderLength : 0;
}

size_t encode_rma_request(const Head& head, const RmaRequest& r, WireMode mode, std::span<uint8_t> out) {
    if (mode != WireMode::OpenMx) return 0;
    uint8_t* p = start(head, PacketType::RmaRequest, kRmaRequestHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, r.dst_endpoint);
    put_u8(p + 18, r.src_endpoint);
    put_u8(p + 19, static_cast<uint8_t>(r.op));
    put_u8(p + 20, r.flags);
    put_u8(p + 21, r.datatype);
    put_u8(p + 22, r.atomic_op);
    put_u8(p + 23, r.pulled_rdma_id);
    put_be16(p + 24, r.lib_seqnum);
    put_be16(p + 26, r.lib_piggyack);
    put_be32(p + 28, r.session);
    put_be32(p + 32, r.handle);
    put_be32(p + 36, r.length);
    put_match(p + 40, r.key);
    put_match(p + 48, r.addr);
    put_match(p + 56, r.cq_data);
    put_be16(p + 64, r.payload_length);
    put_u8(p + 66, r.pulled_rdma_seqnum);
    return kRmaRequestHeaderLength;
}

size_t encode_rma_reply(const Head& head, const RmaReply& r, WireMode mode, std::span<uint8_t> out) {
    if (mode != WireMode::OpenMx) return 0;
    uint8_t* p = start(head, PacketType::RmaReply, kRmaReplyHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, r.dst_endpoint);
    put_u8(p + 18, r.src_endpoint);
    put_u8(p + 19, static_cast<uint8_t>(r.status));
    put_u8(p + 20, r.flags);
    put_be16(p + 22, r.lib_seqnum);
    put_be16(p + 24, r.lib_piggyack);
    put_be32(p + 28, r.session);
    put_be32(p + 32, r.handle);
    put_be32(p + 36, r.length);
    put_be16(p + 40, r.payload_length);
    put_u8(p + 42, r.pulled_rdma_id);
    put_u8(p + 43, r.pulled_rdma_seqnum);
    return kRmaReplyHeaderLength;
}

size_t encode_key_pull(const Head& head, const KeyPull& r, WireMode mode, std::span<uint8_t> out) {
    if (mode != WireMode::OpenMx) return 0;
    uint8_t* p = start(head, PacketType::KeyPull, kKeyPullHeaderLength, out);
    if (!p) return 0;
    put_u8(p + 17, r.dst_endpoint);
    put_u8(p + 18, r.src_endpoint);
    put_u8(p + 19, r.src_generation);
    put_be32(p + 20, r.session);
    put_be32(p + 24, r.total_length);
    put_match(p + 28, r.key);
    put_match(p + 36, r.addr);
    put_be32(p + 44, r.src_magic);
    put_be32(p + 48, r.src_pull_handle);
    put_be32(p + 52, r.block_length);
    put_be32(p + 56, r.frame_index);
    put_be16(p + 60, r.reply_max);
    put_be16(p + 62, r.reply_peer_index);
    return kKeyPullHeaderLength;
}

size_t encode(const Frame& frame, WireMode mode, std::span<uint8_t> out) {
    const Head& h = frame.head;
    const Body& b = frame.body;
    switch (frame.type) {
    case PacketType::Tiny:
        if (auto* m = std::get_if<MsgHeader>(&b)) return encode_tiny(h, *m, out);
        break;
    case PacketType::Small:
        if (auto* m = std::get_if<MsgHeader>(&b)) return encode_small(h, *m, out);
        break;
    case PacketType::Medium:
        if (auto* f = std::get_if<MediumFrag>(&b)) return encode_medium(h, *f, mode, out);
        break;
    case PacketType::Rndv:
        if (auto* r = std::get_if<Rndv>(&b)) return encode_rndv(h, *r, out);
        break;
    case PacketType::Pull:
        if (auto* r = std::get_if<PullRequest>(&b)) return encode_pull_request(h, *r, mode, out);
        break;
    case PacketType::PullReply:
        if (auto* r = std::get_if<PullReply>(&b)) return encode_pull_reply(h, *r, out);
        break;
    case PacketType::Notify:
        if (auto* n = std::get_if<Notify>(&b)) return encode_notify(h, *n, out);
        break;
    case PacketType::Connect:
        if (auto* c = std::get_if<Connect>(&b)) return encode_connect(h, *c, out);
        break;
    case PacketType::Truc:
        if (auto* t = std::get_if<Truc>(&b)) return encode_truc(h, *t, out);
        break;
    case PacketType::NackLib:
        if (auto* n = std::get_if<NackLib>(&b)) return encode_nack_lib(h, *n, out);
        break;
    case PacketType::NackMcp:
        if (auto* n = std::get_if<NackMcp>(&b)) return encode_nack_mcp(h, *n, out);
        break;
    case PacketType::HostQuery:
        if (auto* q = std::get_if<HostQuery>(&b)) return encode_host_query(h, *q, out);
        break;
    case PacketType::HostReply:
        if (auto* r = std::get_if<HostReply>(&b)) return encode_host_reply(h, *r, out);
        break;
    case PacketType::Raw:
        if (std::holds_alternative<Raw>(b)) return encode_raw(h, out);
        break;
    case PacketType::RmaRequest:
        if (auto* r = std::get_if<RmaRequest>(&b)) return encode_rma_request(h, *r, mode, out);
        break;
    case PacketType::RmaReply:
        if (auto* r = std::get_if<RmaReply>(&b)) return encode_rma_reply(h, *r, mode, out);
        break;
    case PacketType::KeyPull:
        if (auto* r = std::get_if<KeyPull>(&b)) return encode_key_pull(h, *r, mode, out);
        break;
    }
    return 0;
}

std::span<const uint8_t> zero_padding(size_t length) {
    return std::span<const uint8_t>(kZeros).first(length < kZeros.size() ? length : kZeros.size());
}

std::string_view drop_reason_name(DropReason reason) {
    switch (reason) {
    case DropReason::TooShort: return "too_short";
    case DropReason::NotMxoe: return "not_mxoe";
    case DropReason::UnknownType: return "unknown_type";
    case DropReason::Truncated: return "truncated";
    case DropReason::TrailingBytes: return "trailing_bytes";
    case DropReason::BadLength: return "bad_length";
    case DropReason::BadFragment: return "bad_fragment";
    case DropReason::BadOffset: return "bad_offset";
    case DropReason::BadConnect: return "bad_connect";
    case DropReason::BadTruc: return "bad_truc";
    case DropReason::BadNack: return "bad_nack";
    case DropReason::BadMagic: return "bad_magic";
    case DropReason::BadHostname: return "bad_hostname";
    case DropReason::BadRma: return "bad_rma";
    }
    return "unknown";
}

std::optional<Sender> sender_for_limits(std::span<const uint8_t> frame, WireMode mode) {
    if (frame.size() < kRawHeaderLength || get_be16(frame.data() + 12) != kEthertype) return std::nullopt;
    const auto type = static_cast<PacketType>(get_u8(frame.data() + kPtypeOffset));
    if (type != PacketType::Medium && type != PacketType::Pull) return std::nullopt;
    if (frame.size() < header_length(type, mode)) return std::nullopt;
    // Both name their source endpoint at 18.
    return Sender{get_mac(frame.data() + 6), get_u8(frame.data() + 18)};
}

uint64_t medium_frag_offset(const MediumFrag& frag, WireMode mode, const WireLimits& limits) {
    if (mode == WireMode::MxCompat && frag.frag_pipeline < 32) return uint64_t{frag.frag_seqnum} << frag.frag_pipeline;
    return uint64_t{frag.frag_seqnum} * limits.medium_frag_max;
}

std::optional<uint64_t> pull_block_offset(const PullRequest& pull, const WireLimits& limits) {
    if (limits.pull_reply_max == 0) return std::nullopt;
    const uint64_t base = uint64_t{pull.frame_index} * limits.pull_reply_max + pull.first_frame_offset;
    const uint64_t skipped = pull.pulled_rdma_offset % limits.pull_reply_max;
    if (base < skipped) return std::nullopt;
    return base - skipped;
}

DecodeResult decode(std::span<const uint8_t> frame, WireMode mode, const WireLimits& limits) {
    const size_t size = frame.size();
    const uint8_t* p = frame.data();
    if (size < kPtypeOffset) return DropReason::TooShort;
    if (get_be16(p + 12) != kEthertype) return DropReason::NotMxoe;
    if (size < kRawHeaderLength) return DropReason::TooShort;
    const auto type = static_cast<PacketType>(get_u8(p + kPtypeOffset));
    const size_t header = header_length(type, mode);
    if (header == 0) return DropReason::UnknownType;
    if (size < header) return DropReason::TooShort;

    size_t payload = 0;
    Parsed parsed = DropReason::UnknownType;
    switch (type) {
    case PacketType::Tiny: parsed = parse_tiny_small(p, kTinyMax, payload); break;
    case PacketType::Small: parsed = parse_tiny_small(p, kSmallMax, payload); break;
    case PacketType::Medium: parsed = parse_medium(p, mode, limits, payload); break;
    case PacketType::Rndv: parsed = parse_rndv(p); break;
    case PacketType::Pull: parsed = parse_pull(p, mode, limits); break;
    case PacketType::PullReply: parsed = parse_pull_reply(p, limits, payload); break;
    case PacketType::Notify: parsed = parse_notify(p); break;
    case PacketType::Connect: parsed = parse_connect(p); break;
    case PacketType::Truc: parsed = parse_truc(p); break;
    case PacketType::NackLib: parsed = parse_nack_lib(p); break;
    case PacketType::NackMcp: parsed = parse_nack_mcp(p); break;
    case PacketType::HostQuery:
    case PacketType::HostReply: parsed = parse_host(p, type, payload); break;
    case PacketType::RmaRequest: parsed = parse_rma_request(p, payload); break;
    case PacketType::RmaReply: parsed = parse_rma_reply(p, payload); break;
    case PacketType::KeyPull: parsed = parse_key_pull(p, limits); break;
    case PacketType::Raw:
        // The application owns the rest of the frame, padding included.
        if (size > kRawFrameMax) return DropReason::BadLength;
        parsed = Raw{};
        payload = size - header;
        break;
    }
    if (auto* reason = std::get_if<DropReason>(&parsed)) return *reason;

    // header ≤ 72 and payload < 64 Ki: no overflow.
    const size_t used = header + payload;
    if (size < used) return DropReason::Truncated;
    if (size > ethernet_frame_length(used)) return DropReason::TrailingBytes;

    Frame out;
    out.head.dst_mac = get_mac(p + 0);
    out.head.src_mac = get_mac(p + 6);
    out.head.dst_src_peer_index = get_be16(p + 14);
    out.type = type;
    out.body = *std::get_if<Body>(&parsed);
    out.payload = frame.subspan(header, payload);

    if (type == PacketType::HostReply) {
        // One C string exactly: the NUL last and nowhere before.
        const auto name = out.payload;
        if (name.back() != 0 || std::memchr(name.data(), 0, name.size() - 1) != nullptr) {
            return DropReason::BadHostname;
        }
    }
    return out;
}

}  // namespace xen2mx::wire
