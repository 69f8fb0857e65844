// The wait object of a CQ, counter or EQ: what FI_GETWAIT hands out, what a
// wait set polls, and how a waiter sleeps (FI_WAIT_YIELD: it yields instead).
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_eq.h>

#include "wake_signal.hpp"

namespace xen2mx::api {

struct Fabric;
struct WaitSet;

class WaitObject {
public:
    // Sets up the wait object an attribute asks for; `owner` is the object
    // that joins the wait set with FI_WAIT_SET. Returns 0 or a negative FI_E*
    // code (unsupported kinds give -FI_ENOSYS).
    int open(const fi_wait_obj& requested, fid_wait* wait_set, Fabric* fabric, fid* owner);
    // Leaves the wait set, if any.
    void close(fid* owner);

    // FI_GETWAIT and FI_GETWAITOBJ.
    int control(int command, void* arg) const;

    void raise() {
        if (signal_.is_open()) signal_.raise();
    }
    void clear() {
        if (signal_.is_open()) signal_.clear();
    }
    // The descriptor that becomes readable when raised, or -1.
    int fd() const { return signal_.is_open() ? signal_.fd() : -1; }
    bool yields() const { return kind_ == FI_WAIT_YIELD; }

private:
    fi_wait_obj kind_ = FI_WAIT_NONE;
    WaitSet* set_ = nullptr;
    WakeSignal signal_;
};

}  // namespace xen2mx::api
