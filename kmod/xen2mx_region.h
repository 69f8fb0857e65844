/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A memory region of an endpoint: pinned user pages a peer may pull, or
 * pages another module lent (a guest's grants mapped by xen2mx-back.ko),
 * which the receive path answers PULLs (pull.c) and KEY_PULLs (key_pull.c)
 * from, in PULL_REPLYs (pull_reply.c), while region.c registers and
 * releases them.
 */
#ifndef XEN2MX_REGION_H
#define XEN2MX_REGION_H

#include <linux/completion.h>
#include <linux/if_ether.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/types.h>

/* One byte range of the process's memory; the region is them end to end. */
struct x2m_region_seg {
	u64 start;             /* where its first byte is in the region */
	u64 len;
	unsigned int page;     /* its first page, in x2m_region.pages */
	unsigned int offset;   /* of its first byte in that page */
};

struct x2m_region {
	/*
	 * The endpoint's table holds one reference, each PULL being answered
	 * one more. The pages stay pinned while any is held; whoever takes
	 * the region out of the table waits for `idle`, which the last
	 * server signals. The structure itself outlives an RCU grace period,
	 * for servers that found it in the table as it was taken out.
	 */
	refcount_t users;
	struct completion idle;
	struct rcu_head rcu;

	struct mm_struct *mm;  /* user pages: charged for them (pinned_vm), grabbed */
	unsigned long charged; /* pages charged to it */
	/* Lent pages: given back by release(), called once nothing serves
	 * from them any more (the network stack may still hold references). */
	void (*release)(void *priv);
	void *release_priv;
	u32 id;                /* in its table: region id, or keyed slot */
	/* Keyed regions: KEY_PULLs name them by key, their bytes from base on. */
	bool keyed;
	u64 key;
	u64 base;
	/* Regions of the PULL table: the PULLs they answer. */
	u8 seq;
	u8 peer_endpoint;
	u8 peer_mac[ETH_ALEN];
	u16 peer_index;
	u32 reply_max;
	u32 replies_per_block;
	u64 length;
	unsigned int nr_pages;
	struct page **pages;
	unsigned int nr_segs;
	struct x2m_region_seg segs[];
};

/*
 * The page holding byte `offset` of the region (offset < length), where
 * that byte is in it, and how many bytes of its segment are left from it.
 */
static inline struct page *x2m_region_page(const struct x2m_region *r, u64 offset,
					   unsigned int *in_page, u64 *seg_left)
{
	unsigned int i;

	for (i = 0; i < r->nr_segs; i++) {
		const struct x2m_region_seg *s = &r->segs[i];
		u64 pos;

		if (offset >= s->start + s->len)
			continue;
		pos = s->offset + (offset - s->start);
		*in_page = offset_in_page(pos);
		*seg_left = s->start + s->len - offset;
		return r->pages[s->page + (pos >> PAGE_SHIFT)];
	}
	return NULL;
}

/* Where a PULL_REPLY goes and what it echoes: the same for every reply of one block. */
struct x2m_reply_to {
	const u8 *mac;         /* the puller's board */
	u16 peer_index;        /* written in the head (dst_src_peer_index) */
	u32 handle;
	u32 magic;
};

/*
 * Sends one PULL_REPLY carrying `len` bytes of the region from
 * `region_offset` on (inside it), saying they are the transfer's bytes
 * from `msg_offset` on, as frame `seqnum` of the block. Bottom halves off.
 */
void x2m_pull_reply(struct x2m_endpoint *ep, const struct x2m_region *r, const struct x2m_reply_to *to,
		    u64 region_offset, u32 msg_offset, unsigned int len, u8 seqnum);

#endif
