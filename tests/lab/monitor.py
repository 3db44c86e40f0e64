# SPDX-License-Identifier: Apache-2.0
"""HAProxy's own Prometheus exporter next to the lab, and a Prometheus
that scrapes the lab (Debian's `prometheus` package), for the monitoring
test (tests/e2e/test_monitoring.py) and the kept-up lab (`make lab`).

    cfg = monitor.haproxy_cfg_with_exporter(folder, port)
    lab = labenv.Lab(haproxy_cfg=cfg)          # HAProxy /metrics on port
    prom = monitor.Prometheus(folder, targets, rules=[path]).start()
    prom.query("up"); prom.query_range(expr, t0, t1); prom.rules()
    prom.stop()

Everything listens on 127.0.0.1; Prometheus keeps its data in <folder>.
Standard library only.
"""
import json
import os
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import labenv

PROMETHEUS_BIN = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL_BIN = os.environ.get("PROMTOOL", "/usr/bin/promtool")
MONITORING_DIR = os.path.join(labenv.ROOT, "docs", "monitoring")
DASHBOARD = os.path.join(MONITORING_DIR, "aoai-spoa.dashboard.json")
RULES = os.path.join(MONITORING_DIR, "aoai-spoa.rules.yml")
RULES_TEST = os.path.join(MONITORING_DIR, "aoai-spoa.rules.test.yml")

# Job names the shipped rules expect (docs/monitoring/aoai-spoa.rules.yml).
AGENT_JOB = "aoai-spoa"
HAPROXY_JOB = "haproxy"

# Its own defaults section: the file's last one (whatever it is) is not
# inherited.
EXPORTER_FRONTEND = """
# added by tests/lab/monitor.py: HAProxy's own Prometheus exporter
defaults prometheus-exporter
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout http-request 5s

frontend prometheus from prometheus-exporter
    bind 127.0.0.1:%d
    no log
    http-request use-service prometheus-exporter if { path /metrics }
    http-request return status 404
"""


def haproxy_cfg_with_exporter(folder, port, base=labenv.LAB_CFG):
    """Writes <folder>/haproxy-prom.cfg: the lab configuration plus a
    frontend serving HAProxy's exporter on 127.0.0.1:<port>. Returns its
    path."""
    with open(base) as f:
        text = f.read()
    path = os.path.join(folder, "haproxy-prom.cfg")
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n" + EXPORTER_FRONTEND % port)
    return path


class PrometheusError(RuntimeError):
    pass


class Prometheus:
    """One Prometheus server: scrape targets {job: "host:port"} every
    <interval>, rules evaluated as often."""

    def __init__(self, folder, targets, rules=(), interval="1s"):
        self.folder = folder
        self.targets = dict(targets)
        self.rules = list(rules)
        self.interval = interval
        self.port = 0
        self.proc = None
        self.log_path = os.path.join(folder, "prometheus.log")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def config_text(self):
        lines = ["global:",
                 "  scrape_interval: %s" % self.interval,
                 "  scrape_timeout: %s" % self.interval,
                 "  evaluation_interval: %s" % self.interval]
        if self.rules:
            lines.append("rule_files:")
            lines += ["  - %s" % json.dumps(r) for r in self.rules]
        lines.append("scrape_configs:")
        for job, addr in sorted(self.targets.items()):
            lines += ["  - job_name: %s" % json.dumps(job),
                      "    static_configs:",
                      "      - targets: [%s]" % json.dumps(addr)]
        return "\n".join(lines) + "\n"

    def start(self, timeout=30.0):
        cfg = os.path.join(self.folder, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(self.config_text())
        self.port = labenv.free_port()
        argv = [PROMETHEUS_BIN, "--config.file=" + cfg,
                "--storage.tsdb.path=" + os.path.join(self.folder,
                                                      "prom-data"),
                "--web.listen-address=127.0.0.1:%d" % self.port,
                "--log.level=warn"]
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                return True
            try:
                with urllib.request.urlopen(self.url + "/-/ready",
                                            timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        labenv.wait_until(ready, timeout, 0.1)
        if self.proc.poll() is not None or not ready():
            raise PrometheusError("prometheus did not start: %s" %
                                  self.log_tail())
        return self

    def log_tail(self, n=2000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout=10.0):
        """SIGTERM, SIGKILL after <timeout>; returns the exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def api(self, path, **params):
        """GET /api/v1/<path>; returns the decoded JSON (status "success"
        or "error", as Prometheus answered)."""
        url = "%s/api/v1/%s?%s" % (self.url, path,
                                   urllib.parse.urlencode(params))
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:  # 400/422 carry the error
            return json.loads(exc.read() or b"{}")

    def query(self, expr, at=None):
        kw = {"query": expr}
        if at is not None:
            kw["time"] = "%.3f" % at
        return self.api("query", **kw)

    def query_range(self, expr, start, end, step=1.0):
        return self.api("query_range", query=expr, start="%.3f" % start,
                        end="%.3f" % end, step="%g" % step)

    def rule_groups(self):
        return self.api("rules").get("data", {}).get("groups", [])

    def scraped(self, job):
        """True once a scrape of <job> succeeded."""
        r = self.query('up{job="%s"}' % job)
        return any(s["value"][1] == "1"
                   for s in r.get("data", {}).get("result", []))


def dashboard_exprs(dash):
    """[(panel title, refId, expr)] of every target of the dashboard,
    rows' nested panels included."""
    out = []

    def walk(panels):
        for p in panels:
            for tg in p.get("targets", []):
                if "expr" in tg:
                    out.append((p.get("title"), tg.get("refId"),
                                tg["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    return out


def substitute(expr, rate_interval="15s"):
    """The expression as Grafana would send it with every variable at
    "All" (the regex of the values it found: one job each here) and
    $__rate_interval set."""
    for k, v in (("$__rate_interval", rate_interval),
                 ("$haproxy_job", "(%s)" % HAPROXY_JOB),
                 ("$instance", ".+"), ("$job", "(%s)" % AGENT_JOB),
                 ("$proxy", "aoai")):
        expr = expr.replace(k, v)
    return expr
