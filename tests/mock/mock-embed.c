/* SPDX-License-Identifier: Apache-2.0 */
/* Embeddings as Azure OpenAI answers them: one vector per input, in the
 * order of the inputs, as JSON floats or, when the request says
 * "encoding_format": "base64" (the official SDKs' default), as base64 of
 * the little-endian float32 values.
 *
 * Vectors depend on the input's text only (like one model deployed in
 * several regions), so a client can compare two answers for one input.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mock.h"
#include "mock-http.h"

/* Skips the JSON string that starts at <p> ('"'). Returns the byte after
 * its closing quote, or NULL when it does not end before <end>.
 */
static const char *embed_skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* Skips one JSON value at <p> (no leading space). Returns the byte after
 * it, or NULL when it is cut or unbalanced. Checks balance, not grammar.
 */
static const char *embed_skip_value(const char *p, const char *end)
{
	int depth = 0;

	do {
		if (p >= end)
			return NULL;
		if (*p == '"') {
			p = embed_skip_string(p, end);
			if (!p)
				return NULL;
			continue;
		}
		if (*p == '[' || *p == '{') {
			depth++;
		} else if (*p == ']' || *p == '}') {
			if (--depth < 0)
				return NULL;
		} else if (depth == 0) {
			while (p < end && *p != ',' && *p != ']' && *p != '}' &&
			       *p != ' ' && *p != '\t' && *p != '\r' &&
			       *p != '\n')
				p++;
			return p;
		}
		p++;
	} while (depth > 0);
	return p;
}

static const char *embed_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

int embed_inputs(const char *body, size_t len, struct embed_input *in)
{
	const char *end = body + len, *v = NULL, *p = body, *e, *k;
	int n = 0;

	while (!v && p < end &&
	       (k = memmem(p, (size_t)(end - p), "\"input\"", 7))) {
		p = embed_ws(k + 7, end);
		if (p < end && *p == ':')
			v = embed_ws(p + 1, end);
	}
	/* lenient as the chat answers are: no "input" at all is one input,
	 * the body
	 */
	if (!v) {
		in[0].p = body;
		in[0].len = len;
		return 1;
	}
	if (v >= end)
		return 0;
	if (*v == '"') {
		e = embed_skip_string(v, end);
		if (!e)
			return 0;
		in[0].p = v;
		in[0].len = (size_t)(e - v);
		return 1;
	}
	if (*v != '[')
		return 0;
	p = embed_ws(v + 1, end);
	if (p >= end || *p == ']')
		return 0;
	/* an array of numbers is one input given as tokens */
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		e = embed_skip_value(v, end);
		if (!e)
			return 0;
		in[0].p = v;
		in[0].len = (size_t)(e - v);
		return 1;
	}
	for (;;) {
		e = embed_skip_value(p, end);
		if (!e)
			return 0;
		if (n == EMBED_MAX_INPUTS)
			return -1;
		in[n].p = p;
		in[n].len = (size_t)(e - p);
		n++;
		p = embed_ws(e, end);
		if (p >= end || (*p != ',' && *p != ']'))
			return 0;
		if (*p == ']')
			return n;
		p = embed_ws(p + 1, end);
	}
}

bool embed_base64_wanted(const char *body, size_t len)
{
	const char *end = body + len, *p = body, *v;

	while ((p = memmem(p, (size_t)(end - p), "\"encoding_format\"", 17))) {
		v = embed_ws(p + 17, end);
		p += 17;
		if (v >= end || *v != ':')
			continue;
		v = embed_ws(v + 1, end);
		return (size_t)(end - v) >= 8 &&
		       memcmp(v, "\"base64\"", 8) == 0;
	}
	return false;
}

/* The vector of one input: a few values in [-0.05, 0.05] seeded by the
 * input's bytes (FNV-1a).
 */
static void embed_vector(const struct embed_input *in, float *v)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < in->len; i++)
		h = (h ^ (unsigned char)in->p[i]) * 1099511628211ULL;
	for (i = 0; i < EMBED_DIMS; i++)
		v[i] = (float)(0.05 * sin((double)(h % 100003u) * 0.37 +
					  (double)i * 1.7));
}

static void embed_base64(struct mbuf *b, const float *v)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char raw[EMBED_DIMS * 4 + 2] = {0};
	char out[(sizeof(raw) / 3 + 1) * 4];
	size_t n = EMBED_DIMS * 4, i, o = 0;

	for (i = 0; i < EMBED_DIMS; i++) {
		uint32_t u;

		memcpy(&u, &v[i], sizeof(u));
		raw[4 * i] = (unsigned char)u;
		raw[4 * i + 1] = (unsigned char)(u >> 8);
		raw[4 * i + 2] = (unsigned char)(u >> 16);
		raw[4 * i + 3] = (unsigned char)(u >> 24);
	}
	for (i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)raw[i] << 16 |
			     (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = tab[w >> 18 & 63];
		out[o++] = tab[w >> 12 & 63];
		out[o++] = i + 1 < n ? tab[w >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[w & 63] : '=';
	}
	mbuf_add(b, out, o);
}

void embed_body(struct mbuf *b, const struct embed_input *in, int n,
		bool base64, const char *model, uint64_t prompt)
{
	float v[EMBED_DIMS];
	int k;
	size_t i;

	mbuf_printf(b, "{\"object\":\"list\",\"data\":[");
	for (k = 0; k < n; k++) {
		embed_vector(&in[k], v);
		mbuf_printf(b,
			    "%s{\"object\":\"embedding\",\"index\":%d,"
			    "\"embedding\":%s",
			    k ? "," : "", k, base64 ? "\"" : "[");
		if (base64)
			embed_base64(b, v);
		else
			for (i = 0; i < EMBED_DIMS; i++)
				mbuf_printf(b, "%s%.9g", i ? "," : "",
					    (double)v[i]);
		mbuf_printf(b, "%s}", base64 ? "\"" : "]");
	}
	mbuf_printf(b,
		    "],\"model\":\"%s\",\"usage\":{\"prompt_tokens\":%" PRIu64
		    ",\"total_tokens\":%" PRIu64 "}}",
		    model, prompt, prompt);
}
