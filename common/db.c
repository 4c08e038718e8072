/*
 * db.c -- the shared Berkeley DB environment under $CHATR_VAR/db, and the
 * one way chatr runs a transaction (ch_db_run).
 *
 * Every chatr process (each FastCGI endpoint, the relay, the tools) opens
 * the same transactional environment: locking, logging, a shared cache and
 * transactions, so that concurrent processes never corrupt or lose data.
 *
 * No process ever waits for a lock (DB_TXN_NOWAIT): an operation that
 * meets a lock held by another transaction fails at once with
 * DB_LOCK_NOTGRANTED, and ch_db_run aborts, backs off a little and runs
 * the transaction again.  Transactions here are a few record reads and
 * writes, so a retry costs microseconds.  Not waiting is what makes a
 * death cheap:
 *
 * Deaths.  Every opener passes DB_REGISTER | DB_RECOVER | DB_FAILCHK (on a
 * replicated node, see db_open_handles) and tells Berkeley DB how to see
 * whether a process is alive (db_isalive).
 * The first process to open the environment after one died (a FastCGI
 * program started in place of a dead one, a restarted relay) finds the
 * dead registration and runs failchk(), not recovery: a process that died
 * outside the library leaves only its transaction, which failchk aborts,
 * and its locks, which it frees; nobody else notices.  Only a process
 * that died inside the library (holding a mutex, in the middle of a page
 * write) makes failchk fail, and then the environment is recovered:
 * everyone else's next call returns DB_RUNRECOVERY, and ch_db_run reopens
 * the store and goes on.  A process that keeps meeting the same lock also
 * runs failchk itself (the holder may have died with nobody yet joining
 * the store to notice).
 *
 * Why never wait: with Debian's libdb5.3 and a current glibc, failchk
 * cleaning up a process that died while waiting for a lock destroys the
 * condition variable that process was waiting on, and glibc's
 * pthread_cond_destroy() then waits for ever for the dead waiter, holding
 * the lock region: the whole store hangs.  A process that never waits
 * never leaves such a waiter behind.  A process left blocked on a mutex of
 * the old regions after a recovery is ended by its watchdog (watchdog.c),
 * which notices that the regions it joined are gone.
 *
 * Committed or not.  ch_db_run retries a transaction only while it has not
 * committed.  When the commit itself fails in a way that leaves that
 * unknown (the environment panicked under it), the caller's check says
 * whether its work is in the store; an operation whose second run is
 * harmless needs no check.
 *
 * Durability: commits write the log to the kernel (DB_TXN_WRITE_NOSYNC),
 * which survives the death of any process; an operation that must survive
 * a power cut calls ch_db_flush() before it answers, which syncs the log
 * file itself, outside the library (see there).  Log files are removed
 * once a checkpoint no longer needs them.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatr.h"

#define DB_CKPT_EVERY_MS (30 * 1000)
#define DB_FAILCHK_AFTER_MS 100	 /* contention this long: did the holder die? */
#define DB_REOPENS 3		 /* recoveries one transaction rides out */
#define DB_BACKOFF_MIN_US 50
#define DB_BACKOFF_MAX_US 20000
#define DB_OPEN_STUCK_MS 1000	 /* an open standing still this long: stuck */
#define DB_MEMBERS_CHECK_MS 250 /* replicated: how often a join is looked for */
#define DB_SPINS 100000		 /* isalive asked this often: libdb spins */

static int db_busy(int);
/* This process is the node's replication process (chatr-repl). */
static int db_repl_process;
static int db_repl_create;	/* and it founds a new group */
/* This process commits nothing (the relay): a join means nothing to it. */
static int db_reader;

/* Say that this process is the node's replication process: it makes the
 * group when its store is new and it is the one to (ch_repl_creator). */
void
ch_db_replication_process(int create)
{
	db_repl_process = 1;
	db_repl_create = create;
}

/* Say that this process only reads the store (the relay): it needs no
 * connection to a site that joins the group, so it never has to rejoin. */
void
ch_db_reader(void)
{
	db_reader = 1;
}

static void
db_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	ch_log_err("db: %s", msg);
}

/* Berkeley DB's notes (failchk freeing what a dead process held). */
static void
db_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	ch_log_debug("db: %s", msg);
}

/* Make a directory (and its parents) if missing; 0 on success. */
static int
db_mkdirs(const char *path, char **cause)
{
	char *p, *s;

	s = ch_xstrdup(path);
	for (p = s + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(s, 0755) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(s, 0700) != 0 && errno != EEXIST)
		goto fail;
	free(s);
	return 0;
fail:
	*cause = ch_xprintf("mkdir %s: %s", s, strerror(errno));
	free(s);
	return -1;
}

/* The environment's directory, for db_isalive (one per process). */
static char db_home[4096];
/* Its marker file: recover the store at the next open (see db_stuck). */
static char db_mark[4096];

/*
 * Process pid is dead: say so to Berkeley DB.  But when it asks about the
 * same dead process over and over, it is spinning: libdb5.3's failchk,
 * meeting a mutex that a dead process holds, tries it again for ever
 * (__db_pthread_mutex_prep), with the registry locked, so that nobody can
 * join the store.  Only recovery helps then: leave the store with the
 * marker that makes the next opener recover it (ch_watchdog_recover).
 * The same happens when joining the store stands still for
 * DB_OPEN_STUCK_MS, not waiting behind another opener (asleep on such a
 * mutex): the watchdog sees to it; and at once when another process has
 * left the marker already.
 */
static int
db_dead(pid_t pid)
{
	static pid_t last;
	static unsigned long times;
	struct stat st;

	/* Another process found the store stuck already: so is this failchk. */
	if (db_mark[0] != '\0' && stat(db_mark, &st) == 0)
		ch_watchdog_recover();
	if (pid != last) {
		last = pid;
		times = 0;
	}
	if (++times > DB_SPINS)
		ch_watchdog_recover();
	return 0;
}

/*
 * Berkeley DB's question "is this process alive?" (failchk asks it of
 * every process with state in the environment).  A process is dead when
 * it is gone or a zombie, and also when the pid now names a process that
 * has not joined this environment: pids are reused (pid_max may be small),
 * and a stranger under a dead process's pid must not keep its locks.
 */
static int
db_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, uint32_t flags)
{
	char path[64], buf[8192];
	ssize_t n;
	size_t keep = 0, hl;
	int fd, found = 0;
	char *p;

	(void)env;
	(void)tid;
	(void)flags;
	if (pid == getpid())
		return 1;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return db_dead(pid);
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			if ((p = strrchr(buf, ')')) != NULL && (p[2] == 'Z' ||
			    p[2] == 'X'))
				return db_dead(pid);
		}
	}
	/* Has it mapped this environment's regions? */
	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : 1;
	hl = strlen(db_home);
	while (!found && (n = read(fd, buf + keep, sizeof(buf) - 1 - keep)) >
	    0) {
		n += (ssize_t)keep;
		buf[n] = '\0';
		if (hl > 0 && (p = strstr(buf, db_home)) != NULL &&
		    strncmp(p + hl, "/__db.", 6) == 0)
			found = 1;
		/* keep a tail so a path split between reads is seen */
		keep = (size_t)n > hl + 8 ? hl + 8 : (size_t)n;
		memmove(buf, buf + n - (ssize_t)keep, keep);
	}
	close(fd);
	return found || hl == 0 ? 1 : db_dead(pid);
}

static const struct {
	const char *file;
	size_t off;
} dbs[] = {
	{"agents.db", offsetof(struct ch_db, agents)},
	{"names.db", offsetof(struct ch_db, names)},
	{"keys.db", offsetof(struct ch_db, keys)},
	{"presence.db", offsetof(struct ch_db, presence)},
	{"messages.db", offsetof(struct ch_db, messages)},
	{"meta.db", offsetof(struct ch_db, meta)},
	{"limits.db", offsetof(struct ch_db, limits)},
	{"mbnames.db", offsetof(struct ch_db, mbnames)},
	{"deletes.db", offsetof(struct ch_db, deletes)},
	{"blocks.db", offsetof(struct ch_db, blocks)},
	{"audit.db", offsetof(struct ch_db, audit)},
};
#define NDBS (sizeof(dbs) / sizeof(dbs[0]))
#define DB_SWEEP_EVERY_MS (10 * 1000)
#define DB_SWEEP_MAX 2000	 /* records one sweep looks at */

/*
 * Close the handles, leaving db ready to be opened again.  After a panic
 * every close fails, and says so: quietly then.
 */
static void
db_close_handles(struct ch_db *db, int panicked)
{
	DB **dbp;
	size_t i;
	int ret;

	if (panicked && db->env != NULL)
		db->env->set_errcall(db->env, NULL);
	for (i = 0; i < NDBS; i++) {
		dbp = (DB **)((char *)db + dbs[i].off);
		if (*dbp != NULL && (ret = (*dbp)->close(*dbp, 0)) != 0 &&
		    !panicked)
			ch_log_warn("closing %s: %s", dbs[i].file,
			    db_strerror(ret));
		*dbp = NULL;
	}
	if (db->env != NULL && (ret = db->env->close(db->env, 0)) != 0 &&
	    !panicked)
		ch_log_warn("closing the environment: %s", db_strerror(ret));
	db->env = NULL;
}

/*
 * What run/repl.members says (chatr-repl writes it anew at each join of a
 * site: the count of joins and its pid), into buf; "" when it cannot be
 * read.  (Not its inode: a file made just after the one it replaces is
 * often given the inode just freed.)
 */
static void
db_members_tag(const struct ch_cfg *cfg, char *buf, size_t size)
{
	char *path = ch_xprintf("%s/run/repl.members", cfg->var);
	ssize_t n = -1;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, size - 1);
		(void)close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	free(path);
}

/*
 * Has a site joined the group since this subordinate process started
 * repmgr (see ch_repl_joins)?  Looked at every DB_MEMBERS_CHECK_MS, when
 * the process's replication connections get TCP_NODELAY too.  Once it
 * says yes, db->rejoin stays set.
 */
static int
db_members_changed(struct ch_db *db)
{
	char tag[sizeof(db->members_tag)];
	int64_t now;

	if (db_repl_process || !ch_cfg_replicated(db->cfg))
		return 0;
	now = ch_time_mono_ms();
	if (db->rejoin || now - db->members_checked < DB_MEMBERS_CHECK_MS)
		return db->rejoin;
	db->members_checked = now;
	ch_repl_nodelay(db); /* its connections come and go too */
	if (db_reader)
		return 0;
	db_members_tag(db->cfg, tag, sizeof(tag));
	db->rejoin = strcmp(tag, db->members_tag) != 0;
	return db->rejoin;
}

/*
 * Should this process end, once done with its request, so that a new one
 * takes its place?  Yes when a site joined the group since it started
 * repmgr: Berkeley DB 5.3 connects a subordinate process only to the
 * sites that were members then, and a process that closes its environment
 * and opens it again inside repmgr's threads is not safe (libdb's select
 * thread was seen to crash after one).  chatrd starts the next at once.
 */
int
ch_db_rejoin(struct ch_db *db)
{
	return db->env != NULL && db_members_changed(db);
}

/*
 * Take the store's opening lock ($CHATR_VAR/run/store-open.lock, an flock the
 * kernel drops if its holder dies); its descriptor, or -1 when it cannot
 * be had (the open goes on without it).
 */
static int
db_open_lock(const struct ch_cfg *cfg)
{
	/* Not in the store's directory: a replica's first copy of the
	 * store takes every file there for one of Berkeley DB's. */
	char *path = ch_xprintf("%s/run/store-open.lock", cfg->var);
	int fd, ret;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		ch_log_warn("open %s: %s", path, strerror(errno));
	else {
		while ((ret = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
			;
		if (ret != 0) {
			ch_log_warn("flock %s: %s", path, strerror(errno));
			(void)close(fd);
			fd = -1;
		}
	}
	free(path);
	return fd;
}

/*
 * Open every database not open yet.  A replica opens only those that are
 * there (the master makes them, and they arrive with its log): while some
 * are missing db->partial is set, and db_ready tries again.  0, or a
 * Berkeley DB error with *cause set.
 */
static int
db_open_dbs(struct ch_db *db, char **cause)
{
	const struct ch_cfg *cfg = db->cfg;
	uint32_t flags = DB_AUTO_COMMIT | DB_READ_UNCOMMITTED;
	DB **dbp;
	size_t i;
	int ret, repl = ch_cfg_replicated(cfg);

	if (repl)
		flags |= DB_THREAD;
	if (!repl || ch_repl_is_master(db))
		flags |= DB_CREATE;
	db->partial = 0;
	for (i = 0; i < NDBS; i++) {
		dbp = (DB **)((char *)db + dbs[i].off);
		if (*dbp != NULL)
			continue;
		if ((ret = db_create(dbp, db->env, 0)) != 0) {
			*dbp = NULL;
			goto fail;
		}
		ret = (*dbp)->open(*dbp, NULL, dbs[i].file, NULL, DB_BTREE,
		    flags, 0600);
		if (ret == 0)
			continue;
		(*dbp)->close(*dbp, 0);
		*dbp = NULL;
		/* Replicated, an environment is never given up for one
		 * database: it would take repmgr down with it. */
		if (repl && (ret == ENOENT || ret == DB_REP_LOCKOUT ||
		    ret == DB_LOCK_NOTGRANTED || ret == DB_LOCK_DEADLOCK ||
		    ret == DB_REP_HANDLE_DEAD || ret == EACCES)) {
			db->partial = 1;
			continue;
		}
		goto fail;
	}
	return 0;
fail:
	*cause = ch_xprintf("opening %s: %s", dbs[i].file, db_strerror(ret));
	return ret;
}

/* Close the databases only (a replica's went stale in a sync). */
static void
db_close_dbs(struct ch_db *db)
{
	DB **dbp;
	size_t i;

	for (i = 0; i < NDBS; i++) {
		dbp = (DB **)((char *)db + dbs[i].off);
		if (*dbp != NULL)
			(void)(*dbp)->close(*dbp, DB_NOSYNC);
		*dbp = NULL;
	}
}

/*
 * Open the environment and every database into db (whose cfg is set).  0
 * on success; else a Berkeley DB error (or -1) with an allocated *cause.
 */
static int
db_open_handles(struct ch_db *db, char **cause)
{
	const struct ch_cfg *cfg = db->cfg;
	DB_ENV *env;
	char *rundir, *region;
	struct stat st;
	ino_t was;
	int ret, recover, recovered, openlock;
	int repl = ch_cfg_replicated(cfg);

	/* Replicated, the node's replication process joins first (and is
	 * repmgr's listener); the others wait for its mark. */
	db->waiting_repl = 0;
	if (repl && !db_repl_process) {
		char *mark = ch_xprintf("%s/run/repl.ready", cfg->var);

		ret = access(mark, F_OK);
		free(mark);
		if (ret == 0) {
			/* the replication process alone recovers the store */
			mark = ch_xprintf("%s/run/store-recover", cfg->var);
			if (access(mark, F_OK) == 0)
				ret = -1;
			free(mark);
		}
		if (ret != 0) {
			*cause = ch_xstrdup("waiting for the node's "
			    "replication process");
			db->waiting_repl = 1;
			return DB_REP_UNAVAIL;
		}
	}
	rundir = ch_xprintf("%s/run", cfg->var);
	if (db_mkdirs(cfg->db_home, cause) != 0 ||
	    db_mkdirs(rundir, cause) != 0) {
		free(rundir);
		return -1;
	}
	free(rundir);
	snprintf(db_home, sizeof(db_home), "%s", cfg->db_home);
	if ((ret = db_env_create(&env, 0)) != 0) {
		*cause = ch_xprintf("db_env_create: %s", db_strerror(ret));
		return ret;
	}
	db->env = env;
	env->set_errcall(env, db_errcall);
	env->set_msgcall(env, db_msgcall);
	if ((ret = env->set_cachesize(env, cfg->db_cache_mb / 1024,
	    (cfg->db_cache_mb % 1024) * 1024 * 1024, 1)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, 4000)) != 0 ||
	    (ret = env->set_lk_max_locks(env, 20000)) != 0 ||
	    (ret = env->set_lk_max_objects(env, 20000)) != 0 ||
	    (ret = env->set_tx_max(env, 1000)) != 0 ||
	    (ret = env->set_thread_count(env, 1000)) != 0 ||
	    (ret = env->set_isalive(env, db_isalive)) != 0 ||
	    (ret = env->set_lg_bsize(env, 1024 * 1024)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    (ret = env->set_flags(env, DB_TIME_NOTGRANTED, 1)) != 0 ||
	    (!repl && (ret = env->set_flags(env, DB_TXN_NOWAIT, 1)) != 0) ||
	    (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0) {
		*cause = ch_xprintf("configuring the environment: %s",
		    db_strerror(ret));
		goto fail;
	}
	if (repl && (ret = ch_repl_setup(env, cfg, db_repl_process &&
	    db_repl_create, cause)) != 0)
		goto fail;
	/*
	 * Join the store, running failchk after a death (recovery if that
	 * fails), or recovery when a process left the marker for it.  A
	 * recovery makes new regions: their first file is new.
	 */
	snprintf(db_mark, sizeof(db_mark), "%s/run/store-recover", cfg->var);
	ch_watchdog_mark(db_mark);
	region = ch_xprintf("%s/__db.register", cfg->db_home);
	ch_watchdog_registry(region);
	free(region);
	region = ch_xprintf("%s/__db.001", cfg->db_home);
	was = stat(region, &st) == 0 ? st.st_ino : 0;
	recover = stat(db_mark, &st) == 0;
	if (!recover)
		ch_watchdog_opening(DB_OPEN_STUCK_MS);
	/* One opener at a time: a recovery replaces the regions, and a
	 * process joining them meanwhile (its failchk reading the lock
	 * region) was seen to die of SIGBUS in the kill storm. */
	openlock = db_open_lock(cfg);
	/*
	 * Replicated, the regions hold repmgr's state, and the replication
	 * process is its listener: a recovery by anyone else would leave it
	 * in regions no one shares.  So the others never recover.  One that
	 * finds a recovery needed (a death that failchk cannot mend) leaves
	 * the marker, and chatr-repl exits on seeing it, for a new one to
	 * recover the store as it joins.
	 *
	 * Nor does a replicated opener run failchk: it attaches the regions
	 * of the dead process's node, and when they say master, aborting
	 * that process's transaction writes the log as the master, which
	 * makes Berkeley DB 5.3 start repmgr in the opener by itself
	 * (__repmgr_autostart), half set up: repmgr_start then starts a
	 * second select thread, the two read one wake-up pipe and deadlock
	 * on repmgr's mutex, and closing such a handle was seen to crash in
	 * its connector thread.  So a death on a replicated node is mended
	 * by recovery: the opener that finds it leaves the marker, and the
	 * replication process recovers the store as it joins (DB_RECOVER:
	 * all of the node's regions made anew, not master).
	 */
	ret = env->open(env, cfg->db_home,
	    DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
	    DB_INIT_TXN | DB_REGISTER | (repl && !db_repl_process ? 0 :
	    DB_RECOVER) | (recover || repl ? 0 : DB_FAILCHK) |
	    (repl ? DB_INIT_REP | DB_THREAD : 0), 0600);
	if (openlock >= 0)
		(void)close(openlock); /* lets go of the flock */
	ch_watchdog_opening(0);
	if (ret == DB_RUNRECOVERY && repl && !db_repl_process) {
		int fd = open(db_mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0)
			(void)close(fd);
		free(region);
		*cause = ch_xstrdup("the store needs recovery; waiting for "
		    "the node's replication process");
		db->waiting_repl = 1;
		ret = DB_REP_UNAVAIL;
		goto fail;
	}
	if (ret != 0) {
		free(region);
		*cause = ch_xprintf("opening the environment %s: %s",
		    cfg->db_home, db_strerror(ret));
		goto fail;
	}
	recovered = was != 0 && stat(region, &st) == 0 && st.st_ino != was;
	if (recover && unlink(db_mark) == 0)
		ch_log_warn("the store was left marked for recovery by a "
		    "process that could not join it; %s", recovered ?
		    "it is recovered" : "nothing had died in it");
	else if (recovered)
		ch_log_warn("a process had died inside the store; it is "
		    "recovered");
	/* The regions this process joined: the watchdog's clue that the
	 * store was recovered under a process stuck in the old ones. */
	if (stat(region, &st) == 0) {
		ch_watchdog_region(region, st.st_ino);
		db->region_ino = st.st_ino;
	}
	free(region);
	/* The members as of now: repmgr connects to these. */
	if (repl && !db_repl_process) {
		db_members_tag(cfg, db->members_tag,
		    sizeof(db->members_tag));
		db->members_checked = ch_time_mono_ms();
		db->rejoin = 0;
	}
	if (repl && (ret = ch_repl_start(env, db_repl_process, cause)) != 0) {
		if (ret == DB_REP_IGNORE && db_repl_process) {
			int fd = open(db_mark, O_WRONLY | O_CREAT | O_CLOEXEC,
			    0600); /* the next chatr-repl recovers */

			if (fd >= 0)
				(void)close(fd);
		}
		goto fail;
	}
	if ((ret = db_open_dbs(db, cause)) != 0)
		goto fail;
	db->last_checkpoint = db->last_sweep = ch_time_mono_ms();
	return 0;
fail:
	db_close_handles(db, 1);
	return ret != 0 ? ret : -1;
}

/*
 * Open the store for cfg (which must outlive db).  0 on success; else a
 * Berkeley DB error (or -1) with an allocated *cause, and db is left
 * closed: ch_db_run tries to open it again.
 */
int
ch_db_open(struct ch_db *db, const struct ch_cfg *cfg, char **cause)
{
	int i, ret = -1;

	memset(db, 0, sizeof(*db));
	db->cfg = cfg;
	db->logfd = -1;
	/* Opening a database can meet a lock: another process creating it. */
	for (i = 0; (ret = db_open_handles(db, cause)) != 0; i++) {
		if (i == 40 || !db_busy(ret))
			return ret;
		free(*cause);
		*cause = NULL;
		ch_db_backoff(i);
	}
	return 0;
}

/* Close every database and the environment. */
void
ch_db_close(struct ch_db *db)
{
	db_close_handles(db, 0);
	if (db->logfd >= 0)
		close(db->logfd);
	db->logfd = -1;
}

/* Is the store open (or could it be opened again just now)? */
static int
db_ready(struct ch_db *db)
{
	char *cause = NULL;
	int64_t now;

	if (db->env != NULL && !db->partial) {
		if (!db->rejoin && db_members_changed(db))
			ch_log_info("a site joined the group; this process ends "
			    "after this request, and the next connects to it");
		return 1;
	}
	now = ch_time_mono_ms();
	if (db->env != NULL) {
		/* A replica waiting for the master's databases. */
		if (now - db->tried_open < 50)
			return 0;
		db->tried_open = now;
		if (db_open_dbs(db, &cause) != 0) {
			ch_log_err("%s", cause);
			free(cause);
		}
		return !db->partial;
	}
	if (db->cfg == NULL || now - db->tried_open < 50)
		return 0;
	db->tried_open = now;
	if (db_open_handles(db, &cause) == 0) {
		ch_log_info("the store is open again");
		return !db->partial;
	}
	/* (waiting for chatr-repl is the rule while it starts or recovers:
	 * it says what it does) */
	if (db->waiting_repl)
		ch_log_debug("%s", cause);
	else
		ch_log_err("%s", cause);
	free(cause);
	return 0;
}

/* Is the store open, or could it be opened just now?  (For the checks
 * made before a request's transaction, such as whether to forward it.) */
int
ch_db_ready(struct ch_db *db)
{
	return db_ready(db);
}

/*
 * Another process ran recovery (the handles are stale) or the environment
 * panicked: drop this process's handles and join the store again.  0 when
 * it is open.
 */
int
ch_db_reopen(struct ch_db *db, const char *why)
{
	ch_log_warn("%s; reopening the store", why);
	ch_metrics_count(db->cfg, CH_MET_RECOVERY);
	db_close_handles(db, 1);
	db->reopens++;
	db->tried_open = 0;
	return db_ready(db) ? 0 : -1;
}

/* Someone holds a lock for long: see whether a dead process does. */
static void
db_failchk(struct ch_db *db)
{
	int64_t now = ch_time_mono_ms();
	int ret;

	if (now - db->last_failchk < DB_FAILCHK_AFTER_MS)
		return;
	db->last_failchk = now;
	if ((ret = db->env->failchk(db->env, 0)) != 0 &&
	    ret != DB_RUNRECOVERY)
		ch_log_warn("failchk: %s", db_strerror(ret));
}

/* Another try may succeed: contention (or a deadlock, which it is too). */
static int
db_busy(int ret)
{
	return ret == DB_LOCK_NOTGRANTED || ret == DB_LOCK_DEADLOCK ||
	    ret == DB_REP_LOCKOUT;
}

/* Sleep before retry number try (0, 1, ...): jittered, growing. */
void
ch_db_backoff(int try)
{
	struct timespec ts;
	unsigned int r, cap;
	long us;

	cap = DB_BACKOFF_MIN_US << (try < 9 ? try : 9);
	if (cap > DB_BACKOFF_MAX_US)
		cap = DB_BACKOFF_MAX_US;
	if (ch_auth_random(&r, sizeof(r)) != 0)
		r = (unsigned int)getpid() * 2654435761u;
	us = (long)(cap / 2 + r % (cap / 2 + 1));
	ts.tv_sec = 0;
	ts.tv_nsec = us * 1000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Begin a transaction (flags as for DB_ENV->txn_begin). */
int
ch_db_begin(struct ch_db *db, DB_TXN **txn, uint32_t flags)
{
	int ret;

	*txn = NULL;
	if (db->env == NULL)
		return DB_RUNRECOVERY;
	/* Replicated: per transaction, since repmgr's threads applying the
	 * master's log must wait for the locks they meet. */
	if (ch_cfg_replicated(db->cfg))
		flags |= DB_TXN_NOWAIT;
	if ((ret = db->env->txn_begin(db->env, NULL, txn, flags)) != 0)
		*txn = NULL;
	return ret;
}

/* Commit txn; the handle is gone either way. */
int
ch_db_commit(DB_TXN *txn, uint32_t flags)
{
	return txn->commit(txn, flags);
}

/* Abort txn, logging a failure (the handle is gone either way). */
void
ch_db_abort(DB_TXN *txn)
{
	int ret;

	if (txn != NULL && (ret = txn->abort(txn)) != 0 &&
	    ret != DB_RUNRECOVERY)
		ch_log_err("txn abort: %s", db_strerror(ret));
}

/* Check t->committed after an ambiguous commit: 1 yes, 0 no, <0 unknown. */
static int
db_was_committed(struct ch_db *db, const struct ch_txn *t, void *arg)
{
	DB_TXN *txn;
	int ret, try;

	for (try = 0; try < 100; try++) {
		if (!db_ready(db))
			return -1;
		if ((ret = ch_db_begin(db, &txn, DB_READ_COMMITTED)) == 0) {
			ret = t->committed(db, txn, arg);
			ch_db_abort(txn);
			if (ret == 0 || ret == 1)
				return ret;
		}
		if (ret == DB_RUNRECOVERY)
			ch_db_reopen(db, "the store was recovered");
		else
			ch_db_backoff(try);
	}
	return -1;
}

/*
 * Run t->run(db, txn, arg) in a transaction of its own and commit it: the
 * only way chatr runs a transaction.
 *
 * t->run returns 0 to commit, or anything else to abort: a Berkeley DB
 * error, or a value of the caller's own (CH_LIMITED, ...), which is
 * returned as it is.  It may run several times, so it must start afresh
 * each time.  The transaction runs again while it has not committed:
 *   - after contention (DB_LOCK_NOTGRANTED; nobody waits for a lock),
 *     after a short jittered sleep, for up to t->budget_ms (0: the
 *     default, CH_DB_BUSY_MS; <0: not at all, for a caller such as the
 *     relay that must never sleep and tries again later);
 *   - after the environment was recovered under it (DB_RUNRECOVERY),
 *     once the store is reopened, at most DB_REOPENS times.
 * When the commit itself fails with DB_RUNRECOVERY it is not known
 * whether it took: t->committed(db, txn, arg), given a read transaction
 * of the reopened store, answers 1 (it did: ch_db_run returns 0) or 0 (run
 * it again).  Without t->committed the transaction is simply run again:
 * only for work that is harmless twice.
 *
 * A store that cannot be opened just now (being recovered) is waited for
 * within the same budget.  Returns 0 once committed; CH_DB_UNAVAILABLE
 * when the store cannot be opened; else the Berkeley DB error or the
 * caller's value.
 */
int
ch_db_run(struct ch_db *db, const struct ch_txn *t, void *arg)
{
	int64_t start = 0, budget;
	unsigned long unacked;
	DB_TXN *txn;
	int ret, try, reopens = 0, repl = ch_cfg_replicated(db->cfg);

	budget = t->budget_ms == 0 ? CH_DB_BUSY_MS : t->budget_ms;
	for (try = 0;; try++) {
		if (!db_ready(db)) {
			/* Not before chatr-repl is ready: no use waiting. */
			if (db->waiting_repl)
				return CH_DB_UNAVAILABLE;
			/* Being recovered, perhaps: wait within the budget. */
			if (start == 0)
				start = ch_time_mono_ms();
			if (budget < 0 || ch_time_mono_ms() - start > budget)
				return CH_DB_UNAVAILABLE;
			ch_db_backoff(try);
			continue;
		}
		/* A write on the master: the group must be able to hear it. */
		if (repl && try == 0 && !(t->flags & DB_READ_COMMITTED) &&
		    ch_repl_is_master(db))
			(void)ch_repl_connected(db, CH_REPL_CONNECT_MS);
		unacked = ch_repl_unacked();
		if ((ret = ch_db_begin(db, &txn, t->flags)) == 0) {
			if ((ret = t->run(db, txn, arg)) != 0)
				ch_db_abort(txn);
			else if ((ret = ch_db_commit(txn, 0)) == 0)
				return ch_repl_unacked() == unacked ? 0 :
				    CH_DB_UNACKED;
			else if (ret == DB_RUNRECOVERY &&
			    t->committed != NULL) {
				ch_db_reopen(db, "the store was recovered as "
				    "a transaction committed");
				reopens++;
				switch (db_was_committed(db, t, arg)) {
				case 1:
					return 0;
				case 0:
					continue;
				default:
					return CH_DB_UNAVAILABLE;
				}
			}
		}
		if (ret == DB_RUNRECOVERY) {
			if (++reopens > DB_REOPENS ||
			    ch_db_reopen(db, "the store was recovered") != 0)
				return CH_DB_UNAVAILABLE;
			continue;
		}
		if (repl && ret == DB_REP_HANDLE_DEAD) {
			/* A replica's sync replaced the databases. */
			if (++reopens > DB_REOPENS)
				return CH_DB_UNAVAILABLE;
			db_close_dbs(db);
			db->partial = 1;
			db->tried_open = 0;
			continue;
		}
		if (repl && ret == EACCES)
			return CH_DB_REPLICA;	/* not the master (any more) */
		if (repl && ret == DB_REP_UNAVAIL)
			return CH_DB_UNAVAILABLE;
		if (!db_busy(ret))
			return ret;
		ch_metrics_count(db->cfg, CH_MET_DEADLOCK);
		if (budget < 0)
			return ret;
		if (start == 0)
			start = ch_time_mono_ms();
		else if (ch_time_mono_ms() - start > DB_FAILCHK_AFTER_MS)
			db_failchk(db);
		if (ch_time_mono_ms() - start > budget)
			return ret;
		ch_metrics_count(db->cfg, CH_MET_RETRY);
		ch_db_backoff(try);
	}
}

/* The name of log file n: $db_home/log.0000000042. */
static void
db_logname(const struct ch_db *db, unsigned long n, char *buf, size_t size)
{
	snprintf(buf, size, "%s/log.%010lu", db->cfg->db_home, n);
}

/* The number of the newest log file (0 if there is none). */
static unsigned long
db_lognewest(const struct ch_db *db)
{
	struct dirent *d;
	unsigned long n, max = 0;
	char *end;
	DIR *dir;

	if ((dir = opendir(db->cfg->db_home)) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (strncmp(d->d_name, "log.", 4) != 0 ||
		    strlen(d->d_name) != 14)
			continue;
		n = strtoul(d->d_name + 4, &end, 10);
		if (*end == '\0' && n > max)
			max = n;
	}
	closedir(dir);
	return max;
}

/*
 * Sync the newest log file: every commit written before the call survives
 * a power cut.
 *
 * Commits have written their log records to the newest log file already
 * (DB_TXN_WRITE_NOSYNC), and Berkeley DB syncs a log file before it moves
 * on to the next; so syncing the newest file makes every commit made
 * before the call durable.  This process does that itself, with
 * fdatasync(2), outside the library: a process that dies in the middle of
 * an fsync then leaves nothing behind in the store (DB_ENV->log_flush
 * would hold a mutex of the log through it, and make every other poster
 * wait on it inside the library).
 */
static int
db_sync(struct ch_db *db)
{
	char name[4200];
	struct stat st;
	int fd;

	if (db->logfd < 0) {
		if ((db->logno = db_lognewest(db)) == 0)
			return ENOENT;
		db_logname(db, db->logno, name, sizeof(name));
		if ((db->logfd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
			return errno;
	}
	for (;;) {
		db_logname(db, db->logno + 1, name, sizeof(name));
		if (stat(name, &st) != 0)
			break;
		if ((fd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
			return errno;
		close(db->logfd);
		db->logfd = fd;
		db->logno++;
	}
	while (fdatasync(db->logfd) != 0)
		if (errno != EINTR)
			return errno;
	return 0;
}

/*
 * Force the log to disk: every commit made so far survives a power cut.
 * Concurrent posters each sync; the file system's journal merges syncs
 * that overlap into one commit (an explicit group commit, the syncs
 * numbered in shared memory and made one at a time under a lock, measured
 * 3% slower here: its waiters sleep and wake in turn).
 */
int
ch_db_flush(struct ch_db *db)
{
	if (db->cfg == NULL)
		return CH_DB_UNAVAILABLE;
	return db_sync(db);
}

/*
 * Was the store recovered by another process since this one joined it?
 * Its regions are then new files.  A commit this process made into the
 * old regions while the recovery ran may be lost: the recovery read the
 * log to where it ended then, and the new environment writes over what
 * came after.  (Recovery replaces the regions before it reads the log, so
 * a commit flushed while they were still the old ones is in what it
 * reads.)
 */
int
ch_db_recovered_under(struct ch_db *db)
{
	struct stat st;
	char path[4200];

	if (db->cfg == NULL || db->region_ino == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/__db.001", db->cfg->db_home);
	return stat(path, &st) != 0 || st.st_ino != db->region_ino;
}

/*
 * Make what t committed durable: flush, then make sure no recovery ran
 * under the commit; if one did, look for it in the recovered store with
 * t->committed.  0 when it is on disk; CH_DB_LOST when the recovery lost
 * it; CH_DB_UNAVAILABLE when that cannot be told; a flush that fails is
 * logged and answered 0 (what committed is answered as committed).
 */
int
ch_db_durable(struct ch_db *db, const struct ch_txn *t, void *arg)
{
	int ret;

	if ((ret = ch_db_flush(db)) != 0 && ret != CH_DB_UNAVAILABLE)
		ch_log_err("committed, but flushing the store failed: %s",
		    db_strerror(ret));
	if (!ch_db_recovered_under(db))
		return 0;
	if (t->committed == NULL || ch_db_reopen(db, "the store was "
	    "recovered as a transaction committed") != 0)
		return CH_DB_UNAVAILABLE;
	switch (db_was_committed(db, t, arg)) {
	case 1:
		return 0;
	case 0:
		ch_log_warn("a commit was lost to a recovery that ran under "
		    "it; it is not acknowledged");
		return CH_DB_LOST;
	default:
		return CH_DB_UNAVAILABLE;
	}
}

/* The sweep of the request limit's quiet addresses, as ch_db_run runs it. */
static int
db_sweep_run(struct ch_db *db, DB_TXN *txn, void *arg)
{
	int gone;

	(void)arg;
	return ch_limit_sweep(db, txn, CH_LIMIT_REQUESTS,
	    &db->cfg->requests_ip, ch_time_ms(), DB_SWEEP_MAX, &gone);
}

static const struct ch_txn db_sweep_txn = {
	.run = db_sweep_run,
	.budget_ms = -1, /* met a lock: next time */
};

/*
 * Periodic housekeeping, cheap enough to call after every request: take a
 * checkpoint when enough log has been written (which lets old log files
 * go), and sweep away the request limit's records of quiet addresses.
 * force: checkpoint now regardless of the clock.  A store found recovered
 * is reopened.
 */
void
ch_db_maintain(struct ch_db *db, int force)
{
	int64_t now = ch_time_mono_ms();
	int ret;

	if (!db_ready(db))
		return;
	/* A replica's store is the master's: it writes no records of its own,
	 * and takes the checkpoints that come in the master's log. */
	if (!ch_repl_is_master(db))
		return;
	if (db->cfg->requests_ip.count != 0 &&
	    now - db->last_sweep >= DB_SWEEP_EVERY_MS) {
		db->last_sweep = now;
		if ((ret = ch_db_run(db, &db_sweep_txn, NULL)) != 0 &&
		    !db_busy(ret))
			ch_log_warn("sweeping the request limit: %s",
			    db_strerror(ret));
	}
	if (!force && now - db->last_checkpoint < DB_CKPT_EVERY_MS)
		return;
	/* Replicated, the replication process alone takes them: one
	 * checkpointer, and no request waits behind one. */
	if (ch_cfg_replicated(db->cfg) && !db_repl_process)
		return;
	db->last_checkpoint = now;
	if ((ret = db->env->txn_checkpoint(db->env, 1024, 1, 0)) != 0) {
		if (ret == DB_RUNRECOVERY)
			ch_db_reopen(db, "the store was recovered");
		else if (!db_busy(ret))
			ch_log_err("checkpoint: %s", db_strerror(ret));
	}
}

/* Store v big-endian in 8 bytes at p. */
void
ch_db_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

/* Read 8 big-endian bytes at p. */
uint64_t
ch_db_get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Point d at len bytes at p (borrowed: nothing is copied or freed). */
void
ch_db_dbt(DBT *d, const void *p, size_t len)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)p;
	d->size = (uint32_t)len;
}

/* Read counter name into *out (0 if it was never set). */
int
ch_db_counter_get(struct ch_db *db, DB_TXN *txn, const char *name,
    uint64_t *out)
{
	unsigned char buf[8];
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)name;
	key.size = (uint32_t)strlen(name);
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = db->meta->get(db->meta, txn, &key, &data, 0);
	if (ret == DB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	if (ret != 0)
		return ret;
	if (data.size != 8)
		return EINVAL;
	*out = ch_db_get_be64(buf);
	return 0;
}

/*
 * End a cursor walk that ended with ret: DB_NOTFOUND (the end) is 0; the
 * cursor is closed, and its close's error is the result if ret was 0.
 */
int
ch_db_cursor_done(DBC *c, int ret)
{
	int cret;

	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((cret = c->close(c)) != 0 && ret == 0)
		ret = cret;
	return ret;
}

/*
 * Add delta to counter name, write-locking it until txn ends; the new
 * value goes to *out if not NULL.  The counter never goes below zero.
 */
int
ch_db_counter_add(struct ch_db *db, DB_TXN *txn, const char *name,
    int64_t delta, uint64_t *out)
{
	unsigned char buf[8];
	uint64_t v = 0;
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)name;
	key.size = (uint32_t)strlen(name);
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = db->meta->get(db->meta, txn, &key, &data, DB_RMW);
	if (ret == 0 && data.size == 8)
		v = ch_db_get_be64(buf);
	else if (ret != 0 && ret != DB_NOTFOUND)
		return ret;
	if (delta < 0 && (uint64_t)-delta > v)
		v = 0;
	else
		v += (uint64_t)delta;
	ch_db_be64(buf, v);
	data.size = 8;
	if ((ret = db->meta->put(db->meta, txn, &key, &data, 0)) != 0)
		return ret;
	if (out != NULL)
		*out = v;
	return 0;
}
