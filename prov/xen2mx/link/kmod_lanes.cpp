#include "link/kmod_lanes.hpp"

#include <atomic>
#include <bit>
#include <cstring>

namespace xen2mx::link {

namespace {

constexpr size_t kPage = 4096;
constexpr uint32_t kEthernetHeader = 14;

uint64_t mac_of(const uint8_t* bytes) {
    uint64_t mac = 0;
    for (int i = 0; i < 6; ++i) mac = (mac << 8) | bytes[i];
    return mac;
}

template <typename T>
T load_acquire(T& shared) {
    return std::atomic_ref<T>(shared).load(std::memory_order_acquire);
}

}  // namespace

KmodLanes::KmodLanes(uint8_t* base, size_t bytes, size_t max_frame)
    : base_(base), bytes_(bytes), max_frame_(max_frame),
      table_(reinterpret_cast<xen2mx_lanes*>(base + XEN2MX_LANES_OFFSET)) {
    static_assert(XEN2MX_LANES_OFFSET + sizeof(xen2mx_lanes) <= kPage, "the lane table lies in the ctl page");
    frame_.resize(max_frame);
}

bool KmodLanes::present() const {
    return bytes_ >= kPage && load_acquire(table_->magic) == XEN2MX_LANES_MAGIC;
}

// The kernel wrote the entry; checking it costs nothing next to a lane's
// life, and a wrong one must not send the reader outside the mapping.
void KmodLanes::adopt(Lane& lane, const xen2mx_lane_info& info, uint32_t generation) {
    lane = Lane{};
    lane.adopted = true;
    lane.generation = generation;
    const uint32_t slots = info.slots, slot_bytes = info.slot_bytes;
    const size_t offset = info.offset;
    if (!std::has_single_bit(slots) || !std::has_single_bit(slot_bytes) || slot_bytes <= sizeof(xen2mx_rx_slot) ||
        slot_bytes > (1u << 16) || offset % kPage != 0 || offset < kPage || offset > bytes_ ||
        bytes_ - offset < kPage || bytes_ - offset - kPage < size_t{slots} * slot_bytes)
        return;
    lane.head = reinterpret_cast<xen2mx_lane_head*>(base_ + offset);
    lane.slots = base_ + offset + kPage;
    lane.slot_count = slots;
    lane.slot_bytes = slot_bytes;
    lane.peer_mac = mac_of(info.peer_mac);
    lane.peer_endpoint = info.peer_endpoint;
    lane.usable = true;
}

int KmodLanes::drain(Lane& lane, FrameSink& sink, int budget) {
    const uint32_t prod = load_acquire(lane.head->prod);
    uint32_t cons = lane.cons;
    if (prod - cons > lane.slot_count) {
        // A producer past the slots it was given: what it says is there is
        // not; take nothing of it and start from where it claims to be.
        dropped_ += 1;
        lane.cons = prod;
        std::atomic_ref<uint32_t>(lane.head->cons).store(prod, std::memory_order_release);
        return 0;
    }
    int handled = 0;
    const size_t room = lane.slot_bytes - sizeof(xen2mx_rx_slot);
    while (handled < budget && cons != prod) {
        const uint8_t* slot = lane.slots + size_t{cons & (lane.slot_count - 1)} * lane.slot_bytes;
        const uint32_t length =
            std::atomic_ref<const uint32_t>(reinterpret_cast<const xen2mx_rx_slot*>(slot)->length)
                .load(std::memory_order_relaxed);
        ++cons;
        if (length < kEthernetHeader || length > room || length > max_frame_) {
            ++dropped_;
            continue;
        }
        std::memcpy(frame_.data(), slot + sizeof(xen2mx_rx_slot), length);
        if (mac_of(frame_.data() + 6) != lane.peer_mac) {
            ++dropped_;
            continue;
        }
        sink.on_frame_from(std::span<const uint8_t>(frame_.data(), length), Route{lane.peer_mac, 0, 0, 0},
                           lane.peer_endpoint);
        ++handled;
    }
    lane.cons = cons;
    std::atomic_ref<uint32_t>(lane.head->cons).store(cons, std::memory_order_release);
    return handled;
}

int KmodLanes::poll(FrameSink& sink, int budget) {
    const uint32_t count = std::min<uint32_t>(load_acquire(table_->count), XEN2MX_LANES_MAX);
    int handled = 0;
    for (uint32_t i = 0; i < count && handled < budget; ++i) {
        xen2mx_lane_info& info = table_->lane[i];
        const uint32_t state = load_acquire(info.state);
        if (state == XEN2MX_LANE_UNUSED) continue;
        const uint32_t generation = load_acquire(info.generation);
        Lane& lane = lanes_[i];
        if (!lane.adopted || lane.generation != generation) adopt(lane, info, generation);
        if (lane.usable) handled += drain(lane, sink, budget - handled);
    }
    return handled;
}

}  // namespace xen2mx::link
