// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks on the ring and the connection: garbage and floods of requests,
 * storms of events, request producers that lie, and connections offered
 * with bad keys.
 */
#include <linux/delay.h>
#include <linux/random.h>
#include <linux/slab.h>

#include "hostile_attacks.h"

/* Whole rings of random bytes as requests: each answered, with an error. */
int x2mh_garbage(struct x2mh_dev *dev)
{
	struct x2mx_request *reqs;
	struct x2mx_response *rsps;
	unsigned int batch, i, answered = 0, errors = 0;
	int fails = 0, got;

	reqs = kcalloc(X2MX_TX_CHUNKS, sizeof(*reqs), GFP_KERNEL);
	rsps = kcalloc(X2MX_TX_CHUNKS, sizeof(*rsps), GFP_KERNEL);
	if (!reqs || !rsps) {
		kfree(reqs);
		kfree(rsps);
		return 1;
	}
	for (batch = 0; batch < 16; batch++) {
		get_random_bytes(reqs, X2MX_TX_CHUNKS * sizeof(*reqs));
		if (x2mh_post(dev, reqs, X2MX_TX_CHUNKS)) {
			fails++;
			break;
		}
		got = x2mh_collect(dev, rsps, X2MX_TX_CHUNKS, 5 * HZ);
		if (got < 0)
			got = 0;
		answered += got;
		for (i = 0; i < got; i++)
			errors += rsps[i].status < 0;
		if (got != X2MX_TX_CHUNKS) {
			fails++;
			break;
		}
	}
	x2mh_note(dev, "%u random requests answered, %u with an error; ", answered, errors);
	if (errors != answered)
		fails++;
	kfree(reqs);
	kfree(rsps);
	return fails;
}

/* A full ring of bad requests, again and again, as fast as answered. */
int x2mh_request_flood(struct x2mh_dev *dev)
{
	struct x2mx_request *reqs;
	unsigned int batch, answered = 0;
	unsigned long start = jiffies;
	int fails = 0, got;

	reqs = kcalloc(X2MX_TX_CHUNKS, sizeof(*reqs), GFP_KERNEL);
	if (!reqs)
		return 1;
	for (batch = 0; batch < 200; batch++) {
		memset(reqs, 0, X2MX_TX_CHUNKS * sizeof(*reqs));
		if (x2mh_post(dev, reqs, X2MX_TX_CHUNKS)) {
			fails++;
			break;
		}
		got = x2mh_collect(dev, NULL, X2MX_TX_CHUNKS, 5 * HZ);
		answered += max(got, 0);
		if (got != X2MX_TX_CHUNKS) {
			fails++;
			break;
		}
	}
	x2mh_note(dev, "%u requests answered in %u ms; ", answered, jiffies_to_msecs(jiffies - start));
	kfree(reqs);
	return fails;
}

int x2mh_event_storm(struct x2mh_dev *dev)
{
	unsigned long start = jiffies;
	int ret = x2mh_notify_storm(dev, 200000);

	x2mh_note(dev, "200000 events with nothing posted in %u ms: %d; ", jiffies_to_msecs(jiffies - start), ret);
	return ret ? 1 : 0;
}

/*
 * The request producer published `delta` away from the truth (`fill`
 * bad requests written first): a sound backend closes the connection,
 * and this guest connects again.
 */
static int x2mh_ring_lie(struct x2mh_dev *dev, s32 delta, unsigned int fill)
{
	unsigned int connects = READ_ONCE(dev->connects), refusals = READ_ONCE(dev->refusals);
	struct x2mx_request *reqs;
	int ret;

	reqs = kcalloc(X2MX_TX_CHUNKS, sizeof(*reqs), GFP_KERNEL);
	if (!reqs)
		return 1;
	ret = x2mh_ring_raw(dev, delta, reqs, min_t(unsigned int, fill, X2MX_TX_CHUNKS));
	kfree(reqs);
	if (ret) {
		x2mh_note(dev, "not posted (%d); ", ret);
		return 1;
	}
	if (!wait_event_timeout(dev->wait, READ_ONCE(dev->refusals) != refusals, 10 * HZ)) {
		x2mh_note(dev, "Dom0 kept the connection (%u requests pending); ", x2mh_ring_pending(dev));
		return 1;
	}
	x2mh_note(dev, "Dom0 closed the connection; ");
	ret = x2mh_wait_reconnected(dev, connects, 30 * HZ);
	x2mh_note(dev, "%s; ", ret ? "no new connection within 30 s" : "connected again");
	return ret ? 1 : 0;
}

/*
 * The ring broken with an endpoint open, and this guest deaf to Dom0's
 * Closing: Dom0 must let go of everything on its own (the endpoint's pages
 * and the ring page can be taken back), not wait for the guest to agree.
 */
int x2mh_ring_lie_deaf(struct x2mh_dev *dev)
{
	unsigned int connects, refusals, i, freed = 0;
	struct x2mh_pages p;
	int id, fails = 0;

	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return 1;
	}
	mutex_lock(&dev->conn_lock);
	connects = dev->connects;
	refusals = dev->refusals;
	dev->deaf = true;
	mutex_unlock(&dev->conn_lock);
	if (x2mh_ring_raw(dev, 0x40000000, NULL, 0) ||
	    !wait_event_timeout(dev->wait, READ_ONCE(dev->refusals) != refusals, 10 * HZ)) {
		x2mh_note(dev, "Dom0 kept the connection; ");
		fails++;
	} else {
		/* The pages come back without any word from this side. */
		for (i = 0; i < 100 && freed < 3; i++) {
			if (p.refs[0] != INVALID_GRANT_REF && gnttab_try_end_foreign_access(p.refs[0])) {
				p.refs[0] = INVALID_GRANT_REF;
				freed++;
			}
			if (p.refs[1] != INVALID_GRANT_REF && gnttab_try_end_foreign_access(p.refs[1])) {
				p.refs[1] = INVALID_GRANT_REF;
				freed++;
			}
			down_write(&dev->conn_sem);
			if (dev->ring_ref != INVALID_GRANT_REF && gnttab_try_end_foreign_access(dev->ring_ref)) {
				dev->ring_ref = INVALID_GRANT_REF; /* the teardown frees the page */
				freed++;
			}
			up_write(&dev->conn_sem);
			if (freed < 3)
				msleep(100);
		}
		x2mh_note(dev, "Dom0 closed the connection and unmapped %u of the 3 pages checked "
			  "(endpoint %d's, the ring) without a word from this guest; ", freed, id);
		fails += freed != 3;
	}
	/* Now the guest answers the Closing, and connects again. */
	mutex_lock(&dev->conn_lock);
	dev->deaf = false;
	if (dev->closing_ignored) {
		dev->closing_ignored = false;
		x2mh_close_locked(dev);
	}
	mutex_unlock(&dev->conn_lock);
	x2mh_pages_free(&p);
	if (x2mh_wait_reconnected(dev, connects, 30 * HZ)) {
		x2mh_note(dev, "no new connection within 30 s; ");
		fails++;
	}
	return fails;
}

int x2mh_ring_overrun(struct x2mh_dev *dev)
{
	return x2mh_ring_lie(dev, 1, X2MX_TX_CHUNKS); /* 65 requests in a ring of 64 */
}

int x2mh_producer_jump(struct x2mh_dev *dev)
{
	return x2mh_ring_lie(dev, 0x40000000, 0);
}

int x2mh_producer_backwards(struct x2mh_dev *dev)
{
	return x2mh_ring_lie(dev, -5, 0);
}

/* A connection offered with bad keys: refused (closed), then a sound one accepted. */
static int x2mh_connect_fault(struct x2mh_dev *dev, enum x2mh_fault fault)
{
	unsigned int refused = 0;
	int ret = x2mh_reconnect(dev, fault, &refused);

	x2mh_note(dev, "refused %u time(s), %s; ", refused, ret ? "no sound connection within 30 s" : "connected again");
	return ret || !refused;
}

#define X2MH_CONNECT_FAULT(fn, fault) \
	int fn(struct x2mh_dev *dev) { return x2mh_connect_fault(dev, fault); }
X2MH_CONNECT_FAULT(x2mh_connect_version, X2MH_FAULT_VERSION)
X2MH_CONNECT_FAULT(x2mh_connect_chunk_pages, X2MH_FAULT_CHUNK_PAGES)
X2MH_CONNECT_FAULT(x2mh_connect_chunk_huge, X2MH_FAULT_CHUNK_HUGE)
X2MH_CONNECT_FAULT(x2mh_connect_ring_ref, X2MH_FAULT_RING_REF)
X2MH_CONNECT_FAULT(x2mh_connect_ring_ro, X2MH_FAULT_RING_RO)
X2MH_CONNECT_FAULT(x2mh_connect_pool_refs, X2MH_FAULT_POOL_REFS)
X2MH_CONNECT_FAULT(x2mh_connect_pool_ref, X2MH_FAULT_POOL_REF)
X2MH_CONNECT_FAULT(x2mh_connect_evtchn, X2MH_FAULT_EVTCHN)
X2MH_CONNECT_FAULT(x2mh_connect_missing, X2MH_FAULT_MISSING)
