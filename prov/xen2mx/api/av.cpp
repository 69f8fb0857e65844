#include "av.hpp"

#include <charconv>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <rdma/fi_errno.h>
#include <rdma/fi_eq.h>

#include "enosys.hpp"
#include "eq.hpp"
#include "link/host_addresses.hpp"
#include "enum_field.hpp"
#include "log.hpp"
#include "names.hpp"
#include "wire/address_codec.hpp"

namespace xen2mx::api {

namespace {

constexpr uint64_t kInsertFlags = FI_MORE | FI_SYNC_ERR | FI_EVENT;

// Reports the outcome of an insert: synchronously, or as FI_AV_COMPLETE
// (and one error entry per failed address) on the bound EQ with FI_EVENT.
int finish_insert(AddressVector* av, size_t inserted, const int* errors, size_t count, uint64_t flags,
                  void* context) {
    if (!(av->flags & FI_EVENT) && !(flags & FI_EVENT)) return static_cast<int>(inserted);
    for (size_t i = 0; i < count; ++i) {
        if (errors[i]) av->events->post_error(&av->handle.fid, context, i, errors[i], errors[i]);
    }
    fi_eq_entry entry{&av->handle.fid, context, inserted};
    if (int ret = av->events->post(FI_AV_COMPLETE, &entry, sizeof entry)) return ret;
    return 0;
}

int check_insert_flags(AddressVector* av, uint64_t flags) {
    if (flags & ~kInsertFlags) return -FI_EBADFLAGS;
    if (((flags | av->flags) & FI_EVENT) && !av->events) return -FI_ENOEQ;
    return 0;
}

// Inserts decoded addresses; fi_addr may be null for FI_AV_TABLE, where the
// handles follow from the insertion order.
template <typename Source>
int insert_each(AddressVector* av, size_t count, fi_addr_t* fi_addr, uint64_t flags, void* context,
                Source source) {
    if (!fi_addr && av->type == FI_AV_MAP) return -FI_EINVAL;
    std::vector<int> errors;
    try {
        errors.assign(count, 0);
    } catch (const std::exception&) {
        return -FI_ENOMEM;
    }
    int* sync_errors = (flags & FI_SYNC_ERR) ? static_cast<int*>(context) : nullptr;
    size_t inserted = 0;
    {
        std::lock_guard guard(av->lock);
        try {
            av->entries.reserve(av->entries.size() + count);
        } catch (const std::exception&) {
            return -FI_ENOMEM;
        }
        for (size_t i = 0; i < count; ++i) {
            std::optional<link::Address> address = source(i);
            if (address && address->endpoint > link::kMaxEndpointId) address.reset();
            if (!address) {
                errors[i] = FI_EINVAL;
                if (fi_addr) fi_addr[i] = FI_ADDR_NOTAVAIL;
                if (sync_errors) sync_errors[i] = -FI_EINVAL;
                continue;
            }
            if (fi_addr) fi_addr[i] = av->entries.size();
            av->entries.push_back(*address);
            if (sync_errors) sync_errors[i] = 0;
            ++inserted;
        }
    }
    return finish_insert(av, inserted, errors.data(), count, flags, sync_errors ? nullptr : context);
}

int av_insert(fid_av* handle, const void* addr, size_t count, fi_addr_t* fi_addr, uint64_t flags,
              void* context) {
    auto* av = object_of<AddressVector>(handle);
    if (count && !addr) return -FI_EINVAL;
    if (int ret = check_insert_flags(av, flags)) return ret;
    const auto* bytes = static_cast<const uint8_t*>(addr);
    return insert_each(av, count, fi_addr, flags, context, [bytes](size_t i) {
        return wire::decode_address({bytes + i * wire::kAddressLength, wire::kAddressLength});
    });
}

int av_insertsvc(fid_av* handle, const char* node, const char* service, fi_addr_t* fi_addr, uint64_t flags,
                 void* context) {
    auto* av = object_of<AddressVector>(handle);
    if (!node || !service) return -FI_EINVAL;
    if (int ret = check_insert_flags(av, flags)) return ret;
    const Params params = read_params();
    return insert_each(av, 1, fi_addr, flags, context, [&](size_t) -> std::optional<link::Address> {
        link::Address address;
        if (resolve_name(node, service, false, false, params, &address)) return std::nullopt;
        return address;
    });
}

// The i-th name of a symmetric range: a dotted quad counts up in its last
// octets, a host name in its trailing digits ("node07" + 3 = "node10").
std::optional<std::string> nth_name(const std::string& base, size_t i) {
    if (auto ipv4 = link::resolve_ipv4(base, true)) return link::ipv4_to_string(*ipv4 + static_cast<uint32_t>(i));
    size_t digits = base.size();
    while (digits > 0 && base[digits - 1] >= '0' && base[digits - 1] <= '9') --digits;
    if (digits == base.size()) return i == 0 ? std::optional<std::string>(base) : std::nullopt;
    unsigned long number = 0;
    std::from_chars(base.data() + digits, base.data() + base.size(), number);
    std::string suffix = std::to_string(number + i);
    const size_t width = base.size() - digits;
    if (suffix.size() < width) suffix.insert(0, width - suffix.size(), '0');
    return base.substr(0, digits) + suffix;
}

int av_insertsym(fid_av* handle, const char* node, size_t nodecnt, const char* service, size_t svccnt,
                 fi_addr_t* fi_addr, uint64_t flags, void* context) {
    auto* av = object_of<AddressVector>(handle);
    if (!node || !service || !nodecnt || !svccnt) return -FI_EINVAL;
    if (int ret = check_insert_flags(av, flags)) return ret;
    unsigned first_service = 0;
    const std::string_view svc(service);
    if (std::from_chars(svc.data(), svc.data() + svc.size(), first_service).ec != std::errc())
        return -FI_EINVAL;
    const Params params = read_params();
    const std::string base(node);
    return insert_each(av, nodecnt * svccnt, fi_addr, flags, context,
                       [&](size_t i) -> std::optional<link::Address> {
                           auto name = nth_name(base, i / svccnt);
                           if (!name) return std::nullopt;
                           const std::string svc_i = std::to_string(first_service + i % svccnt);
                           link::Address address;
                           if (resolve_name(name->c_str(), svc_i.c_str(), false, false, params, &address))
                               return std::nullopt;
                           return address;
                       });
}

int av_remove(fid_av* handle, fi_addr_t* fi_addr, size_t count, uint64_t flags) {
    auto* av = object_of<AddressVector>(handle);
    if (flags) return -FI_EBADFLAGS;
    if (count && !fi_addr) return -FI_EINVAL;
    std::lock_guard guard(av->lock);
    for (size_t i = 0; i < count; ++i) {
        if (fi_addr[i] >= av->entries.size() || !av->entries[fi_addr[i]]) return -FI_EINVAL;
    }
    for (size_t i = 0; i < count; ++i) av->entries[fi_addr[i]].reset();
    return 0;
}

int av_lookup(fid_av* handle, fi_addr_t fi_addr, void* addr, size_t* addrlen) {
    auto* av = object_of<AddressVector>(handle);
    if (!addrlen || (*addrlen && !addr)) return -FI_EINVAL;
    auto address = av->lookup(fi_addr);
    if (!address) return -FI_EINVAL;
    uint8_t bytes[wire::kAddressLength];
    wire::encode_address(*address, bytes);
    std::memcpy(addr, bytes, std::min(*addrlen, sizeof bytes));
    *addrlen = sizeof bytes;
    return 0;
}

const char* av_straddr(fid_av*, const void* addr, char* buf, size_t* len) {
    if (!len) return nullptr;
    std::string text = "fi_xen2mx://invalid";
    if (addr) {
        if (auto address = wire::decode_address({static_cast<const uint8_t*>(addr), wire::kAddressLength}))
            text = wire::address_to_string(*address);
    }
    if (buf && *len) {
        const size_t n = std::min(*len - 1, text.size());
        std::memcpy(buf, text.data(), n);
        buf[n] = '\0';
    }
    *len = text.size() + 1;
    return buf;
}

int av_close(fid* f) {
    auto* av = object_of<AddressVector>(f);
    if (av->dependents.busy()) return -FI_EBUSY;
    if (av->events) av->events->dependents.release();
    av->domain->dependents.release();
    std::unique_ptr<AddressVector> owner(av);
    return 0;
}

int av_bind(fid* f, fid* bfid, uint64_t flags) {
    auto* av = object_of<AddressVector>(f);
    if (!bfid || bfid->fclass != FI_CLASS_EQ) return -FI_EINVAL;
    if (flags) return -FI_EBADFLAGS;
    auto* eq = object_of<EventQueue>(bfid);
    if (eq->fabric != av->domain->fabric) return -FI_EINVAL;
    std::lock_guard guard(av->lock);
    if (av->events) return -FI_EBUSY;
    eq->dependents.hold();
    av->events = eq;
    return 0;
}

fi_ops av_fid_ops = {
    .size = sizeof(fi_ops),
    .close = av_close,
    .bind = av_bind,
    .control = fid_no_control,
    .ops_open = fid_no_ops_open,
    .tostr = fid_no_tostr,
    .ops_set = fid_no_ops_set,
};

fi_ops_av av_ops = {
    .size = sizeof(fi_ops_av),
    .insert = av_insert,
    .insertsvc = av_insertsvc,
    .insertsym = av_insertsym,
    .remove = av_remove,
    .lookup = av_lookup,
    .straddr = av_straddr,
    .av_set = X2M_ENOSYS(fi_ops_av, av_set),  // collectives are not offered
};

}  // namespace

std::optional<link::Address> AddressVector::lookup(fi_addr_t addr) {
    std::lock_guard guard(lock);
    if (addr >= entries.size()) return std::nullopt;
    return entries[addr];
}

fi_addr_t AddressVector::find(const link::Address& address) {
    std::lock_guard guard(lock);
    for (size_t i = 0; i < entries.size(); ++i) {
        const auto& entry = entries[i];
        if (entry && entry->board == address.board && entry->endpoint == address.endpoint) return i;
    }
    return FI_ADDR_NOTAVAIL;
}

int open_av(fid_domain* domain_handle, fi_av_attr* attr, fid_av** av_handle, void* context) {
    if (!domain_handle || !attr || !av_handle) return -FI_EINVAL;
    if (attr->flags & ~uint64_t{FI_EVENT | FI_SYMMETRIC}) return -FI_EBADFLAGS;
    if (attr->name) {
        X2M_WARN(FI_LOG_AV, "named (shared) address vectors are not supported\n");
        return -FI_ENOSYS;
    }
    if (attr->rx_ctx_bits) return -FI_EINVAL;  // no scalable endpoints
    auto* domain = object_of<Domain>(domain_handle);
    const int asked = raw(attr->type);
    if (asked != FI_AV_UNSPEC && asked != FI_AV_MAP && asked != FI_AV_TABLE) return -FI_EINVAL;
    fi_av_type type = asked != FI_AV_UNSPEC ? attr->type : domain->av_type;
    if (type == FI_AV_UNSPEC) type = FI_AV_TABLE;
    if (domain->av_type != FI_AV_UNSPEC && type != domain->av_type) {
        X2M_WARN(FI_LOG_AV, "AV type %d differs from the domain's %d\n", type, domain->av_type);
        return -FI_EINVAL;
    }
    auto av = std::make_unique<AddressVector>();
    av->domain = domain;
    av->type = type;
    av->flags = attr->flags;
    try {
        av->entries.reserve(attr->count);
    } catch (const std::exception&) {
        return -FI_ENOMEM;
    }
    av->handle.fid.fclass = FI_CLASS_AV;
    av->handle.fid.context = context;
    av->handle.fid.ops = &av_fid_ops;
    av->handle.ops = &av_ops;
    domain->dependents.hold();
    *av_handle = &av.release()->handle;
    return 0;
}

}  // namespace xen2mx::api
