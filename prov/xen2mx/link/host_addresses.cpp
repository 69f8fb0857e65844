#include "link/host_addresses.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netpacket/packet.h>

#include <cstdio>
#include <memory>

namespace xen2mx::link {

namespace {

struct IfaddrsDeleter {
    void operator()(ifaddrs* list) const { freeifaddrs(list); }
};
using IfaddrsList = std::unique_ptr<ifaddrs, IfaddrsDeleter>;

IfaddrsList host_interfaces() {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return nullptr;
    return IfaddrsList(list);
}

uint32_t ipv4_of(const ifaddrs* entry) {
    return ntohl(reinterpret_cast<const sockaddr_in*>(entry->ifa_addr)->sin_addr.s_addr);
}

}  // namespace

std::optional<uint32_t> resolve_ipv4(const std::string& node, bool numeric_only) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = numeric_only ? AI_NUMERICHOST : 0;
    addrinfo* result = nullptr;
    if (getaddrinfo(node.c_str(), nullptr, &hints, &result) != 0 || !result) return std::nullopt;
    const uint32_t ipv4 = ntohl(reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(result);
    return ipv4;
}

bool is_local_ipv4(uint32_t ipv4) {
    auto list = host_interfaces();
    for (ifaddrs* entry = list.get(); entry; entry = entry->ifa_next) {
        if (entry->ifa_addr && entry->ifa_addr->sa_family == AF_INET && ipv4_of(entry) == ipv4) return true;
    }
    return false;
}

bool is_local_mac(uint64_t mac) {
    auto list = host_interfaces();
    for (ifaddrs* entry = list.get(); entry; entry = entry->ifa_next) {
        if (!entry->ifa_addr || entry->ifa_addr->sa_family != AF_PACKET) continue;
        const auto* ll = reinterpret_cast<const sockaddr_ll*>(entry->ifa_addr);
        if (ll->sll_halen != 6) continue;
        uint64_t value = 0;
        for (int i = 0; i < 6; ++i) value = (value << 8) | ll->sll_addr[i];
        if (value == mac) return true;
    }
    return false;
}

std::optional<uint32_t> interface_ipv4(const std::string& iface) {
    auto list = host_interfaces();
    std::optional<uint32_t> loopback;
    for (ifaddrs* entry = list.get(); entry; entry = entry->ifa_next) {
        if (!entry->ifa_addr || entry->ifa_addr->sa_family != AF_INET) continue;
        if (!iface.empty()) {
            if (iface == entry->ifa_name) return ipv4_of(entry);
            continue;
        }
        if (!(entry->ifa_flags & IFF_UP)) continue;
        if (entry->ifa_flags & IFF_LOOPBACK) {
            if (!loopback) loopback = ipv4_of(entry);
            continue;
        }
        return ipv4_of(entry);
    }
    return iface.empty() ? loopback : std::nullopt;
}

std::string ipv4_to_string(uint32_t ipv4) {
    char text[16];
    std::snprintf(text, sizeof text, "%u.%u.%u.%u", (ipv4 >> 24) & 0xff, (ipv4 >> 16) & 0xff,
                  (ipv4 >> 8) & 0xff, ipv4 & 0xff);
    return text;
}

}  // namespace xen2mx::link
