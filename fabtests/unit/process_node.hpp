// One RDM endpoint with everything it needs, opened through the real
// libfabric, for tests that spread endpoints over several processes (fork).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

#include "fabric_handles.hpp"

namespace xen2mx::test {

struct Node {
    InfoPtr info;
    Handle<fid_fabric> fabric;
    Handle<fid_domain> domain;
    Handle<fid_av> av;
    Handle<fid_cq> cq;
    Handle<fid_ep> ep;
    std::vector<uint8_t> name;

    // 0, or the failing call's negative error code.
    int open() {
        InfoPtr hints(fi_allocinfo());
        hints->fabric_attr->prov_name = strdup("xen2mx");
        hints->ep_attr->type = FI_EP_RDM;
        hints->caps = FI_TAGGED;
        fi_info* found = nullptr;
        if (int ret = fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints.get(), &found)) return ret;
        info.reset(found);
        if (int ret = fi_fabric(info->fabric_attr, fabric.out(), nullptr)) return ret;
        if (int ret = fi_domain(fabric.get(), info.get(), domain.out(), nullptr)) return ret;
        fi_av_attr av_attr{};
        av_attr.type = FI_AV_TABLE;
        if (int ret = fi_av_open(domain.get(), &av_attr, av.out(), nullptr)) return ret;
        fi_cq_attr cq_attr{};
        cq_attr.format = FI_CQ_FORMAT_TAGGED;
        if (int ret = fi_cq_open(domain.get(), &cq_attr, cq.out(), nullptr)) return ret;
        if (int ret = fi_endpoint(domain.get(), info.get(), ep.out(), nullptr)) return ret;
        if (int ret = fi_ep_bind(ep.get(), av.id(), 0)) return ret;
        if (int ret = fi_ep_bind(ep.get(), cq.id(), FI_TRANSMIT | FI_RECV)) return ret;
        if (int ret = fi_enable(ep.get())) return ret;
        name.resize(64);
        size_t length = name.size();
        if (int ret = fi_getname(ep.id(), name.data(), &length)) return ret;
        name.resize(length);
        return 0;
    }

    fi_addr_t insert(const std::vector<uint8_t>& peer) {
        fi_addr_t addr = FI_ADDR_NOTAVAIL;
        return fi_av_insert(av.get(), peer.data(), 1, &addr, 0, nullptr) == 1 ? addr : FI_ADDR_NOTAVAIL;
    }

    // One completion: 0, its error (negative), or -FI_ETIMEDOUT.
    int wait(fi_cq_tagged_entry* entry, std::chrono::milliseconds patience, fi_cq_err_entry* error = nullptr) {
        const auto deadline = std::chrono::steady_clock::now() + patience;
        while (std::chrono::steady_clock::now() < deadline) {
            const ssize_t n = fi_cq_read(cq.get(), entry, 1);
            if (n == 1) return 0;
            if (n == -FI_EAVAIL) {
                fi_cq_err_entry local{};
                fi_cq_err_entry* e = error ? error : &local;
                if (fi_cq_readerr(cq.get(), e, 0) != 1) return -FI_EOTHER;
                return -e->err;
            }
            if (n != -FI_EAGAIN) return static_cast<int>(n);
        }
        return -FI_ETIMEDOUT;
    }

    // Makes progress for a while, taking nothing from the queue.
    void idle(std::chrono::milliseconds how_long) {
        const auto until = std::chrono::steady_clock::now() + how_long;
        while (std::chrono::steady_clock::now() < until) fi_cq_read(cq.get(), nullptr, 0);
    }
};

// A pipe for passing names between a test and its child processes.
class Pipe {
public:
    Pipe() {
        if (::pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
    }
    ~Pipe() {
        for (int fd : fds_)
            if (fd >= 0) ::close(fd);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;

    void put(const std::vector<uint8_t>& bytes) {
        const uint32_t size = static_cast<uint32_t>(bytes.size());
        [[maybe_unused]] ssize_t n = ::write(fds_[1], &size, sizeof size);
        n = ::write(fds_[1], bytes.data(), bytes.size());
    }
    std::vector<uint8_t> get() {
        uint32_t size = 0;
        if (::read(fds_[0], &size, sizeof size) != sizeof size || size > 4096) return {};
        std::vector<uint8_t> bytes(size);
        size_t got = 0;
        while (got < size) {
            const ssize_t n = ::read(fds_[0], bytes.data() + got, size - got);
            if (n <= 0) return {};
            got += static_cast<size_t>(n);
        }
        return bytes;
    }

private:
    int fds_[2];
};

// Runs `body` in a child process; its return value is the child's exit code.
inline pid_t spawn(const std::function<int()>& body) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(body());
    return pid;
}

// The child's exit code, or 128 + the signal that ended it.
inline int reap(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Shared-memory mappings of the shm link's channels in this process.
inline int channel_mappings() {
    std::ifstream maps("/proc/self/maps");
    int count = 0;
    for (std::string line; std::getline(maps, line);)
        if (line.find("memfd:xen2mx-shm") != std::string::npos) ++count;
    return count;
}

}  // namespace xen2mx::test
