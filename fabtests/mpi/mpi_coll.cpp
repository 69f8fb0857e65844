// Collectives over the provider, each result checked against the value
// computed from what every rank contributed: barrier, bcast, reduce,
// allreduce, alltoall, allgatherv, on MPI_COMM_WORLD and on split halves.
//   mpi_coll [rounds]     (default 2)
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "report.hpp"

namespace {

using x2m_mpi::Report;
using Bytes = std::vector<std::uint8_t>;

// The value rank r contributes at index i.
std::int64_t contribution(int rank, std::size_t index, int round) {
    return static_cast<std::int64_t>(rank + 1) * 1000003 + static_cast<std::int64_t>(index) * 7919 + round * 31;
}

// Whether every rank runs on this host: then they read one monotonic clock.
bool on_one_host() {
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int length = 0;
    MPI_Get_processor_name(name, &length);
    unsigned long long mine = std::hash<std::string>{}(std::string(name, static_cast<std::size_t>(length)));
    unsigned long long low = 0, high = 0;
    MPI_Allreduce(&mine, &low, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &high, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    return low == high;
}

double monotonic_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A barrier does not let anyone out before the last rank came in: rank 0
// enters late on purpose. On one host every rank checks that it left after
// the moment rank 0 entered (the host's monotonic clock), which holds
// however the ranks are scheduled; across hosts, that it waited at least
// half of rank 0's delay.
void barrier(Report& report, int rounds) {
    constexpr double kDelay = 0.2;
    const bool one_host = on_one_host();
    for (int round = 0; round < rounds; ++round) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double before = MPI_Wtime();
        double entered = 0;
        if (report.rank() == 0) {
            std::this_thread::sleep_for(std::chrono::duration<double>(kDelay));
            entered = monotonic_seconds();
        }
        MPI_Barrier(MPI_COMM_WORLD);
        const double left = monotonic_seconds();
        const double waited = MPI_Wtime() - before;
        MPI_Bcast(&entered, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (report.rank() == 0) continue;
        if (one_host && left < entered)
            report.fail("MPI_Barrier let rank %d out %.6f s before rank 0 came in", report.rank(), entered - left);
        if (!one_host && waited < kDelay / 2)
            report.fail("MPI_Barrier let rank %d out after %.3f s, while rank 0 came %.3f s late", report.rank(),
                        waited, kDelay);
    }
    for (int i = 0; i < 20 * rounds; ++i) MPI_Barrier(MPI_COMM_WORLD);
    report.part("MPI_Barrier");
}

// Every rank in turn broadcasts a message of each size class.
void bcast(Report& report, int round) {
    constexpr int kLengths[] = {1, 100, 4096, 40000, 1024 * 1024};
    for (int root = 0; root < report.size(); ++root) {
        for (int length : kLengths) {
            const std::uint64_t seed = x2m_mpi::seed_of(root, -1, length, static_cast<std::uint64_t>(round));
            Bytes data(static_cast<std::size_t>(length), 0);
            if (report.rank() == root) x2m_mpi::fill(data, seed);
            MPI_Bcast(data.data(), length, MPI_BYTE, root, MPI_COMM_WORLD);
            std::size_t at = x2m_mpi::first_difference(data, seed);
            if (at != x2m_mpi::kIntact)
                report.fail("MPI_Bcast of %d bytes from rank %d: byte %zu differs", length, root, at);
        }
    }
}

// Sums, maxima and minima of vectors long enough to need several messages,
// to each root, and to everyone.
void reductions(Report& report, MPI_Comm comm, const char* where, int round) {
    int rank = 0;
    int size = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int world_rank = report.rank();
    std::vector<int> world_of(static_cast<std::size_t>(size));
    MPI_Allgather(&world_rank, 1, MPI_INT, world_of.data(), 1, MPI_INT, comm);
    for (std::size_t count : {std::size_t{1}, std::size_t{1000}, std::size_t{50000}}) {
        std::vector<std::int64_t> mine(count);
        for (std::size_t i = 0; i < count; ++i) mine[i] = contribution(world_rank, i, round);
        std::vector<std::int64_t> sum(count), max(count), min(count);
        for (std::size_t i = 0; i < count; ++i) {
            sum[i] = 0;
            max[i] = INT64_MIN;
            min[i] = INT64_MAX;
            for (int r : world_of) {
                std::int64_t v = contribution(r, i, round) * ((r + static_cast<int>(i)) % 3 == 0 ? -1 : 1);
                sum[i] += v;
                max[i] = v > max[i] ? v : max[i];
                min[i] = v < min[i] ? v : min[i];
            }
        }
        for (std::size_t i = 0; i < count; ++i)
            if ((world_rank + static_cast<int>(i)) % 3 == 0) mine[i] = -mine[i];
        std::vector<std::int64_t> result(count);
        const int n = static_cast<int>(count);
        const int root = static_cast<int>(count % static_cast<std::size_t>(size));
        auto compare = [&](const char* op, const std::vector<std::int64_t>& expected) {
            for (std::size_t i = 0; i < count; ++i)
                if (result[i] != expected[i]) {
                    report.fail("%s %s of %zu values: [%zu] is %lld, expected %lld", where, op, count, i,
                                static_cast<long long>(result[i]), static_cast<long long>(expected[i]));
                    return;
                }
        };
        MPI_Reduce(mine.data(), result.data(), n, MPI_INT64_T, MPI_SUM, root, comm);
        if (rank == root) compare("MPI_Reduce(MPI_SUM)", sum);
        MPI_Reduce(mine.data(), result.data(), n, MPI_INT64_T, MPI_MAX, root, comm);
        if (rank == root) compare("MPI_Reduce(MPI_MAX)", max);
        MPI_Allreduce(mine.data(), result.data(), n, MPI_INT64_T, MPI_SUM, comm);
        compare("MPI_Allreduce(MPI_SUM)", sum);
        MPI_Allreduce(mine.data(), result.data(), n, MPI_INT64_T, MPI_MIN, comm);
        compare("MPI_Allreduce(MPI_MIN)", min);
        // In place, in doubles holding exact integers.
        std::vector<double> doubles(count);
        for (std::size_t i = 0; i < count; ++i) doubles[i] = static_cast<double>(mine[i]);
        MPI_Allreduce(MPI_IN_PLACE, doubles.data(), n, MPI_DOUBLE, MPI_SUM, comm);
        for (std::size_t i = 0; i < count; ++i)
            if (doubles[i] != static_cast<double>(sum[i])) {
                report.fail("%s MPI_Allreduce(MPI_IN_PLACE, double) [%zu] is %.0f, expected %lld", where, i,
                            doubles[i], static_cast<long long>(sum[i]));
                break;
            }
    }
}

// The element rank `from` sends to rank `to` at index i.
std::int32_t exchanged(int from, int to, std::size_t index, int round) {
    return from * 1000000 + to * 10000 + static_cast<std::int32_t>(index % 10000) + round;
}

void alltoall(Report& report, int round) {
    const auto n = static_cast<std::size_t>(report.size());
    for (std::size_t per_rank : {std::size_t{1}, std::size_t{300}, std::size_t{12000}}) {
        std::vector<std::int32_t> out(per_rank * n), in(per_rank * n, -1);
        for (std::size_t to = 0; to < n; ++to)
            for (std::size_t i = 0; i < per_rank; ++i)
                out[to * per_rank + i] = exchanged(report.rank(), static_cast<int>(to), i, round);
        MPI_Alltoall(out.data(), static_cast<int>(per_rank), MPI_INT32_T, in.data(), static_cast<int>(per_rank),
                     MPI_INT32_T, MPI_COMM_WORLD);
        for (std::size_t from = 0; from < n; ++from)
            for (std::size_t i = 0; i < per_rank; ++i) {
                std::int32_t expected = exchanged(static_cast<int>(from), report.rank(), i, round);
                if (in[from * per_rank + i] != expected) {
                    report.fail("MPI_Alltoall of %zu per rank: from rank %zu [%zu] is %d, expected %d", per_rank,
                                from, i, in[from * per_rank + i], expected);
                    from = n;
                    break;
                }
            }
    }
}

// Rank r gives (r * scale) % 7 * scale elements (none for some ranks); they
// land at displacements with gaps, which must stay untouched.
void allgatherv(Report& report, int round) {
    const int n = report.size();
    for (int scale : {1, 3000}) {
        auto count_of = [&](int r) { return (r * 5 + 2) % 7 * scale; };
        std::vector<int> counts(static_cast<std::size_t>(n)), displs(static_cast<std::size_t>(n));
        int total = 0;
        for (int r = 0; r < n; ++r) {
            counts[static_cast<std::size_t>(r)] = count_of(r);
            displs[static_cast<std::size_t>(r)] = total + 3;
            total += count_of(r) + 3;
        }
        std::vector<std::int32_t> mine(static_cast<std::size_t>(count_of(report.rank())));
        for (std::size_t i = 0; i < mine.size(); ++i) mine[i] = exchanged(report.rank(), n, i, round);
        constexpr std::int32_t kGap = -7;
        std::vector<std::int32_t> all(static_cast<std::size_t>(total), kGap);
        MPI_Allgatherv(mine.data(), count_of(report.rank()), MPI_INT32_T, all.data(), counts.data(), displs.data(),
                       MPI_INT32_T, MPI_COMM_WORLD);
        int at = 0;
        bool ok = true;
        for (int r = 0; r < n && ok; ++r) {
            for (int gap = 0; gap < 3 && ok; ++gap, ++at)
                if (all[static_cast<std::size_t>(at)] != kGap) {
                    report.fail("MPI_Allgatherv (scale %d): gap before rank %d's part was written", scale, r);
                    ok = false;
                }
            for (int i = 0; i < count_of(r) && ok; ++i, ++at) {
                std::int32_t expected = exchanged(r, n, static_cast<std::size_t>(i), round);
                if (all[static_cast<std::size_t>(at)] != expected) {
                    report.fail("MPI_Allgatherv (scale %d): rank %d's [%d] is %d, expected %d", scale, r, i,
                                all[static_cast<std::size_t>(at)], expected);
                    ok = false;
                }
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 2;
    Report report("mpi_coll");
    barrier(report, rounds);
    for (int round = 0; round < rounds; ++round) bcast(report, round);
    report.part("MPI_Bcast from every root");
    for (int round = 0; round < rounds; ++round) reductions(report, MPI_COMM_WORLD, "MPI_COMM_WORLD", round);
    report.part("MPI_Reduce and MPI_Allreduce");
    for (int round = 0; round < rounds; ++round) alltoall(report, round);
    report.part("MPI_Alltoall");
    for (int round = 0; round < rounds; ++round) allgatherv(report, round);
    report.part("MPI_Allgatherv");
    // Two communicators side by side: even and odd ranks.
    MPI_Comm half;
    MPI_Comm_split(MPI_COMM_WORLD, report.rank() % 2, -report.rank(), &half);
    for (int round = 0; round < rounds; ++round) reductions(report, half, "split communicator", round);
    MPI_Comm_free(&half);
    report.part("reductions on split communicators");
    return report.finish();
}
