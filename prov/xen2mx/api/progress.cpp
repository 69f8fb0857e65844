#include "progress.hpp"

#include <poll.h>

#include <algorithm>
#include <chrono>

#include "ep.hpp"

namespace xen2mx::api {

namespace {
// The longest a waiter sleeps without looking at the protocol timers again.
constexpr int kMaxSleepMs = 100;
}

void ProgressList::add(Endpoint* ep) {
    std::lock_guard guard(lock_);
    if (std::find(endpoints_.begin(), endpoints_.end(), ep) == endpoints_.end()) endpoints_.push_back(ep);
}

void ProgressList::remove(Endpoint* ep) {
    std::lock_guard guard(lock_);
    endpoints_.erase(std::remove(endpoints_.begin(), endpoints_.end(), ep), endpoints_.end());
}

bool ProgressList::empty() {
    std::lock_guard guard(lock_);
    return endpoints_.empty();
}

void ProgressList::progress() {
    std::lock_guard guard(lock_);
    for (Endpoint* ep : endpoints_) {
        // Endpoints not yet enabled have nothing to do; an auto-progress
        // thread already does the work.
        if (ep->enabled && !ep->progress_thread.joinable()) ep->progress();
    }
}

void ProgressList::wait(int extra_fd, int timeout_ms) {
    pollfd fds[17];
    nfds_t count = 0;
    int sleep_ms = timeout_ms < 0 ? kMaxSleepMs : std::min(timeout_ms, kMaxSleepMs);
    {
        std::lock_guard guard(lock_);
        const auto now = engine::Clock::now();
        for (Endpoint* ep : endpoints_) {
            if (count == 16) break;
            std::lock_guard ep_guard(ep->lock);
            if (!ep->engine) continue;
            if (!ep->engine->prepare_wait()) return;  // frames wait already
            fds[count++] = pollfd{ep->engine->wait_fd(), POLLIN, 0};
            const auto next = ep->engine->next_timer();
            if (next != engine::TimePoint::max()) {
                const auto due = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
                sleep_ms = std::min<int>(sleep_ms, static_cast<int>(std::max<long long>(due, 0)));
            }
        }
    }
    if (extra_fd >= 0) fds[count++] = pollfd{extra_fd, POLLIN, 0};
    if (count == 0) return;
    ::poll(fds, count, sleep_ms);
}

}  // namespace xen2mx::api
