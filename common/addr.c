/*
 * addr.c -- client addresses: networks (CIDR), the client behind trusted
 * proxies (CHATR_TRUSTED_PROXIES), and the key an address is limited by.
 *
 * Behind a TLS terminator or a load balancer every connection comes from
 * the proxy.  When the peer is inside one of the trusted networks, the
 * client is read from X-Forwarded-For, right to left: each proxy appends
 * the address it saw, so the rightmost address that is not a trusted
 * proxy is the client (what is left of it, anyone could have written).
 * Per-address limits count an IPv6 /64 as one address: a single host is
 * commonly given a whole /64.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

/*
 * Parse an address or a network (ADDR/BITS), IPv4 or IPv6, from s (len
 * bytes, no NUL needed).  The host bits are cleared; an IPv4-mapped IPv6
 * address is its IPv4 address.  0, or -1 with nothing set.
 */
int
ch_cidr_parse(const char *s, size_t len, struct ch_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long bits;
	unsigned char a[16];
	unsigned int max, i;
	int fam;

	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, a) == 1) {
		fam = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, a) == 1) {
		fam = AF_INET6;
		max = 128;
	} else
		return -1;
	bits = max;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9' || (slash[0] == '0' &&
		    slash[1] != '\0'))
			return -1;
		errno = 0;
		bits = strtoul(slash, &end, 10);
		if (errno != 0 || *end != '\0' || bits > max)
			return -1;
	}
	memset(c, 0, sizeof(*c));
	if (fam == AF_INET6 && bits >= 96 && memcmp(a,
	    "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		fam = AF_INET; /* ::ffff:a.b.c.d */
		memmove(a, a + 12, 4);
		bits -= 96;
		max = 32;
	}
	c->family = fam;
	c->bits = (unsigned int)bits;
	memcpy(c->addr, a, max / 8);
	for (i = c->bits; i < max; i++)
		c->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	return 0;
}

/* The text of c: "a.b.c.d/n" or "x::y/n", into buf (CH_CIDR_TEXT). */
void
ch_cidr_text(const struct ch_cidr *c, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, size, "%s/%u", a, c->bits);
}

/* Is address addr (text, as a client address is kept) inside c? */
int
ch_cidr_match(const struct ch_cidr *c, const char *addr)
{
	struct ch_cidr a;
	unsigned int i;

	if (ch_cidr_parse(addr, strlen(addr), &a) != 0 ||
	    a.family != c->family)
		return 0;
	for (i = 0; i < c->bits / 8; i++)
		if (a.addr[i] != c->addr[i])
			return 0;
	if (c->bits % 8 != 0) {
		unsigned char m = (unsigned char)(0xff00u >> (c->bits % 8));
		if ((a.addr[i] & m) != c->addr[i])
			return 0;
	}
	return 1;
}

/* Is addr inside one of the n networks of nets? */
int
ch_cidr_any(const struct ch_cidr *nets, size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ch_cidr_match(&nets[i], addr))
			return 1;
	return 0;
}

/*
 * Parse a list of networks (separated by commas or spaces) into a new
 * array *out of *n.  0, or -1 with *bad set to the first bad one (an
 * allocated copy).
 */
int
ch_cidr_list(const char *list, struct ch_cidr **out, size_t *n, char **bad)
{
	const char *p = list, *e;
	struct ch_cidr c;
	size_t len;

	*out = NULL;
	*n = 0;
	for (;;) {
		p += strspn(p, ", \t");
		if (*p == '\0')
			return 0;
		len = strcspn(p, ", \t");
		e = p + len;
		if (ch_cidr_parse(p, len, &c) != 0) {
			*bad = ch_xstrndup(p, len);
			free(*out);
			*out = NULL;
			*n = 0;
			return -1;
		}
		*out = ch_xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = c;
		p = e;
	}
}

/*
 * The client's address for a connection from peer carrying the header
 * X-Forwarded-For xff (NULL: none): peer itself unless it is a trusted
 * proxy; else the rightmost address in xff that is not one (all trusted:
 * the leftmost; an entry that is not an address ends the walk at the last
 * good one).  Written to out (CH_ADDR_MAX).
 */
void
ch_addr_client(const struct ch_cfg *cfg, const char *peer, const char *xff,
    char *out, size_t size)
{
	char cur[CH_ADDR_MAX], hop[CH_ADDR_MAX];
	const char *end, *s, *e;
	struct ch_cidr c;

	snprintf(out, size, "%s", peer);
	if (xff == NULL || cfg->nproxies == 0 ||
	    !ch_cidr_any(cfg->proxies, cfg->nproxies, peer))
		return;
	snprintf(cur, sizeof(cur), "%s", peer);
	end = xff + strlen(xff);
	while (end > xff) {
		for (s = end; s > xff && s[-1] != ','; s--)
			;
		e = end;
		end = s > xff ? s - 1 : xff;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s || (size_t)(e - s) >= sizeof(hop) ||
		    memchr(s, '/', (size_t)(e - s)) != NULL ||
		    ch_cidr_parse(s, (size_t)(e - s), &c) != 0)
			break;
		memcpy(hop, s, (size_t)(e - s));
		hop[e - s] = '\0';
		snprintf(cur, sizeof(cur), "%s", hop);
		if (!ch_cidr_any(cfg->proxies, cfg->nproxies, hop))
			break;
	}
	snprintf(out, size, "%s", cur);
}

/*
 * The key per-address limits count addr under, into out (CH_ADDR_MAX):
 * an IPv4 address itself, an IPv6 address its /64 ("2001:db8:1:2::/64"),
 * anything else as it is.
 */
void
ch_addr_limit_key(const char *addr, char *out, size_t size)
{
	struct ch_cidr c;

	if (ch_cidr_parse(addr, strlen(addr), &c) != 0 ||
	    c.family != AF_INET6) {
		snprintf(out, size, "%s", addr);
		return;
	}
	memset(c.addr + 8, 0, 8);
	c.bits = 64;
	ch_cidr_text(&c, out, size);
}
