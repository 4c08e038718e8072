/*
 * relay.h -- the SSE relay's modules: frames and the message ring
 * (frame.c), stream clients (client.c), following the message log
 * (tail.c), and the daemon around them (main.c).
 */
#ifndef RELAY_H
#define RELAY_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "chatr.h"
#include "loop.h"

#define RELAY_RING 1024		   /* newest messages kept in memory */
#define RELAY_RESUME_MAX 1000	   /* messages replayed for Last-Event-ID */
#define RELAY_BACKLOG (1024 * 1024) /* queued bytes before a client is dropped */
#define RELAY_REQUEST_MAX 8192	   /* request head */
#define RELAY_REQUEST_TIMEOUT 10000 /* ms to send the request head */
#define RELAY_KEEPALIVE 15000	   /* ms of silence before a comment */
#define RELAY_RETRY_MS 3000	   /* the stream's retry: field */

/* frame.c: one pre-formatted piece of the stream, shared by reference. */
struct frame {
	unsigned int refs;
	uint64_t id;	  /* message id; 0 for other frames */
	size_t json_off;  /* the message object inside data */
	size_t json_len;
	size_t len;
	char data[];
};
struct frame *frame_raw(const char *, size_t);
struct frame *frame_message(uint64_t, const char *, size_t);
struct frame *frame_event(const char *, const char *, size_t);
struct frame *frame_history(struct frame **, size_t);
struct frame *frame_ref(struct frame *);
void frame_unref(struct frame *);

struct ring {
	struct frame *slot[RELAY_RING];
	uint64_t first; /* oldest id held; 0 when empty */
	uint64_t last;	/* newest id held */
};
void ring_put(struct ring *, struct frame *);
struct frame *ring_get(struct ring *, uint64_t);
void ring_clear(struct ring *);

/* The relay's state (main.c). */
struct relay {
	struct ch_cfg cfg;
	struct ch_db db;
	struct loop *loop;
	struct ring ring;
	uint64_t last_id;	 /* newest message delivered */
	struct frame *history;	 /* cached history of the newest messages */
	struct frame *stats;	 /* latest stats event */
	int64_t stats_at;	 /* monotonic ms it was read */
	struct frame *keepalive;
	int64_t last_send;	 /* monotonic ms of the last broadcast */
	struct frame **batch;	 /* frames to broadcast this iteration */
	size_t nbatch, batchcap;
	unsigned int nclients;	 /* streams held */
	uint64_t delivered;	 /* messages broadcast since start */
	uint64_t dropped;	 /* clients dropped for lagging */
};
extern struct relay relay;
void relay_message(uint64_t, const char *, size_t);
struct frame *relay_history(void);
int relay_resume(uint64_t, struct frame **);
struct frame *relay_stats_now(void);

/* client.c */
struct listener {
	int fd;
	int trusted; /* X-Forwarded-For is believed (lighttpd's socket) */
};
void client_init(void);
void client_accept(struct loop *, int, void *, int);
void client_broadcast(struct frame **, size_t);
void client_sweep(int64_t);
void client_reap(void);
void client_close_all(void);

/* tail.c */
int tail_open(void);
void tail_check(void);
void tail_event(struct loop *, int, void *, int);
int tail_store_check(void);
void tail_close(void);

#endif
