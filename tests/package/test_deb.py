#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Debian package, on Debian 12 (the host) and 13 (in a root filesystem
of build tools): dpkg-buildpackage -us -uc -b on a copy of the tree builds
aoai-spoa and aoai-spoa-dbgsym; lintian has no error and no warning; the
package installs with dpkg into a clean root filesystem of the same
release (debootstrap minbase with only the package's runtime dependencies,
a copy of the cached one from tests/lib/rootfs.py), where "aoai-spoa -c"
accepts the installed configuration, the agent starts once from it (its
loopback ports moved to free ones) and serves SPOP, aoai-spoa-import-apim
runs with the root filesystem's python3, and dpkg --purge removes it all.

Needs root (debootstrap, chroot) and dpkg-dev, debhelper, lintian:
"make deps" installs them.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import harness as H
import rootfs

sys.path.insert(0, os.path.join(H.ROOT, "tests/integration"))
import itest as I  # noqa: E402

# Per Debian release: the package's Depends there (${shlibs:Depends} and
# python3), which are all its clean root filesystem gets (dpkg -i fails if
# one is missing, so a list too short cannot pass), and, for a release
# other than the host's, the build tools of a root filesystem in which
# dpkg-buildpackage runs.
SUITES = {
    "bookworm": ("libev4", "libyaml-0-2", "libmsgpackc2", "libssl3",
                 "libjansson4", "python3"),
    "trixie": ("libev4t64", "libyaml-0-2", "libmsgpack-c2", "libssl3t64",
               "libjansson4", "python3"),
}


def build_tools():
    """debian/control's Build-Depends (first alternative of each, the
    debhelper-compat pseudo-package as debhelper) plus what
    dpkg-buildpackage itself needs: one list, so a new build dependency
    reaches the other release's build root filesystem."""
    text = open(os.path.join(H.ROOT, "debian/control")).read()
    m = re.search(r"^Build-Depends:(.*?)(?=^\S)", text, re.M | re.S)
    pkgs = ["build-essential", "dpkg-dev", "python3"]
    for dep in m.group(1).split(","):
        name = dep.split("|")[0].split("(")[0].strip()
        if name:
            pkgs.append("debhelper" if name == "debhelper-compat" else name)
    return tuple(sorted(set(pkgs)))


BUILD_TOOLS = build_tools()
# Releases tested; AOAI_PACKAGE_SUITES overrides (e.g. "bookworm" alone).
# Their root filesystems are built (first run only, then cached) in the
# background at once, while the first release's checks run.
WANTED = os.environ.get("AOAI_PACKAGE_SUITES", "bookworm trixie").split()
# lintian tags accepted, each with the reason; none today.
LINTIAN_OK = {}


def sh(argv, timeout=600, **kw):
    p = subprocess.run(argv, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr


def copy_tree(dest):
    """The working tree as git sees it (tracked and new files, not the
    ignored ones such as build/), without writing into the clone."""
    rc, out, err = sh(["git", "-C", H.ROOT, "ls-files", "-z", "-c", "-o",
                       "--exclude-standard"])
    if rc != 0:
        raise RuntimeError("git ls-files: " + err)
    for rel in out.split("\0"):
        if not rel or not os.path.exists(os.path.join(H.ROOT, rel)):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(H.ROOT, rel), os.path.join(dest, rel))


def deb_fields(deb):
    rc, out, err = sh(["dpkg-deb", "-f", deb])
    return dict(re.findall(r"^(\S+): (.*)$", out, re.M))


def main():
    t = H.Tap()
    if os.geteuid() != 0:
        t.ok(False, "the package test needs root (debootstrap, chroot)")
        t.done()
    host = re.search(r"^VERSION_CODENAME=(\S+)", open(
        "/etc/os-release").read(), re.M)
    host = host.group(1) if host else "?"
    pool = ThreadPoolExecutor(4)
    roots = {}
    for suite in WANTED:
        if suite not in SUITES:
            t.ok(False, "%s: a known release (%s)" % (suite, " ".join(
                SUITES)))
            continue
        roots[suite] = (pool.submit(rootfs.ensure, suite, SUITES[suite]),
                        pool.submit(rootfs.ensure, suite, BUILD_TOOLS)
                        if suite != host else None)
    for suite, (run_root, build_root) in roots.items():
        work = tempfile.mkdtemp(prefix="aoai-deb-", dir="/var/tmp")
        try:
            with H.Procs() as procs:
                run(t, work, procs, suite, host, run_root, build_root)
        except Exception as exc:
            t.ok(False, "%s: package tests ran to the end" % suite,
                 repr(exc))
        finally:
            for root in ("root", "build-root"):
                sh(["umount", "-l", os.path.join(work, root, "proc")])
            shutil.rmtree(work, ignore_errors=True)
    pool.shutdown()
    t.done()


class Prefixed:
    """The Tap with the release in front of each check name."""

    def __init__(self, tap, prefix):
        self.tap, self.prefix = tap, prefix

    def ok(self, cond, name, detail=""):
        return self.tap.ok(cond, self.prefix + name, detail)

    def eq(self, got, want, name):
        return self.tap.eq(got, want, self.prefix + name)


def run(t, work, procs, suite, host, run_root, build_root):
    """Builds on <suite> (the host, or a copy of the root filesystem that
    the future <build_root> gives), checks, installs into a copy of the
    clean one of <run_root>, and runs."""
    t = Prefixed(t, "%s: " % suite)
    if suite == host:
        top, inside = work, lambda argv: argv
    else:
        top = os.path.join(work, "build-root")
        rc, out, err = sh(["cp", "-a", "--reflink=auto",
                           build_root.result(), top])
        t.ok(rc == 0, "a copy of the root filesystem with the build "
             "tools", err)
        sh(["mount", "-t", "proc", "proc", os.path.join(top, "proc")])

        def inside(argv):
            return ["chroot", top, "env", "-i",
                    "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8",
                    "HOME=/root"] + argv
    # build the package from a copy, not from the clone
    src = os.path.join(top, "tmp", "src", "aoai-spoa")
    copy_tree(src)
    rc, build_out, build_err = sh(inside(["sh", "-c", "cd /tmp/src/aoai-spoa"
                                          " && dpkg-buildpackage -us -uc -b"])
                                  if suite != host else
                                  ["dpkg-buildpackage", "-us", "-uc", "-b"],
                                  cwd=src, timeout=900)
    t.ok(rc == 0, "dpkg-buildpackage -us -uc -b: exit 0",
         (build_out + build_err)[-1500:])
    release = open(os.path.join(H.ROOT, "VERSION")).read().strip()
    debs = sorted(glob.glob(os.path.join(top, "tmp", "src", "*.deb")))
    names = [os.path.basename(d) for d in debs]
    t.eq(names, ["aoai-spoa-dbgsym_%s_amd64.deb" % release,
                 "aoai-spoa_%s_amd64.deb" % release],
         "the package and its -dbgsym, version %s" % release)
    deb = os.path.join(top, "tmp", "src",
                       "aoai-spoa_%s_amd64.deb" % release)
    dbg = os.path.join(top, "tmp", "src",
                       "aoai-spoa-dbgsym_%s_amd64.deb" % release)
    if not os.path.exists(deb):
        return
    f = deb_fields(deb)
    dep = f.get("Depends", "")
    t.ok(all(re.search(r"(^|, )%s( |,|$)" % re.escape(p), dep) for p in
             ("libc6",) + SUITES[suite]),
         "Depends from ${shlibs:Depends} (libc6, %s)"
         % ", ".join(SUITES[suite]), dep)
    rc, listing, err = sh(["dpkg-deb", "-c", deb])
    files = set(re.findall(r" \.(/\S+)$", listing, re.M))
    want = ["/usr/sbin/aoai-spoa", "/usr/bin/aoai-spoa-import-apim",
            "/etc/aoai-spoa/aoai-spoa.yaml",
            "/usr/share/man/man8/aoai-spoa.8.gz",
            "/usr/share/man/man5/aoai-spoa.yaml.5.gz",
            "/usr/share/man/man1/aoai-spoa-import-apim.1.gz",
            "/usr/share/doc/aoai-spoa/copyright",
            "/usr/share/doc/aoai-spoa/examples/haproxy.cfg",
            "/usr/share/doc/aoai-spoa/examples/aoai-spoe.conf",
            "/usr/share/doc/aoai-spoa/examples/aoai-spoa.yaml",
            "/usr/share/doc/aoai-spoa/examples/README.md"]
    # units where the release's debhelper puts them (/usr/lib on newer)
    for u in ("aoai-spoa.service", "aoai-spoa.socket",
              "aoai-spoa-control.socket"):
        want.append(next((d + u for d in ("/lib/systemd/system/",
                                          "/usr/lib/systemd/system/")
                          if d + u in files), "/lib/systemd/system/" + u))
    t.ok(not [w for w in want if w not in files],
         "the package holds the agent, the tool, three units, the "
         "configuration, three man pages and the HAProxy examples",
         [w for w in want if w not in files])
    t.ok(not [x for x in files if x.startswith(("/usr/lib/libspop",
                                                "/usr/include"))],
         "no static library or header in the binary package")
    ctl = os.path.join(work, "ctl")
    sh(["dpkg-deb", "-e", deb, ctl])
    conff = open(os.path.join(ctl, "conffiles")).read().split() \
        if os.path.exists(os.path.join(ctl, "conffiles")) else []
    t.eq(conff, ["/etc/aoai-spoa/aoai-spoa.yaml"],
         "/etc/aoai-spoa/aoai-spoa.yaml is the conffile")
    postinst = open(os.path.join(ctl, "postinst")).read() \
        if os.path.exists(os.path.join(ctl, "postinst")) else ""
    t.ok(all("deb-systemd-helper enable '%s'" % u in postinst for u in
             ("aoai-spoa.socket", "aoai-spoa-control.socket",
              "aoai-spoa.service")) and
         "deb-systemd-invoke start" not in postinst and
         "deb-systemd-invoke $_dh_action" not in postinst.split(
             "restart")[0],
         "postinst enables the three units and starts none on a first "
         "install")
    ex = os.path.join(work, "x")
    sh(["dpkg-deb", "-x", deb, ex])
    rc, out, err = sh(["readelf", "-S", os.path.join(ex,
                                                     "usr/sbin/aoai-spoa")])
    t.ok(rc == 0 and ".debug_info" not in out and ".symtab" not in out,
         "the binary is stripped")
    rc, out, err = sh(["readelf", "-n", os.path.join(ex,
                                                     "usr/sbin/aoai-spoa")])
    bid = re.search(r"Build ID: ([0-9a-f]+)", out)
    rc, dlist, err = sh(["dpkg-deb", "-c", dbg])
    t.ok(bid and "/usr/lib/debug/.build-id/%s/%s.debug" % (
        bid.group(1)[:2], bid.group(1)[2:]) in dlist,
        "-dbgsym holds the binary's debug symbols by build id")
    cc = [ln for ln in (build_out + build_err).splitlines()
          if " -c agent/main.c " in ln]
    rc, out, err = sh(["readelf", "-d", os.path.join(
        ex, "usr/sbin/aoai-spoa")])
    t.ok(cc and "-D_FORTIFY_SOURCE=2" in cc[0] and
         "-fstack-protector-strong" in cc[0] and "BIND_NOW" in out and
         "PIE" in out, "hardened: Debian's build flags reach the compiler "
         "(_FORTIFY_SOURCE, stack protector); PIE, bind now", cc[:1])

    changes = glob.glob(os.path.join(top, "tmp", "src", "*.changes"))
    # the host's lintian for every release: debootstrap cannot install
    # trixie's lintian with --include (its perl dependencies fail to
    # configure in that order)
    rc, out, err = sh(["lintian", "--tag-display-limit", "0"] + changes,
                      timeout=600)
    tags = re.findall(r"^([EW]): \S+: (\S+)(.*)$", out, re.M)
    bad = ["%s: %s%s" % (s, tag, rest) for s, tag, rest in tags
           if tag not in LINTIAN_OK]
    t.ok(changes and not bad and rc in (0, 2),
         "lintian: no error, no warning (%d accepted)" % (len(tags) -
                                                           len(bad)),
         (bad or out + err)[:20] if bad else (out + err)[-500:])
    print("# lintian output:\n#   " + "\n#   ".join(
        (out.strip() or "(none)").splitlines()))

    # a clean root filesystem: a copy of the cached debootstrap
    if suite != host:
        sh(["umount", "-l", os.path.join(top, "proc")])
    cached = run_root.result()
    target = os.path.join(work, "root")
    rc, out, err = sh(["cp", "-a", "--reflink=auto", cached, target])
    t.ok(rc == 0, "a fresh copy of the %s root filesystem" % suite, err)
    rc, out, err = sh(["chroot", target, "dpkg-query", "-W",
                       "-f=${Package}\\n", "aoai-spoa"])
    t.ok(rc != 0, "aoai-spoa not installed there before")
    shutil.copy(deb, os.path.join(target, "tmp"))
    sh(["mount", "-t", "proc", "proc", os.path.join(target, "proc")])
    rc, out, err = sh(["chroot", target, "dpkg", "-i",
                       "/tmp/" + os.path.basename(deb)],
                      env=dict(os.environ, DEBIAN_FRONTEND="noninteractive",
                               PATH="/usr/sbin:/usr/bin:/sbin:/bin"))
    t.ok(rc == 0, "dpkg -i in the clean %s root filesystem: exit 0 (its "
         "dependencies are satisfied)" % suite, (out + err)[-1500:])
    rc, out, err = sh(["chroot", target, "dpkg-query", "-W",
                       "-f=${Status} ${Version}", "aoai-spoa"])
    t.eq(out, "install ok installed %s" % release,
         "dpkg: aoai-spoa %s installed" % release)
    wants = os.path.join(target, "etc/systemd/system/sockets.target.wants")
    t.ok(os.path.islink(os.path.join(wants, "aoai-spoa.socket")) and
         os.path.islink(os.path.join(wants, "aoai-spoa-control.socket")),
         "both socket units enabled (sockets.target.wants)")

    rc, out, err = sh(["chroot", target, "/usr/sbin/aoai-spoa", "-c", "-f",
                       "/etc/aoai-spoa/aoai-spoa.yaml"])
    t.ok(rc == 0 and "configuration OK" in out,
         "installed: aoai-spoa -c -f /etc/aoai-spoa/aoai-spoa.yaml says "
         "configuration OK", out + err)
    rc, out, err = sh(["chroot", target, "/usr/sbin/aoai-spoa",
                       "--version"])
    t.ok(rc == 0 and out.strip().startswith("aoai-spoa %s" % release),
         "installed: --version says %s" % release, out + err)

    # start once from the installed file, its fixed loopback ports moved
    text = open(os.path.join(target, "etc/aoai-spoa/aoai-spoa.yaml")).read()
    ports = {}

    def move(m):
        ports.setdefault(m.group(1), H.free_port())
        return "tcp://127.0.0.1:%d" % ports[m.group(1)]
    run_text = re.sub(r"tcp://127\.0\.0\.1:(\d+)", move, text)
    with open(os.path.join(target, "tmp/run.yaml"), "w") as fh:
        fh.write(run_text)
    os.makedirs(os.path.join(target, "run/aoai-spoa"), exist_ok=True)
    spop_port = ports.get("12345")
    p = procs.start(["chroot", target, "/usr/sbin/aoai-spoa", "-f",
                     "/tmp/run.yaml"], "installed-agent.log")
    up = spop_port and H.wait_port(spop_port, timeout=15, proc=p)
    t.ok(up and I.serves(spop_port), "installed agent serves SPOP: HELLO "
         "and a routed ACK", H.read_log(p)[-800:])
    ctl = os.path.join(target, "run/aoai-spoa/control.sock")
    info = H.ask_unix(ctl, "show info") if os.path.exists(ctl) else ""
    t.ok(release in info, "installed agent: show info on its control "
         "socket names the version", info[:300])
    t.eq(procs.stop(p), 0, "installed agent exits 0 on SIGTERM")

    # the tool with the root filesystem's own python3
    shutil.copy(os.path.join(H.ROOT, "tests/apim/az-backend-list.json"),
                os.path.join(target, "tmp"))
    rc, out, err = sh(["chroot", target, "aoai-spoa-import-apim", "-q",
                       "-o", "/tmp/apim.yaml", "/tmp/az-backend-list.json"],
                      env=dict(os.environ,
                               PATH="/usr/sbin:/usr/bin:/sbin:/bin"))
    rc2, out2, err2 = sh(["chroot", target, "/usr/sbin/aoai-spoa", "-c",
                          "-f", "/tmp/apim.yaml"])
    t.ok(rc == 0 and rc2 == 0 and "configuration OK" in out2,
         "installed aoai-spoa-import-apim runs with %s's python3; "
         "aoai-spoa -c accepts its output" % suite, err + out2 + err2)

    rc, out, err = sh(["chroot", target, "dpkg", "--purge", "aoai-spoa"],
                      env=dict(os.environ,
                               PATH="/usr/sbin:/usr/bin:/sbin:/bin"))
    left = [x for x in ("usr/sbin/aoai-spoa", "etc/aoai-spoa/aoai-spoa.yaml",
                        "usr/lib/systemd/system/aoai-spoa.service",
                        "etc/systemd/system/sockets.target.wants/"
                        "aoai-spoa.socket")
            if os.path.lexists(os.path.join(target, x))]
    t.ok(rc == 0 and not left, "dpkg --purge removes the files, the "
         "conffile and the unit links", (left, err[-300:]))


if __name__ == "__main__":
    main()
