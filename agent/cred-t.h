/* SPDX-License-Identifier: Apache-2.0 */
/* Types of the Entra ID credentials: where an access token comes from,
 * and the state of its refresh.
 */
#ifndef AOAI_CRED_T_H
#define AOAI_CRED_T_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "http-t.h"
#include "jwt-t.h"
#include "secret-t.h"

#define CRED_NAME_MAX 64
#define CRED_ID_MAX   128
#define CRED_PATH_MAX 1024
#define CRED_URL_MAX  512

#define CRED_IMDS_DEFAULT      "http://169.254.169.254"
#define CRED_AUTHORITY_DEFAULT "https://login.microsoftonline.com"
#define CRED_RESOURCE_DEFAULT  "https://cognitiveservices.azure.com"

/* Where the token comes from. */
enum cred_kind {
	CRED_MANAGED_IDENTITY,	 /* IMDS on an Azure VM or VMSS */
	CRED_WORKLOAD_IDENTITY,	 /* federated token file (AKS) */
	CRED_CLIENT_SECRET,	 /* service principal, secret in a file */
	CRED_CLIENT_CERTIFICATE, /* service principal, certificate (PEM) */
};

/* Refresh states; every change goes through cred_set_state(). */
enum cred_state {
	CRED_S_STOPPED, /* not started, or stopped */
	CRED_S_FETCH,	/* a token request in flight */
	CRED_S_WAIT,	/* waiting for the refresh time or a retry */
};

/* Why a fetch failed, one counter each (metrics). */
#define CRED_CAUSES(X)                                                         \
	X(RESOLVE, "resolve")                                                  \
	X(CONNECT, "connect")                                                  \
	X(TLS, "tls")                                                          \
	X(TIMEOUT, "timeout")                                                  \
	X(IO, "io")                                                            \
	X(PROTOCOL, "protocol")                                                \
	X(THROTTLED, "throttled")                                              \
	X(HTTP_4XX, "http_4xx")                                                \
	X(HTTP_5XX, "http_5xx")                                                \
	X(RESPONSE, "response")                                                \
	X(LOCAL, "local")

enum cred_cause {
#define CRED_CAUSE_ENUM(id, name) CRED_F_##id,
	CRED_CAUSES(CRED_CAUSE_ENUM)
#undef CRED_CAUSE_ENUM
		CRED_F_COUNT
};

/* One credential as configured. Strings are NUL-terminated. */
struct cred_conf {
	enum cred_kind kind;		 /* see enum cred_kind */
	char name[CRED_NAME_MAX];	 /* for logs: the backend's name */
	char client_id[CRED_ID_MAX];	 /* app or user-assigned identity */
	char tenant_id[CRED_ID_MAX];	 /* Entra tenant (not for IMDS) */
	char resource[CRED_URL_MAX];	 /* audience without "/.default" */
	char imds_url[CRED_URL_MAX];	 /* http://host[:port] of IMDS */
	char authority[CRED_URL_MAX];	 /* https://login.microsoftonline.com */
	char ca_file[CRED_PATH_MAX];	 /* "" for the system CAs */
	char secret_file[CRED_PATH_MAX]; /* client secret (CLIENT_SECRET) */
	char cert_file[CRED_PATH_MAX];	 /* PEM cert + key (CERTIFICATE) */
	char token_file[CRED_PATH_MAX];	 /* federated token (WORKLOAD) */
	double timeout;			 /* s for one request */
	uint32_t backoff_min_ms;	 /* first retry delay */
	uint32_t backoff_max_ms;	 /* retry delay cap */
};

struct cred;

/* Injected wall clock: ms since the epoch (tokens expire in wall time). */
typedef int64_t (*cred_clock_fn)(void *arg);

/* Called when the credential's token changed: a new one (c->token) or
 * none any more (expired without replacement, or stopped).
 */
typedef void (*cred_change_fn)(struct cred *c, void *arg);

/* A credential and its token. Embedded by its owner. */
struct cred {
	struct cred_conf conf;	       /* copy of the configuration */
	struct ev_loop *loop;	       /* loop of the timers and I/O */
	enum cred_state state;	       /* see enum cred_state */
	struct http_client http;       /* the token request */
	void *ssl_ctx;		       /* SSL_CTX for Entra ID */
	struct http_url url;	       /* token endpoint */
	char path[HTTP_PATH_MAX + 1];  /* its path and query */
	ev_timer refresh;	       /* next fetch (refresh or retry) */
	ev_timer expiry;	       /* the current token's end */
	struct sec_buf token;	       /* current token, until <expires> */
	bool have_token;	       /* <token> holds one */
	bool expired;		       /* past <usable>, not replaced */
	int64_t acquired_ms;	       /* when <token> arrived */
	int64_t expires_ms;	       /* its expires_on */
	int64_t usable_ms;	       /* unusable from then on */
	int64_t next_ms;	       /* next fetch */
	struct sec_buf secret;	       /* client secret, read at start */
	struct sec_buf scratch;	       /* request body being built */
	struct sec_buf assertion;      /* federated or signed JWT */
	struct jwt_cert cert;	       /* certificate and key */
	uint32_t failures;	       /* consecutive failed fetches */
	uint64_t refreshes;	       /* tokens received */
	uint64_t failed[CRED_F_COUNT]; /* failed fetches by cause */
	char last_error[HTTP_ERR_MAX]; /* "" or the last failure */
	uint64_t rng;		       /* jitter state (xorshift) */
	cred_clock_fn now;	       /* wall clock */
	void *now_arg;		       /* its argument */
	cred_change_fn change;	       /* token changed */
	void *change_arg;	       /* its argument */
};

#endif /* AOAI_CRED_T_H */
