// xen2mx_info: what the xen2mx kernel module holds now (the ABI, the
// boards, the endpoints open and who owns them, the counters), as tables
// or, with --json, for scripts. See xen2mx_info(1).
#include <cstdio>
#include <cstring>
#include <string>

#include "info/report.hpp"
#include "info/snapshot.hpp"

namespace {

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: xen2mx_info [--json] [--device PATH]\n"
                 "Prints the xen2mx kernel module's ABI version, boards, open endpoints\n"
                 "(owner, traffic, pinned pages) and counters, per board and global.\n"
                 "  --json         one JSON object instead of tables\n"
                 "  --device PATH  another device node (default /dev/" XEN2MX_DEVICE_NAME ")\n"
                 "  --help         this text\n"
                 "Exit status: 0, 1 when the module cannot be read (not loaded...), 2 for bad options.\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool json = false;
    std::string device = "/dev/" XEN2MX_DEVICE_NAME;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--json")) {
            json = true;
        } else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "xen2mx_info: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    xen2mx::info::Snapshot snapshot;
    std::string error;
    if (int status = xen2mx::info::take_snapshot(device, &snapshot, &error)) {
        std::fprintf(stderr, "xen2mx_info: %s\n", error.c_str());
        return status;
    }
    if (json)
        xen2mx::info::print_json(snapshot, stdout);
    else
        xen2mx::info::print_text(snapshot, stdout);
    return std::ferror(stdout) ? 1 : 0;
}
