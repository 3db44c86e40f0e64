/* SPDX-License-Identifier: Apache-2.0 */
/* aoai-spoa: command line, configuration check, and the event loop. */
#include <ev.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cfg.h"
#include "log.h"

/* Exit codes, as documented in usage(), the README and aoai-spoa(8). */
#define EXIT_OK	    0 /* clean stop, or configuration valid */
#define EXIT_CONFIG 1 /* configuration invalid, or startup failed */
#define EXIT_USAGE  2 /* bad command line */

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
		"       aoai-spoa -V | -h\n"
		"\n"
		"  -f, --config FILE  the YAML configuration\n"
		"  -c, --check        check FILE and exit: \"configuration "
		"OK\" or every\n"
		"                     error as FILE:LINE:COL: message\n"
		"  -d, --debug        debug logging (overrides log_level)\n"
		"  -V, --version      print the version and exit (-v too)\n"
		"  -h, --help         print this help and exit\n"
		"\n"
		"exit status: 0 ok, 1 configuration or startup error, 2 "
		"usage\n"
		"signals: SIGHUP reloads FILE (kept only if valid), "
		"SIGTERM/SIGINT stop\n"
		"see aoai-spoa(8) and aoai-spoa.yaml(5)\n");
}

/* Prints a configuration error on stderr as it is found. */
static void print_cfg_error(void *arg, const char *msg)
{
	unsigned *n = arg;

	(*n)++;
	fprintf(stderr, "%s\n", msg);
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
		cfg_free(cfg);
		return EXIT_OK;
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
