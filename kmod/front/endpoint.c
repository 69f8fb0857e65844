// SPDX-License-Identifier: GPL-2.0
/*
 * A guest's endpoints. The memory the process maps is laid out as on bare
 * metal ([ctl page][rx slots][events]), then, where the connection has
 * lanes, the receiving lanes (lane_in.c); the ctl page and the slots are
 * granted to Dom0, which writes received frames there itself, while the
 * event queue stays the guest's (zero-copy completions are posted here).
 * Dom0 opens the matching endpoint of its board and answers with its id and
 * session, which are the guest endpoint's own.
 */
#include <linux/etherdevice.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <xen/page.h>

#include "../common/abi_args.h"
#include "../common/event_queue.h"
#include "front.h"

#define X2MF_SLOT_HEAD sizeof(struct xen2mx_rx_slot)

/*
 * Ends a grant. A page Dom0 still maps is kept (a reference of its own)
 * until Xen says it is no longer in use, so it is never reused under Dom0.
 */
void x2mf_ungrant(grant_ref_t ref, struct page *page)
{
	gnttab_end_foreign_access(ref, page); /* takes the page reference */
	x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, -1);
}

static void x2mf_endpoint_ungrant(struct x2mf_ep *ep)
{
	unsigned int i;

	for (i = 0; i < ep->nr_refs; i++) {
		struct page *page = vmalloc_to_page(ep->map + i * PAGE_SIZE);

		get_page(page); /* outlives vfree() if Dom0 still maps it */
		x2mf_ungrant(ep->refs[i], page);
	}
	ep->nr_refs = 0;
}

static void x2mf_endpoint_release(struct kref *ref)
{
	struct x2mf_ep *ep = container_of(ref, struct x2mf_ep, ref);

	x2mf_regions_release(ep);
	/* Closed already, unless the endpoint never opened or its connection went. */
	x2mf_lanes_in_close(ep, true, 0, true);
	x2mf_lanes_out_close(ep, true, 0, true);
	x2mf_endpoint_ungrant(ep);
	kfree(ep->refs);
	vfree(ep->map);
	x2mf_dev_put(ep->dev);
	kfree(ep);
	x2mf_global_add(XEN2MX_CTR_ENDPOINTS_OPEN, -1);
}

void x2mf_endpoint_put(struct x2mf_ep *ep)
{
	kref_put(&ep->ref, x2mf_endpoint_release);
}

/* The receive ring's geometry: a whole number of pages Dom0 accepts. */
static int x2mf_endpoint_layout(struct x2mf_ep *ep, unsigned int max_pages)
{
	size_t ring_bytes = (size_t)clamp(x2mf_rx_ring_kb, 16u, 65536u) << 10;
	u32 min_slots;
	size_t rx_bytes, ev_bytes, lanes_bytes = 0;

	ep->rx_slot_bytes = roundup_pow_of_two(X2MF_SLOT_HEAD + ep->max_frame);
	min_slots = max_t(u32, 2, PAGE_SIZE / ep->rx_slot_bytes);
	ep->rx_slots = rounddown_pow_of_two(max_t(size_t, ring_bytes / ep->rx_slot_bytes, min_slots));
	while (ep->rx_slots > min_slots &&
	       1 + (size_t)ep->rx_slots * ep->rx_slot_bytes / PAGE_SIZE > max_pages)
		ep->rx_slots /= 2;
	rx_bytes = (size_t)ep->rx_slots * ep->rx_slot_bytes;
	ep->nr_refs = 0;
	if (1 + rx_bytes / PAGE_SIZE > max_pages)
		return -E2BIG;
	ep->ev_entries = roundup_pow_of_two(clamp(x2mf_events, 16u, 65536u));
	ev_bytes = PAGE_ALIGN((size_t)ep->ev_entries * sizeof(struct xen2mx_event));
	if (ep->lanes)
		lanes_bytes = x2mf_lanes_in_layout(ep);
	ep->map_bytes = PAGE_SIZE + rx_bytes + ev_bytes + lanes_bytes;
	ep->map = vmalloc_user(ep->map_bytes); /* zeroed */
	if (!ep->map)
		return -ENOMEM;
	ep->ctl = ep->map;
	ep->ev_base = ep->map + PAGE_SIZE + rx_bytes;
	if (ep->lanes)
		x2mf_lanes_in_init(ep, PAGE_SIZE + rx_bytes + ev_bytes);
	return 0;
}

static int x2mf_endpoint_grant(struct x2mf_ep *ep, unsigned int pages)
{
	domid_t backend = ep->dev->backend_id;
	unsigned int i;
	int ref;

	ep->refs = kcalloc(pages, sizeof(*ep->refs), GFP_KERNEL);
	if (!ep->refs)
		return -ENOMEM;
	for (i = 0; i < pages; i++) {
		ref = gnttab_grant_foreign_access(backend, xen_page_to_gfn(vmalloc_to_page(ep->map + i * PAGE_SIZE)), 0);
		if (ref < 0)
			return ref;
		ep->refs[i] = ref;
		ep->nr_refs++;
		x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, 1);
	}
	return 0;
}

/* Posts a request that waits for its answer (OPEN, CLOSE, REGION, UNREGION); the answer's status. */
int x2mf_call(struct x2mf_dev *dev, u32 generation, struct x2mx_request *req, const void *chunk_data,
		     size_t chunk_bytes, struct x2mx_response *rsp)
{
	struct x2mf_waiter waiter;
	unsigned int slot;
	int ret;

	/* CLOSE and UNREGION may not give up: Dom0 would keep what they let go. */
	ret = x2mf_slot_get(dev, generation, X2MF_SLOT_WAIT,
			    req->op != X2MX_OP_CLOSE && req->op != X2MX_OP_UNREGION, &slot);
	if (ret)
		return ret;
	if (chunk_bytes)
		memcpy(x2mf_chunk(dev, slot), chunk_data, chunk_bytes);
	init_completion(&waiter.done);
	x2mf_post(dev, slot, req, &waiter, NULL);
	/* Dom0 answers, or the connection's teardown does (ENOTCONN). */
	wait_for_completion(&waiter.done);
	x2mf_slot_put(dev, generation, slot);
	*rsp = waiter.rsp;
	return rsp->status;
}

int x2mf_endpoint_open(struct x2mf_ep **out, struct xen2mx_endpoint_open *req)
{
	struct x2mx_request rq = { .op = X2MX_OP_OPEN };
	struct x2mx_response rsp;
	struct x2mf_dev *dev;
	struct x2mf_ep *ep;
	unsigned int pages;
	bool connected;
	int ret;

	ret = x2m_abi_check_open(req->endpoint, req->flags);
	if (ret)
		return ret;
	dev = x2mf_dev_get(req->board);
	if (!dev)
		return -ENODEV;
	ep = kzalloc(sizeof(*ep), GFP_KERNEL);
	if (!ep) {
		x2mf_dev_put(dev);
		return -ENOMEM;
	}
	kref_init(&ep->ref);
	ep->dev = dev; /* the reference is the endpoint's from here */
	INIT_LIST_HEAD(&ep->node);
	spin_lock_init(&ep->lock);
	init_waitqueue_head(&ep->wait);
	atomic_set(&ep->pinned, 0);
	atomic_set(&ep->zc_pending, 0);
	mutex_init(&ep->region_mutex);
	mutex_init(&ep->lanes_in_mutex);
	mutex_init(&ep->lanes_out_mutex);
	atomic_set(&ep->lane_waiters, 0);
	ep->flags = req->flags;
	x2mf_global_add(XEN2MX_CTR_ENDPOINTS_OPEN, 1);

	mutex_lock(&dev->lock); /* no teardown while the grants are made */
	spin_lock_irq(&dev->ring_lock);
	connected = dev->connected;
	ep->generation = dev->generation;
	ep->max_frame = dev->mtu + ETH_HLEN;
	ep->lanes = dev->lanes;
	memcpy(ep->mac, dev->mac, ETH_ALEN);
	spin_unlock_irq(&dev->ring_lock);
	ret = -ENOTCONN;
	if (!connected || !dev->xb)
		goto out_unlock;
	ret = x2mf_endpoint_layout(ep, min_t(unsigned int, dev->max_ring_pages,
					     dev->chunk_pages * PAGE_SIZE / sizeof(grant_ref_t)));
	if (ret)
		goto out_unlock;
	pages = 1 + ep->rx_slots * ep->rx_slot_bytes / PAGE_SIZE;
	ret = x2mf_endpoint_grant(ep, pages);
	mutex_unlock(&dev->lock);
	if (ret)
		goto out;

	rq.endpoint = req->endpoint;
	rq.flags = req->flags;
	rq.u.open.nr_pages = pages;
	rq.u.open.rx_slots = ep->rx_slots;
	rq.u.open.rx_slot_bytes = ep->rx_slot_bytes;
	ret = x2mf_call(dev, ep->generation, &rq, ep->refs, pages * sizeof(grant_ref_t), &rsp);
	if (ret)
		goto out;
	if (rsp.endpoint < 0 || rsp.endpoint >= XEN2MX_MAX_ENDPOINTS) {
		ret = -EPROTO;
		goto out;
	}
	ep->id = rsp.endpoint;
	ep->session = rsp.session;

	spin_lock_irq(&dev->ep_lock);
	list_add_tail(&ep->node, &dev->endpoints);
	dev->nr_endpoints++;
	/* A teardown that came between the answer and now missed it. */
	ep->dead = READ_ONCE(dev->generation) != ep->generation;
	spin_unlock_irq(&dev->ep_lock);
	x2mf_global_add(XEN2MX_CTR_ENDPOINTS_OPENED, 1);

	req->session = ep->session;
	req->endpoint_id = ep->id;
	req->mtu = ep->max_frame - ETH_HLEN;
	req->max_frame = ep->max_frame;
	req->map_bytes = ep->map_bytes;
	req->rx_offset = PAGE_SIZE;
	req->rx_slots = ep->rx_slots;
	req->rx_slot_bytes = ep->rx_slot_bytes;
	req->ev_offset = (u8 *)ep->ev_base - (u8 *)ep->map;
	req->ev_entries = ep->ev_entries;
	memcpy(req->mac, ep->mac, ETH_ALEN);
	req->pad = 0;
	*out = ep;
	return 0;

out_unlock:
	mutex_unlock(&dev->lock);
out:
	x2mf_endpoint_put(ep);
	return ret;
}

/* The file is released: Dom0 closes its endpoint and unmaps, then the memory goes. */
void x2mf_endpoint_close(struct x2mf_ep *ep)
{
	struct x2mf_dev *dev = ep->dev;
	struct x2mx_request rq = { .op = X2MX_OP_CLOSE, .endpoint = ep->id };
	struct x2mx_response rsp;
	bool dead;

	/* Before Dom0 may give the id to another endpoint: its senders see `gone` first. */
	x2mf_lanes_in_close(ep, true, 0, true);
	x2mf_lanes_out_close(ep, true, 0, true);
	spin_lock_irq(&dev->ep_lock);
	dead = ep->dead;
	spin_unlock_irq(&dev->ep_lock);
	if (!dead)
		x2mf_call(dev, ep->generation, &rq, NULL, 0, &rsp); /* ENOTCONN: Dom0 let go already */
	spin_lock_irq(&dev->ep_lock);
	list_del_init(&ep->node);
	dev->nr_endpoints--;
	spin_unlock_irq(&dev->ep_lock);
	x2mf_endpoint_put(ep);
}

/* The connection is gone: every endpoint of it fails from now on. */
void x2mf_endpoints_fail(struct x2mf_dev *dev)
{
	struct x2mf_ep *ep;

	spin_lock_irq(&dev->ep_lock);
	list_for_each_entry(ep, &dev->endpoints, node) {
		ep->dead = true;
		wake_up_interruptible_all(&ep->wait);
	}
	spin_unlock_irq(&dev->ep_lock);
}

/* Dom0 signalled: frames may wait in any endpoint's ring. Hard irq. */
void x2mf_endpoints_wake(struct x2mf_dev *dev)
{
	struct x2mf_ep *ep;
	unsigned long flags;

	spin_lock_irqsave(&dev->ep_lock, flags);
	list_for_each_entry(ep, &dev->endpoints, node)
		if (wq_has_sleeper(&ep->wait))
			wake_up_interruptible(&ep->wait);
	spin_unlock_irqrestore(&dev->ep_lock, flags);
}

/* Appends one event; lost (never written outside the queue) when the process lied about its consumer. */
void x2mf_endpoint_event(struct x2mf_ep *ep, u32 type, s32 status, u64 cookie)
{
	unsigned long flags;
	bool written;

	spin_lock_irqsave(&ep->lock, flags);
	written = x2m_evq_put(ep->ctl, ep->ev_base, ep->ev_entries, &ep->ev_prod, type, status, cookie);
	spin_unlock_irqrestore(&ep->lock, flags);
	if (written && wq_has_sleeper(&ep->wait))
		wake_up_interruptible(&ep->wait);
}

/*
 * Dom0 signals a frame only when the process had read every earlier one
 * (back/requests.c): the process's last consumer store is ordered before
 * the producer is read here, so that a frame Dom0 did not signal is seen.
 */
bool x2mf_endpoint_pending(struct x2mf_ep *ep)
{
	smp_mb();
	return READ_ONCE(ep->dead) || x2m_ring_ctl_pending(ep->ctl) || x2mf_lanes_in_pending(ep);
}
