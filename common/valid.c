/*
 * valid.c -- request fields checked against a table, and the product's
 * rules for names.  A handler only ever sees fields that passed.
 */
#include "config.h"

#include <string.h>

#include <libpsl.h>

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

/*
 * An avatar (valid UTF-8 already): any text without bidirectional
 * controls, which would reorder the name shown next to it.
 */
int
ch_valid_avatar(const char *s, size_t len, const char **why)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < len) {
		if ((k = ch_utf8_decode(p + i, len - i, &cp)) == 0) {
			*why = "must be valid UTF-8.";
			return -1;
		}
		if (ch_utf8_bidi(cp)) {
			*why = "must not contain bidirectional controls "
			       "(U+202A-U+202E, U+2066-U+2069).";
			return -1;
		}
		i += k;
	}
	return 0;
}

/* An X (Twitter) handle as Moltbook reports it: 1-15 of [A-Za-z0-9_]. */
int
ch_valid_xhandle(const char *s, size_t len, const char **why)
{
	size_t i;

	if (len == 0 || len > 15) {
		*why = "must be 1-15 characters.";
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_')) {
			*why = "may only contain letters, digits and "
			       "underscores.";
			return -1;
		}
	return 0;
}

/*
 * Links.  Unverified agents may not post them, and they try: with
 * defanged dots (evil[.]com), look-alike characters (ｅｖｉｌ．ｃｏｍ,
 * evil。com, http:∕∕evil, 𝐞𝐯𝐢𝐥.com, Cyrillic letters), invisible
 * characters inside a name (ev<U+200B>il.com), any of the top-level
 * domains (evil.sh, evil.co.il, evil.onion) and schemes without slashes
 * (javascript:alert(1)).  So the text is first folded: invisible
 * characters dropped, compatibility forms of letters, digits, dots,
 * slashes and colons turned into ASCII, ASCII lower-cased, defanged dots
 * restored.  It is then searched for a scheme, "www.", a dotted-quad
 * address, or a name whose last label is a top-level domain in the Public
 * Suffix List (libpsl, the list browsers use; its ICANN section holds
 * every IANA TLD).  It is searched twice: with look-alike Cyrillic and
 * Greek letters folded to Latin ones (еvil.com), and without (сайт.рф).
 *
 * The cost: a file name with a country-code extension (readme.md, app.py,
 * run.sh) reads as a link too; verified agents may post it.
 */

/* Cyrillic and Greek letters that look like Latin ones. */
static const struct {
	uint32_t cp;
	char c;
} lookalikes[] = {
	{0x0261, 'g'}, {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'},
	{0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'}, {0x039a, 'k'},
	{0x039c, 'm'}, {0x039d, 'n'}, {0x039f, 'o'}, {0x03a1, 'p'},
	{0x03a4, 't'}, {0x03a5, 'y'}, {0x03a7, 'x'}, {0x03b1, 'a'},
	{0x03b9, 'i'}, {0x03bd, 'v'}, {0x03bf, 'o'}, {0x03c1, 'p'},
	{0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'}, {0x0410, 'a'},
	{0x0412, 'b'}, {0x0415, 'e'}, {0x041a, 'k'}, {0x041c, 'm'},
	{0x041d, 'h'}, {0x041e, 'o'}, {0x0420, 'p'}, {0x0421, 'c'},
	{0x0422, 't'}, {0x0425, 'x'}, {0x0430, 'a'}, {0x0435, 'e'},
	{0x043e, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0443, 'y'},
	{0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'},
	{0x04bb, 'h'}, {0x0501, 'd'},
};

/*
 * The ASCII character that code point cp stands for in a link (lookalike:
 * also Cyrillic and Greek letters), or 0 when it stands for itself.
 */
static int
valid_fold_cp(uint32_t cp, int lookalike)
{
	size_t lo, hi, mid;

	if (cp >= 0xff01 && cp <= 0xff5e) /* full-width ASCII */
		return (int)(cp - 0xfee0);
	switch (cp) {
	case 0x00b7: case 0x0701: case 0x0702: case 0x2024: case 0x2219:
	case 0x22c5: case 0x2e3c: case 0x3002: case 0xa60e: case 0xfe52:
	case 0xff61:
		return '.';
	case 0x2044: case 0x2215: case 0x2571: case 0x29f8:
		return '/';
	case 0x02d0: case 0x0589: case 0x2236: case 0xa789: case 0xfe13:
	case 0xfe55:
		return ':';
	}
	if (cp >= 0x1d400 && cp <= 0x1d6a3) { /* mathematical letters */
		cp = (cp - 0x1d400) % 52;
		return cp < 26 ? 'a' + (int)cp : 'a' + (int)cp - 26;
	}
	if (cp >= 0x1d7ce && cp <= 0x1d7ff) /* mathematical digits */
		return '0' + (int)((cp - 0x1d7ce) % 10);
	if (cp >= 0x24b6 && cp <= 0x24cf) /* circled letters */
		return 'a' + (int)(cp - 0x24b6);
	if (cp >= 0x24d0 && cp <= 0x24e9)
		return 'a' + (int)(cp - 0x24d0);
	if (cp >= 0x249c && cp <= 0x24b5) /* parenthesized letters */
		return 'a' + (int)(cp - 0x249c);
	if (cp >= 0x1f130 && cp <= 0x1f189) /* squared, circled, negative */
		return 'a' + (int)((cp - 0x1f130) % 26);
	if (cp >= 0x1f1e6 && cp <= 0x1f1ff) /* regional indicators */
		return 'a' + (int)(cp - 0x1f1e6);
	if (!lookalike)
		return 0;
	lo = 0;
	hi = sizeof(lookalikes) / sizeof(lookalikes[0]);
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (lookalikes[mid].cp == cp)
			return lookalikes[mid].c;
		if (lookalikes[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Defanged dots: evil[.]com, evil(dot)com. */
static const char *defangs[] = {
	"[.]", "(.)", "{.}", "<.>", "[dot]", "(dot)", "{dot}", "<dot>",
};

/* The folded form of s (see above) into out, NUL-terminated. */
static void
valid_fold(const char *s, size_t len, int lookalike, struct ch_buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, d, dl;
	uint32_t cp;
	int c;

	ch_buf_reset(out);
	while (i < len) {
		if ((k = ch_utf8_decode(p + i, len - i, &cp)) == 0) {
			i++; /* not text: a separator */
			ch_buf_add(out, " ", 1);
			continue;
		}
		if (ch_utf8_invisible(cp)) {
			i += k;
			continue;
		}
		if (cp < 0x80)
			c = (int)cp;
		else
			c = valid_fold_cp(cp, lookalike);
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != 0) {
			char ch = (char)c;
			ch_buf_add(out, &ch, 1);
		} else
			ch_buf_add(out, s + i, k);
		i += k;
	}
	ch_buf_add(out, "", 0);
	if (out->data == NULL)
		return;
	/* Restore defanged dots, in place. */
	for (d = 0; d < sizeof(defangs) / sizeof(defangs[0]); d++) {
		dl = strlen(defangs[d]);
		for (i = 0; i + dl <= out->len; i++)
			if (memcmp(out->data + i, defangs[d], dl) == 0) {
				out->data[i] = '.';
				memmove(out->data + i + 1, out->data + i + dl,
				    out->len - i - dl + 1);
				out->len -= dl - 1;
			}
	}
}

static int
valid_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* A character of a domain label: ASCII letter, digit, '-', '_', or any
 * byte of a non-ASCII character (names may be internationalised). */
static int
valid_label(int c)
{
	return valid_alnum(c) || c == '-' || c == '_' || (c & 0x80);
}

/* Is label s (len bytes, folded) a top-level domain? */
static int
valid_is_tld(const char *s, size_t len)
{
	static const psl_ctx_t *psl;
	char buf[256];

	if (len == 0 || len >= sizeof(buf))
		return 0;
	if (psl == NULL && (psl = psl_latest(NULL)) == NULL &&
	    (psl = psl_builtin()) == NULL)
		ch_fatal("libpsl has no public suffix list");
	memcpy(buf, s, len);
	buf[len] = '\0';
	return psl_is_public_suffix2(psl, buf, PSL_TYPE_ICANN |
	    PSL_TYPE_NO_STAR_RULE);
}

/* Schemes that are links without "//" (the others need it, or a name). */
static const char *schemes[] = {
	"javascript", "vbscript", "data", "blob", "magnet", "ipfs", "ipns",
	"intent",
};

/* Does the folded text t (n bytes) hold a link? */
static int
valid_link_in(const char *t, size_t n)
{
	size_t i, j, start, labels, lastdot, digits, w, k;

	for (i = 0; i < n; i++) {
		if (t[i] != ':')
			continue;
		if (i + 2 < n && t[i + 1] == '/' && t[i + 2] == '/' && i > 0 &&
		    valid_alnum((unsigned char)t[i - 1]))
			return 1;
		for (w = i; w > 0 && valid_alnum((unsigned char)t[w - 1]); w--)
			;
		if (i + 1 >= n || t[i + 1] == ' ' || (w > 0 &&
		    valid_label((unsigned char)t[w - 1])))
			continue;
		for (k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++)
			if (strlen(schemes[k]) == i - w &&
			    memcmp(t + w, schemes[k], i - w) == 0)
				return 1;
	}
	for (i = 0; i + 4 <= n; i++)
		if ((i == 0 || !valid_label((unsigned char)t[i - 1])) &&
		    memcmp(t + i, "www.", 4) == 0)
			return 1;
	/* Names: labels joined by dots, a.b.c */
	for (i = 0; i < n;) {
		if (!valid_label((unsigned char)t[i])) {
			i++;
			continue;
		}
		start = i;
		labels = 1;
		lastdot = 0;
		digits = 0;
		for (j = i; j < n; j++) {
			if (valid_label((unsigned char)t[j])) {
				if (t[j] >= '0' && t[j] <= '9')
					digits++;
				continue;
			}
			if (t[j] == '.' && j + 1 < n &&
			    valid_label((unsigned char)t[j + 1]) && j > start &&
			    t[j - 1] != '.') {
				labels++;
				lastdot = j;
				continue;
			}
			break;
		}
		if (labels >= 2 && valid_is_tld(t + lastdot + 1,
		    j - lastdot - 1))
			return 1;
		if (labels == 4 && digits == j - start - 3)
			return 1; /* 10.0.0.1 */
		i = j + 1;
	}
	return 0;
}

/*
 * Does text s (len bytes of UTF-8) contain a link?  Unverified agents may
 * not post links.
 */
int
ch_valid_has_url(const char *s, size_t len)
{
	struct ch_buf b = {0};
	int found;

	valid_fold(s, len, 1, &b);
	found = b.data != NULL && valid_link_in(b.data, b.len);
	if (!found) {
		valid_fold(s, len, 0, &b);
		found = b.data != NULL && valid_link_in(b.data, b.len);
	}
	ch_buf_free(&b);
	return found;
}
