# SPDX-License-Identifier: Apache-2.0
"""Real Azure OpenAI mode of the lab: the configuration file and the
rendering of the production HAProxy configuration (the product's
"aoai-spoa haproxy-config", the command that renders haproxy-conf/haproxy.cfg)
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

render_haproxy() runs "aoai-spoa haproxy-config" on the agent YAML of
render_agent_yaml() (one backend per region with its upstream endpoint and
deployment rename, the pools with the weights and priorities), so the
regions, weights and backup tier are the product's rendering, and changes
only what a run on this machine needs: no chroot/user/daemon, logs on
stdout, maxconn 4096, one stats socket, the SPOE file and the maps in the
run folder, a plain HTTP client-side bind on 127.0.0.1 (the gateway's
certificate is not needed to test routing), no stats frontend, the agent's
address, an endpoint port other than 443. The YAML carries one deployment
rename per region; when a region renames both the chat and the embeddings
deployment, the second replace-path line is added here.
"""
import os
import re
import shlex
import subprocess
import urllib.parse

ROOT = os.environ.get("AOAI_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_YAML = os.path.join(ROOT, "haproxy-conf/lab/aoai-spoa.yaml")
AGENT_BIN = os.environ.get("AOAI_SPOA") or os.path.join(ROOT,
                                                        "build/aoai-spoa")


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
            # HAProxy's server weights: at most 256
            "weight": integer(p + "WEIGHT", 1, 1, 256),
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

def _replace_line(text, pattern, repl, what, count=1):
    new, n = re.subn(pattern, repl, text, flags=re.M)
    if n < count:
        raise ConfigError("aoai-spoa haproxy-config changed: cannot find "
                          "%s (%s)" % (what, pattern))
    return new


def _q(path):
    return '"%s"' % path


def render_haproxy(cfg, run_dir, fe_port, agent_addr, ports, keys_map,
                   clients_map, spoe_conf, agent_bin=None):
    """The product's rendering ("aoai-spoa haproxy-config" on the agent
    YAML of render_agent_yaml()) with the lab's overrides (see module doc).
    ports: unused (the hops are abstract sockets). Returns the text."""
    del ports
    yaml_path = os.path.join(run_dir, "haproxy-config-input.yaml")
    with open(yaml_path, "w") as f:
        f.write(render_agent_yaml(cfg))
    agent_bin = agent_bin or AGENT_BIN
    p = subprocess.run([agent_bin, "haproxy-config", "-f", yaml_path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=60)
    if p.returncode != 0:
        raise ConfigError("%s haproxy-config: %s" % (
            agent_bin, p.stderr.decode("utf-8", "replace").strip()))
    text = p.stdout.decode()
    # the lab's overrides: no chroot, user or daemon, logs on stdout, a
    # maxconn the machine allows, one stats socket in the run folder, a
    # plain client bind on loopback, no stats frontend, files in the run
    # folder, the agent where labenv runs it, the endpoints' ports
    text = re.sub(r"^\s*(chroot|user|group|daemon)\b.*\n", "", text,
                  flags=re.M)
    text = _replace_line(text, r"^(\s*)log /dev/log local0\n",
                         r"\1log stdout format raw local0 info\n",
                         "the global log")
    text = re.sub(r"^\s*log /dev/log local1 notice\n", "", text, flags=re.M)
    text = _replace_line(text, r"^(\s*)maxconn \d+", r"\1maxconn 4096",
                         "maxconn")
    text = _replace_line(text, r"^\s*stats socket /run/haproxy/admin\.sock"
                         r".*\n", "", "the admin stats socket")
    text = _replace_line(
        text, r"^(\s*)stats socket \S+ .*$",
        lambda m: "%sstats socket %s mode 600 level admin" % (
            m.group(1), _q(os.path.join(run_dir, "haproxy.sock"))),
        "the agent's stats socket")
    text = _replace_line(
        text, r"^(\s*)bind \S+ ssl .*$",
        lambda m: "%sbind 127.0.0.1:%d" % (m.group(1), fe_port),
        "the frontend's ssl bind")
    text = re.sub(r"\nfrontend stats\n(    .*\n)+", "\n", text)
    text = _replace_line(text, r"/etc/haproxy/aoai-clients\.map",
                         lambda m: clients_map, "the clients map", 2)
    text = _replace_line(text, r"config /etc/haproxy/aoai-spoe\.conf",
                         lambda m: "config " + _q(spoe_conf), "the SPOE file",
                         1 + len(cfg["regions"]))
    text = _replace_line(text, r"/etc/haproxy/aoai-keys\.map",
                         lambda m: keys_map, "the keys map",
                         len(cfg["regions"]))
    text = _replace_line(text, r"^(\s*server agent )\S+",
                         lambda m: m.group(1) + agent_addr, "the agent server")
    for r in cfg["regions"]:
        if r["port"] != 443:
            text = text.replace(" %s:443 " % r["host"],
                                " %s:%d " % (r["host"], r["port"]))
        # one rename per backend is what the YAML says: a second one (the
        # embeddings deployment) is added here
        emb, remb = cfg["embeddings_deployment"], r["embeddings_deployment"]
        if emb and remb and emb != remb and _rename(cfg, r):
            text = _replace_line(
                text, r"^(    server %s %s:)" % (re.escape(r["name"]),
                                                 re.escape(r["host"])),
                lambda m: "    http-request replace-path "
                "^/openai/deployments/%s/(.*)$ /openai/deployments/%s/\\1\n"
                % (emb.replace(".", "\\."), remb) + m.group(1),
                "the upstream server of %s" % r["name"])
    text = ("# RENDERED by tests/lab/azure.py through aoai-spoa "
            "haproxy-config for the lab's\n# real Azure OpenAI mode. Do not "
            "edit: re-rendered on every run.\n") + text
    live = "".join(l for l in text.splitlines(keepends=True)
                   if not l.lstrip().startswith("#"))
    for bad in ("/etc/haproxy", "example-", "/dev/log", " ssl crt "):
        if bad in live:
            raise ConfigError("rendering left %r in the configuration "
                              "(aoai-spoa haproxy-config changed?)" % bad)
    return text


def _rename(cfg, r):
    """The (client, region) deployment rename the YAML carries for region
    <r>, or None: the chat deployment's, else the embeddings one's."""
    for client, region in ((cfg["deployment"], r["deployment"]),
                           (cfg["embeddings_deployment"],
                            r["embeddings_deployment"])):
        if client and region and client != region:
            return client, region
    return None


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
        out.append("  - name: %s\n    upstream:\n      endpoint: %s\n"
                   % (r["name"], r["host"]))
        rename = _rename(cfg, r)
        if rename:
            out.append("      client_deployment: %s\n      deployment: %s\n"
                       % rename)
    out.append("\npools:\n")
    for pool in ("chat", "embeddings"):
        out.append("  - name: %s\n    members:\n" % pool)
        for r in cfg["regions"]:
            out.append("      - {backend: %s, priority: %d, weight: %d}\n"
                       % (r["name"], r["priority"], r["weight"]))
    return "".join(out)
