// SPDX-License-Identifier: GPL-2.0
/*
 * The hostile frontend's xenbus side: it connects as xen2mx-front.ko does
 * (ring page, tx pool of one-page chunks, event channel, the keys of
 * xen2mx_xenbus.h), with keys made wrong on purpose when an attack asks.
 * Whenever the backend closes (it refused the keys, or gave up on the
 * ring), the connection is torn down and a new one asked for, so the
 * attacks can go on one after the other.
 */
#include <linux/etherdevice.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <xen/events.h>
#include <xen/page.h>
#include <xen/xen.h>

#include "../common/xenbus_keys.h"
#include "hostile.h"

static irqreturn_t x2mh_interrupt(int irq, void *data)
{
	struct x2mh_dev *dev = data;

	atomic_inc(&dev->events);
	wake_up(&dev->wait);
	return IRQ_HANDLED;
}

/* Ends a grant; the page goes when Dom0 no longer maps it. */
static void x2mh_ungrant_page(grant_ref_t *ref, void *page)
{
	if (*ref != INVALID_GRANT_REF)
		gnttab_end_foreign_access(*ref, virt_to_page(page));
	else
		free_page((unsigned long)page);
	*ref = INVALID_GRANT_REF;
}

static void x2mh_teardown(struct x2mh_dev *dev)
{
	unsigned int i;

	down_write(&dev->conn_sem);
	spin_lock_irq(&dev->ring_lock);
	dev->connected = false;
	spin_unlock_irq(&dev->ring_lock);
	if (dev->set_up) {
		WRITE_ONCE(dev->set_up, false);
		if (dev->irq > 0)
			unbind_from_irqhandler(dev->irq, dev); /* closes the port */
		else if (dev->port)
			xenbus_free_evtchn(dev->xb, dev->port);
		dev->irq = 0;
		dev->port = 0;
		for (i = 0; i < X2MX_TX_CHUNKS; i++) {
			if (dev->chunks[i])
				x2mh_ungrant_page(&dev->chunk_refs[i], dev->chunks[i]);
			dev->chunks[i] = NULL;
		}
		if (dev->pool_list)
			x2mh_ungrant_page(&dev->pool_list_ref, dev->pool_list);
		dev->pool_list = NULL;
		if (dev->ring.sring)
			x2mh_ungrant_page(&dev->ring_ref, dev->ring.sring);
		dev->ring.sring = NULL;
	}
	up_write(&dev->conn_sem);
	wake_up_all(&dev->wait);
}

static int x2mh_read_backend(struct x2mh_dev *dev)
{
	struct xenbus_device *xb = dev->xb;
	unsigned int mtu, max_endpoints;
	u8 mac[ETH_ALEN];
	int ret;

	ret = xenbus_gather(XBT_NIL, xb->otherend, "board-mtu", "%u", &mtu, "max-endpoints", "%u", &max_endpoints,
			    NULL);
	if (ret)
		return ret;
	ret = x2mx_xenbus_read_mac(xb->otherend, mac);
	if (ret)
		return ret;
	if (mtu < 68 || mtu > 2048)
		return -EPROTO; /* one-page chunks hold a frame of 2048 bytes and its segments */
	memcpy(dev->mac, mac, ETH_ALEN);
	dev->mtu = mtu;
	dev->max_endpoints = max_endpoints;
	return 0;
}

/* The ring, the pool and the event channel; the keys say where, `fault` how wrongly. */
static int x2mh_set_up(struct x2mh_dev *dev, enum x2mh_fault fault)
{
	domid_t backend = dev->backend_id;
	grant_ref_t *list;
	unsigned int i;
	int ref, ret;

	dev->ring_ref = INVALID_GRANT_REF;
	dev->pool_list_ref = INVALID_GRANT_REF;
	for (i = 0; i < X2MX_TX_CHUNKS; i++)
		dev->chunk_refs[i] = INVALID_GRANT_REF;
	dev->set_up = true; /* from here the teardown undoes whatever was made */

	dev->ring.sring = (void *)get_zeroed_page(GFP_KERNEL);
	dev->pool_list = (void *)get_zeroed_page(GFP_KERNEL);
	if (!dev->ring.sring || !dev->pool_list)
		return -ENOMEM;
	SHARED_RING_INIT(dev->ring.sring);
	FRONT_RING_INIT(&dev->ring, dev->ring.sring, XEN_PAGE_SIZE);
	ref = gnttab_grant_foreign_access(backend, virt_to_gfn(dev->ring.sring), fault == X2MH_FAULT_RING_RO);
	if (ref < 0)
		return ref;
	dev->ring_ref = ref;

	list = dev->pool_list;
	for (i = 0; i < X2MX_TX_CHUNKS; i++) {
		dev->chunks[i] = (void *)get_zeroed_page(GFP_KERNEL);
		if (!dev->chunks[i])
			return -ENOMEM;
		ref = gnttab_grant_foreign_access(backend, virt_to_gfn(dev->chunks[i]), 1);
		if (ref < 0)
			return ref;
		dev->chunk_refs[i] = ref;
		list[i] = ref;
	}
	if (fault == X2MH_FAULT_POOL_REFS)
		list[X2MX_TX_CHUNKS - 1] = x2mh_unused_ref();
	ref = gnttab_grant_foreign_access(backend, virt_to_gfn(dev->pool_list), 1);
	if (ref < 0)
		return ref;
	dev->pool_list_ref = ref;

	ret = xenbus_alloc_evtchn(dev->xb, &dev->port);
	if (ret)
		return ret;
	ret = bind_evtchn_to_irqhandler(dev->port, x2mh_interrupt, 0, "xen2mx-hostile", dev);
	if (ret < 0)
		return ret;
	dev->irq = ret;
	dev->ring.rsp_cons = 0;
	dev->ring.req_prod_pvt = 0;
	return 0;
}

/* The keys as this connection offers them, rightly or as its fault wants. */
struct x2mh_keys {
	unsigned int ring_ref, pool_ref, port, version, chunk_pages;
	bool pool_ref_missing;
	bool lanes;
};

static int x2mh_write_key_values(struct xenbus_transaction xbt, const char *node, void *data)
{
	const struct x2mh_keys *k = data;
	int ret;

	ret = xenbus_printf(xbt, node, "ring-ref", "%u", k->ring_ref) ?:
	      xenbus_printf(xbt, node, "event-channel", "%u", k->port) ?:
	      xenbus_printf(xbt, node, "tx-chunk-pages", "%u", k->chunk_pages) ?:
	      xenbus_printf(xbt, node, "protocol-version", "%u", k->version);
	if (ret)
		return ret;
	if (k->lanes)
		ret = xenbus_printf(xbt, node, "feature-lanes", "1");
	else
		xenbus_rm(xbt, node, "feature-lanes"); /* absent already is as good */
	if (ret)
		return ret;
	if (k->pool_ref_missing) {
		xenbus_rm(xbt, node, "tx-pool-ref"); /* absent already is as good */
		return 0;
	}
	return xenbus_printf(xbt, node, "tx-pool-ref", "%u", k->pool_ref);
}

static int x2mh_write_keys(struct x2mh_dev *dev, enum x2mh_fault fault)
{
	struct x2mh_keys k = {
		.ring_ref = dev->ring_ref,
		.pool_ref = dev->pool_list_ref,
		.port = dev->port,
		.version = X2MX_PROTOCOL_VERSION,
		.chunk_pages = 1,
		.pool_ref_missing = fault == X2MH_FAULT_MISSING,
		.lanes = dev->lanes,
	};

	switch (fault) {
	case X2MH_FAULT_VERSION:
		k.version = 99;
		break;
	case X2MH_FAULT_CHUNK_PAGES:
		k.chunk_pages = 0;
		break;
	case X2MH_FAULT_CHUNK_HUGE:
		k.chunk_pages = 4096;
		break;
	case X2MH_FAULT_RING_REF:
		k.ring_ref = x2mh_unused_ref();
		break;
	case X2MH_FAULT_POOL_REF:
		k.pool_ref = x2mh_unused_ref();
		break;
	case X2MH_FAULT_EVTCHN:
		k.port = xen_store_evtchn; /* bound to xenstored already */
		break;
	default:
		break;
	}
	return x2mx_xenbus_write_keys(dev->xb->nodename, x2mh_write_key_values, &k);
}

static void x2mh_connect(struct x2mh_dev *dev)
{
	enum x2mh_fault fault = dev->fault;
	int ret;

	dev->fault = X2MH_FAULT_NONE; /* one connection only */
	ret = x2mh_read_backend(dev);
	if (ret) {
		dev->gave_up = true; /* asking again would fail again */
		xenbus_dev_fatal(dev->xb, ret, "reading the backend's board-mac, board-mtu, max-endpoints");
		return;
	}
	down_write(&dev->conn_sem);
	ret = x2mh_set_up(dev, fault);
	up_write(&dev->conn_sem);
	if (!ret)
		ret = x2mh_write_keys(dev, fault);
	if (ret) {
		dev->gave_up = true;
		xenbus_dev_fatal(dev->xb, ret, "setting up the ring, the tx pool and the event channel");
		x2mh_teardown(dev);
		return;
	}
	dev_info(&dev->xb->dev, "offering a connection (fault %d)\n", fault);
	xenbus_switch_state(dev->xb, XenbusStateInitialised);
}

/* Answers the backend's Closing: the connection goes, then Closed. Under conn_lock. */
void x2mh_close_locked(struct x2mh_dev *dev)
{
	x2mh_teardown(dev);
	xenbus_frontend_closed(dev->xb);
}

static void x2mh_backend_changed(struct xenbus_device *xb, enum xenbus_state backend)
{
	struct x2mh_dev *dev = dev_get_drvdata(&xb->dev);

	mutex_lock(&dev->conn_lock);
	switch (backend) {
	case XenbusStateInitWait:
		if (xb->state == XenbusStateConnected)
			x2mh_teardown(dev);
		if (xb->state != XenbusStateInitialised)
			x2mh_connect(dev);
		break;
	case XenbusStateConnected:
		if (xb->state != XenbusStateInitialised)
			break;
		spin_lock_irq(&dev->ring_lock);
		dev->connected = true;
		spin_unlock_irq(&dev->ring_lock);
		dev->connects++;
		xenbus_switch_state(xb, XenbusStateConnected);
		wake_up_all(&dev->wait);
		break;
	case XenbusStateClosing:
		if (xb->state == XenbusStateInitialised || xb->state == XenbusStateConnected) {
			dev->refusals++;
			dev_info(&xb->dev, "the backend closed the connection (state %d)%s\n", xb->state,
				 dev->deaf ? ", not answered" : "");
		}
		if (dev->deaf) {
			dev->closing_ignored = true; /* x2mh_close_locked() when it listens again */
			break;
		}
		x2mh_close_locked(dev);
		break;
	case XenbusStateClosed:
		x2mh_teardown(dev);
		if (xb->state != XenbusStateClosed)
			xenbus_frontend_closed(xb);
		/* Ask for a fresh connection: the backend answers with InitWait. */
		if (!dev->gave_up)
			xenbus_switch_state(xb, XenbusStateInitialising);
		break;
	case XenbusStateUnknown:
		x2mh_teardown(dev);
		break;
	default:
		break;
	}
	mutex_unlock(&dev->conn_lock);
	wake_up_all(&dev->wait);
}

/*
 * Closes the connection from this side; the next one is offered with
 * `fault`. Waits (30 s at most) until a sound connection is up again and
 * says how many times the backend refused or closed one meanwhile.
 */
int x2mh_reconnect(struct x2mh_dev *dev, enum x2mh_fault fault, unsigned int *refused)
{
	unsigned int connects, refusals;
	int ret;

	mutex_lock(&dev->conn_lock);
	connects = dev->connects;
	refusals = dev->refusals;
	dev->fault = fault;
	mutex_unlock(&dev->conn_lock);
	xenbus_switch_state(dev->xb, XenbusStateClosing);
	ret = x2mh_wait_reconnected(dev, connects, 30 * HZ);
	*refused = READ_ONCE(dev->refusals) - refusals;
	return ret;
}

/* Waits until a connection after the `connects`-th is up: 0 or -ETIMEDOUT. */
int x2mh_wait_reconnected(struct x2mh_dev *dev, unsigned int connects, unsigned long timeout)
{
	return wait_event_timeout(dev->wait, READ_ONCE(dev->connects) != connects && READ_ONCE(dev->connected),
				  timeout) ? 0 : -ETIMEDOUT;
}

/* ------------------------------------------------------------ siblings */

/* The guest's devices: an attack through one may need another (lanes between them). */
static LIST_HEAD(x2mh_devices);
static DEFINE_MUTEX(x2mh_devices_lock);

/*
 * Another device of this guest, held (its attack lock: no attack of its
 * own runs, and it is not removed) until x2mh_sibling_put(); NULL when
 * there is none free.
 */
struct x2mh_dev *x2mh_sibling_get(struct x2mh_dev *dev)
{
	struct x2mh_dev *other, *found = NULL;

	mutex_lock(&x2mh_devices_lock);
	list_for_each_entry(other, &x2mh_devices, siblings) {
		/* Trylock: two attacks taking each other's device wait for nobody. */
		if (other != dev && mutex_trylock(&other->attack_lock)) {
			found = other;
			break;
		}
	}
	mutex_unlock(&x2mh_devices_lock);
	return found;
}

void x2mh_sibling_put(struct x2mh_dev *sibling)
{
	mutex_unlock(&sibling->attack_lock);
}

/* ------------------------------------------------------------ sysfs */

static ssize_t attacks_show(struct device *d, struct device_attribute *attr, char *buf)
{
	return x2mh_attack_list(buf);
}
static DEVICE_ATTR_RO(attacks);

static ssize_t attack_store(struct device *d, struct device_attribute *attr, const char *buf, size_t count)
{
	struct x2mh_dev *dev = dev_get_drvdata(d);
	char name[48];
	int ret;

	if (!dev)
		return -ENODEV;
	strscpy(name, buf, sizeof(name));
	strim(name);
	mutex_lock(&dev->attack_lock);
	dev->result[0] = '\0';
	ret = x2mh_attack(dev, strim(name));
	mutex_unlock(&dev->attack_lock);
	return ret == -ENOENT ? -EINVAL : count;
}
static DEVICE_ATTR_WO(attack);

static ssize_t result_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mh_dev *dev = dev_get_drvdata(d);
	ssize_t n;

	if (!dev)
		return -ENODEV;
	mutex_lock(&dev->attack_lock);
	n = sysfs_emit(buf, "%s\n", dev->result);
	mutex_unlock(&dev->attack_lock);
	return n;
}
static DEVICE_ATTR_RO(result);

static ssize_t status_show(struct device *d, struct device_attribute *attr, char *buf)
{
	struct x2mh_dev *dev = dev_get_drvdata(d);

	if (!dev)
		return -ENODEV;
	return sysfs_emit(buf, "%s connects %u refusals %u flood_posted %lld flood_answered %lld\n",
			  READ_ONCE(dev->connected) ? "connected" : "disconnected", READ_ONCE(dev->connects),
			  READ_ONCE(dev->refusals), (long long)atomic64_read(&dev->flood_posted),
			  (long long)atomic64_read(&dev->flood_answered));
}
static DEVICE_ATTR_RO(status);

static struct attribute *x2mh_attrs[] = {
	&dev_attr_attacks.attr,
	&dev_attr_attack.attr,
	&dev_attr_result.attr,
	&dev_attr_status.attr,
	NULL,
};
ATTRIBUTE_GROUPS(x2mh);

/* ------------------------------------------------------------ driver */

static int x2mh_probe(struct xenbus_device *xb, const struct xenbus_device_id *id)
{
	struct x2mh_dev *dev = kzalloc(sizeof(*dev), GFP_KERNEL);

	if (!dev)
		return -ENOMEM;
	dev->xb = xb;
	dev->backend_id = xb->otherend_id;
	mutex_init(&dev->conn_lock);
	mutex_init(&dev->attack_lock);
	init_rwsem(&dev->conn_sem);
	spin_lock_init(&dev->ring_lock);
	init_waitqueue_head(&dev->wait);
	dev->next_id = 1;
	dev_set_drvdata(&xb->dev, dev);
	mutex_lock(&x2mh_devices_lock);
	list_add_tail(&dev->siblings, &x2mh_devices);
	mutex_unlock(&x2mh_devices_lock);
	dev_warn(&xb->dev, "hostile test frontend: attacks Dom0's xen2mx backend on demand\n");
	xenbus_switch_state(xb, XenbusStateInitialising);
	return 0;
}

static void x2mh_remove(struct xenbus_device *xb)
{
	struct x2mh_dev *dev = dev_get_drvdata(&xb->dev);

	mutex_lock(&x2mh_devices_lock);
	list_del(&dev->siblings);
	mutex_unlock(&x2mh_devices_lock);
	x2mh_flood_stop(dev);
	mutex_lock(&dev->attack_lock);
	mutex_lock(&dev->conn_lock);
	x2mh_teardown(dev);
	mutex_unlock(&dev->conn_lock);
	mutex_unlock(&dev->attack_lock);
	dev_set_drvdata(&xb->dev, NULL);
	kfree(dev);
}

static const struct xenbus_device_id x2mh_ids[] = {
	{ "xen2mx" },
	{ "" }
};

static struct xenbus_driver x2mh_driver = {
	.name = "xen2mx-front-hostile",
	.ids = x2mh_ids,
	.probe = x2mh_probe,
	.remove = x2mh_remove,
	.otherend_changed = x2mh_backend_changed,
	.not_essential = true,
	.driver.dev_groups = x2mh_groups,
};

static int __init x2mh_init(void)
{
	if (!xen_domain())
		return -ENODEV;
	return xenbus_register_frontend(&x2mh_driver);
}

static void __exit x2mh_exit(void)
{
	xenbus_unregister_driver(&x2mh_driver);
}

module_init(x2mh_init);
module_exit(x2mh_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xen2mx: hostile test frontend attacking Dom0's backend (tests only)");
