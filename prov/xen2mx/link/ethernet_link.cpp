#include "link/ethernet_link.hpp"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "link/address.hpp"
#include "link/unique_fd.hpp"
#include "wire/mxoe.hpp"

namespace xen2mx::link {

namespace {

constexpr size_t kEthHeader = 14;

// Ring sizes: the receive ring absorbs a burst of pull replies while the
// engine is busy elsewhere (about 2,500 standard or 450 jumbo frames); the
// transmit ring only has to cover the frames the kernel has not sent yet.
constexpr size_t kRxRingBytes = size_t{4} << 20;
constexpr size_t kTxRingBytes = size_t{1} << 20;
// Blocks of several frames each: a frame never spans two blocks, so large
// blocks waste less at their end than page-sized ones would.
constexpr size_t kBlockBytes = size_t{64} << 10;

// Where TPACKET_V2 puts things in a ring frame. The kernel places a received
// frame's MAC header so that its network header lands aligned after the
// tpacket2_hdr and the sockaddr_ll (reserving at least 16 bytes for the MAC
// header); a frame to send starts right after the aligned tpacket2_hdr.
constexpr size_t kSockaddrOffset = TPACKET_ALIGN(sizeof(tpacket2_hdr));
constexpr size_t kRxDataOffset = TPACKET_ALIGN(TPACKET2_HDRLEN + 16);
constexpr size_t kTxDataOffset = TPACKET2_HDRLEN - sizeof(sockaddr_ll);

// The kernel and this process hand ring frames to each other through
// tp_status: the frame's contents must be complete before the status says so,
// and read only after the status was seen.
uint32_t load_status(tpacket2_hdr* frame) {
    return std::atomic_ref<uint32_t>(frame->tp_status).load(std::memory_order_acquire);
}
void store_status(tpacket2_hdr* frame, uint32_t status) {
    std::atomic_ref<uint32_t>(frame->tp_status).store(status, std::memory_order_release);
}

uint64_t mac_at(const uint8_t* bytes) {
    uint64_t mac = 0;
    for (int i = 0; i < 6; ++i) mac = (mac << 8) | bytes[i];
    return mac;
}

struct Rings {
    Mapping mapping;
    std::vector<uint8_t*> rx;  // every frame of each ring, in ring order
    std::vector<uint8_t*> tx;
};

class EthernetLink final : public Link {
public:
    EthernetLink(UniqueFd socket, UniqueFd claim, Rings rings, uint64_t mac, uint8_t endpoint,
                 size_t max_frame)
        : claim_(std::move(claim)), socket_(std::move(socket)), rings_(std::move(rings)), mac_(mac),
          endpoint_(endpoint), max_frame_(max_frame) {}

    std::string_view kind() const override { return "ethernet"; }
    uint64_t board() const override { return mac_; }
    uint8_t endpoint_id() const override { return endpoint_; }
    Route local_route() const override { return Route{mac_, 0, 0}; }
    size_t max_frame() const override { return max_frame_; }
    int wait_fd() const override { return socket_.get(); }

    int send(const Route&, std::span<const iovec> parts) override {
        size_t length = 0;
        for (const iovec& part : parts) length += part.iov_len;
        if (length > max_frame_) return -EMSGSIZE;
        if (length < kEthHeader) return -EINVAL;
        uint8_t* slot = rings_.tx[tx_next_];
        auto* header = reinterpret_cast<tpacket2_hdr*>(slot);
        if (load_status(header) != TP_STATUS_AVAILABLE) {
            // The frames ahead may only be waiting for a kick that failed.
            if (kick_pending_) kick();
            return -EAGAIN;
        }
        uint8_t* data = slot + kTxDataOffset;
        size_t at = 0;
        for (const iovec& part : parts) {
            if (part.iov_len) std::memcpy(data + at, part.iov_base, part.iov_len);
            at += part.iov_len;
        }
        // Short frames are padded here rather than left to the driver: virtual
        // devices such as veth pass them on as they are, and a peer may rely
        // on the Ethernet minimum.
        if (at < wire::kEthZlen) {
            std::memset(data + at, 0, wire::kEthZlen - at);
            at = wire::kEthZlen;
        }
        header->tp_len = static_cast<uint32_t>(at);
        store_status(header, TP_STATUS_SEND_REQUEST);
        tx_next_ = tx_next_ + 1 == rings_.tx.size() ? 0 : tx_next_ + 1;
        kick();
        return 0;
    }

    int poll(FrameSink& sink, int budget) override {
        if (kick_pending_) kick();
        int handled = 0;
        // Skipped frames do not count against the budget, so bound the walk
        // by the ring: a call never runs for longer than one lap.
        for (size_t seen = 0; handled < budget && seen < rings_.rx.size(); ++seen) {
            uint8_t* slot = rings_.rx[rx_next_];
            auto* header = reinterpret_cast<tpacket2_hdr*>(slot);
            if (!(load_status(header) & TP_STATUS_USER)) break;
            const auto* from = reinterpret_cast<const sockaddr_ll*>(slot + kSockaddrOffset);
            // Our own frames (and those of other links on this interface) come
            // back as PACKET_OUTGOING unless the kernel already filtered them;
            // OTHERHOST frames reach us only in promiscuous mode and are not
            // ours. A truncated frame means the MTU grew after the rings were
            // sized: dropping it is what a NIC would do.
            const bool wanted = from->sll_pkttype != PACKET_OUTGOING &&
                                from->sll_pkttype != PACKET_OTHERHOST &&
                                header->tp_snaplen == header->tp_len && header->tp_snaplen >= kEthHeader;
            if (wanted) {
                const uint8_t* frame = slot + header->tp_mac;
                sink.on_frame(std::span<const uint8_t>(frame, header->tp_snaplen),
                              Route{mac_at(frame + 6), 0, 0});
                ++handled;
            }
            store_status(header, TP_STATUS_KERNEL);
            rx_next_ = rx_next_ + 1 == rings_.rx.size() ? 0 : rx_next_ + 1;
        }
        return handled;
    }

private:
    // Asks the kernel to send every frame marked SEND_REQUEST. Once a frame is
    // in the ring it is the link's to deliver: when the kick fails (device
    // queue full, interface down), the frame stays queued and the next send or
    // poll kicks again, as a NIC would retry; lost frames are the engine's
    // business, like any frame lost on the wire.
    void kick() {
        for (;;) {
            if (::send(socket_.get(), nullptr, 0, MSG_DONTWAIT) >= 0) {
                kick_pending_ = false;
                return;
            }
            if (errno == EINTR) continue;
            kick_pending_ = true;
            return;
        }
    }

    // Destroyed in reverse: the rings and the socket go before the endpoint id
    // is given up, so a new holder of the id never overlaps with this link.
    UniqueFd claim_;
    UniqueFd socket_;
    Rings rings_;
    uint64_t mac_;
    uint8_t endpoint_;
    size_t max_frame_;
    size_t rx_next_ = 0;
    size_t tx_next_ = 0;
    bool kick_pending_ = false;
};

struct Interface {
    int index = 0;
    uint64_t mac = 0;
    size_t mtu = 0;
};

int query_interface(int fd, const std::string& name, Interface* out) {
    ifreq request{};
    std::memcpy(request.ifr_name, name.c_str(), name.size() + 1);
    if (::ioctl(fd, SIOCGIFINDEX, &request) != 0) return -errno;
    out->index = request.ifr_ifindex;
    if (::ioctl(fd, SIOCGIFHWADDR, &request) != 0) return -errno;
    if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) return -EINVAL;
    out->mac = mac_at(reinterpret_cast<const uint8_t*>(request.ifr_hwaddr.sa_data));
    if (::ioctl(fd, SIOCGIFMTU, &request) != 0) return -errno;
    if (request.ifr_mtu <= 0) return -EINVAL;
    out->mtu = static_cast<size_t>(request.ifr_mtu);
    if (::ioctl(fd, SIOCGIFFLAGS, &request) != 0) return -errno;
    if (!(request.ifr_flags & IFF_UP)) return -ENETDOWN;
    return 0;
}

// Binds the abstract name that stands for the endpoint id; the bound socket
// is the claim, and its closing (at exit, or by the kernel at death) the
// release. Abstract names live in the network namespace, as interface
// indexes do.
int claim_endpoint(int ifindex, int endpoint, UniqueFd* claim) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return -errno;
    sockaddr_un name{};
    name.sun_family = AF_UNIX;
    const int length =
        std::snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "xen2mx/%d/%d", ifindex, endpoint);
    const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + static_cast<size_t>(length));
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&name), size) != 0) return -errno;
    *claim = std::move(fd);
    return 0;
}

int claim_any_endpoint(int ifindex, int wanted, UniqueFd* claim, uint8_t* endpoint) {
    const int first = wanted < 0 ? 0 : wanted;
    const int last = wanted < 0 ? int{kMaxEndpointId} : wanted;
    for (int id = first; id <= last; ++id) {
        const int ret = claim_endpoint(ifindex, id, claim);
        if (ret == 0) {
            *endpoint = static_cast<uint8_t>(id);
            return 0;
        }
        if (ret != -EADDRINUSE) return ret;
    }
    return -EADDRINUSE;
}

tpacket_req ring_request(size_t frame_bytes, size_t ring_bytes, size_t page) {
    const size_t frame = TPACKET_ALIGN(frame_bytes);
    const size_t block = std::max(kBlockBytes, (frame + page - 1) / page * page);
    const size_t blocks = std::max<size_t>(1, ring_bytes / block);
    tpacket_req request{};
    request.tp_block_size = static_cast<unsigned>(block);
    request.tp_block_nr = static_cast<unsigned>(blocks);
    request.tp_frame_size = static_cast<unsigned>(frame);
    request.tp_frame_nr = static_cast<unsigned>(block / frame * blocks);
    return request;
}

void list_frames(uint8_t* base, const tpacket_req& request, std::vector<uint8_t*>* frames) {
    const size_t per_block = request.tp_block_size / request.tp_frame_size;
    frames->reserve(request.tp_frame_nr);
    for (size_t i = 0; i < request.tp_frame_nr; ++i)
        frames->push_back(base + i / per_block * request.tp_block_size + i % per_block * request.tp_frame_size);
}

int set_option(int fd, int option, int value) {
    return ::setsockopt(fd, SOL_PACKET, option, &value, sizeof value) == 0 ? 0 : -errno;
}

int map_rings(int fd, size_t max_frame, Rings* rings) {
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    int ret = set_option(fd, PACKET_VERSION, TPACKET_V2);
    if (ret) return ret;
    // Without PACKET_LOSS a frame the kernel refuses would stay at the head of
    // the transmit ring and block every frame behind it.
    if ((ret = set_option(fd, PACKET_LOSS, 1))) return ret;
    const tpacket_req rx = ring_request(kRxDataOffset + max_frame, kRxRingBytes, page);
    const tpacket_req tx = ring_request(kTxDataOffset + std::max(max_frame, wire::kEthZlen), kTxRingBytes, page);
    if (::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) != 0) return -errno;
    if (::setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) != 0) return -errno;
    const size_t rx_bytes = size_t{rx.tp_block_size} * rx.tp_block_nr;
    const size_t tx_bytes = size_t{tx.tp_block_size} * tx.tp_block_nr;
    // One mapping holds both rings, receive ring first.
    void* base = ::mmap(nullptr, rx_bytes + tx_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return -errno;
    rings->mapping = Mapping(base, rx_bytes + tx_bytes);
    list_frames(rings->mapping.base(), rx, &rings->rx);
    list_frames(rings->mapping.base() + rx_bytes, tx, &rings->tx);
    return 0;
}

}  // namespace

int open_ethernet_link(const EthernetLinkConfig& config, std::unique_ptr<Link>* link) {
    if (config.endpoint_id < -1 || config.endpoint_id > int{kMaxEndpointId}) return -EINVAL;
    if (config.iface.empty()) return -EINVAL;
    if (config.iface.size() >= IFNAMSIZ) return -ENODEV;  // no interface can have that name
    // Protocol 0 until bind(): the socket takes no frame before it is tied to
    // the interface, so nothing from another interface lands in the ring.
    UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return -errno;
    Interface iface;
    int ret = query_interface(fd.get(), config.iface, &iface);
    if (ret) return ret;
    UniqueFd claim;
    uint8_t endpoint = 0;
    if ((ret = claim_any_endpoint(iface.index, config.endpoint_id, &claim, &endpoint))) return ret;

    const size_t max_frame = iface.mtu + kEthHeader;
    Rings rings;
    if ((ret = map_rings(fd.get(), max_frame, &rings))) return ret;
    // Both are optimisations the kernel may lack: skipping the qdisc saves a
    // queue and a lock per frame; ignoring outgoing frames saves the clone the
    // kernel would make of every frame another socket sends on the interface.
    set_option(fd.get(), PACKET_QDISC_BYPASS, 1);
    set_option(fd.get(), PACKET_IGNORE_OUTGOING, 1);

    sockaddr_ll local{};
    local.sll_family = AF_PACKET;
    local.sll_protocol = htons(wire::kEthertype);
    local.sll_ifindex = iface.index;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) return -errno;

    *link = std::make_unique<EthernetLink>(std::move(fd), std::move(claim), std::move(rings), iface.mac,
                                           endpoint, max_frame);
    return 0;
}

}  // namespace xen2mx::link
