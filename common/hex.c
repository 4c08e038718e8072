/*
 * hex.c -- lower-case hexadecimal: API keys, key hashes in agent records,
 * %XX in query strings and \uXXXX in JSON all decode here.
 */
#include "config.h"

#include <stddef.h>

#include "chatr.h"

/* The value of hex digit c (either case), or -1. */
int
ch_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Lower-case hex of len bytes of in into out (2 * len + 1 bytes). */
void
ch_hex_encode(char *out, const unsigned char *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Decode 2 * len hex digits at in into len bytes at out; 0, or -1. */
int
ch_hex_decode(unsigned char *out, const char *in, size_t len)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if ((hi = ch_hex_digit((unsigned char)in[2 * i])) < 0 ||
		    (lo = ch_hex_digit((unsigned char)in[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
