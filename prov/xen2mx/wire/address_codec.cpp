#include "wire/address_codec.hpp"

#include <cstdio>

#include "link/host_addresses.hpp"
#include "wire/bytes.hpp"

namespace xen2mx::wire {

namespace {
constexpr uint8_t kFlagUdp = 0x01;
}

void encode_address(const link::Address& address, std::span<uint8_t, kAddressLength> out) {
    uint8_t* p = out.data();
    put_u8(p + 0, kAddressMagic);
    put_u8(p + 1, kAddressVersion);
    put_u8(p + 2, address.endpoint);
    put_u8(p + 3, address.has_udp() ? kFlagUdp : 0);
    put_mac(p + 4, address.board);
    put_be16(p + 10, address.has_udp() ? address.udp_port : 0);
    put_be32(p + 12, address.has_udp() ? address.ipv4 : 0);
}

std::optional<link::Address> decode_address(std::span<const uint8_t> bytes) {
    if (bytes.size() != kAddressLength) return std::nullopt;
    const uint8_t* p = bytes.data();
    if (get_u8(p + 0) != kAddressMagic || get_u8(p + 1) != kAddressVersion) return std::nullopt;
    const uint8_t flags = get_u8(p + 3);
    if (flags & ~kFlagUdp) return std::nullopt;
    link::Address address;
    address.endpoint = get_u8(p + 2);
    address.board = get_mac(p + 4);
    if (flags & kFlagUdp) {
        address.udp_port = get_be16(p + 10);
        address.ipv4 = get_be32(p + 12);
        if (!address.has_udp()) return std::nullopt;
    } else if (get_be16(p + 10) != 0 || get_be32(p + 12) != 0) {
        return std::nullopt;
    }
    return address;
}

std::string mac_to_string(uint64_t mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", unsigned(mac >> 40) & 0xff,
                  unsigned(mac >> 32) & 0xff, unsigned(mac >> 24) & 0xff, unsigned(mac >> 16) & 0xff,
                  unsigned(mac >> 8) & 0xff, unsigned(mac) & 0xff);
    return text;
}

std::optional<uint64_t> parse_mac(std::string_view text) {
    if (text.size() != 17) return std::nullopt;
    uint64_t mac = 0;
    for (size_t i = 0; i < 6; ++i) {
        unsigned byte = 0;
        for (size_t j = 0; j < 2; ++j) {
            const char c = text[i * 3 + j];
            unsigned digit;
            if (c >= '0' && c <= '9') digit = unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') digit = unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') digit = unsigned(c - 'A' + 10);
            else return std::nullopt;
            byte = byte * 16 + digit;
        }
        if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
        mac = (mac << 8) | byte;
    }
    return mac;
}

std::string address_to_string(const link::Address& address) {
    std::string text = "fi_xen2mx://" + mac_to_string(address.board) + "/" + std::to_string(address.endpoint);
    if (address.has_udp()) {
        text += "?udp=" + link::ipv4_to_string(address.ipv4) + ":" + std::to_string(address.udp_port);
    }
    return text;
}

}  // namespace xen2mx::wire
