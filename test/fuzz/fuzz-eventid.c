/*
 * fuzz-eventid.c -- libFuzzer harness for the ids a stream resumes from:
 * request_event_id (the Last-Event-ID header) and the lastEventId query
 * parameter as the relay reads it (ch_query_get, then request_event_id).
 * An accepted id must print back as the digits that were sent.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, out[32], back[32];
	const char *digits;
	uint64_t id;

	if (size > 512)
		return 0;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (request_event_id(s, size, &id) == 0) {
		for (digits = s; *digits == '0' && digits[1] != '\0';)
			digits++;
		snprintf(back, sizeof(back), "%" PRIu64, id);
		if (strcmp(back, digits) != 0)
			abort();
	}
	if (memchr(s, '\0', size) == NULL &&
	    ch_query_get(s, "lastEventId", out, sizeof(out)) == 0) {
		if (strlen(out) >= sizeof(out))
			abort();
		(void)request_event_id(out, strlen(out), &id);
	}
	free(s);
	return 0;
}
