// Messaging through the real libfabric: endpoints of one process exchange
// messages, over each link a process can use without privilege (udp on the
// loopback, shared memory, and both together as the default link chooses
// them), and the application sees exactly what libfabric promises (data
// intact and in order, completions with the right flags, lengths, tags,
// sources and errors).
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

#include "fabric_handles.hpp"

namespace {

using xen2mx::test::Handle;
using xen2mx::test::InfoPtr;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint32_t kVersion = FI_VERSION(1, 17);
constexpr auto kPatience = 20s;

std::vector<uint8_t> message(size_t n, size_t length) { return xen2mx::test::pattern(n, length); }

struct Peer {
    Handle<fid_av> av;
    Handle<fid_cq> tx;
    Handle<fid_cq> rx;
    Handle<fid_cntr> tx_cntr;
    Handle<fid_cntr> rx_cntr;
    Handle<fid_ep> ep;
    std::vector<uint8_t> name;
};

struct Setting {
    fi_ep_type type;
    const char* link;  // FI_XEN2MX_LINK
};

std::string setting_name(const testing::TestParamInfo<Setting>& info) {
    return std::string(info.param.type == FI_EP_RDM ? "RDM_" : "DGRAM_") + info.param.link;
}

class Messaging : public testing::TestWithParam<Setting> {
protected:
    void SetUp() override {
        // Ports of its own, so that this test does not meet others running beside it.
        port_base_ = std::to_string(40000 + (getpid() % 90) * 256);
        setenv("FI_XEN2MX_UDP_PORT_BASE", port_base_.c_str(), 1);
        setenv("FI_XEN2MX_PEER_TIMEOUT", "2000", 1);
        setenv("FI_XEN2MX_LINK", GetParam().link, 1);
        // The kernel module's link exists where the module is loaded (the
        // QEMU guests of tests/vm), nowhere else.
        if (std::string_view(GetParam().link) == "kmod" && access("/dev/xen2mx", F_OK) != 0)
            GTEST_SKIP() << "no /dev/xen2mx: the kmod link is tested in tests/vm";
        InfoPtr hints(fi_allocinfo());
        hints->fabric_attr->prov_name = strdup("xen2mx");
        hints->ep_attr->type = GetParam().type;
        hints->caps = FI_MSG | FI_TAGGED | FI_SOURCE | FI_DIRECTED_RECV | FI_MULTI_RECV;
        fi_info* info = nullptr;
        ASSERT_EQ(fi_getinfo(kVersion, nullptr, nullptr, 0, hints.get(), &info), 0);
        info_.reset(info);
        ASSERT_EQ(fi_fabric(info_->fabric_attr, fabric_.out(), nullptr), 0);
        ASSERT_EQ(fi_domain(fabric_.get(), info_.get(), domain_.out(), nullptr), 0);
    }

    size_t max_size() const { return info_->ep_attr->max_msg_size; }

    // rx_bind: extra flags for the receive CQ binding (FI_SELECTIVE_COMPLETION).
    void open_peer(Peer& peer, uint64_t rx_bind = 0) {
        fi_av_attr av_attr{};
        av_attr.type = FI_AV_TABLE;
        ASSERT_EQ(fi_av_open(domain_.get(), &av_attr, peer.av.out(), nullptr), 0);
        fi_cq_attr cq_attr{};
        cq_attr.format = FI_CQ_FORMAT_TAGGED;
        cq_attr.wait_obj = FI_WAIT_UNSPEC;
        ASSERT_EQ(fi_cq_open(domain_.get(), &cq_attr, peer.tx.out(), nullptr), 0);
        ASSERT_EQ(fi_cq_open(domain_.get(), &cq_attr, peer.rx.out(), nullptr), 0);
        fi_cntr_attr cntr_attr{};
        cntr_attr.wait_obj = FI_WAIT_UNSPEC;
        ASSERT_EQ(fi_cntr_open(domain_.get(), &cntr_attr, peer.tx_cntr.out(), nullptr), 0);
        ASSERT_EQ(fi_cntr_open(domain_.get(), &cntr_attr, peer.rx_cntr.out(), nullptr), 0);
        ASSERT_EQ(fi_endpoint(domain_.get(), info_.get(), peer.ep.out(), nullptr), 0);
        ASSERT_EQ(fi_ep_bind(peer.ep.get(), peer.av.id(), 0), 0);
        ASSERT_EQ(fi_ep_bind(peer.ep.get(), peer.tx.id(), FI_TRANSMIT), 0);
        ASSERT_EQ(fi_ep_bind(peer.ep.get(), peer.rx.id(), FI_RECV | rx_bind), 0);
        ASSERT_EQ(fi_ep_bind(peer.ep.get(), peer.tx_cntr.id(), FI_SEND), 0);
        ASSERT_EQ(fi_ep_bind(peer.ep.get(), peer.rx_cntr.id(), FI_RECV), 0);
        ASSERT_EQ(fi_enable(peer.ep.get()), 0);
        peer.name.resize(64);
        size_t len = peer.name.size();
        ASSERT_EQ(fi_getname(peer.ep.id(), peer.name.data(), &len), 0);
        peer.name.resize(len);
    }

    // Makes `from` know `to`; returns its fi_addr_t.
    fi_addr_t introduce(Peer& from, const Peer& to) {
        fi_addr_t addr = FI_ADDR_NOTAVAIL;
        EXPECT_EQ(fi_av_insert(from.av.get(), to.name.data(), 1, &addr, 0, nullptr), 1);
        return addr;
    }

    void open_pair() {
        ASSERT_NO_FATAL_FAILURE(open_peer(a_));
        ASSERT_NO_FATAL_FAILURE(open_peer(b_));
        a_to_b_ = introduce(a_, b_);
        b_to_a_ = introduce(b_, a_);
    }

    // Reads one completion (or error) from cq, making progress on every
    // endpoint in the meantime as an application would.
    int wait(fid_cq* cq, fi_cq_tagged_entry* entry, fi_cq_err_entry* error = nullptr, fi_addr_t* source = nullptr) {
        return xen2mx::test::read_one(cq, entry, error, {a_.tx.get(), a_.rx.get(), b_.tx.get(), b_.rx.get(),
                                                         c_.tx.get(), c_.rx.get()},
                                      kPatience, source);
    }

    // Sends a copy of data that lives as long as the test: the provider may
    // read a send buffer until the send completes.
    void send(Peer& from, fi_addr_t to, const std::vector<uint8_t>& bytes, bool tagged, uint64_t tag, void* context) {
        const std::vector<uint8_t>& data = sent_.emplace_back(bytes);
        const auto deadline = Clock::now() + kPatience;
        for (;;) {
            const ssize_t ret = tagged ? fi_tsend(from.ep.get(), data.data(), data.size(), nullptr, to, tag, context)
                                       : fi_send(from.ep.get(), data.data(), data.size(), nullptr, to, context);
            if (ret != -FI_EAGAIN || Clock::now() > deadline) {
                ASSERT_EQ(ret, 0);
                return;
            }
            fi_cq_read(from.tx.get(), nullptr, 0);
        }
    }

    // Makes progress on every endpoint until done() or the patience runs out.
    bool progress_until(const std::function<bool()>& done) {
        const auto deadline = Clock::now() + kPatience;
        while (!done()) {
            if (Clock::now() > deadline) return false;
            for (Peer* peer : {&a_, &b_, &c_}) {
                if (!peer->ep) continue;
                fi_cq_read(peer->tx.get(), nullptr, 0);
                fi_cq_read(peer->rx.get(), nullptr, 0);
            }
        }
        return true;
    }

    // fi_trecvmsg with probe flags (FI_PEEK, FI_CLAIM, FI_DISCARD), then its
    // completion, as wait() returns it.
    int probe(Peer& at, uint64_t tag, uint64_t flags, void* context, fi_cq_tagged_entry* entry,
              fi_cq_err_entry* error = nullptr, fi_addr_t* source = nullptr, void* buf = nullptr, size_t len = 0) {
        iovec iov{buf, len};
        fi_msg_tagged msg{};
        msg.msg_iov = buf ? &iov : nullptr;
        msg.iov_count = buf ? 1 : 0;
        msg.addr = FI_ADDR_UNSPEC;
        msg.tag = tag;
        msg.context = context;
        const ssize_t ret = fi_trecvmsg(at.ep.get(), &msg, flags);
        if (ret) return static_cast<int>(ret);
        return wait(at.rx.get(), entry, error, source);
    }

    // Peeks until a message with this tag has arrived.
    int peek_until_there(Peer& at, uint64_t tag, void* context, fi_cq_tagged_entry* entry, fi_addr_t* source,
                         uint64_t flags = FI_PEEK) {
        const auto deadline = Clock::now() + kPatience;
        for (;;) {
            fi_cq_err_entry error{};
            const int ret = probe(at, tag, flags, context, entry, &error, source);
            if (ret != -FI_ENOMSG) return ret;
            EXPECT_EQ(error.op_context, context);
            if (Clock::now() > deadline) return -FI_ETIMEDOUT;
            fi_cq_read(a_.tx.get(), nullptr, 0);
        }
    }

    std::deque<std::vector<uint8_t>> sent_;
    std::string port_base_;
    InfoPtr info_;
    Handle<fid_fabric> fabric_;
    Handle<fid_domain> domain_;
    Peer a_, b_, c_;
    fi_addr_t a_to_b_ = FI_ADDR_NOTAVAIL;
    fi_addr_t b_to_a_ = FI_ADDR_NOTAVAIL;
};

// What only reliable endpoints promise: order, and errors for unreachable peers.
class ReliableMessaging : public Messaging {};

std::vector<size_t> sizes_for(size_t max) {
    std::vector<size_t> sizes;
    for (size_t size : {size_t{0}, size_t{1}, size_t{31}, size_t{32}, size_t{33}, size_t{127}, size_t{128},
                        size_t{129}, size_t{1000}, size_t{4096}, size_t{8191}, size_t{8192}, size_t{8193},
                        size_t{32767}, size_t{32768}, size_t{32769}, size_t{100000}, size_t{1} << 20,
                        (size_t{1} << 22) + 3}) {
        if (size <= max) sizes.push_back(size);
    }
    return sizes;
}

TEST_P(Messaging, EverySizeArrivesIntactWithTheRightCompletions) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    size_t n = 0;
    for (bool tagged : {true, false}) {
        for (size_t size : sizes_for(max_size())) {
            ++n;
            const auto data = message(n, size);
            std::vector<uint8_t> buffer(size + 16, 0xee);
            int rx_context = 0;
            int tx_context = 0;
            const uint64_t tag = 0xabcd0000 + n;
            if (tagged)
                ASSERT_EQ(fi_trecv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, tag, 0,
                                   &rx_context), 0);
            else
                ASSERT_EQ(fi_recv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, &rx_context), 0);
            ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, data, tagged, tag, &tx_context));

            fi_cq_tagged_entry entry{};
            fi_addr_t source = FI_ADDR_NOTAVAIL;
            ASSERT_EQ(wait(b_.rx.get(), &entry, nullptr, &source), 0) << "size " << size;
            EXPECT_EQ(entry.op_context, &rx_context);
            EXPECT_EQ(entry.flags, FI_RECV | (tagged ? FI_TAGGED : FI_MSG));
            EXPECT_EQ(entry.len, size);
            if (tagged) {
                EXPECT_EQ(entry.tag, tag);
            }
            EXPECT_EQ(source, b_to_a_) << "FI_SOURCE names the sender";
            ASSERT_TRUE(std::equal(data.begin(), data.end(), buffer.begin())) << "size " << size;
            EXPECT_EQ(buffer[size], 0xee) << "nothing written past the message";

            ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
            EXPECT_EQ(entry.op_context, &tx_context);
            EXPECT_EQ(entry.flags, FI_SEND | (tagged ? FI_TAGGED : FI_MSG));
        }
    }
    EXPECT_EQ(fi_cntr_read(a_.tx_cntr.get()), n);
}

TEST_P(Messaging, UnexpectedMessagesWaitForTheirReceive) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    const auto sizes = sizes_for(max_size());
    for (size_t i = 0; i < sizes.size(); ++i)
        ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(i, sizes[i]), true, 100 + i, nullptr));
    // Let them arrive before anything is posted.
    for (int round = 0; round < 200; ++round) {
        fi_cq_read(b_.rx.get(), nullptr, 0);
        fi_cq_read(a_.tx.get(), nullptr, 0);
        std::this_thread::sleep_for(1ms);
    }
    // Posted in reverse order: each still finds its own message by tag.
    for (size_t k = sizes.size(); k-- > 0;) {
        std::vector<uint8_t> buffer(sizes[k]);
        ASSERT_EQ(fi_trecv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, 100 + k, 0, nullptr),
                  0);
        fi_cq_tagged_entry entry{};
        ASSERT_EQ(wait(b_.rx.get(), &entry), 0) << "size " << sizes[k];
        EXPECT_EQ(entry.len, sizes[k]);
        EXPECT_EQ(buffer, message(k, sizes[k]));
    }
}

TEST_P(ReliableMessaging, MessagesFromOneSenderMatchInOrder) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    constexpr size_t kCount = 60;
    std::vector<std::vector<uint8_t>> buffers(kCount, std::vector<uint8_t>(70000));
    for (size_t i = 0; i < kCount; ++i)
        ASSERT_EQ(fi_trecv(b_.ep.get(), buffers[i].data(), buffers[i].size(), nullptr, FI_ADDR_UNSPEC, 7, 0, nullptr),
                  0);
    const size_t sizes[] = {5, 100, 3000, 40000, 65000};
    for (size_t i = 0; i < kCount; ++i)
        ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(i, sizes[i % 5]), true, 7, nullptr));
    for (size_t i = 0; i < kCount; ++i) {
        fi_cq_tagged_entry entry{};
        ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    }
    for (size_t i = 0; i < kCount; ++i) {
        const auto expected = message(i, sizes[i % 5]);
        EXPECT_TRUE(std::equal(expected.begin(), expected.end(), buffers[i].begin())) << "message " << i;
    }
}

TEST_P(Messaging, TagsMatchUnderTheIgnoreMask) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    uint8_t wide[8] = {};
    uint8_t exact[8] = {};
    ASSERT_EQ(fi_trecv(b_.ep.get(), exact, sizeof exact, nullptr, FI_ADDR_UNSPEC, 0x1300, 0, nullptr), 0);
    ASSERT_EQ(fi_trecv(b_.ep.get(), wide, sizeof wide, nullptr, FI_ADDR_UNSPEC, 0x1200, 0xff, nullptr), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, {1, 1, 1}, true, 0x12ab, nullptr));
    fi_cq_tagged_entry entry{};
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.tag, 0x12abu);
    EXPECT_EQ(entry.buf == nullptr || entry.buf == wide, true);
    EXPECT_EQ(wide[0], 1);
    EXPECT_EQ(exact[0], 0) << "0x12ab does not match 0x1300";
    // An untagged message matches no tagged receive.
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, {2}, false, 0, nullptr));
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, {3}, true, 0x1300, nullptr));
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(exact[0], 3);
}

TEST_P(Messaging, DirectedReceiveTakesOnlyItsSender) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    ASSERT_NO_FATAL_FAILURE(open_peer(c_));
    const fi_addr_t c_to_b = introduce(c_, b_);
    const fi_addr_t b_to_c = introduce(b_, c_);
    uint8_t from_c[4] = {};
    ASSERT_EQ(fi_trecv(b_.ep.get(), from_c, sizeof from_c, nullptr, b_to_c, 9, 0, nullptr), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, {0xa}, true, 9, nullptr));
    ASSERT_NO_FATAL_FAILURE(send(c_, c_to_b, {0xc}, true, 9, nullptr));
    fi_cq_tagged_entry entry{};
    fi_addr_t source = FI_ADDR_NOTAVAIL;
    ASSERT_EQ(wait(b_.rx.get(), &entry, nullptr, &source), 0);
    EXPECT_EQ(from_c[0], 0xc);
    EXPECT_EQ(source, b_to_c);
    // a's message waits for a receive that takes it.
    uint8_t any[4] = {};
    ASSERT_EQ(fi_trecv(b_.ep.get(), any, sizeof any, nullptr, FI_ADDR_UNSPEC, 9, 0, nullptr), 0);
    ASSERT_EQ(wait(b_.rx.get(), &entry, nullptr, &source), 0);
    EXPECT_EQ(any[0], 0xa);
    EXPECT_EQ(source, b_to_a_);
}

TEST_P(Messaging, TruncationIsReportedWithTheLostLength) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    for (size_t size : sizes_for(max_size())) {
        if (size < 20) continue;
        std::vector<uint8_t> buffer(size / 2 + 1, 0xee);
        int context = 0;
        ASSERT_EQ(fi_trecv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, 5, 0, &context), 0);
        const auto data = message(size, size);
        ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, data, true, 5, nullptr));
        fi_cq_tagged_entry entry{};
        fi_cq_err_entry error{};
        ASSERT_EQ(wait(b_.rx.get(), &entry, &error), -FI_ETRUNC) << "size " << size;
        EXPECT_EQ(error.op_context, &context);
        EXPECT_EQ(error.len, buffer.size());
        EXPECT_EQ(error.olen, size - buffer.size());
        EXPECT_TRUE(std::equal(buffer.begin(), buffer.end(), data.begin())) << "what fits is delivered";
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0) << "the sender sees success";
    }
}

TEST_P(Messaging, RemoteCqDataArrivesWithItsFlag) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    for (size_t size : {size_t{0}, size_t{24}, size_t{25}, size_t{5000}, size_t{200000}}) {
        if (size > max_size()) continue;
        std::vector<uint8_t> buffer(size);
        ASSERT_EQ(fi_trecv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, 1, 0, nullptr), 0);
        const auto& data = sent_.emplace_back(message(size, size));
        const uint64_t cq_data = 0x0123456789abcdefull ^ size;
        ASSERT_EQ(fi_tsenddata(a_.ep.get(), data.data(), size, nullptr, cq_data, a_to_b_, 1, nullptr), 0);
        fi_cq_tagged_entry entry{};
        ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
        EXPECT_TRUE(entry.flags & FI_REMOTE_CQ_DATA);
        EXPECT_EQ(entry.data, cq_data);
        EXPECT_EQ(entry.len, size);
        EXPECT_EQ(buffer, data);
    }
    // Without data, no flag.
    uint8_t byte = 0;
    ASSERT_EQ(fi_trecv(b_.ep.get(), &byte, 1, nullptr, FI_ADDR_UNSPEC, 1, 0, nullptr), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, {4}, true, 1, nullptr));
    fi_cq_tagged_entry entry{};
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_FALSE(entry.flags & FI_REMOTE_CQ_DATA);
}

TEST_P(Messaging, InjectNeedsNoBufferAndGivesNoCompletion) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> data = message(1, 1000);
    uint8_t buffer[1000] = {};
    ASSERT_EQ(fi_trecv(b_.ep.get(), buffer, sizeof buffer, nullptr, FI_ADDR_UNSPEC, 2, 0, nullptr), 0);
    ASSERT_EQ(fi_tinject(a_.ep.get(), data.data(), data.size(), a_to_b_, 2), 0);
    std::fill(data.begin(), data.end(), 0);  // the buffer is the caller's again
    fi_cq_tagged_entry entry{};
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_TRUE(std::equal(buffer, buffer + sizeof buffer, message(1, 1000).begin()));
    EXPECT_EQ(fi_cq_read(a_.tx.get(), &entry, 1), -FI_EAGAIN) << "inject has no completion";
    EXPECT_EQ(fi_cntr_wait(a_.tx_cntr.get(), 1, 5000), 0) << "but it is counted";
}

TEST_P(Messaging, CancelReportsTheReceive) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    uint8_t buffer[16];
    int context = 0;
    ASSERT_EQ(fi_trecv(b_.ep.get(), buffer, sizeof buffer, nullptr, FI_ADDR_UNSPEC, 77, 0, &context), 0);
    ASSERT_EQ(fi_cancel(b_.ep.id(), &context), 0);
    EXPECT_EQ(fi_cancel(b_.ep.id(), &context), -FI_ENOENT);
    fi_cq_tagged_entry entry{};
    fi_cq_err_entry error{};
    ASSERT_EQ(wait(b_.rx.get(), &entry, &error), -FI_ECANCELED);
    EXPECT_EQ(error.op_context, &context);
}

TEST_P(Messaging, BlockingReadWakesForAMessage) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    uint8_t buffer[64] = {};
    ASSERT_EQ(fi_trecv(b_.ep.get(), buffer, sizeof buffer, nullptr, FI_ADDR_UNSPEC, 3, 0, nullptr), 0);
    std::thread sender([&] {
        std::this_thread::sleep_for(100ms);
        const auto& data = sent_.emplace_back(message(3, 64));
        EXPECT_EQ(fi_tsend(a_.ep.get(), data.data(), data.size(), nullptr, a_to_b_, 3, nullptr), 0);
        fi_cq_tagged_entry done{};
        const auto deadline = Clock::now() + kPatience;
        while (fi_cq_read(a_.tx.get(), &done, 1) == -FI_EAGAIN && Clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
    });
    fi_cq_tagged_entry entry{};
    EXPECT_EQ(fi_cq_sread(b_.rx.get(), &entry, 1, nullptr, 20000), 1);
    sender.join();
    EXPECT_EQ(buffer[10], message(3, 11)[10]);
}

TEST_P(ReliableMessaging, SilentPeerGivesAnErrorNotAHang) {
    ASSERT_NO_FATAL_FAILURE(open_peer(a_));
    // An endpoint id nobody holds.
    fi_addr_t nobody = FI_ADDR_NOTAVAIL;
    ASSERT_EQ(fi_av_insertsvc(a_.av.get(), "127.0.0.1", "250", &nobody, 0, nullptr), 1);
    int context = 0;
    const auto& data = sent_.emplace_back(message(0, 10));
    ASSERT_EQ(fi_tsend(a_.ep.get(), data.data(), data.size(), nullptr, nobody, 1, &context), 0);
    const auto start = Clock::now();
    fi_cq_tagged_entry entry{};
    fi_cq_err_entry error{};
    EXPECT_EQ(wait(a_.tx.get(), &entry, &error), -FI_ETIMEDOUT);
    EXPECT_EQ(error.op_context, &context);
    EXPECT_GE(Clock::now() - start, 1500ms) << "FI_XEN2MX_PEER_TIMEOUT is 2000 ms";
    // The error names the peer that went silent.
    char text[256] = {};
    fi_cq_strerror(a_.tx.get(), error.prov_errno, error.err_data, text, sizeof text);
    EXPECT_NE(std::string(text).find("peer did not answer"), std::string::npos) << text;
    EXPECT_NE(std::string(text).find("fi_xen2mx://02:00:7f:00:00:01/250"), std::string::npos) << text;

    // An injected send to it fails too, counted on the send counter but
    // without an error entry: it has no context to carry.
    const uint64_t errors = fi_cntr_readerr(a_.tx_cntr.get());
    ASSERT_EQ(fi_tinject(a_.ep.get(), data.data(), data.size(), nobody, 2), 0);
    EXPECT_TRUE(progress_until([&] { return fi_cntr_readerr(a_.tx_cntr.get()) > errors; }));
    EXPECT_EQ(fi_cq_read(a_.tx.get(), &entry, 1), -FI_EAGAIN) << "no entry for an injected send";
}

// A peer that closed its endpoint: over the kmod link its host's kernel
// answers the frames sent to it with a nack, and the sender gets an error
// at once, not at the peer timeout. Over udp nobody answers for a closed
// endpoint (the silent peer above); over shared memory a send is done once
// the peer's ring has it.
TEST_P(ReliableMessaging, ClosedPeerGivesAFastError) {
    const std::string_view link = GetParam().link;
    if (link == "udp" || link == "shm" || (link == "auto" && access("/dev/xen2mx", F_OK) != 0))
        GTEST_SKIP() << "only the kernel module answers for a closed endpoint";
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> buffer(100);
    int recv_context = 0, context = 0;
    ASSERT_EQ(fi_trecv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, 1, 0, &recv_context), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(1, 10), true, 1, &context));
    fi_cq_tagged_entry entry{};
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);

    ASSERT_EQ(b_.ep.close(), 0);
    const auto start = Clock::now();
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(2, 10), true, 2, &context));
    fi_cq_err_entry error{};
    EXPECT_EQ(wait(a_.tx.get(), &entry, &error), -FI_ECONNABORTED);
    EXPECT_EQ(error.op_context, &context);
    EXPECT_LT(Clock::now() - start, 1000ms) << "FI_XEN2MX_PEER_TIMEOUT is 2000 ms: this was not the timeout";
}

// Control progress is automatic: the connection a first send sets up is
// completed without the sender calling in again, so a message injected just
// before the sender goes off computing reaches a peer that is waiting for it.
TEST_P(ReliableMessaging, FirstMessageToAPeerArrivesWhileTheSenderIsIdle) {
    ASSERT_EQ(info_->domain_attr->data_progress, FI_PROGRESS_MANUAL);
    ASSERT_NO_FATAL_FAILURE(open_pair());
    for (bool inject : {true, false}) {
        SCOPED_TRACE(inject ? "fi_tinject" : "fi_tsend");
        std::vector<uint8_t> buffer(64, 0xee);
        ASSERT_EQ(fi_trecv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, 9, 0, nullptr), 0);
        if (!inject) {
            // A new peer again: a third endpoint, unknown to b so far.
            ASSERT_NO_FATAL_FAILURE(open_peer(c_));
            const fi_addr_t c_to_b = introduce(c_, b_);
            const auto& data = sent_.emplace_back(message(2, 40));
            ASSERT_EQ(fi_tsend(c_.ep.get(), data.data(), data.size(), nullptr, c_to_b, 9, nullptr), 0);
        } else {
            const auto& data = message(1, 40);
            ASSERT_EQ(fi_tinject(a_.ep.get(), data.data(), data.size(), a_to_b_, 9), 0);
        }
        // Only the receiver makes progress from now on.
        fi_cq_tagged_entry entry{};
        ssize_t n = -FI_EAGAIN;
        const auto deadline = Clock::now() + 3s;
        while (n == -FI_EAGAIN && Clock::now() < deadline) n = fi_cq_read(b_.rx.get(), &entry, 1);
        ASSERT_EQ(n, 1) << "the message waits for its sender to call in again";
        EXPECT_EQ(entry.len, 40u);
        buffer.resize(40);
        EXPECT_EQ(buffer, message(inject ? 1 : 2, 40));
    }
    fi_cq_tagged_entry entry{};
    EXPECT_EQ(wait(c_.tx.get(), &entry), 0) << "the send completes once its sender reads its queue";
}

// An endpoint whose application stays away longer than the peer timeout
// (2000 ms here: a rank computing) still answers its peers: it takes their
// connection, acks their messages, pulls into the receive it posted before
// leaving, and serves the pulls of the large send it made before leaving.
TEST_P(ReliableMessaging, AnEndpointThatDoesNotCallInStillAnswersItsPeers) {
    ASSERT_EQ(info_->domain_attr->data_progress, FI_PROGRESS_MANUAL);
    ASSERT_NO_FATAL_FAILURE(open_pair());
    // Reads one entry of cq, making progress on its endpoint alone, for up to `patience`.
    auto read_alone = [](fid_cq* cq, std::chrono::milliseconds patience) {
        fi_cq_tagged_entry entry{};
        const auto deadline = Clock::now() + patience;
        ssize_t n = -FI_EAGAIN;
        while (n == -FI_EAGAIN && Clock::now() < deadline) n = fi_cq_read(cq, &entry, 1);
        if (n == -FI_EAVAIL) {
            fi_cq_err_entry error{};
            fi_cq_readerr(cq, &error, 0);
            return -error.err;
        }
        return static_cast<int>(n);
    };
    const size_t large = size_t{1} << 20;

    // The receiver is away: b posts a large receive and leaves; a sends a
    // large message to it and a small one nobody waits for yet.
    std::vector<uint8_t> big(large, 0);
    ASSERT_EQ(fi_trecv(b_.ep.get(), big.data(), big.size(), nullptr, FI_ADDR_UNSPEC, 5, 0, nullptr), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(5, large), true, 5, nullptr));
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(6, 100), true, 6, nullptr));
    EXPECT_EQ(read_alone(a_.tx.get(), 4000ms), 1) << "the large send";
    EXPECT_EQ(read_alone(a_.tx.get(), 4000ms), 1) << "the small send";
    // b comes back: both messages are there.
    EXPECT_EQ(read_alone(b_.rx.get(), 1000ms), 1);
    EXPECT_EQ(big, message(5, large));
    std::vector<uint8_t> small(100, 0);
    ASSERT_EQ(fi_trecv(b_.ep.get(), small.data(), small.size(), nullptr, FI_ADDR_UNSPEC, 6, 0, nullptr), 0);
    EXPECT_EQ(read_alone(b_.rx.get(), 1000ms), 1);
    EXPECT_EQ(small, message(6, 100));

    // The sender is away: a sends a large message and leaves; b pulls it.
    std::fill(big.begin(), big.end(), 0);
    ASSERT_EQ(fi_trecv(b_.ep.get(), big.data(), big.size(), nullptr, FI_ADDR_UNSPEC, 7, 0, nullptr), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(7, large), true, 7, nullptr));
    EXPECT_EQ(read_alone(b_.rx.get(), 4000ms), 1);
    EXPECT_EQ(big, message(7, large));
    EXPECT_EQ(read_alone(a_.tx.get(), 1000ms), 1);
}

TEST_P(ReliableMessaging, WrongKeyIsRefused) {
    setenv("FI_XEN2MX_KEY", "1234", 1);
    ASSERT_NO_FATAL_FAILURE(open_peer(a_));
    setenv("FI_XEN2MX_KEY", "5678", 1);
    ASSERT_NO_FATAL_FAILURE(open_peer(b_));
    unsetenv("FI_XEN2MX_KEY");
    a_to_b_ = introduce(a_, b_);
    int context = 0;
    ASSERT_EQ(fi_tsend(a_.ep.get(), "x", 1, nullptr, a_to_b_, 1, &context), 0);
    fi_cq_tagged_entry entry{};
    fi_cq_err_entry error{};
    EXPECT_EQ(wait(a_.tx.get(), &entry, &error), -FI_ECONNREFUSED);
    EXPECT_EQ(error.op_context, &context);
}

// ------------------------------------------------------------------ probes

// Sizes of every class a probe meets on either endpoint type (large ones
// are in ReliableMessaging).
std::vector<size_t> probe_sizes() { return {0, 10, 100, 5000, 30000}; }

TEST_P(Messaging, PeekDescribesAWaitingMessageAndLeavesIt) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    uint64_t n = 0;
    for (size_t size : probe_sizes()) {
        ++n;
        SCOPED_TRACE("size " + std::to_string(size));
        const uint64_t tag = 0x9e000 + n;
        const uint64_t cq_data = 0x5eed000000000000ull + n;
        const auto& data = sent_.emplace_back(message(n, size));
        ASSERT_EQ(fi_tsenddata(a_.ep.get(), data.data(), size, nullptr, cq_data, a_to_b_, tag, nullptr), 0);

        fi_context peek_context{};
        fi_cq_tagged_entry entry{};
        fi_addr_t source = FI_ADDR_NOTAVAIL;
        ASSERT_EQ(peek_until_there(b_, tag, &peek_context, &entry, &source), 0);
        EXPECT_EQ(entry.op_context, &peek_context);
        EXPECT_EQ(entry.flags, uint64_t{FI_TAGGED | FI_RECV | FI_REMOTE_CQ_DATA});
        EXPECT_EQ(entry.len, size) << "the message's length";
        EXPECT_EQ(entry.buf, nullptr) << "no data with the peek";
        EXPECT_EQ(entry.tag, tag);
        EXPECT_EQ(entry.data, cq_data);
        EXPECT_EQ(source, b_to_a_);
        EXPECT_EQ(fi_cntr_read(b_.rx_cntr.get()), n - 1) << "a peek receives nothing";

        // Still there for the receive.
        std::vector<uint8_t> buffer(size + 1, 0xee);
        ASSERT_EQ(fi_trecv(b_.ep.get(), buffer.data(), size, nullptr, FI_ADDR_UNSPEC, tag, 0, nullptr), 0);
        ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
        EXPECT_EQ(entry.len, size);
        EXPECT_EQ(entry.data, cq_data);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), buffer.begin()));
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);

        fi_cq_err_entry error{};
        EXPECT_EQ(probe(b_, tag, FI_PEEK, &peek_context, &entry, &error), -FI_ENOMSG) << "taken";
        EXPECT_EQ(error.op_context, &peek_context);
        EXPECT_EQ(error.err, FI_ENOMSG);
        EXPECT_EQ(error.flags & (FI_TAGGED | FI_RECV), uint64_t{FI_TAGGED | FI_RECV});
    }
    EXPECT_EQ(fi_cntr_read(b_.rx_cntr.get()), n);
}

TEST_P(Messaging, ClaimedMessageGoesToItsClaim) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    uint64_t n = 0;
    for (size_t size : probe_sizes()) {
        n += 2;
        SCOPED_TRACE("size " + std::to_string(size));
        const uint64_t tag = 0xc1a1;
        ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(n, size), true, tag, nullptr));
        ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(n + 1, size), true, tag, nullptr));

        fi_context claim{};
        fi_cq_tagged_entry entry{};
        ASSERT_EQ(peek_until_there(b_, tag, &claim, &entry, nullptr, FI_PEEK | FI_CLAIM), 0);
        EXPECT_EQ(entry.op_context, &claim);
        EXPECT_EQ(entry.len, size);

        // The claimed first message is no longer matched: the receive gets the second.
        std::vector<uint8_t> second(size);
        ASSERT_EQ(fi_trecv(b_.ep.get(), second.data(), size, nullptr, FI_ADDR_UNSPEC, tag, 0, nullptr), 0);
        ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
        EXPECT_EQ(second, message(n + 1, size));

        std::vector<uint8_t> first(size);
        ASSERT_EQ(probe(b_, tag, FI_CLAIM, &claim, &entry, nullptr, nullptr, first.data(), size), 0);
        EXPECT_EQ(entry.op_context, &claim);
        EXPECT_EQ(entry.flags, uint64_t{FI_TAGGED | FI_RECV});
        EXPECT_EQ(entry.len, size);
        EXPECT_EQ(entry.tag, tag);
        EXPECT_EQ(first, message(n, size));
        EXPECT_EQ(probe(b_, tag, FI_CLAIM, &claim, &entry, nullptr, nullptr, first.data(), size), -FI_ENOMSG)
            << "claimed once";
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    }
    EXPECT_EQ(fi_cntr_read(b_.rx_cntr.get()), 2 * probe_sizes().size());
}

TEST_P(Messaging, DiscardDropsTheMessage) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    uint64_t n = 0;
    for (size_t size : probe_sizes()) {
        for (bool by_claim : {false, true}) {
            ++n;
            SCOPED_TRACE("size " + std::to_string(size) + (by_claim ? ", claimed first" : ""));
            const uint64_t tag = 0xd00 + n;
            ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(n, size), true, tag, nullptr));
            fi_context context{};
            fi_cq_tagged_entry entry{};
            const uint64_t flags = by_claim ? FI_PEEK | FI_CLAIM : FI_PEEK | FI_DISCARD;
            ASSERT_EQ(peek_until_there(b_, tag, &context, &entry, nullptr, flags), 0);
            EXPECT_EQ(entry.len, size);
            if (by_claim) {
                // The buffers of a discard are ignored.
                ASSERT_EQ(probe(b_, tag, FI_CLAIM | FI_DISCARD, &context, &entry), 0);
                EXPECT_EQ(entry.op_context, &context);
                EXPECT_EQ(entry.flags, uint64_t{FI_TAGGED | FI_RECV});
                EXPECT_EQ(entry.len, 0u) << "nothing delivered";
            }
            ASSERT_EQ(wait(a_.tx.get(), &entry), 0) << "the sender is done";
            fi_cq_err_entry error{};
            EXPECT_EQ(probe(b_, tag, FI_PEEK, &context, &entry, &error), -FI_ENOMSG) << "gone";
        }
    }
    EXPECT_EQ(fi_cntr_read(b_.rx_cntr.get()), n) << "a discarded message counts as received";
}

// Rendezvous messages: a peek pulls no more than the CQ data, the claim
// pulls the rest, and a discard completes the send without a pull.
TEST_P(ReliableMessaging, ProbesOfLargeMessages) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    const size_t size = (size_t{1} << 20) + 5;
    const auto& data = sent_.emplace_back(message(1, size));
    int tx_claimed = 0;
    int tx_discarded = 0;
    ASSERT_EQ(fi_tsenddata(a_.ep.get(), data.data(), size, nullptr, 0xfeed, a_to_b_, 1, &tx_claimed), 0);
    ASSERT_EQ(fi_tsenddata(a_.ep.get(), data.data(), size, nullptr, 0xbeef, a_to_b_, 2, &tx_discarded), 0);

    fi_context claim{};
    fi_cq_tagged_entry entry{};
    ASSERT_EQ(peek_until_there(b_, 1, &claim, &entry, nullptr, FI_PEEK | FI_CLAIM), 0);
    EXPECT_EQ(entry.len, size);
    EXPECT_EQ(entry.data, 0xfeedu);
    EXPECT_TRUE(entry.flags & FI_REMOTE_CQ_DATA);
    fi_context discard{};
    ASSERT_EQ(peek_until_there(b_, 2, &discard, &entry, nullptr, FI_PEEK | FI_DISCARD), 0);
    EXPECT_EQ(entry.len, size);
    EXPECT_EQ(entry.data, 0xbeefu);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_EQ(entry.op_context, &tx_discarded) << "the discarded send completes first: nothing to pull";
    EXPECT_EQ(fi_cq_read(a_.tx.get(), &entry, 1), -FI_EAGAIN) << "the claimed one waits for its receive";

    std::vector<uint8_t> buffer(size);
    ASSERT_EQ(probe(b_, 1, FI_CLAIM, &claim, &entry, nullptr, nullptr, buffer.data(), size), 0);
    EXPECT_EQ(entry.len, size);
    EXPECT_EQ(entry.data, 0xfeedu);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), buffer.begin()));
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_EQ(entry.op_context, &tx_claimed);
}

// ------------------------------------------------------------------ multi-receive buffers

TEST_P(Messaging, MultiRecvPacksMessagesIntoOneBuffer) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    size_t min_free = 1024;
    ASSERT_EQ(fi_setopt(b_.ep.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &min_free, sizeof min_free), 0);
    std::vector<uint8_t> buffer(4096 + 16, 0xee);
    iovec iov{buffer.data(), 4096};
    fi_msg msg{};
    msg.msg_iov = &iov;
    msg.iov_count = 1;
    msg.addr = FI_ADDR_UNSPEC;
    int multi_context = 0;
    msg.context = &multi_context;
    ASSERT_EQ(fi_recvmsg(b_.ep.get(), &msg, FI_MULTI_RECV), 0);
    std::vector<uint8_t> next(600, 0xee);
    int next_context = 0;
    ASSERT_EQ(fi_recv(b_.ep.get(), next.data(), next.size(), nullptr, FI_ADDR_UNSPEC, &next_context), 0);

    const size_t sizes[] = {1000, 0, 1000, 1000, 500, 600};
    size_t offset = 0;
    for (size_t i = 0; i < 6; ++i) {
        SCOPED_TRACE("message " + std::to_string(i));
        ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(i, sizes[i]), false, 0, nullptr));
        fi_cq_tagged_entry entry{};
        ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
        EXPECT_EQ(entry.len, sizes[i]);
        if (i < 5) {
            EXPECT_EQ(entry.op_context, &multi_context);
            EXPECT_EQ(entry.buf, buffer.data() + offset);
            // 3500 bytes used by the fifth: 596 left, fewer than 1024.
            EXPECT_EQ(entry.flags, uint64_t{FI_RECV | FI_MSG} | (i == 4 ? FI_MULTI_RECV : 0));
            const auto expected = message(i, sizes[i]);
            EXPECT_TRUE(std::equal(expected.begin(), expected.end(), buffer.begin() + offset));
            offset += sizes[i];
        } else {
            EXPECT_EQ(entry.op_context, &next_context) << "the buffer was released";
            EXPECT_EQ(entry.flags, uint64_t{FI_RECV | FI_MSG});
            EXPECT_EQ(next, message(i, 600));
        }
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    }
    EXPECT_EQ(buffer[4096], 0xee);
    // Tagged messages never go to a multi-receive buffer.
    fi_msg_tagged tmsg{};
    tmsg.msg_iov = &iov;
    tmsg.iov_count = 1;
    EXPECT_EQ(fi_trecvmsg(b_.ep.get(), &tmsg, FI_MULTI_RECV), -FI_EBADFLAGS);
}

// FI_MULTI_RECV as the default receive flag; a message that does not fit
// releases the buffer with an entry of its own.
TEST_P(Messaging, MultiRecvFromTheOpFlagAndAReleaseOfItsOwn) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    size_t min_free = 0;
    size_t len = sizeof min_free;
    ASSERT_EQ(fi_getopt(b_.ep.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &min_free, &len), 0);
    EXPECT_EQ(min_free, 128u) << "the documented default";
    uint64_t flags = FI_RECV | FI_MULTI_RECV;
    ASSERT_EQ(fi_control(b_.ep.id(), FI_SETOPSFLAG, &flags), 0);
    std::vector<uint8_t> buffer(1000);
    int multi_context = 0;
    ASSERT_EQ(fi_recv(b_.ep.get(), buffer.data(), buffer.size(), nullptr, FI_ADDR_UNSPEC, &multi_context), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(1, 700), false, 0, nullptr));
    fi_cq_tagged_entry entry{};
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.buf, buffer.data());
    EXPECT_EQ(entry.flags, uint64_t{FI_RECV | FI_MSG});
    // 300 bytes left, more than 128: kept, but 400 does not fit.
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(2, 400), false, 0, nullptr));
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.op_context, &multi_context);
    EXPECT_EQ(entry.flags, uint64_t{FI_MULTI_RECV}) << "a release alone";
    EXPECT_EQ(entry.len, 0u);
    // Tagged receives are not affected by the default.
    std::vector<uint8_t> tagged(400);
    ASSERT_EQ(fi_trecv(b_.ep.get(), tagged.data(), tagged.size(), nullptr, FI_ADDR_UNSPEC, 3, 0, nullptr), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(3, 400), true, 3, nullptr));
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.flags, uint64_t{FI_RECV | FI_TAGGED});
    EXPECT_EQ(tagged, message(3, 400));
    // The 400-byte message waited for the next buffer.
    std::vector<uint8_t> second(1000);
    ASSERT_EQ(fi_recv(b_.ep.get(), second.data(), second.size(), nullptr, FI_ADDR_UNSPEC, &multi_context), 0);
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.buf, second.data());
    EXPECT_EQ(entry.len, 400u);
    EXPECT_TRUE(std::equal(second.begin(), second.begin() + 400, message(2, 400).begin()));
    // Canceled: released in error.
    ASSERT_EQ(fi_cancel(b_.ep.id(), &multi_context), 0);
    fi_cq_err_entry error{};
    ASSERT_EQ(wait(b_.rx.get(), &entry, &error), -FI_ECANCELED);
    EXPECT_TRUE(error.flags & FI_MULTI_RECV);
}

// ------------------------------------------------------------------ selective completion

TEST_P(Messaging, SelectiveCompletionOnTheReceiveSide) {
    ASSERT_NO_FATAL_FAILURE(open_peer(a_));
    ASSERT_NO_FATAL_FAILURE(open_peer(b_, FI_SELECTIVE_COMPLETION));
    a_to_b_ = introduce(a_, b_);
    b_to_a_ = introduce(b_, a_);
    std::vector<uint8_t> quiet(100), loud(100), small(4);
    int quiet_context = 0, loud_context = 0, small_context = 0;
    ASSERT_EQ(fi_recv(b_.ep.get(), quiet.data(), quiet.size(), nullptr, FI_ADDR_UNSPEC, &quiet_context), 0);
    iovec iov{loud.data(), loud.size()};
    fi_msg msg{};
    msg.msg_iov = &iov;
    msg.iov_count = 1;
    msg.addr = FI_ADDR_UNSPEC;
    msg.context = &loud_context;
    ASSERT_EQ(fi_recvmsg(b_.ep.get(), &msg, FI_COMPLETION), 0);
    ASSERT_EQ(fi_recv(b_.ep.get(), small.data(), small.size(), nullptr, FI_ADDR_UNSPEC, &small_context), 0);
    for (size_t i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(i, 50), false, 0, nullptr));

    // The queue hands out errors first: which comes first is not the point.
    fi_cq_tagged_entry entry{};
    fi_cq_err_entry error{};
    void* reported = nullptr;
    for (int i = 0; i < 2; ++i) {
        const int ret = wait(b_.rx.get(), &entry, &error);
        if (ret == 0) {
            reported = entry.op_context;
        } else {
            EXPECT_EQ(ret, -FI_ETRUNC) << "errors are always reported";
            EXPECT_EQ(error.op_context, &small_context);
        }
    }
    EXPECT_EQ(reported, &loud_context) << "only the receive that asked";
    EXPECT_TRUE(progress_until([&] { return fi_cntr_read(b_.rx_cntr.get()) + fi_cntr_readerr(b_.rx_cntr.get()) == 3; }))
        << "the counter counts every receive";
    EXPECT_EQ(fi_cntr_readerr(b_.rx_cntr.get()), 1u);
    const auto first = message(0, 50);
    EXPECT_TRUE(std::equal(first.begin(), first.end(), quiet.begin())) << "delivered, if not reported";
    EXPECT_EQ(fi_cq_read(b_.rx.get(), &entry, 1), -FI_EAGAIN);

    // FI_COMPLETION as the default receive flag reports them all again.
    uint64_t flags = FI_RECV | FI_COMPLETION;
    ASSERT_EQ(fi_control(b_.ep.id(), FI_SETOPSFLAG, &flags), 0);
    ASSERT_EQ(fi_recv(b_.ep.get(), quiet.data(), quiet.size(), nullptr, FI_ADDR_UNSPEC, &quiet_context), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(4, 20), false, 0, nullptr));
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.op_context, &quiet_context);

    // A multi-receive buffer posted without FI_COMPLETION still reports its release.
    flags = FI_RECV;
    ASSERT_EQ(fi_control(b_.ep.id(), FI_SETOPSFLAG, &flags), 0);
    std::vector<uint8_t> multi(300);
    iov = {multi.data(), multi.size()};
    int multi_context = 0;
    msg.context = &multi_context;
    ASSERT_EQ(fi_recvmsg(b_.ep.get(), &msg, FI_MULTI_RECV), 0);
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(5, 100), false, 0, nullptr));
    ASSERT_NO_FATAL_FAILURE(send(a_, a_to_b_, message(6, 100), false, 0, nullptr));
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.op_context, &multi_context);
    EXPECT_EQ(entry.flags, uint64_t{FI_RECV | FI_MSG | FI_MULTI_RECV}) << "100 bytes left, fewer than 128";
    EXPECT_EQ(entry.buf, multi.data() + 100);
    EXPECT_EQ(fi_cq_read(b_.rx.get(), &entry, 1), -FI_EAGAIN) << "the first piece was not reported";
}

INSTANTIATE_TEST_SUITE_P(Links, ReliableMessaging,
                         testing::Values(Setting{FI_EP_RDM, "udp"}, Setting{FI_EP_RDM, "shm"},
                                         Setting{FI_EP_RDM, "auto"}, Setting{FI_EP_RDM, "kmod"}),
                         setting_name);
INSTANTIATE_TEST_SUITE_P(Links, Messaging,
                         testing::Values(Setting{FI_EP_RDM, "udp"}, Setting{FI_EP_DGRAM, "udp"},
                                         Setting{FI_EP_RDM, "shm"}, Setting{FI_EP_DGRAM, "shm"},
                                         Setting{FI_EP_RDM, "auto"}, Setting{FI_EP_RDM, "kmod"},
                                         Setting{FI_EP_DGRAM, "kmod"}),
                         setting_name);

}  // namespace
