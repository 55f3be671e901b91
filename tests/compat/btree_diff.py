#!/usr/bin/env python3
"""Differential test: cmap's btree: against real postmap and Berkeley DB 5.3's tools.

1. postmap vs cmap. Two scratch directories, P and C, hold the same sources.
   For every sample source in data/ (four option sets each) and --count
   generated ones (texthash_diff's generator, two or three option sets each):
     build  `postmap [flags] btree:NAME` in P vs `cmap [flags] btree:NAME` in
            C: exit status and stderr (normalised as texthash_diff does);
     file   `db5.3_verify` accepts C's file and `db5.3_dump` prints the same
            records for both files (the layouts differ: cmap fills pages);
     reads  `postmap -s` of both files (key order, not sorted afterwards) and
            `cmap -s` of P's; `postmap -q KEY` and `-q -` on P's table vs
            cmap on P's table, and postmap on C's table vs postmap on P's.
2. libdb's own files: `db5.3_load -t btree` with page sizes 512 to 65536,
   both byte orders, with and without page checksums, keys long enough for
   at least 3 levels, and keys and values on overflow pages. `cmap -s`
   must print exactly the records `db5.3_dump` prints, in its order, and
   `cmap -q` must find sampled keys (overflow keys included); the number of
   levels is asserted with `db5.3_stat`.
3. Perl's DB_File ($DB_BTREE) writes a table, cmap reads it.
4. In-place changes: rounds of `cmap -i` / `cmap -d` and real `postmap -i`
   on one table (made by postmap, then by db5.3_load with 512-byte pages,
   big-endian, checksums) checked against a model with `postmap -s` and
   `db5.3_verify` after every round.

Usage: btree_diff.py --cmap PATH [--count N] [--seed N] [--jobs N]
Exit: 0 all agree, 1 some differ, 77 postmap or db5.3 tools missing.
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


def db_dump(path):
    """The records of a btree file, as db5.3_dump prints them (key order)."""
    p = subprocess.run(["db5.3_dump", str(path)], capture_output=True, timeout=120)
    if p.returncode != 0:
        return None
    lines = p.stdout.split(b"\n")
    start = lines.index(b"HEADER=END") + 1
    end = lines.index(b"DATA=END")
    items = [bytes.fromhex(x.strip().decode()) for x in lines[start:end]]
    return list(zip(items[0::2], items[1::2]))


def upto_nul(b):
    return b.split(b"\0", 1)[0]


class Run:
    def __init__(self, cmap, pdir, cdir):
        self.cmap, self.pdir, self.cdir = cmap, pdir, cdir
        self.problems = []

    def run(self, who, cmd, where):
        return th.run_one("postmap" if who == "postmap" else self.cmap, cmd, where)

    def diff(self, label, a, b):
        self.problems.append(f"{label}:\n  postmap: {a!r}\n  cmap:    {b!r}")

    def case(self, name, src, keys, flagsets, r):
        for conf, flags in flagsets:
            label = f"{name} {' '.join(flags) or '(no flags)'} {conf}"
            sources = {name: src}
            for d in (self.pdir, self.cdir):
                Path(d, name).write_bytes(src)
                if os.path.exists(os.path.join(d, name + ".db")):
                    os.unlink(os.path.join(d, name + ".db"))
            cmd = th.Command(label, ["-c", conf, *flags, f"btree:{name}"], b"", "err", sources,
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
            pfile, cfile = Path(self.pdir, name + ".db"), Path(self.cdir, name + ".db")
            v = subprocess.run(["db5.3_verify", "-q", str(cfile)], capture_output=True)
            if v.returncode != 0:
                self.diff(f"{label}: db5.3_verify of cmap's file", "ok", v.stderr[:300])
            if db_dump(pfile) != db_dump(cfile):
                self.diff(f"{label}: db5.3_dump records", "postmap's file", "cmap's file")
            rflags = reader_flags(flags)
            s = th.Command(label, ["-c", conf, *rflags, "-s", f"btree:{name}"], b"", "s",
                           sources, th.UTF8_CONF[conf])
            a = self.run("postmap", s, self.pdir)
            b = self.run("postmap", s, self.cdir)
            c = self.run("cmap", s, self.pdir)
            if (a.rc, a.stdout) != (b.rc, b.stdout):
                self.diff(f"{label}: postmap -s of the two files", a.stdout[:300], b.stdout[:300])
            if (a.rc, a.stdout) != (c.rc, c.stdout):
                self.diff(f"{label}: -s of postmap's file", a.stdout[:300], c.stdout[:300])
            qkeys = th.query_keys(r, keys, 6)
            for k in qkeys[:3]:
                q = th.Command(label, ["-c", conf, *rflags, "-q", k, f"btree:{name}"], b"", "q",
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
            q = th.Command(label, ["-c", conf, *rflags, "-q", "-", f"btree:{name}"], stdin, "qb",
                           sources, th.UTF8_CONF[conf])
            a = self.run("postmap", q, self.pdir)
            b = self.run("cmap", q, self.pdir)
            c = self.run("cmap", q, self.cdir)
            if (a.rc, a.stdout) != (b.rc, b.stdout) or (a.rc, a.stdout) != (c.rc, c.stdout):
                self.diff(f"{label}: -q -", (a.rc, a.stdout[:300]), (b.rc, b.stdout[:300]))


def load_file(path, records, page_size, big_endian, checksums):
    """Writes `records` with db5.3_load -t btree."""
    head = ["VERSION=3", "format=bytevalue", "type=btree", f"db_pagesize={page_size}",
            f"db_lorder={4321 if big_endian else 1234}"]
    if checksums:
        head.append("chksum=1")
    text = "\n".join(head) + "\nHEADER=END\n" + "".join(
        f" {k.hex()}\n {v.hex()}\n" for k, v in records) + "DATA=END\n"
    p = subprocess.run(["db5.3_load", str(path)], input=text.encode(), capture_output=True)
    return p.returncode == 0, p.stderr


def levels_of(path):
    p = subprocess.run(["db5.3_stat", "-d", str(path)], capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if "Number of levels in the tree" in line:
            return int(line.split()[0])
    return 0


def libdb_cases(cmap, work, seed, problems):
    r = random.Random(f"{seed}:libdb")
    cases = 0
    for page_size in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
        for big_endian in (False, True):
            checksums = page_size in (512, 4096, 65536)
            cases += 1
            label = f"db5.3_load {page_size} {'BE' if big_endian else 'LE'}" + (
                " chksum" if checksums else "")
            threshold = (page_size - (32 if checksums else 26)) // 4 - 10
            # Keys an eighth of a page long that differ only at the end:
            # separators are as long as the keys, a few per internal page,
            # so a few hundred records give three levels.
            prefix = "k" * (page_size // 8 - 12)
            records = {}
            for i in range(400):
                key = f"{prefix}{i * 7919 % 100003:08d}".encode()
                value = f"v{i}-".encode() + bytes(r.choice(b"abcxyz") for _ in range(r.randrange(40)))
                records[key] = value
            for i in range(6):  # overflow keys and values
                records[f"{prefix}big{i}".encode() + b"K" * (threshold + r.randrange(1, 3000))] = b"bigkey"
                records[f"bigvalue{i}".encode()] = b"V" * (threshold + r.randrange(1, 200000))
            records[b"a"] = b""
            recs = sorted(records.items())
            path = Path(work, f"l{page_size}{'b' if big_endian else 'l'}.db")
            ok, err = load_file(path, recs, page_size, big_endian, checksums)
            if not ok:
                problems.append(f"{label}: db5.3_load failed: {err[:200]!r}")
                continue
            lv = levels_of(path)
            if lv < 3:
                problems.append(f"{label}: only {lv} levels")
            want = db_dump(path)
            if want != recs:
                problems.append(f"{label}: db5.3_dump does not give back what was loaded")
            name = str(path)[:-3]
            p = subprocess.run([cmap, "-c", th.CONF, "-f", "-u", "-s", f"btree:{name}"],
                               cwd=work, capture_output=True, timeout=120)
            got = p.stdout
            expect = b"".join(upto_nul(k) + b"\t" + upto_nul(v) + b"\n" for k, v in want)
            if p.returncode != 0 or got != expect:
                problems.append(f"{label}: cmap -s differs from db5.3_dump "
                                f"(rc {p.returncode}, {len(got)} vs {len(expect)} bytes) "
                                f"{p.stderr[:200]!r}")
            sample = r.sample(recs, 12) + [(k, v) for k, v in recs if b"big" in k[:len(prefix) + 3]][:2]
            for k, v in sample:
                q = subprocess.run([cmap, "-c", th.CONF, "-f", "-u", "-q", k, f"btree:{name}"],
                                   cwd=work, capture_output=True, timeout=60)
                if q.returncode != 0 or q.stdout != v + b"\n":
                    problems.append(f"{label}: cmap -q of a {len(k)}-byte key: rc {q.returncode}")
            q = subprocess.run([cmap, "-c", th.CONF, "-f", "-u", "-q", "nosuchkey",
                                f"btree:{name}"], cwd=work, capture_output=True, timeout=60)
            if q.returncode != 1 or q.stdout:
                problems.append(f"{label}: a missing key: rc {q.returncode}")
    return cases


def perl_case(cmap, work, problems):
    script = ('use DB_File; my %h; tie %h, "DB_File", $ARGV[0], O_RDWR|O_CREAT, 0644, $DB_BTREE '
              'or die "tie: $!"; for my $i (1..3000) { $h{"perl$i\\0"} = "value $i\\0" } '
              'untie %h;')
    path = Path(work, "perl.db")
    p = subprocess.run(["perl", "-e", script, str(path)], capture_output=True)
    if p.returncode != 0:
        problems.append(f"perl DB_File: {p.stderr[:200]!r}")
        return
    q = subprocess.run([cmap, "-c", th.CONF, "-q", "perl2999", f"btree:{path.with_suffix('')}"],
                       cwd=work, capture_output=True)
    if q.stdout != b"value 2999\n":
        problems.append(f"perl DB_File: cmap -q gave {q.stdout!r} {q.stderr[:200]!r}")
    s = subprocess.run([cmap, "-c", th.CONF, "-s", f"btree:{path.with_suffix('')}"],
                       cwd=work, capture_output=True)
    want = sorted(f"perl{i}\tvalue {i}\n".encode() for i in range(1, 3001))
    if s.stdout != b"".join(want):
        problems.append("perl DB_File: cmap -s differs")


def inplace_rounds(cmap, work, seed, problems):
    r = random.Random(f"{seed}:inplace")
    rounds = 0
    for origin in ("postmap", "db5.3_load 512 BE chksum"):
        model = {f"key{i:05d}": f"value{i}" + "x" * r.choice([0, 0, 5, 2000]) for i in range(3000)}
        base = Path(work, "inplace")
        if Path(work, "inplace.db").exists():
            os.unlink(Path(work, "inplace.db"))
        if origin == "postmap":
            base.write_text("".join(f"{k} {v}\n" for k, v in model.items()))
            subprocess.run(["postmap", "-c", th.CONF, f"btree:{base}"], cwd=work, check=True)
        else:
            recs = sorted((k.encode() + b"\0", v.encode() + b"\0") for k, v in model.items())
            ok, err = load_file(Path(work, "inplace.db"), recs, 512, True, True)
            if not ok:
                problems.append(f"in place: db5.3_load: {err[:200]!r}")
                continue
        for rnd in range(8):
            rounds += 1
            who = r.choice(["cmap -i", "cmap -d", "postmap -i", "cmap -i"])
            label = f"in place ({origin}) round {rnd} {who}"
            if who.endswith("-d"):
                keys = r.sample(sorted(model), 40) + ["nosuchkey"]
                p = subprocess.run([cmap, "-c", th.CONF, "-d", "-", f"btree:{base}"], cwd=work,
                                   input="".join(k + "\n" for k in keys).encode(),
                                   capture_output=True)
                for k in keys:
                    model.pop(k, None)
            else:
                adds = {f"new{rnd}-{i}": f"n{i}" + "y" * r.choice([0, 3000]) for i in range(50)}
                adds.update({k: "changed" for k in r.sample(sorted(model), 10)})
                prog = cmap if who.startswith("cmap") else "postmap"
                p = subprocess.run([prog, "-c", th.CONF, "-r", "-i", f"btree:{base}"], cwd=work,
                                   input="".join(f"{k} {v}\n" for k, v in adds.items()).encode(),
                                   capture_output=True)
                model.update(adds)
            if p.returncode not in (0, 1) or (who.endswith("-i") and p.returncode != 0):
                problems.append(f"{label}: exit {p.returncode} {p.stderr[:200]!r}")
            v = subprocess.run(["db5.3_verify", "-q", str(base) + ".db"], capture_output=True)
            if v.returncode != 0:
                problems.append(f"{label}: db5.3_verify: {v.stderr[:300]!r}")
            s = subprocess.run(["postmap", "-c", th.CONF, "-s", f"btree:{base}"], cwd=work,
                               capture_output=True)
            want = b"".join(f"{k}\t{model[k]}\n".encode() for k in sorted(model))
            if s.stdout != want:
                got = len(s.stdout.splitlines())
                problems.append(f"{label}: postmap -s differs from the model "
                                f"({got} vs {len(model)} records)")
    return rounds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    cmap = os.path.abspath(args.cmap)
    for tool in ("postmap", "db5.3_load", "db5.3_dump", "db5.3_verify", "db5.3_stat"):
        if shutil.which(tool) is None:
            print(f"SKIP: {tool} missing")
            return 77
    with tempfile.TemporaryDirectory(prefix="btree-diff-") as work:
        jobs = []
        for s in th.SAMPLES:
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
        own = os.path.join(work, "own")
        os.mkdir(own)
        shutil.copytree(th.DATA / th.CONF, os.path.join(own, th.CONF))
        os.utime(os.path.join(own, th.CONF, "main.cf"), (0, 0))
        libdb = libdb_cases(cmap, own, args.seed, problems)
        perl_case(cmap, own, problems)
        rounds = inplace_rounds(cmap, own, args.seed, problems)
        for p in problems[:40]:
            print("FAIL", p)
        print(f"{len(jobs)} sources ({len(th.SAMPLES)} samples, {args.count} generated), "
              f"{libdb} libdb files, 1 DB_File table, {rounds} in-place rounds: "
              f"{len(problems)} differences")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
