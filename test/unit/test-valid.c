/*
 * test-valid.c -- unit tests of common/valid.c: ch_valid_fields against a
 * field table (required and optional fields, strings only, lengths in
 * characters, not bytes, the check function, the cause sentences and the
 * values handed back), the name rules ch_valid_name and ch_valid_mbname,
 * avatars and X handles, and link detection (ch_valid_has_url) over a
 * table of the evasions found in review and of text that must still pass.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"
#include "tap.h"

/* A table like the register endpoint's. */
static const struct ch_field reg[] = {
	{"name", CH_FT_STRING, 1, CH_NAME_MIN, CH_NAME_MAX, ch_valid_name},
	{"avatar", CH_FT_STRING, 0, 1, CH_AVATAR_MAX, NULL},
};
#define NREG (sizeof(reg) / sizeof(reg[0]))

/* Fixed length and a lower bound of 0. */
static const struct ch_field misc[] = {
	{"code", CH_FT_STRING, 1, 6, 6, NULL},
	{"note", CH_FT_STRING, 0, 0, 10, NULL},
	{"mb", CH_FT_STRING, 0, 3, 5, ch_valid_mbname},
};
#define NMISC (sizeof(misc) / sizeof(misc[0]))

/* The parsed text (the test fails and NULL comes back if it is bad). */
static struct json_object *
body(const char *text)
{
	struct json_object *o = NULL;
	char *cause = NULL;

	if (ch_json_parse(text, strlen(text), &o, &cause) != 0) {
		CHECK(0, "valid: test body parses: %s", text);
		printf("#   cause: %s\n", cause);
		free(cause);
		return NULL;
	}
	return o;
}

/*
 * Run fields[0..n) over o (a new reference, put here); val is filled with
 * garbage first.  Returns the result; *cause is NULL on success.
 */
static int
run(const struct ch_field *fields, size_t n, struct json_object *o,
    struct ch_value *val, char **cause)
{
	int r;

	memset(val, 0xa5, sizeof(*val) * CH_FIELDS_MAX);
	*cause = NULL;
	r = ch_valid_fields(fields, n, o, val, cause);
	json_object_put(o);
	return r;
}

/* Expect text to be refused by fields with the cause want. */
static void
refuse(const struct ch_field *fields, size_t n, const char *text,
    const char *want, const char *what)
{
	struct ch_value val[CH_FIELDS_MAX];
	struct json_object *o;
	char *cause;
	int r;

	if ((o = body(text)) == NULL)
		return;
	r = run(fields, n, o, val, &cause);
	CHECK(r == -1 && cause != NULL, "fields: refuses %s", what);
	CHECK_STR(cause, want, "fields: cause for %s", what);
	free(cause);
}

/* Good bodies and the values handed back. */
static void
test_fields_ok(void)
{
	struct ch_value val[CH_FIELDS_MAX];
	struct json_object *o;
	char *cause;
	int r;

	o = body("{\"name\":\"Bot_1\",\"avatar\":\"\xf0\x9f\xa4\x96\"}");
	if (o != NULL) {
		json_object_get(o);
		r = run(reg, NREG, o, val, &cause);
		CHECK(r == 0 && cause == NULL, "fields: name and avatar");
		CHECK(val[0].str != NULL && strcmp(val[0].str, "Bot_1") == 0 &&
		    val[0].len == 5 && val[0].chars == 5,
		    "fields: name value, 5 bytes, 5 characters");
		CHECK(val[1].str != NULL && strcmp(val[1].str,
		    "\xf0\x9f\xa4\x96") == 0 && val[1].len == 4 &&
		    val[1].chars == 1,
		    "fields: avatar value, 4 bytes, 1 character");
		CHECK(val[0].str == ch_json_str(o, "name", NULL),
		    "fields: values are borrowed from the body");
		json_object_put(o);
		free(cause);
	}

	if ((o = body("{\"name\":\"ab\"}")) != NULL) {
		r = run(reg, NREG, o, val, &cause);
		CHECK(r == 0, "fields: an optional field may be absent");
		CHECK(val[1].str == NULL && val[1].len == 0 &&
		    val[1].chars == 0, "fields: an absent field is zeroed");
		free(cause);
	}
	if ((o = body("{\"name\":\"ab\",\"avatar\":null}")) != NULL) {
		r = run(reg, NREG, o, val, &cause);
		CHECK(r == 0 && val[1].str == NULL,
		    "fields: an optional null counts as absent");
		free(cause);
	}
	if ((o = body("{\"name\":\"ab\",\"extra\":[1,{}],\"n\":5}")) != NULL) {
		r = run(reg, NREG, o, val, &cause);
		CHECK(r == 0, "fields: members not in the table are ignored");
		free(cause);
	}
	if ((o = body("{\"name\":\"abcdefghijklmnopqrstuvwxyz012345\"}")) !=
	    NULL) {
		r = run(reg, NREG, o, val, &cause);
		CHECK(r == 0 && val[0].chars == CH_NAME_MAX,
		    "fields: a name of exactly %d characters", CH_NAME_MAX);
		free(cause);
	}
	cause = NULL;
	r = ch_valid_fields(misc + 1, 2, NULL, val, &cause);
	CHECK(r == 0 && val[0].str == NULL && val[1].str == NULL,
	    "fields: no body and only optional fields");
	free(cause);
	cause = NULL;
	r = ch_valid_fields(reg, 0, NULL, val, &cause);
	CHECK(r == 0 && cause == NULL, "fields: an empty table");
	free(cause);
	if ((o = body("{\"code\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\",\"note\":\"\",\"mb\":\"m_b-1\"}")) != NULL) {
		r = run(misc, NMISC, o, val, &cause);
		CHECK(r == 0 && val[0].chars == 6 && val[0].len == 12,
		    "fields: 6 two-byte characters are 6 characters");
		CHECK(val[1].str != NULL && val[1].len == 0,
		    "fields: an empty string allowed by a minimum of 0");
		CHECK(val[2].str != NULL && val[2].chars == 5,
		    "fields: a Moltbook name");
		free(cause);
	}
}

/* Lengths are characters: emoji are 4 bytes but one character each. */
static void
test_fields_chars(void)
{
	struct ch_value val[CH_FIELDS_MAX];
	struct json_object *o;
	char text[1024], *cause;
	size_t i, off;
	int r;

	for (i = 0, off = 0; i < CH_AVATAR_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s",
		    "\xf0\x9f\x98\x80");
	if ((o = json_object_new_object()) == NULL)
		return;
	json_object_object_add(o, "name", json_object_new_string("emoji"));
	json_object_object_add(o, "avatar", json_object_new_string(text));
	r = run(reg, NREG, o, val, &cause);
	CHECK(r == 0 && val[1].chars == CH_AVATAR_MAX &&
	    val[1].len == 4 * CH_AVATAR_MAX,
	    "fields: %d emoji (%d bytes) pass a maximum of %d",
	    CH_AVATAR_MAX, 4 * CH_AVATAR_MAX, CH_AVATAR_MAX);
	if (r != 0) {
		printf("#   cause: %s\n", cause);
		free(cause);
	}

	snprintf(text + off, sizeof(text) - off, "%s", "\xf0\x9f\x98\x80");
	if ((o = json_object_new_object()) == NULL)
		return;
	json_object_object_add(o, "name", json_object_new_string("emoji"));
	json_object_object_add(o, "avatar", json_object_new_string(text));
	r = run(reg, NREG, o, val, &cause);
	CHECK(r == -1, "fields: %d emoji fail a maximum of %d",
	    CH_AVATAR_MAX + 1, CH_AVATAR_MAX);
	CHECK_STR(cause, "avatar must be 1-64 characters.",
	    "fields: cause for %d emoji", CH_AVATAR_MAX + 1);
	free(cause);

	/* 64 ASCII letters pass, 65 fail. */
	memset(text, 'x', CH_AVATAR_MAX + 1);
	text[CH_AVATAR_MAX] = '\0';
	if ((o = json_object_new_object()) == NULL)
		return;
	json_object_object_add(o, "name", json_object_new_string("ascii"));
	json_object_object_add(o, "avatar", json_object_new_string(text));
	r = run(reg, NREG, o, val, &cause);
	CHECK(r == 0, "fields: %d letters pass", CH_AVATAR_MAX);
	free(cause);
	text[CH_AVATAR_MAX] = 'x';
	text[CH_AVATAR_MAX + 1] = '\0';
	if ((o = json_object_new_object()) == NULL)
		return;
	json_object_object_add(o, "name", json_object_new_string("ascii"));
	json_object_object_add(o, "avatar", json_object_new_string(text));
	r = run(reg, NREG, o, val, &cause);
	CHECK(r == -1, "fields: %d letters fail", CH_AVATAR_MAX + 1);
	free(cause);
}

/* Bodies refused, each with its sentence. */
static void
test_fields_bad(void)
{
	struct ch_value val[CH_FIELDS_MAX];
	struct json_object *o;
	char *cause;
	int r;

	refuse(reg, NREG, "{}", "name is required.", "a missing name");
	refuse(reg, NREG, "{\"avatar\":\"x\"}", "name is required.",
	    "only an avatar");
	refuse(reg, NREG, "{\"name\":null}", "name is required.",
	    "a null name");
	refuse(reg, NREG, "{\"Name\":\"abc\"}", "name is required.",
	    "a name spelt with a capital");
	refuse(reg, NREG, "{\"name\":42}", "name must be a string.",
	    "a number name");
	refuse(reg, NREG, "{\"name\":true}", "name must be a string.",
	    "a boolean name");
	refuse(reg, NREG, "{\"name\":[\"ab\"]}", "name must be a string.",
	    "an array name");
	refuse(reg, NREG, "{\"name\":{\"v\":\"ab\"}}", "name must be a string.",
	    "an object name");
	refuse(reg, NREG, "{\"name\":\"ab\",\"avatar\":7}",
	    "avatar must be a string.", "a number avatar");
	refuse(reg, NREG, "{\"name\":\"a\"}", "name must be 2-32 characters.",
	    "a one-letter name");
	refuse(reg, NREG, "{\"name\":\"\"}", "name must be 2-32 characters.",
	    "an empty name");
	refuse(reg, NREG, "{\"name\":\"abcdefghijklmnopqrstuvwxyz0123456\"}",
	    "name must be 2-32 characters.", "a 33-letter name");
	refuse(reg, NREG, "{\"name\":\"ab\",\"avatar\":\"\"}",
	    "avatar must be 1-64 characters (it is empty).", "an empty avatar");
	refuse(reg, NREG, "{\"name\":\"bad name\"}",
	    "name may only contain letters, digits, underscores and hyphens.",
	    "a name with a space");
	refuse(reg, NREG, "{\"name\":\"caf\xc3\xa9\"}",
	    "name may only contain letters, digits, underscores and hyphens.",
	    "a name with an accent");
	refuse(reg, NREG, "{\"name\":\"a\",\"avatar\":\"\"}",
	    "name must be 2-32 characters.", "the first bad field is named");
	refuse(reg, NREG, "{\"name\":\"a\\u0000b\"}",
	    "name must be valid UTF-8 text without NUL characters.",
	    "an escaped NUL");
	refuse(misc, NMISC, "{\"code\":\"12345\"}", "code must be 6 "
	    "characters.", "a 5-character code");
	refuse(misc, NMISC, "{\"code\":\"1234567\"}", "code must be 6 "
	    "characters.", "a 7-character code");
	refuse(misc, NMISC, "{\"code\":\"123456\",\"note\":\"12345678901\"}",
	    "note must be 0-10 characters.", "an 11-character note");
	refuse(misc, NMISC, "{\"code\":\"123456\",\"mb\":\"ab\"}",
	    "mb must be 3-5 characters.", "a 2-character Moltbook name");
	refuse(misc, NMISC, "{\"code\":\"123456\",\"mb\":\"a.b\"}",
	    "mb may only contain letters, digits, underscores and hyphens.",
	    "a Moltbook name with a dot");

	cause = NULL;
	r = ch_valid_fields(reg, NREG, NULL, val, &cause);
	CHECK(r == -1, "fields: no body and a required field");
	CHECK_STR(cause, "name is required.", "fields: cause for no body");
	free(cause);

	/* Strings made by hand: invalid UTF-8 and a raw NUL. */
	if ((o = json_object_new_object()) == NULL)
		return;
	json_object_object_add(o, "name", json_object_new_string("ab"));
	json_object_object_add(o, "avatar",
	    json_object_new_string_len("\xc0\xaf", 2));
	r = run(reg, NREG, o, val, &cause);
	CHECK(r == -1, "fields: refuses an overlong form");
	CHECK_STR(cause, "avatar must be valid UTF-8 text without NUL "
	    "characters.", "fields: cause for an overlong form");
	free(cause);
	if ((o = json_object_new_object()) == NULL)
		return;
	json_object_object_add(o, "name", json_object_new_string("ab"));
	json_object_object_add(o, "avatar",
	    json_object_new_string_len("a\0b", 3));
	r = run(reg, NREG, o, val, &cause);
	CHECK(r == -1, "fields: refuses a raw NUL");
	free(cause);
	if ((o = json_object_new_object()) == NULL)
		return;
	json_object_object_add(o, "name", json_object_new_string("ab"));
	json_object_object_add(o, "avatar",
	    json_object_new_string_len("\xed\xa0\x80", 3));
	r = run(reg, NREG, o, val, &cause);
	CHECK(r == -1, "fields: refuses an encoded surrogate");
	free(cause);
}

/* ch_valid_name and ch_valid_mbname. */
static void
test_names(void)
{
	static const char *good[] = {
		"ab", "Bot", "bot_1", "my-agent", "A-Z_a-z_0-9", "___", "--",
		"0", "x",
	};
	static const char *bad[] = {
		"a b", "a.b", "a/b", "a@b", "a+b", "a:b", "\xc3\xa9t\xc3\xa9",
		"bot\xf0\x9f\xa4\x96", "tab\t", "new\nline", "a'b", "a\"b",
		"<b>", " ab", "ab ", "a\xe2\x80\x8b" "b",
	};
	const char *why;
	size_t i;
	int r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		r = ch_valid_name(good[i], strlen(good[i]), &why);
		CHECK(r == 0, "name: \"%s\" is allowed", good[i]);
		r = ch_valid_mbname(good[i], strlen(good[i]), &why);
		CHECK(r == 0, "mbname: \"%s\" is allowed", good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		r = ch_valid_name(bad[i], strlen(bad[i]), &why);
		CHECK(r == -1 && why != NULL, "name: bad name %zu is refused",
		    i);
		why = NULL;
		r = ch_valid_mbname(bad[i], strlen(bad[i]), &why);
		CHECK(r == -1 && why != NULL,
		    "mbname: bad name %zu is refused", i);
	}
	why = NULL;
	r = ch_valid_name("a b", 3, &why);
	CHECK_STR(why, "may only contain letters, digits, underscores and "
	    "hyphens.", "name: the reason");
	why = NULL;
	r = ch_valid_name("ab!", 2, &why);
	CHECK(r == 0 && why == NULL, "name: len is honoured");
	r = ch_valid_name("a\0b", 3, &why);
	CHECK(r == -1, "name: a NUL byte is refused");
	r = ch_valid_name("", 0, &why);
	CHECK(r == 0, "name: the empty name passes (length is checked "
	    "elsewhere)");
}

/* Links, and text that must stay postable by an unverified agent. */
static void
test_links(void)
{
	static const char *links[] = {
		/* plain */
		"http://example.com", "see https://x.io/path",
		"ftp://files.example", "www.example.org",
		"visit example.com now", "chatr.ai", "Go to EXAMPLE.COM",
		"mail bob@example.net", "sub.domain.co.uk/page",
		"ip 10.1.2.3 here",
		/* defanged dots */
		"evil[.]com", "evil(.)com", "evil{.}com", "evil[dot]com",
		/* every top-level domain, file extensions among them */
		"evil.sh", "evil.it", "evil.in", "evil.cz", "evil.pl",
		"evil.onion", "evil.co.il", "readme.md", "app.py",
		"evil.xn--p1ai",
		"\xd1\x81\xd0\xb0\xd0\xb9\xd1\x82.\xd1\x80\xd1\x84",
		/* compatibility forms */
		"\xef\xbd\x85\xef\xbd\x96\xef\xbd\x89\xef\xbd\x8c\xef\xbc\x8e"
		"\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d", /* full-width */
		"evil\xe3\x80\x82" "com",		/* ideographic stop */
		"evil\xef\xbd\xa1" "com",		/* half-width stop */
		"evil\xe2\x80\xa4" "com",		/* one dot leader */
		"\xf0\x9d\x90\x9e\xf0\x9d\x90\xaf\xf0\x9d\x90\xa2"
		"\xf0\x9d\x90\xa5.com",		/* mathematical bold evil */
		"\xd0\xb5vil.\xd1\x81\xd0\xbem",	/* Cyrillic e, c, o */
		/* invisible characters inside a name */
		"ev\xe2\x80\x8bil.com", "evil\xe2\x80\x8b.com",
		"evil.\xe2\x80\x8d" "com", "ev\xc2\xadil.com",
		"evil.c\xef\xbb\xbfom",
		/* schemes */
		"javascript:alert(1)", "JavaScript:alert(1)",
		"data:text/html,<b>", "vbscript:msgbox",
		"http:\xe2\x88\x95\xe2\x88\x95" "evil",	/* division slashes */
		"http\xef\xbc\x9a//evil",		/* full-width colon */
		"hxxp://evil", "x://y",
	};
	static const char *plain[] = {
		"Hello world. How are you?", "pi is 3.14", "version 1.2.3",
		"e.g. this, i.e. that", "The U.S. economy", "wait...what",
		"node.js rocks", "main.c and file.txt", "end.Start",
		"note: this matters", "ratio 3:1 at 10:30", "a/b testing",
		"and/or", "\xf0\x9f\xa6\x9e party", "c++ and c#",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82"
		"\xe6\xac\xa1\xe3\x81\xae\xe6\x96\x87",	/* Japanese sentences */
		"col\xc2\xb7lecci\xc3\xb3",	/* Catalan middle dot */
		"10.0.1 is not an address", "smile :) ok", "1.2.3.4.5 build",
		"Mr.Smith and St.Louis", "file:line", "data: see below",
	};
	size_t i;

	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		CHECK(ch_valid_has_url(links[i], strlen(links[i])),
		    "links: a link: %s", links[i]);
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		CHECK(!ch_valid_has_url(plain[i], strlen(plain[i])),
		    "links: not a link: %s", plain[i]);
}

/* Avatars refuse bidirectional controls; X handles are handles. */
static void
test_avatars(void)
{
	static const char *good[] = {
		"\xf0\x9f\xa4\x96",
		"\xf0\x9f\xa6\x9e\xe2\x80\x8d\xf0\x9f\x94\xa5", "ab",
		"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", "tab\there",
	};
	static const char *bad[] = {
		"a\xe2\x80\xae" "b", "\xe2\x80\xaa", "\xe2\x80\xab",
		"\xe2\x80\xac",
		"\xe2\x80\xad", "\xe2\x81\xa6x", "\xe2\x81\xa7", "\xe2\x81\xa8",
		"x\xe2\x81\xa9",
	};
	static const char *handles[] = {"jack", "A_1", "x", "abcdefghijklmno"};
	static const char *badhandles[] = {
		"", "abcdefghijklmnop", "a b", "a\xff", "<b>", "@x", "a-b",
		"\xc3\xa9",
	};
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(ch_valid_avatar(good[i], strlen(good[i]), &why) == 0,
		    "avatar: %zu is allowed", i);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		CHECK(ch_valid_avatar(bad[i], strlen(bad[i]), &why) == -1 &&
		    why != NULL, "avatar: bidirectional control %zu is refused",
		    i);
	}
	for (i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
		CHECK(ch_valid_xhandle(handles[i], strlen(handles[i]),
		    &why) == 0, "xhandle: %s is a handle", handles[i]);
	for (i = 0; i < sizeof(badhandles) / sizeof(badhandles[0]); i++)
		CHECK(ch_valid_xhandle(badhandles[i], strlen(badhandles[i]),
		    &why) == -1, "xhandle: bad handle %zu is refused", i);
}

/* Run every case and print the TAP plan; 0 if all passed. */
int
main(void)
{
	test_fields_ok();
	test_fields_chars();
	test_fields_bad();
	test_names();
	test_links();
	test_avatars();
	return tap_done();
}
