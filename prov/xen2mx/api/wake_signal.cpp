#include "wake_signal.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include <rdma/fi_errno.h>

namespace xen2mx::api {

WakeSignal::~WakeSignal() {
    if (fd_ >= 0) ::close(fd_);
}

int WakeSignal::open() {
    fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd_ >= 0 ? 0 : -errno;
}

void WakeSignal::raise() {
    const uint64_t one = 1;
    // A full counter already reads as raised, so a failed write loses nothing.
    [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
}

void WakeSignal::clear() {
    uint64_t value;
    [[maybe_unused]] ssize_t n = ::read(fd_, &value, sizeof value);
}

bool WakeSignal::wait(int timeout_ms) const {
    pollfd pfd{fd_, POLLIN, 0};
    for (;;) {
        const int n = ::poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

Deadline::Deadline(int timeout_ms)
    : unlimited_(timeout_ms < 0),
      end_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms)) {}

int Deadline::remaining_ms() const {
    if (unlimited_) return -1;
    const auto left = end_ - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return 0;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

}  // namespace xen2mx::api
