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
 * times a second.  A stretch that has lasted a second while the region
 * file the process joined was replaced (ch_watchdog_region) is stuck in
 * that way, and one that has lasted CHATR_WATCHDOG seconds is stuck in
 * some other way: the process writes why and exits, and chatrd starts a
 * fresh one, which joins the recovered store.  No chatr request
 * legitimately works for long: store operations take milliseconds, and
 * the outbound call to Moltbook (at most 13 s) is an idle stretch, made
 * outside any transaction.
 *
 * Joining the store is watched as well (ch_watchdog_opening): a join that
 * stands still, asleep on a mutex of a process that died, is given up
 * and the store left for recovery (ch_watchdog_recover).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
static unsigned int wd_open_ms;	/* an open may stand still this long */
static int wd_open_seq;		/* which open */
static clockid_t wd_cpu;	/* the main thread's CPU clock */
static int wd_cpu_ok;
static char wd_registry[4096];	/* the store's registry of processes */
static ino_t wd_ino;		/* the region file's inode as joined */
static unsigned int wd_limit;
static char wd_msg[256], wd_rmsg[256], wd_omsg[256];
static size_t wd_msglen, wd_rmsglen, wd_omsglen;
static char wd_region[4096];	/* the store's first region file */
static char wd_mark[4096];	/* made when the store is left for recovery */

/* The thread itself, and how ch_watchdog_stop() ends it. */
static pthread_t wd_thread;
static int wd_running;
static int wd_stopping;		/* under wd_lock */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_wake;

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

/* Wait a tick, or until ch_watchdog_stop(); 0 when it is time to stop. */
static int
wd_tick(void)
{
	struct timespec at;
	int stop;

	if (clock_gettime(CLOCK_MONOTONIC, &at) != 0)
		return 1; /* no clock: nothing to time either */
	at.tv_nsec += WD_TICK_MS * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&wd_lock);
	while (!wd_stopping &&
	    pthread_cond_timedwait(&wd_wake, &wd_lock, &at) != ETIMEDOUT)
		;
	stop = wd_stopping;
	pthread_mutex_unlock(&wd_lock);
	return !stop;
}

/* The main thread's CPU time in µs (-1: unknown). */
static int64_t
wd_cputime(void)
{
	struct timespec ts;

	if (!wd_cpu_ok || clock_gettime(wd_cpu, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Look at the store's registry (DB_REGISTER's __db.register: one line of
 * WD_SLOT bytes per process that joined, its pid, or 'X' when free; each
 * process holds an fcntl lock on the first byte of its line, and an opener
 * holds byte 1 while it registers, and through a failchk).  Sets *holder
 * to the other process holding byte 1, if any: this opener waits its turn
 * behind it.  Returns 1 when a process died in the store (a line that is
 * filled but not locked, Berkeley DB's own test), else 0.
 *
 * The locks are read from /proc/locks.  The file is read through a
 * descriptor kept open for good: closing one would drop this process's
 * own lock of its line (fcntl locks belong to the process, and end with
 * any of its descriptors of the file).
 */
#define WD_SLOT 25
#define WD_SLOTS 4096

static int
wd_registry_scan(long *holder)
{
	static int fd = -1;
	static unsigned char locked[WD_SLOTS / 8];
	char line[256], dev[64], id[64], kind[16], mode[16], type[16];
	char buf[WD_SLOT], end[32];
	unsigned long long start;
	struct stat st, fst;
	size_t k, nslots;
	ssize_t n;
	long pid;
	FILE *fp;

	*holder = 0;
	if (wd_registry[0] == '\0' || stat(wd_registry, &st) != 0)
		return 0;
	/* A registry made anew (the store removed and created again) is
	 * read anew: no lock of this process is on the old file. */
	if (fd >= 0 && (fstat(fd, &fst) != 0 || fst.st_ino != st.st_ino ||
	    fst.st_dev != st.st_dev)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 && (fd = open(wd_registry, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	snprintf(dev, sizeof(dev), "%02x:%02x:%llu", major(st.st_dev),
	    minor(st.st_dev), (unsigned long long)st.st_ino);
	if ((fp = fopen("/proc/locks", "re")) == NULL)
		return 0;
	memset(locked, 0, sizeof(locked));
	while (fgets(line, sizeof(line), fp) != NULL) {
		/* "1: POSIX  ADVISORY  WRITE 1234 08:01:56789 1 1"; a waiter's
		 * line has "->" after the number, and fails the match. */
		if (sscanf(line, "%*d: %15s %15s %15s %ld %63s %llu %31s", kind,
		    mode, type, &pid, id, &start, end) != 7 ||
		    strcmp(kind, "POSIX") != 0 || strcmp(id, dev) != 0)
			continue;
		if (start == 1 && pid != (long)getpid())
			*holder = pid;
		if (start % WD_SLOT == 0 && start / WD_SLOT < WD_SLOTS)
			locked[start / WD_SLOT / 8] |= 1 << (start / WD_SLOT % 8);
	}
	fclose(fp);
	nslots = (size_t)st.st_size / WD_SLOT;
	if (nslots > WD_SLOTS)
		nslots = WD_SLOTS;
	for (k = 0; k < nslots; k++) {
		n = pread(fd, buf, WD_SLOT, (off_t)(k * WD_SLOT));
		if (n != WD_SLOT)
			break;
		if (buf[0] != 'X' && !(locked[k / 8] & (1 << (k % 8))))
			return 1;
	}
	return 0;
}

/* Process pid's CPU time in clock ticks (-1: unknown). */
static long long
wd_proc_cpu(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* pid (comm) state ppid ... utime stime: fields 14 and 15; comm may
	 * hold anything, so count from its last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

/* The watchdog's thread: looks four times a second. */
static void *
wd_run(void *arg)
{
	int64_t now, since = 0, quiet = 0, last = 0, cpu, was = -1;
	long long hcpu = -1, c;
	long holder = 0, h;
	unsigned int open_ms;
	struct stat st;
	int seen = -1, seq, opening = -1, oseq;
	ino_t ino;

	(void)arg;
	while (wd_tick()) {
		now = wd_now();
		/*
		 * An open is stuck when a process died in the store and the
		 * open has stood still for open_ms since: its thread used
		 * under 1 % of a core, and so did the process it waits
		 * behind, if it waits its turn to register.  It is asleep on
		 * a mutex that the dead process holds, or queued behind a
		 * process that is.  A slow open on a busy machine is not
		 * stuck.  (Without a CPU clock, its own use is not known.)
		 */
		oseq = LOAD(wd_open_seq);
		if ((open_ms = LOAD(wd_open_ms)) == 0) {
			opening = -1;
		} else {
			cpu = wd_cputime();
			if (oseq != opening || (cpu >= 0 && was >= 0 &&
			    (cpu - was) * 100 >= (now - last) * 1000)) {
				quiet = now;
				holder = 0;
			} else if (!wd_registry_scan(&h)) {
				/* nothing died: slow, not stuck */
				quiet = now;
			} else if (h != 0 && h != holder) {
				/* queued behind another opener: give it time */
				holder = h;
				hcpu = wd_proc_cpu(h);
				quiet = now;
			} else if (h != 0 && (c = wd_proc_cpu(h)) > hcpu) {
				/* which works (10 ms of CPU at least) */
				hcpu = c;
				quiet = now;
			} else if (now - quiet >= (int64_t)open_ms)
				ch_watchdog_recover();
			opening = oseq;
			was = cpu;
			last = now;
		}
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
	pthread_condattr_t cattr;
	pthread_attr_t attr;
	sigset_t all, old;
	char why[128];
	int ret;

	wd_limit = seconds;
	if (seconds == 0 || wd_running)
		return;
	wd_cpu_ok = pthread_getcpuclockid(pthread_self(), &wd_cpu) == 0;
	/* The tick is timed on the monotonic clock, as wd_now() is. */
	if ((ret = pthread_condattr_init(&cattr)) != 0 ||
	    (ret = pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC)) != 0 ||
	    (ret = pthread_cond_init(&wd_wake, &cattr)) != 0) {
		ch_log_warn("watchdog: %s", strerror(ret));
		return;
	}
	pthread_condattr_destroy(&cattr);
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
		pthread_attr_setstacksize(&attr, 64 * 1024);
		ret = pthread_create(&wd_thread, &attr, wd_run, NULL);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		ch_log_warn("watchdog: %s", strerror(ret));
	else
		wd_running = 1;
}

/* End the watchdog's thread (a process that exits of its own accord). */
void
ch_watchdog_stop(void)
{
	int ret;

	if (!wd_running)
		return;
	pthread_mutex_lock(&wd_lock);
	wd_stopping = 1;
	pthread_cond_signal(&wd_wake);
	pthread_mutex_unlock(&wd_lock);
	if ((ret = pthread_join(wd_thread, NULL)) != 0)
		ch_log_warn("watchdog: %s", strerror(ret));
	wd_running = 0;
	wd_stopping = 0;
}

/* The file whose existence asks the next opener to recover the store. */
void
ch_watchdog_mark(const char *path)
{
	snprintf(wd_mark, sizeof(wd_mark), "%s", path);
}

/* The store's registry file (DB_REGISTER), whose lock openers queue on. */
void
ch_watchdog_registry(const char *path)
{
	/* Set before an open begins; the thread reads it during one. */
	if (strcmp(wd_registry, path) != 0)
		snprintf(wd_registry, sizeof(wd_registry), "%s", path);
}

/*
 * An open of the store begins (ms > 0: it must not stand still for ms,
 * else the process leaves the store for recovery, ch_watchdog_recover)
 * or ends (0).
 */
void
ch_watchdog_opening(unsigned int ms)
{
	if (ms != 0)
		STORE(wd_open_seq, (LOAD(wd_open_seq) + 1) & 0x3fffffff);
	STORE(wd_open_ms, ms);
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
