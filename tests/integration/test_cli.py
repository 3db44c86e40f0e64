#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Command line of the real agent: -c, -v, -h, usage errors, and error
reporting as FILE:LINE:COL: message."""
import os
import re
import socket
import subprocess

import harness as H
import itest as I


def run(argv, timeout=20):
    p = subprocess.run([H.AGENT] + argv, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=timeout, env=I.env_without_listen())
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def pos(text, needle):
    i = text.index(needle)
    return (text.count("\n", 0, i) + 1,
            i - (text.rfind("\n", 0, i) + 1) + 1)


THREE_ERRORS = """\
agent:
  hello_timeout: 10x
  bogus_key: 1
listen:
  - tcp://127.0.0.1:{port}
backends:
  - name: eastus
pools:
  - name: chat
    members:
      - {{backend: eastus, priority: 1, weight: 5000}}
"""


def main():
    tap = H.Tap()
    outputs = []
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            # the port is busy: -c must not try to listen
            busy = socket.socket()
            busy.bind((H.LOCAL, 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            good = procs.write("good.yaml", H.agent_yaml(port))
            rc, out, err = run(["-c", "-f", good])
            outputs.append(out + err)
            tap.eq(rc, 0, "-c -f good.yaml: exit 0")
            tap.ok("configuration OK" in out, "-c -f good.yaml prints "
                   "\"configuration OK\" on stdout", out + err)
            busy.close()

            text = THREE_ERRORS.format(port=port)
            bad = procs.write("bad.yaml", text)
            rc, out, err = run(["-c", "-f", bad])
            outputs.append(out + err)
            tap.eq(rc, 1, "-c with 3 errors: exit 1")
            lines = [ln for ln in (out + err).splitlines()
                     if re.match(re.escape(bad) + r":\d+:\d+: \S", ln)]
            tap.eq(len(lines), 3, "-c with 3 errors: 3 lines "
                   "FILE:LINE:COL: message")
            want = [pos(text, "10x"), pos(text, "bogus_key"),
                    pos(text, "5000")]
            got = [tuple(int(x) for x in re.match(
                re.escape(bad) + r":(\d+):(\d+):", ln).groups())
                for ln in lines]
            tap.eq(got, want, "-c with 3 errors: line/col of each "
                   "(duration value, unknown key, weight value)")
            tap.ok(len(lines) == 3 and "hello_timeout" in lines[0]
                   and "bogus_key" in lines[1] and "weight" in lines[2],
                   "each message names what is wrong", lines)
            tap.ok("configuration OK" not in out, "-c with errors does not "
                   "say OK")

            rc, out, err = run(["-f", bad])
            outputs.append(out + err)
            tap.eq(rc, 1, "run mode with an invalid file: exit 1, not "
                   "started")
            tap.ok(len(re.findall(re.escape(bad) + r":\d+:\d+: ", err)) == 3,
                   "run mode with an invalid file: the 3 errors on stderr",
                   err)

            # metrics off loopback: refused unless the file says so
            remote = H.agent_yaml(port) + "metrics: tcp://0.0.0.0:9101\n"
            path = procs.write("remote.yaml", remote)
            rc, out, err = run(["-c", "-f", path])
            outputs.append(out + err)
            line, col = pos(remote, "tcp://0.0.0.0:9101")
            tap.ok(rc == 1 and "%s:%d:%d: metrics: " % (path, line, col)
                   in err and "metrics_allow_remote: true" in err,
                   "-c: metrics off loopback refused at FILE:LINE:COL, "
                   "naming the key that allows it", err)
            path = procs.write("remote-ok.yaml", remote
                               + "metrics_allow_remote: true\n")
            rc, out, err = run(["-c", "-f", path])
            outputs.append(out + err)
            tap.ok(rc == 0 and "configuration OK" in out,
                   "-c: metrics off loopback with metrics_allow_remote: "
                   "true", out + err)

            missing = procs.path("no-such-file.yaml")
            rc, out, err = run(["-c", "-f", missing])
            outputs.append(out + err)
            tap.eq(rc, 1, "nonexistent file: exit 1")
            tap.ok(missing in err and re.search(
                r"No such file|cannot open|not found", err),
                "nonexistent file: a clear error naming the file", err)
            rc, out, err = run(["-f", missing])
            tap.eq(rc, 1, "run mode, nonexistent file: exit 1")

            empty = procs.write("empty.yaml", "")
            rc, out, err = run(["-c", "-f", empty])
            outputs.append(out + err)
            tap.ok(rc == 1 and re.search(re.escape(empty) + r":\d+:\d+: ",
                                         err),
                   "empty file: exit 1 with a FILE:LINE:COL error", err)

            rc, out, err = run(["-v"])
            outputs.append(out + err)
            tap.ok(rc == 0 and re.match(r"aoai-spoa \S+", out.strip()),
                   "-v prints the version, exit 0", (rc, out, err))
            release = open(os.path.join(H.ROOT, "VERSION")).read().strip()
            for opt in ("-V", "--version"):
                rc, out, err = run([opt])
                outputs.append(out + err)
                tap.ok(rc == 0 and re.fullmatch(
                    r"aoai-spoa %s(\+g[0-9a-f]{7,}(\.dirty)?)?"
                    % re.escape(release), out.strip()),
                    "%s prints \"aoai-spoa\" and the VERSION file's "
                    "release (+gHASH from git), exit 0" % opt,
                    (rc, out, err))
            rc, out, err = run(["--help"])
            outputs.append(out + err)
            tap.ok(rc == 0 and "usage" in out.lower() and all(
                o in out for o in ("--config", "--check", "--debug",
                                   "--version", "--help")),
                "--help prints the usage with every long option on "
                "stdout, exit 0", (rc, out, err))
            rc, out, err = run(["--check", "--config", good])
            tap.ok(rc == 0 and "configuration OK" in out,
                   "--check --config good.yaml: exit 0, "
                   "\"configuration OK\"", (rc, out, err))
            rc, out, err = run(["--config=" + bad, "--check"])
            tap.eq(rc, 1, "--config=bad.yaml --check: exit 1")
            rc, out, err = run(["--bogus", "-f", good])
            tap.ok(rc == 2 and "usage" in err.lower(),
                   "unknown long option: exit 2, usage on stderr",
                   (rc, err))
            rc, out, err = run(["-h"])
            outputs.append(out + err)
            tap.ok(rc == 0 and "usage" in out.lower() and "-f" in out,
                   "-h prints the usage on stdout, exit 0", (rc, out, err))
            rc, out, err = run([])
            outputs.append(out + err)
            tap.eq(rc, 2, "no arguments: exit 2")
            tap.ok("usage" in err.lower(), "no arguments: usage on stderr",
                   err)
            rc, out, err = run(["-x", "-f", good])
            tap.eq(rc, 2, "unknown option: exit 2")
            rc, out, err = run(["-f", good, "extra"])
            tap.eq(rc, 2, "extra argument: exit 2")
            rc, out, err = run(["-c"])
            tap.eq(rc, 2, "-c without -f: exit 2")

            bad_out = [o for o in outputs if I.SANITIZER.search(o)]
            tap.ok(not bad_out, "no sanitizer finding in any CLI run",
                   bad_out[:1])

            # run mode with the same good file really serves
            port2 = H.free_port()
            agents.start(H.agent_yaml(port2), port2, name="agent-run")
            tap.ok(I.serves(port2), "-f good.yaml: the agent serves")
        except Exception as exc:
            tap.ok(False, "cli tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
