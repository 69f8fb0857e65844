// SPDX-License-Identifier: GPL-2.0
/*
 * A guest's memory regions (XEN2MX_IOC_REGION_REGISTER / _DEREGISTER, as
 * on bare metal): the process's pages are pinned and charged here as
 * xen2mx.ko does it, granted read-only to Dom0 and named to the backend
 * (X2MX_OP_REGION), which maps them and has xen2mx.ko answer the region's
 * PULLs from them in Dom0, without this guest's process or kernel. The
 * grants end and the pages are unpinned once Dom0 let go of them: after
 * X2MX_OP_UNREGION's or CLOSE's answer, or once the connection is gone.
 *
 * A region's page list travels in one tx chunk, which bounds its size
 * (about 2 MiB with 4 KiB chunks); larger ones are E2BIG and the provider
 * answers their pulls itself.
 */
#include <linux/etherdevice.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <xen/page.h>

#include "../common/region_args.h"
#include "front.h"

struct x2mf_region {
	struct mm_struct *mm;   /* charged for the pages, grabbed */
	unsigned int nr_pages;  /* pinned */
	struct page **pages;
	unsigned int nr_refs;   /* granted */
	grant_ref_t *refs;
};

/* Ends the grants, unpins, uncharges: Dom0 maps none of the pages any more. */
static void x2mf_region_free(struct x2mf_region *r, unsigned long charged)
{
	unsigned int i;

	for (i = 0; i < r->nr_refs; i++) {
		get_page(r->pages[i]); /* outlives the pin if Dom0 still maps it */
		x2mf_ungrant(r->refs[i], r->pages[i]);
	}
	if (r->nr_pages)
		unpin_user_pages(r->pages, r->nr_pages);
	x2m_region_uncharge(r->mm, charged);
	mmdrop(r->mm);
	kvfree(r->refs);
	kvfree(r->pages);
	kfree(r);
}

/* The most pages one region may have: what a tx chunk's page list holds, and region_pages. */
static u64 x2mf_region_max_pages(struct x2mf_dev *dev)
{
	size_t room = ((size_t)dev->chunk_pages << PAGE_SHIFT) - X2MX_REGION_SEGS_OFFSET;

	return min_t(u64, room / sizeof(struct x2mx_segment), READ_ONCE(x2mf_region_pages));
}

/*
 * Grants the pinned pages and writes the chunk: the description, then one
 * entry per page with the bytes of it the region has.
 */
static int x2mf_region_grant(struct x2mf_ep *ep, struct x2mf_region *r, const struct xen2mx_region *req,
			     const struct xen2mx_iovec *segs, unsigned int nr_segs, void *chunk)
{
	struct x2mx_region_desc *desc = chunk;
	struct x2mx_segment *out = chunk + X2MX_REGION_SEGS_OFFSET;
	unsigned int i, page = 0;

	*desc = (struct x2mx_region_desc){
		.id = req->id,
		.reply_max = req->reply_max,
		.peer_endpoint = req->peer_endpoint,
		.seq = req->seq,
		.peer_index = req->peer_index,
		.replies_per_block = req->replies_per_block,
	};
	ether_addr_copy(desc->peer_mac, req->peer_mac);
	for (i = 0; i < nr_segs; i++) {
		u64 base = segs[i].base, left = segs[i].len;

		while (left) {
			unsigned int offset = offset_in_page(base);
			unsigned int length = min_t(u64, left, PAGE_SIZE - offset);
			int ref = gnttab_grant_foreign_access(ep->dev->backend_id,
							      xen_page_to_gfn(r->pages[page]), 1);

			if (ref < 0)
				return ref;
			r->refs[r->nr_refs++] = ref;
			x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, 1);
			out[page] = (struct x2mx_segment){ .ref = ref, .offset = offset, .length = length };
			page++;
			base += length;
			left -= length;
		}
	}
	return 0;
}

long x2mf_region_register(struct x2mf_ep *ep, void __user *arg)
{
	struct x2mx_request rq = { .op = X2MX_OP_REGION, .endpoint = ep->id };
	struct x2mx_response rsp;
	struct xen2mx_region req;
	struct xen2mx_iovec *segs;
	struct x2mf_region *r;
	unsigned long charged = 0;
	unsigned int nr_segs;
	u64 length, pages;
	size_t chunk_bytes;
	void *chunk = NULL;
	long ret;

	ret = x2m_region_take_request(arg, ep->max_frame, &req, &segs, &nr_segs, &length, &pages);
	if (ret)
		return ret;
	ret = -E2BIG;
	if (pages > x2mf_region_max_pages(ep->dev))
		goto out_segs;
	ret = -ENOMEM;
	chunk_bytes = X2MX_REGION_SEGS_OFFSET + pages * sizeof(struct x2mx_segment);
	chunk = kzalloc(chunk_bytes, GFP_KERNEL);
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		goto out_chunk;
	r->mm = current->mm;
	mmgrab(r->mm);
	r->pages = kvmalloc_array(pages, sizeof(*r->pages), GFP_KERNEL);
	r->refs = kvmalloc_array(pages, sizeof(*r->refs), GFP_KERNEL);
	if (!chunk || !r->pages || !r->refs)
		goto out_region;

	mutex_lock(&ep->region_mutex);
	ret = -EEXIST;
	if (ep->regions[req.id])
		goto out_unlock;
	ret = -ENOSPC;
	if (ep->region_pages + pages > READ_ONCE(x2mf_region_pages))
		goto out_unlock;
	ret = -ENOTCONN;
	if (READ_ONCE(ep->dead))
		goto out_unlock;
	ret = x2m_region_charge(r->mm, pages);
	if (ret)
		goto out_unlock;
	charged = pages;
	ret = x2m_region_pin_segs(segs, nr_segs, pages, r->pages, &r->nr_pages) ?:
	      x2mf_region_grant(ep, r, &req, segs, nr_segs, chunk);
	if (ret)
		goto out_unlock;
	req.pages = r->nr_pages;
	req.length = length;
	ret = -EFAULT;
	if (copy_to_user(arg, &req, sizeof(req)))
		goto out_unlock;
	rq.u.region.nr_segs = pages;
	/* Refused by Dom0, never had, or let go with the connection: freed below. */
	ret = x2mf_call(ep->dev, ep->generation, &rq, chunk, chunk_bytes, &rsp);
	if (ret)
		goto out_unlock;
	ep->regions[req.id] = r;
	ep->region_pages += pages;
	x2mf_global_add(XEN2MX_CTR_REGIONS, 1);
	x2mf_global_add(XEN2MX_CTR_REGION_PAGES, pages);
	r = NULL;
out_unlock:
	mutex_unlock(&ep->region_mutex);
out_region:
	if (r)
		x2mf_region_free(r, charged);
out_chunk:
	kfree(chunk);
out_segs:
	kfree(segs);
	return ret;
}

/* Takes the region out of the table (region_mutex held) once Dom0 unmapped it. */
static void x2mf_region_retire(struct x2mf_ep *ep, unsigned int id)
{
	struct x2mf_region *r = ep->regions[id];

	ep->regions[id] = NULL;
	ep->region_pages -= r->nr_pages;
	x2mf_global_add(XEN2MX_CTR_REGIONS, -1);
	x2mf_global_add(XEN2MX_CTR_REGION_PAGES, -(s64)r->nr_pages);
	x2mf_region_free(r, r->nr_pages);
}

long x2mf_region_deregister(struct x2mf_ep *ep, void __user *arg)
{
	struct x2mx_request rq = { .op = X2MX_OP_UNREGION, .endpoint = ep->id };
	struct x2mx_response rsp;
	struct xen2mx_region_id req;
	long ret = 0;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.id >= XEN2MX_REGION_IDS || req.pad)
		return -EINVAL;
	mutex_lock(&ep->region_mutex);
	if (!ep->regions[req.id]) {
		ret = -ENOENT;
	} else {
		/* ENOTCONN: the connection went, and Dom0 let go of everything with it. */
		rq.u.region.id = req.id;
		if (!READ_ONCE(ep->dead))
			x2mf_call(ep->dev, ep->generation, &rq, NULL, 0, &rsp);
		x2mf_region_retire(ep, req.id);
	}
	mutex_unlock(&ep->region_mutex);
	return ret;
}

/* The endpoint goes, after CLOSE was answered (or the connection went): Dom0 maps none of it. */
void x2mf_regions_release(struct x2mf_ep *ep)
{
	unsigned int id;

	mutex_lock(&ep->region_mutex);
	for (id = 0; id < XEN2MX_REGION_IDS; id++)
		if (ep->regions[id])
			x2mf_region_retire(ep, id);
	mutex_unlock(&ep->region_mutex);
}
