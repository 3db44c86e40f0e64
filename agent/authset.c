/* SPDX-License-Identifier: Apache-2.0 */
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

#define AUTHSET_CMD_MAX	      (TOKMAP_MAX / 16)
#define AUTHSET_RESEND_MIN_MS 1000
#define AUTHSET_RESEND_MAX_MS 30000

static void authset_resend_cb(struct ev_loop *loop, ev_timer *w, int revents);

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
	ev_init(&s->resend, authset_resend_cb);
	s->resend.data = s;
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

/* Hands the "set map" line of <e>'s current token to the sender;
 * returns 0, or -1 (recorded) when it could not.
 */
static int authset_send(struct authset *s, struct authset_entry *e)
{
	const struct cred *c = &e->cred;
	char err[256];
	int rc;

	rc = tokmap_set_cmd(&s->cmd, s->map_name, c->conf.name, cred_token(c),
			    err, sizeof(err));
	if (rc == 0)
		rc = s->send(s, c->conf.name, &s->cmd, s->send_arg);
	sec_buf_clear(&s->cmd);
	e->unsent = rc == -1;
	if (rc == -1) {
		s->send_failures++;
		snprintf(s->last_error, sizeof(s->last_error),
			 "%s: set map not sent", c->conf.name);
		log_msg(LOG_ERR,
			"auth %s: set map not sent to HAProxy; "
			"retrying",
			c->conf.name);
	}
	return rc;
}

/* Arms the resend timer when a line is pending and it is not running. */
static void authset_resend_arm(struct authset *s)
{
	if (ev_is_active(&s->resend))
		return;
	if (s->resend_ms == 0)
		s->resend_ms = AUTHSET_RESEND_MIN_MS;
	ev_timer_set(&s->resend, s->resend_ms / 1000.0, 0.);
	ev_timer_start(s->loop, &s->resend);
}

static void authset_resend_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct authset *s = w->data;
	bool pending = false;

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].unsent && authset_send(s, &s->v[i]) == -1)
			pending = true;
	if (!pending) {
		s->resend_ms = 0;
		return;
	}
	s->resend_ms = s->resend_ms * 2 > AUTHSET_RESEND_MAX_MS
			       ? AUTHSET_RESEND_MAX_MS
			       : s->resend_ms * 2;
	authset_resend_arm(s);
}

/* A credential's token changed: file first (what a reload reads), then
 * the running HAProxy, then routing.
 */
static void authset_changed(struct cred *c, void *arg)
{
	struct authset_entry *e = arg;
	struct authset *s = e->set;
	bool usable = cred_usable(c);

	authset_write_map(s);
	if (s->send && authset_send(s, e) == -1)
		authset_resend_arm(s);
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

size_t authset_adopt(struct authset *s, const struct authset *old)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct authset_entry *e = &s->v[i];
		const struct cred *o = authset_find(old, e->cred.conf.name);

		if (o && cred_adopt(&e->cred, o)) {
			/* routing already knew it usable */
			e->usable = true;
			n++;
		}
	}
	return n;
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

int authset_sync(struct authset *s)
{
	int rc = authset_write_map(s);

	for (size_t i = 0; i < s->n; i++)
		if (s->send && cred_usable(&s->v[i].cred) &&
		    authset_send(s, &s->v[i]) == -1)
			authset_resend_arm(s);
	return rc;
}

void authset_free(struct authset *s)
{
	if (s->loop)
		ev_timer_stop(s->loop, &s->resend);
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
