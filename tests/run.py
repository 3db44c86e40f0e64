#!/usr/bin/env python3
"""Runs every test layer and prints one closing line "N passed, M failed".

Each test program prints one line per check, "ok - name" or
"not ok - name: detail", and exits non-zero when a check failed. A program
that exits non-zero without a failing check, or that exits 0 without a
single check, counts as one failure: a test that ran nothing did not pass.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def layers(args):
    """Yields (layer, name, argv, env, timeout) in run order."""
    env = dict(os.environ, AOAI_ROOT=ROOT,
               AOAI_SPOA=os.path.join(ROOT, "build/aoai-spoa"),
               AOAI_SPOA_ASAN=os.path.join(ROOT, "build/asan/aoai-spoa"),
               MOCK_AOAI=os.path.join(ROOT, "build/mock-aoai"),
               PYTHONPATH=os.path.join(ROOT, "tests/lib"),
               PYTHONDONTWRITEBYTECODE="1")
    for build in ("build", "build/asan"):
        for path in sorted(glob.glob(os.path.join(ROOT, build, "tests",
                                                  "test_*"))):
            yield ("unit", os.path.relpath(path, ROOT), [path], env, 300)
    for layer, pattern in (("mock", "tests/mock/test_*.py"),
                           ("integration", "tests/integration/test_*.py"),
                           ("e2e", "tests/e2e/test_*.py")):
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            yield (layer, os.path.relpath(path, ROOT),
                   [sys.executable, path], env, 600)
    # make lint as a layer, so CI enforces it: one check
    yield ("lint", "tests/lint.sh", ["sh", os.path.join(ROOT,
                                                         "tests/lint.sh")],
           env, 300)
    for path in sorted(glob.glob(os.path.join(ROOT, "build/fuzz/fuzz_*"))):
        name = os.path.basename(path)
        argv = [path, "-max_total_time=%d" % args.fuzz_seconds,
                "-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1",
                "{corpus}"]
        seeds = os.path.join(ROOT, "tests/fuzz/corpus", name)
        if os.path.isdir(seeds):
            argv.append(seeds)
        yield ("fuzz", name, argv, env, args.fuzz_seconds + 120)


def run_one(layer, name, argv, env, timeout):
    """Runs one program; returns (passed, failed, skipped)."""
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
    secs = time.monotonic() - start
    passed = failed = 0
    if layer == "lint":
        if rc == 0:
            print("ok - make lint: clang-format and banned functions clean")
            return 1, 0, 0
        print(out[-4000:])
        print("not ok - make lint: exit %s" % rc)
        return 0, 1, 0
    if layer == "fuzz":
        m = FUZZ_DONE.search(out)
        if rc == 0 and m:
            print("ok - fuzz %s: %s runs in %s s, no finding"
                  % (name, m.group(1), m.group(2)))
            return 1, 0, 0
        print(out[-4000:])
        print("not ok - fuzz %s: exit %s" % (name, rc))
        return 0, 1, 0
    skipped = 0
    for line in out.splitlines():
        if line.startswith("ok - ") and "# SKIP" in line:
            skipped += 1  # not run: neither passed nor failed
        elif line.startswith("ok - "):
            passed += 1
        elif line.startswith("not ok - "):
            failed += 1
        print("  " + line if not line.startswith(("ok", "not ok"))
              else line)
    if rc != 0 and failed == 0:
        print("not ok - %s: exit %s without a failed check" % (name, rc))
        failed += 1
    if rc == 0 and passed == 0 and failed == 0:
        print("not ok - %s: ran no check" % name)
        failed += 1
    print("# %s %s: %d passed, %d failed%s (%.1f s)"
          % (layer, name, passed, failed,
             ", %d skipped" % skipped if skipped else "", secs))
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="run one layer (unit, mock, "
                    "integration, e2e, lint, fuzz)")
    ap.add_argument("--fuzz-seconds", type=int,
                    default=int(os.environ.get("FUZZ_SECONDS_TEST", "15")))
    ap.add_argument("-k", help="only programs whose name contains this")
    args = ap.parse_args()
    total_p = total_f = total_s = 0
    for layer, name, argv, env, timeout in layers(args):
        if args.only and layer != args.only:
            continue
        if args.k and args.k not in name:
            continue
        print("# --- %s: %s" % (layer, name), flush=True)
        p, f, sk = run_one(layer, name, argv, env, timeout)
        total_p += p
        total_f += f
        total_s += sk
        sys.stdout.flush()
    if total_s:
        print("# %d checks skipped (not counted as passed)" % total_s)
    print("%d passed, %d failed" % (total_p, total_f))
    return 1 if total_f or total_p == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
