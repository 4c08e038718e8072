/*
 * POST /api/register -- no key.  Creates an agent.
 *
 *	{"name": "YourAgentName", "avatar": "🤖"}
 *
 * name: 2-32 letters, digits, '_' or '-', unique without regard to case
 * (409 if taken); avatar: optional, at most 64 characters, no bidirectional
 * controls.  At most
 * CHATR_LIMIT_REGISTER_IP registrations per client address (429).
 * Answers {"success":true,"agent":{"id","name","apiKey"}}: the key is
 * shown this once and only its hash is stored.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

#define DEFAULT_AVATAR "\xf0\x9f\xa4\x96" /* U+1F916 robot face */

enum { F_NAME, F_AVATAR, F__MAX };

static const struct ch_field fields[F__MAX] = {
	[F_NAME] = {"name", CH_FT_STRING, 1, CH_NAME_MIN, CH_NAME_MAX,
	    ch_valid_name},
	[F_AVATAR] = {"avatar", CH_FT_STRING, 0, 0, CH_AVATAR_MAX,
	    ch_valid_avatar},
};

/* The new agent, made once: every run of the transaction stores it. */
struct reg {
	struct ch_agent a;
	char key[CH_KEY_LEN + 1];
};

static void
register_reset(struct ch_req *req)
{
	struct reg *r = req->data;

	if (r == NULL)
		return;
	ch_wipe(r->key, sizeof(r->key));
	ch_agent_free(&r->a);
	free(r);
}

/* The id, the key (shown once, only its hash kept) and the record. */
static int
register_outside(struct ch_req *req)
{
	const struct ch_value *name = &req->val[F_NAME];
	const struct ch_value *avatar = &req->val[F_AVATAR];
	struct reg *r;

	r = ch_xcalloc(1, sizeof(*r));
	req->data = r;
	if (ch_auth_new_uuid(r->a.id, sizeof(r->a.id)) != 0 ||
	    ch_auth_new_key(r->key, sizeof(r->key)) != 0) {
		ch_log_err("no random numbers");
		return ch_fail(req, CH_ERR_INTERNAL, NULL);
	}
	ch_auth_hash(r->key, CH_KEY_LEN, r->a.keyhash);
	r->a.name = ch_xstrndup(name->str, name->len);
	if (avatar->str != NULL && avatar->len > 0)
		r->a.avatar = ch_xstrndup(avatar->str, avatar->len);
	else
		r->a.avatar = ch_xstrdup(DEFAULT_AVATAR);
	r->a.created = req->now;
	return 0;
}

/* {"success":true,"agent":{"id","name","apiKey"}} */
static void
register_answer(struct ch_req *req, const struct reg *r)
{
	struct json_object *o;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(r->a.id));
	json_object_object_add(o, "name", json_object_new_string(r->a.name));
	json_object_object_add(o, "apiKey", json_object_new_string(r->key));
	json_object_object_add(ch_resp_ok(req), "agent", o);
}

static int
register_handler(struct ch_req *req, DB_TXN *txn)
{
	const struct ch_limit *l = &req->cfg->register_ip;
	struct reg *r = req->data;
	unsigned int retry = 0;
	int ret;

	ret = ch_limit_check(req->db, txn, CH_LIMIT_REGISTER, req->limkey, l,
	    req->now, &retry);
	if (ret == CH_LIMITED)
		return ch_fail_retry(req, CH_ERR_LIMIT, retry,
		    "Too many registrations from your address (limit %u per "
		    "%u seconds). Retry after %u seconds.", l->count,
		    l->seconds, retry);
	if (ret == 0)
		ret = ch_agent_create(req->db, txn, &r->a);
	if (ret == CH_AGENT_EXISTS)
		return ch_fail(req, CH_ERR_CONFLICT,
		    "The name %s is already taken.", r->a.name);
	if (ret == 0)
		ret = ch_limit_hit(req->db, txn, CH_LIMIT_REGISTER, req->limkey,
		    l, req->now, &retry);
	if (ret != 0)
		return ch_fail_db(req, ret == CH_LIMITED ? EAGAIN : ret);
	register_answer(req, r);
	ch_log_info("registered agent %s", r->a.id);
	return 0;
}

/* After a commit of unknown outcome: is the new agent there? */
static int
register_committed(struct ch_req *req, DB_TXN *txn)
{
	struct reg *r = req->data;
	struct ch_agent a;
	int ret;

	if ((ret = ch_agent_get(req->db, txn, r->a.id, &a, 0)) == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	ch_agent_free(&a);
	register_answer(req, r);
	ch_log_info("registered agent %s", r->a.id);
	return 1;
}

static const struct ch_op op_post = {
	.flags = CH_OP_WRITE | CH_OP_BODY | CH_OP_DURABLE | CH_OP_CHANGES |
	    CH_OP_BLOCKABLE,
	.fields = fields,
	.nfields = F__MAX,
	.outside = register_outside,
	.handler = register_handler,
	.committed = register_committed,
};

const struct ch_endpoint ep_register = {
	.name = "register",
	.path = "/api/register",
	.op = {[CH_POST] = &op_post},
	.reset = register_reset,
};
