// An in-memory network for engine tests: links attached to one MemoryNetwork
// hand frames to each other through per-link inboxes, with seeded fault
// injection (loss, duplication, reordering) and the means to cut a link off
// or to bring an endpoint back on the same address (a restart).
//
// Nothing here is thread-safe: a test drives every endpoint from one thread,
// and that is what makes a run reproducible from its seed.
#pragma once

#include <sys/uio.h>

#include <algorithm>
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

    int send(const link::Route& to, std::span<const iovec> parts) override { return network_.send(*this, to, parts); }

    int poll(link::FrameSink& sink, int budget) override {
        release_held();
        int handled = 0;
        while (handled < budget && !inbox_.empty()) {
            // Out of the queue before the call: the sink may send, and a
            // frame it sends to itself lands in this very inbox.
            Frame frame = std::move(inbox_.front());
            inbox_.pop_front();
            inbox_bytes_ -= frame.bytes.size();
            sink.on_frame(frame.bytes, frame.from);
            ++handled;
        }
        return handled;
    }

    // Puts arbitrary bytes in the inbox, as if `from` had sent them.
    void inject(std::vector<uint8_t> bytes, const link::Route& from) { to_inbox({std::move(bytes), from, 0}); }

    bool idle() const { return inbox_.empty() && held_.empty(); }

private:
    friend class MemoryNetwork;
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
    if (chance(faults_.reorder) && faults_.reorder_window > 0) {
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
        enqueue(*target, bytes, source);
        if (twice) enqueue(*target, bytes, source);
    }
    return 0;
}

}  // namespace xen2mx::testing
