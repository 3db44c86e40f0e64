#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Entra ID through the real agent and HAProxy (tests/run.py runs this once
per supported version).

The lab with two keyless regions: their upstreams send
"Authorization: Bearer %[str(NAME),map(TOKENMAP)]" and no api-key; their
mocks accept only tokens signed by the test token endpoints
(tests/mock/mock_token.py, key given to all at test time) and answer
Azure's 401 otherwise. swedencentral uses a managed identity (mock IMDS,
6-second tokens: refreshed at half-life), westus-payg a service principal
with a client secret (mock Entra ID over TLS, CA made at test time).
eastus keeps its api-key.

- the agent fetches a token, hands it to HAProxy (set map) and only then
  routes to the region; keyed and keyless regions take traffic together;
- tokens rotate under load with no failed request and no 401;
- the token endpoint failing: the current token is used while valid, then
  the region is unavailable with reason auth (show backends, metrics, log)
  and traffic goes to the keyed regions; it comes back once tokens do;
- SIGHUP keeps the valid token (no gap); a set map HAProxy refused is
  sent again; a HAProxy reload reads the current token from the map
  before its first request;
- the service principal's region serves with its own token;
- no token and not the client secret appears in any log (agent -d, mocks -v, HAProxy), in show
  backends, show config or /metrics.
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request

import harness as H
import labenv

sys.path.insert(0, os.path.join(H.ROOT, "tests/mock"))
import mock_token as M  # noqa: E402

KEYLESS = "swedencentral"  # managed identity (mock IMDS)
SP = "westus-payg"  # service principal, client secret (mock Entra ID, TLS)
LIFETIME = 6


def upstream_key(name):
    return ('    http-request set-header api-key "%%[str(%s),map(${AOAI_KEYS_'
            'MAP-haproxy-conf/lab/aoai-keys.map})]" unless { req.hdr('
            'authorization) -m beg -i "bearer " }\n' % name)


def upstream_bearer(name):
    return ('    http-request set-header Authorization "Bearer '
            '%%[str(%s),map(${AOAI_TOKEN_MAP})]"\n' % name)


def backend(lab, name):
    for b in json.loads(lab.agent_cmd("show backends json"))["backends"]:
        if b["name"] == name:
            return b
    return {}


def metrics(lab):
    url = "http://127.0.0.1:%d/metrics" % lab.metrics_port
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def metric(text, line_start):
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


def not_200(lab):
    """HAProxy's log lines of the last answers that were not 200: the
    termination state and retries of a failure."""
    return [ln for ln in lab.log_text("haproxy").splitlines()
            if "aoai-front" in ln and "upstream_status=200 " not in ln][-3:]


def token_parts(tokens):
    """Every issued token and its signature: what a leak would show."""
    out = []
    for tok in tokens:
        out.append(tok)
        out.append(tok.rsplit(".", 1)[-1])
    return out


def main():
    t = H.Tap()
    key = os.urandom(32)
    tmp = tempfile.mkdtemp(prefix="aoai-auth-")
    key_file = os.path.join(tmp, "jwt.key")
    with open(key_file, "wb") as f:
        f.write(key.hex().encode())
    imds = M.TokenServer(lifetime=LIFETIME)
    imds.jwt_key = key.hex().encode()
    ca, crt, crt_key = M.make_ca(tmp)
    entra = M.TokenServer(tls=(crt, crt_key), lifetime=60)
    entra.jwt_key = imds.jwt_key
    entra.secret = "CANARY-SECRET-%s" % os.urandom(8).hex()
    secret_file = os.path.join(tmp, "sp.secret")
    with open(secret_file, "w") as f:
        f.write(entra.secret + "\n")
    os.chmod(secret_file, 0o600)
    lab = labenv.Lab(quotas={KEYLESS: {"jwt_key_file": key_file},
                             SP: {"jwt_key_file": key_file}},
                     agent_args=["-d"], mock_verbose=True)
    tokmap = os.path.join(lab.dir, "tokens.map")

    def edit(text):
        return text.replace(
            "  - name: %s\n" % KEYLESS,
            "  - name: %s\n    auth:\n      kind: managed-identity\n"
            "      imds: %s\n      token_map: %s\n" % (KEYLESS, imds.url,
                                                        tokmap)).replace(
            "  - name: %s\n" % SP,
            "  - name: %s\n    auth:\n      kind: service-principal\n"
            "      tenant: tenant-1\n      client_id: app-1\n"
            "      secret_file: %s\n      authority: %s\n"
            "      ca_file: %s\n      token_map: %s\n"
            % (SP, secret_file, entra.url, ca, tokmap))
    lab.agent_edit = edit
    with open(labenv.LAB_CFG) as f:
        cfg = f.read()
    t.ok(upstream_key(KEYLESS) in cfg and upstream_key(SP) in cfg,
         "the lab's %s and %s upstreams set their api-key" % (KEYLESS, SP))
    for name in (KEYLESS, SP):
        cfg = cfg.replace(upstream_key(name), upstream_bearer(name))
    cfg_path = os.path.join(lab.dir, "haproxy-auth.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    lab.haproxy_cfg = cfg_path
    lab.extra_env["AOAI_TOKEN_MAP"] = tokmap
    try:
        with lab:
            run(t, lab, imds, entra, tokmap)
    finally:
        imds.close()
        entra.close()
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


def run(t, lab, imds, entra, tokmap):
    sw = lab.region(KEYLESS)

    # ---- first token ----
    t.ok(H.wait_until(lambda: backend(lab, KEYLESS).get("auth", {}).get(
        "token") == "valid" and not backend(lab, KEYLESS).get(
        "auth_unavailable"), 10),
        "the agent fetched a token and HAProxy holds it",
        backend(lab, KEYLESS))
    b = backend(lab, KEYLESS)
    t.eq(b.get("auth", {}).get("kind"), "managed-identity",
         "show backends: credential kind")
    t.ok(0 < b.get("auth", {}).get("expires_in_s", 0) <= LIFETIME,
         "show backends: seconds to expiry", b.get("auth"))
    t.eq(backend(lab, "eastus").get("auth"), None,
         "a keyed region has no credential")
    t.ok(H.wait_until(lambda: backend(lab, SP).get("auth", {}).get(
        "token") == "valid" and not backend(lab, SP).get(
        "auth_unavailable"), 10),
        "service principal (client secret, Entra ID over TLS with the test "
        "CA): a token HAProxy holds", backend(lab, SP))
    t.eq(backend(lab, SP).get("auth", {}).get("kind"), "client-secret",
         "show backends: the service principal's kind")
    post = [r for r in entra.requests if r["method"] == "POST"]
    t.ok(post and post[0]["path"] == "/tenant-1/oauth2/v2.0/token" and
         post[0]["form"].get("client_id") == "app-1" and
         post[0]["form"].get("scope") ==
         "https://cognitiveservices.azure.com/.default",
         "Entra ID asked for tenant-1, app-1, the Cognitive Services scope",
         [(r["path"], sorted(r["form"])) for r in post[:1]])
    t.ok(os.stat(tokmap).st_mode & 0o777 == 0o640,
         "token map mode 0640", oct(os.stat(tokmap).st_mode))
    req = [r for r in imds.requests if r["method"] == "GET"]
    t.ok(req and req[0]["metadata"] == "true" and req[0]["query"].get(
        "resource") == "https://cognitiveservices.azure.com",
        "IMDS asked with Metadata: true for Cognitive Services", req[:1])

    # ---- rotation under load ----
    issued0 = len(imds.issued)
    load = labenv.Load(lab, threads=3, pause=0.005).start()
    time.sleep(2.2 * LIFETIME / 2)
    load.stop()
    res = [r for _t0, r in load.results]
    bad = labenv.failures(res)
    t.ok(len(res) > 50 and not bad, "%d requests across token refreshes, "
         "all 200" % len(res), bad[:3])
    t.ok(len(imds.issued) - issued0 >= 2, "tokens refreshed before expiry "
         "under load (%d new)" % (len(imds.issued) - issued0))
    served = labenv.served_by(res)
    t.ok(served.get(KEYLESS, 0) > 10 and served.get("eastus", 0) > 10,
         "keyed and keyless regions both served", served)
    t.eq(sw.stats()["auth_failures"], 0, "the keyless region never saw a "
         "bad token")

    # ---- SIGHUP keeps the token ----
    before = backend(lab, KEYLESS)["auth"]["refreshes"]
    lab.agent.send_signal(1)
    H.wait_until(lambda: "reloaded" in lab.log_text("agent"), 5)
    b = backend(lab, KEYLESS)
    t.ok(not b.get("auth_unavailable") and b["auth"]["token"] == "valid"
         and b["auth"]["refreshes"] >= before,
         "after SIGHUP the token is kept (no gap, counters kept)", b)
    t.ok("valid tokens kept across the reload" in lab.log_text("agent"),
         "the reload log says the tokens were kept")

    # ---- a refused set map is sent again ----
    def set_map_errors():
        return metric(metrics(lab), "aoai_spoa_haproxy_set_map_errors_total")

    def holds_latest():
        out = lab.haproxy_cmd("show map %s" % tokmap)
        vals = [l.split()[-1] for l in out.splitlines()
                if len(l.split()) == 3 and l.split()[1] == KEYLESS]
        return vals == [imds.issued[-1]]
    errs0 = set_map_errors()
    t.ok(errs0 is not None and holds_latest(), "HAProxy holds the latest "
         "token; set map errors are counted (%s)" % errs0)
    lab.haproxy_cmd("del map %s %s" % (tokmap, KEYLESS))
    t.ok(H.wait_until(lambda: set_map_errors() > errs0, LIFETIME + 2),
         "the next token's set map, refused by HAProxy (key deleted), is "
         "counted as failed")
    lab.haproxy_cmd("add map %s %s -" % (tokmap, KEYLESS))
    t.ok(H.wait_until(holds_latest, 5), "and sent again after a poll: "
         "HAProxy holds the latest token")

    # ---- HAProxy reload reads the current token ----
    lab.reload_haproxy()
    sw.reset_stats()
    res = lab.run_load(30, threads=3)
    t.ok(not labenv.failures(res), "after a HAProxy reload: 30 requests, "
         "all 200", labenv.failures(res)[:3])
    t.eq(sw.stats()["auth_failures"], 0, "the new HAProxy had the current "
         "token from the map file")

    # ---- token endpoint failing ----
    imds.fail = 500
    t0 = time.monotonic()
    load = labenv.Load(lab, threads=3, pause=0.005).start()
    gone = H.wait_until(lambda: backend(lab, KEYLESS).get(
        "auth_unavailable"), LIFETIME + 5)
    held = time.monotonic() - t0
    load.stop()
    res = [r for _t0, r in load.results]
    t.ok(gone, "token expired without replacement: %s unavailable" %
         KEYLESS)
    t.ok(held > 1.0, "the current token was used while valid (%.1f s)" %
         held)
    t.ok(not labenv.failures(res), "%d requests while the endpoint failed, "
         "all 200" % len(res), labenv.failures(res)[:3] + not_200(lab))
    b = backend(lab, KEYLESS)
    t.ok(b.get("auth", {}).get("token") == "expired" and
         b["auth"].get("last_error"), "show backends: expired, last error",
         b.get("auth"))
    text = lab.agent_cmd("show backends")
    row = [l for l in text.splitlines() if l.startswith(KEYLESS)]
    t.ok(row and "auth" in row[0].split()[3] and "auth:" in row[0],
         "show backends text: flag auth and reason", row)
    m = metrics(lab)
    t.eq(metric(m, 'aoai_spoa_backend_auth_unavailable{backend="%s"}'
                % KEYLESS), 1.0, "metrics: backend_auth_unavailable 1")
    t.ok((metric(m, 'aoai_spoa_auth_token_failures_total{backend="%s",'
                    'cause="http_5xx"}' % KEYLESS) or 0) > 0,
         "metrics: token failures by cause")
    t.ok('aoai_spoa_auth_token_usable{backend="%s"} 0' % KEYLESS in m,
         "metrics: auth_token_usable 0")
    with open(os.path.join(H.ROOT, "docs/monitoring/aoai-spoa.rules.yml")) \
            as f:
        wanted = set(re.findall(r"\b(aoai_spoa_auth_\w+)\b", f.read()))
    missing = [n for n in sorted(wanted)
               if not re.search(r"^%s\{" % n, m, re.M)]
    t.ok(len(wanted) >= 3 and not missing, "metrics: every auth metric the "
         "shipped alert rules read is exported (%d)" % len(wanted), missing)
    t.ok("backend %s: unavailable: auth:" % KEYLESS in lab.log_text("agent"),
         "log: the region is unavailable for auth")
    sw.reset_stats()
    res = lab.run_load(40, threads=3)
    t.ok(not labenv.failures(res), "40 requests without the region's "
         "token: all 200", labenv.failures(res)[:3])
    t.eq(sw.stats()["requests"], 0, "none reached the keyless region")

    # ---- recovery ----
    imds.fail = None
    t.ok(H.wait_until(lambda: not backend(lab, KEYLESS).get(
        "auth_unavailable"), 40), "a new token: the region is available "
        "again")
    res = lab.run_load(30, threads=3)
    t.ok(not labenv.failures(res) and labenv.served_by(res).get(KEYLESS),
         "it serves again", labenv.served_by(res))

    # ---- the service principal's region serves ----
    for name in ("eastus", KEYLESS):
        lab.agent_cmd("disable backend %s" % name)
    lab.region(SP).reset_stats()
    res = lab.run_load(20, threads=2)
    t.ok(not labenv.failures(res) and labenv.served_by(res).get(SP) == 20,
         "with eastus and %s disabled, %s (service principal token) "
         "serves all 20" % (KEYLESS, SP), labenv.served_by(res))
    t.eq(lab.region(SP).stats()["auth_failures"], 0,
         "%s never saw a bad token" % SP)

    # ---- no token anywhere ----
    outputs = {"show backends": lab.agent_cmd("show backends"),
               "show backends json": lab.agent_cmd("show backends json"),
               "show config": lab.agent_cmd("show config"),
               "metrics": metrics(lab)}
    lab.stop_processes()
    outputs.update(lab.all_logs())
    secrets = token_parts(imds.issued + entra.issued) + [entra.secret]
    with open(tokmap) as f:
        on_disk = f.read()
    t.ok(any(s in on_disk for s in secrets), "the leak search finds the "
         "current token where it belongs (the map file)")
    leaks = [(n, s[:12]) for n, text in outputs.items() for s in secrets
             if s in text]
    t.ok(len(imds.issued) >= 4 and entra.issued and not leaks,
         "no token (of %d issued) and not the client secret in any log, "
         "show output or metrics" % (len(imds.issued) + len(entra.issued)),
         leaks[:3])
    t.ok(not lab.leaked_secrets(), "no region or gateway key in any log",
         lab.leaked_secrets()[:3])
    san = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                     r"runtime error:")
    t.ok(not san.search(lab.log_text("agent")), "no sanitizer report in "
         "the agent's log", san.findall(lab.log_text("agent"))[:2])


if __name__ == "__main__":
    main()
