/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The arguments of XEN2MX_IOC_REGION_REGISTER and XEN2MX_IOC_KEYED_REGISTER,
 * which xen2mx.ko and xen2mx-front.ko check, measure, charge and pin alike:
 * a process gets the same answers natively and in a guest, and for either
 * kind of region. Static inline, as abi_args.h.
 */
#ifndef XEN2MX_COMMON_REGION_ARGS_H
#define XEN2MX_COMMON_REGION_ARGS_H

#include <linux/capability.h>
#include <linux/etherdevice.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "../include/uapi/xen2mx.h"

/* The head of a PULL_REPLY, which the region's replies carry with their payload. */
#define X2M_PULL_REPLY_HEAD 32

/* Whether PULL_REPLYs of `reply_max` payload bytes fit frames of at most `max_frame` bytes. */
static inline bool x2m_region_reply_fits(u32 reply_max, unsigned int max_frame)
{
	return reply_max != 0 && reply_max <= max_frame - X2M_PULL_REPLY_HEAD;
}

/* The segment array's pointer and count, before anything is read from it. */
static inline int x2m_region_check_segs(u64 segs, u32 seg_count)
{
	if (seg_count == 0 || seg_count > XEN2MX_REGION_SEGS_MAX)
		return -EINVAL;
	/* The array is read as it is laid out in the process: 64-bit words. */
	if (segs % __alignof__(u64))
		return -EINVAL;
	return 0;
}

/* Everything but the segments, for an endpoint whose frames are at most `max_frame` bytes. */
static inline int x2m_region_check_args(const struct xen2mx_region *req, unsigned int max_frame)
{
	int ret;

	if (req->id >= XEN2MX_REGION_IDS)
		return -EINVAL;
	if ((req->flags & ~XEN2MX_REGION_PULL) || !(req->flags & XEN2MX_REGION_PULL))
		return -EINVAL;
	ret = x2m_region_check_segs(req->segs, req->seg_count);
	if (ret)
		return ret;
	if (!x2m_region_reply_fits(req->reply_max, max_frame))
		return -EINVAL;
	if (req->replies_per_block == 0 || req->replies_per_block > XEN2MX_REGION_REPLIES_MAX)
		return -EINVAL;
	if (!is_valid_ether_addr(req->peer_mac) || req->peer_endpoint >= XEN2MX_MAX_ENDPOINTS)
		return -EINVAL;
	return 0;
}

/* The pages a byte range spans. */
static inline u64 x2m_region_span(u64 base, u64 len)
{
	return ((base + len - 1) >> PAGE_SHIFT) - (base >> PAGE_SHIFT) + 1;
}

/*
 * Reads the `seg_count` segments at user address `user_segs` (checked by
 * x2m_region_check_segs()) and sizes the region: its bytes and the pages
 * they span. Zero-length segments are left out of `*segs_out` (kfree it).
 */
static inline int x2m_region_read_segs(u64 user_segs, u32 seg_count, struct xen2mx_iovec **segs_out,
				       unsigned int *nr_segs, u64 *length, u64 *pages)
{
	struct xen2mx_iovec *segs;
	unsigned int i, kept = 0;
	u64 total = 0, spanned = 0;
	int ret;

	segs = memdup_user(u64_to_user_ptr(user_segs), seg_count * sizeof(*segs));
	if (IS_ERR(segs))
		return PTR_ERR(segs);
	for (i = 0; i < seg_count; i++) {
		u64 base = segs[i].base, len = segs[i].len, end;

		if (!len)
			continue;
		ret = -E2BIG;
		if (len > U32_MAX)
			goto fail;
		ret = -EFAULT;
		if (check_add_overflow(base, len, &end) || !access_ok(u64_to_user_ptr(base), len))
			goto fail;
		total += len;
		ret = -E2BIG;
		if (total > U32_MAX)
			goto fail;
		spanned += x2m_region_span(base, len);
		segs[kept++] = segs[i];
	}
	ret = -EINVAL;
	if (!total)
		goto fail;
	*segs_out = segs;
	*nr_segs = kept;
	*length = total;
	*pages = spanned;
	return 0;
fail:
	kfree(segs);
	return ret;
}

/*
 * XEN2MX_IOC_REGION_REGISTER's request, read and checked for an endpoint
 * whose frames are at most `max_frame` bytes, its segments measured as
 * x2m_region_read_segs() does (kfree *segs_out).
 */
static inline int x2m_region_take_request(void __user *arg, unsigned int max_frame, struct xen2mx_region *req,
					  struct xen2mx_iovec **segs_out, unsigned int *nr_segs, u64 *length,
					  u64 *pages)
{
	int ret;

	/* The pages and their charge belong to a process's memory. */
	if (!current->mm)
		return -EOPNOTSUPP;
	if (copy_from_user(req, arg, sizeof(*req)))
		return -EFAULT;
	ret = x2m_region_check_args(req, max_frame);
	if (ret)
		return ret;
	return x2m_region_read_segs(req->segs, req->seg_count, segs_out, nr_segs, length, pages);
}

/*
 * XEN2MX_IOC_KEYED_REGISTER's request, read and checked, its segments
 * measured as x2m_region_read_segs() does (kfree *segs_out).
 */
static inline int x2m_keyed_take_request(void __user *arg, struct xen2mx_keyed_region *req,
					 struct xen2mx_iovec **segs_out, unsigned int *nr_segs, u64 *length,
					 u64 *pages)
{
	int ret;

	if (!current->mm)
		return -EOPNOTSUPP;
	if (copy_from_user(req, arg, sizeof(*req)))
		return -EFAULT;
	if (req->slot >= XEN2MX_KEYED_SLOTS || req->pad)
		return -EINVAL;
	ret = x2m_region_check_segs(req->segs, req->seg_count);
	if (ret)
		return ret;
	return x2m_region_read_segs(req->segs, req->seg_count, segs_out, nr_segs, length, pages);
}

/*
 * Charges `pages` to the process's pinned memory (mm->pinned_vm, what RDMA
 * charges too), refused over its RLIMIT_MEMLOCK unless it has CAP_IPC_LOCK.
 */
static inline int x2m_region_charge(struct mm_struct *mm, unsigned long pages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	s64 pinned = atomic64_add_return(pages, &mm->pinned_vm);

	if ((u64)pinned > limit && !capable(CAP_IPC_LOCK)) {
		atomic64_sub(pages, &mm->pinned_vm);
		return -ENOMEM;
	}
	return 0;
}

static inline void x2m_region_uncharge(struct mm_struct *mm, unsigned long pages)
{
	atomic64_sub(pages, &mm->pinned_vm);
}

/*
 * Pins the segments' pages long-term, in order, into `pages`; `*pinned`
 * counts those pinned, on failure too (unpin them). Read-only: the kernel
 * only sends what is there.
 */
static inline int x2m_region_pin_segs(const struct xen2mx_iovec *segs, unsigned int nr_segs, u64 total_pages,
				      struct page **pages, unsigned int *pinned)
{
	unsigned int i;

	*pinned = 0;
	for (i = 0; i < nr_segs; i++) {
		unsigned long addr = segs[i].base & PAGE_MASK;
		u64 want = x2m_region_span(segs[i].base, segs[i].len);

		while (want) {
			int chunk = min_t(u64, want, 1u << 16);
			int got = pin_user_pages_fast(addr, chunk, FOLL_LONGTERM, pages + *pinned);

			if (got <= 0)
				return got < 0 ? got : -EFAULT;
			*pinned += got;
			addr += (unsigned long)got << PAGE_SHIFT;
			want -= got;
		}
	}
	return *pinned == total_pages ? 0 : -EFAULT;
}

#endif
