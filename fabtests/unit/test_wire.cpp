// The MXoE codec: golden frames written byte by byte from the protocol's
// layout tables, round trips, malformed frames, truncation and fuzzing.
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "wire/bytes.hpp"
#include "wire/mxoe.hpp"
#include "wire/mxoe_codec.hpp"

namespace xen2mx {
namespace {

using Bytes = std::vector<uint8_t>;
using wire::DropReason;
using wire::PacketType;
using wire::WireMode;

// ------------------------------------------------------------------ helpers

// Offsets 0..15 of every golden frame but RAW's.
constexpr std::array<uint8_t, 16> kHeadBytes = {
    0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,  //  0 dst MAC 0a:0b:0c:0d:0e:0f
    0x02, 0x1b, 0x21, 0x33, 0x44, 0x55,  //  6 src MAC 02:1b:21:33:44:55
    0x86, 0xdf,                          // 12 ethertype
    0x01, 0x02,                          // 14 dst_src_peer_index
};

wire::Head golden_head() {
    wire::Head h;
    h.dst_mac = 0x0a0b0c0d0e0full;
    h.src_mac = 0x021b21334455ull;
    h.dst_src_peer_index = 0x0102;
    return h;
}

// kHeadBytes, then the bytes from offset 16 on, then the payload, then zeros
// up to the Ethernet minimum.
Bytes on_wire(std::initializer_list<uint8_t> from16, const Bytes& payload = {}) {
    Bytes b;
    b.reserve(kHeadBytes.size() + from16.size() + payload.size() + 60);
    for (uint8_t byte : kHeadBytes) b.push_back(byte);
    for (uint8_t byte : from16) b.push_back(byte);
    for (uint8_t byte : payload) b.push_back(byte);
    if (b.size() < 60) b.resize(60, 0);
    return b;
}

Bytes pattern(size_t n, uint8_t seed) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
    return b;
}

Bytes text(const char* s, bool with_nul) {
    Bytes b(s, s + std::char_traits<char>::length(s));
    if (with_nul) b.push_back(0);
    return b;
}

void set8(Bytes& b, size_t off, uint8_t v) { b.at(off) = v; }
void set16(Bytes& b, size_t off, uint16_t v) {
    b.at(off) = static_cast<uint8_t>(v >> 8);
    b.at(off + 1) = static_cast<uint8_t>(v);
}
void set32(Bytes& b, size_t off, uint32_t v) {
    set16(b, off, static_cast<uint16_t>(v >> 16));
    set16(b, off + 2, static_cast<uint16_t>(v));
}

wire::WireLimits limits_for(WireMode mode) {
    return mode == WireMode::MxCompat ? wire::WireLimits::mx_compat() : *wire::WireLimits::open_mx(9000);
}

// Decodes from a heap copy of exactly the frame's bytes, so that the
// sanitizers see any read past its end.
struct Decoded {
    Bytes storage;
    wire::DecodeResult result;
};
Decoded decode_copy(const Bytes& bytes, WireMode mode, const wire::WireLimits& limits) {
    Decoded d{bytes, DropReason::TooShort};
    d.result = wire::decode(d.storage, mode, limits);
    return d;
}

Bytes payload_of(const wire::Frame& f) { return Bytes(f.payload.begin(), f.payload.end()); }

// ------------------------------------------------------------------ golden frames

struct Golden {
    std::string name;
    WireMode mode;
    wire::Head head;
    PacketType type;
    wire::Body body;
    Bytes payload;
    Bytes frame;  // the whole frame as an Ethernet link carries it
};

std::vector<Golden> goldens() {
    std::vector<Golden> g;
    const wire::Head head = golden_head();

    {
        wire::MsgHeader m;
        m.dst_endpoint = 3;
        m.src_endpoint = 7;
        m.src_generation = 1;
        m.length = 5;
        m.lib_seqnum = 0x4001;
        m.lib_piggyack = 0x4000;
        m.match_info = 0x1122334455667788ull;
        m.session = 0xa1b2c3d4;
        const Bytes payload = text("hello", false);
        for (WireMode mode : {WireMode::OpenMx, WireMode::MxCompat}) {
            g.push_back({mode == WireMode::OpenMx ? "tiny" : "tiny_compat", mode, head, PacketType::Tiny, m, payload,
                         on_wire({
                                     0x25,                    // 16 ptype TINY
                                     0x03,                    // 17 dst_endpoint
                                     0x07,                    // 18 src_endpoint
                                     0x01,                    // 19 src_generation
                                     0x00, 0x05,              // 20 length
                                     0x00, 0x00,              // 22 checksum
                                     0x40, 0x01,              // 24 lib_seqnum
                                     0x40, 0x00,              // 26 lib_piggyack
                                     0x11, 0x22, 0x33, 0x44,  // 28 match_a
                                     0x55, 0x66, 0x77, 0x88,  // 32 match_b
                                     0xa1, 0xb2, 0xc3, 0xd4,  // 36 session
                                 },
                                 payload)});  // 40 "hello", zeros from 45 to 59
        }
    }
    {
        wire::MsgHeader m;
        m.dst_endpoint = 5;
        m.src_endpoint = 2;
        m.length = 40;
        m.checksum = 0xbeef;
        m.lib_seqnum = 0x002a;
        m.lib_piggyack = 0x0029;
        m.match_info = 0xfffffffe00000001ull;
        m.session = 1;
        const Bytes payload = pattern(40, 0x10);
        g.push_back({"small", WireMode::OpenMx, head, PacketType::Small, m, payload,
                     on_wire({
                                 0x26,                    // 16 ptype SMALL
                                 0x05,                    // 17 dst_endpoint
                                 0x02,                    // 18 src_endpoint
                                 0x00,                    // 19 src_generation
                                 0x00, 0x28,              // 20 length 40
                                 0xbe, 0xef,              // 22 checksum
                                 0x00, 0x2a,              // 24 lib_seqnum
                                 0x00, 0x29,              // 26 lib_piggyack
                                 0xff, 0xff, 0xff, 0xfe,  // 28 match_a
                                 0x00, 0x00, 0x00, 0x01,  // 32 match_b
                                 0x00, 0x00, 0x00, 0x01,  // 36 session
                             },
                             payload)});  // 40..79, no padding
    }
    {
        // Message of 20000 bytes in 8192-byte frags; this is the third and last.
        wire::MediumFrag f;
        f.dst_endpoint = 1;
        f.src_endpoint = 2;
        f.msg_length = 20000;
        f.lib_seqnum = 0x0010;
        f.lib_piggyack = 0x000f;
        f.match_info = 0x0000000100000002ull;
        f.session = 0xdeadbeef;
        f.frag_length = 3616;
        f.frag_seqnum = 2;
        const Bytes payload = pattern(3616, 0x33);
        g.push_back({"medium", WireMode::OpenMx, head, PacketType::Medium, f, payload,
                     on_wire({
                                 0x27,                    // 16 ptype MEDIUM
                                 0x01,                    // 17 dst_endpoint
                                 0x02,                    // 18 src_endpoint
                                 0x00,                    // 19 src_generation
                                 0x00, 0x00, 0x4e, 0x20,  // 20 msg length 20000 (u32)
                                 0x00, 0x10,              // 24 lib_seqnum
                                 0x00, 0x0f,              // 26 lib_piggyack
                                 0x00, 0x00, 0x00, 0x01,  // 28 match_a
                                 0x00, 0x00, 0x00, 0x02,  // 32 match_b
                                 0xde, 0xad, 0xbe, 0xef,  // 36 session
                                 0x0e, 0x20,              // 40 frag_length 3616
                                 0x02,                    // 42 frag_seqnum
                                 0x00,                    // 43 pad
                                 0x00, 0x00,              // 44 checksum
                                 0x00, 0x00,              // 46 pad
                             },
                             payload)});
    }
    {
        // Message of 10000 bytes in 4096-byte frags; the third and last.
        wire::MediumFrag f;
        f.dst_endpoint = 1;
        f.src_endpoint = 2;
        f.msg_length = 10000;
        f.lib_seqnum = 0x0010;
        f.lib_piggyack = 0x000f;
        f.match_info = 0x0000000100000002ull;
        f.session = 0xdeadbeef;
        f.frag_length = 1808;
        f.frag_seqnum = 2;
        f.frag_pipeline = 12;
        f.checksum = 0x1234;
        const Bytes payload = pattern(1808, 0x44);
        g.push_back({"medium_compat", WireMode::MxCompat, head, PacketType::Medium, f, payload,
                     on_wire({
                                 0x27,                    // 16 ptype MEDIUM
                                 0x01,                    // 17 dst_endpoint
                                 0x02,                    // 18 src_endpoint
                                 0x00,                    // 19 src_generation
                                 0x27, 0x10,              // 20 msg length 10000 (u16)
                                 0x00, 0x00,              // 22 pad
                                 0x00, 0x10,              // 24 lib_seqnum
                                 0x00, 0x0f,              // 26 lib_piggyack
                                 0x00, 0x00, 0x00, 0x01,  // 28 match_a
                                 0x00, 0x00, 0x00, 0x02,  // 32 match_b
                                 0xde, 0xad, 0xbe, 0xef,  // 36 session
                                 0x07, 0x10,              // 40 frag_length 1808
                                 0x02,                    // 42 frag_seqnum
                                 0x0c,                    // 43 frag_pipeline
                                 0x12, 0x34,              // 44 checksum
                                 0x00, 0x00,              // 46 pad
                             },
                             payload)});
    }
    {
        wire::Rndv r;
        r.dst_endpoint = 4;
        r.src_endpoint = 5;
        r.lib_seqnum = 3;
        r.lib_piggyack = 2;
        r.match_info = 0x0123456789abcdefull;
        r.session = 0x01020304;
        r.msg_length = 1000000;
        r.pulled_rdma_id = 0x7f;
        r.pulled_rdma_seqnum = 5;
        for (WireMode mode : {WireMode::OpenMx, WireMode::MxCompat}) {
            g.push_back({mode == WireMode::OpenMx ? "rndv" : "rndv_compat", mode, head, PacketType::Rndv, r, {},
                         on_wire({
                             0x28,                    // 16 ptype RNDV
                             0x04,                    // 17 dst_endpoint
                             0x05,                    // 18 src_endpoint
                             0x00,                    // 19 src_generation
                             0x00, 0x08,              // 20 length (of the rndv data)
                             0x00, 0x00,              // 22 checksum
                             0x00, 0x03,              // 24 lib_seqnum
                             0x00, 0x02,              // 26 lib_piggyack
                             0x01, 0x23, 0x45, 0x67,  // 28 match_a
                             0x89, 0xab, 0xcd, 0xef,  // 32 match_b
                             0x01, 0x02, 0x03, 0x04,  // 36 session
                             0x00, 0x0f, 0x42, 0x40,  // 40 msg_length 1000000
                             0x7f,                    // 44 pulled_rdma_id
                             0x05,                    // 45 pulled_rdma_seqnum
                             0x00, 0x00,              // 46 pulled_rdma_offset
                         })});  // zeros from 48 to 59
        }
    }
    {
        // The second block of a 1000000-byte pull from offset 100 of the
        // region, at MTU 9000: 32 replies of 8968 bytes.
        wire::PullRequest r;
        r.dst_endpoint = 4;
        r.src_endpoint = 5;
        r.session = 0x01020304;
        r.total_length = 1000000;
        r.pulled_rdma_id = 0x7f;
        r.pulled_rdma_seqnum = 5;
        r.pulled_rdma_offset = 100;
        r.src_pull_handle = 0x00c00023;
        r.src_magic = 0x21071985;
        r.first_frame_offset = 0;
        r.block_length = 286976;
        r.frame_index = 32;
        g.push_back({"pull", WireMode::OpenMx, head, PacketType::Pull, r, {},
                     on_wire({
                         0x29,                    // 16 ptype PULL
                         0x04,                    // 17 dst_endpoint
                         0x05,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x01, 0x02, 0x03, 0x04,  // 20 session
                         0x00, 0x0f, 0x42, 0x40,  // 24 total_length
                         0x00, 0x00, 0x00, 0x7f,  // 28 pulled_rdma_id (u32)
                         0x05,                    // 32 pulled_rdma_seqnum
                         0x00, 0x00, 0x00,        // 33 pad
                         0x00, 0x00, 0x00, 0x64,  // 36 pulled_rdma_offset (u32)
                         0x00, 0xc0, 0x00, 0x23,  // 40 src_pull_handle
                         0x21, 0x07, 0x19, 0x85,  // 44 src_magic (endpoint 5)
                         0x00, 0x00, 0x00, 0x00,  // 48 first_frame_offset
                         0x00, 0x04, 0x61, 0x00,  // 52 block_length 286976
                         0x00, 0x00, 0x00, 0x20,  // 56 frame_index
                     })});  // exactly 60
    }
    {
        // The first block of a 50000-byte pull from offset 100: 8 replies of
        // 4096 bytes, the first one starting 100 bytes in.
        wire::PullRequest r;
        r.dst_endpoint = 4;
        r.src_endpoint = 5;
        r.session = 0x01020304;
        r.total_length = 50000;
        r.pulled_rdma_id = 0x7f;
        r.pulled_rdma_seqnum = 5;
        r.pulled_rdma_offset = 100;
        r.src_pull_handle = 0x00c00023;
        r.src_magic = 0x21071985;
        r.first_frame_offset = 100;
        r.block_length = 32668;
        r.frame_index = 0;
        g.push_back({"pull_compat", WireMode::MxCompat, head, PacketType::Pull, r, {},
                     on_wire({
                         0x29,                    // 16 ptype PULL
                         0x04,                    // 17 dst_endpoint
                         0x05,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x01, 0x02, 0x03, 0x04,  // 20 session
                         0x00, 0x00, 0xc3, 0x50,  // 24 total_length 50000
                         0x7f,                    // 28 pulled_rdma_id (u8)
                         0x05,                    // 29 pulled_rdma_seqnum
                         0x00, 0x64,              // 30 pulled_rdma_offset (u16)
                         0x00, 0xc0, 0x00, 0x23,  // 32 src_pull_handle
                         0x21, 0x07, 0x19, 0x85,  // 36 src_magic
                         0x00, 0x64,              // 40 first_frame_offset (u16)
                         0x7f, 0x9c,              // 42 block_length 32668 (u16)
                         0x00, 0x00, 0x00, 0x00,  // 44 frame_index
                     })});  // zeros from 48 to 59
    }
    {
        wire::PullReply r;
        r.frame_seqnum = 0x21;
        r.frame_length = 3;
        r.msg_offset = 0x00012345;
        r.dst_pull_handle = 0x00c00023;
        r.dst_magic = 0x21071985;
        const Bytes payload = text("abc", false);
        for (WireMode mode : {WireMode::OpenMx, WireMode::MxCompat}) {
            g.push_back({mode == WireMode::OpenMx ? "pull_reply" : "pull_reply_compat", mode, head,
                         PacketType::PullReply, r, payload,
                         on_wire({
                                     0x2a,                    // 16 ptype PULL_REPLY
                                     0x21,                    // 17 frame_seqnum
                                     0x00, 0x03,              // 18 frame_length
                                     0x00, 0x01, 0x23, 0x45,  // 20 msg_offset
                                     0x00, 0xc0, 0x00, 0x23,  // 24 dst_pull_handle
                                     0x21, 0x07, 0x19, 0x85,  // 28 dst_magic
                                 },
                                 payload)});  // 32 "abc", zeros from 35 to 59
        }
    }
    {
        wire::Notify n;
        n.dst_endpoint = 5;
        n.src_endpoint = 4;
        n.session = 0x0a0b0c0d;
        n.total_length = 999999;
        n.pulled_rdma_id = 0x7f;
        n.pulled_rdma_seqnum = 5;
        n.lib_seqnum = 0x4005;
        n.lib_piggyack = 0x4004;
        g.push_back({"notify", WireMode::OpenMx, head, PacketType::Notify, n, {},
                     on_wire({
                         0x2b,                    // 16 ptype NOTIFY
                         0x05,                    // 17 dst_endpoint
                         0x04,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x0a, 0x0b, 0x0c, 0x0d,  // 20 session
                         0x00, 0x0f, 0x42, 0x3f,  // 24 total_length 999999
                         0x7f,                    // 28 pulled_rdma_id
                         0x05,                    // 29 pulled_rdma_seqnum
                         0x00, 0x00, 0x00, 0x00,  // 30 pad
                         0x40, 0x05,              // 34 lib_seqnum
                         0x40, 0x04,              // 36 lib_piggyack
                         0x00, 0x00,              // 38 pad
                     })});
    }
    {
        // xen2mx's RMA extension: a write with its data inline and CQ data.
        wire::RmaRequest r;
        r.dst_endpoint = 5;
        r.src_endpoint = 4;
        r.op = wire::RmaOp::Write;
        r.flags = wire::kRmaCqData;
        r.lib_seqnum = 0x4006;
        r.lib_piggyack = 0x4003;
        r.session = 0x0a0b0c0d;
        r.handle = 0x00070001;
        r.length = 3;
        r.key = 0x1122334455667788ull;
        r.addr = 0x00007f0012345000ull;
        r.cq_data = 0xcafef00d;
        r.payload_length = 3;
        const Bytes payload = {0xaa, 0xbb, 0xcc};
        g.push_back({"rma_request", WireMode::OpenMx, head, PacketType::RmaRequest, r, payload,
                     on_wire(
                         {
                             0x30,                                            // 16 ptype RMA_REQUEST
                             0x05,                                            // 17 dst_endpoint
                             0x04,                                            // 18 src_endpoint
                             0x01,                                            // 19 op write
                             0x01,                                            // 20 flags: CQ data
                             0x00,                                            // 21 datatype
                             0x00,                                            // 22 atomic_op
                             0x00,                                            // 23 pulled_rdma_id
                             0x40, 0x06,                                      // 24 lib_seqnum
                             0x40, 0x03,                                      // 26 lib_piggyack
                             0x0a, 0x0b, 0x0c, 0x0d,                          // 28 session
                             0x00, 0x07, 0x00, 0x01,                          // 32 handle
                             0x00, 0x00, 0x00, 0x03,                          // 36 length
                             0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // 40 key
                             0x00, 0x00, 0x7f, 0x00, 0x12, 0x34, 0x50, 0x00,  // 48 addr
                             0x00, 0x00, 0x00, 0x00, 0xca, 0xfe, 0xf0, 0x0d,  // 56 cq_data
                             0x00, 0x03,                                      // 64 payload_length
                             0x00,                                            // 66 pulled_rdma_seqnum
                             0x00, 0x00, 0x00, 0x00, 0x00,                    // 67 pad
                         },
                         payload)});
    }
    {
        // The answer to a large read: a region of the target to pull.
        wire::RmaReply r;
        r.dst_endpoint = 4;
        r.src_endpoint = 5;
        r.status = wire::RmaStatus::Ok;
        r.flags = wire::kRmaPulled;
        r.lib_seqnum = 0x4002;
        r.lib_piggyack = 0x4007;
        r.session = 0x01020304;
        r.handle = 0x00070001;
        r.length = 1048576;
        r.pulled_rdma_id = 0x21;
        r.pulled_rdma_seqnum = 0x09;
        g.push_back({"rma_reply", WireMode::OpenMx, head, PacketType::RmaReply, r, {},
                     on_wire({
                         0x31,                    // 16 ptype RMA_REPLY
                         0x04,                    // 17 dst_endpoint
                         0x05,                    // 18 src_endpoint
                         0x00,                    // 19 status ok
                         0x02,                    // 20 flags: pulled
                         0x00,                    // 21 pad
                         0x40, 0x02,              // 22 lib_seqnum
                         0x40, 0x07,              // 24 lib_piggyack
                         0x00, 0x00,              // 26 pad
                         0x01, 0x02, 0x03, 0x04,  // 28 session
                         0x00, 0x07, 0x00, 0x01,  // 32 handle
                         0x00, 0x10, 0x00, 0x00,  // 36 length 1 MiB
                         0x00, 0x00,              // 40 payload_length
                         0x21,                    // 42 pulled_rdma_id
                         0x09,                    // 43 pulled_rdma_seqnum
                         0x00, 0x00, 0x00, 0x00,  // 44 pad
                     })});
    }
    {
        // A read's second block: 2 KiB from 8 KiB on, in 1 KiB replies.
        wire::KeyPull r;
        r.dst_endpoint = 5;
        r.src_endpoint = 4;
        r.src_generation = 1;
        r.session = 0x0a0b0c0d;
        r.total_length = 16384;
        r.key = 0x1122334455667788;
        r.addr = 0x00007f0012345000;
        r.src_magic = 0x21071984;
        r.src_pull_handle = 0x00400003;
        r.block_length = 2048;
        r.frame_index = 8;
        r.reply_max = 1024;
        r.reply_peer_index = 0x0102;
        g.push_back({"key_pull", WireMode::OpenMx, head, PacketType::KeyPull, r, {},
                     on_wire({
                         0x32,                                            // 16 ptype KEY_PULL
                         0x05,                                            // 17 dst_endpoint
                         0x04,                                            // 18 src_endpoint
                         0x01,                                            // 19 src_generation
                         0x0a, 0x0b, 0x0c, 0x0d,                          // 20 session
                         0x00, 0x00, 0x40, 0x00,                          // 24 total_length
                         0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // 28 key
                         0x00, 0x00, 0x7f, 0x00, 0x12, 0x34, 0x50, 0x00,  // 36 addr
                         0x21, 0x07, 0x19, 0x84,                          // 44 src_magic
                         0x00, 0x40, 0x00, 0x03,                          // 48 src_pull_handle
                         0x00, 0x00, 0x08, 0x00,                          // 52 block_length
                         0x00, 0x00, 0x00, 0x08,                          // 56 frame_index
                         0x04, 0x00,                                      // 60 reply_max
                         0x01, 0x02,                                      // 62 reply_peer_index
                     })});
    }
    {
        wire::Connect c;
        c.dst_endpoint = 3;
        c.src_endpoint = 7;
        c.src_dst_peer_index = 9;
        c.src_session_id = 0x5eed0001;
        c.app_key = 0x00c0ffee;
        c.target_recv_seqnum_start = 1;
        c.connect_seqnum = 2;
        g.push_back({"connect_request", WireMode::OpenMx, head, PacketType::Connect, c, {},
                     on_wire({
                         0x24,                    // 16 ptype CONNECT
                         0x03,                    // 17 dst_endpoint
                         0x07,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x10,                    // 20 length 16
                         0x00, 0x00, 0x00,        // 21 pad
                         0x00, 0x00,              // 24 lib_seqnum
                         0x00, 0x09,              // 26 src_dst_peer_index
                         0x00, 0x00, 0x00, 0x00,  // 28 pad
                         0x5e, 0xed, 0x00, 0x01,  // 32 src_session_id
                         0x00, 0xc0, 0xff, 0xee,  // 36 app_key
                         0x00, 0x01,              // 40 target_recv_seqnum_start
                         0x00,                    // 42 is_reply
                         0x02,                    // 43 connect_seqnum
                         0x00,                    // 44 pad
                         0x00, 0x00, 0x00,        // 45 pad
                     })});
    }
    {
        wire::Connect c;
        c.dst_endpoint = 7;
        c.src_endpoint = 3;
        c.src_dst_peer_index = 4;
        c.src_session_id = 0x5eed0001;
        c.target_session_id = 0x7a7a0002;
        c.target_recv_seqnum_start = 1;
        c.is_reply = true;
        c.connect_seqnum = 2;
        c.status = static_cast<uint8_t>(wire::ConnectStatus::BadKey);
        g.push_back({"connect_reply", WireMode::OpenMx, head, PacketType::Connect, c, {},
                     on_wire({
                         0x24,                    // 16 ptype CONNECT
                         0x07,                    // 17 dst_endpoint
                         0x03,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x10,                    // 20 length 16
                         0x00, 0x00, 0x00,        // 21 pad
                         0x00, 0x00,              // 24 lib_seqnum
                         0x00, 0x04,              // 26 src_dst_peer_index
                         0x00, 0x00, 0x00, 0x00,  // 28 pad
                         0x5e, 0xed, 0x00, 0x01,  // 32 src_session_id (echo)
                         0x7a, 0x7a, 0x00, 0x02,  // 36 target_session_id
                         0x00, 0x01,              // 40 target_recv_seqnum_start
                         0x01,                    // 42 is_reply
                         0x02,                    // 43 connect_seqnum
                         0x0b,                    // 44 connect_status_code BAD_KEY
                         0x00, 0x00, 0x00,        // 45 pad
                     })});
    }
    {
        // xen2mx's frame size, behind its magic, in bytes MX leaves unused.
        wire::Connect c;
        c.dst_endpoint = 3;
        c.src_endpoint = 7;
        c.src_dst_peer_index = 9;
        c.src_session_id = 0x5eed0001;
        c.app_key = 0x00c0ffee;
        c.target_recv_seqnum_start = 1;
        c.connect_seqnum = 2;
        c.max_frame = 1514;
        g.push_back({"connect_request_frame", WireMode::OpenMx, head, PacketType::Connect, c, {},
                     on_wire({
                         0x24,                    // 16 ptype CONNECT
                         0x03,                    // 17 dst_endpoint
                         0x07,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x10,                    // 20 length 16
                         0x00,                    // 21 pad
                         0x05, 0xea,              // 22 max_frame 1514
                         0x00, 0x00,              // 24 lib_seqnum
                         0x00, 0x09,              // 26 src_dst_peer_index
                         0x58, 0x32, 0x4d, 0x46,  // 28 frame magic "X2MF"
                         0x5e, 0xed, 0x00, 0x01,  // 32 src_session_id
                         0x00, 0xc0, 0xff, 0xee,  // 36 app_key
                         0x00, 0x01,              // 40 target_recv_seqnum_start
                         0x00,                    // 42 is_reply
                         0x02,                    // 43 connect_seqnum
                         0x00,                    // 44 pad
                         0x00, 0x00, 0x00,        // 45 pad
                     })});
    }
    {
        wire::Connect c;
        c.dst_endpoint = 7;
        c.src_endpoint = 3;
        c.src_dst_peer_index = 4;
        c.src_session_id = 0x5eed0001;
        c.target_session_id = 0x7a7a0002;
        c.target_recv_seqnum_start = 1;
        c.is_reply = true;
        c.connect_seqnum = 2;
        c.max_frame = 65000;
        g.push_back({"connect_reply_frame", WireMode::OpenMx, head, PacketType::Connect, c, {},
                     on_wire({
                         0x24,                    // 16 ptype CONNECT
                         0x07,                    // 17 dst_endpoint
                         0x03,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x10,                    // 20 length 16
                         0x00,                    // 21 pad
                         0xfd, 0xe8,              // 22 max_frame 65000
                         0x00, 0x00,              // 24 lib_seqnum
                         0x00, 0x04,              // 26 src_dst_peer_index
                         0x58, 0x32, 0x4d, 0x46,  // 28 frame magic "X2MF"
                         0x5e, 0xed, 0x00, 0x01,  // 32 src_session_id (echo)
                         0x7a, 0x7a, 0x00, 0x02,  // 36 target_session_id
                         0x00, 0x01,              // 40 target_recv_seqnum_start
                         0x01,                    // 42 is_reply
                         0x02,                    // 43 connect_seqnum
                         0x00,                    // 44 connect_status_code ok
                         0x00, 0x00, 0x00,        // 45 pad
                     })});
    }
    {
        wire::Truc t;
        t.dst_endpoint = 3;
        t.src_endpoint = 7;
        t.session = 0xa1b2c3d4;
        t.lib_seqnum = 0x4007;
        t.acknum = 9;
        t.send_seq = 0x4007;
        g.push_back({"truc", WireMode::OpenMx, head, PacketType::Truc, t, {},
                     on_wire({
                         0x23,                    // 16 ptype TRUC
                         0x03,                    // 17 dst_endpoint
                         0x07,                    // 18 src_endpoint
                         0x00,                    // 19 src_generation
                         0x10,                    // 20 length 16
                         0x00, 0x00, 0x00,        // 21 pad
                         0xa1, 0xb2, 0xc3, 0xd4,  // 24 session
                         0x55,                    // 28 type ACK
                         0x00,                    // 29 pad
                         0x40, 0x07,              // 30 lib_seqnum
                         0xa1, 0xb2, 0xc3, 0xd4,  // 32 session_id
                         0x00, 0x00, 0x00, 0x09,  // 36 acknum
                         0x40, 0x07,              // 40 send_seq
                         0x00,                    // 42 resent
                         0x00,                    // 43 pad
                     })});
    }
    {
        wire::NackLib n;
        n.src_endpoint = 3;
        n.nack_type = wire::NackType::BadSession;
        n.dst_endpoint = 7;
        n.dst_src_peer_index = 0x0102;
        n.lib_seqnum = 0x4001;
        g.push_back({"nack_lib", WireMode::OpenMx, head, PacketType::NackLib, n, {},
                     on_wire({
                         0x2c,                          // 16 ptype NACK_LIB
                         0x03,                          // 17 src_endpoint
                         0x00,                          // 18 src_generation
                         0x03,                          // 19 nack_type BAD_SESSION
                         0x00, 0x00, 0x00, 0x00, 0x00,  // 20 pad
                         0x07,                          // 25 dst_endpoint
                         0x01, 0x02,                    // 26 dst_src_peer_index
                         0x40, 0x01,                    // 28 lib_seqnum
                         0x00, 0x00,                    // 30 pad
                     })});
    }
    {
        wire::NackMcp n;
        n.src_endpoint = 4;
        n.nack_type = wire::NackType::BadRdmaWindow;
        n.src_pull_handle = 0x00c00023;
        n.src_magic = 0x21071985;
        g.push_back({"nack_mcp", WireMode::OpenMx, head, PacketType::NackMcp, n, {},
                     on_wire({
                         0x2d,                    // 16 ptype NACK_MCP
                         0x04,                    // 17 src_endpoint
                         0x00,                    // 18 src_generation
                         0x04,                    // 19 nack_type BAD_RDMAWIN
                         0x00, 0x00, 0x00, 0x00,  // 20 pad
                         0x00, 0xc0, 0x00, 0x23,  // 24 src_pull_handle
                         0x21, 0x07, 0x19, 0x85,  // 28 src_magic
                     })});
    }
    {
        g.push_back({"host_query", WireMode::OpenMx, head, PacketType::HostQuery, wire::HostQuery{42}, {},
                     on_wire({
                         0x03,                    // 16 ptype HOST_QUERY
                         0x00,                    // 17 pad
                         0x00, 0x2a,              // 18 src_dst_peer_index
                         0x00, 0x00, 0x00, 0x00,  // 20 pad
                         0x13, 0x05, 0x20, 0x08,  // 24 magic
                         0x00, 0x00, 0x00, 0x00,  // 28 pad
                     })});
    }
    {
        const Bytes name = text("node1:0", true);
        g.push_back({"host_reply", WireMode::OpenMx, head, PacketType::HostReply, wire::HostReply{42, 8}, name,
                     on_wire(
                         {
                             0x04,                    // 16 ptype HOST_REPLY
                             0x08,                    // 17 hostname length, NUL included
                             0x00, 0x2a,              // 18 src_dst_peer_index
                             0x00, 0x00, 0x00, 0x00,  // 20 pad
                             0x13, 0x05, 0x20, 0x08,  // 24 magic
                             0x00, 0x00, 0x00, 0x00,  // 28 pad
                         },
                         name)});  // 32 "node1:0\0", zeros from 40 to 59
    }
    {
        // An omxoed discovery frame: broadcast, 64 bytes, all of it past the
        // type byte belonging to the application.
        wire::Head raw_head;
        raw_head.dst_mac = 0xffffffffffffull;
        raw_head.src_mac = 0x021b21334455ull;
        raw_head.dst_src_peer_index = 7;
        Bytes frame = {
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  //  0 dst MAC broadcast
            0x02, 0x1b, 0x21, 0x33, 0x44, 0x55,  //  6 src MAC
            0x86, 0xdf,                          // 12 ethertype
            0x00, 0x07,                          // 14 sender peer index
            0x01,                                // 16 ptype RAW
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // 17 pad
            0x00, 0x00, 0x02, 0x1b,                    // 32 nic_id_hi
            0x21, 0x33, 0x44, 0x55,                    // 36 nic_id_lo
            0x00, 0x00, 0x00, 0x2a,                    // 40 serial
        };
        frame.resize(64, 0);
        const Bytes payload(frame.begin() + 17, frame.end());
        for (WireMode mode : {WireMode::OpenMx, WireMode::MxCompat}) {
            g.push_back({mode == WireMode::OpenMx ? "raw" : "raw_compat", mode, raw_head, PacketType::Raw, wire::Raw{},
                         payload, frame});
        }
    }
    return g;
}

// Header + payload: what the frame says it carries.
size_t used_length(const Golden& g) { return wire::header_length(g.type, g.mode) + g.payload.size(); }

wire::Frame frame_of(const Golden& g) {
    wire::Frame f;
    f.head = g.head;
    f.type = g.type;
    f.body = g.body;
    f.payload = g.payload;
    return f;
}

const Golden& golden_named(const std::vector<Golden>& all, const std::string& name) {
    for (const Golden& g : all) {
        if (g.name == name) return g;
    }
    ADD_FAILURE() << "no golden " << name;
    return all.front();
}

// ------------------------------------------------------------------ limits and layout

TEST(WireLimits, OpenMxFromMtu) {
    const auto jumbo = wire::WireLimits::open_mx(9000);
    ASSERT_TRUE(jumbo);
    EXPECT_EQ(jumbo->medium_frag_max, 8192u);
    EXPECT_EQ(jumbo->medium_frags_max, 32u);
    EXPECT_EQ(jumbo->pull_reply_max, 8968u);
    EXPECT_EQ(jumbo->replies_per_block, 32u);
    EXPECT_EQ(jumbo->pull_block_max(), 286976u);
    EXPECT_EQ(jumbo->medium_msg_max(), 262144u);

    const auto standard = wire::WireLimits::open_mx(1500);
    ASSERT_TRUE(standard);
    EXPECT_EQ(standard->medium_frag_max, 1452u);
    EXPECT_EQ(standard->pull_reply_max, 1468u);
    EXPECT_EQ(standard->pull_block_max(), 46976u);

    // Between 4144 and 8240 the frag no longer grows with the MTU.
    EXPECT_EQ(wire::WireLimits::open_mx(4144)->medium_frag_max, 4096u);
    EXPECT_EQ(wire::WireLimits::open_mx(4145)->medium_frag_max, 4096u);
    EXPECT_EQ(wire::WireLimits::open_mx(8239)->medium_frag_max, 4096u);
    EXPECT_EQ(wire::WireLimits::open_mx(8240)->medium_frag_max, 8192u);

    EXPECT_FALSE(wire::WireLimits::open_mx(167));
    EXPECT_TRUE(wire::WireLimits::open_mx(168));
    EXPECT_TRUE(wire::WireLimits::open_mx(65567));
    EXPECT_FALSE(wire::WireLimits::open_mx(65568));
}

TEST(WireLimits, MxCompat) {
    const auto compat = wire::WireLimits::mx_compat();
    EXPECT_EQ(compat.medium_frag_max, 4096u);
    EXPECT_EQ(compat.medium_frags_max, 8u);
    EXPECT_EQ(compat.pull_reply_max, 4096u);
    EXPECT_EQ(compat.replies_per_block, 8u);
    EXPECT_EQ(compat.pull_block_max(), 32768u);
    EXPECT_EQ(compat.medium_msg_max(), 32768u);
}

TEST(WireLayout, Constants) {
    EXPECT_EQ(wire::kEthertype, 0x86DF);
    EXPECT_EQ(wire::kEthZlen, 60u);
    EXPECT_EQ(static_cast<int>(PacketType::Raw), 1);
    EXPECT_EQ(static_cast<int>(PacketType::HostQuery), 3);
    EXPECT_EQ(static_cast<int>(PacketType::HostReply), 4);
    EXPECT_EQ(static_cast<int>(PacketType::Truc), 35);
    EXPECT_EQ(static_cast<int>(PacketType::Connect), 36);
    EXPECT_EQ(static_cast<int>(PacketType::Tiny), 37);
    EXPECT_EQ(static_cast<int>(PacketType::Small), 38);
    EXPECT_EQ(static_cast<int>(PacketType::Medium), 39);
    EXPECT_EQ(static_cast<int>(PacketType::Rndv), 40);
    EXPECT_EQ(static_cast<int>(PacketType::Pull), 41);
    EXPECT_EQ(static_cast<int>(PacketType::PullReply), 42);
    EXPECT_EQ(static_cast<int>(PacketType::Notify), 43);
    EXPECT_EQ(static_cast<int>(PacketType::NackLib), 44);
    EXPECT_EQ(static_cast<int>(PacketType::NackMcp), 45);
    EXPECT_EQ(static_cast<int>(wire::NackType::BadRdmaWindow), 4);
    EXPECT_EQ(static_cast<int>(wire::ConnectStatus::BadKey), 11);
}

TEST(WireLayout, HeaderLengths) {
    struct Row {
        PacketType type;
        size_t openmx, compat;
    };
    const Row rows[] = {
        {PacketType::Raw, 17, 17},       {PacketType::HostQuery, 32, 32}, {PacketType::HostReply, 32, 32},
        {PacketType::Truc, 44, 44},      {PacketType::Connect, 48, 48},   {PacketType::Tiny, 40, 40},
        {PacketType::Small, 40, 40},     {PacketType::Medium, 48, 48},    {PacketType::Rndv, 48, 48},
        {PacketType::Pull, 60, 48},      {PacketType::PullReply, 32, 32}, {PacketType::Notify, 40, 40},
        {PacketType::NackLib, 32, 32},   {PacketType::NackMcp, 32, 32},   {PacketType::KeyPull, 64, 0},
    };
    for (const Row& r : rows) {
        EXPECT_EQ(wire::header_length(r.type, WireMode::OpenMx), r.openmx) << int(r.type);
        EXPECT_EQ(wire::header_length(r.type, WireMode::MxCompat), r.compat) << int(r.type);
        EXPECT_LE(r.openmx, wire::kMaxHeaderLength);
    }
    for (int t : {0, 2, 5, 32, 33, 34, 46, 255}) {
        EXPECT_EQ(wire::header_length(static_cast<PacketType>(t), WireMode::OpenMx), 0u) << t;
    }
}

TEST(WireLayout, Padding) {
    EXPECT_EQ(wire::ethernet_frame_length(32), 60u);
    EXPECT_EQ(wire::ethernet_frame_length(60), 60u);
    EXPECT_EQ(wire::ethernet_frame_length(61), 61u);
    EXPECT_EQ(wire::ethernet_padding(45), 15u);
    EXPECT_EQ(wire::ethernet_padding(100), 0u);
    const auto zeros = wire::zero_padding(15);
    ASSERT_EQ(zeros.size(), 15u);
    for (uint8_t b : zeros) EXPECT_EQ(b, 0);
    EXPECT_EQ(wire::zero_padding(1000).size(), 60u);
}

TEST(WireLayout, PullMagic) {
    EXPECT_EQ(wire::pull_magic(5), 0x21071985u);
    EXPECT_EQ(wire::endpoint_of_pull_magic(0x21071985), 5);
    EXPECT_EQ(wire::endpoint_of_pull_magic(0x21071980 ^ 0xff), 0xff);
    EXPECT_FALSE(wire::endpoint_of_pull_magic(0x21071980 ^ 0x100));
}

TEST(WireLayout, DropReasonNames) {
    std::set<std::string> names;
    for (size_t i = 0; i < wire::kDropReasonCount; ++i) {
        names.insert(std::string(wire::drop_reason_name(static_cast<DropReason>(i))));
    }
    EXPECT_EQ(names.size(), wire::kDropReasonCount);
    EXPECT_EQ(names.count("unknown"), 0u);
}

// ------------------------------------------------------------------ golden both ways

TEST(WireGolden, EncodeGivesTheBytes) {
    for (const Golden& g : goldens()) {
        SCOPED_TRACE(g.name);
        std::array<uint8_t, wire::kMaxHeaderLength> out;
        out.fill(0xa5);  // pads must be written, not left alone
        const size_t n = wire::encode(frame_of(g), g.mode, out);
        ASSERT_EQ(n, wire::header_length(g.type, g.mode));
        EXPECT_EQ(Bytes(out.begin(), out.begin() + n), Bytes(g.frame.begin(), g.frame.begin() + n));
        // The payload and the padding complete the frame.
        const size_t used = n + g.payload.size();
        ASSERT_EQ(wire::ethernet_frame_length(used), g.frame.size());
        EXPECT_EQ(Bytes(g.frame.begin() + n, g.frame.begin() + used), g.payload);
        const auto pad = wire::zero_padding(wire::ethernet_padding(used));
        EXPECT_EQ(Bytes(g.frame.begin() + used, g.frame.end()), Bytes(pad.begin(), pad.end()));
    }
}

TEST(WireGolden, DecodeGivesTheFields) {
    for (const Golden& g : goldens()) {
        SCOPED_TRACE(g.name);
        const auto d = decode_copy(g.frame, g.mode, limits_for(g.mode));
        ASSERT_TRUE(d.result) << wire::drop_reason_name(d.result.reason());
        const wire::Frame& f = d.result.frame();
        EXPECT_EQ(f.head, g.head);
        EXPECT_EQ(f.type, g.type);
        EXPECT_TRUE(f.body == g.body);
        EXPECT_EQ(payload_of(f), g.payload);
        // The payload is a view of the received buffer, not a copy.
        if (!g.payload.empty()) {
            EXPECT_EQ(f.payload.data(), d.storage.data() + wire::header_length(g.type, g.mode));
        }
    }
}

TEST(WireGolden, TypedEncodersMatchGeneric) {
    for (const Golden& g : goldens()) {
        SCOPED_TRACE(g.name);
        std::array<uint8_t, wire::kMaxHeaderLength> out{};
        size_t n = 0;
        const wire::Head& h = g.head;
        switch (g.type) {
        case PacketType::Tiny: n = wire::encode_tiny(h, std::get<wire::MsgHeader>(g.body), out); break;
        case PacketType::Small: n = wire::encode_small(h, std::get<wire::MsgHeader>(g.body), out); break;
        case PacketType::Medium: n = wire::encode_medium(h, std::get<wire::MediumFrag>(g.body), g.mode, out); break;
        case PacketType::Rndv: n = wire::encode_rndv(h, std::get<wire::Rndv>(g.body), out); break;
        case PacketType::Pull:
            n = wire::encode_pull_request(h, std::get<wire::PullRequest>(g.body), g.mode, out);
            break;
        case PacketType::PullReply: n = wire::encode_pull_reply(h, std::get<wire::PullReply>(g.body), out); break;
        case PacketType::Notify: n = wire::encode_notify(h, std::get<wire::Notify>(g.body), out); break;
        case PacketType::Connect: n = wire::encode_connect(h, std::get<wire::Connect>(g.body), out); break;
        case PacketType::Truc: n = wire::encode_truc(h, std::get<wire::Truc>(g.body), out); break;
        case PacketType::NackLib: n = wire::encode_nack_lib(h, std::get<wire::NackLib>(g.body), out); break;
        case PacketType::NackMcp: n = wire::encode_nack_mcp(h, std::get<wire::NackMcp>(g.body), out); break;
        case PacketType::HostQuery: n = wire::encode_host_query(h, std::get<wire::HostQuery>(g.body), out); break;
        case PacketType::HostReply: n = wire::encode_host_reply(h, std::get<wire::HostReply>(g.body), out); break;
        case PacketType::Raw: n = wire::encode_raw(h, out); break;
        case PacketType::RmaRequest:
            n = wire::encode_rma_request(h, std::get<wire::RmaRequest>(g.body), g.mode, out);
            break;
        case PacketType::RmaReply: n = wire::encode_rma_reply(h, std::get<wire::RmaReply>(g.body), g.mode, out); break;
        case PacketType::KeyPull: n = wire::encode_key_pull(h, std::get<wire::KeyPull>(g.body), g.mode, out); break;
        }
        ASSERT_EQ(n, wire::header_length(g.type, g.mode));
        EXPECT_EQ(Bytes(out.begin(), out.begin() + n), Bytes(g.frame.begin(), g.frame.begin() + n));
    }
}

// ------------------------------------------------------------------ encoder limits

TEST(WireEncode, ShortBufferAndUnrepresentable) {
    const wire::Head head = golden_head();
    std::array<uint8_t, 39> short_out{};
    EXPECT_EQ(wire::encode_tiny(head, wire::MsgHeader{}, short_out), 0u);
    std::array<uint8_t, 40> exact{};
    EXPECT_EQ(wire::encode_tiny(head, wire::MsgHeader{}, exact), 40u);
    std::array<uint8_t, 47> rndv_short{};
    EXPECT_EQ(wire::encode_rndv(head, wire::Rndv{}, rndv_short), 0u);

    std::array<uint8_t, 60> out{};
    wire::MediumFrag f;
    f.msg_length = 0x10000;
    EXPECT_EQ(wire::encode_medium(head, f, WireMode::MxCompat, out), 0u);
    EXPECT_EQ(wire::encode_medium(head, f, WireMode::OpenMx, out), 48u);

    wire::PullRequest r;
    r.pulled_rdma_id = 256;
    EXPECT_EQ(wire::encode_pull_request(head, r, WireMode::MxCompat, out), 0u);
    EXPECT_EQ(wire::encode_pull_request(head, r, WireMode::OpenMx, out), 60u);
    r = {};
    r.block_length = 0x10000;
    EXPECT_EQ(wire::encode_pull_request(head, r, WireMode::MxCompat, out), 0u);
    r = {};
    r.first_frame_offset = 0x10000;
    EXPECT_EQ(wire::encode_pull_request(head, r, WireMode::MxCompat, out), 0u);
    r = {};
    r.pulled_rdma_offset = 0x10000;
    EXPECT_EQ(wire::encode_pull_request(head, r, WireMode::MxCompat, out), 0u);

    // A body that is not the type's.
    wire::Frame mismatched;
    mismatched.type = PacketType::Tiny;
    mismatched.body = wire::Notify{};
    EXPECT_EQ(wire::encode(mismatched, WireMode::OpenMx, out), 0u);
}

TEST(WireEncode, FieldsTheLayoutDoesNotCarryStayZero) {
    const auto all = goldens();
    std::array<uint8_t, 60> out{};

    // Open-MX has a pad where MX has the frag pipeline.
    const Golden& medium = golden_named(all, "medium");
    auto frag = std::get<wire::MediumFrag>(medium.body);
    frag.frag_pipeline = 13;
    ASSERT_EQ(wire::encode_medium(medium.head, frag, WireMode::OpenMx, out), 48u);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 48), Bytes(medium.frame.begin(), medium.frame.begin() + 48));

    // A request has no status, and only the word that its direction uses.
    const Golden& request = golden_named(all, "connect_request");
    auto c = std::get<wire::Connect>(request.body);
    c.status = 11;
    c.target_session_id = 0x99999999;
    ASSERT_EQ(wire::encode_connect(request.head, c, out), 48u);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 48), Bytes(request.frame.begin(), request.frame.begin() + 48));
    const Golden& reply = golden_named(all, "connect_reply");
    c = std::get<wire::Connect>(reply.body);
    c.app_key = 0x99999999;
    ASSERT_EQ(wire::encode_connect(reply.head, c, out), 48u);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 48), Bytes(reply.frame.begin(), reply.frame.begin() + 48));
}

// ------------------------------------------------------------------ round trips

// Encodes f, appends its payload and the padding, decodes, and expects f back.
void expect_round_trip(const wire::Frame& f, WireMode mode, const wire::WireLimits& limits) {
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    const size_t n = wire::encode(f, mode, header);
    ASSERT_EQ(n, wire::header_length(f.type, mode));
    Bytes frame(header.begin(), header.begin() + n);
    frame.insert(frame.end(), f.payload.begin(), f.payload.end());
    // Padding would lengthen a RAW payload, which has no length of its own.
    if (f.type != PacketType::Raw) frame.resize(wire::ethernet_frame_length(frame.size()), 0);
    const auto d = decode_copy(frame, mode, limits);
    ASSERT_TRUE(d.result) << wire::drop_reason_name(d.result.reason());
    const wire::Frame& back = d.result.frame();
    EXPECT_EQ(back.head, f.head);
    EXPECT_EQ(back.type, f.type);
    EXPECT_TRUE(back.body == f.body);
    EXPECT_EQ(payload_of(back), Bytes(f.payload.begin(), f.payload.end()));
}

TEST(WireRoundTrip, Edges) {
    const wire::Head head = golden_head();
    for (WireMode mode : {WireMode::OpenMx, WireMode::MxCompat}) {
        SCOPED_TRACE(mode == WireMode::OpenMx ? "openmx" : "compat");
        const wire::WireLimits limits = limits_for(mode);
        const Bytes big = pattern(70000, 1);

        for (uint32_t len : {0u, 1u, 20u, 32u}) {
            wire::MsgHeader m;
            m.length = static_cast<uint16_t>(len);
            m.match_info = ~uint64_t{0};
            m.session = 0xffffffff;
            expect_round_trip({head, PacketType::Tiny, m, std::span(big).first(len)}, mode, limits);
        }
        for (uint32_t len : {0u, 5u, 33u, 128u}) {
            wire::MsgHeader m;
            m.length = static_cast<uint16_t>(len);
            expect_round_trip({head, PacketType::Small, m, std::span(big).first(len)}, mode, limits);
        }
        // Every frag of messages whose last frag is full, short, or the only one.
        const uint32_t frag = limits.medium_frag_max;
        for (uint64_t msg : {uint64_t{0}, uint64_t{129}, uint64_t{frag}, uint64_t{frag} + 1, uint64_t{3} * frag - 5,
                             limits.medium_msg_max()}) {
            const uint64_t frags = msg == 0 ? 1 : (msg + frag - 1) / frag;
            for (uint64_t i = 0; i < frags; ++i) {
                wire::MediumFrag f;
                f.msg_length = static_cast<uint32_t>(msg);
                f.frag_seqnum = static_cast<uint8_t>(i);
                f.frag_length = static_cast<uint16_t>(std::min<uint64_t>(frag, msg - i * frag));
                if (mode == WireMode::MxCompat) f.frag_pipeline = 12;
                ASSERT_EQ(wire::medium_frag_offset(f, mode, limits), i * frag);
                expect_round_trip({head, PacketType::Medium, f, std::span(big).first(f.frag_length)}, mode, limits);
            }
        }
        {
            wire::Rndv r;
            r.msg_length = 0xffffffff;
            r.pulled_rdma_id = 0xff;
            r.pulled_rdma_seqnum = 0xff;
            r.pulled_rdma_offset = 0xffff;
            expect_round_trip({head, PacketType::Rndv, r, {}}, mode, limits);
        }
        {
            // Blocks of a pull from an unaligned offset, as a puller slices it.
            const uint32_t reply = limits.pull_reply_max;
            const uint64_t block = limits.pull_block_max();
            const uint32_t offset = 1000;
            const uint32_t total = static_cast<uint32_t>(3 * block + 17);
            uint64_t done = 0;
            for (uint32_t index = 0; done < total; index += limits.replies_per_block) {
                wire::PullRequest r;
                r.total_length = total;
                r.pulled_rdma_offset = offset;
                r.first_frame_offset = index == 0 ? offset % reply : 0;
                r.block_length = static_cast<uint32_t>(std::min<uint64_t>(block - r.first_frame_offset, total - done));
                r.frame_index = index;
                r.pulled_rdma_id = 200;
                r.src_magic = wire::pull_magic(9);
                ASSERT_EQ(wire::pull_block_offset(r, limits), done);
                expect_round_trip({head, PacketType::Pull, r, {}}, mode, limits);
                done += r.block_length;
            }
        }
        for (uint32_t len : {1u, limits.pull_reply_max}) {
            wire::PullReply r;
            r.frame_length = static_cast<uint16_t>(len);
            r.msg_offset = 0xffffffff - len + 1;
            expect_round_trip({head, PacketType::PullReply, r, std::span(big).first(len)}, mode, limits);
        }
        expect_round_trip({head, PacketType::Notify, wire::Notify{1, 2, 3, 4, 5, 6, 7, 8, 9}, {}}, mode, limits);
        {
            wire::Connect c;
            c.app_key = 0xffffffff;
            expect_round_trip({head, PacketType::Connect, c, {}}, mode, limits);
            c = {};
            c.is_reply = true;
            c.target_session_id = 0xffffffff;
            c.status = 0xff;
            expect_round_trip({head, PacketType::Connect, c, {}}, mode, limits);
            for (uint16_t frame : {1, 0xffff}) {
                c.max_frame = frame;
                expect_round_trip({head, PacketType::Connect, c, {}}, mode, limits);
            }
        }
        expect_round_trip({head, PacketType::Truc, wire::Truc{1, 2, 3, 0xffffffff, 5, 6, 7, 1}, {}}, mode, limits);
        for (auto type : {wire::NackType::BadEndpoint, wire::NackType::EndpointClosed, wire::NackType::BadSession,
                          wire::NackType::BadRdmaWindow}) {
            expect_round_trip({head, PacketType::NackLib, wire::NackLib{1, 2, type, 4, 5, 6}, {}}, mode, limits);
            expect_round_trip({head, PacketType::NackMcp, wire::NackMcp{1, 2, type, 4, 5}, {}}, mode, limits);
        }
        expect_round_trip({head, PacketType::HostQuery, wire::HostQuery{0xffff}, {}}, mode, limits);
        Bytes name = pattern(254, 1);
        for (auto& c : name) c = static_cast<uint8_t>('a' + c % 26);
        name.push_back(0);
        expect_round_trip({head, PacketType::HostReply, wire::HostReply{1, 255}, name}, mode, limits);
        const Bytes one = {0};
        expect_round_trip({head, PacketType::HostReply, wire::HostReply{1, 1}, one}, mode, limits);
        expect_round_trip({head, PacketType::Raw, wire::Raw{}, {}}, mode, limits);
    }
}

TEST(WireRoundTrip, RawUpToItsMaximum) {
    Bytes frame = pattern(wire::kRawFrameMax, 3);
    frame[12] = 0x86;
    frame[13] = 0xdf;
    frame[16] = 1;
    const auto d = decode_copy(frame, WireMode::OpenMx, limits_for(WireMode::OpenMx));
    ASSERT_TRUE(d.result);
    EXPECT_EQ(payload_of(d.result.frame()), Bytes(frame.begin() + 17, frame.end()));
    frame.push_back(0);
    EXPECT_EQ(decode_copy(frame, WireMode::OpenMx, limits_for(WireMode::OpenMx)).result.reason(),
              DropReason::BadLength);
}

// ------------------------------------------------------------------ malformed frames

struct Malformed {
    std::string what;
    std::string base;
    void (*mutate)(Bytes&);
    DropReason reason;
};

const Malformed kMalformed[] = {
    {"empty", "tiny", [](Bytes& b) { b.clear(); }, DropReason::TooShort},
    {"no ethertype", "tiny", [](Bytes& b) { b.resize(13); }, DropReason::TooShort},
    {"no type byte", "tiny", [](Bytes& b) { b.resize(16); }, DropReason::TooShort},
    {"tiny header cut", "tiny", [](Bytes& b) { b.resize(39); }, DropReason::TooShort},
    {"pull header cut", "pull", [](Bytes& b) { b.resize(59); }, DropReason::TooShort},
    {"compat pull header cut", "pull_compat", [](Bytes& b) { b.resize(47); }, DropReason::TooShort},
    {"ipv4", "tiny", [](Bytes& b) { set16(b, 12, 0x0800); }, DropReason::NotMxoe},
    {"ethertype byte swapped", "notify", [](Bytes& b) { set16(b, 12, 0xdf86); }, DropReason::NotMxoe},
    {"type 0", "notify", [](Bytes& b) { set8(b, 16, 0); }, DropReason::UnknownType},
    {"type 2", "notify", [](Bytes& b) { set8(b, 16, 2); }, DropReason::UnknownType},
    {"type 32", "notify", [](Bytes& b) { set8(b, 16, 32); }, DropReason::UnknownType},
    {"type 46", "notify", [](Bytes& b) { set8(b, 16, 46); }, DropReason::UnknownType},
    {"type 255", "notify", [](Bytes& b) { set8(b, 16, 255); }, DropReason::UnknownType},
    {"tiny length past the padding", "tiny", [](Bytes& b) { set16(b, 20, 21); }, DropReason::Truncated},
    {"small payload cut", "small", [](Bytes& b) { b.pop_back(); }, DropReason::Truncated},
    {"medium payload cut", "medium", [](Bytes& b) { b.pop_back(); }, DropReason::Truncated},
    {"pull reply length past frame", "pull_reply", [](Bytes& b) { set16(b, 18, 29); }, DropReason::Truncated},
    {"hostname past frame", "host_reply", [](Bytes& b) { set8(b, 17, 29); }, DropReason::Truncated},
    {"tiny beyond padding", "tiny", [](Bytes& b) { b.push_back(0); }, DropReason::TrailingBytes},
    {"small with a byte more", "small", [](Bytes& b) { b.push_back(0); }, DropReason::TrailingBytes},
    {"pull with a byte more", "pull", [](Bytes& b) { b.push_back(0); }, DropReason::TrailingBytes},
    {"tiny length 33", "tiny", [](Bytes& b) { set16(b, 20, 33); }, DropReason::BadLength},
    {"tiny length 0xffff", "tiny", [](Bytes& b) { set16(b, 20, 0xffff); }, DropReason::BadLength},
    {"small length 129", "small", [](Bytes& b) { set16(b, 20, 129); }, DropReason::BadLength},
    {"medium frag over max", "medium", [](Bytes& b) { set16(b, 40, 8193); }, DropReason::BadLength},
    {"compat frag over max", "medium_compat", [](Bytes& b) { set16(b, 40, 4097); }, DropReason::BadLength},
    {"rndv length 7", "rndv", [](Bytes& b) { set16(b, 20, 7); }, DropReason::BadLength},
    {"rndv length 0", "rndv", [](Bytes& b) { set16(b, 20, 0); }, DropReason::BadLength},
    {"pull reply length 0", "pull_reply", [](Bytes& b) { set16(b, 18, 0); }, DropReason::BadLength},
    {"compat pull reply over max", "pull_reply_compat", [](Bytes& b) { set16(b, 18, 4097); },
     DropReason::BadLength},
    {"pull block over max", "pull", [](Bytes& b) { set32(b, 52, 286977); }, DropReason::BadLength},
    {"compat pull block over max", "pull_compat", [](Bytes& b) { set16(b, 42, 32769); }, DropReason::BadLength},
    {"raw over 1024", "raw", [](Bytes& b) { b.resize(1025, 0); }, DropReason::BadLength},
    {"frag past the message", "medium", [](Bytes& b) { set8(b, 42, 3); }, DropReason::BadFragment},
    {"last frag too short", "medium", [](Bytes& b) { set16(b, 40, 3615); }, DropReason::BadFragment},
    {"inner frag not full", "medium", [](Bytes& b) { set8(b, 42, 1); }, DropReason::BadFragment},
    {"message over 32 frags", "medium", [](Bytes& b) { set32(b, 20, 32 * 8192 + 1); }, DropReason::BadFragment},
    {"33rd frag of a 32-frag maximum", "medium",
     [](Bytes& b) {
         set32(b, 20, 32 * 8192 + 1);
         set16(b, 40, 1);
         set8(b, 42, 32);
         b.resize(60);
     },
     DropReason::BadFragment},
    {"9th frag of an 8-frag maximum", "medium_compat",
     [](Bytes& b) {
         set16(b, 20, 8 * 4096 + 1);
         set16(b, 40, 1);
         set8(b, 42, 8);
         b.resize(60);
     },
     DropReason::BadFragment},
    {"message length 0xffffffff", "medium", [](Bytes& b) { set32(b, 20, 0xffffffff); }, DropReason::BadFragment},
    {"empty message with data", "medium", [](Bytes& b) { set32(b, 20, 0); }, DropReason::BadFragment},
    {"compat message over 8 frags", "medium_compat", [](Bytes& b) { set16(b, 20, 32769); },
     DropReason::BadFragment},
    {"compat pipeline 11", "medium_compat", [](Bytes& b) { set8(b, 43, 11); }, DropReason::BadFragment},
    {"compat pipeline 13 on a first frag", "medium_compat",
     [](Bytes& b) {
         set16(b, 40, 4096);
         set8(b, 42, 0);
         set8(b, 43, 13);
         b.resize(48 + 4096);
     },
     DropReason::BadFragment},
    {"compat pipeline 255", "medium_compat", [](Bytes& b) { set8(b, 43, 255); }, DropReason::BadFragment},
    {"first frame offset = reply max", "pull", [](Bytes& b) { set32(b, 48, 8968); }, DropReason::BadOffset},
    {"offset + block over max", "pull", [](Bytes& b) { set32(b, 48, 1); }, DropReason::BadOffset},
    {"compat offset + block over max", "pull_compat", [](Bytes& b) { set16(b, 40, 101); },
     DropReason::BadOffset},
    {"block before the message", "pull", [](Bytes& b) { set32(b, 56, 0); }, DropReason::BadOffset},
    {"block past total length", "pull", [](Bytes& b) { set32(b, 24, 573851); }, DropReason::BadOffset},
    {"frame index overflow", "pull", [](Bytes& b) { set32(b, 56, 0xffffffff); }, DropReason::BadOffset},
    {"reply past 4 GiB", "pull_reply", [](Bytes& b) { set32(b, 20, 0xfffffffe); }, DropReason::BadOffset},
    {"connect length 15", "connect_request", [](Bytes& b) { set8(b, 20, 15); }, DropReason::BadConnect},
    {"connect length 17", "connect_reply", [](Bytes& b) { set8(b, 20, 17); }, DropReason::BadConnect},
    {"connect is_reply 2", "connect_reply", [](Bytes& b) { set8(b, 42, 2); }, DropReason::BadConnect},
    {"truc length 0", "truc", [](Bytes& b) { set8(b, 20, 0); }, DropReason::BadTruc},
    {"truc type 0x54", "truc", [](Bytes& b) { set8(b, 28, 0x54); }, DropReason::BadTruc},
    {"truc sessions differ", "truc", [](Bytes& b) { set8(b, 35, 0xd5); }, DropReason::BadTruc},
    {"nack lib type 0", "nack_lib", [](Bytes& b) { set8(b, 19, 0); }, DropReason::BadNack},
    {"nack lib type 5", "nack_lib", [](Bytes& b) { set8(b, 19, 5); }, DropReason::BadNack},
    {"nack mcp type 0", "nack_mcp", [](Bytes& b) { set8(b, 19, 0); }, DropReason::BadNack},
    {"nack mcp type 255", "nack_mcp", [](Bytes& b) { set8(b, 19, 255); }, DropReason::BadNack},
    {"query magic", "host_query", [](Bytes& b) { set32(b, 24, 0x08200513); }, DropReason::BadMagic},
    {"reply magic", "host_reply", [](Bytes& b) { set8(b, 27, 0x09); }, DropReason::BadMagic},
    {"hostname length 0", "host_reply", [](Bytes& b) { set8(b, 17, 0); }, DropReason::BadHostname},
    {"hostname without NUL", "host_reply", [](Bytes& b) { set8(b, 17, 7); }, DropReason::BadHostname},
    {"hostname with inner NUL", "host_reply", [](Bytes& b) { set8(b, 36, 0); }, DropReason::BadHostname},
    {"rma op 0", "rma_request", [](Bytes& b) { set8(b, 19, 0); }, DropReason::BadRma},
    {"rma op 6", "rma_request", [](Bytes& b) { set8(b, 19, 6); }, DropReason::BadRma},
    {"rma unknown flag", "rma_request", [](Bytes& b) { set8(b, 20, 0x04); }, DropReason::BadRma},
    {"rma pulled write with data", "rma_request", [](Bytes& b) { set8(b, 20, 0x02); }, DropReason::BadRma},
    {"rma pulled read", "rma_request",
     [](Bytes& b) {
         set8(b, 19, 2);
         set8(b, 20, 0x02);
         set16(b, 64, 0);
         b.resize(72);
     },
     DropReason::BadRma},
    {"rma payload past frame", "rma_request", [](Bytes& b) { set16(b, 64, 4); }, DropReason::Truncated},
    {"rma reply status 5", "rma_reply", [](Bytes& b) { set8(b, 19, 5); }, DropReason::BadRma},
    {"rma reply unknown flag", "rma_reply", [](Bytes& b) { set8(b, 20, 0x01); }, DropReason::BadRma},
    {"rma reply pulled with data", "rma_reply",
     [](Bytes& b) {
         set16(b, 40, 1);
         b.resize(60);
     },
     DropReason::BadRma},
    {"rma header cut", "rma_request", [](Bytes& b) { b.resize(71); }, DropReason::TooShort},
    {"key pull reply_max 0", "key_pull", [](Bytes& b) { set16(b, 60, 0); }, DropReason::BadLength},
    {"key pull empty block", "key_pull", [](Bytes& b) { set32(b, 52, 0); }, DropReason::BadLength},
    {"key pull block over 32 replies", "key_pull", [](Bytes& b) { set32(b, 52, 32 * 1024 + 1); },
     DropReason::BadLength},
    {"key pull block past the read", "key_pull", [](Bytes& b) { set32(b, 56, 15); }, DropReason::BadOffset},
    {"key pull frame index overflows", "key_pull", [](Bytes& b) { set32(b, 56, 0xffffffff); },
     DropReason::BadOffset},
    {"key pull with a payload", "key_pull", [](Bytes& b) { b.push_back(0); }, DropReason::TrailingBytes},
    {"key pull cut", "key_pull", [](Bytes& b) { b.resize(63); }, DropReason::TooShort},
};

// MX's own layout has no RMA extension: a peer speaking it drops such a
// frame as an unknown type, as MX does.
TEST(WireRma, UnknownToThePlainMxLayout) {
    const auto all = goldens();
    for (const char* name : {"rma_request", "rma_reply", "key_pull"}) {
        SCOPED_TRACE(name);
        const Golden& g = golden_named(all, name);
        const auto d = decode_copy(g.frame, WireMode::MxCompat, limits_for(WireMode::MxCompat));
        ASSERT_FALSE(d.result);
        EXPECT_EQ(d.result.reason(), DropReason::UnknownType);
        std::array<uint8_t, wire::kMaxHeaderLength> out{};
        EXPECT_EQ(wire::encode(wire::Frame{g.head, g.type, g.body, {}}, WireMode::MxCompat, out), 0u)
            << "nothing to encode in MX's layout";
    }
}

TEST(WireMalformed, EachIsDroppedForItsReason) {
    const auto all = goldens();
    std::set<DropReason> seen;
    for (const Malformed& m : kMalformed) {
        SCOPED_TRACE(m.what);
        const Golden& g = golden_named(all, m.base);
        Bytes frame = g.frame;
        m.mutate(frame);
        const auto d = decode_copy(frame, g.mode, limits_for(g.mode));
        ASSERT_FALSE(d.result);
        EXPECT_EQ(wire::drop_reason_name(d.result.reason()), wire::drop_reason_name(m.reason));
        seen.insert(m.reason);
    }
    EXPECT_EQ(seen.size(), wire::kDropReasonCount);
}

TEST(WireMalformed, LayoutOfTheOtherMode) {
    const auto all = goldens();
    // MX's PULL read as Open-MX's is 12 bytes too short.
    const Golden& compat_pull = golden_named(all, "pull_compat");
    EXPECT_EQ(decode_copy(Bytes(compat_pull.frame.begin(), compat_pull.frame.begin() + 48), WireMode::OpenMx,
                          limits_for(WireMode::OpenMx))
                  .result.reason(),
              DropReason::TooShort);
    // Open-MX's MEDIUM read as MX's: the length's high half reads as 0 and
    // there is no pipeline.
    const Golden& medium = golden_named(all, "medium");
    EXPECT_EQ(decode_copy(medium.frame, WireMode::MxCompat, limits_for(WireMode::MxCompat)).result.reason(),
              DropReason::BadFragment);
}

TEST(WireMalformed, PadBytesAreIgnored) {
    // A peer may leave garbage in pads; only the fields count.
    const auto all = goldens();
    struct Case {
        const char* base;
        std::vector<size_t> pads;
    };
    const Case cases[] = {
        {"medium", {43, 46, 47}},
        {"medium_compat", {22, 23, 46, 47}},
        {"rndv", {48, 59}},
        {"pull", {33, 34, 35}},
        {"notify", {30, 31, 32, 33, 38, 39}},
        {"connect_request", {21, 22, 23, 28, 31, 44, 45, 47}},
        {"connect_reply", {21, 28, 45, 47}},
        {"truc", {21, 23, 29, 43}},
        {"nack_lib", {20, 24, 30, 31}},
        {"nack_mcp", {20, 23}},
        {"host_query", {17, 20, 23, 28, 31}},
        {"host_reply", {20, 23, 28, 31, 40, 59}},
        {"tiny", {45, 59}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.base);
        const Golden& g = golden_named(all, c.base);
        Bytes frame = g.frame;
        for (size_t off : c.pads) frame.at(off) = 0xee;
        const auto d = decode_copy(frame, g.mode, limits_for(g.mode));
        ASSERT_TRUE(d.result) << wire::drop_reason_name(d.result.reason());
        EXPECT_TRUE(d.result.frame().body == g.body);
    }
}

// An MX or Open-MX peer leaves whatever was in its buffer where xen2mx puts
// its frame size: without the magic, those bytes advertise nothing, and the
// magic alone does not make garbage elsewhere count.
TEST(WireConnectFrame, AdvertisedOnlyBehindTheMagic) {
    const auto all = goldens();
    std::mt19937 rng(7);
    for (const char* base : {"connect_request", "connect_reply"}) {
        SCOPED_TRACE(base);
        const Golden& g = golden_named(all, base);
        for (int round = 0; round < 1000; ++round) {
            Bytes frame = g.frame;
            for (size_t off : {21, 22, 23, 28, 29, 30, 31, 45, 46, 47}) frame.at(off) = static_cast<uint8_t>(rng());
            if (wire::get_be32(frame.data() + 28) == wire::kConnectFrameMagic) continue;
            const auto d = decode_copy(frame, g.mode, limits_for(g.mode));
            ASSERT_TRUE(d.result);
            EXPECT_EQ(std::get<wire::Connect>(d.result.frame().body).max_frame, 0u);
            EXPECT_TRUE(d.result.frame().body == g.body);
        }
        Bytes frame = g.frame;
        set32(frame, 28, wire::kConnectFrameMagic);
        set16(frame, 22, 9014);
        const auto d = decode_copy(frame, g.mode, limits_for(g.mode));
        ASSERT_TRUE(d.result);
        EXPECT_EQ(std::get<wire::Connect>(d.result.frame().body).max_frame, 9014u);
    }
    // Nothing advertised, nothing written: the frame is MX's to the byte.
    const Golden& request = golden_named(all, "connect_request_frame");
    auto c = std::get<wire::Connect>(request.body);
    c.max_frame = 0;
    std::array<uint8_t, 60> out{};
    ASSERT_EQ(wire::encode_connect(request.head, c, out), 48u);
    const Golden& plain = golden_named(all, "connect_request");
    EXPECT_EQ(Bytes(out.begin(), out.begin() + 48), Bytes(plain.frame.begin(), plain.frame.begin() + 48));
}

// The sender of MEDIUM and PULL, whose checks depend on the frame size
// agreed on with it, is read before decoding; other types have none to read.
TEST(WireSender, ReadForMediumAndPullOnly) {
    const auto all = goldens();
    const wire::Sender expected{0x021b21334455ull, 0};
    for (const Golden& g : all) {
        SCOPED_TRACE(g.name);
        const auto sender = wire::sender_for_limits(g.frame, g.mode);
        if (g.type == PacketType::Medium || g.type == PacketType::Pull) {
            ASSERT_TRUE(sender.has_value());
            wire::Sender want = expected;
            want.endpoint = g.type == PacketType::Medium ? std::get<wire::MediumFrag>(g.body).src_endpoint
                                                         : std::get<wire::PullRequest>(g.body).src_endpoint;
            ASSERT_NE(want.endpoint, 0) << "the golden should name a source endpoint";
            EXPECT_EQ(*sender, want);
            // A frame too short for its header has no sender to read.
            const size_t header = wire::header_length(g.type, g.mode);
            EXPECT_FALSE(wire::sender_for_limits(std::span(g.frame).first(header - 1), g.mode).has_value());
            Bytes other = g.frame;
            set16(other, 12, 0x0800);
            EXPECT_FALSE(wire::sender_for_limits(other, g.mode).has_value()) << "not MXoE";
        } else {
            EXPECT_FALSE(sender.has_value());
        }
    }
    EXPECT_FALSE(wire::sender_for_limits({}, WireMode::OpenMx).has_value());
}

// ------------------------------------------------------------------ truncation

TEST(WireTruncation, EveryPrefixOfEveryGolden) {
    for (const Golden& g : goldens()) {
        SCOPED_TRACE(g.name);
        const size_t header = wire::header_length(g.type, g.mode);
        const size_t used = g.type == PacketType::Raw ? header : used_length(g);
        for (size_t len = 0; len <= g.frame.size(); ++len) {
            const auto d = decode_copy(Bytes(g.frame.begin(), g.frame.begin() + len), g.mode, limits_for(g.mode));
            if (len < header) {
                ASSERT_FALSE(d.result) << len;
                EXPECT_EQ(d.result.reason(), DropReason::TooShort) << len;
            } else if (len < used) {
                ASSERT_FALSE(d.result) << len;
                EXPECT_EQ(d.result.reason(), DropReason::Truncated) << len;
            } else {
                // Padding that is cut short is still padding.
                ASSERT_TRUE(d.result) << len << " " << wire::drop_reason_name(d.result.reason());
                EXPECT_TRUE(d.result.frame().body == g.body);
            }
        }
    }
}

// ------------------------------------------------------------------ fuzzing

// An accepted frame encodes back to a header that decodes to the same frame,
// and re-encoding that gives the same bytes: the codec has one canonical form.
void expect_consistent(const wire::Frame& f, WireMode mode, const wire::WireLimits& limits) {
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    const size_t n = wire::encode(f, mode, header);
    ASSERT_EQ(n, wire::header_length(f.type, mode));
    Bytes frame(header.begin(), header.begin() + n);
    frame.insert(frame.end(), f.payload.begin(), f.payload.end());
    // Padding would lengthen a RAW payload, which has no length of its own.
    if (f.type != PacketType::Raw) frame.resize(wire::ethernet_frame_length(frame.size()), 0);
    const auto d = decode_copy(frame, mode, limits);
    ASSERT_TRUE(d.result) << wire::drop_reason_name(d.result.reason());
    const wire::Frame& back = d.result.frame();
    ASSERT_EQ(back.head, f.head);
    ASSERT_EQ(back.type, f.type);
    ASSERT_TRUE(back.body == f.body);
    ASSERT_EQ(payload_of(back), Bytes(f.payload.begin(), f.payload.end()));
    std::array<uint8_t, wire::kMaxHeaderLength> again{};
    ASSERT_EQ(wire::encode(back, mode, again), n);
    ASSERT_EQ(again, header);
}

TEST(WireFuzz, RandomBytesAndBitFlips) {
    const auto all = goldens();
    std::mt19937_64 rng(0x86df2008);
    auto below = [&rng](uint64_t n) { return n == 0 ? 0 : rng() % n; };
    const uint8_t known_types[] = {1, 3, 4, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 48, 49};

    size_t accepted = 0;
    std::array<size_t, wire::kDropReasonCount> drops{};
    constexpr int kIterations = 300000;
    for (int i = 0; i < kIterations; ++i) {
        const Golden& g = all[below(all.size())];
        const WireMode mode = rng() & 1 ? g.mode : (rng() & 1 ? WireMode::OpenMx : WireMode::MxCompat);
        const wire::WireLimits limits = limits_for(mode);
        Bytes frame;
        switch (below(4)) {
        case 0: {
            // Random bytes behind a valid head and a known type.
            frame.resize(below(128));
            for (auto& b : frame) b = static_cast<uint8_t>(rng());
            if (frame.size() > 16) {
                frame[12] = 0x86;
                frame[13] = 0xdf;
                frame[16] = known_types[below(sizeof known_types)];
            }
            break;
        }
        case 1: {
            // A few bit flips in the header of a golden frame.
            frame = g.frame;
            const size_t span = std::min<size_t>(frame.size(), 64);
            for (uint64_t k = 1 + below(4); k > 0; --k) frame[below(span)] ^= static_cast<uint8_t>(1u << below(8));
            break;
        }
        case 2: {
            // Random values in whole fields, and a random length.
            frame = g.frame;
            for (uint64_t k = 1 + below(3); k > 0; --k) {
                const size_t off = 17 + below(44);
                if (off + 2 <= frame.size()) set16(frame, off, static_cast<uint16_t>(rng()));
            }
            if (rng() & 1) frame.resize(below(frame.size() + 64), static_cast<uint8_t>(rng()));
            break;
        }
        default: {
            // Small length fields that may fit, for the payload checks.
            frame = g.frame;
            if (frame.size() > 21) set16(frame, 18 + 2 * below(2), static_cast<uint16_t>(below(300)));
            if (frame.size() > 17 && (rng() & 1)) frame[17] = static_cast<uint8_t>(below(40));
            break;
        }
        }
        const auto d = decode_copy(frame, mode, limits);
        if (d.result) {
            ++accepted;
            expect_consistent(d.result.frame(), mode, limits);
            if (HasFatalFailure()) return;
        } else {
            ++drops[static_cast<size_t>(d.result.reason())];
        }
    }
    // The loop reached both sides of the validator.
    EXPECT_GT(accepted, size_t{kIterations / 20});
    for (size_t r = 0; r < wire::kDropReasonCount; ++r) {
        EXPECT_GT(drops[r], 0u) << wire::drop_reason_name(static_cast<DropReason>(r));
    }
}

}  // namespace
}  // namespace xen2mx
