/*
 * holdlock.c -- play a chatr process that dies at a bad moment.  Used by
 * 72-stuck.sh.
 *
 *   holdlock idle       join the store, write a record into agents.db in a
 *                       transaction that is never committed, print
 *                       "locked", then sleep outside Berkeley DB: a death
 *                       there leaves only the transaction and its locks,
 *                       which failchk frees.
 *   holdlock inside     join the store, take a mutex of its own, print
 *                       "locked ID", then take it again: the process now
 *                       sits inside Berkeley DB holding a mutex, and a
 *                       death there needs recovery.
 *   holdlock waiter ID  join the store and wait for mutex ID (inside
 *                       Berkeley DB, as a process waits for one a dead
 *                       process held); its watchdog ends it once the store
 *                       is recovered under it.
 *   holdlock registry   play a process that found one that died in the
 *                       store and is stuck in its failchk: hold the
 *                       store's registry lock, add the line of a dead
 *                       process to the registry, and never go on.
 *                       Nobody can join the store meanwhile.
 *   holdlock registry N play a slow opener with nothing dead: hold the
 *                       registry lock for N seconds, then let go.
 *   holdlock open       join the store and leave, as a program that chatrd
 *                       starts in place of a dead one does.
 *   holdlock lsn        join the store and print where its log ends
 *                       ("FILE OFFSET"), for 25-nowrite.sh: what a request
 *                       wrote (log files are made at full size at once).
 *
 * The configuration comes from CHATR_CONFIG and CHATR_* as for every chatr
 * program; the watchdog runs (CHATR_WATCHDOG).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: holdlock idle|inside|waiter ID|registry [N]|"
	    "open|lsn\n");
	exit(2);
}

/*
 * Add the registry line of a process that died (a child that has exited;
 * nobody holds the line's lock) at the end of the registry fd.
 */
static int
dead_slot(int fd)
{
	char line[32];
	struct stat st;
	pid_t pid;
	int status;

	if ((pid = fork()) < 0) {
		fprintf(stderr, "holdlock: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0)
		_exit(0);
	if (waitpid(pid, &status, 0) != pid || fstat(fd, &st) != 0) {
		fprintf(stderr, "holdlock: %s\n", strerror(errno));
		return -1;
	}
	snprintf(line, sizeof(line), "%24lu\n", (unsigned long)pid);
	if (pwrite(fd, line, 25, st.st_size - st.st_size % 25) != 25) {
		fprintf(stderr, "holdlock: writing the registry: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ch_cfg cfg;
	struct ch_db db;
	struct flock fl;
	DB_TXN *txn;
	DBT key, data;
	db_mutex_t m;
	char k[] = "holdlock", v[] = "x", *path;
	char *cause = NULL;
	int ret, fd;

	ch_log_init("holdlock");
	if (argc < 2)
		usage();
	if (ch_cfg_load(&cfg, NULL, &cause) != 0) {
		fprintf(stderr, "holdlock: %s\n", cause);
		return 1;
	}
	ch_watchdog_start(cfg.watchdog);
	ch_watchdog_busy();
	if (strcmp(argv[1], "registry") == 0) {
		path = ch_xprintf("%s/__db.register", cfg.db_home);
		if ((fd = open(path, O_RDWR)) < 0) {
			fprintf(stderr, "holdlock: %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = 1;
		fl.l_len = 1;
		if (fcntl(fd, F_SETLKW, &fl) != 0) {
			fprintf(stderr, "holdlock: fcntl: %s\n",
			    strerror(errno));
			return 1;
		}
		if (argc == 3) {
			/* slow: nothing died; let go after a while */
			printf("locked\n");
			fflush(stdout);
			ch_watchdog_idle();
			sleep((unsigned int)strtoul(argv[2], NULL, 10));
			printf("released\n");
			close(fd);
			free(path);
			ch_watchdog_stop();
			ch_cfg_free(&cfg);
			return 0;
		}
		if (dead_slot(fd) != 0)
			return 1;
		printf("locked\n");
		fflush(stdout);
		ch_watchdog_idle();
		for (;;)
			pause();
	}
	if (ch_db_open(&db, &cfg, &cause) != 0) {
		fprintf(stderr, "holdlock: %s\n", cause);
		free(cause);
		return 1;
	}
	if (strcmp(argv[1], "open") == 0) {
		ch_db_close(&db);
		ch_watchdog_stop();
		ch_cfg_free(&cfg);
		printf("opened\n");
		return 0;
	}
	if (strcmp(argv[1], "lsn") == 0) {
		DB_LOG_STAT *ls;

		if ((ret = db.env->log_stat(db.env, &ls, 0)) != 0) {
			fprintf(stderr, "holdlock: log_stat: %s\n",
			    db_strerror(ret));
			return 1;
		}
		printf("%lu %lu\n", (unsigned long)ls->st_cur_file,
		    (unsigned long)ls->st_cur_offset);
		free(ls);
		ch_db_close(&db);
		ch_watchdog_stop();
		ch_cfg_free(&cfg);
		return 0;
	}
	if (strcmp(argv[1], "idle") == 0) {
		if ((ret = ch_db_begin(&db, &txn, 0)) != 0) {
			fprintf(stderr, "holdlock: begin: %s\n",
			    db_strerror(ret));
			return 1;
		}
		ch_db_dbt(&key, k, sizeof(k) - 1);
		ch_db_dbt(&data, v, sizeof(v) - 1);
		if ((ret = db.agents->put(db.agents, txn, &key, &data, 0)) !=
		    0) {
			fprintf(stderr, "holdlock: put: %s\n",
			    db_strerror(ret));
			return 1;
		}
		printf("locked\n");
		fflush(stdout);
		ch_watchdog_idle();
		for (;;)
			pause();
	}
	if (strcmp(argv[1], "inside") == 0) {
		if ((ret = db.env->mutex_alloc(db.env, 0, &m)) != 0 ||
		    (ret = db.env->mutex_lock(db.env, m)) != 0) {
			fprintf(stderr, "holdlock: mutex: %s\n",
			    db_strerror(ret));
			return 1;
		}
		printf("locked %lu\n", (unsigned long)m);
		fflush(stdout);
		ch_watchdog_idle(); /* only the test ends this one */
		ret = db.env->mutex_lock(db.env, m); /* never returns */
		fprintf(stderr, "holdlock: the second lock ended: %s\n",
		    db_strerror(ret));
		return 1;
	}
	if (strcmp(argv[1], "waiter") == 0 && argc == 3) {
		m = (db_mutex_t)strtoul(argv[2], NULL, 10);
		printf("waiting\n");
		fflush(stdout);
		ret = db.env->mutex_lock(db.env, m);
		fprintf(stderr, "holdlock: the wait ended: %s\n",
		    db_strerror(ret));
		return 1;
	}
	usage();
}
