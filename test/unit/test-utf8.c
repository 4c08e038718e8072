/*
 * test-utf8.c -- unit tests of common/utf8.c: ch_utf8_count (strict
 * RFC 3629 decoding counted in code points: overlong forms, surrogates,
 * code points past U+10FFFF, truncated sequences, stray continuation
 * bytes and NUL bytes are refused) and ch_utf8_blank (white space and
 * invisible format characters make a text blank).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"
#include "tap.h"

/*
 * Encode cp into out (at least 4 bytes) the way UTF-8 would, without
 * refusing surrogates or values past U+10FFFF (up to U+1FFFFF), so that
 * invalid input can be built too.  Returns the length in bytes.
 */
static size_t
enc(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | (cp >> 18 & 0x07));
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Count s (len bytes): the return value of ch_utf8_count, with *count
 * preset to a sentinel so that the caller can see it left alone.
 */
static int
count(const char *s, size_t len, size_t *n)
{
	*n = 777;
	return ch_utf8_count(s, len, n);
}

/* Valid text: each case must give exactly its number of characters. */
static void
test_count_valid(void)
{
	static const struct {
		const char *s;
		size_t chars;
		const char *what;
	} cases[] = {
		{"", 0, "empty"},
		{"hello", 5, "ASCII"},
		{"\x7f", 1, "U+007F, the last one-byte form"},
		{"\xc2\x80", 1, "U+0080, the first two-byte form"},
		{"\xc3\xa9", 1, "U+00E9 e acute"},
		{"\xdf\xbf", 1, "U+07FF, the last two-byte form"},
		{"\xe0\xa0\x80", 1, "U+0800, the first three-byte form"},
		{"\xe2\x82\xac", 1, "U+20AC euro sign"},
		{"\xed\x9f\xbf", 1, "U+D7FF, just below the surrogates"},
		{"\xee\x80\x80", 1, "U+E000, just above the surrogates"},
		{"\xef\xbf\xbf", 1, "U+FFFF"},
		{"\xf0\x90\x80\x80", 1, "U+10000, the first four-byte form"},
		{"\xf0\x9f\x98\x80", 1, "U+1F600 emoji"},
		{"\xf4\x8f\xbf\xbf", 1, "U+10FFFF, the last code point"},
		{"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", 5, "mixed widths"},
		{"na\xc3\xafve caf\xc3\xa9", 10, "words with accents"},
	};
	size_t i, n;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = count(cases[i].s, strlen(cases[i].s), &n);
		CHECK(r == 0 && n == cases[i].chars,
		    "count: %s is %zu character(s) (got %d, %zu)",
		    cases[i].what, cases[i].chars, r, n);
	}
}

/* Invalid text: refused, and *count left alone. */
static void
test_count_invalid(void)
{
	static const struct {
		const char *s;
		size_t len;
		const char *what;
	} cases[] = {
#define C(s, what) {s, sizeof(s) - 1, what}
		C("\xc0\x80", "overlong NUL (C0 80)"),
		C("\xc0\xaf", "overlong slash (C0 AF)"),
		C("\xc1\xbf", "overlong U+007F (C1 BF)"),
		C("\xe0\x80\x80", "overlong three-byte NUL"),
		C("\xe0\x9f\xbf", "overlong U+07FF in three bytes"),
		C("\xf0\x80\x80\x80", "overlong four-byte NUL"),
		C("\xf0\x8f\xbf\xbf", "overlong U+FFFF in four bytes"),
		C("\xed\xa0\x80", "surrogate U+D800"),
		C("\xed\xb0\x80", "surrogate U+DC00"),
		C("\xed\xbf\xbf", "surrogate U+DFFF"),
		C("\xed\xa0\xbd\xed\xb8\x80", "CESU-8 surrogate pair"),
		C("\xf4\x90\x80\x80", "U+110000, past the last code point"),
		C("\xf5\x80\x80\x80", "lead byte F5"),
		C("\xf7\xbf\xbf\xbf", "U+1FFFFF"),
		C("\xf8\x88\x80\x80\x80", "five-byte form"),
		C("\xfc\x84\x80\x80\x80\x80", "six-byte form"),
		C("\xfe", "byte FE"),
		C("\xff", "byte FF"),
		C("\x80", "lone continuation byte 80"),
		C("\xbf", "lone continuation byte BF"),
		C("a\x80z", "continuation byte between letters"),
		C("\xc3", "truncated two-byte sequence at the end"),
		C("\xe2\x82", "truncated three-byte sequence at the end"),
		C("\xf0\x9f\x98", "truncated four-byte sequence at the end"),
		C("\xe2\x82z", "truncated three-byte sequence before a letter"),
		C("\xc3z", "lead byte followed by ASCII"),
		C("\xc3\xc3\xa9", "lead byte followed by a lead byte"),
		C("\x00", "a NUL byte alone"),
		C("a\x00z", "a NUL byte inside"),
		C("abc\x00", "a NUL byte at the end"),
		C("\xc3\x00", "a NUL byte as a continuation byte"),
#undef C
	};
	size_t i, n;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = count(cases[i].s, cases[i].len, &n);
		CHECK(r == -1 && n == 777,
		    "count: refuses %s, *count untouched (got %d, %zu)",
		    cases[i].what, r, n);
	}
}

/* The length argument is honoured: no reading past it, no NUL needed. */
static void
test_count_len(void)
{
	char big[4 * 300];
	size_t i, n, len;
	int r;

	r = count("abcdef", 3, &n);
	CHECK(r == 0 && n == 3, "count: stops at len (got %d, %zu)", r, n);
	r = count("\xc3\xa9", 1, &n);
	CHECK(r == -1 && n == 777,
	    "count: a sequence cut by len is truncated (got %d)", r);
	r = count("\xf0\x9f\x98\x80", 3, &n);
	CHECK(r == -1, "count: a four-byte sequence cut by len is refused");
	r = count("ab\x00", 2, &n);
	CHECK(r == 0 && n == 2, "count: a NUL past len is not seen");

	/* 300 emoji: 1200 bytes, 300 characters. */
	for (i = 0, len = 0; i < 300; i++)
		len += enc(0x1f916, big + len);
	r = count(big, len, &n);
	CHECK(r == 0 && n == 300 && len == 1200,
	    "count: 300 emoji are 300 characters (got %d, %zu)", r, n);
}

/* Every scalar value decodes to one character; every surrogate fails. */
static void
test_count_all(void)
{
	char b[4];
	uint32_t cp, bad = 0;
	size_t k, n;

	for (cp = 1; cp <= 0x10ffff; cp += cp < 0x10000 ? 1 : 97) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		k = enc(cp, b);
		if (count(b, k, &n) != 0 || n != 1) {
			bad = cp;
			break;
		}
	}
	CHECK(bad == 0, "count: every scalar value is one character "
	    "(first failure U+%04X)", (unsigned int)bad);
	for (cp = 0xd800, bad = 0; cp <= 0xdfff; cp++) {
		k = enc(cp, b);
		if (count(b, k, &n) != -1) {
			bad = cp;
			break;
		}
	}
	CHECK(bad == 0, "count: every surrogate is refused "
	    "(first accepted U+%04X)", (unsigned int)bad);
}

/* Blank: white space and invisible characters, alone and in runs. */
static void
test_blank(void)
{
	static const uint32_t blanks[] = {
		0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
		0x180e, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
		0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x200b, 0x200c,
		0x200d, 0x2028, 0x2029, 0x202f, 0x205f, 0x2060, 0x3000,
		0xfeff,
	};
	static const uint32_t visible[] = {
		'a', '0', '.', '_', 0xe9, 0x4e2d, 0x1f600, 0x1f916, 0x2010,
		0x2030, 0x3001, 0xfffd,
	};
	char b[64];
	size_t i, k;
	int r;

	r = ch_utf8_blank("", 0);
	CHECK(r == 1, "blank: the empty string is blank");
	r = ch_utf8_blank("   ", 3);
	CHECK(r == 1, "blank: spaces are blank");
	r = ch_utf8_blank(" \t\r\n\v\f ", 7);
	CHECK(r == 1, "blank: ASCII white space is blank");
	r = ch_utf8_blank("a", 1);
	CHECK(r == 0, "blank: a letter is not blank");
	r = ch_utf8_blank("  hi  ", 6);
	CHECK(r == 0, "blank: a word between spaces is not blank");
	r = ch_utf8_blank("   x", 3);
	CHECK(r == 1, "blank: len is honoured");
	r = ch_utf8_blank("\xe2\x80\x8b", 3);
	CHECK(r == 1, "blank: U+200B zero width space is blank");
	r = ch_utf8_blank("\xef\xbb\xbf", 3);
	CHECK(r == 1, "blank: U+FEFF byte order mark is blank");
	r = ch_utf8_blank("\xe3\x80\x80", 3);
	CHECK(r == 1, "blank: U+3000 ideographic space is blank");
	r = ch_utf8_blank("\xe2\x80\x8b\xe3\x80\x80\xef\xbb\xbf \xc2\xa0\t",
	    13);
	CHECK(r == 1, "blank: a run of invisible characters is blank");
	r = ch_utf8_blank("\xe2\x80\x8b\xe3\x80\x80x\xef\xbb\xbf", 10);
	CHECK(r == 0, "blank: one letter among invisible ones is not blank");
	r = ch_utf8_blank("\xf0\x9f\x98\x80", 4);
	CHECK(r == 0, "blank: an emoji is not blank");
	r = ch_utf8_blank("\xe2\x80\x8b\xf0\x9f\x98\x80", 7);
	CHECK(r == 0, "blank: an emoji after U+200B is not blank");
	r = ch_utf8_blank("\xff", 1);
	CHECK(r == 1, "blank: invalid UTF-8 counts as blank");
	r = ch_utf8_blank("\xe2\x80", 2);
	CHECK(r == 1, "blank: truncated UTF-8 counts as blank");

	for (i = 0; i < sizeof(blanks) / sizeof(blanks[0]); i++) {
		k = enc(blanks[i], b);
		r = ch_utf8_blank(b, k);
		CHECK(r == 1, "blank: U+%04X alone is blank",
		    (unsigned int)blanks[i]);
		k += enc(blanks[i], b + k);
		k += enc(' ', b + k);
		r = ch_utf8_blank(b, k);
		CHECK(r == 1, "blank: U+%04X twice and a space is blank",
		    (unsigned int)blanks[i]);
		k += enc('x', b + k);
		r = ch_utf8_blank(b, k);
		CHECK(r == 0, "blank: U+%04X then a letter is not blank",
		    (unsigned int)blanks[i]);
	}
	for (i = 0; i < sizeof(visible) / sizeof(visible[0]); i++) {
		k = enc(' ', b);
		k += enc(visible[i], b + k);
		r = ch_utf8_blank(b, k);
		CHECK(r == 0, "blank: U+%04X is visible",
		    (unsigned int)visible[i]);
	}
}

/*
 * The function promises that "invisible format characters" are blank:
 * these are Unicode format characters (general category Cf) that render
 * as nothing, like U+200B and U+2060 which it already knows.
 */
static void
test_blank_format(void)
{
	static const uint32_t fmt[] = {
		0x00ad, /* soft hyphen */
		0x061c, /* Arabic letter mark */
		0x200e, /* left-to-right mark */
		0x200f, /* right-to-left mark */
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, /* bidi embeddings */
		0x2061, 0x2062, 0x2063, 0x2064, /* invisible operators */
		0x2066, 0x2067, 0x2068, 0x2069, /* bidi isolates */
		0xe0020, /* tag space */
	};
	char b[8], missed[sizeof(fmt) / sizeof(fmt[0]) * 9 + 1];
	size_t i, k, n = 0, o = 0;

	missed[0] = '\0';
	for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		k = enc(fmt[i], b);
		if (ch_utf8_blank(b, k) != 1) {
			n++;
			o += (size_t)snprintf(missed + o, sizeof(missed) - o,
			    " U+%04X", (unsigned int)fmt[i]);
		}
	}
	CHECK(n == 0, "blank: the invisible format characters are blank "
	    "(%zu of %zu are not:%s)", n, sizeof(fmt) / sizeof(fmt[0]),
	    missed);
}

/* Bidirectional controls: which they are, and removing them. */
static void
test_bidi(void)
{
	static const uint32_t controls[] = {
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068,
		0x2069,
	};
	static const uint32_t others[] = {
		0x200e, 0x200f, 0x061c, 0x2029, 0x2065, 0x206a, 0x202f, 'a',
	};
	size_t i, n;
	char *out;

	for (i = 0; i < sizeof(controls) / sizeof(controls[0]); i++)
		CHECK(ch_utf8_bidi(controls[i]), "bidi: U+%04X is one",
		    (unsigned)controls[i]);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		CHECK(!ch_utf8_bidi(others[i]), "bidi: U+%04X is not",
		    (unsigned)others[i]);
	out = ch_utf8_strip_bidi("a\xe2\x80\xae" "bc\xe2\x81\xa6" "d", 10, &n);
	CHECK(n == 4 && strcmp(out, "abcd") == 0, "strip: the overrides "
	    "and isolates go, the rest stays (%zu: %s)", n, out);
	free(out);
	out = ch_utf8_strip_bidi("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", 8, &n);
	CHECK(n == 8 && memcmp(out, "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", 8) ==
	    0, "strip: right-to-left letters stay");
	free(out);
	out = ch_utf8_strip_bidi("", 0, &n);
	CHECK(n == 0 && out[0] == '\0', "strip: empty stays empty");
	free(out);
	CHECK(ch_utf8_invisible(0x200b) && ch_utf8_invisible(0xfeff) &&
	    !ch_utf8_invisible(' ') && !ch_utf8_invisible('a') &&
	    ch_utf8_space(0x3000), "invisible: zero-width ones, not spaces");
}

/* Run every case and print the TAP plan; 0 if all passed. */
int
main(void)
{
	test_bidi();
	test_count_valid();
	test_count_invalid();
	test_count_len();
	test_count_all();
	test_blank();
	test_blank_format();
	return tap_done();
}
