// The link interface: what carries MXoE frames between boards. A frame is
// handed over whole (Ethernet header first) as a gather list, and received
// frames are lent to a sink for the time of one call; links copy nothing they
// do not have to and allocate nothing per frame.
#pragma once

#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "link/address.hpp"

namespace xen2mx::link {

// Where a frame goes: the board's MAC, and for the udp link its IPv4
// address and port (host order). A route through a same-host channel (the
// shm link) names the channel: frames on it are never lost, duplicated or
// reordered, and large messages can be read straight from the sender.
struct Route {
    uint64_t mac = 0;
    uint32_t ipv4 = 0;
    uint16_t udp_port = 0;
    uint32_t channel = 0;  // 0: none; else the channel's number

    bool lossless() const { return channel != 0; }
    friend bool operator==(const Route&, const Route&) = default;
};

inline Route network_route(const Address& peer) { return Route{peer.board, peer.ipv4, peer.udp_port, 0}; }

// A region of ours (a large message, or the bytes an RMA read returns)
// whose PULLs a link may answer by itself, from the memory it describes,
// without the process: only PULLs naming `region` and `seq`, from endpoint
// `peer_endpoint` of board `peer_board`, in the header layout of the
// endpoint's wire mode, each answered with PULL_REPLYs of at most
// `reply_max` payload bytes, `replies_per_block` of them at most.
struct PullRegion {
    uint8_t region = 0;
    uint8_t seq = 0;
    uint64_t peer_board = 0;
    uint8_t peer_endpoint = 0;
    uint16_t peer_index = 0;  // written in the replies' heads
    uint32_t reply_max = 0;
    uint32_t replies_per_block = 0;
    bool mx_layout = false;  // MX's PULL layout rather than Open-MX's
};

class FrameSink {
public:
    // `frame` is valid during the call only. `from` is what the link knows
    // of the sender (the udp link: its address and port).
    virtual void on_frame(std::span<const uint8_t> frame, const Route& from) = 0;
    // The same, from a channel that vouches for its sender's endpoint (a
    // kmod lane): a frame naming another source endpoint is a forgery.
    // Sinks that do not look at senders take it as any frame.
    virtual void on_frame_from(std::span<const uint8_t> frame, const Route& from, uint8_t) { on_frame(frame, from); }
    // A lossless route ended: the peer closed its endpoint or died. Every
    // frame it sent on it was handed over before.
    virtual void on_route_lost(const Route&) {}

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
    // The longest frame worth sending on `route`: where a path carries less
    // than max_frame() whole (the udp link over a 1500-byte network, which
    // would otherwise fragment every datagram), what it does carry. Both ends
    // of a route derive it from the same path, so they agree on the frame
    // sizes the wire limits follow from.
    virtual size_t max_frame_to(const Route&) const { return max_frame(); }
    // Bytes of frames the link can hold for this endpoint between two polls
    // before it drops some (a socket's receive buffer); 0 when it does not
    // drop, or holds more than the engine ever has in flight. Pulls keep the
    // replies they wait for within it.
    virtual size_t receive_window() const { return 0; }

    // Sends one frame gathered from `parts`. Returns 0; -EAGAIN when the link
    // cannot take it now (poll, then retry); -EMSGSIZE when it is longer than
    // max_frame(); another negative errno when the peer is unreachable.
    virtual int send(const Route& to, std::span<const iovec> parts) = 0;

    // Hands up to `budget` waiting frames to `sink`, without blocking.
    // Returns how many it handed over.
    virtual int poll(FrameSink& sink, int budget) = 0;

    // poll(), plus what poll() looks at only every so often to stay cheap
    // when called in a loop (new same-host peers, a network beside busy
    // rings): for threads that wake rarely, or have just slept.
    virtual int poll_all(FrameSink& sink, int budget) { return poll(sink, budget); }

    // A descriptor that is readable while frames wait, for sleeping in poll(2).
    virtual int wait_fd() const = 0;

    // To be called before sleeping on wait_fd(): links whose peers write
    // frames straight into memory ask them to signal the descriptor. False
    // when frames already wait (do not sleep then).
    virtual bool arm_wakeup() { return true; }

    // How to reach a peer: through a same-host channel where the link has
    // one, else over the network.
    virtual Route route_to(const Address& peer) { return network_route(peer); }

    // Whether frames for a lossless route queue up beyond what the peer has
    // taken: new messages for it should wait.
    virtual bool backlogged(const Route&) const { return false; }

    // Large messages on a lossless route: the sender describes the memory of
    // region `region` (generation `seq`), the receiver copies bytes from
    // `offset` on into `into` straight from the sender's memory. read_region
    // returns 0 or a negative errno: -EPERM when the system forbids reading
    // the sender's memory (the pull protocol is then the way), -ESRCH when
    // the sender is gone, -ESTALE when the region is no longer there,
    // -EFAULT when its memory cannot be read; -EOPNOTSUPP from links that
    // cannot.
    virtual int expose_region(const Route&, uint8_t /*region*/, uint8_t /*seq*/, std::span<const iovec>) {
        return -EOPNOTSUPP;
    }
    virtual int read_region(const Route&, uint8_t /*region*/, uint8_t /*seq*/, uint64_t /*offset*/,
                            std::span<const iovec> /*into*/) {
        return -EOPNOTSUPP;
    }

    // Lets the link answer the region's PULLs from `data` by itself until
    // withdraw_region(): the memory must stay as it is until then, and
    // withdraw_region() returns only once the link no longer reads it.
    // PULLs the link does not answer still reach the sink. Returns 0, or a
    // negative errno when the link will not (the process answers them
    // then): -EOPNOTSUPP when it never can, another errno for this region
    // only (-ENOMEM: the system's limit on pinned memory).
    virtual int serve_region(const PullRegion&, std::span<const iovec> /*data*/) { return -EOPNOTSUPP; }
    virtual void withdraw_region(uint8_t /*region*/) {}

    // Lets the link answer KEY_PULLs (RMA reads) that name `key` and
    // addresses from `base` on by itself, from `data`, until
    // withdraw_keyed(slot); the same rules as serve_region otherwise. `slot`
    // is the caller's name for it, below kKeyedSlots. Unlike the calls
    // above, these two may come from any thread.
    static constexpr uint32_t kKeyedSlots = 256;
    virtual int serve_keyed(uint32_t /*slot*/, uint64_t /*key*/, uint64_t /*base*/, std::span<const iovec> /*data*/) {
        return -EOPNOTSUPP;
    }
    virtual void withdraw_keyed(uint32_t /*slot*/) {}
};

// Where links report what the user should hear of (the layer above logs it).
using LinkLog = void (*)(bool warning, const char* message);

}  // namespace xen2mx::link
