// SPDX-License-Identifier: GPL-2.0
/*
 * Nacks. A frame of a connection that names an endpoint not open here, or
 * a session the endpoint no longer has, is answered as MX answers it, so
 * that its sender learns at once what its timeout would tell it much
 * later: NACK_MCP for a PULL or a KEY_PULL, NACK_LIB for connect requests and sequenced
 * frames. Frames that are answers themselves (acks, connect replies, pull
 * replies, nacks) get none, so that two hosts never answer each other in a
 * loop; neither does a sender whose address is not unicast. Each board
 * sends at most nack_rate nacks a second; the others are counted only.
 */
#include <linux/etherdevice.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <asm/unaligned.h>

#include "xen2mx_kernel.h"

static unsigned int x2m_nack_rate = 100;
module_param_named(nack_rate, x2m_nack_rate, uint, 0644);
MODULE_PARM_DESC(nack_rate, "Nacks each board sends a second at most (0: none)");

#define X2M_NACK_LEN 32 /* NACK_LIB and NACK_MCP headers, padded to ETH_ZLEN on the wire */

/* Offsets of the fields the nacks echo, from the start of the frame. */
#define OFF_DST_EP 17
#define OFF_SRC_EP 18
#define OFF_SEQ 24            /* TINY, SMALL, MEDIUM, RNDV, CONNECT, RMA_REQUEST */
#define OFF_RMA_REPLY_SEQ 22
#define OFF_NOTIFY_SEQ 34
#define OFF_CONNECT_IS_REPLY 42
#define OFF_PULL_HANDLE 40    /* and the magic after it; MX's layout: 32 and 36 */
#define OFF_PULL_HANDLE_MX 32
#define OFF_KEY_PULL_MAGIC 44 /* and the handle after it */
/* In the nacks. */
#define OFF_NACK_SRC_EP 17
#define OFF_NACK_TYPE 19
#define OFF_NACK_LIB_DST_EP 25
#define OFF_NACK_LIB_SEQ 28
#define OFF_NACK_MCP_HANDLE 24
#define OFF_NACK_MCP_MAGIC 28

/* The seconds' budget of every board slot; nacks are rare, one lock will do. */
static DEFINE_SPINLOCK(x2m_nack_lock);
static struct {
	unsigned long second;  /* jiffies when the current second began */
	unsigned int sent;
} x2m_nack_budget[XEN2MX_MAX_BOARDS];

static bool x2m_nack_allowed(struct x2m_board *board)
{
	unsigned int rate = READ_ONCE(x2m_nack_rate);
	unsigned long now = jiffies;
	bool allowed;

	spin_lock(&x2m_nack_lock);
	if (time_after_eq(now, x2m_nack_budget[board->index].second + HZ)) {
		x2m_nack_budget[board->index].second = now;
		x2m_nack_budget[board->index].sent = 0;
	}
	allowed = x2m_nack_budget[board->index].sent < rate;
	if (allowed)
		x2m_nack_budget[board->index].sent++;
	spin_unlock(&x2m_nack_lock);
	return allowed;
}

/*
 * The PULL's handle and magic, whichever of the two layouts the puller
 * used: its kernel stamped the magic from its endpoint id, which the frame
 * also carries, so the layout whose magic matches that id is the one.
 */
static bool x2m_pull_echo(const u8 *h, u32 *handle, u32 *magic)
{
	u32 expected = h[OFF_SRC_EP] ^ X2M_PULL_MAGIC_XOR;

	if (get_unaligned_be32(h + OFF_PULL_HANDLE + 4) == expected) {
		*handle = get_unaligned_be32(h + OFF_PULL_HANDLE);
		*magic = expected;
		return true;
	}
	if (get_unaligned_be32(h + OFF_PULL_HANDLE_MX + 4) == expected) {
		*handle = get_unaligned_be32(h + OFF_PULL_HANDLE_MX);
		*magic = expected;
		return true;
	}
	return false;
}

static void x2m_nack_mcp_build(const u8 *h, u8 type, u32 handle, u32 magic, u8 *nack)
{
	nack[X2M_PTYPE_OFFSET] = X2M_PKT_NACK_MCP;
	nack[OFF_NACK_SRC_EP] = h[OFF_DST_EP];
	nack[OFF_NACK_TYPE] = type;
	put_unaligned_be32(handle, nack + OFF_NACK_MCP_HANDLE);
	put_unaligned_be32(magic, nack + OFF_NACK_MCP_MAGIC);
}

/* Writes the nack answering frame `h` into `nack`; false for frames that get none. */
static bool x2m_nack_build(const u8 *h, u8 type, u8 *nack)
{
	unsigned int seq_at;
	u32 handle, magic;

	switch (h[X2M_PTYPE_OFFSET]) {
	case X2M_PKT_CONNECT:
		if (h[OFF_CONNECT_IS_REPLY])
			return false;
		fallthrough;
	case X2M_PKT_TINY:
	case X2M_PKT_SMALL:
	case X2M_PKT_MEDIUM:
	case X2M_PKT_RNDV:
	case X2M_PKT_RMA_REQUEST:
		seq_at = OFF_SEQ;
		break;
	case X2M_PKT_RMA_REPLY:
		seq_at = OFF_RMA_REPLY_SEQ;
		break;
	case X2M_PKT_NOTIFY:
		seq_at = OFF_NOTIFY_SEQ;
		break;
	case X2M_PKT_PULL:
		if (!x2m_pull_echo(h, &handle, &magic))
			return false;
		x2m_nack_mcp_build(h, type, handle, magic, nack);
		return true;
	case X2M_PKT_KEY_PULL:
		/* Its sender's kernel stamped the magic; anything else is no puller's. */
		magic = get_unaligned_be32(h + OFF_KEY_PULL_MAGIC);
		if (magic != (h[OFF_SRC_EP] ^ X2M_PULL_MAGIC_XOR))
			return false;
		x2m_nack_mcp_build(h, type, get_unaligned_be32(h + OFF_KEY_PULL_MAGIC + 4), magic, nack);
		return true;
	default:
		return false;
	}
	nack[X2M_PTYPE_OFFSET] = X2M_PKT_NACK_LIB;
	nack[OFF_NACK_SRC_EP] = h[OFF_DST_EP];
	nack[OFF_NACK_TYPE] = type;
	nack[OFF_NACK_LIB_DST_EP] = h[OFF_SRC_EP];
	/* The peer indexes (offsets 14 and 26) stay 0: the kernel keeps no peer table. */
	memcpy(nack + OFF_NACK_LIB_SEQ, h + seq_at, 2);
	return true;
}

/* Sends it from the board; bottom halves are off. */
static void x2m_nack_send(struct x2m_board *board, const u8 *to, const u8 *nack)
{
	struct net_device *dev;
	struct sk_buff *skb;
	u8 *frame;
	int ret;

	skb = alloc_skb(board->headroom + ETH_ZLEN, GFP_ATOMIC);
	if (!skb) {
		x2m_count(board, XEN2MX_CTR_SEND_FAILED);
		return;
	}
	skb_reserve(skb, board->headroom);
	frame = skb_put_zero(skb, ETH_ZLEN);
	memcpy(frame + ETH_HLEN, nack + ETH_HLEN, X2M_NACK_LEN - ETH_HLEN);
	ether_addr_copy(frame, to);
	ether_addr_copy(frame + ETH_ALEN, board->mac);
	put_unaligned_be16(XEN2MX_ETHERTYPE, frame + 2 * ETH_ALEN);
	skb_reset_mac_header(skb);
	skb->protocol = htons(XEN2MX_ETHERTYPE);

	if (ether_addr_equal(to, board->mac)) {
		/* The sender is an endpoint of this board. A nack is never nacked:
		 * this goes one level deep at most. */
		__skb_pull(skb, ETH_HLEN);
		x2m_demux(board, skb);
		consume_skb(skb);
		x2m_global_add(XEN2MX_CTR_NACKS_SENT, 1);
		return;
	}
	rcu_read_lock();
	dev = rcu_dereference(board->dev);
	if (!dev) {
		rcu_read_unlock();
		kfree_skb(skb);
		return;
	}
	skb->dev = dev;
	skb_reset_network_header(skb);
	ret = dev_queue_xmit(skb);
	rcu_read_unlock();
	if (net_xmit_eval(ret))
		x2m_count(board, XEN2MX_CTR_SEND_FAILED);
	else
		x2m_global_add(XEN2MX_CTR_NACKS_SENT, 1);
}

/*
 * Answers the frame whose first bytes are `head` (X2M_DEMUX_BYTES of them,
 * zero past the frame's end), which the receive path dropped for `why`
 * (XEN2MX_CTR_DROP_NO_ENDPOINT or XEN2MX_CTR_DROP_SESSION); `endpoint` is
 * the id it names. Bottom halves are off.
 */
void x2m_nack(struct x2m_board *board, const u8 *head, unsigned int length, int endpoint, int why)
{
	u8 nack[X2M_NACK_LEN] = {};
	u8 type;

	if (why == XEN2MX_CTR_DROP_SESSION)
		type = X2M_NACK_BAD_SESSION;
	else if (why == XEN2MX_CTR_DROP_NO_ENDPOINT)
		type = endpoint < XEN2MX_MAX_ENDPOINTS ? X2M_NACK_ENDPOINT_CLOSED : X2M_NACK_BAD_ENDPOINT;
	else
		return;
	if (length < X2M_HEAD_LEN || !is_valid_ether_addr(head + ETH_ALEN))
		return;
	if (!x2m_nack_build(head, type, nack))
		return;
	if (!x2m_nack_allowed(board)) {
		x2m_global_add(XEN2MX_CTR_NACKS_LIMITED, 1);
		return;
	}
	x2m_nack_send(board, head + ETH_ALEN, nack);
}
