/* SPDX-License-Identifier: Apache-2.0 */
/* Control socket: its listeners (command lines, and the HTTP /metrics
 * listener), its clients' I/O, and its lifecycle across reloads. What a
 * line or an HTTP request means is not its business: the lifecycle wires
 * the command layer (ctl-cmd.h) and the metrics answer (ctl-http.h) in
 * through struct ctl_ops.
 */
#ifndef AOAI_CTL_H
#define AOAI_CTL_H

#include <ev.h>
#include <stddef.h>

#include "buf.h"
#include "cfg-t.h"
#include "ctl-t.h"

struct ctl;

/* What the control socket's input means, and the argument given back. */
struct ctl_ops {
	/* runs one command line of session <s> into <out> (ctl-cmd.h) */
	void (*line)(void *arg, struct ctl_counters *cnt, struct ctl_session *s,
		     char *line, struct buf *out);
	/* answers one HTTP request head into <out> (ctl-http.h) */
	int (*http)(void *arg, const char *head, size_t len, struct buf *out);
	void *arg;
};

/* Takes over <fd>, a listening socket systemd passed under the name
 * "control" (socket activation; agent_start() hands it over), creating
 * <*ctlp> on <loop> if needed. It is served once ctl_start() runs, with
 * the level of the configured control socket at the same path, or admin
 * when none matches (the socket unit's mode and owner guard it). Returns
 * 0, or -1 (fd closed) out of memory.
 */
int ctl_adopt(struct ctl **ctlp, struct ev_loop *loop, int fd);

/* Opens every control socket of <cfg> (and adopted ones) and the metrics
 * listener, and starts serving on <loop>: <ops> says what input means,
 * <st> (the caller's, outliving the module) receives the counters. A unix
 * socket file gets the configured mode from its creation on
 * (sock_listen()); a stale one is replaced. Returns 0, or -1 after logging
 * what failed (nothing left open).
 */
int ctl_start(struct ctl **ctlp, struct ev_loop *loop, const struct cfg *cfg,
	      struct ctl_status *st, const struct ctl_ops *ops);

/* After a successful reload to <cfg>: opens sockets that appeared, closes
 * those that went away, applies new levels (to new clients) and modes.
 * Clients already connected keep their session. Failures are logged, not
 * fatal. NULL-safe.
 */
void ctl_reload(struct ctl *ctl, const struct cfg *cfg);

/* Closes every listener and client and frees the module (NULL-safe). */
void ctl_stop(struct ctl **ctlp);

#endif /* AOAI_CTL_H */
