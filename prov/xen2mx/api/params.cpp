#include "params.hpp"

#include <array>
#include <string_view>

#include "log.hpp"

namespace xen2mx::api {

namespace {
constexpr std::array<std::string_view, 5> kLinks = {"auto", "kmod", "ethernet", "shm", "udp"};
}

bool is_known_link(const std::string& name) {
    for (auto link : kLinks)
        if (name == link) return true;
    return false;
}

void define_params() {
    fi_param_define(&provider, "link", FI_PARAM_STRING,
                    "Link that carries MXoE frames: auto (default: the best one available), "
                    "kmod (/dev/xen2mx), ethernet (raw frames, needs CAP_NET_RAW), "
                    "shm (processes of one host), udp (frames in UDP datagrams)");
    fi_param_define(&provider, "iface", FI_PARAM_STRING,
                    "Network interface that serves as the board (default: the first interface "
                    "that is up and has an IPv4 address, else lo)");
    fi_param_define(&provider, "udp_port_base", FI_PARAM_INT,
                    "UDP port of endpoint id 0 on the udp link; endpoint id N uses base+N "
                    "(default: 30720)");
    fi_param_define(&provider, "udp_mtu", FI_PARAM_INT,
                    "Longest MXoE frame the udp link sends, in bytes, 1500 to 65507; it sets the "
                    "size of medium fragments and pull replies, so every process of a job must use "
                    "the same value (default: 65000)");
    fi_param_define(&provider, "peer_timeout", FI_PARAM_INT,
                    "Milliseconds a peer may stay silent before the operations in flight with it "
                    "complete in error (default: 30000)");
    fi_param_define(&provider, "key", FI_PARAM_INT,
                    "Endpoint key: a peer connects only when it presents the same key; jobs "
                    "that must not talk to each other use different keys (default: 1479691608)");
}

Params read_params() {
    Params params;
    char* text = nullptr;
    if (fi_param_get_str(&provider, "link", &text) == FI_SUCCESS && text && *text)
        params.link = text;
    else
        params.link = "auto";
    if (!is_known_link(params.link)) {
        X2M_WARN(FI_LOG_CORE, "FI_XEN2MX_LINK=%s is not a known link (auto, kmod, ethernet, shm, udp)\n",
                 params.link.c_str());
    }
    text = nullptr;
    if (fi_param_get_str(&provider, "iface", &text) == FI_SUCCESS && text) params.iface = text;

    int base = kDefaultUdpPortBase;
    if (fi_param_get_int(&provider, "udp_port_base", &base) == FI_SUCCESS) {
        if (base < 1 || base > 65535 - 255) {
            X2M_WARN(FI_LOG_CORE, "FI_XEN2MX_UDP_PORT_BASE=%d out of range 1..65280, using %d\n", base,
                     kDefaultUdpPortBase);
            base = kDefaultUdpPortBase;
        }
    }
    params.udp_port_base = base;

    int timeout = kDefaultPeerTimeoutMs;
    if (fi_param_get_int(&provider, "peer_timeout", &timeout) == FI_SUCCESS && timeout < 1) {
        X2M_WARN(FI_LOG_CORE, "FI_XEN2MX_PEER_TIMEOUT=%d is not positive, using %d\n", timeout,
                 kDefaultPeerTimeoutMs);
        timeout = kDefaultPeerTimeoutMs;
    }
    params.peer_timeout_ms = timeout;

    int mtu = kDefaultUdpMtu;
    if (fi_param_get_int(&provider, "udp_mtu", &mtu) == FI_SUCCESS && (mtu < 1500 || mtu > 65507)) {
        X2M_WARN(FI_LOG_CORE, "FI_XEN2MX_UDP_MTU=%d out of range 1500..65507, using %d\n", mtu, kDefaultUdpMtu);
        mtu = kDefaultUdpMtu;
    }
    params.udp_mtu = mtu;

    int key = static_cast<int>(kDefaultKey);
    fi_param_get_int(&provider, "key", &key);
    params.key = static_cast<uint32_t>(key);
    return params;
}

}  // namespace xen2mx::api
