/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A send's gather list (XEN2MX_IOC_SEND), checked, copied and walked page
 * by page the same way by xen2mx.ko and xen2mx-front.ko. Static inline:
 * each module compiles its own copy.
 */
#ifndef XEN2MX_COMMON_IOVEC_H
#define XEN2MX_COMMON_IOVEC_H

#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "../include/uapi/xen2mx.h"
#include "../xen2mx_frame.h"

/*
 * The list of `req`, in kernel memory (kfree() it), each piece and the
 * whole no longer than max_frame, every piece readable, the whole at least
 * an MXoE header; its length in *total. An ERR_PTR when it is not.
 */
static inline struct xen2mx_iovec *x2m_iov_fetch(const struct xen2mx_send *req, u64 max_frame, u64 *total)
{
	struct xen2mx_iovec *iov;
	u64 sum = 0;
	u32 i;
	int ret;

	if (req->iov_count == 0 || req->iov_count > XEN2MX_SEND_IOV_MAX)
		return ERR_PTR(-EINVAL);
	if (req->flags & ~XEN2MX_SEND_ZEROCOPY)
		return ERR_PTR(-EINVAL);
	iov = memdup_user(u64_to_user_ptr(req->iov), req->iov_count * sizeof(*iov));
	if (IS_ERR(iov))
		return iov;
	for (i = 0; i < req->iov_count; i++) {
		u64 end;

		ret = -EMSGSIZE;
		if (iov[i].len > max_frame)
			goto bad;
		ret = -EFAULT;
		if (iov[i].len && (check_add_overflow(iov[i].base, iov[i].len, &end) ||
				   !access_ok(u64_to_user_ptr(iov[i].base), iov[i].len)))
			goto bad;
		sum += iov[i].len;
	}
	ret = -EMSGSIZE;
	if (sum > max_frame)
		goto bad;
	ret = -EINVAL;
	if (sum < X2M_HEAD_LEN)
		goto bad;
	*total = sum;
	return iov;
bad:
	kfree(iov);
	return ERR_PTR(ret);
}

/* Copies the first `bytes` of the gather list. */
static inline int x2m_iov_copy(u8 *to, const struct xen2mx_iovec *iov, u32 count, u64 bytes)
{
	u32 i;

	for (i = 0; i < count && bytes; i++) {
		u64 len = min(iov[i].len, bytes);

		if (!len)
			continue;
		if (copy_from_user(to, u64_to_user_ptr(iov[i].base), len))
			return -EFAULT;
		to += len;
		bytes -= len;
	}
	return 0;
}

/*
 * What of one piece lies past the first *skip bytes of the list, in *base
 * and *len; false when none does (the piece is then taken off *skip).
 */
static inline bool x2m_iov_past(const struct xen2mx_iovec *piece, u64 *skip, u64 *base, u64 *len)
{
	if (*skip >= piece->len) {
		*skip -= piece->len;
		return false;
	}
	*base = piece->base + *skip;
	*len = piece->len - *skip;
	*skip = 0;
	return true;
}

/* Pages that the len > 0 bytes from user address base span. */
static inline u64 x2m_iov_span_pages(u64 base, u64 len)
{
	return ((base + len - 1) >> PAGE_SHIFT) - (base >> PAGE_SHIFT) + 1;
}

/* Pages that bytes [skip, end) of the gather list span. */
static inline u64 x2m_iov_count_pages(const struct xen2mx_iovec *iov, u32 count, u64 skip)
{
	u64 pages = 0, base, len;
	u32 i;

	for (i = 0; i < count; i++)
		if (x2m_iov_past(&iov[i], &skip, &base, &len))
			pages += x2m_iov_span_pages(base, len);
	return pages;
}

/*
 * Counts `pages` more user pages pinned by an endpoint, unless that takes
 * it past `limit`: then nothing is counted and false returned.
 */
static inline bool x2m_iov_pin_budget(atomic_t *pinned, u64 pages, unsigned int limit)
{
	if (atomic_add_return(pages, pinned) > limit) {
		atomic_sub(pages, pinned);
		return false;
	}
	return true;
}

#endif
