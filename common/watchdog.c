/*
 * watchdog.c -- end a process that is stuck.
 *
 * When a process dies inside Berkeley DB, the store is recovered and gets
 * new regions.  A process that was at that moment blocked on a mutex the
 * dead one held stays asleep in the old, abandoned regions, where nothing
 * will ever wake it: a FastCGI program would then never answer again, and
 * the relay would stop streaming.
 *
 * The watchdog notices.  The program marks the stretches in which it works
 * (a request, one turn of the relay's loop) with ch_watchdog_busy() and the
 * waits for work with ch_watchdog_idle().  A thread of its own looks four
 * times a second.  A stretch that has lasted a second while the region file the
 * process joined was replaced (ch_watchdog_region) is stuck in that way,
 * and one that has lasted CHATR_WATCHDOG seconds is stuck in some other
 * way: the process writes why and exits, and chatrd starts a fresh one,
 * which joins the recovered store.  No chatr request legitimately works
 * for long: store operations take milliseconds, and the outbound call to
 * Moltbook (at most 13 s) is an idle stretch, made outside any
 * transaction.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatr.h"

#define WD_TICK_MS 250
#ifndef WD_REGION_MS
#define WD_REGION_MS 1000 /* busy this long: check the regions */
#endif

/* Shared with the watchdog's thread (atomic loads and stores). */
static int wd_busy;		/* in a stretch of work */
static int wd_seq;		/* which stretch */
static int64_t wd_open_until;	/* an open must end by then (0: none) */
static ino_t wd_ino;		/* the region file's inode as joined */
static unsigned int wd_limit;
static char wd_msg[256], wd_rmsg[256], wd_omsg[256];
static size_t wd_msglen, wd_rmsglen, wd_omsglen;
static char wd_region[4096];	/* the store's first region file */
static char wd_mark[4096];	/* made when the store is left for recovery */

#define LOAD(v) __atomic_load_n(&(v), __ATOMIC_ACQUIRE)
#define STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELEASE)

static int64_t
wd_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn))
wd_exit(const char *msg, size_t len)
{
	if (write(STDERR_FILENO, msg, len) < 0) {
		/* nothing more can be done */
	}
	_exit(CH_EXIT_STUCK);
}

/*
 * Leave the store for recovery: make the marker that tells the next
 * process to join it to recover it, say so, and exit at once.
 */
void
ch_watchdog_recover(void)
{
	int fd;

	if (wd_mark[0] != '\0' && (fd = open(wd_mark, O_WRONLY | O_CREAT |
	    O_CLOEXEC, 0600)) >= 0)
		close(fd);
	wd_exit(wd_omsg, wd_omsglen);
}

/* The watchdog's thread: looks four times a second. */
static void *
wd_run(void *arg)
{
	struct timespec tick = {0, WD_TICK_MS * 1000000L};
	int64_t now, since = 0, until;
	struct stat st;
	int seen = -1, seq;
	ino_t ino;

	(void)arg;
	for (;;) {
		nanosleep(&tick, NULL);
		now = wd_now();
		if ((until = LOAD(wd_open_until)) != 0 && now > until)
			ch_watchdog_recover();
		seq = LOAD(wd_seq);
		if (!LOAD(wd_busy) || seq != seen) {
			seen = seq;
			since = now;
		} else if (now - since >= (int64_t)wd_limit * 1000)
			wd_exit(wd_msg, wd_msglen);
		else if (now - since >= WD_REGION_MS &&
		    (ino = LOAD(wd_ino)) != 0 &&
		    (stat(wd_region, &st) != 0 || st.st_ino != ino))
			wd_exit(wd_rmsg, wd_rmsglen);
	}
	return NULL;
}

static size_t
wd_text(char *buf, size_t size, const char *why)
{
	int n;

	n = snprintf(buf, size, "%s[%ld] err watchdog: %s; exiting so that a "
	    "fresh process takes over\n", ch_log_prog(), (long)getpid(), why);
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

/*
 * Start the watchdog: a process busy for more than seconds in one stretch
 * exits with CH_EXIT_STUCK, and so does one busy for a second while the
 * store's regions it joined have been replaced (recovered).  0 turns it
 * off.  It is a thread of its own, never a signal, so that no system call
 * of the program (in libfcgi, Berkeley DB, libcurl) is ever interrupted.
 * If the thread cannot start the process runs without one, and says so.
 */
void
ch_watchdog_start(unsigned int seconds)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	char why[128];
	int ret;

	wd_limit = seconds;
	if (seconds == 0)
		return;
	snprintf(why, sizeof(why), "stuck for %u seconds in one request or "
	    "turn", seconds);
	wd_msglen = wd_text(wd_msg, sizeof(wd_msg), why);
	wd_rmsglen = wd_text(wd_rmsg, sizeof(wd_rmsg), "stuck in a store "
	    "that another process recovered");
	wd_omsglen = wd_text(wd_omsg, sizeof(wd_omsg), "the store is stuck "
	    "on a process that died inside it; it will be recovered");
	/* The thread takes no signal: they stay the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((ret = pthread_attr_init(&attr)) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		ret = pthread_create(&t, &attr, wd_run, NULL);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		ch_log_warn("watchdog: %s", strerror(ret));
}

/* The file whose existence asks the next opener to recover the store. */
void
ch_watchdog_mark(const char *path)
{
	snprintf(wd_mark, sizeof(wd_mark), "%s", path);
}

/*
 * An open of the store begins (ms > 0: it must end within ms, else the
 * process leaves the store for recovery, ch_watchdog_recover) or ends (0).
 */
void
ch_watchdog_opening(unsigned int ms)
{
	STORE(wd_open_until, ms == 0 ? 0 : wd_now() + ms);
}

/* The store's region file path, as joined (inode ino). */
void
ch_watchdog_region(const char *path, ino_t ino)
{
	STORE(wd_ino, 0);
	snprintf(wd_region, sizeof(wd_region), "%s", path);
	STORE(wd_ino, ino);
}

/* A stretch of work begins. */
void
ch_watchdog_busy(void)
{
	STORE(wd_seq, (LOAD(wd_seq) + 1) & 0x3fffffff);
	STORE(wd_busy, 1);
}

/* The process waits for work (or for an outside server): not stuck. */
void
ch_watchdog_idle(void)
{
	STORE(wd_busy, 0);
}
