// SPDX-License-Identifier: GPL-2.0
/*
 * xen2mx.ko: MXoE (Myrinet Express over Ethernet) endpoints for user space.
 * /dev/xen2mx is a misc device; each open file may hold one endpoint, whose
 * memory the process maps. Everything an endpoint holds goes when its file
 * is released, which the kernel does however the process ends; the file's
 * owner module reference keeps the module loaded while any file is open.
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

#include "common/abi_args.h"
#include "common/endpoint_file.h"
#include "xen2mx_kernel.h"

static char *ifnames;
module_param(ifnames, charp, 0444);
MODULE_PARM_DESC(ifnames, "Comma-separated interfaces attached as boards at load time");

static ushort mode = 0666;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode, "Permissions of /dev/xen2mx (default 0666)");

unsigned int x2m_rx_ring_kb = 4096;
module_param_named(rx_ring_kb, x2m_rx_ring_kb, uint, 0644);
MODULE_PARM_DESC(rx_ring_kb, "Receive ring of each endpoint, in KiB (64..65536)");

unsigned int x2m_events = 1024;
module_param_named(events, x2m_events, uint, 0644);
MODULE_PARM_DESC(events, "Event queue entries of each endpoint (16..65536)");

struct workqueue_struct *x2m_wq; /* frees endpoints */
atomic64_t x2m_global_ctr[XEN2MX_CTR_MAX - XEN2MX_CTR_BOARD_MAX];

X2M_EP_FILE_OPS(x2m_file_ops, struct x2m_endpoint, x2m_endpoint_open, x2m_endpoint_close)

static long x2m_ioctl_wait(struct x2m_endpoint *ep, void __user *arg)
{
	struct xen2mx_wait req;
	long left = x2m_abi_wait_request(arg, &req);

	if (left)
		return left;
	left = wait_event_interruptible_timeout(ep->wait, x2m_endpoint_pending(ep),
						msecs_to_jiffies(req.timeout_ms));
	if (left < 0)
		return left; /* a signal */
	return x2m_abi_wait_answer(arg, &req, x2m_endpoint_pending(ep));
}

static long x2m_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct x2m_endpoint *ep;

	switch (cmd) {
	case XEN2MX_IOC_VERSION:
		return x2m_abi_version(uarg, x2m_boards_count());
	case XEN2MX_IOC_BOARD_INFO:
		return x2m_abi_board_info(uarg, x2m_board_info);
	case XEN2MX_IOC_ATTACH:
	case XEN2MX_IOC_DETACH: {
		struct xen2mx_attach req;
		unsigned int index = 0;
		int ret;

		if (!capable(CAP_NET_ADMIN))
			return -EPERM;
		if (copy_from_user(&req, uarg, sizeof(req)))
			return -EFAULT;
		if (strnlen(req.ifname, sizeof(req.ifname)) >= sizeof(req.ifname))
			return -EINVAL;
		if (cmd == XEN2MX_IOC_DETACH)
			return x2m_board_detach(req.ifname);
		ret = x2m_board_attach(req.ifname, &index);
		if (ret)
			return ret;
		req.index = index;
		return copy_to_user(uarg, &req, sizeof(req)) ? -EFAULT : 0;
	}
	case XEN2MX_IOC_COUNTERS:
		return x2m_abi_counters(uarg, x2m_board_counters, x2m_global_ctr);
	case XEN2MX_IOC_LIST_ENDPOINTS:
		return x2m_ioctl_list_endpoints(uarg);
	case XEN2MX_IOC_ENDPOINT_OPEN:
		return x2m_ep_file_open_endpoint(file, uarg, &x2m_file_ops);
	case XEN2MX_IOC_SEND: {
		struct xen2mx_send req;

		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		if (copy_from_user(&req, uarg, sizeof(req)))
			return -EFAULT;
		return x2m_send(ep, &req);
	}
	case XEN2MX_IOC_WAIT:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2m_ioctl_wait(ep, uarg);
	case XEN2MX_IOC_REGION_REGISTER:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2m_ioctl_region_register(ep, uarg);
	case XEN2MX_IOC_REGION_DEREGISTER:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2m_ioctl_region_deregister(ep, uarg);
	case XEN2MX_IOC_KEYED_REGISTER:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2m_ioctl_keyed_register(ep, uarg);
	case XEN2MX_IOC_KEYED_DEREGISTER:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2m_ioctl_keyed_deregister(ep, uarg);
	default:
		return -ENOTTY;
	}
}

static __poll_t x2m_poll(struct file *file, poll_table *wait)
{
	struct x2m_endpoint *ep = x2m_ep_file_ep(file);

	if (!ep)
		return EPOLLERR;
	poll_wait(file, &ep->wait, wait);
	return x2m_endpoint_pending(ep) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int x2m_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct x2m_endpoint *ep = x2m_ep_file_ep(file);

	if (!ep)
		return -ENOTCONN;
	return x2m_abi_mmap(vma, ep->map, ep->map_bytes);
}

static const struct file_operations x2m_fops = {
	.owner = THIS_MODULE,
	.open = x2m_ep_file_open,
	.release = x2m_file_ops_release,
	.unlocked_ioctl = x2m_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = x2m_poll,
	.mmap = x2m_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice x2m_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = XEN2MX_DEVICE_NAME,
	.fops = &x2m_fops,
};

static int __init x2m_init(void)
{
	int ret;

	x2m_misc.mode = mode & 0777;
	x2m_wq = alloc_workqueue("xen2mx", 0, 0);
	if (!x2m_wq)
		return -ENOMEM;
	ret = x2m_boards_init(ifnames);
	if (ret) {
		destroy_workqueue(x2m_wq);
		return ret;
	}
	ret = misc_register(&x2m_misc);
	if (ret) {
		x2m_boards_exit();
		destroy_workqueue(x2m_wq);
		return ret;
	}
	pr_info("xen2mx: ABI %d, /dev/%s mode %04o\n", XEN2MX_ABI_VERSION, XEN2MX_DEVICE_NAME,
		x2m_misc.mode);
	return 0;
}

static void __exit x2m_exit(void)
{
	misc_deregister(&x2m_misc);
	destroy_workqueue(x2m_wq); /* the last endpoints' memory */
	x2m_boards_exit();
}

module_init(x2m_init);
module_exit(x2m_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xen2mx: MXoE endpoints for user space");
MODULE_VERSION("0.1.0");
