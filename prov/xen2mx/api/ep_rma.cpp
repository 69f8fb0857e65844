// The RMA data path: fi_read/fi_write and their vector, message, inject and
// remote-CQ-data forms, handed to the engine (engine/rma.cpp).
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include <cerrno>

#include "attr.hpp"
#include "ep.hpp"
#include "log.hpp"

namespace xen2mx::api {

namespace {

constexpr uint64_t kRmaFlags = FI_COMPLETION | FI_INJECT | FI_INJECT_COMPLETE | FI_TRANSMIT_COMPLETE |
                               FI_DELIVERY_COMPLETE | FI_REMOTE_CQ_DATA | FI_MORE | FI_FENCE;

struct RmaOp {
    engine::RmaKind kind = engine::RmaKind::Write;
    const iovec* iov = nullptr;
    size_t count = 0;
    fi_addr_t peer = FI_ADDR_UNSPEC;
    const fi_rma_iov* remote = nullptr;
    size_t remote_count = 0;
    void* context = nullptr;
    uint64_t flags = 0;
    bool has_data = false;
    uint64_t data = 0;
    bool inject = false;  // fi_inject_write(data): no completion at all
};

ssize_t post_rma(Endpoint* ep, const RmaOp& op) {
    if (!(ep->caps & FI_RMA)) return -FI_EOPNOTSUPP;
    if (op.count > kIovLimit || (op.count && !op.iov)) return -FI_EINVAL;
    // One remote range per operation (rma_iov_limit).
    if (op.remote_count != kRmaIovLimit || !op.remote) return -FI_EINVAL;
    if (op.flags & ~kRmaFlags) return -FI_EBADFLAGS;
    const bool read = op.kind == engine::RmaKind::Read;
    if (read && (op.inject || (op.flags & (FI_INJECT | FI_REMOTE_CQ_DATA)))) return -FI_EINVAL;
    // FI_RMA alone means every direction; with direction bits, those only.
    const uint64_t directions = FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
    if ((ep->caps & directions) && !(ep->caps & (read ? FI_READ : FI_WRITE))) return -FI_EOPNOTSUPP;
    size_t length = 0;
    for (size_t i = 0; i < op.count; ++i) {
        if (!op.iov[i].iov_base && op.iov[i].iov_len) return -FI_EINVAL;
        length += op.iov[i].iov_len;
    }
    if (length != op.remote->len) return -FI_EINVAL;
    if (length > ep->max_msg_size) return -FI_EMSGSIZE;
    const bool copy = op.inject || (op.flags & FI_INJECT);
    if (copy && length > ep->inject_size) return -FI_EMSGSIZE;

    engine::RmaArgs args;
    args.kind = op.kind;
    args.iov = {op.iov, op.count};
    args.addr = op.remote->addr;
    args.key = op.remote->key;
    args.has_data = op.has_data;
    args.data = op.data;
    args.context = op.context;
    args.copy = copy;
    args.report = !op.inject && (!ep->tx_selective || (op.flags & FI_COMPLETION));
    return submit_rma(ep, args, op.peer);
}

}  // namespace

ssize_t submit_rma(Endpoint* ep, engine::RmaArgs& args, fi_addr_t peer) {
    std::lock_guard guard(ep->lock);
    if (!ep->enabled) return -FI_EOPBADSTATE;
    args.peer = ep->peer_of(peer);
    if (args.peer == engine::kNoPeer) return -FI_EINVAL;
    const auto now = engine::coarse_now();
    int ret = ep->engine->rma(args, now);
    if (ret == -EAGAIN) {
        // Completions may be waiting to free a request.
        ep->engine->progress(now);
        ret = ep->engine->rma(args, now);
    }
    if (ret == 0) ep->watch_connection(args.peer);
    switch (ret) {
    case -EAGAIN: return -FI_EAGAIN;
    case -EMSGSIZE: return -FI_EMSGSIZE;
    case -EINVAL: return -FI_EINVAL;
    case -EOPNOTSUPP: return -FI_EOPNOTSUPP;
    default: return ret;
    }
}

namespace {

Endpoint* endpoint_of(fid_ep* handle) { return object_of<Endpoint>(&handle->fid); }

// Every form but the message ones names one remote range as long as its
// local buffers, and takes its flags from the endpoint (none when injected).
ssize_t post_range(fid_ep* handle, RmaOp op, uint64_t addr, uint64_t key) {
    Endpoint* ep = endpoint_of(handle);
    size_t length = 0;
    for (size_t i = 0; op.iov && i < op.count; ++i) length += op.iov[i].iov_len;
    const fi_rma_iov remote{addr, length, key};
    op.remote = &remote;
    op.remote_count = 1;
    if (!op.inject) op.flags = ep->tx_op_flags & kRmaFlags;
    return post_rma(ep, op);
}

ssize_t ep_read(fid_ep* handle, void* buf, size_t len, void*, fi_addr_t src, uint64_t addr, uint64_t key,
                void* context) {
    const iovec iov{buf, len};
    return post_range(handle, {.kind = engine::RmaKind::Read, .iov = &iov, .count = 1, .peer = src, .context = context},
                      addr, key);
}

ssize_t ep_readv(fid_ep* handle, const iovec* iov, void**, size_t count, fi_addr_t src, uint64_t addr,
                 uint64_t key, void* context) {
    return post_range(handle, {.kind = engine::RmaKind::Read, .iov = iov, .count = count, .peer = src, .context = context},
                      addr, key);
}

ssize_t ep_readmsg(fid_ep* handle, const fi_msg_rma* msg, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    return post_rma(endpoint_of(handle), {engine::RmaKind::Read, msg->msg_iov, msg->iov_count, msg->addr,
                                          msg->rma_iov, msg->rma_iov_count, msg->context, flags});
}

ssize_t ep_write(fid_ep* handle, const void* buf, size_t len, void*, fi_addr_t dest, uint64_t addr, uint64_t key,
                 void* context) {
    const iovec iov{const_cast<void*>(buf), len};
    return post_range(handle, {.kind = engine::RmaKind::Write, .iov = &iov, .count = 1, .peer = dest, .context = context},
                      addr, key);
}

ssize_t ep_writev(fid_ep* handle, const iovec* iov, void**, size_t count, fi_addr_t dest, uint64_t addr,
                  uint64_t key, void* context) {
    return post_range(handle, {.kind = engine::RmaKind::Write, .iov = iov, .count = count, .peer = dest, .context = context},
                      addr, key);
}

ssize_t ep_writemsg(fid_ep* handle, const fi_msg_rma* msg, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    RmaOp op{engine::RmaKind::Write, msg->msg_iov, msg->iov_count, msg->addr, msg->rma_iov, msg->rma_iov_count,
             msg->context, flags};
    op.has_data = flags & FI_REMOTE_CQ_DATA;
    op.data = msg->data;
    return post_rma(endpoint_of(handle), op);
}

ssize_t ep_inject_write(fid_ep* handle, const void* buf, size_t len, fi_addr_t dest, uint64_t addr, uint64_t key) {
    const iovec iov{const_cast<void*>(buf), len};
    return post_range(handle, {.kind = engine::RmaKind::Write, .iov = &iov, .count = 1, .peer = dest, .inject = true},
                      addr, key);
}

ssize_t ep_writedata(fid_ep* handle, const void* buf, size_t len, void*, uint64_t data, fi_addr_t dest,
                     uint64_t addr, uint64_t key, void* context) {
    const iovec iov{const_cast<void*>(buf), len};
    return post_range(handle,
                      {.kind = engine::RmaKind::Write, .iov = &iov, .count = 1, .peer = dest, .context = context,
                       .has_data = true, .data = data},
                      addr, key);
}

ssize_t ep_inject_writedata(fid_ep* handle, const void* buf, size_t len, uint64_t data, fi_addr_t dest,
                            uint64_t addr, uint64_t key) {
    const iovec iov{const_cast<void*>(buf), len};
    return post_range(handle,
                      {.kind = engine::RmaKind::Write, .iov = &iov, .count = 1, .peer = dest, .has_data = true,
                       .data = data, .inject = true},
                      addr, key);
}

}  // namespace

fi_ops_rma endpoint_rma_ops = {
    .size = sizeof(fi_ops_rma),
    .read = ep_read,
    .readv = ep_readv,
    .readmsg = ep_readmsg,
    .write = ep_write,
    .writev = ep_writev,
    .writemsg = ep_writemsg,
    .inject = ep_inject_write,
    .writedata = ep_writedata,
    .injectdata = ep_inject_writedata,
};

}  // namespace xen2mx::api
