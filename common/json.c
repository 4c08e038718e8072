/*
 * json.c -- JSON in and out with json-c.
 *
 * Requests are parsed strictly: RFC 8259 syntax, valid UTF-8, a nesting
 * limit, nothing after the value, and the value must be an object.
 */
#include "config.h"

#include <string.h>

#include "chatr.h"

static int
json_hex4(const char *p, size_t left, unsigned int *out)
{
	unsigned int v = 0;
	size_t i;
	char c;

	if (left < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Does the JSON text hold a \u escape of a lone UTF-16 surrogate?  json-c
 * would quietly turn it into U+FFFD; chatr refuses it instead.
 */
static int
json_lone_surrogate(const char *buf, size_t len)
{
	unsigned int u, lo;
	size_t i;
	int instr = 0;

	for (i = 0; i < len; i++) {
		if (buf[i] == '"')
			instr = !instr;
		if (!instr || buf[i] != '\\')
			continue;
		i++;
		if (i >= len || buf[i] != 'u')
			continue;
		if (json_hex4(buf + i + 1, len - i - 1, &u) != 0)
			continue;
		i += 4;
		if (u >= 0xdc00 && u <= 0xdfff)
			return 1;
		if (u < 0xd800 || u > 0xdbff)
			continue;
		if (i + 2 >= len || buf[i + 1] != '\\' || buf[i + 2] != 'u' ||
		    json_hex4(buf + i + 3, len - i - 3, &lo) != 0 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return 1;
		i += 6;
	}
	return 0;
}

/*
 * Parse len bytes of buf as one JSON object.  On success *out holds a
 * new reference the caller puts; else -1 with an allocated *cause that
 * can be shown to the client.
 */
int
ch_json_parse(const char *buf, size_t len, struct json_object **out,
    char **cause)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t i;

	if (len > INT32_MAX) {
		*cause = ch_xstrdup("The request body is too large.");
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		*cause = ch_xstrdup("The request body must be JSON text "
		    "without NUL bytes.");
		return -1;
	}
	for (i = 0; i < len && strchr(" \t\r\n", buf[i]) != NULL; i++)
		;
	if (i == len) {
		*cause = ch_xstrdup("The request body must be a JSON object.");
		return -1;
	}
	if ((tok = json_tokener_new_ex(CH_JSON_DEPTH)) == NULL)
		ch_fatal("json_tokener_new_ex failed");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (o == NULL || jerr != json_tokener_success) {
		if (jerr == json_tokener_continue)
			*cause = ch_xstrdup("Malformed JSON: the body ends "
			    "too early.");
		else if (jerr == json_tokener_error_depth)
			*cause = ch_xstrdup("Malformed JSON: nested too "
			    "deeply.");
		else
			*cause = ch_xprintf("Malformed JSON: %s.",
			    json_tokener_error_desc(jerr));
		goto fail;
	}
	for (i = json_tokener_get_parse_end(tok); i < len; i++)
		if (strchr(" \t\r\n", buf[i]) == NULL) {
			*cause = ch_xstrdup("Malformed JSON: unexpected text "
			    "after the object.");
			goto fail;
		}
	if (json_lone_surrogate(buf, len)) {
		*cause = ch_xstrdup("Malformed JSON: a \\u escape of a lone "
		    "surrogate is not a character.");
		goto fail;
	}
	if (!json_object_is_type(o, json_type_object)) {
		*cause = ch_xstrdup("The request body must be a JSON object.");
		goto fail;
	}
	json_tokener_free(tok);
	*out = o;
	return 0;
fail:
	json_object_put(o);
	json_tokener_free(tok);
	return -1;
}

/*
 * The string member key of object o, or NULL if absent or not a string.
 * Borrowed from o.  *len (if not NULL) gets its length in bytes.
 */
const char *
ch_json_str(struct json_object *o, const char *key, size_t *len)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	if (len != NULL)
		*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* A new JSON string, or JSON null (NULL) when s is NULL. */
struct json_object *
ch_json_str_or_null(const char *s)
{
	struct json_object *o;

	if (s == NULL)
		return NULL;
	if ((o = json_object_new_string(s)) == NULL)
		ch_fatal("json_object_new_string failed");
	return o;
}

/* Add member key = string s (or null) to o. */
int
ch_json_addstr(struct json_object *o, const char *key, const char *s)
{
	return json_object_object_add(o, key, ch_json_str_or_null(s));
}

/*
 * Compact text of o, owned by o (valid until o changes or is put).
 * Slashes are not escaped; non-ASCII stays UTF-8.
 */
const char *
ch_json_text(struct json_object *o, size_t *len)
{
	const char *s;
	size_t n;

	s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (s == NULL)
		ch_fatal("json_object_to_json_string_length failed");
	if (len != NULL)
		*len = n;
	return s;
}
