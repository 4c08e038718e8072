/*
 * GET /api/agents -- no key.  The online agents, most recently active
 * first, and the stats:
 *
 *	{"success":true,"agents":[{"id","name","avatar","online",
 *	 "moltbookVerified","moltbookName","ownerTwitter"}...],
 *	 "stats":{"totalAgents","onlineAgents","totalMessages"},
 *	 "hasMore":bool}
 *
 *	?limit=N (1-1000, default 200)  at most N agents
 *	?after=ID  the agents after agent ID in this order (the next page;
 *	           empty if ID is not online any more)
 *
 * Served from a snapshot: the presence index's recent range (which holds
 * each agent's public object, agent.c) and the two counters, taken in one
 * read transaction and kept by this process.  The snapshot stays good
 * while nothing it shows has changed -- every such commit bumps the
 * shared page's change count (shared.c) -- and the clock's second is the
 * same (agents go offline by the clock alone).  It is taken again no
 * sooner than ten times as long as the last one took (at most a second):
 * with many agents online, a busy room costs at most a tenth of this
 * process's time in snapshots, and the answer is never older than a
 * second.  Answers carry an ETag; If-None-Match with it is answered 304.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chatr.h"

#define PAGE_DEFAULT 200
#define PAGE_MAX 1000
#define SNAP_MAX_AGE_US 1000000

struct item {
	char id[CH_ID_LEN + 1];
	size_t off, len; /* its public object, in snap.text */
};

static struct {
	int valid;
	uint64_t changes; /* the shared change count it was taken at */
	int64_t second;	  /* the clock's second it was taken in */
	int64_t taken_us; /* monotonic */
	int64_t took_us;
	struct ch_buf text;
	struct item *items;
	size_t n, cap;
	struct ch_stats st;
} snap;

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One online agent into the snapshot. */
static int
snap_add(void *arg, const char *id, const char *json, size_t len)
{
	struct item *it;

	(void)arg;
	if (snap.n == snap.cap) {
		snap.cap = snap.cap ? snap.cap * 2 : 64;
		snap.items = ch_xreallocarray(snap.items, snap.cap,
		    sizeof(*snap.items));
	}
	it = &snap.items[snap.n++];
	memcpy(it->id, id, CH_ID_LEN);
	it->id[CH_ID_LEN] = '\0';
	it->off = snap.text.len;
	it->len = len;
	ch_buf_add(&snap.text, json, len);
	return 0;
}

/* The snapshot's transaction (it may run more than once). */
static int
snap_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct ch_req *req = arg;
	int ret;

	snap.n = 0;
	ch_buf_reset(&snap.text);
	if ((ret = ch_agent_online(db, txn, req->now / 1000,
	    req->cfg->online_window, snap_add, NULL,
	    &snap.st.online_agents)) != 0 ||
	    (ret = ch_db_counter_get(db, txn, "agents",
	    &snap.st.total_agents)) != 0 ||
	    (ret = ch_db_counter_get(db, txn, "messages",
	    &snap.st.total_messages)) != 0)
		return ret;
	return 0;
}

static const struct ch_txn snap_txn = {
	.run = snap_run,
	.flags = DB_READ_COMMITTED,
};

/* Make the snapshot current, if it is not; 0, or a store error. */
static int
snap_refresh(struct ch_req *req)
{
	int64_t now = mono_us(), wait;
	uint64_t changes;
	int ret;

	changes = ch_shared_changes(req->cfg);
	if (snap.valid && changes == snap.changes &&
	    req->now / 1000 == snap.second)
		return 0;
	wait = snap.took_us * 10;
	if (wait > SNAP_MAX_AGE_US)
		wait = SNAP_MAX_AGE_US;
	if (snap.valid && now - snap.taken_us < wait)
		return 0;
	snap.valid = 0;
	if ((ret = ch_db_run(req->db, &snap_txn, req)) != 0)
		return ret;
	snap.valid = 1;
	snap.changes = changes;
	snap.second = req->now / 1000;
	snap.taken_us = now;
	snap.took_us = mono_us() - now;
	return 0;
}

/* FNV-1a, 64 bits: the ETag of an answer. */
static uint64_t
etag_hash(const char *p, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	while (len-- > 0) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Does If-None-Match (a list of tags, or "*") name tag? */
static int
etag_match(const char *inm, const char *tag)
{
	size_t n = strlen(tag);
	const char *p;

	if (inm == NULL)
		return 0;
	for (p = inm; *p != '\0';) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, tag, n) == 0 && (p[n] == '\0' || p[n] == ',' ||
		    p[n] == ' ' || p[n] == '\t'))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

/* Is s an agent id (a UUID as ch_auth_new_uuid writes it)? */
static int
agents_is_id(const char *s)
{
	size_t i;

	for (i = 0; i < CH_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return s[CH_ID_LEN] == '\0';
}

static int
agents_get(struct ch_req *req)
{
	unsigned long long limit = PAGE_DEFAULT;
	char buf[64], after[64], *end, tag[24], hdr[96];
	struct ch_buf b = {0};
	size_t i, first = 0, last;
	int ret, has_after;

	if ((ret = ch_req_query(req, "limit", buf, sizeof(buf))) < 0 ||
	    (ret == 0 && (buf[0] < '0' || buf[0] > '9' ||
	    (limit = strtoull(buf, &end, 10)) < 1 || limit > PAGE_MAX ||
	    *end != '\0')))
		return ch_fail(req, CH_ERR_INVAL,
		    "limit must be a number from 1 to %d.", PAGE_MAX);
	if ((has_after = ch_req_query(req, "after", after, sizeof(after))) <
	    0 || (has_after == 0 && !agents_is_id(after)))
		return ch_fail(req, CH_ERR_INVAL, "after must be an agent id.");
	if ((ret = snap_refresh(req)) != 0)
		return ch_fail_db(req, ret);
	if (has_after == 0) {
		for (first = 0; first < snap.n; first++)
			if (strcmp(snap.items[first].id, after) == 0)
				break;
		first = first < snap.n ? first + 1 : snap.n;
	}
	last = snap.n - first > limit ? first + limit : snap.n;

	ch_buf_adds(&b, "{\"success\":true,\"agents\":[");
	for (i = first; i < last; i++) {
		if (i > first)
			ch_buf_add(&b, ",", 1);
		ch_buf_add(&b, snap.text.data + snap.items[i].off,
		    snap.items[i].len);
	}
	ch_buf_addf(&b, "],\"stats\":{\"totalAgents\":%llu,\"onlineAgents\":"
	    "%llu,\"totalMessages\":%llu},\"hasMore\":%s}",
	    (unsigned long long)snap.st.total_agents,
	    (unsigned long long)snap.st.online_agents,
	    (unsigned long long)snap.st.total_messages,
	    last < snap.n ? "true" : "false");
	snprintf(tag, sizeof(tag), "\"%016llx\"",
	    (unsigned long long)etag_hash(b.data, b.len));
	snprintf(hdr, sizeof(hdr), "ETag: %s\r\n", tag);
	if (etag_match(ch_req_param(req, "HTTP_IF_NONE_MATCH"), tag))
		ret = ch_resp_raw(req, 304, "no-cache", NULL, 0, hdr);
	else
		ret = ch_resp_raw(req, 200, "no-cache", b.data, b.len, hdr);
	ch_buf_free(&b);
	if (ret != 0)
		ch_log_info("client went away");
	return 0;
}

static const struct ch_op op_get = {
	.flags = CH_OP_READONLY,
	.outside = agents_get,
};

const struct ch_endpoint ep_agents = {
	.name = "agents",
	.path = "/api/agents",
	.op = {[CH_GET] = &op_get},
};
