/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The /dev/xen2mx arguments that xen2mx.ko and xen2mx-front.ko check and
 * answer alike, so that a process sees one ABI natively and in a guest.
 * Static inline: each module compiles its own copy (the front must load
 * without xen2mx.ko).
 */
#ifndef XEN2MX_COMMON_ABI_ARGS_H
#define XEN2MX_COMMON_ABI_ARGS_H

#include <linux/atomic.h>
#include <linux/errno.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "../include/uapi/xen2mx.h"

/* Longer waits are a process's mistake, not a wish. */
#define X2M_ABI_WAIT_MAX_MS (3600 * 1000)

/* The endpoint id and the flags an open asks for (XEN2MX_IOC_ENDPOINT_OPEN, the kernel API). */
static inline int x2m_abi_check_open(int wanted, u32 flags)
{
	if (flags & ~(XEN2MX_OPEN_ANY_SESSION | XEN2MX_OPEN_MX_COMPAT))
		return -EINVAL;
	if (wanted != XEN2MX_ANY_ENDPOINT && (wanted < 0 || wanted >= XEN2MX_MAX_ENDPOINTS))
		return -EINVAL;
	return 0;
}

/* XEN2MX_IOC_WAIT's request, its timeout checked: 0, or the error to return. */
static inline long x2m_abi_wait_request(void __user *arg, struct xen2mx_wait *req)
{
	if (copy_from_user(req, arg, sizeof(*req)))
		return -EFAULT;
	if (req->timeout_ms > X2M_ABI_WAIT_MAX_MS)
		return -EINVAL;
	return 0;
}

static inline long x2m_abi_wait_answer(void __user *arg, struct xen2mx_wait *req, bool ready)
{
	req->ready = ready;
	return copy_to_user(arg, req, sizeof(*req)) ? -EFAULT : 0;
}

static inline long x2m_abi_version(void __user *arg, unsigned int boards)
{
	struct xen2mx_version v = {
		.abi = XEN2MX_ABI_VERSION,
		.max_boards = XEN2MX_MAX_BOARDS,
		.max_endpoints = XEN2MX_MAX_ENDPOINTS,
		.boards = boards,
	};

	return copy_to_user(arg, &v, sizeof(v)) ? -EFAULT : 0;
}

static inline long x2m_abi_board_info(void __user *arg, int (*describe)(struct xen2mx_board_info *info))
{
	struct xen2mx_board_info info;
	int ret;

	if (copy_from_user(&info, arg, sizeof(info)))
		return -EFAULT;
	ret = describe(&info);
	if (ret)
		return ret;
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

/*
 * The board counters `board_values` fills for the asked board (or all of
 * them), then the module's global ones from `global`, indexed from
 * XEN2MX_CTR_BOARD_MAX.
 */
static inline long x2m_abi_counters(void __user *arg, void (*board_values)(u32 board, u64 *values),
				    atomic64_t *global)
{
	struct xen2mx_counters *req;
	long ret = 0;
	int i;

	req = kzalloc(sizeof(*req), GFP_KERNEL); /* too large for the stack */
	if (!req)
		return -ENOMEM;
	if (copy_from_user(&req->board, arg, sizeof(req->board))) {
		ret = -EFAULT;
		goto out;
	}
	if (req->board != XEN2MX_ALL_BOARDS && req->board >= XEN2MX_MAX_BOARDS) {
		ret = -EINVAL;
		goto out;
	}
	BUILD_BUG_ON(XEN2MX_CTR_MAX > ARRAY_SIZE(req->values));
	board_values(req->board, req->values);
	for (i = XEN2MX_CTR_BOARD_MAX; i < XEN2MX_CTR_MAX; i++)
		req->values[i] = atomic64_read(&global[i - XEN2MX_CTR_BOARD_MAX]);
	req->count = XEN2MX_CTR_MAX;
	if (copy_to_user(arg, req, sizeof(*req)))
		ret = -EFAULT;
out:
	kfree(req);
	return ret;
}

/* The endpoint's memory, whole, shared, from offset 0. */
static inline int x2m_abi_mmap(struct vm_area_struct *vma, void *map, size_t map_bytes)
{
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_ALIGN(map_bytes))
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	return remap_vmalloc_range(vma, map, 0);
}

#endif
