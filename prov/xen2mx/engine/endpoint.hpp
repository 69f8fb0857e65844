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
#include <utility>
#include <vector>

#include "engine/intrusive_list.hpp"
#include "engine/partner.hpp"
#include "engine/requests.hpp"
#include "engine/rma.hpp"
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
    bool report = true;  // post a completion entry (false: selective completion)
    // A multi-receive buffer (untagged, one iovec): messages are placed back
    // to back, each only if it fits whole; the buffer is released once less
    // than min_free bytes remain, or when a message does not fit.
    bool multi = false;
    size_t min_free = 0;
};

// What a probe looks for, as a receive would take it.
struct ProbeArgs {
    uint64_t tag = 0;
    uint64_t ignore = 0;
    bool tagged = true;
    PeerId from = kNoPeer;
    void* context = nullptr;
    ProbeAction action = ProbeAction::Peek;
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
    // Before sleeping on wait_fd(): false when frames already wait.
    bool prepare_wait() { return link_->arm_wakeup(); }
    size_t max_message() const;

    // The partner for an address, added on first use.
    PeerId peer_of(const link::Address& address);
    const link::Address& peer_address(PeerId peer) const { return partners_[peer].address; }
    // Whether sends to the peer wait for the connection to be set up.
    bool connecting(PeerId peer) const { return !partners_[peer].pending.empty(); }

    // Returns 0, -EAGAIN when no request is free (progress, then retry),
    // -EMSGSIZE beyond max_message(), -EINVAL for bad arguments.
    int send(const SendArgs& args, TimePoint now);
    int recv(const RecvArgs& args, TimePoint now);

    // One-sided operations (engine/rma.cpp): the same returns as send(),
    // and -EOPNOTSUPP where the wire cannot carry them (DGRAM, MX's layout).
    // The regions peers may reach are looked up in `regions`; without one,
    // every request of a peer is refused.
    void set_regions(RegionDirectory* regions) { regions_dir_ = regions; }
    int rma(const RmaArgs& args, TimePoint now);
    // The largest RMA data carried in the request or reply frame itself.
    size_t rma_inline_max() const;
    // Whether the application must hear of every read of its memory (a
    // remote-read counter, FI_RMA_EVENT): peers' KEY_PULLs are then refused,
    // so that their reads come as RMA_REQUESTs, which are seen here.
    void set_read_events(bool wanted) { read_events_ = wanted; }
    // The link answers KEY_PULLs for the region itself (Link::serve_keyed);
    // callable from any thread, without the endpoint's lock.
    int serve_keyed(uint32_t slot, uint64_t key, uint64_t base, std::span<const iovec> data) {
        return link_->serve_keyed(slot, key, base, data);
    }
    void withdraw_keyed(uint32_t slot) { link_->withdraw_keyed(slot); }

    // Looks in the unexpected queue for the oldest message a receive with
    // these arguments would take. The answer is a completion marked `probe`:
    // the message described (nothing moved; message_length is its size), or
    // Status::NoMessage. It may come later than the call: a medium message is
    // described once whole, a large one with CQ data once those 8 bytes are
    // pulled. Claim sets the message aside for claim() under args.context;
    // Discard drops it (a large one's sender is told it is done).
    int probe(const ProbeArgs& args, TimePoint now);

    // Receives into args.iov, or with `discard` drops, the message a probe
    // claimed under args.context. -ENOMSG when there is none.
    int claim(const RecvArgs& args, bool discard, TimePoint now);

    // Cancels a posted, unmatched receive (completed as Status::Canceled).
    // A multi-receive buffer takes no more messages: it is released at once,
    // or with the last message still arriving into it.
    bool cancel(void* context);

    // Handles received frames and expired timers.
    void progress(TimePoint now);
    // The same, looking at everything the link has (Link::poll_all): for
    // threads that wake rarely or have just slept.
    void progress_all(TimePoint now);

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
    void on_frame_from(std::span<const uint8_t> frame, const link::Route& from, uint8_t source_endpoint) override;
    void on_route_lost(const link::Route& route) override;
    void handle_frame(std::span<const uint8_t> frame, const link::Route& from);
    bool vouched(const wire::Frame& frame) const;
    TimePoint now_ = {};

    // Sending.
    void start_connect(PeerId peer, Partner& partner);
    void send_connect(Partner& partner, bool reply, uint32_t requester_session, uint8_t connect_seq,
                      wire::ConnectStatus status);
    void resolve(Partner& partner);
    void transmit(Partner& partner, SendRequest* request);
    void transmit_lossless(Partner& partner, SendRequest* request);
    int emit(Partner& partner, SendRequest* request);
    void submit(PeerId peer, Partner& partner, SendRequest* request);
    void gather(SendRequest* request, std::span<const iovec> iov, bool copy);
    void delivered(Partner& partner, SendRequest* request);
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
    template <typename Body>
    Partner* take_in_turn(const wire::Frame& frame, const link::Route& from, const Body& body, PeerId* peer);
    void keep_early(Partner& partner, uint16_t seq, int frag);
    void replay_early(Partner& partner);
    void drop_early(Partner& partner);
    void apply_ack(PeerId peer, Partner& partner, uint16_t wire_ack);
    void adopt_peer(PeerId peer, Partner& partner, uint32_t session, uint16_t expected, uint32_t peer_frame,
                    bool reply);
    void received_message(Partner& partner);
    void on_message(const wire::Frame& frame, const link::Route& from);
    void on_medium(const wire::Frame& frame, const link::Route& from);
    void on_rndv(const wire::Frame& frame, const link::Route& from);
    void on_notify(const wire::Frame& frame, const link::Route& from);
    void on_connect(const wire::Frame& frame, const link::Route& from);
    void on_truc(const wire::Frame& frame, const link::Route& from);
    void on_nack_lib(const wire::Frame& frame, const link::Route& from);
    void on_pull(const wire::Frame& frame, const link::Route& from);
    Pull* pull_of(const wire::Frame& frame, uint32_t magic, uint32_t handle);
    void on_pull_reply(const wire::Frame& frame);
    void on_nack_mcp(const wire::Frame& frame);
    template <typename Body>
    Partner* puller_of(const wire::Frame& frame, const link::Route& from, const Body& pull, PeerId* peer);
    void send_pull_nack(Partner& partner, uint32_t handle, uint32_t magic, wire::NackType type);
    void send_pull_replies(Partner& partner, std::span<const iovec> data, uint64_t start, uint32_t length,
                           uint32_t reply_max, uint32_t frame_index, uint32_t handle, uint32_t magic);

    // RMA (engine/rma.cpp).
    struct PendingReply {
        PeerId peer;
        wire::RmaRequest request;
        wire::RmaStatus status;
        std::vector<uint8_t> bytes;  // fetched values of an atomic
    };
    int emit_rma(Partner& partner, SendRequest* request, uint16_t seq, uint32_t session);
    void on_rma_request(const wire::Frame& frame, const link::Route& from);
    void on_rma_reply(const wire::Frame& frame, const link::Route& from);
    void serve_rma(PeerId peer, const wire::RmaRequest& request, std::span<const uint8_t> payload, uint32_t channel);
    void serve_read(PeerId peer, const wire::RmaRequest& request);
    bool start_key_read(PeerId peer, Partner& partner, SendRequest* request);
    void on_key_pull(const wire::Frame& frame, const link::Route& from);
    void serve_atomic(PeerId peer, const wire::RmaRequest& request, std::span<const uint8_t> payload);
    int prepare_atomic(SendRequest* request, const RmaArgs& args);
    void refuse_rma(PeerId peer, const wire::RmaRequest& request, Status status);
    void send_rma_reply(PeerId peer, const wire::RmaRequest& request, wire::RmaStatus status,
                        std::span<const iovec> data, bool by_region, std::span<const uint8_t> bytes = {});
    void remote_event(PeerId peer, RmaRole role, size_t length, bool has_data, uint64_t data,
                      Status status = Status::Ok, bool atomic = false);
    void finish_rma_pull(RecvRequest* recv, Status status);
    SendRequest* rma_request_of(uint32_t handle, PeerId peer);
    void serve_reply_backlog();
    // The largest RMA data carried inline in a frame of these limits.
    size_t rma_inline_max(const wire::WireLimits& limits) const;

    // Matching.
    RecvRequest* match_posted(uint8_t flags, uint64_t match, size_t length, PeerId peer);
    Unexpected* first_unexpected(const RecvRequest& recv);
    void take_unexpected(RecvRequest* recv, Unexpected* unexpected);
    void release_unexpected(Unexpected* unexpected);
    void drop_unexpected(Unexpected* unexpected);

    // Multi-receive buffers.
    void post_multi(RecvRequest* buffer);
    RecvRequest* carve(RecvRequest* buffer, size_t payload, bool listed);
    void retire(RecvRequest* buffer, bool listed);
    void release_buffer(RecvRequest* buffer);
    void abandon_piece(RecvRequest* piece);

    // Probes.
    void evaluate_probe(RecvRequest* probe);
    void answer_probe(RecvRequest* probe, Unexpected* unexpected);
    void probe_not_found(RecvRequest* probe);
    void settle(Unexpected* unexpected);
    void fetched(RecvRequest* probe, Status status);
    void run_rescans();
    void deliver_whole(PeerId peer, uint8_t flags, uint64_t match, std::span<const uint8_t> data, bool* kept);
    void finish_medium(PeerId peer, Partner& partner, size_t index);
    void drop_partial(Partner& partner, size_t index, Status status);
    void repost(RecvRequest* recv);
    void complete_recv(RecvRequest* recv, Status status);
    void complete_send(SendRequest* request, Status status);
    bool take_unexpected_budget(size_t bytes);

    // Wire limits: those of a frame size (the link's largest gets
    // config_.limits); of the frames a route carries (Link::max_frame_to);
    // of the frames used with a partner (the smaller of its advertised
    // frame and ours, or our path's when it advertised none: see
    // Partner::path_frame); and for what is decided when an operation is
    // posted, those used with the partner or, while no connection has agreed
    // on them yet, cautious ones (kCautiousFrame).
    wire::WireLimits limits_of_frame(size_t frame);
    wire::WireLimits limits_for(const link::Route& route);
    wire::WireLimits limits_with(Partner& partner);
    wire::WireLimits sizing_limits(Partner& partner);
    size_t path_frame(Partner& partner);
    size_t advertised_frame(Partner& partner);
    uint32_t usable_frame(uint16_t advertised) const;
    void set_route(Partner& partner, const link::Route& route);
    // What a received frame is checked against: the limits agreed on with
    // its sender for MEDIUM and PULL, the link's widest for the rest.
    wire::WireLimits decode_limits(std::span<const uint8_t> frame, const link::Route& from);
    // A request posted before the frame size was agreed on that the agreed
    // frames cannot carry as it was sized goes by rendezvous instead; false
    // when no region is left for that.
    bool refit(Partner& partner, SendRequest* request);

    // Large messages.
    void start_pull(RecvRequest* recv, PeerId peer, uint8_t region, uint8_t region_seq, uint32_t channel);
    bool read_directly(RecvRequest* recv, PeerId peer, uint8_t region, uint8_t region_seq, uint32_t channel);
    void request_block(Pull& pull, size_t block);
    bool may_request(const Pull& pull) const;
    void feed_pull(Pull& pull);
    void feed_starved_pulls();
    void release_blocks(Pull& pull);
    void finish_pull(Pull& pull, Status status);
    void send_notify(PeerId peer, uint8_t region, uint8_t region_seq, uint32_t length);
    int allocate_region(SendRequest* request);
    void offer_region(SendRequest* request);

    // Failures.
    void reset_partner(PeerId peer, Partner& partner, Status status);
    void peer_closed(PeerId peer, Partner& partner);
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
    // Probes whose message went away before they could describe it: they
    // look again once the call that took it is done.
    IntrusiveList<RecvRequest> rescans_;

    // Large sends that receivers may pull, by region id.
    std::array<SendRequest*, 256> regions_{};
    std::array<uint8_t, 256> region_seqs_{};
    std::vector<uint8_t> free_regions_;
    bool link_pulls_ = true;  // the link may answer pulls itself (until it says it never can)

    struct PendingNotify {
        PeerId peer;
        uint8_t region;
        uint8_t region_seq;
        uint32_t length;
    };
    std::vector<PendingNotify> notify_backlog_;  // NOTIFYs that found no free request

    RegionDirectory* regions_dir_ = nullptr;
    bool read_events_ = false;  // set_read_events()
    bool key_pulls_off_ = false;  // the link cannot send KEY_PULLs: reads go as requests
    Pool<RecvRequest> rma_pulls_;  // pulls of RMA data, both directions
    uint32_t rma_serial_ = 0;      // makes RMA handles unique over time
    std::vector<PendingReply> reply_backlog_;  // answers that found no free request or region
    // Frame sizes smaller than the link's largest, with their limits.
    std::vector<std::pair<size_t, wire::WireLimits>> route_limits_;
    std::vector<Pull> pulls_;
    // Pulls over the network keep the replies they wait for within what the
    // link holds between polls (Link::receive_window; 0: no bound): more
    // would be dropped there and pulled again.
    size_t pull_window_ = 0;
    size_t pull_bytes_out_ = 0;  // bytes of the blocks requested and not all received
    bool pulls_starved_ = false;  // a pull waits for room in the window
    std::vector<uint32_t> free_pulls_;
    size_t active_pulls_ = 0;
    IntrusiveList<RecvRequest> waiting_pulls_;  // matched large receives, for a free pull slot

    // The frame being handled, for keep_early() to copy, and the limits the
    // codec checked it against.
    std::span<const uint8_t> frame_bytes_;
    link::Route frame_from_;
    int frame_source_ = -1;  // the sender endpoint the link vouches for, or -1
    wire::WireLimits frame_limits_;
    PeerId advanced_ = kNoPeer;  // whose next_match_seq moved: early frames may be due
    std::vector<std::vector<uint8_t>> spare_frames_;  // buffers of early frames, kept for reuse
};

}  // namespace xen2mx::engine
