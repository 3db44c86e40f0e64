/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the header value parsers (agent/hdr.c), table-driven. */
#include <stdint.h>
#include <string.h>

#include "hdr.h"
#include "tap.h"

#define NOW 1700000000 /* Tue, 14 Nov 2023 22:13:20 GMT */

struct uint_case {
	const char *in;
	int rc;
	uint64_t want;
};

struct ra_case {
	const char *in;
	int64_t now;
	int rc;
	uint64_t want;
};

static const struct uint_case uint_cases[] = {
	{"0", 0, 0},
	{"7", 0, 7},
	{"  12  ", 0, 12},
	{"\t42\t", 0, 42},
	{" \t 9 \t ", 0, 9},
	{"007", 0, 7},
	{"18446744073709551615", 0, UINT64_MAX},
	{"18446744073709551616", -1, 0},
	{"99999999999999999999999", -1, 0},
	{"", -1, 0},
	{"   ", -1, 0},
	{"\t", -1, 0},
	{"-5", -1, 0},
	{"+5", -1, 0},
	{"1e3", -1, 0},
	{"1.5", -1, 0},
	{"1 2", -1, 0},
	{"0x10", -1, 0},
	{"12a", -1, 0},
	{"a12", -1, 0},
	{"1,000", -1, 0},
	{"1_000", -1, 0},
	{"\n12", -1, 0},
	{"12\r", -1, 0},
	{"\xef\xbc\x91", -1, 0}, /* fullwidth digit one */
};

static const struct ra_case ra_cases[] = {
	/* delta-seconds */
	{"0", NOW, 0, 0},
	{"1", NOW, 0, 1000},
	{"  12  ", NOW, 0, 12000},
	{"120", NOW, 0, 120000},
	{"0000000000000000000000000000005", NOW, 0, 5000},
	{"18446744073709551", NOW, 0, 18446744073709551000ULL},
	{"18446744073709552", NOW, 0, UINT64_MAX},
	{"99999999999999999999999", NOW, 0, UINT64_MAX},
	{"", NOW, -1, 0},
	{"   ", NOW, -1, 0},
	{"-5", NOW, -1, 0},
	{"+5", NOW, -1, 0},
	{"1e3", NOW, -1, 0},
	{"1.5", NOW, -1, 0},
	{"5s", NOW, -1, 0},
	{"5 5", NOW, -1, 0},
	/* IMF-fixdate */
	{"Tue, 14 Nov 2023 22:13:30 GMT", NOW, 0, 10000},
	{"  Tue, 14 Nov 2023 22:13:30 GMT\t", NOW, 0, 10000},
	{"Wed, 15 Nov 2023 00:00:00 GMT", NOW, 0, 6400000},
	{"Tue, 14 Nov 2023 22:13:20 GMT", NOW, 0, 0},
	{"Sun, 06 Nov 1994 08:49:37 GMT", NOW, 0, 0},
	{"Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 3, 0, 3000},
	{"Mon, 14 Nov 2023 22:13:30 GMT", NOW, 0, 10000}, /* name unchecked */
	{"Fri, 31 Dec 9999 23:59:59 GMT", NOW, 0, 251702300799000ULL},
	{"Thu, 29 Feb 2024 00:00:00 GMT", NOW, 0, 9164800000ULL},
	{"Tue, 29 Feb 2000 12:00:00 GMT", 951825600 - 5, 0, 5000},
	{"Tue, 14 Nov 2023 22:13:60 GMT", NOW, 0, 40000},
	{"Wed, 29 Feb 2023 00:00:00 GMT", NOW, -1, 0},
	{"Thu, 29 Feb 1900 00:00:00 GMT", NOW, -1, 0},
	{"Mon, 29 Feb 2100 00:00:00 GMT", NOW, -1, 0},
	{"Tue, 31 Apr 2024 00:00:00 GMT", NOW, -1, 0},
	{"Tue, 00 Nov 2023 22:13:30 GMT", NOW, -1, 0},
	{"Tue, 32 Dec 2023 22:13:30 GMT", NOW, -1, 0},
	{"Tue, 14 Foo 2023 22:13:30 GMT", NOW, -1, 0},
	{"Tue, 14 nov 2023 22:13:30 GMT", NOW, -1, 0},
	{"tue, 14 Nov 2023 22:13:30 GMT", NOW, -1, 0},
	{"Xyz, 14 Nov 2023 22:13:30 GMT", NOW, -1, 0},
	{"Tue, 14 Nov 2023 24:00:00 GMT", NOW, -1, 0},
	{"Tue, 14 Nov 2023 23:60:00 GMT", NOW, -1, 0},
	{"Tue, 14 Nov 2023 23:59:61 GMT", NOW, -1, 0},
	{"Tue, 14 Nov 2023 22:13:30 UTC", NOW, -1, 0},
	{"Tue, 14 Nov 2023 22:13:30 GMT x", NOW, -1, 0},
	{"Tue, 14 Nov 2023 22:13:30", NOW, -1, 0},
	{"Tue, 4 Nov 2023 22:13:30 GMT", NOW, -1, 0},
	{"Tue,  14 Nov 2023 22:13:30 GMT", NOW, -1, 0},
	{"Tue, 14 Nov 23 22:13:30 GMT", NOW, -1, 0},
	{"Tue, 14 Nov 2023 2:13:30 GMT", NOW, -1, 0},
	{"Tue, 14 Nov 2023 22:13:30 GMT\r\n", NOW, -1, 0},
	{"Tue, 14 Nov -023 22:13:30 GMT", NOW, -1, 0},
	/* obsolete RFC 850 */
	{"Tuesday, 14-Nov-23 22:13:30 GMT", NOW, 0, 10000},
	{"Sunday, 06-Nov-94 08:49:37 GMT", NOW, 0, 0},
	{"Tuesday, 14-Nov-73 22:13:20 GMT", NOW, 0, 1577923200000ULL},
	{"Wednesday, 14-Nov-74 22:13:20 GMT", NOW, 0, 0}, /* 1974 */
	{"Thursday, 29-Feb-24 00:00:00 GMT", NOW, 0, 9164800000ULL},
	{"Wednesday, 29-Feb-23 00:00:00 GMT", NOW, -1, 0},
	{"Tue, 14-Nov-23 22:13:30 GMT", NOW, -1, 0},
	{"Tuesday, 14 Nov 2023 22:13:30 GMT", NOW, -1, 0},
	{"Tuesday, 14-Nov-2023 22:13:30 GMT", NOW, -1, 0},
	{"Tuesdai, 14-Nov-23 22:13:30 GMT", NOW, -1, 0},
	/* asctime */
	{"Tue Nov 14 22:13:30 2023", NOW, 0, 10000},
	{"Wed Nov 15 00:00:00 2023", NOW, 0, 6400000},
	{"Sun Nov  6 08:49:37 1994", 784111777 - 3, 0, 3000},
	{"Sun Nov 06 08:49:37 1994", 784111777 - 3, 0, 3000},
	{"Thu Feb 29 00:00:00 2024", NOW, 0, 9164800000ULL},
	{"Wed Feb 29 00:00:00 2023", NOW, -1, 0},
	{"Sun Nov 6 08:49:37 1994", NOW, -1, 0},
	{"Sun Nov   6 08:49:37 1994", NOW, -1, 0},
	{"Sun Nov  6 08:49:37 94", NOW, -1, 0},
	{"Sun Nov  6 08:49:37 1994 GMT", NOW, -1, 0},
	/* garbage */
	{"Tue", NOW, -1, 0},
	{"Tue,", NOW, -1, 0},
	{"GMT", NOW, -1, 0},
	{"soon", NOW, -1, 0},
	{"-", NOW, -1, 0},
	{".5", NOW, -1, 0},
	/* clock extremes do not overflow */
	{"Fri, 31 Dec 9999 23:59:59 GMT", INT64_MIN, 0, UINT64_MAX},
	{"Fri, 31 Dec 9999 23:59:59 GMT", INT64_MAX, 0, 0},
	{"Tuesday, 14-Nov-23 22:13:30 GMT", INT64_MIN, -1, 0},
	{"Tuesday, 14-Nov-23 22:13:30 GMT", INT64_MAX, -1, 0},
};

static const struct uint_case ms_cases[] = {
	{"0", 0, 0},
	{"1500", 0, 1500},
	{"  1500  ", 0, 1500},
	{"1500.5", 0, 1501},
	{"1500.0", 0, 1500},
	{"1500.000", 0, 1500},
	{"1500.001", 0, 1501},
	{"0.1", 0, 1},
	{"0.0", 0, 0},
	{"18446744073709551615", 0, UINT64_MAX},
	{"18446744073709551615.5", 0, UINT64_MAX},
	{"99999999999999999999999", 0, UINT64_MAX},
	{"", -1, 0},
	{"  ", -1, 0},
	{"-5", -1, 0},
	{"+5", -1, 0},
	{"1e3", -1, 0},
	{"1500.", -1, 0},
	{".5", -1, 0},
	{"1500.5.5", -1, 0},
	{"1500 .5", -1, 0},
	{"1,5", -1, 0},
	{"12ms", -1, 0},
	{"Tue, 14 Nov 2023 22:13:30 GMT", -1, 0},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Returns <in> with control and non-ASCII bytes as \xNN, for test names. */
static const char *esc(const char *in)
{
	static char buf[256];
	size_t o = 0;

	for (; *in && o + 5 < sizeof(buf); in++) {
		unsigned char c = (unsigned char)*in;

		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o,
					      "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static void check(const char *fn, const char *raw, int rc, uint64_t out,
		  int want_rc, uint64_t want)
{
	const char *in = esc(raw);

	if (want_rc < 0)
		tap_ok(rc == -1 && out == 0xdeadbeef,
		       "%s(\"%s\") rejected, output untouched (rc %d)", fn, in,
		       rc);
	else
		tap_ok(rc == 0 && out == want,
		       "%s(\"%s\") = %" PRIu64 " (rc %d, got %" PRIu64 ")", fn,
		       in, want, rc, out);
}

/* The parsers must not read past <len>: feed a copy without NUL in a buffer
 * whose next byte is a digit, so an over-read would change the result.
 */
static void test_not_nul_terminated(void)
{
	char buf[8];
	uint64_t v = 0;

	memcpy(buf, "12399999", 8);
	tap_ok(hdr_parse_uint(buf, 3, &v) == 0 && v == 123,
	       "uint reads only len bytes");
	tap_ok(hdr_parse_retry_after(buf, 2, NOW, &v) == 0 && v == 12000,
	       "retry_after reads only len bytes");
	tap_ok(hdr_parse_retry_after_ms(buf, 1, &v) == 0 && v == 1,
	       "retry_after_ms reads only len bytes");
	tap_ok(hdr_parse_uint(buf, 0, &v) == -1, "uint of zero length");
	tap_ok(hdr_parse_uint("1\0002", 3, &v) == -1, "embedded NUL rejected");
}

int main(void)
{
	uint64_t out;
	size_t i;
	int rc;

	for (i = 0; i < N(uint_cases); i++) {
		const struct uint_case *c = &uint_cases[i];

		out = 0xdeadbeef;
		rc = hdr_parse_uint(c->in, strlen(c->in), &out);
		check("uint", c->in, rc, out, c->rc, c->want);
	}
	for (i = 0; i < N(ra_cases); i++) {
		const struct ra_case *c = &ra_cases[i];

		out = 0xdeadbeef;
		rc = hdr_parse_retry_after(c->in, strlen(c->in), c->now, &out);
		check("retry_after", c->in, rc, out, c->rc, c->want);
	}
	for (i = 0; i < N(ms_cases); i++) {
		const struct uint_case *c = &ms_cases[i];

		out = 0xdeadbeef;
		rc = hdr_parse_retry_after_ms(c->in, strlen(c->in), &out);
		check("retry_after_ms", c->in, rc, out, c->rc, c->want);
	}
	test_not_nul_terminated();
	return tap_done();
}
