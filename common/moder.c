/*
 * moder.c -- moderation in the store: deleted messages, blocked
 * addresses and the audit log (an agent's ban is in its record: agent.c).
 *
 *   deletes  be64(seq) -> be64(message id): every deletion, in order; the
 *            counter "deletes" is the newest seq.  The relays follow it
 *            (as they follow the message counter) to drop the message
 *            from their memory and tell their streams.
 *   blocks   an address or network, as ch_cidr_text writes it ->
 *            {"reason":..., "at": ms}
 *   audit    be64(seq) -> {"at": ms, "operator", "action", "target",
 *            "reason"}; the counter "audit" is the newest seq.
 * (Addresses and networks are parsed in addr.c.)
 *
 * Each action and its audit entry commit in one transaction: no action is
 * done without its entry, and no entry says what was not done.
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

/* Who runs this: the Unix user, and the one behind sudo if any. */
static char *
mod_operator(void)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *sudo = getenv("SUDO_USER");
	char uid[32];

	snprintf(uid, sizeof(uid), "uid %ld", (long)geteuid());
	if (sudo != NULL && *sudo != '\0' && strlen(sudo) < 64)
		return ch_xprintf("%s (sudo from %s)", pw != NULL ?
		    pw->pw_name : uid, sudo);
	return ch_xstrdup(pw != NULL ? pw->pw_name : uid);
}

/*
 * Append an entry to the audit log: now, the operator, what was done, to
 * what, and why (reason may be NULL).
 */
int
ch_audit_add(struct ch_db *db, DB_TXN *txn, const char *action,
    const char *target, const char *reason)
{
	struct json_object *o;
	unsigned char k[8];
	const char *text;
	char *op;
	DBT key, data;
	uint64_t seq;
	size_t len;
	int ret;

	if ((ret = ch_db_counter_add(db, txn, "audit", 1, &seq)) != 0)
		return ret;
	if ((o = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	op = mod_operator();
	json_object_object_add(o, "at", json_object_new_int64(ch_time_ms()));
	ch_json_addstr(o, "operator", op);
	ch_json_addstr(o, "action", action);
	ch_json_addstr(o, "target", target);
	ch_json_addstr(o, "reason", reason);
	free(op);
	text = ch_json_text(o, &len);
	ch_db_be64(k, seq);
	ch_db_dbt(&key, k, sizeof(k));
	ch_db_dbt(&data, text, len);
	ret = db->audit->put(db->audit, txn, &key, &data, 0);
	json_object_put(o);
	return ret;
}

/* Call fn(arg, json, len) for every audit entry, the oldest first. */
int
ch_audit_walk(struct ch_db *db, DB_TXN *txn,
    int (*fn)(void *, const char *, size_t), void *arg)
{
	DBC *c = NULL;
	DBT key, data;
	int ret;

	if ((ret = db->audit->cursor(db->audit, txn, &c, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	ch_db_dbt(&data, NULL, 0);
	while ((ret = c->get(c, &key, &data, DB_NEXT)) == 0)
		if ((ret = fn(arg, data.data, data.size)) != 0)
			break;
	ret = ch_db_cursor_done(c, ret);
	return ret;
}

/*
 * Delete message id from the store, and say so to the relays (the
 * deletes database).  DB_NOTFOUND when there is no such message.
 */
int
ch_mod_delete(struct ch_db *db, DB_TXN *txn, uint64_t id)
{
	unsigned char k[8], v[8];
	DBT key, data;
	uint64_t seq;
	int ret;

	ch_db_be64(k, id);
	ch_db_dbt(&key, k, sizeof(k));
	if ((ret = db->messages->del(db->messages, txn, &key, 0)) != 0)
		return ret;
	if ((ret = ch_db_counter_add(db, txn, "deletes", 1, &seq)) != 0)
		return ret;
	ch_db_be64(k, seq);
	ch_db_be64(v, id);
	ch_db_dbt(&key, k, sizeof(k));
	ch_db_dbt(&data, v, sizeof(v));
	return db->deletes->put(db->deletes, txn, &key, &data, 0);
}

/*
 * Call fn(arg, seq, id) for each deletion after seq after, in order, at
 * most limit of them.  fn returns nonzero to stop.
 */
int
ch_mod_deletes(struct ch_db *db, DB_TXN *txn, uint64_t after,
    unsigned int limit, uint32_t flags,
    int (*fn)(void *, uint64_t, uint64_t), void *arg)
{
	unsigned char k[8], v[8];
	unsigned int n = 0;
	DBC *c = NULL;
	DBT key, data;
	int ret;

	if ((ret = db->deletes->cursor(db->deletes, txn, &c, flags)) != 0)
		return ret;
	ch_db_be64(k, after + 1);
	ch_db_dbt(&key, NULL, 0);
	key.data = k;
	key.size = key.ulen = sizeof(k);
	key.flags = DB_DBT_USERMEM;
	ch_db_dbt(&data, NULL, 0);
	data.data = v;
	data.ulen = sizeof(v);
	data.flags = DB_DBT_USERMEM;
	for (ret = c->get(c, &key, &data, DB_SET_RANGE); ret == 0 &&
	    n < limit; ret = c->get(c, &key, &data, DB_NEXT), n++) {
		if (key.size != 8 || data.size != 8) {
			ret = EINVAL;
			break;
		}
		if ((ret = fn(arg, ch_db_get_be64(k), ch_db_get_be64(v))) != 0)
			break;
	}
	ret = ch_db_cursor_done(c, ret);
	return ret;
}

/*
 * Delete every message of agent id (agentId in its object); *n gets how
 * many.  Each one goes the way of ch_mod_delete.
 */
int
ch_mod_purge(struct ch_db *db, DB_TXN *txn, const char *agent_id,
    uint64_t *n)
{
	struct json_object *o;
	unsigned char k[8];
	uint64_t *ids = NULL, id;
	size_t nids = 0, cap = 0, i;
	const char *who;
	DBC *c = NULL;
	DBT key, data;
	int ret;

	*n = 0;
	if ((ret = db->messages->cursor(db->messages, txn, &c, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	key.data = k;
	key.ulen = sizeof(k);
	key.flags = DB_DBT_USERMEM;
	ch_db_dbt(&data, NULL, 0);
	while ((ret = c->get(c, &key, &data, DB_NEXT)) == 0) {
		if (key.size != 8)
			continue;
		id = ch_db_get_be64(k);
		if (ch_msg_parse_line(data.data, data.size, &id, &o) != 0)
			continue;
		who = ch_json_str(o, "agentId", NULL);
		if (who != NULL && strcmp(who, agent_id) == 0) {
			if (nids == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				ids = ch_xreallocarray(ids, cap, sizeof(*ids));
			}
			ids[nids++] = id;
		}
		json_object_put(o);
	}
	ret = ch_db_cursor_done(c, ret);
	for (i = 0; ret == 0 && i < nids; i++)
		if ((ret = ch_mod_delete(db, txn, ids[i])) == 0)
			(*n)++;
	free(ids);
	return ret;
}

/*
 * Block network c (reason may be NULL).  CH_AGENT_EXISTS when it is
 * blocked already.
 */
int
ch_block_add(struct ch_db *db, DB_TXN *txn, const struct ch_cidr *c,
    const char *reason)
{
	struct json_object *o;
	char text[CH_CIDR_TEXT];
	const char *s;
	DBT key, data;
	size_t len;
	int ret;

	ch_cidr_text(c, text, sizeof(text));
	if ((o = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	ch_json_addstr(o, "reason", reason);
	json_object_object_add(o, "at", json_object_new_int64(ch_time_ms()));
	s = ch_json_text(o, &len);
	ch_db_dbt(&key, text, strlen(text));
	ch_db_dbt(&data, s, len);
	ret = db->blocks->put(db->blocks, txn, &key, &data, DB_NOOVERWRITE);
	json_object_put(o);
	return ret == DB_KEYEXIST ? CH_AGENT_EXISTS : ret;
}

/* Unblock network c: DB_NOTFOUND when it is not blocked. */
int
ch_block_del(struct ch_db *db, DB_TXN *txn, const struct ch_cidr *c)
{
	char text[CH_CIDR_TEXT];
	DBT key;

	ch_cidr_text(c, text, sizeof(text));
	ch_db_dbt(&key, text, strlen(text));
	return db->blocks->del(db->blocks, txn, &key, 0);
}

/*
 * Call fn(arg, cidr text, record json, len) for each block.  With addr
 * set, only for blocks that hold it, and the walk stops at the first.
 */
int
ch_block_walk(struct ch_db *db, DB_TXN *txn, const char *addr,
    int (*fn)(void *, const char *, const char *, size_t), void *arg)
{
	char text[CH_CIDR_TEXT];
	struct ch_cidr c;
	DBC *cur = NULL;
	DBT key, data;
	int ret;

	if ((ret = db->blocks->cursor(db->blocks, txn, &cur, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	ch_db_dbt(&data, NULL, 0);
	while ((ret = cur->get(cur, &key, &data, DB_NEXT)) == 0) {
		if (key.size >= sizeof(text))
			continue;
		memcpy(text, key.data, key.size);
		text[key.size] = '\0';
		if (addr != NULL && (ch_cidr_parse(text, key.size, &c) != 0 ||
		    !ch_cidr_match(&c, addr)))
			continue;
		if ((ret = fn(arg, text, data.data, data.size)) != 0 ||
		    addr != NULL)
			break;
	}
	ret = ch_db_cursor_done(cur, ret);
	return ret;
}
