// SPDX-License-Identifier: GPL-2.0
/*
 * The sending end of lanes. A copied frame for an endpoint of this guest's
 * own board (its destination MAC is the board's), of a packet type whose
 * sender and destination endpoint sit at fixed offsets and that Dom0 does
 * not answer itself, goes straight into the next slot of a lane the
 * destination's guest granted this endpoint, stamped as Dom0 would stamp
 * it. Without a lane it goes through Dom0 as before, and the lane work asks
 * Dom0 for one (at most once a second per destination). The lane is mapped
 * when Dom0 says it is ready: everything in its head page is checked
 * first, and a lane whose receiver says it is gone, or lies about its
 * consumer, is unmapped and not asked for again for a second.
 *
 * Each page of the lane is mapped at its own kernel address (a PV guest
 * cannot map another guest's frames through ordinary page tables, so no
 * vmap()): a frame is written page by page.
 */
#include <linux/etherdevice.h>
#include <linux/log2.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <asm/unaligned.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/interface/event_channel.h>
#include <xen/page.h>
#include <asm/xen/hypercall.h>

#include "../common/iovec.h"
#include "front.h"

enum { X2MF_OUT_NONE, X2MF_OUT_ASKED, X2MF_OUT_READY, X2MF_OUT_DEAD };
#define X2MF_OUT_RETRY HZ /* asked, or given up: asked (again) after this */

/* The lane from an endpoint to one destination endpoint. Under lanes_out_mutex. */
struct x2mf_lane_out {
	u8 state;                   /* X2MF_OUT_* */
	bool bound;                 /* port is ours */
	unsigned long since;        /* ASKED, DEAD: when */
	domid_t peer_domid;
	evtchn_port_t port;         /* bound to the receiver's */
	u32 slots, slot_bytes, prod;
	struct xen2mx_lane_head *head;
	unsigned int nr_pages;      /* allocated: the head page, then the slot pages */
	struct page *pages[1 + X2MF_LANE_PAGES_MAX];
	grant_handle_t handles[1 + X2MF_LANE_PAGES_MAX];
};

static unsigned long x2mf_kaddr(struct page *page)
{
	return (unsigned long)pfn_to_kaddr(page_to_pfn(page));
}

/* Maps `count` references of domain `peer` after the lane's pages so far. */
static int x2mf_lane_out_map_refs(struct x2mf_lane_out *lane, domid_t peer, const grant_ref_t *refs,
				  unsigned int count)
{
	struct gnttab_map_grant_ref *ops;
	struct page **pages = lane->pages + lane->nr_pages;
	grant_handle_t *handles = lane->handles + lane->nr_pages;
	unsigned int i;
	int ret;

	ops = kcalloc(count, sizeof(*ops), GFP_KERNEL);
	if (!ops)
		return -ENOMEM;
	if (gnttab_alloc_pages(count, pages)) {
		kfree(ops);
		return -ENOMEM;
	}
	lane->nr_pages += count;
	for (i = 0; i < count; i++) {
		gnttab_set_map_op(&ops[i], x2mf_kaddr(pages[i]), GNTMAP_host_map, refs[i], peer);
		ops[i].status = GNTST_general_error; /* unless Xen says otherwise */
		handles[i] = INVALID_GRANT_HANDLE;
	}
	ret = gnttab_map_refs(ops, NULL, pages, count);
	for (i = 0; i < count; i++) {
		if (ops[i].status == GNTST_okay)
			handles[i] = ops[i].handle;
		else if (!ret)
			ret = -EACCES;
	}
	kfree(ops);
	return ret;
}

/* Unmaps and frees whatever pages the lane has (a page that cannot be unmapped is never freed). */
static void x2mf_lane_out_unmap(struct x2mf_lane_out *lane)
{
	struct gnttab_unmap_grant_ref *ops;
	struct page **mapped;
	unsigned int i, n = 0;
	int ret = 0;

	lane->head = NULL;
	if (!lane->nr_pages)
		return;
	ops = kcalloc(lane->nr_pages, sizeof(*ops), GFP_KERNEL | __GFP_NOFAIL);
	mapped = kcalloc(lane->nr_pages, sizeof(*mapped), GFP_KERNEL | __GFP_NOFAIL);
	for (i = 0; i < lane->nr_pages; i++) {
		if (lane->handles[i] == INVALID_GRANT_HANDLE)
			continue;
		gnttab_set_unmap_op(&ops[n], x2mf_kaddr(lane->pages[i]), GNTMAP_host_map, lane->handles[i]);
		mapped[n++] = lane->pages[i];
		lane->handles[i] = INVALID_GRANT_HANDLE;
	}
	if (n)
		ret = gnttab_unmap_refs(ops, NULL, mapped, n);
	for (i = 0; i < n && !ret; i++)
		if (ops[i].status != GNTST_okay)
			ret = -EIO;
	if (ret)
		pr_err_ratelimited("xen2mx-front: unmapping a lane failed (%d): its %u pages are lost\n", ret,
				   lane->nr_pages);
	else
		gnttab_free_pages(lane->nr_pages, lane->pages);
	lane->nr_pages = 0;
	kfree(mapped);
	kfree(ops);
}

/* Gives the lane up: closed, unmapped, in `state` from now. */
static void x2mf_lane_out_drop(struct x2mf_lane_out *lane, u8 state)
{
	if (lane->bound) {
		x2mf_evtchn_close(lane->port);
		lane->bound = false;
	}
	x2mf_lane_out_unmap(lane);
	if (lane->state == X2MF_OUT_READY)
		x2mf_global_add(XEN2MX_CTR_LANES_OUT, -1);
	lane->state = state;
	lane->since = jiffies;
}

/*
 * Maps the lane notice n names, checking its head page first: the
 * geometry bounds every address derived from it, and the slot pages'
 * references are read once. On error the caller drops what was mapped.
 */
static int x2mf_lane_out_map(struct x2mf_ep *ep, struct x2mf_lane_out *lane, const struct x2mx_notice *n)
{
	struct evtchn_bind_interdomain bind = { .remote_dom = n->peer_domid, .remote_port = n->port };
	grant_ref_t head_ref = n->ref, refs[X2MF_LANE_PAGES_MAX];
	struct xen2mx_lane_head *head;
	u32 magic, slots, slot_bytes, nr;
	int ret;

	ret = x2mf_lane_out_map_refs(lane, n->peer_domid, &head_ref, 1);
	if (ret)
		return ret;
	head = page_address(lane->pages[0]);
	magic = READ_ONCE(head->magic);
	slots = READ_ONCE(head->slots);
	slot_bytes = READ_ONCE(head->slot_bytes);
	nr = READ_ONCE(head->nr_pages);
	if (magic != XEN2MX_LANES_MAGIC || slots < 2 || !is_power_of_2(slots) || !is_power_of_2(slot_bytes) ||
	    slot_bytes < sizeof(struct xen2mx_rx_slot) + ep->max_frame || slot_bytes > SZ_64K ||
	    nr < 1 || nr > X2MF_LANE_PAGES_MAX || (u64)nr * PAGE_SIZE != (u64)slots * slot_bytes)
		return -EPROTO;
	memcpy(refs, (u8 *)head + XEN2MX_LANE_REFS_OFFSET, nr * sizeof(refs[0]));
	ret = x2mf_lane_out_map_refs(lane, n->peer_domid, refs, nr);
	if (ret)
		return ret;
	ret = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bind);
	if (ret)
		return ret;
	lane->port = bind.local_port;
	lane->bound = true;
	lane->head = head;
	lane->slots = slots;
	lane->slot_bytes = slot_bytes;
	lane->prod = 0; /* the receiver's process starts at 0 too, whatever the head says */
	lane->peer_domid = n->peer_domid;
	return 0;
}

/* The lane to `dst`, allocated at first use; NULL when it cannot be or the endpoint is closing. */
static struct x2mf_lane_out *x2mf_lane_out_get(struct x2mf_ep *ep, unsigned int dst)
{
	if (ep->lanes_out_off)
		return NULL;
	if (!ep->lanes_out) {
		ep->lanes_out = kcalloc(XEN2MX_MAX_ENDPOINTS, sizeof(*ep->lanes_out), GFP_KERNEL);
		if (!ep->lanes_out)
			return NULL;
	}
	if (!ep->lanes_out[dst])
		ep->lanes_out[dst] = kzalloc(sizeof(*ep->lanes_out[dst]), GFP_KERNEL);
	return ep->lanes_out[dst];
}

/*
 * The destination endpoint of a frame a lane may carry: a packet type that
 * names it at a fixed offset, no shorter than the receiver accepts through
 * Dom0 (recv.c's rules); -1 for any other frame.
 */
static int x2mf_lane_dest(const u8 *h, unsigned int length)
{
	unsigned int min, offset = 17;

	switch (h[X2M_PTYPE_OFFSET]) {
	case X2M_PKT_TINY:
	case X2M_PKT_SMALL:
	case X2M_PKT_MEDIUM:
	case X2M_PKT_RNDV:
		min = 40;
		break;
	case X2M_PKT_NOTIFY:
		min = 24;
		break;
	case X2M_PKT_TRUC:
		min = 28;
		break;
	case X2M_PKT_CONNECT:
	case X2M_PKT_RMA_REQUEST:
	case X2M_PKT_RMA_REPLY:
		min = 48;
		break;
	case X2M_PKT_NACK_LIB:
		min = 32;
		offset = 25;
		break;
	default:
		return -1;
	}
	return length < min ? -1 : h[offset];
}

/* Where byte `offset` of the slots is (offset < slots * slot_bytes, the slot pages' bytes). */
static u8 *x2mf_lane_out_at(struct x2mf_lane_out *lane, size_t offset)
{
	return (u8 *)page_address(lane->pages[1 + (offset >> PAGE_SHIFT)]) + offset_in_page(offset);
}

/* Writes `len` bytes of `from` (zeros when NULL) at `offset` of the slots. */
static void x2mf_lane_out_write(struct x2mf_lane_out *lane, size_t offset, const u8 *from, size_t len)
{
	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset_in_page(offset));

		if (from) {
			memcpy(x2mf_lane_out_at(lane, offset), from, n);
			from += n;
		} else {
			memset(x2mf_lane_out_at(lane, offset), 0, n);
		}
		offset += n;
		len -= n;
	}
}

/* Copies the first `bytes` of the gather list to `offset` of the slots. */
static int x2mf_lane_out_copy(struct x2mf_lane_out *lane, size_t offset, const struct xen2mx_iovec *iov, u32 count,
			      u64 bytes)
{
	u32 i;

	for (i = 0; i < count && bytes; i++) {
		u64 base = iov[i].base, len = min(iov[i].len, bytes);

		bytes -= len;
		while (len) {
			size_t n = min_t(u64, len, PAGE_SIZE - offset_in_page(offset));

			if (copy_from_user(x2mf_lane_out_at(lane, offset), u64_to_user_ptr(base), n))
				return -EFAULT;
			base += n;
			offset += n;
			len -= n;
		}
	}
	return 0;
}

/* Copies the frame into the lane's next slot: 1, or 0 when it must go through Dom0. */
static int x2mf_lane_out_put(struct x2mf_ep *ep, struct x2mf_lane_out *lane, const u8 *h,
			     const struct xen2mx_iovec *iov, u32 count, u64 total, unsigned int length)
{
	struct xen2mx_lane_head *head = lane->head;
	struct xen2mx_rx_slot slot = { .length = length };
	size_t at;
	u32 used;

	if (READ_ONCE(head->gone)) {
		x2mf_lane_out_drop(lane, X2MF_OUT_DEAD);
		return 0;
	}
	used = lane->prod - READ_ONCE(head->cons);
	if (used > lane->slots) {
		pr_warn_ratelimited("xen2mx-front: endpoint %u: the lane of dom%u claims a consumer past its producer: given up\n",
				    ep->id, lane->peer_domid);
		x2mf_lane_out_drop(lane, X2MF_OUT_DEAD);
		return 0;
	}
	if (used == lane->slots)
		return 0; /* full: Dom0 takes it */
	/* Within the slots: a slot holds its header and the longest frame (checked when mapped). */
	at = (size_t)(lane->prod & (lane->slots - 1)) * lane->slot_bytes;
	if (x2mf_lane_out_copy(lane, at + sizeof(slot), iov, count, total))
		return -EFAULT;
	/* The header as checked and stamped, whatever the process changed since. */
	x2mf_lane_out_write(lane, at + sizeof(slot), h, min_t(u64, total, X2M_SENDER_BYTES));
	if (total < length)
		x2mf_lane_out_write(lane, at + sizeof(slot) + total, NULL, length - total);
	x2mf_lane_out_write(lane, at, (const u8 *)&slot, sizeof(slot));
	smp_wmb(); /* the slot, then the producer */
	WRITE_ONCE(head->prod, ++lane->prod);
	smp_mb(); /* the producer, then `wake`: see x2mf_lanes_in_pending() */
	if (READ_ONCE(head->wake))
		notify_remote_via_evtchn(lane->port);
	x2mf_global_add(XEN2MX_CTR_LANE_FRAMES, 1);
	return 1;
}

/*
 * A copied send: 1 when the frame went through a lane, 0 when it goes
 * through Dom0 (asking for a lane when there is none), or an error.
 */
int x2mf_lane_send(struct x2mf_ep *ep, const struct xen2mx_iovec *iov, u32 count, u64 total)
{
	u8 h[X2M_SENDER_BYTES] = {};
	unsigned int length = max_t(u64, total, ETH_ZLEN);
	struct x2m_sender_fields f;
	struct x2mf_lane_out *lane;
	int dst, ret = 0;

	if (!ep->lanes || READ_ONCE(ep->dead))
		return 0;
	if (x2m_iov_copy(h, iov, count, min_t(u64, total, sizeof(h))))
		return 0; /* Dom0's path says why */
	if (!ether_addr_equal(h, ep->mac))
		return 0;
	dst = x2mf_lane_dest(h, length);
	if (dst < 0 || dst >= XEN2MX_MAX_ENDPOINTS)
		return 0;
	if (x2m_sender_fields(h[X2M_PTYPE_OFFSET], length, ep->flags & XEN2MX_OPEN_MX_COMPAT, &f) ||
	    f.endpoint < 0 || f.magic >= 0)
		return 0;
	/* As Dom0 stamps a frame: the board's MAC, the MXoE ethertype, the endpoint's id. */
	memcpy(h + ETH_ALEN, ep->mac, ETH_ALEN);
	put_unaligned_be16(XEN2MX_ETHERTYPE, h + 2 * ETH_ALEN);
	h[f.endpoint] = ep->id;

	mutex_lock(&ep->lanes_out_mutex);
	lane = x2mf_lane_out_get(ep, dst);
	if (!lane)
		goto unlock;
	switch (lane->state) {
	case X2MF_OUT_READY:
		ret = x2mf_lane_out_put(ep, lane, h, iov, count, total, length);
		break;
	case X2MF_OUT_ASKED:
	case X2MF_OUT_DEAD:
		if (time_before(jiffies, lane->since + X2MF_OUT_RETRY))
			break;
		fallthrough;
	default:
		lane->state = X2MF_OUT_ASKED;
		lane->since = jiffies;
		x2mf_lanes_ask(ep->dev, ep->id, dst);
		break;
	}
unlock:
	mutex_unlock(&ep->lanes_out_mutex);
	return ret;
}

/*
 * Dom0 says the receiver granted ep a lane (LANE_READY). It replaces one
 * the endpoint had to that destination: the receiver closed that one when
 * it was asked again. The lane work's.
 */
void x2mf_lane_ready(struct x2mf_ep *ep, const struct x2mx_notice *n)
{
	struct x2mf_lane_out *lane;
	int ret;

	if (n->peer_endpoint >= XEN2MX_MAX_ENDPOINTS || n->peer_domid >= DOMID_FIRST_RESERVED)
		return;
	mutex_lock(&ep->lanes_out_mutex);
	lane = x2mf_lane_out_get(ep, n->peer_endpoint);
	if (!lane)
		goto unlock;
	if (lane->state == X2MF_OUT_READY)
		x2mf_lane_out_drop(lane, X2MF_OUT_NONE);
	ret = x2mf_lane_out_map(ep, lane, n);
	if (ret) {
		pr_warn_ratelimited("xen2mx-front: %s: endpoint %u: the lane of dom%u endpoint %u is unusable (%d)\n",
				    ep->dev->name, ep->id, n->peer_domid, n->peer_endpoint, ret);
		x2mf_lane_out_drop(lane, X2MF_OUT_DEAD);
		goto unlock;
	}
	lane->state = X2MF_OUT_READY;
	x2mf_global_add(XEN2MX_CTR_LANES_OUT, 1);
unlock:
	mutex_unlock(&ep->lanes_out_mutex);
}

/*
 * Unmaps the endpoint's lanes: all, or those to domain `peer` (asked for
 * again a second later). `final`: the endpoint is closing or its
 * connection is gone; none is mapped for it any more.
 */
void x2mf_lanes_out_close(struct x2mf_ep *ep, bool all, domid_t peer, bool final)
{
	unsigned int dst;

	mutex_lock(&ep->lanes_out_mutex);
	if (final)
		ep->lanes_out_off = true;
	for (dst = 0; ep->lanes_out && dst < XEN2MX_MAX_ENDPOINTS; dst++) {
		struct x2mf_lane_out *lane = ep->lanes_out[dst];

		if (!lane)
			continue;
		if (lane->state == X2MF_OUT_READY && (all || final || lane->peer_domid == peer))
			x2mf_lane_out_drop(lane, X2MF_OUT_DEAD);
		if (final) {
			kfree(lane);
			ep->lanes_out[dst] = NULL;
		}
	}
	if (final) {
		kfree(ep->lanes_out);
		ep->lanes_out = NULL;
	}
	mutex_unlock(&ep->lanes_out_mutex);
}
