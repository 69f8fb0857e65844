// SPDX-License-Identifier: GPL-2.0
/*
 * The xenbus side of xen2mx-front.ko: one board per xen2mx device. When the
 * backend waits (InitWait) the frontend grants its ring page and tx pool,
 * allocates the event channel and says Initialised; requests may go once
 * the backend is Connected. When the backend closes, restarts or goes, the
 * connection is torn down: waiting requests fail, zero-copy sends complete
 * with ENOTCONN, endpoints die (ENOTCONN), and the next InitWait connects
 * afresh.
 *
 * Ring slots and tx chunks go together: slot i is chunk i, taken when a
 * request is built and given back when its response comes, so the ring can
 * never hold more requests than it has room for responses.
 */
#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <xen/events.h>
#include <xen/page.h>
#include <xen/xen.h>

#include "../common/xenbus_keys.h"
#include "front.h"

static DEFINE_MUTEX(boards_mutex);
static struct x2mf_dev *boards[XEN2MX_MAX_BOARDS];

static void x2mf_dev_release(struct kref *ref)
{
	kfree(container_of(ref, struct x2mf_dev, ref));
}

void x2mf_dev_put(struct x2mf_dev *dev)
{
	kref_put(&dev->ref, x2mf_dev_release);
}

struct x2mf_dev *x2mf_dev_get(unsigned int index)
{
	struct x2mf_dev *dev = NULL;

	if (index >= XEN2MX_MAX_BOARDS)
		return NULL;
	mutex_lock(&boards_mutex);
	dev = boards[index];
	if (dev)
		kref_get(&dev->ref);
	mutex_unlock(&boards_mutex);
	return dev;
}

unsigned int x2mf_dev_count(void)
{
	unsigned int i, n = 0;

	mutex_lock(&boards_mutex);
	for (i = 0; i < XEN2MX_MAX_BOARDS; i++)
		n += boards[i] != NULL;
	mutex_unlock(&boards_mutex);
	return n;
}

int x2mf_board_info(struct xen2mx_board_info *info)
{
	struct x2mf_dev *dev;

	if (info->index >= XEN2MX_MAX_BOARDS)
		return -EINVAL;
	dev = x2mf_dev_get(info->index);
	if (!dev)
		return -ENODEV;
	memset(info->ifname, 0, sizeof(info->ifname));
	strscpy(info->ifname, dev->name, sizeof(info->ifname));
	spin_lock_irq(&dev->ring_lock);
	memcpy(info->mac, dev->mac, ETH_ALEN);
	info->mtu = dev->mtu;
	info->flags = dev->connected ? XEN2MX_BOARD_UP : 0;
	spin_unlock_irq(&dev->ring_lock);
	spin_lock_irq(&dev->ep_lock);
	info->endpoints = dev->nr_endpoints;
	spin_unlock_irq(&dev->ep_lock);
	info->pad = 0;
	x2mf_dev_put(dev);
	return 0;
}

/*
 * Waits (at most a second) until every request posted so far was answered:
 * Dom0 counts a frame before it answers, so the counters then cover every
 * frame the caller sent.
 */
static void x2mf_wait_answered(struct x2mf_dev *dev)
{
	u32 last;

	spin_lock_irq(&dev->ring_lock);
	last = dev->next_id - 1;
	spin_unlock_irq(&dev->ring_lock);
	wait_event_timeout(dev->answered_wait,
			   (s32)(READ_ONCE(dev->answered_id) - last) >= 0 || !READ_ONCE(dev->connected), HZ);
}

static void x2mf_dev_counters(struct x2mf_dev *dev, u64 *values)
{
	int i;

	x2mf_wait_answered(dev);
	down_read(&dev->conn_sem); /* the ring page stays */
	for (i = 0; i < XEN2MX_CTR_BOARD_MAX; i++)
		values[i] += dev->retired[i] + (dev->stats ? READ_ONCE(dev->stats->ctr[i]) : 0);
	values[XEN2MX_CTR_SEND_REFUSED] += atomic64_read(&dev->refused);
	up_read(&dev->conn_sem);
}

void x2mf_counters(u32 board, u64 *values)
{
	struct x2mf_dev *dev;
	unsigned int b;

	for (b = 0; b < XEN2MX_MAX_BOARDS; b++) {
		if (board != XEN2MX_ALL_BOARDS && board != b)
			continue;
		dev = x2mf_dev_get(b);
		if (!dev)
			continue;
		x2mf_dev_counters(dev, values);
		x2mf_dev_put(dev);
	}
}

/* ------------------------------------------------------------ slots */

/*
 * Takes a free slot on the connection `generation` (sleeps until one is
 * free). On success the caller holds conn_sem for reading until it posts
 * the request or gives the slot back.
 */
int x2mf_slot_get(struct x2mf_dev *dev, u32 generation, u8 kind, bool interruptible, unsigned int *slot)
{
	int ret;

	for (;;) {
#define X2MF_SLOT_OR_GONE (READ_ONCE(dev->free_slots) || !READ_ONCE(dev->connected) || \
			   READ_ONCE(dev->generation) != generation)
		if (interruptible) {
			ret = wait_event_interruptible(dev->slot_wait, X2MF_SLOT_OR_GONE);
			if (ret)
				return ret;
		} else {
			wait_event(dev->slot_wait, X2MF_SLOT_OR_GONE);
		}
#undef X2MF_SLOT_OR_GONE
		down_read(&dev->conn_sem);
		spin_lock_irq(&dev->ring_lock);
		if (!dev->connected || dev->generation != generation) {
			spin_unlock_irq(&dev->ring_lock);
			up_read(&dev->conn_sem);
			return -ENOTCONN;
		}
		if (dev->free_slots) {
			*slot = __ffs64(dev->free_slots);
			dev->free_slots &= ~BIT_ULL(*slot);
			dev->slots[*slot].kind = kind;
			spin_unlock_irq(&dev->ring_lock);
			return 0;
		}
		spin_unlock_irq(&dev->ring_lock);
		up_read(&dev->conn_sem);
	}
}

static void x2mf_slot_free_locked(struct x2mf_dev *dev, unsigned int slot)
{
	dev->slots[slot].kind = X2MF_SLOT_FREE;
	dev->slots[slot].waiter = NULL;
	dev->slots[slot].zc = NULL;
	dev->slots[slot].cookie = 0;
	dev->free_slots |= BIT_ULL(slot);
}

/* Gives back a slot whose request was answered, or never posted (then with conn_sem held). */
void x2mf_slot_put(struct x2mf_dev *dev, u32 generation, unsigned int slot)
{
	unsigned long flags;

	spin_lock_irqsave(&dev->ring_lock, flags);
	if (dev->generation == generation)
		x2mf_slot_free_locked(dev, slot);
	spin_unlock_irqrestore(&dev->ring_lock, flags);
	wake_up(&dev->slot_wait);
}

void *x2mf_chunk(struct x2mf_dev *dev, unsigned int slot)
{
	return dev->chunks[slot];
}

/* Posts the request built in `slot` and drops conn_sem. */
void x2mf_post(struct x2mf_dev *dev, unsigned int slot, struct x2mx_request *req, struct x2mf_waiter *waiter,
	       struct x2mf_zc *zc)
{
	int notify;

	spin_lock_irq(&dev->ring_lock);
	req->chunk = slot;
	req->id = dev->next_id++;
	dev->slots[slot].id = req->id;
	dev->slots[slot].waiter = waiter;
	dev->slots[slot].zc = zc;
	*RING_GET_REQUEST(&dev->ring, dev->ring.req_prod_pvt) = *req;
	dev->ring.req_prod_pvt++;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&dev->ring, notify);
	spin_unlock_irq(&dev->ring_lock);
	if (notify)
		notify_remote_via_irq(dev->irq);
	up_read(&dev->conn_sem);
}

/* ------------------------------------------------------------ responses */

static void x2mf_handle(struct x2mf_dev *dev, const struct x2mx_response *rsp)
{
	struct x2mf_slot *slot;
	struct x2mf_waiter *waiter = NULL;
	struct x2mf_zc *zc = NULL;
	u32 cookie = 0;
	u8 kind;

	spin_lock_irq(&dev->ring_lock);
	if (rsp->chunk >= X2MX_TX_CHUNKS || dev->slots[rsp->chunk].kind == X2MF_SLOT_FREE ||
	    dev->slots[rsp->chunk].id != rsp->id) {
		spin_unlock_irq(&dev->ring_lock);
		pr_warn_ratelimited("xen2mx-front: %s: response for slot %u id %u matches no request\n",
				    dev->name, rsp->chunk, rsp->id);
		return;
	}
	slot = &dev->slots[rsp->chunk];
	kind = slot->kind;
	if ((s32)(rsp->id - dev->answered_id) > 0)
		WRITE_ONCE(dev->answered_id, rsp->id);
	if (kind == X2MF_SLOT_WAIT) {
		/* The waiter gives the slot back. */
		waiter = slot->waiter;
		slot->waiter = NULL;
	} else {
		zc = slot->zc;
		cookie = slot->cookie;
		x2mf_slot_free_locked(dev, rsp->chunk);
	}
	spin_unlock_irq(&dev->ring_lock);
	if (waiter) {
		waiter->rsp = *rsp;
		complete(&waiter->done);
	}
	if (zc)
		x2mf_zc_finish(zc, true, rsp->status);
	if (kind == X2MF_SLOT_LISTEN)
		x2mf_lanes_listened(dev, rsp);
	if (kind == X2MF_SLOT_LANE)
		x2mf_lanes_answered(dev, rsp, cookie);
	if (kind != X2MF_SLOT_WAIT)
		wake_up(&dev->slot_wait);
	wake_up(&dev->answered_wait);
}

static void x2mf_rsp_work(struct work_struct *work)
{
	struct x2mf_dev *dev = container_of(work, struct x2mf_dev, rsp_work);
	struct x2mx_response rsp;
	RING_IDX rc, rp;
	int more;

	do {
		rp = READ_ONCE(dev->ring.sring->rsp_prod);
		virt_rmb(); /* the responses up to rp are there */
		for (rc = dev->ring.rsp_cons; rc != rp; rc++) {
			rsp = *RING_GET_RESPONSE(&dev->ring, rc);
			atomic64_inc(&dev->responses);
			x2mf_handle(dev, &rsp);
		}
		dev->ring.rsp_cons = rc;
		RING_FINAL_CHECK_FOR_RESPONSES(&dev->ring, more);
	} while (more);
}

/* Responses, or frames Dom0 wrote into an endpoint's ring. */
static irqreturn_t x2mf_interrupt(int irq, void *data)
{
	struct x2mf_dev *dev = data;

	atomic64_inc(&dev->interrupts);
	x2mf_endpoints_wake(dev);
	if (RING_HAS_UNCONSUMED_RESPONSES(&dev->ring))
		queue_work(system_highpri_wq, &dev->rsp_work);
	return IRQ_HANDLED;
}

/* ------------------------------------------------------------ connection */

static void x2mf_free_pool(struct x2mf_dev *dev)
{
	unsigned int c, p;

	for (c = 0; c < X2MX_TX_CHUNKS; c++) {
		if (!dev->chunks[c])
			continue;
		for (p = 0; p < dev->chunk_pages; p++) {
			grant_ref_t *ref = &dev->pool_refs[c * dev->chunk_pages + p];
			struct page *page = virt_to_page(dev->chunks[c] + p * PAGE_SIZE);

			if (*ref != INVALID_GRANT_REF)
				x2mf_ungrant(*ref, page); /* frees the page, later if still mapped */
			else
				__free_page(page);
		}
		dev->chunks[c] = NULL;
	}
	kfree(dev->pool_refs);
	dev->pool_refs = NULL;
	if (dev->pool_list) {
		if (dev->pool_list_ref != INVALID_GRANT_REF)
			x2mf_ungrant(dev->pool_list_ref, virt_to_page(dev->pool_list));
		else
			free_page((unsigned long)dev->pool_list);
		dev->pool_list = NULL;
	}
}

static int x2mf_alloc_pool(struct x2mf_dev *dev)
{
	domid_t backend = dev->backend_id;
	unsigned int c, p, count = X2MX_TX_CHUNKS * dev->chunk_pages;
	grant_ref_t *list;
	int ref;

	dev->pool_refs = kmalloc_array(count, sizeof(*dev->pool_refs), GFP_KERNEL);
	dev->pool_list = (void *)get_zeroed_page(GFP_KERNEL);
	dev->pool_list_ref = INVALID_GRANT_REF;
	if (!dev->pool_refs || !dev->pool_list)
		return -ENOMEM;
	for (p = 0; p < count; p++)
		dev->pool_refs[p] = INVALID_GRANT_REF;
	list = dev->pool_list;
	for (c = 0; c < X2MX_TX_CHUNKS; c++) {
		/* Single pages, contiguous: each one can be given back alone. */
		dev->chunks[c] = alloc_pages_exact(dev->chunk_pages * PAGE_SIZE, GFP_KERNEL | __GFP_ZERO);
		if (!dev->chunks[c])
			return -ENOMEM;
		for (p = 0; p < dev->chunk_pages; p++) {
			ref = gnttab_grant_foreign_access(backend, virt_to_gfn(dev->chunks[c] + p * PAGE_SIZE), 1);
			if (ref < 0)
				return ref;
			dev->pool_refs[c * dev->chunk_pages + p] = ref;
			list[c * dev->chunk_pages + p] = ref;
			x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, 1);
		}
	}
	ref = gnttab_grant_foreign_access(backend, virt_to_gfn(dev->pool_list), 1);
	if (ref < 0)
		return ref;
	dev->pool_list_ref = ref;
	x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, 1);
	return 0;
}

/*
 * Ends the connection: nothing is posted or answered any more, every
 * request waiting fails, every endpoint dies. Called when Dom0 has already
 * unmapped what it mapped (it does before it says Closing or Closed, or
 * when it restarted); grants still in use are ended later by Xen's
 * deferred list, their pages kept until then.
 */
static void x2mf_teardown(struct x2mf_dev *dev)
{
	struct x2mf_zc *zcs[X2MX_TX_CHUNKS];
	unsigned int i, nr_zc = 0;

	/* The lane work posts requests (conn_sem for reading): it stops first. */
	x2mf_lanes_stop(dev);
	down_write(&dev->conn_sem);
	spin_lock_irq(&dev->ring_lock);
	if (!dev->stats) {
		spin_unlock_irq(&dev->ring_lock);
		up_write(&dev->conn_sem);
		return;
	}
	dev->connected = false;
	dev->generation++;
	spin_unlock_irq(&dev->ring_lock);

	if (dev->irq > 0) {
		unbind_from_irqhandler(dev->irq, dev); /* closes the event channel */
		dev->irq = 0;
	}
	cancel_work_sync(&dev->rsp_work);

	spin_lock_irq(&dev->ring_lock);
	for (i = 0; i < X2MX_TX_CHUNKS; i++) {
		struct x2mf_slot *slot = &dev->slots[i];

		if (slot->kind == X2MF_SLOT_WAIT && slot->waiter) {
			slot->waiter->rsp.status = -ENOTCONN;
			complete(&slot->waiter->done);
		}
		if (slot->kind == X2MF_SLOT_ZC && slot->zc)
			zcs[nr_zc++] = slot->zc;
		slot->kind = X2MF_SLOT_FREE;
		slot->waiter = NULL;
		slot->zc = NULL;
	}
	dev->free_slots = 0;
	WRITE_ONCE(dev->answered_id, dev->next_id - 1);
	spin_unlock_irq(&dev->ring_lock);
	for (i = 0; i < nr_zc; i++)
		x2mf_zc_finish(zcs[i], true, -ENOTCONN);

	for (i = 0; i < XEN2MX_CTR_BOARD_MAX; i++)
		dev->retired[i] += READ_ONCE(dev->stats->ctr[i]);
	dev->stats = NULL;
	x2mf_free_pool(dev);
	if (dev->ring.sring) {
		/* Not xenbus_teardown_ring(): the page must outlive a mapping Dom0 still has. */
		x2mf_ungrant(dev->ring_ref, virt_to_page(dev->ring.sring));
		dev->ring.sring = NULL;
	}
	up_write(&dev->conn_sem);
	x2mf_endpoints_fail(dev);
	x2mf_lanes_sweep(dev);
	wake_up_all(&dev->slot_wait);
	wake_up_all(&dev->answered_wait);
}

static int x2mf_read_backend(struct x2mf_dev *dev)
{
	struct xenbus_device *xb = dev->xb;
	unsigned int mtu, max_endpoints, max_ring_pages, version;
	u8 mac[ETH_ALEN];
	int ret;

	ret = xenbus_gather(XBT_NIL, xb->otherend, "board-mtu", "%u", &mtu, "max-endpoints", "%u", &max_endpoints,
			    "max-ring-pages", "%u", &max_ring_pages, "protocol-version", "%u", &version, NULL);
	if (ret)
		return ret;
	ret = x2mx_xenbus_read_mac(xb->otherend, mac);
	if (ret)
		return ret;
	if (version != X2MX_PROTOCOL_VERSION || mtu < 68 || mtu > 65280 || max_endpoints < 1 || max_ring_pages < 2)
		return -EPROTO;
	spin_lock_irq(&dev->ring_lock);
	memcpy(dev->mac, mac, ETH_ALEN);
	dev->mtu = mtu;
	dev->max_endpoints = max_endpoints;
	dev->max_ring_pages = max_ring_pages;
	spin_unlock_irq(&dev->ring_lock);
	return 0;
}

/* The keys that tell the backend where the ring, the pool and the event channel are. */
struct x2mf_keys {
	struct x2mf_dev *dev;
	evtchn_port_t port;
};

static int x2mf_write_keys(struct xenbus_transaction xbt, const char *node, void *data)
{
	const struct x2mf_keys *keys = data;
	struct x2mf_dev *dev = keys->dev;

	return xenbus_printf(xbt, node, "ring-ref", "%u", dev->ring_ref) ?:
	       xenbus_printf(xbt, node, "event-channel", "%u", keys->port) ?:
	       xenbus_printf(xbt, node, "tx-pool-ref", "%u", dev->pool_list_ref) ?:
	       xenbus_printf(xbt, node, "tx-chunk-pages", "%u", dev->chunk_pages) ?:
	       (x2mf_lanes ? xenbus_printf(xbt, node, "feature-lanes", "1") : 0) ?:
	       xenbus_printf(xbt, node, "protocol-version", "%d", X2MX_PROTOCOL_VERSION);
}

static int x2mf_connect(struct x2mf_dev *dev)
{
	struct xenbus_device *xb = dev->xb;
	struct x2mx_sring *sring;
	struct x2mf_keys keys = { .dev = dev };
	evtchn_port_t port;
	unsigned int linear;
	int ret;

	ret = x2mf_read_backend(dev);
	if (ret) {
		xenbus_dev_fatal(xb, ret, "reading the backend's board-mac, board-mtu, limits, protocol-version");
		return ret;
	}
	/* A whole frame, its segment list after it. */
	linear = X2MX_SEGS_OFFSET(dev->mtu + ETH_HLEN) + X2MX_MAX_SEGS * sizeof(struct x2mx_segment);
	dev->chunk_pages = clamp_t(unsigned int, DIV_ROUND_UP(linear, PAGE_SIZE), 1, X2MX_CHUNK_PAGES_MAX);

	down_write(&dev->conn_sem);
	ret = xenbus_setup_ring(xb, GFP_KERNEL, (void **)&sring, 1, &dev->ring_ref);
	if (ret)
		goto fail;
	SHARED_RING_INIT(sring);
	FRONT_RING_INIT(&dev->ring, sring, XEN_PAGE_SIZE);
	dev->stats = (void *)sring + X2MX_STATS_OFFSET;
	x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, 1);
	ret = x2mf_alloc_pool(dev);
	if (ret)
		goto fail;
	ret = xenbus_alloc_evtchn(xb, &port);
	if (ret)
		goto fail;
	ret = bind_evtchn_to_irqhandler(port, x2mf_interrupt, 0, "xen2mx-front", dev);
	if (ret < 0) {
		xenbus_free_evtchn(xb, port);
		goto fail;
	}
	dev->irq = ret;
	spin_lock_irq(&dev->ring_lock);
	memset(dev->slots, 0, sizeof(dev->slots));
	dev->free_slots = ~0ULL;
	spin_unlock_irq(&dev->ring_lock);
	up_write(&dev->conn_sem);

	keys.port = port;
	ret = x2mx_xenbus_write_keys(xb->nodename, x2mf_write_keys, &keys);
	if (ret)
		goto fail_unlocked;
	return xenbus_switch_state(xb, XenbusStateInitialised);

fail:
	up_write(&dev->conn_sem);
fail_unlocked:
	xenbus_dev_fatal(xb, ret, "setting up the ring, the tx pool and the event channel");
	x2mf_teardown(dev); /* whatever part was set up */
	return ret;
}

static void x2mf_backend_changed(struct xenbus_device *xb, enum xenbus_state backend)
{
	struct x2mf_dev *dev = dev_get_drvdata(&xb->dev);

	mutex_lock(&dev->lock);
	switch (backend) {
	case XenbusStateInitWait:
		/*
		 * Connected: the backend restarted under us (it unmapped all
		 * when it went). Initialised: it has still to see our keys,
		 * which stay valid; a restarted backend takes them too.
		 */
		if (xb->state == XenbusStateConnected)
			x2mf_teardown(dev);
		if (xb->state != XenbusStateInitialised)
			x2mf_connect(dev);
		break;
	case XenbusStateConnected:
		if (xb->state != XenbusStateInitialised)
			break;
		x2mf_lanes_connected(dev); /* connected from here */
		xenbus_switch_state(xb, XenbusStateConnected);
		dev_info(&xb->dev, "board %u connected: %pM, MTU %u%s\n", dev->index, dev->mac, dev->mtu,
			 dev->lanes ? ", lanes" : "");
		break;
	case XenbusStateClosing:
		x2mf_teardown(dev);
		xenbus_frontend_closed(xb);
		break;
	case XenbusStateClosed:
		x2mf_teardown(dev);
		if (xb->state != XenbusStateClosed)
			xenbus_frontend_closed(xb);
		break;
	case XenbusStateUnknown:
		x2mf_teardown(dev);
		break;
	default:
		break;
	}
	mutex_unlock(&dev->lock);
}

static int x2mf_probe(struct xenbus_device *xb, const struct xenbus_device_id *id)
{
	struct x2mf_dev *dev;
	int i, slot = -1;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	kref_init(&dev->ref);
	dev->xb = xb;
	dev->backend_id = xb->otherend_id;
	mutex_init(&dev->lock);
	init_rwsem(&dev->conn_sem);
	spin_lock_init(&dev->ring_lock);
	spin_lock_init(&dev->ep_lock);
	INIT_LIST_HEAD(&dev->endpoints);
	init_waitqueue_head(&dev->slot_wait);
	init_waitqueue_head(&dev->answered_wait);
	INIT_WORK(&dev->rsp_work, x2mf_rsp_work);
	x2mf_lanes_init(dev);
	dev->next_id = 1;
	strscpy(dev->name, dev_name(&xb->dev), sizeof(dev->name));

	mutex_lock(&boards_mutex);
	for (i = 0; i < XEN2MX_MAX_BOARDS; i++) {
		if (!boards[i]) {
			slot = i;
			break;
		}
	}
	if (slot >= 0) {
		dev->index = slot;
		boards[slot] = dev;
	}
	mutex_unlock(&boards_mutex);
	if (slot < 0) {
		kfree(dev);
		xenbus_dev_fatal(xb, -ENOSPC, "more than %d xen2mx boards", XEN2MX_MAX_BOARDS);
		return -ENOSPC;
	}
	dev_set_drvdata(&xb->dev, dev);
	/* After a previous driver left it Closed, the backend waits for this. */
	xenbus_switch_state(xb, XenbusStateInitialising);
	return 0;
}

static void x2mf_remove(struct xenbus_device *xb)
{
	struct x2mf_dev *dev = dev_get_drvdata(&xb->dev);

	mutex_lock(&dev->lock);
	x2mf_teardown(dev);
	dev->xb = NULL;
	mutex_unlock(&dev->lock);
	mutex_lock(&boards_mutex);
	boards[dev->index] = NULL;
	mutex_unlock(&boards_mutex);
	dev_set_drvdata(&xb->dev, NULL);
	x2mf_dev_put(dev);
}

/* The ring as the guest sees it: shared producers and events, private indexes, traffic. */
static ssize_t ring_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mf_dev *dev = dev_get_drvdata(d);
	ssize_t n;

	if (!dev)
		return sysfs_emit(buf, "none\n");
	down_read(&dev->conn_sem);
	if (!dev->ring.sring)
		n = sysfs_emit(buf, "disconnected\n");
	else
		n = sysfs_emit(buf, "req_prod %u req_event %u rsp_prod %u rsp_event %u req_prod_pvt %u rsp_cons %u "
				"connected %d free_slots %llx interrupts %lld responses %lld\n",
			       READ_ONCE(dev->ring.sring->req_prod), READ_ONCE(dev->ring.sring->req_event),
			       READ_ONCE(dev->ring.sring->rsp_prod), READ_ONCE(dev->ring.sring->rsp_event),
			       dev->ring.req_prod_pvt, dev->ring.rsp_cons, READ_ONCE(dev->connected),
			       (unsigned long long)READ_ONCE(dev->free_slots),
			       (long long)atomic64_read(&dev->interrupts), (long long)atomic64_read(&dev->responses));
	up_read(&dev->conn_sem);
	return n;
}
static DEVICE_ATTR_RO(ring);

static struct attribute *x2mf_attrs[] = {
	&dev_attr_ring.attr,
	NULL,
};
ATTRIBUTE_GROUPS(x2mf);

static const struct xenbus_device_id x2mf_ids[] = {
	{ "xen2mx" },
	{ "" }
};

static struct xenbus_driver x2mf_driver = {
	.ids = x2mf_ids,
	.probe = x2mf_probe,
	.remove = x2mf_remove,
	.otherend_changed = x2mf_backend_changed,
	.not_essential = true,
	.driver.dev_groups = x2mf_groups,
};

int x2mf_bus_init(void)
{
	BUILD_BUG_ON(__CONST_RING_SIZE(x2mx, XEN_PAGE_SIZE) != X2MX_TX_CHUNKS);
	BUILD_BUG_ON(X2MX_TX_CHUNKS > 64); /* one bit each in free_slots */
	if (!xen_domain())
		return -ENODEV;
	return xenbus_register_frontend(&x2mf_driver);
}

void x2mf_bus_exit(void)
{
	xenbus_unregister_driver(&x2mf_driver);
}
