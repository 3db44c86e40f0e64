#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs every test layer and prints one closing line "N passed, M failed".

Each test program prints one line per check, "ok - name" or
"not ok - name: detail", and exits non-zero when a check failed. A program
that exits non-zero without a failing check, or that exits 0 without a
single check, counts as one failure: a test that ran nothing did not pass.

The e2e layer runs once per supported HAProxy version (HAPROXY_VERSIONS,
default all of MATRIX): 2.6 from the host, the others from Debian root
filesystems built and cached by tests/lib/rootfs.py. Their builds start in
the background when this script starts, while the other layers run.

Output: every check line goes to the log (default build/test.log); the
terminal gets one line per program with its counts and time, one per
layer, then the failed checks (program and name), then the closing line.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests/lib"))
import rootfs  # noqa: E402

FUZZ_DONE = re.compile(r"Done (\d+) runs in (\d+) second")

# (label, Debian suite or None for the host's, what it is). The last row is
# the newest HAProxy in Debian's archive: its label is checked against the
# binary, so a sid that moved on fails loudly instead of testing silently
# something else.
MATRIX = (("2.6", None, "the host, Debian 12 (bookworm)"),
          ("3.0", "trixie", "Debian 13 (trixie)"),
          ("3.2", "sid", "Debian unstable (sid)"))


class Versions:
    """The HAProxy binaries of the matrix; root filesystems are built in
    background threads, get() waits for one."""

    def __init__(self, wanted):
        self.rows = [r for r in MATRIX if r[0] in wanted]
        self.result = {}
        self.threads = {}
        for label, suite, _ in self.rows:
            if suite is None:
                host = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
                self.result[label] = (host, None)
                continue
            t = threading.Thread(target=self._build, args=(label, suite),
                                 daemon=True)
            t.start()
            self.threads[label] = t

    def _build(self, label, suite):
        try:
            path = rootfs.ensure(suite)
            got = rootfs.info(path)["haproxy_version"]
            if not got.startswith(label + "."):
                raise rootfs.RootfsError(
                    "%s ships HAProxy %s, not %s: update MATRIX in "
                    "tests/run.py" % (suite, got, label))
            self.result[label] = (rootfs.wrapper(path), None)
        except Exception as exc:  # reported as a failed check
            self.result[label] = (None, str(exc))

    def get(self, label):
        """(haproxy path or None, error text or None)."""
        t = self.threads.get(label)
        if t:
            t.join()
        return self.result[label]

    def describe(self, label, haproxy):
        """"HAProxy 3.0.11-1+deb13u4 from Debian 13 (trixie): PATH"."""
        where = [r[2] for r in MATRIX if r[0] == label][0]
        try:
            out = subprocess.run([haproxy, "-v"], capture_output=True,
                                 text=True, timeout=30).stdout
            m = re.search(r"version (\S+)", out)
            vers = m.group(1) if m else "(unknown version)"
        except (OSError, subprocess.SubprocessError) as exc:
            vers = "(%s)" % exc
        return "HAProxy %s from %s: %s" % (vers, where, haproxy)


def base_env():
    return dict(os.environ, AOAI_ROOT=ROOT,
                AOAI_SPOA=os.path.join(ROOT, "build/aoai-spoa"),
                AOAI_SPOA_ASAN=os.path.join(ROOT, "build/asan/aoai-spoa"),
                MOCK_AOAI=os.path.join(ROOT, "build/mock-aoai"),
                PYTHONPATH=os.path.join(ROOT, "tests/lib"),
                PYTHONDONTWRITEBYTECODE="1")


def programs(args):
    """Yields (layer, name, argv, timeout) of the layers but e2e."""
    for build in ("build", "build/asan"):
        for path in sorted(glob.glob(os.path.join(ROOT, build, "tests",
                                                  "test_*"))):
            yield ("unit", os.path.relpath(path, ROOT), [path], 300)
    for layer, pattern in (("mock", "tests/mock/test_*.py"),
                           ("integration", "tests/integration/test_*.py"),
                           ("package", "tests/package/test_*.py")):
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            # a first package run debootstraps its root filesystems
            yield (layer, os.path.relpath(path, ROOT),
                   [sys.executable, path], 1200 if layer == "package" else 600)
    # make lint as a layer, so CI enforces it: one check
    yield ("lint", "tests/lint.sh",
           ["sh", os.path.join(ROOT, "tests/lint.sh")], 300)
    for path in sorted(glob.glob(os.path.join(ROOT, "build/fuzz/fuzz_*"))):
        name = os.path.basename(path)
        argv = [path, "-max_total_time=%d" % args.fuzz_seconds,
                "-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1",
                "{corpus}"]
        seeds = os.path.join(ROOT, "tests/fuzz/corpus", name)
        if os.path.isdir(seeds):
            argv.append(seeds)
        yield ("fuzz", name, argv, args.fuzz_seconds + 120)


# e2e programs that are not about the HAProxy version: run against the
# first version of the matrix only ("make test only runs the benchmark
# once, in a smoke mode").
E2E_ONCE = {"tests/e2e/test_bench_smoke.py",
            "tests/e2e/test_lab_fleet.py"}


def e2e_programs():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/e2e/test_*.py"))):
        yield os.path.relpath(path, ROOT), [sys.executable, path], 600


class Result:
    def __init__(self, layer, name):
        self.layer, self.name = layer, name
        self.passed = self.failed = self.skipped = 0
        self.failures = []  # check lines
        self.log = []
        self.secs = 0.0

    def line(self, text):
        self.log.append(text)

    def fail(self, text):
        self.failed += 1
        self.failures.append(text)
        self.log.append("not ok - " + text)


def run_one(layer, name, argv, env, timeout):
    """Runs one program; returns its Result (nothing printed)."""
    res = Result(layer, name)
    corpus = None
    if layer == "fuzz":
        # new inputs go to a scratch folder, the seeds stay untouched
        corpus = tempfile.TemporaryDirectory(prefix="aoai-fuzz-")
        argv = [corpus.name if a == "{corpus}" else a for a in argv]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, cwd=ROOT, timeout=timeout,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
        out, rc = proc.stdout.decode("utf-8", "replace"), proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")
        rc = "timeout after %ds" % timeout
    finally:
        if corpus:
            corpus.cleanup()
    res.secs = time.monotonic() - start
    if layer == "lint":
        if rc == 0:
            res.passed = 1
            res.line("ok - make lint: clang-format and banned functions "
                     "clean")
        else:
            res.line(out[-4000:])
            res.fail("make lint: exit %s" % rc)
        return res
    if layer == "fuzz":
        m = FUZZ_DONE.search(out)
        if rc == 0 and m:
            res.passed = 1
            res.line("ok - fuzz %s: %s runs in %s s, no finding"
                     % (name, m.group(1), m.group(2)))
        else:
            res.line(out[-4000:])
            res.fail("fuzz %s: exit %s" % (name, rc))
        return res
    for line in out.splitlines():
        if line.startswith("ok - ") and "# SKIP" in line:
            res.skipped += 1  # not run: neither passed nor failed
        elif line.startswith("ok - "):
            res.passed += 1
        elif line.startswith("not ok - "):
            res.failed += 1
            res.failures.append(line[len("not ok - "):])
        res.line("  " + line if not line.startswith(("ok", "not ok"))
                 else line)
    if rc != 0 and res.failed == 0:
        res.fail("%s: exit %s without a failed check" % (name, rc))
    if rc == 0 and res.passed == 0 and res.failed == 0:
        res.fail("%s: ran no check" % name)
    return res


class Report:
    """Check lines to the log file; progress to the terminal."""

    def __init__(self, log_path, quiet_tty):
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        self.log = open(log_path, "w")
        self.log_path = log_path
        self.tty = quiet_tty
        self.lock = threading.Lock()
        self.passed = self.failed = self.skipped = 0
        self.failures = []
        self.layers = {}
        self.start = time.monotonic()

    def status(self, text):
        """A transient "running ..." line, only on an interactive
        terminal."""
        if self.tty:
            with self.lock:
                sys.stdout.write("\r\033[K" + text[:150])
                sys.stdout.flush()

    def add(self, res, label):
        with self.lock:
            self.log.write("# --- %s: %s\n" % (label, res.name))
            for line in res.log:
                self.log.write(line + "\n")
            self.log.write("# %s %s: %d passed, %d failed%s (%.1f s)\n"
                           % (label, res.name, res.passed, res.failed,
                              ", %d skipped" % res.skipped
                              if res.skipped else "", res.secs))
            self.log.flush()
            self.passed += res.passed
            self.failed += res.failed
            self.skipped += res.skipped
            lay = self.layers.setdefault(label, [0, 0, 0, 0.0])
            lay[0] += res.passed
            lay[1] += res.failed
            lay[2] += 1
            lay[3] += res.secs
            for f in res.failures:
                # the whole detail is in the log
                if len(f) > 240:
                    f = f[:240] + " ..."
                self.failures.append("%s %s: %s" % (label, res.name, f))
            mark = "FAIL" if res.failed else "ok  "
            text = "%s [%s] %-44s %4d passed %3d failed %6.1f s" % (
                mark, label, res.name, res.passed, res.failed, res.secs)
            if self.tty:
                sys.stdout.write("\r\033[K")
            print(text, flush=True)

    def note(self, text):
        with self.lock:
            self.log.write("# " + text + "\n")
            if self.tty:
                sys.stdout.write("\r\033[K")
            print(text, flush=True)

    def layer_done(self, label):
        with self.lock:
            p, f, n, secs = self.layers.get(label, [0, 0, 0, 0.0])
            text = "== %s: %d programs, %d passed, %d failed, %.1f s" % (
                label, n, p, f, secs)
            self.log.write("# " + text + "\n")
            print(text, flush=True)

    def close(self):
        tail = []
        if self.skipped:
            tail.append("# %d checks skipped (not counted as passed)"
                        % self.skipped)
        if self.failures:
            tail.append("failed checks (%d):" % len(self.failures))
            tail.extend("  " + f for f in self.failures)
        shown = os.path.abspath(self.log_path)
        if shown.startswith(ROOT + os.sep):
            shown = os.path.relpath(shown, ROOT)
        tail.append("check lines: %s; total %.0f s"
                    % (shown, time.monotonic() - self.start))
        for line in tail:
            print(line)
            self.log.write(line + "\n")
        final = "%d passed, %d failed" % (self.passed, self.failed)
        self.log.write(final + "\n")
        self.log.close()
        print(final, flush=True)


class E2E:
    """The e2e layer: every (HAProxy version, program) pair is one task in
    one queue served by <jobs> workers, the versions interleaved, so no
    worker idles while another version still has programs (the wall time
    is about the sum over the versions divided by <jobs>). E2E_ONCE
    programs run against the first version only."""

    def __init__(self, rep, versions, base, keep):
        self.rep, self.versions, self.base = rep, versions, base
        self.lock = threading.Lock()
        self.left = {}  # label -> tasks not finished
        self.env = {}  # label -> environment, or None when unavailable
        labels = [r[0] for r in versions.rows]
        per = []
        for i, lb in enumerate(labels):
            mine = [(lb, name, argv, timeout)
                    for name, argv, timeout in e2e_programs()
                    if keep(name) and (name not in E2E_ONCE or i == 0)]
            self.left[lb] = len(mine)
            per.append(mine)
        self.tasks = [t for row in _interleave(per) for t in row]

    def _env(self, label):
        """The environment of <label>'s programs, or None (reported once)
        when its HAProxy is unavailable."""
        with self.lock:
            if label in self.env:
                return self.env[label]
        tag = "e2e %s" % label
        haproxy, err = self.versions.get(label)
        with self.lock:
            if label in self.env:
                return self.env[label]
            if err:
                res = Result("e2e", "HAProxy %s" % label)
                res.fail("HAProxy %s unavailable: %s" % (label, err))
                self.rep.add(res, tag)
                self.env[label] = None
            else:
                self.rep.note("== %s: %s" % (
                    tag, self.versions.describe(label, haproxy)))
                self.env[label] = dict(self.base, HAPROXY=haproxy,
                                       AOAI_HAPROXY_VERSION=label)
            return self.env[label]

    def _run(self, task):
        label, name, argv, timeout = task
        env = self._env(label)
        if env is not None:
            tag = "e2e %s" % label
            self.rep.status("running [%s] %s ..." % (tag, name))
            self.rep.add(run_one("e2e", name, argv, env, timeout), tag)
        with self.lock:
            self.left[label] -= 1
            done = self.left[label] == 0
        if done:
            self.rep.layer_done("e2e %s" % label)

    def run(self, jobs):
        with ThreadPoolExecutor(max(1, jobs)) as ex:
            for f in [ex.submit(self._run, t) for t in self.tasks]:
                f.result()


def _interleave(lists):
    """[[a1, a2], [b1]] -> [[a1, b1], [a2]]: one row per rank."""
    rows = []
    for lst in lists:
        for i, item in enumerate(lst):
            if i == len(rows):
                rows.append([])
            rows[i].append(item)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="run one layer (unit, mock, "
                    "integration, package, e2e, lint, fuzz)")
    ap.add_argument("--fuzz-seconds", type=int,
                    default=int(os.environ.get("FUZZ_SECONDS_TEST", "5")))
    ap.add_argument("-k", help="only programs whose name contains this")
    ap.add_argument("--versions", default=os.environ.get(
        "HAPROXY_VERSIONS") or " ".join(r[0] for r in MATRIX),
        help="HAProxy versions for the e2e layer (space or comma "
        "separated; default: %(default)s)")
    ap.add_argument("--jobs", type=int,
                    default=int(os.environ.get("AOAI_E2E_JOBS", "2")),
                    help="e2e programs run at once (any versions)")
    ap.add_argument("--log", default=os.path.join(ROOT, "build/test.log"))
    args = ap.parse_args()
    wanted = [v for v in re.split(r"[\s,]+", args.versions) if v]
    unknown = [v for v in wanted if v not in [r[0] for r in MATRIX]]
    if unknown:
        print("unknown HAProxy version(s) %s; supported: %s" % (
            " ".join(unknown), " ".join(r[0] for r in MATRIX)))
        return 2

    def keep(name):
        return not args.k or args.k in name

    tty = sys.stdout.isatty() and os.environ.get("CI") != "true"
    rep = Report(args.log, tty)
    base = base_env()
    run_e2e_layer = not args.only or args.only == "e2e"
    e2e_names = [n for n, _, _ in e2e_programs() if keep(n)]
    versions = Versions(wanted if run_e2e_layer and e2e_names else ())

    layer = None
    fuzz = []
    for lay, name, argv, timeout in programs(args):
        if args.only and lay != args.only or not keep(name):
            continue
        if lay == "fuzz":
            fuzz.append((name, argv, timeout))
            continue
        if layer and lay != layer:
            rep.layer_done(layer)
        layer = lay
        rep.status("running [%s] %s ..." % (lay, name))
        rep.add(run_one(lay, name, argv, base, timeout), lay)
    if layer:
        rep.layer_done(layer)
    if fuzz:
        # each target is one single-threaded process running for a fixed
        # time: two at once use the two cores and halve the layer
        rep.status("running [fuzz] %d targets, two at a time ..."
                   % len(fuzz))
        with ThreadPoolExecutor(2) as ex:
            for f in [ex.submit(run_one, "fuzz", n, a, base, t)
                      for n, a, t in fuzz]:
                rep.add(f.result(), "fuzz")
        rep.layer_done("fuzz")

    if versions.rows:
        E2E(rep, versions, base, keep).run(args.jobs)
    rep.close()
    return 1 if rep.failed or rep.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
