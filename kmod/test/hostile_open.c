// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks through OPEN and CLOSE (and a bad opcode): what a receive ring
 * may be, whose grants it may name, which ids it may take, how many.
 */
#include <linux/slab.h>
#include <xen/page.h>

#include "hostile_attacks.h"

int x2mh_bad_opcodes(struct x2mh_dev *dev)
{
	static const u8 ops[] = { 0, 9, 99, 255 };
	struct x2mx_request req;
	char what[24];
	unsigned int i;
	int fails = 0;

	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		memset(&req, 0, sizeof(req));
		req.op = ops[i];
		snprintf(what, sizeof(what), "op %u", ops[i]);
		fails += x2mh_expect(dev, what, &req, NULL, 0, -EOPNOTSUPP);
	}
	return fails;
}

int x2mh_open_bad_geometry(struct x2mh_dev *dev)
{
	struct x2mx_request req;
	int fails = 0;

	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
	req.u.open.nr_pages = 0;
	fails += x2mh_expect(dev, "nr_pages 0", &req, NULL, 0, -EINVAL);
	req.u.open.nr_pages = 1;
	fails += x2mh_expect(dev, "nr_pages 1", &req, NULL, 0, -EINVAL);
	req.u.open.nr_pages = 0xffffffff;
	fails += x2mh_expect(dev, "nr_pages 2^32-1", &req, NULL, 0, -EINVAL);
	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 1026, 0);
	fails += x2mh_expect(dev, "nr_pages 1026 (refs past the chunk)", &req, NULL, 0, -EINVAL);
	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
	req.u.open.rx_slots = 3;
	fails += x2mh_expect(dev, "rx_slots 3", &req, NULL, 0, -EINVAL);
	req.u.open.rx_slots = 0;
	fails += x2mh_expect(dev, "rx_slots 0", &req, NULL, 0, -EINVAL);
	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
	req.u.open.rx_slots = PAGE_SIZE / 16;
	req.u.open.rx_slot_bytes = 16;
	fails += x2mh_expect(dev, "rx_slot_bytes 16 (no room for a frame)", &req, NULL, 0, -EINVAL);
	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
	req.u.open.rx_slots *= 4;
	fails += x2mh_expect(dev, "slots past the pages", &req, NULL, 0, -EINVAL);
	req.u.open.rx_slots = 0x80000000;
	req.u.open.rx_slot_bytes = 0x80000000;
	fails += x2mh_expect(dev, "rx_slots x rx_slot_bytes = 2^62", &req, NULL, 0, -EINVAL);
	return fails;
}

int x2mh_open_bad_fields(struct x2mh_dev *dev)
{
	struct x2mx_request req;
	int fails = 0;

	x2mh_open_req(dev, &req, 255, 2, 0);
	fails += x2mh_expect(dev, "endpoint 255", &req, NULL, 0, -EINVAL);
	req.endpoint = -7;
	fails += x2mh_expect(dev, "endpoint -7", &req, NULL, 0, -EINVAL);
	req.endpoint = 0x7fffffff;
	fails += x2mh_expect(dev, "endpoint 2^31-1", &req, NULL, 0, -EINVAL);
	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0x80000000);
	fails += x2mh_expect(dev, "flags 0x80000000", &req, NULL, 0, -EINVAL);
	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
	req.chunk = X2MX_TX_CHUNKS;
	fails += x2mh_expect(dev, "chunk 64 (past the pool)", &req, NULL, 0, -EINVAL);
	req.chunk = 0xffff;
	fails += x2mh_expect(dev, "chunk 65535", &req, NULL, 0, -EINVAL);
	return fails;
}

/* OPEN naming the references `refs` (2): 0 when refused with EACCES. */
static int x2mh_open_refs(struct x2mh_dev *dev, const char *what, const grant_ref_t *refs)
{
	struct x2mx_request req;

	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
	return x2mh_expect(dev, what, &req, refs, 2 * sizeof(*refs), -EACCES);
}

int x2mh_open_ungranted(struct x2mh_dev *dev)
{
	struct x2mh_pages p;
	grant_ref_t refs[2];
	int fails = 0;

	refs[0] = x2mh_unused_ref();
	refs[1] = x2mh_unused_ref();
	fails += x2mh_open_refs(dev, "refs never granted", refs);
	x2mh_unused_ref_put(refs[0]);
	x2mh_unused_ref_put(refs[1]);
	refs[0] = X2MH_REF_PAST_TABLE;
	refs[1] = X2MH_REF_PAST_TABLE + 1;
	fails += x2mh_open_refs(dev, "refs past the grant table", refs);

	/* The first one good: mapped, then unmapped again when the second fails. */
	if (x2mh_pages_grant(dev, &p, 1, dev->backend_id, false))
		return fails + 1;
	refs[0] = p.refs[0];
	refs[1] = x2mh_unused_ref();
	fails += x2mh_open_refs(dev, "one good ref, one never granted", refs);
	x2mh_unused_ref_put(refs[1]);
	x2mh_pages_free(&p);

	if (x2mh_pages_grant(dev, &p, 2, dev->backend_id, false))
		return fails + 1;
	memcpy(refs, p.refs, sizeof(refs));
	x2mh_pages_ungrant(&p);
	fails += x2mh_open_refs(dev, "refs revoked", refs);
	x2mh_pages_free(&p);
	return fails;
}

int x2mh_open_wrong_grants(struct x2mh_dev *dev)
{
	unsigned long frames[8];
	unsigned int i, n;
	struct x2mh_pages p;
	grant_ref_t refs[2];
	char what[64];
	int fails = 0, ref;

	if (x2mh_pages_grant(dev, &p, 2, dev->backend_id, true))
		return 1;
	fails += x2mh_open_refs(dev, "pages granted read-only", p.refs);
	x2mh_pages_free(&p);

	if (x2mh_pages_grant(dev, &p, 2, x2mh_self(), false))
		return fails + 1;
	fails += x2mh_open_refs(dev, "pages granted to another domain", p.refs);
	x2mh_pages_free(&p);

	n = x2mh_foreign_frames(frames, ARRAY_SIZE(frames));
	if (!n)
		x2mh_note(dev, "(no machine frames to name: not a PV guest); ");
	for (i = 0; i < n; i++) {
		ref = gnttab_grant_foreign_access(dev->backend_id, frames[i], 0);
		if (ref < 0)
			return fails + 1;
		refs[0] = refs[1] = ref;
		snprintf(what, sizeof(what), "machine frame %#lx, not ours", frames[i]);
		fails += x2mh_open_refs(dev, what, refs);
		gnttab_end_foreign_access(ref, NULL);
	}
	return fails;
}

int x2mh_open_twice(struct x2mh_dev *dev)
{
	struct x2mx_request req;
	struct x2mh_pages p, q;
	int id, fails = 0;

	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return 1;
	}
	x2mh_note(dev, "opened %d; ", id);
	if (x2mh_pages_grant(dev, &q, 2, dev->backend_id, false))
		return 1;
	x2mh_open_req(dev, &req, id, 2, 0);
	fails += x2mh_expect(dev, "open of the same id", &req, q.refs, 2 * sizeof(grant_ref_t), -EADDRINUSE);
	x2mh_pages_free(&q);
	fails += x2mh_close_ep(dev, id, &p);
	memset(&req, 0, sizeof(req));
	req.op = X2MX_OP_CLOSE;
	req.endpoint = id;
	fails += x2mh_expect(dev, "close again", &req, NULL, 0, -ENOENT);
	req.endpoint = -1;
	fails += x2mh_expect(dev, "close -1", &req, NULL, 0, -ENOENT);
	req.endpoint = 255;
	fails += x2mh_expect(dev, "close 255", &req, NULL, 0, -ENOENT);
	req.endpoint = 0x7fffffff;
	fails += x2mh_expect(dev, "close 2^31-1", &req, NULL, 0, -ENOENT);
	return fails;
}

int x2mh_open_too_many(struct x2mh_dev *dev)
{
	unsigned int n = dev->max_endpoints, i, opened = 0;
	struct x2mh_pages *p, extra;
	struct x2mx_request req;
	int *ids, fails = 0;

	p = kcalloc(n, sizeof(*p), GFP_KERNEL);
	ids = kcalloc(n, sizeof(*ids), GFP_KERNEL);
	if (!p || !ids) {
		kfree(p);
		kfree(ids);
		return 1;
	}
	for (i = 0; i < n; i++) {
		ids[i] = x2mh_open_ep(dev, &p[i], XEN2MX_ANY_ENDPOINT, 0, NULL);
		if (ids[i] < 0) {
			x2mh_note(dev, "open %u of %u: %d; ", i + 1, n, ids[i]);
			fails++;
			break;
		}
		opened++;
	}
	x2mh_note(dev, "%u endpoints open; ", opened);
	if (opened == n && !x2mh_pages_grant(dev, &extra, 2, dev->backend_id, false)) {
		x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
		fails += x2mh_expect(dev, "one more", &req, extra.refs, 2 * sizeof(grant_ref_t), -EMFILE);
		x2mh_pages_free(&extra);
	}
	for (i = 0; i < opened; i++) {
		struct x2mx_request close = { .op = X2MX_OP_CLOSE, .endpoint = ids[i] };
		struct x2mx_response rsp;

		if (x2mh_call(dev, &close, &rsp) || rsp.status) {
			x2mh_note(dev, "close %d failed; ", ids[i]);
			fails++;
		}
		x2mh_pages_free(&p[i]);
	}
	kfree(p);
	kfree(ids);
	return fails;
}

/* Two endpoints on the same two pages: Dom0 writes both into them, nothing else. */
int x2mh_open_aliased(struct x2mh_dev *dev)
{
	struct xen2mx_ring_ctl *ctl;
	struct x2mx_request req;
	struct x2mx_response rsp;
	struct x2mh_pages p;
	int ids[2], i, fails = 0;
	u8 frame[64];

	if (x2mh_pages_grant(dev, &p, 2, dev->backend_id, false))
		return 1;
	ctl = page_address(p.pages[0]);
	for (i = 0; i < 2; i++) {
		x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, XEN2MX_OPEN_ANY_SESSION);
		if (x2mh_chunk_write(dev, 0, 0, p.refs, 2 * sizeof(grant_ref_t)) || x2mh_call(dev, &req, &rsp) ||
		    rsp.status) {
			x2mh_note(dev, "open %d on the shared pages failed; ", i);
			x2mh_pages_free(&p);
			return fails + 1;
		}
		ids[i] = rsp.endpoint;
	}
	x2mh_note(dev, "endpoints %d and %d on the same pages; ", ids[0], ids[1]);
	x2mh_tiny(frame, sizeof(frame), dev->mac, ids[1], X2M_PKT_TINY);
	fails += x2mh_send_copy(dev, "frame 0 -> 1", ids[0], frame, sizeof(frame), 0);
	x2mh_tiny(frame, sizeof(frame), dev->mac, ids[0], X2M_PKT_TINY);
	fails += x2mh_send_copy(dev, "frame 1 -> 0", ids[1], frame, sizeof(frame), 0);
	x2mh_note(dev, "shared rx_prod %u; ", READ_ONCE(ctl->rx_prod));
	for (i = 0; i < 2; i++) {
		struct x2mx_request close = { .op = X2MX_OP_CLOSE, .endpoint = ids[i] };

		fails += x2mh_expect(dev, "close", &close, NULL, 0, 0);
	}
	x2mh_pages_free(&p);
	return fails;
}

/*
 * The endpoint's ctl page is the ring page itself: Dom0 writes the
 * endpoint's rx_prod over the request producer. The ring then lies, and a
 * sound backend gives up on it (or finds it still consistent): either way
 * this guest only.
 */
int x2mh_open_ctl_is_ring(struct x2mh_dev *dev)
{
	unsigned int connects = READ_ONCE(dev->connects), refusals = READ_ONCE(dev->refusals);
	struct x2mx_request req;
	struct x2mx_response rsp;
	struct x2mh_pages p;
	grant_ref_t refs[2];
	int ret;

	if (x2mh_pages_grant(dev, &p, 1, dev->backend_id, false))
		return 1;
	refs[0] = dev->ring_ref;
	refs[1] = p.refs[0];
	x2mh_open_req(dev, &req, XEN2MX_ANY_ENDPOINT, 2, 0);
	ret = x2mh_chunk_write(dev, 0, 0, refs, sizeof(refs)) ?: x2mh_call(dev, &req, &rsp);
	x2mh_note(dev, "open: %d, status %d; ", ret, ret ? 0 : rsp.status);
	if (!ret && !rsp.status) {
		struct x2mx_request close = { .op = X2MX_OP_CLOSE, .endpoint = rsp.endpoint };

		/* Answered, or the connection is gone by now. */
		ret = x2mh_call(dev, &close, &rsp);
		x2mh_note(dev, "close: %d; ", ret);
	}
	if (wait_event_timeout(dev->wait, READ_ONCE(dev->refusals) != refusals, 2 * HZ)) {
		x2mh_note(dev, "Dom0 closed the connection; ");
		ret = x2mh_wait_reconnected(dev, connects, 30 * HZ);
		x2mh_note(dev, "%s; ", ret ? "no new connection" : "connected again");
		x2mh_pages_free(&p);
		return ret ? 1 : 0;
	}
	x2mh_note(dev, "the connection held; ");
	x2mh_pages_free(&p);
	return 0;
}

/* While Dom0 maps an endpoint's pages the guest cannot take them back; after CLOSE's answer it can. */
int x2mh_revoke_while_mapped(struct x2mh_dev *dev)
{
	struct x2mx_request req;
	struct x2mh_pages p;
	int id, fails = 0;

	id = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		return 1;
	}
	if (gnttab_try_end_foreign_access(p.refs[0])) {
		x2mh_note(dev, "grant ended while Dom0 maps it; ");
		p.refs[0] = INVALID_GRANT_REF;
		fails++;
	} else {
		x2mh_note(dev, "in use while open; ");
	}
	memset(&req, 0, sizeof(req));
	req.op = X2MX_OP_CLOSE;
	req.endpoint = id;
	fails += x2mh_expect(dev, "close", &req, NULL, 0, 0);
	if (p.refs[0] != INVALID_GRANT_REF && !gnttab_try_end_foreign_access(p.refs[0])) {
		x2mh_note(dev, "still mapped after CLOSE was answered; ");
		fails++;
	} else {
		p.refs[0] = INVALID_GRANT_REF;
		x2mh_note(dev, "free once closed; ");
	}
	x2mh_pages_free(&p);
	return fails;
}
