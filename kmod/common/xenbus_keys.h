/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Writing one side's xenstore keys all at once, and reading the backend's
 * board-mac key: the same for xen2mx-back.ko, xen2mx-front.ko and the
 * hostile test frontend. Static inline: each module compiles its own copy
 * (the front must load without Dom0's modules).
 */
#ifndef XEN2MX_COMMON_XENBUS_KEYS_H
#define XEN2MX_COMMON_XENBUS_KEYS_H

#include <linux/err.h>
#include <linux/errno.h>
#include <linux/if_ether.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <xen/xenbus.h>

/*
 * Runs `write` (which writes the keys of `node`) in one xenstore
 * transaction, again from the start when another writer got in the way,
 * so that the other end sees all the keys or none of them.
 */
static inline int x2mx_xenbus_write_keys(const char *node,
					 int (*write)(struct xenbus_transaction xbt, const char *node, void *data),
					 void *data)
{
	struct xenbus_transaction xbt;
	int ret;

again:
	ret = xenbus_transaction_start(&xbt);
	if (ret)
		return ret;
	ret = write(xbt, node, data);
	if (ret) {
		xenbus_transaction_end(xbt, 1);
		return ret;
	}
	ret = xenbus_transaction_end(xbt, 0);
	if (ret == -EAGAIN)
		goto again;
	return ret;
}

/* The backend's board-mac key of `dir`; EPROTO when it is no MAC address. */
static inline int x2mx_xenbus_read_mac(const char *dir, u8 mac[ETH_ALEN])
{
	unsigned int field[ETH_ALEN];
	char *text;
	int i, ret;

	text = xenbus_read(XBT_NIL, dir, "board-mac", NULL);
	if (IS_ERR(text))
		return PTR_ERR(text);
	ret = sscanf(text, "%x:%x:%x:%x:%x:%x", &field[0], &field[1], &field[2], &field[3], &field[4], &field[5]);
	kfree(text);
	if (ret != ETH_ALEN)
		return -EPROTO;
	for (i = 0; i < ETH_ALEN; i++)
		mac[i] = field[i];
	return 0;
}

#endif
