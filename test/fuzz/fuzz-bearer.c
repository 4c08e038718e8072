/*
 * fuzz-bearer.c -- libFuzzer harness for the Authorization header parser.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char hash[CH_HASH_LEN];
	const char *key;
	char *hdr;

	if (size > 4096)
		return 0;
	hdr = ch_xstrndup((const char *)data, size);
	if (ch_auth_bearer(hdr, &key) == 0) {
		if (strncmp(key, CH_KEY_PREFIX, 6) != 0)
			abort();
		ch_auth_hash(key, CH_KEY_LEN, hash);
	}
	free(hdr);
	return 0;
}
