/*
 * hub.c -- the relay's messages.
 *
 * Every new message (from the log, or from the store when the log missed
 * it) comes through hub_message in id order: it is formatted once into a
 * frame, kept in the ring of the newest RELAY_RING, and queued for the
 * streams that follow the newest (client_broadcast, before the loop
 * sleeps).  A stream that is behind (it resumed from an old id, or it
 * reads slower than the room writes) does not take part in that: it has a
 * cursor, and as its socket drains it takes the next frames from the ring
 * while its cursor is inside it, or pages read from the store before that
 * (hub_page).  Memory stays bounded: the ring, the batch, and per stream
 * what its socket has not taken yet.
 *
 * The history event that opens every stream is the first page of its
 * cursor, at most CH_HISTORY messages: for a new stream the newest ones
 * (one frame, shared by every stream that opens until the next message),
 * for a resumed one the oldest it missed.
 *
 * Stats come from the store every CHATR_STATS_INTERVAL seconds, and for a
 * new stream at most a second old.  The relay never sleeps for the store:
 * a read that meets a lock is tried again later.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

struct hub hub;

/* Queue a reference the batch owns. */
static void
hub_push(struct frame *f)
{
	if (hub.nbatch == hub.batchcap) {
		hub.batchcap = hub.batchcap == 0 ? 16 : hub.batchcap * 2;
		hub.batch = ch_xreallocarray(hub.batch, hub.batchcap,
		    sizeof(*hub.batch));
	}
	hub.batch[hub.nbatch++] = f;
}

/* A new message, newer than any before: keep it and queue it. */
void
hub_message(uint64_t id, const char *json, size_t len)
{
	struct frame *f;
	size_t i;

	for (i = 0; i < hub.ndoomed; i++)
		if (hub.doomed[i] == id) { /* deleted before it came */
			hub.doomed[i] = hub.doomed[--hub.ndoomed];
			hub.last_id = id;
			return;
		}

	f = frame_message(id, json, len);
	ring_put(&hub.ring, f);
	hub_push(f); /* the batch owns the reference made here */
	hub.last_id = id;
	hub.delivered++;
}

/* Queue a frame that is not a message (stats, keep-alive) for everyone. */
void
hub_queue(struct frame *f)
{
	hub_push(frame_ref(f));
}

/* The frames queued this turn (the hub keeps them until hub_batch_done). */
struct frame **
hub_batch(size_t *n)
{
	*n = hub.nbatch;
	return hub.batch;
}

void
hub_batch_done(void)
{
	size_t i;

	for (i = 0; i < hub.nbatch; i++)
		frame_unref(hub.batch[i]);
	hub.nbatch = 0;
}

/*
 * Where a new stream's cursor starts: at the oldest of the newest
 * CH_HISTORY messages the ring holds (after hub.last_id if it holds none).
 */
uint64_t
hub_history_start(void)
{
	uint64_t id, start = hub.last_id + 1;
	size_t n = 0;

	for (id = hub.ring.last; id >= hub.ring.first && id > 0 &&
	    n < CH_HISTORY; id--)
		if (ring_get(&hub.ring, id) != NULL) {
			start = id;
			n++;
		}
	return start;
}

struct page {
	struct frame **out;
	size_t max, n;
};

static int
hub_page_add(void *arg, uint64_t id, const char *json, size_t len)
{
	struct page *pg = arg;

	if (pg->n < pg->max)
		pg->out[pg->n++] = frame_message(id, json, len);
	return 0;
}

struct range {
	uint64_t from, upto;
	struct page pg;
};

static int
hub_page_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct range *r = arg;
	int more;

	while (r->pg.n > 0) /* from a try that failed */
		frame_unref(r->pg.out[--r->pg.n]);
	return ch_msg_range(db, txn, r->from - 1, r->upto + 1,
	    (unsigned int)r->pg.max, 0, DB_READ_UNCOMMITTED, hub_page_add,
	    &r->pg, &more);
}

/*
 * Every id up to hub.last_id is committed (the log names a message only
 * after its commit), so pages read without read locks: they never wait
 * for a poster, and never see what a poster has not committed.
 */
static const struct ch_txn page_txn = {
	.run = hub_page_run,
	.flags = DB_READ_UNCOMMITTED,
	.budget_ms = -1,
};

/*
 * Stored messages with from <= id <= upto, oldest first, at most max of
 * them, as new frames into out (*n of them).  0, or a store error (the
 * store is busy: try again later); out is then empty.
 */
int
hub_page(uint64_t from, uint64_t upto, struct frame **out, size_t max,
    size_t *n)
{
	struct range r;
	int ret;

	*n = 0;
	if (from == 0 || from > upto || max == 0)
		return 0;
	r.from = from;
	r.upto = upto;
	r.pg.out = out;
	r.pg.max = max;
	r.pg.n = 0;
	if ((ret = ch_db_run(&hub.db, &page_txn, &r)) != 0) {
		while (r.pg.n > 0)
			frame_unref(out[--r.pg.n]);
		return ret;
	}
	*n = r.pg.n;
	hub.paged += r.pg.n;
	return 0;
}

/*
 * The history event of the messages from..to (from > to: none).  The
 * event of the newest ones is made once and shared.  NULL when the store
 * is busy (try again later).
 */
struct frame *
hub_history(uint64_t from, uint64_t to)
{
	struct frame *msgs[CH_HISTORY], *f;
	uint64_t id;
	size_t n = 0, got, i;

	if (hub.history != NULL && hub.history_from == from &&
	    hub.history_to == to)
		return frame_ref(hub.history);
	if (to >= from + CH_HISTORY)
		to = from + CH_HISTORY - 1;
	for (id = from; id <= to && from > 0 && n < CH_HISTORY; id++) {
		if ((f = ring_get(&hub.ring, id)) != NULL) {
			msgs[n++] = frame_ref(f);
			continue;
		}
		if (hub.ring.first != 0 && id >= hub.ring.first)
			continue; /* not in the store either */
		/* before the ring: the store, up to where the ring begins */
		if (hub_page(id, hub.ring.first != 0 && hub.ring.first - 1 <
		    to ? hub.ring.first - 1 : to, msgs + n, CH_HISTORY - n,
		    &got) != 0) {
			for (i = 0; i < n; i++)
				frame_unref(msgs[i]);
			return NULL;
		}
		if (got == 0) {
			if (hub.ring.first == 0 || hub.ring.first > to)
				break;
			id = hub.ring.first - 1;
			continue;
		}
		id = msgs[n + got - 1]->id;
		n += got;
	}
	f = frame_history(msgs, n);
	for (i = 0; i < n; i++)
		frame_unref(msgs[i]);
	if (to == hub.last_id && from == hub_history_start()) {
		frame_unref(hub.history);
		hub.history = frame_ref(f);
		hub.history_from = from;
		hub.history_to = to;
	}
	return f;
}

struct fill {
	uint64_t next;
};

static int
hub_fill_add(void *arg, uint64_t id, const char *json, size_t len)
{
	struct fill *fl = arg;

	if (id > hub.last_id) {
		if (id > fl->next)
			ch_log_warn("messages %llu to %llu are missing from "
			    "the store", (unsigned long long)fl->next,
			    (unsigned long long)id - 1);
		hub_message(id, json, len);
	}
	fl->next = id + 1;
	return 0;
}

struct fillrun {
	uint64_t upto;
	struct fill fl;
};

static int
hub_fill_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct fillrun *r = arg;
	int more;

	return ch_msg_range(db, txn, hub.last_id, r->upto + 1, RELAY_PAGE, 0,
	    DB_READ_UNCOMMITTED, hub_fill_add, &r->fl, &more);
}

static const struct ch_txn fill_txn = {
	.run = hub_fill_run,
	.flags = DB_READ_UNCOMMITTED,
	.budget_ms = -1,
};

/*
 * Deliver the stored messages after the newest received, up to id upto:
 * committed ones the log does not name (their poster died between its
 * commit and its append).  0, or a store error: try again later.
 */
int
hub_fill(uint64_t upto)
{
	struct fillrun r;
	uint64_t before;
	int ret;

	while (upto > hub.last_id) {
		before = hub.last_id;
		r.upto = upto;
		r.fl.next = hub.last_id + 1;
		if ((ret = ch_db_run(&hub.db, &fill_txn, &r)) != 0) {
			ch_log_warn("reading messages from the store: %s",
			    db_strerror(ret));
			return ret;
		}
		if (hub.last_id == before) {
			ch_log_warn("messages %llu to %llu are missing from "
			    "the store", (unsigned long long)before + 1,
			    (unsigned long long)upto);
			hub.last_id = upto;
		}
	}
	return 0;
}

#define HUB_DOOMED_MAX 4096

/* One deletion (ch_mod_deletes): out of memory, and to every stream. */
static int
hub_delete_one(void *arg, uint64_t seq, uint64_t id)
{
	char json[48];
	struct frame *f;
	int n;

	(void)arg;
	hub.deletes_seen = seq;
	if (id > hub.last_id) {
		if (hub.ndoomed < HUB_DOOMED_MAX) {
			hub.doomed = ch_xreallocarray(hub.doomed,
			    hub.ndoomed + 1, sizeof(*hub.doomed));
			hub.doomed[hub.ndoomed++] = id;
		} else
			ch_log_warn("message %llu was deleted before it came; "
			    "too many such to remember",
			    (unsigned long long)id);
	}
	(void)ring_drop(&hub.ring, id);
	if (hub.history != NULL && id >= hub.history_from &&
	    id <= hub.history_to) {
		frame_unref(hub.history);
		hub.history = NULL;
	}
	n = snprintf(json, sizeof(json), "{\"id\":\"%llu\"}",
	    (unsigned long long)id);
	f = frame_event("delete", json, (size_t)n);
	hub_queue(f);
	frame_unref(f);
	ch_log_info("message %llu was deleted", (unsigned long long)id);
	return 0;
}

static int
hub_deletes_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	uint64_t *from = arg;

	hub.deletes_seen = *from; /* a try that failed is undone */
	return ch_mod_deletes(db, txn, *from, RELAY_PAGE, 0, hub_delete_one,
	    NULL);
}

static const struct ch_txn deletes_txn = {
	.run = hub_deletes_run,
	.flags = DB_READ_COMMITTED,
	.budget_ms = -1,
};

/*
 * Apply the deletions up to seq upto (the store's "deletes" counter):
 * each message leaves the ring and the cached history, and every stream
 * gets {"type":"delete","data":{"id":"N"}}.  0, or a store error: try
 * again later.
 */
int
hub_deletes(uint64_t upto)
{
	uint64_t from;
	int ret;

	while (hub.deletes_seen < upto) {
		from = hub.deletes_seen;
		if ((ret = ch_db_run(&hub.db, &deletes_txn, &from)) != 0)
			return ret;
		if (hub.deletes_seen == from) /* counted, yet not there */
			hub.deletes_seen = upto;
	}
	return 0;
}

static int
hub_stats_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	return ch_agent_stats(db, txn, ch_time_ms() / 1000,
	    hub.cfg.online_window, arg);
}

static const struct ch_txn stats_txn = {
	.run = hub_stats_run,
	.flags = DB_READ_UNCOMMITTED,
	.budget_ms = -1,
};

/* Read the stats into hub.stats.  0, or a store error (the old stay). */
int
hub_stats_read(void)
{
	struct json_object *o;
	struct ch_stats st;
	const char *text;
	size_t len;
	int ret;

	if ((ret = ch_db_run(&hub.db, &stats_txn, &st)) != 0) {
		ch_log_debug("reading stats: %s", db_strerror(ret));
		return ret;
	}
	o = ch_agent_stats_json(&st);
	text = ch_json_text(o, &len);
	frame_unref(hub.stats);
	hub.stats = frame_event("stats", text, len);
	hub.stats_at = ch_time_mono_ms();
	json_object_put(o);
	return 0;
}

/*
 * The stats for a new stream (borrowed; NULL if never read): the latest,
 * read again if more than a second old, so at most once a second however
 * many streams connect.
 */
struct frame *
hub_stats_now(void)
{
	if (hub.stats == NULL || ch_time_mono_ms() - hub.stats_at > 1000)
		hub_stats_read();
	return hub.stats;
}

void
hub_free(void)
{
	hub_batch_done();
	free(hub.batch);
	hub.batch = NULL;
	ring_clear(&hub.ring);
	free(hub.doomed);
	hub.doomed = NULL;
	hub.ndoomed = 0;
	frame_unref(hub.history);
	frame_unref(hub.stats);
	frame_unref(hub.keepalive);
	hub.history = hub.stats = hub.keepalive = NULL;
}
