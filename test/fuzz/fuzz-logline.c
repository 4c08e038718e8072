/*
 * fuzz-logline.c -- libFuzzer harness for the message log's line reader
 * (ch_msg_parse_line), which the relay runs on every line of a file that
 * a crash may have cut short or a disk may have garbled.  A line it
 * accepts names a positive id and reads again, unchanged, once written
 * out.
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
	struct json_object *o, *o2;
	const char *text;
	uint64_t id, id2;
	size_t len;

	if (size > 65536)
		return 0;
	if (ch_msg_parse_line((const char *)data, size, &id, &o) != 0)
		return 0;
	if (id == 0)
		abort();
	text = ch_json_text(o, &len);
	if (ch_msg_parse_line(text, len, &id2, &o2) != 0 || id2 != id)
		abort();
	json_object_put(o2);
	json_object_put(o);
	return 0;
}
