/*
 * shared.c -- memory shared by every chatr process of one CHATR_VAR
 * ($CHATR_VAR/run/shared-5, mapped), for what is cheaper to share there
 * than to ask the store for on every request:
 *
 *   changes   bumped by every commit that changes what GET /api/agents
 *             shows (presence, a registration, a message, a badge), so
 *             a process's snapshot of that answer is known to be current
 *             with one load from memory (agents.c in fcgi-bin).
 *   streams   how many streams the relay holds (GET /api/health).
 *   repl_master  in a replication group, the master as the node's
 *             replication process sees it: connected, heartbeats coming
 *             (see ch_repl_state).
 *   window    the per-address request limit (window.c), under a robust
 *             mutex shared by the processes.
 *   metrics   the counters of GET /metrics (metrics.c).
 *
 * Nothing in it must outlive the machine's boot: the file is made again
 * (emptied) by the first process of a new boot, or when its layout is not
 * this one's (the layout's number is in the file's name, so processes of
 * an older chatr never share it).  Making it happens under an flock of
 * the file, which a process that dies lets go of (the mapping holds the
 * open file, so the lock is let go of by hand once the file is mapped).
 * A new file is holes: only the pages used are ever backed.
 *
 * When the file cannot be mapped, each process works with a private copy:
 * its snapshots then last until the clock's second changes, and the
 * request limit is kept in the store instead (ch_shared_mapped).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

#define SHARED_MAGIC 0x63687336u /* "chs6" */
#define SHARED_FILE "shared-5"	 /* change both with the layout */
#define SHARED_BOOT "/proc/sys/kernel/random/boot_id"

static struct ch_shared *shared;
static int mapped;

/* This boot's identity into out (size outsz), or "" when unknown. */
static void
shared_boot(char *out, size_t outsz)
{
	ssize_t n;
	int fd;

	out[0] = '\0';
	if ((fd = open(SHARED_BOOT, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, out, outsz - 1);
	(void)close(fd);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* Make the page's contents for this boot (the file is empty). */
static int
shared_make(struct ch_shared *s, const char *boot)
{
	pthread_mutexattr_t ma;
	int ret;

	if ((ret = pthread_mutexattr_init(&ma)) != 0)
		return ret;
	if ((ret = pthread_mutexattr_setpshared(&ma,
	    PTHREAD_PROCESS_SHARED)) == 0 &&
	    (ret = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST)) == 0)
		ret = pthread_mutex_init(&s->lock, &ma);
	(void)pthread_mutexattr_destroy(&ma);
	if (ret != 0)
		return ret;
	if (ch_auth_random(&s->seed, sizeof(s->seed)) != 0)
		s->seed = (uint64_t)ch_time_ms() ^ (uint64_t)getpid() << 32;
	s->editing = -1;
	snprintf(s->boot, sizeof(s->boot), "%s", boot);
	__atomic_store_n(&s->magic, SHARED_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/* Open, size, map and if need be make the file; NULL on failure. */
static struct ch_shared *
shared_map(const char *path)
{
	char boot[sizeof(((struct ch_shared *)0)->boot)];
	struct ch_shared *s = NULL;
	struct stat st;
	void *p;
	int fd, ret;

	shared_boot(boot, sizeof(boot));
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		ch_log_warn("open %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((ret = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
		;
	if (ret != 0) {
		ch_log_warn("flock %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		ch_log_warn("fstat %s: %s", path, strerror(errno));
		goto out;
	}
	if ((size_t)st.st_size != sizeof(*s) &&
	    (ftruncate(fd, 0) != 0 || ftruncate(fd, sizeof(*s)) != 0)) {
		ch_log_warn("sizing %s: %s", path, strerror(errno));
		goto out;
	}
	p = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ch_log_warn("mmap %s: %s", path, strerror(errno));
		goto out;
	}
	s = p;
	if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) == SHARED_MAGIC &&
	    strcmp(s->boot, boot) == 0)
		goto out; /* made in this boot: in use */
	/* New, or left by an earlier boot (its mutex may name the dead). */
	if (munmap(p, sizeof(*s)) != 0 || ftruncate(fd, 0) != 0 ||
	    ftruncate(fd, sizeof(*s)) != 0 || (p = mmap(NULL, sizeof(*s),
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		ch_log_warn("making %s: %s", path, strerror(errno));
		s = NULL;
		goto out;
	}
	s = p;
	if ((ret = shared_make(s, boot)) != 0) {
		ch_log_warn("making %s: %s", path, strerror(ret));
		(void)munmap(p, sizeof(*s));
		s = NULL;
	}
out:
	/* (explicitly: the mapping keeps the open file, and its flock) */
	(void)flock(fd, LOCK_UN);
	(void)close(fd);
	return s;
}

/* The shared memory of cfg's CHATR_VAR (mapped at the first call). */
struct ch_shared *
ch_shared(const struct ch_cfg *cfg)
{
	char *path;

	if (shared != NULL)
		return shared;
	path = ch_xprintf("%s/run/" SHARED_FILE, cfg->var);
	shared = shared_map(path);
	free(path);
	if (shared != NULL)
		mapped = 1;
	else
		shared = ch_xcalloc(1, sizeof(*shared)); /* private */
	return shared;
}

/* Whether ch_shared is really shared (else private to this process). */
int
ch_shared_mapped(const struct ch_cfg *cfg)
{
	(void)ch_shared(cfg);
	return mapped;
}

/* What GET /api/agents shows has changed (after the commit). */
void
ch_shared_changed(const struct ch_cfg *cfg)
{
	__atomic_add_fetch(&ch_shared(cfg)->changes, 1, __ATOMIC_SEQ_CST);
}

/* The count of such changes so far. */
uint64_t
ch_shared_changes(const struct ch_cfg *cfg)
{
	return __atomic_load_n(&ch_shared(cfg)->changes, __ATOMIC_SEQ_CST);
}

/* The relay holds n streams. */
void
ch_shared_set_streams(const struct ch_cfg *cfg, unsigned int n)
{
	__atomic_store_n(&ch_shared(cfg)->streams, n, __ATOMIC_RELAXED);
}

/* How many streams the relay holds. */
unsigned int
ch_shared_streams(const struct ch_cfg *cfg)
{
	return __atomic_load_n(&ch_shared(cfg)->streams, __ATOMIC_RELAXED);
}

/* The node's replication process sees eid as the master (DB_EID_INVALID:
 * none is connected). */
void
ch_shared_set_master(const struct ch_cfg *cfg, int eid)
{
	struct ch_shared *sh = ch_shared(cfg);

	__atomic_store_n(&sh->repl_master, eid + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->repl_seen_ms, (uint64_t)ch_time_mono_ms(),
	    __ATOMIC_RELEASE);
}

/*
 * The master the replication process saw last, into *eid, if it said so
 * within the last stale_ms.  1 then, 0 when it has not (it is stuck, or
 * gone, or the memory is not shared).
 */
int
ch_shared_master(const struct ch_cfg *cfg, int stale_ms, int *eid)
{
	struct ch_shared *sh = ch_shared(cfg);
	uint64_t seen;

	if (!mapped)
		return 0;
	seen = __atomic_load_n(&sh->repl_seen_ms, __ATOMIC_ACQUIRE);
	if (seen == 0 || (uint64_t)ch_time_mono_ms() - seen > (uint64_t)stale_ms)
		return 0;
	*eid = __atomic_load_n(&sh->repl_master, __ATOMIC_RELAXED) - 1;
	return 1;
}
