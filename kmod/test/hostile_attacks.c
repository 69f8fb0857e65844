// SPDX-License-Identifier: GPL-2.0
/*
 * The attacks. Each one sends Dom0's backend what a broken or malicious
 * guest would and judges the answer against what a sound backend does:
 * the errno of xen2mx_xenbus.h's checks for a bad request, closing the
 * connection for a broken ring or bad keys. After each one the runner
 * checks that the backend still serves this guest (a bad opcode answered
 * with EOPNOTSUPP), over a new connection when the old one was closed.
 * Dom0's side of the verdict (its log, its grant mappings, the other
 * guests) is the test script's.
 */
#include <linux/etherdevice.h>
#include <linux/delay.h>
#include <linux/log2.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <xen/page.h>
#include <xen/xen.h>
#ifdef CONFIG_XEN_PV
#include <asm/xen/page.h>
#endif

#include "../xen2mx_frame.h"
#include "hostile.h"

void x2mh_note(struct x2mh_dev *dev, const char *fmt, ...)
{
	size_t used = strnlen(dev->notes, sizeof(dev->notes));
	va_list args;

	va_start(args, fmt);
	vsnprintf(dev->notes + used, sizeof(dev->notes) - used, fmt, args);
	va_end(args);
}

/* ------------------------------------------------------------ helpers */

/* Posts `req` (with `len` bytes of `chunk_data` in its chunk first); 0 when answered `want`. */
static int x2mh_expect(struct x2mh_dev *dev, const char *what, struct x2mx_request *req, const void *chunk_data,
		       size_t len, int want)
{
	struct x2mx_response rsp;
	int ret;

	if (len) {
		ret = x2mh_chunk_write(dev, req->chunk, 0, chunk_data, len);
		if (ret) {
			x2mh_note(dev, "%s: chunk not written (%d); ", what, ret);
			return 1;
		}
	}
	ret = x2mh_call(dev, req, &rsp);
	if (ret) {
		x2mh_note(dev, "%s: no answer (%d); ", what, ret);
		return 1;
	}
	if (rsp.status != want) {
		x2mh_note(dev, "%s: status %d, not %d; ", what, rsp.status, want);
		return 1;
	}
	x2mh_note(dev, "%s: %d; ", what, rsp.status);
	return 0;
}

static unsigned int x2mh_slot_bytes(struct x2mh_dev *dev)
{
	return roundup_pow_of_two(sizeof(struct xen2mx_rx_slot) + dev->mtu + ETH_HLEN);
}

/* An OPEN of a receive ring the backend accepts: the ctl page and `nr_pages - 1` pages of slots. */
static void x2mh_open_req(struct x2mh_dev *dev, struct x2mx_request *req, s32 endpoint, u32 nr_pages, u32 flags)
{
	memset(req, 0, sizeof(*req));
	req->op = X2MX_OP_OPEN;
	req->endpoint = endpoint;
	req->flags = flags;
	req->u.open.nr_pages = nr_pages;
	req->u.open.rx_slot_bytes = x2mh_slot_bytes(dev);
	req->u.open.rx_slots = (nr_pages - 1) * PAGE_SIZE / req->u.open.rx_slot_bytes;
}

/* Opens an endpoint on two fresh pages (`p`); its id, or a negative errno. */
int x2mh_open_ep(struct x2mh_dev *dev, struct x2mh_pages *p, s32 wanted, u32 flags, u32 *session)
{
	struct x2mx_request req;
	struct x2mx_response rsp;
	int ret;

	ret = x2mh_pages_grant(dev, p, 2, dev->backend_id, false);
	if (ret)
		return ret;
	x2mh_open_req(dev, &req, wanted, 2, flags);
	ret = x2mh_chunk_write(dev, 0, 0, p->refs, 2 * sizeof(grant_ref_t)) ?: x2mh_call(dev, &req, &rsp);
	if (!ret)
		ret = rsp.status;
	if (ret) {
		x2mh_pages_free(p);
		return ret;
	}
	if (session)
		*session = rsp.session;
	return rsp.endpoint;
}

int x2mh_close_ep(struct x2mh_dev *dev, s32 id, struct x2mh_pages *p)
{
	struct x2mx_request req = { .op = X2MX_OP_CLOSE, .endpoint = id };
	char what[32];
	int ret;

	snprintf(what, sizeof(what), "close %d", id);
	ret = x2mh_expect(dev, what, &req, NULL, 0, 0);
	x2mh_pages_free(p);
	return ret;
}

/* A TINY frame of `total` bytes to endpoint `ep` of `mac` (a board's MAC for loopback). */
static void x2mh_tiny(u8 *frame, size_t total, const u8 *mac, u8 ep, u8 ptype)
{
	memset(frame, 0, total);
	memcpy(frame, mac, ETH_ALEN);
	frame[12] = 0x86;
	frame[13] = 0xdf;
	frame[X2M_PTYPE_OFFSET] = ptype;
	frame[17] = ep;
}

/* A SEND of a whole frame copied into chunk 0; 0 when answered `want`. */
static int x2mh_send_copy(struct x2mh_dev *dev, const char *what, s32 ep, const u8 *frame, u32 total, int want)
{
	struct x2mx_request req = {
		.op = X2MX_OP_SEND,
		.endpoint = ep,
		.u.send.linear = total,
		.u.send.total = total,
	};

	return x2mh_expect(dev, what, &req, frame, total, want);
}

/* A SEND of `linear` bytes in chunk 0 and `nr` segments after them. */
static int x2mh_send_segs(struct x2mh_dev *dev, const char *what, s32 ep, const u8 *frame, u32 linear,
			  const struct x2mx_segment *segs, unsigned int nr, u32 total, int want)
{
	struct x2mx_request req = {
		.op = X2MX_OP_SEND,
		.endpoint = ep,
		.nr_segs = nr,
		.u.send.linear = linear,
		.u.send.total = total,
	};
	int ret = x2mh_chunk_write(dev, 0, X2MX_SEGS_OFFSET(linear), segs, nr * sizeof(*segs));

	if (ret) {
		x2mh_note(dev, "%s: chunk not written (%d); ", what, ret);
		return 1;
	}
	return x2mh_expect(dev, what, &req, frame, linear, want);
}

/* Frames of the machine that are not this guest's (PV: grants name machine frames). */
static unsigned int x2mh_foreign_frames(unsigned long *frames, unsigned int max)
{
	static const unsigned long candidates[] = { 0x0, 0x100, 0x1000, 0x10000, 0x7ffff, 0xfffffff };
	unsigned int i, n = 0;

#ifdef CONFIG_XEN_PV
	if (!xen_pv_domain())
		return 0;
	for (i = 0; i < ARRAY_SIZE(candidates) && n < max; i++) {
		unsigned long mfn = candidates[i], pfn = mfn_to_pfn(mfn);

		if (pfn < xen_start_info->nr_pages && pfn_to_mfn(pfn) == mfn)
			continue; /* one of ours after all */
		frames[n++] = mfn;
	}
#endif
	return n;
}

static domid_t x2mh_self(void)
{
	return xenbus_read_unsigned("domid", "", DOMID_SELF);
}

/* ------------------------------------------------------------ attacks */

static int x2mh_bad_opcodes(struct x2mh_dev *dev)
{
	static const u8 ops[] = { 0, 4, 99, 255 };
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

static int x2mh_open_bad_geometry(struct x2mh_dev *dev)
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

static int x2mh_open_bad_fields(struct x2mh_dev *dev)
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

static int x2mh_open_ungranted(struct x2mh_dev *dev)
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

static int x2mh_open_wrong_grants(struct x2mh_dev *dev)
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

static int x2mh_open_twice(struct x2mh_dev *dev)
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

static int x2mh_open_too_many(struct x2mh_dev *dev)
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
static int x2mh_open_aliased(struct x2mh_dev *dev)
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
static int x2mh_open_ctl_is_ring(struct x2mh_dev *dev)
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

static int x2mh_send_bad_fields(struct x2mh_dev *dev)
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

static int x2mh_send_bad_segments(struct x2mh_dev *dev)
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

static int x2mh_send_ungranted(struct x2mh_dev *dev)
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
static int x2mh_send_refused(struct x2mh_dev *dev)
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
static int x2mh_rx_ring_lies(struct x2mh_dev *dev)
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

/* While Dom0 maps an endpoint's pages the guest cannot take them back; after CLOSE's answer it can. */
static int x2mh_revoke_while_mapped(struct x2mh_dev *dev)
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

/* Whole rings of random bytes as requests: each answered, with an error. */
static int x2mh_garbage(struct x2mh_dev *dev)
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
static int x2mh_request_flood(struct x2mh_dev *dev)
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

static int x2mh_event_storm(struct x2mh_dev *dev)
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
static int x2mh_ring_lie_deaf(struct x2mh_dev *dev)
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
		x2mh_note(dev, "Dom0 closed the connection and unmapped %u of the 3 pages checked (endpoint %d's, the ring) without a word from this guest; ",
			  freed, id);
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

static int x2mh_ring_overrun(struct x2mh_dev *dev)
{
	return x2mh_ring_lie(dev, 1, X2MX_TX_CHUNKS); /* 65 requests in a ring of 64 */
}

static int x2mh_producer_jump(struct x2mh_dev *dev)
{
	return x2mh_ring_lie(dev, 0x40000000, 0);
}

static int x2mh_producer_backwards(struct x2mh_dev *dev)
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
	static int fn(struct x2mh_dev *dev) { return x2mh_connect_fault(dev, fault); }
X2MH_CONNECT_FAULT(x2mh_connect_version, X2MH_FAULT_VERSION)
X2MH_CONNECT_FAULT(x2mh_connect_chunk_pages, X2MH_FAULT_CHUNK_PAGES)
X2MH_CONNECT_FAULT(x2mh_connect_chunk_huge, X2MH_FAULT_CHUNK_HUGE)
X2MH_CONNECT_FAULT(x2mh_connect_ring_ref, X2MH_FAULT_RING_REF)
X2MH_CONNECT_FAULT(x2mh_connect_ring_ro, X2MH_FAULT_RING_RO)
X2MH_CONNECT_FAULT(x2mh_connect_pool_refs, X2MH_FAULT_POOL_REFS)
X2MH_CONNECT_FAULT(x2mh_connect_pool_ref, X2MH_FAULT_POOL_REF)
X2MH_CONNECT_FAULT(x2mh_connect_evtchn, X2MH_FAULT_EVTCHN)
X2MH_CONNECT_FAULT(x2mh_connect_missing, X2MH_FAULT_MISSING)

static int x2mh_flood(struct x2mh_dev *dev)
{
	return x2mh_flood_start(dev);
}

struct x2mh_attack_def {
	const char *name;
	int (*run)(struct x2mh_dev *dev); /* the number of checks that failed */
	bool listed;                      /* in `attacks` (the flood is run apart, last) */
};

static const struct x2mh_attack_def x2mh_attacks[] = {
	{ "bad-opcodes", x2mh_bad_opcodes, true },
	{ "open-bad-geometry", x2mh_open_bad_geometry, true },
	{ "open-bad-fields", x2mh_open_bad_fields, true },
	{ "open-ungranted", x2mh_open_ungranted, true },
	{ "open-wrong-grants", x2mh_open_wrong_grants, true },
	{ "open-twice-close-twice", x2mh_open_twice, true },
	{ "open-too-many", x2mh_open_too_many, true },
	{ "open-aliased-pages", x2mh_open_aliased, true },
	{ "send-bad-fields", x2mh_send_bad_fields, true },
	{ "send-bad-segments", x2mh_send_bad_segments, true },
	{ "send-ungranted-segments", x2mh_send_ungranted, true },
	{ "send-refused-frames", x2mh_send_refused, true },
	{ "rx-ring-lies", x2mh_rx_ring_lies, true },
	{ "revoke-while-mapped", x2mh_revoke_while_mapped, true },
	{ "garbage-requests", x2mh_garbage, true },
	{ "request-flood", x2mh_request_flood, true },
	{ "event-storm", x2mh_event_storm, true },
	{ "ring-overrun", x2mh_ring_overrun, true },
	{ "producer-jump", x2mh_producer_jump, true },
	{ "producer-backwards", x2mh_producer_backwards, true },
	{ "producer-jump-guest-deaf", x2mh_ring_lie_deaf, true },
	{ "open-ctl-is-ring", x2mh_open_ctl_is_ring, true },
	{ "connect-bad-version", x2mh_connect_version, true },
	{ "connect-chunk-pages-0", x2mh_connect_chunk_pages, true },
	{ "connect-chunk-pages-4096", x2mh_connect_chunk_huge, true },
	{ "connect-ring-never-granted", x2mh_connect_ring_ref, true },
	{ "connect-ring-read-only", x2mh_connect_ring_ro, true },
	{ "connect-pool-bad-ref", x2mh_connect_pool_refs, true },
	{ "connect-pool-list-never-granted", x2mh_connect_pool_ref, true },
	{ "connect-evtchn-not-ours", x2mh_connect_evtchn, true },
	{ "connect-missing-key", x2mh_connect_missing, true },
	{ "flood", x2mh_flood, false },
};

/* The backend still answers this guest: over a new connection if it closed the old one. */
static int x2mh_still_served(struct x2mh_dev *dev)
{
	struct x2mx_request req = { .op = 0 };
	struct x2mx_response rsp;
	int ret;

	if (!wait_event_timeout(dev->wait, READ_ONCE(dev->connected), 30 * HZ))
		return -ENOTCONN;
	ret = x2mh_collect(dev, NULL, x2mh_ring_pending(dev), 5 * HZ); /* answers still due */
	if (ret < 0)
		return ret;
	ret = x2mh_call(dev, &req, &rsp);
	if (ret)
		return ret;
	return rsp.status == -EOPNOTSUPP ? 0 : -EPROTO;
}

ssize_t x2mh_attack_list(char *buf)
{
	ssize_t n = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(x2mh_attacks); i++)
		if (x2mh_attacks[i].listed)
			n += sysfs_emit_at(buf, n, "%s\n", x2mh_attacks[i].name);
	return n;
}

/* Runs one attack and writes its verdict into dev->result; -ENOENT for no such attack. */
int x2mh_attack(struct x2mh_dev *dev, const char *name)
{
	const struct x2mh_attack_def *a = NULL;
	bool flood;
	unsigned int i;
	int fails, served = 0;

	for (i = 0; i < ARRAY_SIZE(x2mh_attacks); i++)
		if (!strcmp(x2mh_attacks[i].name, name))
			a = &x2mh_attacks[i];
	if (!a)
		return -ENOENT;
	flood = a->run == x2mh_flood;
	dev->notes[0] = '\0';
	if (!wait_event_timeout(dev->wait, READ_ONCE(dev->connected), 30 * HZ)) {
		snprintf(dev->result, sizeof(dev->result), "FAIL %s: not connected", a->name);
		return 0;
	}
	x2mh_collect(dev, NULL, x2mh_ring_pending(dev), 5 * HZ); /* answers still due */
	fails = a->run(dev);
	if (!flood) {
		served = x2mh_still_served(dev);
		if (served)
			x2mh_note(dev, "then not served any more (%d)", served);
		else
			x2mh_note(dev, "then still served");
	}
	snprintf(dev->result, sizeof(dev->result), "%s %s: %s", fails || served ? "FAIL" : "PASS", a->name,
		 dev->notes);
	return 0;
}
