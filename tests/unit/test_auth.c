/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the Entra ID pieces that need no network: secret buffers
 * and files (agent/secret.c), token responses (agent/token.c), client
 * assertions checked with OpenSSL (agent/jwt.c), the token map
 * (agent/tokmap.c), and the refresh arithmetic (agent/cred.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "authset.h"
#include "cred.h"
#include "jwt.h"
#include "secret.h"
#include "tap.h"
#include "token.h"
#include "tokmap.h"

#define NOW 1700000000 /* s */
#define MIN 60000LL    /* ms */

static char tmpdir[] = "/tmp/aoai-unit-auth-XXXXXX";

static const char *tpath(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

/* The file at <path> as a string (empty when unreadable). */
static void read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
}

static void put(const char *name, const char *text, mode_t mode)
{
	const char *p = tpath(name);
	int fd;

	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) < 0)
		perror(p);
	fchmod(fd, mode);
	close(fd);
}

/* The VmFlags of the mapping holding <p> contain "dd" (MADV_DONTDUMP). */
static bool not_dumped(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, dd = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (unsigned long)p >= lo && (unsigned long)p < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0)
			dd = strstr(line, " dd") != NULL;
	}
	fclose(f);
	return dd;
}

static void test_secret(void)
{
	struct sec_buf b = {0}, c = {0};
	char err[256];

	tap_ok(sec_buf_init(&b, 8) == 0, "secret buffer allocated");
	tap_ok(not_dumped(b.p), "secret buffer is MADV_DONTDUMP");
	tap_ok(sec_buf_append(&b, "12345678", 8) == 0 && b.len == 8 &&
		       b.p[8] == '\0',
	       "filled to its cap, NUL after");
	tap_ok(sec_buf_append(&b, "9", 1) == -1 && b.len == 8,
	       "one byte over the cap refused, contents kept");
	sec_buf_clear(&b);
	tap_ok(b.len == 0 && b.p[0] == 0 && b.p[7] == 0, "clear wipes");
	sec_buf_init(&c, 4);
	sec_buf_append(&b, "abcdef", 6);
	tap_ok(sec_buf_copy(&c, &b) == -1, "copy into a smaller buffer fails");
	sec_buf_free(&b);
	sec_buf_free(&b);
	tap_ok(b.p == NULL, "free twice is harmless");
	sec_buf_free(&c);

	sec_buf_init(&b, 64);
	put("s600", "hunter2\n", 0600);
	put("s640", "hunter2\n", 0640);
	put("s644", "hunter2\n", 0644);
	put("s660", "hunter2\n", 0660);
	put("s666", "hunter2\n", 0666);
	tap_ok(sec_file_read(tpath("s600"), SEC_FILE_PRIVATE, &b, err,
			     sizeof(err)) == 0 &&
		       b.len == 8 && memcmp(b.p, "hunter2\n", 8) == 0,
	       "0600 secret file read");
	tap_ok(sec_file_read(tpath("s640"), SEC_FILE_PRIVATE, &b, err,
			     sizeof(err)) == 0,
	       "0640 secret file read (group of the service)");
	tap_ok(sec_file_read(tpath("s644"), SEC_FILE_PRIVATE, &b, err,
			     sizeof(err)) == -1 &&
		       strstr(err, "accessible by others") && b.len == 0,
	       "0644 secret file refused, buffer wiped: %s", err);
	tap_ok(sec_file_read(tpath("s644"), SEC_FILE_SHORT_LIVED, &b, err,
			     sizeof(err)) == 0,
	       "0644 federated token file accepted");
	tap_ok(sec_file_read(tpath("s660"), SEC_FILE_SHORT_LIVED, &b, err,
			     sizeof(err)) == -1 &&
		       strstr(err, "writable"),
	       "group-writable token file refused: %s", err);
	tap_ok(sec_file_read(tpath("s666"), SEC_FILE_SHORT_LIVED, &b, err,
			     sizeof(err)) == -1,
	       "world-writable token file refused");
	tap_ok(sec_file_read(tmpdir, SEC_FILE_SHORT_LIVED, &b, err,
			     sizeof(err)) == -1 &&
		       strstr(err, "not a regular file"),
	       "a folder is refused");
	tap_ok(sec_file_read(tpath("none"), SEC_FILE_PRIVATE, &b, err,
			     sizeof(err)) == -1 &&
		       strstr(err, "No such file"),
	       "a missing file says so with its path: %s", err);
	sec_buf_free(&b);
	sec_buf_init(&b, 4);
	tap_ok(sec_file_read(tpath("s600"), SEC_FILE_PRIVATE, &b, err,
			     sizeof(err)) == -1 &&
		       strstr(err, "larger than"),
	       "a file over the cap is refused");
	sec_buf_free(&b);
	tap_ok(sec_equal("abc", "abc", 3) && !sec_equal("abc", "abd", 3),
	       "constant-time compare");
}

static void test_token(void)
{
	static const char canary[] = "eyJ0eXAiOiJKV1QifQ.CANARY.c2ln";
	struct sec_buf t = {0};
	char err[256], body[1024];
	int64_t exp = 0;

	sec_buf_init(&t, TOKEN_MAX);
	snprintf(body, sizeof(body),
		 "{\"access_token\":\"%s\",\"client_id\":\"x\","
		 "\"expires_in\":\"86399\",\"expires_on\":\"%d\","
		 "\"resource\":\"https://cognitiveservices.azure.com\","
		 "\"token_type\":\"Bearer\"}",
		 canary, NOW + 86399);
	tap_ok(token_parse(body, strlen(body), NOW, &t, &exp, err,
			   sizeof(err)) == 0 &&
		       exp == NOW + 86399 && t.len == strlen(canary) &&
		       memcmp(t.p, canary, t.len) == 0,
	       "IMDS response: token and expires_on (a string)");
	snprintf(body, sizeof(body),
		 "{\"token_type\":\"Bearer\",\"expires_in\":3599,"
		 "\"ext_expires_in\":3599,\"access_token\":\"%s\"}",
		 canary);
	tap_ok(token_parse(body, strlen(body), NOW, &t, &exp, err,
			   sizeof(err)) == 0 &&
		       exp == NOW + 3599,
	       "Entra ID v2.0 response: expires_in (a number)");
	snprintf(body, sizeof(body), "{\"access_token\":\"%s\"", canary);
	tap_ok(token_parse(body, strlen(body), NOW, &t, &exp, err,
			   sizeof(err)) == -1 &&
		       !strstr(err, "CANARY"),
	       "truncated JSON refused without quoting it: %s", err);
	snprintf(body, sizeof(body),
		 "{\"access_token\":\"%s x\","
		 "\"expires_in\":5}",
		 canary);
	tap_ok(token_parse(body, strlen(body), NOW, &t, &exp, err,
			   sizeof(err)) == -1 &&
		       !strstr(err, "CANARY"),
	       "a token with a space is refused: %s", err);
	snprintf(body, sizeof(body),
		 "{\"access_token\":\"%s\","
		 "\"expires_on\":%d}",
		 canary, NOW - 1);
	tap_ok(token_parse(body, strlen(body), NOW, &t, &exp, err,
			   sizeof(err)) == -1,
	       "an expired token is refused");
	snprintf(body, sizeof(body), "{\"access_token\":\"%s\"}", canary);
	tap_ok(token_parse(body, strlen(body), NOW, &t, &exp, err,
			   sizeof(err)) == -1 &&
		       strstr(err, "expires"),
	       "a token without expiry is refused");
	tap_ok(token_parse("[1]", 3, NOW, &t, &exp, err, sizeof(err)) == -1,
	       "not an object");
	tap_ok(token_parse("{\"a\":1,\"a\":2}", 13, NOW, &t, &exp, err,
			   sizeof(err)) == -1,
	       "duplicate keys refused");
	snprintf(body, sizeof(body),
		 "{\"error\":\"invalid_client\",\"error_description\":"
		 "\"AADSTS7000215: Invalid client secret provided. Trace: "
		 "%s\"}",
		 canary);
	token_error_summary(body, strlen(body), err, sizeof(err));
	tap_ok(strcmp(err, "invalid_client AADSTS7000215") == 0,
	       "error summary: code and AADSTS number only: \"%s\"", err);
	token_error_summary("<html>", 6, err, sizeof(err));
	tap_ok(err[0] == '\0', "no summary from a non-JSON body");
	tap_ok(token_chars_ok("a.b-c_d~e+f/g==", 15), "b64token chars");
	tap_ok(!token_chars_ok("a=b", 3) && !token_chars_ok("", 0) &&
		       !token_chars_ok("a;b", 3) && !token_chars_ok("a\nb", 3),
	       "'=' only at the end; no ';', newline or empty token");
	sec_buf_free(&t);
}

/* A self-signed RSA certificate and key in one 0600 PEM file. */
static X509 *make_cert(const char *name, EVP_PKEY **keyp)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *x = X509_new();
	FILE *f;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"aoai-test", -1, -1,
				   0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, key, EVP_sha256());
	put(name, "", 0600);
	f = fopen(tpath(name), "w");
	PEM_write_X509(f, x);
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	*keyp = key;
	return x;
}

/* base64url decoding into <out>; returns the length or -1. */
static int b64url_dec(const char *s, size_t n, unsigned char *out)
{
	char tmp[4096] = "";
	size_t m = 0;
	int len;

	for (size_t i = 0; i < n && m < sizeof(tmp) - 4; i++)
		tmp[m++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (m % 4)
		tmp[m++] = '=';
	len = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)m);
	if (len < 0)
		return -1;
	while (m && tmp[--m] == '=')
		len--;
	return len;
}

static void test_jwt(void)
{
	static const unsigned char jti[16] = {1, 2,  3,	 4,  5,	 6,  7,	 8,
					      9, 10, 11, 12, 13, 14, 15, 16};
	unsigned char hdr[512], claims[1024], sig[1024], hash[32];
	char err[256], x5t[64];
	struct sec_buf out = {0};
	struct jwt_cert jc;
	EVP_PKEY *key;
	unsigned char *der = NULL;
	unsigned hl;
	X509 *x = make_cert("cert.pem", &key);
	const char *d1, *d2;
	int hn, cn, sn, dl;
	json_t *h, *c;
	EVP_MD_CTX *md;

	sec_buf_init(&out, 12288);
	tap_ok(jwt_cert_load(&jc, tpath("cert.pem"), err, sizeof(err)) == 0,
	       "certificate and key loaded: %s", jc.key ? "" : err);
	dl = i2d_X509(x, &der);
	EVP_Digest(der, (size_t)dl, hash, &hl, EVP_sha256(), NULL);
	jwt_b64url(hash, hl, x5t);
	tap_ok(strcmp(jc.x5t_s256, x5t) == 0, "x5t#S256 is the DER's SHA-256");
	tap_ok(jwt_client_assertion(&jc,
				    "https://login.example/t/oauth2/v2.0/token",
				    "11111111-2222-3333-4444-555555555555", NOW,
				    jti, &out, err, sizeof(err)) == 0,
	       "assertion built");
	d1 = memchr(out.p, '.', out.len);
	d2 = d1 ? memchr(d1 + 1, '.', out.len - (size_t)(d1 + 1 - out.p))
		: NULL;
	if (!tap_ok(d1 && d2, "three parts"))
		goto out;
	hn = b64url_dec(out.p, (size_t)(d1 - out.p), hdr);
	cn = b64url_dec(d1 + 1, (size_t)(d2 - d1 - 1), claims);
	sn = b64url_dec(d2 + 1, out.len - (size_t)(d2 + 1 - out.p), sig);
	h = json_loadb((char *)hdr, (size_t)hn, 0, NULL);
	c = json_loadb((char *)claims, (size_t)cn, 0, NULL);
	tap_ok(h &&
		       strcmp(json_string_value(json_object_get(h, "alg")),
			      "RS256") == 0 &&
		       strcmp(json_string_value(json_object_get(h, "x5t#S256")),
			      x5t) == 0,
	       "header: alg RS256, x5t#S256");
	tap_ok(c &&
		       strcmp(json_string_value(json_object_get(c, "aud")),
			      "https://login.example/t/oauth2/v2.0/token") ==
			       0 &&
		       strcmp(json_string_value(json_object_get(c, "iss")),
			      "11111111-2222-3333-4444-555555555555") == 0 &&
		       strcmp(json_string_value(json_object_get(c, "sub")),
			      "11111111-2222-3333-4444-555555555555") == 0 &&
		       strcmp(json_string_value(json_object_get(c, "jti")),
			      "01020304-0506-4708-890a-0b0c0d0e0f10") == 0 &&
		       json_integer_value(json_object_get(c, "nbf")) == NOW &&
		       json_integer_value(json_object_get(c, "exp")) ==
			       NOW + JWT_LIFETIME,
	       "claims: aud, iss = sub = client, jti a v4 UUID, nbf, exp");
	md = EVP_MD_CTX_new();
	tap_ok(sn == 256 &&
		       EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
					    key) == 1 &&
		       EVP_DigestVerify(md, sig, (size_t)sn,
					(unsigned char *)out.p,
					(size_t)(d2 - out.p)) == 1,
	       "signature verifies with the certificate's public key");
	EVP_MD_CTX_free(md);
	json_decref(h);
	json_decref(c);
out:
	jwt_cert_free(&jc);
	put("cert644.pem", "", 0600);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 644 %s",
			 tpath("cert.pem"), tpath("cert644.pem"),
			 tpath("cert644.pem"));
		tap_ok(system(cmd) == 0, "copy made");
	}
	tap_ok(jwt_cert_load(&jc, tpath("cert644.pem"), err, sizeof(err)) ==
			       -1 &&
		       strstr(err, "accessible by others"),
	       "a world-readable key file is refused");
	put("nokey.pem",
	    "-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n",
	    0600);
	tap_ok(jwt_cert_load(&jc, tpath("nokey.pem"), err, sizeof(err)) == -1,
	       "a file without a usable certificate is refused: %s", err);
	jwt_cert_free(&jc);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(key);
	sec_buf_free(&out);
}

#define MAP_TEXT "eastus aaa.bbb.ccc\nwestus -\nswedencentral ddd.eee.fff\n"

static void test_tokmap(void)
{
	struct sec_buf t1 = {0}, t2 = {0}, cmd = {0};
	struct tokmap_entry e[3];
	char err[256], buf[512];
	struct stat st;
	FILE *f;
	size_t n;

	sec_buf_init(&t1, 64);
	sec_buf_init(&t2, 64);
	sec_buf_init(&cmd, 256);
	sec_buf_append(&t1, "aaa.bbb.ccc", 11);
	sec_buf_append(&t2, "ddd.eee.fff", 11);
	e[0] = (struct tokmap_entry){"eastus", &t1};
	e[1] = (struct tokmap_entry){"westus", NULL};
	e[2] = (struct tokmap_entry){"swedencentral", &t2};
	umask(077);
	tap_ok(tokmap_write(tpath("tokens.map"), e, 3, err, sizeof(err)) == 0,
	       "map written");
	umask(022);
	f = fopen(tpath("tokens.map"), "r");
	n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	if (f)
		fclose(f);
	tap_is_mem(buf, n, MAP_TEXT, strlen(MAP_TEXT),
		   "map contents, '-' for no token");
	tap_ok(stat(tpath("tokens.map"), &st) == 0 &&
		       (st.st_mode & 07777) == 0640,
	       "map mode 0640 whatever the umask");
	snprintf(buf, sizeof(buf), "ls %s | grep -q tmp", tmpdir);
	tap_ok(system(buf) != 0, "no temporary file left");
	e[1] = (struct tokmap_entry){"bad key", NULL};
	tap_ok(tokmap_write(tpath("tokens.map"), e, 3, err, sizeof(err)) ==
			       -1 &&
		       stat(tpath("tokens.map"), &st) == 0 &&
		       st.st_size == (off_t)strlen(MAP_TEXT),
	       "a bad key fails and leaves the old map");
	tap_ok(tokmap_write("/nonexistent/dir/x.map", e, 1, err, sizeof(err)) ==
			       -1 &&
		       strstr(err, "/nonexistent/dir/x.map.tmp"),
	       "unwritable folder reported with the path: %s", err);

	tap_ok(tokmap_set_cmd(&cmd, "/etc/haproxy/aoai-tokens.map", "eastus",
			      &t1, err, sizeof(err)) == 0,
	       "set map line built");
	tap_is_mem(cmd.p, cmd.len,
		   "set map /etc/haproxy/aoai-tokens.map eastus aaa.bbb.ccc\n",
		   56, "set map line bytes");
	tokmap_set_cmd(&cmd, "/m", "westus", NULL, err, sizeof(err));
	tap_is_mem(cmd.p, cmd.len, "set map /m westus -\n", 20,
		   "set map line without a token");
	tap_ok(tokmap_set_cmd(&cmd, "/m;shutdown", "k", &t1, err,
			      sizeof(err)) == -1 &&
		       tokmap_set_cmd(&cmd, "/m", "a b", &t1, err,
				      sizeof(err)) == -1,
	       "';' or a space cannot reach the runtime API");
	sec_buf_clear(&t1);
	sec_buf_append(&t1, "abc;show", 8);
	tap_ok(tokmap_set_cmd(&cmd, "/m", "k", &t1, err, sizeof(err)) == -1 &&
		       cmd.len == 0,
	       "a token with ';' is refused, nothing kept");
	sec_buf_free(&t1);
	sec_buf_free(&t2);
	sec_buf_free(&cmd);
}

static void test_schedule(void)
{
	int64_t a = (int64_t)NOW * 1000;
	uint64_t rng = 42;
	bool in_range = true, capped = true;

	tap_is_int(cred_refresh_at(a, a + 24 * 60 * MIN), a + 12 * 60 * MIN,
		   "24 h token (IMDS): refresh at half-life");
	tap_is_int(cred_refresh_at(a, a + 60 * MIN), a + 30 * MIN,
		   "1 h token (Entra ID): refresh at half-life");
	tap_is_int(cred_refresh_at(a, a + 8 * MIN), a + 3 * MIN,
		   "8 min token: 5 min before expiry is earlier");
	tap_is_int(cred_refresh_at(a, a + 4 * MIN), a + 2 * MIN,
		   "4 min token: half-life (5 min before is already past)");
	for (uint32_t f = 1; f <= 12; f++) {
		uint64_t want = 1000ULL << (f - 1);
		uint32_t d = cred_backoff_ms(f, 1000, 60000, &rng);

		if (want > 60000)
			want = 60000;
		if (d > want || d < want - want / 5)
			in_range = false;
		if (d > 60000)
			capped = false;
	}
	tap_ok(in_range, "back-off doubles from the minimum, jitter <= 1/5");
	tap_ok(capped, "back-off capped at the maximum");
	tap_ok(cred_backoff_ms(1000000, 1000, 60000, &rng) <= 60000,
	       "no overflow after many failures");
	rng = 1;
	uint32_t x = cred_backoff_ms(3, 1000, 60000, &rng);
	rng = 2;
	tap_ok(x != cred_backoff_ms(3, 1000, 60000, &rng),
	       "different seeds, different jitter");
}

static void test_conf(void)
{
	struct cred_conf cc;
	char err[256];

	setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/t", 1);
	setenv("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555", 1);
	setenv("AZURE_TENANT_ID", "contoso.onmicrosoft.com", 1);
	cred_conf_defaults(&cc, CRED_WORKLOAD_IDENTITY);
	tap_ok(cred_conf_check(&cc, err, sizeof(err)) == 0 &&
		       strcmp(cc.token_file, "/var/run/secrets/t") == 0,
	       "workload identity from the AKS environment: %s", err);
	cred_conf_defaults(&cc, CRED_MANAGED_IDENTITY);
	tap_ok(cred_conf_check(&cc, err, sizeof(err)) == 0 &&
		       strcmp(cc.imds_url, "http://169.254.169.254") == 0,
	       "managed identity needs nothing; IMDS at 169.254.169.254");
	snprintf(cc.client_id, sizeof(cc.client_id), "a/b");
	tap_ok(cred_conf_check(&cc, err, sizeof(err)) == -1,
	       "a client_id that would need escaping is refused");
	cred_conf_defaults(&cc, CRED_CLIENT_SECRET);
	snprintf(cc.client_id, sizeof(cc.client_id), "c");
	snprintf(cc.tenant_id, sizeof(cc.tenant_id), "t");
	tap_ok(cred_conf_check(&cc, err, sizeof(err)) == -1 &&
		       strstr(err, "secret_file"),
	       "client-secret without secret_file: %s", err);
	cred_conf_defaults(&cc, CRED_CLIENT_CERTIFICATE);
	snprintf(cc.client_id, sizeof(cc.client_id), "c");
	snprintf(cc.tenant_id, sizeof(cc.tenant_id), "t");
	snprintf(cc.cert_file, sizeof(cc.cert_file), "/x.pem");
	snprintf(cc.authority, sizeof(cc.authority), "http://login.example");
	tap_ok(cred_conf_check(&cc, err, sizeof(err)) == -1 &&
		       strstr(err, "https"),
	       "a plain-http authority is refused");
	snprintf(cc.authority, sizeof(cc.authority),
		 "https://login.example/tenant");
	tap_ok(cred_conf_check(&cc, err, sizeof(err)) == -1 &&
		       strstr(err, "host[:port] only"),
	       "an authority with a path is refused");
	snprintf(cc.authority, sizeof(cc.authority), "https://login.example/");
	tap_ok(cred_conf_check(&cc, err, sizeof(err)) == 0,
	       "an authority with a trailing slash is accepted: %s", err);
	tap_ok(cred_kind_parse("workload-identity") == CRED_WORKLOAD_IDENTITY &&
		       cred_kind_parse("api-key") == -1,
	       "kind names");
}

static int64_t fixed_clock(void *arg)
{
	return *(int64_t *)arg;
}

struct outbuf {
	char text[8192];
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void out(void *arg,
						      const char *fmt, ...)
{
	struct outbuf *o = arg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->text + o->len, sizeof(o->text) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(o->text) - o->len)
		o->len += (size_t)n;
}

static void test_authset(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	int64_t now = (int64_t)NOW * 1000;
	struct authset s;
	struct cred_conf cc;
	char err[256], buf[128];
	FILE *f;
	size_t n;

	tap_ok(authset_init(&s, loop, 2, "/etc/haproxy/a b.map", NULL,
			    fixed_clock, &now, err, sizeof(err)) == -1,
	       "a map path with a space is refused");
	tap_ok(authset_init(&s, loop, 2, tpath("set.map"), NULL, fixed_clock,
			    &now, err, sizeof(err)) == 0,
	       "set made");
	cred_conf_defaults(&cc, CRED_MANAGED_IDENTITY);
	snprintf(cc.imds_url, sizeof(cc.imds_url), "http://127.0.0.1:9");
	snprintf(cc.name, sizeof(cc.name), "eastus");
	tap_ok(authset_add(&s, &cc, 1, err, sizeof(err)) == 0, "eastus added");
	tap_ok(authset_add(&s, &cc, 1, err, sizeof(err)) == -1 &&
		       strstr(err, "two credentials"),
	       "a second credential for a backend is refused");
	snprintf(cc.name, sizeof(cc.name), "bad;name");
	tap_ok(authset_add(&s, &cc, 1, err, sizeof(err)) == -1,
	       "a backend name unusable as a map key is refused");
	snprintf(cc.name, sizeof(cc.name), "westus");
	tap_ok(authset_add(&s, &cc, 1, err, sizeof(err)) == 0, "westus added");
	snprintf(cc.name, sizeof(cc.name), "third");
	tap_ok(authset_add(&s, &cc, 1, err, sizeof(err)) == -1,
	       "more credentials than the capacity are refused");
	tap_ok(authset_start(&s, err, sizeof(err)) == 0, "set started");
	f = fopen(tpath("set.map"), "r");
	n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	if (f)
		fclose(f);
	tap_is_mem(buf, n, "eastus -\nwestus -\n", 18,
		   "a missing map is written with every key and '-'");
	tap_ok(authset_find(&s, "westus") && !authset_find(&s, "nope") &&
		       cred_seconds_left(authset_find(&s, "westus")) == 0 &&
		       !cred_usable(authset_find(&s, "westus")),
	       "find; no token yet, not usable, 0 s left");
	{
		static struct outbuf o;
		struct cred *w = &s.v[1].cred;

		w->refreshes = 3;
		w->failed[CRED_F_TIMEOUT] = 2;
		w->have_token = true;
		w->expires_ms = now + 90500;
		w->usable_ms = now + 30000;
		authset_metrics(&s, "aoai_spoa_", out, &o);
		tap_ok(strstr(o.text,
			      "aoai_spoa_auth_token_refreshes_total{backend="
			      "\"westus\",kind=\"managed-identity\"} 3\n") &&
			       strstr(o.text,
				      "aoai_spoa_auth_token_failures_total{"
				      "backend=\"westus\",cause=\"timeout\"} "
				      "2\n") &&
			       strstr(o.text,
				      "aoai_spoa_auth_token_expiry_"
				      "seconds{backend=\"westus\"} 90\n") &&
			       strstr(o.text, "aoai_spoa_auth_token_usable{"
					      "backend=\"westus\"} 1\n") &&
			       strstr(o.text, "aoai_spoa_auth_token_usable{"
					      "backend=\"eastus\"} 0\n"),
		       "metrics: refreshes, failures by cause, expiry, usable");
		char *help =
			strstr(o.text, "# HELP aoai_spoa_auth_token_usable");
		tap_ok(help &&
			       !strstr(help + 1, "# HELP aoai_spoa_auth_token_"
						 "usable") &&
			       strstr(o.text, "# TYPE aoai_spoa_auth_token_"
					      "failures_total counter"),
		       "metrics: one HELP and TYPE per family");
		w->have_token = false;
	}
	{
		/* a token nobody replaced: the backend stops first, the
		 * token leaves HAProxy's map only at its expires_on */
		struct cred *w = &s.v[1].cred;

		sec_buf_clear(&w->token);
		sec_buf_append(&w->token, "eyJ.cur.tok", 11);
		w->have_token = true;
		w->expired = false;
		w->expires_ms = now + 5000;
		w->usable_ms = now;
		ev_invoke(loop, &w->expiry, EV_TIMER);
		read_text(tpath("set.map"), buf, sizeof(buf));
		tap_ok(!cred_usable(w) && cred_token(w) &&
			       strstr(buf, "westus eyJ.cur.tok\n") &&
			       ev_is_active(&w->expiry),
		       "past its usable time: not usable, HAProxy's map keeps "
		       "the token until expires_on (timer re-armed)");
		now += 5000;
		ev_invoke(loop, &w->expiry, EV_TIMER);
		read_text(tpath("set.map"), buf, sizeof(buf));
		tap_ok(!cred_token(w) && !w->have_token &&
			       strstr(buf, "westus -\n"),
		       "at expires_on: the token leaves the map");
		ev_timer_stop(loop, &w->expiry);
		w->expired = false;
		now -= 5000;
	}
	{
		/* a reload: the same identity keeps its token, another not */
		struct authset s2;
		struct cred *w = &s.v[1].cred;

		sec_buf_append(&w->token, "eyJ.old.tok", 11);
		w->have_token = true;
		w->acquired_ms = now - 1000;
		w->expires_ms = now + 99000;
		w->usable_ms = now + 89000;
		authset_init(&s2, loop, 2, tpath("set.map"), NULL, fixed_clock,
			     &now, err, sizeof(err));
		cred_conf_defaults(&cc, CRED_MANAGED_IDENTITY);
		snprintf(cc.imds_url, sizeof(cc.imds_url),
			 "http://127.0.0.1:9");
		snprintf(cc.name, sizeof(cc.name), "westus");
		authset_add(&s2, &cc, 1, err, sizeof(err));
		snprintf(cc.name, sizeof(cc.name), "eastus");
		snprintf(cc.client_id, sizeof(cc.client_id), "other-identity");
		authset_add(&s2, &cc, 1, err, sizeof(err));
		tap_is_int((long long)authset_adopt(&s2, &s), 1,
			   "reload: one credential adopted");
		const struct cred *a = authset_find(&s2, "westus");

		tap_ok(cred_usable(a) && a->token.len == 11 &&
			       memcmp(a->token.p, "eyJ.old.tok", 11) == 0 &&
			       a->refreshes == 3,
		       "reload: same identity keeps token and counters");
		tap_ok(!cred_usable(authset_find(&s2, "eastus")),
		       "reload: another identity starts without a token");
		authset_start(&s2, err, sizeof(err));
		tap_ok(a->next_ms == now + 49000 && ev_is_active(&a->expiry),
		       "reload: adopted token refreshed at its half-life, "
		       "expiry armed");
		authset_free(&s2);
		w->have_token = false;
	}
	authset_free(&s);
	ev_loop_destroy(loop);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_secret();
	test_token();
	test_jwt();
	test_tokmap();
	test_schedule();
	test_conf();
	test_authset();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		perror("rm");
	return tap_done();
}
