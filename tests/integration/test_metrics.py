#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prometheus metrics: the text exposition format validated by a
strict parser, values checked against SPOP traffic, the HTTP listener
(GET/HEAD /metrics, errors, limits) and "show metrics" on the control
socket. promtool is used too when it is installed (Debian: prometheus).
"""
import math
import os
import re
import shutil
import socket
import subprocess
import time

import harness as H
import itest

CFG = """\
agent:
  log_level: info
listen:
  - tcp://127.0.0.1:{port}
control: unix://{dir}/ctl.sock
metrics: tcp://127.0.0.1:{mport}
backends:
  - name: eastus
    circuit_breaker:
      failure:
        count: 3
        interval: 10s
      trip_duration: 1m
  - name: swedencentral
  - name: westus-payg
pools:
  - name: chat
    members:
      - {{backend: eastus, priority: 1, weight: 3}}
      - {{backend: swedencentral, priority: 1, weight: 1}}
      - {{backend: westus-payg, priority: 2, weight: 1}}
"""

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
                   r'\s*(,|\})')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(Exception):
    pass


def parse_value(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.match(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$", s):
        raise FormatError("bad value %r" % s)
    return float(s)


def parse(text):
    """Strict text format 0.0.4 parser. Returns {family: {"type", "help",
    "samples": [(name, {labels}, value)]}}; raises FormatError."""
    if not text.endswith("\n"):
        raise FormatError("no final newline")
    fams, order, cur = {}, [], None
    seen_series = set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line[:120])
        if line == "":
            raise FormatError("empty line; " + where)
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (\S+) (.*)$", line)
            if not m:
                raise FormatError("bad comment; " + where)
            kind, name, rest = m.groups()
            if not NAME.match(name):
                raise FormatError("bad name; " + where)
            f = fams.get(name)
            if f is None:
                if cur is not None and name in order:
                    raise FormatError("family split; " + where)
                f = fams[name] = {"type": None, "help": None,
                                  "samples": []}
                order.append(name)
            elif cur != name:
                raise FormatError("family split; " + where)
            if f["samples"]:
                raise FormatError("%s after samples; %s" % (kind, where))
            if kind == "HELP":
                if f["help"] is not None:
                    raise FormatError("second HELP; " + where)
                if re.search(r"\\[^\\n]", rest.replace("\\\\", "")):
                    raise FormatError("bad escape in HELP; " + where)
                f["help"] = rest
            else:
                if f["type"] is not None or rest not in TYPES:
                    raise FormatError("bad TYPE; " + where)
                f["type"] = rest
            cur = name
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^\n]*\})? (\S+)$",
                     line)
        if not m:
            raise FormatError("bad sample; " + where)
        sname, lab, val = m.groups()
        labels = {}
        if lab:
            body, pos = lab[1:], 0
            if body != "}":
                while True:
                    lm = LABEL.match(body, pos)
                    if not lm:
                        raise FormatError("bad labels; " + where)
                    if lm.group(1) in labels:
                        raise FormatError("duplicate label; " + where)
                    labels[lm.group(1)] = lm.group(2)
                    pos = lm.end()
                    if lm.group(3) == "}":
                        break
                if pos != len(body):
                    raise FormatError("junk after labels; " + where)
        value = parse_value(val)
        fam = cur
        if fam is None:
            raise FormatError("sample outside a family; " + where)
        ftype = fams[fam]["type"]
        allowed = {fam}
        if ftype == "histogram":
            allowed = {fam + "_bucket", fam + "_sum", fam + "_count"}
        if sname not in allowed:
            raise FormatError("sample %s not of family %s; %s"
                              % (sname, fam, where))
        key = (sname, tuple(sorted(labels.items())))
        if key in seen_series:
            raise FormatError("duplicate series; " + where)
        seen_series.add(key)
        fams[fam]["samples"].append((sname, labels, value))
    for name, f in fams.items():
        if f["type"] is None or f["help"] is None:
            raise FormatError("%s: missing TYPE or HELP" % name)
        if f["type"] == "counter":
            if not name.endswith("_total"):
                raise FormatError("counter %s without _total" % name)
            if any(v < 0 or math.isnan(v) for _, _, v in f["samples"]):
                raise FormatError("counter %s negative" % name)
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
        if name.endswith("_total") and f["type"] != "counter":
            raise FormatError("%s ends in _total but is a %s"
                              % (name, f["type"]))
    return fams


def check_histogram(name, samples):
    groups = {}
    for sname, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None,
                                     "count": None})
        if sname.endswith("_bucket"):
            if "le" not in labels:
                raise FormatError("%s: bucket without le" % name)
            g["buckets"].append((parse_value(labels["le"]), v))
        elif sname.endswith("_sum"):
            g["sum"] = v
        else:
            g["count"] = v
    for g in groups.values():
        b = g["buckets"]
        les = [le for le, _ in b]
        if not b or les != sorted(les) or les[-1] != float("inf"):
            raise FormatError("%s: buckets not ascending to +Inf" % name)
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise FormatError("%s: buckets not cumulative" % name)
        if g["count"] is None or g["sum"] is None \
                or b[-1][1] != g["count"]:
            raise FormatError("%s: +Inf bucket != _count" % name)


def value(fams, name, **labels):
    """The value of sample <name> (any family) with these labels."""
    for f in fams.values():
        for sname, lab, v in f["samples"]:
            if sname == name and all(lab.get(k) == x
                                     for k, x in labels.items()):
                return v
    return None


def http(port, raw, timeout=5.0):
    s = socket.create_connection((H.LOCAL, port), timeout)
    try:
        s.sendall(raw)
        out = H.recv_all(s)
        return out
    finally:
        s.close()


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def scrape(mport):
    raw = http(mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    return split_response(raw)


def main():
    t = H.Tap()
    with H.Procs() as procs:
        agents = itest.Agents(t, procs)
        port, mport = H.free_port(), H.free_port()
        ctl = os.path.join(procs.dir, "ctl.sock")
        agents.start(CFG.format(port=port, mport=mport, dir=procs.dir), port)
        H.wait_until(lambda: os.path.exists(ctl), 5)

        # -- HTTP: the happy path and the format
        status, hdrs, body = scrape(mport)
        t.eq(status, 200, "GET /metrics: 200")
        t.eq(hdrs.get("content-type"),
             "text/plain; version=0.0.4; charset=utf-8",
             "content type of the text format 0.0.4")
        t.eq(int(hdrs.get("content-length", -1)), len(body),
             "Content-Length matches the body")
        t.eq(hdrs.get("connection"), "close", "Connection: close")
        text = body.decode()
        try:
            fams = parse(text)
            t.ok(True, "exposition parses strictly (%d families)"
                 % len(fams))
        except FormatError as exc:
            fams = {}
            t.ok(False, "exposition parses strictly", exc)
        t.ok(all(n.startswith("aoai_spoa_") for n in fams),
             "every metric is prefixed aoai_spoa_")
        want = {
            "aoai_spoa_backend_state": "gauge",
            "aoai_spoa_backend_trips_total": "counter",
            "aoai_spoa_backend_cooldown_remaining_seconds": "gauge",
            "aoai_spoa_backend_decisions_total": "counter",
            "aoai_spoa_backend_results_total": "counter",
            "aoai_spoa_backend_weight_ratio": "gauge",
            "aoai_spoa_pool_decisions_total": "counter",
            "aoai_spoa_pool_member_effective_weight": "gauge",
            "aoai_spoa_connections": "gauge",
            "aoai_spoa_frames_in_total": "counter",
            "aoai_spoa_frames_out_total": "counter",
            "aoai_spoa_disconnects_sent_total": "counter",
            "aoai_spoa_decision_duration_seconds": "histogram",
            "aoai_spoa_backend_response_time_seconds": "histogram",
            "aoai_spoa_backend_decision_to_result_seconds": "histogram",
            "aoai_spoa_backend_remaining_requests": "gauge",
            "aoai_spoa_backend_remaining_tokens": "gauge",
            "aoai_spoa_backend_remaining_requests_age_seconds": "gauge",
            "aoai_spoa_backend_remaining_tokens_age_seconds": "gauge",
        }
        missing = {k: v for k, v in want.items()
                   if fams.get(k, {}).get("type") != v}
        t.ok(not missing, "the documented families are there, typed",
             missing)
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"], input=body,
                               capture_output=True)
            t.ok(r.returncode == 0, "promtool check metrics",
                 r.stdout + r.stderr)

        # -- values follow traffic
        c = itest.active(port)
        for i in range(40):
            itest.route(c, 1, i + 1)
        t.eq(value(fams, "aoai_spoa_backend_response_time_seconds_count",
                 backend="eastus"), 0.0,
             "latency histogram: one series set per backend, empty")
        t.eq(value(fams, "aoai_spoa_backend_remaining_requests_age_seconds",
                   backend="eastus"), None,
             "no quota seen yet: no age sample")
        t.eq(value(fams, "aoai_spoa_backend_decision_to_result_seconds_"
                   "count", backend="eastus"), 0.0,
             "decision-to-result histogram: one per backend, empty")
        bad_before = value(fams, "aoai_spoa_bad_value_total")
        durs = ["20", "120", ("INT64", 120), "800", "3000"]
        # two bad values: a negative integer, a word
        since = ["25", ("INT64", 130), "900", ("INT64", -4), "soon"]
        for i in range(5):
            itest.send_result(c, 2, i + 1, "swedencentral", 200,
                              duration_ms=durs[i],
                              since_decision_ms=since[i],
                              remaining_requests="4990",
                              remaining_tokens="812345")
        itest.send_result(c, 3, 1, "swedencentral", 429,
                          retry_after_ms="30000",
                          since_decision_ms=("INT64", 30500))
        for i in range(3):
            itest.send_result(c, 4, i + 1, "eastus", 503)
        _, _, body = scrape(mport)
        fams = parse(body.decode())
        t.eq(value(fams, "aoai_spoa_backend_decisions_total",
                   backend="eastus"), 30.0, "decisions per backend")
        t.eq(value(fams, "aoai_spoa_pool_decisions_total", pool="chat",
                   reason="weighted"), 40.0, "pool decisions by reason")
        t.eq(value(fams, "aoai_spoa_backend_results_total",
                   backend="swedencentral", **{"class": "2xx"}), 5.0,
             "results by status class: 2xx")
        t.eq(value(fams, "aoai_spoa_backend_results_total",
                   backend="swedencentral", **{"class": "throttle"}), 1.0,
             "results by status class: throttle")
        t.eq(value(fams, "aoai_spoa_backend_results_total",
                   backend="eastus", **{"class": "5xx"}), 3.0,
             "results by status class: 5xx")
        t.eq(value(fams, "aoai_spoa_backend_trips_total", backend="eastus"),
             1.0, "three 5xx trip eastus: trips counted")
        t.eq(value(fams, "aoai_spoa_backend_state", backend="eastus",
                   state="open"), 1.0, "state gauge: open is 1")
        t.eq(sum(value(fams, "aoai_spoa_backend_state", backend="eastus",
                       state=s) for s in ("closed", "open", "cooling",
                                          "half-open")), 1.0,
             "state gauge: exactly one state is 1")
        left = value(fams, "aoai_spoa_backend_cooldown_remaining_seconds",
                     backend="eastus")
        t.ok(left is not None and 55 < left <= 60,
             "cooldown remaining in seconds", left)
        cool = value(fams, "aoai_spoa_backend_cooldown_remaining_seconds",
                     backend="swedencentral")
        t.ok(cool is not None and 25 < cool <= 33
             and value(fams, "aoai_spoa_backend_state",
                       backend="swedencentral", state="cooling") == 1.0,
             "429 with retry-after-ms: cooling, seconds remaining", cool)
        t.eq(value(fams, "aoai_spoa_backend_weight_ratio", backend="eastus"),
             0.0, "an open backend has weight ratio 0")
        t.eq(value(fams, "aoai_spoa_pool_member_effective_weight",
                   pool="chat", backend="westus-payg"), 1.0,
             "effective weight of the member still available")
        t.eq(value(fams, "aoai_spoa_pool_member_effective_weight",
                   pool="chat", backend="eastus"), 0.0,
             "effective weight 0 while open")
        lat = {le: value(fams,
                         "aoai_spoa_backend_response_time_seconds_bucket",
                         backend="swedencentral", le=le)
               for le in ("0.010", "0.025", "0.050", "0.100", "0.250",
                          "1.000", "5.000", "+Inf")}
        t.eq(lat, {"0.010": 0.0, "0.025": 1.0, "0.050": 1.0, "0.100": 1.0,
                   "0.250": 3.0, "1.000": 4.0, "5.000": 5.0, "+Inf": 5.0},
             "latency buckets per backend, cumulative, le in seconds")
        t.eq(value(fams, "aoai_spoa_backend_response_time_seconds_sum",
                   backend="swedencentral"), 4.06,
             "latency sum in seconds (20+120+120+800+3000 ms)")
        t.eq(value(fams, "aoai_spoa_backend_response_time_seconds_count",
                   backend="eastus"), 0.0,
             "503 results without duration_ms are not timed")
        name = "aoai_spoa_backend_decision_to_result_seconds"
        dl = {le: value(fams, name + "_bucket", backend="swedencentral",
                        le=le)
              for le in ("0.010", "0.025", "0.250", "1.000", "30.000",
                         "60.000", "+Inf")}
        t.eq(dl, {"0.010": 0.0, "0.025": 1.0, "0.250": 2.0, "1.000": 3.0,
                  "30.000": 3.0, "60.000": 4.0, "+Inf": 4.0},
             "decision-to-result buckets: the latency's bounds, the "
             "throttled attempt counted too")
        t.eq(value(fams, name + "_sum", backend="swedencentral"), 31.555,
             "decision-to-result sum in seconds (25+130+900+30500 ms)")
        t.eq(value(fams, name + "_count", backend="swedencentral"), 4.0,
             "decision-to-result count: the bad values not timed")
        t.eq(value(fams, "aoai_spoa_bad_value_total") - (bad_before or 0),
             2.0, "a negative and a garbage since_decision_ms: bad_value")
        t.eq(value(fams, "aoai_spoa_backend_remaining_requests",
                   backend="swedencentral"), 4990.0,
             "remaining requests gauge: the last value Azure sent")
        t.eq(value(fams, "aoai_spoa_backend_remaining_tokens",
                   backend="swedencentral"), 812345.0,
             "remaining tokens gauge: the last value Azure sent")
        for h in ("requests", "tokens"):
            age = value(fams, "aoai_spoa_backend_remaining_%s_age_seconds"
                        % h, backend="swedencentral")
            t.ok(age is not None and 0 <= age < 60,
                 "age of the remaining %s in seconds" % h, age)
        hist = value(fams, "aoai_spoa_decision_duration_seconds_count")
        t.ok(hist is not None and hist >= 2, "decision latency histogram "
             "counts sampled decisions", hist)
        t.eq(value(fams, "aoai_spoa_connections"), 1.0,
             "open SPOP connections gauge")
        t.ok(value(fams, "aoai_spoa_frames_in_total") >= 50
             and value(fams, "aoai_spoa_frames_out_total") >= 50,
             "frames in/out counted")
        # every member unavailable: exhausted decisions
        for i in range(3):
            itest.route(c, 5, i + 1)
        ex = parse(scrape(mport)[2].decode())
        t.ok(value(ex, "aoai_spoa_pool_decisions_total", pool="chat",
                   reason="spillover") == 3.0,
             "spillover decisions counted by reason")
        c.close()
        bad = itest.connect(port)
        bad.send(b"\x00\x00\x00\x03zzz")
        itest.expect_disconnect(bad)
        bad.close()
        fams = parse(scrape(mport)[2].decode())
        errs = sum(v for _s, lab, v in fams[
            "aoai_spoa_disconnects_sent_total"]["samples"]
            if lab["status"] != "0")
        t.ok(errs >= 1, "protocol errors by status code", errs)

        # -- the same exposition on the control socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(ctl)
        s.sendall(b"show metrics\n")
        out = H.recv_all(s)
        s.close()
        t.ok(out.endswith(b"\n\n"), "show metrics ends with the empty line")
        try:
            cf = parse(out.decode()[:-1])
            t.ok(set(cf) == set(fams), "show metrics: same families, "
                 "strict format")
        except FormatError as exc:
            t.ok(False, "show metrics: strict format", exc)

        # -- HTTP corner cases
        st, h, b = split_response(http(mport, b"HEAD /metrics HTTP/1.1\r\n"
                                       b"\r\n"))
        t.ok(st == 200 and b == b"" and int(h["content-length"]) > 1000,
             "HEAD: headers only", (st, h))
        st, _, _ = split_response(http(mport, b"GET /metrics?x=1 HTTP/1.0"
                                       b"\r\n\r\n"))
        t.eq(st, 200, "HTTP/1.0 and a query string accepted")
        st, _, _ = split_response(http(mport, b"GET /metrics HTTP/1.1\n\n"))
        t.eq(st, 200, "bare LF line ends accepted")
        st, _, _ = split_response(http(mport, b"GET / HTTP/1.1\r\n\r\n"))
        t.eq(st, 404, "another path: 404")
        st, _, _ = split_response(http(mport, b"GET /metricsx HTTP/1.1\r\n"
                                       b"\r\n"))
        t.eq(st, 404, "/metricsx: 404")
        st, h, _ = split_response(http(mport, b"POST /metrics HTTP/1.1\r\n"
                                       b"Content-Length: 0\r\n\r\n"))
        t.ok(st == 405 and "GET" in h.get("allow", ""), "POST: 405 + Allow",
             (st, h))
        for raw in (b"garbage\r\n\r\n", b"GET /metrics\r\n\r\n",
                    b"GET /metrics SPDY/3\r\n\r\n"):
            st, _, _ = split_response(http(mport, raw))
            t.eq(st, 400, "malformed request line %r: 400" % raw[:20])
        st, _, _ = split_response(http(mport, b"GET /metrics HTTP/1.1\r\n"
                                       + b"X-Big: " + b"a" * 8000
                                       + b"\r\n\r\n"))
        t.eq(st, 431, "head over 4 KiB: 431")
        # a request in pieces
        s = socket.create_connection((H.LOCAL, mport), 5)
        for piece in (b"GET /met", b"rics HTT", b"P/1.1\r\nHost", b": x\r\n",
                      b"\r\n"):
            s.sendall(piece)
            time.sleep(0.05)
        out = H.recv_all(s)
        s.close()
        t.eq(split_response(out)[0], 200, "a request sent in pieces")
        # a client that closes before finishing its request
        s = socket.create_connection((H.LOCAL, mport), 5)
        s.sendall(b"GET /metrics HT")
        s.close()
        t.eq(scrape(mport)[0], 200, "a half request does not hurt")
        # many scrapers at once
        socks = []
        for _ in range(50):
            x = socket.create_connection((H.LOCAL, mport), 5)
            x.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            socks.append(x)
        oks = 0
        for x in socks:
            x.settimeout(10)
            data = H.recv_all(x)
            x.close()
            oks += split_response(data)[0] == 200
        t.eq(oks, 50, "50 concurrent scrapes answered")
        t.ok(itest.serves(port), "SPOP still served")
        agents.finish()
    t.done()


if __name__ == "__main__":
    main()
