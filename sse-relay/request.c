/*
 * request.c -- the relay's parsers of untrusted input: a stream client's
 * request head, and the message id it resumes after (the Last-Event-ID
 * header, or ?lastEventId= for a page that cannot set headers).  Pure
 * functions of their input (test/fuzz/fuzz-request.c feeds them).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay.h"

/*
 * Parse a message id as a stream resumes from it: 1 to 20 decimal digits
 * (leading zeros allowed, as clients echo what they were sent), within 64
 * bits.  0 with *out set, or -1.
 */
int
request_event_id(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Could s (len bytes) be an IPv4 or IPv6 address?  Nothing else is kept. */
static int
request_is_addr(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F') ||
		    s[i] == '.' || s[i] == ':'))
			return 0;
	return 1;
}

/* Blanks at both ends of [*s, *e) trimmed. */
static void
request_trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' ||
	    (*e)[-1] == '\r'))
		(*e)--;
}

/*
 * Parse the request head in head (len bytes, up to and including the
 * blank line; no NUL inside) into *r.  trusted: the connection comes from
 * the front end (lighttpd's X-Forwarded-For is believed; it appends the
 * real peer last, into r->addr; what came before it goes to r->before).  0 on success; else -1 with r->status and r->error
 * set for the answer.
 */
int
request_parse(const char *head, size_t len, int trusted, struct request *r)
{
	const char *p, *end, *line, *sp, *path, *q, *colon, *v, *ve, *c;
	char query[256], idbuf[32];
	size_t n;
	uint64_t id;

	memset(r, 0, sizeof(*r));
	end = head + len;
	if ((line = memchr(head, '\n', len)) == NULL)
		goto bad;
	/* METHOD SP TARGET SP VERSION */
	if ((sp = memchr(head, ' ', (size_t)(line - head))) == NULL ||
	    (size_t)(sp - head) >= sizeof(r->method) || sp == head)
		goto bad;
	memcpy(r->method, head, (size_t)(sp - head));
	path = sp + 1;
	n = strcspn(path, " ?\r\n");
	if (path + n > line)
		goto bad;
	if (n >= sizeof(r->path)) {
		r->status = 404;
		r->error = "No such endpoint. See /skills.md for the API.";
		return -1;
	}
	memcpy(r->path, path, n);
	if (path[n] == '?') {
		q = path + n + 1;
		n = strcspn(q, " \r\n");
		if (q + n > line)
			goto bad;
		if (n < sizeof(query)) {
			memcpy(query, q, n);
			query[n] = '\0';
			if (ch_query_get(query, "lastEventId", idbuf,
			    sizeof(idbuf)) == 0 && request_event_id(idbuf,
			    strlen(idbuf), &id) == 0) {
				r->resume = 1;
				r->after = id;
			}
		}
	}
	/* Header lines; the header beats the query. */
	for (p = line + 1; p < end; p = line + 1) {
		if ((line = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (line == p || (line == p + 1 && *p == '\r'))
			break; /* the blank line */
		if ((colon = memchr(p, ':', (size_t)(line - p))) == NULL)
			continue;
		v = colon + 1;
		ve = line;
		request_trim(&v, &ve);
		n = (size_t)(colon - p);
		if (n == 13 && strncasecmp(p, "Last-Event-ID", 13) == 0) {
			if (request_event_id(v, (size_t)(ve - v), &id) == 0) {
				r->resume = 1;
				r->after = id;
			}
		} else if (trusted && n == 15 &&
		    strncasecmp(p, "X-Forwarded-For", 15) == 0) {
			for (c = ve; c > v && c[-1] != ','; c--)
				;
			/* what the proxies before lighttpd said, if any:
			 * believed only of trusted ones (ch_addr_client) */
			r->before[0] = '\0';
			if (c > v && (size_t)(c - 1 - v) < sizeof(r->before)) {
				memcpy(r->before, v, (size_t)(c - 1 - v));
				r->before[c - 1 - v] = '\0';
			}
			v = c;
			request_trim(&v, &ve);
			if (ve > v && (size_t)(ve - v) < sizeof(r->addr) &&
			    request_is_addr(v, (size_t)(ve - v))) {
				memcpy(r->addr, v, (size_t)(ve - v));
				r->addr[ve - v] = '\0';
			}
		}
	}
	if (strcmp(r->path, "/api/stream") != 0) {
		r->status = 404;
		r->error = "No such endpoint. See /skills.md for the API.";
		return -1;
	}
	if (strcmp(r->method, "GET") != 0) {
		r->status = 405;
		r->error = "Method not allowed: use GET.";
		return -1;
	}
	return 0;
bad:
	r->status = 400;
	r->error = "Malformed request line.";
	return -1;
}

/*
 * The request of a CGI process (the stream under a web server that runs
 * a program per request), from the CGI environment: REQUEST_METHOD,
 * QUERY_STRING's lastEventId, HTTP_LAST_EVENT_ID (which beats it), and
 * the client's address as the server saw it (REMOTE_ADDR, into r->addr),
 * with any X-Forwarded-For the client sent (HTTP_X_FORWARDED_FOR, into
 * r->before: believed only of trusted proxies, as from lighttpd).  The
 * path is the server's business (it ran this program for it).  Like
 * request_parse, r->status and r->error say what to answer on failure.
 */
void
request_cgi(struct request *r)
{
	const char *m = getenv("REQUEST_METHOD"), *q = getenv("QUERY_STRING");
	const char *h = getenv("HTTP_LAST_EVENT_ID"), *a = getenv("REMOTE_ADDR");
	const char *x = getenv("HTTP_X_FORWARDED_FOR");
	char idbuf[32], query[256];
	uint64_t id;
	size_t n;

	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "/api/stream");
	if (m == NULL || strlen(m) >= sizeof(r->method)) {
		r->status = 400;
		r->error = "Malformed request line.";
		return;
	}
	snprintf(r->method, sizeof(r->method), "%s", m);
	if (q != NULL && strlen(q) < sizeof(query)) {
		snprintf(query, sizeof(query), "%s", q);
		if (ch_query_get(query, "lastEventId", idbuf,
		    sizeof(idbuf)) == 0 && request_event_id(idbuf,
		    strlen(idbuf), &id) == 0) {
			r->resume = 1;
			r->after = id;
		}
	}
	if (h != NULL) {
		const char *e = h + strlen(h);

		request_trim(&h, &e);
		if (request_event_id(h, (size_t)(e - h), &id) == 0) {
			r->resume = 1;
			r->after = id;
		}
	}
	if (a != NULL && (n = strlen(a)) > 0 && n < sizeof(r->addr) &&
	    request_is_addr(a, n))
		memcpy(r->addr, a, n + 1);
	if (r->addr[0] != '\0' && x != NULL && strlen(x) < sizeof(r->before))
		snprintf(r->before, sizeof(r->before), "%s", x);
	if (strcmp(r->method, "GET") != 0) {
		r->status = 405;
		r->error = "Method not allowed: use GET.";
	}
}
