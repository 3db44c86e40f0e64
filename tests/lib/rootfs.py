#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Cached Debian root filesystems, for running another Debian's HAProxy.

A root filesystem is built once by
    debootstrap --variant=minbase --include=haproxy[,PKG...] SUITE DIR MIRROR
and kept in a cache outside the clone, so later runs (and CI on the same
machine) do not download again:

    $AOAI_ROOTFS_CACHE   (default /var/cache/aoai-spoa/rootfs, or
                          ~/.cache/aoai-spoa/rootfs when that is not writable)
      SUITE/             the root filesystem (extra packages: SUITE+HASH/)
      SUITE/.aoai-rootfs  JSON stamp: suite, packages, HAProxy version
      SUITE.lock         flock: one builder at a time, readers wait

A build goes to a temporary folder next to the final one and is renamed
into place only when complete, so an interrupted build is never used.
Building needs root (debootstrap); using a cached one does not.

Binaries from the root filesystem run without chroot, through its own
dynamic loader with its own libraries (argv()), so they see the host's
files and loopback; wrapper() writes a one-line script for programs that
want a single executable path (e.g. the tests' HAPROXY variable).

Command line:
    python3 tests/lib/rootfs.py ensure SUITE [--include pkg,...]
        builds if needed, prints the root filesystem's path
    python3 tests/lib/rootfs.py haproxy SUITE
        prints the path of a wrapper running that suite's HAProxy

Python API (stdlib only):
    ensure(suite, include=()) -> path      build if needed, return the path
    info(path) -> dict                     the stamp (haproxy_version, ...)
    argv(path, binary) -> list             loader command running <binary>
    wrapper(path, binary="/usr/sbin/haproxy") -> path of an executable script

The cached tree is shared by every run: treat it as read-only. A test that
installs into it (dpkg -i in a chroot) works on a copy (cp -a PATH TMP).
Apt inside a tree ignores Release's Valid-Until (sid's can be expired).

A Debian archive mirror other than deb.debian.org: $AOAI_DEBIAN_MIRROR.
"""
import argparse
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

MIRROR = os.environ.get("AOAI_DEBIAN_MIRROR", "http://deb.debian.org/debian")
STAMP = ".aoai-rootfs"
LOADER = "lib64/ld-linux-x86-64.so.2"
LIBDIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")


class RootfsError(RuntimeError):
    pass


def _candidates():
    env = os.environ.get("AOAI_ROOTFS_CACHE")
    return [env] if env else [
        "/var/cache/aoai-spoa/rootfs",
        os.path.join(os.path.expanduser("~"), ".cache/aoai-spoa/rootfs")]


def cache_dir():
    """The cache folder new builds go to, created if missing."""
    candidates = _candidates()
    for d in candidates:
        try:
            os.makedirs(d, exist_ok=True)
            if os.access(d, os.W_OK | os.X_OK):
                return d
        except OSError:
            continue
    raise RootfsError("no writable rootfs cache (tried %s); set "
                      "AOAI_ROOTFS_CACHE" % ", ".join(candidates))


def _name(suite, include):
    if not re.fullmatch(r"[a-z][a-z0-9-]*", suite):
        raise RootfsError("bad suite name %r" % suite)
    extra = sorted(set(include) - {"haproxy"})
    for p in extra:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", p):
            raise RootfsError("bad package name %r" % p)
    if not extra:
        return suite, ["haproxy"]
    h = hashlib.sha1(",".join(extra).encode()).hexdigest()[:10]
    return "%s+%s" % (suite, h), ["haproxy"] + extra


def info(path):
    """The stamp of a built root filesystem (dict), or None."""
    try:
        with open(os.path.join(path, STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def argv(path, binary):
    """The command running <binary> (a path inside the root filesystem)
    through the root filesystem's loader and libraries, without chroot."""
    libs = ":".join(os.path.join(path, d) for d in LIBDIRS)
    return [os.path.join(path, LOADER), "--library-path", libs,
            os.path.join(path, binary.lstrip("/"))]


def _haproxy_version(path):
    out = subprocess.run(argv(path, "/usr/sbin/haproxy") + ["-v"],
                         capture_output=True, text=True, timeout=30)
    m = re.search(r"version (\S+)", out.stdout)
    if out.returncode != 0 or not m:
        raise RootfsError("haproxy -v in %s failed: %s" % (
            path, (out.stdout + out.stderr)[-500:]))
    return m.group(1)


def _build(suite, pkgs, final, log):
    if os.geteuid() != 0:
        raise RootfsError("building the %s root filesystem needs root "
                          "(debootstrap); run once as root: python3 "
                          "tests/lib/rootfs.py ensure %s" % (suite, suite))
    if not shutil.which("debootstrap"):
        raise RootfsError("debootstrap is not installed (apt-get install "
                          "debootstrap)")
    parent = os.path.dirname(final)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(final) + ".tmp-",
                           dir=parent)
    try:
        # debootstrap does not check Release's Valid-Until, so an expired
        # sid Release still bootstraps; apt inside the tree is told the same
        cmd = ["debootstrap", "--variant=minbase",
               "--include=" + ",".join(pkgs), suite, tmp, MIRROR]
        with open(log, "wb") as lf:
            rc = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL).returncode
        if rc != 0:
            with open(log, "rb") as lf:
                tail = lf.read()[-1500:].decode("utf-8", "replace")
            raise RootfsError("debootstrap %s failed (exit %d), log %s:\n%s"
                              % (suite, rc, log, tail))
        conf = os.path.join(tmp, "etc/apt/apt.conf.d/99aoai-valid-until")
        with open(conf, "w") as f:
            f.write('Acquire::Check-Valid-Until "false";\n')
        stamp = {"suite": suite, "packages": pkgs, "mirror": MIRROR,
                 "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "haproxy_version": _haproxy_version(tmp)}
        with open(os.path.join(tmp, STAMP), "w") as f:
            json.dump(stamp, f, indent=1)
        os.chmod(tmp, 0o755)  # mkdtemp made it 0700: others use it too
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure(suite, include=()):
    """Returns the path of SUITE's root filesystem with haproxy and
    <include> installed, building it first if the cache has none.
    Safe to call from parallel processes: one builds, the others wait."""
    name, pkgs = _name(suite, include)
    # a build root made in the shared cache serves other users too
    for d in _candidates():
        if info(os.path.join(d, name)):
            return os.path.join(d, name)
    cache = cache_dir()
    final = os.path.join(cache, name)
    with open(os.path.join(cache, name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if info(final):
            return final
        # leftovers of a build that died (we hold the lock: none is live)
        for old in glob.glob(final + ".tmp-*"):
            shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(final):
            shutil.rmtree(final)  # no stamp: incomplete
        _build(suite, pkgs, final, os.path.join(cache, name + ".log"))
    return final


def wrapper(path, binary="/usr/sbin/haproxy"):
    """Writes (once) an executable script in the cache (next to the root
    filesystem when the cache is the caller's) that runs <binary> from it
    with the caller's arguments; returns its path."""
    name = os.path.join(cache_dir(), "%s.%s" % (os.path.basename(path),
                                                os.path.basename(binary)))
    cmd = " ".join("'%s'" % a for a in argv(path, binary))
    text = "#!/bin/sh\nexec %s \"$@\"\n" % cmd
    try:
        with open(name) as f:
            if f.read() == text:
                return name
    except OSError:
        pass
    tmp = name + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, name)
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=("ensure", "haproxy", "info"))
    ap.add_argument("suite")
    ap.add_argument("--include", default="",
                    help="extra packages, comma-separated")
    a = ap.parse_args()
    include = [p for p in a.include.split(",") if p]
    try:
        path = ensure(a.suite, include)
    except RootfsError as e:
        print("rootfs: %s" % e, file=sys.stderr)
        return 1
    if a.command == "ensure":
        print(path)
    elif a.command == "haproxy":
        print(wrapper(path))
    else:
        print(json.dumps(info(path), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
