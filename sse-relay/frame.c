/*
 * frame.c -- frames: each new message is formatted once into
 *
 *	id: 42
 *	data: {"type":"message","data":{...}}
 *
 * and that one buffer, reference counted, is written to every client.
 * The ring keeps the newest RELAY_RING message frames for the history
 * event and for clients that resume with Last-Event-ID.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay.h"

static struct frame *
frame_alloc(size_t len)
{
	struct frame *f;

	f = ch_xmalloc(sizeof(*f) + len + 1);
	f->refs = 1;
	f->id = 0;
	f->json_off = f->json_len = 0;
	f->len = len;
	f->data[len] = '\0';
	return f;
}

/* A frame holding len bytes of s as they are. */
struct frame *
frame_raw(const char *s, size_t len)
{
	struct frame *f;

	f = frame_alloc(len);
	memcpy(f->data, s, len);
	return f;
}

/* The frame of message id, whose object is json (len bytes, one line). */
struct frame *
frame_message(uint64_t id, const char *json, size_t len)
{
	static const char mid[] = "data: {\"type\":\"message\",\"data\":";
	static const char tail[] = "}\n\n";
	struct frame *f;
	char head[32];
	int n;

	n = snprintf(head, sizeof(head), "id: %llu\n", (unsigned long long)id);
	f = frame_alloc((size_t)n + sizeof(mid) - 1 + len + sizeof(tail) - 1);
	memcpy(f->data, head, (size_t)n);
	memcpy(f->data + n, mid, sizeof(mid) - 1);
	f->json_off = (size_t)n + sizeof(mid) - 1;
	f->json_len = len;
	memcpy(f->data + f->json_off, json, len);
	memcpy(f->data + f->json_off + len, tail, sizeof(tail) - 1);
	f->id = id;
	return f;
}

/* An event without an id: data: {"type":"<type>","data":<json>} */
struct frame *
frame_event(const char *type, const char *json, size_t len)
{
	struct ch_buf b = {0};
	struct frame *f;

	ch_buf_addf(&b, "data: {\"type\":\"%s\",\"data\":", type);
	ch_buf_add(&b, json, len);
	ch_buf_adds(&b, "}\n\n");
	f = frame_raw(b.data, b.len);
	ch_buf_free(&b);
	return f;
}

/*
 * The history event of message frames msgs[0..n) (oldest first), with the
 * id of the newest so a client that reconnects resumes after it.
 */
struct frame *
frame_history(struct frame **msgs, size_t n)
{
	struct ch_buf b = {0};
	struct frame *f;
	size_t i;

	if (n > 0)
		ch_buf_addf(&b, "id: %llu\n",
		    (unsigned long long)msgs[n - 1]->id);
	ch_buf_adds(&b, "data: {\"type\":\"history\",\"data\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			ch_buf_add(&b, ",", 1);
		ch_buf_add(&b, msgs[i]->data + msgs[i]->json_off,
		    msgs[i]->json_len);
	}
	ch_buf_adds(&b, "]}\n\n");
	f = frame_raw(b.data, b.len);
	if (n > 0)
		f->id = msgs[n - 1]->id;
	ch_buf_free(&b);
	return f;
}

struct frame *
frame_ref(struct frame *f)
{
	f->refs++;
	return f;
}

void
frame_unref(struct frame *f)
{
	if (f != NULL && --f->refs == 0)
		free(f);
}

/*
 * Keep message frame f, newer than any held; the ring takes a reference
 * and holds ids in (last - RELAY_RING, last].
 */
void
ring_put(struct ring *r, struct frame *f)
{
	struct frame **slot = &r->slot[f->id % RELAY_RING];

	frame_unref(*slot);
	*slot = frame_ref(f);
	if (r->last == 0)
		r->first = f->id;
	r->last = f->id;
	if (r->last - r->first >= RELAY_RING)
		r->first = r->last - RELAY_RING + 1;
}

/* The frame of message id if the ring holds it (borrowed), else NULL. */
struct frame *
ring_get(struct ring *r, uint64_t id)
{
	struct frame *f;

	if (r->first == 0 || id < r->first || id > r->last)
		return NULL;
	f = r->slot[id % RELAY_RING];
	return f != NULL && f->id == id ? f : NULL;
}

/* Forget message id (deleted); 1 if the ring held it. */
int
ring_drop(struct ring *r, uint64_t id)
{
	struct frame **slot = &r->slot[id % RELAY_RING];

	if (ring_get(r, id) == NULL)
		return 0;
	frame_unref(*slot);
	*slot = NULL;
	return 1;
}

void
ring_clear(struct ring *r)
{
	size_t i;

	for (i = 0; i < RELAY_RING; i++) {
		frame_unref(r->slot[i]);
		r->slot[i] = NULL;
	}
	r->first = r->last = 0;
}
