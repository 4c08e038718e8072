/*
 * limit.c -- rate limits as sliding windows kept in the shared store, so
 * they hold across processes and restarts.
 *
 * The per-address request limit, which every request meets, is kept in
 * memory shared by the processes instead (window.c), with the same
 * arithmetic (ch_limit_apply); it comes here only when that memory cannot
 * be had.  Its records here, of addresses gone quiet, are swept away
 * (ch_limit_sweep).  (Kept in an in-memory database of the environment,
 * it wrote no log, but libdb 5.3 then crashed closing that database after
 * failchk had cleaned up dead processes: bench/README.md, issue 10.)
 *
 * A limit allows `count` events in any `seconds`-long window.  Each
 * limited subject (an address, an agent) has one record in the limits
 * database: a list of buckets, each holding the times of its first and
 * last event and how many it holds.  An event joins the newest bucket if
 * that bucket began less than 1/64 of the window ago, else it starts a new
 * one, so a record stays small (about 65 buckets) whatever the count.  A
 * bucket leaves the window when its last event does: the limit is never
 * exceeded, is exact while events are more than 1/64 of the window apart,
 * and Retry-After (the time until enough events leave) is never longer
 * than the window.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "chatr.h"

#define LIMIT_BUCKET_SIZE 20

/* The record key of each kind of limit: a prefix, then the subject. */
static const char *prefixes[CH_LIMIT__MAX] = {
	[CH_LIMIT_REQUESTS] = "r:", /* an address: CHATR_LIMIT_REQUESTS_IP */
	[CH_LIMIT_REGISTER] = "g:", /* an address: CHATR_LIMIT_REGISTER_IP */
	[CH_LIMIT_MESSAGES] = "m:", /* an agent id: CHATR_LIMIT_MSG_* */
	[CH_LIMIT_VERIFY] = "v:",   /* an agent id: CHATR_LIMIT_VERIFY */
};

static void
limit_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
limit_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * The window arithmetic, wherever its buckets are kept: b holds *nb
 * buckets (room for CH_LIMIT_BUCKETS), oldest first.  Forget the buckets
 * that have left l's window at now (ms); then, unless the limit is
 * reached, count one event when record is set.  0 when allowed (and
 * counted); CH_LIMITED when not, with *retry (if not NULL) the seconds
 * until enough events leave.  *changed is set when the buckets changed.
 */
int
ch_limit_apply(struct ch_limit_bucket *b, size_t *nb, const struct ch_limit *l,
    int64_t now, unsigned int *retry, int record, int *changed)
{
	int64_t window = (int64_t)l->seconds * 1000, wait;
	int64_t slice = (window + CH_LIMIT_SLICES - 1) / CH_LIMIT_SLICES;
	uint64_t total = 0, need, sum;
	size_t n = *nb, i, first;

	if (l->count == 0)
		return 0;
	/* Forget slices that have left the window. */
	for (first = 0; first < n; first++)
		if (b[first].last + window > now)
			break;
	if (first > 0) {
		memmove(b, b + first, (n - first) * sizeof(b[0]));
		n -= first;
		*changed = 1;
	}
	*nb = n;
	for (i = 0; i < n; i++)
		total += b[i].n;

	if (total >= l->count) {
		/* Wait until enough events leave for one more. */
		need = total - l->count + 1;
		for (i = 0, sum = 0; i < n; i++) {
			sum += b[i].n;
			if (sum >= need)
				break;
		}
		if (i == n)
			i = n - 1;
		wait = b[i].last + window - now;
		if (retry != NULL)
			*retry = wait <= 0 ? 1 : (unsigned int)((wait + 999) / 1000);
		return CH_LIMITED;
	}
	if (!record)
		return 0;
	if (n > 0 && now - b[n - 1].first < slice && now >= b[n - 1].last) {
		b[n - 1].last = now;
		b[n - 1].n++;
	} else {
		if (n == CH_LIMIT_BUCKETS) {
			/* Clock went backwards; fold the oldest. */
			b[1].n += b[0].n;
			b[1].first = b[0].first;
			memmove(b, b + 1, (n - 1) * sizeof(b[0]));
			n--;
		}
		b[n].first = b[n].last = now;
		b[n].n = 1;
		n++;
	}
	*nb = n;
	*changed = 1;
	return 0;
}

/* ch_limit_apply on the subject's record in the limits database. */
static int
limit_run(struct ch_db *db, DB_TXN *txn, enum ch_limit_kind kind,
    const char *who, const struct ch_limit *l, int64_t now,
    unsigned int *retry, int record)
{
	unsigned char raw[CH_LIMIT_BUCKETS * LIMIT_BUCKET_SIZE];
	struct ch_limit_bucket b[CH_LIMIT_BUCKETS];
	char subject[CH_ADDR_MAX + CH_ID_LEN + 8];
	size_t nb = 0, i;
	DBT key, data;
	int ret, xret, changed = 0;
	DB *ldb = db->limits;

	if (l->count == 0)
		return 0;
	if ((unsigned)kind >= CH_LIMIT__MAX)
		return EINVAL;
	snprintf(subject, sizeof(subject), "%s%s", prefixes[kind], who);
	ch_db_dbt(&key, subject, strlen(subject));
	ch_db_dbt(&data, NULL, 0);
	data.data = raw;
	data.ulen = sizeof(raw);
	data.flags = DB_DBT_USERMEM;
	ret = ldb->get(ldb, txn, &key, &data, DB_RMW);
	if (ret == 0 && data.size % LIMIT_BUCKET_SIZE == 0) {
		nb = data.size / LIMIT_BUCKET_SIZE;
		for (i = 0; i < nb; i++) {
			b[i].first = (int64_t)ch_db_get_be64(raw +
			    i * LIMIT_BUCKET_SIZE);
			b[i].last = (int64_t)ch_db_get_be64(raw +
			    i * LIMIT_BUCKET_SIZE + 8);
			b[i].n = limit_get32(raw + i * LIMIT_BUCKET_SIZE + 16);
		}
	} else if (ret == 0 || ret == DB_BUFFER_SMALL) {
		ch_log_warn("limit record of %s is corrupt; resetting", subject);
		changed = 1;
	} else if (ret != DB_NOTFOUND)
		return ret;

	ret = ch_limit_apply(b, &nb, l, now, retry, record, &changed);
	if (!changed)
		return ret;
	if (nb == 0) {
		xret = ldb->del(ldb, txn, &key, 0);
		return xret != 0 && xret != DB_NOTFOUND ? xret : ret;
	}
	for (i = 0; i < nb; i++) {
		ch_db_be64(raw + i * LIMIT_BUCKET_SIZE, (uint64_t)b[i].first);
		ch_db_be64(raw + i * LIMIT_BUCKET_SIZE + 8, (uint64_t)b[i].last);
		limit_put32(raw + i * LIMIT_BUCKET_SIZE + 16, b[i].n);
	}
	ch_db_dbt(&data, raw, nb * LIMIT_BUCKET_SIZE);
	xret = ldb->put(ldb, txn, &key, &data, 0);
	return xret != 0 ? xret : ret;
}

/*
 * Count one event of subject who (an address or an agent id, by kind)
 * against l at now (ms) if the limit allows it: 0 when allowed and
 * counted; CH_LIMITED when not, with *retry the seconds to wait; else a
 * Berkeley DB error.
 */
int
ch_limit_hit(struct ch_db *db, DB_TXN *txn, enum ch_limit_kind kind,
    const char *who, const struct ch_limit *l, int64_t now,
    unsigned int *retry)
{
	return limit_run(db, txn, kind, who, l, now, retry, 1);
}

/* As ch_limit_hit, but only check: nothing is counted. */
int
ch_limit_check(struct ch_db *db, DB_TXN *txn, enum ch_limit_kind kind,
    const char *who, const struct ch_limit *l, int64_t now,
    unsigned int *retry)
{
	return limit_run(db, txn, kind, who, l, now, retry, 0);
}

/*
 * Sweep away the records of limit kind l (keys with its prefix only)
 * whose every event has left the window at now (ms): at most max of them
 * looked at, going on from where the last sweep of this process stopped;
 * *gone gets how many went.  0, or a Berkeley DB error.
 */
int
ch_limit_sweep(struct ch_db *db, DB_TXN *txn, enum ch_limit_kind kind,
    const struct ch_limit *l, int64_t now, unsigned int max, int *gone)
{
	static unsigned char from[CH_ADDR_MAX + CH_ID_LEN + 8];
	static size_t fromlen;
	unsigned char kbuf[sizeof(from)], raw[CH_LIMIT_BUCKETS * LIMIT_BUCKET_SIZE];
	int64_t window = (int64_t)l->seconds * 1000, last;
	unsigned int seen = 0;
	const char *pfx;
	size_t plen;
	DBC *c = NULL;
	DBT key, data;
	int ret, cret;

	*gone = 0;
	if ((unsigned)kind >= CH_LIMIT__MAX)
		return EINVAL;
	pfx = prefixes[kind];
	plen = strlen(pfx);
	if (fromlen < plen || memcmp(from, pfx, plen) != 0) {
		memcpy(from, pfx, plen); /* from the kind's first record */
		fromlen = plen;
	}
	if ((ret = db->limits->cursor(db->limits, txn, &c, 0)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	memcpy(kbuf, from, fromlen);
	key.data = kbuf;
	key.size = (uint32_t)fromlen;
	key.ulen = sizeof(kbuf);
	key.flags = DB_DBT_USERMEM;
	ch_db_dbt(&data, NULL, 0);
	data.data = raw;
	data.ulen = sizeof(raw);
	data.flags = DB_DBT_USERMEM;
	for (ret = c->get(c, &key, &data, DB_SET_RANGE | DB_RMW);
	    ret == 0 || ret == DB_BUFFER_SMALL;
	    ret = c->get(c, &key, &data, DB_NEXT | DB_RMW)) {
		if (key.size < plen || memcmp(kbuf, pfx, plen) != 0) {
			ret = DB_NOTFOUND; /* past the kind's records */
			break;
		}
		if (++seen > max) {
			/* stopped at max: begin here next time */
			if (key.size <= sizeof(from)) {
				memcpy(from, kbuf, key.size);
				fromlen = key.size;
			}
			ret = 0;
			break;
		}
		/* The newest bucket's last event is the record's last. */
		last = ret == 0 && data.size >= LIMIT_BUCKET_SIZE &&
		    data.size % LIMIT_BUCKET_SIZE == 0 ? (int64_t)ch_db_get_be64(
		    raw + data.size - LIMIT_BUCKET_SIZE + 8) : 0;
		if (last + window <= now) {
			if ((ret = c->del(c, 0)) != 0)
				break;
			(*gone)++;
		}
	}
	if (ret == DB_NOTFOUND) {
		fromlen = 0; /* the end: from the start next time */
		ret = 0;
	}
	if ((cret = c->close(c)) != 0 && ret == 0)
		ret = cret;
	return ret;
}
