#include <string>

#include "info/counter_names.hpp"
#include "info/report.hpp"

namespace xen2mx::info {
namespace {

// A JSON string. Names come from processes and may hold any byte: control
// characters and bytes past ASCII are escaped one by one (as Latin-1), so
// that the output is always valid JSON.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            char escape[8];
            std::snprintf(escape, sizeof escape, "\\u%04x", c);
            out += escape;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string counters_object(const std::vector<uint64_t>& values, bool board_ones) {
    std::string out = "{";
    bool first = true;
    for (unsigned i = 0; i < values.size(); ++i) {
        if (is_board_counter(i) != board_ones) continue;
        if (!first) out += ", ";
        first = false;
        out += quoted(counter_name(i)) + ": " + std::to_string(values[i]);
    }
    return out + "}";
}

}  // namespace

void print_json(const Snapshot& s, std::FILE* out) {
    std::fprintf(out, "{\n  \"device\": %s,\n  \"abi\": %u,\n  \"max_boards\": %u,\n  \"max_endpoints\": %u,\n",
                 quoted(s.device).c_str(), s.version.abi, s.version.max_boards, s.version.max_endpoints);
    std::fprintf(out, "  \"boards\": [");
    for (size_t i = 0; i < s.boards.size(); ++i) {
        const xen2mx_board_info& b = s.boards[i].info;
        std::fprintf(out,
                     "%s\n    {\"index\": %u, \"ifname\": %s, \"mac\": \"%s\", \"mtu\": %u, \"up\": %s, "
                     "\"endpoints\": %u, \"counters\": %s}",
                     i ? "," : "", b.index, quoted(fixed_string(b.ifname, sizeof b.ifname)).c_str(),
                     mac_text(b.mac).c_str(), b.mtu, b.flags & XEN2MX_BOARD_UP ? "true" : "false", b.endpoints,
                     counters_object(s.boards[i].counters, true).c_str());
    }
    std::fprintf(out, "%s],\n", s.boards.empty() ? "" : "\n  ");
    if (!s.endpoints_listed) {
        std::fprintf(out, "  \"endpoints\": null,\n");
    } else {
        std::fprintf(out, "  \"endpoints\": [");
        for (size_t i = 0; i < s.endpoints.size(); ++i) {
            const xen2mx_endpoint_entry& e = s.endpoints[i];
            std::fprintf(out,
                         "%s\n    {\"board\": %u, \"id\": %u, \"pid\": %d, \"uid\": %s, \"command\": %s, "
                         "\"flags\": %s, \"session\": %s, \"rx_frames\": %llu, \"rx_bytes\": %llu, "
                         "\"tx_frames\": %llu, \"tx_bytes\": %llu, \"drops\": %llu, \"pages_pinned\": %u, "
                         "\"zerocopy_pending\": %u, \"regions\": %u, \"region_pages\": %u, \"pulls_served\": %llu}",
                         i ? "," : "", e.board, e.endpoint, e.pid,
                         e.uid == XEN2MX_NO_UID ? "null" : std::to_string(e.uid).c_str(),
                         quoted(fixed_string(e.owner, sizeof e.owner)).c_str(), quoted(flag_names(e.flags)).c_str(),
                         e.session ? std::to_string(e.session).c_str() : "null",
                         static_cast<unsigned long long>(e.rx_frames), static_cast<unsigned long long>(e.rx_bytes),
                         static_cast<unsigned long long>(e.tx_frames), static_cast<unsigned long long>(e.tx_bytes),
                         static_cast<unsigned long long>(e.drops), e.pages_pinned, e.zerocopy_pending, e.regions,
                         e.region_pages, static_cast<unsigned long long>(e.pulls_served));
        }
        std::fprintf(out, "%s],\n", s.endpoints.empty() ? "" : "\n  ");
    }
    std::fprintf(out, "  \"counters\": {\n    \"all_boards\": %s,\n    \"global\": %s\n  }\n}\n",
                 counters_object(s.totals, true).c_str(), counters_object(s.totals, false).c_str());
}

}  // namespace xen2mx::info
