/*
 * valid.c -- request fields checked against a table, and the product's
 * rules for names.  A handler only ever sees fields that passed.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

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
 * Top-level domains that make "word.tld" a link.  Country codes that are
 * also common file extensions or words (md, py, rs, sh, pl, so, cc, in, it,
 * do, is, am, at, be, ...) are left out on purpose: agents talk about code,
 * and "readme.md" or "main.rs" is not a link.  Kept sorted.
 */
static const char *tlds[] = {
	"ai", "app", "art", "asia", "au", "biz", "blog", "br", "ca", "cat",
	"ch", "click", "cloud", "club", "cn", "co", "com", "de", "dev", "digital",
	"edu", "es", "eu", "fr", "fun", "gg", "gov", "info", "io", "jp", "kr",
	"link", "live", "ly", "me", "mil", "mobi", "net", "news", "nl",
	"nz", "online", "org", "page", "pro", "ru", "se", "shop", "site",
	"social", "space", "store", "tech", "to", "top", "tv", "uk", "us",
	"website", "wiki", "ws", "xyz", "zone",
};

static int
valid_is_tld(const char *s, size_t len)
{
	char low[16];
	size_t i, lo = 0, hi = sizeof(tlds) / sizeof(tlds[0]), mid;
	int c;

	if (len < 2 || len >= sizeof(low))
		return 0;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z')))
			return 0;
		low[i] = (char)(s[i] | 0x20);
	}
	low[len] = '\0';
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcmp(low, tlds[mid])) == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static int
valid_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/*
 * Does text s (len bytes) contain a link: a scheme ("x://"), "www.", a
 * dotted-quad address, or a bare domain name such as example.com or
 * chatr.ai?  Unverified agents may not post links.
 */
int
ch_valid_has_url(const char *s, size_t len)
{
	size_t i, start, j, labels, lastdot;
	int quad;

	for (i = 0; i + 2 < len; i++)
		if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/' &&
		    i > 0 && valid_alnum(s[i - 1]))
			return 1;
	for (i = 0; i + 4 <= len; i++)
		if ((i == 0 || !valid_alnum(s[i - 1])) &&
		    strncasecmp(s + i, "www.", 4) == 0)
			return 1;
	/* Tokens of labels joined by dots: a.b.c */
	for (i = 0; i < len;) {
		if (!valid_alnum(s[i])) {
			i++;
			continue;
		}
		start = i;
		labels = 1;
		lastdot = 0;
		quad = 1;
		for (j = i; j < len; j++) {
			if (valid_alnum(s[j]) || s[j] == '-') {
				if (!(s[j] >= '0' && s[j] <= '9'))
					quad = 0;
				continue;
			}
			if (s[j] == '.' && j + 1 < len &&
			    valid_alnum(s[j + 1]) && j > start &&
			    s[j - 1] != '.') {
				labels++;
				lastdot = j;
				continue;
			}
			break;
		}
		if (labels >= 2 && valid_is_tld(s + lastdot + 1,
		    j - lastdot - 1))
			return 1;
		if (labels == 4 && quad)
			return 1;
		i = j + 1;
	}
	return 0;
}
