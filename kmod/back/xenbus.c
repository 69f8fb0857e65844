// SPDX-License-Identifier: GPL-2.0
/*
 * xen2mx-back.ko: the xenbus backend of devtype "xen2mx". Each guest device
 * is bridged onto one board of xen2mx.ko (index 0, or the "board" node
 * util/xen2mx-attach may write). States: the backend publishes the board
 * and its limits and waits (InitWait); when the frontend is Initialised it
 * maps the ring, the event channel and the tx pool and is Connected. When
 * the frontend closes, dies or goes away, everything the guest had in Dom0
 * is closed and unmapped before the backend says Closing or Closed.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <xen/events.h>
#include <xen/xen.h>

#include "../common/xenbus_keys.h"
#include "back.h"

struct workqueue_struct *x2mb_wq;

unsigned int x2mb_max_endpoints = 32;
module_param_named(max_endpoints, x2mb_max_endpoints, uint, 0644);
MODULE_PARM_DESC(max_endpoints, "Endpoints one guest device may have open at once");

unsigned int x2mb_max_ring_pages = 1025;
module_param_named(max_ring_pages, x2mb_max_ring_pages, uint, 0644);
MODULE_PARM_DESC(max_ring_pages, "Pages one guest endpoint's receive memory may take (ctl page included)");

bool x2mb_rx_event_batching = true;
module_param_named(rx_event_batching, x2mb_rx_event_batching, bool, 0644);
MODULE_PARM_DESC(rx_event_batching,
		 "1: a frame written behind unread ones sends the guest no event (one per burst); 0: one per frame");
unsigned int x2mb_max_region_pages = 16384;
module_param_named(max_region_pages, x2mb_max_region_pages, uint, 0644);
MODULE_PARM_DESC(max_region_pages, "Guest pages the memory regions of one guest device may have mapped at once");

bool x2mb_lanes = true;
module_param_named(lanes, x2mb_lanes, bool, 0644);
MODULE_PARM_DESC(lanes, "1: guests that speak lanes are introduced to each other (feature-lanes); 0: never (at run time: no more introductions; lanes open stay until their endpoints close)");

static irqreturn_t x2mb_interrupt(int irq, void *data)
{
	struct x2mb_dev *dev = data;

	atomic64_inc(&dev->interrupts);
	/*
	 * Xen marks a freshly bound channel pending: this may run before the
	 * binding returned, and the work item must send the late EOI to this
	 * interrupt, not to whatever dev->irq held then.
	 */
	WRITE_ONCE(dev->irq, irq);
	atomic_set(&dev->notified, 1);
	if (!READ_ONCE(dev->stopping))
		queue_work(x2mb_wq, &dev->req_work);
	else
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	return IRQ_HANDLED;
}

/* Maps the page of grant references the frontend names, then the pool they list. */
static int x2mb_map_pool(struct x2mb_dev *dev, grant_ref_t pool_ref)
{
	unsigned int count = X2MX_TX_CHUNKS * dev->chunk_pages;
	struct x2mb_map list = {};
	grant_ref_t *refs;
	int ret;

	refs = kcalloc(count, sizeof(*refs), GFP_KERNEL);
	if (!refs)
		return -ENOMEM;
	ret = x2mb_map_grants(dev, &pool_ref, 1, true, &list);
	if (ret)
		goto out;
	x2mb_map_copy_from(&list, 0, refs, count * sizeof(*refs));
	x2mb_unmap_grants(dev, &list, false);
	ret = x2mb_map_grants(dev, refs, count, true, &dev->pool);
out:
	kfree(refs);
	return ret;
}

static int x2mb_connect(struct x2mb_dev *dev)
{
	struct xenbus_device *xb = dev->xb;
	unsigned int ring_ref, evtchn, pool_ref, chunk_pages, version;
	int ret;

	ret = xenbus_gather(XBT_NIL, xb->otherend, "ring-ref", "%u", &ring_ref, "event-channel", "%u", &evtchn,
			    "tx-pool-ref", "%u", &pool_ref, "tx-chunk-pages", "%u", &chunk_pages,
			    "protocol-version", "%u", &version, NULL);
	if (ret) {
		xenbus_dev_fatal(xb, ret, "reading %s's ring-ref, event-channel, tx-pool-ref, tx-chunk-pages, protocol-version",
				 xb->otherend);
		return ret;
	}
	if (version != X2MX_PROTOCOL_VERSION) {
		xenbus_dev_fatal(xb, -EPROTONOSUPPORT, "protocol-version %u (backend speaks %d)", version,
				 X2MX_PROTOCOL_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (chunk_pages < 1 || chunk_pages > X2MX_CHUNK_PAGES_MAX) {
		xenbus_dev_fatal(xb, -EINVAL, "tx-chunk-pages %u", chunk_pages);
		return -EINVAL;
	}
	dev->chunk_pages = chunk_pages;
	dev->lanes = x2mb_lanes && xenbus_read_unsigned(xb->otherend, "feature-lanes", 0) == 1;
	dev->stopping = false;
	WRITE_ONCE(dev->broken, false);
	atomic_set(&dev->tx_inflight, 0);
	memset(dev->eps, 0, sizeof(dev->eps));
	dev->nr_eps = 0;

	ret = xenbus_map_ring_valloc(xb, &ring_ref, 1, &dev->ring_page);
	if (ret)
		return ret;
	x2m_grants_mapped_add(1);
	atomic_inc(&dev->grants);
	BACK_RING_INIT(&dev->ring, (struct x2mx_sring *)dev->ring_page, XEN_PAGE_SIZE);
	dev->stats = dev->ring_page + X2MX_STATS_OFFSET;
	memset(dev->stats, 0, sizeof(*dev->stats));

	ret = x2mb_map_pool(dev, pool_ref);
	if (ret) {
		xenbus_dev_fatal(xb, ret, "mapping the tx pool (%u pages)", X2MX_TX_CHUNKS * chunk_pages);
		goto out_ring;
	}
	ret = bind_interdomain_evtchn_to_irqhandler_lateeoi(xb, evtchn, x2mb_interrupt, 0, "xen2mx-back", dev);
	if (ret < 0) {
		xenbus_dev_fatal(xb, ret, "binding event channel %u", evtchn);
		goto out_pool;
	}
	dev->irq = ret;
	dev->connected = true;
	x2mb_lanes_connected(dev);
	dev_info(&xb->dev, "dom%u connected to board %pM (MTU %u), %u-page chunks%s\n", dev->domid,
		 dev->desc.mac, dev->desc.mtu, chunk_pages, dev->lanes ? ", lanes" : "");
	return 0;

out_pool:
	x2mb_unmap_grants(dev, &dev->pool, false);
out_ring:
	xenbus_unmap_ring_vfree(xb, dev->ring_page);
	x2m_grants_mapped_add(-1);
	atomic_dec(&dev->grants);
	dev->ring_page = NULL;
	return ret;
}

/*
 * Everything the guest had goes: no request is served any more, its
 * endpoints are closed (no frame written into its pages after that), the
 * pages lent to the NIC come back, then every mapping goes.
 */
static void x2mb_disconnect(struct x2mb_dev *dev)
{
	unsigned long flags;

	if (!dev->connected)
		return;
	/* First, so that no other guest's request answers into the ring that goes. */
	x2mb_lanes_disconnecting(dev);
	spin_lock_irqsave(&dev->rsp_lock, flags);
	WRITE_ONCE(dev->stopping, true);
	spin_unlock_irqrestore(&dev->rsp_lock, flags);
	synchronize_irq(dev->irq); /* a handler that did not see it has queued its work */
	cancel_work_sync(&dev->req_work);
	x2mb_close_all(dev);
	wait_var_event(&dev->tx_inflight, !atomic_read(&dev->tx_inflight));
	cancel_work_sync(&dev->req_work); /* one a last send may have queued */
	x2mb_lanes_disconnected(dev);
	unbind_from_irqhandler(dev->irq, dev);
	dev->irq = 0;
	x2mb_unmap_grants(dev, &dev->pool, false);
	xenbus_unmap_ring_vfree(dev->xb, dev->ring_page);
	x2m_grants_mapped_add(-1);
	atomic_dec(&dev->grants);
	dev->ring_page = NULL;
	dev->stats = NULL;
	gnttab_page_cache_shrink(&dev->cache, 0);
	dev->connected = false;
	dev_info(&dev->xb->dev, "dom%u disconnected, %d pages still mapped\n", dev->domid,
		 atomic_read(&dev->grants));
}

/*
 * The guest broke the protocol (xenbus_dev_fatal() said how and switched
 * to Closing): its connection goes now, whatever the frontend does next,
 * so that nothing of it stays mapped in Dom0 on its word. Any context;
 * the disconnect runs in a work item, under the device's lock.
 */
void x2mb_fatal(struct x2mb_dev *dev)
{
	WRITE_ONCE(dev->broken, true);
	queue_work(x2mb_wq, &dev->fatal_work);
}

static void x2mb_fatal_work(struct work_struct *work)
{
	struct x2mb_dev *dev = container_of(work, struct x2mb_dev, fatal_work);

	mutex_lock(&dev->lock);
	/* Not a later connection: connecting clears `broken`. */
	if (dev->connected && dev->broken)
		x2mb_disconnect(dev);
	mutex_unlock(&dev->lock);
}

static int x2mb_write_keys(struct xenbus_transaction xbt, const char *node, void *data)
{
	struct x2mb_dev *dev = data;

	return xenbus_printf(xbt, node, "board-mac", "%pM", dev->desc.mac) ?:
	       xenbus_printf(xbt, node, "board-mtu", "%u", dev->desc.mtu) ?:
	       xenbus_printf(xbt, node, "max-endpoints", "%u", x2mb_max_endpoints) ?:
	       xenbus_printf(xbt, node, "max-ring-pages", "%u", x2mb_max_ring_pages) ?:
	       xenbus_printf(xbt, node, "protocol-version", "%d", X2MX_PROTOCOL_VERSION) ?:
	       (x2mb_lanes ? xenbus_printf(xbt, node, "feature-lanes", "1") : 0);
}

static int x2mb_publish(struct x2mb_dev *dev)
{
	return x2mx_xenbus_write_keys(dev->xb->nodename, x2mb_write_keys, dev);
}

static ssize_t grants_mapped_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mb_dev *dev = dev_get_drvdata(d);

	return sysfs_emit(buf, "%d\n", dev ? atomic_read(&dev->grants) : 0);
}
static DEVICE_ATTR_RO(grants_mapped);

static ssize_t bad_requests_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mb_dev *dev = dev_get_drvdata(d);

	return sysfs_emit(buf, "%lld\n", dev ? (long long)atomic64_read(&dev->bad_requests) : 0);
}
static DEVICE_ATTR_RO(bad_requests);

static ssize_t endpoints_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mb_dev *dev = dev_get_drvdata(d);

	return sysfs_emit(buf, "%u\n", dev ? READ_ONCE(dev->nr_eps) : 0);
}
static DEVICE_ATTR_RO(endpoints);

/* Lanes: whether the guest has them, its pending LISTEN and notices, what it asked and offered. */
static ssize_t lanes_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mb_dev *dev = dev_get_drvdata(d);

	if (!dev)
		return sysfs_emit(buf, "none\n");
	return x2mb_lanes_show(dev, buf);
}
static DEVICE_ATTR_RO(lanes);

/* The ring as Dom0 sees it: shared producers and events, private indexes, traffic. */
static ssize_t ring_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mb_dev *dev = dev_get_drvdata(d);
	ssize_t n;

	if (!dev)
		return sysfs_emit(buf, "none\n");
	mutex_lock(&dev->lock);
	if (!dev->connected || !dev->ring.sring)
		n = sysfs_emit(buf, "disconnected\n");
	else
		n = sysfs_emit(buf, "req_prod %u req_event %u rsp_prod %u rsp_event %u req_cons %u rsp_prod_pvt %u "
				"interrupts %lld requests %lld responses %lld rx_events %lld rx_events_saved %lld\n",
			       READ_ONCE(dev->ring.sring->req_prod), READ_ONCE(dev->ring.sring->req_event),
			       READ_ONCE(dev->ring.sring->rsp_prod), READ_ONCE(dev->ring.sring->rsp_event),
			       dev->ring.req_cons, dev->ring.rsp_prod_pvt,
			       (long long)atomic64_read(&dev->interrupts), (long long)atomic64_read(&dev->requests),
			       (long long)atomic64_read(&dev->responses), (long long)atomic64_read(&dev->rx_events),
			       (long long)atomic64_read(&dev->rx_events_saved));
	mutex_unlock(&dev->lock);
	return n;
}
static DEVICE_ATTR_RO(ring);

static struct attribute *x2mb_attrs[] = {
	&dev_attr_ring.attr,
	&dev_attr_grants_mapped.attr,
	&dev_attr_bad_requests.attr,
	&dev_attr_endpoints.attr,
	&dev_attr_lanes.attr,
	NULL,
};
ATTRIBUTE_GROUPS(x2mb);

static int x2mb_probe(struct xenbus_device *xb, const struct xenbus_device_id *id)
{
	struct x2mb_dev *dev;
	unsigned int index;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	dev->xb = xb;
	dev->domid = xb->otherend_id;
	snprintf(dev->owner, sizeof(dev->owner), "dom%u", dev->domid);
	mutex_init(&dev->lock);
	spin_lock_init(&dev->rsp_lock);
	spin_lock_init(&dev->lane_lock);
	INIT_LIST_HEAD(&dev->peers);
	INIT_WORK(&dev->req_work, x2mb_req_work);
	INIT_WORK(&dev->fatal_work, x2mb_fatal_work);
	gnttab_page_cache_init(&dev->cache);
	index = xenbus_read_unsigned(xb->nodename, "board", 0);
	dev->board = x2m_board_get(index);
	if (!dev->board) {
		xenbus_dev_fatal(xb, -ENODEV, "no xen2mx board %u in Dom0", index);
		kfree(dev);
		return -ENODEV;
	}
	x2m_board_describe(dev->board, &dev->desc);
	dev_set_drvdata(&xb->dev, dev);
	ret = x2mb_publish(dev);
	if (ret) {
		xenbus_dev_fatal(xb, ret, "writing the board's keys");
		goto out;
	}
	ret = xenbus_switch_state(xb, XenbusStateInitWait);
	if (ret)
		goto out;
	return 0;
out:
	dev_set_drvdata(&xb->dev, NULL);
	x2m_board_put(dev->board);
	kfree(dev);
	return ret;
}

static void x2mb_frontend_changed(struct xenbus_device *xb, enum xenbus_state frontend)
{
	struct x2mb_dev *dev = dev_get_drvdata(&xb->dev);
	bool unregister = false;

	mutex_lock(&dev->lock);
	switch (frontend) {
	case XenbusStateInitialising:
		if (xb->state == XenbusStateClosed)
			xenbus_switch_state(xb, XenbusStateInitWait);
		break;
	case XenbusStateInitialised:
		/* A frontend connecting afresh while we still hold its last connection. */
		if (dev->connected)
			x2mb_disconnect(dev);
		if (xb->state != XenbusStateInitWait && xb->state != XenbusStateConnected)
			break;
		if (x2mb_connect(dev) == 0)
			xenbus_switch_state(xb, XenbusStateConnected);
		break;
	case XenbusStateConnected:
		break;
	case XenbusStateClosing:
		x2mb_disconnect(dev);
		xenbus_switch_state(xb, XenbusStateClosing);
		break;
	case XenbusStateClosed:
		/* A frontend left Closed by an earlier connection (this backend
		 * was reloaded): it connects again when it sees InitWait. */
		if (xb->state == XenbusStateInitWait && !dev->connected)
			break;
		x2mb_disconnect(dev);
		xenbus_switch_state(xb, XenbusStateClosed);
		if (xenbus_dev_is_online(xb))
			break;
		unregister = true;
		break;
	case XenbusStateUnknown:
	default:
		/* The frontend's directory is gone: the guest died or was destroyed. */
		x2mb_disconnect(dev);
		xenbus_switch_state(xb, XenbusStateClosed);
		unregister = true;
		break;
	}
	mutex_unlock(&dev->lock);
	if (unregister)
		device_unregister(&xb->dev);
}

static void x2mb_remove(struct xenbus_device *xb)
{
	struct x2mb_dev *dev = dev_get_drvdata(&xb->dev);

	if (!dev)
		return;
	mutex_lock(&dev->lock);
	x2mb_disconnect(dev);
	mutex_unlock(&dev->lock);
	/* Nothing queues it once disconnected; it takes the lock, so not under it. */
	cancel_work_sync(&dev->fatal_work);
	dev_set_drvdata(&xb->dev, NULL);
	x2m_board_put(dev->board);
	kfree(dev);
}

static const struct xenbus_device_id x2mb_ids[] = {
	{ "xen2mx" },
	{ "" }
};

static struct xenbus_driver x2mb_driver = {
	.ids = x2mb_ids,
	.probe = x2mb_probe,
	.remove = x2mb_remove,
	.otherend_changed = x2mb_frontend_changed,
	.driver.dev_groups = x2mb_groups,
};

static int __init x2mb_init(void)
{
	int ret;

	if (!xen_domain())
		return -ENODEV;
	if (x2mb_max_endpoints < 1 || x2mb_max_endpoints > XEN2MX_MAX_ENDPOINTS ||
	    x2mb_max_ring_pages < 2 || x2mb_max_ring_pages > 65537)
		return -EINVAL;
	BUILD_BUG_ON(X2MX_STATS_OFFSET < offsetof(struct x2mx_sring, ring) +
					   __CONST_RING_SIZE(x2mx, XEN_PAGE_SIZE) * sizeof(union x2mx_sring_entry));
	BUILD_BUG_ON(X2MX_STATS_OFFSET + sizeof(struct x2mx_stats) > XEN_PAGE_SIZE);
	BUILD_BUG_ON(XEN2MX_CTR_BOARD_MAX > X2MX_STATS_MAX);
	BUILD_BUG_ON(__CONST_RING_SIZE(x2mx, XEN_PAGE_SIZE) != X2MX_TX_CHUNKS);
	x2mb_wq = alloc_workqueue("xen2mx-back", WQ_UNBOUND, 0);
	if (!x2mb_wq)
		return -ENOMEM;
	ret = xenbus_register_backend(&x2mb_driver);
	if (ret)
		destroy_workqueue(x2mb_wq);
	return ret;
}

static void __exit x2mb_exit(void)
{
	xenbus_unregister_driver(&x2mb_driver);
	destroy_workqueue(x2mb_wq);
}

module_init(x2mb_init);
module_exit(x2mb_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xen2mx: Dom0 backend of the Xen split driver, guests bridged onto MXoE boards");
MODULE_VERSION("0.1.0");
MODULE_ALIAS("xen-backend:xen2mx");
