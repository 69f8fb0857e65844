// What every libfabric object of the provider shares: the embedded fid that
// the application holds, and the count of objects that depend on it.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

#include <rdma/fabric.h>

namespace xen2mx::api {

// Each object embeds its libfabric handle as its first member and has no
// virtual functions, so the handle's address is the object's address.
template <typename Object, typename Handle>
inline Object* object_of(Handle* handle) {
    static_assert(!std::is_polymorphic_v<Object>, "a vtable would come before the fid");
    return reinterpret_cast<Object*>(handle);
}

// Counts the children and bindings that keep an object from closing:
// fi_close on an object still in use returns -FI_EBUSY.
class Dependents {
public:
    void hold() { count_.fetch_add(1, std::memory_order_relaxed); }
    void release() { count_.fetch_sub(1, std::memory_order_acq_rel); }
    bool busy() const { return count_.load(std::memory_order_acquire) != 0; }
    int count() const { return count_.load(std::memory_order_acquire); }

private:
    std::atomic<int> count_{0};
};

// What the strerror calls return: text, copied into buf when one is given.
const char* provide_text(const char* text, char* buf, size_t len);

// The fi_ops slots that an object does not support.
int fid_no_bind(fid* f, fid* bfid, uint64_t flags);
int fid_no_control(fid* f, int command, void* arg);
int fid_no_ops_open(fid* f, const char* name, uint64_t flags, void** ops, void* context);
int fid_no_tostr(const fid* f, char* buf, size_t len);
int fid_no_ops_set(fid* f, const char* name, uint64_t flags, void* ops, void* context);

}  // namespace xen2mx::api
