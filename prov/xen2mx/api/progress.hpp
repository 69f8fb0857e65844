// Manual progress: the endpoints bound to a CQ or counter make progress when
// the application reads or waits on it, and a waiter sleeps on the links'
// descriptors until frames arrive or a protocol timer is due.
#pragma once

#include <mutex>
#include <vector>

namespace xen2mx::api {

struct Endpoint;

class ProgressList {
public:
    void add(Endpoint* ep);
    void remove(Endpoint* ep);
    bool empty();

    // Lets every endpoint handle its frames and timers.
    void progress();

    // Sleeps until a link has frames, a timer is due, extra_fd (when >= 0) is
    // readable, or timeout_ms passes (negative: no limit).
    void wait(int extra_fd, int timeout_ms);

private:
    std::mutex lock_;
    std::vector<Endpoint*> endpoints_;
};

}  // namespace xen2mx::api
