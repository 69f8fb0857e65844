#include "fid.hpp"

#include <cstring>

#include <rdma/fi_errno.h>

namespace xen2mx::api {

const char* provide_text(const char* text, char* buf, size_t len) {
    if (!buf || !len) return text;
    std::strncpy(buf, text, len - 1);
    buf[len - 1] = '\0';
    return buf;
}

int fid_no_bind(fid*, fid*, uint64_t) { return -FI_ENOSYS; }
int fid_no_control(fid*, int, void*) { return -FI_ENOSYS; }
int fid_no_ops_open(fid*, const char*, uint64_t, void**, void*) { return -FI_ENOSYS; }
int fid_no_tostr(const fid*, char*, size_t) { return -FI_ENOSYS; }
int fid_no_ops_set(fid*, const char*, uint64_t, void*, void*) { return -FI_ENOSYS; }

}  // namespace xen2mx::api
