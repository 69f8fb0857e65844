// SPDX-License-Identifier: GPL-2.0
/*
 * Endpoints: an id on a board, a random session, and the memory shared with
 * the process (ctl page, receive slots, events). The receive path finds an
 * endpoint through the board's table under RCU and fills its ring under the
 * endpoint's spinlock; closing takes it out of the table and waits for a
 * grace period before the memory goes.
 */
#include <linux/cred.h>
#include <linux/log2.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "common/abi_args.h"
#include "common/event_queue.h"
#include "xen2mx_kernel.h"

extern unsigned int x2m_rx_ring_kb;
extern unsigned int x2m_events;

#define X2M_SLOT_HEAD sizeof(struct xen2mx_rx_slot)

static int x2m_endpoint_alloc_map(struct x2m_endpoint *ep, unsigned int max_frame)
{
	size_t ring_bytes = (size_t)clamp(x2m_rx_ring_kb, 64u, 65536u) << 10;
	size_t rx_bytes, ev_bytes;

	ep->rx_slot_bytes = roundup_pow_of_two(X2M_SLOT_HEAD + max_frame);
	ep->rx_slots = rounddown_pow_of_two(max_t(size_t, ring_bytes / ep->rx_slot_bytes, 16));
	ep->ev_entries = roundup_pow_of_two(clamp(x2m_events, 16u, 65536u));
	rx_bytes = (size_t)ep->rx_slots * ep->rx_slot_bytes;
	ev_bytes = PAGE_ALIGN((size_t)ep->ev_entries * sizeof(struct xen2mx_event));
	ep->map_bytes = PAGE_SIZE + rx_bytes + ev_bytes;
	if (ep->map_bytes > U32_MAX)
		return -EINVAL;
	ep->map = vmalloc_user(ep->map_bytes); /* zeroed */
	if (!ep->map)
		return -ENOMEM;
	ep->ctl = ep->map;
	ep->rx_base = (u8 *)ep->map + PAGE_SIZE;
	ep->ev_base = (struct xen2mx_event *)(ep->rx_base + rx_bytes);
	return 0;
}

/* What every endpoint starts with, process or kernel owned. */
static struct x2m_endpoint *x2m_endpoint_alloc(u32 flags)
{
	struct x2m_endpoint *ep = kzalloc(sizeof(*ep), GFP_KERNEL);

	if (!ep)
		return NULL;
	ep->flags = flags;
	spin_lock_init(&ep->lock);
	mutex_init(&ep->region_mutex);
	init_waitqueue_head(&ep->wait);
	kref_init(&ep->ref);
	atomic_set(&ep->pinned, 0);
	atomic_set(&ep->zc_pending, 0);
	do {
		ep->session = get_random_u32();
	} while (!ep->session);
	return ep;
}

/*
 * Gives the endpoint an id on the board (the wanted one, or the first free
 * one) and makes it reachable by the receive path. Takes a board reference
 * for the endpoint when it succeeds.
 */
static int x2m_endpoint_publish(struct x2m_board *board, struct x2m_endpoint *ep, int wanted)
{
	int id, first, last, ret;

	first = wanted == XEN2MX_ANY_ENDPOINT ? 0 : wanted;
	last = wanted == XEN2MX_ANY_ENDPOINT ? XEN2MX_MAX_ENDPOINTS - 1 : wanted;
	mutex_lock(&board->ep_mutex);
	ret = -ENODEV;
	if (!rcu_access_pointer(board->dev))
		goto out_unlock;
	ret = -EADDRINUSE;
	for (id = first; id <= last; id++) {
		if (!rcu_access_pointer(board->endpoints[id])) {
			ep->id = id;
			kref_get(&board->ref);
			ep->board = board;
			rcu_assign_pointer(board->endpoints[id], ep);
			board->nr_endpoints++;
			ret = 0;
			break;
		}
	}
out_unlock:
	mutex_unlock(&board->ep_mutex);
	if (!ret) {
		x2m_global_add(XEN2MX_CTR_ENDPOINTS_OPEN, 1);
		x2m_global_add(XEN2MX_CTR_ENDPOINTS_OPENED, 1);
	}
	return ret;
}

int x2m_endpoint_open(struct x2m_endpoint **out, struct xen2mx_endpoint_open *req)
{
	struct x2m_board *board;
	struct x2m_endpoint *ep;
	unsigned int max_frame;
	int ret;

	ret = x2m_abi_check_open(req->endpoint, req->flags);
	if (ret)
		return ret;
	board = x2m_board_get(req->board);
	if (!board)
		return -ENODEV;
	ep = x2m_endpoint_alloc(req->flags);
	ret = -ENOMEM;
	if (!ep)
		goto out_board;
	max_frame = READ_ONCE(board->mtu) + ETH_HLEN;
	ret = x2m_endpoint_alloc_map(ep, max_frame);
	if (ret)
		goto out_ep;
	ep->tgid = get_task_pid(current, PIDTYPE_TGID);
	get_task_comm(ep->comm, current);
	ep->uid = current_uid();
	snprintf(ep->owner, sizeof(ep->owner), "%d/%s", task_tgid_nr(current), ep->comm);
	ret = x2m_endpoint_publish(board, ep, req->endpoint);
	if (ret)
		goto out_map;

	req->session = ep->session;
	req->endpoint_id = ep->id;
	req->mtu = max_frame - ETH_HLEN;
	req->max_frame = max_frame;
	req->map_bytes = ep->map_bytes;
	req->rx_offset = PAGE_SIZE;
	req->rx_slots = ep->rx_slots;
	req->rx_slot_bytes = ep->rx_slot_bytes;
	req->ev_offset = (u8 *)ep->ev_base - (u8 *)ep->map;
	req->ev_entries = ep->ev_entries;
	memcpy(req->mac, board->mac, ETH_ALEN);
	req->pad = 0;
	x2m_board_put(board); /* the endpoint holds its own */
	*out = ep;
	return 0;

out_map:
	put_pid(ep->tgid);
	vfree(ep->map);
out_ep:
	kfree(ep);
out_board:
	x2m_board_put(board);
	return ret;
}

int x2m_endpoint_open_sink(struct x2m_board *board, int wanted, u32 flags,
			   const struct x2m_sink_ops *ops, void *priv, const char *owner,
			   struct x2m_endpoint **out)
{
	struct x2m_endpoint *ep;
	int ret;

	ret = x2m_abi_check_open(wanted, flags);
	if (ret)
		return ret;
	if (!ops || !ops->deliver)
		return -EINVAL;
	ep = x2m_endpoint_alloc(flags);
	if (!ep)
		return -ENOMEM;
	ep->sink = ops;
	ep->sink_priv = priv;
	strscpy(ep->owner, owner, sizeof(ep->owner));
	strscpy(ep->comm, owner, sizeof(ep->comm));
	ret = x2m_endpoint_publish(board, ep, wanted);
	if (ret) {
		kfree(ep);
		return ret;
	}
	*out = ep;
	return 0;
}
EXPORT_SYMBOL_GPL(x2m_endpoint_open_sink);

u8 x2m_endpoint_id(const struct x2m_endpoint *ep)
{
	return ep->id;
}
EXPORT_SYMBOL_GPL(x2m_endpoint_id);

u32 x2m_endpoint_session(const struct x2m_endpoint *ep)
{
	return ep->session;
}
EXPORT_SYMBOL_GPL(x2m_endpoint_session);

static void x2m_endpoint_free(struct work_struct *work)
{
	struct x2m_endpoint *ep = container_of(work, struct x2m_endpoint, free_work);
	struct x2m_board *board = ep->board;

	put_pid(ep->tgid);
	vfree(ep->map);
	kfree(ep);
	x2m_board_put(board);
	x2m_global_add(XEN2MX_CTR_ENDPOINTS_OPEN, -1);
}

/*
 * The last reference: the file is gone and no zero-copy send is in flight.
 * It may go in softirq context (the completion of a send) or under a lock
 * of the network stack, so the memory goes from a work item (the module's
 * workqueue, drained before the module goes).
 */
static void x2m_endpoint_release(struct kref *ref)
{
	struct x2m_endpoint *ep = container_of(ref, struct x2m_endpoint, ref);

	INIT_WORK(&ep->free_work, x2m_endpoint_free);
	queue_work(x2m_wq, &ep->free_work);
}

/* The same from the file's release, which may sleep: at once. */
static void x2m_endpoint_release_now(struct kref *ref)
{
	struct x2m_endpoint *ep = container_of(ref, struct x2m_endpoint, ref);

	x2m_endpoint_free(&ep->free_work);
}

void x2m_endpoint_put(struct x2m_endpoint *ep)
{
	kref_put(&ep->ref, x2m_endpoint_release);
}

/*
 * Called when the file is released (no mapping of the memory is left) or
 * by the kernel owner of the endpoint. The endpoint leaves the board's table at once (its id is free again); its
 * memory goes with the last zero-copy send still in flight.
 */
void x2m_endpoint_close(struct x2m_endpoint *ep)
{
	struct x2m_board *board = ep->board;

	mutex_lock(&board->ep_mutex);
	RCU_INIT_POINTER(board->endpoints[ep->id], NULL);
	board->nr_endpoints--;
	mutex_unlock(&board->ep_mutex);
	synchronize_net(); /* no receive handler still writes into the ring */
	x2m_regions_release(ep);
	kref_put(&ep->ref, x2m_endpoint_release_now);
}
EXPORT_SYMBOL_GPL(x2m_endpoint_close);

/*
 * Appends one event. Any context but hard interrupts. When the process
 * lied about its consumer counter the event is lost, never written
 * outside the queue.
 */
void x2m_endpoint_event(struct x2m_endpoint *ep, u32 type, s32 status, u64 cookie)
{
	unsigned long flags;
	bool written;

	spin_lock_irqsave(&ep->lock, flags);
	written = x2m_evq_put(ep->ctl, ep->ev_base, ep->ev_entries, &ep->ev_prod, type, status, cookie);
	spin_unlock_irqrestore(&ep->lock, flags);
	if (written && wq_has_sleeper(&ep->wait))
		wake_up_interruptible(&ep->wait);
}

bool x2m_endpoint_pending(struct x2m_endpoint *ep)
{
	return x2m_ring_ctl_pending(ep->ctl);
}

/*
 * Copies one received frame into the next receive slot, or hands it to the
 * endpoint's sink. `eth` is its Ethernet header, skb->data what follows it.
 * Runs with bottom halves off, under RCU. Counts the outcome and returns 0
 * (delivered) or the drop counter.
 */
static int x2m_endpoint_fill(struct x2m_endpoint *ep, const u8 *eth, const struct sk_buff *skb)
{
	struct xen2mx_rx_slot *slot;
	unsigned int length = ETH_HLEN + skb->len;
	u32 used;

	if (X2M_SLOT_HEAD + length > ep->rx_slot_bytes)
		return XEN2MX_CTR_DROP_TOO_LONG;
	spin_lock(&ep->lock);
	/* Whatever the process wrote, this only decides whether there is room. */
	used = ep->rx_prod - READ_ONCE(ep->ctl->rx_cons);
	if (used >= ep->rx_slots) {
		spin_unlock(&ep->lock);
		return XEN2MX_CTR_DROP_RING_FULL;
	}
	slot = (struct xen2mx_rx_slot *)(ep->rx_base +
		(size_t)(ep->rx_prod & (ep->rx_slots - 1)) * ep->rx_slot_bytes);
	memcpy(slot + 1, eth, ETH_HLEN);
	if (skb_copy_bits(skb, 0, (u8 *)(slot + 1) + ETH_HLEN, skb->len)) {
		spin_unlock(&ep->lock);
		return XEN2MX_CTR_DROP_SHORT;
	}
	slot->length = length;
	slot->flags = 0;
	ep->rx_prod++;
	smp_store_release(&ep->ctl->rx_prod, ep->rx_prod);
	spin_unlock(&ep->lock);
	if (wq_has_sleeper(&ep->wait))
		wake_up_interruptible(&ep->wait);
	return 0;
}

int x2m_endpoint_deliver(struct x2m_endpoint *ep, const u8 *eth, const struct sk_buff *skb)
{
	struct x2m_board *board = ep->board;
	int why;

	if (ep->sink)
		why = ep->sink->deliver(ep, ep->sink_priv, eth, skb);
	else
		why = x2m_endpoint_fill(ep, eth, skb);
	if (why) {
		x2m_count(board, why);
		atomic64_inc(&ep->stats.drops);
		return why;
	}
	x2m_count(board, XEN2MX_CTR_RECEIVED);
	atomic64_add(ETH_HLEN + skb->len, &board->ctr[XEN2MX_CTR_RECEIVED_BYTES]);
	atomic64_inc(&ep->stats.rx_frames);
	atomic64_add(ETH_HLEN + skb->len, &ep->stats.rx_bytes);
	return 0;
}
