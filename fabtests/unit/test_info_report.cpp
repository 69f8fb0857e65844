// xen2mx_info's tables and JSON for the owners an endpoint may have: a
// process of a user, root's included, and the kernel (a Xen guest's
// endpoint in Dom0), which has no user and must not pass for root.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "info/report.hpp"

namespace {

using xen2mx::info::Snapshot;

xen2mx_endpoint_entry entry(uint32_t id, int32_t pid, uint32_t uid, const char* owner) {
    xen2mx_endpoint_entry e{};
    e.endpoint = id;
    e.pid = pid;
    e.uid = uid;
    std::strncpy(e.owner, owner, sizeof e.owner - 1);
    return e;
}

Snapshot with_endpoints() {
    Snapshot s;
    s.device = "/dev/xen2mx";
    s.version.abi = XEN2MX_ABI_VERSION;
    s.version.max_boards = 8;
    s.version.max_endpoints = 255;
    s.endpoints_listed = true;
    s.endpoints = {entry(1, 0, XEN2MX_NO_UID, "dom3"), entry(2, 4321, 0, "fi_pingpong"),
                   entry(3, 0, 0, "hidden_root")};
    return s;
}

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

template <typename Print>
std::string printed(Print print, const Snapshot& s) {
    char* text = nullptr;
    size_t size = 0;
    {
        std::unique_ptr<std::FILE, FileCloser> out(open_memstream(&text, &size));
        if (!out) return {};
        print(s, out.get());
    }
    std::string result(text, size);
    std::free(text);
    return result;
}

// The cells of the endpoints table's row whose command is `command`.
std::vector<std::string> row_of(const std::string& text, const std::string& command) {
    const size_t table = text.find("Endpoints:");
    if (table == std::string::npos) return {};
    std::istringstream lines(text.substr(table));
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> cells;
        for (std::string word; words >> word;) cells.push_back(word);
        if (cells.size() > 4 && cells[4] == command) return cells;
    }
    return {};
}

TEST(InfoReport, KernelOwnedEndpointHasNoUserInTheTable) {
    const std::string text = printed(xen2mx::info::print_text, with_endpoints());
    // BOARD ID PID USER COMMAND ...
    const auto guest = row_of(text, "dom3");
    ASSERT_FALSE(guest.empty()) << text;
    EXPECT_EQ(guest[2], "-");
    EXPECT_EQ(guest[3], "-") << text;
}

TEST(InfoReport, RootStaysRootWhetherOrNotItsPidIsVisible) {
    const std::string text = printed(xen2mx::info::print_text, with_endpoints());
    const auto visible = row_of(text, "fi_pingpong");
    const auto hidden = row_of(text, "hidden_root");
    ASSERT_FALSE(visible.empty()) << text;
    ASSERT_FALSE(hidden.empty()) << text;
    EXPECT_EQ(visible[2], "4321");
    EXPECT_EQ(visible[3], "root");
    EXPECT_EQ(hidden[2], "-");
    EXPECT_EQ(hidden[3], "root") << text;
}

TEST(InfoReport, KernelOwnedEndpointHasANullUidInJson) {
    const std::string json = printed(xen2mx::info::print_json, with_endpoints());
    EXPECT_NE(json.find("\"id\": 1, \"pid\": 0, \"uid\": null, \"command\": \"dom3\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"id\": 2, \"pid\": 4321, \"uid\": 0, \"command\": \"fi_pingpong\""), std::string::npos)
        << json;
    EXPECT_NE(json.find("\"id\": 3, \"pid\": 0, \"uid\": 0, \"command\": \"hidden_root\""), std::string::npos)
        << json;
}

}  // namespace
