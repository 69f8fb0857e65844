// Atomics: fi_atomic, fi_fetch_atomic and fi_compare_atomic in all their
// forms, fi_atomicvalid and fi_query_atomic, handed to the engine
// (engine/rma.cpp, engine/atomics.cpp).
#include <rdma/fi_atomic.h>
#include <rdma/fi_errno.h>

#include <array>
#include <cerrno>

#include "attr.hpp"
#include "domain.hpp"
#include "ep.hpp"

namespace xen2mx::api {

namespace {

using engine::AtomicForm;
using engine::AtomicOp;
using engine::AtomicType;

constexpr uint64_t kAtomicFlags = FI_COMPLETION | FI_INJECT | FI_INJECT_COMPLETE | FI_TRANSMIT_COMPLETE |
                                  FI_DELIVERY_COMPLETE | FI_MORE | FI_FENCE;

// libfabric's numbering to the engine's; 0 for what the engine does not offer.
uint8_t type_of(fi_datatype type) {
    switch (type) {
    case FI_INT8: return static_cast<uint8_t>(AtomicType::Int8);
    case FI_UINT8: return static_cast<uint8_t>(AtomicType::Uint8);
    case FI_INT16: return static_cast<uint8_t>(AtomicType::Int16);
    case FI_UINT16: return static_cast<uint8_t>(AtomicType::Uint16);
    case FI_INT32: return static_cast<uint8_t>(AtomicType::Int32);
    case FI_UINT32: return static_cast<uint8_t>(AtomicType::Uint32);
    case FI_INT64: return static_cast<uint8_t>(AtomicType::Int64);
    case FI_UINT64: return static_cast<uint8_t>(AtomicType::Uint64);
    case FI_FLOAT: return static_cast<uint8_t>(AtomicType::Float);
    case FI_DOUBLE: return static_cast<uint8_t>(AtomicType::Double);
    default: return 0;
    }
}

uint8_t op_of(fi_op op) {
    switch (op) {
    case FI_MIN: return static_cast<uint8_t>(AtomicOp::Min);
    case FI_MAX: return static_cast<uint8_t>(AtomicOp::Max);
    case FI_SUM: return static_cast<uint8_t>(AtomicOp::Sum);
    case FI_PROD: return static_cast<uint8_t>(AtomicOp::Prod);
    case FI_LOR: return static_cast<uint8_t>(AtomicOp::Lor);
    case FI_LAND: return static_cast<uint8_t>(AtomicOp::Land);
    case FI_BOR: return static_cast<uint8_t>(AtomicOp::Bor);
    case FI_BAND: return static_cast<uint8_t>(AtomicOp::Band);
    case FI_LXOR: return static_cast<uint8_t>(AtomicOp::Lxor);
    case FI_BXOR: return static_cast<uint8_t>(AtomicOp::Bxor);
    case FI_ATOMIC_READ: return static_cast<uint8_t>(AtomicOp::Read);
    case FI_ATOMIC_WRITE: return static_cast<uint8_t>(AtomicOp::Write);
    case FI_CSWAP: return static_cast<uint8_t>(AtomicOp::Cswap);
    case FI_CSWAP_NE: return static_cast<uint8_t>(AtomicOp::CswapNe);
    case FI_CSWAP_LE: return static_cast<uint8_t>(AtomicOp::CswapLe);
    case FI_CSWAP_LT: return static_cast<uint8_t>(AtomicOp::CswapLt);
    case FI_CSWAP_GE: return static_cast<uint8_t>(AtomicOp::CswapGe);
    case FI_CSWAP_GT: return static_cast<uint8_t>(AtomicOp::CswapGt);
    case FI_MSWAP: return static_cast<uint8_t>(AtomicOp::Mswap);
    default: return 0;
    }
}

// How many elements of the type one operation takes, or -FI_EOPNOTSUPP.
int valid(fi_datatype datatype, fi_op op, AtomicForm form, size_t* count) {
    const uint8_t type = type_of(datatype);
    if (!engine::atomic_valid(type, op_of(op), form)) return -FI_EOPNOTSUPP;
    if (count) *count = engine::kAtomicMaxBytes / engine::atomic_size(type);
    return 0;
}

struct AtomicCall {
    AtomicForm form = AtomicForm::Plain;
    const fi_ioc* iov = nullptr;  // operands
    size_t iov_count = 0;
    const fi_ioc* compare = nullptr;
    size_t compare_count = 0;
    const fi_ioc* result = nullptr;
    size_t result_count = 0;
    fi_addr_t peer = FI_ADDR_UNSPEC;
    const fi_rma_ioc* remote = nullptr;
    size_t remote_count = 0;
    fi_datatype datatype = FI_UINT8;
    fi_op op = FI_ATOMIC_OP_LAST;
    void* context = nullptr;
    uint64_t flags = 0;
    bool inject = false;
};

// fi_ioc counts elements; the engine takes iovecs of bytes.
bool to_iovecs(const fi_ioc* ioc, size_t count, size_t element, std::array<iovec, kIovLimit>& out,
               size_t* elements) {
    if (count > kIovLimit || (count && !ioc)) return false;
    *elements = 0;
    for (size_t i = 0; i < count; ++i) {
        if (!ioc[i].addr && ioc[i].count) return false;
        out[i] = iovec{ioc[i].addr, ioc[i].count * element};
        *elements += ioc[i].count;
    }
    return true;
}

ssize_t post_atomic(Endpoint* ep, const AtomicCall& call) {
    if (!(ep->caps & FI_ATOMIC)) return -FI_EOPNOTSUPP;
    if (call.flags & ~kAtomicFlags) return -FI_EBADFLAGS;
    if (call.remote_count != kRmaIovLimit || !call.remote) return -FI_EINVAL;
    const uint8_t type = type_of(call.datatype);
    const uint8_t op = op_of(call.op);
    if (!engine::atomic_valid(type, op, call.form)) return -FI_EOPNOTSUPP;
    const size_t element = engine::atomic_size(type);
    std::array<iovec, kIovLimit> operands{}, compare{}, result{};
    size_t operand_count = 0, compare_count = 0, result_count = 0;
    if (!to_iovecs(call.iov, call.iov_count, element, operands, &operand_count) ||
        !to_iovecs(call.compare, call.compare_count, element, compare, &compare_count) ||
        !to_iovecs(call.result, call.result_count, element, result, &result_count))
        return -FI_EINVAL;
    // The remote range says how many elements; FI_ATOMIC_READ has no operands.
    const size_t count = call.remote->count;
    const bool reads_only = call.op == FI_ATOMIC_READ;
    if ((!reads_only && operand_count != count) || (call.form == AtomicForm::Compare && compare_count != count) ||
        (call.form != AtomicForm::Plain && result_count != count))
        return -FI_EINVAL;

    engine::RmaArgs args;
    args.kind = call.form == AtomicForm::Plain   ? engine::RmaKind::Atomic
                : call.form == AtomicForm::Fetch ? engine::RmaKind::FetchAtomic
                                                 : engine::RmaKind::CompareAtomic;
    args.iov = {operands.data(), reads_only ? 0 : call.iov_count};
    args.compare = {compare.data(), call.compare_count};
    args.result = {result.data(), call.result_count};
    args.atomic_type = type;
    args.atomic_op = op;
    args.count = count;
    args.addr = call.remote->addr;
    args.key = call.remote->key;
    args.context = call.context;
    args.report = !call.inject && (!ep->tx_selective || (call.flags & FI_COMPLETION));

    return submit_rma(ep, args, call.peer);
}

Endpoint* endpoint_of(fid_ep* handle) { return object_of<Endpoint>(&handle->fid); }

size_t elements(const fi_ioc* ioc, size_t count) {
    size_t n = 0;
    for (size_t i = 0; ioc && i < count; ++i) n += ioc[i].count;
    return n;
}

// The vector forms: the remote range holds as many elements as the result
// buffers (fetching forms) or the operands.
ssize_t post_vector(fid_ep* handle, AtomicForm form, const fi_ioc* iov, size_t count, const fi_ioc* comparev,
                    size_t compare_count, const fi_ioc* resultv, size_t result_count, fi_addr_t dest, uint64_t addr,
                    uint64_t key, fi_datatype datatype, fi_op op, void* context, bool inject = false) {
    Endpoint* ep = endpoint_of(handle);
    const fi_rma_ioc remote{addr, form == AtomicForm::Plain ? elements(iov, count) : elements(resultv, result_count),
                            key};
    AtomicCall call;
    call.form = form;
    call.iov = iov;
    call.iov_count = op == FI_ATOMIC_READ ? 0 : count;
    call.compare = comparev;
    call.compare_count = compare_count;
    call.result = resultv;
    call.result_count = result_count;
    call.peer = dest;
    call.remote = &remote;
    call.remote_count = 1;
    call.datatype = datatype;
    call.op = op;
    call.context = context;
    call.inject = inject;
    call.flags = inject ? 0 : ep->tx_op_flags & kAtomicFlags;
    return post_atomic(ep, call);
}

// The single-buffer forms: one buffer each of operands, compare values and
// results, `count` elements long.
ssize_t post_single(fid_ep* handle, AtomicForm form, const void* buf, const void* compare, void* result,
                    size_t count, fi_addr_t dest, uint64_t addr, uint64_t key, fi_datatype datatype, fi_op op,
                    void* context, bool inject = false) {
    const fi_ioc operands{const_cast<void*>(buf), count};
    const fi_ioc compares{const_cast<void*>(compare), count};
    const fi_ioc results{result, count};
    const bool compared = form == AtomicForm::Compare, fetched = form != AtomicForm::Plain;
    return post_vector(handle, form, &operands, 1, compared ? &compares : nullptr, compared ? 1 : 0,
                       fetched ? &results : nullptr, fetched ? 1 : 0, dest, addr, key, datatype, op, context, inject);
}

ssize_t atomic_write(fid_ep* handle, const void* buf, size_t count, void*, fi_addr_t dest, uint64_t addr,
                     uint64_t key, fi_datatype datatype, fi_op op, void* context) {
    return post_single(handle, AtomicForm::Plain, buf, nullptr, nullptr, count, dest, addr, key, datatype, op,
                       context);
}

ssize_t atomic_writev(fid_ep* handle, const fi_ioc* iov, void**, size_t count, fi_addr_t dest, uint64_t addr,
                      uint64_t key, fi_datatype datatype, fi_op op, void* context) {
    return post_vector(handle, AtomicForm::Plain, iov, count, nullptr, 0, nullptr, 0, dest, addr, key, datatype, op,
                       context);
}

ssize_t atomic_inject(fid_ep* handle, const void* buf, size_t count, fi_addr_t dest, uint64_t addr, uint64_t key,
                      fi_datatype datatype, fi_op op) {
    return post_single(handle, AtomicForm::Plain, buf, nullptr, nullptr, count, dest, addr, key, datatype, op,
                       nullptr, true);
}

ssize_t atomic_readwrite(fid_ep* handle, const void* buf, size_t count, void*, void* result, void*, fi_addr_t dest,
                         uint64_t addr, uint64_t key, fi_datatype datatype, fi_op op, void* context) {
    return post_single(handle, AtomicForm::Fetch, buf, nullptr, result, count, dest, addr, key, datatype, op,
                       context);
}

ssize_t atomic_readwritev(fid_ep* handle, const fi_ioc* iov, void**, size_t count, fi_ioc* resultv, void**,
                          size_t result_count, fi_addr_t dest, uint64_t addr, uint64_t key, fi_datatype datatype,
                          fi_op op, void* context) {
    return post_vector(handle, AtomicForm::Fetch, iov, count, nullptr, 0, resultv, result_count, dest, addr, key,
                       datatype, op, context);
}

ssize_t atomic_compwrite(fid_ep* handle, const void* buf, size_t count, void*, const void* compare, void*,
                         void* result, void*, fi_addr_t dest, uint64_t addr, uint64_t key, fi_datatype datatype,
                         fi_op op, void* context) {
    return post_single(handle, AtomicForm::Compare, buf, compare, result, count, dest, addr, key, datatype, op,
                       context);
}

ssize_t atomic_compwritev(fid_ep* handle, const fi_ioc* iov, void**, size_t count, const fi_ioc* comparev, void**,
                          size_t compare_count, fi_ioc* resultv, void**, size_t result_count, fi_addr_t dest,
                          uint64_t addr, uint64_t key, fi_datatype datatype, fi_op op, void* context) {
    return post_vector(handle, AtomicForm::Compare, iov, count, comparev, compare_count, resultv, result_count, dest,
                       addr, key, datatype, op, context);
}

// The message forms name their remote range themselves.
AtomicCall from_msg(const fi_msg_atomic* msg, uint64_t flags) {
    AtomicCall call;
    call.iov = msg->msg_iov;
    call.iov_count = msg->op == FI_ATOMIC_READ ? 0 : msg->iov_count;
    call.peer = msg->addr;
    call.remote = msg->rma_iov;
    call.remote_count = msg->rma_iov_count;
    call.datatype = msg->datatype;
    call.op = msg->op;
    call.context = msg->context;
    call.flags = flags;
    return call;
}

ssize_t atomic_writemsg(fid_ep* handle, const fi_msg_atomic* msg, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    // Remote CQ data does not come with atomics.
    if (flags & FI_REMOTE_CQ_DATA) return -FI_EBADFLAGS;
    return post_atomic(endpoint_of(handle), from_msg(msg, flags));
}

ssize_t atomic_readwritemsg(fid_ep* handle, const fi_msg_atomic* msg, fi_ioc* resultv, void**, size_t result_count,
                            uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    if (flags & FI_REMOTE_CQ_DATA) return -FI_EBADFLAGS;
    AtomicCall call = from_msg(msg, flags);
    call.form = AtomicForm::Fetch;
    call.result = resultv;
    call.result_count = result_count;
    return post_atomic(endpoint_of(handle), call);
}

ssize_t atomic_compwritemsg(fid_ep* handle, const fi_msg_atomic* msg, const fi_ioc* comparev, void**,
                            size_t compare_count, fi_ioc* resultv, void**, size_t result_count, uint64_t flags) {
    if (!msg) return -FI_EINVAL;
    if (flags & FI_REMOTE_CQ_DATA) return -FI_EBADFLAGS;
    AtomicCall call = from_msg(msg, flags);
    call.form = AtomicForm::Compare;
    call.compare = comparev;
    call.compare_count = compare_count;
    call.result = resultv;
    call.result_count = result_count;
    return post_atomic(endpoint_of(handle), call);
}

int atomic_writevalid(fid_ep* handle, fi_datatype datatype, fi_op op, size_t* count) {
    if (!(endpoint_of(handle)->caps & FI_ATOMIC)) return -FI_EOPNOTSUPP;
    return valid(datatype, op, AtomicForm::Plain, count);
}

int atomic_readwritevalid(fid_ep* handle, fi_datatype datatype, fi_op op, size_t* count) {
    if (!(endpoint_of(handle)->caps & FI_ATOMIC)) return -FI_EOPNOTSUPP;
    return valid(datatype, op, AtomicForm::Fetch, count);
}

int atomic_compwritevalid(fid_ep* handle, fi_datatype datatype, fi_op op, size_t* count) {
    if (!(endpoint_of(handle)->caps & FI_ATOMIC)) return -FI_EOPNOTSUPP;
    return valid(datatype, op, AtomicForm::Compare, count);
}

}  // namespace

fi_ops_atomic endpoint_atomic_ops = {
    .size = sizeof(fi_ops_atomic),
    .write = atomic_write,
    .writev = atomic_writev,
    .writemsg = atomic_writemsg,
    .inject = atomic_inject,
    .readwrite = atomic_readwrite,
    .readwritev = atomic_readwritev,
    .readwritemsg = atomic_readwritemsg,
    .compwrite = atomic_compwrite,
    .compwritev = atomic_compwritev,
    .compwritemsg = atomic_compwritemsg,
    .writevalid = atomic_writevalid,
    .readwritevalid = atomic_readwritevalid,
    .compwritevalid = atomic_compwritevalid,
};

int query_atomic(fid_domain*, fi_datatype datatype, fi_op op, fi_atomic_attr* attr, uint64_t flags) {
    if (!attr) return -FI_EINVAL;
    if (flags & ~uint64_t{FI_FETCH_ATOMIC | FI_COMPARE_ATOMIC | FI_TAGGED}) return -FI_EBADFLAGS;
    // Tagged atomics and both forms at once are not things.
    if ((flags & FI_TAGGED) || ((flags & FI_FETCH_ATOMIC) && (flags & FI_COMPARE_ATOMIC))) return -FI_EOPNOTSUPP;
    const AtomicForm form = (flags & FI_COMPARE_ATOMIC) ? AtomicForm::Compare
                            : (flags & FI_FETCH_ATOMIC) ? AtomicForm::Fetch
                                                        : AtomicForm::Plain;
    size_t count = 0;
    if (int ret = valid(datatype, op, form, &count)) return ret;
    attr->count = count;
    attr->size = engine::atomic_size(type_of(datatype));
    return 0;
}

}  // namespace xen2mx::api
