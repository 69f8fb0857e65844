#include <pwd.h>

#include <cctype>
#include <string>
#include <vector>

#include "info/counter_names.hpp"
#include "info/report.hpp"

namespace xen2mx::info {
namespace {

// Columns as wide as their widest cell; numbers to the right.
class Table {
public:
    explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

    void print(std::FILE* out) const {
        std::vector<size_t> width;
        for (const auto& row : rows_) {
            if (width.size() < row.size()) width.resize(row.size(), 0);
            for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
        }
        for (size_t r = 0; r < rows_.size(); ++r) {
            std::string line;
            for (size_t i = 0; i < rows_[r].size(); ++i) {
                const std::string& cell = rows_[r][i];
                const std::string pad(width[i] - cell.size(), ' ');
                if (i) line += "  ";
                line += r > 0 && is_number(cell) ? pad + cell : cell + pad;
            }
            while (!line.empty() && line.back() == ' ') line.pop_back();
            std::fprintf(out, "%s\n", line.c_str());
        }
    }

private:
    static bool is_number(const std::string& s) {
        return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    }
    std::vector<std::vector<std::string>> rows_;
};

// What a process or an interface named itself, safe on a terminal.
std::string printable(std::string s) {
    for (char& c : s)
        if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
    return s.empty() ? "-" : s;
}

std::string user_name(uint32_t uid) {
    if (const passwd* pw = ::getpwuid(uid)) return printable(pw->pw_name);
    return std::to_string(uid);
}

void print_endpoints(const Snapshot& s, std::FILE* out) {
    if (!s.endpoints_listed) {
        std::fprintf(out, "Endpoints: not listed (the module predates XEN2MX_IOC_LIST_ENDPOINTS)\n");
        return;
    }
    if (s.endpoints.empty()) {
        std::fprintf(out, "Endpoints: none open\n");
        return;
    }
    std::vector<std::string> header{"BOARD", "ID", "PID", "USER", "COMMAND", "FLAGS", "RX_FRAMES", "RX_BYTES",
                                    "TX_FRAMES", "TX_BYTES", "DROPS", "PINNED", "ZC_PENDING", "REGIONS",
                                    "REGION_PAGES", "PULLS_SERVED"};
    if (s.sessions_shown) header.push_back("SESSION");
    Table table(header);
    for (const auto& e : s.endpoints) {
        std::vector<std::string> row{std::to_string(e.board),
                                     std::to_string(e.endpoint),
                                     e.pid ? std::to_string(e.pid) : "-",
                                     e.uid == XEN2MX_NO_UID ? "-" : user_name(e.uid),
                                     printable(fixed_string(e.owner, sizeof e.owner)),
                                     e.flags ? flag_names(e.flags) : "-",
                                     std::to_string(e.rx_frames),
                                     std::to_string(e.rx_bytes),
                                     std::to_string(e.tx_frames),
                                     std::to_string(e.tx_bytes),
                                     std::to_string(e.drops),
                                     std::to_string(e.pages_pinned),
                                     std::to_string(e.zerocopy_pending),
                                     std::to_string(e.regions),
                                     std::to_string(e.region_pages),
                                     std::to_string(e.pulls_served)};
        if (s.sessions_shown) {
            char session[12];
            std::snprintf(session, sizeof session, "0x%08x", e.session);
            row.push_back(e.session ? session : "-");
        }
        table.add(std::move(row));
    }
    std::fprintf(out, "Endpoints:\n");
    table.print(out);
}

void print_counters(const Snapshot& s, std::FILE* out) {
    std::vector<std::string> header{"COUNTER", "ALL_BOARDS"};
    for (const Board& b : s.boards)
        header.push_back(printable(fixed_string(b.info.ifname, sizeof b.info.ifname)) + "(" +
                         std::to_string(b.info.index) + ")");
    Table boards(header);
    Table global({"GLOBAL_COUNTER", "VALUE"});
    for (unsigned i = 0; i < s.totals.size(); ++i) {
        if (!is_board_counter(i)) {
            global.add({counter_name(i), std::to_string(s.totals[i])});
            continue;
        }
        std::vector<std::string> row{counter_name(i), std::to_string(s.totals[i])};
        for (const Board& b : s.boards) row.push_back(i < b.counters.size() ? std::to_string(b.counters[i]) : "-");
        boards.add(std::move(row));
    }
    std::fprintf(out, "Counters (ALL_BOARDS includes boards since detached):\n");
    boards.print(out);
    std::fprintf(out, "\n");
    global.print(out);
}

}  // namespace

void print_text(const Snapshot& s, std::FILE* out) {
    std::fprintf(out, "xen2mx ABI %u on %s: %zu board%s attached (at most %u), endpoint ids 0-%u\n\n",
                 s.version.abi, s.device.c_str(), s.boards.size(), s.boards.size() == 1 ? "" : "s",
                 s.version.max_boards, s.version.max_endpoints - 1);
    if (s.boards.empty()) {
        std::fprintf(out, "Boards: none (attach one: modprobe xen2mx ifnames=IFACE, or the ATTACH ioctl as root)\n");
    } else {
        Table boards({"BOARD", "INTERFACE", "MAC", "MTU", "STATE", "ENDPOINTS"});
        for (const Board& b : s.boards)
            boards.add({std::to_string(b.info.index), printable(fixed_string(b.info.ifname, sizeof b.info.ifname)),
                        mac_text(b.info.mac), std::to_string(b.info.mtu),
                        b.info.flags & XEN2MX_BOARD_UP ? "up" : "down", std::to_string(b.info.endpoints)});
        std::fprintf(out, "Boards:\n");
        boards.print(out);
    }
    std::fprintf(out, "\n");
    print_endpoints(s, out);
    std::fprintf(out, "\n");
    print_counters(s, out);
}

}  // namespace xen2mx::info
