// An in-memory network for engine tests: links attached to one MemoryNetwork
// hand frames to each other through per-link inboxes, with seeded fault
// injection (loss, duplication, reordering) and the means to cut a link off
// or to bring an endpoint back on the same address (a restart). A link may
// answer PULLs itself from the regions the engine offers it, as the kmod
// link's kernel does (PullService).
//
// Nothing here is thread-safe: a test drives every endpoint from one thread,
// and that is what makes a run reproducible from its seed.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "link/link.hpp"
#include "wire/mxoe_codec.hpp"

namespace xen2mx::testing {

struct Faults {
    double drop = 0;       // probability that a frame is lost
    double duplicate = 0;  // probability that it arrives twice
    double reorder = 0;    // probability that it is held back, so that later frames overtake it
    unsigned reorder_window = 4;  // a held frame waits 1..window polls of its receiver
};

struct NetworkStats {
    uint64_t frames = 0;         // frames links handed to the network
    uint64_t delivered = 0;      // frames put in an inbox (duplicates included)
    uint64_t dropped = 0;        // lost by fault injection
    uint64_t duplicated = 0;
    uint64_t reordered = 0;
    uint64_t cut = 0;            // lost because a side was cut off
    uint64_t undeliverable = 0;  // nobody attached at the destination
    uint64_t oversize = 0;       // longer than the sender's max_frame
    uint64_t too_long = 0;       // longer than the path carries (limit_path)
    uint64_t rewritten = 0;      // changed on the way (set_rewrite)
};

class MemoryLink;

// What a link that answers PULLs itself did: the regions the engine offered
// (serve_region) and withdrew, the PULLs for them it answered at once on
// arrival whether or not its endpoint progresses, and those it dropped for
// asking outside the region. Shared with the test, so that it outlives the
// link (an endpoint's destruction withdraws what it still held).
struct PullService {
    bool on = true;       // false: serve_region() says -EOPNOTSUPP (no such link)
    int refusal = 0;      // not 0: what serve_region() returns (-ENOMEM: the memlock limit)
    uint64_t asked = 0;   // serve_region() calls
    uint64_t offered = 0; // regions taken
    uint64_t withdrawn = 0;
    uint64_t answered = 0;
    uint64_t errors = 0;
    struct Held {
        link::PullRegion region;
        std::vector<iovec> data;
    };
    std::map<uint8_t, Held> held;
    // Memory regions open to reads (serve_keyed), by slot, and the
    // KEY_PULLs answered from them.
    struct Keyed {
        uint64_t key = 0;
        uint64_t base = 0;
        std::vector<iovec> data;
    };
    std::map<uint32_t, Keyed> keyed;
    uint64_t keyed_answered = 0;
};

class MemoryNetwork {
public:
    // Every link keeps a raw pointer to the network: it must outlive them.
    explicit MemoryNetwork(uint32_t seed = 1) : rng_(seed) {}
    MemoryNetwork(const MemoryNetwork&) = delete;
    MemoryNetwork& operator=(const MemoryNetwork&) = delete;

    // The route of an endpoint: its board and, standing in for a port, its id.
    // The port is offset so that no route has a zero port.
    static link::Route route_of(uint64_t mac, uint8_t endpoint) {
        return link::Route{mac, 0, static_cast<uint16_t>(kPortBase + endpoint)};
    }

    // A new link for (mac, endpoint); empty while another link holds that
    // address. A link that is destroyed leaves the address free, with its
    // inbox gone: frames still on the way to it are lost, as on a real
    // network when a process dies.
    std::unique_ptr<MemoryLink> attach(uint64_t mac, uint8_t endpoint, size_t max_frame = 9000);

    void set_faults(const Faults& faults) { faults_ = faults; }
    const Faults& faults() const { return faults_; }

    // The longest frame the path between two boards carries, both ways,
    // whatever the links at its ends believe (Link::max_frame_to): longer
    // frames are lost on it, as at the far end of a link whose MTU is
    // smaller than the near end's.
    void limit_path(uint64_t mac_a, uint64_t mac_b, size_t bytes) {
        path_limits_[{std::min(mac_a, mac_b), std::max(mac_a, mac_b)}] = bytes;
    }

    // Called with every frame on its way (before faults), which it may
    // change; true when it did: peers of another kind, in tests.
    using Rewrite = std::function<bool(std::vector<uint8_t>& frame, const link::Route& from)>;
    void set_rewrite(Rewrite rewrite) { rewrite_ = std::move(rewrite); }

    // Ethernet delivery: a frame goes to every link on the destination board,
    // which must then tell by the MXoE header whether it is theirs (what the
    // Ethernet link does). Otherwise frames go to the one link of the route.
    void set_board_delivery(bool on) { board_delivery_ = on; }

    // Frames from a board reach each receiver one per `polls` polls of
    // it, each behind the last: a slow sender, whose frames trickle in
    // long after it was asked for them. 0: at once again.
    void pace(uint64_t mac, unsigned polls) {
        if (polls) pace_[mac] = polls;
        else pace_.erase(mac);
    }

    // Cuts an address off, or reconnects it: while cut, every frame from or
    // to it is lost.
    void cut(uint64_t mac, uint8_t endpoint, bool off) {
        const auto key = key_of(route_of(mac, endpoint));
        if (off) cut_.insert(key);
        else cut_.erase(key);
    }

    // No frame waits anywhere.
    bool idle() const;

    const NetworkStats& stats() const { return stats_; }

private:
    friend class MemoryLink;
    static constexpr uint16_t kPortBase = 7000;
    using Key = std::pair<uint64_t, uint16_t>;
    static Key key_of(const link::Route& route) { return {route.mac, route.udp_port}; }

    int send(MemoryLink& from, const link::Route& to, std::span<const iovec> parts);
    void enqueue(MemoryLink& to, const std::vector<uint8_t>& bytes, const link::Route& from);
    bool chance(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
    void detach(MemoryLink* link);

    std::mt19937 rng_;
    Faults faults_;
    bool board_delivery_ = false;
    std::map<Key, MemoryLink*> links_;
    std::set<Key> cut_;
    std::map<std::pair<uint64_t, uint64_t>, size_t> path_limits_;
    Rewrite rewrite_;
    std::map<uint64_t, unsigned> pace_;
    NetworkStats stats_;
};

class MemoryLink final : public link::Link {
public:
    MemoryLink(MemoryNetwork& network, uint64_t mac, uint8_t endpoint, size_t max_frame)
        : network_(network), mac_(mac), endpoint_(endpoint), max_frame_(max_frame) {}
    ~MemoryLink() override { network_.detach(this); }
    MemoryLink(const MemoryLink&) = delete;
    MemoryLink& operator=(const MemoryLink&) = delete;

    std::string_view kind() const override { return "memory"; }
    uint64_t board() const override { return mac_; }
    uint8_t endpoint_id() const override { return endpoint_; }
    link::Route local_route() const override { return MemoryNetwork::route_of(mac_, endpoint_); }
    size_t max_frame() const override { return max_frame_; }
    int wait_fd() const override { return -1; }

    // A path to a board that carries shorter frames than max_frame(), as a
    // udp path with a smaller MTU does.
    void set_frame_to(uint64_t mac, size_t frame) { frame_to_[mac] = frame; }
    size_t max_frame_to(const link::Route& route) const override {
        auto found = frame_to_.find(route.mac);
        return found == frame_to_.end() ? max_frame_ : found->second;
    }
    // What the link claims to hold between polls (a socket's receive buffer);
    // the inbox itself never drops.
    void set_receive_window(size_t bytes) { receive_window_ = bytes; }
    size_t receive_window() const override { return receive_window_; }
    // The most bytes of frames that ever waited in the inbox at once.
    size_t inbox_high_water() const { return inbox_high_water_; }
    // The longest frame sent to each board (since the last forget_longest()).
    const std::map<uint64_t, size_t>& longest_sent() const { return longest_sent_; }
    void forget_longest() { longest_sent_.clear(); }

    int send(const link::Route& to, std::span<const iovec> parts) override {
        // As a kernel module refuses a packet type it does not know.
        if (refused_type_ >= 0 && !parts.empty() && parts[0].iov_len > 16 &&
            static_cast<const uint8_t*>(parts[0].iov_base)[16] == refused_type_)
            return -EPROTONOSUPPORT;
        return network_.send(*this, to, parts);
    }
    void refuse_type(int ptype) { refused_type_ = ptype; }
    // From now on, frames are handed over as from a channel that vouches
    // for this sender endpoint (a kmod lane); -1: as plain frames.
    void vouch(int endpoint) { vouched_ = endpoint; }

    int poll(link::FrameSink& sink, int budget) override {
        release_held();
        int handled = 0;
        while (handled < budget && !inbox_.empty()) {
            // Out of the queue before the call: the sink may send, and a
            // frame it sends to itself lands in this very inbox.
            Frame frame = std::move(inbox_.front());
            inbox_.pop_front();
            inbox_bytes_ -= frame.bytes.size();
            if (vouched_ >= 0)
                sink.on_frame_from(frame.bytes, frame.from, static_cast<uint8_t>(vouched_));
            else
                sink.on_frame(frame.bytes, frame.from);
            ++handled;
        }
        return handled;
    }

    // From now on, regions the engine offers are taken by `service` (see PullService).
    void answer_pulls(std::shared_ptr<PullService> service) { pulls_ = std::move(service); }

    int serve_region(const link::PullRegion& region, std::span<const iovec> data) override {
        if (!pulls_ || !pulls_->on) return -EOPNOTSUPP;
        ++pulls_->asked;
        if (pulls_->refusal) return pulls_->refusal;
        if (pulls_->held.count(region.region)) return -EEXIST;
        pulls_->held[region.region] = {region, {data.begin(), data.end()}};
        ++pulls_->offered;
        return 0;
    }

    void withdraw_region(uint8_t region) override {
        if (pulls_ && pulls_->held.erase(region)) ++pulls_->withdrawn;
    }

    int serve_keyed(uint32_t slot, uint64_t key, uint64_t base, std::span<const iovec> data) override {
        if (!pulls_ || !pulls_->on) return -EOPNOTSUPP;
        if (pulls_->keyed.count(slot)) return -EEXIST;
        pulls_->keyed[slot] = {key, base, {data.begin(), data.end()}};
        return 0;
    }

    void withdraw_keyed(uint32_t slot) override {
        if (pulls_) pulls_->keyed.erase(slot);
    }

    // Puts arbitrary bytes in the inbox, as if `from` had sent them.
    void inject(std::vector<uint8_t> bytes, const link::Route& from) { to_inbox({std::move(bytes), from, 0}); }

    bool idle() const { return inbox_.empty() && held_.empty(); }

private:
    int refused_type_ = -1;
    int vouched_ = -1;
    friend class MemoryNetwork;

    // True when `bytes` is a PULL of a region this link holds, from the
    // peer the region is for: answered here (or dropped, when it asks for
    // bytes outside the region) and never handed to the endpoint.
    bool answer_pull(const std::vector<uint8_t>& bytes, const link::Route& from);
    bool answer_key_pull(const std::vector<uint8_t>& bytes, const link::Route& from);
    void send_replies(const wire::Head& head, const link::Route& to, std::span<const iovec> data, uint64_t at,
                      uint64_t start, uint64_t end, uint32_t reply_max, uint32_t frame_index, uint32_t handle,
                      uint32_t magic);

    struct Frame {
        std::vector<uint8_t> bytes;
        link::Route from;
        unsigned polls_left = 0;  // held frames: polls until delivery
    };

    // Held frames whose wait is over join the inbox behind what arrived in
    // the meantime.
    void to_inbox(Frame frame) {
        inbox_bytes_ += frame.bytes.size();
        inbox_high_water_ = std::max(inbox_high_water_, inbox_bytes_);
        inbox_.push_back(std::move(frame));
    }

    void release_held() {
        ++polls_;
        for (auto it = held_.begin(); it != held_.end();) {
            if (--it->polls_left == 0) {
                to_inbox(std::move(*it));
                it = held_.erase(it);
            } else {
                ++it;
            }
        }
    }

    MemoryNetwork& network_;
    uint64_t mac_;
    uint8_t endpoint_;
    size_t max_frame_;
    std::map<uint64_t, size_t> frame_to_;
    size_t receive_window_ = 0;
    std::map<uint64_t, size_t> longest_sent_;
    size_t inbox_bytes_ = 0;
    size_t inbox_high_water_ = 0;
    std::deque<Frame> inbox_;
    std::vector<Frame> held_;
    uint64_t polls_ = 0;
    uint64_t paced_until_ = 0;  // the poll at which the last paced frame comes
    std::shared_ptr<PullService> pulls_;
};

inline std::unique_ptr<MemoryLink> MemoryNetwork::attach(uint64_t mac, uint8_t endpoint, size_t max_frame) {
    const Key key = key_of(route_of(mac, endpoint));
    if (links_.count(key)) return nullptr;
    auto link = std::make_unique<MemoryLink>(*this, mac, endpoint, max_frame);
    links_[key] = link.get();
    return link;
}

inline void MemoryNetwork::detach(MemoryLink* link) {
    auto found = links_.find(key_of(link->local_route()));
    if (found != links_.end() && found->second == link) links_.erase(found);
}

inline bool MemoryNetwork::idle() const {
    for (const auto& [key, link] : links_)
        if (!link->idle()) return false;
    return true;
}

inline void MemoryNetwork::enqueue(MemoryLink& to, const std::vector<uint8_t>& bytes, const link::Route& from) {
    if (auto paced = pace_.find(from.mac); paced != pace_.end()) {
        to.paced_until_ = std::max(to.paced_until_, to.polls_) + paced->second;
        to.held_.push_back({bytes, from, static_cast<unsigned>(to.paced_until_ - to.polls_)});
    } else if (chance(faults_.reorder) && faults_.reorder_window > 0) {
        ++stats_.reordered;
        const unsigned polls = std::uniform_int_distribution<unsigned>(1, faults_.reorder_window)(rng_);
        to.held_.push_back({bytes, from, polls});
    } else {
        to.to_inbox({bytes, from, 0});
    }
    ++stats_.delivered;
}

inline int MemoryNetwork::send(MemoryLink& from, const link::Route& to, std::span<const iovec> parts) {
    size_t length = 0;
    for (const iovec& part : parts) length += part.iov_len;
    if (length > from.max_frame()) {
        ++stats_.oversize;
        return -EMSGSIZE;
    }
    ++stats_.frames;
    size_t& longest = from.longest_sent_[to.mac];
    longest = std::max(longest, length);
    const link::Route source = from.local_route();
    if (cut_.count(key_of(source)) || cut_.count(key_of(to))) {
        ++stats_.cut;
        return 0;
    }
    std::vector<MemoryLink*> targets;
    if (board_delivery_) {
        for (const auto& [key, link] : links_)
            if (key.first == to.mac) targets.push_back(link);
    } else if (auto found = links_.find(key_of(to)); found != links_.end()) {
        targets.push_back(found->second);
    }
    if (targets.empty()) {
        ++stats_.undeliverable;
        return 0;  // like a wire: nobody there, nothing said
    }
    if (auto limit = path_limits_.find({std::min(source.mac, to.mac), std::max(source.mac, to.mac)});
        limit != path_limits_.end() && length > limit->second) {
        ++stats_.too_long;
        return 0;
    }
    if (chance(faults_.drop)) {
        ++stats_.dropped;
        return 0;
    }
    std::vector<uint8_t> bytes;
    bytes.reserve(length);
    for (const iovec& part : parts) {
        const auto* p = static_cast<const uint8_t*>(part.iov_base);
        bytes.insert(bytes.end(), p, p + part.iov_len);
    }
    if (rewrite_ && rewrite_(bytes, source)) ++stats_.rewritten;
    const bool twice = chance(faults_.duplicate);
    if (twice) ++stats_.duplicated;
    for (MemoryLink* target : targets) {
        if (target->answer_pull(bytes, source) || target->answer_key_pull(bytes, source)) continue;
        enqueue(*target, bytes, source);
        if (twice) enqueue(*target, bytes, source);
    }
    return 0;
}

inline bool MemoryLink::answer_pull(const std::vector<uint8_t>& bytes, const link::Route& from) {
    if (!pulls_ || pulls_->held.empty() || bytes.size() <= wire::kPtypeOffset ||
        bytes[wire::kPtypeOffset] != static_cast<uint8_t>(wire::PacketType::Pull))
        return false;
    // Every region of an endpoint has the same limits and layout.
    const link::PullRegion& any = pulls_->held.begin()->second.region;
    wire::WireLimits limits;
    limits.pull_reply_max = any.reply_max;
    limits.replies_per_block = any.replies_per_block;
    const wire::WireMode mode = any.mx_layout ? wire::WireMode::MxCompat : wire::WireMode::OpenMx;
    const wire::DecodeResult decoded = wire::decode(bytes, mode, limits);
    if (!decoded) return false;
    const auto& pull = std::get<wire::PullRequest>(decoded->body);
    const auto found = pull.pulled_rdma_id < 256 ? pulls_->held.find(static_cast<uint8_t>(pull.pulled_rdma_id))
                                                 : pulls_->held.end();
    if (found == pulls_->held.end() || pull.dst_endpoint != endpoint_) return false;
    const PullService::Held& held = found->second;
    if (held.region.seq != pull.pulled_rdma_seqnum || held.region.peer_board != decoded->head.src_mac ||
        held.region.peer_endpoint != pull.src_endpoint)
        return false;
    size_t length = 0;
    for (const iovec& v : held.data) length += v.iov_len;
    const auto start = wire::pull_block_offset(pull, limits);
    const uint64_t end = start ? *start + pull.block_length : 0;
    if (!start || end > length || pull.total_length > length) {
        ++pulls_->errors;
        return true;
    }
    wire::Head head;
    head.dst_mac = decoded->head.src_mac;
    head.src_mac = mac_;
    head.dst_src_peer_index = held.region.peer_index;
    send_replies(head, from, held.data, 0, *start, end, limits.pull_reply_max, pull.frame_index, pull.src_pull_handle,
                 pull.src_magic);
    ++pulls_->answered;
    return true;
}

// A KEY_PULL whose read lies inside a region open to reads is answered, as
// the kmod link's kernel does; any other is the endpoint's.
inline bool MemoryLink::answer_key_pull(const std::vector<uint8_t>& bytes, const link::Route& from) {
    if (!pulls_ || pulls_->keyed.empty() || bytes.size() <= wire::kPtypeOffset ||
        bytes[wire::kPtypeOffset] != static_cast<uint8_t>(wire::PacketType::KeyPull))
        return false;
    wire::WireLimits limits;
    limits.pull_reply_max = 0xffff;
    limits.replies_per_block = 64;
    const wire::DecodeResult decoded = wire::decode(bytes, wire::WireMode::OpenMx, limits);
    if (!decoded) return false;
    const auto& pull = std::get<wire::KeyPull>(decoded->body);
    if (pull.dst_endpoint != endpoint_ || size_t{pull.reply_max} + 32 > max_frame_) return false;
    for (const auto& [slot, region] : pulls_->keyed) {
        if (region.key != pull.key) continue;
        size_t length = 0;
        for (const iovec& v : region.data) length += v.iov_len;
        if (pull.addr < region.base || pull.addr - region.base > length ||
            pull.total_length > length - (pull.addr - region.base))
            return false;
        wire::Head head;
        head.dst_mac = decoded->head.src_mac;
        head.src_mac = mac_;
        head.dst_src_peer_index = pull.reply_peer_index;
        const uint64_t start = pull.block_offset();
        send_replies(head, from, region.data, pull.addr - region.base, start, start + pull.block_length,
                     pull.reply_max, pull.frame_index, pull.src_pull_handle, pull.src_magic);
        ++pulls_->keyed_answered;
        return true;
    }
    return false;
}

// PULL_REPLYs for bytes [start, end) of a transfer that begins `at` bytes
// into `data`, gathered from the memory where they are.
inline void MemoryLink::send_replies(const wire::Head& head, const link::Route& to, std::span<const iovec> data,
                                     uint64_t at, uint64_t start, uint64_t end, uint32_t reply_max,
                                     uint32_t frame_index, uint32_t handle, uint32_t magic) {
    for (uint64_t offset = start; offset < end; offset += reply_max, ++frame_index) {
        wire::PullReply reply;
        reply.frame_seqnum = static_cast<uint8_t>(frame_index);
        reply.frame_length = static_cast<uint16_t>(std::min<uint64_t>(reply_max, end - offset));
        reply.msg_offset = static_cast<uint32_t>(offset);
        reply.dst_pull_handle = handle;
        reply.dst_magic = magic;
        std::array<uint8_t, wire::kMaxHeaderLength> header;
        std::vector<iovec> parts{{header.data(), wire::encode_pull_reply(head, reply, header)}};
        uint64_t skip = at + offset, want = reply.frame_length;
        for (const iovec& v : data) {
            if (!want) break;
            if (skip >= v.iov_len) {
                skip -= v.iov_len;
                continue;
            }
            const uint64_t take = std::min<uint64_t>(want, v.iov_len - skip);
            parts.push_back({static_cast<uint8_t*>(v.iov_base) + skip, take});
            want -= take;
            skip = 0;
        }
        network_.send(*this, to, parts);
    }
}

}  // namespace xen2mx::testing
