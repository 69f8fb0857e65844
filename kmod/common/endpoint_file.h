/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An open /dev/xen2mx file and the one endpoint it may hold, for xen2mx.ko
 * and xen2mx-front.ko alike: the endpoint is published once, after the
 * process was told about it, and never changes after that, so readers need
 * no lock. Each module gives its own open and close.
 */
#ifndef XEN2MX_COMMON_ENDPOINT_FILE_H
#define XEN2MX_COMMON_ENDPOINT_FILE_H

#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "../include/uapi/xen2mx.h"

struct x2m_ep_file {
	struct mutex lock;  /* endpoint creation */
	void *ep;           /* set once, then never changes */
};

struct x2m_ep_file_ops {
	int (*open)(void **ep, struct xen2mx_endpoint_open *req);
	void (*close)(void *ep);
};

/*
 * Defines `name`, the x2m_ep_file_ops of a module whose endpoints are
 * `type`, opened by `int open_fn(type **, struct xen2mx_endpoint_open *)`
 * and closed by `void close_fn(type *)`, and name##_release, the file's
 * release operation.
 */
#define X2M_EP_FILE_OPS(name, type, open_fn, close_fn)					\
	static int name##_open(void **ep, struct xen2mx_endpoint_open *req)		\
	{										\
		type *opened;								\
		int ret = open_fn(&opened, req);					\
											\
		if (!ret)								\
			*ep = opened;							\
		return ret;								\
	}										\
	static void name##_close(void *ep)						\
	{										\
		close_fn(ep);								\
	}										\
	static const struct x2m_ep_file_ops name = {					\
		.open = name##_open,							\
		.close = name##_close,							\
	};										\
	static int name##_release(struct inode *inode, struct file *file)		\
	{										\
		x2m_ep_file_release(file, &name);					\
		return 0;								\
	}

/* The file's open operation: no endpoint yet. */
static inline int x2m_ep_file_open(struct inode *inode, struct file *file)
{
	struct x2m_ep_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static inline void x2m_ep_file_release(struct file *file, const struct x2m_ep_file_ops *ops)
{
	struct x2m_ep_file *f = file->private_data;

	if (f->ep)
		ops->close(f->ep);
	kfree(f);
}

/* The endpoint, once it is published (NULL before). */
static inline void *x2m_ep_file_ep(struct file *file)
{
	struct x2m_ep_file *f = file->private_data;

	return smp_load_acquire(&f->ep);
}

/* XEN2MX_IOC_ENDPOINT_OPEN: one endpoint a file, EBUSY for a second. */
static inline long x2m_ep_file_open_endpoint(struct file *file, void __user *arg, const struct x2m_ep_file_ops *ops)
{
	struct x2m_ep_file *f = file->private_data;
	struct xen2mx_endpoint_open req;
	void *ep;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	mutex_lock(&f->lock);
	ret = -EBUSY;
	if (f->ep)
		goto out;
	ret = ops->open(&ep, &req);
	if (ret)
		goto out;
	if (copy_to_user(arg, &req, sizeof(req))) {
		ops->close(ep);
		ret = -EFAULT;
		goto out;
	}
	smp_store_release(&f->ep, ep);
out:
	mutex_unlock(&f->lock);
	return ret;
}

#endif
