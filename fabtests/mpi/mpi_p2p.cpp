// Point-to-point MPI over the provider: every size class with its contents
// checked, wildcards, probes and matched probes, synchronous sends, hundreds
// of requests in flight at once, a canceled receive, and a rank that stays
// away longer than the peer timeout.
//   mpi_p2p [rounds]     (default 2)
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "report.hpp"

namespace {

using x2m_mpi::first_difference;
using x2m_mpi::kIntact;
using x2m_mpi::Report;
using x2m_mpi::seed_of;
using Bytes = std::vector<std::uint8_t>;

// One of each size class of the provider: empty, tiny, small, medium
// (one and several fragments), the rendezvous threshold on both sides, large.
constexpr int kSizes[] = {0,         1,         32,        128,         4096,           32767,
                          32 * 1024, 32769,     64 * 1024, 1024 * 1024, 8 * 1024 * 1024};

Bytes message(int source, int dest, int tag, std::uint64_t round, int length) {
    Bytes data(static_cast<std::size_t>(length));
    x2m_mpi::fill(data, seed_of(source, dest, tag, round));
    return data;
}

// Checks what a receive says and got against what (source, tag, round) sent.
void check_received(Report& report, const char* what, const MPI_Status& status, const Bytes& data, int source,
                    int tag, std::uint64_t round, int length) {
    if (status.MPI_SOURCE != source) report.fail("%s: source %d, expected %d", what, status.MPI_SOURCE, source);
    if (status.MPI_TAG != tag) report.fail("%s: tag %d, expected %d", what, status.MPI_TAG, tag);
    int count = -1;
    MPI_Get_count(&status, MPI_BYTE, &count);
    if (count != length) {
        report.fail("%s: %d bytes received, expected %d", what, count, length);
        return;
    }
    std::span<const std::uint8_t> got(data.data(), static_cast<std::size_t>(length));
    std::size_t at = first_difference(got, seed_of(source, report.rank(), tag, round));
    if (at != kIntact)
        report.fail("%s: %d bytes from rank %d tag %d: byte %zu is 0x%02x, expected 0x%02x", what, length, source,
                    tag, at, got[at], x2m_mpi::pattern_byte(seed_of(source, report.rank(), tag, round), at));
}

// Every size around the ring: each rank sends to the next and receives from
// the previous one, with the receive posted first, then posted late.
void every_size(Report& report, int rounds) {
    const int next = (report.rank() + 1) % report.size();
    const int prev = (report.rank() + report.size() - 1) % report.size();
    for (int round = 0; round < rounds; ++round) {
        for (int length : kSizes) {
            const int tag = 100 + length % 1000;
            Bytes out = message(report.rank(), next, tag, round, length);
            Bytes in(static_cast<std::size_t>(length) + 16, 0xee);
            MPI_Request request;
            MPI_Status status;
            if (round % 2 == 0) {
                // The receive waits for its message.
                MPI_Irecv(in.data(), length + 16, MPI_BYTE, prev, tag, MPI_COMM_WORLD, &request);
                MPI_Send(out.data(), length, MPI_BYTE, next, tag, MPI_COMM_WORLD);
                MPI_Wait(&request, &status);
            } else {
                // The message waits for its receive.
                MPI_Isend(out.data(), length, MPI_BYTE, next, tag, MPI_COMM_WORLD, &request);
                MPI_Barrier(MPI_COMM_WORLD);
                MPI_Recv(in.data(), length + 16, MPI_BYTE, prev, tag, MPI_COMM_WORLD, &status);
                MPI_Wait(&request, MPI_STATUS_IGNORE);
            }
            char what[64];
            std::snprintf(what, sizeof what, "size %d round %d", length, round);
            check_received(report, what, status, in, prev, tag, round, length);
            for (std::size_t i = static_cast<std::size_t>(length); i < in.size(); ++i)
                if (in[i] != 0xee) {
                    report.fail("%s: byte %zu past the message was written", what, i);
                    break;
                }
        }
    }
    report.part("every size, contents checked");
}

// Rank 0 takes messages from everyone with MPI_ANY_SOURCE and MPI_ANY_TAG:
// each arrives once, with its own source, tag and contents, and the messages
// of one sender in the order they were sent.
void wildcards(Report& report, int rounds) {
    const int per_sender = 8 * rounds;
    auto length_of = [](int index) { return (index * 977) % 5000 + (index % 4 == 3 ? 40000 : 0); };
    auto tag_of = [](int source, int index) { return 1000 + source * 64 + index; };
    if (report.rank() != 0) {
        for (int index = 0; index < per_sender; ++index) {
            const int tag = tag_of(report.rank(), index);
            Bytes out = message(report.rank(), 0, tag, 7, length_of(index));
            MPI_Send(out.data(), static_cast<int>(out.size()), MPI_BYTE, 0, tag, MPI_COMM_WORLD);
        }
    } else {
        std::vector<int> next_index(static_cast<std::size_t>(report.size()), 0);
        Bytes in(64 * 1024);
        for (int received = 0; received < per_sender * (report.size() - 1); ++received) {
            MPI_Status status;
            MPI_Recv(in.data(), static_cast<int>(in.size()), MPI_BYTE, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD,
                     &status);
            const int source = status.MPI_SOURCE;
            if (source <= 0 || source >= report.size()) {
                report.fail("ANY_SOURCE: source %d out of range", source);
                continue;
            }
            const int index = next_index[static_cast<std::size_t>(source)]++;
            check_received(report, "ANY_SOURCE/ANY_TAG", status, in, source, tag_of(source, index), 7,
                           length_of(index));
        }
        for (int source = 1; source < report.size(); ++source)
            if (next_index[static_cast<std::size_t>(source)] != per_sender)
                report.fail("ANY_SOURCE: %d messages from rank %d, expected %d",
                            next_index[static_cast<std::size_t>(source)], source, per_sender);
    }
    report.part("MPI_ANY_SOURCE and MPI_ANY_TAG");

    // A wildcard on one side only: a given tag from any source, then any tag
    // from a given source, with decoys under other tags waiting meanwhile.
    if (report.rank() != 0) {
        Bytes decoy = message(report.rank(), 0, 77, 8, 64);
        Bytes wanted = message(report.rank(), 0, 66, 8, 300);
        MPI_Send(decoy.data(), 64, MPI_BYTE, 0, 77, MPI_COMM_WORLD);
        MPI_Send(wanted.data(), 300, MPI_BYTE, 0, 66, MPI_COMM_WORLD);
    } else {
        Bytes in(1024);
        std::vector<int> seen(static_cast<std::size_t>(report.size()), 0);
        for (int i = 1; i < report.size(); ++i) {
            MPI_Status status;
            MPI_Recv(in.data(), 1024, MPI_BYTE, MPI_ANY_SOURCE, 66, MPI_COMM_WORLD, &status);
            if (status.MPI_SOURCE > 0 && status.MPI_SOURCE < report.size()) {
                ++seen[static_cast<std::size_t>(status.MPI_SOURCE)];
                check_received(report, "ANY_SOURCE, tag 66", status, in, status.MPI_SOURCE, 66, 8, 300);
            } else {
                report.fail("ANY_SOURCE, tag 66: source %d", status.MPI_SOURCE);
            }
        }
        for (int source = 1; source < report.size(); ++source) {
            if (seen[static_cast<std::size_t>(source)] != 1)
                report.fail("ANY_SOURCE, tag 66: %d messages from rank %d", seen[static_cast<std::size_t>(source)],
                            source);
            MPI_Status status;
            MPI_Recv(in.data(), 1024, MPI_BYTE, source, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
            check_received(report, "rank given, ANY_TAG", status, in, source, 77, 8, 64);
        }
    }
    report.part("one-sided wildcards");
}

// MPI_Probe, MPI_Iprobe, MPI_Mprobe/MPI_Mrecv and MPI_Improbe/MPI_Imrecv
// around the ring, small and rendezvous messages, sizes learnt from the probe.
void probes(Report& report, int rounds) {
    const int next = (report.rank() + 1) % report.size();
    const int prev = (report.rank() + report.size() - 1) % report.size();
    constexpr int kLengths[] = {0, 100, 5000, 70000, 2 * 1024 * 1024};
    for (int round = 0; round < rounds; ++round) {
        for (int length : kLengths) {
            for (int kind = 0; kind < 4; ++kind) {
                const int tag = 200 + kind;
                Bytes out = message(report.rank(), next, tag, round, length);
                MPI_Request send;
                MPI_Isend(out.data(), length, MPI_BYTE, next, tag, MPI_COMM_WORLD, &send);
                MPI_Status status;
                MPI_Message matched = MPI_MESSAGE_NULL;
                static const char* const kNames[] = {"MPI_Probe", "MPI_Iprobe", "MPI_Mprobe", "MPI_Improbe"};
                const char* what = kNames[kind];
                int flag = 0;
                switch (kind) {
                    case 0: MPI_Probe(prev, MPI_ANY_TAG, MPI_COMM_WORLD, &status); break;
                    case 1:
                        while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &status);
                        break;
                    case 2: MPI_Mprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &matched, &status); break;
                    default:
                        while (!flag) MPI_Improbe(prev, tag, MPI_COMM_WORLD, &flag, &matched, &status);
                        break;
                }
                int count = -1;
                MPI_Get_count(&status, MPI_BYTE, &count);
                if (count != length) report.fail("%s: probe says %d bytes, expected %d", what, count, length);
                if (status.MPI_SOURCE != prev || status.MPI_TAG != tag)
                    report.fail("%s: probe says rank %d tag %d, expected rank %d tag %d", what, status.MPI_SOURCE,
                                status.MPI_TAG, prev, tag);
                Bytes in(static_cast<std::size_t>(count > 0 ? count : 0));
                MPI_Status received;
                if (kind == 2) {
                    MPI_Mrecv(in.data(), count, MPI_BYTE, &matched, &received);
                } else if (kind == 3) {
                    MPI_Request request;
                    MPI_Imrecv(in.data(), count, MPI_BYTE, &matched, &request);
                    MPI_Wait(&request, &received);
                } else {
                    MPI_Recv(in.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
                             &received);
                }
                if (matched != MPI_MESSAGE_NULL) report.fail("%s: the matched message is not consumed", what);
                check_received(report, what, received, in, prev, tag, round, length);
                MPI_Wait(&send, MPI_STATUS_IGNORE);
            }
        }
    }
    // Nothing was sent under this tag: the probes find nothing.
    int flag = 1;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, 299, MPI_COMM_WORLD, &flag, &status);
    if (flag) report.fail("MPI_Iprobe found a message never sent (rank %d tag %d)", status.MPI_SOURCE, status.MPI_TAG);
    MPI_Message matched = MPI_MESSAGE_NULL;
    flag = 1;
    MPI_Improbe(MPI_ANY_SOURCE, 299, MPI_COMM_WORLD, &flag, &matched, &status);
    if (flag) report.fail("MPI_Improbe found a message never sent");
    MPI_Barrier(MPI_COMM_WORLD);
    report.part("probe, iprobe, mprobe/mrecv, improbe/imrecv");
}

// A synchronous send completes only once its receive has matched it: the
// receiver posts that receive only after a second message, sent by the
// sender after watching its synchronous send stay incomplete.
void synchronous(Report& report, int rounds) {
    const int pairs = report.size() / 2 * 2;
    if (report.rank() < pairs) {
        const int peer = report.rank() ^ 1;
        const bool sender = report.rank() % 2 == 0;
        constexpr int kLengths[] = {0, 8, 4096, 100000};
        for (int round = 0; round < rounds; ++round) {
            for (int length : kLengths) {
                const int tag = 300 + round;
                if (sender) {
                    Bytes out = message(report.rank(), peer, tag, round, length);
                    MPI_Request request;
                    MPI_Issend(out.data(), length, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &request);
                    int done = 0;
                    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
                    while (!done && std::chrono::steady_clock::now() < until) {
                        MPI_Test(&request, &done, MPI_STATUS_IGNORE);
                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    }
                    if (done)
                        report.fail("MPI_Issend of %d bytes completed before its receive was posted", length);
                    MPI_Send(nullptr, 0, MPI_BYTE, peer, 399, MPI_COMM_WORLD);
                    if (!done) MPI_Wait(&request, MPI_STATUS_IGNORE);
                    // A blocking synchronous send to a receive already posted.
                    Bytes second = message(report.rank(), peer, tag + 50, round, length);
                    MPI_Recv(nullptr, 0, MPI_BYTE, peer, 398, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    MPI_Ssend(second.data(), length, MPI_BYTE, peer, tag + 50, MPI_COMM_WORLD);
                } else {
                    MPI_Recv(nullptr, 0, MPI_BYTE, peer, 399, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    Bytes in(static_cast<std::size_t>(length));
                    MPI_Status status;
                    MPI_Recv(in.data(), length, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &status);
                    check_received(report, "MPI_Issend", status, in, peer, tag, round, length);
                    MPI_Request request;
                    MPI_Irecv(in.data(), length, MPI_BYTE, peer, tag + 50, MPI_COMM_WORLD, &request);
                    MPI_Send(nullptr, 0, MPI_BYTE, peer, 398, MPI_COMM_WORLD);
                    MPI_Wait(&request, &status);
                    check_received(report, "MPI_Ssend", status, in, peer, tag + 50, round, length);
                }
            }
        }
    }
    report.part("MPI_Ssend and MPI_Issend");
}

// Hundreds of requests in flight: receives posted before their messages, then
// messages sent before their receives (the unexpected queue), with a
// rendezvous message every few, all completed by one MPI_Waitall.
void many_in_flight(Report& report, int count) {
    const int next = (report.rank() + 1) % report.size();
    const int prev = (report.rank() + report.size() - 1) % report.size();
    auto length_of = [](int index) { return index % 25 == 24 ? 40000 + index : (index * 37) % 2048; };
    for (int phase = 0; phase < 2; ++phase) {
        std::vector<Bytes> out(static_cast<std::size_t>(count));
        std::vector<Bytes> in(static_cast<std::size_t>(count));
        std::vector<MPI_Request> requests(static_cast<std::size_t>(2 * count));
        std::vector<MPI_Status> statuses(static_cast<std::size_t>(2 * count));
        auto post_receives = [&] {
            // In reverse tag order, so that matching searches the posted queue.
            for (int index = count - 1; index >= 0; --index) {
                auto i = static_cast<std::size_t>(index);
                in[i].assign(static_cast<std::size_t>(length_of(index)), 0);
                MPI_Irecv(in[i].data(), length_of(index), MPI_BYTE, prev, 1000 + index, MPI_COMM_WORLD,
                          &requests[i]);
            }
        };
        auto post_sends = [&] {
            for (int index = 0; index < count; ++index) {
                auto i = static_cast<std::size_t>(index);
                out[i] = message(report.rank(), next, 1000 + index, 9 + phase, length_of(index));
                MPI_Isend(out[i].data(), length_of(index), MPI_BYTE, next, 1000 + index, MPI_COMM_WORLD,
                          &requests[static_cast<std::size_t>(count) + i]);
            }
        };
        if (phase == 0) {
            post_receives();
            MPI_Barrier(MPI_COMM_WORLD);
            post_sends();
        } else {
            post_sends();
            MPI_Barrier(MPI_COMM_WORLD);
            post_receives();
        }
        int rc = MPI_Waitall(2 * count, requests.data(), statuses.data());
        if (rc != MPI_SUCCESS) report.fail("MPI_Waitall returned %d", rc);
        for (int index = 0; index < count; ++index) {
            char what[64];
            std::snprintf(what, sizeof what, "%s, request %d", phase == 0 ? "receives first" : "sends first",
                          index);
            check_received(report, what, statuses[static_cast<std::size_t>(index)],
                           in[static_cast<std::size_t>(index)], prev, 1000 + index, 9 + phase, length_of(index));
        }
    }
    char name[64];
    std::snprintf(name, sizeof name, "%d sends and %d receives in flight", count, count);
    report.part(name);
}

// A receive nobody sent to is canceled (MPI_Cancel, MPI_Test_cancelled);
// the message sent afterwards under its tag goes to the next receive.
void cancel(Report& report) {
    const int next = (report.rank() + 1) % report.size();
    const int prev = (report.rank() + report.size() - 1) % report.size();
    Bytes in(256, 0);
    MPI_Request request;
    MPI_Irecv(in.data(), 256, MPI_BYTE, MPI_ANY_SOURCE, 450, MPI_COMM_WORLD, &request);
    MPI_Cancel(&request);
    MPI_Status status;
    MPI_Wait(&request, &status);
    int cancelled = 0;
    MPI_Test_cancelled(&status, &cancelled);
    if (!cancelled) report.fail("MPI_Cancel: a receive no message matched was not canceled");
    MPI_Barrier(MPI_COMM_WORLD);
    Bytes out = message(report.rank(), next, 450, 11, 200);
    MPI_Request send;
    MPI_Isend(out.data(), 200, MPI_BYTE, next, 450, MPI_COMM_WORLD, &send);
    MPI_Recv(in.data(), 256, MPI_BYTE, MPI_ANY_SOURCE, 450, MPI_COMM_WORLD, &status);
    check_received(report, "after MPI_Cancel", status, in, prev, 450, 11, 200);
    MPI_Wait(&send, MPI_STATUS_IGNORE);
    report.part("MPI_Cancel of a receive");
}

// Rank 0 goes computing for longer than the provider's peer timeout
// (FI_XEN2MX_PEER_TIMEOUT, when set to 10 s or less), with a large receive
// posted: the others' eager sends still complete while it is away, and its
// receive is pulled meanwhile, complete when it comes back.
void away(Report& report) {
    const char* timeout = std::getenv("FI_XEN2MX_PEER_TIMEOUT");
    const int timeout_ms = timeout ? std::atoi(timeout) : 0;
    if (timeout_ms <= 0 || timeout_ms > 10000 || report.size() < 2) return;
    const double away_s = (timeout_ms + 1000) / 1000.0;
    constexpr int kLarge = 1024 * 1024;
    if (report.rank() == 0) {
        Bytes large(kLarge, 0);
        MPI_Request request;
        MPI_Irecv(large.data(), kLarge, MPI_BYTE, 1, 460, MPI_COMM_WORLD, &request);
        MPI_Barrier(MPI_COMM_WORLD);
        std::this_thread::sleep_for(std::chrono::duration<double>(away_s));
        int done = 0;
        MPI_Status status;
        MPI_Test(&request, &done, &status);
        if (!done) {
            report.fail("a large receive posted before going away was not pulled meanwhile");
            MPI_Wait(&request, &status);
        }
        check_received(report, "large receive while away", status, large, 1, 460, 12, kLarge);
        Bytes small(64);
        for (int source = 1; source < report.size(); ++source) {
            MPI_Recv(small.data(), 64, MPI_BYTE, source, 461, MPI_COMM_WORLD, &status);
            check_received(report, "eager message while away", status, small, source, 461, 12, 64);
        }
    } else {
        Bytes large = message(report.rank(), 0, 460, 12, kLarge);
        Bytes small = message(report.rank(), 0, 461, 12, 64);
        MPI_Barrier(MPI_COMM_WORLD);
        const double start = MPI_Wtime();
        MPI_Send(small.data(), 64, MPI_BYTE, 0, 461, MPI_COMM_WORLD);
        if (report.rank() == 1) MPI_Send(large.data(), kLarge, MPI_BYTE, 0, 460, MPI_COMM_WORLD);
        const double waited = MPI_Wtime() - start;
        if (waited > away_s / 2)
            report.fail("sends to a rank away took %.3f s: they waited for it to come back", waited);
    }
    char name[96];
    std::snprintf(name, sizeof name, "a rank away for %.1f s, past the peer timeout", away_s);
    report.part(name);
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 2;
    Report report("mpi_p2p");
    every_size(report, rounds);
    wildcards(report, rounds);
    probes(report, rounds);
    synchronous(report, rounds);
    many_in_flight(report, 500);
    cancel(report);
    away(report);
    return report.finish();
}
