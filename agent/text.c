/* Numbers, durations and times as text. */
#include <stdio.h>
#include <string.h>

#include "text.h"

int text_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0, d;
	size_t i;

	if (!s[0])
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int text_parse_duration(const char *s, bool bare_s, uint64_t max_ms,
			uint64_t *out_ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	char num[20];
	size_t i, n;
	uint64_t v, mul = 0;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (text_parse_uint(num, UINT64_MAX / 3600000, &v) < 0)
		return -1;
	if (!s[n] && bare_s)
		mul = 1000;
	for (i = 0; s[n] && i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s + n, units[i].unit) == 0)
			mul = units[i].ms;
	if (!mul || v * mul > max_ms)
		return -1;
	*out_ms = v * mul;
	return 0;
}

const char *text_fmt_duration(char *buf, size_t size, uint64_t ms)
{
	if (ms && ms % 3600000 == 0)
		snprintf(buf, size, "%lluh",
			 (unsigned long long)(ms / 3600000));
	else if (ms && ms % 60000 == 0)
		snprintf(buf, size, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, size, "%llums", (unsigned long long)ms);
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
