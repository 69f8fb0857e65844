// SPDX-License-Identifier: GPL-2.0
/*
 * Memory regions (XEN2MX_IOC_REGION_REGISTER / _DEREGISTER): user memory a
 * peer may pull, pinned for as long as it is registered so that the
 * receive path can answer PULLs from it while the process does not run
 * (pull.c). The pages are pinned long-term and charged to the process's
 * pinned memory (mm->pinned_vm, the figure RDMA charges too) against its
 * RLIMIT_MEMLOCK unless it has CAP_IPC_LOCK; the charge goes back to the
 * same mm, which each region holds, when the region goes: deregistered,
 * or with the endpoint, which the file takes with it however the process
 * ends.
 */
#include <linux/capability.h>
#include <linux/etherdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "xen2mx_kernel.h"
#include "xen2mx_region.h"

static unsigned int x2m_region_pages = 65536;
module_param_named(region_pages, x2m_region_pages, uint, 0644);
MODULE_PARM_DESC(region_pages, "Pages the memory regions of one endpoint may hold pinned (default 65536)");

#define X2M_PULL_REPLY_HEAD 32

static int x2m_region_check(struct x2m_endpoint *ep, const struct xen2mx_region *req)
{
	unsigned int max_reply = READ_ONCE(ep->board->mtu) + ETH_HLEN - X2M_PULL_REPLY_HEAD;

	if (req->id >= XEN2MX_REGION_IDS)
		return -EINVAL;
	if ((req->flags & ~XEN2MX_REGION_PULL) || !(req->flags & XEN2MX_REGION_PULL))
		return -EINVAL;
	if (req->seg_count == 0 || req->seg_count > XEN2MX_REGION_SEGS_MAX)
		return -EINVAL;
	/* The array is read as it is laid out in the process: 64-bit words. */
	if (req->segs % __alignof__(u64))
		return -EINVAL;
	if (req->reply_max == 0 || req->reply_max > max_reply)
		return -EINVAL;
	if (req->replies_per_block == 0 || req->replies_per_block > XEN2MX_REGION_REPLIES_MAX)
		return -EINVAL;
	if (!is_valid_ether_addr(req->peer_mac) || req->peer_endpoint >= XEN2MX_MAX_ENDPOINTS)
		return -EINVAL;
	return 0;
}

/*
 * Reads the segments and sizes the region: its bytes and the pages they
 * span. Zero-length segments are left out of `segs`.
 */
static int x2m_region_measure(const struct xen2mx_region *req, struct xen2mx_iovec **segs_out,
			      unsigned int *nr_segs, u64 *length, u64 *pages)
{
	struct xen2mx_iovec *segs;
	unsigned int i, kept = 0;
	u64 total = 0, spanned = 0;
	int ret;

	segs = memdup_user(u64_to_user_ptr(req->segs), req->seg_count * sizeof(*segs));
	if (IS_ERR(segs))
		return PTR_ERR(segs);
	for (i = 0; i < req->seg_count; i++) {
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
		spanned += ((end - 1) >> PAGE_SHIFT) - (base >> PAGE_SHIFT) + 1;
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

/* Charges `pages` to the current process, refused over its RLIMIT_MEMLOCK. */
static int x2m_region_charge(struct mm_struct *mm, unsigned long pages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	s64 pinned = atomic64_add_return(pages, &mm->pinned_vm);

	if ((u64)pinned > limit && !capable(CAP_IPC_LOCK)) {
		atomic64_sub(pages, &mm->pinned_vm);
		return -ENOMEM;
	}
	return 0;
}

/* Pins the segments' pages into r->pages; on failure, those pinned stay counted in r->nr_pages. */
static int x2m_region_pin(struct x2m_region *r, const struct xen2mx_iovec *segs, u64 total_pages)
{
	unsigned int i;
	u64 at = 0;

	for (i = 0; i < r->nr_segs; i++) {
		u64 base = segs[i].base, len = segs[i].len;
		unsigned long addr = base & PAGE_MASK;
		u64 want = ((base + len - 1) >> PAGE_SHIFT) - (base >> PAGE_SHIFT) + 1;

		r->segs[i].start = at;
		r->segs[i].len = len;
		r->segs[i].page = r->nr_pages;
		r->segs[i].offset = offset_in_page(base);
		at += len;
		while (want) {
			int chunk = min_t(u64, want, 1u << 16);
			int got;

			/* Read-only: the kernel only sends what is there. */
			got = pin_user_pages_fast(addr, chunk, FOLL_LONGTERM, r->pages + r->nr_pages);
			if (got <= 0)
				return got < 0 ? got : -EFAULT;
			r->nr_pages += got;
			addr += (unsigned long)got << PAGE_SHIFT;
			want -= got;
		}
	}
	return r->nr_pages == total_pages ? 0 : -EFAULT;
}

/* Gives back everything the region holds, once nothing serves from it. */
static void x2m_region_free(struct x2m_region *r)
{
	if (r->nr_pages)
		unpin_user_pages(r->pages, r->nr_pages);
	atomic64_sub(r->charged, &r->mm->pinned_vm);
	mmdrop(r->mm);
	kvfree(r->pages);
	kfree_rcu(r, rcu);
}

long x2m_ioctl_region_register(struct x2m_endpoint *ep, void __user *arg)
{
	struct xen2mx_region req;
	struct xen2mx_iovec *segs;
	struct x2m_region *r;
	unsigned int nr_segs;
	u64 length, pages;
	int ret;

	/* The pages and their charge belong to a process's memory. */
	if (!current->mm)
		return -EOPNOTSUPP;
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	ret = x2m_region_check(ep, &req);
	if (ret)
		return ret;
	ret = x2m_region_measure(&req, &segs, &nr_segs, &length, &pages);
	if (ret)
		return ret;
	ret = -E2BIG;
	if (pages > READ_ONCE(x2m_region_pages))
		goto out_segs;
	ret = -ENOMEM;
	r = kzalloc(struct_size(r, segs, nr_segs), GFP_KERNEL);
	if (!r)
		goto out_segs;
	r->pages = kvmalloc_array(pages, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages) {
		kfree(r);
		goto out_segs;
	}
	r->nr_segs = nr_segs;
	r->mm = current->mm;
	mmgrab(r->mm);

	/* One registration at a time per endpoint: ids and the page budget. */
	mutex_lock(&ep->region_mutex);
	ret = -EEXIST;
	if (rcu_access_pointer(ep->regions[req.id]))
		goto out_unlock;
	ret = -ENOSPC;
	if (ep->region_pages + pages > READ_ONCE(x2m_region_pages))
		goto out_unlock;
	ret = x2m_region_charge(r->mm, pages);
	if (ret)
		goto out_unlock;
	r->charged = pages;
	ret = x2m_region_pin(r, segs, pages);
	if (ret) {
		x2m_region_free(r);
		r = NULL;
		goto out_unlock;
	}
	r->id = req.id;
	r->seq = req.seq;
	r->peer_endpoint = req.peer_endpoint;
	ether_addr_copy(r->peer_mac, req.peer_mac);
	r->peer_index = req.peer_index;
	r->reply_max = req.reply_max;
	r->replies_per_block = req.replies_per_block;
	r->length = length;
	refcount_set(&r->users, 1);
	init_completion(&r->idle);

	req.pages = r->nr_pages;
	req.length = length;
	if (copy_to_user(arg, &req, sizeof(req))) {
		/* Never published: no server can hold it. */
		x2m_region_free(r);
		r = NULL;
		ret = -EFAULT;
		goto out_unlock;
	}
	ep->region_pages += r->nr_pages;
	atomic_inc(&ep->nr_regions);
	atomic_add(r->nr_pages, &ep->region_pages_now);
	x2m_global_add(XEN2MX_CTR_REGIONS, 1);
	x2m_global_add(XEN2MX_CTR_REGION_PAGES, r->nr_pages);
	rcu_assign_pointer(ep->regions[req.id], r);
	r = NULL;
	ret = 0;
out_unlock:
	mutex_unlock(&ep->region_mutex);
	if (r) {
		/* Refused before anything was charged or pinned. */
		mmdrop(r->mm);
		kvfree(r->pages);
		kfree(r);
	}
out_segs:
	kfree(segs);
	return ret;
}

/* Takes a region out of the endpoint's table (region_mutex held) and frees it. */
static void x2m_region_retire(struct x2m_endpoint *ep, struct x2m_region *r)
{
	RCU_INIT_POINTER(ep->regions[r->id], NULL);
	ep->region_pages -= r->nr_pages;
	atomic_dec(&ep->nr_regions);
	atomic_sub(r->nr_pages, &ep->region_pages_now);
	/* A PULL being answered from it ends in a few microseconds. */
	if (!refcount_dec_and_test(&r->users))
		wait_for_completion(&r->idle);
	x2m_global_add(XEN2MX_CTR_REGIONS, -1);
	x2m_global_add(XEN2MX_CTR_REGION_PAGES, -(s64)r->nr_pages);
	x2m_region_free(r);
}

long x2m_ioctl_region_deregister(struct x2m_endpoint *ep, void __user *arg)
{
	struct xen2mx_region_id req;
	struct x2m_region *r;
	int ret = 0;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.id >= XEN2MX_REGION_IDS || req.pad)
		return -EINVAL;
	mutex_lock(&ep->region_mutex);
	r = rcu_dereference_protected(ep->regions[req.id], lockdep_is_held(&ep->region_mutex));
	if (r)
		x2m_region_retire(ep, r);
	else
		ret = -ENOENT;
	mutex_unlock(&ep->region_mutex);
	return ret;
}

/* Every region of an endpoint that is closing; the receive path no longer finds it. */
void x2m_regions_release(struct x2m_endpoint *ep)
{
	unsigned int id;

	mutex_lock(&ep->region_mutex);
	for (id = 0; id < XEN2MX_REGION_IDS; id++) {
		struct x2m_region *r = rcu_dereference_protected(ep->regions[id],
								 lockdep_is_held(&ep->region_mutex));

		if (r)
			x2m_region_retire(ep, r);
	}
	mutex_unlock(&ep->region_mutex);
}

/* The region `id` of the endpoint, held for serving; NULL when none. Under RCU. */
struct x2m_region *x2m_region_get(struct x2m_endpoint *ep, u32 id)
{
	struct x2m_region *r;

	if (id >= XEN2MX_REGION_IDS)
		return NULL;
	r = rcu_dereference(ep->regions[id]);
	if (r && refcount_inc_not_zero(&r->users))
		return r;
	return NULL;
}

void x2m_region_put(struct x2m_region *r)
{
	if (refcount_dec_and_test(&r->users))
		complete(&r->idle);
}
