/* SPDX-License-Identifier: Apache-2.0 */
/* Entra ID credentials: the token fetch per kind, the refresh schedule,
 * back-off and expiry. Tokens and secrets stay in secret buffers and are
 * never logged.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cred.h"
#include "hdr.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "secret.h"
#include "token.h"

#define CRED_SECRET_MAX	   4096
#define CRED_ASSERTION_MAX 12288
#define CRED_BODY_MAX	   (HTTP_REQUEST_MAX - 2048)
#define CRED_EARLY_MS	   (5 * 60 * 1000) /* refresh 5 min before expiry */
#define CRED_MARGIN_MS	   60000  /* stop using a token this early at most */
#define CRED_RETRY_MAX_MS  300000 /* longest Retry-After honoured */

static const char *const cred_kind_names[] = {
	[CRED_MANAGED_IDENTITY] = "managed-identity",
	[CRED_WORKLOAD_IDENTITY] = "workload-identity",
	[CRED_CLIENT_SECRET] = "client-secret",
	[CRED_CLIENT_CERTIFICATE] = "client-certificate",
};

static const char *const cred_cause_names[] = {
#define CRED_CAUSE_NAME(id, name) [CRED_F_##id] = name,
	CRED_CAUSES(CRED_CAUSE_NAME)
#undef CRED_CAUSE_NAME
};

static const char *const cred_state_names[] = {
	[CRED_S_STOPPED] = "stopped",
	[CRED_S_FETCH] = "fetch",
	[CRED_S_WAIT] = "wait",
};

const char *cred_kind_name(enum cred_kind k)
{
	return (unsigned)k < 4 ? cred_kind_names[k] : "?";
}

int cred_kind_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, cred_kind_names[i]) == 0)
			return i;
	return -1;
}

const char *cred_cause_name(enum cred_cause f)
{
	return (unsigned)f < CRED_F_COUNT ? cred_cause_names[f] : "?";
}

/* The one place the state changes; asserts the edge is legal. */
static void cred_set_state(struct cred *c, enum cred_state to)
{
	enum cred_state from = c->state;
	bool legal = to == CRED_S_STOPPED ||
		     (to == CRED_S_FETCH && from == CRED_S_WAIT) ||
		     (to == CRED_S_WAIT && from != CRED_S_WAIT);

	assert(legal);
	(void)legal;
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "auth %s: %s -> %s", c->conf.name,
			cred_state_names[from], cred_state_names[to]);
	c->state = to;
}

static void cred_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

void cred_conf_defaults(struct cred_conf *cc, enum cred_kind kind)
{
	memset(cc, 0, sizeof(*cc));
	cc->kind = kind;
	cred_copy(cc->imds_url, sizeof(cc->imds_url), CRED_IMDS_DEFAULT);
	cred_copy(cc->authority, sizeof(cc->authority), CRED_AUTHORITY_DEFAULT);
	cred_copy(cc->resource, sizeof(cc->resource), CRED_RESOURCE_DEFAULT);
	cc->timeout = 10.0;
	cc->backoff_min_ms = 1000;
	cc->backoff_max_ms = 60000;
	if (kind == CRED_WORKLOAD_IDENTITY) {
		cred_copy(cc->token_file, sizeof(cc->token_file),
			  getenv("AZURE_FEDERATED_TOKEN_FILE"));
		cred_copy(cc->client_id, sizeof(cc->client_id),
			  getenv("AZURE_CLIENT_ID"));
		cred_copy(cc->tenant_id, sizeof(cc->tenant_id),
			  getenv("AZURE_TENANT_ID"));
	}
}

/* GUIDs, or domain names for tenants: nothing that needs escaping in a
 * URL path.
 */
static bool cred_id_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

int cred_conf_check(const struct cred_conf *cc, char *err, size_t errlen)
{
	struct http_url u;
	char why[HTTP_ERR_MAX];
	bool entra = cc->kind != CRED_MANAGED_IDENTITY;

	if ((unsigned)cc->kind > CRED_CLIENT_CERTIFICATE) {
		snprintf(err, errlen, "unknown credential kind");
		return -1;
	}
	if ((entra || cc->client_id[0]) && !cred_id_ok(cc->client_id)) {
		snprintf(err, errlen, "%s: client_id missing or malformed",
			 cred_kind_name(cc->kind));
		return -1;
	}
	if (entra && !cred_id_ok(cc->tenant_id)) {
		snprintf(err, errlen, "%s: tenant_id missing or malformed",
			 cred_kind_name(cc->kind));
		return -1;
	}
	if (http_url_parse(entra ? cc->authority : cc->imds_url, &u, why,
			   sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", entra ? "authority" : "imds",
			 why);
		return -1;
	}
	if (entra && !u.tls) {
		snprintf(err, errlen, "authority must be https://");
		return -1;
	}
	if (strcmp(u.path, "/") != 0) {
		snprintf(err, errlen, "%s must be scheme://host[:port] only",
			 entra ? "authority" : "imds");
		return -1;
	}
	if (strncmp(cc->resource, "https://", 8) != 0) {
		snprintf(err, errlen, "resource must be an https:// URI");
		return -1;
	}
	if (cc->kind == CRED_WORKLOAD_IDENTITY && !cc->token_file[0]) {
		snprintf(err, errlen,
			 "workload-identity: no token_file and "
			 "AZURE_FEDERATED_TOKEN_FILE is not set");
		return -1;
	}
	if (cc->kind == CRED_CLIENT_SECRET && !cc->secret_file[0]) {
		snprintf(err, errlen, "client-secret: secret_file missing");
		return -1;
	}
	if (cc->kind == CRED_CLIENT_CERTIFICATE && !cc->cert_file[0]) {
		snprintf(err, errlen, "client-certificate: cert_file missing");
		return -1;
	}
	if (cc->timeout <= 0 || cc->backoff_min_ms == 0 ||
	    cc->backoff_max_ms < cc->backoff_min_ms) {
		snprintf(err, errlen, "bad timeout or back-off bounds");
		return -1;
	}
	return 0;
}

int64_t cred_refresh_at(int64_t acquired, int64_t expires)
{
	int64_t half = acquired + (expires - acquired) / 2;
	int64_t early = expires - CRED_EARLY_MS;

	return early > acquired && early < half ? early : half;
}

/* xorshift64*: jitter only, not security. */
static uint64_t cred_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint32_t cred_backoff_ms(uint32_t failures, uint32_t min_ms, uint32_t max_ms,
			 uint64_t *rng)
{
	uint64_t d = min_ms;

	for (uint32_t i = 1; i < failures && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* many agents failing together must not retry together */
	d -= cred_rand(rng) % (d / 5 + 1);
	return (uint32_t)d;
}

static int64_t cred_now(const struct cred *c)
{
	return c->now(c->now_arg);
}

static void cred_schedule(struct cred *c, int64_t at)
{
	int64_t d = at - cred_now(c);

	c->next_ms = at;
	ev_timer_stop(c->loop, &c->refresh);
	ev_timer_set(&c->refresh, d > 0 ? (double)d / 1000.0 : 0., 0.);
	ev_timer_start(c->loop, &c->refresh);
}

/* Backs off after a failure whose reason is in c->last_error: the
 * jittered delay, or longer when the server asked for it (Retry-After:
 * <at_least_ms>), up to CRED_RETRY_MAX_MS.
 */
static void cred_backoff(struct cred *c, enum cred_cause cause,
			 uint64_t at_least_ms)
{
	uint32_t d;

	c->failures++;
	c->failed[cause]++;
	d = cred_backoff_ms(c->failures, c->conf.backoff_min_ms,
			    c->conf.backoff_max_ms, &c->rng);
	if (at_least_ms > d)
		d = at_least_ms > CRED_RETRY_MAX_MS ? CRED_RETRY_MAX_MS
						    : (uint32_t)at_least_ms;
	log_msg(LOG_WARNING,
		"auth %s: token fetch failed (%s): %s; retry in %u ms%s",
		c->conf.name, cred_cause_name(cause), c->last_error, d,
		c->have_token ? ", current token kept" : "");
	cred_set_state(c, CRED_S_WAIT);
	cred_schedule(c, cred_now(c) + d);
}

__attribute__((format(printf, 4, 5))) static void cred_fail_after(
	struct cred *c, enum cred_cause cause, uint64_t at_least_ms,
	const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	cred_backoff(c, cause, at_least_ms);
}

__attribute__((format(printf, 3, 4))) static void cred_fail(
	struct cred *c, enum cred_cause cause, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	cred_backoff(c, cause, 0);
}

static void cred_succeed(struct cred *c, int64_t expires_s)
{
	int64_t now = cred_now(c);
	int64_t life, margin;

	c->acquired_ms = now;
	c->expires_ms = expires_s * 1000;
	life = c->expires_ms - now;
	margin = life / 10 < CRED_MARGIN_MS ? life / 10 : CRED_MARGIN_MS;
	c->usable_ms = c->expires_ms - margin;
	c->have_token = true;
	c->expired = false;
	c->failures = 0;
	c->refreshes++;
	ev_timer_stop(c->loop, &c->expiry);
	ev_timer_set(&c->expiry, (double)(c->usable_ms - now) / 1000.0, 0.);
	ev_timer_start(c->loop, &c->expiry);
	cred_set_state(c, CRED_S_WAIT);
	cred_schedule(c, cred_refresh_at(now, c->expires_ms));
	log_msg(LOG_INFO,
		"auth %s: %s token acquired, expires in %llds, "
		"refresh in %llds",
		c->conf.name, cred_kind_name(c->conf.kind),
		(long long)(life / 1000),
		(long long)((c->next_ms - now) / 1000));
	if (c->change)
		c->change(c, c->change_arg);
}

/* The expiry timer fires twice for a token nobody replaced: at <usable>
 * the backend stops taking new requests (the routing change), and at
 * <expires> the token leaves HAProxy's map. Requests decided just before
 * the first step still carry a token Azure accepts.
 */
static void cred_expiry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cred *c = w->data;
	int64_t now = cred_now(c);

	(void)revents;
	if (!c->expired) {
		c->expired = true;
		log_msg(LOG_ERR,
			"auth %s: token expired without replacement; "
			"backend unavailable (last error: %s)",
			c->conf.name,
			c->last_error[0] ? c->last_error : "none");
		if (c->expires_ms > now) {
			ev_timer_set(w, (double)(c->expires_ms - now) / 1000.0,
				     0.);
			ev_timer_start(loop, w);
		}
		if (c->change)
			c->change(c, c->change_arg);
		if (c->expires_ms > now)
			return;
	}
	c->have_token = false;
	sec_buf_clear(&c->token);
	if (c->change)
		c->change(c, c->change_arg);
}

static void cred_http_done(struct http_client *h, enum http_err err, void *arg)
{
	static const enum cred_cause by_err[] = {
		[HTTP_E_RESOLVE] = CRED_F_RESOLVE,
		[HTTP_E_CONNECT] = CRED_F_CONNECT,
		[HTTP_E_TLS] = CRED_F_TLS,
		[HTTP_E_IO] = CRED_F_IO,
		[HTTP_E_PROTO] = CRED_F_PROTOCOL,
		[HTTP_E_TIMEOUT] = CRED_F_TIMEOUT,
	};
	struct cred *c = arg;
	char why[HTTP_ERR_MAX];
	uint64_t ra = 0;
	int64_t exp;
	int st;

	if (err != HTTP_OK) {
		cred_fail(c, by_err[err], "%s", h->errbuf);
		return;
	}
	st = h->resp.status;
	if (st == 200) {
		if (token_parse(h->body.p, h->body.len, cred_now(c) / 1000,
				&c->token, &exp, why, sizeof(why)) == -1) {
			sec_buf_clear(&h->body);
			cred_fail(c, CRED_F_RESPONSE, "%s", why);
			return;
		}
		sec_buf_clear(&h->body);
		cred_succeed(c, exp);
		return;
	}
	token_error_summary(h->body.p, h->body.len, why, sizeof(why));
	sec_buf_clear(&h->body);
	/* IMDS: retry 429, 404 and 410 (being updated) and 5xx with
	 * exponential back-off; Entra ID: 429 and 5xx are transient, other
	 * 4xx are configuration errors, retried at the same pace
	 */
	if (h->resp.retry_after[0] &&
	    hdr_parse_retry_after(h->resp.retry_after,
				  strlen(h->resp.retry_after),
				  cred_now(c) / 1000, &ra) == -1)
		ra = 0;
	if (st == 429)
		cred_fail_after(c, CRED_F_THROTTLED, ra, "HTTP 429 %s", why);
	else if (st >= 500 && st <= 599)
		cred_fail_after(c, CRED_F_HTTP_5XX, ra, "HTTP %d %s", st, why);
	else if (st >= 400 && st <= 499)
		cred_fail(c, CRED_F_HTTP_4XX, "HTTP %d %s", st, why);
	else
		cred_fail(c, CRED_F_PROTOCOL, "unexpected HTTP %d", st);
}

/* Appends "&key=value" (form-urlencoded, RFC 3986 unreserved kept). */
static int cred_form(struct sec_buf *b, const char *key, const char *v,
		     size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	if (b->len && sec_buf_append(b, "&", 1) == -1)
		return -1;
	if (sec_buf_append(b, key, strlen(key)) == -1 ||
	    sec_buf_append(b, "=", 1) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			if (sec_buf_append(b, v + i, 1) == -1)
				return -1;
		} else if (sec_buf_append(b, e, 3) == -1)
			return -1;
	}
	return 0;
}

static int cred_form_str(struct sec_buf *b, const char *key, const char *v)
{
	return cred_form(b, key, v, strlen(v));
}

/* Trailing newlines of files written by hand are not part of secrets. */
static size_t cred_trimmed(const struct sec_buf *b)
{
	size_t n = b->len;

	while (n && (b->p[n - 1] == '\n' || b->p[n - 1] == '\r' ||
		     b->p[n - 1] == ' '))
		n--;
	return n;
}

/* The Entra ID v2.0 client-credentials body for this credential. */
/* The token endpoint's URL, the "aud" of a client assertion. */
static void cred_endpoint_url(const struct cred *c, char *buf, size_t size)
{
	bool v6 = strchr(c->url.host, ':') != NULL;
	char port[8] = "";

	if (c->url.port != (c->url.tls ? 443 : 80))
		snprintf(port, sizeof(port), ":%u", c->url.port);
	snprintf(buf, size, "%s://%s%s%s%s%s", c->url.tls ? "https" : "http",
		 v6 ? "[" : "", c->url.host, v6 ? "]" : "", port, c->path);
}

/* Fills c->assertion: the federated token file, re-read each time (the
 * kubelet rotates it), or a client assertion signed now.
 */
static int cred_assertion(struct cred *c, char *err, size_t errlen)
{
	char aud[HTTP_HOST_MAX + HTTP_PATH_MAX + 32];
	unsigned char jti[16];

	if (c->conf.kind == CRED_WORKLOAD_IDENTITY) {
		if (sec_file_read(c->conf.token_file, SEC_FILE_SHORT_LIVED,
				  &c->assertion, err, errlen) == -1)
			return -1;
		if (!token_chars_ok(c->assertion.p,
				    cred_trimmed(&c->assertion))) {
			sec_buf_clear(&c->assertion);
			snprintf(err, errlen, "%.200s: not a JWT",
				 c->conf.token_file);
			return -1;
		}
		return 0;
	}
	cred_endpoint_url(c, aud, sizeof(aud));
	if (RAND_bytes(jti, sizeof(jti)) != 1) {
		snprintf(err, errlen, "no random bytes for jti");
		return -1;
	}
	return jwt_client_assertion(&c->cert, aud, c->conf.client_id,
				    cred_now(c) / 1000, jti, &c->assertion, err,
				    errlen);
}

/* The Entra ID v2.0 client-credentials body for this credential. */
static int cred_entra_body(struct cred *c, char *err, size_t errlen)
{
	struct sec_buf *b = &c->scratch;
	char scope[CRED_URL_MAX + 16];
	int rc = 0;

	snprintf(scope, sizeof(scope), "%s/.default", c->conf.resource);
	sec_buf_clear(b);
	rc |= cred_form_str(b, "client_id", c->conf.client_id);
	rc |= cred_form_str(b, "scope", scope);
	rc |= cred_form_str(b, "grant_type", "client_credentials");
	if (c->conf.kind == CRED_CLIENT_SECRET) {
		rc |= cred_form(b, "client_secret", c->secret.p,
				cred_trimmed(&c->secret));
	} else {
		if (cred_assertion(c, err, errlen) == -1)
			return -1;
		rc |= cred_form_str(b, "client_assertion_type",
				    "urn:ietf:params:oauth:client-assertion-"
				    "type:jwt-bearer");
		rc |= cred_form(b, "client_assertion", c->assertion.p,
				cred_trimmed(&c->assertion));
		sec_buf_clear(&c->assertion);
	}
	if (rc) {
		snprintf(err, errlen, "token request too large");
		return -1;
	}
	return 0;
}

static void cred_fetch(struct cred *c)
{
	char err[HTTP_ERR_MAX];
	int rc;

	/* building the request is part of the fetch: its failures (a token
	 * file gone, a key that cannot sign) back off like the others
	 */
	cred_set_state(c, CRED_S_FETCH);
	if (c->conf.kind == CRED_MANAGED_IDENTITY) {
		rc = http_request_build(&c->http, "GET", &c->url, c->path,
					"Metadata: true\r\n", NULL, NULL, 0);
	} else {
		if (cred_entra_body(c, err, sizeof(err)) == -1) {
			sec_buf_clear(&c->scratch);
			cred_fail(c, CRED_F_LOCAL, "%s", err);
			return;
		}
		rc = http_request_build(&c->http, "POST", &c->url, c->path,
					NULL,
					"application/x-www-form-urlencoded",
					c->scratch.p, c->scratch.len);
		sec_buf_clear(&c->scratch);
	}
	if (rc == -1) {
		cred_fail(c, CRED_F_LOCAL, "token request too large");
		return;
	}
	if (http_start(&c->http, &c->url, c->ssl_ctx, c->conf.timeout,
		       cred_http_done, c) == -1)
		cred_fail(c, CRED_F_LOCAL,
			  "previous name resolution still "
			  "running");
}

static void cred_refresh_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	cred_fetch(w->data);
}

/* Endpoint URL and path from the configuration. */
static int cred_endpoint(struct cred *c, char *err, size_t errlen)
{
	const struct cred_conf *cc = &c->conf;
	char why[HTTP_ERR_MAX];
	size_t n;

	if (cc->kind == CRED_MANAGED_IDENTITY) {
		if (http_url_parse(cc->imds_url, &c->url, why, sizeof(why)) ==
		    -1)
			goto bad;
		/* the resource goes in encoded */
		struct sec_buf q = {0};

		if (sec_buf_init(&q, HTTP_PATH_MAX) == -1 ||
		    cred_form_str(&q, "resource", cc->resource) == -1) {
			sec_buf_free(&q);
			snprintf(err, errlen, "resource too long");
			return -1;
		}
		n = (size_t)snprintf(c->path, sizeof(c->path),
				     "/metadata/identity/oauth2/token?"
				     "api-version=2018-02-01&%s%s%s",
				     q.p, cc->client_id[0] ? "&client_id=" : "",
				     cc->client_id);
		sec_buf_free(&q);
	} else {
		if (http_url_parse(cc->authority, &c->url, why, sizeof(why)) ==
		    -1)
			goto bad;
		n = (size_t)snprintf(c->path, sizeof(c->path),
				     "/%s/oauth2/v2.0/token", cc->tenant_id);
	}
	if (n >= sizeof(c->path)) {
		snprintf(err, errlen, "token endpoint path too long");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s", why);
	return -1;
}

int cred_init(struct cred *c, const struct cred_conf *cc, struct ev_loop *loop,
	      cred_clock_fn now, void *now_arg, cred_change_fn change,
	      void *change_arg, uint64_t seed, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->conf = *cc;
	c->loop = loop;
	c->now = now;
	c->now_arg = now_arg;
	c->change = change;
	c->change_arg = change_arg;
	c->rng = seed;
	ev_init(&c->refresh, cred_refresh_cb);
	ev_init(&c->expiry, cred_expiry_cb);
	c->refresh.data = c->expiry.data = c;
	if (cred_conf_check(cc, err, errlen) == -1 ||
	    cred_endpoint(c, err, errlen) == -1)
		return -1;
	if (http_client_init(&c->http, loop) == -1 ||
	    sec_buf_init(&c->token, TOKEN_MAX) == -1 ||
	    sec_buf_init(&c->secret, CRED_SECRET_MAX) == -1 ||
	    sec_buf_init(&c->scratch, CRED_BODY_MAX) == -1 ||
	    sec_buf_init(&c->assertion, CRED_ASSERTION_MAX) == -1) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (cc->kind == CRED_CLIENT_SECRET) {
		if (sec_file_read(cc->secret_file, SEC_FILE_PRIVATE, &c->secret,
				  err, errlen) == -1)
			goto fail;
		if (cred_trimmed(&c->secret) == 0) {
			snprintf(err, errlen, "%s: empty", cc->secret_file);
			goto fail;
		}
	}
	if (cc->kind == CRED_CLIENT_CERTIFICATE &&
	    jwt_cert_load(&c->cert, cc->cert_file, err, errlen) == -1)
		goto fail;
	if (c->url.tls) {
		c->ssl_ctx = http_tls_ctx_new(
			cc->ca_file[0] ? cc->ca_file : NULL, err, errlen);
		if (!c->ssl_ctx)
			goto fail;
	}
	return 0;
fail:
	cred_free(c);
	return -1;
}

void cred_start(struct cred *c)
{
	int64_t now = cred_now(c);

	cred_set_state(c, CRED_S_WAIT);
	if (!c->have_token || c->usable_ms <= now) {
		c->have_token = false;
		sec_buf_clear(&c->token);
		cred_schedule(c, now);
		return;
	}
	/* a token adopted from the previous configuration */
	ev_timer_set(&c->expiry, (double)(c->usable_ms - now) / 1000.0, 0.);
	ev_timer_start(c->loop, &c->expiry);
	cred_schedule(c, cred_refresh_at(c->acquired_ms, c->expires_ms));
}

/* Same identity, same endpoint: a token of one is a token of the other. */
static bool cred_same_source(const struct cred_conf *a,
			     const struct cred_conf *b)
{
	return a->kind == b->kind && strcmp(a->client_id, b->client_id) == 0 &&
	       strcmp(a->tenant_id, b->tenant_id) == 0 &&
	       strcmp(a->resource, b->resource) == 0 &&
	       strcmp(a->imds_url, b->imds_url) == 0 &&
	       strcmp(a->authority, b->authority) == 0 &&
	       strcmp(a->secret_file, b->secret_file) == 0 &&
	       strcmp(a->cert_file, b->cert_file) == 0 &&
	       strcmp(a->token_file, b->token_file) == 0;
}

bool cred_adopt(struct cred *dst, const struct cred *src)
{
	if (dst->state != CRED_S_STOPPED || !cred_usable(src) ||
	    !cred_same_source(&dst->conf, &src->conf) ||
	    sec_buf_copy(&dst->token, &src->token) == -1)
		return false;
	dst->have_token = true;
	dst->acquired_ms = src->acquired_ms;
	dst->expires_ms = src->expires_ms;
	dst->usable_ms = src->usable_ms;
	dst->refreshes = src->refreshes;
	memcpy(dst->failed, src->failed, sizeof(dst->failed));
	return true;
}

void cred_free(struct cred *c)
{
	if (!c->loop)
		return;
	ev_timer_stop(c->loop, &c->refresh);
	ev_timer_stop(c->loop, &c->expiry);
	http_client_free(&c->http);
	if (c->state != CRED_S_STOPPED)
		cred_set_state(c, CRED_S_STOPPED);
	http_tls_ctx_free(c->ssl_ctx);
	c->ssl_ctx = NULL;
	jwt_cert_free(&c->cert);
	sec_buf_free(&c->token);
	sec_buf_free(&c->secret);
	sec_buf_free(&c->scratch);
	sec_buf_free(&c->assertion);
	c->have_token = false;
	c->loop = NULL;
}

bool cred_usable(const struct cred *c)
{
	return c->have_token && !c->expired && cred_now(c) < c->usable_ms;
}

int64_t cred_seconds_left(const struct cred *c)
{
	int64_t left = c->expires_ms - cred_now(c);

	return c->have_token && left > 0 ? left / 1000 : 0;
}

const struct sec_buf *cred_token(const struct cred *c)
{
	return c->have_token && cred_now(c) < c->expires_ms ? &c->token : NULL;
}

void cred_describe(const struct cred *c, char *buf, size_t size)
{
	const char *tok = cred_usable(c) ? "valid"
			  : c->expired	 ? "expired"
					 : "pending";

	snprintf(buf, size,
		 "kind=%s token=%s expires_in=%lld refreshes=%llu "
		 "failures=%u last_error=\"%s\"",
		 cred_kind_name(c->conf.kind), tok,
		 (long long)cred_seconds_left(c),
		 (unsigned long long)c->refreshes, c->failures, c->last_error);
}
