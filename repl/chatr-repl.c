/*
 * chatr-repl -- a node's replication process (see common/repl.c).
 *
 * chatrd starts it before every other program when CHATR_REPL_LISTEN is
 * set, and starts it again if it dies.  It opens the node's store first,
 * so that repmgr's listening socket, its elections and the applying of
 * the master's log live in a process that does nothing else.
 *
 * A node whose store was never in a group joins through its peers.  The
 * one among them with the least address (ch_repl_creator) founds the
 * group instead when its join finds no group (on the first start of a
 * new one); a fresh node joining a live group joins it.
 * While this node is the master it keeps the node's URL in the store
 * (ch_repl_publish) for the replicas that forward writes here.
 *
 * Every tick (REPL_TICK_MS) it also: says in the node's shared memory
 * which master it is connected to (ch_repl_state; the node's other
 * processes trust no other word on it), sets the ack policy for the
 * group's size (ch_repl_ack_policy), replaces run/repl.members when a
 * site joins and asks chatrd (SIGUSR2) to replace the FastCGI programs,
 * so that the new ones connect to that site too (a program that sees the
 * file change ends after its request as well: see ch_db_rejoin),
 * sets TCP_NODELAY on repmgr's sockets (ch_repl_nodelay), and takes the
 * store's checkpoints, which no other process of a node in a group takes.
 *
 * Once this node is the master, or a replica that has caught up with one,
 * it writes $CHATR_VAR/run/repl.ready, which chatrd waits for before it
 * starts the other programs (they become subordinates of this one), and
 * which they wait for before they open the store.  It exits when the
 * store panics or is marked for recovery, for chatrd to start another
 * that recovers it, and (its watchdog) when its join or a turn of its
 * loop is stuck.  SIGTERM or
 * SIGINT: close the store, exit.
 *
 * usage: chatr-repl [-c config]
 */
#include "config.h"

#include <dirent.h>
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

/*
 * Empty a store that only ever waited to join (so that it can found the
 * group): Berkeley DB's regions and its log, nothing else.  0, or -1 when
 * something else is there.
 */
static int
repl_clear_fresh(const char *home)
{
	DIR *d;
	struct dirent *e;
	char *path;
	int ret = 0;

	if ((d = opendir(home)) == NULL) {
		ch_log_err("opendir %s: %s", home, strerror(errno));
		return -1;
	}
	while (ret == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strncmp(e->d_name, "__db.", 5) != 0 &&
		    strncmp(e->d_name, "log.", 4) != 0) {
			ch_log_err("%s holds %s: not a fresh store; not founding "
			    "a group on it", home, e->d_name);
			ret = -1;
			break;
		}
		path = ch_xprintf("%s/%s", home, e->d_name);
		if (unlink(path) != 0) {
			ch_log_err("unlink %s: %s", path, strerror(errno));
			ret = -1;
		}
		free(path);
	}
	(void)closedir(d);
	return ret;
}

/* Make path, an empty file (repl.ready, store-recover). */
static void
repl_touch(const char *path)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL || fclose(f) != 0)
		ch_log_err("writing %s: %s", path, strerror(errno));
}

/*
 * Replace $CHATR_VAR/run/repl.members with a new file, which says
 * something new (the joins seen, and this pid): a program of the node
 * that sees it change ends after its request (ch_db_rejoin), so that
 * repmgr in its successor connects to the sites that joined since (see
 * ch_repl_joins).  0, or -1 to try again.
 */
static int
repl_members(const struct ch_cfg *cfg, unsigned long joins)
{
	char *path = ch_xprintf("%s/run/repl.members", cfg->var);
	char *tmp = ch_xprintf("%s.tmp", path);
	FILE *f;
	int ret = 0;

	if ((f = fopen(tmp, "w")) == NULL) {
		ch_log_err("writing %s: %s", tmp, strerror(errno));
		ret = -1;
	} else if (fprintf(f, "%lu joins seen by process %ld\n", joins,
	    (long)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		ch_log_err("writing %s: %s", path, strerror(errno));
		ret = -1;
	}
	free(tmp);
	free(path);
	return ret;
}

/*
 * A site joined: ask chatrd, when it is our parent (it says its pid in
 * CHATRD_PID), to replace the node's FastCGI programs one at a time.
 */
static void
repl_tell_chatrd(void)
{
	const char *env = getenv("CHATRD_PID");
	pid_t parent = getppid();

	if (env == NULL || parent <= 1 || atol(env) != (long)parent)
		return;
	if (kill(parent, SIGUSR2) != 0)
		ch_log_warn("telling chatrd of a join: %s", strerror(errno));
	else
		ch_log_info("a site joined: chatrd replaces the programs, so "
		    "that they connect to it");
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct timespec ts;
	struct ch_cfg cfg;
	struct ch_db db;
	const char *conf = NULL;
	char *cause = NULL, *ready, *recover_mark;
	int64_t last_publish = 0, now;
	unsigned long joins = 0;
	struct ch_repl_state rs;
	int c, master, was_master = 0, found, ret, marked = 0, policy_err = 0;

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
	recover_mark = ch_xprintf("%s/run/store-recover", cfg.var);
	(void)unlink(ready);
	/* Joining fails with DB_REP_UNAVAIL when no site answers as one of
	 * a group: then the one that may founds it. */
	found = ch_repl_creator(&cfg);
	ch_db_replication_process(found && cfg.npeers == 0);
	/* As in every program: a join that stands still on a mutex of a
	 * process that died (it leaves the store marked for recovery, which
	 * the next replication process runs), or a turn of the loop stuck
	 * for CHATR_WATCHDOG seconds, ends this process. */
	ch_watchdog_start(cfg.watchdog);
	for (;;) {
		ch_watchdog_busy();
		ret = ch_db_open(&db, &cfg, &cause);
		ch_watchdog_idle();
		if (ret != DB_REP_UNAVAIL || cfg.npeers == 0 || repl_stop)
			break;
		if (found) {
			ch_log_info("no group answered: this node founds it "
			    "(%s)", cause);
			free(cause);
			cause = NULL;
			if (repl_clear_fresh(cfg.db_home) != 0)
				goto out;
			ch_db_replication_process(1);
			found = 0;
			continue;
		}
		/* The group is not there yet (or not a majority of it): keep
		 * asking, and keep the node's address meanwhile. */
		ch_log_info("no group answered yet; asking again (%s)", cause);
		free(cause);
		cause = NULL;
		ts.tv_sec = 1;
		ts.tv_nsec = 0;
		(void)nanosleep(&ts, NULL);
	}
	if (ret != 0)
		goto fail;
	ch_log_info("replication on %s, joining through %s", cfg.repl_listen,
	    cfg.npeers > 0 ? cfg.repl_peers : "no one (a group of one)");

	while (!repl_stop) {
		ch_watchdog_idle();
		ts.tv_sec = 0;
		ts.tv_nsec = REPL_TICK_MS * 1000000L;
		(void)nanosleep(&ts, NULL);
		ch_watchdog_busy();
		now = ch_time_mono_ms();
		ret = ch_repl_state(&db, &rs);
		if (access(recover_mark, F_OK) == 0) {
			/* Another process found the store in need of
			 * recovery, which is this process's to run. */
			ch_log_warn("the store is marked for recovery; exiting "
			    "so that a fresh replication process recovers it");
			(void)unlink(ready);
			free(ready);
			free(recover_mark);
			ch_cfg_free(&cfg);
			return 1;
		}
		if (ret == DB_RUNRECOVERY || ch_repl_panicked()) {
			/* chatrd starts another, which recovers the store. */
			ch_log_err("the store panicked; exiting so that a "
			    "fresh replication process recovers it");
			repl_touch(recover_mark);
			(void)unlink(ready);
			free(ready);
			free(recover_mark);
			ch_cfg_free(&cfg);
			return 1;
		}
		master = ret == 0 && rs.role == CH_ROLE_MASTER;
		/* before anyone else commits (they wait for repl.ready) */
		if ((c = ch_repl_ack_policy(&db)) != 0 && c != policy_err)
			ch_log_err("setting the ack policy: %s",
			    db_strerror(c));
		policy_err = c;
		/* The others open the store once it holds the group's data:
		 * a fresh replica's first sync (internal init) replaces
		 * whole databases, and runs with no one else inside. */
		if (joins != ch_repl_joins() &&
		    repl_members(&cfg, ch_repl_joins()) == 0) {
			joins = ch_repl_joins();
			if (marked)
				repl_tell_chatrd();
		}
		if (!marked && ret == 0 && rs.caught_up &&
		    repl_members(&cfg, joins) == 0) {
			repl_touch(ready);
			marked = 1;
		}
		if (master && (!was_master ||
		    now - last_publish >= REPL_PUBLISH_MS)) {
			/* The databases too, once this node can make them. */
			if (ch_repl_publish(&db) == 0)
				last_publish = now;
		}
		was_master = master;
		ch_repl_nodelay(&db);
		ch_db_maintain(&db, 0);
	}
	ch_watchdog_idle();
	ch_log_info("stopping");
	(void)unlink(ready);
	free(ready);
	free(recover_mark);
	ch_db_close(&db);
	ch_watchdog_stop();
	ch_cfg_free(&cfg);
	return 0;
fail:
	ch_log_err("%s", cause);
	free(cause);
out:
	free(ready);
	free(recover_mark);
	ch_cfg_free(&cfg);
	return 1;
}
