// Every libfabric object of the provider, reached the way an application
// reaches it: through libfabric, which loads xen2mx from FI_PROVIDER_PATH.
// Data transfers are not implemented yet; their calls must say -FI_ENOSYS.
#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fabric_handles.hpp"

#include <rdma/fabric.h>
#include <rdma/fi_atomic.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>

namespace {

using xen2mx::test::Handle;
using xen2mx::test::InfoPtr;

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr uint32_t kVersion = FI_VERSION(1, 17);
constexpr int kProviderKeys = FI_MR_PROV_KEY | FI_MR_VIRT_ADDR;
constexpr size_t kAddressLength = 16;
using RawAddress = std::array<uint8_t, kAddressLength>;

// How long a background thread waits before it acts, and how long a bounded
// wait is; the slack below the bounded wait absorbs coarse timers.
constexpr auto kActionDelay = 150ms;
constexpr int kShortTimeoutMs = 50;
constexpr long long kShortTimeoutFloorMs = 40;
constexpr int kLongTimeoutMs = 10000;

long long elapsed_ms(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// The provider's fi_info for one endpoint type; mr_mode is what the
// application says it copes with.
InfoPtr query_info(fi_ep_type type, int mr_mode, int* ret) {
    InfoPtr hints(fi_allocinfo());
    if (!hints) {
        *ret = -FI_ENOMEM;
        return nullptr;
    }
    hints->fabric_attr->prov_name = strdup("xen2mx");
    hints->ep_attr->type = type;
    hints->domain_attr->mr_mode = mr_mode;
    fi_info* info = nullptr;
    *ret = fi_getinfo(kVersion, nullptr, nullptr, 0, hints.get(), &info);
    return InfoPtr(info);
}

// Runs an action on another thread; joins it at scope exit whatever happens.
class Background {
public:
    explicit Background(std::function<void()> action) : thread_(std::move(action)) {}
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;
    ~Background() { join(); }
    void join() {
        if (thread_.joinable()) thread_.join();
    }

private:
    std::thread thread_;
};

int open_cq(fid_domain* domain, Handle<fid_cq>& cq, fi_cq_format format, fi_wait_obj wait_obj,
            fid_wait* wait_set = nullptr) {
    fi_cq_attr attr{};
    attr.format = format;
    attr.wait_obj = wait_obj;
    attr.wait_set = wait_set;
    return fi_cq_open(domain, &attr, cq.out(), nullptr);
}

int open_cntr(fid_domain* domain, Handle<fid_cntr>& cntr, fi_wait_obj wait_obj, fid_wait* wait_set = nullptr) {
    fi_cntr_attr attr{};
    attr.events = FI_CNTR_EVENTS_COMP;
    attr.wait_obj = wait_obj;
    attr.wait_set = wait_set;
    return fi_cntr_open(domain, &attr, cntr.out(), nullptr);
}

int open_eq(fid_fabric* fabric, Handle<fid_eq>& eq, uint64_t flags, fi_wait_obj wait_obj = FI_WAIT_UNSPEC,
            fid_wait* wait_set = nullptr) {
    fi_eq_attr attr{};
    attr.flags = flags;
    attr.wait_obj = wait_obj;
    attr.wait_set = wait_set;
    return fi_eq_open(fabric, &attr, eq.out(), nullptr);
}

int open_av(fid_domain* domain, Handle<fid_av>& av, fi_av_type type, uint64_t flags = 0) {
    fi_av_attr attr{};
    attr.type = type;
    attr.flags = flags;
    return fi_av_open(domain, &attr, av.out(), nullptr);
}

int open_wait_set(fid_fabric* fabric, Handle<fid_wait>& set, fi_wait_obj wait_obj = FI_WAIT_FD) {
    fi_wait_attr attr{};
    attr.wait_obj = wait_obj;
    return fi_wait_open(fabric, &attr, set.out());
}

bool fd_is_open(int fd) { return fd >= 0 && fcntl(fd, F_GETFD) != -1; }

bool fd_is_readable(int fd) {
    pollfd pfd{fd, POLLIN, 0};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

// A fabric and a domain of the provider for one endpoint type, closed (and so
// checked to have no leftover children) after each test.
class Objects : public ::testing::Test {
protected:
    virtual fi_ep_type endpoint_type() const { return FI_EP_RDM; }

    void SetUp() override {
        int ret = 0;
        info_ = query_info(endpoint_type(), kProviderKeys, &ret);
        ASSERT_EQ(ret, 0) << "fi_getinfo: " << fi_strerror(-ret)
                          << " (run with FI_PROVIDER_PATH=<build>/.libs FI_PROVIDER=xen2mx)";
        ASSERT_TRUE(info_);
        ASSERT_EQ(info_->ep_attr->type, endpoint_type());
        ASSERT_STREQ(info_->fabric_attr->prov_name, "xen2mx");
        ASSERT_EQ(fi_fabric(info_->fabric_attr, fabric_.out(), nullptr), 0);
        ASSERT_EQ(fi_domain(fabric_.get(), info_.get(), domain_.out(), nullptr), 0);
    }

    void TearDown() override {
        EXPECT_EQ(domain_.close(), 0) << "an object of the test is still open on the domain";
        EXPECT_EQ(fabric_.close(), 0) << "an object of the test is still open on the fabric";
    }

    int open_endpoint(Handle<fid_ep>& ep, void* context = nullptr) {
        return fi_endpoint(domain_.get(), info_.get(), ep.out(), context);
    }

    // An address for (node, service) as the provider encodes it, made by
    // inserting the name into a scratch AV and looking it up.
    void make_address(const char* node, const char* service, RawAddress* out) {
        Handle<fid_av> av;
        ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
        fi_addr_t addr = FI_ADDR_NOTAVAIL;
        ASSERT_EQ(fi_av_insertsvc(av.get(), node, service, &addr, 0, nullptr), 1);
        size_t len = out->size();
        ASSERT_EQ(fi_av_lookup(av.get(), addr, out->data(), &len), 0);
        ASSERT_EQ(len, kAddressLength);
        ASSERT_EQ(av.close(), 0);
    }

    std::string straddr(fid_av* av, const void* addr) {
        char text[128] = {};
        size_t len = sizeof text;
        const char* result = fi_av_straddr(av, addr, text, &len);
        EXPECT_EQ(result, text);
        EXPECT_EQ(len, std::strlen(text) + 1);
        return text;
    }

    std::string straddr_of(fid_av* av, fi_addr_t addr) {
        RawAddress raw{};
        size_t len = raw.size();
        EXPECT_EQ(fi_av_lookup(av, addr, raw.data(), &len), 0);
        return straddr(av, raw.data());
    }

    InfoPtr info_;
    Handle<fid_fabric> fabric_;
    Handle<fid_domain> domain_;
};

// The same tests on reliable and on datagram endpoints.
class Endpoints : public Objects, public ::testing::WithParamInterface<fi_ep_type> {
protected:
    fi_ep_type endpoint_type() const override { return GetParam(); }

    // An endpoint with an AV and one CQ for both directions, enabled.
    void open_enabled(Handle<fid_ep>& ep, Handle<fid_av>& av, Handle<fid_cq>& cq) {
        ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
        ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_TAGGED, FI_WAIT_NONE), 0);
        ASSERT_EQ(open_endpoint(ep), 0);
        ASSERT_EQ(fi_ep_bind(ep.get(), av.id(), 0), 0);
        ASSERT_EQ(fi_ep_bind(ep.get(), cq.id(), FI_TRANSMIT | FI_RECV), 0);
        ASSERT_EQ(fi_enable(ep.get()), 0);
    }
};

std::string type_name(const ::testing::TestParamInfo<fi_ep_type>& param) {
    return param.param == FI_EP_RDM ? "RDM" : "DGRAM";
}

INSTANTIATE_TEST_SUITE_P(Types, Endpoints, ::testing::Values(FI_EP_RDM, FI_EP_DGRAM), type_name);

// ======================================================================= fabric

TEST_F(Objects, FabricOfAnotherNameIsUnknown) {
    fi_fabric_attr attr = *info_->fabric_attr;
    char other[] = "other";
    attr.name = other;
    ASSERT_STREQ(attr.prov_name, "xen2mx");
    Handle<fid_fabric> fabric;
    EXPECT_EQ(fi_fabric(&attr, fabric.out(), nullptr), -FI_ENODATA);
    EXPECT_FALSE(fabric);
}

TEST_F(Objects, FabricOpensTwiceAndReturnsItsContext) {
    int context = 0;
    Handle<fid_fabric> fabric;
    ASSERT_EQ(fi_fabric(info_->fabric_attr, fabric.out(), &context), 0);
    EXPECT_EQ(fabric->fid.fclass, size_t{FI_CLASS_FABRIC});
    EXPECT_EQ(fabric->fid.context, &context);
    EXPECT_EQ(fabric.close(), 0);
}

// ================================================================ refcounting

TEST_F(Objects, FabricIsBusyWhileItsDomainIsOpen) {
    EXPECT_EQ(fabric_.close(), -FI_EBUSY);
    ASSERT_TRUE(fabric_);
    EXPECT_EQ(domain_.close(), 0);
    EXPECT_EQ(fabric_.close(), 0);
}

TEST_F(Objects, FabricIsBusyWhileItsEqIsOpen) {
    Handle<fid_fabric> fabric;
    ASSERT_EQ(fi_fabric(info_->fabric_attr, fabric.out(), nullptr), 0);
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric.get(), eq, 0), 0);
    EXPECT_EQ(fabric.close(), -FI_EBUSY);
    EXPECT_EQ(eq.close(), 0);
    EXPECT_EQ(fabric.close(), 0);
}

TEST_F(Objects, FabricIsBusyWhileItsWaitSetIsOpen) {
    Handle<fid_fabric> fabric;
    ASSERT_EQ(fi_fabric(info_->fabric_attr, fabric.out(), nullptr), 0);
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric.get(), set), 0);
    EXPECT_EQ(fabric.close(), -FI_EBUSY);
    EXPECT_EQ(set.close(), 0);
    EXPECT_EQ(fabric.close(), 0);
}

TEST_F(Objects, DomainIsBusyWhileAnyChildIsOpen) {
    {
        Handle<fid_av> av;
        ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
        EXPECT_EQ(domain_.close(), -FI_EBUSY);
        EXPECT_EQ(av.close(), 0);
    }
    {
        Handle<fid_cq> cq;
        ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
        EXPECT_EQ(domain_.close(), -FI_EBUSY);
        EXPECT_EQ(cq.close(), 0);
    }
    {
        Handle<fid_cntr> cntr;
        ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_NONE), 0);
        EXPECT_EQ(domain_.close(), -FI_EBUSY);
        EXPECT_EQ(cntr.close(), 0);
    }
    {
        std::vector<char> buffer(4096);
        Handle<fid_mr> mr;
        ASSERT_EQ(fi_mr_reg(domain_.get(), buffer.data(), buffer.size(), FI_SEND | FI_RECV, 0, 0, 0, mr.out(),
                            nullptr),
                  0);
        EXPECT_EQ(domain_.close(), -FI_EBUSY);
        EXPECT_EQ(mr.close(), 0);
    }
    {
        Handle<fid_ep> ep;
        ASSERT_EQ(open_endpoint(ep), 0);
        EXPECT_EQ(domain_.close(), -FI_EBUSY);
        EXPECT_EQ(ep.close(), 0);
    }
    EXPECT_EQ(domain_.close(), 0);
}

TEST_F(Objects, ObjectsBoundToAnEndpointStayOpenUntilItCloses) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_NONE), 0);
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), eq.id(), 0), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), av.id(), 0), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), cq.id(), FI_TRANSMIT | FI_RECV), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), cntr.id(), FI_SEND | FI_RECV), 0);
    ASSERT_EQ(fi_enable(ep.get()), 0);

    EXPECT_EQ(eq.close(), -FI_EBUSY);
    EXPECT_EQ(av.close(), -FI_EBUSY);
    EXPECT_EQ(cq.close(), -FI_EBUSY);
    EXPECT_EQ(cntr.close(), -FI_EBUSY);
    EXPECT_EQ(domain_.close(), -FI_EBUSY);

    EXPECT_EQ(ep.close(), 0);
    EXPECT_EQ(cntr.close(), 0);
    EXPECT_EQ(cq.close(), 0);
    EXPECT_EQ(av.close(), 0);
    EXPECT_EQ(eq.close(), 0);
}

TEST_F(Objects, EqBoundToAnAvStaysOpenUntilTheAvCloses) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
    ASSERT_EQ(fi_av_bind(av.get(), eq.id(), 0), 0);
    EXPECT_EQ(eq.close(), -FI_EBUSY);
    EXPECT_EQ(fabric_.close(), -FI_EBUSY);
    EXPECT_EQ(av.close(), 0);
    EXPECT_EQ(eq.close(), 0);
}

TEST_F(Objects, EqBoundToADomainStaysOpenUntilTheDomainCloses) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    Handle<fid_domain> domain;
    ASSERT_EQ(fi_domain(fabric_.get(), info_.get(), domain.out(), nullptr), 0);
    ASSERT_EQ(fi_domain_bind(domain.get(), eq.id(), FI_REG_MR), 0);
    EXPECT_EQ(eq.close(), -FI_EBUSY);
    EXPECT_EQ(domain.close(), 0);
    EXPECT_EQ(eq.close(), 0);
}

TEST_F(Objects, WaitSetIsBusyWhileItHasMembers) {
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric_.get(), set), 0);
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_SET, set.get()), 0);
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_SET, set.get()), 0);
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0, FI_WAIT_SET, set.get()), 0);

    EXPECT_EQ(set.close(), -FI_EBUSY);
    EXPECT_EQ(cq.close(), 0);
    EXPECT_EQ(set.close(), -FI_EBUSY);
    EXPECT_EQ(cntr.close(), 0);
    EXPECT_EQ(set.close(), -FI_EBUSY);
    EXPECT_EQ(eq.close(), 0);
    EXPECT_EQ(set.close(), 0);
}

// ======================================================== completion queues

TEST_F(Objects, CqOpensInEveryFormatWithEveryWaitObject) {
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric_.get(), set), 0);
    const fi_cq_format formats[] = {FI_CQ_FORMAT_UNSPEC, FI_CQ_FORMAT_CONTEXT, FI_CQ_FORMAT_MSG,
                                    FI_CQ_FORMAT_DATA, FI_CQ_FORMAT_TAGGED};
    const fi_wait_obj waits[] = {FI_WAIT_NONE, FI_WAIT_UNSPEC, FI_WAIT_FD, FI_WAIT_YIELD, FI_WAIT_SET};
    for (fi_cq_format format : formats) {
        for (fi_wait_obj wait : waits) {
            SCOPED_TRACE("format " + std::to_string(format) + ", wait object " + std::to_string(wait));
            Handle<fid_cq> cq;
            ASSERT_EQ(open_cq(domain_.get(), cq, format, wait, wait == FI_WAIT_SET ? set.get() : nullptr), 0);
            EXPECT_EQ(cq->fid.fclass, size_t{FI_CLASS_CQ});
            fi_cq_tagged_entry entry{};
            EXPECT_EQ(fi_cq_read(cq.get(), &entry, 1), -FI_EAGAIN);
            EXPECT_EQ(cq.close(), 0);
        }
    }
    EXPECT_EQ(set.close(), 0);
}

TEST_F(Objects, CqRejectsWhatItDoesNotOffer) {
    Handle<fid_cq> cq;
    EXPECT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_SET, nullptr), -FI_EINVAL);
    EXPECT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_MUTEX_COND), -FI_ENOSYS);
    EXPECT_EQ(fi_cq_open(domain_.get(), nullptr, cq.out(), nullptr), -FI_EINVAL);
    EXPECT_FALSE(cq);
}

TEST_F(Objects, CqRejectsAnUnknownFormat) {
    // A C application can store any int in the field; write it as one.
    static_assert(sizeof(fi_cq_format) == sizeof(int));
    fi_cq_attr attr{};
    const int unknown = 99;
    std::memcpy(&attr.format, &unknown, sizeof unknown);
    attr.wait_obj = FI_WAIT_NONE;
    Handle<fid_cq> cq;
    EXPECT_EQ(fi_cq_open(domain_.get(), &attr, cq.out(), nullptr), -FI_EINVAL);
    EXPECT_FALSE(cq);
}

TEST_F(Objects, EmptyCqHasNothingToRead) {
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_DATA, FI_WAIT_FD), 0);
    fi_cq_data_entry entries[4]{};
    EXPECT_EQ(fi_cq_read(cq.get(), entries, 4), -FI_EAGAIN);
    fi_addr_t sources[4];
    EXPECT_EQ(fi_cq_readfrom(cq.get(), entries, 4, sources), -FI_EAGAIN);
    fi_cq_err_entry error{};
    EXPECT_EQ(fi_cq_readerr(cq.get(), &error, 0), -FI_EAGAIN);
}

TEST_F(Objects, CqSreadTimesOutWhenNothingCompletes) {
    for (fi_wait_obj wait : {FI_WAIT_FD, FI_WAIT_UNSPEC, FI_WAIT_YIELD}) {
        SCOPED_TRACE("wait object " + std::to_string(wait));
        Handle<fid_cq> cq;
        ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, wait), 0);
        fi_cq_entry entry{};
        const auto start = Clock::now();
        EXPECT_EQ(fi_cq_sread(cq.get(), &entry, 1, nullptr, kShortTimeoutMs), -FI_EAGAIN);
        EXPECT_GE(elapsed_ms(start), kShortTimeoutFloorMs);
    }
}

TEST_F(Objects, CqSignalWakesABlockedSread) {
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_FD), 0);
    fi_cq_entry entry{};
    const auto start = Clock::now();
    Background signaller([&cq] {
        std::this_thread::sleep_for(kActionDelay);
        fi_cq_signal(cq.get());
    });
    EXPECT_EQ(fi_cq_sread(cq.get(), &entry, 1, nullptr, -1), -FI_ECANCELED);
    EXPECT_GE(elapsed_ms(start), 100);
    signaller.join();
    // The signal is consumed: the next wait times out again.
    EXPECT_EQ(fi_cq_sread(cq.get(), &entry, 1, nullptr, kShortTimeoutMs), -FI_EAGAIN);
}

TEST_F(Objects, CqHandsOutItsWaitObject) {
    for (fi_wait_obj wait : {FI_WAIT_FD, FI_WAIT_UNSPEC}) {
        SCOPED_TRACE("wait object " + std::to_string(wait));
        Handle<fid_cq> cq;
        ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, wait), 0);
        int fd = -1;
        ASSERT_EQ(fi_control(cq.id(), FI_GETWAIT, &fd), 0);
        EXPECT_TRUE(fd_is_open(fd));
        EXPECT_FALSE(fd_is_readable(fd));
        fi_wait_obj kind = FI_WAIT_NONE;
        ASSERT_EQ(fi_control(cq.id(), FI_GETWAITOBJ, &kind), 0);
        EXPECT_EQ(kind, FI_WAIT_FD);
        // A signal makes the descriptor readable.
        ASSERT_EQ(fi_cq_signal(cq.get()), 0);
        EXPECT_TRUE(fd_is_readable(fd));
    }
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
    int fd = -1;
    EXPECT_EQ(fi_control(cq.id(), FI_GETWAIT, &fd), -FI_ENODATA);
    fi_wait_obj kind = FI_WAIT_FD;
    ASSERT_EQ(fi_control(cq.id(), FI_GETWAITOBJ, &kind), 0);
    EXPECT_EQ(kind, FI_WAIT_NONE);
}

TEST_F(Objects, TrywaitOnEmptyCqsSucceeds) {
    Handle<fid_cq> first;
    ASSERT_EQ(open_cq(domain_.get(), first, FI_CQ_FORMAT_CONTEXT, FI_WAIT_FD), 0);
    Handle<fid_cq> second;
    ASSERT_EQ(open_cq(domain_.get(), second, FI_CQ_FORMAT_TAGGED, FI_WAIT_UNSPEC), 0);
    fid* fids[] = {first.id(), second.id()};
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 2), 0);
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 0), 0);
}

TEST_F(Objects, CqExplainsErrors) {
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
    const char* text = fi_cq_strerror(cq.get(), FI_EINVAL, nullptr, nullptr, 0);
    ASSERT_NE(text, nullptr);
    EXPECT_GT(std::strlen(text), 0u);
    char buffer[256] = {};
    const char* copied = fi_cq_strerror(cq.get(), FI_ETRUNC, nullptr, buffer, sizeof buffer);
    ASSERT_NE(copied, nullptr);
    EXPECT_GT(std::strlen(copied), 0u);
}

// ================================================================= counters

TEST_F(Objects, CounterCountsEventsAndErrors) {
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_UNSPEC), 0);
    EXPECT_EQ(cntr->fid.fclass, size_t{FI_CLASS_CNTR});
    EXPECT_EQ(fi_cntr_read(cntr.get()), 0u);
    EXPECT_EQ(fi_cntr_readerr(cntr.get()), 0u);
    EXPECT_EQ(fi_cntr_add(cntr.get(), 5), 0);
    EXPECT_EQ(fi_cntr_read(cntr.get()), 5u);
    EXPECT_EQ(fi_cntr_add(cntr.get(), 3), 0);
    EXPECT_EQ(fi_cntr_read(cntr.get()), 8u);
    EXPECT_EQ(fi_cntr_set(cntr.get(), 2), 0);
    EXPECT_EQ(fi_cntr_read(cntr.get()), 2u);
    EXPECT_EQ(fi_cntr_adderr(cntr.get(), 4), 0);
    EXPECT_EQ(fi_cntr_readerr(cntr.get()), 4u);
    EXPECT_EQ(fi_cntr_adderr(cntr.get(), 1), 0);
    EXPECT_EQ(fi_cntr_readerr(cntr.get()), 5u);
    EXPECT_EQ(fi_cntr_seterr(cntr.get(), 1), 0);
    EXPECT_EQ(fi_cntr_readerr(cntr.get()), 1u);
    EXPECT_EQ(fi_cntr_read(cntr.get()), 2u) << "errors do not touch the success count";
}

TEST_F(Objects, CounterOpensWithoutAttributes) {
    Handle<fid_cntr> cntr;
    ASSERT_EQ(fi_cntr_open(domain_.get(), nullptr, cntr.out(), nullptr), 0);
    EXPECT_EQ(fi_cntr_add(cntr.get(), 1), 0);
    EXPECT_EQ(fi_cntr_read(cntr.get()), 1u);
    EXPECT_EQ(fi_cntr_wait(cntr.get(), 1, 0), 0);
}

TEST_F(Objects, CounterRejectsFlags) {
    fi_cntr_attr attr{};
    attr.events = FI_CNTR_EVENTS_COMP;
    attr.wait_obj = FI_WAIT_NONE;
    attr.flags = 1;
    Handle<fid_cntr> cntr;
    EXPECT_EQ(fi_cntr_open(domain_.get(), &attr, cntr.out(), nullptr), -FI_EBADFLAGS);
    EXPECT_FALSE(cntr);
}

TEST_F(Objects, CounterWaitReturnsAtOnceWhenTheThresholdIsReached) {
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_UNSPEC), 0);
    EXPECT_EQ(fi_cntr_wait(cntr.get(), 0, 0), 0);
    ASSERT_EQ(fi_cntr_set(cntr.get(), 10), 0);
    EXPECT_EQ(fi_cntr_wait(cntr.get(), 10, kShortTimeoutMs), 0);
    EXPECT_EQ(fi_cntr_wait(cntr.get(), 3, -1), 0);
}

TEST_F(Objects, CounterWaitTimesOutBelowTheThreshold) {
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_UNSPEC), 0);
    ASSERT_EQ(fi_cntr_add(cntr.get(), 1), 0);
    const auto start = Clock::now();
    EXPECT_EQ(fi_cntr_wait(cntr.get(), 2, kShortTimeoutMs), -FI_ETIMEDOUT);
    EXPECT_GE(elapsed_ms(start), kShortTimeoutFloorMs);
}

TEST_F(Objects, CounterAddWakesAWaiter) {
    for (fi_wait_obj wait : {FI_WAIT_UNSPEC, FI_WAIT_FD, FI_WAIT_YIELD}) {
        SCOPED_TRACE("wait object " + std::to_string(wait));
        Handle<fid_cntr> cntr;
        ASSERT_EQ(open_cntr(domain_.get(), cntr, wait), 0);
        const auto start = Clock::now();
        Background adder([&cntr] {
            std::this_thread::sleep_for(kActionDelay);
            fi_cntr_add(cntr.get(), 2);
        });
        EXPECT_EQ(fi_cntr_wait(cntr.get(), 2, -1), 0);
        EXPECT_GE(elapsed_ms(start), 100);
        EXPECT_EQ(fi_cntr_read(cntr.get()), 2u);
    }
}

TEST_F(Objects, CounterErrorWakesAWaiter) {
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_UNSPEC), 0);
    const auto start = Clock::now();
    Background failer([&cntr] {
        std::this_thread::sleep_for(kActionDelay);
        fi_cntr_adderr(cntr.get(), 1);
    });
    EXPECT_EQ(fi_cntr_wait(cntr.get(), 1, kLongTimeoutMs), -FI_EAVAIL);
    EXPECT_LT(elapsed_ms(start), kLongTimeoutMs);
    EXPECT_EQ(fi_cntr_readerr(cntr.get()), 1u);
    EXPECT_EQ(fi_cntr_read(cntr.get()), 0u);
}

TEST_F(Objects, CounterHandsOutItsWaitDescriptor) {
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_FD), 0);
    int fd = -1;
    ASSERT_EQ(fi_control(cntr.id(), FI_GETWAIT, &fd), 0);
    EXPECT_TRUE(fd_is_open(fd));
    EXPECT_FALSE(fd_is_readable(fd));
    fi_wait_obj kind = FI_WAIT_NONE;
    ASSERT_EQ(fi_control(cntr.id(), FI_GETWAITOBJ, &kind), 0);
    EXPECT_EQ(kind, FI_WAIT_FD);
    ASSERT_EQ(fi_cntr_add(cntr.get(), 1), 0);
    EXPECT_TRUE(fd_is_readable(fd));
    // fi_trywait re-arms the descriptor of a counter.
    fid* fids[] = {cntr.id()};
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 1), 0);
    EXPECT_FALSE(fd_is_readable(fd));

    Handle<fid_cntr> polled;
    ASSERT_EQ(open_cntr(domain_.get(), polled, FI_WAIT_NONE), 0);
    EXPECT_EQ(fi_control(polled.id(), FI_GETWAIT, &fd), -FI_ENODATA);
}

// ============================================================= event queues

TEST_F(Objects, EqNeedsAttributes) {
    Handle<fid_eq> eq;
    EXPECT_EQ(fi_eq_open(fabric_.get(), nullptr, eq.out(), nullptr), -FI_EINVAL);
    EXPECT_FALSE(eq);
    EXPECT_EQ(open_eq(fabric_.get(), eq, 0, FI_WAIT_MUTEX_COND), -FI_ENOSYS);
    EXPECT_EQ(open_eq(fabric_.get(), eq, 0, FI_WAIT_SET, nullptr), -FI_EINVAL);
}

TEST_F(Objects, EqGivesBackWhatWasWritten) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, FI_WRITE), 0);
    EXPECT_EQ(eq->fid.fclass, size_t{FI_CLASS_EQ});
    int marker = 0;
    fi_eq_entry written{};
    written.fid = eq.id();
    written.context = &marker;
    written.data = 0x1234567890abcdefULL;
    ASSERT_EQ(fi_eq_write(eq.get(), FI_NOTIFY, &written, sizeof written, 0), static_cast<ssize_t>(sizeof written));

    // A peek leaves the event queued.
    uint32_t event = 0;
    fi_eq_entry read{};
    ASSERT_EQ(fi_eq_read(eq.get(), &event, &read, sizeof read, FI_PEEK), static_cast<ssize_t>(sizeof read));
    EXPECT_EQ(event, uint32_t{FI_NOTIFY});
    EXPECT_EQ(std::memcmp(&read, &written, sizeof read), 0);

    // A buffer too small for the event leaves it queued too.
    char small[sizeof written - 1];
    EXPECT_EQ(fi_eq_read(eq.get(), &event, small, sizeof small, 0), -FI_ETOOSMALL);

    event = 0;
    read = {};
    ASSERT_EQ(fi_eq_read(eq.get(), &event, &read, sizeof read, 0), static_cast<ssize_t>(sizeof read));
    EXPECT_EQ(event, uint32_t{FI_NOTIFY});
    EXPECT_EQ(read.fid, eq.id());
    EXPECT_EQ(read.context, &marker);
    EXPECT_EQ(read.data, 0x1234567890abcdefULL);

    EXPECT_EQ(fi_eq_read(eq.get(), &event, &read, sizeof read, 0), -FI_EAGAIN);
    fi_eq_err_entry error{};
    EXPECT_EQ(fi_eq_readerr(eq.get(), &error, 0), -FI_EAGAIN);
}

TEST_F(Objects, EqKeepsEventsInOrder) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, FI_WRITE), 0);
    for (uint64_t i = 0; i < 3; ++i) {
        fi_eq_entry entry{};
        entry.data = i;
        ASSERT_EQ(fi_eq_write(eq.get(), FI_NOTIFY, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
    }
    for (uint64_t i = 0; i < 3; ++i) {
        uint32_t event = 0;
        fi_eq_entry entry{};
        ASSERT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
        EXPECT_EQ(entry.data, i);
    }
}

TEST_F(Objects, EqWriteNeedsFiWrite) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    fi_eq_entry entry{};
    EXPECT_EQ(fi_eq_write(eq.get(), FI_NOTIFY, &entry, sizeof entry, 0), -FI_EINVAL);
    uint32_t event = 0;
    EXPECT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), -FI_EAGAIN);
}

TEST_F(Objects, EqSreadTimesOutWhenEmpty) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, FI_WRITE), 0);
    uint32_t event = 0;
    fi_eq_entry entry{};
    const auto start = Clock::now();
    EXPECT_EQ(fi_eq_sread(eq.get(), &event, &entry, sizeof entry, kShortTimeoutMs, 0), -FI_EAGAIN);
    EXPECT_GE(elapsed_ms(start), kShortTimeoutFloorMs);
}

TEST_F(Objects, EqWriteWakesABlockedSread) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, FI_WRITE), 0);
    int marker = 0;
    const auto start = Clock::now();
    Background writer([&eq, &marker] {
        std::this_thread::sleep_for(kActionDelay);
        fi_eq_entry entry{};
        entry.context = &marker;
        entry.data = 77;
        fi_eq_write(eq.get(), FI_NOTIFY, &entry, sizeof entry, 0);
    });
    uint32_t event = 0;
    fi_eq_entry entry{};
    EXPECT_EQ(fi_eq_sread(eq.get(), &event, &entry, sizeof entry, -1, 0), static_cast<ssize_t>(sizeof entry));
    EXPECT_GE(elapsed_ms(start), 100);
    EXPECT_EQ(event, uint32_t{FI_NOTIFY});
    EXPECT_EQ(entry.context, &marker);
    EXPECT_EQ(entry.data, 77u);
}

TEST_F(Objects, EqHandsOutItsWaitDescriptor) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, FI_WRITE, FI_WAIT_FD), 0);
    int fd = -1;
    ASSERT_EQ(fi_control(eq.id(), FI_GETWAIT, &fd), 0);
    EXPECT_TRUE(fd_is_open(fd));
    EXPECT_FALSE(fd_is_readable(fd));
    fi_eq_entry entry{};
    ASSERT_EQ(fi_eq_write(eq.get(), FI_NOTIFY, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
    EXPECT_TRUE(fd_is_readable(fd));
    fid* fids[] = {eq.id()};
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 1), -FI_EAGAIN);
    uint32_t event = 0;
    ASSERT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
    EXPECT_FALSE(fd_is_readable(fd));
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 1), 0);
}

// ========================================================== address vectors

TEST_F(Objects, AvOpensAsMapOrTable) {
    for (fi_av_type type : {FI_AV_MAP, FI_AV_TABLE, FI_AV_UNSPEC}) {
        SCOPED_TRACE("type " + std::to_string(type));
        Handle<fid_av> av;
        ASSERT_EQ(open_av(domain_.get(), av, type), 0);
        EXPECT_EQ(av->fid.fclass, size_t{FI_CLASS_AV});
        EXPECT_EQ(av.close(), 0);
    }
}

TEST_F(Objects, AvOfUnspecifiedTypeIsATable) {
    // Only a table accepts insertions without an fi_addr array.
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_UNSPEC), 0);
    EXPECT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", nullptr, 0, nullptr), 1);
    EXPECT_EQ(straddr_of(av.get(), 0), "fi_xen2mx://02:00:7f:00:00:01/3?udp=127.0.0.1:30723");

    Handle<fid_av> map;
    ASSERT_EQ(open_av(domain_.get(), map, FI_AV_MAP), 0);
    EXPECT_EQ(fi_av_insertsvc(map.get(), "127.0.0.1", "3", nullptr, 0, nullptr), -FI_EINVAL);
}

TEST_F(Objects, AvRefusesNamedAvs) {
    fi_av_attr attr{};
    attr.type = FI_AV_TABLE;
    char name[] = "shared";
    attr.name = name;
    Handle<fid_av> av;
    EXPECT_EQ(fi_av_open(domain_.get(), &attr, av.out(), nullptr), -FI_ENOSYS);
    EXPECT_FALSE(av);
}

TEST_F(Objects, AvResolvesANodeAndService) {
    for (fi_av_type type : {FI_AV_MAP, FI_AV_TABLE}) {
        SCOPED_TRACE("type " + std::to_string(type));
        Handle<fid_av> av;
        ASSERT_EQ(open_av(domain_.get(), av, type), 0);
        fi_addr_t addr = FI_ADDR_NOTAVAIL;
        ASSERT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", &addr, 0, nullptr), 1);
        EXPECT_NE(addr, FI_ADDR_NOTAVAIL);

        RawAddress raw{};
        size_t len = raw.size();
        ASSERT_EQ(fi_av_lookup(av.get(), addr, raw.data(), &len), 0);
        EXPECT_EQ(len, kAddressLength);
        EXPECT_EQ(straddr(av.get(), raw.data()), "fi_xen2mx://02:00:7f:00:00:01/3?udp=127.0.0.1:30723");

        // A lookup into too small a buffer says how much is needed.
        uint8_t part[4] = {};
        len = sizeof part;
        EXPECT_EQ(fi_av_lookup(av.get(), addr, part, &len), 0);
        EXPECT_EQ(len, kAddressLength);
        EXPECT_EQ(std::memcmp(part, raw.data(), sizeof part), 0);

        // So does fi_av_straddr.
        char text[8] = {};
        size_t text_len = sizeof text;
        fi_av_straddr(av.get(), raw.data(), text, &text_len);
        EXPECT_EQ(text_len, std::strlen("fi_xen2mx://02:00:7f:00:00:01/3?udp=127.0.0.1:30723") + 1);
        EXPECT_STREQ(text, "fi_xen2");
    }
}

TEST_F(Objects, AvTakesBackTheNamesItHandsOut) {
    RawAddress raw{};
    ASSERT_NO_FATAL_FAILURE(make_address("127.0.0.1", "3", &raw));
    for (fi_av_type type : {FI_AV_MAP, FI_AV_TABLE}) {
        SCOPED_TRACE("type " + std::to_string(type));
        Handle<fid_av> av;
        ASSERT_EQ(open_av(domain_.get(), av, type), 0);
        uint8_t two[2 * kAddressLength];
        std::memcpy(two, raw.data(), kAddressLength);
        std::memcpy(two + kAddressLength, raw.data(), kAddressLength);
        fi_addr_t addrs[2] = {FI_ADDR_NOTAVAIL, FI_ADDR_NOTAVAIL};
        ASSERT_EQ(fi_av_insert(av.get(), two, 2, addrs, 0, nullptr), 2);
        EXPECT_NE(addrs[0], FI_ADDR_NOTAVAIL);
        EXPECT_NE(addrs[1], FI_ADDR_NOTAVAIL);
        EXPECT_NE(addrs[0], addrs[1]);
        for (fi_addr_t addr : addrs) {
            RawAddress back{};
            size_t len = back.size();
            ASSERT_EQ(fi_av_lookup(av.get(), addr, back.data(), &len), 0);
            EXPECT_EQ(back, raw);
        }
    }
}

TEST_F(Objects, AvRefusesGarbage) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_MAP), 0);
    RawAddress garbage;
    garbage.fill(0xa5);
    fi_addr_t addr = 0;
    EXPECT_EQ(fi_av_insert(av.get(), garbage.data(), 1, &addr, 0, nullptr), 0);
    EXPECT_EQ(addr, FI_ADDR_NOTAVAIL);
    EXPECT_EQ(straddr(av.get(), garbage.data()), "fi_xen2mx://invalid");
}

TEST_F(Objects, AvReportsEachFailureWithSyncErr) {
    RawAddress good{};
    ASSERT_NO_FATAL_FAILURE(make_address("127.0.0.1", "4", &good));
    RawAddress garbage;
    garbage.fill(0xff);
    uint8_t three[3 * kAddressLength];
    std::memcpy(three, good.data(), kAddressLength);
    std::memcpy(three + kAddressLength, garbage.data(), kAddressLength);
    std::memcpy(three + 2 * kAddressLength, good.data(), kAddressLength);

    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_MAP), 0);
    fi_addr_t addrs[3] = {0, 0, 0};
    int errors[3] = {99, 99, 99};
    EXPECT_EQ(fi_av_insert(av.get(), three, 3, addrs, FI_SYNC_ERR, errors), 2);
    EXPECT_EQ(errors[0], 0);
    EXPECT_EQ(errors[1], -FI_EINVAL);
    EXPECT_EQ(errors[2], 0);
    EXPECT_NE(addrs[0], FI_ADDR_NOTAVAIL);
    EXPECT_EQ(addrs[1], FI_ADDR_NOTAVAIL);
    EXPECT_NE(addrs[2], FI_ADDR_NOTAVAIL);
}

TEST_F(Objects, AvRemovesAnAddressOnce) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
    fi_addr_t addrs[2] = {FI_ADDR_NOTAVAIL, FI_ADDR_NOTAVAIL};
    ASSERT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", &addrs[0], 0, nullptr), 1);
    ASSERT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "4", &addrs[1], 0, nullptr), 1);
    EXPECT_EQ(fi_av_remove(av.get(), &addrs[0], 1, 0), 0);
    EXPECT_EQ(fi_av_remove(av.get(), &addrs[0], 1, 0), -FI_EINVAL);
    RawAddress raw{};
    size_t len = raw.size();
    EXPECT_EQ(fi_av_lookup(av.get(), addrs[0], raw.data(), &len), -FI_EINVAL);
    // The other address is untouched.
    EXPECT_EQ(straddr_of(av.get(), addrs[1]), "fi_xen2mx://02:00:7f:00:00:01/4?udp=127.0.0.1:30724");
    // Handles never handed out are invalid too.
    fi_addr_t unknown = 1000;
    EXPECT_EQ(fi_av_remove(av.get(), &unknown, 1, 0), -FI_EINVAL);
    len = raw.size();
    EXPECT_EQ(fi_av_lookup(av.get(), unknown, raw.data(), &len), -FI_EINVAL);
}

TEST_F(Objects, AvRefusesServicesThatAreNotEndpointIds) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_MAP), 0);
    for (const char* service : {"255", "x"}) {
        SCOPED_TRACE(std::string("service ") + service);
        fi_addr_t addr = 0;
        EXPECT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", service, &addr, 0, nullptr), 0);
        EXPECT_EQ(addr, FI_ADDR_NOTAVAIL);
    }
    fi_addr_t addr = FI_ADDR_NOTAVAIL;
    EXPECT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "254", &addr, 0, nullptr), 1);
}

TEST_F(Objects, AvInsertsASymmetricRange) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_MAP), 0);
    fi_addr_t addrs[6];
    for (fi_addr_t& addr : addrs) addr = FI_ADDR_NOTAVAIL;
    ASSERT_EQ(fi_av_insertsym(av.get(), "127.0.0.1", 2, "5", 3, addrs, 0, nullptr), 6);
    const char* expected[6] = {
        "fi_xen2mx://02:00:7f:00:00:01/5?udp=127.0.0.1:30725", "fi_xen2mx://02:00:7f:00:00:01/6?udp=127.0.0.1:30726",
        "fi_xen2mx://02:00:7f:00:00:01/7?udp=127.0.0.1:30727", "fi_xen2mx://02:00:7f:00:00:02/5?udp=127.0.0.2:30725",
        "fi_xen2mx://02:00:7f:00:00:02/6?udp=127.0.0.2:30726", "fi_xen2mx://02:00:7f:00:00:02/7?udp=127.0.0.2:30727",
    };
    for (size_t i = 0; i < 6; ++i) {
        SCOPED_TRACE("entry " + std::to_string(i));
        ASSERT_NE(addrs[i], FI_ADDR_NOTAVAIL);
        EXPECT_EQ(straddr_of(av.get(), addrs[i]), expected[i]);
    }
}

TEST_F(Objects, AvEventsNeedABoundEq) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_MAP), 0);
    int context = 0;
    fi_addr_t addr = FI_ADDR_NOTAVAIL;
    EXPECT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", &addr, FI_EVENT, &context), -FI_ENOEQ);

    ASSERT_EQ(fi_av_bind(av.get(), eq.id(), 0), 0);
    fi_addr_t addrs[4];
    for (fi_addr_t& a : addrs) a = FI_ADDR_NOTAVAIL;
    EXPECT_EQ(fi_av_insertsym(av.get(), "127.0.0.1", 2, "3", 2, addrs, FI_EVENT, &context), 0);
    uint32_t event = 0;
    fi_eq_entry entry{};
    ASSERT_EQ(fi_eq_sread(eq.get(), &event, &entry, sizeof entry, kLongTimeoutMs, 0),
              static_cast<ssize_t>(sizeof entry));
    EXPECT_EQ(event, uint32_t{FI_AV_COMPLETE});
    EXPECT_EQ(entry.fid, av.id());
    EXPECT_EQ(entry.context, &context);
    EXPECT_EQ(entry.data, 4u);
    for (fi_addr_t a : addrs) EXPECT_NE(a, FI_ADDR_NOTAVAIL);
    EXPECT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), -FI_EAGAIN);

    // Without FI_EVENT the same AV answers synchronously.
    EXPECT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", &addr, 0, nullptr), 1);
    EXPECT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), -FI_EAGAIN);
}

TEST_F(Objects, AvOpenedWithFiEventNeedsABoundEq) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE, FI_EVENT), 0);
    int context = 0;
    fi_addr_t addr = FI_ADDR_NOTAVAIL;
    EXPECT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", &addr, 0, &context), -FI_ENOEQ);
    ASSERT_EQ(fi_av_bind(av.get(), eq.id(), 0), 0);
    EXPECT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", &addr, 0, &context), 0);
    uint32_t event = 0;
    fi_eq_entry entry{};
    ASSERT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
    EXPECT_EQ(event, uint32_t{FI_AV_COMPLETE});
    EXPECT_EQ(entry.context, &context);
    EXPECT_EQ(entry.data, 1u);
}

TEST_F(Objects, AvEventReportsAFailedAddress) {
    RawAddress good{};
    ASSERT_NO_FATAL_FAILURE(make_address("127.0.0.1", "3", &good));
    RawAddress garbage;
    garbage.fill(0x00);
    uint8_t two[2 * kAddressLength];
    std::memcpy(two, garbage.data(), kAddressLength);
    std::memcpy(two + kAddressLength, good.data(), kAddressLength);

    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_MAP), 0);
    ASSERT_EQ(fi_av_bind(av.get(), eq.id(), 0), 0);
    int context = 0;
    fi_addr_t addrs[2] = {0, FI_ADDR_NOTAVAIL};
    EXPECT_EQ(fi_av_insert(av.get(), two, 2, addrs, FI_EVENT, &context), 0);

    // The failure comes first, as an error entry naming the address's index.
    uint32_t event = 0;
    fi_eq_entry entry{};
    EXPECT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), -FI_EAVAIL);
    fi_eq_err_entry error{};
    ASSERT_EQ(fi_eq_readerr(eq.get(), &error, 0), static_cast<ssize_t>(sizeof error));
    EXPECT_EQ(error.fid, av.id());
    EXPECT_EQ(error.context, &context);
    EXPECT_EQ(error.data, 0u);
    const int err = error.err;

    ASSERT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
    EXPECT_EQ(event, uint32_t{FI_AV_COMPLETE});
    EXPECT_EQ(entry.context, &context);
    EXPECT_EQ(entry.data, 1u);
    EXPECT_EQ(addrs[0], FI_ADDR_NOTAVAIL);
    EXPECT_NE(addrs[1], FI_ADDR_NOTAVAIL);
    EXPECT_EQ(err, FI_EINVAL) << "a positive fabric errno, as fi_eq(3) says";
}

// ========================================================= memory regions

TEST_F(Objects, MrRegistrationsGetDistinctProviderKeys) {
    ASSERT_TRUE(info_->domain_attr->mr_mode & FI_MR_PROV_KEY);
    std::vector<char> buffer(8192);
    int contexts[2] = {};
    Handle<fid_mr> first;
    ASSERT_EQ(fi_mr_reg(domain_.get(), buffer.data(), 4096, FI_SEND | FI_RECV, 0, 0, 0, first.out(), &contexts[0]),
              0);
    Handle<fid_mr> second;
    ASSERT_EQ(fi_mr_reg(domain_.get(), buffer.data() + 4096, 4096, FI_READ | FI_WRITE | FI_REMOTE_READ |
                                                                         FI_REMOTE_WRITE,
                        0, 0, 0, second.out(), &contexts[1]),
              0);
    EXPECT_EQ(first->fid.fclass, size_t{FI_CLASS_MR});
    EXPECT_EQ(first->fid.context, &contexts[0]);
    EXPECT_NE(fi_mr_key(first.get()), fi_mr_key(second.get()));
    EXPECT_NE(fi_mr_key(first.get()), FI_KEY_NOTAVAIL);
    EXPECT_NE(fi_mr_desc(first.get()), nullptr);
    EXPECT_NE(fi_mr_desc(second.get()), nullptr);

    // Registering the same memory twice is allowed and gives another key.
    Handle<fid_mr> third;
    ASSERT_EQ(fi_mr_reg(domain_.get(), buffer.data(), 4096, 0, 0, 0, 0, third.out(), nullptr), 0);
    EXPECT_NE(fi_mr_key(third.get()), fi_mr_key(first.get()));
    EXPECT_NE(fi_mr_key(third.get()), fi_mr_key(second.get()));
}

TEST_F(Objects, MrUserKeysMustBeUnique) {
    int ret = 0;
    InfoPtr info = query_info(endpoint_type(), 0, &ret);
    ASSERT_EQ(ret, 0);
    ASSERT_EQ(info->domain_attr->mr_mode & FI_MR_PROV_KEY, 0);
    Handle<fid_domain> domain;
    ASSERT_EQ(fi_domain(fabric_.get(), info.get(), domain.out(), nullptr), 0);

    std::vector<char> buffer(4096);
    Handle<fid_mr> first;
    ASSERT_EQ(fi_mr_reg(domain.get(), buffer.data(), buffer.size(), FI_SEND, 0, 7, 0, first.out(), nullptr), 0);
    EXPECT_EQ(fi_mr_key(first.get()), 7u);
    Handle<fid_mr> second;
    EXPECT_EQ(fi_mr_reg(domain.get(), buffer.data(), buffer.size(), FI_SEND, 0, 7, 0, second.out(), nullptr),
              -FI_ENOKEY);
    EXPECT_FALSE(second);
    ASSERT_EQ(fi_mr_reg(domain.get(), buffer.data(), buffer.size(), FI_SEND, 0, 8, 0, second.out(), nullptr), 0);
    EXPECT_EQ(fi_mr_key(second.get()), 8u);

    // A closed region frees its key.
    EXPECT_EQ(first.close(), 0);
    ASSERT_EQ(fi_mr_reg(domain.get(), buffer.data(), buffer.size(), FI_SEND, 0, 7, 0, first.out(), nullptr), 0);
    EXPECT_EQ(fi_mr_key(first.get()), 7u);
}

TEST_F(Objects, MrRejectsWhatItDoesNotOffer) {
    EXPECT_EQ(info_->domain_attr->mr_iov_limit, 1u);
    std::vector<char> buffer(8192);
    Handle<fid_mr> mr;
    EXPECT_EQ(fi_mr_reg(domain_.get(), buffer.data(), 4096, 1ULL << 40, 0, 0, 0, mr.out(), nullptr), -FI_EINVAL);
    EXPECT_EQ(fi_mr_reg(domain_.get(), buffer.data(), 4096, FI_SEND, 0, 0, 1, mr.out(), nullptr), -FI_EBADFLAGS);
    const iovec iov[2] = {{buffer.data(), 4096}, {buffer.data() + 4096, 4096}};
    EXPECT_EQ(fi_mr_regv(domain_.get(), iov, 2, FI_SEND, 0, 0, 0, mr.out(), nullptr), -FI_EINVAL);
    EXPECT_FALSE(mr);
    ASSERT_EQ(fi_mr_regv(domain_.get(), iov, 1, FI_SEND, 0, 0, 0, mr.out(), nullptr), 0);
    EXPECT_NE(fi_mr_desc(mr.get()), nullptr);
}

TEST_F(Objects, MrRegistrationsAreReportedOnABoundEq) {
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, 0), 0);
    Handle<fid_domain> domain;
    ASSERT_EQ(fi_domain(fabric_.get(), info_.get(), domain.out(), nullptr), 0);
    ASSERT_EQ(fi_domain_bind(domain.get(), eq.id(), FI_REG_MR), 0);

    std::vector<char> buffer(8192);
    int contexts[2] = {};
    Handle<fid_mr> mrs[2];
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(fi_mr_reg(domain.get(), buffer.data() + i * 4096, 4096, FI_SEND | FI_RECV, 0, 0, 0,
                            mrs[i].out(), &contexts[i]),
                  0);
    }
    for (int i = 0; i < 2; ++i) {
        SCOPED_TRACE("registration " + std::to_string(i));
        uint32_t event = 0;
        fi_eq_entry entry{};
        ASSERT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
        EXPECT_EQ(event, uint32_t{FI_MR_COMPLETE});
        EXPECT_EQ(entry.fid, mrs[i].id());
        EXPECT_EQ(entry.context, &contexts[i]);
    }
    uint32_t event = 0;
    fi_eq_entry entry{};
    EXPECT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), -FI_EAGAIN);

    EXPECT_EQ(eq.close(), -FI_EBUSY);
    for (auto& mr : mrs) EXPECT_EQ(mr.close(), 0);
    EXPECT_EQ(domain.close(), 0);
    EXPECT_EQ(eq.close(), 0);
}

// ================================================================ endpoints

TEST_P(Endpoints, Open) {
    int context = 0;
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep, &context), 0);
    EXPECT_EQ(ep->fid.fclass, size_t{FI_CLASS_EP});
    EXPECT_EQ(ep->fid.context, &context);
    EXPECT_EQ(ep.close(), 0);
}

TEST_P(Endpoints, EnableNeedsAnAvAndCompletionQueues) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
    Handle<fid_cq> tx_cq;
    ASSERT_EQ(open_cq(domain_.get(), tx_cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
    Handle<fid_cq> rx_cq;
    ASSERT_EQ(open_cq(domain_.get(), rx_cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);

    EXPECT_EQ(fi_enable(ep.get()), -FI_ENOAV);
    ASSERT_EQ(fi_ep_bind(ep.get(), av.id(), 0), 0);
    EXPECT_EQ(fi_enable(ep.get()), -FI_ENOCQ);
    ASSERT_EQ(fi_ep_bind(ep.get(), tx_cq.id(), FI_TRANSMIT), 0);
    EXPECT_EQ(fi_enable(ep.get()), -FI_ENOCQ) << "no receive CQ yet";
    ASSERT_EQ(fi_ep_bind(ep.get(), rx_cq.id(), FI_RECV), 0);
    EXPECT_EQ(fi_enable(ep.get()), 0);
    EXPECT_EQ(fi_enable(ep.get()), 0) << "enabling twice is harmless";
}

TEST_P(Endpoints, EnableWithOneCqForBothDirections) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_MAP), 0);
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_MSG, FI_WAIT_FD), 0);
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), av.id(), 0), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), cq.id(), FI_TRANSMIT | FI_RECV), 0);
    EXPECT_EQ(fi_enable(ep.get()), 0);
}

TEST_P(Endpoints, BindingRules) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
    Handle<fid_av> other_av;
    ASSERT_EQ(open_av(domain_.get(), other_av, FI_AV_TABLE), 0);
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
    Handle<fid_cq> other_cq;
    ASSERT_EQ(open_cq(domain_.get(), other_cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_NONE), 0);
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_NONE), 0);
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);

    EXPECT_EQ(fi_ep_bind(ep.get(), cq.id(), 0), -FI_EBADFLAGS);
    ASSERT_EQ(fi_ep_bind(ep.get(), av.id(), 0), 0);
    EXPECT_EQ(fi_ep_bind(ep.get(), other_av.id(), 0), -FI_EINVAL);
    ASSERT_EQ(fi_ep_bind(ep.get(), cq.id(), FI_TRANSMIT | FI_RECV), 0);
    EXPECT_EQ(fi_ep_bind(ep.get(), other_cq.id(), FI_TRANSMIT), -FI_EINVAL);
    EXPECT_EQ(fi_ep_bind(ep.get(), other_cq.id(), FI_RECV), -FI_EINVAL);
    if (!(info_->caps & FI_RMA)) {
        EXPECT_EQ(fi_ep_bind(ep.get(), cntr.id(), FI_REMOTE_WRITE), -FI_EBADFLAGS) << "no RMA capability";
    }
    EXPECT_EQ(fi_ep_bind(ep.get(), cntr.id(), 0), -FI_EBADFLAGS);
    ASSERT_EQ(fi_enable(ep.get()), 0);

    EXPECT_EQ(fi_ep_bind(ep.get(), cntr.id(), FI_SEND), -FI_EOPBADSTATE);
    EXPECT_EQ(fi_ep_bind(ep.get(), other_cq.id(), FI_TRANSMIT), -FI_EOPBADSTATE);
    EXPECT_EQ(other_cq.close(), 0) << "a refused binding holds nothing";
    EXPECT_EQ(cntr.close(), 0);
    EXPECT_EQ(other_av.close(), 0);
}

TEST_P(Endpoints, CountersCanStandInForCqs) {
    Handle<fid_av> av;
    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
    Handle<fid_cntr> send_cntr;
    ASSERT_EQ(open_cntr(domain_.get(), send_cntr, FI_WAIT_UNSPEC), 0);
    Handle<fid_cntr> recv_cntr;
    ASSERT_EQ(open_cntr(domain_.get(), recv_cntr, FI_WAIT_UNSPEC), 0);
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), av.id(), 0), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), send_cntr.id(), FI_SEND), 0);
    EXPECT_EQ(fi_enable(ep.get()), -FI_ENOCQ);
    EXPECT_EQ(fi_ep_bind(ep.get(), recv_cntr.id(), FI_SEND), -FI_EINVAL) << "FI_SEND has its counter";
    ASSERT_EQ(fi_ep_bind(ep.get(), recv_cntr.id(), FI_RECV), 0);
    EXPECT_EQ(fi_enable(ep.get()), 0);
    EXPECT_EQ(send_cntr.close(), -FI_EBUSY);
    EXPECT_EQ(recv_cntr.close(), -FI_EBUSY);
}

TEST_P(Endpoints, DataOperationsCheckTheirArguments) {
    Handle<fid_av> av;
    Handle<fid_cq> cq;
    Handle<fid_ep> ep;
    ASSERT_NO_FATAL_FAILURE(open_enabled(ep, av, cq));
    fi_addr_t peer = FI_ADDR_NOTAVAIL;
    ASSERT_EQ(fi_av_insertsvc(av.get(), "127.0.0.1", "3", &peer, 0, nullptr), 1);

    char buffer[64] = {};
    int context = 0;
    // An address the AV never handed out.
    EXPECT_EQ(fi_send(ep.get(), buffer, sizeof buffer, nullptr, peer + 100, &context), -FI_EINVAL);
    EXPECT_EQ(fi_tsend(ep.get(), buffer, sizeof buffer, nullptr, FI_ADDR_UNSPEC, 42, &context), -FI_EINVAL);
    // Beyond the inject size and the largest message.
    std::vector<char> big(info_->tx_attr->inject_size + 1);
    EXPECT_EQ(fi_inject(ep.get(), big.data(), big.size(), peer), -FI_EMSGSIZE);
    EXPECT_EQ(fi_tinject(ep.get(), big.data(), big.size(), peer, 1), -FI_EMSGSIZE);
    std::vector<iovec> many(info_->tx_attr->iov_limit + 1, iovec{buffer, 1});
    EXPECT_EQ(fi_sendv(ep.get(), many.data(), nullptr, many.size(), peer, &context), -FI_EINVAL);
    fi_msg msg{};
    msg.msg_iov = many.data();
    msg.iov_count = 1;
    msg.addr = peer;
    EXPECT_EQ(fi_sendmsg(ep.get(), &msg, 1ULL << 40), -FI_EBADFLAGS);
    EXPECT_EQ(fi_recvmsg(ep.get(), &msg, FI_INJECT), -FI_EBADFLAGS);
    EXPECT_EQ(fi_recvmsg(ep.get(), &msg, FI_PEEK), -FI_EBADFLAGS) << "probes are tagged";
    fi_msg_tagged tmsg{};
    tmsg.msg_iov = many.data();
    tmsg.iov_count = 1;
    tmsg.addr = FI_ADDR_UNSPEC;
    EXPECT_EQ(fi_trecvmsg(ep.get(), &tmsg, FI_MULTI_RECV), -FI_EBADFLAGS) << "multi-receive is untagged";
    EXPECT_EQ(fi_trecvmsg(ep.get(), &tmsg, FI_DISCARD), -FI_EBADFLAGS) << "FI_DISCARD needs FI_PEEK or FI_CLAIM";
    EXPECT_EQ(fi_trecvmsg(ep.get(), &tmsg, FI_CLAIM), -FI_EINVAL) << "a claim needs its context";
    tmsg.context = &context;
    EXPECT_EQ(fi_trecvmsg(ep.get(), &tmsg, FI_CLAIM), -FI_ENOMSG) << "nothing was claimed";
    msg.iov_count = 2;
    msg.addr = FI_ADDR_UNSPEC;
    EXPECT_EQ(fi_recvmsg(ep.get(), &msg, FI_MULTI_RECV), -FI_EINVAL) << "one buffer";
    if (!(info_->caps & FI_RMA)) {
        // DGRAM: no RMA without the reliable connection.
        EXPECT_EQ(fi_read(ep.get(), buffer, sizeof buffer, nullptr, peer, 0, 0, &context), -FI_EOPNOTSUPP);
        EXPECT_EQ(fi_write(ep.get(), buffer, sizeof buffer, nullptr, peer, 0, 0, &context), -FI_EOPNOTSUPP);
    } else {
        EXPECT_EQ(fi_read(ep.get(), buffer, sizeof buffer, nullptr, peer + 100, 0, 0, &context), -FI_EINVAL);
        std::vector<char> big_inject(info_->tx_attr->inject_size + 1);
        EXPECT_EQ(fi_inject_write(ep.get(), big_inject.data(), big_inject.size(), peer, 0, 0), -FI_EMSGSIZE);
        iovec local{buffer, sizeof buffer};
        fi_rma_iov remote[2] = {{0, sizeof buffer, 1}, {0, sizeof buffer, 1}};
        fi_msg_rma rma{};
        rma.msg_iov = &local;
        rma.iov_count = 1;
        rma.addr = peer;
        rma.rma_iov = remote;
        rma.rma_iov_count = 2;
        rma.context = &context;
        EXPECT_EQ(fi_writemsg(ep.get(), &rma, 0), -FI_EINVAL) << "one remote range";
        rma.rma_iov_count = 1;
        remote[0].len = 1;
        EXPECT_EQ(fi_writemsg(ep.get(), &rma, 0), -FI_EINVAL) << "local and remote lengths differ";
        remote[0].len = sizeof buffer;
        EXPECT_EQ(fi_readmsg(ep.get(), &rma, FI_REMOTE_CQ_DATA), -FI_EINVAL) << "reads carry no CQ data";
        EXPECT_EQ(fi_writemsg(ep.get(), &rma, FI_MULTI_RECV), -FI_EBADFLAGS);
    }
    if (!(info_->caps & FI_ATOMIC)) {
        EXPECT_EQ(fi_atomic(ep.get(), buffer, 1, nullptr, peer, 0, 0, FI_UINT64, FI_SUM, &context), -FI_EOPNOTSUPP);
    } else {
        size_t count = 0;
        EXPECT_EQ(fi_atomicvalid(ep.get(), FI_UINT64, FI_SUM, &count), 0);
        EXPECT_EQ(count, 64u);
        EXPECT_EQ(fi_atomicvalid(ep.get(), FI_DOUBLE, FI_BOR, &count), -FI_EOPNOTSUPP) << "bitwise on a double";
        EXPECT_EQ(fi_atomicvalid(ep.get(), FI_UINT64, FI_CSWAP, &count), -FI_EOPNOTSUPP) << "a swap compares";
        EXPECT_EQ(fi_compare_atomicvalid(ep.get(), FI_UINT64, FI_CSWAP, &count), 0);
        EXPECT_EQ(fi_fetch_atomicvalid(ep.get(), FI_FLOAT, FI_ATOMIC_READ, &count), 0);
        EXPECT_EQ(count, 128u);
        EXPECT_EQ(fi_atomicvalid(ep.get(), FI_LONG_DOUBLE, FI_SUM, &count), -FI_EOPNOTSUPP);
        EXPECT_EQ(fi_atomic(ep.get(), buffer, 1, nullptr, peer, 0, 0, FI_DOUBLE, FI_BXOR, &context), -FI_EOPNOTSUPP);
        EXPECT_EQ(fi_atomic(ep.get(), buffer, 65, nullptr, peer, 0, 0, FI_UINT64, FI_SUM, &context), -FI_EMSGSIZE);
        fi_atomic_attr attr{};
        EXPECT_EQ(fi_query_atomic(domain_.get(), FI_INT32, FI_MIN, &attr, 0), 0);
        EXPECT_EQ(attr.size, 4u);
        EXPECT_EQ(attr.count, 128u);
        EXPECT_EQ(fi_query_atomic(domain_.get(), FI_INT32, FI_MSWAP, &attr, FI_COMPARE_ATOMIC), 0);
        EXPECT_EQ(fi_query_atomic(domain_.get(), FI_INT32, FI_MSWAP, &attr, FI_FETCH_ATOMIC), -FI_EOPNOTSUPP);
        EXPECT_EQ(fi_query_atomic(domain_.get(), FI_FLOAT_COMPLEX, FI_SUM, &attr, 0), -FI_EOPNOTSUPP);
    }
}

TEST_P(Endpoints, GetnameGivesTheEndpointAddress) {
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);
    char name[64] = {};
    size_t name_len = 4;
    EXPECT_EQ(fi_getname(ep.id(), name, &name_len), -FI_ETOOSMALL);
    EXPECT_EQ(name_len, 16u);
    name_len = sizeof name;
    ASSERT_EQ(fi_getname(ep.id(), name, &name_len), 0);
    ASSERT_EQ(name_len, 16u);
    EXPECT_EQ(static_cast<unsigned char>(name[0]), 0x58) << "the xen2mx name format";
    // Two endpoints never share an address.
    Handle<fid_ep> other;
    ASSERT_EQ(open_endpoint(other), 0);
    char other_name[64] = {};
    size_t other_len = sizeof other_name;
    ASSERT_EQ(fi_getname(other.id(), other_name, &other_len), 0);
    EXPECT_NE(std::memcmp(name, other_name, 16), 0);
}

// Sets an environment variable for the length of a scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
    ~ScopedEnv() { unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
};

TEST_P(Endpoints, LinkChoiceErrorsAreClear) {
    Handle<fid_ep> ep;
    {
        ScopedEnv link("FI_XEN2MX_LINK", "kmod");
        EXPECT_EQ(open_endpoint(ep), -FI_ENODEV) << "no kernel module loaded here";
    }
    {
        ScopedEnv link("FI_XEN2MX_LINK", "ethernet");
        EXPECT_EQ(open_endpoint(ep), -FI_EINVAL) << "the Ethernet link needs FI_XEN2MX_IFACE";
        ScopedEnv iface("FI_XEN2MX_IFACE", "no-such-if0");
        EXPECT_EQ(open_endpoint(ep), -FI_ENODEV);
    }
    {
        ScopedEnv iface("FI_XEN2MX_IFACE", "no-such-if0");
        EXPECT_EQ(open_endpoint(ep), -FI_ENODEV) << "auto: no Ethernet there, and no address for udp";
    }
    EXPECT_FALSE(ep);
    EXPECT_EQ(open_endpoint(ep), 0);
}

TEST_P(Endpoints, SetnameChoosesTheEndpointIdBeforeEnable) {
    Handle<fid_av> av;
    Handle<fid_cq> cq;
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);
    RawAddress wanted{};
    ASSERT_NO_FATAL_FAILURE(make_address("127.0.0.1", "201", &wanted));
    ASSERT_EQ(fi_setname(ep.id(), wanted.data(), wanted.size()), 0);
    RawAddress got{};
    size_t len = got.size();
    ASSERT_EQ(fi_getname(ep.id(), got.data(), &len), 0);
    EXPECT_EQ(got, wanted);
    // Taken by this endpoint: another cannot have it.
    Handle<fid_ep> other;
    ASSERT_EQ(open_endpoint(other), 0);
    EXPECT_EQ(fi_setname(other.id(), wanted.data(), wanted.size()), -FI_EADDRINUSE);
    uint8_t junk[16] = {1};
    EXPECT_EQ(fi_setname(ep.id(), junk, sizeof junk), -FI_EINVAL);
    len = got.size();
    ASSERT_EQ(fi_getname(other.id(), got.data(), &len), 0) << "a refused name leaves the old one";
    EXPECT_NE(got, wanted);

    ASSERT_EQ(open_av(domain_.get(), av, FI_AV_TABLE), 0);
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_TAGGED, FI_WAIT_NONE), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), av.id(), 0), 0);
    ASSERT_EQ(fi_ep_bind(ep.get(), cq.id(), FI_TRANSMIT | FI_RECV), 0);
    ASSERT_EQ(fi_enable(ep.get()), 0);
    EXPECT_EQ(fi_setname(ep.id(), wanted.data(), wanted.size()), -FI_EOPBADSTATE);
}

TEST_P(Endpoints, DataOperationsNeedAnEnabledEndpoint) {
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);
    char buffer[8] = {};
    EXPECT_EQ(fi_send(ep.get(), buffer, sizeof buffer, nullptr, 0, nullptr), -FI_EOPBADSTATE);
    EXPECT_EQ(fi_trecv(ep.get(), buffer, sizeof buffer, nullptr, FI_ADDR_UNSPEC, 0, 0, nullptr), -FI_EOPBADSTATE);
}

TEST_P(Endpoints, NothingToCancelAndOnlyTheMultiRecvOption) {
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);
    int context = 0;
    EXPECT_EQ(fi_cancel(ep.id(), &context), -FI_ENOENT);
    size_t value = 0;
    size_t len = sizeof value;
    ASSERT_TRUE(info_->caps & FI_MULTI_RECV);
    EXPECT_EQ(fi_getopt(ep.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &value, &len), 0);
    EXPECT_EQ(len, sizeof value);
    EXPECT_EQ(value, 128u) << "the documented default";
    value = 4096;
    EXPECT_EQ(fi_setopt(ep.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &value, sizeof value), 0);
    value = 0;
    EXPECT_EQ(fi_getopt(ep.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &value, &len), 0);
    EXPECT_EQ(value, 4096u);
    EXPECT_EQ(fi_setopt(ep.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &value, 4), -FI_EINVAL);
    len = 4;
    EXPECT_EQ(fi_getopt(ep.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &value, &len), -FI_ETOOSMALL);
    EXPECT_EQ(len, sizeof value);
    EXPECT_EQ(fi_getopt(ep.id(), FI_OPT_ENDPOINT, FI_OPT_CM_DATA_SIZE, &value, &len), -FI_ENOPROTOOPT);

    // Without the capability, the option does not exist.
    InfoPtr plain(fi_dupinfo(info_.get()));
    ASSERT_TRUE(plain);
    plain->caps &= ~uint64_t{FI_MULTI_RECV};
    plain->rx_attr->caps &= ~uint64_t{FI_MULTI_RECV};
    Handle<fid_ep> other;
    ASSERT_EQ(fi_endpoint(domain_.get(), plain.get(), other.out(), nullptr), 0);
    len = sizeof value;
    EXPECT_EQ(fi_getopt(other.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &value, &len), -FI_ENOPROTOOPT);
    EXPECT_EQ(fi_setopt(other.id(), FI_OPT_ENDPOINT, FI_OPT_MIN_MULTI_RECV, &value, sizeof value), -FI_ENOPROTOOPT);
    char buffer[64];
    iovec iov{buffer, sizeof buffer};
    fi_msg msg{};
    msg.msg_iov = &iov;
    msg.iov_count = 1;
    msg.addr = FI_ADDR_UNSPEC;
    EXPECT_EQ(fi_recvmsg(other.get(), &msg, FI_MULTI_RECV), -FI_EBADFLAGS) << "nor the flag";
}

TEST_P(Endpoints, OperationFlagsRoundTrip) {
    Handle<fid_ep> ep;
    ASSERT_EQ(open_endpoint(ep), 0);

    uint64_t flags = FI_TRANSMIT | FI_COMPLETION;
    ASSERT_EQ(fi_control(ep.id(), FI_SETOPSFLAG, &flags), 0);
    flags = FI_TRANSMIT;
    ASSERT_EQ(fi_control(ep.id(), FI_GETOPSFLAG, &flags), 0);
    EXPECT_EQ(flags, uint64_t{FI_COMPLETION | FI_TRANSMIT});

    flags = FI_RECV | FI_COMPLETION;
    ASSERT_EQ(fi_control(ep.id(), FI_SETOPSFLAG, &flags), 0);
    flags = FI_RECV;
    ASSERT_EQ(fi_control(ep.id(), FI_GETOPSFLAG, &flags), 0);
    EXPECT_EQ(flags, uint64_t{FI_COMPLETION | FI_RECV});

    // Each side keeps its own flags.
    flags = FI_TRANSMIT | FI_INJECT;
    ASSERT_EQ(fi_control(ep.id(), FI_SETOPSFLAG, &flags), 0);
    flags = FI_RECV;
    ASSERT_EQ(fi_control(ep.id(), FI_GETOPSFLAG, &flags), 0);
    EXPECT_EQ(flags, uint64_t{FI_COMPLETION | FI_RECV});
    flags = FI_TRANSMIT;
    ASSERT_EQ(fi_control(ep.id(), FI_GETOPSFLAG, &flags), 0);
    EXPECT_EQ(flags, uint64_t{FI_INJECT | FI_TRANSMIT});

    // One side at a time.
    flags = FI_TRANSMIT | FI_RECV;
    EXPECT_EQ(fi_control(ep.id(), FI_GETOPSFLAG, &flags), -FI_EINVAL);
    flags = FI_COMPLETION;
    EXPECT_EQ(fi_control(ep.id(), FI_SETOPSFLAG, &flags), -FI_EINVAL);
}

TEST_P(Endpoints, OpenRefusesWhatIsNotOffered) {
    Handle<fid_ep> ep;
    {
        InfoPtr info(fi_dupinfo(info_.get()));
        ASSERT_TRUE(info);
        info->ep_attr->type = FI_EP_MSG;
        EXPECT_EQ(fi_endpoint(domain_.get(), info.get(), ep.out(), nullptr), -FI_ENOPROTOOPT);
    }
    {
        InfoPtr info(fi_dupinfo(info_.get()));
        ASSERT_TRUE(info);
        info->caps |= FI_COLLECTIVE;
        EXPECT_EQ(fi_endpoint(domain_.get(), info.get(), ep.out(), nullptr), -FI_ENODATA);
    }
    EXPECT_FALSE(ep);
}

// ================================================================ wait sets

TEST_F(Objects, WaitSetOpensOnDescriptorsOnly) {
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric_.get(), set, FI_WAIT_FD), 0);
    EXPECT_EQ(set->fid.fclass, size_t{FI_CLASS_WAIT});
    int fd = -1;
    ASSERT_EQ(fi_control(set.id(), FI_GETWAIT, &fd), 0);
    EXPECT_TRUE(fd_is_open(fd));
    Handle<fid_wait> unspecified;
    EXPECT_EQ(open_wait_set(fabric_.get(), unspecified, FI_WAIT_UNSPEC), 0);
    Handle<fid_wait> mutex;
    EXPECT_EQ(open_wait_set(fabric_.get(), mutex, FI_WAIT_MUTEX_COND), -FI_ENOSYS);
    EXPECT_FALSE(mutex);
}

TEST_F(Objects, WaitSetTimesOutWhenNothingHappens) {
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric_.get(), set), 0);
    auto start = Clock::now();
    EXPECT_EQ(fi_wait(set.get(), kShortTimeoutMs), -FI_ETIMEDOUT);
    EXPECT_GE(elapsed_ms(start), kShortTimeoutFloorMs);

    // Members that stay quiet change nothing.
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_SET, set.get()), 0);
    start = Clock::now();
    EXPECT_EQ(fi_wait(set.get(), kShortTimeoutMs), -FI_ETIMEDOUT);
    EXPECT_GE(elapsed_ms(start), kShortTimeoutFloorMs);
}

TEST_F(Objects, WaitSetWakesForACounter) {
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric_.get(), set), 0);
    Handle<fid_cntr> cntr;
    ASSERT_EQ(open_cntr(domain_.get(), cntr, FI_WAIT_SET, set.get()), 0);
    ASSERT_EQ(fi_cntr_add(cntr.get(), 1), 0);
    EXPECT_EQ(fi_wait(set.get(), kLongTimeoutMs), 0);
    // Once the counter is re-armed, the set is quiet again.
    fid* fids[] = {cntr.id()};
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 1), 0);
    EXPECT_EQ(fi_wait(set.get(), kShortTimeoutMs), -FI_ETIMEDOUT);

    // And a later event from another thread wakes a blocked wait.
    Background adder([&cntr] {
        std::this_thread::sleep_for(kActionDelay);
        fi_cntr_add(cntr.get(), 1);
    });
    EXPECT_EQ(fi_wait(set.get(), -1), 0);
    EXPECT_EQ(fi_cntr_read(cntr.get()), 2u);
}

TEST_F(Objects, WaitSetWakesForAnEq) {
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric_.get(), set), 0);
    Handle<fid_eq> eq;
    ASSERT_EQ(open_eq(fabric_.get(), eq, FI_WRITE, FI_WAIT_SET, set.get()), 0);
    fid* fids[] = {eq.id(), set.id()};
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 2), 0);
    fi_eq_entry entry{};
    ASSERT_EQ(fi_eq_write(eq.get(), FI_NOTIFY, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
    EXPECT_EQ(fi_wait(set.get(), kLongTimeoutMs), 0);
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 2), -FI_EAGAIN);
    uint32_t event = 0;
    ASSERT_EQ(fi_eq_read(eq.get(), &event, &entry, sizeof entry, 0), static_cast<ssize_t>(sizeof entry));
    EXPECT_EQ(fi_trywait(fabric_.get(), fids, 2), 0);
    EXPECT_EQ(fi_wait(set.get(), kShortTimeoutMs), -FI_ETIMEDOUT);
}

TEST_F(Objects, WaitSetWakesForACqSignal) {
    Handle<fid_wait> set;
    ASSERT_EQ(open_wait_set(fabric_.get(), set), 0);
    Handle<fid_cq> cq;
    ASSERT_EQ(open_cq(domain_.get(), cq, FI_CQ_FORMAT_CONTEXT, FI_WAIT_SET, set.get()), 0);
    EXPECT_EQ(fi_wait(set.get(), kShortTimeoutMs), -FI_ETIMEDOUT);
    ASSERT_EQ(fi_cq_signal(cq.get()), 0);
    EXPECT_EQ(fi_wait(set.get(), kLongTimeoutMs), 0);
}

}  // namespace
