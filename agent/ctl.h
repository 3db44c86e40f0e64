/* Control socket: HAProxy-style text commands (and the HTTP /metrics
 * listener) on the agent's event loop; capped output buffers.
 */
#ifndef AOAI_CTL_H
#define AOAI_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-t.h"

/* Control socket counters, declared once: X(name, help). */
#define CTL_COUNTERS(X)                                                        \
	X(accepted, "control and metrics clients accepted")                    \
	X(refused, "clients refused at the client limit")                      \
	X(commands, "control commands run")                                    \
	X(errors, "control commands answered with an error")                   \
	X(denied, "control commands refused by the access level")              \
	X(changes, "control commands that changed the routing state")          \
	X(timeouts, "clients closed by the idle timeout")                      \
	X(oversized, "lines or HTTP heads over the length limit")              \
	X(http_requests, "HTTP requests on the metrics listener")

struct ctl_counters {
#define X(name, help) uint64_t name;
	CTL_COUNTERS(X)
#undef X
};

/* Takes over <fd>, a listening socket systemd passed under the name
 * "control" (socket activation; listener_open_all() hands it over). It is
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

/* Clients connected now (control and metrics). */
uint32_t ctl_client_count(const struct agent *a);

/* The module's counters, or NULL when it is not running. */
const struct ctl_counters *ctl_counters(const struct agent *a);

/* "user", "operator", "admin". */
const char *ctl_level_str(enum cfg_level level);

#endif /* AOAI_CTL_H */
