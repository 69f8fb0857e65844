// A single-producer, single-consumer ring of frames in memory two processes
// share. The producer owns `head`, the consumer `tail`; both only grow and
// count bytes, so full and empty are never confused. A frame is a record
// header and its bytes, padded to 8; a frame that would straddle the end of
// the ring is preceded by a skip record, so every frame the consumer lends
// out is contiguous.
//
// The peer is another process: whatever it writes here may be garbage. The
// consumer keeps its own tail and checks every head and record against it,
// and a bad one marks the ring broken instead of being followed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <sys/uio.h>

namespace xen2mx::link::shm {

struct alignas(64) RingControl {
    alignas(64) std::atomic<uint64_t> head;
    alignas(64) std::atomic<uint64_t> tail;
    // Set by the consumer before it sleeps: the producer then rings it.
    alignas(64) std::atomic<uint32_t> sleeping;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);

inline constexpr uint32_t kSkipRecord = 0xffffffffu;
inline constexpr size_t kRecordHeader = 8;

constexpr size_t record_size(size_t length) { return kRecordHeader + ((length + 7) & ~size_t{7}); }

// The producer's end. Lives in the process that writes.
class RingWriter {
public:
    RingWriter() = default;
    RingWriter(RingControl* control, uint8_t* data, size_t capacity)
        : control_(control), data_(data), capacity_(capacity) {}

    // Whether a frame of `length` bytes fits now.
    bool fits(size_t length) const { return room_for(length) != 0; }

    // Appends a frame gathered from `parts`; false when it does not fit now.
    bool write(std::span<const iovec> parts, size_t length) {
        const size_t need = room_for(length);
        if (!need) return false;
        size_t at = head_ & (capacity_ - 1);
        if (capacity_ - at < record_size(length)) {
            put_header(at, kSkipRecord);
            head_ += capacity_ - at;
            at = 0;
        }
        put_header(at, static_cast<uint32_t>(length));
        uint8_t* out = data_ + at + kRecordHeader;
        for (const iovec& part : parts) {
            std::memcpy(out, part.iov_base, part.iov_len);
            out += part.iov_len;
        }
        head_ += record_size(length);
        control_->head.store(head_, std::memory_order_release);
        return true;
    }

    // After a write: whether the consumer asked to be woken. The fence keeps
    // the load from passing the store of head (the consumer does the mirror
    // image), so one side always sees the other.
    bool consumer_sleeping() const {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        return control_->sleeping.load(std::memory_order_relaxed) != 0;
    }

private:
    // Bytes the frame takes, skip record included; 0 when it does not fit.
    size_t room_for(size_t length) const {
        const size_t size = record_size(length);
        if (size > capacity_ / 2) return 0;
        const size_t at = head_ & (capacity_ - 1);
        const size_t need = size + (capacity_ - at < size ? capacity_ - at : 0);
        const uint64_t tail = control_->tail.load(std::memory_order_acquire);
        const uint64_t used = head_ - tail;
        if (used > capacity_) return 0;  // a consumer writing nonsense gets nothing more
        return capacity_ - used >= need ? need : 0;
    }
    void put_header(size_t at, uint32_t length) {
        std::memcpy(data_ + at, &length, sizeof length);
        std::memset(data_ + at + 4, 0, 4);
    }

    RingControl* control_ = nullptr;
    uint8_t* data_ = nullptr;
    size_t capacity_ = 0;
    uint64_t head_ = 0;
};

// The consumer's end. Lives in the process that reads.
class RingReader {
public:
    RingReader() = default;
    RingReader(RingControl* control, const uint8_t* data, size_t capacity, size_t max_frame)
        : control_(control), data_(data), capacity_(capacity), max_frame_(max_frame) {}

    bool broken() const { return broken_; }
    bool empty() const { return control_->head.load(std::memory_order_acquire) == tail_; }

    // Lends the next frame to `take(span)`; false when there is none (or the
    // ring is broken). The frame's bytes are released once take returns.
    template <class Take>
    bool read(Take&& take) {
        if (broken_) return false;
        const uint64_t head = control_->head.load(std::memory_order_acquire);
        for (;;) {
            if (head == tail_) return false;
            if (head - tail_ > capacity_ || ((head - tail_) & 7)) return fail();
            const size_t at = tail_ & (capacity_ - 1);
            uint32_t length;
            std::memcpy(&length, data_ + at, sizeof length);
            if (length == kSkipRecord) {
                tail_ += capacity_ - at;
                control_->tail.store(tail_, std::memory_order_release);
                continue;
            }
            const size_t size = record_size(length);
            if (length > max_frame_ || size > capacity_ - at || size > head - tail_) return fail();
            take(std::span<const uint8_t>(data_ + at + kRecordHeader, length));
            tail_ += size;
            control_->tail.store(tail_, std::memory_order_release);
            return true;
        }
    }

    // Asks the producer to ring; false (and no request) when frames wait.
    bool arm() {
        control_->sleeping.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (broken_ || control_->head.load(std::memory_order_relaxed) == tail_) return true;
        disarm();
        return false;
    }
    void disarm() {
        if (control_->sleeping.load(std::memory_order_relaxed)) control_->sleeping.store(0, std::memory_order_relaxed);
    }

private:
    bool fail() {
        broken_ = true;
        return false;
    }

    RingControl* control_ = nullptr;
    const uint8_t* data_ = nullptr;
    size_t capacity_ = 0;
    size_t max_frame_ = 0;
    uint64_t tail_ = 0;
    bool broken_ = false;
};

}  // namespace xen2mx::link::shm
