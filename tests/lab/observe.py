# SPDX-License-Identifier: Apache-2.0
"""Reading the running lab: the agent's backends (control socket), its
breaker transitions (log), HAProxy's access log and `show stat`."""
import collections
import datetime
import json
import re

def agent_backends(lab):
    try:
        return json.loads(lab.agent_cmd("show backends json"))["backends"]
    except (OSError, ValueError, KeyError):
        return []


LOG_TRANSITION = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) aoai-spoa\[\w+\]: "
    r"backend (\S+): (\S+) -> (\S+): (.*)$")


def transitions(lab, wall0):
    """The agent's "backend X: a -> b: why" lines, t relative to wall0."""
    out = []
    for line in lab.log_text("agent").splitlines():
        m = LOG_TRANSITION.match(line.strip())
        if not m:
            continue
        ts = m.group(1)
        fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in ts else "%Y-%m-%dT%H:%M:%SZ"
        t = datetime.datetime.strptime(ts, fmt).replace(
            tzinfo=datetime.timezone.utc).timestamp()
        out.append({"t": round(t - wall0, 3), "region": m.group(2),
                    "from": m.group(3), "to": m.group(4),
                    "why": m.group(5)})
    return out


ACCESS = re.compile(r" aoai-front (\S+)/(\S+) .*? (\d{3}) .*"
                    r"aoai_reason=(\S+) aoai_error=(\S+) .*"
                    r"upstream_status=(\S+) retries=(\+?-?\d+)")


def access_summary(lab):
    """From HAProxy's access log: retries, the agent's decisions by reason
    and by server, and the requests HAProxy routed alone (no aoai.reason:
    the SPOE exchange failed or was late, or the agent was down, and
    HAProxy balanced with its static weights), by server and SPOE error."""
    reasons = collections.Counter()
    agent_by_server = collections.Counter()
    alone_server = collections.Counter()
    alone_error = collections.Counter()
    retried = 0
    retries = 0
    redispatched = 0
    n = 0
    for line in lab.access_lines():
        m = ACCESS.search(line)
        if not m:
            continue
        n += 1
        server, reason, error = m.group(2), m.group(4), m.group(5)
        if reason == "-":
            alone_server[server] += 1
            alone_error["no answer" if error == "-" else
                        "SPOE error code %s" % error] += 1
        else:
            reasons[reason] += 1
            agent_by_server[server] += 1
        rc = m.group(7)
        k = abs(int(rc.lstrip("+")))
        if k:
            retried += 1
            retries += k
        if rc.startswith("+"):
            redispatched += 1
    return {"lines": n, "requests_retried": retried, "retries": retries,
            "last_retry_redispatched": redispatched,
            "decisions_by_reason": dict(reasons.most_common()),
            "agent_by_server": dict(agent_by_server),
            "haproxy_alone": {"total": sum(alone_server.values()),
                              "by_server": dict(alone_server),
                              "by_error": dict(alone_error.most_common())}}


def haproxy_servers(lab, regions):
    out = {}
    for row in lab.show_stat():
        if row.get("pxname") == "aoai" and row.get("svname") in regions:
            out[row["svname"]] = {
                "attempts": int(row.get("stot") or 0),
                "retries": int(row.get("wretr") or 0),
                "redispatches": int(row.get("wredis") or 0),
                "status": row.get("status")}
        if row.get("pxname") == "aoai" and row.get("svname") == "BACKEND":
            out["BACKEND"] = {
                "requests": int(row.get("stot") or 0),
                "retries": int(row.get("wretr") or 0),
                "redispatches": int(row.get("wredis") or 0)}
    return out


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return round(v[k], 1)
