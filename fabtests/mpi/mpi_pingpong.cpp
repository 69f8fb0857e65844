// MPI ping-pong between ranks 0 and 1 (MPI_Send/MPI_Recv of bytes), for
// make bench and its MPI smoke test: per message size, the mean one-way
// latency (half a timed round trip) and the bandwidth it gives (size divided
// by that latency, in MB/s of 10^6 bytes, as fi_pingpong counts them).
//   mpi_pingpong [-s SIZES] [-i ITERATIONS] [-w WARMUP]
// SIZES is a comma-separated list of byte counts (default
// 8,256,4096,65536,1048576); ITERATIONS and WARMUP, the timed and untimed
// round trips of every size (default: fewer for large sizes, a tenth of them
// untimed first). Other ranks than 0 and 1 only wait.
//
// A size's figures are printed only when every message of it arrived intact:
// each message carries its round-trip number in its first and last eight
// bytes, checked on every receipt, and the last message of each direction is
// compared whole with the pattern it was filled with (the receive buffer is
// cleared after the warm-up, so those bytes came with the timed messages).
// Output of rank 0, after a "PASS: mpi_pingpong: N bytes" line per size:
//   "        bytes  iterations   usec/xfer        MB/s"
//   "            8       20000       1.234        6.48"
// The exit status is 0 when every size passed.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "report.hpp"

namespace {

using x2m_mpi::Report;
using Bytes = std::vector<std::uint8_t>;

constexpr int kTag = 77;

struct Options {
    std::vector<long> sizes{8, 256, 4096, 65536, 1048576};
    long iterations = 0;  // 0: by size
    long warmup = -1;     // -1: a tenth of the iterations
};

int usage(const char* program) {
    std::fprintf(stderr, "usage: %s [-s SIZE[,SIZE...]] [-i ITERATIONS] [-w WARMUP]\n", program);
    return 2;
}

bool parse_count(const char* text, long minimum, long& value) {
    char* end = nullptr;
    long parsed = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || parsed < minimum) return false;
    value = parsed;
    return true;
}

bool parse_sizes(const char* text, std::vector<long>& sizes) {
    sizes.clear();
    std::string list(text);
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        long size = 0;
        // At most 1 GiB: the count of an MPI_BYTE message is an int.
        if (!parse_count(list.substr(start, comma - start).c_str(), 0, size) || size > (1L << 30)) return false;
        sizes.push_back(size);
        start = comma + 1;
    }
    return !sizes.empty();
}

// Round trips for a size: enough for a stable mean, fewer for large messages.
long default_iterations(long size) {
    if (size <= 4096) return 20000;
    if (size <= 65536) return 5000;
    if (size <= 1048576) return 500;
    return 100;
}

// The stamp that the message of round trip `trip` carries in direction
// `from` (0: ping, 1: pong).
std::uint64_t stamp_of(int from, long size, long trip) {
    return x2m_mpi::pattern_word(x2m_mpi::seed_of(from, 1 - from, kTag, static_cast<std::uint64_t>(size)),
                                 0x100000000ULL + static_cast<std::uint64_t>(trip));
}

// Where the stamp goes: the first eight bytes (fewer in a shorter message),
// and the last eight when they do not overlap the first.
std::size_t head_length(std::size_t size) { return size < 8 ? size : 8; }
bool has_tail(std::size_t size) { return size >= 16; }

void put_stamp(std::uint8_t* message, std::size_t length, std::uint64_t stamp) {
    std::memcpy(message, &stamp, head_length(length));
    if (has_tail(length)) std::memcpy(message + length - 8, &stamp, 8);
}

bool stamp_intact(const std::uint8_t* message, std::size_t length, std::uint64_t stamp) {
    if (std::memcmp(message, &stamp, head_length(length)) != 0) return false;
    return !has_tail(length) || std::memcmp(message + length - 8, &stamp, 8) == 0;
}

class PingPong {
public:
    PingPong(Report& report, long size) : report_(report), size_(size) {
        const int me = report.rank();
        const auto length = static_cast<std::size_t>(size);
        out_.resize(length);
        x2m_mpi::fill(out_, seed(me));
        // One byte more than a message: a longer one than sent shows in its count.
        in_.assign(length + 1, 0);
        peer_ = 1 - me;
    }

    // `count` round trips numbered from `first`; returns the seconds they took
    // (on rank 0, which times them).
    double run(long first, long count) {
        const int me = report_.rank();
        const int length = static_cast<int>(size_);
        MPI_Barrier(MPI_COMM_WORLD);
        const double start = MPI_Wtime();
        for (long trip = first; trip < first + count; ++trip) {
            if (me == 0) {
                put_stamp(out_.data(), out_.size(), stamp_of(0, size_, trip));
                MPI_Send(out_.data(), length, MPI_BYTE, peer_, kTag, MPI_COMM_WORLD);
                MPI_Recv(in_.data(), length + 1, MPI_BYTE, peer_, kTag, MPI_COMM_WORLD, &status_);
            } else {
                MPI_Recv(in_.data(), length + 1, MPI_BYTE, peer_, kTag, MPI_COMM_WORLD, &status_);
                put_stamp(out_.data(), out_.size(), stamp_of(1, size_, trip));
                MPI_Send(out_.data(), length, MPI_BYTE, peer_, kTag, MPI_COMM_WORLD);
            }
            if (!stamp_intact(in_.data(), out_.size(), stamp_of(peer_, size_, trip)) && !stamp_failed_) {
                stamp_failed_ = true;
                report_.fail("%ld bytes: the message of round trip %ld does not carry its number", size_, trip);
            }
        }
        const double seconds = MPI_Wtime() - start;
        last_trip_ = first + count - 1;
        return seconds;
    }

    // Zeroes what has been received, so that the final check sees only
    // what came after.
    void clear_received() { std::fill(in_.begin(), in_.end(), 0); }

    // The last message received, whole: its length, then every byte.
    void check_last() {
        int count = -1;
        MPI_Get_count(&status_, MPI_BYTE, &count);
        if (count != size_) {
            report_.fail("%ld bytes: the last message had %d bytes", size_, count);
            return;
        }
        Bytes expected(static_cast<std::size_t>(size_));
        x2m_mpi::fill(expected, seed(peer_));
        put_stamp(expected.data(), expected.size(), stamp_of(peer_, size_, last_trip_));
        for (std::size_t i = 0; i < expected.size(); ++i) {
            if (in_[i] != expected[i]) {
                report_.fail("%ld bytes: byte %zu of the last message is 0x%02x, expected 0x%02x", size_, i, in_[i],
                             expected[i]);
                return;
            }
        }
        if (in_[expected.size()] != 0) report_.fail("%ld bytes: a byte written past the message", size_);
    }

private:
    std::uint64_t seed(int from) const {
        return x2m_mpi::seed_of(from, 1 - from, kTag, static_cast<std::uint64_t>(size_));
    }

    Report& report_;
    long size_;
    int peer_ = 1;
    Bytes out_;
    Bytes in_;
    MPI_Status status_{};
    long last_trip_ = -1;
    bool stamp_failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    Report report("mpi_pingpong");

    Options options;
    bool good = true;
    for (int i = 1; i < argc && good; ++i) {
        const std::string flag = argv[i];
        const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
        if (value == nullptr)
            good = false;
        else if (flag == "-s")
            good = parse_sizes(value, options.sizes);
        else if (flag == "-i")
            good = parse_count(value, 1, options.iterations);
        else if (flag == "-w")
            good = parse_count(value, 0, options.warmup);
        else
            good = false;
        ++i;
    }
    if (!good || report.size() < 2) {
        if (report.rank() == 0) {
            if (report.size() < 2) std::fprintf(stderr, "mpi_pingpong: needs at least 2 ranks\n");
            usage(argv[0]);
        }
        MPI_Finalize();
        return 2;
    }

    if (report.rank() == 0) {
        std::printf("# mpi_pingpong: ranks 0 and 1, MPI_Send/MPI_Recv; usec/xfer: half a round trip, "
                    "MB/s: bytes / usec/xfer\n");
        std::fflush(stdout);
    }
    std::vector<std::string> results;
    for (long size : options.sizes) {
        const long iterations = options.iterations > 0 ? options.iterations : default_iterations(size);
        const long warmup = options.warmup >= 0 ? options.warmup : iterations / 10;
        double seconds = 0;
        if (report.rank() < 2) {
            PingPong pingpong(report, size);
            pingpong.run(0, warmup);
            pingpong.clear_received();
            seconds = pingpong.run(warmup, iterations);
            pingpong.check_last();
        } else {
            // Bystanders meet the two barriers of run().
            MPI_Barrier(MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD);
        }
        char name[64];
        std::snprintf(name, sizeof name, "%ld bytes", size);
        if (report.part(name) && report.rank() == 0) {
            const double usec = seconds * 1e6 / (2.0 * static_cast<double>(iterations));
            const double mbps = usec > 0 ? static_cast<double>(size) / usec : 0;
            char line[128];
            std::snprintf(line, sizeof line, "%13ld %11ld %11.3f %11.2f", size, iterations, usec, mbps);
            results.emplace_back(line);
        }
    }
    if (report.rank() == 0) {
        std::printf("%13s %11s %11s %11s\n", "bytes", "iterations", "usec/xfer", "MB/s");
        for (const std::string& line : results) std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    }
    return report.finish();
}
