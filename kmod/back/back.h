/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen2mx-back.ko: Dom0's end of the xen2mx split driver. One struct
 * x2mb_dev per guest device (xenbus type "xen2mx"); each guest endpoint is
 * an endpoint of Dom0's board opened through xen2mx.ko's kernel API, whose
 * received frames are written straight into the guest's granted pages.
 */
#ifndef XEN2MX_BACK_H
#define XEN2MX_BACK_H

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <xen/grant_table.h>
#include <xen/xenbus.h>

#include "../include/uapi/xen2mx.h"
#include "../include/xen2mx_xenbus.h"
#include "../xen2mx_frame.h"
#include "../xen2mx_kapi.h"

extern struct workqueue_struct *x2mb_wq;
extern unsigned int x2mb_max_endpoints;
extern unsigned int x2mb_max_ring_pages;
extern bool x2mb_rx_event_batching;
extern unsigned int x2mb_max_region_pages;
extern bool x2mb_lanes;

/* Guest pages mapped into Dom0, each at its page's kernel address. */
struct x2mb_map {
	unsigned int count;
	struct page **pages;
	grant_handle_t *handles;
};

/* A notice waiting for the guest's LANE_LISTEN: the response's endpoint and notice. */
struct x2mb_notice {
	s32 endpoint;
	struct x2mx_notice n;
};

/* A lane this guest was asked for and may offer (token 0: none). */
struct x2mb_token {
	u32 token;
	u64 asker_serial;          /* the asker's connection (its guest may connect again) */
	u8 asker_ep;
	u8 receiver_ep;            /* this guest's */
};

/* One guest endpoint. */
struct x2mb_ep {
	struct x2mb_dev *dev;
	struct x2m_endpoint *xep;  /* Dom0's endpoint: its id is the guest's */
	struct x2mb_map map;       /* [ctl page][rx slots], writable */
	struct xen2mx_ring_ctl *ctl;
	u32 rx_slots, rx_slot_bytes;
	spinlock_t lock;           /* the producer side of the ring */
	u32 rx_prod;               /* the only copy trusted */
};

struct x2mb_dev {
	struct xenbus_device *xb;
	domid_t domid;
	char owner[X2M_OWNER_LEN]; /* "dom<N>" */
	struct x2m_board *board;
	struct x2m_board_desc desc;
	struct mutex lock;         /* connect, disconnect, removal */

	/* The connection, valid while connected. */
	bool connected;
	bool stopping;             /* disconnecting: no work queued, no response pushed */
	bool broken;               /* the guest broke the protocol: fatal_work disconnects */
	struct work_struct fatal_work;
	struct x2mx_back_ring ring;
	void *ring_page;
	struct x2mx_stats *stats;  /* in the ring page */
	int irq;
	atomic_t notified;         /* an event came since req_work last looked */
	struct work_struct req_work;
	spinlock_t rsp_lock;       /* the response producer */
	unsigned int chunk_pages;
	struct x2mb_map pool;      /* the tx pool, read-only */
	struct gnttab_page_cache cache;

	/* Endpoints by id; changed only by req_work and disconnect. */
	struct x2mb_ep *eps[XEN2MX_MAX_ENDPOINTS];
	unsigned int nr_eps;

	atomic_t tx_inflight;      /* zero-copy sends whose pages are lent out (wait_var_event) */

	atomic_t grants;           /* this device's pages mapped now */
	atomic_t region_pages;     /* of them, in memory regions */
	atomic64_t interrupts, requests, responses;
	atomic64_t rx_events;       /* frames delivered with an event to the guest */
	atomic64_t rx_events_saved; /* frames delivered behind unread ones, without */
	atomic64_t bad_requests;   /* requests answered with an error */

	/* Lanes (lanes.c). `registered`, `peers`: under the registry's lock. */
	bool lanes;                /* both ends said feature-lanes */
	bool registered;
	u64 serial;                /* this connection's, unique while the module lives */
	struct list_head peers;    /* in the registry of connected devices */
	spinlock_t lane_lock;      /* what follows, up to the counters */
	struct x2mb_notice notices[X2MX_NOTICE_QUEUE];
	unsigned int notice_head, notice_count;
	bool listening;            /* a LANE_LISTEN waits for a notice */
	u32 listen_id;
	u16 listen_chunk;
	struct x2mb_token tokens[X2MX_LANE_TOKENS];
	unsigned int token_next;   /* the slot the next token takes */
	u32 token_counter;
	atomic64_t lane_asks, lane_offers; /* answered 0 */
	atomic64_t notices_posted, notice_resets; /* notices for this guest, queues emptied */
};

/* grants.c */
int x2mb_map_grants(struct x2mb_dev *dev, const grant_ref_t *refs, unsigned int count, bool readonly,
		    struct x2mb_map *map);
void x2mb_unmap_grants(struct x2mb_dev *dev, struct x2mb_map *map, bool wait_for_users);
void x2mb_map_copy_from(const struct x2mb_map *map, size_t offset, void *to, size_t len);
int x2mb_chunk_read(struct x2mb_dev *dev, unsigned int chunk, size_t offset, void *to, size_t len);

/* xenbus.c */
void x2mb_fatal(struct x2mb_dev *dev);

static inline struct x2mb_ep *x2mb_ep_of(struct x2mb_dev *dev, s32 id)
{
	if (id < 0 || id >= XEN2MX_MAX_ENDPOINTS)
		return NULL;
	return dev->eps[id];
}

/* lanes.c */
void x2mb_lanes_connected(struct x2mb_dev *dev);
void x2mb_lanes_disconnecting(struct x2mb_dev *dev);
void x2mb_lanes_disconnected(struct x2mb_dev *dev);
int x2mb_lane_listen(struct x2mb_dev *dev, const struct x2mx_request *req, struct x2mx_response *rsp);
int x2mb_lane_ask(struct x2mb_dev *dev, const struct x2mx_request *req);
int x2mb_lane_offer(struct x2mb_dev *dev, const struct x2mx_request *req);
ssize_t x2mb_lanes_show(struct x2mb_dev *dev, char *buf);

/* regions.c */
int x2mb_region(struct x2mb_dev *dev, const struct x2mx_request *req);
int x2mb_unregion(struct x2mb_dev *dev, const struct x2mx_request *req);

/* requests.c */
void x2mb_req_work(struct work_struct *work);
void x2mb_respond(struct x2mb_dev *dev, const struct x2mx_response *rsp);
void x2mb_close_all(struct x2mb_dev *dev);
static inline void x2mb_stat(struct x2mb_dev *dev, int counter, u64 value)
{
	atomic64_add(value, (atomic64_t *)&dev->stats->ctr[counter]);
}

/* Answered later: when the lent pages are back (SEND), when a notice comes (LANE_LISTEN). */
#define X2MB_DEFERRED 1

/* tx.c */
int x2mb_send(struct x2mb_dev *dev, const struct x2mx_request *req);

#endif
