/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Between the hostile frontend's attacks (hostile_open.c, hostile_send.c,
 * hostile_region.c, hostile_lanes.c, hostile_lane_peer.c, hostile_chaos.c), their tools
 * (hostile_tools.c) and their runner (hostile_attacks.c). Every attack
 * returns the number of its checks that failed and notes what it saw with
 * x2mh_note().
 */
#ifndef XEN2MX_HOSTILE_ATTACKS_H
#define XEN2MX_HOSTILE_ATTACKS_H

#include "../xen2mx_frame.h"
#include "hostile.h"

/* hostile_tools.c */
int x2mh_expect(struct x2mh_dev *dev, const char *what, struct x2mx_request *req, const void *chunk_data,
		size_t len, int want);
unsigned int x2mh_slot_bytes(struct x2mh_dev *dev);
void x2mh_open_req(struct x2mh_dev *dev, struct x2mx_request *req, s32 endpoint, u32 nr_pages, u32 flags);
void x2mh_tiny(u8 *frame, size_t total, const u8 *mac, u8 ep, u8 ptype);
int x2mh_send_copy(struct x2mh_dev *dev, const char *what, s32 ep, const u8 *frame, u32 total, int want);
int x2mh_send_segs(struct x2mh_dev *dev, const char *what, s32 ep, const u8 *frame, u32 linear,
		   const struct x2mx_segment *segs, unsigned int nr, u32 total, int want);
unsigned int x2mh_foreign_frames(unsigned long *frames, unsigned int max);
domid_t x2mh_self(void);

/* hostile_open.c */
int x2mh_bad_opcodes(struct x2mh_dev *dev);
int x2mh_open_bad_geometry(struct x2mh_dev *dev);
int x2mh_open_bad_fields(struct x2mh_dev *dev);
int x2mh_open_ungranted(struct x2mh_dev *dev);
int x2mh_open_wrong_grants(struct x2mh_dev *dev);
int x2mh_open_twice(struct x2mh_dev *dev);
int x2mh_open_too_many(struct x2mh_dev *dev);
int x2mh_open_aliased(struct x2mh_dev *dev);
int x2mh_open_ctl_is_ring(struct x2mh_dev *dev);
int x2mh_revoke_while_mapped(struct x2mh_dev *dev);

/* hostile_send.c */
int x2mh_send_bad_fields(struct x2mh_dev *dev);
int x2mh_send_bad_segments(struct x2mh_dev *dev);
int x2mh_send_ungranted(struct x2mh_dev *dev);
int x2mh_send_refused(struct x2mh_dev *dev);
int x2mh_rx_ring_lies(struct x2mh_dev *dev);

/* hostile_region.c */
int x2mh_region_bad(struct x2mh_dev *dev);
int x2mh_region_ungranted(struct x2mh_dev *dev);

/* hostile_lanes.c */
int x2mh_lane_ops_unannounced(struct x2mh_dev *dev);
int x2mh_lane_requests(struct x2mh_dev *dev);
int x2mh_lane_introduction(struct x2mh_dev *dev);
int x2mh_lanes_reconnect(struct x2mh_dev *dev, bool lanes);

/* hostile_lane_peer.c: the good guest's lanes, from this guest's end (not listed) */
#define X2MH_LANE_EP 77 /* this guest's endpoint the good guest sends to (tests/vm/xen) */
int x2mh_lane_receiver(struct x2mh_dev *dev);
#define X2MH_LANE_GOOD_EP 44 /* the good guest's endpoint this guest writes into (tests/vm/xen) */
int x2mh_lane_sender(struct x2mh_dev *dev);

/* hostile_chaos.c */
int x2mh_garbage(struct x2mh_dev *dev);
int x2mh_request_flood(struct x2mh_dev *dev);
int x2mh_event_storm(struct x2mh_dev *dev);
int x2mh_ring_lie_deaf(struct x2mh_dev *dev);
int x2mh_ring_overrun(struct x2mh_dev *dev);
int x2mh_producer_jump(struct x2mh_dev *dev);
int x2mh_producer_backwards(struct x2mh_dev *dev);
int x2mh_connect_version(struct x2mh_dev *dev);
int x2mh_connect_chunk_pages(struct x2mh_dev *dev);
int x2mh_connect_chunk_huge(struct x2mh_dev *dev);
int x2mh_connect_ring_ref(struct x2mh_dev *dev);
int x2mh_connect_ring_ro(struct x2mh_dev *dev);
int x2mh_connect_pool_refs(struct x2mh_dev *dev);
int x2mh_connect_pool_ref(struct x2mh_dev *dev);
int x2mh_connect_evtchn(struct x2mh_dev *dev);
int x2mh_connect_missing(struct x2mh_dev *dev);

#endif
