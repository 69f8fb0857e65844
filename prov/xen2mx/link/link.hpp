// The link interface: what carries MXoE frames between boards. A frame is
// handed over whole (Ethernet header first) as a gather list, and received
// frames are lent to a sink for the time of one call; links copy nothing they
// do not have to and allocate nothing per frame.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace xen2mx::link {

// Where a frame goes: the board's MAC, and for the udp link its IPv4
// address and port (host order).
struct Route {
    uint64_t mac = 0;
    uint32_t ipv4 = 0;
    uint16_t udp_port = 0;
    friend bool operator==(const Route&, const Route&) = default;
};

class FrameSink {
public:
    // `frame` is valid during the call only. `from` is what the link knows
    // of the sender (the udp link: its address and port).
    virtual void on_frame(std::span<const uint8_t> frame, const Route& from) = 0;

protected:
    ~FrameSink() = default;
};

class Link {
public:
    virtual ~Link() = default;

    virtual std::string_view kind() const = 0;
    // This board's id (its MAC) and the endpoint id the link holds on it.
    virtual uint64_t board() const = 0;
    virtual uint8_t endpoint_id() const = 0;
    // How peers reach this endpoint.
    virtual Route local_route() const = 0;
    // The longest frame the link carries, Ethernet header included.
    virtual size_t max_frame() const = 0;

    // Sends one frame gathered from `parts`. Returns 0; -EAGAIN when the link
    // cannot take it now (poll, then retry); -EMSGSIZE when it is longer than
    // max_frame(); another negative errno when the peer is unreachable.
    virtual int send(const Route& to, std::span<const iovec> parts) = 0;

    // Hands up to `budget` waiting frames to `sink`, without blocking.
    // Returns how many it handed over.
    virtual int poll(FrameSink& sink, int budget) = 0;

    // A descriptor that is readable while frames wait, for sleeping in poll(2).
    virtual int wait_fd() const = 0;
};

}  // namespace xen2mx::link
