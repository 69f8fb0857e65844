#include "link/shm_link.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "link/shm_ring.hpp"
#include "link/unique_fd.hpp"

namespace xen2mx::link {

namespace {

constexpr uint32_t kMagic = 0x58324d53;  // "X2MS"
constexpr uint32_t kVersion = 1;
constexpr size_t kPage = 4096;
// Large-message regions a side can describe at once (MX's 8-bit region ids),
// and the pieces one may have (16 iovecs and the CQ data prefix).
constexpr size_t kRegionSlots = 256;
constexpr size_t kRegionIov = 18;
// Frames queued in the process, beyond what a peer's ring holds, before new
// messages for that peer are held back.
constexpr size_t kBacklogLimit = size_t{8} << 20;
// Polls between two looks at the sockets (connections, hangups, wakeups).
constexpr unsigned kControlEvery = 64;
constexpr size_t kMinRing = size_t{64} << 10, kMaxRing = size_t{64} << 20;

// What a side publishes of a large send: the memory the peer may read.
struct RegionSlot {
    std::atomic<uint32_t> version;  // odd while the owner rewrites the slot
    uint8_t seq;
    uint8_t count;
    uint16_t unused;
    uint64_t length;
    struct {
        uint64_t base;
        uint64_t length;
    } iov[kRegionIov];
};

struct ChannelHeader {
    uint32_t magic;
    uint32_t version;
    uint64_t ring_bytes;
    uint64_t max_frame;
};

// The connecting side's first message, with the memfd attached.
struct Hello {
    uint32_t magic;
    uint32_t version;
    uint64_t board;
    uint32_t endpoint;
    uint32_t unused;
    uint64_t ring_bytes;
    uint64_t max_frame;
};

// Where things are in a channel's shared memory. Direction 0 is from the
// connecting side to the accepting one, direction 1 back.
struct Layout {
    static constexpr size_t kControls = 256;
    static constexpr size_t kRegions = kPage;
    static constexpr size_t kRegionTable = sizeof(RegionSlot) * kRegionSlots;
    size_t ring_bytes;

    size_t data(int direction) const {
        const size_t first = (kRegions + 2 * kRegionTable + kPage - 1) & ~(kPage - 1);
        return first + static_cast<size_t>(direction) * ring_bytes;
    }
    size_t total() const { return data(2); }
    static size_t control(int direction) { return kControls + static_cast<size_t>(direction) * sizeof(shm::RingControl); }
    static size_t regions(int direction) { return kRegions + static_cast<size_t>(direction) * kRegionTable; }
};
static_assert(Layout::kControls + 2 * sizeof(shm::RingControl) <= Layout::kRegions);

uint64_t peer_key(uint64_t board, uint8_t endpoint) { return (board << 8) | endpoint; }

std::string peer_text(uint64_t board, unsigned endpoint) {
    char text[48];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x endpoint %u", unsigned(board >> 40) & 0xff,
                  unsigned(board >> 32) & 0xff, unsigned(board >> 24) & 0xff, unsigned(board >> 16) & 0xff,
                  unsigned(board >> 8) & 0xff, unsigned(board) & 0xff, endpoint);
    return text;
}

// The abstract name an endpoint listens under. Abstract names live in the
// network namespace: endpoints of another namespace are not local. The udp
// port, when the endpoint has one, keeps jobs that share a board (the
// loopback's) but not a udp port base apart.
socklen_t listen_name(uint64_t board, unsigned endpoint, uint16_t port, sockaddr_un* name) {
    *name = sockaddr_un{};
    name->sun_family = AF_UNIX;
    char* path = name->sun_path + 1;
    const size_t room = sizeof name->sun_path - 1;
    const auto b = static_cast<unsigned long long>(board);
    const int length = port ? std::snprintf(path, room, "xen2mx/shm/%012llx/%u/%u", b, endpoint, unsigned{port})
                            : std::snprintf(path, room, "xen2mx/shm/%012llx/%u", b, endpoint);
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + static_cast<size_t>(length));
}

bool same_user(int fd, ucred* cred) {
    socklen_t length = sizeof *cred;
    return ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &length) == 0 && cred->uid == ::geteuid();
}

// Cuts [offset, offset + length) out of a gather list.
size_t slice(std::span<const iovec> from, uint64_t offset, uint64_t length, iovec* out, size_t room) {
    size_t count = 0;
    for (const iovec& v : from) {
        if (length == 0 || count == room) break;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        const size_t take = static_cast<size_t>(std::min<uint64_t>(v.iov_len - offset, length));
        out[count++] = iovec{static_cast<uint8_t*>(v.iov_base) + offset, take};
        length -= take;
        offset = 0;
    }
    return count;
}

struct Channel {
    uint32_t number = 0;
    UniqueFd socket;
    Mapping mapping;
    shm::RingWriter out;
    shm::RingReader in;
    RegionSlot* own_regions = nullptr;
    const RegionSlot* peer_regions = nullptr;
    pid_t peer_pid = 0;
    uint64_t board = 0;
    uint8_t endpoint = 0;
    bool open = true;
    bool hangup = false;
    std::deque<std::vector<uint8_t>> backlog;
    size_t backlog_bytes = 0;

    Route route() const { return Route{board, 0, 0, number}; }
};

class ShmLink final : public Link {
public:
    ShmLink(const ShmLinkConfig& config, uint8_t endpoint, UniqueFd listener, UniqueFd epoll)
        : config_(config), endpoint_(endpoint), listener_(std::move(listener)), epoll_(std::move(epoll)) {}

    std::string_view kind() const override { return "shm"; }
    uint64_t board() const override { return config_.board; }
    uint8_t endpoint_id() const override { return endpoint_; }
    Route local_route() const override { return Route{config_.board, 0, 0, 0}; }
    size_t max_frame() const override { return config_.max_frame; }
    int wait_fd() const override { return epoll_.get(); }

    int send(const Route& to, std::span<const iovec> parts) override {
        Channel* channel = find(to.channel);
        if (!channel) return -EPIPE;
        size_t length = 0;
        for (const iovec& part : parts) length += part.iov_len;
        if (length > config_.max_frame) return -EMSGSIZE;
        if (channel->backlog.empty() && channel->out.write(parts, length)) {
            wake(*channel);
            return 0;
        }
        // The peer's ring is full: the frame waits here, in order, since a
        // lossless route has no resends to make up for a dropped one.
        std::vector<uint8_t> copy(length);
        size_t at = 0;
        for (const iovec& part : parts) {
            if (part.iov_len) std::memcpy(copy.data() + at, part.iov_base, part.iov_len);
            at += part.iov_len;
        }
        channel->backlog_bytes += length;
        channel->backlog.push_back(std::move(copy));
        return 0;
    }

    int poll(FrameSink& sink, int budget) override {
        if (armed_) disarm();
        if (++polls_ % kControlEvery == 0) service_sockets();
        int handled = 0;
        const size_t count = channels_.size();
        for (size_t i = 0; i < count && handled < budget; ++i) {
            Channel& channel = *channels_[(next_ + i) % count];
            if (!channel.open) continue;
            if (!channel.backlog.empty()) flush(channel);
            while (handled < budget && channel.in.read([&](std::span<const uint8_t> frame) {
                sink.on_frame(frame, channel.route());
            }))
                ++handled;
            if (channel.in.broken()) mark_hangup(channel);
        }
        if (count) next_ = (next_ + 1) % count;
        if (hangup_seen_) end_hung_up(sink);
        return handled;
    }

    int poll_all(FrameSink& sink, int budget) override {
        service_sockets();
        return poll(sink, budget);
    }

    bool arm_wakeup() override {
        service_sockets();
        armed_ = true;
        for (auto& channel : channels_) {
            if (!channel->open) continue;
            if (channel->hangup || !channel->backlog.empty() || !channel->in.arm()) {
                disarm();
                return false;
            }
        }
        return true;
    }

    Route route_to(const Address& peer) override {
        auto known = peers_.find(peer_key(peer.board, peer.endpoint));
        if (known != peers_.end()) {
            Channel* channel = find(known->second);
            if (channel && !channel->hangup) return channel->route();
            peers_.erase(known);
        }
        if (Channel* channel = connect_to(peer)) return channel->route();
        return network_route(peer);
    }

    bool backlogged(const Route& route) const override {
        const Channel* channel = find(route.channel);
        return channel && channel->backlog_bytes > kBacklogLimit;
    }

    int expose_region(const Route& to, uint8_t region, uint8_t seq, std::span<const iovec> iov) override {
        Channel* channel = find(to.channel);
        if (!channel) return -EPIPE;
        if (iov.size() > kRegionIov) return -E2BIG;
        RegionSlot& slot = channel->own_regions[region];
        const uint32_t version = slot.version.load(std::memory_order_relaxed);
        slot.version.store(version | 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        uint64_t length = 0;
        for (size_t i = 0; i < iov.size(); ++i) {
            slot.iov[i].base = reinterpret_cast<uintptr_t>(iov[i].iov_base);
            slot.iov[i].length = iov[i].iov_len;
            length += iov[i].iov_len;
        }
        slot.seq = seq;
        slot.count = static_cast<uint8_t>(iov.size());
        slot.length = length;
        slot.version.store((version | 1) + 1, std::memory_order_release);
        return 0;
    }

    int read_region(const Route& from, uint8_t region, uint8_t seq, uint64_t offset,
                    std::span<const iovec> into) override {
        Channel* channel = find(from.channel);
        if (!channel) return -ESRCH;
        if (!direct_reads_) return -EPERM;
        // The peer may rewrite the slot at any time: a copy taken between
        // two equal even versions is consistent, anything else is stale.
        const RegionSlot& shared = channel->peer_regions[region];
        const uint32_t before = shared.version.load(std::memory_order_acquire);
        std::array<iovec, kRegionIov> remote{};
        const uint8_t slot_seq = shared.seq;
        const size_t count = std::min<size_t>(shared.count, kRegionIov);
        uint64_t length = 0;
        for (size_t i = 0; i < count; ++i) {
            remote[i] = iovec{reinterpret_cast<void*>(static_cast<uintptr_t>(shared.iov[i].base)),
                              static_cast<size_t>(shared.iov[i].length)};
            length += remote[i].iov_len;
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        if ((before & 1) || shared.version.load(std::memory_order_relaxed) != before || slot_seq != seq)
            return -ESTALE;
        uint64_t wanted = 0;
        for (const iovec& v : into) wanted += v.iov_len;
        if (offset > length || wanted > length - offset) return -ESTALE;
        return copy_from_peer(*channel, {remote.data(), count}, offset, into, wanted);
    }


private:
    Channel* find(uint32_t number) {
        if (number == 0 || number > channels_.size()) return nullptr;
        Channel* channel = channels_[number - 1].get();
        return channel->open ? channel : nullptr;
    }
    const Channel* find(uint32_t number) const { return const_cast<ShmLink*>(this)->find(number); }

    void log(bool warning, const std::string& text) {
        if (config_.log) config_.log(warning, text.c_str());
    }

    void wake(Channel& channel) {
        if (!channel.out.consumer_sleeping()) return;
        const char bell = 0;
        // A full socket buffer means wakeups are pending already.
        (void)::send(channel.socket.get(), &bell, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    }

    void flush(Channel& channel) {
        bool wrote = false;
        while (!channel.backlog.empty()) {
            std::vector<uint8_t>& frame = channel.backlog.front();
            const iovec part{frame.data(), frame.size()};
            if (!channel.out.write({&part, 1}, frame.size())) break;
            channel.backlog_bytes -= frame.size();
            channel.backlog.pop_front();
            wrote = true;
        }
        if (wrote) wake(channel);
    }

    // A connection to the peer's listener: under its name with its udp port,
    // or, for an endpoint of the shm link alone (no port of its own), without.
    static UniqueFd reach(const Address& peer) {
        for (const uint16_t port : {peer.udp_port, uint16_t{0}}) {
            sockaddr_un name;
            const socklen_t size = listen_name(peer.board, peer.endpoint, port, &name);
            UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            if (!fd) return fd;
            if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&name), size) == 0) return fd;
            if (port == 0) break;
        }
        return UniqueFd();
    }

    void disarm() {
        armed_ = false;
        for (auto& channel : channels_)
            if (channel->open) channel->in.disarm();
    }

    // Connections, wakeups and hangups: what the sockets have to say.
    void service_sockets() {
        std::array<epoll_event, 32> events;
        const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 0);
        for (int i = 0; i < n; ++i) {
            const uint32_t number = events[i].data.u32;
            if (number == 0) {
                while (accept_peer()) {
                }
                continue;
            }
            Channel* channel = find(number);
            if (!channel) continue;
            char bells[64];
            for (;;) {
                const ssize_t got = ::recv(channel->socket.get(), bells, sizeof bells, MSG_DONTWAIT);
                if (got > 0) continue;
                if (got == 0 || (errno != EAGAIN && errno != EINTR)) mark_hangup(*channel);
                if (got < 0 && errno == EINTR) continue;
                break;
            }
            if (events[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) mark_hangup(*channel);
        }
    }

    void mark_hangup(Channel& channel) {
        channel.hangup = true;
        hangup_seen_ = true;
    }

    // The peers that hung up: what they sent before goes up first, then the
    // news that the route is gone.
    // The sink may open channels meanwhile (a reply needs a route): they are
    // new, not hung up, and only indexes stay valid across that.
    void end_hung_up(FrameSink& sink) {
        const size_t count = channels_.size();
        for (size_t i = 0; i < count; ++i) {
            Channel& channel = *channels_[i];
            if (!channel.open || !channel.hangup) continue;
            while (channel.in.read([&](std::span<const uint8_t> frame) { sink.on_frame(frame, channel.route()); })) {
            }
            const Route route = channel.route();
            close_channel(channel);
            sink.on_route_lost(route);
        }
        hangup_seen_ = false;
    }

    void close_channel(Channel& channel) {
        channel.open = false;
        --open_channels_;
        auto known = peers_.find(peer_key(channel.board, channel.endpoint));
        if (known != peers_.end() && known->second == channel.number) peers_.erase(known);
        channel.socket.reset();
        channel.mapping.reset();
        channel.backlog.clear();
        channel.backlog_bytes = 0;
    }

    Channel& add_channel(UniqueFd socket, Mapping mapping, int out_direction, const Layout& layout,
                         size_t peer_max_frame) {
        auto channel = std::make_unique<Channel>();
        channel->number = static_cast<uint32_t>(channels_.size() + 1);
        uint8_t* base = mapping.base();
        const int in_direction = 1 - out_direction;
        channel->out = shm::RingWriter(reinterpret_cast<shm::RingControl*>(base + Layout::control(out_direction)),
                                       base + layout.data(out_direction), layout.ring_bytes);
        channel->in = shm::RingReader(reinterpret_cast<shm::RingControl*>(base + Layout::control(in_direction)),
                                      base + layout.data(in_direction), layout.ring_bytes, peer_max_frame);
        channel->own_regions = reinterpret_cast<RegionSlot*>(base + Layout::regions(out_direction));
        channel->peer_regions = reinterpret_cast<const RegionSlot*>(base + Layout::regions(in_direction));
        channel->socket = std::move(socket);
        channel->mapping = std::move(mapping);
        epoll_event event{};
        event.events = EPOLLIN | EPOLLRDHUP;
        event.data.u32 = channel->number;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, channel->socket.get(), &event);
        channels_.push_back(std::move(channel));
        ++open_channels_;
        return *channels_.back();
    }

    Channel* connect_to(const Address& peer) {
        UniqueFd fd = reach(peer);
        if (!fd) return nullptr;  // not an endpoint of this host (or it is closing)
        ucred cred{};
        if (!same_user(fd.get(), &cred)) {
            log(true, "peer " + peer_text(peer.board, peer.endpoint) + " runs under user id " +
                          std::to_string(cred.uid) + ": not reached over shared memory");
            return nullptr;
        }
        const Layout layout{config_.ring_bytes};
        UniqueFd memory(::memfd_create("xen2mx-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!memory || ::ftruncate(memory.get(), static_cast<off_t>(layout.total())) != 0 ||
            ::fcntl(memory.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
            log(true, std::string("cannot create shared memory for a local peer: ") + strerror(errno));
            return nullptr;
        }
        void* base = ::mmap(nullptr, layout.total(), PROT_READ | PROT_WRITE, MAP_SHARED, memory.get(), 0);
        if (base == MAP_FAILED) {
            log(true, std::string("cannot map shared memory for a local peer: ") + strerror(errno));
            return nullptr;
        }
        Mapping mapping(base, layout.total());
        auto* header = static_cast<ChannelHeader*>(base);
        *header = ChannelHeader{kMagic, kVersion, config_.ring_bytes, config_.max_frame};

        Hello hello{kMagic, kVersion, config_.board, endpoint_, 0, config_.ring_bytes, config_.max_frame};
        iovec part{&hello, sizeof hello};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr message{};
        message.msg_iov = &part;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        cmsghdr* rights = CMSG_FIRSTHDR(&message);
        rights->cmsg_level = SOL_SOCKET;
        rights->cmsg_type = SCM_RIGHTS;
        rights->cmsg_len = CMSG_LEN(sizeof(int));
        const int memory_fd = memory.get();
        std::memcpy(CMSG_DATA(rights), &memory_fd, sizeof memory_fd);
        if (::sendmsg(fd.get(), &message, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof hello)) return nullptr;

        Channel& channel = add_channel(std::move(fd), std::move(mapping), 0, layout, config_.max_frame);
        channel.peer_pid = cred.pid;
        channel.board = peer.board;
        channel.endpoint = peer.endpoint;
        peers_[peer_key(peer.board, peer.endpoint)] = channel.number;
        log(false, "peer " + peer_text(peer.board, peer.endpoint) + " reached over shared memory");
        return &channel;
    }

    // Takes one waiting connection; false when there is none.
    bool accept_peer() {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) return errno == EINTR || errno == ECONNABORTED;
        ucred cred{};
        if (!same_user(fd.get(), &cred)) {
            log(true, "refused a local connection from user id " + std::to_string(cred.uid));
            return true;
        }
        // The peer sends its hello right after connecting.
        pollfd wait{fd.get(), POLLIN, 0};
        if (::poll(&wait, 1, 1000) != 1) return true;
        Hello hello{};
        iovec part{&hello, sizeof hello};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
        msghdr message{};
        message.msg_iov = &part;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        const ssize_t got = ::recvmsg(fd.get(), &message, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        // Every descriptor that came is ours to close, whatever else came.
        std::vector<UniqueFd> fds;
        for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < n; ++i) {
                int received;
                std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
                fds.emplace_back(received);
            }
        }
        const bool sane = got == static_cast<ssize_t>(sizeof hello) && !(message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
                          fds.size() == 1 && hello.magic == kMagic && hello.version == kVersion &&
                          hello.ring_bytes >= kMinRing && hello.ring_bytes <= kMaxRing &&
                          (hello.ring_bytes & (hello.ring_bytes - 1)) == 0 && hello.max_frame >= 64 &&
                          shm::record_size(hello.max_frame) <= hello.ring_bytes / 2 &&
                          hello.endpoint <= kMaxEndpointId;
        if (!sane) {
            log(true, "refused a local connection: malformed greeting");
            return true;
        }
        // The memory must be a sealed memfd of the size the ring needs: a
        // peer that could shrink it could make our reads fault.
        const Layout layout{hello.ring_bytes};
        struct stat info{};
        const int seals = ::fcntl(fds[0].get(), F_GET_SEALS);
        if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
            ::fstat(fds[0].get(), &info) != 0 || static_cast<uint64_t>(info.st_size) != layout.total()) {
            log(true, "refused a local connection: its shared memory is not sealed or has the wrong size");
            return true;
        }
        void* base = ::mmap(nullptr, layout.total(), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0].get(), 0);
        if (base == MAP_FAILED) {
            log(true, std::string("cannot map a local peer's shared memory: ") + strerror(errno));
            return true;
        }
        Mapping mapping(base, layout.total());
        Channel& channel = add_channel(std::move(fd), std::move(mapping), 1, layout, hello.max_frame);
        channel.peer_pid = cred.pid;
        channel.board = hello.board;
        channel.endpoint = static_cast<uint8_t>(hello.endpoint);
        // A channel to the peer may exist already (both sides connected at
        // once): the first one stays the way there; this one still carries
        // what the peer sends on it.
        if (peers_.emplace(peer_key(channel.board, channel.endpoint), channel.number).second)
            log(false, "peer " + peer_text(channel.board, channel.endpoint) + " reached over shared memory");
        return true;
    }

    int copy_from_peer(const Channel& channel, std::span<const iovec> remote, uint64_t offset,
                       std::span<const iovec> into, uint64_t wanted) {
        uint64_t done = 0;
        while (done < wanted) {
            std::array<iovec, kRegionIov> local_part, remote_part;
            const size_t local_count = slice(into, done, wanted - done, local_part.data(), local_part.size());
            const size_t remote_count =
                slice(remote, offset + done, wanted - done, remote_part.data(), remote_part.size());
            const ssize_t n = ::process_vm_readv(channel.peer_pid, local_part.data(), local_count,
                                                 remote_part.data(), remote_count, 0);
            if (n > 0) {
                done += static_cast<uint64_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            const int error = n == 0 ? EFAULT : errno;
            if (error == EPERM || error == ENOSYS) {
                direct_reads_ = false;
                log(true, std::string("reading a local peer's memory is not permitted (") + strerror(error) +
                              "; see /proc/sys/kernel/yama/ptrace_scope): large messages from local peers "
                              "now go through the shared rings, with one more copy");
                return -EPERM;
            }
            return error == ESRCH ? -ESRCH : -EFAULT;
        }
        return 0;
    }

    ShmLinkConfig config_;
    uint8_t endpoint_;
    UniqueFd listener_;
    UniqueFd epoll_;
    std::vector<std::unique_ptr<Channel>> channels_;  // channel number n at n - 1; never reused
    std::unordered_map<uint64_t, uint32_t> peers_;    // the channel that reaches each peer
    unsigned polls_ = 0;
    size_t next_ = 0;
    bool hangup_seen_ = false;  // a channel waits for end_hung_up
    bool armed_ = false;
    bool direct_reads_ = true;

public:
    bool has_channels() const { return open_channels_ != 0; }

private:
    size_t open_channels_ = 0;
};

// Local peers through the shm link, the others through the network link.
class CombinedLink final : public Link {
public:
    CombinedLink(std::unique_ptr<ShmLink> shm, std::unique_ptr<Link> network, UniqueFd epoll)
        : shm_(std::move(shm)), network_(std::move(network)), epoll_(std::move(epoll)),
          kind_("shm+" + std::string(network_->kind())) {}

    std::string_view kind() const override { return kind_; }
    uint64_t board() const override { return network_->board(); }
    uint8_t endpoint_id() const override { return network_->endpoint_id(); }
    Route local_route() const override { return network_->local_route(); }
    // Each route keeps its own link's frames: a channel does not shrink to
    // the network's MTU, nor the network grow to a channel's.
    size_t max_frame() const override { return std::max(shm_->max_frame(), network_->max_frame()); }
    size_t max_frame_to(const Route& route) const override {
        return route.lossless() ? shm_->max_frame() : network_->max_frame_to(route);
    }
    size_t receive_window() const override { return network_->receive_window(); }
    int wait_fd() const override { return epoll_.get(); }

    int send(const Route& to, std::span<const iovec> parts) override {
        return to.lossless() ? shm_->send(to, parts) : network_->send(to, parts);
    }

    int poll(FrameSink& sink, int budget) override {
        int handled = shm_->poll(sink, budget);
        // A look at the network costs a system call (udp), several times
        // what a look at the rings costs: while there are local peers, it
        // is taken every few polls only.
        if (!shm_->has_channels() || ++polls_ % 16 == 0) handled += network_->poll(sink, std::max(budget - handled, 8));
        return handled;
    }

    int poll_all(FrameSink& sink, int budget) override {
        const int handled = shm_->poll_all(sink, budget);
        return handled + network_->poll_all(sink, std::max(budget - handled, 8));
    }

    bool arm_wakeup() override { return shm_->arm_wakeup() && network_->arm_wakeup(); }
    Route route_to(const Address& peer) override { return shm_->route_to(peer); }
    bool backlogged(const Route& route) const override { return route.lossless() && shm_->backlogged(route); }
    int expose_region(const Route& to, uint8_t region, uint8_t seq, std::span<const iovec> iov) override {
        return to.lossless() ? shm_->expose_region(to, region, seq, iov) : -EOPNOTSUPP;
    }
    int read_region(const Route& from, uint8_t region, uint8_t seq, uint64_t offset,
                    std::span<const iovec> into) override {
        return from.lossless() ? shm_->read_region(from, region, seq, offset, into) : -EOPNOTSUPP;
    }

private:
    std::unique_ptr<ShmLink> shm_;
    std::unique_ptr<Link> network_;
    UniqueFd epoll_;
    std::string kind_;
    unsigned polls_ = 0;
};

UniqueFd listen_as(uint64_t board, unsigned endpoint, uint16_t port, int* error) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        *error = -errno;
        return fd;
    }
    sockaddr_un name;
    const socklen_t size = listen_name(board, endpoint, port, &name);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&name), size) != 0 || ::listen(fd.get(), 128) != 0) {
        *error = -errno;
        fd.reset();
    }
    return fd;
}

}  // namespace

int open_shm_link(const ShmLinkConfig& config, std::unique_ptr<Link>* link) {
    if (config.ring_bytes < kMinRing || config.ring_bytes > kMaxRing ||
        (config.ring_bytes & (config.ring_bytes - 1)) || config.max_frame < 64 ||
        shm::record_size(config.max_frame) > config.ring_bytes / 2 || config.endpoint_id > int{kMaxEndpointId})
        return -EINVAL;
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return -errno;
    int error = -EADDRINUSE;
    UniqueFd listener;
    const int first = config.endpoint_id < 0 ? 0 : config.endpoint_id;
    const int last = config.endpoint_id < 0 ? int{kMaxEndpointId} : config.endpoint_id;
    int endpoint = first;
    for (; endpoint <= last; ++endpoint) {
        listener = listen_as(config.board, static_cast<unsigned>(endpoint), config.udp_port, &error);
        if (listener || error != -EADDRINUSE) break;
    }
    if (!listener) return error;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = 0;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, listener.get(), &event) != 0) return -errno;
    *link = std::make_unique<ShmLink>(config, static_cast<uint8_t>(endpoint), std::move(listener), std::move(epoll));
    return 0;
}

std::unique_ptr<Link> combine_links(std::unique_ptr<Link> shm, std::unique_ptr<Link> network) {
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return network;  // no descriptor left: the network link alone still works
    for (const Link* link : {shm.get(), network.get()}) {
        epoll_event event{};
        event.events = EPOLLIN;
        ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, link->wait_fd(), &event);
    }
    // open_shm_link made it.
    std::unique_ptr<ShmLink> local(static_cast<ShmLink*>(shm.release()));
    return std::make_unique<CombinedLink>(std::move(local), std::move(network), std::move(epoll));
}

}  // namespace xen2mx::link
