/*
 * test-limit.c -- unit tests of common/limit.c: sliding-window rate limits
 * kept in a real Berkeley DB environment (in a temporary CHATR_VAR).
 * With explicit times: count per seconds respected, the next event refused
 * with CH_LIMITED and a sane Retry-After, events leaving the window (at
 * most 1/64 of it late), ch_limit_check never counting, count 0 meaning no
 * limit, subjects kept apart, a huge count keeping the record small, the
 * clock going backwards and a corrupt record.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"
#include "tap.h"
#include "tstore.h"

#define T0 INT64_C(1700000000000) /* ms since the epoch */
#define SLICES 64		  /* limit.c's buckets per window */
#define RECORD_MAX ((SLICES + 2) * 20)

static struct ch_db db;
static struct ch_cfg cfg;

/* A temporary CHATR_VAR with the store open in it; 0 on success. */
static int
setup(void)
{
	if (tstore_setup(&db, &cfg, "test-limit") != 0) {
		CHECK(0, "setup: a store in a temporary directory");
		return -1;
	}
	CHECK(1, "setup: store opened in %s", tstore_dir());
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
 * One event of subject under l at now, in its own transaction: the result
 * of ch_limit_hit (or of a failed commit).  *retry gets 0 first.
 */
static int
hit(const char *subject, const struct ch_limit *l, int64_t now,
    unsigned int *retry)
{
	DB_TXN *txn;
	int ret;

	*retry = 0;
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	ret = ch_limit_hit(&db, txn, CH_LIMIT_REQUESTS, subject, l, now,
	    retry);
	if (ret != 0 && ret != CH_LIMITED) {
		ch_db_abort(txn);
		return ret;
	}
	if (ch_db_commit(txn, 0) != 0)
		return -1;
	return ret;
}

/* As hit, with ch_limit_check, committed. */
static int
check(const char *subject, const struct ch_limit *l, int64_t now,
    unsigned int *retry)
{
	DB_TXN *txn;
	int ret;

	*retry = 0;
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	ret = ch_limit_check(&db, txn, CH_LIMIT_REQUESTS, subject, l, now,
	    retry);
	if (ret != 0 && ret != CH_LIMITED) {
		ch_db_abort(txn);
		return ret;
	}
	if (ch_db_commit(txn, 0) != 0)
		return -1;
	return ret;
}

/* What ch_limit_check would say at now, leaving the store as it was. */
static int
probe(const char *subject, const struct ch_limit *l, int64_t now)
{
	unsigned int retry;
	DB_TXN *txn;
	int ret;

	if ((ret = ch_db_begin(&db, &txn, 0)) != 0)
		return ret;
	ret = ch_limit_check(&db, txn, CH_LIMIT_REQUESTS, subject, l, now,
	    &retry);
	ch_db_abort(txn);
	return ret;
}

/* The size of subject's record (a request limit), or -1 if it has none. */
static long
record_size(const char *subject)
{
	char k[128];
	DBT key, data;
	long size;
	int ret;

	snprintf(k, sizeof(k), "r:%s", subject);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = k;
	key.size = (uint32_t)strlen(k);
	data.flags = DB_DBT_MALLOC;
	ret = db.limits->get(db.limits, NULL, &key, &data, 0);
	if (ret != 0)
		return ret == DB_NOTFOUND ? -1 : -2;
	size = (long)data.size;
	free(data.data);
	return size;
}

/* 3 events a minute, a second apart: the exact sliding window. */
static void
test_basic(void)
{
	struct ch_limit l = {3, 60};
	unsigned int retry;
	long size;
	int r;

	r = hit("ip:a", &l, T0, &retry);
	CHECK(r == 0, "basic: event 1 allowed");
	r = hit("ip:a", &l, T0 + 1000, &retry);
	CHECK(r == 0, "basic: event 2 allowed");
	r = hit("ip:a", &l, T0 + 2000, &retry);
	CHECK(r == 0, "basic: event 3 allowed");
	r = hit("ip:a", &l, T0 + 3000, &retry);
	CHECK(r == CH_LIMITED, "basic: event 4 refused with CH_LIMITED");
	CHECK(retry == 57, "basic: retry 57 s, until event 1 leaves (got %u)",
	    retry);
	r = hit("ip:a", &l, T0 + 30000, &retry);
	CHECK(r == CH_LIMITED && retry == 30,
	    "basic: still refused at +30 s, retry 30 (got %d, %u)", r, retry);
	r = hit("ip:a", &l, T0 + 59999, &retry);
	CHECK(r == CH_LIMITED && retry == 1,
	    "basic: 1 ms before, retry rounds up to 1 (got %d, %u)", r, retry);
	r = hit("ip:a", &l, T0 + 60000, &retry);
	CHECK(r == 0, "basic: allowed once event 1 is a window old");
	r = hit("ip:a", &l, T0 + 60001, &retry);
	CHECK(r == CH_LIMITED && retry == 1,
	    "basic: refused again right after, retry 1 (got %d, %u)", r,
	    retry);
	r = hit("ip:a", &l, T0 + 61000, &retry);
	CHECK(r == 0, "basic: allowed when event 2 leaves");
	r = hit("ip:a", &l, T0 + 62000, &retry);
	CHECK(r == 0, "basic: allowed when event 3 leaves");
	r = hit("ip:a", &l, T0 + 62001, &retry);
	CHECK(r == CH_LIMITED && retry == 58,
	    "basic: refused events were not counted (retry %u)", retry);
	r = hit("ip:a", &l, T0 + 62000 + 61000, &retry);
	CHECK(r == 0, "basic: allowed after a quiet window");
	size = record_size("ip:a");
	CHECK(size == 20, "basic: only the live event is kept (%ld bytes)",
	    size);

	/* One a five minutes. */
	l.count = 1;
	l.seconds = 300;
	r = hit("ip:b", &l, T0, &retry);
	CHECK(r == 0, "1/300: the first is allowed");
	r = hit("ip:b", &l, T0 + 1, &retry);
	CHECK(r == CH_LIMITED && retry == 300,
	    "1/300: the second is refused, retry 300 (got %d, %u)", r, retry);
	r = hit("ip:b", &l, T0 + 299999, &retry);
	CHECK(r == CH_LIMITED && retry == 1,
	    "1/300: 1 ms before, retry 1 (got %d, %u)", r, retry);
	r = hit("ip:b", &l, T0 + 300000, &retry);
	CHECK(r == 0, "1/300: allowed after 300 s");
}

/* Events close together share a bucket and leave at most 1/64 late. */
static void
test_buckets(void)
{
	struct ch_limit l = {3, 60};
	int64_t slice = (60000 + SLICES - 1) / SLICES;
	unsigned int retry;
	long size;
	int r;

	r = hit("ip:c", &l, T0, &retry);
	CHECK(r == 0, "buckets: event 1 allowed");
	r = hit("ip:c", &l, T0 + 100, &retry);
	CHECK(r == 0, "buckets: event 2, 100 ms later, allowed");
	r = hit("ip:c", &l, T0 + 200, &retry);
	CHECK(r == 0, "buckets: event 3, 100 ms later, allowed");
	size = record_size("ip:c");
	CHECK(size == 20, "buckets: one bucket for the three (%ld bytes)",
	    size);
	r = hit("ip:c", &l, T0 + 300, &retry);
	CHECK(r == CH_LIMITED && retry >= 1 && retry <= 60,
	    "buckets: event 4 refused, 1 <= retry <= 60 (got %d, %u)", r,
	    retry);
	r = probe("ip:c", &l, T0 + 300 + (int64_t)retry * 1000);
	CHECK(r == 0, "buckets: allowed after retry seconds");
	r = probe("ip:c", &l, T0 + 60000 + slice);
	CHECK(r == 0, "buckets: every event gone a window and 1/64 after the "
	    "first");
	r = probe("ip:c", &l, T0 + 59999);
	CHECK(r == CH_LIMITED, "buckets: none gone before the window");
}

/* ch_limit_check reports but never counts. */
static void
test_check(void)
{
	struct ch_limit l = {2, 60};
	unsigned int retry;
	long size;
	int i, r, bad = 0;

	for (i = 0; i < 10; i++)
		if (check("ip:d", &l, T0 + i, &retry) != 0)
			bad++;
	CHECK(bad == 0, "check: 10 checks allowed");
	size = record_size("ip:d");
	CHECK(size == -1, "check: no record made (%ld)", size);
	r = hit("ip:d", &l, T0 + 10, &retry);
	CHECK(r == 0, "check: a hit after 10 checks is the first");
	r = check("ip:d", &l, T0 + 11, &retry);
	CHECK(r == 0, "check: one left");
	r = hit("ip:d", &l, T0 + 2000, &retry);
	CHECK(r == 0, "check: the second hit is allowed");
	r = check("ip:d", &l, T0 + 2001, &retry);
	CHECK(r == CH_LIMITED && retry == 59,
	    "check: at the limit, CH_LIMITED and retry 59 (got %d, %u)", r,
	    retry);
	r = check("ip:d", &l, T0 + 2002, &retry);
	CHECK(r == CH_LIMITED, "check: a refused check counts nothing");
	r = check("ip:d", &l, T0 + 60010, &retry);
	CHECK(r == 0, "check: allowed once the first hit left");
	r = hit("ip:d", &l, T0 + 60011, &retry);
	CHECK(r == 0, "check: the check did not use it up");
	r = hit("ip:d", &l, T0 + 60013, &retry);
	CHECK(r == CH_LIMITED, "check: then the limit holds again");
}

/* A count of 0 is no limit at all. */
static void
test_off(void)
{
	struct ch_limit l = {0, 60}, off;
	unsigned int retry = 777;
	DB_TXN *txn;
	long size;
	int i, r, bad = 0;

	r = ch_db_begin(&db, &txn, 0);
	CHECK(r == 0, "off: begin");
	if (r != 0)
		return;
	for (i = 0; i < 1000; i++)
		if (ch_limit_hit(&db, txn, CH_LIMIT_REQUESTS, "ip:e", &l,
		    T0, &retry) != 0)
			bad++;
	r = ch_db_commit(txn, 0);
	CHECK(r == 0, "off: commit");
	CHECK(bad == 0, "off: 1000 events in the same ms allowed");
	CHECK(retry == 777, "off: retry untouched");
	size = record_size("ip:e");
	CHECK(size == -1, "off: no record made (%ld)", size);
	r = ch_cfg_parse_limit("off", &off);
	CHECK(r == 0, "off: parse \"off\"");
	r = hit("ip:e", &off, T0, &retry);
	CHECK(r == 0, "off: a parsed \"off\" allows");
	r = check("ip:e", &off, T0, &retry);
	CHECK(r == 0, "off: and so does a check");
}

/* Subjects do not share their counts. */
static void
test_subjects(void)
{
	struct ch_limit l = {3, 60}, one = {1, 60};
	unsigned int retry;
	int i, r, bad = 0;

	for (i = 0; i < 3; i++)
		if (hit("ip:x", &l, T0 + i, &retry) != 0)
			bad++;
	CHECK(bad == 0, "subjects: three for ip:x");
	r = hit("ip:x", &l, T0 + 3, &retry);
	CHECK(r == CH_LIMITED, "subjects: ip:x is full");
	r = hit("ip:y", &l, T0 + 4, &retry);
	CHECK(r == 0, "subjects: ip:y is not");
	r = hit("ip:x1", &l, T0 + 5, &retry);
	CHECK(r == 0, "subjects: nor ip:x1");
	r = hit("ip:", &l, T0 + 6, &retry);
	CHECK(r == 0, "subjects: nor ip:");
	r = hit("agent:ip:x", &l, T0 + 7, &retry);
	CHECK(r == 0, "subjects: nor agent:ip:x");
	r = hit("ip:x", &l, T0 + 8, &retry);
	CHECK(r == CH_LIMITED, "subjects: ip:x is still full");
	r = hit("ip:y", &one, T0 + 9, &retry);
	CHECK(r == CH_LIMITED, "subjects: a stricter limit on ip:y counts its "
	    "earlier event");
	r = hit("ip:z", &one, T0 + 10, &retry);
	CHECK(r == 0, "subjects: ip:z under 1/60");
	r = hit("ip:x", &l, T0 + 61000, &retry);
	CHECK(r == 0, "subjects: ip:x frees up on its own clock");
}

/* 100000 a minute: exact, and the record stays small. */
static void
test_large(void)
{
	struct ch_limit l = {100000, 60};
	unsigned int retry = 0;
	DB_TXN *txn;
	long size;
	int i, j, r, bad = 0, dberr = 0;

	for (i = 0; i < 100 && !dberr; i++) {
		if (ch_db_begin(&db, &txn, 0) != 0) {
			dberr = 1;
			break;
		}
		for (j = 0; j < 1000; j++) {
			r = ch_limit_hit(&db, txn, CH_LIMIT_REQUESTS, "big",
			    &l, T0 +
			    (int64_t)(i * 1000 + j) * 59000 / 100000, &retry);
			if (r == CH_LIMITED)
				bad++;
			else if (r != 0)
				dberr = 1;
		}
		if (dberr)
			ch_db_abort(txn);
		else if (ch_db_commit(txn, 0) != 0)
			dberr = 1;
	}
	CHECK(!dberr, "large: no store error");
	CHECK(bad == 0, "large: 100000 events in 59 s allowed (%d refused)",
	    bad);
	size = record_size("big");
	CHECK(size > 0 && size <= RECORD_MAX && size % 20 == 0,
	    "large: the record stays small (%ld bytes, at most %d)", size,
	    RECORD_MAX);
	r = hit("big", &l, T0 + 59500, &retry);
	CHECK(r == CH_LIMITED, "large: event 100001 refused");
	CHECK(retry >= 1 && retry <= 60, "large: 1 <= retry <= 60 (got %u)",
	    retry);
	r = probe("big", &l, T0 + 59500 + (int64_t)retry * 1000);
	CHECK(r == 0, "large: allowed after retry seconds");
	r = hit("big", &l, T0 + 59000 + 60000 + 60000 / SLICES + 1, &retry);
	CHECK(r == 0, "large: allowed once all have left");
	size = record_size("big");
	CHECK(size == 20, "large: only the new event is kept (%ld bytes)",
	    size);
}

/*
 * 5 per 10 s, one attempt a second for a minute: events more than 1/64 of
 * the window apart are counted exactly.
 */
static void
test_exact(void)
{
	struct ch_limit l = {5, 10};
	unsigned int retry;
	int i, r, n = 0, wrong = 0;

	for (i = 0; i <= 60; i++) {
		r = hit("exact", &l, T0 + i * 1000, &retry);
		if (r == 0)
			n++;
		if ((r == 0) != (i % 10 < 5))
			wrong++;
		if (r == CH_LIMITED && retry != (unsigned int)(10 - i % 10))
			wrong++;
	}
	CHECK(n == 31, "exact: 31 of 61 allowed (got %d)", n);
	CHECK(wrong == 0, "exact: allowed 5 then refused 5, each second, with "
	    "the exact retry (%d wrong)", wrong);
}

/* Next pseudo-random number (a fixed LCG: the test is repeatable). */
static unsigned int
rnd(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

/*
 * 5 per 10 s, 3000 attempts at random gaps of 0-400 ms: never more than
 * 5 in any window; a refusal always has 5 events within the window and
 * 1/64; retry is in [1, 10], enough, and not a second too long.
 */
static void
test_random(void)
{
	struct ch_limit l = {5, 10};
	int64_t window = 10000, slice = (10000 + SLICES - 1) / SLICES;
	int64_t *ok, now = T0;
	unsigned int seed = 42, retry;
	size_t n = 0, i, j, in;
	int a, r, over = 0, unjust = 0, badretry = 0, dberr = 0;

	ok = ch_xcalloc(3000, sizeof(*ok));
	for (a = 0; a < 3000; a++) {
		now += rnd(&seed) % 401;
		r = hit("random", &l, now, &retry);
		if (r == 0) {
			ok[n++] = now;
			continue;
		}
		if (r != CH_LIMITED) {
			dberr++;
			continue;
		}
		for (j = 0, in = 0; j < n; j++)
			if (ok[j] > now - window - slice)
				in++;
		if (in < l.count)
			unjust++;
		if (retry < 1 || retry > 10 ||
		    probe("random", &l, now + (int64_t)retry * 1000) != 0 ||
		    (retry > 1 && probe("random", &l, now +
		    (int64_t)(retry - 1) * 1000) != CH_LIMITED))
			badretry++;
	}
	for (i = 0; i < n; i++) {
		for (j = 0, in = 0; j <= i; j++)
			if (ok[j] > ok[i] - window)
				in++;
		if (in > l.count)
			over++;
	}
	CHECK(dberr == 0, "random: no store error");
	CHECK(n > 100, "random: some allowed (%zu)", n);
	CHECK(over == 0, "random: never more than 5 in 10 s (%d windows over)",
	    over);
	CHECK(unjust == 0, "random: every refusal had 5 events in the window "
	    "and 1/64 (%d did not)", unjust);
	CHECK(badretry == 0, "random: every retry in [1, 10], enough and tight "
	    "(%d not)", badretry);
	free(ok);
}

/* The clock going backwards, past the bucket limit. */
static void
test_backwards(void)
{
	struct ch_limit l = {100, 600};
	unsigned int retry;
	int i, r, bad = 0;
	long size;

	for (i = 0; i < 70; i++)
		if (hit("back", &l, T0 - (int64_t)i * 1000, &retry) != 0)
			bad++;
	CHECK(bad == 0, "backwards: 70 events going back a second each");
	size = record_size("back");
	CHECK(size > 0 && size <= RECORD_MAX, "backwards: the record stays "
	    "small (%ld bytes)", size);
	for (i = 0, bad = 0; i < 30; i++)
		if (hit("back", &l, T0 + (int64_t)i * 1000, &retry) != 0)
			bad++;
	CHECK(bad == 0, "backwards: 30 more going forward");
	r = hit("back", &l, T0 + 30000, &retry);
	CHECK(r == CH_LIMITED && retry >= 1 && retry <= 600,
	    "backwards: event 101 refused, retry %u", retry);
}

/* A corrupt record is reset, not trusted. */
static void
test_corrupt(void)
{
	struct ch_limit l = {2, 60};
	unsigned int retry;
	DBT key, data;
	long size;
	int r;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)"r:corrupt";
	key.size = 9;
	data.data = (void *)"garbage";
	data.size = 7;
	r = db.limits->put(db.limits, NULL, &key, &data, 0);
	CHECK(r == 0, "corrupt: a 7-byte record stored");
	r = hit("corrupt", &l, T0, &retry);
	CHECK(r == 0, "corrupt: the first event is allowed");
	size = record_size("corrupt");
	CHECK(size == 20, "corrupt: the record was reset (%ld bytes)", size);
	r = hit("corrupt", &l, T0 + 1, &retry);
	CHECK(r == 0, "corrupt: the second is allowed");
	r = hit("corrupt", &l, T0 + 2, &retry);
	CHECK(r == CH_LIMITED, "corrupt: the third is refused");
}

/* Run every case and print the TAP plan; 0 if all passed. */
/* Does limits.db hold a record under key k? 1 yes, 0 no, -1 error. */
static int
has_record(const char *k)
{
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)k;
	key.size = (uint32_t)strlen(k);
	data.flags = DB_DBT_MALLOC;
	ret = db.limits->get(db.limits, NULL, &key, &data, 0);
	if (ret == 0)
		free(data.data);
	return ret == 0 ? 1 : ret == DB_NOTFOUND ? 0 : -1;
}

/* The sweep: records whose events all left the window go. */
static void
test_sweep(void)
{
	struct ch_limit l = {5, 60};
	unsigned int retry;
	DB_TXN *txn;
	int r, gone = -1, i, total = 0;
	char subject[32];

	/* A message limit's record, as old: not the request limit's to sweep. */
	if ((r = ch_db_begin(&db, &txn, 0)) == 0) {
		r = ch_limit_hit(&db, txn, CH_LIMIT_MESSAGES, "agent-s", &l, T0,
		    &retry);
		if (r == 0)
			r = ch_db_commit(txn, 0);
		else
			ch_db_abort(txn);
	}
	CHECK(r == 0, "sweep: a message counted for agent-s");
	for (i = 0; i < 20; i++) {
		snprintf(subject, sizeof(subject), "sweep%02d", i);
		r = hit(subject, &l, i < 15 ? T0 : T0 + 50000, &retry);
		CHECK(r == 0, "sweep: %s counted", subject);
	}
	/* At T0 + 61 s the 15 early ones are out of the window, 5 not. */
	for (i = 0; i < 10 && (i == 0 || gone > 0); i++) {
		if ((r = ch_db_begin(&db, &txn, 0)) != 0)
			break;
		r = ch_limit_sweep(&db, txn, CH_LIMIT_REQUESTS, &l,
		    T0 + 61000, 4, &gone);
		if (r == 0)
			r = ch_db_commit(txn, 0);
		else
			ch_db_abort(txn);
		if (r != 0)
			break;
		total += gone;
	}
	CHECK(r == 0, "sweep: swept in turns of at most 4 records");
	CHECK(record_size("sweep00") == -1 && record_size("sweep14") == -1,
	    "sweep: the quiet addresses are gone");
	CHECK(record_size("sweep15") == 20 && record_size("sweep19") == 20,
	    "sweep: the live ones stay");
	CHECK(total >= 15, "sweep: at least the 15 quiet records went (%d)",
	    total);
	r = hit("sweep19", &l, T0 + 61000, &retry);
	CHECK(r == 0, "sweep: a live address is still counted");
	CHECK(has_record("m:agent-s") == 1, "sweep: another kind's record "
	    "is left alone");
}

int
main(void)
{
	if (setup() != 0)
		return tap_done();
	test_sweep();
	test_basic();
	test_buckets();
	test_check();
	test_off();
	test_subjects();
	test_large();
	test_exact();
	test_random();
	test_backwards();
	test_corrupt();
	teardown();
	return tap_done();
}
