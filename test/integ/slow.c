/*
 * slow.c -- a slowloris: N connections from source address ADDR to
 * 127.0.0.1:PORT, each sending a request head one header line every
 * EVERY ms and never finishing it, for at most SECONDS.  For each
 * connection it prints how long the server kept it and what it answered:
 *
 *	conn 3 held 3012 ms status 408 json 1
 *	conn 7 held 1 ms status 0 json 0	(closed without an answer)
 *
 * (json 1: the answer held a JSON error, {"success":false,...}.)
 *
 * Used by 92-slow.sh.
 *
 * usage: slow ADDR PORT N EVERY SECONDS
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXC 256

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin, src;
	struct pollfd pfd[MAXC];
	long long start, end, next, closed[MAXC];
	int status[MAXC], json[MAXC], n, every, secs, i, open_, r;
	char buf[512];

	if (argc != 6) {
		fprintf(stderr, "usage: slow ADDR PORT N EVERY SECONDS\n");
		return 2;
	}
	n = atoi(argv[3]);
	every = atoi(argv[4]);
	secs = atoi(argv[5]);
	if (n < 1 || n > MAXC || every < 1 || secs < 1)
		return 2;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[1], &src.sin_addr) != 1)
		return 2;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[2]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	start = now_ms();
	for (i = 0; i < n; i++) {
		closed[i] = -1;
		status[i] = json[i] = 0;
		pfd[i].events = POLLIN;
		if ((pfd[i].fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    bind(pfd[i].fd, (struct sockaddr *)&src,
		    sizeof(src)) != 0 ||
		    connect(pfd[i].fd, (struct sockaddr *)&sin,
		    sizeof(sin)) != 0) {
			closed[i] = 0;
			continue;
		}
		r = snprintf(buf, sizeof(buf), "GET /api/agents HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\n");
		if (send(pfd[i].fd, buf, (size_t)r, MSG_NOSIGNAL) != r)
			closed[i] = now_ms() - start;
	}
	end = start + (long long)secs * 1000;
	next = start + every;
	for (;;) {
		open_ = 0;
		for (i = 0; i < n; i++) {
			if (closed[i] >= 0 && pfd[i].fd >= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1; /* poll ignores it now */
			}
			open_ += closed[i] < 0;
		}
		if (open_ == 0 || now_ms() >= end)
			break;
		r = poll(pfd, (nfds_t)n, (int)(next - now_ms() > 0 ?
		    next - now_ms() : 0));
		if (r > 0)
			for (i = 0; i < n; i++) {
				if (closed[i] >= 0 || !(pfd[i].revents &
				    (POLLIN | POLLHUP | POLLERR)))
					continue;
				r = (int)read(pfd[i].fd, buf, sizeof(buf) - 1);
				if (r > 0) {
					buf[r] = '\0';
					if (status[i] == 0)
						sscanf(buf, "HTTP/%*s %d",
						    &status[i]);
					if (strstr(buf, "\"success\":false") !=
					    NULL)
						json[i] = 1;
					continue;
				}
				closed[i] = now_ms() - start;
			}
		if (now_ms() >= next) {
			for (i = 0; i < n; i++)
				if (closed[i] < 0 && send(pfd[i].fd,
				    "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) != 11)
					closed[i] = now_ms() - start;
			next += every;
		}
	}
	for (i = 0; i < n; i++) {
		printf("conn %d held %lld ms status %d json %d%s\n", i,
		    closed[i] < 0 ? now_ms() - start : closed[i], status[i],
		    json[i], closed[i] < 0 ? " open" : "");
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	}
	return 0;
}
