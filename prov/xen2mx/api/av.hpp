// Address vectors: fi_addr_t handles for peer addresses.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include <rdma/fi_domain.h>

#include "domain.hpp"
#include "link/address.hpp"
#include "fid.hpp"

namespace xen2mx::api {

struct EventQueue;

struct AddressVector {
    fid_av handle{};
    Domain* domain = nullptr;
    Dependents dependents;
    fi_av_type type = FI_AV_TABLE;
    uint64_t flags = 0;
    EventQueue* events = nullptr;

    std::mutex lock;
    // fi_addr_t is the index; removed entries stay empty so that handles are
    // never reused for another peer.
    std::vector<std::optional<link::Address>> entries;

    std::optional<link::Address> lookup(fi_addr_t addr);
    // The handle of the entry naming the same endpoint (board and endpoint
    // id), or FI_ADDR_NOTAVAIL.
    fi_addr_t find(const link::Address& address);
};

int open_av(fid_domain* domain, fi_av_attr* attr, fid_av** av, void* context);

}  // namespace xen2mx::api
