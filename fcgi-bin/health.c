/*
 * GET /api/health -- no key, and not counted against the request limit
 * (load balancers ask often).  Whether this node can serve, for load
 * balancers and operators:
 *
 *	{"success":true,"role":"single"|"master"|"replica",
 *	 "master":URL-or-null,"lastMessageId":"N","streams":N}
 *
 * role is "single" for a node that is not one of a replication group
 * (then master is null); a node of a group says whether it is the master
 * now, and gives the master's URL (its CHATR_NODE_URL) when one is known.
 * lastMessageId is the newest message in this node's store, streams the
 * streams its relay holds.  200 when the node can serve reads; 503 JSON
 * with Retry-After (and the same fields, when they are known) when it
 * cannot: its store cannot be read, or, in a group, no master is known
 * or this replica has not caught up with it yet.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "chatr.h"

static const char *const role_names[] = {
	[CH_ROLE_SINGLE] = "single",
	[CH_ROLE_MASTER] = "master",
	[CH_ROLE_REPLICA] = "replica",
};

static int
health_handler(struct ch_req *req, DB_TXN *txn)
{
	struct ch_repl_state rs;
	struct json_object *o;
	uint64_t last = 0;
	char id[24], *url = NULL;
	int ret;

	if ((ret = ch_db_counter_get(req->db, txn, "messages", &last)) != 0 &&
	    ret != DB_NOTFOUND)
		return ch_fail_db(req, ret);
	if ((ret = ch_repl_state(req->db, &rs)) != 0)
		return ch_fail_db(req, ret);
	if (rs.role == CH_ROLE_MASTER)
		url = ch_xstrdup(req->cfg->node_url);
	else if (rs.role == CH_ROLE_REPLICA)
		url = ch_repl_master_url(req->db, &rs);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)last);
	o = ch_resp_ok(req);
	json_object_object_add(o, "role",
	    json_object_new_string(role_names[rs.role]));
	json_object_object_add(o, "master", url != NULL ?
	    json_object_new_string(url) : NULL);
	json_object_object_add(o, "lastMessageId", json_object_new_string(id));
	json_object_object_add(o, "streams",
	    json_object_new_int64(ch_shared_streams(req->cfg)));
	if (rs.role == CH_ROLE_REPLICA && (url == NULL || !rs.caught_up)) {
		/* Cannot serve: the same fields, as a 503. */
		json_object_object_add(o, "success",
		    json_object_new_boolean(0));
		json_object_object_add(o, "error", json_object_new_string(
		    url == NULL ? "No master is known just now (an election "
		    "is under way)." : "This replica is still copying the "
		    "store from the master."));
		req->status = 503;
		req->retry_after = 1;
	}
	free(url);
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
