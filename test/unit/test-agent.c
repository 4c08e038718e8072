/*
 * test-agent.c -- unit tests of common/agent.c and the counters of
 * common/db.c, in a real Berkeley DB environment (a temporary CHATR_VAR):
 * creating agents (names unique without case), finding them by the hash
 * of their key, presence (touch, the online window, leave), the public
 * JSON of an agent, the stats, ch_db_counter_add/get, and 1000 agents
 * registered with only 3 of them online.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"
#include "tap.h"
#include "tstore.h"

#define NOW INT64_C(1700000000) /* seconds since the epoch */
#define BULK 1000

static struct ch_db db;
static struct ch_cfg cfg;
static unsigned int window; /* the configured online window */

/* A temporary CHATR_VAR with the store open in it; 0 on success. */
static int
setup(void)
{
	if (tstore_setup(&db, &cfg, "test-agent") != 0) {
		CHECK(0, "setup: a store in a temporary directory");
		return -1;
	}
	window = cfg.online_window;
	CHECK(window == 1800, "setup: store opened, online window %u", window);
	return 0;
}

/* Close the store and remove the temporary directory. */
static void
teardown(void)
{
	CHECK(tstore_teardown(&db, &cfg) == 0,
	    "teardown: temporary directory removed");
}

/*
 * Fill a as a new agent called name, with a new id and a new key (written
 * to key, CH_KEY_LEN + 1 bytes); 0 on success.
 */
static int
new_agent(struct ch_agent *a, const char *name, const char *avatar,
    char *key)
{
	memset(a, 0, sizeof(*a));
	if (ch_auth_new_uuid(a->id, sizeof(a->id)) != 0 ||
	    ch_auth_new_key(key, CH_KEY_LEN + 1) != 0)
		return -1;
	a->name = ch_xstrdup(name);
	a->avatar = avatar != NULL ? ch_xstrdup(avatar) : NULL;
	ch_auth_hash(key, CH_KEY_LEN, a->keyhash);
	a->created = NOW * 1000 + 123;
	return 0;
}

/* ch_agent_create in its own transaction (aborted unless it worked). */
static int
create(struct ch_agent *a)
{
	DB_TXN *txn;
	int ret;

	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_agent_create(&db, txn, a)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/* Read the agent with key into *a (the caller frees it); 0 or an error. */
static int
by_key(const char *key, struct ch_agent *a)
{
	unsigned char h[CH_HASH_LEN];
	DB_TXN *txn;
	int ret;

	memset(a, 0, sizeof(*a));
	ch_auth_hash(key, strlen(key), h);
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_agent_by_key(&db, txn, h, a, 0)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/* Read agent id into *a (the caller frees it); 0 or an error. */
static int
get(const char *id, struct ch_agent *a)
{
	DB_TXN *txn;
	int ret;

	memset(a, 0, sizeof(*a));
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_agent_get(&db, txn, id, a, 0)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/*
 * The agent with key is active at now (seconds) -- or, if leave, leaves --
 * as an endpoint does it: read with the key, write-locked, then
 * touch or leave, in one transaction.
 */
static int
touch(const char *key, int64_t now, int leave)
{
	unsigned char h[CH_HASH_LEN];
	struct ch_agent a;
	DB_TXN *txn;
	int ret;

	ch_auth_hash(key, strlen(key), h);
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_agent_by_key(&db, txn, h, &a, DB_RMW)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	ret = leave ? ch_agent_leave(&db, txn, &a) :
	    ch_agent_touch(&db, txn, &a, now, window);
	ch_agent_free(&a);
	if (ret != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/*
 * Mark the agent with key verified, as the verify endpoint would, with a
 * Moltbook name, an owner and a code that must never show.
 */
static int
verify(const char *key)
{
	unsigned char h[CH_HASH_LEN];
	struct ch_agent a;
	DB_TXN *txn;
	int ret;

	ch_auth_hash(key, strlen(key), h);
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_agent_by_key(&db, txn, h, &a, DB_RMW)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	a.verified = 1;
	a.mb_name = ch_xstrdup("beta_mb");
	a.owner_twitter = ch_xstrdup("beta_owner");
	a.verify_code = ch_xstrdup("secret-code");
	ret = ch_agent_put(&db, txn, &a);
	ch_agent_free(&a);
	if (ret != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/* Rewrite agent id's presence entry at seen with an empty value. */
static int
old_presence(const char *id, int64_t seen)
{
	unsigned char k[8 + CH_ID_LEN];
	DB_TXN *txn;
	DBT key, data;
	int ret;

	ch_db_be64(k, (uint64_t)seen);
	memcpy(k + 8, id, CH_ID_LEN);
	ch_db_dbt(&key, k, sizeof(k));
	ch_db_dbt(&data, "", 0);
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = db.presence->put(db.presence, txn, &key, &data, 0)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/* One agent of ch_agent_online into the list: its text parsed. */
static int
online_add(void *arg, const char *id, const char *json, size_t len)
{
	struct json_object *list = arg, *o;
	char *cause = NULL;

	if (ch_json_parse(json, len, &o, &cause) != 0) {
		CHECK(0, "online: agent %s's object is JSON: %s", id, cause);
		free(cause);
		return 1;
	}
	CHECK_STR(ch_json_str(o, "id", NULL), id, "online: id %s matches its "
	    "object", id);
	json_object_array_add(list, o);
	return 0;
}

/* ch_agent_online at now, into list (may be NULL) and *count. */
static int
online(int64_t now, struct json_object *list, uint64_t *count)
{
	DB_TXN *txn;
	int ret;

	*count = 999999;
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_agent_online(&db, txn, now, window,
	    list != NULL ? online_add : NULL, list, count)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/* ch_agent_stats at now into *st. */
static int
stats(int64_t now, struct ch_stats *st)
{
	DB_TXN *txn;
	int ret;

	memset(st, 0xff, sizeof(*st));
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_agent_stats(&db, txn, now, window, st)) != 0) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/* ch_db_counter_add in its own transaction, committed or aborted. */
static int
counter_add(const char *name, int64_t delta, uint64_t *out, int commit)
{
	DB_TXN *txn;
	int ret;

	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	if ((ret = ch_db_counter_add(&db, txn, name, delta, out)) != 0 ||
	    !commit) {
		ch_db_abort(txn);
		return ret;
	}
	return ch_db_commit(txn, 0);
}

/* ch_db_counter_get without a transaction. */
static int
counter_get(const char *name, uint64_t *out)
{
	*out = 999999;
	return ch_db_counter_get(&db, NULL, name, out);
}

/*
 * Is o the public object of an agent: exactly the members id, name,
 * avatar, online, moltbookVerified, moltbookName and ownerTwitter?
 */
static int
public_shape(struct json_object *o)
{
	static const char *members[] = {
		"id", "name", "avatar", "online", "moltbookVerified",
		"moltbookName", "ownerTwitter",
	};
	size_t i;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) != 7)
		return 0;
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (!json_object_object_get_ex(o, members[i], NULL))
			return 0;
	return 1;
}

/* Is member key of o the boolean b? */
static int
is_bool(struct json_object *o, const char *key, int b)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v) == b;
}

/* Is member key of o JSON null? */
static int
is_null(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

/* The agent with key alpha, kept for later cases. */
static char alpha_key[CH_KEY_LEN + 1], alpha_id[CH_ID_LEN + 1];
static char beta_key[CH_KEY_LEN + 1], beta_id[CH_ID_LEN + 1];

/* Creating agents and finding them again. */
static void
test_create(void)
{
	struct ch_agent a, b;
	char key[CH_KEY_LEN + 1], other[CH_KEY_LEN + 1], longname[200];
	unsigned char h[CH_HASH_LEN];
	struct ch_stats st;
	int r;

	r = new_agent(&a, "Alpha", "\xf0\x9f\xa4\x96", alpha_key);
	CHECK(r == 0, "create: a new agent");
	memcpy(alpha_id, a.id, sizeof(alpha_id));
	r = create(&a);
	CHECK(r == 0, "create: Alpha stored (ret %d)", r);
	ch_auth_hash(alpha_key, CH_KEY_LEN, h);
	CHECK(memcmp(h, a.keyhash, CH_HASH_LEN) == 0,
	    "create: keyhash is SHA-256 of the key");
	ch_agent_free(&a);
	CHECK(a.name == NULL && a.avatar == NULL && a.id[0] == '\0',
	    "create: ch_agent_free clears the agent");

	r = by_key(alpha_key, &b);
	CHECK(r == 0, "by_key: Alpha found by the hash of its key (ret %d)",
	    r);
	if (r == 0) {
		CHECK_STR(b.id, alpha_id, "by_key: its id");
		CHECK_STR(b.name, "Alpha", "by_key: its name, case kept");
		CHECK_STR(b.avatar, "\xf0\x9f\xa4\x96", "by_key: its avatar");
		CHECK(b.created == NOW * 1000 + 123, "by_key: created");
		CHECK(b.last_seen == 0 && b.verified == 0 &&
		    b.mb_name == NULL && b.owner_twitter == NULL &&
		    b.verify_code == NULL, "by_key: offline, not verified");
		CHECK(memcmp(b.keyhash, h, CH_HASH_LEN) == 0,
		    "by_key: the key hash");
		ch_agent_free(&b);
	}
	r = ch_auth_new_key(other, sizeof(other));
	CHECK(r == 0, "by_key: another key");
	r = by_key(other, &b);
	CHECK(r == DB_NOTFOUND, "by_key: an unknown key is DB_NOTFOUND");
	r = get(alpha_id, &b);
	CHECK(r == 0 && b.name != NULL && strcmp(b.name, "Alpha") == 0,
	    "get: Alpha by id");
	if (r == 0)
		ch_agent_free(&b);
	r = get("00000000-0000-4000-8000-000000000000", &b);
	CHECK(r == DB_NOTFOUND, "get: an unknown id is DB_NOTFOUND");

	/* The name is taken, whatever its case. */
	r = new_agent(&a, "Alpha", NULL, key);
	CHECK(r == 0, "create: a second Alpha");
	r = create(&a);
	CHECK(r == CH_AGENT_EXISTS, "create: the same name is "
	    "CH_AGENT_EXISTS (ret %d)", r);
	ch_agent_free(&a);
	r = by_key(key, &b);
	CHECK(r == DB_NOTFOUND, "create: nothing of the refused agent kept");
	r = new_agent(&a, "ALPHA", NULL, key);
	CHECK(r == 0, "create: an ALPHA");
	r = create(&a);
	CHECK(r == CH_AGENT_EXISTS, "create: ALPHA is CH_AGENT_EXISTS");
	ch_agent_free(&a);
	r = new_agent(&a, "alpha", NULL, key);
	CHECK(r == 0, "create: an alpha");
	r = create(&a);
	CHECK(r == CH_AGENT_EXISTS, "create: alpha is CH_AGENT_EXISTS");
	ch_agent_free(&a);

	/* The same key under another name is refused too. */
	r = new_agent(&a, "Gamma", NULL, key);
	CHECK(r == 0, "create: a Gamma");
	memcpy(a.keyhash, h, CH_HASH_LEN);
	r = create(&a);
	CHECK(r != 0 && r != CH_AGENT_EXISTS,
	    "create: Alpha's key hash again is refused (ret %d)", r);
	ch_agent_free(&a);
	r = by_key(alpha_key, &b);
	CHECK(r == 0 && b.name != NULL && strcmp(b.name, "Alpha") == 0,
	    "create: Alpha's key still finds Alpha");
	if (r == 0)
		ch_agent_free(&b);

	/* A name too long for the index. */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	r = new_agent(&a, longname, NULL, key);
	CHECK(r == 0, "create: a 199-letter name");
	r = create(&a);
	CHECK(r == EINVAL, "create: a 199-letter name is EINVAL");
	ch_agent_free(&a);

	/* Beta, for the presence cases. */
	r = new_agent(&a, "Beta", NULL, beta_key);
	CHECK(r == 0, "create: a Beta");
	memcpy(beta_id, a.id, sizeof(beta_id));
	r = create(&a);
	CHECK(r == 0, "create: Beta stored");
	ch_agent_free(&a);
	/* Gamma with its own key now works: the refused one left no trace. */
	r = new_agent(&a, "Gamma", NULL, key);
	CHECK(r == 0, "create: Gamma again");
	r = create(&a);
	CHECK(r == 0, "create: Gamma stored with its own key");
	ch_agent_free(&a);

	r = stats(NOW, &st);
	CHECK(r == 0 && st.total_agents == 3 && st.online_agents == 0 &&
	    st.total_messages == 0,
	    "stats: 3 agents, none online, no messages (got %llu, %llu, "
	    "%llu)", (unsigned long long)st.total_agents,
	    (unsigned long long)st.online_agents,
	    (unsigned long long)st.total_messages);
}

/* Touch, the online window, the list and leave. */
static void
test_presence(void)
{
	struct json_object *list, *o;
	struct ch_agent a;
	struct ch_stats st;
	uint64_t n;
	int r;

	r = online(NOW, NULL, &n);
	CHECK(r == 0 && n == 0, "online: nobody at first");
	r = touch(alpha_key, NOW, 0);
	CHECK(r == 0, "touch: Alpha active at NOW");
	r = get(alpha_id, &a);
	CHECK(r == 0 && a.last_seen == NOW, "touch: last seen stored");
	if (r == 0)
		ch_agent_free(&a);

	if ((list = json_object_new_array()) == NULL) {
		CHECK(0, "online: json_object_new_array");
		return;
	}
	r = online(NOW, list, &n);
	CHECK(r == 0 && n == 1, "online: Alpha is online (count %llu)",
	    (unsigned long long)n);
	CHECK(json_object_array_length(list) == 1, "online: one in the list");
	o = json_object_array_get_idx(list, 0);
	CHECK(public_shape(o), "online: exactly id, name, avatar, online, "
	    "moltbookVerified, moltbookName, ownerTwitter");
	CHECK_STR(ch_json_str(o, "id", NULL), alpha_id, "online: its id");
	CHECK_STR(ch_json_str(o, "name", NULL), "Alpha", "online: its name");
	CHECK_STR(ch_json_str(o, "avatar", NULL), "\xf0\x9f\xa4\x96",
	    "online: its avatar");
	CHECK(is_bool(o, "online", 1), "online: online is true");
	CHECK(is_bool(o, "moltbookVerified", 0),
	    "online: moltbookVerified is false");
	CHECK(is_null(o, "moltbookName") && is_null(o, "ownerTwitter"),
	    "online: moltbookName and ownerTwitter are null");
	json_object_put(list);

	r = touch(alpha_key, NOW, 0);
	CHECK(r == 0, "touch: again in the same second");
	r = touch(alpha_key, NOW + 10, 0);
	CHECK(r == 0, "touch: again 10 s later");
	r = online(NOW + 10, NULL, &n);
	CHECK(r == 0 && n == 1, "online: still one entry for Alpha (%llu)",
	    (unsigned long long)n);
	r = get(alpha_id, &a);
	CHECK(r == 0 && a.last_seen == NOW + 10, "touch: written 10 s later");
	if (r == 0)
		ch_agent_free(&a);
	/* Within the touch interval nothing is written ... */
	r = touch(alpha_key, NOW + 14, 0);
	CHECK(r == 0, "touch: again 4 s later");
	r = get(alpha_id, &a);
	CHECK(r == 0 && a.last_seen == NOW + 10, "touch: not written within "
	    "the touch interval (%us)", ch_agent_touch_every(window));
	if (r == 0)
		ch_agent_free(&a);
	/* ... so the agent stays online that much past the window. */
	r = online(NOW + 14 + window - 1, NULL, &n);
	CHECK(r == 0 && n == 1, "online: counted until the window after its "
	    "last activity ends");
	r = online(NOW + 10 + window + ch_agent_touch_every(window) - 2, NULL,
	    &n);
	CHECK(r == 0 && n == 1, "online: counted until the window and the "
	    "touch interval end");
	r = online(NOW + 10 + window + ch_agent_touch_every(window) - 1, NULL,
	    &n);
	CHECK(r == 0 && n == 0, "online: not counted after them");
	CHECK(ch_agent_touch_every(1800) == 5 && ch_agent_touch_every(30) ==
	    3 && ch_agent_touch_every(6) == 1 && ch_agent_touch_every(1) == 1,
	    "touch interval: a tenth of the window, 1 to 5 s");
	r = online(NOW + 10 + 2 * (int64_t)window, NULL, &n);
	CHECK(r == 0 && n == 0, "online: an agent older than the window is "
	    "not counted");

	/* Beta verified, then active later: the list is newest first. */
	r = verify(beta_key);
	CHECK(r == 0, "verify: Beta stored as verified (ret %d)", r);
	r = touch(beta_key, NOW + 20, 0);
	CHECK(r == 0, "touch: Beta active at NOW + 20");
	if ((list = json_object_new_array()) == NULL) {
		CHECK(0, "online: json_object_new_array");
		return;
	}
	r = online(NOW + 20, list, &n);
	CHECK(r == 0 && n == 2 && json_object_array_length(list) == 2,
	    "online: Alpha and Beta");
	o = json_object_array_get_idx(list, 0);
	CHECK_STR(ch_json_str(o, "name", NULL), "Beta",
	    "online: the most recent first");
	CHECK(public_shape(o), "online: Beta has the public members only");
	CHECK(is_bool(o, "moltbookVerified", 1),
	    "online: Beta's moltbookVerified is true");
	CHECK_STR(ch_json_str(o, "moltbookName", NULL), "beta_mb",
	    "online: Beta's moltbookName");
	CHECK_STR(ch_json_str(o, "ownerTwitter", NULL), "beta_owner",
	    "online: Beta's ownerTwitter");
	CHECK(is_null(o, "avatar"), "online: no avatar is null");
	o = json_object_array_get_idx(list, 1);
	CHECK_STR(ch_json_str(o, "name", NULL), "Alpha",
	    "online: then the older");
	CHECK(strstr(json_object_to_json_string(list), "secret-code") ==
	    NULL, "online: the verification code never shows");
	json_object_put(list);

	/* Leaving. */
	r = touch(alpha_key, 0, 1);
	CHECK(r == 0, "leave: Alpha leaves");
	r = get(alpha_id, &a);
	CHECK(r == 0 && a.last_seen == 0, "leave: last seen cleared");
	if (r == 0)
		ch_agent_free(&a);
	r = online(NOW + 20, NULL, &n);
	CHECK(r == 0 && n == 1, "leave: only Beta is online (%llu)",
	    (unsigned long long)n);
	r = touch(alpha_key, 0, 1);
	CHECK(r == 0, "leave: leaving twice is harmless");
	r = online(NOW + 20, NULL, &n);
	CHECK(r == 0 && n == 1, "leave: still only Beta");
	r = stats(NOW + 20, &st);
	CHECK(r == 0 && st.total_agents == 3 && st.online_agents == 1,
	    "stats: 3 agents, 1 online (got %llu, %llu)",
	    (unsigned long long)st.total_agents,
	    (unsigned long long)st.online_agents);
	r = touch(alpha_key, NOW + 30, 0);
	CHECK(r == 0, "touch: Alpha back at NOW + 30");
	r = online(NOW + 30, NULL, &n);
	CHECK(r == 0 && n == 2, "touch: Alpha online again");

	/* A store from before presence held the objects: "" values. */
	r = old_presence(alpha_id, NOW + 30);
	CHECK(r == 0, "presence: Alpha's entry made as older stores have it");
	if ((list = json_object_new_array()) == NULL)
		return;
	r = online(NOW + 30, list, &n);
	CHECK(r == 0 && n == 2 && json_object_array_length(list) == 2,
	    "presence: an old entry is still listed");
	o = json_object_array_get_idx(list, 0);
	CHECK_STR(ch_json_str(o, "name", NULL), "Alpha",
	    "presence: from its agent record");
	CHECK(public_shape(o) && is_bool(o, "online", 1),
	    "presence: with the public members only");
	json_object_put(list);
}

/* ch_agent_json by itself. */
static void
test_json(void)
{
	struct ch_agent a;
	struct json_object *o;

	memset(&a, 0, sizeof(a));
	memcpy(a.id, "11111111-1111-4111-8111-111111111111", CH_ID_LEN + 1);
	a.name = (char *)"Solo";
	a.mb_name = (char *)"hidden";
	a.owner_twitter = (char *)"hidden";
	o = ch_agent_json(&a, 0);
	CHECK(public_shape(o), "json: the public members");
	CHECK(is_bool(o, "online", 0), "json: online false");
	CHECK(is_null(o, "moltbookName") && is_null(o, "ownerTwitter"),
	    "json: Moltbook details hidden while not verified");
	json_object_put(o);
}

/* The counters of the meta database. */
static void
test_counters(void)
{
	struct ch_stats st;
	uint64_t v;
	int r;

	r = counter_get("messages", &v);
	CHECK(r == 0 && v == 0, "counter: an unset counter is 0");
	r = counter_add("messages", 5, &v, 1);
	CHECK(r == 0 && v == 5, "counter: +5 is 5");
	r = counter_get("messages", &v);
	CHECK(r == 0 && v == 5, "counter: reads 5");
	r = counter_add("messages", -2, NULL, 1);
	CHECK(r == 0, "counter: -2 with a NULL out");
	r = counter_get("messages", &v);
	CHECK(r == 0 && v == 3, "counter: reads 3");
	r = counter_add("messages", 100, &v, 0);
	CHECK(r == 0 && v == 103, "counter: +100 in a transaction...");
	r = counter_get("messages", &v);
	CHECK(r == 0 && v == 3, "counter: ...aborted leaves 3");
	r = counter_add("other", -10, &v, 1);
	CHECK(r == 0 && v == 0, "counter: never below zero");
	r = counter_add("other", 1, &v, 1);
	CHECK(r == 0 && v == 1, "counter: counters are separate");
	r = counter_get("messages", &v);
	CHECK(r == 0 && v == 3, "counter: messages unchanged");
	r = counter_get("agents", &v);
	CHECK(r == 0 && v == 3, "counter: agents counts the creations");
	r = stats(NOW + 30, &st);
	CHECK(r == 0 && st.total_messages == 3, "stats: 3 messages");
}

/* ch_db_be64 and ch_db_get_be64. */
static void
test_be64(void)
{
	unsigned char a[8], b[8];
	uint64_t v;

	ch_db_be64(a, UINT64_C(0x0102030405060708));
	CHECK(memcmp(a, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0,
	    "be64: big-endian bytes");
	v = ch_db_get_be64(a);
	CHECK(v == UINT64_C(0x0102030405060708), "be64: read back");
	ch_db_be64(a, UINT64_MAX);
	v = ch_db_get_be64(a);
	CHECK(v == UINT64_MAX, "be64: the largest value");
	ch_db_be64(a, 255);
	ch_db_be64(b, 256);
	CHECK(memcmp(a, b, 8) < 0, "be64: byte order is number order");
}

/* 1000 agents registered, 50 seen long ago, 3 just now. */
static void
test_bulk(void)
{
	static char keys[BULK][CH_KEY_LEN + 1];
	int64_t later = NOW + 100000;
	struct json_object *list;
	struct ch_agent a;
	struct ch_stats st;
	DB_TXN *txn = NULL;
	char name[32];
	uint64_t n;
	int i, r, bad = 0;

	for (i = 0; i < BULK && bad == 0; i++) {
		if (i % 100 == 0 && ch_db_begin(&db, &txn, 0) != 0) {
			bad++;
			break;
		}
		snprintf(name, sizeof(name), "bulk%04d", i);
		if (new_agent(&a, name, NULL, keys[i]) != 0 ||
		    ch_agent_create(&db, txn, &a) != 0)
			bad++;
		ch_agent_free(&a);
		if (bad != 0)
			ch_db_abort(txn);
		else if (i % 100 == 99 && ch_db_commit(txn, 0) != 0)
			bad++;
	}
	CHECK(bad == 0, "bulk: %d agents registered", BULK);
	for (i = 0, bad = 0; i < 50; i++)
		if (touch(keys[i * 7], later - 3 * (int64_t)window - i, 0) != 0)
			bad++;
	CHECK(bad == 0, "bulk: 50 active long ago");
	r = touch(keys[10], later - 5, 0);
	CHECK(r == 0, "bulk: bulk0010 active 5 s ago");
	r = touch(keys[500], later, 0);
	CHECK(r == 0, "bulk: bulk0500 active now");
	r = touch(keys[999], later - (int64_t)window + 1, 0);
	CHECK(r == 0, "bulk: bulk0999 active just inside the window");

	r = online(later, NULL, &n);
	CHECK(r == 0 && n == 3, "bulk: 3 online of %d (got %llu)", BULK + 3,
	    (unsigned long long)n);
	if ((list = json_object_new_array()) == NULL) {
		CHECK(0, "bulk: json_object_new_array");
		return;
	}
	r = online(later, list, &n);
	CHECK(r == 0 && n == 3 && json_object_array_length(list) == 3,
	    "bulk: 3 in the list");
	CHECK_STR(ch_json_str(json_object_array_get_idx(list, 0), "name",
	    NULL), "bulk0500", "bulk: newest first");
	CHECK_STR(ch_json_str(json_object_array_get_idx(list, 1), "name",
	    NULL), "bulk0010", "bulk: then the next");
	CHECK_STR(ch_json_str(json_object_array_get_idx(list, 2), "name",
	    NULL), "bulk0999", "bulk: then the oldest still online");
	json_object_put(list);
	r = stats(later, &st);
	CHECK(r == 0 && st.total_agents == BULK + 3 && st.online_agents == 3 &&
	    st.total_messages == 3, "bulk: stats %d agents, 3 online, 3 "
	    "messages (got %llu, %llu, %llu)", BULK + 3,
	    (unsigned long long)st.total_agents,
	    (unsigned long long)st.online_agents,
	    (unsigned long long)st.total_messages);
	r = by_key(keys[123], &a);
	CHECK(r == 0 && a.name != NULL && strcmp(a.name, "bulk0123") == 0,
	    "bulk: any agent found by its key");
	if (r == 0)
		ch_agent_free(&a);
}

/* Run every case and print the TAP plan; 0 if all passed. */
int
main(void)
{
	if (setup() != 0)
		return tap_done();
	test_create();
	test_presence();
	test_json();
	test_counters();
	test_be64();
	test_bulk();
	teardown();
	return tap_done();
}
