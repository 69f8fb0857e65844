/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ring maths of an endpoint's mapped control page and event queue,
 * shared by xen2mx.ko and xen2mx-front.ko (static inline: each module
 * compiles its own copy). The process writes the consumer counters and may
 * lie about them: the kernel trusts only its own producer copy.
 */
#ifndef XEN2MX_COMMON_EVENT_QUEUE_H
#define XEN2MX_COMMON_EVENT_QUEUE_H

#include <linux/compiler.h>
#include <asm/barrier.h>

#include "../include/uapi/xen2mx.h"

/*
 * Writes one event into the `entries` (a power of two) at `base` and
 * publishes *prod to the process, unless the queue is full by the
 * process's word: then the event is lost, never written outside the queue.
 * The caller serialises the producers and wakes the waiters when true.
 */
static inline bool x2m_evq_put(struct xen2mx_ring_ctl *ctl, struct xen2mx_event *base, u32 entries, u32 *prod,
			       u32 type, s32 status, u64 cookie)
{
	struct xen2mx_event *ev;

	if (*prod - READ_ONCE(ctl->ev_cons) >= entries)
		return false;
	ev = &base[*prod & (entries - 1)];
	ev->type = type;
	ev->status = status;
	ev->cookie = cookie;
	(*prod)++;
	smp_store_release(&ctl->ev_prod, *prod);
	return true;
}

/*
 * No room for one more event once `in_flight` more (zero-copy sends whose
 * completions are still to come) are counted in: the queue by the
 * process's word, read without the producers' lock.
 */
static inline bool x2m_evq_no_room(struct xen2mx_ring_ctl *ctl, u32 entries, const u32 *prod, int in_flight)
{
	return (u32)(READ_ONCE(*prod) - READ_ONCE(ctl->ev_cons)) + in_flight >= entries;
}

/* Anything the process has still to read, frames or events. */
static inline bool x2m_ring_ctl_pending(struct xen2mx_ring_ctl *ctl)
{
	return READ_ONCE(ctl->rx_prod) != READ_ONCE(ctl->rx_cons) ||
	       READ_ONCE(ctl->ev_prod) != READ_ONCE(ctl->ev_cons);
}

#endif
