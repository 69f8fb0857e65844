#include "link/kmod_link.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sched.h>

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "link/kmod_lanes.hpp"
#include "link/unique_fd.hpp"
#include "uapi/xen2mx.h"

namespace xen2mx::link {

namespace {

uint64_t mac_at(const uint8_t* bytes) {
    uint64_t mac = 0;
    for (int i = 0; i < 6; ++i) mac = (mac << 8) | bytes[i];
    return mac;
}

static_assert(Link::kKeyedSlots == XEN2MX_KEYED_SLOTS, "the link's keyed slots are the kernel's");

// Said once per process: every endpoint meets the same limit.
std::atomic<bool> memlock_warned{false};

int xioctl(int fd, unsigned long request, void* arg) {
    for (;;) {
        if (::ioctl(fd, request, arg) == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

class KmodLink final : public Link {
public:
    KmodLink(UniqueFd fd, Mapping mapping, const xen2mx_endpoint_open& info, const KmodLinkConfig& config)
        : fd_(std::move(fd)), mapping_(std::move(mapping)), info_(info), board_(mac_at(info.mac)),
          ctl_(reinterpret_cast<xen2mx_ring_ctl*>(mapping_.base())),
          lanes_(mapping_.base(), info.map_bytes, info.max_frame), has_lanes_(lanes_.present()),
          kernel_pulls_(config.kernel_pulls), log_(config.log) {}

    std::string_view kind() const override { return "kmod"; }
    uint64_t board() const override { return board_; }
    uint8_t endpoint_id() const override { return static_cast<uint8_t>(info_.endpoint_id); }
    Route local_route() const override { return Route{board_, 0, 0}; }
    size_t max_frame() const override { return info_.max_frame; }
    int wait_fd() const override { return fd_.get(); }

    int send(const Route&, std::span<const iovec> parts) override {
        if (parts.size() > XEN2MX_SEND_IOV_MAX) return -EMSGSIZE;
        xen2mx_iovec iov[XEN2MX_SEND_IOV_MAX];
        size_t length = 0, largest = 0;
        for (size_t i = 0; i < parts.size(); ++i) {
            iov[i].base = reinterpret_cast<uintptr_t>(parts[i].iov_base);
            iov[i].len = parts[i].iov_len;
            length += parts[i].iov_len;
            largest = std::max(largest, parts[i].iov_len);
        }
        if (length > info_.max_frame) return -EMSGSIZE;
        xen2mx_send request{};
        request.iov = reinterpret_cast<uintptr_t>(iov);
        request.iov_count = static_cast<uint32_t>(parts.size());
        if (zerocopy_threshold_ && largest >= zerocopy_threshold_) {
            // The kernel lends the payload's pages to the NIC. The caller
            // may reuse them as soon as this returns, so wait for the
            // kernel to give them back (the NIC is done: microseconds).
            request.flags = XEN2MX_SEND_ZEROCOPY;
            request.cookie = ++zc_cookie_;
            const int ret = xioctl(fd_.get(), XEN2MX_IOC_SEND, &request);
            if (ret == 0) {
                wait_send_done(request.cookie);
                return 0;
            }
            // Over the pinned-page limit or out of event room: copy instead.
            if (ret != -EAGAIN && ret != -E2BIG && ret != -ENOBUFS) return ret;
            request.flags = 0;
        }
        const int ret = xioctl(fd_.get(), XEN2MX_IOC_SEND, &request);
        // A full device queue loses the frame, as a wire would; the engine
        // resends what matters.
        if (ret == -ENOBUFS) return 0;
        return ret;
    }

    int poll(FrameSink& sink, int budget) override {
        int handled = 0;
        auto prod_ref = std::atomic_ref<uint32_t>(ctl_->rx_prod);
        auto cons_ref = std::atomic_ref<uint32_t>(ctl_->rx_cons);
        uint32_t cons = cons_ref.load(std::memory_order_relaxed);
        const uint32_t prod = prod_ref.load(std::memory_order_acquire);
        while (handled < budget && cons != prod) {
            const uint8_t* slot =
                mapping_.base() + info_.rx_offset + size_t{cons & (info_.rx_slots - 1)} * info_.rx_slot_bytes;
            const auto* head = reinterpret_cast<const xen2mx_rx_slot*>(slot);
            const uint32_t length = head->length;
            const uint8_t* frame = slot + sizeof *head;
            // The kernel wrote it, but a length past the slot would read
            // outside it: never trust the shared memory with a bound.
            if (length >= 14 && length <= info_.rx_slot_bytes - sizeof *head) {
                sink.on_frame(std::span<const uint8_t>(frame, length), Route{mac_at(frame + 6), 0, 0});
                ++handled;
            }
            ++cons;
            cons_ref.store(cons, std::memory_order_release);
        }
        // Frames of other guests of this host, written by their kernels.
        if (has_lanes_ && handled < budget) handled += lanes_.poll(sink, budget - handled);
        // Completion events of zero-copy sends that send() stopped waiting for.
        take_events(0);
        if (idle_wait_.count()) idle(handled == 0 && cons == prod);
        return handled;
    }

    int serve_region(const PullRegion& region, std::span<const iovec> data) override {
        // The endpoint was opened for Open-MX's layout, the one the kernel parses.
        if (!kernel_pulls_.load(std::memory_order_relaxed) || region.mx_layout) return -EOPNOTSUPP;
        Segments segs;
        if (int ret = segs.take(data)) return ret;
        xen2mx_region request{};
        request.id = region.region;
        request.flags = XEN2MX_REGION_PULL;
        request.segs = reinterpret_cast<uintptr_t>(segs.entries);
        request.seg_count = segs.count;
        request.reply_max = region.reply_max;
        for (int i = 0; i < 6; ++i) request.peer_mac[i] = static_cast<uint8_t>(region.peer_board >> (40 - 8 * i));
        request.peer_endpoint = region.peer_endpoint;
        request.seq = region.seq;
        request.peer_index = region.peer_index;
        request.replies_per_block = static_cast<uint16_t>(region.replies_per_block);
        return registered(xioctl(fd_.get(), XEN2MX_IOC_REGION_REGISTER, &request), segs.length);
    }

    int serve_keyed(uint32_t slot, uint64_t key, uint64_t base, std::span<const iovec> data) override {
        if (!kernel_pulls_.load(std::memory_order_relaxed) || !keyed_pulls_.load(std::memory_order_relaxed))
            return -EOPNOTSUPP;
        Segments segs;
        if (int ret = segs.take(data)) return ret;
        xen2mx_keyed_region request{};
        request.slot = slot;
        request.seg_count = segs.count;
        request.segs = reinterpret_cast<uintptr_t>(segs.entries);
        request.key = key;
        request.base = base;
        const int ret = xioctl(fd_.get(), XEN2MX_IOC_KEYED_REGISTER, &request);
        if (ret == -ENOTTY) {
            // A module from before keyed regions, or a Xen guest's device.
            keyed_pulls_.store(false, std::memory_order_relaxed);
            return -EOPNOTSUPP;
        }
        return registered(ret, segs.length);
    }

    void withdraw_keyed(uint32_t slot) override {
        xen2mx_region_id request{slot, 0};
        xioctl(fd_.get(), XEN2MX_IOC_KEYED_DEREGISTER, &request);
    }

    void withdraw_region(uint8_t region) override {
        xen2mx_region_id request{region, 0};
        xioctl(fd_.get(), XEN2MX_IOC_REGION_DEREGISTER, &request);
    }

private:
    void report(bool warning, const char* message) const {
        if (log_) log_(warning, message);
    }

    // A region's memory as the kernel takes it.
    struct Segments {
        xen2mx_iovec entries[XEN2MX_REGION_SEGS_MAX];
        uint32_t count = 0;
        size_t length = 0;

        int take(std::span<const iovec> data) {
            if (data.size() > XEN2MX_REGION_SEGS_MAX) return -E2BIG;
            for (const iovec& v : data) {
                entries[count].base = reinterpret_cast<uintptr_t>(v.iov_base);
                entries[count++].len = v.iov_len;
                length += v.iov_len;
            }
            return 0;
        }
    };

    // What a registration's answer means for the ones to come.
    int registered(int ret, size_t length) {
        if (ret == -ENOTTY) {
            // A module from before memory regions, or a Xen guest's device.
            kernel_pulls_.store(false, std::memory_order_relaxed);
            report(false, "the xen2mx module does not answer pulls itself: this process answers them");
            return -EOPNOTSUPP;
        }
        if ((ret == -ENOMEM || ret == -EPERM) && !memlock_warned.exchange(true)) {
            rlimit limit{};
            ::getrlimit(RLIMIT_MEMLOCK, &limit);
            const std::string allowed = limit.rlim_cur == RLIM_INFINITY
                                            ? std::string("unlimited")
                                            : std::to_string(limit.rlim_cur / 1024) + " kB";
            char text[400];
            std::snprintf(text, sizeof text,
                          "cannot pin a %zu-byte buffer for the kernel to answer its pulls (%s): over the "
                          "locked-memory limit (ulimit -l, RLIMIT_MEMLOCK: %s)? Large messages and RMA reads "
                          "of such buffers then wait for this process to progress; raise the limit, or set "
                          "FI_XEN2MX_KMOD_PULLS=0 to stop trying",
                          length, std::strerror(-ret), allowed.c_str());
            report(true, text);
        }
        return ret;
    }

    // Takes every waiting event; true when one carries `cookie`.
    bool take_events(uint64_t cookie) {
        auto prod_ref = std::atomic_ref<uint32_t>(ctl_->ev_prod);
        auto cons_ref = std::atomic_ref<uint32_t>(ctl_->ev_cons);
        uint32_t cons = cons_ref.load(std::memory_order_relaxed);
        const uint32_t prod = prod_ref.load(std::memory_order_acquire);
        bool found = false;
        const auto* events = reinterpret_cast<const xen2mx_event*>(mapping_.base() + info_.ev_offset);
        for (; cons != prod; ++cons) {
            const xen2mx_event& ev = events[cons & (info_.ev_entries - 1)];
            if (ev.type == XEN2MX_EVENT_SEND_DONE && cookie != 0 && ev.cookie == cookie) found = true;
        }
        cons_ref.store(cons, std::memory_order_release);
        return found;
    }

    void wait_send_done(uint64_t cookie) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        for (unsigned spins = 0;; ++spins) {
            if (take_events(cookie)) return;
            if (spins < 64) continue;
            // The kernel keeps the pages alive whatever happens: after a
            // second, give up waiting (the frame may carry later bytes).
            if (std::chrono::steady_clock::now() >= deadline) return;
            ::sched_yield();
        }
    }

    // FI_XEN2MX_KMOD_IDLE_WAIT (microseconds; 0, the default: never):
    // once the ring has stayed empty that long, the next empty poll sleeps
    // in the kernel until a frame comes (1 ms at most), so that a spinning
    // virtual CPU gives its physical one up to the backend that must run
    // for the frame to come at all.
    static std::chrono::microseconds idle_wait_setting() {
        const char* text = std::getenv("FI_XEN2MX_KMOD_IDLE_WAIT");
        if (!text || !*text) return {};
        return std::chrono::microseconds(std::strtoul(text, nullptr, 10));
    }
    // Called after each poll: `empty` when it found nothing; the wait
    // counts from the last poll that found something.
    void idle(bool empty) {
        if (!empty) {
            idle_since_ = {};
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (idle_since_ == std::chrono::steady_clock::time_point{}) {
            idle_since_ = now;
            return;
        }
        if (now - idle_since_ < idle_wait_) return;
        xen2mx_wait wait{1, 0};
        xioctl(fd_.get(), XEN2MX_IOC_WAIT, &wait);
        idle_since_ = {};
    }
    std::chrono::microseconds idle_wait_ = idle_wait_setting();
    std::chrono::steady_clock::time_point idle_since_{};

    size_t zerocopy_threshold_ = zerocopy_threshold();
    uint64_t zc_cookie_ = 0;

    // FI_XEN2MX_KMOD_ZEROCOPY: the part size (bytes) from which frames are
    // sent zero-copy; 0 turns it off. By default only payloads larger than
    // a 1500-byte frame can carry are: lending the pages of one such frame
    // and waiting for them back costs more than copying 1.5 KB (10 to 15 %
    // slower between two guests), so zero-copy pays with jumbo frames only.
    static constexpr size_t kZerocopyDefault = 4096;
    static size_t zerocopy_threshold() {
        const char* text = std::getenv("FI_XEN2MX_KMOD_ZEROCOPY");
        if (!text || !*text) return kZerocopyDefault;
        char* end = nullptr;
        const unsigned long long value = std::strtoull(text, &end, 10);
        return *end ? kZerocopyDefault : static_cast<size_t>(value);
    }

    UniqueFd fd_;
    Mapping mapping_;
    xen2mx_endpoint_open info_;
    uint64_t board_;
    xen2mx_ring_ctl* ctl_;
    KmodLanes lanes_;
    bool has_lanes_;
    // Whether the kernel answers pulls, and KEY_PULLs: learnt from its
    // refusals, which may come on any thread (serve_keyed).
    std::atomic<bool> kernel_pulls_;
    std::atomic<bool> keyed_pulls_{true};
    LinkLog log_;
};

int find_board(int fd, const std::string& iface, uint32_t* index) {
    xen2mx_version version{};
    if (int ret = xioctl(fd, XEN2MX_IOC_VERSION, &version)) return ret;
    if (version.abi != XEN2MX_ABI_VERSION) return -EPROTO;
    for (uint32_t i = 0; i < version.max_boards && i < XEN2MX_MAX_BOARDS; ++i) {
        xen2mx_board_info board{};
        board.index = i;
        if (xioctl(fd, XEN2MX_IOC_BOARD_INFO, &board) != 0) continue;
        board.ifname[sizeof board.ifname - 1] = '\0';
        if (iface.empty() || iface == board.ifname) {
            *index = i;
            return 0;
        }
    }
    return -ENODEV;
}

}  // namespace

bool kmod_device_present(const KmodLinkConfig& config) { return ::access(config.device.c_str(), F_OK) == 0; }

int open_kmod_link(const KmodLinkConfig& config, std::unique_ptr<Link>* link, uint32_t* session) {
    if (config.endpoint_id < -1 || config.endpoint_id >= XEN2MX_MAX_ENDPOINTS) return -EINVAL;
    UniqueFd fd(::open(config.device.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!fd) return -errno;
    xen2mx_endpoint_open info{};
    if (int ret = find_board(fd.get(), config.iface, &info.board)) return ret;
    info.endpoint = config.endpoint_id;
    info.flags = config.any_session ? XEN2MX_OPEN_ANY_SESSION : 0;
    if (int ret = xioctl(fd.get(), XEN2MX_IOC_ENDPOINT_OPEN, &info)) return ret;
    void* base = ::mmap(nullptr, info.map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (base == MAP_FAILED) return -errno;
    Mapping mapping(base, info.map_bytes);
    *session = info.session;
    *link = std::make_unique<KmodLink>(std::move(fd), std::move(mapping), info, config);
    return 0;
}

}  // namespace xen2mx::link
