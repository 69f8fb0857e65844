/* SPDX-License-Identifier: GPL-2.0 */
/* What the parts of xen2mx.ko share: boards, endpoints, counters. */
#ifndef XEN2MX_KERNEL_H
#define XEN2MX_KERNEL_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "include/uapi/xen2mx.h"
#include "xen2mx_frame.h"
#include "xen2mx_kapi.h"


/* Why a nack says a frame was not taken (MX's values). */
enum {
	X2M_NACK_BAD_ENDPOINT = 1,   /* no such endpoint id */
	X2M_NACK_ENDPOINT_CLOSED = 2,
	X2M_NACK_BAD_SESSION = 3,
};

/* One endpoint's traffic, as the endpoint listing reports it. */
struct x2m_ep_stats {
	atomic64_t rx_frames, rx_bytes;
	atomic64_t tx_frames, tx_bytes;
	atomic64_t drops;
	atomic64_t pulls_served;
};

struct x2m_endpoint;
struct x2m_region;

/* A network interface that carries MXoE frames. */
struct x2m_board {
	struct kref ref;
	unsigned int index;
	struct net_device __rcu *dev; /* NULL once detached */
	netdevice_tracker tracker;
	struct packet_type pt;
	char ifname[IFNAMSIZ];
	u8 mac[ETH_ALEN];
	unsigned int mtu;
	unsigned int headroom;

	struct mutex ep_mutex; /* endpoint ids are taken and given back under it */
	struct x2m_endpoint __rcu *endpoints[XEN2MX_MAX_ENDPOINTS];
	unsigned int nr_endpoints;

	atomic64_t ctr[XEN2MX_CTR_BOARD_MAX];
};

/* An endpoint: one per open file at most. */
struct x2m_endpoint {
	struct x2m_board *board; /* holds a reference */
	u8 id;
	u32 session;
	u32 flags;               /* XEN2MX_OPEN_* */
	struct pid *tgid;        /* the opening process, NULL for a kernel-owned endpoint;
	                          * a struct pid, so that each caller of the listing sees
	                          * the number its own pid namespace gives it */
	char comm[TASK_COMM_LEN];
	kuid_t uid;
	char owner[X2M_OWNER_LEN]; /* what listings show: "pid/comm" or the kernel owner's name */

	/* Kernel-owned endpoints: frames go to sink->deliver(), no memory is mapped. */
	const struct x2m_sink_ops *sink;
	void *sink_priv;

	void *map;               /* vmalloc_user: ctl page, slots, events */
	size_t map_bytes;
	struct xen2mx_ring_ctl *ctl;
	u8 *rx_base;
	u32 rx_slots, rx_slot_bytes;
	struct xen2mx_event *ev_base;
	u32 ev_entries;

	spinlock_t lock;         /* the producer side of both rings */
	u32 rx_prod, ev_prod;    /* the kernel's own copies, the only ones it trusts */
	wait_queue_head_t wait;
	struct x2m_ep_stats stats;

	/*
	 * The file holds one reference, every zero-copy send in flight one
	 * more: a send the NIC still reads from outlives the file, and its
	 * completion still finds the endpoint (and the module: each one holds
	 * a module reference too).
	 */
	struct kref ref;
	atomic_t pinned;         /* user pages lent to the NIC now */
	atomic_t zc_pending;     /* zero-copy sends not completed */
	struct work_struct free_work;

	/*
	 * Memory regions (region.c): those PULLs name by id and those
	 * KEY_PULLs name by key. The tables are written under region_mutex
	 * and read by the receive path under RCU; a region being served holds
	 * a reference of its own, which deregistering waits for. Both kinds
	 * count in the figures below.
	 */
	struct mutex region_mutex;
	struct x2m_region __rcu *regions[XEN2MX_REGION_IDS];
	struct x2m_region __rcu *keyed[XEN2MX_KEYED_SLOTS];
	unsigned int region_pages;  /* pinned by them, under region_mutex */
	atomic_t nr_regions;        /* for the receive path and listings */
	atomic_t nr_keyed;          /* of which keyed, for the receive path */
	atomic_t region_pages_now;  /* the same as region_pages, for listings */
};

/* main.c */
extern struct workqueue_struct *x2m_wq;
extern atomic64_t x2m_global_ctr[XEN2MX_CTR_MAX - XEN2MX_CTR_BOARD_MAX];
static inline void x2m_global_add(int counter, s64 value)
{
	atomic64_add(value, &x2m_global_ctr[counter - XEN2MX_CTR_BOARD_MAX]);
}
static inline void x2m_count(struct x2m_board *board, int counter)
{
	atomic64_inc(&board->ctr[counter]);
}

/* board.c */
int x2m_boards_init(const char *ifnames);
void x2m_boards_exit(void);
int x2m_board_attach(const char *ifname, unsigned int *index);
int x2m_board_detach(const char *ifname);
int x2m_board_info(struct xen2mx_board_info *info);
void x2m_board_counters(u32 index, u64 *values);
unsigned int x2m_boards_count(void);

/* endpoint.c */
int x2m_endpoint_open(struct x2m_endpoint **out, struct xen2mx_endpoint_open *req);
void x2m_endpoint_put(struct x2m_endpoint *ep);
void x2m_endpoint_event(struct x2m_endpoint *ep, u32 type, s32 status, u64 cookie);
bool x2m_endpoint_pending(struct x2m_endpoint *ep);
int x2m_endpoint_deliver(struct x2m_endpoint *ep, const u8 *eth, const struct sk_buff *skb);

/* recv.c */
int x2m_recv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt,
	     struct net_device *orig_dev);
int x2m_demux(struct x2m_board *board, struct sk_buff *skb);

/* list.c */
long x2m_ioctl_list_endpoints(void __user *arg);

/* nack.c */
void x2m_nack(struct x2m_board *board, const u8 *head, unsigned int length, int endpoint, int why);

/* send.c */
extern unsigned int x2m_pinned_pages;
int x2m_send(struct x2m_endpoint *ep, const struct xen2mx_send *req);

/* region.c */
long x2m_ioctl_region_register(struct x2m_endpoint *ep, void __user *arg);
long x2m_ioctl_region_deregister(struct x2m_endpoint *ep, void __user *arg);
long x2m_ioctl_keyed_register(struct x2m_endpoint *ep, void __user *arg);
long x2m_ioctl_keyed_deregister(struct x2m_endpoint *ep, void __user *arg);
void x2m_regions_release(struct x2m_endpoint *ep);
struct x2m_region *x2m_region_get(struct x2m_endpoint *ep, u32 id);
struct x2m_region *x2m_keyed_get(struct x2m_endpoint *ep, u64 key, u64 addr, u64 length);
void x2m_region_put(struct x2m_region *region);

/* pull.c */
bool x2m_pull_serve(struct x2m_endpoint *ep, const u8 *eth, const struct sk_buff *skb);

/* key_pull.c */
bool x2m_key_pull_serve(struct x2m_endpoint *ep, const u8 *eth, const struct sk_buff *skb);

#endif
