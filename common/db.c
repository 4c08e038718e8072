/*
 * db.c -- the shared Berkeley DB environment under $CHATR_VAR/db.
 *
 * Every chatr process (each FastCGI endpoint, the relay, the tools) opens
 * the same transactional environment: locking, logging, a shared cache and
 * transactions, so that concurrent processes never corrupt or lose data.
 *
 * Crashes: every opener passes DB_REGISTER | DB_RECOVER, so the first
 * process to open the environment after one died uncleanly runs recovery
 * (the others then see DB_RUNRECOVERY and open it again).  lighttpd starts
 * a FastCGI program in place of a dead one and run.sh restarts the relay,
 * so a death is noticed at once.  Deadlocks are broken by the lock
 * detector on every conflict and come back as a retryable error
 * (ch_db_retryable).  A lock wait gives up after a timeout
 * (DB_LOCK_NOTGRANTED, not retried: 3 s is already far beyond any chatr
 * transaction, and ch_serve then joins the store again).
 *
 * Not failchk(): with Debian's libdb5.3 and a current glibc, failchk
 * cleaning up a dead process's locker destroys a condition variable that
 * another process is waiting on, and pthread_cond_destroy() then waits
 * for ever, holding the lock region: the whole store hangs
 * (test/integ/72-stuck.sh reproduces it).  Full recovery does not.  A
 * process left waiting on the abandoned regions after a recovery is ended
 * by its watchdog (watchdog.c) and started afresh.
 *
 * Durability: commits write the log to the kernel (DB_TXN_WRITE_NOSYNC),
 * which survives the death of any process; an operation that must survive
 * a power cut calls ch_db_flush() before it answers, so concurrent writers
 * share one fsync (group commit).  Log files are removed once a checkpoint
 * no longer needs them.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatr.h"

#define DB_LOCK_TIMEOUT_US (3 * 1000000)
#define DB_CKPT_EVERY_MS (30 * 1000)

static void
db_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	ch_log_err("db: %s", msg);
}

static void
db_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	ch_log_warn("db: %s", msg);
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
};
#define NDBS (sizeof(dbs) / sizeof(dbs[0]))

/*
 * Open the environment and every database.  0 on success; else -1 with an
 * allocated *cause and db cleared.
 */
int
ch_db_open(struct ch_db *db, const struct ch_cfg *cfg, char **cause)
{
	DB_ENV *env;
	DB **dbp;
	char *rundir;
	size_t i;
	int ret, try;

	memset(db, 0, sizeof(*db));
	rundir = ch_xprintf("%s/run", cfg->var);
	if (db_mkdirs(cfg->db_home, cause) != 0 ||
	    db_mkdirs(rundir, cause) != 0) {
		free(rundir);
		return -1;
	}
	free(rundir);
	if ((ret = db_env_create(&env, 0)) != 0) {
		*cause = ch_xprintf("db_env_create: %s", db_strerror(ret));
		return -1;
	}
	db->env = env;
	env->set_errcall(env, db_errcall);
	env->set_msgcall(env, db_msgcall);
	if ((ret = env->set_cachesize(env, cfg->db_cache_mb / 1024,
	    (cfg->db_cache_mb % 1024) * 1024 * 1024, 1)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->set_timeout(env, DB_LOCK_TIMEOUT_US,
	    DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, 4000)) != 0 ||
	    (ret = env->set_lk_max_locks(env, 20000)) != 0 ||
	    (ret = env->set_lk_max_objects(env, 20000)) != 0 ||
	    (ret = env->set_tx_max(env, 1000)) != 0 ||
	    (ret = env->set_lg_bsize(env, 1024 * 1024)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    (ret = env->set_flags(env, DB_TIME_NOTGRANTED, 1)) != 0 ||
	    (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0) {
		*cause = ch_xprintf("configuring the environment: %s",
		    db_strerror(ret));
		goto fail;
	}
	ret = env->open(env, cfg->db_home,
	    DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
	    DB_INIT_TXN | DB_REGISTER | DB_RECOVER, 0600);
	if (ret != 0) {
		*cause = ch_xprintf("opening the environment %s: %s",
		    cfg->db_home, db_strerror(ret));
		goto fail;
	}
	for (i = 0; i < NDBS; i++) {
		dbp = (DB **)((char *)db + dbs[i].off);
		for (try = 0; try < CH_DB_RETRIES; try++) {
			if ((ret = db_create(dbp, env, 0)) != 0)
				break;
			ret = (*dbp)->open(*dbp, NULL, dbs[i].file, NULL,
			    DB_BTREE, DB_CREATE | DB_AUTO_COMMIT |
			    DB_READ_UNCOMMITTED, 0600);
			if (ret == 0)
				break;
			(*dbp)->close(*dbp, 0);
			*dbp = NULL;
			if (!ch_db_retryable(ret))
				break;
		}
		if (ret != 0) {
			*cause = ch_xprintf("opening %s: %s", dbs[i].file,
			    db_strerror(ret));
			goto fail;
		}
	}
	db->last_checkpoint = ch_time_mono_ms();
	return 0;
fail:
	ch_db_close(db);
	return -1;
}

/* Close every database and the environment. */
void
ch_db_close(struct ch_db *db)
{
	DB **dbp;
	size_t i;
	int ret;

	for (i = 0; i < NDBS; i++) {
		dbp = (DB **)((char *)db + dbs[i].off);
		if (*dbp != NULL && (ret = (*dbp)->close(*dbp, 0)) != 0)
			ch_log_warn("closing %s: %s", dbs[i].file,
			    db_strerror(ret));
		*dbp = NULL;
	}
	if (db->env != NULL && (ret = db->env->close(db->env, 0)) != 0)
		ch_log_warn("closing the environment: %s", db_strerror(ret));
	db->env = NULL;
}

/* Can an operation that failed with ret be retried in a new txn? */
int
ch_db_retryable(int ret)
{
	return ret == DB_LOCK_DEADLOCK;
}

/* Begin a transaction (flags as for DB_ENV->txn_begin). */
int
ch_db_begin(struct ch_db *db, DB_TXN **txn, uint32_t flags)
{
	int ret;

	*txn = NULL;
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

	if (txn != NULL && (ret = txn->abort(txn)) != 0)
		ch_log_err("txn abort: %s", db_strerror(ret));
}

/*
 * Run fn(db, txn, arg) in a transaction of its own, committed when fn
 * returns 0 and retried (a few times, after a short pause) when it or the
 * commit meets a deadlock or a lock timeout.  fn returns 0, a Berkeley DB
 * error, or any other nonzero value of its own, which aborts and is
 * returned as it is.
 */
int
ch_db_run(struct ch_db *db, uint32_t flags,
    int (*fn)(struct ch_db *, DB_TXN *, void *), void *arg)
{
	struct timespec ts;
	DB_TXN *txn;
	int ret = 0, try;

	for (try = 0; try < CH_DB_RETRIES; try++) {
		if (try > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long)(try * try) * 1000000L;
			nanosleep(&ts, NULL);
		}
		if ((ret = ch_db_begin(db, &txn, flags)) != 0)
			return ret;
		if ((ret = fn(db, txn, arg)) != 0) {
			ch_db_abort(txn);
			if (ch_db_retryable(ret))
				continue;
			return ret;
		}
		if ((ret = ch_db_commit(txn, 0)) == 0 || !ch_db_retryable(ret))
			return ret;
	}
	return ret;
}

/* Force the log to disk: every commit so far survives a power cut. */
int
ch_db_flush(struct ch_db *db)
{
	return db->env->log_flush(db->env, NULL);
}

/*
 * Periodic housekeeping, cheap enough to call after every request: take a
 * checkpoint when enough log has been written (which lets old log files
 * go).  force: do it now regardless of the clock.  DB_RUNRECOVERY when
 * the environment must be closed and opened again.
 */
int
ch_db_maintain(struct ch_db *db, int force)
{
	int64_t now = ch_time_mono_ms();
	int ret;

	if (!force && now - db->last_checkpoint < DB_CKPT_EVERY_MS)
		return 0;
	db->last_checkpoint = now;
	if ((ret = db->env->txn_checkpoint(db->env, 1024, 1, 0)) != 0) {
		if (ret == DB_RUNRECOVERY)
			return ret;
		ch_log_err("checkpoint: %s", db_strerror(ret));
	}
	return 0;
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
