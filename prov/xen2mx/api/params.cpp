#include "params.hpp"

#include <array>
#include <cctype>
#include <climits>
#include <string>
#include <string_view>

#include "link/udp_link.hpp"
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
                    "MXoE frame size of the udp link for every peer, in bytes, 1072 to 65507; RDM peers "
                    "use the smaller of their two sizes, DGRAM endpoints must all use the same "
                    "(default: per peer, the largest frame its path carries without IP "
                    "fragmentation: the path MTU less 28, at most 65000)");
    fi_param_define(&provider, "peer_timeout", FI_PARAM_INT,
                    "Milliseconds a peer may stay silent before the operations in flight with it "
                    "complete in error (default: 30000)");
    fi_param_define(&provider, "kmod_pulls", FI_PARAM_BOOL,
                    "With the kmod link, pin the memory of large messages and RMA reads so that "
                    "the kernel answers the peer's pulls itself, without waiting for this process "
                    "(default: 1; 0 leaves them to the process, as on the other links)");
    fi_param_define(&provider, "key", FI_PARAM_INT,
                    "Endpoint key: a peer connects only when it presents the same key; jobs "
                    "that must not talk to each other use different keys (default: 1479691608)");
}

namespace {

// An integer parameter; a value out of [low, high] is replaced by the
// default, with a warning naming the variable.
// `fallback_text` says what the default means where its number does not.
int bounded_int(const char* name, int fallback, int low, int high, const char* fallback_text = nullptr) {
    int value = fallback;
    if (fi_param_get_int(&provider, name, &value) != FI_SUCCESS) return fallback;
    if (value >= low && value <= high) return value;
    std::string variable = std::string("FI_XEN2MX_") + name;
    for (char& c : variable) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const std::string instead = fallback_text ? fallback_text : std::to_string(fallback);
    X2M_WARN(FI_LOG_CORE, "%s=%d out of range %d..%d, using %s\n", variable.c_str(), value, low, high,
             instead.c_str());
    return fallback;
}

}  // namespace

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

    params.udp_port_base = bounded_int("udp_port_base", kDefaultUdpPortBase, 1, 65535 - 255);
    params.peer_timeout_ms = bounded_int("peer_timeout", kDefaultPeerTimeoutMs, 1, INT_MAX);
    params.udp_mtu = bounded_int("udp_mtu", 0, static_cast<int>(link::kUdpFrameMin),
                                 static_cast<int>(link::kUdpFrameMax), "each path's MTU");

    int pulls = 1;
    if (fi_param_get_bool(&provider, "kmod_pulls", &pulls) == FI_SUCCESS) params.kmod_pulls = pulls != 0;

    int key = static_cast<int>(kDefaultKey);
    fi_param_get_int(&provider, "key", &key);
    params.key = static_cast<uint32_t>(key);
    return params;
}

}  // namespace xen2mx::api
