/*
 * utf8.c -- strict UTF-8 (RFC 3629) validation and character counting.
 *
 * Lengths in chatr are Unicode characters (code points), not bytes.
 * Overlong forms, surrogates, code points past U+10FFFF and NUL bytes are
 * all refused: none of them belongs in a name, an avatar or a message.
 */
#include "config.h"

#include "chatr.h"

/*
 * Decode one code point at s (len > 0 bytes left).  Returns its length in
 * bytes and sets *cp, or 0 if the bytes are not valid UTF-8.
 */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
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
		if ((k = utf8_decode(p + i, len - i, &cp)) == 0)
			return -1;
		i += k;
		n++;
	}
	*count = n;
	return 0;
}

/* Is cp white space or an invisible format character? */
static int
utf8_is_blank(uint32_t cp)
{
	switch (cp) {
	case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20:
	case 0x85: case 0xa0: case 0x1680: case 0x180e: case 0x2028:
	case 0x2029: case 0x202f: case 0x205f: case 0x2060: case 0x3000:
	case 0xfeff:
		return 1;
	}
	return cp >= 0x2000 && cp <= 0x200d;
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
		if ((k = utf8_decode(p + i, len - i, &cp)) == 0)
			return 1;
		if (!utf8_is_blank(cp))
			return 0;
		i += k;
	}
	return 1;
}
