// SPDX-License-Identifier: GPL-2.0
/*
 * SEND requests. The frame's first bytes (every header Dom0 reads or
 * stamps) are copied out of the guest's tx chunk into the skb's head; the
 * rest, when the guest granted it as segments, is mapped read-only and
 * lent to the NIC as the skb's fragments, never copied. The skb's ubuf_info
 * callback runs when the network stack lets go of them; a work item then
 * unmaps the pages (waiting for the last page reference) and only then
 * answers the guest, which may end its grants. Frames without segments are
 * answered as soon as xen2mx.ko took them.
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "back.h"

/* One zero-copy send in flight. */
struct x2mb_tx {
	struct ubuf_info ubuf;
	struct x2mb_dev *dev;
	struct work_struct work;
	struct x2mx_response rsp;
	struct x2mb_map map;
	bool mapped;
};

static void x2mb_tx_finish(struct work_struct *work)
{
	struct x2mb_tx *tx = container_of(work, struct x2mb_tx, work);
	struct x2mb_dev *dev = tx->dev;

	if (tx->mapped)
		x2mb_unmap_grants(dev, &tx->map, true);
	x2mb_respond(dev, &tx->rsp);
	kfree(tx);
	/* Requests held back while the ring had no room for their responses. */
	if (!READ_ONCE(dev->stopping))
		queue_work(x2mb_wq, &dev->req_work);
	/* The last touch of dev: once the count is 0 the disconnect may free
	 * it, and wake_up_var() only hashes the address. */
	if (atomic_dec_and_test(&dev->tx_inflight))
		wake_up_var(&dev->tx_inflight);
	/* Safe: the module's exit destroys this workqueue, which waits for us. */
	module_put(THIS_MODULE);
}

/* The lent pages are back (softirq or process context). */
static void x2mb_tx_done(struct sk_buff *skb, struct ubuf_info *ubuf, bool zerocopy_success)
{
	struct x2mb_tx *tx = container_of(ubuf, struct x2mb_tx, ubuf);

	queue_work(x2mb_wq, &tx->work);
}

/* Checks the segments against the frame and maps their pages. */
static int x2mb_tx_map(struct x2mb_dev *dev, struct x2mb_tx *tx, const struct x2mx_request *req,
		       struct x2mx_segment *segs)
{
	u32 linear = req->u.send.linear, total = req->u.send.total;
	grant_ref_t refs[X2MX_MAX_SEGS];
	u32 sum = 0;
	unsigned int i;
	int ret;

	ret = x2mb_chunk_read(dev, req->chunk, X2MX_SEGS_OFFSET(linear), segs,
			      req->nr_segs * sizeof(*segs));
	if (ret)
		return ret;
	for (i = 0; i < req->nr_segs; i++) {
		if (!segs[i].length || segs[i].offset + segs[i].length > XEN_PAGE_SIZE)
			return -EINVAL;
		sum += segs[i].length;
		refs[i] = segs[i].ref;
	}
	if (sum != total - linear)
		return -EINVAL;
	ret = x2mb_map_grants(dev, refs, req->nr_segs, true, &tx->map);
	if (ret)
		return ret;
	tx->mapped = true;
	return 0;
}

int x2mb_send(struct x2mb_dev *dev, const struct x2mx_request *req)
{
	struct x2mb_ep *ep = dev->eps[req->endpoint]; /* checked by the caller */
	u32 linear = req->u.send.linear, total = req->u.send.total;
	unsigned int max_frame = dev->desc.mtu + ETH_HLEN;
	struct x2mx_segment segs[X2MX_MAX_SEGS];
	struct x2m_tx_outcome out;
	struct x2mb_tx *tx = NULL;
	struct sk_buff *skb;
	unsigned int i;
	int ret;

	if (total < X2M_HEAD_LEN || total > max_frame)
		return total > max_frame ? -EMSGSIZE : -EINVAL;
	if (linear > total || linear < min_t(u32, total, X2M_TX_HEAD_MIN) || req->nr_segs > X2MX_MAX_SEGS)
		return -EINVAL;
	if (!req->nr_segs && linear != total)
		return -EINVAL;
	if (req->nr_segs && linear == total)
		return -EINVAL;

	skb = alloc_skb(dev->desc.headroom + max_t(u32, linear, ETH_ZLEN), GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	skb_reserve(skb, dev->desc.headroom);
	ret = x2mb_chunk_read(dev, req->chunk, 0, skb_put(skb, linear), linear);
	if (ret)
		goto out_skb;

	if (req->nr_segs) {
		tx = kzalloc(sizeof(*tx), GFP_KERNEL);
		ret = -ENOMEM;
		if (!tx)
			goto out_skb;
		tx->dev = dev;
		INIT_WORK(&tx->work, x2mb_tx_finish);
		tx->rsp.op = req->op;
		tx->rsp.chunk = req->chunk;
		tx->rsp.id = req->id;
		tx->rsp.endpoint = req->endpoint;
		ret = x2mb_tx_map(dev, tx, req, segs);
		if (ret) {
			kfree(tx);
			goto out_skb;
		}
		for (i = 0; i < req->nr_segs; i++) {
			struct page *page = tx->map.pages[i];

			get_page(page); /* the fragment's own reference */
			skb_fill_page_desc(skb, i, page, segs[i].offset, segs[i].length);
			skb->len += segs[i].length;
			skb->data_len += segs[i].length;
			skb->truesize += segs[i].length;
		}
		/* From here freeing the skb runs x2mb_tx_done(), which answers. */
		tx->ubuf.callback = x2mb_tx_done;
		refcount_set(&tx->ubuf.refcnt, 1);
		tx->ubuf.flags = SKBFL_ZEROCOPY_FRAG;
		skb_zcopy_init(skb, &tx->ubuf);
		atomic_inc(&dev->tx_inflight);
		__module_get(THIS_MODULE);
	}

	ret = x2m_transmit(ep->xep, skb, &out);
	if (ret) {
		x2mb_stat(dev, ret == -ENODEV || ret == -ENOMEM ? XEN2MX_CTR_SEND_FAILED : XEN2MX_CTR_SEND_REFUSED, 1);
		if (tx) {
			tx->rsp.status = ret;
			atomic64_inc(&dev->bad_requests);
			kfree_skb(skb); /* answers through the callback */
			return X2MB_DEFERRED;
		}
		goto out_skb;
	}
	if (out.lost) {
		x2mb_stat(dev, XEN2MX_CTR_SEND_FAILED, 1);
	} else {
		x2mb_stat(dev, XEN2MX_CTR_SENT, 1);
		x2mb_stat(dev, XEN2MX_CTR_SENT_BYTES, total);
		if (tx)
			x2mb_stat(dev, XEN2MX_CTR_SENT_ZEROCOPY, 1);
		if (out.loopback)
			x2mb_stat(dev, XEN2MX_CTR_SENT_LOOPBACK, 1);
		/* Dropped before any endpoint saw it: the sender's business. Drops
		 * at an endpoint were counted by the endpoint's owner. */
		if (out.loopback && out.delivery && out.delivery != XEN2MX_CTR_DROP_RING_FULL &&
		    out.delivery != XEN2MX_CTR_DROP_TOO_LONG)
			x2mb_stat(dev, out.delivery, 1);
	}
	if (tx)
		return X2MB_DEFERRED;
	return 0;

out_skb:
	kfree_skb(skb);
	return ret;
}
