/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the shared integer and duration helpers (agent/text.c). */
#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "text.h"

struct u64_case {
	const char *in;
	uint64_t max;
	int rc;
	uint64_t want;
};

struct dur_case {
	const char *in;
	unsigned flags;
	uint64_t max;
	int rc;
	uint64_t want;
};

static const struct u64_case u64_cases[] = {
	{"0", UINT64_MAX, TEXT_OK, 0},
	{"7", UINT64_MAX, TEXT_OK, 7},
	{"007", UINT64_MAX, TEXT_OK, 7},
	{"00000000000000000000000000042", UINT64_MAX, TEXT_OK, 42},
	{"18446744073709551615", UINT64_MAX, TEXT_OK, UINT64_MAX},
	{"18446744073709551616", UINT64_MAX, TEXT_ERANGE, 0},
	{"99999999999999999999999", UINT64_MAX, TEXT_ERANGE, 0},
	{"100", 100, TEXT_OK, 100},
	{"101", 100, TEXT_ERANGE, 0},
	{"65535", 65535, TEXT_OK, 65535},
	{"65536", 65535, TEXT_ERANGE, 0},
	{"", UINT64_MAX, TEXT_EINVAL, 0},
	{" 1", UINT64_MAX, TEXT_EINVAL, 0},
	{"1 ", UINT64_MAX, TEXT_EINVAL, 0},
	{"-5", UINT64_MAX, TEXT_EINVAL, 0},
	{"+5", UINT64_MAX, TEXT_EINVAL, 0},
	{"1e3", UINT64_MAX, TEXT_EINVAL, 0},
	{"1.5", UINT64_MAX, TEXT_EINVAL, 0},
	{"0x10", UINT64_MAX, TEXT_EINVAL, 0},
	{"1,000", UINT64_MAX, TEXT_EINVAL, 0},
	{"99999999999999999999999x", UINT64_MAX, TEXT_EINVAL, 0},
	{"\xef\xbc\x91", UINT64_MAX, TEXT_EINVAL, 0},
};

static const struct dur_case dur_cases[] = {
	{"0ms", 0, UINT64_MAX, TEXT_OK, 0},
	{"0s", 0, UINT64_MAX, TEXT_OK, 0},
	{"150ms", 0, UINT64_MAX, TEXT_OK, 150},
	{"2s", 0, UINT64_MAX, TEXT_OK, 2000},
	{"1m", 0, UINT64_MAX, TEXT_OK, 60000},
	{"1h", 0, UINT64_MAX, TEXT_OK, 3600000},
	{"90s", 0, UINT64_MAX, TEXT_OK, 90000},
	{"007s", 0, UINT64_MAX, TEXT_OK, 7000},
	{"30", 0, UINT64_MAX, TEXT_ENOUNIT, 0},
	{"30", TEXT_DUR_BARE_S, UINT64_MAX, TEXT_OK, 30000},
	{"1h", 0, 3599999, TEXT_ERANGE, 0},
	{"1h", 0, 3600000, TEXT_OK, 3600000},
	{"5124095576030432h", 0, UINT64_MAX, TEXT_ERANGE, 0},
	{"99999999999999999999999ms", 0, UINT64_MAX, TEXT_ERANGE, 0},
	{"99999999999999999999999x", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"", TEXT_DUR_BARE_S, UINT64_MAX, TEXT_EINVAL, 0},
	{"s", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"ms", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1d", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1S", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1 s", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{" 1s", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1s ", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1.5s", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"-1s", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1hm", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1mss", 0, UINT64_MAX, TEXT_EINVAL, 0},
	{"1sec", 0, UINT64_MAX, TEXT_EINVAL, 0},
};

static const struct {
	uint64_t ms;
	const char *want;
} fmt_cases[] = {
	{0, "0s"},
	{1, "1ms"},
	{250, "250ms"},
	{1000, "1s"},
	{1500, "1500ms"},
	{90000, "90s"},
	{60000, "1m"},
	{300000, "5m"},
	{3600000, "1h"},
	{5400000, "90m"},
	{7200000, "2h"},
	{3601000, "3601s"},
	{UINT64_MAX, "18446744073709551615ms"},
};

static void test_u64(void)
{
	size_t i;
	uint64_t v;
	int rc;

	for (i = 0; i < sizeof(u64_cases) / sizeof(u64_cases[0]); i++) {
		const struct u64_case *c = &u64_cases[i];

		v = 12345;
		rc = text_parse_u64(c->in, strlen(c->in), c->max, &v);
		tap_is_int(rc, c->rc, c->in);
		tap_ok(v == (c->rc == TEXT_OK ? c->want : 12345),
		       "%s: value %" PRIu64, c->in, v);
		tap_is_int(text_parse_u64z(c->in, c->max, &v), c->rc,
			   "z form agrees");
	}
	/* The length bounds the read: digits past it are not seen. */
	tap_is_int(text_parse_u64("123456", 3, UINT64_MAX, &v), TEXT_OK,
		   "length-bounded");
	tap_is_int((long long)v, 123, "length-bounded value");
}

static void test_duration(void)
{
	size_t i;
	uint64_t v;
	int rc;

	for (i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
		const struct dur_case *c = &dur_cases[i];

		v = 12345;
		rc = text_parse_duration(c->in, strlen(c->in), c->flags, c->max,
					 &v);
		tap_ok(rc == c->rc, "duration '%s' flags %u: rc %d want %d",
		       c->in, c->flags, rc, c->rc);
		tap_ok(v == (c->rc == TEXT_OK ? c->want : 12345),
		       "duration '%s': value %" PRIu64, c->in, v);
		tap_is_int(text_parse_durationz(c->in, c->flags, c->max, &v),
			   c->rc, "z form agrees");
	}
	tap_is_int(text_parse_duration("15ms", 3, 0, UINT64_MAX, &v), TEXT_OK,
		   "length-bounded duration reads 15m");
	tap_is_int((long long)v, 15 * 60000, "length-bounded duration value");
}

static void test_fmt(void)
{
	char buf[TEXT_DURATION_LEN], small[4], nb[TEXT_U64_LEN];
	uint64_t back;
	size_t i;

	for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		const char *got =
			text_fmt_duration(buf, sizeof(buf), fmt_cases[i].ms);

		tap_ok(got == buf && strcmp(buf, fmt_cases[i].want) == 0,
		       "fmt %" PRIu64 ": '%s' want '%s'", fmt_cases[i].ms, buf,
		       fmt_cases[i].want);
		tap_ok(text_parse_durationz(buf, 0, UINT64_MAX, &back) ==
				       TEXT_OK &&
			       back == fmt_cases[i].ms,
		       "fmt %" PRIu64 " parses back", fmt_cases[i].ms);
	}
	text_fmt_duration(small, sizeof(small), 250);
	tap_ok(strcmp(small, "250") == 0, "truncated, NUL-terminated: '%s'",
	       small);
	tap_ok(strcmp(text_fmt_u64(nb, sizeof(nb), 0), "0") == 0, "u64 0");
	tap_ok(strcmp(text_fmt_u64(nb, sizeof(nb), UINT64_MAX),
		      "18446744073709551615") == 0,
	       "u64 max fits TEXT_U64_LEN");
}

int main(void)
{
	test_u64();
	test_duration();
	test_fmt();
	return tap_done();
}
