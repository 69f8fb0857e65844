#include "names.hpp"

#include <charconv>
#include <string>

#include "link/host_addresses.hpp"
#include "log.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx::api {

namespace {

int parse_service(const char* service, uint8_t* endpoint) {
    const std::string_view text(service);
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > link::kMaxEndpointId) {
        X2M_INFO(FI_LOG_CORE, "service \"%s\" is not an endpoint id (0..%u)\n", service,
                 link::kMaxEndpointId);
        return -FI_ENODATA;
    }
    *endpoint = static_cast<uint8_t>(value);
    return 0;
}

}  // namespace

int resolve_name(const char* node, const char* service, bool source, bool numeric_only,
                 const Params& params, link::Address* out) {
    link::Address address;
    address.endpoint = source ? kAnyEndpoint : 0;
    if (service) {
        if (int ret = parse_service(service, &address.endpoint)) return ret;
    }

    if (node) {
        if (auto mac = wire::parse_mac(node)) {
            if (source && !link::is_local_mac(*mac)) {
                X2M_INFO(FI_LOG_CORE, "source %s is not a MAC address of this host\n", node);
                return -FI_ENODATA;
            }
            address.board = *mac;
            *out = address;
            return 0;
        }
        auto ipv4 = link::resolve_ipv4(node, numeric_only);
        if (!ipv4) {
            X2M_INFO(FI_LOG_CORE, "cannot resolve node \"%s\" to an IPv4 address\n", node);
            return -FI_ENODATA;
        }
        if (source && !link::is_local_ipv4(*ipv4)) {
            X2M_INFO(FI_LOG_CORE, "source %s is not an address of this host\n", node);
            return -FI_ENODATA;
        }
        address.ipv4 = *ipv4;
    } else if (source) {
        auto ipv4 = link::interface_ipv4(params.iface);
        if (!ipv4) {
            X2M_INFO(FI_LOG_CORE, "interface \"%s\" has no IPv4 address\n", params.iface.c_str());
            return -FI_ENODATA;
        }
        address.ipv4 = *ipv4;
    } else {
        address.ipv4 = 0x7f000001;  // like getaddrinfo: no node means this host
    }

    address.board = link::udp_board_of(address.ipv4);
    if (address.endpoint != kAnyEndpoint)
        address.udp_port = static_cast<uint16_t>(params.udp_port_base + address.endpoint);
    *out = address;
    return 0;
}

}  // namespace xen2mx::api
