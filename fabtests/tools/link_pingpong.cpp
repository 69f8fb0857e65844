// A ping-pong over one link, below the engine: the client sends MXoE-looking
// frames whose bytes depend on their sequence number and checks every byte of
// each echo; the server sends every frame back with the MACs swapped. Used by
// the functional tests to prove a link on real interfaces, and to time it.
//
//   link_pingpong --link ethernet --iface IF --role server|client|info
//                 [--peer-mac MAC] [--endpoint N]
//   link_pingpong --link udp --ip A.B.C.D --port-base N --role server|client|info
//                 [--peer-ip IP] [--peer-endpoint N] [--endpoint N]
//   common: --count N --size BYTES[,BYTES...] --timeout SECONDS
//
// --size is what follows the Ethernet header (so a frame is 14 + size bytes,
// size at least 8); a list makes frame i use size i modulo the list. The server prints READY
// once its link is open, and every role ends with a PASS or FAIL line (exit 0
// or 1). The info role opens the link, prints what it got and exits.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "link/address.hpp"
#include "link/ethernet_link.hpp"
#include "link/host_addresses.hpp"
#include "link/link.hpp"
#include "link/udp_link.hpp"
#include "wire/mxoe.hpp"

namespace {

using xen2mx::link::Link;
using xen2mx::link::Route;
using Clock = std::chrono::steady_clock;

constexpr size_t kEthHeader = 14;
// After the Ethernet header: the MXoE peer index (2 bytes), a RAW packet
// type, a pad byte and the sequence number (4 bytes, big-endian).
constexpr size_t kSeqOffset = 18;
constexpr size_t kMinSize = kSeqOffset + 4 - kEthHeader;
// Without an echo for this long the client sends the frame again: a frame sent
// before the server's ring existed is simply gone.
constexpr auto kResendAfter = std::chrono::milliseconds(500);

struct Options {
    std::string link;
    std::string iface;
    std::string ip = "127.0.0.1";
    int port_base = 30720;
    std::string role;
    std::string peer_mac;
    std::string peer_ip;
    int endpoint = -1;
    int peer_endpoint = 0;
    long count = 1000;
    std::vector<size_t> sizes{64};
    int timeout_s = 10;
};

__attribute__((format(printf, 1, 2))) int fail(const char* format, ...) {
    std::printf("FAIL ");
    va_list args;
    va_start(args, format);
    std::vprintf(format, args);
    va_end(args);
    std::printf("\n");
    return 1;
}

std::string mac_to_string(uint64_t mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", unsigned(mac >> 40) & 0xff,
                  unsigned(mac >> 32) & 0xff, unsigned(mac >> 24) & 0xff, unsigned(mac >> 16) & 0xff,
                  unsigned(mac >> 8) & 0xff, unsigned(mac) & 0xff);
    return text;
}

std::optional<uint64_t> parse_mac(const std::string& text) {
    unsigned b[6];
    char tail;
    if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
        return std::nullopt;
    uint64_t mac = 0;
    for (unsigned byte : b) {
        if (byte > 0xff) return std::nullopt;
        mac = (mac << 8) | byte;
    }
    return mac;
}

std::optional<long> parse_number(const char* text) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (errno || end == text || *end) return std::nullopt;
    return value;
}

bool parse_sizes(const std::string& text, std::vector<size_t>* sizes) {
    sizes->clear();
    size_t at = 0;
    while (at <= text.size()) {
        const size_t comma = std::min(text.find(',', at), text.size());
        const auto value = parse_number(text.substr(at, comma - at).c_str());
        if (!value || *value < long{kMinSize}) return false;
        sizes->push_back(static_cast<size_t>(*value));
        at = comma + 1;
    }
    return !sizes->empty();
}

bool parse_options(int argc, char** argv, Options* options) {
    for (int i = 1; i < argc; ++i) {
        const std::string name = argv[i];
        if (i + 1 >= argc) return false;
        const char* value = argv[++i];
        std::optional<long> number;
        if (name == "--link") options->link = value;
        else if (name == "--iface") options->iface = value;
        else if (name == "--ip") options->ip = value;
        else if (name == "--role") options->role = value;
        else if (name == "--peer-mac") options->peer_mac = value;
        else if (name == "--peer-ip") options->peer_ip = value;
        else if (name == "--size") {
            if (!parse_sizes(value, &options->sizes)) return false;
        } else if ((number = parse_number(value))) {
            if (name == "--port-base") options->port_base = static_cast<int>(*number);
            else if (name == "--endpoint") options->endpoint = static_cast<int>(*number);
            else if (name == "--peer-endpoint") options->peer_endpoint = static_cast<int>(*number);
            else if (name == "--count") options->count = *number;
            else if (name == "--timeout") options->timeout_s = static_cast<int>(*number);
            else return false;
        } else {
            return false;
        }
    }
    return (options->link == "ethernet" || options->link == "udp") &&
           (options->role == "server" || options->role == "client" || options->role == "info") &&
           options->count > 0 && options->timeout_s > 0;
}

int open_link(const Options& options, std::unique_ptr<Link>* link) {
    if (options.link == "ethernet") {
        xen2mx::link::EthernetLinkConfig config;
        config.iface = options.iface;
        config.endpoint_id = options.endpoint;
        return xen2mx::link::open_ethernet_link(config, link);
    }
    const auto ip = xen2mx::link::resolve_ipv4(options.ip, true);
    if (!ip) return -EINVAL;
    xen2mx::link::UdpLinkConfig config;
    config.ipv4 = *ip;
    config.port_base = options.port_base;
    config.endpoint_id = options.endpoint;
    return xen2mx::link::open_udp_link(config, link);
}

void put_mac(uint8_t* at, uint64_t mac) {
    for (int i = 0; i < 6; ++i) at[i] = static_cast<uint8_t>(mac >> (40 - 8 * i));
}

uint32_t sequence_of(std::span<const uint8_t> frame) {
    return uint32_t{frame[kSeqOffset]} << 24 | uint32_t{frame[kSeqOffset + 1]} << 16 |
           uint32_t{frame[kSeqOffset + 2]} << 8 | frame[kSeqOffset + 3];
}

uint8_t pattern_byte(uint32_t sequence, size_t offset) {
    return static_cast<uint8_t>(sequence * 131u + offset * 7u + (offset >> 8) + 1u);
}

void build_frame(uint64_t dst, uint64_t src, uint32_t sequence, size_t size, std::vector<uint8_t>* frame) {
    frame->assign(kEthHeader + size, 0);
    uint8_t* bytes = frame->data();
    put_mac(bytes, dst);
    put_mac(bytes + 6, src);
    bytes[12] = xen2mx::wire::kEthertype >> 8;
    bytes[13] = xen2mx::wire::kEthertype & 0xff;
    bytes[16] = static_cast<uint8_t>(xen2mx::wire::PacketType::Raw);
    for (int i = 0; i < 4; ++i) bytes[kSeqOffset + i] = static_cast<uint8_t>(sequence >> (24 - 8 * i));
    for (size_t i = kSeqOffset + 4; i < frame->size(); ++i) bytes[i] = pattern_byte(sequence, i);
}

// Waits up to `deadline` for the link to have frames, then hands them over.
int wait_and_poll(Link& link, xen2mx::link::FrameSink& sink, Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd waiting{link.wait_fd(), POLLIN, 0};
    if (left.count() > 0) ::poll(&waiting, 1, static_cast<int>(left.count()) + 1);
    return link.poll(sink, 64);
}

class Echo final : public xen2mx::link::FrameSink {
public:
    explicit Echo(Link& link) : link_(link) {}

    void on_frame(std::span<const uint8_t> frame, const Route& from) override {
        if (frame.size() < kSeqOffset + 4) return;
        // Gathered straight from the received frame: the MACs swapped, the
        // rest as it came, padding included.
        const iovec parts[] = {{const_cast<uint8_t*>(frame.data() + 6), 6},
                               {const_cast<uint8_t*>(frame.data()), 6},
                               {const_cast<uint8_t*>(frame.data() + 12), frame.size() - 12}};
        int ret;
        // A full transmit ring drains within microseconds; one that stays
        // full for a second is broken, and waiting longer would hang.
        for (int tries = 0; (ret = link_.send(from, parts)) == -EAGAIN && tries < 100; ++tries) {
            pollfd writable{link_.wait_fd(), POLLOUT, 0};
            ::poll(&writable, 1, 10);
        }
        if (ret != 0) {
            error = ret;
            return;
        }
        ++echoed;
        last_sequence = sequence_of(frame);
    }

    long echoed = 0;
    std::optional<uint32_t> last_sequence;
    int error = 0;

private:
    Link& link_;
};

int serve(Link& link, const Options& options) {
    Echo echo(link);
    auto deadline = Clock::now() + std::chrono::seconds(options.timeout_s);
    // Done once the last frame went back: the client sends frame i only after
    // the echo of frame i-1, so every earlier one was echoed too.
    while (echo.last_sequence != static_cast<uint32_t>(options.count - 1)) {
        if (wait_and_poll(link, echo, deadline) > 0) deadline = Clock::now() + std::chrono::seconds(options.timeout_s);
        if (echo.error) return fail("server: send: %s", std::strerror(-echo.error));
        if (Clock::now() >= deadline)
            return fail("server: nothing for %d s", options.timeout_s);
    }
    std::printf("PASS server echoed %ld frames\n", echo.echoed);
    return 0;
}

class Catch final : public xen2mx::link::FrameSink {
public:
    void on_frame(std::span<const uint8_t> frame, const Route&) override {
        if (frame.size() < kSeqOffset + 4 || sequence_of(frame) != expected) return;  // a late duplicate
        got.assign(frame.begin(), frame.end());
        arrived = true;
    }

    uint32_t expected = 0;
    bool arrived = false;
    std::vector<uint8_t> got;
};

// Checks an echo against what was sent: the MACs swapped, every other byte
// the same, and nothing but zeros in padding. The Ethernet link pads short
// frames to the Ethernet minimum, the udp link carries them as they are.
bool echo_matches(const std::vector<uint8_t>& sent, const std::vector<uint8_t>& echo, bool padded,
                  std::string* why) {
    const size_t length = padded ? std::max(sent.size(), xen2mx::wire::kEthZlen) : sent.size();
    if (echo.size() != length) {
        *why = "length " + std::to_string(echo.size()) + ", not " + std::to_string(length);
        return false;
    }
    for (size_t i = 0; i < echo.size(); ++i) {
        uint8_t want = 0;
        if (i < 6) want = sent[i + 6];
        else if (i < 12) want = sent[i - 6];
        else if (i < sent.size()) want = sent[i];
        if (echo[i] != want) {
            char text[96];
            std::snprintf(text, sizeof text, "byte %zu is 0x%02x, not 0x%02x", i, echo[i], want);
            *why = text;
            return false;
        }
    }
    return true;
}

int run_client(Link& link, const Options& options) {
    Route peer;
    if (options.link == "ethernet") {
        const auto mac = parse_mac(options.peer_mac);
        if (!mac) return fail("client: --peer-mac %s is not a MAC", options.peer_mac.c_str());
        peer.mac = *mac;
    } else {
        const auto ip = xen2mx::link::resolve_ipv4(options.peer_ip.empty() ? options.ip : options.peer_ip, true);
        if (!ip) return fail("client: --peer-ip %s is not an IPv4 address", options.peer_ip.c_str());
        peer = Route{xen2mx::link::udp_board_of(*ip), *ip,
                     static_cast<uint16_t>(options.port_base + options.peer_endpoint)};
    }

    std::vector<uint8_t> frame;
    frame.reserve(kEthHeader + *std::max_element(options.sizes.begin(), options.sizes.end()));
    Catch echo;
    echo.got.reserve(frame.capacity() + xen2mx::wire::kEthZlen);
    double total_us = 0;
    double min_us = 1e18;
    long resends = 0;
    for (long i = 0; i < options.count; ++i) {
        const auto sequence = static_cast<uint32_t>(i);
        const size_t size = options.sizes[static_cast<size_t>(i) % options.sizes.size()];
        build_frame(peer.mac, link.board(), sequence, size, &frame);
        const iovec whole{frame.data(), frame.size()};
        echo.expected = sequence;
        echo.arrived = false;
        const auto start = Clock::now();
        const auto give_up = start + std::chrono::seconds(options.timeout_s);
        auto resend_at = start;
        bool sent = false;
        while (!echo.arrived) {
            const auto now = Clock::now();
            if (now >= give_up)
                return fail("client: no echo of frame %ld in %d s", i, options.timeout_s);
            if (now >= resend_at) {
                const int ret = link.send(peer, {&whole, 1});
                if (ret == -EMSGSIZE)
                    return fail("client: send refused: %s (frame %zu bytes > max_frame %zu)",
                                std::strerror(EMSGSIZE), frame.size(), link.max_frame());
                if (ret != 0 && ret != -EAGAIN) return fail("client: send: %s", std::strerror(-ret));
                if (ret == 0 && sent) ++resends;
                sent = sent || ret == 0;
                resend_at = now + (ret == 0 ? kResendAfter : std::chrono::milliseconds(1));
            }
            wait_and_poll(link, echo, std::min(resend_at, give_up));
        }
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
        total_us += us;
        min_us = std::min(min_us, us);
        std::string why;
        if (!echo_matches(frame, echo.got, link.kind() == "ethernet", &why)) return fail("client: echo of frame %ld: %s", i, why.c_str());
    }
    std::printf("PASS client %s board=%s endpoint=%u count=%ld resends=%ld rtt_avg_us=%.1f rtt_min_us=%.1f\n",
                std::string(link.kind()).c_str(), mac_to_string(link.board()).c_str(), link.endpoint_id(),
                options.count, resends, total_us / double(options.count), min_us);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    Options options;
    if (!parse_options(argc, argv, &options)) {
        std::fprintf(stderr,
                     "usage: %s --link ethernet|udp --role server|client|info\n"
                     "          [--iface IF] [--peer-mac MAC]              (ethernet)\n"
                     "          [--ip A.B.C.D] [--port-base N] [--peer-ip IP] [--peer-endpoint N]  (udp)\n"
                     "          [--endpoint N] [--count N] [--size BYTES[,BYTES...]] [--timeout S]\n",
                     argv[0]);
        return 2;
    }
    std::unique_ptr<Link> link;
    const int ret = open_link(options, &link);
    if (ret != 0) return fail("open %s: %s", options.link.c_str(), std::strerror(-ret));
    std::printf("%s kind=%s board=%s endpoint=%u max_frame=%zu pid=%ld\n",
                options.role == "server" ? "READY" : "OPEN", std::string(link->kind()).c_str(),
                mac_to_string(link->board()).c_str(), link->endpoint_id(), link->max_frame(),
                static_cast<long>(::getpid()));
    if (options.role == "info") return 0;
    return options.role == "server" ? serve(*link, options) : run_client(*link, options);
}
