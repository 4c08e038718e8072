/*
 * agent.c -- agents in the store: records, names, keys and presence.
 *
 *   agents    id -> record, a JSON object (see agent_encode)
 *   names     lower-case name -> id        (names are unique without case)
 *   keys      SHA-256(API key) -> id       (the key itself is never kept)
 *   presence  be64(last seen, seconds) + id -> the agent's public object
 *             (as GET /api/agents shows it; "" in stores from before)
 *
 * The presence index is ordered by time, so the online agents are one
 * range scan over the newest entries, which hold all that is shown of
 * them: the cost grows with the number of online agents, never with the
 * number registered, and reads no agent record.
 *
 * Presence is written at most once per touch interval (ch_agent_touch:
 * a tenth of the online window, from 1 to 5 seconds), so that an agent
 * that makes many requests costs one store write every few seconds, not
 * one per request; an agent stays online for that much longer than the
 * window, never less.  An agent that was offline is online at once.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

#define PRESENCE_KEY (8 + CH_ID_LEN)

/* Free the strings of a (decoded) agent. */
void
ch_agent_free(struct ch_agent *a)
{
	free(a->name);
	free(a->avatar);
	free(a->mb_name);
	free(a->owner_twitter);
	free(a->verify_code);
	free(a->ban_reason);
	ch_wipe(a->keyhash, sizeof(a->keyhash));
	memset(a, 0, sizeof(*a));
}

/* The stored record of a. */
static struct json_object *
agent_encode(const struct ch_agent *a)
{
	struct json_object *o;
	char kh[2 * CH_HASH_LEN + 1];

	if ((o = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	ch_hex_encode(kh, a->keyhash, CH_HASH_LEN);
	ch_json_addstr(o, "id", a->id);
	ch_json_addstr(o, "name", a->name);
	ch_json_addstr(o, "avatar", a->avatar);
	ch_json_addstr(o, "kh", kh);
	json_object_object_add(o, "created", json_object_new_int64(a->created));
	json_object_object_add(o, "seen", json_object_new_int64(a->last_seen));
	json_object_object_add(o, "verified",
	    json_object_new_boolean(a->verified));
	ch_json_addstr(o, "mbName", a->mb_name);
	ch_json_addstr(o, "owner", a->owner_twitter);
	ch_json_addstr(o, "code", a->verify_code);
	if (a->banned) {
		json_object_object_add(o, "banned",
		    json_object_new_boolean(1));
		ch_json_addstr(o, "banReason", a->ban_reason);
	}
	return o;
}

static char *
agent_dup(struct json_object *o, const char *key)
{
	const char *s;

	if ((s = ch_json_str(o, key, NULL)) == NULL)
		return NULL;
	return ch_xstrdup(s);
}

/* Decode a stored record into a; 0 on success, EINVAL if corrupt. */
static int
agent_decode(const DBT *d, struct ch_agent *a)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	const char *s;
	size_t len;

	memset(a, 0, sizeof(*a));
	if ((tok = json_tokener_new()) == NULL)
		ch_fatal("json_tokener_new failed");
	o = json_tokener_parse_ex(tok, d->data, (int)d->size);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto bad;
	if ((s = ch_json_str(o, "id", &len)) == NULL || len != CH_ID_LEN)
		goto bad;
	memcpy(a->id, s, CH_ID_LEN + 1);
	if ((s = ch_json_str(o, "kh", &len)) == NULL ||
	    len != 2 * CH_HASH_LEN || ch_hex_decode(a->keyhash, s,
	    CH_HASH_LEN) != 0)
		goto bad;
	if ((a->name = agent_dup(o, "name")) == NULL)
		goto bad;
	a->avatar = agent_dup(o, "avatar");
	a->mb_name = agent_dup(o, "mbName");
	a->owner_twitter = agent_dup(o, "owner");
	a->verify_code = agent_dup(o, "code");
	if (json_object_object_get_ex(o, "created", &v))
		a->created = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "seen", &v))
		a->last_seen = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "verified", &v))
		a->verified = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "banned", &v))
		a->banned = json_object_get_boolean(v);
	a->ban_reason = agent_dup(o, "banReason");
	json_object_put(o);
	return 0;
bad:
	json_object_put(o);
	ch_agent_free(a);
	ch_log_err("corrupt agent record");
	return EINVAL;
}

/*
 * Read agent id into *a (the caller frees it with ch_agent_free).  flags:
 * DB_RMW to write-lock it for an update.  DB_NOTFOUND if there is none.
 */
int
ch_agent_get(struct ch_db *db, DB_TXN *txn, const char *id,
    struct ch_agent *a, uint32_t flags)
{
	DBT key, data;
	int ret;

	ch_db_dbt(&key, id, strlen(id));
	ch_db_dbt(&data, NULL, 0);
	data.flags = DB_DBT_MALLOC;
	if ((ret = db->agents->get(db->agents, txn, &key, &data, flags)) != 0)
		return ret;
	ret = agent_decode(&data, a);
	free(data.data);
	return ret;
}

/*
 * Find the agent whose API key hashes to hash; flags as for ch_agent_get
 * (DB_RMW: write-locked for an update).  DB_NOTFOUND if no agent has that
 * key.
 */
int
ch_agent_by_key(struct ch_db *db, DB_TXN *txn, const unsigned char *hash,
    struct ch_agent *a, uint32_t flags)
{
	char id[CH_ID_LEN + 1];
	DBT key, data;
	int ret;

	ch_db_dbt(&key, hash, CH_HASH_LEN);
	ch_db_dbt(&data, NULL, 0);
	data.data = id;
	data.ulen = CH_ID_LEN;
	data.flags = DB_DBT_USERMEM;
	if ((ret = db->keys->get(db->keys, txn, &key, &data, 0)) != 0)
		return ret == DB_BUFFER_SMALL ? EINVAL : ret;
	if (data.size != CH_ID_LEN)
		return EINVAL;
	id[CH_ID_LEN] = '\0';
	if ((ret = ch_agent_get(db, txn, id, a, flags)) != 0)
		return ret == DB_NOTFOUND ? EINVAL : ret;
	if (!ch_auth_equal(a->keyhash, hash, CH_HASH_LEN)) {
		ch_agent_free(a);
		return DB_NOTFOUND;
	}
	return 0;
}

/* Lower-case copy of an ASCII name into out (size > len). */
static void agent_lower(char *, const char *, size_t);

/*
 * Find the agent named name (any case); flags as for ch_agent_get.
 * DB_NOTFOUND if there is none.
 */
int
ch_agent_by_name(struct ch_db *db, DB_TXN *txn, const char *name,
    struct ch_agent *a, uint32_t flags)
{
	char lower[CH_NAME_MAX * 4 + 1], id[CH_ID_LEN + 1];
	size_t len = strlen(name);
	DBT key, data;
	int ret;

	if (len >= sizeof(lower))
		return DB_NOTFOUND;
	agent_lower(lower, name, len);
	ch_db_dbt(&key, lower, len);
	ch_db_dbt(&data, NULL, 0);
	data.data = id;
	data.ulen = CH_ID_LEN;
	data.flags = DB_DBT_USERMEM;
	if ((ret = db->names->get(db->names, txn, &key, &data, 0)) != 0)
		return ret == DB_BUFFER_SMALL ? EINVAL : ret;
	if (data.size != CH_ID_LEN)
		return EINVAL;
	id[CH_ID_LEN] = '\0';
	ret = ch_agent_get(db, txn, id, a, flags);
	return ret == DB_NOTFOUND ? EINVAL : ret;
}

/*
 * Give a (read with DB_RMW) the key that hashes to hash: the old key
 * stops working in the same transaction.
 */
int
ch_agent_rekey(struct ch_db *db, DB_TXN *txn, struct ch_agent *a,
    const unsigned char *hash)
{
	DBT key, data;
	int ret;

	ch_db_dbt(&key, a->keyhash, CH_HASH_LEN);
	if ((ret = db->keys->del(db->keys, txn, &key, 0)) != 0 &&
	    ret != DB_NOTFOUND)
		return ret;
	memcpy(a->keyhash, hash, CH_HASH_LEN);
	ch_db_dbt(&key, a->keyhash, CH_HASH_LEN);
	ch_db_dbt(&data, a->id, CH_ID_LEN);
	if ((ret = db->keys->put(db->keys, txn, &key, &data,
	    DB_NOOVERWRITE)) != 0)
		return ret;
	return ch_agent_put(db, txn, a);
}

static void
agent_presence_key(unsigned char *k, int64_t seen, const char *id)
{
	ch_db_be64(k, (uint64_t)seen);
	memcpy(k + 8, id, CH_ID_LEN);
}

/*
 * Write a's record, and its presence entry when it is online (the entry
 * holds the public object, so a change of a shown field shows at once).
 */
int
ch_agent_put(struct ch_db *db, DB_TXN *txn, const struct ch_agent *a)
{
	unsigned char k[PRESENCE_KEY];
	struct json_object *o;
	const char *s;
	DBT key, data;
	size_t len;
	int ret;

	o = agent_encode(a);
	s = ch_json_text(o, &len);
	ch_db_dbt(&key, a->id, CH_ID_LEN);
	ch_db_dbt(&data, s, len);
	ret = db->agents->put(db->agents, txn, &key, &data, 0);
	json_object_put(o);
	if (ret != 0 || a->last_seen <= 0)
		return ret;
	o = ch_agent_json(a, 1);
	s = ch_json_text(o, &len);
	agent_presence_key(k, a->last_seen, a->id);
	ch_db_dbt(&key, k, sizeof(k));
	ch_db_dbt(&data, s, len);
	ret = db->presence->put(db->presence, txn, &key, &data, 0);
	json_object_put(o);
	return ret;
}

static void
agent_lower(char *out, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	out[len] = '\0';
}

/*
 * Store a new agent a (id, name, keyhash and created set by the caller),
 * claiming its name.  CH_AGENT_EXISTS if the name is taken in any case.
 */
int
ch_agent_create(struct ch_db *db, DB_TXN *txn, struct ch_agent *a)
{
	char lower[CH_NAME_MAX * 4 + 1];
	size_t len = strlen(a->name);
	DBT key, data;
	int ret;

	if (len >= sizeof(lower))
		return EINVAL;
	agent_lower(lower, a->name, len);
	ch_db_dbt(&key, lower, len);
	ch_db_dbt(&data, a->id, CH_ID_LEN);
	ret = db->names->put(db->names, txn, &key, &data, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST)
		return CH_AGENT_EXISTS;
	if (ret != 0)
		return ret;
	ch_db_dbt(&key, a->keyhash, CH_HASH_LEN);
	if ((ret = db->keys->put(db->keys, txn, &key, &data,
	    DB_NOOVERWRITE)) != 0)
		return ret;
	if ((ret = ch_agent_put(db, txn, a)) != 0)
		return ret;
	return ch_db_counter_add(db, txn, "agents", 1, NULL);
}

/*
 * Record that Moltbook user mbname (any case) verified agent id.
 * CH_AGENT_EXISTS if it already verified another agent.
 */
int
ch_agent_claim_mbname(struct ch_db *db, DB_TXN *txn, const char *mbname,
    const char *id)
{
	char lower[256], owner[CH_ID_LEN + 1];
	size_t len = strlen(mbname);
	DBT key, data;
	int ret;

	if (len >= sizeof(lower))
		return EINVAL;
	agent_lower(lower, mbname, len);
	ch_db_dbt(&key, lower, len);
	ch_db_dbt(&data, NULL, 0);
	data.data = owner;
	data.ulen = CH_ID_LEN;
	data.flags = DB_DBT_USERMEM;
	ret = db->mbnames->get(db->mbnames, txn, &key, &data, DB_RMW);
	if (ret == 0) {
		if (data.size == CH_ID_LEN && memcmp(owner, id, CH_ID_LEN) == 0)
			return 0;
		return CH_AGENT_EXISTS;
	}
	if (ret != DB_NOTFOUND)
		return ret == DB_BUFFER_SMALL ? EINVAL : ret;
	ch_db_dbt(&data, id, CH_ID_LEN);
	return db->mbnames->put(db->mbnames, txn, &key, &data, 0);
}

/* Drop a's presence entry, if any. */
static int
agent_unlist(struct ch_db *db, DB_TXN *txn, const struct ch_agent *a)
{
	unsigned char k[PRESENCE_KEY];
	DBT key;
	int ret;

	if (a->last_seen <= 0)
		return 0;
	agent_presence_key(k, a->last_seen, a->id);
	ch_db_dbt(&key, k, sizeof(k));
	ret = db->presence->del(db->presence, txn, &key, 0);
	return ret == DB_NOTFOUND ? 0 : ret;
}

/* How often presence is written for an agent that stays active (s). */
unsigned int
ch_agent_touch_every(unsigned int window)
{
	unsigned int t = window / 10;

	return t < 1 ? 1 : t > 5 ? 5 : t;
}

/* Would activity of a at now (seconds) be written (ch_agent_touch)? */
int
ch_agent_touch_due(const struct ch_agent *a, int64_t now,
    unsigned int window)
{
	return a->last_seen <= 0 || now < a->last_seen ||
	    now - a->last_seen >= (int64_t)ch_agent_touch_every(window);
}

/*
 * Record activity of a (read with DB_RMW) at now (seconds): it is online
 * until at least now + the online window.  Nothing is written unless it is
 * due (ch_agent_touch_due).
 */
int
ch_agent_touch(struct ch_db *db, DB_TXN *txn, struct ch_agent *a,
    int64_t now, unsigned int window)
{
	int ret;

	if (!ch_agent_touch_due(a, now, window))
		return 0;
	if ((ret = agent_unlist(db, txn, a)) != 0)
		return ret;
	a->last_seen = now;
	return ch_agent_put(db, txn, a);
}

/* Take a (read with DB_RMW) offline until its next activity. */
int
ch_agent_leave(struct ch_db *db, DB_TXN *txn, struct ch_agent *a)
{
	int ret;

	if (a->last_seen == 0)
		return 0;
	if ((ret = agent_unlist(db, txn, a)) != 0)
		return ret;
	a->last_seen = 0;
	return ch_agent_put(db, txn, a);
}

/*
 * Walk the online agents at now (seconds): seen within window seconds,
 * and the touch interval's slack.  The most recent first, fn(arg, id,
 * json, len) gets each one's id and public object as text (fn may be
 * NULL; nonzero from it stops the walk); *count gets how many there are.
 */
int
ch_agent_online(struct ch_db *db, DB_TXN *txn, int64_t now,
    unsigned int window, int (*fn)(void *, const char *, const char *,
    size_t), void *arg, uint64_t *count)
{
	unsigned char kbuf[PRESENCE_KEY], start[8], none[1];
	char id[CH_ID_LEN + 1];
	struct json_object *o;
	struct ch_agent a;
	const char *s;
	DBC *c = NULL;
	DBT key, data;
	uint64_t n = 0;
	size_t len;
	int ret, cret, stop = 0;

	ch_db_be64(start, (uint64_t)(now - (int64_t)window -
	    (int64_t)ch_agent_touch_every(window) + 2));
	if ((ret = db->presence->cursor(db->presence, txn, &c, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	key.data = kbuf;
	key.ulen = sizeof(kbuf);
	key.flags = DB_DBT_USERMEM;
	ch_db_dbt(&data, NULL, 0);
	data.flags = DB_DBT_REALLOC; /* one buffer for the walk, ours */
	if (fn == NULL) {
		data.data = none;
		data.ulen = sizeof(none);
		data.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL; /* counting only */
	}
	for (ret = c->get(c, &key, &data, DB_LAST); ret == 0;
	    ret = c->get(c, &key, &data, DB_PREV)) {
		if (key.size != PRESENCE_KEY) {
			ret = EINVAL;
			break;
		}
		if (memcmp(kbuf, start, 8) < 0)
			break;
		n++;
		if (fn == NULL || stop)
			continue;
		memcpy(id, kbuf + 8, CH_ID_LEN);
		id[CH_ID_LEN] = '\0';
		if (data.size > 0) {
			stop = fn(arg, id, data.data, data.size);
			continue;
		}
		/* An entry from before presence held the object. */
		if ((ret = ch_agent_get(db, txn, id, &a, 0)) == DB_NOTFOUND)
			continue;
		if (ret != 0)
			break;
		o = ch_agent_json(&a, 1);
		s = ch_json_text(o, &len);
		stop = fn(arg, id, s, len);
		json_object_put(o);
		ch_agent_free(&a);
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if (fn != NULL)
		free(data.data);
	if ((cret = c->close(c)) != 0 && ret == 0)
		ret = cret;
	if (ret == 0)
		*count = n;
	return ret;
}

/* The stats of PRODUCT.md: agents registered, online, messages stored. */
int
ch_agent_stats(struct ch_db *db, DB_TXN *txn, int64_t now,
    unsigned int window, struct ch_stats *st)
{
	uint64_t deleted;
	int ret;

	if ((ret = ch_db_counter_get(db, txn, "agents", &st->total_agents)) !=
	    0 ||
	    (ret = ch_db_counter_get(db, txn, "messages",
	    &st->total_messages)) != 0 ||
	    (ret = ch_db_counter_get(db, txn, "deletes", &deleted)) != 0)
		return ret;
	st->total_messages = deleted < st->total_messages ?
	    st->total_messages - deleted : 0;
	return ch_agent_online(db, txn, now, window, NULL, NULL,
	    &st->online_agents);
}

/* The stats object: {"totalAgents","onlineAgents","totalMessages"}. */
struct json_object *
ch_agent_stats_json(const struct ch_stats *st)
{
	struct json_object *o;

	if ((o = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	json_object_object_add(o, "totalAgents",
	    json_object_new_int64((int64_t)st->total_agents));
	json_object_object_add(o, "onlineAgents",
	    json_object_new_int64((int64_t)st->online_agents));
	json_object_object_add(o, "totalMessages",
	    json_object_new_int64((int64_t)st->total_messages));
	return o;
}

/*
 * Add what every surface shows of agent a to o: its id and name (under
 * the keys given: "id"/"name" in GET /api/agents, "agentId"/"agentName"
 * in a message), avatar, online (when online >= 0) and the badge
 * (moltbookVerified, moltbookName, ownerTwitter).
 */
void
ch_agent_public(struct json_object *o, const struct ch_agent *a,
    const char *idkey, const char *namekey, int online)
{
	ch_json_addstr(o, idkey, a->id);
	ch_json_addstr(o, namekey, a->name);
	ch_json_addstr(o, "avatar", a->avatar);
	if (online >= 0)
		json_object_object_add(o, "online",
		    json_object_new_boolean(online));
	json_object_object_add(o, "moltbookVerified",
	    json_object_new_boolean(a->verified));
	ch_json_addstr(o, "moltbookName", a->verified ? a->mb_name : NULL);
	ch_json_addstr(o, "ownerTwitter",
	    a->verified ? a->owner_twitter : NULL);
}

/* The public object of a, as GET /api/agents shows it. */
struct json_object *
ch_agent_json(const struct ch_agent *a, int online)
{
	struct json_object *o;

	if ((o = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	ch_agent_public(o, a, "id", "name", online != 0);
	return o;
}
