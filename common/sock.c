/*
 * sock.c -- listening on a Unix socket, for chatrd (the programs' sockets)
 * and the relay (its own, when no supervisor passes it one).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "chatr.h"

/*
 * Listen on a fresh Unix socket at path (a stale one is replaced), mode
 * 0660, close-on-exec; flags: SOCK_NONBLOCK or 0.  The fd, with the
 * inode of the socket's path in *ino when ino is not NULL; else -1, having
 * logged why.
 */
int
ch_sock_listen(const char *path, int flags, ino_t *ino)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		ch_log_err("socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0)) < 0) {
		ch_log_err("socket: %s", strerror(errno));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		ch_log_warn("unlink %s: %s", path, strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0660) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    stat(path, &st) != 0) {
		ch_log_err("listening on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (ino != NULL)
		*ino = st.st_ino;
	return fd;
}
