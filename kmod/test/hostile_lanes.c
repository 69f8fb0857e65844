// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks through the lane ops (LANE_LISTEN, LANE_ASK, LANE_OFFER): sent
 * without saying feature-lanes, then on a connection that says it, with
 * endpoints that are not the guest's, tokens Dom0 never gave and a second
 * LISTEN beside a pending one. The pending LISTEN is left to the teardown
 * of a new connection. This guest asks no lane of an endpoint that another
 * guest really holds: the good guest must not see notices of the attacks.
 */
#include <linux/mutex.h>

#include "hostile_attacks.h"

static void x2mh_lane_req(struct x2mx_request *req, u8 op, s32 endpoint)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->endpoint = endpoint;
}

int x2mh_lane_ops_unannounced(struct x2mh_dev *dev)
{
	struct x2mx_request req;
	int fails = 0;

	x2mh_lane_req(&req, X2MX_OP_LANE_LISTEN, 0);
	fails += x2mh_expect(dev, "LISTEN", &req, NULL, 0, -EOPNOTSUPP);
	x2mh_lane_req(&req, X2MX_OP_LANE_ASK, 0);
	req.u.lane.peer_endpoint = 1;
	fails += x2mh_expect(dev, "ASK", &req, NULL, 0, -EOPNOTSUPP);
	x2mh_lane_req(&req, X2MX_OP_LANE_OFFER, 0);
	req.u.lane.token = 1;
	fails += x2mh_expect(dev, "OFFER", &req, NULL, 0, -EOPNOTSUPP);
	return fails;
}

/* A new connection, saying feature-lanes or not: 0 once it is up. */
static int x2mh_lanes_reconnect(struct x2mh_dev *dev, bool lanes)
{
	unsigned int refused = 0;
	int ret;

	mutex_lock(&dev->conn_lock);
	dev->lanes = lanes;
	mutex_unlock(&dev->conn_lock);
	ret = x2mh_reconnect(dev, X2MH_FAULT_NONE, &refused);
	x2mh_note(dev, "%s: %s; ", lanes ? "connected with feature-lanes" : "connected without feature-lanes",
		  ret ? "no connection within 30 s" : refused ? "refused first" : "at once");
	return ret || refused;
}

/* ASKs and OFFERs that name what is not this guest's, or nobody's. */
static int x2mh_lane_bad_names(struct x2mh_dev *dev, s32 ep)
{
	s32 not_ours = (ep + 1) % XEN2MX_MAX_ENDPOINTS;
	static const s32 bad_senders[] = { -1, XEN2MX_MAX_ENDPOINTS, 0x7fffffff };
	struct x2mx_request req;
	char what[64];
	unsigned int i;
	int fails = 0;

	for (i = 0; i < ARRAY_SIZE(bad_senders); i++) {
		x2mh_lane_req(&req, X2MX_OP_LANE_ASK, bad_senders[i]);
		req.u.lane.peer_endpoint = ep;
		snprintf(what, sizeof(what), "ASK from endpoint %d", bad_senders[i]);
		fails += x2mh_expect(dev, what, &req, NULL, 0, -EINVAL);
	}
	x2mh_lane_req(&req, X2MX_OP_LANE_ASK, not_ours);
	req.u.lane.peer_endpoint = ep;
	snprintf(what, sizeof(what), "ASK from endpoint %d, not open", not_ours);
	fails += x2mh_expect(dev, what, &req, NULL, 0, -EINVAL);
	x2mh_lane_req(&req, X2MX_OP_LANE_ASK, ep);
	req.u.lane.peer_endpoint = XEN2MX_MAX_ENDPOINTS;
	fails += x2mh_expect(dev, "ASK for endpoint 255", &req, NULL, 0, -ENOENT);
	req.u.lane.peer_endpoint = ep;
	fails += x2mh_expect(dev, "ASK for its own endpoint", &req, NULL, 0, -ENOENT);

	x2mh_lane_req(&req, X2MX_OP_LANE_OFFER, ep);
	req.u.lane.token = 0x5eed;
	fails += x2mh_expect(dev, "OFFER with a token never given", &req, NULL, 0, -ENOENT);
	req.u.lane.token = 0;
	fails += x2mh_expect(dev, "OFFER with token 0", &req, NULL, 0, -ENOENT);
	x2mh_lane_req(&req, X2MX_OP_LANE_OFFER, not_ours);
	req.u.lane.token = 1;
	fails += x2mh_expect(dev, "OFFER for an endpoint not open", &req, NULL, 0, -ENOENT);
	x2mh_lane_req(&req, X2MX_OP_LANE_OFFER, 0x7fffffff);
	fails += x2mh_expect(dev, "OFFER for endpoint 2^31-1", &req, NULL, 0, -ENOENT);
	return fails;
}

/* A LISTEN left pending (nothing comes for this guest), then a second one. */
static int x2mh_lane_listen_twice(struct x2mh_dev *dev)
{
	struct x2mx_request req;
	struct x2mx_response rsp;
	int fails = 0, got;

	x2mh_lane_req(&req, X2MX_OP_LANE_LISTEN, 0);
	if (x2mh_post(dev, &req, 1)) {
		x2mh_note(dev, "LISTEN not posted; ");
		return 1;
	}
	got = x2mh_collect(dev, &rsp, 1, HZ);
	if (got) {
		x2mh_note(dev, "LISTEN answered at once (%d, status %d), no notice was due; ", got,
			  got > 0 ? rsp.status : 0);
		return 1;
	}
	x2mh_note(dev, "LISTEN pending; ");
	x2mh_lane_req(&req, X2MX_OP_LANE_LISTEN, 0);
	fails += x2mh_expect(dev, "second LISTEN", &req, NULL, 0, -EBUSY);
	/* Other requests are still answered past the pending one. */
	x2mh_lane_req(&req, 0, 0);
	fails += x2mh_expect(dev, "op 0 beside it", &req, NULL, 0, -EOPNOTSUPP);
	return fails;
}

int x2mh_lane_requests(struct x2mh_dev *dev)
{
	struct x2mh_pages p;
	int ep, fails = 0;

	if (!xenbus_read_unsigned(dev->xb->otherend, "feature-lanes", 0)) {
		x2mh_note(dev, "the backend does not say feature-lanes; ");
		return 1;
	}
	if (x2mh_lanes_reconnect(dev, true))
		return 1;
	ep = x2mh_open_ep(dev, &p, XEN2MX_ANY_ENDPOINT, 0, NULL);
	if (ep < 0) {
		x2mh_note(dev, "open: %d; ", ep);
		fails++;
	} else {
		x2mh_note(dev, "opened %d; ", ep);
		fails += x2mh_lane_bad_names(dev, ep);
		fails += x2mh_close_ep(dev, ep, &p);
	}
	fails += x2mh_lane_listen_twice(dev);
	/* The pending LISTEN goes with the connection; the next ones say no lanes. */
	fails += x2mh_lanes_reconnect(dev, false);
	return fails;
}
