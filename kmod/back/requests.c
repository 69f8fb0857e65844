// SPDX-License-Identifier: GPL-2.0
/*
 * The request ring of one guest, served by a work item (never in the
 * interrupt): requests are copied out of the shared page before anything
 * reads them, checked, and answered in order, except zero-copy sends,
 * answered when their pages are back (tx.c), and LANE_LISTEN, answered
 * when a notice comes (lanes.c). OPEN maps the guest's receive
 * memory and opens a Dom0 endpoint whose frames x2mb_deliver() writes into
 * it exactly as xen2mx.ko writes a process's ring; CLOSE undoes that.
 */
#include <linux/log2.h>
#include <linux/slab.h>
#include <xen/events.h>

#include "back.h"

#define X2MB_BUDGET 64 /* requests per run of the work item before it yields */
#define X2MB_SLOT_HEAD sizeof(struct xen2mx_rx_slot)

void x2mb_respond(struct x2mb_dev *dev, const struct x2mx_response *rsp)
{
	unsigned long flags;
	bool notify = false;

	spin_lock_irqsave(&dev->rsp_lock, flags);
	if (!dev->stopping) {
		*RING_GET_RESPONSE(&dev->ring, dev->ring.rsp_prod_pvt) = *rsp;
		atomic64_inc(&dev->responses);
		dev->ring.rsp_prod_pvt++;
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&dev->ring, notify);
		if (notify)
			notify_remote_via_irq(dev->irq);
	}
	spin_unlock_irqrestore(&dev->rsp_lock, flags);
}

/* Writes into the endpoint's mapped pages, taken as one run. */
static void x2mb_ep_write(struct x2mb_ep *ep, size_t offset, const void *from, size_t len)
{
	while (len) {
		size_t in_page = offset & ~PAGE_MASK;
		size_t n = min_t(size_t, len, PAGE_SIZE - in_page);

		memcpy(page_address(ep->map.pages[offset >> PAGE_SHIFT]) + in_page, from, n);
		from += n;
		offset += n;
		len -= n;
	}
}

/* The same from an skb's bytes [skb_offset, skb_offset + len). */
static int x2mb_ep_write_skb(struct x2mb_ep *ep, size_t offset, const struct sk_buff *skb,
			     int skb_offset, size_t len)
{
	while (len) {
		size_t in_page = offset & ~PAGE_MASK;
		size_t n = min_t(size_t, len, PAGE_SIZE - in_page);

		if (skb_copy_bits(skb, skb_offset, page_address(ep->map.pages[offset >> PAGE_SHIFT]) + in_page, n))
			return -EFAULT;
		skb_offset += n;
		offset += n;
		len -= n;
	}
	return 0;
}

/*
 * A frame for a guest endpoint (xen2mx.ko's demultiplexer, under RCU with
 * bottom halves off): into the next receive slot of the guest's ring, then
 * the guest is told, unless frames written before this one are still
 * unread: the guest's process has not yet caught up, and it reads the ring
 * up to its producer before it waits again (the frontend checks for
 * pending frames after the consumer's last store). A burst of frames then
 * costs the guest one event, not one each. The guest's consumer counter
 * only decides whether there is room and whether to notify: a process that
 * lies about it loses its own frames or wake-ups, nobody else's.
 */
static int x2mb_deliver(struct x2m_endpoint *xep, void *priv, const u8 *eth, const struct sk_buff *skb)
{
	struct x2mb_ep *ep = priv;
	struct x2mb_dev *dev = ep->dev;
	struct xen2mx_rx_slot head = {};
	unsigned int length = ETH_HLEN + skb->len;
	bool caught_up;
	size_t slot;
	int why = 0;

	if (X2MB_SLOT_HEAD + length > ep->rx_slot_bytes) {
		why = XEN2MX_CTR_DROP_TOO_LONG;
		goto out;
	}
	spin_lock(&ep->lock);
	if (ep->rx_prod - READ_ONCE(ep->ctl->rx_cons) >= ep->rx_slots) {
		spin_unlock(&ep->lock);
		why = XEN2MX_CTR_DROP_RING_FULL;
		goto out;
	}
	slot = PAGE_SIZE + (size_t)(ep->rx_prod & (ep->rx_slots - 1)) * ep->rx_slot_bytes;
	x2mb_ep_write(ep, slot + X2MB_SLOT_HEAD, eth, ETH_HLEN);
	if (x2mb_ep_write_skb(ep, slot + X2MB_SLOT_HEAD + ETH_HLEN, skb, 0, skb->len)) {
		spin_unlock(&ep->lock);
		why = XEN2MX_CTR_DROP_SHORT;
		goto out;
	}
	head.length = length;
	x2mb_ep_write(ep, slot, &head, sizeof(head));
	ep->rx_prod++;
	smp_store_release(&ep->ctl->rx_prod, ep->rx_prod);
	/* The producer is out before the consumer is read; pairs with the
	 * frontend's barrier between the process's consumer store and its
	 * pending check, so that one of the two sees the other. */
	smp_mb();
	caught_up = READ_ONCE(ep->ctl->rx_cons) == ep->rx_prod - 1;
	spin_unlock(&ep->lock);
	x2mb_stat(dev, XEN2MX_CTR_RECEIVED, 1);
	x2mb_stat(dev, XEN2MX_CTR_RECEIVED_BYTES, length);
	if (caught_up || !READ_ONCE(x2mb_rx_event_batching)) {
		atomic64_inc(&dev->rx_events);
		notify_remote_via_irq(dev->irq);
	} else {
		atomic64_inc(&dev->rx_events_saved);
	}
	return 0;
out:
	x2mb_stat(dev, why, 1);
	return why;
}

static const struct x2m_sink_ops x2mb_sink_ops = {
	.deliver = x2mb_deliver,
};

static int x2mb_open(struct x2mb_dev *dev, const struct x2mx_request *req, struct x2mx_response *rsp)
{
	u32 nr = req->u.open.nr_pages, slots = req->u.open.rx_slots, slot_bytes = req->u.open.rx_slot_bytes;
	unsigned int max_frame = dev->desc.mtu + ETH_HLEN;
	struct x2mb_ep *ep;
	grant_ref_t *refs;
	int ret;

	if (dev->nr_eps >= x2mb_max_endpoints)
		return -EMFILE;
	if (nr < 2 || nr > x2mb_max_ring_pages ||
	    (size_t)nr * sizeof(grant_ref_t) > ((size_t)dev->chunk_pages << PAGE_SHIFT))
		return -EINVAL;
	if (!is_power_of_2(slots) || !is_power_of_2(slot_bytes) || slot_bytes < X2MB_SLOT_HEAD + max_frame)
		return -EINVAL;
	if ((u64)slots * slot_bytes != (u64)(nr - 1) << PAGE_SHIFT)
		return -EINVAL;
	if (req->endpoint != XEN2MX_ANY_ENDPOINT && (req->endpoint < 0 || req->endpoint >= XEN2MX_MAX_ENDPOINTS))
		return -EINVAL;
	if (req->flags & ~(XEN2MX_OPEN_ANY_SESSION | XEN2MX_OPEN_MX_COMPAT))
		return -EINVAL;

	/* Copied first: the guest may change the chunk under us. */
	refs = kvmalloc_array(nr, sizeof(*refs), GFP_KERNEL);
	if (!refs)
		return -ENOMEM;
	ret = x2mb_chunk_read(dev, req->chunk, 0, refs, (size_t)nr * sizeof(*refs));
	if (ret)
		goto out_refs;
	ep = kzalloc(sizeof(*ep), GFP_KERNEL);
	ret = -ENOMEM;
	if (!ep)
		goto out_refs;
	ep->dev = dev;
	ep->rx_slots = slots;
	ep->rx_slot_bytes = slot_bytes;
	spin_lock_init(&ep->lock);
	ret = x2mb_map_grants(dev, refs, nr, false, &ep->map);
	if (ret)
		goto out_ep;
	ep->ctl = page_address(ep->map.pages[0]);
	WRITE_ONCE(ep->ctl->rx_prod, 0);
	ret = x2m_endpoint_open_sink(dev->board, req->endpoint, req->flags, &x2mb_sink_ops, ep, dev->owner,
				     &ep->xep);
	if (ret)
		goto out_unmap;
	dev->eps[x2m_endpoint_id(ep->xep)] = ep;
	dev->nr_eps++;
	rsp->endpoint = x2m_endpoint_id(ep->xep);
	rsp->session = x2m_endpoint_session(ep->xep);
	kvfree(refs);
	return 0;

out_unmap:
	x2mb_unmap_grants(dev, &ep->map, false);
out_ep:
	kfree(ep);
out_refs:
	kvfree(refs);
	return ret;
}

static void x2mb_close_ep(struct x2mb_dev *dev, struct x2mb_ep *ep)
{
	u8 id = x2m_endpoint_id(ep->xep);

	x2m_endpoint_close(ep->xep); /* no x2mb_deliver() for it from here */
	dev->eps[id] = NULL;
	dev->nr_eps--;
	x2mb_unmap_grants(dev, &ep->map, false);
	kfree(ep);
}

void x2mb_close_all(struct x2mb_dev *dev)
{
	unsigned int id;

	for (id = 0; id < XEN2MX_MAX_ENDPOINTS; id++)
		if (dev->eps[id])
			x2mb_close_ep(dev, dev->eps[id]);
}

static int x2mb_close(struct x2mb_dev *dev, const struct x2mx_request *req)
{
	struct x2mb_ep *ep = x2mb_ep_of(dev, req->endpoint);

	if (!ep)
		return -ENOENT;
	x2mb_close_ep(dev, ep);
	return 0;
}

static void x2mb_handle(struct x2mb_dev *dev, const struct x2mx_request *req)
{
	struct x2mx_response rsp = {
		.op = req->op,
		.chunk = req->chunk,
		.id = req->id,
		.endpoint = req->endpoint,
	};
	int status;

	switch (req->op) {
	case X2MX_OP_OPEN:
		status = x2mb_open(dev, req, &rsp);
		break;
	case X2MX_OP_CLOSE:
		status = x2mb_close(dev, req);
		break;
	case X2MX_OP_SEND:
		if (!x2mb_ep_of(dev, req->endpoint)) {
			status = -ENOENT;
			break;
		}
		status = x2mb_send(dev, req);
		if (status == X2MB_DEFERRED)
			return;
		break;
	case X2MX_OP_REGION:
		status = x2mb_region(dev, req);
		break;
	case X2MX_OP_UNREGION:
		status = x2mb_unregion(dev, req);
		break;
	case X2MX_OP_LANE_LISTEN:
		status = dev->lanes ? x2mb_lane_listen(dev, req, &rsp) : -EOPNOTSUPP;
		if (status == X2MB_DEFERRED)
			return;
		break;
	case X2MX_OP_LANE_ASK:
		/* lanes=0 at run time: no more introductions. */
		status = dev->lanes && READ_ONCE(x2mb_lanes) ? x2mb_lane_ask(dev, req) : -EOPNOTSUPP;
		break;
	case X2MX_OP_LANE_OFFER:
		status = dev->lanes ? x2mb_lane_offer(dev, req) : -EOPNOTSUPP;
		break;
	default:
		status = -EOPNOTSUPP;
		break;
	}
	if (status < 0) {
		atomic64_inc(&dev->bad_requests);
		pr_debug("xen2mx-back: dom%u: request op %u failed: %d\n", dev->domid, req->op, status);
	}
	rsp.status = status;
	x2mb_respond(dev, &rsp);
}

void x2mb_req_work(struct work_struct *work)
{
	struct x2mb_dev *dev = container_of(work, struct x2mb_dev, req_work);
	struct x2mx_request req;
	unsigned int budget = X2MB_BUDGET;
	bool notified = atomic_xchg(&dev->notified, 0), served = false;
	RING_IDX rc, rp;
	int more;

	do {
		rc = dev->ring.req_cons;
		rp = READ_ONCE(dev->ring.sring->req_prod);
		virt_rmb(); /* the requests up to rp are there */
		if (RING_REQUEST_PROD_OVERFLOW(&dev->ring, rp)) {
			/* No frontend of ours does that: the ring is not to be trusted. */
			atomic64_inc(&dev->bad_requests);
			xenbus_dev_fatal(dev->xb, -EIO, "request producer %u past the ring (consumer %u)", rp, rc);
			x2mb_fatal(dev);
			return; /* the event channel stays masked */
		}
		if (rc != rp)
			served = true;
		while (rc != rp) {
			/* Back-pressure: requests whose responses have no room wait. */
			if (RING_REQUEST_CONS_OVERFLOW(&dev->ring, rc))
				goto out;
			RING_COPY_REQUEST(&dev->ring, rc, &req);
			atomic64_inc(&dev->requests);
			dev->ring.req_cons = ++rc;
			x2mb_handle(dev, &req);
			if (!--budget) {
				/* Other guests get their turn; this one is served again at once. */
				if (!READ_ONCE(dev->stopping))
					queue_work(x2mb_wq, &dev->req_work);
				return;
			}
		}
		RING_FINAL_CHECK_FOR_REQUESTS(&dev->ring, more);
	} while (more);
out:
	/* A guest notifying with nothing posted gets its events delayed (runs
	 * queued by a zero-copy completion are not its doing). */
	xen_irq_lateeoi(READ_ONCE(dev->irq), notified && !served ? XEN_EOI_FLAG_SPURIOUS : 0);
}
