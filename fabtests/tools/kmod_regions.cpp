// kmod_tool's memory region checks: registering and deregistering
// (XEN2MX_IOC_REGION_REGISTER / _DEREGISTER) with every kind of bad input,
// the limits (region_pages, RLIMIT_MEMLOCK), and PULLs answered by the
// kernel from a region while the process that owns it does nothing.
#include <sys/resource.h>

#include <fstream>

#include "kmod_memory.hpp"

namespace kmod_tool {

namespace {

constexpr uint8_t kPull = 41;

// A region request for `segs`, pullable by endpoint `peer_ep` of `peer_mac`.
xen2mx_region region_of(uint32_t id, uint8_t seq, const std::vector<xen2mx_iovec>& segs, const uint8_t* peer_mac,
                        uint8_t peer_ep, uint32_t reply_max = 1000, uint16_t per_block = 4) {
    xen2mx_region r{};
    r.id = id;
    r.flags = XEN2MX_REGION_PULL;
    r.segs = reinterpret_cast<uintptr_t>(segs.data());
    r.seg_count = static_cast<uint32_t>(segs.size());
    r.reply_max = reply_max;
    std::memcpy(r.peer_mac, peer_mac, 6);
    r.peer_endpoint = peer_ep;
    r.seq = seq;
    r.replies_per_block = per_block;
    return r;
}

int register_region(int fd, xen2mx_region* r) { return xioctl(fd, XEN2MX_IOC_REGION_REGISTER, r); }

int deregister_region(int fd, uint32_t id, uint32_t pad = 0) {
    xen2mx_region_id r{id, pad};
    return xioctl(fd, XEN2MX_IOC_REGION_DEREGISTER, &r);
}

struct PullArgs {
    uint32_t total = 0;
    uint32_t id = 0;
    uint8_t seq = 0;
    uint32_t rdma_offset = 0;
    uint32_t handle = 0;
    uint32_t first_frame_offset = 0;
    uint32_t block_length = 0;
    uint32_t frame_index = 0;
};

// A PULL to endpoint `dst_ep` of `dst_mac`, in Open-MX's layout or MX's;
// the kernel writes the sender and the magic.
std::vector<uint8_t> pull_frame(const uint8_t* dst_mac, uint8_t dst_ep, uint32_t session, const PullArgs& a,
                                bool mx = false) {
    std::vector<uint8_t> f = frame_of(dst_mac, kPull, dst_ep, 60);
    put32(f.data() + 20, session);
    put32(f.data() + 24, a.total);
    auto put16 = [](uint8_t* p, uint32_t v) {
        p[0] = static_cast<uint8_t>(v >> 8);
        p[1] = static_cast<uint8_t>(v);
    };
    if (mx) {
        f[28] = static_cast<uint8_t>(a.id);
        f[29] = a.seq;
        put16(f.data() + 30, a.rdma_offset);
        put32(f.data() + 32, a.handle);
        put16(f.data() + 40, a.first_frame_offset);
        put16(f.data() + 42, a.block_length);
        put32(f.data() + 44, a.frame_index);
    } else {
        put32(f.data() + 28, a.id);
        f[32] = a.seq;
        put32(f.data() + 36, a.rdma_offset);
        put32(f.data() + 40, a.handle);
        put32(f.data() + 48, a.first_frame_offset);
        put32(f.data() + 52, a.block_length);
        put32(f.data() + 56, a.frame_index);
    }
    return f;
}

// The PULL_REPLYs of a block of a region whose byte i is pattern(i), from
// `from_mac`: frames from `index` on of the pull `handle`, bytes
// [offset, offset + length) in replies of `reply_max` bytes.
bool replies_arrive(Endpoint& puller, const uint8_t* from_mac, uint32_t handle, uint32_t index, uint32_t offset,
                    uint32_t length, uint32_t reply_max, std::string* why) {
    ReplyWant first{from_mac, 0, handle, static_cast<uint8_t>(index), offset, 0, offset};
    return kmod_tool::replies_arrive(puller, first, length, reply_max, why);
}

// The PULL itself reached the owner's ring (the process answers it).
bool pull_reaches(Endpoint& owner) {
    std::vector<uint8_t> got;
    return owner.receive(&got, 1000) && got.size() >= 60 && got[16] == kPull;
}

void check_refusals(Endpoint& a, uint8_t* mem, const uint8_t* peer_mac, uint8_t peer_ep) {
    const int fd = a.fd;
    const std::vector<xen2mx_iovec> good{seg(mem, 3 * kPage)};
    const xen2mx_region base = region_of(1, 1, good, peer_mac, peer_ep);
    auto refused = [&](int expected, const std::string& what, auto&& change) {
        xen2mx_region r = base;
        change(r);
        const int ret = register_region(fd, &r);
        check(ret == expected, what + ": " + (ret ? std::strerror(-ret) : "accepted"));
        if (ret == 0) deregister_region(fd, r.id);
    };
    auto same = [](xen2mx_region&) {};

    check(register_region(fd, reinterpret_cast<xen2mx_region*>(uintptr_t{16})) == -EFAULT,
          "register from a bad pointer: EFAULT");
    check(xioctl(fd, _IOWR(XEN2MX_IOC_MAGIC, 0x13, uint32_t), &mem) == -ENOTTY, "register with a wrong size: ENOTTY");
    refused(-EINVAL, "region id 256", [](xen2mx_region& r) { r.id = XEN2MX_REGION_IDS; });
    refused(-EINVAL, "no access flag", [](xen2mx_region& r) { r.flags = 0; });
    refused(-EINVAL, "an unknown flag", [](xen2mx_region& r) { r.flags |= 0x100; });
    refused(-EINVAL, "no segment", [](xen2mx_region& r) { r.seg_count = 0; });
    refused(-EINVAL, "33 segments", [](xen2mx_region& r) { r.seg_count = XEN2MX_REGION_SEGS_MAX + 1; });
    alignas(8) uint8_t shifted[sizeof(xen2mx_iovec) + 8];
    std::memcpy(shifted + 4, good.data(), sizeof(xen2mx_iovec));
    refused(-EINVAL, "a segment array at an unaligned address",
            [&](xen2mx_region& r) { r.segs = reinterpret_cast<uintptr_t>(shifted + 4); });
    refused(-EFAULT, "a segment array at a bad pointer", [](xen2mx_region& r) { r.segs = 16; });
    refused(-EINVAL, "reply_max 0", [](xen2mx_region& r) { r.reply_max = 0; });
    refused(-EINVAL, "reply_max past the MTU", [&](xen2mx_region& r) { r.reply_max = a.info.max_frame - 31; });
    refused(-EINVAL, "0 replies a block", [](xen2mx_region& r) { r.replies_per_block = 0; });
    refused(-EINVAL, "65 replies a block", [](xen2mx_region& r) { r.replies_per_block = XEN2MX_REGION_REPLIES_MAX + 1; });
    refused(-EINVAL, "a multicast peer", [](xen2mx_region& r) { r.peer_mac[0] = 0x01; });
    refused(-EINVAL, "a peer of MAC 0", [](xen2mx_region& r) { std::memset(r.peer_mac, 0, 6); });
    refused(-EINVAL, "peer endpoint 255", [](xen2mx_region& r) { r.peer_endpoint = 255; });

    const std::vector<xen2mx_iovec> empty{seg(mem, 0), seg(mem + 100, 0)};
    refused(-EINVAL, "zero bytes", [&](xen2mx_region& r) {
        r.segs = reinterpret_cast<uintptr_t>(empty.data());
        r.seg_count = 2;
    });
    void* gone = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ::munmap(gone, kPage);
    Pages none(2, PROT_NONE);
    const uint8_t* in_kernel = reinterpret_cast<const uint8_t*>(uintptr_t{0xffff888000000000ull});
    const uint8_t* wraps = reinterpret_cast<const uint8_t*>(uintptr_t{0xfffffffffffff000ull});
    // A good first segment, then the bad one: what was pinned must be let go.
    const std::vector<std::pair<std::string, xen2mx_iovec>> bad_memory{
        {"unmapped memory", seg(gone, kPage)},
        {"PROT_NONE memory", seg(none.base, 2 * kPage)},
        {"a kernel address", seg(in_kernel, kPage)},
        {"a range wrapping past 2^64", seg(wraps, 2 * kPage)},
    };
    for (const auto& [what, bad] : bad_memory) {
        const std::vector<xen2mx_iovec> segs{seg(mem, 2 * kPage), bad};
        refused(-EFAULT, what, [&](xen2mx_region& r) {
            r.segs = reinterpret_cast<uintptr_t>(segs.data());
            r.seg_count = 2;
        });
    }
    const std::vector<xen2mx_iovec> huge{seg(mem, uint64_t{1} << 40)};
    refused(-E2BIG, "2^40 bytes", [&](xen2mx_region& r) { r.segs = reinterpret_cast<uintptr_t>(huge.data()); });
    const std::vector<xen2mx_iovec> over_4g{seg(mem, uint64_t{3} << 30), seg(mem, uint64_t{3} << 30)};
    refused(-E2BIG, "two 3 GiB segments (past 4 GiB)", [&](xen2mx_region& r) {
        r.segs = reinterpret_cast<uintptr_t>(over_4g.data());
        r.seg_count = 2;
    });
    // Reserved, never touched: refused on its size before anything is pinned.
    Pages reserved(128 * 1024, PROT_NONE);
    const std::vector<xen2mx_iovec> big{seg(reserved.base, reserved.bytes)};
    refused(-E2BIG, "512 MiB (over the module's region_pages, or in a guest what one request names)",
            [&](xen2mx_region& r) { r.segs = reinterpret_cast<uintptr_t>(big.data()); });
    refused(0, "a well-formed region (the baseline of the refusals)", same);

    check(deregister_region(fd, XEN2MX_REGION_IDS) == -EINVAL, "deregister id 256: EINVAL");
    check(deregister_region(fd, 1, 1) == -EINVAL, "deregister with padding set: EINVAL");
    check(deregister_region(fd, 77) == -ENOENT, "deregister an id not registered: ENOENT");
    check(xioctl(fd, XEN2MX_IOC_REGION_DEREGISTER, reinterpret_cast<void*>(uintptr_t{16})) == -EFAULT,
          "deregister from a bad pointer: EFAULT");
}

}  // namespace

int cmd_regions() {
    {
        const int fd = open_device();
        xen2mx_region r{};
        check(register_region(fd, &r) == -ENOTCONN, "register before an endpoint is open: ENOTCONN");
        check(deregister_region(fd, 0) == -ENOTCONN, "deregister before an endpoint is open: ENOTCONN");
        ::close(fd);
    }
    Endpoint a, b, c, d, e;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT) || c.open(0, XEN2MX_ANY_ENDPOINT) ||
        d.open(0, XEN2MX_ANY_ENDPOINT, XEN2MX_OPEN_MX_COMPAT) || e.open(0, XEN2MX_ANY_ENDPOINT, XEN2MX_OPEN_MX_COMPAT)) {
        check(false, "open five endpoints on board 0");
        return 1;
    }
    const uint8_t* mac = a.info.mac;
    const auto puller = static_cast<uint8_t>(b.info.endpoint_id);
    const uint64_t regions0 = counter(a.fd, XEN2MX_CTR_REGIONS), pages0 = counter(a.fd, XEN2MX_CTR_REGION_PAGES);
    Pages mem(8);
    if (!mem.base) {
        check(false, "map 8 pages");
        return 1;
    }
    std::memset(mem.base, 0, mem.bytes);

    check_refusals(a, mem.base, mac, puller);
    check(counter(a.fd, XEN2MX_CTR_REGIONS) == regions0 && counter(a.fd, XEN2MX_CTR_REGION_PAGES) == pages0,
          "after the refusals: regions and region_pages as before");
    check(vm_pinned_kb() == 0, "after the refusals: nothing pinned (VmPin " + std::to_string(vm_pinned_kb()) + " kB)");

    const std::vector<xen2mx_iovec> segs = odd_segments(mem.base);
    xen2mx_region r = region_of(5, 9, segs, mac, puller);
    const int registered = register_region(a.fd, &r);
    check(registered == 0 && r.length == 9500 && r.pages == 5,
          "a region of 9500 bytes in 3 segments: registered (" + std::string(std::strerror(-registered)) + "), " +
              std::to_string(r.length) + " bytes, " + std::to_string(r.pages) + " pages pinned");
    check(counter(a.fd, XEN2MX_CTR_REGIONS) == regions0 + 1 && counter(a.fd, XEN2MX_CTR_REGION_PAGES) == pages0 + 5,
          "counters regions +1, region_pages +5");
    check(vm_pinned_kb() == 20, "charged to the process: VmPin 20 kB (" + std::to_string(vm_pinned_kb()) + ")");
    xen2mx_region again = r;
    check(register_region(a.fd, &again) == -EEXIST, "the same id again: EEXIST");
    Pages read_only(2, PROT_READ);
    const std::vector<xen2mx_iovec> ro{seg(read_only.base, 2 * kPage)};
    xen2mx_region ro_region = region_of(6, 1, ro, mac, puller);
    check(register_region(a.fd, &ro_region) == 0 && deregister_region(a.fd, 6) == 0,
          "read-only memory: registered (pinned for reading), deregistered");

    // PULLs from b: the kernel answers them, a's process sees nothing.
    const uint64_t served0 = counter(a.fd, XEN2MX_CTR_PULLS_SERVED), errors0 = counter(a.fd, XEN2MX_CTR_PULL_ERRORS);
    std::vector<uint8_t> got;
    std::string why;
    PullArgs p{9500, 5, 9, 0, 0xabc00001, 0, 4000, 2};
    auto pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(b.fd, pull.data(), pull.size()) == 0 &&
              replies_arrive(b, mac, p.handle, 2, 2000, 4000, 1000, &why),
          "PULL of bytes 2000-5999: four PULL_REPLYs from the kernel with the region's bytes " + why);
    check(!a.receive(&got, 200), "the owner's ring saw nothing of it");
    // In a Xen guest Dom0 answers them: its xen2mx.ko counts them, not the guest's device.
    const bool served_here = ::access("/sys/module/xen2mx_front", F_OK) != 0;
    if (!served_here) std::printf("NOTE: a Xen guest's device: Dom0 counts the pulls it serves (pulls_served, pull_errors)\n");
    if (served_here) check(counter(a.fd, XEN2MX_CTR_PULLS_SERVED) == served0 + 1, "pulls_served +1");
    p.handle = 0xabc00002, p.frame_index = 8, p.block_length = 1500;
    pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(b.fd, pull.data(), pull.size()) == 0 &&
              replies_arrive(b, mac, p.handle, 8, 8000, 1500, 1000, &why),
          "PULL of the last 1500 bytes: a full reply and a short one " + why);

    // Asking past the region: dropped and counted, as the engine does.
    p.handle = 0xabc00003, p.total = 10000, p.frame_index = 9, p.block_length = 1000;
    pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(b.fd, pull.data(), pull.size()) == 0 && !b.receive(&got, 300) && !a.receive(&got, 100),
          "PULL of bytes 9000-9999 of a 9500-byte region: no reply, not passed up");
    p.total = 9500, p.frame_index = 0, p.first_frame_offset = 1000;
    pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(b.fd, pull.data(), pull.size()) == 0 && !b.receive(&got, 300),
          "PULL starting a whole reply into its first frame: no reply");
    if (served_here) check(counter(a.fd, XEN2MX_CTR_PULL_ERRORS) == errors0 + 2, "pull_errors +2");
    p.first_frame_offset = 0;

    // What the kernel does not hold goes up to the process.
    p.seq = 10;
    pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(b.fd, pull.data(), pull.size()) == 0 && pull_reaches(a) && !b.receive(&got, 100),
          "PULL naming another generation of the region: passed up to the owner");
    p.seq = 9;
    pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(c.fd, pull.data(), pull.size()) == 0 && pull_reaches(a) && !c.receive(&got, 100),
          "PULL from an endpoint the region is not for: passed up");
    p.id = 7;
    pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(b.fd, pull.data(), pull.size()) == 0 && pull_reaches(a),
          "PULL of a region not registered: passed up");
    p.id = 5;
    if (served_here)
        check(counter(a.fd, XEN2MX_CTR_PULLS_SERVED) == served0 + 2, "pulls_served counted only the two served");

    // MX's layout, between two endpoints opened for it.
    xen2mx_region mx_region = region_of(1, 2, segs, mac, static_cast<uint8_t>(d.info.endpoint_id), 1000, 8);
    PullArgs q{9500, 1, 2, 0, 0x5500aa01, 0, 2000, 1};
    pull = pull_frame(mac, static_cast<uint8_t>(e.info.endpoint_id), e.info.session, q, true);
    check(register_region(e.fd, &mx_region) == 0 && send_frame(d.fd, pull.data(), pull.size()) == 0 &&
              replies_arrive(d, mac, q.handle, 1, 1000, 2000, 1000, &why),
          "MX's PULL layout: answered from the region " + why);

    check(deregister_region(a.fd, 5) == 0, "deregister the region");
    check(deregister_region(a.fd, 5) == -ENOENT, "deregister it again: ENOENT");
    pull = pull_frame(mac, static_cast<uint8_t>(a.info.endpoint_id), a.info.session, p);
    check(send_frame(b.fd, pull.data(), pull.size()) == 0 && pull_reaches(a) && !b.receive(&got, 100),
          "a PULL for it once deregistered: passed up");
    check(vm_pinned_kb() == 20, "VmPin 20 kB: e's region only (" + std::to_string(vm_pinned_kb()) + ")");

    // Closing takes the regions with it.
    xen2mx_region r1 = region_of(5, 1, segs, mac, puller), r2 = region_of(200, 1, ro, mac, puller);
    check(register_region(a.fd, &r1) == 0 && register_region(a.fd, &r2) == 0, "two regions registered again");
    a.close();
    e.close();
    check(counter(b.fd, XEN2MX_CTR_REGIONS) == regions0 && counter(b.fd, XEN2MX_CTR_REGION_PAGES) == pages0,
          "endpoints closed with regions: regions and region_pages back to where they were");
    check(vm_pinned_kb() == 0, "and nothing charged to the process (VmPin " + std::to_string(vm_pinned_kb()) + " kB)");
    return failures ? 1 : 0;
}

// With the module's region_pages set low (at most 64): a region over it is
// E2BIG, regions adding up over it ENOSPC.
int cmd_reglimit() {
    std::ifstream param("/sys/module/xen2mx/parameters/region_pages");
    unsigned limit = 0;
    if (!(param >> limit) || limit < 2 || limit > 64) {
        check(false, "region_pages must be 2..64 for this check, not " + std::to_string(limit));
        return 1;
    }
    Endpoint a, b;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    Pages mem(2 * limit + 2);
    std::memset(mem.base, 1, mem.bytes);
    const auto peer = static_cast<uint8_t>(b.info.endpoint_id);
    const std::vector<xen2mx_iovec> over{seg(mem.base, (limit + 1) * kPage)};
    const std::vector<xen2mx_iovec> half{seg(mem.base, (limit / 2 + 1) * kPage)};
    xen2mx_region r = region_of(1, 1, over, a.info.mac, peer);
    check(register_region(a.fd, &r) == -E2BIG, "a region of region_pages + 1 pages: E2BIG");
    r = region_of(1, 1, half, a.info.mac, peer);
    check(register_region(a.fd, &r) == 0, "one of half of them and one more: registered");
    r = region_of(2, 1, half, a.info.mac, peer);
    check(register_region(a.fd, &r) == -ENOSPC, "a second one: ENOSPC");
    check(deregister_region(a.fd, 1) == 0 && register_region(a.fd, &r) == 0,
          "once the first is deregistered: registered");
    return failures ? 1 : 0;
}

// Under the RLIMIT_MEMLOCK it was started with (ulimit -l): over it a
// process without CAP_IPC_LOCK gets ENOMEM, root does not.
int cmd_memlock() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur < 4 * kPage) {
        check(false, "RLIMIT_MEMLOCK must be set (ulimit -l) to 16 kB or more");
        return 1;
    }
    const size_t bytes = limit.rlim_cur;
    const bool privileged = ::geteuid() == 0;
    Endpoint a, b;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    Pages mem(bytes / kPage + 32);
    std::memset(mem.base, 1, mem.bytes);
    const auto peer = static_cast<uint8_t>(b.info.endpoint_id);
    const std::string limit_text = std::to_string(bytes / 1024) + " kB";

    const std::vector<xen2mx_iovec> over{seg(mem.base, bytes + 16 * kPage)};
    xen2mx_region r = region_of(1, 1, over, a.info.mac, peer);
    const int ret = register_region(a.fd, &r);
    if (privileged) {
        check(ret == 0, "root (CAP_IPC_LOCK), a region over RLIMIT_MEMLOCK " + limit_text + ": registered");
        check(vm_pinned_kb() == static_cast<long>((bytes + 16 * kPage) / 1024), "and charged: VmPin " +
                                                                                     std::to_string(vm_pinned_kb()) + " kB");
        deregister_region(a.fd, 1);
    } else {
        check(ret == -ENOMEM, "unprivileged, a region over RLIMIT_MEMLOCK " + limit_text + ": ENOMEM (" +
                                  (ret ? std::strerror(-ret) : "registered") + ")");
        const size_t half = (bytes / kPage / 2) * kPage;
        const std::vector<xen2mx_iovec> first{seg(mem.base, half)}, second{seg(mem.base, half + 2 * kPage)};
        r = region_of(1, 1, first, a.info.mac, peer);
        check(register_region(a.fd, &r) == 0, "half of the limit: registered");
        check(vm_pinned_kb() == static_cast<long>(half / 1024), "VmPin " + std::to_string(vm_pinned_kb()) + " kB");
        r = region_of(2, 1, second, a.info.mac, peer);
        check(register_region(a.fd, &r) == -ENOMEM, "a second region taking it over the limit: ENOMEM");
        check(deregister_region(a.fd, 1) == 0 && register_region(a.fd, &r) == 0,
              "once the first is deregistered: registered");
        deregister_region(a.fd, 2);
    }
    check(vm_pinned_kb() == 0, "all deregistered: VmPin 0 kB (" + std::to_string(vm_pinned_kb()) + ")");
    return failures ? 1 : 0;
}

// Holds three regions and registers and deregisters a fourth, larger one,
// forever: for a kill -9 that lands in the middle of pinning.
int cmd_regflood() {
    Endpoint a, b;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT)) return 1;
    Pages mem(1024 + 3 * 64);
    std::memset(mem.base, 1, mem.bytes);
    const auto peer = static_cast<uint8_t>(b.info.endpoint_id);
    std::vector<std::vector<xen2mx_iovec>> held;
    for (uint32_t id = 0; id < 3; ++id) {
        held.push_back({seg(mem.base + id * 64 * kPage, 64 * kPage)});
        xen2mx_region r = region_of(id, 1, held.back(), a.info.mac, peer);
        if (int ret = register_region(a.fd, &r)) {
            std::printf("FAIL: register region %u: %s\n", id, std::strerror(-ret));
            return 1;
        }
    }
    std::printf("HOLDING 3 regions, 192 pages\n");
    std::fflush(stdout);
    const std::vector<xen2mx_iovec> churn{seg(mem.base + 3 * 64 * kPage, 1024 * kPage)};
    for (uint8_t seq = 0;; ++seq) {
        xen2mx_region r = region_of(3, seq, churn, a.info.mac, peer);
        register_region(a.fd, &r);
        deregister_region(a.fd, 3);
    }
}

}  // namespace kmod_tool
