/*
 * relay.h -- the SSE relay's modules.  From the bottom up:
 *
 *   frame.c    frames (one pre-formatted piece of the stream, shared by
 *              reference) and the ring of the newest messages
 *   request.c  parsers of what clients send
 *   hub.c      the messages: the new-message path, history, pages from
 *              the store for streams that are behind, stats
 *   tail.c     following the message log (feeds the hub)
 *   client.c   stream clients, each with a cursor into the messages
 *   main.c     setup and the loop
 *
 * Each module calls only those above it in this list.
 */
#ifndef RELAY_H
#define RELAY_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "chatr.h"
#include "loop.h"

#define RELAY_RING 1024		   /* newest messages kept in memory */
#define RELAY_PAGE 128		   /* messages read from the store at once */
#define RELAY_BACKLOG (1024 * 1024) /* queued bytes before a drop */
#define RELAY_REFILL (256 * 1024)  /* a stream that is behind is fed to this */
#define RELAY_REQUEST_MAX 8192	   /* request head */
#define RELAY_REQUEST_TIMEOUT 10000 /* ms to send the request head */
#define RELAY_KEEPALIVE 15000	   /* ms of silence before a comment */
#define RELAY_RETRY_MS 1000	   /* the stream's retry: field */
#define RELAY_PARK_MS 1500	   /* a stream over its address's limit waits */

/* frame.c */
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
int ring_drop(struct ring *, uint64_t);
void ring_clear(struct ring *);

/* request.c */
struct request {
	char method[16];
	char path[256];
	int resume;	     /* a Last-Event-ID (or ?lastEventId=) came */
	uint64_t after;	     /* ... naming this message */
	char addr[CH_ADDR_MAX]; /* X-Forwarded-For, when trusted; or "" */
	char before[512];	/* ... the entries before that one, or "" */
	int status;	     /* on failure: the answer */
	const char *error;
};
int request_parse(const char *, size_t, int, struct request *);
void request_cgi(struct request *);
int request_event_id(const char *, size_t, uint64_t *);

/* hub.c */
struct hub {
	struct ch_cfg cfg;
	struct ch_db db;
	struct ring ring;
	uint64_t last_id;	 /* newest message received */
	struct frame *history;	 /* cached history event of the newest */
	uint64_t history_from;	 /* ... covering these ids */
	uint64_t history_to;
	struct frame *stats;	 /* latest stats event */
	int64_t stats_at;	 /* monotonic ms it was read */
	struct frame *keepalive;
	struct frame **batch;	 /* frames to broadcast this turn */
	size_t nbatch, batchcap;
	unsigned int nclients;	 /* streams held */
	uint64_t delivered;	 /* messages received since start */
	uint64_t dropped;	 /* streams dropped for lagging */
	uint64_t paged;		 /* messages read from the store for streams */
	struct ch_relay_metrics m; /* for GET /metrics (relay_tick) */
	uint64_t deletes_seen;	 /* the newest deletion applied */
	uint64_t *doomed;	 /* deleted before they came: skip them */
	size_t ndoomed;
};
extern struct hub hub;
void hub_message(uint64_t, const char *, size_t);
int hub_deletes(uint64_t);
void hub_queue(struct frame *);
struct frame **hub_batch(size_t *);
void hub_batch_done(void);
uint64_t hub_history_start(void);
struct frame *hub_history(uint64_t, uint64_t);
int hub_page(uint64_t, uint64_t, struct frame **, size_t, size_t *);
int hub_fill(uint64_t);
struct frame *hub_stats_now(void);
int hub_stats_read(void);
void hub_free(void);

/* tail.c */
int tail_open(void);
void tail_check(void);
void tail_event(struct loop *, int, void *, int);
int tail_store_check(void);
void tail_close(void);

/* client.c */
struct listener {
	int fd;
	int trusted; /* X-Forwarded-For is believed (the front end's socket) */
};
void client_init(struct loop *, int);
void client_cgi(int, const struct request *);
unsigned int client_count(void);
void client_accept(struct loop *, int, void *, int);
void client_broadcast(struct frame **, size_t);
void client_tick(int64_t);
void client_reap(void);
void client_close_all(void);

#endif
