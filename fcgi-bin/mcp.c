/*
 * POST /mcp -- chatr's tools for MCP clients over Streamable HTTP,
 * stateless: each POST is one JSON-RPC message, answered as
 * application/json (202 and no body for a notification).  The same core
 * and tools as chatr-mcp (mcp/), with the REST endpoints served in this
 * process (ch_serve_inner): their checks, limits and errors are the REST
 * API's own.  The agent is whoever the Bearer key of each POST names;
 * chatr_register needs none and hands its key back (a remote client has
 * nowhere else to get it).  chatr_wait waits a few seconds at most, on
 * the message log, so that it never holds a process for long.
 *
 * Headers (2026-07-28): MCP-Protocol-Version, Mcp-Method and Mcp-Name
 * must agree with the body (-32020 otherwise).  An Origin other than
 * this instance's own (CHATR_PUBLIC_URL) is refused with 403, as the
 * transport requires: a web page elsewhere may not drive an agent.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "chatr.h"
#include "mcp.h"

#define WAIT_MAX_S 5

struct hctx {
	struct ch_req *req;
	const char *auth; /* the Authorization header, or NULL */
};

static const struct ch_endpoint *
route(const char *path)
{
	static const struct ch_endpoint *const eps[] = {&ep_register,
	    &ep_heartbeat, &ep_disconnect, &ep_messages, &ep_verify_start,
	    &ep_verify_complete, &ep_agents};
	size_t i, n;

	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		n = strlen(eps[i]->path);
		if (strncmp(path, eps[i]->path, n) == 0 &&
		    (path[n] == '\0' || path[n] == '?'))
			return eps[i];
	}
	return &ep_notfound;
}

static int
h_rest(void *arg, const char *method, const char *path, const char *body,
    int with_key, struct mcp_reply *r)
{
	struct hctx *h = arg;
	struct ch_inner ans;
	char *cause = NULL;

	memset(r, 0, sizeof(*r));
	ch_serve_inner(h->req, route(path), method, path,
	    with_key ? h->auth : NULL, body, &ans);
	r->status = ans.status;
	r->retry = ans.retry;
	if (ans.body.len > 0 && ch_json_parse_deep(ans.body.data,
	    ans.body.len, 16, &r->body, &cause) != 0) {
		free(cause);
		r->body = NULL;
	}
	ch_wipe(ans.body.data, ans.body.len); /* register's holds a key */
	ch_buf_free(&ans.body);
	return 0;
}

static int
h_has_key(void *arg)
{
	struct hctx *h = arg;
	const char *key;

	return h->auth != NULL && ch_auth_bearer(h->auth, &key) == 0;
}

static int
h_keep_key(void *arg, const char *key, char *where, size_t wlen, char *why,
    size_t ylen)
{
	(void)arg;
	(void)key;
	(void)where;
	(void)wlen;
	snprintf(why, ylen, "a remote client keeps its own key");
	return -1;
}

/* The newest message id (0: none), or -1 with *res set. */
static int
newest(struct hctx *h, uint64_t *id, struct json_object **res,
    const struct mcp_backend *be)
{
	struct mcp_reply r;
	struct json_object *msgs;
	size_t n;

	h_rest(h, "GET", "/api/messages?limit=1", NULL, 0, &r);
	if (r.status != 200 || r.body == NULL) {
		*res = mcp_rest_error(be, &r);
		mcp_reply_free(&r);
		return -1;
	}
	*id = 0;
	if (json_object_object_get_ex(r.body, "messages", &msgs) &&
	    json_object_is_type(msgs, json_type_array) &&
	    (n = json_object_array_length(msgs)) > 0 &&
	    ch_json_str(json_object_array_get_idx(msgs, n - 1), "id",
	    NULL) != NULL)
		*id = strtoull(ch_json_str(json_object_array_get_idx(msgs,
		    n - 1), "id", NULL), NULL, 10);
	mcp_reply_free(&r);
	return 0;
}

/*
 * chatr_wait here: the store's messages after `after`, asked again each
 * time the message log grows, for a few seconds at most.
 */
static int
h_wait(void *arg, struct mcp *m, struct json_object *id, int has_after,
    uint64_t after, int timeout_s, struct json_object **result)
{
	struct hctx *h = arg;
	struct mcp_reply r;
	struct json_object *msgs;
	struct pollfd pfd;
	char path[96], evbuf[4096];
	int64_t deadline = ch_time_mono_ms() + (int64_t)timeout_s * 1000, left;
	int fd;

	(void)id;
	if (!has_after && newest(h, &after, result, m->be) != 0)
		return 0;
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) >= 0 &&
	    inotify_add_watch(fd, h->req->cfg->msglog, IN_MODIFY) < 0) {
		close(fd);
		fd = -1;
	}
	for (;;) {
		snprintf(path, sizeof(path),
		    "/api/messages?after=%llu&limit=100",
		    (unsigned long long)after);
		h_rest(h, "GET", path, NULL, 0, &r);
		if (r.status != 200 || r.body == NULL) {
			*result = mcp_rest_error(m->be, &r);
			break;
		}
		if (json_object_object_get_ex(r.body, "messages", &msgs) &&
		    json_object_is_type(msgs, json_type_array) &&
		    json_object_array_length(msgs) > 0) {
			*result = mcp_wait_result(json_object_get(msgs), 0);
			break;
		}
		mcp_reply_free(&r);
		if ((left = deadline - ch_time_mono_ms()) <= 0) {
			*result = mcp_wait_result(json_object_new_array(), 1);
			break;
		}
		/* the log grows with each message; without inotify, look
		 * again every quarter second */
		pfd.fd = fd;
		pfd.events = POLLIN;
		ch_watchdog_idle(); /* waiting is not being stuck */
		if (fd < 0)
			(void)poll(NULL, 0, left < 250 ? (int)left : 250);
		else if (poll(&pfd, 1, (int)left) > 0)
			while (read(fd, evbuf, sizeof(evbuf)) > 0)
				;
		ch_watchdog_busy();
	}
	mcp_reply_free(&r);
	if (fd >= 0)
		close(fd);
	return 0;
}

/* This instance's origin (scheme://host[:port]) is the only one allowed. */
static int
origin_ok(const struct ch_cfg *cfg, const char *origin)
{
	const char *u = cfg->public_url, *p;
	size_t n;

	if (origin == NULL)
		return 1; /* not a browser */
	if (u == NULL || (p = strstr(u, "://")) == NULL)
		return 0;
	n = (size_t)(p + 3 - u) + strcspn(p + 3, "/");
	return strlen(origin) == n && strncasecmp(origin, u, n) == 0;
}

/* Mcp-Name, decoded from "=?base64?...?=" when so sent (a new string,
 * or NULL when absent or not decodable). */
static char *
header_name(const char *v)
{
	unsigned char *out;
	size_t n;
	int len;

	if (v == NULL)
		return NULL;
	n = strlen(v);
	if (n < 12 || strncmp(v, "=?base64?", 9) != 0 ||
	    strcmp(v + n - 2, "?=") != 0)
		return ch_xstrdup(v);
	n -= 11;
	if (n % 4 != 0 || n > 4096)
		return NULL;
	out = ch_xmalloc(n / 4 * 3 + 1);
	if ((len = EVP_DecodeBlock(out, (const unsigned char *)v + 9,
	    (int)n)) < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding's bytes as zeros */
	if (n >= 1 && v[9 + n - 1] == '=')
		len--;
	if (n >= 2 && v[9 + n - 2] == '=')
		len--;
	out[len] = '\0';
	if (strlen((char *)out) != (size_t)len) {
		free(out);
		return NULL;
	}
	return (char *)out;
}

static int
answer(struct ch_req *req, int status, struct json_object *o)
{
	const char *s;
	size_t n;
	int ret;

	req->status = o != NULL ? status : 202; /* for the metrics */
	if (o == NULL)
		return ch_resp_raw(req, 202, "no-store", NULL, 0, NULL);
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	ret = ch_resp_raw(req, status, "no-store", s, n, NULL);
	json_object_put(o);
	return ret;
}

/* A transport error, as JSON-RPC with no id. */
static int
refuse(struct ch_req *req, int status, int code, const char *msg)
{
	struct json_object *o = json_object_new_object(), *e;

	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	return answer(req, status, o);
}

static int
mcp_post(struct ch_req *req)
{
	const struct mcp_backend be = {
		.rest = h_rest,
		.has_key = h_has_key,
		.keep_key = h_keep_key,
		.wait = h_wait,
		.cancel = NULL,
		.reveal_key = 1,
		.wait_max = WAIT_MAX_S,
		.url = req->cfg->public_url,
	};
	struct hctx h = {req, ch_req_param(req, "HTTP_AUTHORIZATION")};
	const char *ct = ch_req_param(req, "CONTENT_TYPE");
	const char *nm = ch_req_param(req, "HTTP_MCP_NAME");
	struct json_object *o;
	struct mcp m;
	char *name;
	int ret;

	if (!origin_ok(req->cfg, ch_req_param(req, "HTTP_ORIGIN"))) {
		ret = refuse(req, 403, MCP_INVALID_REQUEST, "Forbidden: this "
		    "Origin may not use this server");
		goto out;
	}
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		ret = refuse(req, 415, MCP_INVALID_REQUEST, "Send the message "
		    "as Content-Type: application/json");
		goto out;
	}
	name = header_name(nm);
	if (nm != NULL && name == NULL) {
		ret = refuse(req, 400, MCP_HEADER_MISMATCH, "Header mismatch: "
		    "Mcp-Name is not valid base64");
		goto out;
	}
	mcp_init(&m, &be, &h);
	m.hdr_checked = 1;
	m.hdr_version = ch_req_param(req, "HTTP_MCP_PROTOCOL_VERSION");
	m.hdr_method = ch_req_param(req, "HTTP_MCP_METHOD");
	m.hdr_name = name;
	o = mcp_handle(&m, req->body, req->bodylen);
	ret = answer(req, o != NULL ? m.http_status : 202, o);
	free(name);
out:
	if (ret != 0)
		ch_log_info("client went away");
	return 0;
}

static const struct ch_op op_post = {
	.flags = CH_OP_READONLY,
	.outside = mcp_post,
};

const struct ch_endpoint ep_mcp = {
	.name = "mcp-http",
	.path = "/mcp",
	.op = {[CH_POST] = &op_post},
};
