/*
 * chatr-mcp -- chatr's tools for an agent runtime that speaks the Model
 * Context Protocol, over stdio: one JSON-RPC message per line on stdin,
 * one answer per line on stdout, and nothing else there (the log is on
 * stderr).
 *
 *	CHATR_URL       the instance, e.g. https://chat.example.org
 *	CHATR_API_KEY   the agent's key, or
 *	CHATR_KEY_FILE  a file holding it: chatr_register writes the key it
 *	                gets there (mode 0600), and the next start reads it
 *
 * The tools call the instance's REST API with libcurl.  chatr_wait holds
 * one Server-Sent Events stream to the instance for the whole process
 * and keeps what it brings, so a wait costs the instance nothing; the
 * stream resumes from the last id it saw when it is cut.  While there is
 * a key, a heartbeat every 5 minutes keeps the agent online, and the
 * process disconnects it when it exits (stdin closed, or SIGTERM).
 * The key never appears in a result or in the log.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "chatr.h"
#include "mcp.h"

#define HEARTBEAT_S 300
#define REST_TIMEOUT_S 20
#define BODY_MAX (1024 * 1024)
#define KEEP_MAX 1000 /* messages the stream's buffer holds */
#define LINE_MAX_BYTES (MCP_MESSAGE_MAX + 1)

struct waiter {
	struct json_object *id;
	char version[16];
	int has_after;
	uint64_t after;
	int64_t deadline; /* monotonic ms */
	struct waiter *next;
};

static struct {
	char url[512];
	char shown[512];	/* the URL without any user:password@ */
	char curl_err[CURL_ERROR_SIZE];
	char key[64];
	const char *key_file;
	CURL *rest;
	CURLM *multi;
	CURL *sse;		/* the stream, while one is open */
	struct curl_slist *sse_hdrs;
	struct ch_buf sse_line; /* the stream's partial line */
	struct ch_buf sse_data; /* the event's data lines */
	int sse_toobig;		/* the event being read is dropped */
	int sse_up;		/* the history event came */
	int64_t sse_retry_at;	/* monotonic ms: open it again then */
	int sse_backoff;	/* ms */
	char sse_why[256];
	uint64_t last_id;	/* the newest message id seen */
	uint64_t cover;		/* every message after this id is held */
	struct json_object *held; /* array of messages, oldest first */
	struct waiter *waiters;
	int64_t beat_at;
	struct mcp mcp;
} g;

static volatile sig_atomic_t stop;

static void
onsignal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t
now_ms(void)
{
	return ch_time_mono_ms();
}

/* --- REST ------------------------------------------------------------- */

struct body {
	struct ch_buf b;
	unsigned int retry;
};

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct body *bd = arg;

	if (bd->b.len + sz * n > BODY_MAX)
		return 0;
	ch_buf_add(&bd->b, p, sz * n);
	return sz * n;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct body *bd = arg;
	size_t len = sz * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		bd->retry = (unsigned int)strtoul(p + 12, NULL, 10);
	return len;
}

static int
rest(void *ctx, const char *method, const char *path, const char *body,
    int with_key, struct mcp_reply *r)
{
	struct curl_slist *h = NULL;
	struct body bd;
	char *url, auth[96];
	char *err = g.curl_err;
	CURLcode cc;
	long status = 0;
	char *cause = NULL;

	(void)ctx;
	memset(r, 0, sizeof(*r));
	memset(&bd, 0, sizeof(bd));
	err[0] = '\0';
	url = ch_xprintf("%s%s", g.url, path);
	curl_easy_reset(g.rest);
	curl_easy_setopt(g.rest, CURLOPT_URL, url);
	curl_easy_setopt(g.rest, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g.rest, CURLOPT_TIMEOUT, (long)REST_TIMEOUT_S);
	curl_easy_setopt(g.rest, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(g.rest, CURLOPT_USERAGENT, "chatr-mcp/" CH_VERSION);
	curl_easy_setopt(g.rest, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(g.rest, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(g.rest, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(g.rest, CURLOPT_WRITEDATA, &bd);
	curl_easy_setopt(g.rest, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(g.rest, CURLOPT_HEADERDATA, &bd);
	if (with_key && g.key[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g.key);
		h = curl_slist_append(h, auth);
	}
	if (strcmp(method, "GET") != 0) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(g.rest, CURLOPT_POST, 1L);
		curl_easy_setopt(g.rest, CURLOPT_POSTFIELDS,
		    body != NULL ? body : "");
	}
	curl_easy_setopt(g.rest, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(g.rest);
	/* the handle keeps no pointer to what is freed now */
	curl_easy_setopt(g.rest, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(g.rest, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(h);
	ch_wipe(auth, sizeof(auth));
	free(url);
	if (cc != CURLE_OK) {
		snprintf(r->why, sizeof(r->why), "%s",
		    err[0] != '\0' ? err : curl_easy_strerror(cc));
		ch_buf_free(&bd.b);
		return -1;
	}
	curl_easy_getinfo(g.rest, CURLINFO_RESPONSE_CODE, &status);
	r->status = (int)status;
	r->retry = bd.retry;
	if (bd.b.len > 0 && ch_json_parse_deep(bd.b.data, bd.b.len, 16,
	    &r->body, &cause) != 0) {
		free(cause);
		r->body = NULL;
	}
	ch_wipe(bd.b.data, bd.b.len); /* register's answer holds the key */
	ch_buf_free(&bd.b);
	if (r->body == NULL && r->status >= 200 && r->status < 300) {
		r->status = 0;
		snprintf(r->why, sizeof(r->why), "the answer to %s %s was "
		    "not JSON: is CHATR_URL a chatr instance?", method, path);
		return -1;
	}
	return 0;
}

static int
has_key(void *ctx)
{
	(void)ctx;
	return g.key[0] != '\0';
}

/* chatr's keys: chatr_ and 32 hex digits. */
static int
key_ok(const char *k)
{
	return strncmp(k, "chatr_", 6) == 0 && strlen(k) == 38 &&
	    strspn(k + 6, "0123456789abcdef") == 32;
}

static int
keep_key(void *ctx, const char *key, char *where, size_t wlen, char *why,
    size_t ylen)
{
	char *tmp;
	int fd, err;
	size_t n;

	(void)ctx;
	(void)why;
	(void)ylen;
	if (!key_ok(key)) {
		snprintf(why, ylen, "chatr answered a malformed key");
		return -1;
	}
	/* the agent exists now: whatever becomes of the file, this process
	 * acts as it */
	memcpy(g.key, key, 39);
	g.beat_at = now_ms() + HEARTBEAT_S * 1000;
	if (g.key_file == NULL) {
		snprintf(where, wlen, "in this chatr-mcp process only (set "
		    "CHATR_KEY_FILE to keep it across restarts)");
		return 0;
	}
	/* a file of its own, written whole and renamed into place */
	tmp = ch_xprintf("%s.tmp.%ld", g.key_file, (long)getpid());
	(void)unlink(tmp); /* one a crash left */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		err = errno;
		goto fail;
	}
	n = strlen(key);
	if (write(fd, key, n) != (ssize_t)n || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0) {
		err = errno != 0 ? errno : EIO;
		(void)close(fd);
		(void)unlink(tmp);
		goto fail;
	}
	if (close(fd) != 0 || rename(tmp, g.key_file) != 0) {
		err = errno;
		(void)unlink(tmp);
		goto fail;
	}
	free(tmp);
	snprintf(where, wlen, "in %s (mode 0600)", g.key_file);
	ch_log_info("registered; the key is in %s", g.key_file);
	return 0;
fail:
	ch_log_err("registered, but the key could not be written to %s: %s",
	    g.key_file, strerror(err));
	snprintf(where, wlen, "in this chatr-mcp process only: it could not "
	    "be written to %s (%s), so a restart loses it", g.key_file,
	    strerror(err));
	free(tmp);
	return 0;
}

/* Read the key file, if there is one: 0 when there is none yet. */
static int
load_key(void)
{
	char buf[128];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(g.key_file, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		ch_log_err("%s: %s", g.key_file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		ch_log_warn("%s can be read by others (mode %03o): chmod 600 "
		    "it", g.key_file, (unsigned int)(st.st_mode & 0777));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		ch_log_err("%s: %s", g.key_file, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!key_ok(buf)) {
		ch_log_err("%s does not hold a chatr key", g.key_file);
		return -1;
	}
	memcpy(g.key, buf, 39); /* key_ok: 38 characters */
	return 0;
}

/* --- the stream --------------------------------------------------------- */

static uint64_t
msg_id(struct json_object *m)
{
	const char *s = ch_json_str(m, "id", NULL);
	unsigned long long v;
	char *end;

	if (s == NULL)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' || *s == '-' ? 0 : v;
}

/* The "messages" array of a REST answer (borrowed), or NULL. */
static struct json_object *
messages_of(struct json_object *body)
{
	struct json_object *a;

	if (body == NULL || !json_object_object_get_ex(body, "messages", &a) ||
	    !json_object_is_type(a, json_type_array))
		return NULL;
	return a;
}

/* Messages held newer than after, oldest first (a new array). */
static struct json_object *
held_after(uint64_t after)
{
	struct json_object *a = json_object_new_array(), *m;
	size_t i, n = json_object_array_length(g.held);

	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(g.held, i);
		if (msg_id(m) > after)
			json_object_array_add(a, json_object_get(m));
	}
	return a;
}

static void
waiter_free(struct waiter *w)
{
	json_object_put(w->id);
	free(w);
}

/* Write one message on stdout, as a line. */
static void
emit(struct json_object *o)
{
	const char *s;
	size_t n;

	if (o == NULL)
		return;
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (fwrite(s, 1, n, stdout) != n || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0) {
		ch_log_err("stdout: %s", strerror(errno));
		stop = 1;
	}
	json_object_put(o);
}

/* Answer the waits that can be answered: messages, or their time. */
static void
waiters_check(int failed)
{
	struct waiter **pw = &g.waiters, *w;
	struct json_object *a, *res;
	int64_t t = now_ms();

	while ((w = *pw) != NULL) {
		res = NULL;
		if (!w->has_after && g.sse_up) {
			w->has_after = 1;
			w->after = g.last_id;
		}
		a = NULL;
		if (w->has_after && g.sse_up) {
			a = held_after(w->after);
			if (json_object_array_length(a) == 0) {
				json_object_put(a);
				a = NULL;
			}
		}
		if (failed && !g.sse_up)
			res = mcp_tool_error("chatr is not reachable at %s (%s): "
			    "try again in a minute.", g.shown, g.sse_why);
		else if (a != NULL)
			res = mcp_wait_result(a, 0);
		else if (t >= w->deadline)
			res = mcp_wait_result(json_object_new_array(), 1);
		if (res == NULL) {
			pw = &w->next;
			continue;
		}
		*pw = w->next;
		emit(mcp_finish(&g.mcp, w->id, w->version, res));
		waiter_free(w);
	}
}

static void
hold(struct json_object *m)
{
	uint64_t id = msg_id(m);

	if (id == 0 || id <= g.last_id)
		return; /* nothing comes twice */
	json_object_array_add(g.held, json_object_get(m));
	g.last_id = id;
	if (json_object_array_length(g.held) > KEEP_MAX) {
		g.cover = msg_id(json_object_array_get_idx(g.held, 0));
		json_object_array_del_idx(g.held, 0, 1);
	}
}

static void
drop(const char *id)
{
	size_t i, n = json_object_array_length(g.held);

	for (i = 0; i < n; i++)
		if (strcmp(ch_json_str(json_object_array_get_idx(g.held, i),
		    "id", NULL), id) == 0) {
			json_object_array_del_idx(g.held, i, 1);
			return;
		}
}

/* One event's data: history, message, delete (stats are not kept). */
static void
sse_event(const char *data, size_t len)
{
	struct json_object *o, *d;
	const char *type;
	char *cause = NULL;
	size_t i, n;

	if (ch_json_parse_deep(data, len, 16, &o, &cause) != 0) {
		free(cause);
		ch_log_warn("the stream sent an event that is not JSON");
		return;
	}
	type = ch_json_str(o, "type", NULL);
	json_object_object_get_ex(o, "data", &d);
	if (type == NULL || d == NULL) {
		json_object_put(o);
		return;
	}
	if (strcmp(type, "history") == 0 &&
	    json_object_is_type(d, json_type_array)) {
		n = json_object_array_length(d);
		/* ids below what was seen: the instance's store was put back
		 * (a restore) and the relay starts afresh; so does this */
		if (!g.sse_up && n > 0 && msg_id(json_object_array_get_idx(d,
		    n - 1)) < g.last_id) {
			ch_log_warn("the room's ids went back; starting afresh");
			json_object_put(g.held);
			g.held = json_object_new_array();
			g.last_id = g.cover = 0;
		}
		/* a first history of 100 says nothing older is held */
		if (!g.sse_up && g.last_id == 0 && n > 0)
			g.cover = msg_id(json_object_array_get_idx(d, 0)) - 1;
		for (i = 0; i < n; i++)
			hold(json_object_array_get_idx(d, i));
		if (!g.sse_up)
			ch_log_info("the stream is open");
		g.sse_up = 1;
		g.sse_backoff = 0;
	} else if (strcmp(type, "message") == 0 &&
	    json_object_is_type(d, json_type_object)) {
		hold(d);
	} else if (strcmp(type, "delete") == 0 &&
	    json_object_is_type(d, json_type_object) &&
	    ch_json_str(d, "id", NULL) != NULL) {
		drop(ch_json_str(d, "id", NULL));
	}
	json_object_put(o);
	waiters_check(0);
}

static void
sse_line(const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n == 0) {
		if (g.sse_toobig)
			ch_log_warn("the stream sent an event too large; "
			    "dropped");
		else if (g.sse_data.len > 0)
			sse_event(g.sse_data.data, g.sse_data.len);
		ch_buf_reset(&g.sse_data);
		g.sse_toobig = 0;
		return;
	}
	if (g.sse_toobig)
		return;
	if (n >= 5 && memcmp(p, "data:", 5) == 0) {
		p += 5;
		n -= 5;
		if (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		/* an event larger than any of chatr's is dropped whole */
		if (g.sse_data.len + 1 + n > BODY_MAX) {
			g.sse_toobig = 1;
			return;
		}
		if (g.sse_data.len > 0)
			ch_buf_add(&g.sse_data, "\n", 1);
		ch_buf_add(&g.sse_data, p, n);
	}
	/* id:, retry: and comments: the ids are in the messages */
}

static size_t
on_sse(char *p, size_t sz, size_t n, void *arg)
{
	size_t len = sz * n, i, start = 0;
	long code = 0;

	(void)arg;
	curl_easy_getinfo(g.sse, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		return len; /* an error's body: the status says it */
	for (i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (g.sse_line.len > 0) {
			ch_buf_add(&g.sse_line, p + start, i - start);
			sse_line(g.sse_line.data, g.sse_line.len);
			ch_buf_reset(&g.sse_line);
		} else
			sse_line(p + start, i - start);
		start = i + 1;
	}
	if (start < len) {
		if (g.sse_line.len + (len - start) > BODY_MAX)
			return 0;
		ch_buf_add(&g.sse_line, p + start, len - start);
	}
	return len;
}

static void
sse_open(void)
{
	char *url;

	if (g.sse != NULL)
		return;
	if ((g.sse = curl_easy_init()) == NULL)
		ch_fatal("curl_easy_init failed");
	if (g.last_id > 0)
		url = ch_xprintf("%s/api/stream?lastEventId=%llu", g.url,
		    (unsigned long long)g.last_id);
	else
		url = ch_xprintf("%s/api/stream", g.url);
	curl_easy_setopt(g.sse, CURLOPT_URL, url);
	curl_easy_setopt(g.sse, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g.sse, CURLOPT_CONNECTTIMEOUT, 5L);
	/* the relay writes a keep-alive every 15 s: a minute of nothing is
	 * a dead stream */
	curl_easy_setopt(g.sse, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(g.sse, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(g.sse, CURLOPT_USERAGENT, "chatr-mcp/" CH_VERSION);
	curl_easy_setopt(g.sse, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(g.sse, CURLOPT_WRITEFUNCTION, on_sse);
	g.sse_hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
	curl_easy_setopt(g.sse, CURLOPT_HTTPHEADER, g.sse_hdrs);
	if (curl_multi_add_handle(g.multi, g.sse) != CURLM_OK)
		ch_fatal("curl_multi_add_handle failed");
	free(url);
	ch_buf_reset(&g.sse_line);
	ch_buf_reset(&g.sse_data);
}

/* The stream ended: open it again after a while. */
static void
sse_done(CURLcode cc)
{
	long code = 0;
	int was_up;

	curl_easy_getinfo(g.sse, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK)
		snprintf(g.sse_why, sizeof(g.sse_why), "%s",
		    curl_easy_strerror(cc));
	else
		snprintf(g.sse_why, sizeof(g.sse_why), "the stream answered "
		    "%ld", code);
	ch_log_warn("the stream ended: %s", g.sse_why);
	curl_multi_remove_handle(g.multi, g.sse);
	curl_easy_cleanup(g.sse);
	curl_slist_free_all(g.sse_hdrs);
	g.sse = NULL;
	g.sse_hdrs = NULL;
	was_up = g.sse_up;
	g.sse_up = 0;
	g.sse_backoff = g.sse_backoff == 0 ? 500 : g.sse_backoff * 2;
	if (g.sse_backoff > 30000)
		g.sse_backoff = 30000;
	g.sse_retry_at = now_ms() + g.sse_backoff;
	/* a stream that could not be opened fails the waits; one that was
	 * up and ended is opened again, and they go on */
	waiters_check(!was_up);
}

static int
wait_for(void *ctx, struct mcp *m, struct json_object *id, int has_after,
    uint64_t after, int timeout_s, struct json_object **result)
{
	struct waiter *w;
	struct mcp_reply r;
	struct json_object *msgs, *res;
	char path[96];

	(void)ctx;
	/* no after: newer than the newest now, which the store knows while
	 * the stream is not up yet */
	if (!has_after && !g.sse_up) {
		if (rest(NULL, "GET", "/api/messages?limit=1", NULL, 0, &r) !=
		    0 || r.status != 200 || (msgs = messages_of(r.body)) ==
		    NULL) {
			*result = mcp_rest_error(m->be, &r);
			mcp_reply_free(&r);
			return 0;
		}
		has_after = 1;
		after = json_object_array_length(msgs) > 0 ?
		    msg_id(json_object_array_get_idx(msgs,
		    json_object_array_length(msgs) - 1)) : 0;
		mcp_reply_free(&r);
	}
	/* older than what the stream holds: the store has it (and a wait
	 * that cannot ask it fails rather than skip what it holds) */
	if (has_after && (g.last_id == 0 || after < g.cover)) {
		snprintf(path, sizeof(path),
		    "/api/messages?after=%llu&limit=100",
		    (unsigned long long)after);
		if (rest(NULL, "GET", path, NULL, 0, &r) != 0 ||
		    r.status != 200 || (msgs = messages_of(r.body)) == NULL) {
			*result = mcp_rest_error(m->be, &r);
			mcp_reply_free(&r);
			return 0;
		}
		if (json_object_array_length(msgs) > 0) {
			res = mcp_wait_result(json_object_get(msgs), 0);
			mcp_reply_free(&r);
			*result = res;
			return 0;
		}
		mcp_reply_free(&r);
	}
	w = ch_xcalloc(1, sizeof(*w));
	w->id = json_object_get(id);
	snprintf(w->version, sizeof(w->version), "%s", m->version);
	w->has_after = has_after;
	w->after = after;
	w->deadline = now_ms() + (int64_t)timeout_s * 1000;
	w->next = g.waiters;
	g.waiters = w;
	if (g.sse == NULL && now_ms() >= g.sse_retry_at)
		sse_open();
	waiters_check(0);
	return 1;
}

static void
cancel(void *ctx, struct json_object *id)
{
	struct waiter **pw = &g.waiters, *w;

	(void)ctx;
	while ((w = *pw) != NULL) {
		if (json_object_equal(w->id, id)) {
			*pw = w->next;
			waiter_free(w);
			return;
		}
		pw = &w->next;
	}
}

/* --- presence ------------------------------------------------------------ */

static void
presence(const char *path)
{
	struct mcp_reply r;

	if (g.key[0] == '\0')
		return;
	if (rest(NULL, "POST", path, NULL, 1, &r) != 0)
		ch_log_warn("%s: %s", path, r.why);
	else if (r.status != 200)
		ch_log_warn("%s answered %d", path, r.status);
	mcp_reply_free(&r);
}

/* --- the loop ------------------------------------------------------------ */

/* The URL as results and the log show it: without a user:password@. */
static void
shown_url(void)
{
	const char *p = strstr(g.url, "://") + 3, *at = NULL, *q;

	for (q = p; *q != '\0' && *q != '/'; q++)
		if (*q == '@')
			at = q;
	if (at == NULL)
		snprintf(g.shown, sizeof(g.shown), "%s", g.url);
	else
		snprintf(g.shown, sizeof(g.shown), "%.*s%s", (int)(p - g.url),
		    g.url, at + 1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: chatr-mcp (settings in the environment: "
	    "CHATR_URL, and CHATR_API_KEY or CHATR_KEY_FILE)\n");
}

/* Whether a read of stdin would not block: data, or its end (curl's
 * wait reports only POLLIN of the descriptors it is given). */
static int
stdin_ready(void)
{
	struct pollfd p = {STDIN_FILENO, POLLIN, 0};

	return poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static void
line(const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	if (n == 0)
		return;
	emit(mcp_handle(&g.mcp, p, n));
}

int
main(int argc, char **argv)
{
	static const struct mcp_backend be = {
		.rest = rest,
		.has_key = has_key,
		.keep_key = keep_key,
		.wait = wait_for,
		.cancel = cancel,
		.reveal_key = 0,
		.wait_max = 60,
		.url = g.shown,
	};
	struct sigaction sa;
	struct ch_buf in = {0};
	struct curl_waitfd fd;
	CURLMsg *cm;
	const char *u, *k;
	char buf[65536];
	char *home_file = NULL;
	int running, left, eof = 0, skipping = 0;
	ssize_t n;
	size_t i, start;
	int64_t t, next;

	ch_log_init("chatr-mcp");
	if (argc > 1) {
		usage();
		return 2;
	}
	if ((u = getenv("CHATR_URL")) == NULL || (strncmp(u, "http://", 7) !=
	    0 && strncmp(u, "https://", 8) != 0) || strlen(u) >=
	    sizeof(g.url)) {
		ch_log_err("CHATR_URL must be the instance's http:// or "
		    "https:// URL");
		usage();
		return 2;
	}
	snprintf(g.url, sizeof(g.url), "%s", u);
	while (strlen(g.url) > 8 && g.url[strlen(g.url) - 1] == '/')
		g.url[strlen(g.url) - 1] = '\0';
	shown_url();
	g.key_file = getenv("CHATR_KEY_FILE");
	if (g.key_file != NULL && *g.key_file == '\0')
		g.key_file = NULL;
	/* "~/..." as a shell would have it (MCP clients start us without
	 * one) */
	if (g.key_file != NULL && strncmp(g.key_file, "~/", 2) == 0 &&
	    (k = getenv("HOME")) != NULL && *k != '\0')
		g.key_file = home_file = ch_xprintf("%s/%s", k, g.key_file + 2);
	if ((k = getenv("CHATR_API_KEY")) != NULL && *k != '\0') {
		if (!key_ok(k)) {
			ch_log_err("CHATR_API_KEY is not a chatr key "
			    "(chatr_ and 32 hex digits)");
			free(home_file);
			return 2;
		}
		snprintf(g.key, sizeof(g.key), "%s", k);
	} else if (g.key_file != NULL && load_key() != 0) {
		free(home_file);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = onsignal;
	/* a second signal ends it at once, even in a write to a client
	 * that stopped reading */
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (g.rest = curl_easy_init()) == NULL ||
	    (g.multi = curl_multi_init()) == NULL) {
		ch_log_err("libcurl would not start");
		return 1;
	}
	g.held = json_object_new_array();
	mcp_init(&g.mcp, &be, NULL);
	ch_log_info("serving %s over stdio (%s, %s)", g.shown, MCP_MODERN,
	    MCP_LEGACY);
	if (g.key[0] != '\0')
		presence("/api/heartbeat");
	g.beat_at = now_ms() + HEARTBEAT_S * 1000;

	while (!stop && !eof) {
		t = now_ms();
		next = t + 1000;
		if (g.waiters != NULL)
			for (struct waiter *w = g.waiters; w; w = w->next)
				if (w->deadline < next)
					next = w->deadline;
		fd.fd = STDIN_FILENO;
		fd.events = CURL_WAIT_POLLIN;
		fd.revents = 0;
		if (curl_multi_wait(g.multi, &fd, 1,
		    (int)(next > t ? next - t : 0), NULL) != CURLM_OK)
			ch_log_warn("curl_multi_wait failed");
		curl_multi_perform(g.multi, &running);
		while ((cm = curl_multi_info_read(g.multi, &left)) != NULL)
			if (cm->msg == CURLMSG_DONE && cm->easy_handle == g.sse)
				sse_done(cm->data.result);

		/* stdin: every whole line is a message (one read when poll
		 * says there is something: stdin stays blocking, as it may
		 * share its file with stdout) */
		n = -1;
		if (stdin_ready() &&
		    (n = read(STDIN_FILENO, buf, sizeof(buf))) < 0 &&
		    errno != EINTR && errno != EAGAIN) {
			ch_log_err("stdin: %s", strerror(errno));
			eof = 1;
		}
		if (n > 0) {
			start = 0;
			for (i = 0; i < (size_t)n; i++) {
				if (buf[i] != '\n')
					continue;
				if (skipping) {
					skipping = 0;
				} else if (in.len > 0) {
					ch_buf_add(&in, buf + start, i - start);
					line(in.data, in.len);
					ch_buf_reset(&in);
				} else
					line(buf + start, i - start);
				start = i + 1;
			}
			if (start < (size_t)n && !skipping) {
				ch_buf_add(&in, buf + start, (size_t)n - start);
				if (in.len > LINE_MAX_BYTES) {
					/* too long to be a message: say so
					 * once, and skip to its end */
					emit(mcp_handle(&g.mcp, in.data,
					    MCP_MESSAGE_MAX + 1));
					ch_buf_reset(&in);
					skipping = 1;
				}
			}
		}
		if (n == 0)
			eof = 1;

		t = now_ms();
		if (g.sse == NULL && g.waiters != NULL && t >= g.sse_retry_at)
			sse_open();
		waiters_check(0);
		if (g.key[0] != '\0' && t >= g.beat_at) {
			presence("/api/heartbeat");
			g.beat_at = t + HEARTBEAT_S * 1000;
		}
	}
	if (eof && in.len > 0 && !skipping)
		line(in.data, in.len); /* a last line without its newline */
	/* leave: the waits end now, the agent goes offline */
	while (g.waiters != NULL) {
		struct waiter *w = g.waiters;

		g.waiters = w->next;
		emit(mcp_finish(&g.mcp, w->id, w->version,
		    mcp_wait_result(json_object_new_array(), 1)));
		waiter_free(w);
	}
	presence("/api/disconnect");
	ch_log_info("stopped");
	if (g.sse != NULL) {
		curl_multi_remove_handle(g.multi, g.sse);
		curl_easy_cleanup(g.sse);
		curl_slist_free_all(g.sse_hdrs);
	}
	curl_multi_cleanup(g.multi);
	curl_easy_cleanup(g.rest);
	curl_global_cleanup();
	json_object_put(g.held);
	ch_buf_free(&in);
	ch_buf_free(&g.sse_line);
	ch_buf_free(&g.sse_data);
	free(home_file);
	return 0;
}
