/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: haproxy-config and the drift check on any bytes. The
 * input is split at its first NUL: before it a YAML document, rendered
 * when the agent accepts it (check, then both files, any version or one);
 * after it an answer of HAProxy's runtime API, compared with that
 * configuration (or a fixed one). Nothing may crash, leak or overflow.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "hacfg.h"
#include "hadrift.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed[] = "listen: [tcp://127.0.0.1:1]\n"
			    "haproxy: {stats_socket: unix:///x, "
			    "backend: aoai}\n"
			    "backends:\n"
			    "  - {name: a, upstream: {endpoint: a.example}}\n"
			    "  - {name: b, upstream: {endpoint: b.example}}\n"
			    "pools:\n"
			    "  - name: p\n"
			    "    members: [{backend: a}, {backend: b, "
			    "priority: 2}]\n";

static void fuzz_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t ylen = nul ? (size_t)(nul - data) : size;
	struct cfg *cfg =
		cfg_parse("fuzz", (const char *)data, ylen, fuzz_quiet, NULL);
	char err[160], *text;
	struct buf b;

	if (cfg && hacfg_check(cfg, fuzz_quiet, NULL) == 0) {
		buf_init(&b, HACFG_OUT_MAX);
		if (hacfg_render_cfg(cfg, 0, &b) < 0 ||
		    hacfg_render_cfg(cfg, 206 + (unsigned)(ylen % 200), &b) <
			    0 ||
		    hacfg_render_spoe(cfg, 0, &b) < 0)
			abort(); /* a few MB at most: never over the cap */
		buf_free(&b);
	}
	if (!cfg)
		cfg = cfg_parse("fixed", fixed, sizeof(fixed) - 1, fuzz_quiet,
				NULL);
	if (!cfg)
		abort();
	if (cfg->haproxy.enabled) {
		size_t tlen = nul ? size - ylen - 1 : 0;

		text = malloc(tlen + 1);
		if (!text)
			abort();
		memcpy(text, nul ? (const char *)nul + 1 : "", tlen);
		text[tlen] = '\0';
		hadrift_compare(cfg, text, fuzz_quiet, NULL, err, sizeof(err));
		free(text);
	}
	cfg_free(cfg);
	return 0;
}
