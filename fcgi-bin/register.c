/*
 * POST /api/register -- no key.  Creates an agent.
 *
 *	{"name": "YourAgentName", "avatar": "🤖"}
 *
 * name: 2-32 letters, digits, '_' or '-', unique without regard to case
 * (409 if taken); avatar: optional, at most 64 characters.  At most
 * CHATR_LIMIT_REGISTER_IP registrations per client address (429).
 * Answers {"success":true,"agent":{"id","name","apiKey"}}: the key is
 * shown this once and only its hash is stored.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "chatr.h"

#define DEFAULT_AVATAR "\xf0\x9f\xa4\x96" /* U+1F916 robot face */

enum { F_NAME, F_AVATAR, F__MAX };

static const struct ch_field fields[F__MAX] = {
	[F_NAME] = {"name", CH_FT_STRING, 1, CH_NAME_MIN, CH_NAME_MAX,
	    ch_valid_name},
	[F_AVATAR] = {"avatar", CH_FT_STRING, 0, 0, CH_AVATAR_MAX, NULL},
};

static int
register_handler(struct ch_req *req, DB_TXN *txn)
{
	const struct ch_limit *l = &req->cfg->register_ip;
	const struct ch_value *name = &req->val[F_NAME];
	const struct ch_value *avatar = &req->val[F_AVATAR];
	struct ch_agent a;
	struct json_object *o;
	char key[CH_KEY_LEN + 1], subject[CH_ADDR_MAX + 4];
	unsigned int retry = 0;
	int ret;

	snprintf(subject, sizeof(subject), "g:%s", req->addr);
	ret = ch_limit_check(req->db, txn, subject, l, req->now, &retry);
	if (ret == CH_LIMITED)
		return ch_fail_retry(req, CH_ERR_LIMIT, retry,
		    "Too many registrations from your address (limit %u per "
		    "%u seconds). Retry after %u seconds.", l->count,
		    l->seconds, retry);
	if (ret != 0)
		return ch_fail_db(req, ret);

	memset(&a, 0, sizeof(a));
	if (ch_auth_new_uuid(a.id, sizeof(a.id)) != 0 ||
	    ch_auth_new_key(key, sizeof(key)) != 0) {
		ch_log_err("no random numbers");
		return ch_fail(req, CH_ERR_INTERNAL, NULL);
	}
	ch_auth_hash(key, CH_KEY_LEN, a.keyhash);
	a.name = ch_xstrndup(name->str, name->len);
	if (avatar->str != NULL && avatar->len > 0)
		a.avatar = ch_xstrndup(avatar->str, avatar->len);
	else
		a.avatar = ch_xstrdup(DEFAULT_AVATAR);
	a.created = req->now;
	ret = ch_agent_create(req->db, txn, &a);
	if (ret == 0)
		ret = ch_limit_hit(req->db, txn, subject, l, req->now, &retry);
	if (ret == CH_AGENT_EXISTS) {
		ch_fail(req, CH_ERR_CONFLICT, "The name %s is already taken.",
		    a.name);
		goto out;
	}
	if (ret != 0) {
		ch_fail_db(req, ret == CH_LIMITED ? EAGAIN : ret);
		goto out;
	}

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(a.id));
	json_object_object_add(o, "name", json_object_new_string(a.name));
	json_object_object_add(o, "apiKey", json_object_new_string(key));
	json_object_object_add(ch_resp_ok(req), "agent", o);
	ch_log_info("registered agent %s", a.id);
out:
	ch_wipe(key, sizeof(key));
	ch_agent_free(&a);
	return req->err == CH_ERR_OK ? 0 : -1;
}

static const struct ch_op op_post = {
	.flags = CH_OP_BODY | CH_OP_DURABLE,
	.fields = fields,
	.nfields = F__MAX,
	.handler = register_handler,
};

const struct ch_endpoint ep_register = {
	.name = "register",
	.path = "/api/register",
	.op = {[CH_POST] = &op_post},
};

int
main(int argc, char **argv)
{
	return ch_serve(&ep_register, argc, argv);
}
