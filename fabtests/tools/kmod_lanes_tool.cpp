// The lanes of a Xen guest as its processes see them (tests/vm/xen, CTest
// xen.faults): frames sent towards another guest's endpoint, whose guest
// may offer anything as a lane; frames read from lanes another guest
// writes anything into. Whatever the other guest does, frames go on
// (through Dom0 when no sound lane is there) and nothing but what the
// lane's sender may send comes out.
#include "kmod_tool.hpp"

namespace kmod_tool {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t since(int fd, int which, uint64_t base) { return counter(fd, which) - base; }

}  // namespace

// TINYs to endpoint `id` of `mac_text` (the board's MAC: another guest's
// endpoint), one every 10 ms, until at least `count` went through a lane
// and that lane was given up again (lanes_out back to 0), 300 s at most.
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
    while (Clock::now() < deadline && !given_up) {
        if (send_frame(a.fd, f.data(), f.size()) == 0)
            ++frames;
        else
            ++errors;
        carried = carried || since(a.fd, XEN2MX_CTR_LANE_FRAMES, lane0) >= static_cast<uint64_t>(count);
        given_up = carried && counter(a.fd, XEN2MX_CTR_LANES_OUT) == 0;
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

}  // namespace kmod_tool
