#!/usr/bin/env python3
"""cmap --convert against real postmap: a table whose source is gone,
rewritten as the other type, must hold exactly what the old one held.

Tables are built by real postmap (Debian's postfix, used as a program only)
from sources with mixed case, UTF-8 keys (folded by postmap), quoted keys,
long values and, per case, postmap's -f (no folding), -u (no UTF-8 checks)
and -n (no trailing NUL); the source is deleted; cmap converts; then
`postmap -s` of the new table must equal `postmap -s` of the old one, and
`postmap -q` of every key, written in another case, must give the same
answer from both. Also: modes and owners are kept (a 0600 table stays
0600), a failed conversion creates nothing, and the messages. Everything
runs in a temporary directory.
"""
import argparse
import os
import pwd
import random
import re
import shutil
import subprocess
import sys
import tempfile

failures = []


def fail(msg):
    # The sources' passwords (Pw-<digits>, "secret") never go into a report.
    failures.append(re.sub(r"Pw-[0-9]+|secret", "[password]", msg))


def postmap(work, *args, stdin=None):
    p = subprocess.run(["postmap", "-c", "conf", *args], cwd=work, input=stdin,
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def make_source(rng, n):
    lines, keys = [], []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            key = f"[SMTP-{i:05d}.Example.NET]:587"
        elif kind == 1:
            key = f"User{i}@Example.ORG"
        elif kind == 2:
            key = f"Straße-{i}.example.de"
        elif kind == 3:
            key = f"ΣΊΣΥΦΟΣ-{i}.example"
        else:
            key = f"host{i}"
        value = f"user{i}:Pw-{rng.randrange(10**9)}" + ("x" * rng.choice([0, 0, 300, 3000]))
        lines.append(f"{key} {value}")
        keys.append(key)
    return "\n".join(lines) + "\n", keys


def dump(work, spec):
    rc, out, err = postmap(work, "-s", spec)
    return rc, sorted(out.split(b"\n")), err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    opts = ap.parse_args()
    cmap = os.path.abspath(opts.cmap)
    work = tempfile.mkdtemp(prefix="cmap-convert-")
    rng = random.Random(20261128)
    cases = 0
    try:
        os.mkdir(os.path.join(work, "conf"))
        with open(os.path.join(work, "conf", "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        text, keys = make_source(rng, 2000)
        ext = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb"}
        for from_type, to_type in (("hash", "lmdb"), ("lmdb", "hash"), ("btree", "lmdb"),
                                   ("lmdb", "btree"), ("hash", "btree"), ("btree", "hash")):
            for flags in ([], ["-f"], ["-n"], ["-u", "-f"]):
                for mode in (0o600, 0o640):
                    cases += 1
                    name = f"t-{from_type}-{''.join(f[1] for f in flags) or 'plain'}-{mode:o}"
                    src = os.path.join(work, name)
                    with open(src, "w") as f:
                        f.write(text)
                    os.chmod(src, mode)
                    rc, _, err = postmap(work, *flags, f"{from_type}:{name}")
                    if rc != 0:
                        fail(f"{name}: postmap failed: {err!r}")
                        continue
                    os.unlink(src)  # the source is lost
                    # hash: and btree: share NAME.db: keep the old table
                    # under another name to compare with.
                    ref = "ref-" + name
                    shutil.copy2(os.path.join(work, name + ext[from_type]),
                                 os.path.join(work, ref + ext[from_type]))
                    p = subprocess.run([cmap, "--convert", "-c", "conf", f"{from_type}:{name}",
                                        to_type], cwd=work, capture_output=True, timeout=120)
                    if p.returncode != 0:
                        fail(f"{name}: cmap --convert failed: {p.stderr!r}")
                        continue
                    if (f"cmap: converted {from_type}:{name} (2000 records) to "
                            f"{to_type}:{name}").encode() not in p.stdout:
                        fail(f"{name}: summary line: {p.stdout!r}")
                    ra, a, _ = dump(work, f"{from_type}:{ref}")
                    rb, b, _ = dump(work, f"{to_type}:{name}")
                    if ra != 0 or rb != 0 or a != b:
                        fail(f"{name}: postmap -s differs between {from_type} and {to_type}")
                    m_old = os.stat(os.path.join(work, ref + ext[from_type])).st_mode & 0o777
                    m_new = os.stat(os.path.join(work, name + ext[to_type])).st_mode & 0o777
                    if m_old != m_new:
                        fail(f"{name}: mode {m_old:o} became {m_new:o}")
                    # Lookups in another case, as a daemon would make them
                    # (both folded, unless the table was built with -f).
                    queries = "\n".join(k.swapcase() if i % 2 else k
                                        for i, k in enumerate(keys[:400])) + "\n"
                    qa = postmap(work, *(["-f"] if "-f" in flags else []), "-q", "-",
                                 f"{from_type}:{ref}", stdin=queries.encode())
                    qb = postmap(work, *(["-f"] if "-f" in flags else []), "-q", "-",
                                 f"{to_type}:{name}", stdin=queries.encode())
                    if qa[1] != qb[1] or not qa[1]:
                        fail(f"{name}: postmap -q answers differ between the two tables")
        # Owner kept when run as root; errors create nothing.
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            src = os.path.join(work, "owned")
            with open(src, "w") as f:
                f.write("[relay.example.jp]:587 user:secret\n")
            postmap(work, "hash:owned")
            os.chown(src + ".db", nobody.pw_uid, nobody.pw_gid)
            os.unlink(src)
            # As for a build, root works as the table's owner (unless -o),
            # who must be able to write the directory.
            os.chmod(work, 0o777)
            p = subprocess.run([cmap, "--convert", "-c", "conf", "hash:owned", "lmdb"],
                               cwd=work, capture_output=True, timeout=60)
            os.chmod(work, 0o700)
            st = os.stat(src + ".lmdb") if os.path.exists(src + ".lmdb") else None
            if p.returncode != 0 or st is None or (st.st_uid, st.st_gid) != (
                    nobody.pw_uid, nobody.pw_gid):
                fail(f"owner not kept: {p.stderr!r}")
        for args, want in ((["hash:missing", "lmdb"], b"missing.db"),
                           (["hash:owned", "hash"], b"is already of type hash"),
                           (["hash:owned", "texthash"], b"cmap converts to hash, btree, lmdb or cdb"),
                           (["hash:owned"], b"usage: cmap --convert")):
            # A usage error of cmap's own command exits 2, other errors 1.
            want_status = 2 if b"usage" in want else 1
            for leftover in ("missing.lmdb",):
                if os.path.exists(os.path.join(work, leftover)):
                    os.unlink(os.path.join(work, leftover))
            p = subprocess.run([cmap, "--convert", "-c", "conf", *args], cwd=work,
                               capture_output=True, timeout=60)
            if p.returncode != want_status or want not in p.stderr:
                fail(f"--convert {' '.join(args)}: exit {p.returncode}, {p.stderr!r}")
        if os.path.exists(os.path.join(work, "missing.lmdb")):
            fail("a failed conversion created a file")
        if any(".cmap-" in n for n in os.listdir(work)):
            fail("temporary files left behind")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL", f)
    print(f"convert: {cases} conversions, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
