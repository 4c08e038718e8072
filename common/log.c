/*
 * log.c -- one line per event on stderr:
 *
 *   2026-11-23T21:30:00.123Z chatr-register[1234] req=17 warn file.c:42: text
 *
 * lighttpd keeps the endpoints' stderr through server.breakagelog; the relay
 * writes the same format.  Control and non-ASCII bytes in the text are
 * escaped so no client can forge a log line.  Never log keys or bodies.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatr.h"

static const char *names[CH_LOG__MAX] = {"err", "warn", "info", "debug"};
static char prog[64] = "chatr";
static enum ch_log_level level = CH_LOG_INFO;
static unsigned long reqid;

/* Name the program in every line. */
void
ch_log_init(const char *name)
{
	const char *p;

	if ((p = strrchr(name, '/')) != NULL)
		name = p + 1;
	snprintf(prog, sizeof(prog), "%s", name);
}

/* The program's name, as every line shows it. */
const char *
ch_log_prog(void)
{
	return prog;
}

/* Drop events less severe than l. */
void
ch_log_set_level(enum ch_log_level l)
{
	level = l;
}

/* Parse a level name; 0 on success. */
int
ch_log_parse_level(const char *s, enum ch_log_level *out)
{
	int i;

	for (i = 0; i < CH_LOG__MAX; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum ch_log_level)i;
			return 0;
		}
	return -1;
}

/* Tag the following lines with a request number (0: none). */
void
ch_log_set_reqid(unsigned long id)
{
	reqid = id;
}

/*
 * Copy len bytes of src into dst (of size dstsz, always terminated),
 * escaping everything but printable ASCII as \xNN and backslash as \\.
 * Returns the length written.
 */
size_t
ch_log_escape(char *dst, size_t dstsz, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	if (dstsz == 0)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = (char)c;
		} else if (c == '\\') {
			if (o + 2 >= dstsz)
				break;
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			if (o + 4 >= dstsz)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return o;
}

static void log_vwrite(enum ch_log_level, const char *, int, const char *,
    va_list) CH_PRINTF(4, 0);

static void
log_vwrite(enum ch_log_level l, const char *file, int line, const char *fmt,
    va_list ap)
{
	char msg[1024], esc[2048], ts[32], out[2400];
	const char *p;
	int n, saved = errno;

	if ((p = strrchr(file, '/')) != NULL)
		file = p + 1;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(bad log format)");
	else if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	ch_log_escape(esc, sizeof(esc), msg, strlen(msg));
	if (ch_time_iso(ch_time_ms(), ts, sizeof(ts)) != 0)
		snprintf(ts, sizeof(ts), "-");
	if (reqid != 0)
		n = snprintf(out, sizeof(out), "%s %s[%ld] req=%lu %s %s:%d: %s\n",
		    ts, prog, (long)getpid(), reqid, names[l], file, line, esc);
	else
		n = snprintf(out, sizeof(out), "%s %s[%ld] %s %s:%d: %s\n", ts,
		    prog, (long)getpid(), names[l], file, line, esc);
	if (n > 0) {
		if ((size_t)n >= sizeof(out)) {
			n = sizeof(out) - 1;
			out[n - 1] = '\n';
		}
		/* One write, so lines from many processes never interleave. */
		if (write(STDERR_FILENO, out, (size_t)n) < 0) {
			/* Nowhere left to report it. */
		}
	}
	errno = saved;
}

/* Log one event at level l. */
void
ch_log_write(enum ch_log_level l, const char *file, int line, const char *fmt,
    ...)
{
	va_list ap;

	if (l > level)
		return;
	va_start(ap, fmt);
	log_vwrite(l, file, line, fmt, ap);
	va_end(ap);
}

/* Log an error and exit. */
void
ch_log_fatal(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(CH_LOG_ERR, file, line, fmt, ap);
	va_end(ap);
	exit(1);
}
