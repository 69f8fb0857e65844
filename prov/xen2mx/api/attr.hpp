// What the provider offers: capability classes and the fi_info templates that
// getinfo filters against the application's hints.
#pragma once

#include <cstddef>
#include <cstdint>

#include <rdma/fabric.h>

namespace xen2mx::api {

inline constexpr const char* kFabricName = "xen2mx";
inline constexpr const char* kDomainName = "xen2mx";
inline constexpr uint32_t kProviderVersion = FI_VERSION(0, 1);
inline constexpr uint32_t kApiVersion = FI_VERSION(FI_MAJOR_VERSION, FI_MINOR_VERSION);

// Capability classes as libfabric defines them: a provider returns the
// primary capabilities an application asked for, and may add secondary ones.
inline constexpr uint64_t kPrimaryCaps = FI_MSG | FI_RMA | FI_TAGGED | FI_ATOMIC | FI_MULTICAST |
                                         FI_NAMED_RX_CTX | FI_DIRECTED_RECV | FI_VARIABLE_MSG |
                                         FI_HMEM | FI_COLLECTIVE | FI_READ | FI_WRITE | FI_RECV |
                                         FI_SEND | FI_REMOTE_READ | FI_REMOTE_WRITE;
inline constexpr uint64_t kSecondaryCaps = FI_MULTI_RECV | FI_SOURCE | FI_RMA_EVENT | FI_SHARED_AV |
                                           FI_TRIGGER | FI_FENCE | FI_LOCAL_COMM | FI_REMOTE_COMM |
                                           FI_SOURCE_ERR | FI_RMA_PMEM;
// Secondary capabilities returned even when not asked for: they cost nothing.
inline constexpr uint64_t kFreeSecondaryCaps = FI_LOCAL_COMM | FI_REMOTE_COMM;

// Which capabilities belong on the transmit and receive sides.
inline constexpr uint64_t kTxSideCaps = FI_MSG | FI_TAGGED | FI_RMA | FI_ATOMIC | FI_SEND | FI_READ |
                                        FI_WRITE | FI_FENCE | FI_TRIGGER | FI_HMEM | FI_VARIABLE_MSG |
                                        FI_COLLECTIVE | FI_MULTICAST;
inline constexpr uint64_t kRxSideCaps = FI_MSG | FI_TAGGED | FI_RMA | FI_ATOMIC | FI_RECV |
                                        FI_REMOTE_READ | FI_REMOTE_WRITE | FI_DIRECTED_RECV |
                                        FI_MULTI_RECV | FI_SOURCE | FI_RMA_EVENT | FI_SOURCE_ERR |
                                        FI_TRIGGER | FI_HMEM | FI_VARIABLE_MSG | FI_NAMED_RX_CTX |
                                        FI_COLLECTIVE | FI_MULTICAST;
inline constexpr uint64_t kDomainSideCaps = FI_LOCAL_COMM | FI_REMOTE_COMM | FI_SHARED_AV;

// Capability sets, by the issue that makes them work.
// FI_MULTI_RECV is a secondary, receive-side capability: returned when asked
// for (or without hints), and only in rx_attr among the side attributes.
inline constexpr uint64_t kMessagingCaps = FI_MSG | FI_TAGGED | FI_SEND | FI_RECV | FI_DIRECTED_RECV |
                                           FI_SOURCE | FI_MULTI_RECV | FI_LOCAL_COMM | FI_REMOTE_COMM;
// RMA and atomics arrive with the issue "RMA, atomics and Open MPI".
inline constexpr uint64_t kRmaCaps =
    FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE | FI_RMA_EVENT;
inline constexpr uint64_t kAtomicCaps = FI_ATOMIC | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;

// Exactly what the provider advertises today, per endpoint type. RMA needs
// the reliable connection: DGRAM endpoints have messages only.
inline constexpr uint64_t kOfferedRdmCaps = kMessagingCaps | kRmaCaps | kAtomicCaps;
inline constexpr uint64_t kOfferedDgramCaps = kMessagingCaps;

// Operation flags an application may make the default on each side.
inline constexpr uint64_t kTxOpFlags =
    FI_COMPLETION | FI_INJECT | FI_INJECT_COMPLETE | FI_TRANSMIT_COMPLETE | FI_DELIVERY_COMPLETE;
inline constexpr uint64_t kRxOpFlags = FI_COMPLETION | FI_MULTI_RECV;

// The generic tag format (alternating bits): any tag bits may be used.
inline constexpr uint64_t kTagFormatGeneric = 0xAAAAAAAAAAAAAAAAull;

// Limits.
inline constexpr size_t kRdmMaxMsgSize = size_t{1} << 30;
inline constexpr size_t kDgramMaxMsgSize = 32768;
inline constexpr size_t kInjectSize = 4096;
inline constexpr size_t kIovLimit = 16;
inline constexpr size_t kRmaIovLimit = 1;  // remote ranges per RMA operation
inline constexpr size_t kQueueSize = 1024;
inline constexpr size_t kCqDataSize = 8;
inline constexpr size_t kMrKeySize = 8;
inline constexpr size_t kMaxErrData = 64;
inline constexpr size_t kMaxEndpoints = 254;
inline constexpr size_t kMaxCqs = 1024;
inline constexpr size_t kMaxCntrs = 1024;
inline constexpr size_t kMaxMrs = 65536;
inline constexpr size_t kMrIovLimit = 1;
// FI_OPT_MIN_MULTI_RECV by default: a buffer is kept while a whole tiny or
// small message (one frame) still fits in it.
inline constexpr size_t kDefaultMinMultiRecv = 128;

// The fi_info offered for one endpoint type with the given capabilities
// (RMA and atomic sizes appear when those capabilities are present).
// Returns nullptr when out of memory. Free with fi_freeinfo.
fi_info* make_offer(fi_ep_type type, uint64_t caps);

// What is advertised today for an endpoint type (0 when not offered).
uint64_t offered_caps(fi_ep_type type);

}  // namespace xen2mx::api
