/* aoai-spoa: command line, configuration check, and the event loop. */
#include <ev.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cfg.h"
#include "log.h"

/* Exit codes, as documented in the README and usage(). */
#define EXIT_OK	    0 /* clean stop, or configuration valid */
#define EXIT_CONFIG 1 /* configuration invalid, or startup failed */
#define EXIT_USAGE  2 /* bad command line */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: aoai-spoa [-d] -f FILE     run in the foreground\n"
		"       aoai-spoa -c -f FILE        check the configuration\n"
		"       aoai-spoa -v | -h\n"
		"\n"
		"  -f FILE  YAML configuration\n"
		"  -c       check FILE: print \"configuration OK\" or every "
		"error as\n"
		"           FILE:LINE:COL: message\n"
		"  -d       debug logging (overrides log_level)\n"
		"  -v       print the version\n"
		"  -h       print this help\n"
		"\n"
		"exit status: 0 ok, 1 configuration or startup error, 2 "
		"usage\n"
		"signals: SIGHUP reloads FILE (kept only if valid), "
		"SIGTERM/SIGINT stop\n");
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

	while ((opt = getopt(argc, argv, "cdf:hv")) != -1) {
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
		case 'v':
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
