// Runtime parameters, FI_XEN2MX_*: defined once when the provider loads
// (so that `fi_info -e` lists them) and read when an object needs them.
#pragma once

#include <cstdint>
#include <string>

namespace xen2mx::api {

struct Params {
    std::string link;        // FI_XEN2MX_LINK: auto, kmod, ethernet, shm, udp
    std::string iface;       // FI_XEN2MX_IFACE: network interface of the board
    int udp_port_base = 0;   // FI_XEN2MX_UDP_PORT_BASE: UDP port of endpoint id 0
    int peer_timeout_ms = 0; // FI_XEN2MX_PEER_TIMEOUT: then operations with a silent peer fail
    uint32_t key = 0;        // FI_XEN2MX_KEY: endpoint key a peer must present to connect
    int udp_mtu = 0;         // FI_XEN2MX_UDP_MTU: frame size of the udp link; 0: each path's own
    bool kmod_pulls = true;  // FI_XEN2MX_KMOD_PULLS: the kernel answers pulls of our regions
};

inline constexpr int kDefaultPeerTimeoutMs = 30000;
inline constexpr uint32_t kDefaultKey = 0x58324d58;  // "X2MX"

inline constexpr int kDefaultUdpPortBase = 30720;

void define_params();

// Reads the environment now; out-of-range values are replaced by defaults
// with a warning, never silently.
Params read_params();

// Whether `name` names a link the provider knows.
bool is_known_link(const std::string& name);

}  // namespace xen2mx::api
