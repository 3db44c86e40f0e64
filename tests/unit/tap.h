/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal TAP-style checks for the C unit tests: "ok - name" or
 * "not ok - name: detail" per check; tap_done() gives the exit status.
 */
#ifndef AOAI_TAP_H
#define AOAI_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static unsigned tap_passed, tap_failed;

__attribute__((format(printf, 2, 3))) static inline int tap_ok(int cond,
							       const char *fmt,
							       ...)
{
	va_list ap;

	fputs(cond ? "ok - " : "not ok - ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	if (cond)
		tap_passed++;
	else
		tap_failed++;
	return cond;
}

/* Reports a failed comparison with both values. */
static inline int tap_is_int(long long got, long long want, const char *name)
{
	if (got == want)
		return tap_ok(1, "%s", name);
	return tap_ok(0, "%s: got %lld, want %lld", name, got, want);
}

static inline int tap_is_mem(const void *got, size_t got_len, const void *want,
			     size_t want_len, const char *name)
{
	size_t i;

	if (got_len == want_len && memcmp(got, want, got_len) == 0)
		return tap_ok(1, "%s", name);
	for (i = 0; i < got_len && i < want_len; i++)
		if (((const unsigned char *)got)[i] !=
		    ((const unsigned char *)want)[i])
			break;
	return tap_ok(0, "%s: lengths %zu/%zu, first difference at %zu", name,
		      got_len, want_len, i);
}

static inline int tap_done(void)
{
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif /* AOAI_TAP_H */
