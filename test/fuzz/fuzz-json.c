/*
 * fuzz-json.c -- libFuzzer harness for the request body path: the strict
 * JSON check, json-c, and field validation against register's table.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct ch_field fields[] = {
	{"name", CH_FT_STRING, 1, CH_NAME_MIN, CH_NAME_MAX, ch_valid_name},
	{"avatar", CH_FT_STRING, 0, 0, CH_AVATAR_MAX, NULL},
	{"content", CH_FT_STRING, 0, 1, CH_CONTENT_MAX, NULL},
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ch_value val[CH_FIELDS_MAX];
	struct json_object *o = NULL;
	char *buf, *cause = NULL;

	if (size > CH_BODY_MAX)
		return 0;
	buf = ch_xstrndup((const char *)data, size);
	if (ch_json_parse(buf, size, &o, &cause) == 0) {
		if (ch_valid_fields(fields, 3, o, val, &cause) == 0 &&
		    val[2].str != NULL) {
			(void)ch_utf8_blank(val[2].str, val[2].len);
			(void)ch_valid_has_url(val[2].str, val[2].len);
		}
		json_object_put(o);
	}
	free(cause);
	free(buf);
	return 0;
}
