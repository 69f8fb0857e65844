#include "link_choice.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include <rdma/fi_errno.h>

#include "ep.hpp"
#include "link/ethernet_link.hpp"
#include "link/host_addresses.hpp"
#include "link/kmod_link.hpp"
#include "link/shm_link.hpp"
#include "link/udp_link.hpp"
#include "log.hpp"
#include "names.hpp"
#include "params.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx::api {

namespace {

int link_errno(int ret) {
    switch (ret) {
    case -EADDRINUSE: return -FI_EADDRINUSE;
    case -EPERM:
    case -EACCES: return -FI_EACCES;
    case -ENODEV: return -FI_ENODEV;
    case -ENETDOWN: return -FI_ENETDOWN;
    case -EINVAL: return -FI_EINVAL;
    default: return ret;
    }
}

// Once per process: every endpoint meets the same limit.
void warn_capped_buffers(const link::SocketBuffers& buffers) {
    static std::atomic<bool> warned{false};
    if (warned.exchange(true)) return;
    const char* sysctl = buffers.receive_capped && buffers.send_capped ? "net.core.rmem_max and net.core.wmem_max"
                         : buffers.receive_capped                     ? "net.core.rmem_max"
                                                                       : "net.core.wmem_max";
    X2M_WARN(FI_LOG_EP_CTRL,
             "udp link: socket buffers of %zu KiB (receive) and %zu KiB (send) instead of the %zu KiB asked: "
             "large transfers are paced to fit them; for full speed raise %s to %zu or more "
             "(sysctl -w), or run with CAP_NET_ADMIN\n",
             buffers.receive / 2 / 1024, buffers.send / 2 / 1024, buffers.asked / 1024, sysctl, buffers.asked);
}

int open_udp(const Params& params, const link::Address& wanted, std::unique_ptr<link::Link>* link) {
    link::UdpLinkConfig config;
    config.port_base = params.udp_port_base;
    config.max_frame = static_cast<size_t>(params.udp_mtu);
    config.endpoint_id = wanted.endpoint == kAnyEndpoint ? -1 : wanted.endpoint;
    if (wanted.ipv4) {
        config.ipv4 = wanted.ipv4;
    } else {
        auto ipv4 = link::interface_ipv4(params.iface);
        if (!ipv4) {
            X2M_WARN(FI_LOG_EP_CTRL, "interface \"%s\" has no IPv4 address for the udp link\n", params.iface.c_str());
            return -FI_ENODEV;
        }
        config.ipv4 = *ipv4;
    }
    link::SocketBuffers buffers;
    if (int ret = link::open_udp_link(config, link, &buffers)) {
        X2M_WARN(FI_LOG_EP_CTRL, "cannot open the udp link on %s, port base %d: %s\n",
                 link::ipv4_to_string(config.ipv4).c_str(), config.port_base, strerror(-ret));
        return link_errno(ret);
    }
    if (buffers.capped()) warn_capped_buffers(buffers);
    return 0;
}

int open_ethernet(const Params& params, const link::Address& wanted, bool quiet, std::unique_ptr<link::Link>* link) {
    link::EthernetLinkConfig config;
    config.iface = params.iface;
    config.endpoint_id = wanted.endpoint == kAnyEndpoint ? -1 : wanted.endpoint;
    if (int ret = link::open_ethernet_link(config, link)) {
        if (quiet)
            X2M_INFO(FI_LOG_EP_CTRL, "no Ethernet link on \"%s\" (%s): using udp\n", params.iface.c_str(),
                     strerror(-ret));
        else
            X2M_WARN(FI_LOG_EP_CTRL, "cannot open the Ethernet link on \"%s\": %s%s\n", params.iface.c_str(),
                     strerror(-ret), ret == -EPERM || ret == -EACCES ? " (it needs CAP_NET_RAW)" : "");
        return link_errno(ret);
    }
    if (wanted.board && !wanted.has_udp() && wanted.board != (*link)->board()) {
        X2M_WARN(FI_LOG_EP_CTRL, "source address %s is not interface %s\n", wire::mac_to_string(wanted.board).c_str(),
                 params.iface.c_str());
        link->reset();
        return -FI_EINVAL;
    }
    return 0;
}

void log_link(bool warning, const char* message);

// The kernel module's link: the board attached to FI_XEN2MX_IFACE (any
// board when unset); the kernel chooses the session.
int open_kmod(const Params& params, const link::Address& wanted, bool any_session, bool quiet,
              std::unique_ptr<link::Link>* link, uint32_t* session) {
    link::KmodLinkConfig config;
    config.iface = params.iface;
    config.endpoint_id = wanted.endpoint == kAnyEndpoint ? -1 : wanted.endpoint;
    config.any_session = any_session;
    config.kernel_pulls = params.kmod_pulls;
    config.log = log_link;
    if (int ret = link::open_kmod_link(config, link, session)) {
        if (ret == -ENOENT) ret = -ENODEV;  // no device: the module is not loaded
        if (quiet)
            X2M_INFO(FI_LOG_EP_CTRL, "no kmod link (%s)\n", strerror(-ret));
        else
            X2M_WARN(FI_LOG_EP_CTRL, "cannot open the kmod link on %s%s: %s%s\n", config.device.c_str(),
                     params.iface.empty() ? "" : (" (board " + params.iface + ")").c_str(), strerror(-ret),
                     ret == -EPROTO    ? " (the module speaks another ABI version)"
                     : ret == -ENODEV ? " (is xen2mx.ko loaded, with a board attached?)"
                                      : "");
        return link_errno(ret);
    }
    if (wanted.board && !wanted.has_udp() && wanted.board != (*link)->board()) {
        X2M_WARN(FI_LOG_EP_CTRL, "source address %s is not the kmod board\n", wire::mac_to_string(wanted.board).c_str());
        link->reset();
        return -FI_EINVAL;
    }
    return 0;
}

void log_link(bool warning, const char* message) {
    if (warning)
        X2M_WARN(FI_LOG_EP_CTRL, "%s\n", message);
    else
        X2M_INFO(FI_LOG_EP_CTRL, "%s\n", message);
}

// The shm link alone: local peers only. Its board is the loopback's udp
// board, as a node name of 127.0.0.1 says.
int open_shm(const link::Address& wanted, std::unique_ptr<link::Link>* link) {
    link::ShmLinkConfig config;
    config.board = wanted.board ? wanted.board : link::udp_board_of(0x7f000001);
    config.endpoint_id = wanted.endpoint == kAnyEndpoint ? -1 : wanted.endpoint;
    config.log = log_link;
    if (int ret = link::open_shm_link(config, link)) {
        X2M_WARN(FI_LOG_EP_CTRL, "cannot open the shm link: %s\n", strerror(-ret));
        return link_errno(ret);
    }
    return 0;
}

// Local peers are reached over shared memory beside the network link. An
// endpoint that cannot listen for them (its identity is taken by another
// endpoint of this host) still works over the network.
std::unique_ptr<link::Link> with_local_peers(std::unique_ptr<link::Link> network) {
    link::ShmLinkConfig config;
    config.board = network->board();
    config.endpoint_id = network->endpoint_id();
    config.udp_port = network->local_route().udp_port;
    config.log = log_link;
    std::unique_ptr<link::Link> shm;
    if (int ret = link::open_shm_link(config, &shm)) {
        X2M_INFO(FI_LOG_EP_CTRL, "local peers are reached over the network: no shm link (%s)\n", strerror(-ret));
        return network;
    }
    return link::combine_links(std::move(shm), std::move(network));
}

}  // namespace

int open_engine(Endpoint* ep, const link::Address& wanted, std::unique_ptr<engine::Endpoint>* out) {
    const Params params = read_params();
    std::unique_ptr<link::Link> link;
    // The kmod link's session is the kernel's, which filters frames by it.
    uint32_t kernel_session = 0;
    const bool any_session = ep->type != FI_EP_RDM;
    int ret;
    if (params.link == "kmod") {
        ret = open_kmod(params, wanted, any_session, false, &link, &kernel_session);
    } else if (params.link == "udp") {
        ret = open_udp(params, wanted, &link);
    } else if (params.link == "ethernet") {
        if (params.iface.empty()) {
            X2M_WARN(FI_LOG_EP_CTRL, "FI_XEN2MX_LINK=ethernet needs FI_XEN2MX_IFACE\n");
            return -FI_EINVAL;
        }
        ret = open_ethernet(params, wanted, false, &link);
    } else if (params.link == "shm") {
        ret = open_shm(wanted, &link);
    } else if (params.link == "auto") {
        // The kernel module where it is loaded (it reaches the peers of this
        // host itself); else the Ethernet link where it is configured and
        // permitted, else udp, with shared memory for the peers of this host.
        ret = -FI_ENODEV;
        if (!wanted.has_udp() && link::kmod_device_present(link::KmodLinkConfig{}))
            ret = open_kmod(params, wanted, any_session, true, &link, &kernel_session);
        if (ret) {
            if (!params.iface.empty() && !wanted.has_udp()) ret = open_ethernet(params, wanted, true, &link);
            if (ret) ret = open_udp(params, wanted, &link);
            if (!ret) link = with_local_peers(std::move(link));
        }
    } else {
        X2M_WARN(FI_LOG_EP_CTRL, "FI_XEN2MX_LINK=%s: that link is not available in this build\n",
                 params.link.c_str());
        return -FI_ENODEV;
    }
    if (ret) return ret;

    engine::Config config;
    config.reliable = ep->type == FI_EP_RDM;
    config.key = params.key;
    config.peer_timeout = std::chrono::milliseconds(params.peer_timeout_ms);
    if (auto limits = wire::WireLimits::open_mx(static_cast<uint32_t>(link->max_frame()))) config.limits = *limits;
    std::random_device random;
    const uint32_t session = kernel_session ? kernel_session : (uint32_t{random()} << 16) ^ random();
    const std::string_view kind = link->kind();
    ep->sink.ep = ep;
    *out = std::make_unique<engine::Endpoint>(config, std::move(link), ep->sink, session);
    (*out)->set_regions(&ep->domain->region_lookup);
    X2M_INFO(FI_LOG_EP_CTRL, "endpoint %s on the %.*s link\n", wire::address_to_string((*out)->address()).c_str(),
             static_cast<int>(kind.size()), kind.data());
    return 0;
}

}  // namespace xen2mx::api
