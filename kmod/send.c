// SPDX-License-Identifier: GPL-2.0
/*
 * The send path. The process hands a whole MXoE frame; the kernel writes
 * the fields that say who sends it (source MAC, source endpoint, pull
 * magic), so that no process can speak for another endpoint or board, and
 * refuses packet types it does not know. Frames for the board itself go
 * straight to the receive path.
 */
#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/unaligned.h>

#include "xen2mx_kernel.h"

#define OFF_SRC_EP 18
#define OFF_NACK_SRC_EP 17
#define OFF_PULL_MAGIC 44
#define OFF_PULL_MAGIC_MX 36

/* The smallest frame each type needs, and where its sender is written. */
static int x2m_stamp(struct x2m_endpoint *ep, u8 *frame, unsigned int length)
{
	switch (frame[X2M_PTYPE_OFFSET]) {
	case X2M_PKT_TINY:
	case X2M_PKT_SMALL:
	case X2M_PKT_NOTIFY:
	case X2M_PKT_TRUC:
	case X2M_PKT_CONNECT:
	case X2M_PKT_MEDIUM:
	case X2M_PKT_RNDV:
	case X2M_PKT_RMA_REQUEST:
	case X2M_PKT_RMA_REPLY:
		if (length < 40)
			return -EINVAL;
		frame[OFF_SRC_EP] = ep->id;
		return 0;
	case X2M_PKT_PULL:
		if (length < 48)
			return -EINVAL;
		frame[OFF_SRC_EP] = ep->id;
		put_unaligned_be32(ep->id ^ X2M_PULL_MAGIC_XOR,
				   frame + ((ep->flags & XEN2MX_OPEN_MX_COMPAT) ? OFF_PULL_MAGIC_MX
									      : OFF_PULL_MAGIC));
		return 0;
	case X2M_PKT_NACK_LIB:
	case X2M_PKT_NACK_MCP:
		if (length < 32)
			return -EINVAL;
		frame[OFF_NACK_SRC_EP] = ep->id;
		return 0;
	case X2M_PKT_PULL_REPLY:
		/* No sender field: the puller matches its own handle and magic. */
		return length < 32 ? -EINVAL : 0;
	default:
		return -EPROTONOSUPPORT;
	}
}

static int x2m_copy_iov(u8 *to, const struct xen2mx_iovec *iov, u32 count)
{
	u32 i;

	for (i = 0; i < count; i++) {
		if (!iov[i].len)
			continue;
		if (copy_from_user(to, u64_to_user_ptr(iov[i].base), iov[i].len))
			return -EFAULT;
		to += iov[i].len;
	}
	return 0;
}

int x2m_send(struct x2m_endpoint *ep, const struct xen2mx_send *req)
{
	struct x2m_board *board = ep->board;
	struct xen2mx_iovec *iov;
	struct net_device *dev;
	struct sk_buff *skb;
	unsigned int max_frame = READ_ONCE(board->mtu) + ETH_HLEN;
	u64 total = 0;
	u8 *frame;
	u32 i;
	int ret;

	if (req->iov_count == 0 || req->iov_count > XEN2MX_SEND_IOV_MAX)
		return -EINVAL;
	if (req->flags & ~XEN2MX_SEND_ZEROCOPY)
		return -EINVAL;
	if (req->flags & XEN2MX_SEND_ZEROCOPY)
		return -EOPNOTSUPP;
	iov = memdup_user(u64_to_user_ptr(req->iov), req->iov_count * sizeof(*iov));
	if (IS_ERR(iov))
		return PTR_ERR(iov);
	for (i = 0; i < req->iov_count; i++) {
		if (iov[i].len > max_frame) {
			ret = -EMSGSIZE;
			goto out_iov;
		}
		total += iov[i].len;
	}
	ret = -EMSGSIZE;
	if (total > max_frame)
		goto out_iov;
	ret = -EINVAL;
	if (total < X2M_HEAD_LEN)
		goto out_iov;

	ret = -ENOMEM;
	skb = alloc_skb(board->headroom + max_t(unsigned int, total, ETH_ZLEN), GFP_KERNEL);
	if (!skb)
		goto out_iov;
	skb_reserve(skb, board->headroom);
	frame = skb_put(skb, max_t(unsigned int, total, ETH_ZLEN));
	ret = x2m_copy_iov(frame, iov, req->iov_count);
	if (ret)
		goto out_skb;
	if (total < ETH_ZLEN)
		memset(frame + total, 0, ETH_ZLEN - total);
	ret = -EINVAL;
	if (!is_valid_ether_addr(frame)) /* MXoE frames go to one board */
		goto out_refused;
	ret = x2m_stamp(ep, frame, skb->len);
	if (ret)
		goto out_refused;
	ether_addr_copy(frame + ETH_ALEN, board->mac);
	put_unaligned_be16(XEN2MX_ETHERTYPE, frame + 2 * ETH_ALEN);
	skb_reset_mac_header(skb);
	skb->protocol = htons(XEN2MX_ETHERTYPE);
	skb->priority = 0;

	if (ether_addr_equal(frame, board->mac)) {
		/* To an endpoint of this board: no wire in between. */
		__skb_pull(skb, ETH_HLEN);
		local_bh_disable();
		x2m_demux(board, skb);
		local_bh_enable();
		consume_skb(skb);
		x2m_count(board, XEN2MX_CTR_SENT_LOOPBACK);
		goto sent;
	}

	rcu_read_lock();
	dev = rcu_dereference(board->dev);
	if (!dev) {
		rcu_read_unlock();
		ret = -ENODEV;
		goto out_failed;
	}
	skb->dev = dev;
	skb_reset_network_header(skb);
	/* The skb is consumed whatever happens. net_xmit_eval() evaluates its
	 * argument twice: never hand it the call itself. */
	ret = dev_queue_xmit(skb);
	rcu_read_unlock();
	ret = net_xmit_eval(ret);
	if (ret) {
		/* Queue full or device down: the frame is lost, as on a wire. */
		x2m_count(board, XEN2MX_CTR_SEND_FAILED);
		ret = ret < 0 ? ret : -ENOBUFS;
		goto out_iov;
	}
sent:
	x2m_count(board, XEN2MX_CTR_SENT);
	atomic64_add(total, &board->ctr[XEN2MX_CTR_SENT_BYTES]);
	kfree(iov);
	return 0;

out_refused:
	x2m_count(board, XEN2MX_CTR_SEND_REFUSED);
	goto out_skb;
out_failed:
	x2m_count(board, XEN2MX_CTR_SEND_FAILED);
out_skb:
	kfree_skb(skb);
out_iov:
	kfree(iov);
	return ret;
}
