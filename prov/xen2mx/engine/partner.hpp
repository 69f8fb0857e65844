// What an endpoint knows of one remote endpoint: how to reach it, the
// connection (sessions and sequence numbers in both directions), and the
// sends and medium receives in flight with it.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/intrusive_list.hpp"
#include "engine/requests.hpp"
#include "engine/types.hpp"
#include "link/address.hpp"
#include "link/link.hpp"

namespace xen2mx::engine {

// A sequenced frame that came ahead of its turn (an earlier one was lost or
// overtaken), kept so that only the missing frame has to be resent.
struct EarlyFrame {
    uint16_t seq = 0;
    int frag = -1;  // MEDIUM: the frag's index; other types: -1
    std::vector<uint8_t> bytes;
    link::Route from;
};

struct Partner {
    enum class State : uint8_t { Unknown, Connecting, Connected, Refused };

    link::Address address;
    // The link is asked for a route on first use (a same-host channel or the
    // network), and again after a channel went away.
    link::Route route;
    bool resolved = false;
    uint16_t peer_index = 0;  // our index in the peer's table, learned from its CONNECT

    // The frame size (Ethernet header included) that medium frags, pull
    // replies and inline RMA data follow from, which both ends must use
    // alike. Each end advertises what its path to the other carries in its
    // connect requests and replies, and both take the smaller of the two. A
    // peer that advertises nothing (MX, Open-MX) gets our path's; datagram
    // endpoints, which never connect, too.
    size_t path_frame = 0;      // Link::max_frame_to(route), looked up once per route; 0: not yet
    uint32_t peer_frame = 0;    // what the peer advertised; 0: nothing usable
    bool frame_agreed = false;  // a connect of the peer's was taken since the last reset

    State state = State::Unknown;
    // A connection was set up and has not been torn down since: peer_session
    // and the sequence numbers in both directions are those agreed on. It
    // stays set while a doubt is checked (state Connecting again).
    bool established = false;
    uint32_t peer_session = 0;  // the session the peer's frames must carry to it
    uint8_t connect_seq = 0;
    // The newest connect request taken from the peer's current session: a
    // late copy of an older one carries stale state and is ignored.
    uint32_t request_session = 0;
    uint8_t request_seq = 0;
    bool request_seen = false;
    TimePoint connect_first{};
    TimePoint connect_last{};
    Duration connect_delay{};

    // Sending: the peer expects next_send_seq under send_sesnum.
    uint8_t send_sesnum = 0;
    uint16_t next_send_seq = 0;
    IntrusiveList<SendRequest> pending;  // waiting for the connection
    IntrusiveList<SendRequest> unacked;  // sent, in sequence order
    // Large sends whose RNDV was acked: only the peer's NOTIFY ends them, so
    // while they wait the peer is probed now and then, lest a peer that
    // restarted or vanished leave them waiting for ever.
    // RMA operations acked but not answered yet count among them.
    unsigned waiting_notify = 0;
    IntrusiveList<SendRequest> awaiting_reply;  // RMA operations waiting for the target's answer
    TimePoint last_heard{};  // a valid frame from the peer last arrived
    TimePoint last_probe{};

    // Receiving: the next message to match is next_match_seq under recv_sesnum.
    uint8_t recv_sesnum = 0;
    uint16_t next_match_seq = 0;
    std::vector<Partial> partials;  // medium messages being assembled, oldest first
    std::vector<EarlyFrame> early;  // frames past next_match_seq, in arrival order
    unsigned not_acked = 0;         // messages received since our last ack
    bool ack_due = false;
    TimePoint ack_deadline{};
    uint32_t acknum_sent = 0;
    uint32_t acknum_seen = 0;

    // DGRAM: numbers messages so that medium frags find their message.
    uint16_t dgram_seq = 0;

    // Everything before this has been received whole: the ack we give.
    uint16_t ack_value() const { return partials.empty() ? next_match_seq : partials.front().seq; }
};

}  // namespace xen2mx::engine
