/*
 * loop.c -- the relay's event loop: epoll, one slot per descriptor, timers
 * on the monotonic clock, and a before-sleep hook.  Level-triggered: a
 * callback that leaves data unread is simply called again.  EPOLLERR and
 * EPOLLHUP count as readable and writable so the next read or write sees
 * the error.
 */
#include "config.h"

#include <sys/epoll.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"
#include "loop.h"

#define LOOP_TIMERS 16
#define LOOP_BATCH 512

struct loop_slot {
	int mask;
	loop_io_fn *rfn;
	loop_io_fn *wfn;
	void *arg;
};

struct loop_timer {
	int64_t when; /* 0: free */
	loop_timer_fn *fn;
	void *arg;
};

struct loop {
	int epfd;
	int size;
	struct loop_slot *slots;
	struct loop_timer timers[LOOP_TIMERS];
	loop_hook_fn *hook;
	void *hookarg;
	int stop;
	int64_t now;
	struct epoll_event events[LOOP_BATCH];
};

/* A loop for descriptors below size. */
struct loop *
loop_new(int size)
{
	struct loop *l;

	l = ch_xcalloc(1, sizeof(*l));
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(l);
		return NULL;
	}
	l->size = size;
	l->slots = ch_xcalloc((size_t)size, sizeof(*l->slots));
	l->now = ch_time_mono_ms();
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->slots);
	free(l);
}

static int
loop_ctl(struct loop *l, int fd, int op, int mask)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.fd = fd;
	if (mask & LOOP_READ)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (mask & LOOP_WRITE)
		ev.events |= EPOLLOUT;
	return epoll_ctl(l->epfd, op, fd, &ev);
}

/*
 * Watch fd for mask (LOOP_READ and/or LOOP_WRITE); rfn/wfn replace the
 * slot's callbacks when not NULL.  0 on success.
 */
int
loop_add(struct loop *l, int fd, int mask, loop_io_fn *rfn, loop_io_fn *wfn,
    void *arg)
{
	struct loop_slot *s;
	int nmask;

	if (fd < 0 || fd >= l->size) {
		errno = ERANGE;
		return -1;
	}
	s = &l->slots[fd];
	nmask = s->mask | mask;
	if (nmask != s->mask && loop_ctl(l, fd, s->mask == 0 ? EPOLL_CTL_ADD :
	    EPOLL_CTL_MOD, nmask) != 0)
		return -1;
	s->mask = nmask;
	if (rfn != NULL)
		s->rfn = rfn;
	if (wfn != NULL)
		s->wfn = wfn;
	s->arg = arg;
	return 0;
}

/* Stop watching fd for mask; the slot is freed when nothing is left. */
void
loop_del(struct loop *l, int fd, int mask)
{
	struct loop_slot *s;
	int nmask;

	if (fd < 0 || fd >= l->size)
		return;
	s = &l->slots[fd];
	if (s->mask == 0)
		return;
	nmask = s->mask & ~mask;
	if (nmask == 0) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		memset(s, 0, sizeof(*s));
	} else if (nmask != s->mask) {
		if (loop_ctl(l, fd, EPOLL_CTL_MOD, nmask) == 0)
			s->mask = nmask;
	}
}

/* What fd is watched for. */
int
loop_mask(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->size)
		return 0;
	return l->slots[fd].mask;
}

/* Run fn in ms milliseconds (and again as long as it asks). */
int
loop_timer(struct loop *l, int64_t ms, loop_timer_fn *fn, void *arg)
{
	int i;

	for (i = 0; i < LOOP_TIMERS; i++)
		if (l->timers[i].when == 0) {
			l->timers[i].when = ch_time_mono_ms() + ms;
			if (l->timers[i].when == 0)
				l->timers[i].when = 1;
			l->timers[i].fn = fn;
			l->timers[i].arg = arg;
			return 0;
		}
	return -1;
}

void
loop_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg)
{
	l->hook = fn;
	l->hookarg = arg;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* The monotonic time (ms) of the current iteration. */
int64_t
loop_now(struct loop *l)
{
	return l->now;
}

static int
loop_timeout(struct loop *l)
{
	int64_t next = -1, d;
	int i;

	for (i = 0; i < LOOP_TIMERS; i++) {
		if (l->timers[i].when == 0)
			continue;
		d = l->timers[i].when - l->now;
		if (d < 0)
			d = 0;
		if (next < 0 || d < next)
			next = d;
	}
	if (next > 60000)
		next = 60000;
	return (int)next;
}

static void
loop_run_timers(struct loop *l)
{
	struct loop_timer *t;
	int64_t again;
	int i;

	for (i = 0; i < LOOP_TIMERS; i++) {
		t = &l->timers[i];
		if (t->when == 0 || t->when > l->now)
			continue;
		again = t->fn(l, t->arg);
		if (again < 0)
			memset(t, 0, sizeof(*t));
		else
			t->when = ch_time_mono_ms() + again;
	}
}

/* Run until loop_stop(); 0 on a clean stop, -1 if epoll fails. */
int
loop_run(struct loop *l)
{
	struct loop_slot *s;
	uint32_t ev;
	int i, n, fd, rmask;

	while (!l->stop) {
		if (l->hook != NULL)
			l->hook(l, l->hookarg);
		if (l->stop)
			break;
		ch_watchdog_idle();
		n = epoll_wait(l->epfd, l->events, LOOP_BATCH, loop_timeout(l));
		ch_watchdog_busy();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		l->now = ch_time_mono_ms();
		for (i = 0; i < n; i++) {
			fd = l->events[i].data.fd;
			ev = l->events[i].events;
			s = &l->slots[fd];
			rmask = 0;
			if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
				rmask |= LOOP_READ;
			if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				rmask |= LOOP_WRITE;
			/* A callback may close fd: re-check the mask. */
			if ((rmask & LOOP_READ) && (s->mask & LOOP_READ) &&
			    s->rfn != NULL)
				s->rfn(l, fd, s->arg, LOOP_READ);
			if ((rmask & LOOP_WRITE) && (s->mask & LOOP_WRITE) &&
			    s->wfn != NULL)
				s->wfn(l, fd, s->arg, LOOP_WRITE);
		}
		loop_run_timers(l);
	}
	return 0;
}
