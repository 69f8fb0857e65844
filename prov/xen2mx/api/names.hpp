// Turning the node and service strings of fi_getinfo and fi_av_insertsvc into
// xen2mx addresses.
//
// node is a host name or IPv4 address (a board of the udp link, named
// 02:00:a:b:c:d after its address) or a MAC address "aa:bb:cc:dd:ee:ff" (a board
// of the ethernet or kmod link). service is the endpoint id, 0..254.
#pragma once

#include "link/address.hpp"
#include "params.hpp"

namespace xen2mx::api {

// An endpoint id still to be chosen, in source addresses only.
inline constexpr uint8_t kAnyEndpoint = 255;

// Fills *out. A source address must name a board of this host; its endpoint
// is kAnyEndpoint when service is null. Returns 0 or -FI_ENODATA, with the
// reason logged at FI_LOG_LEVEL=info.
int resolve_name(const char* node, const char* service, bool source, bool numeric_only,
                 const Params& params, link::Address* out);

}  // namespace xen2mx::api
