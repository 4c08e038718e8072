/*
 * test-cfg.c -- unit tests of common/cfg.c: ch_cfg_parse_limit and
 * ch_cfg_parse_uint, and ch_cfg_load: the built-in defaults, a config file
 * (KEY = value, comments, quotes), $CHATR_CONFIG, the environment over
 * the file, the errors (naming file:line and key) and the derived paths.
 * Files are written in a temporary directory removed at the end; every
 * CHATR_* variable is cleared before each case.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"
#include "tap.h"
#include "tstore.h"

static char tmpdir[256];


/* Set an environment variable, failing the test if that fails. */
static void
set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0)
		CHECK(0, "setenv %s", name);
}

/*
 * Write text into the file name of the temporary directory; returns its
 * path (allocated) or NULL after a failed check.
 */
static char *
write_file(const char *name, const char *text)
{
	char *path;
	FILE *f;
	int bad;

	path = ch_xprintf("%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL) {
		CHECK(0, "cfg: create %s", path);
		free(path);
		return NULL;
	}
	bad = fputs(text, f) == EOF;
	if (fclose(f) != 0 || bad) {
		CHECK(0, "cfg: write %s", path);
		free(path);
		return NULL;
	}
	return path;
}

/* ch_cfg_parse_limit. */
static void
test_parse_limit(void)
{
	static const struct {
		const char *s;
		unsigned int count, seconds;
	} good[] = {
		{"10/60", 10, 60},
		{"1/300", 1, 300},
		{"5/3600", 5, 3600},
		{"0/5", 0, 5},
		{"100000/60", 100000, 60},
		{"100000000/31536000", 100000000, 31536000},
		{"007/010", 7, 10},
	};
	static const char *bad[] = {
		"10", "/60", "10/", "/", "", "a/b", "10/0", "-1/5", "10/-5",
		"10/60x", "x10/60", " 10/60", "10/60 ", "10 /60", "10/ 60",
		"+10/60", "10/+60", "10/60/60", "10.5/60", "10/6e1", "0x10/60",
		"100000001/60", "10/31536001", "99999999999999999999/60",
		"10/99999999999999999999", "Off", "OFF", "off ", "none",
		"12345678901234567/60",
	};
	struct ch_limit l;
	size_t i;
	int r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&l, 0xff, sizeof(l));
		r = ch_cfg_parse_limit(good[i].s, &l);
		CHECK(r == 0 && l.count == good[i].count &&
		    l.seconds == good[i].seconds,
		    "limit: \"%s\" is %u/%u (got %d, %u/%u)", good[i].s,
		    good[i].count, good[i].seconds, r, l.count, l.seconds);
	}
	memset(&l, 0xff, sizeof(l));
	r = ch_cfg_parse_limit("off", &l);
	CHECK(r == 0 && l.count == 0 && l.seconds >= 1,
	    "limit: \"off\" is no limit");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l.count = 123;
		l.seconds = 456;
		r = ch_cfg_parse_limit(bad[i], &l);
		CHECK(r == -1 && l.count == 123 && l.seconds == 456,
		    "limit: refuses \"%s\", *out untouched", bad[i]);
	}
}

/* ch_cfg_parse_uint. */
static void
test_parse_uint(void)
{
	static const struct {
		const char *s;
		unsigned int min, max;
		int ok;
		unsigned int v;
	} cases[] = {
		{"0", 0, 10, 1, 0},
		{"10", 0, 10, 1, 10},
		{"11", 0, 10, 0, 0},
		{"0", 1, 10, 0, 0},
		{"1", 1, 10, 1, 1},
		{"8080", 1, 65535, 1, 8080},
		{"65535", 1, 65535, 1, 65535},
		{"65536", 1, 65535, 0, 0},
		{"007", 0, 10, 1, 7},
		{"4294967295", 0, 4294967295u, 1, 4294967295u},
		{"4294967296", 0, 4294967295u, 0, 0},
		{"18446744073709551616", 0, 4294967295u, 0, 0},
		{"", 0, 10, 0, 0},
		{"-1", 0, 10, 0, 0},
		{"-0", 0, 10, 0, 0},
		{"+1", 0, 10, 0, 0},
		{" 1", 0, 10, 0, 0},
		{"1 ", 0, 10, 0, 0},
		{"1x", 0, 10, 0, 0},
		{"0x5", 0, 10, 0, 0},
		{"1.0", 0, 10, 0, 0},
		{"abc", 0, 10, 0, 0},
	};
	unsigned int v;
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 4242;
		r = ch_cfg_parse_uint(cases[i].s, cases[i].min, cases[i].max,
		    &v);
		if (cases[i].ok)
			CHECK(r == 0 && v == cases[i].v,
			    "uint: \"%s\" in [%u, %u] is %u", cases[i].s,
			    cases[i].min, cases[i].max, cases[i].v);
		else
			CHECK(r == -1 && v == 4242,
			    "uint: refuses \"%s\" for [%u, %u]", cases[i].s,
			    cases[i].min, cases[i].max);
	}
}

/* Check every default value in cfg. */
static void
check_defaults(const struct ch_cfg *cfg, const char *what)
{
	CHECK(cfg->port == 8080, "%s: port 8080", what);
	CHECK_STR(cfg->var, CH_LOCALSTATEDIR "/lib/chatr", "%s: var", what);
	CHECK_STR(cfg->public_url, "http://127.0.0.1:8080",
	    "%s: public URL from the port", what);
	CHECK_STR(cfg->moltbook_api, "https://www.moltbook.com/api/v1",
	    "%s: Moltbook API", what);
	CHECK(cfg->msg_verified.count == 10 && cfg->msg_verified.seconds == 60,
	    "%s: verified messages 10/60", what);
	CHECK(cfg->msg_unverified.count == 1 &&
	    cfg->msg_unverified.seconds == 300,
	    "%s: unverified messages 1/300", what);
	CHECK(cfg->register_ip.count == 5 && cfg->register_ip.seconds == 3600,
	    "%s: registrations 5/3600", what);
	CHECK(cfg->requests_ip.count == 120 && cfg->requests_ip.seconds == 60,
	    "%s: requests 120/60", what);
	CHECK(cfg->verify_agent.count == 10 &&
	    cfg->verify_agent.seconds == 3600,
	    "%s: verifications 10/3600", what);
	CHECK(cfg->streams_ip == 10, "%s: 10 streams per address", what);
	CHECK(cfg->streams_max == 20000, "%s: 20000 streams", what);
	CHECK(cfg->online_window == 1800, "%s: online window 1800", what);
	CHECK(cfg->stats_interval == 10, "%s: stats every 10 s", what);
	CHECK(cfg->db_cache_mb == 32, "%s: 32 MB cache", what);
	CHECK(cfg->log_level == CH_LOG_INFO, "%s: log level info", what);
	CHECK_STR(cfg->db_home, CH_LOCALSTATEDIR "/lib/chatr/db",
	    "%s: db home", what);
	CHECK_STR(cfg->msglog, CH_LOCALSTATEDIR "/lib/chatr/messages.log",
	    "%s: message log", what);
	CHECK_STR(cfg->msglock, CH_LOCALSTATEDIR "/lib/chatr/run/"
	    "messages.lock", "%s: message lock", what);
	CHECK_STR(cfg->relay_socket, CH_LOCALSTATEDIR "/lib/chatr/run/"
	    "relay.sock", "%s: relay socket", what);
}

/* Built-in defaults: an empty file, and no file at all. */
static void
test_defaults(void)
{
	struct ch_cfg cfg;
	char *path, *cause = NULL;
	int r;

	tstore_clear_env();
	if ((path = write_file("empty.conf", "")) == NULL)
		return;
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == 0, "defaults: an empty file loads");
	if (r == 0) {
		check_defaults(&cfg, "defaults");
		ch_cfg_free(&cfg);
	} else
		free(cause);

	if (access(CH_SYSCONFDIR "/chatr.conf", F_OK) == 0)
		CHECK(1, "# SKIP " CH_SYSCONFDIR "/chatr.conf exists");
	else {
		cause = NULL;
		r = ch_cfg_load(&cfg, NULL, &cause);
		CHECK(r == 0, "defaults: no file at all loads");
		if (r == 0) {
			CHECK(cfg.port == 8080 && cfg.online_window == 1800,
			    "defaults: no file, same defaults");
			ch_cfg_free(&cfg);
		} else
			free(cause);
	}
	/* CHATR_CONFIG set but empty means no file. */
	set_env("CHATR_CONFIG", "");
	if (access(CH_SYSCONFDIR "/chatr.conf", F_OK) != 0) {
		cause = NULL;
		r = ch_cfg_load(&cfg, NULL, &cause);
		CHECK(r == 0 && cfg.port == 8080,
		    "defaults: an empty CHATR_CONFIG is no file");
		if (r == 0)
			ch_cfg_free(&cfg);
		else
			free(cause);
	}
	tstore_clear_env();

	/* The public URL follows the port. */
	set_env("CHATR_PORT", "9000");
	cause = NULL;
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == 0, "defaults: CHATR_PORT=9000 loads");
	if (r == 0) {
		CHECK(cfg.port == 9000, "defaults: port 9000");
		CHECK_STR(cfg.public_url, "http://127.0.0.1:9000",
		    "defaults: the public URL follows the port");
		ch_cfg_free(&cfg);
	} else
		free(cause);
	tstore_clear_env();
	free(path);
}

/* A file with every kind of line. */
static void
test_file(void)
{
	struct ch_cfg cfg;
	struct ch_buf b;
	char *path, *cause = NULL;
	int r;

	tstore_clear_env();
	path = write_file("full.conf",
	    "# chatr configuration\n"
	    "\n"
	    "CHATR_PORT = 9090\n"
	    "  CHATR_VAR=\"/srv/my chatr\"   \n"
	    "\t# an indented comment\n"
	    "CHATR_PUBLIC_URL = \"https://chatr.example/\"\n"
	    "CHATR_MOLTBOOK_API = https://mb.example/api//\n"
	    "CHATR_LIMIT_MSG_VERIFIED = 20/30\n"
	    "CHATR_LIMIT_MSG_UNVERIFIED=2/600\n"
	    "CHATR_LIMIT_REGISTER_IP = off\n"
	    "CHATR_LIMIT_REQUESTS_IP = 0/5\n"
	    "CHATR_LIMIT_VERIFY\t=\t3/60\n"
	    "CHATR_LIMIT_STREAMS_IP = 0\n"
	    "CHATR_STREAMS_MAX = 500\n"
	    "CHATR_ONLINE_WINDOW = 600\r\n"
	    "CHATR_STATS_INTERVAL = 5\n"
	    "CHATR_DB_CACHE_MB = 64\n"
	    "   \t  \n"
	    "CHATR_LOG_LEVEL = warn\n"
	    "CHATR_LOG_LEVEL = \"debug\"");
	if (path == NULL)
		return;
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == 0, "file: loads");
	if (r != 0) {
		printf("#   cause: %s\n", cause);
		free(cause);
		free(path);
		return;
	}
	CHECK(cfg.port == 9090, "file: port");
	CHECK_STR(cfg.var, "/srv/my chatr", "file: quoted value with a space, "
	    "blanks around the line");
	CHECK_STR(cfg.public_url, "https://chatr.example",
	    "file: quoted URL, trailing slash stripped");
	CHECK_STR(cfg.moltbook_api, "https://mb.example/api",
	    "file: trailing slashes stripped from the Moltbook API");
	CHECK(cfg.msg_verified.count == 20 && cfg.msg_verified.seconds == 30,
	    "file: 20/30");
	CHECK(cfg.msg_unverified.count == 2 &&
	    cfg.msg_unverified.seconds == 600, "file: KEY=value without "
	    "spaces");
	CHECK(cfg.register_ip.count == 0, "file: off");
	CHECK(cfg.requests_ip.count == 0, "file: 0/5 is off");
	CHECK(cfg.verify_agent.count == 3 && cfg.verify_agent.seconds == 60,
	    "file: tabs around =");
	CHECK(cfg.streams_ip == 0 && cfg.streams_max == 500,
	    "file: stream limits");
	CHECK(cfg.online_window == 600, "file: a CR LF line");
	CHECK(cfg.stats_interval == 5 && cfg.db_cache_mb == 64,
	    "file: stats interval and cache");
	CHECK(cfg.log_level == CH_LOG_DEBUG, "file: the last of two settings "
	    "wins, on a last line without newline");
	CHECK_STR(cfg.db_home, "/srv/my chatr/db", "file: db home from var");
	CHECK_STR(cfg.relay_socket, "/srv/my chatr/run/relay.sock",
	    "file: relay socket from var");

	memset(&b, 0, sizeof(b));
	ch_cfg_dump(&cfg, &b);
	CHECK(b.data != NULL && strstr(b.data, "CHATR_PORT = 9090\n") != NULL,
	    "dump: the port");
	CHECK(b.data != NULL && strstr(b.data, "CHATR_LIMIT_REGISTER_IP = "
	    "off\n") != NULL, "dump: a limit that is off");
	CHECK(b.data != NULL && strstr(b.data, "CHATR_LIMIT_MSG_VERIFIED = "
	    "20/30\n") != NULL, "dump: a limit");
	CHECK(b.data != NULL && strstr(b.data, "CHATR_LOG_LEVEL = debug\n") !=
	    NULL, "dump: the log level");
	ch_buf_free(&b);
	ch_cfg_free(&cfg);
	ch_log_set_level(CH_LOG_INFO);

	/* The same file through $CHATR_CONFIG. */
	set_env("CHATR_CONFIG", path);
	cause = NULL;
	r = ch_cfg_load(&cfg, NULL, &cause);
	CHECK(r == 0 && cfg.port == 9090 && cfg.online_window == 600,
	    "file: found through CHATR_CONFIG");
	if (r == 0)
		ch_cfg_free(&cfg);
	else
		free(cause);
	tstore_clear_env();
	ch_log_set_level(CH_LOG_INFO);
	free(path);
}

/* The environment overrides the file. */
static void
test_env(void)
{
	struct ch_cfg cfg;
	char *path, *other, *cause = NULL;
	int r;

	tstore_clear_env();
	path = write_file("env.conf",
	    "CHATR_PORT = 9090\n"
	    "CHATR_ONLINE_WINDOW = 600\n"
	    "CHATR_LIMIT_MSG_VERIFIED = 20/30\n"
	    "CHATR_VAR = /srv/file\n");
	other = write_file("other.conf", "CHATR_PORT = 7070\n");
	if (path == NULL || other == NULL) {
		free(path);
		free(other);
		return;
	}
	set_env("CHATR_PORT", "9191");
	set_env("CHATR_LIMIT_MSG_VERIFIED", "off");
	set_env("CHATR_ONLINE_WINDOW", "");
	set_env("CHATR_PUBLIC_URL", "https://x.example///");
	set_env("CHATR_VAR", "/srv/env");
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == 0, "env: loads");
	if (r == 0) {
		CHECK(cfg.port == 9191, "env: CHATR_PORT beats the file");
		CHECK(cfg.msg_verified.count == 0,
		    "env: CHATR_LIMIT_MSG_VERIFIED=off beats the file");
		CHECK(cfg.online_window == 600,
		    "env: an empty variable leaves the file's value");
		CHECK_STR(cfg.public_url, "https://x.example",
		    "env: trailing slashes stripped from CHATR_PUBLIC_URL");
		CHECK_STR(cfg.var, "/srv/env", "env: CHATR_VAR beats the file");
		CHECK_STR(cfg.msglog, "/srv/env/messages.log",
		    "env: message log from var");
		CHECK(cfg.msg_unverified.count == 1 &&
		    cfg.msg_unverified.seconds == 300,
		    "env: the rest keeps its default");
		ch_cfg_free(&cfg);
	} else
		free(cause);
	tstore_clear_env();

	/* An explicit path beats $CHATR_CONFIG. */
	set_env("CHATR_CONFIG", other);
	cause = NULL;
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == 0 && cfg.port == 9090,
	    "env: the path argument beats CHATR_CONFIG");
	if (r == 0)
		ch_cfg_free(&cfg);
	else
		free(cause);
	tstore_clear_env();

	/* A URL of slashes only falls back to the default. */
	set_env("CHATR_PUBLIC_URL", "/");
	cause = NULL;
	r = ch_cfg_load(&cfg, other, &cause);
	CHECK(r == 0, "env: CHATR_PUBLIC_URL=/ loads");
	if (r == 0) {
		CHECK_STR(cfg.public_url, "http://127.0.0.1:7070",
		    "env: CHATR_PUBLIC_URL=/ gives the default URL");
		ch_cfg_free(&cfg);
	} else
		free(cause);
	tstore_clear_env();
	free(path);
	free(other);
}

/*
 * Load a file made of text (or the environment variable name=value over
 * an empty file when name is not NULL) expecting -1 and the cause want;
 * a leading "%s" in want stands for the file's path.
 */
static void
load_bad(const char *text, const char *name, const char *value,
    const char *want, const char *what)
{
	struct ch_cfg cfg;
	char *path, *cause = NULL, *w;
	int r;

	tstore_clear_env();
	if ((path = write_file("bad.conf", text)) == NULL)
		return;
	if (name != NULL)
		set_env(name, value);
	memset(&cfg, 0x5a, sizeof(cfg));
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == -1 && cause != NULL, "errors: refuses %s", what);
	if (r == 0)
		ch_cfg_free(&cfg);
	CHECK(r != -1 || (cfg.var == NULL && cfg.public_url == NULL &&
	    cfg.db_home == NULL), "errors: cfg cleared after %s", what);
	if (strncmp(want, "%s", 2) == 0)
		w = ch_xprintf("%s%s", path, want + 2);
	else
		w = ch_xstrdup(want);
	CHECK_STR(cause, w, "errors: cause for %s", what);
	free(w);
	free(cause);
	free(path);
	tstore_clear_env();
}

/* Errors: -1 and a cause that says where and what. */
static void
test_errors(void)
{
	struct ch_cfg cfg;
	char *path, *cause, *line;
	int r;

	load_bad("# ok\nCHATR_PORT = 8081\nCHATR_NOPE = 1\n", NULL, NULL,
	    "%s:3: unknown key CHATR_NOPE", "an unknown key");
	load_bad("chatr_port = 1\n", NULL, NULL,
	    "%s:1: unknown key chatr_port", "a lower-case key");
	load_bad("\n\nCHATR_PORT = 0\n", NULL, NULL,
	    "%s:3: CHATR_PORT must be a number from 1 to 65535", "port 0");
	load_bad("CHATR_PORT = 70000\n", NULL, NULL,
	    "%s:1: CHATR_PORT must be a number from 1 to 65535",
	    "port 70000");
	load_bad("CHATR_PORT = eighty\n", NULL, NULL,
	    "%s:1: CHATR_PORT must be a number from 1 to 65535",
	    "a port in words");
	load_bad("CHATR_PORT =\n", NULL, NULL,
	    "%s:1: CHATR_PORT must be a number from 1 to 65535",
	    "an empty port");
	load_bad("CHATR_ONLINE_WINDOW = 0\n", NULL, NULL,
	    "%s:1: CHATR_ONLINE_WINDOW must be a number from 1 to 31536000",
	    "an online window of 0");
	load_bad("CHATR_LIMIT_MSG_VERIFIED = 10\n", NULL, NULL,
	    "%s:1: CHATR_LIMIT_MSG_VERIFIED must be COUNT/SECONDS (like "
	    "10/60) or off", "a limit without seconds");
	load_bad("CHATR_LIMIT_REGISTER_IP = 10/0\n", NULL, NULL,
	    "%s:1: CHATR_LIMIT_REGISTER_IP must be COUNT/SECONDS (like "
	    "10/60) or off", "a limit of 0 seconds");
	load_bad("CHATR_LOG_LEVEL = loud\n", NULL, NULL,
	    "%s:1: CHATR_LOG_LEVEL must be err, warn, info or debug",
	    "an unknown log level");
	load_bad("CHATR_PORT 8080\n", NULL, NULL,
	    "%s:1: expected KEY = value", "a line without =");
	load_bad("CHATR_VAR = \"\"\n", NULL, NULL,
	    "CHATR_VAR must not be empty", "an empty CHATR_VAR");
	load_bad("", "CHATR_PORT", "abc",
	    "environment: CHATR_PORT must be a number from 1 to 65535",
	    "a bad CHATR_PORT in the environment");
	load_bad("", "CHATR_LIMIT_REQUESTS_IP", "10/60x",
	    "environment: CHATR_LIMIT_REQUESTS_IP must be COUNT/SECONDS (like "
	    "10/60) or off", "a bad limit in the environment");
	load_bad("CHATR_PORT = 1\n", "CHATR_STATS_INTERVAL", "0",
	    "environment: CHATR_STATS_INTERVAL must be a number from 1 to "
	    "86400", "a stats interval of 0 in the environment");

	/* A line too long to read. */
	line = ch_xmalloc(5002);
	memset(line, 'x', 5000);
	memcpy(line, "CHATR_VAR = ", 12);
	line[5000] = '\n';
	line[5001] = '\0';
	load_bad(line, NULL, NULL, "%s:1: line too long", "a 5000-byte line");
	free(line);

	/* A file that does not exist. */
	tstore_clear_env();
	path = ch_xprintf("%s/missing.conf", tmpdir);
	cause = NULL;
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == -1 && cause != NULL && strstr(cause, path) != NULL,
	    "errors: a missing file, named in the cause");
	if (r == 0)
		ch_cfg_free(&cfg);
	free(cause);
	set_env("CHATR_CONFIG", path);
	cause = NULL;
	r = ch_cfg_load(&cfg, NULL, &cause);
	CHECK(r == -1 && cause != NULL && strstr(cause, path) != NULL,
	    "errors: a missing CHATR_CONFIG file, named in the cause");
	if (r == 0)
		ch_cfg_free(&cfg);
	free(cause);
	tstore_clear_env();
	free(path);
}

/* Remove the temporary directory and what is in it. */
/* The replication settings: HOST:PORT parsing, the peers, the secret. */
static void
test_repl(void)
{
	static const struct {
		const char *s;
		const char *host;
		unsigned int port;
	} good[] = {
		{"127.0.0.1:7001", "127.0.0.1", 7001},
		{"node-2.example.org:65535", "node-2.example.org", 65535},
		{"[::1]:1", "::1", 1},
		{"[fe80::1:2]:8080", "fe80::1:2", 8080},
	};
	static const char *bad[] = {
		"", ":", "host", "host:", ":7001", "host:0", "host:65536",
		"host:7001x", "host:-1", "ho st:7001", "::1:7001", "[::1]7001",
		"[::1:7001", "[zz]:7001", "host:7001:1", "h\x01:7001",
		"host:+7001", "host:00000007001",
	};
	/* with NUL bytes in the host (the fuzzer found them let through) */
	static const char nul4[] = "a\0b:7001", nul6[] = "[\0\0::1]:7001";
	struct ch_hostport hp;
	struct ch_cfg cfg;
	struct ch_buf b = {0};
	char *path, *cause = NULL;
	size_t i;
	int r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = ch_cfg_parse_hostport(good[i].s, strlen(good[i].s), &hp);
		CHECK(r == 0 && hp.host != NULL &&
		    strcmp(hp.host, good[i].host) == 0 &&
		    hp.port == good[i].port, "repl: \"%s\" is %s port %u",
		    good[i].s, good[i].host, good[i].port);
		free(hp.host);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ch_cfg_parse_hostport(bad[i], strlen(bad[i]), &hp);
		CHECK(r == -1 && hp.host == NULL, "repl: \"%s\" refused",
		    bad[i]);
		free(hp.host);
	}

	r = ch_cfg_parse_hostport(nul4, sizeof(nul4) - 1, &hp);
	CHECK(r == -1 && hp.host == NULL, "repl: a NUL in a host name refused");
	r = ch_cfg_parse_hostport(nul6, sizeof(nul6) - 1, &hp);
	CHECK(r == -1 && hp.host == NULL, "repl: a NUL in an IPv6 host refused");

	tstore_clear_env();
	if ((path = write_file("other.conf", "CHATR_PORT = 9001\n")) == NULL)
		return;
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == 0 && !ch_cfg_replicated(&cfg) && cfg.npeers == 0 &&
	    cfg.repl_priority == 100 &&
	    strcmp(cfg.node_url, "http://127.0.0.1:9001") == 0,
	    "repl: none set is a single node, its URL on the loopback");
	if (r == 0)
		ch_cfg_free(&cfg);
	free(cause);
	cause = NULL;

	set_env("CHATR_REPL_LISTEN", "127.0.0.1:7001");
	set_env("CHATR_REPL_PEERS", " 127.0.0.1:7002 ,,[::1]:7003,");
	set_env("CHATR_REPL_PRIORITY", "0");
	set_env("CHATR_NODE_URL", "http://10.0.0.1:8081/");
	set_env("CHATR_CLUSTER_SECRET", "0123456789abcdef-secret");
	r = ch_cfg_load(&cfg, path, &cause);
	CHECK(r == 0 && ch_cfg_replicated(&cfg) &&
	    strcmp(cfg.listen.host, "127.0.0.1") == 0 &&
	    cfg.listen.port == 7001 && cfg.npeers == 2 &&
	    strcmp(cfg.peers[0].host, "127.0.0.1") == 0 &&
	    cfg.peers[0].port == 7002 && strcmp(cfg.peers[1].host, "::1") == 0 &&
	    cfg.peers[1].port == 7003 && cfg.repl_priority == 0 &&
	    strcmp(cfg.node_url, "http://10.0.0.1:8081") == 0,
	    "repl: listen, two peers, priority 0, the node URL (%s)",
	    cause ? cause : "ok");
	if (r == 0) {
		ch_cfg_dump(&cfg, &b);
		CHECK(b.data != NULL && strstr(b.data, "secret") == NULL &&
		    strstr(b.data, "CHATR_CLUSTER_SECRET = (set)\n") != NULL,
		    "repl: the dump shows that the secret is set, not the "
		    "secret");
		ch_buf_free(&b);
		ch_cfg_free(&cfg);
	}
	free(cause);
	cause = NULL;
	free(path);
	tstore_clear_env();

	load_bad("CHATR_REPL_PEERS = 127.0.0.1:7002\n", NULL, NULL,
	    "CHATR_REPL_PEERS needs CHATR_REPL_LISTEN (this node's own "
	    "address)", "peers without a listen address");
	load_bad("CHATR_REPL_LISTEN = 127.0.0.1\n", NULL, NULL,
	    "CHATR_REPL_LISTEN must be HOST:PORT (got \"127.0.0.1\")",
	    "a listen address without a port");
	load_bad("CHATR_REPL_LISTEN = 127.0.0.1:7001\n"
	    "CHATR_CLUSTER_SECRET = 0123456789abcdef\n",
	    "CHATR_REPL_PEERS", "127.0.0.1:7002,nope",
	    "CHATR_REPL_PEERS must be a comma-separated list of HOST:PORT "
	    "(at \"nope\")", "a bad peer");
	load_bad("CHATR_REPL_LISTEN = 127.0.0.1:7001\n"
	    "CHATR_CLUSTER_SECRET = short\n", NULL, NULL,
	    "CHATR_CLUSTER_SECRET must be set, of at least 16 characters, "
	    "when CHATR_REPL_LISTEN is", "a short secret");
	load_bad("CHATR_NODE_URL = ftp://x\n", NULL, NULL,
	    "CHATR_NODE_URL must be an http:// or https:// URL",
	    "a node URL that is not http");
}

static void
cleanup(void)
{
	static const char *files[] = {
		"empty.conf", "full.conf", "env.conf", "other.conf", "bad.conf",
	};
	char *p;
	size_t i;
	int r;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = ch_xprintf("%s/%s", tmpdir, files[i]);
		(void)unlink(p);
		free(p);
	}
	r = rmdir(tmpdir);
	CHECK(r == 0, "cleanup: temporary directory removed");
}

/* Run every case and print the TAP plan; 0 if all passed. */
int
main(void)
{
	const char *t;

	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-cfg.XXXXXX", t);
	if (mkdtemp(tmpdir) == NULL) {
		CHECK(0, "mkdtemp %s", tmpdir);
		return tap_done();
	}
	test_parse_limit();
	test_parse_uint();
	test_defaults();
	test_file();
	test_env();
	test_errors();
	test_repl();
	cleanup();
	return tap_done();
}
