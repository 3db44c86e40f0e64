/* SPDX-License-Identifier: Apache-2.0 */
/* Test driver of Entra ID credentials (agent/authset.c, agent/cred.c) on a
 * real event loop, for tests/integration/test_auth*.py. Each "--name N"
 * starts a credential, configured by the options after it ("--kind" first).
 * On every token change the set rewrites the token map; this driver prints
 * one "event" line and, with --hapi, sends the "set map" line to a HAProxy
 * runtime API socket (blocking: a test tool, not the agent's delivery).
 * SIGUSR1 prints each credential's description and failure counters;
 * SIGTERM stops it. A token is printed only as a SHA-256 prefix.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "authset.h"
#include "cred.h"
#include "log.h"
#include "secret.h"

#define DRIVE_MAX 8

static struct authset set;
static const char *hapi_path;

static int64_t wall_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends <line> to the runtime API and prints HAProxy's answer. */
static int hapi_send(const struct sec_buf *line)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char ans[256];
	size_t n = 0;
	ssize_t r;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", hapi_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    write(fd, line->p, line->len) != (ssize_t)line->len) {
		printf("hapi-error cannot reach %s\n", hapi_path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (n < sizeof(ans) - 1 &&
	       (r = read(fd, ans + n, sizeof(ans) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	while (n && (ans[n - 1] == '\n' || ans[n - 1] == ' '))
		n--;
	ans[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (ans[i] == '\n')
			ans[i] = ' ';
	printf("hapi-answer \"%s\"\n", ans);
	return 0;
}

static int on_send(struct authset *s, const char *name,
		   const struct sec_buf *line, void *arg)
{
	const struct cred *c = authset_find(s, name);
	const struct sec_buf *t = c ? cred_token(c) : NULL;
	unsigned char h[32];
	int rc = 0;

	(void)arg;
	if (hapi_path)
		rc = hapi_send(line);
	if (!t) {
		printf("event expired %s\n", name);
		return rc;
	}
	EVP_Digest(t->p, t->len, h, NULL, EVP_sha256(), NULL);
	printf("event token %s refreshes=%llu sha256=%02x%02x%02x%02x%02x%02x"
	       "%02x%02x\n",
	       name, (unsigned long long)c->refreshes, h[0], h[1], h[2], h[3],
	       h[4], h[5], h[6], h[7]);
	return rc;
}

static void on_avail(struct authset *s, const char *name, bool usable,
		     void *arg)
{
	(void)s;
	(void)arg;
	printf("avail %s %d\n", name, usable);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	char line[512];

	(void)loop;
	(void)w;
	(void)revents;
	for (size_t k = 0; k < set.n; k++) {
		const struct cred *c = &set.v[k].cred;

		cred_describe(c, line, sizeof(line));
		printf("describe %s %s usable=%d\n", c->conf.name, line,
		       cred_usable(c));
		printf("failed %s", c->conf.name);
		for (int i = 0; i < CRED_F_COUNT; i++)
			printf(" %s=%llu", cred_cause_name(i),
			       (unsigned long long)c->failed[i]);
		printf("\n");
	}
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void set_str(char *dst, size_t size, const char *v)
{
	snprintf(dst, size, "%s", v);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"kind", required_argument, NULL, 'k'},
		{"name", required_argument, NULL, 'n'},
		{"imds", required_argument, NULL, 'i'},
		{"authority", required_argument, NULL, 'a'},
		{"tenant", required_argument, NULL, 't'},
		{"client-id", required_argument, NULL, 'c'},
		{"secret-file", required_argument, NULL, 's'},
		{"cert-file", required_argument, NULL, 'C'},
		{"token-file", required_argument, NULL, 'f'},
		{"ca-file", required_argument, NULL, 'A'},
		{"timeout", required_argument, NULL, 'T'},
		{"backoff-min", required_argument, NULL, 'b'},
		{"backoff-max", required_argument, NULL, 'B'},
		{"map", required_argument, NULL, 'm'},
		{"hapi", required_argument, NULL, 'H'},
		{"hapi-map", required_argument, NULL, 'M'},
		{NULL, 0, NULL, 0},
	};
	static struct cred_conf cc[DRIVE_MAX];
	struct ev_loop *loop = ev_default_loop(0);
	const char *map_path = NULL, *hapi_map = NULL;
	ev_signal usr1, term, intr;
	struct cred_conf *cur = NULL;
	char err[512], name[CRED_NAME_MAX];
	size_t n = 0;
	int o, kind;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_DEBUG);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (!cur && o != 'n' && o != 'm' && o != 'H' && o != 'M') {
			fprintf(stderr, "auth-drive: --name first\n");
			return 2;
		}
		switch (o) {
		case 'n':
			if (n == DRIVE_MAX)
				return 2;
			cur = &cc[n++];
			cred_conf_defaults(cur, CRED_MANAGED_IDENTITY);
			set_str(cur->name, sizeof(cur->name), optarg);
			break;
		case 'k':
			kind = cred_kind_parse(optarg);
			if (kind < 0)
				return 2;
			set_str(name, sizeof(name), cur->name);
			cred_conf_defaults(cur, kind);
			set_str(cur->name, sizeof(cur->name), name);
			break;
		case 'i':
			set_str(cur->imds_url, sizeof(cur->imds_url), optarg);
			break;
		case 'a':
			set_str(cur->authority, sizeof(cur->authority), optarg);
			break;
		case 't':
			set_str(cur->tenant_id, sizeof(cur->tenant_id), optarg);
			break;
		case 'c':
			set_str(cur->client_id, sizeof(cur->client_id), optarg);
			break;
		case 's':
			set_str(cur->secret_file, sizeof(cur->secret_file),
				optarg);
			break;
		case 'C':
			set_str(cur->cert_file, sizeof(cur->cert_file), optarg);
			break;
		case 'f':
			set_str(cur->token_file, sizeof(cur->token_file),
				optarg);
			break;
		case 'A':
			set_str(cur->ca_file, sizeof(cur->ca_file), optarg);
			break;
		case 'T':
			cur->timeout = strtod(optarg, NULL);
			break;
		case 'b':
			cur->backoff_min_ms =
				(uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'B':
			cur->backoff_max_ms =
				(uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			map_path = optarg;
			break;
		case 'H':
			hapi_path = optarg;
			break;
		case 'M':
			hapi_map = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!map_path || !n) {
		fprintf(stderr, "usage: auth-drive --map PATH [--hapi SOCKET] "
				"--name NAME --kind KIND [options]...\n");
		return 2;
	}
	if (authset_init(&set, loop, n, map_path, hapi_map, wall_ms, NULL, err,
			 sizeof(err)) == -1) {
		printf("init-error %s\n", err);
		return 1;
	}
	authset_hooks(&set, on_send, NULL, on_avail, NULL);
	for (size_t i = 0; i < n; i++)
		if (authset_add(&set, &cc[i], (uint64_t)getpid() + i, err,
				sizeof(err)) == -1) {
			printf("init-error %s\n", err);
			authset_free(&set);
			return 1;
		}
	if (authset_start(&set, err, sizeof(err)) == -1) {
		printf("init-error %s\n", err);
		authset_free(&set);
		return 1;
	}
	ev_signal_init(&usr1, on_usr1, SIGUSR1);
	ev_signal_init(&term, on_term, SIGTERM);
	ev_signal_init(&intr, on_term, SIGINT);
	ev_signal_start(loop, &usr1);
	ev_signal_start(loop, &term);
	ev_signal_start(loop, &intr);
	printf("started %zu\n", n);
	ev_run(loop, 0);
	authset_free(&set);
	printf("stopped\n");
	return 0;
}
