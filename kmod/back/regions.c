// SPDX-License-Identifier: GPL-2.0
/*
 * A guest's memory regions (X2MX_OP_REGION / X2MX_OP_UNREGION): the
 * guest's pages, granted read-only, mapped here and given to xen2mx.ko as
 * a region of the guest endpoint's Dom0 endpoint, so that PULLs for them
 * are answered in Dom0's receive path without the guest. The mapping goes
 * when xen2mx.ko lets go of the region (deregistered, or the endpoint
 * closed with the connection), once the network stack let go of its
 * pages too: no reply ever carries a page the guest took back.
 */
#include <linux/slab.h>
#include <xen/page.h>

#include "back.h"

struct x2mb_region {
	struct x2mb_dev *dev;
	struct x2mb_map map;
};

/* From xen2mx.ko, which closes every endpoint before the device goes. Sleeps. */
static void x2mb_region_release(void *priv)
{
	struct x2mb_region *reg = priv;
	struct x2mb_dev *dev = reg->dev;

	atomic_sub(reg->map.count, &dev->region_pages);
	x2mb_unmap_grants(dev, &reg->map, true);
	kfree(reg);
}

/*
 * The runs the segments make: one run goes on while a segment ends its
 * page and the next begins the following one. -EINVAL for a segment
 * outside its page, or more runs than a region has.
 */
static int x2mb_region_runs(const struct x2mx_segment *segs, u32 nr, grant_ref_t *refs,
			    struct x2m_region_run *runs, unsigned int *nr_runs)
{
	unsigned int n = 0;
	u32 i;

	for (i = 0; i < nr; i++) {
		const struct x2mx_segment *seg = &segs[i];

		if (!seg->length || seg->offset + seg->length > XEN_PAGE_SIZE)
			return -EINVAL;
		refs[i] = seg->ref;
		if (i && segs[i - 1].offset + segs[i - 1].length == XEN_PAGE_SIZE && seg->offset == 0) {
			runs[n - 1].len += seg->length;
			continue;
		}
		if (n == XEN2MX_REGION_SEGS_MAX)
			return -EINVAL;
		runs[n].len = seg->length;
		runs[n].page = i;
		runs[n].offset = seg->offset;
		n++;
	}
	*nr_runs = n;
	return 0;
}

int x2mb_region(struct x2mb_dev *dev, const struct x2mx_request *req)
{
	struct x2mb_ep *ep = x2mb_ep_of(dev, req->endpoint);
	size_t room = ((size_t)dev->chunk_pages << PAGE_SHIFT) - X2MX_REGION_SEGS_OFFSET;
	u32 nr = req->u.region.nr_segs;
	struct x2m_region_run runs[XEN2MX_REGION_SEGS_MAX];
	struct x2mx_region_desc desc;
	struct xen2mx_region region;
	struct x2mx_segment *segs;
	struct x2mb_region *reg;
	grant_ref_t *refs;
	unsigned int nr_runs;
	int ret;

	if (!ep)
		return -ENOENT;
	if (!nr || nr > room / sizeof(*segs))
		return -EINVAL;
	/* Requests are handled one at a time per device: the sum holds. */
	if (atomic_read(&dev->region_pages) + nr > READ_ONCE(x2mb_max_region_pages))
		return -ENOSPC;
	segs = kvmalloc_array(nr, sizeof(*segs), GFP_KERNEL);
	refs = kvmalloc_array(nr, sizeof(*refs), GFP_KERNEL);
	reg = kzalloc(sizeof(*reg), GFP_KERNEL);
	ret = -ENOMEM;
	if (!segs || !refs || !reg)
		goto out;
	/* Copied first: the guest may change the chunk under us. */
	ret = x2mb_chunk_read(dev, req->chunk, 0, &desc, sizeof(desc)) ?:
	      x2mb_chunk_read(dev, req->chunk, X2MX_REGION_SEGS_OFFSET, segs, nr * sizeof(*segs));
	if (ret)
		goto out;
	ret = x2mb_region_runs(segs, nr, refs, runs, &nr_runs);
	if (ret)
		goto out;
	region = (struct xen2mx_region){
		.id = desc.id,
		.flags = XEN2MX_REGION_PULL,
		.seg_count = nr_runs,
		.reply_max = desc.reply_max,
		.peer_endpoint = desc.peer_endpoint,
		.seq = desc.seq,
		.peer_index = desc.peer_index,
		.replies_per_block = desc.replies_per_block,
	};
	memcpy(region.peer_mac, desc.peer_mac, ETH_ALEN);
	reg->dev = dev;
	ret = x2mb_map_grants(dev, refs, nr, true, &reg->map);
	if (ret)
		goto out;
	atomic_add(nr, &dev->region_pages);
	ret = x2m_region_register_pages(ep->xep, &region, reg->map.pages, nr, runs, x2mb_region_release, reg);
	if (ret) {
		atomic_sub(nr, &dev->region_pages);
		x2mb_unmap_grants(dev, &reg->map, false);
		goto out;
	}
	reg = NULL; /* xen2mx.ko's until it calls x2mb_region_release() */
out:
	kfree(reg);
	kvfree(refs);
	kvfree(segs);
	return ret;
}

int x2mb_unregion(struct x2mb_dev *dev, const struct x2mx_request *req)
{
	struct x2mb_ep *ep = x2mb_ep_of(dev, req->endpoint);

	if (!ep)
		return -ENOENT;
	return x2m_region_deregister(ep->xep, req->u.region.id);
}
