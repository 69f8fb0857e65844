// SPDX-License-Identifier: GPL-2.0
/*
 * Guest pages mapped into Dom0: a batch of grant references mapped with one
 * hypercall into pages of the device's page cache, each then reachable at
 * its page's kernel address. Every page mapped is counted (the device's
 * and xen2mx.ko's XEN2MX_CTR_GRANTS_MAPPED) until it is unmapped.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <xen/page.h>

#include "back.h"

static unsigned long x2mb_kaddr(struct page *page)
{
	return (unsigned long)pfn_to_kaddr(page_to_pfn(page));
}

static void x2mb_account(struct x2mb_dev *dev, long pages)
{
	atomic_add(pages, &dev->grants);
	x2m_grants_mapped_add(pages);
}

/* Unmaps the first `count` entries of the map whose handle is valid. */
static void x2mb_unmap_some(struct x2mb_dev *dev, struct x2mb_map *map, unsigned int count,
			    bool wait_for_users)
{
	struct gnttab_unmap_grant_ref *ops;
	struct page **pages;
	unsigned int i, n = 0;
	int ret = 0;

	ops = kvcalloc(count, sizeof(*ops), GFP_KERNEL | __GFP_NOFAIL);
	pages = kvcalloc(count, sizeof(*pages), GFP_KERNEL | __GFP_NOFAIL);
	for (i = 0; i < count; i++) {
		if (map->handles[i] == INVALID_GRANT_HANDLE)
			continue;
		gnttab_set_unmap_op(&ops[n], x2mb_kaddr(map->pages[i]), GNTMAP_host_map, map->handles[i]);
		pages[n++] = map->pages[i];
		map->handles[i] = INVALID_GRANT_HANDLE;
	}
	if (n) {
		if (wait_for_users) {
			/* The network stack may still hold page references (a
			 * fragment not yet let go): wait until it does. */
			struct gntab_unmap_queue_data item = {
				.unmap_ops = ops,
				.kunmap_ops = NULL,
				.pages = pages,
				.count = n,
			};

			ret = gnttab_unmap_refs_sync(&item);
		} else {
			ret = gnttab_unmap_refs(ops, NULL, pages, n);
		}
		/* A page that cannot be unmapped cannot be reused either. */
		if (ret)
			pr_err_ratelimited("xen2mx-back: dom%u: unmapping %u grants failed: %d\n",
					   dev->domid, n, ret);
		else
			x2mb_account(dev, -(long)n);
	}
	if (!ret)
		gnttab_page_cache_put(&dev->cache, map->pages, count);
	kvfree(pages);
	kvfree(ops);
}

int x2mb_map_grants(struct x2mb_dev *dev, const grant_ref_t *refs, unsigned int count, bool readonly,
		    struct x2mb_map *map)
{
	struct gnttab_map_grant_ref *ops;
	u32 flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0);
	unsigned int i, got;
	int ret = 0;

	map->count = 0;
	map->pages = kvcalloc(count, sizeof(*map->pages), GFP_KERNEL);
	map->handles = kvcalloc(count, sizeof(*map->handles), GFP_KERNEL);
	ops = kvcalloc(count, sizeof(*ops), GFP_KERNEL);
	if (!map->pages || !map->handles || !ops) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (got = 0; got < count; got++) {
		ret = gnttab_page_cache_get(&dev->cache, &map->pages[got]);
		if (ret) {
			gnttab_page_cache_put(&dev->cache, map->pages, got);
			ret = -ENOMEM;
			goto out_free;
		}
	}
	for (i = 0; i < count; i++) {
		gnttab_set_map_op(&ops[i], x2mb_kaddr(map->pages[i]), flags, refs[i], dev->domid);
		map->handles[i] = INVALID_GRANT_HANDLE;
	}
	ret = gnttab_map_refs(ops, NULL, map->pages, count);
	map->count = count;
	for (i = 0; i < count; i++) {
		if (ops[i].status == GNTST_okay) {
			map->handles[i] = ops[i].handle;
			x2mb_account(dev, 1);
		} else if (!ret) {
			ret = ops[i].status == GNTST_no_device_space ? -ENOMEM : -EACCES;
		}
	}
	kvfree(ops);
	if (ret) {
		x2mb_unmap_some(dev, map, count, false);
		goto out_map;
	}
	return 0;

out_free:
	kvfree(ops);
out_map:
	kvfree(map->pages);
	kvfree(map->handles);
	map->pages = NULL;
	map->handles = NULL;
	map->count = 0;
	return ret;
}

void x2mb_unmap_grants(struct x2mb_dev *dev, struct x2mb_map *map, bool wait_for_users)
{
	if (!map->count)
		return;
	x2mb_unmap_some(dev, map, map->count, wait_for_users);
	kvfree(map->pages);
	kvfree(map->handles);
	map->pages = NULL;
	map->handles = NULL;
	map->count = 0;
}

/* Copies bytes [offset, offset + len) of the mapped pages, taken as one run. */
void x2mb_map_copy_from(const struct x2mb_map *map, size_t offset, void *to, size_t len)
{
	while (len) {
		size_t in_page = offset & ~PAGE_MASK;
		size_t n = min_t(size_t, len, PAGE_SIZE - in_page);

		memcpy(to, page_address(map->pages[offset >> PAGE_SHIFT]) + in_page, n);
		to += n;
		offset += n;
		len -= n;
	}
}

/* Copies bytes of a tx chunk; -EINVAL when they are not all inside it. */
int x2mb_chunk_read(struct x2mb_dev *dev, unsigned int chunk, size_t offset, void *to, size_t len)
{
	size_t bytes = (size_t)dev->chunk_pages << PAGE_SHIFT;

	if (chunk >= X2MX_TX_CHUNKS || offset > bytes || len > bytes - offset)
		return -EINVAL;
	x2mb_map_copy_from(&dev->pool, chunk * bytes + offset, to, len);
	return 0;
}
