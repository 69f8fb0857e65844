// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks through REGION and UNREGION: descriptions xen2mx.ko refuses,
 * page lists that lie about their pages or name pages never granted, ids
 * taken twice, regions of endpoints not open; and the pages of a region
 * must be the guest's again once UNREGION or CLOSE was answered.
 */
#include <linux/etherdevice.h>
#include <linux/slab.h>
#include <xen/grant_table.h>

#include "hostile_attacks.h"

#define X2MH_REGION_SEGS 40

struct x2mh_region_chunk {
	struct x2mx_region_desc desc;
	struct x2mx_segment segs[X2MH_REGION_SEGS];
};

/* A well-formed description of region `id`, pullable by endpoint 0 of the board. */
static void x2mh_region_desc(struct x2mh_dev *dev, struct x2mx_region_desc *desc, u32 id)
{
	*desc = (struct x2mx_region_desc){
		.id = id,
		.reply_max = 1000,
		.seq = 1,
		.replies_per_block = 4,
	};
	ether_addr_copy(desc->peer_mac, dev->mac);
}

static int x2mh_region(struct x2mh_dev *dev, const char *what, s32 ep, const struct x2mh_region_chunk *chunk,
		       u32 nr_segs, int want)
{
	struct x2mx_request req = { .op = X2MX_OP_REGION, .endpoint = ep };

	req.u.region.nr_segs = nr_segs;
	return x2mh_expect(dev, what, &req, chunk,
			   X2MX_REGION_SEGS_OFFSET + min_t(u32, nr_segs, X2MH_REGION_SEGS) * sizeof(chunk->segs[0]),
			   want);
}

static int x2mh_unregion(struct x2mh_dev *dev, const char *what, s32 ep, u32 id, int want)
{
	struct x2mx_request req = { .op = X2MX_OP_UNREGION, .endpoint = ep };

	req.u.region.id = id;
	return x2mh_expect(dev, what, &req, NULL, 0, want);
}

/* Whether Dom0 let go of every page: their grants end (and are gone then). */
static int x2mh_all_free(struct x2mh_dev *dev, struct x2mh_pages *data, const char *when)
{
	unsigned int i, busy = 0;

	for (i = 0; i < data->count; i++) {
		if (data->refs[i] == INVALID_GRANT_REF)
			continue;
		if (gnttab_try_end_foreign_access(data->refs[i]))
			data->refs[i] = INVALID_GRANT_REF;
		else
			busy++;
	}
	x2mh_note(dev, "%s: %u of %u pages still mapped; ", when, busy, data->count);
	return busy ? 1 : 0;
}

/* A chunk to describe regions in, and an endpoint for them: its id, or a negative errno (noted). */
static int x2mh_region_setup(struct x2mh_dev *dev, struct x2mh_region_chunk **c, struct x2mh_pages *p)
{
	int id;

	*c = kzalloc(sizeof(**c), GFP_KERNEL);
	if (!*c)
		return -ENOMEM;
	id = x2mh_open_ep(dev, p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (id < 0) {
		x2mh_note(dev, "open: %d; ", id);
		kfree(*c);
	}
	return id;
}

int x2mh_region_bad(struct x2mh_dev *dev)
{
	struct x2mh_region_chunk *c;
	struct x2mh_pages p, data;
	int id, fails = 0;
	unsigned int i;

	id = x2mh_region_setup(dev, &c, &p);
	if (id < 0)
		return 1;
	if (x2mh_pages_grant(dev, &data, 2, dev->backend_id, true)) {
		x2mh_close_ep(dev, id, &p);
		kfree(c);
		return 1;
	}
	x2mh_region_desc(dev, &c->desc, 3);
	c->segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 100, .length = PAGE_SIZE - 100 };
	c->segs[1] = (struct x2mx_segment){ .ref = data.refs[1], .offset = 0, .length = 500 };

	fails += x2mh_region(dev, "no page", id, c, 0, -EINVAL);
	fails += x2mh_region(dev, "more pages than a chunk holds", id, c, 100000, -EINVAL);
	fails += x2mh_region(dev, "an endpoint not open", id + 1, c, 2, -ENOENT);
	fails += x2mh_region(dev, "endpoint -5", -5, c, 2, -ENOENT);
	c->segs[1].length = 0;
	fails += x2mh_region(dev, "a page of 0 bytes", id, c, 2, -EINVAL);
	c->segs[1] = (struct x2mx_segment){ .ref = data.refs[1], .offset = 4000, .length = 200 };
	fails += x2mh_region(dev, "bytes past their page", id, c, 2, -EINVAL);
	c->segs[1] = (struct x2mx_segment){ .ref = data.refs[1], .offset = 0xffff, .length = 0xffff };
	fails += x2mh_region(dev, "a page at 65535, 65535 bytes", id, c, 2, -EINVAL);
	/* 33 runs: every entry starts a run of its own. */
	for (i = 0; i < 33; i++)
		c->segs[i] = (struct x2mx_segment){ .ref = data.refs[i % 2], .offset = 8 * i, .length = 8 };
	fails += x2mh_region(dev, "33 runs", id, c, 33, -EINVAL);
	c->segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 100, .length = PAGE_SIZE - 100 };
	c->segs[1] = (struct x2mx_segment){ .ref = data.refs[1], .offset = 0, .length = 500 };

	c->desc.id = XEN2MX_REGION_IDS;
	fails += x2mh_region(dev, "region id 256", id, c, 2, -EINVAL);
	x2mh_region_desc(dev, &c->desc, 3);
	c->desc.reply_max = 0;
	fails += x2mh_region(dev, "reply_max 0", id, c, 2, -EINVAL);
	c->desc.reply_max = 60000;
	fails += x2mh_region(dev, "reply_max past the MTU", id, c, 2, -EINVAL);
	x2mh_region_desc(dev, &c->desc, 3);
	c->desc.replies_per_block = 0;
	fails += x2mh_region(dev, "0 replies a block", id, c, 2, -EINVAL);
	x2mh_region_desc(dev, &c->desc, 3);
	c->desc.peer_mac[0] = 0x01;
	fails += x2mh_region(dev, "a multicast peer", id, c, 2, -EINVAL);
	x2mh_region_desc(dev, &c->desc, 3);
	c->desc.peer_endpoint = 255;
	fails += x2mh_region(dev, "peer endpoint 255", id, c, 2, -EINVAL);
	fails += x2mh_all_free(dev, &data, "after the refusals");

	/* Good ones, then what follows them. */
	x2mh_pages_free(&data);
	if (x2mh_pages_grant(dev, &data, 2, dev->backend_id, true)) {
		x2mh_close_ep(dev, id, &p);
		kfree(c);
		return fails + 1;
	}
	x2mh_region_desc(dev, &c->desc, 3);
	c->segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 100, .length = PAGE_SIZE - 100 };
	c->segs[1] = (struct x2mx_segment){ .ref = data.refs[1], .offset = 0, .length = 500 };
	fails += x2mh_region(dev, "a region of 2 pages", id, c, 2, 0);
	fails += x2mh_region(dev, "the same id again", id, c, 2, -EEXIST);
	if (!gnttab_try_end_foreign_access(data.refs[0]))
		x2mh_note(dev, "in use while registered; ");
	else {
		x2mh_note(dev, "grant ended while Dom0 maps it; ");
		data.refs[0] = INVALID_GRANT_REF;
		fails++;
	}
	fails += x2mh_unregion(dev, "unregion an id not registered", id, 77, -ENOENT);
	fails += x2mh_unregion(dev, "unregion id 256", id, XEN2MX_REGION_IDS, -EINVAL);
	fails += x2mh_unregion(dev, "unregion on an endpoint not open", id + 1, 3, -ENOENT);
	fails += x2mh_unregion(dev, "unregion", id, 3, 0);
	fails += x2mh_all_free(dev, &data, "after UNREGION");
	x2mh_pages_free(&data);

	/* A region left registered goes with its endpoint. */
	if (!x2mh_pages_grant(dev, &data, 2, dev->backend_id, true)) {
		c->segs[0].ref = data.refs[0];
		c->segs[1].ref = data.refs[1];
		fails += x2mh_region(dev, "a region again", id, c, 2, 0);
		fails += x2mh_close_ep(dev, id, &p);
		fails += x2mh_all_free(dev, &data, "after CLOSE");
		x2mh_pages_free(&data);
	} else {
		fails++;
		x2mh_close_ep(dev, id, &p);
	}
	kfree(c);
	return fails;
}

int x2mh_region_ungranted(struct x2mh_dev *dev)
{
	struct x2mh_region_chunk *c;
	struct x2mh_pages p, data, other;
	int id, fails = 0;

	id = x2mh_region_setup(dev, &c, &p);
	if (id < 0)
		return 1;
	x2mh_region_desc(dev, &c->desc, 4);
	c->segs[0] = (struct x2mx_segment){ .ref = x2mh_unused_ref(), .offset = 0, .length = 100 };
	fails += x2mh_region(dev, "a page never granted", id, c, 1, -EACCES);
	x2mh_unused_ref_put(c->segs[0].ref);
	c->segs[0].ref = X2MH_REF_PAST_TABLE;
	fails += x2mh_region(dev, "a page past the grant table", id, c, 1, -EACCES);
	if (!x2mh_pages_grant(dev, &data, 1, dev->backend_id, true)) {
		c->segs[0] = (struct x2mx_segment){ .ref = data.refs[0], .offset = 0, .length = PAGE_SIZE };
		c->segs[1] = (struct x2mx_segment){ .ref = x2mh_unused_ref(), .offset = 0, .length = 100 };
		fails += x2mh_region(dev, "one page granted, the next never", id, c, 2, -EACCES);
		x2mh_unused_ref_put(c->segs[1].ref);
		fails += x2mh_all_free(dev, &data, "after the refused region");
		x2mh_pages_free(&data);
	} else {
		fails++;
	}
	/* Granted, but to a domain that is not Dom0's backend (the guest itself). */
	if (!x2mh_pages_grant(dev, &other, 1, x2mh_self(), true)) {
		c->segs[0] = (struct x2mx_segment){ .ref = other.refs[0], .offset = 0, .length = 100 };
		fails += x2mh_region(dev, "a page granted to another domain", id, c, 1, -EACCES);
		x2mh_pages_free(&other);
	} else {
		fails++;
	}
	fails += x2mh_close_ep(dev, id, &p);
	kfree(c);
	return fails;
}
