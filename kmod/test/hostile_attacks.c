// SPDX-License-Identifier: GPL-2.0
/*
 * The attacks' list and their runner. Each attack sends Dom0's backend
 * what a broken or malicious guest would and judges the answer against
 * what a sound backend does: the errno of xen2mx_xenbus.h's checks for a
 * bad request, closing the connection for a broken ring or bad keys.
 * After each one the runner checks that the backend still serves this
 * guest (a bad opcode answered with EOPNOTSUPP), over a new connection
 * when the old one was closed. Dom0's side of the verdict (its log, its
 * grant mappings, the other guests) is the test script's.
 */
#include <linux/kernel.h>
#include <linux/sysfs.h>

#include "hostile_attacks.h"

static int x2mh_flood(struct x2mh_dev *dev)
{
	return x2mh_flood_start(dev);
}

struct x2mh_attack_def {
	const char *name;
	int (*run)(struct x2mh_dev *dev); /* the number of checks that failed */
	bool listed;                      /* in `attacks` (the flood is run apart, last) */
};

static const struct x2mh_attack_def x2mh_attacks[] = {
	{ "bad-opcodes", x2mh_bad_opcodes, true },
	{ "open-bad-geometry", x2mh_open_bad_geometry, true },
	{ "open-bad-fields", x2mh_open_bad_fields, true },
	{ "open-ungranted", x2mh_open_ungranted, true },
	{ "open-wrong-grants", x2mh_open_wrong_grants, true },
	{ "open-twice-close-twice", x2mh_open_twice, true },
	{ "open-too-many", x2mh_open_too_many, true },
	{ "open-aliased-pages", x2mh_open_aliased, true },
	{ "send-bad-fields", x2mh_send_bad_fields, true },
	{ "send-bad-segments", x2mh_send_bad_segments, true },
	{ "send-ungranted-segments", x2mh_send_ungranted, true },
	{ "send-refused-frames", x2mh_send_refused, true },
	{ "rx-ring-lies", x2mh_rx_ring_lies, true },
	{ "region-bad-requests", x2mh_region_bad, true },
	{ "region-ungranted-pages", x2mh_region_ungranted, true },
	{ "revoke-while-mapped", x2mh_revoke_while_mapped, true },
	{ "lane-ops-unannounced", x2mh_lane_ops_unannounced, true },
	{ "lane-requests", x2mh_lane_requests, true },
	{ "lane-introduction", x2mh_lane_introduction, true },
	{ "garbage-requests", x2mh_garbage, true },
	{ "request-flood", x2mh_request_flood, true },
	{ "event-storm", x2mh_event_storm, true },
	{ "ring-overrun", x2mh_ring_overrun, true },
	{ "producer-jump", x2mh_producer_jump, true },
	{ "producer-backwards", x2mh_producer_backwards, true },
	{ "producer-jump-guest-deaf", x2mh_ring_lie_deaf, true },
	{ "open-ctl-is-ring", x2mh_open_ctl_is_ring, true },
	{ "connect-bad-version", x2mh_connect_version, true },
	{ "connect-chunk-pages-0", x2mh_connect_chunk_pages, true },
	{ "connect-chunk-pages-4096", x2mh_connect_chunk_huge, true },
	{ "connect-ring-never-granted", x2mh_connect_ring_ref, true },
	{ "connect-ring-read-only", x2mh_connect_ring_ro, true },
	{ "connect-pool-bad-ref", x2mh_connect_pool_refs, true },
	{ "connect-pool-list-never-granted", x2mh_connect_pool_ref, true },
	{ "connect-evtchn-not-ours", x2mh_connect_evtchn, true },
	{ "connect-missing-key", x2mh_connect_missing, true },
	{ "lane-receiver", x2mh_lane_receiver, false },
	{ "lane-sender", x2mh_lane_sender, false },
	{ "flood", x2mh_flood, false },
};

/* The backend still answers this guest: over a new connection if it closed the old one. */
static int x2mh_still_served(struct x2mh_dev *dev)
{
	struct x2mx_request req = { .op = 0 };
	struct x2mx_response rsp;
	int ret;

	if (!wait_event_timeout(dev->wait, READ_ONCE(dev->connected), 30 * HZ))
		return -ENOTCONN;
	ret = x2mh_collect(dev, NULL, x2mh_ring_pending(dev), 5 * HZ); /* answers still due */
	if (ret < 0)
		return ret;
	ret = x2mh_call(dev, &req, &rsp);
	if (ret)
		return ret;
	return rsp.status == -EOPNOTSUPP ? 0 : -EPROTO;
}

ssize_t x2mh_attack_list(char *buf)
{
	ssize_t n = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(x2mh_attacks); i++)
		if (x2mh_attacks[i].listed)
			n += sysfs_emit_at(buf, n, "%s\n", x2mh_attacks[i].name);
	return n;
}

/* Runs one attack and writes its verdict into dev->result; -ENOENT for no such attack. */
int x2mh_attack(struct x2mh_dev *dev, const char *name)
{
	const struct x2mh_attack_def *a = NULL;
	bool flood;
	unsigned int i;
	int fails, served = 0;

	for (i = 0; i < ARRAY_SIZE(x2mh_attacks); i++)
		if (!strcmp(x2mh_attacks[i].name, name))
			a = &x2mh_attacks[i];
	if (!a)
		return -ENOENT;
	flood = a->run == x2mh_flood;
	dev->notes[0] = '\0';
	if (!wait_event_timeout(dev->wait, READ_ONCE(dev->connected), 30 * HZ)) {
		snprintf(dev->result, sizeof(dev->result), "FAIL %s: not connected", a->name);
		return 0;
	}
	x2mh_collect(dev, NULL, x2mh_ring_pending(dev), 5 * HZ); /* answers still due */
	fails = a->run(dev);
	if (!flood) {
		served = x2mh_still_served(dev);
		if (served)
			x2mh_note(dev, "then not served any more (%d)", served);
		else
			x2mh_note(dev, "then still served");
	}
	snprintf(dev->result, sizeof(dev->result), "%s %s: %s", fails || served ? "FAIL" : "PASS", a->name,
		 dev->notes);
	return 0;
}
