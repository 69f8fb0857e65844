/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What xen2mx.ko offers other kernel modules (xen2mx-back.ko): boards,
 * endpoints whose frames go to a function of the caller instead of a ring
 * mapped by a process, and the send path. Everything a process would get
 * from /dev/xen2mx holds here too: the same demultiplexing, the same
 * stamping of the sender, the same counters.
 */
#ifndef XEN2MX_KAPI_H
#define XEN2MX_KAPI_H

#include <linux/if_ether.h>
#include <linux/skbuff.h>
#include <linux/types.h>

struct x2m_board;
struct x2m_endpoint;

/* Boards, by index (0 .. XEN2MX_MAX_BOARDS-1); NULL when none is attached there. */
struct x2m_board *x2m_board_get(unsigned int index);
void x2m_board_put(struct x2m_board *board);

struct x2m_board_desc {
	u8 mac[ETH_ALEN];
	unsigned int mtu;      /* payload bytes after the Ethernet header */
	unsigned int headroom; /* what skbs for the board's device should reserve */
	bool attached;         /* still on its interface */
};
void x2m_board_describe(struct x2m_board *board, struct x2m_board_desc *desc);

/* Where the received frames of a kernel-owned endpoint go. */
struct x2m_sink_ops {
	/*
	 * One frame for the endpoint: `eth` is its Ethernet header, skb->data
	 * what follows it (skb->len bytes). Called under RCU with bottom halves
	 * off, never after x2m_endpoint_close() returned. Returns 0 when the
	 * frame was taken, or the XEN2MX_CTR_DROP_* counter saying why not
	 * (the board counts either).
	 */
	int (*deliver)(struct x2m_endpoint *ep, void *priv, const u8 *eth, const struct sk_buff *skb);
};

#define X2M_OWNER_LEN 24

/*
 * Opens an endpoint on `board` (it takes a board reference of its own):
 * `wanted` an id or XEN2MX_ANY_ENDPOINT, `flags` XEN2MX_OPEN_*, `owner`
 * what listings show (e.g. "dom3"). Sleeps. 0 or -EINVAL, -ENODEV (the
 * board is detached), -EADDRINUSE, -ENOMEM.
 */
int x2m_endpoint_open_sink(struct x2m_board *board, int wanted, u32 flags,
			   const struct x2m_sink_ops *ops, void *priv, const char *owner,
			   struct x2m_endpoint **out);
u8 x2m_endpoint_id(const struct x2m_endpoint *ep);
u32 x2m_endpoint_session(const struct x2m_endpoint *ep);
/* Closes any endpoint; when it returns, no deliver() runs for it any more. Sleeps. */
void x2m_endpoint_close(struct x2m_endpoint *ep);

/* What became of a frame x2m_transmit() took. */
struct x2m_tx_outcome {
	bool loopback; /* to the board itself: demultiplexed at once */
	int delivery;  /* loopback: 0 delivered, or the XEN2MX_CTR_DROP_* counted */
	int lost;      /* 0, or the -errno of a device that dropped it (counted) */
};

/*
 * Sends one frame of the endpoint: skb->data is its Ethernet header, the
 * first min(len, X2M_TX_HEAD_MIN) bytes are in the skb's head (the rest may
 * be fragments, zero-copy ones included). Checks it, writes the sender
 * fields (source MAC, source endpoint, pull magic), hands frames for the
 * board itself straight to its receive path and the others to the device,
 * and counts. Process context, or the receive path itself (bottom halves
 * off) for the PULL_REPLYs the kernel answers from memory regions.
 *
 * Returns 0 when it took the skb (sent, delivered, or lost on the way as on
 * a wire: see *out), or a negative errno when it refused the frame (-EINVAL,
 * -EMSGSIZE, -EPROTONOSUPPORT) or has no device (-ENODEV): the skb is then
 * still the caller's.
 */
#define X2M_TX_HEAD_MIN 64
int x2m_transmit(struct x2m_endpoint *ep, struct sk_buff *skb, struct x2m_tx_outcome *out);

/*
 * Memory regions of a kernel-owned endpoint, from pages the caller holds
 * (a guest's grants mapped in Dom0): PULLs from the region's peer are
 * answered from them in the receive path, as for a process's regions.
 * `desc` is checked as XEN2MX_IOC_REGION_REGISTER checks it (its `segs`
 * pointer is not used; `seg_count` is the number of runs): each run is
 * `len` bytes from byte `offset` of pages[page] on, through the pages
 * that follow; the region is its runs end to end. The region takes a copy
 * of `pages` and calls release(priv) once it is deregistered (or its
 * endpoint closed) and nothing serves from it; skbs may still hold
 * references to the pages then. Sleeps. 0, or -EINVAL, -E2BIG, -EEXIST
 * (the id is taken), -ENOSPC (the module's region_pages), -ENOMEM; on
 * error release() is not called.
 */
struct x2m_region_run {
	u64 len;
	unsigned int page;
	unsigned int offset;
};
struct xen2mx_region;
int x2m_region_register_pages(struct x2m_endpoint *ep, const struct xen2mx_region *desc, struct page **pages,
			      unsigned int nr_pages, const struct x2m_region_run *runs, void (*release)(void *priv),
			      void *priv);
/* 0, or -EINVAL, -ENOENT. Sleeps until no PULL is being answered from it. */
int x2m_region_deregister(struct x2m_endpoint *ep, u32 id);

/* Grant pages another module maps now (XEN2MX_CTR_GRANTS_MAPPED). */
void x2m_grants_mapped_add(long pages);

#endif
