// The shm link: endpoints of one host (one kernel, one network namespace)
// exchange frames through rings in shared memory, and large messages move
// with a single copy from the sender's memory (process_vm_readv).
//
// An endpoint listens on an abstract AF_UNIX socket named after its board and
// endpoint id. A peer that wants to reach it connects there: the socket
// failing to connect is how a peer learns that the endpoint is not local.
// The connecting side creates a sealed memfd holding one ring each way and
// passes it over the socket; both map it, and nothing is left in any file
// system, however either side ends. The socket stays open as the channel's
// lifeline: its hangup tells that the peer closed or died, and a byte on it
// wakes a peer that sleeps. Both ends check that the other runs under their
// own user id, so no other user can attach to an endpoint's memory.
#pragma once

#include <cstdint>
#include <memory>

#include "link/link.hpp"

namespace xen2mx::link {

struct ShmLinkConfig {
    // The identity the endpoint listens under: the board and endpoint id of
    // its network link. endpoint_id -1: the first free id on `board` (an
    // endpoint that has no network link).
    uint64_t board = 0;
    int endpoint_id = -1;
    // The udp port of the network link beside it (0: none): part of the
    // name it listens under, so that jobs with other udp port bases on one
    // host never reach each other's endpoints.
    uint16_t udp_port = 0;
    size_t max_frame = 65000;
    size_t ring_bytes = size_t{1} << 20;  // each way, a power of two
    LinkLog log = nullptr;
};

// Opens the link. Returns 0, -EADDRINUSE when the identity is taken (another
// endpoint of this host listens under it), or another negative errno.
int open_shm_link(const ShmLinkConfig& config, std::unique_ptr<Link>* link);

// One link for both kinds of peer: peers the shm link reaches through it,
// the others through `network`. Takes both; `shm` comes from open_shm_link.
std::unique_ptr<Link> combine_links(std::unique_ptr<Link> shm, std::unique_ptr<Link> network);

}  // namespace xen2mx::link
