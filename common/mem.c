/*
 * mem.c -- allocators that never return NULL, and a growable buffer.
 *
 * Running out of memory is fatal: the process logs it and exits, and
 * lighttpd (or ./run.sh) starts a fresh one.  Callers never check.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatr.h"

/* Allocate size bytes. */
void *
ch_xmalloc(size_t size)
{
	void *p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		ch_fatal("out of memory allocating %zu bytes", size);
	return p;
}

/* Allocate nmemb zeroed objects of size bytes. */
void *
ch_xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		ch_fatal("out of memory allocating %zu x %zu bytes", nmemb,
		    size);
	return p;
}

/* Resize p to nmemb objects of size bytes, checking for overflow. */
void *
ch_xreallocarray(void *p, size_t nmemb, size_t size)
{
	void *np;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if (nmemb > SIZE_MAX / size)
		ch_fatal("allocation of %zu x %zu bytes overflows", nmemb,
		    size);
	if ((np = realloc(p, nmemb * size)) == NULL)
		ch_fatal("out of memory allocating %zu x %zu bytes", nmemb,
		    size);
	return np;
}

/* Copy a string. */
char *
ch_xstrdup(const char *s)
{
	return ch_xstrndup(s, strlen(s));
}

/* Copy len bytes of s and terminate the copy. */
char *
ch_xstrndup(const char *s, size_t len)
{
	char *p;

	p = ch_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Format into a new string. */
char *
ch_xvprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	char *p;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		ch_fatal("bad format string \"%s\"", fmt);
	p = ch_xmalloc((size_t)n + 1);
	if (vsnprintf(p, (size_t)n + 1, fmt, ap) != n)
		ch_fatal("vsnprintf changed its mind");
	return p;
}

/* Format into a new string. */
char *
ch_xprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = ch_xvprintf(fmt, ap);
	va_end(ap);
	return p;
}

/* Clear memory that held a secret; the compiler may not drop this. */
void
ch_wipe(void *p, size_t len)
{
	volatile unsigned char *vp = p;

	while (len-- > 0)
		*vp++ = 0;
}

/* Make room for len more bytes plus a terminating NUL. */
static void
buf_grow(struct ch_buf *b, size_t len)
{
	size_t need;

	if (len > SIZE_MAX - b->len - 1)
		ch_fatal("buffer size overflows");
	need = b->len + len + 1;
	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < need)
		b->cap = b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
	b->data = ch_xreallocarray(b->data, b->cap, 1);
}

/* Append len bytes; the buffer stays NUL-terminated. */
void
ch_buf_add(struct ch_buf *b, const void *p, size_t len)
{
	buf_grow(b, len);
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/* Append a string. */
void
ch_buf_adds(struct ch_buf *b, const char *s)
{
	ch_buf_add(b, s, strlen(s));
}

/* Append formatted text. */
void
ch_buf_addf(struct ch_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		ch_fatal("bad format string \"%s\"", fmt);
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	if (vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap) != n)
		ch_fatal("vsnprintf changed its mind");
	va_end(ap);
	b->len += (size_t)n;
}

/* Empty the buffer but keep its memory. */
void
ch_buf_reset(struct ch_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Free the buffer's memory. */
void
ch_buf_free(struct ch_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
