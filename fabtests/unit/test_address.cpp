// The endpoint name format and the node/service resolution.
#include <array>
#include <cstdint>

#include <gtest/gtest.h>
#include <rdma/fi_errno.h>

#include "api/names.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx {
namespace {

using Bytes = std::array<uint8_t, wire::kAddressLength>;

link::Address udp_address() {
    link::Address a;
    a.board = 0x02000a000102ull;
    a.endpoint = 3;
    a.ipv4 = 0x0a000102;  // 10.0.1.2
    a.udp_port = 30723;
    return a;
}

TEST(AddressCodec, GoldenUdpName) {
    Bytes bytes{};
    wire::encode_address(udp_address(), bytes);
    const Bytes golden = {0x58, 0x01, 0x03, 0x01, 0x02, 0x00, 0x0a, 0x00,
                          0x01, 0x02, 0x78, 0x03, 0x0a, 0x00, 0x01, 0x02};
    EXPECT_EQ(bytes, golden);
    auto back = wire::decode_address(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, udp_address());
}

TEST(AddressCodec, GoldenEthernetName) {
    link::Address a;
    a.board = 0x001b21aabbccull;
    a.endpoint = 254;
    Bytes bytes{};
    wire::encode_address(a, bytes);
    const Bytes golden = {0x58, 0x01, 0xfe, 0x00, 0x00, 0x1b, 0x21, 0xaa,
                          0xbb, 0xcc, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    EXPECT_EQ(bytes, golden);
    auto back = wire::decode_address(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, a);
    EXPECT_FALSE(back->has_udp());
}

TEST(AddressCodec, RejectsMalformedNames) {
    Bytes good{};
    wire::encode_address(udp_address(), good);
    for (size_t length : {size_t{0}, size_t{1}, size_t{15}}) {
        EXPECT_FALSE(wire::decode_address({good.data(), length})) << length;
    }
    uint8_t longer[17] = {};
    std::copy(good.begin(), good.end(), longer);
    EXPECT_FALSE(wire::decode_address(longer));

    auto corrupt = [&](size_t offset, uint8_t value) {
        Bytes b = good;
        b[offset] = value;
        return wire::decode_address(b);
    };
    EXPECT_FALSE(corrupt(0, 0x59)) << "magic";
    EXPECT_FALSE(corrupt(1, 2)) << "version";
    EXPECT_FALSE(corrupt(3, 0x03)) << "unknown flag";

    Bytes no_ip = good;
    no_ip[12] = no_ip[13] = no_ip[14] = no_ip[15] = 0;
    EXPECT_FALSE(wire::decode_address(no_ip)) << "udp flag without an address";

    Bytes stray = good;
    stray[3] = 0;  // no udp flag, but locator bytes present
    EXPECT_FALSE(wire::decode_address(stray));
}

TEST(AddressCodec, Strings) {
    EXPECT_EQ(wire::address_to_string(udp_address()), "fi_xen2mx://02:00:0a:00:01:02/3?udp=10.0.1.2:30723");
    link::Address eth;
    eth.board = 0x001b21aabbccull;
    eth.endpoint = 0;
    EXPECT_EQ(wire::address_to_string(eth), "fi_xen2mx://00:1b:21:aa:bb:cc/0");
}

TEST(AddressCodec, MacParsing) {
    EXPECT_EQ(wire::parse_mac("00:1B:21:aa:bb:cc"), 0x001b21aabbccull);
    EXPECT_EQ(wire::mac_to_string(0x001b21aabbccull), "00:1b:21:aa:bb:cc");
    for (const char* bad : {"", "00:1b:21:aa:bb", "00:1b:21:aa:bb:cc:dd", "00-1b-21-aa-bb-cc", "0g:1b:21:aa:bb:cc",
                            "001b:21:aa:bb:ccc"}) {
        EXPECT_FALSE(wire::parse_mac(bad)) << bad;
    }
}

TEST(Names, ResolveDestination) {
    api::Params params;
    params.link = "auto";
    params.udp_port_base = 30720;
    link::Address a;
    ASSERT_EQ(api::resolve_name("127.0.0.1", "12", false, true, params, &a), 0);
    EXPECT_EQ(a.board, link::udp_board_of(0x7f000001));
    EXPECT_EQ(a.endpoint, 12);
    EXPECT_EQ(a.udp_port, 30732);
    ASSERT_EQ(api::resolve_name("localhost", nullptr, false, false, params, &a), 0);
    EXPECT_EQ(a.ipv4, 0x7f000001u);
    EXPECT_EQ(a.endpoint, 0) << "a destination without service is endpoint 0";
    ASSERT_EQ(api::resolve_name(nullptr, "1", false, false, params, &a), 0);
    EXPECT_EQ(a.ipv4, 0x7f000001u) << "no node means this host";
}

TEST(Names, ResolveSource) {
    api::Params params;
    params.link = "auto";
    params.udp_port_base = 30720;
    link::Address a;
    ASSERT_EQ(api::resolve_name("127.0.0.1", nullptr, true, true, params, &a), 0);
    EXPECT_EQ(a.endpoint, api::kAnyEndpoint);
    params.iface = "lo";
    ASSERT_EQ(api::resolve_name(nullptr, "5", true, false, params, &a), 0);
    EXPECT_EQ(a.ipv4, 0x7f000001u);
    EXPECT_EQ(a.udp_port, 30725);
    params.iface = "no-such-interface0";
    EXPECT_EQ(api::resolve_name(nullptr, "5", true, false, params, &a), -FI_ENODATA);
}

}  // namespace
}  // namespace xen2mx
