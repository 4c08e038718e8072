/*
 * test-window.c -- unit tests of common/window.c: the per-address request
 * limit in the memory chatr processes share (a temporary CHATR_VAR's
 * run/shared-5).  With explicit times: count per seconds, the next request
 * refused with a sane Retry-After, the window passing, addresses kept
 * apart, count 0 meaning no limit; processes racing never let more through
 * than the limit; a process that dies holding the lock neither blocks the
 * others nor leaves a half-changed slot; many addresses only take the
 * slots of those last seen longest ago.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"
#include "tap.h"

#define T0 INT64_C(1700000000000) /* ms since the epoch */

static struct ch_cfg cfg;
static char dir[256];

static int
hit(const char *addr, unsigned int count, unsigned int seconds, int64_t now,
    unsigned int *retry)
{
	struct ch_limit l = {.count = count, .seconds = seconds};

	*retry = 0;
	return ch_window_hit(&cfg, addr, &l, now, retry);
}

/* How many of n requests of addr at now get through count/60. */
static int
through(const char *addr, int n, unsigned int count, int64_t now)
{
	unsigned int retry;
	int i, ok = 0;

	for (i = 0; i < n; i++)
		if (hit(addr, count, 60, now, &retry) == 0)
			ok++;
	return ok;
}

static void
test_basic(void)
{
	unsigned int retry;
	int i, ret = 0;

	for (i = 0; i < 5 && ret == 0; i++)
		ret = hit("10.0.0.1", 5, 60, T0 + i * 1000, &retry);
	CHECK(ret == 0, "5 requests in 5 s under 5/60 pass");
	ret = hit("10.0.0.1", 5, 60, T0 + 5000, &retry);
	CHECK(ret == CH_LIMITED, "the 6th is refused (%d)", ret);
	CHECK(retry >= 55 && retry <= 56,
	    "  ... Retry-After is until the first leaves the window (%u)", retry);
	CHECK(hit("10.0.0.2", 5, 60, T0 + 5000, &retry) == 0,
	    "another address is not limited");
	CHECK(hit("10.0.0.1", 5, 60, T0 + 59000, &retry) == CH_LIMITED,
	    "still refused at 59 s");
	CHECK(hit("10.0.0.1", 5, 60, T0 + 60500, &retry) == 0,
	    "allowed again once the first request left the window");
	CHECK(hit("10.0.0.1", 5, 60, T0 + 60500, &retry) == CH_LIMITED,
	    "  ... but only one more");
	CHECK(through("10.0.0.1", 100, 0, T0 + 61000) == 100,
	    "count 0 is no limit");
}

/* Children that die or race: each does fn and exits with its result. */
static pid_t
child(int (*fn)(void *), void *arg)
{
	pid_t pid;

	/* (a child must not print again what is buffered: valgrind's exit
	 * flushes stdio even after _exit) */
	fflush(stdout);
	pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

static int
race(void *arg)
{
	(void)arg;
	return through("10.1.1.1", 60, 100, T0);
}

static void
test_race(void)
{
	pid_t pids[4];
	int i, st, total = 0, bad = 0;

	for (i = 0; i < 4; i++)
		pids[i] = child(race, NULL);
	for (i = 0; i < 4; i++) {
		if (pids[i] < 0 || waitpid(pids[i], &st, 0) != pids[i] ||
		    !WIFEXITED(st)) {
			bad++;
			continue;
		}
		total += WEXITSTATUS(st);
	}
	CHECK(bad == 0, "4 processes ran 60 requests each");
	CHECK(total == 100,
	    "  ... and exactly 100 got through a limit of 100 (%d)", total);
	CHECK(through("10.1.1.1", 1, 100, T0) == 0,
	    "  ... the parent sees the address at its limit");
}

/* Die holding the lock, in the middle of changing addr's slot. */
static int
die_locked(void *arg)
{
	struct ch_shared *sh = ch_shared(&cfg);
	const char *addr = arg;
	size_t i;

	if (pthread_mutex_lock(&sh->lock) != 0)
		return 1;
	for (i = 0; i < CH_WINDOW_SETS * CH_WINDOW_WAYS; i++)
		if (strcmp(sh->slot[i].addr, addr) == 0)
			sh->editing = (int32_t)i;
	sh->slot[sh->editing >= 0 ? sh->editing : 0].nb = 1000; /* torn */
	_exit(0);
}

static void
test_death(void)
{
	static char addr[] = "10.2.2.2";
	unsigned int retry;
	pid_t pid;
	int st;

	CHECK(through("10.2.2.2", 3, 2, T0) == 2,
	    "an address at its limit of 2");
	pid = child(die_locked, addr);
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0, "a process died holding the lock");
	CHECK(hit("10.2.2.3", 2, 60, T0, &retry) == 0,
	    "the next request takes the lock over");
	CHECK(through("10.2.2.2", 3, 2, T0) == 2,
	    "  ... the slot the dead was changing starts again, whole");
	CHECK(through("10.2.2.3", 3, 2, T0) == 1,
	    "  ... other addresses keep their counts");
	CHECK(ch_shared(&cfg)->editing == -1, "  ... and nothing is marked as "
	    "being changed");
}

static void
test_many(void)
{
	char addr[32];
	uint64_t evicted0 = ch_shared(&cfg)->evicted;
	int i;

	CHECK(through("10.3.3.3", 2, 1, T0) == 1, "an address at its limit of 1");
	for (i = 0; i < 100; i++) {
		snprintf(addr, sizeof(addr), "192.168.%d.%d", i / 256, i % 256);
		(void)through(addr, 1, 1, T0 + 1000);
	}
	CHECK(through("10.3.3.3", 1, 1, T0 + 2000) == 0,
	    "100 other addresses later, it is still at its limit");
	for (i = 0; i < 20000; i++) {
		snprintf(addr, sizeof(addr), "fd00::%x", i);
		(void)through(addr, 1, 1, T0 + 3000);
	}
	CHECK(ch_shared(&cfg)->evicted > evicted0,
	    "20,000 addresses in one window take slots of busy ones (%llu)",
	    (unsigned long long)(ch_shared(&cfg)->evicted - evicted0));
	CHECK(through("10.3.3.3", 2, 1, T0 + 4000) == 1,
	    "  ... the address seen longest ago first: it starts again");
	CHECK(through("fd00::4e1f", 2, 1, T0 + 4000) == 0,
	    "  ... the one seen last keeps its count");
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char *cause = NULL, *run;

	if (t == NULL || *t == '\0')
		t = "/tmp";
	snprintf(dir, sizeof(dir), "%s/test-window.XXXXXX", t);
	if (mkdtemp(dir) == NULL || setenv("CHATR_VAR", dir, 1) != 0 ||
	    ch_cfg_load(&cfg, NULL, &cause) != 0) {
		printf("Bail out! a temporary CHATR_VAR: %s\n",
		    cause ? cause : strerror(errno));
		free(cause);
		return 1;
	}
	run = ch_xprintf("%s/run", dir);
	CHECK(mkdir(run, 0700) == 0 && ch_shared_mapped(&cfg),
	    "the shared memory is mapped in %s", run);
	free(run);
	test_basic();
	test_race();
	test_death();
	test_many();
	run = ch_xprintf("%s/run/shared-5", dir);
	(void)unlink(run);
	free(run);
	run = ch_xprintf("%s/run", dir);
	(void)rmdir(run);
	free(run);
	CHECK(rmdir(dir) == 0, "the temporary directory removed");
	ch_cfg_free(&cfg);
	return tap_done();
}
