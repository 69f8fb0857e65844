/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The user-space ABI of /dev/xen2mx, shared by the kernel modules and by the
 * provider's kmod link. Every structure has a fixed layout (explicit padding,
 * 64-bit fields aligned) so that 32- and 64-bit code agree; any change that
 * is not a pure addition bumps XEN2MX_ABI_VERSION.
 *
 * Additions to ABI 1, which a module without them tells by ENOTTY (ioctls)
 * or by xen2mx_counters.count (counters): XEN2MX_IOC_LIST_ENDPOINTS, the
 * counters from XEN2MX_CTR_GRANTS_MAPPED on, XEN2MX_IOC_REGION_REGISTER and
 * XEN2MX_IOC_REGION_DEREGISTER, XEN2MX_IOC_KEYED_REGISTER and
 * XEN2MX_IOC_KEYED_DEREGISTER, the fields of struct
 * xen2mx_endpoint_entry after zerocopy_pending (a longer entry_bytes), and
 * the lane table in the ctl page (zero where the device has no lanes).
 *
 * One open file holds at most one endpoint. Its memory is mapped with
 * mmap(fd, offset 0, length xen2mx_endpoint_open.map_bytes):
 *
 *   [ctl page][receive slots ...][events ...][lanes ...]
 *
 * The kernel writes frames into receive slots and completions into events,
 * and moves the producer counters; the process reads them and moves the
 * consumer counters. Counters are free-running 32-bit numbers; an entry's
 * position is counter % count (counts are powers of two). The kernel never
 * derives an address from a value the process wrote: a consumer counter only
 * tells it how much room there is.
 */
#ifndef XEN2MX_UAPI_H
#define XEN2MX_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define XEN2MX_ABI_VERSION 1
#define XEN2MX_DEVICE_NAME "xen2mx"
#define XEN2MX_ETHERTYPE 0x86DF

#define XEN2MX_IFNAME_LEN 16    /* IFNAMSIZ */
#define XEN2MX_MAX_BOARDS 8
#define XEN2MX_MAX_ENDPOINTS 255 /* ids 0..254; 255 is MX's raw endpoint */
#define XEN2MX_ANY_ENDPOINT (-1)
#define XEN2MX_SEND_IOV_MAX 64

/* ------------------------------------------------------------------ ioctls */

struct xen2mx_version {
	__u32 abi;            /* XEN2MX_ABI_VERSION */
	__u32 max_boards;
	__u32 max_endpoints;
	__u32 boards;         /* boards attached now */
};

#define XEN2MX_BOARD_UP 0x1 /* the interface is up and running */

struct xen2mx_board_info {
	__u32 index;          /* in: 0 .. XEN2MX_MAX_BOARDS-1 */
	__u32 flags;          /* out: XEN2MX_BOARD_* */
	char ifname[XEN2MX_IFNAME_LEN];
	__u8 mac[6];
	__u16 pad;
	__u32 mtu;
	__u32 endpoints;      /* endpoints open on it */
};

/* Attach or detach a network interface (CAP_NET_ADMIN). */
struct xen2mx_attach {
	char ifname[XEN2MX_IFNAME_LEN]; /* NUL-terminated */
	__u32 index;          /* out (attach): the board's index */
	__u32 pad;
};

#define XEN2MX_OPEN_ANY_SESSION 0x1 /* take frames whatever their session (DGRAM) */
#define XEN2MX_OPEN_MX_COMPAT 0x2   /* PULLs use MX's own layout (magic at offset 36) */

struct xen2mx_endpoint_open {
	__u32 board;          /* in: board index */
	__s32 endpoint;       /* in: wanted id, or XEN2MX_ANY_ENDPOINT */
	__u32 flags;          /* in: XEN2MX_OPEN_* */
	__u32 session;        /* out: the endpoint's session id (random) */
	__u32 endpoint_id;    /* out */
	__u32 mtu;            /* out: the interface's MTU */
	__u32 max_frame;      /* out: longest frame sent or received, header included */
	__u32 map_bytes;      /* out: length to mmap */
	__u32 rx_offset;      /* out: receive slots, from the start of the mapping */
	__u32 rx_slots;       /* out: power of two */
	__u32 rx_slot_bytes;  /* out: header + frame, power of two */
	__u32 ev_offset;      /* out: events */
	__u32 ev_entries;     /* out: power of two */
	__u8 mac[6];          /* out: the board's address */
	__u16 pad;
};

struct xen2mx_iovec {
	__u64 base;           /* user pointer */
	__u64 len;
};

#define XEN2MX_SEND_ZEROCOPY 0x1 /* payload pages lent to the NIC; an event says when they are back */

/*
 * Sends one MXoE frame gathered from iov (Ethernet header first). The kernel
 * writes the source MAC and, in the packet types that carry them, the source
 * endpoint id and pull magic itself; types it does not know are refused.
 *
 * With XEN2MX_SEND_ZEROCOPY the bytes past the first 128 are not copied:
 * their pages are lent to the NIC, and one XEN2MX_EVENT_SEND_DONE event
 * carrying `cookie` says when they are back (a send that fails posts none).
 * E2BIG: more pages than one frame or the module's pinned_pages limit can
 * take; EAGAIN: the endpoint's pages in flight or its event queue are at
 * their limit (take events, retry, or send without the flag).
 */
struct xen2mx_send {
	__u64 iov;            /* user pointer to iov_count struct xen2mx_iovec */
	__u32 iov_count;      /* 1 .. XEN2MX_SEND_IOV_MAX */
	__u32 flags;          /* XEN2MX_SEND_* */
	__u64 cookie;         /* returned in the completion event (ZEROCOPY) */
};

/* Sleeps until a frame or an event waits, the timeout passes or a signal comes. */
struct xen2mx_wait {
	__u32 timeout_ms;     /* in: 0 returns at once */
	__u32 ready;          /* out: 1 when something waits */
};

enum xen2mx_counter {
	XEN2MX_CTR_SENT = 0,          /* frames sent */
	XEN2MX_CTR_SENT_BYTES,
	XEN2MX_CTR_SENT_ZEROCOPY,     /* of which with lent pages */
	XEN2MX_CTR_SENT_LOOPBACK,     /* to an endpoint of the same board */
	XEN2MX_CTR_RECEIVED,          /* frames put into an endpoint's ring */
	XEN2MX_CTR_RECEIVED_BYTES,
	XEN2MX_CTR_DROP_SHORT,        /* shorter than its packet type's header */
	XEN2MX_CTR_DROP_PTYPE,        /* unknown or unsupported packet type */
	XEN2MX_CTR_DROP_NO_ENDPOINT,  /* no such endpoint open */
	XEN2MX_CTR_DROP_SESSION,      /* wrong session */
	XEN2MX_CTR_DROP_RING_FULL,    /* the endpoint did not keep up */
	XEN2MX_CTR_DROP_TOO_LONG,     /* longer than a receive slot */
	XEN2MX_CTR_DROP_NOT_HOST,     /* not addressed to the board */
	XEN2MX_CTR_SEND_REFUSED,      /* bad frame handed to send */
	XEN2MX_CTR_SEND_FAILED,       /* no memory, device gone or queue full */
	XEN2MX_CTR_BOARD_MAX,         /* the counters above are per board */
	XEN2MX_CTR_ENDPOINTS_OPEN = XEN2MX_CTR_BOARD_MAX, /* the ones below are global */
	XEN2MX_CTR_ENDPOINTS_OPENED,  /* ever */
	XEN2MX_CTR_PAGES_PINNED,      /* user pages held now */
	XEN2MX_CTR_ZEROCOPY_PENDING,  /* zero-copy sends not completed */
	XEN2MX_CTR_GRANTS_MAPPED,     /* Dom0: guest pages mapped now; a guest: its pages granted now */
	XEN2MX_CTR_NACKS_SENT,        /* frames for no endpoint or a stale session answered */
	XEN2MX_CTR_NACKS_LIMITED,     /* such frames left unanswered: over nack_rate */
	XEN2MX_CTR_REGIONS,           /* memory regions registered now */
	XEN2MX_CTR_REGION_PAGES,      /* user pages they hold pinned now */
	XEN2MX_CTR_PULLS_SERVED,      /* PULLs the kernel answered from a region */
	XEN2MX_CTR_PULL_ERRORS,       /* PULLs for a region that asked outside it, or were malformed */
	XEN2MX_CTR_LANE_FRAMES,       /* a guest: frames its endpoints sent through lanes */
	XEN2MX_CTR_LANES_OUT,         /* a guest: lanes of other guests it has mapped now */
	XEN2MX_CTR_LANES_IN,          /* a guest: lanes of its endpoints granted to other guests now */
	XEN2MX_CTR_MAX
};

/*
 * Counters of one board (board < XEN2MX_MAX_BOARDS) or, with board ==
 * XEN2MX_ALL_BOARDS, summed over every board ever attached; the global ones
 * are filled either way.
 */
#define XEN2MX_ALL_BOARDS 0xffffffffu
struct xen2mx_counters {
	__u32 board;
	__u32 count;          /* out: XEN2MX_CTR_MAX */
	__u64 values[32];
};

/*
 * The endpoints open, a batch at a time, in order of board then id. The
 * caller passes room for `count` entries of `entry_bytes` each (the size of
 * struct xen2mx_endpoint_entry it was built with; a module with a longer
 * entry writes only that much of each) and `cursor` 0; the module writes up
 * to `count` entries, sets `count` to how many it wrote and `cursor` to
 * where the next call goes on, or to XEN2MX_LIST_END when no endpoint is
 * left. Each position is visited once: an endpoint opened or closed between
 * two calls may be missed, never listed twice. Anyone may list; sessions
 * are shown to CAP_NET_ADMIN only (0 otherwise: a real session never is).
 */
#define XEN2MX_LIST_END 0xffffffffu
#define XEN2MX_OWNER_LEN 32
/* The uid of an endpoint the kernel holds for a kernel owner (a Xen
 * guest's, in Dom0, owned by "domN"): (uid_t)-1 is nobody's uid. */
#define XEN2MX_NO_UID 0xffffffffu
struct xen2mx_endpoint_entry {
	__u32 board;
	__u32 endpoint;       /* its id */
	__u32 flags;          /* XEN2MX_OPEN_* it was opened with */
	__u32 session;        /* 0 unless the caller has CAP_NET_ADMIN */
	__s32 pid;            /* the process that opened it, in the caller's pid namespace;
	                       * 0 for none or one that namespace cannot see */
	__u32 uid;            /* its user, in the caller's user namespace;
	                       * XEN2MX_NO_UID when no process opened it */
	char owner[XEN2MX_OWNER_LEN]; /* that process's command name, or the kernel
	                               * owner's name ("domN"); NUL-terminated */
	__u64 rx_frames;      /* put into its ring */
	__u64 rx_bytes;
	__u64 tx_frames;      /* sent from it */
	__u64 tx_bytes;
	__u64 drops;          /* for it but dropped: ring full, too long, stale session */
	__u32 pages_pinned;   /* its pages lent to the NIC now (zero-copy sends) */
	__u32 zerocopy_pending; /* its zero-copy sends not completed */
	/* From here on, written only by a module that has regions (see the top). */
	__u32 regions;        /* memory regions registered now */
	__u32 region_pages;   /* pages they hold pinned */
	__u64 pulls_served;   /* PULLs the kernel answered from them */
};
#define XEN2MX_ENTRY_MIN_BYTES 56 /* up to and including owner */
#define XEN2MX_ENTRY_REGION_BYTES 120 /* up to and including pulls_served */

struct xen2mx_list_endpoints {
	__u32 board;          /* in: one board's, or XEN2MX_ALL_BOARDS */
	__u32 cursor;         /* in: 0, then what the last call left; out: see above */
	__u32 count;          /* in: entries the buffer holds; out: entries written */
	__u32 entry_bytes;    /* in: XEN2MX_ENTRY_MIN_BYTES .. 4096, a multiple of 8 */
	__u64 entries;        /* in: user pointer to the buffer */
};

/*
 * Memory regions: user memory a peer may pull (a large message's data, the
 * bytes an RMA read returns), pinned so that the kernel answers the peer's
 * PULLs for it by itself, straight from those pages, whether or not the
 * process runs. `id` and `seq` are the region's pulled_rdma_id and
 * pulled_rdma_seqnum on the wire; only PULLs that name both, come from the
 * peer endpoint named here and carry this endpoint's session are served by
 * the kernel (each one with PULL_REPLY frames of up to `reply_max` payload
 * bytes, at most `replies_per_block` of them); any other PULL goes to the
 * ring as before, and one that asks for bytes outside the region is dropped
 * and counted (XEN2MX_CTR_PULL_ERRORS), as the provider's engine does.
 *
 * The segments are byte ranges of the process's memory, taken in order as
 * one stretch of `length` bytes; the array of them must be 8-byte aligned.
 * The pages are pinned for as long as the region is registered, and
 * charged to the process's RLIMIT_MEMLOCK (its pinned memory, as RDMA
 * does) unless it has CAP_IPC_LOCK. Errors: EINVAL (an id of 256 or more,
 * no or too many segments, an unaligned segment array, unknown flags, no
 * access flag, a zero length, limits out of range, a peer that is not a
 * unicast address), EEXIST (the id is registered), EFAULT (memory that is
 * not mapped or a bad pointer), E2BIG (longer than 4 GiB - 1 or than the
 * module's region_pages limit), ENOSPC (the endpoint's regions would hold
 * more than region_pages), ENOMEM (over RLIMIT_MEMLOCK, or no memory),
 * ENOTCONN (no endpoint on the file). Deregistering unpins at once; so
 * does closing the endpoint, however the process ends.
 */
#define XEN2MX_REGION_IDS 256
#define XEN2MX_REGION_SEGS_MAX 32
#define XEN2MX_REGION_PULL 0x1      /* the peer may pull it (remote read) */
#define XEN2MX_REGION_REPLIES_MAX 64 /* replies_per_block at most */

struct xen2mx_region {
	__u32 id;             /* in: 0 .. XEN2MX_REGION_IDS-1 */
	__u32 flags;          /* in: XEN2MX_REGION_* */
	__u64 segs;           /* in: user pointer to seg_count struct xen2mx_iovec */
	__u32 seg_count;      /* in: 1 .. XEN2MX_REGION_SEGS_MAX */
	__u32 reply_max;      /* in: payload bytes of one PULL_REPLY, 1 .. MTU - 32 */
	__u8 peer_mac[6];     /* in: the board of the one peer that may pull */
	__u8 peer_endpoint;   /* in: and its endpoint id */
	__u8 seq;             /* in: the region's generation on the wire */
	__u16 peer_index;     /* in: written in the replies' heads (dst_src_peer_index) */
	__u16 replies_per_block; /* in: 1 .. XEN2MX_REGION_REPLIES_MAX */
	__u32 pages;          /* out: pages pinned */
	__u64 length;         /* out: bytes */
};

struct xen2mx_region_id {
	__u32 id;
	__u32 pad;            /* 0 */
};

/*
 * Keyed regions: the memory an RMA read may name (a libfabric memory
 * region open to remote reads), answered by the kernel, process running or
 * not, when a peer asks with a KEY_PULL (xen2mx's packet type 50, see
 * fi_xen2mx(7)) naming the region's `key` and addresses inside it. Peers
 * name the region's first byte `base` (its virtual address, or the offset
 * the process registered it with). Any peer may ask, with the endpoint's
 * session: the key is what guards the memory, as for the process's own
 * answers. A KEY_PULL is answered only when it asks for bytes all inside
 * one keyed region, in PULL_REPLYs no longer than the board's MTU allows
 * and at most XEN2MX_REGION_REPLIES_MAX of them; any other goes to the
 * ring, where the process answers or refuses it.
 *
 * `slot` is the process's name for the registration (one table per
 * endpoint, apart from the regions above). Segments, pinning, charging and
 * errors as for XEN2MX_IOC_REGION_REGISTER (EEXIST: the slot is taken).
 * XEN2MX_IOC_KEYED_DEREGISTER takes the slot in xen2mx_region_id.id.
 */
#define XEN2MX_KEYED_SLOTS 256

struct xen2mx_keyed_region {
	__u32 slot;           /* in: 0 .. XEN2MX_KEYED_SLOTS-1 */
	__u32 seg_count;      /* in: 1 .. XEN2MX_REGION_SEGS_MAX */
	__u64 segs;           /* in: user pointer to seg_count struct xen2mx_iovec */
	__u64 key;            /* in: the key KEY_PULLs name */
	__u64 base;           /* in: how peers name the region's first byte */
	__u32 pages;          /* out: pages pinned */
	__u32 pad;            /* 0 */
	__u64 length;         /* out: bytes */
};

#define XEN2MX_IOC_MAGIC 0xd8
#define XEN2MX_IOC_VERSION       _IOR(XEN2MX_IOC_MAGIC, 0x00, struct xen2mx_version)
#define XEN2MX_IOC_BOARD_INFO    _IOWR(XEN2MX_IOC_MAGIC, 0x01, struct xen2mx_board_info)
#define XEN2MX_IOC_ATTACH        _IOWR(XEN2MX_IOC_MAGIC, 0x02, struct xen2mx_attach)
#define XEN2MX_IOC_DETACH        _IOW(XEN2MX_IOC_MAGIC, 0x03, struct xen2mx_attach)
#define XEN2MX_IOC_COUNTERS      _IOWR(XEN2MX_IOC_MAGIC, 0x04, struct xen2mx_counters)
#define XEN2MX_IOC_LIST_ENDPOINTS _IOWR(XEN2MX_IOC_MAGIC, 0x05, struct xen2mx_list_endpoints)
#define XEN2MX_IOC_ENDPOINT_OPEN _IOWR(XEN2MX_IOC_MAGIC, 0x10, struct xen2mx_endpoint_open)
#define XEN2MX_IOC_SEND          _IOW(XEN2MX_IOC_MAGIC, 0x11, struct xen2mx_send)
#define XEN2MX_IOC_WAIT          _IOWR(XEN2MX_IOC_MAGIC, 0x12, struct xen2mx_wait)
#define XEN2MX_IOC_REGION_REGISTER   _IOWR(XEN2MX_IOC_MAGIC, 0x13, struct xen2mx_region)
#define XEN2MX_IOC_REGION_DEREGISTER _IOW(XEN2MX_IOC_MAGIC, 0x14, struct xen2mx_region_id)
#define XEN2MX_IOC_KEYED_REGISTER    _IOWR(XEN2MX_IOC_MAGIC, 0x15, struct xen2mx_keyed_region)
#define XEN2MX_IOC_KEYED_DEREGISTER  _IOW(XEN2MX_IOC_MAGIC, 0x16, struct xen2mx_region_id)

/* ------------------------------------------------------------ the mapping */

/* The first page. Each counter has a cache line of its own. */
struct xen2mx_ring_ctl {
	__u32 rx_prod;        /* kernel: frames written */
	__u32 pad0[15];
	__u32 rx_cons;        /* process: frames done with */
	__u32 pad1[15];
	__u32 ev_prod;        /* kernel: events written */
	__u32 pad2[15];
	__u32 ev_cons;        /* process: events done with */
	__u32 pad3[15];
};

/* Each receive slot starts with this; the frame follows it. */
struct xen2mx_rx_slot {
	__u32 length;         /* frame bytes, Ethernet header included */
	__u32 flags;
	__u64 reserved;
};

/*
 * Lanes (xen2mx-front.ko, in a Xen guest). Frames from an endpoint of another
 * guest of the same host may come through a lane rather than the receive
 * ring: a head page and a ring of slots inside this mapping, which this
 * guest's kernel granted to the sending guest, whose kernel copies frames
 * into them itself (Dom0 takes no part once the lane is open). The lane
 * table, at XEN2MX_LANES_OFFSET in the ctl page, is written by this guest's
 * kernel only; a lane's head page and slots are written by the other guest
 * too, so everything in them is checked before use, and a frame is taken
 * out of its slot before it is read. A frame of a lane that does not come
 * from the lane's peer_mac and peer_endpoint is dropped.
 *
 * The process polls each entry of lane[0 .. count) whose state is
 * XEN2MX_LANE_OPEN, or XEN2MX_LANE_CLOSED while frames remain: frames
 * [its own consumer, head->prod) are in slots cons % slots, each a struct
 * xen2mx_rx_slot and the frame as in the receive ring. It keeps its consumer
 * itself (a generation change of the entry starts it at 0) and stores it in
 * head->cons, which only tells the sender how much room there is. Frames
 * come in order within a lane; between a lane and the receive ring, or two
 * lanes, they may not.
 */
#define XEN2MX_LANES_OFFSET 2048
#define XEN2MX_LANES_MAX 8
#define XEN2MX_LANES_MAGIC 0x4c414e45u /* "LANE" */

enum xen2mx_lane_state {
	XEN2MX_LANE_UNUSED = 0,
	XEN2MX_LANE_OPEN = 1,   /* its peer may write into it */
	XEN2MX_LANE_CLOSED = 2, /* no more frames: take those left, then ignore it */
};

struct xen2mx_lane_info {
	__u32 state;          /* XEN2MX_LANE_*; read it before the rest (acquire) */
	__u32 generation;     /* bumped each time the entry is given to a new lane */
	__u32 offset;         /* the lane's head page, from the start of the mapping */
	__u32 slots;          /* power of two; the slots follow the head page */
	__u32 slot_bytes;     /* power of two: struct xen2mx_rx_slot + the longest frame */
	__u8 peer_mac[6];     /* every frame of the lane comes from this board ... */
	__u8 peer_endpoint;   /* ... and this endpoint of it */
	__u8 pad;
	__u32 pad2[2];
};

struct xen2mx_lanes {
	__u32 magic;          /* XEN2MX_LANES_MAGIC where the device has lanes */
	__u32 count;          /* entries ever used, 0 .. XEN2MX_LANES_MAX */
	__u32 pad[14];
	struct xen2mx_lane_info lane[XEN2MX_LANES_MAX];
};

/* A lane's head page. Each field has a cache line of its own. */
struct xen2mx_lane_head {
	__u32 magic;          /* receiver's kernel: XEN2MX_LANES_MAGIC */
	__u32 slots;          /* receiver's kernel: as in the lane table */
	__u32 slot_bytes;
	__u32 nr_pages;       /* pages of slots after the head page */
	__u32 pad0[12];
	__u32 prod;           /* sender's kernel: frames written */
	__u32 pad1[15];
	__u32 cons;           /* receiving process: frames done with */
	__u32 pad2[15];
	__u32 wake;           /* receiver's kernel: nonzero while a process waits (notify) */
	__u32 pad3[15];
	__u32 gone;           /* receiver's kernel: nonzero once closed (write no more) */
	__u32 pad4[15];
};
/* Where the head page lists the grant references of the slot pages (kernel only). */
#define XEN2MX_LANE_REFS_OFFSET 1024

enum xen2mx_event_type {
	XEN2MX_EVENT_NONE = 0,
	XEN2MX_EVENT_SEND_DONE = 1, /* a zero-copy send's pages are back */
};

struct xen2mx_event {
	__u32 type;           /* XEN2MX_EVENT_* */
	__s32 status;         /* 0, or a negative errno */
	__u64 cookie;
};

#endif /* XEN2MX_UAPI_H */
