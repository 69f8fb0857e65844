#include "getinfo.hpp"

#include <strings.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <span>

#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>

#include "attr.hpp"
#include "enum_field.hpp"
#include "log.hpp"
#include "names.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx::api {

namespace {

// libfabric's utility providers (ofi_rxm, ofi_rxd) set this private flag
// when they look for a core provider to stack on. xen2mx offers native RDM:
// ofi_rxd over its DGRAM would only add a slower duplicate of every entry.
constexpr uint64_t kUtilityStackingFlag = 1ULL << 59;

// The modes the provider would rather use when the application accepts them.
constexpr int kPreferredMrMode = FI_MR_PROV_KEY | FI_MR_VIRT_ADDR;

const char* ep_type_name(fi_ep_type type) { return type == FI_EP_RDM ? "FI_EP_RDM" : "FI_EP_DGRAM"; }

#define REJECT(...)                                 \
    do {                                            \
        X2M_INFO(FI_LOG_CORE, __VA_ARGS__);         \
        return false;                               \
    } while (0)

bool subset(uint64_t wanted, uint64_t offered) { return (wanted & ~offered) == 0; }

bool check_caps(const fi_info* offer, const fi_info* hints) {
    if (!subset(hints->caps, offer->caps))
        REJECT("%s: capabilities 0x%llx not supported\n", ep_type_name(offer->ep_attr->type),
               static_cast<unsigned long long>(hints->caps & ~offer->caps));
    // The provider requires no mode bit, so any mode the application accepts is fine.
    return true;
}

bool check_ep_attr(const fi_info* offer, const fi_ep_attr* hint) {
    const fi_ep_attr* ours = offer->ep_attr;
    const char* type = ep_type_name(ours->type);
    if (raw(hint->type) != FI_EP_UNSPEC && raw(hint->type) != ours->type)
        REJECT("%s: endpoint type %d not offered here\n", type, raw(hint->type));
    if (hint->protocol != FI_PROTO_UNSPEC && hint->protocol != ours->protocol)
        REJECT("%s: protocol %u not spoken\n", type, hint->protocol);
    if (hint->protocol_version > ours->protocol_version)
        REJECT("%s: protocol version %u too new\n", type, hint->protocol_version);
    if (hint->max_msg_size > ours->max_msg_size)
        REJECT("%s: max_msg_size %zu above %zu\n", type, hint->max_msg_size, ours->max_msg_size);
    if (hint->max_order_raw_size > ours->max_order_raw_size ||
        hint->max_order_war_size > ours->max_order_war_size ||
        hint->max_order_waw_size > ours->max_order_waw_size)
        REJECT("%s: ordered RMA sizes not supported\n", type);
    if (hint->tx_ctx_cnt > 1 || hint->rx_ctx_cnt > 1)
        REJECT("%s: scalable and shared contexts not supported\n", type);
    if (hint->auth_key_size || hint->auth_key)
        REJECT("%s: authorization keys not supported\n", type);
    return true;
}

bool check_mr_mode(int mode, uint32_t version) {
    if (FI_VERSION_LT(version, FI_VERSION(1, 5))) {
        if (mode != FI_MR_UNSPEC && mode != FI_MR_BASIC && mode != FI_MR_SCALABLE)
            REJECT("mr_mode %d is not a mode of API %u.%u\n", mode, FI_MAJOR(version), FI_MINOR(version));
        return true;
    }
    // From API 1.5 on, mr_mode lists what the application can cope with; the
    // provider needs none of it, so only a contradiction is refused.
    if ((mode & FI_MR_BASIC) && (mode & FI_MR_SCALABLE)) REJECT("mr_mode both basic and scalable\n");
    return true;
}

bool check_domain_attr(const fi_info* offer, const fi_domain_attr* hint, uint32_t version) {
    const fi_domain_attr* ours = offer->domain_attr;
    if (hint->name && strcasecmp(hint->name, ours->name) != 0) REJECT("domain %s unknown\n", hint->name);
    // Checked as ints: an application may have stored anything there.
    const auto in = [](int value, int low, int high) { return value >= low && value <= high; };
    if (!in(raw(hint->threading), FI_THREAD_UNSPEC, FI_THREAD_ENDPOINT))
        REJECT("threading model %d unknown\n", raw(hint->threading));
    if (!in(raw(hint->control_progress), FI_PROGRESS_UNSPEC, FI_PROGRESS_MANUAL) ||
        !in(raw(hint->data_progress), FI_PROGRESS_UNSPEC, FI_PROGRESS_MANUAL))
        REJECT("progress model unknown\n");
    if (!in(raw(hint->resource_mgmt), FI_RM_UNSPEC, FI_RM_ENABLED))
        REJECT("resource management %d unknown\n", raw(hint->resource_mgmt));
    if (!in(raw(hint->av_type), FI_AV_UNSPEC, FI_AV_TABLE)) REJECT("av_type %d unknown\n", raw(hint->av_type));
    if (!check_mr_mode(hint->mr_mode, version)) return false;
    if (hint->mr_key_size > ours->mr_key_size) REJECT("mr_key_size %zu too large\n", hint->mr_key_size);
    if (hint->cq_data_size > ours->cq_data_size) REJECT("cq_data_size %zu too large\n", hint->cq_data_size);
    if (hint->cq_cnt > ours->cq_cnt || hint->ep_cnt > ours->ep_cnt || hint->tx_ctx_cnt > ours->tx_ctx_cnt ||
        hint->rx_ctx_cnt > ours->rx_ctx_cnt || hint->cntr_cnt > ours->cntr_cnt ||
        hint->mr_cnt > ours->mr_cnt)
        REJECT("domain object counts above the provider's limits\n");
    if (hint->max_ep_tx_ctx > ours->max_ep_tx_ctx || hint->max_ep_rx_ctx > ours->max_ep_rx_ctx ||
        hint->max_ep_stx_ctx > ours->max_ep_stx_ctx || hint->max_ep_srx_ctx > ours->max_ep_srx_ctx)
        REJECT("scalable, shared or multiple contexts not supported\n");
    if (hint->mr_iov_limit > ours->mr_iov_limit) REJECT("mr_iov_limit %zu too large\n", hint->mr_iov_limit);
    if (hint->max_err_data > ours->max_err_data) REJECT("max_err_data %zu too large\n", hint->max_err_data);
    if (!subset(hint->caps, ours->caps))
        REJECT("domain capabilities 0x%llx not supported\n",
               static_cast<unsigned long long>(hint->caps & ~ours->caps));
    if (hint->auth_key_size || hint->auth_key) REJECT("authorization keys not supported\n");
    return true;
}

bool check_tx_attr(const fi_info* offer, const fi_tx_attr* hint) {
    const fi_tx_attr* ours = offer->tx_attr;
    const uint64_t op_flags =
        offer->ep_attr->type == FI_EP_DGRAM ? (kTxOpFlags & ~FI_DELIVERY_COMPLETE) : kTxOpFlags;
    if (!subset(hint->caps, ours->caps)) REJECT("transmit capabilities not supported\n");
    if (!subset(hint->op_flags, op_flags))
        REJECT("transmit op_flags 0x%llx not supported\n",
               static_cast<unsigned long long>(hint->op_flags & ~op_flags));
    if (!subset(hint->msg_order, ours->msg_order))
        REJECT("transmit message order 0x%llx not guaranteed\n",
               static_cast<unsigned long long>(hint->msg_order & ~ours->msg_order));
    if (!subset(hint->comp_order, ours->comp_order)) REJECT("transmit completion order not guaranteed\n");
    if (hint->inject_size > ours->inject_size) REJECT("inject_size %zu too large\n", hint->inject_size);
    if (hint->size > ours->size) REJECT("transmit queue size %zu too large\n", hint->size);
    if (hint->iov_limit > ours->iov_limit) REJECT("transmit iov_limit %zu too large\n", hint->iov_limit);
    if (hint->rma_iov_limit > ours->rma_iov_limit) REJECT("rma_iov_limit %zu too large\n", hint->rma_iov_limit);
    return true;
}

bool check_rx_attr(const fi_info* offer, const fi_rx_attr* hint) {
    const fi_rx_attr* ours = offer->rx_attr;
    if (!subset(hint->caps, ours->caps)) REJECT("receive capabilities not supported\n");
    // FI_MULTI_RECV is an op flag only where it is a capability.
    const uint64_t op_flags = (ours->caps & FI_MULTI_RECV) ? kRxOpFlags : (kRxOpFlags & ~FI_MULTI_RECV);
    if (!subset(hint->op_flags, op_flags))
        REJECT("receive op_flags 0x%llx not supported\n", static_cast<unsigned long long>(hint->op_flags));
    if (!subset(hint->msg_order, ours->msg_order))
        REJECT("receive message order 0x%llx not guaranteed\n",
               static_cast<unsigned long long>(hint->msg_order & ~ours->msg_order));
    if (!subset(hint->comp_order, ours->comp_order)) REJECT("receive completion order not guaranteed\n");
    if (hint->size > ours->size) REJECT("receive queue size %zu too large\n", hint->size);
    if (hint->iov_limit > ours->iov_limit) REJECT("receive iov_limit %zu too large\n", hint->iov_limit);
    return true;
}

bool check_fabric_attr(const fi_fabric_attr* hint) {
    if (hint->name && strcasecmp(hint->name, kFabricName) != 0) REJECT("fabric %s unknown\n", hint->name);
    // Only the provider's own name; utility providers looking for a core use
    // names such as "xen2mx;^ofi_rxd" (see kUtilityStackingFlag).
    if (hint->prov_name && strcasecmp(hint->prov_name, provider.name) != 0)
        REJECT("provider %s is not this one\n", hint->prov_name);
    return true;
}

bool check_address_hint(const void* addr, size_t len, const char* which) {
    if (!addr && !len) return true;
    if (!addr || !wire::decode_address({static_cast<const uint8_t*>(addr), len}))
        REJECT("%s is not an xen2mx address\n", which);
    return true;
}

bool matches(const fi_info* offer, const fi_info* hints, uint32_t version) {
    if (!check_caps(offer, hints)) return false;
    if (hints->addr_format != FI_FORMAT_UNSPEC) REJECT("address format %u not used\n", hints->addr_format);
    if (hints->handle) REJECT("connection handles not supported: no FI_EP_MSG endpoints\n");
    if (hints->ep_attr && !check_ep_attr(offer, hints->ep_attr)) return false;
    if (hints->domain_attr && !check_domain_attr(offer, hints->domain_attr, version)) return false;
    if (hints->tx_attr && !check_tx_attr(offer, hints->tx_attr)) return false;
    if (hints->rx_attr && !check_rx_attr(offer, hints->rx_attr)) return false;
    if (hints->fabric_attr && !check_fabric_attr(hints->fabric_attr)) return false;
    if (!check_address_hint(hints->src_addr, hints->src_addrlen, "src_addr")) return false;
    if (!check_address_hint(hints->dest_addr, hints->dest_addrlen, "dest_addr")) return false;
    return true;
}

#undef REJECT

int returned_mr_mode(const fi_info* hints, uint32_t version) {
    const int hinted = hints && hints->domain_attr ? hints->domain_attr->mr_mode : kPreferredMrMode;
    if (FI_VERSION_LT(version, FI_VERSION(1, 5))) {
        if (!hints || !hints->domain_attr || hinted == FI_MR_UNSPEC) return FI_MR_SCALABLE;
        return hinted;
    }
    if (hinted & FI_MR_BASIC) return FI_MR_BASIC;
    if (hinted & FI_MR_SCALABLE) return FI_MR_SCALABLE;
    return hinted & kPreferredMrMode;
}

// Narrows an offer to what the hints asked for.
void fit_to_hints(fi_info* info, const fi_info* offer, const fi_info* hints, uint32_t version) {
    info->domain_attr->mr_mode = returned_mr_mode(hints, version);
    if (!hints) return;

    // Primary capabilities only as asked; secondary ones as asked plus the free ones.
    if (hints->caps) info->caps = hints->caps | (offer->caps & kFreeSecondaryCaps);
    const uint64_t tx_wanted = hints->tx_attr && hints->tx_attr->caps ? hints->tx_attr->caps : info->caps;
    const uint64_t rx_wanted = hints->rx_attr && hints->rx_attr->caps ? hints->rx_attr->caps : info->caps;
    info->tx_attr->caps = tx_wanted & offer->tx_attr->caps;
    info->rx_attr->caps = rx_wanted & offer->rx_attr->caps;
    info->domain_attr->caps = info->caps & offer->domain_attr->caps;
    info->mode = 0;
    info->tx_attr->mode = 0;
    info->rx_attr->mode = 0;

    if (hints->tx_attr) info->tx_attr->op_flags = hints->tx_attr->op_flags;
    if (hints->rx_attr) info->rx_attr->op_flags = hints->rx_attr->op_flags;
    if (hints->ep_attr && hints->ep_attr->mem_tag_format)
        info->ep_attr->mem_tag_format = hints->ep_attr->mem_tag_format;
    if (const fi_domain_attr* d = hints->domain_attr) {
        if (d->threading != FI_THREAD_UNSPEC) info->domain_attr->threading = d->threading;
        if (d->control_progress != FI_PROGRESS_UNSPEC) info->domain_attr->control_progress = d->control_progress;
        if (d->data_progress != FI_PROGRESS_UNSPEC) info->domain_attr->data_progress = d->data_progress;
        if (d->resource_mgmt != FI_RM_UNSPEC) info->domain_attr->resource_mgmt = d->resource_mgmt;
        if (d->av_type != FI_AV_UNSPEC) info->domain_attr->av_type = d->av_type;
    }
}

int set_address(void** field, size_t* length, const link::Address& address) {
    auto* bytes = static_cast<uint8_t*>(std::malloc(wire::kAddressLength));
    if (!bytes) return -FI_ENOMEM;
    wire::encode_address(address, std::span<uint8_t, wire::kAddressLength>(bytes, wire::kAddressLength));
    std::free(*field);
    *field = bytes;
    *length = wire::kAddressLength;
    return 0;
}

int copy_address(void** field, size_t* length, const void* from, size_t from_length) {
    if (!from) return 0;
    void* copy = std::malloc(from_length);
    if (!copy) return -FI_ENOMEM;
    std::memcpy(copy, from, from_length);
    std::free(*field);
    *field = copy;
    *length = from_length;
    return 0;
}

struct Kind {
    fi_ep_type type;
    uint64_t caps;
};

// The endpoint types in the order getinfo lists them.
std::array<Kind, 2> kinds_of(const Offers& offers) {
    return {Kind{FI_EP_RDM, offers.rdm_caps}, Kind{FI_EP_DGRAM, offers.dgram_caps}};
}

}  // namespace

Offers current_offers() { return Offers{offered_caps(FI_EP_RDM), offered_caps(FI_EP_DGRAM)}; }

int getinfo_with(const Offers& offers, const Params& params, uint32_t version, const char* node,
                 const char* service, uint64_t flags, const fi_info* hints, fi_info** info) {
    if (!info) return -FI_EINVAL;
    *info = nullptr;
    if (FI_VERSION_LT(kApiVersion, version)) {
        X2M_INFO(FI_LOG_CORE, "API version %u.%u is newer than the provider's %u.%u\n", FI_MAJOR(version),
                 FI_MINOR(version), FI_MAJOR(kApiVersion), FI_MINOR(kApiVersion));
        return -FI_ENODATA;
    }
    if (flags & FI_PROV_ATTR_ONLY) {
        *info = make_offer(FI_EP_RDM, offers.rdm_caps);
        return *info ? 0 : -FI_ENOMEM;
    }
    if (flags & kUtilityStackingFlag) {
        X2M_INFO(FI_LOG_CORE, "not offered as a core for utility providers\n");
        return -FI_ENODATA;
    }
    if (!is_known_link(params.link)) return -FI_ENODATA;

    const bool source = flags & FI_SOURCE;
    link::Address resolved;
    const bool have_name = node || service;
    if (have_name) {
        if (int ret = resolve_name(node, service, source, flags & FI_NUMERICHOST, params, &resolved))
            return ret;
    }

    fi_info* head = nullptr;
    fi_info** tail = &head;
    for (const auto& kind : kinds_of(offers)) {
        if (!kind.caps) continue;
        fi_info* offer = make_offer(kind.type, kind.caps);
        if (!offer) {
            fi_freeinfo(head);
            return -FI_ENOMEM;
        }
        if (hints && !matches(offer, hints, version)) {
            fi_freeinfo(offer);
            continue;
        }
        fit_to_hints(offer, offer, hints, version);
        int ret = 0;
        if (hints) {
            ret = copy_address(&offer->src_addr, &offer->src_addrlen, hints->src_addr, hints->src_addrlen);
            if (!ret)
                ret = copy_address(&offer->dest_addr, &offer->dest_addrlen, hints->dest_addr,
                                   hints->dest_addrlen);
        }
        if (!ret && have_name) {
            ret = source ? set_address(&offer->src_addr, &offer->src_addrlen, resolved)
                         : set_address(&offer->dest_addr, &offer->dest_addrlen, resolved);
        }
        if (ret) {
            fi_freeinfo(offer);
            fi_freeinfo(head);
            return ret;
        }
        *tail = offer;
        tail = &offer->next;
    }
    if (!head) return -FI_ENODATA;
    *info = head;
    return 0;
}

int getinfo(uint32_t version, const char* node, const char* service, uint64_t flags, const fi_info* hints,
            fi_info** info) {
    return getinfo_with(current_offers(), read_params(), version, node, service, flags, hints, info);
}

}  // namespace xen2mx::api

namespace xen2mx::api {

int check_info(const fi_info* info, uint32_t version) {
    if (!info) return -FI_EINVAL;
    for (const auto& kind : kinds_of(current_offers())) {
        if (!kind.caps) continue;
        fi_info* offer = make_offer(kind.type, kind.caps);
        if (!offer) return -FI_ENOMEM;
        const bool ok = matches(offer, info, version);
        fi_freeinfo(offer);
        if (ok) return 0;
    }
    return -FI_ENODATA;
}

}  // namespace xen2mx::api
