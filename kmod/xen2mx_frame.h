/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MXoE frame facts shared by xen2mx.ko and xen2mx-front.ko: the packet
 * types a sender may use and where each carries its sender's identity. The
 * native module and Dom0 stamp those fields; a guest checks the same rules
 * before a frame leaves it, so that its process gets the same errors as on
 * bare metal without a round trip to Dom0.
 */
#ifndef XEN2MX_FRAME_H
#define XEN2MX_FRAME_H

#include <linux/errno.h>
#include <linux/types.h>

#define X2M_PTYPE_OFFSET 16
#define X2M_HEAD_LEN 17 /* up to and including the packet type */

/* The MXoE packet types the module knows (wire values). */
enum {
	X2M_PKT_RAW = 1,
	X2M_PKT_HOST_QUERY = 3,
	X2M_PKT_HOST_REPLY = 4,
	X2M_PKT_TRUC = 35,
	X2M_PKT_CONNECT = 36,
	X2M_PKT_TINY = 37,
	X2M_PKT_SMALL = 38,
	X2M_PKT_MEDIUM = 39,
	X2M_PKT_RNDV = 40,
	X2M_PKT_PULL = 41,
	X2M_PKT_PULL_REPLY = 42,
	X2M_PKT_NOTIFY = 43,
	X2M_PKT_NACK_LIB = 44,
	X2M_PKT_NACK_MCP = 45,
	/* xen2mx's RMA extension (see fi_xen2mx(7), WIRE EXTENSION). */
	X2M_PKT_RMA_REQUEST = 48,
	X2M_PKT_RMA_REPLY = 49,
	X2M_PKT_KEY_PULL = 50,
};
#define X2M_PULL_MAGIC_XOR 0x21071980u

#define X2M_OFF_SRC_EP 18
#define X2M_OFF_NACK_SRC_EP 17
#define X2M_OFF_PULL_MAGIC 44
#define X2M_OFF_PULL_MAGIC_MX 36
#define X2M_KEY_PULL_LEN 64 /* a KEY_PULL is its header alone */
#define X2M_SENDER_BYTES 48 /* every sender field lies in the first 48 bytes */

/* Where a frame of one type carries its sender; -1 when it carries none. */
struct x2m_sender_fields {
	int endpoint;
	int magic;
};

/*
 * The sender fields of a frame of packet type `ptype`, `length` bytes long
 * (padding included): 0, -EINVAL when the frame is too short for its type,
 * -EPROTONOSUPPORT for a type a sender may not use.
 */
static inline int x2m_sender_fields(u8 ptype, unsigned int length, bool mx_compat,
				    struct x2m_sender_fields *f)
{
	f->endpoint = -1;
	f->magic = -1;
	switch (ptype) {
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
		f->endpoint = X2M_OFF_SRC_EP;
		return 0;
	case X2M_PKT_PULL:
		if (length < 48)
			return -EINVAL;
		f->endpoint = X2M_OFF_SRC_EP;
		f->magic = mx_compat ? X2M_OFF_PULL_MAGIC_MX : X2M_OFF_PULL_MAGIC;
		return 0;
	case X2M_PKT_KEY_PULL:
		/* xen2mx's own: an endpoint speaking MX's layouts has no use for it. */
		if (mx_compat)
			return -EPROTONOSUPPORT;
		if (length < X2M_KEY_PULL_LEN)
			return -EINVAL;
		f->endpoint = X2M_OFF_SRC_EP;
		f->magic = X2M_OFF_PULL_MAGIC; /* where a PULL has it, in Open-MX's layout */
		return 0;
	case X2M_PKT_NACK_LIB:
	case X2M_PKT_NACK_MCP:
		if (length < 32)
			return -EINVAL;
		f->endpoint = X2M_OFF_NACK_SRC_EP;
		return 0;
	case X2M_PKT_PULL_REPLY:
		/* No sender field: the puller matches its own handle and magic. */
		return length < 32 ? -EINVAL : 0;
	default:
		return -EPROTONOSUPPORT;
	}
}

#endif
