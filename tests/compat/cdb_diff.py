#!/usr/bin/env python3
"""Differential test: cmap against real postmap (postfix-cdb) and tinycdb, cdb: maps.

Two scratch directories, P and C, hold the same sources and main.cf
directories. For every sample source in data/ (four option sets each) and
--count generated ones (texthash_diff's generator, two or three option sets
each):

  build   `postmap [flags] cdb:NAME` in P vs `cmap [flags] cdb:NAME` in C:
          exit status and stderr (normalised as texthash_diff does), then
          the two .cdb files byte for byte (cmap lays the file out as
          tinycdb does, so they are identical, not only equivalent);
  reads   `postmap -q KEY`, `-q -` on P's table vs `cmap` on P's table, and
          postmap on C's table vs postmap on P's; `cmap -s` (sorted) vs the
          records tinycdb's `cdb -d` dumps (postmap -s does not support cdb:).

Then tinycdb writes tables (`cdb -c`) of random records (any bytes, NULs,
duplicates, empty keys and values, values of 100 KiB) that cmap must list
(`cmap -s -f -u`) and find (`cmap -q -f -u`) exactly, and cmap builds tables
from sources whose records tinycdb must find (`cdb -q`); where both wrote the
same records in the same order the files must be byte-identical.

Usage: cdb_diff.py --cmap PATH [--count N] [--seed N] [--jobs N]
Exit: 0 all agree, 1 some differ, 77 postmap's cdb support or tinycdb missing.
"""
import argparse
import concurrent.futures
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import texthash_diff as th  # noqa: E402

FLAGSETS = [(th.CONF, []), (th.CONF, ["-f"]), (th.CONF, ["-u"]), (th.CONF, ["-r"]),
            (th.CONF, ["-w"]), (th.CONF, ["-N"]), (th.CONF, ["-n"]),
            (th.CONF_OFF, []), (th.CONF_OFF, ["-f"])]


def reader_flags(flags):
    return [f for f in flags if f in ("-f", "-u", "-N", "-n")]


class Run:
    def __init__(self, cmap, pdir, cdir):
        self.cmap, self.pdir, self.cdir = cmap, pdir, cdir
        self.problems = []

    def prog(self, who):
        return "postmap" if who == "postmap" else self.cmap

    def run(self, who, cmd, where):
        return th.run_one(self.prog(who), cmd, where)

    def diff(self, label, a, b):
        self.problems.append(f"{label}:\n  postmap: {a!r}\n  cmap:    {b!r}")

    def case(self, name, src, keys, flagsets, r):
        for conf, flags in flagsets:
            label = f"{name} {' '.join(flags) or '(no flags)'} {conf}"
            sources = {name: src}
            for d in (self.pdir, self.cdir):
                Path(d, name).write_bytes(src)
                for suffix in (".cdb", ".cdb.tmp"):
                    if os.path.exists(os.path.join(d, name + suffix)):
                        os.unlink(os.path.join(d, name + suffix))
            cmd = th.Command(label, ["-c", conf, *flags, f"cdb:{name}"], b"", "err", sources,
                             th.UTF8_CONF[conf])
            pm = self.run("postmap", cmd, self.pdir)
            cm = self.run("cmap", cmd, self.cdir)
            notes = []
            pe = th.normalise_stderr(pm.stderr, b"postmap", cmd, notes)
            ce = th.normalise_stderr(cm.stderr, os.path.basename(self.cmap).encode(), cmd, notes)
            if pm.rc != cm.rc or pe != ce:
                self.diff(f"{label}: build", (pm.rc, pe[:6]), (cm.rc, ce[:6]))
                continue
            if pm.rc != 0:
                continue
            pf = Path(self.pdir, name + ".cdb").read_bytes()
            cf = Path(self.cdir, name + ".cdb").read_bytes()
            if pf != cf:
                self.diff(f"{label}: .cdb bytes", f"{len(pf)} bytes", f"{len(cf)} bytes")
            rflags = reader_flags(flags)
            qkeys = th.query_keys(r, keys, 6)
            for k in qkeys[:3]:
                q = th.Command(label, ["-c", conf, *rflags, "-q", k, f"cdb:{name}"], b"", "q",
                               sources, th.UTF8_CONF[conf])
                a = self.run("postmap", q, self.pdir)
                b = self.run("cmap", q, self.pdir)
                c = self.run("postmap", q, self.cdir)
                if (a.rc, a.stdout) != (b.rc, b.stdout):
                    self.diff(f"{label}: -q {k!r} on postmap's table", (a.rc, a.stdout),
                              (b.rc, b.stdout))
                if (a.rc, a.stdout) != (c.rc, c.stdout):
                    self.diff(f"{label}: postmap -q {k!r} on cmap's table", (a.rc, a.stdout),
                              (c.rc, c.stdout))
            stdin = b"".join(k + b"\n" for k in qkeys)
            q = th.Command(label, ["-c", conf, *rflags, "-q", "-", f"cdb:{name}"], stdin, "qb",
                           sources, th.UTF8_CONF[conf])
            a = self.run("postmap", q, self.pdir)
            b = self.run("cmap", q, self.pdir)
            if (a.rc, a.stdout) != (b.rc, b.stdout):
                self.diff(f"{label}: -q - on postmap's table", (a.rc, a.stdout[:300]),
                          (b.rc, b.stdout[:300]))
            s = th.Command(label, ["-c", conf, "-f", "-u", "-s", f"cdb:{name}"], b"", "s",
                           sources, th.UTF8_CONF[conf])
            b = self.run("cmap", s, self.pdir)
            want = sorted(line_of(k, v) for k, v in tinycdb_dump(Path(self.pdir, name + ".cdb")))
            if b.rc != 0 or sorted(b.stdout.split(b"\n")[:-1]) != want:
                self.diff(f"{label}: cmap -s vs tinycdb's cdb -d", want[:5],
                          sorted(b.stdout.split(b"\n")[:-1])[:5])


def line_of(k, v):
    # cmap -s prints key TAB value, each up to its first NUL (Postfix's C
    # strings).
    return k.split(b"\0", 1)[0] + b"\t" + v.split(b"\0", 1)[0]


def tinycdb_dump(path):
    """Records of a cdb file, as tinycdb's `cdb -d` lists them."""
    out = subprocess.run(["cdb", "-d", str(path)], capture_output=True, check=True).stdout
    recs, i = [], 0
    while i < len(out) and out[i:i + 1] == b"+":
        comma = out.index(b",", i)
        colon = out.index(b":", comma)
        klen, vlen = int(out[i + 1:comma]), int(out[comma + 1:colon])
        k = out[colon + 1:colon + 1 + klen]
        j = colon + 1 + klen
        assert out[j:j + 2] == b"->"
        v = out[j + 2:j + 2 + vlen]
        recs.append((k, v))
        i = j + 2 + vlen + 1
    return recs


def tinycdb_cases(cmap, work, seed, count, problems):
    r = random.Random(f"{seed}:tinycdb")
    conf = th.CONF
    for n in range(count):
        recs = []
        for _ in range(r.randint(0, 400)):
            kind = r.random()
            if kind < 0.1:
                # Any bytes but a newline, which would split cmap -s lines.
                k = bytes(r.choice([c for c in range(256) if c != 10])
                          for _ in range(r.randint(0, 12)))
            else:
                k = "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789.@[]:-")
                            for _ in range(r.randint(1, 30))).encode()
                if r.random() < 0.5:
                    k += b"\0"
            v = bytes(r.choice([c for c in range(1, 256) if c != 10])
                      for _ in range(r.choice([0, 1, 5, 40, 300])))
            if r.random() < 0.01:
                v = b"x" * 100000
            recs.append((k, v))
        if recs and r.random() < 0.3:
            recs.append((recs[0][0], b"second value"))
        inp = b"".join(b"+%d,%d:%s->%s\n" % (len(k), len(v), k, v) for k, v in recs) + b"\n"
        path = Path(work, f"t{n}.cdb")
        subprocess.run(["cdb", "-c", str(path)], input=inp, check=True, capture_output=True)
        name = str(path)[:-4]
        p = subprocess.run([cmap, "-c", conf, "-f", "-u", "-s", f"cdb:{name}"],
                           capture_output=True, cwd=work)
        want = sorted(line_of(k, v) for k, v in recs)
        got = sorted(p.stdout.split(b"\n")[:-1])
        if p.returncode != 0 or got != want:
            problems.append(f"tinycdb table t{n}: cmap -s lists {len(got)} lines, "
                            f"{len(want)} records written (rc {p.returncode})")
        # Lookups of printable keys (a key with a NUL or a newline cannot be
        # asked for on the command line): the first record of each key wins.
        first = {}
        for k, v in recs:
            first.setdefault(k, v)
        probe = [k for k in first if k and k.rstrip(b"\0") != b"-" and
                 b"\0" not in k.rstrip(b"\0") and all(32 < c < 127 for c in k.rstrip(b"\0"))]
        for k in r.sample(probe, min(5, len(probe))):
            bare = k.rstrip(b"\0")
            # Postfix's probe: key+NUL first, then the key.
            expect = first.get(bare + b"\0", first.get(bare))
            p = subprocess.run([cmap, "-c", conf, "-f", "-u", "-q", bare, f"cdb:{name}"],
                               capture_output=True, cwd=work)
            want = expect.split(b"\0", 1)[0] + b"\n" if expect is not None else b""
            if p.stdout != want:
                problems.append(f"tinycdb table t{n}: cmap -q {bare!r}: {p.stdout[:80]!r}, "
                                f"expected {want[:80]!r}")
        # cmap builds the same records (printable, distinct, NUL-free keys)
        # from a source: byte-identical to tinycdb's file of them, and
        # tinycdb finds each.
        plain = [(k, v) for k, v in first.items() if k and all(33 <= c < 127 for c in k)
                 and k.lower() == k and b"#" not in k and all(32 <= c < 127 for c in v)
                 and v.strip() == v and v]
        src = Path(work, f"s{n}")
        src.write_bytes(b"".join(k + b" " + v + b"\n" for k, v in plain))
        p = subprocess.run([cmap, "-c", conf, f"cdb:{src}"], capture_output=True, cwd=work)
        inp = b"".join(b"+%d,%d:%s->%s\n" % (len(k), len(v), k, v) for k, v in plain) + b"\n"
        ref = Path(work, f"r{n}.cdb")
        subprocess.run(["cdb", "-c", str(ref)], input=inp, check=True, capture_output=True)
        if p.returncode != 0 or Path(str(src) + ".cdb").read_bytes() != ref.read_bytes():
            problems.append(f"source s{n}: cmap's .cdb differs from tinycdb's of the same "
                            f"records (rc {p.returncode}: {p.stderr[:200]!r})")
        askable = [(k, v) for k, v in plain if not k.startswith(b"-")]  # not an option
        for k, v in r.sample(askable, min(5, len(askable))):
            q = subprocess.run(["cdb", "-q", str(src) + ".cdb", k], capture_output=True)
            if q.stdout != v:
                problems.append(f"source s{n}: tinycdb finds {q.stdout[:60]!r} for {k!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    cmap = os.path.abspath(args.cmap)
    if shutil.which("postmap") is None or shutil.which("cdb") is None:
        print("SKIP: postmap or tinycdb's cdb missing")
        return 77
    with tempfile.TemporaryDirectory(prefix="cdb-diff-") as work:
        probe = subprocess.run(["postconf", "-c", str(th.DATA / th.CONF), "-m"],
                               capture_output=True, text=True)
        if "cdb" not in probe.stdout.split():
            print("FAIL: postmap has no cdb: support (install postfix-cdb)")
            return 77
        jobs = []
        for i, s in enumerate(th.SAMPLES):
            r = random.Random(f"{args.seed}:sample:{s}")
            src = (th.DATA / s).read_bytes()
            keys = th.crude_keys(src) + [b"Key1", b"dup", b"DUP", "straße".encode()]
            jobs.append((s, src, keys, r.sample(FLAGSETS, 4), r))
        for i in range(args.count):
            r = random.Random(f"{args.seed}:gen:{i}")
            theme = th.FIXED_THEMES[i] if i < len(th.FIXED_THEMES) else r.choice(
                [t for t, _ in th.RANDOM_THEMES])
            src, keys = th.generate_source(r, theme)
            jobs.append((f"g{i:04d}", src, keys, r.sample(FLAGSETS, r.choice([2, 3])), r))
        problems = []

        def worker(part):
            d = tempfile.mkdtemp(dir=work)
            pdir, cdir = os.path.join(d, "P"), os.path.join(d, "C")
            for w in (pdir, cdir):
                os.mkdir(w)
                for conf in (th.CONF, th.CONF_OFF):
                    shutil.copytree(th.DATA / conf, os.path.join(w, conf))
                    os.utime(os.path.join(w, conf, "main.cf"), (0, 0))
            run = Run(cmap, pdir, cdir)
            for job in part:
                run.case(*job)
            return run.problems

        parts = [jobs[i::args.jobs] for i in range(args.jobs)]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
            for found in ex.map(worker, parts):
                problems += found
        tiny = os.path.join(work, "tinycdb")
        os.mkdir(tiny)
        shutil.copytree(th.DATA / th.CONF, os.path.join(tiny, th.CONF))
        os.utime(os.path.join(tiny, th.CONF, "main.cf"), (0, 0))
        tinycdb_cases(cmap, tiny, args.seed, 60, problems)
        for p in problems[:40]:
            print("FAIL", p)
        print(f"{len(jobs)} sources ({len(th.SAMPLES)} samples, {args.count} generated), "
              f"60 tinycdb tables: {len(problems)} differences")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
