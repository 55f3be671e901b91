#!/usr/bin/env python3
"""Atomic rebuilds, concurrent readers and file modes, checked with real postmap.

1. cmap is killed with SIGKILL at random moments while it rebuilds a
   200,000-line map; after each kill, real `postmap -s` must read a whole map:
   exactly the old contents or exactly the new ones.
2. `postmap -q` runs in a loop while cmap rebuilds the same map 50 times,
   alternating two versions; every lookup must succeed with one of the two
   values.
3. File modes: a 0600 source gives a 0600 map; an existing map keeps its mode
   (less what lets other users read a table whose source they cannot read)
   (and, as root, its owner); -p gives 0644; as root, a map is owned by the
   source's owner unless -o.

Usage: atomic_test.py --cmap PATH [--type lmdb]. Works in a temporary
directory only. Exit 77 (skip) only when postmap is missing.
"""
import argparse
import hashlib
import fcntl
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg, flush=True)


def write_source(path, n, tag):
    with open(path, "w") as f:
        for i in range(n):
            f.write(f"[smtp-{i:07d}.example.net]:587 user{i}:{tag}-{i}\n")


def digest_of_map(typ, name, cwd):
    p = subprocess.run(["postmap", "-c", "conf", "-s", f"{typ}:{name}"], cwd=cwd,
                       capture_output=True, timeout=300)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace")[:200]
    lines = sorted(p.stdout.split(b"\n"))
    return hashlib.sha256(b"\n".join(lines)).hexdigest(), len(lines) - 1


def kill_test(cmap, typ, work, runs, lines):
    src_a = os.path.join(work, "a.txt")
    src_b = os.path.join(work, "b.txt")
    write_source(src_a, lines, "old")
    write_source(src_b, lines, "new")
    digests = {}
    for tag, src in (("a", src_a), ("b", src_b)):
        shutil.copy(src, os.path.join(work, "big"))
        subprocess.run(["postmap", "-c", "conf", f"{typ}:big"], cwd=work, check=True)
        digests[tag] = digest_of_map(typ, "big", work)[0]
    # Start from version a, built by cmap; time a full build.
    shutil.copy(src_a, os.path.join(work, "big"))
    t0 = time.monotonic()
    subprocess.run([cmap, "-c", "conf", f"{typ}:big"], cwd=work, check=True)
    build_time = time.monotonic() - t0
    if digest_of_map(typ, "big", work)[0] != digests["a"]:
        fail("cmap's build differs from postmap's for the same source")
        return
    rng = random.Random(20261127)
    killed_mid_build = 0
    seen = set()
    for i in range(runs):
        src = src_b if i % 2 == 0 else src_a
        shutil.copy(src, os.path.join(work, "big"))
        proc = subprocess.Popen([cmap, "-c", "conf", f"{typ}:big"], cwd=work,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, build_time * 1.1))
        if proc.poll() is None:
            killed_mid_build += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        d = digest_of_map(typ, "big", work)
        if d[0] not in (digests["a"], digests["b"]):
            fail(f"kill {i}: postmap read neither the old nor the new map ({d[1]})")
        # The killed build's temporary file is the only debris allowed; it
        # is aged past the sweep's few seconds, so the next build removes it.
        for name in debris(work, "big"):
            seen.add(name)
            os.utime(os.path.join(work, name), (time.time() - 60, time.time() - 60))
    subprocess.run([cmap, "-c", "conf", f"{typ}:big"], cwd=work, check=True)
    print(f"kill test: {runs} kills ({killed_mid_build} during a build, "
          f"build takes {build_time:.2f}s), map whole every time; "
          f"{len(seen)} temporary files of killed builds, each removed by a later build",
          flush=True)
    if killed_mid_build < runs // 4:
        fail(f"only {killed_mid_build} of {runs} kills hit a running build")
    if debris(work, "big"):
        fail(f"temporary files of killed builds survived a build: {debris(work, 'big')}")
    # Random kills may all land before a build creates its temporary file;
    # so kill one build for certain while its temporary file exists, and
    # check that the next build removes what it left.
    caught = None
    for attempt in range(10):
        proc = subprocess.Popen([cmap, "-c", "conf", f"{typ}:big"], cwd=work,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not debris(work, "big"):
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        caught = debris(work, "big")
        if caught:
            break
    if not caught:
        fail("10 builds finished before their temporary file was seen")
    else:
        for name in caught:
            os.utime(os.path.join(work, name), (time.time() - 60, time.time() - 60))
        subprocess.run([cmap, "-c", "conf", f"{typ}:big"], cwd=work, check=True)
        if debris(work, "big"):
            fail(f"a killed build's temporary file survived the next build: {caught}")
        print(f"kill test: a build killed with its temporary file in place "
              f"(attempt {attempt + 1}); the next build removed the file", flush=True)


def debris(work, name):
    return sorted(n for n in os.listdir(work) if n.startswith(f".{name}.") and ".cmap-" in n)


def sweep_test(cmap, typ, work):
    """A temporary file that a live build holds (flock) is never swept, even
    when old; once unlocked it is, and a young one is not."""
    name = "swept"
    with open(os.path.join(work, name), "w") as f:
        f.write("[relay.example.jp]:587 user:secret\n")
    tmp = os.path.join(work, f".{name}{ext(typ)}.cmap-AbC123")
    young = os.path.join(work, f".{name}{ext(typ)}.cmap-YoUng1")
    other = os.path.join(work, f".{name}{ext(typ)}.cmap-toolong1")
    for p in (tmp, young, other):
        with open(p, "w") as f:
            f.write("partial")
    old = time.time() - 60
    os.utime(tmp, (old, old))
    os.utime(other, (old, old))
    held = os.open(tmp, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    subprocess.run([cmap, "-c", "conf", f"{typ}:{name}"], cwd=work, check=True)
    if not os.path.exists(tmp):
        fail("a locked (live) temporary file was swept")
    os.close(held)
    subprocess.run([cmap, "-c", "conf", f"{typ}:{name}"], cwd=work, check=True)
    if os.path.exists(tmp):
        fail("an old unlocked temporary file was not swept")
    if not os.path.exists(young):
        fail("a temporary file younger than the sweep's age was swept")
    if not os.path.exists(other):
        fail("a file not named like a temporary file was swept")
    for p in (young, other):
        os.unlink(p)
    print("sweep test: done", flush=True)


def reader_test(cmap, typ, work, rebuilds, lines):
    src_a = os.path.join(work, "ra.txt")
    src_b = os.path.join(work, "rb.txt")
    write_source(src_a, lines, "old")
    write_source(src_b, lines, "new")
    shutil.copy(src_a, os.path.join(work, "live"))
    subprocess.run([cmap, "-c", "conf", f"{typ}:live"], cwd=work, check=True)
    key = f"[smtp-{lines // 2:07d}.example.net]:587"
    allowed = {f"user{lines // 2}:old-{lines // 2}", f"user{lines // 2}:new-{lines // 2}"}
    stop = threading.Event()
    results = {"lookups": 0, "bad": []}

    def reader():
        while not stop.is_set():
            p = subprocess.run(["postmap", "-c", "conf", "-q", key, f"{typ}:live"],
                               cwd=work, capture_output=True, timeout=60)
            results["lookups"] += 1
            value = p.stdout.decode().strip()
            if p.returncode != 0 or value not in allowed:
                results["bad"].append((p.returncode, p.stderr.decode()[:200]))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(rebuilds):
            shutil.copy(src_b if i % 2 == 0 else src_a, os.path.join(work, "live"))
            p = subprocess.run([cmap, "-c", "conf", f"{typ}:live"], cwd=work,
                               capture_output=True)
            if p.returncode != 0:
                fail(f"rebuild {i} failed: {p.stderr.decode()[:200]}")
    finally:
        stop.set()
        t.join()
    print(f"reader test: {rebuilds} rebuilds, {results['lookups']} postmap lookups, "
          f"{len(results['bad'])} bad", flush=True)
    if results["bad"]:
        fail(f"reader saw failures: {results['bad'][:3]}")
    if results["lookups"] < rebuilds:
        fail("too few lookups overlapped the rebuilds")


def ext(typ):
    return ".lmdb" if typ == "lmdb" else ".db"


def mode_test(cmap, typ, work):
    def build(name, *opts):
        return subprocess.run([cmap, "-c", "conf", *opts, f"{typ}:{name}"], cwd=work,
                              capture_output=True)

    def mode(path):
        return os.stat(os.path.join(work, path)).st_mode & 0o7777

    for src_mode, want in ((0o600, 0o600), (0o640, 0o640), (0o604, 0o604),
                           (0o666, 0o644), (0o400, 0o600), (0o755, 0o644)):
        name = f"m{src_mode:o}"
        with open(os.path.join(work, name), "w") as f:
            f.write("[relay.example.jp]:587 user:secret\n")
        os.chmod(os.path.join(work, name), src_mode)
        p = build(name)
        if p.returncode != 0:
            fail(f"mode {src_mode:o}: build failed")
        elif mode(name + ext(typ)) != want:
            fail(f"source {src_mode:o} gave {mode(name + ext(typ)):o}, want {want:o}")
    # -p: plain 0644.
    p = build("m600", "-p")
    os.unlink(os.path.join(work, "m600" + ext(typ)))
    p = build("m600", "-p")
    if mode("m600" + ext(typ)) != 0o644:
        fail(f"-p gave {mode('m600' + ext(typ)):o}")
    # An existing map keeps its mode through a rebuild from a 0666 source.
    os.chmod(os.path.join(work, "m666" + ext(typ)), 0o600)
    ino = os.stat(os.path.join(work, "m666" + ext(typ))).st_ino
    build("m666")
    if mode("m666" + ext(typ)) != 0o600:
        fail(f"existing 0600 map became {mode('m666' + ext(typ)):o}")
    if os.stat(os.path.join(work, "m666" + ext(typ))).st_ino == ino:
        fail("rebuild did not replace the file (expected a new inode)")
    # Except that read and write for other users go when the source does
    # not grant them: a table built from a 0644 source keeps 0644 in postmap
    # after the source is made 0600 (postmap rewrites it in place), cmap
    # takes the passwords away from other users and says so. The group's
    # bits stay (a proxymap setup may need them).
    os.chmod(os.path.join(work, "m666"), 0o600)
    os.chmod(os.path.join(work, "m666" + ext(typ)), 0o666)
    p = build("m666")
    if mode("m666" + ext(typ)) != 0o660:
        fail(f"existing 0666 map from a 0600 source became {mode('m666' + ext(typ)):o}, "
             "want 660")
    if b"was mode 0666, which lets other users read it" not in p.stderr:
        fail(f"no warning for the narrowed mode: {p.stderr!r}")
    p = build("m666")
    if p.stderr:
        fail(f"a second rebuild warned again: {p.stderr!r}")
    if os.getuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chmod(work, 0o777)
        own = os.path.join(work, "own")
        with open(own, "w") as f:
            f.write("k v\n")
        os.chmod(own, 0o640)
        os.chown(own, nobody.pw_uid, nobody.pw_gid)
        build("own")
        st = os.stat(own + ext(typ))
        if (st.st_uid, st.st_gid) != (nobody.pw_uid, nobody.pw_gid):
            fail(f"as root: map owned by {st.st_uid}:{st.st_gid}, want nobody")
        # An existing map keeps its owner; -o builds as root.
        os.unlink(own + ext(typ))
        build("own", "-o")
        st = os.stat(own + ext(typ))
        if st.st_uid != 0:
            fail(f"-o: map owned by {st.st_uid}, want root")
        os.chown(own + ext(typ), nobody.pw_uid, nobody.pw_gid)
        build("own", "-o")
        st = os.stat(own + ext(typ))
        if st.st_uid != nobody.pw_uid:
            fail("existing map lost its owner through a rebuild")
        os.chmod(work, 0o700)
    print("mode test: done", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--type", default="lmdb")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--rebuilds", type=int, default=50)
    opts = ap.parse_args()
    if shutil.which("postmap") is None:
        print("SKIP: postmap (Debian package postfix) is not installed")
        return 77
    cmap = os.path.abspath(opts.cmap)
    work = tempfile.mkdtemp(prefix="cmap-atomic-")
    try:
        os.mkdir(os.path.join(work, "conf"))
        with open(os.path.join(work, "conf", "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        os.chmod(work, 0o700)
        mode_test(cmap, opts.type, work)
        sweep_test(cmap, opts.type, work)
        kill_test(cmap, opts.type, work, opts.kills, 200000)
        reader_test(cmap, opts.type, work, opts.rebuilds, 20000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"atomic {opts.type}: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
