/*
 * fwd.c -- a write that reaches a replica goes on to the master.
 *
 * A node of a replication group that is not the master takes every
 * endpoint all the same: a write (an operation flagged CH_OP_WRITE) is
 * sent on to the master's node with libcurl, as it came (method, path,
 * query, body, Content-Type and Authorization), and the master's answer
 * goes back to the client unchanged: status, headers and body.
 *
 * The client's address travels with it, for the master's limits, in
 *
 *	X-Chatr-Forwarded-For: ADDRESS
 *	X-Chatr-Forwarded-At: UNIX-SECONDS
 *	X-Chatr-Forwarded-Sig: hex HMAC-SHA256(CHATR_CLUSTER_SECRET,
 *	    "chatr-fwd-1\n" AT "\n" ADDRESS "\n" METHOD "\n" PATH "\n"
 *	    hex SHA-256(body))
 *
 * and the master believes the address only when the signature is right
 * and made within FWD_SKEW_S of its clock: anyone else who sends these
 * headers is answered as the address the request really came from.  A
 * signed request is never forwarded again (no loops between two nodes
 * that each think the other is the master).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chatr.h"

#define FWD_SKEW_S 60
#define FWD_CONNECT_TIMEOUT_MS 1000
#define FWD_TIMEOUT_MS 15000
#define FWD_MAX_BYTES (4 * 1024 * 1024)
#define FWD_SIG_HEX (2 * 32)

/* The signature of a forwarded request, as hex into sig. */
static int
fwd_sign(const char *secret, const char *at, const char *addr,
    const char *method, const char *path, const char *body, size_t bodylen,
    char sig[FWD_SIG_HEX + 1])
{
	unsigned char bh[32], mac[EVP_MAX_MD_SIZE];
	char bhex[65];
	unsigned int n = 0;
	struct ch_buf b = {0};
	int ret = -1;

	if (EVP_Digest(body != NULL ? body : "", bodylen, bh, &n,
	    EVP_sha256(), NULL) != 1 || n != sizeof(bh))
		return -1;
	ch_hex_encode(bhex, bh, sizeof(bh));
	ch_buf_addf(&b, "chatr-fwd-1\n%s\n%s\n%s\n%s\n%s", at, addr, method,
	    path, bhex);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)b.data, b.len, mac, &n) != NULL &&
	    n == 32) {
		ch_hex_encode(sig, mac, 32);
		ret = 0;
	}
	ch_buf_free(&b);
	return ret;
}

/*
 * A request another node forwarded: when its signature is right, take
 * the client address it carries (req->forwarded is set).  Otherwise the
 * headers are ignored.
 */
void
ch_fwd_trust(struct ch_req *req)
{
	const struct ch_cfg *cfg = req->cfg;
	const char *addr, *at, *sig;
	char want[FWD_SIG_HEX + 1];
	long long t;
	char *end;
	size_t n;

	req->forwarded = 0;
	if (!ch_cfg_replicated(cfg) ||
	    (addr = ch_req_param(req, "HTTP_X_CHATR_FORWARDED_FOR")) == NULL)
		return;
	at = ch_req_param(req, "HTTP_X_CHATR_FORWARDED_AT");
	sig = ch_req_param(req, "HTTP_X_CHATR_FORWARDED_SIG");
	n = strlen(addr);
	if (at == NULL || sig == NULL || n == 0 || n >= sizeof(req->addr) ||
	    strlen(sig) != FWD_SIG_HEX)
		goto refuse;
	errno = 0;
	t = strtoll(at, &end, 10);
	/* (a time before 1970 or past the range is no time of ours, and
	 * must not overflow the difference below) */
	if (*at < '0' || *at > '9' || *end != '\0' || errno != 0 ||
	    llabs(t - (long long)(req->now / 1000)) > FWD_SKEW_S)
		goto refuse;
	if (fwd_sign(cfg->cluster_secret, at, addr,
	    ch_req_method_name(req->method), req->path, req->body,
	    req->bodylen, want) != 0 ||
	    CRYPTO_memcmp(want, sig, FWD_SIG_HEX) != 0)
		goto refuse;
	snprintf(req->addr, sizeof(req->addr), "%s", addr);
	req->forwarded = 1;
	return;
refuse:
	ch_log_warn("a request from %s claims to be forwarded by a node, "
	    "without a valid signature: taken as its own", req->addr);
}

/* Does this request go on to the master? */
int
ch_fwd_needed(struct ch_req *req, const struct ch_op *op)
{
	/* A store that cannot be opened is the operation's 503, not a
	 * master to look for. */
	return ch_cfg_replicated(req->cfg) && (op->flags & CH_OP_WRITE) &&
	    ch_db_ready(req->db) && !ch_repl_is_master(req->db);
}

struct fwd_answer {
	struct ch_buf head;	/* header lines to pass on */
	struct ch_buf body;
	int toobig;
};

static size_t
fwd_body(char *p, size_t size, size_t n, void *arg)
{
	struct fwd_answer *a = arg;

	n *= size;
	if (a->body.len + n > FWD_MAX_BYTES) {
		a->toobig = 1;
		return 0;
	}
	ch_buf_add(&a->body, p, n);
	return n;
}

/* The master's header lines, but those of its own hop. */
static size_t
fwd_header(char *p, size_t size, size_t n, void *arg)
{
	static const char *const drop[] = {
		"HTTP/", "Connection:", "Keep-Alive:", "Transfer-Encoding:",
		"Content-Length:", "Date:", "Server:", "Status:",
	};
	struct fwd_answer *a = arg;
	size_t i, len = n * size;

	if (len < 3 || memchr(p, ':', len) == NULL)
		return len; /* the status line's end, or the blank line */
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (len >= strlen(drop[i]) &&
		    strncasecmp(p, drop[i], strlen(drop[i])) == 0)
			return len;
	while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	ch_buf_add(&a->head, p, len);
	ch_buf_add(&a->head, "\r\n", 2);
	return n * size;
}

/* One handle per process: the connection to the master is kept. */
static CURL *fwd_curl;

/*
 * Send the request on to the master and answer with what it answered.
 * 0 when answered (or failed with a JSON error set on req).
 */
int
ch_fwd(struct ch_req *req)
{
	const struct ch_cfg *cfg = req->cfg;
	struct ch_repl_state rs;
	struct curl_slist *hl = NULL;
	struct fwd_answer a;
	const char *p, *method;
	char *url, *h, at[24], sig[FWD_SIG_HEX + 1];
	char errbuf[CURL_ERROR_SIZE];
	struct ch_buf out = {0};
	long status = 0;
	CURLcode cc;
	int ret;

	if (req->forwarded) {
		req->retry_after = 1;
		return ch_fail(req, CH_ERR_UNAVAIL, "This node is not the "
		    "master, and the node that sent this on thought it was. "
		    "Retry in a second.");
	}
	if (ch_repl_state(req->db, &rs) != 0 ||
	    (url = ch_repl_master_url(req->db, &rs)) == NULL) {
		req->retry_after = 1;
		return ch_fail(req, CH_ERR_UNAVAIL, "The room has no master "
		    "just now (an election is under way). Retry in a "
		    "second.");
	}
	h = ch_xprintf("%s%s%s%s", url, req->path, req->query[0] != '\0' ?
	    "?" : "", req->query);
	free(url);
	url = h;
	if (fwd_curl == NULL) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
		    (fwd_curl = curl_easy_init()) == NULL)
			ch_fatal("could not set up libcurl");
	} else
		curl_easy_reset(fwd_curl);
	method = ch_req_method_name(req->method);
	snprintf(at, sizeof(at), "%lld", (long long)(req->now / 1000));
	if (fwd_sign(cfg->cluster_secret, at, req->addr, method, req->path,
	    req->body, req->bodylen, sig) != 0)
		ch_fatal("signing a forwarded request failed");
	h = ch_xprintf("X-Chatr-Forwarded-For: %s", req->addr);
	hl = curl_slist_append(hl, h);
	free(h);
	h = ch_xprintf("X-Chatr-Forwarded-At: %s", at);
	hl = curl_slist_append(hl, h);
	free(h);
	h = ch_xprintf("X-Chatr-Forwarded-Sig: %s", sig);
	hl = curl_slist_append(hl, h);
	free(h);
	if ((p = ch_req_param(req, "CONTENT_TYPE")) != NULL && *p != '\0') {
		h = ch_xprintf("Content-Type: %s", p);
		hl = curl_slist_append(hl, h);
		free(h);
	} else
		hl = curl_slist_append(hl, "Content-Type:");
	if ((p = ch_req_param(req, "HTTP_AUTHORIZATION")) != NULL) {
		h = ch_xprintf("Authorization: %s", p);
		hl = curl_slist_append(hl, h);
		ch_wipe(h, strlen(h));
		free(h);
	}
	hl = curl_slist_append(hl, "Expect:");
	if (hl == NULL)
		ch_fatal("curl_slist_append failed");
	memset(&a, 0, sizeof(a));
	errbuf[0] = '\0';
	if (curl_easy_setopt(fwd_curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)FWD_CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_TIMEOUT_MS,
	    (long)FWD_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_FOLLOWLOCATION, 0L) !=
	    CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_CUSTOMREQUEST, method) !=
	    CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_HTTPHEADER, hl) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_USERAGENT,
	    "chatr/" CH_VERSION " (forwarded by a replica)") != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_WRITEFUNCTION, fwd_body) !=
	    CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_WRITEDATA, &a) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_HEADERFUNCTION, fwd_header) !=
	    CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_HEADERDATA, &a) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_ERRORBUFFER, errbuf) !=
	    CURLE_OK)
		ch_fatal("libcurl refused an option");
	if (req->method == CH_HEAD)
		(void)curl_easy_setopt(fwd_curl, CURLOPT_NOBODY, 1L);
	else if (req->method != CH_GET &&
	    (curl_easy_setopt(fwd_curl, CURLOPT_POSTFIELDSIZE,
	    (long)req->bodylen) != CURLE_OK ||
	    curl_easy_setopt(fwd_curl, CURLOPT_POSTFIELDS,
	    req->body != NULL ? req->body : "") != CURLE_OK))
		ch_fatal("libcurl refused an option");
	ch_watchdog_idle(); /* waiting on the network, not on the store */
	cc = curl_easy_perform(fwd_curl);
	ch_watchdog_busy();
	curl_slist_free_all(hl);
	if (cc == CURLE_OK) {
		(void)curl_easy_getinfo(fwd_curl, CURLINFO_RESPONSE_CODE,
		    &status);
		if (curl_easy_getinfo(fwd_curl, CURLINFO_CONTENT_TYPE, &p) !=
		    CURLE_OK)
			p = NULL;
	}
	/* An error page that is not chatr's JSON is the master's web server
	 * speaking for programs that are gone (a node dying): no answer. */
	if (cc != CURLE_OK || status < 100 || status > 599 || a.toobig ||
	    (status >= 500 && (p == NULL ||
	    strncasecmp(p, "application/json", 16) != 0))) {
		ch_log_warn("forwarding %s %s to the master failed: %s", method,
		    req->path, cc != CURLE_OK ? (errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(cc)) : status >= 500 ?
		    "its web server answered for it" : "a bad answer");
		free(url);
		ch_buf_free(&a.head);
		ch_buf_free(&a.body);
		req->retry_after = 1;
		return ch_fail(req, CH_ERR_UNAVAIL, "The master could not be "
		    "reached just now. Retry in a second.");
	}
	free(url);
	req->answered = 1;
	ch_buf_addf(&out, "Status: %ld\r\n", status);
	if (a.head.len > 0)
		ch_buf_add(&out, a.head.data, a.head.len);
	ch_buf_addf(&out, "Content-Length: %zu\r\n\r\n", a.body.len);
	if (req->method != CH_HEAD && a.body.len > 0)
		ch_buf_add(&out, a.body.data, a.body.len);
	ret = req->io->write(req, out.data, out.len);
	if (ret != 0)
		ch_log_info("client went away");
	ch_buf_free(&out);
	ch_buf_free(&a.head);
	ch_buf_free(&a.body);
	return 0;
}
