// SPDX-License-Identifier: GPL-2.0
/*
 * PULL_REPLY frames answered by the kernel from a region's pages, for a
 * PULL (pull.c) or a KEY_PULL (key_pull.c): the head is built here, a few
 * payload bytes are copied after it (x2m_transmit() reads that much from
 * the skb's head), the rest are the pinned pages themselves, attached as
 * fragments, unless the bytes are scattered over more pages than an skb
 * takes, when all of them are copied.
 *
 * Runs in the receive path: bottom halves off.
 */
#include <linux/etherdevice.h>
#include <linux/highmem.h>
#include <linux/skbuff.h>
#include <asm/unaligned.h>

#include "xen2mx_kernel.h"
#include "xen2mx_region.h"

#define X2M_PULL_REPLY_LEN 32

/* The reply's fields, from the destination MAC. */
#define OFF_REPLY_PEER_INDEX 14
#define OFF_REPLY_SEQNUM 17
#define OFF_REPLY_LENGTH 18
#define OFF_REPLY_OFFSET 20
#define OFF_REPLY_HANDLE 24
#define OFF_REPLY_MAGIC 28

/* Payload bytes copied into the reply's head: x2m_transmit() wants X2M_TX_HEAD_MIN there. */
#define X2M_REPLY_LINEAR (X2M_TX_HEAD_MIN - X2M_PULL_REPLY_LEN)

/* Copies `len` bytes of the region from `offset` on. */
static void x2m_region_copy(const struct x2m_region *r, u64 offset, u8 *to, unsigned int len)
{
	while (len) {
		unsigned int in_page, size;
		u64 seg_left;
		struct page *page = x2m_region_page(r, offset, &in_page, &seg_left);

		/* Callers stay inside the region (x2m_pull_block(), x2m_keyed_get()). */
		if (WARN_ON_ONCE(!page))
			return;
		size = min_t(u64, min_t(u64, len, seg_left), PAGE_SIZE - in_page);
		memcpy_from_page(to, page, in_page, size);
		to += size;
		offset += size;
		len -= size;
	}
}

/* The fragments bytes [offset, offset + len) of the region take. */
static unsigned int x2m_region_frags(const struct x2m_region *r, u64 offset, unsigned int len)
{
	unsigned int frags = 0;

	while (len) {
		unsigned int in_page, size;
		u64 seg_left;

		if (WARN_ON_ONCE(!x2m_region_page(r, offset, &in_page, &seg_left)))
			return U32_MAX;
		size = min_t(u64, min_t(u64, len, seg_left), PAGE_SIZE - in_page);
		offset += size;
		len -= size;
		frags++;
	}
	return frags;
}

void x2m_pull_reply(struct x2m_endpoint *ep, const struct x2m_region *r, const struct x2m_reply_to *to,
		    u64 offset, u32 msg_offset, unsigned int len, u8 seqnum)
{
	struct x2m_board *board = ep->board;
	struct x2m_tx_outcome outcome;
	unsigned int linear = min_t(unsigned int, len, X2M_REPLY_LINEAR);
	unsigned int frag = 0;
	struct sk_buff *skb;
	u64 at;
	u8 *f;
	int ret;

	/* A reply gathered from many small segments is copied instead. */
	if (len > linear && x2m_region_frags(r, offset + linear, len - linear) > MAX_SKB_FRAGS)
		linear = len;
	skb = alloc_skb(board->headroom + max_t(unsigned int, X2M_PULL_REPLY_LEN + linear, ETH_ZLEN), GFP_ATOMIC);
	if (!skb) {
		x2m_count(board, XEN2MX_CTR_SEND_FAILED);
		return;
	}
	skb_reserve(skb, board->headroom);
	f = skb_put_zero(skb, X2M_PULL_REPLY_LEN);
	/* To the puller; x2m_transmit() writes the source MAC and the ethertype. */
	ether_addr_copy(f, to->mac);
	put_unaligned_be16(to->peer_index, f + OFF_REPLY_PEER_INDEX);
	f[X2M_PTYPE_OFFSET] = X2M_PKT_PULL_REPLY;
	f[OFF_REPLY_SEQNUM] = seqnum;
	put_unaligned_be16(len, f + OFF_REPLY_LENGTH);
	put_unaligned_be32(msg_offset, f + OFF_REPLY_OFFSET);
	put_unaligned_be32(to->handle, f + OFF_REPLY_HANDLE);
	put_unaligned_be32(to->magic, f + OFF_REPLY_MAGIC);
	x2m_region_copy(r, offset, skb_put(skb, linear), linear);

	for (at = offset + linear; at < offset + len;) {
		unsigned int in_page, size;
		u64 seg_left;
		struct page *page = x2m_region_page(r, at, &in_page, &seg_left);

		if (WARN_ON_ONCE(!page)) {
			kfree_skb(skb);
			return;
		}
		size = min_t(u64, min_t(u64, offset + len - at, seg_left), PAGE_SIZE - in_page);
		/* The fragment's own reference: the page outlives the pin if the skb waits. */
		get_page(page);
		skb_fill_page_desc(skb, frag++, page, in_page, size);
		skb->len += size;
		skb->data_len += size;
		skb->truesize += size;
		at += size;
	}
	/* The process may write these pages while the skb waits in a queue. */
	if (frag)
		skb_shinfo(skb)->flags |= SKBFL_SHARED_FRAG;
	ret = x2m_transmit(ep, skb, &outcome);
	if (ret) {
		/* Longer than the board's MTU now: it shrank since the region came. */
		if (ret == -EMSGSIZE)
			x2m_count(board, XEN2MX_CTR_SEND_REFUSED);
		kfree_skb(skb); /* other refusals and a missing device are counted there */
	}
}
