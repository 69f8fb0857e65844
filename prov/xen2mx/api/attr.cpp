#include "attr.hpp"

#include <cstring>



namespace xen2mx::api {

uint64_t offered_caps(fi_ep_type type) {
    switch (type) {
    case FI_EP_RDM: return kOfferedRdmCaps;
    case FI_EP_DGRAM: return kOfferedDgramCaps;
    default: return 0;
    }
}

fi_info* make_offer(fi_ep_type type, uint64_t caps) {
    fi_info* info = fi_allocinfo();
    if (!info) return nullptr;
    const bool rma = caps & (FI_RMA | FI_ATOMIC);

    info->caps = caps;
    info->mode = 0;
    info->addr_format = FI_FORMAT_UNSPEC;

    fi_tx_attr* tx = info->tx_attr;
    tx->caps = caps & kTxSideCaps;
    tx->mode = 0;
    tx->op_flags = 0;
    // Datagrams may be lost, so only reliable endpoints promise send-after-send order.
    const uint64_t order = type == FI_EP_DGRAM ? FI_ORDER_NONE : FI_ORDER_SAS;
    tx->msg_order = order;
    tx->comp_order = FI_ORDER_NONE;
    tx->inject_size = kInjectSize;
    tx->size = kQueueSize;
    tx->iov_limit = kIovLimit;
    tx->rma_iov_limit = rma ? kRmaIovLimit : 0;

    fi_rx_attr* rx = info->rx_attr;
    rx->caps = caps & kRxSideCaps;
    rx->mode = 0;
    rx->op_flags = 0;
    rx->msg_order = order;
    rx->comp_order = FI_ORDER_NONE;
    rx->total_buffered_recv = 0;
    rx->size = kQueueSize;
    rx->iov_limit = kIovLimit;

    fi_ep_attr* ep = info->ep_attr;
    ep->type = type;
    ep->protocol = FI_PROTO_UNSPEC;
    ep->protocol_version = 1;
    ep->max_msg_size = type == FI_EP_DGRAM ? kDgramMaxMsgSize : kRdmMaxMsgSize;
    ep->msg_prefix_size = 0;
    // RMA operations are not ordered with one another (a large write
    // completes when its pull does): no RAW, WAR or WAW order to promise.
    ep->max_order_raw_size = 0;
    ep->max_order_war_size = 0;
    ep->max_order_waw_size = 0;
    ep->mem_tag_format = kTagFormatGeneric;
    ep->tx_ctx_cnt = 1;
    ep->rx_ctx_cnt = 1;
    ep->auth_key_size = 0;

    fi_domain_attr* domain = info->domain_attr;
    domain->name = strdup(kDomainName);
    domain->threading = FI_THREAD_SAFE;
    domain->control_progress = FI_PROGRESS_AUTO;
    domain->data_progress = FI_PROGRESS_MANUAL;
    domain->resource_mgmt = FI_RM_ENABLED;
    domain->av_type = FI_AV_UNSPEC;
    domain->mr_mode = FI_MR_PROV_KEY | FI_MR_VIRT_ADDR;
    domain->mr_key_size = kMrKeySize;
    domain->cq_data_size = kCqDataSize;
    domain->cq_cnt = kMaxCqs;
    domain->ep_cnt = kMaxEndpoints;
    domain->tx_ctx_cnt = kMaxEndpoints;
    domain->rx_ctx_cnt = kMaxEndpoints;
    domain->max_ep_tx_ctx = 1;
    domain->max_ep_rx_ctx = 1;
    domain->max_ep_stx_ctx = 0;
    domain->max_ep_srx_ctx = 0;
    domain->cntr_cnt = kMaxCntrs;
    domain->mr_iov_limit = kMrIovLimit;
    domain->caps = caps & kDomainSideCaps;
    domain->mode = 0;
    domain->auth_key_size = 0;
    domain->max_err_data = kMaxErrData;
    domain->mr_cnt = kMaxMrs;

    fi_fabric_attr* fabric = info->fabric_attr;
    fabric->name = strdup(kFabricName);
    fabric->prov_name = nullptr;  // the libfabric core fills it in
    fabric->api_version = kApiVersion;

    if (!domain->name || !fabric->name) {
        fi_freeinfo(info);
        return nullptr;
    }
    return info;
}

}  // namespace xen2mx::api
