/*
 * repl.c -- one room on several nodes: Berkeley DB's Replication Manager
 * under the store of db.c, when CHATR_REPL_LISTEN is set.
 *
 * Every node holds a whole copy of the store.  One node of the group is
 * the master and takes every write; the others (replicas) apply the
 * master's log as it comes and serve reads from their copy.  repmgr holds
 * the elections: when the master is lost, the sites that remain elect the
 * one with the most log, once a majority of the group votes.
 *
 * Processes.  Every chatr process of a node (chatr-repl, the relay, each
 * FastCGI program) opens the node's one environment and starts repmgr in
 * it.  The first to start it takes the node's listening address and is
 * the replication process: it answers the other nodes, applies their
 * messages and runs the elections.  chatrd starts chatr-repl first, so
 * that it is chatr-repl.  Every later process is a subordinate: it has its
 * own connections to the other nodes, so that the log records of its own
 * commits go out at once and the acknowledgements come back to it
 * (repmgr sends each acknowledgement to every connection the master has
 * open to it).
 *
 * Durability.  The ack policy is QUORUM: a commit on the master returns
 * once a majority of the electable sites hold it, or when the ack timeout
 * passes without them (DB_EVENT_REP_PERM_FAILED, raised in the thread
 * that committed).  ch_db_run answers such a commit CH_DB_UNACKED, never
 * success, so a 200 always means "on a majority".  With two sites,
 * 2SITE_STRICT makes both needed for an election; but then QUORUM asks
 * for no ack at all (Berkeley DB counts the master's own copy as enough,
 * as no election can pass it by), and a master cut off from the other
 * node would answer 200 alone.  So a group of two to four asks for
 * ONE_PEER (the ack of one electable site, which QUORUM asks of three and
 * four too): each commit of a pair is on both sites, and a split of two
 * nodes leaves no side that can either be elected or answer 200
 * (ch_repl_ack_policy).
 *
 * The group is made once, by the node whose CHATR_REPL_LISTEN is the
 * least of all the addresses it is given, when its store is new: it is
 * the DB_GROUP_CREATOR.  Every other node (and that one, once its store
 * is made) joins through the peers it is given, and a new node copies the
 * whole store from the master (internal init) before it serves.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

#define REPL_ACK_TIMEOUT_US (2 * 1000 * 1000)
#define REPL_CONN_RETRY_US (500 * 1000)
#define REPL_ELECT_TIMEOUT_US (2 * 1000 * 1000)
#define REPL_ELECT_RETRY_US (1 * 1000 * 1000)
#define REPL_HB_SEND_US (500 * 1000)
#define REPL_HB_MONITOR_US (2 * 1000 * 1000)
#define REPL_START_TRIES 200	/* repmgr_start meeting a busy region */
#define REPL_THREADS 3		/* message threads of the replication process */
#define REPL_SEEN_STALE_MS 10000 /* the replication process's word lasts */

/* Commits of this thread that the group did not acknowledge. */
static __thread unsigned long repl_unacked;
/* What the process's repmgr saw last (for logs and chatr-repl). */
static volatile int repl_event_role;
static volatile unsigned long repl_events;
static volatile int repl_panicked;
static volatile unsigned long repl_joins;
/* This process is the node's replication process (see ch_repl_start). */
static int repl_listener;

/* Compare two addresses: host, then port. */
static int
repl_addr_cmp(const struct ch_hostport *a, const struct ch_hostport *b)
{
	int c = strcmp(a->host, b->host);

	if (c != 0)
		return c;
	return a->port < b->port ? -1 : a->port > b->port;
}

/*
 * May this node found the group?  The least address of all, and a store
 * that has never been one of a group (chatr-repl founds it only when no
 * master answers).
 */
int
ch_repl_creator(const struct ch_cfg *cfg)
{
	struct stat st;
	char *path;
	size_t i;
	int fresh;

	for (i = 0; i < cfg->npeers; i++)
		if (repl_addr_cmp(&cfg->peers[i], &cfg->listen) < 0)
			return 0;
	path = ch_xprintf("%s/__db.rep.system", cfg->db_home);
	fresh = stat(path, &st) != 0 && errno == ENOENT;
	free(path);
	return fresh;
}

/*
 * repmgr's events.  A failed acknowledgement is raised in the thread that
 * committed; the others in repmgr's own threads.
 */
static void
repl_event(DB_ENV *env, uint32_t event, void *info)
{
	(void)env;
	(void)info;
	repl_events++;
	switch (event) {
	case DB_EVENT_REP_PERM_FAILED:
		repl_unacked++;
		break;
	case DB_EVENT_REP_MASTER:
		repl_event_role = CH_ROLE_MASTER;
		ch_log_info("replication: this node is the master");
		break;
	case DB_EVENT_REP_CLIENT:
		repl_event_role = CH_ROLE_REPLICA;
		ch_log_info("replication: this node is a replica");
		break;
	case DB_EVENT_REP_NEWMASTER:
		ch_log_info("replication: a master is elected (site %d)",
		    info != NULL ? *(int *)info : -1);
		break;
	case DB_EVENT_REP_STARTUPDONE:
		ch_log_info("replication: this replica has caught up");
		break;
	case DB_EVENT_REP_DUPMASTER:
		ch_log_warn("replication: two masters met; this one steps "
		    "down");
		break;
	case DB_EVENT_REP_ELECTION_FAILED:
		ch_log_info("replication: an election failed; trying again");
		break;
	case DB_EVENT_REP_JOIN_FAILURE:
		ch_log_err("replication: could not join the group");
		break;
	case DB_EVENT_REP_LOCAL_SITE_REMOVED:
		ch_log_err("replication: this node was removed from the "
		    "group");
		break;
	case DB_EVENT_REP_SITE_ADDED:
		repl_joins++;
		ch_log_info("replication: site %d joined the group",
		    info != NULL ? *(int *)info : -1);
		break;
	case DB_EVENT_PANIC:
		repl_panicked = 1;
		ch_log_err("replication: the environment panicked");
		break;
	default:
		break;
	}
}

/* Has the environment panicked (its regions are gone or broken)? */
int
ch_repl_panicked(void)
{
	return repl_panicked;
}

/*
 * How many sites joined the group since this process started repmgr (in
 * the replication process, which alone learns of them).  A subordinate
 * process connects only to the sites that were members when it started
 * repmgr, and never to one that joins later: it would neither send that
 * site its commits nor hear its acknowledgements.  chatr-repl passes each
 * join on (run/repl.members, and SIGUSR2 to chatrd), and the others are
 * replaced by new processes (ch_db_rejoin).
 */
unsigned long
ch_repl_joins(void)
{
	return repl_joins;
}

/* The port of a TCP socket's address (IPv4 or IPv6), or 0. */
static unsigned int
repl_sock_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

/*
 * Set TCP_NODELAY on this process's replication connections.  repmgr
 * (5.3) never does: its messages are small, and each waited behind the
 * one before it for the peer's delayed ACK (Nagle's algorithm), 40 ms or
 * more for a commit's acknowledgement as soon as two were in flight.
 * Its sockets are its own, made and remade in its threads, so they are
 * found here: every TCP socket of the process whose own or peer's port is
 * a replication port of the group.  Called now and then (chatr-repl's
 * tick, the others' store checks); a socket already set is left alone.
 */
void
ch_repl_nodelay(struct ch_db *db)
{
	DB_REPMGR_SITE *list = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned int n = 0, i, port[2];
	struct dirent *e;
	DIR *d;
	int fd, one = 1, on, k;

	if (!ch_cfg_replicated(db->cfg) || db->env == NULL)
		return;
	if (db->env->repmgr_site_list(db->env, &n, &list) != 0)
		n = 0;
	if ((d = opendir("/proc/self/fd")) == NULL) {
		free(list);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		len = sizeof(on);
		if (fd == dirfd(d) || getsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
		    &on, &len) != 0 || on)
			continue; /* not TCP, or already set */
		len = sizeof(ss);
		port[0] = getsockname(fd, (struct sockaddr *)&ss, &len) == 0 ?
		    repl_sock_port(&ss) : 0;
		len = sizeof(ss);
		port[1] = getpeername(fd, (struct sockaddr *)&ss, &len) == 0 ?
		    repl_sock_port(&ss) : 0;
		for (k = 0; k < 2; k++) {
			int ours = port[k] != 0 &&
			    port[k] == db->cfg->listen.port;

			for (i = 0; !ours && i < n; i++)
				ours = port[k] == list[i].port;
			if (ours) {
				if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
				    &one, sizeof(one)) != 0)
					ch_log_debug("TCP_NODELAY on %d: %s",
					    fd, strerror(errno));
				break;
			}
		}
	}
	(void)closedir(d);
	free(list);
}

/* How many commits of this thread went unacknowledged so far. */
unsigned long
ch_repl_unacked(void)
{
	return repl_unacked;
}

/*
 * Configure replication on env before it is opened: the sites, the ack
 * policy, the timeouts and the events.  creator: this process makes the
 * group.  0, or a Berkeley DB error with *cause set.
 */
int
ch_repl_setup(DB_ENV *env, const struct ch_cfg *cfg, int creator,
    char **cause)
{
	DB_SITE *site;
	size_t i;
	int ret;

	if ((ret = env->repmgr_site(env, cfg->listen.host, cfg->listen.port,
	    &site, 0)) != 0) {
		*cause = ch_xprintf("replication address %s: %s",
		    cfg->repl_listen, db_strerror(ret));
		return ret;
	}
	ret = site->set_config(site, DB_LOCAL_SITE, 1);
	if (ret == 0 && creator)
		ret = site->set_config(site, DB_GROUP_CREATOR, 1);
	(void)site->close(site);
	if (ret != 0) {
		*cause = ch_xprintf("replication address %s: %s",
		    cfg->repl_listen, db_strerror(ret));
		return ret;
	}
	for (i = 0; i < cfg->npeers; i++) {
		if ((ret = env->repmgr_site(env, cfg->peers[i].host,
		    cfg->peers[i].port, &site, 0)) != 0) {
			*cause = ch_xprintf("replication peer %s:%u: %s",
			    cfg->peers[i].host, cfg->peers[i].port,
			    db_strerror(ret));
			return ret;
		}
		ret = site->set_config(site, DB_BOOTSTRAP_HELPER, 1);
		(void)site->close(site);
		if (ret != 0) {
			*cause = ch_xprintf("replication peer %s:%u: %s",
			    cfg->peers[i].host, cfg->peers[i].port,
			    db_strerror(ret));
			return ret;
		}
	}
	if ((ret = env->repmgr_set_ack_policy(env,
	    DB_REPMGR_ACKS_QUORUM)) != 0 ||
	    (ret = env->rep_set_config(env, DB_REPMGR_CONF_2SITE_STRICT,
	    1)) != 0 ||
	    /* A transaction's log records go out in one message, at its
	     * commit.  One by one, they met Nagle's algorithm on repmgr's
	     * sockets (it sets no TCP_NODELAY) and the peer's delayed ACK:
	     * 40 ms and more on every commit. */
	    (ret = env->rep_set_config(env, DB_REP_CONF_BULK, 1)) != 0 ||
	    (ret = env->rep_set_priority(env, cfg->repl_priority)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_ACK_TIMEOUT,
	    REPL_ACK_TIMEOUT_US)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_CONNECTION_RETRY,
	    REPL_CONN_RETRY_US)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_ELECTION_TIMEOUT,
	    REPL_ELECT_TIMEOUT_US)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_ELECTION_RETRY,
	    REPL_ELECT_RETRY_US)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_HEARTBEAT_SEND,
	    REPL_HB_SEND_US)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_HEARTBEAT_MONITOR,
	    REPL_HB_MONITOR_US)) != 0 ||
	    /* The master otherwise sleeps 30 s inside every checkpoint
	     * (holding the checkpoint lock) for the replicas' cache flush;
	     * ours write without sync and flush little. */
	    (ret = env->rep_set_timeout(env, DB_REP_CHECKPOINT_DELAY,
	    0)) != 0 ||
	    (ret = env->set_event_notify(env, repl_event)) != 0) {
		*cause = ch_xprintf("configuring replication: %s",
		    db_strerror(ret));
		return ret;
	}
	return 0;
}

/*
 * Start repmgr in the opened env: this process becomes the node's
 * replication process, or a subordinate of the one there is.  repmgr
 * meets a busy region now and then while another process starts it, or
 * while the group is being joined: try again.  0 on success.
 */
int
ch_repl_start(DB_ENV *env, int listener, char **cause)
{
	int i, ret;

	for (i = 0; i < REPL_START_TRIES; i++) {
		ret = env->repmgr_start(env, REPL_THREADS, DB_REP_ELECTION);
		if (ret == DB_REP_IGNORE && !listener)
			return 0; /* a subordinate of the listener */
		if (ret == DB_REP_IGNORE) {
			/* The regions name a listener, and it is not this
			 * process: one that died there (chatrd runs one
			 * replication process).  Only a recovery clears it. */
			*cause = ch_xstrdup("the store's regions name another "
			    "replication process; they must be recovered");
			return ret;
		}
		if (ret == 0 && listener) {
			repl_listener = 1;
			return 0;
		}
		if (ret == 0) {
			/* No listener (chatr-repl died or is starting): this
			 * process is not to be it; it closes and waits. */
			*cause = ch_xstrdup("the node's replication process is "
			    "not running");
			return DB_REP_UNAVAIL;
		}
		if (ret != DB_LOCK_NOTGRANTED && ret != DB_LOCK_DEADLOCK &&
		    (ret != DB_REP_UNAVAIL || !listener))
			break;
		ch_db_backoff(i);
	}
	*cause = ch_xprintf("starting replication: %s", db_strerror(ret));
	return ret;
}

/* Is site eid connected (handshake done), as this process sees it? */
static int
repl_site_up(DB_ENV *env, int eid)
{
	DB_REPMGR_SITE *list;
	unsigned int n = 0, i;
	int up = 0;

	if (env->repmgr_site_list(env, &n, &list) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (list[i].eid == eid)
			up = list[i].status == DB_REPMGR_CONNECTED;
	free(list);
	return up;
}

/*
 * This node's part in the group just now: role, the master's replication
 * address (host into buf, *port) when one is known, and whether this
 * replica has caught up with it.  0, or a Berkeley DB error.
 */
int
ch_repl_state(struct ch_db *db, struct ch_repl_state *rs)
{
	DB_REP_STAT *sp;
	DB_SITE *site;
	const char *host;
	unsigned int port;
	int eid, ret;

	memset(rs, 0, sizeof(*rs));
	rs->role = CH_ROLE_SINGLE;
	rs->master_eid = DB_EID_INVALID;
	if (!ch_cfg_replicated(db->cfg))
		return 0;
	if (db->env == NULL)
		return DB_REP_UNAVAIL;
	if ((ret = db->env->rep_stat(db->env, &sp, 0)) != 0)
		return ret;
	rs->role = sp->st_status == DB_REP_MASTER ? CH_ROLE_MASTER :
	    CH_ROLE_REPLICA;
	rs->master_eid = sp->st_master;
	rs->caught_up = sp->st_status == DB_REP_MASTER ||
	    sp->st_startup_complete;
	free(sp);
	/*
	 * Berkeley DB keeps the last master's id through the elections that
	 * follow its loss, failed ones too: a replica knows a master only
	 * while the replication process is connected to it (its heartbeats
	 * stop that connection when they stop).  A subordinate's own
	 * connections say less (they carry no heartbeats), so it asks the
	 * replication process, through the node's shared memory.
	 */
	if (rs->role == CH_ROLE_REPLICA && rs->master_eid != DB_EID_INVALID) {
		if (repl_listener) {
			if (!repl_site_up(db->env, rs->master_eid))
				rs->master_eid = DB_EID_INVALID;
		} else if (!ch_shared_master(db->cfg, REPL_SEEN_STALE_MS,
		    &eid) || eid != rs->master_eid)
			rs->master_eid = DB_EID_INVALID;
	}
	if (repl_listener)
		ch_shared_set_master(db->cfg, rs->master_eid);
	if (rs->master_eid == DB_EID_INVALID)
		return 0;
	if (db->env->repmgr_site_by_eid(db->env, rs->master_eid, &site) == 0) {
		if (site->get_address(site, &host, &port) == 0) {
			snprintf(rs->master_host, sizeof(rs->master_host), "%s",
			    host);
			rs->master_port = port;
		}
		(void)site->close(site);
	}
	return 0;
}

/*
 * Set the ack policy for the group's size just now (see Durability
 * above).  The policy lives in the node's shared region, for every
 * process of the node; the replication process keeps it right as sites
 * join.  0, or a Berkeley DB error.
 */
int
ch_repl_ack_policy(struct ch_db *db)
{
	u_int32_t nsites;
	int have, want, ret;

	if ((ret = db->env->rep_get_nsites(db->env, &nsites)) != 0 ||
	    (ret = db->env->repmgr_get_ack_policy(db->env, &have)) != 0)
		return ret;
	/* One electable peer's ack is a majority with the master for 2, 3
	 * and 4 sites (QUORUM asks the same of 3 and 4), so a site that
	 * joins a pair changes nothing before this runs again. */
	want = nsites >= 2 && nsites <= 4 ? DB_REPMGR_ACKS_ONE_PEER :
	    DB_REPMGR_ACKS_QUORUM;
	if (have == want)
		return 0;
	if ((ret = db->env->repmgr_set_ack_policy(db->env, want)) != 0)
		return ret;
	ch_log_info("replication: a group of %u sites; a commit needs the "
	    "acknowledgement of %s", (unsigned int)nsites,
	    want == DB_REPMGR_ACKS_ONE_PEER ? "one other node" :
	    "a majority of them");
	return 0;
}

/* Is this node the group's master just now (always, for a single node)? */
int
ch_repl_is_master(struct ch_db *db)
{
	DB_REP_STAT *sp;
	int master;

	if (!ch_cfg_replicated(db->cfg))
		return 1;
	if (db->env == NULL || db->env->rep_stat(db->env, &sp, 0) != 0)
		return 0;
	master = sp->st_status == DB_REP_MASTER;
	free(sp);
	return master;
}

/* The meta key under which a node's URL is kept: "node:HOST:PORT". */
static void
repl_node_key(const char *host, unsigned int port, char *buf, size_t size)
{
	snprintf(buf, size, "node:%s:%u", host, port);
}

struct repl_url {
	const char *host;
	unsigned int port;
	const char *url;	/* to write */
	char *found;		/* read */
	int changed;
};

static int
repl_url_get(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct repl_url *u = arg;
	char k[320];
	DBT key, data;
	int ret;

	repl_node_key(u->host, u->port, k, sizeof(k));
	ch_db_dbt(&key, k, strlen(k));
	ch_db_dbt(&data, NULL, 0);
	data.flags = DB_DBT_MALLOC;
	free(u->found);
	u->found = NULL;
	if ((ret = db->meta->get(db->meta, txn, &key, &data, 0)) != 0)
		return ret;
	u->found = ch_xstrndup(data.data, data.size);
	free(data.data);
	return 0;
}

static int
repl_url_put(struct ch_db *db, DB_TXN *txn, void *arg)
{
	struct repl_url *u = arg;
	char k[320];
	DBT key, data;
	int ret;

	u->changed = 0;
	ret = repl_url_get(db, txn, arg);
	if (ret == 0 && strcmp(u->found, u->url) == 0)
		return 0;
	if (ret != 0 && ret != DB_NOTFOUND)
		return ret;
	repl_node_key(u->host, u->port, k, sizeof(k));
	ch_db_dbt(&key, k, strlen(k));
	ch_db_dbt(&data, u->url, strlen(u->url));
	if ((ret = db->meta->put(db->meta, txn, &key, &data, 0)) == 0)
		u->changed = 1;
	return ret;
}

/*
 * The master's URL (CHATR_NODE_URL of its node), which the master wrote
 * into the store under its replication address.  An allocated string, or
 * NULL when no master is known or it has not written it yet.
 */
char *
ch_repl_master_url(struct ch_db *db, const struct ch_repl_state *rs)
{
	static const struct ch_txn get_txn = {
		.run = repl_url_get, .flags = DB_READ_COMMITTED,
		.budget_ms = 500,
	};
	struct repl_url u;

	if (rs->master_eid == DB_EID_INVALID || rs->master_host[0] == '\0')
		return NULL;
	memset(&u, 0, sizeof(u));
	u.host = rs->master_host;
	u.port = rs->master_port;
	if (ch_db_run(db, &get_txn, &u) != 0) {
		free(u.found);
		return NULL;
	}
	return u.found;
}

/*
 * On the master: write this node's URL under its replication address, so
 * that the replicas can forward writes to it.  0 when it is there.
 */
int
ch_repl_publish(struct ch_db *db)
{
	static const struct ch_txn put_txn = {.run = repl_url_put};
	const struct ch_cfg *cfg = db->cfg;
	struct repl_url u;
	int ret;

	memset(&u, 0, sizeof(u));
	u.host = cfg->listen.host;
	u.port = cfg->listen.port;
	u.url = cfg->node_url;
	ret = ch_db_run(db, &put_txn, &u);
	if (ret == 0 && u.changed)
		ch_log_info("replication: this master is reached at %s",
		    cfg->node_url);
	free(u.found);
	return ret;
}

/*
 * Before a commit on the master: wait (up to ms) until this process is
 * connected to a majority of the other sites, so that its commit can be
 * acknowledged at all.  A process that just started has no connections
 * yet.  1 when connected, 0 when not (the commit is tried anyway).
 */
int
ch_repl_connected(struct ch_db *db, int ms)
{
	DB_REPMGR_SITE *list;
	unsigned int n, i, up;
	int64_t start = ch_time_mono_ms();
	int try;

	if (!ch_cfg_replicated(db->cfg) || db->env == NULL)
		return 1;
	for (try = 0;; try++) {
		up = 0;
		n = 0;
		if (db->env->repmgr_site_list(db->env, &n, &list) == 0) {
			for (i = 0; i < n; i++)
				if (list[i].status == DB_REPMGR_CONNECTED)
					up++;
			free(list);
		}
		/* n counts the other sites: a majority of n + 1 in all. */
		if (up + 1 > (n + 1) / 2 || n == 0)
			return 1;
		if (ch_time_mono_ms() - start > ms)
			return 0;
		ch_db_backoff(try + 4);
	}
}
