// SPDX-License-Identifier: GPL-2.0
/*
 * xen2mx-front.ko's /dev/xen2mx: the ioctl/mmap ABI of uapi/xen2mx.h, so
 * that the provider and the tools run in a guest unchanged. Boards are the
 * guest's xen2mx xenbus devices; attaching and detaching interfaces is
 * Dom0's business (EOPNOTSUPP, or EPERM for whoever may not ask).
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "front.h"

static ushort mode = 0666;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode, "Permissions of /dev/xen2mx (default 0666)");

unsigned int x2mf_rx_ring_kb = 256;
module_param_named(rx_ring_kb, x2mf_rx_ring_kb, uint, 0644);
MODULE_PARM_DESC(rx_ring_kb, "Receive ring of each endpoint, in KiB (16..65536; Dom0's max-ring-pages caps it)");

unsigned int x2mf_events = 1024;
module_param_named(events, x2mf_events, uint, 0644);
MODULE_PARM_DESC(events, "Event queue entries of each endpoint (16..65536)");

unsigned int x2mf_pinned_pages = 1024;
module_param_named(pinned_pages, x2mf_pinned_pages, uint, 0644);
MODULE_PARM_DESC(pinned_pages, "User pages one endpoint may have granted to Dom0 at once (zero-copy sends)");

atomic64_t x2mf_global_ctr[XEN2MX_CTR_MAX - XEN2MX_CTR_BOARD_MAX];

struct x2mf_file {
	struct mutex lock;        /* endpoint creation */
	struct x2mf_ep *ep;       /* set once, then never changes */
};

static int x2mf_open(struct inode *inode, struct file *file)
{
	struct x2mf_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static int x2mf_release(struct inode *inode, struct file *file)
{
	struct x2mf_file *f = file->private_data;

	if (f->ep)
		x2mf_endpoint_close(f->ep);
	kfree(f);
	return 0;
}

static struct x2mf_ep *x2mf_file_ep(struct x2mf_file *f)
{
	return smp_load_acquire(&f->ep);
}

static long x2mf_ioctl_counters(void __user *arg)
{
	struct xen2mx_counters *req;
	long ret = 0;
	int i;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
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
	x2mf_counters(req->board, req->values);
	for (i = XEN2MX_CTR_BOARD_MAX; i < XEN2MX_CTR_MAX; i++)
		req->values[i] = atomic64_read(&x2mf_global_ctr[i - XEN2MX_CTR_BOARD_MAX]);
	req->count = XEN2MX_CTR_MAX;
	if (copy_to_user(arg, req, sizeof(*req)))
		ret = -EFAULT;
out:
	kfree(req);
	return ret;
}

static long x2mf_ioctl_open_endpoint(struct x2mf_file *f, void __user *arg)
{
	struct xen2mx_endpoint_open req;
	struct x2mf_ep *ep;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	mutex_lock(&f->lock);
	ret = -EBUSY;
	if (f->ep)
		goto out;
	ret = x2mf_endpoint_open(&ep, &req);
	if (ret)
		goto out;
	if (copy_to_user(arg, &req, sizeof(req))) {
		x2mf_endpoint_close(ep);
		ret = -EFAULT;
		goto out;
	}
	smp_store_release(&f->ep, ep);
out:
	mutex_unlock(&f->lock);
	return ret;
}

static long x2mf_ioctl_wait(struct x2mf_ep *ep, void __user *arg)
{
	struct xen2mx_wait req;
	long left;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.timeout_ms > 3600 * 1000)
		return -EINVAL;
	left = wait_event_interruptible_timeout(ep->wait, x2mf_endpoint_pending(ep),
						msecs_to_jiffies(req.timeout_ms));
	if (left < 0)
		return left; /* a signal */
	if (READ_ONCE(ep->dead))
		return -ENOTCONN;
	req.ready = x2mf_endpoint_pending(ep);
	if (copy_to_user(arg, &req, sizeof(req)))
		return -EFAULT;
	return 0;
}

static long x2mf_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct x2mf_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct x2mf_ep *ep;

	switch (cmd) {
	case XEN2MX_IOC_VERSION: {
		struct xen2mx_version v = {
			.abi = XEN2MX_ABI_VERSION,
			.max_boards = XEN2MX_MAX_BOARDS,
			.max_endpoints = XEN2MX_MAX_ENDPOINTS,
			.boards = x2mf_dev_count(),
		};
		return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
	}
	case XEN2MX_IOC_BOARD_INFO: {
		struct xen2mx_board_info info;
		int ret;

		if (copy_from_user(&info, uarg, sizeof(info)))
			return -EFAULT;
		ret = x2mf_board_info(&info);
		if (ret)
			return ret;
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	}
	case XEN2MX_IOC_ATTACH:
	case XEN2MX_IOC_DETACH:
		/* A guest's boards are the devices Dom0 gives it. */
		return capable(CAP_NET_ADMIN) ? -EOPNOTSUPP : -EPERM;
	case XEN2MX_IOC_COUNTERS:
		return x2mf_ioctl_counters(uarg);
	case XEN2MX_IOC_ENDPOINT_OPEN:
		return x2mf_ioctl_open_endpoint(f, uarg);
	case XEN2MX_IOC_SEND: {
		struct xen2mx_send req;

		ep = x2mf_file_ep(f);
		if (!ep)
			return -ENOTCONN;
		if (copy_from_user(&req, uarg, sizeof(req)))
			return -EFAULT;
		return x2mf_send(ep, &req);
	}
	case XEN2MX_IOC_WAIT:
		ep = x2mf_file_ep(f);
		if (!ep)
			return -ENOTCONN;
		return x2mf_ioctl_wait(ep, uarg);
	default:
		return -ENOTTY;
	}
}

static __poll_t x2mf_poll(struct file *file, poll_table *wait)
{
	struct x2mf_ep *ep = x2mf_file_ep(file->private_data);

	if (!ep)
		return EPOLLERR;
	poll_wait(file, &ep->wait, wait);
	if (READ_ONCE(ep->dead))
		return EPOLLERR | EPOLLHUP;
	return x2mf_endpoint_pending(ep) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int x2mf_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct x2mf_ep *ep = x2mf_file_ep(file->private_data);

	if (!ep)
		return -ENOTCONN;
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_ALIGN(ep->map_bytes))
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	return remap_vmalloc_range(vma, ep->map, 0);
}

static const struct file_operations x2mf_fops = {
	.owner = THIS_MODULE,
	.open = x2mf_open,
	.release = x2mf_release,
	.unlocked_ioctl = x2mf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = x2mf_poll,
	.mmap = x2mf_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice x2mf_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = XEN2MX_DEVICE_NAME,
	.fops = &x2mf_fops,
};

static int __init x2mf_init(void)
{
	int ret;

	x2mf_misc.mode = mode & 0777;
	ret = misc_register(&x2mf_misc);
	if (ret)
		return ret;
	ret = x2mf_bus_init();
	if (ret) {
		misc_deregister(&x2mf_misc);
		return ret;
	}
	pr_info("xen2mx-front: ABI %d, /dev/%s mode %04o\n", XEN2MX_ABI_VERSION, XEN2MX_DEVICE_NAME,
		x2mf_misc.mode);
	return 0;
}

static void __exit x2mf_exit(void)
{
	misc_deregister(&x2mf_misc); /* no file is open: the module is not in use */
	x2mf_bus_exit();
}

module_init(x2mf_init);
module_exit(x2mf_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xen2mx: guest frontend of the Xen split driver, /dev/xen2mx in a guest");
MODULE_VERSION("0.1.0");
MODULE_ALIAS("xen:xen2mx");
