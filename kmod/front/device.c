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

#include "../common/abi_args.h"
#include "../common/endpoint_file.h"
#include "front.h"

static ushort mode = 0666;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode, "Permissions of /dev/xen2mx (default 0666)");

/*
 * As on bare metal: the provider keeps up to four pull blocks of 32 replies
 * in flight towards one endpoint (128 frames, 2 MiB at MTU 9000), and frames
 * past the ring's end are dropped and resent after a timeout. Each page
 * costs a grant entry: Dom0's max-ring-pages and the ref list's chunk cap it.
 */
unsigned int x2mf_rx_ring_kb = 4096;
module_param_named(rx_ring_kb, x2mf_rx_ring_kb, uint, 0644);
MODULE_PARM_DESC(rx_ring_kb, "Receive ring of each endpoint, in KiB (16..65536; Dom0's max-ring-pages caps it)");

unsigned int x2mf_events = 1024;
module_param_named(events, x2mf_events, uint, 0644);
MODULE_PARM_DESC(events, "Event queue entries of each endpoint (16..65536)");

unsigned int x2mf_pinned_pages = 1024;
module_param_named(pinned_pages, x2mf_pinned_pages, uint, 0644);
MODULE_PARM_DESC(pinned_pages, "User pages one endpoint may have granted to Dom0 at once (zero-copy sends)");

unsigned int x2mf_region_pages = 16384;
module_param_named(region_pages, x2mf_region_pages, uint, 0644);
MODULE_PARM_DESC(region_pages, "Pages the memory regions of one endpoint may hold pinned and granted to Dom0");

bool x2mf_lanes = true;
module_param_named(lanes, x2mf_lanes, bool, 0444);
MODULE_PARM_DESC(lanes, "Frames to endpoints of other guests of this host go straight to them, not through Dom0, when Dom0 can introduce them (default on)");

atomic64_t x2mf_global_ctr[XEN2MX_CTR_MAX - XEN2MX_CTR_BOARD_MAX];

X2M_EP_FILE_OPS(x2mf_file_ops, struct x2mf_ep, x2mf_endpoint_open, x2mf_endpoint_close)

static long x2mf_ioctl_wait(struct x2mf_ep *ep, void __user *arg)
{
	struct xen2mx_wait req;
	long left = x2m_abi_wait_request(arg, &req);

	if (left)
		return left;
	atomic_inc(&ep->lane_waiters); /* senders through lanes notify meanwhile */
	left = wait_event_interruptible_timeout(ep->wait, x2mf_endpoint_pending(ep),
						msecs_to_jiffies(req.timeout_ms));
	x2mf_lanes_in_unwait(ep);
	if (left < 0)
		return left; /* a signal */
	if (READ_ONCE(ep->dead))
		return -ENOTCONN;
	return x2m_abi_wait_answer(arg, &req, x2mf_endpoint_pending(ep));
}

static long x2mf_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct x2mf_ep *ep;

	switch (cmd) {
	case XEN2MX_IOC_VERSION:
		return x2m_abi_version(uarg, x2mf_dev_count());
	case XEN2MX_IOC_BOARD_INFO:
		return x2m_abi_board_info(uarg, x2mf_board_info);
	case XEN2MX_IOC_ATTACH:
	case XEN2MX_IOC_DETACH:
		/* A guest's boards are the devices Dom0 gives it. */
		return capable(CAP_NET_ADMIN) ? -EOPNOTSUPP : -EPERM;
	case XEN2MX_IOC_COUNTERS:
		return x2m_abi_counters(uarg, x2mf_counters, x2mf_global_ctr);
	case XEN2MX_IOC_ENDPOINT_OPEN:
		return x2m_ep_file_open_endpoint(file, uarg, &x2mf_file_ops);
	case XEN2MX_IOC_SEND: {
		struct xen2mx_send req;

		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		if (copy_from_user(&req, uarg, sizeof(req)))
			return -EFAULT;
		return x2mf_send(ep, &req);
	}
	case XEN2MX_IOC_WAIT:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2mf_ioctl_wait(ep, uarg);
	case XEN2MX_IOC_REGION_REGISTER:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2mf_region_register(ep, uarg);
	case XEN2MX_IOC_REGION_DEREGISTER:
		ep = x2m_ep_file_ep(file);
		if (!ep)
			return -ENOTCONN;
		return x2mf_region_deregister(ep, uarg);
	default:
		return -ENOTTY;
	}
}

static __poll_t x2mf_poll(struct file *file, poll_table *wait)
{
	struct x2mf_ep *ep = x2m_ep_file_ep(file);

	if (!ep)
		return EPOLLERR;
	poll_wait(file, &ep->wait, wait);
	if (READ_ONCE(ep->dead))
		return EPOLLERR | EPOLLHUP;
	/*
	 * Checking sets the lanes' `wake` until a wait returns: a poller that
	 * finds nothing is about to sleep, and one that finds something is not.
	 */
	atomic_inc(&ep->lane_waiters);
	if (!x2mf_endpoint_pending(ep)) {
		atomic_dec(&ep->lane_waiters);
		return 0;
	}
	x2mf_lanes_in_unwait(ep);
	return EPOLLIN | EPOLLRDNORM;
}

static int x2mf_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct x2mf_ep *ep = x2m_ep_file_ep(file);

	if (!ep)
		return -ENOTCONN;
	return x2m_abi_mmap(vma, ep->map, ep->map_bytes);
}

static const struct file_operations x2mf_fops = {
	.owner = THIS_MODULE,
	.open = x2m_ep_file_open,
	.release = x2mf_file_ops_release,
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
