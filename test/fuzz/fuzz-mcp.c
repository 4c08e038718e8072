/*
 * fuzz-mcp.c -- libFuzzer harness for MCP messages (mcp/core.c and the
 * tools): a message, and after a NUL the body the REST API "answers" to
 * whatever the tool calls, so that the tools' reading of answers is
 * fuzzed too.  The input's first byte picks the transport: stdio, or
 * HTTP with the headers taken from the message's own method.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"
#include "mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *answer;
static size_t answer_len;
static int status;

static int
f_rest(void *ctx, const char *method, const char *path, const char *body,
    int with_key, struct mcp_reply *r)
{
	char *cause = NULL;

	(void)ctx;
	(void)method;
	(void)path;
	(void)body;
	(void)with_key;
	memset(r, 0, sizeof(*r));
	r->status = status;
	r->retry = 7;
	if (status == 0) {
		strcpy(r->why, "Connection refused");
		return -1;
	}
	if (ch_json_parse_deep(answer, answer_len, 16, &r->body, &cause) != 0)
		free(cause);
	return 0;
}

static int
f_has_key(void *ctx)
{
	(void)ctx;
	return status != 401;
}

static int
f_keep_key(void *ctx, const char *key, char *where, size_t wlen, char *why,
    size_t ylen)
{
	(void)ctx;
	(void)key;
	(void)why;
	(void)ylen;
	snprintf(where, wlen, "nowhere");
	return 0;
}

static int
f_wait(void *ctx, struct mcp *m, struct json_object *id, int has_after,
    uint64_t after, int timeout_s, struct json_object **result)
{
	(void)ctx;
	(void)m;
	(void)id;
	(void)has_after;
	(void)after;
	(void)timeout_s;
	*result = mcp_wait_result(json_object_new_array(), 1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mcp_backend be = {
		.rest = f_rest,
		.has_key = f_has_key,
		.keep_key = f_keep_key,
		.wait = f_wait,
		.reveal_key = 0,
		.wait_max = 60,
		.url = "http://fuzz",
	};
	static const int statuses[] = {200, 400, 401, 403, 409, 429, 502, 503,
	    0};
	struct json_object *o;
	struct mcp m;
	const char *nul;
	size_t len;
	int mode;

	if (size < 2 || size > 65536)
		return 0;
	mode = data[0];
	data++;
	size--;
	nul = memchr(data, '\0', size);
	len = nul != NULL ? (size_t)(nul - (const char *)data) : size;
	answer = nul != NULL ? nul + 1 : "{\"success\":true}";
	answer_len = nul != NULL ? size - len - 1 : strlen(answer);
	status = statuses[(mode >> 1) % (sizeof(statuses) / sizeof(statuses[0]))];
	mcp_init(&m, &be, NULL);
	if (mode & 1) {
		/* HTTP: the modern headers, agreeing or not */
		m.hdr_checked = 1;
		m.hdr_version = mode & 0x40 ? MCP_MODERN : MCP_LEGACY;
		m.hdr_method = mode & 0x80 ? "tools/call" : NULL;
		m.hdr_name = mode & 0x20 ? "chatr_send" : NULL;
	} else if (mode & 0x40) {
		snprintf(m.legacy, sizeof(m.legacy), "%s", MCP_LEGACY);
	}
	o = mcp_handle(&m, (const char *)data, len);
	if (o != NULL)
		(void)mcp_text(o, NULL);
	json_object_put(o);
	return 0;
}
