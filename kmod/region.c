// SPDX-License-Identifier: GPL-2.0
/*
 * Memory regions (XEN2MX_IOC_REGION_REGISTER / _DEREGISTER) and keyed
 * regions (XEN2MX_IOC_KEYED_REGISTER / _DEREGISTER): user memory a peer
 * may pull, pinned for as long as it is registered so that the receive
 * path can answer PULLs (pull.c) and KEY_PULLs (key_pull.c) from it while
 * the process does not run. The two kinds live in two tables of the
 * endpoint but share everything else: pinning, charging, the page budget,
 * the counters and the way they are retired. The pages are pinned
 * long-term and charged to the process's pinned memory (mm->pinned_vm, the
 * figure RDMA charges too) against its RLIMIT_MEMLOCK unless it has
 * CAP_IPC_LOCK; the charge goes back to the same mm, which each region
 * holds, when the region goes: deregistered, or with the endpoint, which
 * the file takes with it however the process ends. Other modules register pages they hold (x2m_region_register_pages,
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

/* Whether the endpoint has room for a region of `pages` in `slot` (region_mutex held): 0, -EEXIST or -ENOSPC. */
static int x2m_region_room(struct x2m_endpoint *ep, struct x2m_region __rcu **slot, u64 pages)
{
	if (rcu_access_pointer(*slot))
		return -EEXIST;
	if (ep->region_pages + pages > READ_ONCE(x2m_region_pages))
		return -ENOSPC;
	return 0;
}

/* Gives the PULL identity the request names to a region of the endpoint's region table. */
static void x2m_region_name(struct x2m_region *r, const struct xen2mx_region *req)
{
	r->id = req->id;
	r->seq = req->seq;
	r->peer_endpoint = req->peer_endpoint;
	ether_addr_copy(r->peer_mac, req->peer_mac);
	r->peer_index = req->peer_index;
	r->reply_max = req->reply_max;
	r->replies_per_block = req->replies_per_block;
}

/* Counts the region and makes it servable from `slot` (region_mutex held). */
static void x2m_region_publish(struct x2m_endpoint *ep, struct x2m_region __rcu **slot, struct x2m_region *r)
{
	refcount_set(&r->users, 1);
	init_completion(&r->idle);
	ep->region_pages += r->nr_pages;
	if (r->keyed)
		atomic_inc(&ep->nr_keyed);
	atomic_inc(&ep->nr_regions);
	atomic_add(r->nr_pages, &ep->region_pages_now);
	x2m_global_add(XEN2MX_CTR_REGIONS, 1);
	x2m_global_add(XEN2MX_CTR_REGION_PAGES, r->nr_pages);
	rcu_assign_pointer(*slot, r);
}

/* A region that never held anything: refused before it was charged or pinned. */
static void x2m_region_discard(struct x2m_region *r)
{
	mmdrop(r->mm);
	kvfree(r->pages);
	kfree(r);
}

/*
 * The process's segments (`pages` spanned, `length` bytes), pinned and
 * charged into a new region for `slot`, not yet published; region_mutex
 * held, so that the room it found is still there when the caller
 * publishes it. On failure nothing is left charged or pinned.
 */
static int x2m_region_pin_user(struct x2m_endpoint *ep, struct x2m_region __rcu **slot,
			       const struct xen2mx_iovec *segs, unsigned int nr_segs, u64 pages, u64 length,
			       struct x2m_region **out)
{
	struct x2m_region *r;
	unsigned int i;
	u64 at = 0;
	int ret;

	if (pages > READ_ONCE(x2m_region_pages))
		return -E2BIG;
	ret = x2m_region_room(ep, slot, pages);
	if (ret)
		return ret;
	r = x2m_region_alloc(nr_segs, pages);
	if (!r)
		return -ENOMEM;
	r->mm = current->mm;
	mmgrab(r->mm);
	ret = x2m_region_charge(r->mm, pages);
	if (ret) {
		x2m_region_discard(r);
		return ret;
	}
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
		return ret;
	}
	r->length = length;
	*out = r;
	return 0;
}

long x2m_ioctl_region_register(struct x2m_endpoint *ep, void __user *arg)
{
	struct xen2mx_region req;
	struct xen2mx_iovec *segs;
	struct x2m_region *r;
	unsigned int nr_segs;
	u64 length, pages;
	int ret;

	ret = x2m_region_take_request(arg, x2m_region_max_frame(ep), &req, &segs, &nr_segs, &length, &pages);
	if (ret)
		return ret;
	/* One registration at a time per endpoint: ids and the page budget. */
	mutex_lock(&ep->region_mutex);
	ret = x2m_region_pin_user(ep, &ep->regions[req.id], segs, nr_segs, pages, length, &r);
	if (ret)
		goto out_unlock;
	req.pages = r->nr_pages;
	req.length = length;
	if (copy_to_user(arg, &req, sizeof(req))) {
		/* Never published: no server can hold it. */
		x2m_region_free(r);
		ret = -EFAULT;
		goto out_unlock;
	}
	x2m_region_name(r, &req);
	x2m_region_publish(ep, &ep->regions[req.id], r);
out_unlock:
	mutex_unlock(&ep->region_mutex);
	kfree(segs);
	return ret;
}

long x2m_ioctl_keyed_register(struct x2m_endpoint *ep, void __user *arg)
{
	struct xen2mx_keyed_region req;
	struct xen2mx_iovec *segs;
	struct x2m_region *r;
	unsigned int nr_segs;
	u64 length, pages;
	int ret;

	ret = x2m_keyed_take_request(arg, &req, &segs, &nr_segs, &length, &pages);
	if (ret)
		return ret;
	mutex_lock(&ep->region_mutex);
	ret = x2m_region_pin_user(ep, &ep->keyed[req.slot], segs, nr_segs, pages, length, &r);
	if (ret)
		goto out_unlock;
	req.pages = r->nr_pages;
	req.length = length;
	if (copy_to_user(arg, &req, sizeof(req))) {
		x2m_region_free(r);
		ret = -EFAULT;
		goto out_unlock;
	}
	r->id = req.slot;
	r->keyed = true;
	r->key = req.key;
	r->base = req.base;
	x2m_region_publish(ep, &ep->keyed[req.slot], r);
out_unlock:
	mutex_unlock(&ep->region_mutex);
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
	ret = x2m_region_room(ep, &ep->regions[desc->id], nr_pages);
	if (!ret) {
		r->release = release;
		r->release_priv = priv;
		r->length = length;
		x2m_region_name(r, desc);
		x2m_region_publish(ep, &ep->regions[desc->id], r);
	}
	mutex_unlock(&ep->region_mutex);
	if (ret) {
		kvfree(r->pages);
		kfree(r);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(x2m_region_register_pages);

/* Takes a region out of `slot` (region_mutex held) and frees it once nothing serves from it. */
static void x2m_region_retire(struct x2m_endpoint *ep, struct x2m_region __rcu **slot, struct x2m_region *r)
{
	RCU_INIT_POINTER(*slot, NULL);
	if (r->keyed)
		atomic_dec(&ep->nr_keyed);
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

/* Retires the region in `slot`: 0, or -ENOENT when the slot is empty. */
static int x2m_region_remove(struct x2m_endpoint *ep, struct x2m_region __rcu **slot)
{
	struct x2m_region *r;
	int ret = 0;

	mutex_lock(&ep->region_mutex);
	r = rcu_dereference_protected(*slot, lockdep_is_held(&ep->region_mutex));
	if (r)
		x2m_region_retire(ep, slot, r);
	else
		ret = -ENOENT;
	mutex_unlock(&ep->region_mutex);
	return ret;
}

int x2m_region_deregister(struct x2m_endpoint *ep, u32 id)
{
	if (id >= XEN2MX_REGION_IDS)
		return -EINVAL;
	return x2m_region_remove(ep, &ep->regions[id]);
}
EXPORT_SYMBOL_GPL(x2m_region_deregister);

/* XEN2MX_IOC_REGION_DEREGISTER and XEN2MX_IOC_KEYED_DEREGISTER: the id or slot, checked. */
static int x2m_region_take_id(void __user *arg, u32 limit, u32 *id)
{
	struct xen2mx_region_id req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad || req.id >= limit)
		return -EINVAL;
	*id = req.id;
	return 0;
}

long x2m_ioctl_region_deregister(struct x2m_endpoint *ep, void __user *arg)
{
	u32 id;
	int ret = x2m_region_take_id(arg, XEN2MX_REGION_IDS, &id);

	return ret ?: x2m_region_remove(ep, &ep->regions[id]);
}

long x2m_ioctl_keyed_deregister(struct x2m_endpoint *ep, void __user *arg)
{
	u32 slot;
	int ret = x2m_region_take_id(arg, XEN2MX_KEYED_SLOTS, &slot);

	return ret ?: x2m_region_remove(ep, &ep->keyed[slot]);
}

/* Every region of an endpoint that is closing, keyed or not; the receive path no longer finds it. */
void x2m_regions_release(struct x2m_endpoint *ep)
{
	unsigned int i;

	mutex_lock(&ep->region_mutex);
	for (i = 0; i < XEN2MX_REGION_IDS; i++) {
		struct x2m_region *r = rcu_dereference_protected(ep->regions[i], lockdep_is_held(&ep->region_mutex));

		if (r)
			x2m_region_retire(ep, &ep->regions[i], r);
	}
	for (i = 0; i < XEN2MX_KEYED_SLOTS; i++) {
		struct x2m_region *r = rcu_dereference_protected(ep->keyed[i], lockdep_is_held(&ep->region_mutex));

		if (r)
			x2m_region_retire(ep, &ep->keyed[i], r);
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

/*
 * A keyed region of the endpoint whose key is `key` and which holds the
 * bytes peers name [addr, addr + length), held for serving; NULL when
 * none. Under RCU.
 */
struct x2m_region *x2m_keyed_get(struct x2m_endpoint *ep, u64 key, u64 addr, u64 length)
{
	unsigned int i;

	for (i = 0; i < XEN2MX_KEYED_SLOTS; i++) {
		struct x2m_region *r = rcu_dereference(ep->keyed[i]);

		/* Differences only: base + length may pass 2^64. */
		if (!r || r->key != key || addr < r->base || addr - r->base > r->length ||
		    length > r->length - (addr - r->base))
			continue;
		if (refcount_inc_not_zero(&r->users))
			return r;
	}
	return NULL;
}

void x2m_region_put(struct x2m_region *r)
{
	if (refcount_dec_and_test(&r->users))
		complete(&r->idle);
}
