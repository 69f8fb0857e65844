// MXoE frames to bytes and back. Encoding writes the head and the body
// header only: the caller sends the payload from where it already is, after
// the header in the same gather list, so nothing is copied. Decoding checks a
// received frame completely before anyone may use it; a frame it refuses
// comes back as the reason, for the drop counters.
//
// Neither direction allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "wire/mxoe.hpp"

namespace xen2mx::wire {

// Bytes from the destination MAC to the end of the type's header, payload
// excluded; 0 for a type this codec does not speak (in MxCompat mode, the
// RMA extension).
size_t header_length(PacketType type, WireMode mode);

// The longest header of any type.
inline constexpr size_t kMaxHeaderLength = 72;

// Each writes the head and the type's header at the start of out, with every
// unused byte zero, and returns header_length(). It returns 0, and out is
// then unspecified, when out is too short or a value does not fit the field
// the mode gives it (MxCompat's 16-bit lengths and offsets, 8-bit region id).
// Values are not otherwise checked: a header that declares a wrong payload
// length makes a frame the peer drops.
size_t encode_tiny(const Head& head, const MsgHeader& msg, std::span<uint8_t> out);
size_t encode_small(const Head& head, const MsgHeader& msg, std::span<uint8_t> out);
size_t encode_medium(const Head& head, const MediumFrag& frag, WireMode mode, std::span<uint8_t> out);
size_t encode_rndv(const Head& head, const Rndv& rndv, std::span<uint8_t> out);
size_t encode_pull_request(const Head& head, const PullRequest& pull, WireMode mode, std::span<uint8_t> out);
size_t encode_pull_reply(const Head& head, const PullReply& reply, std::span<uint8_t> out);
size_t encode_notify(const Head& head, const Notify& notify, std::span<uint8_t> out);
size_t encode_connect(const Head& head, const Connect& connect, std::span<uint8_t> out);
size_t encode_truc(const Head& head, const Truc& truc, std::span<uint8_t> out);
size_t encode_nack_lib(const Head& head, const NackLib& nack, std::span<uint8_t> out);
size_t encode_nack_mcp(const Head& head, const NackMcp& nack, std::span<uint8_t> out);
size_t encode_host_query(const Head& head, const HostQuery& query, std::span<uint8_t> out);
size_t encode_host_reply(const Head& head, const HostReply& reply, std::span<uint8_t> out);
size_t encode_raw(const Head& head, std::span<uint8_t> out);
// The RMA extension; 0 in the MxCompat mode, which MX peers speak.
size_t encode_rma_request(const Head& head, const RmaRequest& request, WireMode mode, std::span<uint8_t> out);
size_t encode_rma_reply(const Head& head, const RmaReply& reply, WireMode mode, std::span<uint8_t> out);
size_t encode_key_pull(const Head& head, const KeyPull& pull, WireMode mode, std::span<uint8_t> out);

// The encoder matching frame.type; 0 also when the body is not the one that
// type carries. The payload is not written.
size_t encode(const Frame& frame, WireMode mode, std::span<uint8_t> out);

// What an Ethernet link carries for header + payload bytes: short frames are
// padded to kEthZlen.
inline constexpr size_t ethernet_frame_length(size_t header_and_payload) {
    return header_and_payload < kEthZlen ? kEthZlen : header_and_payload;
}
inline constexpr size_t ethernet_padding(size_t header_and_payload) {
    return ethernet_frame_length(header_and_payload) - header_and_payload;
}
// Zero bytes to end a gather list with; length is at most kEthZlen.
std::span<const uint8_t> zero_padding(size_t length);

enum class DropReason : uint8_t {
    TooShort,       // shorter than the head or than its type's header
    NotMxoe,        // another ethertype
    UnknownType,    // a type byte this codec does not speak
    Truncated,      // the declared payload runs past the end of the frame
    TrailingBytes,  // longer than header + payload, beyond the Ethernet padding
    BadLength,      // a length field out of range for its type
    BadFragment,    // a MEDIUM frag that does not fit its message
    BadOffset,      // PULL / PULL_REPLY offsets outside the transfer
    BadConnect,     // CONNECT with a wrong data length or is_reply flag
    BadTruc,        // TRUC that is not a well-formed lib ack
    BadNack,        // a nack type outside 1..4
    BadMagic,       // HOST_QUERY / HOST_REPLY without the host query magic
    BadHostname,    // HOST_REPLY name empty or not one NUL-terminated string
    BadRma,         // RMA_REQUEST / RMA_REPLY with an unknown op, status or flag
};
inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::BadRma) + 1;

std::string_view drop_reason_name(DropReason reason);

// Either a frame that passed every check or why it did not.
class DecodeResult {
public:
    DecodeResult(const Frame& frame) : value_(frame) {}
    DecodeResult(DropReason reason) : value_(reason) {}

    bool ok() const { return std::holds_alternative<Frame>(value_); }
    explicit operator bool() const { return ok(); }
    // Only when ok().
    const Frame& frame() const { return *std::get_if<Frame>(&value_); }
    const Frame* operator->() const { return std::get_if<Frame>(&value_); }
    // Only when !ok().
    DropReason reason() const { return *std::get_if<DropReason>(&value_); }

private:
    std::variant<Frame, DropReason> value_;
};

// The frame is the received bytes from the destination MAC on, Ethernet
// padding allowed, FCS excluded. The frame's payload points into it.
DecodeResult decode(std::span<const uint8_t> frame, WireMode mode, const WireLimits& limits);

// Who sent a frame, read before it is decoded.
struct Sender {
    uint64_t board = 0;
    uint8_t endpoint = 0;

    friend bool operator==(const Sender&, const Sender&) = default;
};

// MEDIUM and PULL are checked against limits that depend on their sender
// (the frame size agreed with that peer, Connect::max_frame): for those two
// types, who sent the frame, so that the receiver can look its limits up
// before decode(). Empty for every other type, whose checks do not depend on
// the peer, and for a frame too short to be one of them.
std::optional<Sender> sender_for_limits(std::span<const uint8_t> frame, WireMode mode);

// Where a MEDIUM frag's payload goes in its message.
uint64_t medium_frag_offset(const MediumFrag& frag, WireMode mode, const WireLimits& limits);

// Where the first PULL_REPLY answering this PULL starts in the pulled
// message: frame_index × reply max + first_frame_offset, less the part of a
// frame the pulled offset skips. Empty when that would be negative.
std::optional<uint64_t> pull_block_offset(const PullRequest& pull, const WireLimits& limits);

}  // namespace xen2mx::wire
