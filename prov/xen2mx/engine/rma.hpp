// One-sided operations as the engine sees them: what the layer above asks
// for, and how the engine finds the memory a peer's request names.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/atomics.hpp"
#include "engine/types.hpp"
#include "link/link.hpp"

namespace xen2mx::engine {

// Atomic: fi_atomic; FetchAtomic: fi_fetch_atomic; CompareAtomic: fi_compare_atomic.
enum class RmaKind : uint8_t { Read, Write, Atomic, FetchAtomic, CompareAtomic };

struct RmaArgs {
    RmaKind kind = RmaKind::Write;
    PeerId peer = kNoPeer;
    std::span<const iovec> iov;  // ours: the data to write, or where what is read goes
    uint64_t addr = 0;           // the target's address (or offset) and key
    uint64_t key = 0;
    bool has_data = false;       // Write: remote CQ data for the target
    uint64_t data = 0;
    void* context = nullptr;
    bool report = true;
    bool copy = false;           // inject: the buffer is free on return

    // Atomics (engine/atomics.hpp): iov holds the operands (none for
    // AtomicOp::Read), `compare` the compare values or mask, `result` where
    // the values from before go; count elements in each.
    uint8_t atomic_type = 0;
    uint8_t atomic_op = 0;
    size_t count = 0;
    std::span<const iovec> compare;
    std::span<const iovec> result;
};

enum class Access : uint8_t { RemoteRead, RemoteWrite };

// Memory regions whose reads one endpoint's link may answer by itself
// (Endpoint::serve_keyed), named by slot.
inline constexpr uint32_t kKeyedSlots = link::Link::kKeyedSlots;

// The memory regions peers may reach, kept by the layer above.
class RegionDirectory {
public:
    // Where bytes [addr, addr + length) of the region registered under key
    // are, as at most out.size() pieces (*count of them). AccessDenied when
    // there is no such key or the region is not open to `access`;
    // OutOfBounds when the bytes are not all inside it.
    virtual Status find(uint64_t key, uint64_t addr, uint64_t length, Access access, std::span<iovec> out,
                        size_t* count) = 0;

protected:
    ~RegionDirectory() = default;
};

}  // namespace xen2mx::engine
