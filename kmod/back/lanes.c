// SPDX-License-Identifier: GPL-2.0
/*
 * Lanes: Dom0 introduces a guest that wants to send straight to another
 * guest's endpoint (LANE_ASK) to that guest (a LANE_WANTED notice), and
 * passes the lane it then offers (LANE_OFFER) back to the asker (a
 * LANE_READY notice). Frames never come here; only the introductions do.
 *
 * Every connected device is in one registry, so that a request of one
 * guest can find the guest that owns an endpoint of its board and reach
 * its notice queue and ring. A device leaves the registry, under the
 * registry's lock, before its ring goes: whoever found it under that lock
 * may answer its LANE_LISTEN. Locks nest as registry, then one device's
 * lane_lock, then its rsp_lock (x2mb_respond()); never two lane_locks.
 */
#include <linux/slab.h>

#include "back.h"

static LIST_HEAD(x2mb_registry);
static DEFINE_SPINLOCK(x2mb_registry_lock);
static u64 x2mb_last_serial; /* under x2mb_registry_lock */

/* The notices, the pending LISTEN and the tokens of a connection that starts or ended. */
static void x2mb_lanes_reset(struct x2mb_dev *dev)
{
	spin_lock(&dev->lane_lock);
	dev->notice_head = 0;
	dev->notice_count = 0;
	dev->listening = false;
	memset(dev->tokens, 0, sizeof(dev->tokens));
	dev->token_next = 0;
	spin_unlock(&dev->lane_lock);
}

/*
 * A notice for `dev`'s guest: the answer to its pending LANE_LISTEN, or
 * queued for the next one. A guest that does not listen loses its queue,
 * not Dom0's memory: when it is full it is emptied and says so with one
 * RESET. Called with the registry's lock held and `dev` registered, so its
 * ring is still there (x2mb_respond() checks `stopping` anyway).
 */
static void x2mb_notice_post(struct x2mb_dev *dev, s32 endpoint, const struct x2mx_notice *n)
{
	struct x2mx_response rsp = {
		.op = X2MX_OP_LANE_LISTEN,
		.endpoint = endpoint,
	};
	struct x2mb_notice *slot;
	bool answer = false;

	spin_lock(&dev->lane_lock);
	atomic64_inc(&dev->notices_posted);
	if (dev->listening) {
		dev->listening = false;
		rsp.id = dev->listen_id;
		rsp.chunk = dev->listen_chunk;
		rsp.notice = *n;
		answer = true;
	} else if (dev->notice_count == X2MX_NOTICE_QUEUE) {
		atomic64_inc(&dev->notice_resets);
		dev->notice_head = 0;
		dev->notice_count = 1;
		memset(&dev->notices[0], 0, sizeof(dev->notices[0]));
		dev->notices[0].endpoint = XEN2MX_ANY_ENDPOINT;
		dev->notices[0].n.kind = X2MX_NOTICE_RESET;
	} else {
		slot = &dev->notices[(dev->notice_head + dev->notice_count) % X2MX_NOTICE_QUEUE];
		slot->endpoint = endpoint;
		slot->n = *n;
		dev->notice_count++;
	}
	spin_unlock(&dev->lane_lock);
	if (!answer)
		return;
	/* The guest posts its next LISTEN only once it read this answer. */
	x2mb_respond(dev, &rsp);
	/* Requests held back while the ring had no room for their responses. */
	if (!READ_ONCE(dev->stopping))
		queue_work(x2mb_wq, &dev->req_work);
}

void x2mb_lanes_connected(struct x2mb_dev *dev)
{
	x2mb_lanes_reset(dev);
	spin_lock(&x2mb_registry_lock);
	dev->serial = ++x2mb_last_serial;
	list_add_tail(&dev->peers, &x2mb_registry);
	dev->registered = true;
	spin_unlock(&x2mb_registry_lock);
}

/*
 * The first step of a disconnect, while the ring is still mapped: nobody
 * finds the device any more, and the guests that may have lanes with it
 * are told it is gone.
 */
void x2mb_lanes_disconnecting(struct x2mb_dev *dev)
{
	struct x2mx_notice gone = {
		.kind = X2MX_NOTICE_PEER_GONE,
		.peer_domid = dev->domid,
	};
	struct x2mb_dev *peer;

	spin_lock(&x2mb_registry_lock);
	if (dev->registered) {
		list_del_init(&dev->peers);
		dev->registered = false;
		/* Without lanes, or on another board, no lane can have been made with it. */
		if (dev->lanes)
			list_for_each_entry(peer, &x2mb_registry, peers)
				if (peer->lanes && peer->board == dev->board)
					x2mb_notice_post(peer, XEN2MX_ANY_ENDPOINT, &gone);
	}
	spin_unlock(&x2mb_registry_lock);
}

/* The last step: the request work is stopped, nothing of it is pending. */
void x2mb_lanes_disconnected(struct x2mb_dev *dev)
{
	x2mb_lanes_reset(dev);
}

int x2mb_lane_listen(struct x2mb_dev *dev, const struct x2mx_request *req, struct x2mx_response *rsp)
{
	struct x2mb_notice *oldest;
	int ret = 0;

	spin_lock(&dev->lane_lock);
	if (dev->listening) {
		ret = -EBUSY;
	} else if (dev->notice_count) {
		oldest = &dev->notices[dev->notice_head];
		rsp->endpoint = oldest->endpoint;
		rsp->notice = oldest->n;
		dev->notice_head = (dev->notice_head + 1) % X2MX_NOTICE_QUEUE;
		dev->notice_count--;
	} else {
		dev->listening = true;
		dev->listen_id = req->id;
		dev->listen_chunk = req->chunk;
		ret = X2MB_DEFERRED;
	}
	spin_unlock(&dev->lane_lock);
	return ret;
}

/*
 * Sets *out to a token of `receiver` for a lane from the asker's endpoint
 * to its endpoint `ep`, or to 0 when the receiver has the same request
 * still queued, unread: a guest asking again and again does not fill
 * another's queue with one pair of endpoints. -EBUSY when the asker has
 * X2MX_LANE_ASKS_UNREAD asks unread there already: nor with many pairs
 * (a full queue is emptied, and every lane of its guest closed).
 */
static int x2mb_token_new(struct x2mb_dev *receiver, const struct x2mb_dev *asker, u8 asker_ep, u8 ep, u32 *out)
{
	const struct x2mb_notice *q;
	struct x2mb_token *t;
	unsigned int i, unread = 0;
	u32 token;

	*out = 0;
	spin_lock(&receiver->lane_lock);
	for (i = 0; i < receiver->notice_count; i++) {
		q = &receiver->notices[(receiver->notice_head + i) % X2MX_NOTICE_QUEUE];
		if (q->n.kind != X2MX_NOTICE_LANE_WANTED || q->n.peer_domid != asker->domid)
			continue;
		if (q->endpoint == ep && q->n.peer_endpoint == asker_ep) {
			spin_unlock(&receiver->lane_lock);
			return 0;
		}
		unread++;
	}
	/* One guest may not fill another's queue (and have it emptied, every lane of it closed). */
	if (unread >= X2MX_LANE_ASKS_UNREAD) {
		spin_unlock(&receiver->lane_lock);
		return -EBUSY;
	}
	token = ++receiver->token_counter;
	if (!token) /* 0 is no token */
		token = ++receiver->token_counter;
	/* Only the last X2MX_LANE_TOKENS asked are remembered: the oldest goes. */
	t = &receiver->tokens[receiver->token_next];
	receiver->token_next = (receiver->token_next + 1) % X2MX_LANE_TOKENS;
	t->token = token;
	t->asker_serial = asker->serial;
	t->asker_ep = asker_ep;
	t->receiver_ep = ep;
	spin_unlock(&receiver->lane_lock);
	*out = token;
	return 0;
}

int x2mb_lane_ask(struct x2mb_dev *dev, const struct x2mx_request *req)
{
	u8 ep = req->u.lane.peer_endpoint;
	struct x2mx_notice wanted = {
		.kind = X2MX_NOTICE_LANE_WANTED,
		.peer_domid = dev->domid,
	};
	struct x2mb_dev *peer;
	int ret = -ENOENT;

	if (!x2mb_ep_of(dev, req->endpoint))
		return -EINVAL;
	if (ep >= XEN2MX_MAX_ENDPOINTS)
		return -ENOENT; /* MX's raw endpoint: never a guest's */
	wanted.peer_endpoint = req->endpoint;
	spin_lock(&x2mb_registry_lock);
	list_for_each_entry(peer, &x2mb_registry, peers) {
		/* Endpoint ids are the board's: at most one device holds `ep`. */
		if (peer == dev || peer->board != dev->board || !READ_ONCE(peer->eps[ep]))
			continue;
		if (!peer->lanes) {
			ret = -EOPNOTSUPP;
			break;
		}
		ret = x2mb_token_new(peer, dev, req->endpoint, ep, &wanted.token);
		if (wanted.token)
			x2mb_notice_post(peer, ep, &wanted);
		break;
	}
	spin_unlock(&x2mb_registry_lock);
	if (!ret)
		atomic64_inc(&dev->lane_asks);
	return ret;
}

int x2mb_lane_offer(struct x2mb_dev *dev, const struct x2mx_request *req)
{
	struct x2mx_notice ready = {
		.kind = X2MX_NOTICE_LANE_READY,
		.peer_domid = dev->domid,
		.ref = req->u.lane.ref,
		.port = req->u.lane.port,
	};
	struct x2mb_token asked = {};
	struct x2mb_dev *asker;
	unsigned int i;
	int ret = -ENOENT;

	if (!x2mb_ep_of(dev, req->endpoint) || !req->u.lane.token)
		return -ENOENT;
	spin_lock(&dev->lane_lock);
	for (i = 0; i < X2MX_LANE_TOKENS; i++) {
		if (dev->tokens[i].token == req->u.lane.token && dev->tokens[i].receiver_ep == req->endpoint) {
			asked = dev->tokens[i];
			dev->tokens[i].token = 0; /* one offer per ask */
			break;
		}
	}
	spin_unlock(&dev->lane_lock);
	if (!asked.token)
		return -ENOENT;
	ready.peer_endpoint = asked.receiver_ep;
	spin_lock(&x2mb_registry_lock);
	/* The connection that asked, not a later one of the same guest. */
	list_for_each_entry(asker, &x2mb_registry, peers) {
		if (asker->serial != asked.asker_serial)
			continue;
		if (asker->lanes && asker->board == dev->board) {
			x2mb_notice_post(asker, asked.asker_ep, &ready);
			ret = 0;
		}
		break;
	}
	spin_unlock(&x2mb_registry_lock);
	if (!ret)
		atomic64_inc(&dev->lane_offers);
	return ret;
}

ssize_t x2mb_lanes_show(struct x2mb_dev *dev, char *buf)
{
	unsigned int queued;
	bool listening;

	spin_lock(&dev->lane_lock);
	queued = dev->notice_count;
	listening = dev->listening;
	spin_unlock(&dev->lane_lock);
	return sysfs_emit(buf, "lanes %d listening %d queued %u asks %lld offers %lld notices %lld resets %lld\n",
			  READ_ONCE(dev->lanes), listening, queued, (long long)atomic64_read(&dev->lane_asks),
			  (long long)atomic64_read(&dev->lane_offers), (long long)atomic64_read(&dev->notices_posted),
			  (long long)atomic64_read(&dev->notice_resets));
}
