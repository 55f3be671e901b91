#!/usr/bin/env python3
"""Differential test: cmap reads hash: files exactly as postmap does.

Real Postfix postmap (Debian's postfix, linked with libdb 5.3) builds hash
maps from generated sources, and db5.3_load (db5.3-util) writes hash files
with settings postmap never uses (512- and 65536-byte pages, big-endian,
checksums, fill factors). For every map, `cmap -s` and `cmap -q -` must give
the same standard output, byte for byte, and the same exit status as
`postmap -s` and `postmap -q -`, run with the same options and the same
keys on standard input. Standard error is compared too, but only reported
(cmap words a few warnings differently on purpose: it never quotes a value).

Postfix is used as a program only; the mail system is never started. All
files live in a temporary directory, with a main.cf that sets
compatibility_level = 3.6 (UTF-8 mode, as on Debian 12) passed with -c.

The test also checks that neither cmap nor libmaps.so links libdb (ldd).

Usage: hash_read_diff.py --cmap PATH [--jobs N] [--seed N] [--sources N]
                         [--only NAME] [--show-stderr]
Exit status: 0 all equal, 1 differences, 77 postmap or db5.3_load missing.
Run time: about a minute on 2 cores (300 sources, one of 200,000 entries).
"""

import argparse
import concurrent.futures
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

SEARCH_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"

SHOW_STDERR = False  # --show-stderr

# Cases whose differences are known and are not in reading the table.
# Reported as XFAIL while they differ and as XPASS once they agree.
KNOWN_DIFFERENCES = {
    # (empty: the -F NUL difference was fixed in cmap)
}

# Characters for generated keys: no whitespace, no '#' (a comment at the
# start of a line), no quotes or backslashes (postmap's key scanner treats
# them specially), so every key is stored as written (then folded).
KEY_ASCII = ("abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "0123456789" ".-_@[]:+=/%!,;~")
KEY_UNICODE = "äöüÄÖÜßẞσΣΊİıﬁéÉçÇøØåÅæÆñÑ日本語中文한국어ЖжЯя"
VALUE_ASCII = KEY_ASCII + " \t#\"\\'(){}<>?*&^$|`"


def which(name):
    return shutil.which(name, path=SEARCH_PATH)


class Runner:
    def __init__(self, cmap, postmap, conf):
        self.cmap = cmap
        self.postmap = postmap
        self.conf = conf

    def run(self, tool, args, cwd, stdin=b""):
        exe = self.cmap if tool == "cmap" else self.postmap
        p = subprocess.run([exe, "-c", self.conf] + args, cwd=cwd, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=600)
        return p.returncode, p.stdout, p.stderr

    def build(self, args, cwd, stdin=None):
        p = subprocess.run([self.postmap, "-c", self.conf] + args, cwd=cwd,
                           input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"postmap {' '.join(args)} failed: "
                               f"{p.stderr.decode(errors='replace')[:500]}")


def first_difference(a, b):
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: cmap {x[:80]!r} postmap {y[:80]!r}"
    return f"cmap has {len(la)} lines, postmap {len(lb)}"


# --- Generated postmap sources ------------------------------------------


class Pools:
    """Long random strings that keys and values are cut from (generating
    megabytes a character at a time would dominate the run time)."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.key_ascii = "".join(rng.choice(KEY_ASCII) for _ in range(1 << 17))
        self.key_unicode = "".join(rng.choice(KEY_UNICODE) for _ in range(1 << 17))
        self.value = "".join(rng.choice(VALUE_ASCII) for _ in range(1 << 17))

    @staticmethod
    def cut(rng, pool, n):
        start = rng.randrange(len(pool) - n + 1)
        return pool[start:start + n]


POOLS = Pools(1)


def gen_key(rng, unicode_share, big_keys=True):
    n = rng.choice([1, 2, 3, 5, 8, 12, 20, 30, 40]) if rng.random() < 0.97 \
        else rng.randint(41, 2000)
    if big_keys and rng.random() < 0.003:
        n = rng.randint(2000, 65536)  # a big key, on overflow pages
    pool = POOLS.key_unicode if rng.random() < unicode_share else POOLS.key_ascii
    key = Pools.cut(rng, pool, n)
    if key.startswith("#"):
        key = "x" + key
    return key


def gen_value(rng, big_share):
    if rng.random() < big_share:
        n = rng.randint(1025, 65536)  # off-page at 4 KiB pages
    else:
        n = rng.choice([1, 2, 4, 8, 16, 30, 60, 120, 300])
    value = Pools.cut(rng, POOLS.value, n).strip()
    if rng.random() < 0.1:
        value += " " + Pools.cut(rng, POOLS.key_unicode, 5)
    return value or "v"


class Case:
    """One map (or a few), how to build it, and how to query it."""

    def __init__(self, name):
        self.name = name
        self.dir = None
        self.maps = [name]         # map names queried, in order
        self.query_flags = []      # e.g. ["-f"], ["-u"], ["-F"]
        self.keys = []             # lines for -q -
        self.build_steps = []      # callables(case, runner)
        self.expect_error = False  # e.g. a missing or broken .db
        self.keep = False          # keep the files (--only)


def postmap_case(index, rng, entries, flavour, name=None):
    case = Case(name or f"pm{index:03d}-{flavour}-{entries}")
    unicode_share = 0.15 if flavour in ("utf8", "nofold", "ascii") else 0.03
    big_share = 0.02 if entries <= 3000 else 0.0
    build_flags = []
    if flavour == "nofold":
        build_flags, case.query_flags = ["-f"], ["-f"]
    elif flavour == "ascii":
        build_flags, case.query_flags = ["-u"], ["-u"]
    elif flavour == "nonul":
        build_flags = ["-n"]
    elif flavour == "replace":
        build_flags = ["-r"]
    elif flavour in ("files", "files-nul"):
        build_flags, case.query_flags = ["-F"], ["-F"]
    nul_bytes = flavour == "files-nul"

    lines, keys = [], []
    for i in range(entries):
        # Without NULs a key can be a prefix of another; with a big key in
        # the mix libdb 5.3's sorted-page search then misses keys and even
        # stores duplicates (docs/hash-format.md §5.3), where cmap finds
        # them. Postfix's own tables (with NULs) cannot meet this.
        key = gen_key(rng, unicode_share, big_keys=flavour != "nonul")
        if rng.random() < 0.5:
            key += str(i)  # mostly unique keys
        keys.append(key)
        if flavour.startswith("files"):
            value = ",".join(f"bin{rng.randrange(40):02d}"
                             for _ in range(rng.choice([1, 1, 1, 2, 3])))
        else:
            value = gen_value(rng, big_share)
        lines.append(f"{key}\t{value}" if rng.random() < 0.5 else f"{key} {value}")
        if flavour in ("utf8", "ascii") and rng.random() < 0.01:
            # Not UTF-8 (surrogateescape writes the bytes 0xff and 0xfe).
            lines.append("bad\udcffkey" + str(i) + " v\udcfe" + str(i))
    if flavour.startswith("files"):
        lines.append("emptyfile bin-empty")
        keys.append("emptyfile")

    def write_source(case, runner):
        data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
        with open(os.path.join(case.dir, case.name), "wb") as f:
            f.write(data)
        if flavour.startswith("files"):
            frng = random.Random(index)
            for b in range(40):
                n = frng.choice([1, 3, 100, 1000, 5000, 20000, 65536])
                data = frng.randbytes(n)
                if not nul_bytes:
                    # postmap prints a decoded value as a C string, up to
                    # its first NUL; see KNOWN_DIFFERENCES.
                    data = data.replace(b"\0", b"\1")
                with open(os.path.join(case.dir, f"bin{b:02d}"), "wb") as f:
                    f.write(data)
            open(os.path.join(case.dir, "bin-empty"), "wb").close()
        runner.build(build_flags + [f"hash:{case.name}"], case.dir)
        if flavour == "nonul":
            # Some records with a NUL too: a mixed table (postmap -i).
            extra = "".join(f"extra{i} x{i}\n" for i in range(5)).encode()
            runner.build(["-i", f"hash:{case.name}"], case.dir, stdin=extra)

    case.build_steps.append(write_source)
    # Queries: keys as written, case variants, absent keys, odd lines.
    sample = keys if len(keys) <= 1500 else rng.sample(keys, 1500)
    queries = []
    for k in sample:
        r = rng.random()
        queries.append(k.upper() if r < 0.2 else k.lower() if r < 0.3 else k)
    queries += [f"absent-{i}" for i in range(20)]
    if flavour == "nonul":
        queries = [f"extra{i}" for i in range(3)] + queries  # sticky probing
    queries += ["", "bad\udcffkey"]
    rng.shuffle(queries)
    case.keys = queries
    return case


# --- Files written by db5.3_load ----------------------------------------


def load_escape(data):
    """db_load -T text: printable bytes as is, others as \\xx."""
    out = []
    for c in data:
        if 0x21 <= c <= 0x7e and c != 0x5c:
            out.append(chr(c))
        else:
            out.append(f"\\{c:02x}")
    return "".join(out)


def dbload_case(index, rng, entries, load_args, nul, big, binary):
    tag = "-".join(a.replace("=", "") for a in load_args if a != "-c") or "default"
    case = Case(f"dl{index:02d}-{tag}-{entries}{'-nul' if nul else ''}")
    pairs, keys = [], []
    for i in range(entries):
        key = Pools.cut(rng, POOLS.key_ascii, rng.randint(1, 30)).lower()
        key = key.replace("~", "-") + f";{i}~"  # unique, and no key is a
                                                 # prefix of another (see above)
        if big and rng.random() < 0.01:
            key = key * (2000 // len(key) + 1)  # a big key
        if binary:
            n = rng.choice([1, 5, 50, 500]) if rng.random() > 0.05 else rng.randint(1000, 70000)
            value = rng.randbytes(n)
        else:
            n = rng.choice([1, 5, 50, 500])
            if big and rng.random() < 0.05:
                n = rng.randint(1000, 70000)
            value = Pools.cut(rng, POOLS.value, min(n, 1 << 16)).encode()
        k = key.encode() + (b"\0" if nul else b"")
        v = value + (b"\0" if nul else b"")
        pairs.append((k, v))
        keys.append(key)

    def write_file(case, runner):
        text = "".join(load_escape(k) + "\n" + load_escape(v) + "\n" for k, v in pairs)
        path = os.path.join(case.dir, case.name + ".db")
        p = subprocess.run([which("db5.3_load"), "-T", "-t", "hash"] + load_args +
                           ["-f", "/dev/stdin", path], input=text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError(f"db5.3_load failed: {p.stderr.decode()[:300]}")

    case.build_steps.append(write_file)
    # Binary values need -u: in UTF-8 mode Postfix fails the query, and it
    # then loses the output it had buffered (cmap prints it): a difference
    # in the program around the table, not in reading it.
    if binary:
        case.query_flags = ["-u"]
    sample = keys if len(keys) <= 1500 else rng.sample(keys, 1500)
    case.keys = sample + [f"absent;{i}" for i in range(20)]
    rng.shuffle(case.keys)
    return case


# --- Cases about errors and several maps ----------------------------------


def special_cases(rng):
    cases = []

    def simple(name, body):
        def step(case, runner):
            with open(os.path.join(case.dir, name), "w") as f:
                f.write(body)
            runner.build([f"hash:{name}"], case.dir)
        return step

    c = Case("multi")
    c.maps = ["m1", "m2"]
    c.build_steps = [simple("m1", "a 1\nb 2\n"), simple("m2", "b 22\nc 33\n")]
    c.keys = ["a", "B", "c", "zz"]
    cases.append(c)

    c = Case("missing")
    c.maps = ["missing"]
    c.keys = ["a"]
    c.expect_error = True
    cases.append(c)

    def raw(name, data):
        def step(case, runner):
            with open(os.path.join(case.dir, name + ".db"), "wb") as f:
                f.write(data)
        return step

    for name, data in [("zero", b""), ("garbage", rng.randbytes(8192)),
                       ("text", b"this is not a database\n" * 300)]:
        c = Case(name)
        c.build_steps = [raw(name, data)]
        c.keys = ["a"]
        c.expect_error = True
        cases.append(c)

    # A value that is not UTF-8, met by the first query: both fail at once.
    def badvalue(case, runner):
        text = "k1\\00\nv\\ff1\\00\nk2\\00\nok\\00\n"
        subprocess.run([which("db5.3_load"), "-T", "-t", "hash", "-f", "/dev/stdin",
                        os.path.join(case.dir, "badvalue.db")], input=text.encode(),
                       check=True)
    c = Case("badvalue")
    c.build_steps = [badvalue]
    c.keys = ["k1", "k2"]
    cases.append(c)
    return cases


# --- Running ----------------------------------------------------------------


def run_case(case, runner, work):
    case.dir = os.path.join(work, case.name)
    os.makedirs(case.dir, exist_ok=True)
    started = time.monotonic()
    for step in case.build_steps:
        step(case, runner)
    problems, stderr_diffs = [], 0
    stdin = "\n".join(case.keys).encode("utf-8", "surrogateescape") + b"\n"
    maps = [f"hash:{m}" for m in case.maps]
    for mode, args, data in (("-s", ["-s"] + maps[:1], b""),
                             ("-q -", ["-q", "-"] + maps, stdin)):
        args = case.query_flags + args
        c_rc, c_out, c_err = runner.run("cmap", args, case.dir, data)
        p_rc, p_out, p_err = runner.run("postmap", args, case.dir, data)
        if c_rc != p_rc:
            problems.append(f"{case.name} {mode}: exit status cmap {c_rc}, postmap {p_rc}"
                            f" (cmap said {c_err[:300]!r})")
        if c_out != p_out:
            problems.append(f"{case.name} {mode}: stdout differs: "
                            + first_difference(c_out, p_out))
        if c_err.replace(b"cmap:", b"postmap:") != p_err:
            stderr_diffs += 1
            if SHOW_STDERR:
                print(f"stderr {case.name} {mode}: "
                      + first_difference(c_err.replace(b"cmap:", b"postmap:"), p_err))
        if case.expect_error and c_rc == 0:
            problems.append(f"{case.name} {mode}: expected an error")
        if not case.expect_error and mode == "-s" and p_rc != 0:
            # Two failures would compare equal; the maps must be readable.
            problems.append(f"{case.name} -s: postmap failed: {p_err[:300]!r}")
    if not (case.expect_error or case.keep):
        shutil.rmtree(case.dir, ignore_errors=True)
    return problems, stderr_diffs, time.monotonic() - started


def check_no_libdb(cmap):
    problems = []
    out = subprocess.run(["ldd", cmap], stdout=subprocess.PIPE, text=True).stdout
    libmaps = [line.split("=>")[1].split()[0] for line in out.splitlines()
               if "libmaps.so" in line and "=>" in line]
    if not libmaps or not os.path.exists(libmaps[0]):
        problems.append("ldd: cmap does not link libmaps.so")
    for target in [cmap] + libmaps[:1]:
        text = subprocess.run(["ldd", target], stdout=subprocess.PIPE, text=True).stdout
        linked = [line.strip() for line in text.splitlines() if "libdb" in line]
        if linked:
            problems.append(f"ldd {target}: links libdb: {linked}")
        else:
            print(f"ldd {target}: no libdb")
    return problems


def make_cases(seed, sources):
    rng = random.Random(seed)
    cases = []
    flavours = ["utf8"] * 12 + ["nofold", "ascii", "nonul", "replace", "files", "files"]
    sizes = [1, 2, 3, 5, 10, 200000, 50000]
    while len(sizes) < sources:
        # log-uniform between 1 and 20,000 entries
        sizes.append(int(round(10 ** rng.uniform(0, 4.3))))
    for i, n in enumerate(sizes[:sources]):
        flavour = "utf8" if n > 20000 else flavours[i % len(flavours)]
        cases.append(postmap_case(i, random.Random(seed * 1000 + i), n, flavour))
    cases.append(postmap_case(sources, random.Random(seed * 1000 + sources), 200,
                              "files-nul", name="pm-files-nul"))
    loads = [
        (["-c", "db_pagesize=512"], 3000, True, True, False),
        (["-c", "db_pagesize=512"], 800, False, False, True),
        (["-c", "db_pagesize=512", "-c", "db_lorder=4321"], 1500, True, True, False),
        (["-c", "db_pagesize=65536"], 3000, True, True, False),
        (["-c", "db_pagesize=65536"], 300, False, True, True),
        (["-c", "db_pagesize=65536", "-c", "db_lorder=4321"], 2000, True, True, False),
        (["-c", "db_lorder=4321"], 5000, True, True, False),
        (["-c", "db_lorder=4321", "-c", "chksum=1"], 1000, False, True, True),
        (["-c", "db_pagesize=1024", "-c", "chksum=1"], 2000, True, True, False),
        (["-c", "db_pagesize=512", "-c", "h_ffactor=40"], 1000, False, False, False),
        (["-c", "h_ffactor=2", "-c", "h_nelem=3"], 400, True, False, False),
        (["-c", "db_pagesize=8192", "-c", "h_nelem=20000"], 4000, True, True, False),
        (["-c", "db_pagesize=2048", "-c", "db_lorder=1234"], 1, True, False, False),
        ([], 0, True, False, False),
    ]
    for j, (args, n, nul, big, binary) in enumerate(loads):
        cases.append(dbload_case(j, random.Random(seed * 7 + j), n, args, nul, big, binary))
    cases += special_cases(random.Random(seed))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--sources", type=int, default=300,
                    help="number of generated postmap sources (default 300)")
    ap.add_argument("--only", help="run only the cases whose name contains this, "
                    "and keep their files (for debugging)")
    ap.add_argument("--show-stderr", action="store_true",
                    help="show where standard error differs")
    args = ap.parse_args()
    global SHOW_STDERR
    SHOW_STDERR = args.show_stderr

    postmap = which("postmap")
    if not postmap or not which("db5.3_load"):
        print("SKIP: needs postmap (postfix) and db5.3_load (db5.3-util)")
        return 77
    cmap = os.path.abspath(args.cmap)
    started = time.monotonic()
    problems = check_no_libdb(cmap)

    work = tempfile.mkdtemp(prefix="hash-read-diff-")
    try:
        conf = os.path.join(work, "conf")
        os.makedirs(conf)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        runner = Runner(cmap, postmap, conf)
        cases = make_cases(args.seed, args.sources)
        if args.only:
            cases = [c for c in cases if args.only in c.name]
            for c in cases:
                c.keep = True
        stderr_diffs = 0
        slowest = (0.0, "")
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = {pool.submit(run_case, c, runner, work): c for c in cases}
            for future in concurrent.futures.as_completed(futures):
                case = futures[future]
                try:
                    p, e, seconds = future.result()
                except Exception as err:  # a build step failed
                    p, e, seconds = [f"{case.name}: {err}"], 0, 0.0
                if case.name in KNOWN_DIFFERENCES:
                    print(("XFAIL " if p else "XPASS (remove it from KNOWN_DIFFERENCES) ")
                          + f"{case.name}: {KNOWN_DIFFERENCES[case.name]}")
                    p = []
                problems += p
                stderr_diffs += e
                slowest = max(slowest, (seconds, case.name))
        n_postmap = sum(1 for c in cases if c.name.startswith("pm"))
        n_load = sum(1 for c in cases if c.name.startswith("dl"))
        print(f"{len(cases)} cases ({n_postmap} postmap sources, {n_load} db5.3_load "
              f"files, {len(cases) - n_postmap - n_load} special), "
              f"{2 * len(cases)} comparisons of -s and -q - in "
              f"{time.monotonic() - started:.0f} s (slowest: {slowest[1]}, "
              f"{slowest[0]:.1f} s)")
        print(f"stderr differed (informational) in {stderr_diffs} runs")
    finally:
        if args.only:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for p in problems[:50]:
        print("FAIL", p)
    print(f"hash_read_diff: {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
