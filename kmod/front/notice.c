// SPDX-License-Identifier: GPL-2.0
/*
 * How a guest hears of lanes and asks for them. While the connection has
 * lanes (both sides wrote feature-lanes), one X2MX_OP_LANE_LISTEN is posted
 * at all times; its answer, a notice, is queued here and handled by the
 * lane work, which then posts the next LISTEN and the ASKs the send path
 * queued (a send never waits for Dom0 to introduce a lane).
 *
 * The lane work never waits for an answer: LISTEN, ASK and OFFER are
 * answered to x2mf_lanes_listened() and x2mf_lanes_answered(). A teardown
 * stops the work before it takes conn_sem for writing: at worst the work
 * waits for a free ring slot, and the teardown wakes it from that first.
 */
#include <linux/slab.h>

#include "front.h"

static void x2mf_lane_work(struct work_struct *work);

void x2mf_lanes_init(struct x2mf_dev *dev)
{
	spin_lock_init(&dev->lane_lock);
	dev->lanes_stopped = true;
	INIT_WORK(&dev->lane_work, x2mf_lane_work);
}

/* Under lane_lock: nothing is queued once a teardown began. */
static void x2mf_lanes_kick_locked(struct x2mf_dev *dev)
{
	if (!dev->lanes_stopped)
		queue_work(system_wq, &dev->lane_work);
}

/* The backend says Connected: lanes when both sides speak them. Under dev->lock. */
void x2mf_lanes_connected(struct x2mf_dev *dev)
{
	bool lanes = x2mf_lanes && dev->xb && xenbus_read_unsigned(dev->xb->otherend, "feature-lanes", 0) == 1;

	spin_lock(&dev->lane_lock);
	dev->listening = false;
	dev->listen_failed = false;
	dev->notices_lost = false;
	dev->notice_head = 0;
	dev->notice_count = 0;
	dev->ask_count = 0;
	dev->lanes_stopped = !lanes;
	spin_unlock(&dev->lane_lock);

	spin_lock_irq(&dev->ring_lock);
	dev->lanes = lanes;
	dev->connected = true;
	spin_unlock_irq(&dev->ring_lock);

	spin_lock(&dev->lane_lock);
	x2mf_lanes_kick_locked(dev); /* the first LISTEN */
	spin_unlock(&dev->lane_lock);
}

/*
 * The connection ends: requests fail from now on (a lane work waiting for a
 * slot gives up) and the lane work is stopped, never to be queued again on
 * this connection. Before the teardown takes conn_sem for writing.
 */
void x2mf_lanes_stop(struct x2mf_dev *dev)
{
	spin_lock(&dev->lane_lock);
	dev->lanes_stopped = true;
	spin_unlock(&dev->lane_lock);
	spin_lock_irq(&dev->ring_lock);
	dev->connected = false;
	dev->lanes = false;
	spin_unlock_irq(&dev->ring_lock);
	wake_up_all(&dev->slot_wait);
	cancel_work_sync(&dev->lane_work);
}

/* Queues one notice (or an OFFER's refusal); the lane work takes it. */
static void x2mf_lanes_queue_locked(struct x2mf_dev *dev, s32 endpoint, const struct x2mx_notice *n)
{
	struct x2mf_notice *item;

	if (dev->notice_count == X2MF_NOTICES) {
		/* As when Dom0's queue overflows: every lane is closed. */
		dev->notices_lost = true;
		return;
	}
	item = &dev->notices[(dev->notice_head + dev->notice_count) % X2MF_NOTICES];
	item->endpoint = endpoint;
	item->n = *n;
	dev->notice_count++;
}

/* LISTEN was answered: a notice, or a refusal that ends listening on this connection. */
void x2mf_lanes_listened(struct x2mf_dev *dev, const struct x2mx_response *rsp)
{
	spin_lock(&dev->lane_lock);
	dev->listening = false;
	if (rsp->status) {
		if (!dev->listen_failed)
			pr_warn("xen2mx-front: %s: Dom0 refused to listen for lanes (%d): no lane comes in\n",
				dev->name, rsp->status);
		dev->listen_failed = true;
	} else {
		x2mf_lanes_queue_locked(dev, rsp->endpoint, &rsp->notice);
	}
	x2mf_lanes_kick_locked(dev);
	spin_unlock(&dev->lane_lock);
}

/* An ASK or an OFFER was answered. A refused OFFER closes the lane it offered. */
void x2mf_lanes_answered(struct x2mf_dev *dev, const struct x2mx_response *rsp, u32 cookie)
{
	struct x2mx_notice n = { .kind = X2MF_NOTICE_OFFER_REFUSED, .token = cookie };

	if (!cookie || !rsp->status)
		return;
	spin_lock(&dev->lane_lock);
	x2mf_lanes_queue_locked(dev, cookie & 0xff, &n);
	x2mf_lanes_kick_locked(dev);
	spin_unlock(&dev->lane_lock);
}

/* The send path wants a lane from `endpoint` to `peer_endpoint`. Lost when too many wait: asked again later. */
void x2mf_lanes_ask(struct x2mf_dev *dev, u8 endpoint, u8 peer_endpoint)
{
	spin_lock(&dev->lane_lock);
	if (!dev->lanes_stopped && dev->ask_count < X2MF_ASKS) {
		dev->asks[dev->ask_count].endpoint = endpoint;
		dev->asks[dev->ask_count].peer_endpoint = peer_endpoint;
		dev->ask_count++;
		x2mf_lanes_kick_locked(dev);
	}
	spin_unlock(&dev->lane_lock);
}

/* Posts a request answered to the lane work's callbacks (LISTEN, ASK, OFFER). */
int x2mf_lanes_post(struct x2mf_dev *dev, u32 generation, u8 kind, struct x2mx_request *rq, u32 cookie)
{
	unsigned int slot;
	int ret;

	ret = x2mf_slot_get(dev, generation, kind, false, &slot);
	if (ret)
		return ret;
	dev->slots[slot].cookie = cookie; /* the slot is ours until x2mf_post publishes it */
	x2mf_post(dev, slot, rq, NULL, NULL);
	return 0;
}

/* Endpoint `id` of this connection, with lanes, with a reference; NULL when there is none. */
static struct x2mf_ep *x2mf_lanes_endpoint(struct x2mf_dev *dev, s32 id)
{
	u32 generation = READ_ONCE(dev->generation);
	struct x2mf_ep *ep, *found = NULL;

	spin_lock_irq(&dev->ep_lock);
	list_for_each_entry(ep, &dev->endpoints, node) {
		if (ep->id != id || ep->dead || ep->generation != generation || !ep->lanes)
			continue;
		kref_get(&ep->ref);
		found = ep;
		break;
	}
	spin_unlock_irq(&dev->ep_lock);
	return found;
}

/* Every endpoint of the device with lanes, each with a reference, in *out (kfree() it); how many. */
static unsigned int x2mf_lanes_endpoints(struct x2mf_dev *dev, struct x2mf_ep ***out)
{
	struct x2mf_ep **eps, *ep;
	unsigned int want, n;

	for (;;) {
		spin_lock_irq(&dev->ep_lock);
		want = dev->nr_endpoints;
		spin_unlock_irq(&dev->ep_lock);
		eps = kmalloc_array(max(want, 1u), sizeof(*eps), GFP_KERNEL | __GFP_NOFAIL);
		n = 0;
		spin_lock_irq(&dev->ep_lock);
		if (dev->nr_endpoints <= want) {
			list_for_each_entry(ep, &dev->endpoints, node) {
				if (!ep->lanes)
					continue;
				kref_get(&ep->ref);
				eps[n++] = ep;
			}
			spin_unlock_irq(&dev->ep_lock);
			*out = eps;
			return n;
		}
		spin_unlock_irq(&dev->ep_lock);
		kfree(eps); /* more came meanwhile */
	}
}

/* Closes the lanes of every endpoint: all of them, or those with domain `peer`. */
static void x2mf_lanes_close_every(struct x2mf_dev *dev, bool all, domid_t peer, bool final)
{
	struct x2mf_ep **eps;
	unsigned int i, n = x2mf_lanes_endpoints(dev, &eps);

	for (i = 0; i < n; i++) {
		x2mf_lanes_in_close(eps[i], all, peer, final);
		x2mf_lanes_out_close(eps[i], all, peer, final);
		x2mf_endpoint_put(eps[i]);
	}
	kfree(eps);
}

/* After a teardown (the lane work stopped): no endpoint of the old connection keeps a lane. */
void x2mf_lanes_sweep(struct x2mf_dev *dev)
{
	x2mf_lanes_close_every(dev, true, 0, true);
}

static void x2mf_lanes_notice(struct x2mf_dev *dev, const struct x2mf_notice *item)
{
	struct x2mf_ep *ep;

	switch (item->n.kind) {
	case X2MX_NOTICE_LANE_WANTED:
	case X2MX_NOTICE_LANE_READY:
	case X2MF_NOTICE_OFFER_REFUSED:
		ep = x2mf_lanes_endpoint(dev, item->endpoint);
		if (!ep)
			return; /* closed meanwhile */
		if (item->n.kind == X2MX_NOTICE_LANE_WANTED)
			x2mf_lane_wanted(ep, &item->n);
		else if (item->n.kind == X2MX_NOTICE_LANE_READY)
			x2mf_lane_ready(ep, &item->n);
		else
			x2mf_lane_offer_refused(ep, item->n.token);
		x2mf_endpoint_put(ep);
		return;
	case X2MX_NOTICE_PEER_GONE:
		x2mf_lanes_close_every(dev, false, item->n.peer_domid, false);
		return;
	case X2MX_NOTICE_RESET:
		x2mf_lanes_close_every(dev, true, 0, false);
		return;
	default:
		return; /* a kind this guest does not know of */
	}
}

/* Takes the next notice; *lost when some were lost (then the queue is emptied: a RESET covers them). */
static bool x2mf_lanes_next(struct x2mf_dev *dev, struct x2mf_notice *item, bool *lost)
{
	bool have;

	spin_lock(&dev->lane_lock);
	*lost = dev->notices_lost;
	if (*lost) {
		dev->notices_lost = false;
		dev->notice_count = 0;
	}
	have = dev->notice_count > 0;
	if (have) {
		*item = dev->notices[dev->notice_head];
		dev->notice_head = (dev->notice_head + 1) % X2MF_NOTICES;
		dev->notice_count--;
	}
	spin_unlock(&dev->lane_lock);
	return have;
}

static void x2mf_lane_work(struct work_struct *work)
{
	struct x2mf_dev *dev = container_of(work, struct x2mf_dev, lane_work);
	struct x2mx_request rq;
	struct x2mf_notice item;
	u32 generation;
	bool ok, lost, have, listen;
	u8 endpoint, peer_endpoint;

	spin_lock_irq(&dev->ring_lock);
	generation = dev->generation;
	ok = dev->connected && dev->lanes;
	spin_unlock_irq(&dev->ring_lock);
	if (!ok)
		return;

	do {
		have = x2mf_lanes_next(dev, &item, &lost);
		if (lost)
			x2mf_lanes_close_every(dev, true, 0, false);
		if (have)
			x2mf_lanes_notice(dev, &item);
	} while (have || lost);

	spin_lock(&dev->lane_lock);
	listen = !dev->listening && !dev->listen_failed;
	dev->listening = dev->listening || listen;
	spin_unlock(&dev->lane_lock);
	if (listen) {
		rq = (struct x2mx_request){ .op = X2MX_OP_LANE_LISTEN };
		if (x2mf_lanes_post(dev, generation, X2MF_SLOT_LISTEN, &rq, 0)) {
			spin_lock(&dev->lane_lock);
			dev->listening = false;
			spin_unlock(&dev->lane_lock);
			return; /* the connection is going */
		}
	}

	for (;;) {
		spin_lock(&dev->lane_lock);
		have = dev->ask_count > 0;
		if (have) {
			dev->ask_count--;
			endpoint = dev->asks[dev->ask_count].endpoint;
			peer_endpoint = dev->asks[dev->ask_count].peer_endpoint;
		}
		spin_unlock(&dev->lane_lock);
		if (!have)
			return;
		rq = (struct x2mx_request){ .op = X2MX_OP_LANE_ASK, .endpoint = endpoint };
		rq.u.lane.peer_endpoint = peer_endpoint;
		if (x2mf_lanes_post(dev, generation, X2MF_SLOT_LANE, &rq, 0))
			return;
	}
}
