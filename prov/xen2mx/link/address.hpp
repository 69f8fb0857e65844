// The address of an xen2mx endpoint: a board (48-bit MAC, MX's nic_id) and an
// endpoint id on it, plus what the udp link needs to reach the board.
#pragma once

#include <cstdint>

namespace xen2mx::link {

// MX endpoint ids are 8 bits on the wire; 255 is reserved for raw endpoints
// (and, in a source address not yet bound, means "any").
inline constexpr unsigned kMaxEndpointId = 254;

struct Address {
    uint64_t board = 0;     // MAC, first byte in bits 47..40
    uint8_t endpoint = 0;
    uint32_t ipv4 = 0;      // udp locator, host order; 0 when the board has none
    uint16_t udp_port = 0;  // udp locator; 0 while the endpoint id is not chosen

    bool has_udp() const { return ipv4 != 0; }
    friend bool operator==(const Address&, const Address&) = default;
};

// A udp board is named after its IPv4 address, as a locally administered MAC
// 02:00:a:b:c:d, so that a node name and an endpoint id are a full address.
inline constexpr uint64_t udp_board_of(uint32_t ipv4) { return (uint64_t{0x0200} << 32) | ipv4; }

}  // namespace xen2mx::link
