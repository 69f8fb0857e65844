#include "link/udp_link.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <unordered_map>
#include <vector>

#include "link/address.hpp"
#include "link/path_mtu.hpp"

namespace xen2mx::link {

namespace {

constexpr int kIpv4UdpHeaders = 20 + 8;
// Peers' hosts whose path is remembered; past that the memory starts over
// (each entry costs one route lookup to make again).
constexpr size_t kPathCacheMax = 4096;

class UdpLink final : public Link {
public:
    UdpLink(int fd, uint32_t ipv4, uint16_t port, uint8_t endpoint, size_t fixed_frame, size_t window)
        : fd_(fd), ipv4_(ipv4), port_(port), endpoint_(endpoint), fixed_frame_(fixed_frame), window_(window),
          buffer_(kUdpFrameMax) {}
    ~UdpLink() override { ::close(fd_); }

    std::string_view kind() const override { return "udp"; }
    uint64_t board() const override { return link::udp_board_of(ipv4_); }
    uint8_t endpoint_id() const override { return endpoint_; }
    Route local_route() const override { return Route{board(), ipv4_, port_}; }
    size_t max_frame() const override { return fixed_frame_ ? fixed_frame_ : kUdpFrameDefaultMax; }
    size_t receive_window() const override { return window_; }
    int wait_fd() const override { return fd_; }

    size_t max_frame_to(const Route& route) const override {
        if (fixed_frame_) return fixed_frame_;
        if (auto known = path_frames_.find(route.ipv4); known != path_frames_.end()) return known->second;
        const int mtu = path_mtu(route.ipv4);
        // Without a route the frame is never sent; a failed lookup for
        // another reason (no descriptor left) is tried again next time.
        if (mtu < 0) return kUdpFrameDefaultMax;
        if (path_frames_.size() >= kPathCacheMax) path_frames_.clear();
        const size_t frame = udp_frame_for_mtu(mtu);
        path_frames_.emplace(route.ipv4, frame);
        return frame;
    }

    int send(const Route& to, std::span<const iovec> parts) override {
        size_t length = 0;
        for (const iovec& part : parts) length += part.iov_len;
        if (length > max_frame()) return -EMSGSIZE;
        sockaddr_in peer{};
        peer.sin_family = AF_INET;
        peer.sin_addr.s_addr = htonl(to.ipv4);
        peer.sin_port = htons(to.udp_port);
        msghdr msg{};
        msg.msg_name = &peer;
        msg.msg_namelen = sizeof peer;
        msg.msg_iov = const_cast<iovec*>(parts.data());
        msg.msg_iovlen = parts.size();
        for (;;) {
            if (::sendmsg(fd_, &msg, MSG_DONTWAIT) >= 0) return 0;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return -EAGAIN;
            // A port with nobody behind it answers with ICMP; the engine's
            // timeouts deal with vanished peers, so this is not an error here.
            if (errno == ECONNREFUSED) return 0;
            return -errno;
        }
    }

    int poll(FrameSink& sink, int budget) override {
        int handled = 0;
        while (handled < budget) {
            sockaddr_in from{};
            socklen_t from_length = sizeof from;
            const ssize_t n = ::recvfrom(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT,
                                         reinterpret_cast<sockaddr*>(&from), &from_length);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == ECONNREFUSED) continue;  // an ICMP report of an earlier send
                break;
            }
            const uint32_t ipv4 = ntohl(from.sin_addr.s_addr);
            sink.on_frame(std::span<const uint8_t>(buffer_.data(), static_cast<size_t>(n)),
                          Route{link::udp_board_of(ipv4), ipv4, ntohs(from.sin_port)});
            ++handled;
        }
        return handled;
    }

private:
    int fd_;
    uint32_t ipv4_;
    uint16_t port_;
    uint8_t endpoint_;
    size_t fixed_frame_;  // 0: per path
    size_t window_;
    std::vector<uint8_t> buffer_;
    // Frame size per peer host, looked up once: a path's MTU rarely changes,
    // and both ends must keep using the sizes they started with.
    mutable std::unordered_map<uint32_t, size_t> path_frames_;
};

}  // namespace

size_t udp_frame_for_mtu(int mtu) {
    const size_t frame = mtu > kIpv4UdpHeaders ? static_cast<size_t>(mtu - kIpv4UdpHeaders) : 0;
    return std::clamp(frame, kUdpFrameMin, kUdpFrameDefaultMax);
}

int open_udp_link(const UdpLinkConfig& config, std::unique_ptr<Link>* link, SocketBuffers* buffers) {
    if ((config.max_frame && (config.max_frame < kUdpFrameMin || config.max_frame > kUdpFrameMax)) ||
        config.port_base < 1 || config.port_base + int{link::kMaxEndpointId} > 65535)
        return -EINVAL;
    const int first = config.endpoint_id < 0 ? 0 : config.endpoint_id;
    const int last = config.endpoint_id < 0 ? int{link::kMaxEndpointId} : config.endpoint_id;
    if (first > int{link::kMaxEndpointId}) return -EINVAL;
    int ret = -EADDRINUSE;
    for (int endpoint = first; endpoint <= last; ++endpoint) {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(config.ipv4);
        local.sin_port = htons(static_cast<uint16_t>(config.port_base + endpoint));
        if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0) {
            const SocketBuffers got = enlarge_socket_buffers(fd, config.socket_buffer);
            if (buffers) *buffers = got;
            // What the buffers hold bounds what the engine has in flight.
            const size_t window = got.payload_room();
            *link = std::make_unique<UdpLink>(fd, config.ipv4, static_cast<uint16_t>(config.port_base + endpoint),
                                              static_cast<uint8_t>(endpoint), config.max_frame, window);
            return 0;
        }
        ret = -errno;
        ::close(fd);
        if (ret != -EADDRINUSE) return ret;
    }
    return ret;
}

}  // namespace xen2mx::link
