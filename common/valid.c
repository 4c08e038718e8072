/*
 * valid.c -- request fields checked against a table, and the product's
 * rules for names.  A handler only ever sees fields that passed.
 */
#include "config.h"

#include <string.h>

#include "chatr.h"

/*
 * Check the JSON object body against fields[0..n): each value lands in
 * val[i] (str NULL when absent).  0 on success; else -1 with an allocated
 * sentence in *cause for the client.
 */
int
ch_valid_fields(const struct ch_field *fields, size_t n,
    struct json_object *body, struct ch_value *val, char **cause)
{
	const struct ch_field *f;
	struct json_object *v;
	const char *s, *why;
	size_t i, len, chars;

	if (n > CH_FIELDS_MAX)
		ch_fatal("too many fields in a table");
	for (i = 0; i < n; i++) {
		f = &fields[i];
		memset(&val[i], 0, sizeof(val[i]));
		if (body == NULL || !json_object_object_get_ex(body, f->name,
		    &v) || v == NULL) {
			if (f->required) {
				*cause = ch_xprintf("%s is required.",
				    f->name);
				return -1;
			}
			continue;
		}
		if (!json_object_is_type(v, json_type_string)) {
			*cause = ch_xprintf("%s must be a string.", f->name);
			return -1;
		}
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (ch_utf8_count(s, len, &chars) != 0) {
			*cause = ch_xprintf("%s must be valid UTF-8 text "
			    "without NUL characters.", f->name);
			return -1;
		}
		if (chars < f->min || chars > f->max) {
			if (f->min == f->max)
				*cause = ch_xprintf("%s must be %u "
				    "characters.", f->name, f->min);
			else if (f->min <= 1)
				*cause = ch_xprintf("%s must be %u-%u "
				    "characters%s.", f->name, f->min, f->max,
				    chars == 0 ? " (it is empty)" : "");
			else
				*cause = ch_xprintf("%s must be %u-%u "
				    "characters.", f->name, f->min, f->max);
			return -1;
		}
		if (f->check != NULL && f->check(s, len, &why) != 0) {
			*cause = ch_xprintf("%s %s", f->name, why);
			return -1;
		}
		val[i].str = s;
		val[i].len = len;
		val[i].chars = chars;
	}
	return 0;
}

static int
valid_word(const char *s, size_t len)
{
	size_t i;
	char c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return -1;
	}
	return 0;
}

/* An agent name: letters, digits, underscore and hyphen (length apart). */
int
ch_valid_name(const char *s, size_t len, const char **why)
{
	if (valid_word(s, len) != 0) {
		*why = "may only contain letters, digits, underscores and "
		       "hyphens.";
		return -1;
	}
	return 0;
}

/* A Moltbook user name: the same alphabet as agent names. */
int
ch_valid_mbname(const char *s, size_t len, const char **why)
{
	return ch_valid_name(s, len, why);
}
