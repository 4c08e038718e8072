/*
 * resp.c -- writing responses.  Every body is JSON; errors always have
 * the shape {"success":false,"error":"<sentence>"}.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "chatr.h"

/* Reason phrases of the statuses lighttpd itself may report. */
static const char *
resp_reason(int status)
{
	switch (status) {
	case 201:
		return "Created";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 504:
		return "Gateway Timeout";
	}
	return status >= 500 ? "Server Error" : status >= 400 ?
	    "Client Error" : "OK";
}

/* The reason phrase of status. */
static const char *
resp_phrase(int status)
{
	int e;

	if (status == 304)
		return "Not Modified";
	for (e = 0; e < CH_ERR__MAX; e++)
		if (ch_err_status((enum ch_err)e) == status)
			return ch_err_reason((enum ch_err)e);
	return resp_reason(status);
}

/*
 * Write a complete response: status, Content-Type type, Cache-Control
 * cache, headers (extra: more header lines, each ending in \r\n, or NULL)
 * and len bytes at body as the body (with a newline after it unless it
 * ends in one).  HEAD and 304 get no body.  Marks req answered.
 */
int
ch_resp_typed(struct ch_req *req, int status, const char *type,
    const char *cache, const char *body, size_t len, const char *extra)
{
	struct ch_buf b = {0};
	/* a body ends in a newline; 202 and 204 have none at all */
	int nl = status != 202 && status != 204 &&
	    (len == 0 || body[len - 1] != '\n');
	int ret;

	req->answered = 1;
	if (status == 304) {
		ch_buf_addf(&b, "Status: 304 Not Modified\r\n"
		    "Cache-Control: %s\r\n"
		    "%s\r\n", cache, extra != NULL ? extra : "");
	} else {
		ch_buf_addf(&b,
		    "Status: %d %s\r\n"
		    "Content-Type: %s\r\n"
		    "Cache-Control: %s\r\n"
		    "X-Content-Type-Options: nosniff\r\n"
		    "Content-Length: %zu\r\n"
		    "%s\r\n",
		    status, resp_phrase(status), type, cache, len + nl,
		    extra != NULL ? extra : "");
		if (req->method != CH_HEAD) {
			ch_buf_add(&b, body, len);
			if (nl)
				ch_buf_add(&b, "\n", 1);
		}
	}
	ret = req->io->write(req, b.data, b.len);
	ch_buf_free(&b);
	return ret;
}

/* As ch_resp_typed, for len bytes of JSON. */
int
ch_resp_raw(struct ch_req *req, int status, const char *cache,
    const char *body, size_t len, const char *extra)
{
	return ch_resp_typed(req, status, "application/json; charset=utf-8",
	    cache, body, len, extra);
}

/*
 * Write a complete response: status, headers (extra: more header lines,
 * each ending in \r\n, or NULL) and o as the body.  HEAD gets no body.
 */
int
ch_resp_json(struct ch_req *req, int status, struct json_object *o,
    const char *extra)
{
	const char *body;
	size_t len;

	body = ch_json_text(o, &len);
	return ch_resp_raw(req, status, "no-store", body, len, extra);
}

/*
 * Start the success answer {"success":true} as req->resp (replacing any
 * earlier one) and return it, borrowed, for the handler to add to.
 */
struct json_object *
ch_resp_ok(struct ch_req *req)
{
	if (req->resp != NULL)
		json_object_put(req->resp);
	if ((req->resp = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	json_object_object_add(req->resp, "success",
	    json_object_new_boolean(1));
	return req->resp;
}

/*
 * The body of every error: {"success":false,"error":msg}, with
 * "retryAfter" when retry is not 0.  The caller puts it.  The relay's
 * errors use it too.
 */
struct json_object *
ch_resp_error_json(const char *msg, unsigned int retry)
{
	struct json_object *o;

	if ((o = json_object_new_object()) == NULL)
		ch_fatal("json_object_new_object failed");
	json_object_object_add(o, "success", json_object_new_boolean(0));
	ch_json_addstr(o, "error", msg);
	if (retry > 0)
		json_object_object_add(o, "retryAfter",
		    json_object_new_int64(retry));
	return o;
}

/* Write req's error (req->err, req->errmsg) as the JSON error response. */
int
ch_resp_error(struct ch_req *req)
{
	struct json_object *o;
	struct ch_buf extra = {0};
	const char *msg, *sep = "";
	unsigned int retry = 0;
	int ret, m;

	ch_buf_adds(&extra, "");
	if (req->err == CH_ERR_LIMIT || req->err == CH_ERR_UNAVAIL)
		retry = req->retry_after > 0 ? req->retry_after : 1;
	if (retry > 0)
		ch_buf_addf(&extra, "Retry-After: %u\r\n", retry);
	if (req->err == CH_ERR_METHOD && req->ep != NULL &&
	    req->ep->path != NULL) {
		ch_buf_adds(&extra, "Allow: ");
		for (m = 0; m < CH_METHOD__MAX; m++) {
			if (req->ep->op[m] == NULL)
				continue;
			ch_buf_addf(&extra, "%s%s", sep,
			    ch_req_method_name((enum ch_method)m));
			sep = ", ";
			if (m == CH_GET && req->ep->op[CH_HEAD] == NULL)
				ch_buf_adds(&extra, ", HEAD");
		}
		ch_buf_adds(&extra, "\r\n");
	}
	msg = req->errmsg != NULL ? req->errmsg : ch_err_text(req->err);
	o = ch_resp_error_json(msg, retry);
	if (req->errextra != NULL) {
		json_object_object_foreach(req->errextra, k, v)
			json_object_object_add(o, k, json_object_get(v));
	}
	ret = ch_resp_json(req, req->errstatus != 0 ? req->errstatus :
	    ch_err_status(req->err), o, extra.data);
	json_object_put(o);
	ch_buf_free(&extra);
	return ret;
}
