// Socket buffer sizes: what an endpoint asks for, and what the system gives.
#pragma once

#include <cstddef>

namespace xen2mx::link {

// Bytes of datagrams a socket holds, as the kernel accounts them: it doubles
// what it is asked for, to leave room for its own bookkeeping, and reports
// the doubled value. A buffer is capped when the system gave less than asked
// (an unprivileged process gets at most net.core.rmem_max / wmem_max).
struct SocketBuffers {
    size_t asked = 0;
    size_t receive = 0;
    size_t send = 0;
    bool receive_capped = false;
    bool send_capped = false;

    bool capped() const { return receive_capped || send_capped; }
    // Payload bytes the smaller buffer takes before dropping datagrams: half
    // of what the kernel reports, the other half being its overhead.
    size_t payload_room() const { return (receive < send ? receive : send) / 2; }
};

// Asks for `bytes` in both buffers of `fd`, beyond the system's maximum when
// the process may (CAP_NET_ADMIN), and reports what it got.
SocketBuffers enlarge_socket_buffers(int fd, size_t bytes);

}  // namespace xen2mx::link
