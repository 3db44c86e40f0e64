/* Functions shared by the files of the mock Azure OpenAI region server. */
#ifndef MOCK_H
#define MOCK_H

#include "mock-t.h"

/* mock-conn.c */

/* Takes ownership of the accepted socket <fd>. Returns 0, or -1 when out of
 * memory (the caller closes fd).
 */
int conn_accept(struct mock_srv *srv, int fd);

/* Closes <c>; it is freed later by conn_reap(). Safe to call twice. */
void conn_close(struct conn *c);

/* Frees closed connections; called from a point where none is in use. */
void conn_reap(struct mock_srv *srv);

/* Closes every connection (at exit). */
void conn_close_all(struct mock_srv *srv);

/* Starts the answer prepared in c->out after <delay_ms>. */
void conn_respond(struct conn *c, enum conn_after after, uint64_t delay_ms);

/* mock-api.c */

/* Answers the complete request in <c> (head and decoded body). */
void api_dispatch(struct conn *c);

/* Answers a request that could not be parsed with <status>, then closes. */
void api_proto_error(struct conn *c, int status);

/* Appends the next event of the stream to c->out. Returns true once the
 * last one (data: [DONE] and the end of the chunked body) was appended.
 */
bool api_stream_next(struct conn *c);

/* Room one stream event needs in c->out, chunk framing included. */
#define MOCK_EVENT_MAX 1024

/* Current time: the loop's ev_now(), the one clock of the quota logic. */
ev_tstamp mock_now(const struct mock_srv *srv);

#endif /* MOCK_H */
