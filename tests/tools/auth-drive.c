/* Test driver of one Entra ID credential (agent/cred.c) on a real event
 * loop, for tests/integration/test_auth*.py: on every token change it
 * rewrites the token map (agent/tokmap.c), with --hapi sends the "set map"
 * line to a HAProxy runtime API socket (blocking: a test tool, not the
 * agent's delivery), and prints one "event" line; SIGUSR1 prints the
 * credential's description and failure counters; SIGTERM stops it. It
 * prints a token only as a SHA-256 prefix.
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

#include "cred.h"
#include "log.h"
#include "secret.h"
#include "tokmap.h"

static struct cred cred;
static const char *map_path;
static const char *hapi_path;
static const char *hapi_map;

/* Sends "set map" for <t> and prints HAProxy's answer ("" on success). */
static void hapi_send(const char *key, const struct sec_buf *t)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sec_buf cmd = {0};
	char err[256], ans[256];
	size_t n = 0;
	ssize_t r;
	int fd;

	if (sec_buf_init(&cmd, 20000) == -1 ||
	    tokmap_set_cmd(&cmd, hapi_map, key, t, err, sizeof(err)) == -1) {
		printf("hapi-error %s\n", err);
		goto out;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", hapi_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    write(fd, cmd.p, cmd.len) != (ssize_t)cmd.len) {
		printf("hapi-error cannot reach %s\n", hapi_path);
		if (fd != -1)
			close(fd);
		goto out;
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
out:
	sec_buf_free(&cmd);
}

static int64_t wall_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_change(struct cred *c, void *arg)
{
	const struct sec_buf *t = cred_token(c);
	struct tokmap_entry e = {c->conf.name, t};
	unsigned char h[32];
	char err[256];

	(void)arg;
	if (tokmap_write(map_path, &e, 1, err, sizeof(err)) == -1)
		printf("map-error %s\n", err);
	if (hapi_path)
		hapi_send(c->conf.name, t);
	if (!t) {
		printf("event expired\n");
		return;
	}
	EVP_Digest(t->p, t->len, h, NULL, EVP_sha256(), NULL);
	printf("event token refreshes=%llu sha256=%02x%02x%02x%02x%02x%02x%02x"
	       "%02x\n",
	       (unsigned long long)c->refreshes, h[0], h[1], h[2], h[3], h[4],
	       h[5], h[6], h[7]);
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	char line[512];

	(void)loop;
	(void)w;
	(void)revents;
	cred_describe(&cred, line, sizeof(line));
	printf("describe %s usable=%d\n", line, cred_usable(&cred));
	printf("failed");
	for (int i = 0; i < CRED_F_COUNT; i++)
		printf(" %s=%llu", cred_cause_name(i),
		       (unsigned long long)cred.failed[i]);
	printf("\n");
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void set(char *dst, size_t size, const char *v)
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
	struct ev_loop *loop = ev_default_loop(0);
	ev_signal usr1, term, intr;
	struct cred_conf cc;
	char err[256];
	int kind = -1, o;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_DEBUG);
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--kind") == 0)
			kind = cred_kind_parse(argv[i + 1]);
	if (kind < 0) {
		fprintf(stderr,
			"usage: auth-drive --kind KIND --map PATH ...\n");
		return 2;
	}
	cred_conf_defaults(&cc, kind);
	set(cc.name, sizeof(cc.name), "backend");
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'k':
			break;
		case 'n':
			set(cc.name, sizeof(cc.name), optarg);
			break;
		case 'i':
			set(cc.imds_url, sizeof(cc.imds_url), optarg);
			break;
		case 'a':
			set(cc.authority, sizeof(cc.authority), optarg);
			break;
		case 't':
			set(cc.tenant_id, sizeof(cc.tenant_id), optarg);
			break;
		case 'c':
			set(cc.client_id, sizeof(cc.client_id), optarg);
			break;
		case 's':
			set(cc.secret_file, sizeof(cc.secret_file), optarg);
			break;
		case 'C':
			set(cc.cert_file, sizeof(cc.cert_file), optarg);
			break;
		case 'f':
			set(cc.token_file, sizeof(cc.token_file), optarg);
			break;
		case 'A':
			set(cc.ca_file, sizeof(cc.ca_file), optarg);
			break;
		case 'T':
			cc.timeout = strtod(optarg, NULL);
			break;
		case 'b':
			cc.backoff_min_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'B':
			cc.backoff_max_ms = (uint32_t)strtoul(optarg, NULL, 10);
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
	if (!hapi_map)
		hapi_map = map_path;
	if (!map_path) {
		fprintf(stderr, "auth-drive: --map is required\n");
		return 2;
	}
	if (cred_init(&cred, &cc, loop, wall_ms, NULL, on_change, NULL,
		      (uint64_t)getpid(), err, sizeof(err)) == -1) {
		printf("init-error %s\n", err);
		return 1;
	}
	ev_signal_init(&usr1, on_usr1, SIGUSR1);
	ev_signal_init(&term, on_term, SIGTERM);
	ev_signal_init(&intr, on_term, SIGINT);
	ev_signal_start(loop, &usr1);
	ev_signal_start(loop, &term);
	ev_signal_start(loop, &intr);
	printf("started %s\n", cred_kind_name(cc.kind));
	cred_start(&cred);
	ev_run(loop, 0);
	cred_free(&cred);
	printf("stopped\n");
	return 0;
}
