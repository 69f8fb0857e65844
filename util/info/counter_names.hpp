// The names xen2mx_info gives the module's counters (enum xen2mx_counter),
// in the same order: also the keys of its JSON output.
#pragma once

#include <string>

#include "uapi/xen2mx.h"

namespace xen2mx::info {

inline constexpr const char* kCounterNames[] = {
    "sent", "sent_bytes", "sent_zerocopy", "sent_loopback", "received", "received_bytes", "drop_short",
    "drop_ptype", "drop_no_endpoint", "drop_session", "drop_ring_full", "drop_too_long", "drop_not_host",
    "send_refused", "send_failed", "endpoints_open", "endpoints_opened", "pages_pinned", "zerocopy_pending",
    "grants_mapped", "nacks_sent", "nacks_limited", "regions", "region_pages", "pulls_served", "pull_errors",
    "lane_frames", "lanes_out", "lanes_in",
};
static_assert(sizeof kCounterNames / sizeof kCounterNames[0] == XEN2MX_CTR_MAX);

// A module newer than this program may have more: those get their number.
inline std::string counter_name(unsigned index) {
    if (index < XEN2MX_CTR_MAX) return kCounterNames[index];
    return "counter_" + std::to_string(index);
}

inline bool is_board_counter(unsigned index) { return index < XEN2MX_CTR_BOARD_MAX; }

}  // namespace xen2mx::info
