/*
 * auth.c -- API keys, ids and the Bearer header.
 *
 * A key is "chatr_" + 32 hex digits (128 bits from the kernel's CSPRNG).
 * It is shown once, at registration; the store keeps only its SHA-256,
 * and the hash is compared in constant time.
 */
#include "config.h"

#include <sys/random.h>

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "chatr.h"

/* Fill p with len bytes from the kernel's CSPRNG; 0 on success. */
int
ch_auth_random(void *p, size_t len)
{
	unsigned char *cp = p;
	ssize_t n;

	while (len > 0) {
		n = getrandom(cp, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		cp += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write a new API key into out (outsz > CH_KEY_LEN); 0 on success. */
int
ch_auth_new_key(char *out, size_t outsz)
{
	unsigned char rnd[16];

	if (outsz <= CH_KEY_LEN || ch_auth_random(rnd, sizeof(rnd)) != 0)
		return -1;
	memcpy(out, CH_KEY_PREFIX, 6);
	ch_hex_encode(out + 6, rnd, sizeof(rnd));
	ch_wipe(rnd, sizeof(rnd));
	return 0;
}

/* Write a new random (version 4) UUID into out; 0 on success. */
int
ch_auth_new_uuid(char *out, size_t outsz)
{
	unsigned char r[16];
	char hex[33];

	if (outsz <= CH_ID_LEN || ch_auth_random(r, sizeof(r)) != 0)
		return -1;
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	ch_hex_encode(hex, r, sizeof(r));
	memcpy(out, hex, 8);
	out[8] = '-';
	memcpy(out + 9, hex + 8, 4);
	out[13] = '-';
	memcpy(out + 14, hex + 12, 4);
	out[18] = '-';
	memcpy(out + 19, hex + 16, 4);
	out[23] = '-';
	memcpy(out + 24, hex + 20, 12);
	out[36] = '\0';
	return 0;
}

/*
 * Write a new verification code into out (outsz > CH_CODE_LEN): 8
 * characters from an alphabet without look-alikes (no I, O, 0 or 1).
 * The alphabet has 32 letters, so each random byte maps without bias.
 */
int
ch_auth_new_code(char *out, size_t outsz)
{
	static const char alpha[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char rnd[CH_CODE_LEN];
	size_t i;

	if (outsz <= CH_CODE_LEN || ch_auth_random(rnd, sizeof(rnd)) != 0)
		return -1;
	for (i = 0; i < CH_CODE_LEN; i++)
		out[i] = alpha[rnd[i] & 31];
	out[CH_CODE_LEN] = '\0';
	return 0;
}

/* SHA-256 of len bytes of key into out (CH_HASH_LEN bytes). */
void
ch_auth_hash(const char *key, size_t len, unsigned char *out)
{
	unsigned int n = 0;

	if (EVP_Digest(key, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != CH_HASH_LEN)
		ch_fatal("SHA-256 failed");
}

/*
 * Find the key in an Authorization header value "Bearer chatr_<32 hex>".
 * 0 and *key pointing into hdr on success; -1 if hdr is not of that form.
 */
int
ch_auth_bearer(const char *hdr, const char **key)
{
	size_t i;

	if (hdr == NULL || strncasecmp(hdr, "Bearer", 6) != 0 ||
	    (hdr[6] != ' ' && hdr[6] != '\t'))
		return -1;
	hdr += 6;
	while (*hdr == ' ' || *hdr == '\t')
		hdr++;
	if (strncmp(hdr, CH_KEY_PREFIX, 6) != 0)
		return -1;
	for (i = 6; i < CH_KEY_LEN; i++)
		if (strchr("0123456789abcdef", hdr[i]) == NULL ||
		    hdr[i] == '\0')
			return -1;
	for (i = CH_KEY_LEN; hdr[i] == ' ' || hdr[i] == '\t'; i++)
		;
	if (hdr[i] != '\0')
		return -1;
	*key = hdr;
	return 0;
}

/* Compare len bytes in constant time; 1 if equal. */
int
ch_auth_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
