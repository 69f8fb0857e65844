// The data path: fi_send/fi_recv and their tagged forms, handed to the
// engine; the unexpected-queue probe (FI_PEEK, FI_CLAIM, FI_DISCARD), and
// multi-receive buffers with their option FI_OPT_MIN_MULTI_RECV.
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

#include <cerrno>
#include <cstring>

#include "attr.hpp"
#include "ep.hpp"
#include "log.hpp"

namespace xen2mx::api {

namespace {

constexpr uint64_t kSendFlags = FI_COMPLETION | FI_INJECT | FI_INJECT_COMPLETE | FI_TRANSMIT_COMPLETE |
                                FI_DELIVERY_COMPLETE | FI_REMOTE_CQ_DATA | FI_MORE | FI_FENCE;
constexpr uint64_t kRecvFlags = FI_COMPLETION | FI_MORE | FI_MULTI_RECV;
// Multi-receive buffers take untagged messages only (libfabric 1.17).
constexpr uint64_t kTaggedRecvFlags = kRecvFlags & ~uint64_t{FI_MULTI_RECV};
constexpr uint64_t kProbeFlags = FI_PEEK | FI_CLAIM | FI_DISCARD;

int engine_errno(int ret) {
    switch (ret) {
    case -EAGAIN: return -FI_EAGAIN;
    case -EMSGSIZE: return -FI_EMSGSIZE;
    case -EINVAL: return -FI_EINVAL;
    case -ENOMSG: return -FI_ENOMSG;
    default: return ret;
    }
}

struct SendOp {
    const iovec* iov = nullptr;
    size_t count = 0;
    fi_addr_t dest = FI_ADDR_UNSPEC;
    bool tagged = false;
    uint64_t tag = 0;
    void* context = nullptr;
    uint64_t flags = 0;
    bool has_data = false;
    uint64_t data = 0;
    bool inject = false;  // fi_inject: no completion at all
};

ssize_t post_send(Endpoint* ep, const SendOp& op) {
    if (op.count > kIovLimit || (op.count && !op.iov)) return -FI_EINVAL;
    if (op.flags & ~kSendFlags) return -FI_EBADFLAGS;
    size_t length = 0;
    for (size_t i = 0; i < op.count; ++i) length += op.iov[i].iov_len;
    if (length > ep->max_msg_size) return -FI_EMSGSIZE;
    const bool copy = op.inject || (op.flags & FI_INJECT);
    if (copy && length > ep->inject_size) return -FI_EMSGSIZE;

    engine::SendArgs args;
    args.iov = {op.iov, op.count};
    args.tag = op.tag;
    args.tagged = op.tagged;
    args.has_data = op.has_data;
    args.data = op.data;
    args.context = op.context;
    args.copy = copy;
    args.sync = op.flags & FI_DELIVERY_COMPLETE;
    args.report = !op.inject && (!ep->tx_selective || (op.flags & FI_COMPLETION));

    std::lock_guard guard(ep->lock);
    if (!ep->enabled) return -FI_EOPBADSTATE;
    args.peer = ep->peer_of(op.dest);
    if (args.peer == engine::kNoPeer) return -FI_EINVAL;
    const auto now = engine::coarse_now();
    int ret = ep->engine->send(args, now);
    if (ret == -EAGAIN) {
        // Completions may be waiting to free a request.
        ep->engine->progress(now);
        ret = ep->engine->send(args, now);
    }
    if (ret == 0) ep->watch_connection(args.peer);
    return engine_errno(ret);
}

struct RecvOp {
    const iovec* iov = nullptr;
    size_t count = 0;
    fi_addr_t source = FI_ADDR_UNSPEC;
    bool tagged = false;
    uint64_t tag = 0;
    uint64_t ignore = 0;
    void* context = nullptr;
    uint64_t flags = 0;
};

// The engine peer a directed receive takes messages from: kNoPeer for any,
// or false when the address is unknown. Called with the lock held.
bool receive_source(Endpoint* ep, fi_addr_t source, engine::PeerId* from) {
    *from = engine::kNoPeer;
    if (!(ep->caps & FI_DIRECTED_RECV) || source == FI_ADDR_UNSPEC) return true;
    *from = ep->peer_of(source);
    return *from != engine::kNoPeer;
}

// Calls the engine; when it has no request free, progress may complete some.
template <typename Call>
int with_retry(Endpoint* ep, Call call) {
    const auto now = engine::coarse_now();
    int ret = call(now);
    if (ret == -EAGAIN) {
        ep->engine->progress(now);
        ret = call(now);
    }
    return ret;
}

// fi_trecvmsg with FI_PEEK (a probe, answered in the CQ), or FI_CLAIM alone
// (the receive of a message a probe claimed), either with FI_DISCARD.
ssize_t post_probe(Endpoint* ep, const RecvOp& op) {
    const bool peek = op.flags & FI_PEEK;
    const bool claim = op.flags & FI_CLAIM;
    const bool discard = op.flags & FI_DISCARD;
    if (!peek && !claim) return -FI_EBADFLAGS;  // FI_DISCARD goes with one of them
    // The claiming probe and its receive are paired by their context.
    if (claim && !op.context) return -FI_EINVAL;

    std::lock_guard guard(ep->lock);
    if (!ep->enabled) return -FI_EOPBADSTATE;
    if (peek) {
        engine::ProbeArgs args;
        args.tag = op.tag;
        args.ignore = op.ignore;
        args.tagged = op.tagged;
        args.context = op.context;
        args.action = discard ? engine::ProbeAction::Discard
                      : claim ? engine::ProbeAction::Claim
                              : engine::ProbeAction::Peek;
        if (!receive_source(ep, op.source, &args.from)) return -FI_EINVAL;
        // Data is never returned with a peek: buf stays NULL in its entry.
        return engine_errno(with_retry(ep, [&](engine::TimePoint now) { return ep->engine->probe(args, now); }));
    }
    engine::RecvArgs args;
    // With FI_DISCARD the buffers are ignored (fi_tagged(3)).
    if (!discard) args.iov = {op.iov, op.count};
    args.context = op.context;
    args.report = !ep->rx_selective || (op.flags & FI_COMPLETION);
    return engine_errno(
        with_retry(ep, [&](engine::TimePoint now) { return ep->engine->claim(args, discard, now); }));
}

ssize_t post_recv(Endpoint* ep, const RecvOp& op) {
    if (op.count > kIovLimit || (op.count && !op.iov)) return -FI_EINVAL;
    if (op.flags & ~(op.tagged ? kTaggedRecvFlags | kProbeFlags : kRecvFlags)) return -FI_EBADFLAGS;
    if (op.flags & kProbeFlags) return post_probe(ep, op);
    const bool multi = op.flags & FI_MULTI_RECV;
    if (multi && !(ep->caps & FI_MULTI_RECV)) return -FI_EBADFLAGS;
    engine::RecvArgs args;
    args.iov = {op.iov, op.count};
    args.tag = op.tag;
    args.ignore = op.ignore;
    args.tagged = op.tagged;
    args.context = op.context;
    // Selective completion: an entry only when asked for (errors always).
    args.report = !ep->rx_selective || (op.flags & FI_COMPLETION);
    args.multi = multi;

    std::lock_guard guard(ep->lock);
    if (!ep->enabled) return -FI_EOPBADSTATE;
    if (!receive_source(ep, op.source, &args.from)) return -FI_EINVAL;
    args.min_free = ep->min_multi_recv;
    return engine_errno(with_retry(ep, [&](engine::TimePoint now) { return ep->engine->recv(args, now); }));
}

Endpoint* ep_of(fid_ep* handle) { return object_of<Endpoint>(handle); }
iovec one(const void* buf, size_t len) { return iovec{const_cast<void*>(buf), len}; }

// ------------------------------------------------------------------ fi_msg

ssize_t msg_recv(fid_ep* handle, void* buf, size_t len, void*, fi_addr_t src, void* context) {
    Endpoint* ep = ep_of(handle);
    const iovec iov = one(buf, len);
    return post_recv(ep, {&iov, 1, src, false, 0, 0, context, ep->rx_op_flags & kRecvFlags});
}

ssize_t msg_recvv(fid_ep* handle, const iovec* iov, void**, size_t count, fi_addr_t src, void* context) {
    Endpoint* ep = ep_of(handle);
    return post_recv(ep, {iov, count, src, false, 0, 0, context, ep->rx_op_flags & kRecvFlags});
}

ssize_t msg_recvmsg(fid_ep* handle, const fi_msg* msg, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    return post_recv(ep_of(handle), {msg->msg_iov, msg->iov_count, msg->addr, false, 0, 0, msg->context, flags});
}

ssize_t msg_send(fid_ep* handle, const void* buf, size_t len, void*, fi_addr_t dest, void* context) {
    Endpoint* ep = ep_of(handle);
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, false, 0, context, ep->tx_op_flags & kSendFlags};
    return post_send(ep, op);
}

ssize_t msg_sendv(fid_ep* handle, const iovec* iov, void**, size_t count, fi_addr_t dest, void* context) {
    Endpoint* ep = ep_of(handle);
    SendOp op{iov, count, dest, false, 0, context, ep->tx_op_flags & kSendFlags};
    return post_send(ep, op);
}

ssize_t msg_sendmsg(fid_ep* handle, const fi_msg* msg, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    SendOp op{msg->msg_iov, msg->iov_count, msg->addr, false, 0, msg->context, flags};
    op.has_data = flags & FI_REMOTE_CQ_DATA;
    op.data = msg->data;
    return post_send(ep_of(handle), op);
}

ssize_t msg_inject(fid_ep* handle, const void* buf, size_t len, fi_addr_t dest) {
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, false, 0, nullptr, 0};
    op.inject = true;
    return post_send(ep_of(handle), op);
}

ssize_t msg_senddata(fid_ep* handle, const void* buf, size_t len, void*, uint64_t data, fi_addr_t dest,
                     void* context) {
    Endpoint* ep = ep_of(handle);
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, false, 0, context, ep->tx_op_flags & kSendFlags, true, data};
    return post_send(ep, op);
}

ssize_t msg_injectdata(fid_ep* handle, const void* buf, size_t len, uint64_t data, fi_addr_t dest) {
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, false, 0, nullptr, 0, true, data, true};
    return post_send(ep_of(handle), op);
}

// ------------------------------------------------------------------ fi_tagged

ssize_t tagged_recv(fid_ep* handle, void* buf, size_t len, void*, fi_addr_t src, uint64_t tag, uint64_t ignore,
                    void* context) {
    Endpoint* ep = ep_of(handle);
    const iovec iov = one(buf, len);
    return post_recv(ep, {&iov, 1, src, true, tag, ignore, context, ep->rx_op_flags & kTaggedRecvFlags});
}

ssize_t tagged_recvv(fid_ep* handle, const iovec* iov, void**, size_t count, fi_addr_t src, uint64_t tag,
                     uint64_t ignore, void* context) {
    Endpoint* ep = ep_of(handle);
    return post_recv(ep, {iov, count, src, true, tag, ignore, context, ep->rx_op_flags & kTaggedRecvFlags});
}

ssize_t tagged_recvmsg(fid_ep* handle, const fi_msg_tagged* msg, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    return post_recv(ep_of(handle),
                     {msg->msg_iov, msg->iov_count, msg->addr, true, msg->tag, msg->ignore, msg->context, flags});
}

ssize_t tagged_send(fid_ep* handle, const void* buf, size_t len, void*, fi_addr_t dest, uint64_t tag,
                    void* context) {
    Endpoint* ep = ep_of(handle);
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, true, tag, context, ep->tx_op_flags & kSendFlags};
    return post_send(ep, op);
}

ssize_t tagged_sendv(fid_ep* handle, const iovec* iov, void**, size_t count, fi_addr_t dest, uint64_t tag,
                     void* context) {
    Endpoint* ep = ep_of(handle);
    SendOp op{iov, count, dest, true, tag, context, ep->tx_op_flags & kSendFlags};
    return post_send(ep, op);
}

ssize_t tagged_sendmsg(fid_ep* handle, const fi_msg_tagged* msg, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    SendOp op{msg->msg_iov, msg->iov_count, msg->addr, true, msg->tag, msg->context, flags};
    op.has_data = flags & FI_REMOTE_CQ_DATA;
    op.data = msg->data;
    return post_send(ep_of(handle), op);
}

ssize_t tagged_inject(fid_ep* handle, const void* buf, size_t len, fi_addr_t dest, uint64_t tag) {
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, true, tag, nullptr, 0};
    op.inject = true;
    return post_send(ep_of(handle), op);
}

ssize_t tagged_senddata(fid_ep* handle, const void* buf, size_t len, void*, uint64_t data, fi_addr_t dest,
                        uint64_t tag, void* context) {
    Endpoint* ep = ep_of(handle);
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, true, tag, context, ep->tx_op_flags & kSendFlags, true, data};
    return post_send(ep, op);
}

ssize_t tagged_injectdata(fid_ep* handle, const void* buf, size_t len, uint64_t data, fi_addr_t dest,
                          uint64_t tag) {
    const iovec iov = one(buf, len);
    SendOp op{&iov, 1, dest, true, tag, nullptr, 0, true, data, true};
    return post_send(ep_of(handle), op);
}

}  // namespace

// ------------------------------------------------------------------ options

// FI_OPT_MIN_MULTI_RECV exists where FI_MULTI_RECV does; it applies to the
// buffers posted after it is set.
int endpoint_getopt(fid_t fid, int level, int optname, void* optval, size_t* optlen) {
    Endpoint* ep = object_of<Endpoint>(fid);
    if (level != FI_OPT_ENDPOINT || optname != FI_OPT_MIN_MULTI_RECV || !(ep->caps & FI_MULTI_RECV))
        return -FI_ENOPROTOOPT;
    if (!optval || !optlen) return -FI_EINVAL;
    if (*optlen < sizeof(size_t)) {
        *optlen = sizeof(size_t);
        return -FI_ETOOSMALL;
    }
    size_t value;
    {
        std::lock_guard guard(ep->lock);
        value = ep->min_multi_recv;
    }
    std::memcpy(optval, &value, sizeof value);
    *optlen = sizeof value;
    return 0;
}

int endpoint_setopt(fid_t fid, int level, int optname, const void* optval, size_t optlen) {
    Endpoint* ep = object_of<Endpoint>(fid);
    if (level != FI_OPT_ENDPOINT || optname != FI_OPT_MIN_MULTI_RECV || !(ep->caps & FI_MULTI_RECV))
        return -FI_ENOPROTOOPT;
    if (!optval || optlen != sizeof(size_t)) return -FI_EINVAL;
    size_t value;
    std::memcpy(&value, optval, sizeof value);
    std::lock_guard guard(ep->lock);
    ep->min_multi_recv = value;
    return 0;
}

fi_ops_msg endpoint_msg_ops = {
    .size = sizeof(fi_ops_msg),
    .recv = msg_recv,
    .recvv = msg_recvv,
    .recvmsg = msg_recvmsg,
    .send = msg_send,
    .sendv = msg_sendv,
    .sendmsg = msg_sendmsg,
    .inject = msg_inject,
    .senddata = msg_senddata,
    .injectdata = msg_injectdata,
};

fi_ops_tagged endpoint_tagged_ops = {
    .size = sizeof(fi_ops_tagged),
    .recv = tagged_recv,
    .recvv = tagged_recvv,
    .recvmsg = tagged_recvmsg,
    .send = tagged_send,
    .sendv = tagged_sendv,
    .sendmsg = tagged_sendmsg,
    .inject = tagged_inject,
    .senddata = tagged_senddata,
    .injectdata = tagged_injectdata,
};

}  // namespace xen2mx::api
