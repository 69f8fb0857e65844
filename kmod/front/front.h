/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen2mx-front.ko: a guest's /dev/xen2mx. Each xen2mx xenbus device is one
 * board of the guest, bridged by Dom0 (xen2mx-back.ko) onto a board of
 * xen2mx.ko; user space sees the ABI of uapi/xen2mx.h, as on bare metal.
 */
#ifndef XEN2MX_FRONT_H
#define XEN2MX_FRONT_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <xen/grant_table.h>
#include <xen/xenbus.h>

#include "../include/uapi/xen2mx.h"
#include "../include/xen2mx_xenbus.h"
#include "../xen2mx_frame.h"

extern unsigned int x2mf_rx_ring_kb;
extern unsigned int x2mf_events;
extern unsigned int x2mf_pinned_pages;
extern unsigned int x2mf_region_pages;
extern bool x2mf_lanes;
extern atomic64_t x2mf_global_ctr[XEN2MX_CTR_MAX - XEN2MX_CTR_BOARD_MAX];
static inline void x2mf_global_add(int counter, s64 value)
{
	atomic64_add(value, &x2mf_global_ctr[counter - XEN2MX_CTR_BOARD_MAX]);
}

struct x2mf_zc;
struct x2mf_region;
struct x2mf_lane_out;

/* Someone sleeping until the response to its request comes. */
struct x2mf_waiter {
	struct completion done;
	struct x2mx_response rsp;
};

/*
 * One ring slot and its tx chunk, with what the response must finish.
 * LISTEN and LANE requests are answered to the lane work (notice.c), never
 * waited for: a teardown must be able to stop that work whatever Dom0 does.
 */
enum { X2MF_SLOT_FREE, X2MF_SLOT_WAIT, X2MF_SLOT_COPY, X2MF_SLOT_ZC, X2MF_SLOT_LISTEN, X2MF_SLOT_LANE };
struct x2mf_slot {
	u8 kind;
	u32 id;
	struct x2mf_waiter *waiter; /* WAIT */
	struct x2mf_zc *zc;         /* ZC */
	u32 cookie;                 /* LANE: an OFFER's lane serial (0 for an ASK) */
};

/* A notice from Dom0, or the refusal of an OFFER, waiting for the lane work. */
#define X2MF_NOTICE_OFFER_REFUSED 0x80 /* token: the lane's serial */
struct x2mf_notice {
	s32 endpoint;
	struct x2mx_notice n;
};
#define X2MF_NOTICES 16
#define X2MF_ASKS 32

/* A lane's pages at most, past its head page: 4 slots of 64 KiB. */
#define X2MF_LANE_PAGES_MAX 64

/* One xen2mx xenbus device: a board of the guest. */
struct x2mf_dev {
	struct kref ref;
	struct xenbus_device *xb;   /* NULL once removed */
	domid_t backend_id;
	unsigned int index;         /* the board's index */
	char name[XEN2MX_IFNAME_LEN];
	struct mutex lock;          /* connect, teardown, removal */

	/* What the backend published. */
	u8 mac[6];
	unsigned int mtu, max_endpoints, max_ring_pages;

	/* The connection. Requests are built under conn_sem (read); teardown
	 * takes it for writing, so no chunk is written once it is gone. */
	struct rw_semaphore conn_sem;
	spinlock_t ring_lock;       /* slots, the request producer, `connected` */
	bool connected;             /* requests may be posted */
	u32 generation;             /* bumped by every teardown */
	struct x2mx_front_ring ring;
	grant_ref_t ring_ref;
	struct x2mx_stats *stats;   /* in the ring page, written by Dom0 */
	int irq;
	unsigned int chunk_pages;
	void *chunks[X2MX_TX_CHUNKS];
	grant_ref_t *pool_refs;     /* X2MX_TX_CHUNKS * chunk_pages */
	void *pool_list;
	grant_ref_t pool_list_ref;
	struct x2mf_slot slots[X2MX_TX_CHUNKS];
	u64 free_slots;             /* bit per slot */
	wait_queue_head_t slot_wait;
	u32 next_id, answered_id;   /* requests posted, and the last answered */
	wait_queue_head_t answered_wait;
	struct work_struct rsp_work;

	spinlock_t ep_lock;
	struct list_head endpoints;
	unsigned int nr_endpoints;

	u64 retired[XEN2MX_CTR_BOARD_MAX]; /* counters of past connections */
	atomic64_t refused;         /* frames this guest refused before Dom0 saw them */
	atomic64_t interrupts, responses;

	/* Lanes (notice.c), per connection; `lanes` changes under ring_lock. */
	bool lanes;                 /* both sides speak them on this connection */
	spinlock_t lane_lock;       /* what follows, up to lane_work */
	bool lanes_stopped;         /* the lane work may not be queued */
	bool listening;             /* a LISTEN is posted */
	bool listen_failed;         /* Dom0 refused one: not posted again on this connection */
	bool notices_lost;          /* the queue overflowed: as a RESET */
	unsigned int notice_head, notice_count;
	struct x2mf_notice notices[X2MF_NOTICES];
	unsigned int ask_count;
	struct { u8 endpoint, peer_endpoint; } asks[X2MF_ASKS];
	struct work_struct lane_work;
	u32 lane_serial;            /* the lane work's only */
};

/* The receiving end of a lane (lane_in.c): pages of the endpoint's mapping granted to a peer. */
struct x2mf_lane_in {
	struct x2mf_ep *ep;
	u32 state;                  /* XEN2MX_LANE_*; OPEN is read by the wait path unlocked */
	u32 generation;
	u32 serial;                 /* names it to the OFFER's answer */
	domid_t peer_domid;
	u8 peer_endpoint;
	int irq;                    /* > 0: the event channel is bound */
	struct xen2mx_lane_head *head; /* in ep->map, for the endpoint's life */
	unsigned int nr_refs;       /* granted: the head page, then the slot pages */
	grant_ref_t refs[1 + X2MF_LANE_PAGES_MAX];
};

/* An endpoint: one per open file at most. */
struct x2mf_ep {
	struct kref ref;            /* the file, and each zero-copy send in flight */
	struct x2mf_dev *dev;       /* holds a reference */
	u32 generation;             /* the connection it was opened on */
	bool dead;                  /* that connection is gone */
	struct list_head node;      /* in dev->endpoints */

	u8 id;
	u32 session, flags;
	unsigned int max_frame;

	void *map;                  /* vmalloc_user: ctl page, slots, events */
	size_t map_bytes;
	struct xen2mx_ring_ctl *ctl;
	u32 rx_slots, rx_slot_bytes;
	struct xen2mx_event *ev_base;
	u32 ev_entries;
	grant_ref_t *refs;          /* ctl + rx pages, granted to Dom0 */
	unsigned int nr_refs;

	spinlock_t lock;            /* the event producer */
	u32 ev_prod;
	wait_queue_head_t wait;
	atomic_t pinned;            /* user pages lent out now */
	atomic_t zc_pending;

	/* Memory regions (region.c): Dom0 maps them while they are here. */
	struct mutex region_mutex;
	struct x2mf_region *regions[XEN2MX_REGION_IDS];
	unsigned int region_pages;

	/* Lanes: only where the connection had them when the endpoint opened. */
	bool lanes;
	u8 mac[6];                  /* the board's */
	u32 lane_slots, lane_slot_bytes, lane_pages; /* each receiving lane's, pages past the head */
	size_t lanes_offset;        /* in map: XEN2MX_LANES_MAX of (head page, lane_pages) */
	struct mutex lanes_in_mutex; /* lanes_in, lanes_count, lanes_in_off */
	struct x2mf_lane_in lanes_in[XEN2MX_LANES_MAX];
	u32 lanes_count;
	bool lanes_in_off;          /* closing: no lane is opened for it any more */
	atomic_t lane_waiters;      /* in XEN2MX_IOC_WAIT: the heads' `wake` stays set */
	struct mutex lanes_out_mutex; /* lanes_out and each lane of it, lanes_out_off */
	struct x2mf_lane_out **lanes_out; /* by destination endpoint, allocated at first use */
	bool lanes_out_off;         /* closing: no lane is mapped for it any more */
};

/* bus.c */
struct x2mf_dev *x2mf_dev_get(unsigned int index);
void x2mf_dev_put(struct x2mf_dev *dev);
unsigned int x2mf_dev_count(void);
void x2mf_counters(u32 board, u64 *values);
int x2mf_board_info(struct xen2mx_board_info *info);
int x2mf_slot_get(struct x2mf_dev *dev, u32 generation, u8 kind, bool interruptible, unsigned int *slot);
void x2mf_slot_put(struct x2mf_dev *dev, u32 generation, unsigned int slot);
void *x2mf_chunk(struct x2mf_dev *dev, unsigned int slot);
void x2mf_post(struct x2mf_dev *dev, unsigned int slot, struct x2mx_request *req, struct x2mf_waiter *waiter,
	       struct x2mf_zc *zc);
int x2mf_bus_init(void);
void x2mf_bus_exit(void);

/* endpoint.c */
int x2mf_endpoint_open(struct x2mf_ep **out, struct xen2mx_endpoint_open *req);
void x2mf_endpoint_close(struct x2mf_ep *ep);
void x2mf_endpoint_put(struct x2mf_ep *ep);
void x2mf_endpoint_event(struct x2mf_ep *ep, u32 type, s32 status, u64 cookie);
bool x2mf_endpoint_pending(struct x2mf_ep *ep);
void x2mf_endpoints_fail(struct x2mf_dev *dev);
void x2mf_endpoints_wake(struct x2mf_dev *dev);
void x2mf_ungrant(grant_ref_t ref, struct page *page);
int x2mf_call(struct x2mf_dev *dev, u32 generation, struct x2mx_request *req, const void *chunk_data,
	      size_t chunk_bytes, struct x2mx_response *rsp);

/* region.c */
long x2mf_region_register(struct x2mf_ep *ep, void __user *arg);
long x2mf_region_deregister(struct x2mf_ep *ep, void __user *arg);
void x2mf_regions_release(struct x2mf_ep *ep);

/* notice.c */
void x2mf_lanes_init(struct x2mf_dev *dev);
void x2mf_lanes_connected(struct x2mf_dev *dev);
void x2mf_lanes_stop(struct x2mf_dev *dev);
void x2mf_lanes_sweep(struct x2mf_dev *dev);
void x2mf_lanes_listened(struct x2mf_dev *dev, const struct x2mx_response *rsp);
void x2mf_lanes_answered(struct x2mf_dev *dev, const struct x2mx_response *rsp, u32 cookie);
void x2mf_lanes_ask(struct x2mf_dev *dev, u8 endpoint, u8 peer_endpoint);
int x2mf_lanes_post(struct x2mf_dev *dev, u32 generation, u8 kind, struct x2mx_request *rq, u32 cookie);

/* lane_in.c */
void x2mf_evtchn_close(evtchn_port_t port);
size_t x2mf_lanes_in_layout(struct x2mf_ep *ep);
void x2mf_lanes_in_init(struct x2mf_ep *ep, size_t offset);
void x2mf_lane_wanted(struct x2mf_ep *ep, const struct x2mx_notice *n);
void x2mf_lane_offer_refused(struct x2mf_ep *ep, u32 serial);
void x2mf_lanes_in_close(struct x2mf_ep *ep, bool all, domid_t peer, bool final);
bool x2mf_lanes_in_pending(struct x2mf_ep *ep);
void x2mf_lanes_in_unwait(struct x2mf_ep *ep);

/* lane_out.c */
int x2mf_lane_send(struct x2mf_ep *ep, const struct xen2mx_iovec *iov, u32 count, u64 total);
void x2mf_lane_ready(struct x2mf_ep *ep, const struct x2mx_notice *n);
void x2mf_lanes_out_close(struct x2mf_ep *ep, bool all, domid_t peer, bool final);

/* send.c */
int x2mf_send(struct x2mf_ep *ep, const struct xen2mx_send *req);
void x2mf_zc_finish(struct x2mf_zc *zc, bool report, int status);

#endif
