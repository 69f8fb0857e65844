// Drives /dev/xen2mx through its raw ABI, for the tests run inside QEMU
// guests (tests/vm): what the kernel module must accept, refuse and never
// show to the wrong process. Every check prints a PASS or FAIL line; the exit
// status is 1 when any failed.
//
//   kmod_tool info                 version and boards
//   kmod_tool counters [BOARD]     every counter (global ones included)
//   kmod_tool counter NAME         one counter's value, summed over boards
//   kmod_tool endpoints            the endpoints open: board, id, pid, uid (- for a
//                                  kernel owner), owner
//   kmod_tool attach IF | detach IF
//   kmod_tool abuse                malformed ioctls, mmaps and frames
//   kmod_tool local                two endpoints of one board: delivery,
//                                  stamping, session filter, isolation
//   kmod_tool hold N               opens N endpoints, says HOLDING, sleeps
//   kmod_tool listen EP SECONDS    waits for a TINY on endpoint EP, prints its sender
//   kmod_tool forge MAC EP         sends TINYs claiming another sender to MAC's endpoint EP
//   kmod_tool zerocopy             zero-copy sends: delivery, completion events,
//                                  pinned pages given back, malformed requests
//   kmod_tool zclimit              a send needing more pages than pinned_pages: E2BIG
//   kmod_tool zcflood              zero-copy sends to a missing board, forever
//   kmod_tool zclisten EP SECONDS  waits for a full-size TINY on EP, checks its payload
//   kmod_tool zcsend MAC EP        sends full-size TINYs zero-copy to MAC's endpoint EP
//   kmod_tool nack                 frames for closed endpoints or stale sessions are
//                                  nacked by the kernel; answers never are
//   kmod_tool nackflood N          N frames to a closed endpoint: prints how many were nacked
//   kmod_tool nackremote MAC EP    a TINY to MAC's endpoint EP (not open): its kernel nacks it
//   kmod_tool traffic N            N frames between two endpoints, says TRAFFIC, sleeps
//   kmod_tool lanesend MAC EP N    TINYs to another guest's endpoint EP until N went
//                                  through a lane and the lane was given up again
//   kmod_tool lanerecv EP SECONDS N  reads EP's lanes with the provider's reader until one
//                                  closes: N right frames must come out
//   kmod_tool regions              memory regions: bad registrations refused, PULLs answered
//                                  by the kernel from a region, the rest passed up
//   kmod_tool reglimit             with region_pages set low: E2BIG, ENOSPC
//   kmod_tool memlock              regions under the RLIMIT_MEMLOCK it was started with
//   kmod_tool regflood             holds 3 regions, says HOLDING, registers a 4th forever
//   kmod_tool keyed                keyed regions: bad registrations refused, KEY_PULLs
//                                  answered by the kernel, the rest passed up unchanged
//   kmod_tool runas UID CMD...     runs CMD as UID (group UID, no other groups): the
//                                  guests' busybox has no tool that does it
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kmod_tool.hpp"

using namespace kmod_tool;

namespace {
int cmd_info() {
    const int fd = open_device();
    xen2mx_version v{};
    if (int ret = xioctl(fd, XEN2MX_IOC_VERSION, &v)) {
        std::printf("FAIL: version: %s\n", std::strerror(-ret));
        return 1;
    }
    std::printf("VERSION abi=%u boards=%u max_boards=%u max_endpoints=%u\n", v.abi, v.boards, v.max_boards,
                v.max_endpoints);
    for (uint32_t i = 0; i < v.max_boards; ++i) {
        xen2mx_board_info b{};
        b.index = i;
        if (xioctl(fd, XEN2MX_IOC_BOARD_INFO, &b) != 0) continue;
        std::printf("BOARD %u %s %s mtu=%u endpoints=%u %s\n", i, b.ifname, mac_string(b.mac).c_str(), b.mtu,
                    b.endpoints, b.flags & XEN2MX_BOARD_UP ? "up" : "down");
    }
    return 0;
}

int cmd_endpoints() {
    const int fd = open_device();
    std::vector<xen2mx_endpoint_entry> entries;
    if (int ret = xen2mx::device::list_endpoints(fd, &entries)) {
        std::printf("FAIL: endpoint list: %s\n", std::strerror(-ret));
        return 1;
    }
    for (const xen2mx_endpoint_entry& e : entries) {
        const std::string uid = e.uid == XEN2MX_NO_UID ? "-" : std::to_string(e.uid);
        std::printf("ENDPOINT %u %u %d %s %.*s\n", e.board, e.endpoint, e.pid, uid.c_str(),
                    static_cast<int>(strnlen(e.owner, sizeof e.owner)), e.owner);
    }
    return 0;
}

int cmd_counters(uint32_t board) {
    const int fd = open_device();
    xen2mx_counters c{};
    c.board = board;
    if (int ret = xioctl(fd, XEN2MX_IOC_COUNTERS, &c)) {
        std::printf("FAIL: counters: %s\n", std::strerror(-ret));
        return 1;
    }
    for (uint32_t i = 0; i < c.count && i < XEN2MX_CTR_MAX; ++i)
        std::printf("COUNTER %s %llu\n", kCounterNames[i], static_cast<unsigned long long>(c.values[i]));
    return 0;
}

int cmd_counter(const char* name) {
    const int fd = open_device();
    for (int i = 0; i < XEN2MX_CTR_MAX; ++i)
        if (!std::strcmp(name, kCounterNames[i])) {
            std::printf("%llu\n", static_cast<unsigned long long>(counter(fd, i)));
            return 0;
        }
    std::printf("no counter %s\n", name);
    return 1;
}

int cmd_attach(bool attach, const char* ifname) {
    const int fd = open_device();
    xen2mx_attach a{};
    std::snprintf(a.ifname, sizeof a.ifname, "%s", ifname);
    const int ret = xioctl(fd, attach ? XEN2MX_IOC_ATTACH : XEN2MX_IOC_DETACH, &a);
    if (ret) {
        std::printf("ERROR %s\n", std::strerror(-ret));
        return 1;
    }
    std::printf("OK board=%u\n", a.index);
    return 0;
}

// Everything a careless or hostile process may hand the device.
int cmd_abuse() {
    const int fd = open_device();
    void* bad = reinterpret_cast<void*>(uintptr_t{16});
    check(xioctl(fd, XEN2MX_IOC_VERSION, bad) == -EFAULT, "VERSION into a bad pointer: EFAULT");
    check(xioctl(fd, XEN2MX_IOC_COUNTERS, bad) == -EFAULT, "COUNTERS from a bad pointer: EFAULT");
    check(xioctl(fd, _IOWR(XEN2MX_IOC_MAGIC, 0x7f, xen2mx_send), bad) == -ENOTTY, "unknown ioctl: ENOTTY");
    check(xioctl(fd, _IOWR(XEN2MX_IOC_MAGIC, 0x10, uint32_t), bad) == -ENOTTY,
          "ENDPOINT_OPEN with a wrong size: ENOTTY");
    xen2mx_counters c{};
    c.board = 1000;
    check(xioctl(fd, XEN2MX_IOC_COUNTERS, &c) == -EINVAL, "counters of board 1000: EINVAL");
    xen2mx_board_info b{};
    b.index = 0xffffff;
    check(xioctl(fd, XEN2MX_IOC_BOARD_INFO, &b) == -EINVAL, "info of board 0xffffff: EINVAL");
    char frame[64] = {};
    check(send_frame(fd, frame, sizeof frame) == -ENOTCONN, "send before an endpoint is open: ENOTCONN");
    xen2mx_wait w{10, 0};
    check(xioctl(fd, XEN2MX_IOC_WAIT, &w) == -ENOTCONN, "wait before an endpoint is open: ENOTCONN");
    check(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENOTCONN,
          "mmap before an endpoint is open: ENOTCONN");
    xen2mx_endpoint_open o{};
    o.endpoint = 300;
    check(xioctl(fd, XEN2MX_IOC_ENDPOINT_OPEN, &o) == -EINVAL, "endpoint id 300: EINVAL");
    o.endpoint = -7;
    check(xioctl(fd, XEN2MX_IOC_ENDPOINT_OPEN, &o) == -EINVAL, "endpoint id -7: EINVAL");
    o.endpoint = XEN2MX_ANY_ENDPOINT;
    o.flags = 0x80;
    check(xioctl(fd, XEN2MX_IOC_ENDPOINT_OPEN, &o) == -EINVAL, "unknown open flags: EINVAL");
    o.flags = 0;
    o.board = 7;
    check(xioctl(fd, XEN2MX_IOC_ENDPOINT_OPEN, &o) == -ENODEV, "board 7 (none): ENODEV");
    o.board = 0;
    check(xioctl(fd, XEN2MX_IOC_ENDPOINT_OPEN, bad) == -EFAULT, "ENDPOINT_OPEN from a bad pointer: EFAULT");
    ::close(fd);

    Endpoint ep;
    if (int ret = ep.open(0, XEN2MX_ANY_ENDPOINT)) {
        check(false, std::string("open an endpoint on board 0: ") + std::strerror(-ret));
        return 1;
    }
    check(xioctl(ep.fd, XEN2MX_IOC_ENDPOINT_OPEN, &o) == -EBUSY, "a second endpoint on one file: EBUSY");
    check(::mmap(nullptr, ep.info.map_bytes + 4096, PROT_READ, MAP_SHARED, ep.fd, 0) == MAP_FAILED,
          "mmap longer than the endpoint's memory: refused");
    check(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, ep.fd, 4096) == MAP_FAILED, "mmap at an offset: refused");
    check(::mmap(nullptr, ep.info.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, ep.fd, 0) == MAP_FAILED,
          "private mmap: refused");

    const uint8_t self_mac[6] = {ep.info.mac[0], ep.info.mac[1], ep.info.mac[2],
                                 ep.info.mac[3], ep.info.mac[4], ep.info.mac[5]};
    const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x42};
    std::vector<uint8_t> f = tiny(other, 1, 0, self_mac, 0);
    xen2mx_send s{};
    s.iov_count = 1;
    s.iov = 16;
    check(xioctl(ep.fd, XEN2MX_IOC_SEND, &s) == -EFAULT, "send with a bad iovec pointer: EFAULT");
    xen2mx_iovec iov{16, 40};
    s.iov = reinterpret_cast<uintptr_t>(&iov);
    check(xioctl(ep.fd, XEN2MX_IOC_SEND, &s) == -EFAULT, "send from a bad buffer: EFAULT");
    iov = {reinterpret_cast<uintptr_t>(f.data()), uint64_t{1} << 62};
    check(xioctl(ep.fd, XEN2MX_IOC_SEND, &s) == -EMSGSIZE, "send of 2^62 bytes: EMSGSIZE");
    std::vector<xen2mx_iovec> many(XEN2MX_SEND_IOV_MAX, xen2mx_iovec{reinterpret_cast<uintptr_t>(f.data()), 1ull << 40});
    s.iov = reinterpret_cast<uintptr_t>(many.data());
    s.iov_count = XEN2MX_SEND_IOV_MAX;
    check(xioctl(ep.fd, XEN2MX_IOC_SEND, &s) == -EMSGSIZE, "iovecs adding up past 2^64: EMSGSIZE");
    s.iov_count = XEN2MX_SEND_IOV_MAX + 1;
    check(xioctl(ep.fd, XEN2MX_IOC_SEND, &s) == -EINVAL, "too many iovecs: EINVAL");
    s.iov_count = 0;
    check(xioctl(ep.fd, XEN2MX_IOC_SEND, &s) == -EINVAL, "no iovec: EINVAL");
    s.iov_count = 1;
    s.iov = reinterpret_cast<uintptr_t>(&iov);
    s.flags = 0x100;
    iov = {reinterpret_cast<uintptr_t>(f.data()), f.size()};
    check(xioctl(ep.fd, XEN2MX_IOC_SEND, &s) == -EINVAL, "unknown send flags: EINVAL");
    check(send_frame(ep.fd, f.data(), 10) == -EINVAL, "a 10-byte frame: EINVAL");
    std::vector<uint8_t> big(ep.info.max_frame + 1, 0);
    std::memcpy(big.data(), f.data(), f.size());
    check(send_frame(ep.fd, big.data(), big.size()) == -EMSGSIZE, "a frame one byte over the MTU: EMSGSIZE");
    std::vector<uint8_t> raw = f;
    raw[16] = 1;
    check(send_frame(ep.fd, raw.data(), raw.size()) == -EPROTONOSUPPORT, "a RAW frame: refused");
    raw[16] = 200;
    check(send_frame(ep.fd, raw.data(), raw.size()) == -EPROTONOSUPPORT, "an unknown packet type: refused");
    std::vector<uint8_t> bcast = f;
    std::memset(bcast.data(), 0xff, 6);
    check(send_frame(ep.fd, bcast.data(), bcast.size()) == -EINVAL, "a broadcast frame: refused");
    check(send_frame(ep.fd, f.data(), f.size()) == 0, "a well-formed TINY to another board: sent");
    xen2mx_wait w2{1u << 31, 0};
    check(xioctl(ep.fd, XEN2MX_IOC_WAIT, &w2) == -EINVAL, "wait of 2^31 ms: EINVAL");

    // Whatever the process writes into its consumer counters, the kernel
    // writes only inside the ring.
    ep.ctl()->rx_cons = 0x89abcdef;
    ep.ctl()->ev_cons = 0x12345678;
    std::vector<uint8_t> to_self = tiny(self_mac, static_cast<uint8_t>(ep.info.endpoint_id), ep.info.session,
                                        self_mac, 0);
    for (int i = 0; i < 4; ++i) send_frame(ep.fd, to_self.data(), to_self.size());
    ep.ctl()->rx_cons = ep.ctl()->rx_prod;
    check(true, "garbage consumer counters survived");
    return failures ? 1 : 0;
}

// Two endpoints of one board, one process: frames between them never leave
// the kernel; the sender fields are the kernel's; a wrong session is dropped
// and counted; neither ring ever shows the other's frames.
int cmd_local() {
    Endpoint a, b, c;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT) || c.open(0, XEN2MX_ANY_ENDPOINT)) {
        check(false, "open three endpoints on board 0");
        return 1;
    }
    check(a.info.endpoint_id != b.info.endpoint_id && b.info.endpoint_id != c.info.endpoint_id,
          "three endpoints, three ids");
    check(a.info.session != b.info.session, "sessions differ");
    const uint8_t* mac = a.info.mac;
    const uint8_t fake_mac[6] = {0x02, 0xde, 0xad, 0xbe, 0xef, 0x01};
    const int dup = [&] {
        Endpoint d;
        return d.open(0, static_cast<int>(a.info.endpoint_id));
    }();
    check(dup == -EADDRINUSE, "an id in use: EADDRINUSE");

    auto f = tiny(mac, static_cast<uint8_t>(b.info.endpoint_id), b.info.session, fake_mac, 200);
    check(send_frame(a.fd, f.data(), f.size()) == 0, "TINY from a to b: sent");
    std::vector<uint8_t> got;
    const bool received = b.receive(&got, 2000);
    check(received && got.size() >= 40 && !std::memcmp(got.data() + 40, f.data() + 40, 8), "b received it intact");
    if (received && got.size() >= 40) {
        check(!std::memcmp(got.data() + 6, mac, 6), "source MAC is the board's, not the forged one");
        check(got[18] == a.info.endpoint_id, "source endpoint is a's, not the forged 200");
    }
    check(!c.receive(&got, 200), "c saw nothing of it");
    check(!a.receive(&got, 100), "a saw nothing of it");

    const uint64_t session_drops = counter(a.fd, XEN2MX_CTR_DROP_SESSION);
    auto wrong = tiny(mac, static_cast<uint8_t>(b.info.endpoint_id), b.info.session ^ 1, mac, 0);
    check(send_frame(a.fd, wrong.data(), wrong.size()) == 0, "TINY with a wrong session: sent");
    check(!b.receive(&got, 300), "b did not get the wrong session's frame");
    check(counter(a.fd, XEN2MX_CTR_DROP_SESSION) == session_drops + 1, "drop_session counted it");

    const uint64_t no_ep = counter(a.fd, XEN2MX_CTR_DROP_NO_ENDPOINT);
    auto nowhere = tiny(mac, 250, 1, mac, 0);
    send_frame(a.fd, nowhere.data(), nowhere.size());
    check(counter(a.fd, XEN2MX_CTR_DROP_NO_ENDPOINT) == no_ep + 1, "frame to a closed endpoint: drop_no_endpoint");

    // A full ring drops and counts, and the ring keeps working.
    const uint64_t full = counter(a.fd, XEN2MX_CTR_DROP_RING_FULL);
    auto to_c = tiny(mac, static_cast<uint8_t>(c.info.endpoint_id), c.info.session, mac, 0);
    for (uint32_t i = 0; i < c.info.rx_slots + 5; ++i) send_frame(a.fd, to_c.data(), to_c.size());
    check(counter(a.fd, XEN2MX_CTR_DROP_RING_FULL) == full + 5, "ring full after rx_slots frames: 5 dropped");
    uint32_t drained = 0;
    while (c.receive(&got, 50)) ++drained;
    check(drained == c.info.rx_slots, "the ring gave back exactly rx_slots frames");
    check(send_frame(a.fd, to_c.data(), to_c.size()) == 0 && c.receive(&got, 1000), "and takes frames again");

    // Sleeping: WAIT returns when a frame comes, and after the timeout when none does.
    xen2mx_wait w{200, 1};
    const auto start = std::chrono::steady_clock::now();
    check(xioctl(b.fd, XEN2MX_IOC_WAIT, &w) == 0 && w.ready == 0, "WAIT with nothing: times out");
    check(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(150), "after about its timeout");
    std::thread sender([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        send_frame(a.fd, f.data(), f.size());
    });
    w = {5000, 0};
    const auto woke = std::chrono::steady_clock::now();
    check(xioctl(b.fd, XEN2MX_IOC_WAIT, &w) == 0 && w.ready == 1, "WAIT wakes when a frame comes");
    check(std::chrono::steady_clock::now() - woke < std::chrono::milliseconds(4000), "well before its timeout");
    sender.join();
    return failures ? 1 : 0;
}

// A frame of `length` bytes at an odd address inside a page-aligned buffer:
// what the kernel pins (from byte 128 on) straddles a page boundary.
struct OddFrame {
    uint8_t* base = nullptr;
    size_t bytes = 0;
    uint8_t* frame = nullptr;
    explicit OddFrame(size_t length) {
        bytes = 4 * 4096;
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        base = static_cast<uint8_t*>(p);
        frame = base + 4096 - 701;  // unaligned; bytes 128.. on two pages
        std::memset(frame, 0, length);
    }
    ~OddFrame() { ::munmap(base, bytes); }
};

int send_zc(int fd, const xen2mx_iovec* iov, uint32_t count, uint64_t cookie) {
    xen2mx_send s{};
    s.iov = reinterpret_cast<uintptr_t>(iov);
    s.iov_count = count;
    s.flags = XEN2MX_SEND_ZEROCOPY;
    s.cookie = cookie;
    return xioctl(fd, XEN2MX_IOC_SEND, &s);
}

// The next completion event within `ms` milliseconds.
bool next_event(Endpoint& ep, xen2mx_event* out, int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    auto* ctl = ep.ctl();
    for (;;) {
        const uint32_t prod = std::atomic_ref<uint32_t>(ctl->ev_prod).load(std::memory_order_acquire);
        const uint32_t cons = ctl->ev_cons;
        if (prod != cons) {
            const auto* ev = reinterpret_cast<const xen2mx_event*>(ep.map + ep.info.ev_offset) +
                             (cons & (ep.info.ev_entries - 1));
            *out = *ev;
            std::atomic_ref<uint32_t>(ctl->ev_cons).store(cons + 1, std::memory_order_release);
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

int cmd_zerocopy() {
    Endpoint a, b;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT)) {
        check(false, "open two endpoints on board 0");
        return 1;
    }
    const uint8_t* mac = a.info.mac;
    const size_t length = a.info.max_frame;
    OddFrame buffer(length);
    auto head = tiny(mac, static_cast<uint8_t>(b.info.endpoint_id), b.info.session, mac, 0, 0);
    std::memcpy(buffer.frame, head.data(), head.size());
    for (size_t i = 40; i < length; ++i) buffer.frame[i] = pattern(i);
    const uint64_t sent_zc = counter(a.fd, XEN2MX_CTR_SENT_ZEROCOPY);

    // Header and payload in two parts, as the provider hands them.
    xen2mx_iovec iov[2] = {{reinterpret_cast<uintptr_t>(buffer.frame), 40},
                           {reinterpret_cast<uintptr_t>(buffer.frame + 40), length - 40}};
    check(send_zc(a.fd, iov, 2, 0x1234) == 0, "zero-copy send of a " + std::to_string(length) + "-byte frame");
    std::vector<uint8_t> got;
    const bool received = b.receive(&got, 2000);
    bool intact = received && got.size() == length;
    for (size_t i = 40; intact && i < length; ++i) intact = got[i] == pattern(i);
    check(intact, "the receiver got it intact (payload at an odd address across pages)");
    xen2mx_event ev{};
    check(next_event(a, &ev, 2000) && ev.type == XEN2MX_EVENT_SEND_DONE && ev.cookie == 0x1234 && ev.status == 0,
          "a SEND_DONE event with the send's cookie");
    check(counter(a.fd, XEN2MX_CTR_SENT_ZEROCOPY) == sent_zc + 1, "sent_zerocopy counted it");
    check(counter_becomes(a.fd, XEN2MX_CTR_PAGES_PINNED, 0, 2000) &&
              counter_becomes(a.fd, XEN2MX_CTR_ZEROCOPY_PENDING, 0, 2000),
          "pages_pinned and zerocopy_pending back to 0");

    // A short frame with the flag is copied, and still completes.
    check(send_zc(a.fd, iov, 1, 77) == 0 && next_event(a, &ev, 2000) && ev.cookie == 77,
          "a 40-byte zero-copy send: copied, completed");
    b.receive(&got, 1000);

    // Malformed requests: errors, no event, nothing left pinned.
    xen2mx_iovec bad[2] = {iov[0], {16, length - 40}};
    check(send_zc(a.fd, bad, 2, 1) == -EFAULT, "zero-copy payload at address 16: EFAULT");
    bad[1] = {0xffff888000000000ull, length - 40};
    check(send_zc(a.fd, bad, 2, 2) == -EFAULT, "zero-copy payload at a kernel address: EFAULT");
    bad[1] = {~uint64_t{0} - 100, length - 40};
    check(send_zc(a.fd, bad, 2, 3) == -EFAULT, "zero-copy payload wrapping past 2^64: EFAULT");
    void* none = ::mmap(nullptr, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bad[1] = {reinterpret_cast<uintptr_t>(none) + 5, length - 40};
    check(send_zc(a.fd, bad, 2, 4) == -EFAULT, "zero-copy payload in a PROT_NONE mapping: EFAULT");
    ::munmap(none, 8192);
    bad[1] = {reinterpret_cast<uintptr_t>(buffer.frame + 40), uint64_t{1} << 40};
    check(send_zc(a.fd, bad, 2, 5) == -EMSGSIZE, "zero-copy payload of 2^40 bytes: EMSGSIZE");
    // 1-byte parts on 20 pages: more fragments than an skb holds.
    std::vector<uint8_t> spread(21 * 4096);
    std::vector<xen2mx_iovec> parts{{reinterpret_cast<uintptr_t>(buffer.frame), 200}};
    for (int i = 0; i < 20; ++i) parts.push_back({reinterpret_cast<uintptr_t>(spread.data() + i * 4096), 1});
    check(send_zc(a.fd, parts.data(), static_cast<uint32_t>(parts.size()), 6) == -E2BIG,
          "zero-copy payload on 20 pages: E2BIG");
    check(!next_event(a, &ev, 300), "no event for any refused send");
    check(counter(a.fd, XEN2MX_CTR_PAGES_PINNED) == 0, "and nothing left pinned");
    check(!b.receive(&got, 100), "and nothing received");
    return failures ? 1 : 0;
}

// Run with the pinned_pages parameter at 1.
int cmd_zclimit() {
    Endpoint a;
    if (a.open(0, XEN2MX_ANY_ENDPOINT)) {
        check(false, "open an endpoint on board 0");
        return 1;
    }
    const size_t length = a.info.max_frame;
    OddFrame buffer(length);
    auto head = tiny(a.info.mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, a.info.mac, 0, 0);
    std::memcpy(buffer.frame, head.data(), head.size());
    xen2mx_iovec iov[2] = {{reinterpret_cast<uintptr_t>(buffer.frame), 40},
                           {reinterpret_cast<uintptr_t>(buffer.frame + 40), length - 40}};
    check(send_zc(a.fd, iov, 2, 1) == -E2BIG, "zero-copy send over 2 pages, limit 1 page: E2BIG");
    check(counter(a.fd, XEN2MX_CTR_PAGES_PINNED) == 0, "nothing left pinned");
    xen2mx_event ev{};
    check(!next_event(a, &ev, 200), "no event");
    return failures ? 1 : 0;
}

// Zero-copy frames to a board that does not exist, as fast as they go.
int cmd_zcflood() {
    Endpoint a;
    if (a.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    const size_t length = a.info.max_frame;
    OddFrame buffer(length);
    const uint8_t nowhere[6] = {0x02, 0, 0, 0, 0, 0x42};
    auto head = tiny(nowhere, 1, 1, a.info.mac, 0, 0);
    std::memcpy(buffer.frame, head.data(), head.size());
    xen2mx_iovec iov[2] = {{reinterpret_cast<uintptr_t>(buffer.frame), 40},
                           {reinterpret_cast<uintptr_t>(buffer.frame + 40), length - 40}};
    std::printf("FLOODING\n");
    std::fflush(stdout);
    for (uint64_t n = 0;; ++n) {
        send_zc(a.fd, iov, 2, n);
        if (n % 64 == 0)  // let completions pile up a little, then take them
            std::atomic_ref<uint32_t>(a.ctl()->ev_cons)
                .store(std::atomic_ref<uint32_t>(a.ctl()->ev_prod).load(std::memory_order_acquire));
    }
}

int cmd_zclisten(int id, int seconds) {
    Endpoint ep;
    if (int ret = ep.open(0, id, XEN2MX_OPEN_ANY_SESSION)) {
        std::printf("FAIL: open endpoint %d: %s\n", id, std::strerror(-ret));
        return 1;
    }
    std::printf("LISTENING %d\n", id);
    std::fflush(stdout);
    std::vector<uint8_t> got;
    if (!ep.receive(&got, seconds * 1000)) {
        std::printf("NOTHING\n");
        return 1;
    }
    bool intact = got.size() == ep.info.max_frame;
    for (size_t i = 40; intact && i < got.size(); ++i) intact = got[i] == pattern(i);
    std::printf("%s %zu bytes from %s\n", intact ? "INTACT" : "CORRUPT", got.size(), mac_string(got.data() + 6).c_str());
    return intact ? 0 : 1;
}

int cmd_zcsend(const char* mac_text, int id) {
    uint8_t dst[6];
    if (!parse_mac(mac_text, dst)) return 2;
    Endpoint ep;
    if (ep.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    const size_t length = ep.info.max_frame;
    OddFrame buffer(length);
    auto head = tiny(dst, static_cast<uint8_t>(id), 0, ep.info.mac, 0, 0);
    std::memcpy(buffer.frame, head.data(), head.size());
    for (size_t i = 40; i < length; ++i) buffer.frame[i] = pattern(i);
    xen2mx_iovec iov[2] = {{reinterpret_cast<uintptr_t>(buffer.frame), 40},
                           {reinterpret_cast<uintptr_t>(buffer.frame + 40), length - 40}};
    int done = 0;
    for (int i = 0; i < 20; ++i) {
        if (send_zc(ep.fd, iov, 2, static_cast<uint64_t>(i)) != 0) return 1;
        xen2mx_event ev{};
        if (next_event(ep, &ev, 2000) && ev.type == XEN2MX_EVENT_SEND_DONE && ev.cookie == uint64_t(i)) ++done;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::printf("SENT %d zero-copy, %d completed\n", 20, done);
    return done == 20 ? 0 : 1;
}

int cmd_hold(int count) {
    std::vector<Endpoint> eps(static_cast<size_t>(count));
    for (auto& ep : eps)
        if (int ret = ep.open(0, XEN2MX_ANY_ENDPOINT)) {
            std::printf("FAIL: open: %s\n", std::strerror(-ret));
            return 1;
        }
    std::printf("HOLDING %d\n", count);
    std::fflush(stdout);
    for (;;) ::pause();
}

int cmd_listen(int id, int seconds) {
    Endpoint ep;
    if (int ret = ep.open(0, id, XEN2MX_OPEN_ANY_SESSION)) {
        std::printf("FAIL: open endpoint %d: %s\n", id, std::strerror(-ret));
        return 1;
    }
    std::printf("LISTENING %d\n", id);
    std::fflush(stdout);
    std::vector<uint8_t> got;
    if (!ep.receive(&got, seconds * 1000) || got.size() < 40) {
        std::printf("NOTHING\n");
        return 1;
    }
    std::printf("FROM %s ep=%u\n", mac_string(got.data() + 6).c_str(), got[18]);
    return 0;
}

int cmd_forge(const char* mac_text, int id) {
    uint8_t dst[6];
    if (!parse_mac(mac_text, dst)) return 2;
    Endpoint ep;
    if (int ret = ep.open(0, XEN2MX_ANY_ENDPOINT)) {
        std::printf("FAIL: open: %s\n", std::strerror(-ret));
        return 1;
    }
    const uint8_t fake_mac[6] = {0x02, 0xde, 0xad, 0xbe, 0xef, 0x01};
    auto f = tiny(dst, static_cast<uint8_t>(id), 0, fake_mac, 201);
    for (int i = 0; i < 20; ++i) {
        send_frame(ep.fd, f.data(), f.size());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::printf("SENT from ep=%u\n", ep.info.endpoint_id);
    return 0;
}

constexpr uint8_t kNackLib = 44, kNackMcp = 45;
constexpr uint8_t kBadEndpoint = 1, kEndpointClosed = 2, kBadSession = 3;
constexpr uint32_t kPullMagicXor = 0x21071980u;

// The next frame at `ep` within `ms`, if it is a NACK_LIB of `type` from
// endpoint `from` of `mac`, for `ep` and sequence number `seq`.
bool nack_lib_arrives(Endpoint& ep, const uint8_t* mac, uint8_t from, uint8_t type, uint16_t seq, int ms = 1000) {
    std::vector<uint8_t> got;
    if (!ep.receive(&got, ms) || got.size() < 32) return false;
    return got[16] == kNackLib && !std::memcmp(got.data() + 6, mac, 6) && got[17] == from && got[19] == type &&
           got[25] == ep.info.endpoint_id && got[28] == (seq >> 8) && got[29] == (seq & 0xff);
}

// Frames for endpoints not open, or with a stale session, are answered by
// the kernel with MX's nacks, counted; answers and nacks never are.
int cmd_nack() {
    Endpoint a, b, e;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT) ||
        e.open(0, XEN2MX_ANY_ENDPOINT, XEN2MX_OPEN_MX_COMPAT)) {
        check(false, "open three endpoints on board 0");
        return 1;
    }
    const uint8_t* mac = a.info.mac;
    const uint8_t closed = static_cast<uint8_t>(b.info.endpoint_id);
    const uint32_t old_session = b.info.session;
    b.close();
    const uint64_t nacks = counter(a.fd, XEN2MX_CTR_NACKS_SENT);
    std::vector<uint8_t> got;

    auto f = tiny(mac, closed, old_session, mac, 0);
    f[24] = 0x12;  // lib_seqnum
    f[25] = 0x34;
    check(send_frame(a.fd, f.data(), f.size()) == 0, "TINY to a closed endpoint: sent");
    check(nack_lib_arrives(a, mac, closed, kEndpointClosed, 0x1234),
          "a NACK_LIB ENDPT_CLOSED came back, with the endpoints and the sequence number");
    check(counter(a.fd, XEN2MX_CTR_NACKS_SENT) == nacks + 1, "nacks_sent counted it");

    // The id open again, by another process as far as the peer knows: a new session.
    Endpoint c;
    if (c.open(0, closed) != 0) {
        check(false, "reopen endpoint " + std::to_string(closed));
        return 1;
    }
    check(send_frame(a.fd, f.data(), f.size()) == 0 && nack_lib_arrives(a, mac, closed, kBadSession, 0x1234),
          "TINY with the old session to the reopened endpoint: NACK_LIB BAD_SESSION");
    check(!c.receive(&got, 200), "and the new endpoint did not get it");
    auto fresh = tiny(mac, closed, c.info.session, mac, 0);
    check(send_frame(a.fd, fresh.data(), fresh.size()) == 0 && c.receive(&got, 1000),
          "with the new session: delivered");
    check(!a.receive(&got, 200), "and not nacked");
    c.close();

    auto raw_ep = tiny(mac, 255, 1, mac, 0);
    check(send_frame(a.fd, raw_ep.data(), raw_ep.size()) == 0 && nack_lib_arrives(a, mac, 255, kBadEndpoint, 0),
          "TINY to endpoint 255 (none can be open there): NACK_LIB BAD_ENDPT");

    auto connect = frame_of(mac, 36, closed);
    connect[24] = 0;
    check(send_frame(a.fd, connect.data(), connect.size()) == 0 && nack_lib_arrives(a, mac, closed, kEndpointClosed, 0),
          "connect request to a closed endpoint: NACK_LIB ENDPT_CLOSED");

    // The PULL's handle and magic come back so that the puller finds its pull.
    auto pull = frame_of(mac, 41, closed);
    pull[40] = 0xab, pull[41] = 0xcd, pull[42] = 0xef, pull[43] = 0x01;  // src_pull_handle
    check(send_frame(a.fd, pull.data(), pull.size()) == 0, "PULL to a closed endpoint: sent");
    bool mcp = a.receive(&got, 1000) && got.size() >= 32;
    check(mcp && got[16] == kNackMcp && got[17] == closed && got[19] == kEndpointClosed &&
              get32(got.data() + 24) == 0xabcdef01 && get32(got.data() + 28) == (a.info.endpoint_id ^ kPullMagicXor),
          "a NACK_MCP ENDPT_CLOSED came back with the pull's handle and magic");
    auto key_pull = frame_of(mac, 50, closed);
    key_pull[48] = 0x12, key_pull[49] = 0x34, key_pull[50] = 0x56, key_pull[51] = 0x78;  // src_pull_handle
    check(send_frame(a.fd, key_pull.data(), key_pull.size()) == 0, "KEY_PULL to a closed endpoint: sent");
    mcp = a.receive(&got, 1000) && got.size() >= 32;
    check(mcp && got[16] == kNackMcp && got[17] == closed && got[19] == kEndpointClosed &&
              get32(got.data() + 24) == 0x12345678 && get32(got.data() + 28) == (a.info.endpoint_id ^ kPullMagicXor),
          "a NACK_MCP ENDPT_CLOSED came back with the KEY_PULL's handle and magic");
    auto pull_mx = frame_of(mac, 41, closed);
    pull_mx[32] = 0x55, pull_mx[33] = 0x66, pull_mx[34] = 0x77, pull_mx[35] = 0x88;  // MX's layout
    check(send_frame(e.fd, pull_mx.data(), pull_mx.size()) == 0, "PULL in MX's layout to a closed endpoint: sent");
    mcp = e.receive(&got, 1000) && got.size() >= 32;
    check(mcp && got[16] == kNackMcp && get32(got.data() + 24) == 0x55667788 &&
              get32(got.data() + 28) == (e.info.endpoint_id ^ kPullMagicXor),
          "its NACK_MCP found the MX-compatible puller, with its handle");

    // Answers are not answered: connect replies, acks, nacks.
    const uint64_t before_answers = counter(a.fd, XEN2MX_CTR_NACKS_SENT);
    auto reply = frame_of(mac, 36, closed);
    reply[42] = 1;
    auto truc = frame_of(mac, 35, closed);
    auto nack = frame_of(mac, kNackLib, closed);
    nack[25] = closed;  // NACK_LIB names its target at 25
    for (auto* frame : {&reply, &truc, &nack}) send_frame(a.fd, frame->data(), frame->size());
    check(!a.receive(&got, 300), "connect reply, ack and nack to a closed endpoint: no nack");
    check(counter(a.fd, XEN2MX_CTR_NACKS_SENT) == before_answers, "nacks_sent did not move");
    check(counter(a.fd, XEN2MX_CTR_NACKS_SENT) == nacks + 7, "seven nacks in all");
    return failures ? 1 : 0;
}

// n frames to a closed endpoint at once; how many nacks came back.
int cmd_nackflood(int n) {
    Endpoint a, b;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    const uint8_t closed = static_cast<uint8_t>(b.info.endpoint_id);
    b.close();
    auto f = tiny(a.info.mac, closed, 1, a.info.mac, 0);
    for (int i = 0; i < n; ++i) send_frame(a.fd, f.data(), f.size());
    int nacked = 0;
    std::vector<uint8_t> got;
    while (a.receive(&got, 300))
        if (got.size() > 16 && got[16] == kNackLib) ++nacked;
    std::printf("NACKED %d of %d\n", nacked, n);
    return 0;
}

// A TINY to endpoint `id` of another host, where none is open: its kernel nacks it.
int cmd_nackremote(const char* mac_text, int id) {
    uint8_t dst[6];
    if (!parse_mac(mac_text, dst)) return 2;
    Endpoint a;
    if (a.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    auto f = tiny(dst, static_cast<uint8_t>(id), 1, a.info.mac, 0);
    f[24] = 0x00;
    f[25] = 0x07;
    const auto start = std::chrono::steady_clock::now();
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (send_frame(a.fd, f.data(), f.size()) != 0) continue;
        if (nack_lib_arrives(a, dst, static_cast<uint8_t>(id), kEndpointClosed, 7, 2000)) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
            std::printf("NACKED by %s in %lld ms\n", mac_text, static_cast<long long>(ms.count()));
            return 0;
        }
    }
    std::printf("NO NACK from %s\n", mac_text);
    return 1;
}

// Two endpoints that exchanged n frames of 64 bytes, kept open for a look.
int cmd_traffic(int n) {
    Endpoint a, b;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    auto f = tiny(a.info.mac, static_cast<uint8_t>(b.info.endpoint_id), b.info.session, a.info.mac, 0, 24);
    std::vector<uint8_t> got;
    int received = 0;
    for (int i = 0; i < n; ++i)
        if (send_frame(a.fd, f.data(), f.size()) == 0 && b.receive(&got, 1000)) ++received;
    std::printf("TRAFFIC a=%u b=%u frames=%d bytes=%zu\n", a.info.endpoint_id, b.info.endpoint_id, received,
                f.size() * static_cast<size_t>(received));
    std::fflush(stdout);
    for (;;) ::pause();
}

int cmd_runas(int uid, char** command) {
    const auto id = static_cast<uid_t>(uid);
    if (::setgroups(0, nullptr) != 0 || ::setgid(id) != 0 || ::setuid(id) != 0) {
        std::printf("FAIL: cannot become uid %d: %s\n", uid, std::strerror(errno));
        return 1;
    }
    ::execvp(command[0], command);
    std::printf("FAIL: cannot run %s: %s\n", command[0], std::strerror(errno));
    return 127;
}

}  // namespace

int main(int argc, char** argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "info") return cmd_info();
    if (cmd == "counters") return cmd_counters(argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : XEN2MX_ALL_BOARDS);
    if (cmd == "counter" && argc > 2) return cmd_counter(argv[2]);
    if (cmd == "endpoints") return cmd_endpoints();
    if ((cmd == "attach" || cmd == "detach") && argc > 2) return cmd_attach(cmd == "attach", argv[2]);
    if (cmd == "abuse") return cmd_abuse();
    if (cmd == "local") return cmd_local();
    if (cmd == "hold" && argc > 2) return cmd_hold(std::atoi(argv[2]));
    if (cmd == "listen" && argc > 3) return cmd_listen(std::atoi(argv[2]), std::atoi(argv[3]));
    if (cmd == "zerocopy") return cmd_zerocopy();
    if (cmd == "zclimit") return cmd_zclimit();
    if (cmd == "zcflood") return cmd_zcflood();
    if (cmd == "zclisten" && argc > 3) return cmd_zclisten(std::atoi(argv[2]), std::atoi(argv[3]));
    if (cmd == "zcsend" && argc > 3) return cmd_zcsend(argv[2], std::atoi(argv[3]));
    if (cmd == "nack") return cmd_nack();
    if (cmd == "nackflood" && argc > 2) return cmd_nackflood(std::atoi(argv[2]));
    if (cmd == "nackremote" && argc > 3) return cmd_nackremote(argv[2], std::atoi(argv[3]));
    if (cmd == "traffic" && argc > 2) return cmd_traffic(std::atoi(argv[2]));
    if (cmd == "regions") return cmd_regions();
    if (cmd == "reglimit") return cmd_reglimit();
    if (cmd == "memlock") return cmd_memlock();
    if (cmd == "regflood") return cmd_regflood();
    if (cmd == "keyed") return cmd_keyed();
    if (cmd == "runas" && argc > 3) return cmd_runas(std::atoi(argv[2]), argv + 3);
    if (cmd == "forge" && argc > 3) return cmd_forge(argv[2], std::atoi(argv[3]));
    if (cmd == "lanerecv" && argc > 4) return cmd_lanerecv(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]));
    if (cmd == "lanesend" && argc > 4) return cmd_lanesend(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
    std::fprintf(stderr, "usage: kmod_tool info|counters [BOARD]|counter NAME|endpoints|attach IF|detach IF|abuse|local|"
                         "hold N|listen EP SECONDS|forge MAC EP|nack|nackflood N|nackremote MAC EP|traffic N|regions|\n"
                         "reglimit|memlock|regflood|keyed|lanesend MAC EP N|lanerecv EP SECONDS N|runas UID CMD...\n");
    return 2;
}
