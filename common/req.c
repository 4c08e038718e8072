/*
 * req.c -- the per-request state: parameters, query strings, failures.
 *
 * Everything a request allocates hangs off struct ch_req and goes in
 * ch_req_reset(), so nothing survives into the next request.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

static const char *methods[CH_METHOD__MAX] = {
	"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"
};

/* Parse an HTTP method name; 0 on success. */
int
ch_req_method(const char *s, enum ch_method *out)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < CH_METHOD__MAX; i++)
		if (strcmp(s, methods[i]) == 0) {
			*out = (enum ch_method)i;
			return 0;
		}
	return -1;
}

/* The name of method m. */
const char *
ch_req_method_name(enum ch_method m)
{
	return (unsigned)m < CH_METHOD__MAX ? methods[m] : "?";
}

/* A CGI parameter of the request (borrowed), or NULL. */
const char *
ch_req_param(struct ch_req *req, const char *name)
{
	return req->io->param(req, name);
}

/*
 * Find name in query string q and decode its value (%XX and '+') into out
 * (size outsz).  0 if found, 1 if absent, -1 if the value is malformed
 * (a bad or NUL escape) or does not fit.
 */
int
ch_query_get(const char *q, const char *name, char *out, size_t outsz)
{
	const char *p = q, *end, *eq;
	size_t nlen = strlen(name), o;
	int hi, lo;

	while (*p != '\0') {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && (size_t)(eq - p) == nlen &&
		    memcmp(p, name, nlen) == 0) {
			for (o = 0, p = eq + 1; p < end; p++) {
				if (o + 1 >= outsz)
					return -1;
				if (*p == '+')
					out[o++] = ' ';
				else if (*p == '%') {
					hi = end - p < 3 ? -1 :
					    ch_hex_digit((unsigned char)p[1]);
					lo = hi < 0 ? -1 :
					    ch_hex_digit((unsigned char)p[2]);
					if (lo < 0 || (hi == 0 && lo == 0))
						return -1;
					out[o++] = (char)(hi << 4 | lo);
					p += 2;
				} else
					out[o++] = *p;
			}
			if (outsz == 0)
				return -1;
			out[o] = '\0';
			return 0;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return 1;
}

/* ch_query_get on the request's query string. */
int
ch_req_query(struct ch_req *req, const char *name, char *out, size_t outsz)
{
	return ch_query_get(req->query, name, out, outsz);
}

static int req_vfail(struct ch_req *, enum ch_err, const char *, va_list)
    CH_PRINTF(3, 0);

static int
req_vfail(struct ch_req *req, enum ch_err err, const char *fmt, va_list ap)
{
	req->err = err;
	free(req->errmsg);
	req->errmsg = fmt != NULL ? ch_xvprintf(fmt, ap) : NULL;
	return -1;
}

/*
 * Fail the request with err and a sentence for the client (fmt NULL:
 * the error's default sentence).  Returns -1 for the handler to return.
 */
int
ch_fail(struct ch_req *req, enum ch_err err, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = req_vfail(req, err, fmt, ap);
	va_end(ap);
	return ret;
}

/* As ch_fail, for 429: the client may retry after secs seconds. */
int
ch_fail_retry(struct ch_req *req, enum ch_err err, unsigned int secs,
    const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = req_vfail(req, err, fmt, ap);
	va_end(ap);
	req->retry_after = secs;
	return ret;
}

/*
 * Fail the request on store error ret (from ch_db_run and the functions
 * it runs).  A busy or unavailable store is a 503 the client may retry
 * after a second; any other error is a generic 500, logged.
 */
int
ch_fail_db(struct ch_req *req, int ret)
{
	req->dberr = ret;
	switch (ret) {
	case DB_RUNRECOVERY:
	case DB_LOCK_NOTGRANTED:
	case DB_LOCK_DEADLOCK:
	case CH_DB_UNAVAILABLE:
	case CH_DB_LOST:
	case DB_REP_LOCKOUT:
	case DB_REP_HANDLE_DEAD:
	case DB_REP_UNAVAIL:
		req->retry_after = 1;
		return ch_fail(req, CH_ERR_UNAVAIL, "The store is busy or "
		    "unavailable. Retry in a second.");
	case CH_DB_REPLICA:
		req->retry_after = 1;
		return ch_fail(req, CH_ERR_UNAVAIL, "This node is not the "
		    "master just now (an election is under way). Retry in a "
		    "second.");
	case CH_DB_UNACKED:
		req->retry_after = 1;
		return ch_fail(req, CH_ERR_UNAVAIL, "The write was not "
		    "acknowledged by a majority of the nodes, so it may not "
		    "last. Retry in a second.");
	}
	ch_log_err("store: %s", db_strerror(ret));
	return ch_fail(req, CH_ERR_INTERNAL, NULL);
}

/* Free everything the request allocated and clear it for the next. */
void
ch_req_reset(struct ch_req *req)
{
	if (req->ep != NULL && req->ep->reset != NULL)
		req->ep->reset(req);
	if (req->json != NULL)
		json_object_put(req->json);
	if (req->resp != NULL)
		json_object_put(req->resp);
	ch_buf_free(&req->text);
	ch_agent_free(&req->agent);
	free(req->errmsg);
	if (req->errextra != NULL)
		json_object_put(req->errextra);
	req->errextra = NULL;
	free(req->path);
	free(req->query);
	if (req->body != NULL)
		ch_wipe(req->body, req->bodylen);
	free(req->body);
	req->op = NULL;
	req->json = req->resp = NULL;
	req->errmsg = req->path = req->query = req->body = NULL;
	req->bodylen = 0;
	req->authed = 0;
	req->status = 0;
	req->err = CH_ERR_OK;
	req->retry_after = 0;
	req->errstatus = 0;
	req->dberr = 0;
	req->answered = 0;
	req->forwarded = 0;
	req->data = NULL;
	memset(req->val, 0, sizeof(req->val));
	req->addr[0] = '\0';
	req->limkey[0] = '\0';
}
