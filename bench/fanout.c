/*
 * fanout -- load client for chatr's live stream (GET /api/stream).
 *
 * One thread, one epoll loop, no dependencies beyond libc.
 *
 *  1. registers a few agents (POST /api/register) and optionally posts
 *     some messages first, so new streams get a full history event;
 *  2. opens N streams (all at once, or at a given rate), each from a
 *     source address in 127.0.0.2..127.0.0.254, and records when each got
 *     its history event;
 *  3. posts messages at R per second for D seconds (or M messages) over a
 *     few keep-alive HTTP/1.1 connections, recording the send time of
 *     each post and the id the server answers with;
 *  4. on every stream, for each message event, records the receipt time:
 *     latency = receipt - POST send time;
 *  5. waits for late deliveries, then reports streams held, deliveries
 *     expected vs received, missing, duplicate and out-of-order ones,
 *     latency percentiles and its own CPU use.
 *
 * Each post carries "fanout <tag> <seq>" as its content (tag: this run),
 * so a delivery is matched to its post even when it arrives before the
 * POST's answer.  Streams may be chunked (through lighttpd) or not (the
 * relay's own TCP listener).
 *
 * Exit status: 0 all good; 1 a delivery was missing, duplicated or out of
 * order; 2 streams or posts failed (or nothing could be measured); 3 bad
 * usage or setup failure.
 *
 * Build: gcc -O2 -Wall -Wextra -o fanout fanout.c
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define LINE_CAP 2048	   /* bytes of an SSE line kept (the rest counted) */
#define HEAD_CAP 8192	   /* response head */
#define RESP_CAP 65536	   /* a POST answer */
#define READ_BUF 65536
#define EVENTS 1024
#define AGENT_PAT "\"agentId\":\""
#define AGENT_PATLEN (sizeof(AGENT_PAT) - 1)

enum kind { K_STREAM, K_POST };

/* ---- options ---------------------------------------------------------- */

static struct {
	struct sockaddr_in api, stream;
	char api_host[128], stream_host[128];
	long nstreams;
	double connect_rate;	/* streams per second; 0 = all at once */
	double rate;		/* posts per second */
	double duration;
	long messages;		/* posts; 0 = rate * duration */
	int nposters;
	int nagents;
	long prefill;
	int src_first, src_last; /* 0: do not bind */
	double drain;
	double hist_timeout;
	double hold;
	const char *hook;
	int quiet;
	int kernel_ts;
	double post_timeout;
} opt = {
	.kernel_ts = 1,
	.post_timeout = 10,
	.nstreams = 100,
	.rate = 10,
	.duration = 10,
	.nposters = 4,
	.nagents = 20,
	.src_first = 2,
	.src_last = 254,
	.drain = 10,
	.hist_timeout = 60,
};

/* ---- time, logging ---------------------------------------------------- */

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
say(const char *fmt, ...)
{
	va_list ap;

	if (opt.quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("fanout: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(3);
}

static void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (p == NULL && n > 0 && sz > 0)
		die("out of memory");
	return p;
}

static void *
xmalloc(size_t sz)
{
	void *p = malloc(sz);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* ---- latency histogram: 10 us steps below 100 ms, then 1 ms to 120 s -- */

#define H_FINE 10000
#define H_COARSE 120000
struct hist {
	uint64_t b[H_FINE + H_COARSE + 1];
	uint64_t n;
	int64_t max;
	uint64_t neg; /* negative samples (clamped to 0) */
};
static struct hist lat_read; /* POST sent -> event read by the client */
static struct hist lat_kern; /* POST sent -> bytes reached the socket */

static void
lat_add(struct hist *h, int64_t us)
{
	size_t b;

	if (us < 0) {
		h->neg++;
		us = 0;
	}
	if (us > h->max)
		h->max = us;
	if (us < 100000)
		b = (size_t)(us / 10);
	else if (us < 100000 + (int64_t)H_COARSE * 1000)
		b = H_FINE + (size_t)((us - 100000) / 1000);
	else
		b = H_FINE + H_COARSE;
	h->b[b]++;
	h->n++;
}

/* The p-th percentile in ms (upper edge of its bucket; max at 100). */
static double
lat_pct(const struct hist *h, double p)
{
	uint64_t want, acc = 0;
	size_t b;

	if (h->n == 0)
		return 0;
	if (p >= 100)
		return h->max / 1000.0;
	want = (uint64_t)(p / 100.0 * (double)h->n + 0.999999);
	if (want < 1)
		want = 1;
	for (b = 0; b <= H_FINE + H_COARSE; b++) {
		acc += h->b[b];
		if (acc >= want) {
			double us = b < H_FINE ? (b + 1) * 10.0 :
			    100000.0 + (b - H_FINE + 1) * 1000.0;
			if (us > h->max)
				us = (double)h->max;
			return us / 1000.0;
		}
	}
	return h->max / 1000.0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* p-th percentile of sorted v[0..n), in ms */
static double
pct_sorted(const int64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	if (p < 100 && i > 0 && (double)i == p / 100.0 * (double)n)
		i--;
	return v[i] / 1000.0;
}

/* ---- posts ------------------------------------------------------------ */

struct post {
	int64_t sent;	 /* send time; 0 = not sent */
	int64_t sent_rt; /* the same on CLOCK_REALTIME (kernel timestamps) */
	int64_t acked;	 /* answer time; 0 = none yet */
	uint64_t id;	 /* message id answered */
	uint32_t deliveries; /* streams that got it (once) */
	int failed;
};
static struct post *posts;
static long nposts;	/* planned */
static long nstarted, nacked, nfailed, npost_done, nunsent;
static uint32_t tag;
static int64_t post_t0;
static int64_t max_post_delay;
static long events_before_ack;

struct agent {
	char key[64];
};
static struct agent *agents;

struct poster {
	enum kind kind;
	int fd;
	int state;
	long seq;	     /* the post in flight */
	char req[1024];
	size_t reqlen, reqoff;
	char *resp;
	size_t resplen;
	int64_t t_sent;
	long done;
};
enum { P_DOWN, P_CONNECTING, P_IDLE, P_SENDING, P_WAITING };
static struct poster *posters;

/* ---- streams ---------------------------------------------------------- */

struct stream {
	enum kind kind;
	int fd;
	int state;
	int chunked;
	int cstate;	/* chunked decoder */
	uint64_t cleft;
	int cdigits;
	char *head;	/* response head while it arrives */
	size_t headlen;
	size_t reqoff;
	char *line;	/* the current SSE line (first LINE_CAP bytes) */
	size_t linelen; /* bytes of the line seen (may exceed LINE_CAP) */
	int inhist;	/* the current line is a history data line */
	char carry[AGENT_PATLEN];
	size_t carrylen;
	unsigned histcount;
	/* the event being read */
	int ev_type;
	uint64_t ev_id;	 /* id: field */
	uint64_t ev_msg; /* "id" inside a message object */
	long ev_seq;	 /* our seq; -1 = not ours */
	uint64_t last_id;
	uint64_t hist_id;
	int64_t t_start, t_hist;
	unsigned char *bits; /* posts received */
	long got;
	long dup, ooo;
	int status;
};
enum { S_IDLE, S_CONNECTING, S_SENDING, S_HEAD, S_BODY, S_HELD,
    S_CLOSED, S_FAILED };
enum { CS_SIZE, CS_EXT, CS_DATA, CS_DATA_CR, CS_TRAILER, CS_DONE };
enum { EV_NONE, EV_MESSAGE, EV_HISTORY, EV_STATS, EV_OTHER };

static struct stream *streams;
static long nopened, nheld, nstream_failed, nclosed_after_held;
static long nstats_events, ncomments, nforeign, nid_mismatch;
static long nstream_status[6]; /* 2xx 3xx 4xx 5xx other, 429 */
static long nconn_refused, nconn_reset, nconn_other;
static unsigned long hist_bytes_sum;
static long hist_min_msgs = LONG_MAX, hist_max_msgs;
static int64_t streams_t0, all_held_t;
static int epfd;
static char rbuf[READ_BUF];
static int64_t rx_kern; /* kernel receive time of the last read, REALTIME */
static long nkern_ts;	/* reads that carried a kernel timestamp */
static char stream_req[512];
static size_t stream_reqlen;
static int phase;
enum { PH_CONNECT, PH_POST, PH_DRAIN, PH_DONE };
static int64_t phase_t;

/* ---- small helpers ---------------------------------------------------- */

static void
parse_addr(const char *s, struct sockaddr_in *sin, char *host, size_t hsz)
{
	const char *colon;
	char h[64];
	long port;
	char *end;

	if (strncmp(s, "http://", 7) == 0)
		s += 7;
	if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >=
	    sizeof(h))
		die("want host:port, not %s", s);
	memcpy(h, s, (size_t)(colon - s));
	h[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if ((*end != '\0' && *end != '/') || port < 1 || port > 65535)
		die("bad port in %s", s);
	if (strcmp(h, "localhost") == 0)
		snprintf(h, sizeof(h), "127.0.0.1");
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, h, &sin->sin_addr) != 1)
		die("want a numeric IPv4 address, not %s", h);
	snprintf(host, hsz, "%s:%ld", h, port);
}

static void
ep_set(int fd, uint32_t ev, void *ptr, int op)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.ptr = ptr;
	if (epoll_ctl(epfd, op, fd, &e) != 0 && op != EPOLL_CTL_DEL)
		die("epoll_ctl: %s", strerror(errno));
}

/* A nonblocking connect to sin from source 127.0.0.<src> (0: any). */
static int
tcp_connect(const struct sockaddr_in *sin, int src, int *err)
{
	struct sockaddr_in me;
	int fd, one = 1;

	*err = 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src > 0) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		memset(&me, 0, sizeof(me));
		me.sin_family = AF_INET;
		me.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
			*err = errno;
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) != 0 &&
	    errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/* Find header name (case-insensitive) in an HTTP head; its value or NULL. */
static const char *
head_find(const char *head, size_t len, const char *name, size_t *vlen)
{
	const char *p = head, *end = head + len, *eol, *v;
	size_t nl = strlen(name);

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' &&
		    strncasecmp(p, name, nl) == 0) {
			v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			while (*vlen > 0 && (v[*vlen - 1] == '\r' ||
			    v[*vlen - 1] == ' '))
				(*vlen)--;
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

static int
head_status(const char *head, size_t len)
{
	if (len < 12 || strncmp(head, "HTTP/1.", 7) != 0)
		return -1;
	return atoi(head + 9);
}

/* The unsigned decimal inside "key":"123" after p, or 0. */
static uint64_t
json_idstr(const char *p, size_t len, const char *key)
{
	const char *q;
	uint64_t v = 0;
	size_t kl = strlen(key);

	q = memmem(p, len, key, kl);
	if (q == NULL)
		return 0;
	q += kl;
	while (q < p + len && *q >= '0' && *q <= '9')
		v = v * 10 + (uint64_t)(*q++ - '0');
	return v;
}

/* ---- blocking HTTP for setup (register, prefill) ---------------------- */

static int
http_blocking(const char *req, size_t reqlen, char *out, size_t outsz)
{
	struct timeval tv = {10, 0};
	size_t off = 0;
	ssize_t r;
	int fd, err, fl;

	fd = tcp_connect(&opt.api, 0, &err);
	if (fd < 0)
		die("connect %s: %s", opt.api_host, strerror(err));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	{
		/* wait for the connect to finish */
		struct pollfd pfd = {fd, POLLOUT, 0};
		socklen_t el = sizeof(err);

		if (poll(&pfd, 1, 10000) != 1 || getsockopt(fd, SOL_SOCKET,
		    SO_ERROR, &err, &el) != 0 || err != 0)
			die("connect %s: %s", opt.api_host,
			    strerror(err ? err : ETIMEDOUT));
	}
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	while (off < reqlen) {
		r = write(fd, req + off, reqlen - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("writing to %s: %s", opt.api_host, strerror(errno));
		off += (size_t)r;
	}
	off = 0;
	for (;;) {
		if (off + 1 >= outsz)
			break;
		r = read(fd, out + off, outsz - 1 - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("reading from %s: %s", opt.api_host,
			    strerror(errno));
		if (r == 0)
			break;
		off += (size_t)r;
	}
	out[off] = '\0';
	close(fd);
	return head_status(out, off);
}

static void
register_agents(void)
{
	char req[1024], resp[16384], body[256];
	const char *k;
	int i, n, st;

	agents = xcalloc((size_t)opt.nagents, sizeof(*agents));
	for (i = 0; i < opt.nagents; i++) {
		n = snprintf(body, sizeof(body), "{\"name\":\"fo%08x_%d\"}",
		    tag, i);
		n = snprintf(req, sizeof(req), "POST /api/register HTTP/1.1\r\n"
		    "Host: %s\r\nContent-Type: application/json\r\n"
		    "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
		    opt.api_host, n, body);
		st = http_blocking(req, (size_t)n, resp, sizeof(resp));
		k = strstr(resp, "\"apiKey\":\"");
		if (st != 200 && st != 201)
			die("POST /api/register: status %d: %s", st,
			    strstr(resp, "\r\n\r\n") ? strstr(resp,
			    "\r\n\r\n") + 4 : resp);
		if (k == NULL)
			die("POST /api/register: no apiKey in the answer");
		k += 10;
		n = (int)strcspn(k, "\"");
		if (n <= 0 || n >= (int)sizeof(agents[i].key))
			die("POST /api/register: bad apiKey");
		memcpy(agents[i].key, k, (size_t)n);
		agents[i].key[n] = '\0';
	}
}

static size_t
post_request(char *req, size_t sz, const char *key, const char *content,
    int closeit)
{
	char body[512];
	int n;

	n = snprintf(body, sizeof(body), "{\"content\":\"%s\"}", content);
	n = snprintf(req, sz, "POST /api/messages HTTP/1.1\r\n"
	    "Host: %s\r\nAuthorization: Bearer %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n%s"
	    "\r\n%s", opt.api_host, key, n,
	    closeit ? "Connection: close\r\n" : "", body);
	return (size_t)n;
}

static void
prefill(void)
{
	char req[1024], resp[16384], content[160];
	size_t n;
	long i;
	int st;

	for (i = 0; i < opt.prefill; i++) {
		snprintf(content, sizeof(content),
		    "history filler %ld of run %08x, padded to look like a "
		    "typical chat line of an agent", i, tag);
		n = post_request(req, sizeof(req), agents[i % opt.nagents].key,
		    content, 1);
		st = http_blocking(req, n, resp, sizeof(resp));
		if (st != 200)
			die("prefill POST /api/messages: status %d: %s", st,
			    resp);
	}
}

/* ---- streams ---------------------------------------------------------- */

static void
stream_fail(struct stream *s, int err)
{
	if (s->fd >= 0) {
		ep_set(s->fd, 0, NULL, EPOLL_CTL_DEL);
		close(s->fd);
		s->fd = -1;
	}
	free(s->head);
	s->head = NULL;
	free(s->line);
	s->line = NULL;
	if (s->state == S_HELD) {
		s->state = S_CLOSED;
		nclosed_after_held++;
		say("fanout: stream %ld closed while held (%s)\n",
		    (long)(s - streams), err ? strerror(err) : "EOF");
		return;
	}
	s->state = S_FAILED;
	nstream_failed++;
	if (err != 0 && nstream_failed <= 5)
		say("fanout: stream %ld failed: %s\n", (long)(s - streams),
		    strerror(err));
	if (err == ECONNREFUSED)
		nconn_refused++;
	else if (err == ECONNRESET || err == EPIPE)
		nconn_reset++;
	else if (err != 0)
		nconn_other++;
}

static void
stream_open(long i)
{
	struct stream *s = &streams[i];
	int src = 0, err;

	if (opt.src_first > 0)
		src = opt.src_first + (int)(i % (opt.src_last - opt.src_first +
		    1));
	s->kind = K_STREAM;
	s->t_start = now_us();
	s->ev_seq = -1;
	nopened++;
	s->fd = tcp_connect(&opt.stream, src, &err);
	if (s->fd < 0) {
		s->state = S_CONNECTING;
		if (nconn_other + nconn_refused < 5)
			say("fanout: stream connect: %s\n", strerror(err));
		stream_fail(s, err);
		return;
	}
	s->state = S_CONNECTING;
	if (opt.kernel_ts) {
		int one = 1;

		if (setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one,
		    sizeof(one)) != 0)
			opt.kernel_ts = 0;
	}
	ep_set(s->fd, EPOLLOUT, s, EPOLL_CTL_ADD);
}

static void
stream_delivery(struct stream *s, int64_t t, int64_t tk)
{
	struct post *p;
	uint64_t id = s->ev_msg;
	long seq = s->ev_seq;

	if (s->ev_id != 0 && id != 0 && s->ev_id != id)
		nid_mismatch++;
	if (id == 0)
		id = s->ev_id;
	if (seq < 0 || seq >= nposts) {
		nforeign++;
		if (id <= s->last_id)
			s->ooo++;
		else
			s->last_id = id;
		return;
	}
	p = &posts[seq];
	if (s->bits[seq >> 3] & (1u << (seq & 7))) {
		s->dup++;
		return;
	}
	s->bits[seq >> 3] |= (unsigned char)(1u << (seq & 7));
	if (id <= s->last_id)
		s->ooo++;
	else
		s->last_id = id;
	s->got++;
	p->deliveries++;
	if (p->acked == 0)
		events_before_ack++;
	else if (p->id != 0 && p->id != id)
		nid_mismatch++;
	if (p->sent != 0) {
		lat_add(&lat_read, t - p->sent);
		if (tk != 0)
			lat_add(&lat_kern, tk - p->sent_rt);
	}
}

static void
stream_event(struct stream *s, int64_t t)
{
	switch (s->ev_type) {
	case EV_MESSAGE:
		stream_delivery(s, t, rx_kern);
		break;
	case EV_HISTORY:
		if (s->state != S_HELD) {
			s->state = S_HELD;
			s->t_hist = t;
			s->hist_id = s->last_id = s->ev_id;
			nheld++;
			if ((long)s->histcount < hist_min_msgs)
				hist_min_msgs = s->histcount;
			if ((long)s->histcount > hist_max_msgs)
				hist_max_msgs = s->histcount;
		}
		break;
	case EV_STATS:
		nstats_events++;
		break;
	default:
		break;
	}
	s->ev_type = EV_NONE;
	s->ev_id = s->ev_msg = 0;
	s->ev_seq = -1;
}

/* One complete SSE line (first LINE_CAP bytes kept; \n stripped). */
static void
stream_line(struct stream *s, int64_t t)
{
	char *l = s->line, *p, *e;
	size_t n = s->linelen < LINE_CAP ? s->linelen : LINE_CAP;
	uint64_t v;

	if (n > 0 && l[n - 1] == '\r' && s->linelen <= LINE_CAP)
		n--;
	if (n == 0) {
		if (s->ev_type != EV_NONE)
			stream_event(s, t);
		return;
	}
	if (l[0] == ':') {
		ncomments++;
		return;
	}
	if (n > 3 && memcmp(l, "id:", 3) == 0) {
		p = l + 3;
		if (*p == ' ')
			p++;
		v = 0;
		while (p < l + n && *p >= '0' && *p <= '9')
			v = v * 10 + (uint64_t)(*p++ - '0');
		s->ev_id = v;
		return;
	}
	if (n < 5 || memcmp(l, "data:", 5) != 0)
		return; /* retry:, event: */
	p = l + 5;
	if (*p == ' ')
		p++;
	e = l + n;
	if (e - p >= 17 && memcmp(p, "{\"type\":\"message\"", 17) == 0) {
		s->ev_type = EV_MESSAGE;
		s->ev_msg = json_idstr(p, (size_t)(e - p), "\"id\":\"");
		p = memmem(p, (size_t)(e - p), "\"content\":\"fanout ", 18);
		if (p != NULL) {
			char *q;
			unsigned long tg;
			long sq;

			p += 18;
			tg = strtoul(p, &q, 16);
			if (q != p && *q == ' ' && tg == tag) {
				sq = strtol(q + 1, &p, 10);
				if (p != q + 1 && *p == '"')
					s->ev_seq = sq;
			}
		}
	} else if (e - p >= 17 && memcmp(p, "{\"type\":\"history\"", 17) == 0) {
		s->ev_type = EV_HISTORY;
		hist_bytes_sum += s->linelen;
	} else if (e - p >= 15 && memcmp(p, "{\"type\":\"stats\"", 15) == 0) {
		s->ev_type = EV_STATS;
	} else {
		s->ev_type = EV_OTHER;
	}
}

/* Count AGENT_PAT in the bytes of a history line, across reads. */
static void
hist_scan(struct stream *s, const char *p, size_t n)
{
	char buf[2 * AGENT_PATLEN];
	size_t k, m, i;
	const char *q, *end = p + n;

	if (n == 0)
		return;
	/* matches spanning the previous bytes and these */
	if (s->carrylen > 0) {
		memcpy(buf, s->carry, s->carrylen);
		m = n < AGENT_PATLEN - 1 ? n : AGENT_PATLEN - 1;
		memcpy(buf + s->carrylen, p, m);
		for (i = 0; i < s->carrylen; i++)
			if (i + AGENT_PATLEN <= s->carrylen + m &&
			    memcmp(buf + i, AGENT_PAT, AGENT_PATLEN) == 0)
				s->histcount++;
	}
	for (q = p; (q = memmem(q, (size_t)(end - q), AGENT_PAT,
	    AGENT_PATLEN)) != NULL; q += AGENT_PATLEN)
		s->histcount++;
	/* keep the last AGENT_PATLEN - 1 bytes */
	k = AGENT_PATLEN - 1;
	if (n >= k) {
		memcpy(s->carry, end - k, k);
		s->carrylen = k;
	} else {
		size_t keep = s->carrylen + n > k ? k - n : s->carrylen;

		memmove(s->carry, s->carry + s->carrylen - keep, keep);
		memcpy(s->carry + keep, p, n);
		s->carrylen = keep + n;
	}
}

/* Body bytes (dechunked): split into lines. */
static void
stream_sse(struct stream *s, const char *p, size_t n, int64_t t)
{
	const char *nl;
	size_t take, cp, before;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		before = s->linelen;
		if (before < LINE_CAP) {
			cp = take < LINE_CAP - before ? take : LINE_CAP - before;
			memcpy(s->line + before, p, cp);
		}
		s->linelen += take;
		if (!s->inhist && before < 23 && s->linelen >= 23 &&
		    memcmp(s->line, "data: {\"type\":\"history\"", 23) == 0) {
			s->inhist = 1;
			s->histcount = 0;
			s->carrylen = 0;
			hist_scan(s, s->line, before + take < LINE_CAP ?
			    before + take : LINE_CAP);
			if (before + take > LINE_CAP)
				hist_scan(s, p + (LINE_CAP - before),
				    before + take - LINE_CAP);
		} else if (s->inhist) {
			hist_scan(s, p, take);
		}
		if (nl == NULL)
			return;
		stream_line(s, t);
		s->linelen = 0;
		s->inhist = 0;
		p = nl + 1;
		n -= take + 1;
	}
}

/* Body bytes as read: undo chunked transfer encoding if used. */
static int
stream_body(struct stream *s, const char *p, size_t n, int64_t t)
{
	size_t k;
	int d;

	if (!s->chunked) {
		stream_sse(s, p, n, t);
		return 0;
	}
	while (n > 0) {
		switch (s->cstate) {
		case CS_SIZE:
			if (*p == '\r') {
				/* ignore */
			} else if (*p == '\n') {
				if (s->cdigits == 0)
					return -1;
				s->cstate = s->cleft == 0 ? CS_TRAILER :
				    CS_DATA;
				s->cdigits = 0;
			} else if (*p == ';' || *p == ' ') {
				s->cstate = CS_EXT;
			} else {
				if (*p >= '0' && *p <= '9')
					d = *p - '0';
				else if (*p >= 'a' && *p <= 'f')
					d = *p - 'a' + 10;
				else if (*p >= 'A' && *p <= 'F')
					d = *p - 'A' + 10;
				else
					return -1;
				if (s->cdigits++ > 12)
					return -1;
				s->cleft = s->cleft * 16 + (uint64_t)d;
			}
			p++;
			n--;
			break;
		case CS_EXT:
			if (*p == '\n') {
				s->cstate = s->cleft == 0 ? CS_TRAILER :
				    CS_DATA;
				s->cdigits = 0;
			}
			p++;
			n--;
			break;
		case CS_DATA:
			k = n < s->cleft ? n : (size_t)s->cleft;
			stream_sse(s, p, k, t);
			if (s->state == S_FAILED || s->state == S_CLOSED)
				return 0;
			s->cleft -= k;
			p += k;
			n -= k;
			if (s->cleft == 0)
				s->cstate = CS_DATA_CR;
			break;
		case CS_DATA_CR:
			if (*p == '\n')
				s->cstate = CS_SIZE;
			else if (*p != '\r')
				return -1;
			p++;
			n--;
			break;
		case CS_TRAILER:
		case CS_DONE:
			s->cstate = CS_DONE;
			return 1; /* the stream ended */
		}
	}
	return s->cstate == CS_TRAILER ? 1 : 0;
}

static void
stream_readable(struct stream *s)
{
	ssize_t r;
	int64_t t;
	char *e, *body;
	size_t hl, vl, old, cp;
	const char *v;

	if (opt.kernel_ts) {
		struct msghdr mh;
		struct iovec iov = {rbuf, sizeof(rbuf)};
		union {
			char buf[CMSG_SPACE(sizeof(struct timespec))];
			struct cmsghdr align;
		} cm;
		struct cmsghdr *ch;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		r = recvmsg(s->fd, &mh, 0);
		rx_kern = 0;
		if (r > 0)
			for (ch = CMSG_FIRSTHDR(&mh); ch != NULL;
			    ch = CMSG_NXTHDR(&mh, ch))
				if (ch->cmsg_level == SOL_SOCKET &&
				    ch->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;

					memcpy(&ts, CMSG_DATA(ch), sizeof(ts));
					rx_kern = (int64_t)ts.tv_sec * 1000000 +
					    ts.tv_nsec / 1000;
					nkern_ts++;
				}
	} else {
		r = read(s->fd, rbuf, sizeof(rbuf));
		rx_kern = 0;
	}
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		stream_fail(s, errno);
		return;
	}
	if (r == 0) {
		stream_fail(s, 0);
		return;
	}
	t = now_us();
	body = rbuf;
	if (s->state == S_HEAD) {
		old = s->headlen;
		cp = (size_t)r < HEAD_CAP - 1 - old ? (size_t)r :
		    HEAD_CAP - 1 - old;
		memcpy(s->head + old, rbuf, cp);
		s->headlen += cp;
		s->head[s->headlen] = '\0';
		if ((e = strstr(s->head, "\r\n\r\n")) == NULL) {
			if (s->headlen == HEAD_CAP - 1)
				stream_fail(s, EMSGSIZE);
			return;
		}
		hl = (size_t)(e - s->head) + 4;
		s->status = head_status(s->head, hl);
		if (s->status >= 200 && s->status < 600)
			nstream_status[s->status / 100 - 2]++;
		else
			nstream_status[4]++;
		if (s->status == 429)
			nstream_status[5]++;
		if (s->status != 200) {
			if (nstream_failed < 5)
				say("fanout: stream answered %d: %.*s\n",
				    s->status, (int)(s->headlen - hl > 200 ?
				    200 : s->headlen - hl), s->head + hl);
			stream_fail(s, 0);
			return;
		}
		v = head_find(s->head, hl, "Transfer-Encoding", &vl);
		s->chunked = v != NULL && vl >= 7 &&
		    strncasecmp(v, "chunked", 7) == 0;
		s->cstate = CS_SIZE;
		s->state = S_BODY;
		s->line = xmalloc(LINE_CAP);
		free(s->head);
		s->head = NULL;
		/* the rest of this read is body */
		body = rbuf + (hl - old);
		r -= (ssize_t)(hl - old);
		if (r == 0)
			return;
	}
	switch (stream_body(s, body, (size_t)r, t)) {
	case 0:
		break;
	case 1:
		stream_fail(s, 0); /* the last chunk: the stream ended */
		break;
	default:
		stream_fail(s, EPROTO);
		break;
	}
}

static void
stream_writable(struct stream *s)
{
	int err = 0;
	socklen_t el = sizeof(err);
	ssize_t w;

	if (s->state == S_CONNECTING) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err != 0) {
			stream_fail(s, err);
			return;
		}
		s->state = S_SENDING;
	}
	w = write(s->fd, stream_req + s->reqoff, stream_reqlen - s->reqoff);
	if (w < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		stream_fail(s, errno);
		return;
	}
	s->reqoff += (size_t)w;
	if (s->reqoff == stream_reqlen) {
		s->state = S_HEAD;
		s->head = xmalloc(HEAD_CAP);
		s->headlen = 0;
		ep_set(s->fd, EPOLLIN | EPOLLRDHUP, s, EPOLL_CTL_MOD);
	}
}

static void
stream_io(struct stream *s, uint32_t ev)
{
	if (s->state == S_CONNECTING || s->state == S_SENDING) {
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			stream_writable(s);
		return;
	}
	if (s->state == S_HEAD || s->state == S_BODY || s->state == S_HELD)
		stream_readable(s);
}

/* ---- posters ---------------------------------------------------------- */

static void post_next(int64_t now);

static void
poster_down(struct poster *c, int err)
{
	if (c->fd >= 0) {
		ep_set(c->fd, 0, NULL, EPOLL_CTL_DEL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state == P_SENDING || c->state == P_WAITING) {
		posts[c->seq].failed = 1;
		nfailed++;
		npost_done++;
		if (nfailed <= 5)
			say("fanout: post %ld failed: %s\n", c->seq,
			    err ? strerror(err) : "connection closed");
	}
	c->state = P_DOWN;
}

static void
poster_connect(struct poster *c)
{
	int err;

	c->fd = tcp_connect(&opt.api, 0, &err);
	if (c->fd < 0) {
		c->state = P_DOWN;
		return;
	}
	c->state = P_CONNECTING;
	c->t_sent = now_us();
	ep_set(c->fd, EPOLLOUT, c, EPOLL_CTL_ADD);
}

static void
poster_send(struct poster *c)
{
	ssize_t w;

	for (;;) {
		w = write(c->fd, c->req + c->reqoff, c->reqlen - c->reqoff);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ep_set(c->fd, EPOLLOUT, c, EPOLL_CTL_MOD);
			return;
		}
		if (w <= 0) {
			poster_down(c, errno);
			return;
		}
		c->reqoff += (size_t)w;
		if (c->reqoff == c->reqlen) {
			c->state = P_WAITING;
			c->resplen = 0;
			ep_set(c->fd, EPOLLIN | EPOLLRDHUP, c, EPOLL_CTL_MOD);
			return;
		}
	}
}

/* Start post seq on idle poster c. */
static void
poster_start(struct poster *c, long seq, int64_t sched)
{
	char content[64];
	int64_t t;

	snprintf(content, sizeof(content), "fanout %08x %ld", tag, seq);
	c->seq = seq;
	c->reqlen = post_request(c->req, sizeof(c->req),
	    agents[seq % opt.nagents].key, content, 0);
	c->reqoff = 0;
	c->state = P_SENDING;
	t = now_us();
	if (t - sched > max_post_delay)
		max_post_delay = t - sched;
	posts[seq].sent = t;
	posts[seq].sent_rt = real_us();
	c->t_sent = t;
	nstarted++;
	poster_send(c);
}

/* A complete answer? -1 bad, 0 not yet, else its length. */
static long
resp_complete(struct poster *c, int *status, const char **body,
    size_t *blen, int *closeit)
{
	char *e;
	size_t hl, vl;
	const char *v;
	long cl;

	c->resp[c->resplen] = '\0';
	if ((e = strstr(c->resp, "\r\n\r\n")) == NULL)
		return c->resplen >= RESP_CAP - 1 ? -1 : 0;
	hl = (size_t)(e - c->resp) + 4;
	*status = head_status(c->resp, hl);
	v = head_find(c->resp, hl, "Connection", &vl);
	*closeit = v != NULL && vl >= 5 && strncasecmp(v, "close", 5) == 0;
	v = head_find(c->resp, hl, "Content-Length", &vl);
	if (v != NULL) {
		cl = atol(v);
		if (c->resplen < hl + (size_t)cl)
			return 0;
		*body = c->resp + hl;
		*blen = (size_t)cl;
		return (long)(hl + (size_t)cl);
	}
	v = head_find(c->resp, hl, "Transfer-Encoding", &vl);
	if (v != NULL && vl >= 7 && strncasecmp(v, "chunked", 7) == 0) {
		/* rare: dechunk in place once the last chunk is here */
		char *p = c->resp + hl, *out = p, *end = c->resp + c->resplen;
		unsigned long sz;
		char *q;

		if (memmem(p, (size_t)(end - p), "\r\n0\r\n\r\n", 7) == NULL &&
		    strncmp(p, "0\r\n\r\n", 5) != 0)
			return 0;
		for (;;) {
			sz = strtoul(p, &q, 16);
			if (q == p || (q = strstr(q, "\r\n")) == NULL)
				return -1;
			q += 2;
			if (sz == 0)
				break;
			memmove(out, q, sz);
			out += sz;
			p = q + sz + 2;
		}
		*body = c->resp + hl;
		*blen = (size_t)(out - (c->resp + hl));
		*closeit = 1; /* the buffer is rewritten: start afresh */
		return (long)c->resplen;
	}
	/* no length: read to the end */
	*closeit = 1;
	return 0;
}

static void
poster_readable(struct poster *c, int64_t now)
{
	ssize_t r;
	long used;
	int status = 0, closeit = 0;
	const char *body = NULL;
	size_t blen = 0;
	struct post *p;

	r = read(c->fd, c->resp + c->resplen, RESP_CAP - 1 - c->resplen);
	if (r < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		poster_down(c, errno);
		return;
	}
	if (r == 0) {
		poster_down(c, 0);
		return;
	}
	c->resplen += (size_t)r;
	used = resp_complete(c, &status, &body, &blen, &closeit);
	if (used < 0) {
		poster_down(c, EPROTO);
		return;
	}
	if (used == 0)
		return;
	p = &posts[c->seq];
	npost_done++;
	if (status == 200) {
		p->acked = now;
		p->id = json_idstr(body, blen, "\"id\":\"");
		nacked++;
	} else {
		p->failed = 1;
		nfailed++;
		if (nfailed <= 5)
			say("fanout: post %ld: status %d: %.*s\n", c->seq,
			    status, (int)(blen > 300 ? 300 : blen), body);
	}
	c->done++;
	if (closeit || c->resplen != (size_t)used) {
		c->state = P_IDLE; /* not in flight any more */
		poster_down(c, 0);
	} else {
		c->resplen = 0;
		c->state = P_IDLE;
		ep_set(c->fd, EPOLLIN | EPOLLRDHUP, c, EPOLL_CTL_MOD);
	}
	post_next(now);
}

static void
poster_io(struct poster *c, uint32_t ev, int64_t now)
{
	int err = 0;
	socklen_t el = sizeof(err);

	switch (c->state) {
	case P_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err != 0) {
			poster_down(c, err);
			return;
		}
		c->state = P_IDLE;
		ep_set(c->fd, EPOLLIN | EPOLLRDHUP, c, EPOLL_CTL_MOD);
		post_next(now);
		break;
	case P_SENDING:
		poster_send(c);
		break;
	case P_WAITING:
		poster_readable(c, now);
		break;
	case P_IDLE:
		/* the server closed an idle keep-alive connection */
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			poster_down(c, 0);
		break;
	}
}

/* Start the posts that are due, on idle connections. */
static void
post_next(int64_t now)
{
	int64_t sched;
	int i;

	if (phase != PH_POST)
		return;
	while (nstarted < nposts) {
		sched = post_t0 + (int64_t)((double)nstarted * 1e6 / opt.rate);
		if (sched > now)
			return;
		for (i = 0; i < opt.nposters; i++)
			if (posters[i].state == P_IDLE)
				break;
		if (i == opt.nposters) {
			for (i = 0; i < opt.nposters; i++)
				if (posters[i].state == P_DOWN)
					poster_connect(&posters[i]);
			return;
		}
		poster_start(&posters[i], nstarted, sched);
	}
}

/* Posts or connections that hang; posts that cannot start at all. */
static void
post_check(int64_t now)
{
	int64_t sched;
	int i;

	for (i = 0; i < opt.nposters; i++) {
		struct poster *c = &posters[i];

		if ((c->state == P_CONNECTING || c->state == P_SENDING ||
		    c->state == P_WAITING) && now - c->t_sent >
		    (int64_t)(opt.post_timeout * 1e6))
			poster_down(c, ETIMEDOUT);
	}
	if (phase != PH_POST || nstarted >= nposts)
		return;
	sched = post_t0 + (int64_t)((double)nstarted * 1e6 / opt.rate);
	if (now - sched > (int64_t)(opt.post_timeout * 1e6)) {
		say("fanout: no connection to post on for %.0f s; giving up "
		    "the %ld posts left\n", opt.post_timeout, nposts - nstarted);
		nfailed += nposts - nstarted;
		npost_done += nposts - nstarted;
		nunsent = nposts - nstarted;
		nposts = nstarted;
	}
}

/* ---- report ----------------------------------------------------------- */

static int
report(double cpu_run, double wall_run, double cpu_all, double wall_all)
{
	int64_t *ht;
	size_t nh = 0;
	long i;
	uint64_t expected, received = 0, unexpected = 0, dup = 0, ooo = 0;
	double hp50, hp99, hmax, hall;
	int64_t *acklat;
	size_t na = 0;
	int ret = 0;

	ht = xcalloc((size_t)opt.nstreams + 1, sizeof(*ht));
	for (i = 0; i < opt.nstreams; i++)
		if (streams[i].t_hist != 0)
			ht[nh++] = streams[i].t_hist - streams[i].t_start;
	qsort(ht, nh, sizeof(*ht), cmp_i64);
	hp50 = pct_sorted(ht, nh, 50);
	hp99 = pct_sorted(ht, nh, 99);
	hmax = nh ? ht[nh - 1] / 1000.0 : 0;
	hall = all_held_t ? (all_held_t - streams_t0) / 1000.0 : -1;
	free(ht);

	acklat = xcalloc((size_t)nposts + 1, sizeof(*acklat));
	for (i = 0; i < nposts; i++) {
		if (posts[i].acked)
			received += posts[i].deliveries;
		else
			unexpected += posts[i].deliveries;
		if (posts[i].acked && posts[i].sent)
			acklat[na++] = posts[i].acked - posts[i].sent;
	}
	qsort(acklat, na, sizeof(*acklat), cmp_i64);
	for (i = 0; i < opt.nstreams; i++) {
		dup += (uint64_t)streams[i].dup;
		ooo += (uint64_t)streams[i].ooo;
	}
	expected = (uint64_t)nacked * (uint64_t)nheld;

	printf("streams: %ld requested, %ld held, %ld failed (refused %ld, "
	    "reset %ld, other %ld; answers 2xx %ld 4xx %ld (429: %ld) "
	    "5xx %ld), %ld closed while held\n",
	    opt.nstreams, nheld, nstream_failed, nconn_refused, nconn_reset,
	    nconn_other, nstream_status[0], nstream_status[2],
	    nstream_status[5], nstream_status[3], nclosed_after_held);
	printf("history: all %ld held after %.1f ms; per stream p50 %.1f ms, "
	    "p99 %.1f ms, max %.1f ms; %ld..%ld messages, %.0f bytes each\n",
	    nheld, hall, hp50, hp99, hmax, hist_min_msgs == LONG_MAX ? 0 :
	    hist_min_msgs, hist_max_msgs, nheld ? (double)hist_bytes_sum /
	    (double)nheld : 0.0);
	printf("posts: %ld planned, %ld sent, %ld acknowledged, %ld failed "
	    "(%ld never sent); "
	    "answer p50 %.1f ms, p99 %.1f ms, max %.1f ms; start delay max "
	    "%.1f ms\n", nposts + nunsent, nstarted, nacked, nfailed, nunsent,
	    pct_sorted(acklat, na, 50), pct_sorted(acklat, na, 99),
	    pct_sorted(acklat, na, 100), max_post_delay / 1000.0);
	printf("deliveries: %" PRIu64 " expected, %" PRIu64 " received, %"
	    PRIu64 " missing, %" PRIu64 " duplicate, %" PRIu64 " out of "
	    "order, %" PRIu64 " of unacknowledged posts; %ld before the POST "
	    "answer; %ld id mismatches; %ld foreign\n", expected, received,
	    expected > received ? expected - received : 0, dup, ooo,
	    unexpected, events_before_ack, nid_mismatch, nforeign);
	printf("latency (POST sent -> event read by this client): p50 %.2f ms, "
	    "p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms over %"
	    PRIu64 " deliveries\n", lat_pct(&lat_read, 50),
	    lat_pct(&lat_read, 90), lat_pct(&lat_read, 99),
	    lat_pct(&lat_read, 99.9), lat_pct(&lat_read, 100), lat_read.n);
	if (lat_kern.n > 0)
		printf("latency (POST sent -> bytes in the client's socket, "
		    "kernel timestamp): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, "
		    "p99.9 %.2f ms, max %.2f ms over %" PRIu64 " deliveries%s\n",
		    lat_pct(&lat_kern, 50), lat_pct(&lat_kern, 90),
		    lat_pct(&lat_kern, 99), lat_pct(&lat_kern, 99.9),
		    lat_pct(&lat_kern, 100), lat_kern.n,
		    lat_kern.neg ? " (some negative: clock skew?)" : "");
	printf("other events: %ld stats, %ld comments\n", nstats_events,
	    ncomments);
	printf("load client CPU: %.2f s in %.1f s of posting+drain (%.1f%% "
	    "of a core); %.2f s in %.1f s overall (%.1f%%)\n", cpu_run,
	    wall_run, wall_run > 0 ? 100 * cpu_run / wall_run : 0, cpu_all,
	    wall_all, wall_all > 0 ? 100 * cpu_all / wall_all : 0);
	printf("RESULT streams=%ld held=%ld failed=%ld closed=%ld "
	    "hist_all_ms=%.1f hist_p50_ms=%.1f hist_p99_ms=%.1f "
	    "hist_max_ms=%.1f hist_msgs_min=%ld posted=%ld acked=%ld "
	    "post_failed=%ld ack_p50_ms=%.2f ack_p99_ms=%.2f "
	    "expected=%" PRIu64 " received=%" PRIu64 " missing=%" PRIu64
	    " dup=%" PRIu64 " ooo=%" PRIu64 " lat_p50_ms=%.2f lat_p90_ms=%.2f "
	    "lat_p99_ms=%.2f lat_max_ms=%.2f klat_p50_ms=%.2f klat_p90_ms=%.2f "
	    "klat_p99_ms=%.2f klat_max_ms=%.2f cpu_s=%.2f cpu_pct=%.1f "
	    "cpu_all_s=%.2f cpu_all_pct=%.1f wall_s=%.2f\n",
	    opt.nstreams, nheld, nstream_failed, nclosed_after_held, hall,
	    hp50, hp99, hmax, hist_min_msgs == LONG_MAX ? 0 : hist_min_msgs,
	    nstarted, nacked, nfailed, pct_sorted(acklat, na, 50),
	    pct_sorted(acklat, na, 99), expected, received,
	    expected > received ? expected - received : 0, dup, ooo,
	    lat_pct(&lat_read, 50), lat_pct(&lat_read, 90),
	    lat_pct(&lat_read, 99), lat_pct(&lat_read, 100),
	    lat_pct(&lat_kern, 50), lat_pct(&lat_kern, 90),
	    lat_pct(&lat_kern, 99), lat_pct(&lat_kern, 100), cpu_run,
	    wall_run > 0 ? 100 * cpu_run / wall_run : 0, cpu_all,
	    wall_all > 0 ? 100 * cpu_all / wall_all : 0, wall_run);
	free(acklat);
	fflush(stdout);

	if (expected > received || dup > 0 || ooo > 0 || unexpected > 0 ||
	    nid_mismatch > 0)
		ret = 1;
	else if (nheld < opt.nstreams || nfailed > 0 ||
	    nclosed_after_held > 0 || (nposts > 0 && nacked == 0))
		ret = 2;
	return ret;
}

/* ---- main ------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
"usage: fanout [options]\n"
"  -a HOST:PORT  API address (register, posts)            [127.0.0.1:8080]\n"
"  -s HOST:PORT  stream address (e.g. the relay's -l)     [the API's]\n"
"  -n N          streams to hold                          [100]\n"
"  -C RATE       stream connects per second, 0 = at once [0]\n"
"  -r RATE       posts per second                         [10]\n"
"  -d SECONDS    posting time                             [10]\n"
"  -m COUNT      posts (instead of RATE x SECONDS)\n"
"  -c CONNS      keep-alive connections for posts         [4]\n"
"  -g AGENTS     agents to register and post as           [20]\n"
"  -H COUNT      messages to post before streams open     [0]\n"
"  -S A-B|none   stream source addresses 127.0.0.A..B     [2-254]\n"
"  -w SECONDS    wait for late deliveries                 [10]\n"
"  -t SECONDS    wait for all streams' history            [60]\n"
"  -T SECONDS    hold the streams idle before posting     [0]\n"
"  -x COMMAND    run (sh -c) once all streams are held; env FANOUT_HELD\n"
"  -K            no kernel receive timestamps (SO_TIMESTAMPNS)\n"
"  -W SECONDS    a post (or its connection) times out      [10]\n"
"  -q            only the report\n"
"exit: 0 ok, 1 missing/duplicate/out-of-order deliveries, 2 streams or\n"
"posts failed, 3 usage or setup error\n");
	exit(3);
}

static double
num(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*end != '\0' || v < 0)
		die("bad number: %s", s);
	return v;
}

int
main(int argc, char **argv)
{
	struct epoll_event ev[EVENTS];
	struct rlimit rl;
	struct sigaction sa;
	int64_t t, t_run0 = 0, t_all0, next_check = 0, deadline = 0;
	double cpu_run0 = 0, cpu_all0, cpu_run = 0, wall_run = 0;
	long i, want;
	int n, c, k, timeout;
	const char *s_addr = NULL, *a_addr = "127.0.0.1:8080";
	char buf[64];

	while ((c = getopt(argc, argv, "a:s:n:C:r:d:m:c:g:H:S:w:t:T:x:qKW:h")) !=
	    -1) {
		switch (c) {
		case 'a': a_addr = optarg; break;
		case 's': s_addr = optarg; break;
		case 'n': opt.nstreams = (long)num(optarg); break;
		case 'C': opt.connect_rate = num(optarg); break;
		case 'r': opt.rate = num(optarg); break;
		case 'd': opt.duration = num(optarg); break;
		case 'm': opt.messages = (long)num(optarg); break;
		case 'c': opt.nposters = (int)num(optarg); break;
		case 'g': opt.nagents = (int)num(optarg); break;
		case 'H': opt.prefill = (long)num(optarg); break;
		case 'S':
			if (strcmp(optarg, "none") == 0)
				opt.src_first = opt.src_last = 0;
			else if (sscanf(optarg, "%d-%d", &opt.src_first,
			    &opt.src_last) != 2 || opt.src_first < 1 ||
			    opt.src_last > 254 || opt.src_first >
			    opt.src_last)
				die("-S wants A-B within 1-254, or none");
			break;
		case 'w': opt.drain = num(optarg); break;
		case 't': opt.hist_timeout = num(optarg); break;
		case 'T': opt.hold = num(optarg); break;
		case 'x': opt.hook = optarg; break;
		case 'q': opt.quiet = 1; break;
		case 'K': opt.kernel_ts = 0; break;
		case 'W': opt.post_timeout = num(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || opt.nposters < 1 || opt.nagents < 1 ||
	    opt.rate <= 0)
		usage();
	parse_addr(a_addr, &opt.api, opt.api_host, sizeof(opt.api_host));
	parse_addr(s_addr ? s_addr : a_addr, &opt.stream, opt.stream_host,
	    sizeof(opt.stream_host));
	nposts = opt.messages > 0 ? opt.messages :
	    (long)(opt.rate * opt.duration + 0.5);

	/* as many descriptors as allowed */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)opt.nstreams + (rlim_t)opt.nposters + 16 >
		    rl.rlim_cur)
			die("%ld streams need more descriptors than the limit "
			    "of %llu", opt.nstreams,
			    (unsigned long long)rl.rlim_cur);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	tag = (uint32_t)getpid() ^ (uint32_t)time(NULL) * 2654435761u;
	t_all0 = now_us();
	cpu_all0 = cpu_s();

	register_agents();
	if (opt.prefill > 0) {
		say("fanout: posting %ld messages for the history\n",
		    opt.prefill);
		prefill();
	}

	posts = xcalloc((size_t)nposts + 1, sizeof(*posts));
	streams = xcalloc((size_t)opt.nstreams + 1, sizeof(*streams));
	for (i = 0; i < opt.nstreams; i++) {
		streams[i].fd = -1;
		streams[i].bits = xcalloc((size_t)nposts / 8 + 1, 1);
	}
	posters = xcalloc((size_t)opt.nposters, sizeof(*posters));
	for (k = 0; k < opt.nposters; k++) {
		posters[k].kind = K_POST;
		posters[k].fd = -1;
		posters[k].resp = xmalloc(RESP_CAP);
	}
	stream_reqlen = (size_t)snprintf(stream_req, sizeof(stream_req),
	    "GET /api/stream HTTP/1.1\r\nHost: %s\r\n"
	    "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
	    opt.stream_host);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));

	say("fanout: opening %ld streams to %s%s\n", opt.nstreams,
	    opt.stream_host, opt.connect_rate > 0 ? "" : " all at once");
	/* the posting connections first: a full server may accept no more */
	for (k = 0; k < opt.nposters; k++)
		poster_connect(&posters[k]);
	phase = PH_CONNECT;
	streams_t0 = phase_t = now_us();
	if (opt.connect_rate <= 0)
		for (i = 0; i < opt.nstreams; i++)
			stream_open(i);

	while (phase != PH_DONE) {
		t = now_us();
		/* schedule */
		if (phase == PH_CONNECT) {
			if (opt.connect_rate > 0) {
				want = (long)((double)(t - streams_t0) / 1e6 *
				    opt.connect_rate) + 1;
				if (want > opt.nstreams)
					want = opt.nstreams;
				while (nopened < want)
					stream_open(nopened);
			}
			if (nopened == opt.nstreams &&
			    nheld + nstream_failed + nclosed_after_held >=
			    opt.nstreams) {
				if (nheld == opt.nstreams)
					all_held_t = now_us();
				say("fanout: %ld streams held (%ld failed) "
				    "after %.1f ms\n", nheld, nstream_failed,
				    (now_us() - streams_t0) / 1000.0);
				goto start_posting;
			}
			if (t - streams_t0 > (int64_t)(opt.hist_timeout *
			    1e6)) {
				say("fanout: only %ld of %ld streams have "
				    "their history after %.0f s\n", nheld,
				    opt.nstreams, opt.hist_timeout);
				for (i = 0; i < opt.nstreams; i++)
					if (streams[i].state != S_HELD &&
					    streams[i].state != S_FAILED &&
					    streams[i].state != S_CLOSED &&
					    streams[i].state != S_IDLE)
						stream_fail(&streams[i],
						    ETIMEDOUT);
				goto start_posting;
			}
		} else if (phase == PH_POST) {
			post_next(t);
			post_check(t);
			if (npost_done == nposts) {
				phase = PH_DRAIN;
				deadline = t + (int64_t)(opt.drain * 1e6);
				say("fanout: %ld posts answered; waiting for "
				    "deliveries\n", nposts);
			}
		}
		if (phase == PH_DRAIN && t >= next_check) {
			uint64_t got = 0;
			long alive = 0;

			next_check = t + 20000;
			for (i = 0; i < nposts; i++)
				if (posts[i].acked)
					got += posts[i].deliveries;
			for (i = 0; i < opt.nstreams; i++)
				if (streams[i].state == S_HELD)
					alive++;
			if (got >= (uint64_t)nacked * (uint64_t)nheld ||
			    alive == 0 || t >= deadline) {
				phase = PH_DONE;
				break;
			}
		}

		timeout = 50;
		if (phase == PH_CONNECT && opt.connect_rate > 0 &&
		    nopened < opt.nstreams)
			timeout = 1;
		for (k = 0; k < opt.nposters; k++)
			if (posters[k].state == P_IDLE)
				break;
		if (phase == PH_POST && nstarted < nposts &&
		    k < opt.nposters) {
			int64_t sched = post_t0 + (int64_t)((double)nstarted *
			    1e6 / opt.rate);
			int64_t d = sched - now_us();

			timeout = d <= 0 ? 0 : (int)((d + 999) / 1000);
			if (timeout > 50)
				timeout = 50;
		}
		n = epoll_wait(epfd, ev, EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		t = now_us();
		for (k = 0; k < n; k++) {
			enum kind *kp = ev[k].data.ptr;

			if (kp == NULL)
				continue;
			if (*kp == K_STREAM)
				stream_io((struct stream *)kp, ev[k].events);
			else
				poster_io((struct poster *)kp, ev[k].events,
				    t);
		}
		if (nheld == opt.nstreams && all_held_t == 0)
			all_held_t = now_us();
		continue;

start_posting:
		if (opt.hook != NULL) {
			snprintf(buf, sizeof(buf), "%ld", nheld);
			setenv("FANOUT_HELD", buf, 1);
			fflush(stdout);
			if (system(opt.hook) != 0)
				say("fanout: the -x command failed\n");
			fflush(stdout);
		}
		if (opt.hold > 0) {
			/* keep reading while idle */
			int64_t until = now_us() + (int64_t)(opt.hold * 1e6);

			while ((t = now_us()) < until) {
				n = epoll_wait(epfd, ev, EVENTS,
				    (int)((until - t) / 1000) + 1);
				t = now_us();
				for (k = 0; k < n; k++) {
					enum kind *kp = ev[k].data.ptr;

					if (kp == NULL)
						continue;
					if (*kp == K_STREAM)
						stream_io((struct stream *)kp,
						    ev[k].events);
					else
						poster_io((struct poster *)kp,
						    ev[k].events, t);
				}
			}
		}
		phase = PH_POST;
		say("fanout: posting %ld messages at %.1f/s\n", nposts,
		    opt.rate);
		t_run0 = post_t0 = now_us();
		cpu_run0 = cpu_s();
		if (nposts == 0) {
			phase = PH_DRAIN;
			deadline = t_run0;
		}
	}
	cpu_run = cpu_s() - cpu_run0;
	wall_run = (now_us() - t_run0) / 1e6;
	return report(cpu_run, wall_run, cpu_s() - cpu_all0,
	    (now_us() - t_all0) / 1e6);
}
