#!/usr/bin/env python3
"""Side-by-side measurements of libmaps/cmap and their anchors, in one run.

Runs, with interleaved repetitions (the order of the systems rotates from one
repetition to the next; a first, warm-up repetition is thrown away):

  * builds of the 1,000 / 100,000 / 1,000,000-line sources by real postmap
    (hash:, lmdb:) and by cmap, and the floor of a build (bench_tool floor:
    read the source, write a file of cmap's output size, fdatasync, rename),
    each as a whole process: wall time, user/sys time, peak RSS (wait4);
  * `postmap -q -` and `cmap -q -` with 100,000 keys (90 % hits, random
    order) on the 1,000,000-entry hash: and lmdb: tables (the same files);
  * one texthash: query on the 1,000,000-line source (the load dominates);
  * `postmap -q -` and `cmap -q -` with 100,000 keys on 1,000-rule regexp:
    and pcre: tables (issue 14), with and without literals the prefilter
    can use;
  * the in-process lookup benchmarks (bench/lookup_bench) with
    --benchmark_repetitions and random interleaving;

then prints a table of medians and, for every goal of issue 6, the ratio
measured in this run. Postfix is used as a program only, with `-c CONFDIR`
whose main.cf holds `compatibility_level = 3.6` and otherwise the defaults.

Usage: bench/compare.py [--build-dir build-bench] [--reps 5] [--out FILE.md]
                        [--quick]   (1 repetition, short lookup runs: a smoke test)
                        [--keep]    (keep the work directory)
                        [--only patterns]  (only the regexp:/pcre: rows)
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SIZES = [1000, 100000, 1000000]
BIG = 1000000
QUERY_KEYS = 100000
BATCH_KEYS = 64  # keys per LookupEach call in lookup_bench's batch/ rows


def run(argv, stdin=None, stdout=subprocess.DEVNULL, cwd=None, env=None):
    """Runs a process; returns (wall s, user s, sys s, peak RSS bytes, status)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                         cwd=cwd, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read()
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss * 1024, code, err


def median(xs):
    return statistics.median(xs) if xs else float("nan")


class Timings:
    def __init__(self):
        self.rows = {}  # name -> list of (wall, user, sys, rss)

    def add(self, name, wall, user, sys_, rss):
        self.rows.setdefault(name, []).append((wall, user, sys_, rss))

    def med(self, name, field=0):
        return median([r[field] for r in self.rows.get(name, [])])

    def minmax(self, name):
        xs = [r[0] for r in self.rows.get(name, [])]
        return (min(xs), max(xs)) if xs else (float("nan"), float("nan"))


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    model = sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
    return {
        "date (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "nproc": sh("nproc"),
        "cpu": model,
        "memory": sh("free -h | awk '/^Mem:/{print $2}'"),
        "kernel": platform.release(),
        "load average at start": sh("cut -d' ' -f1-3 /proc/loadavg"),
        "postfix": sh("dpkg-query -W -f='${Version}' postfix 2>/dev/null"),
    }


PATTERN_RULES = 1000


def pattern_workload(d, plain):
    """A 1,000-rule table of five kinds (an address, a domain suffix, a
    Subject word, a capture rewrite, a character-class local part) as
    regexp: and pcre: text, and 100,000 keys (about 10 % hits, the rest
    addresses that match no rule). `plain`: every rule gets a top-level
    alternative ("|^$"), which leaves the answers alone but gives the
    prefilter no literal: every key runs every pattern, as in Postfix."""
    import random
    rng = random.Random(14)
    rules = []
    for i in range(PATTERN_RULES):
        k = i % 5
        if k == 0:
            r = (f"^user{i}@example{i % 50}\\.com$", f"REJECT user {i}")
        elif k == 1:
            r = (f"\\.spam{i}\\.net$", "REJECT spam")
        elif k == 2:
            r = (f"^Subject:.*offer{i}", "DISCARD")
        elif k == 3:
            r = (f"^(.+)@host{i}\\.example\\.org$", f"$1@relay{i}.example.org")
        else:
            r = (f"^[a-z]+{i}[0-9]*@(mail|mx){i}\\.", "OK")
        pat = r[0] + ("|^$" if plain else "")
        rules.append(f"/{pat}/ {r[1]}")
    table = os.path.join(d, "rules-plain" if plain else "rules")
    with open(table, "w") as f:
        f.write("\n".join(rules) + "\n")
    keys = os.path.join(d, "pattern-keys.txt")
    if not os.path.exists(keys):
        out = []
        for j in range(QUERY_KEYS):
            i = rng.randrange(PATTERN_RULES)
            if rng.random() < 0.1:
                out.append([f"user{i}@example{i % 50}.com", f"x@a.spam{i}.net",
                            f"Subject: big offer{i}", f"bob@host{i}.example.org",
                            f"abc{i}7@mx{i}.x"][i % 5])
            else:
                out.append(f"someone{j}@domain{i}.example.com")
        with open(keys, "w") as f:
            f.write("\n".join(out) + "\n")
    return table, keys


def pattern_queries(reps, cmap, postmap, conf, work, t):
    """Runs -q - on the pattern workloads; returns the hit count (the same
    for every system, checked)."""
    d = os.path.join(work, "patterns")
    os.makedirs(d, exist_ok=True)
    systems = []
    for plain in (False, True):
        table, keys = pattern_workload(d, plain)
        for typ in ("regexp", "pcre"):
            for prog in ("postmap", "cmap"):
                systems.append((prog, typ, plain, table, keys))
    outputs = {}
    for rep in range(reps + 1):
        order = systems[rep % len(systems):] + systems[:rep % len(systems)]
        for prog, typ, plain, table, keys in order:
            exe = postmap if prog == "postmap" else cmap
            with open(keys, "rb") as kf, tempfile.TemporaryFile() as out:
                wall, user, sys_, rss, code, err = run(
                    [exe, "-c", conf, "-q", "-", f"{typ}:{table}"], stdin=kf, stdout=out)
                out.seek(0)
                outputs[(prog, typ, plain)] = out.read()
            if rep > 0:
                t.add(f"pattern {prog} {typ} {'plain' if plain else 'literal'}", wall, user,
                      sys_, rss)
        print(f"compare: pattern queries, repetition {rep}/{reps} done", file=sys.stderr)
    first = outputs[systems[0][:3]]
    for key, out in outputs.items():
        if out != first:
            sys.exit(f"compare: pattern query outputs differ: {key}")
    return first.count(b"\n")


def render_patterns(t, hits):
    L = [f"\n### regexp: and pcre: tables: -q - with {QUERY_KEYS:,} keys, "
         f"{PATTERN_RULES:,} rules (whole processes)\n",
         "| table | system | median s | min-max s | cmap vs postmap |",
         "|---|---|---:|---|---:|"]
    for plain in (False, True):
        for typ in ("regexp", "pcre"):
            tag = "plain" if plain else "literal"
            what = (f"{typ}:, rules with literals" if not plain else
                    f"{typ}:, no usable literal (`|^$` added)")
            for prog in ("postmap", "cmap"):
                name = f"pattern {prog} {typ} {tag}"
                lo, hi = t.minmax(name)
                r = t.med(f"pattern postmap {typ} {tag}") / t.med(name) if prog == "cmap" else None
                L.append(f"| {what} | {prog} -q - | {t.med(name):.3f} | {lo:.3f}-{hi:.3f} | "
                         + (f"{r:.1f}x faster |" if r else "|"))
    L.append(f"\n({hits:,} of {QUERY_KEYS:,} keys found, every output identical.)\n")
    return L


def pattern_goals(t):
    goals = []
    for typ in ("regexp", "pcre"):
        goals.append((f"cmap -q - {typ}:, 100k keys, 1,000 rules, vs postmap -q - (issue 14)",
                      ">= 3x faster",
                      t.med(f"pattern postmap {typ} literal") / t.med(f"pattern cmap {typ} literal"),
                      lambda r: r >= 3))
        goals.append((f"(also) the same, rules without a usable literal ({typ}:)",
                      ">= 0.9x (the same engine)",
                      t.med(f"pattern postmap {typ} plain") / t.med(f"pattern cmap {typ} plain"),
                      lambda r: r >= 0.9))
    return goals


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build-bench")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=None, help="also write the report (Markdown) here")
    ap.add_argument("--quick", action="store_true",
                    help="one repetition, short lookup runs: a smoke test")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--only", choices=["all", "patterns"], default="all",
                    help="patterns: only the regexp:/pcre: query rows")
    args = ap.parse_args()
    if args.quick:
        args.reps = 1

    bdir = os.path.abspath(args.build_dir)
    cmap = os.path.join(bdir, "tools/cmap/cmap")
    tool = os.path.join(bdir, "bench/bench_tool")
    lookup_bench = os.path.join(bdir, "bench/lookup_bench")
    postmap = shutil.which("postmap") or "/usr/sbin/postmap"
    for exe in (cmap, tool, lookup_bench, postmap):
        if not os.access(exe, os.X_OK):
            sys.exit(f"compare: {exe} is missing; build with -Dbench=true first")

    info = machine()
    print("compare: generating data sets (once; cached in the build directory) ...",
          file=sys.stderr)
    subprocess.run([tool, "generate"] + [str(n) for n in SIZES], check=True)
    datadir = {n: subprocess.run([tool, "path", str(n)], check=True, capture_output=True,
                                 text=True).stdout.strip() for n in SIZES}

    work = tempfile.mkdtemp(prefix="compare-", dir=os.path.dirname(datadir[BIG]))
    conf = os.path.join(work, "conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write("compatibility_level = 3.6\n")
    t = Timings()
    if args.only == "patterns":
        try:
            hits = pattern_queries(args.reps, cmap, postmap, conf, work, t)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
        L = ["## Machine and run\n"]
        for k, v in info.items():
            L.append(f"- {k}: {' '.join(v) if isinstance(v, list) else v}")
        L.append(f"- repetitions: {args.reps} (after one warm-up), interleaved; medians")
        L += render_patterns(t, hits)
        L.append("| goal | target | measured | met |")
        L.append("|---|---|---:|---|")
        for label, target, r, ok in pattern_goals(t):
            L.append(f"| {label} | {target} | {r:.2f}x | {'yes' if ok(r) else '**no**'} |")
        report = "\n".join(L) + "\n"
        print(report)
        if args.out:
            with open(args.out, "w") as f:
                f.write(report)
        return
    try:
        # ---- builds ----------------------------------------------------
        srcs = {}
        for n in SIZES:
            for who in ("postmap", "cmap", "floor", "tinycdb"):
                d = os.path.join(work, who)
                os.makedirs(d, exist_ok=True)
                dst = os.path.join(d, f"src-{n}.txt")
                shutil.copyfile(os.path.join(datadir[n], "src.txt"), dst)
                srcs[(who, n)] = dst

        def build(who, typ, n):
            src = srcs[(who, n)]
            out = src + {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb"}[typ]
            if os.path.exists(out):
                os.unlink(out)
            if who == "tinycdb":  # tinycdb's own builder, map format input
                argv = ["cdb", "-c", "-m", out, src]
            else:
                argv = [postmap if who == "postmap" else cmap, "-c", conf, f"{typ}:{src}"]
            wall, user, sys_, rss, code, err = run(argv)
            if code != 0:
                sys.exit(f"compare: {who} {typ}:{src} failed: {err.decode(errors='replace')}")
            return wall, user, sys_, rss, os.path.getsize(out)

        sizes = {}
        build_systems = [("postmap", "hash"), ("cmap", "hash"), ("postmap", "lmdb"),
                         ("cmap", "lmdb"), ("floor", "hash"), ("floor", "lmdb"),
                         ("postmap", "btree"), ("cmap", "btree"), ("postmap", "cdb"),
                         ("cmap", "cdb"), ("tinycdb", "cdb")]
        for rep in range(args.reps + 1):
            order = build_systems[rep % len(build_systems):] + build_systems[:rep % len(build_systems)]
            for n in SIZES:
                for who, typ in order:
                    if who == "floor":
                        size = sizes.get(("cmap", typ, n))
                        if size is None:
                            continue
                        out = os.path.join(work, "floor", f"out-{typ}-{n}")
                        wall, user, sys_, rss, code, err = run(
                            [tool, "floor", srcs[("floor", n)], out, str(size)])
                        if code != 0:
                            sys.exit(f"compare: floor failed: {err!r}")
                        os.unlink(out)
                    else:
                        wall, user, sys_, rss, size = build(who, typ, n)
                        sizes[(who, typ, n)] = size
                    if rep > 0:
                        t.add(f"build {who} {typ} {n}", wall, user, sys_, rss)
            print(f"compare: builds, repetition {rep}/{args.reps} done", file=sys.stderr)

        # ---- queries -----------------------------------------------------
        keys = os.path.join(work, "keys-100k.txt")
        subprocess.run([tool, "keys", str(BIG), str(QUERY_KEYS), keys], check=True,
                       capture_output=True)
        qdir = os.path.join(work, "query")
        os.makedirs(qdir)
        qsrc = os.path.join(qdir, "src.txt")
        shutil.copyfile(os.path.join(datadir[BIG], "src.txt"), qsrc)
        # The same table files for both programs: built once, by cmap.
        for typ in ("hash", "lmdb"):
            subprocess.run([cmap, "-c", conf, f"{typ}:{qsrc}"], check=True)
        # Older than its source would make Postfix warn; keep the source old.
        os.utime(qsrc, (time.time() - 3600, time.time() - 3600))
        outputs = {}
        query_systems = [(p, typ) for typ in ("hash", "lmdb") for p in ("postmap", "cmap")]
        for rep in range(args.reps + 1):
            order = query_systems[rep % 4:] + query_systems[:rep % 4]
            for prog, typ in order:
                exe = postmap if prog == "postmap" else cmap
                with open(keys, "rb") as kf, tempfile.TemporaryFile() as out:
                    wall, user, sys_, rss, code, err = run(
                        [exe, "-c", conf, "-q", "-", f"{typ}:{qsrc}"], stdin=kf, stdout=out)
                    out.seek(0)
                    outputs[(prog, typ)] = out.read()
                if rep > 0:
                    t.add(f"query {prog} {typ}", wall, user, sys_, rss)
            # One key, to separate start-up and open from the per-key cost.
            for prog, typ in order:
                exe = postmap if prog == "postmap" else cmap
                wall, user, sys_, rss, code, err = run(
                    [exe, "-c", conf, "-q", "[smtp-miss.example.net]:587", f"{typ}:{qsrc}"])
                if rep > 0:
                    t.add(f"query1 {prog} {typ}", wall, user, sys_, rss)
            # texthash: one query, so the load is what is timed.
            for prog in (["postmap", "cmap"] if rep % 2 == 0 else ["cmap", "postmap"]):
                exe = postmap if prog == "postmap" else cmap
                wall, user, sys_, rss, code, err = run(
                    [exe, "-c", conf, "-q", "[smtp-1234567.example.net]:587",
                     f"texthash:{qsrc}"])
                if code != 0:
                    sys.exit(f"compare: {prog} texthash query failed: {err!r}")
                if rep > 0:
                    t.add(f"texthash {prog}", wall, user, sys_, rss)
            print(f"compare: queries, repetition {rep}/{args.reps} done", file=sys.stderr)
        for typ in ("hash", "lmdb"):
            if outputs[("postmap", typ)] != outputs[("cmap", typ)]:
                sys.exit(f"compare: postmap and cmap -q - disagree on {typ}:")
        hits = outputs[("cmap", "hash")].count(b"\n")
        pattern_hits = pattern_queries(args.reps, cmap, postmap, conf, work, t)

        # ---- in-process lookups -------------------------------------------
        print("compare: lookup benchmarks ...", file=sys.stderr)
        bench_json = os.path.join(work, "lookup.json")
        bargs = [lookup_bench, f"--benchmark_out={bench_json}", "--benchmark_out_format=json",
                 "--benchmark_format=console"]
        if args.quick:
            bargs += ["--benchmark_min_time=0.05"]
        else:
            bargs += [f"--benchmark_repetitions={args.reps}",
                      "--benchmark_enable_random_interleaving=true",
                      "--benchmark_min_time=0.2"]
        subprocess.run(bargs, check=True, stdout=subprocess.DEVNULL)
        with open(bench_json) as f:
            bench = json.load(f)
        ns = {}
        for b in bench["benchmarks"]:
            if b.get("run_type") == "aggregate":
                continue
            name = b["run_name"] if "run_name" in b else b["name"]
            ns.setdefault(name, []).append(b["real_time"] if b["time_unit"] == "ns"
                                           else b["real_time"] * {"us": 1e3, "ms": 1e6}[b["time_unit"]])
        lookup = {k: median(v) for k, v in ns.items()}
        info["load average at end"] = open("/proc/loadavg").read().split()[:3]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    report = render(info, t, sizes, lookup, hits, args.reps, pattern_hits)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


def render(info, t, sizes, lookup, hits, reps, pattern_hits):
    L = []
    L.append("## Machine and run\n")
    for k, v in info.items():
        L.append(f"- {k}: {' '.join(v) if isinstance(v, list) else v}")
    L.append(f"- repetitions: {reps} (after one warm-up), interleaved; medians\n")

    L.append("### Builds (whole processes)\n")
    L.append("| N | system | median s | min-max s | user s | sys s | peak RSS MB | output MB |")
    L.append("|---:|---|---:|---|---:|---:|---:|---:|")
    for n in SIZES:
        for who, typ in [("postmap", "hash"), ("cmap", "hash"), ("floor", "hash"),
                         ("postmap", "lmdb"), ("cmap", "lmdb"), ("floor", "lmdb"),
                         ("postmap", "btree"), ("cmap", "btree"), ("postmap", "cdb"),
                         ("cmap", "cdb"), ("tinycdb", "cdb")]:
            name = f"build {who} {typ} {n}"
            if name not in t.rows:
                continue
            lo, hi = t.minmax(name)
            out = sizes.get((who if who != "floor" else "cmap", typ, n), 0) / 1e6
            label = {"postmap": f"postmap {typ}:", "cmap": f"cmap {typ}:",
                     "tinycdb": "tinycdb cdb -c -m",
                     "floor": f"floor (read source, write {typ}: size, sync)"}[who]
            L.append(f"| {n:,} | {label} | {t.med(name):.3f} | {lo:.3f}-{hi:.3f} | "
                     f"{t.med(name, 1):.2f} | {t.med(name, 2):.2f} | {t.med(name, 3) / 1e6:.1f} | "
                     f"{out:.1f} |")

    L.append("\n### Queries and texthash load (whole processes, 1,000,000-entry tables)\n")
    L.append("| what | median s | min-max s | peak RSS MB |")
    L.append("|---|---:|---|---:|")
    for name, label in [("query postmap hash", f"postmap -q - hash: ({QUERY_KEYS:,} keys)"),
                        ("query cmap hash", f"cmap -q - hash: ({QUERY_KEYS:,} keys)"),
                        ("query1 postmap hash", "postmap -q KEY hash: (1 key)"),
                        ("query1 cmap hash", "cmap -q KEY hash: (1 key)"),
                        ("query postmap lmdb", f"postmap -q - lmdb: ({QUERY_KEYS:,} keys)"),
                        ("query cmap lmdb", f"cmap -q - lmdb: ({QUERY_KEYS:,} keys)"),
                        ("query1 postmap lmdb", "postmap -q KEY lmdb: (1 key)"),
                        ("query1 cmap lmdb", "cmap -q KEY lmdb: (1 key)"),
                        ("texthash postmap", "postmap -q KEY texthash: (load + 1 key)"),
                        ("texthash cmap", "cmap -q KEY texthash: (load + 1 key)")]:
        lo, hi = t.minmax(name)
        L.append(f"| {label} | {t.med(name):.3f} | {lo:.3f}-{hi:.3f} | "
                 f"{t.med(name, 3) / 1e6:.1f} |")
    L.append(f"\n({hits:,} of {QUERY_KEYS:,} keys found by both, outputs identical.)\n")

    L += render_patterns(t, pattern_hits)

    L.append("### In-process lookups (lookup_bench), ns per lookup or next hop\n")
    systems = ["hash", "hash-strict", "hash-snapshot", "libdb", "libdb-128k", "postfix-hash",
               "lmdb", "lmdb-strict", "lmdb-snapshot", "mdb_get", "postfix-lmdb", "btree", "btree-snapshot",
               "libdb-btree", "cdb", "cdb-snapshot", "cdb_find", "texthash", "absl", "sol"]
    for kind in ("lookup", "lookup-tp", "batch", "cred", "cred-call", "open"):
        L.append(f"\n{kind}/SYSTEM/N:" + (f" (per key: one call looks up {BATCH_KEYS} keys)"
                                           if kind == "batch" else "") + "\n")
        L.append("| system | " + " | ".join(f"{n:,}" for n in SIZES) + " |")
        L.append("|---|" + "---:|" * len(SIZES))
        for s in systems:
            cells = []
            for n in SIZES:
                v = lookup.get(f"{kind}/{s}/{n}" + ("/real_time" if kind == "open" else ""))
                if v is not None and kind == "batch":
                    v /= BATCH_KEYS
                cells.append("-" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}"))
            if all(c == "-" for c in cells):
                continue
            L.append(f"| {s} | " + " | ".join(cells) + " |")

    # ---- goals ------------------------------------------------------------
    def lk(kind, s, n=BIG):
        return lookup.get(f"{kind}/{s}/{n}", float("nan"))

    def ratio(a, b):
        return a / b if b and b == b else float("nan")

    goals = []
    for kind in ("lookup", "lookup-tp"):
        tag = "one lookup at a time" if kind == "lookup" else "throughput"
        for sysname, label in [("hash-snapshot", "hash: LockPolicy::kSnapshot"),
                               ("hash", "hash: default (lingering flock + meta check per lookup)")]:
            goals.append((f"hash lookup, 1M, hot, {label}, vs libdb DB->get ({tag})", ">= 2x faster",
                          ratio(lk(kind, "libdb"), lk(kind, sysname)), lambda r: r >= 2))
            goals.append((f"hash lookup, 1M, {label}, vs Postfix's locked lookup ({tag})",
                          ">= 5x faster", ratio(lk(kind, "postfix-hash"), lk(kind, sysname)),
                          lambda r: r >= 5))
            goals.append((f"hash lookup, 1M, {label}, vs speed-of-light table ({tag})",
                          "<= 1.5x", ratio(lk(kind, sysname), lk(kind, "sol")), lambda r: r <= 1.5))
        for sysname, label in [("lmdb-snapshot", "lmdb: LockPolicy::kSnapshot (txn reused)"),
                               ("lmdb", "lmdb: default (lingering fcntl + renewed txn per lookup)")]:
            goals.append((f"{label}, 1M, vs mdb_get with a reused read txn ({tag})", "<= 1.1x",
                          ratio(lk(kind, sysname), lk(kind, "mdb_get")), lambda r: r <= 1.1))
        for sysname, label in [("btree-snapshot", "btree: LockPolicy::kSnapshot"),
                               ("btree", "btree: default (lingering flock + meta check per lookup)")]:
            goals.append((f"{label}, 1M, vs libdb DB->get on a btree ({tag}; issue 13)",
                          ">= 2x faster", ratio(lk(kind, "libdb-btree"), lk(kind, sysname)),
                          lambda r: r >= 2))
        for sysname, label in [("cdb-snapshot", "cdb: LockPolicy::kSnapshot"),
                               ("cdb", "cdb: default (stat per lookup)")]:
            goals.append((f"{label}, 1M, vs tinycdb cdb_find ({tag}; issue 13)", "<= 1.1x",
                          ratio(lk(kind, sysname), lk(kind, "cdb_find")), lambda r: r <= 1.1))
        goals.append((f"texthash lookup, 1M, vs absl::flat_hash_map ({tag})", "<= 1.2x",
                      ratio(lk(kind, "texthash"), lk(kind, "absl")), lambda r: r <= 1.2))
    goals.append(("texthash load of 1M lines (one query process) vs postmap", ">= 5x faster",
                  ratio(t.med("texthash postmap"), t.med("texthash cmap")), lambda r: r >= 5))
    goals.append(("hash build, 1M lines, cmap vs postmap hash:", ">= 10x faster",
                  ratio(t.med(f"build postmap hash {BIG}"), t.med(f"build cmap hash {BIG}")),
                  lambda r: r >= 10))
    goals.append(("hash build, 1M lines, cmap vs floor (read source + write output size + sync)",
                  "<= 2x", ratio(t.med(f"build cmap hash {BIG}"), t.med(f"build floor hash {BIG}")),
                  lambda r: r <= 2))
    goals.append(("lmdb build, 1M lines, cmap vs postmap lmdb:", ">= 3x faster",
                  ratio(t.med(f"build postmap lmdb {BIG}"), t.med(f"build cmap lmdb {BIG}")),
                  lambda r: r >= 3))
    goals.append(("cdb build, 1M lines, cmap vs tinycdb cdb -c (issue 13)", "faster (> 1x)",
                  ratio(t.med(f"build tinycdb cdb {BIG}"), t.med(f"build cmap cdb {BIG}")),
                  lambda r: r > 1))
    goals.append(("cdb build, 1M lines, cmap vs postmap cdb: (issue 13)", "faster (> 1x)",
                  ratio(t.med(f"build postmap cdb {BIG}"), t.med(f"build cmap cdb {BIG}")),
                  lambda r: r > 1))
    goals.append(("(also) btree build, 1M lines, cmap vs postmap btree:", "faster (> 1x)",
                  ratio(t.med(f"build postmap btree {BIG}"), t.med(f"build cmap btree {BIG}")),
                  lambda r: r > 1))
    for typ in ("hash", "lmdb"):
        goals.append((f"{typ} build, 1M lines, cmap peak RSS vs output file size", "<= 2x",
                      ratio(t.med(f"build cmap {typ} {BIG}", 3), sizes.get(("cmap", typ, BIG), 0)),
                      lambda r: r <= 2))
    goals.append(("cmap -q - hash:, 100k keys on 1M entries, vs postmap -q -", ">= 5x faster",
                  ratio(t.med("query postmap hash"), t.med("query cmap hash")), lambda r: r >= 5))
    goals.append(("(also) cmap -q - lmdb:, 100k keys on 1M entries, vs postmap -q -", ">= 5x faster",
                  ratio(t.med("query postmap lmdb"), t.med("query cmap lmdb")), lambda r: r >= 5))

    for sysname in ("hash", "lmdb", "btree", "cdb", "hash-snapshot", "lmdb-snapshot"):
        goals.append((f"cred-call/{sysname} (one call, locked memory) vs cred/{sysname} "
                      "(hand-assembled; issue 16)", "<= 1.05x",
                      ratio(lk("cred-call", sysname), lk("cred", sysname)), lambda r: r <= 1.05))
    for sysname, anchor in (("hash", "postfix-hash"), ("lmdb", "postfix-lmdb")):
        goals.append((f"(also) cred-call/{sysname} vs Postfix's path cred/{anchor}",
                      "faster (> 1x)", ratio(lk("cred", anchor), lk("cred-call", sysname)),
                      lambda r: r > 1))
    goals += pattern_goals(t)

    # Issue 17: the safe path as fast as the unsafe one.
    def per_key(s):
        return lk("batch", s) / BATCH_KEYS
    goals.append(("(17) hash lookup, 1M, default (safe) vs Postfix's locked lookup",
                  ">= 3x faster", ratio(lk("lookup", "postfix-hash"), lk("lookup", "hash")),
                  lambda r: r >= 3))
    goals.append(("(17) lmdb lookup, 1M, default (safe) vs Postfix's locked lookup",
                  ">= 2x faster", ratio(lk("lookup", "postfix-lmdb"), lk("lookup", "lmdb")),
                  lambda r: r >= 2))
    for typ in ("hash", "lmdb"):
        goals.append((f"(17, also) {typ} lookup, 1M, kPerLookupStrict (lock and unlock in every "
                      "lookup, no lingering) vs Postfix's locked lookup", "faster (> 1x)",
                      ratio(lk("lookup", f"postfix-{typ}"), lk("lookup", f"{typ}-strict")),
                      lambda r: r > 1))
    for typ in ("hash", "lmdb"):
        goals.append((f"(17) {typ}, 1M, safe batch (LookupEach, 64 keys) per key vs "
                      f"kSnapshot lookup", "<= 1.2x",
                      ratio(per_key(typ), lk("lookup", f"{typ}-snapshot")), lambda r: r <= 1.2))
    goals.append(("(17) hash lookup, 1M, kSnapshot vs speed-of-light table", "<= 1.3x",
                  ratio(lk("lookup", "hash-snapshot"), lk("lookup", "sol")), lambda r: r <= 1.3))
    for typ in ("hash", "lmdb"):
        goals.append((f"(17) cmap -q - {typ}:, 100k keys on 1M entries, vs postmap -q -",
                      ">= 6x faster",
                      ratio(t.med(f"query postmap {typ}"), t.med(f"query cmap {typ}")),
                      lambda r: r >= 6))
    open_hash = lookup.get(f"open/hash/{BIG}/real_time", float("nan"))
    goals.append(("(17) open + 1 lookup + close, hash:, 1M, in µs", "<= 15 µs",
                  open_hash / 1000, lambda r: r <= 15))
    goals.append(("(17) open + 1 lookup + close, hash:, 1M, vs libdb with Postfix's 128 KiB cache",
                  ">= 2x faster",
                  ratio(lookup.get(f"open/libdb-128k/{BIG}/real_time", float("nan")), open_hash),
                  lambda r: r >= 2))
    for typ in ("hash", "lmdb"):
        goals.append((f"(17) credential hot path: the library call cred-call/{typ} (default, "
                      f"safe: one batch for both probes) vs Postfix's cred/postfix-{typ}",
                      ">= 3x faster",
                      ratio(lk("cred", f"postfix-{typ}"), lk("cred-call", typ)),
                      lambda r: r >= 3))
    goals.append(("(17) lmdb build, 1M lines, cmap vs floor", "<= 3x",
                  ratio(t.med(f"build cmap lmdb {BIG}"), t.med(f"build floor lmdb {BIG}")),
                  lambda r: r <= 3))
    goals.append(("(17) texthash lookup, 1M, vs absl::flat_hash_map (throughput)", "<= 1.2x",
                  ratio(lk("lookup-tp", "texthash"), lk("lookup-tp", "absl")), lambda r: r <= 1.2))

    L.append("\n### Goals (issues 6 to 17), ratios measured in this run\n")
    L.append("| goal | target | measured | met |")
    L.append("|---|---|---:|---|")
    for label, target, r, ok in goals:
        met = "?" if r != r else ("yes" if ok(r) else "**no**")
        unit = " µs" if label.endswith("in µs") else "x"
        L.append(f"| {label} | {target} | {r:.2f}{unit} | {met} |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
