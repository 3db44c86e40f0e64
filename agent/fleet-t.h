/* SPDX-License-Identifier: Apache-2.0 */
/* Fleet types: what "show fleet" and the metrics see of the link. */
#ifndef AOAI_FLEET_T_H
#define AOAI_FLEET_T_H

#include <stdbool.h>
#include <stdint.h>

/* Counters of the fleet link: X(field, metric help text). */
#define FLEET_COUNTERS(X)                                                      \
	X(polls, "reads of the peers table completed")                         \
	X(poll_errors, "reads of the peers table failed")                      \
	X(writes, "deadlines and resets written to the peers table over the "  \
		  "runtime API")                                               \
	X(resp_writes, "own deadlines HAProxy wrote on the response path "     \
		       "(aoai-result's variables), seen in a read")            \
	X(resp_missed, "own deadlines handed to HAProxy on the response path " \
		       "that a read did not show: written over the runtime "   \
		       "API")                                                  \
	X(repairs, "own keys written again after the table lost them")         \
	X(applied, "deadlines of other nodes that started or extended a "      \
		   "cooldown")                                                 \
	X(fast, "deadlines of other nodes that started or extended a "         \
		"cooldown from aoai-route's arguments, before the next read")  \
	X(capped, "deadlines of other nodes cut at max_wait")                  \
	X(resets_sent, "fleet-wide resets this node started")                  \
	X(resets_seen, "fleet-wide resets other nodes started")                \
	X(dropped, "keys of the table ignored: unknown backend, full")

struct fleet_counters {
#define X(name, help) uint64_t name;
	FLEET_COUNTERS(X)
#undef X
};

/* What the link looks like now. */
struct fleet_status {
	bool enabled;	       /* a fleet: block is configured */
	bool up;	       /* the last read succeeded */
	uint32_t nodes;	       /* other writers seen in the last read */
	uint64_t last_poll_ms; /* monotonic time of the last good read; 0 */
	bool resp_missing;     /* HAProxy did not write the response path's
				* deadlines: written over the runtime API at
				* once too, until HAProxy's process changes */
	struct fleet_counters c;
	char last_error[128]; /* "" when none */
};

#endif /* AOAI_FLEET_T_H */
