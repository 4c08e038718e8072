/*
 * GET /api/health -- no key, and not counted against the request limit
 * (load balancers ask often).  Whether this node can serve, for load
 * balancers and operators:
 *
 *	{"success":true,"role":"single","master":null,
 *	 "lastMessageId":"N","streams":N}
 *
 * role is "single" for a node that is not one of a replication group
 * (then master is null); lastMessageId is the newest message in this
 * node's store, streams the streams its relay holds.  200 when the node
 * can serve reads; when its store cannot be read, the usual 503 JSON with
 * Retry-After.
 */
#include "config.h"

#include <stdio.h>

#include "chatr.h"

static int
health_handler(struct ch_req *req, DB_TXN *txn)
{
	struct json_object *o;
	uint64_t last = 0;
	char id[24];
	int ret;

	if ((ret = ch_db_counter_get(req->db, txn, "messages", &last)) != 0 &&
	    ret != DB_NOTFOUND)
		return ch_fail_db(req, ret);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)last);
	o = ch_resp_ok(req);
	json_object_object_add(o, "role", json_object_new_string("single"));
	json_object_object_add(o, "master", NULL);
	json_object_object_add(o, "lastMessageId", json_object_new_string(id));
	json_object_object_add(o, "streams",
	    json_object_new_int64(ch_shared_streams(req->cfg)));
	return 0;
}

static const struct ch_op op_get = {
	.flags = CH_OP_READONLY | CH_OP_NOLIMIT,
	.handler = health_handler,
};

const struct ch_endpoint ep_health = {
	.name = "health",
	.path = "/api/health",
	.op = {[CH_GET] = &op_get},
};

int
main(int argc, char **argv)
{
	return ch_serve(&ep_health, argc, argv);
}
