#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A real client: the official `openai` npm package (AzureOpenAI, pinned in
tests/node/package.json + package-lock.json) through HAProxy + aoai-spoa
against the lab's mock regions while a region throttles.

tests/node/openai-client.mjs runs chat completions, streamed chat
completions and embeddings with maxRetries: 0, so any 429 or 5xx that the
gateway let through would be an error the client sees. Each embeddings
request has two inputs; half leave encoding_format to the SDK (base64), and
every decoded vector must equal the one the mock computed for its input.

A. eastus answers every request with 429 (throttle_all): the client sees
   no error; eastus answered nothing but 429; the other regions served all.
B. eastus has a tiny quota (rpm 6 per 2 s window): it serves some and
   throttles the rest; the client still sees no error.

node_modules missing is a failure (not a skip): `make test` installs it
with `npm ci --prefix tests/node`.
"""
import os
import shutil
import subprocess

from harness import Tap
import labenv

ROOT = labenv.ROOT
NODE_DIR = os.path.join(ROOT, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "openai-client.mjs")
CHATS, STREAMS, EMBEDDINGS = 24, 4, 4
TOTAL = CHATS + STREAMS + EMBEDDINGS


def run_client(lab, t, label):
    argv = ["node", SCRIPT, "--endpoint", lab.url,
            "--api-key", lab.client_key, "--deployment", labenv.DEPLOYMENT,
            "--api-version", labenv.API_VERSION, "--chats", str(CHATS),
            "--streams", str(STREAMS), "--embeddings", str(EMBEDDINGS),
            "--concurrency", "6", "--mock-vectors", "1"]
    try:
        p = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120,
                           stdin=subprocess.DEVNULL)
        out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")
        rc = "timeout"
    for line in out.splitlines():
        print("#   node: " + line.replace(lab.client_key, "<key>"))
    lines = out.splitlines()
    oks = [l for l in lines if l.startswith("ok - ")]
    bad = [l for l in lines if l.startswith("not ok - ")]
    t.eq(rc, 0, "%s: node client exits 0" % label)
    t.ok(not bad, "%s: the client saw no error (maxRetries 0)" % label,
         "; ".join(bad[:5]))
    t.eq(len(oks), TOTAL, "%s: one ok line per request (%d chats, %d "
         "streams, %d embeddings)" % (label, CHATS, STREAMS, EMBEDDINGS))
    t.ok("# errors 0" in lines, "%s: '# errors 0'" % label)
    t.ok("1..%d" % TOTAL in lines, "%s: plan line 1..%d" % (label, TOTAL))
    streams = [l for l in oks if l.startswith("ok - stream ")]
    embs = [l for l in oks if l.startswith("ok - embeddings ")]
    t.ok(len(embs) == EMBEDDINGS and all(
        "2 vectors of 8 dims" in l for l in embs) and
        sum("base64 on the wire" in l for l in embs) == EMBEDDINGS // 2,
        "%s: every embeddings answer had one vector per input, decoded to "
        "the mock's values (half base64, the SDK's default)" % label, embs)
    t.ok(len(streams) == STREAMS and all(
        "Hello from the mock deployment" in l for l in streams),
        "%s: every stream complete (finish_reason stop, text)" % label,
        streams)
    served = {}
    for l in lines:
        if l.startswith("# served "):
            for kv in l[len("# served "):].split():
                k, _, v = kv.partition("=")
                served[k] = int(v or 0)
    return served


def main():
    t = Tap()
    if not shutil.which("node"):
        t.ok(False, "node is installed", "no `node` in PATH: run `make deps` "
             "(Debian package nodejs)")
        t.done()
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")):
        t.ok(False, "tests/node/node_modules has the openai package",
             "missing: run `npm ci --prefix tests/node` (make node-deps)")
        t.done()
    t.ok(True, "node and tests/node/node_modules/openai present")

    # Quotas far above the test's load except where a step lowers them, so
    # every answer carries x-ratelimit-remaining-* as Azure's do.
    big = {"rpm": 1000000, "tpm": 1000000000}
    with labenv.Lab(quotas={n: big for n in labenv.REGIONS}) as lab:
        lab.run_load(6, threads=2)  # warm the SPOE connections

        # A. eastus throttles everything, with a 1 s Retry-After: the agent
        # keeps probing it, HAProxy retries its 429s elsewhere.
        for n in labenv.REGIONS:
            lab.region(n).reset_stats()
        lab.region("eastus").set(throttle_all=1, retry_after=1,
                                 retry_after_ms=1000)
        served = run_client(lab, t, "A throttled eastus")
        st = {n: lab.region(n).stats() for n in labenv.REGIONS}
        east = st["eastus"]["status"]
        t.ok(set(east) <= {"429"}, "A: eastus answered only 429 (or "
             "nothing)", east)
        ok_other = sum(st[n]["status"].get("200", 0)
                       for n in ("swedencentral", "westus-payg"))
        t.eq(ok_other, TOTAL, "A: swedencentral + westus-payg served every "
             "request (mock stats, 200s)")
        t.ok(served.get("eastus", 0) == 0 and sum(served.values()) == TOTAL,
             "A: the client's responses came from the other regions",
             served)
        t.ok(st["swedencentral"]["status"].get("200", 0) > 0,
             "A: swedencentral served", st["swedencentral"]["status"])

        # B. eastus with a tiny quota: part served, part throttled.
        lab.region("eastus").set(reset=1)
        lab.region("eastus").set(rpm=6, window_ms=2000,
                                 retry_after="auto")
        lab.agent_cmd("reset backend eastus")
        for n in labenv.REGIONS:
            lab.region(n).reset_stats()
        served = run_client(lab, t, "B tiny quota on eastus")
        st = {n: lab.region(n).stats() for n in labenv.REGIONS}
        total_200 = sum(st[n]["status"].get("200", 0) for n in st)
        t.eq(total_200, TOTAL, "B: the regions answered 200 exactly once "
             "per request")
        t.ok(set(st["eastus"]["status"]) <= {"200", "429"},
             "B: eastus answered only 200 and 429", st["eastus"]["status"])
        t.ok(st["eastus"]["status"].get("200", 0) > 0,
             "B: eastus served within its quota", st["eastus"]["status"])
        t.ok(served.get("swedencentral", 0) + served.get("westus-payg", 0)
             > 0, "B: other regions took the rest", served)
        t.eq(lab.leaked_secrets(), [], "no key in any log")
    t.done()


if __name__ == "__main__":
    main()
