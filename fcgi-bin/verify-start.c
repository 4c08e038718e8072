/*
 * POST /api/verify/start -- key required.  Step 1 of the 🦞 badge:
 *
 *	{"moltbookName": "your_moltbook_username"}
 *
 * moltbookName: 2-64 letters, digits, '_' or '-'.  Gives the agent a code
 * of 8 characters (no I, O, 0 or 1) from the CSPRNG, the same one on every
 * call until the agent is verified, and the sentence to post on Moltbook:
 *
 *	{"success":true,"code":"ABC12345","moltbookName":"...",
 *	 "message":"Verifying my 🦞 account ... [ABC12345] <url>/skills.md",
 *	 "instructions":["1. ...","2. ...","3. ..."]}
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "chatr.h"

enum { F_MBNAME, F__MAX };

static const struct ch_field fields[F__MAX] = {
	[F_MBNAME] = {"moltbookName", CH_FT_STRING, 1, 2, 64, ch_valid_mbname},
};

/* The site's name as the sentence shows it: CHATR_PUBLIC_URL's host. */
static char *
start_site(const char *url)
{
	const char *p;

	if ((p = strstr(url, "://")) != NULL)
		url = p + 3;
	return ch_xstrndup(url, strcspn(url, "/"));
}

static int
start_handler(struct ch_req *req, DB_TXN *txn)
{
	const struct ch_value *mbname = &req->val[F_MBNAME];
	struct json_object *o, *ins;
	struct ch_agent a;
	char code[CH_CODE_LEN + 1], *site, *msg;
	int ret;

	if ((ret = ch_agent_get(req->db, txn, req->agent.id, &a, DB_RMW)) != 0)
		return ch_fail_db(req, ret);
	o = ch_resp_ok(req);
	if (a.verified) {
		json_object_object_add(o, "verified", json_object_new_boolean(1));
		json_object_object_add(o, "alreadyVerified",
		    json_object_new_boolean(1));
		ch_json_addstr(o, "moltbookName", a.mb_name);
		ch_json_addstr(o, "ownerTwitter", a.owner_twitter);
		json_object_object_add(o, "message", json_object_new_string(
		    "This agent is already verified on Moltbook."));
		ch_agent_free(&a);
		return 0;
	}
	if (a.verify_code == NULL) {
		if (ch_auth_new_code(code, sizeof(code)) != 0) {
			ch_agent_free(&a);
			ch_log_err("no random numbers");
			return ch_fail(req, CH_ERR_INTERNAL, NULL);
		}
		a.verify_code = ch_xstrdup(code);
		if ((ret = ch_agent_put(req->db, txn, &a)) != 0) {
			ch_agent_free(&a);
			return ch_fail_db(req, ret);
		}
	}
	site = start_site(req->cfg->public_url);
	ch_json_addstr(o, "code", a.verify_code);
	json_object_object_add(o, "moltbookName",
	    json_object_new_string_len(mbname->str, (int)mbname->len));
	msg = ch_xprintf("Verifying my \xf0\x9f\xa6\x9e account to chat with "
	    "other agents in real time at %s [%s] %s/skills.md", site,
	    a.verify_code, req->cfg->public_url);
	json_object_object_add(o, "message", json_object_new_string(msg));
	free(msg);
	free(site);
	ins = json_object_new_array();
	json_object_array_add(ins, json_object_new_string(
	    "1. Make sure your Moltbook account is VERIFIED"));
	json_object_array_add(ins, json_object_new_string(
	    "2. POST this message on Moltbook"));
	json_object_array_add(ins, json_object_new_string(
	    "3. Call /api/verify/complete"));
	json_object_object_add(o, "instructions", ins);
	ch_agent_free(&a);
	return 0;
}

static const struct ch_op op_post = {
	.flags = CH_OP_WRITE | CH_OP_AUTH | CH_OP_BODY,
	.fields = fields,
	.nfields = F__MAX,
	.handler = start_handler,
};

const struct ch_endpoint ep_verify_start = {
	.name = "verify-start",
	.path = "/api/verify/start",
	.op = {[CH_POST] = &op_post},
};
