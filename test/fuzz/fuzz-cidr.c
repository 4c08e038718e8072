/*
 * fuzz-cidr.c -- libFuzzer harness for ch_cidr_parse and ch_cidr_match
 * (common/moder.c), which read what an operator blocks and, later, the
 * trusted proxies and the addresses in X-Forwarded-For.  The input is
 * "NETWORK\nADDRESS".  A network that parses must print as text that
 * parses to itself, hold its own network address, and hold no address of
 * the other family.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl;
	char text[CH_CIDR_TEXT], addr[CH_ADDR_MAX], own[INET6_ADDRSTRLEN];
	struct ch_cidr c, again;
	size_t n = size, alen = 0;

	if ((nl = memchr(in, '\n', size)) != NULL) {
		n = (size_t)(nl - in);
		alen = size - n - 1;
	}
	if (ch_cidr_parse(in, n, &c) != 0)
		return 0;
	if (c.family != AF_INET && c.family != AF_INET6)
		abort();
	if (c.bits > (c.family == AF_INET ? 32u : 128u))
		abort();
	ch_cidr_text(&c, text, sizeof(text));
	if (ch_cidr_parse(text, strlen(text), &again) != 0 ||
	    memcmp(&c, &again, sizeof(c)) != 0)
		abort();
	if (inet_ntop(c.family, c.addr, own, sizeof(own)) == NULL ||
	    !ch_cidr_match(&c, own))
		abort();
	if (ch_cidr_match(&c, c.family == AF_INET ? "2001:db8::1" :
	    "127.0.0.1"))
		abort();
	if (nl != NULL && alen < sizeof(addr)) {
		memcpy(addr, nl + 1, alen);
		addr[alen] = '\0';
		(void)ch_cidr_match(&c, addr);
	}
	return 0;
}
