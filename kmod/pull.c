// SPDX-License-Identifier: GPL-2.0
/*
 * PULLs answered by the kernel: a PULL naming a memory region the endpoint
 * registered (its id and generation), from the one peer endpoint allowed
 * to pull it and with the endpoint's session, is answered here with
 * PULL_REPLY frames whose payload is the region's pinned pages, attached
 * as fragments; the process is not involved and need not run. Any other
 * PULL goes to the endpoint's ring, where the process answers it. A PULL
 * for a held region that asks for bytes outside it, or that is malformed,
 * gets nothing, as the provider's engine does, and is counted.
 *
 * Runs in the receive path: bottom halves off, under RCU.
 */
#include <linux/etherdevice.h>
#include <linux/skbuff.h>
#include <asm/unaligned.h>

#include "xen2mx_kernel.h"
#include "xen2mx_region.h"

/* Header lengths, from the destination MAC. */
#define X2M_PULL_LEN 60          /* Open-MX's layout */
#define X2M_PULL_LEN_MX 48       /* MX's */

/* Offsets both layouts share. */
#define OFF_SRC_EP 18
#define OFF_SESSION 20
#define OFF_TOTAL 24

struct x2m_pull {
	u32 session;
	u32 total_length;
	u32 rdma_id;
	u8 rdma_seq;
	u32 rdma_offset;
	u32 handle;
	u32 magic;
	u32 first_frame_offset;
	u32 block_length;
	u32 frame_index;
};

static void x2m_pull_parse(const u8 *h, bool mx, struct x2m_pull *p)
{
	p->session = get_unaligned_be32(h + OFF_SESSION);
	p->total_length = get_unaligned_be32(h + OFF_TOTAL);
	if (mx) {
		p->rdma_id = h[28];
		p->rdma_seq = h[29];
		p->rdma_offset = get_unaligned_be16(h + 30);
		p->handle = get_unaligned_be32(h + 32);
		p->magic = get_unaligned_be32(h + 36);
		p->first_frame_offset = get_unaligned_be16(h + 40);
		p->block_length = get_unaligned_be16(h + 42);
		p->frame_index = get_unaligned_be32(h + 44);
	} else {
		p->rdma_id = get_unaligned_be32(h + 28);
		p->rdma_seq = h[32];
		p->rdma_offset = get_unaligned_be32(h + 36);
		p->handle = get_unaligned_be32(h + 40);
		p->magic = get_unaligned_be32(h + 44);
		p->first_frame_offset = get_unaligned_be32(h + 48);
		p->block_length = get_unaligned_be32(h + 52);
		p->frame_index = get_unaligned_be32(h + 56);
	}
}

/*
 * Where the block the PULL asks for lies in the region: [*start, *end).
 * False when it does not lie inside both the transfer and the region, by
 * the rules the provider's engine applies to the PULLs it answers.
 */
static bool x2m_pull_block(const struct x2m_region *r, const struct x2m_pull *p, u64 *start, u64 *end)
{
	u64 block_max = (u64)r->reply_max * r->replies_per_block;
	u64 base, skipped;

	if (p->block_length == 0 || p->block_length > block_max)
		return false;
	if (p->first_frame_offset >= r->reply_max)
		return false;
	if ((u64)p->first_frame_offset + p->block_length > block_max)
		return false;
	base = (u64)p->frame_index * r->reply_max + p->first_frame_offset;
	skipped = p->rdma_offset % r->reply_max;
	if (base < skipped)
		return false;
	*start = base - skipped;
	*end = *start + p->block_length;
	return *end <= p->total_length && *end <= r->length && p->total_length <= r->length;
}

bool x2m_pull_serve(struct x2m_endpoint *ep, const u8 *eth, const struct sk_buff *skb)
{
	bool mx = ep->flags & XEN2MX_OPEN_MX_COMPAT;
	unsigned int header = mx ? X2M_PULL_LEN_MX : X2M_PULL_LEN;
	unsigned int length = ETH_HLEN + skb->len;
	u8 h[X2M_PULL_LEN];
	struct x2m_region *r;
	struct x2m_reply_to to;
	struct x2m_pull p;
	u64 start, end, offset;
	u32 frame_index;

	if (!atomic_read(&ep->nr_regions) || length < header)
		return false;
	memcpy(h, eth, ETH_HLEN);
	if (skb_copy_bits(skb, 0, h + ETH_HLEN, header - ETH_HLEN))
		return false;
	x2m_pull_parse(h, mx, &p);
	if (p.session != ep->session)
		return false;
	r = x2m_region_get(ep, p.rdma_id);
	if (!r)
		return false;
	if (r->seq != p.rdma_seq || h[OFF_SRC_EP] != r->peer_endpoint || !ether_addr_equal(h + ETH_ALEN, r->peer_mac)) {
		/* Not the pull this region was registered for: the process judges it. */
		x2m_region_put(r);
		return false;
	}

	/* A PULL is its header alone, padded to the shortest Ethernet frame. */
	if ((length > header && length > ETH_ZLEN) || !x2m_pull_block(r, &p, &start, &end)) {
		x2m_global_add(XEN2MX_CTR_PULL_ERRORS, 1);
		atomic64_inc(&ep->stats.drops);
		x2m_region_put(r);
		return true;
	}
	to.mac = h + ETH_ALEN;
	to.peer_index = r->peer_index;
	to.handle = p.handle;
	to.magic = p.magic;
	frame_index = p.frame_index;
	/* The region holds the whole transfer: its offsets are the message's. */
	for (offset = start; offset < end; offset += r->reply_max, frame_index++)
		x2m_pull_reply(ep, r, &to, offset, offset, min_t(u64, r->reply_max, end - offset), frame_index);
	x2m_global_add(XEN2MX_CTR_PULLS_SERVED, 1);
	atomic64_inc(&ep->stats.pulls_served);
	x2m_region_put(r);
	return true;
}
