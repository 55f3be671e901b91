#!/usr/bin/env python3
"""Differential test: hash: files written by cmap, judged by real libdb and postmap.

For every sample source in data/ and for generated sources (300 by default:
1 to 200,000 entries, keys and values up to 64 KiB, syntax oddities from
texthash_diff.py's generator), cmap and the real /usr/sbin/postmap each build
the map from the same source with the same options (-F, -N, -n, -f, -r, -w,
-u), each in a directory of its own, and then:

  * the build's exit status and standard error agree (stderr normalised as in
    texthash_diff.py: program name, and postmap's whole-line quotes rewritten
    into cmap's redacted form);
  * db5.3_verify on cmap's file prints nothing but its success line;
  * real `postmap -s` prints the same lines (sorted) for both files, with the
    same warnings (sorted);
  * real `postmap -q -` gives the same output for both files, byte for byte,
    over every stored key (taken from -s), case variants and absent keys, and
    finds every stored key of cmap's file with its value;
  * real libdb (libdb_mutate, linked with libdb5.3) finds every key of a copy
    of cmap's file by DB->get, adds 1,000 pairs, deletes 1,000, finds the rest,
    and db5.3_verify still prints only its success line.

Page sizes and byte orders: cmap has no options for them (neither has
postmap), so cases that ask for 512, 4096 or 65536-byte pages or big-endian
files build through hash_write_driver, which runs cmap's own command logic
with the library's test hook set; other cases run cmap itself (libdb's
choice: 4096 here, little-endian).

Sequences of -i and -d (random additions with duplicates and every option,
deletions of present, absent and case-variant keys, mixed NUL styles) run on
both tools' maps; after each step the exit status, normalised stderr and
`postmap -s` (sorted) must agree, and cmap's file must verify.

Postfix is used as a program only. Everything happens in a temporary
directory (deleted at the end) with a main.cf that sets
compatibility_level = 3.6 (and one with smtputf8_enable = no), passed with -c;
source files get a modification time in the past.

Usage: hash_write_diff.py --cmap PATH --driver PATH --libdb-mutate PATH
                          [--jobs N] [--seed N] [--count N] [--only TEXT]
                          [--keep] [-v]
Exit: 0 when everything agrees, 1 otherwise (a missing tool or helper is a
failure, not a skip). Run time: about a minute on 2 cores.
"""

import argparse
import concurrent.futures
import dataclasses
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import texthash_diff as th  # noqa: E402  (generator and stderr normaliser)

POSTMAP = "/usr/sbin/postmap"
VERIFY = "db5.3_verify"
DATA = HERE / "data"
MUTATIONS = 1000
SOURCE_AGE = 3600  # seconds: sources are older than any map built from them

CONF, CONF_OFF = th.CONF, th.CONF_OFF
VERBOSE = False


@dataclasses.dataclass
class Step:
    kind: str                 # "i" or "d"
    flags: list
    stdin: bytes = b""
    key: str = "-"            # for "d"


@dataclasses.dataclass
class Case:
    name: str
    map_name: str
    files: dict               # name -> bytes, written into both directories
    dirs: list = dataclasses.field(default_factory=list)  # directories to create
    build: bool = True        # build from the source first
    flags: list = dataclasses.field(default_factory=list)
    conf: str = CONF
    page_size: int = 0        # 0: cmap itself; else the driver with this size
    big_endian: bool = False
    read_flags: list = dataclasses.field(default_factory=list)  # -F, -f, -u, -n, -N
    keys: list = dataclasses.field(default_factory=list)        # extra query keys
    steps: list = dataclasses.field(default_factory=list)
    mutate: bool = True


class Tools:
    def __init__(self, opts, work):
        self.cmap = os.path.abspath(opts.cmap)
        self.driver = os.path.abspath(opts.driver)
        self.mutate = os.path.abspath(opts.libdb_mutate)
        self.verify = shutil.which(VERIFY)
        self.work = work
        self.lock = threading.Lock()
        self.counts = {"builds": 0, "verifies": 0, "mutations": 0, "queries": 0,
                       "steps": 0, "keys": 0}

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] += n


def env():
    e = dict(os.environ)
    e.pop("MAIL_CONFIG", None)
    e.update({"LC_ALL": "C", "LANG": "C"})
    return e


def run(argv, cwd, stdin=b"", timeout=600):
    p = subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True,
                       timeout=timeout, env=env())
    return p.returncode, p.stdout, p.stderr


def cmap_argv(tools, case):
    if case.page_size == 0 and not case.big_endian:
        return [tools.cmap]
    argv = [tools.driver]
    if case.page_size:
        argv += ["--page-size", str(case.page_size)]
    if case.big_endian:
        argv.append("--big-endian")
    return argv


def short(b, limit=300):
    return th.show(b, limit)


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


class Checker:
    def __init__(self, tools, case, root):
        self.tools = tools
        self.case = case
        self.cm = os.path.join(root, "cm")
        self.pm = os.path.join(root, "pm")
        self.conf = os.path.join(tools.work, case.conf)
        self.problems = []

    def fail(self, what):
        self.problems.append(f"{self.case.name}: {what}")

    def both(self, args, stdin=b""):
        """Runs cmap (in cm/) and postmap (in pm/) with the same arguments."""
        c = run(cmap_argv(self.tools, self.case) + ["-c", self.conf] + args, self.cm, stdin)
        p = run([POSTMAP, "-c", self.conf] + args, self.pm, stdin)
        return c, p

    def compare_run(self, what, c, p, sources):
        c_rc, _, c_err = c
        p_rc, _, p_err = p
        if c_rc != p_rc:
            self.fail(f"{what}: exit status cmap {c_rc}, postmap {p_rc}; "
                      f"cmap said {short(c_err)}; postmap said {short(p_err)}")
        cmd = th.Command(case=self.case.name, args=[], sources=sources,
                         utf8_conf=self.case.conf == CONF)
        notes = []
        ce = th.normalise_stderr(c_err, b"cmap", cmd, notes)
        pe = th.normalise_stderr(p_err, b"postmap", cmd, notes)
        if ce != pe:
            i = next((i for i, (a, b) in enumerate(zip(ce, pe)) if a != b),
                     min(len(ce), len(pe)))
            line = lambda lines: short(lines[i]) if i < len(lines) else "(none)"  # noqa: E731
            self.fail(f"{what}: stderr differs at line {i + 1}: cmap {line(ce)}; "
                      f"postmap {line(pe)}")

    def verify(self, name):
        """db5.3_verify must print only its success line."""
        self.tools.count("verifies")
        rc, out, err = run([self.tools.verify, name], self.cm)
        want = f"BDB5105 Verification of {name} succeeded.\n".encode()
        if rc != 0 or out != want or err:
            self.fail(f"db5.3_verify {name}: exit {rc}, said {short(out + err, 200)}")
            return False
        return True

    def no_debris(self):
        for n in os.listdir(self.cm):
            if ".cmap-" in n:
                self.fail(f"temporary file left behind: {n}")

    def sequence(self, what, flags):
        """postmap -s on both maps: lines and warnings equal when sorted."""
        m = f"hash:{self.case.map_name}"
        c = run([POSTMAP, "-c", self.conf] + flags + ["-s", m], self.cm)
        p = run([POSTMAP, "-c", self.conf] + flags + ["-s", m], self.pm)
        self.tools.count("queries", 2)
        if c[0] != p[0]:
            self.fail(f"{what}: postmap -s exit {c[0]} on cmap's map, {p[0]} on postmap's; "
                      f"{short(c[2])}")
        if sorted(c[1].split(b"\n")) != sorted(p[1].split(b"\n")):
            cl, pl = set(c[1].split(b"\n")), set(p[1].split(b"\n"))
            self.fail(f"{what}: postmap -s differs: {len(cl - pl)} lines only in cmap's map "
                      f"(e.g. {short(min(cl - pl, default=b''), 120)}), {len(pl - cl)} only "
                      f"in postmap's (e.g. {short(min(pl - cl, default=b''), 120)})")
        if sorted(c[2].split(b"\n")) != sorted(p[2].split(b"\n")):
            self.fail(f"{what}: postmap -s warnings differ: cmap's map {short(c[2])}, "
                      f"postmap's {short(p[2])}")
        return c[1]

    def queries(self, listing, flags):
        """postmap -q - on both maps, over every stored key and some others."""
        m = f"hash:{self.case.map_name}"
        # A key is the text before the first TAB of its -s line; a quoted
        # key may hold a TAB itself, so the texts before the second and third
        # TAB are asked for too.
        stored = []
        for line in listing.split(b"\n"):
            at = -1
            for _ in range(3):
                at = line.find(b"\t", at + 1)
                if at < 0:
                    break
                stored.append(line[:at])
        extra = list(self.case.keys)
        keys = stored + extra
        random.Random(self.case.name).shuffle(keys)
        stdin = b"".join(k + b"\n" for k in keys)
        c = run([POSTMAP, "-c", self.conf] + flags + ["-q", "-", m], self.cm, stdin)
        p = run([POSTMAP, "-c", self.conf] + flags + ["-q", "-", m], self.pm, stdin)
        self.tools.count("queries", 2)
        self.tools.count("keys", len(keys))
        if c != p:
            self.fail(f"postmap -q -: exit {c[0]}/{p[0]}, stdout equal: {c[1] == p[1]}, "
                      f"stderr equal: {c[2] == p[2]} (cmap's map, postmap's map); "
                      f"{short(c[2])} / {short(p[2])}")
        found = set(c[1].split(b"\n"))
        missing = [line for line in listing.split(b"\n") if line and line not in found]
        if missing:
            self.fail(f"postmap -q - does not find {len(missing)} of {len(stored)} stored "
                      f"pairs in cmap's map, e.g. {short(missing[0], 120)}")

    def mutate(self):
        name = self.case.map_name
        shutil.copy(os.path.join(self.cm, name + ".db"), os.path.join(self.cm, "mutated.db"))
        self.tools.count("mutations")
        rc, out, err = run([self.tools.mutate, "mutated.db", str(MUTATIONS),
                            str(zlib.crc32(self.case.name.encode()))], self.cm)
        if rc != 0:
            self.fail(f"libdb_mutate: exit {rc}: {short(out + err, 600)}")
            return
        self.verify("mutated.db")


def run_case(tools, case, keep):
    root = os.path.join(tools.work, "cases", case.name.replace("/", "_"))
    chk = Checker(tools, case, root)
    started = time.monotonic()
    past = time.time() - SOURCE_AGE
    for d in (chk.cm, chk.pm):
        os.makedirs(d)
        for sub in case.dirs:
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for name, data in case.files.items():
            path = os.path.join(os.fsencode(d), name if isinstance(name, bytes) else name.encode())
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (past, past))
    m = f"hash:{case.map_name}"
    source = {case.map_name: case.files.get(case.map_name, b"")}
    if case.build:
        tools.count("builds")
        c, p = chk.both(case.flags + [m])
        chk.compare_run("build", c, p, source)
        if c[0] == 0 and p[0] == 0:
            chk.no_debris()
            if chk.verify(case.map_name + ".db"):
                listing = chk.sequence("build", case.read_flags)
                chk.queries(listing, case.read_flags)
                if case.mutate:
                    chk.mutate()
    for n, step in enumerate(case.steps, 1):
        tools.count("steps")
        what = f"step {n} ({'-i' if step.kind == 'i' else '-d ' + step.key} {' '.join(step.flags)})"
        if step.kind == "i":
            c, p = chk.both(step.flags + ["-i", m], step.stdin)
        else:
            c, p = chk.both(step.flags + ["-d", step.key, m], step.stdin)
        chk.compare_run(what, c, p, {"stdin": step.stdin})
        if os.path.exists(os.path.join(chk.cm, case.map_name + ".db")):
            chk.no_debris()
            if chk.verify(case.map_name + ".db"):
                chk.sequence(what, [f for f in step.flags if f == "-F"])
        elif os.path.exists(os.path.join(chk.pm, case.map_name + ".db")):
            chk.fail(f"{what}: postmap made a map, cmap did not")
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return chk.problems, time.monotonic() - started


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

KEY_ASCII = ("abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "0123456789" ".-_@[]:+=/%!,;")
KEY_UNICODE = "äöüÄÖÜßσΣİıﬁéÉçøåæñ日本語中文한국어ЖжЯя"
VALUE_ASCII = KEY_ASCII + " \t#\"\\'(){}<>?*&^$|`~"


class Pools:
    """Long random strings that keys and values are cut from."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.key_ascii = "".join(rng.choice(KEY_ASCII) for _ in range(1 << 17))
        self.key_unicode = "".join(rng.choice(KEY_UNICODE) for _ in range(1 << 15))
        self.value = "".join(rng.choice(VALUE_ASCII) for _ in range(1 << 17))

    @staticmethod
    def cut(rng, pool, n):
        n = min(n, len(pool))
        start = rng.randrange(len(pool) - n + 1)
        return pool[start:start + n]


POOLS = Pools(5)


def big_len(rng):
    """Up to 64 KiB, above every page size's quarter-page threshold."""
    return rng.choice([129, 1025, 3000, 16385, 40000, 65535, 65536])


def bulk_source(rng, n, big_keys, terminate, unicode_share, dup_share):
    """n source lines and the keys written. Values up to 64 KiB; keys too when
    `big_keys`. With `terminate` every key ends in '~', which appears nowhere
    else, so no key is a proper prefix of another (libdb cannot order such
    keys when one of them is big and they have no NUL; see
    docs/hash-format.md §5.3)."""
    lines, keys = [], []
    for i in range(n):
        if keys and rng.random() < dup_share:
            k = rng.choice(keys)
            k = rng.choice([k, k.upper(), k.lower(), k.swapcase()])
        else:
            if big_keys and rng.random() < 0.004:
                length = big_len(rng)
            else:
                length = rng.choice([1, 2, 3, 5, 8, 12, 20, 30, 40, 60, 100])
            pool = POOLS.key_unicode if rng.random() < unicode_share else POOLS.key_ascii
            k = Pools.cut(rng, pool, length)
            if rng.random() < 0.6:
                k += str(i)
            if terminate:
                k += "~"
        keys.append(k)
        r = rng.random()
        if r < 0.01:
            v = Pools.cut(rng, POOLS.value, big_len(rng))
        elif r < 0.05:
            v = Pools.cut(rng, POOLS.value, rng.randint(100, 1024))
        else:
            v = Pools.cut(rng, POOLS.value, rng.choice([1, 2, 4, 8, 16, 30, 60]))
        v = v.strip() or "v"
        lines.append(f"{k}{rng.choice([' ', chr(9), '  '])}{v}")
    return ("\n".join(lines) + "\n").encode() if lines else b"", [k.encode() for k in keys]


FLAG_CHOICES = [
    (6, []), (2, ["-f"]), (2, ["-r"]), (2, ["-w"]), (2, ["-n"]), (2, ["-N"]),
    (1, ["-r", "-w"]), (1, ["-w", "-r"]), (1, ["-n", "-f"]), (1, ["-N", "-r"]),
    (1, ["-n", "-N"]), (1, ["-N", "-n"]), (1, ["-u"]), (1, ["-f", "-w", "-n"]),
]
PAGE_CHOICES = [(5, (0, False)), (3, (512, False)), (2, (512, True)), (2, (4096, False)),
                (2, (4096, True)), (2, (65536, False)), (2, (65536, True))]


def weighted(rng, table):
    total = sum(w for w, _ in table)
    x = rng.uniform(0, total)
    for w, v in table:
        x -= w
        if x <= 0:
            return v
    return table[-1][1]


def read_flags_of(flags):
    """The options a reader of the map needs: folding, NULs, -F, -u."""
    out = []
    for f in flags:
        if f in ("-f", "-u", "-F"):
            out.append(f)
    nul = [f for f in flags if f in ("-n", "-N")]
    if nul:
        out.append(nul[-1])
    return out


def key_variants(rng, keys, n):
    out = []
    for _ in range(n):
        if not keys:
            break
        k = rng.choice(keys)
        try:
            s = k.decode()
            k = rng.choice([s, s.upper(), s.lower(), s.swapcase()]).encode()
        except UnicodeDecodeError:
            pass
        out.append(k.split(b"\0")[0].split(b"\r")[0] or b"x")
    return out + [f"absent-{i}".encode() for i in range(10)]


def update_steps(rng, keys, count):
    """-i and -d steps: additions (new keys, duplicates and case variants,
    big values) and deletions (present, case variants, absent)."""
    steps = []
    known = [k.decode("utf-8", "replace") for k in keys if b"\0" not in k][:500]
    for s in range(count):
        flags = weighted(rng, [(4, []), (1, ["-r"]), (1, ["-w"]), (1, ["-f"]),
                               (1, ["-n"]), (1, ["-N"]), (1, ["-r", "-n"])])
        if rng.random() < 0.6:
            lines = []
            for i in range(rng.choice([0, 1, 3, 10, 50, 300])):
                if known and rng.random() < 0.3:
                    k = rng.choice(known)
                    k = rng.choice([k, k.upper(), k.lower()])
                else:
                    k = f"new{s}-{i}-" + Pools.cut(rng, POOLS.key_ascii, rng.randint(1, 20))
                    known.append(k)
                v = Pools.cut(rng, POOLS.value, big_len(rng) if rng.random() < 0.03
                              else rng.randint(1, 40)).strip() or "v"
                lines.append(f"{k} {v}")
            if rng.random() < 0.1:
                lines.append("novalue")
            steps.append(Step("i", flags, ("\n".join(lines) + "\n").encode() if lines else b""))
        else:
            picks = [rng.choice(known) if known and rng.random() < 0.7 else f"absent{s}-{i}"
                     for i in range(rng.choice([1, 1, 2, 5, 20]))]
            picks = [rng.choice([k, k.upper()]) for k in picks]
            flags = [f for f in flags if f not in ("-r", "-w")]
            if len(picks) == 1 and rng.random() < 0.5 and not picks[0].startswith("-"):
                steps.append(Step("d", flags, b"", picks[0]))
            else:
                steps.append(Step("d", flags, ("\n".join(picks) + "\n").encode(), "-"))
    return steps


SAMPLE_FLAGS = {"dups_f": ["-f"], "dups_r": ["-r"], "dups_w": ["-w"], "nonul": ["-n"],
                "b64files": ["-F"]}


def sample_cases():
    cases = []
    value_files = {n: (DATA / n).read_bytes() for n in th.SAMPLE_VALUE_FILES}
    for s in th.SAMPLES:
        src = (DATA / s).read_bytes()
        flags = SAMPLE_FLAGS.get(s, [])
        keys = th.crude_keys(src) + [b"Key1", b"GAMMA", b"upper", b"[mail.isp.example]:587",
                                     b"dup", b"DUP", "STRASSE".encode()]
        files = {s: src, **(value_files if s == "b64files" else {})}
        for page_size, big in ((0, False), (512, True)):
            for conf in ((CONF, CONF_OFF) if s == "utf8" else (CONF,)):
                name = f"sample-{s}-{page_size or 'default'}{'-be' if big else ''}"
                if conf == CONF_OFF:
                    name += "-utf8off"
                cases.append(Case(name=name, map_name=s, files=files, flags=flags,
                                  conf=conf, page_size=page_size, big_endian=big,
                                  read_flags=read_flags_of(flags), keys=keys))
    return cases


def generated_cases(seed, count):
    cases = []
    rng0 = random.Random(seed)
    # Sizes: the two largest once each, some fixed small ones, the rest
    # log-uniform up to 20,000.
    sizes = [200000, 100000, 1, 2, 3, 5, 10, 30000]
    while len(sizes) < count:
        sizes.append(int(round(10 ** rng0.uniform(0, 4.3))))
    syntax_share = 0.3
    for i, n in enumerate(sizes[:count]):
        rng = random.Random(f"{seed}:{i}")
        name = f"g{i:03d}"
        if n > 50000:
            page, big = (0, False) if n == 200000 else (65536, True)
        else:
            page, big = weighted(rng, PAGE_CHOICES)
        if i >= 8 and rng.random() < syntax_share:
            # Source syntax from the texthash generator (every rule of the
            # format, invalid UTF-8, -F value files, huge lines).
            theme = th.FIXED_THEMES[i % len(th.FIXED_THEMES)] if i < 40 else \
                weighted(rng, [(w, t) for t, w in th.RANDOM_THEMES])
            src, keys = th.generate_source(rng, theme)
            flags = weighted(rng, FLAG_CHOICES)
            files = {name: src}
            dirs = []
            if theme == "F":
                flags = ["-F"] + flags
                files.update(th.VALUE_FILES)
                files.update({n: (DATA / n).read_bytes() for n in th.SAMPLE_VALUE_FILES})
                dirs = [th.VALUE_DIR.decode()]
            conf = CONF_OFF if rng.random() < 0.15 else CONF
            case = Case(name=f"{name}-{theme}", map_name=name, files=files, dirs=dirs,
                        flags=flags, conf=conf, page_size=page, big_endian=big,
                        read_flags=read_flags_of(flags),
                        keys=key_variants(rng, keys, 30))
        else:
            flags = weighted(rng, FLAG_CHOICES)
            nonul = "-n" in flags and ("-N" not in flags or
                                       flags.index("-n") > flags.index("-N"))
            big_keys = rng.random() < 0.5
            src, keys = bulk_source(rng, n, big_keys=big_keys, terminate=nonul and big_keys,
                                    unicode_share=rng.choice([0, 0.05, 0.2]),
                                    dup_share=rng.choice([0, 0.01, 0.1]))
            case = Case(name=f"{name}-bulk-{n}", map_name=name, files={name: src},
                        flags=flags, page_size=page, big_endian=big,
                        read_flags=read_flags_of(flags),
                        keys=key_variants(rng, keys, 200 if n < 20000 else 20))
        if n <= 20000 and rng.random() < 0.2:
            case.steps = update_steps(rng, keys, rng.randint(2, 6))
        cases.append(case)
    return cases


def update_cases(seed):
    """-i / -d sequences, among them ones that start with no map at all and
    ones on mixed-NUL tables."""
    cases = []
    for j in range(48):
        rng = random.Random(f"{seed}:upd:{j}")
        page, big = weighted(rng, PAGE_CHOICES)
        n = rng.choice([0, 1, 10, 100, 1000, 3000])
        flags = weighted(rng, FLAG_CHOICES)
        src, keys = bulk_source(rng, n, big_keys=False, terminate=False,
                                unicode_share=0.05, dup_share=0.05)
        name = f"u{j:02d}"
        case = Case(name=f"{name}-updates-{n}", map_name=name, files={name: src},
                    flags=flags, page_size=page, big_endian=big, build=j % 6 != 0,
                    read_flags=read_flags_of(flags), mutate=False)
        case.steps = update_steps(rng, keys, rng.randint(3, 8))
        if j % 4 == 1:
            # A table built without NULs, then -i with them: a mixed table,
            # where -d's sticky NUL probing decides what can be deleted.
            case.flags = ["-n"]
            case.read_flags = ["-n"]
            mixed = b"".join(f"m{i} v{i}\n".encode() for i in range(5))
            case.steps.insert(0, Step("i", [], mixed))
            case.steps.insert(1, Step("d", [], b"m1\n" + keys[0].split(b"\0")[0] + b"\nm2\n"
                                      if keys else b"m1\nm2\n", "-"))
        cases.append(case)
    return cases


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--driver", required=True,
                    help="hash_write_driver (cmap with page size and byte order)")
    ap.add_argument("--libdb-mutate", default="",
                    help="libdb_mutate (built only where libdb5.3-dev is installed)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--count", type=int, default=300, help="generated sources")
    ap.add_argument("--only", help="run only cases whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("-v", action="store_true")
    opts = ap.parse_args()
    global VERBOSE
    VERBOSE = opts.v

    missing = []
    if not os.access(POSTMAP, os.X_OK):
        missing.append(f"{POSTMAP} (Debian package postfix)")
    if not shutil.which(VERIFY):
        missing.append(f"{VERIFY} (Debian package db5.3-util)")
    if not opts.libdb_mutate or not os.access(opts.libdb_mutate, os.X_OK):
        missing.append("libdb_mutate (not built: install libdb5.3-dev and reconfigure)")
    for exe in (opts.cmap, opts.driver):
        if not os.access(exe, os.X_OK):
            missing.append(exe)
    if missing:
        for m in missing:
            print(f"FAIL missing test dependency: {m}")
        print("hash_write_diff: 0 cases run, 1 failed (missing dependencies)")
        return 1

    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="hash-write-diff-")
    problems = []
    try:
        for conf in (CONF, CONF_OFF):
            os.makedirs(os.path.join(work, conf))
            shutil.copy(DATA / conf / "main.cf", os.path.join(work, conf, "main.cf"))
        tools = Tools(opts, work)
        cases = sample_cases() + generated_cases(opts.seed, opts.count) + update_cases(opts.seed)
        if opts.only:
            cases = [c for c in cases if opts.only in c.name]
        # Largest first, so that they do not end the run alone.
        cases.sort(key=lambda c: -len(c.files.get(c.map_name, b"")))
        slowest = (0.0, "")
        done = 0
        with concurrent.futures.ThreadPoolExecutor(opts.jobs) as pool:
            futures = {pool.submit(run_case, tools, c, opts.keep): c for c in cases}
            for future in concurrent.futures.as_completed(futures):
                case = futures[future]
                try:
                    p, seconds = future.result()
                except Exception as err:  # noqa: BLE001 - report, go on
                    p, seconds = [f"{case.name}: harness error: {err!r}"], 0.0
                problems += p
                done += 1
                slowest = max(slowest, (seconds, case.name))
                if VERBOSE or p:
                    print(f"{'FAIL' if p else 'ok  '} {case.name} ({seconds:.1f} s)", flush=True)
        c = tools.counts
        n_gen = sum(1 for x in cases if x.name.startswith("g"))
        n_bulk = sum(1 for x in cases if "-bulk-" in x.name)
        pages = {}
        for x in cases:
            label = f"{x.page_size or 'default'}{'/BE' if x.big_endian else ''}"
            pages[label] = pages.get(label, 0) + 1
        print(f"{len(cases)} cases: {sum(1 for x in cases if x.name.startswith('sample'))} "
              f"sample builds, {n_gen} generated sources ({n_bulk} bulk, {n_gen - n_bulk} "
              f"syntax), {sum(1 for x in cases if x.name.startswith('u'))} update sequences; "
              f"page sizes/byte orders {dict(sorted(pages.items()))}")
        print(f"{c['builds']} builds by both tools, {c['verifies']} db5.3_verify runs, "
              f"{c['mutations']} libdb mutations of {MUTATIONS}+{MUTATIONS}, "
              f"{c['steps']} -i/-d steps, {c['queries']} postmap -s/-q runs over "
              f"{c['keys']} query keys; {time.monotonic() - started:.0f} s "
              f"(slowest: {slowest[1]}, {slowest[0]:.1f} s)")
    finally:
        if opts.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for p in problems[:60]:
        print("FAIL", p)
    print(f"hash_write_diff: {len(cases)} cases, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
