// The Ethernet link: MXoE frames straight on an Ethernet interface through an
// AF_PACKET socket bound to ethertype 0x86DF, with memory-mapped receive and
// transmit rings so that a frame costs one copy each way and no syscall on
// receive. Needs CAP_NET_RAW. The board is the interface's MAC.
//
// Endpoint ids are claimed per interface and network namespace by binding an
// abstract AF_UNIX socket named after the interface index and the id: the
// kernel releases the name when the holder dies, however it dies, so no stale
// claim survives a crash.
//
// Every link on an interface receives every MXoE frame that reaches it; which
// endpoint a frame is for is in the MXoE header, for the caller to read.
// Frames between two endpoints of the same interface do not come back from the
// wire either: like a NIC, the link only carries frames to other boards.
#pragma once

#include <memory>
#include <string>

#include "link/link.hpp"

namespace xen2mx::link {

struct EthernetLinkConfig {
    std::string iface;
    int endpoint_id = -1;  // -1: the first free one
};

// Opens the link. Returns 0, or a negative errno: -EPERM (or -EACCES) without
// CAP_NET_RAW, -ENODEV when there is no such interface, -ENETDOWN when it is
// down, -EINVAL when it is not an Ethernet interface or the id is out of
// range, -EADDRINUSE when the endpoint id (or, for any, every id) is taken.
int open_ethernet_link(const EthernetLinkConfig& config, std::unique_ptr<Link>* link);

}  // namespace xen2mx::link
