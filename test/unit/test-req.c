/*
 * test-req.c -- unit tests of common/req.c: query strings (found, absent,
 * %XX and '+', a NUL escape, malformed escapes, a value too long, the
 * first of two), method names, and how failures set the request (the
 * error, its sentence, Retry-After, and what a store error becomes).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"
#include "tap.h"

static void
test_query(void)
{
	static const struct {
		const char *q, *name;
		int ret;
		const char *want;
	} cases[] = {
		{"limit=10", "limit", 0, "10"},
		{"a=1&limit=5&b=2", "limit", 0, "5"},
		{"limit=1&limit=2", "limit", 0, "1"},
		{"limit=", "limit", 0, ""},
		{"limits=3", "limit", 1, NULL},
		{"xlimit=3", "limit", 1, NULL},
		{"limit", "limit", 1, NULL},
		{"", "limit", 1, NULL},
		{"q=a+b%20c", "q", 0, "a b c"},
		{"q=%41%62", "q", 0, "Ab"},
		{"q=%e2%82%ac", "q", 0, "\xe2\x82\xac"},
		{"q=%00", "q", -1, NULL},
		{"q=%4", "q", -1, NULL},
		{"q=%zz", "q", -1, NULL},
		{"q=%", "q", -1, NULL},
		{"q=0123456789012345", "q", -1, NULL},
		{"q=012345678901234", "q", 0, "012345678901234"},
		{"&&q=1&&", "q", 0, "1"},
		{"lastEventId=42", "lastEventId", 0, "42"},
	};
	char out[16];
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		r = ch_query_get(cases[i].q, cases[i].name, out, sizeof(out));
		CHECK(r == cases[i].ret, "query: \"%s\" for %s gives %d (%d)",
		    cases[i].q, cases[i].name, cases[i].ret, r);
		if (cases[i].want != NULL && r == 0)
			CHECK_STR(out, cases[i].want, "query: \"%s\" value",
			    cases[i].q);
	}
}

static void
test_method(void)
{
	enum ch_method m;

	CHECK(ch_req_method("GET", &m) == 0 && m == CH_GET, "method: GET");
	CHECK(ch_req_method("OPTIONS", &m) == 0 && m == CH_OPTIONS,
	    "method: OPTIONS");
	CHECK(ch_req_method("get", &m) == -1, "method: names are upper case");
	CHECK(ch_req_method("BREW", &m) == -1, "method: BREW is not one");
	CHECK(ch_req_method(NULL, &m) == -1, "method: none");
	CHECK_STR(ch_req_method_name(CH_DELETE), "DELETE", "method: a name");
	CHECK_STR(ch_req_method_name(CH_METHOD__MAX), "?",
	    "method: out of range");
}

static void
test_fail(void)
{
	struct ch_req req;

	memset(&req, 0, sizeof(req));
	CHECK(ch_fail(&req, CH_ERR_INVAL, "bad %s", "thing") == -1 &&
	    req.err == CH_ERR_INVAL, "fail: returns -1 and sets the error");
	CHECK_STR(req.errmsg, "bad thing", "fail: the sentence");
	CHECK(ch_fail(&req, CH_ERR_AUTH, NULL) == -1 && req.errmsg == NULL,
	    "fail: NULL leaves the default sentence");
	CHECK(ch_fail_retry(&req, CH_ERR_LIMIT, 42, "wait") == -1 &&
	    req.retry_after == 42, "fail: retry after 42 s");
	ch_req_reset(&req);
	CHECK(req.err == CH_ERR_OK && req.retry_after == 0 &&
	    req.errmsg == NULL, "reset: forgets the failure");

	ch_fail_db(&req, DB_LOCK_NOTGRANTED);
	CHECK(req.err == CH_ERR_UNAVAIL && req.retry_after == 1 &&
	    req.dberr == DB_LOCK_NOTGRANTED, "fail_db: a busy store is a 503 "
	    "to retry in a second");
	ch_req_reset(&req);
	ch_fail_db(&req, CH_DB_UNAVAILABLE);
	CHECK(req.err == CH_ERR_UNAVAIL && req.retry_after == 1,
	    "fail_db: an unavailable store is a 503 too");
	ch_req_reset(&req);
	ch_fail_db(&req, DB_RUNRECOVERY);
	CHECK(req.err == CH_ERR_UNAVAIL, "fail_db: a store being recovered "
	    "is a 503");
	ch_req_reset(&req);
	ch_fail_db(&req, EINVAL);
	CHECK(req.err == CH_ERR_INTERNAL && req.errmsg == NULL &&
	    req.retry_after == 0, "fail_db: anything else is a generic 500");
	ch_req_reset(&req);
}

int
main(void)
{
	ch_log_init("test-req");
	ch_log_set_level(CH_LOG_ERR);
	test_query();
	test_method();
	test_fail();
	return tap_done();
}
