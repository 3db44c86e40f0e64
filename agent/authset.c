/* The set of Entra ID credentials and their shared token map. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "authset.h"
#include "cred.h"
#include "log.h"
#include "secret.h"
#include "tokmap.h"

#define AUTHSET_CMD_MAX (TOKMAP_MAX / 16)

int authset_init(struct authset *s, struct ev_loop *loop, size_t max,
		 const char *map_path, const char *map_name, cred_clock_fn now,
		 void *now_arg, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	if (!map_name)
		map_name = map_path;
	if (!tokmap_word_ok(map_path) || !tokmap_word_ok(map_name) ||
	    strlen(map_path) >= sizeof(s->map_path) ||
	    strlen(map_name) >= sizeof(s->map_name)) {
		snprintf(err, errlen,
			 "token map path must be printable, without spaces, "
			 "'#', ';' or '\\'");
		return -1;
	}
	s->v = calloc(max ? max : 1, sizeof(*s->v));
	if (!s->v || sec_buf_init(&s->cmd, AUTHSET_CMD_MAX) == -1) {
		free(s->v);
		s->v = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->loop = loop;
	s->max = max;
	s->now = now;
	s->now_arg = now_arg;
	snprintf(s->map_path, sizeof(s->map_path), "%s", map_path);
	snprintf(s->map_name, sizeof(s->map_name), "%s", map_name);
	return 0;
}

void authset_hooks(struct authset *s, authset_send_fn send, void *send_arg,
		   authset_avail_fn avail, void *avail_arg)
{
	s->send = send;
	s->send_arg = send_arg;
	s->avail = avail;
	s->avail_arg = avail_arg;
}

/* Rewrites the whole map from every credential's current token. */
static int authset_write_map(struct authset *s)
{
	struct tokmap_entry *e = calloc(s->n ? s->n : 1, sizeof(*e));
	char err[256];
	int rc;

	if (!e) {
		snprintf(s->last_error, sizeof(s->last_error), "out of memory");
		s->map_failures++;
		return -1;
	}
	for (size_t i = 0; i < s->n; i++) {
		e[i].key = s->v[i].cred.conf.name;
		e[i].token = cred_token(&s->v[i].cred);
	}
	rc = tokmap_write(s->map_path, e, s->n, err, sizeof(err));
	free(e);
	if (rc == -1) {
		s->map_failures++;
		snprintf(s->last_error, sizeof(s->last_error), "%s", err);
		log_msg(LOG_ERR, "auth: token map not written: %s", err);
	}
	return rc;
}

/* A credential's token changed: file first (what a reload reads), then
 * the running HAProxy, then routing.
 */
static void authset_changed(struct cred *c, void *arg)
{
	struct authset_entry *e = arg;
	struct authset *s = e->set;
	bool usable = cred_usable(c);
	char err[256];

	authset_write_map(s);
	if (s->send) {
		if (tokmap_set_cmd(&s->cmd, s->map_name, c->conf.name,
				   cred_token(c), err, sizeof(err)) == -1 ||
		    s->send(s, c->conf.name, &s->cmd, s->send_arg) == -1) {
			s->send_failures++;
			snprintf(s->last_error, sizeof(s->last_error),
				 "%s: set map not sent", c->conf.name);
			log_msg(LOG_ERR, "auth %s: set map not sent to HAProxy",
				c->conf.name);
		}
		sec_buf_clear(&s->cmd);
	}
	if (usable != e->usable) {
		e->usable = usable;
		if (s->avail)
			s->avail(s, c->conf.name, usable, s->avail_arg);
	}
}

int authset_add(struct authset *s, const struct cred_conf *cc, uint64_t seed,
		char *err, size_t errlen)
{
	struct authset_entry *e;
	char why[256];

	if (s->n == s->max) {
		snprintf(err, errlen, "%s: more credentials than configured",
			 cc->name);
		return -1;
	}
	if (!tokmap_word_ok(cc->name)) {
		snprintf(err, errlen, "%s: not usable as a map key", cc->name);
		return -1;
	}
	if (authset_find(s, cc->name)) {
		snprintf(err, errlen, "%s: two credentials", cc->name);
		return -1;
	}
	e = &s->v[s->n];
	e->set = s;
	if (cred_init(&e->cred, cc, s->loop, s->now, s->now_arg,
		      authset_changed, e, seed, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", cc->name, why);
		return -1;
	}
	s->n++;
	return 0;
}

int authset_start(struct authset *s, char *err, size_t errlen)
{
	struct stat st;

	if (stat(s->map_path, &st) == -1) {
		if (errno != ENOENT || authset_write_map(s) == -1) {
			snprintf(err, errlen, "%s: %s", s->map_path,
				 errno != ENOENT ? strerror(errno)
						 : s->last_error);
			return -1;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		cred_start(&s->v[i].cred);
	return 0;
}

void authset_free(struct authset *s)
{
	for (size_t i = 0; i < s->n; i++)
		cred_free(&s->v[i].cred);
	free(s->v);
	s->v = NULL;
	s->n = 0;
	sec_buf_free(&s->cmd);
}

const struct cred *authset_find(const struct authset *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].cred.conf.name, name) == 0)
			return &s->v[i].cred;
	return NULL;
}

void authset_metrics(const struct authset *s, const char *prefix,
		     authset_out_fn out, void *arg)
{
	const struct cred *c;
	size_t i;

	if (!s->n)
		return;
	out(arg,
	    "# HELP %sauth_token_refreshes_total Access tokens received.\n"
	    "# TYPE %sauth_token_refreshes_total counter\n",
	    prefix, prefix);
	for (i = 0; i < s->n; i++) {
		c = &s->v[i].cred;
		out(arg,
		    "%sauth_token_refreshes_total{backend=\"%s\",kind=\"%s\"} %llu\n",
		    prefix, c->conf.name, cred_kind_name(c->conf.kind),
		    (unsigned long long)c->refreshes);
	}
	out(arg,
	    "# HELP %sauth_token_failures_total Failed token fetches by "
	    "cause.\n# TYPE %sauth_token_failures_total counter\n",
	    prefix, prefix);
	for (i = 0; i < s->n; i++) {
		c = &s->v[i].cred;
		for (int f = 0; f < CRED_F_COUNT; f++)
			out(arg,
			    "%sauth_token_failures_total{backend=\"%s\",cause=\"%s\"} %llu\n",
			    prefix, c->conf.name, cred_cause_name(f),
			    (unsigned long long)c->failed[f]);
	}
	out(arg,
	    "# HELP %sauth_token_expiry_seconds Seconds until the current "
	    "token expires (0: none).\n"
	    "# TYPE %sauth_token_expiry_seconds gauge\n",
	    prefix, prefix);
	for (i = 0; i < s->n; i++) {
		c = &s->v[i].cred;
		out(arg, "%sauth_token_expiry_seconds{backend=\"%s\"} %lld\n",
		    prefix, c->conf.name, (long long)cred_seconds_left(c));
	}
	out(arg,
	    "# HELP %sauth_token_usable 1 while the backend has a token it "
	    "may send.\n# TYPE %sauth_token_usable gauge\n",
	    prefix, prefix);
	for (i = 0; i < s->n; i++) {
		c = &s->v[i].cred;
		out(arg, "%sauth_token_usable{backend=\"%s\"} %d\n", prefix,
		    c->conf.name, cred_usable(c) ? 1 : 0);
	}
}
