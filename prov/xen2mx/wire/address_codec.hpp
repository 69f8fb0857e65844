// The bytes of an xen2mx endpoint name, as fi_getname hands them out and
// fi_av_insert takes them back, and its readable form for fi_av_straddr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "link/address.hpp"

namespace xen2mx::wire {

// Layout (big-endian):
//   0  u8   magic 'X' (0x58)
//   1  u8   format version (1)
//   2  u8   endpoint id
//   3  u8   flags: bit 0 = udp locator present
//   4  6    board MAC
//  10  u16  udp port
//  12  u32  IPv4 address
inline constexpr size_t kAddressLength = 16;
inline constexpr uint8_t kAddressMagic = 0x58;
inline constexpr uint8_t kAddressVersion = 1;

void encode_address(const link::Address& address, std::span<uint8_t, kAddressLength> out);

// Rejects anything that is not exactly a name this version produces.
std::optional<link::Address> decode_address(std::span<const uint8_t> bytes);

// "fi_xen2mx://02:00:7f:00:00:01/3" with "?udp=127.0.0.1:30723" when there is
// a udp locator.
std::string address_to_string(const link::Address& address);

// Parses "aa:bb:cc:dd:ee:ff" into a board id.
std::optional<uint64_t> parse_mac(std::string_view text);

std::string mac_to_string(uint64_t mac);

}  // namespace xen2mx::wire
