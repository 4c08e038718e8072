/*
 * client.c -- stream clients.
 *
 * A client first sends its request head (GET /api/stream, at most 8 KB
 * within 10 s).  Then it is checked against the limits (streams per
 * address, streams in all; 429 JSON before any stream starts) and gets the
 * stream head, the history event and the latest stats.  From then on it
 * holds a queue of references to shared frames and the offset reached in
 * the first; the write event is armed only while the queue is not empty.
 * A client whose queue passes RELAY_BACKLOG is dropped.  Closing is
 * deferred to client_reap(), after the loop has finished with the batch of
 * events, so a descriptor is never reused while events for it are pending.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "relay.h"

#define CLIENT_IOV 64
#define CLIENT_ACCEPTS 256
#define CLIENT_READING_MAX 4096
#define IP_BUCKETS 4096
#define CLIENT_SNDBUF 65536 /* kernel buffer per stream; the rest queues here */

enum client_state { C_READING, C_STREAMING, C_CLOSING, C_DEAD };

struct client {
	int fd;
	enum client_state state;
	int trusted;
	char addr[CH_ADDR_MAX];
	struct ipcount *ip; /* counted against this address while streaming */
	char *in;	    /* request head while reading */
	size_t inlen;
	size_t incap;
	int64_t since;
	struct frame **q;
	size_t qhead, qlen, qcap;
	size_t off;    /* bytes of q[qhead] already written */
	size_t queued; /* bytes not yet written */
	size_t grace;  /* bytes of the opening frames */
	struct client *prev, *next;
};

struct ipcount {
	char addr[CH_ADDR_MAX];
	unsigned int n;
	struct ipcount *next;
};

struct clist {
	struct client *head;
	unsigned int n;
};

static struct clist reading, streaming, dead;
static struct ipcount *ips[IP_BUCKETS];
static struct frame *stream_head;

static void client_write(struct loop *, int, void *, int);

static void
clist_add(struct clist *l, struct client *c)
{
	c->prev = NULL;
	c->next = l->head;
	if (l->head != NULL)
		l->head->prev = c;
	l->head = c;
	l->n++;
}

static void
clist_del(struct clist *l, struct client *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

static struct clist *
client_list(struct client *c)
{
	switch (c->state) {
	case C_READING:
		return &reading;
	case C_STREAMING:
	case C_CLOSING:
		return &streaming;
	case C_DEAD:
		break;
	}
	return &dead;
}

static unsigned int
ip_hash(const char *s)
{
	unsigned int h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % IP_BUCKETS;
}

static struct ipcount *
ip_find(const char *addr, int create)
{
	struct ipcount *e, **head = &ips[ip_hash(addr)];

	for (e = *head; e != NULL; e = e->next)
		if (strcmp(e->addr, addr) == 0)
			return e;
	if (!create)
		return NULL;
	e = ch_xcalloc(1, sizeof(*e));
	snprintf(e->addr, sizeof(e->addr), "%s", addr);
	e->next = *head;
	*head = e;
	return e;
}

static void
ip_release(struct ipcount *e)
{
	struct ipcount **pp;

	if (--e->n > 0)
		return;
	for (pp = &ips[ip_hash(e->addr)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			free(e);
			return;
		}
}

/* Drop c: stop its events now, free it in client_reap(). */
static void
client_kill(struct client *c)
{
	if (c->state == C_DEAD)
		return;
	loop_del(relay.loop, c->fd, LOOP_READ | LOOP_WRITE);
	clist_del(client_list(c), c);
	if (c->state == C_STREAMING)
		relay.nclients--;
	c->state = C_DEAD;
	clist_add(&dead, c);
}

/* Queue a reference to f. */
static void
client_push(struct client *c, struct frame *f)
{
	if (c->qhead + c->qlen == c->qcap) {
		if (c->qhead > 0) {
			memmove(c->q, c->q + c->qhead,
			    c->qlen * sizeof(*c->q));
			c->qhead = 0;
		} else {
			c->qcap = c->qcap == 0 ? 4 : c->qcap * 2;
			c->q = ch_xreallocarray(c->q, c->qcap, sizeof(*c->q));
		}
	}
	c->q[c->qhead + c->qlen++] = frame_ref(f);
	c->queued += f->len;
}

/*
 * Write as much of the queue as the socket takes.  Arms or disarms the
 * write event; kills the client on error.  0 while the client lives.
 */
static int
client_flush(struct client *c)
{
	struct iovec iov[CLIENT_IOV];
	struct frame *f;
	size_t i, n, w;
	ssize_t r;

	while (c->qlen > 0) {
		for (i = 0, n = 0; i < c->qlen && n < CLIENT_IOV; i++, n++) {
			f = c->q[c->qhead + i];
			iov[n].iov_base = f->data + (i == 0 ? c->off : 0);
			iov[n].iov_len = f->len - (i == 0 ? c->off : 0);
		}
		r = writev(c->fd, iov, (int)n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_kill(c);
			return -1;
		}
		w = (size_t)r;
		c->queued -= w;
		while (w > 0) {
			f = c->q[c->qhead];
			if (w < f->len - c->off) {
				c->off += w;
				break;
			}
			w -= f->len - c->off;
			c->off = 0;
			frame_unref(f);
			c->qhead++;
			c->qlen--;
		}
		if (c->qlen == 0)
			c->qhead = 0;
	}
	if (c->qlen > 0) {
		if (!(loop_mask(relay.loop, c->fd) & LOOP_WRITE) &&
		    loop_add(relay.loop, c->fd, LOOP_WRITE, NULL, client_write,
		    c) != 0) {
			client_kill(c);
			return -1;
		}
		return 0;
	}
	if (c->state == C_CLOSING) {
		client_kill(c);
		return -1;
	}
	if (loop_mask(relay.loop, c->fd) & LOOP_WRITE)
		loop_del(relay.loop, c->fd, LOOP_WRITE);
	return 0;
}

static void
client_write(struct loop *l, int fd, void *arg, int mask)
{
	(void)l;
	(void)fd;
	(void)mask;
	client_flush(arg);
}

/* Answer with a JSON error and close once it is written. */
static void
client_error(struct client *c, int status, const char *reason,
    unsigned int retry, const char *extra, const char *msg)
{
	struct json_object *o;
	struct ch_buf b = {0};
	struct frame *f;
	const char *body;
	size_t len;

	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_boolean(0));
	ch_json_addstr(o, "error", msg);
	if (retry > 0)
		json_object_object_add(o, "retryAfter",
		    json_object_new_int64(retry));
	body = ch_json_text(o, &len);
	ch_buf_addf(&b, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n", status, reason, len + 1);
	if (retry > 0)
		ch_buf_addf(&b, "Retry-After: %u\r\n", retry);
	if (extra != NULL)
		ch_buf_adds(&b, extra);
	ch_buf_adds(&b, "\r\n");
	ch_buf_add(&b, body, len);
	ch_buf_add(&b, "\n", 1);
	json_object_put(o);
	f = frame_raw(b.data, b.len);
	ch_buf_free(&b);

	free(c->in);
	c->in = NULL;
	clist_del(&reading, c);
	c->state = C_CLOSING;
	clist_add(&streaming, c);
	loop_del(relay.loop, c->fd, LOOP_READ);
	client_push(c, f);
	frame_unref(f);
	client_flush(c);
}

/* Trim blanks at both ends of [s, e) in place; returns the new start. */
static char *
client_trim(char *s, char **e)
{
	while (s < *e && (*s == ' ' || *s == '\t'))
		s++;
	while (*e > s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' ||
	    (*e)[-1] == '\r'))
		(*e)--;
	return s;
}

/* Start streaming to c, which asked for the stream after id resume. */
static void
client_start(struct client *c, int resume, uint64_t after)
{
	struct frame *hist = NULL;
	struct ipcount *ip = NULL;
	const struct ch_cfg *cfg = &relay.cfg;
	char msg[160];

	if (cfg->streams_ip > 0) {
		ip = ip_find(c->addr, 0);
		if (ip != NULL && ip->n >= cfg->streams_ip) {
			snprintf(msg, sizeof(msg), "Too many open streams "
			    "from your address (at most %u). Close one and "
			    "retry.", cfg->streams_ip);
			client_error(c, 429, "Too Many Requests", 10, NULL,
			    msg);
			return;
		}
	}
	if (relay.nclients >= cfg->streams_max) {
		client_error(c, 429, "Too Many Requests", 10, NULL,
		    "The server holds as many streams as it can. Retry "
		    "shortly.");
		return;
	}
	if (resume == 0 || relay_resume(after, &hist) != 0)
		hist = relay_history();

	c->ip = ip_find(c->addr, 1);
	c->ip->n++;
	free(c->in);
	c->in = NULL;
	c->inlen = 0;
	clist_del(&reading, c);
	c->state = C_STREAMING;
	clist_add(&streaming, c);
	relay.nclients++;
	client_push(c, stream_head);
	client_push(c, hist);
	frame_unref(hist);
	if (relay_stats_now() != NULL)
		client_push(c, relay.stats);
	c->grace = c->queued;
	client_flush(c);
}

/* A complete request head is in c->in: route it. */
static void
client_request(struct client *c)
{
	char *line, *end, *p, *sp, *name, *val, *vend, *comma, *q, *qend;
	char method[16], path[256];
	unsigned long long after = 0;
	size_t n;
	int resume = 0;

	line = c->in;
	end = strchr(line, '\n');
	*end = '\0';
	if ((sp = strchr(line, ' ')) == NULL || (size_t)(sp - line) >=
	    sizeof(method)) {
		client_error(c, 400, "Bad Request", 0, NULL,
		    "Malformed request line.");
		return;
	}
	memcpy(method, line, (size_t)(sp - line));
	method[sp - line] = '\0';
	p = sp + 1;
	n = strcspn(p, " ?\r");
	if (n >= sizeof(path)) {
		client_error(c, 404, "Not Found", 0, NULL, "No such endpoint.");
		return;
	}
	memcpy(path, p, n);
	path[n] = '\0';
	/*
	 * ?lastEventId=N resumes like the header: a page that must open a
	 * new EventSource (after a 503, say) cannot set headers.
	 */
	if (p[n] == '?' && (q = strstr(p + n, "lastEventId=")) != NULL &&
	    (q[-1] == '?' || q[-1] == '&')) {
		q += strlen("lastEventId=");
		if (*q >= '0' && *q <= '9') {
			after = strtoull(q, &qend, 10);
			resume = (*qend == ' ' || *qend == '&' || *qend == '\r' ||
			    *qend == '\0') && qend - q < 20;
		}
	}

	for (p = end + 1; *p != '\0' && *p != '\r' && *p != '\n'; p = end + 1) {
		if ((end = strchr(p, '\n')) == NULL)
			break;
		if ((val = memchr(p, ':', (size_t)(end - p))) == NULL)
			continue;
		name = p;
		*val++ = '\0';
		vend = end;
		val = client_trim(val, &vend);
		*vend = '\0';
		if (strcasecmp(name, "Last-Event-ID") == 0) {
			if (*val >= '0' && *val <= '9' && strlen(val) < 20) {
				after = strtoull(val, &p, 10);
				resume = *p == '\0';
			}
		} else if (c->trusted &&
		    strcasecmp(name, "X-Forwarded-For") == 0) {
			/* lighttpd appends the real peer last. */
			if ((comma = strrchr(val, ',')) != NULL)
				val = comma + 1;
			while (*val == ' ')
				val++;
			if (*val != '\0' && strlen(val) < sizeof(c->addr))
				snprintf(c->addr, sizeof(c->addr), "%s", val);
		}
		p = end; /* the loop steps past the newline */
	}

	if (strcmp(path, "/api/stream") != 0) {
		client_error(c, 404, "Not Found", 0, NULL,
		    "No such endpoint. See /skills.md for the API.");
		return;
	}
	if (strcmp(method, "GET") != 0) {
		client_error(c, 405, "Method Not Allowed", 0,
		    "Allow: GET\r\n", "Method not allowed: use GET.");
		return;
	}
	client_start(c, resume, after);
}

static void
client_read(struct loop *l, int fd, void *arg, int mask)
{
	struct client *c = arg;
	char drain[4096], *e;
	ssize_t r;

	(void)l;
	(void)mask;
	if (c->state != C_READING) {
		/* Streaming: anything read is ignored; EOF ends the stream. */
		for (;;) {
			r = read(fd, drain, sizeof(drain));
			if (r > 0)
				continue;
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			client_kill(c);
			return;
		}
	}
	for (;;) {
		/* Heads are a few hundred bytes: start small, grow to 8 KB. */
		if (c->incap - c->inlen < 256 && c->incap <= RELAY_REQUEST_MAX) {
			c->incap = c->incap == 0 ? 1024 : c->incap * 2;
			if (c->incap > RELAY_REQUEST_MAX + 1)
				c->incap = RELAY_REQUEST_MAX + 1;
			c->in = ch_xreallocarray(c->in, c->incap, 1);
		}
		r = read(fd, c->in + c->inlen, c->incap - 1 - c->inlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			client_kill(c);
			return;
		}
		c->inlen += (size_t)r;
		c->in[c->inlen] = '\0';
		if (memchr(c->in, '\0', c->inlen) != NULL) {
			client_error(c, 400, "Bad Request", 0, NULL,
			    "Malformed request.");
			return;
		}
		if ((e = strstr(c->in, "\r\n\r\n")) != NULL ||
		    (e = strstr(c->in, "\n\n")) != NULL) {
			client_request(c);
			return;
		}
		if (c->inlen == RELAY_REQUEST_MAX) {
			client_error(c, 431, "Request Header Fields Too Large",
			    0, NULL, "The request head is too large.");
			return;
		}
	}
}

/* The listening socket is readable: accept what is waiting. */
void
client_accept(struct loop *l, int lfd, void *arg, int mask)
{
	const struct listener *li = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct client *c;
	int fd, i, sndbuf = CLIENT_SNDBUF;

	(void)mask;
	for (i = 0; i < CLIENT_ACCEPTS; i++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ch_log_warn("accept: %s", strerror(errno));
			return;
		}
		if (reading.n >= CLIENT_READING_MAX) {
			close(fd);
			continue;
		}
		/*
		 * A fixed send buffer: bounded kernel memory per stream, and
		 * a stalled client backs up into its queue, which is capped.
		 */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
		    sizeof(sndbuf)) != 0)
			ch_log_debug("SO_SNDBUF: %s", strerror(errno));
		c = ch_xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->trusted = li->trusted;
		c->since = loop_now(l);
		c->state = C_READING;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)&ss)->sin_addr, c->addr,
			    sizeof(c->addr));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr,
			    sizeof(c->addr));
		else
			snprintf(c->addr, sizeof(c->addr), "local");
		clist_add(&reading, c);
		if (loop_add(l, fd, LOOP_READ, client_read, client_write,
		    c) != 0) {
			ch_log_warn("watching a client: %s", strerror(errno));
			client_kill(c);
		}
	}
}

/* Send frames f[0..n) to every stream, dropping those that lag. */
void
client_broadcast(struct frame **f, size_t n)
{
	struct client *c, *next;
	size_t i, was;

	if (n == 0)
		return;
	for (c = streaming.head; c != NULL; c = next) {
		next = c->next;
		if (c->state != C_STREAMING)
			continue;
		was = c->qlen;
		for (i = 0; i < n; i++)
			client_push(c, f[i]);
		if (c->queued > RELAY_BACKLOG + c->grace) {
			relay.dropped++;
			ch_log_info("dropping a stream of %s: %zu bytes behind",
			    c->addr, c->queued);
			client_kill(c);
			continue;
		}
		if (was == 0)
			client_flush(c);
	}
}

/* Drop clients that have not sent their request head in time. */
void
client_sweep(int64_t now)
{
	struct client *c, *next;

	for (c = reading.head; c != NULL; c = next) {
		next = c->next;
		if (now - c->since > RELAY_REQUEST_TIMEOUT)
			client_kill(c);
	}
}

/* Free the clients killed during this loop iteration. */
void
client_reap(void)
{
	struct client *c;

	while ((c = dead.head) != NULL) {
		clist_del(&dead, c);
		close(c->fd);
		while (c->qlen > 0) {
			frame_unref(c->q[c->qhead++]);
			c->qlen--;
		}
		free(c->q);
		free(c->in);
		if (c->ip != NULL)
			ip_release(c->ip);
		free(c);
	}
}

/* Close every client (shutdown). */
void
client_close_all(void)
{
	while (reading.head != NULL)
		client_kill(reading.head);
	while (streaming.head != NULL)
		client_kill(streaming.head);
	client_reap();
	frame_unref(stream_head);
	stream_head = NULL;
}

/* The head every stream starts with. */
void
client_init(void)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "Access-Control-Allow-Origin: *\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "retry: %d\n\n", RELAY_RETRY_MS);
	stream_head = frame_raw(buf, (size_t)n);
}
