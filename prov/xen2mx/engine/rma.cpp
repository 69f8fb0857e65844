// One-sided operations, carried by xen2mx's RMA_REQUEST and RMA_REPLY frames
// (wire/mxoe.hpp) on the partner's connection: they are sequenced, acked
// and resent like messages, and every request gets exactly one answer.
//
//   initiator                              target
//   RMA_REQUEST write, data inline    ->   checks key, rights, bounds; stores
//                                     <-   RMA_REPLY status
//   RMA_REQUEST write, our region R   ->   checks; pulls R into its region
//                                     <-   RMA_REPLY status (R is free again)
//   RMA_REQUEST read                  ->   checks
//                                     <-   RMA_REPLY data inline, or its region T
//   pulls T, then NOTIFY              ->   T is free again
//
// A read on a connection over the network goes without the request when it
// can: the initiator pulls the bytes by key and address (KEY_PULL, one
// round trip, unsequenced like any pull), and the target's kernel may
// answer while the target process does not run. A target that wants to see
// every read (read_events_), or finds the key, rights or bounds wrong,
// refuses with a NACK_MCP, and the initiator then sends the RMA_REQUEST
// above, whose answer carries the target's verdict.
//
// Large data thus moves by the pull protocol of large messages, and on a
// same-host channel by a single copy. A refused request touches no memory:
// the target checks before it stores or pulls anything, counts the refusal,
// and the initiator's operation fails with the reason.
#include <cstring>

#include "engine/endpoint.hpp"
#include "engine/iov.hpp"

namespace xen2mx::engine {

namespace {

wire::RmaStatus wire_status(Status status) {
    switch (status) {
    case Status::Ok: return wire::RmaStatus::Ok;
    case Status::AccessDenied: return wire::RmaStatus::BadKey;
    case Status::OutOfBounds: return wire::RmaStatus::OutOfBounds;
    case Status::Unsupported: return wire::RmaStatus::Unsupported;
    default: return wire::RmaStatus::Busy;
    }
}

Status engine_status(wire::RmaStatus status) {
    switch (status) {
    case wire::RmaStatus::Ok: return Status::Ok;
    case wire::RmaStatus::BadKey: return Status::AccessDenied;
    case wire::RmaStatus::OutOfBounds: return Status::OutOfBounds;
    case wire::RmaStatus::Busy: return Status::NoResources;
    case wire::RmaStatus::Unsupported: return Status::Unsupported;
    }
    return Status::Unsupported;
}

// Bytes of an RMA_REQUEST header beyond a PULL_REPLY's, whose payload
// fills the MTU.
constexpr size_t kRmaHeaderExtra = 40;
constexpr size_t kRmaInlineCap = 4096;

}  // namespace

namespace {
size_t inline_max(const wire::WireLimits& limits) {
    const size_t frame = limits.pull_reply_max;
    return frame > kRmaHeaderExtra ? std::min(frame - kRmaHeaderExtra, kRmaInlineCap) : 0;
}
}  // namespace

size_t Endpoint::rma_inline_max() const { return inline_max(config_.limits); }

// Data that would not fit the frames agreed on with the peer whole goes by
// pull instead.
size_t Endpoint::rma_inline_max(const wire::WireLimits& limits) const { return inline_max(limits); }

// ------------------------------------------------------------------ initiator

int Endpoint::rma(const RmaArgs& args, TimePoint now) {
    now_ = now;
    if (!config_.reliable || config_.mode != wire::WireMode::OpenMx) return -EOPNOTSUPP;
    if (args.peer >= partners_.size() || args.iov.size() > kMaxIov) return -EINVAL;
    const size_t length = iov_length(args.iov);
    if (length > UINT32_MAX) return -EMSGSIZE;
    if (sends_.available() <= kNotifyReserve) return -EAGAIN;
    Partner& partner = partners_[args.peer];
    resolve(partner);
    if (partner.route.lossless() && link_->backlogged(partner.route)) return -EAGAIN;
    SendRequest* request = sends_.get();

    const bool atomic = args.kind != RmaKind::Read && args.kind != RmaKind::Write;
    const bool write = args.kind == RmaKind::Write;
    request->kind = atomic  ? SendRequest::Kind::RmaAtomic
                    : write ? SendRequest::Kind::RmaWrite
                            : SendRequest::Kind::RmaRead;
    request->peer = args.peer;
    request->context = args.context;
    request->report = args.report;
    request->length = length;
    request->rma_key = args.key;
    request->rma_addr = args.addr;
    request->rma_flags = (write && args.has_data) ? wire::kRmaCqData : 0;
    request->data = args.data;
    // The answer names the request by its place in the pool; the serial
    // keeps a late answer from meeting a later occupant of the same place.
    request->rma_handle = (++rma_serial_ << 16) | static_cast<uint32_t>(sends_.index_of(request));
    if (atomic) {
        if (int ret = prepare_atomic(request, args)) {
            sends_.put(request);
            return ret;
        }
        submit(args.peer, partner, request);
        return 0;
    }
    gather(request, args.iov, write && args.copy);
    if (!write && start_key_read(args.peer, partner, request)) return 0;
    if (write && length > rma_inline_max(sizing_limits(partner))) {
        request->rma_flags |= wire::kRmaPulled;
        if (allocate_region(request) != 0) {
            sends_.put(request);
            return -EAGAIN;
        }
    }
    submit(args.peer, partner, request);
    return 0;
}

// Starts a read as a pull by key; false when it must go as an RMA_REQUEST:
// before either side has set a connection up (the pull needs the peer's
// session and the agreed frames, which the peer's connect to us gives as
// well as ours to it), on a same-host channel (which copies regions
// directly), for nothing to read, or with no pull request free.
bool Endpoint::start_key_read(PeerId peer, Partner& partner, SendRequest* request) {
    if (key_pulls_off_ || !partner.established || !partner.frame_agreed || partner.route.lossless() ||
        request->length == 0)
        return false;
    RecvRequest* fetch = rma_pulls_.get();
    if (!fetch) return false;
    fetch->kind = RecvRequest::Kind::RmaFetch;
    fetch->origin = request;
    fetch->by_key = true;
    fetch->peer = peer;
    fetch->matched = true;
    for (size_t i = 0; i < request->iov_count; ++i) fetch->dest[i] = request->iov[i];
    fetch->dest_count = request->iov_count;
    fetch->transfer_length = request->length;
    start_pull(fetch, peer, 0, 0, 0);
    return true;
}

// An atomic carries its operands and compare values in the request itself
// (`copy`); iov is where the values from before go.
int Endpoint::prepare_atomic(SendRequest* request, const RmaArgs& args) {
    const AtomicForm form = args.kind == RmaKind::Atomic        ? AtomicForm::Plain
                            : args.kind == RmaKind::FetchAtomic ? AtomicForm::Fetch
                                                                : AtomicForm::Compare;
    if (!atomic_valid(args.atomic_type, args.atomic_op, form)) return -EOPNOTSUPP;
    const size_t bytes = args.count * atomic_size(args.atomic_type);
    if (args.count == 0 || args.compare.size() > kMaxIov || args.result.size() > kMaxIov) return -EINVAL;
    if (bytes > kAtomicMaxBytes || bytes > rma_inline_max() / 2) return -EMSGSIZE;
    const bool reads_only = args.atomic_op == static_cast<uint8_t>(AtomicOp::Read);
    if (!reads_only && iov_length(args.iov) != bytes) return -EINVAL;
    if (form == AtomicForm::Compare && iov_length(args.compare) != bytes) return -EINVAL;
    if (form != AtomicForm::Plain && iov_length(args.result) != bytes) return -EINVAL;
    request->rma_op = static_cast<uint8_t>(form == AtomicForm::Plain   ? wire::RmaOp::Atomic
                                           : form == AtomicForm::Fetch ? wire::RmaOp::FetchAtomic
                                                                       : wire::RmaOp::CompareAtomic);
    request->atomic_type = args.atomic_type;
    request->atomic_op = args.atomic_op;
    request->length = bytes;
    request->rma_flags = 0;
    request->copy.clear();
    auto append = [&](std::span<const iovec> iov) {
        for (const iovec& v : iov) {
            const auto* p = static_cast<const uint8_t*>(v.iov_base);
            request->copy.insert(request->copy.end(), p, p + v.iov_len);
        }
    };
    if (!reads_only) append(args.iov);
    if (form == AtomicForm::Compare) append(args.compare);
    for (const iovec& v : args.result) request->iov[request->iov_count++] = v;
    return 0;
}

int Endpoint::emit_rma(Partner& partner, SendRequest* request, uint16_t seq, uint32_t session) {
    std::array<uint8_t, wire::kMaxHeaderLength> header;
    const std::span<const iovec> iov{request->iov.data(), request->iov_count};
    const bool by_region = regions_[request->region] == request;
    // On a same-host channel the peer reads a region straight from our memory.
    if (by_region && partner.route.lossless())
        link_->expose_region(partner.route, request->region, request->region_seq, iov);
    const bool atomic = request->kind == SendRequest::Kind::RmaAtomic;
    const bool inline_data = !by_region && request->kind != SendRequest::Kind::RmaRead;
    // What travels: the data of a write or reply (`iov`), or an atomic's
    // operands and compare values.
    const iovec operands{request->copy.data(), request->copy.size()};
    const std::span<const iovec> payload = atomic ? std::span<const iovec>{&operands, 1} : iov;
    const size_t payload_length = atomic ? request->copy.size() : request->length;
    size_t n;
    if (request->kind == SendRequest::Kind::RmaReply) {
        wire::RmaReply reply;
        reply.dst_endpoint = partner.address.endpoint;
        reply.src_endpoint = endpoint_id_;
        reply.status = static_cast<wire::RmaStatus>(request->rma_status);
        reply.flags = by_region ? wire::kRmaPulled : 0;
        reply.lib_seqnum = seq;
        reply.lib_piggyack = piggyack(partner);
        reply.session = session;
        reply.handle = request->rma_handle;
        reply.length = static_cast<uint32_t>(request->length);
        reply.pulled_rdma_id = request->region;
        reply.pulled_rdma_seqnum = request->region_seq;
        reply.payload_length = inline_data ? static_cast<uint16_t>(payload_length) : 0;
        n = wire::encode_rma_reply(head_for(partner), reply, config_.mode, header);
    } else {
        wire::RmaRequest rma;
        rma.dst_endpoint = partner.address.endpoint;
        rma.src_endpoint = endpoint_id_;
        rma.op = atomic                                         ? static_cast<wire::RmaOp>(request->rma_op)
                 : request->kind == SendRequest::Kind::RmaRead ? wire::RmaOp::Read
                                                               : wire::RmaOp::Write;
        rma.flags = request->rma_flags;
        rma.datatype = request->atomic_type;
        rma.atomic_op = request->atomic_op;
        rma.lib_seqnum = seq;
        rma.lib_piggyack = piggyack(partner);
        rma.session = session;
        rma.handle = request->rma_handle;
        rma.length = static_cast<uint32_t>(request->length);
        rma.key = request->rma_key;
        rma.addr = request->rma_addr;
        rma.cq_data = request->data;
        rma.pulled_rdma_id = request->region;
        rma.pulled_rdma_seqnum = request->region_seq;
        rma.payload_length = inline_data ? static_cast<uint16_t>(payload_length) : 0;
        n = wire::encode_rma_request(head_for(partner), rma, config_.mode, header);
    }
    if (n == 0) return -EINVAL;
    return send_frame(partner.route, {header.data(), n}, inline_data ? payload : std::span<const iovec>{});
}

// The operation an answer is for, while it waits for one.
SendRequest* Endpoint::rma_request_of(uint32_t handle, PeerId peer) {
    SendRequest* request = sends_.at(handle & 0xffff);
    if (!request || request->rma_handle != handle || request->peer != peer) return nullptr;
    if (request->kind != SendRequest::Kind::RmaWrite && request->kind != SendRequest::Kind::RmaRead &&
        request->kind != SendRequest::Kind::RmaAtomic)
        return nullptr;
    if (request->state != SendRequest::State::WaitReply && request->state != SendRequest::State::Unacked)
        return nullptr;
    return request;
}

void Endpoint::on_rma_reply(const wire::Frame& frame, const link::Route& from) {
    const auto& reply = std::get<wire::RmaReply>(frame.body);
    PeerId peer;
    Partner* partner = take_in_turn(frame, from, reply, &peer);
    if (!partner) return;

    const bool by_region = reply.flags & wire::kRmaPulled;
    SendRequest* request = rma_request_of(reply.handle, peer);
    if (!request) {
        // Not ours to answer (a confused or hostile peer): a region it
        // offers is released all the same.
        if (by_region) send_notify(peer, reply.pulled_rdma_id, reply.pulled_rdma_seqnum, 0);
        return;
    }
    // It waits for nothing else now (a pull, at most).
    if (request->state == SendRequest::State::Unacked) partner->unacked.remove(request);
    if (request->state == SendRequest::State::WaitReply) {
        partner->awaiting_reply.remove(request);
        --partner->waiting_notify;
    }
    request->state = SendRequest::State::Pending;

    const bool answered = request->kind == SendRequest::Kind::RmaWrite ||
                          (request->kind == SendRequest::Kind::RmaAtomic &&
                           request->rma_op == static_cast<uint8_t>(wire::RmaOp::Atomic));
    if (reply.status != wire::RmaStatus::Ok || answered) {
        if (by_region) send_notify(peer, reply.pulled_rdma_id, reply.pulled_rdma_seqnum, 0);
        complete_send(request, engine_status(reply.status));
        return;
    }
    // A read or a fetching atomic: the answer must have exactly what was
    // asked for (an atomic's, always inline).
    const bool atomic = request->kind == SendRequest::Kind::RmaAtomic;
    if (reply.length != request->length || (!by_region && frame.payload.size() != request->length) ||
        (atomic && by_region)) {
        if (by_region) send_notify(peer, reply.pulled_rdma_id, reply.pulled_rdma_seqnum, 0);
        complete_send(request, Status::ReadFailed);
        return;
    }
    if (!by_region) {
        copy_to_iov({request->iov.data(), request->iov_count}, 0, frame.payload);
        complete_send(request, Status::Ok);
        return;
    }
    RecvRequest* fetch = rma_pulls_.get();
    if (!fetch) {
        send_notify(peer, reply.pulled_rdma_id, reply.pulled_rdma_seqnum, 0);
        complete_send(request, Status::NoResources);
        return;
    }
    fetch->kind = RecvRequest::Kind::RmaFetch;
    fetch->origin = request;
    fetch->peer = peer;
    fetch->matched = true;
    for (size_t i = 0; i < request->iov_count; ++i) fetch->dest[i] = request->iov[i];
    fetch->dest_count = request->iov_count;
    fetch->transfer_length = request->length;
    fetch->pull_region = reply.pulled_rdma_id;
    fetch->pull_region_seq = reply.pulled_rdma_seqnum;
    start_pull(fetch, peer, reply.pulled_rdma_id, reply.pulled_rdma_seqnum, from.channel);
}

// ------------------------------------------------------------------ target

void Endpoint::on_rma_request(const wire::Frame& frame, const link::Route& from) {
    const auto& request = std::get<wire::RmaRequest>(frame.body);
    PeerId peer;
    if (!take_in_turn(frame, from, request, &peer)) return;
    serve_rma(peer, request, frame.payload, from.channel);
}

void Endpoint::serve_rma(PeerId peer, const wire::RmaRequest& request, std::span<const uint8_t> payload,
                         uint32_t channel) {
    switch (request.op) {
    case wire::RmaOp::Read: serve_read(peer, request); return;
    case wire::RmaOp::Write: break;
    case wire::RmaOp::Atomic:
    case wire::RmaOp::FetchAtomic:
    case wire::RmaOp::CompareAtomic: serve_atomic(peer, request, payload); return;
    }
    const bool by_region = request.flags & wire::kRmaPulled;
    // Inline data must be all of it.
    if (!by_region && payload.size() != request.length) {
        refuse_rma(peer, request, Status::OutOfBounds);
        return;
    }
    std::array<iovec, kMaxIovWithData> target;
    size_t count = 0;
    const Status found = regions_dir_ ? regions_dir_->find(request.key, request.addr, request.length,
                                                           Access::RemoteWrite, target, &count)
                                      : Status::AccessDenied;
    if (found != Status::Ok) {
        refuse_rma(peer, request, found);
        return;
    }
    const bool cq = request.flags & wire::kRmaCqData;
    if (!by_region) {
        copy_to_iov({target.data(), count}, 0, payload);
        remote_event(peer, RmaRole::RemoteWrite, request.length, cq, request.cq_data);
        send_rma_reply(peer, request, wire::RmaStatus::Ok, {}, false);
        return;
    }
    RecvRequest* recv = rma_pulls_.get();
    if (!recv) {
        send_rma_reply(peer, request, wire::RmaStatus::Busy, {}, false);
        return;
    }
    recv->kind = RecvRequest::Kind::RmaTarget;
    recv->peer = peer;
    recv->matched = true;
    for (size_t i = 0; i < count; ++i) recv->dest[i] = target[i];
    recv->dest_count = count;
    recv->transfer_length = request.length;
    recv->rma_handle = request.handle;
    recv->rma_cq = cq;
    recv->rma_data = request.cq_data;
    start_pull(recv, peer, request.pulled_rdma_id, request.pulled_rdma_seqnum, channel);
}

void Endpoint::serve_read(PeerId peer, const wire::RmaRequest& request) {
    std::array<iovec, kMaxIovWithData> source;
    size_t count = 0;
    const Status found = regions_dir_ ? regions_dir_->find(request.key, request.addr, request.length,
                                                           Access::RemoteRead, source, &count)
                                      : Status::AccessDenied;
    if (found != Status::Ok) {
        refuse_rma(peer, request, found);
        return;
    }
    remote_event(peer, RmaRole::RemoteRead, request.length, false, 0);
    send_rma_reply(peer, request, wire::RmaStatus::Ok, {source.data(), count},
                   request.length > rma_inline_max(limits_with(partners_[peer])));
}

// Bytes of our memory a peer's read pulls by key. Served as a PULL is (any
// block, as often as asked), but only once the key, rights and bounds of
// the whole read check out; refused otherwise, or when every read must be
// seen here, so that the peer asks with an RMA_REQUEST.
void Endpoint::on_key_pull(const wire::Frame& frame, const link::Route& from) {
    const auto& pull = std::get<wire::KeyPull>(frame.body);
    if (!config_.reliable) {
        ++counters_.not_for_us;
        return;
    }
    PeerId peer;
    Partner* partner = puller_of(frame, from, pull, &peer);
    if (!partner) return;
    // Replies no longer than the frames agreed on with the peer.
    if (pull.reply_max > limits_with(*partner).pull_reply_max) {
        ++counters_.decode_drops[static_cast<size_t>(wire::DropReason::BadLength)];
        return;
    }
    std::array<iovec, kMaxIovWithData> source;
    size_t count = 0;
    const Status found = (read_events_ || !regions_dir_)
                             ? Status::AccessDenied
                             : regions_dir_->find(pull.key, pull.addr, pull.total_length, Access::RemoteRead, source,
                                                  &count);
    if (found != Status::Ok) {
        ++counters_.key_pulls_refused;
        send_pull_nack(*partner, pull.src_pull_handle, pull.src_magic, wire::NackType::BadRdmaWindow);
        return;
    }
    ++counters_.key_pulls_served;
    send_pull_replies(*partner, {source.data(), count}, pull.block_offset(), pull.block_length, pull.reply_max,
                      pull.frame_index, pull.src_pull_handle, pull.src_magic);
}

// A refused request touched nothing; the target's application learns of it
// through the error count of its remote-access counter.
// Atomics are applied as their request is taken, in sequence: a resent
// request is a duplicate and never applied twice.
void Endpoint::serve_atomic(PeerId peer, const wire::RmaRequest& request, std::span<const uint8_t> payload) {
    const AtomicForm form = request.op == wire::RmaOp::Atomic        ? AtomicForm::Plain
                            : request.op == wire::RmaOp::FetchAtomic ? AtomicForm::Fetch
                                                                     : AtomicForm::Compare;
    const size_t size = atomic_size(request.datatype);
    if (!atomic_valid(request.datatype, request.atomic_op, form) || request.length == 0 ||
        request.length % size != 0 || request.length > kAtomicMaxBytes) {
        refuse_rma(peer, request, Status::Unsupported);
        return;
    }
    const bool reads_only = request.atomic_op == static_cast<uint8_t>(AtomicOp::Read);
    const size_t expected = (reads_only ? 0 : request.length) + (form == AtomicForm::Compare ? request.length : 0);
    if (payload.size() != expected) {
        refuse_rma(peer, request, Status::Unsupported);
        return;
    }
    // Changing needs the right to write, answering with the values from
    // before the right to read.
    std::array<iovec, kMaxIovWithData> target;
    size_t count = 0;
    Status found = regions_dir_ ? Status::Ok : Status::AccessDenied;
    if (found == Status::Ok && !reads_only)
        found = regions_dir_->find(request.key, request.addr, request.length, Access::RemoteWrite, target, &count);
    if (found == Status::Ok && form != AtomicForm::Plain)
        found = regions_dir_->find(request.key, request.addr, request.length, Access::RemoteRead, target, &count);
    // Elements must lie whole and aligned in one piece of the region.
    if (found == Status::Ok && (count != 1 || reinterpret_cast<uintptr_t>(target[0].iov_base) % size != 0))
        found = Status::OutOfBounds;
    if (found != Status::Ok) {
        refuse_rma(peer, request, found);
        return;
    }
    std::array<uint8_t, kAtomicMaxBytes> before;
    const uint8_t* operands = reads_only ? nullptr : payload.data();
    const uint8_t* compare = form == AtomicForm::Compare ? payload.data() + request.length : nullptr;
    apply_atomic(request.datatype, request.atomic_op, target[0].iov_base, operands, compare,
                 form == AtomicForm::Plain ? nullptr : before.data(), request.length / size);
    remote_event(peer, reads_only ? RmaRole::RemoteRead : RmaRole::RemoteWrite, request.length, false, 0, Status::Ok,
                 true);
    const std::span<const uint8_t> fetched =
        form == AtomicForm::Plain ? std::span<const uint8_t>{} : std::span<const uint8_t>{before.data(), request.length};
    send_rma_reply(peer, request, wire::RmaStatus::Ok, {}, false, fetched);
}

void Endpoint::refuse_rma(PeerId peer, const wire::RmaRequest& request, Status status) {
    ++counters_.rma_refused;
    const RmaRole role = request.op == wire::RmaOp::Read ? RmaRole::RemoteRead : RmaRole::RemoteWrite;
    remote_event(peer, role, request.length, false, 0, status);
    send_rma_reply(peer, request, wire_status(status), {}, false);
}

// Answers a request; `data` is what a read returns (straight from the
// region: a resent answer reads it again), inline or by region.
void Endpoint::send_rma_reply(PeerId peer, const wire::RmaRequest& request, wire::RmaStatus status,
                              std::span<const iovec> data, bool by_region, std::span<const uint8_t> bytes) {
    SendRequest* reply = (by_region && free_regions_.empty()) ? nullptr : sends_.get();
    if (!reply) {
        // Out of requests or regions: answered from timers() once there are.
        // A read is looked up again then; an atomic's values are kept.
        reply_backlog_.push_back({peer, request, status, std::vector<uint8_t>(bytes.begin(), bytes.end())});
        return;
    }
    reply->kind = SendRequest::Kind::RmaReply;
    reply->peer = peer;
    reply->report = false;
    reply->rma_status = static_cast<uint8_t>(status);
    reply->rma_handle = request.handle;
    for (const iovec& v : data) reply->iov[reply->iov_count++] = v;
    if (!bytes.empty()) {
        reply->copy.assign(bytes.begin(), bytes.end());
        reply->iov[reply->iov_count++] = iovec{reply->copy.data(), reply->copy.size()};
    }
    reply->length = iov_length({reply->iov.data(), reply->iov_count});
    if (by_region) allocate_region(reply);
    transmit(partners_[peer], reply);
}

void Endpoint::serve_reply_backlog() {
    size_t served = 0;
    while (served < reply_backlog_.size() && sends_.available() > 0 && !free_regions_.empty()) {
        const PendingReply pending = std::move(reply_backlog_[served++]);
        if (pending.status == wire::RmaStatus::Ok && pending.request.op == wire::RmaOp::Read)
            serve_read(pending.peer, pending.request);
        else
            send_rma_reply(pending.peer, pending.request, pending.status, {}, false, pending.bytes);
    }
    reply_backlog_.erase(reply_backlog_.begin(), reply_backlog_.begin() + static_cast<ptrdiff_t>(served));
}

void Endpoint::remote_event(PeerId peer, RmaRole role, size_t length, bool has_data, uint64_t data,
                            Status status, bool atomic) {
    Completion c;
    c.rma = role;
    c.atomic = atomic;
    c.status = status;
    c.peer = peer;
    c.length = length;
    c.has_data = has_data;
    c.data = data;
    // Remote CQ data asks for an entry; the layer above may want one for
    // every access (FI_RMA_EVENT). Counters count them all.
    c.report = has_data && status == Status::Ok;
    sink_.complete(c);
}

// A pull of RMA data ended: the data of a peer's write is in our region,
// or the target's data is in our read's buffers.
void Endpoint::finish_rma_pull(RecvRequest* recv, Status status) {
    const PeerId peer = recv->peer;
    if (recv->kind == RecvRequest::Kind::RmaTarget) {
        wire::RmaRequest request;
        request.handle = recv->rma_handle;
        if (status == Status::Ok) {
            remote_event(peer, RmaRole::RemoteWrite, recv->transfer_length, recv->rma_cq, recv->rma_data);
            send_rma_reply(peer, request, wire::RmaStatus::Ok, {}, false);
        } else if (status == Status::ReadFailed) {
            send_rma_reply(peer, request, wire::RmaStatus::Busy, {}, false);
        }
        // Otherwise the connection is gone, and the answer with it.
    } else if (recv->by_key) {
        SendRequest* read = recv->origin;
        if (recv->key_refused) {
            // Asked again in sequence: the target's answer says why.
            ++counters_.key_reads_resent;
            submit(peer, partners_[peer], read);
        } else {
            complete_send(read, status);
        }
    } else {
        if (status == Status::Ok)
            send_notify(peer, recv->pull_region, recv->pull_region_seq, static_cast<uint32_t>(recv->transfer_length));
        complete_send(recv->origin, status);
    }
    rma_pulls_.put(recv);
}

}  // namespace xen2mx::engine
