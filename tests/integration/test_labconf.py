#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The lab's agent configuration rendered from data (tests/lib/labconf.py,
labyaml.py): the shipped lab YAML read into data, its sockets placed on a
lab's, written as JSON the real agent accepts (-c) with the shipped
settings; text beyond the lab's YAML and a shipped address left behind
are errors."""
import json
import os
import subprocess
import tempfile

import harness as H
import labconf
import labyaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LAB_YAML = os.path.join(ROOT, "haproxy-conf/lab/aoai-spoa.yaml")


def check(path):
    p = subprocess.run([H.AGENT, "-c", "-f", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=20)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def main():
    t = H.Tap()
    with open(LAB_YAML) as f:
        shipped = f.read()
    src = labyaml.load(shipped)
    with tempfile.TemporaryDirectory(prefix="aoai-labconf-") as d:
        socks = labconf.Sockets(d, 41001, 41002, 41003)
        text = labconf.agent_config(shipped, socks)
        cfg = json.loads(text)
        t.eq(cfg["listen"], ["tcp://127.0.0.1:41001"], "listen: the lab's")
        t.eq([c["address"] for c in cfg["control"]],
             ["unix://%s/control.sock" % d, "tcp://127.0.0.1:41003"],
             "control: the lab's folder and port")
        t.eq([c.get("mode") for c in cfg["control"]],
             [c.get("mode") for c in src["control"]],
             "control: the shipped modes kept")
        t.eq(cfg["metrics"], "tcp://127.0.0.1:41002", "metrics: the lab's")
        t.eq(cfg["haproxy"]["stats_socket"], "unix://%s/haproxy.sock" % d,
             "stats_socket: in the lab's folder")
        rest = ("agent", "defaults", "backends", "pools")
        t.eq({k: cfg[k] for k in rest}, {k: src[k] for k in rest},
             "every other setting is the shipped file's")
        t.eq(src["defaults"]["circuit_breaker"]["failure"]["status_codes"],
             ["408", "500-599"], "a flow list read item by item")
        path = os.path.join(d, "lab.yaml")
        with open(path, "w") as f:
            f.write(text)
        rc, out = check(path)
        t.ok(rc == 0 and "configuration OK" in out,
             "the rendered file passes aoai-spoa -c", out)
        # an edit appended as text, as tests/lib/fleetenv.py does
        fleet = labconf.agent_config(
            shipped + "\nfleet:\n  table: t\n  node: n1\n", socks)
        t.eq(json.loads(fleet)["fleet"], {"table": "t", "node": "n1"},
             "a block appended by an edit is read")
        t.eq(labyaml.load("a: ~\nb:\nc: [1, {x: 'y'}]\n"),
             {"a": None, "b": None, "c": ["1", {"x": "y"}]},
             "nulls, nested flow collections, single quotes")
    for bad, where in (("a: &x 1\nb: *x\n", "line 1"),
                       ("a:\n  b: 1\n    c: 2\n", "line 3"),
                       ("a: [1, 2\n", "line 1"),
                       ("--- \na: 1\n", "line 1")):
        try:
            labyaml.load(bad)
            t.ok(False, "refused: %r" % bad)
        except labyaml.LabYamlError as e:
            t.ok(where in str(e), "refused with its line: %r" % bad, str(e))
    left = shipped.replace("metrics: tcp://127.0.0.1:9101",
                           "metrics: null") + \
        "\nstate_file: /tmp/aoai-lab/state.json\n"
    try:
        labconf.agent_config(left, labconf.Sockets("/x", 1, 2, 3))
        t.ok(False, "a shipped address left behind is refused")
    except labconf.LabConfError as e:
        t.ok("/tmp/aoai-lab/" in str(e),
             "a shipped address left behind is refused", str(e))
    t.done()


if __name__ == "__main__":
    main()
