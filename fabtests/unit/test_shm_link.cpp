// The shm link between processes, through the real libfabric: peers that
// die or close, and the shared memory that must not outlive them.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "process_node.hpp"

namespace {

using namespace std::chrono_literals;
using xen2mx::test::channel_mappings;
using xen2mx::test::Node;
using xen2mx::test::Pipe;
using xen2mx::test::reap;
using xen2mx::test::spawn;

class ShmLink : public testing::Test {
protected:
    void SetUp() override {
        setenv("FI_XEN2MX_LINK", "shm", 1);
        // Far longer than any test waits: an error that comes is the
        // channel's news, not a timeout.
        setenv("FI_XEN2MX_PEER_TIMEOUT", "60000", 1);
    }
};

uint8_t pattern(size_t n, size_t i) { return static_cast<uint8_t>((n * 37 + i * 11 + (i >> 10)) & 0xff); }

TEST_F(ShmLink, AKilledReceiverFailsTheLargeSendAtOnce) {
    Pipe to_child, to_parent;
    const pid_t child = spawn([&] {
        Node node;
        if (node.open()) return 2;
        to_parent.put(node.name);
        node.insert(to_child.get());
        // Takes part in the connection, never receives: killed meanwhile.
        for (;;) node.idle(100ms);
    });
    Node node;
    ASSERT_EQ(node.open(), 0);
    to_child.put(node.name);
    const fi_addr_t peer = node.insert(to_parent.get());
    ASSERT_NE(peer, FI_ADDR_NOTAVAIL);

    std::vector<uint8_t> large(4 << 20, 0x5a);
    int context = 0;
    ASSERT_EQ(fi_tsend(node.ep.get(), large.data(), large.size(), nullptr, peer, 7, &context), 0);
    node.idle(300ms);
    EXPECT_EQ(channel_mappings(), 1);
    ::kill(child, SIGKILL);
    EXPECT_EQ(reap(child), 128 + SIGKILL);

    const auto start = std::chrono::steady_clock::now();
    fi_cq_tagged_entry entry{};
    fi_cq_err_entry error{};
    EXPECT_EQ(node.wait(&entry, 10s, &error), -FI_ECONNABORTED);
    EXPECT_EQ(error.op_context, &context);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    char text[256] = {};
    fi_cq_strerror(node.cq.get(), error.prov_errno, error.err_data, text, sizeof text);
    EXPECT_NE(std::string(text).find("closed its endpoint or exited"), std::string::npos) << text;
    // The channel's memory went with it.
    EXPECT_EQ(channel_mappings(), 0);
}

TEST_F(ShmLink, WhatAPeerSentBeforeItDiedIsDelivered) {
    constexpr size_t kMessages = 200;
    Pipe to_child, to_parent;
    const pid_t child = spawn([&] {
        Node node;
        if (node.open()) return 2;
        to_parent.put(node.name);
        const fi_addr_t parent = node.insert(to_child.get());
        std::vector<std::vector<uint8_t>> sent;
        for (size_t n = 0; n < kMessages; ++n) {
            std::vector<uint8_t>& data = sent.emplace_back(1 + (n * 97) % 6000);
            for (size_t i = 0; i < data.size(); ++i) data[i] = pattern(n, i);
            while (fi_tsend(node.ep.get(), data.data(), data.size(), nullptr, parent, n, nullptr) == -FI_EAGAIN)
                node.idle(1ms);
        }
        for (size_t n = 0; n < kMessages; ++n) {
            fi_cq_tagged_entry entry{};
            if (node.wait(&entry, 10s) != 0) return 3;
        }
        std::_Exit(0);  // no close: as good as a crash for the peer
    });
    Node node;
    ASSERT_EQ(node.open(), 0);
    to_child.put(node.name);
    ASSERT_NE(node.insert(to_parent.get()), FI_ADDR_NOTAVAIL);
    // Progress (the connection) until the sender is gone; nothing is received yet.
    pid_t done = 0;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((done = ::waitpid(child, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
        node.idle(5ms);
    ASSERT_EQ(done, child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    node.idle(100ms);

    std::vector<uint8_t> buffer(8192);
    for (size_t n = 0; n < kMessages; ++n) {
        ASSERT_EQ(fi_trecv(node.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, n, 0, nullptr), 0);
        fi_cq_tagged_entry entry{};
        ASSERT_EQ(node.wait(&entry, 5s), 0) << "message " << n;
        ASSERT_EQ(entry.tag, n);
        ASSERT_EQ(entry.len, 1 + (n * 97) % 6000);
        for (size_t i = 0; i < entry.len; ++i) ASSERT_EQ(buffer[i], pattern(n, i)) << "message " << n << " byte " << i;
    }
    EXPECT_EQ(channel_mappings(), 0);
}

TEST_F(ShmLink, ClosedEndpointsLeaveNoSharedMemory) {
    {
        Node a, b;
        ASSERT_EQ(a.open(), 0);
        ASSERT_EQ(b.open(), 0);
        const fi_addr_t to_b = a.insert(b.name);
        ASSERT_NE(b.insert(a.name), FI_ADDR_NOTAVAIL);
        std::vector<uint8_t> out(3 << 20), in(3 << 20);
        for (size_t i = 0; i < out.size(); ++i) out[i] = pattern(1, i);
        ASSERT_EQ(fi_trecv(b.ep.get(), in.data(), in.size(), nullptr, FI_ADDR_UNSPEC, 1, 0, nullptr), 0);
        ASSERT_EQ(fi_tsend(a.ep.get(), out.data(), out.size(), nullptr, to_b, 1, nullptr), 0);
        fi_cq_tagged_entry entry{};
        int received = -1;
        for (auto deadline = std::chrono::steady_clock::now() + 10s;
             received != 0 && std::chrono::steady_clock::now() < deadline;) {
            a.idle(1ms);
            received = b.wait(&entry, 1ms);
        }
        ASSERT_EQ(received, 0);
        EXPECT_EQ(in, out);
        ASSERT_EQ(a.wait(&entry, 5s), 0);
        // One channel, mapped by both ends.
        EXPECT_EQ(channel_mappings(), 2);
    }
    EXPECT_EQ(channel_mappings(), 0);
}

}  // namespace
