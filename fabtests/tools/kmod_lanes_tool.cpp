// The lanes of a Xen guest as its processes see them (tests/vm/xen, CTest
// xen.faults): frames sent towards another guest's endpoint, whose guest
// may offer anything as a lane; frames read from lanes another guest
// writes anything into. Whatever the other guest does, frames go on
// (through Dom0 when no sound lane is there) and nothing but what the
// lane's sender may send comes out.
#include "kmod_tool.hpp"
#include "link/kmod_lanes.hpp"

namespace kmod_tool {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t since(int fd, int which, uint64_t base) { return counter(fd, which) - base; }

// What the reader hands over, judged as the provider's endpoint judges a
// lane's frame: a TINY naming the source endpoint the lane vouches for.
struct CountingSink final : xen2mx::link::FrameSink {
    uint64_t delivered = 0, forged = 0;
    void on_frame(std::span<const uint8_t>, const xen2mx::link::Route&) override { ++forged; }
    void on_frame_from(std::span<const uint8_t> frame, const xen2mx::link::Route&, uint8_t source) override {
        if (frame.size() >= 40 && frame[16] == 37 && frame[18] == source)
            ++delivered;
        else
            ++forged;
    }
};

// Whether a lane of the table was opened and is closed now.
bool lane_closed(const Endpoint& ep) {
    const auto* table = reinterpret_cast<const xen2mx_lanes*>(ep.map + XEN2MX_LANES_OFFSET);
    const uint32_t count = std::min<uint32_t>(std::atomic_ref<const uint32_t>(table->count).load(), XEN2MX_LANES_MAX);
    for (uint32_t i = 0; i < count; ++i)
        if (std::atomic_ref<const uint32_t>(table->lane[i].state).load(std::memory_order_acquire) == XEN2MX_LANE_CLOSED)
            return true;
    return false;
}

}  // namespace

// TINYs to endpoint `id` of `mac_text` (the board's MAC: another guest's
// endpoint), one every 10 ms, until at least `count` went through a lane
// and that lane was given up again (lanes_out back to 0), 300 s at most,
// then 3 s more.
int cmd_lanesend(const char* mac_text, int id, int count) {
    uint8_t dst[6];
    if (!parse_mac(mac_text, dst) || id < 0 || id >= XEN2MX_MAX_ENDPOINTS || count < 1) return 2;
    Endpoint a;
    if (int ret = a.open(0, XEN2MX_ANY_ENDPOINT)) {
        std::printf("FAIL: lanesend: open: %s\n", std::strerror(-ret));
        return 1;
    }
    const uint64_t sent0 = counter(a.fd, XEN2MX_CTR_SENT), lane0 = counter(a.fd, XEN2MX_CTR_LANE_FRAMES);
    const auto f = tiny(dst, static_cast<uint8_t>(id), 0, a.info.mac, 0);
    const auto deadline = Clock::now() + std::chrono::seconds(300);
    uint64_t frames = 0, errors = 0;
    bool carried = false, given_up = false;
    // Frames go on 3 s past the lane's end: the sender asks its guest again, which the receiver sees.
    auto end = deadline;
    while (Clock::now() < end) {
        if (send_frame(a.fd, f.data(), f.size()) == 0)
            ++frames;
        else
            ++errors;
        carried = carried || since(a.fd, XEN2MX_CTR_LANE_FRAMES, lane0) >= static_cast<uint64_t>(count);
        if (!given_up && carried && counter(a.fd, XEN2MX_CTR_LANES_OUT) == 0) {
            given_up = true;
            end = std::min(deadline, Clock::now() + std::chrono::seconds(3));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const uint64_t laned = since(a.fd, XEN2MX_CTR_LANE_FRAMES, lane0);
    // Dom0 counts a frame before it answers its SEND: the last ones are counted by now.
    uint64_t through_dom0 = since(a.fd, XEN2MX_CTR_SENT, sent0);
    for (int waited = 0; waited < 3000 && through_dom0 + laned < frames; waited += 20) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        through_dom0 = since(a.fd, XEN2MX_CTR_SENT, sent0);
    }
    std::printf("lanesend: %llu frames sent (%llu refused), %llu through lanes, Dom0's sent grew by %llu\n",
                static_cast<unsigned long long>(frames), static_cast<unsigned long long>(errors),
                static_cast<unsigned long long>(laned), static_cast<unsigned long long>(through_dom0));
    check(errors == 0, "lanesend: every send accepted");
    check(carried, "lanesend: at least " + std::to_string(count) + " frames went through a lane (" +
                       std::to_string(laned) + ")");
    check(given_up, "lanesend: the lane was given up again, the endpoint open (lanes_out 0)");
    check(through_dom0 > 0 && through_dom0 + laned == frames,
          "lanesend: every other frame went out through Dom0 (" + std::to_string(through_dom0) + ")");
    return failures ? 1 : 0;
}

// Endpoint `id` read through the provider's lane reader, as another
// guest writes into its lane, until that lane is closed (SECONDS at most):
// exactly `expected` frames must come out.
int cmd_lanerecv(int id, int seconds, int expected) {
    Endpoint ep;
    if (int ret = ep.open(0, id)) {
        std::printf("FAIL: lanerecv: open endpoint %d: %s\n", id, std::strerror(-ret));
        return 1;
    }
    xen2mx::link::KmodLanes lanes(ep.map, ep.info.map_bytes, ep.info.max_frame);
    check(lanes.present(), "lanerecv: the endpoint has lanes");
    std::printf("LISTENING %d\n", id);
    CountingSink sink;
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    bool closed = false;
    while (!closed && Clock::now() < deadline) {
        closed = lane_closed(ep);  // then what the lane still holds, once more
        while (lanes.poll(sink, 64) > 0) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::printf("lanerecv: %llu frames delivered, %llu forged, %llu dropped by the reader\n",
                static_cast<unsigned long long>(sink.delivered), static_cast<unsigned long long>(sink.forged),
                static_cast<unsigned long long>(lanes.dropped()));
    check(closed, "lanerecv: the lane was closed when its sender went");
    check(sink.delivered == static_cast<uint64_t>(expected),
          "lanerecv: exactly the " + std::to_string(expected) + " right frames delivered");
    check(sink.forged > 0 && lanes.dropped() > 0, "lanerecv: the bad ones dropped and counted");
    check(counter(ep.fd, XEN2MX_CTR_LANES_IN) == 0, "lanerecv: lanes_in back to 0, the endpoint open");
    ep.close();
    return failures ? 1 : 0;
}

}  // namespace kmod_tool
