// RMA through the real libfabric: two endpoints of one process, each in a
// domain of its own (so a key is only ever found in the target's), over
// each link a process can use without privilege. Data lands where it was
// aimed and nowhere else, completions and counters are right on both sides,
// and every bad access is refused with the right error and touches nothing.
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>
#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "fabric_handles.hpp"

namespace {

using xen2mx::test::Handle;
using xen2mx::test::InfoPtr;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint32_t kVersion = FI_VERSION(1, 17);
constexpr auto kPatience = 20s;
constexpr uint8_t kUntouched = 0x5a;

using xen2mx::test::pattern;

bool untouched(const std::vector<uint8_t>& memory) {
    for (uint8_t b : memory) {
        if (b != kUntouched) return false;
    }
    return true;
}

struct Side {
    Handle<fid_domain> domain;
    Handle<fid_av> av;
    Handle<fid_cq> tx;
    Handle<fid_cq> rx;
    // Counters by event: our reads, our writes, peers' reads and writes of our memory.
    Handle<fid_cntr> read_cntr, write_cntr, remote_read_cntr, remote_write_cntr;
    Handle<fid_ep> ep;
    std::vector<uint8_t> name;
    fi_addr_t peer = FI_ADDR_NOTAVAIL;
};

// What an operation leaves in an element, computed here independently of
// the provider; false when the element stays as it was.
template <typename T>
bool expected_after(fi_op op, T old, T operand, T compare, T* out) {
    switch (op) {
    case FI_MIN: *out = std::min(old, operand); return true;
    case FI_MAX: *out = std::max(old, operand); return true;
    case FI_SUM: *out = static_cast<T>(old + operand); return true;
    case FI_PROD: *out = static_cast<T>(old * operand); return true;
    case FI_ATOMIC_WRITE: *out = operand; return true;
    case FI_ATOMIC_READ: return false;
    case FI_CSWAP: *out = operand; return compare == old;
    case FI_CSWAP_NE: *out = operand; return compare != old;
    case FI_CSWAP_LE: *out = operand; return compare <= old;
    case FI_CSWAP_LT: *out = operand; return compare < old;
    case FI_CSWAP_GE: *out = operand; return compare >= old;
    case FI_CSWAP_GT: *out = operand; return compare > old;
    default: break;
    }
    if constexpr (std::is_integral_v<T>) {
        switch (op) {
        case FI_LOR: *out = static_cast<T>((old != 0) || (operand != 0)); return true;
        case FI_LAND: *out = static_cast<T>((old != 0) && (operand != 0)); return true;
        case FI_LXOR: *out = static_cast<T>((old != 0) != (operand != 0)); return true;
        case FI_BOR: *out = static_cast<T>(old | operand); return true;
        case FI_BAND: *out = static_cast<T>(old & operand); return true;
        case FI_BXOR: *out = static_cast<T>(old ^ operand); return true;
        case FI_MSWAP: *out = static_cast<T>((operand & compare) | (old & ~compare)); return true;
        default: break;
        }
    }
    return false;
}

enum class Form { Plain, Fetch, Compare };

class Rma : public testing::TestWithParam<const char*> {
protected:
    void SetUp() override {
        if (std::string_view(GetParam()) == "kmod" && access("/dev/xen2mx", F_OK) != 0)
            GTEST_SKIP() << "no /dev/xen2mx: the kmod link is tested in tests/vm";
        port_base_ = std::to_string(40000 + (getpid() % 90) * 256);
        setenv("FI_XEN2MX_UDP_PORT_BASE", port_base_.c_str(), 1);
        setenv("FI_XEN2MX_PEER_TIMEOUT", "2000", 1);
        setenv("FI_XEN2MX_LINK", GetParam(), 1);
        ASSERT_NO_FATAL_FAILURE(get_info(FI_MR_PROV_KEY | FI_MR_VIRT_ADDR));
    }

    void get_info(int mr_mode, uint32_t version = kVersion, uint64_t caps = FI_MSG | FI_RMA | FI_ATOMIC | FI_RMA_EVENT) {
        InfoPtr hints(fi_allocinfo());
        hints->fabric_attr->prov_name = strdup("xen2mx");
        hints->ep_attr->type = FI_EP_RDM;
        hints->caps = caps;
        hints->domain_attr->mr_mode = mr_mode;
        fi_info* info = nullptr;
        ASSERT_EQ(fi_getinfo(version, nullptr, nullptr, 0, hints.get(), &info), 0);
        info_.reset(info);
        ASSERT_EQ(info_->domain_attr->mr_mode, mr_mode);
        // The fabric carries the API version the domain then speaks.
        if (fabric_ && version != kVersion) {
            ASSERT_EQ(fabric_.close(), 0);
        }
        if (!fabric_) {
            ASSERT_EQ(fi_fabric(info_->fabric_attr, fabric_.out(), nullptr), 0);
        }
    }

    // Without remote counters (and without FI_RMA_EVENT in the info), the
    // target need not see reads: they go by key, answered by the link
    // where it can (the kernel) or by the target's engine.
    void open_side(Side& side, bool remote_counters = true) {
        ASSERT_EQ(fi_domain(fabric_.get(), info_.get(), side.domain.out(), nullptr), 0);
        fi_av_attr av_attr{};
        av_attr.type = FI_AV_TABLE;
        ASSERT_EQ(fi_av_open(side.domain.get(), &av_attr, side.av.out(), nullptr), 0);
        fi_cq_attr cq_attr{};
        cq_attr.format = FI_CQ_FORMAT_DATA;
        ASSERT_EQ(fi_cq_open(side.domain.get(), &cq_attr, side.tx.out(), nullptr), 0);
        ASSERT_EQ(fi_cq_open(side.domain.get(), &cq_attr, side.rx.out(), nullptr), 0);
        fi_cntr_attr cntr_attr{};
        for (Handle<fid_cntr>* c : {&side.read_cntr, &side.write_cntr, &side.remote_read_cntr, &side.remote_write_cntr})
            ASSERT_EQ(fi_cntr_open(side.domain.get(), &cntr_attr, c->out(), nullptr), 0);
        ASSERT_EQ(fi_endpoint(side.domain.get(), info_.get(), side.ep.out(), nullptr), 0);
        ASSERT_EQ(fi_ep_bind(side.ep.get(), side.av.id(), 0), 0);
        ASSERT_EQ(fi_ep_bind(side.ep.get(), side.tx.id(), FI_TRANSMIT), 0);
        ASSERT_EQ(fi_ep_bind(side.ep.get(), side.rx.id(), FI_RECV), 0);
        ASSERT_EQ(fi_ep_bind(side.ep.get(), side.read_cntr.id(), FI_READ), 0);
        ASSERT_EQ(fi_ep_bind(side.ep.get(), side.write_cntr.id(), FI_WRITE), 0);
        if (remote_counters) {
            ASSERT_EQ(fi_ep_bind(side.ep.get(), side.remote_read_cntr.id(), FI_REMOTE_READ), 0);
            ASSERT_EQ(fi_ep_bind(side.ep.get(), side.remote_write_cntr.id(), FI_REMOTE_WRITE), 0);
        }
        ASSERT_EQ(fi_enable(side.ep.get()), 0);
        side.name.resize(64);
        size_t len = side.name.size();
        ASSERT_EQ(fi_getname(side.ep.id(), side.name.data(), &len), 0);
        side.name.resize(len);
    }

    void open_pair(bool remote_counters = true) {
        ASSERT_NO_FATAL_FAILURE(open_side(a_, remote_counters));
        ASSERT_NO_FATAL_FAILURE(open_side(b_, remote_counters));
        ASSERT_EQ(fi_av_insert(a_.av.get(), b_.name.data(), 1, &a_.peer, 0, nullptr), 1);
        ASSERT_EQ(fi_av_insert(b_.av.get(), a_.name.data(), 1, &b_.peer, 0, nullptr), 1);
    }

    // Registers memory of b for peers; returns its key and the address a
    // peer names its first byte by.
    bool expose(Handle<fid_mr>& mr, std::vector<uint8_t>& memory, uint64_t access, uint64_t* key, uint64_t* addr) {
        EXPECT_EQ(fi_mr_reg(b_.domain.get(), memory.data(), memory.size(), access, 0, 0, 0, mr.out(), nullptr), 0);
        if (!mr) return false;
        *key = fi_mr_key(mr.get());
        const int mode = info_->domain_attr->mr_mode;
        const bool virt = (mode & FI_MR_VIRT_ADDR) || mode == FI_MR_BASIC;
        *addr = virt ? reinterpret_cast<uint64_t>(memory.data()) : 0;
        return true;
    }

    // Progress on both sides until one entry (or error) comes out of cq.
    int wait(fid_cq* cq, fi_cq_data_entry* entry, fi_cq_err_entry* error = nullptr) {
        return xen2mx::test::read_one(cq, entry, error, {a_.tx.get(), a_.rx.get(), b_.tx.get(), b_.rx.get()},
                                      kPatience);
    }

    // Progress on both sides until the counter reaches `value`.
    bool counter_reaches(fid_cntr* cntr, uint64_t value, bool errors = false) {
        const auto deadline = Clock::now() + kPatience;
        while (Clock::now() < deadline) {
            if ((errors ? fi_cntr_readerr(cntr) : fi_cntr_read(cntr)) >= value) return true;
            for (Side* side : {&a_, &b_}) {
                fi_cq_read(side->tx.get(), nullptr, 0);
                fi_cq_read(side->rx.get(), nullptr, 0);
            }
        }
        return false;
    }

    // A write or read from a to b, retried while the provider is busy.
    ssize_t post(bool read, void* buf, size_t len, uint64_t addr, uint64_t key, void* context) {
        const auto deadline = Clock::now() + kPatience;
        for (;;) {
            const ssize_t ret = read ? fi_read(a_.ep.get(), buf, len, nullptr, a_.peer, addr, key, context)
                                     : fi_write(a_.ep.get(), buf, len, nullptr, a_.peer, addr, key, context);
            if (ret != -FI_EAGAIN || Clock::now() > deadline) return ret;
            fi_cq_read(a_.tx.get(), nullptr, 0);
            fi_cq_read(b_.rx.get(), nullptr, 0);
        }
    }

    // Runs every operation the provider says it offers for type T in each form,
    // on 5 elements with mixed values, and checks the target's elements and
    // the values fetched against expected_after().
    template <typename T>
    void every_operation(fi_datatype datatype, std::vector<uint8_t>& memory, uint64_t base, uint64_t key) {
        Side& a = a_;
        constexpr size_t kCount = 5;
        const T initial[kCount] = {T(0), T(1), T(7), T(100), T(45)};
        const T operands[kCount] = {T(3), T(1), T(0), T(120), T(45)};
        const T compare[kCount] = {T(0), T(2), T(7), T(50), T(45)};
        const fi_op ops[] = {FI_MIN, FI_MAX, FI_SUM, FI_PROD, FI_LOR, FI_LAND, FI_BOR, FI_BAND, FI_LXOR, FI_BXOR,
                             FI_ATOMIC_READ, FI_ATOMIC_WRITE, FI_CSWAP, FI_CSWAP_NE, FI_CSWAP_LE, FI_CSWAP_LT,
                             FI_CSWAP_GE, FI_CSWAP_GT, FI_MSWAP};
        // Aligned for T, 8 bytes into the region.
        T* target = reinterpret_cast<T*>(memory.data() + 8);
        size_t tried = 0;
        for (Form form : {Form::Plain, Form::Fetch, Form::Compare}) {
            for (fi_op op : ops) {
                size_t max = 0;
                const int valid = form == Form::Plain   ? fi_atomicvalid(a.ep.get(), datatype, op, &max)
                                  : form == Form::Fetch ? fi_fetch_atomicvalid(a.ep.get(), datatype, op, &max)
                                                        : fi_compare_atomicvalid(a.ep.get(), datatype, op, &max);
                if (valid != 0) continue;
                ++tried;
                SCOPED_TRACE("op " + std::to_string(op) + " form " + std::to_string(static_cast<int>(form)));
                std::memcpy(target, initial, sizeof initial);
                T fetched[kCount];
                std::memset(fetched, 0xee, sizeof fetched);
                int context = 0;
                ssize_t ret;
                if (form == Form::Plain) {
                    ret = fi_atomic(a.ep.get(), operands, kCount, nullptr, a.peer, base + 8, key, datatype, op, &context);
                } else if (form == Form::Fetch) {
                    ret = fi_fetch_atomic(a.ep.get(), operands, kCount, nullptr, fetched, nullptr, a.peer, base + 8, key,
                                          datatype, op, &context);
                } else {
                    ret = fi_compare_atomic(a.ep.get(), operands, kCount, nullptr, compare, nullptr, fetched, nullptr,
                                            a.peer, base + 8, key, datatype, op, &context);
                }
                ASSERT_EQ(ret, 0);
                fi_cq_data_entry entry{};
                ASSERT_EQ(wait(a.tx.get(), &entry), 0);
                EXPECT_EQ(entry.op_context, &context);
                EXPECT_EQ(entry.flags, uint64_t{FI_ATOMIC | (form == Form::Plain ? FI_WRITE : FI_READ)});
                // The target's entry (FI_RMA_EVENT): an atomic on its memory.
                fi_cq_data_entry target_entry{};
                ASSERT_EQ(wait(b_.rx.get(), &target_entry), 0);
                EXPECT_EQ(target_entry.flags & (FI_ATOMIC | FI_RMA), uint64_t{FI_ATOMIC});
                EXPECT_EQ(target_entry.len, sizeof initial);
                for (size_t i = 0; i < kCount; ++i) {
                    T after = initial[i];
                    T value;
                    if (expected_after(op, initial[i], operands[i], compare[i], &value)) after = value;
                    EXPECT_EQ(target[i], after) << "element " << i;
                    if (form != Form::Plain) {
                    EXPECT_EQ(fetched[i], initial[i]) << "fetched " << i;
                }
                }
            }
        }
        // Integers: 11 plain + 12 fetching + 7 comparing; floats: 5 + 6 + 6.
        EXPECT_EQ(tried, std::is_integral_v<T> ? 30u : 17u);
    }

    // RMA between two sides of an API 1.4 fabric in FI_MR_BASIC or FI_MR_SCALABLE mode.
    void older_api(int mode);

    std::string port_base_;
    InfoPtr info_;
    Handle<fid_fabric> fabric_;
    Side a_, b_;
};

std::vector<size_t> rma_sizes() {
    // Around the inline limit (one frame), the pull blocks, and large.
    return {0, 1, 100, 1000, 4055, 4056, 4057, 4096, 4097, 8969, 65536, 100000, size_t{1} << 20,
            (size_t{1} << 22) + 3};
}

TEST_P(Rma, WritesAndReadsEverySizeWhereAimed) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    const size_t max = rma_sizes().back();
    // The region has guard bytes on both sides of where the data goes.
    std::vector<uint8_t> memory(max + 64, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    uint64_t writes = 0, reads = 0;
    for (size_t size : rma_sizes()) {
        SCOPED_TRACE("size " + std::to_string(size));
        std::fill(memory.begin(), memory.end(), kUntouched);
        const std::vector<uint8_t> data = pattern(size, size);
        int context = 0;
        ASSERT_EQ(post(false, const_cast<uint8_t*>(data.data()), size, base + 32, key, &context), 0);
        fi_cq_data_entry entry{};
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        EXPECT_EQ(entry.op_context, &context);
        EXPECT_EQ(entry.flags, uint64_t{FI_RMA | FI_WRITE});
        ++writes;
        EXPECT_EQ(fi_cntr_read(a_.write_cntr.get()), writes);
        // Complete at the initiator means in place at the target.
        EXPECT_TRUE(std::equal(data.begin(), data.end(), memory.begin() + 32));
        EXPECT_TRUE(std::all_of(memory.begin(), memory.begin() + 32, [](uint8_t b) { return b == kUntouched; }));
        EXPECT_TRUE(std::all_of(memory.begin() + 32 + static_cast<ptrdiff_t>(size), memory.end(),
                                [](uint8_t b) { return b == kUntouched; }));
        EXPECT_TRUE(counter_reaches(b_.remote_write_cntr.get(), writes));

        std::vector<uint8_t> back(size + 2, kUntouched);
        ASSERT_EQ(post(true, back.data() + 1, size, base + 32, key, &context), 0);
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        EXPECT_EQ(entry.flags, uint64_t{FI_RMA | FI_READ});
        ++reads;
        EXPECT_EQ(fi_cntr_read(a_.read_cntr.get()), reads);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin() + 1));
        EXPECT_EQ(back.front(), kUntouched);
        EXPECT_EQ(back.back(), kUntouched);
        EXPECT_TRUE(counter_reaches(b_.remote_read_cntr.get(), reads));
    }
    EXPECT_EQ(fi_cntr_readerr(b_.remote_write_cntr.get()), 0u);
    // With FI_RMA_EVENT every access makes an entry at the target, in order.
    size_t entries = 0;
    fi_cq_data_entry entry{};
    while (fi_cq_read(b_.rx.get(), &entry, 1) == 1) {
        const size_t size = rma_sizes()[entries / 2];
        const bool read = entries % 2 == 1;
        EXPECT_EQ(entry.flags, uint64_t{FI_RMA | (read ? FI_REMOTE_READ : FI_REMOTE_WRITE)}) << entries;
        EXPECT_EQ(entry.len, size) << entries;
        EXPECT_EQ(entry.op_context, nullptr);
        ++entries;
    }
    EXPECT_EQ(entries, writes + reads);
}

// Without FI_RMA_EVENT, only a write with remote CQ data makes an entry at
// the target; counters count every access.
TEST_P(Rma, WithoutRmaEventsOnlyCqDataMakesEntries) {
    ASSERT_NO_FATAL_FAILURE(get_info(FI_MR_PROV_KEY | FI_MR_VIRT_ADDR, kVersion, FI_MSG | FI_RMA | FI_ATOMIC));
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(100000, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    std::vector<uint8_t> data = pattern(4, 50000);
    fi_cq_data_entry entry{};
    ASSERT_EQ(post(false, data.data(), data.size(), base, key, nullptr), 0);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    ASSERT_EQ(post(true, data.data(), 100, base, key, nullptr), 0);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    const uint64_t one = 1;
    ASSERT_EQ(fi_atomic(a_.ep.get(), &one, 1, nullptr, a_.peer, base + 8, key, FI_UINT64, FI_SUM, nullptr), 0);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    ASSERT_EQ(fi_writedata(a_.ep.get(), data.data(), 8, nullptr, 99, a_.peer, base, key, nullptr), 0);
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.flags, uint64_t{FI_RMA | FI_REMOTE_WRITE | FI_REMOTE_CQ_DATA});
    EXPECT_EQ(entry.data, 99u);
    EXPECT_EQ(fi_cq_read(b_.rx.get(), &entry, 1), -FI_EAGAIN) << "one entry: the write with CQ data";
    EXPECT_TRUE(counter_reaches(b_.remote_write_cntr.get(), 3));
    EXPECT_EQ(fi_cntr_read(b_.remote_read_cntr.get()), 1u);
}

// Reads of a target that does not ask to see them: every size lands byte
// for byte; a region closed since, or bytes outside a region, are refused
// with their reason, and a region registered after the endpoint opened is
// read like the others.
TEST_P(Rma, ReadsATargetNeedNotSee) {
    ASSERT_NO_FATAL_FAILURE(get_info(FI_MR_PROV_KEY | FI_MR_VIRT_ADDR, kVersion, FI_MSG | FI_RMA));
    ASSERT_NO_FATAL_FAILURE(open_pair(false));
    std::vector<uint8_t> memory((size_t{1} << 20) + 100), write_only(100, kUntouched);
    for (size_t i = 0; i < memory.size(); ++i) memory[i] = static_cast<uint8_t>(i * 13 + i / 251);
    uint64_t key = 0, base = 0, wo_key = 0, wo_base = 0;
    Handle<fid_mr> mr, wo_mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ, &key, &base));
    ASSERT_TRUE(expose(wo_mr, write_only, FI_REMOTE_WRITE, &wo_key, &wo_base));
    // A message first: the connection is up, reads may go by key.
    char hello[8] = "hello", into[8] = {};
    ASSERT_EQ(fi_recv(b_.ep.get(), into, sizeof into, nullptr, FI_ADDR_UNSPEC, nullptr), 0);
    ASSERT_EQ(fi_send(a_.ep.get(), hello, sizeof hello, nullptr, a_.peer, nullptr), 0);
    fi_cq_data_entry entry{};
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    for (size_t size : {size_t{1}, size_t{1000}, size_t{4096}, size_t{100000}, (size_t{1} << 20) + 3}) {
        SCOPED_TRACE(size);
        const size_t offset = 97;
        std::vector<uint8_t> back(size + 64, kUntouched);
        ASSERT_EQ(post(true, back.data(), size, base + offset, key, nullptr), 0);
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        EXPECT_TRUE(std::equal(back.begin(), back.begin() + static_cast<ptrdiff_t>(size),
                               memory.begin() + static_cast<ptrdiff_t>(offset)));
        EXPECT_TRUE(std::all_of(back.begin() + static_cast<ptrdiff_t>(size), back.end(),
                                [](uint8_t b) { return b == kUntouched; }));
    }
    EXPECT_EQ(fi_cq_read(b_.rx.get(), &entry, 1), -FI_EAGAIN) << "the target sees no read";

    // Registered now, while the endpoints run.
    std::vector<uint8_t> late(5000);
    for (size_t i = 0; i < late.size(); ++i) late[i] = static_cast<uint8_t>(i ^ 0x5a);
    uint64_t late_key = 0, late_base = 0;
    Handle<fid_mr> late_mr;
    ASSERT_TRUE(expose(late_mr, late, FI_REMOTE_READ, &late_key, &late_base));
    std::vector<uint8_t> back(late.size());
    ASSERT_EQ(post(true, back.data(), back.size(), late_base, late_key, nullptr), 0);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_EQ(back, late);
    late_mr.reset();

    struct Case {
        const char* what;
        size_t size;
        uint64_t addr;
        uint64_t key;
        int expected;
    };
    const Case cases[] = {
        {"a region closed since", 100, late_base, late_key, -FI_EACCES},
        {"a write-only region", 10, wo_base, wo_key, -FI_EACCES},
        {"past the end", 200, base + memory.size() - 100, key, -FI_EINVAL},
        {"before the start", 10, base - 1, key, -FI_EINVAL},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        std::vector<uint8_t> data = pattern(2, c.size);
        fi_cq_err_entry error{};
        ASSERT_EQ(post(true, data.data(), c.size, c.addr, c.key, nullptr), 0);
        ASSERT_EQ(wait(a_.tx.get(), &entry, &error), c.expected);
        EXPECT_EQ(data, pattern(2, c.size)) << "a refused read leaves our buffer alone";
    }
}

TEST_P(Rma, VectorsAndMessagesScatterAndGather) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(200000, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    const std::vector<uint8_t> data = pattern(9, 150000);
    // Three pieces of our memory to one range of the target.
    iovec pieces[3] = {{const_cast<uint8_t*>(data.data()), 10},
                       {const_cast<uint8_t*>(data.data()) + 10, 99990},
                       {const_cast<uint8_t*>(data.data()) + 100000, 50000}};
    int context = 0;
    ASSERT_EQ(fi_writev(a_.ep.get(), pieces, nullptr, 3, a_.peer, base + 1000, key, &context), 0);
    fi_cq_data_entry entry{};
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), memory.begin() + 1000));

    std::vector<uint8_t> first(70000), second(80000);
    iovec into[2] = {{first.data(), first.size()}, {second.data(), second.size()}};
    fi_rma_iov remote{base + 1000, 150000, key};
    fi_msg_rma msg{};
    msg.msg_iov = into;
    msg.iov_count = 2;
    msg.addr = a_.peer;
    msg.rma_iov = &remote;
    msg.rma_iov_count = 1;
    msg.context = &context;
    ASSERT_EQ(fi_readmsg(a_.ep.get(), &msg, FI_COMPLETION), 0);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_TRUE(std::equal(first.begin(), first.end(), data.begin()));
    EXPECT_TRUE(std::equal(second.begin(), second.end(), data.begin() + 70000));
}

TEST_P(Rma, WriteDataReachesTheTargetsQueue) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(1 << 20, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_WRITE, &key, &base));
    for (size_t size : {size_t{0}, size_t{64}, size_t{300000}}) {
        SCOPED_TRACE("size " + std::to_string(size));
        const std::vector<uint8_t> data = pattern(size + 1, size);
        int context = 0;
        const uint64_t cq_data = 0xfeedbeef00000000ull + size;
        ASSERT_EQ(fi_writedata(a_.ep.get(), data.data(), size, nullptr, cq_data, a_.peer, base, key, &context), 0);
        fi_cq_data_entry entry{};
        ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
        EXPECT_EQ(entry.flags, uint64_t{FI_RMA | FI_REMOTE_WRITE | FI_REMOTE_CQ_DATA});
        EXPECT_EQ(entry.data, cq_data);
        EXPECT_EQ(entry.len, size);
        EXPECT_EQ(entry.op_context, nullptr) << "no receive was consumed";
        EXPECT_TRUE(std::equal(data.begin(), data.end(), memory.begin()));
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        EXPECT_EQ(entry.op_context, &context);
    }
    // fi_inject_writedata: the same without any completion at the initiator.
    const std::vector<uint8_t> small = pattern(3, 40);
    ASSERT_EQ(fi_inject_writedata(a_.ep.get(), small.data(), small.size(), 77, a_.peer, base + 8, key), 0);
    fi_cq_data_entry entry{};
    ASSERT_EQ(wait(b_.rx.get(), &entry), 0);
    EXPECT_EQ(entry.data, 77u);
    EXPECT_TRUE(std::equal(small.begin(), small.end(), memory.begin() + 8));
}

TEST_P(Rma, InjectedWritesAreCountedNotReported) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(4096, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_WRITE, &key, &base));
    for (size_t i = 0; i < 64; ++i) {
        // The buffer is free as soon as the call returns.
        std::vector<uint8_t> data = pattern(i, 64);
        ASSERT_EQ(fi_inject_write(a_.ep.get(), data.data(), data.size(), a_.peer, base + i * 64, key), 0);
        std::fill(data.begin(), data.end(), 0);
    }
    EXPECT_TRUE(counter_reaches(a_.write_cntr.get(), 64));
    EXPECT_TRUE(counter_reaches(b_.remote_write_cntr.get(), 64));
    for (size_t i = 0; i < 64; ++i) {
        const std::vector<uint8_t> data = pattern(i, 64);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), memory.begin() + static_cast<ptrdiff_t>(i * 64))) << i;
    }
    fi_cq_data_entry entry{};
    EXPECT_EQ(fi_cq_read(a_.tx.get(), &entry, 1), -FI_EAGAIN);
}

TEST_P(Rma, ManyOperationsInFlight) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    constexpr size_t kOps = 300;
    constexpr size_t kChunk = 2000;
    std::vector<uint8_t> memory(kOps * kChunk, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    std::vector<std::vector<uint8_t>> data;
    for (size_t i = 0; i < kOps; ++i) data.push_back(pattern(i + 100, kChunk));
    for (size_t i = 0; i < kOps; ++i)
        ASSERT_EQ(post(false, data[i].data(), kChunk, base + i * kChunk, key, nullptr), 0) << i;
    EXPECT_TRUE(counter_reaches(a_.write_cntr.get(), kOps));
    std::vector<uint8_t> back(memory.size(), 0);
    for (size_t i = 0; i < kOps; ++i)
        ASSERT_EQ(post(true, back.data() + i * kChunk, kChunk, base + i * kChunk, key, nullptr), 0) << i;
    EXPECT_TRUE(counter_reaches(a_.read_cntr.get(), kOps));
    for (size_t i = 0; i < kOps; ++i) {
        EXPECT_TRUE(std::equal(data[i].begin(), data[i].end(), back.begin() + static_cast<ptrdiff_t>(i * kChunk)))
            << i;
    }
}

// Every access the target did not open is refused with its reason, and the
// target's memory is exactly as it was; the target counts each refusal as
// an error of the matching remote counter.
TEST_P(Rma, BadAccessesAreRefusedAndTouchNothing) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> both(8192, kUntouched), write_only(8192, kUntouched), read_only(8192, kUntouched);
    uint64_t both_key = 0, both_base = 0, wo_key = 0, wo_base = 0, ro_key = 0, ro_base = 0;
    Handle<fid_mr> both_mr, wo_mr, ro_mr;
    ASSERT_TRUE(expose(both_mr, both, FI_REMOTE_READ | FI_REMOTE_WRITE, &both_key, &both_base));
    ASSERT_TRUE(expose(wo_mr, write_only, FI_REMOTE_WRITE, &wo_key, &wo_base));
    ASSERT_TRUE(expose(ro_mr, read_only, FI_REMOTE_READ, &ro_key, &ro_base));
    // A region that was closed: its key is no more.
    std::vector<uint8_t> gone_memory(64, kUntouched);
    uint64_t gone_key = 0, gone_base = 0;
    {
        Handle<fid_mr> gone;
        ASSERT_TRUE(expose(gone, gone_memory, FI_REMOTE_WRITE, &gone_key, &gone_base));
    }

    struct Case {
        const char* what;
        bool read;
        size_t size;
        uint64_t addr;
        uint64_t key;
        int expected;
    };
    const Case cases[] = {
        {"unknown key", false, 100, both_base, both_key + 1000, -FI_EACCES},
        {"unknown key, large", false, 100000, both_base, both_key + 1000, -FI_EACCES},
        {"closed region", false, 10, gone_base, gone_key, -FI_EACCES},
        {"write to a read-only region", false, 100, ro_base, ro_key, -FI_EACCES},
        {"large write to a read-only region", false, 8192, ro_base, ro_key, -FI_EACCES},
        {"read from a write-only region", true, 100, wo_base, wo_key, -FI_EACCES},
        {"large read from a write-only region", true, 8192, wo_base, wo_key, -FI_EACCES},
        {"past the end", false, 100, both_base + 8100, both_key, -FI_EINVAL},
        {"large, past the end", false, 8192, both_base + 1, both_key, -FI_EINVAL},
        {"before the start", false, 10, both_base - 1, both_key, -FI_EINVAL},
        {"far away", false, 10, both_base + (uint64_t{1} << 40), both_key, -FI_EINVAL},
        {"wrapping around", false, 10, ~uint64_t{0} - 4, both_key, -FI_EINVAL},
        {"read past the end", true, 9000, both_base, both_key, -FI_EINVAL},
    };
    uint64_t refused_writes = 0, refused_reads = 0;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        std::vector<uint8_t> data = pattern(1, c.size);
        int context = 0;
        ASSERT_EQ(post(c.read, data.data(), c.size, c.addr, c.key, &context), 0);
        fi_cq_data_entry entry{};
        fi_cq_err_entry error{};
        ASSERT_EQ(wait(a_.tx.get(), &entry, &error), c.expected);
        EXPECT_EQ(error.op_context, &context);
        EXPECT_EQ(error.flags & (FI_RMA | FI_READ | FI_WRITE), uint64_t{FI_RMA | (c.read ? FI_READ : FI_WRITE)});
        EXPECT_TRUE(untouched(both));
        EXPECT_TRUE(untouched(write_only));
        EXPECT_TRUE(untouched(read_only));
        EXPECT_TRUE(untouched(gone_memory));
        if (c.read) {
            EXPECT_TRUE(counter_reaches(b_.remote_read_cntr.get(), ++refused_reads, true));
            EXPECT_EQ(data, pattern(1, c.size)) << "a refused read leaves our buffer alone";
        } else {
            EXPECT_TRUE(counter_reaches(b_.remote_write_cntr.get(), ++refused_writes, true));
        }
        EXPECT_EQ(fi_cntr_readerr(c.read ? a_.read_cntr.get() : a_.write_cntr.get()),
                  c.read ? refused_reads : refused_writes);
    }
    EXPECT_EQ(fi_cntr_read(b_.remote_write_cntr.get()), 0u);
    EXPECT_EQ(fi_cntr_read(b_.remote_read_cntr.get()), 0u);

    // The connection is as good as before: allowed accesses still work.
    const std::vector<uint8_t> data = pattern(2, 5000);
    ASSERT_EQ(post(false, const_cast<uint8_t*>(data.data()), data.size(), wo_base, wo_key, nullptr), 0);
    fi_cq_data_entry entry{};
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), write_only.begin()));
}

// Without FI_MR_VIRT_ADDR, peers name bytes by their offset in the region.
TEST_P(Rma, OffsetAddressingWithoutVirtualAddresses) {
    ASSERT_NO_FATAL_FAILURE(get_info(FI_MR_PROV_KEY));
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(100000, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    ASSERT_EQ(base, 0u);
    for (size_t size : {size_t{16}, size_t{50000}}) {
        const std::vector<uint8_t> data = pattern(size, size);
        ASSERT_EQ(post(false, const_cast<uint8_t*>(data.data()), size, 100, key, nullptr), 0);
        fi_cq_data_entry entry{};
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), memory.begin() + 100));
        EXPECT_EQ(memory[99], kUntouched);
    }
    // A virtual address is just an offset far out of the region here.
    ASSERT_EQ(post(false, memory.data(), 16, reinterpret_cast<uint64_t>(memory.data()), key, nullptr), 0);
    fi_cq_data_entry entry{};
    EXPECT_EQ(wait(a_.tx.get(), &entry), -FI_EINVAL);
}

// The modes of API 1.4: FI_MR_BASIC (provider keys, virtual addresses) and
// FI_MR_SCALABLE (the application's keys, offsets).
void Rma::older_api(int mode) {
    ASSERT_NO_FATAL_FAILURE(get_info(mode, FI_VERSION(1, 4)));
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(100000, kUntouched);
    Handle<fid_mr> mr;
    const uint64_t requested = 0x5eed;
    ASSERT_EQ(fi_mr_reg(b_.domain.get(), memory.data(), memory.size(), FI_REMOTE_READ | FI_REMOTE_WRITE, 0,
                        requested, 0, mr.out(), nullptr),
              0);
    const uint64_t key = fi_mr_key(mr.get());
    if (mode == FI_MR_SCALABLE) {
        EXPECT_EQ(key, requested) << "the application's key";
    }
    const uint64_t base = mode == FI_MR_BASIC ? reinterpret_cast<uint64_t>(memory.data()) : 0;
    for (size_t size : {size_t{24}, size_t{60000}}) {
        const std::vector<uint8_t> data = pattern(size, size);
        ASSERT_EQ(post(false, const_cast<uint8_t*>(data.data()), size, base + 40, key, nullptr), 0);
        fi_cq_data_entry entry{};
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), memory.begin() + 40));
        std::vector<uint8_t> back(size);
        ASSERT_EQ(post(true, back.data(), size, base + 40, key, nullptr), 0);
        ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
        EXPECT_EQ(back, data);
    }
}

TEST_P(Rma, BasicModeOfOlderApis) { older_api(FI_MR_BASIC); }
TEST_P(Rma, ScalableModeOfOlderApis) { older_api(FI_MR_SCALABLE); }

// The target endpoint closes while a large read is being pulled from it:
// the read fails, it does not hang.
TEST_P(Rma, ATargetThatGoesAwayFailsTheRead) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(size_t{8} << 20, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ, &key, &base));
    std::vector<uint8_t> back(memory.size());
    int context = 0;
    ASSERT_EQ(post(true, back.data(), back.size(), base, key, &context), 0);
    // Let the request reach the target, then close it.
    for (int i = 0; i < 20; ++i) {
        fi_cq_read(b_.tx.get(), nullptr, 0);
        fi_cq_read(a_.tx.get(), nullptr, 0);
    }
    ASSERT_EQ(b_.ep.close(), 0);
    fi_cq_data_entry entry{};
    const auto start = Clock::now();
    const int ret = wait(a_.tx.get(), &entry);
    // Done before the target closed, or failed since.
    if (ret != 0) {
        EXPECT_TRUE(ret == -FI_ETIMEDOUT || ret == -FI_ECONNABORTED || ret == -FI_ECONNRESET) << fi_strerror(-ret);
        EXPECT_LT(Clock::now() - start, 15s);
    }
}

// The target's application is away from the library (a rank computing):
// its provider still serves reads and writes of its memory, each one as
// soon as it comes rather than at the provider's next look.
TEST_P(Rma, ATargetAwayFromTheLibraryServesReadsAndWrites) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(size_t{1} << 20, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    const std::vector<uint8_t> data = pattern(77, memory.size());
    std::copy(data.begin(), data.end(), memory.begin());
    // From here on b makes no call, as a rank computing: only a's queue is
    // read, and a starts once b has been away for a while.
    std::this_thread::sleep_for(300ms);
    auto complete = [this](ssize_t posted) {
        if (posted != 0) return static_cast<int>(posted);
        fi_cq_data_entry entry{};
        return xen2mx::test::read_one(a_.tx.get(), &entry, nullptr, {a_.tx.get()}, kPatience);
    };
    std::vector<uint8_t> back(memory.size(), 0);
    for (size_t size : {size_t{8}, size_t{64} << 10, memory.size()}) {
        SCOPED_TRACE("size " + std::to_string(size));
        const auto start = Clock::now();
        ASSERT_EQ(complete(fi_read(a_.ep.get(), back.data(), size, nullptr, a_.peer, base, key, nullptr)), 0);
        EXPECT_TRUE(std::equal(back.begin(), back.begin() + static_cast<ptrdiff_t>(size), data.begin()));
        const std::vector<uint8_t> update = pattern(size, size);
        ASSERT_EQ(complete(fi_write(a_.ep.get(), update.data(), size, nullptr, a_.peer, base, key, nullptr)), 0);
        EXPECT_TRUE(std::equal(update.begin(), update.end(), memory.begin()));
        std::copy(data.begin(), data.begin() + static_cast<ptrdiff_t>(size), memory.begin());
        // What it took, for whoever reads the log (no test of time here).
        std::printf("  read and write of %zu bytes: %lld ms\n", size,
                    static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
    }
}

TEST_P(Rma, AtomicsOfEveryTypeAndOperation) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(256, kUntouched);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    ASSERT_NO_FATAL_FAILURE(every_operation<int8_t>(FI_INT8, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<uint8_t>(FI_UINT8, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<int16_t>(FI_INT16, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<uint16_t>(FI_UINT16, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<int32_t>(FI_INT32, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<uint32_t>(FI_UINT32, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<int64_t>(FI_INT64, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<uint64_t>(FI_UINT64, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<float>(FI_FLOAT, memory, base, key));
    ASSERT_NO_FATAL_FAILURE(every_operation<double>(FI_DOUBLE, memory, base, key));
    // Nothing outside the 5 elements moved.
    EXPECT_TRUE(std::all_of(memory.begin(), memory.begin() + 8, [](uint8_t b) { return b == kUntouched; }));
    EXPECT_TRUE(std::all_of(memory.begin() + 48, memory.end(), [](uint8_t b) { return b == kUntouched; }));
}

// The vector and message forms gather operands and scatter results across
// pieces, as many elements in all as the remote range.
TEST_P(Rma, AtomicVectorAndMessageForms) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> memory(256, 0);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    uint32_t* target = reinterpret_cast<uint32_t*>(memory.data());
    for (uint32_t i = 0; i < 6; ++i) target[i] = 10 * i;
    uint32_t add_a[2] = {1, 2}, add_b[4] = {3, 4, 5, 6};
    fi_ioc operands[2] = {{add_a, 2}, {add_b, 4}};
    uint32_t before_a[3], before_b[3];
    fi_ioc results[2] = {{before_a, 3}, {before_b, 3}};
    int context = 0;
    ASSERT_EQ(fi_fetch_atomicv(a_.ep.get(), operands, nullptr, 2, results, nullptr, 2, a_.peer, base, key, FI_UINT32,
                               FI_SUM, &context),
              0);
    fi_cq_data_entry entry{};
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_EQ(entry.flags, uint64_t{FI_ATOMIC | FI_READ});
    const uint32_t fetched[6] = {before_a[0], before_a[1], before_a[2], before_b[0], before_b[1], before_b[2]};
    for (uint32_t i = 0; i < 6; ++i) {
        EXPECT_EQ(fetched[i], 10 * i) << i;
        EXPECT_EQ(target[i], 10 * i + i + 1) << i;
    }

    // fi_compare_atomicmsg: swap where the compare value matches.
    uint32_t swap_in[2] = {100, 200}, compare[2] = {target[0], 12345}, old[2] = {0, 0};
    fi_ioc swap_ioc{swap_in, 2}, compare_ioc{compare, 2}, old_ioc{old, 2};
    fi_rma_ioc remote{base, 2, key};
    fi_msg_atomic msg{};
    msg.msg_iov = &swap_ioc;
    msg.iov_count = 1;
    msg.addr = a_.peer;
    msg.rma_iov = &remote;
    msg.rma_iov_count = 1;
    msg.datatype = FI_UINT32;
    msg.op = FI_CSWAP;
    msg.context = &context;
    const uint32_t was[2] = {target[0], target[1]};
    ASSERT_EQ(fi_compare_atomicmsg(a_.ep.get(), &msg, &compare_ioc, nullptr, 1, &old_ioc, nullptr, 1, 0), 0);
    ASSERT_EQ(wait(a_.tx.get(), &entry), 0);
    EXPECT_EQ(old[0], was[0]);
    EXPECT_EQ(old[1], was[1]);
    EXPECT_EQ(target[0], 100u) << "compare matched: swapped";
    EXPECT_EQ(target[1], was[1]) << "compare differed: left alone";

    // Operands and remote range that disagree are refused before anything moves.
    fi_rma_ioc short_remote{base, 1, key};
    msg.rma_iov = &short_remote;
    EXPECT_EQ(fi_compare_atomicmsg(a_.ep.get(), &msg, &compare_ioc, nullptr, 1, &old_ioc, nullptr, 1, 0),
              -FI_EINVAL);
}

// Two initiators add to one counter: every addition lands once, and the
// values fetched are all different (each saw the one before it).
TEST_P(Rma, ConcurrentFetchAndAddsAreEachAppliedOnce) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    Side c;
    ASSERT_NO_FATAL_FAILURE(open_side(c));
    ASSERT_EQ(fi_av_insert(c.av.get(), b_.name.data(), 1, &c.peer, 0, nullptr), 1);
    alignas(8) std::vector<uint8_t> memory(64, 0);
    uint64_t key = 0, base = 0;
    Handle<fid_mr> mr;
    ASSERT_TRUE(expose(mr, memory, FI_REMOTE_READ | FI_REMOTE_WRITE, &key, &base));
    constexpr size_t kEach = 400;
    const uint64_t one = 1;
    std::vector<uint64_t> seen_a(kEach), seen_c(kEach);
    size_t posted_a = 0, posted_c = 0;
    const auto deadline = Clock::now() + kPatience;
    while ((posted_a < kEach || posted_c < kEach) && Clock::now() < deadline) {
        if (posted_a < kEach && fi_fetch_atomic(a_.ep.get(), &one, 1, nullptr, &seen_a[posted_a], nullptr, a_.peer,
                                                base, key, FI_UINT64, FI_SUM, nullptr) == 0)
            ++posted_a;
        if (posted_c < kEach && fi_fetch_atomic(c.ep.get(), &one, 1, nullptr, &seen_c[posted_c], nullptr, c.peer,
                                                base, key, FI_UINT64, FI_SUM, nullptr) == 0)
            ++posted_c;
        fi_cq_read(b_.rx.get(), nullptr, 0);
        fi_cq_read(c.tx.get(), nullptr, 0);
        fi_cq_read(a_.tx.get(), nullptr, 0);
    }
    ASSERT_EQ(posted_a + posted_c, 2 * kEach);
    const auto done = Clock::now() + kPatience;
    while ((fi_cntr_read(a_.read_cntr.get()) < kEach || fi_cntr_read(c.read_cntr.get()) < kEach) &&
           Clock::now() < done) {
        fi_cq_read(b_.rx.get(), nullptr, 0);
        fi_cq_read(c.tx.get(), nullptr, 0);
        fi_cq_read(a_.tx.get(), nullptr, 0);
    }
    EXPECT_EQ(fi_cntr_read(a_.read_cntr.get()), kEach);
    EXPECT_EQ(fi_cntr_read(c.read_cntr.get()), kEach);
    uint64_t total = 0;
    std::memcpy(&total, memory.data(), sizeof total);
    EXPECT_EQ(total, 2 * kEach);
    std::vector<uint64_t> all(seen_a);
    all.insert(all.end(), seen_c.begin(), seen_c.end());
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i) << "a value fetched twice or never";
}

TEST_P(Rma, BadAtomicsAreRefusedAndTouchNothing) {
    ASSERT_NO_FATAL_FAILURE(open_pair());
    std::vector<uint8_t> both(64, kUntouched), read_only(64, kUntouched), write_only(64, kUntouched);
    uint64_t both_key = 0, both_base = 0, ro_key = 0, ro_base = 0, wo_key = 0, wo_base = 0;
    Handle<fid_mr> both_mr, ro_mr, wo_mr;
    ASSERT_TRUE(expose(both_mr, both, FI_REMOTE_READ | FI_REMOTE_WRITE, &both_key, &both_base));
    ASSERT_TRUE(expose(ro_mr, read_only, FI_REMOTE_READ, &ro_key, &ro_base));
    ASSERT_TRUE(expose(wo_mr, write_only, FI_REMOTE_WRITE, &wo_key, &wo_base));
    const uint64_t operand = 5;
    uint64_t fetched = 0;
    struct Case {
        const char* what;
        bool fetch;
        fi_op op;
        uint64_t addr;
        uint64_t key;
        int expected;
    };
    const Case cases[] = {
        {"unknown key", false, FI_SUM, both_base, both_key + 77, -FI_EACCES},
        {"sum into a read-only region", false, FI_SUM, ro_base, ro_key, -FI_EACCES},
        {"fetch-and-add on a write-only region", true, FI_SUM, wo_base, wo_key, -FI_EACCES},
        {"atomic read of a write-only region", true, FI_ATOMIC_READ, wo_base, wo_key, -FI_EACCES},
        {"misaligned", false, FI_SUM, both_base + 4, both_key, -FI_EINVAL},
        {"past the end", false, FI_SUM, both_base + 60, both_key, -FI_EINVAL},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        int context = 0;
        const ssize_t ret = c.fetch ? fi_fetch_atomic(a_.ep.get(), &operand, 1, nullptr, &fetched, nullptr, a_.peer,
                                                      c.addr, c.key, FI_UINT64, c.op, &context)
                                    : fi_atomic(a_.ep.get(), &operand, 1, nullptr, a_.peer, c.addr, c.key, FI_UINT64,
                                                c.op, &context);
        ASSERT_EQ(ret, 0);
        fi_cq_data_entry entry{};
        fi_cq_err_entry error{};
        ASSERT_EQ(wait(a_.tx.get(), &entry, &error), c.expected);
        EXPECT_EQ(error.op_context, &context);
        EXPECT_TRUE(error.flags & FI_ATOMIC);
        EXPECT_TRUE(untouched(both) && untouched(read_only) && untouched(write_only));
        EXPECT_EQ(fetched, 0u) << "a refused fetch wrote into our buffer";
    }
}

INSTANTIATE_TEST_SUITE_P(Links, Rma, testing::Values("udp", "shm", "auto", "kmod"),
                         [](const testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
