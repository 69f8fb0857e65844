// The host's own network identities, and name lookup: what the links need to
// tell which board an address names and whether it is local.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace xen2mx::link {

// Resolves a host name or dotted quad to an IPv4 address (host order).
// numeric_only forbids name lookups (FI_NUMERICHOST).
std::optional<uint32_t> resolve_ipv4(const std::string& node, bool numeric_only);

// Whether an interface of this host (in this network namespace) has the address.
bool is_local_ipv4(uint32_t ipv4);

// Whether an interface of this host has the MAC address.
bool is_local_mac(uint64_t mac);

// The IPv4 address of a named interface, or of the default interface when the
// name is empty: the first one that is up, not loopback, with an IPv4 address,
// else the loopback.
std::optional<uint32_t> interface_ipv4(const std::string& iface);

std::string ipv4_to_string(uint32_t ipv4);

}  // namespace xen2mx::link
