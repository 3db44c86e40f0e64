#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""aoai-spoa-import-apim: Azure API Management backends, load-balanced pools
and circuit breakers (JSON exports) to an aoai-spoa.yaml.

Reads any number of JSON files, each one of:
  - "az apim backend show" / REST GET: one backend object;
  - "az apim backend list": a list of them, or REST's {"value": [...]};
  - an ARM template (or compiled Bicep): resources of type
    Microsoft.ApiManagement/service/backends, also nested under the service.
A backend object has its settings under "properties" (REST, ARM) or at the
top level (the Azure CLI flattens them). Writes the YAML on standard output
(or -o FILE) and, on standard error, every field it could not map or mapped
with a difference, with the reason. Credentials are never copied.

Python 3 standard library only.
"""
import argparse
import json
import re
import sys

VERSION = "0.1.0"
BACKEND_TYPE = "microsoft.apimanagement/service/backends"
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,63}$")
ISO_RE = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?"
                    r"(?:(\d+(?:\.\d+)?)S)?)?$")
SEC, MIN, HOUR, DAY = 1000, 60000, 3600000, 86400000

# aoai-spoa's ranges (aoai-spoa.yaml(5)), for what APIM allows beyond them.
RANGES = {
    "failure.interval": (SEC, HOUR),
    "trip_duration": (SEC, DAY),
    "failure.count": (0, 1000000),
    "failure.percentage": (0, 100),
    "priority": (1, 1000),
    "weight": (0, 1000),
}
# Fields that describe the connection to Azure: HAProxy's side.
HAPROXY_SIDE = {
    "url": "the region's endpoint: the server line of its upstream section "
           "in haproxy.cfg",
    "protocol": "HAProxy speaks HTTP/1.1 or HTTP/2 to Azure as haproxy.cfg "
                "says",
    "tls": "TLS verification is set on HAProxy's server line (verify, sni)",
    "proxy": "an outbound proxy is HAProxy's concern",
    "credentials": "keys live in HAProxy's aoai-keys.map, never in the "
                   "agent's file; values not copied",
    "resourceId": "informational",
    "title": "informational",
    "description": "informational",
    "properties": "Service Fabric settings do not apply",
    "azureRegion": "informational",
}
IGNORED_TOP = {"id", "name", "type", "apiVersion", "dependsOn", "parent",
               "scope", "condition", "comments", "etag", "systemData",
               "resourceGroup"}


class Report:
    """Collects what was not mapped, one line each."""

    def __init__(self):
        self.lines = []

    def add(self, where, field, reason):
        self.lines.append("%s: %s: %s" % (where, field, reason))


def iso_ms(text):
    """ISO 8601 duration (PT1M, PT0.5S, P1D) to milliseconds, or None."""
    if not isinstance(text, str):
        return None
    m = ISO_RE.match(text.strip().upper())
    if not m or text.strip().upper() in ("P", "PT"):
        return None
    w, d, h, mi, s = m.groups()
    ms = (int(w or 0) * 7 * DAY + int(d or 0) * DAY + int(h or 0) * HOUR +
          int(mi or 0) * MIN + round(float(s or 0) * SEC))
    return ms


def duration(ms):
    """Milliseconds as aoai-spoa's duration: the largest exact unit."""
    for unit, size in (("h", HOUR), ("m", MIN), ("s", SEC)):
        if ms % size == 0 and ms:
            return "%d%s" % (ms // size, unit)
    return "%dms" % ms


def clamp(report, where, field, key, value, show=str):
    lo, hi = RANGES[key]
    if value < lo or value > hi:
        new = min(max(value, lo), hi)
        report.add(where, field, "%s is outside aoai-spoa's %s..%s: %s "
                   "used" % (show(value), show(lo), show(hi), show(new)))
        return new
    return value


def last_segment(text):
    """Backend name of an id or ARM name: the part after the last '/'."""
    return text.rstrip("/").rsplit("/", 1)[-1]


def arm_name(name):
    """Name of an ARM resource, literal or a simple format()/concat()."""
    if not name.startswith("["):
        return last_segment(name)
    lits = re.findall(r"'([^']*)'", name)
    lits = [x.strip("/") for x in lits if x.strip("/") and "{" not in x]
    if lits and re.fullmatch(r"[A-Za-z0-9_.:-]+", lits[-1]):
        return lits[-1]
    return None


def collect(doc, source, out, report):
    """Appends (where, name, props) for each backend in <doc>."""
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            collect(item, "%s[%d]" % (source, i), out, report)
        return
    if not isinstance(doc, dict):
        report.add(source, "(document)", "not a JSON object or list: "
                   "ignored")
        return
    if isinstance(doc.get("value"), list):
        collect(doc["value"], source + ".value", out, report)
        return
    if isinstance(doc.get("resources"), (list, dict)) and \
            not doc.get("type", "").lower().endswith("/backends"):
        res = doc["resources"]
        items = res.items() if isinstance(res, dict) else enumerate(res)
        for key, r in items:
            where = "%s.resources[%s]" % (source, key)
            rtype = str(r.get("type", "")) if isinstance(r, dict) else ""
            low = rtype.lower()
            if low == BACKEND_TYPE or low == "backends":
                collect(r, where, out, report)
            elif low == "microsoft.apimanagement/service":
                collect({"resources": r.get("resources", [])}, where, out,
                        report)
            else:
                report.add(where, rtype or "(resource)", "not an API "
                           "Management backend: ignored")
        return
    t = str(doc.get("type", ""))
    if t and t.lower() not in (BACKEND_TYPE, "backends"):
        report.add(source, "type", "%s is not an API Management backend: "
                   "ignored" % t)
        return
    raw = doc.get("name")
    name = arm_name(raw) if isinstance(raw, str) else None
    if not name:
        report.add(source, "name", "no usable backend name (%r): backend "
                   "ignored" % (raw,))
        return
    props = doc.get("properties") if isinstance(doc.get("properties"),
                                                dict) else None
    if props is None or "pool" not in props and "url" not in props and \
            "circuitBreaker" not in props and any(
                k in doc for k in ("url", "pool", "circuitBreaker")):
        # az CLI output: the properties are flattened into the object
        props = {k: v for k, v in doc.items() if k not in IGNORED_TOP}
    out.append((source, name, props))


def map_rule(where, rule, report):
    """One circuitBreaker rule to an aoai-spoa circuit_breaker mapping."""
    cb, failure = {}, {}
    prefix = "circuitBreaker.rules[0]"
    for field, value in rule.items():
        f = "%s.%s" % (prefix, field)
        if field == "name":
            report.add(where, f, "one breaker per backend, rules have no "
                       "name in aoai-spoa")
        elif field == "tripDuration":
            ms = iso_ms(value)
            if ms is None:
                report.add(where, f, "%r is not an ISO 8601 duration"
                           % (value,))
            else:
                cb["trip_duration"] = duration(clamp(
                    report, where, f, "trip_duration", ms, duration))
        elif field == "acceptRetryAfter":
            if isinstance(value, bool):
                cb["accept_retry_after"] = value
            else:
                report.add(where, f, "%r is not a boolean" % (value,))
        elif field == "failureCondition" and isinstance(value, dict):
            map_failure(where, prefix + ".failureCondition", value, failure,
                        cb, report)
        else:
            report.add(where, f, "unknown field: not mapped")
    cond = rule.get("failureCondition")
    if isinstance(cond, dict) and "percentage" in failure and \
            "count" not in cond:
        # APIM trips on the percentage alone; aoai-spoa's count (default 5)
        # would be a second trigger
        failure["count"] = 0
        report.add(where, prefix + ".failureCondition.count", "absent: "
                   "count: 0 so that only the percentage trips, as in APIM")
    if "acceptRetryAfter" not in rule:
        cb["accept_retry_after"] = False
        report.add(where, prefix + ".acceptRetryAfter", "absent (false in "
                   "APIM): accept_retry_after: false; aoai-spoa's default "
                   "true honours Retry-After")
    if "trip_duration" in cb:
        # APIM trips for the same duration every time
        cb["max_trip_duration"] = cb["trip_duration"]
        report.add(where, prefix + ".tripDuration", "APIM trips for the "
                   "same duration each time: max_trip_duration set equal; "
                   "raise it to double the open period after each failed "
                   "probe")
    if failure:
        cb = dict([("failure", failure)] + list(cb.items()))
    return cb


def map_failure(where, prefix, cond, failure, cb, report):
    for field, value in cond.items():
        f = "%s.%s" % (prefix, field)
        if field == "count" and isinstance(value, int):
            failure["count"] = clamp(report, where, f, "failure.count",
                                     value)
        elif field == "percentage" and isinstance(value, int):
            failure["percentage"] = clamp(report, where, f,
                                          "failure.percentage", value)
        elif field == "interval":
            ms = iso_ms(value)
            if ms is None:
                report.add(where, f, "%r is not an ISO 8601 duration"
                           % (value,))
            else:
                failure["interval"] = duration(clamp(
                    report, where, f, "failure.interval", ms, duration))
        elif field == "statusCodeRanges" and isinstance(value, list):
            codes = map_ranges(where, f, value, report)
            if codes:
                failure["status_codes"] = codes
        elif field == "errorReasons":
            report.add(where, f, "not needed: a connection error or timeout "
                       "(no response) is always a fault in aoai-spoa")
        else:
            report.add(where, f, "unknown field or type: not mapped")


def map_ranges(where, field, ranges, report):
    """statusCodeRanges to status_codes; 429 becomes a throttle."""
    codes = []
    for i, r in enumerate(ranges):
        f = "%s[%d]" % (field, i)
        lo, hi = (r.get("min"), r.get("max")) if isinstance(r, dict) else \
            (None, None)
        if not isinstance(lo, int) or not isinstance(hi, int) or \
                not 100 <= lo <= hi <= 599:
            report.add(where, f, "%r is not a range of statuses 100..599"
                       % (r,))
            continue
        parts = [(lo, hi)]
        if lo <= 429 <= hi:
            report.add(where, f, "429 is a throttle in aoai-spoa "
                       "(throttle_status_codes, default [429]): the first "
                       "429 cools the backend down for its Retry-After "
                       "instead of counting toward count")
            parts = [(a, b) for a, b in ((lo, 428), (430, hi)) if a <= b]
        for a, b in parts:
            codes.append(a if a == b else "%d-%d" % (a, b))
    return codes


def map_backend(where, name, props, report):
    """A single backend: its name and circuit breaker."""
    b = {"name": name}
    if isinstance(props.get("url"), str):
        b["#url"] = props["url"]
    if "circuitBreaker" not in props:
        report.add(where, "circuitBreaker", "absent: aoai-spoa's default "
                   "breaker applies (5 faults in 10s open it for 30s)")
    for field, value in props.items():
        if field in ("circuitBreaker",):
            rules = value.get("rules") if isinstance(value, dict) else None
            if not isinstance(rules, list) or not rules:
                report.add(where, "circuitBreaker", "no rules: defaults "
                           "apply")
                continue
            cb = map_rule(where, rules[0], report)
            if cb:
                b["circuit_breaker"] = cb
            for i in range(1, len(rules)):
                report.add(where, "circuitBreaker.rules[%d]" % i,
                           "aoai-spoa has one breaker per backend: only "
                           "rules[0] is mapped")
        elif field == "type":
            continue
        elif field in HAPROXY_SIDE:
            report.add(where, field, HAPROXY_SIDE[field])
        else:
            report.add(where, field, "unknown field: not mapped")
    return b


def map_pool(where, name, props, report):
    """A pool backend: members from pool.services[]."""
    members = []
    services = props.get("pool", {}).get("services", [])
    for field in props.get("pool", {}):
        if field != "services":
            report.add(where, "pool." + field, "unknown field: not mapped")
    for i, s in enumerate(services if isinstance(services, list) else []):
        f = "pool.services[%d]" % i
        sid = s.get("id") if isinstance(s, dict) else None
        if not isinstance(sid, str) or not sid:
            report.add(where, f, "no id: member ignored")
            continue
        m = {"backend": arm_name(sid) or last_segment(sid)}
        for key in ("priority", "weight"):
            if key in s:
                if isinstance(s[key], int) and not isinstance(s[key], bool):
                    m[key] = s[key]
                else:
                    report.add(where, "%s.%s" % (f, key), "%r is not an "
                               "integer" % (s[key],))
        for field in s:
            if field not in ("id", "priority", "weight"):
                report.add(where, "%s.%s" % (f, field), "unknown field: "
                           "not mapped")
        members.append(m)
    # APIM priorities start at 0, aoai-spoa's at 1: shift, keeping order
    if any(m.get("priority") == 0 for m in members):
        report.add(where, "pool.services[].priority", "APIM's 0 is "
                   "aoai-spoa's 1: every priority shifted by +1")
        for m in members:
            m["priority"] = m.get("priority", 0) + 1
    for i, m in enumerate(members):
        f = "pool.services[%d]" % i
        for key in ("priority", "weight"):
            if key in m:
                m[key] = clamp(report, where, "%s.%s" % (f, key), key,
                               m[key])
    if members and all(m.get("weight", 1) == 0 for m in members):
        report.add(where, "pool.services[].weight", "every weight is 0: "
                   "the first member set to 1 (aoai-spoa needs one above 0)")
        members[0]["weight"] = 1
    for field in props:
        if field in ("pool", "type"):
            continue
        if field == "circuitBreaker":
            report.add(where, field, "a pool has no breaker of its own: "
                       "its members' breakers apply")
        elif field in HAPROXY_SIDE:
            report.add(where, field, HAPROXY_SIDE[field])
        else:
            report.add(where, field, "unknown field: not mapped")
    seen, unique = set(), []
    for m in members:
        if m["backend"] in seen:
            report.add(where, "pool.services", "%s listed twice: the first "
                       "kept" % m["backend"])
            continue
        seen.add(m["backend"])
        unique.append(m)
    return {"name": name, "members": unique}


def safe_name(where, field, name, report):
    if NAME_RE.match(name):
        return name
    fixed = re.sub(r"[^A-Za-z0-9_.:-]", "-", name)[:63] or "backend"
    report.add(where, field, "%r has characters aoai-spoa does not accept "
               "in names: %r used" % (name, fixed))
    return fixed


def convert(docs, listen):
    """docs: [(source, parsed JSON)]. Returns (model, report)."""
    report = Report()
    found = []
    for source, doc in docs:
        collect(doc, source, found, report)
    backends, pools, names = [], [], {}
    for where, name, props in found:
        where = "%s (%s)" % (where, name)
        name = safe_name(where, "name", name, report)
        is_pool = isinstance(props.get("pool"), dict) or \
            str(props.get("type", "")).lower() == "pool"
        if name in names:
            report.add(where, "name", "a second backend named %s: ignored"
                       % name)
            continue
        names[name] = is_pool
        if is_pool:
            pools.append(map_pool(where, name, props, report))
        else:
            backends.append(map_backend(where, name, props, report))
    known = {b["name"] for b in backends}
    for p in pools:
        for m in p["members"]:
            m["backend"] = safe_name("pool %s" % p["name"], "member",
                                     m["backend"], report)
            if m["backend"] in known:
                continue
            if names.get(m["backend"]):
                report.add("pool %s" % p["name"], m["backend"], "a pool "
                           "inside a pool: aoai-spoa pools hold backends; "
                           "add that pool's members instead")
                continue
            report.add("pool %s" % p["name"], m["backend"], "not in the "
                       "input: added as a backend with the default "
                       "circuit breaker")
            backends.append({"name": m["backend"]})
            known.add(m["backend"])
        p["members"] = [m for m in p["members"] if m["backend"] in known]
    pools = [p for p in pools if p["members"]]
    if not pools and backends:
        report.add("(all)", "pools", "the input has no pool: one pool "
                   "\"default\" with every backend at priority 1, weight 1")
        pools.append({"name": "default",
                      "members": [{"backend": b["name"]} for b in backends]})
    model = {"listen": [listen], "backends": backends, "pools": pools}
    return model, report


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_./:-]+", v) and \
            not re.fullmatch(r"[0-9-]+|true|false|null|yes|no|on|off|~", v,
                             re.I):
        return v
    return json.dumps(v)


def emit_map(d, indent, lines):
    pad = " " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append("%s%s:" % (pad, k))
            emit_map(v, indent + 2, lines)
        elif isinstance(v, list):
            lines.append("%s%s: [%s]" % (pad, k, ", ".join(scalar(x)
                                                          for x in v)))
        else:
            lines.append("%s%s: %s" % (pad, k, scalar(v)))


def render(model, sources, report):
    """The YAML text of <model>, with the report as comments."""
    lines = ["# aoai-spoa.yaml generated by aoai-spoa-import-apim %s from:"
             % VERSION]
    lines += ["#   %s" % s for s in sources]
    lines += ["# Check it: aoai-spoa -c -f FILE. Every key: "
              "aoai-spoa.yaml(5).",
              "# Not mapped (%d):" % len(report.lines)]
    lines += ["#   %s" % ln for ln in report.lines]
    lines += ["", "listen:"]
    lines += ["  - %s" % scalar(a) for a in model["listen"]]
    lines += ["", "# One per HAProxy server: names must equal the server "
              "names of haproxy.cfg.", "backends:"]
    for b in model["backends"]:
        if "#url" in b:
            lines.append("  # APIM url: %s" % b["#url"])
        lines.append("  - name: %s" % scalar(b["name"]))
        rest = {k: v for k, v in b.items() if k not in ("name", "#url")}
        emit_map(rest, 4, lines)
    lines += ["", "pools:"]
    for p in model["pools"]:
        lines.append("  - name: %s" % scalar(p["name"]))
        lines.append("    members:")
        for m in p["members"]:
            lines.append("      - {%s}" % ", ".join(
                "%s: %s" % (k, scalar(v)) for k, v in m.items()))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="aoai-spoa-import-apim",
        description="Turn Azure API Management backend, pool and circuit "
        "breaker exports (JSON) into an aoai-spoa.yaml.")
    ap.add_argument("files", nargs="+", metavar="FILE",
                    help="JSON export; - reads standard input")
    ap.add_argument("-o", "--output", metavar="FILE",
                    help="write the YAML here instead of standard output")
    ap.add_argument("-l", "--listen", default="tcp://127.0.0.1:12345",
                    metavar="ADDR", help="the SPOP address "
                    "(default tcp://127.0.0.1:12345)")
    ap.add_argument("-q", "--quiet", action="store_true",
                    help="do not list what was not mapped on stderr")
    ap.add_argument("-V", "--version", action="version",
                    version="aoai-spoa-import-apim " + VERSION)
    args = ap.parse_args(argv)
    docs = []
    for path in args.files:
        try:
            if path == "-":
                docs.append(("<stdin>", json.load(sys.stdin)))
            else:
                with open(path, encoding="utf-8-sig") as f:
                    docs.append((path, json.load(f)))
        except (OSError, ValueError) as exc:
            print("aoai-spoa-import-apim: %s: %s" % (path, exc),
                  file=sys.stderr)
            return 1
    model, report = convert(docs, args.listen)
    if not model["backends"]:
        for ln in report.lines:
            print("aoai-spoa-import-apim: " + ln, file=sys.stderr)
        print("aoai-spoa-import-apim: no API Management backend found",
              file=sys.stderr)
        return 1
    text = render(model, [s for s, _ in docs], report)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if not args.quiet:
        for ln in report.lines:
            print("not mapped: " + ln, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
