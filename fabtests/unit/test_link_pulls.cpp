// The engine with a link that answers PULLs itself (as the kmod link's
// kernel does from pinned memory): the regions of large messages are
// offered to the link with what it needs to answer them, and memory open to
// RMA reads answers their KEY_PULLs; a message or a read then completes at
// the puller while the endpoint that owns the data never progresses, and
// each region is withdrawn before its buffer goes back to the application. Where the link refuses a region, or
// cannot take any, the engine answers the pulls as before.
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "engine/endpoint.hpp"
#include "memory_link.hpp"

namespace xen2mx {
namespace {

using namespace std::chrono_literals;
using engine::Completion;
using engine::Config;
using engine::Endpoint;
using engine::PeerId;
using engine::Status;
using engine::TimePoint;
using testing::MemoryNetwork;
using testing::PullService;
using Bytes = std::vector<uint8_t>;

constexpr uint64_t kMacA = 0x020000000a01ull;
constexpr uint64_t kMacB = 0x020000000b02ull;
constexpr size_t kFrame = 1514;  // the kmod link's on a 1500-byte MTU

uint8_t byte_at(size_t i) { return static_cast<uint8_t>((i * 131 + 7) ^ (i >> 9)); }

Bytes pattern(size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = byte_at(i);
    return b;
}

bool intact(const Bytes& b, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (b[i] != byte_at(i)) return false;
    return true;
}

// One endpoint, its completions, and a check run as each one arrives.
class Side final : public engine::CompletionSink {
public:
    Side(MemoryNetwork& net, uint64_t mac, uint8_t id, std::shared_ptr<PullService> pulls, size_t frame = kFrame)
        : pulls(std::move(pulls)) {
        Config config;
        config.limits = *wire::WireLimits::open_mx(frame);
        auto link = net.attach(mac, id, frame);
        if (this->pulls) link->answer_pulls(this->pulls);
        ep = std::make_unique<Endpoint>(config, std::move(link), *this, 0x5100u + id);
    }
    void complete(const Completion& c) override {
        if (on_complete) on_complete(c);
        done.push_back(c);
    }
    const Completion* find(uint64_t id) const {
        for (const Completion& c : done)
            if (reinterpret_cast<uintptr_t>(c.context) == id) return &c;
        return nullptr;
    }

    std::shared_ptr<PullService> pulls;
    std::unique_ptr<Endpoint> ep;
    std::vector<Completion> done;
    std::function<void(const Completion&)> on_complete;
};

void* ctx(uint64_t id) { return reinterpret_cast<void*>(static_cast<uintptr_t>(id)); }

// A sends, b receives. Only the sides named progress; the clock moves on.
struct Pair {
    explicit Pair(std::shared_ptr<PullService> pulls_a, std::shared_ptr<PullService> pulls_b = nullptr,
                  size_t frame_a = kFrame)
        : a(net, kMacA, 1, std::move(pulls_a), frame_a), b(net, kMacB, 2, std::move(pulls_b)) {
        ab = a.ep->peer_of(b.ep->address());
        ba = b.ep->peer_of(a.ep->address());
    }
    void step(bool progress_a, bool progress_b) {
        if (progress_a) a.ep->progress(now);
        if (progress_b) b.ep->progress(now);
        now += 200us;
    }
    template <typename Done>
    bool run_until(Done done, bool progress_a, bool progress_b, std::chrono::milliseconds limit = 20000ms) {
        const TimePoint deadline = now + limit;
        while (!done()) {
            if (now >= deadline) return false;
            step(progress_a, progress_b);
        }
        return true;
    }
    int send(const Bytes& data, uint64_t id) {
        iovec v{const_cast<uint8_t*>(data.data()), data.size()};
        engine::SendArgs args;
        args.peer = ab;
        args.iov = {&v, 1};
        args.tag = id;
        args.context = ctx(id);
        return a.ep->send(args, now);
    }
    int recv(Bytes& buffer, uint64_t id) {
        iovec v{buffer.data(), buffer.size()};
        engine::RecvArgs args;
        args.iov = {&v, 1};
        args.tag = id;
        args.context = ctx(id);
        return b.ep->recv(args, now);
    }
    // A small message each way: the connection is up, nothing waits.
    void connect() {
        Bytes hello = pattern(16), buffer(16);
        ASSERT_EQ(recv(buffer, 1), 0);
        ASSERT_EQ(send(hello, 1), 0);
        ASSERT_TRUE(run_until([&] { return a.find(1) && b.find(1); }, true, true));
        run_until([] { return false; }, true, true, 50ms);
    }

    MemoryNetwork net;
    TimePoint now = TimePoint{} + 1000s;
    Side a;
    Side b;
    PeerId ab = 0;
    PeerId ba = 0;
};

TEST(LinkPulls, LargeMessageArrivesWhileTheSenderDoesNotProgress) {
    auto pulls = std::make_shared<PullService>();
    Pair p(pulls);
    p.connect();
    const size_t size = (size_t{1} << 20) + 5;
    const Bytes message = pattern(size);
    Bytes buffer(size);
    ASSERT_EQ(p.recv(buffer, 7), 0);
    ASSERT_EQ(p.send(message, 7), 0);
    ASSERT_EQ(pulls->offered, 1u) << "the large message's region was offered to the link";
    ASSERT_EQ(pulls->held.size(), 1u);
    const auto& region = pulls->held.begin()->second.region;
    EXPECT_EQ(region.peer_board, kMacB);
    EXPECT_EQ(region.peer_endpoint, 2);
    EXPECT_EQ(region.reply_max, wire::WireLimits::open_mx(kFrame)->pull_reply_max);
    EXPECT_EQ(region.replies_per_block, wire::WireLimits::open_mx(kFrame)->replies_per_block);
    EXPECT_FALSE(region.mx_layout);

    // a does nothing from here on: the link answers b's pulls.
    ASSERT_TRUE(p.run_until([&] { return p.b.find(7) != nullptr; }, false, true));
    EXPECT_EQ(p.b.find(7)->status, Status::Ok);
    EXPECT_EQ(p.b.find(7)->length, size);
    EXPECT_TRUE(intact(buffer, size));
    EXPECT_GE(pulls->answered, size / region.reply_max / region.replies_per_block);
    EXPECT_EQ(pulls->errors, 0u);
    EXPECT_EQ(p.a.find(7), nullptr) << "the sender has not progressed: no completion yet";
    EXPECT_EQ(pulls->held.size(), 1u) << "and the region is still held";

    // Once a progresses, the NOTIFY completes the send, after the link let go.
    size_t held_at_completion = 99;
    p.a.on_complete = [&](const Completion&) { held_at_completion = pulls->held.size(); };
    ASSERT_TRUE(p.run_until([&] { return p.a.find(7) != nullptr; }, true, true));
    EXPECT_EQ(p.a.find(7)->status, Status::Ok);
    EXPECT_EQ(held_at_completion, 0u) << "withdrawn before the buffer went back to the application";
    EXPECT_EQ(pulls->withdrawn, 1u);
    EXPECT_EQ(p.a.ep->counters().regions_link_served, 1u);
}

// A large send posted before the connection: its region waits for the two
// ends to agree on their frame size, and the link is told the reply size of
// that agreement (b's narrower frames here), not a's own.
TEST(LinkPulls, RegionPostedBeforeTheConnectionGetsTheAgreedReplySize) {
    constexpr size_t kWideFrame = 9014;
    auto pulls = std::make_shared<PullService>();
    Pair p(pulls, nullptr, kWideFrame);
    const size_t size = (size_t{1} << 18) + 3;
    const Bytes message = pattern(size);
    Bytes buffer(size);
    ASSERT_EQ(p.recv(buffer, 9), 0);
    ASSERT_EQ(p.send(message, 9), 0);
    EXPECT_EQ(pulls->offered, 0u) << "offered before the frame size was agreed";
    ASSERT_TRUE(p.run_until([&] { return pulls->offered == 1; }, true, true));
    ASSERT_EQ(pulls->held.size(), 1u);
    const auto& region = pulls->held.begin()->second.region;
    EXPECT_EQ(region.reply_max, wire::WireLimits::open_mx(kFrame)->pull_reply_max);
    EXPECT_EQ(region.replies_per_block, wire::WireLimits::open_mx(kFrame)->replies_per_block);
    ASSERT_TRUE(p.run_until([&] { return p.a.find(9) && p.b.find(9); }, true, true));
    EXPECT_EQ(p.b.find(9)->status, Status::Ok);
    EXPECT_TRUE(intact(buffer, size));
    EXPECT_EQ(pulls->errors, 0u);
    EXPECT_EQ(pulls->withdrawn, 1u);
}

// The bytes an RMA read returns: once the target has answered the request
// naming its region, the reader pulls it all without the target.
class Window final : public engine::RegionDirectory {
public:
    explicit Window(size_t size) : memory(pattern(size)) {}
    Status find(uint64_t key, uint64_t addr, uint64_t length, engine::Access, std::span<iovec> out,
                size_t* count) override {
        if (key != 5) return Status::AccessDenied;
        if (addr > memory.size() || length > memory.size() - addr) return Status::OutOfBounds;
        out[0] = iovec{memory.data() + addr, length};
        *count = 1;
        return Status::Ok;
    }
    Bytes memory;
};

TEST(LinkPulls, RmaReadCompletesWhileTheTargetDoesNotProgress) {
    auto pulls = std::make_shared<PullService>();
    Pair p(nullptr, pulls);  // b is the target
    Window window(600000);
    p.b.ep->set_regions(&window);
    // What the layer above does for a memory region open to reads.
    ASSERT_EQ(p.b.ep->serve_keyed(3, 5, 0, {{iovec{window.memory.data(), window.memory.size()}}}), 0);
    // Only the target has sent anything: the reader has its session and
    // frame size from the target's connect, and needs no connect of its own.
    Bytes hello = pattern(16), buffer(16);
    iovec into{buffer.data(), buffer.size()}, from{hello.data(), hello.size()};
    engine::RecvArgs recv;
    recv.iov = {&into, 1};
    recv.context = ctx(1);
    ASSERT_EQ(p.a.ep->recv(recv, p.now), 0);
    engine::SendArgs send;
    send.peer = p.ba;
    send.iov = {&from, 1};
    send.context = ctx(1);
    ASSERT_EQ(p.b.ep->send(send, p.now), 0);
    ASSERT_TRUE(p.run_until([&] { return p.a.find(1) && p.b.find(1); }, true, true));
    const uint64_t frames_from_b = p.b.ep->counters().frames_sent;
    auto read = [&](uint64_t id, size_t offset, size_t size, Bytes& back) {
        back.assign(size, 0);
        iovec v{back.data(), size};
        engine::RmaArgs args;
        args.kind = engine::RmaKind::Read;
        args.peer = p.ab;
        args.iov = {&v, 1};
        args.addr = offset;
        args.key = 5;
        args.context = ctx(id);
        return p.a.ep->rma(args, p.now);
    };
    // The whole read while the target never progresses: its link answers.
    Bytes back;
    ASSERT_EQ(read(9, 1000, 500000, back), 0);
    ASSERT_TRUE(p.run_until([&] { return p.a.find(9) != nullptr; }, true, false));
    EXPECT_EQ(p.a.find(9)->status, Status::Ok) << engine::status_text(p.a.find(9)->status);
    EXPECT_TRUE(std::equal(back.begin(), back.end(), window.memory.begin() + 1000));
    EXPECT_GT(pulls->keyed_answered, 0u);
    EXPECT_EQ(p.b.ep->counters().key_pulls_served, 0u);
    EXPECT_EQ(p.b.ep->counters().frames_sent, frames_from_b) << "the target's engine sent nothing";

    // Withdrawn (the region closed, or given back): the target's engine
    // answers, so the read waits for it to progress.
    p.b.ep->withdraw_keyed(3);
    ASSERT_EQ(read(10, 0, 100000, back), 0);
    EXPECT_FALSE(p.run_until([&] { return p.a.find(10) != nullptr; }, true, false, 500ms));
    ASSERT_TRUE(p.run_until([&] { return p.a.find(10) != nullptr; }, true, true));
    EXPECT_EQ(p.a.find(10)->status, Status::Ok);
    EXPECT_TRUE(std::equal(back.begin(), back.end(), window.memory.begin()));
    EXPECT_GT(p.b.ep->counters().key_pulls_served, 0u);
}

// Over the memlock limit the link refuses the region: the sender's engine
// answers the pulls, so the message waits for the sender to progress.
TEST(LinkPulls, RefusedRegionIsAnsweredByTheProcess) {
    auto pulls = std::make_shared<PullService>();
    pulls->refusal = -ENOMEM;
    Pair p(pulls);
    p.connect();
    const size_t size = 200000;
    const Bytes message = pattern(size);
    Bytes buffer(size);
    ASSERT_EQ(p.recv(buffer, 3), 0);
    ASSERT_EQ(p.send(message, 3), 0);
    EXPECT_EQ(pulls->asked, 1u);
    EXPECT_FALSE(p.run_until([&] { return p.b.find(3) != nullptr; }, false, true, 500ms))
        << "nobody answers while the sender does not progress";
    ASSERT_TRUE(p.run_until([&] { return p.a.find(3) && p.b.find(3); }, true, true));
    EXPECT_EQ(p.b.find(3)->status, Status::Ok);
    EXPECT_TRUE(intact(buffer, size));
    EXPECT_EQ(pulls->answered, 0u);
    EXPECT_EQ(p.a.ep->counters().regions_link_refused, 1u);
    EXPECT_EQ(p.a.ep->counters().regions_link_served, 0u);
    // A refusal is for that region only: the next one is offered again.
    pulls->refusal = 0;
    Bytes again(size);
    ASSERT_EQ(p.recv(again, 4), 0);
    ASSERT_EQ(p.send(message, 4), 0);
    EXPECT_EQ(pulls->offered, 1u);
    ASSERT_TRUE(p.run_until([&] { return p.a.find(4) && p.b.find(4); }, true, true));
    EXPECT_TRUE(intact(again, size));
}

// A link that can never answer pulls (the module predates regions) is asked once.
TEST(LinkPulls, LinkWithoutPullsIsAskedOnce) {
    auto pulls = std::make_shared<PullService>();
    pulls->on = false;
    Pair p(pulls);
    p.connect();
    const size_t size = 100000;
    const Bytes message = pattern(size);
    Bytes one(size), two(size);
    ASSERT_EQ(p.recv(one, 5), 0);
    ASSERT_EQ(p.recv(two, 6), 0);
    ASSERT_EQ(p.send(message, 5), 0);
    ASSERT_EQ(p.send(message, 6), 0);
    ASSERT_TRUE(p.run_until([&] { return p.a.find(5) && p.a.find(6) && p.b.find(5) && p.b.find(6); }, true, true));
    EXPECT_TRUE(intact(one, size));
    EXPECT_TRUE(intact(two, size));
    EXPECT_EQ(p.a.ep->counters().regions_link_served + p.a.ep->counters().regions_link_refused, 0u);
}

// An endpoint closed with a region still offered withdraws it first.
TEST(LinkPulls, ClosingWithdrawsWhatIsHeld) {
    auto pulls = std::make_shared<PullService>();
    Pair p(pulls);
    p.connect();
    const Bytes message = pattern(300000);
    ASSERT_EQ(p.send(message, 8), 0);
    ASSERT_EQ(pulls->held.size(), 1u);
    p.a.ep.reset();
    EXPECT_TRUE(pulls->held.empty());
    EXPECT_EQ(pulls->withdrawn, 1u);
}

}  // namespace
}  // namespace xen2mx
