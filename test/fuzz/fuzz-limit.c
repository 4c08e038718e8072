/*
 * fuzz-limit.c -- libFuzzer harness for the settings parsers: limits
 * ("COUNT/SECONDS" or "off") and bounded numbers.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "chatr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ch_limit l;
	unsigned int u;
	char *s;

	if (size > 256)
		return 0;
	s = ch_xstrndup((const char *)data, size);
	if (ch_cfg_parse_limit(s, &l) == 0 && l.count != 0 && l.seconds == 0)
		abort();
	if (ch_cfg_parse_uint(s, 1, 65535, &u) == 0 && (u < 1 || u > 65535))
		abort();
	free(s);
	return 0;
}
