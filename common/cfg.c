/*
 * cfg.c -- configuration: built-in defaults, then the config file, then
 * CHATR_* environment variables, each overriding the one before.
 *
 * The file holds KEY = value lines with the same CHATR_* names as the
 * environment; '#' starts a comment and values may be double-quoted.  The
 * file is CHATR_CONFIG when set, else SYSCONFDIR/chatr.conf if it exists.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

#ifndef CH_SYSCONFDIR
#define CH_SYSCONFDIR "/etc"
#endif
#ifndef CH_LOCALSTATEDIR
#define CH_LOCALSTATEDIR "/var"
#endif

enum cfg_type { CFG_UINT, CFG_STR, CFG_SECRET, CFG_LIMIT, CFG_LEVEL };

#define CFG_SECRET_MIN 16 /* characters of CHATR_CLUSTER_SECRET */

static void cfg_untrail(char *);

static const struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;
	const char *def;
	unsigned int min, max; /* CFG_UINT */
} keys[] = {
#define K(n, t, f, d, lo, hi) {n, t, offsetof(struct ch_cfg, f), d, lo, hi}
	K("CHATR_PORT", CFG_UINT, port, "8080", 1, 65535),
	K("CHATR_VAR", CFG_STR, var, CH_LOCALSTATEDIR "/lib/chatr", 0, 0),
	K("CHATR_PUBLIC_URL", CFG_STR, public_url, "", 0, 0),
	K("CHATR_MOLTBOOK_API", CFG_STR, moltbook_api,
	    "https://www.moltbook.com/api/v1", 0, 0),
	K("CHATR_STATS_INTERVAL", CFG_UINT, stats_interval, "10", 1, 86400),
	K("CHATR_LIMIT_MSG_VERIFIED", CFG_LIMIT, msg_verified, "10/60", 0, 0),
	K("CHATR_LIMIT_MSG_UNVERIFIED", CFG_LIMIT, msg_unverified, "1/300", 0,
	    0),
	K("CHATR_LIMIT_REGISTER_IP", CFG_LIMIT, register_ip, "5/3600", 0, 0),
	K("CHATR_LIMIT_REQUESTS_IP", CFG_LIMIT, requests_ip, "120/60", 0, 0),
	K("CHATR_LIMIT_VERIFY", CFG_LIMIT, verify_agent, "10/3600", 0, 0),
	K("CHATR_LIMIT_STREAMS_IP", CFG_UINT, streams_ip, "10", 0, 1000000),
	K("CHATR_STREAMS_MAX", CFG_UINT, streams_max, "20000", 1, 1000000),
	K("CHATR_ONLINE_WINDOW", CFG_UINT, online_window, "1800", 1,
	    31536000),
	K("CHATR_DB_CACHE_MB", CFG_UINT, db_cache_mb, "32", 1, 65536),
	K("CHATR_WATCHDOG", CFG_UINT, watchdog, "30", 0, 3600),
	K("CHATR_PROCS", CFG_UINT, procs, "0", 0, 64),
	K("CHATR_LOG_LEVEL", CFG_LEVEL, log_level, "info", 0, 0),
	K("CHATR_REPL_LISTEN", CFG_STR, repl_listen, "", 0, 0),
	K("CHATR_REPL_PEERS", CFG_STR, repl_peers, "", 0, 0),
	K("CHATR_REPL_PRIORITY", CFG_UINT, repl_priority, "100", 0, 1000000),
	K("CHATR_NODE_URL", CFG_STR, node_url, "", 0, 0),
	K("CHATR_CLUSTER_SECRET", CFG_SECRET, cluster_secret, "", 0, 0),
	K("CHATR_TRUSTED_PROXIES", CFG_STR, trusted_proxies, "", 0, 0),
	K("CHATR_METRICS_ALLOW", CFG_STR, metrics_allow, "127.0.0.0/8,::1", 0,
	    0),
#undef K
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Parse a decimal in [min, max]; 0 on success. */
int
ch_cfg_parse_uint(const char *s, unsigned int min, unsigned int max,
    unsigned int *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/*
 * Parse a limit "COUNT/SECONDS" (e.g. "10/60").  "off", or a count of 0,
 * lifts the limit.  0 on success.
 */
int
ch_cfg_parse_limit(const char *s, struct ch_limit *out)
{
	struct ch_limit l;
	const char *slash;
	char num[16];
	size_t n;

	if (strcmp(s, "off") == 0) {
		out->count = 0;
		out->seconds = 1;
		return 0;
	}
	if ((slash = strchr(s, '/')) == NULL)
		return -1;
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (ch_cfg_parse_uint(num, 0, 100000000, &l.count) != 0 ||
	    ch_cfg_parse_uint(slash + 1, 1, 31536000, &l.seconds) != 0)
		return -1;
	*out = l;
	return 0;
}

/*
 * Parse "HOST:PORT" (len bytes; HOST a name or an IPv4 address, or an
 * IPv6 address in brackets) into *out (host allocated).  0 on success.
 */
int
ch_cfg_parse_hostport(const char *s, size_t len, struct ch_hostport *out)
{
	const char *colon, *h = s, *he;
	char port[8];
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return -1;
	if (s[0] == '[') {
		if ((he = memchr(s, ']', len)) == NULL || he + 1 >= s + len ||
		    he[1] != ':')
			return -1;
		h = s + 1;
		colon = he + 1;
		for (i = 0; h + i < he; i++)
			if (h[i] == '\0' ||
			    strchr("0123456789abcdefABCDEF:.", h[i]) == NULL)
				return -1;
	} else {
		if ((colon = memchr(s, ':', len)) == NULL ||
		    memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) != NULL)
			return -1;
		he = colon;
		for (i = 0; h + i < he; i++)
			if (h[i] == '\0' || strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", h[i]) ==
			    NULL)
				return -1;
	}
	n = (size_t)(s + len - colon - 1);
	if (he == h || (size_t)(he - h) > 253 || n == 0 || n >= sizeof(port))
		return -1;
	memcpy(port, colon + 1, n);
	port[n] = '\0';
	if (ch_cfg_parse_uint(port, 1, 65535, &out->port) != 0)
		return -1;
	out->host = ch_xstrndup(h, (size_t)(he - h));
	return 0;
}

/* Whether this node is one of a replication group. */
int
ch_cfg_replicated(const struct ch_cfg *cfg)
{
	return cfg->listen.host != NULL;
}

/*
 * Check and parse the replication settings: with CHATR_REPL_LISTEN unset
 * nothing else of them may be set but the defaults; with it set, a
 * cluster secret of CFG_SECRET_MIN characters is needed.  The node URL
 * defaults to this node's lighttpd on the loopback.
 */
static int
cfg_repl(struct ch_cfg *cfg, char **cause)
{
	const char *p, *e;
	size_t n;

	cfg_untrail(cfg->node_url);
	if (cfg->node_url[0] == '\0') {
		free(cfg->node_url);
		cfg->node_url = ch_xprintf("http://127.0.0.1:%u", cfg->port);
	} else if (strncmp(cfg->node_url, "http://", 7) != 0 &&
	    strncmp(cfg->node_url, "https://", 8) != 0) {
		*cause = ch_xprintf("CHATR_NODE_URL must be an http:// or "
		    "https:// URL");
		return -1;
	}
	if (cfg->repl_listen[0] == '\0') {
		if (cfg->repl_peers[0] != '\0') {
			*cause = ch_xprintf("CHATR_REPL_PEERS needs "
			    "CHATR_REPL_LISTEN (this node's own address)");
			return -1;
		}
		return 0;
	}
	if (ch_cfg_parse_hostport(cfg->repl_listen, strlen(cfg->repl_listen),
	    &cfg->listen) != 0) {
		*cause = ch_xprintf("CHATR_REPL_LISTEN must be HOST:PORT "
		    "(got \"%s\")", cfg->repl_listen);
		return -1;
	}
	for (p = cfg->repl_peers; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		cfg->peers = ch_xreallocarray(cfg->peers, cfg->npeers + 1,
		    sizeof(*cfg->peers));
		if (ch_cfg_parse_hostport(p, n, &cfg->peers[cfg->npeers]) !=
		    0) {
			*cause = ch_xprintf("CHATR_REPL_PEERS must be a "
			    "comma-separated list of HOST:PORT (at \"%.*s\")",
			    (int)n, p);
			return -1;
		}
		cfg->npeers++;
	}
	if (strlen(cfg->cluster_secret) < CFG_SECRET_MIN) {
		*cause = ch_xprintf("CHATR_CLUSTER_SECRET must be set, of at "
		    "least %d characters, when CHATR_REPL_LISTEN is",
		    CFG_SECRET_MIN);
		return -1;
	}
	return 0;
}

/* Set one key from text; 0 on success, else -1 with *cause set. */
static int
cfg_set(struct ch_cfg *cfg, const struct cfg_key *k, const char *v,
    const char *where, char **cause)
{
	void *p = (char *)cfg + k->off;
	char **sp;

	switch (k->type) {
	case CFG_UINT:
		if (ch_cfg_parse_uint(v, k->min, k->max, p) != 0) {
			*cause = ch_xprintf("%s: %s must be a number from %u "
			    "to %u", where, k->name, k->min, k->max);
			return -1;
		}
		break;
	case CFG_STR:
	case CFG_SECRET:
		sp = p;
		if (*sp != NULL)
			ch_wipe(*sp, strlen(*sp));
		free(*sp);
		*sp = ch_xstrdup(v);
		break;
	case CFG_LIMIT:
		if (ch_cfg_parse_limit(v, p) != 0) {
			*cause = ch_xprintf("%s: %s must be COUNT/SECONDS "
			    "(like 10/60) or off", where, k->name);
			return -1;
		}
		break;
	case CFG_LEVEL:
		if (ch_log_parse_level(v, p) != 0) {
			*cause = ch_xprintf("%s: %s must be err, warn, info "
			    "or debug", where, k->name);
			return -1;
		}
		break;
	}
	return 0;
}

static const struct cfg_key *
cfg_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Trim white space at both ends of s, in place. */
static char *
cfg_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * Apply the text of a config file (len bytes, named path in messages) to
 * cfg: KEY = value lines, '#' comments, values optionally double-quoted,
 * lines of at most 4 KB, no NUL.  0 on success; else -1 with an allocated
 * *cause naming the file and line.
 */
int
ch_cfg_parse(struct ch_cfg *cfg, const char *text, size_t len,
    const char *path, char **cause)
{
	const struct cfg_key *k;
	char line[4096], where[PATH_MAX + 32], *s, *eq, *v;
	const char *p = text, *end = text + len, *nl;
	unsigned int n = 0;
	size_t ll;

	if (memchr(text, '\0', len) != NULL) {
		*cause = ch_xprintf("%s: a NUL byte in the file", path);
		return -1;
	}
	for (; p < end; p = nl + 1) {
		n++;
		snprintf(where, sizeof(where), "%s:%u", path, n);
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((ll = (size_t)(nl - p)) >= sizeof(line)) {
			*cause = ch_xprintf("%s: line too long", where);
			return -1;
		}
		memcpy(line, p, ll);
		line[ll] = '\0';
		s = cfg_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			*cause = ch_xprintf("%s: expected KEY = value", where);
			return -1;
		}
		*eq = '\0';
		s = cfg_trim(s);
		v = cfg_trim(eq + 1);
		ll = strlen(v);
		if (ll >= 2 && v[0] == '"' && v[ll - 1] == '"') {
			v[ll - 1] = '\0';
			v++;
		}
		if ((k = cfg_find(s)) == NULL) {
			*cause = ch_xprintf("%s: unknown key %s", where, s);
			return -1;
		}
		if (cfg_set(cfg, k, v, where, cause) != 0)
			return -1;
	}
	return 0;
}

/* Read the config file at path (at most 1 MB) and apply it. */
static int
cfg_file(struct ch_cfg *cfg, const char *path, char **cause)
{
	struct ch_buf b = {0};
	char chunk[8192];
	size_t n;
	FILE *f;
	int ret;

	if ((f = fopen(path, "r")) == NULL) {
		*cause = ch_xprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		ch_buf_add(&b, chunk, n);
		if (b.len > 1024 * 1024) {
			*cause = ch_xprintf("%s: larger than 1 MB", path);
			goto fail;
		}
	}
	if (ferror(f)) {
		*cause = ch_xprintf("%s: read error", path);
		goto fail;
	}
	fclose(f);
	ret = ch_cfg_parse(cfg, b.data != NULL ? b.data : "", b.len, path,
	    cause);
	ch_buf_free(&b);
	return ret;
fail:
	fclose(f);
	ch_buf_free(&b);
	return -1;
}

/* Strip trailing slashes from a URL setting. */
static void
cfg_untrail(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && s[len - 1] == '/')
		s[--len] = '\0';
}

/* Every setting at its default (ch_cfg_free frees them). */
void
ch_cfg_defaults(struct ch_cfg *cfg)
{
	char *cause = NULL;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < NKEYS; i++)
		if (cfg_set(cfg, &keys[i], keys[i].def, "default", &cause) != 0)
			ch_fatal("a bad default: %s", cause);
}

/* CHATR_TRUSTED_PROXIES and CHATR_METRICS_ALLOW, parsed. */
static int
cfg_nets(struct ch_cfg *cfg, char **cause)
{
	char *bad = NULL;

	if (ch_cidr_list(cfg->trusted_proxies, &cfg->proxies, &cfg->nproxies,
	    &bad) != 0) {
		*cause = ch_xprintf("CHATR_TRUSTED_PROXIES: \"%s\" is not an "
		    "address or a network", bad);
		free(bad);
		return -1;
	}
	if (ch_cidr_list(cfg->metrics_allow, &cfg->metrics_nets,
	    &cfg->nmetrics_nets, &bad) != 0) {
		*cause = ch_xprintf("CHATR_METRICS_ALLOW: \"%s\" is not an "
		    "address or a network", bad);
		free(bad);
		return -1;
	}
	return 0;
}

/*
 * Load the configuration into cfg: defaults, then the file (path, else
 * $CHATR_CONFIG, else SYSCONFDIR/chatr/chatr.conf when it exists), then the
 * environment.  0 on success; else -1 with an allocated *cause.
 */
int
ch_cfg_load(struct ch_cfg *cfg, const char *path, char **cause)
{
	const char *v;
	size_t i;

	ch_cfg_defaults(cfg);
	if (path == NULL && (path = getenv("CHATR_CONFIG")) != NULL &&
	    *path == '\0')
		path = NULL;
	if (path != NULL) {
		if (cfg_file(cfg, path, cause) != 0)
			goto fail;
	} else if (access(CH_SYSCONFDIR "/chatr/chatr.conf", F_OK) == 0) {
		if (cfg_file(cfg, CH_SYSCONFDIR "/chatr/chatr.conf", cause) != 0)
			goto fail;
	}
	for (i = 0; i < NKEYS; i++) {
		if ((v = getenv(keys[i].name)) == NULL || *v == '\0')
			continue;
		if (cfg_set(cfg, &keys[i], v, "environment", cause) != 0)
			goto fail;
	}
	if (cfg->var[0] == '\0') {
		*cause = ch_xprintf("CHATR_VAR must not be empty");
		goto fail;
	}
	cfg_untrail(cfg->public_url);
	cfg_untrail(cfg->moltbook_api);
	if (cfg->public_url[0] == '\0') {
		free(cfg->public_url);
		cfg->public_url = ch_xprintf("http://127.0.0.1:%u", cfg->port);
	}
	if (cfg_repl(cfg, cause) != 0 || cfg_nets(cfg, cause) != 0)
		goto fail;
	cfg->db_home = ch_xprintf("%s/db", cfg->var);
	cfg->msglog = ch_xprintf("%s/messages.log", cfg->var);
	cfg->msglock = ch_xprintf("%s/run/messages.lock", cfg->var);
	cfg->relay_socket = ch_xprintf("%s/run/relay.sock", cfg->var);
	ch_log_set_level(cfg->log_level);
	return 0;
fail:
	ch_cfg_free(cfg);
	return -1;
}

/* Free what ch_cfg_load allocated. */
void
ch_cfg_free(struct ch_cfg *cfg)
{
	size_t i;

	if (cfg->cluster_secret != NULL)
		ch_wipe(cfg->cluster_secret, strlen(cfg->cluster_secret));
	free(cfg->cluster_secret);
	free(cfg->repl_listen);
	free(cfg->repl_peers);
	free(cfg->node_url);
	free(cfg->listen.host);
	for (i = 0; i < cfg->npeers; i++)
		free(cfg->peers[i].host);
	free(cfg->peers);
	free(cfg->trusted_proxies);
	free(cfg->metrics_allow);
	free(cfg->proxies);
	free(cfg->metrics_nets);
	free(cfg->var);
	free(cfg->public_url);
	free(cfg->moltbook_api);
	free(cfg->db_home);
	free(cfg->msglog);
	free(cfg->msglock);
	free(cfg->relay_socket);
	memset(cfg, 0, sizeof(*cfg));
}

/* The settings as KEY = value lines: all, the secret as "(set)"; or (file)
 * as a config file that gives them back. */
static void
cfg_dump(const struct ch_cfg *cfg, struct ch_buf *b, int file)
{
	static const char *lv[] = {"err", "warn", "info", "debug"};
	const struct ch_limit *l;
	const void *p;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		p = (const char *)cfg + keys[i].off;
		switch (keys[i].type) {
		case CFG_UINT:
			ch_buf_addf(b, "%s = %u\n", keys[i].name,
			    *(const unsigned int *)p);
			break;
		case CFG_STR:
			if (!file || **(char *const *)p != '\0')
				ch_buf_addf(b, "%s = %s\n", keys[i].name,
				    *(char *const *)p);
			break;
		case CFG_SECRET:
			if (file && **(char *const *)p != '\0')
				ch_buf_addf(b, "%s = %s\n", keys[i].name,
				    *(char *const *)p);
			else if (!file)
				ch_buf_addf(b, "%s = %s\n", keys[i].name,
				    **(char *const *)p != '\0' ? "(set)" : "");
			break;
		case CFG_LIMIT:
			l = p;
			if (l->count == 0)
				ch_buf_addf(b, "%s = off\n", keys[i].name);
			else
				ch_buf_addf(b, "%s = %u/%u\n", keys[i].name,
				    l->count, l->seconds);
			break;
		case CFG_LEVEL:
			ch_buf_addf(b, "%s = %s\n", keys[i].name,
			    lv[*(const enum ch_log_level *)p]);
			break;
		}
	}
}

/* Append the effective settings as KEY = value lines (the secret as
 * "(set)"). */
void
ch_cfg_dump(const struct ch_cfg *cfg, struct ch_buf *b)
{
	cfg_dump(cfg, b, 0);
}

/*
 * Append the effective settings as a config file that gives them all
 * back: the secret itself, and no line for a string left empty.  (For a
 * file only its owner reads.)
 */
void
ch_cfg_write(const struct ch_cfg *cfg, struct ch_buf *b)
{
	cfg_dump(cfg, b, 1);
}
