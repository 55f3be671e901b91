#!/usr/bin/env python3
"""Writers that grow, refuse foreign files and end cleanly (issue 12).

1. growth: real postmap builds a 1,000,000-entry lmdb: table with the default
   lmdb_map_size; `cmap -i` adds 100,000 keys to it, and real `postmap -q -`
   finds every one (and `postmap -s` counts 1,100,000 records). Then the
   same with a small lmdb_map_size (1 MiB) in main.cf on a 600,000-line
   table: one `cmap -i` line and one `cmap -d` must succeed.
2. foreign targets: X.lmdb and X.db are symbolic links to a file that is not
   a table (and, second, regular files that are not tables). `cmap lmdb:X`,
   `cmap hash:X`, `cmap -i` and `cmap -d` must fail with postmap's message
   and exit status, and leave the file byte for byte as it was.
3. one table named several times (`-d KEY T T LINK-TO-T`) ends, as postmap
   does, with the same exit status and table (open file description locks
   of one process conflict with each other: cmap must not wait for itself).
4. clean fatals: `cmap -i` whose standard input fails with EIO (strace fault
   injection), and a build under `ulimit -v` too small for it, must end in
   one `cmap: fatal:` line naming the operation, exit 1, no signal, no core
   file, the old table whole (real `postmap -s` reads the same records).

Usage: writer_safety_test.py --cmap PATH [--quick] (--quick: 100,000 and
10,000 instead of 1,000,000 and 100,000). Works in a temporary directory.
"""
import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg, flush=True)


def run(cmd, cwd, stdin_text=None, timeout=900):
    return subprocess.run(cmd, cwd=cwd, input=stdin_text, capture_output=True,
                          text=True, timeout=timeout)


def write_conf(work, extra=""):
    conf = os.path.join(work, "conf")
    os.makedirs(conf, exist_ok=True)
    path = os.path.join(conf, "main.cf")
    with open(path, "w") as f:
        f.write("compatibility_level = 3.6\n" + extra)
    old = time.time() - 3600
    os.utime(path, (old, old))  # postmap waits 2 s after a fresh main.cf


def write_lines(path, prefix, n, start=0):
    with open(path, "w") as f:
        for i in range(start, start + n):
            f.write(f"{prefix}{i:07d} value-{i}\n")


def sorted_dump(typ, name, cwd):
    p = run(["postmap", "-c", "conf", "-s", f"{typ}:{name}"], cwd)
    if p.returncode != 0:
        return None
    return hashlib.sha256("".join(sorted(p.stdout.splitlines(True))).encode()).hexdigest()


def growth(cmap, work, big, add):
    before = len(failures)
    write_conf(work)
    write_lines(os.path.join(work, "big"), "key", big)
    p = run(["postmap", "-c", "conf", "lmdb:big"], work)
    if p.returncode != 0:
        fail(f"growth: postmap could not build the table: {p.stderr[:300]}")
        return
    new_lines = "".join(f"new{i:07d} added-{i}\n" for i in range(add))
    p = run([cmap, "-c", "conf", "-i", "lmdb:big"], work, new_lines)
    if p.returncode != 0:
        fail(f"growth: cmap -i of {add} keys exited {p.returncode}: {p.stderr[:300]}")
        return
    q = run(["postmap", "-c", "conf", "-q", "-", "lmdb:big"], work,
            "".join(f"new{i:07d}\n" for i in range(add)))
    got = dict(line.split("\t", 1) for line in q.stdout.splitlines())
    missing = [i for i in range(add) if got.get(f"new{i:07d}") != f"added-{i}"]
    if missing:
        fail(f"growth: {len(missing)} of {add} added keys missing, e.g. new{missing[0]:07d}")
    s = run(["postmap", "-c", "conf", "-s", "lmdb:big"], work)
    if s.returncode != 0 or len(s.stdout.splitlines()) != big + add:
        fail(f"growth: postmap -s exited {s.returncode} with "
             f"{len(s.stdout.splitlines())} records, expected {big + add}")
    print(f"growth: {add} keys added to a {big}-entry postmap table: "
          f"{'ok' if len(failures) == before else 'FAILED'}", flush=True)

    # A small lmdb_map_size: the map must grow past it at once.
    before = len(failures)
    write_conf(work, "lmdb_map_size = 1048576\n")
    small = max(big * 6 // 10, 10000)
    write_lines(os.path.join(work, "small"), "key", small)
    for builder in ("postmap", cmap):
        p = run([builder, "-c", "conf", "lmdb:small"], work)
        if p.returncode != 0:
            fail(f"growth: {builder} build with a 1 MiB map: {p.stderr[:300]}")
            continue
        p = run([cmap, "-c", "conf", "-i", "lmdb:small"], work, "one more\n")
        if p.returncode != 0:
            fail(f"growth: one-line cmap -i on a table built by "
                 f"{os.path.basename(builder)}: {p.stderr[:300]}")
        p = run([cmap, "-c", "conf", "-d", "key0000001", "lmdb:small"], work)
        if p.returncode != 0:
            fail(f"growth: cmap -d on a table built by {os.path.basename(builder)}: "
                 f"{p.stderr[:300]}")
        q = run(["postmap", "-c", "conf", "-q", "one", "lmdb:small"], work)
        if q.stdout.strip() != "more":
            fail(f"growth: postmap -q finds {q.stdout.strip()!r} for the added key")
    print(f"growth: lmdb_map_size = 1 MiB, {small} entries: "
          f"{'ok' if len(failures) == before else 'FAILED'}", flush=True)
    write_conf(work)


def foreign(cmap, work):
    before = len(failures)
    with open(os.path.join(work, "X"), "w") as f:
        f.write("a 1\nb 2\n")
    content = b"precious: not a table\n" * 300
    for typ, suffix, message in (("lmdb", ".lmdb", "MDB_INVALID"),
                                 ("hash", ".db", "Invalid argument")):
        for how in ("symlink", "file"):
            victim = os.path.join(work, f"victim{suffix}.txt")
            with open(victim, "wb") as f:
                f.write(content)
            link = os.path.join(work, "X" + suffix)
            if os.path.lexists(link):
                os.unlink(link)
            if how == "symlink":
                os.symlink(os.path.basename(victim), link)
                target = victim
            else:
                shutil.copy(victim, link)
                target = link
            for args, stdin in (([f"{typ}:X"], None), (["-i", f"{typ}:X"], "c 3\n"),
                                (["-d", "a", f"{typ}:X"], None)):
                p = run([cmap, "-c", "conf"] + args, work, stdin)
                with open(target, "rb") as f:
                    after = f.read()
                what = f"cmap {' '.join(args)} with X{suffix} a {how} to a non-table"
                if p.returncode != 1 or "cmap: fatal: open database X" + suffix not in p.stderr \
                        or message not in p.stderr:
                    fail(f"{what}: exit {p.returncode}, {p.stderr.strip()[:200]!r}")
                if after != content:
                    fail(f"{what}: the file was changed")
                if how == "symlink" and not os.path.islink(link):
                    fail(f"{what}: the symbolic link was replaced")
            os.unlink(link)
    # A symbolic link to a real table is followed, and stays a link.
    p = run(["postmap", "-c", "conf", "lmdb:X"], work)
    os.rename(os.path.join(work, "X.lmdb"), os.path.join(work, "real.lmdb"))
    os.symlink("real.lmdb", os.path.join(work, "X.lmdb"))
    p = run([cmap, "-c", "conf", "lmdb:X"], work)
    if p.returncode != 0 or not os.path.islink(os.path.join(work, "X.lmdb")):
        fail(f"rebuild through a symlink to a table: exit {p.returncode} {p.stderr[:200]}")
    print(f"foreign targets: {'ok' if len(failures) == before else 'FAILED'}", flush=True)


def same_file_twice(cmap, work):
    """postmap -d KEY T T (one table named twice, or through a link) must not
    wait for its own lock: cmap's locks are open file description locks."""
    before = len(failures)
    for typ in ("lmdb", "hash"):
        suffix = ".lmdb" if typ == "lmdb" else ".db"
        results = []
        for prog in ("postmap", cmap):
            with open(os.path.join(work, "twice"), "w") as f:
                f.write("a 1\nb 2\nc 3\n")
            run(["postmap", "-c", "conf", f"{typ}:twice"], work)
            link = os.path.join(work, "alias" + suffix)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink("twice" + suffix, link)
            try:
                d = run([prog, "-c", "conf", "-d", "a", f"{typ}:twice", f"{typ}:twice",
                         f"{typ}:alias"], work, timeout=60)
                i = subprocess.run([prog, "-c", "conf", "-i", f"{typ}:twice"], cwd=work,
                                   input="d 4\n", capture_output=True, text=True,
                                   timeout=60)
            except subprocess.TimeoutExpired:
                fail(f"{typ}: {os.path.basename(prog)} -d on one table named three "
                     f"times hangs")
                results.append(None)
                continue
            dump = run(["postmap", "-c", "conf", "-s", f"{typ}:twice"], work)
            results.append((d.returncode, i.returncode, sorted(dump.stdout.splitlines())))
        if results[0] != results[1]:
            fail(f"{typ}: one table named three times: postmap {results[0]}, "
                 f"cmap {results[1]}")
    print(f"same file twice: {'ok' if len(failures) == before else 'FAILED'}", flush=True)


def clean_fatals(cmap, work, lines):
    before = len(failures)
    write_lines(os.path.join(work, "t"), "key", 1000)
    for typ in ("hash", "lmdb"):
        p = run(["postmap", "-c", "conf", f"{typ}:t"], work)
        old = sorted_dump(typ, "t", work)
        # 1. EIO on standard input during -i (the first read fails).
        if shutil.which("strace"):
            src = os.path.join(work, "add")
            write_lines(src, "add", 100)
            with open(src) as f:
                p = subprocess.run(
                    ["strace", "-f", "-o", "/dev/null", "-e", "inject=read:error=EIO:when=1",
                     "-e", "trace=read", "-P", src, cmap, "-c", "conf", "-i", f"{typ}:t"],
                    cwd=work, stdin=f, capture_output=True, text=True, timeout=300)
            err = p.stderr.strip()
            if p.returncode != 1 or err != f"cmap: fatal: read stdin: Input/output error":
                fail(f"{typ}: stdin EIO: exit {p.returncode}, {err[:300]!r}")
        else:
            fail("strace is missing: scripts/setup.sh installs it")
        # 2. Out of memory in a build: the address space of a small process.
        big = os.path.join(work, "t")
        write_lines(big, "key", lines)

        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (150 << 20, 150 << 20))
            resource.setrlimit(resource.RLIMIT_CORE, (1 << 30, 1 << 30))
        p = subprocess.run([cmap, "-c", "conf", f"{typ}:t"], cwd=work,
                           capture_output=True, text=True, timeout=600, preexec_fn=limit)
        err = p.stderr.strip()
        if p.returncode != 1 or not err.startswith("cmap: fatal: ") or "\n" in err \
                or "memory" not in err:
            fail(f"{typ}: out of memory: exit {p.returncode}, {err[:300]!r}")
        if any(n.startswith("core") for n in os.listdir(work)):
            fail(f"{typ}: out of memory left a core file")
        if sorted_dump(typ, "t", work) != old:
            fail(f"{typ}: the old table changed after a failed build")
        write_lines(big, "key", 1000)
    print(f"clean fatals: {'ok' if len(failures) == before else 'FAILED'}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cmap = os.path.abspath(args.cmap)
    if shutil.which("postmap") is None:
        print("postmap is missing: scripts/setup.sh installs it", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="cmap-writer-safety-")
    try:
        write_conf(work)
        foreign(cmap, work)
        same_file_twice(cmap, work)
        clean_fatals(cmap, work, 2000000)
        big, add = (100000, 10000) if args.quick else (1000000, 100000)
        growth(cmap, work, big, add)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
