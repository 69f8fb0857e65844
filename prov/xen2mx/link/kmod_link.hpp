// The kmod link: MXoE frames through /dev/xen2mx, the kernel module. The
// kernel owns the board and the endpoint id, writes the sender of every
// frame sent, and hands this process only the frames addressed to its
// endpoint (and, for a reliable endpoint, its session), straight into a
// receive ring mapped into the process. No privilege is needed.
//
// The regions the engine offers (serve_region), and the memory regions
// open to remote reads (serve_keyed), are registered with the kernel,
// which then answers their PULLs (KEY_PULLs) itself from the pinned pages,
// whether or not this process runs; a module without memory regions (an
// older one, a Xen guest's) or a refusal (the locked-memory limit) leaves
// them to the engine, with a warning the first time in the process that the
// limit refuses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "link/link.hpp"

namespace xen2mx::link {

struct KmodLinkConfig {
    std::string device = "/dev/xen2mx";
    std::string iface;        // the board attached to this interface; empty: the first board
    int endpoint_id = -1;     // -1: the first free one
    bool any_session = false; // take frames whatever their session (DGRAM endpoints)
    bool kernel_pulls = true; // register regions for the kernel to answer their pulls
    LinkLog log = nullptr;    // what the user should hear of
};

// Whether the device exists (the module is loaded).
bool kmod_device_present(const KmodLinkConfig& config);

// Opens the link and the endpoint. *session is the session id the kernel
// chose; frames to this endpoint must carry it. Returns 0 or a negative
// errno: -ENOENT without the device, -ENODEV without a (matching) board,
// -EADDRINUSE when the id (or every id) is taken, -EPROTO when the module
// speaks another ABI version.
int open_kmod_link(const KmodLinkConfig& config, std::unique_ptr<Link>* link, uint32_t* session);

}  // namespace xen2mx::link
