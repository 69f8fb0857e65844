// SPDX-License-Identifier: GPL-2.0
/*
 * A guest sending as fast as it can: zero-copy frames of the largest size,
 * each in X2MX_MAX_SEGS granted segments, to a MAC no board has (so they
 * leave on Dom0's interface), a new request in every slot as soon as its
 * answer came. When Dom0's interface holds frames back (tc netem), every
 * slot is in flight with its segments mapped and Dom0 holds the ring back:
 * the state in which the test destroys this guest.
 */
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/kthread.h>
#include <linux/slab.h>

#include "../xen2mx_frame.h"
#include "hostile.h"

#define X2MH_FLOOD_HEAD 64

struct x2mh_flood {
	struct x2mh_dev *dev;
	int endpoint;
	struct x2mh_pages rx, data; /* the endpoint's ring; the segments' pages */
	u64 busy;                   /* chunks in flight, a bit each */
	struct x2mx_response rsps[X2MX_TX_CHUNKS];
};

static int x2mh_flood_post(struct x2mh_flood *f, unsigned int chunk)
{
	static const u8 nowhere[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x42 };
	struct x2mh_dev *dev = f->dev;
	u32 total = dev->mtu + ETH_HLEN, rest = total - X2MH_FLOOD_HEAD;
	struct x2mx_segment segs[X2MX_MAX_SEGS];
	struct x2mx_request req = {
		.op = X2MX_OP_SEND,
		.chunk = chunk,
		.endpoint = f->endpoint,
		.nr_segs = X2MX_MAX_SEGS,
		.u.send.linear = X2MH_FLOOD_HEAD,
		.u.send.total = total,
	};
	u8 head[X2MH_FLOOD_HEAD] = {};
	unsigned int i;

	memcpy(head, nowhere, ETH_ALEN);
	head[12] = 0x86;
	head[13] = 0xdf;
	head[X2M_PTYPE_OFFSET] = X2M_PKT_TINY;
	head[17] = 1;
	for (i = 0; i < X2MX_MAX_SEGS; i++) {
		u32 len = i + 1 < X2MX_MAX_SEGS ? rest / X2MX_MAX_SEGS : rest - (X2MX_MAX_SEGS - 1) * (rest / X2MX_MAX_SEGS);

		segs[i] = (struct x2mx_segment){ .ref = f->data.refs[i], .offset = 0, .length = len };
	}
	return x2mh_chunk_write(dev, chunk, 0, head, sizeof(head)) ?:
	       x2mh_chunk_write(dev, chunk, X2MX_SEGS_OFFSET(X2MH_FLOOD_HEAD), segs, sizeof(segs)) ?:
	       x2mh_post(dev, &req, 1);
}

static int x2mh_flood_thread(void *data)
{
	struct x2mh_flood *f = data;
	struct x2mh_dev *dev = f->dev;
	struct x2mx_response *rsps = f->rsps;
	unsigned int chunk;
	int got, i;

	while (!kthread_should_stop()) {
		while (~f->busy) {
			chunk = __ffs64(~f->busy);
			if (x2mh_flood_post(f, chunk))
				break;
			f->busy |= BIT_ULL(chunk);
			atomic64_inc(&dev->flood_posted);
		}
		got = x2mh_collect(dev, rsps, X2MX_TX_CHUNKS, HZ / 10);
		if (got < 0) {
			/* Gone: nothing more to do but wait to be stopped. */
			schedule_timeout_interruptible(HZ / 10);
			continue;
		}
		for (i = 0; i < got; i++) {
			if (rsps[i].chunk < X2MX_TX_CHUNKS)
				f->busy &= ~BIT_ULL(rsps[i].chunk);
			atomic64_inc(&dev->flood_answered);
		}
	}
	return 0;
}

/* Dom0's test says when: "go" in the device's xenstore node "flood". */
static bool x2mh_flood_go(struct x2mh_dev *dev)
{
	char *value = xenbus_read(XBT_NIL, dev->xb->nodename, "flood", NULL);
	bool go = !IS_ERR(value) && !strcmp(value, "go");

	if (!IS_ERR(value))
		kfree(value);
	return go;
}

/*
 * Starts the flood once Dom0's test said so (it looks at what the attacks
 * left first; 120 s at most); 0 once a whole ring of sends is posted.
 */
int x2mh_flood_start(struct x2mh_dev *dev)
{
	struct x2mh_flood *f;
	unsigned int i;
	int ret;

	if (dev->flood) {
		x2mh_note(dev, "already flooding; ");
		return 1;
	}
	for (i = 0; i < 1200 && !x2mh_flood_go(dev); i++)
		msleep(100);
	if (!x2mh_flood_go(dev)) {
		x2mh_note(dev, "no go from Dom0 (xenstore %s/flood) within 120 s; ", dev->xb->nodename);
		return 1;
	}
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return 1;
	f->dev = dev;
	ret = x2mh_pages_grant(dev, &f->data, X2MX_MAX_SEGS, dev->backend_id, true);
	if (ret)
		goto out_free;
	ret = x2mh_open_ep(dev, &f->rx, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (ret < 0) {
		x2mh_note(dev, "open: %d; ", ret);
		goto out_data;
	}
	f->endpoint = ret;
	dev->flood = kthread_run(x2mh_flood_thread, f, "xen2mx-flood");
	if (IS_ERR(dev->flood)) {
		ret = PTR_ERR(dev->flood);
		dev->flood = NULL;
		x2mh_close_ep(dev, f->endpoint, &f->rx);
		goto out_data;
	}
	dev->flood_state = f;
	wait_event_timeout(dev->wait, atomic64_read(&dev->flood_posted) >= X2MX_TX_CHUNKS, 10 * HZ);
	x2mh_note(dev, "endpoint %d: %lld zero-copy sends of %u segments posted, %lld answered; ", f->endpoint,
		  (long long)atomic64_read(&dev->flood_posted), X2MX_MAX_SEGS,
		  (long long)atomic64_read(&dev->flood_answered));
	return atomic64_read(&dev->flood_posted) >= X2MX_TX_CHUNKS ? 0 : 1;

out_data:
	x2mh_pages_free(&f->data);
out_free:
	kfree(f);
	return 1;
}

/* Stops it (module removal); what Dom0 still maps is ended later. */
void x2mh_flood_stop(struct x2mh_dev *dev)
{
	struct x2mh_flood *f = dev->flood_state;

	if (!dev->flood)
		return;
	kthread_stop(dev->flood);
	dev->flood = NULL;
	x2mh_collect(dev, NULL, x2mh_ring_pending(dev), 5 * HZ);
	x2mh_close_ep(dev, f->endpoint, &f->rx);
	x2mh_pages_free(&f->data);
	kfree(f);
	dev->flood_state = NULL;
}
