// An xen2mx endpoint as MX defines it: partners reached through a link, a
// connection handshake, sequence numbers, acks and resends on reliable
// endpoints, tag matching with posted and unexpected queues, and the message
// classes tiny, small, medium and large (rendezvous, then the receiver pulls).
//
// The engine knows neither libfabric nor sockets: the layer above calls it
// with the endpoint's lock held, and it calls back through CompletionSink.
// Time is passed in, so tests can drive it.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/intrusive_list.hpp"
#include "engine/partner.hpp"
#include "engine/requests.hpp"
#include "engine/types.hpp"
#include "link/link.hpp"
#include "wire/mxoe_codec.hpp"

namespace xen2mx::engine {

struct SendArgs {
    PeerId peer = kNoPeer;
    std::span<const iovec> iov;
    uint64_t tag = 0;
    bool tagged = true;
    bool has_data = false;
    uint64_t data = 0;
    void* context = nullptr;
    bool report = true;  // post a completion (false: inject, or selective completion)
    bool copy = false;   // take a copy now: the caller's buffer is free on return
    bool sync = false;   // complete only once the receiver has the data
};

struct RecvArgs {
    std::span<const iovec> iov;
    uint64_t tag = 0;
    uint64_t ignore = 0;
    bool tagged = true;
    PeerId from = kNoPeer;
    void* context = nullptr;
};

class Endpoint final : private link::FrameSink {
public:
    Endpoint(const Config& config, std::unique_ptr<link::Link> link, CompletionSink& sink, uint32_t session);
    ~Endpoint();
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    link::Address address() const;
    uint32_t session() const { return session_; }
    const Config& config() const { return config_; }
    const Counters& counters() const { return counters_; }
    int wait_fd() const { return link_->wait_fd(); }
    size_t max_message() const;

    // The partner for an address, added on first use.
    PeerId peer_of(const link::Address& address);
    const link::Address& peer_address(PeerId peer) const { return partners_[peer].address; }

    // Returns 0, -EAGAIN when no request is free (progress, then retry),
    // -EMSGSIZE beyond max_message(), -EINVAL for bad arguments.
    int send(const SendArgs& args, TimePoint now);
    int recv(const RecvArgs& args, TimePoint now);

    // Cancels a posted, unmatched receive (completed as Status::Canceled).
    bool cancel(void* context);

    // Handles received frames and expired timers.
    void progress(TimePoint now);

    // Sends the acks owed to peers now (before closing).
    void flush();

    // When progress() next has timed work to do; TimePoint::max() when none.
    // Handling a burst of frames may leave some for the next call: the
    // link's descriptor then stays readable.
    TimePoint next_timer() const;

private:
    struct Pull;

    // FrameSink
    void on_frame(std::span<const uint8_t> frame, const link::Route& from) override;
    void handle_frame(std::span<const uint8_t> frame, const link::Route& from);
    TimePoint now_ = {};

    // Sending.
    void start_connect(PeerId peer, Partner& partner);
    void send_connect(Partner& partner, bool reply, uint32_t requester_session, uint8_t connect_seq,
                      wire::ConnectStatus status);
    void transmit(Partner& partner, SendRequest* request);
    void emit(Partner& partner, SendRequest* request);
    void send_ack(Partner& partner);
    void send_nack(const wire::Frame& frame, const link::Route& from, uint8_t src_endpoint, uint16_t seq);
    int send_frame(const link::Route& route, std::span<const uint8_t> header, std::span<const iovec> payload);
    wire::Head head_for(const Partner& partner) const;
    uint16_t piggyack(Partner& partner);

    // Receiving.
    Partner* partner_of_frame(const wire::Frame& frame, const link::Route& from, PeerId* id, bool create);
    Partner* sequenced_partner(const wire::Frame& frame, const link::Route& from, uint8_t src_endpoint,
                               uint32_t session, uint16_t wire_seq, uint16_t wire_ack, PeerId* id);
    bool accept_seq(Partner& partner, uint16_t wire_seq, int frag);
    void advance_match(PeerId peer, Partner& partner);
    void keep_early(Partner& partner, uint16_t seq, int frag);
    void replay_early(Partner& partner);
    void drop_early(Partner& partner);
    void apply_ack(PeerId peer, Partner& partner, uint16_t wire_ack);
    void adopt_peer(PeerId peer, Partner& partner, uint32_t session, uint16_t expected, bool reply);
    void received_message(Partner& partner);
    void on_message(const wire::Frame& frame, const link::Route& from);
    void on_medium(const wire::Frame& frame, const link::Route& from);
    void on_rndv(const wire::Frame& frame, const link::Route& from);
    void on_notify(const wire::Frame& frame, const link::Route& from);
    void on_connect(const wire::Frame& frame, const link::Route& from);
    void on_truc(const wire::Frame& frame, const link::Route& from);
    void on_nack_lib(const wire::Frame& frame, const link::Route& from);
    void on_pull(const wire::Frame& frame, const link::Route& from);
    void on_pull_reply(const wire::Frame& frame);
    void on_nack_mcp(const wire::Frame& frame);

    // Matching.
    RecvRequest* match_posted(bool tagged, uint64_t match, PeerId peer);
    void deliver_whole(PeerId peer, uint8_t flags, uint64_t match, std::span<const uint8_t> data, bool* kept);
    void finish_medium(PeerId peer, Partner& partner, size_t index);
    void drop_partial(Partner& partner, size_t index, Status status);
    void repost(RecvRequest* recv);
    void complete_recv(RecvRequest* recv, Status status);
    void complete_send(SendRequest* request, Status status);
    bool take_unexpected_budget(size_t bytes);

    // Large messages.
    void start_pull(RecvRequest* recv, PeerId peer, uint8_t region, uint8_t region_seq);
    void request_block(Pull& pull, size_t block);
    void finish_pull(Pull& pull, Status status);
    void send_notify(PeerId peer, uint8_t region, uint8_t region_seq, uint32_t length);
    int allocate_region(SendRequest* request);

    // Failures.
    void reset_partner(PeerId peer, Partner& partner, Status status);
    void fail_sends(PeerId peer, Partner& partner, Status status);
    void timers(TimePoint now);

    Config config_;
    std::unique_ptr<link::Link> link_;
    CompletionSink& sink_;
    uint32_t session_;
    uint64_t board_;
    uint8_t endpoint_id_;
    Counters counters_;

    std::vector<Partner> partners_;
    std::unordered_map<uint64_t, PeerId> partner_index_;  // board << 8 | endpoint

    Pool<SendRequest> sends_;
    Pool<RecvRequest> recvs_;
    IntrusiveList<RecvRequest> posted_;
    uint64_t recv_order_ = 0;
    IntrusiveList<Unexpected> unexpected_;
    size_t unexpected_bytes_ = 0;

    // Large sends that receivers may pull, by region id.
    std::array<SendRequest*, 256> regions_{};
    std::array<uint8_t, 256> region_seqs_{};
    std::vector<uint8_t> free_regions_;

    struct PendingNotify {
        PeerId peer;
        uint8_t region;
        uint8_t region_seq;
        uint32_t length;
    };
    std::vector<PendingNotify> notify_backlog_;  // NOTIFYs that found no free request
    std::vector<Pull> pulls_;
    std::vector<uint32_t> free_pulls_;
    size_t active_pulls_ = 0;
    IntrusiveList<RecvRequest> waiting_pulls_;  // matched large receives, for a free pull slot

    // The frame being handled, for keep_early() to copy.
    std::span<const uint8_t> frame_bytes_;
    link::Route frame_from_;
    PeerId advanced_ = kNoPeer;  // whose next_match_seq moved: early frames may be due
    std::vector<std::vector<uint8_t>> spare_frames_;  // buffers of early frames, kept for reuse
};

}  // namespace xen2mx::engine
