// The shm link and the system's protections, through the real libfabric:
// another user cannot attach to an endpoint, and a process whose memory the
// kernel will not let a peer read (ptrace policy: Yama, or a process that is
// not dumpable) still gets its large messages through, by the rings.
// Needs root, to run processes under another user id; exits 77 otherwise.
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
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

constexpr uid_t kNobody = 65534;

bool become_nobody() { return ::setgid(kNobody) == 0 && ::setuid(kNobody) == 0; }

uint8_t pattern(size_t i) { return static_cast<uint8_t>((i * 13 + (i >> 12)) & 0xff); }

TEST(ShmPrivileges, AnotherUserCannotAttach) {
    setenv("FI_XEN2MX_LINK", "shm", 1);
    setenv("FI_XEN2MX_PEER_TIMEOUT", "60000", 1);
    Pipe to_child;
    const pid_t child = spawn([&] {
        if (!become_nobody()) return 2;
        setenv("FI_XEN2MX_PEER_TIMEOUT", "1500", 1);
        Node node;
        if (node.open()) return 3;
        const fi_addr_t root = node.insert(to_child.get());
        const char data[] = "not for you";
        if (fi_tsend(node.ep.get(), data, sizeof data, nullptr, root, 1, nullptr) != 0) return 4;
        fi_cq_tagged_entry entry{};
        // Never reached: the send times out.
        return node.wait(&entry, 10s) == -FI_ETIMEDOUT ? 0 : 5;
    });
    Node node;
    ASSERT_EQ(node.open(), 0);
    char buffer[64] = {};
    ASSERT_EQ(fi_trecv(node.ep.get(), buffer, sizeof buffer, nullptr, FI_ADDR_UNSPEC, 1, 0, nullptr), 0);
    to_child.put(node.name);
    fi_cq_tagged_entry entry{};
    EXPECT_EQ(node.wait(&entry, 3s), -FI_ETIMEDOUT) << "a message from another user arrived";
    EXPECT_EQ(reap(child), 0);
    EXPECT_EQ(channel_mappings(), 0) << "the other user's memory is mapped here";
}

TEST(ShmPrivileges, LargeMessagesGoThroughTheRingsWhenReadingIsRefused) {
    setenv("FI_XEN2MX_LINK", "shm", 1);
    setenv("FI_XEN2MX_PEER_TIMEOUT", "20000", 1);
    char log_path[] = "/tmp/xen2mx-shm-log-XXXXXX";
    const int log_fd = ::mkstemp(log_path);
    ASSERT_GE(log_fd, 0);
    constexpr size_t kSize = (4 << 20) + 123;
    Pipe to_sender, to_receiver;
    // Processes that changed their user id are not dumpable: neither may
    // read the other's memory without CAP_SYS_PTRACE, which they no longer have.
    const pid_t receiver = spawn([&] {
        ::dup2(log_fd, 2);
        if (!become_nobody()) return 2;
        Node node;
        if (node.open()) return 3;
        to_sender.put(node.name);
        if (node.insert(to_receiver.get()) == FI_ADDR_NOTAVAIL) return 4;
        std::vector<uint8_t> in(kSize);
        if (fi_trecv(node.ep.get(), in.data(), in.size(), nullptr, FI_ADDR_UNSPEC, 3, 0, nullptr)) return 5;
        fi_cq_tagged_entry entry{};
        if (node.wait(&entry, 30s) != 0 || entry.len != kSize) return 6;
        for (size_t i = 0; i < kSize; ++i)
            if (in[i] != pattern(i)) return 7;
        node.idle(200ms);  // the NOTIFY leaves; the sender finishes
        return 0;
    });
    const pid_t sender = spawn([&] {
        if (!become_nobody()) return 2;
        Node node;
        if (node.open()) return 3;
        to_receiver.put(node.name);
        const fi_addr_t peer = node.insert(to_sender.get());
        std::vector<uint8_t> out(kSize);
        for (size_t i = 0; i < kSize; ++i) out[i] = pattern(i);
        if (fi_tsend(node.ep.get(), out.data(), out.size(), nullptr, peer, 3, nullptr)) return 4;
        fi_cq_tagged_entry entry{};
        return node.wait(&entry, 30s) == 0 ? 0 : 5;
    });
    EXPECT_EQ(reap(receiver), 0);
    EXPECT_EQ(reap(sender), 0);
    std::ifstream log(log_path);
    std::stringstream text;
    text << log.rdbuf();
    ::close(log_fd);
    ::unlink(log_path);
    EXPECT_NE(text.str().find("not permitted"), std::string::npos) << "no warning in: " << text.str();
}

}  // namespace

int main(int argc, char** argv) {
    if (::geteuid() != 0) {
        std::printf("SKIP: running processes under another user id needs root\n");
        return 77;
    }
    // Warnings on stderr, where the tests look for them.
    setenv("FI_LOG_LEVEL", "warn", 1);
    // libfabric loads its providers now, as root: the children that become
    // another user inherit them, whoever may read the directory they came from.
    fi_info* loaded = nullptr;
    if (fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, nullptr, &loaded) == 0) fi_freeinfo(loaded);
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
