// The udp link: MXoE frames, Ethernet header included, carried whole in UDP
// datagrams. Needs no privilege. A board is an IPv4 address (its id is the
// MAC 02:00:a:b:c:d), and endpoint id N owns UDP port base+N on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "link/link.hpp"
#include "link/socket_buffers.hpp"

namespace xen2mx::link {

// The longest frame a path gets by default: nearly the largest datagram, so
// that over loopback a pull moves a message in a few system calls.
inline constexpr size_t kUdpFrameDefaultMax = 65000;
inline constexpr size_t kUdpFrameMax = 65507;  // the largest UDP payload over IPv4
// The shortest frame a path gets: a medium message of 32 KiB still fits in
// the 32 frags the wire allows (each frag's header is 48 bytes). Paths with
// a smaller MTU fragment such frames.
inline constexpr size_t kUdpFrameMin = 48 + 32768 / 32;

struct UdpLinkConfig {
    uint32_t ipv4 = 0x7f000001;  // the board, host order
    int port_base = 30720;
    int endpoint_id = -1;        // -1: the first free one
    // 0: each peer gets the largest frame its path carries without IP
    // fragmentation (from the route's MTU), at most kUdpFrameDefaultMax.
    // Else every peer gets this many bytes, whatever its path.
    size_t max_frame = 0;
    // Asked of both socket buffers: room for the pull replies in flight.
    size_t socket_buffer = size_t{8} << 20;
};

// The frame a path of this MTU carries whole: the MTU less the IPv4 and UDP
// headers, within [kUdpFrameMin, kUdpFrameDefaultMax].
size_t udp_frame_for_mtu(int mtu);

// Opens the link. Returns 0, or -EADDRINUSE when the endpoint id (or, for
// any, every id) is taken, or another negative errno. `buffers`, when given,
// tells what the socket got of the buffers asked for.
int open_udp_link(const UdpLinkConfig& config, std::unique_ptr<Link>* link, SocketBuffers* buffers = nullptr);

}  // namespace xen2mx::link
