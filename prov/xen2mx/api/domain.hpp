// The domain: the parent of AVs, CQs, counters, MRs and endpoints, and the
// owner of memory-region keys.
#pragma once

#include <bitset>
#include <cstdint>
#include <mutex>
#include <vector>
#include <unordered_map>

#include <rdma/fi_domain.h>

#include "engine/rma.hpp"
#include "fabric.hpp"
#include "fid.hpp"

namespace xen2mx::api {

struct Domain;
struct Endpoint;
struct EventQueue;
struct MemoryRegion;

// Where the engine looks up the memory a peer's RMA request names: the
// domain's regions, by key (mr.cpp).
struct RegionLookup final : engine::RegionDirectory {
    Domain* domain = nullptr;
    engine::Status find(uint64_t key, uint64_t addr, uint64_t length, engine::Access access, std::span<iovec> out,
                        size_t* count) override;
};

struct Domain {
    fid_domain handle{};
    Fabric* fabric = nullptr;
    Dependents dependents;
    uint32_t api_version = 0;
    fi_threading threading = FI_THREAD_SAFE;
    fi_progress control_progress = FI_PROGRESS_AUTO;
    fi_progress data_progress = FI_PROGRESS_MANUAL;
    fi_av_type av_type = FI_AV_UNSPEC;
    int mr_mode = 0;

    // Memory regions by key, and where FI_MR_COMPLETE events go (FI_REG_MR).
    std::mutex mr_lock;
    std::unordered_map<uint64_t, MemoryRegion*> regions;
    uint64_t next_key = 1;
    EventQueue* mr_events = nullptr;
    RegionLookup region_lookup;
    // The endpoints whose link may answer peers' reads of the regions by
    // itself (the kernel, whether the process runs or not), and the link
    // slots (Link::serve_keyed) the regions open to remote reads hold.
    std::vector<Endpoint*> read_servers;
    std::bitset<engine::kKeyedSlots> read_slots;

    // Whether the provider chooses memory-region keys.
    bool provider_keys() const;
    // Whether peers name region bytes by virtual address (else by offset).
    bool virtual_addresses() const;
};

int open_domain(fid_fabric* fabric, fi_info* info, fid_domain** domain, void* context);

}  // namespace xen2mx::api
