/* SPDX-License-Identifier: Apache-2.0 */
/* Text and number helpers: strict integers and durations, parse and format. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

static inline bool text_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int text_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;
	size_t i;

	if (len == 0)
		return TEXT_EINVAL;
	for (i = 0; i < len; i++) {
		if (!text_is_digit(s[i]))
			return TEXT_EINVAL;
		/* Keep scanning after an overflow: a later non-digit makes
		 * the whole text a syntax error, not a range error.
		 */
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			over = true;
	}
	if (over || v > max)
		return TEXT_ERANGE;
	*out = v;
	return TEXT_OK;
}

int text_parse_u64z(const char *s, uint64_t max, uint64_t *out)
{
	return text_parse_u64(s, strlen(s), max, out);
}

int text_parse_duration(const char *s, size_t len, unsigned flags,
			uint64_t max_ms, uint64_t *out_ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1},
		     {"s", TEXT_MS_SEC},
		     {"m", TEXT_MS_MIN},
		     {"h", TEXT_MS_HOUR}};
	size_t n, i, ulen;
	uint64_t v = 0, mul = 0, ms;
	int rc;

	for (n = 0; n < len && text_is_digit(s[n]); n++)
		;
	if (n == 0)
		return TEXT_EINVAL;
	if (n == len) {
		if (!(flags & TEXT_DUR_BARE_S))
			return TEXT_ENOUNIT;
		mul = TEXT_MS_SEC;
	}
	ulen = len - n;
	for (i = 0; ulen && i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].unit) == ulen &&
		    memcmp(s + n, units[i].unit, ulen) == 0)
			mul = units[i].ms;
	if (mul == 0)
		return TEXT_EINVAL;
	rc = text_parse_u64(s, n, UINT64_MAX, &v);
	if (rc == TEXT_ERANGE || __builtin_mul_overflow(v, mul, &ms) ||
	    ms > max_ms)
		return TEXT_ERANGE;
	*out_ms = ms;
	return TEXT_OK;
}

int text_parse_durationz(const char *s, unsigned flags, uint64_t max_ms,
			 uint64_t *out_ms)
{
	return text_parse_duration(s, strlen(s), flags, max_ms, out_ms);
}

const char *text_fmt_duration(char *buf, size_t size, uint64_t ms)
{
	if (ms == 0)
		snprintf(buf, size, "0s");
	else if (ms % TEXT_MS_HOUR == 0)
		snprintf(buf, size, "%" PRIu64 "h", ms / TEXT_MS_HOUR);
	else if (ms % TEXT_MS_MIN == 0)
		snprintf(buf, size, "%" PRIu64 "m", ms / TEXT_MS_MIN);
	else if (ms % TEXT_MS_SEC == 0)
		snprintf(buf, size, "%" PRIu64 "s", ms / TEXT_MS_SEC);
	else
		snprintf(buf, size, "%" PRIu64 "ms", ms);
	return buf;
}

const char *text_fmt_u64(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

const char *text_fmt_left(char *buf, size_t size, uint64_t ms)
{
	if (ms < 1000)
		snprintf(buf, size, "%llums", (unsigned long long)ms);
	else if (ms < 60000)
		snprintf(buf, size, "%llu.%llus",
			 (unsigned long long)(ms / 1000),
			 (unsigned long long)(ms % 1000 / 100));
	else if (ms < 3600000)
		snprintf(buf, size, "%llum%02llus",
			 (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms % 60000 / 1000));
	else
		snprintf(buf, size, "%lluh%02llum",
			 (unsigned long long)(ms / 3600000),
			 (unsigned long long)(ms % 3600000 / 60000));
	return buf;
}

const char *text_fmt_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

char *text_printable(char *buf, size_t size, const char *s, size_t len)
{
	size_t i;

	if (!size)
		return buf;
	for (i = 0; i < len && i + 1 < size; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}
