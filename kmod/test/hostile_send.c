// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks through SEND: lengths, segment lists, segments' grants, frames
 * xen2mx.ko refuses, and the receive ring's counters lying to Dom0.
 */
#include <linux/etherdevice.h>
#include <xen/page.h>

#include "hostile_attacks.h"

int x2mh_send_bad_fields(struct x2mh_dev *dev)
{
	u32 max_frame = dev->mtu + ETH_HLEN;
	struct x2mx_request req;
	struct x2mh_pages p;
	int id, fails = 0;
	u8 frame[128];

	x2mh_tiny(frame, sizeof(frame), dev->mac, 0, X2M_PKT_TINY);
	fails += x2mh_send_copy(dev, "send from endpoint 200, not open", 200, frame, 64, -ENOENT);
	fails += x2mh_send_copy(dev, "send from endpoint -1", -1, frame, 64, -ENOENT);
	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return fails + 1;
	}
	x2mh_tiny(frame, sizeof(frame), dev->mac, id, X2M_PKT_TINY);
	fails += x2mh_send_copy(dev, "total 10", id, frame, 10, -EINVAL);
	memset(&req, 0, sizeof(req));
	req.op = X2MX_OP_SEND;
	req.endpoint = id;
	req.u.send.linear = 64;
	req.u.send.total = max_frame + 1;
	fails += x2mh_expect(dev, "total past the MTU", &req, frame, 64, -EMSGSIZE);
	req.u.send.total = 0xffffffff;
	fails += x2mh_expect(dev, "total 2^32-1", &req, NULL, 0, -EMSGSIZE);
	req.u.send.linear = 100;
	req.u.send.total = 64;
	fails += x2mh_expect(dev, "linear past total", &req, NULL, 0, -EINVAL);
	req.u.send.linear = 0xffffffff;
	fails += x2mh_expect(dev, "linear 2^32-1", &req, NULL, 0, -EINVAL);
	req.u.send.linear = 20;
	req.u.send.total = 100;
	req.nr_segs = 1;
	fails += x2mh_expect(dev, "linear shorter than the headers", &req, NULL, 0, -EINVAL);
	req.u.send.linear = 64;
	req.nr_segs = X2MX_MAX_SEGS + 1;
	fails += x2mh_expect(dev, "18 segments", &req, NULL, 0, -EINVAL);
	req.nr_segs = 255;
	fails += x2mh_expect(dev, "255 segments", &req, NULL, 0, -EINVAL);
	req.nr_segs = 0;
	fails += x2mh_expect(dev, "no segment, linear < total", &req, NULL, 0, -EINVAL);
	req.nr_segs = 1;
	req.u.send.total = 64;
	fails += x2mh_expect(dev, "a segment, linear = total", &req, NULL, 0, -EINVAL);
	req.nr_segs = 0;
	req.chunk = X2MX_TX_CHUNKS;
	fails += x2mh_expect(dev, "chunk 64 (past the tx pool)", &req, NULL, 0, -EINVAL);
	req.chunk = 0xffff;
	fails += x2mh_expect(dev, "chunk 65535", &req, NULL, 0, -EINVAL);
	fails += x2mh_close_ep(dev, id, &p);
	return fails;
}

int x2mh_send_bad_segments(struct x2mh_dev *dev)
{
	struct x2mx_segment segs[2];
	struct x2mh_pages p, data;
	int id, fails = 0;
	u8 frame[64];

	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return 1;
	}
	if (x2mh_pages_grant(dev, &data, 1, dev->backend_id, true)) {
		x2mh_close_ep(dev, id, &p);
		return 1;
	}
	x2mh_tiny(frame, sizeof(frame), dev->mac, id, X2M_PKT_TINY);
	segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 0, .length = 0 };
	fails += x2mh_send_segs(dev, "segment of 0 bytes", id, frame, 64, segs, 1, 64, -EINVAL);
	segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 4000, .length = 200 };
	fails += x2mh_send_segs(dev, "segment past its page", id, frame, 64, segs, 1, 264, -EINVAL);
	segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 0xffff, .length = 0xffff };
	fails += x2mh_send_segs(dev, "segment at 65535, 65535 bytes", id, frame, 64, segs, 1, 64 + 0xffff, -EMSGSIZE);
	segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 0, .length = 100 };
	segs[1] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 100, .length = 100 };
	fails += x2mh_send_segs(dev, "segments longer than the frame", id, frame, 64, segs, 2, 64 + 150, -EINVAL);
	fails += x2mh_send_segs(dev, "segments shorter than the frame", id, frame, 64, segs, 2, 64 + 250, -EINVAL);
	x2mh_pages_free(&data);
	fails += x2mh_close_ep(dev, id, &p);
	return fails;
}

int x2mh_send_ungranted(struct x2mh_dev *dev)
{
	struct x2mx_segment segs[2];
	struct x2mh_pages p, data;
	unsigned long frames[8];
	unsigned int i, n;
	int id, ref, fails = 0;
	char what[64];
	u8 frame[64];

	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return 1;
	}
	x2mh_tiny(frame, sizeof(frame), dev->mac, id, X2M_PKT_TINY);
	segs[0] = (struct x2mx_segment){ .ref = x2mh_unused_ref(), .offset = 0, .length = 100 };
	fails += x2mh_send_segs(dev, "segment never granted", id, frame, 64, segs, 1, 164, -EACCES);
	x2mh_unused_ref_put(segs[0].ref);
	segs[0].ref = X2MH_REF_PAST_TABLE;
	fails += x2mh_send_segs(dev, "segment past the grant table", id, frame, 64, segs, 1, 164, -EACCES);

	if (!x2mh_pages_grant(dev, &data, 1, dev->backend_id, true)) {
		segs[0].ref = data.refs[0];
		segs[1] = (struct x2mx_segment){ .ref = x2mh_unused_ref(), .offset = 0, .length = 100 };
		fails += x2mh_send_segs(dev, "one good segment, one never granted", id, frame, 64, segs, 2, 264,
					-EACCES);
		x2mh_unused_ref_put(segs[1].ref);
		x2mh_pages_ungrant(&data);
		fails += x2mh_send_segs(dev, "segment revoked", id, frame, 64, segs, 1, 164, -EACCES);
		x2mh_pages_free(&data);
	} else {
		fails++;
	}
	if (!x2mh_pages_grant(dev, &data, 1, x2mh_self(), true)) {
		segs[0].ref = data.refs[0];
		fails += x2mh_send_segs(dev, "segment granted to another domain", id, frame, 64, segs, 1, 164,
					-EACCES);
		x2mh_pages_free(&data);
	} else {
		fails++;
	}
	n = x2mh_foreign_frames(frames, ARRAY_SIZE(frames));
	for (i = 0; i < n; i++) {
		ref = gnttab_grant_foreign_access(dev->backend_id, frames[i], 1);
		if (ref < 0)
			return fails + 1;
		segs[0].ref = ref;
		snprintf(what, sizeof(what), "segment on machine frame %#lx, not ours", frames[i]);
		fails += x2mh_send_segs(dev, what, id, frame, 64, segs, 1, 164, -EACCES);
		gnttab_end_foreign_access(ref, NULL);
	}
	fails += x2mh_close_ep(dev, id, &p);
	return fails;
}

/* Frames xen2mx.ko refuses to send, copied and zero-copy. */
int x2mh_send_refused(struct x2mh_dev *dev)
{
	static const u8 broadcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct x2mx_segment seg;
	struct x2mh_pages p, data;
	int id, fails = 0;
	u8 frame[64];

	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return 1;
	}
	x2mh_tiny(frame, sizeof(frame), dev->mac, id, X2M_PKT_RAW);
	fails += x2mh_send_copy(dev, "RAW frame", id, frame, 64, -EPROTONOSUPPORT);
	x2mh_tiny(frame, sizeof(frame), dev->mac, id, 200);
	fails += x2mh_send_copy(dev, "packet type 200", id, frame, 64, -EPROTONOSUPPORT);
	x2mh_tiny(frame, sizeof(frame), broadcast, id, X2M_PKT_TINY);
	fails += x2mh_send_copy(dev, "to broadcast", id, frame, 64, -EINVAL);
	if (!x2mh_pages_grant(dev, &data, 1, dev->backend_id, true)) {
		/* Mapped, refused, unmapped, answered: the grant is free again. */
		seg = (struct x2mx_segment){ .ref = data.refs[0], .offset = 0, .length = 500 };
		x2mh_tiny(frame, sizeof(frame), dev->mac, id, X2M_PKT_RAW);
		fails += x2mh_send_segs(dev, "RAW frame, zero-copy", id, frame, 64, &seg, 1, 564, -EPROTONOSUPPORT);
		if (!gnttab_try_end_foreign_access(data.refs[0])) {
			x2mh_note(dev, "its page still mapped after the answer; ");
			fails++;
		} else {
			data.refs[0] = INVALID_GRANT_REF;
		}
		x2mh_pages_free(&data);
	} else {
		fails++;
	}
	fails += x2mh_close_ep(dev, id, &p);
	return fails;
}

/*
 * The guest's own counters in its ctl page lie: the consumer index past
 * the producer, or the producer rewritten. Dom0 trusts only its own
 * producer and the room the consumer leaves.
 */
int x2mh_rx_ring_lies(struct x2mh_dev *dev)
{
	struct xen2mx_ring_ctl *ctl;
	struct x2mx_segment seg;
	struct x2mh_pages p, data;
	u32 before;
	int id, fails = 0;
	u8 frame[64];

	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, XEN2MX_OPEN_ANY_SESSION, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return 1;
	}
	ctl = page_address(p.pages[0]);
	x2mh_tiny(frame, sizeof(frame), dev->mac, id, X2M_PKT_TINY);

	before = READ_ONCE(ctl->rx_prod);
	WRITE_ONCE(ctl->rx_cons, before + 0x80000000u);
	fails += x2mh_send_copy(dev, "consumer 2^31 past the producer: frame", id, frame, 64, 0);
	if (READ_ONCE(ctl->rx_prod) != before) {
		x2mh_note(dev, "written all the same (rx_prod %u); ", READ_ONCE(ctl->rx_prod));
		fails++;
	}
	WRITE_ONCE(ctl->rx_cons, before - 2); /* two slots: full */
	fails += x2mh_send_copy(dev, "ring full: frame", id, frame, 64, 0);
	if (READ_ONCE(ctl->rx_prod) != before) {
		x2mh_note(dev, "written into a full ring; ");
		fails++;
	}
	WRITE_ONCE(ctl->rx_cons, before);
	WRITE_ONCE(ctl->rx_prod, 0x12345678);
	fails += x2mh_send_copy(dev, "producer rewritten: frame", id, frame, 64, 0);
	if (READ_ONCE(ctl->rx_prod) != before + 1) {
		x2mh_note(dev, "rx_prod %#x, not %u; ", READ_ONCE(ctl->rx_prod), before + 1);
		fails++;
	}
	/* A zero-copy frame to itself: delivered from the mapped segment, and
	 * the segment's grant free again once answered. */
	if (!x2mh_pages_grant(dev, &data, 1, dev->backend_id, true)) {
		memset(page_address(data.pages[0]), 0x5a, 300);
		seg = (struct x2mx_segment){ .ref = data.refs[0], .offset = 0, .length = 300 };
		WRITE_ONCE(ctl->rx_cons, before + 1);
		fails += x2mh_send_segs(dev, "zero-copy frame to itself", id, frame, 64, &seg, 1, 364, 0);
		if (READ_ONCE(ctl->rx_prod) != before + 2) {
			x2mh_note(dev, "not delivered (rx_prod %u); ", READ_ONCE(ctl->rx_prod));
			fails++;
		}
		if (!gnttab_try_end_foreign_access(data.refs[0])) {
			x2mh_note(dev, "its segment still mapped after the answer; ");
			fails++;
		} else {
			data.refs[0] = INVALID_GRANT_REF;
		}
		x2mh_pages_free(&data);
	}
	fails += x2mh_close_ep(dev, id, &p);
	return fails;
}
