/* SPDX-License-Identifier: Apache-2.0 */
/* Socket helpers shared by the SPOP listeners, the control socket and the
 * HAProxy runtime API client.
 */
#ifndef AOAI_SOCK_H
#define AOAI_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cfg-t.h"

#define SOCK_ERR_MAX 256

/* Opens a non-blocking listening socket for <l>. A unix socket left by a
 * dead process is replaced; one that answers is an error, as is a path
 * that is not a socket. The socket file gets <l>->mode. Returns the fd, or
 * -1 with the reason in <err>.
 */
int sock_listen(const struct cfg_listener *l, char *err, size_t errlen);

/* Starts a non-blocking connect to <l>. Returns the fd (connection maybe in
 * progress), or -1 with the reason in <err>.
 */
int sock_connect(const struct cfg_listener *l, char *err, size_t errlen);

/* Numeric "HOST:PORT" of an accepted peer, or <fallback> (unix peers). */
void sock_peer_str(const struct sockaddr_storage *ss, socklen_t len,
		   const char *fallback, char *buf, size_t size);

/* Sockets passed by systemd (sd_listen_fds(3) protocol, no libsystemd):
 * fills up to <max> fds and their LISTEN_FDNAMES names; returns the count
 * (0 when not socket-activated). Clears the variables so children do not
 * inherit them.
 */
int sock_systemd_fds(int *fds, char (*names)[32], int max);

#endif /* AOAI_SOCK_H */
