// Owning handles for libfabric objects, shared by the tests and the tools
// (fabtests/tools) that drive the provider through the real libfabric.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include <rdma/fabric.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>

namespace xen2mx::test {

struct InfoDeleter {
    void operator()(fi_info* info) const { fi_freeinfo(info); }
};
using InfoPtr = std::unique_ptr<fi_info, InfoDeleter>;

// Owns one libfabric object and closes it when the scope ends. Objects are
// declared parent first, so that scope exit closes children first.
template <typename Object>
class Handle {
public:
    Handle() = default;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() { reset(); }

    Object** out() {
        reset();
        return &object_;
    }
    Object* get() const { return object_; }
    Object* operator->() const { return object_; }
    explicit operator bool() const { return object_ != nullptr; }
    fid* id() const { return &object_->fid; }

    // fi_close's answer; the handle lets go only when the close succeeded.
    int close() {
        if (!object_) return 0;
        const int ret = fi_close(&object_->fid);
        if (ret == 0) object_ = nullptr;
        return ret;
    }

    void reset() {
        if (object_) fi_close(&object_->fid);
        object_ = nullptr;
    }

private:
    Object* object_ = nullptr;
};

// Test data: byte i of buffer `seed`, different for neighbouring seeds and
// across 256-byte blocks, so that a misplaced or stale byte shows.
inline std::vector<uint8_t> pattern(size_t seed, size_t length) {
    std::vector<uint8_t> data(length);
    for (size_t i = 0; i < length; ++i) data[i] = static_cast<uint8_t>((seed * 131 + i * 7 + (i >> 8)) & 0xff);
    return data;
}

// Reads one entry (0), or the error that came instead (its negated code,
// with the entry in *error when given), from cq; reads `others` meanwhile,
// as an application would, so that every endpoint makes progress.
template <typename Entry>
int read_one(fid_cq* cq, Entry* entry, fi_cq_err_entry* error, std::initializer_list<fid_cq*> others,
             std::chrono::steady_clock::duration patience, fi_addr_t* source = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
        for (fid_cq* other : others) {
            if (other && other != cq) fi_cq_read(other, nullptr, 0);
        }
        const ssize_t n = source ? fi_cq_readfrom(cq, entry, 1, source) : fi_cq_read(cq, entry, 1);
        if (n == 1) return 0;
        if (n == -FI_EAVAIL) {
            fi_cq_err_entry local{};
            fi_cq_err_entry* e = error ? error : &local;
            if (fi_cq_readerr(cq, e, 0) != 1) return -FI_EOTHER;
            return -e->err;
        }
        if (n != -FI_EAGAIN) return static_cast<int>(n);
    }
    return -FI_ETIMEDOUT;
}

}  // namespace xen2mx::test
