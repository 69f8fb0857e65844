#include "domain.hpp"

#include <strings.h>

#include <memory>

#include <rdma/fi_errno.h>

#include "attr.hpp"
#include "av.hpp"
#include "cntr.hpp"
#include "cq.hpp"
#include "enosys.hpp"
#include "ep.hpp"
#include "eq.hpp"
#include "getinfo.hpp"
#include "log.hpp"
#include "mr.hpp"

namespace xen2mx::api {

namespace {

int domain_close(fid* f) {
    auto* domain = object_of<Domain>(f);
    if (domain->dependents.busy()) return -FI_EBUSY;
    if (domain->mr_events) domain->mr_events->dependents.release();
    domain->fabric->dependents.release();
    std::unique_ptr<Domain> owner(domain);
    return 0;
}

int domain_bind(fid* f, fid* bfid, uint64_t flags) {
    auto* domain = object_of<Domain>(f);
    if (!bfid) return -FI_EINVAL;
    // Memory registration events (FI_REG_MR) go to an EQ of the same fabric.
    if (bfid->fclass != FI_CLASS_EQ || flags != FI_REG_MR) return -FI_EINVAL;
    auto* eq = object_of<EventQueue>(bfid);
    if (eq->fabric != domain->fabric) return -FI_EINVAL;
    std::lock_guard guard(domain->mr_lock);
    if (domain->mr_events) return -FI_EBUSY;
    eq->dependents.hold();
    domain->mr_events = eq;
    return 0;
}

int domain_scalable_ep(fid_domain*, fi_info*, fid_ep**, void*) {
    return -FI_ENOSYS;  // scalable endpoints are not offered (tx/rx_ctx_cnt is 1)
}

int domain_endpoint2(fid_domain* domain, fi_info* info, fid_ep** ep, uint64_t flags, void* context) {
    if (flags) return -FI_EBADFLAGS;
    return open_endpoint(domain, info, ep, context);
}

fi_ops domain_fid_ops = {
    .size = sizeof(fi_ops),
    .close = domain_close,
    .bind = domain_bind,
    .control = fid_no_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_domain domain_ops = {
    .size = sizeof(fi_ops_domain),
    .av_open = open_av,
    .cq_open = open_cq,
    .endpoint = open_endpoint,
    .scalable_ep = domain_scalable_ep,
    .cntr_open = open_cntr,
    // Poll sets, shared contexts and collectives are not offered.
    .poll_open = X2M_ENOSYS(fi_ops_domain, poll_open),
    .stx_ctx = X2M_ENOSYS(fi_ops_domain, stx_ctx),
    .srx_ctx = X2M_ENOSYS(fi_ops_domain, srx_ctx),
    .query_atomic = query_atomic,
    .query_collective = X2M_ENOSYS(fi_ops_domain, query_collective),
    .endpoint2 = domain_endpoint2,
};

fi_ops_mr domain_mr_ops = {
    .size = sizeof(fi_ops_mr),
    .reg = mr_reg,
    .regv = mr_regv,
    .regattr = mr_regattr,
};

}  // namespace

bool Domain::provider_keys() const {
    if (FI_VERSION_LT(api_version, FI_VERSION(1, 5))) return mr_mode == FI_MR_BASIC;
    return (mr_mode & (FI_MR_PROV_KEY | FI_MR_BASIC)) != 0;
}

bool Domain::virtual_addresses() const {
    if (FI_VERSION_LT(api_version, FI_VERSION(1, 5))) return mr_mode == FI_MR_BASIC;
    return (mr_mode & (FI_MR_VIRT_ADDR | FI_MR_BASIC)) != 0;
}

int open_domain(fid_fabric* fabric_handle, fi_info* info, fid_domain** domain_handle, void* context) {
    if (!fabric_handle || !info || !domain_handle) return -FI_EINVAL;
    auto* fabric = object_of<Fabric>(fabric_handle);
    const uint32_t version = fabric_handle->api_version ? fabric_handle->api_version : kApiVersion;
    if (int ret = check_info(info, version)) {
        X2M_WARN(FI_LOG_DOMAIN, "fi_domain: the fi_info asks for what xen2mx does not offer\n");
        return ret;
    }
    auto domain = std::make_unique<Domain>();
    domain->fabric = fabric;
    domain->api_version = version;
    domain->region_lookup.domain = domain.get();
    if (const fi_domain_attr* attr = info->domain_attr) {
        if (attr->threading != FI_THREAD_UNSPEC) domain->threading = attr->threading;
        if (attr->control_progress != FI_PROGRESS_UNSPEC) domain->control_progress = attr->control_progress;
        if (attr->data_progress != FI_PROGRESS_UNSPEC) domain->data_progress = attr->data_progress;
        domain->av_type = attr->av_type;
        domain->mr_mode = attr->mr_mode;
    }
    domain->handle.fid.fclass = FI_CLASS_DOMAIN;
    domain->handle.fid.context = context;
    domain->handle.fid.ops = &domain_fid_ops;
    domain->handle.ops = &domain_ops;
    domain->handle.mr = &domain_mr_ops;
    fabric->dependents.hold();
    *domain_handle = &domain.release()->handle;
    return 0;
}

}  // namespace xen2mx::api
