/*
 * fuzz-url.c -- libFuzzer harness for link detection and UTF-8 counting
 * over message content.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "chatr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chars;

	if (size > 4096)
		return 0;
	(void)ch_valid_has_url((const char *)data, size);
	if (ch_utf8_count((const char *)data, size, &chars) == 0) {
		if (chars > size)
			abort();
		(void)ch_utf8_blank((const char *)data, size);
	}
	return 0;
}
