/*
 * stall.c -- a stream client that never reads: it shrinks its receive
 * buffer, connects to 127.0.0.1:PORT, asks for PATH and then sleeps, so
 * the server's writes back up.  Used by 47-reliability.sh to check that a
 * stalled client is dropped while the others go on.
 *
 * usage: stall PORT PATH SECONDS
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	char req[512];
	int fd, rcv = 1024, n;

	if (argc != 4) {
		fprintf(stderr, "usage: stall PORT PATH SECONDS\n");
		return 2;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) != 0) {
		perror("socket");
		return 1;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("connect");
		return 1;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "\r\n", argv[2]);
	if (n < 0 || (size_t)n >= sizeof(req) ||
	    write(fd, req, (size_t)n) != n) {
		perror("write");
		return 1;
	}
	sleep((unsigned int)atoi(argv[3]));
	close(fd);
	return 0;
}
