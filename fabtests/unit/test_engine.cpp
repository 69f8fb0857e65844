// The engine end to end: endpoints talk over an in-memory network under a
// virtual clock. Every message's bytes are checked, in every class and at the
// edges between classes, in both wire layouts; matching, ordering,
// truncation, cancel, refused, vanished and restarted peers, a lossy network,
// datagram mode and malformed frames.
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/endpoint.hpp"
#include "memory_link.hpp"
#include "wire/bytes.hpp"
#include "wire/mxoe_codec.hpp"

namespace xen2mx {
namespace {

using namespace std::chrono_literals;
using engine::Completion;
using engine::Config;
using engine::Duration;
using engine::Endpoint;
using engine::kNoPeer;
using engine::PeerId;
using engine::Status;
using engine::TimePoint;
using testing::Faults;
using testing::MemoryLink;
using testing::MemoryNetwork;
using Bytes = std::vector<uint8_t>;

// ------------------------------------------------------------------ data

// A byte that depends on the message and its position, so that a byte from
// another message or another offset never passes for the right one.
uint8_t byte_at(uint64_t seed, size_t i) {
    uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ull ^ (i * 0xbf58476d1ce4e5b9ull);
    x ^= x >> 31;
    x *= 0x94d049bb133111ebull;
    return static_cast<uint8_t>(x >> 56);
}

Bytes pattern(uint64_t seed, size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = byte_at(seed, i);
    return b;
}

// Where p[0..n) first differs from pattern(seed), or n.
size_t first_mismatch(const uint8_t* p, size_t n, uint64_t seed, size_t offset = 0) {
    for (size_t i = 0; i < n; ++i)
        if (p[i] != byte_at(seed, offset + i)) return i;
    return n;
}

constexpr uint8_t kGuardByte = 0xee;
constexpr size_t kGuard = 64;

bool guard_intact(const Bytes& buffer, size_t from) {
    return std::all_of(buffer.begin() + static_cast<std::ptrdiff_t>(from), buffer.end(),
                       [](uint8_t b) { return b == kGuardByte; });
}

void* ctx(uint64_t n) { return reinterpret_cast<void*>(static_cast<uintptr_t>(n)); }
uint64_t id_of(const Completion& c) { return reinterpret_cast<uintptr_t>(c.context); }

// ------------------------------------------------------------------ harness

class Node final : public engine::CompletionSink {
public:
    Node(MemoryNetwork& net, uint64_t mac, uint8_t id, const Config& config, size_t max_frame, uint32_t session)
        : net_(net), mac_(mac), id_(id), config_(config), max_frame_(max_frame) {
        start(session);
    }

    void complete(const Completion& c) override { (c.is_send ? sends : recvs).push_back(c); }

    Endpoint& ep() { return *ep_; }
    MemoryLink& link() { return *link_; }
    link::Address address() const { return ep_->address(); }
    const Config& config() const { return config_; }

    // Another process on the same address: the old one's state is gone, and
    // with it whatever was on the way to it.
    void restart(uint32_t session) {
        ep_.reset();
        sends.clear();
        recvs.clear();
        start(session);
    }

    const Completion* send_done(uint64_t context) const { return find(sends, context); }
    const Completion* recv_done(uint64_t context) const { return find(recvs, context); }
    static const Completion* find(const std::vector<Completion>& list, uint64_t context) {
        for (const Completion& c : list)
            if (id_of(c) == context) return &c;
        return nullptr;
    }

    std::vector<Completion> sends;
    std::vector<Completion> recvs;

private:
    void start(uint32_t session) {
        auto link = net_.attach(mac_, id_, max_frame_);
        if (!link) throw std::runtime_error("address in use");
        link_ = link.get();
        ep_ = std::make_unique<Endpoint>(config_, std::move(link), *this, session);
    }

    MemoryNetwork& net_;
    uint64_t mac_;
    uint8_t id_;
    Config config_;
    size_t max_frame_;
    MemoryLink* link_ = nullptr;
    std::unique_ptr<Endpoint> ep_;
};

constexpr Duration kStep = 100us;
// While no frame is on its way, the clock jumps to the next timer, but no
// further than this, so that a timer the engine forgot to announce still runs.
constexpr Duration kMaxJump = 50ms;

class World {
public:
    explicit World(uint32_t seed = 1) : net(seed) {}

    Node& add(uint64_t mac, uint8_t id, const Config& config, size_t max_frame = 9000) {
        const uint32_t session = 0x51000000u + static_cast<uint32_t>(nodes.size()) * 0x10101u;
        nodes.push_back(std::make_unique<Node>(net, mac, id, config, max_frame, session));
        return *nodes.back();
    }

    void round() {
        for (auto& node : nodes) node->ep().progress(now);
        TimePoint next = now + kStep;
        if (net.idle()) {
            TimePoint timer = TimePoint::max();
            for (auto& node : nodes) timer = std::min(timer, node->ep().next_timer());
            next = std::clamp(timer, now + kStep, now + kMaxJump);
        }
        now = next;
    }

    // False when the virtual deadline passes first: a test fails, it does
    // not hang.
    template <typename Done>
    bool run_until(Done done, Duration limit = 60s) {
        const TimePoint deadline = now + limit;
        while (!done()) {
            if (now >= deadline) return false;
            round();
        }
        return true;
    }

    void run_for(Duration duration) {
        const TimePoint end = now + duration;
        while (now < end) round();
    }

    MemoryNetwork net;
    TimePoint now = TimePoint{} + 1000s;
    std::vector<std::unique_ptr<Node>> nodes;
};

struct SendOpts {
    uint64_t tag = 0;
    bool tagged = true;
    std::optional<uint64_t> data;
    bool sync = false;
    bool copy = false;
    bool report = true;
};

int post_send(World& w, Node& from, PeerId to, std::span<const iovec> iov, uint64_t context, const SendOpts& o = {}) {
    engine::SendArgs a;
    a.peer = to;
    a.iov = iov;
    a.tag = o.tag;
    a.tagged = o.tagged;
    a.has_data = o.data.has_value();
    a.data = o.data.value_or(0);
    a.context = ctx(context);
    a.report = o.report;
    a.copy = o.copy;
    a.sync = o.sync;
    return from.ep().send(a, w.now);
}

int post_send(World& w, Node& from, PeerId to, const Bytes& payload, uint64_t context, const SendOpts& o = {}) {
    iovec v{const_cast<uint8_t*>(payload.data()), payload.size()};
    return post_send(w, from, to, payload.empty() ? std::span<const iovec>{} : std::span<const iovec>{&v, 1},
                     context, o);
}

struct RecvOpts {
    uint64_t tag = 0;
    uint64_t ignore = 0;
    bool tagged = true;
    PeerId from = kNoPeer;
    bool report = true;
    bool multi = false;
    size_t min_free = 0;
};

int post_recv(World& w, Node& at, std::span<const iovec> iov, uint64_t context, const RecvOpts& o = {}) {
    engine::RecvArgs a;
    a.iov = iov;
    a.tag = o.tag;
    a.ignore = o.ignore;
    a.tagged = o.tagged;
    a.from = o.from;
    a.context = ctx(context);
    a.report = o.report;
    a.multi = o.multi;
    a.min_free = o.min_free;
    return at.ep().recv(a, w.now);
}

int post_recv(World& w, Node& at, uint8_t* buffer, size_t capacity, uint64_t context, const RecvOpts& o = {}) {
    iovec v{buffer, capacity};
    return post_recv(w, at, std::span<const iovec>{&v, 1}, context, o);
}

struct Variant {
    const char* name;
    wire::WireMode mode;
    wire::WireLimits limits;
    size_t max_frame;
};

const Variant kVariants[] = {
    {"OpenMx9000", wire::WireMode::OpenMx, *wire::WireLimits::open_mx(9000), 9000},
    {"OpenMx1500", wire::WireMode::OpenMx, *wire::WireLimits::open_mx(1500), 1500},
    {"MxCompat", wire::WireMode::MxCompat, wire::WireLimits::mx_compat(), 9000},
};

Config config_for(const Variant& v) {
    Config c;
    c.mode = v.mode;
    c.limits = v.limits;
    return c;
}

size_t effective_rndv(const Config& c) {
    return std::min<size_t>(c.rndv_threshold, c.limits.medium_msg_max());
}

constexpr uint64_t kMacA = 0x020000000a01ull;
constexpr uint64_t kMacB = 0x020000000b02ull;
constexpr uint64_t kMacC = 0x020000000c03ull;

// Two endpoints that know each other's address.
struct Pair {
    explicit Pair(const Config& config, size_t max_frame = 9000, uint32_t seed = 1)
        : w(seed), a(w.add(kMacA, 1, config, max_frame)), b(w.add(kMacB, 2, config, max_frame)) {
        ab = a.ep().peer_of(b.address());
        ba = b.ep().peer_of(a.address());
    }
    World w;
    Node& a;
    Node& b;
    PeerId ab;
    PeerId ba;
};

uint64_t data_frames(const engine::Counters& c) { return c.frames_sent - c.acks_sent; }

// One message from a to b, its bytes and both completions checked. With
// `unexpected` the receive is posted only once the message (or its
// rendezvous) waits at b.
void transfer(Pair& p, size_t size, uint64_t id, bool with_data, bool unexpected, bool check_frames) {
    SCOPED_TRACE("message " + std::to_string(id) + ", " + std::to_string(size) + " bytes" +
                 (with_data ? ", with CQ data" : "") + (unexpected ? ", unexpected" : ", expected"));
    const Config& config = p.a.config();
    const size_t wire_length = size + (with_data ? 8 : 0);
    const bool large = wire_length > effective_rndv(config);
    const Bytes payload = pattern(id, size);
    Bytes buffer(size + kGuard, kGuardByte);
    const uint64_t data = 0x0123456789abcdefull ^ id;
    SendOpts so;
    so.tag = id * 0x10001;
    if (with_data) so.data = data;
    RecvOpts ro;
    ro.tag = so.tag;

    const uint64_t frames_before = data_frames(p.a.ep().counters());
    if (!unexpected) {
        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id, ro), 0);
    }
    ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
    if (unexpected) {
        p.w.run_for(30ms);
        EXPECT_EQ(p.b.recv_done(id), nullptr);
        if (large) {
            EXPECT_EQ(p.a.send_done(id), nullptr) << "a large send completes once pulled";
        }
        else EXPECT_NE(p.a.send_done(id), nullptr) << "an eager send completes once acked";
        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id, ro), 0);
    }
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) && p.b.recv_done(id); }, 30s));

    const Completion& s = *p.a.send_done(id);
    EXPECT_EQ(s.status, Status::Ok) << engine::status_text(s.status);
    EXPECT_TRUE(s.is_send);
    EXPECT_EQ(s.length, size);
    EXPECT_EQ(s.tag, so.tag);
    const Completion& r = *p.b.recv_done(id);
    EXPECT_EQ(r.status, Status::Ok) << engine::status_text(r.status);
    EXPECT_FALSE(r.is_send);
    EXPECT_TRUE(r.tagged);
    EXPECT_EQ(r.length, size);
    EXPECT_EQ(r.message_length, size);
    EXPECT_EQ(r.tag, so.tag);
    EXPECT_EQ(r.peer, p.ba);
    EXPECT_EQ(r.has_data, with_data);
    if (with_data) {
        EXPECT_EQ(r.data, data);
    }
    EXPECT_EQ(first_mismatch(buffer.data(), size, id), size) << "payload differs";
    EXPECT_TRUE(guard_intact(buffer, size)) << "wrote past the receive buffer";

    if (check_frames) {
        // Which class the engine chose shows in the frames it sent.
        const auto& limits = config.limits;
        uint64_t expected;
        if (wire_length <= wire::kSmallMax) expected = 1;
        else if (!large) expected = (wire_length + limits.medium_frag_max - 1) / limits.medium_frag_max;
        else expected = 1 + (wire_length + limits.pull_reply_max - 1) / limits.pull_reply_max;
        EXPECT_EQ(data_frames(p.a.ep().counters()) - frames_before, expected) << "frames of the message";
    }
}

std::vector<size_t> boundary_sizes(const Config& c) {
    const auto& l = c.limits;
    const size_t rndv = effective_rndv(c);
    std::vector<size_t> sizes = {0, 1, 7, 8, 9, 24, 25, 31, 32, 33, 120, 121, 127, 128, 129};
    for (size_t edge : {size_t{l.medium_frag_max}, 2 * size_t{l.medium_frag_max}, rndv - 8, rndv,
                        size_t{l.pull_reply_max}, size_t{l.pull_block_max()}, 4 * size_t{l.pull_block_max()},
                        5 * size_t{l.pull_block_max()}}) {
        sizes.push_back(edge - 1);
        sizes.push_back(edge);
        sizes.push_back(edge + 1);
    }
    sizes.push_back((size_t{3} << 20) + 5);
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    return sizes;
}

// ------------------------------------------------------------------ message classes

class Classes : public ::testing::TestWithParam<Variant> {};

TEST_P(Classes, EveryBoundaryExpectedAndUnexpected) {
    Pair p(config_for(GetParam()), GetParam().max_frame);
    uint64_t id = 1;
    // The first message connects; from then on each message's frames are
    // exactly those of its class.
    transfer(p, 1, id++, false, false, false);
    for (bool unexpected : {false, true}) {
        for (bool with_data : {false, true}) {
            for (size_t size : boundary_sizes(p.a.config())) {
                transfer(p, size, id++, with_data, unexpected, true);
                if (HasFatalFailure()) return;
            }
        }
    }
    EXPECT_EQ(p.a.ep().counters().resends, 0u);
    EXPECT_EQ(p.b.ep().counters().resends, 0u);
    EXPECT_EQ(p.w.net.stats().oversize, 0u);
}

TEST_P(Classes, SyncSendCompletesOnlyOncePulled) {
    Pair p(config_for(GetParam()), GetParam().max_frame);
    for (size_t size : {size_t{0}, size_t{5}, size_t{300}}) {
        const uint64_t id = 10 + size;
        const Bytes payload = pattern(id, size);
        Bytes buffer(size + kGuard, kGuardByte);
        SendOpts so;
        so.sync = true;
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
        p.w.run_for(50ms);
        EXPECT_EQ(p.a.send_done(id), nullptr) << "completed before the receiver took it";
        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) && p.b.recv_done(id); }));
        EXPECT_EQ(p.a.send_done(id)->status, Status::Ok);
        EXPECT_EQ(p.b.recv_done(id)->length, size);
        EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
        EXPECT_TRUE(guard_intact(buffer, size));
    }
}

// A sender whose replies trickle in, each well within the resend delay but
// the whole block far beyond it: the receiver must not ask for blocks
// whose replies are still coming, or the sender sends them all again and
// falls further behind with each request.
TEST_P(Classes, SlowRepliesAreNotAskedForAgain) {
    Pair p(config_for(GetParam()), GetParam().max_frame);
    transfer(p, 1, 1, false, false, false);  // connected before the pacing
    const Duration per_frame = p.a.config().resend_delay * 3 / 4;
    p.w.net.pace(kMacA, static_cast<unsigned>(per_frame / kStep));
    const size_t size = 512 * 1024;
    const Bytes payload = pattern(7, size);
    Bytes buffer(size + kGuard, kGuardByte);
    const uint64_t frames_before = p.a.ep().counters().frames_sent;
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, 7), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, 7), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(7) && p.b.recv_done(7); }, 600s));
    EXPECT_EQ(p.a.send_done(7)->status, Status::Ok);
    EXPECT_EQ(p.b.recv_done(7)->status, Status::Ok);
    EXPECT_EQ(first_mismatch(buffer.data(), size, 7), size);
    EXPECT_TRUE(guard_intact(buffer, size));
    EXPECT_EQ(p.b.ep().counters().resends, 0u);
    EXPECT_EQ(p.b.ep().counters().duplicates, 0u);
    // Each reply sent once: the message's frames and a few for the
    // rendezvous and acks, not a multiple of them.
    const uint64_t replies = (size + p.a.config().limits.pull_reply_max - 1) / p.a.config().limits.pull_reply_max;
    EXPECT_LT(p.a.ep().counters().frames_sent - frames_before, replies + 8);
}

INSTANTIATE_TEST_SUITE_P(Engine, Classes, ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant>& info) { return std::string(info.param.name); });

// ------------------------------------------------------------------ gather lists

// Cuts [0, size) of p at the given offsets (clamped and sorted; equal ones
// make empty entries).
std::vector<iovec> pieces(const uint8_t* p, size_t size, std::vector<size_t> cuts) {
    for (size_t& c : cuts) c = std::min(c, size);
    std::sort(cuts.begin(), cuts.end());
    cuts.push_back(size);
    std::vector<iovec> iov;
    size_t from = 0;
    for (size_t c : cuts) {
        iov.push_back(iovec{const_cast<uint8_t*>(p) + from, c - from});
        from = c;
    }
    return iov;
}

TEST(Engine, IovecSendAndReceive) {
    for (const Variant& v : kVariants) {
        SCOPED_TRACE(v.name);
        Pair p(config_for(v), v.max_frame);
        uint64_t id = 100;
        for (size_t size : {size_t{20}, size_t{100}, size_t{5000}, size_t{30000}, size_t{300001}}) {
            for (bool with_data : {false, true}) {
                ++id;
                SCOPED_TRACE(size);
                // Uneven pieces, an empty one among them, on both sides.
                const Bytes payload = pattern(id, size);
                std::vector<iovec> send_iov = pieces(payload.data(), size, {7, 7, 8, size / 3, size / 2 + 1, size - 1});
                Bytes buffer(size + kGuard, kGuardByte);
                std::vector<iovec> recv_iov = pieces(buffer.data(), size, {13, 13, size / 4, size / 4 + 1});
                SendOpts so;
                if (with_data) so.data = id;
                ASSERT_EQ(post_recv(p.w, p.b, recv_iov, id), 0);
                ASSERT_EQ(post_send(p.w, p.a, p.ab, send_iov, id, so), 0);
                ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) && p.b.recv_done(id); }));
                EXPECT_EQ(p.b.recv_done(id)->status, Status::Ok);
                EXPECT_EQ(p.b.recv_done(id)->length, size);
                EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
                EXPECT_TRUE(guard_intact(buffer, size));
            }
        }
        // Too many entries is the caller's mistake.
        std::vector<iovec> many(engine::kMaxIov + 1, iovec{nullptr, 0});
        EXPECT_EQ(post_send(p.w, p.a, p.ab, many, 1), -EINVAL);
        EXPECT_EQ(post_recv(p.w, p.b, many, 1), -EINVAL);
    }
}

TEST(Engine, CopiedSendLeavesTheCallerBufferFree) {
    Pair p(config_for(kVariants[0]));
    for (size_t size : {size_t{30}, size_t{3000}, size_t{100000}}) {
        const uint64_t id = size;
        Bytes payload = pattern(id, size);
        Bytes buffer(size + kGuard, kGuardByte);
        SendOpts so;
        so.copy = true;
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
        std::fill(payload.begin(), payload.end(), 0);
        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) && p.b.recv_done(id); }));
        EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
    }
}

// ------------------------------------------------------------------ matching

TEST(Engine, TagMatchingWithIgnoreMasks) {
    Pair p(config_for(kVariants[0]));
    std::array<Bytes, 10> buffers;
    for (auto& b : buffers) b.assign(256, kGuardByte);
    auto recv = [&](uint64_t id, uint64_t tag, uint64_t ignore) {
        RecvOpts ro;
        ro.tag = tag;
        ro.ignore = ignore;
        ASSERT_EQ(post_recv(p.w, p.b, buffers[id].data(), 200, id, ro), 0);
    };
    std::deque<Bytes> keep;  // send buffers live until the sends complete
    auto send = [&](uint64_t id, uint64_t tag, size_t size = 50) {
        SendOpts so;
        so.tag = tag;
        keep.push_back(pattern(100 + id, size));
        ASSERT_EQ(post_send(p.w, p.a, p.ab, keep.back(), 100 + id, so), 0);
    };
    auto got = [&](uint64_t recv_id) -> uint64_t {
        const Completion* c = p.b.recv_done(recv_id);
        return c ? c->tag : ~uint64_t{0};
    };
    recv(1, 0x1200, 0x00ff);
    recv(2, 0x5, 0);
    recv(3, 0, ~uint64_t{0});
    send(1, 0x5);
    send(2, 0x12ab);
    send(3, 0x9999);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recvs.size() == 3; }));
    EXPECT_EQ(got(2), 0x5u);
    EXPECT_EQ(got(1), 0x12abu);
    EXPECT_EQ(got(3), 0x9999u);
    EXPECT_EQ(first_mismatch(buffers[1].data(), 50, 102), 50u);

    // Bits under the mask may be anything on either side.
    send(4, 0x12ff00001234ull);
    p.w.run_for(20ms);
    recv(4, 0x12ff00000000ull | 0xff, 0xffff);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(4); }));
    EXPECT_EQ(got(4), 0x12ff00001234ull);

    // A posted receive that does not match leaves the message unexpected.
    recv(5, 0x7777, 0);
    send(5, 0x7776);
    p.w.run_for(20ms);
    EXPECT_EQ(p.b.recv_done(5), nullptr);
    EXPECT_TRUE(p.b.ep().cancel(ctx(5)));
    recv(6, 0x7776, 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(6); }));
    EXPECT_EQ(got(6), 0x7776u);
    EXPECT_EQ(p.b.recv_done(5)->status, Status::Canceled);
    EXPECT_TRUE(std::all_of(buffers[5].begin(), buffers[5].end(), [](uint8_t b) { return b == kGuardByte; }));
}

TEST(Engine, TaggedAndUntaggedNeverMatchEachOther) {
    Pair p(config_for(kVariants[0]));
    const size_t sizes[] = {10, 1000, 100000};
    uint64_t id = 1;
    for (size_t size : sizes) {
        SCOPED_TRACE(size);
        Bytes untagged_buffer(size + kGuard, kGuardByte), tagged_buffer(size + kGuard, kGuardByte);
        const uint64_t u = id++, t = id++;
        const Bytes up = pattern(u, size), tp = pattern(t, size);
        RecvOpts untagged;
        untagged.tagged = false;
        RecvOpts any_tag;
        any_tag.ignore = ~uint64_t{0};
        SendOpts untagged_send;
        untagged_send.tagged = false;

        // A tagged message passes an untagged receive by, and the other way.
        ASSERT_EQ(post_recv(p.w, p.b, untagged_buffer.data(), size, u, untagged), 0);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, tp, t), 0);
        p.w.run_for(20ms);
        EXPECT_EQ(p.b.recv_done(u), nullptr);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, up, u, untagged_send), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(u); }));
        ASSERT_EQ(post_recv(p.w, p.b, tagged_buffer.data(), size, t, any_tag), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(t); }));
        EXPECT_FALSE(p.b.recv_done(u)->tagged);
        EXPECT_TRUE(p.b.recv_done(t)->tagged);
        EXPECT_EQ(first_mismatch(untagged_buffer.data(), size, u), size);
        EXPECT_EQ(first_mismatch(tagged_buffer.data(), size, t), size);

        // An unexpected untagged message waits for an untagged receive.
        const uint64_t u2 = id++, t2 = id++;
        const Bytes up2 = pattern(u2, size);
        Bytes b2(size + kGuard, kGuardByte), b3(size + kGuard, kGuardByte);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, up2, u2, untagged_send), 0);
        p.w.run_for(20ms);
        ASSERT_EQ(post_recv(p.w, p.b, b3.data(), size, t2, any_tag), 0);
        ASSERT_EQ(post_recv(p.w, p.b, b2.data(), size, u2, untagged), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(u2); }));
        EXPECT_EQ(p.b.recv_done(t2), nullptr);
        EXPECT_EQ(first_mismatch(b2.data(), size, u2), size);
        EXPECT_TRUE(p.b.ep().cancel(ctx(t2)));
        ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(t) && p.a.send_done(u) && p.a.send_done(u2); }));
    }
}

TEST(Engine, DirectedReceiveTakesOnlyItsSource) {
    const Config config = config_for(kVariants[0]);
    World w;
    Node& a = w.add(kMacA, 1, config);
    Node& b = w.add(kMacB, 2, config);
    Node& c = w.add(kMacC, 3, config);
    const PeerId ac = a.ep().peer_of(c.address());
    const PeerId bc = b.ep().peer_of(c.address());
    const PeerId ca = c.ep().peer_of(a.address());
    const PeerId cb = c.ep().peer_of(b.address());
    for (size_t size : {size_t{16}, size_t{4000}, size_t{200000}}) {
        SCOPED_TRACE(size);
        const uint64_t base = size * 10;
        const Bytes from_a = pattern(base + 1, size), from_b = pattern(base + 2, size);
        Bytes only_a(size + kGuard, kGuardByte), any(size + kGuard, kGuardByte);
        RecvOpts from_a_only;
        from_a_only.from = ca;
        // b's message comes first and passes the receive meant for a.
        ASSERT_EQ(post_recv(w, c, only_a.data(), size, base + 1, from_a_only), 0);
        ASSERT_EQ(post_send(w, b, bc, from_b, base + 2), 0);
        w.run_for(30ms);
        EXPECT_EQ(c.recv_done(base + 1), nullptr);
        ASSERT_EQ(post_send(w, a, ac, from_a, base + 1), 0);
        ASSERT_TRUE(w.run_until([&] { return c.recv_done(base + 1); }));
        EXPECT_EQ(c.recv_done(base + 1)->peer, ca);
        EXPECT_EQ(first_mismatch(only_a.data(), size, base + 1), size);
        // A receive from anyone then takes b's.
        ASSERT_EQ(post_recv(w, c, any.data(), size, base + 2), 0);
        ASSERT_TRUE(w.run_until([&] { return c.recv_done(base + 2); }));
        EXPECT_EQ(c.recv_done(base + 2)->peer, cb);
        EXPECT_EQ(first_mismatch(any.data(), size, base + 2), size);
        ASSERT_TRUE(w.run_until([&] { return a.send_done(base + 1) && b.send_done(base + 2); }));
    }
    EXPECT_EQ(post_recv(w, c, nullptr, 0, 1, RecvOpts{0, 0, true, 77}), -EINVAL) << "no such peer";
}

// Messages from one sender are matched in the order they were sent, whatever
// their class and whether they were expected.
TEST(Engine, PerSenderOrderAcrossClasses) {
    for (const Variant& v : kVariants) {
        SCOPED_TRACE(v.name);
        Pair p(config_for(v), v.max_frame);
        const size_t rndv = effective_rndv(p.a.config());
        const std::vector<size_t> sizes = {rndv + 5000, 3,    100,  rndv / 2, 0,   rndv * 3, rndv + 1, 20,
                                           129,         rndv, 2000, 1,        300, 33,       rndv * 2, 7};
        std::vector<Bytes> payloads, buffers;
        for (size_t i = 0; i < sizes.size(); ++i) {
            payloads.push_back(pattern(i, sizes[i]));
            buffers.emplace_back(rndv * 3 + kGuard, kGuardByte);
        }
        RecvOpts any;
        any.ignore = ~uint64_t{0};
        // Half the receives wait before the messages come, half come later.
        const size_t early = sizes.size() / 2;
        for (size_t i = 0; i < early; ++i) ASSERT_EQ(post_recv(p.w, p.b, buffers[i].data(), rndv * 3, i, any), 0);
        for (size_t i = 0; i < sizes.size(); ++i) {
            SendOpts so;
            so.tag = i;
            ASSERT_EQ(post_send(p.w, p.a, p.ab, payloads[i], i, so), 0);
        }
        p.w.run_for(50ms);
        for (size_t i = early; i < sizes.size(); ++i)
            ASSERT_EQ(post_recv(p.w, p.b, buffers[i].data(), rndv * 3, i, any), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recvs.size() == sizes.size() && p.a.sends.size() == sizes.size(); }));
        for (size_t i = 0; i < sizes.size(); ++i) {
            const Completion* c = p.b.recv_done(i);
            ASSERT_NE(c, nullptr);
            EXPECT_EQ(c->tag, i) << "receive " << i << " took another message";
            EXPECT_EQ(c->length, sizes[i]);
            EXPECT_EQ(first_mismatch(buffers[i].data(), sizes[i], i), sizes[i]) << i;
            EXPECT_EQ(p.a.send_done(i)->status, Status::Ok);
        }
    }
}

// ------------------------------------------------------------------ truncation, CQ data, cancel

TEST(Engine, TruncationKeepsWhatFits) {
    for (const Variant& v : kVariants) {
        SCOPED_TRACE(v.name);
        Pair p(config_for(v), v.max_frame);
        const size_t rndv = effective_rndv(p.a.config());
        struct Case {
            size_t size, capacity;
        };
        const Case cases[] = {{20, 0},           {20, 5},         {100, 50},         {5000, 1000},
                              {rndv, rndv - 1},  {rndv + 1, 4097}, {300000, 100001}, {300000, 0}};
        uint64_t id = 1;
        for (bool unexpected : {false, true}) {
            for (bool with_data : {false, true}) {
                for (const Case& k : cases) {
                    ++id;
                    SCOPED_TRACE(std::to_string(k.size) + " into " + std::to_string(k.capacity) +
                                 (unexpected ? " unexpected" : "") + (with_data ? " with data" : ""));
                    const Bytes payload = pattern(id, k.size);
                    Bytes buffer(k.capacity + kGuard, kGuardByte);
                    SendOpts so;
                    if (with_data) so.data = ~id;
                    if (!unexpected) {
                        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), k.capacity, id), 0);
                    }
                    ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
                    if (unexpected) {
                        p.w.run_for(30ms);
                        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), k.capacity, id), 0);
                    }
                    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) && p.b.recv_done(id); }));
                    const Completion& r = *p.b.recv_done(id);
                    EXPECT_EQ(r.status, Status::Truncated);
                    EXPECT_EQ(r.length, k.capacity);
                    EXPECT_EQ(r.message_length, k.size);
                    EXPECT_EQ(r.has_data, with_data);
                    if (with_data) {
                        EXPECT_EQ(r.data, ~id);
                    }
                    EXPECT_EQ(first_mismatch(buffer.data(), k.capacity, id), k.capacity);
                    EXPECT_TRUE(guard_intact(buffer, k.capacity));
                    EXPECT_EQ(p.a.send_done(id)->status, Status::Ok) << "the sender is not told";
                }
            }
        }
    }
}

TEST(Engine, RemoteDataOnlyWhenSent) {
    Pair p(config_for(kVariants[0]));
    uint64_t id = 0;
    for (size_t size : {size_t{0}, size_t{24}, size_t{25}, size_t{120}, size_t{121}, size_t{40000}}) {
        for (bool with_data : {false, true}) {
            ++id;
            const Bytes payload = pattern(id, size);
            Bytes buffer(size + kGuard, kGuardByte);
            SendOpts so;
            if (with_data) so.data = 0xfedcba9876543210ull + id;
            ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id), 0);
            ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
            ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(id); }));
            const Completion& r = *p.b.recv_done(id);
            EXPECT_EQ(r.has_data, with_data) << size;
            EXPECT_EQ(r.data, with_data ? 0xfedcba9876543210ull + id : 0) << size;
            EXPECT_EQ(r.length, size);
            EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
        }
    }
}

TEST(Engine, CancelPostedReceive) {
    Pair p(config_for(kVariants[0]));
    Bytes buffer(100, kGuardByte);
    EXPECT_FALSE(p.b.ep().cancel(ctx(42))) << "nothing posted";
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 50, 42), 0);
    EXPECT_TRUE(p.b.ep().cancel(ctx(42)));
    ASSERT_EQ(p.b.recvs.size(), 1u);
    EXPECT_EQ(p.b.recvs[0].status, Status::Canceled);
    EXPECT_EQ(id_of(p.b.recvs[0]), 42u);
    EXPECT_EQ(p.b.recvs[0].length, 0u);
    EXPECT_FALSE(p.b.ep().cancel(ctx(42))) << "already canceled";

    // The message then finds no receive; a matched receive cannot be canceled.
    const Bytes payload = pattern(7, 30);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, 7), 0);
    p.w.run_for(20ms);
    EXPECT_TRUE(guard_intact(buffer, 0));
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 50, 43), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(43); }));
    EXPECT_FALSE(p.b.ep().cancel(ctx(43)));
    EXPECT_EQ(first_mismatch(buffer.data(), 30, 7), 30u);
}

// ------------------------------------------------------------------ failures

TEST(Engine, WrongKeyIsRefused) {
    Config config = config_for(kVariants[0]);
    World w;
    Node& a = w.add(kMacA, 1, config);
    config.key ^= 1;
    Node& b = w.add(kMacB, 2, config);
    const PeerId ab = a.ep().peer_of(b.address());
    const PeerId ba = b.ep().peer_of(a.address());
    const Bytes small = pattern(1, 10), medium = pattern(2, 5000), large = pattern(3, 100000);
    Bytes buffer(200000);
    ASSERT_EQ(post_recv(w, b, buffer.data(), buffer.size(), 99, RecvOpts{0, ~uint64_t{0}, true, kNoPeer}), 0);
    ASSERT_EQ(post_send(w, a, ab, small, 1), 0);
    ASSERT_EQ(post_send(w, a, ab, medium, 2), 0);
    ASSERT_EQ(post_send(w, a, ab, large, 3), 0);
    ASSERT_EQ(post_send(w, b, ba, small, 4), 0);
    ASSERT_TRUE(w.run_until([&] { return a.sends.size() == 3 && b.sends.size() == 1; }, 10s));
    for (const Completion& c : a.sends) EXPECT_EQ(c.status, Status::PeerRefused) << engine::status_text(c.status);
    EXPECT_EQ(b.sends[0].status, Status::PeerRefused);
    EXPECT_TRUE(b.recvs.empty());
    // Still refused on a later try, and nothing was delivered.
    ASSERT_EQ(post_send(w, a, ab, small, 5), 0);
    ASSERT_TRUE(w.run_until([&] { return a.send_done(5); }, 10s));
    EXPECT_EQ(a.send_done(5)->status, Status::PeerRefused);
    w.run_for(100ms);
    EXPECT_TRUE(b.recvs.empty());
}

Config fast_timeouts(const Variant& v) {
    Config c = config_for(v);
    c.resend_delay = 10ms;
    c.resend_delay_max = 200ms;
    c.peer_timeout = 2s;
    return c;
}

TEST(Engine, SilentPeerTimesOut) {
    const Config config = fast_timeouts(kVariants[0]);
    World w;
    Node& a = w.add(kMacA, 1, config);
    link::Address nobody = a.address();
    nobody.board = 0x02000000deadull;
    nobody.endpoint = 9;
    const PeerId ghost = a.ep().peer_of(nobody);
    const Bytes small = pattern(1, 10), medium = pattern(2, 5000), large = pattern(3, 100000);
    const TimePoint start = w.now;
    ASSERT_EQ(post_send(w, a, ghost, small, 1), 0);
    ASSERT_EQ(post_send(w, a, ghost, medium, 2), 0);
    ASSERT_EQ(post_send(w, a, ghost, large, 3), 0);
    ASSERT_TRUE(w.run_until([&] { return a.sends.size() == 3; }, 30s));
    const Duration took = w.now - start;
    for (const Completion& c : a.sends) EXPECT_EQ(c.status, Status::PeerTimeout) << engine::status_text(c.status);
    EXPECT_GE(took, config.peer_timeout);
    EXPECT_LE(took, config.peer_timeout + config.resend_delay_max + kMaxJump);
    EXPECT_GT(a.ep().counters().resends, 0u);
}

TEST(Engine, PeerThatVanishesTimesOut) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    // Connected first, then b falls silent.
    const Bytes hello = pattern(1, 10);
    Bytes buffer(1000000, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(1) && p.b.recv_done(1); }));

    // b has a large message's rendezvous, then a goes away: b's pull fails.
    const Bytes large = pattern(2, 500000);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, large, 2), 0);
    p.w.run_for(30ms);
    p.w.net.cut(kMacA, 1, true);
    const TimePoint start = p.w.now;
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), buffer.size(), 2), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(2); }, 30s));
    EXPECT_EQ(p.b.recv_done(2)->status, Status::PeerTimeout) << engine::status_text(p.b.recv_done(2)->status);
    EXPECT_GE(p.w.now - start, config.peer_timeout);

    // And a's sends into the void fail as well, every class.
    const Bytes small = pattern(3, 10), medium = pattern(4, 5000), large2 = pattern(5, 100000);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 3), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, medium, 4), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, large2, 5), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(3) && p.a.send_done(4) && p.a.send_done(5); }, 30s));
    for (uint64_t id : {3, 4, 5}) EXPECT_EQ(p.a.send_done(id)->status, Status::PeerTimeout) << id;
}

// b restarts (a new session on the same address) while a has sends in
// flight to it. Those fail; what a sends afterwards reaches the new b.
void restart_scenario(bool new_peer_speaks_first) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    const Bytes hello = pattern(1, 10);
    Bytes hello_buffer(100);
    // Many explicit acks from the old b: the new one's count from 1 again.
    for (int i = 0; i < 40; ++i) {
        ASSERT_EQ(post_recv(p.w, p.b, hello_buffer.data(), 100, 1), 0);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(1) && p.b.recv_done(1); }));
        p.a.sends.clear();
        p.b.recvs.clear();
    }
    ASSERT_GE(p.b.ep().counters().acks_sent, 40u);

    // In flight: b hears none of them.
    p.w.net.cut(kMacB, 2, true);
    const Bytes small = pattern(2, 10), medium = pattern(3, 5000), large = pattern(4, 100000);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 2), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, medium, 3), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, large, 4), 0);
    p.w.run_for(30ms);
    p.b.restart(0x77770001u);
    p.w.net.cut(kMacB, 2, false);
    const PeerId ba = p.b.ep().peer_of(p.a.address());

    Bytes a_buffer(100, kGuardByte);
    const Bytes from_new_b = pattern(10, 40);
    if (new_peer_speaks_first) {
        ASSERT_EQ(post_recv(p.w, p.a, a_buffer.data(), 100, 10), 0);
        ASSERT_EQ(post_send(p.w, p.b, ba, from_new_b, 10), 0);
    }
    ASSERT_TRUE(p.w.run_until([&] { return p.a.sends.size() == 3; }, 10s));
    for (uint64_t id : {2, 3, 4}) {
        const Status s = p.a.send_done(id)->status;
        EXPECT_TRUE(s == Status::PeerReset || s == Status::PeerTimeout) << id << ": " << engine::status_text(s);
    }
    if (new_peer_speaks_first) {
        ASSERT_TRUE(p.w.run_until([&] { return p.a.recv_done(10) && p.b.send_done(10); }));
        EXPECT_EQ(p.b.send_done(10)->status, Status::Ok);
        EXPECT_EQ(first_mismatch(a_buffer.data(), 40, 10), 40u);
    }

    // The new b gets what a sends now, every class, and nothing of the old.
    std::vector<Bytes> buffers(3, Bytes(200000, kGuardByte));
    const Bytes n1 = pattern(21, 10), n2 = pattern(22, 5000), n3 = pattern(23, 150000);
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    for (uint64_t i = 0; i < 3; ++i) ASSERT_EQ(post_recv(p.w, p.b, buffers[i].data(), 200000, 21 + i, any), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, n1, 21), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, n2, 22), 0);
    // Eager sends first and alone: only b's explicit acks complete them.
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(21) && p.a.send_done(22); }, 30s));
    ASSERT_EQ(post_send(p.w, p.a, p.ab, n3, 23), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recvs.size() >= 3 && p.a.sends.size() >= 6; }, 30s));
    for (uint64_t id : {21, 22, 23}) {
        ASSERT_NE(p.a.send_done(id), nullptr);
        EXPECT_EQ(p.a.send_done(id)->status, Status::Ok) << id << ": " << engine::status_text(p.a.send_done(id)->status);
        ASSERT_NE(p.b.recv_done(id), nullptr);
        EXPECT_EQ(p.b.recv_done(id)->status, Status::Ok);
    }
    EXPECT_EQ(first_mismatch(buffers[0].data(), 10, 21), 10u);
    EXPECT_EQ(first_mismatch(buffers[1].data(), 5000, 22), 5000u);
    EXPECT_EQ(first_mismatch(buffers[2].data(), 150000, 23), 150000u);
    p.w.run_for(3s);
    EXPECT_EQ(p.b.recvs.size(), 3u);
    EXPECT_EQ(p.a.sends.size(), 6u);
}

TEST(Engine, RestartedPeerSpeakingFirst) { restart_scenario(true); }
TEST(Engine, RestartedPeerFoundBySending) { restart_scenario(false); }

// A cut shorter than the peer timeout only delays things.
TEST(Engine, ShortCutRecovers) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    const Bytes hello = pattern(1, 10);
    Bytes hello_buffer(10);
    ASSERT_EQ(post_recv(p.w, p.b, hello_buffer.data(), 10, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));
    p.w.net.cut(kMacB, 2, true);
    const std::vector<size_t> sizes = {10, 5000, 100000, 0, 300};
    std::vector<Bytes> payloads, to_b, to_a;
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    for (size_t i = 0; i < sizes.size(); ++i) {
        payloads.push_back(pattern(10 + i, sizes[i]));
        to_b.emplace_back(sizes[i] + kGuard, kGuardByte);
        to_a.emplace_back(sizes[i] + kGuard, kGuardByte);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
        ASSERT_EQ(post_recv(p.w, p.b, to_b[i].data(), sizes[i], 10 + i, any), 0);
        ASSERT_EQ(post_recv(p.w, p.a, to_a[i].data(), sizes[i], 10 + i, any), 0);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payloads[i], 10 + i), 0);
        ASSERT_EQ(post_send(p.w, p.b, p.ba, payloads[i], 10 + i), 0);
    }
    p.w.run_for(config.peer_timeout / 2);
    p.w.net.cut(kMacB, 2, false);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.recvs.size() == sizes.size() && p.b.recvs.size() == sizes.size() + 1 &&
                                           p.a.sends.size() == sizes.size() + 1 && p.b.sends.size() == sizes.size(); }));
    for (size_t i = 0; i < sizes.size(); ++i) {
        EXPECT_EQ(p.a.send_done(10 + i)->status, Status::Ok);
        EXPECT_EQ(p.b.send_done(10 + i)->status, Status::Ok);
        EXPECT_EQ(first_mismatch(to_b[i].data(), sizes[i], 10 + i), sizes[i]);
        EXPECT_EQ(first_mismatch(to_a[i].data(), sizes[i], 10 + i), sizes[i]);
    }
}

// A cut longer than the peer timeout ends the connection on the side that
// had something in flight; once healed, both sides talk again, whichever
// speaks first.
void long_cut(bool a_speaks_first) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    const Bytes hello = pattern(1, 10);
    Bytes buffer(200000, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 10, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));
    p.w.net.cut(kMacB, 2, true);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 2), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(2); }));
    EXPECT_EQ(p.a.send_done(2)->status, Status::PeerTimeout);
    p.w.net.cut(kMacB, 2, false);

    Node& first = a_speaks_first ? p.a : p.b;
    Node& second = a_speaks_first ? p.b : p.a;
    const PeerId first_to = a_speaks_first ? p.ab : p.ba;
    const PeerId second_to = a_speaks_first ? p.ba : p.ab;
    const Bytes m1 = pattern(3, 100), m2 = pattern(4, 150000);
    Bytes b1(100), b2(150000);
    ASSERT_EQ(post_recv(p.w, second, b1.data(), 100, 3), 0);
    ASSERT_EQ(post_send(p.w, first, first_to, m1, 3), 0);
    // The side that did not time out may lose what it sent on the old
    // connection; resend then, as an application would.
    ASSERT_TRUE(p.w.run_until([&] { return first.send_done(3) != nullptr; }));
    if (first.send_done(3)->status != Status::Ok) {
        EXPECT_EQ(first.send_done(3)->status, Status::PeerReset);
        first.sends.clear();
        ASSERT_EQ(post_send(p.w, first, first_to, m1, 3), 0);
    }
    ASSERT_TRUE(p.w.run_until([&] { return second.recv_done(3) && first.send_done(3); }));
    EXPECT_EQ(first.send_done(3)->status, Status::Ok);
    EXPECT_EQ(first_mismatch(b1.data(), 100, 3), 100u);
    ASSERT_EQ(post_recv(p.w, first, b2.data(), 150000, 4), 0);
    ASSERT_EQ(post_send(p.w, second, second_to, m2, 4), 0);
    ASSERT_TRUE(p.w.run_until([&] { return first.recv_done(4) && second.send_done(4); }));
    EXPECT_EQ(second.send_done(4)->status, Status::Ok);
    EXPECT_EQ(first_mismatch(b2.data(), 150000, 4), 150000u);
}

TEST(Engine, LongCutThenTimedOutSideSpeaks) { long_cut(true); }
TEST(Engine, LongCutThenOtherSideSpeaks) { long_cut(false); }

// A NACK_LIB from `from` to `to`, as a peer's kernel or library sends it.
void inject_nack(Node& to, Node& from, wire::NackType type, uint16_t lib_seqnum) {
    wire::Head head;
    head.dst_mac = to.address().board;
    head.src_mac = from.address().board;
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    wire::NackLib nack;
    nack.src_endpoint = from.address().endpoint;
    nack.dst_endpoint = to.address().endpoint;
    nack.nack_type = type;
    nack.lib_seqnum = lib_seqnum;
    const size_t n = wire::encode_nack_lib(head, nack, header);
    to.link().inject(Bytes(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(n)), from.link().local_route());
}

// What the kernel of a host whose endpoint closed answers: a nack saying so.
void inject_closed_nack(World& w, Node& to, Node& from, uint16_t lib_seqnum) {
    inject_nack(to, from, wire::NackType::EndpointClosed, lib_seqnum);
    w.run_for(5ms);
}

// A nack may be a late echo of an older connection: it makes the sender
// check the connection, not drop it.
TEST(Engine, StaleNackDoesNotBreakTheConnection) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    const Bytes hello = pattern(1, 10);
    Bytes buffer(100, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 10, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);  // sequence number 0
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));
    p.w.net.cut(kMacB, 2, true);
    const Bytes next = pattern(2, 50);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, next, 2), 0);  // sequence number 1, unacked
    p.w.run_for(20ms);

    inject_nack(p.a, p.b, wire::NackType::BadSession, 1);
    p.w.run_for(50ms);
    p.w.net.cut(kMacB, 2, false);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 50, 2), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(2) && p.a.send_done(2); }));
    EXPECT_EQ(p.a.send_done(2)->status, Status::Ok) << engine::status_text(p.a.send_done(2)->status);
    EXPECT_EQ(first_mismatch(buffer.data(), 50, 2), 50u);
}

// A peer whose endpoint closed: its kernel nacks the frames sent to it, the
// sender checks the connection, the connect request is nacked too, and the
// send fails then, long before the peer timeout.
TEST(Engine, ClosedPeerFailsFastOnItsNacks) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    const Bytes hello = pattern(1, 10);
    Bytes buffer(100, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 10, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);  // sequence number 0
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));
    p.w.net.cut(kMacB, 2, true);
    const TimePoint start = p.w.now;
    ASSERT_EQ(post_send(p.w, p.a, p.ab, pattern(2, 50), 2), 0);  // sequence number 1
    p.w.run_for(5ms);
    inject_closed_nack(p.w, p.a, p.b, 1);
    EXPECT_EQ(p.a.send_done(2), nullptr) << "one nack is only a reason to check the connection";
    inject_closed_nack(p.w, p.a, p.b, 0);  // the connect request's
    ASSERT_NE(p.a.send_done(2), nullptr);
    EXPECT_EQ(p.a.send_done(2)->status, Status::PeerGone) << engine::status_text(p.a.send_done(2)->status);
    EXPECT_LT(p.w.now - start, config.peer_timeout / 4);

    // A later send tries again, and fails the same way while the endpoint stays closed.
    ASSERT_EQ(post_send(p.w, p.a, p.ab, pattern(3, 20), 3), 0);
    p.w.run_for(5ms);
    inject_closed_nack(p.w, p.a, p.b, 0);
    ASSERT_NE(p.a.send_done(3), nullptr);
    EXPECT_EQ(p.a.send_done(3)->status, Status::PeerGone);
}

// The same for a peer never reached: the connect request's nack ends it.
TEST(Engine, ConnectToAClosedEndpointFailsFast) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    p.w.net.cut(kMacB, 2, true);
    const TimePoint start = p.w.now;
    ASSERT_EQ(post_send(p.w, p.a, p.ab, pattern(1, 10), 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, pattern(2, 100000), 2), 0);
    p.w.run_for(5ms);
    inject_closed_nack(p.w, p.a, p.b, 0);
    ASSERT_NE(p.a.send_done(1), nullptr);
    ASSERT_NE(p.a.send_done(2), nullptr);
    EXPECT_EQ(p.a.send_done(1)->status, Status::PeerGone);
    EXPECT_EQ(p.a.send_done(2)->status, Status::PeerGone);
    EXPECT_LT(p.w.now - start, config.peer_timeout / 4);
}

// b restarts again and again while both sides send over a lossy network.
// Whatever is delivered is intact, at most once and in order per sender;
// every send of a completes one way or another; and in the end the two
// talk normally.
void restarts_under_loss(uint32_t seed) {
    Config config = fast_timeouts(kVariants[0]);
    config.resend_delay = 5ms;
    config.resend_delay_max = 100ms;
    Pair p(config, 9000, seed);
    Faults faults;
    faults.drop = 0.1;
    faults.duplicate = 0.05;
    faults.reorder = 0.1;
    p.w.net.set_faults(faults);
    std::mt19937 rng(seed * 7 + 1);
    constexpr size_t kMax = 60000;
    std::vector<Bytes> payloads;  // by message id; a's ids even, b's odd
    auto make = [&](uint64_t id) -> const Bytes& {
        if (payloads.size() <= id) payloads.resize(id + 1);
        const size_t size = 8 + (rng() % 3 ? rng() % 200 : rng() % (kMax - 8));
        payloads[id] = pattern(id, size);
        wire::put_be32(payloads[id].data(), static_cast<uint32_t>(id >> 32));
        wire::put_be32(payloads[id].data() + 4, static_cast<uint32_t>(id));
        return payloads[id];
    };
    std::deque<Bytes> a_buffers, b_buffers;  // stable addresses while receives are posted
    std::set<uint64_t> delivered;
    size_t a_sent = 0, a_done = 0;
    RecvOpts any;
    any.ignore = ~uint64_t{0};

    // Checks the bytes of the receives a node completed and forgets them,
    // noting which message each receive took.
    std::map<size_t, uint64_t> taken_at_a, taken_at_b;  // receive (post order) -> message
    auto check = [&](Node& n, std::deque<Bytes>& buffers, std::map<size_t, uint64_t>& taken) {
        for (const Completion& c : n.recvs) {
            const size_t slot = id_of(c);
            if (c.status == Status::PeerReset || c.status == Status::PeerTimeout) continue;  // its sender went away
            ASSERT_EQ(c.status, Status::Ok);
            const Bytes& got = buffers[slot];
            const uint64_t id = (uint64_t{wire::get_be32(got.data())} << 32) | wire::get_be32(got.data() + 4);
            ASSERT_LT(id, payloads.size());
            ASSERT_EQ(c.length, payloads[id].size()) << id;
            ASSERT_EQ(std::memcmp(got.data(), payloads[id].data(), c.length), 0) << id;
            EXPECT_TRUE(delivered.insert(id).second) << "delivered twice: " << id;
            taken[slot] = id;
        }
        n.recvs.clear();
    };
    // Every receive takes any message: posted later, it took a later one.
    auto check_order = [](const std::map<size_t, uint64_t>& taken) {
        uint64_t last = 0;
        bool first = true;
        for (const auto& [slot, id] : taken) {
            if (!first) {
                EXPECT_GT(id, last) << "out of order at receive " << slot;
            }
            last = id;
            first = false;
        }
    };
    uint64_t next_id = 0;
    for (int epoch = 0; epoch < 5; ++epoch) {
        for (int round = 0; round < 1500; ++round) {
            if (rng() % 4 == 0) {
                const uint64_t id = next_id++ * 2;
                ASSERT_EQ(post_send(p.w, p.a, p.ab, make(id), id), 0);
                ++a_sent;
            }
            if (rng() % 4 == 0) {
                const uint64_t id = next_id++ * 2 + 1;
                ASSERT_EQ(post_send(p.w, p.b, p.ba, make(id), id), 0);
            }
            // Messages die with each b, so receives are only kept topped up.
            if (rng() % 4 == 0 && a_buffers.size() - p.a.recvs.size() - a_done < 200) {
                a_buffers.emplace_back(kMax);
                ASSERT_EQ(post_recv(p.w, p.a, a_buffers.back().data(), kMax, a_buffers.size() - 1, any), 0);
            }
            if (rng() % 4 == 0 && b_buffers.size() - p.b.recvs.size() < 200) {
                b_buffers.emplace_back(kMax);
                ASSERT_EQ(post_recv(p.w, p.b, b_buffers.back().data(), kMax, b_buffers.size() - 1, any), 0);
            }
            p.w.round();
        }
        a_done += p.a.recvs.size();
        check(p.a, a_buffers, taken_at_a);
        check(p.b, b_buffers, taken_at_b);
        check_order(taken_at_b);
        if (::testing::Test::HasFatalFailure()) return;
        // The new b knows nothing of what the old one was sent or posted.
        p.b.restart(0x60000000u + static_cast<uint32_t>(epoch));
        b_buffers.clear();
        taken_at_b.clear();
        p.ba = p.b.ep().peer_of(p.a.address());
    }
    // Every send of a ends, one way or another.
    const bool all_ended = p.w.run_until([&] { return p.a.sends.size() == a_sent; }, 30s);
    ASSERT_TRUE(all_ended) << p.a.sends.size() << " of " << a_sent;
    size_t ok = 0;
    for (const Completion& c : p.a.sends) {
        EXPECT_TRUE(c.status == Status::Ok || c.status == Status::PeerReset || c.status == Status::PeerTimeout)
            << engine::status_text(c.status);
        ok += c.status == Status::Ok;
    }
    EXPECT_GT(ok, a_sent / 3);
    check(p.a, a_buffers, taken_at_a);
    check_order(taken_at_a);
    EXPECT_GT(delivered.size(), next_id / 3);

    // Then a clean exchange both ways, once a's leftover receives are gone.
    // The newest b speaks first: a has not heard of it yet, and what a
    // sent to the b before would fail.
    for (size_t slot = 0; slot < a_buffers.size(); ++slot) p.a.ep().cancel(ctx(slot));
    p.w.net.set_faults({});
    p.w.run_for(3s);
    for (size_t size : {size_t{10}, size_t{5000}, size_t{150000}}) {
        p.a.sends.clear();
        p.a.recvs.clear();
        p.b.recvs.clear();
        p.b.sends.clear();
        const Bytes m = pattern(size, size);
        Bytes at_a(size), at_b(size);
        // A tag of its own: a still keeps unexpected messages of old b's.
        RecvOpts final_tag;
        final_tag.tag = 0xf1;
        SendOpts final_send;
        final_send.tag = 0xf1;
        ASSERT_EQ(post_recv(p.w, p.a, at_a.data(), size, 1, final_tag), 0);
        ASSERT_EQ(post_recv(p.w, p.b, at_b.data(), size, 2, final_tag), 0);
        ASSERT_EQ(post_send(p.w, p.b, p.ba, m, 1, final_send), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.recv_done(1) && p.b.send_done(1); }));
        ASSERT_EQ(post_send(p.w, p.a, p.ab, m, 2, final_send), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(2) && p.a.send_done(2); }));
        EXPECT_EQ(p.a.send_done(2)->status, Status::Ok);
        EXPECT_EQ(p.b.send_done(1)->status, Status::Ok);
        EXPECT_EQ(p.a.recv_done(1)->status, Status::Ok);
        EXPECT_EQ(p.b.recv_done(2)->status, Status::Ok);
        EXPECT_EQ(first_mismatch(at_a.data(), size, size), size);
        EXPECT_EQ(first_mismatch(at_b.data(), size, size), size);
    }
}

TEST(Engine, RestartsUnderLoss) {
    // Seed 82 once made a restarted peer's messages interleave with its
    // predecessor's. X2M_ENGINE_SEEDS=n runs seeds 31..31+n instead.
    std::vector<uint32_t> seeds = {31, 32, 33, 82};
    if (const char* env = std::getenv("X2M_ENGINE_SEEDS")) {
        seeds.clear();
        for (uint32_t k = 0; k < std::strtoul(env, nullptr, 10); ++k) seeds.push_back(31 + k);
    }
    for (uint32_t seed : seeds) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        restarts_under_loss(seed);
        if (HasFailure()) return;
    }
}

// A connect request that arrives late, after a newer one, tells an old
// state of the peer: taking it would renumber our sends wrongly.
TEST(Engine, LateConnectRequestIsIgnored) {
    const Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    Bytes buffer(100, kGuardByte);
    const Bytes m = pattern(1, 20);
    // a connects (its request 1, expecting sesnum 0), b connects back.
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, m, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));
    ASSERT_EQ(post_recv(p.w, p.a, buffer.data(), 100, 2), 0);
    ASSERT_EQ(post_send(p.w, p.b, p.ba, m, 2), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.recv_done(2) && p.b.send_done(2); }));
    // a gives b up and connects again (request 2, expecting sesnum 1).
    p.w.net.cut(kMacB, 2, true);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, m, 3), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(3); }));
    ASSERT_EQ(p.a.send_done(3)->status, Status::PeerTimeout);
    p.w.net.cut(kMacB, 2, false);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 4), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, m, 4), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(4) && p.a.send_done(4); }));
    ASSERT_EQ(p.a.send_done(4)->status, Status::Ok);

    // Request 1 again, late.
    wire::Head head;
    head.dst_mac = kMacB;
    head.src_mac = kMacA;
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    wire::Connect c;
    c.dst_endpoint = 2;
    c.src_endpoint = 1;
    c.src_session_id = p.a.ep().session();
    c.app_key = config.key;
    c.connect_seqnum = 1;
    c.target_recv_seqnum_start = 1;  // sesnum 0
    const size_t n = wire::encode_connect(head, c, header);
    p.b.link().inject(Bytes(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(n)), p.a.link().local_route());
    p.w.round();

    ASSERT_EQ(post_recv(p.w, p.a, buffer.data(), 100, 5), 0);
    ASSERT_EQ(post_send(p.w, p.b, p.ba, m, 5), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.send_done(5); }));
    EXPECT_EQ(p.b.send_done(5)->status, Status::Ok) << engine::status_text(p.b.send_done(5)->status);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.recv_done(5); }));
    EXPECT_EQ(first_mismatch(buffer.data(), 20, 1), 20u);
}

// ------------------------------------------------------------------ lossy network

struct Planned {
    size_t size;
    uint64_t tag;
    std::optional<uint64_t> data;
};

Faults default_faults() {
    Faults faults;
    faults.drop = 0.15;
    faults.duplicate = 0.05;
    faults.reorder = 0.10;
    faults.reorder_window = 4;
    return faults;
}

void lossy_run(const Variant& v, uint32_t seed, size_t count, const Faults& faults = default_faults()) {
    Config config = config_for(v);
    config.resend_delay = 5ms;
    config.resend_delay_max = 100ms;
    config.peer_timeout = 60s;
    Pair p(config, v.max_frame, seed);
    p.w.net.set_faults(faults);

    std::mt19937 rng(seed);
    const size_t rndv = effective_rndv(config);
    auto pick_size = [&]() -> size_t {
        const unsigned k = rng() % 100;
        if (k < 35) return rng() % 33;
        if (k < 60) return 33 + rng() % 96;
        if (k < 85) return 129 + rng() % (rndv - 128);
        return rndv + 1 + rng() % 150000;
    };

    struct Direction {
        Node* from;
        Node* to;
        PeerId peer;
        std::vector<Planned> plan;
        std::vector<Bytes> payloads;
        std::vector<Bytes> buffers;
        size_t posted = 0;
        size_t sent = 0;
    };
    std::array<Direction, 2> dirs{Direction{&p.a, &p.b, p.ab, {}, {}, {}}, Direction{&p.b, &p.a, p.ba, {}, {}, {}}};
    for (size_t d = 0; d < 2; ++d) {
        for (size_t i = 0; i < count; ++i) {
            Planned m;
            m.size = pick_size();
            m.tag = rng() % 4;
            if (rng() % 3 == 0) m.data = (uint64_t{rng()} << 32) | rng();
            dirs[d].plan.push_back(m);
            dirs[d].payloads.push_back(pattern(d * 100000 + i, m.size));
            dirs[d].buffers.emplace_back(m.size + kGuard, kGuardByte);
        }
    }
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    // Sends and receives trickle in, receives sometimes ahead and sometimes
    // behind, so that both the posted and the unexpected paths run.
    const TimePoint deadline = p.w.now + 300s;
    auto all_done = [&] {
        for (const Direction& d : dirs)
            if (d.to->recvs.size() < count || d.from->sends.size() < count) return false;
        return true;
    };
    while (!all_done() && p.w.now < deadline) {
        for (size_t d = 0; d < 2; ++d) {
            Direction& dir = dirs[d];
            const uint64_t base = d * 100000;
            for (int k = 0; k < 2 && dir.sent < count; ++k) {
                if (rng() % 4) break;
                const Planned& m = dir.plan[dir.sent];
                SendOpts so;
                so.tag = m.tag;
                so.data = m.data;
                const int ret = post_send(p.w, *dir.from, dir.peer, dir.payloads[dir.sent], base + dir.sent, so);
                ASSERT_TRUE(ret == 0 || ret == -EAGAIN) << ret;
                if (ret == 0) ++dir.sent;
            }
            if (dir.posted < count && rng() % 4 == 0) {
                Bytes& buffer = dir.buffers[dir.posted];
                ASSERT_EQ(post_recv(p.w, *dir.to, buffer.data(), dir.plan[dir.posted].size, base + dir.posted, any), 0);
                ++dir.posted;
            }
        }
        p.w.round();
    }
    ASSERT_TRUE(all_done()) << "a: " << p.a.sends.size() << " sent, " << p.a.recvs.size() << " received; b: "
                            << p.b.sends.size() << " sent, " << p.b.recvs.size() << " received";
    p.w.run_for(2s);  // late duplicates must change nothing

    for (size_t d = 0; d < 2; ++d) {
        Direction& dir = dirs[d];
        const uint64_t base = d * 100000;
        EXPECT_EQ(dir.to->recvs.size(), count) << "each message delivered once";
        EXPECT_EQ(dir.from->sends.size(), count);
        std::set<uint64_t> seen;
        for (const Completion& c : dir.to->recvs) EXPECT_TRUE(seen.insert(id_of(c)).second) << "twice: " << id_of(c);
        for (size_t i = 0; i < count; ++i) {
            const Planned& m = dir.plan[i];
            const Completion* s = dir.from->send_done(base + i);
            ASSERT_NE(s, nullptr) << i;
            EXPECT_EQ(s->status, Status::Ok) << i << ": " << engine::status_text(s->status);
            // Receive i took message i: order per sender held.
            const Completion* r = dir.to->recv_done(base + i);
            ASSERT_NE(r, nullptr) << i;
            EXPECT_EQ(r->status, Status::Ok) << i;
            EXPECT_EQ(r->tag, m.tag) << i;
            EXPECT_EQ(r->length, m.size) << i;
            EXPECT_EQ(r->has_data, m.data.has_value()) << i;
            if (m.data) {
                EXPECT_EQ(r->data, *m.data) << i;
            }
            EXPECT_EQ(first_mismatch(dir.buffers[i].data(), m.size, base + i), m.size) << i;
            EXPECT_TRUE(guard_intact(dir.buffers[i], m.size)) << i;
        }
    }
    const auto& ca = p.a.ep().counters();
    const auto& cb = p.b.ep().counters();
    EXPECT_GT(ca.resends + cb.resends, 0u);
    if (count >= 200) {
        // Frames that overtook a lost one wait at the receiver: a loss costs
        // a resend of what was lost, not of everything sent after it.
        EXPECT_LT(ca.resends + cb.resends, p.w.net.stats().frames / 4);
    }
    EXPECT_GT(ca.duplicates + cb.duplicates, 0u);
    EXPECT_GT(ca.acks_sent + cb.acks_sent, 0u);
    EXPECT_GT(p.w.net.stats().dropped, 0u);
    EXPECT_EQ(p.w.net.stats().oversize, 0u);
    // Every frame counted went to the network, every one delivered was seen.
    EXPECT_EQ(ca.frames_sent + cb.frames_sent, p.w.net.stats().frames);
    if (p.w.net.idle()) {
        EXPECT_EQ(ca.frames_received + cb.frames_received, p.w.net.stats().delivered);
    }
    for (const auto* c : {&ca, &cb})
        for (uint64_t drops : c->decode_drops) EXPECT_EQ(drops, 0u) << "the engine sent a frame it cannot decode";

    // Nothing is left over: a late receive finds nothing.
    Bytes spare(1000);
    ASSERT_EQ(post_recv(p.w, p.b, spare.data(), spare.size(), 999999, any), 0);
    p.w.run_for(1s);
    EXPECT_EQ(p.b.recv_done(999999), nullptr);
    EXPECT_TRUE(p.b.ep().cancel(ctx(999999)));
}

TEST(Engine, LossyNetworkOpenMx9000) { lossy_run(kVariants[0], 7, 300); }
// Many short runs: rare interleavings show up with some seed. For a longer
// hunt: X2M_ENGINE_SEEDS=n runs n seeds, X2M_ENGINE_HARSH=1 doubles the
// damage.
TEST(Engine, LossyNetworkManySeeds) {
    const char* env = std::getenv("X2M_ENGINE_SEEDS");
    const uint32_t seeds = env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 12;
    for (uint32_t seed = 100; seed < 100 + seeds; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        Faults faults = default_faults();
        if (std::getenv("X2M_ENGINE_HARSH")) {
            faults.drop = 0.3;
            faults.duplicate = 0.2;
            faults.reorder = 0.3;
            faults.reorder_window = 8;
        }
        lossy_run(kVariants[seed % 3], seed, 60, faults);
        if (HasFailure()) return;
    }
}
TEST(Engine, LossyNetworkOpenMx1500) { lossy_run(kVariants[1], 11, 200); }
TEST(Engine, LossyNetworkMxCompat) { lossy_run(kVariants[2], 13, 200); }

// More messages than the 14-bit sequence numbers count, with some loss:
// the numbers wrap and nothing is lost, doubled or reordered.
TEST(Engine, SequenceNumbersWrap) {
    Config config = config_for(kVariants[0]);
    config.resend_delay = 5ms;
    config.resend_delay_max = 50ms;
    Pair p(config, 9000, 9);
    Faults faults;
    faults.drop = 0.05;
    faults.reorder = 0.05;
    p.w.net.set_faults(faults);
    constexpr size_t kCount = 40000;
    constexpr size_t kBatch = 200;
    Bytes payload(16);
    std::vector<Bytes> buffers(kBatch, Bytes(16));
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    for (size_t base = 0; base < kCount; base += kBatch) {
        p.b.recvs.clear();
        p.a.sends.clear();
        for (size_t i = 0; i < kBatch; ++i) {
            ASSERT_EQ(post_recv(p.w, p.b, buffers[i].data(), 16, base + i, any), 0);
            wire::put_be32(payload.data(), static_cast<uint32_t>(base + i));
            SendOpts so;
            so.tag = base + i;
            so.copy = true;
            ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, base + i, so), 0);
        }
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recvs.size() == kBatch && p.a.sends.size() == kBatch; }))
            << "batch at " << base;
        for (size_t i = 0; i < kBatch; ++i) {
            const Completion* r = p.b.recv_done(base + i);
            ASSERT_NE(r, nullptr);
            ASSERT_EQ(r->tag, base + i);
            ASSERT_EQ(wire::get_be32(buffers[i].data()), base + i);
            ASSERT_EQ(p.a.send_done(base + i)->status, Status::Ok);
        }
    }
    p.w.run_for(1s);
    EXPECT_TRUE(p.b.recvs.size() == kBatch) << "a late duplicate was delivered";
    EXPECT_GT(p.a.ep().counters().resends, 0u);
}

// Two senders feed one receiver through wildcard receives under loss: their
// messages interleave, but each sender's arrive in its own order.
TEST(Engine, LossyFanInKeepsEachSendersOrder) {
    Config config = config_for(kVariants[0]);
    config.resend_delay = 5ms;
    config.resend_delay_max = 100ms;
    World w(21);
    Node& a = w.add(kMacA, 1, config);
    Node& b = w.add(kMacB, 2, config);
    Node& c = w.add(kMacC, 3, config);
    Faults faults;
    faults.drop = 0.2;
    faults.duplicate = 0.05;
    faults.reorder = 0.1;
    w.net.set_faults(faults);
    const PeerId peers[] = {a.ep().peer_of(c.address()), b.ep().peer_of(c.address())};
    Node* senders[] = {&a, &b};
    constexpr size_t kEach = 150;
    std::mt19937 rng(4);
    std::vector<Bytes> payloads;
    const size_t rndv = effective_rndv(config);
    for (size_t i = 0; i < 2 * kEach; ++i) {
        const unsigned k = rng() % 10;
        const size_t size = k < 4 ? rng() % 129 : k < 8 ? 129 + rng() % rndv : rndv + rng() % 100000;
        payloads.push_back(pattern(i, size));
    }
    std::vector<Bytes> buffers(2 * kEach, Bytes(rndv + 100000 + kGuard, kGuardByte));
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    size_t posted = 0;
    std::array<size_t, 2> sent{};
    while (posted < 2 * kEach || sent[0] < kEach || sent[1] < kEach) {
        for (size_t s = 0; s < 2; ++s) {
            if (sent[s] < kEach && rng() % 3 == 0) {
                const uint64_t id = s * kEach + sent[s];
                SendOpts so;
                so.tag = (uint64_t{s} << 32) | sent[s];
                ASSERT_EQ(post_send(w, *senders[s], peers[s], payloads[id], id, so), 0);
                ++sent[s];
            }
        }
        if (posted < 2 * kEach && rng() % 2 == 0) {
            ASSERT_EQ(post_recv(w, c, buffers[posted].data(), buffers[posted].size() - kGuard, posted, any), 0);
            ++posted;
        }
        w.round();
    }
    ASSERT_TRUE(w.run_until([&] { return c.recvs.size() == 2 * kEach && a.sends.size() == kEach && b.sends.size() == kEach; },
                            300s));
    std::array<int64_t, 2> last{-1, -1};
    for (uint64_t r = 0; r < 2 * kEach; ++r) {
        const Completion* done = c.recv_done(r);
        ASSERT_NE(done, nullptr);
        ASSERT_EQ(done->status, Status::Ok);
        const size_t s = done->tag >> 32;
        const size_t index = done->tag & 0xffffffff;
        ASSERT_LT(s, 2u);
        EXPECT_EQ(done->peer, c.ep().peer_of(senders[s]->address()));
        EXPECT_EQ(static_cast<int64_t>(index), last[s] + 1) << "sender " << s << " out of order";
        last[s] = static_cast<int64_t>(index);
        const uint64_t id = s * kEach + index;
        EXPECT_EQ(done->length, payloads[id].size());
        EXPECT_EQ(first_mismatch(buffers[r].data(), payloads[id].size(), id), payloads[id].size());
    }
    for (const Completion& s : a.sends) EXPECT_EQ(s.status, Status::Ok);
    for (const Completion& s : b.sends) EXPECT_EQ(s.status, Status::Ok);
}

// More large messages at once than there are pull slots and regions: the
// sender is told to retry, the receiver queues its pulls; all arrive.
TEST(Engine, MoreLargeMessagesThanPullSlots) {
    Pair p(config_for(kVariants[0]));
    const size_t rndv = effective_rndv(p.a.config());
    constexpr size_t kCount = 300;
    std::vector<Bytes> payloads, buffers;
    for (size_t i = 0; i < kCount; ++i) {
        payloads.push_back(pattern(i, rndv + 1 + i));
        buffers.emplace_back(rndv + 1 + i + kGuard, kGuardByte);
    }
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(post_recv(p.w, p.b, buffers[i].data(), rndv + 1 + i, i, any), 0);
    size_t sent = 0, retries = 0;
    ASSERT_TRUE(p.w.run_until([&] {
        while (sent < kCount) {
            const int ret = post_send(p.w, p.a, p.ab, payloads[sent], sent);
            if (ret == -EAGAIN) {
                ++retries;
                break;
            }
            EXPECT_EQ(ret, 0);
            ++sent;
        }
        return sent == kCount && p.b.recvs.size() == kCount && p.a.sends.size() == kCount;
    }));
    EXPECT_GT(retries, 0u) << "256 regions cannot hold 300 large sends";
    for (size_t i = 0; i < kCount; ++i) {
        ASSERT_EQ(p.b.recv_done(i)->status, Status::Ok) << i;
        EXPECT_EQ(p.b.recv_done(i)->length, rndv + 1 + i);
        EXPECT_EQ(first_mismatch(buffers[i].data(), rndv + 1 + i, i), rndv + 1 + i) << i;
        EXPECT_EQ(p.a.send_done(i)->status, Status::Ok);
    }
}

// Many pulls ending at once need more NOTIFYs than the receiver has send
// requests: the rest wait for free ones, and every sender hears.
TEST(Engine, NotifiesOutnumberingSendRequests) {
    const Config config = config_for(kVariants[0]);
    World w;
    Node& a = w.add(kMacA, 1, config);
    Config small = config;
    small.max_sends = 1;
    Node& b = w.add(kMacB, 2, small);
    const PeerId ab = a.ep().peer_of(b.address());
    const size_t size = effective_rndv(config) + 1;
    constexpr size_t kCount = 200;
    std::vector<Bytes> payloads, buffers;
    for (size_t i = 0; i < kCount; ++i) {
        payloads.push_back(pattern(i, size));
        buffers.emplace_back(size);
        ASSERT_EQ(post_recv(w, b, buffers[i].data(), size, i, RecvOpts{i, 0, true, kNoPeer}), 0);
    }
    for (size_t i = 0; i < kCount; ++i) {
        SendOpts so;
        so.tag = i;
        ASSERT_EQ(post_send(w, a, ab, payloads[i], i, so), 0);
    }
    ASSERT_TRUE(w.run_until([&] { return a.sends.size() == kCount && b.recvs.size() == kCount; }));
    for (size_t i = 0; i < kCount; ++i) {
        EXPECT_EQ(a.send_done(i)->status, Status::Ok) << i;
        EXPECT_EQ(b.recv_done(i)->status, Status::Ok) << i;
        EXPECT_EQ(first_mismatch(buffers[i].data(), size, i), size) << i;
    }
}

// A receiver out of room for unexpected data takes nothing it cannot keep;
// the sender resends, and order holds once receives come.
TEST(Engine, UnexpectedBudgetExhausted) {
    Config config = config_for(kVariants[0]);
    config.resend_delay = 5ms;
    config.resend_delay_max = 50ms;
    config.unexpected_bytes = 12000;
    Pair p(config);
    const std::vector<size_t> sizes = {5000, 20, 5000, 5000, 100, 5000, 30000, 3, 100000, 5000};
    std::vector<Bytes> payloads, buffers;
    for (size_t i = 0; i < sizes.size(); ++i) {
        payloads.push_back(pattern(i, sizes[i]));
        buffers.emplace_back(sizes[i] + kGuard, kGuardByte);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payloads[i], i), 0);
    }
    p.w.run_for(500ms);
    EXPECT_GT(p.b.ep().counters().dropped_unexpected, 0u);
    EXPECT_LT(p.a.sends.size(), sizes.size());
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    for (size_t i = 0; i < sizes.size(); ++i) ASSERT_EQ(post_recv(p.w, p.b, buffers[i].data(), sizes[i], i, any), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recvs.size() == sizes.size() && p.a.sends.size() == sizes.size(); }));
    for (size_t i = 0; i < sizes.size(); ++i) {
        EXPECT_EQ(p.b.recv_done(i)->status, Status::Ok);
        EXPECT_EQ(p.b.recv_done(i)->length, sizes[i]) << i;
        EXPECT_EQ(first_mismatch(buffers[i].data(), sizes[i], i), sizes[i]) << i;
        EXPECT_EQ(p.a.send_done(i)->status, Status::Ok);
    }
}

TEST(Engine, SendToSelf) {
    World w;
    Node& a = w.add(kMacA, 1, config_for(kVariants[0]));
    const PeerId self = a.ep().peer_of(a.address());
    for (size_t size : {size_t{10}, size_t{5000}, size_t{200000}}) {
        const Bytes payload = pattern(size, size);
        Bytes buffer(size + kGuard, kGuardByte);
        ASSERT_EQ(post_recv(w, a, buffer.data(), size, size), 0);
        ASSERT_EQ(post_send(w, a, self, payload, size), 0);
        ASSERT_TRUE(w.run_until([&] { return a.send_done(size) && a.recv_done(size); }));
        EXPECT_EQ(a.recv_done(size)->status, Status::Ok);
        EXPECT_EQ(a.recv_done(size)->peer, self);
        EXPECT_EQ(first_mismatch(buffer.data(), size, size), size);
    }
}

// A send that asked for no completion entry still reaches the sink (the
// layer above counts it), marked as such; a failure says so in its status.
TEST(Engine, UnreportedSendsAreMarked) {
    Pair p(config_for(kVariants[0]));
    SendOpts quiet;
    quiet.report = false;
    const Bytes small = pattern(1, 10), large = pattern(2, 100000);
    Bytes b1(10), b2(100000);
    ASSERT_EQ(post_recv(p.w, p.b, b1.data(), 10, 1), 0);
    ASSERT_EQ(post_recv(p.w, p.b, b2.data(), 100000, 2), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 1, quiet), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, large, 2, quiet), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recvs.size() == 2 && p.a.sends.size() == 2; }));
    for (const Completion& c : p.a.sends) {
        EXPECT_FALSE(c.report);
        EXPECT_EQ(c.status, Status::Ok);
    }
    for (const Completion& c : p.b.recvs) EXPECT_TRUE(c.report);
    p.w.net.cut(kMacB, 2, true);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 3, quiet), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(3); }, 60s));
    EXPECT_EQ(p.a.send_done(3)->status, Status::PeerTimeout);
}

// Acks owed when an endpoint closes go out at once with flush().
TEST(Engine, FlushSendsOwedAcks) {
    Config config = config_for(kVariants[0]);
    config.ack_delay = 200ms;
    config.ack_every = 100;
    config.resend_delay = 500ms;
    Pair p(config);
    const Bytes hello = pattern(1, 10);
    Bytes buffer(10);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 10, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1); }));
    const TimePoint received = p.w.now;
    const uint64_t acks = p.b.ep().counters().acks_sent;
    p.b.ep().flush();
    EXPECT_EQ(p.b.ep().counters().acks_sent, acks + 1);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(1); }));
    EXPECT_LT(p.w.now - received, config.ack_delay) << "the ack waited for its delay";
    p.b.ep().flush();
    EXPECT_EQ(p.b.ep().counters().acks_sent, acks + 1) << "nothing more was owed";
}

TEST(Engine, ReceivePoolExhausted) {
    Config config = config_for(kVariants[0]);
    config.max_recvs = 4;
    Pair p(config);
    Bytes buffer(10);
    for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 10, i), 0);
    EXPECT_EQ(post_recv(p.w, p.b, buffer.data(), 10, 9), -EAGAIN);
    EXPECT_TRUE(p.b.ep().cancel(ctx(0)));
    EXPECT_EQ(post_recv(p.w, p.b, buffer.data(), 10, 9), 0);
}

// ------------------------------------------------------------------ datagram mode

Config dgram_config(const Variant& v) {
    Config c = config_for(v);
    c.reliable = false;
    return c;
}

TEST(Engine, DatagramDeliveryWithoutLoss) {
    for (const Variant& v : kVariants) {
        SCOPED_TRACE(v.name);
        Pair p(dgram_config(v), v.max_frame);
        const size_t max = p.a.ep().max_message();
        EXPECT_EQ(max, v.limits.medium_msg_max());
        uint64_t id = 0;
        for (bool unexpected : {false, true}) {
            for (size_t size : {size_t{0}, size_t{1}, size_t{32}, size_t{33}, size_t{128}, size_t{129},
                                size_t{v.limits.medium_frag_max}, size_t{v.limits.medium_frag_max} + 1, max - 8, max}) {
                for (bool with_data : {false, true}) {
                    if (with_data && size + 8 > max) continue;
                    ++id;
                    SCOPED_TRACE(size);
                    const Bytes payload = pattern(id, size);
                    Bytes buffer(size + kGuard, kGuardByte);
                    SendOpts so;
                    so.tag = id;
                    if (with_data) so.data = id * 3;
                    RecvOpts ro;
                    ro.tag = id;
                    if (!unexpected) {
                        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id, ro), 0);
                    }
                    ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
                    ASSERT_NE(p.a.send_done(id), nullptr) << "datagram sends complete at once";
                    EXPECT_EQ(p.a.send_done(id)->status, Status::Ok);
                    if (unexpected) {
                        p.w.run_for(5ms);
                        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id, ro), 0);
                    }
                    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(id); }, 5s));
                    const Completion& r = *p.b.recv_done(id);
                    EXPECT_EQ(r.status, Status::Ok);
                    EXPECT_EQ(r.length, size);
                    EXPECT_EQ(r.has_data, with_data);
                    if (with_data) {
                        EXPECT_EQ(r.data, id * 3);
                    }
                    EXPECT_EQ(r.peer, p.ba);
                    EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
                    EXPECT_TRUE(guard_intact(buffer, size));
                }
            }
        }
        const Bytes too_big(max + 1);
        EXPECT_EQ(post_send(p.w, p.a, p.ab, too_big, 1), -EMSGSIZE);
        EXPECT_EQ(p.a.ep().counters().acks_sent + p.b.ep().counters().acks_sent, 0u) << "no acks in datagram mode";
    }
}

TEST(Engine, DatagramLossKeepsWhatArrivesIntact) {
    for (const Variant& v : kVariants) {
        SCOPED_TRACE(v.name);
        Pair p(dgram_config(v), v.max_frame, 5);
        Faults faults;
        faults.drop = 0.1;
        faults.duplicate = 0.05;
        faults.reorder = 0.1;
        p.w.net.set_faults(faults);
        const size_t max = p.a.ep().max_message();
        std::mt19937 rng(3);
        constexpr size_t kCount = 200;
        std::vector<Bytes> payloads;
        std::vector<size_t> sizes;
        // Each message starts with its number, so that whatever a receive
        // got can be checked against what was sent.
        for (size_t i = 0; i < kCount; ++i) {
            const bool small = rng() % 2;
            const size_t size = 8 + rng() % (small ? 200 : max - 8);
            Bytes b = pattern(i, size);
            wire::put_be32(b.data(), 0);
            wire::put_be32(b.data() + 4, static_cast<uint32_t>(i));
            payloads.push_back(std::move(b));
            sizes.push_back(size);
        }
        std::vector<Bytes> buffers(kCount + 20, Bytes(max + kGuard, kGuardByte));
        RecvOpts any;
        any.ignore = ~uint64_t{0};
        for (size_t i = 0; i < buffers.size(); ++i) ASSERT_EQ(post_recv(p.w, p.b, buffers[i].data(), max, i, any), 0);
        for (size_t i = 0; i < kCount; ++i) {
            ASSERT_EQ(post_send(p.w, p.a, p.ab, payloads[i], i), 0);
            if (i % 3 == 0) p.w.round();
        }
        p.w.run_for(2s);
        EXPECT_EQ(p.a.sends.size(), kCount);
        size_t delivered = 0;
        for (const Completion& c : p.b.recvs) {
            ASSERT_EQ(c.status, Status::Ok);
            const Bytes& got = buffers[id_of(c)];
            ASSERT_GE(c.length, 8u);
            const uint32_t which = wire::get_be32(got.data() + 4);
            ASSERT_LT(which, kCount);
            EXPECT_EQ(c.length, sizes[which]);
            EXPECT_EQ(std::memcmp(got.data(), payloads[which].data(), sizes[which]), 0) << "message " << which;
            ++delivered;
        }
        // Nearly every single-frame message arrives; a medium one only
        // when all its frags do.
        EXPECT_GT(delivered, kCount / 3);
        // What never came can still be canceled.
        for (size_t i = 0; i < buffers.size(); ++i)
            if (!p.b.recv_done(i)) {
                EXPECT_TRUE(p.b.ep().cancel(ctx(i))) << i;
            }
        EXPECT_EQ(p.b.recvs.size(), buffers.size());
    }
}

// ------------------------------------------------------------------ malformed frames

Bytes frame_of(size_t header_length, const std::array<uint8_t, wire::kMaxHeaderLength>& header, const Bytes& payload) {
    Bytes b(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(header_length));
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

TEST(Engine, MalformedFramesAreCountedAndIgnored) {
    Pair p(config_for(kVariants[0]));
    // Connect first, so that a good message follows the bad ones.
    const Bytes hello = pattern(1, 10);
    Bytes buffer(100, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));

    const link::Route from_a = p.a.link().local_route();
    wire::Head head;
    head.dst_mac = kMacB;
    head.src_mac = kMacA;
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    wire::MsgHeader msg;
    msg.dst_endpoint = 2;
    msg.src_endpoint = 1;
    msg.length = 20;
    msg.session = p.b.ep().session();
    const size_t tiny_length = wire::encode_tiny(head, msg, header);
    const Bytes good_tiny = frame_of(tiny_length, header, pattern(5, 20));

    auto drops = [&](wire::DropReason r) { return p.b.ep().counters().decode_drops[static_cast<size_t>(r)]; };
    using wire::DropReason;
    struct Bad {
        Bytes bytes;
        DropReason reason;
    };
    std::vector<Bad> bad;
    bad.push_back({Bytes(10, 0), DropReason::TooShort});
    {
        Bytes b = good_tiny;
        b[12] = 0x08;  // IPv4's ethertype
        bad.push_back({b, DropReason::NotMxoe});
    }
    {
        Bytes b = good_tiny;
        b[16] = 200;
        bad.push_back({b, DropReason::UnknownType});
    }
    bad.push_back({Bytes(good_tiny.begin(), good_tiny.end() - 5), DropReason::Truncated});
    {
        Bytes b = good_tiny;
        b.resize(b.size() + 100, 0);
        bad.push_back({b, DropReason::TrailingBytes});
    }
    {
        Bytes b = good_tiny;
        wire::put_be16(b.data() + 20, 33);  // a TINY longer than 32 bytes
        b.resize(tiny_length + 33, 0);
        bad.push_back({b, DropReason::BadLength});
    }
    {
        wire::MediumFrag f;
        f.dst_endpoint = 2;
        f.src_endpoint = 1;
        f.msg_length = 10000;
        f.frag_length = 100;  // frag 0 of a 10000-byte message is full
        f.session = p.b.ep().session();
        const size_t n = wire::encode_medium(head, f, wire::WireMode::OpenMx, header);
        bad.push_back({frame_of(n, header, Bytes(100, 1)), DropReason::BadFragment});
    }
    {
        wire::Connect c;
        c.dst_endpoint = 2;
        c.src_endpoint = 1;
        const size_t n = wire::encode_connect(head, c, header);
        Bytes b = frame_of(n, header, {});
        b[20] = 3;  // CONNECT's data length is 16
        bad.push_back({b, DropReason::BadConnect});
    }
    for (const Bad& b : bad) {
        SCOPED_TRACE(std::string(wire::drop_reason_name(b.reason)));
        const uint64_t before = drops(b.reason);
        p.b.link().inject(b.bytes, from_a);
        p.w.round();
        EXPECT_EQ(drops(b.reason), before + 1);
    }
    EXPECT_TRUE(p.b.recvs.size() == 1) << "nothing came of them";

    // The connection is intact: messages of every class still arrive.
    for (size_t size : {size_t{20}, size_t{5000}, size_t{100000}}) {
        const uint64_t id = 100 + size;
        const Bytes payload = pattern(id, size);
        Bytes big(size + kGuard, kGuardByte);
        ASSERT_EQ(post_recv(p.w, p.b, big.data(), size, id), 0);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(id) && p.a.send_done(id); }));
        EXPECT_EQ(first_mismatch(big.data(), size, id), size);
    }
}

// Frames that decode but lie: a stranger with a wrong session, frags that
// do not agree with the message they claim to belong to, pulls of regions
// that do not exist. None may corrupt memory or disturb real traffic.
TEST(Engine, HostileFramesAreHarmless) {
    Pair p(config_for(kVariants[0]));
    const Bytes hello = pattern(1, 10);
    Bytes buffer(100, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));

    // A stranger connects to b, then sends frags that disagree.
    constexpr uint64_t kMacX = 0x02000000ee01ull;
    const link::Route from_x = MemoryNetwork::route_of(kMacX, 5);
    wire::Head head;
    head.dst_mac = kMacB;
    head.src_mac = kMacX;
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    wire::Connect c;
    c.dst_endpoint = 2;
    c.src_endpoint = 5;
    c.src_session_id = 0xabcdef;
    c.app_key = p.b.config().key;
    c.connect_seqnum = 1;
    p.b.link().inject(frame_of(wire::encode_connect(head, c, header), header, {}), from_x);
    p.w.round();

    const uint32_t frag_max = p.b.config().limits.medium_frag_max;
    auto medium = [&](uint32_t msg_length, uint8_t index, uint16_t seq) {
        wire::MediumFrag f;
        f.dst_endpoint = 2;
        f.src_endpoint = 5;
        f.msg_length = msg_length;
        f.lib_seqnum = seq;
        f.session = p.b.ep().session();
        f.frag_seqnum = index;
        const uint64_t offset = uint64_t{index} * frag_max;
        f.frag_length = static_cast<uint16_t>(std::min<uint64_t>(frag_max, msg_length - offset));
        const size_t n = wire::encode_medium(head, f, wire::WireMode::OpenMx, header);
        p.b.link().inject(frame_of(n, header, Bytes(f.frag_length, 0x5a)), from_x);
        p.w.round();
    };
    auto bad_frags = [&] {
        return p.b.ep().counters().decode_drops[static_cast<size_t>(wire::DropReason::BadFragment)];
    };
    medium(frag_max + 10, 0, 0);       // a 2-frag message begins
    medium(20 * frag_max + 5, 19, 0);  // a frag of a "longer" message under the same number
    EXPECT_EQ(bad_frags(), 1u);
    medium(frag_max + 10, 0, 0);  // a duplicate
    medium(3 * frag_max, 2, 0);   // another disagreeing one
    EXPECT_EQ(bad_frags(), 2u);
    // A pull of a region a never lent, and a reply to a pull nobody made.
    wire::PullRequest pull;
    pull.dst_endpoint = 1;
    pull.src_endpoint = 5;
    pull.session = p.a.ep().session();
    pull.total_length = 1000;
    pull.block_length = 1000;
    pull.pulled_rdma_id = 77;
    pull.src_magic = wire::pull_magic(5);
    head.dst_mac = kMacA;
    p.a.link().inject(frame_of(wire::encode_pull_request(head, pull, wire::WireMode::OpenMx, header), header, {}),
                      from_x);
    wire::PullReply reply;
    reply.frame_length = 100;
    reply.dst_pull_handle = 3;
    reply.dst_magic = wire::pull_magic(1);
    p.a.link().inject(frame_of(wire::encode_pull_reply(head, reply, header), header, Bytes(100, 1)), from_x);
    p.w.run_for(50ms);

    EXPECT_EQ(p.b.recvs.size(), 1u);
    // Real traffic is untouched.
    for (size_t size : {size_t{20}, size_t{5000}, size_t{100000}}) {
        const uint64_t id = 100 + size;
        const Bytes payload = pattern(id, size);
        Bytes big(size + kGuard, kGuardByte);
        RecvOpts from_a;
        from_a.from = p.ba;
        ASSERT_EQ(post_recv(p.w, p.b, big.data(), size, id, from_a), 0);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(id) && p.a.send_done(id); }));
        EXPECT_EQ(p.b.recv_done(id)->status, Status::Ok);
        EXPECT_EQ(first_mismatch(big.data(), size, id), size);
    }
}

// ------------------------------------------------------------------ shared board

// Ethernet hands every frame for a board to every endpoint on it: each must
// keep only its own.
TEST(Engine, EndpointsSharingABoard) {
    const Config config = config_for(kVariants[0]);
    World w;
    w.net.set_board_delivery(true);
    Node& a = w.add(kMacA, 1, config);
    Node& b1 = w.add(kMacB, 1, config);
    Node& b2 = w.add(kMacB, 2, config);
    Node* nodes[] = {&a, &b1, &b2};
    std::vector<Bytes> payloads, buffers;
    std::vector<std::pair<size_t, size_t>> routes;
    uint64_t id = 0;
    RecvOpts any;
    any.ignore = ~uint64_t{0};
    for (size_t from = 0; from < 3; ++from) {
        for (size_t to = 0; to < 3; ++to) {
            if (from == to) continue;
            for (size_t size : {size_t{20}, size_t{20000}, size_t{300000}}) {
                payloads.push_back(pattern(id, size));
                buffers.emplace_back(size + kGuard, kGuardByte);
                routes.emplace_back(from, to);
                RecvOpts ro;
                ro.tag = id;
                ro.from = nodes[to]->ep().peer_of(nodes[from]->address());
                ASSERT_EQ(post_recv(w, *nodes[to], buffers[id].data(), size, id, ro), 0);
                SendOpts so;
                so.tag = id;
                ASSERT_EQ(post_send(w, *nodes[from], nodes[from]->ep().peer_of(nodes[to]->address()), payloads[id], id,
                                    so),
                          0);
                ++id;
            }
        }
    }
    ASSERT_TRUE(w.run_until([&] {
        size_t done = 0;
        for (Node* n : nodes) done += n->recvs.size() + n->sends.size();
        return done == 2 * id;
    }));
    for (uint64_t i = 0; i < id; ++i) {
        const Completion* r = nodes[routes[i].second]->recv_done(i);
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->status, Status::Ok);
        EXPECT_EQ(first_mismatch(buffers[i].data(), payloads[i].size(), i), payloads[i].size()) << i;
        EXPECT_EQ(nodes[routes[i].first]->send_done(i)->status, Status::Ok);
    }
    EXPECT_GT(b1.ep().counters().not_for_us, 0u);
    EXPECT_GT(b2.ep().counters().not_for_us, 0u);
}

// A channel that vouches for its sender (a kmod lane between guests) lets
// through only frames naming that sender: another endpoint's are forgeries.
TEST(Engine, AChannelVouchingForASenderTakesOnlyItsFrames) {
    Pair p(config_for(kVariants[0]));
    p.b.link().vouch(1);  // a's endpoint
    const Bytes hello = pattern(1, 100);
    Bytes into(100 + kGuard, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, into.data(), 100, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));
    EXPECT_EQ(first_mismatch(into.data(), 100, 1), 100u);
    EXPECT_EQ(p.b.ep().counters().forged_source, 0u);

    p.b.link().vouch(9);  // another endpoint of a's board
    Bytes second(100 + kGuard, kGuardByte);
    const Bytes forged = pattern(2, 100);  // the sender's buffer, resent from until the test ends
    ASSERT_EQ(post_recv(p.w, p.b, second.data(), 100, 2), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, forged, 2), 0);
    EXPECT_FALSE(p.w.run_until([&] { return p.b.recv_done(2) != nullptr; }, 200ms));
    EXPECT_GT(p.b.ep().counters().forged_source, 0u);
    EXPECT_EQ(second[0], kGuardByte);
}

// A nack of a pull names the puller only by the magic: another endpoint's
// pull with the same handle on the same board must not be aborted by it.
TEST(Engine, PullNackForAnotherEndpointIsIgnored) {
    const Config config = fast_timeouts(kVariants[0]);
    World w;
    w.net.set_board_delivery(true);
    Node& a = w.add(kMacA, 1, config);
    Node& b1 = w.add(kMacB, 1, config);
    w.add(kMacB, 2, config);
    const Bytes large = pattern(1, 300000);
    Bytes buffer(300000);
    ASSERT_EQ(post_recv(w, b1, buffer.data(), buffer.size(), 1), 0);
    w.net.cut(kMacA, 1, true);
    ASSERT_EQ(post_send(w, a, a.ep().peer_of(b1.address()), large, 1), 0);
    w.net.cut(kMacA, 1, false);
    // Let the rendezvous through, then hold the pull.
    ASSERT_TRUE(w.run_until([&] { return b1.ep().counters().frames_sent > 2; }));
    w.net.cut(kMacA, 1, true);
    wire::Head head;
    head.dst_mac = kMacB;
    head.src_mac = kMacA;
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    wire::NackMcp nack;
    nack.src_endpoint = 1;
    nack.nack_type = wire::NackType::BadRdmaWindow;
    nack.src_magic = wire::pull_magic(2);  // endpoint 2's
    for (uint32_t handle = 0; handle < 4; ++handle) {
        nack.src_pull_handle = handle;
        const size_t n = wire::encode_nack_mcp(head, nack, header);
        b1.link().inject(Bytes(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(n)),
                         a.link().local_route());
    }
    w.run_for(20ms);
    EXPECT_EQ(b1.recv_done(1), nullptr) << "aborted by a nack meant for another endpoint";
    w.net.cut(kMacA, 1, false);
    ASSERT_TRUE(w.run_until([&] { return b1.recv_done(1) && a.send_done(1); }));
    EXPECT_EQ(b1.recv_done(1)->status, Status::Ok);
    EXPECT_EQ(first_mismatch(buffer.data(), 300000, 1), 300000u);
}

// ------------------------------------------------------------------ arguments

TEST(Engine, BadArguments) {
    Pair p(config_for(kVariants[0]));
    const Bytes payload(10);
    EXPECT_EQ(post_send(p.w, p.a, 1234, payload, 1), -EINVAL) << "no such peer";
    EXPECT_EQ(p.a.ep().max_message(), size_t{0xffffffff});
    const link::Address back = p.a.ep().peer_address(p.ab);
    EXPECT_EQ(back.board, kMacB);
    EXPECT_EQ(back.endpoint, 2);
    EXPECT_EQ(p.a.ep().peer_of(p.b.address()), p.ab) << "one partner per address";
}


// ------------------------------------------------------------------ probes

struct ProbeOpts {
    uint64_t tag = 0;
    uint64_t ignore = 0;
    bool tagged = true;
    PeerId from = kNoPeer;
    engine::ProbeAction action = engine::ProbeAction::Peek;
};

int post_probe(World& w, Node& at, uint64_t context, const ProbeOpts& o = {}) {
    engine::ProbeArgs a;
    a.tag = o.tag;
    a.ignore = o.ignore;
    a.tagged = o.tagged;
    a.from = o.from;
    a.context = ctx(context);
    a.action = o.action;
    return at.ep().probe(a, w.now);
}

int post_claim(World& w, Node& at, uint8_t* buffer, size_t capacity, uint64_t context, bool discard = false,
               bool report = true) {
    iovec v{buffer, capacity};
    engine::RecvArgs a;
    if (buffer) a.iov = std::span<const iovec>{&v, 1};
    a.context = ctx(context);
    a.report = report;
    return at.ep().claim(a, discard, w.now);
}

// The completions a node had for one context, in order.
std::vector<Completion> completions_of(const Node& n, uint64_t context) {
    std::vector<Completion> out;
    for (const Completion& c : n.recvs)
        if (id_of(c) == context) out.push_back(c);
    return out;
}

ProbeOpts probe_tag(uint64_t tag, engine::ProbeAction action = engine::ProbeAction::Peek) {
    ProbeOpts o;
    o.tag = tag;
    o.action = action;
    return o;
}

// A peek describes a waiting message of any class (a large one with CQ data
// once those 8 bytes are pulled) and leaves it for the receive that takes it.
TEST(Engine, PeekDescribesEveryClassWithoutTakingIt) {
    for (const Variant& v : kVariants) {
        SCOPED_TRACE(v.name);
        Pair p(config_for(v), v.max_frame);
        const size_t rndv = effective_rndv(p.a.config());
        uint64_t id = 0;
        for (size_t size : {size_t{0}, size_t{10}, size_t{100}, size_t{5000}, rndv + 1, size_t{300000}}) {
            for (bool with_data : {false, true}) {
                ++id;
                SCOPED_TRACE(std::to_string(size) + " bytes" + (with_data ? " with CQ data" : ""));
                const bool large = size + (with_data ? 8 : 0) > rndv;
                const Bytes payload = pattern(id, size);
                SendOpts so;
                so.tag = 0x7700 + id;
                if (with_data) so.data = 0xdada000000000000ull + id;
                ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
                p.w.run_for(30ms);

                const uint64_t frames_before = data_frames(p.a.ep().counters());
                ASSERT_EQ(post_probe(p.w, p.b, 1000 + id, probe_tag(so.tag)), 0);
                if (!(large && with_data)) {
                    EXPECT_NE(p.b.recv_done(1000 + id), nullptr) << "everything is known: answered at once";
                }
                ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1000 + id); }));
                const Completion& c = *p.b.recv_done(1000 + id);
                EXPECT_TRUE(c.probe);
                EXPECT_FALSE(c.discarded);
                EXPECT_EQ(c.status, Status::Ok) << engine::status_text(c.status);
                EXPECT_TRUE(c.tagged);
                EXPECT_EQ(c.tag, so.tag);
                EXPECT_EQ(c.message_length, size);
                EXPECT_EQ(c.length, 0u) << "nothing moved";
                EXPECT_EQ(c.peer, p.ba);
                EXPECT_EQ(c.has_data, with_data);
                if (with_data) {
                    EXPECT_EQ(c.data, *so.data);
                }
                EXPECT_EQ(data_frames(p.a.ep().counters()) - frames_before, large && with_data ? 1u : 0u)
                    << "a peek pulls the CQ data and nothing else";

                // Still there for a second look, and for the receive.
                ASSERT_EQ(post_probe(p.w, p.b, 2000 + id, probe_tag(so.tag)), 0);
                ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(2000 + id); }));
                EXPECT_EQ(p.b.recv_done(2000 + id)->status, Status::Ok);
                EXPECT_EQ(p.b.recv_done(2000 + id)->message_length, size);
                if (large) {
                    EXPECT_EQ(p.a.send_done(id), nullptr) << "the sender waits for the real receive";
                }
                Bytes buffer(size + kGuard, kGuardByte);
                RecvOpts ro;
                ro.tag = so.tag;
                ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id, ro), 0);
                ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) && p.b.recv_done(id); }));
                const Completion& r = *p.b.recv_done(id);
                EXPECT_FALSE(r.probe);
                EXPECT_EQ(r.status, Status::Ok);
                EXPECT_EQ(r.length, size);
                EXPECT_EQ(r.has_data, with_data);
                if (with_data) {
                    EXPECT_EQ(r.data, *so.data);
                }
                EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
                EXPECT_TRUE(guard_intact(buffer, size));
                EXPECT_EQ(p.a.send_done(id)->status, Status::Ok);

                ASSERT_EQ(post_probe(p.w, p.b, 3000 + id, probe_tag(so.tag)), 0);
                ASSERT_NE(p.b.recv_done(3000 + id), nullptr) << "nothing to wait for: answered at once";
                EXPECT_EQ(p.b.recv_done(3000 + id)->status, Status::NoMessage);
                EXPECT_TRUE(p.b.recv_done(3000 + id)->probe);
            }
        }
    }
}

TEST(Engine, ProbeMatchesAsAReceiveWould) {
    Pair p(config_for(kVariants[0]));
    Node& c = p.w.add(kMacC, 3, config_for(kVariants[0]));
    const PeerId bc = p.b.ep().peer_of(c.address());
    ASSERT_EQ(post_probe(p.w, p.b, 1, probe_tag(5)), 0);
    ASSERT_NE(p.b.recv_done(1), nullptr);
    EXPECT_EQ(p.b.recv_done(1)->status, Status::NoMessage);

    const Bytes tagged = pattern(1, 20), untagged = pattern(2, 30);
    SendOpts so;
    so.tag = 5;
    ASSERT_EQ(post_send(p.w, p.a, p.ab, tagged, 10, so), 0);
    so.tagged = false;
    ASSERT_EQ(post_send(p.w, p.a, p.ab, untagged, 11, so), 0);
    p.w.run_for(30ms);

    const auto answer = [&](uint64_t id, const ProbeOpts& o) {
        EXPECT_EQ(post_probe(p.w, p.b, id, o), 0);
        const Completion* c = p.b.recv_done(id);
        return c ? c->status == Status::Ok ? c->message_length : size_t{999} : size_t{888};
    };
    EXPECT_EQ(answer(2, probe_tag(6)), 999u) << "another tag";
    ProbeOpts masked = probe_tag(4);
    masked.ignore = 1;
    EXPECT_EQ(answer(3, masked), 20u) << "4 ignoring bit 0 matches 5";
    ProbeOpts plain;
    plain.tagged = false;
    EXPECT_EQ(answer(4, plain), 30u) << "the untagged message";
    ProbeOpts from_c = probe_tag(5);
    from_c.from = bc;
    EXPECT_EQ(answer(5, from_c), 999u) << "not from that source";
    ProbeOpts from_a = probe_tag(5);
    from_a.from = p.ba;
    EXPECT_EQ(answer(6, from_a), 20u);
    ProbeOpts bad = probe_tag(5);
    bad.from = 77;
    EXPECT_EQ(post_probe(p.w, p.b, 7, bad), -EINVAL);
}

// Peek and claim: the message found is set aside, for the claim with the
// same context and nothing else; other messages go their way.
TEST(Engine, ClaimedMessageWaitsForItsClaim) {
    Pair p(config_for(kVariants[0]));
    uint64_t id = 0;
    for (size_t size : {size_t{10}, size_t{5000}, size_t{300000}}) {
        for (bool with_data : {false, true}) {
            id += 10;
            SCOPED_TRACE(std::to_string(size) + " bytes" + (with_data ? " with CQ data" : ""));
            SendOpts so;
            so.tag = 9;
            if (with_data) so.data = 0xc1a1000000000000ull + id;
            const Bytes first = pattern(id, size), second = pattern(id + 1, size);
            ASSERT_EQ(post_send(p.w, p.a, p.ab, first, id, so), 0);
            ASSERT_EQ(post_send(p.w, p.a, p.ab, second, id + 1, so), 0);
            p.w.run_for(30ms);

            const uint64_t claim = 500 + id;
            ASSERT_EQ(post_probe(p.w, p.b, claim, probe_tag(9, engine::ProbeAction::Claim)), 0);
            ASSERT_TRUE(p.w.run_until([&] { return !completions_of(p.b, claim).empty(); }));
            const Completion described = completions_of(p.b, claim)[0];
            EXPECT_TRUE(described.probe);
            EXPECT_EQ(described.status, Status::Ok);
            EXPECT_EQ(described.message_length, size);
            if (with_data) {
                EXPECT_EQ(described.data, *so.data);
            }

            // The first message is set aside: a receive gets the second.
            Bytes other(size + kGuard, kGuardByte);
            RecvOpts ro;
            ro.tag = 9;
            ASSERT_EQ(post_recv(p.w, p.b, other.data(), size, id + 1, ro), 0);
            ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(id + 1); }));
            EXPECT_EQ(first_mismatch(other.data(), size, id + 1), size) << "the second message";
            ASSERT_EQ(post_probe(p.w, p.b, 900 + id, probe_tag(9)), 0);
            ASSERT_NE(p.b.recv_done(900 + id), nullptr);
            EXPECT_EQ(p.b.recv_done(900 + id)->status, Status::NoMessage) << "a claimed message is not matched";

            Bytes buffer(size + kGuard, kGuardByte);
            ASSERT_EQ(post_claim(p.w, p.b, buffer.data(), size, claim), 0);
            ASSERT_TRUE(p.w.run_until([&] { return completions_of(p.b, claim).size() == 2; }));
            const Completion r = completions_of(p.b, claim)[1];
            EXPECT_FALSE(r.probe);
            EXPECT_EQ(r.status, Status::Ok);
            EXPECT_EQ(r.length, size);
            EXPECT_EQ(r.tag, 9u);
            EXPECT_EQ(r.peer, p.ba);
            EXPECT_EQ(r.has_data, with_data);
            if (with_data) {
                EXPECT_EQ(r.data, *so.data);
            }
            EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
            EXPECT_TRUE(guard_intact(buffer, size));
            EXPECT_EQ(post_claim(p.w, p.b, buffer.data(), size, claim), -ENOMSG) << "claimed once";
            ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) && p.a.send_done(id + 1); }));
            EXPECT_EQ(p.a.send_done(id)->status, Status::Ok);
        }
    }
    Bytes buffer(10);
    EXPECT_EQ(post_claim(p.w, p.b, buffer.data(), 10, 12345), -ENOMSG) << "nothing claimed there";
}

// A discarded message is gone; the sender of a large one is told its send
// is done without a byte pulled.
TEST(Engine, DiscardDropsTheMessageAndReleasesItsSender) {
    Pair p(config_for(kVariants[0]));
    uint64_t id = 0;
    for (size_t size : {size_t{10}, size_t{5000}, size_t{300000}}) {
        for (bool with_data : {false, true}) {
            for (bool by_claim : {false, true}) {
                ++id;
                SCOPED_TRACE(std::to_string(size) + " bytes" + (with_data ? " with CQ data" : "") +
                             (by_claim ? ", claimed then discarded" : ", peek and discard"));
                SendOpts so;
                so.tag = 0xd15c;
                if (with_data) so.data = 0xd15c000000000000ull + id;
                const Bytes payload = pattern(id, size);
                ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
                p.w.run_for(30ms);
                const uint64_t frames_before = data_frames(p.a.ep().counters());
                const uint64_t probe = 100 + id;
                const auto action = by_claim ? engine::ProbeAction::Claim : engine::ProbeAction::Discard;
                ASSERT_EQ(post_probe(p.w, p.b, probe, probe_tag(so.tag, action)), 0);
                ASSERT_TRUE(p.w.run_until([&] { return !completions_of(p.b, probe).empty(); }));
                const Completion described = completions_of(p.b, probe)[0];
                EXPECT_TRUE(described.probe);
                EXPECT_EQ(described.status, Status::Ok);
                EXPECT_EQ(described.discarded, !by_claim);
                EXPECT_EQ(described.message_length, size);
                if (with_data) {
                    EXPECT_EQ(described.data, *so.data);
                }
                if (by_claim) {
                    ASSERT_EQ(post_claim(p.w, p.b, nullptr, 0, probe, true), 0);
                    const auto all = completions_of(p.b, probe);
                    ASSERT_EQ(all.size(), 2u) << "a discard completes at once";
                    const Completion& dropped = all[1];
                    EXPECT_FALSE(dropped.probe);
                    EXPECT_TRUE(dropped.discarded);
                    EXPECT_EQ(dropped.status, Status::Ok);
                    EXPECT_EQ(dropped.length, 0u);
                    EXPECT_EQ(dropped.message_length, size);
                    EXPECT_EQ(dropped.tag, so.tag);
                    EXPECT_EQ(dropped.has_data, with_data);
                    if (with_data) {
                        EXPECT_EQ(dropped.data, *so.data);
                    }
                }
                ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id); }));
                EXPECT_EQ(p.a.send_done(id)->status, Status::Ok);
                p.w.run_for(20ms);
                const bool large = size + (with_data ? 8 : 0) > effective_rndv(p.a.config());
                EXPECT_EQ(data_frames(p.a.ep().counters()) - frames_before, large && with_data ? 1u : 0u)
                    << "nothing pulled but the CQ data";
                ASSERT_EQ(post_probe(p.w, p.b, 200 + id, probe_tag(so.tag)), 0);
                ASSERT_NE(p.b.recv_done(200 + id), nullptr);
                EXPECT_EQ(p.b.recv_done(200 + id)->status, Status::NoMessage);
            }
        }
    }
    // The discarded messages' data is given back to the unexpected budget:
    // the next message is kept and received.
    const Bytes last = pattern(99, 40);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, last, 99), 0);
    p.w.run_for(20ms);
    Bytes buffer(40);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 40, 99), 0);
    ASSERT_NE(p.b.recv_done(99), nullptr);
    EXPECT_EQ(first_mismatch(buffer.data(), 40, 99), 40u);
}

// A medium message whose frags are still arriving is described once whole.
TEST(Engine, PeekWaitsForAMediumMessageToBeWhole) {
    Pair p(config_for(kVariants[1]), kVariants[1].max_frame);  // 1500: many frags
    const Bytes hello = pattern(1, 4);
    Bytes small(4);
    ASSERT_EQ(post_recv(p.w, p.b, small.data(), 4, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(1) && p.b.recv_done(1); }));

    // Frags arrive over several polls, in any order.
    testing::Faults faults;
    faults.reorder = 1.0;
    faults.reorder_window = 6;
    p.w.net.set_faults(faults);
    const size_t size = 12000;
    const size_t frags = (size + 8 + p.a.config().limits.medium_frag_max - 1) / p.a.config().limits.medium_frag_max;
    ASSERT_GE(frags, 4u);
    SendOpts so;
    so.tag = 3;
    so.data = 0x3333;
    const Bytes payload = pattern(2, size);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, 2, so), 0);
    const uint64_t before = p.b.ep().counters().frames_received;
    for (int i = 0; i < 100 && p.b.ep().counters().frames_received == before; ++i) {
        p.w.now += kStep;
        p.b.ep().progress(p.w.now);
    }
    const uint64_t arrived = p.b.ep().counters().frames_received - before;
    ASSERT_GE(arrived, 1u);
    ASSERT_LT(arrived, frags) << "the seed delivered every frag at once";
    ASSERT_EQ(post_probe(p.w, p.b, 10, probe_tag(3)), 0);
    ASSERT_EQ(post_probe(p.w, p.b, 11, probe_tag(3, engine::ProbeAction::Claim)), 0);
    EXPECT_EQ(p.b.recv_done(10), nullptr) << "answered before the message was whole";
    EXPECT_EQ(p.b.recv_done(11), nullptr);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(10) && p.b.recv_done(11); }));
    p.w.net.set_faults({});
    for (uint64_t id : {10, 11}) {
        const Completion& c = *p.b.recv_done(id);
        EXPECT_EQ(c.status, Status::Ok);
        EXPECT_EQ(c.message_length, size);
        EXPECT_TRUE(c.has_data);
        EXPECT_EQ(c.data, 0x3333u);
    }
    Bytes buffer(size);
    ASSERT_EQ(post_claim(p.w, p.b, buffer.data(), size, 11), 0);
    ASSERT_EQ(completions_of(p.b, 11).size(), 2u);
    EXPECT_EQ(completions_of(p.b, 11)[1].length, size);
    EXPECT_EQ(first_mismatch(buffer.data(), size, 2), size);
}

// A receive that takes a large message while a peek pulls its CQ data: the
// peek answers (from what it pulled, or that nothing is left), the receive
// gets every byte, the sender completes once.
TEST(Engine, PeekRacingTheReceiveOfALargeMessage) {
    Pair p(config_for(kVariants[0]));
    for (uint64_t id = 1; id <= 4; ++id) {
        const size_t size = 200000;
        const Bytes payload = pattern(id, size);
        SendOpts so;
        so.tag = 8;
        so.data = 0xabc0 + id;
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
        p.w.run_for(30ms);
        ASSERT_EQ(post_probe(p.w, p.b, 100 + id, probe_tag(8)), 0);
        if (id % 2) p.b.ep().progress(p.w.now);  // sometimes the pull request is out first
        Bytes buffer(size);
        RecvOpts ro;
        ro.tag = 8;
        ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id, ro), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(100 + id) && p.b.recv_done(id) && p.a.send_done(id); }));
        const Completion& peek = *p.b.recv_done(100 + id);
        if (peek.status == Status::Ok) {
            EXPECT_EQ(peek.data, 0xabc0 + id);
            EXPECT_EQ(peek.message_length, size);
        } else {
            EXPECT_EQ(peek.status, Status::NoMessage);
        }
        EXPECT_EQ(p.b.recv_done(id)->status, Status::Ok);
        EXPECT_EQ(p.b.recv_done(id)->data, 0xabc0 + id);
        EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
        EXPECT_EQ(p.a.send_done(id)->status, Status::Ok);
    }
    p.w.run_for(200ms);
    EXPECT_EQ(p.a.sends.size(), 4u) << "each send completed once";
}

// A probe that claims reserves at once: a receive posted while it pulls the
// CQ data does not take the message.
TEST(Engine, ClaimReservesBeforeItAnswers) {
    Pair p(config_for(kVariants[0]));
    const size_t size = 100000;
    const Bytes big = pattern(1, size), small = pattern(2, 16);
    SendOpts so;
    so.tag = 4;
    so.data = 77;
    ASSERT_EQ(post_send(p.w, p.a, p.ab, big, 1, so), 0);
    p.w.run_for(30ms);
    ASSERT_EQ(post_probe(p.w, p.b, 50, probe_tag(4, engine::ProbeAction::Claim)), 0);
    EXPECT_EQ(p.b.recv_done(50), nullptr) << "its CQ data is still at the sender";
    Bytes buffer(size);
    RecvOpts ro;
    ro.tag = 4;
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, 2, ro), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 2, so), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(50) && p.b.recv_done(2); }));
    EXPECT_EQ(p.b.recv_done(2)->length, 16u) << "the receive got the next message";
    EXPECT_EQ(first_mismatch(buffer.data(), 16, 2), 16u);
    EXPECT_EQ(p.b.recv_done(50)->status, Status::Ok);
    EXPECT_EQ(p.b.recv_done(50)->message_length, size);
    EXPECT_EQ(p.b.recv_done(50)->data, 77u);
    ASSERT_EQ(post_claim(p.w, p.b, buffer.data(), size, 50), 0);
    ASSERT_TRUE(p.w.run_until([&] { return completions_of(p.b, 50).size() == 2 && p.a.send_done(1); }));
    EXPECT_EQ(completions_of(p.b, 50)[1].length, size);
    EXPECT_EQ(first_mismatch(buffer.data(), size, 1), size);
}

// The sender of a claimed large message restarts: the message can no longer
// be pulled, and its claim says why.
TEST(Engine, ClaimOfALargeMessageWhoseSenderRestarted) {
    Pair p(config_for(kVariants[0]));
    const Bytes big = pattern(1, 100000);
    SendOpts so;
    so.tag = 6;
    ASSERT_EQ(post_send(p.w, p.a, p.ab, big, 1, so), 0);
    p.w.run_for(30ms);
    ASSERT_EQ(post_probe(p.w, p.b, 60, probe_tag(6, engine::ProbeAction::Claim)), 0);
    ASSERT_NE(p.b.recv_done(60), nullptr);
    EXPECT_EQ(p.b.recv_done(60)->status, Status::Ok);

    p.a.restart(0x77000001);
    const PeerId ab = p.a.ep().peer_of(p.b.address());
    const Bytes hello = pattern(2, 8);
    Bytes small(8);
    RecvOpts ro;
    ro.tag = 7;
    so.tag = 7;
    ASSERT_EQ(post_recv(p.w, p.b, small.data(), 8, 2, ro), 0);
    ASSERT_EQ(post_send(p.w, p.a, ab, hello, 2, so), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(2); }));
    Bytes buffer(100000);
    ASSERT_EQ(post_claim(p.w, p.b, buffer.data(), buffer.size(), 60), 0);
    const auto all = completions_of(p.b, 60);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].status, Status::PeerReset);
    EXPECT_EQ(post_claim(p.w, p.b, buffer.data(), buffer.size(), 60), -ENOMSG);
}

TEST(Engine, ProbesOnDatagrams) {
    Pair p(dgram_config(kVariants[1]), kVariants[1].max_frame);
    uint64_t id = 0;
    for (size_t size : {size_t{12}, size_t{6000}}) {
        for (auto action : {engine::ProbeAction::Peek, engine::ProbeAction::Claim, engine::ProbeAction::Discard}) {
            ++id;
            SCOPED_TRACE(std::to_string(size) + " bytes, action " + std::to_string(static_cast<int>(action)));
            SendOpts so;
            so.tag = 40 + id;
            so.data = id;
            const Bytes payload = pattern(id, size);
            ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, id, so), 0);
            p.w.run_for(10ms);
            ASSERT_EQ(post_probe(p.w, p.b, 100 + id, probe_tag(so.tag, action)), 0);
            ASSERT_NE(p.b.recv_done(100 + id), nullptr);
            const Completion& c = *p.b.recv_done(100 + id);
            EXPECT_EQ(c.status, Status::Ok);
            EXPECT_EQ(c.message_length, size);
            EXPECT_EQ(c.data, id);
            Bytes buffer(size);
            if (action == engine::ProbeAction::Claim) {
                ASSERT_EQ(post_claim(p.w, p.b, buffer.data(), size, 100 + id), 0);
                EXPECT_EQ(completions_of(p.b, 100 + id).size(), 2u);
            } else {
                RecvOpts ro;
                ro.tag = so.tag;
                ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), size, id, ro), 0);
                EXPECT_EQ(p.b.recv_done(id) != nullptr, action == engine::ProbeAction::Peek)
                    << "a discarded message is not received";
                if (action == engine::ProbeAction::Discard) {
                    EXPECT_TRUE(p.b.ep().cancel(ctx(id)));
                }
            }
            if (action != engine::ProbeAction::Discard) {
                EXPECT_EQ(first_mismatch(buffer.data(), size, id), size);
            }
        }
    }
}

// ------------------------------------------------------------------ selective completion

// A receive posted without a report completes unmarked; the layer above
// reports its errors all the same.
TEST(Engine, UnreportedReceivesAreMarked) {
    Pair p(config_for(kVariants[0]));
    RecvOpts quiet;
    quiet.report = false;
    Bytes b1(10), b2(100000), b3(5);
    ASSERT_EQ(post_recv(p.w, p.b, b1.data(), 10, 1, quiet), 0);
    ASSERT_EQ(post_recv(p.w, p.b, b2.data(), 100000, 2, quiet), 0);
    ASSERT_EQ(post_recv(p.w, p.b, b3.data(), 5, 3, quiet), 0);
    ASSERT_EQ(post_recv(p.w, p.b, b1.data(), 10, 4), 0);
    const Bytes small = pattern(1, 10), large = pattern(2, 100000), truncated = pattern(3, 9);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, large, 2), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, truncated, 3), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 4), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recvs.size() == 4; }));
    EXPECT_FALSE(p.b.recv_done(1)->report);
    EXPECT_FALSE(p.b.recv_done(2)->report);
    EXPECT_EQ(p.b.recv_done(2)->length, 100000u);
    EXPECT_FALSE(p.b.recv_done(3)->report);
    EXPECT_EQ(p.b.recv_done(3)->status, Status::Truncated);
    EXPECT_TRUE(p.b.recv_done(4)->report);
    // Probes always answer; claims follow their own flag.
    ASSERT_EQ(post_send(p.w, p.a, p.ab, small, 5), 0);
    p.w.run_for(20ms);
    ASSERT_EQ(post_probe(p.w, p.b, 5, probe_tag(0, engine::ProbeAction::Claim)), 0);
    EXPECT_TRUE(p.b.recv_done(5)->report);
    ASSERT_EQ(post_claim(p.w, p.b, b1.data(), 10, 5, false, false), 0);
    ASSERT_EQ(completions_of(p.b, 5).size(), 2u);
    EXPECT_FALSE(completions_of(p.b, 5)[1].report);
}

// ------------------------------------------------------------------ multi-receive buffers

RecvOpts multi_opts(size_t min_free, bool report = true) {
    RecvOpts o;
    o.tagged = false;
    o.multi = true;
    o.min_free = min_free;
    o.report = report;
    return o;
}

SendOpts untagged(std::optional<uint64_t> data = std::nullopt) {
    SendOpts o;
    o.tagged = false;
    o.data = data;
    return o;
}

// Messages land back to back, each where its completion says; one that does
// not fit releases the buffer and goes to the next receive.
TEST(Engine, MultiRecvPlacesMessagesBackToBack) {
    Pair p(config_for(kVariants[0]));
    Bytes buffer(1000 + kGuard, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 1000, 1, multi_opts(100)), 0);
    Bytes next(200, kGuardByte);
    RecvOpts plain;
    plain.tagged = false;
    ASSERT_EQ(post_recv(p.w, p.b, next.data(), 200, 2, plain), 0);
    // A tagged message never goes to a multi-receive buffer.
    Bytes tagged_buffer(10);
    ASSERT_EQ(post_recv(p.w, p.b, tagged_buffer.data(), 10, 3), 0);
    const Bytes tagged_payload = pattern(3, 10);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, tagged_payload, 3), 0);

    const size_t sizes[] = {100, 0, 200, 300, 300};
    uint64_t seed = 10;
    for (size_t size : sizes) {
        const Bytes payload = pattern(seed, size);
        const auto data = seed == 12 ? std::optional<uint64_t>(42) : std::nullopt;
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, seed, untagged(data)), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(seed); })) << "the payload lives until then";
        ++seed;
    }
    ASSERT_TRUE(p.w.run_until([&] { return completions_of(p.b, 1).size() == 5 && p.b.recv_done(3); }));
    EXPECT_EQ(p.b.recv_done(3)->length, 10u);
    size_t offset = 0;
    const auto pieces = completions_of(p.b, 1);
    for (size_t i = 0; i < 5; ++i) {
        SCOPED_TRACE("message " + std::to_string(i));
        const Completion& c = pieces[i];
        EXPECT_EQ(c.status, Status::Ok);
        EXPECT_FALSE(c.tagged);
        EXPECT_EQ(c.buf, buffer.data() + offset);
        EXPECT_EQ(c.length, sizes[i]);
        EXPECT_FALSE(c.released) << "900 bytes used: 100 still free";
        EXPECT_EQ(c.has_data, i == 2);
        if (i == 2) {
            EXPECT_EQ(c.data, 42u);
        }
        EXPECT_EQ(first_mismatch(buffer.data() + offset, sizes[i], 10 + i), sizes[i]);
        offset += sizes[i];
    }
    EXPECT_TRUE(guard_intact(buffer, 1000));

    const Bytes too_big = pattern(20, 150);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, too_big, 20, untagged()), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(2); }));
    const auto all = completions_of(p.b, 1);
    ASSERT_EQ(all.size(), 6u);
    EXPECT_TRUE(all[5].release_only);
    EXPECT_TRUE(all[5].released);
    EXPECT_TRUE(all[5].report);
    EXPECT_EQ(all[5].length, 0u);
    EXPECT_EQ(p.b.recv_done(2)->length, 150u) << "the next receive took it";
    EXPECT_EQ(first_mismatch(next.data(), 150, 20), 150u);
    EXPECT_TRUE(guard_intact(buffer, 1000));
}

// Below the minimum free space the buffer is released with the message that
// filled it; what follows waits for another receive.
TEST(Engine, MultiRecvReleasedBelowTheMinimum) {
    Pair p(config_for(kVariants[0]));
    Bytes buffer(1000);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 1000, 1, multi_opts(128)), 0);
    const Bytes m1 = pattern(1, 500), m2 = pattern(2, 400), m3 = pattern(3, 50);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, m1, 1, untagged()), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, m2, 2, untagged()), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, m3, 3, untagged()), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.sends.size() == 3; }));
    const auto all = completions_of(p.b, 1);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_FALSE(all[0].released);
    EXPECT_TRUE(all[1].released) << "100 bytes left, fewer than 128";
    EXPECT_FALSE(all[1].release_only);
    EXPECT_EQ(all[1].buf, buffer.data() + 500);
    Bytes rest(50);
    RecvOpts plain;
    plain.tagged = false;
    ASSERT_EQ(post_recv(p.w, p.b, rest.data(), 50, 4, plain), 0);
    ASSERT_NE(p.b.recv_done(4), nullptr);
    EXPECT_EQ(first_mismatch(rest.data(), 50, 3), 50u);
}

// Every class, expected or waiting: medium and large messages fill their
// place as they arrive, and the buffer is released with the last of them.
TEST(Engine, MultiRecvAcrossClasses) {
    for (bool unexpected : {false, true}) {
        SCOPED_TRACE(unexpected ? "unexpected" : "expected");
        Pair p(config_for(kVariants[1]), kVariants[1].max_frame);
        const size_t sizes[] = {10, 5000, 100000, 20};
        const size_t capacity = 150000;
        Bytes buffer(capacity + kGuard, kGuardByte);
        const auto post = [&] { return post_recv(p.w, p.b, buffer.data(), capacity, 1, multi_opts(50000)); };
        if (!unexpected) {
            ASSERT_EQ(post(), 0);
        }
        std::vector<Bytes> payloads;
        for (size_t i = 0; i < 4; ++i) payloads.push_back(pattern(i, sizes[i]));
        for (size_t i = 0; i < 4; ++i) {
            const auto data = i == 3 ? std::optional<uint64_t>(7) : std::nullopt;
            ASSERT_EQ(post_send(p.w, p.a, p.ab, payloads[i], i, untagged(data)), 0);
        }
        if (unexpected) {
            p.w.run_for(30ms);
            ASSERT_EQ(post(), 0);
        }
        ASSERT_TRUE(p.w.run_until([&] { return completions_of(p.b, 1).size() == 3; }));
        p.w.run_for(30ms);
        const auto all = completions_of(p.b, 1);
        ASSERT_EQ(all.size(), 3u) << "the fourth message does not go there";
        size_t released = 0;
        for (const Completion& c : all) {
            EXPECT_EQ(c.status, Status::Ok);
            released += c.released;
        }
        EXPECT_EQ(released, 1u);
        EXPECT_TRUE(all.back().released) << "the last completion releases the buffer";
        size_t offset = 0;
        for (size_t i = 0; i < 3; ++i) {
            EXPECT_EQ(first_mismatch(buffer.data() + offset, sizes[i], i), sizes[i]) << i;
            const auto piece = std::find_if(all.begin(), all.end(), [&](const Completion& c) {
                return c.buf == buffer.data() + offset;
            });
            ASSERT_NE(piece, all.end()) << i;
            EXPECT_EQ(piece->length, sizes[i]);
            offset += sizes[i];
        }
        EXPECT_TRUE(guard_intact(buffer, capacity));
        Bytes rest(20);
        RecvOpts plain;
        plain.tagged = false;
        ASSERT_EQ(post_recv(p.w, p.b, rest.data(), 20, 9, plain), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(9); }));
        EXPECT_EQ(p.b.recv_done(9)->data, 7u);
        EXPECT_EQ(first_mismatch(rest.data(), 20, 3), 20u);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.sends.size() == 4; }));
    }
}

TEST(Engine, MultiRecvArgumentsAndCancel) {
    Pair p(config_for(kVariants[0]));
    Bytes buffer(300000);
    RecvOpts tagged_multi = multi_opts(0);
    tagged_multi.tagged = true;
    EXPECT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 1, tagged_multi), -EINVAL);
    const iovec two[2] = {{buffer.data(), 10}, {buffer.data() + 10, 10}};
    EXPECT_EQ(post_recv(p.w, p.b, std::span<const iovec>(two, 2), 1, multi_opts(0)), -EINVAL);

    // Canceled with nothing in it: released at once, in error.
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 1000, 2, multi_opts(0)), 0);
    EXPECT_TRUE(p.b.ep().cancel(ctx(2)));
    ASSERT_EQ(completions_of(p.b, 2).size(), 1u);
    EXPECT_EQ(p.b.recv_done(2)->status, Status::Canceled);
    EXPECT_TRUE(p.b.recv_done(2)->released);

    // Canceled while a large message is being pulled into it: the message
    // completes and releases it.
    const Bytes hello = pattern(1, 4);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1, untagged()), 0);
    p.w.run_for(20ms);
    Bytes four(4);
    RecvOpts plain;
    plain.tagged = false;
    ASSERT_EQ(post_recv(p.w, p.b, four.data(), 4, 3, plain), 0);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), buffer.size(), 4, multi_opts(0)), 0);
    const Bytes big = pattern(5, 200000);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, big, 5, untagged()), 0);
    p.w.net.cut(kMacA, 1, true);
    p.b.ep().progress(p.w.now);  // matched: the pull starts, and goes nowhere
    EXPECT_TRUE(p.b.ep().cancel(ctx(4)));
    EXPECT_TRUE(completions_of(p.b, 4).empty());
    EXPECT_FALSE(p.b.ep().cancel(ctx(4))) << "it takes nothing more";
    p.w.net.cut(kMacA, 1, false);
    ASSERT_TRUE(p.w.run_until([&] { return !completions_of(p.b, 4).empty() && p.a.send_done(5); }));
    const auto all = completions_of(p.b, 4);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].status, Status::Ok);
    EXPECT_EQ(all[0].length, 200000u);
    EXPECT_TRUE(all[0].released);
    EXPECT_EQ(first_mismatch(buffer.data(), 200000, 5), 200000u);
}

// Under selective completion, the pieces of a buffer are not reported but
// its release is.
TEST(Engine, MultiRecvReleaseIsAlwaysReported) {
    Pair p(config_for(kVariants[0]));
    Bytes buffer(100);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 1, multi_opts(30, false)), 0);
    const Bytes payloads[] = {pattern(0, 30), pattern(1, 30), pattern(2, 30)};
    for (uint64_t i = 0; i < 3; ++i) ASSERT_EQ(post_send(p.w, p.a, p.ab, payloads[i], i, untagged()), 0);
    ASSERT_TRUE(p.w.run_until([&] { return completions_of(p.b, 1).size() == 3; }));
    const auto all = completions_of(p.b, 1);
    EXPECT_FALSE(all[0].report);
    EXPECT_FALSE(all[1].report);
    EXPECT_TRUE(all[2].report);
    EXPECT_TRUE(all[2].released) << "10 bytes left, fewer than 30";

    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 2, multi_opts(0, false)), 0);
    const Bytes too_big = pattern(9, 101);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, too_big, 9, untagged()), 0);
    p.w.run_for(20ms);
    ASSERT_EQ(completions_of(p.b, 2).size(), 1u);
    EXPECT_TRUE(p.b.recv_done(2)->release_only);
    EXPECT_TRUE(p.b.recv_done(2)->report);
}

// With every request in use, a buffer cannot follow one more message: it is
// released, and the message waits for a receive.
TEST(Engine, MultiRecvWithoutFreeRequests) {
    Config config = config_for(kVariants[0]);
    config.max_recvs = 1;
    Pair p(config);
    Bytes buffer(1000);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 1000, 1, multi_opts(0)), 0);
    const Bytes m = pattern(1, 40);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, m, 1, untagged()), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1); }));
    EXPECT_TRUE(p.b.recv_done(1)->release_only);
    Bytes single(40);
    RecvOpts plain;
    plain.tagged = false;
    ASSERT_EQ(post_recv(p.w, p.b, single.data(), 40, 2, plain), 0);
    ASSERT_NE(p.b.recv_done(2), nullptr);
    EXPECT_EQ(first_mismatch(single.data(), 40, 1), 40u);
}

TEST(Engine, MultiRecvOnDatagrams) {
    Pair p(dgram_config(kVariants[1]), kVariants[1].max_frame);
    Bytes buffer(20000 + kGuard, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 20000, 1, multi_opts(5000)), 0);
    const size_t sizes[] = {7, 6000, 32, 9000};
    for (size_t i = 0; i < 4; ++i) {
        const Bytes payload = pattern(i, sizes[i]);
        ASSERT_EQ(post_send(p.w, p.a, p.ab, payload, i, untagged()), 0);
        ASSERT_TRUE(p.w.run_until([&] { return completions_of(p.b, 1).size() == i + 1; }));
    }
    const auto all = completions_of(p.b, 1);
    size_t offset = 0;
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(all[i].buf, buffer.data() + offset);
        EXPECT_EQ(all[i].length, sizes[i]);
        EXPECT_EQ(first_mismatch(buffer.data() + offset, sizes[i], i), sizes[i]);
        offset += sizes[i];
    }
    EXPECT_TRUE(all[3].released) << "4961 bytes left";
    EXPECT_TRUE(guard_intact(buffer, 20000));
}

// ------------------------------------------------------------------ RMA

// One region of memory that peers may reach under one key, named by virtual
// address; a second key opens a read-only window on it.
class OneRegion final : public engine::RegionDirectory {
public:
    explicit OneRegion(size_t size) : memory(size, kGuardByte) {}

    engine::Status find(uint64_t key, uint64_t addr, uint64_t length, engine::Access access, std::span<iovec> out,
                        size_t* count) override {
        if (key != kKey && key != kReadOnlyKey) return Status::AccessDenied;
        if (key == kReadOnlyKey && access != engine::Access::RemoteRead) return Status::AccessDenied;
        const uint64_t base = reinterpret_cast<uint64_t>(memory.data());
        if (addr < base || addr - base > memory.size() || length > memory.size() - (addr - base))
            return Status::OutOfBounds;
        out[0] = iovec{memory.data() + (addr - base), length};
        *count = 1;
        return Status::Ok;
    }

    uint64_t base() const { return reinterpret_cast<uint64_t>(memory.data()); }

    static constexpr uint64_t kKey = 7;
    static constexpr uint64_t kReadOnlyKey = 8;
    Bytes memory;
};

int post_rma(World& w, Node& node, PeerId peer, engine::RmaKind kind, uint8_t* buf, size_t len, uint64_t addr,
             uint64_t key, uint64_t id, bool with_data = false) {
    iovec iov{buf, len};
    engine::RmaArgs args;
    args.kind = kind;
    args.peer = peer;
    args.iov = {&iov, 1};
    args.addr = addr;
    args.key = key;
    args.context = ctx(id);
    args.has_data = with_data;
    args.data = id * 3;
    return node.ep().rma(args, w.now);
}

// Writes then reads of every size class over a network that drops,
// duplicates and reorders frames: each lands once, exactly where aimed, and
// the target hears of each write exactly once.
void rma_under_loss(const Variant& variant, uint32_t seed) {
    SCOPED_TRACE(std::string(variant.name) + ", seed " + std::to_string(seed));
    Config config = fast_timeouts(variant);
    config.peer_timeout = 20s;
    Pair p(config, variant.max_frame, seed);
    Faults faults;
    faults.drop = 0.1;
    faults.duplicate = 0.05;
    faults.reorder = 0.1;
    p.w.net.set_faults(faults);
    OneRegion region(size_t{4} << 20);
    p.b.ep().set_regions(&region);

    std::mt19937 rng(seed);
    const size_t inline_max = p.a.ep().rma_inline_max();
    std::vector<size_t> sizes = {0, 1, inline_max - 1, inline_max, inline_max + 1, 100000, (size_t{1} << 20) + 3};
    for (int i = 0; i < 12; ++i) sizes.push_back(rng() % 200000);
    // Each write to a slot of its own.
    std::vector<size_t> offsets;
    size_t at = 0;
    std::vector<Bytes> data;
    for (size_t i = 0; i < sizes.size(); ++i) {
        offsets.push_back(at);
        at += sizes[i] + 16;
        data.push_back(pattern(i, sizes[i]));
    }
    ASSERT_LE(at, region.memory.size());
    for (size_t i = 0; i < sizes.size(); ++i)
        ASSERT_EQ(post_rma(p.w, p.a, p.ab, engine::RmaKind::Write, data[i].data(), sizes[i],
                           region.base() + offsets[i], OneRegion::kKey, i, i % 2 == 0),
                  0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.sends.size() == sizes.size(); }, 60s));
    for (const Completion& c : p.a.sends) {
        EXPECT_EQ(c.status, Status::Ok) << engine::status_text(c.status);
        EXPECT_EQ(c.rma, engine::RmaRole::Write);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
        EXPECT_EQ(first_mismatch(region.memory.data() + offsets[i], sizes[i], i), sizes[i]) << "write " << i;
        EXPECT_EQ(region.memory[offsets[i] + sizes[i]], kGuardByte) << "past write " << i;
    }
    // The target heard of every write once, with its CQ data when it had some.
    p.w.run_for(1s);
    size_t events = 0;
    std::set<uint64_t> with_data;
    for (const Completion& c : p.b.recvs) {
        if (c.rma != engine::RmaRole::RemoteWrite) continue;
        ++events;
        EXPECT_EQ(c.status, Status::Ok);
        if (c.has_data) {
            EXPECT_TRUE(with_data.insert(c.data / 3).second) << "CQ data twice";
        }
    }
    EXPECT_EQ(events, sizes.size());
    EXPECT_EQ(with_data.size(), (sizes.size() + 1) / 2);

    std::vector<Bytes> back;
    for (size_t i = 0; i < sizes.size(); ++i) back.emplace_back(sizes[i] + kGuard, kGuardByte);
    for (size_t i = 0; i < sizes.size(); ++i)
        ASSERT_EQ(post_rma(p.w, p.a, p.ab, engine::RmaKind::Read, back[i].data(), sizes[i],
                           region.base() + offsets[i], OneRegion::kReadOnlyKey, 1000 + i),
                  0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.sends.size() == 2 * sizes.size(); }, 60s));
    for (size_t i = 0; i < sizes.size(); ++i) {
        const Completion* c = p.a.send_done(1000 + i);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(c->status, Status::Ok) << engine::status_text(c->status);
        EXPECT_EQ(c->rma, engine::RmaRole::Read);
        EXPECT_EQ(first_mismatch(back[i].data(), sizes[i], i), sizes[i]) << "read " << i;
        EXPECT_TRUE(guard_intact(back[i], sizes[i])) << "read " << i;
    }
    EXPECT_EQ(p.b.ep().counters().rma_refused, 0u);
    // The reads went by key (the writes had set the connection up), each
    // answered without a request.
    EXPECT_GE(p.b.ep().counters().key_pulls_served, sizes.size() - 1);
    EXPECT_EQ(p.b.ep().counters().key_pulls_refused, 0u);
    EXPECT_EQ(p.a.ep().counters().key_reads_resent, 0u);
}

TEST(EngineRma, LossyNetworkOpenMx9000) { rma_under_loss(kVariants[0], 3); }
TEST(EngineRma, LossyNetworkOpenMx1500) { rma_under_loss(kVariants[1], 5); }

// A refused request changes nothing at the target; the initiator learns why.
TEST(EngineRma, RefusalsCarryTheirReason) {
    Pair p(fast_timeouts(kVariants[0]));
    OneRegion region(100000);
    p.b.ep().set_regions(&region);
    Bytes data = pattern(1, 50000);
    struct Case {
        engine::RmaKind kind;
        size_t size;
        uint64_t addr;
        uint64_t key;
        Status expected;
    } cases[] = {
        {engine::RmaKind::Write, 10, region.base(), 99, Status::AccessDenied},
        {engine::RmaKind::Write, 50000, region.base(), OneRegion::kReadOnlyKey, Status::AccessDenied},
        {engine::RmaKind::Write, 10, region.base() + 99995, OneRegion::kKey, Status::OutOfBounds},
        {engine::RmaKind::Read, 50000, region.base() + 60000, OneRegion::kKey, Status::OutOfBounds},
        {engine::RmaKind::Read, 10, region.base() - 1, OneRegion::kKey, Status::OutOfBounds},
    };
    uint64_t id = 0;
    for (const Case& c : cases) {
        ASSERT_EQ(post_rma(p.w, p.a, p.ab, c.kind, data.data(), c.size, c.addr, c.key, ++id), 0);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) != nullptr; }, 10s));
        EXPECT_EQ(p.a.send_done(id)->status, c.expected) << "case " << id;
    }
    EXPECT_TRUE(guard_intact(region.memory, 0)) << "a refused request wrote";
    EXPECT_EQ(data, pattern(1, 50000)) << "a refused read wrote into our buffer";
    EXPECT_EQ(p.b.ep().counters().rma_refused, std::size(cases));
    // The two reads were first asked by key, refused, and asked again.
    EXPECT_EQ(p.b.ep().counters().key_pulls_refused, 2u);
    EXPECT_EQ(p.a.ep().counters().key_reads_resent, 2u);
    size_t refusals = 0;
    for (const Completion& c : p.b.recvs) refusals += c.status != Status::Ok;
    EXPECT_EQ(refusals, std::size(cases)) << "the target's application hears of each";

    // An endpoint that exposes nothing refuses everything.
    ASSERT_EQ(post_rma(p.w, p.b, p.ba, engine::RmaKind::Read, data.data(), 10, 0, OneRegion::kKey, 100), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.send_done(100) != nullptr; }, 10s));
    EXPECT_EQ(p.b.send_done(100)->status, Status::AccessDenied);
}

// A target whose application must see every read of its memory (a
// remote-read counter, FI_RMA_EVENT) refuses reads by key: they come again
// as requests, and it hears of each exactly once, under loss too.
TEST(EngineRma, ATargetThatMustSeeReadsHasThemAsked) {
    Config config = fast_timeouts(kVariants[1]);
    Pair p(config, kVariants[1].max_frame, 11);
    Faults faults;
    faults.drop = 0.1;
    faults.duplicate = 0.05;
    p.w.net.set_faults(faults);
    OneRegion region(size_t{1} << 20);
    for (size_t i = 0; i < region.memory.size(); ++i) region.memory[i] = static_cast<uint8_t>(i * 7);
    p.b.ep().set_regions(&region);
    p.b.ep().set_read_events(true);
    const size_t sizes[] = {1, 3000, 100000, (size_t{1} << 20) - 5};
    std::vector<Bytes> back;
    for (size_t size : sizes) back.emplace_back(size + kGuard, kGuardByte);
    // A first message sets the connection up, so that the reads may go by key.
    Bytes hello = pattern(1, 10), into(10 + kGuard, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, into.data(), 10, 99), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 99), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(99) != nullptr; }, 10s));
    for (size_t i = 0; i < std::size(sizes); ++i)
        ASSERT_EQ(post_rma(p.w, p.a, p.ab, engine::RmaKind::Read, back[i].data(), sizes[i], region.base() + 5,
                           OneRegion::kKey, i + 1),
                  0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.sends.size() == std::size(sizes) + 1; }, 60s));
    for (size_t i = 0; i < std::size(sizes); ++i) {
        const Completion* c = p.a.send_done(i + 1);
        ASSERT_NE(c, nullptr);
        EXPECT_EQ(c->status, Status::Ok) << engine::status_text(c->status);
        for (size_t j = 0; j < sizes[i]; ++j) {
            ASSERT_EQ(back[i][j], static_cast<uint8_t>((j + 5) * 7)) << "read " << i << " byte " << j;
        }
        EXPECT_TRUE(guard_intact(back[i], sizes[i])) << "read " << i;
    }
    p.w.run_for(1s);
    size_t reads_seen = 0;
    for (const Completion& c : p.b.recvs) reads_seen += c.rma == engine::RmaRole::RemoteRead;
    EXPECT_EQ(reads_seen, std::size(sizes));
    EXPECT_EQ(p.b.ep().counters().key_pulls_served, 0u);
    EXPECT_EQ(p.a.ep().counters().key_reads_resent, std::size(sizes));
}

// A link that cannot send KEY_PULLs (a kernel module from before them):
// the read in flight and every later one go as requests, and complete.
TEST(EngineRma, ALinkWithoutKeyPullsHasReadsAsked) {
    Pair p(fast_timeouts(kVariants[0]));
    OneRegion region(200000);
    for (size_t i = 0; i < region.memory.size(); ++i) region.memory[i] = static_cast<uint8_t>(i * 3);
    p.b.ep().set_regions(&region);
    p.a.link().refuse_type(static_cast<int>(wire::PacketType::KeyPull));
    const Bytes hello = pattern(1, 10);
    Bytes into(10 + kGuard, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, into.data(), 10, 99), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 99), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(99) != nullptr; }, 10s));
    for (uint64_t id = 1; id <= 2; ++id) {
        Bytes back(150000, 0);
        ASSERT_EQ(post_rma(p.w, p.a, p.ab, engine::RmaKind::Read, back.data(), back.size(), region.base() + 7,
                           OneRegion::kKey, id),
                  0);
        ASSERT_TRUE(p.w.run_until([&] { return p.a.send_done(id) != nullptr; }, 5s)) << "read " << id;
        EXPECT_EQ(p.a.send_done(id)->status, Status::Ok);
        for (size_t j = 0; j < back.size(); ++j) ASSERT_EQ(back[j], static_cast<uint8_t>((j + 7) * 3)) << j;
    }
    EXPECT_EQ(p.a.ep().counters().key_reads_resent, 1u) << "only the first tried";
    EXPECT_EQ(p.b.ep().counters().key_pulls_served, 0u);
}

// An endpoint speaking MX's own layout, as an MX or Open-MX peer does,
// drops RMA frames as unknown, and its connection carries on unharmed.
TEST(EngineRma, HarmlessToAPlainMxoePeer) {
    Pair p(config_for(kVariants[2]));
    const Bytes hello = pattern(1, 10);
    Bytes buffer(100, kGuardByte);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 1), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, hello, 1), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(1) && p.a.send_done(1); }));

    wire::Head head;
    head.dst_mac = kMacB;
    head.src_mac = kMacA;
    std::array<uint8_t, wire::kMaxHeaderLength> header{};
    wire::RmaRequest write;
    write.dst_endpoint = 2;
    write.src_endpoint = 1;
    write.session = p.b.ep().session();
    write.length = 16;
    write.payload_length = 16;
    write.key = 1;
    const size_t n = wire::encode_rma_request(head, write, wire::WireMode::OpenMx, header);
    ASSERT_GT(n, 0u);
    wire::RmaReply reply;
    reply.dst_endpoint = 2;
    reply.src_endpoint = 1;
    reply.session = p.b.ep().session();
    std::array<uint8_t, wire::kMaxHeaderLength> reply_header{};
    const size_t m = wire::encode_rma_reply(head, reply, wire::WireMode::OpenMx, reply_header);
    ASSERT_GT(m, 0u);
    const link::Route from_a = p.a.link().local_route();
    const auto unknown = [&] {
        return p.b.ep().counters().decode_drops[static_cast<size_t>(wire::DropReason::UnknownType)];
    };
    const uint64_t before = unknown();
    p.b.link().inject(frame_of(n, header, Bytes(16, 0x77)), from_a);
    p.b.link().inject(frame_of(m, reply_header, {}), from_a);
    p.w.run_for(10ms);
    EXPECT_EQ(unknown() - before, 2u);
    EXPECT_TRUE(p.b.recvs.size() == 1 && p.b.sends.empty()) << "nothing happened at the peer";

    const Bytes after = pattern(2, 10);
    ASSERT_EQ(post_recv(p.w, p.b, buffer.data(), 100, 2), 0);
    ASSERT_EQ(post_send(p.w, p.a, p.ab, after, 2), 0);
    ASSERT_TRUE(p.w.run_until([&] { return p.b.recv_done(2) && p.a.send_done(2); }));
    EXPECT_EQ(p.b.recv_done(2)->status, Status::Ok);
    EXPECT_EQ(first_mismatch(buffer.data(), 10, 2), 10u);
}

// MX's layout has no RMA, and datagrams have no connection to carry it.
TEST(EngineRma, NotOfferedWhereTheWireCannotCarryIt) {
    Pair compat(fast_timeouts(kVariants[2]));
    Bytes data(10);
    EXPECT_EQ(post_rma(compat.w, compat.a, compat.ab, engine::RmaKind::Write, data.data(), 10, 0, 1, 1),
              -EOPNOTSUPP);
    Config dgram = config_for(kVariants[0]);
    dgram.reliable = false;
    Pair datagrams(dgram);
    EXPECT_EQ(post_rma(datagrams.w, datagrams.a, datagrams.ab, engine::RmaKind::Read, data.data(), 10, 0, 1, 1),
              -EOPNOTSUPP);
}

// The target restarts while large writes and reads are pulled: every
// operation ends with an error, none hangs, and the new incarnation's
// memory is untouched by what was meant for the old one.
TEST(EngineRma, RestartedTargetFailsWhatWasInFlight) {
    Config config = fast_timeouts(kVariants[0]);
    Pair p(config);
    OneRegion region(size_t{4} << 20);
    p.b.ep().set_regions(&region);
    Bytes data = pattern(3, size_t{2} << 20);
    Bytes back(size_t{2} << 20);
    ASSERT_EQ(post_rma(p.w, p.a, p.ab, engine::RmaKind::Write, data.data(), data.size(), region.base(),
                       OneRegion::kKey, 1),
              0);
    ASSERT_EQ(post_rma(p.w, p.a, p.ab, engine::RmaKind::Read, back.data(), back.size(),
                       region.base() + (size_t{2} << 20), OneRegion::kKey, 2),
              0);
    // Long enough for the requests to arrive, not for 2 MiB to move.
    for (int i = 0; i < 3; ++i) p.w.round();
    p.b.restart(0x77000001);
    std::fill(region.memory.begin(), region.memory.end(), kGuardByte);
    ASSERT_TRUE(p.w.run_until([&] { return p.a.sends.size() == 2; }, 30s));
    for (const Completion& c : p.a.sends) {
        EXPECT_NE(c.status, Status::Ok) << "completed against a target that restarted";
    }
    p.w.run_for(1s);
    EXPECT_TRUE(guard_intact(region.memory, 0));
}

// ------------------------------------------------------------------ link limits

// Messages of `sizes` from one node to another, all posted at once, each
// checked byte for byte.
void exchange(World& w, Node& from, PeerId to, Node& at, const std::vector<size_t>& sizes, uint64_t first_id) {
    std::vector<Bytes> payloads;
    std::vector<Bytes> buffers;
    for (size_t i = 0; i < sizes.size(); ++i) {
        payloads.push_back(pattern(first_id + i, sizes[i]));
        buffers.emplace_back(sizes[i] + kGuard, kGuardByte);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
        RecvOpts ro;
        ro.tag = first_id + i;
        ASSERT_EQ(post_recv(w, at, buffers[i].data(), sizes[i], first_id + i, ro), 0);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
        SendOpts so;
        so.tag = first_id + i;
        ASSERT_EQ(post_send(w, from, to, payloads[i], first_id + i, so), 0);
    }
    ASSERT_TRUE(w.run_until(
        [&] {
            for (size_t i = 0; i < sizes.size(); ++i)
                if (!from.send_done(first_id + i) || !at.recv_done(first_id + i)) return false;
            return true;
        },
        60s));
    for (size_t i = 0; i < sizes.size(); ++i) {
        SCOPED_TRACE(std::to_string(sizes[i]) + " bytes");
        EXPECT_EQ(at.recv_done(first_id + i)->status, Status::Ok);
        EXPECT_EQ(at.recv_done(first_id + i)->length, sizes[i]);
        EXPECT_EQ(first_mismatch(buffers[i].data(), sizes[i], first_id + i), sizes[i]);
        EXPECT_TRUE(guard_intact(buffers[i], sizes[i]));
    }
}

// A path that carries shorter frames than the link's largest gets frames of
// its own size, in every message class and both ways, while a peer on a
// full path keeps large ones.
TEST(EngineLinkLimits, EachPathGetsItsOwnFrameSize) {
    World w;
    const Config config = config_for(kVariants[0]);
    Node& a = w.add(kMacA, 1, config);
    Node& b = w.add(kMacB, 2, config);
    Node& c = w.add(kMacC, 3, config);
    constexpr size_t kNarrow = 1514;
    a.link().set_frame_to(kMacB, kNarrow);
    b.link().set_frame_to(kMacA, kNarrow);
    const PeerId ab = a.ep().peer_of(b.address());
    const PeerId ba = b.ep().peer_of(a.address());
    const PeerId ac = a.ep().peer_of(c.address());
    const std::vector<size_t> sizes = {0, 100, 1500, 5000, 20000, 32768, 100000, size_t{1} << 20};
    exchange(w, a, ab, b, sizes, 100);
    exchange(w, b, ba, a, sizes, 200);
    exchange(w, a, ac, c, sizes, 300);
    EXPECT_LE(a.link().longest_sent().at(kMacB), kNarrow);
    EXPECT_LE(b.link().longest_sent().at(kMacA), kNarrow);
    EXPECT_GT(a.link().longest_sent().at(kMacC), kNarrow) << "the full path was narrowed too";
    EXPECT_LE(a.link().longest_sent().at(kMacC), size_t{9000});
    // Nothing was refused or dropped as malformed on the way.
    EXPECT_EQ(w.net.stats().oversize, 0u);
    for (Node* node : {&a, &b, &c}) {
        for (uint64_t drops : node->ep().counters().decode_drops) EXPECT_EQ(drops, 0u);
    }
}

// Datagram endpoints size their largest message by the path as well.
TEST(EngineLinkLimits, DatagramsRefuseWhatTheNarrowPathCannotCarry) {
    Config config = config_for(kVariants[0]);
    config.reliable = false;
    Pair p(config);
    const auto narrow = *wire::WireLimits::open_mx(1100);
    p.a.link().set_frame_to(kMacB, 1100);
    p.b.link().set_frame_to(kMacA, 1100);
    const Bytes too_big = pattern(1, narrow.medium_msg_max() + 1);
    EXPECT_EQ(post_send(p.w, p.a, p.ab, too_big, 1), -EMSGSIZE);
    EXPECT_GE(narrow.medium_msg_max(), 32768u);
    exchange(p.w, p.a, p.ab, p.b, {32768}, 2);
    EXPECT_LE(p.a.link().longest_sent().at(kMacB), size_t{1100});
}

// The bytes of pull replies that wait at the receiver between two of its
// progress calls, for one 2 MiB message and three at once.
size_t pull_high_water(size_t window) {
    Pair p(config_for(kVariants[0]));
    p.b.link().set_receive_window(window);
    exchange(p.w, p.a, p.ab, p.b, {size_t{2} << 20}, 1);
    exchange(p.w, p.a, p.ab, p.b, {size_t{1} << 20, size_t{2} << 20, 300000}, 10);
    EXPECT_EQ(p.a.ep().counters().resends, 0u) << "nothing was lost: nothing should be pulled twice";
    return p.b.link().inbox_high_water();
}

// A pull asks for no more than the receiver's link can hold between polls,
// whatever the blocks of its wire limits would allow, and several pulls
// share that room.
TEST(EngineLinkLimits, PullsStayWithinTheReceiveWindow) {
    constexpr size_t kWindow = 64 * 1024;
    // Frames carry headers beside the payload the window counts, and a few
    // small frames (acks, rendezvous) may wait with the replies.
    const size_t slack = kWindow / 8 + 2048;
    const size_t unbounded = pull_high_water(0);
    EXPECT_GT(unbounded, kWindow + slack) << "without a window the test proves nothing";
    const size_t bounded = pull_high_water(kWindow);
    EXPECT_LE(bounded, kWindow + slack);
    EXPECT_GT(bounded, kWindow / 2) << "the window is there to be used";
}

// A window smaller than one reply still lets a pull go on, a reply at a time.
TEST(EngineLinkLimits, AWindowBelowOneReplyStillMovesData) {
    const size_t high_water = pull_high_water(1000);
    EXPECT_LE(high_water, size_t{9000} + 2048);
}

// ------------------------------------------------------------------ agreed frame sizes

constexpr size_t kNarrowFrame = 1514;

SendOpts send_tag(uint64_t tag) {
    SendOpts o;
    o.tag = tag;
    return o;
}

RecvOpts recv_tag(uint64_t tag) {
    RecvOpts o;
    o.tag = tag;
    return o;
}

// The two ends of a path see different sizes for it (different MTUs, routes
// that differ each way): a's link believes it carries a_sees bytes, b's
// b_sees, and it carries `carries` (longer frames are lost on it).
void set_paths(World& w, Node& a, Node& b, size_t a_sees, size_t b_sees, size_t carries) {
    a.link().set_frame_to(b.link().board(), a_sees);
    b.link().set_frame_to(a.link().board(), b_sees);
    w.net.limit_path(a.link().board(), b.link().board(), carries);
}

// `mac` speaks as a peer that advertises no frame size in its CONNECTs (MX,
// Open-MX, an earlier xen2mx): the field goes from them on the way.
void without_advertisement(World& w, uint64_t mac) {
    w.net.set_rewrite([mac](Bytes& frame, const link::Route& from) {
        if (from.mac != mac) return false;
        const wire::DecodeResult decoded =
            wire::decode(frame, wire::WireMode::OpenMx, *wire::WireLimits::open_mx(9000));
        if (!decoded || decoded->type != wire::PacketType::Connect) return false;
        wire::Connect connect = std::get<wire::Connect>(decoded->body);
        if (!connect.max_frame) return false;
        connect.max_frame = 0;
        std::array<uint8_t, wire::kMaxHeaderLength> header{};
        const size_t n = wire::encode_connect(decoded->head, connect, header);
        std::copy_n(header.begin(), n, frame.begin());
        return true;
    });
}

// Tiny, small, medium (one frag and many) and large (pulled) messages.
const std::vector<size_t> kClassSizes = {0, 20, 100, 1000, 1500, 5000, 20000, 32768, 100000, size_t{1} << 20};

// RMA from one node into another's region: writes and reads of inline and
// pulled sizes, and fetching atomics; each checked byte for byte.
void rma_every_size(World& w, Node& from, Node& to, OneRegion& region, uint64_t first_id) {
    const PeerId peer = from.ep().peer_of(to.address());
    const std::vector<size_t> sizes = {1, 100, 1000, 1400, 3000, 4096, 5000, 100000};
    std::vector<Bytes> data;
    std::vector<size_t> offsets;
    size_t at = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
        offsets.push_back(at);
        at += sizes[i] + 64;
        data.push_back(pattern(first_id + i, sizes[i]));
    }
    ASSERT_LE(at + 64, region.memory.size());
    for (size_t i = 0; i < sizes.size(); ++i)
        ASSERT_EQ(post_rma(w, from, peer, engine::RmaKind::Write, data[i].data(), sizes[i],
                           region.base() + offsets[i], OneRegion::kKey, first_id + i),
                  0);
    ASSERT_TRUE(w.run_until([&] {
        for (size_t i = 0; i < sizes.size(); ++i)
            if (!from.send_done(first_id + i)) return false;
        return true;
    }));
    std::vector<Bytes> back;
    for (size_t i = 0; i < sizes.size(); ++i) back.emplace_back(sizes[i] + kGuard, kGuardByte);
    for (size_t i = 0; i < sizes.size(); ++i)
        ASSERT_EQ(post_rma(w, from, peer, engine::RmaKind::Read, back[i].data(), sizes[i],
                           region.base() + offsets[i], OneRegion::kReadOnlyKey, first_id + 100 + i),
                  0);
    // Fetch-and-add on four 64-bit counters past the written data.
    const uint64_t counters = (region.base() + at + 7) / 8 * 8;
    std::array<uint64_t, 4> add = {1, 2, 3, 4};
    std::array<uint64_t, 4> before{};
    std::memcpy(&before, reinterpret_cast<void*>(counters), sizeof before);
    std::array<uint64_t, 4> fetched{};
    iovec operands{add.data(), sizeof add};
    iovec result{fetched.data(), sizeof fetched};
    engine::RmaArgs atomic;
    atomic.kind = engine::RmaKind::FetchAtomic;
    atomic.peer = peer;
    atomic.iov = {&operands, 1};
    atomic.result = {&result, 1};
    atomic.addr = counters;
    atomic.key = OneRegion::kKey;
    atomic.atomic_type = static_cast<uint8_t>(engine::AtomicType::Uint64);
    atomic.atomic_op = static_cast<uint8_t>(engine::AtomicOp::Sum);
    atomic.count = add.size();
    atomic.context = ctx(first_id + 200);
    ASSERT_EQ(from.ep().rma(atomic, w.now), 0);
    ASSERT_TRUE(w.run_until([&] {
        for (size_t i = 0; i < sizes.size(); ++i)
            if (!from.send_done(first_id + 100 + i)) return false;
        return from.send_done(first_id + 200) != nullptr;
    }));
    for (size_t i = 0; i < sizes.size(); ++i) {
        SCOPED_TRACE("RMA of " + std::to_string(sizes[i]) + " bytes");
        const Status written = from.send_done(first_id + i)->status;
        EXPECT_EQ(written, Status::Ok) << engine::status_text(written);
        EXPECT_EQ(first_mismatch(region.memory.data() + offsets[i], sizes[i], first_id + i), sizes[i]) << "written";
        EXPECT_EQ(from.send_done(first_id + 100 + i)->status, Status::Ok);
        EXPECT_EQ(first_mismatch(back[i].data(), sizes[i], first_id + i), sizes[i]) << "read back";
        EXPECT_TRUE(guard_intact(back[i], sizes[i]));
    }
    EXPECT_EQ(from.send_done(first_id + 200)->status, Status::Ok);
    EXPECT_EQ(fetched, before);
    std::array<uint64_t, 4> after{};
    std::memcpy(&after, reinterpret_cast<void*>(counters), sizeof after);
    for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i], before[i] + add[i]);
}

// Every class of message and of RMA, a to b and b to a.
void every_class_both_ways(World& w, Node& a, Node& b, uint64_t first_id) {
    OneRegion region_a(size_t{1} << 20), region_b(size_t{1} << 20);
    a.ep().set_regions(&region_a);
    b.ep().set_regions(&region_b);
    exchange(w, a, a.ep().peer_of(b.address()), b, kClassSizes, first_id);
    exchange(w, b, b.ep().peer_of(a.address()), a, kClassSizes, first_id + 1000);
    rma_every_size(w, a, b, region_b, first_id + 2000);
    rma_every_size(w, b, a, region_a, first_id + 3000);
    a.ep().set_regions(nullptr);
    b.ep().set_regions(nullptr);
}

void expect_no_drops(World& w, std::initializer_list<Node*> nodes) {
    EXPECT_EQ(w.net.stats().too_long, 0u) << "frames longer than the path carries";
    EXPECT_EQ(w.net.stats().oversize, 0u);
    for (Node* node : nodes)
        for (size_t r = 0; r < wire::kDropReasonCount; ++r)
            EXPECT_EQ(node->ep().counters().decode_drops[r], 0u)
                << wire::drop_reason_name(static_cast<wire::DropReason>(r));
}

// One end sees a 9000-byte path, the other a 1500-byte one, and the path
// carries only the latter's frames. Both ends take the smaller of the sizes
// they advertised to each other: every class passes both ways, nothing is
// lost for being too long, and full frames are exactly of the agreed size.
TEST(EngineFrameAgreement, AsymmetricPathsCarryEveryClassBothWays) {
    World w;
    const Config config = config_for(kVariants[0]);
    Node& a = w.add(kMacA, 1, config);
    Node& b = w.add(kMacB, 2, config);
    set_paths(w, a, b, 9000, kNarrowFrame, kNarrowFrame);
    every_class_both_ways(w, a, b, 1);
    expect_no_drops(w, {&a, &b});
    EXPECT_EQ(a.ep().counters().resends + b.ep().counters().resends, 0u) << "nothing was lost: nothing resent";
    EXPECT_EQ(a.link().longest_sent().at(kMacB), kNarrowFrame);
    EXPECT_EQ(b.link().longest_sent().at(kMacA), kNarrowFrame);
}

// Both ends connect at once (each posts before either has heard of the
// other), over a path that loses, duplicates and reorders frames: requests
// and replies cross, and the two still agree.
TEST(EngineFrameAgreement, BothConnectAtOnceUnderLoss) {
    for (uint32_t seed : {3u, 11u}) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        World w(seed);
        const Config config = fast_timeouts(kVariants[0]);
        Node& a = w.add(kMacA, 1, config);
        Node& b = w.add(kMacB, 2, config);
        set_paths(w, a, b, kNarrowFrame, 9000, kNarrowFrame);
        Faults faults;
        faults.drop = 0.05;
        faults.duplicate = 0.05;
        faults.reorder = 0.1;
        w.net.set_faults(faults);
        const PeerId ab = a.ep().peer_of(b.address());
        const PeerId ba = b.ep().peer_of(a.address());
        std::vector<Bytes> payloads, at_a, at_b;
        for (size_t i = 0; i < kClassSizes.size(); ++i) {
            payloads.push_back(pattern(i, kClassSizes[i]));
            at_a.emplace_back(kClassSizes[i] + kGuard, kGuardByte);
            at_b.emplace_back(kClassSizes[i] + kGuard, kGuardByte);
            ASSERT_EQ(post_recv(w, a, at_a[i].data(), kClassSizes[i], 100 + i, recv_tag(i)), 0);
            ASSERT_EQ(post_recv(w, b, at_b[i].data(), kClassSizes[i], 100 + i, recv_tag(i)), 0);
        }
        for (size_t i = 0; i < kClassSizes.size(); ++i) {
            ASSERT_EQ(post_send(w, a, ab, payloads[i], 100 + i, send_tag(i)), 0);
            ASSERT_EQ(post_send(w, b, ba, payloads[i], 100 + i, send_tag(i)), 0);
        }
        ASSERT_TRUE(w.run_until([&] {
            return a.sends.size() == kClassSizes.size() && b.sends.size() == kClassSizes.size() &&
                   a.recvs.size() == kClassSizes.size() && b.recvs.size() == kClassSizes.size();
        }));
        for (size_t i = 0; i < kClassSizes.size(); ++i) {
            SCOPED_TRACE(std::to_string(kClassSizes[i]) + " bytes");
            for (Node* node : {&a, &b}) {
                EXPECT_EQ(node->send_done(100 + i)->status, Status::Ok);
                EXPECT_EQ(node->recv_done(100 + i)->status, Status::Ok);
            }
            EXPECT_EQ(first_mismatch(at_a[i].data(), kClassSizes[i], i), kClassSizes[i]);
            EXPECT_EQ(first_mismatch(at_b[i].data(), kClassSizes[i], i), kClassSizes[i]);
            EXPECT_TRUE(guard_intact(at_a[i], kClassSizes[i]) && guard_intact(at_b[i], kClassSizes[i]));
        }
        EXPECT_EQ(w.net.stats().too_long, 0u);
        EXPECT_LE(a.link().longest_sent().at(kMacB), kNarrowFrame);
        EXPECT_LE(b.link().longest_sent().at(kMacA), kNarrowFrame);
    }
}

// A peer that restarts on another path is agreed with anew: narrower, then
// wider again, every class passing each time.
TEST(EngineFrameAgreement, RestartedPeerIsAgreedWithAnew) {
    World w;
    const Config config = config_for(kVariants[0]);
    Node& a = w.add(kMacA, 1, config);
    Node& b = w.add(kMacB, 2, config);
    exchange(w, a, a.ep().peer_of(b.address()), b, kClassSizes, 1);
    EXPECT_EQ(a.link().longest_sent().at(kMacB), 9000u);

    // The new process sees a narrower path, and the path is narrower.
    b.restart(0x62000001);
    set_paths(w, a, b, 9000, kNarrowFrame, kNarrowFrame);
    a.link().forget_longest();
    // The new process speaks first: its request tells a of the change.
    exchange(w, b, b.ep().peer_of(a.address()), a, {10}, 100);
    every_class_both_ways(w, a, b, 1000);
    expect_no_drops(w, {&a, &b});
    EXPECT_EQ(a.link().longest_sent().at(kMacB), kNarrowFrame);
    EXPECT_EQ(b.link().longest_sent().at(kMacA), kNarrowFrame);

    // And one on a full path again gets full frames again.
    b.restart(0x62000002);
    set_paths(w, a, b, 9000, 9000, 9000);
    a.link().forget_longest();
    exchange(w, b, b.ep().peer_of(a.address()), a, {10}, 200);
    exchange(w, a, a.ep().peer_of(b.address()), b, kClassSizes, 10000);
    EXPECT_EQ(a.link().longest_sent().at(kMacB), 9000u);
    EXPECT_EQ(w.net.stats().too_long, 0u);
}

// A peer that advertises nothing (MX, Open-MX) gets the frames of our own
// path, as before the field existed: the narrow one where both paths are
// narrow, the full one where both are full.
TEST(EngineFrameAgreement, PeerWithoutTheFieldGetsOurPath) {
    for (size_t path : {kNarrowFrame, size_t{9000}}) {
        SCOPED_TRACE("paths of " + std::to_string(path));
        World w;
        const Config config = config_for(kVariants[0]);
        Node& a = w.add(kMacA, 1, config);
        Node& b = w.add(kMacB, 2, config);
        set_paths(w, a, b, path, path, path);
        without_advertisement(w, kMacB);
        every_class_both_ways(w, a, b, 1);
        expect_no_drops(w, {&a, &b});
        EXPECT_GT(w.net.stats().rewritten, 0u) << "b's connects went out without the field";
        EXPECT_EQ(a.link().longest_sent().at(kMacB), path);
        EXPECT_EQ(b.link().longest_sent().at(kMacA), path);
    }
}

// Without the field, paths seen differently are what they were before it:
// the end that sees the wider path sends frames the path loses. (This is
// what the agreement spares xen2mx peers, and shows that the harness does
// lose them.)
TEST(EngineFrameAgreement, WithoutTheFieldDifferentPathsLoseFrames) {
    World w;
    const Config config = fast_timeouts(kVariants[0]);
    Node& a = w.add(kMacA, 1, config);
    Node& b = w.add(kMacB, 2, config);
    set_paths(w, a, b, 9000, kNarrowFrame, kNarrowFrame);
    without_advertisement(w, kMacB);
    const Bytes medium = pattern(1, 20000);
    Bytes buffer(20000);
    ASSERT_EQ(post_recv(w, b, buffer.data(), buffer.size(), 1), 0);
    ASSERT_EQ(post_send(w, a, a.ep().peer_of(b.address()), medium, 1), 0);
    w.run_for(500ms);
    EXPECT_GT(w.net.stats().too_long, 0u);
    EXPECT_EQ(b.recv_done(1), nullptr);
}

// Each end advertises, in every CONNECT it sends, its own path's frame;
// in MX's layout, where the limits are MX's, nothing.
TEST(EngineFrameAgreement, EachConnectAdvertisesThePath) {
    for (const Variant& variant : {kVariants[0], kVariants[2]}) {
        SCOPED_TRACE(variant.name);
        World w;
        Node& a = w.add(kMacA, 1, config_for(variant));
        Node& b = w.add(kMacB, 2, config_for(variant));
        set_paths(w, a, b, 9000, kNarrowFrame, 9000);
        std::map<std::pair<uint64_t, bool>, std::set<uint16_t>> advertised;  // (sender, reply) -> values
        w.net.set_rewrite([&](Bytes& frame, const link::Route& from) {
            const wire::DecodeResult d = wire::decode(frame, variant.mode, variant.limits);
            if (d && d->type == wire::PacketType::Connect) {
                const auto& c = std::get<wire::Connect>(d->body);
                advertised[{from.mac, c.is_reply}].insert(c.max_frame);
            }
            return false;
        });
        exchange(w, a, a.ep().peer_of(b.address()), b, {10}, 1);
        exchange(w, b, b.ep().peer_of(a.address()), a, {10}, 2);
        const bool agrees = variant.mode == wire::WireMode::OpenMx;
        const std::set<uint16_t> from_a{static_cast<uint16_t>(agrees ? 9000 : 0)};
        const std::set<uint16_t> from_b{static_cast<uint16_t>(agrees ? kNarrowFrame : 0)};
        EXPECT_EQ((advertised[{kMacA, false}]), from_a) << "a's requests";
        EXPECT_EQ((advertised[{kMacB, true}]), from_b) << "b's replies";
        EXPECT_EQ((advertised[{kMacB, false}]), from_b) << "b's requests";
        EXPECT_EQ((advertised[{kMacA, true}]), from_a) << "a's replies";
    }
}

// Until the connection is set up, what is decided when an operation is
// posted assumes cautious frames; a peer whose path is narrower still (600
// bytes here) gets what waited sized for it: a medium message too long for
// 32 of its frags goes by rendezvous, RMA data too long to go inline is
// pulled.
TEST(EngineFrameAgreement, WhatWaitedIsRefitToSmallerFrames) {
    World w;
    const Config config = config_for(kVariants[0]);
    Node& a = w.add(kMacA, 1, config);
    Node& b = w.add(kMacB, 2, config);
    constexpr size_t kTiny = 600;
    set_paths(w, a, b, 9000, kTiny, kTiny);
    const auto agreed = *wire::WireLimits::open_mx(kTiny);
    ASSERT_LT(agreed.medium_msg_max(), 20000u) << "the test needs a medium message the agreed frags cannot carry";
    OneRegion region(100000);
    b.ep().set_regions(&region);
    const PeerId ab = a.ep().peer_of(b.address());
    // Posted before a has heard of b.
    const std::vector<size_t> sizes = {100, 500, 3000, 17000, 20000, 32768};
    std::vector<Bytes> payloads, buffers;
    for (size_t i = 0; i < sizes.size(); ++i) {
        payloads.push_back(pattern(i, sizes[i]));
        buffers.emplace_back(sizes[i] + kGuard, kGuardByte);
        ASSERT_EQ(post_recv(w, b, buffers[i].data(), sizes[i], 1 + i, recv_tag(i)), 0);
        ASSERT_EQ(post_send(w, a, ab, payloads[i], 1 + i, send_tag(i)), 0);
    }
    Bytes written = pattern(50, 900);
    ASSERT_EQ(post_rma(w, a, ab, engine::RmaKind::Write, written.data(), written.size(), region.base(),
                       OneRegion::kKey, 50),
              0);
    ASSERT_TRUE(w.run_until([&] { return a.sends.size() == sizes.size() + 1 && b.recvs.size() >= sizes.size(); }));
    for (size_t i = 0; i < sizes.size(); ++i) {
        SCOPED_TRACE(std::to_string(sizes[i]) + " bytes");
        EXPECT_EQ(a.send_done(1 + i)->status, Status::Ok) << engine::status_text(a.send_done(1 + i)->status);
        EXPECT_EQ(b.recv_done(1 + i)->status, Status::Ok);
        EXPECT_EQ(first_mismatch(buffers[i].data(), sizes[i], i), sizes[i]);
        EXPECT_TRUE(guard_intact(buffers[i], sizes[i]));
    }
    EXPECT_EQ(a.send_done(50)->status, Status::Ok) << engine::status_text(a.send_done(50)->status);
    EXPECT_EQ(first_mismatch(region.memory.data(), written.size(), 50), written.size());
    expect_no_drops(w, {&a, &b});
    EXPECT_LE(a.link().longest_sent().at(kMacB), kTiny);
    b.ep().set_regions(nullptr);
}

}  // namespace
}  // namespace xen2mx
