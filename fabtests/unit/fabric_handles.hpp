// Owning handles for libfabric objects, shared by the tests that drive the
// provider through the real libfabric.
#pragma once

#include <memory>

#include <rdma/fabric.h>

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

}  // namespace xen2mx::test
