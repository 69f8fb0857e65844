#include "mr.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <rdma/fi_errno.h>
#include <rdma/fi_eq.h>

#include "attr.hpp"
#include "ep.hpp"
#include "eq.hpp"
#include "enum_field.hpp"
#include "log.hpp"

namespace xen2mx::api {

namespace {

constexpr uint64_t kAccessBits = FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;

// How peers name the region's first byte.
uint64_t region_base(const Domain& domain, const MemoryRegion& mr) {
    if (!domain.virtual_addresses()) return mr.offset;
    return mr.iov.empty() ? 0 : reinterpret_cast<uint64_t>(mr.iov[0].iov_base);
}

// A refusal leaves the reads to the endpoint's process, as they always
// can be: nothing to report beyond what the link says.
void serve_region_reads(Endpoint* ep, const MemoryRegion& mr) {
    const int ret = ep->engine->serve_keyed(static_cast<uint32_t>(mr.read_slot), mr.handle.key,
                                            region_base(*mr.domain, mr), mr.iov);
    if (ret && ret != -EOPNOTSUPP)
        X2M_INFO(FI_LOG_MR, "memory region key %llu: reads are answered by the process (%d)\n",
                 static_cast<unsigned long long>(mr.handle.key), ret);
}

// Under mr_lock: a slot for a region open to remote reads, offered to the
// endpoints that serve reads. Without a free slot its reads are the
// process's to answer.
void open_region_reads(Domain* domain, MemoryRegion* mr) {
    size_t length = 0;
    for (const iovec& v : mr->iov) length += v.iov_len;
    if (!(mr->access & FI_REMOTE_READ) || length == 0) return;
    for (size_t slot = 0; slot < domain->read_slots.size(); ++slot) {
        if (domain->read_slots[slot]) continue;
        domain->read_slots.set(slot);
        mr->read_slot = static_cast<int>(slot);
        for (Endpoint* ep : domain->read_servers) serve_region_reads(ep, *mr);
        return;
    }
}

// Under mr_lock: no link reads the region once this returns.
void close_region_reads(Domain* domain, MemoryRegion* mr) {
    if (mr->read_slot < 0) return;
    for (Endpoint* ep : domain->read_servers) ep->engine->withdraw_keyed(static_cast<uint32_t>(mr->read_slot));
    domain->read_slots.reset(static_cast<size_t>(mr->read_slot));
    mr->read_slot = -1;
}

int mr_close(fid* f) {
    auto* mr = object_of<MemoryRegion>(f);
    if (mr->dependents.busy()) return -FI_EBUSY;
    Domain* domain = mr->domain;
    {
        std::lock_guard guard(domain->mr_lock);
        close_region_reads(domain, mr);
        domain->regions.erase(mr->handle.key);
    }
    domain->dependents.release();
    std::unique_ptr<MemoryRegion> owner(mr);
    return 0;
}

fi_ops mr_fid_ops = {
    .size = sizeof(fi_ops),
    .close = mr_close,
    // Binding regions to endpoints or counters (FI_MR_ENDPOINT, FI_MR_RMA_EVENT)
    // is not offered.
    .bind = fid_no_bind,
    .control = fid_no_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

int register_region(Domain* domain, const fi_mr_attr& attr, uint64_t flags, fid_mr** mr_handle) {
    if (!mr_handle) return -FI_EINVAL;
    if (flags) return -FI_EBADFLAGS;
    if (attr.iov_count > kMrIovLimit || (attr.iov_count && !attr.mr_iov)) return -FI_EINVAL;
    if (attr.access & ~kAccessBits) return -FI_EINVAL;
    if (attr.auth_key_size || raw(attr.iface) != FI_HMEM_SYSTEM) return -FI_ENOSYS;
    for (size_t i = 0; i < attr.iov_count; ++i) {
        if (!attr.mr_iov[i].iov_base && attr.mr_iov[i].iov_len) return -FI_EINVAL;
    }

    auto mr = std::make_unique<MemoryRegion>();
    mr->domain = domain;
    // No access bits means every access the region can have.
    mr->access = attr.access ? attr.access : kAccessBits;
    mr->offset = attr.offset;
    try {
        mr->iov.assign(attr.mr_iov, attr.mr_iov + attr.iov_count);
    } catch (const std::exception&) {
        return -FI_ENOMEM;
    }
    mr->handle.fid.fclass = FI_CLASS_MR;
    mr->handle.fid.context = attr.context;
    mr->handle.fid.ops = &mr_fid_ops;
    mr->handle.mem_desc = mr.get();
    {
        std::lock_guard guard(domain->mr_lock);
        uint64_t key = attr.requested_key;
        if (domain->provider_keys()) {
            while (domain->regions.count(domain->next_key)) ++domain->next_key;
            key = domain->next_key++;
        } else if (domain->regions.count(key)) {
            X2M_INFO(FI_LOG_MR, "memory region key %llu is in use\n", static_cast<unsigned long long>(key));
            return -FI_ENOKEY;
        }
        mr->handle.key = key;
        try {
            domain->regions.emplace(key, mr.get());
        } catch (const std::exception&) {
            return -FI_ENOMEM;
        }
        open_region_reads(domain, mr.get());
    }
    domain->dependents.hold();
    MemoryRegion* region = mr.release();
    *mr_handle = &region->handle;
    if (domain->mr_events) {
        fi_eq_entry entry{&region->handle.fid, attr.context, 0};
        domain->mr_events->post(FI_MR_COMPLETE, &entry, sizeof entry);
    }
    return 0;
}

}  // namespace

void serve_reads(Domain* domain, Endpoint* ep) {
    std::lock_guard guard(domain->mr_lock);
    try {
        domain->read_servers.push_back(ep);
    } catch (const std::exception&) {
        return;  // its process answers every read
    }
    for (const auto& [key, mr] : domain->regions) {
        if (mr->read_slot >= 0) serve_region_reads(ep, *mr);
    }
}

void stop_serving_reads(Domain* domain, Endpoint* ep) {
    std::lock_guard guard(domain->mr_lock);
    std::erase(domain->read_servers, ep);
}

// A peer's access is checked against the key, the region's rights and its
// bounds before a byte moves. The region's iovec describes where its bytes
// are here; peers name them by virtual address or by offset from the
// region's own offset, as the domain's mode says.
engine::Status RegionLookup::find(uint64_t key, uint64_t addr, uint64_t length, engine::Access access,
                                  std::span<iovec> out, size_t* count) {
    std::lock_guard guard(domain->mr_lock);
    auto found = domain->regions.find(key);
    if (found == domain->regions.end()) return engine::Status::AccessDenied;
    const MemoryRegion& mr = *found->second;
    const uint64_t right = access == engine::Access::RemoteRead ? FI_REMOTE_READ : FI_REMOTE_WRITE;
    if (!(mr.access & right)) return engine::Status::AccessDenied;
    const bool virt = domain->virtual_addresses();
    // Pieces of the region in order; `start` is how peers name its first byte.
    uint64_t start = mr.offset;
    if (virt) start = mr.iov.empty() ? 0 : reinterpret_cast<uint64_t>(mr.iov[0].iov_base);
    uint64_t size = 0;
    for (const iovec& v : mr.iov) size += v.iov_len;
    if (addr < start || addr - start > size || length > size - (addr - start))
        return engine::Status::OutOfBounds;
    uint64_t skip = addr - start;
    size_t n = 0;
    uint64_t left = length;
    for (const iovec& v : mr.iov) {
        if (left == 0) break;
        if (skip >= v.iov_len) {
            skip -= v.iov_len;
            continue;
        }
        if (n == out.size()) return engine::Status::OutOfBounds;
        const uint64_t take = std::min<uint64_t>(v.iov_len - skip, left);
        out[n++] = iovec{static_cast<uint8_t*>(v.iov_base) + skip, take};
        left -= take;
        skip = 0;
    }
    *count = n;
    return engine::Status::Ok;
}

int mr_regattr(fid* domain_fid, const fi_mr_attr* attr, uint64_t flags, fid_mr** mr) {
    if (!domain_fid || domain_fid->fclass != FI_CLASS_DOMAIN || !attr) return -FI_EINVAL;
    return register_region(object_of<Domain>(domain_fid), *attr, flags, mr);
}

int mr_regv(fid* domain_fid, const iovec* iov, size_t count, uint64_t access, uint64_t offset,
            uint64_t requested_key, uint64_t flags, fid_mr** mr, void* context) {
    fi_mr_attr attr{};
    attr.mr_iov = iov;
    attr.iov_count = count;
    attr.access = access;
    attr.offset = offset;
    attr.requested_key = requested_key;
    attr.context = context;
    attr.iface = FI_HMEM_SYSTEM;
    return mr_regattr(domain_fid, &attr, flags, mr);
}

int mr_reg(fid* domain_fid, const void* buf, size_t len, uint64_t access, uint64_t offset,
           uint64_t requested_key, uint64_t flags, fid_mr** mr, void* context) {
    const iovec iov{const_cast<void*>(buf), len};
    return mr_regv(domain_fid, &iov, 1, access, offset, requested_key, flags, mr, context);
}

}  // namespace xen2mx::api
