/*
 * utf8.c -- strict UTF-8 (RFC 3629) validation and character counting.
 *
 * Lengths in chatr are Unicode characters (code points), not bytes.
 * Overlong forms, surrogates, code points past U+10FFFF and NUL bytes are
 * all refused: none of them belongs in a name, an avatar or a message.
 */
#include "config.h"

#include <string.h>

#include "chatr.h"

/*
 * Decode one code point at s (len > 0 bytes left).  Returns its length in
 * bytes and sets *cp, or 0 if the bytes are not valid UTF-8.
 */
size_t
ch_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/*
 * Count the characters of s (len bytes) into *count.  0 if s is valid
 * UTF-8 without NUL bytes, -1 otherwise (and *count is untouched).
 */
int
ch_utf8_count(const char *s, size_t len, size_t *count)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = 0, k;
	uint32_t cp;

	while (i < len) {
		if (p[i] == 0)
			return -1;
		if (p[i] < 0x80) {
			i++;
			n++;
			continue;
		}
		if ((k = ch_utf8_decode(p + i, len - i, &cp)) == 0)
			return -1;
		i += k;
		n++;
	}
	*count = n;
	return 0;
}

/*
 * White space and characters that show nothing: format controls, fillers,
 * variation selectors, tags.  A message made only of these is blank.
 * Sorted ranges.
 */
static const struct {
	uint32_t lo, hi;
} blanks[] = {
	{0x0009, 0x000d}, {0x0020, 0x0020}, {0x0085, 0x0085},
	{0x00a0, 0x00a0}, {0x00ad, 0x00ad}, {0x034f, 0x034f},
	{0x061c, 0x061c}, {0x115f, 0x1160}, {0x1680, 0x1680},
	{0x17b4, 0x17b5}, {0x180b, 0x180f}, {0x2000, 0x200f},
	{0x2028, 0x202f}, {0x205f, 0x206f}, {0x2800, 0x2800},
	{0x3000, 0x3000}, {0x3164, 0x3164}, {0xfe00, 0xfe0f},
	{0xfeff, 0xfeff}, {0xffa0, 0xffa0}, {0xfff0, 0xfff8},
	{0x1d173, 0x1d17a}, {0xe0000, 0xe0fff},
};

/* Is cp white space or a character that shows nothing? */
static int
utf8_is_blank(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(blanks) / sizeof(blanks[0]), mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (cp < blanks[mid].lo)
			hi = mid;
		else if (cp > blanks[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/*
 * Is the valid UTF-8 string s empty or made only of white space and
 * invisible characters?  Invalid input counts as blank.
 */
int
ch_utf8_blank(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < len) {
		if ((k = ch_utf8_decode(p + i, len - i, &cp)) == 0)
			return 1;
		if (!utf8_is_blank(cp))
			return 0;
		i += k;
	}
	return 1;
}

/* Is cp a white space character (it separates words)? */
int
ch_utf8_space(uint32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 ||
	    cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
	    cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
	    cp == 0x3000;
}

/* Is cp a character that shows nothing (and is not white space)? */
int
ch_utf8_invisible(uint32_t cp)
{
	return utf8_is_blank(cp) && !ch_utf8_space(cp);
}

/*
 * Is cp a bidirectional embedding, override or isolate (U+202A-U+202E,
 * U+2066-U+2069)?  They reorder the text that follows them, even beyond
 * the string they came in.
 */
int
ch_utf8_bidi(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 &&
	    cp <= 0x2069);
}

/*
 * A copy of the valid UTF-8 string s (len bytes) without bidirectional
 * controls, NUL-terminated, its length in *outlen.  The caller frees it.
 */
char *
ch_utf8_strip_bidi(const char *s, size_t len, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, k;
	uint32_t cp;
	char *out;

	out = ch_xmalloc(len + 1);
	while (i < len) {
		if ((k = ch_utf8_decode(p + i, len - i, &cp)) == 0)
			k = 1; /* not valid: kept byte by byte */
		else if (ch_utf8_bidi(cp)) {
			i += k;
			continue;
		}
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}
