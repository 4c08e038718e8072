/*
 * fuzz-request-cgi.c -- libFuzzer harness for the relay's reading of a
 * CGI request (sse-relay/request.c, request_cgi): the input is split at
 * NUL bytes into REQUEST_METHOD, QUERY_STRING, HTTP_LAST_EVENT_ID,
 * REMOTE_ADDR and HTTP_X_FORWARDED_FOR, as a web server would set them
 * from what a client sent.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *names[] = {"REQUEST_METHOD", "QUERY_STRING",
    "HTTP_LAST_EVENT_ID", "REMOTE_ADDR", "HTTP_X_FORWARDED_FOR"};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request r;
	char *copy, *p, *end;
	size_t i;

	if (size > 16384 || (copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	p = copy;
	end = copy + size;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (p <= end) {
			setenv(names[i], p, 1);
			p += strlen(p) + 1;
		} else
			unsetenv(names[i]);
	}
	request_cgi(&r);
	if (memchr(r.addr, '\0', sizeof(r.addr)) == NULL ||
	    memchr(r.before, '\0', sizeof(r.before)) == NULL ||
	    memchr(r.method, '\0', sizeof(r.method)) == NULL ||
	    strcmp(r.path, "/api/stream") != 0)
		abort();
	if (r.status == 0 && strcmp(r.method, "GET") != 0)
		abort();
	if (r.status != 0 && ((r.status != 400 && r.status != 405) ||
	    r.error == NULL))
		abort();
	if (r.addr[0] == '\0' && r.before[0] != '\0')
		abort(); /* what a client says counts only beside the peer */
	free(copy);
	return 0;
}
