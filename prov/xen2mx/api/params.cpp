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
    return params;
}

}  // namespace xen2mx::api
