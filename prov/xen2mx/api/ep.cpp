#include "ep.hpp"

#include <memory>

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
#include "getinfo.hpp"
#include "enum_field.hpp"
#include "log.hpp"

namespace xen2mx::api {

namespace {

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
    return 0;
}

int ep_bind(fid* f, fid* bfid, uint64_t flags) {
    auto* ep = object_of<Endpoint>(f);
    if (!bfid) return -FI_EINVAL;
    std::lock_guard guard(ep->lock);
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
    // The link and the engine start here with the issue "The messaging engine".
    ep->enabled = true;
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

ssize_t ep_cancel(fid_t, void*) {
    // Nothing can be posted before the messaging engine exists, so no
    // operation with that context is pending.
    return -FI_ENOENT;
}

// FI_OPT_MIN_MULTI_RECV arrives with FI_MULTI_RECV; no other option applies.
int ep_getopt(fid_t, int, int, void*, size_t*) { return -FI_ENOPROTOOPT; }

int ep_setopt(fid_t, int, int, const void*, size_t) { return -FI_ENOPROTOOPT; }

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
    .getopt = ep_getopt,
    .setopt = ep_setopt,
    .tx_ctx = X2M_ENOSYS(fi_ops_ep, tx_ctx),  // no scalable endpoints
    .rx_ctx = X2M_ENOSYS(fi_ops_ep, rx_ctx),
    .rx_size_left = X2M_ENOSYS(fi_ops_ep, rx_size_left),  // deprecated calls
    .tx_size_left = X2M_ENOSYS(fi_ops_ep, tx_size_left),
};

// Naming comes with the issue "The messaging engine"; connection management
// belongs to FI_EP_MSG, which is not offered.
fi_ops_cm ep_cm_ops = {
    .size = sizeof(fi_ops_cm),
    .setname = X2M_ENOSYS(fi_ops_cm, setname),
    .getname = X2M_ENOSYS(fi_ops_cm, getname),
    .getpeer = X2M_ENOSYS(fi_ops_cm, getpeer),
    .connect = X2M_ENOSYS(fi_ops_cm, connect),
    .listen = X2M_ENOSYS(fi_ops_cm, listen),
    .accept = X2M_ENOSYS(fi_ops_cm, accept),
    .reject = X2M_ENOSYS(fi_ops_cm, reject),
    .shutdown = X2M_ENOSYS(fi_ops_cm, shutdown),
    .join = X2M_ENOSYS(fi_ops_cm, join),
};

// Messages and tagged messages come with the issue "The messaging engine".
fi_ops_msg ep_msg_ops = {
    .size = sizeof(fi_ops_msg),
    .recv = X2M_ENOSYS(fi_ops_msg, recv),
    .recvv = X2M_ENOSYS(fi_ops_msg, recvv),
    .recvmsg = X2M_ENOSYS(fi_ops_msg, recvmsg),
    .send = X2M_ENOSYS(fi_ops_msg, send),
    .sendv = X2M_ENOSYS(fi_ops_msg, sendv),
    .sendmsg = X2M_ENOSYS(fi_ops_msg, sendmsg),
    .inject = X2M_ENOSYS(fi_ops_msg, inject),
    .senddata = X2M_ENOSYS(fi_ops_msg, senddata),
    .injectdata = X2M_ENOSYS(fi_ops_msg, injectdata),
};

fi_ops_tagged ep_tagged_ops = {
    .size = sizeof(fi_ops_tagged),
    .recv = X2M_ENOSYS(fi_ops_tagged, recv),
    .recvv = X2M_ENOSYS(fi_ops_tagged, recvv),
    .recvmsg = X2M_ENOSYS(fi_ops_tagged, recvmsg),
    .send = X2M_ENOSYS(fi_ops_tagged, send),
    .sendv = X2M_ENOSYS(fi_ops_tagged, sendv),
    .sendmsg = X2M_ENOSYS(fi_ops_tagged, sendmsg),
    .inject = X2M_ENOSYS(fi_ops_tagged, inject),
    .senddata = X2M_ENOSYS(fi_ops_tagged, senddata),
    .injectdata = X2M_ENOSYS(fi_ops_tagged, injectdata),
};

// RMA and atomics come with the issue "RMA, atomics and Open MPI".
fi_ops_rma ep_rma_ops = {
    .size = sizeof(fi_ops_rma),
    .read = X2M_ENOSYS(fi_ops_rma, read),
    .readv = X2M_ENOSYS(fi_ops_rma, readv),
    .readmsg = X2M_ENOSYS(fi_ops_rma, readmsg),
    .write = X2M_ENOSYS(fi_ops_rma, write),
    .writev = X2M_ENOSYS(fi_ops_rma, writev),
    .writemsg = X2M_ENOSYS(fi_ops_rma, writemsg),
    .inject = X2M_ENOSYS(fi_ops_rma, inject),
    .writedata = X2M_ENOSYS(fi_ops_rma, writedata),
    .injectdata = X2M_ENOSYS(fi_ops_rma, injectdata),
};

fi_ops_atomic ep_atomic_ops = {
    .size = sizeof(fi_ops_atomic),
    .write = X2M_ENOSYS(fi_ops_atomic, write),
    .writev = X2M_ENOSYS(fi_ops_atomic, writev),
    .writemsg = X2M_ENOSYS(fi_ops_atomic, writemsg),
    .inject = X2M_ENOSYS(fi_ops_atomic, inject),
    .readwrite = X2M_ENOSYS(fi_ops_atomic, readwrite),
    .readwritev = X2M_ENOSYS(fi_ops_atomic, readwritev),
    .readwritemsg = X2M_ENOSYS(fi_ops_atomic, readwritemsg),
    .compwrite = X2M_ENOSYS(fi_ops_atomic, compwrite),
    .compwritev = X2M_ENOSYS(fi_ops_atomic, compwritev),
    .compwritemsg = X2M_ENOSYS(fi_ops_atomic, compwritemsg),
    .writevalid = X2M_ENOSYS(fi_ops_atomic, writevalid),
    .readwritevalid = X2M_ENOSYS(fi_ops_atomic, readwritevalid),
    .compwritevalid = X2M_ENOSYS(fi_ops_atomic, compwritevalid),
};

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
    ep->handle.fid.fclass = FI_CLASS_EP;
    ep->handle.fid.context = context;
    ep->handle.fid.ops = &ep_fid_ops;
    ep->handle.ops = &ep_ops;
    ep->handle.cm = &ep_cm_ops;
    ep->handle.msg = &ep_msg_ops;
    ep->handle.tagged = &ep_tagged_ops;
    ep->handle.rma = &ep_rma_ops;
    ep->handle.atomic = &ep_atomic_ops;
    ep->handle.collective = &ep_collective_ops;
    domain->dependents.hold();
    *ep_handle = &ep.release()->handle;
    return 0;
}

}  // namespace xen2mx::api
