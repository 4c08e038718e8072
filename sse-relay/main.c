/*
 * chatr-sse-relay -- the live stream, GET /api/stream.
 *
 * One thread, one epoll loop.  lighttpd proxies /api/stream to the relay's
 * Unix socket ($CHATR_VAR/run/relay.sock; -l adds a TCP listener for
 * direct use).  The relay follows the message log (tail.c), formats each
 * new message once and writes that frame to every stream (client.c),
 * keeps the newest messages for history and resumption (frame.c), and
 * sends stats from the shared store every CHATR_STATS_INTERVAL seconds.
 * It also does the store's housekeeping: checkpoints.
 *
 * usage: chatr-sse-relay [-t] [-c config] [-l address:port]
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

#define MAIN_MAINTAIN_MS 10000
#define MAIN_STORE_CHECK_MS 500
#define MAIN_SWEEP_MS 1000

struct relay relay;

static struct listener listeners[2];
static int nlisteners;

/* A new message, in order: keep it and queue it for every stream. */
void
relay_message(uint64_t id, const char *json, size_t len)
{
	struct frame *f;

	f = frame_message(id, json, len);
	ring_put(&relay.ring, f);
	if (relay.nbatch == relay.batchcap) {
		relay.batchcap = relay.batchcap == 0 ? 16 : relay.batchcap * 2;
		relay.batch = ch_xreallocarray(relay.batch, relay.batchcap,
		    sizeof(*relay.batch));
	}
	relay.batch[relay.nbatch++] = f; /* the batch owns the reference */
	relay.last_id = id;
	relay.delivered++;
	frame_unref(relay.history);
	relay.history = NULL;
}

/* Queue a frame that is not a message (stats, keep-alive). */
static void
relay_queue(struct frame *f)
{
	if (relay.nbatch == relay.batchcap) {
		relay.batchcap = relay.batchcap == 0 ? 16 : relay.batchcap * 2;
		relay.batch = ch_xreallocarray(relay.batch, relay.batchcap,
		    sizeof(*relay.batch));
	}
	relay.batch[relay.nbatch++] = frame_ref(f);
}

/* Write the queued frames to every stream. */
static void
relay_flush(void)
{
	size_t i;

	if (relay.nbatch == 0)
		return;
	client_broadcast(relay.batch, relay.nbatch);
	for (i = 0; i < relay.nbatch; i++)
		frame_unref(relay.batch[i]);
	relay.nbatch = 0;
	relay.last_send = loop_now(relay.loop);
}

/* The history event of the newest CH_HISTORY messages (a reference). */
struct frame *
relay_history(void)
{
	struct frame *msgs[CH_HISTORY], *f;
	uint64_t id;
	size_t n = 0;

	relay_flush(); /* a new stream must not get these twice */
	if (relay.history != NULL)
		return frame_ref(relay.history);
	for (id = relay.ring.last; id >= relay.ring.first && id > 0 &&
	    n < CH_HISTORY; id--)
		if ((f = ring_get(&relay.ring, id)) != NULL)
			msgs[n++] = f;
	/* msgs is newest first; the event is oldest first. */
	for (id = 0; id < n / 2; id++) {
		f = msgs[id];
		msgs[id] = msgs[n - 1 - id];
		msgs[n - 1 - id] = f;
	}
	relay.history = frame_history(msgs, n);
	return frame_ref(relay.history);
}

struct resume {
	struct frame **msgs;
	size_t n;
};

static int
relay_resume_add(void *arg, uint64_t id, const char *json, size_t len)
{
	struct resume *r = arg;

	r->msgs[r->n++] = frame_message(id, json, len);
	return 0;
}

/*
 * The history event for a stream resuming after message id: the messages
 * since, from memory or the store (at most RELAY_RESUME_MAX, the newest).
 * 0 and *out set on success; -1 to send the usual history instead.
 */
int
relay_resume(uint64_t after, struct frame **out)
{
	struct resume r;
	struct frame *f;
	uint64_t id, from;
	size_t i;
	int ret, more, fromring;

	relay_flush();
	if (after > relay.last_id)
		return -1; /* a stream from another store: start afresh */
	from = relay.last_id - after > RELAY_RESUME_MAX ?
	    relay.last_id - RELAY_RESUME_MAX : after;
	r.msgs = ch_xcalloc(RELAY_RESUME_MAX, sizeof(*r.msgs));
	r.n = 0;
	fromring = from >= relay.last_id ||
	    (relay.ring.first != 0 && from + 1 >= relay.ring.first);
	if (fromring) {
		for (id = from + 1; id <= relay.last_id; id++)
			if ((f = ring_get(&relay.ring, id)) != NULL)
				r.msgs[r.n++] = frame_ref(f);
	} else {
		ret = ch_msg_range(&relay.db, NULL, from, relay.last_id + 1,
		    RELAY_RESUME_MAX, 0, DB_READ_UNCOMMITTED,
		    relay_resume_add, &r, &more);
		if (ret != 0) {
			ch_log_err("reading messages to resume a stream: %s",
			    db_strerror(ret));
			for (i = 0; i < r.n; i++)
				frame_unref(r.msgs[i]);
			free(r.msgs);
			return -1;
		}
	}
	*out = frame_history(r.msgs, r.n);
	for (i = 0; i < r.n; i++)
		frame_unref(r.msgs[i]);
	free(r.msgs);
	return 0;
}

/*
 * Another process ran recovery on the environment (one died inside
 * Berkeley DB): drop our stale handles and join the recovered one.  The
 * streams stay up.
 */
static void
relay_reopen(void)
{
	char *cause = NULL;

	ch_log_warn("the store was recovered; reopening it");
	ch_db_close(&relay.db);
	if (ch_db_open(&relay.db, &relay.cfg, &cause) != 0)
		ch_fatal("reopening the store: %s", cause);
}

/*
 * Read the stats from the store (dirty reads: they never wait) into
 * relay.stats.  0, or a Berkeley DB error (the old frame stays).
 */
static int
relay_stats_read(void)
{
	struct json_object *o;
	struct ch_stats st;
	DB_TXN *txn;
	const char *text;
	size_t len;
	int ret;

	if ((ret = ch_db_begin(&relay.db, &txn, DB_READ_UNCOMMITTED)) != 0)
		return ret;
	ret = ch_agent_stats(&relay.db, txn, ch_time_ms() / 1000,
	    relay.cfg.online_window, &st);
	if (ret == 0)
		ret = ch_db_commit(txn, 0);
	else
		ch_db_abort(txn);
	if (ret != 0) {
		if (ret == DB_RUNRECOVERY)
			relay_reopen();
		else
			ch_log_warn("reading stats: %s", db_strerror(ret));
		return ret;
	}
	o = ch_agent_stats_json(&st);
	text = ch_json_text(o, &len);
	frame_unref(relay.stats);
	relay.stats = frame_event("stats", text, len);
	relay.stats_at = ch_time_mono_ms();
	json_object_put(o);
	return 0;
}

/*
 * The stats for a new stream: the latest, read again if more than a
 * second old (at most once a second, however many streams connect).
 */
struct frame *
relay_stats_now(void)
{
	if (relay.stats == NULL || ch_time_mono_ms() - relay.stats_at > 1000)
		relay_stats_read();
	return relay.stats;
}

/* Every CHATR_STATS_INTERVAL seconds: stats to every stream. */
static int64_t
relay_stats(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	if (relay_stats_read() == 0)
		relay_queue(relay.stats);
	return (int64_t)relay.cfg.stats_interval * 1000;
}

/* A comment keeps idle proxies from cutting quiet streams. */
static int64_t
relay_keepalive(struct loop *l, void *arg)
{
	(void)arg;
	if (loop_now(l) - relay.last_send >= RELAY_KEEPALIVE)
		relay_queue(relay.keepalive);
	return RELAY_KEEPALIVE / 3;
}

static int64_t
relay_poll(struct loop *l, void *arg)
{
	(void)arg;
	client_sweep(loop_now(l));
	tail_check();
	return MAIN_SWEEP_MS;
}

static int64_t
relay_store_check(struct loop *l, void *arg)
{
	int ret;

	(void)l;
	(void)arg;
	if ((ret = tail_store_check()) == DB_RUNRECOVERY)
		relay_reopen();
	else if (ret != 0)
		ch_log_warn("checking the store: %s", db_strerror(ret));
	return MAIN_STORE_CHECK_MS;
}

static int64_t
relay_maintain(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	if (ch_db_maintain(&relay.db, 1) == DB_RUNRECOVERY)
		relay_reopen();
	ch_log_debug("%u streams, %llu messages sent, %llu streams dropped",
	    relay.nclients, (unsigned long long)relay.delivered,
	    (unsigned long long)relay.dropped);
	return MAIN_MAINTAIN_MS;
}

/* Before each sleep: send what this iteration produced, free the dead. */
static void
relay_before_sleep(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	relay_flush();
	client_reap();
}

static void
relay_signal(struct loop *l, int fd, void *arg, int mask)
{
	struct signalfd_siginfo si;
	ssize_t r;

	(void)arg;
	(void)mask;
	while ((r = read(fd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			continue;
		ch_log_info("signal %u: stopping", si.ssi_signo);
		loop_stop(l);
	}
}

static int
listen_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		ch_log_err("socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0) {
		ch_log_err("socket: %s", strerror(errno));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		ch_log_warn("unlink %s: %s", path, strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0660) != 0 || listen(fd, 4096) != 0) {
		ch_log_err("listening on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
listen_tcp(const char *spec)
{
	struct sockaddr_in sin;
	const char *colon;
	char host[64];
	unsigned int port;
	int fd, one = 1;

	if ((colon = strrchr(spec, ':')) == NULL ||
	    (size_t)(colon - spec) >= sizeof(host) ||
	    ch_cfg_parse_uint(colon + 1, 0, 65535, &port) != 0) {
		ch_log_err("-l wants address:port, not %s", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		ch_log_err("-l: bad IPv4 address %s", host);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		ch_log_warn("SO_REUSEADDR: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 4096) != 0) {
		ch_log_err("listening on %s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Write the TCP listener's address (the kernel's port when -l asked for
 * port 0) to $CHATR_VAR/run/relay.tcp, for whoever wants to connect.
 */
static void
listen_tcp_note(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char addr[INET_ADDRSTRLEN], *path, *tmp;
	FILE *f;

	if (getsockname(fd, (struct sockaddr *)&sin, &sl) != 0 ||
	    inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr)) == NULL) {
		ch_log_warn("getsockname: %s", strerror(errno));
		return;
	}
	path = ch_xprintf("%s/run/relay.tcp", relay.cfg.var);
	tmp = ch_xprintf("%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL ||
	    fprintf(f, "%s:%u\n", addr, (unsigned)ntohs(sin.sin_port)) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0)
		ch_log_warn("writing %s: %s", path, strerror(errno));
	ch_log_info("TCP listener on %s:%u", addr,
	    (unsigned)ntohs(sin.sin_port));
	free(tmp);
	free(path);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: chatr-sse-relay [-t] [-c config] [-l address:port]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	sigset_t mask;
	struct sigaction sa;
	struct ch_buf dump = {0};
	const char *conf = NULL, *tcp = NULL;
	char *cause = NULL;
	int c, test = 0, sfd, ifd, i, status = 0;

	ch_log_init("chatr-sse-relay");
	while ((c = getopt(argc, argv, "c:l:t")) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'l':
			tcp = optarg;
			break;
		case 't':
			test = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (ch_cfg_load(&relay.cfg, conf, &cause) != 0) {
		ch_log_err("configuration: %s", cause);
		free(cause);
		return 1;
	}
	if (test) {
		ch_cfg_dump(&relay.cfg, &dump);
		fputs(dump.data, stdout);
		ch_buf_free(&dump);
		ch_cfg_free(&relay.cfg);
		return 0;
	}

	/* As many descriptors as we may: each stream holds one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			ch_log_warn("raising the descriptor limit: %s",
			    strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = 1024;
	if (rl.rlim_cur > 1048576)
		rl.rlim_cur = 1048576;
	if (rl.rlim_cur < (rlim_t)relay.cfg.streams_max + 64) {
		ch_log_warn("only %llu descriptors: holding at most %llu "
		    "streams, not CHATR_STREAMS_MAX (%u)",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_cur - 64, relay.cfg.streams_max);
		relay.cfg.streams_max = (unsigned int)rl.rlim_cur - 64;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		ch_log_err("ignoring SIGPIPE: %s", strerror(errno));
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		ch_log_err("signalfd: %s", strerror(errno));
		return 1;
	}

	/* Stuck in one turn of the loop (a store lock of a dead process):
	 * exit, and run.sh starts a fresh relay. */
	ch_watchdog_start(relay.cfg.watchdog);
	ch_watchdog_busy();
	if (ch_db_open(&relay.db, &relay.cfg, &cause) != 0) {
		ch_log_err("%s", cause);
		free(cause);
		return 1;
	}
	status = 1; /* until the loop runs */
	listeners[0].fd = listeners[1].fd = -1;
	if ((relay.loop = loop_new((int)rl.rlim_cur)) == NULL) {
		ch_log_err("epoll: %s", strerror(errno));
		goto out;
	}
	client_init();
	relay.keepalive = frame_raw(":\n\n", 3);
	relay.last_send = loop_now(relay.loop);

	if ((ifd = tail_open()) < 0)
		goto out;
	listeners[0].fd = listen_unix(relay.cfg.relay_socket);
	listeners[0].trusted = 1;
	if (listeners[0].fd < 0)
		goto out;
	nlisteners = 1;
	if (tcp != NULL) {
		if ((listeners[1].fd = listen_tcp(tcp)) < 0)
			goto out;
		listeners[1].trusted = 0;
		nlisteners = 2;
		listen_tcp_note(listeners[1].fd);
	}
	for (i = 0; i < nlisteners; i++)
		if (loop_add(relay.loop, listeners[i].fd, LOOP_READ,
		    client_accept, NULL, &listeners[i]) != 0) {
			ch_log_err("epoll_ctl: %s", strerror(errno));
			goto out;
		}
	if (loop_add(relay.loop, sfd, LOOP_READ, relay_signal, NULL, NULL) !=
	    0 || loop_add(relay.loop, ifd, LOOP_READ, tail_event, NULL,
	    NULL) != 0) {
		ch_log_err("epoll_ctl: %s", strerror(errno));
		goto out;
	}
	loop_timer(relay.loop, 0, relay_stats, NULL);
	loop_timer(relay.loop, RELAY_KEEPALIVE / 3, relay_keepalive, NULL);
	loop_timer(relay.loop, MAIN_SWEEP_MS, relay_poll, NULL);
	loop_timer(relay.loop, MAIN_STORE_CHECK_MS, relay_store_check, NULL);
	loop_timer(relay.loop, MAIN_MAINTAIN_MS, relay_maintain, NULL);
	loop_before_sleep(relay.loop, relay_before_sleep, NULL);

	ch_log_info("listening on %s%s%s", relay.cfg.relay_socket,
	    tcp != NULL ? " and " : "", tcp != NULL ? tcp : "");
	status = 0;
	if (loop_run(relay.loop) != 0) {
		ch_log_err("epoll_wait: %s", strerror(errno));
		status = 1;
	}

out:
	relay_flush();
	client_close_all();
	for (i = 0; i < 2; i++)
		if (listeners[i].fd >= 0)
			close(listeners[i].fd);
	if (listeners[0].fd >= 0)
		unlink(relay.cfg.relay_socket);
	tail_close();
	ring_clear(&relay.ring);
	frame_unref(relay.history);
	frame_unref(relay.stats);
	frame_unref(relay.keepalive);
	free(relay.batch);
	loop_free(relay.loop);
	close(sfd);
	ch_db_close(&relay.db);
	ch_cfg_free(&relay.cfg);
	ch_log_info("stopped");
	return status;
}
