// fi_getinfo for xen2mx: every hint is honoured exactly, so that utility
// providers cannot layer on top with entries that would not work, and MPI
// sees only what the provider really does.
#pragma once

#include <cstdint>

#include <rdma/fabric.h>

#include "params.hpp"

namespace xen2mx::api {

// The capabilities to offer per endpoint type; 0 leaves the type out.
struct Offers {
    uint64_t rdm_caps = 0;
    uint64_t dgram_caps = 0;
};

// What the provider offers today.
Offers current_offers();

// The provider's getinfo entry point.
int getinfo(uint32_t version, const char* node, const char* service, uint64_t flags,
            const fi_info* hints, fi_info** info);

// getinfo against explicit offers and parameters (the filter itself, so that
// tests cover capability sets that are not offered yet).
int getinfo_with(const Offers& offers, const Params& params, uint32_t version, const char* node,
                 const char* service, uint64_t flags, const fi_info* hints, fi_info** info);

}  // namespace xen2mx::api

namespace xen2mx::api {

// Whether an fi_info (from getinfo, maybe edited by the application) asks
// only for what the provider offers today. Returns 0 or -FI_ENODATA.
int check_info(const fi_info* info, uint32_t version);

}  // namespace xen2mx::api
