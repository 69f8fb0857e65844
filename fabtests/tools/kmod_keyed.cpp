// kmod_tool's keyed region checks: registering and deregistering
// (XEN2MX_IOC_KEYED_REGISTER / _DEREGISTER) with bad input and under
// RLIMIT_MEMLOCK, and KEY_PULLs (xen2mx's RMA read, packet type 50)
// answered by the kernel from keyed regions with PULL_REPLYs checked byte
// for byte, while every KEY_PULL it must not answer reaches the owner's
// ring as it was sent, sender fields stamped by the kernel.
#include <sys/resource.h>

#include <thread>

#include "kmod_memory.hpp"

namespace kmod_tool {

namespace {

constexpr uint8_t kKeyPull = 50;
constexpr size_t kKeyPullLen = 64;
// What every crafted KEY_PULL claims to come from; the kernel must overwrite it.
constexpr uint8_t kForgedEndpoint = 200;
constexpr uint32_t kForgedMagic = 0xdeadbeefu;

void put16(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

void put64(uint8_t* p, uint64_t v) {
    put32(p, static_cast<uint32_t>(v >> 32));
    put32(p + 4, static_cast<uint32_t>(v));
}

struct KeyPull {
    uint32_t session = 0;
    uint32_t total = 0;
    uint64_t key = 0;
    uint64_t addr = 0;
    uint32_t handle = 0;
    uint32_t block = 0;
    uint32_t frame_index = 0;
    uint16_t reply_max = 0;
    uint16_t peer_index = 0;
};

// A KEY_PULL to endpoint `dst_ep` of `dst_mac`, `length` bytes long, with
// a forged source MAC, endpoint and magic.
std::vector<uint8_t> key_pull_frame(const uint8_t* dst_mac, uint8_t dst_ep, const KeyPull& k,
                                    size_t length = kKeyPullLen) {
    std::vector<uint8_t> f = frame_of(dst_mac, kKeyPull, dst_ep, length);
    static const uint8_t forged_mac[6] = {0x02, 0xba, 0xd0, 0xba, 0xd0, 0x01};
    std::memcpy(f.data() + 6, forged_mac, 6);
    f[18] = kForgedEndpoint;
    f[19] = 3;  // src_generation: carried as it is
    put32(f.data() + 20, k.session);
    put32(f.data() + 24, k.total);
    put64(f.data() + 28, k.key);
    put64(f.data() + 36, k.addr);
    put32(f.data() + 44, kForgedMagic);
    put32(f.data() + 48, k.handle);
    put32(f.data() + 52, k.block);
    put32(f.data() + 56, k.frame_index);
    put16(f.data() + 60, k.reply_max);
    put16(f.data() + 62, k.peer_index);
    for (size_t i = kKeyPullLen; i < length; ++i) f[i] = static_cast<uint8_t>(0x5a + i);
    return f;
}

// A keyed region over `segs`, named by peers from `base` on. A request
// made of it points into it: it must outlive the request.
struct Keyed {
    uint32_t slot;
    uint64_t key;
    uint64_t base;
    std::vector<xen2mx_iovec> segs;
    size_t salt;  // region byte i is pattern(salt + i)
};

xen2mx_keyed_region request_of(const Keyed& k) {
    xen2mx_keyed_region r{};
    r.slot = k.slot;
    r.seg_count = static_cast<uint32_t>(k.segs.size());
    r.segs = reinterpret_cast<uintptr_t>(k.segs.data());
    r.key = k.key;
    r.base = k.base;
    return r;
}

int register_keyed(int fd, xen2mx_keyed_region* r) { return xioctl(fd, XEN2MX_IOC_KEYED_REGISTER, r); }

int deregister_keyed(int fd, uint32_t slot, uint32_t pad = 0) {
    xen2mx_region_id r{slot, pad};
    return xioctl(fd, XEN2MX_IOC_KEYED_DEREGISTER, &r);
}

// Writes the region's pattern into its segments.
void fill(const Keyed& k) {
    size_t at = k.salt;
    for (const auto& s : k.segs)
        for (uint64_t i = 0; i < s.len; ++i) reinterpret_cast<uint8_t*>(s.base)[i] = pattern(at++);
}

std::string text(int ret) { return ret ? std::strerror(-ret) : "accepted"; }

struct Pair {
    Endpoint& owner;   // holds the keyed regions
    Endpoint& puller;  // sends the KEY_PULLs
    uint8_t owner_ep() const { return static_cast<uint8_t>(owner.info.endpoint_id); }
};

// Sends `k` from the puller; the kernel answers it from `region`: every
// reply of the block, then nothing more, and nothing in the owner's ring.
bool served(Pair& p, const Keyed& region, const KeyPull& k, std::string* why) {
    const std::vector<uint8_t> f = key_pull_frame(p.owner.info.mac, p.owner_ep(), k);
    if (int ret = send_frame(p.puller.fd, f.data(), f.size())) return (*why = "send: " + text(ret)), false;
    const uint32_t start = k.frame_index * uint32_t{k.reply_max};
    ReplyWant first{p.owner.info.mac, k.peer_index, k.handle, static_cast<uint8_t>(k.frame_index), start, 0,
                    region.salt + (k.addr - region.base) + start};
    if (!replies_arrive(p.puller, first, k.block, k.reply_max, why)) return false;
    std::vector<uint8_t> got;
    if (p.puller.receive(&got, 100)) return (*why = "a frame more than the block's replies"), false;
    if (p.owner.receive(&got, 100)) return (*why = "the owner's ring saw it too"), false;
    return true;
}

// The frame `sent` reached the owner's ring as it was sent but for the
// sender fields, which carry the puller's real MAC, endpoint and magic.
bool reaches_owner(Pair& p, const std::vector<uint8_t>& sent, std::string* why) {
    if (sent.size() < kKeyPullLen) return (*why = "not a KEY_PULL"), false;
    std::vector<uint8_t> want = sent, got;
    std::memcpy(want.data() + 6, p.puller.info.mac, 6);
    want[18] = static_cast<uint8_t>(p.puller.info.endpoint_id);
    put32(want.data() + 44, p.puller.info.endpoint_id ^ kMagicXor);
    if (!p.owner.receive(&got, 1000)) return (*why = "not in the owner's ring"), false;
    if (got.size() != want.size())
        return (*why = "reached the ring " + std::to_string(got.size()) + " bytes long"), false;
    for (size_t i = 0; i < want.size(); ++i)
        if (got[i] != want[i]) return (*why = "byte " + std::to_string(i) + " differs in the ring"), false;
    return true;
}

// Sends `k` (`length` bytes) from the puller: the kernel leaves it to the
// owner's process and answers nothing.
bool passed_up(Pair& p, const KeyPull& k, std::string* why, size_t length = kKeyPullLen) {
    const std::vector<uint8_t> f = key_pull_frame(p.owner.info.mac, p.owner_ep(), k, length);
    if (int ret = send_frame(p.puller.fd, f.data(), f.size())) return (*why = "send: " + text(ret)), false;
    if (!reaches_owner(p, f, why)) return false;
    std::vector<uint8_t> got;
    if (p.puller.receive(&got, 200)) return (*why = "the puller got an answer"), false;
    return true;
}

void check_refusals(Endpoint& a, uint8_t* mem) {
    const int fd = a.fd;
    const std::vector<xen2mx_iovec> good{seg(mem, 3 * kPage)};
    const Keyed base{9, 0x9999, 0, good, 0};
    auto refused = [&](int expected, const std::string& what, auto&& change) {
        xen2mx_keyed_region r = request_of(base);
        change(r);
        const int ret = register_keyed(fd, &r);
        check(ret == expected, "keyed register, " + what + ": " + text(ret));
        if (ret == 0) deregister_keyed(fd, r.slot);
    };

    check(register_keyed(fd, reinterpret_cast<xen2mx_keyed_region*>(uintptr_t{16})) == -EFAULT,
          "keyed register from a bad pointer: EFAULT");
    refused(-EINVAL, "slot 256", [](xen2mx_keyed_region& r) { r.slot = XEN2MX_KEYED_SLOTS; });
    refused(-EINVAL, "padding set", [](xen2mx_keyed_region& r) { r.pad = 1; });
    refused(-EINVAL, "no segment", [](xen2mx_keyed_region& r) { r.seg_count = 0; });
    refused(-EINVAL, "33 segments", [](xen2mx_keyed_region& r) { r.seg_count = XEN2MX_REGION_SEGS_MAX + 1; });
    alignas(8) uint8_t shifted[sizeof(xen2mx_iovec) + 8];
    std::memcpy(shifted + 4, good.data(), sizeof(xen2mx_iovec));
    refused(-EINVAL, "a segment array at an unaligned address",
            [&](xen2mx_keyed_region& r) { r.segs = reinterpret_cast<uintptr_t>(shifted + 4); });
    refused(-EFAULT, "a segment array at a bad pointer", [](xen2mx_keyed_region& r) { r.segs = 16; });
    Pages none(2, PROT_NONE);
    const std::vector<xen2mx_iovec> inaccessible{seg(none.base, 2 * kPage)};
    refused(-EFAULT, "PROT_NONE memory",
            [&](xen2mx_keyed_region& r) { r.segs = reinterpret_cast<uintptr_t>(inaccessible.data()); });
    const std::vector<xen2mx_iovec> huge{seg(mem, uint64_t{1} << 40)};
    refused(-E2BIG, "2^40 bytes", [&](xen2mx_keyed_region& r) { r.segs = reinterpret_cast<uintptr_t>(huge.data()); });
    refused(0, "a well-formed request (the baseline of the refusals)", [](xen2mx_keyed_region&) {});

    check(deregister_keyed(fd, XEN2MX_KEYED_SLOTS) == -EINVAL, "keyed deregister, slot 256: EINVAL");
    check(deregister_keyed(fd, 1, 1) == -EINVAL, "keyed deregister, padding set: EINVAL");
    check(deregister_keyed(fd, 77) == -ENOENT, "keyed deregister, a slot not registered: ENOENT");
    check(xioctl(fd, XEN2MX_IOC_KEYED_DEREGISTER, reinterpret_cast<void*>(uintptr_t{16})) == -EFAULT,
          "keyed deregister from a bad pointer: EFAULT");
}

// Over RLIMIT_MEMLOCK, lowered for the check: ENOMEM without CAP_IPC_LOCK.
void check_memlock(Endpoint& a, uint8_t* mem) {
    rlimit old{};
    if (::getrlimit(RLIMIT_MEMLOCK, &old) != 0) {
        check(false, "getrlimit(RLIMIT_MEMLOCK): " + std::string(std::strerror(errno)));
        return;
    }
    const long pinned_kb = vm_pinned_kb();
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(pinned_kb + 16) * 1024;  // room for 4 more pages
    if (pinned_kb < 0 || (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < low.rlim_cur) ||
        ::setrlimit(RLIMIT_MEMLOCK, &low) != 0) {
        check(false, "lower RLIMIT_MEMLOCK to VmPin + 16 kB");
        return;
    }
    const Keyed five{10, 0x1010, 0, {seg(mem, 5 * kPage)}, 0}, four{10, 0x1010, 0, {seg(mem, 4 * kPage)}, 0};
    xen2mx_keyed_region r = request_of(five);
    int ret = register_keyed(a.fd, &r);
    if (::geteuid() == 0) {
        check(ret == 0, "root (CAP_IPC_LOCK), 5 pages past RLIMIT_MEMLOCK: " + text(ret));
    } else {
        check(ret == -ENOMEM, "unprivileged, 5 pages past RLIMIT_MEMLOCK: ENOMEM (" + text(ret) + ")");
        r = request_of(four);
        ret = register_keyed(a.fd, &r);
        check(ret == 0, "4 pages, up to RLIMIT_MEMLOCK: " + text(ret));
    }
    if (ret == 0) deregister_keyed(a.fd, 10);
    ::setrlimit(RLIMIT_MEMLOCK, &old);
    check(vm_pinned_kb() == pinned_kb, "VmPin back to " + std::to_string(pinned_kb) + " kB (" +
                                           std::to_string(vm_pinned_kb()) + ")");
}

// The owner's endpoint as the listing shows it: regions and pages.
bool listed(int fd, const Endpoint& owner, uint32_t regions, uint32_t pages) {
    std::vector<xen2mx_endpoint_entry> entries;
    if (xen2mx::device::list_endpoints(fd, &entries) != 0) return false;
    for (const auto& e : entries)
        if (e.board == owner.info.board && e.endpoint == owner.info.endpoint_id)
            return e.regions == regions && e.region_pages == pages;
    return false;
}

// KEY_PULLs sent while the region they name is deregistered and registered
// again and again: each one is answered in full or reaches the owner.
void check_churn(Pair& p, const Keyed& region) {
    constexpr int kPulls = 200;
    const KeyPull k{p.owner.info.session, 2000, region.key, region.base, 0xc0de0000, 2000, 0, 1000, 0};
    const std::vector<uint8_t> f = key_pull_frame(p.owner.info.mac, p.owner_ep(), k);
    std::atomic<bool> sending{true};
    std::atomic<int> send_errors{0}, register_errors{0}, rounds{0};
    std::thread churn([&] {
        while (sending.load()) {
            xen2mx_keyed_region r = request_of(region);
            if (deregister_keyed(p.owner.fd, region.slot) != 0 || register_keyed(p.owner.fd, &r) != 0)
                ++register_errors;
            ++rounds;
        }
    });
    for (int i = 0; i < kPulls; ++i) {
        if (send_frame(p.puller.fd, f.data(), f.size()) != 0) ++send_errors;
        // One processor in the guests: let the other thread run between sends.
        if (i % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    sending = false;
    churn.join();
    int replies = 0, up = 0;
    bool intact = true;
    std::vector<uint8_t> got;
    while (p.puller.receive(&got, 300)) {
        ++replies;
        if (got.size() < 32 + 1000 || got[16] != kPullReply || get16(got.data() + 18) != 1000) intact = false;
    }
    while (p.owner.receive(&got, 100)) up += got.size() == kKeyPullLen && got[16] == kKeyPull;
    check(send_errors == 0 && register_errors == 0 && intact && replies % 2 == 0 && replies / 2 + up == kPulls,
          "200 KEY_PULLs while the region is deregistered and registered again (" + std::to_string(rounds.load()) +
              " times): " + std::to_string(replies / 2) + " answered in full, " + std::to_string(up) + " passed up" +
              (send_errors || register_errors ? " (send or register errors)" : "") + (intact ? "" : " (bad reply)"));
}

}  // namespace

int cmd_keyed() {
    {
        const int fd = open_device();
        xen2mx_keyed_region r{};
        const int ret = register_keyed(fd, &r);
        if (ret == -ENOTTY && ::access("/sys/module/xen2mx_front", F_OK) == 0) {
            // A guest's device leaves KEY_PULLs to the process.
            check(deregister_keyed(fd, 0) == -ENOTTY, "a Xen guest's device: keyed regions are ENOTTY");
            ::close(fd);
            return failures ? 1 : 0;
        }
        check(ret == -ENOTCONN, "keyed register before an endpoint is open: ENOTCONN (" + text(ret) + ")");
        check(deregister_keyed(fd, 0) == -ENOTCONN, "keyed deregister before an endpoint is open: ENOTCONN");
        ::close(fd);
    }
    Endpoint a, b, mx;
    if (a.open(0, XEN2MX_ANY_ENDPOINT) || b.open(0, XEN2MX_ANY_ENDPOINT) ||
        mx.open(0, XEN2MX_ANY_ENDPOINT, XEN2MX_OPEN_MX_COMPAT)) {
        check(false, "open three endpoints on board 0");
        return 1;
    }
    Pair p{a, b};
    const uint64_t regions0 = counter(a.fd, XEN2MX_CTR_REGIONS), pages0 = counter(a.fd, XEN2MX_CTR_REGION_PAGES);
    Pages mem(16), spare(8);
    if (!mem.base || !spare.base) {
        check(false, "map 24 pages");
        return 1;
    }
    std::memset(spare.base, 1, spare.bytes);

    check_refusals(a, spare.base);
    check(counter(a.fd, XEN2MX_CTR_REGIONS) == regions0 && counter(a.fd, XEN2MX_CTR_REGION_PAGES) == pages0 &&
              vm_pinned_kb() == 0,
          "after the refusals: regions, region_pages and VmPin as before");

    // Named by virtual address, by an offset, and by 0 over three scattered segments.
    uint8_t* k1_at = mem.base + 8 * kPage + 100;
    const Keyed k1{3, 0x1111222233334444ull, reinterpret_cast<uintptr_t>(k1_at), {seg(k1_at, 10000)}, 777};
    const Keyed k2{7, 0xfeedfacecafef00dull, uint64_t{1} << 20, {seg(mem.base + 12 * kPage + 7, 6000)}, 5000};
    const Keyed k3{200, 0x42, 0, odd_segments(mem.base), 0};
    fill(k1);
    fill(k2);
    bool all = true;
    for (const Keyed* k : {&k1, &k2, &k3}) {
        xen2mx_keyed_region r = request_of(*k);
        const int ret = register_keyed(a.fd, &r);
        uint64_t length = 0;
        for (const auto& s : k->segs) length += s.len;
        check(ret == 0 && r.length == length,
              "keyed slot " + std::to_string(k->slot) + " registered: " + text(ret) + ", " + std::to_string(r.length) +
                  " bytes, " + std::to_string(r.pages) + " pages");
        all = all && ret == 0;
    }
    if (!all) return 1;
    check(counter(a.fd, XEN2MX_CTR_REGIONS) == regions0 + 3 && counter(a.fd, XEN2MX_CTR_REGION_PAGES) == pages0 + 10,
          "counters regions +3, region_pages +10 (3 + 2 + 5 pages)");
    check(listed(a.fd, a, 3, 10), "the owner's endpoint lists 3 regions, 10 pages");
    check(vm_pinned_kb() == 40, "charged to the process: VmPin 40 kB (" + std::to_string(vm_pinned_kb()) + ")");
    xen2mx_keyed_region again = request_of(k1);
    check(register_keyed(a.fd, &again) == -EEXIST, "the same slot again: EEXIST");

    const uint64_t served0 = counter(a.fd, XEN2MX_CTR_PULLS_SERVED), errors0 = counter(a.fd, XEN2MX_CTR_PULL_ERRORS);
    const uint32_t session = a.info.session;
    const auto reply_top = static_cast<uint16_t>(a.info.max_frame - 32);
    std::string why;
    int answered = 0;
    auto serve = [&](const Keyed& region, const KeyPull& k, const std::string& what) {
        why.clear();
        const bool ok = served(p, region, k, &why);
        answered += ok;
        check(ok, what + " " + why);
    };
    serve(k1, {session, 5000, k1.key, k1.base + 1234, 0x10000001, 2800, 0, 1400, 0x1234},
          "virtual-address base, bytes 0-2799 of a read at base + 1234: two replies of 1400 to peer index 0x1234");
    serve(k1, {session, 5000, k1.key, k1.base + 1234, 0x10000002, 2200, 2, 1400, 0x1234},
          "the same read, frames 2-3: 1400 bytes and a short last reply of 800");
    serve(k1, {session, 1000, k1.key, k1.base + 9000, 0x10000003, 1000, 0, 1000, 7},
          "a read ending on the region's last byte: answered");
    serve(k2, {session, 6000, k2.key, k2.base, 0x20000001, 6000, 0, reply_top, 0},
          "offset base, 6000 bytes in replies of MTU - 18 (" + std::to_string(reply_top) +
              "): four full and one of 72");
    serve(k2, {session, 5000, k2.key, k2.base + 3, 0x20000002, 40, 254, 10, 0xffff},
          "replies of 10 bytes from frame 254: seqnums 254, 255, 0, 1");
    serve(k3, {session, 9000, k3.key, 500, 0x30000001, 6400, 10, 100, 2},
          "three segments across pages, base 0: 64 replies of 100 (the most), across segment ends");
    serve(k3, {session, 9500, k3.key, 0, 0x30000002, 9500, 0, 1000, 2},
          "the whole of the three segments: ten replies, the last of 500");
    const bool native = ::access("/sys/module/xen2mx_front", F_OK) != 0;
    if (native)
        check(counter(a.fd, XEN2MX_CTR_PULLS_SERVED) == served0 + static_cast<uint64_t>(answered),
              "pulls_served +" + std::to_string(answered));

    // What the kernel must not answer reaches the process as it was sent.
    auto up = [&](const KeyPull& k, const std::string& what, size_t length = kKeyPullLen) {
        why.clear();
        check(passed_up(p, k, &why, length), what + ": in the owner's ring, unchanged, nothing back " + why);
    };
    const KeyPull good{session, 5000, k1.key, k1.base, 0x40000001, 1000, 0, 1000, 0};
    auto with = [&](auto&& change) {
        KeyPull k = good;
        change(k);
        return k;
    };
    up(with([](KeyPull& k) { k.key ^= 1; }), "an unknown key");
    up(with([&](KeyPull& k) { k.addr = k1.base + 9001, k.total = 1000; }), "a read one byte past the region");
    up(with([&](KeyPull& k) { k.key = k2.key, k.addr = k2.base - 1, k.total = 100, k.block = 100; }),
       "a read from one byte before the base");
    up(with([](KeyPull& k) { k.addr = ~uint64_t{0} - 10; }), "a read whose end wraps past 2^64");
    up(with([](KeyPull& k) { k.frame_index = 4, k.block = 1001; }), "a block ending past total_length");
    up(with([](KeyPull& k) { k.reply_max = 10, k.block = 641; }), "a block longer than 64 replies");
    up(with([](KeyPull& k) { k.reply_max = 0; }), "reply_max 0");
    up(with([&](KeyPull& k) { k.reply_max = static_cast<uint16_t>(reply_top + 1); }),
       "reply_max past what a frame holds");
    up(with([](KeyPull& k) { k.block = 0; }), "an empty block");
    up(with([&](KeyPull& k) { k.session = session + 1; }), "another session");
    up(good, "a frame of 65 bytes", 65);
    up(good, "a frame of 200 bytes", 200);
    if (native)
        check(counter(a.fd, XEN2MX_CTR_PULLS_SERVED) == served0 + static_cast<uint64_t>(answered) &&
                  counter(a.fd, XEN2MX_CTR_PULL_ERRORS) == errors0,
              "pulls_served did not move for them, pull_errors neither");

    // The senders' rules.
    std::vector<uint8_t> f = key_pull_frame(a.info.mac, p.owner_ep(), good);
    check(send_frame(b.fd, f.data(), 60) == -EINVAL, "sending a KEY_PULL of 60 bytes: EINVAL");
    check(send_frame(mx.fd, f.data(), f.size()) == -EPROTONOSUPPORT,
          "sending a KEY_PULL from an MX-compatible endpoint: EPROTONOSUPPORT");

    check_memlock(a, spare.base);
    check_churn(p, k3);

    check(deregister_keyed(a.fd, k1.slot) == 0, "deregister slot 3");
    check(deregister_keyed(a.fd, k1.slot) == -ENOENT, "deregister it again: ENOENT");
    why.clear();
    check(passed_up(p, {session, 1000, k1.key, k1.base + 9000, 0x10000003, 1000, 0, 1000, 7}, &why),
          "a KEY_PULL for it once deregistered: in the owner's ring " + why);
    check(vm_pinned_kb() == 28, "VmPin 28 kB: the other two (" + std::to_string(vm_pinned_kb()) + ")");

    // Closing takes them with it.
    a.close();
    check(counter(b.fd, XEN2MX_CTR_REGIONS) == regions0 && counter(b.fd, XEN2MX_CTR_REGION_PAGES) == pages0,
          "endpoint closed with keyed regions: regions and region_pages back to where they were");
    check(vm_pinned_kb() == 0, "and nothing charged to the process (VmPin " + std::to_string(vm_pinned_kb()) + " kB)");
    return failures ? 1 : 0;
}

}  // namespace kmod_tool
