#include "link/socket_buffers.hpp"

#include <sys/socket.h>

#include <climits>

namespace xen2mx::link {

namespace {

// Returns the size the kernel reports for the buffer after the request.
size_t enlarge(int fd, int option, int forced, int bytes) {
    // The forcing variant needs CAP_NET_ADMIN; without it the plain one is
    // capped by the system's maximum, still better than the default.
    if (setsockopt(fd, SOL_SOCKET, forced, &bytes, sizeof bytes) != 0)
        setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
    int got = 0;
    socklen_t length = sizeof got;
    if (getsockopt(fd, SOL_SOCKET, option, &got, &length) != 0 || got < 0) return 0;
    return static_cast<size_t>(got);
}

}  // namespace

SocketBuffers enlarge_socket_buffers(int fd, size_t bytes) {
    const int ask = bytes > INT_MAX / 2 ? INT_MAX / 2 : static_cast<int>(bytes);
    SocketBuffers buffers;
    buffers.asked = static_cast<size_t>(ask);
    buffers.receive = enlarge(fd, SO_RCVBUF, SO_RCVBUFFORCE, ask);
    buffers.send = enlarge(fd, SO_SNDBUF, SO_SNDBUFFORCE, ask);
    // The kernel reports twice what it granted.
    buffers.receive_capped = buffers.receive / 2 < buffers.asked;
    buffers.send_capped = buffers.send / 2 < buffers.asked;
    return buffers;
}

}  // namespace xen2mx::link
