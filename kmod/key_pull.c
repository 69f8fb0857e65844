// SPDX-License-Identifier: GPL-2.0
/*
 * KEY_PULLs answered by the kernel: an RMA read naming a keyed region by
 * its key and the address its bytes start at (XEN2MX_IOC_KEYED_REGISTER)
 * is answered here with PULL_REPLY frames from the region's pinned pages,
 * so that it completes while the process that registered the region does
 * not run. The kernel answers only what it can answer exactly: a
 * well-formed KEY_PULL with the endpoint's session, whose whole read lies
 * in one keyed region and whose block fits the transfer and the board.
 * Anything else goes to the endpoint's ring unchanged: the process
 * answers or refuses it as it would without the kernel's help.
 *
 * Runs in the receive path: bottom halves off, under RCU.
 */
#include <linux/etherdevice.h>
#include <linux/skbuff.h>
#include <asm/unaligned.h>

#include "common/region_args.h"
#include "xen2mx_kernel.h"
#include "xen2mx_region.h"

/* Its fields, from the destination MAC (fi_xen2mx(7)). */
#define OFF_SESSION 20
#define OFF_TOTAL 24
#define OFF_KEY 28
#define OFF_ADDR 36
#define OFF_MAGIC X2M_OFF_PULL_MAGIC
#define OFF_HANDLE 48
#define OFF_BLOCK 52
#define OFF_FRAME_INDEX 56
#define OFF_REPLY_MAX 60
#define OFF_REPLY_PEER_INDEX 62

struct x2m_key_pull {
	u32 session;
	u32 total_length;
	u64 key;
	u64 addr;
	u32 magic;
	u32 handle;
	u32 block_length;
	u32 frame_index;
	u16 reply_max;
	u16 reply_peer_index;
};

static void x2m_key_pull_parse(const u8 *h, struct x2m_key_pull *k)
{
	k->session = get_unaligned_be32(h + OFF_SESSION);
	k->total_length = get_unaligned_be32(h + OFF_TOTAL);
	k->key = get_unaligned_be64(h + OFF_KEY);
	k->addr = get_unaligned_be64(h + OFF_ADDR);
	k->magic = get_unaligned_be32(h + OFF_MAGIC);
	k->handle = get_unaligned_be32(h + OFF_HANDLE);
	k->block_length = get_unaligned_be32(h + OFF_BLOCK);
	k->frame_index = get_unaligned_be32(h + OFF_FRAME_INDEX);
	k->reply_max = get_unaligned_be16(h + OFF_REPLY_MAX);
	k->reply_peer_index = get_unaligned_be16(h + OFF_REPLY_PEER_INDEX);
}

/*
 * Where the block lies in the read: [*start, *start + block_length).
 * False when the replies would not fit the board, the block is empty or
 * longer than XEN2MX_REGION_REPLIES_MAX replies, or it ends past the read.
 */
static bool x2m_key_pull_block(const struct x2m_endpoint *ep, const struct x2m_key_pull *k, u64 *start)
{
	unsigned int max_frame = READ_ONCE(ep->board->mtu) + ETH_HLEN;

	if (!x2m_region_reply_fits(k->reply_max, max_frame))
		return false;
	if (k->block_length == 0 || k->block_length > (u64)k->reply_max * XEN2MX_REGION_REPLIES_MAX)
		return false;
	*start = (u64)k->frame_index * k->reply_max;
	return *start + k->block_length <= k->total_length;
}

bool x2m_key_pull_serve(struct x2m_endpoint *ep, const u8 *eth, const struct sk_buff *skb)
{
	unsigned int length = ETH_HLEN + skb->len;
	u8 h[X2M_KEY_PULL_LEN];
	struct x2m_key_pull k;
	struct x2m_reply_to to;
	struct x2m_region *r;
	u64 start, done, in_region;
	unsigned int i;

	/* A KEY_PULL is its header alone; longer than that is not one the kernel reads. */
	if (!atomic_read(&ep->nr_keyed) || length != X2M_KEY_PULL_LEN)
		return false;
	memcpy(h, eth, ETH_HLEN);
	if (skb_copy_bits(skb, 0, h + ETH_HLEN, X2M_KEY_PULL_LEN - ETH_HLEN))
		return false;
	x2m_key_pull_parse(h, &k);
	if (k.session != ep->session || !x2m_key_pull_block(ep, &k, &start))
		return false;
	r = x2m_keyed_get(ep, k.key, k.addr, k.total_length);
	if (!r)
		return false;

	to.mac = h + ETH_ALEN;
	to.peer_index = k.reply_peer_index;
	to.handle = k.handle;
	to.magic = k.magic;
	/* The read's offsets are what the replies say; the region's are where the bytes are. */
	in_region = k.addr - r->base + start;
	for (i = 0, done = 0; done < k.block_length; i++, done += k.reply_max)
		x2m_pull_reply(ep, r, &to, in_region + done, start + done,
			       min_t(u64, k.reply_max, k.block_length - done), (u8)(k.frame_index + i));
	x2m_global_add(XEN2MX_CTR_PULLS_SERVED, 1);
	atomic64_inc(&ep->stats.pulls_served);
	x2m_region_put(r);
	return true;
}
