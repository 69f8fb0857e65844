// Progress models, threads and the largest message, through the real
// libfabric over the udp loopback.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
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

struct Side {
    Handle<fid_av> av;
    Handle<fid_cq> cq;
    Handle<fid_ep> ep;
    fi_addr_t peer = FI_ADDR_NOTAVAIL;
};

class Endpoints {
public:
    // A fabric with two RDM endpoints that know each other.
    Endpoints(fi_progress progress, fi_threading threading) {
        const std::string base = std::to_string(41000 + (getpid() % 90) * 256);
        setenv("FI_XEN2MX_UDP_PORT_BASE", base.c_str(), 1);
        InfoPtr hints(fi_allocinfo());
        hints->fabric_attr->prov_name = strdup("xen2mx");
        hints->ep_attr->type = FI_EP_RDM;
        hints->caps = FI_TAGGED;
        hints->domain_attr->data_progress = progress;
        hints->domain_attr->threading = threading;
        fi_info* info = nullptr;
        ok = fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints.get(), &info) == 0;
        info_.reset(info);
        ok = ok && fi_fabric(info_->fabric_attr, fabric_.out(), nullptr) == 0 &&
             fi_domain(fabric_.get(), info_.get(), domain_.out(), nullptr) == 0 && open(a) && open(b);
        std::vector<uint8_t> name(64);
        size_t len = name.size();
        ok = ok && fi_getname(b.ep.id(), name.data(), &len) == 0 &&
             fi_av_insert(a.av.get(), name.data(), 1, &a.peer, 0, nullptr) == 1;
        len = name.size();
        ok = ok && fi_getname(a.ep.id(), name.data(), &len) == 0 &&
             fi_av_insert(b.av.get(), name.data(), 1, &b.peer, 0, nullptr) == 1;
    }

    // Everything closes, children first, and nothing is left on the domain.
    ~Endpoints() {
        for (Side* side : {&b, &a}) {
            EXPECT_EQ(side->ep.close(), 0);
            EXPECT_EQ(side->cq.close(), 0);
            EXPECT_EQ(side->av.close(), 0);
        }
        EXPECT_EQ(domain_.close(), 0);
        EXPECT_EQ(fabric_.close(), 0);
    }

private:
    bool open(Side& side) {
        fi_av_attr av_attr{};
        fi_cq_attr cq_attr{};
        cq_attr.format = FI_CQ_FORMAT_TAGGED;
        cq_attr.wait_obj = FI_WAIT_UNSPEC;
        cq_attr.size = 4096;
        return fi_av_open(domain_.get(), &av_attr, side.av.out(), nullptr) == 0 &&
               fi_cq_open(domain_.get(), &cq_attr, side.cq.out(), nullptr) == 0 &&
               fi_endpoint(domain_.get(), info_.get(), side.ep.out(), nullptr) == 0 &&
               fi_ep_bind(side.ep.get(), side.av.id(), 0) == 0 &&
               fi_ep_bind(side.ep.get(), side.cq.id(), FI_TRANSMIT | FI_RECV) == 0 && fi_enable(side.ep.get()) == 0;
    }

    // Declared before the endpoints: members close in reverse order, children first.
    InfoPtr info_;
    Handle<fid_fabric> fabric_;
    Handle<fid_domain> domain_;

public:
    bool ok = false;
    Side a, b;
};

// Reads n completions, all successful, within the patience; with manual
// progress the other side must progress too, so its CQ is polled as well.
bool read_completions(fid_cq* cq, size_t n, fid_cq* other = nullptr) {
    const auto deadline = Clock::now() + 60s;
    size_t got = 0;
    while (got < n && Clock::now() < deadline) {
        if (other) fi_cq_read(other, nullptr, 0);
        fi_cq_tagged_entry entry{};
        const ssize_t ret = fi_cq_read(cq, &entry, 1);
        if (ret == 1) {
            ++got;
        } else if (ret != -FI_EAGAIN) {
            return false;
        }
    }
    return got == n;
}

TEST(Progress, AutoProgressAnswersWhileTheApplicationSleeps) {
    // Over udp a send completes when the receiver acknowledges it.
    setenv("FI_XEN2MX_LINK", "udp", 1);
    Endpoints eps(FI_PROGRESS_AUTO, FI_THREAD_SAFE);
    unsetenv("FI_XEN2MX_LINK");
    ASSERT_TRUE(eps.ok);
    uint64_t incoming = 0;
    ASSERT_EQ(fi_trecv(eps.b.ep.get(), &incoming, sizeof incoming, nullptr, FI_ADDR_UNSPEC, 1, 0, nullptr), 0);
    const uint64_t value = 0x5a5a1234;
    ASSERT_EQ(fi_tsend(eps.a.ep.get(), &value, sizeof value, nullptr, eps.a.peer, 1, nullptr), 0);
    // b's application never calls libfabric: only its progress thread can
    // take the message in and acknowledge it, which completes a's send.
    EXPECT_TRUE(read_completions(eps.a.cq.get(), 1));
    EXPECT_TRUE(read_completions(eps.b.cq.get(), 1));
    EXPECT_EQ(incoming, value);
}

TEST(Progress, AutoProgressTakesInSharedMemoryFramesWhileTheApplicationSleeps) {
    setenv("FI_XEN2MX_LINK", "shm", 1);
    Endpoints eps(FI_PROGRESS_AUTO, FI_THREAD_SAFE);
    unsetenv("FI_XEN2MX_LINK");
    ASSERT_TRUE(eps.ok);
    uint64_t incoming = 0;
    ASSERT_EQ(fi_trecv(eps.b.ep.get(), &incoming, sizeof incoming, nullptr, FI_ADDR_UNSPEC, 1, 0, nullptr), 0);
    const uint64_t value = 0x1234a5a5;
    ASSERT_EQ(fi_tsend(eps.a.ep.get(), &value, sizeof value, nullptr, eps.a.peer, 1, nullptr), 0);
    // A send to a local peer completes once the frame is in the peer's ring;
    // only b's progress thread moves it into b's buffer (reading b's queue
    // makes no progress when a thread does it).
    EXPECT_TRUE(read_completions(eps.a.cq.get(), 1));
    EXPECT_TRUE(read_completions(eps.b.cq.get(), 1));
    EXPECT_EQ(incoming, value);
}

// Manual progress: the application's calls make it, and once the
// application has been away from the library for a while (100 ms), the
// endpoint's keeper thread takes frames in for it.
TEST(Progress, ManualProgressGoesOnWhileTheApplicationIsAway) {
    Endpoints eps(FI_PROGRESS_MANUAL, FI_THREAD_SAFE);
    ASSERT_TRUE(eps.ok);
    uint64_t incoming = 0;
    ASSERT_EQ(fi_trecv(eps.b.ep.get(), &incoming, sizeof incoming, nullptr, FI_ADDR_UNSPEC, 1, 0, nullptr), 0);
    std::this_thread::sleep_for(200ms);
    const uint64_t value = 77;
    ASSERT_EQ(fi_tsend(eps.a.ep.get(), &value, sizeof value, nullptr, eps.a.peer, 1, nullptr), 0);
    // Only a calls in: b's keeper takes the message in and acknowledges it
    // (a send completes once its message is in, not yet in place: b's
    // queue says when it is).
    EXPECT_TRUE(read_completions(eps.a.cq.get(), 1));
    EXPECT_TRUE(read_completions(eps.b.cq.get(), 1));
    EXPECT_EQ(incoming, value);
}

TEST(Threads, ConcurrentSendsAndReceivesOnSharedEndpoints) {
    Endpoints eps(FI_PROGRESS_MANUAL, FI_THREAD_SAFE);
    ASSERT_TRUE(eps.ok);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 200;  // all receives posted at once: within rx_attr->size
    // Each message carries (thread, index); each receiver thread takes one thread's tag.
    std::vector<std::vector<uint32_t>> received(kThreads, std::vector<uint32_t>(kPerThread * 2));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                while (fi_trecv(eps.b.ep.get(), &received[t][2 * i], 8, nullptr, FI_ADDR_UNSPEC, 100 + t, 0,
                                nullptr) == -FI_EAGAIN)
                    fi_cq_read(eps.b.cq.get(), nullptr, 0);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    threads.clear();
    std::vector<std::vector<uint32_t>> sent(kThreads, std::vector<uint32_t>(kPerThread * 2));
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                sent[t][2 * i] = static_cast<uint32_t>(t);
                sent[t][2 * i + 1] = static_cast<uint32_t>(i);
                ssize_t ret;
                while ((ret = fi_tsend(eps.a.ep.get(), &sent[t][2 * i], 8, nullptr, eps.a.peer, 100 + t,
                                       nullptr)) == -FI_EAGAIN)
                    fi_cq_read(eps.a.cq.get(), nullptr, 0);
                if (ret) ++failures;
            }
        });
    }
    // The main thread reads completions while the senders post.
    const bool receives = read_completions(eps.b.cq.get(), kThreads * kPerThread, eps.a.cq.get());
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_TRUE(receives);
    EXPECT_TRUE(read_completions(eps.a.cq.get(), kThreads * kPerThread, eps.b.cq.get()));
    // Per sender thread (one tag each), messages matched in the order sent.
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kPerThread; ++i) {
            ASSERT_EQ(received[t][2 * i], uint32_t(t));
            ASSERT_EQ(received[t][2 * i + 1], uint32_t(i)) << "thread " << t;
        }
    }
}

TEST(Limits, TheLargestMessageArrivesIntact) {
    Endpoints eps(FI_PROGRESS_MANUAL, FI_THREAD_DOMAIN);
    ASSERT_TRUE(eps.ok);
    const size_t size = size_t{1} << 30;  // max_msg_size
    std::vector<uint8_t> out(size);
    std::vector<uint8_t> in(size);
    for (size_t i = 0; i < size; i += 4096) out[i] = static_cast<uint8_t>(i >> 12);
    out[size - 1] = 0x77;
    ASSERT_EQ(fi_trecv(eps.b.ep.get(), in.data(), in.size(), nullptr, FI_ADDR_UNSPEC, 9, 0, nullptr), 0);
    ASSERT_EQ(fi_tsend(eps.a.ep.get(), out.data(), out.size(), nullptr, eps.a.peer, 9, nullptr), 0);
    const auto deadline = Clock::now() + 120s;
    bool sent = false, received = false;
    while ((!sent || !received) && Clock::now() < deadline) {
        fi_cq_tagged_entry entry{};
        if (fi_cq_read(eps.a.cq.get(), &entry, 1) == 1) sent = true;
        if (fi_cq_read(eps.b.cq.get(), &entry, 1) == 1) {
            received = true;
            EXPECT_EQ(entry.len, size);
        }
    }
    ASSERT_TRUE(sent && received);
    EXPECT_EQ(in, out);
}

}  // namespace
