#include "engine/iov.hpp"

#include <algorithm>
#include <cstring>

namespace xen2mx::engine {

size_t iov_length(std::span<const iovec> iov) {
    size_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    return total;
}

namespace {

// Calls visit(entry base, bytes) over [offset, offset+length) of the list.
template <typename Visit>
size_t walk(std::span<const iovec> iov, size_t offset, size_t length, Visit visit) {
    size_t done = 0;
    for (const iovec& v : iov) {
        if (done == length) break;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        const size_t n = std::min(v.iov_len - offset, length - done);
        visit(static_cast<uint8_t*>(v.iov_base) + offset, n, done);
        done += n;
        offset = 0;
    }
    return done;
}

}  // namespace

size_t copy_to_iov(std::span<const iovec> iov, size_t offset, std::span<const uint8_t> data) {
    return walk(iov, offset, data.size(), [&](uint8_t* to, size_t n, size_t at) {
        std::memcpy(to, data.data() + at, n);
    });
}

size_t copy_from_iov(std::span<const iovec> iov, size_t offset, std::span<uint8_t> out) {
    return walk(iov, offset, out.size(), [&](uint8_t* from, size_t n, size_t at) {
        std::memcpy(out.data() + at, from, n);
    });
}

size_t slice_iov(std::span<const iovec> iov, size_t offset, size_t length, std::span<iovec> out) {
    size_t used = 0;
    bool overflow = false;
    walk(iov, offset, length, [&](uint8_t* from, size_t n, size_t) {
        if (used == out.size()) {
            overflow = true;
            return;
        }
        out[used++] = iovec{from, n};
    });
    return overflow ? 0 : used;
}

}  // namespace xen2mx::engine
