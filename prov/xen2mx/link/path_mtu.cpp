#include "link/path_mtu.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "link/unique_fd.hpp"

namespace xen2mx::link {

int path_mtu(uint32_t ipv4) {
    UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!probe) return -errno;
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_addr.s_addr = htonl(ipv4);
    peer.sin_port = htons(9);  // any port: connect() only chooses the route
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0) return -errno;
    int mtu = 0;
    socklen_t length = sizeof mtu;
    if (::getsockopt(probe.get(), IPPROTO_IP, IP_MTU, &mtu, &length) != 0) return -errno;
    return mtu > 0 ? mtu : -EINVAL;
}

}  // namespace xen2mx::link
