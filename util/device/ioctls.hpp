// The /dev/xen2mx calls that more than one user-space program makes
// (xen2mx_info, the test tools): an ioctl's answer as an error code, and the
// endpoint listing read to its end. Built on the module's ABI alone, so
// that the tools need nothing of the provider to use it.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "uapi/xen2mx.h"

namespace xen2mx::device {

// 0, or -errno.
inline int xioctl(int fd, unsigned long request, void* arg) { return ::ioctl(fd, request, arg) == 0 ? 0 : -errno; }

// Appends every endpoint open on `board` (XEN2MX_ALL_BOARDS: on any) to
// *out, in order of board then id. 0, or -errno of the ioctl (-ENOTTY: a
// module older than the listing), or -EIO when the module stops short of
// the end without a word.
inline int list_endpoints(int fd, std::vector<xen2mx_endpoint_entry>* out, uint32_t board = XEN2MX_ALL_BOARDS) {
    // The list is as long as it is; the buffer is not.
    constexpr uint32_t kBatch = 64;
    std::vector<xen2mx_endpoint_entry> batch(kBatch);
    xen2mx_list_endpoints req{};
    req.board = board;
    req.cursor = 0;
    while (req.cursor != XEN2MX_LIST_END) {
        req.count = kBatch;
        req.entry_bytes = sizeof(xen2mx_endpoint_entry);
        req.entries = reinterpret_cast<uintptr_t>(batch.data());
        if (int ret = xioctl(fd, XEN2MX_IOC_LIST_ENDPOINTS, &req)) return ret;
        if (req.count > kBatch) return -EIO;
        out->insert(out->end(), batch.begin(), batch.begin() + req.count);
        if (req.count == 0 && req.cursor != XEN2MX_LIST_END) return -EIO;
    }
    return 0;
}

}  // namespace xen2mx::device
