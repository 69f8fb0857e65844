// MX's lib_seqnum: a 14-bit sequence number under a 2-bit session number
// ("sesnum") that changes when a partner is reset, so that frames of an
// earlier incarnation can never be taken for current ones.
#pragma once

#include <cstdint>

namespace xen2mx::engine::seqnum {

inline constexpr uint16_t kMask = 0x3fff;
inline constexpr uint16_t kHalf = 0x2000;

inline constexpr uint16_t next(uint16_t seq) { return (seq + 1) & kMask; }
inline constexpr uint16_t add(uint16_t seq, unsigned n) { return (seq + n) & kMask; }
// How far b is ahead of a, modulo 2^14.
inline constexpr uint16_t distance(uint16_t a, uint16_t b) { return (b - a) & kMask; }
// Whether a comes strictly before b within half the space.
inline constexpr bool before(uint16_t a, uint16_t b) {
    const uint16_t d = distance(a, b);
    return d != 0 && d < kHalf;
}

inline constexpr uint16_t pack(uint8_t sesnum, uint16_t seq) {
    return static_cast<uint16_t>(((sesnum & 3u) << 14) | (seq & kMask));
}
inline constexpr uint8_t sesnum_of(uint16_t wire) { return static_cast<uint8_t>(wire >> 14); }
inline constexpr uint16_t seq_of(uint16_t wire) { return wire & kMask; }

}  // namespace xen2mx::engine::seqnum
