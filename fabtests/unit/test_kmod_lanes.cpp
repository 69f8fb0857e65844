// The kmod link's lane reader over a mapping laid out as a guest's
// xen2mx-front.ko lays it out (uapi/xen2mx.h, "Lanes"), written here as the
// other guest's kernel would write it, and as a hostile one could: frames
// arrive whole, in order and out of the other guest's reach; a frame from
// another board, one longer than its slot, a producer running ahead and a
// lane entry pointing outside the mapping are dropped, never read past.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "link/kmod_lanes.hpp"

namespace xen2mx::link {
namespace {

constexpr size_t kPage = 4096;
constexpr uint64_t kPeerMac = 0x02aabbccdd01;
constexpr uint8_t kPeerEndpoint = 7;

struct Got {
    std::vector<uint8_t> frame;
    Route from;
    int source;
    const uint8_t* where;
};

class Collector final : public FrameSink {
public:
    void on_frame(std::span<const uint8_t> frame, const Route& from) override {
        got.push_back({{frame.begin(), frame.end()}, from, -1, frame.data()});
    }
    void on_frame_from(std::span<const uint8_t> frame, const Route& from, uint8_t source) override {
        got.push_back({{frame.begin(), frame.end()}, from, source, frame.data()});
    }
    std::vector<Got> got;
};

// A ctl page, then lane 0 (a head page and two pages of four 2 KiB slots)
// from page 1 on, and room after it.
class Mapping {
public:
    static constexpr uint32_t kSlots = 4, kSlotBytes = 2048;

    Mapping() : memory_(16 * kPage + kPage) {
        base_ = memory_.data() + (kPage - reinterpret_cast<uintptr_t>(memory_.data()) % kPage) % kPage;
        table()->magic = XEN2MX_LANES_MAGIC;
    }
    uint8_t* base() { return base_; }
    size_t bytes() const { return 16 * kPage; }
    xen2mx_lanes* table() { return reinterpret_cast<xen2mx_lanes*>(base_ + XEN2MX_LANES_OFFSET); }
    xen2mx_lane_head* head(uint32_t offset = kPage) { return reinterpret_cast<xen2mx_lane_head*>(base_ + offset); }

    void open_lane(uint32_t index, uint32_t offset = kPage, uint32_t slots = kSlots, uint32_t generation = 1) {
        xen2mx_lane_info& info = table()->lane[index];
        info.generation = generation;
        info.offset = offset;
        info.slots = slots;
        info.slot_bytes = kSlotBytes;
        for (int i = 0; i < 6; ++i) info.peer_mac[i] = static_cast<uint8_t>(kPeerMac >> (40 - 8 * i));
        info.peer_endpoint = kPeerEndpoint;
        info.state = XEN2MX_LANE_OPEN;
        table()->count = std::max(table()->count, index + 1);
    }

    // Writes a frame into the lane's next slot as the sending kernel does.
    std::vector<uint8_t> put(size_t length, uint64_t source_mac = kPeerMac, uint32_t offset = kPage,
                             uint32_t claimed = 0) {
        xen2mx_lane_head* h = head(offset);
        uint8_t* slot = base_ + offset + kPage + size_t{h->prod % kSlots} * kSlotBytes;
        std::vector<uint8_t> frame(length);
        for (size_t i = 0; i < length; ++i) frame[i] = static_cast<uint8_t>(i * 7 + h->prod);
        for (int i = 0; i < 6 && length >= 12; ++i) frame[6 + i] = static_cast<uint8_t>(source_mac >> (40 - 8 * i));
        reinterpret_cast<xen2mx_rx_slot*>(slot)->length = claimed ? claimed : static_cast<uint32_t>(length);
        std::memcpy(slot + sizeof(xen2mx_rx_slot), frame.data(), std::min<size_t>(length, kSlotBytes - 16));
        ++h->prod;
        return frame;
    }

private:
    std::vector<uint8_t> memory_;
    uint8_t* base_;
};

constexpr size_t kMaxFrame = 1514;

TEST(KmodLanes, AbsentWithoutTheMagic) {
    Mapping m;
    m.table()->magic = 0;
    KmodLanes lanes(m.base(), m.bytes(), kMaxFrame);
    EXPECT_FALSE(lanes.present());
    Mapping with;
    EXPECT_TRUE(KmodLanes(with.base(), with.bytes(), kMaxFrame).present());
}

TEST(KmodLanes, FramesArriveWholeInOrderAndCopied) {
    Mapping m;
    m.open_lane(0);
    KmodLanes lanes(m.base(), m.bytes(), kMaxFrame);
    Collector sink;
    EXPECT_EQ(lanes.poll(sink, 16), 0);
    std::vector<std::vector<uint8_t>> sent;
    for (size_t length : {60u, 1514u, 14u}) sent.push_back(m.put(length));
    EXPECT_EQ(lanes.poll(sink, 16), 3);
    ASSERT_EQ(sink.got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(sink.got[i].frame, sent[i]);
        EXPECT_EQ(sink.got[i].from.mac, kPeerMac);
        EXPECT_EQ(sink.got[i].source, kPeerEndpoint);
        // Handed over from a copy: the other guest cannot change it mid-parse.
        EXPECT_TRUE(sink.got[i].where < m.base() || sink.got[i].where >= m.base() + m.bytes());
    }
    EXPECT_EQ(m.head()->cons, 3u);
    // Around the ring, past its end, in budgets.
    for (int round = 0; round < 3; ++round) {
        sink.got.clear();
        std::vector<std::vector<uint8_t>> more;
        for (int i = 0; i < 4; ++i) more.push_back(m.put(100 + i));
        EXPECT_EQ(lanes.poll(sink, 3), 3);
        EXPECT_EQ(lanes.poll(sink, 3), 1);
        ASSERT_EQ(sink.got.size(), 4u);
        for (int i = 0; i < 4; ++i) EXPECT_EQ(sink.got[i].frame, more[i]);
    }
    EXPECT_EQ(lanes.dropped(), 0u);
}

TEST(KmodLanes, FramesOfAnotherBoardOrOutsideTheirSlotAreDropped) {
    Mapping m;
    m.open_lane(0);
    KmodLanes lanes(m.base(), m.bytes(), kMaxFrame);
    Collector sink;
    m.put(60, 0x02aabbccdd02);              // another board's
    m.put(60, kPeerMac, kPage, 5000);       // longer than its slot
    m.put(60, kPeerMac, kPage, 13);         // shorter than an Ethernet header
    const auto good = m.put(60);
    EXPECT_EQ(lanes.poll(sink, 16), 1);
    ASSERT_EQ(sink.got.size(), 1u);
    EXPECT_EQ(sink.got[0].frame, good);
    EXPECT_EQ(lanes.dropped(), 3u);
    EXPECT_EQ(m.head()->cons, 4u);
}

TEST(KmodLanes, AProducerRunningAheadIsNotBelieved) {
    Mapping m;
    m.open_lane(0);
    KmodLanes lanes(m.base(), m.bytes(), kMaxFrame);
    Collector sink;
    m.head()->prod = 1000;  // more frames than slots
    EXPECT_EQ(lanes.poll(sink, 16), 0);
    EXPECT_EQ(lanes.dropped(), 1u);
    EXPECT_EQ(m.head()->cons, 1000u);
    const auto next = m.put(80);  // from where it claimed to be
    EXPECT_EQ(lanes.poll(sink, 16), 1);
    ASSERT_EQ(sink.got.size(), 1u);
    EXPECT_EQ(sink.got[0].frame, next);
    // Whatever it writes as our consumer, ours is our own.
    m.head()->cons = 12345;
    m.put(80);
    EXPECT_EQ(lanes.poll(sink, 16), 1);
}

TEST(KmodLanes, EntriesOutsideTheMappingAreNeverRead) {
    Mapping m;
    KmodLanes lanes(m.base(), m.bytes(), kMaxFrame);
    Collector sink;
    m.open_lane(0, 15 * kPage);           // slots would run past the end
    m.open_lane(1, 20 * kPage);           // past the end
    m.open_lane(2, kPage + 8);            // not a page
    m.open_lane(3, kPage, 3);             // not a power of two
    m.open_lane(4, 0);                    // over the ctl page
    m.put(60);                            // frames a wrong entry would hand over
    m.put(60);
    EXPECT_EQ(lanes.poll(sink, 16), 0);
    EXPECT_TRUE(sink.got.empty());
    m.table()->count = 1000;              // more entries than the table has
    EXPECT_EQ(lanes.poll(sink, 16), 0);
}

TEST(KmodLanes, AReusedEntryStartsAfreshAndAClosedOneIsDrained) {
    Mapping m;
    m.open_lane(0);
    KmodLanes lanes(m.base(), m.bytes(), kMaxFrame);
    Collector sink;
    m.put(60);
    m.put(61);
    EXPECT_EQ(lanes.poll(sink, 16), 2);
    // Closed with a frame left: it is still taken.
    const auto last = m.put(62);
    m.table()->lane[0].state = XEN2MX_LANE_CLOSED;
    sink.got.clear();
    EXPECT_EQ(lanes.poll(sink, 16), 1);
    ASSERT_EQ(sink.got.size(), 1u);
    EXPECT_EQ(sink.got[0].frame, last);
    // The entry given to a new lane elsewhere: its consumer starts at 0.
    const uint32_t offset = 8 * kPage;
    m.open_lane(0, offset, Mapping::kSlots, 2);
    const auto fresh = m.put(70, kPeerMac, offset);
    sink.got.clear();
    EXPECT_EQ(lanes.poll(sink, 16), 1);
    ASSERT_EQ(sink.got.size(), 1u);
    EXPECT_EQ(sink.got[0].frame, fresh);
    EXPECT_EQ(m.head(offset)->cons, 1u);
}

}  // namespace
}  // namespace xen2mx::link
