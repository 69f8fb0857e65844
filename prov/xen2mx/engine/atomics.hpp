// Atomic operations on a target's memory: the element types and operations
// the engine offers (its own numbering, which travels on the wire), which
// combinations are valid, and applying them to memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xen2mx::engine {

enum class AtomicType : uint8_t { Int8 = 1, Uint8, Int16, Uint16, Int32, Uint32, Int64, Uint64, Float, Double };
inline constexpr uint8_t kAtomicTypeMax = static_cast<uint8_t>(AtomicType::Double);

enum class AtomicOp : uint8_t {
    Min = 1, Max, Sum, Prod, Lor, Land, Bor, Band, Lxor, Bxor,  // target = target op operand
    Read,   // fetch only: the target is left as it is
    Write,  // target = operand
    Cswap, CswapNe, CswapLe, CswapLt, CswapGe, CswapGt,  // target = operand if compare == (!=, <=, ...) target
    Mswap,  // target = (operand & mask) | (target & ~mask), the mask given as the compare value
};
inline constexpr uint8_t kAtomicOpMax = static_cast<uint8_t>(AtomicOp::Mswap);

// How the initiator asked: fi_atomic, fi_fetch_atomic, fi_compare_atomic.
enum class AtomicForm : uint8_t { Plain, Fetch, Compare };

// Bytes of one element; 0 for a value that is no type.
size_t atomic_size(uint8_t type);

// Whether the operation exists for the type in that form (bitwise and
// logical operations are for integers; Read only fetches; the swaps only
// compare).
bool atomic_valid(uint8_t type, uint8_t op, AtomicForm form);

// The most bytes of elements one operation carries (each of operands,
// compare values and fetched values fits one frame of any link).
inline constexpr size_t kAtomicMaxBytes = 512;

// Applies the operation to `count` elements at `target` (aligned to the
// element size), each element atomically with respect to other atomics on
// it, from this process or any other. `operands` and `compare` hold count
// elements each (compare: Compare form only; operands: not for Read);
// `fetched`, when not null, receives each element's value from before.
void apply_atomic(uint8_t type, uint8_t op, void* target, const void* operands, const void* compare, void* fetched,
                  size_t count);

}  // namespace xen2mx::engine
