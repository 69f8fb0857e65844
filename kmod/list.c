// SPDX-License-Identifier: GPL-2.0
/*
 * XEN2MX_IOC_LIST_ENDPOINTS: who holds which endpoint, and its traffic.
 * Entries go out one at a time, each taken under RCU (an endpoint's memory
 * outlives a grace period after it leaves its board's table) and copied to
 * the caller once the lock is dropped, so the kernel allocates nothing
 * whatever the number of endpoints or the size of the caller's buffer.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/pid_namespace.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "xen2mx_kernel.h"

#define X2M_CURSOR(board, id) (((u32)(board) << 8) | (u32)(id))

/* Fills *e from the endpoint at `id` of `board`; false when none is open there. */
static bool x2m_list_snapshot(struct x2m_board *board, unsigned int id, bool show_session,
			      struct xen2mx_endpoint_entry *e)
{
	struct x2m_endpoint *ep;

	rcu_read_lock();
	ep = rcu_dereference(board->endpoints[id]);
	if (!ep) {
		rcu_read_unlock();
		return false;
	}
	memset(e, 0, sizeof(*e));
	e->board = board->index;
	e->endpoint = ep->id;
	e->flags = ep->flags;
	e->session = show_session ? ep->session : 0;
	e->pid = pid_nr_ns(ep->tgid, task_active_pid_ns(current)); /* 0 if not visible there */
	/* A kernel owner has no user: its zero uid would read as root. */
	e->uid = ep->tgid ? from_kuid_munged(current_user_ns(), ep->uid) : XEN2MX_NO_UID;
	BUILD_BUG_ON(sizeof(e->owner) < sizeof(ep->comm));
	strscpy(e->owner, ep->comm, sizeof(e->owner));
	e->rx_frames = atomic64_read(&ep->stats.rx_frames);
	e->rx_bytes = atomic64_read(&ep->stats.rx_bytes);
	e->tx_frames = atomic64_read(&ep->stats.tx_frames);
	e->tx_bytes = atomic64_read(&ep->stats.tx_bytes);
	e->drops = atomic64_read(&ep->stats.drops);
	e->pages_pinned = atomic_read(&ep->pinned);
	e->zerocopy_pending = atomic_read(&ep->zc_pending);
	e->regions = atomic_read(&ep->nr_regions);
	e->region_pages = atomic_read(&ep->region_pages_now);
	e->pulls_served = atomic64_read(&ep->stats.pulls_served);
	rcu_read_unlock();
	return true;
}

long x2m_ioctl_list_endpoints(void __user *arg)
{
	struct xen2mx_list_endpoints req;
	struct xen2mx_endpoint_entry e;
	struct x2m_board *board;
	bool show_session = capable(CAP_NET_ADMIN);
	u32 pos, end, written = 0;
	size_t copy;
	u8 __user *out;

	BUILD_BUG_ON(offsetof(struct xen2mx_endpoint_entry, rx_frames) != XEN2MX_ENTRY_MIN_BYTES);
	BUILD_BUG_ON(sizeof(struct xen2mx_endpoint_entry) != XEN2MX_ENTRY_REGION_BYTES);
	BUILD_BUG_ON(XEN2MX_MAX_ENDPOINTS > 256); /* an id fits the cursor's low byte */
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.entry_bytes < XEN2MX_ENTRY_MIN_BYTES || req.entry_bytes > 4096 || req.entry_bytes % 8)
		return -EINVAL;
	if (req.board == XEN2MX_ALL_BOARDS) {
		pos = 0;
		end = X2M_CURSOR(XEN2MX_MAX_BOARDS, 0);
	} else if (req.board < XEN2MX_MAX_BOARDS) {
		pos = X2M_CURSOR(req.board, 0);
		end = X2M_CURSOR(req.board + 1, 0);
	} else {
		return -EINVAL;
	}
	if (req.cursor == XEN2MX_LIST_END)
		pos = end;
	else if (req.cursor > pos)
		pos = req.cursor;
	if (pos > end)
		return -EINVAL;
	copy = min_t(size_t, req.entry_bytes, sizeof(e));
	out = u64_to_user_ptr(req.entries);

	while (pos < end && written < req.count) {
		unsigned int index = pos >> 8, id = pos & 0xff;

		if (id >= XEN2MX_MAX_ENDPOINTS) {
			pos = X2M_CURSOR(index + 1, 0);
			continue;
		}
		board = x2m_board_get(index);
		if (!board) {
			pos = X2M_CURSOR(index + 1, 0);
			continue;
		}
		for (; id < XEN2MX_MAX_ENDPOINTS && written < req.count; id++) {
			if (!x2m_list_snapshot(board, id, show_session, &e))
				continue;
			if (copy_to_user(out + (size_t)written * req.entry_bytes, &e, copy)) {
				x2m_board_put(board);
				return -EFAULT;
			}
			written++;
		}
		x2m_board_put(board);
		pos = id < XEN2MX_MAX_ENDPOINTS ? X2M_CURSOR(index, id) : X2M_CURSOR(index + 1, 0);
	}
	req.count = written;
	req.cursor = pos < end ? pos : XEN2MX_LIST_END;
	if (copy_to_user(arg, &req, sizeof(req)))
		return -EFAULT;
	return 0;
}
