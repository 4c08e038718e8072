/*
 * test-json.c -- unit tests of common/json.c: ch_json_parse (one strict
 * RFC 8259 JSON object in valid UTF-8, a nesting limit of CH_JSON_DEPTH,
 * nothing but white space after it; on failure -1, an allocated cause and
 * *out untouched), ch_json_str, ch_json_str_or_null, ch_json_addstr and
 * ch_json_text (compact, slashes and UTF-8 kept, control characters
 * escaped).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"
#include "tap.h"

/* What *out must still point at after a failed parse. */
static int marker;
#define SENTINEL ((struct json_object *)(void *)&marker)

/* A string literal and its length in bytes (it may hold NUL bytes). */
#define LIT(s) (s), (sizeof(s) - 1)

/*
 * Parse len bytes of s expecting success: returns the object (the caller
 * puts it) or NULL after a failed check.
 */
static struct json_object *
parse_ok(const char *s, size_t len, const char *what)
{
	struct json_object *o = SENTINEL;
	char *cause = NULL;
	int r;

	r = ch_json_parse(s, len, &o, &cause);
	CHECK(r == 0 && o != SENTINEL && o != NULL && cause == NULL &&
	    json_object_is_type(o, json_type_object),
	    "parse: accepts %s", what);
	if (r != 0) {
		printf("#   cause: %s\n", cause ? cause : "(null)");
		free(cause);
		return NULL;
	}
	return o;
}

/*
 * Parse len bytes of s expecting failure with an allocated cause (that
 * starts with want, less its final period, unless want is NULL: causes
 * may end with the byte offset) and *out untouched.
 */
static void
parse_bad(const char *s, size_t len, const char *want, const char *what)
{
	struct json_object *o = SENTINEL;
	char *cause = NULL;
	int r;

	r = ch_json_parse(s, len, &o, &cause);
	CHECK(r == -1 && o == SENTINEL && cause != NULL,
	    "parse: refuses %s", what);
	if (r == 0 && o != SENTINEL)
		json_object_put(o);
	if (want != NULL && r == -1) {
		size_t wl = strlen(want);

		if (wl > 0 && want[wl - 1] == '.')
			wl--;
		CHECK(cause != NULL && strncmp(cause, want, wl) == 0,
		    "parse: cause for %s", what);
		printf("#   cause \"%s\", want \"%s\"\n",
		    cause ? cause : "(null)", want);
	}
	free(cause);
}

/* Objects that must be accepted, and what they hold. */
static void
test_parse_ok(void)
{
	struct json_object *o;
	const char *s;
	size_t len;

	if ((o = parse_ok(LIT("{}"), "{}")) != NULL) {
		CHECK(json_object_object_length(o) == 0, "parse: {} is empty");
		json_object_put(o);
	}
	if ((o = parse_ok(LIT("{\"name\":\"bot\",\"n\":1}"), "a flat "
	    "object")) != NULL) {
		s = ch_json_str(o, "name", &len);
		CHECK(s != NULL && len == 3 && strcmp(s, "bot") == 0,
		    "parse: member name is \"bot\"");
		CHECK(json_object_object_length(o) == 2,
		    "parse: two members");
		json_object_put(o);
	}
	o = parse_ok(LIT(" \t\r\n{\"a\":1}"), "leading white space");
	json_object_put(o);
	o = parse_ok(LIT("{\"a\":1} \t\r\n\n"), "trailing white space");
	json_object_put(o);
	o = parse_ok(LIT("{ \"a\" : [ 1 , 2.5e3 , -0 , true , false , "
	    "null ] , \"b\" : { } }"), "white space between tokens");
	json_object_put(o);
	if ((o = parse_ok(LIT("{\"t\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\"
	    "\\/\"}"), "escapes and a surrogate pair")) != NULL) {
		s = ch_json_str(o, "t", &len);
		CHECK(s != NULL && len == 10 && memcmp(s, "\xc3\xa9\xf0\x9f"
		    "\x98\x80\n\"\\/", 10) == 0,
		    "parse: escapes decode to UTF-8");
		json_object_put(o);
	}
	if ((o = parse_ok(LIT("{\"t\":\"caf\xc3\xa9 \xf0\x9f\xa4\x96\"}"),
	    "raw UTF-8")) != NULL) {
		s = ch_json_str(o, "t", &len);
		CHECK(s != NULL && len == 10 && memcmp(s, "caf\xc3\xa9 \xf0"
		    "\x9f\xa4\x96", 10) == 0, "parse: raw UTF-8 kept");
		json_object_put(o);
	}
	/* len is honoured: what follows it is not read. */
	o = parse_ok("{\"a\":1}garbage", 7, "an object cut at len");
	json_object_put(o);
}

/* Bodies that are not one JSON object. */
static void
test_parse_not_object(void)
{
	static const char notobj[] = "The request body must be a JSON object.";
	char buf[32];

	parse_bad("", 0, notobj, "an empty body");
	parse_bad(LIT(" "), notobj, "a single space");
	parse_bad(LIT(" \t\r\n "), notobj, "a white space body");
	parse_bad(LIT("[]"), notobj, "an array");
	parse_bad(LIT("[{\"a\":1}]"), notobj, "an array of an object");
	parse_bad(LIT("\"name\""), notobj, "a string");
	parse_bad(LIT("  \"name\"  "), notobj, "a string with blanks");
	/*
	 * Bare scalars are valid JSON, just not objects: the cause must not
	 * call them malformed or cut short.
	 */
	parse_bad(LIT("null"), notobj, "null");
	parse_bad(LIT("42"), notobj, "a number");
	parse_bad(LIT("true"), NULL, "true");

	/*
	 * Text after the object: json-c's strict mode refuses it itself
	 * ("unexpected character"), so any cause will do.
	 */
	parse_bad(LIT("{}x"), NULL, "a letter after the object");
	parse_bad(LIT("{} {}"), NULL, "two objects");
	parse_bad(LIT("{\"a\":1}}"), NULL, "a second closing brace");
	parse_bad(LIT("{\"a\":1}\n,"), NULL, "a comma after the object");
	parse_bad(LIT("{} \f"), NULL, "a form feed after the object");
	parse_bad(LIT("\f{}"), NULL, "a form feed before the object");
	parse_bad(LIT("\xef\xbb\xbf{}"), NULL, "a byte order mark");

	/* NUL bytes, inside or around. */
	parse_bad(LIT("{\"a\":\"b\0c\"}"), "Malformed JSON: a control "
	    "character in a string must be escaped.", "a NUL byte in a string");
	parse_bad(LIT("{}\0"), NULL, "a NUL byte after the object");
	parse_bad(LIT("\0{}"), NULL, "a NUL byte before the object");
	memset(buf, 0, sizeof(buf));
	parse_bad(buf, sizeof(buf), NULL, "a body of NUL bytes");
}

/* Syntax that RFC 8259 does not allow. */
static void
test_parse_syntax(void)
{
	static const char early[] = "Malformed JSON: the body ends too early.";

	parse_bad(LIT("{"), "Malformed JSON: expected a member name",
	    "a lone brace");
	parse_bad(LIT("{\"name\":\"broken\""), early, "a truncated object");
	parse_bad(LIT("{\"name\":"), early, "a missing value");
	parse_bad(LIT("{\"a\":\"abc"), "Malformed JSON: a string is not closed",
	    "an unterminated string");
	parse_bad(LIT("}"), NULL, "a closing brace");
	parse_bad(LIT("{\"a\":1,}"), NULL, "a trailing comma");
	parse_bad(LIT("{\"a\":[1,]}"), NULL, "a trailing comma in an array");
	parse_bad(LIT("{,}"), NULL, "a lone comma");
	parse_bad(LIT("{\"a\" 1}"), NULL, "a missing colon");
	parse_bad(LIT("{\"a\":1 \"b\":2}"), NULL, "a missing comma");
	parse_bad(LIT("{a:1}"), NULL, "an unquoted key");
	parse_bad(LIT("{1:1}"), NULL, "a number as key");
	parse_bad(LIT("{'name':'single'}"), NULL, "single quotes");
	parse_bad(LIT("{\"a\":'b'}"), NULL, "a single-quoted value");
	parse_bad(LIT("{'a':\"b\"}"), NULL, "a single-quoted key");
	parse_bad(LIT("{/* c */}"), NULL, "a comment");
	parse_bad(LIT("{\"a\":1}// c"), NULL, "a line comment after");
	parse_bad(LIT("{\"a\":01}"), NULL, "a leading zero");
	parse_bad(LIT("{\"a\":.5}"), NULL, "a number without integer part");
	parse_bad(LIT("{\"a\":1.}"), NULL, "a number without fraction digits");
	parse_bad(LIT("{\"a\":1e}"), NULL, "an empty exponent");
	parse_bad(LIT("{\"a\":+1}"), NULL, "a plus sign");
	parse_bad(LIT("{\"a\":0x10}"), NULL, "a hexadecimal number");
	parse_bad(LIT("{\"a\":NaN}"), NULL, "NaN");
	parse_bad(LIT("{\"a\":Infinity}"), NULL, "Infinity");
	parse_bad(LIT("{\"a\":-Infinity}"), NULL, "-Infinity");
	parse_bad(LIT("{\"a\":TRUE}"), NULL, "TRUE");
	parse_bad(LIT("{\"a\":tru}"), NULL, "tru");
	parse_bad(LIT("{\"a\":undefined}"), NULL, "undefined");
	parse_bad(LIT("{\"a\":\"\\x41\"}"), NULL, "an unknown escape");
	parse_bad(LIT("{\"a\":\"\\u12\"}"), NULL, "a short \\u escape");
	parse_bad(LIT("{\"a\":\"x\ty\"}"), NULL, "a raw tab in a string");
	parse_bad(LIT("{\"a\":\"x\ny\"}"), NULL, "a raw newline in a string");
	parse_bad(LIT("{\"a\":\"x\x01y\"}"), NULL, "a raw U+0001 in a string");
	parse_bad(LIT("{\"a\x1f\":1}"), NULL, "a raw U+001F in a key");
}

/* Bytes that are not valid UTF-8 (RFC 3629), anywhere in the body. */
static void
test_parse_utf8(void)
{
	parse_bad(LIT("{\"name\":\"\xff\xfe\"}"), NULL, "bytes FF FE");
	parse_bad(LIT("{\"a\":\"\x80\"}"), NULL, "a lone continuation byte");
	parse_bad(LIT("{\"a\":\"\xc3\"}"), NULL, "a truncated sequence");
	parse_bad(LIT("{\"a\":\"\xf8\x88\x80\x80\x80\"}"), NULL,
	    "a five-byte form");
	parse_bad(LIT("{\"a\":1}\xff"), NULL, "a bad byte after the object");
	parse_bad(LIT("{\"a\":\"\xc0\xaf\"}"), NULL, "an overlong slash");
	parse_bad(LIT("{\"a\":\"\xe0\x80\xaf\"}"), NULL,
	    "an overlong three-byte form");
	parse_bad(LIT("{\"a\":\"\xed\xa0\x80\"}"), NULL,
	    "an encoded surrogate U+D800");
	parse_bad(LIT("{\"a\":\"\xf4\x90\x80\x80\"}"), NULL,
	    "U+110000, past the last code point");
	parse_bad(LIT("{\"\xc0\xaf\":1}"), NULL, "an overlong form in a key");
}

/* \u escapes of UTF-16 surrogates: pairs only. */
static void
test_parse_surrogates(void)
{
	static const char lone[] = "Malformed JSON: a \\u escape of a lone "
	    "surrogate is not a character.";
	struct json_object *o;
	const char *s;
	size_t len;

	if ((o = parse_ok(LIT("{\"a\":\"\\uD83D\\uDE00\"}"), "an upper-case "
	    "surrogate pair")) != NULL) {
		s = ch_json_str(o, "a", &len);
		CHECK(s != NULL && len == 4 && memcmp(s, "\xf0\x9f\x98\x80",
		    4) == 0, "parse: the pair decodes to U+1F600");
		json_object_put(o);
	}
	if ((o = parse_ok(LIT("{\"a\":\"\\\\ud800\"}"), "an escaped backslash "
	    "before ud800")) != NULL) {
		s = ch_json_str(o, "a", &len);
		CHECK(s != NULL && len == 6 && memcmp(s, "\\ud800", 6) == 0,
		    "parse: that is a backslash and five letters");
		json_object_put(o);
	}
	o = parse_ok(LIT("{\"a\":\"\\\"\\ud7ff\\ue000\\uffff\"}"),
	    "escapes next to the surrogate range");
	json_object_put(o);
	o = parse_ok(LIT("{\"a\":\"x\\\\\",\"b\":\"\\ud83d\\ude00\"}"),
	    "a string ending in an escaped backslash, then a pair");
	json_object_put(o);
	parse_bad(LIT("{\"a\":\"\\\\\\ud800\"}"), lone,
	    "an escaped backslash, then a lone surrogate");
	parse_bad(LIT("{\"a\":\"\\ud800\"}"), lone, "a lone high surrogate");
	parse_bad(LIT("{\"a\":\"\\udc00\"}"), lone, "a lone low surrogate");
	parse_bad(LIT("{\"a\":\"\\udfff\\ud800\"}"), lone,
	    "a pair in the wrong order");
	parse_bad(LIT("{\"a\":\"\\ud83dx\"}"), lone,
	    "a high surrogate before a letter");
	parse_bad(LIT("{\"a\":\"\\ud83d\\u0041\"}"), lone,
	    "a high surrogate before \\u0041");
	parse_bad(LIT("{\"a\":\"\\ud83d\\ud83d\"}"), lone,
	    "two high surrogates");
	parse_bad(LIT("{\"\\ud800\":1}"), lone, "a lone surrogate in a key");
	parse_bad(LIT("{\"a\":[\"x\",\"\\uDBFF\"]}"), lone,
	    "a lone surrogate in an array");
}

/*
 * Into buf: w times open, then inner, then w times close.  Returns buf.
 */
static char *
wrap(char *buf, size_t size, int w, const char *open, const char *inner,
    const char *close)
{
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < w && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s", open);
	if (o < size)
		o += (size_t)snprintf(buf + o, size - o, "%s", inner);
	for (i = 0; i < w && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s", close);
	return buf;
}

/*
 * The nesting limit: CH_JSON_DEPTH objects and arrays, whatever they
 * hold.
 */
static void
test_parse_depth(void)
{
	static const char deep[] = "Malformed JSON: nested too deeply.";
	char buf[2048], what[64], arrays[64];
	struct json_object *o;
	int n;

	/* {"k":{"k":...{}...}} with n objects in all. */
	for (n = 1; n <= CH_JSON_DEPTH; n++) {
		snprintf(what, sizeof(what), "%d nested empty objects", n);
		wrap(buf, sizeof(buf), n - 1, "{\"k\":", "{}", "}");
		o = parse_ok(buf, strlen(buf), what);
		json_object_put(o);
	}
	snprintf(what, sizeof(what), "%d nested objects", CH_JSON_DEPTH + 1);
	wrap(buf, sizeof(buf), CH_JSON_DEPTH, "{\"k\":", "{}", "}");
	parse_bad(buf, strlen(buf), deep, what);

	/* The same holding a number. */
	snprintf(what, sizeof(what), "%d nested objects around a number",
	    CH_JSON_DEPTH);
	wrap(buf, sizeof(buf), CH_JSON_DEPTH - 1, "{\"k\":", "{\"k\":1}",
	    "}");
	o = parse_ok(buf, strlen(buf), what);
	json_object_put(o);
	snprintf(what, sizeof(what), "%d nested objects around a number",
	    CH_JSON_DEPTH + 1);
	wrap(buf, sizeof(buf), CH_JSON_DEPTH, "{\"k\":", "{\"k\":1}", "}");
	parse_bad(buf, strlen(buf), deep, what);

	/* An object holding arrays: {"k":[[...[]...]]}. */
	snprintf(what, sizeof(what), "an object around %d arrays",
	    CH_JSON_DEPTH - 1);
	wrap(buf, sizeof(buf), 1, "{\"k\":", wrap(arrays,
	    sizeof(arrays), CH_JSON_DEPTH - 2, "[", "[]", "]"), "}");
	o = parse_ok(buf, strlen(buf), what);
	json_object_put(o);
	snprintf(what, sizeof(what), "an object around %d arrays",
	    CH_JSON_DEPTH);
	wrap(buf, sizeof(buf), 1, "{\"k\":", wrap(arrays,
	    sizeof(arrays), CH_JSON_DEPTH - 1, "[", "[]", "]"), "}");
	parse_bad(buf, strlen(buf), deep, what);
	snprintf(buf, sizeof(buf), "{\"name\":\"deep\",\"x\":%s1%s}",
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	parse_bad(buf, strlen(buf), deep, "40 arrays in a member");
}

/* ch_json_str and ch_json_str_or_null. */
static void
test_str(void)
{
	struct json_object *o, *v;
	const char *s;
	size_t len;

	if ((o = parse_ok(LIT("{\"s\":\"h\xc3\xa9\",\"n\":5,\"z\":null,"
	    "\"b\":true,\"o\":{\"s\":\"x\"},\"e\":\"\",\"u\":\"a\\u0000b\"}"),
	    "an object of many types")) == NULL)
		return;
	len = 99;
	s = ch_json_str(o, "s", &len);
	CHECK(s != NULL && strcmp(s, "h\xc3\xa9") == 0 && len == 3,
	    "str: a string member, length in bytes");
	s = ch_json_str(o, "s", NULL);
	CHECK(s != NULL && strcmp(s, "h\xc3\xa9") == 0,
	    "str: len may be NULL");
	len = 99;
	s = ch_json_str(o, "e", &len);
	CHECK(s != NULL && *s == '\0' && len == 0, "str: an empty string");
	len = 99;
	s = ch_json_str(o, "u", &len);
	CHECK(s != NULL && len == 3 && memcmp(s, "a\0b", 3) == 0,
	    "str: an escaped NUL keeps its length");
	len = 99;
	s = ch_json_str(o, "n", &len);
	CHECK(s == NULL && len == 99, "str: a number is not a string");
	s = ch_json_str(o, "z", &len);
	CHECK(s == NULL, "str: null is not a string");
	s = ch_json_str(o, "b", &len);
	CHECK(s == NULL, "str: a boolean is not a string");
	s = ch_json_str(o, "o", &len);
	CHECK(s == NULL, "str: an object is not a string");
	s = ch_json_str(o, "missing", &len);
	CHECK(s == NULL, "str: an absent member");
	s = ch_json_str(o, "S", &len);
	CHECK(s == NULL, "str: keys are case-sensitive");
	s = ch_json_str(NULL, "s", &len);
	CHECK(s == NULL, "str: a NULL object");
	json_object_put(o);

	v = ch_json_str_or_null(NULL);
	CHECK(v == NULL, "str_or_null: NULL gives JSON null");
	v = ch_json_str_or_null("x/y");
	CHECK(v != NULL && json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "x/y") == 0,
	    "str_or_null: a string");
	json_object_put(v);
}

/* ch_json_text and ch_json_addstr. */
static void
test_text(void)
{
	struct json_object *o, *a, *back;
	const char *t;
	char *cause;
	size_t len;
	int r;

	if ((o = json_object_new_object()) == NULL) {
		CHECK(0, "text: json_object_new_object");
		return;
	}
	len = 99;
	t = ch_json_text(o, &len);
	CHECK_STR(t, "{}", "text: an empty object");
	CHECK(len == 2, "text: its length");

	r = ch_json_addstr(o, "url", "http://example.com/a/b");
	CHECK(r == 0, "addstr: adds a string");
	t = ch_json_text(o, &len);
	CHECK_STR(t, "{\"url\":\"http://example.com/a/b\"}",
	    "text: slashes are not escaped");
	CHECK(t != NULL && len == strlen(t), "text: len is the length");
	json_object_put(o);

	if ((o = json_object_new_object()) == NULL) {
		CHECK(0, "text: json_object_new_object");
		return;
	}
	r = ch_json_addstr(o, "name", "caf\xc3\xa9 \xf0\x9f\xa4\x96 "
	    "\xe4\xb8\xad");
	CHECK(r == 0, "addstr: adds UTF-8");
	r = ch_json_addstr(o, "none", NULL);
	CHECK(r == 0, "addstr: adds null");
	if ((a = json_object_new_array()) == NULL) {
		CHECK(0, "text: json_object_new_array");
		json_object_put(o);
		return;
	}
	json_object_array_add(a, json_object_new_int(1));
	json_object_array_add(a, json_object_new_boolean(1));
	json_object_object_add(o, "list", a);
	t = ch_json_text(o, NULL);
	CHECK_STR(t, "{\"name\":\"caf\xc3\xa9 \xf0\x9f\xa4\x96 \xe4\xb8\xad\","
	    "\"none\":null,\"list\":[1,true]}",
	    "text: compact, UTF-8 kept raw, null for NULL, len may be NULL");
	json_object_put(o);

	if ((o = json_object_new_object()) == NULL) {
		CHECK(0, "text: json_object_new_object");
		return;
	}
	r = ch_json_addstr(o, "c", "a\"b\\c\nd\re\tf\x01g\x1fh\bi\fj");
	CHECK(r == 0, "addstr: adds control characters");
	t = ch_json_text(o, &len);
	CHECK_STR(t, "{\"c\":\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh"
	    "\\bi\\fj\"}", "text: quotes, backslashes and control characters "
	    "are escaped");
	/* The text parses back to the same string. */
	if (t != NULL) {
		back = NULL;
		cause = NULL;
		r = ch_json_parse(t, len, &back, &cause);
		CHECK(r == 0 && back != NULL, "text: parses back");
		if (r == 0) {
			CHECK_STR(ch_json_str(back, "c", NULL),
			    "a\"b\\c\nd\re\tf\x01g\x1fh\bi\fj",
			    "text: round trip keeps the string");
			json_object_put(back);
		} else
			free(cause);
	}
	json_object_put(o);
}

/* Run every case and print the TAP plan; 0 if all passed. */
static void
test_parse_duplicates(void)
{
	static const char dup[] = "Malformed JSON: a member name appears "
	    "twice in one object.";
	struct json_object *o;

	parse_bad(LIT("{\"a\":1,\"a\":2}"), dup, "a name given twice");
	parse_bad(LIT("{\"a\":1,\"\\u0061\":2}"), dup,
	    "a name given twice, once escaped");
	parse_bad(LIT("{\"x\":[{\"b\":1},{\"c\":true,\"c\":null}]}"), dup,
	    "a name given twice in an object inside an array");
	parse_bad(LIT("{\"x\":{\"y\":{\"z\":{},\"z\":{}}}}"), dup,
	    "a name given twice three levels down");
	if ((o = parse_ok(LIT("{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}"),
	    "the same name in different objects")) != NULL)
		json_object_put(o);
	if ((o = parse_ok(LIT("{\"a\":1,\"A\":2,\"a \":3}"),
	    "names that differ in case or space")) != NULL)
		json_object_put(o);
}

int
main(void)
{
	test_parse_ok();
	test_parse_not_object();
	test_parse_syntax();
	test_parse_utf8();
	test_parse_surrogates();
	test_parse_depth();
	test_parse_duplicates();
	test_str();
	test_text();
	return tap_done();
}
