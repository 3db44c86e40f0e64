/* SPDX-License-Identifier: Apache-2.0 */
/* Socket helpers: listen, connect, names, systemd socket activation. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock.h"

#define SOCK_BACKLOG 1024

/* Fills <ss> for <l>. Returns the address length or 0 with <err>. */
static socklen_t sock_addr(const struct cfg_listener *l,
			   struct sockaddr_storage *ss, char *err,
			   size_t errlen)
{
	memset(ss, 0, sizeof(*ss));
	if (l->kind == CFG_ADDR_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		size_t n = strlen(l->path);

		if (n == 0 || n >= sizeof(sun->sun_path)) {
			snprintf(err, errlen,
				 "unix path length %zu not in "
				 "1..%zu",
				 n, sizeof(sun->sun_path) - 1);
			return 0;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, l->path, n + 1);
		return (socklen_t)sizeof(*sun);
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET, l->host, &in4->sin_addr) == 1) {
			in4->sin_family = AF_INET;
			in4->sin_port = htons(l->port);
			return (socklen_t)sizeof(*in4);
		}
		if (inet_pton(AF_INET6, l->host, &in6->sin6_addr) == 1) {
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(l->port);
			return (socklen_t)sizeof(*in6);
		}
		snprintf(err, errlen, "\"%s\" is not a numeric address",
			 l->host);
		return 0;
	}
}

/* A unix socket path already there: stale (nobody answers) is removed,
 * alive or not a socket is an error. Returns 0 or -1 with <err>.
 */
static int sock_unix_stale(const struct cfg_listener *l,
			   const struct sockaddr_storage *ss, socklen_t len,
			   char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	if (lstat(l->path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", l->path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", l->path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	r = connect(fd, (const struct sockaddr *)ss, len);
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "%s is in use by a running process",
			 l->path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", l->path, strerror(errno));
		return -1;
	}
	if (unlink(l->path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "removing stale %s: %s", l->path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

int sock_listen(const struct cfg_listener *l, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	mode_t old;
	int fd, one = 1, r;

	len = sock_addr(l, &ss, err, errlen);
	if (!len)
		return -1;
	if (l->kind == CFG_ADDR_UNIX &&
	    sock_unix_stale(l, &ss, len, err, errlen) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (l->kind == CFG_ADDR_TCP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* no window where the socket file is wider open than asked */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&ss, len);
	umask(old);
	if (r < 0) {
		snprintf(err, errlen, "bind: %s", strerror(errno));
		goto close_fd;
	}
	if (l->kind == CFG_ADDR_UNIX && chmod(l->path, l->mode) < 0) {
		snprintf(err, errlen, "chmod %s: %s", l->path, strerror(errno));
		unlink(l->path);
		goto close_fd;
	}
	if (listen(fd, SOCK_BACKLOG) < 0) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		goto close_fd;
	}
	return fd;
close_fd:
	close(fd);
	return -1;
}

int sock_connect(const struct cfg_listener *l, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	len = sock_addr(l, &ss, err, errlen);
	if (!len)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void sock_peer_str(const struct sockaddr_storage *ss, socklen_t len,
		   const char *fallback, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN], port[8];

	if ((ss->ss_family != AF_INET && ss->ss_family != AF_INET6) ||
	    getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host),
			port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, size, "%s", fallback);
		return;
	}
	if (ss->ss_family == AF_INET6)
		snprintf(buf, size, "[%s]:%s", host, port);
	else
		snprintf(buf, size, "%s:%s", host, port);
}

int sock_systemd_fds(int *fds, char (*names)[32], int max)
{
	const char *pid = getenv("LISTEN_PID");
	const char *nfds = getenv("LISTEN_FDS");
	const char *fdnames = getenv("LISTEN_FDNAMES");
	char *end;
	long n, i;

	if (!pid || !nfds)
		return 0;
	errno = 0;
	if (strtol(pid, &end, 10) != (long)getpid() || *end || errno)
		return 0;
	n = strtol(nfds, &end, 10);
	if (*end || n <= 0)
		return 0;
	/* more than we can use: close the rest rather than leak them */
	for (i = max; i < n; i++)
		close(3 + (int)i);
	if (n > max)
		n = max;
	for (i = 0; i < n; i++) {
		const char *colon;
		size_t l = 0;

		/* SD_LISTEN_FDS_START is 3 (sd_listen_fds(3)) */
		fds[i] = 3 + (int)i;
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		names[i][0] = '\0';
		if (fdnames) {
			colon = strchr(fdnames, ':');
			l = colon ? (size_t)(colon - fdnames) : strlen(fdnames);
			if (l >= sizeof(names[i]))
				l = sizeof(names[i]) - 1;
			memcpy(names[i], fdnames, l);
			names[i][l] = '\0';
			fdnames = colon ? colon + 1 : NULL;
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (int)n;
}
