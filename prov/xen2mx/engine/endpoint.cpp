#include "engine/endpoint.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "engine/iov.hpp"
#include "engine/seqnum.hpp"
#include "wire/bytes.hpp"

namespace xen2mx::engine {

namespace {

constexpr int kPollBudget = 64;
// Batches of frames one progress call takes at most, so that a flood of
// frames cannot keep the timers (acks, resends) from running.
constexpr int kPollBatches = 16;
// Blocks of a pull requested at once: the sliding window.
constexpr size_t kPullWindow = 4;
constexpr size_t kMaxPulls = 256;
// Distinct frame sizes whose limits are remembered (one per MTU met).
constexpr size_t kRouteLimitsKept = 8;
// Until the frame size with a peer is agreed on, what is decided when an
// operation is posted (medium or rendezvous, inline RMA data or pulled)
// assumes frames of at most this size: the least a path of the udp link
// gets, in which a medium message of 32 KiB (the rendezvous threshold)
// still fits 32 frags. Agreed frames are hardly ever smaller; when they are,
// refit() mends what was sized for these.
constexpr size_t kCautiousFrame = 48 + 32768 / 32;
// The largest frame a CONNECT can advertise (a 16-bit field).
constexpr size_t kAdvertisedFrameMax = 0xffff;
// Unreliable medium messages are given up when this many newer ones are
// being assembled, or when they are not complete after kDgramReassembly: a
// lost frag is never resent, and the receive they hold must be freed.
constexpr size_t kMaxDgramPartials = 8;
constexpr Duration kDgramReassembly = std::chrono::seconds(1);
// Frames kept per partner while an earlier one is missing, and how far
// ahead they may be (MX's early packet window).
constexpr size_t kEarlyFrames = 256;
constexpr uint16_t kEarlyWindow = 255;
// Unacked sends per partner must stay within half the 14-bit sequence space
// (MX's throttling limit), or an ack could not tell old from new.
constexpr size_t kMaxSends = (seqnum::kHalf - 1) - kNotifyReserve;

uint64_t partner_key(uint64_t board, uint8_t endpoint) { return (board << 8) | endpoint; }

bool tag_matches(const RecvRequest& recv, bool tagged, uint64_t match, PeerId peer) {
    if (recv.tagged != tagged) return false;
    if (recv.from != kNoPeer && recv.from != peer) return false;
    return !tagged || ((match | recv.ignore) == (recv.tag | recv.ignore));
}

uint32_t frag_mask(size_t length, uint32_t frag_max) {
    const size_t frags = length == 0 ? 1 : (length + frag_max - 1) / frag_max;
    return frags >= 32 ? ~uint32_t{0} : (uint32_t{1} << frags) - 1;
}

uint64_t read_prefix(const std::array<uint8_t, kDataPrefix>& prefix) {
    return (uint64_t{wire::get_be32(prefix.data())} << 32) | wire::get_be32(prefix.data() + 4);
}

void write_prefix(std::array<uint8_t, kDataPrefix>& prefix, uint64_t value) {
    wire::put_be32(prefix.data(), static_cast<uint32_t>(value >> 32));
    wire::put_be32(prefix.data() + 4, static_cast<uint32_t>(value));
}

// What a message carries beyond its CQ data prefix.
size_t payload_of(uint8_t flags, size_t length) {
    return length - ((flags & kFlagCqData) ? std::min(kDataPrefix, length) : 0);
}

}  // namespace

// Whether a finished pull ends a message, whose sender is then told with a
// NOTIFY. A probe's pull of CQ data leaves the message to the receive that
// takes it; RMA pulls are answered by the RMA protocol (engine/rma.cpp).
bool completes_message(const RecvRequest& recv) {
    return recv.kind != RecvRequest::Kind::Probe && recv.kind != RecvRequest::Kind::RmaTarget &&
           recv.kind != RecvRequest::Kind::RmaFetch;
}

const char* status_text(Status status) {
    switch (status) {
    case Status::Ok: return "success";
    case Status::Truncated: return "message truncated to the receive buffer";
    case Status::Canceled: return "operation canceled";
    case Status::PeerTimeout: return "peer did not answer within the peer timeout";
    case Status::PeerRefused: return "peer refused the connection (endpoint key mismatch)";
    case Status::PeerReset: return "peer restarted while the operation was in flight";
    case Status::PeerGone: return "peer closed its endpoint or exited while the operation was in flight";
    case Status::ReadFailed: return "the sender's memory could not be read";
    case Status::NoResources: return "no room for an unexpected message or an RMA operation";
    case Status::NoMessage: return "no matching message is waiting";
    case Status::AccessDenied: return "the target has no memory region with that key open to this access";
    case Status::OutOfBounds: return "the bytes are not all inside the target's memory region";
    case Status::Unsupported: return "the target does not offer this operation";
    }
    return "unknown status";
}

// ------------------------------------------------------------------ requests

void RecvRequest::prepare(uint8_t message_flags, uint64_t message_match, size_t length, PeerId source) {
    flags = message_flags;
    match = message_match;
    message_length = length;
    peer = source;
    matched = true;
    dest_count = 0;
    if (flags & kFlagCqData) dest[dest_count++] = iovec{prefix.data(), prefix.size()};
    for (size_t i = 0; i < iov_count; ++i) dest[dest_count++] = iov[i];
    const size_t room = capacity + ((flags & kFlagCqData) ? kDataPrefix : 0);
    transfer_length = std::min(length, room);
}

// A pull: a large message the receiver fetches block by block.
struct Endpoint::Pull {
    struct Block {
        bool in_use = false;
        uint64_t offset = 0;
        uint32_t length = 0;
        uint64_t missing = 0;  // a bit per PULL_REPLY still to come
        // A sender answers PULLs in the order they came and may take
        // longer than the resend delay over a block; asking again for one
        // whose replies are still coming has it send the whole block
        // twice. So a block is asked for again at once when the sender
        // went on to a block asked for after it (what it lacks was lost),
        // and otherwise only once it heard nothing for its delay and
        // either its replies stopped or the whole pull is silent.
        TimePoint heard{};    // its last request or reply
        Duration delay{};
        uint32_t order = 0;   // when it was last asked for, in the pull's requests
        bool answered = false;  // a reply came since then
    };
    bool active = false;
    uint32_t generation = 1;
    RecvRequest* recv = nullptr;
    PeerId peer = kNoPeer;
    uint8_t region = 0;
    uint8_t region_seq = 0;
    uint64_t length = 0;      // bytes to pull
    uint64_t requested = 0;   // bytes asked for so far
    uint64_t received = 0;
    uint32_t reply_max = 0;  // of the route's limits
    uint32_t block_max = 0;  // bytes one PULL asks for
    bool windowed = false;   // its blocks count in the pull window
    std::array<Block, kPullWindow> blocks{};
    TimePoint last_progress{};
    TimePoint last_request{};
    uint32_t requests = 0;
    uint32_t answered_order = 0;  // the latest-asked block a reply came for

    // When the block is due to be asked for again.
    TimePoint block_due(const Block& block) const {
        if (answered_order > block.order) return block.heard;
        const TimePoint since = block.answered ? block.heard : std::max({block.heard, last_request, last_progress});
        return since + block.delay;
    }

    uint32_t handle(uint32_t index) const { return (index << 22) | (generation & 0x3fffff); }
};

// ------------------------------------------------------------------ lifetime

Endpoint::Endpoint(const Config& config, std::unique_ptr<link::Link> link, CompletionSink& sink, uint32_t session)
    : config_(config),
      link_(std::move(link)),
      sink_(sink),
      session_(session),
      board_(link_->board()),
      endpoint_id_(link_->endpoint_id()),
      sends_(std::min(config.max_sends, kMaxSends) + kNotifyReserve),
      recvs_(config.max_recvs),
      rma_pulls_(sends_.size() + kMaxPulls),
      pulls_(kMaxPulls) {
    config_.rndv_threshold = std::min<size_t>(config_.rndv_threshold, config_.limits.medium_msg_max());
    free_regions_.reserve(regions_.size());
    for (int i = 255; i >= 0; --i) free_regions_.push_back(static_cast<uint8_t>(i));
    free_pulls_.reserve(kMaxPulls);
    notify_backlog_.reserve(kMaxPulls);
    for (uint32_t i = kMaxPulls; i > 0; --i) free_pulls_.push_back(i - 1);
    partners_.reserve(64);
}

Endpoint::~Endpoint() {
    // The link stops reading the application's memory before the
    // application may free it.
    for (SendRequest* request : regions_)
        if (request && request->link_serves) link_->withdraw_region(request->region);
    unexpected_.for_each([](Unexpected* u) { std::unique_ptr<Unexpected> owner(u); });
}

link::Address Endpoint::address() const {
    const link::Route route = link_->local_route();
    link::Address address;
    address.board = board_;
    address.endpoint = endpoint_id_;
    address.ipv4 = route.ipv4;
    address.udp_port = route.udp_port;
    return address;
}

size_t Endpoint::max_message() const {
    return config_.reliable ? size_t{0xffffffff} : config_.limits.medium_msg_max();
}

PeerId Endpoint::peer_of(const link::Address& address) {
    const uint64_t key = partner_key(address.board, address.endpoint);
    auto found = partner_index_.find(key);
    if (found != partner_index_.end()) return found->second;
    Partner partner;
    partner.address = address;
    partner.route = link::network_route(address);
    partner.partials.reserve(4);
    partners_.push_back(std::move(partner));
    const PeerId id = static_cast<PeerId>(partners_.size() - 1);
    partner_index_.emplace(key, id);
    return id;
}

// ------------------------------------------------------------------ frame sizes

// Frames smaller than the link's largest (a path with a smaller MTU, or a
// peer's) get the limits of their size; the few sizes met are remembered.
// MX's layout has fixed limits.
wire::WireLimits Endpoint::limits_of_frame(size_t frame) {
    if (config_.mode != wire::WireMode::OpenMx) return config_.limits;
    if (frame >= link_->max_frame()) return config_.limits;
    for (const auto& [size, limits] : route_limits_)
        if (size == frame) return limits;
    const auto limits = wire::WireLimits::open_mx(static_cast<uint32_t>(frame));
    if (!limits) return config_.limits;
    if (route_limits_.size() < kRouteLimitsKept) route_limits_.emplace_back(frame, *limits);
    return *limits;
}

wire::WireLimits Endpoint::limits_for(const link::Route& route) { return limits_of_frame(link_->max_frame_to(route)); }

// Looked up once per route: the link may learn another MTU later, but both
// ends must keep the sizes they agreed on.
size_t Endpoint::path_frame(Partner& partner) {
    if (!partner.path_frame) partner.path_frame = link_->max_frame_to(partner.route);
    return partner.path_frame;
}

void Endpoint::set_route(Partner& partner, const link::Route& route) {
    partner.route = route;
    partner.path_frame = 0;
}

// What we tell the peer our path carries; the peer takes the smaller of it
// and its own, and so do we.
size_t Endpoint::advertised_frame(Partner& partner) { return std::min(path_frame(partner), kAdvertisedFrameMax); }

// A peer's advertisement, if it is one the wire can use. MX's layout has
// fixed limits and nothing to agree on.
uint32_t Endpoint::usable_frame(uint16_t advertised) const {
    if (config_.mode != wire::WireMode::OpenMx || !wire::WireLimits::open_mx(advertised)) return 0;
    return advertised;
}

wire::WireLimits Endpoint::limits_with(Partner& partner) {
    if (!partner.frame_agreed || !partner.peer_frame) return limits_of_frame(path_frame(partner));
    return limits_of_frame(std::min<size_t>(advertised_frame(partner), partner.peer_frame));
}

wire::WireLimits Endpoint::sizing_limits(Partner& partner) {
    if (!config_.reliable || partner.frame_agreed) return limits_with(partner);
    return limits_of_frame(std::min(path_frame(partner), kCautiousFrame));
}

wire::WireLimits Endpoint::decode_limits(std::span<const uint8_t> frame, const link::Route& from) {
    if (config_.mode != wire::WireMode::OpenMx) return config_.limits;
    const std::optional<wire::Sender> sender = wire::sender_for_limits(frame, config_.mode);
    // The checks of the other types do not depend on the frame size: they
    // take whatever a peer sends, up to the link's largest frame.
    if (!sender) return config_.limits;
    auto found = partner_index_.find(partner_key(sender->board, sender->endpoint));
    if (found == partner_index_.end()) return limits_for(from);
    Partner& partner = partners_[found->second];
    // partner_of_frame() is about to take the same-host channel it came on.
    if (from.lossless() && !partner.resolved) return limits_for(from);
    return limits_with(partner);
}

// Requests wait for the connection sized with kCautiousFrame's limits (or
// the path's, when smaller); frames agreed on below those cannot carry a
// medium message or inline RMA data of that size: such a request goes by
// rendezvous instead, its data pulled. Between xen2mx peers this happens
// only on paths with an MTU under 1100 bytes.
bool Endpoint::refit(Partner& partner, SendRequest* request) {
    const wire::WireLimits limits = limits_with(partner);
    const bool medium = request->kind == SendRequest::Kind::Medium && request->length > limits.medium_msg_max();
    const bool write = request->kind == SendRequest::Kind::RmaWrite && !(request->rma_flags & wire::kRmaPulled) &&
                       request->length > rma_inline_max(limits);
    if (!medium && !write) return true;
    if (allocate_region(request) != 0) return false;
    if (medium) request->kind = SendRequest::Kind::Large;
    else request->rma_flags |= wire::kRmaPulled;
    return true;
}

// ------------------------------------------------------------------ posting

int Endpoint::send(const SendArgs& args, TimePoint now) {
    now_ = now;
    if (args.peer >= partners_.size() || args.iov.size() > kMaxIov) return -EINVAL;
    const size_t payload = iov_length(args.iov);
    const size_t length = payload + (args.has_data ? kDataPrefix : 0);
    if (length > max_message()) return -EMSGSIZE;
    if (sends_.available() <= kNotifyReserve) return -EAGAIN;
    Partner& partner = partners_[args.peer];
    resolve(partner);
    if (partner.route.lossless() && link_->backlogged(partner.route)) return -EAGAIN;
    const uint64_t medium_max = sizing_limits(partner).medium_msg_max();
    if (!config_.reliable && length > medium_max) return -EMSGSIZE;
    SendRequest* request = sends_.get();

    request->peer = args.peer;
    request->context = args.context;
    request->report = args.report;
    request->match = args.tag;
    request->flags = static_cast<uint8_t>((args.tagged ? 0 : kFlagUntagged) | (args.has_data ? kFlagCqData : 0));
    request->data = args.data;
    request->length = length;
    if (args.has_data) {
        wire::put_be32(request->prefix.data(), static_cast<uint32_t>(args.data >> 32));
        wire::put_be32(request->prefix.data() + 4, static_cast<uint32_t>(args.data));
        request->iov[request->iov_count++] = iovec{request->prefix.data(), kDataPrefix};
    }
    gather(request, args.iov, args.copy);

    if (!config_.reliable || (length <= std::min<uint64_t>(config_.rndv_threshold, medium_max) && !args.sync)) {
        request->kind = length <= wire::kTinyMax    ? SendRequest::Kind::Tiny
                        : length <= wire::kSmallMax ? SendRequest::Kind::Small
                                                    : SendRequest::Kind::Medium;
    } else {
        request->kind = SendRequest::Kind::Large;
        if (allocate_region(request) != 0) {
            sends_.put(request);
            return -EAGAIN;
        }
    }

    submit(args.peer, partner, request);
    return 0;
}

// Adds the caller's data to a request's gather list, or a copy of it when
// the caller's buffer is free as soon as the call returns.
void Endpoint::gather(SendRequest* request, std::span<const iovec> iov, bool copy) {
    if (!copy) {
        for (const iovec& v : iov) request->iov[request->iov_count++] = v;
        return;
    }
    const size_t length = iov_length(iov);
    request->copy.resize(length);
    size_t at = 0;
    for (const iovec& v : iov) {
        if (v.iov_len) std::memcpy(request->copy.data() + at, v.iov_base, v.iov_len);
        at += v.iov_len;
    }
    request->iov[request->iov_count++] = iovec{request->copy.data(), length};
}

// Sends a request now, or once the connection to its peer is set up.
void Endpoint::submit(PeerId peer, Partner& partner, SendRequest* request) {
    if (!config_.reliable || partner.state == Partner::State::Connected) {
        transmit(partner, request);
        return;
    }
    partner.pending.push_back(request);
    if (partner.state != Partner::State::Connecting) start_connect(peer, partner);
}

int Endpoint::allocate_region(SendRequest* request) {
    if (free_regions_.empty()) return -EAGAIN;
    const uint8_t region = free_regions_.back();
    free_regions_.pop_back();
    regions_[region] = request;
    request->region = region;
    request->region_seq = ++region_seqs_[region];
    // The link answers with the pull reply size the pair agreed on, which a
    // send posted before the connection does not know yet.
    if (!config_.reliable || partners_[request->peer].frame_agreed)
        offer_region(request);
    else
        request->offer_on_transmit = true;
    return 0;
}

// Lets the link answer the peer's pulls of a region by itself (the kmod
// link: the kernel, from the pinned memory), so that they do not wait for
// this process to progress. Where it will not, they reach on_pull() as
// before. Requests are complete here: data, length and peer are set.
void Endpoint::offer_region(SendRequest* request) {
    Partner& partner = partners_[request->peer];
    if (!link_pulls_ || partner.route.lossless()) return;
    link::PullRegion region;
    region.region = request->region;
    region.seq = request->region_seq;
    region.peer_board = partner.address.board;
    region.peer_endpoint = partner.address.endpoint;
    region.peer_index = partner.peer_index;
    const wire::WireLimits limits = limits_with(partner);
    region.reply_max = limits.pull_reply_max;
    region.replies_per_block = limits.replies_per_block;
    region.mx_layout = config_.mode == wire::WireMode::MxCompat;
    const int ret = link_->serve_region(region, {request->iov.data(), request->iov_count});
    if (ret == 0) {
        request->link_serves = true;
        ++counters_.regions_link_served;
        return;
    }
    if (ret == -EOPNOTSUPP) {
        link_pulls_ = false;
        return;
    }
    ++counters_.regions_link_refused;
}

int Endpoint::recv(const RecvArgs& args, TimePoint now) {
    now_ = now;
    if (args.iov.size() > kMaxIov) return -EINVAL;
    if (args.from != kNoPeer && args.from >= partners_.size()) return -EINVAL;
    // A multi-receive buffer is one stretch of memory that untagged messages fill.
    if (args.multi && (args.tagged || args.iov.size() != 1)) return -EINVAL;
    RecvRequest* recv = recvs_.get();
    if (!recv) return -EAGAIN;
    recv->context = args.context;
    recv->report = args.report;
    recv->tagged = args.tagged;
    recv->tag = args.tag;
    recv->ignore = args.ignore;
    recv->from = args.from;
    recv->order = recv_order_++;
    for (const iovec& v : args.iov) recv->iov[recv->iov_count++] = v;
    recv->capacity = iov_length(args.iov);

    if (args.multi) {
        recv->kind = RecvRequest::Kind::Multi;
        recv->min_free = args.min_free;
        post_multi(recv);
    } else if (Unexpected* found = first_unexpected(*recv)) {
        take_unexpected(recv, found);
    } else {
        posted_.push_back(recv);
    }
    run_rescans();
    return 0;
}

// The oldest unexpected message a receive or probe may take: order per
// sender holds. Messages already matched or set aside by a probe are not.
Unexpected* Endpoint::first_unexpected(const RecvRequest& recv) {
    return unexpected_.find([&](const Unexpected* u) {
        return !u->claimed && !u->reserved && tag_matches(recv, u->tagged(), u->match, u->peer);
    });
}

void Endpoint::take_unexpected(RecvRequest* recv, Unexpected* found) {
    recv->prepare(found->flags, found->match, found->message_length, found->peer);
    if (found->large) {
        const PeerId peer = found->peer;
        const uint8_t region = found->region;
        const uint8_t region_seq = found->region_seq;
        const uint32_t channel = found->channel;
        release_unexpected(found);
        start_pull(recv, peer, region, region_seq, channel);
        return;
    }
    if (!found->complete) {
        found->claimed = recv;  // the rest of its frags will go there
        return;
    }
    copy_to_iov({recv->dest.data(), recv->dest_count}, 0,
                {found->data.data(), std::min(found->data.size(), recv->transfer_length)});
    release_unexpected(found);
    complete_recv(recv, Status::Ok);
}

// Takes a message off the unexpected queue for good. Probes waiting to
// describe it look again once the current call is done; one pulling its CQ
// data goes on, and answers from what it pulls.
void Endpoint::release_unexpected(Unexpected* unexpected) {
    unexpected_.remove(unexpected);
    unexpected_bytes_ -= unexpected->data.size();
    if (unexpected->fetch) unexpected->fetch->target = nullptr;
    while (RecvRequest* probe = unexpected->probes.pop_front()) {
        probe->target = nullptr;
        rescans_.push_back(probe);
    }
    std::unique_ptr<Unexpected> owner(unexpected);
}

// A message dropped unread. The sender of a large one waits for a NOTIFY
// to let go of its buffer: it gets one that says nothing was pulled.
void Endpoint::drop_unexpected(Unexpected* unexpected) {
    if (unexpected->large && unexpected->lost == Status::Ok)
        send_notify(unexpected->peer, unexpected->region, unexpected->region_seq, 0);
    release_unexpected(unexpected);
}

bool Endpoint::cancel(void* context) {
    RecvRequest* recv = posted_.find([context](const RecvRequest* r) { return r->context == context; });
    if (!recv) return false;
    posted_.remove(recv);
    if (recv->kind == RecvRequest::Kind::Multi && recv->pieces) {
        // Messages are still arriving into it: the last of them releases it.
        recv->retired = true;
        return true;
    }
    complete_recv(recv, Status::Canceled);
    return true;
}

// ------------------------------------------------------------------ multi-receive buffers

// A new buffer first takes the unexpected messages it matches, in order.
void Endpoint::post_multi(RecvRequest* buffer) {
    while (Unexpected* found = first_unexpected(*buffer)) {
        RecvRequest* piece = carve(buffer, payload_of(found->flags, found->message_length), false);
        if (!piece) return;  // released: the message waits for the next receive
        // A complete message completes its piece at once, and the last piece
        // of a released buffer frees it: whether it was released is read first.
        const bool released = buffer->retired;
        take_unexpected(piece, found);
        if (released) return;
    }
    posted_.push_back(buffer);
}

// The piece of a buffer that a message of `payload` bytes goes to, right
// after the messages placed before it. Null when the message does not fit
// whole: the buffer is then released, and the message goes on to the next
// receive. The same when no request is left to follow the piece with (all
// of them are in use): releasing the buffer early is the one way on that
// keeps per-sender order.
RecvRequest* Endpoint::carve(RecvRequest* buffer, size_t payload, bool listed) {
    RecvRequest* piece = payload <= buffer->capacity - buffer->used ? recvs_.get() : nullptr;
    if (!piece) {
        retire(buffer, listed);
        return nullptr;
    }
    piece->kind = RecvRequest::Kind::Piece;
    piece->parent = buffer;
    piece->context = buffer->context;
    piece->report = buffer->report;
    piece->tagged = false;
    piece->order = buffer->order;
    piece->iov[0] = iovec{static_cast<uint8_t*>(buffer->iov[0].iov_base) + buffer->used, payload};
    piece->iov_count = 1;
    piece->capacity = payload;
    buffer->used += payload;
    ++buffer->pieces;
    if (buffer->capacity - buffer->used < buffer->min_free) retire(buffer, listed);
    return piece;
}

// The buffer takes no more messages. The application hears that it has it
// back with the completion of the last message placed in it, or, when none
// is still arriving, with a completion of its own.
void Endpoint::retire(RecvRequest* buffer, bool listed) {
    if (listed) posted_.remove(buffer);
    buffer->retired = true;
    if (!buffer->pieces) release_buffer(buffer);
}

void Endpoint::release_buffer(RecvRequest* buffer) {
    Completion c;
    c.context = buffer->context;
    c.released = true;
    c.release_only = true;
    recvs_.put(buffer);
    sink_.complete(c);
}

// A piece whose message will never be whole (a datagram lost a frag): its
// space stays unused.
void Endpoint::abandon_piece(RecvRequest* piece) {
    RecvRequest* buffer = piece->parent;
    recvs_.put(piece);
    if (--buffer->pieces == 0 && buffer->retired) release_buffer(buffer);
}

// ------------------------------------------------------------------ probes

int Endpoint::probe(const ProbeArgs& args, TimePoint now) {
    now_ = now;
    if (args.from != kNoPeer && args.from >= partners_.size()) return -EINVAL;
    RecvRequest* probe = recvs_.get();
    if (!probe) return -EAGAIN;
    probe->kind = RecvRequest::Kind::Probe;
    probe->context = args.context;
    probe->tagged = args.tagged;
    probe->tag = args.tag;
    probe->ignore = args.ignore;
    probe->from = args.from;
    probe->action = args.action;
    evaluate_probe(probe);
    run_rescans();
    return 0;
}

void Endpoint::evaluate_probe(RecvRequest* probe) {
    Unexpected* found = first_unexpected(*probe);
    if (!found) {
        probe_not_found(probe);
        return;
    }
    probe->prepare(found->flags, found->match, found->message_length, found->peer);
    // Set aside at once, so that nothing takes it before the answer.
    if (probe->action != ProbeAction::Peek) found->reserved = true;
    if (found->describable()) {
        answer_probe(probe, found);
        return;
    }
    probe->target = found;
    if (found->large && !found->fetch) {
        // The CQ data travels in front of the payload, still at the sender:
        // those bytes are pulled (prepare() pointed the probe at them). The
        // region stays the sender's until a receive pulls it all.
        found->fetch = probe;
        start_pull(probe, found->peer, found->region, found->region_seq, found->channel);
        return;
    }
    found->probes.push_back(probe);
}

// Describes the message; `found` is null when a probe that pulled the CQ
// data itself saw the message taken meanwhile (only a peek answers then).
void Endpoint::answer_probe(RecvRequest* probe, Unexpected* found) {
    Completion c;
    c.context = probe->context;
    c.tagged = !(probe->flags & kFlagUntagged);
    c.tag = probe->match;
    c.peer = probe->peer;
    c.probe = true;
    c.has_data = probe->flags & kFlagCqData;
    c.message_length = payload_of(probe->flags, probe->message_length);
    if (c.has_data && found) {
        if (found->large) write_prefix(probe->prefix, found->cq_data);
        else std::copy_n(found->data.begin(), std::min(kDataPrefix, found->data.size()), probe->prefix.begin());
    }
    if (c.has_data) c.data = read_prefix(probe->prefix);
    if (found && probe->action == ProbeAction::Claim) {
        found->claim_context = probe->context;
    } else if (found && probe->action == ProbeAction::Discard) {
        c.discarded = true;
        drop_unexpected(found);
    }
    recvs_.put(probe);
    sink_.complete(c);
}

void Endpoint::probe_not_found(RecvRequest* probe) {
    Completion c;
    c.context = probe->context;
    c.tagged = probe->tagged;
    c.probe = true;
    c.status = Status::NoMessage;
    recvs_.put(probe);
    sink_.complete(c);
}

// The message became describable: the probes waiting for it answer. The one
// that reserved it (there is at most one) goes last, as it may drop it.
void Endpoint::settle(Unexpected* found) {
    RecvRequest* holder = nullptr;
    while (RecvRequest* probe = found->probes.pop_front()) {
        probe->target = nullptr;
        if (probe->action == ProbeAction::Peek) answer_probe(probe, found);
        else holder = probe;
    }
    if (holder) answer_probe(holder, found);
}

// The pull of a large message's CQ data ended.
void Endpoint::fetched(RecvRequest* probe, Status status) {
    Unexpected* found = probe->target;
    probe->target = nullptr;
    if (found) found->fetch = nullptr;
    if (status != Status::Ok) {
        // The sender reset or went silent, or a receive took the message and
        // the sender let go of it: it is no longer there to describe. The
        // probes that waited on this pull look again.
        if (found) {
            found->reserved = false;
            while (RecvRequest* waiting = found->probes.pop_front()) {
                waiting->target = nullptr;
                rescans_.push_back(waiting);
            }
        }
        probe_not_found(probe);
        return;
    }
    if (!found) {
        // Taken meanwhile. What was pulled still describes it to a peek; a
        // claim or discard has nothing left to act on, and looks again.
        if (probe->action == ProbeAction::Peek) answer_probe(probe, nullptr);
        else rescans_.push_back(probe);
        return;
    }
    found->cq_data = read_prefix(probe->prefix);
    found->cq_data_known = true;
    found->probes.push_front(probe);
    settle(found);
}

void Endpoint::run_rescans() {
    while (RecvRequest* probe = rescans_.pop_front()) evaluate_probe(probe);
}

int Endpoint::claim(const RecvArgs& args, bool discard, TimePoint now) {
    now_ = now;
    if (args.iov.size() > kMaxIov || !args.context) return -EINVAL;
    Unexpected* found = unexpected_.find([&](const Unexpected* u) { return u->claim_context == args.context; });
    if (!found) return -ENOMSG;
    RecvRequest* recv = recvs_.get();
    if (!recv) return -EAGAIN;
    recv->context = args.context;
    recv->report = args.report;
    recv->tagged = found->tagged();
    recv->order = recv_order_++;
    for (const iovec& v : args.iov) recv->iov[recv->iov_count++] = v;
    recv->capacity = iov_length(args.iov);

    if (found->lost != Status::Ok) {
        const Status lost = found->lost;
        recv->prepare(found->flags, found->match, found->message_length, found->peer);
        release_unexpected(found);
        complete_recv(recv, lost);
    } else if (discard) {
        recv->prepare(found->flags, found->match, found->message_length, found->peer);
        recv->discard = true;
        // The completion still carries the CQ data, known since the probe.
        if (found->large) write_prefix(recv->prefix, found->cq_data);
        else std::copy_n(found->data.begin(), std::min(kDataPrefix, found->data.size()), recv->prefix.begin());
        drop_unexpected(found);
        complete_recv(recv, Status::Ok);
    } else {
        take_unexpected(recv, found);
    }
    run_rescans();
    return 0;
}

// ------------------------------------------------------------------ frames out

wire::Head Endpoint::head_for(const Partner& partner) const {
    wire::Head head;
    head.dst_mac = partner.address.board;
    head.src_mac = board_;
    head.dst_src_peer_index = partner.peer_index;
    return head;
}

int Endpoint::send_frame(const link::Route& route, std::span<const uint8_t> header, std::span<const iovec> payload) {
    std::array<iovec, kMaxIovWithData + 1> parts;
    parts[0] = iovec{const_cast<uint8_t*>(header.data()), header.size()};
    size_t count = 1;
    for (const iovec& v : payload) {
        if (v.iov_len) parts[count++] = v;
    }
    const int ret = link_->send(route, {parts.data(), count});
    if (ret == 0) ++counters_.frames_sent;
    return ret;
}

uint16_t Endpoint::piggyack(Partner& partner) {
    // Every frame that carries our ack makes a separate one unnecessary.
    partner.not_acked = 0;
    partner.ack_due = false;
    return seqnum::pack(partner.recv_sesnum, partner.ack_value());
}

void Endpoint::resolve(Partner& partner) {
    if (partner.resolved) return;
    set_route(partner, link_->route_to(partner.address));
    partner.resolved = true;
}

void Endpoint::transmit(Partner& partner, SendRequest* request) {
    if (config_.reliable && partner.route.lossless()) {
        transmit_lossless(partner, request);
        return;
    }
    if (!config_.reliable) {
        // Datagrams: numbered only so that medium frags find their message.
        request->seq = partner.dgram_seq;
        partner.dgram_seq = seqnum::next(partner.dgram_seq);
        emit(partner, request);
        complete_send(request, Status::Ok);
        return;
    }
    if (request->offer_on_transmit) {
        request->offer_on_transmit = false;
        offer_region(request);
    }
    request->seq = partner.next_send_seq;
    partner.next_send_seq = seqnum::next(partner.next_send_seq);
    request->state = SendRequest::State::Unacked;
    request->first_sent = request->last_sent = now_;
    request->delay = config_.resend_delay;
    partner.unacked.push_back(request);
    emit(partner, request);
}

// A same-host channel neither loses, duplicates nor reorders frames, and
// queues what the peer's ring cannot take yet: a message is as good as
// acknowledged once its frames are handed to it. So nothing waits for acks
// or resends here, and the receiver sends no acks for what comes on such a
// channel. The sequence numbers stay: the connection, its sessions and the
// receiver's order checks are the same as on any route. A peer that goes
// away is known at once from the channel (on_route_lost), not by a timeout.
void Endpoint::transmit_lossless(Partner& partner, SendRequest* request) {
    request->seq = partner.next_send_seq;
    partner.next_send_seq = seqnum::next(partner.next_send_seq);
    request->first_sent = request->last_sent = now_;
    if (emit(partner, request) != 0) {
        complete_send(request, Status::PeerGone);
        return;
    }
    delivered(partner, request);
}

// The peer has a request's frames (acked, or handed to a lossless channel):
// a message is sent; what needs the peer's answer waits for it.
void Endpoint::delivered(Partner& partner, SendRequest* request) {
    switch (request->kind) {
    case SendRequest::Kind::Large:
        // Done when the receiver says it has read the message.
        request->state = SendRequest::State::WaitNotify;
        ++partner.waiting_notify;
        break;
    case SendRequest::Kind::RmaReply:
        // An answer naming a region of ours waits for the reader's NOTIFY.
        if (regions_[request->region] == request) {
            request->state = SendRequest::State::WaitNotify;
            ++partner.waiting_notify;
        } else {
            sends_.put(request);
        }
        break;
    case SendRequest::Kind::RmaWrite:
    case SendRequest::Kind::RmaRead:
    case SendRequest::Kind::RmaAtomic:
        request->state = SendRequest::State::WaitReply;
        partner.awaiting_reply.push_back(request);
        ++partner.waiting_notify;
        break;
    case SendRequest::Kind::Notify: sends_.put(request); break;
    default: complete_send(request, Status::Ok); break;
    }
}

int Endpoint::emit(Partner& partner, SendRequest* request) {
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    const wire::Head head = head_for(partner);
    const uint16_t seq = seqnum::pack(partner.send_sesnum, request->seq);
    const uint32_t session = config_.reliable ? partner.peer_session : 0;
    const std::span<const iovec> iov{request->iov.data(), request->iov_count};
    int ret = 0;

    switch (request->kind) {
    case SendRequest::Kind::Tiny:
    case SendRequest::Kind::Small: {
        wire::MsgHeader msg;
        msg.dst_endpoint = partner.address.endpoint;
        msg.src_endpoint = endpoint_id_;
        msg.src_generation = request->flags;
        msg.length = static_cast<uint16_t>(request->length);
        msg.lib_seqnum = seq;
        msg.lib_piggyack = piggyack(partner);
        msg.match_info = request->match;
        msg.session = session;
        const size_t n = request->kind == SendRequest::Kind::Tiny ? wire::encode_tiny(head, msg, header)
                                                                  : wire::encode_small(head, msg, header);
        ret = send_frame(partner.route, {header.data(), n}, iov);
        break;
    }
    case SendRequest::Kind::Medium: {
        const uint32_t frag_max = limits_with(partner).medium_frag_max;
        const size_t frags = request->length == 0 ? 1 : (request->length + frag_max - 1) / frag_max;
        for (size_t i = 0; i < frags; ++i) {
            const size_t offset = i * frag_max;
            const size_t frag_length = std::min<size_t>(frag_max, request->length - offset);
            wire::MediumFrag frag;
            frag.dst_endpoint = partner.address.endpoint;
            frag.src_endpoint = endpoint_id_;
            frag.src_generation = request->flags;
            frag.msg_length = static_cast<uint32_t>(request->length);
            frag.lib_seqnum = seq;
            frag.lib_piggyack = piggyack(partner);
            frag.match_info = request->match;
            frag.session = session;
            frag.frag_length = static_cast<uint16_t>(frag_length);
            frag.frag_seqnum = static_cast<uint8_t>(i);
            // MX announces the frag size as its log2 (4 KiB: 12).
            frag.frag_pipeline = config_.mode == wire::WireMode::MxCompat
                                     ? static_cast<uint8_t>(std::bit_width(frag_max) - 1)
                                     : 0;
            std::array<iovec, kMaxIovWithData> slice;
            const size_t parts = slice_iov(iov, offset, frag_length, slice);
            const size_t n = wire::encode_medium(head, frag, config_.mode, header);
            if (int sent = send_frame(partner.route, {header.data(), n}, {slice.data(), parts}); sent && !ret)
                ret = sent;
        }
        break;
    }
    case SendRequest::Kind::Large: {
        wire::Rndv rndv;
        rndv.dst_endpoint = partner.address.endpoint;
        rndv.src_endpoint = endpoint_id_;
        rndv.src_generation = request->flags;
        rndv.lib_seqnum = seq;
        rndv.lib_piggyack = piggyack(partner);
        rndv.match_info = request->match;
        rndv.session = session;
        rndv.msg_length = static_cast<uint32_t>(request->length);
        rndv.pulled_rdma_id = request->region;
        rndv.pulled_rdma_seqnum = request->region_seq;
        const size_t n = wire::encode_rndv(head, rndv, header);
        // On a same-host channel the receiver reads the message straight
        // from our memory; it pulls it when it may not.
        if (partner.route.lossless()) link_->expose_region(partner.route, request->region, request->region_seq, iov);
        ret = send_frame(partner.route, {header.data(), n}, {});
        break;
    }
    case SendRequest::Kind::Notify: {
        wire::Notify notify;
        notify.dst_endpoint = partner.address.endpoint;
        notify.src_endpoint = endpoint_id_;
        notify.session = session;
        notify.total_length = request->notify_length;
        notify.pulled_rdma_id = request->region;
        notify.pulled_rdma_seqnum = request->region_seq;
        notify.lib_seqnum = seq;
        notify.lib_piggyack = piggyack(partner);
        const size_t n = wire::encode_notify(head, notify, header);
        ret = send_frame(partner.route, {header.data(), n}, {});
        break;
    }
    case SendRequest::Kind::RmaWrite:
    case SendRequest::Kind::RmaRead:
    case SendRequest::Kind::RmaAtomic:
    case SendRequest::Kind::RmaReply: ret = emit_rma(partner, request, seq, session); break;
    }
    return ret;
}

void Endpoint::send_ack(Partner& partner) {
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    wire::Truc truc;
    truc.dst_endpoint = partner.address.endpoint;
    truc.src_endpoint = endpoint_id_;
    truc.session = partner.peer_session;
    truc.lib_seqnum = piggyack(partner);
    truc.acknum = ++partner.acknum_sent;
    truc.send_seq = truc.lib_seqnum;
    const size_t n = wire::encode_truc(head_for(partner), truc, header);
    if (send_frame(partner.route, {header.data(), n}, {}) == 0) ++counters_.acks_sent;
}

// Tells the sender of a frame that we do not know it under the session it
// used. We answer even a sender we have no partner for: it is most likely a
// peer that talked to an earlier incarnation of this endpoint, and the nack
// lets it find out without waiting for its timeout.
void Endpoint::send_nack(const wire::Frame& frame, const link::Route& from, uint8_t src_endpoint, uint16_t seq) {
    wire::Head head;
    head.dst_mac = frame.head.src_mac;
    head.src_mac = board_;
    link::Route route = from;
    auto found = partner_index_.find(partner_key(frame.head.src_mac, src_endpoint));
    if (found != partner_index_.end()) {
        const Partner& partner = partners_[found->second];
        head.dst_src_peer_index = partner.peer_index;
        route = partner.route;
    }
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    wire::NackLib nack;
    nack.src_endpoint = endpoint_id_;
    nack.nack_type = wire::NackType::BadSession;
    nack.dst_endpoint = src_endpoint;
    nack.dst_src_peer_index = head.dst_src_peer_index;
    nack.lib_seqnum = seq;
    const size_t n = wire::encode_nack_lib(head, nack, header);
    send_frame(route, {header.data(), n}, {});
}

void Endpoint::start_connect(PeerId, Partner& partner) {
    resolve(partner);
    partner.state = Partner::State::Connecting;
    ++partner.connect_seq;
    partner.connect_first = partner.connect_last = now_;
    partner.connect_delay = config_.resend_delay;
    send_connect(partner, false, session_, partner.connect_seq, wire::ConnectStatus::Ok);
}

void Endpoint::send_connect(Partner& partner, bool reply, uint32_t requester_session, uint8_t connect_seq,
                            wire::ConnectStatus status) {
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    wire::Connect connect;
    connect.dst_endpoint = partner.address.endpoint;
    connect.src_endpoint = endpoint_id_;
    connect.src_dst_peer_index = 0;
    connect.src_session_id = requester_session;
    connect.is_reply = reply;
    connect.connect_seqnum = connect_seq;
    // Both tell the other side which sequence number we expect next from it.
    connect.target_recv_seqnum_start = seqnum::pack(partner.recv_sesnum, partner.ack_value());
    if (reply) {
        connect.target_session_id = session_;
        connect.status = static_cast<uint8_t>(status);
    } else {
        connect.app_key = config_.key;
    }
    // MX's layout has no frame size to agree on: its peers get MX's frame.
    if (config_.mode == wire::WireMode::OpenMx)
        connect.max_frame = static_cast<uint16_t>(advertised_frame(partner));
    const size_t n = wire::encode_connect(head_for(partner), connect, header);
    send_frame(partner.route, {header.data(), n}, {});
}

// ------------------------------------------------------------------ frames in

void Endpoint::progress(TimePoint now) {
    now_ = now;
    for (int batch = 0; batch < kPollBatches && link_->poll(*this, kPollBudget) == kPollBudget; ++batch) {
    }
    timers(now);
    run_rescans();
}

void Endpoint::progress_all(TimePoint now) {
    link_->poll_all(*this, kPollBudget);
    progress(now);
}

// Acks wait a little so that one covers several messages; an endpoint about
// to close owes them now, or its peers resend until they time out.
void Endpoint::flush() {
    if (!config_.reliable) return;
    for (Partner& partner : partners_) {
        if (partner.established && (partner.ack_due || partner.not_acked)) send_ack(partner);
    }
}

void Endpoint::on_frame(std::span<const uint8_t> bytes, const link::Route& from) {
    ++counters_.frames_received;
    handle_frame(bytes, from);
    // Frames that waited for this one may be due now.
    while (advanced_ != kNoPeer) {
        Partner& partner = partners_[advanced_];
        advanced_ = kNoPeer;
        replay_early(partner);
    }
}

void Endpoint::on_frame_from(std::span<const uint8_t> bytes, const link::Route& from, uint8_t source_endpoint) {
    frame_source_ = source_endpoint;
    on_frame(bytes, from);
    frame_source_ = -1;
}

// The peers reached through a channel that went away: what was in flight
// with them fails now, and the next message looks for a route again.
void Endpoint::on_route_lost(const link::Route& route) {
    for (size_t id = 0; id < partners_.size(); ++id) {
        Partner& partner = partners_[id];
        if (partner.route.channel != route.channel) continue;
        reset_partner(static_cast<PeerId>(id), partner, Status::PeerGone);
        set_route(partner, link::network_route(partner.address));
        partner.resolved = false;
    }
}

void Endpoint::handle_frame(std::span<const uint8_t> bytes, const link::Route& from) {
    frame_bytes_ = bytes;
    frame_from_ = from;
    frame_limits_ = decode_limits(bytes, from);
    const wire::DecodeResult decoded = wire::decode(bytes, config_.mode, frame_limits_);
    if (!decoded) {
        ++counters_.decode_drops[static_cast<size_t>(decoded.reason())];
        return;
    }
    const wire::Frame& frame = decoded.frame();
    if (frame.head.dst_mac != board_) {
        ++counters_.not_for_us;
        return;
    }
    if (frame_source_ >= 0 && !vouched(frame)) {
        ++counters_.forged_source;
        return;
    }
    switch (frame.type) {
    case wire::PacketType::Tiny:
    case wire::PacketType::Small: on_message(frame, from); break;
    case wire::PacketType::Medium: on_medium(frame, from); break;
    case wire::PacketType::Rndv: on_rndv(frame, from); break;
    case wire::PacketType::Notify: on_notify(frame, from); break;
    case wire::PacketType::Connect: on_connect(frame, from); break;
    case wire::PacketType::Truc: on_truc(frame, from); break;
    case wire::PacketType::NackLib: on_nack_lib(frame, from); break;
    case wire::PacketType::Pull: on_pull(frame, from); break;
    case wire::PacketType::PullReply: on_pull_reply(frame); break;
    case wire::PacketType::NackMcp: on_nack_mcp(frame); break;
    case wire::PacketType::RmaRequest: on_rma_request(frame, from); break;
    case wire::PacketType::RmaReply: on_rma_reply(frame, from); break;
    case wire::PacketType::KeyPull: on_key_pull(frame, from); break;
    default: ++counters_.not_for_us; break;  // host queries and raw frames are not ours to answer
    }
}

// A frame of a channel that names its sender must name that one; a type
// without a sender field has no business on such a channel.
bool Endpoint::vouched(const wire::Frame& frame) const {
    bool same = false;
    std::visit(
        [&](const auto& body) {
            if constexpr (requires { body.src_endpoint; }) same = body.src_endpoint == frame_source_;
        },
        frame.body);
    return same;
}

Partner* Endpoint::partner_of_frame(const wire::Frame& frame, const link::Route& from, PeerId* id, bool create) {
    uint8_t src_endpoint = 0;
    std::visit(
        [&](const auto& body) {
            if constexpr (requires { body.src_endpoint; }) src_endpoint = body.src_endpoint;
        },
        frame.body);
    auto found = partner_index_.find(partner_key(frame.head.src_mac, src_endpoint));
    if (found != partner_index_.end()) {
        *id = found->second;
    } else if (create) {
        link::Address address;
        address.board = frame.head.src_mac;
        address.endpoint = src_endpoint;
        address.ipv4 = from.ipv4;
        address.udp_port = from.udp_port;
        *id = peer_of(address);
    } else {
        return nullptr;
    }
    Partner& partner = partners_[*id];
    if (from.lossless() && !partner.resolved) {
        // It came on a same-host channel: the way back is the same.
        set_route(partner, from);
        partner.resolved = true;
    }
    return &partner;
}

// What every sequenced frame (TINY, SMALL, MEDIUM, RNDV, NOTIFY) of a
// reliable endpoint goes through: it must come from a partner we are
// connected to, under our session; its piggybacked ack is then applied, and
// frames of an earlier incarnation of the connection are dropped. Returns
// null when the frame goes no further.
Partner* Endpoint::sequenced_partner(const wire::Frame& frame, const link::Route& from, uint8_t src_endpoint,
                                     uint32_t session, uint16_t wire_seq, uint16_t wire_ack, PeerId* id) {
    Partner* partner = partner_of_frame(frame, from, id, false);
    if (partner && !partner->established && session == session_ &&
        partner->state == Partner::State::Connecting) {
        // The peer took our connect request, but its reply has not reached
        // us yet: the reply (or the resent request) will settle it, and the
        // frame will be resent.
        ++counters_.out_of_order;
        return nullptr;
    }
    if (!partner || !partner->established || session != session_) {
        ++counters_.bad_session;
        send_nack(frame, from, src_endpoint, wire_seq);
        return nullptr;
    }
    partner->last_heard = now_;
    apply_ack(*id, *partner, wire_ack);
    if (seqnum::sesnum_of(wire_seq) != partner->recv_sesnum) {
        // A straggler of an earlier connection, or a peer that missed the
        // reply telling it our new sesnum (connect requests crossed). The
        // nack makes it check the connection; it ignores nacks of frames
        // it no longer sends.
        ++counters_.duplicates;
        send_nack(frame, from, src_endpoint, wire_seq);
        return nullptr;
    }
    return partner;
}

// Whether a sequenced frame is the next in order. An old one is acked again:
// our ack of it was probably lost. One ack answers all the duplicates a
// progress call sees (a resent medium message brings many at once). One
// from further on waits for its turn.
bool Endpoint::accept_seq(Partner& partner, uint16_t wire_seq, int frag) {
    const uint16_t seq = seqnum::seq_of(wire_seq);
    if (seq == partner.next_match_seq) return true;
    if (seqnum::before(seq, partner.next_match_seq)) {
        ++counters_.duplicates;
        partner.ack_due = true;
        partner.ack_deadline = now_;
    } else {
        keep_early(partner, seq, frag);
    }
    return false;
}

void Endpoint::advance_match(PeerId peer, Partner& partner) {
    partner.next_match_seq = seqnum::next(partner.next_match_seq);
    if (!partner.early.empty()) advanced_ = peer;
}

void Endpoint::keep_early(Partner& partner, uint16_t seq, int frag) {
    ++counters_.out_of_order;
    if (seqnum::distance(partner.next_match_seq, seq) > kEarlyWindow || partner.early.size() >= kEarlyFrames)
        return;  // the sender resends it
    for (const EarlyFrame& e : partner.early) {
        if (e.seq == seq && e.frag == frag) return;  // kept already
    }
    EarlyFrame early;
    early.seq = seq;
    early.frag = frag;
    if (!spare_frames_.empty()) {
        early.bytes = std::move(spare_frames_.back());
        spare_frames_.pop_back();
    }
    early.bytes.assign(frame_bytes_.begin(), frame_bytes_.end());
    early.from = frame_from_;
    partner.early.push_back(std::move(early));
}

// Handles the kept frames whose turn has come: the next message's, and the
// frags of medium messages being assembled. The rest of the older ones were
// resent and taken meanwhile.
void Endpoint::replay_early(Partner& partner) {
    for (;;) {
        auto due = std::find_if(partner.early.begin(), partner.early.end(), [&](const EarlyFrame& e) {
            return !seqnum::before(partner.next_match_seq, e.seq);
        });
        if (due == partner.early.end()) return;
        EarlyFrame early = std::move(*due);
        partner.early.erase(due);
        const bool assembling = std::any_of(partner.partials.begin(), partner.partials.end(),
                                            [&](const Partial& p) { return p.seq == early.seq; });
        if (early.seq == partner.next_match_seq || assembling) handle_frame(early.bytes, early.from);
        early.bytes.clear();
        if (spare_frames_.size() < kEarlyFrames) spare_frames_.push_back(std::move(early.bytes));
    }
}

void Endpoint::drop_early(Partner& partner) {
    for (EarlyFrame& e : partner.early) {
        e.bytes.clear();
        if (spare_frames_.size() < kEarlyFrames) spare_frames_.push_back(std::move(e.bytes));
    }
    partner.early.clear();
}

void Endpoint::apply_ack(PeerId, Partner& partner, uint16_t wire_ack) {
    if (seqnum::sesnum_of(wire_ack) != partner.send_sesnum) return;
    const uint16_t acked = seqnum::seq_of(wire_ack);
    while (SendRequest* request = partner.unacked.front()) {
        if (!seqnum::before(request->seq, acked)) break;
        partner.unacked.remove(request);
        delivered(partner, request);
    }
}

void Endpoint::received_message(Partner& partner) {
    // What came on a same-host channel needs no ack (transmit_lossless).
    if (!config_.reliable || frame_from_.lossless()) return;
    if (++partner.not_acked >= config_.ack_every) {
        send_ack(partner);
    } else if (!partner.ack_due) {
        partner.ack_due = true;
        partner.ack_deadline = now_ + config_.ack_delay;
    }
}

// The receive a message goes to: a posted one, or a piece of a multi-receive
// buffer. A buffer the message does not fit is released on the way.
RecvRequest* Endpoint::match_posted(uint8_t flags, uint64_t match, size_t length, PeerId peer) {
    const bool tagged = !(flags & kFlagUntagged);
    for (RecvRequest* recv = posted_.front(); recv;) {
        RecvRequest* next = recv->next;
        if (tag_matches(*recv, tagged, match, peer)) {
            if (recv->kind != RecvRequest::Kind::Multi) {
                posted_.remove(recv);
                return recv;
            }
            if (RecvRequest* piece = carve(recv, payload_of(flags, length), true)) return piece;
        }
        recv = next;
    }
    return nullptr;
}

bool Endpoint::take_unexpected_budget(size_t bytes) {
    if (unexpected_bytes_ + bytes > config_.unexpected_bytes) return false;
    unexpected_bytes_ += bytes;
    return true;
}

// A message that arrived whole: into a posted receive, or kept as unexpected.
// *kept is false when there was no room to keep it (it is then not acked,
// and the sender resends it later).
void Endpoint::deliver_whole(PeerId peer, uint8_t flags, uint64_t match, std::span<const uint8_t> data, bool* kept) {
    *kept = true;
    if (RecvRequest* recv = match_posted(flags, match, data.size(), peer)) {
        recv->prepare(flags, match, data.size(), peer);
        copy_to_iov({recv->dest.data(), recv->dest_count}, 0, data.first(recv->transfer_length));
        complete_recv(recv, Status::Ok);
        return;
    }
    if (!take_unexpected_budget(data.size())) {
        ++counters_.dropped_unexpected;
        *kept = false;
        return;
    }
    auto unexpected = std::make_unique<Unexpected>();
    unexpected->peer = peer;
    unexpected->flags = flags;
    unexpected->match = match;
    unexpected->message_length = data.size();
    unexpected->data.assign(data.begin(), data.end());
    unexpected->complete = true;
    unexpected_.push_back(unexpected.release());
}

void Endpoint::on_message(const wire::Frame& frame, const link::Route& from) {
    const auto& msg = std::get<wire::MsgHeader>(frame.body);
    if (msg.dst_endpoint != endpoint_id_) {
        ++counters_.not_for_us;
        return;
    }
    PeerId peer;
    Partner* partner;
    if (config_.reliable) {
        partner = sequenced_partner(frame, from, msg.src_endpoint, msg.session, msg.lib_seqnum, msg.lib_piggyack, &peer);
        if (!partner || !accept_seq(*partner, msg.lib_seqnum, -1)) return;
    } else {
        partner = partner_of_frame(frame, from, &peer, true);
    }
    bool kept;
    deliver_whole(peer, msg.src_generation, msg.match_info, frame.payload, &kept);
    if (!kept) return;
    if (config_.reliable) {
        advance_match(peer, *partner);
        received_message(*partner);
    }
}

void Endpoint::on_medium(const wire::Frame& frame, const link::Route& from) {
    const auto& frag = std::get<wire::MediumFrag>(frame.body);
    if (frag.dst_endpoint != endpoint_id_) {
        ++counters_.not_for_us;
        return;
    }
    PeerId peer;
    Partner* partner;
    if (config_.reliable) {
        partner = sequenced_partner(frame, from, frag.src_endpoint, frag.session, frag.lib_seqnum, frag.lib_piggyack,
                                    &peer);
        if (!partner) return;
    } else {
        partner = partner_of_frame(frame, from, &peer, true);
    }
    const uint16_t seq = seqnum::seq_of(frag.lib_seqnum);
    // The limits the codec checked the frag with.
    const wire::WireLimits limits = frame_limits_;

    auto slot = std::find_if(partner->partials.begin(), partner->partials.end(),
                             [seq](const Partial& p) { return p.seq == seq; });
    if (slot == partner->partials.end()) {
        // Any frag may be the first to arrive; the message is matched then.
        if (config_.reliable && !accept_seq(*partner, frag.lib_seqnum, frag.frag_seqnum)) return;
        Partial partial;
        partial.seq = seq;
        partial.msg_length = frag.msg_length;
        partial.frags_expected = frag_mask(frag.msg_length, limits.medium_frag_max);
        partial.started = now_;
        if (RecvRequest* recv = match_posted(frag.src_generation, frag.match_info, frag.msg_length, peer)) {
            recv->prepare(frag.src_generation, frag.match_info, frag.msg_length, peer);
            partial.recv = recv;
        } else {
            if (!take_unexpected_budget(frag.msg_length)) {
                ++counters_.dropped_unexpected;
                return;  // not matched, not acked: the sender resends
            }
            auto unexpected = std::make_unique<Unexpected>();
            unexpected->peer = peer;
            unexpected->flags = frag.src_generation;
            unexpected->match = frag.match_info;
            unexpected->message_length = frag.msg_length;
            unexpected->data.resize(frag.msg_length);
            unexpected->seq = seq;
            partial.unexpected = unexpected.get();
            unexpected_.push_back(unexpected.release());
        }
        if (!config_.reliable && partner->partials.size() >= kMaxDgramPartials) drop_partial(*partner, 0, Status::Ok);
        partner->partials.push_back(partial);
        if (config_.reliable) advance_match(peer, *partner);
        slot = partner->partials.end() - 1;
    }

    // The codec checked the frag against the length it carries; the message
    // was sized by its first frag, and the two must agree.
    const uint32_t bit = uint32_t{1} << frag.frag_seqnum;
    if (frag.msg_length != slot->msg_length || !(slot->frags_expected & bit)) {
        ++counters_.decode_drops[static_cast<size_t>(wire::DropReason::BadFragment)];
        return;
    }
    if (slot->frags_received & bit) {
        ++counters_.duplicates;
        return;
    }
    slot->frags_received |= bit;
    const uint64_t offset = wire::medium_frag_offset(frag, config_.mode, limits);
    if (slot->recv) {
        RecvRequest* recv = slot->recv;
        if (offset < recv->transfer_length) {
            const size_t n = std::min<size_t>(frame.payload.size(), recv->transfer_length - offset);
            copy_to_iov({recv->dest.data(), recv->dest_count}, offset, frame.payload.first(n));
        }
    } else {
        std::memcpy(slot->unexpected->data.data() + offset, frame.payload.data(), frame.payload.size());
    }
    if (slot->frags_received == slot->frags_expected)
        finish_medium(peer, *partner, static_cast<size_t>(slot - partner->partials.begin()));
}

void Endpoint::finish_medium(PeerId, Partner& partner, size_t index) {
    const Partial partial = partner.partials[index];
    partner.partials.erase(partner.partials.begin() + static_cast<std::ptrdiff_t>(index));
    if (partial.recv) {
        complete_recv(partial.recv, Status::Ok);
    } else {
        Unexpected* unexpected = partial.unexpected;
        unexpected->complete = true;
        RecvRequest* recv = unexpected->claimed;
        // Probes waiting for it describe it now. One that reserved it may
        // drop it, but a reserved message is never a receive's.
        settle(unexpected);
        if (recv) {
            copy_to_iov({recv->dest.data(), recv->dest_count}, 0,
                        {unexpected->data.data(), std::min(unexpected->data.size(), recv->transfer_length)});
            release_unexpected(unexpected);
            complete_recv(recv, Status::Ok);
        }
    }
    received_message(partner);
}

// A medium message that will not be completed. A receive it had been
// matched to fails with `status`, or with Status::Ok it is given back to
// wait for another message (datagrams: a lost frag is not an error).
void Endpoint::drop_partial(Partner& partner, size_t index, Status status) {
    const Partial partial = partner.partials[index];
    partner.partials.erase(partner.partials.begin() + static_cast<std::ptrdiff_t>(index));
    RecvRequest* recv = partial.recv;
    if (partial.unexpected) {
        recv = partial.unexpected->claimed;
        release_unexpected(partial.unexpected);
    }
    if (!recv) return;
    if (status == Status::Ok) repost(recv);
    else complete_recv(recv, status);
}

void Endpoint::repost(RecvRequest* recv) {
    if (recv->kind == RecvRequest::Kind::Piece) {
        abandon_piece(recv);
        return;
    }
    recv->unmatch();
    RecvRequest* after = posted_.find([recv](const RecvRequest* r) { return r->order > recv->order; });
    posted_.insert_before(recv, after);
}

void Endpoint::on_rndv(const wire::Frame& frame, const link::Route& from) {
    const auto& rndv = std::get<wire::Rndv>(frame.body);
    if (rndv.dst_endpoint != endpoint_id_ || !config_.reliable) {
        ++counters_.not_for_us;
        return;
    }
    PeerId peer;
    Partner* partner =
        sequenced_partner(frame, from, rndv.src_endpoint, rndv.session, rndv.lib_seqnum, rndv.lib_piggyack, &peer);
    if (!partner || !accept_seq(*partner, rndv.lib_seqnum, -1)) return;

    if (RecvRequest* recv = match_posted(rndv.src_generation, rndv.match_info, rndv.msg_length, peer)) {
        recv->prepare(rndv.src_generation, rndv.match_info, rndv.msg_length, peer);
        start_pull(recv, peer, rndv.pulled_rdma_id, rndv.pulled_rdma_seqnum, from.channel);
    } else {
        auto unexpected = std::make_unique<Unexpected>();
        unexpected->peer = peer;
        unexpected->flags = rndv.src_generation;
        unexpected->match = rndv.match_info;
        unexpected->message_length = rndv.msg_length;
        unexpected->large = true;
        unexpected->region = rndv.pulled_rdma_id;
        unexpected->region_seq = rndv.pulled_rdma_seqnum;
        unexpected->channel = from.channel;
        unexpected_.push_back(unexpected.release());
    }
    advance_match(peer, *partner);
    received_message(*partner);
}

// A sequenced frame that is handled whole as soon as it is taken (NOTIFY,
// RMA_REQUEST, RMA_REPLY): it must be ours and next in order; it is then
// counted as taken and acked. Null when it goes no further.
template <typename Body>
Partner* Endpoint::take_in_turn(const wire::Frame& frame, const link::Route& from, const Body& body, PeerId* peer) {
    if (body.dst_endpoint != endpoint_id_ || !config_.reliable) {
        ++counters_.not_for_us;
        return nullptr;
    }
    Partner* partner =
        sequenced_partner(frame, from, body.src_endpoint, body.session, body.lib_seqnum, body.lib_piggyack, peer);
    if (!partner || !accept_seq(*partner, body.lib_seqnum, -1)) return nullptr;
    advance_match(*peer, *partner);
    received_message(*partner);
    return partner;
}
template Partner* Endpoint::take_in_turn(const wire::Frame&, const link::Route&, const wire::RmaRequest&, PeerId*);
template Partner* Endpoint::take_in_turn(const wire::Frame&, const link::Route&, const wire::RmaReply&, PeerId*);

void Endpoint::on_notify(const wire::Frame& frame, const link::Route& from) {
    const auto& notify = std::get<wire::Notify>(frame.body);
    PeerId peer;
    Partner* partner = take_in_turn(frame, from, notify, &peer);
    if (!partner) return;

    SendRequest* request = regions_[notify.pulled_rdma_id];
    if (!request || request->region_seq != notify.pulled_rdma_seqnum || request->peer != peer) return;
    if (request->state == SendRequest::State::Unacked) partner->unacked.remove(request);
    request->notify_length = notify.total_length;
    complete_send(request, Status::Ok);
}

// The peer told us, by a connect request or reply, who it is and what it
// expects from us. The same connection goes on. A new session is a new
// peer: everything with the old one ends. The same session with another
// sesnum is a peer that dropped the connection on its side (its timeout):
// what we sent is lost, what we received stands.
//
// Learning this from a request lets us answer on the connection (acks,
// NOTIFY, PULL), but messages wait for the reply to our own request, as in
// MX: a peer we took a request from may be a new process that got a request
// meant for its predecessor, and its messages must not reach us numbered as
// the predecessor's until our side has heard of the change.
void Endpoint::adopt_peer(PeerId peer, Partner& partner, uint32_t session, uint16_t expected, uint32_t peer_frame,
                          bool reply) {
    if (partner.established && partner.peer_session == session) {
        // The peer's sesnum only moves forward, one step per reset of its
        // side: one step back is a late frame telling an older state.
        const unsigned step = (seqnum::sesnum_of(expected) - partner.send_sesnum) & 3u;
        if (step == 0) {
            // What the peer expects acknowledges what came before.
            apply_ack(peer, partner, expected);
        } else if (step != 3) {
            fail_sends(peer, partner, Status::PeerReset);
            partner.send_sesnum = seqnum::sesnum_of(expected);
            partner.next_send_seq = seqnum::seq_of(expected);
        }
    } else {
        if (partner.established) reset_partner(peer, partner, Status::PeerReset);
        partner.peer_session = session;
        partner.send_sesnum = seqnum::sesnum_of(expected);
        partner.next_send_seq = seqnum::seq_of(expected);
        partner.established = true;
    }
    // The frame size goes with the connection: from now on (and for what
    // waited for it) both ends use the smaller of their two paths'. A
    // request and a reply of the same peer advertise the same.
    partner.peer_frame = peer_frame;
    partner.frame_agreed = true;
    partner.last_heard = now_;
    if (reply) partner.state = Partner::State::Connected;
    if (partner.state == Partner::State::Connected) {
        while (SendRequest* request = partner.pending.pop_front()) {
            if (refit(partner, request)) transmit(partner, request);
            else complete_send(request, Status::NoResources);
        }
    } else if (partner.state != Partner::State::Connecting && !partner.pending.empty()) {
        start_connect(peer, partner);
    }
}

void Endpoint::on_connect(const wire::Frame& frame, const link::Route& from) {
    const auto& connect = std::get<wire::Connect>(frame.body);
    if (connect.dst_endpoint != endpoint_id_ || !config_.reliable) {
        ++counters_.not_for_us;
        return;
    }
    PeerId peer;
    if (!connect.is_reply) {
        Partner* partner = partner_of_frame(frame, from, &peer, true);
        partner->peer_index = connect.src_dst_peer_index;
        if (connect.app_key != config_.key) {
            send_connect(*partner, true, connect.src_session_id, connect.connect_seqnum, wire::ConnectStatus::BadKey);
            return;
        }
        if (partner->request_seen && partner->request_session == connect.src_session_id &&
            static_cast<int8_t>(connect.connect_seqnum - partner->request_seq) < 0)
            return;  // overtaken by a newer request: its state is stale
        partner->request_seen = true;
        partner->request_session = connect.src_session_id;
        partner->request_seq = connect.connect_seqnum;
        // A new peer, one that restarted, or one that dropped the connection
        // (its expected sesnum changed) starts afresh; a repeated request
        // (our reply was lost) changes nothing.
        adopt_peer(peer, *partner, connect.src_session_id, connect.target_recv_seqnum_start,
                   usable_frame(connect.max_frame), false);
        send_connect(*partner, true, connect.src_session_id, connect.connect_seqnum, wire::ConnectStatus::Ok);
        return;
    }

    Partner* partner = partner_of_frame(frame, from, &peer, false);
    if (!partner || connect.src_session_id != session_ || partner->state != Partner::State::Connecting ||
        connect.connect_seqnum != partner->connect_seq)
        return;  // a stale or stray reply
    if (connect.status != static_cast<uint8_t>(wire::ConnectStatus::Ok)) {
        partner->state = Partner::State::Refused;
        while (SendRequest* request = partner->pending.pop_front()) complete_send(request, Status::PeerRefused);
        return;
    }
    if (partner->established && partner->peer_session != connect.target_session_id) {
        // We were checking the connection, and the peer is a new process.
        // Our request told it what we expected on the old connection; after
        // the reset it must hear the new state, so ask again.
        reset_partner(peer, *partner, Status::PeerReset);
        start_connect(peer, *partner);
        return;
    }
    adopt_peer(peer, *partner, connect.target_session_id, connect.target_recv_seqnum_start,
               usable_frame(connect.max_frame), true);
}

void Endpoint::on_truc(const wire::Frame& frame, const link::Route& from) {
    const auto& truc = std::get<wire::Truc>(frame.body);
    if (truc.dst_endpoint != endpoint_id_ || truc.session != session_) {
        ++counters_.not_for_us;
        return;
    }
    PeerId peer;
    Partner* partner = partner_of_frame(frame, from, &peer, false);
    if (!partner) return;
    // Acks may overtake each other: an older one says less, drop it.
    if (truc.acknum <= partner->acknum_seen && partner->acknum_seen - truc.acknum < 0x80000000u) return;
    partner->acknum_seen = truc.acknum;
    partner->last_heard = now_;
    apply_ack(peer, *partner, truc.lib_seqnum);
}

void Endpoint::on_nack_lib(const wire::Frame& frame, const link::Route& from) {
    const auto& nack = std::get<wire::NackLib>(frame.body);
    if (nack.dst_endpoint != endpoint_id_) {
        ++counters_.not_for_us;
        return;
    }
    PeerId peer;
    Partner* partner = partner_of_frame(frame, from, &peer, false);
    if (!partner) return;
    if (partner->state == Partner::State::Connecting) {
        // The peer's kernel says no endpoint is open at that id: our connect
        // request will never be answered, so the connection fails now (as in
        // MX) rather than at the peer timeout. A nack of a stale session says
        // nothing while we check the connection already.
        if (nack.nack_type == wire::NackType::EndpointClosed || nack.nack_type == wire::NackType::BadEndpoint)
            peer_closed(peer, *partner);
        return;
    }
    if (!partner->established) return;
    // Only a nack of a frame we still wait an ack for says anything.
    if (seqnum::sesnum_of(nack.lib_seqnum) != partner->send_sesnum) return;
    const uint16_t seq = seqnum::seq_of(nack.lib_seqnum);
    const bool unacked = partner->unacked.find([seq](const SendRequest* r) { return r->seq == seq; }) != nullptr;
    // Or a probe: the RNDV of a large send waiting for its NOTIFY.
    const bool probe = std::any_of(regions_.begin(), regions_.end(), [&](const SendRequest* r) {
        return r && r->peer == peer && r->state == SendRequest::State::WaitNotify && r->seq == seq;
    });
    if (!unacked && !probe) return;
    // The peer does not know us under this session: it probably restarted.
    // But a nack has no session of its own, and a late one may answer a
    // frame of an earlier connection with the same sequence number; so the
    // connection is checked with a connect request before anything fails.
    start_connect(peer, *partner);
}

// Everything with a peer whose endpoint is gone fails, what waited for the
// connection too; a later send starts a new connect.
void Endpoint::peer_closed(PeerId peer, Partner& partner) {
    if (partner.established) reset_partner(peer, partner, Status::PeerGone);
    partner.state = Partner::State::Unknown;
    while (SendRequest* request = partner.pending.pop_front()) complete_send(request, Status::PeerGone);
}

// ------------------------------------------------------------------ large messages

void Endpoint::send_notify(PeerId peer, uint8_t region, uint8_t region_seq, uint32_t length) {
    // Tells the sender of a large message it may let go of its buffer.
    SendRequest* notify = sends_.get();
    if (!notify) {
        // Even the reserve is in use (many pulls ended at once): the NOTIFY
        // goes out when a request is free again.
        notify_backlog_.push_back({peer, region, region_seq, length});
        return;
    }
    notify->kind = SendRequest::Kind::Notify;
    notify->peer = peer;
    notify->report = false;
    notify->region = region;
    notify->region_seq = region_seq;
    notify->notify_length = length;
    transmit(partners_[peer], notify);
}

void Endpoint::start_pull(RecvRequest* recv, PeerId peer, uint8_t region, uint8_t region_seq, uint32_t channel) {
    if (recv->transfer_length == 0) {
        // Nothing to pull into: the message ends here, and its sender hears so.
        if (recv->kind != RecvRequest::Kind::RmaTarget && recv->kind != RecvRequest::Kind::RmaFetch)
            send_notify(peer, region, region_seq, 0);
        complete_recv(recv, Status::Ok);
        return;
    }
    if (channel && read_directly(recv, peer, region, region_seq, channel)) return;
    if (free_pulls_.empty()) {
        // Every pull slot is busy: this one starts when one is free, in turn.
        recv->pull_region = region;
        recv->pull_region_seq = region_seq;
        recv->pull_channel = 0;
        waiting_pulls_.push_back(recv);
        return;
    }
    const uint32_t index = free_pulls_.back();
    free_pulls_.pop_back();
    ++active_pulls_;
    Pull& pull = pulls_[index];
    pull.active = true;
    pull.recv = recv;
    pull.peer = peer;
    pull.region = region;
    pull.region_seq = region_seq;
    pull.length = recv->transfer_length;
    pull.requested = 0;
    pull.received = 0;
    const link::Route& route = partners_[peer].route;
    const wire::WireLimits limits = limits_with(partners_[peer]);
    pull_window_ = link_->receive_window();
    pull.reply_max = limits.pull_reply_max;
    pull.block_max = static_cast<uint32_t>(limits.pull_block_max());
    pull.windowed = pull_window_ != 0 && !route.lossless();
    if (pull.windowed) {
        // Blocks small enough that several fit the window, for a pipeline
        // rather than one block waited for at a time; whole replies each.
        const uint64_t share = pull_window_ / kPullWindow / pull.reply_max * pull.reply_max;
        pull.block_max = static_cast<uint32_t>(std::clamp<uint64_t>(share, pull.reply_max, pull.block_max));
    }
    pull.blocks = {};
    pull.last_progress = pull.last_request = now_;
    pull.requests = pull.answered_order = 0;
    feed_pull(pull);
}

// Whether the pull may ask for its next block now: always when nothing is
// in flight, so that a window smaller than a block still lets pulls go on.
bool Endpoint::may_request(const Pull& pull) const {
    if (!pull.windowed || pull_bytes_out_ == 0) return true;
    const uint64_t next = std::min<uint64_t>(pull.block_max, pull.length - pull.requested);
    return pull_bytes_out_ + next <= pull_window_;
}

// Asks for new blocks into the pull's free slots, as far as the window lets.
void Endpoint::feed_pull(Pull& pull) {
    for (size_t b = 0; b < kPullWindow && pull.requested < pull.length; ++b) {
        if (pull.blocks[b].in_use) continue;
        if (!may_request(pull)) {
            pulls_starved_ = true;
            return;
        }
        request_block(pull, b);
    }
}

// Room came free in the window: the pulls that found none get their turn.
void Endpoint::feed_starved_pulls() {
    pulls_starved_ = false;
    for (Pull& pull : pulls_) {
        if (pull.active && pull.windowed && pull.requested < pull.length) feed_pull(pull);
        if (pulls_starved_) return;  // full again
    }
}

// The pull's blocks in flight no longer count in the window.
void Endpoint::release_blocks(Pull& pull) {
    if (!pull.windowed) return;
    for (auto& block : pull.blocks) {
        if (block.in_use) pull_bytes_out_ -= block.length;
        block.in_use = false;
    }
}

void Endpoint::request_block(Pull& pull, size_t block) {
    auto& slot = pull.blocks[block];
    if (!slot.in_use) {
        slot.in_use = true;
        slot.offset = pull.requested;
        slot.length = static_cast<uint32_t>(std::min<uint64_t>(pull.block_max, pull.length - pull.requested));
        const uint32_t frames = (slot.length + pull.reply_max - 1) / pull.reply_max;
        slot.missing = frames >= 64 ? ~uint64_t{0} : (uint64_t{1} << frames) - 1;
        pull.requested += slot.length;
        if (pull.windowed) pull_bytes_out_ += slot.length;
        slot.delay = config_.resend_delay;
    }
    slot.heard = pull.last_request = now_;
    slot.order = ++pull.requests;
    slot.answered = false;
    Partner& partner = partners_[pull.peer];
    const uint32_t index = static_cast<uint32_t>(&pull - pulls_.data());
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    size_t n;
    if (pull.recv->by_key) {
        // An RMA read: the target's memory by key and address.
        const SendRequest* read = pull.recv->origin;
        wire::KeyPull request;
        request.dst_endpoint = partner.address.endpoint;
        request.src_endpoint = endpoint_id_;
        request.session = partner.peer_session;
        request.total_length = static_cast<uint32_t>(pull.length);
        request.key = read->rma_key;
        request.addr = read->rma_addr;
        request.src_magic = wire::pull_magic(endpoint_id_);
        request.src_pull_handle = pull.handle(index);
        request.block_length = slot.length;
        request.frame_index = static_cast<uint32_t>(slot.offset / pull.reply_max);
        request.reply_max = static_cast<uint16_t>(pull.reply_max);
        request.reply_peer_index = static_cast<uint16_t>(pull.peer);
        n = wire::encode_key_pull(head_for(partner), request, config_.mode, header);
    } else {
        wire::PullRequest request;
        request.dst_endpoint = partner.address.endpoint;
        request.src_endpoint = endpoint_id_;
        request.session = partner.peer_session;
        request.total_length = static_cast<uint32_t>(pull.length);
        request.pulled_rdma_id = pull.region;
        request.pulled_rdma_seqnum = pull.region_seq;
        request.pulled_rdma_offset = 0;
        request.src_pull_handle = pull.handle(index);
        request.src_magic = wire::pull_magic(endpoint_id_);
        request.first_frame_offset = 0;
        request.block_length = slot.length;
        request.frame_index = static_cast<uint32_t>(slot.offset / pull.reply_max);
        n = wire::encode_pull_request(head_for(partner), request, config_.mode, header);
    }
    if (send_frame(partner.route, {header.data(), n}, {}) == -EPROTONOSUPPORT && pull.recv->by_key) {
        // A kernel module from before KEY_PULL: reads go as requests from
        // now on, this one once the timers see it.
        key_pulls_off_ = true;
        pull.recv->key_refused = true;
    }
}

// The partner a PULL or KEY_PULL comes from, when it is for this endpoint
// and its session; null otherwise (a stale session is nacked).
template <typename Body>
Partner* Endpoint::puller_of(const wire::Frame& frame, const link::Route& from, const Body& pull, PeerId* peer) {
    if (pull.dst_endpoint != endpoint_id_) {
        ++counters_.not_for_us;
        return nullptr;
    }
    Partner* partner = partner_of_frame(frame, from, peer, false);
    if (!partner) return nullptr;
    if (pull.session != session_) {
        send_pull_nack(*partner, pull.src_pull_handle, pull.src_magic, wire::NackType::BadSession);
        return nullptr;
    }
    partner->last_heard = now_;
    return partner;
}
template Partner* Endpoint::puller_of(const wire::Frame&, const link::Route&, const wire::KeyPull&, PeerId*);

void Endpoint::on_pull(const wire::Frame& frame, const link::Route& from) {
    const auto& pull = std::get<wire::PullRequest>(frame.body);
    PeerId peer;
    Partner* partner = puller_of(frame, from, pull, &peer);
    if (!partner) return;
    SendRequest* request = pull.pulled_rdma_id < regions_.size() ? regions_[pull.pulled_rdma_id] : nullptr;
    if (!request || request->region_seq != pull.pulled_rdma_seqnum || request->peer != peer) {
        send_pull_nack(*partner, pull.src_pull_handle, pull.src_magic, wire::NackType::BadRdmaWindow);
        return;
    }
    // The limits the codec checked the request with.
    const wire::WireLimits limits = frame_limits_;
    const auto start = wire::pull_block_offset(pull, limits);
    const uint64_t end = start ? *start + pull.block_length : 0;
    if (!start || end > request->length || pull.total_length > request->length) {
        ++counters_.decode_drops[static_cast<size_t>(wire::DropReason::BadOffset)];
        return;  // asks for bytes the message does not have
    }
    send_pull_replies(*partner, {request->iov.data(), request->iov_count}, *start, pull.block_length,
                      limits.pull_reply_max, pull.frame_index, pull.src_pull_handle, pull.src_magic);
}

void Endpoint::send_pull_nack(Partner& partner, uint32_t handle, uint32_t magic, wire::NackType type) {
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    wire::NackMcp reply;
    reply.src_endpoint = endpoint_id_;
    reply.nack_type = type;
    reply.src_pull_handle = handle;
    reply.src_magic = magic;
    const size_t n = wire::encode_nack_mcp(head_for(partner), reply, header);
    send_frame(partner.route, {header.data(), n}, {});
}

// Answers a block of a pull: `length` bytes of `data` from `start` on, in
// PULL_REPLYs of reply_max bytes, the first numbered frame_index.
void Endpoint::send_pull_replies(Partner& partner, std::span<const iovec> data, uint64_t start, uint32_t length,
                                 uint32_t reply_max, uint32_t frame_index, uint32_t handle, uint32_t magic) {
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    const uint64_t end = start + length;
    for (uint64_t offset = start; offset < end; offset += reply_max, ++frame_index) {
        const uint32_t part = static_cast<uint32_t>(std::min<uint64_t>(reply_max, end - offset));
        wire::PullReply reply;
        reply.frame_seqnum = static_cast<uint8_t>(frame_index);
        reply.frame_length = static_cast<uint16_t>(part);
        reply.msg_offset = static_cast<uint32_t>(offset);
        reply.dst_pull_handle = handle;
        reply.dst_magic = magic;
        std::array<iovec, kMaxIovWithData> slice;
        const size_t parts = slice_iov(data, offset, part, slice);
        const size_t n = wire::encode_pull_reply(head_for(partner), reply, header);
        send_frame(partner.route, {header.data(), n}, {slice.data(), parts});
    }
}

// The active pull a frame about a pull (reply or nack) is for; null for one
// that ended meanwhile or that is not ours. Handles are only unique per
// endpoint: the magic says whose pull it is.
Endpoint::Pull* Endpoint::pull_of(const wire::Frame& frame, uint32_t magic, uint32_t handle) {
    const auto endpoint = wire::endpoint_of_pull_magic(magic);
    if (!endpoint || *endpoint != endpoint_id_) {
        ++counters_.not_for_us;
        return nullptr;
    }
    const uint32_t index = handle >> 22;
    if (index >= pulls_.size()) return nullptr;
    Pull& pull = pulls_[index];
    if (!pull.active || pull.handle(index) != handle) return nullptr;  // a late one
    if (frame.head.src_mac != partners_[pull.peer].address.board) return nullptr;
    return &pull;
}

void Endpoint::on_pull_reply(const wire::Frame& frame) {
    const auto& reply = std::get<wire::PullReply>(frame.body);
    Pull* found = pull_of(frame, reply.dst_magic, reply.dst_pull_handle);
    if (!found) return;
    Pull& pull = *found;
    const uint32_t reply_max = pull.reply_max;
    // The codec took any length up to the link's largest frame; the pull's
    // own frames are those agreed on with the peer.
    if (reply.frame_length > reply_max) {
        ++counters_.decode_drops[static_cast<size_t>(wire::DropReason::BadLength)];
        return;
    }
    for (size_t b = 0; b < kPullWindow; ++b) {
        auto& block = pull.blocks[b];
        if (!block.in_use || reply.msg_offset < block.offset || reply.msg_offset >= block.offset + block.length)
            continue;
        const uint64_t frame_in_block = (reply.msg_offset - block.offset) / reply_max;
        const uint64_t bit = uint64_t{1} << frame_in_block;
        const uint64_t expected =
            std::min<uint64_t>(reply_max, block.offset + block.length - reply.msg_offset);
        if (!(block.missing & bit) || (reply.msg_offset - block.offset) % reply_max != 0 ||
            reply.frame_length != expected) {
            ++counters_.duplicates;
            return;
        }
        block.missing &= ~bit;
        RecvRequest* recv = pull.recv;
        copy_to_iov({recv->dest.data(), recv->dest_count}, reply.msg_offset, frame.payload);
        pull.received += reply.frame_length;
        pull.last_progress = block.heard = now_;
        block.delay = config_.resend_delay;
        block.answered = true;
        pull.answered_order = std::max(pull.answered_order, block.order);
        if (block.missing == 0) {
            block.in_use = false;
            if (pull.windowed) pull_bytes_out_ -= block.length;
            // Pulls that waited for room go first, this one among them.
            if (pulls_starved_) feed_starved_pulls();
            else feed_pull(pull);
        }
        if (pull.received == pull.length) finish_pull(pull, Status::Ok);
        return;
    }
    ++counters_.duplicates;
}

void Endpoint::on_nack_mcp(const wire::Frame& frame) {
    const auto& nack = std::get<wire::NackMcp>(frame.body);
    Pull* pull = pull_of(frame, nack.src_magic, nack.src_pull_handle);
    if (!pull) return;
    // A read's KEY_PULL refused: it is asked again in sequence (rma.cpp).
    if (pull->recv->by_key) pull->recv->key_refused = true;
    finish_pull(*pull, Status::PeerReset);
}

// Copies a large message from a sender on this host straight into the
// receive. False when that is not possible (the system forbids it): the pull
// protocol then moves it.
bool Endpoint::read_directly(RecvRequest* recv, PeerId peer, uint8_t region, uint8_t region_seq, uint32_t channel) {
    std::array<iovec, kMaxIovWithData> into;
    const size_t parts = slice_iov({recv->dest.data(), recv->dest_count}, 0, recv->transfer_length, into);
    link::Route from;
    from.channel = channel;
    const int ret = link_->read_region(from, region, region_seq, 0, {into.data(), parts});
    if (ret == -EPERM || ret == -EOPNOTSUPP) return false;
    if (ret != 0) {
        complete_recv(recv, ret == -ESRCH ? Status::PeerGone : Status::ReadFailed);
        return true;
    }
    if (completes_message(*recv))
        send_notify(peer, region, region_seq, static_cast<uint32_t>(recv->transfer_length));
    complete_recv(recv, Status::Ok);
    return true;
}

void Endpoint::finish_pull(Pull& pull, Status status) {
    RecvRequest* recv = pull.recv;
    release_blocks(pull);
    if (status == Status::Ok && completes_message(*recv))
        send_notify(pull.peer, pull.region, pull.region_seq, static_cast<uint32_t>(recv->transfer_length));
    pull.active = false;
    --active_pulls_;
    ++pull.generation;
    pull.recv = nullptr;
    free_pulls_.push_back(static_cast<uint32_t>(&pull - pulls_.data()));
    if (pulls_starved_) feed_starved_pulls();
    if (RecvRequest* next = waiting_pulls_.pop_front())
        start_pull(next, next->peer, next->pull_region, next->pull_region_seq, next->pull_channel);
    complete_recv(recv, status);
}

// ------------------------------------------------------------------ completions

void Endpoint::complete_recv(RecvRequest* recv, Status status) {
    if (recv->kind == RecvRequest::Kind::RmaTarget || recv->kind == RecvRequest::Kind::RmaFetch) {
        finish_rma_pull(recv, status);
        return;
    }
    if (recv->kind == RecvRequest::Kind::Probe) {
        fetched(recv, status);  // a probe's pull of a large message's CQ data
        return;
    }
    Completion c;
    c.context = recv->context;
    c.is_send = false;
    c.tagged = recv->tagged;
    c.peer = recv->peer;
    c.report = recv->report;
    if (recv->matched) {
        c.tag = recv->match;
        c.has_data = recv->flags & kFlagCqData;
        const size_t prefix = c.has_data ? kDataPrefix : 0;
        if (c.has_data) c.data = read_prefix(recv->prefix);
        c.message_length = recv->message_length - std::min(prefix, recv->message_length);
        if (status == Status::Ok && recv->discard) {
            c.discarded = true;
        } else if (status == Status::Ok) {
            c.length = recv->transfer_length - std::min(prefix, recv->transfer_length);
            if (c.message_length > c.length) status = Status::Truncated;
        }
    }
    c.status = status;
    if (recv->kind == RecvRequest::Kind::Multi) c.released = true;  // canceled
    if (recv->kind == RecvRequest::Kind::Piece) {
        RecvRequest* buffer = recv->parent;
        c.buf = recv->iov[0].iov_base;
        if (--buffer->pieces == 0 && buffer->retired) {
            c.released = true;
            recvs_.put(buffer);
        }
    }
    // The application always hears that it has its buffer back.
    if (c.released) c.report = true;
    recvs_.put(recv);
    sink_.complete(c);
}

void Endpoint::complete_send(SendRequest* request, Status status) {
    Partner& partner = partners_[request->peer];
    if (request->state == SendRequest::State::WaitNotify) --partner.waiting_notify;
    if (request->state == SendRequest::State::WaitReply) {
        --partner.waiting_notify;
        partner.awaiting_reply.remove(request);
    }
    if (regions_[request->region] == request) {
        // Before the application has its buffer back.
        if (request->link_serves) link_->withdraw_region(request->region);
        regions_[request->region] = nullptr;
        free_regions_.push_back(request->region);
    }
    if (request->kind == SendRequest::Kind::Notify || request->kind == SendRequest::Kind::RmaReply) {
        sends_.put(request);
        return;
    }
    Completion c;
    c.context = request->context;
    c.is_send = true;
    if (request->kind == SendRequest::Kind::RmaRead) c.rma = RmaRole::Read;
    if (request->kind == SendRequest::Kind::RmaWrite) c.rma = RmaRole::Write;
    if (request->kind == SendRequest::Kind::RmaAtomic) {
        // A fetching atomic reads as well: it is reported as a read.
        c.atomic = true;
        c.rma = request->rma_op == static_cast<uint8_t>(wire::RmaOp::Atomic) ? RmaRole::Write : RmaRole::Read;
    }
    c.tagged = !(request->flags & kFlagUntagged);
    c.tag = request->match;
    c.length = request->payload_length();
    c.peer = request->peer;
    c.status = status;
    // Counters count every operation, so the sink hears of all of them.
    c.report = request->report;
    sends_.put(request);
    sink_.complete(c);
}

// ------------------------------------------------------------------ failures and timers

// Fails what we sent on a connection the peer no longer has.
void Endpoint::fail_sends(PeerId peer, Partner& partner, Status status) {
    while (SendRequest* request = partner.unacked.pop_front()) complete_send(request, status);
    while (SendRequest* request = partner.awaiting_reply.front()) complete_send(request, status);
    // Large sends whose RNDV was acked wait for a NOTIFY that will not come.
    for (SendRequest* request : regions_) {
        if (request && request->peer == peer && request->state == SendRequest::State::WaitNotify)
            complete_send(request, status);
    }
}

// Ends the connection with a partner: everything in flight with it fails
// with `status`, and frames of this connection will no longer be taken.
void Endpoint::reset_partner(PeerId peer, Partner& partner, Status status) {
    fail_sends(peer, partner, status);
    if (active_pulls_) {
        for (Pull& pull : pulls_) {
            if (pull.active && pull.peer == peer) finish_pull(pull, status);
        }
    }
    std::erase_if(notify_backlog_, [peer](const PendingNotify& n) { return n.peer == peer; });
    std::erase_if(reply_backlog_, [peer](const PendingReply& r) { return r.peer == peer; });
    waiting_pulls_.for_each([&](RecvRequest* recv) {
        if (recv->peer != peer) return;
        waiting_pulls_.remove(recv);
        complete_recv(recv, status);
    });
    // Medium messages half received never get their other frags, and the
    // rendezvous of large ones can no longer be pulled.
    while (!partner.partials.empty()) drop_partial(partner, 0, status);
    drop_early(partner);
    unexpected_.for_each([&](Unexpected* u) {
        if (u->peer != peer || !u->large || u->lost != Status::Ok) return;
        if (u->claim_context) {
            // A probe claimed it: the receive that comes for it fails.
            u->lost = status;
            return;
        }
        release_unexpected(u);
    });
    partner.state = Partner::State::Unknown;
    partner.established = false;
    partner.peer_session = 0;
    // The next connection agrees on a frame size anew: the peer may be
    // another process, on another path.
    partner.peer_frame = 0;
    partner.frame_agreed = false;
    // A new incarnation of the connection: frames of the old one are refused.
    partner.recv_sesnum = static_cast<uint8_t>((partner.recv_sesnum + 1) & 3);
    partner.not_acked = 0;
    partner.ack_due = false;
    // The peer's acks restart from 1 if it is a new process.
    partner.acknum_seen = 0;
}

void Endpoint::timers(TimePoint now) {
    while (!notify_backlog_.empty() && sends_.available() > 0) {
        const PendingNotify n = notify_backlog_.back();
        notify_backlog_.pop_back();
        send_notify(n.peer, n.region, n.region_seq, n.length);
    }
    serve_reply_backlog();
    for (size_t id = 0; id < partners_.size(); ++id) {
        Partner& partner = partners_[id];
        if (!config_.reliable) {
            while (!partner.partials.empty() && now - partner.partials.front().started >= kDgramReassembly)
                drop_partial(partner, 0, Status::Ok);
            continue;
        }
        if (partner.ack_due && now >= partner.ack_deadline) send_ack(partner);
        if (!partner.partials.empty() && now - partner.partials.front().started >= config_.peer_timeout) {
            // The sender resends a medium message until all of it is here;
            // if it stopped that long ago, it is gone.
            reset_partner(static_cast<PeerId>(id), partner, Status::PeerTimeout);
            continue;
        }

        if (partner.state == Partner::State::Connecting) {
            if (now - partner.connect_first >= config_.peer_timeout) {
                partner.state = Partner::State::Unknown;
                while (SendRequest* request = partner.pending.pop_front())
                    complete_send(request, Status::PeerTimeout);
            } else if (now - partner.connect_last >= partner.connect_delay) {
                partner.connect_last = now;
                partner.connect_delay = std::min(partner.connect_delay * 2, config_.resend_delay_max);
                ++counters_.resends;
                send_connect(partner, false, session_, partner.connect_seq, wire::ConnectStatus::Ok);
            }
        } else if (partner.state != Partner::State::Connected && !partner.pending.empty()) {
            start_connect(static_cast<PeerId>(id), partner);
        }

        if (partner.waiting_notify && partner.unacked.empty() && partner.state == Partner::State::Connected &&
            !partner.route.lossless()) {
            if (now - partner.last_heard >= config_.peer_timeout) {
                reset_partner(static_cast<PeerId>(id), partner, Status::PeerTimeout);
                continue;
            }
            if (now - partner.last_heard >= config_.resend_delay_max &&
                now - partner.last_probe >= config_.resend_delay_max) {
                // A RNDV (or an RMA request or answer) again: a live peer
                // acks it as a duplicate, a new incarnation nacks it.
                partner.last_probe = now;
                SendRequest* probe = partner.awaiting_reply.front();
                for (SendRequest* request : regions_) {
                    if (request && request->peer == id && request->state == SendRequest::State::WaitNotify) {
                        probe = request;
                        break;
                    }
                }
                if (probe) {
                    ++counters_.resends;
                    emit(partner, probe);
                }
            }
        }

        if (SendRequest* oldest = partner.unacked.front()) {
            if (now - oldest->first_sent >= config_.peer_timeout) {
                reset_partner(static_cast<PeerId>(id), partner, Status::PeerTimeout);
                continue;
            }
            partner.unacked.for_each([&](SendRequest* request) {
                if (now - request->last_sent < request->delay) return;
                request->last_sent = now;
                request->delay = std::min(request->delay * 2, config_.resend_delay_max);
                ++counters_.resends;
                emit(partner, request);
            });
        }
    }

    if (!active_pulls_) return;
    for (Pull& pull : pulls_) {
        if (!pull.active) continue;
        if (pull.recv->key_refused) {
            finish_pull(pull, Status::PeerReset);  // the link could not send it
        } else if (now - pull.last_progress >= config_.peer_timeout) {
            finish_pull(pull, Status::PeerTimeout);
        } else {
            for (size_t b = 0; b < kPullWindow; ++b) {
                auto& block = pull.blocks[b];
                if (!block.in_use || now < pull.block_due(block)) continue;
                block.delay = std::min(block.delay * 2, config_.resend_delay_max);
                ++counters_.resends;
                request_block(pull, b);
            }
        }
    }
}

TimePoint Endpoint::next_timer() const {
    TimePoint next = TimePoint::max();
    for (const Partner& partner : partners_) {
        if (!config_.reliable) {
            if (!partner.partials.empty()) next = std::min(next, partner.partials.front().started + kDgramReassembly);
            continue;
        }
        if (partner.ack_due) next = std::min(next, partner.ack_deadline);
        if (!partner.partials.empty()) next = std::min(next, partner.partials.front().started + config_.peer_timeout);
        if (partner.state == Partner::State::Connecting)
            next = std::min(next, partner.connect_last + partner.connect_delay);
        else if (partner.state != Partner::State::Connected && !partner.pending.empty())
            next = std::min(next, now_);  // a connection to start: due at once
        if (partner.waiting_notify && partner.unacked.empty() && partner.state == Partner::State::Connected &&
            !partner.route.lossless())
            next = std::min(next, std::max(partner.last_heard, partner.last_probe) + config_.resend_delay_max);
        // Backoff gives each send its own delay: the oldest is not always
        // the first due.
        for (const SendRequest* r = partner.unacked.front(); r; r = r->next)
            next = std::min(next, r->last_sent + r->delay);
    }
    if (active_pulls_) {
        for (const Pull& pull : pulls_) {
            if (!pull.active) continue;
            for (const auto& block : pull.blocks)
                if (block.in_use) next = std::min(next, pull.block_due(block));
        }
    }
    return next;
}

}  // namespace xen2mx::engine
