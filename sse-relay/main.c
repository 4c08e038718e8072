/*
 * chatr-sse-relay -- the live stream, GET /api/stream.
 *
 * One thread, one epoll loop.  lighttpd proxies /api/stream to the relay's
 * Unix socket ($CHATR_VAR/run/relay.sock), which chatrd holds and passes
 * in (so connections queue while the relay restarts); started alone, the
 * relay makes it itself.  -l adds a TCP listener for direct use.  The
 * relay follows the message log (tail.c), formats each new message once
 * (hub.c) and writes that frame to every stream that follows the newest,
 * while streams that are behind are fed from their cursors (client.c).
 * It sends stats from the shared store every CHATR_STATS_INTERVAL seconds
 * and does the store's housekeeping: checkpoints.
 *
 * usage: chatr-sse-relay [-t] [-c config] [-l address:port]
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

#define MAIN_MAINTAIN_MS 10000
#define MAIN_STORE_CHECK_MS 500
#define MAIN_REPLICA_CHECK_MS 10
#define MAIN_TAIL_MS 1000
#define MAIN_TICK_MS 100

static struct listener listeners[2];
static int nlisteners;
static int cgi; /* a CGI program: one stream, on stdout (client_cgi) */
static int64_t last_send; /* monotonic ms of the last broadcast */

/* Every CHATR_STATS_INTERVAL seconds: stats to every stream. */
static int64_t
relay_stats(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	if (hub_stats_read() == 0)
		hub_queue(hub.stats);
	return (int64_t)hub.cfg.stats_interval * 1000;
}

/* A comment keeps idle proxies from cutting quiet streams. */
static int64_t
relay_keepalive(struct loop *l, void *arg)
{
	(void)arg;
	if (loop_now(l) - last_send >= RELAY_KEEPALIVE)
		hub_queue(hub.keepalive);
	return RELAY_KEEPALIVE / 3;
}

static int64_t
relay_tick(struct loop *l, void *arg)
{
	(void)arg;
	client_tick(loop_now(l));
	if (!cgi) { /* the relay's figures, not every CGI stream's */
		hub.m.received = hub.delivered;
		ch_metrics_relay(&hub.cfg, &hub.m);
	}
	return MAIN_TICK_MS;
}

/* Once a second regardless of inotify: the log may have been rotated. */
static int64_t
relay_tail(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	tail_check();
	return MAIN_TAIL_MS;
}

static int64_t
relay_store_check(struct loop *l, void *arg)
{
	int ret;

	(void)l;
	(void)arg;
	if ((ret = tail_store_check()) != 0 && ret != CH_DB_UNAVAILABLE)
		ch_log_warn("checking the store: %s", db_strerror(ret));
	/* A replica's messages come only through the store: look often. */
	return ch_cfg_replicated(&hub.cfg) ? MAIN_REPLICA_CHECK_MS :
	    MAIN_STORE_CHECK_MS;
}

/* The store's housekeeping: checkpoints (the relay is always running). */
static int64_t
relay_maintain(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	ch_db_maintain(&hub.db, 1);
	ch_log_debug("%u streams, %llu messages, %llu read back for streams, "
	    "%llu streams dropped", hub.nclients,
	    (unsigned long long)hub.delivered, (unsigned long long)hub.paged,
	    (unsigned long long)hub.dropped);
	return MAIN_MAINTAIN_MS;
}

/* Before each sleep: send what this turn produced, free the dead. */
static void
relay_before_sleep(struct loop *l, void *arg)
{
	struct frame **f;
	size_t n;

	(void)arg;
	f = hub_batch(&n);
	if (n > 0) {
		client_broadcast(f, n);
		hub_batch_done();
		last_send = loop_now(l);
	}
	client_reap();
	if (cgi && client_count() == 0)
		loop_stop(l); /* its one stream has ended */
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

/*
 * The listening socket a supervisor holds for us (chatrd, or systemd's
 * socket activation: LISTEN_PID and LISTEN_FDS, the first at fd 3), so
 * that connections wait in its queue while the relay restarts.  -1 when
 * none was passed.
 */
static int
listen_inherited(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	unsigned int p, n;
	int yes = 0, fl;
	socklen_t sl = sizeof(yes);

	if (pid == NULL || fds == NULL)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (ch_cfg_parse_uint(pid, 1, 0x7fffffff, &p) != 0 ||
	    (pid_t)p != getpid() || ch_cfg_parse_uint(fds, 1, 64, &n) != 0)
		return -1;
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &yes, &sl) != 0 || !yes) {
		ch_log_err("fd 3 is not a listening socket");
		return -1;
	}
	if ((fl = fcntl(3, F_GETFL)) < 0 || fcntl(3, F_SETFL,
	    fl | O_NONBLOCK) != 0 || fcntl(3, F_SETFD, FD_CLOEXEC) != 0) {
		ch_log_err("fd 3: %s", strerror(errno));
		return -1;
	}
	return 3;
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
	path = ch_xprintf("%s/run/relay.tcp", hub.cfg.var);
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

/*
 * CGI: the stream of this one request, on stdout, fed as the relay feeds
 * its streams (the log, the store), with the same keep-alives and stats.
 * No listener, no figures for /metrics, no store housekeeping: many of
 * these run at once, one per spectator.
 */
static int
relay_cgi(struct loop *loop, int sfd, int ifd)
{
	struct request r;
	int fl;

	if ((fl = fcntl(STDOUT_FILENO, F_GETFL)) < 0 ||
	    fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK) != 0) {
		ch_log_err("stdout: %s", strerror(errno));
		return -1;
	}
	if (loop_add(loop, sfd, LOOP_READ, relay_signal, NULL, NULL) != 0 ||
	    loop_add(loop, ifd, LOOP_READ, tail_event, NULL, NULL) != 0) {
		ch_log_err("epoll_ctl: %s", strerror(errno));
		return -1;
	}
	/* The stream opens with the stats of now (client.c): the next
	 * come an interval later. */
	loop_timer(loop, (int64_t)hub.cfg.stats_interval * 1000, relay_stats,
	    NULL);
	loop_timer(loop, RELAY_KEEPALIVE / 3, relay_keepalive, NULL);
	loop_timer(loop, MAIN_TICK_MS, relay_tick, NULL);
	loop_timer(loop, MAIN_TAIL_MS, relay_tail, NULL);
	loop_timer(loop, MAIN_STORE_CHECK_MS, relay_store_check, NULL);
	loop_before_sleep(loop, relay_before_sleep, NULL);
	request_cgi(&r);
	client_cgi(STDOUT_FILENO, &r);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: chatr-sse-relay [-t] [-c config] [-l address:port]\n"
	    "       (run as a CGI program, it serves the one stream asked)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	sigset_t mask;
	struct sigaction sa;
	struct ch_buf dump = {0};
	struct loop *loop = NULL;
	const char *conf = NULL, *tcp = NULL;
	char *cause = NULL;
	int c, test = 0, sfd, ifd, i, status = 0, owned = 0;

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
	/* Run by a web server as CGI (GATEWAY_INTERFACE is CGI/1.1): the
	 * request is in the environment, the stream goes to stdout. */
	cgi = tcp == NULL && !test && getenv("GATEWAY_INTERFACE") != NULL &&
	    strncmp(getenv("GATEWAY_INTERFACE"), "CGI/", 4) == 0;
	if (ch_cfg_load(&hub.cfg, conf, &cause) != 0) {
		ch_log_err("configuration: %s", cause);
		free(cause);
		return 1;
	}
	if (test) {
		ch_cfg_dump(&hub.cfg, &dump);
		fputs(dump.data, stdout);
		ch_buf_free(&dump);
		ch_cfg_free(&hub.cfg);
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
	if (rl.rlim_cur < (rlim_t)hub.cfg.streams_max + 64) {
		ch_log_warn("only %llu descriptors: holding at most %llu "
		    "streams, not CHATR_STREAMS_MAX (%u)",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_cur - 64, hub.cfg.streams_max);
		hub.cfg.streams_max = (unsigned int)rl.rlim_cur - 64;
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

	/* Stuck in one turn of the loop (a mutex of a process that died in
	 * the store): exit, and chatrd starts a fresh relay. */
	ch_watchdog_start(hub.cfg.watchdog);
	ch_watchdog_busy();
	ch_db_reader(); /* it commits nothing: a site's join is not its care */
	if (ch_db_open(&hub.db, &hub.cfg, &cause) != 0) {
		if (hub.db.waiting_repl)
			ch_log_info("%s", cause);
		else
			ch_log_err("%s", cause);
		free(cause);
		ch_watchdog_stop();
		return 1;
	}
	status = 1; /* until the loop runs */
	listeners[0].fd = listeners[1].fd = -1;
	if ((loop = loop_new(cgi ? 64 : (int)rl.rlim_cur)) == NULL) {
		ch_log_err("epoll: %s", strerror(errno));
		goto out;
	}
	client_init(loop, cgi);
	hub.keepalive = frame_raw(":\n\n", 3);
	last_send = loop_now(loop);

	if ((ifd = tail_open()) < 0)
		goto out;
	if (cgi) {
		if (relay_cgi(loop, sfd, ifd) != 0)
			goto out;
		status = 0;
		if (loop_run(loop) != 0) {
			ch_log_err("epoll_wait: %s", strerror(errno));
			status = 1;
		}
		goto out;
	}
	/* The front end's socket: held by a supervisor, or our own. */
	if ((listeners[0].fd = listen_inherited()) < 0) {
		listeners[0].fd = ch_sock_listen(hub.cfg.relay_socket,
		    SOCK_NONBLOCK, NULL);
		owned = 1;
	}
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
		if (loop_add(loop, listeners[i].fd, LOOP_READ, client_accept,
		    NULL, &listeners[i]) != 0) {
			ch_log_err("epoll_ctl: %s", strerror(errno));
			goto out;
		}
	if (loop_add(loop, sfd, LOOP_READ, relay_signal, NULL, NULL) != 0 ||
	    loop_add(loop, ifd, LOOP_READ, tail_event, NULL, NULL) != 0) {
		ch_log_err("epoll_ctl: %s", strerror(errno));
		goto out;
	}
	loop_timer(loop, 0, relay_stats, NULL);
	loop_timer(loop, RELAY_KEEPALIVE / 3, relay_keepalive, NULL);
	loop_timer(loop, MAIN_TICK_MS, relay_tick, NULL);
	loop_timer(loop, MAIN_TAIL_MS, relay_tail, NULL);
	loop_timer(loop, MAIN_STORE_CHECK_MS, relay_store_check, NULL);
	loop_timer(loop, MAIN_MAINTAIN_MS, relay_maintain, NULL);
	loop_before_sleep(loop, relay_before_sleep, NULL);

	ch_shared_set_streams(&hub.cfg, 0); /* a dead relay's count goes */
	ch_log_info("listening on %s%s%s%s", hub.cfg.relay_socket,
	    owned ? "" : " (held by the supervisor)",
	    tcp != NULL ? " and " : "", tcp != NULL ? tcp : "");
	status = 0;
	if (loop_run(loop) != 0) {
		ch_log_err("epoll_wait: %s", strerror(errno));
		status = 1;
	}

out:
	ch_watchdog_busy(); /* a close stuck on a dead process ends too */
	client_close_all();
	for (i = 0; i < 2; i++)
		if (listeners[i].fd >= 0)
			close(listeners[i].fd);
	if (owned && listeners[0].fd >= 0)
		unlink(hub.cfg.relay_socket);
	tail_close();
	hub_free();
	if (loop != NULL)
		loop_free(loop);
	close(sfd);
	ch_db_close(&hub.db);
	ch_watchdog_stop();
	ch_cfg_free(&hub.cfg);
	if (!cgi)
		ch_log_info("stopped");
	return status;
}
