#include "fid.hpp"

#include <rdma/fi_errno.h>

namespace xen2mx::api {

int fid_no_bind(fid*, fid*, uint64_t) { return -FI_ENOSYS; }
int fid_no_control(fid*, int, void*) { return -FI_ENOSYS; }
int fid_no_ops_open(fid*, const char*, uint64_t, void**, void*) { return -FI_ENOSYS; }
int fid_no_tostr(const fid*, char*, size_t) { return -FI_ENOSYS; }
int fid_no_ops_set(fid*, const char*, uint64_t, void*, void*) { return -FI_ENOSYS; }

}  // namespace xen2mx::api
