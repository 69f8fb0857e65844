// SPDX-License-Identifier: GPL-2.0
/*
 * Attacks through the lane ops (LANE_LISTEN, LANE_ASK, LANE_OFFER): sent
 * without saying feature-lanes, then on a connection that says it, with
 * endpoints that are not the guest's, tokens Dom0 never gave and a second
 * LISTEN beside a pending one. The pending LISTEN is left to the teardown
 * of a new connection. This guest asks no lane of an endpoint that another
 * guest really holds: the good guest must not see notices of the attacks.
 * A second device of this guest (Dom0 attaches it on the same board) plays
 * the other guest of a whole introduction instead.
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
int x2mh_lanes_reconnect(struct x2mh_dev *dev, bool lanes)
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

/* One request on `on` (this device or its sibling), noted on `dev`: the response, or 1. */
static int x2mh_lane_call(struct x2mh_dev *dev, struct x2mh_dev *on, const char *what, struct x2mx_request *req,
			  struct x2mx_response *rsp, int want)
{
	int ret = x2mh_call(on, req, rsp);

	if (ret) {
		x2mh_note(dev, "%s: no answer (%d); ", what, ret);
		return 1;
	}
	if (rsp->status != want) {
		x2mh_note(dev, "%s: status %d, not %d; ", what, rsp->status, want);
		return 1;
	}
	return 0;
}

/* The notice a LISTEN on `on` is answered with at once is `kind` for `endpoint`, from `peer_ep` of this guest. */
static int x2mh_lane_heard(struct x2mh_dev *dev, struct x2mh_dev *on, const char *what, u8 kind, s32 endpoint,
			   s32 peer_ep, struct x2mx_notice *n)
{
	struct x2mx_request req;
	struct x2mx_response rsp;

	x2mh_lane_req(&req, X2MX_OP_LANE_LISTEN, 0);
	if (x2mh_lane_call(dev, on, what, &req, &rsp, 0))
		return 1;
	*n = rsp.notice;
	/* peer_ep < 0: a notice about no peer (RESET). */
	if (n->kind != kind || rsp.endpoint != endpoint ||
	    (peer_ep >= 0 && (n->peer_domid != x2mh_self() || n->peer_endpoint != peer_ep))) {
		x2mh_note(dev, "%s: kind %u endpoint %d peer dom%u:%u, not kind %u endpoint %d peer dom%u:%d; ", what,
			  n->kind, rsp.endpoint, n->peer_domid, n->peer_endpoint, kind, endpoint, x2mh_self(), peer_ep);
		return 1;
	}
	x2mh_note(dev, "%s: kind %u; ", what, n->kind);
	return 0;
}

#define X2MH_LANE_SENDERS 3   /* x X2MH_LANE_RECEIVERS pairs: one more than X2MX_LANE_ASKS_UNREAD */
#define X2MH_LANE_RECEIVERS 3

/* A whole introduction, from this device's endpoint to one of the sibling's. */
static int x2mh_lane_introduce(struct x2mh_dev *dev, struct x2mh_dev *sib, s32 s, s32 r)
{
	struct x2mx_request req;
	struct x2mx_response rsp;
	struct x2mx_notice n;
	int fails = 0;

	x2mh_lane_req(&req, X2MX_OP_LANE_ASK, s);
	req.u.lane.peer_endpoint = r;
	if (x2mh_lane_call(dev, dev, "ASK", &req, &rsp, 0))
		return 1;
	if (x2mh_lane_call(dev, dev, "ASK again", &req, &rsp, 0))
		return 1;
	if (x2mh_lane_heard(dev, sib, "LISTEN of the receiver", X2MX_NOTICE_LANE_WANTED, r, s, &n))
		return 1;
	/* Asked twice before the receiver read its notices: told once. */
	x2mh_lane_req(&req, X2MX_OP_LANE_LISTEN, 0);
	if (x2mh_post(sib, &req, 1) || x2mh_collect(sib, &rsp, 1, HZ) != 0) {
		x2mh_note(dev, "a second LANE_WANTED for the same ask; ");
		return 1;
	}
	x2mh_lane_req(&req, X2MX_OP_LANE_OFFER, r);
	req.u.lane.token = n.token;
	req.u.lane.ref = 0x1234;
	req.u.lane.port = 0x56;
	fails += x2mh_lane_call(dev, sib, "OFFER", &req, &rsp, 0);
	fails += x2mh_lane_call(dev, sib, "OFFER of the same token again", &req, &rsp, -ENOENT);
	if (x2mh_lane_heard(dev, dev, "LISTEN of the sender", X2MX_NOTICE_LANE_READY, s, r, &n))
		return fails + 1;
	if (n.ref != 0x1234 || n.port != 0x56) {
		x2mh_note(dev, "LANE_READY with ref %#x port %#x, not as offered; ", n.ref, n.port);
		fails++;
	}
	return fails;
}

/*
 * The sibling's connection goes: this device's pending LISTEN is answered
 * PEER_GONE. Then more asks than one guest may have unread in another's
 * queue: the one too many is refused (EBUSY), and taken once the sibling
 * read a notice; the queue is never emptied by one guest.
 */
static int x2mh_lane_gone_and_reset(struct x2mh_dev *dev, struct x2mh_dev *sib)
{
	struct x2mh_pages senders[X2MH_LANE_SENDERS], receivers[X2MH_LANE_RECEIVERS];
	s32 sid[X2MH_LANE_SENDERS], rid[X2MH_LANE_RECEIVERS];
	unsigned int ns = 0, nr = 0, i, j, asked = 0;
	struct x2mx_request req;
	struct x2mx_response rsp;
	struct x2mx_notice n;
	int fails = 0;

	x2mh_lane_req(&req, X2MX_OP_LANE_LISTEN, 0);
	if (x2mh_post(dev, &req, 1))
		return 1;
	fails += x2mh_lanes_reconnect(sib, true);
	if (x2mh_collect(dev, &rsp, 1, 5 * HZ) != 1 || rsp.status || rsp.notice.kind != X2MX_NOTICE_PEER_GONE ||
	    rsp.notice.peer_domid != x2mh_self()) {
		x2mh_note(dev, "no PEER_GONE when the receiver's connection went; ");
		return fails + 1;
	}
	x2mh_note(dev, "PEER_GONE when the receiver's connection went; ");

	for (; ns < X2MH_LANE_SENDERS; ns++) {
		sid[ns] = x2mh_open_ep(dev, &senders[ns], XEN2MX_ANY_ENDPOINT, 0, NULL);
		if (sid[ns] < 0)
			break;
	}
	for (; nr < X2MH_LANE_RECEIVERS; nr++) {
		rid[nr] = x2mh_open_ep(sib, &receivers[nr], XEN2MX_ANY_ENDPOINT, 0, NULL);
		if (rid[nr] < 0)
			break;
	}
	if (ns < X2MH_LANE_SENDERS || nr < X2MH_LANE_RECEIVERS) {
		x2mh_note(dev, "opened %u and %u endpoints only; ", ns, nr);
		fails++;
		goto out;
	}
	BUILD_BUG_ON(X2MH_LANE_SENDERS * X2MH_LANE_RECEIVERS != X2MX_LANE_ASKS_UNREAD + 1);
	for (i = 0; i < ns; i++) {
		for (j = 0; j < nr; j++) {
			if (asked == X2MX_LANE_ASKS_UNREAD)
				break;
			x2mh_lane_req(&req, X2MX_OP_LANE_ASK, sid[i]);
			req.u.lane.peer_endpoint = rid[j];
			asked += !x2mh_lane_call(dev, dev, "ASK", &req, &rsp, 0);
		}
	}
	x2mh_note(dev, "%u asks answered 0; ", asked);
	fails += asked != X2MX_LANE_ASKS_UNREAD;
	x2mh_lane_req(&req, X2MX_OP_LANE_ASK, sid[ns - 1]);
	req.u.lane.peer_endpoint = rid[nr - 1];
	fails += x2mh_lane_call(dev, dev, "ASK past the unread limit", &req, &rsp, -EBUSY);
	fails += x2mh_lane_heard(dev, sib, "LISTEN of the receiver", X2MX_NOTICE_LANE_WANTED, rid[0], sid[0], &n);
	fails += x2mh_lane_call(dev, dev, "the same ASK once one was read", &req, &rsp, 0);
out:
	for (i = 0; i < ns; i++)
		fails += x2mh_close_ep(dev, sid[i], &senders[i]);
	for (j = 0; j < nr; j++)
		fails += x2mh_close_ep(sib, rid[j], &receivers[j]);
	return fails;
}

int x2mh_lane_introduction(struct x2mh_dev *dev)
{
	struct x2mh_pages ps, pr;
	struct x2mh_dev *sib;
	int s, r, fails = 0;

	sib = x2mh_sibling_get(dev);
	if (!sib) {
		x2mh_note(dev, "no second device of this guest (Dom0 attaches one); ");
		return 1;
	}
	if (x2mh_lanes_reconnect(dev, true) || x2mh_lanes_reconnect(sib, true)) {
		fails++;
		goto out;
	}
	s = x2mh_open_ep(dev, &ps, XEN2MX_ANY_ENDPOINT, 0, NULL);
	r = x2mh_open_ep(sib, &pr, XEN2MX_ANY_ENDPOINT, 0, NULL);
	x2mh_note(dev, "endpoint %d asks a lane of endpoint %d (second device); ", s, r);
	if (s >= 0 && r >= 0) {
		fails += x2mh_lane_introduce(dev, sib, s, r);
		fails += x2mh_close_ep(sib, r, &pr);
		fails += x2mh_lane_gone_and_reset(dev, sib);
	} else {
		fails++;
		if (r >= 0)
			x2mh_close_ep(sib, r, &pr);
	}
	if (s >= 0)
		fails += x2mh_close_ep(dev, s, &ps);
	/* Pending LISTENs go with the connections; the next ones say no lanes. */
	fails += x2mh_lanes_reconnect(sib, false);
	fails += x2mh_lanes_reconnect(dev, false);
out:
	x2mh_sibling_put(sib);
	return fails;
}
