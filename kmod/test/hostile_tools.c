// SPDX-License-Identifier: GPL-2.0
/*
 * What the attacks are made of: a request posted and its answer judged
 * against the errno a sound backend gives, receive rings Dom0 accepts,
 * frames, and grants naming what a guest has no right to name.
 */
#include <linux/etherdevice.h>
#include <linux/log2.h>
#include <xen/page.h>
#include <xen/xen.h>
#ifdef CONFIG_XEN_PV
#include <asm/xen/page.h>
#endif

#include "hostile_attacks.h"

void x2mh_note(struct x2mh_dev *dev, const char *fmt, ...)
{
	size_t used = strnlen(dev->notes, sizeof(dev->notes));
	va_list args;

	va_start(args, fmt);
	vsnprintf(dev->notes + used, sizeof(dev->notes) - used, fmt, args);
	va_end(args);
}

/* Posts `req` (with `len` bytes of `chunk_data` in its chunk first); 0 when answered `want`. */
int x2mh_expect(struct x2mh_dev *dev, const char *what, struct x2mx_request *req, const void *chunk_data,
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

unsigned int x2mh_slot_bytes(struct x2mh_dev *dev)
{
	return roundup_pow_of_two(sizeof(struct xen2mx_rx_slot) + dev->mtu + ETH_HLEN);
}

/* An OPEN of a receive ring the backend accepts: the ctl page and `nr_pages - 1` pages of slots. */
void x2mh_open_req(struct x2mh_dev *dev, struct x2mx_request *req, s32 endpoint, u32 nr_pages, u32 flags)
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
void x2mh_tiny(u8 *frame, size_t total, const u8 *mac, u8 ep, u8 ptype)
{
	memset(frame, 0, total);
	memcpy(frame, mac, ETH_ALEN);
	frame[12] = 0x86;
	frame[13] = 0xdf;
	frame[X2M_PTYPE_OFFSET] = ptype;
	frame[17] = ep;
}

/* A SEND of a whole frame copied into chunk 0; 0 when answered `want`. */
int x2mh_send_copy(struct x2mh_dev *dev, const char *what, s32 ep, const u8 *frame, u32 total, int want)
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
int x2mh_send_segs(struct x2mh_dev *dev, const char *what, s32 ep, const u8 *frame, u32 linear,
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
unsigned int x2mh_foreign_frames(unsigned long *frames, unsigned int max)
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

domid_t x2mh_self(void)
{
	return xenbus_read_unsigned("domid", "", DOMID_SELF);
}
