/*
 * fuzz-request.c -- libFuzzer harness for the relay's parser of a stream
 * client's request head (sse-relay/request.c), as client.c calls it: a
 * head with no NUL byte, ending in a blank line.  The first byte says
 * whether the connection is trusted (X-Forwarded-For believed).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request r;
	char *head;
	int ret;

	if (size < 1 || size > RELAY_REQUEST_MAX || memchr(data, '\0',
	    size) != NULL)
		return 0;
	if ((head = malloc(size)) == NULL)
		return 0;
	memcpy(head, data + 1, size - 1);
	ret = request_parse(head, size - 1, data[0] & 1, &r);
	if (memchr(r.addr, '\0', sizeof(r.addr)) == NULL ||
	    memchr(r.method, '\0', sizeof(r.method)) == NULL ||
	    memchr(r.path, '\0', sizeof(r.path)) == NULL)
		abort();
	if (ret == 0 && (strcmp(r.method, "GET") != 0 ||
	    strcmp(r.path, "/api/stream") != 0))
		abort();
	if (ret != 0 && ((r.status != 400 && r.status != 404 &&
	    r.status != 405) || r.error == NULL))
		abort();
	if (!(data[0] & 1) && r.addr[0] != '\0')
		abort(); /* an untrusted client cannot set its address */
	free(head);
	return 0;
}
