# SPDX-License-Identifier: Apache-2.0
"""Real Azure OpenAI mode of the lab: the configuration file and the
rendering of the production HAProxy configuration (haproxy-conf/haproxy.cfg)
and of the agent's YAML for it. Standard library only.

The configuration is a file of KEY=VALUE lines (shell-like, "#" comments,
optional quotes; see tests/lab/azure.env.example). Every value may instead
come from the environment (the environment wins), so the api keys need not
be written in the file:

    AOAI_REGIONS="eastus swedencentral westus-payg"  # HAProxy server names
    AOAI_API_VERSION=2024-06-01
    AOAI_DEPLOYMENT=gpt-4o                   # the name clients use
    AOAI_EMBEDDINGS_DEPLOYMENT=text-embedding-3-small   # optional
    AOAI_<R>_ENDPOINT=https://<resource>.openai.azure.com
    AOAI_<R>_API_KEY=...                     # or Entra ID: not supported here
    AOAI_<R>_DEPLOYMENT=gpt-4o               # default AOAI_DEPLOYMENT
    AOAI_<R>_EMBEDDINGS_DEPLOYMENT=...       # default AOAI_EMBEDDINGS_...
    AOAI_<R>_PRIORITY=1                      # default 1
    AOAI_<R>_WEIGHT=1                        # default 1
    AOAI_REQUESTS=50  AOAI_THREADS=4         # the workload (small: quota, cost)

<R> is the region name upper-cased with every other character as "_"
(westus-payg -> WESTUS_PAYG), as in the lab.

render_haproxy() keeps the production file's design and text (frontend,
backend aoai, the shims and upstreams with TLS, verify, SNI) and changes only
what a run on this machine needs: no chroot/user/daemon, logs on stdout,
maxconn 4096,
the stats socket, the SPOE file and the maps in the run folder, a plain
HTTP client-side bind on 127.0.0.1 (the gateway's certificate is not needed
to test routing), no stats frontend, and one region-<name> + upstream-<name>
pair per configured region, made from the file's eastus pair.
"""
import os
import re
import shlex
import urllib.parse

ROOT = os.environ.get("AOAI_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROD_CFG = os.path.join(ROOT, "haproxy-conf/haproxy.cfg")
LAB_YAML = os.path.join(ROOT, "haproxy-conf/lab/aoai-spoa.yaml")
TEMPLATE_REGION = "eastus"
TEMPLATE_HOST = "example-eastus.openai.azure.com"


class ConfigError(ValueError):
    pass


def env_name(region):
    return re.sub(r"[^A-Za-z0-9]", "_", region).upper()


def read_env_file(path):
    """KEY=VALUE lines -> dict (shell-like quoting, # comments)."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.startswith("export "):
                s = s[len("export "):].lstrip()
            key, sep, val = s.partition("=")
            key = key.strip()
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ConfigError("%s:%d: expected KEY=VALUE" % (path, n))
            try:
                parts = shlex.split(val, comments=True)
            except ValueError as exc:
                raise ConfigError("%s:%d: %s" % (path, n, exc)) from None
            out[key] = " ".join(parts)
    return out


def load_config(path=None, environ=None):
    """Reads the file (optional) and the environment; returns a dict:
    {api_version, deployment, embeddings_deployment, requests, threads,
     regions: [{name, endpoint, host, port, api_key, deployment,
                embeddings_deployment, priority, weight}]}.
    Raises ConfigError naming every problem."""
    values = read_env_file(path) if path else {}
    env = os.environ if environ is None else environ
    for k, v in env.items():
        if k.startswith("AOAI_"):
            values[k] = v
    errors = []

    def get(key, default=None):
        v = values.get(key)
        return default if v is None or v == "" else v

    def integer(key, default, lo, hi):
        v = get(key)
        if v is None:
            return default
        if not re.fullmatch(r"\d+", v) or not lo <= int(v) <= hi:
            errors.append("%s: expected an integer %d..%d, got %r"
                          % (key, lo, hi, v))
            return default
        return int(v)

    names = (get("AOAI_REGIONS") or "").replace(",", " ").split()
    if not names:
        errors.append("AOAI_REGIONS: no region listed (e.g. "
                      "AOAI_REGIONS=\"eastus swedencentral\")")
    if len(set(names)) != len(names):
        errors.append("AOAI_REGIONS: a region is listed twice")
    deployment = get("AOAI_DEPLOYMENT", "gpt-4o")
    emb = get("AOAI_EMBEDDINGS_DEPLOYMENT")
    cfg = {
        "api_version": get("AOAI_API_VERSION", "2024-06-01"),
        "deployment": deployment,
        "embeddings_deployment": emb,
        "requests": integer("AOAI_REQUESTS", 50, 1, 1000),
        "threads": integer("AOAI_THREADS", 4, 1, 32),
        "regions": [],
    }
    name_re = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
    dep_re = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
    for k in ("deployment", "embeddings_deployment"):
        if cfg[k] and not dep_re.fullmatch(cfg[k]):
            errors.append("AOAI_%s: not a deployment name: %r"
                          % (k.upper(), cfg[k]))
    if not re.fullmatch(r"[0-9A-Za-z.-]{1,32}", cfg["api_version"]):
        errors.append("AOAI_API_VERSION: %r" % cfg["api_version"])
    for name in names:
        if not name_re.fullmatch(name):
            errors.append("AOAI_REGIONS: %r is not a usable server name "
                          "(letters, digits, . _ -)" % name)
            continue
        p = "AOAI_%s_" % env_name(name)
        endpoint = get(p + "ENDPOINT")
        key = get(p + "API_KEY")
        host, port = None, 443
        if not endpoint:
            errors.append("%sENDPOINT: missing (https://<resource>."
                          "openai.azure.com)" % p)
        else:
            u = urllib.parse.urlsplit(endpoint)
            if u.scheme != "https" or not u.hostname or (
                    u.path not in ("", "/")) or u.query:
                errors.append("%sENDPOINT: expected https://HOST[:PORT]/, "
                              "got %r" % (p, endpoint))
            else:
                host, port = u.hostname, u.port or 443
                if not re.fullmatch(r"[A-Za-z0-9.-]+", host):
                    errors.append("%sENDPOINT: bad host %r" % (p, host))
        if not key:
            errors.append("%sAPI_KEY: missing (in the file or the "
                          "environment)" % p)
        elif not re.fullmatch(r"[!-~]+", key):
            errors.append("%sAPI_KEY: must be printable ASCII without "
                          "spaces" % p)
        r = {
            "name": name, "endpoint": endpoint, "host": host, "port": port,
            "api_key": key,
            "deployment": get(p + "DEPLOYMENT", deployment),
            "embeddings_deployment": get(p + "EMBEDDINGS_DEPLOYMENT", emb),
            "priority": integer(p + "PRIORITY", 1, 1, 100),
            "weight": integer(p + "WEIGHT", 1, 1, 1000),
        }
        for k in ("deployment", "embeddings_deployment"):
            if r[k] and not dep_re.fullmatch(r[k]):
                errors.append("%s%s: not a deployment name: %r"
                              % (p, k.upper(), r[k]))
        cfg["regions"].append(r)
    if errors:
        raise ConfigError("; ".join(errors))
    return cfg


# ---- HAProxy configuration ----------------------------------------------

def _sections(text):
    """Splits a HAProxy configuration into [(header line or "", text)]:
    each section starts at a non-indented keyword line; comments and blank
    lines before a section belong to it."""
    out = []
    cur_head, cur = "", []
    pending = []
    for line in text.splitlines(keepends=True):
        s = line.strip()
        if line[:1] not in (" ", "\t") and s and not s.startswith("#") \
                and not s.startswith("."):
            out.append((cur_head, "".join(cur)))
            cur_head, cur = s, pending + [line]
            pending = []
        elif not s or (s.startswith("#") and line[:1] == "#"):
            pending.append(line)
        else:
            cur.extend(pending)
            pending = []
            cur.append(line)
    cur.extend(pending)
    out.append((cur_head, "".join(cur)))
    return out


def _replace_line(text, pattern, repl, what, count=1):
    new, n = re.subn(pattern, repl, text, flags=re.M)
    if n < count:
        raise ConfigError("haproxy-conf/haproxy.cfg changed: cannot find "
                          "%s (%s)" % (what, pattern))
    return new


def _q(path):
    return '"%s"' % path


def render_haproxy(cfg, run_dir, fe_port, agent_addr, ports, keys_map,
                   clients_map, spoe_conf, source=PROD_CFG):
    """The production haproxy.cfg adapted to run here (see module doc).
    ports: {region: (shim_port, upstream_port)}. Returns the text."""
    with open(source) as f:
        text = f.read()
    secs = _sections(text)
    heads = [h for h, _ in secs]
    tmpl_region = tmpl_upstream = None
    for h, body in secs:
        if h.startswith("listen region-%s " % TEMPLATE_REGION):
            tmpl_region = body
        elif h.startswith("listen upstream-%s " % TEMPLATE_REGION):
            tmpl_upstream = body
    if not tmpl_region or not tmpl_upstream:
        raise ConfigError("haproxy-conf/haproxy.cfg changed: no "
                          "region-eastus/upstream-eastus pair to copy")
    out = ["# RENDERED by tests/lab/azure.py from haproxy-conf/haproxy.cfg "
           "for the lab's\n# real Azure OpenAI mode. Do not edit: "
           "re-rendered on every run.\n"]
    regions_done = False
    for h, body in secs:
        if h == "":
            continue  # the file's leading comment
        if h == "global":
            body = body[body.index("global"):]  # not the file's header
            body = re.sub(r"^\s*(chroot|user|group|daemon)\b.*\n", "",
                          body, flags=re.M)
            body = re.sub(r"^(\s*)log /dev/log local0\n",
                          r"\1log stdout format raw local0 info\n", body,
                          flags=re.M)
            body = re.sub(r"^\s*log /dev/log local1 notice\n", "", body,
                          flags=re.M)
            # production's maxconn needs ~2 descriptors per connection;
            # the lab's machine may not allow that many
            body = re.sub(r"^(\s*)maxconn \d+", r"\1maxconn 4096", body,
                          flags=re.M)
            body = _replace_line(
                body, r"^(\s*)stats socket \S+",
                lambda m: m.group(1) + "stats socket " + _q(
                    os.path.join(run_dir, "haproxy.sock")),
                "the global stats socket")
        elif h.startswith("frontend aoai-front"):
            body = _replace_line(
                body, r"^(\s*)bind \S+ ssl .*$",
                lambda m: "%sbind 127.0.0.1:%d" % (m.group(1), fe_port),
                "the frontend's ssl bind")
            body = _replace_line(body, r"/etc/haproxy/aoai-clients\.map",
                                 lambda m: clients_map, "the clients map",
                                 2)
        elif h.startswith("frontend stats"):
            continue
        elif h.startswith("backend aoai-spoa"):
            body = _replace_line(
                body, r"^(\s*server agent )\S+",
                lambda m: m.group(1) + agent_addr, "the agent server")
        elif h.startswith("backend aoai"):
            body = _replace_line(
                body, r"config /etc/haproxy/aoai-spoe\.conf",
                lambda m: "config " + _q(spoe_conf), "the SPOE file")
            lines = body.splitlines(keepends=True)
            first = next(i for i, l in enumerate(lines)
                         if l.strip().startswith("server "))
            lines = [l for l in lines if not l.strip().startswith("server ")]
            top = min(r["priority"] for r in cfg["regions"])
            srv = []
            for r in cfg["regions"]:
                srv.append("    server %s abns@aoai-region-%s weight %d%s track "
                           "upstream-%s/%s\n" % (
                               r["name"], r["name"], r["weight"],
                               " backup" if r["priority"] > top else "",
                               r["name"], r["name"]))
            body = "".join(lines[:first] + srv + lines[first:])
        elif h.startswith("listen region-") or h.startswith(
                "listen upstream-"):
            if regions_done:
                continue
            regions_done = True
            for r in cfg["regions"]:
                out.append(_region_pair(r, cfg, tmpl_region, tmpl_upstream,
                                        ports[r["name"]], keys_map,
                                        spoe_conf))
            continue
        out.append(body)
    text = "".join(out)
    live = "".join(l for l in text.splitlines(keepends=True)
                   if not l.lstrip().startswith("#"))
    for bad in ("/etc/haproxy", "example-", "/dev/log", " ssl crt "):
        if bad in live:
            raise ConfigError("rendering left %r in the configuration "
                              "(haproxy-conf/haproxy.cfg changed?)" % bad)
    if not any(h.split()[:2] == ["backend", "aoai"] for h in heads):
        raise ConfigError("no backend aoai in haproxy-conf/haproxy.cfg")
    return text


def _region_pair(r, cfg, tmpl_region, tmpl_upstream, ports, keys_map,
                 spoe_conf):
    shim, up = ports
    text = tmpl_region + tmpl_upstream
    # drop the template's own comments and deployment rewrites
    text = "".join(l for l in text.splitlines(keepends=True)
                   if not l.lstrip().startswith("#"))
    text = re.sub(r"^\s*http-request replace-path .*\n", "", text,
                  flags=re.M)
    text = text.replace(TEMPLATE_HOST + ":443", "@HOSTPORT@")
    text = text.replace(TEMPLATE_HOST, "@HOST@")
    text = re.sub(r"127\.0\.0\.1:181\d\d", "127.0.0.1:%d" % shim, text)
    text = re.sub(r"127\.0\.0\.1:182\d\d", "127.0.0.1:%d" % up, text)
    text = text.replace("/etc/haproxy/aoai-keys.map", keys_map)
    text = text.replace("/etc/haproxy/aoai-spoe.conf", _q(spoe_conf))
    text = re.sub(r"(?<![A-Za-z0-9_.-])%s(?![A-Za-z0-9_.-])"
                  % re.escape(TEMPLATE_REGION), r["name"], text)
    text = re.sub(r"(region|upstream)-%s\b" % re.escape(TEMPLATE_REGION),
                  lambda m: "%s-%s" % (m.group(1), r["name"]), text)
    text = text.replace("@HOSTPORT@", "%s:%d" % (r["host"], r["port"]))
    text = text.replace("@HOST@", r["host"])
    rewrites = []
    for client, region in ((cfg["deployment"], r["deployment"]),
                           (cfg["embeddings_deployment"],
                            r["embeddings_deployment"])):
        if client and region and client != region:
            rewrites.append(
                "    http-request replace-path ^/openai/deployments/%s/(.*)$"
                " /openai/deployments/%s/\\1\n"
                % (client.replace(".", "\\."), region))
    if rewrites:
        # before the upstream's server line
        idx = text.rfind("    server %s " % r["name"])
        text = text[:idx] + "".join(rewrites) + text[idx:]
    return "\n# region %s: %s\n" % (r["name"], r["endpoint"]) + text


def keys_map_text(cfg):
    return "".join("%s %s\n" % (r["name"], r["api_key"])
                   for r in cfg["regions"])


# ---- agent configuration --------------------------------------------------

def render_agent_yaml(cfg, source=LAB_YAML):
    """The lab's agent YAML (listen/control/metrics/haproxy/defaults kept;
    labenv rewrites its addresses) with the configured backends and pools."""
    with open(source) as f:
        text = f.read()
    i = text.find("\nbackends:")
    if i < 0:
        raise ConfigError("haproxy-conf/lab/aoai-spoa.yaml changed: no "
                          "top-level backends:")
    out = [text[:i + 1], "# RENDERED for the real Azure OpenAI mode\n",
           "backends:\n"]
    for r in cfg["regions"]:
        out.append("  - name: %s\n" % r["name"])
    out.append("\npools:\n")
    for pool in ("chat", "embeddings"):
        out.append("  - name: %s\n    members:\n" % pool)
        for r in cfg["regions"]:
            out.append("      - {backend: %s, priority: %d, weight: %d}\n"
                       % (r["name"], r["priority"], r["weight"]))
    return "".join(out)
