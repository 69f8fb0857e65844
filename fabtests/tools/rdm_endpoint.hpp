// One RDM endpoint with its fabric, domain, completion queue and address
// vector, as the tools that drive the provider through libfabric open it.
// Every object is owned: whatever way a tool leaves, the endpoint closes
// before what it is bound to.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "unit/fabric_handles.hpp"

namespace xen2mx::tools {

struct RdmEndpoint {
    // Declared parent first: destruction closes children first.
    test::InfoPtr info;
    test::Handle<fid_fabric> fabric;
    test::Handle<fid_domain> domain;
    test::Handle<fid_cq> cq;
    test::Handle<fid_av> av;
    test::Handle<fid_ep> ep;

    // fi_getinfo, fi_fabric, fi_domain. 0, or the negative error with
    // *failed naming the call.
    int open_domain(const fi_info* hints, const char** failed) {
        fi_info* found = nullptr;
        const int ret = fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints, &found);
        info.reset(found);
        if (ret) return failure(failed, "fi_getinfo", ret);
        if (int r = fi_fabric(info->fabric_attr, fabric.out(), nullptr)) return failure(failed, "fi_fabric", r);
        if (int r = fi_domain(fabric.get(), info.get(), domain.out(), nullptr)) return failure(failed, "fi_domain", r);
        return 0;
    }

    // A table AV of `av_count` addresses (0: the provider's choice) and the
    // endpoint, bound to both and enabled; cq must be open by now, since
    // the caller chooses its attributes.
    int open_endpoint(size_t av_count, const char** failed) {
        fi_av_attr av_attr{};
        av_attr.type = FI_AV_TABLE;
        av_attr.count = av_count;
        if (int r = fi_av_open(domain.get(), &av_attr, av.out(), nullptr)) return failure(failed, "fi_av_open", r);
        if (int r = fi_endpoint(domain.get(), info.get(), ep.out(), nullptr)) return failure(failed, "fi_endpoint", r);
        if (int r = fi_ep_bind(ep.get(), cq.id(), FI_TRANSMIT | FI_RECV)) return failure(failed, "fi_ep_bind cq", r);
        if (int r = fi_ep_bind(ep.get(), av.id(), 0)) return failure(failed, "fi_ep_bind av", r);
        if (int r = fi_enable(ep.get())) return failure(failed, "fi_enable", r);
        return 0;
    }

    // The endpoint's address, as fi_av_insert takes it on the other side.
    int name(std::vector<uint8_t>* out) const {
        out->resize(64);
        size_t len = out->size();
        int ret = fi_getname(ep.id(), out->data(), &len);
        if (ret == -FI_ETOOSMALL) {
            out->resize(len);
            ret = fi_getname(ep.id(), out->data(), &len);
        }
        out->resize(ret ? 0 : len);
        return ret;
    }

    // Closes children first, each even when another failed; calls
    // failed(what, error) for each close that failed. True when none did.
    template <typename Report>
    bool close(Report failed) {
        bool ok = true;
        auto one = [&](auto& handle, const char* what) {
            if (const int ret = handle.close()) {
                failed(what, ret);
                ok = false;
            }
        };
        one(ep, "endpoint");
        one(av, "av");
        one(cq, "cq");
        one(domain, "domain");
        one(fabric, "fabric");
        info.reset();
        return ok;
    }

private:
    static int failure(const char** failed, const char* call, int ret) {
        *failed = call;
        return ret;
    }
};

}  // namespace xen2mx::tools
