// Everything /dev/xen2mx tells about itself, read in one go: the ABI, the
// boards with their counters, the endpoints open, the global counters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "uapi/xen2mx.h"

namespace xen2mx::info {

struct Board {
    xen2mx_board_info info{};
    std::vector<uint64_t> counters;  // the per-board ones
};

struct Snapshot {
    std::string device;
    xen2mx_version version{};
    std::vector<Board> boards;
    bool endpoints_listed = false;  // false: the module has no XEN2MX_IOC_LIST_ENDPOINTS
    bool sessions_shown = false;    // the caller may see sessions (root)
    std::vector<xen2mx_endpoint_entry> endpoints;
    std::vector<uint64_t> totals;   // every counter, boards summed (detached ones included)
};

// Reads the device into *out. On failure returns the exit status (1) and
// sets *error to a sentence saying what is wrong and what to do.
int take_snapshot(const std::string& device, Snapshot* out, std::string* error);

}  // namespace xen2mx::info
