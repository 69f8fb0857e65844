// SPDX-License-Identifier: GPL-2.0
/*
 * Sends from a guest. The request is checked here as xen2mx.ko checks it on
 * bare metal (same errors, same sender rules) before it goes to Dom0, which
 * checks and stamps it again. A copied send goes through a tx chunk and
 * returns at once. A zero-copy send (XEN2MX_SEND_ZEROCOPY) copies only the
 * first X2MF_ZC_LINEAR bytes; the pages of the rest are pinned and granted
 * read-only to Dom0, which lends them to its NIC; Dom0's answer says they
 * are unmapped again, and only then are the grants ended, the pages
 * unpinned and XEN2MX_EVENT_SEND_DONE posted. A send that returns 0 gets
 * exactly one event, a refused one none.
 */
#include <linux/etherdevice.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <xen/page.h>

#include "../common/event_queue.h"
#include "../common/iovec.h"
#include "front.h"

#define X2MF_ZC_LINEAR 128 /* as on bare metal: every header is copied */

struct x2mf_zc {
	struct x2mf_ep *ep;    /* holds a reference */
	u64 cookie;
	unsigned int accounted; /* pages counted in ep->pinned and the global counter */
	unsigned int nr_pages; /* pinned */
	unsigned int nr_refs;  /* granted, one per segment */
	struct page *pages[X2MX_MAX_SEGS];
	grant_ref_t refs[X2MX_MAX_SEGS];
};

/*
 * Dom0 answered (or the connection went): the grants end, the pages are
 * unpinned, the process is told. A page Dom0 would still map stays held
 * by its grant (x2mf_ungrant) until Xen lets it go.
 */
void x2mf_zc_finish(struct x2mf_zc *zc, bool report, int status)
{
	struct x2mf_ep *ep = zc->ep;
	unsigned int i;

	for (i = 0; i < zc->nr_refs; i++) {
		get_page(zc->pages[i]);
		x2mf_ungrant(zc->refs[i], zc->pages[i]);
	}
	if (zc->nr_pages)
		unpin_user_pages(zc->pages, zc->nr_pages);
	atomic_sub(zc->accounted, &ep->pinned);
	x2mf_global_add(XEN2MX_CTR_PAGES_PINNED, -(s64)zc->accounted);
	if (report)
		x2mf_endpoint_event(ep, XEN2MX_EVENT_SEND_DONE, status, zc->cookie);
	atomic_dec(&ep->zc_pending);
	x2mf_global_add(XEN2MX_CTR_ZEROCOPY_PENDING, -1);
	kfree(zc);
	x2mf_endpoint_put(ep);
}

/* Pins and grants the pages of bytes [skip, end), one segment per page. */
static int x2mf_grant_pages(struct x2mf_zc *zc, domid_t backend, const struct xen2mx_iovec *iov, u32 count,
			    u64 skip, struct x2mx_segment *segs)
{
	u32 i;

	for (i = 0; i < count; i++) {
		u64 base, len;
		int want, got, k, ref;

		if (!x2m_iov_past(&iov[i], &skip, &base, &len))
			continue;
		want = x2m_iov_span_pages(base, len);
		got = pin_user_pages_fast(base & PAGE_MASK, want, 0, zc->pages + zc->nr_pages);
		if (got > 0)
			zc->nr_pages += got;
		if (got != want)
			return got < 0 ? got : -EFAULT;
		for (k = 0; k < want; k++) {
			struct page *page = zc->pages[zc->nr_pages - want + k];
			unsigned int offset = k ? 0 : offset_in_page(base);
			unsigned int size = min_t(u64, len, PAGE_SIZE - offset);

			ref = gnttab_grant_foreign_access(backend, xen_page_to_gfn(page), 1);
			if (ref < 0)
				return ref;
			x2mf_global_add(XEN2MX_CTR_GRANTS_MAPPED, 1);
			segs[zc->nr_refs].ref = ref;
			segs[zc->nr_refs].offset = offset;
			segs[zc->nr_refs].length = size;
			zc->refs[zc->nr_refs++] = ref;
			len -= size;
		}
	}
	return 0;
}

/* The checks Dom0 would make, so that the process gets its error now. */
static int x2mf_check_frame(struct x2mf_ep *ep, const u8 *chunk, u64 linear, u64 total)
{
	struct x2m_sender_fields f;
	u8 head[X2M_SENDER_BYTES] = {};

	memcpy(head, chunk, min_t(u64, linear, sizeof(head)));
	if (!is_valid_ether_addr(head)) /* MXoE frames go to one board */
		return -EINVAL;
	return x2m_sender_fields(head[X2M_PTYPE_OFFSET], max_t(u64, total, ETH_ZLEN),
				 ep->flags & XEN2MX_OPEN_MX_COMPAT, &f);
}

int x2mf_send(struct x2mf_ep *ep, const struct xen2mx_send *req)
{
	struct x2mf_dev *dev = ep->dev;
	struct x2mx_request rq = { .op = X2MX_OP_SEND };
	struct xen2mx_iovec *iov;
	struct x2mf_zc *zc = NULL;
	bool zerocopy = req->flags & XEN2MX_SEND_ZEROCOPY;
	u64 total, linear, pages = 0;
	unsigned int slot;
	u8 *chunk;
	int ret;

	if (READ_ONCE(ep->dead))
		return -ENOTCONN;
	iov = x2m_iov_fetch(req, ep->max_frame, &total);
	if (IS_ERR(iov))
		return PTR_ERR(iov);

	if (!zerocopy) {
		ret = x2mf_lane_send(ep, iov, req->iov_count, total);
		if (ret) {
			kfree(iov);
			return ret < 0 ? ret : 0;
		}
	}

	linear = total;
	ret = -EAGAIN; /* room for its event, whatever else is in flight */
	if (zerocopy && x2m_evq_no_room(ep->ctl, ep->ev_entries, &ep->ev_prod, atomic_read(&ep->zc_pending)))
		goto out_iov;
	if (zerocopy && total > X2MF_ZC_LINEAR) {
		linear = X2MF_ZC_LINEAR;
		pages = x2m_iov_count_pages(iov, req->iov_count, linear);
		ret = -E2BIG; /* more pages than one frame or the limit can take */
		if (pages > X2MX_MAX_SEGS || pages > READ_ONCE(x2mf_pinned_pages))
			goto out_iov;
		ret = -EAGAIN;
		if (!x2m_iov_pin_budget(&ep->pinned, pages, READ_ONCE(x2mf_pinned_pages)))
			goto out_iov;
		x2mf_global_add(XEN2MX_CTR_PAGES_PINNED, pages);
		zc = kzalloc(sizeof(*zc), GFP_KERNEL);
		if (!zc) {
			atomic_sub(pages, &ep->pinned);
			x2mf_global_add(XEN2MX_CTR_PAGES_PINNED, -(s64)pages);
			ret = -ENOMEM;
			goto out_iov;
		}
		/* From here x2mf_zc_finish() undoes the accounting. */
		zc->accounted = pages;
		zc->ep = ep;
		kref_get(&ep->ref);
		zc->cookie = req->cookie;
		atomic_inc(&ep->zc_pending);
		x2mf_global_add(XEN2MX_CTR_ZEROCOPY_PENDING, 1);
	}

	ret = x2mf_slot_get(dev, ep->generation, zc ? X2MF_SLOT_ZC : X2MF_SLOT_COPY, true, &slot);
	if (ret)
		goto out_zc;
	chunk = x2mf_chunk(dev, slot);
	ret = x2m_iov_copy(chunk, iov, req->iov_count, linear);
	if (ret)
		goto out_slot;
	ret = x2mf_check_frame(ep, chunk, linear, total);
	if (ret) {
		atomic64_inc(&dev->refused);
		goto out_slot;
	}
	if (zc) {
		ret = x2mf_grant_pages(zc, dev->backend_id, iov, req->iov_count, linear,
				       (struct x2mx_segment *)(chunk + X2MX_SEGS_OFFSET(linear)));
		if (ret)
			goto out_slot;
	}
	rq.nr_segs = zc ? zc->nr_refs : 0;
	rq.endpoint = ep->id;
	rq.u.send.linear = linear;
	rq.u.send.total = total;
	x2mf_post(dev, slot, &rq, NULL, zc);
	kfree(iov);
	/* A short frame sent with the flag was copied: its memory is back. */
	if (zerocopy && !zc)
		x2mf_endpoint_event(ep, XEN2MX_EVENT_SEND_DONE, 0, req->cookie);
	return 0;

out_slot:
	x2mf_slot_put(dev, ep->generation, slot);
	up_read(&dev->conn_sem);
out_zc:
	if (zc)
		x2mf_zc_finish(zc, false, 0); /* never posted: no event */
out_iov:
	kfree(iov);
	return ret;
}
