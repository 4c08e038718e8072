/*
 * client.c -- stream clients.
 *
 * A client first sends its request head (GET /api/stream, at most 8 KB
 * within 10 s; request.c reads it).  Then it is checked against the
 * limits: streams per address, streams in all (429 JSON before any stream
 * starts).  A client over its address's limit first waits up to
 * RELAY_PARK_MS: the address's streams are sent a keep-alive comment, and
 * a stream whose reader has gone (the front end keeps such a connection
 * until it writes to it) is closed by that write and frees its slot.
 *
 * A stream has a cursor: the next message id it gets.  It starts where the
 * history begins (hub.c), and the first page of it is the history event.
 * While the cursor is behind the newest message the stream is fed from
 * the ring or the store as its socket drains (client_pump), never more
 * than RELAY_REFILL bytes ahead; once it has caught up it is live, and
 * every new frame is queued for it by reference (client_broadcast).  A
 * live stream whose queue passes RELAY_BACKLOG (it reads slower than the
 * room writes) is dropped; it can resume and lose nothing.  The write
 * event is armed only while the queue is not empty.  Closing is deferred
 * to client_reap(), after the loop has finished with the batch of events,
 * so a descriptor is never reused while events for it are pending.
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
#include <unistd.h>

#include "relay.h"

#define CLIENT_IOV 64
#define CLIENT_ACCEPTS 256
#define CLIENT_READING_MAX 4096
#define IP_BUCKETS 4096
#define CLIENT_SNDBUF 65536 /* kernel buffer per stream; the rest queues here */
#define CLIENT_PROBE_MS 500 /* at most one probe of an address this often */

enum client_state { C_READING, C_WAITING, C_STREAMING, C_CLOSING, C_DEAD };

struct ipcount;

struct client {
	int fd;
	enum client_state state;
	int trusted;
	int live;	    /* streaming and caught up: gets the broadcasts */
	int opened;	    /* its history event is queued */
	char addr[CH_ADDR_MAX];
	struct ipcount *ip; /* counted against this address while streaming */
	char *in;	    /* request head while reading */
	size_t inlen;
	size_t incap;
	int64_t since;	    /* accepted, or parked */
	int resume;
	uint64_t after;	    /* asked to resume after this id */
	uint64_t next;	    /* cursor: the next message id it gets */
	struct frame **q;
	size_t qhead, qlen, qcap;
	size_t off;    /* bytes of q[qhead] already written */
	size_t queued; /* bytes not yet written */
	int lagged;    /* dropped for being too far behind */
	size_t grace;  /* bytes of the opening frames */
	struct client *prev, *nxt;
};

struct ipcount {
	char addr[CH_ADDR_MAX];
	unsigned int n;
	int64_t probed;
	struct ipcount *next;
};

struct clist {
	struct client *head;
	unsigned int n;
};

static struct clist reading, waiting, live, behind, closing, dead;
static struct ipcount *ips[IP_BUCKETS];
static struct frame *stream_head;
static struct loop *loop;
static int cgi;	/* one stream on stdout, a CGI program's (client_cgi) */

static void client_write(struct loop *, int, void *, int);

static void
clist_add(struct clist *l, struct client *c)
{
	c->prev = NULL;
	c->nxt = l->head;
	if (l->head != NULL)
		l->head->prev = c;
	l->head = c;
	l->n++;
}

static void
clist_del(struct clist *l, struct client *c)
{
	if (c->prev != NULL)
		c->prev->nxt = c->nxt;
	else
		l->head = c->nxt;
	if (c->nxt != NULL)
		c->nxt->prev = c->prev;
	c->prev = c->nxt = NULL;
	l->n--;
}

static struct clist *
client_list(struct client *c)
{
	switch (c->state) {
	case C_READING:
		return &reading;
	case C_WAITING:
		return &waiting;
	case C_STREAMING:
		return c->live ? &live : &behind;
	case C_CLOSING:
		return &closing;
	case C_DEAD:
		break;
	}
	return &dead;
}

/* Move c to state st (and list), live or not. */
static void
client_move(struct client *c, enum client_state st, int islive)
{
	clist_del(client_list(c), c);
	c->state = st;
	c->live = islive;
	clist_add(client_list(c), c);
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

/* Drop c: stop its events now (its slot is free at once), free it in
 * client_reap(). */
static void
client_kill(struct client *c)
{
	if (c->state == C_DEAD)
		return;
	loop_del(loop, c->fd, LOOP_READ | LOOP_WRITE);
	if (c->state == C_STREAMING) {
		hub.nclients--;
		if (!cgi)
			ch_shared_set_streams(&hub.cfg, hub.nclients);
		hub.m.drops[c->lagged ? CH_DROP_LAGGING : CH_DROP_CLOSED]++;
	}
	hub.m.backlog -= c->queued;
	c->queued = 0;
	if (c->ip != NULL) {
		ip_release(c->ip);
		c->ip = NULL;
	}
	client_move(c, C_DEAD, 0);
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
	hub.m.backlog += f->len;
	if (f->id != 0)
		hub.m.deliveries++;
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
		hub.m.backlog -= w;
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
		if (!(loop_mask(loop, c->fd) & LOOP_WRITE) &&
		    loop_add(loop, c->fd, LOOP_WRITE, NULL, client_write,
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
	if (loop_mask(loop, c->fd) & LOOP_WRITE)
		loop_del(loop, c->fd, LOOP_WRITE);
	return 0;
}

/*
 * Feed a stream that is behind: its history event first, then frames
 * from its cursor on, from the ring or pages of the store, until
 * RELAY_REFILL bytes are queued or it has caught up (then it is live).
 * 1 if it made progress; 0 if the store was busy (client_tick tries
 * again).
 */
static int
client_feed(struct client *c)
{
	struct frame *f, *page[RELAY_PAGE];
	uint64_t to, upto;
	size_t n, i;
	int progress = 0;

	if (!c->opened) {
		to = c->next + CH_HISTORY - 1;
		if (to > hub.last_id)
			to = hub.last_id;
		if ((f = hub_history(c->next, to)) == NULL)
			return 0;
		client_push(c, f);
		frame_unref(f);
		c->next = to + 1;
		if ((f = hub_stats_now()) != NULL)
			client_push(c, f);
		c->grace = c->queued;
		c->opened = 1;
		progress = 1;
	}
	while (c->queued < RELAY_REFILL && c->next <= hub.last_id) {
		if ((f = ring_get(&hub.ring, c->next)) != NULL) {
			client_push(c, f);
			c->next++;
			progress = 1;
			continue;
		}
		if (hub.ring.first != 0 && c->next >= hub.ring.first) {
			c->next++; /* a hole: no such message */
			continue;
		}
		upto = hub.ring.first != 0 ? hub.ring.first - 1 : hub.last_id;
		if (hub_page(c->next, upto, page, RELAY_PAGE, &n) != 0)
			return progress;
		if (n == 0) {
			c->next = upto + 1;
			continue;
		}
		for (i = 0; i < n; i++) {
			client_push(c, page[i]);
			frame_unref(page[i]);
		}
		c->next = c->q[c->qhead + c->qlen - 1]->id + 1;
		progress = 1;
	}
	if (c->next > hub.last_id)
		client_move(c, C_STREAMING, 1);
	return progress;
}

/* Write what c has, feeding it again while it is behind and drains. */
static void
client_pump(struct client *c)
{
	int i, fed;

	for (i = 0; i < 64; i++) {
		fed = 1;
		if (c->state == C_STREAMING && !c->live &&
		    c->queued < RELAY_REFILL / 2)
			fed = client_feed(c);
		if (client_flush(c) != 0)
			return;
		/* Stop when the socket is full, the stream has caught up, or
		 * the store was busy (client_tick tries again). */
		if (c->qlen > 0 || c->live || c->state != C_STREAMING || !fed)
			return;
	}
}

static void
client_write(struct loop *l, int fd, void *arg, int mask)
{
	(void)l;
	(void)fd;
	(void)mask;
	client_pump(arg);
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

	o = ch_resp_error_json(msg, retry);
	body = ch_json_text(o, &len);
	ch_buf_addf(&b, cgi ? "Status: %d %s\r\n" : "HTTP/1.1 %d %s\r\n",
	    status, reason);
	ch_buf_addf(&b, "Content-Type: application/json; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: %zu\r\n%s", len + 1,
	    cgi ? "" : "Connection: close\r\n");
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
	client_move(c, C_CLOSING, 0);
	loop_del(loop, c->fd, LOOP_READ);
	client_push(c, f);
	frame_unref(f);
	client_flush(c);
}

/* Ask the streams of address ip whether their readers are still there. */
static void
client_probe(struct ipcount *ip, int64_t now)
{
	struct clist *lists[2] = {&live, &behind};
	struct client *c, *next;
	int i;

	if (now - ip->probed < CLIENT_PROBE_MS)
		return;
	ip->probed = now;
	for (i = 0; i < 2; i++)
		for (c = lists[i]->head; c != NULL; c = next) {
			next = c->nxt;
			if (c->ip != ip)
				continue;
			client_push(c, hub.keepalive);
			client_flush(c);
		}
}

/*
 * Start streaming to c (its request is read), or park it while its
 * address is at its limit (then client_tick calls this again).
 */
static void
client_start(struct client *c, int64_t now)
{
	const struct ch_cfg *cfg = &hub.cfg;
	struct ipcount *ip;
	char msg[160], key[CH_ADDR_MAX];

	ch_addr_limit_key(c->addr, key, sizeof(key)); /* an IPv6 /64 is one */
	if (cfg->streams_ip > 0 && (ip = ip_find(key, 0)) != NULL &&
	    ip->n >= cfg->streams_ip) {
		if (c->state == C_READING) {
			client_move(c, C_WAITING, 0);
			c->since = now;
			client_probe(ip, now);
			return;
		}
		if (now - c->since < RELAY_PARK_MS)
			return;
		snprintf(msg, sizeof(msg), "Too many open streams from your "
		    "address (at most %u). Close one and retry.",
		    cfg->streams_ip);
		hub.m.drops[CH_DROP_REFUSED]++;
		client_error(c, 429, "Too Many Requests", 10, NULL, msg);
		return;
	}
	if (hub.nclients >= cfg->streams_max) {
		hub.m.drops[CH_DROP_REFUSED]++;
		client_error(c, 429, "Too Many Requests", 10, NULL,
		    "The server holds as many streams as it can. Retry "
		    "shortly.");
		return;
	}
	c->ip = ip_find(key, 1);
	c->ip->n++;
	hub.m.connects++;
	free(c->in);
	c->in = NULL;
	c->inlen = 0;
	hub.nclients++;
	if (!cgi)
		ch_shared_set_streams(&hub.cfg, hub.nclients);
	/* Resume after the id asked for; an id this store never gave (a
	 * stream from elsewhere) starts afresh. */
	if (c->resume && c->after <= hub.last_id)
		c->next = c->after + 1;
	else
		c->next = hub_history_start();
	c->opened = 0;
	client_move(c, C_STREAMING, 0);
	client_push(c, stream_head);
	client_pump(c);
}

/* Answer c's request r (parsed: r->status says if it failed). */
static void
client_route(struct client *c, const struct request *r, int64_t now)
{
	if (r->status != 0) {
		client_error(c, r->status, r->status == 404 ? "Not Found" :
		    r->status == 405 ? "Method Not Allowed" : "Bad Request", 0,
		    r->status == 405 ? "Allow: GET\r\n" : NULL, r->error);
		return;
	}
	if (r->addr[0] != '\0') /* behind trusted proxies: the client */
		ch_addr_client(&hub.cfg, r->addr, r->before[0] != '\0' ?
		    r->before : NULL, c->addr, sizeof(c->addr));
	c->resume = r->resume;
	c->after = r->after;
	client_start(c, now);
}

/* A complete request head is in c->in: route it. */
static void
client_request(struct client *c, int64_t now)
{
	struct request r;

	(void)request_parse(c->in, c->inlen, c->trusted, &r);
	client_route(c, &r, now);
}

static void
client_read(struct loop *l, int fd, void *arg, int mask)
{
	struct client *c = arg;
	char drain[4096], *e;
	ssize_t r;

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
			client_request(c, loop_now(l));
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

/*
 * Send frames f[0..n) (this turn's, in order) to every stream: message
 * frames to the live ones at their cursor, the others to all.  A live
 * stream that lags too far is dropped.
 */
void
client_broadcast(struct frame **f, size_t n)
{
	struct client *c, *next;
	size_t i, was;
	int others = 0;

	if (n == 0)
		return;
	for (c = live.head; c != NULL; c = next) {
		next = c->nxt;
		was = c->qlen;
		for (i = 0; i < n; i++) {
			if (f[i]->id == 0)
				client_push(c, f[i]);
			else if (f[i]->id == c->next) {
				client_push(c, f[i]);
				c->next++;
			} else if (f[i]->id > c->next && c->live) {
				/* it missed one: the cursor catches up */
				client_move(c, C_STREAMING, 0);
			}
		}
		if (c->queued > RELAY_BACKLOG + c->grace) {
			hub.dropped++;
			c->lagged = 1;
			ch_log_info("dropping a stream of %s: %zu bytes behind",
			    c->addr, c->queued);
			client_kill(c);
			continue;
		}
		if (was == 0)
			client_pump(c);
	}
	for (i = 0; i < n; i++)
		others |= f[i]->id == 0;
	if (!others)
		return;
	for (c = behind.head; c != NULL; c = next) {
		next = c->nxt;
		if (!c->opened)
			continue;
		for (i = 0; i < n; i++)
			if (f[i]->id == 0)
				client_push(c, f[i]);
		client_flush(c);
	}
}

/*
 * Ten times a second: drop clients that have not sent their request head
 * in time, start or refuse the parked ones, and feed the streams that are
 * behind and were waiting for the store.
 */
void
client_tick(int64_t now)
{
	struct client *c, *next;

	for (c = reading.head; c != NULL; c = next) {
		next = c->nxt;
		if (now - c->since > RELAY_REQUEST_TIMEOUT)
			client_kill(c);
	}
	for (c = waiting.head; c != NULL; c = next) {
		next = c->nxt;
		client_start(c, now);
	}
	for (c = behind.head; c != NULL; c = next) {
		next = c->nxt;
		if (c->qlen == 0)
			client_pump(c);
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
		free(c);
	}
}

/* Close every client (shutdown). */
void
client_close_all(void)
{
	struct clist *lists[] = {&reading, &waiting, &live, &behind, &closing};
	size_t i;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		while (lists[i]->head != NULL)
			client_kill(lists[i]->head);
	client_reap();
	frame_unref(stream_head);
	stream_head = NULL;
}

/*
 * Set up: the loop clients live in, and the head every stream starts with
 * (as CGI, its header lines go to the web server, which answers).
 */
void
client_init(struct loop *l, int as_cgi)
{
	char buf[512];
	int n;

	loop = l;
	cgi = as_cgi;
	n = snprintf(buf, sizeof(buf), "%s"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "Access-Control-Allow-Origin: *\r\n"
	    "%s"
	    "\r\n"
	    "retry: %d\n\n", cgi ? "Status: 200 OK\r\n" : "HTTP/1.1 200 OK\r\n",
	    cgi ? "" : "Connection: close\r\n", RELAY_RETRY_MS);
	stream_head = frame_raw(buf, (size_t)n);
}

/*
 * The one stream of a CGI process: to fd (stdout, a pipe to the web
 * server), for request r (request_cgi).  Nothing is read: the stream ends
 * when a write fails (the server closed the pipe, its client gone; the
 * keep-alive comments find that out) or the server's SIGTERM.
 */
void
client_cgi(int fd, const struct request *r)
{
	struct client *c;

	c = ch_xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->trusted = 1;
	c->since = loop_now(loop);
	c->state = C_READING;
	snprintf(c->addr, sizeof(c->addr), "local");
	clist_add(&reading, c);
	client_route(c, r, c->since);
}

/* Streams held, and clients not yet freed (a CGI process ends at 0). */
unsigned int
client_count(void)
{
	return reading.n + waiting.n + live.n + behind.n + closing.n + dead.n;
}
