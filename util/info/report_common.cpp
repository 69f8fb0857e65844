#include <cstring>

#include "info/report.hpp"

namespace xen2mx::info {

std::string flag_names(uint32_t flags) {
    std::string names;
    auto add = [&](uint32_t bit, const char* name) {
        if (!(flags & bit)) return;
        if (!names.empty()) names += ',';
        names += name;
        flags &= ~bit;
    };
    add(XEN2MX_OPEN_ANY_SESSION, "any_session");
    add(XEN2MX_OPEN_MX_COMPAT, "mx_compat");
    if (flags) {
        char rest[16];
        std::snprintf(rest, sizeof rest, "%s0x%x", names.empty() ? "" : ",", flags);
        names += rest;
    }
    return names;
}

std::string mac_text(const uint8_t* mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return text;
}

std::string fixed_string(const char* text, size_t size) {
    const void* end = std::memchr(text, '\0', size);
    return std::string(text, end ? static_cast<const char*>(end) - text : size);
}

}  // namespace xen2mx::info
