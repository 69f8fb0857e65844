// The MTU of the path to an IPv4 address, as the routing table knows it: the
// outgoing interface's MTU, or less where the route says so or where path
// MTU discovery has learned a smaller one. Loopback paths have the loopback's.
#pragma once

#include <cstdint>

namespace xen2mx::link {

// Returns the MTU in bytes (IP header included), or a negative errno (no
// route, no descriptor left). Sends nothing: a UDP socket connected to the
// address only looks the route up.
int path_mtu(uint32_t ipv4);

}  // namespace xen2mx::link
