#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every shipped configuration passes its checker, and the HAProxy side keeps
the properties the design relies on (haproxy-conf/README.md: HAProxy
behaviour per version), on every HAProxy version tests/run.py runs.

- haproxy -c on haproxy-conf/lab/haproxy.cfg as shipped (defaults of its
  ${VAR-default} expansions) and with a lab's environment;
- haproxy -c on haproxy-conf/haproxy.cfg, with /etc/haproxy/ replaced by a
  temporary folder holding dummy maps and a self-signed certificate (the
  region names are placeholders that do not resolve: init-addr none keeps
  that a warning), with and without AOAI_DEBUG_HEADERS;
- aoai-spoa -c on both agent YAML files;
- the SPOE file: no option send-frag-payload, register-var-names with the
  agent's variables, no force-set-var, the three timeouts, processing small;
- haproxy.cfg (both): spop-check with check inter 1s fall 2, retry-on and
  redispatch, tune.bufsize above 256 KB, api-key never captured, server
  names / weights / backup tier equal to the agent YAML's pools, TLS options
  on every production region server;
- "aoai-spoa haproxy-config" on the shipped YAML renders exactly the shipped
  haproxy.cfg and aoai-spoe.conf; the rendering for this version
  (--haproxy) passes haproxy -c too, and has no ".if version_atleast" left;
  a YAML missing what rendering needs is refused at file:line:col;
- drift: HAProxy started from the rendered file (made runnable here: local
  ports, no chroot, sockets in a temporary folder), "aoai-spoa -c" reports
  no difference; started from a copy edited by hand (a weight, a backup
  flag, a server removed, one added), it reports each, exit status 3.
"""
import os
import re
import shutil
import subprocess
import tempfile

from harness import Tap, ROOT, HAPROXY, HAPROXY_VERSION, AGENT_FAST, Procs
from harness import free_port, wait_until

CONF = os.path.join(ROOT, "haproxy-conf")
PROD_CFG = os.path.join(CONF, "haproxy.cfg")
LAB_CFG = os.path.join(CONF, "lab/haproxy.cfg")
SPOE = os.path.join(CONF, "aoai-spoe.conf")
PROD_YAML = os.path.join(CONF, "aoai-spoa.yaml")
LAB_YAML = os.path.join(CONF, "lab/aoai-spoa.yaml")


def run(argv, env=None):
    p = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def read(path):
    with open(path) as f:
        return f.read()


def lines(text):
    """Configuration lines without comments, stripped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def sections(text):
    """{(kind, name): [lines]} of a haproxy.cfg."""
    out = {}
    cur = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("."):
            words = line.split()
            cur = (words[0], words[1] if len(words) > 1 else "")
            out.setdefault(cur, [])
        elif cur is not None:
            out[cur].append(line.strip())
    return out


def yaml_pool(text, pool="chat"):
    """[(backend, priority, weight)] of one pool of an agent YAML, from the
    flow-style member lines the shipped files use."""
    out = []
    m = re.search(r"- name: %s\n\s+members:\n((?:\s+- \{.*\}.*\n)+)"
                  % re.escape(pool), text)
    if not m:
        return out
    for line in m.group(1).splitlines():
        b = re.search(r"backend:\s*([\w.:-]+)", line)
        p = re.search(r"priority:\s*(\d+)", line)
        w = re.search(r"weight:\s*(\d+)", line)
        out.append((b.group(1), int(p.group(1)) if p else 1,
                    int(w.group(1)) if w else 1))
    return out


def yaml_backends(text):
    m = re.search(r"^backends:\n(.*?)^pools:", text, re.S | re.M)
    return re.findall(r"^  - name: ([\w.:-]+)", m.group(1), re.M) if m else []


def check_haproxy_cfg(t, label, text, yaml_text):
    secs = sections(text)
    allx = "\n".join(lines(text))
    t.ok("capture request header api-key" not in allx.lower()
         and "hdr(api-key)]" not in re.sub(r"set-header api-key .*", "",
                                           allx),
         "%s: api-key never captured or logged" % label)
    m = re.search(r"tune\.bufsize\s+(\d+)", allx)
    # the documented request size retried on another region: 128 KB
    # (headers included); larger ones are proxied once
    t.ok(m and int(m.group(1)) >= 131072,
         "%s: tune.bufsize holds a 128 KB request" % label,
         m.group(0) if m else "missing")
    be = secs.get(("backend", "aoai"), [])
    t.ok(any(l.startswith("filter spoe engine aoai ") for l in be),
         "%s: SPOE route filter on backend aoai" % label)
    retry = [l for l in be if l.startswith("retry-on")]
    t.ok(retry and all(k in retry[0].split() for k in (
        "503", "conn-failure", "empty-response", "response-timeout")),
        "%s: retry-on 503 conn-failure empty-response response-timeout"
        % label, retry)
    t.ok("option redispatch 1" in be, "%s: option redispatch 1" % label)
    t.ok(any(re.match(r"retries [1-5]$", l) for l in be),
         "%s: bounded retries" % label)
    t.ok(any("use-server" in l and "var(txn.aoai.backend)" in l
             for l in be), "%s: use-server from txn.aoai.backend" % label)
    t.ok(any(l.startswith("http-request return status 429") and
             "Retry-After" in l and "var(txn.aoai.retry_after)" in l and
             "exhausted" in l for l in be),
         "%s: exhausted -> 429 with Retry-After" % label)
    spoa = secs.get(("backend", "aoai-spoa"), [])
    t.ok("option spop-check" in spoa, "%s: option spop-check" % label)
    srv = [l for l in spoa if l.startswith("server ")]
    t.ok(srv and re.search(r"\bcheck\b", srv[0]) and "inter 1s" in srv[0]
         and "fall 2" in srv[0], "%s: agent server check inter 1s fall 2"
         % label, srv)
    fe = secs.get(("frontend", "aoai-front"), [])
    t.ok("http-request del-header api-key" in fe,
         "%s: client api-key deleted" % label)
    t.ok(any("set-status 429" in l and "x-aoai-upstream-status" in l
             for l in fe), "%s: frontend restores 429" % label)
    t.ok(any("%rc" in l and "txn.aoai.backend" in l and "txn.aoai.reason"
             in l for l in fe if l.startswith("log-format")),
         "%s: access log has backend, reason, retries" % label)
    # servers of backend aoai == agent backends, weights/backup == pool chat
    servers = {}
    for l in be:
        if l.startswith("server "):
            w = l.split()
            wt = re.search(r"\bweight (\d+)", l)
            servers[w[1]] = (int(wt.group(1)) if wt else 1,
                             " backup" in " " + l + " ")
    pool = yaml_pool(yaml_text)
    t.eq(sorted(servers), sorted(yaml_backends(yaml_text)),
         "%s: server names = agent backend names" % label)
    mism = []
    top = min(p for _b, p, _w in pool) if pool else 1
    for b, prio, weight in pool:
        got = servers.get(b)
        if got is None or got[0] != weight or got[1] != (prio > top):
            mism.append((b, prio, weight, got))
    t.ok(pool and not mism, "%s: fallback weights and backup tier mirror "
         "pool chat" % label, mism)
    # every region: a shim with the aoai-result group before 429 -> 503
    for name in servers:
        shim = secs.get(("listen", "region-%s" % name), [])
        up = secs.get(("listen", "upstream-%s" % name), [])
        grp = [i for i, l in enumerate(shim) if "send-spoe-group" in l]
        st = [i for i, l in enumerate(shim) if "set-status 503" in l]
        t.ok(grp and st and grp[0] < st[0] and any(
            l.startswith("filter spoe engine aoai-result") for l in shim),
            "%s: region-%s reports before 429 -> 503" % (label, name))
        t.ok(any(l.startswith("http-request set-header api-key") and
                 "map(" in l and name in l for l in up) and
             any(l.startswith("http-request set-header Host") for l in up),
             "%s: upstream-%s injects key and Host" % (label, name))


def prod_copy(tmp, text=None):
    """The production files under <tmp>, /etc/haproxy/ and the agent's
    token map folder (/var/lib/aoai-spoa/) replaced; <text> instead of the
    shipped haproxy.cfg."""
    os.makedirs(os.path.join(tmp, "certs"), exist_ok=True)
    key = os.path.join(tmp, "k.pem")
    crt = os.path.join(tmp, "c.pem")
    rc, out = run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                   "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                   "-subj", "/CN=aoai-gateway.test"])
    if rc != 0:
        raise RuntimeError("openssl: " + out)
    with open(os.path.join(tmp, "certs/aoai-gateway.pem"), "w") as f:
        f.write(read(crt) + read(key))
    with open(os.path.join(tmp, "aoai-keys.map"), "w") as f:
        f.write("eastus dummy1\nswedencentral dummy2\nwestus-payg dummy3\n")
    with open(os.path.join(tmp, "aoai-clients.map"), "w") as f:
        f.write("gateway-key client\n")
    shutil.copy(SPOE, os.path.join(tmp, "aoai-spoe.conf"))
    with open(os.path.join(tmp, "tokens.map"), "w") as f:
        f.write("eastus -\nswedencentral -\nwestus-payg -\n")
    text = (text or read(PROD_CFG)).replace("/etc/haproxy/", tmp + "/")
    text = text.replace("/var/lib/aoai-spoa/", tmp + "/")
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(text)
    return cfg


def render(yaml_path, *extra):
    p = subprocess.run([AGENT_FAST, "haproxy-config", "-f", yaml_path] +
                       list(extra), cwd=ROOT, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check_render(t, clean):
    rc, cfg, err = render(PROD_YAML)
    t.ok(rc == 0 and cfg == read(PROD_CFG), "haproxy-config on the shipped "
         "YAML renders the shipped haproxy.cfg (make haproxy-conf)",
         err + diff_hint(cfg, read(PROD_CFG)))
    rc, spoe, err = render(PROD_YAML, "--spoe")
    t.ok(rc == 0 and spoe == read(SPOE), "haproxy-config --spoe renders the "
         "shipped aoai-spoe.conf", err + diff_hint(spoe, read(SPOE)))
    ver = HAPROXY_VERSION or "2.6"
    rc, vcfg, err = render(PROD_YAML, "--haproxy", ver)
    t.ok(rc == 0 and not re.search(r"^\.if !?version_atleast", vcfg,
                                   re.M) and
         "defined(AOAI_DEBUG_HEADERS)" in vcfg,
         "--haproxy %s resolves the version blocks, keeps the others" % ver,
         err)
    want = "retry-on 429 " if ver >= "3.1" else "retry-on 500 "
    t.ok(want in vcfg and ("set-status 503 if { status 429 }" in vcfg) ==
         (ver < "3.1"), "--haproxy %s: the lines of that version" % ver)
    with tempfile.TemporaryDirectory(prefix="aoai-render-") as tmp:
        cfg = prod_copy(tmp, vcfg)
        rc, out = run([HAPROXY, "-c", "-f", cfg], env=clean)
        t.ok(rc == 0, "haproxy -c on the rendering --haproxy %s" % ver,
             out[-1500:])
        # what rendering needs, refused where it is written
        text = read(PROD_YAML)
        bad = text.replace("      endpoint: example-swedencentral."
                           "openai.azure.com\n", "", 1)
        bad = bad.replace("priority: 1, weight: 3}", "priority: 1, "
                          "weight: 300}", 1)
        path = os.path.join(tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write(bad)
        rc, out, err = render(path)
        line_b = bad[:bad.index("- name: swedencentral")].count("\n") + 1
        line_w = bad[:bad.index("weight: 300")].count("\n") + 1
        t.ok(rc == 1 and not out and
             "%s:%d:5: backend 'swedencentral': no upstream.endpoint"
             % (path, line_b) in err and
             re.search(r"%s:%d:\d+: weight 300: " % (re.escape(path),
                                                     line_w), err),
             "haproxy-config refuses a backend without endpoint and a "
             "weight over 256, at file:line:col, rendering nothing", err)
        rc, out, err = render(PROD_YAML, "--haproxy", "2.4")
        t.ok(rc == 2, "--haproxy 2.4: usage error (2.6 or later)", err)


def diff_hint(a, b):
    al, bl = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(al, bl)):
        if x != y:
            return "line %d: rendered %r, shipped %r" % (i + 1, x, y)
    return "lengths %d and %d lines" % (len(al), len(bl))


def runnable(text, d, uniq, ports):
    """The rendered production file made runnable by a test: loopback
    ports, no chroot/user/daemon, sockets and files under <d>, abstract
    socket names made unique."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("chroot ", "user ", "group ", "daemon", "log /dev")):
            continue
        if s.startswith("stats socket /run/haproxy/admin.sock"):
            continue
        line = line.replace(" group haproxy", "")
        line = line.replace("bind :443 ssl crt /etc/haproxy/certs/"
                            "aoai-gateway.pem alpn h2,http/1.1",
                            "bind 127.0.0.1:%d" % ports[0])
        line = line.replace("bind 127.0.0.1:8404", "bind 127.0.0.1:%d"
                            % ports[1])
        line = line.replace("abns@aoai-", "abns@aoai-%s-" % uniq)
        line = line.replace("/etc/haproxy/", d + "/")
        out.append(line)
    return "\n".join(out) + "\n"


def drift_case(t, procs, label, text, yaml_path, want_rc, want_lines,
               pattern=None):
    """HAProxy from <text>, then aoai-spoa -c: exit <want_rc> and the
    "drift:" lines <want_lines> (or one line matching <pattern>)."""
    d = procs.dir
    cfg = procs.write("drift-%s.cfg" % label, text)
    sock = os.path.join(d, "hapi.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    hp = procs.start([HAPROXY, "-db", "-f", cfg],
                     log_name="haproxy-drift-%s.log" % label)
    up = wait_until(lambda: os.path.exists(sock) or hp.poll() is not None,
                    timeout=15)
    p = subprocess.run([AGENT_FAST, "-c", "-f", yaml_path], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    got = sorted(l[len("drift: "):] for l in p.stdout.splitlines()
                 if l.startswith("drift: "))
    same = (len(got) == 1 and re.match(pattern, got[0])) if pattern \
        else got == sorted(want_lines)
    t.ok(up and hp.poll() is None and p.returncode == want_rc and same
         and "configuration OK" in p.stdout,
         "drift, %s: exit %d, %d difference(s) reported" %
         (label, want_rc, len(want_lines or [pattern])),
         "rc %d; stdout %s; stderr %s; haproxy log %s" % (
             p.returncode, p.stdout[-800:], p.stderr[-400:],
             open(hp.log_path).read()[-600:]))
    procs.stop(hp)
    return p


def check_drift(t):
    with Procs() as procs:
        d = procs.dir
        prod_copy(d, read(PROD_CFG))  # maps, certificate, SPOE file
        sock = os.path.join(d, "hapi.sock")
        yaml_text = read(PROD_YAML).replace(
            "unix:///run/haproxy/aoai-spoa.sock", "unix://" + sock)
        yaml_path = procs.write("drift.yaml", yaml_text)
        rc, text, err = render(yaml_path)
        t.ok(rc == 0 and "stats socket %s " % sock in text,
             "rendered with the YAML's stats socket", err)
        ports = (free_port(), free_port())
        base = runnable(text, d, "t%d" % ports[0], ports)
        p = drift_case(t, procs, "rendered", base, yaml_path, 0, [])
        t.ok("haproxy: aoai matches the configuration" in p.stdout,
             "drift, rendered: says it matches", p.stdout)

        edited = base.replace(
            "weight 3 track upstream-eastus", "weight 2 track "
            "upstream-eastus").replace(
            "weight 1 backup track upstream-westus-payg",
            "weight 1 track upstream-westus-payg")
        edited = re.sub(r"\n    server swedencentral +abns@\S+ weight 1 "
                        r"track \S+", "", edited)
        edited = edited.replace(
            "\n    server eastus ", "\n    server extra abns@aoai-t%d-"
            "region-eastus weight 1\n    server eastus " % ports[0], 1)
        t.ok(edited.count("\n    server ") == base.count("\n    server "),
             "the hand-edited copy: one server less, one more")
        p = drift_case(t, procs, "edited", edited, yaml_path, 3, [
            "aoai/eastus: weight 2 in HAProxy, 3 in the configuration",
            "aoai/westus-payg: backup in the configuration, not in HAProxy",
            "aoai/swedencentral: missing in HAProxy",
            "aoai/extra: in HAProxy, unknown to the configuration"])
        t.ok("4 differences" in p.stderr, "drift, edited: counted on "
             "stderr", p.stderr)
        # HAProxy answers, but has no backend aoai
        other = base.replace("\nbackend aoai\n", "\nbackend aoai-x\n").replace(
            "default_backend aoai\n", "default_backend aoai-x\n")
        p = drift_case(t, procs, "no-backend", other, yaml_path, 3, None,
                       r"show servers state aoai: \S")
        t.ok("did not list the servers of aoai" in p.stderr,
             "drift, no backend aoai: said on stderr", p.stderr)
    # HAProxy not running: said, not an error
    with tempfile.TemporaryDirectory(prefix="aoai-drift-") as tmp:
        y = os.path.join(tmp, "a.yaml")
        with open(y, "w") as f:
            f.write(read(PROD_YAML).replace(
                "unix:///run/haproxy/aoai-spoa.sock",
                "unix://%s/none.sock" % tmp))
        p = subprocess.run([AGENT_FAST, "-c", "-f", y], capture_output=True,
                           text=True, timeout=60)
        t.ok(p.returncode == 0 and "configuration OK" in p.stdout and
             "not compared with the running HAProxy" in p.stderr,
             "-c with HAProxy not running: exit 0, says it did not compare",
             p.stdout + p.stderr)


def main():
    t = Tap()
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("AOAI_") or k in ("AOAI_ROOT",)}

    rc, out = run([HAPROXY, "-c", "-f", LAB_CFG], env=clean)
    # exit status only: since 2.9 "haproxy -c" prints nothing when valid
    t.ok(rc == 0, "haproxy -c lab haproxy.cfg as shipped", out[-800:])
    t.ok("ALERT" not in out and "WARNING" not in out,
         "lab haproxy.cfg: no warning", out[-800:])

    with tempfile.TemporaryDirectory(prefix="aoai-cfg-") as tmp:
        env = dict(clean, AOAI_LAB_DIR=tmp, AOAI_FE_PORT="18999",
                   AOAI_AGENT_ADDR="127.0.0.1:18998",
                   AOAI_SPOE_CONF=SPOE)
        rc, out = run([HAPROXY, "-c", "-f", LAB_CFG], env=env)
        t.ok(rc == 0, "haproxy -c lab haproxy.cfg with a lab environment",
             out[-800:])

        cfg = prod_copy(tmp)
        rc, out = run([HAPROXY, "-c", "-f", cfg], env=clean)
        t.ok(rc == 0, "haproxy -c production haproxy.cfg", out[-1500:])
        other = [l for l in out.splitlines() if ("WARNING" in l or
                 "ALERT" in l) and "could not resolve address" not in l]
        t.ok(not other, "production haproxy.cfg: no warning but the "
             "placeholder names", other)
        rc, out = run([HAPROXY, "-c", "-f", cfg],
                      env=dict(clean, AOAI_DEBUG_HEADERS="1"))
        t.ok(rc == 0, "haproxy -c production with AOAI_DEBUG_HEADERS",
             out[-800:])
        # the shipped YAML's keyless example (its commented auth: block)
        # in force, rendered: swedencentral sends the agent's token
        yaml = re.sub(r"^    # auth:\n((?:    #.*\n)*)",
                      lambda m: "    auth:\n" + "".join(
                          "      " + l[8:] + "\n" if l.startswith(
                              "    #   ") and not l.startswith("    #   #")
                          and not l.startswith("    #    ") else ""
                          for l in m.group(1).splitlines()),
                      read(PROD_YAML), flags=re.M)
        kpath = os.path.join(tmp, "keyless.yaml")
        with open(kpath, "w") as f:
            f.write(yaml)
        rc, out = run([AGENT_FAST, "-c", "-f", kpath])
        t.ok(rc == 0 and "configuration OK" in out and
             "kind: managed-identity" in yaml,
             "aoai-spoa -c production yaml with its keyless example", out)
        os.makedirs(os.path.join(tmp, "keyless"))
        rc, text, err = render(kpath)
        up = sections(text).get(("listen", "upstream-swedencentral"), [])
        t.ok(rc == 0 and 'http-request set-header Authorization "Bearer '
             '%[str(swedencentral),map(/var/lib/aoai-spoa/tokens.map)]"'
             in up and not any("api-key" in l for l in up) and
             any(l.startswith("http-request set-header api-key") for l in
                 sections(text).get(("listen", "upstream-eastus"), [])),
             "rendered keyless example: swedencentral sends the token map's "
             "bearer, no api-key; eastus keeps its api-key", err + str(up))
        cfg = prod_copy(os.path.join(tmp, "keyless"), text)
        rc, out = run([HAPROXY, "-c", "-f", cfg], env=clean)
        t.ok(rc == 0, "haproxy -c production with its keyless region",
             out[-800:])

    for label, path in (("production", PROD_YAML), ("lab", LAB_YAML)):
        rc, out = run([AGENT_FAST, "-c", "-f", path])
        t.ok(rc == 0 and "configuration OK" in out,
             "aoai-spoa -c %s yaml" % label, out[-800:])

    spoe = read(SPOE)
    agents = re.split(r"^spoe-agent ", spoe, flags=re.M)[1:]
    t.eq(len(agents), 2, "SPOE file: two agents (route, result)")
    for a in agents:
        body = "\n".join(lines(a.split("\nspoe-")[0]))
        name = a.split()[0]
        t.ok("no option send-frag-payload" in body,
             "%s: no option send-frag-payload" % name)
        m = re.search(r"register-var-names (.*)", body)
        t.ok(m and set("backend reason retry_after noop".split())
             <= set(m.group(1).split()), "%s: register-var-names" % name)
        t.ok("option var-prefix aoai" in body, "%s: var-prefix aoai" % name)
        for what in ("hello", "idle", "processing"):
            t.ok(re.search(r"timeout %s \d+m?s" % what, body),
                 "%s: timeout %s" % (name, what))
        m = re.search(r"timeout processing (\d+)ms", body)
        t.ok(m and 50 <= int(m.group(1)) <= 200,
             "%s: timeout processing 50..200ms" % name)
        t.ok("use-backend aoai-spoa" in body, "%s: use-backend" % name)
    t.ok("force-set-var" not in "\n".join(lines(spoe)),
         "SPOE file: no force-set-var")
    t.ok(re.search(r"spoe-message aoai-route\n\s+args pool=\S+", spoe) and
         "event on-backend-http-request" in spoe,
         "aoai-route on on-backend-http-request")
    res = re.search(r"spoe-message aoai-result\n\s+args (.*)", spoe)
    t.ok(res and "backend=srv_name" in res.group(1) and all(
        a + "=" in res.group(1) for a in (
            "status", "retry_after", "retry_after_ms",
            "remaining_requests", "remaining_tokens")),
        "aoai-result arguments (backend=srv_name)")

    check_haproxy_cfg(t, "production", read(PROD_CFG), read(PROD_YAML))
    check_haproxy_cfg(t, "lab", read(LAB_CFG), read(LAB_YAML))

    check_render(t, clean)
    check_drift(t)

    prod = sections(read(PROD_CFG))
    ups = [(k, v) for k, v in prod.items() if k[1].startswith("upstream-")]
    dflt = " ".join(prod.get(("defaults", "upstream"), []))
    for (kind, name), body in ups:
        srv = " ".join(l for l in body if l.startswith("server ")) + " " + dflt
        t.ok(all(k in srv for k in ("ssl", "verify required",
                                    "ca-file /etc/ssl/certs/"
                                    "ca-certificates.crt", " sni ",
                                    "check-sni")),
             "production %s: TLS verify, ca-file, sni, check-sni" % name)
    t.ok(any("chroot" in l for l in prod.get(("global", ""), [])),
         "production runs chrooted")
    lab = sections(read(LAB_CFG))
    t.ok(not any(l.startswith(("chroot", "user", "group", "daemon"))
                 for l in lab.get(("global", ""), [])),
         "lab: no chroot, user switch or daemon")
    t.done()


if __name__ == "__main__":
    main()
