/*
 * test-auth.c -- unit tests of common/auth.c: API keys (chatr_ and 32
 * lower-case hex digits, never twice the same), version 4 UUIDs, the
 * kernel's random bytes, SHA-256, the "Bearer <key>" Authorization header
 * and the constant-time comparison.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "chatr.h"
#include "tap.h"

#define KEY_A "chatr_0123456789abcdef0123456789abcdef"

/* Are the len bytes at s all lower-case hex digits? */
static int
is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Does s match ^chatr_[0-9a-f]{32}$? */
static int
is_key(const char *s)
{
	return strlen(s) == CH_KEY_LEN && strncmp(s, "chatr_", 6) == 0 &&
	    is_hex(s + 6, 32);
}

/* Does s match a version 4, variant 1 UUID in lower case? */
static int
is_uuid4(const char *s)
{
	return strlen(s) == CH_ID_LEN && is_hex(s, 8) && s[8] == '-' &&
	    is_hex(s + 9, 4) && s[13] == '-' && s[14] == '4' &&
	    is_hex(s + 15, 3) && s[18] == '-' && s[19] != '\0' &&
	    strchr("89ab", s[19]) != NULL && is_hex(s + 20, 3) &&
	    s[23] == '-' && is_hex(s + 24, 12);
}

/* The hex text of a SHA-256 hash into out (65 bytes). */
static char *
hex(const unsigned char *h, char *out)
{
	size_t i;

	for (i = 0; i < CH_HASH_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	return out;
}

/* ch_auth_new_key and ch_auth_random. */
static void
test_keys(void)
{
	char a[CH_KEY_LEN + 1], b[CH_KEY_LEN + 1], big[64];
	unsigned char r1[32], r2[32];
	const char *k;
	char hdr[80];
	int ra, rb, i, ok;

	ra = ch_auth_new_key(a, sizeof(a));
	rb = ch_auth_new_key(b, sizeof(b));
	CHECK(ra == 0 && rb == 0, "key: two new keys");
	CHECK(ra == 0 && is_key(a), "key: matches ^chatr_[0-9a-f]{32}$ (%s)",
	    a);
	CHECK(rb == 0 && is_key(b), "key: the second matches too");
	CHECK(ra == 0 && rb == 0 && strcmp(a, b) != 0, "key: two keys differ");
	for (i = 0, ok = 1; i < 200 && ok; i++)
		if (ch_auth_new_key(big, sizeof(big)) != 0 || !is_key(big) ||
		    strcmp(big, a) == 0)
			ok = 0;
	CHECK(ok, "key: 200 more keys, all well formed and new");
	memset(big, 'x', sizeof(big));
	ra = ch_auth_new_key(big, CH_KEY_LEN);
	CHECK(ra == -1 && big[0] == 'x', "key: a buffer of %d bytes is too "
	    "small", CH_KEY_LEN);
	ra = ch_auth_new_key(big, CH_KEY_LEN + 1);
	CHECK(ra == 0 && big[CH_KEY_LEN] == '\0' && is_key(big),
	    "key: %d bytes are enough", CH_KEY_LEN + 1);
	ra = ch_auth_new_key(big, 0);
	CHECK(ra == -1, "key: a buffer of 0 bytes");

	snprintf(hdr, sizeof(hdr), "Bearer %s", a);
	ra = ch_auth_bearer(hdr, &k);
	CHECK(ra == 0 && k == hdr + 7, "key: a new key makes a good header");

	memset(r1, 0, sizeof(r1));
	memset(r2, 0, sizeof(r2));
	ra = ch_auth_random(r1, sizeof(r1));
	rb = ch_auth_random(r2, sizeof(r2));
	CHECK(ra == 0 && rb == 0 && memcmp(r1, r2, sizeof(r1)) != 0,
	    "random: two draws of 32 bytes differ");
	ra = ch_auth_random(r1, 0);
	CHECK(ra == 0, "random: 0 bytes");
}

/* ch_auth_new_uuid. */
static void
test_uuid(void)
{
	char a[CH_ID_LEN + 1], b[CH_ID_LEN + 1], small[CH_ID_LEN];
	int ra, rb, i, ok;

	ra = ch_auth_new_uuid(a, sizeof(a));
	rb = ch_auth_new_uuid(b, sizeof(b));
	CHECK(ra == 0 && rb == 0, "uuid: two new ids");
	CHECK(ra == 0 && is_uuid4(a), "uuid: version 4 format (%s)", a);
	CHECK(ra == 0 && rb == 0 && strcmp(a, b) != 0, "uuid: two ids differ");
	for (i = 0, ok = 1; i < 200 && ok; i++)
		if (ch_auth_new_uuid(b, sizeof(b)) != 0 || !is_uuid4(b) ||
		    strcmp(a, b) == 0)
			ok = 0;
	CHECK(ok, "uuid: 200 more, all well formed and new");
	ra = ch_auth_new_uuid(small, sizeof(small));
	CHECK(ra == -1, "uuid: a buffer of %d bytes is too small", CH_ID_LEN);
}

/* ch_auth_hash: SHA-256 test vectors. */
static void
test_hash(void)
{
	unsigned char h[CH_HASH_LEN], h2[CH_HASH_LEN];
	char t[2 * CH_HASH_LEN + 1];

	ch_auth_hash("abc", 3, h);
	CHECK_STR(hex(h, t), "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", "hash: SHA-256 of \"abc\"");
	ch_auth_hash("", 0, h);
	CHECK_STR(hex(h, t), "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855", "hash: SHA-256 of \"\"");
	ch_auth_hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    56, h);
	CHECK_STR(hex(h, t), "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1", "hash: SHA-256 of the "
	    "448-bit vector");
	ch_auth_hash("abcdef", 3, h2);
	ch_auth_hash("abc", 3, h);
	CHECK(memcmp(h, h2, CH_HASH_LEN) == 0, "hash: len is honoured");
	ch_auth_hash(KEY_A, CH_KEY_LEN, h);
	ch_auth_hash("chatr_0123456789abcdef0123456789abcdee", CH_KEY_LEN, h2);
	CHECK(memcmp(h, h2, CH_HASH_LEN) != 0,
	    "hash: keys one digit apart hash apart");
}

/* Headers that carry a key. */
static void
test_bearer_ok(void)
{
	static const struct {
		const char *hdr;
		size_t off;
		const char *what;
	} cases[] = {
		{"Bearer " KEY_A, 7, "the plain form"},
		{"bearer " KEY_A, 7, "a lower-case scheme"},
		{"BEARER " KEY_A, 7, "an upper-case scheme"},
		{"BeArEr " KEY_A, 7, "a mixed-case scheme"},
		{"Bearer\t" KEY_A, 7, "a tab after the scheme"},
		{"Bearer    " KEY_A, 10, "several spaces after the scheme"},
		{"Bearer \t \t" KEY_A, 10, "spaces and tabs after the scheme"},
		{"Bearer " KEY_A " ", 7, "a space after the key"},
		{"Bearer " KEY_A " \t  ", 7, "blanks after the key"},
	};
	const char *k;
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = NULL;
		r = ch_auth_bearer(cases[i].hdr, &k);
		CHECK(r == 0 && k == cases[i].hdr + cases[i].off &&
		    strncmp(k, KEY_A, CH_KEY_LEN) == 0,
		    "bearer: accepts %s", cases[i].what);
	}
}

/* Headers that do not. */
static void
test_bearer_bad(void)
{
	static const struct {
		const char *hdr;
		const char *what;
	} cases[] = {
		{"", "an empty header"},
		{"Bearer", "the scheme alone"},
		{"Bearer ", "the scheme and a space"},
		{"Bearer    ", "the scheme and blanks"},
		{KEY_A, "a key without scheme"},
		{"Bearer" KEY_A, "no blank after the scheme"},
		{"Basic " KEY_A, "the Basic scheme"},
		{"Token " KEY_A, "a Token scheme"},
		{"Bearerx " KEY_A, "a longer scheme word"},
		{"Bear " KEY_A, "a shorter scheme word"},
		{"Bearer: " KEY_A, "a colon after the scheme"},
		{"Bearer chatr_0123456789abcdef0123456789abcde",
		    "31 hex digits"},
		{"Bearer chatr_0123456789abcdef0123456789abcdef0",
		    "33 hex digits"},
		{"Bearer chatr_", "the prefix alone"},
		{"Bearer chatr_0123456789ABCDEF0123456789ABCDEF",
		    "upper-case hex"},
		{"Bearer chatr_0123456789abcdef0123456789abcdeF",
		    "one upper-case digit"},
		{"Bearer chatr_0123456789abcdef0123456789abcdeg",
		    "a non-hex letter"},
		{"Bearer chatr_0123456789abcdef 0123456789abcdef",
		    "a space inside the key"},
		{"Bearer 0123456789abcdef0123456789abcdef",
		    "the prefix missing"},
		{"Bearer 0123456789abcdef0123456789abcdef012345",
		    "38 hex digits without prefix"},
		{"Bearer CHATR_0123456789abcdef0123456789abcdef",
		    "an upper-case prefix"},
		{"Bearer chat_0123456789abcdef0123456789abcdef0",
		    "a misspelt prefix"},
		{"Bearer chatr-0123456789abcdef0123456789abcdef",
		    "a hyphen for the underscore"},
		{"Bearer " KEY_A " extra", "an extra token"},
		{"Bearer " KEY_A " " KEY_A, "two keys"},
		{"Bearer " KEY_A ",", "a comma after the key"},
		{"Bearer " KEY_A "\n", "a newline after the key"},
		{"Bearer " KEY_A "\r\n", "CR LF after the key"},
		{"Bearer\n" KEY_A, "a newline after the scheme"},
		{"Bearer \"" KEY_A "\"", "a quoted key"},
		{"Bearer Bearer " KEY_A, "the scheme twice"},
	};
	const char *k;
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = "untouched";
		r = ch_auth_bearer(cases[i].hdr, &k);
		CHECK(r == -1 && strcmp(k, "untouched") == 0,
		    "bearer: refuses %s", cases[i].what);
	}
	k = "untouched";
	r = ch_auth_bearer(NULL, &k);
	CHECK(r == -1 && strcmp(k, "untouched") == 0, "bearer: refuses NULL");
}

/* ch_auth_equal. */
static void
test_equal(void)
{
	unsigned char a[CH_HASH_LEN], b[CH_HASH_LEN];
	int r;

	ch_auth_hash("abc", 3, a);
	memcpy(b, a, sizeof(b));
	r = ch_auth_equal(a, b, sizeof(a));
	CHECK(r == 1, "equal: equal hashes");
	b[CH_HASH_LEN - 1] ^= 1;
	r = ch_auth_equal(a, b, sizeof(a));
	CHECK(r == 0, "equal: the last bit differs");
	memcpy(b, a, sizeof(b));
	b[0] ^= 0x80;
	r = ch_auth_equal(a, b, sizeof(a));
	CHECK(r == 0, "equal: the first bit differs");
	r = ch_auth_equal(a, b + 1, 0);
	CHECK(r == 1, "equal: zero bytes are equal");
	r = ch_auth_equal(a + 1, b + 1, sizeof(a) - 1);
	CHECK(r == 1, "equal: len is honoured");
}

/* Run every case and print the TAP plan; 0 if all passed. */
int
main(void)
{
	test_keys();
	test_uuid();
	test_hash();
	test_bearer_ok();
	test_bearer_bad();
	test_equal();
	return tap_done();
}
