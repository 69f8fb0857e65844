// The udp link: MXoE frames, Ethernet header included, carried whole in UDP
// datagrams. Needs no privilege. A board is an IPv4 address (its id is the
// MAC 02:00:a:b:c:d), and endpoint id N owns UDP port base+N on it.
#pragma once

#include <cstdint>
#include <memory>

#include "link/link.hpp"

namespace xen2mx::link {

struct UdpLinkConfig {
    uint32_t ipv4 = 0x7f000001;  // the board, host order
    int port_base = 30720;
    int endpoint_id = -1;        // -1: the first free one
    // Frames up to nearly the largest datagram: a pull moves a message in a
    // few system calls. Both ends must use the same value.
    size_t max_frame = 65000;
};

// Opens the link. Returns 0, or -EADDRINUSE when the endpoint id (or, for
// any, every id) is taken, or another negative errno.
int open_udp_link(const UdpLinkConfig& config, std::unique_ptr<Link>* link);

}  // namespace xen2mx::link
