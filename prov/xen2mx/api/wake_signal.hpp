// A file descriptor that becomes readable when an object has something for a
// waiter: the wait object behind CQs, counters and EQs (FI_WAIT_FD hands it
// out), and what a wait set polls.
#pragma once

#include <chrono>

namespace xen2mx::api {

class WakeSignal {
public:
    WakeSignal() = default;
    ~WakeSignal();
    WakeSignal(const WakeSignal&) = delete;
    WakeSignal& operator=(const WakeSignal&) = delete;

    // Creates the descriptor. Returns 0 or a negative FI_E* code.
    int open();
    bool is_open() const { return fd_ >= 0; }
    int fd() const { return fd_; }

    void raise();
    void clear();

    // Sleeps until raised or until timeout_ms passes (negative: no limit).
    // Returns true when raised. Does not clear.
    bool wait(int timeout_ms) const;

private:
    int fd_ = -1;
};

// A deadline for the timeouts of sread, fi_cntr_wait and fi_wait, in
// milliseconds as libfabric counts them (negative: none).
class Deadline {
public:
    explicit Deadline(int timeout_ms);
    // What is left, in milliseconds, rounded up; -1 without a deadline.
    int remaining_ms() const;
    bool expired() const { return remaining_ms() == 0; }

private:
    bool unlimited_;
    std::chrono::steady_clock::time_point end_;
};

}  // namespace xen2mx::api
