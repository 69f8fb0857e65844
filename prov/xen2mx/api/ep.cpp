#include "ep.hpp"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <system_error>

#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_collective.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>

#include "attr.hpp"
#include "av.hpp"
#include "cntr.hpp"
#include "cq.hpp"
#include "enosys.hpp"
#include "eq.hpp"
#include "enum_field.hpp"
#include "getinfo.hpp"
#include "link/host_addresses.hpp"
#include "link_choice.hpp"
#include "log.hpp"
#include "mr.hpp"
#include "names.hpp"
#include "params.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx::api {

namespace {

// The keeper makes progress on an endpoint whose application has not for this
// long, or a quarter of the peer timeout when that is shorter: longer than
// the gaps between the calls of an application in a communication phase
// (the keeper would only contend with it there), short beside a compute
// phase, during which peers' reads of this process's memory and pulls of
// its large sends wait for the keeper.
constexpr std::chrono::milliseconds kKeeperIdle{100};

constexpr uint64_t kCqBindFlags = FI_TRANSMIT | FI_RECV | FI_SELECTIVE_COMPLETION;
constexpr uint64_t kCntrBindFlags = FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;

template <typename Object>
void release(Object*& object) {
    if (object) object->dependents.release();
    object = nullptr;
}

int ep_close(fid* f) {
    auto* ep = object_of<Endpoint>(f);
    if (ep->dependents.busy()) return -FI_EBUSY;
    stop_serving_reads(ep->domain, ep);
    // Nobody makes progress on it from now on: its threads stop before the
    // queues and counters they post to are released.
    ep->stop_threads();
    if (ep->tx_cq) ep->tx_cq->sources.remove(ep);
    if (ep->rx_cq && ep->rx_cq != ep->tx_cq) ep->rx_cq->sources.remove(ep);
    for (Counter* cntr : ep->cntrs) {
        if (cntr) cntr->sources.remove(ep);
    }
    release(ep->av);
    release(ep->eq);
    release(ep->tx_cq);
    release(ep->rx_cq);
    for (Counter*& cntr : ep->cntrs) release(cntr);
    ep->domain->dependents.release();
    std::unique_ptr<Endpoint> owner(ep);
    return 0;
}

int bind_cq(Endpoint* ep, CompletionQueue* cq, uint64_t flags) {
    if (flags & ~kCqBindFlags) return -FI_EBADFLAGS;
    if (!(flags & (FI_TRANSMIT | FI_RECV))) return -FI_EBADFLAGS;
    if ((flags & FI_TRANSMIT) && ep->tx_cq) return -FI_EINVAL;
    if ((flags & FI_RECV) && ep->rx_cq) return -FI_EINVAL;
    const bool selective = flags & FI_SELECTIVE_COMPLETION;
    if (flags & FI_TRANSMIT) {
        cq->dependents.hold();
        ep->tx_cq = cq;
        ep->tx_selective = selective;
    }
    if (flags & FI_RECV) {
        cq->dependents.hold();
        ep->rx_cq = cq;
        ep->rx_selective = selective;
    }
    cq->sources.add(ep);
    return 0;
}

int bind_cntr(Endpoint* ep, Counter* cntr, uint64_t flags) {
    if (!flags || (flags & ~kCntrBindFlags)) return -FI_EBADFLAGS;
    // RMA events exist only with RMA capabilities.
    const uint64_t rma_events = FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
    if ((flags & rma_events) && !(ep->caps & (FI_RMA | FI_ATOMIC))) return -FI_EBADFLAGS;
    const struct {
        uint64_t flag;
        Endpoint::CounterSlot slot;
    } slots[] = {{FI_SEND, Endpoint::kSendCntr},         {FI_RECV, Endpoint::kRecvCntr},
                 {FI_READ, Endpoint::kReadCntr},         {FI_WRITE, Endpoint::kWriteCntr},
                 {FI_REMOTE_READ, Endpoint::kRemoteReadCntr}, {FI_REMOTE_WRITE, Endpoint::kRemoteWriteCntr}};
    for (const auto& s : slots) {
        if ((flags & s.flag) && ep->cntrs[s.slot]) return -FI_EINVAL;
    }
    for (const auto& s : slots) {
        if (!(flags & s.flag)) continue;
        cntr->dependents.hold();
        ep->cntrs[s.slot] = cntr;
    }
    cntr->sources.add(ep);
    return 0;
}

int bind_locked(Endpoint* ep, fid* bfid, uint64_t flags);

int ep_bind(fid* f, fid* bfid, uint64_t flags) {
    auto* ep = object_of<Endpoint>(f);
    if (!bfid) return -FI_EINVAL;
    std::lock_guard guard(ep->lock);
    const int ret = bind_locked(ep, bfid, flags);
    if (ret)
        X2M_WARN(FI_LOG_EP_CTRL, "binding an object of class %zu with flags 0x%llx: %s\n", bfid->fclass,
                 static_cast<unsigned long long>(flags), fi_strerror(-ret));
    return ret;
}

int bind_locked(Endpoint* ep, fid* bfid, uint64_t flags) {
    if (ep->enabled) return -FI_EOPBADSTATE;
    switch (bfid->fclass) {
    case FI_CLASS_AV: {
        auto* av = object_of<AddressVector>(bfid);
        if (av->domain != ep->domain) return -FI_EINVAL;
        if (flags) return -FI_EBADFLAGS;
        if (ep->av) return -FI_EINVAL;
        av->dependents.hold();
        ep->av = av;
        return 0;
    }
    case FI_CLASS_CQ: {
        auto* cq = object_of<CompletionQueue>(bfid);
        if (cq->domain != ep->domain) return -FI_EINVAL;
        return bind_cq(ep, cq, flags);
    }
    case FI_CLASS_CNTR: {
        auto* cntr = object_of<Counter>(bfid);
        if (cntr->domain != ep->domain) return -FI_EINVAL;
        return bind_cntr(ep, cntr, flags);
    }
    case FI_CLASS_EQ: {
        auto* eq = object_of<EventQueue>(bfid);
        if (eq->fabric != ep->domain->fabric) return -FI_EINVAL;
        if (ep->eq) return -FI_EINVAL;
        eq->dependents.hold();
        ep->eq = eq;
        return 0;
    }
    default: return -FI_EINVAL;
    }
}

int ep_enable(Endpoint* ep) {
    std::lock_guard guard(ep->lock);
    if (ep->enabled) return 0;
    if (!ep->av) {
        X2M_WARN(FI_LOG_EP_CTRL, "fi_enable: no address vector bound\n");
        return -FI_ENOAV;
    }
    const bool sends = !(ep->caps & (FI_SEND | FI_RECV)) || (ep->caps & FI_SEND);
    const bool receives = !(ep->caps & (FI_SEND | FI_RECV)) || (ep->caps & FI_RECV);
    if (sends && !ep->tx_cq && !ep->cntrs[Endpoint::kSendCntr]) {
        X2M_WARN(FI_LOG_EP_CTRL, "fi_enable: no transmit completion queue or counter bound\n");
        return -FI_ENOCQ;
    }
    if (receives && !ep->rx_cq && !ep->cntrs[Endpoint::kRecvCntr]) {
        X2M_WARN(FI_LOG_EP_CTRL, "fi_enable: no receive completion queue or counter bound\n");
        return -FI_ENOCQ;
    }
    ep->enabled = true;
    // Reads the application must see are never answered by the link alone.
    const bool read_events = (ep->caps & FI_RMA_EVENT) || ep->cntrs[Endpoint::kRemoteReadCntr];
    ep->engine->set_read_events(read_events);
    if (ep->type == FI_EP_RDM && (ep->caps & FI_RMA) && !read_events) serve_reads(ep->domain, ep);
    if (ep->domain->data_progress == FI_PROGRESS_AUTO) {
        if (int ret = ep->stop_signal.open()) return ret;
        ep->progress_thread = std::thread([ep] {
            const int link_fd = ep->engine->wait_fd();
            while (!ep->stopping.load(std::memory_order_acquire)) {
                bool sleep;
                {
                    std::lock_guard guard(ep->lock);
                    sleep = ep->engine->prepare_wait();
                }
                pollfd fds[2] = {{link_fd, POLLIN, 0}, {ep->stop_signal.fd(), POLLIN, 0}};
                if (!sleep) {
                    ep->progress();
                    continue;
                }
                ::poll(fds, 2, 1);
                std::lock_guard guard(ep->lock);
                ep->engine->progress_all(engine::coarse_now());
            }
        });
    } else if (ep->type == FI_EP_RDM) {
        if (int ret = ep->stop_signal.open()) return ret;
        if (int ret = ep->keeper_wake.open()) return ret;
        // Enabling counts as the application's progress: the keeper waits.
        ep->last_progress = engine::coarse_now();
        try {
            ep->keeper_thread = std::thread([ep] { ep->keep(); });
        } catch (const std::system_error&) {
            X2M_WARN(FI_LOG_EP_CTRL, "fi_enable: no keeper thread: the protocol waits for the application's progress\n");
        }
    }
    return 0;
}

int ep_control(fid* f, int command, void* arg) {
    auto* ep = object_of<Endpoint>(f);
    switch (command) {
    case FI_ENABLE: return ep_enable(ep);
    case FI_GETOPSFLAG:
    case FI_SETOPSFLAG: {
        if (!arg) return -FI_EINVAL;
        auto* flags = static_cast<uint64_t*>(arg);
        const bool tx = *flags & FI_TRANSMIT;
        const bool rx = *flags & FI_RECV;
        if (tx == rx) return -FI_EINVAL;
        uint64_t& side = tx ? ep->tx_op_flags : ep->rx_op_flags;
        const uint64_t allowed = tx ? kTxOpFlags : kRxOpFlags;
        if (command == FI_GETOPSFLAG) {
            *flags = side | (tx ? FI_TRANSMIT : FI_RECV);
            return 0;
        }
        const uint64_t wanted = *flags & ~uint64_t{FI_TRANSMIT | FI_RECV};
        if (wanted & ~allowed) return -FI_EINVAL;
        side = wanted;
        return 0;
    }
    default: return -FI_ENOSYS;
    }
}

ssize_t ep_cancel(fid_t f, void* context) {
    auto* ep = object_of<Endpoint>(f);
    std::lock_guard guard(ep->lock);
    return ep->engine->cancel(context) ? 0 : -FI_ENOENT;
}

fi_ops ep_fid_ops = {
    .size = sizeof(fi_ops),
    .close = ep_close,
    .bind = ep_bind,
    .control = ep_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_ep ep_ops = {
    .size = sizeof(fi_ops_ep),
    .cancel = ep_cancel,
    .getopt = endpoint_getopt,
    .setopt = endpoint_setopt,
    .tx_ctx = X2M_ENOSYS(fi_ops_ep, tx_ctx),  // no scalable endpoints
    .rx_ctx = X2M_ENOSYS(fi_ops_ep, rx_ctx),
    .rx_size_left = X2M_ENOSYS(fi_ops_ep, rx_size_left),  // deprecated calls
    .tx_size_left = X2M_ENOSYS(fi_ops_ep, tx_size_left),
};

int ep_getname(fid_t f, void* addr, size_t* addrlen) {
    auto* ep = object_of<Endpoint>(f);
    if (!addrlen) return -FI_EINVAL;
    uint8_t bytes[wire::kAddressLength];
    {
        std::lock_guard guard(ep->lock);
        wire::encode_address(ep->engine->address(), bytes);
    }
    const size_t room = *addrlen;
    *addrlen = sizeof bytes;
    if (room < sizeof bytes || !addr) return -FI_ETOOSMALL;
    std::memcpy(addr, bytes, sizeof bytes);
    return 0;
}

int ep_setname(fid_t f, void* addr, size_t addrlen) {
    auto* ep = object_of<Endpoint>(f);
    if (!addr) return -FI_EINVAL;
    auto address = wire::decode_address({static_cast<const uint8_t*>(addr), addrlen});
    if (!address) return -FI_EINVAL;
    std::lock_guard guard(ep->lock);
    if (ep->enabled) return -FI_EOPBADSTATE;
    const link::Address current = ep->engine->address();
    if (current.board == address->board && current.endpoint == address->endpoint) return 0;
    // The old name stays until the new one is certain.
    std::unique_ptr<engine::Endpoint> engine;
    if (int ret = open_engine(ep, *address, &engine)) return ret;
    ep->engine = std::move(engine);
    return 0;
}

// Connection management belongs to FI_EP_MSG, which is not offered.
fi_ops_cm ep_cm_ops = {
    .size = sizeof(fi_ops_cm),
    .setname = ep_setname,
    .getname = ep_getname,
    .getpeer = X2M_ENOSYS(fi_ops_cm, getpeer),
    .connect = X2M_ENOSYS(fi_ops_cm, connect),
    .listen = X2M_ENOSYS(fi_ops_cm, listen),
    .accept = X2M_ENOSYS(fi_ops_cm, accept),
    .reject = X2M_ENOSYS(fi_ops_cm, reject),
    .shutdown = X2M_ENOSYS(fi_ops_cm, shutdown),
    .join = X2M_ENOSYS(fi_ops_cm, join),
};

// RMA and atomics come with the issue "RMA, atomics and Open MPI".
// Collectives are not offered.
fi_ops_collective ep_collective_ops = {
    .size = sizeof(fi_ops_collective),
    .barrier = X2M_ENOSYS(fi_ops_collective, barrier),
    .broadcast = X2M_ENOSYS(fi_ops_collective, broadcast),
    .alltoall = X2M_ENOSYS(fi_ops_collective, alltoall),
    .allreduce = X2M_ENOSYS(fi_ops_collective, allreduce),
    .allgather = X2M_ENOSYS(fi_ops_collective, allgather),
    .reduce_scatter = X2M_ENOSYS(fi_ops_collective, reduce_scatter),
    .reduce = X2M_ENOSYS(fi_ops_collective, reduce),
    .scatter = X2M_ENOSYS(fi_ops_collective, scatter),
    .gather = X2M_ENOSYS(fi_ops_collective, gather),
    .msg = X2M_ENOSYS(fi_ops_collective, msg),
    .barrier2 = X2M_ENOSYS(fi_ops_collective, barrier2),
};

}  // namespace

int open_endpoint(fid_domain* domain_handle, fi_info* info, fid_ep** ep_handle, void* context) {
    if (!domain_handle || !info || !ep_handle || !info->ep_attr) return -FI_EINVAL;
    auto* domain = object_of<Domain>(domain_handle);
    const int asked = raw(info->ep_attr->type);
    if (asked != FI_EP_RDM && asked != FI_EP_DGRAM) {
        X2M_WARN(FI_LOG_EP_CTRL, "endpoint type %d not offered (FI_EP_RDM and FI_EP_DGRAM are)\n", asked);
        return -FI_ENOPROTOOPT;
    }
    const fi_ep_type type = info->ep_attr->type;
    if (int ret = check_info(info, domain->api_version)) {
        X2M_WARN(FI_LOG_EP_CTRL, "fi_endpoint: the fi_info asks for what xen2mx does not offer\n");
        return ret;
    }
    auto ep = std::make_unique<Endpoint>();
    ep->domain = domain;
    ep->type = type;
    ep->caps = info->caps ? info->caps : offered_caps(type);
    if (info->tx_attr) ep->tx_op_flags = info->tx_attr->op_flags;
    if (info->rx_attr) ep->rx_op_flags = info->rx_attr->op_flags;
    ep->max_msg_size = type == FI_EP_DGRAM ? kDgramMaxMsgSize : kRdmMaxMsgSize;
    ep->inject_size = kInjectSize;

    // The link opens now, so that the endpoint has its address (fi_getname)
    // before it is enabled; a source address in the info chooses it.
    link::Address wanted;
    wanted.endpoint = kAnyEndpoint;
    if (info->src_addr) {
        auto source = wire::decode_address({static_cast<const uint8_t*>(info->src_addr), info->src_addrlen});
        if (!source) return -FI_EINVAL;
        wanted = *source;
    }
    if (int ret = open_engine(ep.get(), wanted, &ep->engine)) return ret;
    ep->handle.fid.fclass = FI_CLASS_EP;
    ep->handle.fid.context = context;
    ep->handle.fid.ops = &ep_fid_ops;
    ep->handle.ops = &ep_ops;
    ep->handle.cm = &ep_cm_ops;
    ep->handle.msg = &endpoint_msg_ops;
    ep->handle.tagged = &endpoint_tagged_ops;
    ep->handle.rma = &endpoint_rma_ops;
    ep->handle.atomic = &endpoint_atomic_ops;
    ep->handle.collective = &ep_collective_ops;
    domain->dependents.hold();
    *ep_handle = &ep.release()->handle;
    return 0;
}

}  // namespace xen2mx::api

namespace xen2mx::api {

void Endpoint::stop_threads() {
    if (!progress_thread.joinable() && !keeper_thread.joinable()) return;
    {
        std::lock_guard guard(lock);
        stopping.store(true, std::memory_order_release);
    }
    stop_signal.raise();
    if (progress_thread.joinable()) progress_thread.join();
    if (keeper_thread.joinable()) keeper_thread.join();
}

Endpoint::~Endpoint() {
    stop_threads();
    if (engine) {
        // Acks owed to peers go out now: their sends complete only with them.
        std::lock_guard guard(lock);
        engine->flush();
    }
}

void EndpointSink::complete(const engine::Completion& completion) { ep->complete(completion); }

int fabric_errno(engine::Status status) {
    switch (status) {
    case engine::Status::Ok: return 0;
    case engine::Status::Truncated: return FI_ETRUNC;
    case engine::Status::Canceled: return FI_ECANCELED;
    case engine::Status::PeerTimeout: return FI_ETIMEDOUT;
    case engine::Status::PeerRefused: return FI_ECONNREFUSED;
    case engine::Status::PeerReset: return FI_ECONNRESET;
    case engine::Status::PeerGone: return FI_ECONNABORTED;
    case engine::Status::ReadFailed: return FI_EIO;
    case engine::Status::NoResources: return FI_ENOMEM;
    case engine::Status::NoMessage: return FI_ENOMSG;
    case engine::Status::AccessDenied: return FI_EACCES;
    case engine::Status::OutOfBounds: return FI_EINVAL;
    case engine::Status::Unsupported: return FI_EOPNOTSUPP;
    }
    return FI_EOTHER;
}

engine::PeerId Endpoint::peer_of(fi_addr_t addr) {
    if (addr < peers.size() && peers[addr] != engine::kNoPeer) return peers[addr];
    if (!av || addr == FI_ADDR_UNSPEC || addr == FI_ADDR_NOTAVAIL) return engine::kNoPeer;
    auto address = av->lookup(addr);
    if (!address) return engine::kNoPeer;
    const engine::PeerId peer = engine->peer_of(*address);
    if (peers.size() <= addr) peers.resize(addr + 1, engine::kNoPeer);
    peers[addr] = peer;
    if (addrs.size() <= peer) addrs.resize(peer + 1, FI_ADDR_NOTAVAIL);
    addrs[peer] = addr;
    return peer;
}

void Endpoint::progress() {
    std::lock_guard guard(lock);
    if (!engine) return;
    last_progress = engine::coarse_now();
    engine->progress(last_progress);
}

void Endpoint::watch_connection(engine::PeerId peer) {
    if (!keeper_thread.joinable() || !engine->connecting(peer)) return;
    if (std::find(connecting.begin(), connecting.end(), peer) != connecting.end()) return;
    connecting.push_back(peer);
    keeper_wake.raise();
}

void Endpoint::keep() {
    const int link_fd = engine->wait_fd();
    const auto idle = std::min<engine::Duration>(kKeeperIdle, engine->config().peer_timeout / 4);
    const int idle_check_ms =
        std::max(1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(idle).count() / 4));
    std::unique_lock guard(lock);
    while (!stopping.load(std::memory_order_acquire)) {
        keeper_wake.clear();
        const auto now = engine::coarse_now();
        const bool away = now - last_progress >= idle;
        if (!connecting.empty() || away) {
            engine->progress_all(now);
            std::erase_if(connecting, [this](engine::PeerId peer) { return !engine->connecting(peer); });
        }
        // Sends waiting for a connection: wake for the peer's reply or the
        // next resend. An application away from the library: wake for every
        // frame too, so that what peers ask of this endpoint (an RMA read, a
        // pull the kernel does not answer, an acknowledgement) is answered
        // at once rather than at the next look, and for the engine's timers.
        // Otherwise look again in a while: frames are the application's to
        // take, and waking for each would only contend with it.
        int sleep_ms = idle_check_ms;
        nfds_t count = 2;
        if (!connecting.empty() || away) {
            count = 3;
            if (!connecting.empty()) sleep_ms = 100;
            // A timer due now that the progress above did not serve must
            // not make an away endpoint's keeper spin: 1 ms at least then.
            const int least = connecting.empty() ? 1 : 0;
            const auto next = engine->next_timer();
            if (next != engine::TimePoint::max())
                sleep_ms = static_cast<int>(std::clamp<long long>(
                    std::chrono::ceil<std::chrono::milliseconds>(next - engine::coarse_now()).count(), least,
                    sleep_ms));
        }
        // Links that wake a sleeper only on request (shared-memory rings)
        // are told now; frames already waiting mean no sleep at all.
        if (count == 3 && !engine->prepare_wait()) continue;
        guard.unlock();
        pollfd fds[3] = {{stop_signal.fd(), POLLIN, 0}, {keeper_wake.fd(), POLLIN, 0}, {link_fd, POLLIN, 0}};
        ::poll(fds, count, sleep_ms);
        guard.lock();
    }
}

void Endpoint::describe_peer(engine::PeerId peer, CompletionError* error) {
    if (peer == engine::kNoPeer) return;
    static_assert(wire::kAddressLength <= kMaxErrData);
    wire::encode_address(engine->peer_address(peer),
                         std::span<uint8_t, wire::kAddressLength>(error->err_data.data(), wire::kAddressLength));
    error->err_data_size = wire::kAddressLength;
}

void Endpoint::complete(const engine::Completion& c) {
    const int err = fabric_errno(c.status);
    Completion entry;
    entry.op_context = c.context;
    entry.tag = c.tagged ? c.tag : 0;
    if (c.rma != engine::RmaRole::None) {
        complete_rma(c, entry, err);
        return;
    }
    if (c.is_send) {
        entry.flags = FI_SEND | (c.tagged ? FI_TAGGED : FI_MSG);
        if (Counter* cntr = cntrs[kSendCntr]) err ? cntr->add_error(1) : cntr->add(1);
        if (!tx_cq) return;
        if (!err) {
            if (c.report) tx_cq->post(entry);
            return;
        }
        if (unowned_failure(c, err)) return;
        post_failure(tx_cq, entry, c, err);
        return;
    }

    // A multi-receive buffer released on its own is reported by FI_MULTI_RECV alone.
    if (!c.release_only)
        entry.flags = FI_RECV | (c.tagged ? FI_TAGGED : FI_MSG) | (c.has_data ? FI_REMOTE_CQ_DATA : 0);
    if (c.released) entry.flags |= FI_MULTI_RECV;
    // A peek reports the size of the message it found (fi_tagged(3)).
    entry.len = c.probe ? c.message_length : c.length;
    entry.buf = c.buf;
    entry.data = c.data;
    if (c.peer != engine::kNoPeer) {
        if (c.peer >= addrs.size()) addrs.resize(c.peer + 1, FI_ADDR_NOTAVAIL);
        if (addrs[c.peer] == FI_ADDR_NOTAVAIL && av) addrs[c.peer] = av->find(engine->peer_address(c.peer));
        entry.source = addrs[c.peer];
    }
    // The counter counts messages taken off the queue: a probe that leaves
    // the message where it is, or a buffer release, is no receive.
    const bool counted = !c.release_only && (!c.probe || c.discarded);
    if (Counter* cntr = cntrs[kRecvCntr]; cntr && counted) err ? cntr->add_error(1) : cntr->add(1);
    if (!rx_cq) return;
    if (!err) {
        if (c.report) rx_cq->post(entry);
        return;
    }
    post_failure(rx_cq, entry, c, err);
}

void Endpoint::complete_rma(const engine::Completion& c, Completion& entry, int err) {
    switch (c.rma) {
    case engine::RmaRole::Read:
    case engine::RmaRole::Write: {
        const bool read = c.rma == engine::RmaRole::Read;
        entry.flags = (c.atomic ? FI_ATOMIC : FI_RMA) | (read ? FI_READ : FI_WRITE);
        if (Counter* cntr = cntrs[read ? kReadCntr : kWriteCntr]) err ? cntr->add_error(1) : cntr->add(1);
        if (!tx_cq) return;
        if (!err) {
            if (c.report) tx_cq->post(entry);
        } else if (!unowned_failure(c, err)) {
            post_failure(tx_cq, entry, c, err);
        }
        return;
    }
    case engine::RmaRole::RemoteRead:
    case engine::RmaRole::RemoteWrite: {
        // A peer's access to our memory: counted (a refused one as an
        // error), and reported when it brings remote CQ data (fi_writedata)
        // or when the endpoint asked for every one (FI_RMA_EVENT).
        const bool read = c.rma == engine::RmaRole::RemoteRead;
        if (Counter* cntr = cntrs[read ? kRemoteReadCntr : kRemoteWriteCntr]) err ? cntr->add_error(1) : cntr->add(1);
        if (err) {
            X2M_INFO(FI_LOG_EP_DATA, "refused a peer's RMA %s of %zu bytes: %s\n", read ? "read" : "write", c.length,
                     engine::status_text(c.status));
            return;
        }
        if (!rx_cq || !(c.report || (caps & FI_RMA_EVENT))) return;
        entry.op_context = nullptr;
        entry.flags = (c.atomic ? FI_ATOMIC : FI_RMA) | (read ? FI_REMOTE_READ : FI_REMOTE_WRITE) |
                      (c.has_data ? FI_REMOTE_CQ_DATA : 0);
        entry.len = c.length;
        entry.data = c.data;
        rx_cq->post(entry);
        return;
    }
    case engine::RmaRole::None: return;
    }
}

// An injected operation (no context, no completion asked for) that fails
// has no entry to fail in: an error entry without a context is one that
// applications (Open MPI's MTL among them) cannot tell from their own. It
// is logged and counted on the endpoint's counter instead.
bool Endpoint::unowned_failure(const engine::Completion& c, int err) {
    if (c.report || c.context) return false;
    X2M_WARN(FI_LOG_EP_DATA, "an injected %s of %zu bytes failed: %s (%s)\n",
             c.rma == engine::RmaRole::None ? "send" : "RMA operation", c.length, fi_strerror(err),
             engine::status_text(c.status));
    return true;
}

void Endpoint::post_failure(CompletionQueue* cq, const Completion& entry, const engine::Completion& c, int err) {
    CompletionError error;
    error.entry = entry;
    error.err = err;
    error.prov_errno = static_cast<int>(c.status);
    describe_peer(c.peer, &error);
    if (c.status == engine::Status::Truncated) error.olen = c.message_length - c.length;
    cq->post_error(error);
}

}  // namespace xen2mx::api
