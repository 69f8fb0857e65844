// The udp link between two endpoints on the loopback: frames arrive whole and
// in order, gather lists are joined, endpoint ids are handed out in order and
// exclusively, and poll/wait_fd never block or lie.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "link/address.hpp"
#include "link/udp_link.hpp"

namespace xen2mx::link {
namespace {

constexpr uint32_t kLoopback = 0x7f000001;

struct Received {
    std::vector<uint8_t> frame;
    Route from;
};

class Collector final : public FrameSink {
public:
    void on_frame(std::span<const uint8_t> frame, const Route& from) override {
        frames.push_back(Received{std::vector<uint8_t>(frame.begin(), frame.end()), from});
    }
    std::vector<Received> frames;
};

bool port_free(int port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return false;
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(kLoopback);
    local.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0;
    ::close(fd);
    return free;
}

// A random base in the upper port range whose first few ports are free, so
// that parallel runs and other programs do not make the tests flaky.
int pick_port_base() {
    std::random_device seed;
    std::mt19937 random(seed());
    std::uniform_int_distribution<int> base(40000, 65535 - int{kMaxEndpointId});
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int candidate = base(random);
        bool all_free = true;
        for (int port = candidate; port < candidate + 8 && all_free; ++port) all_free = port_free(port);
        if (all_free) return candidate;
    }
    return 0;
}

class UdpLinkTest : public ::testing::Test {
protected:
    void SetUp() override {
        port_base_ = pick_port_base();
        ASSERT_NE(port_base_, 0) << "no free port range found";
    }

    std::unique_ptr<Link> open(int endpoint = -1, size_t max_frame = 9000) {
        UdpLinkConfig config;
        config.ipv4 = kLoopback;
        config.port_base = port_base_;
        config.endpoint_id = endpoint;
        config.max_frame = max_frame;
        std::unique_ptr<Link> link;
        const int ret = open_udp_link(config, &link);
        EXPECT_EQ(ret, 0);
        return link;
    }

    int open_error(int endpoint) {
        UdpLinkConfig config;
        config.ipv4 = kLoopback;
        config.port_base = port_base_;
        config.endpoint_id = endpoint;
        std::unique_ptr<Link> link;
        const int ret = open_udp_link(config, &link);
        EXPECT_EQ(ret != 0, link == nullptr);
        return ret;
    }

    // Polls until `count` frames have arrived or a second has passed.
    static void receive(Link& link, Collector& sink, size_t count) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        while (sink.frames.size() < count && std::chrono::steady_clock::now() < deadline) {
            pollfd waiting{link.wait_fd(), POLLIN, 0};
            ::poll(&waiting, 1, 50);
            link.poll(sink, 64);
        }
    }

    int port_base_ = 0;
};

std::vector<uint8_t> pattern(size_t length, uint8_t seed) {
    std::vector<uint8_t> bytes(length);
    for (size_t i = 0; i < length; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 7);
    return bytes;
}

iovec part(std::vector<uint8_t>& bytes, size_t offset, size_t length) {
    return iovec{bytes.data() + offset, length};
}

TEST_F(UdpLinkTest, ReportsItsRoute) {
    auto a = open();
    ASSERT_TRUE(a);
    EXPECT_EQ(a->kind(), "udp");
    EXPECT_EQ(a->board(), udp_board_of(kLoopback));
    EXPECT_EQ(a->local_route().mac, a->board());
    EXPECT_EQ(a->local_route().ipv4, kLoopback);
    EXPECT_EQ(a->local_route().udp_port, port_base_ + a->endpoint_id());
    EXPECT_EQ(a->max_frame(), 9000u);
}

TEST_F(UdpLinkTest, ExchangesFramesBothWays) {
    auto a = open();
    auto b = open();
    ASSERT_TRUE(a && b);
    auto frame = pattern(1500, 3);
    iovec whole = part(frame, 0, frame.size());
    ASSERT_EQ(a->send(b->local_route(), {&whole, 1}), 0);
    Collector at_b;
    receive(*b, at_b, 1);
    ASSERT_EQ(at_b.frames.size(), 1u);
    EXPECT_EQ(at_b.frames[0].frame, frame);
    EXPECT_EQ(at_b.frames[0].from, a->local_route());

    // The reply goes where the frame came from.
    auto reply = pattern(64, 99);
    iovec back = part(reply, 0, reply.size());
    ASSERT_EQ(b->send(at_b.frames[0].from, {&back, 1}), 0);
    Collector at_a;
    receive(*a, at_a, 1);
    ASSERT_EQ(at_a.frames.size(), 1u);
    EXPECT_EQ(at_a.frames[0].frame, reply);
    EXPECT_EQ(at_a.frames[0].from, b->local_route());
}

TEST_F(UdpLinkTest, GathersMultiPartFrames) {
    auto a = open();
    auto b = open();
    ASSERT_TRUE(a && b);
    auto frame = pattern(600, 17);
    // Header, a small field, an empty part and the payload, as the engine
    // hands a frame built around a user buffer.
    const iovec parts[] = {part(frame, 0, 14), part(frame, 14, 2), part(frame, 16, 0), part(frame, 16, 584)};
    ASSERT_EQ(a->send(b->local_route(), parts), 0);
    Collector sink;
    receive(*b, sink, 1);
    ASSERT_EQ(sink.frames.size(), 1u);
    EXPECT_EQ(sink.frames[0].frame, frame);
}

TEST_F(UdpLinkTest, KeepsOrderAndHonoursTheBudget) {
    auto a = open();
    auto b = open();
    ASSERT_TRUE(a && b);
    for (uint8_t i = 0; i < 5; ++i) {
        auto frame = pattern(100, i);
        iovec whole = part(frame, 0, frame.size());
        ASSERT_EQ(a->send(b->local_route(), {&whole, 1}), 0);
    }
    pollfd waiting{b->wait_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&waiting, 1, 1000), 1);
    Collector sink;
    EXPECT_EQ(b->poll(sink, 2), 2);
    EXPECT_EQ(sink.frames.size(), 2u);
    receive(*b, sink, 5);
    ASSERT_EQ(sink.frames.size(), 5u);
    for (uint8_t i = 0; i < 5; ++i) EXPECT_EQ(sink.frames[i].frame, pattern(100, i)) << int{i};
}

TEST_F(UdpLinkTest, AllocatesEndpointIdsInOrder) {
    auto first = open();
    auto second = open();
    auto third = open();
    ASSERT_TRUE(first && second && third);
    EXPECT_EQ(first->endpoint_id(), 0);
    EXPECT_EQ(second->endpoint_id(), 1);
    EXPECT_EQ(third->endpoint_id(), 2);

    EXPECT_EQ(open_error(1), -EADDRINUSE);
    auto fifth = open(5);
    ASSERT_TRUE(fifth);
    EXPECT_EQ(fifth->endpoint_id(), 5);

    // A closed endpoint's id is the first free one again.
    second.reset();
    auto again = open();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->endpoint_id(), 1);
    auto next = open();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->endpoint_id(), 3);
}

TEST_F(UdpLinkTest, RejectsBadConfigurations) {
    EXPECT_EQ(open_error(int{kMaxEndpointId} + 1), -EINVAL);
    UdpLinkConfig config;
    config.port_base = 65535 - int{kMaxEndpointId} + 1;
    std::unique_ptr<Link> link;
    EXPECT_EQ(open_udp_link(config, &link), -EINVAL);
    config.port_base = port_base_;
    config.max_frame = 70000;
    EXPECT_EQ(open_udp_link(config, &link), -EINVAL);
    EXPECT_FALSE(link);
}

TEST_F(UdpLinkTest, RefusesOversizeFrames) {
    auto a = open(-1, 1514);
    auto b = open();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->max_frame(), 1514u);
    auto frame = pattern(1515, 1);
    iovec whole = part(frame, 0, frame.size());
    EXPECT_EQ(a->send(b->local_route(), {&whole, 1}), -EMSGSIZE);
    // Split across parts, the total is what counts.
    const iovec parts[] = {part(frame, 0, 1000), part(frame, 1000, 515)};
    EXPECT_EQ(a->send(b->local_route(), parts), -EMSGSIZE);
    // The longest allowed frame still goes through.
    whole.iov_len = 1514;
    EXPECT_EQ(a->send(b->local_route(), {&whole, 1}), 0);
    Collector sink;
    receive(*b, sink, 1);
    ASSERT_EQ(sink.frames.size(), 1u);
    EXPECT_EQ(sink.frames[0].frame.size(), 1514u);
}

TEST_F(UdpLinkTest, PollsWithoutBlocking) {
    auto a = open();
    ASSERT_TRUE(a);
    Collector sink;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(a->poll(sink, 16), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
    EXPECT_TRUE(sink.frames.empty());
}

TEST_F(UdpLinkTest, WaitFdTurnsReadableWhenAFrameArrives) {
    auto a = open();
    auto b = open();
    ASSERT_TRUE(a && b);
    pollfd waiting{b->wait_fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&waiting, 1, 0), 0);

    auto frame = pattern(80, 5);
    iovec whole = part(frame, 0, frame.size());
    ASSERT_EQ(a->send(b->local_route(), {&whole, 1}), 0);
    waiting.revents = 0;
    ASSERT_EQ(::poll(&waiting, 1, 1000), 1);
    EXPECT_TRUE(waiting.revents & POLLIN);

    // Drained, it is quiet again.
    Collector sink;
    EXPECT_EQ(b->poll(sink, 16), 1);
    waiting.revents = 0;
    EXPECT_EQ(::poll(&waiting, 1, 0), 0);
}

}  // namespace
}  // namespace xen2mx::link
