/*
 * tail.c -- following $CHATR_VAR/messages.log.
 *
 * inotify reports changes to the file and to its directory; on each (and
 * once a second regardless) the relay reads what is new.  Rotation is
 * followed: when the path names another file (renamed and recreated) the
 * old one is read to its end first, then the new one from its start; a
 * file that shrank (truncated) is read again from its start.
 *
 * Each complete line is one message object (ch_msg_parse_line).  Ids only
 * grow: a line at or below the newest id received is a duplicate and is
 * skipped; a line above the next id means messages are missing from the
 * log (a poster died between its commit and its append), and they are
 * read from the store first (hub_fill).  A periodic look at the store's
 * committed counter catches such a message when no line follows it.
 */
#include "config.h"

#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

#define TAIL_CHUNK 65536
#define TAIL_LINE_MAX 65536

static struct {
	int ifd;
	int dirwd;
	int filewd;
	int fd;
	dev_t dev;
	ino_t ino;
	off_t off;
	struct ch_buf part; /* an incomplete last line */
	char *dir;
} tail = {-1, -1, -1, -1, 0, 0, 0, {NULL, 0, 0}, NULL};

/* One complete line of the log. */
static void
tail_line(const char *line, size_t len)
{
	struct json_object *o;
	const char *text;
	uint64_t id;
	size_t tlen;

	if (len == 0)
		return;
	if (ch_msg_parse_line(line, len, &id, &o) != 0) {
		ch_log_warn("skipping a malformed line in the message log");
		return;
	}
	/*
	 * A gap: messages committed but not logged come first.  If the store
	 * cannot give them now, this one waits too (it is in the store, and
	 * the look at the committed counter brings them all, in order).
	 */
	if (id > hub.last_id + 1 && hub_fill(id - 1) != 0)
		ch_log_info("message %llu waits for the store",
		    (unsigned long long)id);
	else if (id == hub.last_id + 1) {
		text = ch_json_text(o, &tlen);
		hub_message(id, text, tlen);
	}
	json_object_put(o);
}

/* Read the current file from the offset to its end. */
static void
tail_read(void)
{
	struct stat st;
	char *buf, *p, *nl;
	ssize_t r;
	size_t start;

	if (tail.fd < 0)
		return;
	if (fstat(tail.fd, &st) == 0 && st.st_size < tail.off) {
		ch_log_info("message log truncated; reading from its start");
		tail.off = 0;
		ch_buf_reset(&tail.part);
	}
	buf = ch_xmalloc(TAIL_CHUNK);
	for (;;) {
		r = pread(tail.fd, buf, TAIL_CHUNK, tail.off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				ch_log_err("reading the message log: %s",
				    strerror(errno));
			break;
		}
		tail.off += r;
		ch_buf_add(&tail.part, buf, (size_t)r);
		start = 0;
		while ((nl = memchr(tail.part.data + start, '\n',
		    tail.part.len - start)) != NULL) {
			p = tail.part.data + start;
			tail_line(p, (size_t)(nl - p));
			start = (size_t)(nl - tail.part.data) + 1;
		}
		if (start > 0) {
			memmove(tail.part.data, tail.part.data + start,
			    tail.part.len - start);
			tail.part.len -= start;
			tail.part.data[tail.part.len] = '\0';
		}
		if (tail.part.len > TAIL_LINE_MAX) {
			ch_log_warn("skipping an overlong line in the message "
			    "log");
			ch_buf_reset(&tail.part);
		}
	}
	free(buf);
}

/* (Re)open the log at path; at_end: start reading at its current end. */
static int
tail_reopen(int at_end)
{
	struct stat st;
	int fd;

	if ((fd = open(hub.cfg.msglog, O_RDONLY | O_CREAT | O_CLOEXEC,
	    0644)) < 0) {
		ch_log_err("open %s: %s", hub.cfg.msglog, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	if (tail.fd >= 0)
		close(tail.fd);
	/* The watch may be gone already, with its file. */
	if (tail.filewd >= 0 && inotify_rm_watch(tail.ifd, tail.filewd) != 0)
		ch_log_debug("inotify_rm_watch: %s", strerror(errno));
	tail.fd = fd;
	tail.dev = st.st_dev;
	tail.ino = st.st_ino;
	tail.off = at_end ? st.st_size : 0;
	ch_buf_reset(&tail.part);
	tail.filewd = inotify_add_watch(tail.ifd, hub.cfg.msglog,
	    IN_MODIFY | IN_ATTRIB);
	if (tail.filewd < 0)
		ch_log_warn("inotify on %s: %s", hub.cfg.msglog,
		    strerror(errno));
	return 0;
}

/* Read what is new, following rotation and truncation. */
void
tail_check(void)
{
	struct stat st;

	tail_read();
	if (stat(hub.cfg.msglog, &st) != 0) {
		if (errno != ENOENT)
			ch_log_err("stat %s: %s", hub.cfg.msglog,
			    strerror(errno));
		return; /* rotated away; wait for the writers' new file */
	}
	if (tail.fd < 0 || st.st_dev != tail.dev || st.st_ino != tail.ino) {
		ch_log_info("message log rotated; following the new file");
		if (tail_reopen(0) == 0)
			tail_read();
	}
}

/* inotify has something: drain it and read. */
void
tail_event(struct loop *l, int fd, void *arg, int mask)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct
	    inotify_event))));
	ssize_t r;

	(void)l;
	(void)arg;
	(void)mask;
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
	tail_check();
}

/* The store's counters: the newest message, and the newest deletion. */
struct counters {
	uint64_t messages, deletes;
};

static int
tail_counter_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct counters *n = arg;
	int ret;

	if ((ret = ch_db_counter_get(db, txn, "messages", &n->messages)) != 0)
		return ret;
	return ch_db_counter_get(db, txn, "deletes", &n->deletes);
}

/* The committed counter: never waits for a poster's lock. */
static const struct ch_txn counter_txn = {
	.run = tail_counter_run,
	.flags = DB_READ_COMMITTED,
	.budget_ms = -1,
};

/*
 * Messages committed but not in the log (their poster died before it
 * appended, and no line followed): compare the store's committed counter
 * with the newest message received.  And deletions (chatrctl delete):
 * compare the store's count of them with the newest applied.  0 on
 * success or when busy.
 */
int
tail_store_check(void)
{
	struct counters n;
	int ret;

	ret = ch_db_run(&hub.db, &counter_txn, &n);
	if (ret == DB_LOCK_NOTGRANTED || ret == DB_LOCK_DEADLOCK)
		return 0;
	if (ret != 0)
		return ret;
	if (n.deletes > hub.deletes_seen)
		hub_deletes(n.deletes);
	if (n.messages > hub.last_id)
		hub_fill(n.messages);
	return 0;
}

/*
 * Start following: watch the log and its directory, start at the log's
 * end, then load the newest messages from the store (so nothing is missed
 * between the two).  The inotify descriptor is returned for the loop.
 */
int
tail_open(void)
{
	static const struct ch_txn first_txn = {
		.run = tail_counter_run,
		.flags = DB_READ_COMMITTED,
	};
	struct counters c = {0, 0};
	uint64_t n;
	char *copy;
	int ret, try;

	if ((tail.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		ch_log_err("inotify_init1: %s", strerror(errno));
		return -1;
	}
	copy = ch_xstrdup(hub.cfg.msglog);
	tail.dir = ch_xstrdup(dirname(copy));
	free(copy);
	tail.dirwd = inotify_add_watch(tail.ifd, tail.dir, IN_CREATE |
	    IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE);
	if (tail.dirwd < 0)
		ch_log_warn("inotify on %s: %s", tail.dir, strerror(errno));
	if (tail_reopen(1) != 0)
		return -1;
	/* A new replica has no store until its first copy arrives. */
	for (try = 0; (ret = ch_db_run(&hub.db, &first_txn, &c)) ==
	    CH_DB_UNAVAILABLE && ch_cfg_replicated(&hub.cfg) && try < 120;
	    try++)
		ch_log_info("waiting for the store");
	if (ret != 0) {
		ch_log_err("reading the message counter: %s", db_strerror(ret));
		return -1;
	}
	/* What was deleted before is not in the store: the pages below do
	 * not hold it. */
	n = c.messages;
	hub.deletes_seen = c.deletes;
	hub.last_id = n > RELAY_RING ? n - RELAY_RING : 0;
	for (try = 0; hub.last_id < n; try++) {
		if (hub_fill(n) == 0)
			continue;
		if (try == 1000) {
			ch_log_err("cannot read the newest messages");
			return -1;
		}
		ch_db_backoff(try); /* startup may wait a little */
	}
	ch_log_info("following %s from message %llu", hub.cfg.msglog,
	    (unsigned long long)n);
	return tail.ifd;
}

void
tail_close(void)
{
	if (tail.fd >= 0)
		close(tail.fd);
	if (tail.ifd >= 0)
		close(tail.ifd);
	tail.fd = tail.ifd = -1;
	ch_buf_free(&tail.part);
	free(tail.dir);
	tail.dir = NULL;
}
