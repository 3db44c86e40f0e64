/* SPDX-License-Identifier: Apache-2.0 */
/* Control socket types shared by its layers and by the views that show
 * the control socket itself.
 */
#ifndef AOAI_CTL_T_H
#define AOAI_CTL_T_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg-t.h"

/* Output of one command line at most; a client's buffer holds this. */
#define CTL_OUT_MAX (16u << 20)

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

/* What the control module shows of itself, kept current by it. */
struct ctl_status {
	struct ctl_counters cnt;
	uint32_t clients; /* control and metrics clients connected */
};

/* What a command may read or change of the session that sent it. */
struct ctl_session {
	enum cfg_level level; /* may only go down ("user", "operator") */
	bool interactive;     /* "prompt": several lines, a prompt */
	bool quit;	      /* "quit": close once the output is sent */
	double timeout;	      /* idle timeout, seconds */
	const char *peer;     /* for the log line of a change */
};

#endif /* AOAI_CTL_T_H */
