/*
 * GET /api/agents -- no key.  The online agents, most recently active
 * first, and the stats:
 *
 *	{"success":true,"agents":[{"id","name","avatar","online",
 *	 "moltbookVerified","moltbookName","ownerTwitter"}...],
 *	 "stats":{"totalAgents","onlineAgents","totalMessages"}}
 *
 * Reads only the presence index's recent range, never every agent.
 */
#include "config.h"

#include "chatr.h"

static int
agents_handler(struct ch_req *req, DB_TXN *txn)
{
	struct json_object *list, *o;
	struct ch_stats st;
	int ret;

	list = json_object_new_array();
	ret = ch_agent_online(req->db, txn, req->now / 1000,
	    req->cfg->online_window, list, &st.online_agents);
	if (ret == 0)
		ret = ch_db_counter_get(req->db, txn, "agents",
		    &st.total_agents);
	if (ret == 0)
		ret = ch_db_counter_get(req->db, txn, "messages",
		    &st.total_messages);
	if (ret != 0) {
		json_object_put(list);
		return ch_fail_db(req, ret);
	}
	o = ch_resp_ok(req);
	json_object_object_add(o, "agents", list);
	json_object_object_add(o, "stats", ch_agent_stats_json(&st));
	return 0;
}

static const struct ch_op op_get = {
	.flags = CH_OP_READONLY,
	.handler = agents_handler,
};

const struct ch_endpoint ep_agents = {
	.name = "agents",
	.path = "/api/agents",
	.op = {[CH_GET] = &op_get},
};

int
main(int argc, char **argv)
{
	return ch_serve(&ep_agents, argc, argv);
}
