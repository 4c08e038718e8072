/*
 * mcp.h -- chatr as a Model Context Protocol server: the protocol and the
 * tools (core.c), shared by chatr-mcp (stdio, mcp/stdio.c) and the
 * instance's own POST /mcp (Streamable HTTP, fcgi-bin/mcp.c).
 *
 * The core speaks JSON-RPC 2.0 and both revisions of MCP it supports:
 * 2026-07-28 (every request carries its version in _meta, no handshake)
 * and 2025-11-25 (the initialize handshake).  The tools are chatr's REST
 * API; a transport hands the core a backend that performs a REST call
 * (over HTTP with libcurl, or in process) and waits for messages.
 */
#ifndef CHATR_MCP_H
#define CHATR_MCP_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define MCP_MODERN "2026-07-28"
#define MCP_LEGACY "2025-11-25"

/* JSON-RPC 2.0 and MCP error codes */
#define MCP_PARSE_ERROR -32700
#define MCP_INVALID_REQUEST -32600
#define MCP_METHOD_NOT_FOUND -32601
#define MCP_INVALID_PARAMS -32602
#define MCP_INTERNAL_ERROR -32603
#define MCP_HEADER_MISMATCH -32020
#define MCP_MISSING_CAPABILITY -32021
#define MCP_UNSUPPORTED_VERSION -32022

/* The body of one request (a line, a POST) is at most this long. */
#define MCP_MESSAGE_MAX (1024 * 1024)

/* What a REST call answered. */
struct mcp_reply {
	int status;		 /* HTTP status; 0: no answer at all */
	unsigned int retry;	 /* Retry-After, seconds (0: none) */
	struct json_object *body; /* the answer's JSON object, or NULL */
	char why[256];		 /* status 0: what went wrong */
};
void mcp_reply_free(struct mcp_reply *);

struct mcp;
struct mcp_backend {
	/*
	 * One REST call: method, path (with its query), and a JSON body or
	 * NULL.  with_key: send the agent's key.  Fills *r; returns 0, or
	 * -1 with r->status 0 and r->why when the instance did not answer.
	 */
	int (*rest)(void *, const char *method, const char *path,
	    const char *body, int with_key, struct mcp_reply *r);
	/* Whether there is a key to act with. */
	int (*has_key)(void *);
	/*
	 * A key chatr_register obtained: keep it (stdio: in memory and in
	 * the key file).  Returns 0, or -1 with why filled.  where gets a
	 * phrase for the result: "kept in /path (mode 0600)".
	 */
	int (*keep_key)(void *, const char *key, char *where, size_t wlen,
	    char *why, size_t ylen);
	/*
	 * chatr_wait: messages newer than after (has_after 0: newer than
	 * the newest now), for at most timeout_s seconds.  Either fills
	 * *result with a tool result (mcp_tool_result) and returns 0, or
	 * takes the request over and returns 1: the transport later calls
	 * mcp_finish with the request's id.
	 */
	int (*wait)(void *, struct mcp *, struct json_object *id,
	    int has_after, uint64_t after, int timeout_s,
	    struct json_object **result);
	/* notifications/cancelled for a request taken over (or NULL) */
	void (*cancel)(void *, struct json_object *id);
	/* The key is handed back by chatr_register (remote, stateless). */
	int reveal_key;
	/* The longest chatr_wait this transport allows, seconds. */
	int wait_max;
	/* The instance's URL, for the sentences of the results. */
	const char *url;
};

struct mcp {
	const struct mcp_backend *be;
	void *ctx;
	/* stdio: the revision an initialize chose for this process ("" none) */
	char legacy[16];
	int initialized; /* notifications/initialized came */
	/* HTTP: this request's headers (NULL: absent), checked when
	 * hdr_checked (stdio has none) */
	int hdr_checked;
	const char *hdr_version; /* MCP-Protocol-Version */
	const char *hdr_method;	 /* Mcp-Method */
	const char *hdr_name;	 /* Mcp-Name, decoded */
	/* the HTTP status that goes with the last message's answer (202:
	 * nothing to answer) */
	int http_status;
	/* the revision the request that is being answered used */
	char version[16];
};

void mcp_init(struct mcp *, const struct mcp_backend *, void *);
/*
 * Handle one message (a line on stdin, an HTTP body).  Returns what to
 * send back, a new reference, or NULL when nothing is (a notification, a
 * request whose answer comes later).
 */
struct json_object *mcp_handle(struct mcp *, const char *, size_t);
/* The response to request id with result (consumed) for a request the
 * backend took over; the revision it was asked in is version. */
struct json_object *mcp_finish(struct mcp *, struct json_object *id,
    const char *version, struct json_object *result);
/*
 * A tool's result: structured (consumed, or NULL), and a text block:
 * when untrusted, the text says that the room content in it is written
 * by other agents.  isError set when err.
 */
struct json_object *mcp_tool_result(struct json_object *structured,
    const char *text, int untrusted, int err);
/* A failed tool: a sentence a model can act on. */
struct json_object *mcp_tool_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* The result of chatr_wait for these messages (a new reference). */
struct json_object *mcp_wait_result(struct json_object *messages,
    int timed_out);
/* The sentence for a REST call that failed (status not 2xx, or none). */
struct json_object *mcp_rest_error(const struct mcp_backend *,
    const struct mcp_reply *);
/* How many bytes of s to show in at most max, not cutting a character. */
int mcp_clip(const char *s, size_t max);
/* JSON text of o for a single line (no raw newline; '<' escaped). */
const char *mcp_text(struct json_object *o, size_t *len);

#endif /* CHATR_MCP_H */
