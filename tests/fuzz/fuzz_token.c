/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the token client's response parser (agent/http-resp.c)
 * fed in pieces whose sizes come from the input, then the token response
 * reader (agent/token.c) on whatever body came out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "secret.h"
#include "token.h"

#define NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sec_buf body, tok;
	static struct http_resp r;
	char err[256], sum[128];
	size_t off = 1, step;
	int64_t exp;
	int rc = 0;

	if (!body.p && (sec_buf_init(&body, 4096) || sec_buf_init(&tok, 4096)))
		abort();
	if (size < 1)
		return 0;
	/* the first byte chooses the piece size: 1..256 */
	step = (size_t)data[0] + 1;
	http_resp_init(&r, &body);
	while (off < size && rc == 0) {
		size_t n = size - off < step ? size - off : step;

		rc = http_resp_feed(&r, (const char *)data + off, n);
		off += n;
	}
	if (rc == 0)
		rc = http_resp_eof(&r);
	if (rc == 1) {
		if (body.len > body.cap || r.state != HTTP_R_DONE)
			abort();
		if (token_parse(body.p, body.len, NOW, &tok, &exp, err,
				sizeof(err)) == 0) {
			if (!token_chars_ok(tok.p, tok.len) || exp <= NOW)
				abort();
		}
		token_error_summary(body.p, body.len, sum, sizeof(sum));
		for (const char *p = sum; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
	} else if (rc == -1 && !r.err) {
		abort();
	}
	return 0;
}
