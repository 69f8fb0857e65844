// What kmod_tool's region checks (kmod_regions.cpp, kmod_keyed.cpp) share:
// memory to register, what the process has pinned, and the PULL_REPLYs the
// kernel answers from a region, checked field by field and byte by byte.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kmod_tool.hpp"

namespace kmod_tool {

inline constexpr size_t kPage = 4096;
inline constexpr uint8_t kPullReply = 42;
inline constexpr uint32_t kMagicXor = 0x21071980u;

// Anonymous pages, unmapped when it goes.
struct Pages {
    uint8_t* base = nullptr;
    size_t bytes = 0;
    explicit Pages(size_t count, int prot = PROT_READ | PROT_WRITE) : bytes(count * kPage) {
        void* p = ::mmap(nullptr, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        base = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    }
    ~Pages() {
        if (base) ::munmap(base, bytes);
    }
    Pages(const Pages&) = delete;
    Pages& operator=(const Pages&) = delete;
};

inline xen2mx_iovec seg(const void* base, uint64_t len) { return {reinterpret_cast<uintptr_t>(base), len}; }

// What the process has pinned, as its status says (kB); -1 when unknown.
inline long vm_pinned_kb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmPin:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
}

// Three stretches of `mem` (7 pages at least) at odd addresses, across page
// boundaries, end to end 9500 bytes on 5 pages, holding pattern(i) at
// region byte i.
inline std::vector<xen2mx_iovec> odd_segments(uint8_t* mem) {
    std::vector<xen2mx_iovec> segs{seg(mem + kPage - 333, 1000), seg(mem + 3 * kPage + 17, 5000),
                                   seg(mem + 6 * kPage + 5, 3500)};
    size_t at = 0;
    for (const auto& s : segs)
        for (uint64_t i = 0; i < s.len; ++i) reinterpret_cast<uint8_t*>(s.base)[i] = pattern(at++);
    return segs;
}

inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// One PULL_REPLY as its puller must see it.
struct ReplyWant {
    const uint8_t* from_mac;  // the board that answers
    uint16_t peer_index = 0;  // in the head (dst_src_peer_index)
    uint32_t handle = 0;
    uint8_t seqnum = 0;
    uint32_t offset = 0;      // msg_offset
    uint32_t length = 0;
    size_t pattern_at = 0;    // payload byte i is pattern(pattern_at + i)
};

// The next frame at `puller` is the reply `want`, with the puller's own magic.
inline bool reply_arrives(Endpoint& puller, const ReplyWant& want, std::string* why) {
    std::vector<uint8_t> got;
    if (!puller.receive(&got, 1000)) return (*why = "no reply"), false;
    if (got.size() < 32 || got[16] != kPullReply) return (*why = "not a PULL_REPLY"), false;
    if (std::memcmp(got.data(), puller.info.mac, 6) || std::memcmp(got.data() + 6, want.from_mac, 6))
        return (*why = "wrong addresses"), false;
    const uint32_t frame_length = get16(got.data() + 18);
    if (got[17] != want.seqnum || frame_length != want.length || get32(got.data() + 20) != want.offset)
        return (*why = "frame " + std::to_string(got[17]) + " length " + std::to_string(frame_length) + " offset " +
                       std::to_string(get32(got.data() + 20)) + ", wanted frame " + std::to_string(want.seqnum) +
                       " length " + std::to_string(want.length) + " offset " + std::to_string(want.offset)),
               false;
    if (get32(got.data() + 24) != want.handle || get32(got.data() + 28) != (puller.info.endpoint_id ^ kMagicXor))
        return (*why = "handle or magic not echoed"), false;
    if (get16(got.data() + 14) != want.peer_index)
        return (*why = "peer index " + std::to_string(get16(got.data() + 14))), false;
    if (got.size() < 32 + size_t{want.length}) return (*why = "short frame"), false;
    for (uint32_t i = 0; i < want.length; ++i)
        if (got[32 + i] != pattern(want.pattern_at + i))
            return (*why = "payload byte " + std::to_string(want.offset + i)), false;
    return true;
}

// The replies to a block of `length` bytes from `first.offset` on, in
// replies of `reply_max` bytes, the last one short; seqnums from
// `first.seqnum` on, wrapping at 256.
inline bool replies_arrive(Endpoint& puller, ReplyWant first, uint32_t length, uint32_t reply_max,
                           std::string* why) {
    const uint32_t end = first.offset + length;
    for (ReplyWant want = first; want.offset < end; want.offset += reply_max, want.pattern_at += reply_max) {
        want.length = std::min(reply_max, end - want.offset);
        if (!reply_arrives(puller, want, why)) return false;
        want.seqnum = static_cast<uint8_t>(want.seqnum + 1);
    }
    return true;
}

}  // namespace kmod_tool
