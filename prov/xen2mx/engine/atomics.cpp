#include "engine/atomics.hpp"

#include <cstring>
#include <type_traits>

namespace xen2mx::engine {

namespace {

bool integer_type(uint8_t type) { return type >= 1 && type <= static_cast<uint8_t>(AtomicType::Uint64); }

// The new value of an element, or false when it stays as it is.
template <typename T>
bool combine(AtomicOp op, T old, T operand, T compare, T* out) {
    switch (op) {
    case AtomicOp::Min: *out = operand < old ? operand : old; return true;
    case AtomicOp::Max: *out = operand > old ? operand : old; return true;
    case AtomicOp::Sum: *out = static_cast<T>(old + operand); return true;
    case AtomicOp::Prod: *out = static_cast<T>(old * operand); return true;
    case AtomicOp::Write: *out = operand; return true;
    case AtomicOp::Read: return false;
    case AtomicOp::Cswap: *out = operand; return compare == old;
    case AtomicOp::CswapNe: *out = operand; return compare != old;
    case AtomicOp::CswapLe: *out = operand; return compare <= old;
    case AtomicOp::CswapLt: *out = operand; return compare < old;
    case AtomicOp::CswapGe: *out = operand; return compare >= old;
    case AtomicOp::CswapGt: *out = operand; return compare > old;
    default: break;
    }
    if constexpr (std::is_integral_v<T>) {
        switch (op) {
        case AtomicOp::Lor: *out = static_cast<T>(old || operand); return true;
        case AtomicOp::Land: *out = static_cast<T>(old && operand); return true;
        case AtomicOp::Lxor: *out = static_cast<T>(!old != !operand); return true;
        case AtomicOp::Bor: *out = static_cast<T>(old | operand); return true;
        case AtomicOp::Band: *out = static_cast<T>(old & operand); return true;
        case AtomicOp::Bxor: *out = static_cast<T>(old ^ operand); return true;
        case AtomicOp::Mswap: *out = static_cast<T>((operand & compare) | (old & ~compare)); return true;
        default: break;
        }
    }
    return false;
}

// Each element by a compare-and-swap loop: other processes' atomics on the
// same memory (through their own endpoints) see one whole operation or none.
template <typename T>
void apply(AtomicOp op, T* target, const uint8_t* operands, const uint8_t* compare, uint8_t* fetched, size_t count) {
    for (size_t i = 0; i < count; ++i) {
        T operand{}, comparand{};
        if (operands) std::memcpy(&operand, operands + i * sizeof(T), sizeof(T));
        if (compare) std::memcpy(&comparand, compare + i * sizeof(T), sizeof(T));
        T old;
        __atomic_load(target + i, &old, __ATOMIC_ACQUIRE);
        for (;;) {
            T desired;
            if (!combine(op, old, operand, comparand, &desired)) break;
            if (__atomic_compare_exchange(target + i, &old, &desired, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                break;
        }
        if (fetched) std::memcpy(fetched + i * sizeof(T), &old, sizeof(T));
    }
}

}  // namespace

size_t atomic_size(uint8_t type) {
    switch (static_cast<AtomicType>(type)) {
    case AtomicType::Int8:
    case AtomicType::Uint8: return 1;
    case AtomicType::Int16:
    case AtomicType::Uint16: return 2;
    case AtomicType::Int32:
    case AtomicType::Uint32:
    case AtomicType::Float: return 4;
    case AtomicType::Int64:
    case AtomicType::Uint64:
    case AtomicType::Double: return 8;
    }
    return 0;
}

bool atomic_valid(uint8_t type, uint8_t op, AtomicForm form) {
    if (atomic_size(type) == 0 || op == 0 || op > kAtomicOpMax) return false;
    const auto o = static_cast<AtomicOp>(op);
    const bool swap = o >= AtomicOp::Cswap;
    if (form == AtomicForm::Compare) {
        if (!swap) return false;
    } else if (swap || (o == AtomicOp::Read && form != AtomicForm::Fetch)) {
        return false;
    }
    const bool integer_only = o == AtomicOp::Lor || o == AtomicOp::Land || o == AtomicOp::Lxor || o == AtomicOp::Bor ||
                              o == AtomicOp::Band || o == AtomicOp::Bxor || o == AtomicOp::Mswap;
    return !integer_only || integer_type(type);
}

void apply_atomic(uint8_t type, uint8_t op, void* target, const void* operands, const void* compare, void* fetched,
                  size_t count) {
    const auto o = static_cast<AtomicOp>(op);
    const auto* in = static_cast<const uint8_t*>(operands);
    const auto* cmp = static_cast<const uint8_t*>(compare);
    auto* out = static_cast<uint8_t*>(fetched);
    switch (static_cast<AtomicType>(type)) {
    case AtomicType::Int8: apply(o, static_cast<int8_t*>(target), in, cmp, out, count); break;
    case AtomicType::Uint8: apply(o, static_cast<uint8_t*>(target), in, cmp, out, count); break;
    case AtomicType::Int16: apply(o, static_cast<int16_t*>(target), in, cmp, out, count); break;
    case AtomicType::Uint16: apply(o, static_cast<uint16_t*>(target), in, cmp, out, count); break;
    case AtomicType::Int32: apply(o, static_cast<int32_t*>(target), in, cmp, out, count); break;
    case AtomicType::Uint32: apply(o, static_cast<uint32_t*>(target), in, cmp, out, count); break;
    case AtomicType::Int64: apply(o, static_cast<int64_t*>(target), in, cmp, out, count); break;
    case AtomicType::Uint64: apply(o, static_cast<uint64_t*>(target), in, cmp, out, count); break;
    case AtomicType::Float: apply(o, static_cast<float*>(target), in, cmp, out, count); break;
    case AtomicType::Double: apply(o, static_cast<double*>(target), in, cmp, out, count); break;
    }
}

}  // namespace xen2mx::engine
