#include "info/snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "device/ioctls.hpp"
#include "link/unique_fd.hpp"

namespace xen2mx::info {
namespace {

using device::xioctl;

std::string why(int error) { return std::strerror(error); }

// Counters of one board, or of all with XEN2MX_ALL_BOARDS.
int read_counters(int fd, uint32_t board, std::vector<uint64_t>* out) {
    xen2mx_counters c{};
    c.board = board;
    if (int ret = xioctl(fd, XEN2MX_IOC_COUNTERS, &c)) return ret;
    const uint32_t count = c.count < std::size(c.values) ? c.count : std::size(c.values);
    out->assign(c.values, c.values + count);
    return 0;
}

}  // namespace

int take_snapshot(const std::string& device, Snapshot* out, std::string* error) {
    out->device = device;
    link::UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        const int e = errno;
        if (e == ENOENT || e == ENXIO || e == ENODEV)
            *error = device + " does not exist: the xen2mx module is not loaded (modprobe xen2mx ifnames=IFACE)";
        else if (e == EACCES)
            *error = "cannot open " + device + ": permission denied (see the module's mode parameter)";
        else
            *error = "cannot open " + device + ": " + why(e);
        return 1;
    }
    if (int ret = xioctl(fd.get(), XEN2MX_IOC_VERSION, &out->version)) {
        *error = device + " does not answer as xen2mx: " + why(-ret);
        return 1;
    }
    if (out->version.abi != XEN2MX_ABI_VERSION) {
        *error = "the module speaks ABI " + std::to_string(out->version.abi) + ", this program ABI " +
                 std::to_string(XEN2MX_ABI_VERSION) + ": install the tools that came with the module";
        return 1;
    }
    for (uint32_t i = 0; i < out->version.max_boards; ++i) {
        Board board;
        board.info.index = i;
        const int ret = xioctl(fd.get(), XEN2MX_IOC_BOARD_INFO, &board.info);
        if (ret == -ENODEV) continue;  // no board at that index
        if (ret) {
            *error = "board " + std::to_string(i) + ": " + why(-ret);
            return 1;
        }
        if (int r = read_counters(fd.get(), i, &board.counters)) {
            *error = "counters of board " + std::to_string(i) + ": " + why(-r);
            return 1;
        }
        board.counters.resize(std::min<size_t>(board.counters.size(), XEN2MX_CTR_BOARD_MAX));
        out->boards.push_back(std::move(board));
    }
    if (int ret = read_counters(fd.get(), XEN2MX_ALL_BOARDS, &out->totals)) {
        *error = "counters: " + why(-ret);
        return 1;
    }
    const int ret = device::list_endpoints(fd.get(), &out->endpoints);
    if (ret == -ENOTTY) {
        out->endpoints_listed = false;  // a module older than the listing
    } else if (ret) {
        *error = "endpoint list: " + why(-ret);
        return 1;
    } else {
        out->endpoints_listed = true;
    }
    for (const auto& e : out->endpoints)
        if (e.session) out->sessions_shown = true;
    return 0;
}

}  // namespace xen2mx::info
