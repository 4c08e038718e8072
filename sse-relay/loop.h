/*
 * loop.h -- a small epoll event loop (after redis's ae): a slot per file
 * descriptor with read and write callbacks, monotonic timers, and a hook
 * run before each sleep.
 */
#ifndef LOOP_H
#define LOOP_H

#include <stdint.h>

#define LOOP_READ 0x01
#define LOOP_WRITE 0x02

struct loop;
typedef void loop_io_fn(struct loop *, int, void *, int);
/* A timer callback returns the delay to its next run in ms, or -1. */
typedef int64_t loop_timer_fn(struct loop *, void *);
typedef void loop_hook_fn(struct loop *, void *);

struct loop *loop_new(int);
void loop_free(struct loop *);
int loop_add(struct loop *, int, int, loop_io_fn *, loop_io_fn *, void *);
void loop_del(struct loop *, int, int);
int loop_mask(struct loop *, int);
int loop_timer(struct loop *, int64_t, loop_timer_fn *, void *);
void loop_before_sleep(struct loop *, loop_hook_fn *, void *);
void loop_stop(struct loop *);
int loop_run(struct loop *);
int64_t loop_now(struct loop *);

#endif
