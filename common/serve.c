/*
 * serve.c -- the request loop every endpoint program runs, and the only
 * file that touches libfcgi.
 *
 * Started on a FastCGI listening socket (by chatrd, by lighttpd's
 * bin-path, by any FastCGI spawner) the program loops over requests;
 * started any other way it serves one plain-CGI request from its
 * environment and stdin, then exits.  Each request goes through:
 *
 *	path and method		404 / 405
 *	address limit		429 (CHATR_LIMIT_REQUESTS_IP)
 *	API key			401; a valid key counts as activity
 *				(written every few seconds: agent.c)
 *	body			413 past CH_BODY_MAX, 400 if not a JSON object
 *	fields			400, against the operation's table
 *	outside			work outside any transaction (network, or
 *				a protocol of its own such as ch_msg_post)
 *	handler			in one transaction (ch_db_run: run again
 *				only while it has not committed)
 *	flush			before the answer, for durable operations
 *	answer			JSON, or the JSON error of ch_resp_error
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "chatr.h"

static volatile sig_atomic_t serve_stop;

static int serve_mep = CH_MEP__MAX; /* this endpoint's metrics */

static void
serve_onsignal(int sig)
{
	(void)sig;
	serve_stop = 1;
	FCGX_ShutdownPending();
}

/* FastCGI request I/O. */
static const char *
fcgi_param(struct ch_req *req, const char *name)
{
	FCGX_Request *fr = req->io_arg;

	return FCGX_GetParam(name, fr->envp);
}

static ssize_t
fcgi_read(struct ch_req *req, char *buf, size_t len)
{
	FCGX_Request *fr = req->io_arg;
	int n;

	if (len > INT32_MAX)
		len = INT32_MAX;
	n = FCGX_GetStr(buf, (int)len, fr->in);
	if (n < 0 || (n == 0 && FCGX_GetError(fr->in) != 0))
		return -1;
	return n;
}

static int
fcgi_write(struct ch_req *req, const char *buf, size_t len)
{
	FCGX_Request *fr = req->io_arg;

	if (len > INT32_MAX ||
	    FCGX_PutStr(buf, (int)len, fr->out) != (int)len)
		return -1;
	return 0;
}

static const struct ch_io fcgi_io = {fcgi_param, fcgi_read, fcgi_write};

/* Plain-CGI request I/O: the environment, stdin and stdout. */
static const char *
cgi_param(struct ch_req *req, const char *name)
{
	(void)req;
	return getenv(name);
}

static ssize_t
cgi_read(struct ch_req *req, char *buf, size_t len)
{
	ssize_t n;

	(void)req;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
cgi_write(struct ch_req *req, const char *buf, size_t len)
{
	ssize_t n;

	(void)req;
	while (len > 0) {
		n = write(STDOUT_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static const struct ch_io cgi_io = {cgi_param, cgi_read, cgi_write};

/* A request made in process (ch_serve_inner): its parameters, its body,
 * and what it answers. */
struct inner_io {
	const char *const *params; /* name, value, ..., NULL */
	const char *body;
	size_t len, off;
	struct ch_buf out;
};

static const char *
inner_param(struct ch_req *req, const char *name)
{
	const struct inner_io *io = req->io_arg;
	size_t i;

	for (i = 0; io->params[i] != NULL; i += 2)
		if (strcmp(io->params[i], name) == 0)
			return io->params[i + 1];
	return NULL;
}

static ssize_t
inner_read(struct ch_req *req, char *buf, size_t len)
{
	struct inner_io *io = req->io_arg;

	if (len > io->len - io->off)
		len = io->len - io->off;
	memcpy(buf, io->body + io->off, len);
	io->off += len;
	return (ssize_t)len;
}

static int
inner_write(struct ch_req *req, const char *buf, size_t len)
{
	struct inner_io *io = req->io_arg;

	ch_buf_add(&io->out, buf, len);
	return 0;
}

static const struct ch_io inner_io = {inner_param, inner_read, inner_write};

/* Copy the request line facts out of the server's parameters. */
static int
serve_params(struct ch_req *req)
{
	const char *p, *script, *info, *uri;
	size_t n;

	p = ch_req_param(req, "REQUEST_METHOD");
	if (ch_req_method(p, &req->method) != 0) {
		req->method = CH_GET;
		return ch_fail(req, CH_ERR_METHOD, "Method %s is not allowed.",
		    p != NULL ? p : "(none)");
	}
	script = ch_req_param(req, "SCRIPT_NAME");
	info = ch_req_param(req, "PATH_INFO");
	if (script != NULL && *script != '\0')
		req->path = ch_xprintf("%s%s", script,
		    info != NULL ? info : "");
	else if ((uri = ch_req_param(req, "REQUEST_URI")) != NULL)
		req->path = ch_xstrndup(uri, strcspn(uri, "?"));
	else
		req->path = ch_xstrdup("/");
	p = ch_req_param(req, "QUERY_STRING");
	req->query = ch_xstrdup(p != NULL ? p : "");
	p = ch_req_param(req, "REMOTE_ADDR");
	if (p == NULL || (n = strlen(p)) == 0 || n >= sizeof(req->addr))
		p = "unknown";
	/* behind trusted proxies (CHATR_TRUSTED_PROXIES): the client */
	ch_addr_client(req->cfg, p, ch_req_param(req, "HTTP_X_FORWARDED_FOR"),
	    req->addr, sizeof(req->addr));
	return 0;
}

/*
 * Whether PATH is the endpoint's path ("/api/register"), at the root of the
 * site or below a directory the site lives in ("/chatr/api/register", a
 * room hosted by .htaccess in a directory of someone's web space).  The
 * server already chose this program for the URL; the prefix is whatever
 * comes before the endpoint's own segments.  On success the request's
 * path becomes the endpoint's, which is what the log and a forwarded
 * write name.
 */
static int
serve_path_is(char *path, const char *want)
{
	size_t n = strlen(path), w = strlen(want);

	if (n < w || strcmp(path + n - w, want) != 0)
		return -1;
	memmove(path, path + n - w, w + 1);
	return 0;
}

/* Find the operation for the request's path and method. */
static int
serve_route(struct ch_req *req, const struct ch_op **op)
{
	const struct ch_endpoint *ep = req->ep;
	enum ch_method m = req->method;

	if (ep->path == NULL || serve_path_is(req->path, ep->path) != 0)
		return ch_fail(req, CH_ERR_NOTFOUND,
		    "No such endpoint: %s %s. See /skills.md for the API.",
		    ch_req_method_name(m), req->path);
	if (m == CH_HEAD && ep->op[CH_HEAD] == NULL)
		m = CH_GET;
	if ((*op = ep->op[m]) == NULL)
		return ch_fail(req, CH_ERR_METHOD,
		    "Method %s is not allowed on %s.",
		    ch_req_method_name(req->method), ep->path);
	return 0;
}

/* The bookkeeping transaction's request, and what it found. */
struct account {
	struct ch_req *req;
	const struct ch_op *op;
	const unsigned char *hash; /* of the key sent, or NULL */
	int in_store; /* count the request against its address here */
	int limited;
	int touch; /* the agent's presence is due to be written */
	unsigned int retry;
	int blocked; /* the address is inside a block: */
	char block[CH_CIDR_TEXT];
	char *block_reason;
};

/* The block that holds the request's address (ch_block_walk). */
static int
account_block(void *arg, const char *cidr, const char *json, size_t len)
{
	struct account *ac = arg;
	struct json_object *o = NULL;
	char *cause = NULL;
	const char *r;

	ac->blocked = 1;
	snprintf(ac->block, sizeof(ac->block), "%s", cidr);
	free(ac->block_reason);
	ac->block_reason = NULL;
	if (ch_json_parse(json, len, &o, &cause) != 0) {
		free(cause);
		return 0;
	}
	if ((r = ch_json_str(o, "reason", NULL)) != NULL)
		ac->block_reason = ch_xstrdup(r);
	json_object_put(o);
	return 0;
}

/*
 * The bookkeeping transaction: find the agent of the key that came (only
 * read: its presence is written apart, when due), and, when the memory
 * the processes share could not be had, count the request against its
 * address (window.c keeps that count otherwise).  It commits even when the
 * address is over its limit or the key is refused.
 */
static int
account_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct account *ac = arg;
	struct ch_req *req = ac->req;
	int ret;

	ch_agent_free(&req->agent);
	req->authed = 0;
	ac->limited = ac->touch = ac->blocked = 0;
	if ((ac->op->flags & CH_OP_BLOCKABLE) && (ret = ch_block_walk(db, txn,
	    req->addr, account_block, ac)) != 0)
		return ret;
	if (ac->blocked)
		return 0;
	if (ac->in_store) {
		ret = ch_limit_hit(db, txn, CH_LIMIT_REQUESTS, req->limkey,
		    &req->cfg->requests_ip, req->now, &ac->retry);
		if (ret == CH_LIMITED) {
			ac->limited = 1;
			return 0;
		}
		if (ret != 0)
			return ret;
	}
	if (ac->hash == NULL)
		return 0;
	ret = ch_agent_by_key(db, txn, ac->hash, &req->agent, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	req->authed = 1;
	ac->touch = !req->agent.banned && !(ac->op->flags & CH_OP_NOTOUCH) &&
	    ch_agent_touch_due(
	    &req->agent, req->now / 1000, req->cfg->online_window);
	return 0;
}

static const struct ch_txn account_txn = {
	.run = account_run,
	.flags = DB_READ_COMMITTED,
};

/* The agent's activity, when it is due to be written. */
static int
account_touch(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct ch_req *req = arg;
	struct ch_agent a;
	int ret;

	ret = ch_agent_get(db, txn, req->agent.id, &a, DB_RMW);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	if ((ret = ch_agent_touch(db, txn, &a, req->now / 1000,
	    req->cfg->online_window)) == 0)
		req->agent.last_seen = a.last_seen;
	ch_agent_free(&a);
	return ret;
}

static const struct ch_txn touch_txn = {.run = account_touch};

/* The answer to an address over its request limit. */
static int
serve_limited(struct ch_req *req, unsigned int retry)
{
	const struct ch_limit *l = &req->cfg->requests_ip;

	return ch_fail_retry(req, CH_ERR_LIMIT, retry, "Too many requests "
	    "from your address (limit %u per %u seconds). Retry after %u "
	    "seconds.", l->count, l->seconds, retry);
}

/* The answer to an address inside a block (chatrctl block). */
static int
serve_blocked(struct ch_req *req, struct account *ac)
{
	int ret;

	ch_log_info("refused: the address is inside blocked %s", ac->block);
	ret = ch_fail(req, CH_ERR_FORBIDDEN, "Your address is blocked%s%s.",
	    ac->block_reason != NULL ? ": " : "",
	    ac->block_reason != NULL ? ac->block_reason : "");
	req->errextra = json_object_new_object();
	json_object_object_add(req->errextra, "blocked",
	    json_object_new_boolean(1));
	json_object_object_add(req->errextra, "reason",
	    ch_json_str_or_null(ac->block_reason));
	free(ac->block_reason);
	ac->block_reason = NULL;
	return ret;
}

/* The answer to a banned agent (chatrctl ban). */
static int
serve_banned(struct ch_req *req)
{
	const char *r = req->agent.ban_reason;
	int ret;

	ret = ch_fail(req, CH_ERR_FORBIDDEN, "This agent is banned%s%s.",
	    r != NULL ? ": " : "", r != NULL ? r : "");
	req->errextra = json_object_new_object();
	json_object_object_add(req->errextra, "banned",
	    json_object_new_boolean(1));
	json_object_object_add(req->errextra, "reason",
	    ch_json_str_or_null(r));
	return ret;
}

/* The address's request limit, then the API key. */
static int
serve_account(struct ch_req *req, const struct ch_op *op)
{
	const struct ch_cfg *cfg = req->cfg;
	unsigned char hash[CH_HASH_LEN];
	const char *hdr, *key = NULL;
	struct account ac;
	int ret, master;

	memset(&ac, 0, sizeof(ac));
	ac.req = req;
	ac.op = op;
	/* a request made in process was counted as the one that made it */
	ret = op->flags & CH_OP_NOLIMIT || req->inner ? 0 :
	    ch_window_hit(cfg, req->limkey,
	    &cfg->requests_ip, req->now, &ac.retry);
	if (ret == CH_LIMITED)
		return serve_limited(req, ac.retry);
	if (ret != 0 && ret != ENOSYS) {
		ch_log_err("the request limit: %s", strerror(ret));
		return ch_fail(req, CH_ERR_INTERNAL, "Internal error.");
	}
	/* A replica writes nothing of its own: no count in the store, and
	 * no presence (reads there do not count as activity). */
	master = ch_repl_is_master(req->db);
	ac.in_store = ret == ENOSYS && cfg->requests_ip.count > 0 &&
	    !(op->flags & CH_OP_NOLIMIT) && !req->inner && master;
	if (op->flags & CH_OP_AUTH) {
		hdr = ch_req_param(req, "HTTP_AUTHORIZATION");
		if (hdr != NULL && ch_auth_bearer(hdr, &key) == 0) {
			ch_auth_hash(key, CH_KEY_LEN, hash);
			ac.hash = hash;
		}
	}
	if (ac.in_store || ac.hash != NULL || (op->flags & CH_OP_BLOCKABLE)) {
		ret = ch_db_run(req->db, &account_txn, &ac);
		ch_wipe(hash, sizeof(hash));
		if (ret == 0 && ac.touch && master &&
		    (ret = ch_db_run(req->db, &touch_txn, req)) == 0)
			ch_shared_changed(req->cfg);
		if (ret != 0) {
			free(ac.block_reason);
			return ch_fail_db(req, ret);
		}
		if (ac.blocked)
			return serve_blocked(req, &ac);
		if (ac.limited)
			return serve_limited(req, ac.retry);
	}
	if (req->authed && req->agent.banned)
		return serve_banned(req);
	if (!(op->flags & CH_OP_AUTH) || req->authed)
		return 0;
	hdr = ch_req_param(req, "HTTP_AUTHORIZATION");
	if (hdr == NULL || *hdr == '\0')
		return ch_fail(req, CH_ERR_AUTH, "Missing API key. Send the "
		    "header Authorization: Bearer YOUR_API_KEY.");
	return ch_fail(req, CH_ERR_AUTH, "Invalid API key.");
}

/*
 * Read the body (at most CH_BODY_MAX bytes).  lighttpd has it whole
 * before it starts us (a slow client ties up no program), so this never
 * waits on the network.
 */
static int
serve_body(struct ch_req *req)
{
	const char *cl;
	unsigned long long want = 0;
	char *end;
	size_t got = 0;
	ssize_t n;

	if ((cl = ch_req_param(req, "CONTENT_LENGTH")) != NULL && *cl != '\0') {
		errno = 0;
		want = strtoull(cl, &end, 10);
		if (errno != 0 || *end != '\0' || *cl == '-')
			return ch_fail(req, CH_ERR_INVAL,
			    "Content-Length is not valid.");
		if (want > CH_BODY_MAX)
			return ch_fail(req, CH_ERR_TOOBIG, "The request body "
			    "is too large (%llu bytes; at most %d).", want,
			    CH_BODY_MAX);
	}
	req->body = ch_xmalloc(CH_BODY_MAX + 1);
	while (got < CH_BODY_MAX + 1) {
		n = req->io->read(req, req->body + got, CH_BODY_MAX + 1 - got);
		if (n < 0)
			return ch_fail(req, CH_ERR_INVAL,
			    "Could not read the request body.");
		if (n == 0)
			break;
		got += (size_t)n;
		if (cl != NULL && *cl != '\0' && got >= want)
			break;
	}
	if (got > CH_BODY_MAX)
		return ch_fail(req, CH_ERR_TOOBIG, "The request body is too "
		    "large (at most %d bytes).", CH_BODY_MAX);
	req->bodylen = got;
	req->body[got] = '\0';
	return 0;
}

/* Is the Content-Type application/json (any case, any parameters)? */
static int
serve_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Forget what an earlier run of the handler left in the request. */
static void
serve_forget(struct ch_req *req)
{
	if (req->resp != NULL)
		json_object_put(req->resp);
	req->resp = NULL;
	ch_buf_free(&req->text);
	free(req->errmsg);
	req->errmsg = NULL;
	if (req->errextra != NULL)
		json_object_put(req->errextra);
	req->errextra = NULL;
	req->err = CH_ERR_OK;
	req->status = 0;
	req->retry_after = 0;
	req->errstatus = 0;
	req->dberr = 0;
}

/* The handler as ch_db_run runs it. */
static int
handler_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct ch_req *req = arg;

	(void)db;
	serve_forget(req);
	if (req->op->handler(req, txn) == 0)
		return 0;
	return req->dberr != 0 ? req->dberr : CH_TXN_REFUSED;
}

static int
handler_committed(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct ch_req *req = arg;

	(void)db;
	return req->op->committed(req, txn);
}

/*
 * Run the handler in one transaction; a durable operation's commit is on
 * disk before the answer.  What committed is answered as committed, even
 * when the flush after it fails.
 */
static int
serve_handle(struct ch_req *req, const struct ch_op *op)
{
	struct ch_txn t;
	int ret;

	if (op->handler == NULL)
		return 0;
	memset(&t, 0, sizeof(t));
	t.run = handler_run;
	t.committed = op->committed != NULL ? handler_committed : NULL;
	t.flags = (op->flags & CH_OP_READONLY) ? DB_READ_COMMITTED : 0;
	ret = ch_db_run(req->db, &t, req);
	if (ret == CH_TXN_REFUSED)
		return -1;
	if (ret != 0) {
		serve_forget(req);
		return ch_fail_db(req, ret);
	}
	if (op->flags & CH_OP_CHANGES)
		ch_shared_changed(req->cfg);
	if ((op->flags & CH_OP_DURABLE) &&
	    (ret = ch_db_durable(req->db, &t, req)) != 0) {
		serve_forget(req);
		return ch_fail_db(req, ret);
	}
	return 0;
}

/* Everything after the body: the store, the fields, the handler. */
static void
serve_process(struct ch_req *req, const struct ch_op *op)
{
	char *cause = NULL;

	if (serve_account(req, op) != 0)
		return;
	/* A web page's form can post any text (enctype text/plain), but
	 * only a script that passed CORS can send application/json. */
	if ((op->flags & CH_OP_BODY) && req->bodylen > 0 &&
	    !serve_json_type(ch_req_param(req, "CONTENT_TYPE"))) {
		ch_fail(req, CH_ERR_MEDIA, NULL);
		return;
	}
	if ((op->flags & CH_OP_BODY) && ch_json_parse(req->body, req->bodylen,
	    &req->json, &cause) != 0) {
		ch_fail(req, CH_ERR_INVAL, "%s", cause);
		free(cause);
		return;
	}
	if (op->nfields > 0 && ch_valid_fields(op->fields, op->nfields,
	    req->json, req->val, &cause) != 0) {
		ch_fail(req, CH_ERR_INVAL, "%s", cause);
		free(cause);
		return;
	}
	if (op->outside != NULL && op->outside(req) != 0)
		return;
	serve_handle(req, op);
}

/* Serve one accepted request. */
static void
serve_one(struct ch_req *req)
{
	const struct ch_op *op = NULL;
	struct json_object *o;
	int64_t start_us = ch_time_mono_us();
	int status;

	req->now = ch_time_ms();
	req->start = ch_time_mono_ms();
	if (serve_params(req) == 0 && serve_route(req, &op) == 0 &&
	    serve_body(req) == 0) {
		req->op = op;
		ch_fwd_trust(req);
		ch_addr_limit_key(req->addr, req->limkey, sizeof(req->limkey));
		if (ch_fwd_needed(req, op))
			(void)ch_fwd(req);
		else
			serve_process(req, op);
	}
	if (req->answered && req->err == CH_ERR_OK) {
		/* the operation wrote its own answer (ch_resp_raw) */
	} else if (req->err != CH_ERR_OK) {
		if (ch_resp_error(req) != 0)
			ch_log_info("client went away");
	} else if (req->resp == NULL && req->text.data != NULL) {
		if (ch_resp_raw(req, req->status ? req->status : 200, "no-store",
		    req->text.data, req->text.len, NULL) != 0)
			ch_log_info("client went away");
	} else {
		char extra[48] = "";

		if ((o = req->resp) == NULL)
			o = ch_resp_ok(req);
		if (req->retry_after > 0) /* an answer such as health's 503 */
			snprintf(extra, sizeof(extra), "Retry-After: %u\r\n",
			    req->retry_after);
		if (ch_resp_json(req, req->status ? req->status : 200, o,
		    extra) != 0)
			ch_log_info("client went away");
	}
	status = req->err != CH_ERR_OK ? (req->errstatus != 0 ?
	    req->errstatus : ch_err_status(req->err)) :
	    (req->status ? req->status : 200);
	ch_metrics_request(req->cfg, req->inner ? ch_metrics_ep(req->ep->name) :
	    serve_mep, status,
	    ch_time_mono_us() - start_us);
	ch_log_debug("%s %s %d %lldms", ch_req_method_name(req->method),
	    req->path != NULL ? req->path : "-", status,
	    (long long)(ch_time_mono_ms() - req->start));
}

/*
 * Serve a request to endpoint ep in process, for the request outer that
 * an endpoint of its own is serving (POST /mcp calls the REST endpoints
 * so): method, the path with its query, the Authorization header (or
 * NULL) and a JSON body (or NULL).  Everything applies as it would over
 * HTTP -- checks, the agent's limits, bans, blocks, a replica's sending
 * on -- except the per-address request limit, which counted outer.  The
 * answer's status, Retry-After and body go to *ans (its body freed by
 * the caller).
 */
void
ch_serve_inner(struct ch_req *outer, const struct ch_endpoint *ep,
    const char *method, const char *target, const char *auth,
    const char *body, struct ch_inner *ans)
{
	struct ch_req req;
	struct inner_io io;
	char *path, len[32];
	const char *q, *p, *e;
	const char *params[] = {
		"REQUEST_METHOD", method,
		"SCRIPT_NAME", NULL,
		"QUERY_STRING", NULL,
		"REMOTE_ADDR", outer->addr,
		"CONTENT_TYPE", "application/json",
		"CONTENT_LENGTH", len,
		"HTTP_AUTHORIZATION", auth,
		NULL,
	};

	memset(ans, 0, sizeof(*ans));
	memset(&io, 0, sizeof(io));
	q = strchr(target, '?');
	path = q != NULL ? ch_xstrndup(target, (size_t)(q - target)) :
	    ch_xstrdup(target);
	params[3] = path;
	params[5] = q != NULL ? q + 1 : "";
	if (auth == NULL)
		params[12] = NULL; /* the list ends before it */
	io.params = params;
	io.body = body != NULL ? body : "";
	io.len = strlen(io.body);
	snprintf(len, sizeof(len), "%zu", io.len);

	memset(&req, 0, sizeof(req));
	req.ep = ep;
	req.cfg = outer->cfg;
	req.db = outer->db;
	req.io = &inner_io;
	req.io_arg = &io;
	req.id = outer->id;
	req.inner = 1;
	serve_one(&req);
	ch_req_reset(&req);
	free(path);

	/* "Status: 200 OK\r\n...\r\n\r\nbody" */
	p = io.out.data;
	e = p != NULL ? p + io.out.len : NULL;
	ans->status = 500;
	if (p != NULL && io.out.len > 8 && strncmp(p, "Status: ", 8) == 0)
		ans->status = atoi(p + 8);
	while (p != NULL && p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));

		if (nl == NULL)
			break;
		if (nl - p <= 1) { /* the blank line */
			ch_buf_add(&ans->body, nl + 1, (size_t)(e - nl - 1));
			break;
		}
		if ((size_t)(nl - p) > 12 && strncasecmp(p, "Retry-After:",
		    12) == 0)
			ans->retry = (unsigned int)strtoul(p + 12, NULL, 10);
		p = nl + 1;
	}
	ch_wipe(io.out.data, io.out.len); /* register's answer holds a key */
	ch_buf_free(&io.out);
}

static void
serve_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-c config-file]\n", prog);
}

/*
 * Run endpoint ep: as a FastCGI responder when a FastCGI server started
 * us, else for one plain-CGI request.  Returns the exit status.
 */
int
ch_serve(const struct ch_endpoint *ep, int argc, char **argv)
{
	struct sigaction sa;
	struct ch_cfg cfg;
	struct ch_db db;
	struct ch_req req;
	FCGX_Request fr;
	char prog[64], *cause = NULL;
	const char *conf = NULL;
	int c;

	snprintf(prog, sizeof(prog), "chatr-%s", ep->name);
	ch_log_init(prog);
	while ((c = getopt(argc, argv, "c:")) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		default:
			serve_usage(prog);
			return 2;
		}
	}
	if (optind != argc) {
		serve_usage(prog);
		return 2;
	}
	if (ch_cfg_load(&cfg, conf, &cause) != 0) {
		ch_log_err("configuration: %s", cause);
		free(cause);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		ch_log_warn("ignoring SIGPIPE: %s", strerror(errno));
	sa.sa_handler = serve_onsignal; /* no SA_RESTART: accept must end */
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGUSR1, &sa, NULL) != 0)
		ch_log_warn("catching signals: %s", strerror(errno));

	if (FCGX_Init() != 0) {
		ch_log_err("FCGX_Init failed");
		ch_cfg_free(&cfg);
		return 1;
	}
	memset(&req, 0, sizeof(req));
	serve_mep = ch_metrics_ep(ep->name);
	req.ep = ep;
	req.cfg = &cfg;
	req.db = &db;
	ch_watchdog_start(cfg.watchdog);
	ch_watchdog_busy();
	/* A store that cannot be opened now is tried again by each request
	 * (503 meanwhile). */
	if (ch_db_open(&db, &cfg, &cause) != 0) {
		if (db.waiting_repl)
			ch_log_info("%s", cause);
		else
			ch_log_err("%s", cause);
		free(cause);
	}

	if (FCGX_IsCGI()) {
		req.io = &cgi_io;
		req.id = 1;
		serve_one(&req);
		ch_req_reset(&req);
		ch_db_close(&db);
		ch_watchdog_stop();
		ch_cfg_free(&cfg);
		return 0;
	}
	ch_watchdog_idle();

	if (FCGX_InitRequest(&fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		ch_log_err("FCGX_InitRequest failed");
		ch_db_close(&db);
		ch_watchdog_stop();
		ch_cfg_free(&cfg);
		return 1;
	}
	req.io = &fcgi_io;
	req.io_arg = &fr;
	ch_log_debug("serving %s", ep->path != NULL ? ep->path : "/api/*");
	while (!serve_stop) {
		if (FCGX_Accept_r(&fr) < 0)
			break;
		ch_watchdog_busy();
		req.id++;
		ch_log_set_reqid(req.id);
		serve_one(&req);
		ch_req_reset(&req);
		FCGX_Finish_r(&fr);
		ch_log_set_reqid(0);
		ch_db_maintain(&db, 0);
		ch_watchdog_idle();
		if (ch_db_rejoin(&db))
			break; /* a site joined: the next process connects to it */
	}
	FCGX_Free(&fr, 1);
	ch_watchdog_busy(); /* a close stuck on a dead process ends too */
	ch_db_close(&db);
	ch_watchdog_stop();
	ch_cfg_free(&cfg);
	return 0;
}
