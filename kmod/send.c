// SPDX-License-Identifier: GPL-2.0
/*
 * The send path. The process hands a whole MXoE frame; the kernel writes
 * the fields that say who sends it (source MAC, source endpoint, pull
 * magic), so that no process can speak for another endpoint or board, and
 * refuses packet types it does not know. Frames for the board itself go
 * straight to the receive path. x2m_transmit() does all of that for any
 * frame built as an skb: the ioctl's path below and xen2mx-back.ko's.
 *
 * Zero-copy sends (XEN2MX_SEND_ZEROCOPY): the first X2M_ZC_LINEAR bytes
 * (every header the kernel reads or stamps) are copied; the pages of the
 * rest are pinned and lent to the NIC as the skb's fragments. Each fragment
 * holds a page reference of its own, so the memory stays valid whatever
 * the network stack does with the skb; the pin is what the process is
 * told about: the skb's ubuf_info callback runs when the last user of the
 * lent pages lets go of them (the driver freed the skb, or the stack copied
 * the fragments because it had to keep them longer), unpins them and posts
 * XEN2MX_EVENT_SEND_DONE to the endpoint. A ZEROCOPY send that returns 0
 * gets exactly one event; one that fails gets none.
 */
#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/unaligned.h>

#include "common/event_queue.h"
#include "common/iovec.h"
#include "xen2mx_kernel.h"

/* Writes the sender fields of the frame's type, or refuses the type. */
static int x2m_stamp(struct x2m_endpoint *ep, u8 *frame, unsigned int length)
{
	struct x2m_sender_fields f;
	int ret;

	ret = x2m_sender_fields(frame[X2M_PTYPE_OFFSET], length, ep->flags & XEN2MX_OPEN_MX_COMPAT, &f);
	if (ret)
		return ret;
	if (f.endpoint >= 0)
		frame[f.endpoint] = ep->id;
	if (f.magic >= 0)
		put_unaligned_be32(ep->id ^ X2M_PULL_MAGIC_XOR, frame + f.magic);
	return 0;
}

int x2m_transmit(struct x2m_endpoint *ep, struct sk_buff *skb, struct x2m_tx_outcome *out)
{
	struct x2m_board *board = ep->board;
	unsigned int max_frame = READ_ONCE(board->mtu) + ETH_HLEN;
	unsigned int length = skb->len;
	struct net_device *dev;
	u8 *frame;
	int ret;

	out->loopback = false;
	out->delivery = 0;
	out->lost = 0;
	if (length < X2M_HEAD_LEN)
		return -EINVAL;
	if (length > max_frame)
		return -EMSGSIZE;
	if (skb_headlen(skb) < min_t(unsigned int, length, X2M_TX_HEAD_MIN))
		return -EINVAL;
	if (length < ETH_ZLEN && __skb_put_padto(skb, ETH_ZLEN, false)) {
		x2m_count(board, XEN2MX_CTR_SEND_FAILED);
		return -ENOMEM;
	}
	frame = skb->data;
	ret = -EINVAL;
	if (!is_valid_ether_addr(frame)) /* MXoE frames go to one board */
		goto refused;
	ret = x2m_stamp(ep, frame, skb->len);
	if (ret)
		goto refused;
	ether_addr_copy(frame + ETH_ALEN, board->mac);
	put_unaligned_be16(XEN2MX_ETHERTYPE, frame + 2 * ETH_ALEN);
	skb_reset_mac_header(skb);
	skb->protocol = htons(XEN2MX_ETHERTYPE);
	skb->priority = 0;

	if (ether_addr_equal(frame, board->mac)) {
		/* To an endpoint of this board: no wire in between. */
		if (skb_zcopy(skb))
			x2m_count(board, XEN2MX_CTR_SENT_ZEROCOPY);
		__skb_pull(skb, ETH_HLEN);
		local_bh_disable();
		out->delivery = x2m_demux(board, skb);
		local_bh_enable();
		out->loopback = true;
		consume_skb(skb);
		x2m_count(board, XEN2MX_CTR_SENT_LOOPBACK);
		goto sent;
	}

	rcu_read_lock();
	dev = rcu_dereference(board->dev);
	if (!dev) {
		rcu_read_unlock();
		x2m_count(board, XEN2MX_CTR_SEND_FAILED);
		return -ENODEV;
	}
	if (skb_zcopy(skb))
		x2m_count(board, XEN2MX_CTR_SENT_ZEROCOPY);
	skb->dev = dev;
	skb_reset_network_header(skb);
	/* The skb is consumed whatever happens. net_xmit_eval() evaluates its
	 * argument twice: never hand it the call itself. */
	ret = dev_queue_xmit(skb);
	rcu_read_unlock();
	ret = net_xmit_eval(ret);
	if (ret) {
		/* Queue full or device down: the frame is lost, as on a wire. */
		x2m_count(board, XEN2MX_CTR_SEND_FAILED);
		out->lost = ret < 0 ? ret : -ENOBUFS;
		return 0;
	}
sent:
	x2m_count(board, XEN2MX_CTR_SENT);
	atomic64_add(length, &board->ctr[XEN2MX_CTR_SENT_BYTES]);
	atomic64_inc(&ep->stats.tx_frames);
	atomic64_add(length, &ep->stats.tx_bytes);
	return 0;

refused:
	x2m_count(board, XEN2MX_CTR_SEND_REFUSED);
	return ret;
}
EXPORT_SYMBOL_GPL(x2m_transmit);

unsigned int x2m_pinned_pages = 1024;
module_param_named(pinned_pages, x2m_pinned_pages, uint, 0644);
MODULE_PARM_DESC(pinned_pages, "User pages one endpoint may have lent to the NIC at once (zero-copy sends)");

#define X2M_ZC_LINEAR 128 /* bytes copied into the skb's head, headers included */

/* One zero-copy send in flight. */
struct x2m_zc {
	struct ubuf_info ubuf;
	struct x2m_endpoint *ep; /* holds a reference */
	u64 cookie;
	bool report;             /* post the event (the send was handed over) */
	unsigned int accounted;  /* pages counted in ep->pinned and the global counter */
	unsigned int nr_pages;   /* pages pinned, <= accounted */
	struct page *pages[];
};

/* The lent pages are back. Softirq or process context, never hard irq. */
static void x2m_zc_done(struct sk_buff *skb, struct ubuf_info *ubuf, bool zerocopy_success)
{
	struct x2m_zc *zc = container_of(ubuf, struct x2m_zc, ubuf);
	struct x2m_endpoint *ep = zc->ep;

	if (zc->nr_pages)
		unpin_user_pages(zc->pages, zc->nr_pages);
	atomic_sub(zc->accounted, &ep->pinned);
	x2m_global_add(XEN2MX_CTR_PAGES_PINNED, -(s64)zc->accounted);
	if (zc->report)
		x2m_endpoint_event(ep, XEN2MX_EVENT_SEND_DONE, 0, zc->cookie);
	atomic_dec(&ep->zc_pending);
	x2m_global_add(XEN2MX_CTR_ZEROCOPY_PENDING, -1);
	kfree(zc);
	x2m_endpoint_put(ep);
	/* Last: the module's text is freed only after an RCU grace period. */
	rcu_read_lock();
	module_put(THIS_MODULE);
	rcu_read_unlock();
}

/*
 * Pins the pages of bytes [skip, end) of the gather list and attaches them
 * to the skb as fragments. On failure the pages pinned so far stay in
 * zc->pages[0 .. zc->nr_pages) for the caller to unpin.
 */
static int x2m_attach_pages(struct sk_buff *skb, struct x2m_zc *zc, const struct xen2mx_iovec *iov,
			    u32 count, u64 skip)
{
	unsigned int frag = 0;
	u32 i;

	for (i = 0; i < count; i++) {
		u64 base, len;
		unsigned long first;
		int want, got, k;

		if (!x2m_iov_past(&iov[i], &skip, &base, &len))
			continue;
		first = base & PAGE_MASK;
		want = x2m_iov_span_pages(base, len);
		got = pin_user_pages_fast(first, want, 0, zc->pages + zc->nr_pages);
		if (got > 0)
			zc->nr_pages += got;
		if (got != want)
			return got < 0 ? got : -EFAULT;
		for (k = 0; k < want; k++) {
			struct page *page = zc->pages[zc->nr_pages - want + k];
			unsigned int offset = k ? 0 : offset_in_page(base);
			unsigned int size = min_t(u64, len, PAGE_SIZE - offset);

			get_page(page); /* the fragment's own reference */
			skb_fill_page_desc(skb, frag++, page, offset, size);
			skb->len += size;
			skb->data_len += size;
			skb->truesize += size;
			len -= size;
		}
	}
	return 0;
}

int x2m_send(struct x2m_endpoint *ep, const struct xen2mx_send *req)
{
	struct x2m_board *board = ep->board;
	struct x2m_tx_outcome outcome;
	struct xen2mx_iovec *iov;
	struct sk_buff *skb;
	unsigned int max_frame = READ_ONCE(board->mtu) + ETH_HLEN;
	struct x2m_zc *zc = NULL;
	u64 total, linear;
	u8 *frame;
	int ret;

	iov = x2m_iov_fetch(req, max_frame, &total);
	if (IS_ERR(iov))
		return PTR_ERR(iov);

	linear = total;
	/* Room for its event, whatever else is in flight. */
	ret = -EAGAIN;
	if ((req->flags & XEN2MX_SEND_ZEROCOPY) &&
	    x2m_evq_no_room(ep->ctl, ep->ev_entries, &ep->ev_prod, atomic_read(&ep->zc_pending)))
		goto out_iov;
	if ((req->flags & XEN2MX_SEND_ZEROCOPY) && total > X2M_ZC_LINEAR) {
		u64 pages = x2m_iov_count_pages(iov, req->iov_count, X2M_ZC_LINEAR);

		linear = X2M_ZC_LINEAR;
		ret = -E2BIG; /* more pages than one skb or the limit can take */
		if (pages > MAX_SKB_FRAGS || pages > READ_ONCE(x2m_pinned_pages))
			goto out_iov;
		ret = -EAGAIN;
		if (!x2m_iov_pin_budget(&ep->pinned, pages, READ_ONCE(x2m_pinned_pages)))
			goto out_iov;
		x2m_global_add(XEN2MX_CTR_PAGES_PINNED, pages);
		ret = -ENOMEM;
		zc = kzalloc(struct_size(zc, pages, pages), GFP_KERNEL);
		if (!zc) {
			atomic_sub(pages, &ep->pinned);
			x2m_global_add(XEN2MX_CTR_PAGES_PINNED, -(s64)pages);
			goto out_iov;
		}
		/* From here the completion undoes the accounting. */
		zc->accounted = pages;
		zc->ep = ep;
		kref_get(&ep->ref);
		__module_get(THIS_MODULE);
		zc->cookie = req->cookie;
		zc->ubuf.callback = x2m_zc_done;
		refcount_set(&zc->ubuf.refcnt, 1);
		zc->ubuf.flags = SKBFL_ZEROCOPY_FRAG;
		atomic_inc(&ep->zc_pending);
		x2m_global_add(XEN2MX_CTR_ZEROCOPY_PENDING, 1);
	}

	ret = -ENOMEM;
	skb = alloc_skb(board->headroom + max_t(unsigned int, linear, ETH_ZLEN), GFP_KERNEL);
	if (!skb)
		goto out_zc;
	skb_reserve(skb, board->headroom);
	frame = skb_put(skb, linear); /* x2m_transmit() pads short frames */
	if (zc) {
		/* Owned by the skb from now on: freeing it runs x2m_zc_done(). */
		skb_zcopy_init(skb, &zc->ubuf);
	}
	ret = x2m_iov_copy(frame, iov, req->iov_count, linear);
	if (ret)
		goto out_skb;
	if (zc) {
		ret = x2m_attach_pages(skb, zc, iov, req->iov_count, linear);
		if (ret)
			goto out_skb;
	}
	/* Handed over once x2m_transmit() takes it: from there the completion
	 * is reported, even when the frame is lost on the way (as on a wire). */
	if (zc)
		zc->report = true;
	ret = x2m_transmit(ep, skb, &outcome);
	if (ret) {
		if (zc)
			zc->report = false;
		goto out_skb;
	}
	kfree(iov);
	if (outcome.lost)
		return zc ? 0 : outcome.lost; /* a zero-copy send's completion says it */
	/* A short frame sent with the flag was copied: its memory is back. */
	if ((req->flags & XEN2MX_SEND_ZEROCOPY) && !zc)
		x2m_endpoint_event(ep, XEN2MX_EVENT_SEND_DONE, 0, req->cookie);
	return 0;

out_skb:
	kfree_skb(skb); /* with zc attached: unpins, no event */
	kfree(iov);
	return ret;
out_zc:
	if (zc) {
		/* Not attached to any skb, nothing pinned: undo the accounting. */
		x2m_zc_done(NULL, &zc->ubuf, false);
	}
out_iov:
	kfree(iov);
	return ret;
}
