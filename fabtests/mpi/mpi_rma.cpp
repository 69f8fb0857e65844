// One-sided MPI over the provider (osc rdma on btl ofi): put, get,
// accumulate, get_accumulate, fetch_and_op and compare_and_swap, in fence
// epochs and in passive-target lock epochs, every result checked against
// what the ranks contributed.
//   mpi_rma [rounds]     (default 2)
#include <mpi.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "report.hpp"

namespace {

using x2m_mpi::Report;

constexpr int kSlots = 4096;  // longs per window: 32 KiB, larger than one frame

// The value rank r puts at slot i of its right neighbour in a round.
long value_of(int rank, int slot, int round) { return rank * 1000003L + slot * 7919L + round * 31L; }

// Fence epochs: each rank puts a block into its right neighbour's window
// and gets the block its left neighbour put into its own... from that
// neighbour's left, so that every get reads remote memory.
void put_and_get(Report& report, MPI_Win win, std::vector<long>& window, int rounds) {
    const int rank = report.rank(), size = report.size();
    const int right = (rank + 1) % size, left = (rank + size - 1) % size;
    for (int round = 0; round < rounds; ++round) {
        std::vector<long> mine(kSlots);
        for (int i = 0; i < kSlots; ++i) mine[i] = value_of(rank, i, round);
        MPI_Win_fence(0, win);
        MPI_Put(mine.data(), kSlots, MPI_LONG, right, 0, kSlots, MPI_LONG, win);
        MPI_Win_fence(0, win);
        for (int i = 0; i < kSlots; ++i) {
            if (window[i] != value_of(left, i, round)) {
                report.fail("round %d: slot %d holds %ld after the put of rank %d, want %ld", round, i, window[i],
                            left, value_of(left, i, round));
                break;
            }
        }
        // Every rank now holds its left neighbour's block: read the right
        // neighbour's, which is ours, back.
        std::vector<long> back(kSlots, -1);
        MPI_Get(back.data(), kSlots, MPI_LONG, right, 0, kSlots, MPI_LONG, win);
        MPI_Win_fence(0, win);
        for (int i = 0; i < kSlots; ++i) {
            if (back[i] != mine[i]) {
                report.fail("round %d: get from rank %d: slot %d is %ld, want %ld", round, right, i, back[i], mine[i]);
                break;
            }
        }
        // Small pieces too, at odd offsets.
        MPI_Win_fence(0, win);
        const long marker = -(rank + 1) * 100L - round;
        MPI_Put(&marker, 1, MPI_LONG, right, 17 + rank % 7, 1, MPI_LONG, win);
        MPI_Win_fence(0, win);
        if (window[17 + left % 7] != -(left + 1) * 100L - round)
            report.fail("round %d: a one-element put from rank %d did not land", round, left);
    }
    report.part("MPI_Put and MPI_Get in fence epochs, 32 KiB and single elements");
}

// Every rank adds into rank 0's window and takes the maximum there, in a
// fence epoch; then in shared-lock epochs on every target.
void accumulate(Report& report, MPI_Win win, std::vector<long>& window, int rounds) {
    const int rank = report.rank(), size = report.size();
    for (int round = 0; round < rounds; ++round) {
        MPI_Win_fence(0, win);
        for (int i = 0; i < 64; ++i) window[i] = 0;
        window[100] = -1;
        MPI_Win_fence(0, win);
        std::vector<long> add(64);
        for (int i = 0; i < 64; ++i) add[i] = value_of(rank, i, round);
        MPI_Accumulate(add.data(), 64, MPI_LONG, 0, 0, 64, MPI_LONG, MPI_SUM, win);
        const long candidate = value_of(rank, 100, round);
        MPI_Accumulate(&candidate, 1, MPI_LONG, 0, 100, 1, MPI_LONG, MPI_MAX, win);
        MPI_Win_fence(0, win);
        if (rank == 0) {
            for (int i = 0; i < 64; ++i) {
                long want = 0;
                for (int r = 0; r < size; ++r) want += value_of(r, i, round);
                if (window[i] != want) {
                    report.fail("round %d: MPI_SUM at slot %d is %ld, want %ld", round, i, window[i], want);
                    break;
                }
            }
            if (window[100] != value_of(size - 1, 100, round))
                report.fail("round %d: MPI_MAX is %ld, want %ld", round, window[100], value_of(size - 1, 100, round));
        }
    }
    // Passive target: each rank adds 1 to slot 200 of every rank, under a shared lock.
    MPI_Win_fence(0, win);
    window[200] = 0;
    MPI_Win_fence(0, win);
    const long one = 1;
    for (int target = 0; target < size; ++target) {
        MPI_Win_lock(MPI_LOCK_SHARED, target, 0, win);
        MPI_Accumulate(&one, 1, MPI_LONG, target, 200, 1, MPI_LONG, MPI_SUM, win);
        MPI_Win_unlock(target, win);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, win);
    const long counted = window[200];
    MPI_Win_unlock(rank, win);
    if (counted != size) report.fail("slot 200 counted %ld additions under locks, want %d", counted, size);
    report.part("MPI_Accumulate (MPI_SUM, MPI_MAX) in fence and lock epochs");
}

// A shared counter on rank 0: every rank takes tickets with MPI_Fetch_and_op
// under a shared lock; the tickets handed out are each handed out once.
void fetch_and_op(Report& report, MPI_Win win, std::vector<long>& window) {
    const int rank = report.rank(), size = report.size();
    constexpr int kTickets = 50;
    MPI_Win_fence(0, win);
    window[300] = 0;
    MPI_Win_fence(0, win);
    std::vector<long> mine;
    const long one = 1;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
    for (int t = 0; t < kTickets; ++t) {
        long ticket = -1;
        MPI_Fetch_and_op(&one, &ticket, MPI_LONG, 0, 300, MPI_SUM, win);
        MPI_Win_flush(0, win);
        mine.push_back(ticket);
    }
    MPI_Win_unlock(0, win);
    std::vector<long> all(static_cast<size_t>(kTickets) * size);
    MPI_Gather(mine.data(), kTickets, MPI_LONG, all.data(), kTickets, MPI_LONG, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        std::vector<int> seen(all.size(), 0);
        for (long t : all) {
            if (t < 0 || t >= static_cast<long>(all.size()) || seen[t]++) {
                report.fail("ticket %ld handed out twice or out of range", t);
                break;
            }
        }
        if (window[300] != static_cast<long>(all.size()))
            report.fail("the counter reads %ld after %zu tickets", window[300], all.size());
    }
    // MPI_Get_accumulate with MPI_NO_OP reads without changing.
    long read = -1;
    const long ignored = 0;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
    MPI_Get_accumulate(&ignored, 1, MPI_LONG, &read, 1, MPI_LONG, 0, 300, 1, MPI_LONG, MPI_NO_OP, win);
    MPI_Win_unlock(0, win);
    if (read != static_cast<long>(kTickets) * size)
        report.fail("MPI_Get_accumulate with MPI_NO_OP read %ld, want %d", read, kTickets * size);
    report.part("MPI_Fetch_and_op tickets and MPI_Get_accumulate under a shared lock");
}

// A lock built from MPI_Compare_and_swap: each rank but its owner (the last
// rank) takes it, increments a plain counter inside, and gives it back.
// With mutual exclusion the counter ends at exactly the number of
// increments. The owner stays out: Open MPI 4.1's ofi BTL crashes on a
// compare-and-swap a rank makes on its own window (a null registration).
void compare_and_swap(Report& report, MPI_Win win, std::vector<long>& window) {
    const int rank = report.rank(), size = report.size();
    const int owner = size - 1;
    constexpr int kTurns = 10;
    constexpr long kFree = -1;
    MPI_Win_fence(0, win);
    window[400] = kFree;
    window[401] = 0;
    MPI_Win_fence(0, win);
    MPI_Win_lock_all(0, win);
    for (int turn = 0; turn < (rank == owner ? 0 : kTurns); ++turn) {
        const long me = rank;
        long holder = 0;
        do {
            MPI_Compare_and_swap(&me, &kFree, &holder, MPI_LONG, owner, 400, win);
            MPI_Win_flush(owner, win);
        } while (holder != kFree);
        long count = 0;
        MPI_Get(&count, 1, MPI_LONG, owner, 401, 1, MPI_LONG, win);
        MPI_Win_flush(owner, win);
        ++count;
        MPI_Put(&count, 1, MPI_LONG, owner, 401, 1, MPI_LONG, win);
        MPI_Win_flush(owner, win);
        long released = 0;
        MPI_Compare_and_swap(&kFree, &me, &released, MPI_LONG, owner, 400, win);
        MPI_Win_flush(owner, win);
        if (released != me) report.fail("turn %d: the lock was held by %ld, not by me", turn, released);
    }
    MPI_Win_unlock_all(win);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == owner && window[401] != static_cast<long>(kTurns) * (size - 1))
        report.fail("%ld increments counted under the lock, want %d", window[401], kTurns * (size - 1));
    report.part("MPI_Compare_and_swap as a lock around get and put (lock_all, flush)");
}

// An exclusive lock: ranks take turns writing a whole block of rank 0 and
// reading it back in one epoch; no other rank's data shows through.
void exclusive_epochs(Report& report, MPI_Win win) {
    const int rank = report.rank();
    for (int turn = 0; turn < 3; ++turn) {
        std::vector<long> block(kSlots), back(kSlots, 0);
        for (int i = 0; i < kSlots; ++i) block[i] = value_of(rank, i, turn + 10);
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
        MPI_Put(block.data(), kSlots, MPI_LONG, 0, 0, kSlots, MPI_LONG, win);
        MPI_Win_flush(0, win);
        MPI_Get(back.data(), kSlots, MPI_LONG, 0, 0, kSlots, MPI_LONG, win);
        MPI_Win_unlock(0, win);
        if (back != block) report.fail("turn %d: another rank's data showed through an exclusive lock", turn);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    report.part("MPI_Put and MPI_Get under exclusive locks");
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    Report report("mpi_rma");
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 2;
    std::vector<long> window(kSlots, 0);
    MPI_Win win;
    MPI_Win_create(window.data(), static_cast<MPI_Aint>(window.size() * sizeof(long)), sizeof(long), MPI_INFO_NULL,
                   MPI_COMM_WORLD, &win);
    put_and_get(report, win, window, rounds);
    accumulate(report, win, window, rounds);
    fetch_and_op(report, win, window);
    compare_and_swap(report, win, window);
    exclusive_epochs(report, win);
    MPI_Win_free(&win);
    return report.finish();
}
