// SPDX-License-Identifier: GPL-2.0
/*
 * The receive path: every MXoE frame reaching a board goes to the one
 * endpoint it is addressed to, and only when it names that endpoint's
 * current session; everything else is counted and dropped here, so a
 * process never sees frames meant for another.
 */
#include <linux/etherdevice.h>
#include <linux/if_packet.h>
#include <linux/skbuff.h>
#include <asm/unaligned.h>

#include "xen2mx_kernel.h"

/* Frame offsets (from the destination MAC) of the fields the demux reads. */
#define OFF_DST_EP 17
#define OFF_MSG_SESSION 36   /* TINY, SMALL, MEDIUM, RNDV */
#define OFF_SESSION_20 20    /* PULL, NOTIFY (KEY_PULL: see x2m_key_pull_serve()) */
#define OFF_TRUC_SESSION 24
#define OFF_CONNECT_SESSION 32 /* a reply echoes the requester's session */
#define OFF_CONNECT_IS_REPLY 42
#define OFF_NACK_LIB_DST_EP 25
#define OFF_MAGIC 28         /* PULL_REPLY, NACK_MCP: the puller's magic */
#define OFF_RMA_SESSION 28   /* RMA_REQUEST, RMA_REPLY */
#define X2M_DEMUX_BYTES 52   /* enough for every field above, and what nacks echo */

/*
 * Where the frame goes: sets *endpoint and, when the type carries the
 * target's session, *session. Returns 0 or the counter that says why not.
 */
static int x2m_classify(const u8 *h, unsigned int length, int *endpoint, u32 *session,
			bool *has_session)
{
	u32 magic;

	*has_session = false;
	switch (h[X2M_PTYPE_OFFSET]) {
	case X2M_PKT_TINY:
	case X2M_PKT_SMALL:
	case X2M_PKT_MEDIUM:
	case X2M_PKT_RNDV:
		if (length < 40)
			return XEN2MX_CTR_DROP_SHORT;
		*endpoint = h[OFF_DST_EP];
		*session = get_unaligned_be32(h + OFF_MSG_SESSION);
		*has_session = true;
		return 0;
	case X2M_PKT_PULL:
	case X2M_PKT_NOTIFY:
		if (length < 24)
			return XEN2MX_CTR_DROP_SHORT;
		*endpoint = h[OFF_DST_EP];
		*session = get_unaligned_be32(h + OFF_SESSION_20);
		*has_session = true;
		return 0;
	case X2M_PKT_KEY_PULL:
		/*
		 * Its session is judged where it is answered (key_pull.c): the
		 * kernel answers only those with the endpoint's own and hands
		 * any other to the process, which answers or refuses it.
		 */
		if (length < 24)
			return XEN2MX_CTR_DROP_SHORT;
		*endpoint = h[OFF_DST_EP];
		return 0;
	case X2M_PKT_TRUC:
		if (length < 28)
			return XEN2MX_CTR_DROP_SHORT;
		*endpoint = h[OFF_DST_EP];
		*session = get_unaligned_be32(h + OFF_TRUC_SESSION);
		*has_session = true;
		return 0;
	case X2M_PKT_CONNECT:
		if (length < 48)
			return XEN2MX_CTR_DROP_SHORT;
		*endpoint = h[OFF_DST_EP];
		if (h[OFF_CONNECT_IS_REPLY]) {
			*session = get_unaligned_be32(h + OFF_CONNECT_SESSION);
			*has_session = true;
		}
		return 0;
	case X2M_PKT_NACK_LIB:
		if (length < 32)
			return XEN2MX_CTR_DROP_SHORT;
		*endpoint = h[OFF_NACK_LIB_DST_EP];
		return 0;
	case X2M_PKT_RMA_REQUEST:
	case X2M_PKT_RMA_REPLY:
		if (length < 48)
			return XEN2MX_CTR_DROP_SHORT;
		*endpoint = h[OFF_DST_EP];
		*session = get_unaligned_be32(h + OFF_RMA_SESSION);
		*has_session = true;
		return 0;
	case X2M_PKT_PULL_REPLY:
	case X2M_PKT_NACK_MCP:
		if (length < 32)
			return XEN2MX_CTR_DROP_SHORT;
		magic = get_unaligned_be32(h + OFF_MAGIC) ^ X2M_PULL_MAGIC_XOR;
		if (magic >= XEN2MX_MAX_ENDPOINTS)
			return XEN2MX_CTR_DROP_NO_ENDPOINT;
		*endpoint = magic;
		return 0;
	default:
		return XEN2MX_CTR_DROP_PTYPE;
	}
}

/*
 * Hands one frame to its endpoint. skb->data is the byte after the Ethernet
 * header, which skb_mac_header() points to. Runs with bottom halves off.
 * Returns 0 when the frame was delivered, or the drop counter it counted.
 */
int x2m_demux(struct x2m_board *board, struct sk_buff *skb)
{
	u8 buffer[X2M_DEMUX_BYTES];
	const u8 *eth = skb_mac_header(skb);
	unsigned int length = ETH_HLEN + skb->len;
	unsigned int body = min_t(unsigned int, skb->len, X2M_DEMUX_BYTES - ETH_HLEN);
	struct x2m_endpoint *ep;
	bool has_session;
	u32 session = 0;
	int endpoint = -1, why;

	if (length < X2M_HEAD_LEN) {
		x2m_count(board, XEN2MX_CTR_DROP_SHORT);
		return XEN2MX_CTR_DROP_SHORT;
	}
	memset(buffer, 0, sizeof(buffer));
	memcpy(buffer, eth, ETH_HLEN);
	if (skb_copy_bits(skb, 0, buffer + ETH_HLEN, body)) {
		x2m_count(board, XEN2MX_CTR_DROP_SHORT);
		return XEN2MX_CTR_DROP_SHORT;
	}
	why = x2m_classify(buffer, length, &endpoint, &session, &has_session);
	if (why) {
		x2m_count(board, why);
		return why;
	}
	if (endpoint < 0 || endpoint >= XEN2MX_MAX_ENDPOINTS) {
		x2m_count(board, XEN2MX_CTR_DROP_NO_ENDPOINT);
		x2m_nack(board, buffer, length, endpoint, XEN2MX_CTR_DROP_NO_ENDPOINT);
		return XEN2MX_CTR_DROP_NO_ENDPOINT;
	}
	rcu_read_lock();
	ep = rcu_dereference(board->endpoints[endpoint]);
	if (!ep) {
		why = XEN2MX_CTR_DROP_NO_ENDPOINT;
		x2m_count(board, why);
	} else if (has_session && session != ep->session && !(ep->flags & XEN2MX_OPEN_ANY_SESSION)) {
		why = XEN2MX_CTR_DROP_SESSION;
		x2m_count(board, why);
		atomic64_inc(&ep->stats.drops);
	} else if (buffer[X2M_PTYPE_OFFSET] == X2M_PKT_PULL && x2m_pull_serve(ep, eth, skb)) {
		why = 0; /* answered from a memory region, or dropped there and counted */
	} else if (buffer[X2M_PTYPE_OFFSET] == X2M_PKT_KEY_PULL && x2m_key_pull_serve(ep, eth, skb)) {
		why = 0; /* answered from a keyed region */
	} else {
		why = x2m_endpoint_deliver(ep, eth, skb); /* counts its outcome */
	}
	rcu_read_unlock();
	/* Outside the RCU section: a nack to this board comes back through here. */
	if (why == XEN2MX_CTR_DROP_NO_ENDPOINT || why == XEN2MX_CTR_DROP_SESSION)
		x2m_nack(board, buffer, length, endpoint, why);
	return why;
}

int x2m_recv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt,
	     struct net_device *orig_dev)
{
	struct x2m_board *board = pt->af_packet_priv;

	if (skb->pkt_type != PACKET_HOST) {
		x2m_count(board, XEN2MX_CTR_DROP_NOT_HOST);
		goto out;
	}
	/* The frame is only read (copied into a ring), so a shared skb will do. */
	x2m_demux(board, skb);
out:
	consume_skb(skb);
	return NET_RX_SUCCESS;
}
