/*
 * chatr-repl -- a node's replication process (see common/repl.c).
 *
 * chatrd starts it before every other program when CHATR_REPL_LISTEN is
 * set, and starts it again if it dies.  It opens the node's store first,
 * so that repmgr's listening socket, its elections and the applying of
 * the master's log live in a process that does nothing else; it makes the
 * replication group when this node is the one to (ch_repl_creator).
 * While this node is the master it keeps the node's URL in the store
 * (ch_repl_publish) for the replicas that forward writes here, and takes
 * the store's checkpoints.
 *
 * Once it has started repmgr it writes $CHATR_VAR/run/repl.ready, which
 * chatrd waits for before it starts the other programs (they become
 * subordinates of this one).  SIGTERM or SIGINT: close the store, exit.
 *
 * usage: chatr-repl [-c config]
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chatr.h"

#define REPL_TICK_MS 100
#define REPL_PUBLISH_MS 1000

static volatile sig_atomic_t repl_stop;

static void
repl_onsignal(int sig)
{
	(void)sig;
	repl_stop = 1;
}

/* Write path (empty), to say the replication process is up. */
static void
repl_ready(const char *path)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL || fclose(f) != 0)
		ch_log_err("writing %s: %s", path, strerror(errno));
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct timespec ts;
	struct ch_cfg cfg;
	struct ch_db db;
	const char *conf = NULL;
	char *cause = NULL, *ready;
	int64_t last_publish = 0, now;
	int c, master, was_master = 0;

	ch_log_init("chatr-repl");
	while ((c = getopt(argc, argv, "c:")) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		default:
			fprintf(stderr, "usage: chatr-repl [-c config]\n");
			return 2;
		}
	}
	if (ch_cfg_load(&cfg, conf, &cause) != 0) {
		ch_log_err("configuration: %s", cause);
		free(cause);
		return 1;
	}
	if (!ch_cfg_replicated(&cfg)) {
		ch_log_err("CHATR_REPL_LISTEN is not set: nothing to do");
		ch_cfg_free(&cfg);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = repl_onsignal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		ch_fatal("sigaction: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);

	ready = ch_xprintf("%s/run/repl.ready", cfg.var);
	(void)unlink(ready);
	ch_db_replication_process();
	if (ch_db_open(&db, &cfg, &cause) != 0) {
		ch_log_err("%s", cause);
		free(cause);
		free(ready);
		ch_cfg_free(&cfg);
		return 1;
	}
	ch_log_info("replication on %s, joining through %s", cfg.repl_listen,
	    cfg.npeers > 0 ? cfg.repl_peers : "no one (a group of one)");
	repl_ready(ready);

	while (!repl_stop) {
		ts.tv_sec = 0;
		ts.tv_nsec = REPL_TICK_MS * 1000000L;
		(void)nanosleep(&ts, NULL);
		now = ch_time_mono_ms();
		master = ch_repl_is_master(&db);
		if (master && (!was_master ||
		    now - last_publish >= REPL_PUBLISH_MS)) {
			/* The databases too, once this node can make them. */
			if (ch_repl_publish(&db) == 0)
				last_publish = now;
		}
		was_master = master;
		ch_db_maintain(&db, 0);
	}
	ch_log_info("stopping");
	(void)unlink(ready);
	free(ready);
	ch_db_close(&db);
	ch_cfg_free(&cfg);
	return 0;
}
