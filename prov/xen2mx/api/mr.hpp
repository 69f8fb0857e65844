// Memory regions: registered buffers, their access rights and keys.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include <rdma/fi_domain.h>

#include "domain.hpp"
#include "fid.hpp"

namespace xen2mx::api {

struct MemoryRegion {
    fid_mr handle{};
    Domain* domain = nullptr;
    Dependents dependents;
    std::vector<iovec> iov;
    uint64_t access = 0;
    uint64_t offset = 0;
    int read_slot = -1;  // Domain::read_slots: the one it holds, if any
};

// The links of an RDM endpoint that may answer reads of the domain's
// regions by themselves serve the regions open to remote reads from
// fi_enable until the endpoint closes (serve_reads(), stop_serving_reads()),
// and those registered in between from their registration to their close.
void serve_reads(Domain* domain, Endpoint* ep);
void stop_serving_reads(Domain* domain, Endpoint* ep);

int mr_reg(fid* domain, const void* buf, size_t len, uint64_t access, uint64_t offset,
           uint64_t requested_key, uint64_t flags, fid_mr** mr, void* context);
int mr_regv(fid* domain, const iovec* iov, size_t count, uint64_t access, uint64_t offset,
            uint64_t requested_key, uint64_t flags, fid_mr** mr, void* context);
int mr_regattr(fid* domain, const fi_mr_attr* attr, uint64_t flags, fid_mr** mr);

}  // namespace xen2mx::api
