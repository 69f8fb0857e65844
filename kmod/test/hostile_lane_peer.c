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
 *
 * lane-sender ("sender" in the node): this guest asks a lane of the good
 * guest's endpoint X2MH_LANE_GOOD_EP and writes garbage into what the
 * good guest's frontend offers; the good guest's reader judges.
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

/* The good guest's lane as this guest maps it: the head page, then the slot pages. */
struct x2mh_mapped {
	unsigned int count;
	struct page *pages[1 + 64];
	grant_handle_t handles[1 + 64];
	u32 slots, slot_bytes;
	evtchn_port_t port;
	bool bound;
};

/* Maps `count` references of `peer` after the pages so far: 0, or 1 (noted). */
static int x2mh_map_refs(struct x2mh_dev *dev, struct x2mh_mapped *m, domid_t peer, const grant_ref_t *refs,
			 unsigned int count)
{
	struct gnttab_map_grant_ref ops[8];
	unsigned int i, done;

	for (done = 0; done < count; done += i) {
		unsigned int n = min_t(unsigned int, count - done, ARRAY_SIZE(ops));
		struct page **pages = m->pages + m->count;

		if (gnttab_alloc_pages(n, pages))
			return 1;
		for (i = 0; i < n; i++) {
			gnttab_set_map_op(&ops[i], (unsigned long)pfn_to_kaddr(page_to_pfn(pages[i])), GNTMAP_host_map,
					  refs[done + i], peer);
			m->handles[m->count + i] = INVALID_GRANT_HANDLE;
		}
		m->count += n;
		if (gnttab_map_refs(ops, NULL, pages, n))
			return 1;
		for (i = 0; i < n; i++) {
			if (ops[i].status != GNTST_okay) {
				x2mh_note(dev, "mapping ref %u of dom%u: status %d; ", refs[done + i], peer, ops[i].status);
				return 1;
			}
			m->handles[m->count - n + i] = ops[i].handle;
		}
	}
	return 0;
}

static void x2mh_unmap(struct x2mh_mapped *m)
{
	struct gnttab_unmap_grant_ref op;
	struct evtchn_close close = { .port = m->port };
	unsigned int i;
	bool lost = false;

	if (m->bound)
		HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
	m->bound = false;
	for (i = 0; i < m->count; i++) {
		if (m->handles[i] == INVALID_GRANT_HANDLE)
			continue;
		gnttab_set_unmap_op(&op, (unsigned long)pfn_to_kaddr(page_to_pfn(m->pages[i])), GNTMAP_host_map,
				    m->handles[i]);
		lost |= gnttab_unmap_refs(&op, NULL, &m->pages[i], 1) || op.status != GNTST_okay;
	}
	if (!lost && m->count)
		gnttab_free_pages(m->count, m->pages);
	m->count = 0;
}

/* Maps the lane LANE_READY `n` names; its geometry is the good guest's kernel's, checked anyway. */
static int x2mh_lane_map(struct x2mh_dev *dev, struct x2mh_mapped *m, const struct x2mx_notice *n)
{
	struct evtchn_bind_interdomain bind = { .remote_dom = n->peer_domid, .remote_port = n->port };
	grant_ref_t head_ref = n->ref, refs[64];
	struct xen2mx_lane_head *head;
	u32 nr;

	if (x2mh_map_refs(dev, m, n->peer_domid, &head_ref, 1))
		return 1;
	head = page_address(m->pages[0]);
	m->slots = READ_ONCE(head->slots);
	m->slot_bytes = READ_ONCE(head->slot_bytes);
	nr = READ_ONCE(head->nr_pages);
	if (nr < 1 || nr > ARRAY_SIZE(refs) || m->slots < 2 || (u64)m->slots * m->slot_bytes != (u64)nr * PAGE_SIZE) {
		x2mh_note(dev, "the good guest's lane: %u slots of %u bytes in %u pages; ", m->slots, m->slot_bytes, nr);
		return 1;
	}
	memcpy(refs, (u8 *)head + XEN2MX_LANE_REFS_OFFSET, nr * sizeof(refs[0]));
	if (x2mh_map_refs(dev, m, n->peer_domid, refs, nr))
		return 1;
	if (HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bind)) {
		x2mh_note(dev, "binding the good guest's event channel failed; ");
		return 1;
	}
	m->port = bind.local_port;
	m->bound = true;
	return 0;
}

/* Writes a slot: `length` claimed, `frame` (`len` bytes) in it; the producer moves on. */
static void x2mh_lane_put(struct x2mh_mapped *m, u32 *prod, u32 length, const u8 *frame, size_t len)
{
	struct xen2mx_lane_head *head = page_address(m->pages[0]);
	size_t at = (size_t)(*prod & (m->slots - 1)) * m->slot_bytes;
	struct xen2mx_rx_slot slot = { .length = length };
	u8 *p = page_address(m->pages[1 + at / PAGE_SIZE]) + at % PAGE_SIZE;

	/* A slot of at most a page lies within its page; larger ones start a page. */
	len = min_t(size_t, len, min_t(size_t, m->slot_bytes, PAGE_SIZE) - sizeof(slot));
	memcpy(p + sizeof(slot), frame, len);
	memcpy(p, &slot, sizeof(slot));
	smp_wmb();
	WRITE_ONCE(head->prod, ++*prod);
}

/* Until the good guest's reader took everything up to `prod` (30 s at most). */
static bool x2mh_lane_drained(struct x2mh_mapped *m, u32 prod)
{
	struct xen2mx_lane_head *head = page_address(m->pages[0]);
	unsigned int i;

	for (i = 0; i < 300 && READ_ONCE(head->cons) != prod; i++)
		msleep(100);
	return READ_ONCE(head->cons) == prod;
}

#define X2MH_LANE_GOOD_FRAMES 5 /* tests/vm/xen's reader counts exactly these */

/*
 * What this guest writes into the good guest's lane: a producer far
 * ahead, lengths past the slot, frames of another MAC or endpoint than the
 * lane's, then X2MH_LANE_GOOD_FRAMES right ones; and its event channel
 * stormed. The good guest's reader says what it delivered.
 */
static int x2mh_lane_garbage(struct x2mh_dev *dev, struct x2mh_mapped *m, s32 ep, u8 peer_ep)
{
	struct xen2mx_lane_head *head = page_address(m->pages[0]);
	u8 frame[64];
	u32 prod = READ_ONCE(head->prod);
	unsigned int i;
	int fails = 0;

	x2mh_tiny(frame, sizeof(frame), dev->mac, peer_ep, X2M_PKT_TINY);
	memcpy(frame + ETH_ALEN, dev->mac, ETH_ALEN);
	frame[18] = ep;
	frame[21] = 8;

	prod += 1000;
	WRITE_ONCE(head->prod, prod);
	if (!x2mh_lane_drained(m, prod)) {
		x2mh_note(dev, "producer 1000 ahead: the reader did not take up from it; ");
		fails++;
		prod = READ_ONCE(head->cons);
	}
	x2mh_lane_put(m, &prod, m->slot_bytes, frame, sizeof(frame));
	x2mh_lane_put(m, &prod, U32_MAX, frame, sizeof(frame));
	x2mh_lane_put(m, &prod, 3, frame, sizeof(frame));
	frame[ETH_ALEN] ^= 0x02; /* another board */
	x2mh_lane_put(m, &prod, sizeof(frame), frame, sizeof(frame));
	frame[ETH_ALEN] ^= 0x02;
	frame[18] = ep + 1; /* another endpoint of the lane's board */
	x2mh_lane_put(m, &prod, sizeof(frame), frame, sizeof(frame));
	frame[18] = ep;
	for (i = 0; i < X2MH_LANE_GOOD_FRAMES; i++)
		x2mh_lane_put(m, &prod, sizeof(frame), frame, sizeof(frame));
	for (i = 0; i < 20000; i++)
		notify_remote_via_evtchn(m->port);
	if (!x2mh_lane_drained(m, prod)) {
		x2mh_note(dev, "the reader stopped at %u of %u; ", READ_ONCE(head->cons), prod);
		fails++;
	}
	x2mh_note(dev, "wrote 1000 missing, 5 bad and %u right frames, 20000 events; ", X2MH_LANE_GOOD_FRAMES);
	return fails;
}

/*
 * lane-sender: this guest asks a lane of the good guest's endpoint
 * X2MH_LANE_GOOD_EP, maps what its real frontend offers and writes garbage
 * into it, then goes (its connection ends: the good guest closes the lane).
 */
int x2mh_lane_sender(struct x2mh_dev *dev)
{
	struct x2mh_mapped *m;
	struct x2mx_request req;
	struct x2mx_response rsp;
	struct x2mh_pages p;
	unsigned int i;
	int ep, fails = 0, status = -ENOENT;

	if (!x2mh_lanes_go(dev, "sender") || x2mh_lanes_reconnect(dev, true))
		return 1;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	ep = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (!m || ep < 0) {
		x2mh_note(dev, "open: %d; ", ep);
		kfree(m);
		return 1;
	}
	/* The good guest's reader may not be there yet: asked again for a minute. */
	for (i = 0; i < 60 && status; i++) {
		memset(&req, 0, sizeof(req));
		req.op = X2MX_OP_LANE_ASK;
		req.endpoint = ep;
		req.u.lane.peer_endpoint = X2MH_LANE_GOOD_EP;
		status = x2mh_call(dev, &req, &rsp) ?: rsp.status;
		if (status)
			msleep(1000);
	}
	if (status) {
		x2mh_note(dev, "ASK for the good guest's endpoint %d: %d; ", X2MH_LANE_GOOD_EP, status);
		fails++;
	} else if (x2mh_lane_listen(dev, "LANE_READY", &rsp, X2MH_WANTED_WAIT) ||
		   rsp.notice.kind != X2MX_NOTICE_LANE_READY || rsp.endpoint != ep) {
		x2mh_note(dev, "no LANE_READY (kind %u); ", rsp.notice.kind);
		fails++;
	} else if (x2mh_lane_map(dev, m, &rsp.notice)) {
		fails++;
	} else {
		x2mh_note(dev, "mapped dom%u's lane (%u slots of %u bytes); ", rsp.notice.peer_domid, m->slots,
			  m->slot_bytes);
		fails += x2mh_lane_garbage(dev, m, ep, X2MH_LANE_GOOD_EP);
	}
	x2mh_unmap(m);
	kfree(m);
	fails += x2mh_close_ep(dev, ep, &p);
	fails += x2mh_lanes_reconnect(dev, false);
	return fails;
}
