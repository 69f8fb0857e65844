// Which link carries an endpoint's frames, and the engine on top of it.
#pragma once

#include <memory>

#include "engine/endpoint.hpp"
#include "link/address.hpp"

namespace xen2mx::api {

struct Endpoint;

// Opens the link FI_XEN2MX_LINK asks for (auto: the Ethernet link when
// FI_XEN2MX_IFACE names an interface it may use, else udp) on the board and
// endpoint id `wanted` names (kAnyEndpoint: the first free id), and the
// engine on it. Returns 0 or a negative FI_E* code, with the reason logged.
int open_engine(Endpoint* ep, const link::Address& wanted, std::unique_ptr<engine::Endpoint>* out);

}  // namespace xen2mx::api
