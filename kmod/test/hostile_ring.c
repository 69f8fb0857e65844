// SPDX-License-Identifier: GPL-2.0
/*
 * The hostile frontend's hands on the ring: requests posted as the real
 * frontend posts them, responses taken in order, the shared indexes
 * written raw, events sent in bulk, and pages granted for an attack.
 * Whatever touches the ring or a chunk holds conn_sem for reading, so a
 * teardown never frees them under it.
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <xen/events.h>
#include <xen/page.h>

#include "hostile.h"

/* Posts `count` requests (ids given here) and notifies; -ENOTCONN when not connected. */
int x2mh_post(struct x2mh_dev *dev, struct x2mx_request *reqs, unsigned int count)
{
	unsigned int i;
	int notify;

	down_read(&dev->conn_sem);
	spin_lock_irq(&dev->ring_lock);
	if (!dev->connected) {
		spin_unlock_irq(&dev->ring_lock);
		up_read(&dev->conn_sem);
		return -ENOTCONN;
	}
	for (i = 0; i < count; i++) {
		reqs[i].id = dev->next_id++;
		*RING_GET_REQUEST(&dev->ring, dev->ring.req_prod_pvt) = reqs[i];
		dev->ring.req_prod_pvt++;
	}
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&dev->ring, notify);
	spin_unlock_irq(&dev->ring_lock);
	notify_remote_via_irq(dev->irq);
	up_read(&dev->conn_sem);
	return 0;
}

/* Takes the responses there are, `count` at most; how many it took. */
static int x2mh_take(struct x2mh_dev *dev, struct x2mx_response *rsps, unsigned int count)
{
	unsigned int n = 0;
	RING_IDX rp;

	down_read(&dev->conn_sem);
	spin_lock_irq(&dev->ring_lock);
	if (!dev->set_up) {
		spin_unlock_irq(&dev->ring_lock);
		up_read(&dev->conn_sem);
		return -ENOTCONN;
	}
	rp = READ_ONCE(dev->ring.sring->rsp_prod);
	virt_rmb();
	while (n < count && dev->ring.rsp_cons != rp) {
		if (rsps)
			rsps[n] = *RING_GET_RESPONSE(&dev->ring, dev->ring.rsp_cons);
		dev->ring.rsp_cons++;
		n++;
	}
	/* Asks for an event at the next response. */
	dev->ring.sring->rsp_event = dev->ring.rsp_cons + 1;
	spin_unlock_irq(&dev->ring_lock);
	up_read(&dev->conn_sem);
	return n;
}

/*
 * Waits until `count` responses came (into rsps when not NULL), at most
 * `timeout` jiffies: how many came, or -ENOTCONN when the connection went
 * before any.
 */
int x2mh_collect(struct x2mh_dev *dev, struct x2mx_response *rsps, unsigned int count, unsigned long timeout)
{
	unsigned long deadline = jiffies + timeout;
	unsigned int got = 0;
	int n;

	while (got < count) {
		int events = atomic_read(&dev->events);

		n = x2mh_take(dev, rsps ? rsps + got : NULL, count - got);
		if (n < 0)
			return got ? got : n;
		got += n;
		if (got == count || time_after(jiffies, deadline))
			break;
		/* The ring may go under us: an event or the teardown wakes us,
		 * a missed event costs a tenth of a second. */
		wait_event_timeout(dev->wait, atomic_read(&dev->events) != events || !READ_ONCE(dev->set_up),
				   HZ / 10);
	}
	return got;
}

/* One request and its response (5 s at most): 0, -ETIMEDOUT or -ENOTCONN. */
int x2mh_call(struct x2mh_dev *dev, struct x2mx_request *req, struct x2mx_response *rsp)
{
	int ret = x2mh_post(dev, req, 1);

	if (ret)
		return ret;
	ret = x2mh_collect(dev, rsp, 1, 5 * HZ);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ETIMEDOUT;
	if (rsp->id != req->id)
		return -EPROTO;
	return 0;
}

int x2mh_chunk_write(struct x2mh_dev *dev, unsigned int chunk, size_t offset, const void *data, size_t len)
{
	int ret = -ENOTCONN;

	if (chunk >= X2MX_TX_CHUNKS || offset > PAGE_SIZE || len > PAGE_SIZE - offset)
		return -EINVAL;
	down_read(&dev->conn_sem);
	if (dev->set_up) {
		memcpy(dev->chunks[chunk] + offset, data, len);
		ret = 0;
	}
	up_read(&dev->conn_sem);
	return ret;
}

/* Requests posted and not answered yet. */
unsigned int x2mh_ring_pending(struct x2mh_dev *dev)
{
	unsigned int n = 0;

	spin_lock_irq(&dev->ring_lock);
	if (dev->set_up)
		n = dev->ring.req_prod_pvt - dev->ring.rsp_cons;
	spin_unlock_irq(&dev->ring_lock);
	return n;
}

/*
 * Writes `fill` into the next `fill_count` slots, then publishes a request
 * producer `prod_delta` away from where a sound frontend would put it, and
 * notifies. The private index follows only what was filled.
 */
int x2mh_ring_raw(struct x2mh_dev *dev, s32 prod_delta, const struct x2mx_request *fill, unsigned int fill_count)
{
	unsigned int i;

	down_read(&dev->conn_sem);
	spin_lock_irq(&dev->ring_lock);
	if (!dev->connected) {
		spin_unlock_irq(&dev->ring_lock);
		up_read(&dev->conn_sem);
		return -ENOTCONN;
	}
	for (i = 0; i < fill_count; i++) {
		struct x2mx_request *slot = RING_GET_REQUEST(&dev->ring, dev->ring.req_prod_pvt);

		*slot = fill[i];
		slot->id = dev->next_id++;
		dev->ring.req_prod_pvt++;
	}
	virt_wmb();
	WRITE_ONCE(dev->ring.sring->req_prod, dev->ring.req_prod_pvt + prod_delta);
	spin_unlock_irq(&dev->ring_lock);
	notify_remote_via_irq(dev->irq);
	up_read(&dev->conn_sem);
	return 0;
}

/* Sends `count` events with nothing posted. */
int x2mh_notify_storm(struct x2mh_dev *dev, unsigned int count)
{
	unsigned int i;
	int ret = 0;

	down_read(&dev->conn_sem);
	if (!dev->connected) {
		ret = -ENOTCONN;
		goto out;
	}
	for (i = 0; i < count; i++) {
		notify_remote_via_irq(dev->irq);
		if (i % 1024 == 0)
			cond_resched();
	}
out:
	up_read(&dev->conn_sem);
	return ret;
}

/* `count` zeroed pages granted to `to` (Dom0 for most attacks). */
int x2mh_pages_grant(struct x2mh_dev *dev, struct x2mh_pages *p, unsigned int count, domid_t to, bool readonly)
{
	unsigned int i;
	int ref;

	p->count = 0;
	p->pages = kcalloc(count, sizeof(*p->pages), GFP_KERNEL);
	p->refs = kcalloc(count, sizeof(*p->refs), GFP_KERNEL);
	if (!p->pages || !p->refs) {
		x2mh_pages_free(p);
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		p->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!p->pages[i])
			goto fail;
		ref = gnttab_grant_foreign_access(to, xen_page_to_gfn(p->pages[i]), readonly);
		if (ref < 0) {
			__free_page(p->pages[i]);
			goto fail;
		}
		p->refs[i] = ref;
		p->count++;
	}
	return 0;
fail:
	x2mh_pages_free(p);
	return -ENOMEM;
}

/* Ends the grants now (what is still mapped ends later): the references are dead. */
void x2mh_pages_ungrant(struct x2mh_pages *p)
{
	unsigned int i;

	for (i = 0; i < p->count; i++) {
		if (p->refs[i] == INVALID_GRANT_REF)
			continue;
		get_page(p->pages[i]); /* the grant's reference, dropped when it ends */
		gnttab_end_foreign_access(p->refs[i], p->pages[i]);
		p->refs[i] = INVALID_GRANT_REF;
	}
}

void x2mh_pages_free(struct x2mh_pages *p)
{
	unsigned int i;

	x2mh_pages_ungrant(p);
	for (i = 0; i < p->count; i++)
		put_page(p->pages[i]);
	kfree(p->pages);
	kfree(p->refs);
	p->pages = NULL;
	p->refs = NULL;
	p->count = 0;
}

/* A grant reference of ours that grants nothing: claimed, never filled, kept. */
grant_ref_t x2mh_unused_ref(void)
{
	grant_ref_t head;
	int ref;

	if (gnttab_alloc_grant_references(1, &head))
		return X2MH_REF_PAST_TABLE;
	ref = gnttab_claim_grant_reference(&head);
	return ref < 0 ? X2MH_REF_PAST_TABLE : ref;
}

void x2mh_unused_ref_put(grant_ref_t ref)
{
	if (ref != X2MH_REF_PAST_TABLE)
		gnttab_free_grant_reference(ref);
}
