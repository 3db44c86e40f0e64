/* SPDX-License-Identifier: Apache-2.0 */
/* Token responses (IMDS and Entra ID v2.0) parsed with jansson. */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "token.h"

static void token_json_free(void *p)
{
	if (p)
		sec_wipe(p, malloc_usable_size(p));
	free(p);
}

void token_json_init(void)
{
	static bool done;

	if (!done) {
		json_set_alloc_funcs(malloc, token_json_free);
		done = true;
	}
}

bool token_chars_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0)
		return false;
	/* RFC 6750 §2.1: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
	 * "/" ) *"="
	 */
	for (; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_' || c == '~' || c == '+' || c == '/'))
			break;
	}
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

/* Seconds from a JSON integer or a decimal string; -1 if neither. */
static int token_seconds(const json_t *v, int64_t *out)
{
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (*s < '0' || *s > '9')
		return -1;
	n = strtoll(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = n;
	return 0;
}

int token_parse(const char *body, size_t len, int64_t now,
		struct sec_buf *token, int64_t *expires_on, char *err,
		size_t errlen)
{
	const json_t *at, *v;
	json_error_t jerr;
	const char *s;
	int64_t t;
	json_t *root;
	size_t n;
	int rc = -1;

	token_json_init();
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		/* jerr.text may quote the input: only the position */
		snprintf(err, errlen, "token response: invalid JSON at %d:%d",
			 jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "token response: not a JSON object");
		goto out;
	}
	at = json_object_get(root, "access_token");
	if (!json_is_string(at)) {
		snprintf(err, errlen, "token response: no access_token");
		goto out;
	}
	s = json_string_value(at);
	n = json_string_length(at);
	if (n > TOKEN_MAX || n > token->cap) {
		snprintf(err, errlen,
			 "token response: access_token longer "
			 "than %d bytes",
			 TOKEN_MAX);
		goto out;
	}
	if (!token_chars_ok(s, n)) {
		snprintf(err, errlen,
			 "token response: access_token has "
			 "characters a bearer token cannot hold");
		goto out;
	}
	v = json_object_get(root, "expires_on");
	if (v && token_seconds(v, &t) == 0) {
		/* absolute */
	} else if ((v = json_object_get(root, "expires_in")) &&
		   token_seconds(v, &t) == 0 && t >= 0 &&
		   t < 10 * 365 * 86400) {
		t += now;
	} else {
		snprintf(err, errlen,
			 "token response: no expires_on or expires_in");
		goto out;
	}
	if (t <= now) {
		snprintf(err, errlen, "token response: token already expired");
		goto out;
	}
	sec_buf_clear(token);
	sec_buf_append(token, s, n);
	*expires_on = t;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* Copies printable ASCII of <s> to <out> (at most <max> bytes). */
static size_t token_printable(const char *s, char *out, size_t max)
{
	size_t i = 0;

	for (; s[i] && i < max; i++)
		out[i] = (s[i] >= 0x21 && s[i] <= 0x7e) ? s[i] : '?';
	return i;
}

void token_error_summary(const char *body, size_t len, char *out, size_t outlen)
{
	const json_t *e, *d;
	json_error_t jerr;
	json_t *root;
	size_t n = 0;

	out[0] = '\0';
	if (outlen < 2)
		return;
	token_json_init();
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return;
	e = json_object_get(root, "error");
	if (json_is_string(e))
		n = token_printable(json_string_value(e), out,
				    outlen - 1 < 64 ? outlen - 1 : 64);
	d = json_object_get(root, "error_description");
	if (json_is_string(d)) {
		/* "AADSTS700016: Application ... not found" -> the code */
		const char *a = strstr(json_string_value(d), "AADSTS");

		if (a && n + 2 < outlen - 1) {
			size_t k = strspn(a + 6, "0123456789");

			out[n++] = ' ';
			n += token_printable(a, out + n,
					     k + 6 < outlen - 1 - n
						     ? k + 6
						     : outlen - 1 - n);
		}
	}
	out[n] = '\0';
	json_decref(root);
}
