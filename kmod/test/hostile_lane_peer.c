// SPDX-License-Identifier: GPL-2.0
/*
 * This guest as the other end of a lane of the good guest, whose real
 * frontend is the one under attack (Dom0 only introduces the two). Run
 * apart from the listed attacks, once Dom0's test says "receiver" in the
 * device's xenstore node "lanes", while the good guest sends to endpoint
 * X2MH_LANE_EP of this device.
 *
 * lane-receiver: each LANE_WANTED of the good guest is answered with the
 * next bad lane: a head page that lies about its geometry, references
 * that name nothing or pages not granted to the sender, an event channel
 * meant for another domain, a consumer past the producer, `gone` set. A
 * sound sender refuses or gives up each one and asks again a second
 * later: the next LANE_WANTED is the proof. A right lane comes last; it
 * must fill with the good guest's frames, and be given up once `gone` is
 * set (one more LANE_WANTED).
 */
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/sizes.h>
#include <xen/events.h>
#include <xen/interface/event_channel.h>
#include <asm/xen/hypercall.h>

#include "hostile_attacks.h"

#define X2MH_WANTED_WAIT (90 * HZ) /* the sender asks again a second after a refusal; emulation is slow */

enum x2mh_bad_lane {
	X2MH_LANE_MAGIC,
	X2MH_LANE_SLOTS_ODD,
	X2MH_LANE_SLOT_SMALL,
	X2MH_LANE_SLOT_HUGE,
	X2MH_LANE_PAGES_MANY,
	X2MH_LANE_PAGES_ALL,
	X2MH_LANE_GEOMETRY_SUM,
	X2MH_LANE_HEAD_UNGRANTED,
	X2MH_LANE_REFS_PAST,
	X2MH_LANE_REFS_UNUSED,
	X2MH_LANE_REFS_OTHER_DOM,
	X2MH_LANE_PORT_OTHER_DOM,
	X2MH_LANE_CONS_AHEAD,
	X2MH_LANE_GONE,
	X2MH_LANE_RIGHT, /* last */
};

static const char *const x2mh_bad_lane_names[] = {
	[X2MH_LANE_MAGIC] = "wrong magic",
	[X2MH_LANE_SLOTS_ODD] = "3 slots",
	[X2MH_LANE_SLOT_SMALL] = "64-byte slots",
	[X2MH_LANE_SLOT_HUGE] = "128 KiB slots",
	[X2MH_LANE_PAGES_MANY] = "128 slot pages",
	[X2MH_LANE_PAGES_ALL] = "2^32-1 slot pages",
	[X2MH_LANE_GEOMETRY_SUM] = "slots past nr_pages",
	[X2MH_LANE_HEAD_UNGRANTED] = "head page never granted",
	[X2MH_LANE_REFS_PAST] = "slot refs past the grant table",
	[X2MH_LANE_REFS_UNUSED] = "slot refs granting nothing",
	[X2MH_LANE_REFS_OTHER_DOM] = "slot pages granted to Dom0",
	[X2MH_LANE_PORT_OTHER_DOM] = "event channel for Dom0",
	[X2MH_LANE_CONS_AHEAD] = "consumer far past the producer",
	[X2MH_LANE_GONE] = "gone set",
	[X2MH_LANE_RIGHT] = "a right lane",
};

/* A lane this guest offered: kept granted until the attack ends (the sender may still map it). */
struct x2mh_offered {
	struct x2mh_pages head, slots;
	evtchn_port_t port;
	bool bound;
	grant_ref_t unused;
};

static int x2mh_evtchn_for(domid_t peer, evtchn_port_t *port)
{
	struct evtchn_alloc_unbound alloc = { .dom = DOMID_SELF, .remote_dom = peer };
	int ret = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc);

	if (!ret)
		*port = alloc.port;
	return ret;
}

static void x2mh_offered_free(struct x2mh_offered *o)
{
	struct evtchn_close close = { .port = o->port };

	if (o->bound)
		HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
	o->bound = false;
	if (o->unused)
		x2mh_unused_ref_put(o->unused);
	o->unused = 0;
	x2mh_pages_free(&o->head);
	x2mh_pages_free(&o->slots);
}

/* Dom0's test says when: `want` in the device's xenstore node "lanes" (120 s at most). */
static bool x2mh_lanes_go(struct x2mh_dev *dev, const char *want)
{
	unsigned int i;

	for (i = 0; i < 1200; i++) {
		char *value = xenbus_read(XBT_NIL, dev->xb->nodename, "lanes", NULL);
		bool go = !IS_ERR(value) && !strcmp(value, want);

		if (!IS_ERR(value))
			kfree(value);
		if (go)
			return true;
		msleep(100);
	}
	x2mh_note(dev, "no \"%s\" from Dom0 (xenstore %s/lanes) within 120 s; ", want, dev->xb->nodename);
	return false;
}

/* The next notice for this guest, within `timeout`: 0, or 1 (noted). */
static int x2mh_lane_listen(struct x2mh_dev *dev, const char *what, struct x2mx_response *rsp, unsigned long timeout)
{
	struct x2mx_request req = { .op = X2MX_OP_LANE_LISTEN };
	int got;

	if (x2mh_post(dev, &req, 1)) {
		x2mh_note(dev, "%s: LISTEN not posted; ", what);
		return 1;
	}
	got = x2mh_collect(dev, rsp, 1, timeout);
	if (got != 1 || rsp->status) {
		x2mh_note(dev, "%s: %s; ", what, got == 1 ? "LISTEN refused" : "nothing heard");
		return 1;
	}
	return 0;
}

/*
 * Builds lane `bad` for domain `peer` in `o`: the geometry the good
 * guest's endpoints accept (slots of the board's longest frame), then the
 * lie. The reference to offer in *ref.
 */
static int x2mh_lane_build(struct x2mh_dev *dev, enum x2mh_bad_lane bad, domid_t peer, struct x2mh_offered *o,
			   grant_ref_t *ref)
{
	u32 slot_bytes = x2mh_slot_bytes(dev), slots = max_t(u32, 4, 4 * PAGE_SIZE / slot_bytes);
	u32 nr = slots * slot_bytes / PAGE_SIZE, i;
	domid_t slots_to = bad == X2MH_LANE_REFS_OTHER_DOM ? dev->backend_id : peer;
	struct xen2mx_lane_head *head;
	u32 *refs;
	int ret;

	ret = x2mh_pages_grant(dev, &o->head, 1, peer, false) ?: x2mh_pages_grant(dev, &o->slots, nr, slots_to, false);
	if (ret)
		return ret;
	ret = x2mh_evtchn_for(bad == X2MH_LANE_PORT_OTHER_DOM ? dev->backend_id : peer, &o->port);
	if (ret)
		return ret;
	o->bound = true;
	head = page_address(o->head.pages[0]);
	refs = (void *)head + XEN2MX_LANE_REFS_OFFSET;
	head->magic = XEN2MX_LANES_MAGIC;
	head->slots = slots;
	head->slot_bytes = slot_bytes;
	head->nr_pages = nr;
	for (i = 0; i < nr; i++)
		refs[i] = o->slots.refs[i];
	*ref = o->head.refs[0];

	switch (bad) {
	case X2MH_LANE_MAGIC:
		head->magic = ~XEN2MX_LANES_MAGIC;
		break;
	case X2MH_LANE_SLOTS_ODD:
		head->slots = 3;
		break;
	case X2MH_LANE_SLOT_SMALL:
		head->slot_bytes = 64;
		head->slots = nr * PAGE_SIZE / 64;
		break;
	case X2MH_LANE_SLOT_HUGE:
		head->slot_bytes = SZ_128K;
		head->slots = 2;
		head->nr_pages = 2 * SZ_128K / PAGE_SIZE;
		break;
	case X2MH_LANE_PAGES_MANY:
		head->nr_pages = 128;
		head->slots = 128 * PAGE_SIZE / slot_bytes;
		break;
	case X2MH_LANE_PAGES_ALL:
		head->nr_pages = U32_MAX;
		break;
	case X2MH_LANE_GEOMETRY_SUM:
		head->slots = 2 * slots;
		break;
	case X2MH_LANE_HEAD_UNGRANTED:
		o->unused = x2mh_unused_ref();
		*ref = o->unused;
		break;
	case X2MH_LANE_REFS_PAST:
		refs[nr - 1] = X2MH_REF_PAST_TABLE;
		break;
	case X2MH_LANE_REFS_UNUSED:
		o->unused = x2mh_unused_ref();
		refs[nr - 1] = o->unused;
		break;
	case X2MH_LANE_CONS_AHEAD:
		WRITE_ONCE(head->cons, 0x80000000u);
		break;
	case X2MH_LANE_GONE:
		WRITE_ONCE(head->gone, 1);
		break;
	default:
		break;
	}
	return 0;
}

/* The right lane, offered last: it fills with the good guest's frames, then is given up once gone. */
static int x2mh_lane_right_used(struct x2mh_dev *dev, struct x2mh_offered *o, s32 ep, struct x2mx_response *rsp)
{
	struct xen2mx_lane_head *head = page_address(o->head.pages[0]);
	u32 slots = head->slots, prod = 0;
	const u8 *slot;
	unsigned int i;

	for (i = 0; i < 900 && (prod = READ_ONCE(head->prod)) < slots; i++)
		msleep(100);
	if (prod != slots) {
		x2mh_note(dev, "the right lane: producer %u after 90 s, not %u (full); ", prod, slots);
		return 1;
	}
	smp_rmb(); /* the producer, then the slots */
	slot = page_address(o->slots.pages[0]);
	if (((const struct xen2mx_rx_slot *)slot)->length < 40 || slot[16 + X2M_PTYPE_OFFSET] != X2M_PKT_TINY ||
	    slot[16 + 17] != ep || !ether_addr_equal(slot + 16 + ETH_ALEN, dev->mac)) {
		x2mh_note(dev, "the right lane: its first frame is not a TINY for endpoint %d from the board; ", ep);
		return 1;
	}
	x2mh_note(dev, "the right lane filled (%u frames); ", prod);
	WRITE_ONCE(head->gone, 1);
	if (x2mh_lane_listen(dev, "after gone", rsp, X2MH_WANTED_WAIT) || rsp->notice.kind != X2MX_NOTICE_LANE_WANTED)
		return 1;
	x2mh_note(dev, "asked again once it was gone; ");
	return 0;
}

int x2mh_lane_receiver(struct x2mh_dev *dev)
{
	struct x2mh_offered offered[X2MH_LANE_RIGHT + 1] = {};
	struct x2mx_request req;
	struct x2mx_response rsp;
	struct x2mh_pages p;
	unsigned int bad, refused = 0;
	grant_ref_t ref;
	int ep, fails = 0;

	if (!x2mh_lanes_go(dev, "receiver") || x2mh_lanes_reconnect(dev, true))
		return 1;
	ep = x2mh_open_ep(dev, &p, X2MH_LANE_EP, 0, NULL);
	if (ep != X2MH_LANE_EP) {
		x2mh_note(dev, "open %d: %d; ", X2MH_LANE_EP, ep);
		return 1;
	}
	for (bad = 0; bad <= X2MH_LANE_RIGHT; bad++) {
		const char *name = x2mh_bad_lane_names[bad];

		if (x2mh_lane_listen(dev, name, &rsp, X2MH_WANTED_WAIT)) {
			fails++;
			break;
		}
		if (rsp.notice.kind != X2MX_NOTICE_LANE_WANTED || rsp.endpoint != ep) {
			x2mh_note(dev, "%s: notice %u for endpoint %d, not LANE_WANTED for %d; ", name,
				  rsp.notice.kind, rsp.endpoint, ep);
			fails++;
			break;
		}
		if (bad)
			refused++; /* the lane before was given up: asked again */
		if (x2mh_lane_build(dev, bad, rsp.notice.peer_domid, &offered[bad], &ref)) {
			x2mh_note(dev, "%s: not built; ", name);
			fails++;
			break;
		}
		memset(&req, 0, sizeof(req));
		req.op = X2MX_OP_LANE_OFFER;
		req.endpoint = ep;
		req.u.lane.token = rsp.notice.token;
		req.u.lane.ref = ref;
		req.u.lane.port = offered[bad].port;
		if (x2mh_expect(dev, name, &req, NULL, 0, 0)) {
			fails++;
			break;
		}
		if (bad == X2MH_LANE_RIGHT)
			fails += x2mh_lane_right_used(dev, &offered[bad], ep, &rsp);
	}
	x2mh_note(dev, "%u bad lanes of %u given up by dom%u; ", refused, X2MH_LANE_RIGHT, rsp.notice.peer_domid);
	fails += refused != X2MH_LANE_RIGHT;
	fails += x2mh_close_ep(dev, ep, &p);
	/* Whatever the sender still maps stays granted until it lets go. */
	for (bad = 0; bad <= X2MH_LANE_RIGHT; bad++)
		x2mh_offered_free(&offered[bad]);
	fails += x2mh_lanes_reconnect(dev, false);
	return fails;
}
