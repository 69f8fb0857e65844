// What the MPI test programs share: a report of failed checks, gathered over
// all ranks at the end of each part ("PASS: part" or "FAIL: part" printed by
// rank 0), and message contents that depend on every byte's position.
#pragma once

#include <mpi.h>

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>

namespace x2m_mpi {

class Report {
public:
    explicit Report(const char* program) : program_(program) {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
    }

    int rank() const { return rank_; }
    int size() const { return size_; }

    // Records a failed check and says what differed (the first few per part).
    __attribute__((format(printf, 2, 3))) void fail(const char* format, ...) {
        if (++part_failures_ <= kShownPerPart) {
            std::va_list args;
            va_start(args, format);
            char text[512];
            std::vsnprintf(text, sizeof text, format, args);
            va_end(args);
            std::printf("%s: rank %d/%d: %s\n", program_, rank_, size_, text);
            std::fflush(stdout);
        }
    }

    // Ends a part: every rank takes part; rank 0 prints its verdict. True
    // when no rank failed a check in it.
    bool part(const char* name) {
        int failures = 0;
        MPI_Allreduce(&part_failures_, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank_ == 0) {
            if (failures == 0)
                std::printf("PASS: %s: %s (%d ranks)\n", program_, name, size_);
            else
                std::printf("FAIL: %s: %s (%d ranks): %d check(s) failed\n", program_, name, size_, failures);
            std::fflush(stdout);
        }
        total_failures_ += failures;
        part_failures_ = 0;
        return failures == 0;
    }

    // Finalizes MPI; the exit status of the program.
    int finish() {
        MPI_Finalize();
        return total_failures_ == 0 ? 0 : 1;
    }

private:
    static constexpr int kShownPerPart = 8;
    const char* program_;
    int rank_ = 0;
    int size_ = 0;
    int part_failures_ = 0;
    int total_failures_ = 0;
};

// The seed of one message: who sent it to whom, under which tag, in which round.
inline std::uint64_t seed_of(int source, int dest, int tag, std::uint64_t round) {
    return (static_cast<std::uint64_t>(source) << 48) ^ (static_cast<std::uint64_t>(dest) << 32) ^
           (static_cast<std::uint64_t>(static_cast<std::uint32_t>(tag)) << 8) ^ round;
}

// Eight bytes of the message with this seed at word `index`: a bijective mix,
// so that a fragment misplaced anywhere in the message shows.
inline std::uint64_t pattern_word(std::uint64_t seed, std::uint64_t index) {
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + index + 1;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

inline std::uint8_t pattern_byte(std::uint64_t seed, std::size_t offset) {
    return static_cast<std::uint8_t>(pattern_word(seed, offset / 8) >> (8 * (offset % 8)));
}

inline void fill(std::span<std::uint8_t> buffer, std::uint64_t seed) {
    for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = pattern_byte(seed, i);
}

inline constexpr std::size_t kIntact = static_cast<std::size_t>(-1);

// The offset of the first byte that differs from the pattern, or kIntact.
inline std::size_t first_difference(std::span<const std::uint8_t> buffer, std::uint64_t seed) {
    for (std::size_t i = 0; i < buffer.size(); ++i)
        if (buffer[i] != pattern_byte(seed, i)) return i;
    return kIntact;
}

}  // namespace x2m_mpi
