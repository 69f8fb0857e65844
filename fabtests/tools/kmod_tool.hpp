// What the subcommands of kmod_tool share: PASS/FAIL lines, the raw
// ioctls, an endpoint with its memory mapped, frames built by hand.
#pragma once

#include <fcntl.h>
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

#include "device/ioctls.hpp"
#include "uapi/xen2mx.h"

namespace kmod_tool {

inline int failures = 0;

inline void check(bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what.c_str());
    if (!ok) ++failures;
    std::fflush(stdout);
}

using xen2mx::device::xioctl;

inline int open_device() {
    const int fd = ::open("/dev/" XEN2MX_DEVICE_NAME, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        std::printf("FAIL: open /dev/xen2mx: %s\n", std::strerror(errno));
        std::exit(1);
    }
    return fd;
}

inline std::string mac_string(const uint8_t* mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return text;
}

inline bool parse_mac(const char* text, uint8_t* mac) {
    unsigned v[6];
    if (std::sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
    for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(v[i]);
    return true;
}

inline const char* const kCounterNames[XEN2MX_CTR_MAX] = {
    "sent", "sent_bytes", "sent_zerocopy", "sent_loopback", "received", "received_bytes", "drop_short",
    "drop_ptype", "drop_no_endpoint", "drop_session", "drop_ring_full", "drop_too_long", "drop_not_host",
    "send_refused", "send_failed", "endpoints_open", "endpoints_opened", "pages_pinned", "zerocopy_pending",
    "grants_mapped", "nacks_sent", "nacks_limited", "regions", "region_pages", "pulls_served", "pull_errors",
    "lane_frames", "lanes_out", "lanes_in",
};
static_assert(sizeof kCounterNames / sizeof kCounterNames[0] == XEN2MX_CTR_MAX);

inline uint64_t counter(int fd, int which) {
    xen2mx_counters c{};
    c.board = XEN2MX_ALL_BOARDS;
    if (xioctl(fd, XEN2MX_IOC_COUNTERS, &c) != 0) return ~uint64_t{0};
    return c.values[which];
}

// An endpoint with its memory mapped.
struct Endpoint {
    int fd = -1;
    xen2mx_endpoint_open info{};
    uint8_t* map = nullptr;

    int open(int board, int id, uint32_t flags = 0) {
        fd = open_device();
        info.board = static_cast<uint32_t>(board);
        info.endpoint = id;
        info.flags = flags;
        if (int ret = xioctl(fd, XEN2MX_IOC_ENDPOINT_OPEN, &info)) return ret;
        void* base = ::mmap(nullptr, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) return -errno;
        map = static_cast<uint8_t*>(base);
        return 0;
    }
    ~Endpoint() { close(); }
    void close() {
        if (map) ::munmap(map, info.map_bytes);
        if (fd >= 0) ::close(fd);
        map = nullptr;
        fd = -1;
    }
    xen2mx_ring_ctl* ctl() const { return reinterpret_cast<xen2mx_ring_ctl*>(map); }

    // The next frame, copied out, within `ms` milliseconds.
    bool receive(std::vector<uint8_t>* frame, int ms) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        for (;;) {
            const uint32_t prod = std::atomic_ref<uint32_t>(ctl()->rx_prod).load(std::memory_order_acquire);
            const uint32_t cons = ctl()->rx_cons;
            if (prod != cons) {
                const uint8_t* slot = map + info.rx_offset + size_t{cons & (info.rx_slots - 1)} * info.rx_slot_bytes;
                const auto* head = reinterpret_cast<const xen2mx_rx_slot*>(slot);
                frame->assign(slot + sizeof *head, slot + sizeof *head + head->length);
                std::atomic_ref<uint32_t>(ctl()->rx_cons).store(cons + 1, std::memory_order_release);
                return true;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd, POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(left.count()));
        }
    }
};

inline void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

// A TINY frame of `payload` bytes for endpoint `dst_ep` of `dst_mac`, with
// the sender fields set to what the caller claims.
inline std::vector<uint8_t> tiny(const uint8_t* dst_mac, uint8_t dst_ep, uint32_t session, const uint8_t* claimed_mac,
                          uint8_t claimed_ep, size_t payload = 8) {
    std::vector<uint8_t> f(40 + payload, 0);
    std::memcpy(f.data(), dst_mac, 6);
    std::memcpy(f.data() + 6, claimed_mac, 6);
    f[12] = 0x86;
    f[13] = 0xdf;
    f[16] = 37;  // TINY
    f[17] = dst_ep;
    f[18] = claimed_ep;
    f[20] = 0;
    f[21] = static_cast<uint8_t>(payload);
    put32(f.data() + 36, session);
    for (size_t i = 0; i < payload; ++i) f[40 + i] = static_cast<uint8_t>(0xa0 + i);
    return f;
}

inline int send_frame(int fd, const void* data, size_t length, uint32_t flags = 0) {
    xen2mx_iovec iov{reinterpret_cast<uintptr_t>(data), length};
    xen2mx_send s{};
    s.iov = reinterpret_cast<uintptr_t>(&iov);
    s.iov_count = 1;
    s.flags = flags;
    return xioctl(fd, XEN2MX_IOC_SEND, &s);
}

// A full-size frame's payload byte i.
inline uint8_t pattern(size_t i) { return static_cast<uint8_t>((i * 7 + 3) ^ (i >> 8)); }

// Waits up to `ms` for a global counter to come back to `value`.
inline bool counter_becomes(int fd, int which, uint64_t value, int ms) {
    for (int waited = 0; waited <= ms; waited += 20) {
        if (counter(fd, which) == value) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// A frame of `length` bytes (at least the minimum Ethernet frame) of packet
// type `ptype` for endpoint `dst_ep` of `dst_mac`, zero but for its head.
inline std::vector<uint8_t> frame_of(const uint8_t* dst_mac, uint8_t ptype, uint8_t dst_ep, size_t length = 64) {
    std::vector<uint8_t> f(length, 0);
    std::memcpy(f.data(), dst_mac, 6);
    f[12] = 0x86;
    f[13] = 0xdf;
    f[16] = ptype;
    f[17] = dst_ep;
    return f;
}

inline uint32_t get32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// The memory regions' checks (kmod_regions.cpp).
int cmd_regions();
int cmd_reglimit();
int cmd_memlock();
int cmd_regflood();
// The keyed regions' checks (kmod_keyed.cpp).
int cmd_keyed();
// The lanes of a Xen guest (kmod_lanes_tool.cpp).
int cmd_lanesend(const char* mac_text, int id, int count);
int cmd_lanerecv(int id, int seconds, int expected);

}  // namespace kmod_tool
