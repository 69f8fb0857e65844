// Moving bytes between flat buffers and gather lists at an offset.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace xen2mx::engine {

size_t iov_length(std::span<const iovec> iov);

// Copies data into the list starting at byte `offset`; bytes beyond the
// list's end are dropped. Returns the bytes copied.
size_t copy_to_iov(std::span<const iovec> iov, size_t offset, std::span<const uint8_t> data);

// Copies `length` bytes starting at `offset` of the list into out.
size_t copy_from_iov(std::span<const iovec> iov, size_t offset, std::span<uint8_t> out);

// Describes bytes [offset, offset+length) of the list as at most out.size()
// entries of out. Returns how many entries it used (0 when out is too small).
size_t slice_iov(std::span<const iovec> iov, size_t offset, size_t length, std::span<iovec> out);

}  // namespace xen2mx::engine
