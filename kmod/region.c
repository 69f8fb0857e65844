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
 * ends. Other modules register pages they hold (x2m_region_register_pages,
 * xen2mx_kapi.h) and get them back through a callback.
 */
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/sched/mm.h>

#include "common/region_args.h"
#include "xen2mx_kapi.h"
#include "xen2mx_kernel.h"
#include "xen2mx_region.h"

static unsigned int x2m_region_pages = 65536;
module_param_named(region_pages, x2m_region_pages, uint, 0644);
MODULE_PARM_DESC(region_pages, "Pages the memory regions of one endpoint may hold pinned (default 65536)");

static unsigned int x2m_region_max_frame(struct x2m_endpoint *ep)
{
	return READ_ONCE(ep->board->mtu) + ETH_HLEN;
}

static struct x2m_region *x2m_region_alloc(unsigned int nr_segs, u64 pages)
{
	struct x2m_region *r = kzalloc(struct_size(r, segs, nr_segs), GFP_KERNEL);

	if (!r)
		return NULL;
	r->pages = kvmalloc_array(pages, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages) {
		kfree(r);
		return NULL;
	}
	r->nr_segs = nr_segs;
	return r;
}

/* Gives back everything the region holds, once nothing serves from it. */
static void x2m_region_free(struct x2m_region *r)
{
	if (r->release) {
		r->release(r->release_priv);
	} else {
		if (r->nr_pages)
			unpin_user_pages(r->pages, r->nr_pages);
		x2m_region_uncharge(r->mm, r->charged);
		mmdrop(r->mm);
	}
	kvfree(r->pages);
	kfree_rcu(r, rcu);
}

/* Whether the endpoint has room for the region (region_mutex held): 0, -EEXIST or -ENOSPC. */
static int x2m_region_room(struct x2m_endpoint *ep, u32 id, u64 pages)
{
	if (rcu_access_pointer(ep->regions[id]))
		return -EEXIST;
	if (ep->region_pages + pages > READ_ONCE(x2m_region_pages))
		return -ENOSPC;
	return 0;
}

/* Fills in the region's identity and makes it servable (region_mutex held). */
static void x2m_region_publish(struct x2m_endpoint *ep, const struct xen2mx_region *req, struct x2m_region *r,
			       u64 length)
{
	r->id = req->id;
	r->seq = req->seq;
	r->peer_endpoint = req->peer_endpoint;
	ether_addr_copy(r->peer_mac, req->peer_mac);
	r->peer_index = req->peer_index;
	r->reply_max = req->reply_max;
	r->replies_per_block = req->replies_per_block;
	r->length = length;
	refcount_set(&r->users, 1);
	init_completion(&r->idle);
	ep->region_pages += r->nr_pages;
	atomic_inc(&ep->nr_regions);
	atomic_add(r->nr_pages, &ep->region_pages_now);
	x2m_global_add(XEN2MX_CTR_REGIONS, 1);
	x2m_global_add(XEN2MX_CTR_REGION_PAGES, r->nr_pages);
	rcu_assign_pointer(ep->regions[req->id], r);
}

long x2m_ioctl_region_register(struct x2m_endpoint *ep, void __user *arg)
{
	struct xen2mx_region req;
	struct xen2mx_iovec *segs;
	struct x2m_region *r;
	unsigned int nr_segs, i;
	u64 length, pages, at = 0;
	int ret;

	ret = x2m_region_take_request(arg, x2m_region_max_frame(ep), &req, &segs, &nr_segs, &length, &pages);
	if (ret)
		return ret;
	ret = -E2BIG;
	if (pages > READ_ONCE(x2m_region_pages))
		goto out_segs;
	ret = -ENOMEM;
	r = x2m_region_alloc(nr_segs, pages);
	if (!r)
		goto out_segs;
	r->mm = current->mm;
	mmgrab(r->mm);

	/* One registration at a time per endpoint: ids and the page budget. */
	mutex_lock(&ep->region_mutex);
	ret = x2m_region_room(ep, req.id, pages);
	if (ret)
		goto out_unlock;
	ret = x2m_region_charge(r->mm, pages);
	if (ret)
		goto out_unlock;
	r->charged = pages;
	for (i = 0; i < nr_segs; i++) {
		r->segs[i].start = at;
		r->segs[i].len = segs[i].len;
		r->segs[i].page = at ? r->segs[i - 1].page + x2m_region_span(segs[i - 1].base, segs[i - 1].len) : 0;
		r->segs[i].offset = offset_in_page(segs[i].base);
		at += segs[i].len;
	}
	ret = x2m_region_pin_segs(segs, nr_segs, pages, r->pages, &r->nr_pages);
	if (ret) {
		x2m_region_free(r);
		r = NULL;
		goto out_unlock;
	}
	req.pages = r->nr_pages;
	req.length = length;
	if (copy_to_user(arg, &req, sizeof(req))) {
		/* Never published: no server can hold it. */
		x2m_region_free(r);
		r = NULL;
		ret = -EFAULT;
		goto out_unlock;
	}
	x2m_region_publish(ep, &req, r, length);
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

int x2m_region_register_pages(struct x2m_endpoint *ep, const struct xen2mx_region *desc, struct page **pages,
			      unsigned int nr_pages, const struct x2m_region_run *runs, void (*release)(void *priv),
			      void *priv)
{
	struct x2m_region *r;
	unsigned int i;
	u64 length = 0;
	int ret;

	ret = x2m_region_check_args(desc, x2m_region_max_frame(ep));
	if (ret)
		return ret;
	if (!nr_pages || !release)
		return -EINVAL;
	for (i = 0; i < desc->seg_count; i++) {
		const struct x2m_region_run *run = &runs[i];

		if (!run->len || run->len > U32_MAX || run->offset >= PAGE_SIZE || run->page >= nr_pages ||
		    x2m_region_span(run->offset, run->len) > nr_pages - run->page)
			return -EINVAL;
		length += run->len;
	}
	if (length > U32_MAX)
		return -E2BIG;
	if (nr_pages > READ_ONCE(x2m_region_pages))
		return -E2BIG;
	r = x2m_region_alloc(desc->seg_count, nr_pages);
	if (!r)
		return -ENOMEM;
	memcpy(r->pages, pages, nr_pages * sizeof(*pages));
	r->nr_pages = nr_pages;
	for (i = 0, length = 0; i < desc->seg_count; i++) {
		r->segs[i].start = length;
		r->segs[i].len = runs[i].len;
		r->segs[i].page = runs[i].page;
		r->segs[i].offset = runs[i].offset;
		length += runs[i].len;
	}
	mutex_lock(&ep->region_mutex);
	ret = x2m_region_room(ep, desc->id, nr_pages);
	if (!ret) {
		r->release = release;
		r->release_priv = priv;
		x2m_region_publish(ep, desc, r, length);
	}
	mutex_unlock(&ep->region_mutex);
	if (ret) {
		kvfree(r->pages);
		kfree(r);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(x2m_region_register_pages);

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

int x2m_region_deregister(struct x2m_endpoint *ep, u32 id)
{
	struct x2m_region *r;
	int ret = 0;

	if (id >= XEN2MX_REGION_IDS)
		return -EINVAL;
	mutex_lock(&ep->region_mutex);
	r = rcu_dereference_protected(ep->regions[id], lockdep_is_held(&ep->region_mutex));
	if (r)
		x2m_region_retire(ep, r);
	else
		ret = -ENOENT;
	mutex_unlock(&ep->region_mutex);
	return ret;
}
EXPORT_SYMBOL_GPL(x2m_region_deregister);

long x2m_ioctl_region_deregister(struct x2m_endpoint *ep, void __user *arg)
{
	struct xen2mx_region_id req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad)
		return -EINVAL;
	return x2m_region_deregister(ep, req.id);
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
