/*
 * json.c -- JSON in and out with json-c.
 *
 * Requests are parsed strictly: RFC 8259 syntax, valid UTF-8, a nesting
 * limit, nothing after the value, the value must be an object, and no
 * object may name a member twice.
 */
#include "config.h"

#include <string.h>

#include "chatr.h"

/*
 * A strict RFC 8259 check of the request text, run before json-c parses
 * it: json-c's strict mode still lets through single-quoted keys, NaN and
 * Infinity, "1.", raw control characters in strings, some invalid UTF-8,
 * and turns a \u escape of a lone surrogate into U+FFFD.  chatr refuses
 * all of these.
 */
struct jscan {
	const unsigned char *p;
	const unsigned char *start;
	const unsigned char *end;
	int depth, max_depth;
	size_t members;	/* of every object, counted */
	const char *err;
};

static int jscan_value(struct jscan *);

static int
jscan_fail(struct jscan *s, const char *err)
{
	if (s->err == NULL)
		s->err = err;
	return -1;
}

static void
jscan_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
jscan_hex4(struct jscan *s, unsigned int *out)
{
	unsigned int v = 0;
	int i, c;

	if (s->end - s->p < 4)
		return jscan_fail(s, "a \\u escape needs four hex digits");
	for (i = 0; i < 4; i++) {
		if ((c = ch_hex_digit((unsigned char)*s->p++)) < 0)
			return jscan_fail(s, "a \\u escape needs four hex "
			    "digits");
		v = v << 4 | (unsigned int)c;
	}
	*out = v;
	return 0;
}

static int
jscan_string(struct jscan *s)
{
	unsigned int u, lo;
	uint32_t cp;
	size_t n;

	s->p++; /* the opening quote */
	while (s->p < s->end) {
		if (*s->p == '"') {
			s->p++;
			return 0;
		}
		if (*s->p < 0x20)
			return jscan_fail(s, "a control character in a string "
			    "must be escaped");
		if (*s->p >= 0x80) {
			if ((n = ch_utf8_decode(s->p, (size_t)(s->end - s->p),
			    &cp)) == 0)
				return jscan_fail(s, "the text is not valid "
				    "UTF-8");
			s->p += n;
			continue;
		}
		if (*s->p++ != '\\')
			continue;
		if (s->p == s->end)
			break;
		if (strchr("\"\\/bfnrt", *s->p) != NULL && *s->p != '\0') {
			s->p++;
			continue;
		}
		if (*s->p++ != 'u')
			return jscan_fail(s, "unknown escape in a string");
		if (jscan_hex4(s, &u) != 0)
			return -1;
		if (u >= 0xdc00 && u <= 0xdfff)
			return jscan_fail(s, "a \\u escape of a lone surrogate "
			    "is not a character");
		if (u >= 0xd800 && u <= 0xdbff) {
			if (s->end - s->p < 2 || s->p[0] != '\\' ||
			    s->p[1] != 'u')
				return jscan_fail(s, "a \\u escape of a lone "
				    "surrogate is not a character");
			s->p += 2;
			if (jscan_hex4(s, &lo) != 0)
				return -1;
			if (lo < 0xdc00 || lo > 0xdfff)
				return jscan_fail(s, "a \\u escape of a lone "
				    "surrogate is not a character");
		}
	}
	return jscan_fail(s, "a string is not closed");
}

static int
jscan_digits(struct jscan *s)
{
	const unsigned char *p = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > p ? 0 : jscan_fail(s, "malformed number");
}

static int
jscan_number(struct jscan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (jscan_digits(s) != 0)
		return -1;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (jscan_digits(s) != 0)
			return -1;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (jscan_digits(s) != 0)
			return -1;
	}
	return 0;
}

static int
jscan_word(struct jscan *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return jscan_fail(s, "unexpected character");
	s->p += n;
	return 0;
}

/* An object or array; close is '}' or ']'. */
static int
jscan_container(struct jscan *s, int close)
{
	if (++s->depth > s->max_depth)
		return jscan_fail(s, "nested too deeply");
	s->p++;
	jscan_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			if (s->p == s->end || *s->p != '"')
				return jscan_fail(s, "expected a member name "
				    "in double quotes");
			if (jscan_string(s) != 0)
				return -1;
			s->members++;
			jscan_ws(s);
			if (s->p == s->end || *s->p != ':')
				return jscan_fail(s, "expected ':' after a "
				    "member name");
			s->p++;
			jscan_ws(s);
		}
		if (jscan_value(s) != 0)
			return -1;
		jscan_ws(s);
		if (s->p == s->end)
			return jscan_fail(s, "the body ends too early");
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return 0;
		}
		if (*s->p != ',')
			return jscan_fail(s, close == '}' ? "expected ',' or "
			    "'}'" : "expected ',' or ']'");
		s->p++;
		jscan_ws(s);
	}
}

static int
jscan_value(struct jscan *s)
{
	if (s->p == s->end)
		return jscan_fail(s, "the body ends too early");
	switch (*s->p) {
	case '{':
		return jscan_container(s, '}');
	case '[':
		return jscan_container(s, ']');
	case '"':
		return jscan_string(s);
	case 't':
		return jscan_word(s, "true");
	case 'f':
		return jscan_word(s, "false");
	case 'n':
		return jscan_word(s, "null");
	}
	if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
		return jscan_number(s);
	return jscan_fail(s, "unexpected character");
}

/*
 * Check that buf holds exactly one JSON object (white space around it
 * allowed).  0 if so; else -1 with an allocated sentence in *cause.
 */
static int
json_check(const char *buf, size_t len, int depth, size_t *members,
    char **cause)
{
	struct jscan s;

	memset(&s, 0, sizeof(s));
	s.max_depth = depth;
	s.p = s.start = (const unsigned char *)buf;
	s.end = s.p + len;
	jscan_ws(&s);
	if (s.p == s.end || *s.p != '{') {
		*cause = ch_xstrdup("The request body must be a JSON object.");
		return -1;
	}
	if (jscan_container(&s, '}') == 0) {
		jscan_ws(&s);
		*members = s.members;
		if (s.p == s.end)
			return 0;
		jscan_fail(&s, "unexpected text after the object");
	}
	*cause = ch_xprintf("Malformed JSON: %s (at byte %zu).", s.err,
	    (size_t)(s.p - s.start));
	return -1;
}

/* The members of every object in o, counted (json-c keeps one of each
 * name: a name given twice counts once). */
static size_t
json_members(struct json_object *o)
{
	size_t n = 0, i, len;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			n += 1 + json_members(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		len = json_object_array_length(o);
		for (i = 0; i < len; i++)
			n += json_members(json_object_array_get_idx(o, i));
	}
	return n;
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
	return ch_json_parse_deep(buf, len, CH_JSON_DEPTH, out, cause);
}

/* The same, with objects and arrays nested depth deep at most (a
 * protocol's messages, such as MCP's, nest deeper than a request body). */
int
ch_json_parse_deep(const char *buf, size_t len, int depth,
    struct json_object **out, char **cause)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t members;

	if (len > INT32_MAX) {
		*cause = ch_xstrdup("The request body is too large.");
		return -1;
	}
	if (json_check(buf, len, depth, &members, cause) != 0)
		return -1;
	/* Valid by now: json-c only builds the objects. */
	if ((tok = json_tokener_new_ex(depth + 1)) == NULL)
		ch_fatal("json_tokener_new_ex failed");
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		ch_log_err("json-c refused text that passed the check: %s",
		    json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(o);
		json_tokener_free(tok);
		*cause = ch_xstrdup("Malformed JSON.");
		return -1;
	}
	json_tokener_free(tok);
	/* RFC 8259 lets names repeat and says nothing of which one wins:
	 * a body that says two things is refused, not guessed at. */
	if (json_members(o) != members) {
		json_object_put(o);
		*cause = ch_xstrdup("Malformed JSON: a member name appears "
		    "twice in one object.");
		return -1;
	}
	*out = o;
	return 0;
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
