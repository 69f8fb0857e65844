// The udp link between two endpoints on the loopback: frames arrive whole and
// in order, gather lists are joined, endpoint ids are handed out in order and
// exclusively, and poll/wait_fd never block or lie. Each peer's frame size
// follows its path's MTU, and the link reports socket buffers the system
// capped (and the window that fits them).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
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


// ------------------------------------------------------------------ frame sizes

TEST(UdpFrameSize, IsThePathMtuLessTheIpAndUdpHeaders) {
    EXPECT_EQ(udp_frame_for_mtu(1500), 1472u);
    EXPECT_EQ(udp_frame_for_mtu(9000), 8972u);
    EXPECT_EQ(udp_frame_for_mtu(65536), kUdpFrameDefaultMax);
    EXPECT_EQ(udp_frame_for_mtu(576), kUdpFrameMin) << "below the floor, IP fragments rather than the wire shrinks";
    EXPECT_EQ(udp_frame_for_mtu(0), kUdpFrameMin);
}

std::optional<long> read_number(const std::string& path) {
    std::ifstream file(path);
    long value = 0;
    if (!(file >> value)) return std::nullopt;
    return value;
}

Route route_to(uint32_t ipv4, int port) { return Route{udp_board_of(ipv4), ipv4, static_cast<uint16_t>(port), 0}; }

TEST_F(UdpLinkTest, LoopbackPeersKeepLargeFrames) {
    const auto lo_mtu = read_number("/sys/class/net/lo/mtu");
    if (!lo_mtu) GTEST_SKIP() << "no /sys/class/net/lo/mtu to compare with";
    auto a = open(-1, 0);
    auto b = open(-1, 0);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->max_frame(), kUdpFrameDefaultMax);
    EXPECT_EQ(a->max_frame_to(b->local_route()), udp_frame_for_mtu(static_cast<int>(*lo_mtu)));
    if (*lo_mtu >= 65536) {
        EXPECT_EQ(a->max_frame_to(b->local_route()), kUdpFrameDefaultMax);
    }
    // Such a frame crosses whole.
    auto frame = pattern(a->max_frame_to(b->local_route()), 3);
    iovec whole = part(frame, 0, frame.size());
    ASSERT_EQ(a->send(b->local_route(), {&whole, 1}), 0);
    Collector sink;
    receive(*b, sink, 1);
    ASSERT_EQ(sink.frames.size(), 1u);
    EXPECT_EQ(sink.frames[0].frame, frame);
}

TEST_F(UdpLinkTest, AFixedFrameSizeOverridesThePath) {
    auto a = open(-1, 1472);
    auto b = open(-1, 0);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->max_frame(), 1472u);
    EXPECT_EQ(a->max_frame_to(b->local_route()), 1472u);
}

// Runs `body` in a child process; its exit status is the test's verdict:
// 0 passes, 77 skips (the reason on the pipe), anything else fails with the
// message on the pipe.
void in_child(const std::function<int(std::string*)>& body) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(pipe_fds[0]);
        std::string message;
        int status = 1;
        try {
            status = body(&message);
        } catch (...) {
            message = "exception in the child";
        }
        if (::write(pipe_fds[1], message.data(), message.size()) < 0) status = 1;
        ::_exit(status);
    }
    ::close(pipe_fds[1]);
    std::string message;
    char buffer[512];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) message.append(buffer, static_cast<size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status)) << "the child died: " << message;
    if (WEXITSTATUS(status) == 77) GTEST_SKIP() << message;
    EXPECT_EQ(WEXITSTATUS(status), 0) << message;
}

// The frame size each peer gets, for a path of 1500 and one of 9000 bytes:
// in a network namespace of its own, the test gives two loopback addresses
// routes with those MTUs (no virtual Ethernet device can be made where
// kernel modules cannot load; a route's MTU is what the link reads anyway).
TEST(UdpLinkPaths, EachPeerGetsItsPathsFrameSize) {
    in_child([](std::string* message) {
        if (::unshare(CLONE_NEWNET) != 0) {
            *message = std::string("cannot make a network namespace: ") + strerror(errno) + " (needs root)";
            return 77;
        }
        if (std::system("ip link set lo up 2>/dev/null && "
                        "ip route add local 127.0.0.2/32 dev lo mtu lock 1500 table local 2>/dev/null && "
                        "ip route add local 127.0.0.3/32 dev lo mtu lock 9000 table local 2>/dev/null") != 0) {
            *message = "cannot set routes with ip(8) (apt-get install iproute2)";
            return 77;
        }
        UdpLinkConfig config;
        config.port_base = 30720;
        std::unique_ptr<Link> a;
        if (int ret = open_udp_link(config, &a)) {
            *message = std::string("cannot open the link: ") + strerror(-ret);
            return 1;
        }
        const struct {
            uint32_t ipv4;
            size_t frame;
        } expected[] = {{0x7f000002, 1472}, {0x7f000003, 8972}, {0x7f000001, kUdpFrameDefaultMax}};
        for (const auto& path : expected) {
            const size_t got = a->max_frame_to(route_to(path.ipv4, 30721));
            if (got != path.frame) {
                *message = "path to " + std::to_string(path.ipv4 & 0xff) + ": frame " + std::to_string(got) +
                           ", expected " + std::to_string(path.frame);
                return 1;
            }
        }
        // A peer at the narrow address: the largest frame for it crosses
        // whole, in one datagram that the path did not have to fragment.
        config.ipv4 = 0x7f000002;
        std::unique_ptr<Link> b;
        if (open_udp_link(config, &b) != 0) {
            *message = "cannot open a link on 127.0.0.2";
            return 1;
        }
        auto frame = pattern(a->max_frame_to(b->local_route()), 5);
        iovec whole = part(frame, 0, frame.size());
        if (a->send(b->local_route(), {&whole, 1}) != 0) {
            *message = "sending a path-sized frame failed";
            return 1;
        }
        Collector sink;
        for (int i = 0; i < 100 && sink.frames.empty(); ++i) {
            pollfd waiting{b->wait_fd(), POLLIN, 0};
            ::poll(&waiting, 1, 10);
            b->poll(sink, 8);
        }
        if (sink.frames.size() != 1 || sink.frames[0].frame != frame) {
            *message = "the path-sized frame did not arrive whole";
            return 1;
        }
        return 0;
    });
}

// ------------------------------------------------------------------ socket buffers

std::optional<size_t> sysctl_bytes(const char* name) {
    const auto value = read_number(std::string("/proc/sys/net/core/") + name);
    if (!value || *value <= 0) return std::nullopt;
    return static_cast<size_t>(*value);
}

// What an endpoint gets when it asks for more than the system's maximum.
int check_buffers(bool privileged, std::string* message) {
    const auto rmem_max = sysctl_bytes("rmem_max");
    const auto wmem_max = sysctl_bytes("wmem_max");
    if (!rmem_max || !wmem_max) {
        *message = "no net.core.rmem_max / wmem_max to compare with";
        return 77;
    }
    UdpLinkConfig config;
    config.port_base = 30720;
    config.socket_buffer = std::max(*rmem_max, *wmem_max) * 2;
    std::unique_ptr<Link> link;
    SocketBuffers got;
    if (open_udp_link(config, &link, &got) != 0) {
        *message = "cannot open the link";
        return 1;
    }
    SocketBuffers want;
    want.asked = config.socket_buffer;
    // The kernel reports twice what it grants.
    want.receive = 2 * (privileged ? config.socket_buffer : *rmem_max);
    want.send = 2 * (privileged ? config.socket_buffer : *wmem_max);
    want.receive_capped = want.send_capped = !privileged;
    if (got.asked != want.asked || got.receive != want.receive || got.send != want.send ||
        got.receive_capped != want.receive_capped || got.send_capped != want.send_capped) {
        *message = "buffers: got receive " + std::to_string(got.receive) + " send " + std::to_string(got.send) +
                   " capped " + std::to_string(got.receive_capped) + std::to_string(got.send_capped) +
                   ", expected receive " + std::to_string(want.receive) + " send " + std::to_string(want.send) +
                   " capped " + std::to_string(want.receive_capped) + std::to_string(want.send_capped);
        return 1;
    }
    if (link->receive_window() != std::min(want.receive, want.send) / 2) {
        *message = "window " + std::to_string(link->receive_window()) + " does not fit the buffers";
        return 1;
    }
    return 0;
}

// Whether this process may go beyond the system's maximum (CAP_NET_ADMIN).
bool may_force_buffers() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return false;
    const int bytes = 1 << 20;
    const bool forced = ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) == 0;
    ::close(fd);
    return forced;
}

TEST(UdpLinkBuffers, UnprivilegedEndpointsReportTheCap) {
    in_child([](std::string* message) {
        // Root without its capabilities, as an ordinary user would run.
        if (::geteuid() == 0 && (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)) {
            *message = "cannot drop root";
            return 1;
        }
        if (may_force_buffers()) {
            *message = "this process keeps CAP_NET_ADMIN: no cap to see";
            return 77;
        }
        return check_buffers(false, message);
    });
}

TEST(UdpLinkBuffers, PrivilegedEndpointsGetWhatTheyAsk) {
    if (!may_force_buffers()) GTEST_SKIP() << "needs CAP_NET_ADMIN (run as root)";
    std::string message;
    EXPECT_EQ(check_buffers(true, &message), 0) << message;
}

}  // namespace
}  // namespace xen2mx::link
