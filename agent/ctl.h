/* SPDX-License-Identifier: Apache-2.0 */
/* Control socket: its listeners (command lines, and the HTTP /metrics
 * listener) and its lifecycle across reloads. The commands are in
 * ctl-cmd.h.
 */
#ifndef AOAI_CTL_H
#define AOAI_CTL_H

#include "agent-t.h"

/* Takes over <fd>, a listening socket systemd passed under the name
 * "control" (socket activation; agent_start() hands it over). It is
 * served once ctl_start() runs, with the level of the configured control
 * socket at the same path, or admin when none matches (the socket unit's
 * mode and owner guard it). Returns 0, or -1 (fd closed) out of memory.
 */
int ctl_adopt(struct agent *a, int fd);

/* Opens every control socket of a->cfg (and adopted ones) and the metrics
 * listener, and starts serving. A unix socket file gets the configured
 * mode from its creation on (sock_listen()); a stale one is replaced.
 * Returns 0, or -1 after logging what failed (nothing left open).
 */
int ctl_start(struct agent *a);

/* After a successful reload: opens sockets that appeared, closes those
 * that went away, applies new levels (to new clients) and modes. Clients
 * already connected keep their session. Failures are logged, not fatal.
 */
void ctl_reload(struct agent *a);

/* Closes every listener and client and frees the module (NULL-safe). */
void ctl_stop(struct agent *a);

#endif /* AOAI_CTL_H */
