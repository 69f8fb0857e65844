// Big-endian field access, as MXoE sends every 16- and 32-bit field.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xen2mx::wire {

inline void put_u8(uint8_t* p, uint8_t v) { p[0] = v; }
inline void put_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void put_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
inline void put_mac(uint8_t* p, uint64_t mac) {
    for (int i = 0; i < 6; ++i) p[i] = static_cast<uint8_t>(mac >> (8 * (5 - i)));
}

inline uint8_t get_u8(const uint8_t* p) { return p[0]; }
inline uint16_t get_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t get_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline uint64_t get_mac(const uint8_t* p) {
    uint64_t mac = 0;
    for (int i = 0; i < 6; ++i) mac = (mac << 8) | p[i];
    return mac;
}

}  // namespace xen2mx::wire
