/* SPDX-License-Identifier: Apache-2.0 */
/* The key reference of docs/man/aoai-spoa.yaml.5 is the schema's
 * (agent/cfg-schema.c): the entries between the ".\" keys: begin" and
 * ".\" keys: end" lines must be what this program writes from cfg_schema().
 *
 *   test_man_keys --man   prints those entries, to paste between the lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "tap.h"
#include "text.h"

#define MAN_PAGE  "docs/man/aoai-spoa.yaml.5"
#define MAN_MAX	  (64 * 1024)
#define MAN_BEGIN ".\\\" keys: begin\n"
#define MAN_END	  ".\\\" keys: end\n"

/* Appends <s> to <out> as roff text: '-' as "\-" (a hyphen-minus, as in
 * keys and options), '\' as "\e". Returns the new length.
 */
static size_t roff_put(char *out, size_t o, size_t size, const char *s)
{
	for (; *s && o + 3 < size; s++) {
		if (*s == '-' || *s == '\\') {
			out[o++] = '\\';
			out[o++] = *s == '-' ? '-' : 'e';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return o;
}

/* Appends printf-formatted text, unescaped (roff requests). */
static size_t raw_put(char *out, size_t o, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (o + n + 1 > size)
		n = size - o - 1;
	memcpy(out + o, s, n);
	o += n;
	out[o] = '\0';
	return o;
}

/* Writes one ".TP" entry per key of the schema into <out>: the key's path
 * in bold, then its type, default and range, its meaning, and its APIM
 * name. Returns the length.
 */
static size_t man_entries(char *out, size_t size)
{
	const struct cfg_field *fs;
	char path[128], lo[TEXT_DURATION_LEN], hi[TEXT_DURATION_LEN], line[256];
	size_t n, i, o = 0;

	out[0] = '\0';
	fs = cfg_schema(&n);
	for (i = 0; i < n; i++) {
		const struct cfg_field *f = &fs[i];
		const char *bp = cfg_block_path(f->block);

		snprintf(path, sizeof(path), "%s%s%s", bp, *bp ? "." : "",
			 f->key);
		o = raw_put(out, o, size, ".TP\n.B ");
		o = roff_put(out, o, size, path);
		o = raw_put(out, o, size, "\n");
		o = roff_put(out, o, size, cfg_type_str(f->type));
		if (f->doc_def)
			snprintf(line, sizeof(line), "; default %s",
				 f->doc_def);
		else if (f->def && f->def[0]) /* "": unset */
			snprintf(line, sizeof(line), "; default %s", f->def);
		else
			snprintf(line, sizeof(line), "; %s",
				 f->required ? "required" : "optional");
		o = roff_put(out, o, size, line);
		line[0] = '\0';
		if (f->type == CFG_T_U32 || f->type == CFG_T_U64)
			snprintf(line, sizeof(line), "; %llu..%llu",
				 (unsigned long long)f->min,
				 (unsigned long long)f->max);
		else if (f->type == CFG_T_DURATION)
			snprintf(line, sizeof(line), "; %s..%s",
				 text_fmt_duration(lo, sizeof(lo), f->min),
				 text_fmt_duration(hi, sizeof(hi), f->max));
		o = roff_put(out, o, size, line);
		o = raw_put(out, o, size, ":\n");
		o = roff_put(out, o, size, f->help);
		o = raw_put(out, o, size, ".\n");
		if (f->apim) {
			o = raw_put(out, o, size, "APIM:\n.BR \\%");
			o = roff_put(out, o, size, f->apim);
			o = raw_put(out, o, size, " .\n");
		}
	}
	return o;
}

static char *slurp(const char *rel)
{
	const char *root = getenv("AOAI_ROOT");
	char path[512];
	size_t n = 0, r;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root && *root ? root : ".", rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf = malloc(MAN_MAX + 1);
	if (!buf)
		abort();
	while (n < MAN_MAX && (r = fread(buf + n, 1, MAN_MAX - n, f)) > 0)
		n += r;
	fclose(f);
	buf[n] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	static char want[MAN_MAX];
	const char *b, *e;
	size_t n, len, count;
	char *page;

	len = man_entries(want, sizeof(want));
	if (argc > 1 && strcmp(argv[1], "--man") == 0) {
		fputs(want, stdout);
		return 0;
	}
	cfg_schema(&count);
	tap_ok(len + 1 < sizeof(want), "the entries fit the buffer");
	page = slurp(MAN_PAGE);
	tap_ok(page != NULL, MAN_PAGE " is readable");
	if (!page)
		return tap_done();
	b = strstr(page, MAN_BEGIN);
	e = b ? strstr(b, MAN_END) : NULL;
	tap_ok(b && e, MAN_PAGE " has the keys: begin/end lines");
	if (b && e) {
		b += strlen(MAN_BEGIN);
		n = (size_t)(e - b);
		tap_ok(n == len && memcmp(b, want, n) == 0,
		       "aoai-spoa.yaml(5)'s %zu key entries are the schema's "
		       "(regenerate with: build/tests/test_man_keys --man)",
		       count);
	}
	free(page);
	return tap_done();
}
