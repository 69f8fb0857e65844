// Shows that a large transfer completes while the process that owns the
// data does not run at all: over the kmod link the kernel answers the PULLs
// (the KEY_PULLs of a read) from the pinned memory. Two processes on two
// hosts:
//
//   idle_peer target PORT msg|read SIZE STOP_MS [--expect-wait]
//   idle_peer puller HOST PORT msg|read SIZE
//
// msg: the target sends SIZE bytes (a rendezvous), the puller receives them.
// read: the puller reads SIZE bytes of a memory region of the target.
//
// They first exchange addresses over TCP (PORT) and one small message. The
// target then posts the send (msg), or sees that its memory region is in
// the kernel (read), tells the puller "IDLE" and stops itself (SIGSTOP:
// every thread, the provider's own included) for STOP_MS, after which a
// helper process it forked at the start continues it. The puller posts its
// receive, or its whole read, only once it hears "IDLE", so that everything
// it pulls, it pulls while the target is stopped. Once its transfer is complete and checked it tells the target
// "DONE <ms since IDLE>". The target, running again, looks at the TCP
// socket before any libfabric call, and reads from /dev/xen2mx how many
// PULLs the kernel answered for its endpoint meanwhile.
//
// The target prints PASS when the transfer completed while it was stopped,
// with the kernel answering the pulls; with --expect-wait (pulls left to
// the process, FI_XEN2MX_KMOD_PULLS=0) PASS when it completed only once the
// target ran again and the kernel answered none. Exit status 0 on PASS, 1
// otherwise.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <ctime>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "device/ioctls.hpp"
#include "link/unique_fd.hpp"
#include "rdm_endpoint.hpp"
#include "uapi/xen2mx.h"

namespace {

using xen2mx::link::UniqueFd;

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what, int ret) {
    std::printf("FAIL: %s: %s (%d)\n", what, ret < 0 ? fi_strerror(-ret) : std::strerror(ret), ret);
    std::exit(1);
}

uint8_t byte_at(size_t i) { return static_cast<uint8_t>((i * 167 + 13) ^ (i >> 11)); }

long ms_since(Clock::time_point t) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

// ------------------------------------------------------------------ TCP lines

struct Line {
    UniqueFd fd;
    std::string pending;

    void send(const std::string& text) {
        const std::string line = text + "\n";
        if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) die("tcp write", errno);
    }
    // The next line within `ms` (-1: forever); empty on timeout.
    std::string receive(int ms) {
        const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
        for (;;) {
            if (auto nl = pending.find('\n'); nl != std::string::npos) {
                std::string line = pending.substr(0, nl);
                pending.erase(0, nl + 1);
                return line;
            }
            int wait = -1;
            if (ms >= 0) {
                wait = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
                if (wait < 0) return {};
            }
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, wait) <= 0) continue;
            char buffer[512];
            const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
            if (got <= 0) die("tcp peer closed", got < 0 ? errno : EPIPE);
            pending.append(buffer, static_cast<size_t>(got));
        }
    }
};

Line listen_once(int port) {
    const UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener.get(), 1) != 0)
        die("tcp listen", errno);
    UniqueFd connection(::accept(listener.get(), nullptr, nullptr));
    if (!connection) die("tcp accept", errno);
    return Line{std::move(connection), {}};
}

Line connect_to(const char* host, int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host, &a.sin_addr) != 1) die("tcp address", EINVAL);
    for (int attempt = 0; attempt < 300; ++attempt) {
        UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return Line{std::move(s), {}};
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    die("tcp connect", ECONNREFUSED);
}

std::string hex(const void* data, size_t n) {
    std::string out;
    char two[3];
    for (size_t i = 0; i < n; ++i) {
        std::snprintf(two, sizeof two, "%02x", static_cast<const uint8_t*>(data)[i]);
        out += two;
    }
    return out;
}

std::vector<uint8_t> unhex(const std::string& text) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < text.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoul(text.substr(i, 2), nullptr, 16)));
    return out;
}

// ------------------------------------------------------------------ libfabric

struct Fabric : xen2mx::tools::RdmEndpoint {
    fi_addr_t peer = FI_ADDR_UNSPEC;

    void open() {
        xen2mx::test::InfoPtr hints(fi_allocinfo());
        if (!hints) die("fi_allocinfo", -FI_ENOMEM);
        hints->ep_attr->type = FI_EP_RDM;
        hints->caps = FI_MSG | FI_TAGGED | FI_RMA;
        hints->domain_attr->mr_mode = FI_MR_PROV_KEY | FI_MR_VIRT_ADDR;
        hints->domain_attr->data_progress = FI_PROGRESS_MANUAL;
        hints->fabric_attr->prov_name = strdup("xen2mx");
        const char* failed = "";
        if (int ret = open_domain(hints.get(), &failed)) die(failed, ret);
        fi_cq_attr cq_attr{};
        cq_attr.format = FI_CQ_FORMAT_TAGGED;
        cq_attr.wait_obj = FI_WAIT_UNSPEC;
        if (int ret = fi_cq_open(domain.get(), &cq_attr, cq.out(), nullptr)) die("fi_cq_open", ret);
        if (int ret = open_endpoint(0, &failed)) die(failed, ret);
    }
    std::string address() const {
        std::vector<uint8_t> bytes;
        if (int ret = name(&bytes)) die("fi_getname", ret);
        return hex(bytes.data(), bytes.size());
    }
    void add_peer(const std::string& name) {
        const std::vector<uint8_t> bytes = unhex(name);
        if (fi_av_insert(av.get(), bytes.data(), 1, &peer, 0, nullptr) != 1) die("fi_av_insert", EINVAL);
    }
    // Progresses until the completion of `context` (waiting on the CQ).
    void wait_for(void* context, const char* what) {
        const auto deadline = Clock::now() + std::chrono::seconds(120);
        for (;;) {
            fi_cq_tagged_entry entry{};
            const ssize_t ret = fi_cq_sread(cq.get(), &entry, 1, nullptr, 100);
            if (ret == 1 && entry.op_context == context) return;
            if (ret == -FI_EAVAIL) {
                fi_cq_err_entry error{};
                fi_cq_readerr(cq.get(), &error, 0);
                std::printf("FAIL: %s: %s\n", what, fi_strerror(error.err));
                std::exit(1);
            }
            if (ret < 0 && ret != -FI_EAGAIN) die(what, static_cast<int>(ret));
            if (Clock::now() > deadline) die(what, -FI_ETIMEDOUT);
        }
    }
};

// PULLs the kernel answered for this process's endpoints, and the memory
// regions they hold there now.
struct KernelView {
    uint64_t pulls_served = 0;
    uint32_t regions = 0;
};

KernelView kernel_view() {
    KernelView view;
    const UniqueFd fd(::open("/dev/" XEN2MX_DEVICE_NAME, O_RDONLY | O_CLOEXEC));
    std::vector<xen2mx_endpoint_entry> entries;
    if (!fd || xen2mx::device::list_endpoints(fd.get(), &entries) != 0) return view;
    for (const xen2mx_endpoint_entry& e : entries)
        if (e.pid == ::getpid()) {
            view.pulls_served += e.pulls_served;
            view.regions += e.regions;
        }
    return view;
}

// A process forked before any thread exists, that continues its parent
// `ms` milliseconds after go(): the parent, stopped, cannot do it itself.
struct Waker {
    pid_t pid = -1;
    UniqueFd go;

    explicit Waker(int ms) {
        int fds[2];
        if (::pipe(fds) != 0) die("pipe", errno);
        UniqueFd wait_end(fds[0]), go_end(fds[1]);
        pid = ::fork();
        if (pid < 0) die("fork", errno);
        if (pid == 0) {
            go_end.reset();
            char byte;
            if (::read(wait_end.get(), &byte, 1) == 1) {
                timespec t{ms / 1000, (ms % 1000) * 1000000L};
                while (::nanosleep(&t, &t) != 0) {}
                ::kill(::getppid(), SIGCONT);
            }
            ::_exit(0);
        }
        go = std::move(go_end);
    }
    // Stops the whole process until the waker continues it.
    void stop_until_woken() {
        if (::write(go.get(), "x", 1) != 1) die("waker", errno);
        ::raise(SIGSTOP);
    }
    ~Waker() {
        go.reset();  // a waker never told to go reads the end of the pipe and exits
        ::waitpid(pid, nullptr, 0);
    }
};

int target(int port, bool read, size_t size, int stop_ms, bool expect_wait) {
    Waker waker(stop_ms);
    Fabric f;
    f.open();
    Line tcp = listen_once(port);
    tcp.send(f.address());
    f.add_peer(tcp.receive(-1));

    std::vector<uint8_t> data(size);
    for (size_t i = 0; i < size; ++i) data[i] = byte_at(i);
    xen2mx::test::Handle<fid_mr> mr;
    if (read) {
        if (int ret = fi_mr_reg(f.domain.get(), data.data(), size, FI_REMOTE_READ, 0, 0, 0, mr.out(), nullptr))
            die("fi_mr_reg", ret);
        tcp.send(std::to_string(fi_mr_key(mr.get())) + " " + std::to_string(reinterpret_cast<uintptr_t>(data.data())));
    }
    // One small message: the connection is up before anything is timed.
    char hello[8] = "hello";
    int ctx_hello = 0, ctx_send = 0;
    if (int ret = static_cast<int>(fi_tsend(f.ep.get(), hello, sizeof hello, nullptr, f.peer, 1, &ctx_hello)))
        die("fi_tsend hello", ret);
    f.wait_for(&ctx_hello, "hello");
    if (tcp.receive(60000) != "READY") die("puller not ready", ETIMEDOUT);

    if (read) {
        // The region went to the kernel when it was registered, unless the
        // pulls are left to the process.
        if (kernel_view().regions == 0 && !expect_wait) die("the read's region is not in the kernel", ENOENT);
    } else if (int ret = static_cast<int>(fi_tsend(f.ep.get(), data.data(), size, nullptr, f.peer, 2, &ctx_send))) {
        die("fi_tsend", ret);
    }
    const KernelView before = kernel_view();
    std::printf("TARGET stopping for %d ms, %zu bytes to be pulled (%s)\n", stop_ms, size, read ? "read" : "message");
    std::fflush(stdout);
    tcp.send("IDLE");
    const auto stopped = Clock::now();
    waker.stop_until_woken();

    // Running again: the socket first, before any libfabric call.
    const std::string done = tcp.receive(0);
    const long stopped_ms = ms_since(stopped);
    const KernelView after = kernel_view();
    const uint64_t served = after.pulls_served - before.pulls_served;
    std::printf("TARGET continued after %ld ms: %s; the kernel answered %" PRIu64 " pulls for this endpoint\n",
                stopped_ms, done.empty() ? "the puller is not done" : ("the puller said \"" + done + "\"").c_str(),
                served);
    std::string final = done;
    if (!read) f.wait_for(&ctx_send, "the large send");
    if (final.empty()) final = tcp.receive(120000);
    long took = -1;
    if (std::sscanf(final.c_str(), "DONE %ld", &took) != 1) {
        std::printf("FAIL: the puller did not complete as it should: \"%s\"\n", final.c_str());
        return 1;
    }
    tcp.send("BYE");
    // The puller's NOTIFY, acked: our region goes back.
    const auto until = Clock::now() + std::chrono::milliseconds(300);
    while (Clock::now() < until) {
        fi_cq_tagged_entry entry{};
        fi_cq_read(f.cq.get(), &entry, 1);
    }
    mr.reset();
    // The provider's own threads run again with the target, and may answer
    // pulls at once: a completion counts as one during the stop only when
    // its "DONE" was already there and came well within the stop.
    const bool during = !done.empty() && took < stopped_ms / 2;
    if (expect_wait) {
        const bool ok = took >= stopped_ms * 3 / 4 && served == 0;
        std::printf("%s: pulls left to the process: the %s completed only once the target ran again "
                    "(%ld ms after it stopped, for %ld ms), the kernel answered %" PRIu64 " pulls\n",
                    ok ? "PASS" : "FAIL", read ? "read" : "message", took, stopped_ms, served);
        return ok ? 0 : 1;
    }
    const bool ok = during && served > 0;
    std::printf("%s: a %zu-byte %s completed while the target process was stopped (%s after it stopped, for "
                "%ld ms), %" PRIu64 " pulls answered by the kernel\n",
                ok ? "PASS" : "FAIL", size, read ? "RMA read" : "message", done.empty() ? "-" : done.c_str() + 5,
                stopped_ms, served);
    return ok ? 0 : 1;
}

int puller(const char* host, int port, bool read, size_t size) {
    Fabric f;
    f.open();
    Line tcp = connect_to(host, port);
    f.add_peer(tcp.receive(60000));
    tcp.send(f.address());
    uint64_t key = 0, addr = 0;
    if (read) {
        const std::string line = tcp.receive(60000);
        if (std::sscanf(line.c_str(), "%" SCNu64 " %" SCNu64, &key, &addr) != 2) die("key and address", EINVAL);
    }
    char hello[8];
    int ctx_hello = 0, ctx_data = 0;
    if (int ret = static_cast<int>(fi_trecv(f.ep.get(), hello, sizeof hello, nullptr, FI_ADDR_UNSPEC, 1, 0, &ctx_hello)))
        die("fi_trecv hello", ret);
    f.wait_for(&ctx_hello, "hello");

    // The read, or the receive of the message (nothing is pulled before it
    // is posted), only once the target is stopped.
    std::vector<uint8_t> buffer(size, 0);
    tcp.send("READY");
    if (tcp.receive(120000) != "IDLE") die("the target did not stop", ETIMEDOUT);
    const auto start = Clock::now();
    if (read) {
        if (int ret = static_cast<int>(fi_read(f.ep.get(), buffer.data(), size, nullptr, f.peer, addr, key, &ctx_data)))
            die("fi_read", ret);
    } else if (int ret = static_cast<int>(fi_trecv(f.ep.get(), buffer.data(), size, nullptr, FI_ADDR_UNSPEC, 2, 0,
                                                   &ctx_data))) {
        die("fi_trecv", ret);
    }
    f.wait_for(&ctx_data, read ? "the read" : "the message");
    const long took = ms_since(start);
    for (size_t i = 0; i < size; ++i)
        if (buffer[i] != byte_at(i)) {
            tcp.send("CORRUPT at " + std::to_string(i));
            std::printf("FAIL: byte %zu differs\n", i);
            return 1;
        }
    tcp.send("DONE " + std::to_string(took) + " ms");
    std::printf("PULLER %zu bytes intact, %ld ms after the target stopped\n", size, took);
    // Progress until the target is done with us: our NOTIFY may need a resend.
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (tcp.receive(10).empty() && Clock::now() < deadline) {
        fi_cq_tagged_entry entry{};
        fi_cq_read(f.cq.get(), &entry, 1);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    const std::string role = argc > 1 ? argv[1] : "";
    if (role == "target" && argc >= 6) {
        const bool expect_wait = argc > 6 && std::string(argv[6]) == "--expect-wait";
        return target(std::atoi(argv[2]), std::string(argv[3]) == "read", std::strtoull(argv[4], nullptr, 10),
                      std::atoi(argv[5]), expect_wait);
    }
    if (role == "puller" && argc >= 6)
        return puller(argv[2], std::atoi(argv[3]), std::string(argv[4]) == "read", std::strtoull(argv[5], nullptr, 10));
    std::fprintf(stderr,
                 "usage: idle_peer target PORT msg|read SIZE STOP_MS [--expect-wait]\n"
                 "       idle_peer puller HOST PORT msg|read SIZE\n");
    return 2;
}
