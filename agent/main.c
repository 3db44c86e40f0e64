/* SPDX-License-Identifier: Apache-2.0 */
/* aoai-spoa: command line, configuration check, and the event loop. */
#include <ev.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cfg.h"
#include "hacfg.h"
#include "hadrift.h"
#include "log.h"

/* Exit codes, as documented in usage(), the README and aoai-spoa(8). */
#define EXIT_OK	    0 /* clean stop, or configuration valid */
#define EXIT_CONFIG 1 /* configuration invalid, or startup failed */
#define EXIT_USAGE  2 /* bad command line */
#define EXIT_DRIFT  3 /* -c: the running HAProxy differs from the file */

/* haproxy-config: options after the subcommand */
#define OPT_HAPROXY 0x100
#define OPT_SPOE    0x101

static const struct option hacfg_options[] = {
	{"config", required_argument, NULL, 'f'},
	{"haproxy", required_argument, NULL, OPT_HAPROXY},
	{"spoe", no_argument, NULL, OPT_SPOE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const struct option main_options[] = {
	{"check", no_argument, NULL, 'c'},
	{"debug", no_argument, NULL, 'd'},
	{"config", required_argument, NULL, 'f'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* The synopsis and options as docs/man/aoai-spoa.8 gives them; a test
 * compares the two. */
static void usage(FILE *out)
{
	fprintf(out,
		"usage: aoai-spoa [-d] -f FILE\n"
		"       aoai-spoa -c -f FILE\n"
		"       aoai-spoa haproxy-config -f FILE [--haproxy VERSION] "
		"[--spoe]\n"
		"       aoai-spoa -V | -h\n"
		"\n"
		"  -f, --config FILE  the YAML configuration\n"
		"  -c, --check        check FILE and exit: \"configuration "
		"OK\" or every\n"
		"                     error as FILE:LINE:COL: message; "
		"with a haproxy\n"
		"                     block, then the running HAProxy's "
		"servers against\n"
		"                     FILE (\"drift:\" lines)\n"
		"  -d, --debug        debug logging (overrides log_level)\n"
		"  -V, --version      print the version and exit (-v too)\n"
		"  -h, --help         print this help and exit\n"
		"\n"
		"haproxy-config writes haproxy.cfg rendered from FILE on "
		"stdout:\n"
		"  --haproxy VERSION  for this HAProxy only (2.6, 3.0, "
		"3.2...): the\n"
		"                     .if version_atleast blocks resolved; "
		"default: one\n"
		"                     file for every version\n"
		"  --spoe             write aoai-spoe.conf instead\n"
		"\n"
		"exit status: 0 ok, 1 configuration or startup error, 2 "
		"usage,\n"
		"3 the running HAProxy differs from FILE (-c with a haproxy "
		"block)\n"
		"signals: SIGHUP reloads FILE (kept only if valid), "
		"SIGTERM/SIGINT stop\n"
		"see aoai-spoa(8) and aoai-spoa.yaml(5)\n");
}

/* Prints one difference between HAProxy and the file on stdout. */
static void print_drift(void *arg, const char *msg)
{
	(void)arg;
	printf("drift: %s\n", msg);
}

/* -c with a haproxy block: the running HAProxy's servers against <cfg>.
 * HAProxy not reachable is said, not an error (a host without HAProxy
 * running, a package being installed); one that answers without the
 * backend's servers differs. Returns the exit status.
 */
static int main_drift(const struct cfg *cfg)
{
	char err[256];
	int n = hadrift_check(cfg, print_drift, NULL, err, sizeof(err));

	if (n == HADRIFT_UNREACHABLE) {
		fprintf(stderr,
			"haproxy: not compared with the running HAProxy: %s\n",
			err);
		return EXIT_OK;
	}
	if (n < 0) {
		printf("drift: %s\n", err);
		fprintf(stderr,
			"haproxy: the running HAProxy did not list the servers "
			"of %s\n",
			cfg->haproxy.backend);
		return EXIT_DRIFT;
	}
	if (n == 0) {
		printf("haproxy: %s matches the configuration\n",
		       cfg->haproxy.backend);
		return EXIT_OK;
	}
	fprintf(stderr,
		"haproxy: %d difference%s between the running HAProxy and "
		"%s\n",
		n, n == 1 ? "" : "s", cfg->file);
	return EXIT_DRIFT;
}

/* Prints a configuration error on stderr as it is found. */
static void print_cfg_error(void *arg, const char *msg)
{
	unsigned *n = arg;

	(*n)++;
	fprintf(stderr, "%s\n", msg);
}

/* "aoai-spoa haproxy-config ...": renders the HAProxy side of the
 * configuration on stdout. Returns the exit status.
 */
static int main_haproxy_config(int argc, char **argv)
{
	const char *file = NULL;
	hacfg_version v = 0;
	bool spoe = false;
	unsigned errors = 0;
	struct cfg *cfg;
	struct buf out;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "f:h", hacfg_options, NULL)) !=
	       -1) {
		switch (opt) {
		case 'f':
			file = optarg;
			break;
		case OPT_HAPROXY:
			if (hacfg_version_parse(optarg, &v) == 0)
				break;
			fprintf(stderr,
				"aoai-spoa: --haproxy %s: expected a version "
				"2.6 or later (2.6, 3.0, 3.2)\n",
				optarg);
			return EXIT_USAGE;
		case OPT_SPOE:
			spoe = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!file || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cfg = cfg_load(file, print_cfg_error, &errors);
	if (cfg) /* counted by print_cfg_error() */
		hacfg_check(cfg, print_cfg_error, &errors);
	if (!cfg || errors) {
		fprintf(stderr, "%s: %u error%s, nothing rendered\n", file,
			errors, errors == 1 ? "" : "s");
		cfg_free(cfg);
		return EXIT_CONFIG;
	}
	buf_init(&out, HACFG_OUT_MAX);
	rc = spoe ? hacfg_render_spoe(cfg, v, &out)
		  : hacfg_render_cfg(cfg, v, &out);
	if (rc < 0 || fwrite(out.p, 1, out.len, stdout) != out.len ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "aoai-spoa: haproxy-config: %s\n",
			rc < 0 ? "output too large" : "cannot write");
		rc = -1;
	}
	buf_free(&out);
	cfg_free(cfg);
	return rc < 0 ? EXIT_CONFIG : EXIT_OK;
}

int main(int argc, char **argv)
{
	static struct agent agent;
	const char *file = NULL;
	bool check = false, debug = false;
	struct ev_loop *loop;
	struct cfg *cfg;
	unsigned errors = 0;
	int opt;

	if (argc > 1 && !strcmp(argv[1], "haproxy-config"))
		return main_haproxy_config(argc - 1, argv + 1);
	while ((opt = getopt_long(argc, argv, "cdf:hVv", main_options, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			check = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
		case 'v': /* HAProxy's spelling */
			printf("aoai-spoa %s\n", AOAI_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!file || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}

	cfg = cfg_load(file, print_cfg_error, &errors);
	if (check) {
		if (!cfg) {
			fprintf(stderr, "%s: %u error%s\n", file, errors,
				errors == 1 ? "" : "s");
			return EXIT_CONFIG;
		}
		printf("configuration OK\n");
		fflush(stdout);
		opt = cfg->haproxy.enabled ? main_drift(cfg) : EXIT_OK;
		cfg_free(cfg);
		return opt; /* the exit status */
	}
	if (!cfg) {
		fprintf(stderr, "%s: %u error%s, not starting\n", file, errors,
			errors == 1 ? "" : "s");
		return EXIT_CONFIG;
	}
	log_init(debug ? LOG_DEBUG : cfg->agent.log_level);
	agent.debug = debug;

	loop = ev_default_loop(EVFLAG_AUTO | EVFLAG_NOENV);
	if (!loop)
		fatal("cannot initialise the event loop");
	if (agent_start(&agent, loop, file, cfg) < 0) {
		agent_free(&agent);
		return EXIT_CONFIG;
	}
	ev_run(loop, 0);
	log_msg(LOG_NOTICE, "stopped");
	agent_free(&agent);
	ev_loop_destroy(loop);
	return EXIT_OK;
}
