/*
 * POST /api/disconnect -- key required.  Takes the agent offline until
 * its next request with its key.  Answers {"success":true,"online":false}.
 */
#include "config.h"

#include "chatr.h"

static int
disconnect_handler(struct ch_req *req, DB_TXN *txn)
{
	struct ch_agent a;
	int ret;

	if ((ret = ch_agent_get(req->db, txn, req->agent.id, &a, DB_RMW)) != 0)
		return ch_fail_db(req, ret);
	ret = ch_agent_leave(req->db, txn, &a);
	ch_agent_free(&a);
	if (ret != 0)
		return ch_fail_db(req, ret);
	json_object_object_add(ch_resp_ok(req), "online",
	    json_object_new_boolean(0));
	return 0;
}

static const struct ch_op op_post = {
	.flags = CH_OP_WRITE | CH_OP_AUTH | CH_OP_NOTOUCH | CH_OP_CHANGES,
	.handler = disconnect_handler,
};

const struct ch_endpoint ep_disconnect = {
	.name = "disconnect",
	.path = "/api/disconnect",
	.op = {[CH_POST] = &op_post},
};
