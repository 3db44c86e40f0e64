/* SPDX-License-Identifier: Apache-2.0 */
/* Entra ID credentials in the running agent: configuration to authset,
 * tokens to HAProxy, availability to routing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent-auth.h"
#include "authset.h"
#include "clock.h"
#include "cred.h"
#include "hapi.h"
#include "log.h"
#include "route.h"
#include "tokmap.h"

static int64_t agent_auth_now(void *arg)
{
	(void)arg;
	return (int64_t)clock_wall_ms();
}

static void agent_auth_copy(char *dst, size_t size, const char *v)
{
	if (v[0])
		snprintf(dst, size, "%s", v);
}

/* Fills <cc> from backend <b>'s auth block: the credential's own defaults
 * (and the AZURE_* variables of a workload identity) for what is unset.
 */
static void agent_auth_conf(const struct cfg_backend *b, struct cred_conf *cc)
{
	const struct cfg_auth *u = &b->auth;
	enum cred_kind k = CRED_MANAGED_IDENTITY;

	if (u->kind == CFG_AUTH_WORKLOAD_IDENTITY)
		k = CRED_WORKLOAD_IDENTITY;
	else if (u->kind == CFG_AUTH_SERVICE_PRINCIPAL)
		k = u->certificate_file[0] ? CRED_CLIENT_CERTIFICATE
					   : CRED_CLIENT_SECRET;
	cred_conf_defaults(cc, k);
	snprintf(cc->name, sizeof(cc->name), "%s", b->name);
	agent_auth_copy(cc->client_id, sizeof(cc->client_id), u->client_id);
	agent_auth_copy(cc->tenant_id, sizeof(cc->tenant_id), u->tenant);
	agent_auth_copy(cc->secret_file, sizeof(cc->secret_file),
			u->secret_file);
	agent_auth_copy(cc->cert_file, sizeof(cc->cert_file),
			u->certificate_file);
	agent_auth_copy(cc->token_file, sizeof(cc->token_file), u->token_file);
	agent_auth_copy(cc->authority, sizeof(cc->authority), u->authority);
	agent_auth_copy(cc->imds_url, sizeof(cc->imds_url), u->imds);
	agent_auth_copy(cc->ca_file, sizeof(cc->ca_file), u->ca_file);
}

int agent_auth_prepare(const struct cfg *cfg, struct ev_loop *loop,
		       struct authset **out)
{
	const struct cfg_auth *first = NULL;
	struct authset *s;
	struct cred_conf cc;
	char err[512];
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	size_t n = 0;
	uint32_t i;

	*out = NULL;
	for (i = 0; i < cfg->n_backends; i++) {
		if (cfg->backends[i].auth.kind == CFG_AUTH_NONE)
			continue;
		if (!first)
			first = &cfg->backends[i].auth;
		n++;
	}
	if (!n)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s || authset_init(s, loop, n, first->token_map,
			       first->map_name[0] ? first->map_name : NULL,
			       agent_auth_now, NULL, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "auth: %s", s ? err : "out of memory");
		free(s);
		return -1;
	}
	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];

		if (b->auth.kind == CFG_AUTH_NONE)
			continue;
		agent_auth_conf(b, &cc);
		if (cred_conf_check(&cc, err, sizeof(err)) < 0 ||
		    authset_add(s, &cc, seed + i, err, sizeof(err)) < 0) {
			log_msg(LOG_ERR, "%s:%u:%u: backend %s: auth: %s",
				cfg->file, b->auth.mark.line, b->auth.mark.col,
				b->name, err);
			authset_free(s);
			free(s);
			return -1;
		}
	}
	*out = s;
	return 0;
}

/* HAProxy's link asks for the line of backend <name>'s current token. */
static int agent_auth_line(void *arg, const char *name, struct sec_buf *out)
{
	struct core *a = arg;
	const struct cred *c = a->auth ? authset_find(a->auth, name) : NULL;
	char err[256];

	if (!c)
		return -1;
	if (tokmap_set_cmd(out, a->auth->map_name, name, cred_token(c), err,
			   sizeof(err)) < 0) {
		log_msg(LOG_ERR, "auth %s: %s", name, err);
		return -1;
	}
	return 0;
}

/* Sets backend <name>'s availability, logged once per change. */
static void agent_auth_route(struct core *a, const char *name, bool usable,
			     const char *why)
{
	int b = route_backend_index(a->route, name, strlen(name));
	struct route_backend_info bi;

	if (b < 0 || route_backend_info(a->route, b, clock_now.ms, &bi) < 0 ||
	    bi.no_auth == !usable)
		return;
	route_set_auth(a->route, b, usable);
	log_msg(usable ? LOG_NOTICE : LOG_WARNING, "backend %s: %s: auth: %s",
		name, usable ? "available again" : "unavailable", why);
}

/* HAProxy took (or refused) a "set map": a backend whose token HAProxy
 * holds may take traffic.
 */
static void agent_auth_delivered(void *arg, const char *name, bool ok)
{
	struct core *a = arg;
	const struct cred *c = a->auth ? authset_find(a->auth, name) : NULL;

	clock_update();
	if (ok && c && cred_usable(c))
		agent_auth_route(a, name, true, "token delivered to HAProxy");
}

/* The authset's sender: the link sends the line when it is free, built
 * then, so a queued line never carries a replaced token.
 */
static int agent_auth_send(struct authset *s, const char *name,
			   const struct sec_buf *line, void *arg)
{
	struct core *a = arg;

	(void)s;
	(void)line;
	return hapi_set_map(a->hapi, name);
}

static void agent_auth_avail(struct authset *s, const char *name, bool usable,
			     void *arg)
{
	struct core *a = arg;
	const struct cred *c = authset_find(s, name);

	clock_update();
	/* a new token waits for HAProxy to hold it (agent_auth_delivered) */
	if (!usable)
		agent_auth_route(a, name, false,
				 c && c->last_error[0]
					 ? c->last_error
					 : "token expired, no replacement");
}

void agent_auth_link(struct core *a)
{
	hapi_map_hooks(a->hapi, a->auth ? agent_auth_line : NULL,
		       agent_auth_delivered, a);
}

int agent_auth_commit(struct core *a, struct authset *next)
{
	struct authset *old = a->auth;
	const struct cfg *cfg = a->cfg;
	size_t adopted = 0;
	char err[512];
	uint32_t i;
	int rc = 0;

	if (next && old)
		adopted = authset_adopt(next, old);
	a->auth = next;
	if (old) {
		authset_free(old);
		free(old);
	}
	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];
		const struct cred *c =
			next ? authset_find(next, b->name) : NULL;

		/* an adopted token is one HAProxy already holds */
		route_set_auth(a->route, (int)i, !c || cred_usable(c));
	}
	agent_auth_link(a);
	if (!next)
		return 0;
	authset_hooks(next, agent_auth_send, a, agent_auth_avail, a);
	if (authset_start(next, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, "auth: token map: %s", err);
		rc = -1;
	} else if (old && authset_sync(next) < 0) {
		rc = -1;
	}
	log_msg(LOG_NOTICE, "auth: %zu credentials, token map %s%s", next->n,
		next->map_path,
		adopted ? " (valid tokens kept across the reload)" : "");
	return rc;
}

void agent_auth_abandon(struct authset *s)
{
	if (!s)
		return;
	authset_free(s);
	free(s);
}

void agent_auth_free(struct core *a)
{
	if (!a->auth)
		return;
	authset_free(a->auth);
	free(a->auth);
	a->auth = NULL;
}
