/* SPDX-License-Identifier: Apache-2.0 */
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

/* mock-embed.c */

#define EMBED_MAX_INPUTS 128 /* per request (Azure takes 2048) */
#define EMBED_DIMS	 8   /* values per vector */

/* One input of an embeddings request: its JSON text in the body. */
struct embed_input {
	const char *p;
	size_t len;
};

/* Splits the body's "input" into <in> (EMBED_MAX_INPUTS entries): a string
 * is one input, an array of numbers (tokens) one, any other array one per
 * element; a body without "input" is one input (the mock is lenient).
 * Returns the count, 0 when "input" is empty or malformed, -1 when there
 * are more than EMBED_MAX_INPUTS.
 */
int embed_inputs(const char *body, size_t len, struct embed_input *in);

/* True when the body asks for "encoding_format": "base64". */
bool embed_base64_wanted(const char *body, size_t len);

/* Appends the embeddings answer for <n> inputs to <b>. */
void embed_body(struct mbuf *b, const struct embed_input *in, int n,
		bool base64, const char *model, uint64_t prompt);

/* Current time: the loop's ev_now(), the one clock of the quota logic. */
ev_tstamp mock_now(const struct mock_srv *srv);

/* True when <tok> (<len> bytes) is a JWT signed with the --jwt-key-file
 * key (HS256), for the Cognitive Services audience, not expired at <now>
 * (seconds since the epoch).
 */
bool mock_jwt_ok(const struct mock_srv *srv, const char *tok, size_t len,
		 double now);

#endif /* MOCK_H */
