/*
 * test-request.c -- unit tests of the relay's parsers (sse-relay/
 * request.c): the stream request head (method, path, Last-Event-ID and
 * ?lastEventId=, X-Forwarded-For believed only from the front end and
 * only as an address) and resume ids.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "relay.h"
#include "tap.h"

static int
parse(const char *head, int trusted, struct request *r)
{
	return request_parse(head, strlen(head), trusted, r);
}

static void
test_head(void)
{
	struct request r;

	CHECK(parse("GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n", 0, &r) ==
	    0 && !r.resume && r.addr[0] == '\0', "head: a plain stream");
	CHECK(parse("GET /api/stream HTTP/1.1\r\nlast-event-id: 42\r\n\r\n",
	    0, &r) == 0 && r.resume && r.after == 42,
	    "head: Last-Event-ID in any case");
	CHECK(parse("GET /api/stream?lastEventId=7 HTTP/1.1\r\n\r\n", 0, &r) ==
	    0 && r.resume && r.after == 7, "head: ?lastEventId=");
	CHECK(parse("GET /api/stream?x=1&lastEventId=%37%38 HTTP/1.1\r\n\r\n",
	    0, &r) == 0 && r.resume && r.after == 78,
	    "head: ?lastEventId= among others, %%-escaped");
	CHECK(parse("GET /api/stream?mylastEventId=7 HTTP/1.1\r\n\r\n", 0,
	    &r) == 0 && !r.resume, "head: not a parameter merely ending so");
	CHECK(parse("GET /api/stream?lastEventId=7 HTTP/1.1\r\n"
	    "Last-Event-ID: 9\r\n\r\n", 0, &r) == 0 && r.after == 9,
	    "head: the header beats the query");
	CHECK(parse("GET /api/stream HTTP/1.1\r\nLast-Event-ID: x1\r\n\r\n", 0,
	    &r) == 0 && !r.resume, "head: a bogus id is no resume");
	CHECK(parse("GET /api/stream HTTP/1.1\r\nLast-Event-ID:  5 \r\n\r\n",
	    0, &r) == 0 && r.after == 5, "head: blanks around the id");
	CHECK(parse("GET /api/stream HTTP/1.1\nLast-Event-ID: 3\n\n", 0,
	    &r) == 0 && r.after == 3, "head: bare newlines");
	CHECK(parse("GET /api/stream HTTP/1.1\r\nX-Forwarded-For: 10.0.0.9, "
	    "127.0.0.5\r\n\r\n", 1, &r) == 0 && strcmp(r.addr, "127.0.0.5") ==
	    0, "head: the last X-Forwarded-For address, from the front end");
	CHECK(parse("GET /api/stream HTTP/1.1\r\nX-Forwarded-For: 10.0.0.9\r\n"
	    "\r\n", 0, &r) == 0 && r.addr[0] == '\0',
	    "head: ... not from anyone else");
	CHECK(parse("GET /api/stream HTTP/1.1\r\nX-Forwarded-For: <evil>\r\n"
	    "\r\n", 1, &r) == 0 && r.addr[0] == '\0',
	    "head: ... and only when it is an address");
	CHECK(parse("GET /api/stream HTTP/1.1\r\nX-Forwarded-For: ::1\r\n\r\n",
	    1, &r) == 0 && strcmp(r.addr, "::1") == 0, "head: IPv6");
	CHECK(parse("POST /api/stream HTTP/1.1\r\n\r\n", 0, &r) == -1 &&
	    r.status == 405, "head: POST is 405");
	CHECK(parse("GET /api/streams HTTP/1.1\r\n\r\n", 0, &r) == -1 &&
	    r.status == 404, "head: another path is 404");
	CHECK(parse("GET\r\n\r\n", 0, &r) == -1 && r.status == 400,
	    "head: no target is 400");
	CHECK(parse(" /api/stream HTTP/1.1\r\n\r\n", 0, &r) == -1 &&
	    r.status == 400, "head: no method is 400");
	CHECK(parse("VERYLONGMETHODNAME /api/stream HTTP/1.1\r\n\r\n", 0,
	    &r) == -1 && r.status == 400, "head: a method too long is 400");
	CHECK(parse("no newline", 0, &r) == -1 && r.status == 400,
	    "head: no line is 400");
}

static void
test_ids(void)
{
	uint64_t id;

	CHECK(request_event_id("0", 1, &id) == 0 && id == 0, "id: 0");
	CHECK(request_event_id("007", 3, &id) == 0 && id == 7,
	    "id: leading zeros");
	CHECK(request_event_id("18446744073709551615", 20, &id) == 0 &&
	    id == UINT64_MAX, "id: the largest");
	CHECK(request_event_id("18446744073709551616", 20, &id) == -1,
	    "id: past 64 bits");
	CHECK(request_event_id("123456789012345678901", 21, &id) == -1,
	    "id: 21 digits");
	CHECK(request_event_id("", 0, &id) == -1, "id: empty");
	CHECK(request_event_id("-1", 2, &id) == -1, "id: negative");
	CHECK(request_event_id("1 ", 2, &id) == -1, "id: trailing blank");
	CHECK(request_event_id("12", 1, &id) == 0 && id == 1,
	    "id: only len bytes are read");
}

int
main(void)
{
	test_head();
	test_ids();
	return tap_done();
}
