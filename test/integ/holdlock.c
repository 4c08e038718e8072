/*
 * holdlock.c -- play a chatr process that dies in the middle of a
 * transaction.  Used by 72-stuck.sh.
 *
 *   holdlock hold   join the store, write a record into agents.db in a
 *                   transaction that is never committed, print "locked",
 *                   then read the record in a second transaction, which
 *                   waits for the first for ever: the process now sits
 *                   inside Berkeley DB, holding a lock every reader of
 *                   that page waits for.  The test kills it with SIGKILL
 *                   there, so that failchk() cannot clean up after it and
 *                   the store needs recovery.
 *   holdlock idle   the same write, then sleep outside Berkeley DB: a
 *                   death there needs no recovery, only someone to notice.
 *   holdlock open   join the store and leave, as a FastCGI process that
 *                   lighttpd starts in place of a dead one does; joining
 *                   after a death runs recovery (DB_REGISTER).
 *
 * The configuration comes from CHATR_CONFIG and CHATR_* as for every chatr
 * program.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

int
main(int argc, char **argv)
{
	struct ch_cfg cfg;
	struct ch_db db;
	DB_TXN *txn, *txn2;
	DBT key, data;
	char k[] = "holdlock", v[] = "x";
	char *cause = NULL;
	int ret;

	ch_log_init("holdlock");
	if (argc != 2 || (strcmp(argv[1], "hold") != 0 &&
	    strcmp(argv[1], "idle") != 0 && strcmp(argv[1], "open") != 0)) {
		fprintf(stderr, "usage: holdlock hold|idle|open\n");
		return 2;
	}
	if (ch_cfg_load(&cfg, NULL, &cause) != 0 ||
	    ch_db_open(&db, &cfg, &cause) != 0) {
		fprintf(stderr, "holdlock: %s\n", cause);
		free(cause);
		return 1;
	}
	if (strcmp(argv[1], "open") == 0) {
		ch_db_close(&db);
		ch_cfg_free(&cfg);
		printf("opened\n");
		return 0;
	}
	if ((ret = ch_db_begin(&db, &txn, 0)) != 0) {
		fprintf(stderr, "holdlock: begin: %s\n", db_strerror(ret));
		return 1;
	}
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = k;
	key.size = sizeof(k) - 1;
	data.data = v;
	data.size = sizeof(v) - 1;
	if ((ret = db.agents->put(db.agents, txn, &key, &data, 0)) != 0) {
		fprintf(stderr, "holdlock: put: %s\n", db_strerror(ret));
		return 1;
	}
	printf("locked\n");
	fflush(stdout);
	if (strcmp(argv[1], "idle") == 0)
		for (;;)
			pause();
	if ((ret = ch_db_begin(&db, &txn2, 0)) != 0 ||
	    (ret = txn2->set_timeout(txn2, 0, DB_SET_LOCK_TIMEOUT)) != 0) {
		fprintf(stderr, "holdlock: begin: %s\n", db_strerror(ret));
		return 1;
	}
	for (;;) {
		memset(&data, 0, sizeof(data));
		ret = db.agents->get(db.agents, txn2, &key, &data, 0);
		fprintf(stderr, "holdlock: the second read ended: %s\n",
		    db_strerror(ret));
		sleep(1);
	}
}
