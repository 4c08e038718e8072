/*
 * test-resp.c -- unit tests of common/resp.c, through a request whose
 * output is captured: the status line and headers of a JSON answer, its
 * Content-Length, no body for HEAD, and every error's shape: the
 * sentence, Retry-After with retryAfter for 429 and 503, Allow for 405.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"
#include "tap.h"

static struct ch_buf out;

static const char *
cap_param(struct ch_req *req, const char *name)
{
	(void)req;
	(void)name;
	return NULL;
}

static ssize_t
cap_read(struct ch_req *req, char *buf, size_t len)
{
	(void)req;
	(void)buf;
	(void)len;
	return 0;
}

static int
cap_write(struct ch_req *req, const char *buf, size_t len)
{
	(void)req;
	ch_buf_add(&out, buf, len);
	return 0;
}

static const struct ch_io cap_io = {cap_param, cap_read, cap_write};

static const struct ch_op op_get = {.flags = CH_OP_READONLY};
static const struct ch_op op_post = {.flags = 0};
static const struct ch_endpoint ep = {
	.name = "test",
	.path = "/api/test",
	.op = {[CH_GET] = &op_get, [CH_POST] = &op_post},
};

static void
begin(struct ch_req *req, enum ch_method m)
{
	memset(req, 0, sizeof(*req));
	req->io = &cap_io;
	req->ep = &ep;
	req->method = m;
	ch_buf_reset(&out);
	ch_buf_add(&out, "", 0);
}

/* The body after the head, parsed. */
static struct json_object *
body(void)
{
	const char *p = strstr(out.data, "\r\n\r\n");

	return p != NULL ? json_tokener_parse(p + 4) : NULL;
}

static void
test_json(void)
{
	struct ch_req req;
	struct json_object *o;
	char want[64];

	begin(&req, CH_GET);
	o = ch_resp_ok(&req);
	json_object_object_add(o, "n", json_object_new_int(1));
	CHECK(ch_resp_json(&req, 200, o, NULL) == 0, "json: written");
	CHECK(strncmp(out.data, "Status: 200 OK\r\n", 16) == 0,
	    "json: the status line");
	CHECK(strstr(out.data, "Content-Type: application/json; "
	    "charset=utf-8\r\n") != NULL, "json: the content type");
	CHECK(strstr(out.data, "Cache-Control: no-store\r\n") != NULL,
	    "json: not cached");
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n",
	    strlen("{\"success\":true,\"n\":1}\n"));
	CHECK(strstr(out.data, want) != NULL, "json: the length of body and "
	    "newline");
	CHECK_STR(strstr(out.data, "\r\n\r\n") + 4,
	    "{\"success\":true,\"n\":1}\n", "json: the body");
	ch_req_reset(&req);

	begin(&req, CH_HEAD);
	o = ch_resp_ok(&req);
	ch_resp_json(&req, 200, o, NULL);
	CHECK(strcmp(strstr(out.data, "\r\n\r\n"), "\r\n\r\n") == 0,
	    "json: HEAD gets the head only");
	ch_req_reset(&req);
}

static void
test_errors(void)
{
	struct ch_req req;
	struct json_object *o, *v;

	begin(&req, CH_POST);
	ch_fail(&req, CH_ERR_INVAL, "name is required.");
	ch_resp_error(&req);
	o = body();
	CHECK(strncmp(out.data, "Status: 400 ", 12) == 0, "error: 400");
	CHECK(o != NULL && json_object_object_length(o) == 2 &&
	    !json_object_get_boolean(json_object_object_get(o, "success")),
	    "error: {success:false, error}");
	CHECK_STR(ch_json_str(o, "error", NULL), "name is required.",
	    "error: the sentence");
	CHECK(strstr(out.data, "Retry-After") == NULL, "error: no "
	    "Retry-After on a 400");
	json_object_put(o);
	ch_req_reset(&req);

	begin(&req, CH_POST);
	ch_fail_retry(&req, CH_ERR_LIMIT, 42, "Slow down.");
	ch_resp_error(&req);
	o = body();
	CHECK(strncmp(out.data, "Status: 429 ", 12) == 0 &&
	    strstr(out.data, "Retry-After: 42\r\n") != NULL,
	    "error: 429 with Retry-After: 42");
	CHECK(json_object_object_get_ex(o, "retryAfter", &v) &&
	    json_object_get_int(v) == 42, "error: ... and retryAfter 42");
	json_object_put(o);
	ch_req_reset(&req);

	begin(&req, CH_POST);
	ch_fail_db(&req, DB_LOCK_NOTGRANTED);
	ch_resp_error(&req);
	o = body();
	CHECK(strncmp(out.data, "Status: 503 ", 12) == 0 &&
	    strstr(out.data, "Retry-After: 1\r\n") != NULL,
	    "error: a busy store is a 503 with Retry-After: 1");
	CHECK(o != NULL && ch_json_str(o, "error", NULL) != NULL &&
	    json_object_object_get_ex(o, "retryAfter", &v),
	    "error: ... a sentence and retryAfter");
	json_object_put(o);
	ch_req_reset(&req);

	begin(&req, CH_PUT);
	ch_fail(&req, CH_ERR_METHOD, NULL);
	ch_resp_error(&req);
	CHECK(strncmp(out.data, "Status: 405 ", 12) == 0 &&
	    strstr(out.data, "Allow: GET, HEAD, POST\r\n") != NULL,
	    "error: 405 lists the methods allowed");
	o = body();
	CHECK_STR(ch_json_str(o, "error", NULL), ch_err_text(CH_ERR_METHOD),
	    "error: the default sentence");
	json_object_put(o);
	ch_req_reset(&req);

	o = ch_resp_error_json("x", 0);
	CHECK(json_object_object_length(o) == 2, "error_json: no retryAfter "
	    "without a retry");
	json_object_put(o);
}

int
main(void)
{
	ch_log_init("test-resp");
	test_json();
	test_errors();
	ch_buf_free(&out);
	return tap_done();
}
