/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The protocol between xen2mx-front.ko (in a guest) and xen2mx-back.ko (in
 * Dom0). Kernel-only: user space sees the same /dev/xen2mx ABI
 * (uapi/xen2mx.h) in a guest as on bare metal.
 *
 * Xenstore, one xenbus device "xen2mx" per guest board (util/xen2mx-attach):
 *
 *   backend directory, written by the backend before it enters InitWait:
 *     board-mac         "aa:bb:cc:dd:ee:ff": the Dom0 board the guest is
 *                       bridged onto; every endpoint of the guest is an
 *                       ordinary MXoE endpoint of that board
 *     board-mtu         decimal: payload bytes after the Ethernet header
 *     max-endpoints     decimal: endpoints the guest may have open at once
 *     max-ring-pages    decimal: pages one endpoint's receive memory may take
 *     protocol-version  "1"
 *   (xen2mx-attach may write "board", a Dom0 board index, before the
 *   backend probes; board 0 otherwise.)
 *
 *   frontend directory, written by the frontend before it enters Initialised:
 *     ring-ref          grant of the one-page request/response ring
 *     event-channel     the interdomain event channel (both directions)
 *     tx-pool-ref       grant of a page holding the tx pool's grants (u32 each)
 *     tx-chunk-pages    pages per tx chunk, 1..X2MX_CHUNK_PAGES_MAX
 *     protocol-version  "1"
 *
 * The backend maps the ring and the whole tx pool once, when it connects,
 * and keeps them until it disconnects. States: backend InitWait ->
 * frontend Initialised -> backend Connected -> frontend Connected. Either
 * side going to Closing/Closed tears the connection down; every endpoint
 * the guest had is closed in Dom0 and its mappings released, and the
 * frontend fails its endpoints (ENOTCONN) and connects afresh when the
 * backend comes back.
 *
 * The tx pool: X2MX_TX_CHUNKS chunks of tx-chunk-pages pages each, chunk i
 * being pages [i * n, (i + 1) * n) of the pool. A chunk belongs to the
 * frontend until it names it in a request and to the backend until the
 * response naming it comes back. Its pages are mapped read-only.
 *
 * Requests (frontend -> backend), one ring slot each:
 *
 *   X2MX_OP_OPEN   endpoint: the wanted id or XEN2MX_ANY_ENDPOINT;
 *                  flags: XEN2MX_OPEN_*; chunk: holds nr_pages grant
 *                  references (u32) of the endpoint's receive memory, laid
 *                  out as in uapi/xen2mx.h: [ctl page][rx slots]; the event
 *                  queue stays in the guest. The backend maps those pages
 *                  writable and from then on writes received frames into
 *                  the slots and moves ctl->rx_prod, exactly as xen2mx.ko
 *                  does on bare metal, then notifies the event channel.
 *                  Response: endpoint id, session.
 *   X2MX_OP_CLOSE  endpoint. After the response the backend has unmapped
 *                  the endpoint's pages and writes into them no more.
 *   X2MX_OP_SEND   endpoint, chunk: the frame's first `linear` bytes are at
 *                  the start of the chunk; with nr_segs > 0 the rest of the
 *                  frame (total - linear bytes) is in nr_segs granted guest
 *                  pages described by struct x2mx_segment entries stored in
 *                  the chunk at offset X2MX_SEGS_OFFSET(linear). The backend
 *                  copies the linear bytes, maps the segments' pages and
 *                  lends them to the NIC (zero-copy); the response comes
 *                  when the pages are unmapped again (the NIC is done), so
 *                  the frontend may then end the grants and report
 *                  XEN2MX_EVENT_SEND_DONE. A frame without segments is
 *                  answered once it is handed to the NIC.
 *   X2MX_OP_REGION endpoint, chunk: a struct x2mx_region_desc, then
 *                  region.nr_segs struct x2mx_segment entries at
 *                  X2MX_REGION_SEGS_OFFSET: the region's bytes, in order,
 *                  one entry per granted guest page. Entries run on while
 *                  one ends its page and the next starts the following one
 *                  at offset 0; the region may have XEN2MX_REGION_SEGS_MAX
 *                  such runs. The backend maps the pages read-only and
 *                  gives them to xen2mx.ko as a memory region of the
 *                  endpoint: PULLs from the region's one peer are answered
 *                  in Dom0 from the guest's pages, the guest's process not
 *                  involved. Errors as for XEN2MX_IOC_REGION_REGISTER
 *                  (-EEXIST, -ENOSPC, -EINVAL...).
 *   X2MX_OP_UNREGION endpoint, region.id. After the response the backend
 *                  has unmapped the region's pages (the network stack let
 *                  go of them too), so the guest may end their grants.
 *                  Closing the endpoint or the connection unmaps its
 *                  regions as well.
 *
 * Lanes (both sides write "feature-lanes" = "1" beside their other keys
 * when they speak the three ops below; neither sends them otherwise). A
 * lane carries frames from one endpoint of a guest (the sender) to one
 * endpoint of another guest bridged onto the same Dom0 board (the
 * receiver) without Dom0: the receiver's frontend grants the sender's
 * domain a head page and slot pages (struct xen2mx_lane_head of
 * uapi/xen2mx.h; the slot pages' references at XEN2MX_LANE_REFS_OFFSET of
 * the head page) and an unbound event channel; the sender's frontend maps
 * them, copies frames into the slots and notifies the channel while the
 * head's `wake` is set. Dom0 only introduces the two guests:
 *
 *   X2MX_OP_LANE_LISTEN  no fields. At most one outstanding per
 *                  connection (-EBUSY otherwise); answered with the next
 *                  notice for this guest (struct x2mx_notice in the
 *                  response), at once when one is queued, else when one
 *                  comes. The frontend posts the next one after each
 *                  answer. A connection's teardown drops it.
 *   X2MX_OP_LANE_ASK endpoint: the sender's (the asking guest's own);
 *                  u.lane.peer_endpoint: the receiver, an endpoint of the
 *                  same board. Answered at once: 0 when the receiver's
 *                  guest was sent X2MX_NOTICE_LANE_WANTED; -ENOENT when no
 *                  other guest has that endpoint open; -EOPNOTSUPP when
 *                  its guest has no lanes (or Dom0 introduces no more);
 *                  -EINVAL for a sender endpoint not open; -EBUSY when
 *                  X2MX_LANE_ASKS_UNREAD of this guest's asks wait unread
 *                  in that guest's queue (one guest cannot fill another's). The lane itself comes later, as
 *                  X2MX_NOTICE_LANE_READY, or never (the receiver had no
 *                  room): the frontend asks again later, not at every frame.
 *   X2MX_OP_LANE_OFFER endpoint: the receiver's; u.lane.token: the
 *                  LANE_WANTED notice's; u.lane.ref: the head page granted
 *                  to the sender's domain; u.lane.port: the event channel
 *                  allocated for it. Dom0 checks the token (the last 16
 *                  asked of this guest are remembered) and sends
 *                  X2MX_NOTICE_LANE_READY to the sender's guest: 0; else
 *                  -ENOENT (unknown token, or the sender's guest is gone),
 *                  and the frontend closes the lane it offered.
 *
 * Notices (x2mx_notice.kind), queued in Dom0 per guest (64 at most; on
 * overflow the queue is emptied and X2MX_NOTICE_RESET sent instead):
 *   X2MX_NOTICE_LANE_WANTED  endpoint: the receiver (this guest's);
 *                  peer_domid, peer_endpoint: the sender; token.
 *   X2MX_NOTICE_LANE_READY  endpoint: the sender (this guest's);
 *                  peer_domid, peer_endpoint: the receiver; ref, port: as
 *                  offered. Everything in the head page is checked before
 *                  use (geometry, references), and the lane is given up
 *                  when it is wrong or once the head's `gone` is set.
 *   X2MX_NOTICE_PEER_GONE  peer_domid: that guest's connection to Dom0
 *                  ended (it died, detached or restarted): every lane with
 *                  it, either way, is closed and unmapped.
 *   X2MX_NOTICE_RESET  notices were lost: every lane is closed.
 * A frame goes through a lane only when it would reach the receiver
 * through Dom0 as it is: its packet type is one whose sender and
 * destination endpoint are at fixed offsets and that Dom0 does not answer
 * itself (not PULL, KEY_PULL, PULL_REPLY or NACK_MCP); the sender's
 * frontend stamps the board's MAC and the endpoint's id as Dom0 would, and
 * the receiving process checks them against the lane's (uapi/xen2mx.h).
 *
 * The ring page past the ring (X2MX_STATS_OFFSET on) holds struct
 * x2mx_stats: the per-board counters of uapi/xen2mx.h (XEN2MX_CTR_SENT ..
 * XEN2MX_CTR_BOARD_MAX - 1) as Dom0 sees them for this guest: frames it
 * sent, frames delivered into its endpoints or dropped there, and loopback
 * frames it sent that Dom0 dropped. Only the backend writes them (each one
 * before the response to the request it concerns); they are the guest's
 * view of its board, to read, never to trust.
 *
 * Everything in a request, a chunk or a segment is checked by the backend
 * before use (op, ids, sizes, grant counts, offsets); a bad request is
 * answered with a negative errno and counted, never trusted. Frames are
 * stamped in Dom0 with the board's MAC and the endpoint's id, as on bare
 * metal.
 */
#ifndef XEN2MX_XENBUS_H
#define XEN2MX_XENBUS_H

#include <linux/types.h>
#include <xen/interface/io/ring.h>
#include <xen/interface/grant_table.h>

#define X2MX_PROTOCOL_VERSION 1

#define X2MX_OP_OPEN 1
#define X2MX_OP_CLOSE 2
#define X2MX_OP_SEND 3
#define X2MX_OP_REGION 4
#define X2MX_OP_UNREGION 5
#define X2MX_OP_LANE_LISTEN 6
#define X2MX_OP_LANE_ASK 7
#define X2MX_OP_LANE_OFFER 8

#define X2MX_NOTICE_LANE_WANTED 1
#define X2MX_NOTICE_LANE_READY 2
#define X2MX_NOTICE_PEER_GONE 3
#define X2MX_NOTICE_RESET 4
#define X2MX_NOTICE_QUEUE 64
#define X2MX_LANE_TOKENS 16
#define X2MX_LANE_ASKS_UNREAD 8   /* LANE_WANTED of one asker unread in a queue */

#define X2MX_TX_CHUNKS 64        /* = the ring's slot count */
#define X2MX_CHUNK_PAGES_MAX 4
#define X2MX_MAX_SEGS 17         /* MAX_SKB_FRAGS on x86_64 */
#define X2MX_SEGS_OFFSET(linear) (((linear) + 7u) & ~7u)

struct x2mx_request {
	__u8 op;           /* X2MX_OP_* */
	__u8 nr_segs;      /* SEND: 0 .. X2MX_MAX_SEGS */
	__u16 chunk;       /* OPEN, SEND: 0 .. X2MX_TX_CHUNKS - 1 */
	__u32 id;          /* echoed in the response */
	__s32 endpoint;    /* OPEN: wanted id or XEN2MX_ANY_ENDPOINT; else the id */
	__u32 flags;       /* OPEN: XEN2MX_OPEN_* */
	union {
		struct {
			__u32 nr_pages;      /* grant references in the chunk */
			__u32 rx_slots;      /* power of two */
			__u32 rx_slot_bytes; /* power of two, >= 16 + the longest frame */
			__u32 pad;
		} open;
		struct {
			__u32 linear;        /* frame bytes at the start of the chunk */
			__u32 total;         /* the whole frame's length */
			__u64 pad;
		} send;
		struct {
			__u32 nr_segs;       /* REGION: entries in the chunk */
			__u32 id;            /* UNREGION: the region */
			__u64 pad;
		} region;
		struct {
			__u32 token;         /* OFFER */
			__u32 ref;           /* OFFER: the head page */
			__u32 port;          /* OFFER: the unbound event channel */
			__u8 peer_endpoint;  /* ASK: the receiver */
			__u8 pad[3];
		} lane;
	} u;
};

/* What LANE_LISTEN is answered with. */
struct x2mx_notice {
	__u8 kind;         /* X2MX_NOTICE_* */
	__u8 peer_endpoint;
	__u16 peer_domid;
	__u32 token;       /* LANE_WANTED */
	__u32 ref;         /* LANE_READY */
	__u32 port;        /* LANE_READY: the receiver's end of the event channel */
};

struct x2mx_response {
	__u8 op;
	__u8 pad;
	__u16 chunk;       /* the chunk the request named, now the frontend's again */
	__u32 id;
	__s32 status;      /* 0 or a negative errno */
	__s32 endpoint;
	union {
		struct {
			__u32 session;     /* OPEN */
			__u32 pad2[3];
		};
		struct x2mx_notice notice; /* LANE_LISTEN */
	};
};

struct x2mx_segment {
	grant_ref_t ref;   /* granted read-only to the backend */
	__u16 offset;      /* in the page */
	__u16 length;      /* offset + length <= XEN_PAGE_SIZE */
};

/* What the region is, for whom; as struct xen2mx_region of uapi/xen2mx.h. */
struct x2mx_region_desc {
	__u32 id;
	__u32 reply_max;
	__u8 peer_mac[6];
	__u8 peer_endpoint;
	__u8 seq;
	__u16 peer_index;
	__u16 replies_per_block;
	__u32 pad;
};
#define X2MX_REGION_SEGS_OFFSET sizeof(struct x2mx_region_desc)

DEFINE_RING_TYPES(x2mx, struct x2mx_request, struct x2mx_response);

#define X2MX_STATS_OFFSET 3072   /* in the ring page: past the sring's 64 slots */
#define X2MX_STATS_MAX 32
struct x2mx_stats {
	__u64 ctr[X2MX_STATS_MAX];
};

#endif /* XEN2MX_XENBUS_H */
