#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""aoai-spoa-import-apim (agent/tools/import-apim.py) on the sample exports
of tests/apim/: the Azure CLI's "az apim backend list" (flattened
properties), an ARM template with nested and top-level backends, and a
REST GET of one pool. Each output passes "aoai-spoa -c"; the values are
mapped as aoai-spoa.yaml(5) says; every field that is not mapped is listed
with a reason; no credential reaches the output.
"""
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

import harness as H

TOOL = os.path.join(H.ROOT, "agent/tools/import-apim.py")
SAMPLES = os.path.join(H.ROOT, "tests/apim")
AZ = os.path.join(SAMPLES, "az-backend-list.json")
ARM = os.path.join(SAMPLES, "arm-template.json")
REST = os.path.join(SAMPLES, "rest-backend-show.json")
SECRETS = ("sk-this-literal-key-must-never-be-copied",
           "this-secret-must-never-be-copied", "listKeys", "{{aoai-")


def tool(argv, stdin=None):
    p = subprocess.run([sys.executable, TOOL] + argv, capture_output=True,
                       text=True, input=stdin, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check_cfg(tmp, text, name):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([H.AGENT, "-c", "-f", path], capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def load_module():
    spec = importlib.util.spec_from_file_location("import_apim", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def model_of(mod, *paths):
    import json
    docs = [(p, json.load(open(p))) for p in paths]
    model, report = mod.convert(docs, "tcp://127.0.0.1:12345")
    return ({b["name"]: b for b in model["backends"]},
            {p["name"]: p for p in model["pools"]}, report.lines)


def reported(lines, who, field):
    return any(who in ln and field in ln for ln in lines)


def main():
    t = H.Tap()
    with tempfile.TemporaryDirectory(prefix="aoai-apim-") as tmp:
        outputs = []
        for name, argv in (("az backend list", [AZ]),
                           ("ARM template", [ARM]),
                           ("REST pool", [REST]),
                           ("all three", [AZ, REST, ARM])):
            rc, out, err = tool(argv)
            outputs.append(out + err)
            t.ok(rc == 0 and out.startswith("# aoai-spoa.yaml generated"),
                 "%s: YAML written, exit 0" % name, (rc, err[-300:]))
            rc, msg = check_cfg(tmp, out, "out.yaml")
            t.ok(rc == 0 and "configuration OK" in msg,
                 "%s: aoai-spoa -c accepts the output" % name, msg[-500:])
            t.ok("not mapped: " in err and "# Not mapped (" in out,
                 "%s: fields not mapped listed on stderr and in the file"
                 % name)
        leaked = [s for s in SECRETS if any(s in o for o in outputs)]
        t.ok(not leaked, "no credential or named-value secret in any "
             "output", leaked)

        out_file = os.path.join(tmp, "o.yaml")
        rc, out, err = tool(["-q", "-o", out_file, "--listen",
                             "unix:///run/aoai-spoa/spop.sock", AZ])
        text = open(out_file).read() if os.path.exists(out_file) else ""
        t.ok(rc == 0 and not out and not err and
             "  - unix:///run/aoai-spoa/spop.sock" in text,
             "-q -o FILE --listen ADDR: quiet, the file has the address",
             (rc, err))
        with open(AZ) as f:
            rc, out2, err = tool(["-q", "-"], stdin=f.read())
        t.ok(rc == 0 and out2.split("\n", 1)[1] == text.replace(
            "unix:///run/aoai-spoa/spop.sock", "tcp://127.0.0.1:12345"
        ).replace(AZ, "<stdin>").split("\n", 1)[1],
            "- reads standard input, same YAML")

        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("{\"name\": ")
        rc, out, err = tool([bad])
        t.ok(rc == 1 and bad in err and not out,
             "invalid JSON: exit 1, error names the file", err)
        empty = os.path.join(tmp, "empty.json")
        with open(empty, "w") as f:
            f.write('{"value": []}')
        rc, out, err = tool([empty])
        t.ok(rc == 1 and "no API Management backend" in err,
             "no backend in the input: exit 1, said so", err)
        rc, out, err = tool(["--help"])
        t.ok(rc == 0 and "usage" in out.lower(), "--help: exit 0")
        rc, out, err = tool(["--version"])
        release = open(os.path.join(H.ROOT, "VERSION")).read().strip()
        t.eq(out.strip(), "aoai-spoa-import-apim " + release,
             "--version names the VERSION file's release")
        rc, out, err = tool([])
        t.eq(rc, 2, "no file: usage error, exit 2")

    mod = load_module()
    b, p, rep = model_of(mod, AZ)
    t.eq(b["eastus"].get("circuit_breaker"), {
        "failure": {"count": 3, "interval": "10s",
                    "status_codes": ["500-599"]},
        "accept_retry_after": True, "trip_duration": "10s",
        "max_trip_duration": "10s"},
        "az: eastus's rule: count, PT10S, 500-599, tripDuration, "
        "acceptRetryAfter; no trip growth (as APIM)")
    t.ok(reported(rep, "eastus", "statusCodeRanges[0]") and
         reported(rep, "eastus", "errorReasons") and
         reported(rep, "eastus", "credentials") and
         reported(rep, "eastus", "url") and reported(rep, "eastus", "tls"),
         "az: eastus's 429 range, errorReasons, credentials, url and tls "
         "are listed with a reason")
    t.eq(b["swedencentral"]["circuit_breaker"]["failure"]["status_codes"],
         ["430-599"], "az: 429-599 becomes 430-599 (429 is a throttle)")
    t.eq(b["westus-payg"]["circuit_breaker"]["failure"],
         {"percentage": 50, "interval": "5m",
          "status_codes": ["500-504", 408], "count": 0},
         "az: a percentage rule without count gets count: 0")
    t.eq(b["westus-payg"]["circuit_breaker"]["trip_duration"], "150s",
         "az: PT2M30S is 150s")
    t.eq(p["chat"]["members"], [
        {"backend": "eastus", "priority": 1, "weight": 3},
        {"backend": "swedencentral", "priority": 1, "weight": 1},
        {"backend": "westus-payg", "priority": 2, "weight": 1}],
        "az: pool chat: members from pool.services ids, priority, weight")

    b, p, rep = model_of(mod, ARM)
    t.eq(sorted(b), ["francecentral", "swedencentral", "uksouth"],
         "ARM: nested, format() and pool-only backends found")
    t.eq([(m["backend"], m["priority"], m["weight"])
          for m in p["embeddings-pool"]["members"]],
         [("francecentral", 1, 1), ("uksouth", 2, 2),
          ("swedencentral", 2, 1)],
         "ARM: resourceId() members; APIM priority 0 shifted to 1")
    fc = b["francecentral"]["circuit_breaker"]
    t.ok(fc["failure"]["interval"] == "1s" and fc["trip_duration"] == "24h"
         and reported(rep, "francecentral", "interval") and
         reported(rep, "francecentral", "tripDuration"),
         "ARM: PT0.5S and P2D clamped to 1s and 24h, and reported", fc)
    t.ok(b["uksouth"]["circuit_breaker"]["failure"]["interval"] == "1h"
         and reported(rep, "uksouth", "rules[1]"),
         "ARM: PT2H clamped to 1h; the second rule is listed as not "
         "mapped")
    t.ok(reported(rep, "swedencentral", "not in the input") and
         reported(rep, "resources[3]", "namedValues"),
         "ARM: a member missing from the input and a non-backend resource "
         "are listed")

    b, p, rep = model_of(mod, REST)
    t.eq([(m["backend"], m.get("priority"), m.get("weight"))
          for m in p["gpt4o-pool"]["members"]],
         [("eastus2", 1, 50), ("northcentralus", 1, 50),
          ("westus3", 5, None)],
         "REST: properties.pool read; a missing weight keeps the default")
    t.eq(sorted(b), ["eastus2", "northcentralus", "westus3"],
         "REST: members not in the input become backends")
    t.ok(any(re.search(r"\(gpt4o-pool\): description: informational", ln)
             for ln in rep), "REST: description listed as informational",
         rep)
    t.done()


if __name__ == "__main__":
    main()
