/*
 * chatrctl -- the operator's tool: agents, bans, deletions, keys, blocked
 * addresses, stats, the audit log, backups and checks of the store.
 *
 * It joins the store of a running instance like any of its programs (no
 * command needs the service stopped but restore), and each moderation
 * action commits with its entry in the audit log (common/moder.c).  The
 * relays see deletions in the store and tell their streams; bans and
 * blocks hold from the next request on, since every request reads them.
 *
 * Every command prints text, or JSON with --json; exits 0 on success and
 * 1 on failure (a bad command line too), with one line on stderr.
 *
 * usage: chatrctl [-c config] [--json] COMMAND [ARGS]; chatrctl help
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatr.h"

#define CTL_REASON_MAX 500 /* bytes of a --reason */

struct ctl {
	struct ch_cfg cfg;
	struct ch_db db;
	int json;
	int online, banned, purge, secrets; /* options */
	const char *reason;
	char **args;
	int nargs;
	int opened;
};

struct cmd {
	const char *name;
	int (*run)(struct ctl *);
	int minargs, maxargs; /* maxargs -1: any */
	unsigned int opts;	/* of the OPT_ below */
	const char *usage;
	const char *help;
};
#define OPT_REASON 0x1
#define OPT_PURGE 0x2
#define OPT_ONLINE 0x4
#define OPT_BANNED 0x8
#define OPT_SECRETS 0x10

static __attribute__((format(printf, 1, 2))) int
ctl_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "chatrctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Print o (JSON) and put it. */
static void
ctl_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* What a store error means to the operator. */
static const char *
ctl_dberr(int ret)
{
	switch (ret) {
	case CH_DB_REPLICA:
		return "this node is a replica: run chatrctl on the master";
	case CH_DB_UNACKED:
		return "the replication group did not acknowledge the change "
		    "(it may still be applied)";
	case CH_DB_UNAVAILABLE:
		return "the store is not available (is chatr-repl running?)";
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		return "the store is busy; try again";
	default:
		return db_strerror(ret);
	}
}

static int
ctl_open(struct ctl *c)
{
	char *cause = NULL;

	if (c->opened)
		return 0;
	if (ch_db_open(&c->db, &c->cfg, &cause) != 0) {
		ctl_fail("opening the store in %s: %s", c->cfg.db_home,
		    cause != NULL ? cause : "failed");
		free(cause);
		return 1;
	}
	c->opened = 1;
	return 0;
}

/* Run t in the store; a write is made durable.  0, or 1 said. */
static int
ctl_run(struct ctl *c, const struct ch_txn *t, void *arg, int write,
    const char *what)
{
	int ret;

	if (ctl_open(c) != 0)
		return 1;
	if ((ret = ch_db_run(&c->db, t, arg)) == CH_TXN_REFUSED)
		return 1; /* the step said why */
	if (ret == 0 && write)
		ret = ch_db_durable(&c->db, t, arg);
	if (ret != 0)
		return ctl_fail("%s: %s", what, ctl_dberr(ret));
	return 0;
}

static void
ctl_iso(int64_t ms, char *buf, size_t size)
{
	if (ms <= 0 || ch_time_iso(ms, buf, size) != 0)
		snprintf(buf, size, "-");
}

/* --- agents ------------------------------------------------------------- */

struct agent_row {
	struct ch_agent a;
	uint64_t messages;
	int online;
};

struct agents {
	struct ctl *c;
	struct agent_row *rows;
	size_t n, cap;
	int64_t now;
};

static int
agents_cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct agent_row *)a)->a.id,
	    ((const struct agent_row *)b)->a.id);
}

static int
agents_cmp_name(const void *a, const void *b)
{
	return strcasecmp(((const struct agent_row *)a)->a.name,
	    ((const struct agent_row *)b)->a.name);
}

static void
agents_clear(struct agents *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		ch_agent_free(&g->rows[i].a);
	g->n = 0;
}

static int
agents_count_msg(void *arg, uint64_t id, const char *json, size_t len)
{
	struct agents *g = arg;
	struct agent_row key, *r;
	struct json_object *o;
	const char *who;
	uint64_t lid;

	(void)id;
	if (ch_msg_parse_line(json, len, &lid, &o) != 0)
		return 0;
	if ((who = ch_json_str(o, "agentId", NULL)) != NULL &&
	    strlen(who) == CH_ID_LEN) {
		memcpy(key.a.id, who, CH_ID_LEN + 1);
		if ((r = bsearch(&key, g->rows, g->n, sizeof(*r),
		    agents_cmp_id)) != NULL)
			r->messages++;
	}
	json_object_put(o);
	return 0;
}

static int
agents_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct agents *g = arg;
	struct agent_row *r;
	DBC *cur = NULL;
	DBT key, data;
	int ret;

	agents_clear(g);
	if ((ret = db->agents->cursor(db->agents, txn, &cur, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	ch_db_dbt(&data, NULL, 0);
	while ((ret = cur->get(cur, &key, &data, DB_NEXT)) == 0) {
		char id[CH_ID_LEN + 1];

		if (key.size != CH_ID_LEN)
			continue;
		memcpy(id, key.data, CH_ID_LEN);
		id[CH_ID_LEN] = '\0';
		if (g->n == g->cap) {
			g->cap = g->cap == 0 ? 64 : 2 * g->cap;
			g->rows = ch_xreallocarray(g->rows, g->cap,
			    sizeof(*g->rows));
		}
		r = &g->rows[g->n];
		memset(r, 0, sizeof(*r));
		/* decoded the way every program decodes it */
		if (ch_agent_get(db, txn, id, &r->a, 0) != 0)
			continue;
		r->online = r->a.last_seen > 0 && !r->a.banned &&
		    g->now - r->a.last_seen <= (int64_t)g->c->cfg.online_window
		    + (int64_t)ch_agent_touch_every(g->c->cfg.online_window);
		g->n++;
	}
	ret = ch_db_cursor_done(cur, ret);
	if (ret != 0)
		return ret;
	qsort(g->rows, g->n, sizeof(*g->rows), agents_cmp_id);
	/* the messages of each */
	if ((ret = db->messages->cursor(db->messages, txn, &cur, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	ch_db_dbt(&data, NULL, 0);
	while ((ret = cur->get(cur, &key, &data, DB_NEXT)) == 0)
		(void)agents_count_msg(g, 0, data.data, data.size);
	ret = ch_db_cursor_done(cur, ret);
	return ret;
}

static const struct ch_txn agents_txn = {
	.run = agents_run,
	.flags = DB_READ_COMMITTED,
};

static int
cmd_agents(struct ctl *c)
{
	struct agents g;
	struct json_object *arr = NULL, *o;
	char seen[32];
	size_t i;
	int ret;

	memset(&g, 0, sizeof(g));
	g.c = c;
	g.now = ch_time_ms() / 1000;
	if ((ret = ctl_run(c, &agents_txn, &g, 0, "reading the agents")) != 0)
		goto out;
	qsort(g.rows, g.n, sizeof(*g.rows), agents_cmp_name);
	if (c->json)
		arr = json_object_new_array();
	else
		printf("%-32s %-36s %-8s %-6s %-20s %-24s %s\n", "NAME", "ID",
		    "VERIFIED", "BANNED", "MOLTBOOK", "LAST SEEN", "MESSAGES");
	for (i = 0; i < g.n; i++) {
		struct agent_row *r = &g.rows[i];

		if ((c->online && !r->online) || (c->banned && !r->a.banned))
			continue;
		ctl_iso(r->a.last_seen * 1000, seen, sizeof(seen));
		if (!c->json) {
			printf("%-32s %-36s %-8s %-6s %-20s %-24s %llu\n",
			    r->a.name, r->a.id, r->a.verified ? "yes" : "no",
			    r->a.banned ? "yes" : "no",
			    r->a.verified && r->a.mb_name ? r->a.mb_name : "-",
			    r->online ? seen : r->a.last_seen > 0 ? seen : "-",
			    (unsigned long long)r->messages);
			continue;
		}
		o = json_object_new_object();
		ch_json_addstr(o, "name", r->a.name);
		ch_json_addstr(o, "id", r->a.id);
		json_object_object_add(o, "verified",
		    json_object_new_boolean(r->a.verified));
		ch_json_addstr(o, "moltbookName", r->a.verified ?
		    r->a.mb_name : NULL);
		ch_json_addstr(o, "lastSeen", r->a.last_seen > 0 ? seen : NULL);
		json_object_object_add(o, "online",
		    json_object_new_boolean(r->online));
		json_object_object_add(o, "banned",
		    json_object_new_boolean(r->a.banned));
		ch_json_addstr(o, "banReason", r->a.ban_reason);
		json_object_object_add(o, "messages",
		    json_object_new_int64((int64_t)r->messages));
		json_object_array_add(arr, o);
	}
	if (c->json)
		ctl_print_json(arr);
out:
	agents_clear(&g);
	free(g.rows);
	return ret;
}

/* --- ban, unban, revoke --------------------------------------------------- */

struct moderate {
	struct ctl *c;
	const char *name;
	int ban;		/* 1 ban, 0 unban, -1 revoke */
	unsigned char hash[CH_HASH_LEN]; /* revoke: of the new key */
	uint64_t purged;
	char id[CH_ID_LEN + 1];
	char *fail;
};

static int
moderate_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct moderate *m = arg;
	struct ch_agent a;
	int ret;

	free(m->fail);
	m->fail = NULL;
	m->purged = 0;
	ret = ch_agent_by_name(db, txn, m->name, &a, DB_RMW);
	if (ret == DB_NOTFOUND) {
		m->fail = ch_xprintf("no agent is named %s", m->name);
		return CH_TXN_REFUSED;
	}
	if (ret != 0)
		return ret;
	memcpy(m->id, a.id, sizeof(m->id));
	if (m->ban == -1) {
		if ((ret = ch_agent_rekey(db, txn, &a, m->hash)) == 0)
			ret = ch_audit_add(db, txn, "revoke", a.name, NULL);
		ch_agent_free(&a);
		return ret;
	}
	if (m->ban == 0 && !a.banned) {
		m->fail = ch_xprintf("%s is not banned", a.name);
		ch_agent_free(&a);
		return CH_TXN_REFUSED;
	}
	if (m->ban) {
		/* off the online list, and kept off: its requests are
		 * refused before they count as activity */
		if ((ret = ch_agent_leave(db, txn, &a)) != 0)
			goto out;
		free(a.ban_reason);
		a.ban_reason = m->c->reason != NULL ?
		    ch_xstrdup(m->c->reason) : NULL;
	} else {
		free(a.ban_reason);
		a.ban_reason = NULL;
	}
	a.banned = m->ban;
	if ((ret = ch_agent_put(db, txn, &a)) != 0)
		goto out;
	if (m->ban && m->c->purge &&
	    (ret = ch_mod_purge(db, txn, a.id, &m->purged)) != 0)
		goto out;
	ret = ch_audit_add(db, txn, m->ban ? (m->c->purge ? "ban --purge" :
	    "ban") : "unban", a.name, m->ban ? m->c->reason : NULL);
out:
	ch_agent_free(&a);
	return ret;
}

static const struct ch_txn moderate_txn = {.run = moderate_run};

static int
ctl_moderate(struct ctl *c, int ban)
{
	struct moderate m;
	struct json_object *o;
	char key[CH_KEY_LEN + 1];
	int ret;

	memset(&m, 0, sizeof(m));
	m.c = c;
	m.name = c->args[0];
	m.ban = ban;
	if (ban == -1) {
		if (ch_auth_new_key(key, sizeof(key)) != 0)
			return ctl_fail("making a key: %s", strerror(errno));
		ch_auth_hash(key, CH_KEY_LEN, m.hash);
	}
	ret = ctl_run(c, &moderate_txn, &m, 1, ban == 1 ? "banning" : ban == 0 ?
	    "unbanning" : "revoking the key");
	ch_wipe(m.hash, sizeof(m.hash));
	if (m.fail != NULL) {
		ctl_fail("%s", m.fail);
		free(m.fail);
		ch_wipe(key, sizeof(key));
		return 1;
	}
	if (ret != 0) {
		ch_wipe(key, sizeof(key));
		return ret;
	}
	if (c->json) {
		o = json_object_new_object();
		ch_json_addstr(o, "name", m.name);
		ch_json_addstr(o, "id", m.id);
		if (ban == -1)
			ch_json_addstr(o, "apiKey", key);
		else
			json_object_object_add(o, "banned",
			    json_object_new_boolean(ban));
		if (ban == 1)
			json_object_object_add(o, "deleted",
			    json_object_new_int64((int64_t)m.purged));
		ctl_print_json(o);
	} else if (ban == -1)
		printf("%s has a new API key (shown once; the old one no "
		    "longer works):\n%s\n", m.name, key);
	else if (ban == 1)
		printf("%s is banned%s%s; %llu messages deleted\n", m.name,
		    c->reason != NULL ? ": " : "",
		    c->reason != NULL ? c->reason : "",
		    (unsigned long long)m.purged);
	else
		printf("%s is no longer banned\n", m.name);
	ch_wipe(key, sizeof(key));
	return 0;
}

static int
cmd_ban(struct ctl *c)
{
	return ctl_moderate(c, 1);
}

static int
cmd_unban(struct ctl *c)
{
	return ctl_moderate(c, 0);
}

static int
cmd_revoke(struct ctl *c)
{
	return ctl_moderate(c, -1);
}

/* --- delete --------------------------------------------------------------- */

struct deletes {
	uint64_t *ids;
	int n;
	int *found;
};

static int
delete_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct deletes *d = arg;
	char target[32];
	int i, ret;

	for (i = 0; i < d->n; i++) {
		d->found[i] = 0;
		ret = ch_mod_delete(db, txn, d->ids[i]);
		if (ret == DB_NOTFOUND)
			continue;
		if (ret != 0)
			return ret;
		d->found[i] = 1;
		snprintf(target, sizeof(target), "message %llu",
		    (unsigned long long)d->ids[i]);
		if ((ret = ch_audit_add(db, txn, "delete", target,
		    NULL)) != 0)
			return ret;
	}
	return 0;
}

static const struct ch_txn delete_txn = {.run = delete_run};

static int
cmd_delete(struct ctl *c)
{
	struct json_object *arr = NULL;
	struct deletes d;
	char *end;
	int i, ret, missing = 0;

	d.n = c->nargs;
	d.ids = ch_xcalloc((size_t)d.n, sizeof(*d.ids));
	d.found = ch_xcalloc((size_t)d.n, sizeof(*d.found));
	for (i = 0; i < d.n; i++) {
		errno = 0;
		if (c->args[i][0] < '1' || c->args[i][0] > '9' ||
		    (d.ids[i] = strtoull(c->args[i], &end, 10), errno != 0) ||
		    *end != '\0') {
			ret = ctl_fail("not a message id: %s", c->args[i]);
			goto out;
		}
	}
	if ((ret = ctl_run(c, &delete_txn, &d, 1, "deleting")) != 0)
		goto out;
	if (c->json)
		arr = json_object_new_array();
	for (i = 0; i < d.n; i++) {
		missing |= !d.found[i];
		if (c->json) {
			struct json_object *o = json_object_new_object();
			char id[24];

			snprintf(id, sizeof(id), "%llu",
			    (unsigned long long)d.ids[i]);
			ch_json_addstr(o, "id", id);
			json_object_object_add(o, "deleted",
			    json_object_new_boolean(d.found[i]));
			json_object_array_add(arr, o);
		} else if (d.found[i])
			printf("message %llu deleted\n",
			    (unsigned long long)d.ids[i]);
	}
	if (c->json)
		ctl_print_json(arr);
	for (i = 0; i < d.n; i++)
		if (!d.found[i])
			fprintf(stderr, "chatrctl: no message %llu\n",
			    (unsigned long long)d.ids[i]);
	ret = missing;
out:
	free(d.ids);
	free(d.found);
	return ret;
}

/* --- block, unblock, blocks ----------------------------------------------- */

struct blocking {
	struct ctl *c;
	struct ch_cidr net;
	int add;
	char *fail;
};

static int
block_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct blocking *b = arg;
	char text[CH_CIDR_TEXT];
	int ret;

	free(b->fail);
	b->fail = NULL;
	ch_cidr_text(&b->net, text, sizeof(text));
	ret = b->add ? ch_block_add(db, txn, &b->net, b->c->reason) :
	    ch_block_del(db, txn, &b->net);
	if (ret == CH_AGENT_EXISTS || ret == DB_NOTFOUND) {
		b->fail = ch_xprintf("%s is %sblocked", text, b->add ?
		    "already " : "not ");
		return CH_TXN_REFUSED;
	}
	if (ret != 0)
		return ret;
	return ch_audit_add(db, txn, b->add ? "block" : "unblock", text,
	    b->add ? b->c->reason : NULL);
}

static const struct ch_txn block_txn = {.run = block_run};

static int
ctl_block(struct ctl *c, int add)
{
	struct blocking b;
	struct json_object *o;
	char text[CH_CIDR_TEXT];
	int ret;

	memset(&b, 0, sizeof(b));
	b.c = c;
	b.add = add;
	if (ch_cidr_parse(c->args[0], strlen(c->args[0]), &b.net) != 0)
		return ctl_fail("not an address or a network (such as "
		    "192.0.2.0/24 or 2001:db8::/48): %s", c->args[0]);
	ch_cidr_text(&b.net, text, sizeof(text));
	ret = ctl_run(c, &block_txn, &b, 1, add ? "blocking" : "unblocking");
	if (b.fail != NULL) {
		ctl_fail("%s", b.fail);
		free(b.fail);
		return 1;
	}
	if (ret != 0)
		return ret;
	if (c->json) {
		o = json_object_new_object();
		ch_json_addstr(o, "network", text);
		json_object_object_add(o, "blocked",
		    json_object_new_boolean(add));
		ctl_print_json(o);
	} else
		printf("%s is %s\n", text, add ? "blocked" : "unblocked");
	return 0;
}

static int
cmd_block(struct ctl *c)
{
	return ctl_block(c, 1);
}

static int
cmd_unblock(struct ctl *c)
{
	return ctl_block(c, 0);
}

static int
blocks_add(void *arg, const char *cidr, const char *json, size_t len)
{
	struct json_object *arr = arg, *o, *rec = NULL, *v;
	char *cause = NULL;

	o = json_object_new_object();
	ch_json_addstr(o, "network", cidr);
	if (ch_json_parse(json, len, &rec, &cause) == 0) {
		ch_json_addstr(o, "reason", ch_json_str(rec, "reason", NULL));
		if (json_object_object_get_ex(rec, "at", &v))
			json_object_object_add(o, "at", json_object_get(v));
		json_object_put(rec);
	} else
		free(cause);
	json_object_array_add(arr, o);
	return 0;
}

static int
blocks_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct json_object **arr = arg;

	json_object_put(*arr);
	*arr = json_object_new_array();
	return ch_block_walk(db, txn, NULL, blocks_add, *arr);
}

static const struct ch_txn blocks_txn = {
	.run = blocks_run,
	.flags = DB_READ_COMMITTED,
};

static int
cmd_blocks(struct ctl *c)
{
	struct json_object *arr = NULL, *o, *v;
	char at[32];
	size_t i;

	if (ctl_run(c, &blocks_txn, &arr, 0, "reading the blocks") != 0) {
		json_object_put(arr);
		return 1;
	}
	if (!c->json) {
		printf("%-44s %-24s %s\n", "NETWORK", "SINCE", "REASON");
		for (i = 0; i < json_object_array_length(arr); i++) {
			o = json_object_array_get_idx(arr, i);
			ctl_iso(json_object_object_get_ex(o, "at", &v) ?
			    json_object_get_int64(v) : 0, at, sizeof(at));
			printf("%-44s %-24s %s\n",
			    ch_json_str(o, "network", NULL), at,
			    ch_json_str(o, "reason", NULL) != NULL ?
			    ch_json_str(o, "reason", NULL) : "-");
		}
		json_object_put(arr);
		return 0;
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		if (json_object_object_get_ex(o, "at", &v)) {
			ctl_iso(json_object_get_int64(v), at, sizeof(at));
			json_object_object_add(o, "at",
			    json_object_new_string(at));
		}
	}
	ctl_print_json(arr);
	return 0;
}

/* --- audit ---------------------------------------------------------------- */

static int
audit_add(void *arg, const char *json, size_t len)
{
	struct json_object *arr = arg, *o = NULL, *v;
	char *cause = NULL, at[32];

	if (ch_json_parse(json, len, &o, &cause) != 0) {
		free(cause);
		return 0;
	}
	if (json_object_object_get_ex(o, "at", &v)) {
		ctl_iso(json_object_get_int64(v), at, sizeof(at));
		json_object_object_add(o, "at", json_object_new_string(at));
	}
	json_object_array_add(arr, o);
	return 0;
}

static int
audit_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct json_object **arr = arg;

	json_object_put(*arr);
	*arr = json_object_new_array();
	return ch_audit_walk(db, txn, audit_add, *arr);
}

static const struct ch_txn audit_txn = {
	.run = audit_run,
	.flags = DB_READ_COMMITTED,
};

static const char *
jstr(struct json_object *o, const char *k)
{
	const char *s = ch_json_str(o, k, NULL);

	return s != NULL ? s : "-";
}

static int
cmd_audit(struct ctl *c)
{
	struct json_object *arr = NULL, *o;
	size_t i;

	if (ctl_run(c, &audit_txn, &arr, 0, "reading the audit log") != 0) {
		json_object_put(arr);
		return 1;
	}
	if (c->json) {
		ctl_print_json(arr);
		return 0;
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		printf("%s %s %s %s%s%s\n", jstr(o, "at"), jstr(o, "operator"),
		    jstr(o, "action"), jstr(o, "target"),
		    ch_json_str(o, "reason", NULL) != NULL ? " -- " : "",
		    ch_json_str(o, "reason", NULL) != NULL ?
		    jstr(o, "reason") : "");
	}
	json_object_put(arr);
	return 0;
}

/* --- stats ---------------------------------------------------------------- */

struct statrun {
	struct ctl *c;
	struct ch_stats st;
	uint64_t minute, hour;
	int64_t now_ms;
};

/* A message's time (its "timestamp"), ms since the epoch; -1 if none. */
static int64_t
stats_time(const void *json, size_t len)
{
	struct json_object *o;
	const char *ts;
	struct tm tm;
	uint64_t id;
	int64_t ms = -1;

	if (ch_msg_parse_line(json, len, &id, &o) != 0)
		return -1;
	ts = ch_json_str(o, "timestamp", NULL);
	memset(&tm, 0, sizeof(tm));
	if (ts != NULL && strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) != NULL)
		ms = (int64_t)timegm(&tm) * 1000;
	json_object_put(o);
	return ms;
}

static int
stats_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct statrun *s = arg;
	DBC *cur = NULL;
	DBT key, data;
	int64_t ms;
	int ret;

	s->minute = s->hour = 0;
	if ((ret = ch_agent_stats(db, txn, s->now_ms / 1000,
	    s->c->cfg.online_window, &s->st)) != 0)
		return ret;
	/* the newest messages, back to an hour ago */
	if ((ret = db->messages->cursor(db->messages, txn, &cur, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	ch_db_dbt(&data, NULL, 0);
	for (ret = cur->get(cur, &key, &data, DB_LAST); ret == 0;
	    ret = cur->get(cur, &key, &data, DB_PREV)) {
		if ((ms = stats_time(data.data, data.size)) < 0)
			continue;
		if (s->now_ms - ms > 3600 * 1000)
			break;
		s->hour++;
		if (s->now_ms - ms <= 60 * 1000)
			s->minute++;
	}
	ret = ch_db_cursor_done(cur, ret);
	return ret;
}

static const struct ch_txn stats_txn = {
	.run = stats_run,
	.flags = DB_READ_COMMITTED,
};

/* Bytes of the files in dir. */
static uint64_t
ctl_dir_size(const char *dir)
{
	struct dirent *e;
	struct stat st;
	uint64_t n = 0;
	DIR *d;
	char *p;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		p = ch_xprintf("%s/%s", dir, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			n += (uint64_t)st.st_size;
		free(p);
	}
	closedir(d);
	return n;
}

static int
cmd_stats(struct ctl *c)
{
	struct statrun s;
	struct json_object *o;
	unsigned int streams;
	uint64_t size;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.now_ms = ch_time_ms();
	if (ctl_run(c, &stats_txn, &s, 0, "reading the stats") != 0)
		return 1;
	streams = ch_shared_streams(&c->cfg);
	size = ctl_dir_size(c->cfg.db_home);
	if (!c->json) {
		printf("agents             %llu\n",
		    (unsigned long long)s.st.total_agents);
		printf("online             %llu\n",
		    (unsigned long long)s.st.online_agents);
		printf("messages           %llu\n",
		    (unsigned long long)s.st.total_messages);
		printf("streams            %u\n", streams);
		printf("messages, 1 minute %llu\n",
		    (unsigned long long)s.minute);
		printf("messages, 1 hour   %llu\n", (unsigned long long)s.hour);
		printf("store bytes        %llu\n", (unsigned long long)size);
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "agents",
	    json_object_new_int64((int64_t)s.st.total_agents));
	json_object_object_add(o, "online",
	    json_object_new_int64((int64_t)s.st.online_agents));
	json_object_object_add(o, "messages",
	    json_object_new_int64((int64_t)s.st.total_messages));
	json_object_object_add(o, "streams", json_object_new_int64(streams));
	json_object_object_add(o, "messagesLastMinute",
	    json_object_new_int64((int64_t)s.minute));
	json_object_object_add(o, "messagesLastHour",
	    json_object_new_int64((int64_t)s.hour));
	json_object_object_add(o, "storeBytes",
	    json_object_new_int64((int64_t)size));
	ctl_print_json(o);
	return 0;
}

/* --- backup, restore, verify ---------------------------------------------- */

static int
cmd_backup(struct ctl *c)
{
	const char *dir = c->args[0];
	struct json_object *o;
	char *cause = NULL;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return ctl_fail("making %s: %s", dir, strerror(errno));
	if (ctl_open(c) != 0)
		return 1;
	if (ch_db_backup(&c->db, dir, &cause) != 0) {
		ctl_fail("backing up into %s: %s", dir, cause);
		free(cause);
		return 1;
	}
	if (c->json) {
		o = json_object_new_object();
		ch_json_addstr(o, "backup", dir);
		json_object_object_add(o, "bytes",
		    json_object_new_int64((int64_t)ctl_dir_size(dir)));
		ctl_print_json(o);
	} else
		printf("backed up into %s (%llu bytes)\n", dir,
		    (unsigned long long)ctl_dir_size(dir));
	return 0;
}

/* Is the service running on this CHATR_VAR (chatrd's pid file)? */
static int
ctl_running(const struct ch_cfg *cfg)
{
	char *path = ch_xprintf("%s/run/chatrd.pid", cfg->var), buf[32];
	FILE *f;
	long pid = 0;

	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL)
			pid = atol(buf);
		fclose(f);
	}
	free(path);
	return pid > 1 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int
cmd_restore(struct ctl *c)
{
	struct json_object *o;
	char *cause = NULL;

	if (ctl_running(&c->cfg))
		return ctl_fail("the service is running on %s: stop it "
		    "first", c->cfg.var);
	if (ch_db_restore(&c->cfg, c->args[0], &cause) != 0) {
		ctl_fail("restoring from %s: %s", c->args[0], cause);
		free(cause);
		return 1;
	}
	if (c->json) {
		o = json_object_new_object();
		ch_json_addstr(o, "restored", c->args[0]);
		ch_json_addstr(o, "into", c->cfg.db_home);
		ctl_print_json(o);
	} else
		printf("restored %s into %s\n", c->args[0], c->cfg.db_home);
	return 0;
}

/* The message log against the store. */
struct logcheck {
	struct ch_buf lines; /* the log, read whole */
	uint64_t lines_ok, deleted, missing, differ, malformed;
};

static int
logcheck_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct logcheck *lc = arg;
	unsigned char k[8];
	const char *p, *end, *nl;
	struct json_object *o;
	DBT key, data;
	uint64_t id;
	int ret;

	lc->lines_ok = lc->deleted = lc->missing = lc->differ =
	    lc->malformed = 0;
	p = lc->lines.data;
	end = p + lc->lines.len;
	for (; p != NULL && p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break; /* a line being written */
		if (nl == p)
			continue;
		if (ch_msg_parse_line(p, (size_t)(nl - p), &id, &o) != 0) {
			lc->malformed++;
			continue;
		}
		json_object_put(o);
		ch_db_be64(k, id);
		ch_db_dbt(&key, k, sizeof(k));
		ch_db_dbt(&data, NULL, 0);
		ret = db->messages->get(db->messages, txn, &key, &data, 0);
		if (ret == DB_NOTFOUND) {
			/* deleted since, or never in the store */
			uint64_t counter;
			if ((ret = ch_db_counter_get(db, txn, "messages",
			    &counter)) != 0)
				return ret;
			if (id <= counter)
				lc->deleted++;
			else
				lc->missing++;
			continue;
		}
		if (ret != 0)
			return ret;
		if (data.size != (size_t)(nl - p) ||
		    memcmp(data.data, p, data.size) != 0)
			lc->differ++;
		else
			lc->lines_ok++;
	}
	return 0;
}

static const struct ch_txn logcheck_txn = {
	.run = logcheck_run,
	.flags = DB_READ_COMMITTED,
};

static int
cmd_verify(struct ctl *c)
{
	struct logcheck lc;
	struct json_object *o;
	char *cause = NULL, buf[65536];
	unsigned int files = 0;
	ssize_t n;
	int fd, ok;

	memset(&lc, 0, sizeof(lc));
	if (ctl_open(c) != 0)
		return 1;
	if (ch_db_verify(&c->db, &files, &cause) != 0) {
		ctl_fail("the store is damaged: %s", cause);
		free(cause);
		return 1;
	}
	if ((fd = open(c->cfg.msglog, O_RDONLY | O_CLOEXEC)) >= 0) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			ch_buf_add(&lc.lines, buf, (size_t)n);
		close(fd);
	} else if (errno != ENOENT)
		return ctl_fail("reading %s: %s", c->cfg.msglog,
		    strerror(errno));
	if (ctl_run(c, &logcheck_txn, &lc, 0, "comparing the log") != 0) {
		ch_buf_free(&lc.lines);
		return 1;
	}
	ch_buf_free(&lc.lines);
	/* A message is in the store before its line is in the log; a line
	 * without its message, or with another, is wrong. */
	ok = lc.missing == 0 && lc.differ == 0;
	if (c->json) {
		o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(ok));
		json_object_object_add(o, "databases",
		    json_object_new_int64(files));
		json_object_object_add(o, "logLines",
		    json_object_new_int64((int64_t)lc.lines_ok));
		json_object_object_add(o, "logDeleted",
		    json_object_new_int64((int64_t)lc.deleted));
		json_object_object_add(o, "logMissing",
		    json_object_new_int64((int64_t)lc.missing));
		json_object_object_add(o, "logDiffer",
		    json_object_new_int64((int64_t)lc.differ));
		json_object_object_add(o, "logMalformed",
		    json_object_new_int64((int64_t)lc.malformed));
		ctl_print_json(o);
	} else
		printf("%u databases verified; message log: %llu lines match "
		    "the store, %llu deleted since, %llu missing from it, "
		    "%llu different, %llu malformed\n", files,
		    (unsigned long long)lc.lines_ok,
		    (unsigned long long)lc.deleted,
		    (unsigned long long)lc.missing,
		    (unsigned long long)lc.differ,
		    (unsigned long long)lc.malformed);
	if (!ok)
		return ctl_fail("the message log and the store disagree");
	return 0;
}

/* --- settings ---------------------------------------------------------- */

static int
cmd_settings(struct ctl *c)
{
	struct ch_buf b = {0};
	struct json_object *o;
	char *line, *eq, *save = NULL;

	if (c->secrets)
		ch_cfg_write(&c->cfg, &b);
	else
		ch_cfg_dump(&c->cfg, &b);
	if (!c->json) {
		fwrite(b.data, 1, b.len, stdout);
		ch_buf_free(&b);
		return 0;
	}
	o = json_object_new_object();
	for (line = strtok_r(b.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if ((eq = strstr(line, " = ")) != NULL) {
			*eq = '\0';
			ch_json_addstr(o, line, eq + 3);
		}
	ctl_print_json(o);
	ch_buf_free(&b);
	return 0;
}

/* --- the commands --------------------------------------------------------- */

static int cmd_help(struct ctl *);

static const struct cmd cmds[] = {
	{"agents", cmd_agents, 0, 0, OPT_ONLINE | OPT_BANNED,
	    "agents [--online] [--banned]",
	    "List the agents: name, id, verified, Moltbook name, last seen "
	    "and the messages each has in the store."},
	{"ban", cmd_ban, 1, 1, OPT_REASON | OPT_PURGE,
	    "ban NAME [--reason TEXT] [--purge]",
	    "Ban an agent: its posts, heartbeats and verifications get 403 "
	    "from the next request on, and it leaves the online list.  "
	    "--purge deletes its messages too."},
	{"unban", cmd_unban, 1, 1, 0, "unban NAME", "Lift a ban."},
	{"delete", cmd_delete, 1, -1, 0, "delete ID...",
	    "Delete messages: they leave the store, the history and every "
	    "relay's memory, and streams get a delete event."},
	{"revoke", cmd_revoke, 1, 1, 0, "revoke NAME",
	    "Give an agent a new API key, printed once; the old one stops "
	    "working at once.  Only the new key's hash is stored."},
	{"block", cmd_block, 1, 1, OPT_REASON,
	    "block ADDR|CIDR [--reason TEXT]",
	    "Refuse registrations and posts from an address or a network "
	    "(IPv4 or IPv6) with 403."},
	{"unblock", cmd_unblock, 1, 1, 0, "unblock ADDR|CIDR",
	    "Lift a block (name it as it was blocked)."},
	{"blocks", cmd_blocks, 0, 0, 0, "blocks", "List the blocks."},
	{"stats", cmd_stats, 0, 0, 0, "stats",
	    "Agents, online agents, messages, streams held, messages in the "
	    "last minute and hour, and the store's size."},
	{"audit", cmd_audit, 0, 0, 0, "audit",
	    "Show the audit log: every moderation action, with its time, "
	    "operator, target and reason."},
	{"backup", cmd_backup, 1, 1, 0, "backup DIR",
	    "Copy the store into DIR while the service runs and takes "
	    "writes (Berkeley DB's hot backup)."},
	{"restore", cmd_restore, 1, 1, 0, "restore DIR",
	    "Restore a backup into this CHATR_VAR (the service must be "
	    "stopped); its store is replaced."},
	{"verify", cmd_verify, 0, 0, 0, "verify",
	    "Check the store's integrity (on a fresh hot backup of it) and "
	    "that the message log and the store agree."},
	{"settings", cmd_settings, 0, 0, OPT_SECRETS, "settings [--secrets]",
	    "Print the settings in effect (the config file, with the CHATR_* "
	    "environment on top).  --secrets prints them as a config file "
	    "that gives them back, CHATR_CLUSTER_SECRET included."},
	{"help", cmd_help, 0, 1, 0, "help [COMMAND]",
	    "Say what the commands do."},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: chatrctl [-c config] [--json] COMMAND [ARGS]\n"
	    "commands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %s\n", cmds[i].usage);
}

static int
cmd_help(struct ctl *c)
{
	size_t i;

	if (c->nargs == 0) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, c->args[0]) == 0) {
			printf("usage: chatrctl [-c config] [--json] %s\n\n%s\n",
			    cmds[i].usage, cmds[i].help);
			return 0;
		}
	return ctl_fail("no such command: %s (see chatrctl help)",
	    c->args[0]);
}

int
main(int argc, char **argv)
{
	const struct cmd *cmd = NULL;
	const char *conf = NULL;
	char *cause = NULL;
	struct ctl c;
	unsigned int opts = 0;
	int i, ret, verbose = 0;
	size_t k;

	ch_log_init("chatrctl");
	memset(&c, 0, sizeof(c));
	/* the arguments, gathered in place: argv[1 + n] for the n-th (a
	 * slot already read) */
	c.args = argv + 1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				c.args[c.nargs++] = argv[i];
			break;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--reason") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "chatrctl: %s needs a value\n",
				    a);
				return 1;
			}
			if (a[1] == 'c')
				conf = argv[++i];
			else {
				c.reason = argv[++i];
				opts |= OPT_REASON;
			}
		} else if (strcmp(a, "--json") == 0)
			c.json = 1;
		else if (strcmp(a, "-v") == 0)
			verbose = 1;
		else if (strcmp(a, "--purge") == 0) {
			c.purge = 1;
			opts |= OPT_PURGE;
		} else if (strcmp(a, "--online") == 0) {
			c.online = 1;
			opts |= OPT_ONLINE;
		} else if (strcmp(a, "--secrets") == 0) {
			c.secrets = 1;
			opts |= OPT_SECRETS;
		} else if (strcmp(a, "--banned") == 0) {
			c.banned = 1;
			opts |= OPT_BANNED;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "chatrctl: unknown option %s (see "
			    "chatrctl help)\n", a);
			return 1;
		} else if (cmd == NULL) {
			for (k = 0; k < NCMDS; k++)
				if (strcmp(cmds[k].name, a) == 0)
					cmd = &cmds[k];
			if (cmd == NULL) {
				fprintf(stderr, "chatrctl: no such command: "
				    "%s (see chatrctl help)\n", a);
				return 1;
			}
		} else
			c.args[c.nargs++] = argv[i];
	}
	if (cmd == NULL) {
		fprintf(stderr, "chatrctl: no command given (see chatrctl "
		    "help)\n");
		return 1;
	}
	if ((opts & ~cmd->opts) != 0 || c.nargs < cmd->minargs ||
	    (cmd->maxargs >= 0 && c.nargs > cmd->maxargs)) {
		fprintf(stderr, "chatrctl: usage: chatrctl %s\n", cmd->usage);
		return 1;
	}
	if (c.reason != NULL && (strlen(c.reason) > CTL_REASON_MAX ||
	    ch_utf8_count(c.reason, strlen(c.reason), &k) != 0)) {
		fprintf(stderr, "chatrctl: --reason must be UTF-8 text of at "
		    "most %d bytes\n", CTL_REASON_MAX);
		return 1;
	}
	if (cmd->run == cmd_help)
		return cmd_help(&c);
	ch_log_set_level(verbose ? CH_LOG_INFO : CH_LOG_ERR);
	if (ch_cfg_load(&c.cfg, conf, &cause) != 0) {
		ctl_fail("configuration: %s", cause);
		free(cause);
		return 1;
	}
	if (!verbose)
		ch_log_set_level(CH_LOG_ERR);
	ret = cmd->run(&c);
	if (c.opened)
		ch_db_close(&c.db);
	ch_cfg_free(&c.cfg);
	return ret;
}
