// MPI_THREAD_MULTIPLE over the provider: two threads per rank exchange
// messages at the same time, around the ring in opposite directions under
// their own tags on MPI_COMM_WORLD, and reduce on a communicator each.
//   mpi_threads [rounds]     (default 50)
#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "report.hpp"

namespace {

using x2m_mpi::Report;
using x2m_mpi::seed_of;
using Bytes = std::vector<std::uint8_t>;

constexpr int kThreads = 2;
constexpr int kLengths[] = {0, 16, 3000, 33000, 200000};

// Failures found by the threads, reported by the main thread afterwards.
struct Findings {
    std::mutex lock;
    std::vector<std::string> lines;
    void add(const std::string& line) {
        std::lock_guard guard(lock);
        lines.push_back(line);
    }
};

void exchange(int thread, int rank, int size, MPI_Comm own, int rounds, Findings& findings) {
    // Thread 0 sends forward, thread 1 backward: every rank receives from
    // both neighbours at once, and with two ranks both threads use one peer.
    const int to = thread == 0 ? (rank + 1) % size : (rank + size - 1) % size;
    const int from = thread == 0 ? (rank + size - 1) % size : (rank + 1) % size;
    const int tag = 500 + thread;
    for (int round = 0; round < rounds; ++round) {
        for (int length : kLengths) {
            const std::uint64_t round_id = static_cast<std::uint64_t>(round) * 16 + static_cast<std::uint64_t>(length % 16);
            Bytes out(static_cast<std::size_t>(length));
            x2m_mpi::fill(out, seed_of(rank, to, tag, round_id));
            Bytes in(static_cast<std::size_t>(length) + 8, 0xee);
            MPI_Request requests[2];
            MPI_Status statuses[2];
            MPI_Irecv(in.data(), length + 8, MPI_BYTE, from, tag, MPI_COMM_WORLD, &requests[0]);
            MPI_Isend(out.data(), length, MPI_BYTE, to, tag, MPI_COMM_WORLD, &requests[1]);
            MPI_Waitall(2, requests, statuses);
            int count = -1;
            MPI_Get_count(&statuses[0], MPI_BYTE, &count);
            std::string where = "thread " + std::to_string(thread) + " round " + std::to_string(round) + " size " +
                                std::to_string(length) + ": ";
            if (statuses[0].MPI_SOURCE != from || statuses[0].MPI_TAG != tag)
                findings.add(where + "from rank " + std::to_string(statuses[0].MPI_SOURCE) + " tag " +
                             std::to_string(statuses[0].MPI_TAG) + ", expected rank " + std::to_string(from) +
                             " tag " + std::to_string(tag));
            if (count != length) {
                findings.add(where + std::to_string(count) + " bytes received");
                continue;
            }
            const std::size_t at = x2m_mpi::first_difference(std::span<const std::uint8_t>(in.data(), out.size()),
                                                             seed_of(from, rank, tag, round_id));
            if (at != x2m_mpi::kIntact) findings.add(where + "byte " + std::to_string(at) + " differs");
        }
        // A collective on this thread's own communicator, while the other
        // thread does the same on its own.
        long long mine = (rank + 1) * 100 + thread * 10 + round;
        long long sum = 0;
        MPI_Allreduce(&mine, &sum, 1, MPI_LONG_LONG, MPI_SUM, own);
        const long long expected = 100LL * size * (size + 1) / 2 + static_cast<long long>(size) * (thread * 10 + round);
        if (sum != expected)
            findings.add("thread " + std::to_string(thread) + " round " + std::to_string(round) + ": allreduce gave " +
                         std::to_string(sum) + ", expected " + std::to_string(expected));
    }
}

}  // namespace

int main(int argc, char** argv) {
    int provided = MPI_THREAD_SINGLE;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 50;
    Report report("mpi_threads");
    if (provided != MPI_THREAD_MULTIPLE) {
        report.fail("MPI_Init_thread provides level %d, not MPI_THREAD_MULTIPLE", provided);
        report.part("MPI_THREAD_MULTIPLE provided");
        return report.finish();
    }
    report.part("MPI_THREAD_MULTIPLE provided");

    MPI_Comm own[kThreads];
    for (MPI_Comm& comm : own) MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    Findings findings;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back(exchange, t, report.rank(), report.size(), own[t], rounds, std::ref(findings));
    for (std::thread& thread : threads) thread.join();
    for (MPI_Comm& comm : own) MPI_Comm_free(&comm);
    for (const std::string& line : findings.lines) report.fail("%s", line.c_str());
    report.part("two threads per rank exchanging at once");
    return report.finish();
}
