// SPDX-License-Identifier: GPL-2.0
/*
 * The receiving end of lanes. An endpoint's mapping ends with
 * XEN2MX_LANES_MAX lanes, each a head page and lane_pages slot pages. When
 * Dom0 says an endpoint of another guest wants to send to one of ours
 * (LANE_WANTED), a free lane is granted to that guest's domain, writable,
 * with an unbound event channel; it is named in the ctl page's lane table
 * and offered (LANE_OFFER), and the process polls it beside its receive
 * ring. A lane is closed (head->gone set, the table says CLOSED, the
 * channel and the grants end) when its peer or the endpoint goes. Its entry
 * is not used again while the endpoint lives: the old peer may still map
 * its pages, which the grants keep alive until it lets go.
 *
 * The peer writes the head page and the slots: the kernel reads nothing
 * there but prod and cons, and only to tell whether a frame waits.
 */
#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/log2.h>
#include <linux/sizes.h>
#include <linux/vmalloc.h>
#include <xen/events.h>
#include <xen/interface/event_channel.h>
#include <xen/page.h>
#include <asm/xen/hypercall.h>

#include "front.h"

static struct xen2mx_lanes *x2mf_lane_table(struct x2mf_ep *ep)
{
	return (void *)ep->ctl + XEN2MX_LANES_OFFSET;
}

void x2mf_evtchn_close(evtchn_port_t port)
{
	struct evtchn_close close = { .port = port };

	if (HYPERVISOR_event_channel_op(EVTCHNOP_close, &close))
		pr_warn_ratelimited("xen2mx-front: closing event channel %u failed\n", port);
}

/*
 * The receiving lanes' geometry, from the receive slots': at least four
 * slots and 32 KiB, so that a burst of small frames fits. The bytes the
 * lanes take at the end of the mapping (0: none).
 */
size_t x2mf_lanes_in_layout(struct x2mf_ep *ep)
{
	BUILD_BUG_ON(sizeof(struct xen2mx_ring_ctl) > XEN2MX_LANES_OFFSET);
	BUILD_BUG_ON(XEN2MX_LANES_OFFSET + sizeof(struct xen2mx_lanes) > PAGE_SIZE);
	BUILD_BUG_ON(sizeof(struct xen2mx_lane_head) > XEN2MX_LANE_REFS_OFFSET);
	BUILD_BUG_ON(XEN2MX_LANE_REFS_OFFSET + X2MF_LANE_PAGES_MAX * sizeof(u32) > PAGE_SIZE);

	ep->lane_slot_bytes = ep->rx_slot_bytes;
	ep->lane_slots = roundup_pow_of_two(max_t(u32, 4, SZ_32K / ep->lane_slot_bytes));
	ep->lane_pages = (size_t)ep->lane_slots * ep->lane_slot_bytes / PAGE_SIZE;
	if (ep->lane_pages > X2MF_LANE_PAGES_MAX) {
		ep->lanes = false; /* slots a sender would refuse */
		return 0;
	}
	return (size_t)XEN2MX_LANES_MAX * (1 + ep->lane_pages) * PAGE_SIZE;
}

/* The mapping is there, zeroed: the lanes start at `offset`. */
void x2mf_lanes_in_init(struct x2mf_ep *ep, size_t offset)
{
	unsigned int i;

	ep->lanes_offset = offset;
	for (i = 0; i < XEN2MX_LANES_MAX; i++) {
		struct x2mf_lane_in *lane = &ep->lanes_in[i];

		lane->ep = ep;
		lane->state = XEN2MX_LANE_UNUSED;
		lane->head = ep->map + offset + (size_t)i * (1 + ep->lane_pages) * PAGE_SIZE;
	}
	x2mf_lane_table(ep)->magic = XEN2MX_LANES_MAGIC;
}

/*
 * The peer notifies only while the head's `wake` is set, that is while a
 * process sleeps: anything else is spurious, and lateeoi then delays the
 * next events of a peer that floods.
 */
static irqreturn_t x2mf_lane_in_interrupt(int irq, void *data)
{
	struct x2mf_lane_in *lane = data;
	struct x2mf_ep *ep = lane->ep;
	bool sleeper = wq_has_sleeper(&ep->wait);

	if (sleeper)
		wake_up_interruptible(&ep->wait);
	xen_irq_lateeoi(irq, sleeper ? 0 : XEN_EOI_FLAG_SPURIOUS);
	return IRQ_HANDLED;
}

/* Ends what the lane was given: its event channel, then its grants (pages held while the peer maps them). */
static void x2mf_lane_in_release(struct x2mf_lane_in *lane)
{
	unsigned int p;

	if (lane->irq > 0) {
		unbind_from_irqhandler(lane->irq, lane); /* closes the port */
		lane->irq = 0;
	}
	for (p = 0; p < lane->nr_refs; p++) {
		struct page *page = vmalloc_to_page((void *)lane->head + p * PAGE_SIZE);

		get_page(page); /* outlives vfree() if the peer still maps it */
		x2mf_ungrant(lane->refs[p], page);
	}
	lane->nr_refs = 0;
}

/* Grants lane i to the peer of notice n and publishes it; its event channel's port in *port. Under lanes_in_mutex. */
static int x2mf_lane_in_open(struct x2mf_ep *ep, unsigned int i, const struct x2mx_notice *n, evtchn_port_t *port)
{
	struct x2mf_lane_in *lane = &ep->lanes_in[i];
	struct xen2mx_lane_head *head = lane->head;
	struct xen2mx_lanes *table = x2mf_lane_table(ep);
	struct xen2mx_lane_info *info = &table->lane[i];
	u32 *refs = (void *)head + XEN2MX_LANE_REFS_OFFSET;
	struct evtchn_alloc_unbound alloc = { .dom = DOMID_SELF, .remote_dom = n->peer_domid };
	unsigned int p;
	int ref, ret;

	lane->peer_domid = n->peer_domid;
	lane->peer_endpoint = n->peer_endpoint;
	for (p = 0; p <= ep->lane_pages; p++) {
		struct page *page = vmalloc_to_page((void *)head + p * PAGE_SIZE);

		ref = gnttab_grant_foreign_access(n->peer_domid, xen_page_to_gfn(page), 0);
		if (ref < 0) {
			ret = ref;
			goto fail;
		}
		lane->refs[lane->nr_refs++] = ref;
		x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, 1);
		if (p)
			refs[p - 1] = ref;
	}
	head->magic = XEN2MX_LANES_MAGIC;
	head->slots = ep->lane_slots;
	head->slot_bytes = ep->lane_slot_bytes;
	head->nr_pages = ep->lane_pages;
	WRITE_ONCE(head->prod, 0);
	WRITE_ONCE(head->cons, 0);
	WRITE_ONCE(head->wake, 0);
	WRITE_ONCE(head->gone, 0);

	ret = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc);
	if (ret)
		goto fail;
	ret = bind_evtchn_to_irqhandler_lateeoi(alloc.port, x2mf_lane_in_interrupt, 0, "xen2mx-lane", lane);
	if (ret < 0) {
		x2mf_evtchn_close(alloc.port);
		goto fail;
	}
	lane->irq = ret;
	*port = alloc.port;

	info->generation = ++lane->generation;
	info->offset = (u8 *)head - (u8 *)ep->map;
	info->slots = ep->lane_slots;
	info->slot_bytes = ep->lane_slot_bytes;
	memcpy(info->peer_mac, ep->mac, ETH_ALEN);
	info->peer_endpoint = n->peer_endpoint;
	info->pad = 0;
	smp_store_release(&info->state, XEN2MX_LANE_OPEN); /* the entry, then its state */
	smp_store_release(&lane->state, XEN2MX_LANE_OPEN);
	if (ep->lanes_count < i + 1) {
		ep->lanes_count = i + 1;
		smp_store_release(&table->count, ep->lanes_count);
	}
	x2mf_global_add(XEN2MX_CTR_LANES_IN, 1);
	return 0;

fail:
	/* The peer may have guessed a reference and mapped it: the entry is not used again. */
	WRITE_ONCE(head->gone, 1);
	lane->state = XEN2MX_LANE_CLOSED;
	x2mf_lane_in_release(lane);
	return ret;
}

/* Under lanes_in_mutex. */
static void x2mf_lane_in_close(struct x2mf_ep *ep, unsigned int i)
{
	struct x2mf_lane_in *lane = &ep->lanes_in[i];

	if (lane->state != XEN2MX_LANE_OPEN)
		return;
	WRITE_ONCE(lane->head->gone, 1); /* the sender gives it up at its next frame */
	smp_store_release(&x2mf_lane_table(ep)->lane[i].state, XEN2MX_LANE_CLOSED);
	WRITE_ONCE(lane->state, XEN2MX_LANE_CLOSED);
	x2mf_lane_in_release(lane);
	x2mf_global_add(XEN2MX_CTR_LANES_IN, -1);
	wake_up_interruptible(&ep->wait); /* frames may remain: the process takes them */
}

/*
 * Another guest's endpoint (n->peer_domid, n->peer_endpoint) wants a lane to
 * ep. A lane it had is closed first (it reopened); without a free entry it
 * goes on through Dom0. The lane work's.
 */
void x2mf_lane_wanted(struct x2mf_ep *ep, const struct x2mx_notice *n)
{
	struct x2mf_dev *dev = ep->dev;
	struct x2mx_request rq = { .op = X2MX_OP_LANE_OFFER, .endpoint = ep->id };
	unsigned int i, pick = XEN2MX_LANES_MAX;
	evtchn_port_t port;
	u32 cookie;
	int ret;

	if (n->peer_domid >= DOMID_FIRST_RESERVED || n->peer_endpoint >= XEN2MX_MAX_ENDPOINTS)
		return;
	mutex_lock(&ep->lanes_in_mutex);
	if (ep->lanes_in_off)
		goto unlock;
	for (i = 0; i < XEN2MX_LANES_MAX; i++) {
		struct x2mf_lane_in *lane = &ep->lanes_in[i];

		if (lane->state == XEN2MX_LANE_OPEN && lane->peer_domid == n->peer_domid &&
		    lane->peer_endpoint == n->peer_endpoint)
			x2mf_lane_in_close(ep, i);
		if (lane->state == XEN2MX_LANE_UNUSED && pick == XEN2MX_LANES_MAX)
			pick = i;
	}
	if (pick == XEN2MX_LANES_MAX)
		goto unlock;
	ret = x2mf_lane_in_open(ep, pick, n, &port);
	if (ret) {
		pr_warn_ratelimited("xen2mx-front: %s: endpoint %u: no lane for dom%u: %d\n", dev->name, ep->id,
				    n->peer_domid, ret);
		goto unlock;
	}
	/* Names the lane to the OFFER's answer; never 0, which is an ASK's. */
	do
		cookie = ((++dev->lane_serial & 0xffffff) << 8) | ep->id;
	while (!(cookie >> 8));
	ep->lanes_in[pick].serial = cookie;
	rq.u.lane.token = n->token;
	rq.u.lane.ref = ep->lanes_in[pick].refs[0];
	rq.u.lane.port = port;
	mutex_unlock(&ep->lanes_in_mutex);

	if (x2mf_lanes_post(dev, ep->generation, X2MF_SLOT_LANE, &rq, cookie))
		x2mf_lane_offer_refused(ep, cookie);
	return;

unlock:
	mutex_unlock(&ep->lanes_in_mutex);
}

/* Dom0 refused the OFFER of lane `serial` (or it could not be posted): nobody will map it. */
void x2mf_lane_offer_refused(struct x2mf_ep *ep, u32 serial)
{
	unsigned int i;

	mutex_lock(&ep->lanes_in_mutex);
	for (i = 0; i < XEN2MX_LANES_MAX; i++)
		if (ep->lanes_in[i].serial == serial)
			x2mf_lane_in_close(ep, i);
	mutex_unlock(&ep->lanes_in_mutex);
}

/*
 * Closes the endpoint's receiving lanes: all, or those from domain `peer`.
 * `final`: the endpoint is closing, or its connection is gone; no lane is
 * opened for it any more.
 */
void x2mf_lanes_in_close(struct x2mf_ep *ep, bool all, domid_t peer, bool final)
{
	unsigned int i;

	mutex_lock(&ep->lanes_in_mutex);
	if (final)
		ep->lanes_in_off = true;
	for (i = 0; i < XEN2MX_LANES_MAX; i++)
		if (all || ep->lanes_in[i].peer_domid == peer)
			x2mf_lane_in_close(ep, i);
	mutex_unlock(&ep->lanes_in_mutex);
}

/*
 * Whether a frame waits in an open lane. Sets each one's `wake` first, then
 * reads its producer: a sender stores its producer, then reads `wake`, so
 * that either it notifies or the frame is seen here. Any context, no lock:
 * the heads stay in the mapping for the endpoint's life.
 */
bool x2mf_lanes_in_pending(struct x2mf_ep *ep)
{
	unsigned int i;

	if (!ep->lanes)
		return false;
	for (i = 0; i < XEN2MX_LANES_MAX; i++)
		if (smp_load_acquire(&ep->lanes_in[i].state) == XEN2MX_LANE_OPEN)
			WRITE_ONCE(ep->lanes_in[i].head->wake, 1);
	smp_mb();
	for (i = 0; i < XEN2MX_LANES_MAX; i++) {
		struct xen2mx_lane_head *head = ep->lanes_in[i].head;

		if (READ_ONCE(ep->lanes_in[i].state) == XEN2MX_LANE_OPEN &&
		    READ_ONCE(head->prod) != READ_ONCE(head->cons))
			return true;
	}
	return false;
}

/*
 * A wait returned: with no other waiter, the senders need not notify. One
 * that began meanwhile may have checked before `wake` was cleared: it is
 * set again and checked for it.
 */
void x2mf_lanes_in_unwait(struct x2mf_ep *ep)
{
	unsigned int i;

	if (!atomic_dec_and_test(&ep->lane_waiters) || !ep->lanes)
		return;
	for (i = 0; i < XEN2MX_LANES_MAX; i++)
		if (READ_ONCE(ep->lanes_in[i].state) == XEN2MX_LANE_OPEN)
			WRITE_ONCE(ep->lanes_in[i].head->wake, 0);
	smp_mb();
	if (atomic_read(&ep->lane_waiters) && x2mf_lanes_in_pending(ep))
		wake_up_interruptible(&ep->wait);
}
