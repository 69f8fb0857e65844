// SPDX-License-Identifier: GPL-2.0
/*
 * Boards: network interfaces attached to xen2mx. Each one has a packet
 * handler for ethertype 0x86DF bound to its device and a table of the
 * endpoints open on it. The table of boards changes under boards_mutex; the
 * receive path never looks at it (the handler knows its board).
 */
#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "xen2mx_kernel.h"

static DEFINE_MUTEX(boards_mutex);
static struct x2m_board *boards[XEN2MX_MAX_BOARDS];
/* Counters of boards that were detached, so that totals never go back. */
static u64 retired_ctr[XEN2MX_CTR_BOARD_MAX];

static void x2m_board_release(struct kref *ref)
{
	kfree(container_of(ref, struct x2m_board, ref));
}

void x2m_board_put(struct x2m_board *board)
{
	kref_put(&board->ref, x2m_board_release);
}
EXPORT_SYMBOL_GPL(x2m_board_put);

struct x2m_board *x2m_board_get(unsigned int index)
{
	struct x2m_board *board = NULL;

	if (index >= XEN2MX_MAX_BOARDS)
		return NULL;
	mutex_lock(&boards_mutex);
	board = boards[index];
	if (board)
		kref_get(&board->ref);
	mutex_unlock(&boards_mutex);
	return board;
}
EXPORT_SYMBOL_GPL(x2m_board_get);

void x2m_board_describe(struct x2m_board *board, struct x2m_board_desc *desc)
{
	memcpy(desc->mac, board->mac, ETH_ALEN);
	desc->mtu = READ_ONCE(board->mtu);
	desc->headroom = board->headroom;
	desc->attached = rcu_access_pointer(board->dev) != NULL;
}
EXPORT_SYMBOL_GPL(x2m_board_describe);

unsigned int x2m_boards_count(void)
{
	unsigned int i, n = 0;

	mutex_lock(&boards_mutex);
	for (i = 0; i < XEN2MX_MAX_BOARDS; i++)
		n += boards[i] != NULL;
	mutex_unlock(&boards_mutex);
	return n;
}

static int x2m_find_locked(const char *ifname)
{
	int i;

	for (i = 0; i < XEN2MX_MAX_BOARDS; i++)
		if (boards[i] && !strcmp(boards[i]->ifname, ifname))
			return i;
	return -1;
}

int x2m_board_attach(const char *ifname, unsigned int *index)
{
	struct x2m_board *board;
	struct net_device *dev;
	int i, slot = -1, ret;

	if (!ifname[0] || strnlen(ifname, IFNAMSIZ) >= IFNAMSIZ)
		return -EINVAL;
	board = kzalloc(sizeof(*board), GFP_KERNEL);
	if (!board)
		return -ENOMEM;

	mutex_lock(&boards_mutex);
	ret = -EEXIST;
	if (x2m_find_locked(ifname) >= 0)
		goto out_unlock;
	for (i = 0; i < XEN2MX_MAX_BOARDS; i++) {
		if (!boards[i]) {
			slot = i;
			break;
		}
	}
	ret = -ENOSPC;
	if (slot < 0)
		goto out_unlock;
	ret = -ENODEV;
	dev = dev_get_by_name(&init_net, ifname);
	if (!dev)
		goto out_unlock;
	netdev_tracker_alloc(dev, &board->tracker, GFP_KERNEL);
	ret = -EINVAL;
	if (dev->type != ARPHRD_ETHER || dev->addr_len != ETH_ALEN) {
		netdev_put(dev, &board->tracker);
		goto out_unlock;
	}

	kref_init(&board->ref);
	mutex_init(&board->ep_mutex);
	board->index = slot;
	strscpy(board->ifname, ifname, sizeof(board->ifname));
	ether_addr_copy(board->mac, dev->dev_addr);
	WRITE_ONCE(board->mtu, dev->mtu);
	board->headroom = LL_RESERVED_SPACE(dev);
	rcu_assign_pointer(board->dev, dev);
	board->pt.type = htons(XEN2MX_ETHERTYPE);
	board->pt.dev = dev;
	board->pt.func = x2m_recv;
	board->pt.af_packet_priv = board;
	dev_add_pack(&board->pt);
	boards[slot] = board;
	*index = slot;
	mutex_unlock(&boards_mutex);
	pr_info("xen2mx: board %d is %s (%pM, MTU %u)\n", slot, ifname, board->mac, dev->mtu);
	return 0;

out_unlock:
	mutex_unlock(&boards_mutex);
	kfree(board);
	return ret;
}

/*
 * Takes the board out of the table and off its device. Endpoints still open
 * on it keep the structure alive; their sends fail with -ENODEV and nothing
 * reaches them any more.
 */
static void x2m_board_detach_locked(int slot)
{
	struct x2m_board *board = boards[slot];
	struct net_device *dev;
	int i;

	boards[slot] = NULL;
	dev_remove_pack(&board->pt); /* waits for handlers running now */
	dev = rcu_dereference_protected(board->dev, lockdep_is_held(&boards_mutex));
	RCU_INIT_POINTER(board->dev, NULL);
	synchronize_net();           /* senders that saw the device are done with it */
	netdev_put(dev, &board->tracker);
	for (i = 0; i < XEN2MX_CTR_BOARD_MAX; i++)
		retired_ctr[i] += atomic64_read(&board->ctr[i]);
	pr_info("xen2mx: board %d (%s) detached\n", slot, board->ifname);
	x2m_board_put(board);
}

int x2m_board_detach(const char *ifname)
{
	int slot, ret = -ENODEV;

	if (strnlen(ifname, IFNAMSIZ) >= IFNAMSIZ)
		return -EINVAL;
	mutex_lock(&boards_mutex);
	slot = x2m_find_locked(ifname);
	if (slot >= 0) {
		x2m_board_detach_locked(slot);
		ret = 0;
	}
	mutex_unlock(&boards_mutex);
	return ret;
}

int x2m_board_info(struct xen2mx_board_info *info)
{
	struct x2m_board *board;
	struct net_device *dev;
	int ret = -ENODEV;

	if (info->index >= XEN2MX_MAX_BOARDS)
		return -EINVAL;
	mutex_lock(&boards_mutex);
	board = boards[info->index];
	if (board) {
		memset(info->ifname, 0, sizeof(info->ifname));
		strscpy(info->ifname, board->ifname, sizeof(info->ifname));
		memcpy(info->mac, board->mac, ETH_ALEN);
		info->mtu = READ_ONCE(board->mtu);
		info->flags = 0;
		rcu_read_lock();
		dev = rcu_dereference(board->dev);
		if (dev && netif_running(dev) && netif_carrier_ok(dev))
			info->flags |= XEN2MX_BOARD_UP;
		rcu_read_unlock();
		mutex_lock(&board->ep_mutex);
		info->endpoints = board->nr_endpoints;
		mutex_unlock(&board->ep_mutex);
		ret = 0;
	}
	mutex_unlock(&boards_mutex);
	return ret;
}

void x2m_board_counters(u32 index, u64 *values)
{
	int i, b;

	mutex_lock(&boards_mutex);
	if (index == XEN2MX_ALL_BOARDS) {
		for (i = 0; i < XEN2MX_CTR_BOARD_MAX; i++)
			values[i] = retired_ctr[i];
		for (b = 0; b < XEN2MX_MAX_BOARDS; b++)
			if (boards[b])
				for (i = 0; i < XEN2MX_CTR_BOARD_MAX; i++)
					values[i] += atomic64_read(&boards[b]->ctr[i]);
	} else if (index < XEN2MX_MAX_BOARDS && boards[index]) {
		for (i = 0; i < XEN2MX_CTR_BOARD_MAX; i++)
			values[i] = atomic64_read(&boards[index]->ctr[i]);
	}
	mutex_unlock(&boards_mutex);
}

/* An interface that goes away takes its board with it; MTU changes are followed. */
static int x2m_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	int i;

	if (event != NETDEV_UNREGISTER && event != NETDEV_CHANGEMTU)
		return NOTIFY_DONE;
	mutex_lock(&boards_mutex);
	for (i = 0; i < XEN2MX_MAX_BOARDS; i++) {
		if (!boards[i] || rcu_access_pointer(boards[i]->dev) != dev)
			continue;
		if (event == NETDEV_UNREGISTER)
			x2m_board_detach_locked(i);
		else
			WRITE_ONCE(boards[i]->mtu, dev->mtu);
	}
	mutex_unlock(&boards_mutex);
	return NOTIFY_DONE;
}

static struct notifier_block x2m_netdev_notifier = {
	.notifier_call = x2m_netdev_event,
};

int x2m_boards_init(const char *ifnames)
{
	char name[IFNAMSIZ];
	const char *p = ifnames;
	unsigned int index;
	int ret;

	ret = register_netdevice_notifier(&x2m_netdev_notifier);
	if (ret)
		return ret;
	/* A comma-separated list; a name that cannot be attached is reported, not fatal. */
	while (p && *p) {
		size_t len = strcspn(p, ",");

		if (len && len < IFNAMSIZ) {
			memcpy(name, p, len);
			name[len] = '\0';
			ret = x2m_board_attach(name, &index);
			if (ret)
				pr_warn("xen2mx: cannot attach %s: error %d\n", name, ret);
		} else if (len) {
			pr_warn("xen2mx: interface name too long in ifnames\n");
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

void x2m_boards_exit(void)
{
	int i;

	unregister_netdevice_notifier(&x2m_netdev_notifier);
	mutex_lock(&boards_mutex);
	for (i = 0; i < XEN2MX_MAX_BOARDS; i++)
		if (boards[i])
			x2m_board_detach_locked(i);
	mutex_unlock(&boards_mutex);
}
