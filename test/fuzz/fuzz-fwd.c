/*
 * fuzz-fwd.c -- libFuzzer harness for the check of a forwarded request's
 * headers (ch_fwd_trust in common/fwd.c): X-Chatr-Forwarded-For, -At and
 * -Sig, which anyone can send.  The input is "AT\nADDR\nSIG\nBODY" after
 * a first byte; when that byte is odd, SIG is replaced by the right
 * signature, made here with the cluster's secret.  An AT of "@N" stands
 * for N seconds from now.  A request is taken as forwarded only with
 * the right signature, and then carries exactly the address signed;
 * otherwise its own address is kept.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "chatr.h"

#define SECRET "fuzz-cluster-secret-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *h_for, *h_at, *h_sig;

static const char *
fuzz_param(struct ch_req *req, const char *name)
{
	(void)req;
	if (strcmp(name, "HTTP_X_CHATR_FORWARDED_FOR") == 0)
		return h_for;
	if (strcmp(name, "HTTP_X_CHATR_FORWARDED_AT") == 0)
		return h_at;
	if (strcmp(name, "HTTP_X_CHATR_FORWARDED_SIG") == 0)
		return h_sig;
	return NULL;
}

static const struct ch_io fuzz_io = { .param = fuzz_param };

/* The signature the headers must carry, made apart from fwd.c. */
static void
sign(const char *at, const char *addr, const char *path, const char *body,
    size_t bodylen, char *out)
{
	unsigned char bh[SHA256_DIGEST_LENGTH], mac[EVP_MAX_MD_SIZE];
	char bhex[2 * SHA256_DIGEST_LENGTH + 1], *msg;
	unsigned int n = 0;
	int len;

	SHA256((const unsigned char *)body, bodylen, bh);
	ch_hex_encode(bhex, bh, sizeof(bh));
	len = asprintf(&msg, "chatr-fwd-1\n%s\n%s\nPOST\n%s\n%s", at, addr,
	    path, bhex);
	if (len < 0)
		abort();
	if (HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (const unsigned char *)msg, (size_t)len, mac, &n) == NULL ||
	    n != 32)
		abort();
	ch_hex_encode(out, mac, 32);
	free(msg);
}

/* The next line of *p (up to end) as a new string. */
static char *
field(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *e = nl != NULL ? nl : end;
	char *s = ch_xstrndup(*p, (size_t)(e - *p));

	*p = nl != NULL ? nl + 1 : end;
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ch_cfg cfg;
	static char host[] = "127.0.0.1", secret[] = SECRET;
	struct ch_req req;
	const char *p, *end;
	char *at, *addr, *sig, want[65], path[] = "/api/messages";
	int signed_right;

	if (size < 1 || size > 8192 || memchr(data, '\0', size) != NULL)
		return 0;
	cfg.listen.host = host;
	cfg.listen.port = 9101;
	cfg.cluster_secret = secret;
	signed_right = data[0] & 1;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	at = field(&p, end);
	if (at[0] == '@') {
		/* "@N": N seconds from now (so that a corpus does not age) */
		char *rel = at;
		long long off = strtoll(rel + 1, NULL, 10);

		if (off > 1000000000LL || off < -1000000000LL)
			off = 0;
		if (asprintf(&at, "%lld", (long long)time(NULL) + off) < 0)
			abort();
		free(rel);
	}
	addr = field(&p, end);
	sig = field(&p, end);
	memset(&req, 0, sizeof(req));
	req.cfg = &cfg;
	req.io = &fuzz_io;
	req.method = CH_POST;
	req.path = path;
	req.body = (char *)p;
	req.bodylen = (size_t)(end - p);
	req.now = (int64_t)time(NULL) * 1000;
	snprintf(req.addr, sizeof(req.addr), "198.51.100.7");
	sign(at, addr, path, req.body, req.bodylen, want);
	if (signed_right) {
		free(sig);
		sig = ch_xstrdup(want);
	}
	h_for = addr;
	h_at = at;
	h_sig = sig;
	ch_fwd_trust(&req);
	if (memchr(req.addr, '\0', sizeof(req.addr)) == NULL)
		abort();
	if (req.forwarded) {
		/* only the right signature, and then the address signed */
		if (strcmp(sig, want) != 0 || strcmp(req.addr, addr) != 0)
			abort();
	} else if (strcmp(req.addr, "198.51.100.7") != 0)
		abort();
	free(at);
	free(addr);
	free(sig);
	return 0;
}
