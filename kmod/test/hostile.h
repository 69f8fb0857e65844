/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen2mx-front-hostile.ko: a test-only guest frontend for the xenbus device
 * type "xen2mx" (load it instead of xen2mx-front.ko). It connects as the real
 * frontend does, then, on demand through sysfs, sends Dom0's backend what a
 * broken or malicious guest would: bad requests, grants it never made, ring
 * indexes out of bounds, bad connection keys, floods. Each attack knows what
 * a sound backend answers (an errno, or closing the connection) and reports
 * whether it did. Built and loaded by tests/vm/xen (CTest xen.faults) only;
 * never installed.
 *
 * sysfs, in /sys/bus/xen/devices/xen2mx-N/:
 *   attacks  the attacks' names, one a line, in the order to run them
 *   attack   write a name: runs it (sleeps until it is judged)
 *   result   "PASS name: what happened" or "FAIL name: ..." of the last one
 *   status   the connection: state, connections made, refusals
 * The flood (attack "flood", not listed: it never ends) starts when the
 * device's xenstore node "flood" says "go" (written from Dom0). The lane
 * attacks on the good guest (hostile_lane_peer.c, not listed either) start
 * when the node "lanes" names them.
 */
#ifndef XEN2MX_HOSTILE_H
#define XEN2MX_HOSTILE_H

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <xen/grant_table.h>
#include <xen/xenbus.h>

#include "../include/uapi/xen2mx.h"
#include "../include/xen2mx_xenbus.h"

/* How the next connection's keys are wrong (one connection only). */
enum x2mh_fault {
	X2MH_FAULT_NONE,
	X2MH_FAULT_VERSION,      /* protocol-version 99 */
	X2MH_FAULT_CHUNK_PAGES,  /* tx-chunk-pages 0 */
	X2MH_FAULT_CHUNK_HUGE,   /* tx-chunk-pages 4096 */
	X2MH_FAULT_RING_REF,     /* ring-ref never granted */
	X2MH_FAULT_RING_RO,      /* the ring granted read-only */
	X2MH_FAULT_POOL_REFS,    /* the pool list's last reference never granted */
	X2MH_FAULT_POOL_REF,     /* tx-pool-ref never granted */
	X2MH_FAULT_EVTCHN,       /* event-channel not ours to give */
	X2MH_FAULT_MISSING,      /* no tx-pool-ref key */
};

/* Pages of the guest, each granted to Dom0 (or to whom the attack says). */
struct x2mh_pages {
	unsigned int count;
	struct page **pages;
	grant_ref_t *refs;       /* INVALID_GRANT_REF once ended */
};

struct x2mh_flood;

struct x2mh_dev {
	struct xenbus_device *xb;
	domid_t backend_id;
	struct mutex conn_lock;     /* connect, teardown */
	struct mutex attack_lock;   /* one attack at a time */
	struct rw_semaphore conn_sem; /* held (read) while the ring or a chunk is touched */
	spinlock_t ring_lock;
	wait_queue_head_t wait;     /* responses, connection changes */
	atomic_t events;            /* events from the backend */

	/* What the backend published. */
	u8 mac[6];
	unsigned int mtu, max_endpoints;

	/* The connection. */
	bool connected;             /* the backend said Connected */
	bool set_up;                /* ring, pool and channel exist */
	unsigned int connects;      /* connections that reached Connected */
	unsigned int refusals;      /* times the backend closed a live or offered connection */
	struct x2mx_front_ring ring;
	grant_ref_t ring_ref;
	int irq;
	evtchn_port_t port;
	void *chunks[X2MX_TX_CHUNKS];     /* one page each (tx-chunk-pages 1) */
	grant_ref_t chunk_refs[X2MX_TX_CHUNKS];
	void *pool_list;
	grant_ref_t pool_list_ref;
	u32 next_id;
	enum x2mh_fault fault;      /* for the next connection */
	bool lanes;                 /* the next connections say feature-lanes */
	bool gave_up;               /* this side failed to connect: no new attempt */
	bool deaf;                  /* the backend's Closing goes unanswered */
	bool closing_ignored;       /* ... and one came */

	struct list_head siblings;  /* every device of this guest (x2mh_sibling_get()) */
	struct task_struct *flood;
	struct x2mh_flood *flood_state;
	atomic64_t flood_posted, flood_answered;
	char notes[1280];            /* what the running attack saw */
	char result[1400];           /* the last verdict */
};

/* hostile_bus.c */
void x2mh_close_locked(struct x2mh_dev *dev);
int x2mh_reconnect(struct x2mh_dev *dev, enum x2mh_fault fault, unsigned int *refused);
int x2mh_wait_reconnected(struct x2mh_dev *dev, unsigned int connects, unsigned long timeout);
struct x2mh_dev *x2mh_sibling_get(struct x2mh_dev *dev);
void x2mh_sibling_put(struct x2mh_dev *sibling);

/* hostile_ring.c */
int x2mh_post(struct x2mh_dev *dev, struct x2mx_request *reqs, unsigned int count);
int x2mh_collect(struct x2mh_dev *dev, struct x2mx_response *rsps, unsigned int count, unsigned long timeout);
int x2mh_call(struct x2mh_dev *dev, struct x2mx_request *req, struct x2mx_response *rsp);
int x2mh_chunk_write(struct x2mh_dev *dev, unsigned int chunk, size_t offset, const void *data, size_t len);
int x2mh_ring_raw(struct x2mh_dev *dev, s32 prod_delta, const struct x2mx_request *fill, unsigned int fill_count);
int x2mh_notify_storm(struct x2mh_dev *dev, unsigned int count);
unsigned int x2mh_ring_pending(struct x2mh_dev *dev);
int x2mh_pages_grant(struct x2mh_dev *dev, struct x2mh_pages *p, unsigned int count, domid_t to, bool readonly);
void x2mh_pages_ungrant(struct x2mh_pages *p);
void x2mh_pages_free(struct x2mh_pages *p);
#define X2MH_REF_PAST_TABLE 0x7ffffff0u /* no grant table is that long */
grant_ref_t x2mh_unused_ref(void);
void x2mh_unused_ref_put(grant_ref_t ref);

/* hostile_attacks.c */
ssize_t x2mh_attack_list(char *buf);
int x2mh_attack(struct x2mh_dev *dev, const char *name);

/* hostile_tools.c */
void x2mh_note(struct x2mh_dev *dev, const char *fmt, ...) __printf(2, 3);
int x2mh_open_ep(struct x2mh_dev *dev, struct x2mh_pages *p, s32 wanted, u32 flags, u32 *session);
int x2mh_close_ep(struct x2mh_dev *dev, s32 id, struct x2mh_pages *p);

/* hostile_flood.c */
int x2mh_flood_start(struct x2mh_dev *dev);
void x2mh_flood_stop(struct x2mh_dev *dev);

#endif
