/*
 * moltbook.c -- looking up a Moltbook profile with libcurl:
 *
 *	GET {CHATR_MOLTBOOK_API}/agents/profile?name=NAME
 *	-> {"success":true,"agent":{"name":..,"is_claimed":..,
 *	    "owner":{"x_handle":..}},"recentPosts":[{"title":..,
 *	    "content":..},...]}		(404 for an unknown name)
 *
 * Outbound calls are bounded: 3 s to connect, 10 s in all, 1 MB of
 * answer, http and https only, TLS verified, and a redirect is followed
 * only to the same scheme, host and port (at most three).  Every failure
 * comes back as a sentence for the client; nothing here prints.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "chatr.h"

#define MB_CONNECT_TIMEOUT_MS 3000L
#define MB_TIMEOUT_MS 10000L
#define MB_MAX_BYTES (1024 * 1024)
#define MB_MAX_REDIRECTS 3

struct mb_body {
	struct ch_buf buf;
	int toobig;
};

static size_t
mb_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct mb_body *b = arg;
	size_t n = size * nmemb;

	if (b->buf.len + n > MB_MAX_BYTES) {
		b->toobig = 1;
		return 0; /* aborts the transfer */
	}
	ch_buf_add(&b->buf, p, n);
	return n;
}

/* Do two URLs have the same scheme, host and port? */
static int
mb_same_origin(const char *a, const char *b)
{
	static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST,
	    CURLUPART_PORT};
	CURLU *ua, *ub;
	char *pa, *pb;
	size_t i;
	int same = 1;

	ua = curl_url();
	ub = curl_url();
	if (ua == NULL || ub == NULL || curl_url_set(ua, CURLUPART_URL, a, 0) !=
	    CURLUE_OK || curl_url_set(ub, CURLUPART_URL, b, 0) != CURLUE_OK)
		same = 0;
	for (i = 0; same && i < sizeof(parts) / sizeof(parts[0]); i++) {
		pa = pb = NULL;
		if (curl_url_get(ua, parts[i], &pa, CURLU_DEFAULT_PORT) !=
		    CURLUE_OK || curl_url_get(ub, parts[i], &pb,
		    CURLU_DEFAULT_PORT) != CURLUE_OK || strcasecmp(pa, pb) != 0)
			same = 0;
		curl_free(pa);
		curl_free(pb);
	}
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

/* Free what ch_moltbook_profile filled in. */
void
ch_moltbook_free(struct ch_moltbook *mb)
{
	free(mb->name);
	free(mb->x_handle);
	memset(mb, 0, sizeof(*mb));
}

static const char *
mb_str(struct json_object *o, const char *key, int *bad)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

/* Read the profile out of Moltbook's answer; 0 or -1 for a bad shape. */
static int
mb_parse(const char *text, size_t len, const char *code,
    struct ch_moltbook *mb)
{
	struct json_tokener *tok;
	struct json_object *o, *agent, *owner, *posts, *post, *v;
	const char *s, *why;
	char tag[32];
	size_t i, n;
	int bad = 0;

	if ((tok = json_tokener_new_ex(32)) == NULL)
		ch_fatal("json_tokener_new_ex failed");
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "agent", &agent) ||
	    !json_object_is_type(agent, json_type_object))
		goto fail;
	/* Moltbook's answer is as untrusted as a request: what is kept of
	 * it (shown on every surface) must be a name and a handle. */
	if ((s = mb_str(agent, "name", &bad)) == NULL ||
	    (n = strlen(s)) < 2 || n > 64 || ch_valid_mbname(s, n, &why) != 0)
		goto fail;
	mb->name = ch_xstrdup(s);
	if (!json_object_object_get_ex(agent, "is_claimed", &v) ||
	    !json_object_is_type(v, json_type_boolean))
		goto fail;
	mb->claimed = json_object_get_boolean(v);
	if (json_object_object_get_ex(agent, "owner", &owner) &&
	    owner != NULL) {
		if (!json_object_is_type(owner, json_type_object))
			goto fail;
		s = mb_str(owner, "x_handle", &bad);
		if (bad)
			goto fail;
		if (s != NULL && *s == '@')
			s++;
		if (s != NULL && *s != '\0') {
			if (ch_valid_xhandle(s, strlen(s), &why) != 0)
				goto fail;
			mb->x_handle = ch_xstrdup(s);
		}
	}
	snprintf(tag, sizeof(tag), "[%s]", code);
	if (json_object_object_get_ex(o, "recentPosts", &posts) &&
	    posts != NULL) {
		if (!json_object_is_type(posts, json_type_array))
			goto fail;
		n = json_object_array_length(posts);
		for (i = 0; i < n; i++) {
			post = json_object_array_get_idx(posts, i);
			if (post == NULL ||
			    !json_object_is_type(post, json_type_object))
				goto fail;
			if (((s = mb_str(post, "content", &bad)) != NULL &&
			    strstr(s, tag) != NULL) ||
			    ((s = mb_str(post, "title", &bad)) != NULL &&
			    strstr(s, tag) != NULL))
				mb->posted = 1;
			if (bad)
				goto fail;
		}
	}
	json_object_put(o);
	return 0;
fail:
	json_object_put(o);
	ch_moltbook_free(mb);
	return -1;
}

/*
 * Look up Moltbook user name under api (CHATR_MOLTBOOK_API) and check its
 * recent posts for "[code]".  Returns CH_ERR_OK with *mb filled in (free
 * it with ch_moltbook_free), CH_ERR_NOTFOUND when Moltbook has no such
 * user, or CH_ERR_UPSTREAM when Moltbook failed; *cause then holds an
 * allocated sentence.
 */
enum ch_err
ch_moltbook_profile(const char *api, const char *name, const char *code,
    struct ch_moltbook *mb, char **cause)
{
	static int initialised;
	struct mb_body body;
	CURL *c;
	CURLcode cc;
	char *esc, *url, *next = NULL, errbuf[CURL_ERROR_SIZE];
	long status = 0;
	int hops;
	enum ch_err ret = CH_ERR_UPSTREAM;

	memset(mb, 0, sizeof(*mb));
	memset(&body, 0, sizeof(body));
	if (!initialised) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			*cause = ch_xstrdup("Could not set up the HTTP client.");
			return CH_ERR_INTERNAL;
		}
		initialised = 1;
	}
	if ((c = curl_easy_init()) == NULL) {
		*cause = ch_xstrdup("Could not set up the HTTP client.");
		return CH_ERR_INTERNAL;
	}
	if ((esc = curl_easy_escape(c, name, 0)) == NULL)
		ch_fatal("curl_easy_escape failed");
	url = ch_xprintf("%s/agents/profile?name=%s", api, esc);
	curl_free(esc);

	for (hops = 0;; hops++) {
		ch_buf_reset(&body.buf);
		body.toobig = 0;
		errbuf[0] = '\0';
		curl_easy_reset(c);
		/* Any option refused is a bug or a libcurl without it. */
		if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
		    CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
		    MB_CONNECT_TIMEOUT_MS) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, MB_TIMEOUT_MS) !=
		    CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)MB_MAX_BYTES) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_USERAGENT,
		    "chatr/" CH_VERSION " (Moltbook verification)") != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mb_write) !=
		    CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body) != CURLE_OK ||
		    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) !=
		    CURLE_OK) {
			ch_log_err("moltbook: libcurl refused an option");
			*cause = ch_xstrdup("Could not set up the HTTP client.");
			ret = CH_ERR_INTERNAL;
			goto out;
		}
		/* Waiting for Moltbook (bounded by the timeouts) is not being
		 * stuck: no store lock or transaction is held here. */
		ch_watchdog_idle();
		cc = curl_easy_perform(c);
		ch_watchdog_busy();
		if (body.toobig || cc == CURLE_FILESIZE_EXCEEDED) {
			*cause = ch_xstrdup("Moltbook's answer was too large.");
			goto out;
		}
		if (cc != CURLE_OK) {
			ch_log_warn("moltbook: %s", errbuf[0] != '\0' ? errbuf :
			    curl_easy_strerror(cc));
			*cause = ch_xprintf("Could not reach Moltbook (%s). "
			    "Try again later.", cc == CURLE_OPERATION_TIMEDOUT ?
			    "it did not answer in time" :
			    curl_easy_strerror(cc));
			goto out;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status < 300 || status >= 400)
			break;
		next = NULL;
		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next) !=
		    CURLE_OK || next == NULL || hops >= MB_MAX_REDIRECTS ||
		    !mb_same_origin(url, next)) {
			*cause = ch_xstrdup("Moltbook redirected the lookup "
			    "elsewhere; chatr does not follow it.");
			goto out;
		}
		free(url);
		url = ch_xstrdup(next);
	}
	if (status == 404) {
		*cause = ch_xprintf("No Moltbook account named %s.", name);
		ret = CH_ERR_NOTFOUND;
		goto out;
	}
	if (status != 200) {
		ch_log_warn("moltbook: HTTP %ld", status);
		*cause = ch_xprintf("Moltbook failed (HTTP %ld). Try again "
		    "later.", status);
		goto out;
	}
	if (mb_parse(body.buf.data != NULL ? body.buf.data : "", body.buf.len,
	    code, mb) != 0) {
		*cause = ch_xstrdup("Moltbook answered in an unexpected form. "
		    "Try again later.");
		goto out;
	}
	ret = CH_ERR_OK;
out:
	free(url);
	ch_buf_free(&body.buf);
	curl_easy_cleanup(c);
	return ret;
}
