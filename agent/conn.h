/* SPDX-License-Identifier: Apache-2.0 */
/* SPOP connections: accept, frames in, ACKs out, one place to close. */
#ifndef AOAI_CONN_H
#define AOAI_CONN_H

#include "conn-t.h"

/* Takes ownership of the connected, non-blocking socket <fd> accepted from
 * <peer>. Returns 0, or -1 (fd closed) at max_connections (counted) or
 * when memory is short.
 */
int conn_new(struct conn_set *cs, int fd, const char *peer);

/* Out of descriptors: closes the connection that makes room for a new one
 * (the oldest without HELLO, else the longest idle with no frame in
 * flight), counted and logged. Returns false when none qualifies.
 */
bool conn_shed(struct conn_set *cs);

/* Queues an AGENT-DISCONNECT with <status> and closes once it is sent.
 * <why> is logged with the peer.
 */
void conn_disconnect(struct conn *c, uint32_t status, const char *why);

/* Closes the socket now and hands the connection to the reaper. The only
 * place a connection is closed.
 */
void conn_close(struct conn *c, const char *why);

/* Frees connections closed since the last call: the loop's safe point. */
void conn_reap(struct conn_set *cs);

/* Frees the buffers kept for reuse and stops the set's timer: at exit,
 * after every connection was closed and reaped.
 */
void conn_set_free(struct conn_set *cs);

/* Zeroes the counters ("clear counters"). */
void conn_reset_counters(struct conn_set *cs);

#endif /* AOAI_CONN_H */
