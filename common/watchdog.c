/*
 * watchdog.c -- end a process that is stuck.
 *
 * When a process dies inside Berkeley DB, the next process to join the
 * store runs recovery and builds new lock and cache regions.  A process
 * that was at that moment waiting for a lock or a mutex the dead one held
 * stays asleep on the old, abandoned region, where nothing will ever wake
 * it: a FastCGI program would then never answer again, and the relay would
 * stop streaming.
 *
 * The watchdog notices.  The program marks the stretches in which it works
 * (a request, one turn of the relay's loop) with ch_watchdog_busy() and the
 * waits for work with ch_watchdog_idle().  A timer looks every quarter of
 * the limit; when one stretch has lasted the limit, the process logs why
 * and exits, and lighttpd (or run.sh, for the relay) starts a fresh one,
 * which joins the recovered store.  No chatr request legitimately works for
 * long: store operations take milliseconds, and the outbound call to
 * Moltbook (at most 13 s) is an idle stretch, made outside any transaction.
 */
#include "config.h"

#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatr.h"

static volatile sig_atomic_t wd_busy;	/* in a stretch of work */
static volatile sig_atomic_t wd_seq;	/* which stretch */
static sig_atomic_t wd_seen = -1;	/* the stretch the timer last saw */
static time_t wd_since;			/* when the timer first saw it */
static unsigned int wd_limit;
static char wd_msg[256];
static size_t wd_msglen;

static time_t
wd_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return ts.tv_sec;
}

static void
wd_onalarm(int sig)
{
	int saved = errno;
	time_t now = wd_now();

	(void)sig;
	if (!wd_busy || wd_seq != wd_seen) {
		wd_seen = wd_seq;
		wd_since = now;
	} else if (now - wd_since >= (time_t)wd_limit) {
		if (write(STDERR_FILENO, wd_msg, wd_msglen) < 0) {
			/* nothing more can be done */
		}
		_exit(CH_EXIT_STUCK);
	}
	errno = saved;
}

/*
 * Start the watchdog: a process busy for more than seconds in one stretch
 * exits with CH_EXIT_STUCK.  0 turns it off.  If the timer cannot be set
 * the process runs without one, and says so.
 */
void
ch_watchdog_start(unsigned int seconds)
{
	struct sigaction sa;
	struct itimerval it;
	unsigned int tick;
	int n;

	wd_limit = seconds;
	if (seconds == 0)
		return;
	n = snprintf(wd_msg, sizeof(wd_msg), "%s[%ld] err watchdog: stuck "
	    "for %u seconds in one request or turn (waiting for a lock of a "
	    "process that died?); exiting so that a fresh process takes "
	    "over\n", ch_log_prog(), (long)getpid(), seconds);
	wd_msglen = n < 0 ? 0 : (size_t)n >= sizeof(wd_msg) ?
	    sizeof(wd_msg) - 1 : (size_t)n;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = wd_onalarm;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGALRM, &sa, NULL) != 0) {
		ch_log_warn("watchdog: sigaction: %s", strerror(errno));
		return;
	}
	tick = seconds / 4 > 0 ? seconds / 4 : 1;
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_sec = tick;
	it.it_value.tv_sec = tick;
	if (setitimer(ITIMER_REAL, &it, NULL) != 0)
		ch_log_warn("watchdog: setitimer: %s", strerror(errno));
}

/* A stretch of work begins. */
void
ch_watchdog_busy(void)
{
	wd_seq = (wd_seq + 1) & 0x3fffffff;
	wd_busy = 1;
}

/* The process waits for work (or for an outside server): not stuck. */
void
ch_watchdog_idle(void)
{
	wd_busy = 0;
}
