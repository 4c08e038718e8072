/*
 * msg.c -- messages: the store, the message log, and the protocol that
 * posts one (ch_msg_post).
 *
 *   messages  be64(id) -> the message object, as the wire shows it
 *   meta      "messages" -> the last id given out (= messages stored)
 *
 * How a message is stored once, never lost, and streamed in order:
 *
 *  1. The poster takes an exclusive lock on $CHATR_VAR/run/messages.lock
 *     (flock; the kernel drops it if the poster dies).
 *  2. In one transaction it counts the post against the agent's limit,
 *     takes the next id from the counter and stores the message; then it
 *     commits.  The transaction runs again only while it has not
 *     committed (a commit whose outcome is unknown is looked up by its id
 *     and its exact text).
 *  3. Still under the lock it appends the message as one JSON line to
 *     $CHATR_VAR/messages.log with a single write(2), and unlocks.
 *  4. Before answering 200 it flushes the store's log to disk (the file
 *     system's journal merges concurrent posters' syncs).  What committed
 *     is answered as committed even when the flush fails, unless another
 *     process recovered the store under the commit (ch_db_durable): then
 *     the recovered store is asked whether it holds the message, and a
 *     message it lost is answered 503, never 200.
 *
 * Because ids are taken and appended under one lock, the log's ids
 * strictly increase.  A poster killed between 2 and 3 leaves a message
 * that is stored but not in the log: the relay sees the gap at the next
 * line (or its periodic look at the counter) and reads the message from
 * the store.  A write cut short (disk full) is truncated away; a line left
 * without its newline by a crash is closed by the next writer, so the
 * relay skips it and fills the gap from the store.  The relay drops ids
 * it has already sent, so every message reaches a client once, in order.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

/*
 * The wire object of a new message from agent a (content already valid),
 * with the given id and time (ms).  The caller puts it.
 */
struct json_object *
ch_msg_new(const struct ch_agent *a, uint64_t id, const char *content,
    size_t len, int64_t now)
{
	struct json_object *o;
	char idbuf[24], ts[32];

	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)id);
	if (ch_time_iso(now, ts, sizeof(ts)) != 0)
		snprintf(ts, sizeof(ts), "1970-01-01T00:00:00.000Z");
	if ((o = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	ch_json_addstr(o, "id", idbuf);
	ch_agent_public(o, a, "agentId", "agentName", -1);
	json_object_object_add(o, "content",
	    json_object_new_string_len(content, (int)len));
	ch_json_addstr(o, "timestamp", ts);
	return o;
}

/* The post's transaction: limit, next id, the record. */
static int
msg_post_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct ch_post *p = arg;
	struct json_object *o;
	unsigned char k[8];
	const char *text;
	DBT key, data;
	size_t tlen;
	uint64_t n;
	int ret;

	json_object_put(p->msg); /* from a try that did not commit */
	p->msg = NULL;
	p->id = 0;
	if ((ret = ch_limit_hit(db, txn, CH_LIMIT_MESSAGES, p->agent->id,
	    p->limit, p->now, &p->retry)) != 0)
		return ret;
	if ((ret = ch_db_counter_add(db, txn, "messages", 1, &n)) != 0)
		return ret;
	o = ch_msg_new(p->agent, n, p->content, p->len, p->now);
	text = ch_json_text(o, &tlen);
	ch_db_be64(k, n);
	ch_db_dbt(&key, k, sizeof(k));
	ch_db_dbt(&data, text, tlen);
	if ((ret = db->messages->put(db->messages, txn, &key, &data,
	    DB_NOOVERWRITE)) != 0) {
		json_object_put(o);
		return ret;
	}
	p->id = n;
	p->msg = o;
	return 0;
}

/* Did the post's last try commit?  Its id holds exactly its text. */
static int
msg_post_committed(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct ch_post *p = arg;
	unsigned char k[8];
	const char *text;
	DBT key, data;
	size_t tlen;
	int ret;

	if (p->msg == NULL)
		return 0;
	text = ch_json_text(p->msg, &tlen);
	ch_db_be64(k, p->id);
	ch_db_dbt(&key, k, sizeof(k));
	ch_db_dbt(&data, NULL, 0);
	data.flags = DB_DBT_MALLOC;
	ret = db->messages->get(db->messages, txn, &key, &data, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	ret = data.size == tlen && memcmp(data.data, text, tlen) == 0;
	free(data.data);
	return ret;
}

static const struct ch_txn msg_post_txn = {
	.run = msg_post_run,
	.committed = msg_post_committed,
};

/*
 * Post p (agent, content, now and limit set by the caller) with the whole
 * protocol above.  0 when stored: p->id and p->msg (the wire object,
 * freed by ch_msg_post_free) are set.  CH_LIMITED with p->retry the
 * seconds to wait; else a Berkeley DB error, CH_DB_UNAVAILABLE, or -1 when
 * the writers' lock cannot be taken: nothing was stored.
 */
int
ch_msg_post(struct ch_db *db, struct ch_msglog *ml, struct ch_post *p)
{
	const char *text;
	size_t len;
	int ret;

	p->msg = NULL;
	p->id = 0;
	p->retry = 0;
	if (ch_msglog_lock(ml) != 0)
		return -1;
	ret = ch_db_run(db, &msg_post_txn, p);
	if (ret == 0 && ch_db_recovered_under(db)) {
		/* The store was recovered under the commit: not logged, as
		 * it may be lost; if it is not, the relay reads it from the
		 * store (the log has gone on without it). */
		ch_msglog_unlock(ml);
		if ((ret = ch_db_durable(db, &msg_post_txn, p)) != 0) {
			json_object_put(p->msg);
			p->msg = NULL;
			p->id = 0;
		}
		return ret;
	}
	if (ret == 0) {
		text = ch_json_text(p->msg, &len);
		if (ch_msglog_append(ml, text, len) != 0)
			ch_log_err("message %llu stored but not logged; the "
			    "relay reads it from the store",
			    (unsigned long long)p->id);
	} else {
		json_object_put(p->msg);
		p->msg = NULL;
	}
	ch_msglog_unlock(ml);
	if (ret == 0) {
		ch_shared_changed(db->cfg); /* totalMessages */
		ch_metrics_count(db->cfg, CH_MET_POSTED);
	}
	if (ret == 0 && (ret = ch_db_durable(db, &msg_post_txn, p)) != 0) {
		json_object_put(p->msg);
		p->msg = NULL;
		p->id = 0;
	}
	return ret;
}

/* Free what ch_msg_post left in p. */
void
ch_msg_post_free(struct ch_post *p)
{
	json_object_put(p->msg);
	p->msg = NULL;
}

/*
 * Parse one line of the message log (len bytes, no newline): a message
 * object with a decimal id.  0 with *id and *out (a new reference) set;
 * -1 if the line is not one.
 */
int
ch_msg_parse_line(const char *line, size_t len, uint64_t *id,
    struct json_object **out)
{
	struct json_object *o = NULL;
	const char *ids;
	char *end, *cause = NULL;
	size_t n;
	unsigned long long v;

	if (ch_json_parse(line, len, &o, &cause) != 0) {
		free(cause);
		return -1;
	}
	if ((ids = ch_json_str(o, "id", &n)) == NULL || n == 0 || n > 20 ||
	    *ids < '1' || *ids > '9' || ch_json_str(o, "agentId", NULL) ==
	    NULL || ch_json_str(o, "content", NULL) == NULL)
		goto bad;
	errno = 0;
	v = strtoull(ids, &end, 10);
	if (errno != 0 || *end != '\0')
		goto bad;
	*id = v;
	*out = o;
	return 0;
bad:
	json_object_put(o);
	return -1;
}

/*
 * Call fn(arg, id, json, len) for stored messages with after < id <
 * before (before 0: no upper bound), at most limit of them: the oldest
 * ones when newest is 0, else the newest ones (still called oldest
 * first).  *more is set when there are others in that range.  fn returns
 * nonzero to stop.  flags: cursor flags such as DB_READ_UNCOMMITTED.
 */
int
ch_msg_range(struct ch_db *db, DB_TXN *txn, uint64_t after, uint64_t before,
    unsigned int limit, int newest, uint32_t flags,
    int (*fn)(void *, uint64_t, const char *, size_t), void *arg, int *more)
{
	struct {
		uint64_t id;
		char *json;
		size_t len;
	} *tmp = NULL;
	unsigned char k[8];
	DBC *c = NULL;
	DBT key, data;
	unsigned int n = 0, i;
	uint64_t id;
	int ret, cret;

	*more = 0;
	if (limit == 0)
		return 0;
	if ((ret = db->messages->cursor(db->messages, txn, &c, flags)) != 0)
		return ret;
	ch_db_dbt(&key, NULL, 0);
	ch_db_dbt(&data, NULL, 0);
	key.data = k;
	key.ulen = sizeof(k);
	key.flags = DB_DBT_USERMEM;
	data.flags = DB_DBT_REALLOC; /* one buffer for the walk, ours */
	if (newest) {
		tmp = ch_xcalloc(limit, sizeof(*tmp));
		if (before != 0) {
			ch_db_be64(k, before);
			key.size = sizeof(k);
			ret = c->get(c, &key, &data, DB_SET_RANGE);
			if (ret == 0)
				ret = c->get(c, &key, &data, DB_PREV);
			else if (ret == DB_NOTFOUND)
				ret = c->get(c, &key, &data, DB_LAST);
		} else
			ret = c->get(c, &key, &data, DB_LAST);
		for (; ret == 0; ret = c->get(c, &key, &data, DB_PREV)) {
			if (key.size != 8) {
				ret = EINVAL;
				break;
			}
			id = ch_db_get_be64(k);
			if (id <= after)
				break;
			if (n == limit) {
				*more = 1;
				break;
			}
			tmp[n].id = id;
			tmp[n].json = ch_xstrndup(data.data, data.size);
			tmp[n].len = data.size;
			n++;
		}
		if (ret == DB_NOTFOUND)
			ret = 0;
		for (i = n; ret == 0 && i > 0; i--)
			if (fn(arg, tmp[i - 1].id, tmp[i - 1].json,
			    tmp[i - 1].len) != 0)
				break;
		for (i = 0; i < n; i++)
			free(tmp[i].json);
		free(tmp);
	} else {
		ch_db_be64(k, after + 1);
		key.size = sizeof(k);
		for (ret = c->get(c, &key, &data, DB_SET_RANGE); ret == 0;
		    ret = c->get(c, &key, &data, DB_NEXT)) {
			if (key.size != 8) {
				ret = EINVAL;
				break;
			}
			id = ch_db_get_be64(k);
			if (before != 0 && id >= before)
				break;
			if (n == limit) {
				*more = 1;
				break;
			}
			n++;
			if (fn(arg, id, data.data, data.size) != 0)
				break;
		}
		if (ret == DB_NOTFOUND)
			ret = 0;
	}
	free(data.data);
	if ((cret = c->close(c)) != 0 && ret == 0)
		ret = cret;
	return ret;
}

/* Open (or reopen after rotation) the message log for appending. */
static int
msg_log_open(struct ch_msglog *ml)
{
	struct stat st;
	int fd;

	if ((fd = open(ml->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) < 0) {
		ch_log_err("open %s: %s", ml->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		ch_log_err("fstat %s: %s", ml->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (ml->fd >= 0)
		close(ml->fd);
	ml->fd = fd;
	ml->dev = st.st_dev;
	ml->ino = st.st_ino;
	return 0;
}

/* Set up a message log writer for cfg (nothing is opened yet). */
void
ch_msglog_init(struct ch_msglog *ml, const struct ch_cfg *cfg)
{
	memset(ml, 0, sizeof(*ml));
	ml->fd = ml->lockfd = -1;
	ml->path = cfg->msglog;
	ml->lockpath = cfg->msglock;
	ml->cfg = cfg;
}

/* Close the writer's files. */
void
ch_msglog_close(struct ch_msglog *ml)
{
	if (ml->fd >= 0)
		close(ml->fd);
	if (ml->lockfd >= 0)
		close(ml->lockfd);
	ml->fd = ml->lockfd = -1;
}

/* Take the writers' lock (blocking).  0 on success. */
int
ch_msglog_lock(struct ch_msglog *ml)
{
	if (ml->lockfd < 0 && (ml->lockfd = open(ml->lockpath,
	    O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		ch_log_err("open %s: %s", ml->lockpath, strerror(errno));
		return -1;
	}
	while (flock(ml->lockfd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		ch_log_err("flock %s: %s", ml->lockpath, strerror(errno));
		return -1;
	}
	return 0;
}

/* Release the writers' lock. */
void
ch_msglog_unlock(struct ch_msglog *ml)
{
	if (ml->lockfd >= 0 && flock(ml->lockfd, LOCK_UN) != 0)
		ch_log_err("unlock %s: %s", ml->lockpath, strerror(errno));
}

/*
 * Append line (len bytes, no newline) and a newline to the log as one
 * write, under the writers' lock.  Follows rotation (the file renamed or
 * removed) by reopening; closes a line a dead writer left unfinished.
 * Where the last whole append ended is kept in the shared memory, so the
 * log's last byte is read only when the file does not end there.  0 on
 * success; on failure the log is left as it was.
 */
int
ch_msglog_append(struct ch_msglog *ml, const char *line, size_t len)
{
	struct ch_shared *sh = ch_shared(ml->cfg);
	struct stat st;
	char *buf, last;
	size_t n;
	ssize_t w;

	if (ml->fd < 0 && msg_log_open(ml) != 0)
		return -1;
	/* (the path's stat is the open file's while nobody has moved it) */
	if (stat(ml->path, &st) != 0 || st.st_dev != ml->dev ||
	    st.st_ino != ml->ino) {
		if (msg_log_open(ml) != 0)
			return -1;
		if (fstat(ml->fd, &st) != 0) {
			ch_log_err("fstat %s: %s", ml->path, strerror(errno));
			return -1;
		}
	}
	buf = ch_xmalloc(len + 2);
	n = 0;
	if (st.st_size > 0 && (sh->log_dev != (uint64_t)st.st_dev ||
	    sh->log_ino != (uint64_t)st.st_ino ||
	    sh->log_end != (uint64_t)st.st_size) &&
	    (pread(ml->fd, &last, 1, st.st_size - 1) != 1 || last != '\n'))
		buf[n++] = '\n';
	memcpy(buf + n, line, len);
	n += len;
	buf[n++] = '\n';
	do
		w = write(ml->fd, buf, n);
	while (w < 0 && errno == EINTR);
	free(buf);
	if (w == (ssize_t)n) {
		sh->log_dev = (uint64_t)st.st_dev;
		sh->log_ino = (uint64_t)st.st_ino;
		sh->log_end = (uint64_t)st.st_size + n;
		return 0;
	}
	ch_log_err("append to %s: %s", ml->path,
	    w < 0 ? strerror(errno) : "short write");
	if (w > 0 && ftruncate(ml->fd, st.st_size) != 0)
		ch_log_err("truncate %s: %s", ml->path, strerror(errno));
	return -1;
}
