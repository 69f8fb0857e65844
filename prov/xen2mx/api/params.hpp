// Runtime parameters, FI_XEN2MX_*: defined once when the provider loads
// (so that `fi_info -e` lists them) and read when an object needs them.
#pragma once

#include <string>

namespace xen2mx::api {

struct Params {
    std::string link;        // FI_XEN2MX_LINK: auto, kmod, ethernet, shm, udp
    std::string iface;       // FI_XEN2MX_IFACE: network interface of the board
    int udp_port_base = 0;   // FI_XEN2MX_UDP_PORT_BASE: UDP port of endpoint id 0
};

inline constexpr int kDefaultUdpPortBase = 30720;

void define_params();

// Reads the environment now; out-of-range values are replaced by defaults
// with a warning, never silently.
Params read_params();

// Whether `name` names a link the provider knows.
bool is_known_link(const std::string& name);

}  // namespace xen2mx::api
