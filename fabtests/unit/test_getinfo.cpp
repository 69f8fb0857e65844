// getinfo hint filtering: every hint field filters, nothing is advertised
// that the provider does not do, and bad hints give -FI_ENODATA.
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "api/attr.hpp"
#include "api/getinfo.hpp"
#include "api/params.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx::api {
namespace {

constexpr uint32_t kVersion = FI_VERSION(1, 17);

struct InfoDeleter {
    void operator()(fi_info* info) const { fi_freeinfo(info); }
};
using InfoPtr = std::unique_ptr<fi_info, InfoDeleter>;

InfoPtr new_hints() { return InfoPtr(fi_allocinfo()); }

Params default_params() {
    Params params;
    params.link = "auto";
    params.udp_port_base = kDefaultUdpPortBase;
    return params;
}

struct Result {
    int ret = 0;
    InfoPtr info;
    size_t count() const {
        size_t n = 0;
        for (fi_info* i = info.get(); i; i = i->next) ++n;
        return n;
    }
    bool has_type(fi_ep_type type) const {
        for (fi_info* i = info.get(); i; i = i->next)
            if (i->ep_attr->type == type) return true;
        return false;
    }
};

// Stores any int in an enum field, as a C application may.
template <typename Enum>
void store_raw(Enum& field, int value) {
    std::memcpy(&field, &value, sizeof value);
}

Result run(const fi_info* hints, const Offers& offers = current_offers(), uint32_t version = kVersion,
           const char* node = nullptr, const char* service = nullptr, uint64_t flags = 0,
           const Params& params = default_params()) {
    fi_info* out = nullptr;
    Result result;
    result.ret = getinfo_with(offers, params, version, node, service, flags, hints, &out);
    result.info.reset(out);
    if (result.ret) {
        EXPECT_EQ(out, nullptr);
    }
    return result;
}

// ------------------------------------------------------------------ offers

TEST(GetinfoOffer, NoHintsGivesRdmThenDgram) {
    Result r = run(nullptr);
    ASSERT_EQ(r.ret, 0);
    ASSERT_EQ(r.count(), 2u);
    EXPECT_EQ(r.info->ep_attr->type, FI_EP_RDM);
    EXPECT_EQ(r.info->next->ep_attr->type, FI_EP_DGRAM);
    for (fi_info* i = r.info.get(); i; i = i->next) {
        EXPECT_EQ(i->caps, i->ep_attr->type == FI_EP_RDM ? kOfferedRdmCaps : kOfferedDgramCaps);
        EXPECT_EQ(i->fabric_attr->prov_name, nullptr) << "the core fills prov_name";
        ASSERT_NE(i->fabric_attr->name, nullptr);
        EXPECT_STREQ(i->fabric_attr->name, "xen2mx");
        EXPECT_STREQ(i->domain_attr->name, "xen2mx");
        EXPECT_GE(i->domain_attr->cq_data_size, 4u);
        EXPECT_EQ(i->domain_attr->threading, FI_THREAD_SAFE);
        EXPECT_EQ(i->mode, 0u);
    }
    EXPECT_EQ(r.info->tx_attr->msg_order, FI_ORDER_SAS);
    EXPECT_EQ(r.info->rx_attr->msg_order, FI_ORDER_SAS);
    EXPECT_GE(r.info->ep_attr->max_msg_size, size_t{1} << 30);
}

TEST(GetinfoOffer, NothingBeyondMessagingRmaAndAtomicsIsAdvertised) {
    Result r = run(nullptr);
    ASSERT_EQ(r.ret, 0);
    const uint64_t never = FI_MULTICAST | FI_COLLECTIVE | FI_NAMED_RX_CTX | FI_HMEM | FI_TRIGGER | FI_SHARED_AV;
    const uint64_t rma = FI_RMA | FI_ATOMIC | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE | FI_RMA_EVENT;
    for (fi_info* i = r.info.get(); i; i = i->next) {
        EXPECT_EQ(i->caps & never, 0u);
        EXPECT_EQ(i->tx_attr->caps & never, 0u);
        EXPECT_EQ(i->rx_attr->caps & never, 0u);
        // RMA rides on the reliable connection: RDM only.
        const bool rdm = i->ep_attr->type == FI_EP_RDM;
        EXPECT_EQ(i->caps & rma, rdm ? rma : 0u);
        EXPECT_EQ(i->tx_attr->rma_iov_limit, rdm ? 1u : 0u);
        // Multi-receive buffers are a receive-side capability.
        EXPECT_TRUE(i->caps & FI_MULTI_RECV);
        EXPECT_TRUE(i->rx_attr->caps & FI_MULTI_RECV);
        EXPECT_FALSE(i->tx_attr->caps & FI_MULTI_RECV);
    }
}

TEST(GetinfoOffer, MultiRecvIsSecondaryOnTheReceiveSide) {
    auto hints = new_hints();
    hints->caps = FI_MSG;
    Result plain = run(hints.get());
    ASSERT_EQ(plain.ret, 0);
    for (fi_info* i = plain.info.get(); i; i = i->next) {
        EXPECT_FALSE(i->caps & FI_MULTI_RECV) << "a secondary capability only when asked for";
        EXPECT_FALSE(i->rx_attr->caps & FI_MULTI_RECV);
    }
    hints->caps = FI_MSG | FI_MULTI_RECV;
    hints->rx_attr->op_flags = FI_MULTI_RECV;
    Result multi = run(hints.get());
    ASSERT_EQ(multi.ret, 0);
    EXPECT_EQ(multi.count(), 2u) << "RDM and DGRAM";
    for (fi_info* i = multi.info.get(); i; i = i->next) {
        EXPECT_TRUE(i->caps & FI_MULTI_RECV);
        EXPECT_TRUE(i->rx_attr->caps & FI_MULTI_RECV);
        EXPECT_FALSE(i->tx_attr->caps & FI_MULTI_RECV);
        EXPECT_EQ(i->rx_attr->op_flags, uint64_t{FI_MULTI_RECV});
    }
    auto rx_only = new_hints();
    rx_only->rx_attr->caps = FI_MSG | FI_RECV | FI_MULTI_RECV;
    EXPECT_EQ(run(rx_only.get()).ret, 0);
    auto tx_side = new_hints();
    tx_side->tx_attr->caps = FI_MULTI_RECV;
    EXPECT_EQ(run(tx_side.get()).ret, -FI_ENODATA) << "not a transmit capability";
}

TEST(GetinfoOffer, SideCapsAreSplit) {
    Result r = run(nullptr);
    ASSERT_EQ(r.ret, 0);
    EXPECT_TRUE(r.info->tx_attr->caps & FI_SEND);
    EXPECT_FALSE(r.info->tx_attr->caps & FI_RECV);
    EXPECT_TRUE(r.info->rx_attr->caps & FI_RECV);
    EXPECT_FALSE(r.info->rx_attr->caps & FI_SEND);
    EXPECT_TRUE(r.info->rx_attr->caps & FI_DIRECTED_RECV);
    EXPECT_EQ(r.info->domain_attr->caps, uint64_t{FI_LOCAL_COMM | FI_REMOTE_COMM});
}

TEST(GetinfoOffer, OffersFollowCapabilitySets) {
    // The filter covers capability sets before they are advertised.
    Offers with_rma{kMessagingCaps | kRmaCaps | kAtomicCaps, kMessagingCaps};
    auto hints = new_hints();
    hints->caps = FI_RMA | FI_ATOMIC;
    Result r = run(hints.get(), with_rma);
    ASSERT_EQ(r.ret, 0);
    ASSERT_EQ(r.count(), 1u);
    EXPECT_EQ(r.info->ep_attr->type, FI_EP_RDM);
    EXPECT_TRUE(r.info->caps & FI_RMA);
    EXPECT_TRUE(r.info->caps & FI_ATOMIC);
    EXPECT_FALSE(r.info->caps & FI_MSG) << "primary capabilities only as asked";
    EXPECT_GT(r.info->tx_attr->rma_iov_limit, 0u);
    EXPECT_TRUE(r.info->rx_attr->caps & FI_RMA);

    hints->caps = FI_ATOMIC | FI_REMOTE_WRITE;
    EXPECT_EQ(run(hints.get(), with_rma).ret, 0);
    Offers messages_only{kMessagingCaps, kMessagingCaps};
    EXPECT_EQ(run(hints.get(), messages_only).ret, -FI_ENODATA) << "not in the offers";

    Offers rdm_only{kMessagingCaps, 0};
    Result only = run(nullptr, rdm_only);
    ASSERT_EQ(only.ret, 0);
    EXPECT_EQ(only.count(), 1u);
}

// ------------------------------------------------------------------ caps

struct CapsCase {
    const char* name;
    uint64_t caps;
    bool rdm;
    bool dgram;
};

class GetinfoCaps : public testing::TestWithParam<CapsCase> {};

TEST_P(GetinfoCaps, Filters) {
    const CapsCase& c = GetParam();
    auto hints = new_hints();
    hints->caps = c.caps;
    Result r = run(hints.get());
    if (!c.rdm && !c.dgram) {
        EXPECT_EQ(r.ret, -FI_ENODATA);
        return;
    }
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.has_type(FI_EP_RDM), c.rdm);
    EXPECT_EQ(r.has_type(FI_EP_DGRAM), c.dgram);
    for (fi_info* i = r.info.get(); i; i = i->next) {
        EXPECT_EQ(i->caps & c.caps, c.caps) << "every asked capability is returned";
        EXPECT_EQ(i->caps & kPrimaryCaps & ~c.caps, 0u) << "no primary capability that was not asked";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, GetinfoCaps,
    testing::Values(CapsCase{"msg", FI_MSG, true, true}, CapsCase{"tagged", FI_TAGGED, true, true},
                    CapsCase{"msg_tagged", FI_MSG | FI_TAGGED, true, true},
                    CapsCase{"send_only", FI_MSG | FI_SEND, true, true},
                    CapsCase{"recv_only", FI_TAGGED | FI_RECV, true, true},
                    CapsCase{"directed", FI_TAGGED | FI_DIRECTED_RECV, true, true},
                    CapsCase{"source", FI_MSG | FI_SOURCE, true, true},
                    CapsCase{"local_remote", FI_MSG | FI_LOCAL_COMM | FI_REMOTE_COMM, true, true},
                    CapsCase{"rma", FI_RMA, true, false}, CapsCase{"read", FI_MSG | FI_READ, true, false},
                    CapsCase{"remote_write", FI_REMOTE_WRITE, true, false},
                    CapsCase{"atomic", FI_ATOMIC, true, false},
                    CapsCase{"multicast", FI_MULTICAST, false, false},
                    CapsCase{"collective", FI_COLLECTIVE, false, false},
                    CapsCase{"named_rx_ctx", FI_NAMED_RX_CTX, false, false},
                    CapsCase{"hmem", FI_MSG | FI_HMEM, false, false},
                    CapsCase{"shared_av", FI_MSG | FI_SHARED_AV, false, false},
                    CapsCase{"trigger", FI_MSG | FI_TRIGGER, false, false},
                    CapsCase{"rma_event", FI_RMA_EVENT, true, false},
                    CapsCase{"variable_msg", FI_MSG | FI_VARIABLE_MSG, false, false},
                    CapsCase{"unknown_bit_63", FI_MSG | (1ULL << 63), false, false},
                    CapsCase{"unknown_bit_0", FI_MSG | 1ULL, false, false}),
    [](const testing::TestParamInfo<CapsCase>& info) { return std::string(info.param.name); });

TEST(GetinfoCaps, FreeSecondaryCapsAreAdded) {
    auto hints = new_hints();
    hints->caps = FI_TAGGED;
    Result r = run(hints.get());
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.info->caps, uint64_t{FI_TAGGED | FI_LOCAL_COMM | FI_REMOTE_COMM});
    EXPECT_FALSE(r.info->caps & FI_SOURCE) << "FI_SOURCE costs a lookup: only when asked";
    EXPECT_EQ(r.info->tx_attr->caps, uint64_t{FI_TAGGED});
    EXPECT_EQ(r.info->rx_attr->caps, uint64_t{FI_TAGGED});
}

// ------------------------------------------------------------------ endpoint type

TEST(GetinfoEpType, EachTypeFilters) {
    auto hints = new_hints();
    hints->ep_attr->type = FI_EP_RDM;
    Result rdm = run(hints.get());
    ASSERT_EQ(rdm.ret, 0);
    EXPECT_EQ(rdm.count(), 1u);
    EXPECT_EQ(rdm.info->ep_attr->type, FI_EP_RDM);

    hints->ep_attr->type = FI_EP_DGRAM;
    Result dgram = run(hints.get());
    ASSERT_EQ(dgram.ret, 0);
    EXPECT_EQ(dgram.count(), 1u);
    EXPECT_EQ(dgram.info->ep_attr->type, FI_EP_DGRAM);
    EXPECT_EQ(dgram.info->ep_attr->max_msg_size, kDgramMaxMsgSize);

    for (int type : {int{FI_EP_MSG}, int{FI_EP_SOCK_STREAM}, int{FI_EP_SOCK_DGRAM}, 42, -1}) {
        store_raw(hints->ep_attr->type, type);
        EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA) << "type " << type;
    }
}

TEST(GetinfoEpType, EpAttrLimits) {
    const std::function<void(fi_ep_attr*)> bad[] = {
        [](fi_ep_attr* a) { a->protocol = FI_PROTO_RXM; },
        [](fi_ep_attr* a) { a->protocol_version = 2; },
        [](fi_ep_attr* a) { a->max_msg_size = (size_t{1} << 30) + 1; },
        [](fi_ep_attr* a) { a->max_order_raw_size = 1; },
        [](fi_ep_attr* a) { a->tx_ctx_cnt = 2; },
        [](fi_ep_attr* a) { a->rx_ctx_cnt = FI_SHARED_CONTEXT; },
        [](fi_ep_attr* a) { a->auth_key_size = 8; },
    };
    for (const auto& edit : bad) {
        auto hints = new_hints();
        hints->ep_attr->type = FI_EP_RDM;
        edit(hints->ep_attr);
        EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
    }
    auto hints = new_hints();
    hints->ep_attr->max_msg_size = size_t{1} << 30;
    hints->ep_attr->mem_tag_format = 0xFFFF00000000FFFFull;
    hints->ep_attr->tx_ctx_cnt = 1;
    Result r = run(hints.get());
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.count(), 1u) << "only RDM carries 1 GiB";
    EXPECT_EQ(r.info->ep_attr->mem_tag_format, 0xFFFF00000000FFFFull);
}

// ------------------------------------------------------------------ modes

TEST(GetinfoMode, ModeBitsAreAcceptedNotRequired) {
    auto hints = new_hints();
    hints->caps = FI_TAGGED;
    for (uint64_t mode : {uint64_t{0}, uint64_t{FI_CONTEXT}, uint64_t{FI_CONTEXT | FI_CONTEXT2},
                          uint64_t{FI_LOCAL_MR | FI_MSG_PREFIX | FI_RX_CQ_DATA}}) {
        hints->mode = mode;
        Result r = run(hints.get());
        ASSERT_EQ(r.ret, 0) << mode;
        EXPECT_EQ(r.info->mode, 0u) << "the provider requires no mode";
    }
}

TEST(GetinfoMode, MrModeBefore15) {
    auto hints = new_hints();
    const uint32_t v14 = FI_VERSION(1, 4);
    hints->domain_attr->mr_mode = FI_MR_UNSPEC;
    Result unspec = run(hints.get(), current_offers(), v14);
    ASSERT_EQ(unspec.ret, 0);
    EXPECT_EQ(unspec.info->domain_attr->mr_mode, FI_MR_SCALABLE);
    hints->domain_attr->mr_mode = FI_MR_BASIC;
    Result basic = run(hints.get(), current_offers(), v14);
    ASSERT_EQ(basic.ret, 0);
    EXPECT_EQ(basic.info->domain_attr->mr_mode, FI_MR_BASIC);
    hints->domain_attr->mr_mode = FI_MR_SCALABLE;
    Result scalable = run(hints.get(), current_offers(), v14);
    ASSERT_EQ(scalable.ret, 0);
    EXPECT_EQ(scalable.info->domain_attr->mr_mode, FI_MR_SCALABLE);
    hints->domain_attr->mr_mode = FI_MR_LOCAL;  // a 1.5 bit is not a 1.4 mode
    EXPECT_EQ(run(hints.get(), current_offers(), v14).ret, -FI_ENODATA);
}

TEST(GetinfoMode, MrMode15AndLater) {
    auto hints = new_hints();
    hints->domain_attr->mr_mode = 0;
    Result none = run(hints.get());
    ASSERT_EQ(none.ret, 0) << "an application that supports no mode is served";
    EXPECT_EQ(none.info->domain_attr->mr_mode, 0);

    hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    Result many = run(hints.get());
    ASSERT_EQ(many.ret, 0);
    EXPECT_EQ(many.info->domain_attr->mr_mode, FI_MR_VIRT_ADDR | FI_MR_PROV_KEY)
        << "only the modes the provider wants, and no FI_MR_LOCAL";

    hints->domain_attr->mr_mode = FI_MR_BASIC;
    Result basic = run(hints.get());
    ASSERT_EQ(basic.ret, 0);
    EXPECT_EQ(basic.info->domain_attr->mr_mode, FI_MR_BASIC);

    hints->domain_attr->mr_mode = FI_MR_BASIC | FI_MR_SCALABLE;
    EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);

    hints->domain_attr->mr_mode = ~(FI_MR_BASIC | FI_MR_SCALABLE);  // what fi_info sends
    EXPECT_EQ(run(hints.get()).ret, 0);
}

// ------------------------------------------------------------------ domain attributes

TEST(GetinfoDomain, ValuesAreHonoured) {
    auto hints = new_hints();
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->domain_attr->control_progress = FI_PROGRESS_MANUAL;
    hints->domain_attr->data_progress = FI_PROGRESS_AUTO;
    hints->domain_attr->resource_mgmt = FI_RM_DISABLED;
    hints->domain_attr->av_type = FI_AV_MAP;
    Result r = run(hints.get());
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.info->domain_attr->threading, FI_THREAD_DOMAIN);
    EXPECT_EQ(r.info->domain_attr->control_progress, FI_PROGRESS_MANUAL);
    EXPECT_EQ(r.info->domain_attr->data_progress, FI_PROGRESS_AUTO);
    EXPECT_EQ(r.info->domain_attr->resource_mgmt, FI_RM_DISABLED);
    EXPECT_EQ(r.info->domain_attr->av_type, FI_AV_MAP);

    for (fi_threading threading :
         {FI_THREAD_SAFE, FI_THREAD_FID, FI_THREAD_ENDPOINT, FI_THREAD_COMPLETION, FI_THREAD_UNSPEC}) {
        hints->domain_attr->threading = threading;
        EXPECT_EQ(run(hints.get()).ret, 0) << threading;
    }
    hints->domain_attr->av_type = FI_AV_TABLE;
    EXPECT_EQ(run(hints.get()).ret, 0);
}

TEST(GetinfoDomain, LimitsAndUnknownValuesFilter) {
    const std::function<void(fi_domain_attr*)> bad[] = {
        [](fi_domain_attr* d) { d->name = strdup("eth0"); },
        [](fi_domain_attr* d) { store_raw(d->threading, 99); },
        [](fi_domain_attr* d) { store_raw(d->threading, -1); },
        [](fi_domain_attr* d) { store_raw(d->data_progress, 9); },
        [](fi_domain_attr* d) { store_raw(d->control_progress, 3); },
        [](fi_domain_attr* d) { store_raw(d->av_type, 7); },
        [](fi_domain_attr* d) { store_raw(d->resource_mgmt, 5); },
        [](fi_domain_attr* d) { d->cq_data_size = kCqDataSize + 1; },
        [](fi_domain_attr* d) { d->mr_key_size = 16; },
        [](fi_domain_attr* d) { d->ep_cnt = 100000; },
        [](fi_domain_attr* d) { d->cq_cnt = 1u << 20; },
        [](fi_domain_attr* d) { d->max_ep_tx_ctx = 2; },
        [](fi_domain_attr* d) { d->max_ep_stx_ctx = 1; },
        [](fi_domain_attr* d) { d->max_ep_srx_ctx = 1; },
        [](fi_domain_attr* d) { d->mr_iov_limit = 64; },
        [](fi_domain_attr* d) { d->max_err_data = 1u << 20; },
        [](fi_domain_attr* d) { d->caps = FI_SHARED_AV; },
        [](fi_domain_attr* d) { d->auth_key_size = 4; },
    };
    for (const auto& edit : bad) {
        auto hints = new_hints();
        edit(hints->domain_attr);
        EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
    }
    auto hints = new_hints();
    hints->domain_attr->name = strdup("XEN2MX");
    hints->domain_attr->cq_data_size = 4;
    hints->domain_attr->caps = FI_LOCAL_COMM;
    EXPECT_EQ(run(hints.get()).ret, 0);
}

// ------------------------------------------------------------------ tx/rx attributes

TEST(GetinfoTxRx, Filters) {
    const std::function<void(fi_info*)> bad[] = {
        [](fi_info* i) { i->tx_attr->caps = FI_COLLECTIVE; },
        [](fi_info* i) { i->tx_attr->op_flags = FI_COMMIT_COMPLETE; },
        [](fi_info* i) { i->tx_attr->msg_order = FI_ORDER_SAS | FI_ORDER_RAW; },
        [](fi_info* i) { i->tx_attr->comp_order = FI_ORDER_STRICT; },
        [](fi_info* i) { i->tx_attr->inject_size = kInjectSize + 1; },
        [](fi_info* i) { i->tx_attr->size = kQueueSize + 1; },
        [](fi_info* i) { i->tx_attr->iov_limit = kIovLimit + 1; },
        [](fi_info* i) { i->tx_attr->rma_iov_limit = kRmaIovLimit + 1; },
        [](fi_info* i) { i->rx_attr->op_flags = FI_INJECT; },
        [](fi_info* i) { i->rx_attr->msg_order = FI_ORDER_RAR; },
        [](fi_info* i) { i->rx_attr->comp_order = FI_ORDER_DATA; },
        [](fi_info* i) { i->rx_attr->size = kQueueSize * 2; },
        [](fi_info* i) { i->rx_attr->iov_limit = 1024; },
    };
    for (const auto& edit : bad) {
        auto hints = new_hints();
        edit(hints.get());
        EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
    }
}

TEST(GetinfoTxRx, OpFlagsAndOrderAreReturned) {
    auto hints = new_hints();
    hints->tx_attr->op_flags = FI_COMPLETION | FI_DELIVERY_COMPLETE;
    hints->rx_attr->op_flags = FI_COMPLETION;
    hints->tx_attr->msg_order = FI_ORDER_SAS;
    Result r = run(hints.get());
    ASSERT_EQ(r.ret, 0);
    ASSERT_EQ(r.count(), 1u) << "DGRAM has neither delivery completion nor ordering";
    EXPECT_EQ(r.info->tx_attr->op_flags, uint64_t{FI_COMPLETION | FI_DELIVERY_COMPLETE});
    EXPECT_EQ(r.info->rx_attr->op_flags, uint64_t{FI_COMPLETION});
    EXPECT_EQ(r.info->tx_attr->msg_order, uint64_t{FI_ORDER_SAS});

    hints->tx_attr->op_flags = FI_INJECT | FI_TRANSMIT_COMPLETE;
    hints->tx_attr->msg_order = 0;
    hints->tx_attr->inject_size = kInjectSize;
    hints->tx_attr->iov_limit = kIovLimit;
    EXPECT_EQ(run(hints.get()).count(), 2u);
}

// ------------------------------------------------------------------ fabric, version, names

TEST(GetinfoFabric, NamesFilter) {
    auto hints = new_hints();
    hints->fabric_attr->name = strdup("xen2mx");
    hints->fabric_attr->prov_name = strdup("xen2mx");
    EXPECT_EQ(run(hints.get()).ret, 0);
    free(hints->fabric_attr->prov_name);
    hints->fabric_attr->prov_name = strdup("tcp");
    EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
    free(hints->fabric_attr->prov_name);
    hints->fabric_attr->prov_name = strdup("xen2mx;^ofi_rxd");
    EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
    free(hints->fabric_attr->prov_name);
    hints->fabric_attr->prov_name = nullptr;
    free(hints->fabric_attr->name);
    hints->fabric_attr->name = strdup("IB-0xfe80");
    EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
}

TEST(GetinfoFabric, UtilityProvidersCannotStack) {
    // ofi_rxm and ofi_rxd ask for their core with this private flag.
    EXPECT_EQ(run(nullptr, current_offers(), kVersion, nullptr, nullptr, 1ULL << 59).ret, -FI_ENODATA);
}

TEST(GetinfoFabric, Versions) {
    EXPECT_EQ(run(nullptr, current_offers(), FI_VERSION(1, 18)).ret, -FI_ENODATA);
    EXPECT_EQ(run(nullptr, current_offers(), FI_VERSION(2, 0)).ret, -FI_ENODATA);
    EXPECT_EQ(run(nullptr, current_offers(), FI_VERSION(1, 0)).ret, 0);
    EXPECT_EQ(run(nullptr, current_offers(), FI_VERSION(1, 5)).ret, 0);
}

TEST(GetinfoFabric, ProvAttrOnly) {
    auto hints = new_hints();
    hints->caps = FI_ATOMIC;  // ignored: only the provider's existence is asked
    Result r = run(hints.get(), current_offers(), kVersion, nullptr, nullptr, FI_PROV_ATTR_ONLY);
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.count(), 1u);
    EXPECT_STREQ(r.info->fabric_attr->name, "xen2mx");
}

TEST(GetinfoFabric, UnknownLinkGivesNothing) {
    Params params = default_params();
    params.link = "infiniband";
    EXPECT_EQ(run(nullptr, current_offers(), kVersion, nullptr, nullptr, 0, params).ret, -FI_ENODATA);
    params.link = "udp";
    EXPECT_EQ(run(nullptr, current_offers(), kVersion, nullptr, nullptr, 0, params).ret, 0);
}

TEST(GetinfoFabric, NullOutputPointer) {
    EXPECT_EQ(getinfo_with(current_offers(), default_params(), kVersion, nullptr, nullptr, 0, nullptr, nullptr),
              -FI_EINVAL);
}

// ------------------------------------------------------------------ addresses

link::Address decode(const void* bytes, size_t length) {
    auto address = wire::decode_address({static_cast<const uint8_t*>(bytes), length});
    EXPECT_TRUE(address.has_value());
    return address.value_or(link::Address{});
}

TEST(GetinfoAddress, FormatIsProviderSpecific) {
    auto hints = new_hints();
    hints->addr_format = FI_SOCKADDR_IN;
    EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
    hints->addr_format = FI_ADDR_STR;
    EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);
    hints->addr_format = FI_FORMAT_UNSPEC;
    Result r = run(hints.get());
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.info->addr_format, static_cast<uint32_t>(FI_FORMAT_UNSPEC));
}

TEST(GetinfoAddress, NodeAndServiceGiveDestination) {
    Result r = run(nullptr, current_offers(), kVersion, "127.0.0.1", "7");
    ASSERT_EQ(r.ret, 0);
    for (fi_info* i = r.info.get(); i; i = i->next) {
        EXPECT_EQ(i->src_addr, nullptr);
        ASSERT_EQ(i->dest_addrlen, wire::kAddressLength);
        link::Address a = decode(i->dest_addr, i->dest_addrlen);
        EXPECT_EQ(a.board, 0x02007f000001ull);
        EXPECT_EQ(a.endpoint, 7);
        EXPECT_EQ(a.ipv4, 0x7f000001u);
        EXPECT_EQ(a.udp_port, kDefaultUdpPortBase + 7);
    }
}

TEST(GetinfoAddress, SourceFlagGivesSource) {
    Result r = run(nullptr, current_offers(), kVersion, "127.0.0.1", "3", FI_SOURCE);
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.info->dest_addr, nullptr);
    link::Address a = decode(r.info->src_addr, r.info->src_addrlen);
    EXPECT_EQ(a.endpoint, 3);
    EXPECT_EQ(a.udp_port, kDefaultUdpPortBase + 3);

    // A service alone with FI_SOURCE is a local endpoint id on the default board.
    Result s = run(nullptr, current_offers(), kVersion, nullptr, "4", FI_SOURCE);
    ASSERT_EQ(s.ret, 0);
    EXPECT_EQ(decode(s.info->src_addr, s.info->src_addrlen).endpoint, 4);

    // A node alone with FI_SOURCE leaves the endpoint id to be chosen.
    Result n = run(nullptr, current_offers(), kVersion, "127.0.0.1", nullptr, FI_SOURCE);
    ASSERT_EQ(n.ret, 0);
    link::Address any = decode(n.info->src_addr, n.info->src_addrlen);
    EXPECT_EQ(any.endpoint, 255);
    EXPECT_EQ(any.udp_port, 0);
}

TEST(GetinfoAddress, PortBaseParameter) {
    Params params = default_params();
    params.udp_port_base = 40000;
    Result r = run(nullptr, current_offers(), kVersion, "127.0.0.1", "2", 0, params);
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(decode(r.info->dest_addr, r.info->dest_addrlen).udp_port, 40002);
}

TEST(GetinfoAddress, MacNodeNamesAnEthernetBoard) {
    Result r = run(nullptr, current_offers(), kVersion, "02:11:22:33:44:55", "1");
    ASSERT_EQ(r.ret, 0);
    link::Address a = decode(r.info->dest_addr, r.info->dest_addrlen);
    EXPECT_EQ(a.board, 0x021122334455ull);
    EXPECT_FALSE(a.has_udp());
    // Not a MAC of this host: refused as a source.
    EXPECT_EQ(run(nullptr, current_offers(), kVersion, "02:11:22:33:44:55", "1", FI_SOURCE).ret, -FI_ENODATA);
}

TEST(GetinfoAddress, BadNamesGiveNoData) {
    struct {
        const char* node;
        const char* service;
        uint64_t flags;
    } cases[] = {
        {"127.0.0.1", "255", 0},       {"127.0.0.1", "-1", 0},   {"127.0.0.1", "http", 0},
        {"127.0.0.1", "3x", 0},        {"no-such-host.invalid", "1", 0},
        {"localhost", "1", FI_NUMERICHOST},  {"192.0.2.77", "1", FI_SOURCE},  // not local
        {"", "1", 0},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(run(nullptr, current_offers(), kVersion, c.node, c.service, c.flags).ret, -FI_ENODATA)
            << c.node << " " << c.service;
    }
}

TEST(GetinfoAddress, HintAddressesMustBeOurs) {
    auto hints = new_hints();
    uint8_t junk[16] = {1, 2, 3};
    hints->dest_addr = malloc(sizeof junk);
    memcpy(hints->dest_addr, junk, sizeof junk);
    hints->dest_addrlen = sizeof junk;
    EXPECT_EQ(run(hints.get()).ret, -FI_ENODATA);

    link::Address a;
    a.board = 0x02007f000001ull;
    a.endpoint = 9;
    a.ipv4 = 0x7f000001;
    a.udp_port = 30729;
    wire::encode_address(a, std::span<uint8_t, wire::kAddressLength>(static_cast<uint8_t*>(hints->dest_addr), 16));
    Result r = run(hints.get());
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(decode(r.info->dest_addr, r.info->dest_addrlen), a);
}

// ------------------------------------------------------------------ real clients

// The hints Open MPI 4.1's mtl ofi sends (FI_VERSION(1,5)).
InfoPtr open_mpi_hints(fi_threading threading) {
    auto hints = new_hints();
    hints->caps = FI_TAGGED | FI_LOCAL_COMM | FI_REMOTE_COMM | FI_DIRECTED_RECV;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->ep_attr->type = FI_EP_RDM;
    hints->domain_attr->av_type = FI_AV_MAP;
    hints->domain_attr->threading = threading;
    hints->domain_attr->resource_mgmt = FI_RM_ENABLED;
    hints->domain_attr->cq_data_size = 4;
    hints->domain_attr->mr_mode = 0;
    hints->tx_attr->op_flags = FI_COMPLETION;
    hints->rx_attr->op_flags = FI_COMPLETION;
    hints->tx_attr->msg_order = FI_ORDER_SAS;
    hints->rx_attr->msg_order = FI_ORDER_SAS;
    return hints;
}

TEST(GetinfoClients, OpenMpiMtlOfi) {
    for (fi_threading threading : {FI_THREAD_DOMAIN, FI_THREAD_SAFE}) {
        auto hints = open_mpi_hints(threading);
        Result r = run(hints.get(), current_offers(), FI_VERSION(1, 5));
        ASSERT_EQ(r.ret, 0);
        ASSERT_EQ(r.count(), 1u);
        const fi_info* i = r.info.get();
        EXPECT_EQ(i->ep_attr->type, FI_EP_RDM);
        EXPECT_TRUE(i->caps & FI_TAGGED);
        EXPECT_TRUE(i->caps & FI_REMOTE_COMM) << "mtl ofi never picks a provider without it";
        EXPECT_TRUE(i->caps & FI_DIRECTED_RECV);
        EXPECT_GE(i->domain_attr->cq_data_size, 4u);
        EXPECT_EQ(i->domain_attr->threading, threading);
        EXPECT_EQ(i->domain_attr->av_type, FI_AV_MAP);
        EXPECT_EQ(i->domain_attr->mr_mode, 0);
        EXPECT_EQ(i->mode & ~uint64_t{FI_CONTEXT | FI_CONTEXT2}, 0u);
    }
}

TEST(GetinfoClients, MpichStyleHints) {
    auto hints = new_hints();
    hints->caps = FI_MSG | FI_TAGGED | FI_DIRECTED_RECV;
    hints->mode = FI_CONTEXT | FI_CONTEXT2 | FI_ASYNC_IOV | FI_RX_CQ_DATA;
    hints->ep_attr->type = FI_EP_RDM;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->domain_attr->data_progress = FI_PROGRESS_MANUAL;
    hints->domain_attr->av_type = FI_AV_TABLE;
    hints->tx_attr->op_flags = FI_COMPLETION | FI_DELIVERY_COMPLETE;
    Result r = run(hints.get());
    ASSERT_EQ(r.ret, 0);
    EXPECT_EQ(r.count(), 1u);
    // MPICH's first pass also wants FI_MULTI_RECV.
    hints->caps |= FI_MULTI_RECV;
    Result multi = run(hints.get());
    ASSERT_EQ(multi.ret, 0);
    EXPECT_TRUE(multi.info->caps & FI_MULTI_RECV);
    EXPECT_TRUE(multi.info->rx_attr->caps & FI_MULTI_RECV);
}

TEST(GetinfoClients, FiPingpongStyleHints) {
    for (fi_ep_type type : {FI_EP_RDM, FI_EP_DGRAM}) {
        auto hints = new_hints();
        hints->ep_attr->type = type;
        hints->caps = FI_MSG;
        hints->mode = FI_CONTEXT;
        hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
        hints->fabric_attr->prov_name = strdup("xen2mx");
        Result r = run(hints.get());
        ASSERT_EQ(r.ret, 0);
        EXPECT_EQ(r.count(), 1u);
    }
}

}  // namespace
}  // namespace xen2mx::api
