// The lanes of a kmod endpoint (uapi/xen2mx.h, "Lanes"): in a Xen guest,
// frames from an endpoint of another guest of the same host come through
// memory of this endpoint's mapping that the other guest's kernel writes
// into directly, Dom0 taking no part. Only the lane table is this guest's
// own; a lane's head page and slots are the other guest's to write at any
// time, so every value read there is bounded before use and each frame is
// copied out of its slot before anyone parses it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "link/link.hpp"
#include "uapi/xen2mx.h"

namespace xen2mx::link {

class KmodLanes {
public:
    // `base` and `bytes`: the endpoint's whole mapping.
    KmodLanes(uint8_t* base, size_t bytes, size_t max_frame);

    // Whether the device has lanes at all (a guest's, with lanes on).
    bool present() const;

    // Hands up to `budget` frames to the sink, lane after lane; returns
    // how many.
    int poll(FrameSink& sink, int budget);

    // Frames dropped: outside their slot, from another sender than the
    // lane's, or lost to a producer that ran too far ahead.
    uint64_t dropped() const { return dropped_; }

private:
    struct Lane {
        bool adopted = false;  // the entry's generation was looked at
        bool usable = false;   // and its geometry found right
        uint32_t generation = 0;
        uint32_t cons = 0;
        xen2mx_lane_head* head = nullptr;
        const uint8_t* slots = nullptr;
        uint32_t slot_count = 0, slot_bytes = 0;
        uint64_t peer_mac = 0;
        uint8_t peer_endpoint = 0;
    };

    // Takes the entry's geometry when the kernel gave it to a new lane.
    void adopt(Lane& lane, const xen2mx_lane_info& info, uint32_t generation);
    int drain(Lane& lane, FrameSink& sink, int budget);

    uint8_t* base_;
    size_t bytes_;
    size_t max_frame_;
    xen2mx_lanes* table_;
    std::array<Lane, XEN2MX_LANES_MAX> lanes_{};
    std::vector<uint8_t> frame_;  // the frame being handed over, out of the other guest's reach
    uint64_t dropped_ = 0;
};

}  // namespace xen2mx::link
