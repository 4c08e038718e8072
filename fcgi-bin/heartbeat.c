/*
 * POST /api/heartbeat -- key required.  Keeps the agent online.
 *
 * Every request with a valid key counts as activity; an agent is online
 * until CHATR_ONLINE_WINDOW seconds pass without any.  The bookkeeping
 * that ch_serve does for the key is all this needs, so there is no
 * transaction of its own.  Answers {"success":true,"online":true}.
 */
#include "config.h"

#include "chatr.h"

static int
heartbeat_answer(struct ch_req *req)
{
	json_object_object_add(ch_resp_ok(req), "online",
	    json_object_new_boolean(1));
	return 0;
}

static const struct ch_op op_post = {
	.flags = CH_OP_WRITE | CH_OP_AUTH,
	.outside = heartbeat_answer,
};

const struct ch_endpoint ep_heartbeat = {
	.name = "heartbeat",
	.path = "/api/heartbeat",
	.op = {[CH_POST] = &op_post},
};
