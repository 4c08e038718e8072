/*
 * shared.c -- a page of memory shared by every chatr process of one
 * CHATR_VAR ($CHATR_VAR/run/shared, mapped), for what is cheaper to
 * share there than to ask the store for on every request:
 *
 *   changes   bumped by every commit that changes what GET /api/agents
 *             shows (presence, a registration, a message, a badge), so
 *             a process's snapshot of that answer is known to be current
 *             with one load from memory (agents.c in fcgi-bin).
 *
 * Nothing in it is needed for correctness after a crash: a value that is
 * stale or torn only costs a snapshot taken again.  The counter is only
 * compared for equality, and changed with atomic operations.  When the
 * page cannot be mapped, each process works with a private one: it then
 * sees only its own changes, and its snapshots last until the clock's
 * second changes.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

#define SHARED_MAGIC 0x63687372u /* "chsr" */
#define SHARED_SIZE 4096

static struct ch_shared *shared;
static struct ch_shared local; /* when the page cannot be mapped */

/* The shared page of cfg's CHATR_VAR (mapped at the first call). */
struct ch_shared *
ch_shared(const struct ch_cfg *cfg)
{
	struct stat st;
	char *path;
	void *p;
	int fd;

	if (shared != NULL)
		return shared;
	shared = &local;
	path = ch_xprintf("%s/run/shared", cfg->var);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		ch_log_warn("open %s: %s", path, strerror(errno));
		free(path);
		return shared;
	}
	if (fstat(fd, &st) != 0 || (st.st_size < SHARED_SIZE &&
	    ftruncate(fd, SHARED_SIZE) != 0)) {
		ch_log_warn("sizing %s: %s", path, strerror(errno));
		close(fd);
		free(path);
		return shared;
	}
	p = mmap(NULL, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		ch_log_warn("mmap %s: %s", path, strerror(errno));
		free(path);
		return shared;
	}
	free(path);
	shared = p;
	/* A new page is zeros; mark it (any process may be first). */
	__atomic_store_n(&shared->magic, SHARED_MAGIC, __ATOMIC_RELEASE);
	return shared;
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
