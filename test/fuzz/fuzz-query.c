/*
 * fuzz-query.c -- libFuzzer harness for the query string reader
 * (ch_query_get): the text before the first NUL is the query, the rest
 * the parameter's name.  A value it returns fits, and holds no NUL.
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
	char *s, out[64];
	const char *name;
	size_t qlen;
	int ret;

	if (size > 4096)
		return 0;
	if ((s = malloc(size + 2)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = s[size + 1] = '\0';
	qlen = strlen(s);
	name = qlen < size ? s + qlen + 1 : "limit";
	memset(out, 'x', sizeof(out));
	ret = ch_query_get(s, name, out, sizeof(out));
	if (ret == 0 && memchr(out, '\0', sizeof(out)) == NULL)
		abort();
	if (ret < -1 || ret > 1)
		abort();
	free(s);
	return 0;
}
