/*
 * chatrd -- holds chatr's listening sockets and keeps its programs running.
 *
 * For each FastCGI endpoint it makes one Unix socket,
 * $CHATR_VAR/run/<name>.sock, and starts N copies of chatr-<name> that all
 * accept on it (the socket is their fd 0, as FastCGI has it).  For the
 * relay it makes $CHATR_VAR/run/relay.sock and passes it as fd 3 with
 * LISTEN_FDS=1 (systemd's socket-activation protocol).  The front end
 * (lighttpd, Apache) connects to these sockets; it never starts programs.
 *
 * Because chatrd, not the program, holds each socket, a program's death
 * costs only the request it was serving: the other copies keep accepting,
 * new connections wait in the socket's queue, and chatrd starts a
 * replacement at once (after a death by a signal from outside, or a
 * watchdog exit; a program that fails on its own right after starting is
 * started again with a growing pause, up to 5 s).  The replacement joins
 * the store, which runs failchk for the dead one (common/db.c).
 *
 * Once every socket is made it writes its pid to $CHATR_VAR/run/chatrd.pid
 * (so whoever started it knows the sockets are there).  SIGTERM or SIGINT:
 * stop every program (SIGTERM, then SIGKILL after 5 s), remove the sockets
 * and the pid file, exit.  SIGHUP: restart every program, one at a time
 * per endpoint, keeping the sockets (after a change of settings).
 * SIGUSR2 (from chatr-repl, when a site joined the group): the same for
 * the FastCGI programs only.
 *
 * usage: chatrd [-c config] [-b fcgi-dir] [-r relay] [-l address:port]
 *               [-w wrapper]
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

#ifndef CH_LIBEXECDIR
#define CH_LIBEXECDIR "/usr/local/libexec/chatr"
#endif
#ifndef CH_SBINDIR
#define CH_SBINDIR "/usr/local/sbin"
#endif

#define MAX_PROCS 64
#define MAX_WRAP 32
#define STOP_WAIT_MS 5000
#define QUICK_MS 1000	    /* a program that fails within this ... */
#define PAUSE_MAX_MS 5000   /* ... starts again after a pause up to this */
#define REPL_READY_MS 10000 /* chatr-repl's first join of the store */

/* The programs, and how many copies of each run by default. */
enum kind { FCGI, RELAY, REPL };
static const struct {
	const char *name;
	unsigned int procs;
	enum kind kind;
} progs[] = {
	/* first: the others join its replication (common/repl.c) */
	{"repl", 1, REPL},
	{"register", 2, 0},
	{"heartbeat", 2, 0},
	{"disconnect", 1, 0},
	{"messages", 4, 0},
	{"verify-start", 1, 0},
	/* each Moltbook lookup may take 10 s */
	{"verify-complete", 4, 0},
	{"agents", 2, 0},
	{"health", 1, 0},
	{"notfound", 1, 0},
	{"metrics", 1, 0},
	/* a chatr_wait holds one for up to 5 s */
	{"mcp-http", 4, 0},
	{"sse-relay", 1, RELAY},
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))

struct slot {
	pid_t pid;	    /* 0: not running */
	int64_t started;    /* monotonic ms */
	int64_t start_at;   /* when to start it again (0: now) */
	unsigned int quick; /* failures in a row right after starting */
	int restart;	    /* SIGHUP: replace it */
};

static struct {
	char *path;	  /* the program */
	char *sock;	  /* its socket */
	int fd;		  /* the listening socket */
	ino_t ino;	  /* of the socket's path, as made */
	unsigned int n;	  /* copies */
	struct slot slot[MAX_PROCS];
} table[NPROGS];

static struct ch_cfg cfg;
static const char *confpath;
static char *wrap[MAX_WRAP + 1];
static size_t nwrap;
static const char *relay_tcp;
static int stopping;

static void
usage(void)
{
	fprintf(stderr, "usage: chatrd [-c config] [-b fcgi-dir] [-r relay] "
	    "[-l address:port] [-w wrapper]\n");
	exit(2);
}

/* Write our pid to path, atomically; 0 on success. */
static int
write_pid(const char *path)
{
	char *tmp;
	FILE *f;
	int ret = 0;

	tmp = ch_xprintf("%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL ||
	    fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		ch_log_err("writing %s: %s", path, strerror(errno));
		ret = -1;
	}
	free(tmp);
	return ret;
}

/* Remove the pid file if it is still ours. */
static void
remove_pid(const char *path)
{
	char buf[32];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) != NULL && atol(buf) == (long)getpid())
		unlink(path);
	fclose(f);
}

/* In the child: make fd the program's socket and run it; never returns. */
static void __attribute__((noreturn))
child(size_t p, pid_t parent)
{
	char *argv[MAX_WRAP + 8], env[64];
	sigset_t none;
	size_t i, n = 0;
	int target = progs[p].kind == RELAY ? 3 : 0, fd;

	/* Die with chatrd, so no program outlives its sockets' keeper. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		ch_log_warn("PR_SET_PDEATHSIG: %s", strerror(errno));
	if (getppid() != parent)
		_exit(0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (table[p].fd >= 0 && dup2(table[p].fd, target) < 0)
		_exit(127);
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		if (target != 0 || table[p].fd < 0)
			dup2(fd, 0);
		close(fd);
	}
	for (fd = target + 1; fd < 1024; fd++)
		if (fd != STDOUT_FILENO && fd != STDERR_FILENO)
			close(fd);
	if (progs[p].kind == REPL) {
		/* whom to tell of a site's join (SIGUSR2) */
		snprintf(env, sizeof(env), "%ld", (long)parent);
		if (setenv("CHATRD_PID", env, 1) != 0)
			_exit(127);
	}
	if (progs[p].kind == RELAY) {
		snprintf(env, sizeof(env), "%ld", (long)getpid());
		if (setenv("LISTEN_PID", env, 1) != 0 ||
		    setenv("LISTEN_FDS", "1", 1) != 0)
			_exit(127);
	}
	for (i = 0; i < nwrap; i++)
		argv[n++] = wrap[i];
	argv[n++] = table[p].path;
	if (confpath != NULL) {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)confpath;
	}
	if (progs[p].kind == RELAY && relay_tcp != NULL) {
		argv[n++] = (char *)"-l";
		argv[n++] = (char *)relay_tcp;
	}
	argv[n] = NULL;
	execv(argv[0], argv);
	fprintf(stderr, "chatrd: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void
start(size_t p, unsigned int i)
{
	struct slot *s = &table[p].slot[i];
	pid_t pid, parent = getpid();

	if ((pid = fork()) < 0) {
		ch_log_err("fork: %s", strerror(errno));
		s->start_at = ch_time_mono_ms() + 1000;
		return;
	}
	if (pid == 0)
		child(p, parent);
	s->pid = pid;
	s->started = ch_time_mono_ms();
	s->start_at = 0;
	s->restart = 0;
}

/* Slot of a child that ended, or NULL. */
static struct slot *
find(pid_t pid, size_t *pp)
{
	size_t p;
	unsigned int i;

	for (p = 0; p < NPROGS; p++)
		for (i = 0; i < table[p].n; i++)
			if (table[p].slot[i].pid == pid) {
				*pp = p;
				return &table[p].slot[i];
			}
	return NULL;
}

/* A child ended: say how, and when to start it again. */
static void
ended(pid_t pid, int status)
{
	struct slot *s;
	int64_t now = ch_time_mono_ms(), pause;
	size_t p;
	int outside;

	if ((s = find(pid, &p)) == NULL)
		return;
	s->pid = 0;
	if (stopping)
		return;
	/* Killed from outside, or by its watchdog: not its own failure. */
	outside = (WIFSIGNALED(status) && (WTERMSIG(status) == SIGKILL ||
	    WTERMSIG(status) == SIGTERM)) || (WIFEXITED(status) &&
	    (WEXITSTATUS(status) == CH_EXIT_STUCK ||
	    WEXITSTATUS(status) == 0));
	if (WIFSIGNALED(status))
		ch_log_warn("chatr-%s[%ld] was killed by signal %d; starting "
		    "another", progs[p].name, (long)pid, WTERMSIG(status));
	else
		ch_log_warn("chatr-%s[%ld] exited with status %d; starting "
		    "another", progs[p].name, (long)pid, WEXITSTATUS(status));
	if (outside || s->restart || now - s->started >= QUICK_MS) {
		s->quick = 0;
		s->start_at = 0;
		return;
	}
	s->quick++;
	pause = 100LL << (s->quick < 7 ? s->quick - 1 : 6);
	if (pause > PAUSE_MAX_MS)
		pause = PAUSE_MAX_MS;
	ch_log_warn("chatr-%s keeps failing; next try in %lld ms",
	    progs[p].name, (long long)pause);
	s->start_at = now + pause;
}

/* Start what is due; the time until the next is due (-1: none). */
static int
due(void)
{
	int64_t now = ch_time_mono_ms(), wait = -1, w;
	size_t p;
	unsigned int i;

	for (p = 0; p < NPROGS; p++)
		for (i = 0; i < table[p].n; i++) {
			struct slot *s = &table[p].slot[i];
			if (s->pid != 0)
				continue;
			if (s->start_at <= now) {
				start(p, i);
				continue;
			}
			w = s->start_at - now;
			if (wait < 0 || w < wait)
				wait = w;
		}
	return wait > INT_MAX ? INT_MAX : (int)wait;
}

/*
 * SIGHUP: replace the programs, one copy of each endpoint at a time (the
 * next once the one before is back), so an endpoint always has one.
 */
static void
restart_step(void)
{
	size_t p;
	unsigned int i;

	for (p = 0; p < NPROGS; p++) {
		for (i = 0; i < table[p].n; i++)
			if (table[p].slot[i].pid == 0)
				break;
		if (i < table[p].n)
			continue; /* one is being replaced */
		for (i = 0; i < table[p].n; i++)
			if (table[p].slot[i].restart) {
				kill(table[p].slot[i].pid, SIGTERM);
				break;
			}
	}
}

static int
running(void)
{
	size_t p;
	unsigned int i;
	int n = 0;

	for (p = 0; p < NPROGS; p++)
		for (i = 0; i < table[p].n; i++)
			n += table[p].slot[i].pid != 0;
	return n;
}

static void
reap(void)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		ended(pid, status);
}

/* Stop every program: SIGTERM, then SIGKILL after STOP_WAIT_MS. */
static void
stop_all(void)
{
	int64_t until;
	size_t p;
	unsigned int i;

	stopping = 1;
	for (p = 0; p < NPROGS; p++)
		for (i = 0; i < table[p].n; i++)
			if (table[p].slot[i].pid != 0)
				kill(table[p].slot[i].pid, SIGTERM);
	until = ch_time_mono_ms() + STOP_WAIT_MS;
	while (running() > 0 && ch_time_mono_ms() < until) {
		poll(NULL, 0, 20);
		reap();
	}
	for (p = 0; p < NPROGS; p++)
		for (i = 0; i < table[p].n; i++)
			if (table[p].slot[i].pid != 0) {
				ch_log_warn("chatr-%s[%ld] did not stop; "
				    "killing it", progs[p].name,
				    (long)table[p].slot[i].pid);
				kill(table[p].slot[i].pid, SIGKILL);
			}
	while (running() > 0) {
		poll(NULL, 0, 20);
		reap();
	}
}

/* Remove the replication process's mark, which a killed one leaves. */
static void
repl_unmark(void)
{
	char *path = ch_xprintf("%s/run/repl.ready", cfg.var);

	if (unlink(path) != 0 && errno != ENOENT)
		ch_log_warn("unlink %s: %s", path, strerror(errno));
	free(path);
}

/*
 * Wait until the replication process has joined the group and holds its
 * data ($CHATR_VAR/run/repl.ready), so that it, not a FastCGI program,
 * is the node's replication process.  A new node's first join may take a
 * while (the others may not be up yet); the programs start after
 * REPL_READY_MS regardless, and wait for the mark themselves.
 */
static void
repl_wait(void)
{
	char *path = ch_xprintf("%s/run/repl.ready", cfg.var);
	int64_t until = ch_time_mono_ms() + REPL_READY_MS;

	while (access(path, F_OK) != 0 && ch_time_mono_ms() < until) {
		poll(NULL, 0, 20);
		reap();
	}
	if (access(path, F_OK) != 0)
		ch_log_warn("the replication process is not ready yet; "
		    "starting the other programs all the same");
	free(path);
}

/* Split the wrapper command at blanks (no shell is involved). */
static void
split_wrapper(char *w)
{
	char *tok;

	for (tok = strtok(w, " \t"); tok != NULL && nwrap < MAX_WRAP;
	    tok = strtok(NULL, " \t"))
		wrap[nwrap++] = tok;
	wrap[nwrap] = NULL;
}

int
main(int argc, char **argv)
{
	struct signalfd_siginfo si;
	struct pollfd pfd;
	struct stat st;
	sigset_t mask;
	const char *fcgidir = CH_LIBEXECDIR, *relay = NULL;
	char *cause = NULL, *w = NULL, *pidfile = NULL;
	size_t p;
	unsigned int i;
	int c, sfd, timeout, status = 1;

	ch_log_init("chatrd");
	while ((c = getopt(argc, argv, "b:c:l:r:w:")) != -1) {
		switch (c) {
		case 'b':
			fcgidir = optarg;
			break;
		case 'c':
			confpath = optarg;
			break;
		case 'l':
			relay_tcp = optarg;
			break;
		case 'r':
			relay = optarg;
			break;
		case 'w':
			w = ch_xstrdup(optarg);
			split_wrapper(w);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (ch_cfg_load(&cfg, confpath, &cause) != 0) {
		ch_log_err("configuration: %s", cause);
		free(cause);
		return 1;
	}
	/* Without -c the programs find the configuration as chatrd did
	 * (CHATR_CONFIG, which they inherit, else the installed file). */

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		ch_log_err("signalfd: %s", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	/* Every socket first, so the front end can connect at once. */
	for (p = 0; p < NPROGS; p++) {
		table[p].fd = -1;
		if (progs[p].kind == REPL) {
			/* Only for a node of a replication group; no socket. */
			table[p].n = ch_cfg_replicated(&cfg) ? 1 : 0;
			table[p].path = ch_xprintf("%s/chatr-repl", fcgidir);
			table[p].sock = NULL;
			if (table[p].n > 0 && access(table[p].path, X_OK) != 0) {
				ch_log_err("%s: %s", table[p].path,
				    strerror(errno));
				goto out;
			}
			continue;
		}
		if (progs[p].kind == RELAY) {
			table[p].path = relay != NULL ? ch_xstrdup(relay) :
			    ch_xstrdup(CH_SBINDIR "/chatr-sse-relay");
			table[p].sock = ch_xstrdup(cfg.relay_socket);
			table[p].n = 1;
		} else {
			table[p].path = ch_xprintf("%s/chatr-%s", fcgidir,
			    progs[p].name);
			table[p].sock = ch_xprintf("%s/run/%s.sock", cfg.var,
			    progs[p].name);
			table[p].n = cfg.procs > 0 ? cfg.procs :
			    progs[p].procs;
		}
		if (table[p].n > MAX_PROCS)
			table[p].n = MAX_PROCS;
		if (access(table[p].path, X_OK) != 0) {
			ch_log_err("%s: %s", table[p].path, strerror(errno));
			goto out;
		}
		if ((table[p].fd = ch_sock_listen(table[p].sock, 0,
		    &table[p].ino)) < 0)
			goto out;
	}
	for (p = 0; p < NPROGS; p++) {
		/* A node killed outright left its replication process's
		 * mark: it is not the new one's. */
		if (progs[p].kind == REPL && table[p].n > 0)
			repl_unmark();
		for (i = 0; i < table[p].n; i++)
			start(p, i);
		if (progs[p].kind == REPL && table[p].n > 0)
			repl_wait();
	}
	pidfile = ch_xprintf("%s/run/chatrd.pid", cfg.var);
	if (write_pid(pidfile) != 0)
		goto out;
	ch_log_info("running %zu programs on their sockets in %s/run",
	    NPROGS, cfg.var);

	status = 0;
	for (;;) {
		timeout = due();
		pfd.fd = sfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
			ch_log_err("poll: %s", strerror(errno));
			status = 1;
			break;
		}
		if (!(pfd.revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			reap();
			restart_step();
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			ch_log_info("SIGHUP: restarting every program");
			for (p = 0; p < NPROGS; p++)
				for (i = 0; i < table[p].n; i++)
					table[p].slot[i].restart = 1;
			restart_step();
			continue;
		}
		if (si.ssi_signo == SIGUSR2) {
			/* chatr-repl: a site joined the group, and programs
			 * that started before connect only to the old ones */
			ch_log_info("a site joined the group: restarting the "
			    "FastCGI programs");
			for (p = 0; p < NPROGS; p++)
				for (i = 0; progs[p].kind == FCGI &&
				    i < table[p].n; i++)
					table[p].slot[i].restart = 1;
			restart_step();
			continue;
		}
		ch_log_info("signal %u: stopping", si.ssi_signo);
		break;
	}
out:
	stop_all();
	if (pidfile != NULL)
		remove_pid(pidfile);
	free(pidfile);
	for (p = 0; p < NPROGS; p++) {
		/* Not a socket another chatrd has made there since. */
		if (table[p].fd >= 0) {
			close(table[p].fd);
			if (stat(table[p].sock, &st) == 0 &&
			    st.st_ino == table[p].ino)
				unlink(table[p].sock);
		}
		free(table[p].path);
		free(table[p].sock);
	}
	close(sfd);
	free(w);
	ch_cfg_free(&cfg);
	return status;
}
