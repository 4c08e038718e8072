/*
 * storm.c -- a kill storm against a running chatr instance.
 *
 * As an operator would try it: P posters write as fast as they can (each
 * its own agent, one keep-alive connection, unique content), S stream
 * clients read GET /api/stream and reconnect with Last-Event-ID whenever
 * their stream is cut, and a killer sends SIGKILL to one of the
 * instance's own programs (chatr-*, found in /proc by the config path
 * they run with) every INTERVAL ms, KILLS times.  Then the posters stop,
 * the streams catch up, and the store is read back through
 * GET /api/messages.
 *
 * It reports, as name=value lines: kills by program; posts acknowledged,
 * failed (an HTTP error) and unanswered (the connection broke); answers
 * that were not JSON with a boolean "success"; acknowledged messages
 * missing from the store; messages stored twice; and per stream the
 * messages missed, delivered twice or out of order, and the longest time
 * without a stream.  Exit status 0 when nothing was lost, duplicated,
 * reordered or answered in anything but JSON; 1 otherwise; 2 on a setup
 * failure.
 *
 * With -R N it runs no storm: it posts until the store holds N messages
 * more than when it started, then opens one stream resuming N messages
 * back and reads it to the newest, sampling the relay's memory meanwhile:
 * every message once, in order, the time it took and the relay's largest
 * RSS (and its private part).
 *
 * usage: storm -p PORT -v VAR [-P posters] [-S streams] [-k kills]
 *        [-i interval-ms] [-o name,name...] [-s seed] [-w settle-s] [-R N]
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define MAX_POSTERS 64
#define MAX_STREAMS 16
#define MAX_PROGS 32
#define IO_TIMEOUT_MS 30000
#define STREAM_IDLE_MS 40000

static struct {
	int port;
	const char *var;
	int nposters;
	int nstreams;
	int kills;
	int interval;
	const char *only;
	unsigned int seed;
	int settle;
	char tag[32];
	char conf[4096];
	long resume;
} opt = {0, NULL, 6, 1, 150, 120, NULL, 0, 2, "", "", 0};

static volatile int stop_posting, stop_streams;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- small helpers ------------------------------------------------------- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "storm: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		die("out of memory");
	return p;
}

/* Is body a JSON object with a boolean "success"? */
static int
json_ok(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o, *s;
	int ok;

	if ((tok = json_tokener_new()) == NULL)
		die("json_tokener_new");
	o = json_tokener_parse_ex(tok, body, (int)len);
	ok = o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "success", &s) &&
	    json_object_is_type(s, json_type_boolean);
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

/* ---- HTTP/1.1 over loopback ---------------------------------------------- */

struct conn {
	int fd;
	char *buf; /* bytes read and not yet consumed */
	size_t len, cap;
};

static int
conn_open(struct conn *c)
{
	struct sockaddr_in sin;
	int one = 1;

	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)opt.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->len = 0;
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Read more into c->buf, waiting at most ms; >0 bytes, 0 EOF, -1 error. */
static ssize_t
conn_fill(struct conn *c, int ms)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	ssize_t n;
	int r;

	if (c->cap - c->len < 4096) {
		c->cap = c->cap == 0 ? 65536 : c->cap * 2;
		c->buf = xrealloc(c->buf, c->cap);
	}
	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return -1;
	do
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->len += (size_t)n;
	return n;
}

static void
conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static int
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct head {
	int status;
	long long clen; /* -1: none */
	int chunked;
	int close;
};

/* Wait for and parse a response head; its bytes are consumed. */
static int
read_head(struct conn *c, struct head *h, int ms)
{
	char *end, *line, *next, *v;
	size_t hl;

	memset(h, 0, sizeof(*h));
	h->clen = -1;
	for (;;) {
		if (c->len > 0 && (end = memmem(c->buf, c->len, "\r\n\r\n",
		    4)) != NULL)
			break;
		if (conn_fill(c, ms) <= 0)
			return -1;
	}
	hl = (size_t)(end - c->buf) + 4;
	*end = '\0';
	if (sscanf(c->buf, "HTTP/1.%*d %d", &h->status) != 1)
		return -1;
	for (line = strstr(c->buf, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next != NULL)
			*next = '\0';
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		while (*v == ' ')
			v++;
		if (strcasecmp(line, "Content-Length") == 0)
			h->clen = atoll(v);
		else if (strcasecmp(line, "Transfer-Encoding") == 0 &&
		    strcasestr(v, "chunked") != NULL)
			h->chunked = 1;
		else if (strcasecmp(line, "Connection") == 0 &&
		    strcasestr(v, "close") != NULL)
			h->close = 1;
		if (next == NULL)
			break;
	}
	conn_consume(c, hl);
	return 0;
}

/* Read a whole (non-streamed) body into *out (NUL-terminated). */
static int
read_body(struct conn *c, const struct head *h, char **out, size_t *olen)
{
	char *b = NULL, *e;
	size_t bl = 0, n;
	long long sz;

	if (h->chunked) {
		for (;;) {
			while ((e = memmem(c->buf, c->len, "\r\n", 2)) ==
			    NULL)
				if (conn_fill(c, IO_TIMEOUT_MS) <= 0)
					goto fail;
			sz = strtoll(c->buf, NULL, 16);
			conn_consume(c, (size_t)(e - c->buf) + 2);
			while (c->len < (size_t)sz + 2)
				if (conn_fill(c, IO_TIMEOUT_MS) <= 0)
					goto fail;
			b = xrealloc(b, bl + (size_t)sz + 1);
			memcpy(b + bl, c->buf, (size_t)sz);
			bl += (size_t)sz;
			conn_consume(c, (size_t)sz + 2);
			if (sz == 0)
				break;
		}
	} else if (h->clen >= 0) {
		while (c->len < (size_t)h->clen)
			if (conn_fill(c, IO_TIMEOUT_MS) <= 0)
				goto fail;
		n = (size_t)h->clen;
		b = xrealloc(NULL, n + 1);
		memcpy(b, c->buf, n);
		bl = n;
		conn_consume(c, n);
	} else {
		for (;;) {
			ssize_t r = conn_fill(c, IO_TIMEOUT_MS);
			if (r == 0)
				break;
			if (r < 0)
				goto fail;
		}
		b = xrealloc(NULL, c->len + 1);
		memcpy(b, c->buf, c->len);
		bl = c->len;
		c->len = 0;
	}
	if (b == NULL)
		b = xrealloc(NULL, 1);
	b[bl] = '\0';
	*out = b;
	*olen = bl;
	return 0;
fail:
	free(b);
	return -1;
}

/*
 * One request on c (opened if needed): 0 with *status and the body, -1
 * if the connection failed before a whole answer came.
 */
static int
http(struct conn *c, const char *method, const char *path, const char *hdrs,
    const char *body, int *status, char **out, size_t *olen)
{
	struct head h;
	char req[8192];
	int n;

	if (c->fd < 0 && conn_open(c) != 0)
		return -1;
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "%sContent-Length: %zu\r\n%s\r\n%s", method, path, hdrs,
	    body != NULL ? strlen(body) : (size_t)0,
	    body != NULL ? "Content-Type: application/json\r\n" : "",
	    body != NULL ? body : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		die("request too long");
	if (send_all(c->fd, req, (size_t)n) != 0 ||
	    read_head(c, &h, IO_TIMEOUT_MS) != 0 ||
	    read_body(c, &h, out, olen) != 0) {
		conn_close(c);
		return -1;
	}
	*status = h.status;
	if (h.close)
		conn_close(c);
	return 0;
}

/* ---- posters ------------------------------------------------------------- */

struct answer {
	int status; /* 0: no answer (the connection broke) */
	int json;
	uint64_t id;
};

struct poster {
	int n;
	char key[64];
	pthread_t thr;
	struct answer *ans; /* by sequence number */
	size_t nans, cap;
};

static struct poster posters[MAX_POSTERS];

static const char *
json_get_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
register_poster(struct poster *p)
{
	struct json_object *o, *a;
	struct conn c = {-1, NULL, 0, 0};
	char body[128], *out = NULL;
	const char *k;
	size_t ol;
	int st, try;

	snprintf(body, sizeof(body), "{\"name\":\"storm_%s_%d\"}", opt.tag,
	    p->n);
	for (try = 0; try < 100; try++) {
		if (http(&c, "POST", "/api/register", "", body, &st, &out,
		    &ol) == 0 && st == 200) {
			o = json_tokener_parse(out);
			if (json_object_object_get_ex(o, "agent", &a) &&
			    (k = json_get_str(a, "apiKey")) != NULL) {
				snprintf(p->key, sizeof(p->key), "%s", k);
				json_object_put(o);
				free(out);
				conn_close(&c);
				free(c.buf);
				return;
			}
			json_object_put(o);
		}
		free(out);
		out = NULL;
		sleep_ms(100);
	}
	die("could not register poster %d", p->n);
}

static void *
poster_run(void *arg)
{
	struct poster *p = arg;
	struct conn c = {-1, NULL, 0, 0};
	struct json_object *o, *m;
	struct answer a;
	char hdrs[128], body[160], *out;
	const char *id;
	size_t ol, seq;
	int st;

	snprintf(hdrs, sizeof(hdrs), "Authorization: Bearer %s\r\n", p->key);
	for (seq = 0; !stop_posting; seq++) {
		snprintf(body, sizeof(body),
		    "{\"content\":\"storm %s %d %zu\"}", opt.tag, p->n, seq);
		memset(&a, 0, sizeof(a));
		out = NULL;
		if (http(&c, "POST", "/api/messages", hdrs, body, &st, &out,
		    &ol) == 0) {
			a.status = st;
			a.json = json_ok(out, ol);
			if (st == 200 && a.json) {
				o = json_tokener_parse(out);
				if (json_object_object_get_ex(o, "message",
				    &m) && (id = json_get_str(m, "id")) != NULL)
					a.id = strtoull(id, NULL, 10);
				json_object_put(o);
			}
			if (st != 200) {
				if (getenv("STORM_VERBOSE") != NULL)
					fprintf(stderr, "storm: poster %d: "
					    "%d %s\n", p->n, st, out);
				sleep_ms(5); /* as a client would, briefly */
			}
		} else
			sleep_ms(5);
		free(out);
		if (p->nans == p->cap) {
			p->cap = p->cap == 0 ? 4096 : p->cap * 2;
			p->ans = xrealloc(p->ans, p->cap * sizeof(*p->ans));
		}
		p->ans[p->nans++] = a;
	}
	conn_close(&c);
	free(c.buf);
	return NULL;
}

/* ---- streams ------------------------------------------------------------- */

struct stream {
	int n;
	pthread_t thr;
	uint64_t last;	    /* newest id received (resume point) */
	uint64_t start;	    /* the newest id when it first connected */
	int started;
	uint64_t *ids;	    /* every message id received, in order */
	size_t nids, cap;
	size_t disorder;    /* ids not above the one before */
	size_t connects, refused, nonjson;
	int64_t cut_at;	    /* when the stream was last cut; 0: up */
	int64_t max_outage; /* ms */
	int64_t outages_over_1500;
	struct conn c;
};

static struct stream streams[MAX_STREAMS];

static void
stream_got(struct stream *s, uint64_t id)
{
	pthread_mutex_lock(&mu);
	if (s->nids > 0 && id <= s->ids[s->nids - 1])
		s->disorder++;
	if (s->nids == s->cap) {
		s->cap = s->cap == 0 ? 65536 : s->cap * 2;
		s->ids = xrealloc(s->ids, s->cap * sizeof(*s->ids));
	}
	s->ids[s->nids++] = id;
	pthread_mutex_unlock(&mu);
}

/* One SSE event: its id: line (0 if none) and its data. */
static void
stream_event(struct stream *s, uint64_t evid, const char *data, size_t len)
{
	struct json_object *o, *t, *d, *m;
	const char *type, *id;
	size_t i, n;

	o = json_tokener_parse(data);
	(void)len;
	if (o == NULL || !json_object_object_get_ex(o, "type", &t)) {
		s->nonjson++;
		json_object_put(o);
		return;
	}
	type = json_object_get_string(t);
	json_object_object_get_ex(o, "data", &d);
	if (strcmp(type, "history") == 0) {
		if (s->cut_at != 0) {
			int64_t out = now_ms() - s->cut_at;
			if (out > s->max_outage)
				s->max_outage = out;
			if (out > 1500)
				s->outages_over_1500++;
			s->cut_at = 0;
		}
		n = d != NULL && json_object_is_type(d, json_type_array) ?
		    json_object_array_length(d) : 0;
		for (i = 0; i < n; i++) {
			m = json_object_array_get_idx(d, i);
			if ((id = json_get_str(m, "id")) == NULL)
				continue;
			if (!s->started) /* history before the storm */
				s->start = strtoull(id, NULL, 10);
			else
				stream_got(s, strtoull(id, NULL, 10));
		}
		s->started = 1;
	} else if (strcmp(type, "message") == 0) {
		if ((id = json_get_str(d, "id")) != NULL)
			stream_got(s, strtoull(id, NULL, 10));
	}
	if (evid != 0)
		s->last = evid;
	json_object_put(o);
}

/* Read one stream until it ends; SSE inside chunked transfer coding. */
static void
stream_read(struct stream *s, int chunked)
{
	char *sse = NULL, *e, *line, *data = NULL;
	size_t sl = 0, scap = 0, dl = 0, n;
	long long left = 0; /* bytes left in the current chunk */
	int need_crlf = 0;  /* a chunk's data ended; its CRLF follows */
	uint64_t evid = 0;

	while (!stop_streams) {
		/* Move body bytes from the connection into sse. */
		while (s->c.len > 0) {
			if (chunked && need_crlf) {
				if (s->c.len < 2)
					break;
				conn_consume(&s->c, 2);
				need_crlf = 0;
				continue;
			}
			if (chunked && left == 0) {
				if ((e = memmem(s->c.buf, s->c.len, "\r\n",
				    2)) == NULL)
					break;
				left = strtoll(s->c.buf, NULL, 16);
				conn_consume(&s->c, (size_t)(e - s->c.buf) + 2);
				if (left <= 0)
					goto out; /* the last chunk */
				continue;
			}
			n = s->c.len;
			if (chunked && n > (size_t)left)
				n = (size_t)left;
			if (sl + n + 1 > scap) {
				scap = (sl + n + 1) * 2;
				sse = xrealloc(sse, scap);
			}
			memcpy(sse + sl, s->c.buf, n);
			sl += n;
			conn_consume(&s->c, n);
			if (chunked && (left -= (long long)n) == 0)
				need_crlf = 1;
		}
		/* Whole lines. */
		while (sl > 0 && (e = memchr(sse, '\n', sl)) != NULL) {
			line = sse;
			*e = '\0';
			n = (size_t)(e - sse) + 1;
			if (e > line && e[-1] == '\r')
				e[-1] = '\0';
			if (line[0] == '\0') {
				if (data != NULL)
					stream_event(s, evid, data, dl);
				free(data);
				data = NULL;
				dl = 0;
				evid = 0;
			} else if (strncmp(line, "id: ", 4) == 0)
				evid = strtoull(line + 4, NULL, 10);
			else if (strncmp(line, "data: ", 6) == 0) {
				size_t ln = strlen(line + 6);
				data = xrealloc(data, dl + ln + 2);
				memcpy(data + dl, line + 6, ln + 1);
				dl += ln;
			}
			memmove(sse, sse + n, sl - n);
			sl -= n;
		}
		if (conn_fill(&s->c, STREAM_IDLE_MS) <= 0)
			break;
	}
out:
	free(sse);
	free(data);
}

static void *
stream_run(void *arg)
{
	struct stream *s = arg;
	struct head h;
	char req[512], *body;
	size_t bl;
	int n;

	s->c.fd = -1;
	while (!stop_streams) {
		if (conn_open(&s->c) != 0) {
			sleep_ms(20);
			continue;
		}
		s->connects++;
		if (s->started)
			n = snprintf(req, sizeof(req), "GET /api/stream "
			    "HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
			    "text/event-stream\r\nLast-Event-ID: %" PRIu64
			    "\r\n\r\n", s->last);
		else
			n = snprintf(req, sizeof(req), "GET /api/stream "
			    "HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
			    "text/event-stream\r\n\r\n");
		if (send_all(s->c.fd, req, (size_t)n) != 0 ||
		    read_head(&s->c, &h, IO_TIMEOUT_MS) != 0) {
			conn_close(&s->c);
			sleep_ms(20);
			continue;
		}
		if (h.status != 200) {
			s->refused++;
			body = NULL;
			if (read_body(&s->c, &h, &body, &bl) != 0 ||
			    !json_ok(body, bl))
				s->nonjson++;
			free(body);
			conn_close(&s->c);
			sleep_ms(50);
			continue;
		}
		stream_read(s, h.chunked);
		conn_close(&s->c);
		if (!stop_streams && s->cut_at == 0)
			s->cut_at = now_ms();
	}
	free(s->c.buf);
	return NULL;
}

/* ---- the killer ---------------------------------------------------------- */

struct prog {
	char name[32];
	int kills;
};
static struct prog progs[MAX_PROGS];
static int nprogs;

/* Does /proc/PID/FILE (NUL-separated) contain s? */
static int
proc_has(const char *pid, const char *file, const char *s)
{
	char path[300], buf[65536];
	ssize_t n, i;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/%s", pid, file);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = '\n';
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

static int
wanted(const char *name)
{
	const char *p;
	size_t l = strlen(name);

	if (opt.only == NULL)
		return 1;
	for (p = opt.only; *p != '\0';) {
		size_t n = strcspn(p, ",");
		if (n == l && strncmp(p, name, n) == 0)
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The instance's programs: chatr-* running with its config. */
static int
victims(pid_t *pids, char (*names)[32], int max)
{
	struct dirent *d;
	char path[300], comm[64];
	DIR *dir;
	ssize_t n;
	int fd, k = 0;

	if ((dir = opendir("/proc")) == NULL)
		die("opendir /proc: %s", strerror(errno));
	while (k < max && (d = readdir(dir)) != NULL) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (n <= 0)
			continue;
		comm[n] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		if (strncmp(comm, "chatr-", 6) != 0 || !wanted(comm + 6))
			continue;
		if (!proc_has(d->d_name, "cmdline", opt.conf) &&
		    !proc_has(d->d_name, "environ", opt.conf))
			continue;
		pids[k] = (pid_t)atoi(d->d_name);
		snprintf(names[k], sizeof(names[k]), "%.*s",
		    (int)sizeof(names[k]) - 1, comm + 6);
		k++;
	}
	closedir(dir);
	return k;
}

static void
killer(void)
{
	pid_t pids[512];
	char names[512][32];
	int i, k, n, j;

	for (i = 0; i < opt.kills; i++) {
		sleep_ms(opt.interval / 2 + (int)(rand_r(&opt.seed) %
		    (unsigned)(opt.interval + 1)));
		if ((n = victims(pids, names, 512)) == 0) {
			i--;
			continue;
		}
		k = (int)(rand_r(&opt.seed) % (unsigned)n);
		if (kill(pids[k], SIGKILL) != 0) {
			i--;
			continue;
		}
		for (j = 0; j < nprogs; j++)
			if (strcmp(progs[j].name, names[k]) == 0)
				break;
		if (j == nprogs && nprogs < MAX_PROGS)
			snprintf(progs[nprogs++].name, sizeof(progs[0].name),
			    "%s", names[k]);
		if (j < MAX_PROGS)
			progs[j].kills++;
	}
}

/* ---- checking the store -------------------------------------------------- */

struct stored {
	uint64_t id;
	char *content;
};

static int
cmp_content(const void *a, const void *b)
{
	return strcmp(((const struct stored *)a)->content,
	    ((const struct stored *)b)->content);
}

/* Every message after id `after`, oldest first, through the API. */
static struct stored *
read_store(uint64_t after, size_t *count)
{
	struct conn c = {-1, NULL, 0, 0};
	struct json_object *o, *list, *m, *more;
	struct stored *all = NULL;
	size_t n = 0, cap = 0, i, len;
	char path[128], *out;
	const char *id, *content;
	size_t ol;
	int st, tries = 0;

	for (;;) {
		snprintf(path, sizeof(path), "/api/messages?after=%" PRIu64
		    "&limit=100", after);
		out = NULL;
		if (http(&c, "GET", path, "", NULL, &st, &out, &ol) != 0 ||
		    st != 200) {
			free(out);
			if (++tries > 200)
				die("cannot read the messages back");
			sleep_ms(100);
			continue;
		}
		o = json_tokener_parse(out);
		free(out);
		if (!json_object_object_get_ex(o, "messages", &list))
			die("GET /api/messages: no messages");
		len = json_object_array_length(list);
		for (i = 0; i < len; i++) {
			m = json_object_array_get_idx(list, i);
			id = json_get_str(m, "id");
			content = json_get_str(m, "content");
			if (id == NULL || content == NULL)
				die("a stored message without id or content");
			if (n == cap) {
				cap = cap == 0 ? 65536 : cap * 2;
				all = xrealloc(all, cap * sizeof(*all));
			}
			all[n].id = strtoull(id, NULL, 10);
			all[n].content = strdup(content);
			after = all[n].id;
			n++;
		}
		json_object_object_get_ex(o, "hasMore", &more);
		if (len == 0 || !json_object_get_boolean(more)) {
			json_object_put(o);
			break;
		}
		json_object_put(o);
	}
	conn_close(&c);
	free(c.buf);
	*count = n;
	return all;
}

/* The newest message id in the store. */
static uint64_t
newest_id(void)
{
	struct conn c = {-1, NULL, 0, 0};
	struct json_object *o, *list;
	uint64_t id = 0;
	char *out = NULL;
	const char *s;
	size_t ol;
	int st, try;

	/* (for as long as a store stuck on a dead process may take to be
	 * recovered: the watchdog's 30 s, and some) */
	for (try = 0; try < 900; try++) {
		if (http(&c, "GET", "/api/messages?limit=1", "", NULL, &st,
		    &out, &ol) == 0 && st == 200) {
			o = json_tokener_parse(out);
			if (json_object_object_get_ex(o, "messages", &list) &&
			    json_object_array_length(list) > 0 &&
			    (s = json_get_str(json_object_array_get_idx(list,
			    0), "id")) != NULL)
				id = strtoull(s, NULL, 10);
			json_object_put(o);
			free(out);
			break;
		}
		free(out);
		out = NULL;
		sleep_ms(100);
	}
	conn_close(&c);
	free(c.buf);
	return id;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The relay's RSS and its private part (RssAnon), in kB, or -1. */
static void
relay_memory(long *rss, long *anon)
{
	pid_t pids[8];
	char names[8][32], path[64], line[256];
	FILE *f;
	const char *only = opt.only;

	*rss = *anon = -1;
	opt.only = "sse-relay";
	if (victims(pids, names, 8) < 1) {
		opt.only = only;
		return;
	}
	opt.only = only;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pids[0]);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = atol(line + 6);
		else if (strncmp(line, "RssAnon:", 8) == 0)
			*anon = atol(line + 8);
	}
	fclose(f);
}

static void *
resume_sampler(void *arg)
{
	long *peak = arg, rss, anon;

	while (!stop_streams) {
		relay_memory(&rss, &anon);
		if (rss > peak[0])
			peak[0] = rss;
		if (anon > peak[1])
			peak[1] = anon;
		sleep_ms(50);
	}
	return NULL;
}

/* -R N: post N messages, then resume N back and read to the newest. */
static int
resume_test(void)
{
	struct stream *s = &streams[0];
	pthread_t sampler;
	uint64_t start, newest, k;
	long peak[2] = {-1, -1}, rss0, anon0;
	int64_t t0, t1;
	size_t i, gaps = 0;

	start = newest_id();
	for (i = 0; i < (size_t)opt.nposters; i++) {
		posters[i].n = (int)i;
		register_poster(&posters[i]);
		if (pthread_create(&posters[i].thr, NULL, poster_run,
		    &posters[i]) != 0)
			die("pthread_create");
	}
	while (newest_id() < start + (uint64_t)opt.resume)
		sleep_ms(200);
	stop_posting = 1;
	for (i = 0; i < (size_t)opt.nposters; i++)
		pthread_join(posters[i].thr, NULL);
	newest = newest_id();
	sleep_ms(1000); /* the relay has them all */
	relay_memory(&rss0, &anon0);
	s->started = 1;
	s->start = s->last = newest - (uint64_t)opt.resume;
	t0 = now_ms();
	if (pthread_create(&s->thr, NULL, stream_run, s) != 0 ||
	    pthread_create(&sampler, NULL, resume_sampler, peak) != 0)
		die("pthread_create");
	for (;;) {
		pthread_mutex_lock(&mu);
		k = s->nids > 0 ? s->ids[s->nids - 1] : 0;
		pthread_mutex_unlock(&mu);
		if (k >= newest || now_ms() - t0 > 600000)
			break;
		sleep_ms(10);
	}
	t1 = now_ms();
	stop_streams = 1;
	if (s->c.fd >= 0)
		shutdown(s->c.fd, SHUT_RDWR);
	pthread_join(s->thr, NULL);
	pthread_join(sampler, NULL);
	for (i = 0; i < s->nids; i++)
		if (s->ids[i] != s->start + 1 + i)
			gaps++;
	printf("resume_from=%" PRIu64 "\nresume_newest=%" PRIu64 "\n"
	    "resume_received=%zu\nresume_wrong_place=%zu\nresume_ms=%" PRId64
	    "\nrelay_rss_kb_before=%ld\nrelay_rss_kb_peak=%ld\n"
	    "relay_private_kb_before=%ld\nrelay_private_kb_peak=%ld\n",
	    s->start, newest, s->nids, gaps, t1 - t0, rss0, peak[0], anon0,
	    peak[1]);
	i = s->nids == (size_t)opt.resume && gaps == 0;
	printf("result=%s\n", i ? "ok" : "FAIL");
	return i ? 0 : 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: storm -p PORT -v VAR [-P posters] [-S streams] "
	    "[-k kills] [-i interval-ms] [-o prog,...] [-s seed] "
	    "[-w settle-s] [-R resume]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct stored *st;
	size_t nst, i, j, acked = 0, failed = 0, unanswered = 0, nonjson = 0;
	size_t missing = 0, dups = 0, smiss, sdup;
	static size_t bystatus[600];
	uint64_t newest, *sorted;
	int64_t t0, t1;
	int c, bad = 0, s, round;

	while ((c = getopt(argc, argv, "p:v:P:S:k:i:o:s:w:R:")) != -1) {
		switch (c) {
		case 'p':
			opt.port = atoi(optarg);
			break;
		case 'v':
			opt.var = optarg;
			break;
		case 'P':
			opt.nposters = atoi(optarg);
			break;
		case 'S':
			opt.nstreams = atoi(optarg);
			break;
		case 'k':
			opt.kills = atoi(optarg);
			break;
		case 'i':
			opt.interval = atoi(optarg);
			break;
		case 'o':
			opt.only = optarg;
			break;
		case 's':
			opt.seed = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			opt.settle = atoi(optarg);
			break;
		case 'R':
			opt.resume = atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (opt.port <= 0 || opt.var == NULL || opt.nposters < 1 ||
	    opt.nposters > MAX_POSTERS || opt.nstreams < 0 ||
	    opt.nstreams > MAX_STREAMS || opt.kills < 0 || opt.interval < 1)
		usage();
	if (opt.seed == 0)
		opt.seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	snprintf(opt.tag, sizeof(opt.tag), "%x", opt.seed);
	snprintf(opt.conf, sizeof(opt.conf), "%s/chatr.conf", opt.var);
	signal(SIGPIPE, SIG_IGN);
	printf("seed=%u\n", opt.seed);
	if (opt.resume > 0)
		return resume_test();

	for (i = 0; i < (size_t)opt.nposters; i++) {
		posters[i].n = (int)i;
		register_poster(&posters[i]);
	}
	for (i = 0; i < (size_t)opt.nstreams; i++) {
		streams[i].n = (int)i;
		if (pthread_create(&streams[i].thr, NULL, stream_run,
		    &streams[i]) != 0)
			die("pthread_create");
	}
	for (i = 0; i < (size_t)opt.nstreams; i++)
		for (j = 0; !streams[i].started; j++) {
			if (j > 300)
				die("stream %zu never started", i);
			sleep_ms(100);
		}
	t0 = now_ms();
	for (i = 0; i < (size_t)opt.nposters; i++)
		if (pthread_create(&posters[i].thr, NULL, poster_run,
		    &posters[i]) != 0)
			die("pthread_create");
	killer();
	sleep_ms(opt.settle * 1000);
	stop_posting = 1;
	for (i = 0; i < (size_t)opt.nposters; i++)
		pthread_join(posters[i].thr, NULL);
	t1 = now_ms();

	/*
	 * Let the streams catch up with the store, then stop them.  A post
	 * left unanswered (the store stuck on a program killed inside it)
	 * may still commit once the store is recovered, so the newest id is
	 * asked again until it stands still.
	 */
	for (round = 0, newest = 0; round < 5; round++) {
		uint64_t was = newest;

		if ((newest = newest_id()) == was && round > 0)
			break;
		for (j = 0; j < 600; j++) {
			int behind = 0;
			pthread_mutex_lock(&mu);
			for (i = 0; i < (size_t)opt.nstreams; i++)
				if (streams[i].nids == 0 ||
				    streams[i].ids[streams[i].nids - 1] <
				    newest)
					behind = 1;
			pthread_mutex_unlock(&mu);
			if (!behind)
				break;
			sleep_ms(100);
		}
		sleep_ms(1000); /* a commit that was still on its way */
	}
	stop_streams = 1;
	for (i = 0; i < (size_t)opt.nstreams; i++) {
		if (streams[i].c.fd >= 0)
			shutdown(streams[i].c.fd, SHUT_RDWR);
		pthread_join(streams[i].thr, NULL);
	}

	/* The answers. */
	for (i = 0; i < (size_t)opt.nposters; i++)
		for (j = 0; j < posters[i].nans; j++) {
			struct answer *a = &posters[i].ans[j];
			if (a->status == 0)
				unanswered++;
			else if (a->status == 200 && a->id != 0)
				acked++;
			else {
				failed++;
				if (a->status >= 100 && a->status < 600)
					bystatus[a->status]++;
			}
			if (a->status != 0 && !a->json)
				nonjson++;
		}

	/* The store: every acknowledged message once, under its id. */
	st = read_store(0, &nst);
	for (i = 0; i < (size_t)opt.nposters; i++)
		for (j = 0; j < posters[i].nans; j++) {
			struct answer *a = &posters[i].ans[j];
			struct stored key, *hit;
			char want[160];
			if (a->status != 200 || a->id == 0)
				continue;
			snprintf(want, sizeof(want), "storm %s %zu %zu",
			    opt.tag, i, j);
			/* ids are dense and sorted: search by id */
			hit = NULL;
			{
				size_t lo = 0, hi = nst;
				while (lo < hi) {
					size_t mid = (lo + hi) / 2;
					if (st[mid].id < a->id)
						lo = mid + 1;
					else
						hi = mid;
				}
				if (lo < nst && st[lo].id == a->id)
					hit = &st[lo];
			}
			if (hit == NULL || strcmp(hit->content, want) != 0)
				missing++;
			(void)key;
		}
	/* Stored twice: the same content under two ids. */
	{
		struct stored *byc = malloc((nst + 1) * sizeof(*byc));
		if (byc == NULL)
			die("out of memory");
		memcpy(byc, st, nst * sizeof(*byc));
		qsort(byc, nst, sizeof(*byc), cmp_content);
		for (i = 1; i < nst; i++)
			if (strcmp(byc[i].content, byc[i - 1].content) == 0)
				dups++;
		free(byc);
	}

	printf("duration_s=%.1f\n", (double)(t1 - t0) / 1000);
	printf("kills=%d\n", opt.kills);
	for (i = 0; i < (size_t)nprogs; i++)
		printf("kills_%s=%d\n", progs[i].name, progs[i].kills);
	printf("posts=%zu\nacked=%zu\nfailed=%zu\nunanswered=%zu\n",
	    acked + failed + unanswered, acked, failed, unanswered);
	for (i = 0; i < 600; i++)
		if (bystatus[i] > 0)
			printf("failed_%zu=%zu\n", i, bystatus[i]);
	printf("failed_pct=%.3f\n", acked + failed + unanswered == 0 ? 0 :
	    100.0 * (double)(failed + unanswered) /
	    (double)(acked + failed + unanswered));
	printf("nonjson=%zu\nmissing=%zu\nstored_twice=%zu\nstored=%zu\n",
	    nonjson, missing, dups, nst);
	bad = nonjson > 0 || missing > 0 || dups > 0;

	/* Each stream: every stored message after its start, once, in order. */
	for (s = 0; s < opt.nstreams; s++) {
		struct stream *sm = &streams[s];
		size_t k;
		sorted = malloc((sm->nids + 1) * sizeof(*sorted));
		if (sorted == NULL)
			die("out of memory");
		memcpy(sorted, sm->ids, sm->nids * sizeof(*sorted));
		qsort(sorted, sm->nids, sizeof(*sorted), cmp_u64);
		sdup = 0;
		for (k = 1; k < sm->nids; k++)
			if (sorted[k] == sorted[k - 1])
				sdup++;
		smiss = 0;
		for (i = 0, k = 0; i < nst; i++) {
			if (st[i].id <= sm->start)
				continue;
			while (k < sm->nids && sorted[k] < st[i].id)
				k++;
			if (k == sm->nids || sorted[k] != st[i].id)
				smiss++;
		}
		free(sorted);
		printf("stream%d_connects=%zu\nstream%d_refused=%zu\n"
		    "stream%d_received=%zu\nstream%d_missing=%zu\n"
		    "stream%d_duplicates=%zu\nstream%d_out_of_order=%zu\n"
		    "stream%d_nonjson=%zu\nstream%d_max_outage_ms=%" PRId64
		    "\nstream%d_outages_over_1500ms=%" PRId64 "\n",
		    s, sm->connects, s, sm->refused, s, sm->nids, s, smiss, s,
		    sdup, s, sm->disorder, s, sm->nonjson, s, sm->max_outage,
		    s, sm->outages_over_1500);
		if (smiss > 0 || sdup > 0 || sm->disorder > 0 ||
		    sm->nonjson > 0)
			bad = 1;
		free(sm->ids);
	}
	for (i = 0; i < nst; i++)
		free(st[i].content);
	free(st);
	for (i = 0; i < (size_t)opt.nposters; i++)
		free(posters[i].ans);
	printf("result=%s\n", bad ? "FAIL" : "ok");
	return bad ? 1 : 0;
}
