#!/usr/bin/env python3
"""Differential test: cmap against the real Postfix postmap, lmdb: maps.

Two scratch directories, P and C, hold the same sources, value files and
main.cf directories. Every case builds its map(s) twice, with
`postmap [flags] lmdb:NAME` in P and with `cmap [flags] lmdb:NAME` in C, and
then reads them:

  build      postmap in P vs cmap in C: exit status, stdout, stderr
             (normalised, in order), then the stored records of the two
             .lmdb files (mdb_dump of a copy: keys and values byte for byte,
             including the trailing-NUL convention);
  pm-reads   `postmap -s / -q KEY / -q -` on P's map (postmap's) vs the same
             postmap command on C's map (cmap's);
  cmap-reads `cmap -s / -q KEY / -q -` on P's map vs `postmap ...` on P's map.

-s output is compared as sorted lines (and, separately, in order: lmdb's
order is bytewise key order, so a difference there is reported as
"-s order"). stderr is normalised as texthash_diff.py does (program name,
cmap's documented redaction of whole-line quotes). One more documented
difference is mapped: a key over lmdb's 511-byte limit makes postmap print
`fatal: error updating lmdb:NAME: MDB_BAD_VALSIZE: ...` and cmap
`fatal: SOURCE, line N: key is ... bytes ...; lmdb keys hold at most 511
bytes` -- both become one marker line (after checking that line N of SOURCE
does start with an over-long key). After such a failed build the existing
map must be unchanged in both directories; without one, postmap leaves an
empty .lmdb and cmap creates none (docs/atomic-rebuilds.md).

Sequences: a map pair is built by postmap in both directories, then the
same random -i batches (stdin) and -d KEY / -d - deletions are applied with
postmap in P and cmap in C; after every step the exit status, stdout and
stderr must agree, and so must `postmap -s` (and the stored records) of
every map. Query steps in between check the sticky NUL probing of mixed
tables (postmap -n, then -i without -n). When a step leaves different maps,
that step fails and C's map is replaced by P's before the next step, so one
difference is reported once.

Cases: every sample in data/ (10 option sets each), --count generated
sources (texthash_diff's generator, plus keys of 509..700 bytes around
lmdb's limit in some of them, and an existing map in others), fixed cases
(keys at the limit, 1 MiB values, -F with a 1 MiB file, 20,000 records with
lmdb_map_size = 1 MiB, duplicates, empty -q - lines) and --sequences random
-i/-d sequences plus fixed ones (spec E5, invalid UTF-8 keys, oversize keys).
Note that postmap sleeps one second before every fatal exit; the summary
counts them.

Usage: lmdb_diff.py --cmap PATH [--seed N] [--count N] [--sequences N]
       [--jobs N] [--only PREFIX] [--max-report N] [--save-failures DIR]
       [--keep] [-v]
Exit: 0 all agree, 1 some differ, 2 harness error, 77 postmap missing.
"""

import argparse
import concurrent.futures
import dataclasses
import difflib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import texthash_diff as th  # noqa: E402  (generator, normaliser, helpers)

POSTMAP = th.POSTMAP
DATA = th.DATA
SKIP = 77

CONF, CONF_OFF = th.CONF, th.CONF_OFF
CONF_SMALL = "conf-small"   # lmdb_map_size = 1048576 (the map must grow)
CONF_TINY = "conf-tiny"     # lmdb_map_size = 32768 (grows during -i)
UTF8_CONF = {CONF: True, CONF_OFF: False, CONF_SMALL: True, CONF_TINY: True}

MAX_KEY = 511               # MDB_MAXKEYSIZE of Debian's liblmdb
MIB = 1024 * 1024
BIG_FILE = b"vf_1mib.bin"   # a 1 MiB value file for -F

# ---------------------------------------------------------------------------
# Running programs
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    rc: object
    stdout: bytes
    stderr: bytes


class Env:
    def __init__(self, postmap: str, cmap: str, work: str):
        self.prog = {"postmap": postmap, "cmap": cmap}
        self.work = work
        self.dirs = {"P": os.path.join(work, "P"), "C": os.path.join(work, "C")}
        self.scratch = os.path.join(work, "scratch")
        self.env = dict(os.environ)
        self.env.pop("MAIL_CONFIG", None)
        self.env.update({"LC_ALL": "C", "LANG": "C"})
        self.lock = threading.Lock()
        self.fatals = {}

    def run(self, prog: str, side: str, args: list, stdin: bytes = b"") -> Result:
        try:
            p = subprocess.run([self.prog[prog], *args], cwd=self.dirs[side], input=stdin,
                               capture_output=True, timeout=180, env=self.env)
            if prog == "postmap" and b"fatal: " in p.stderr:
                # postmap sleeps one second before a fatal exit: keep count.
                kind = next((a for a in args if a in ("-q", "-s", "-d", "-i")), "build")
                if kind == "-q" and "-" in args:
                    kind = "-q -"
                if b"MDB_BAD_VALSIZE" in p.stderr:
                    kind += " (MDB_BAD_VALSIZE)"
                with self.lock:
                    self.fatals[kind] = self.fatals.get(kind, 0) + 1
            return Result(p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            return Result("timeout", e.stdout or b"", e.stderr or b"")

    def path(self, side: str, name) -> bytes:
        n = name if isinstance(name, bytes) else name.encode()
        return os.path.join(os.fsencode(self.dirs[side]), n)

    def write_source(self, name: str, data: bytes):
        old = time.time() - 3600
        for side in ("P", "C"):
            p = self.path(side, name)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (old, old))

    def records(self, side: str, name: str):
        """Stored records of NAME.lmdb as a list of (key, value) bytes, None
        without a file, or a string describing why it could not be read.
        mdb_dump creates a -lock file, so it runs on a copy."""
        src = self.path(side, name + ".lmdb")
        if not os.path.exists(src):
            return None
        if os.path.getsize(src) == 0:
            return "zero-length file"
        d = tempfile.mkdtemp(dir=self.scratch)
        try:
            copy = os.path.join(d, "m.lmdb")
            shutil.copyfile(src, copy)
            p = subprocess.run(["mdb_dump", "-n", copy], capture_output=True, timeout=180)
            if p.returncode != 0:
                return f"mdb_dump failed: {p.stderr.decode(errors='replace').strip()}"
            return parse_mdb_dump(p.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)


def parse_mdb_dump(out: bytes):
    lines = out.split(b"\n")
    try:
        i = lines.index(b"HEADER=END") + 1
        j = lines.index(b"DATA=END", i)
    except ValueError:
        return "unparsable mdb_dump output"
    data = [bytes.fromhex(l[1:].decode()) for l in lines[i:j]]
    if len(data) % 2:
        return "odd number of mdb_dump data lines"
    return [(data[k], data[k + 1]) for k in range(0, len(data), 2)]


def show_records(recs) -> list:
    """Records as lines (bytes, rendered by th.show when printed)."""
    if recs is None:
        return [b"<no .lmdb file>"]
    if isinstance(recs, str):
        return [f"<{recs}>".encode()]
    return [k + b"  ->  " + v for k, v in recs]


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------

OVERSIZE = b"PROG: fatal: <key over lmdb's 511-byte limit>"
RE_PM_BADVAL = re.compile(
    rb"^PROG: fatal: error updating lmdb:(.+): MDB_BAD_VALSIZE: Unsupported size of "
    rb"key/DB name/data, or wrong DUPFIXED size$")
RE_CM_KEYLEN = re.compile(
    rb"^PROG: fatal: (.+), line (\d+): key is (\d+) bytes( with its trailing NUL)?; "
    rb"lmdb keys hold at most 511 bytes$")


@dataclasses.dataclass
class Outcome:
    case: str
    label: str               # build, pm-reads, cmap-reads, step, state
    a_desc: str
    b_desc: str
    cmd: object              # th.Command (args, stdin, kind, sources, utf8_conf)
    problems: list
    notes: list
    oversize: bool = False
    both_fatal: bool = False   # both programs ended the step with a fatal


def map_oversize(ea: list, eb: list, b_is_cmap: bool, cmd, notes: list, problems: list):
    """postmap's MDB_BAD_VALSIZE fatal and cmap's `line N: key is ... bytes`
    fatal are the same event: both become OVERSIZE (after a sanity check of N)."""
    if not (b_is_cmap and ea and eb and RE_PM_BADVAL.match(ea[-1])):
        return False
    m = RE_CM_KEYLEN.match(eb[-1])
    if not m:
        return False
    name = m.group(1).decode("latin-1")
    n = int(m.group(2))
    size = int(m.group(3))
    src = cmd.sources.get(name)
    if src is None:
        problems.append(("stderr", f"cmap's key-size fatal names {name!r}, which is not "
                         "the source of this command", None, None))
    else:
        lines = th.physical_lines(src)
        word = th.first_word(lines[n - 1]).lstrip(th.WS) if 1 <= n <= len(lines) else b""
        word = word.split(b"\0")[0]
        if size <= MAX_KEY or len(word) < 400:
            problems.append(("stderr", f"cmap's key-size fatal names {name}, line {n} "
                             f"({size} bytes), but that line starts with a "
                             f"{len(word)}-byte word", None, None))
    ea[-1] = OVERSIZE
    eb[-1] = OVERSIZE
    return True


def compare(kind: str, cmd, a: Result, b: Result, an: bytes, bn: bytes):
    """kind: "s" (sorted stdout + order), anything else exact stdout."""
    notes, problems = [], []
    if a.rc != b.rc:
        problems.append(("exit", f"exit status: A={a.rc} B={b.rc}", None, None))
    if kind == "s":
        la, lb = a.stdout.split(b"\n"), b.stdout.split(b"\n")
        if sorted(la) != sorted(lb):
            problems.append(("stdout", "stdout (lines sorted)", sorted(la), sorted(lb)))
        elif la != lb:
            problems.append(("order", "-s order (lmdb: bytewise key order)", la, lb))
    elif a.stdout != b.stdout and not (
            # Documented difference: postmap loses its unflushed stdout
            # (4096-byte blocks) when it exits on a fatal error; cmap
            # flushes. cmap must print at least what postmap printed.
            an == b"postmap" and bn == b"cmap" and a.rc == b.rc == 1
            and b"fatal:" in a.stderr and b"fatal:" in b.stderr
            and b.stdout.startswith(a.stdout)):
        problems.append(("stdout", "stdout (exact)", a.stdout.split(b"\n"),
                         b.stdout.split(b"\n")))
    ea = th.normalise_stderr(a.stderr, an, cmd, notes)
    eb = th.normalise_stderr(b.stderr, bn, cmd, notes)
    over = map_oversize(ea, eb, bn == b"cmap", cmd, notes, problems)
    if ea != eb:
        problems.append(("stderr", "stderr (normalised, in order)", ea, eb))
    return problems, notes, over


def mk_cmd(case, args, stdin=b"", kind="err", sources=None, conf=CONF):
    return th.Command(case=case, args=list(args), stdin=stdin, kind=kind,
                      sources=dict(sources or {}), utf8_conf=UTF8_CONF[conf])


# ---------------------------------------------------------------------------
# Case runner
# ---------------------------------------------------------------------------

PM_BADVAL_RAW = re.compile(rb"fatal: error updating lmdb:.*MDB_BAD_VALSIZE")


def lmdb_batch(r: random.Random, keys: list) -> bytes:
    """th.batch_stdin(), but an empty line survives only in one batch of
    ten: for lmdb an empty key is a fatal MDB_BAD_VALSIZE whenever postmap
    probes without the NUL, and every postmap fatal exit costs a one-second
    sleep. (Fixed cases cover the empty line on purpose.)"""
    data = th.batch_stdin(r, keys)
    if r.random() < 0.9:
        lines = data.split(b"\n")
        data = b"\n".join([l for l in lines[:-1] if l] + lines[-1:])
    return data


class Ctx:
    """Per-case state and output."""

    def __init__(self, env: Env, case: str):
        self.env = env
        self.case = case
        self.out = []
        self.pm_stderr = []      # postmap's stderr (coverage)
        self.events = set()

    def add(self, label, a_desc, b_desc, cmd, problems, notes, over=False):
        self.out.append(Outcome(self.case, label, a_desc, b_desc, cmd, problems, notes, over))

    # -- reading ---------------------------------------------------------

    def reads(self, name: str, conf: str, flags: list, keys: list, r: random.Random,
              nq=3, nbatch=8, batch=None, extra_q=()):
        """-s, -q KEY and -q - on both maps (postmap) and on P's map (cmap)."""
        m = "lmdb:" + name
        base = ["-c", conf, *flags]
        cmds = [mk_cmd(self.case, base + ["-s", m], kind="s", conf=conf)]
        qkeys = list(extra_q) + th.query_keys(r, keys, nq)
        for k in qkeys:
            cmds.append(mk_cmd(self.case, base + ["-q", k, m], kind="q", conf=conf))
        stdin = batch if batch is not None else lmdb_batch(r, th.query_keys(r, keys, nbatch))
        cmds.append(mk_cmd(self.case, base + ["-q", "-", m], stdin=stdin, kind="qb", conf=conf))
        for cmd in cmds:
            self.read_one(cmd)

    def read_one(self, cmd):
        e = self.env
        pp = e.run("postmap", "P", cmd.args, cmd.stdin)
        pc = e.run("postmap", "C", cmd.args, cmd.stdin)
        cp = e.run("cmap", "P", cmd.args, cmd.stdin)
        self.pm_stderr.append(pp.stderr)
        k = "s" if cmd.kind == "s" else "x"
        pr, no, _ = compare(k, cmd, pp, pc, b"postmap", b"postmap")
        self.add("pm-reads", "postmap on P's map (postmap's)", "postmap on C's map (cmap's)",
                 cmd, pr, no)
        pr, no, _ = compare(k, cmd, pp, cp, b"postmap", b"cmap")
        self.add("cmap-reads", "postmap on P's map", "cmap on P's map", cmd, pr, no)

    def state(self, name: str, conf: str, step: str):
        """postmap -s of the map in both directories."""
        cmd = mk_cmd(self.case, ["-c", conf, "-s", "lmdb:" + name], kind="s", conf=conf)
        pp = self.env.run("postmap", "P", cmd.args)
        pc = self.env.run("postmap", "C", cmd.args)
        pr, no, _ = compare("s", cmd, pp, pc, b"postmap", b"postmap")
        self.add("state", f"postmap -s in P after {step}", f"postmap -s in C after {step}",
                 cmd, pr, no)

    # -- writing ---------------------------------------------------------

    def postmap_both(self, args: list, stdin: bytes = b""):
        """Prepares identical maps in P and C with real postmap."""
        for side in ("P", "C"):
            res = self.env.run("postmap", side, args, stdin)
            if res.rc != 0 and not PM_BADVAL_RAW.search(res.stderr):
                raise RuntimeError(f"[{self.case}] setup postmap {args} failed in {side}: "
                                   f"{res.stderr[:300]!r}")

    def write_step(self, label: str, cmd, names: list, pre: dict):
        """Runs a map-changing command with postmap in P and cmap in C and
        compares the results and the stored records of every map in `names`.
        `pre`: name -> (records in P, records in C) before. Returns the new
        records of both sides."""
        e = self.env
        pm = e.run("postmap", "P", cmd.args, cmd.stdin)
        cm = e.run("cmap", "C", cmd.args, cmd.stdin)
        self.pm_stderr.append(pm.stderr)
        problems, notes, over = compare("x", cmd, pm, cm, b"postmap", b"cmap")
        if over:
            self.events.add("oversize")
        elif PM_BADVAL_RAW.search(pm.stderr):
            self.events.add("oversize-unmapped")
        both_fatal = (pm.rc == cm.rc == 1 and b"fatal:" in pm.stderr
                      and b"fatal:" in cm.stderr)
        post = {}
        for n in names:
            rp, rc = e.records("P", n), e.records("C", n)
            post[n] = (rp, rc)
            prep, prec = pre.get(n, (None, None))
            if both_fatal and label != "build":
                # Documented: cmap applies -i and -d in one transaction per
                # table, so a fatal error leaves the table as it was; postmap
                # commits record by record and keeps what came before.
                if rc != prec:
                    problems.append(("records", f"{n}.lmdb in C after the failed "
                                     f"{label} (want: unchanged)", show_records(prec),
                                     show_records(rc)))
            elif over and label == "build":
                # Documented: cmap creates nothing; postmap aborts its bulk
                # transaction (an empty map when there was none).
                want_p = prep if prep is not None else []
                if rp != want_p:
                    problems.append(("records", f"{n}.lmdb in P after the failed build "
                                     "(want: the previous contents, or an empty map)",
                                     show_records(want_p), show_records(rp)))
                if rc != prec:
                    problems.append(("records", f"{n}.lmdb in C after the failed build "
                                     "(want: unchanged)", show_records(prec),
                                     show_records(rc)))
            elif rp != rc:
                problems.append(("records", f"stored records of {n}.lmdb (mdb_dump)",
                                 show_records(rp), show_records(rc)))
            if isinstance(rp, list) and rp:
                ks = {k for k, _ in rp}
                nul = sum(1 for k in ks if k.endswith(b"\0"))
                if 0 < nul < len(ks):
                    self.events.add("mixed-nul-table")
        self.add(label, "postmap in P", "cmap in C", cmd, problems, notes, over)
        self.out[-1].both_fatal = both_fatal
        return post


# ---------------------------------------------------------------------------
# Build cases
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class BuildCase:
    name: str                    # case name
    src_name: str                # source / map name
    source: bytes
    keys: list                   # keys for queries
    flagsets: list               # [(conf, [flags])]
    pre: object = None           # (source bytes, conf, flags): map that exists before
    nq: int = 3
    nbatch: int = 8
    extra_q: tuple = ()
    reader_variants: bool = True
    batch: bytes = None          # fixed stdin for -q - (default: random keys)
    readers: list = None         # reader flag lists instead of the build's
    weight: int = 1              # scheduling hint (heavy cases first)
    seed: str = ""


READ_FLAGS = set("fuFNn")


def reader_flags(flags: list) -> list:
    out = []
    for f in flags:
        if f.startswith("-") and len(f) > 1:
            out += ["-" + c for c in f[1:] if c in READ_FLAGS]
    return out


def run_build_case(env: Env, bc: BuildCase) -> Ctx:
    ctx = Ctx(env, bc.name)
    r = random.Random(f"{bc.seed}:run:{bc.name}")
    name = bc.src_name
    state = (None, None)
    if bc.pre is not None:
        pre_src, pre_conf, pre_flags = bc.pre
        env.write_source(name, pre_src)
        ctx.postmap_both(["-c", pre_conf, *pre_flags, "lmdb:" + name])
        state = (env.records("P", name), env.records("C", name))
        if state[0] != state[1]:
            raise RuntimeError(f"[{bc.name}] postmap built different maps in P and C")
    env.write_source(name, bc.source)
    for conf, flags in bc.flagsets:
        srcs = {name: bc.source}
        cmd = mk_cmd(bc.name, ["-c", conf, *flags, "lmdb:" + name], sources=srcs, conf=conf)
        post = ctx.write_step("build", cmd, [name], {name: state})
        state = post[name]
        rp, rc = state
        if rp is None or rc is None or isinstance(rp, str) or isinstance(rc, str):
            continue       # nothing (or nothing alike) to read
        if ctx.out[-1].oversize and rp != rc:
            continue       # the documented empty-map-vs-no-file difference
        rflags = reader_flags(flags)
        variants = [rflags] if bc.readers is None else [rflags + x for x in bc.readers]
        if bc.reader_variants and r.random() < 0.35:
            nul = [f for f in rflags if f not in ("-n", "-N")]
            if nul != rflags:
                variants.append(nul)
            else:
                variants.append(nul + [r.choice(["-n", "-N"])])
        if bc.reader_variants and "-F" in rflags and r.random() < 0.3:
            variants.append([f for f in rflags if f != "-F"])
        if bc.reader_variants and "-F" not in rflags and r.random() < 0.025:
            variants.append(rflags + ["-F"])      # values that are not base64
        for v in variants:
            ctx.reads(name, conf, v, bc.keys, r, nq=bc.nq, nbatch=bc.nbatch,
                      extra_q=bc.extra_q, batch=bc.batch)
    return ctx


FLAGSETS = [  # (weight, conf, flags)
    (5, CONF, []), (2, CONF, ["-f"]), (2, CONF, ["-u"]), (2, CONF, ["-r"]),
    (2, CONF, ["-w"]), (1, CONF, ["-r", "-w"]), (1, CONF, ["-wr"]), (1, CONF, ["-rw"]),
    (1, CONF, ["-f", "-u"]), (1, CONF, ["-f", "-r"]), (1, CONF, ["-u", "-w"]),
    (3, CONF, ["-N"]), (3, CONF, ["-n"]), (1, CONF, ["-n", "-N"]), (1, CONF, ["-N", "-n"]),
    (1, CONF, ["-nr"]), (1, CONF, ["-n", "-f"]), (1, CONF, ["-N", "-w"]),
    (1, CONF, ["-n", "-u"]),
    (4, CONF_OFF, []), (1, CONF_OFF, ["-f"]), (1, CONF_OFF, ["-r"]), (1, CONF_OFF, ["-w"]),
    (1, CONF_OFF, ["-n"]), (1, CONF_OFF, ["-N"]), (1, CONF_OFF, ["-u"]),
]


SAMPLE_FLAGSETS = [(CONF, []), (CONF, ["-f"]), (CONF, ["-u"]), (CONF, ["-r"]), (CONF, ["-w"]),
                   (CONF, ["-N"]), (CONF, ["-n"]), (CONF, ["-n", "-f"]), (CONF_OFF, []),
                   (CONF_OFF, ["-n"])]


def pick_flagsets(r: random.Random, n: int) -> list:
    chosen = []
    total = sum(w for w, _, _ in FLAGSETS)
    while len(chosen) < n:
        x = r.uniform(0, total)
        for w, conf, flags in FLAGSETS:
            x -= w
            if x <= 0:
                break
        if (conf, flags) not in chosen:
            chosen.append((conf, flags))
    return chosen


def long_key(r: random.Random):
    """A key near lmdb's limit: (raw key, short description)."""
    letters = th.ASCII_LETTERS + "0123456789.-_@"

    def word(n):
        return "".join(r.choice(letters) for _ in range(n)).encode()
    kind = r.choice(["509", "510", "510", "510up", "511", "511", "512", "700",
                     "I-dot", "fi-lig", "sharp-s", "dup510"])
    if kind == "509":
        return word(509), kind
    if kind in ("510", "dup510"):
        return word(510), kind
    if kind == "510up":
        return word(510).upper(), kind
    if kind == "511":
        return word(511), kind
    if kind == "512":
        return word(512), kind
    if kind == "700":
        return word(700), kind
    if kind == "I-dot":    # 510 raw bytes; folds to 511 (U+0130 -> i + U+0307)
        return word(508) + "İ".encode(), kind
    if kind == "fi-lig":   # 511 raw bytes; folds to 510 (U+FB01 -> fi)
        return word(508) + "ﬁ".encode(), kind
    return word(509) + "ß".encode(), kind   # 511 raw; "ss" is the same size


def insert_lines(r: random.Random, src: bytes, new_lines: list) -> bytes:
    for line in new_lines:
        starts = [0] + [i + 1 for i, c in enumerate(src) if c == 0x0A]
        pos = r.choice(starts)
        if pos == len(src) and src and not src.endswith(b"\n"):
            src += b"\n"
            pos = len(src)
        src = src[:pos] + line + b"\n" + src[pos:]
    return src


def sample_cases(seed: int) -> list:
    cases = []
    all_flagsets = SAMPLE_FLAGSETS
    for s in th.SAMPLES:
        src = (DATA / s).read_bytes()
        keys = th.crude_keys(src) + [b"Key1", b'"quoted key"', b"quoted key", b"GAMMA",
                                     b"upper", b"UPPER", "straße".encode(), b"STRASSE",
                                     b"[mail.isp.example]:587", b"dup", b"DUP", b"k5"]
        if s == "b64files":
            flagsets = [(c, ["-F", *f]) for c, f in all_flagsets] + all_flagsets[:3]
        else:
            flagsets = all_flagsets
        cases.append(BuildCase(f"sample/{s}", s, src, keys, flagsets, nq=3, nbatch=10,
                               seed=str(seed)))
    return cases


def generated_cases(seed: int, count: int) -> list:
    cases = []
    for i in range(count):
        r = random.Random(f"{seed}:lmdb-gen:{i}")
        if i < len(th.FIXED_THEMES):
            theme = th.FIXED_THEMES[i]
        else:
            total = sum(w for _, w in th.RANDOM_THEMES)
            x = r.uniform(0, total)
            for theme, w in th.RANDOM_THEMES:
                x -= w
                if x <= 0:
                    break
        src, keys = th.generate_source(r, theme)
        keys = list(keys)
        tag = theme
        # Keys at lmdb's 511-byte limit, mixed into some generated sources.
        if theme != "empty" and (i % 16 == 4 or r.random() < 0.03):
            extra = []
            for _ in range(r.randint(1, 2)):
                k, kind = long_key(r)
                keys.append(k)
                extra.append(k + b" long-" + kind.encode())
                if kind == "dup510":
                    extra.append(k.upper() + b" long-dup-upper")
            src = insert_lines(r, src, extra)
            tag += "+longkey"
        name = f"g{i:04d}"
        flagsets = pick_flagsets(r, r.choice([2, 2, 3]))
        if theme == "F":
            flagsets = [(c, ["-F", *f]) for c, f in flagsets]
            if r.random() < 0.5:
                flagsets.append((CONF, []))
        if theme.startswith("huge"):
            flagsets = flagsets[:2]
        pre = None
        if r.random() < 0.2:
            psrc, _ = th.generate_source(r, r.choice(["mix", "dups", "unicode"]))
            pre = (psrc, CONF, r.choice([[], [], ["-n"], ["-f"]]))
            tag += "+pre"
        cases.append(BuildCase(f"{name}/{tag}", name, src, keys, flagsets, pre=pre,
                               nq=2, seed=str(seed)))
    return cases


def words(r: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += "".join(r.choice(th.WORD_CHARS) for _ in range(r.randint(1, 12))).encode() + b" "
    return bytes(out[:size]).rstrip(b" ") + b"x"


def fixed_build_cases(seed: int) -> list:
    cases = []
    r = random.Random(f"{seed}:lmdb-fixed")
    L = th.ASCII_LETTERS

    def w(n, upper=False):
        s = "".join(r.choice(L) for _ in range(n)).encode()
        return s.upper() if upper else s
    k509, k510, k511, k512, k700 = w(509), w(510), w(511), w(512), w(700)
    kdot = w(508) + "İ".encode()         # 510 raw, 511 folded
    klig = w(508) + "ﬁ".encode()         # 511 raw, 510 folded
    all_long = [k509, k510, k511, k512, k700, kdot, klig, k510.upper(), k511[:510] + b"\xff"]
    # (postmap sleeps one second before it exits on a fatal error: keep the
    # number of failing builds moderate.)
    limit_flags = [(CONF, []), (CONF, ["-n"]), (CONF_OFF, []), (CONF, ["-N", "-f"]),
                   (CONF, ["-n", "-r"])]
    fold_flags = [(CONF, []), (CONF, ["-u"]), (CONF_OFF, ["-n"]), (CONF, ["-n"]),
                  (CONF_OFF, [])]
    with_pre = {"k510", "k511", "k511first", "k511warn", "k700", "kdot"}
    long_sources = {
        "k509": b"a 1\n" + k509 + b" v509\nb 2\n",
        "k510": b"a 1\n" + k510 + b" v510\nb 2\n",
        "k510up": b"a 1\n" + k510.upper() + b" v510\n" + k510 + b" again\nb 2\n",
        "k511": b"a 1\n" + k511 + b" v511\nb 2\n",
        "k511first": k511 + b" v511\na 1\n",
        "k511last": b"a 1\nDup x\ndup y\n" + k511 + b" v511",
        "k512": b"a 1\n" + k512 + b" v512\nb 2\n",
        "k700": b"a 1\n" + k700 + b" v700\nb 2\n",
        "kdot": b"a 1\n" + kdot + b" vdot\nb 2\n",
        "klig": b"a 1\n" + klig + b" vlig\nb 2\n",
        "k511cont": b"a 1\n" + k511 + b"\n  continued-value\nb 2\n",
        "k511warn": (b"a 1\nnovalue\nbad\xff x\nDUP 1\ndup 2\n" + k511 + b" v\n"
                     b"after\nDUP 3\nc: z\n"),
        "k510dup": b"a 1\n" + k510 + b" first\n" + k510.upper() + b" second\n",
    }
    for nm, src in long_sources.items():
        for pre_map in (False, True) if nm in with_pre else (False,):
            pre = (b"old1 o1\nold2 o2\n", CONF, []) if pre_map else None
            cases.append(BuildCase(f"limit/{nm}{'+pre' if pre_map else ''}", f"L{nm}"
                                   + ("p" if pre_map else ""), src,
                                   [b"a", b"b", b"old1"] + all_long,
                                   fold_flags if nm in ("kdot", "klig") else limit_flags,
                                   pre=pre, extra_q=(k510, k511), nq=2, seed=str(seed)))
    # Values of 1 MiB.
    big = words(r, MIB)
    big2 = words(r, MIB + 17)
    cases.append(BuildCase("mib/value", "Mbig", b"small s\nbig " + big + b"\nafter a\n",
                           [b"big", b"BIG", b"small", b"after"],
                           [(CONF, []), (CONF, ["-n"])], nq=2, nbatch=4,
                           extra_q=(b"big",), reader_variants=False, weight=5, seed=str(seed)))
    cases.append(BuildCase("mib/dup-r", "Mdup", b"big " + big + b"\nBIG " + big2 + b"\nz 1\n",
                           [b"big", b"z"], [(CONF, ["-r"]), (CONF, [])], nq=1, nbatch=3,
                           extra_q=(b"big",), reader_variants=False, weight=5, seed=str(seed)))
    cases.append(BuildCase("mib/F", "Mfile", b"bigf " + BIG_FILE + b"\ntwo vf_hello.txt, "
                           + BIG_FILE + b"\nsmall vf_world.txt\n",
                           [b"bigf", b"two", b"small"],
                           [(CONF, ["-F"]), (CONF, ["-F", "-n"])], nq=2, nbatch=3,
                           extra_q=(b"bigf",), reader_variants=False, weight=5, seed=str(seed)))
    # ~20,000 records with lmdb_map_size = 1 MiB: the bulk build must grow.
    rows = []
    gkeys = []
    for i in range(20000):
        # Lower case: postmap 3.7.11 stops folding keys in UTF-8 mode after
        # it grows the map (MDB_MAP_FULL); cmap folds (docs/atomic-rebuilds.md).
        k = f"rec{i:05d}.{r.choice(['example.com', 'example.org', 'mail.test'])}".encode()
        gkeys.append(k)
        rows.append(k + b" " + words(r, r.randint(40, 90)))
    grow_src = b"\n".join(rows) + b"\n" + gkeys[5] + b" duplicate\n"
    cases.append(BuildCase("grow/20000", "Grow", grow_src, gkeys[:200] + [b"nosuch"],
                           [(CONF_SMALL, []), (CONF_SMALL, ["-u"]), (CONF_SMALL, ["-n", "-r"])],
                           nq=4, nbatch=60,
                           reader_variants=False, weight=20, seed=str(seed)))
    # Values that are not base64, read with -F: '=' is allowed only as the
    # third or fourth character of a group of four.
    b64 = (b"k1 =Z>P\nk2 ====\nk3 =abc\nk4 aGVsbG8=\nk5 aGVs=xyz\nk6 =Z>Pt++O\n"
           b"k7 aGVsbG8=extra\nk8 aA==\nk9 aA=a\nk10 aGVsbG8K\nk11 aGV\nk12 a===\n")
    cases.append(BuildCase("named/base64-edges", "Nb64", b64,
                           [b"k%d" % i for i in range(1, 13)], [(CONF, []), (CONF, ["-n"])],
                           nq=2, extra_q=(b"k1", b"k5", b"k9", b"k12"),
                           batch=b"k4\nk9\nk8\nk10\n", reader_variants=False,
                           readers=[["-F"]], seed=str(seed)))
    # An empty line among the -q - keys: postmap fails (MDB_BAD_VALSIZE) as
    # soon as it probes an empty key without the NUL.
    for nm, batch in (("empty-line", b"a\n\nb\n"), ("empty-line-first", b"\na\n"),
                      ("empty-line-after-hit", b"B\nzz\n\nA\n")):
        cases.append(BuildCase(f"named/{nm}", "N" + nm.replace("-", ""), b"a 1\nb 2\n",
                               [b"a", b"b"], [(CONF, []), (CONF, ["-n"]), (CONF, ["-N"])],
                               nq=1, batch=batch, reader_variants=False, seed=str(seed)))
    # E4 duplicates and E5 NUL rules on small named sources.
    cases.append(BuildCase("named/dups-case", "Ndup",
                           "dup first\nother x\nDUP second\ndup third\nStraße a\nSTRASSE b\n"
                           "ﬁle c\nFILE d\n".encode(),
                           [b"dup", b"DUP", b"strasse", "straße".encode(), b"file"],
                           [(CONF, []), (CONF, ["-f"]), (CONF, ["-r"]), (CONF, ["-w"]),
                            (CONF, ["-rw"]), (CONF, ["-wr"]), (CONF_OFF, []), (CONF, ["-u"]),
                            (CONF, ["-n"]), (CONF, ["-N", "-f"])], seed=str(seed)))
    return cases


# ---------------------------------------------------------------------------
# -i / -d sequences
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class SeqCase:
    name: str
    maps: dict                   # map name -> initial source
    init: tuple                  # (conf, flags) for the initial postmap builds
    steps: list = None           # fixed steps, or None for random ones
    nsteps: int = 6
    weight: int = 2
    seed: str = ""


def seq_keys(ctx: Ctx, name: str, raw: list) -> list:
    recs = ctx.env.records("P", name)
    stored = []
    if isinstance(recs, list):
        stored = [k[:-1] if k.endswith(b"\0") else k for k, _ in recs]
    return [k for k in stored + raw if k and b"\0" not in k] or [b"nothing"]


def random_step(r: random.Random, g: th.Gen, names: list, keys: list, conf: str,
                allow_big: bool) -> tuple:
    """(kind, args, stdin, maps touched)."""
    main = names[0]
    x = r.random()
    if x < 0.42 or allow_big:
        flags = r.sample(["-r", "-w", "-f", "-u", "-n", "-N", "-rw", "-wr"],
                         r.choice([0, 0, 1, 1, 2]))
        lines = []
        for _ in range(r.randint(2, 12)):
            y = r.random()
            if y < 0.35 and keys:
                lines.append(g.variant(r.choice(keys)) + g.sep() + g.value())
            elif y < 0.75:
                k = g.key()
                g.add_key(k)
                lines.append(k + g.sep() + g.value())
            else:
                before = len(g.lines)
                g.pick([(4, g.entry), (2, g.dup), (2, g.novalue), (2, g.continued),
                        (1, g.invalid_line), (1, g.unicode_group), (1, g.nul_line),
                        (1, g.alias), (1, lambda: g.lines.append(g.ignorable())),
                        (1, g.first_ws)])
                lines += g.lines[before:]
        if r.random() < 0.06:
            k, _ = long_key(r)
            lines.insert(r.randrange(len(lines) + 1), k + b" long")
        if allow_big:
            lines.append(b"bigvalue " + words(r, MIB))
        if r.random() < 0.06 and not allow_big:
            flags.append("-F")
            lines = [g.name() + b" " + r.choice([b"vf_hello.txt", b"vf_world.txt, vf_hello.txt",
                                                  b"vf_missing.txt", b"vf_empty.txt",
                                                  b"b64_part1.txt"]) for _ in range(3)]
        stdin = th.assemble(r, lines, r.choice(["lf", "lf", "crlf", "mixed"]), r.random() < 0.9)
        maps = [main] if r.random() < 0.9 else names[:2]
        return "i", ["-c", conf, *flags, "-i", *["lmdb:" + m for m in maps]], stdin, maps
    if x < 0.68:
        flags = r.sample(["-f", "-n", "-N", "-u"], r.choice([0, 0, 0, 1]))
        y = r.random()
        if y < 0.45:
            k = r.choice(keys)
        elif y < 0.75:
            k = g.variant(r.choice(keys))
        elif y < 0.9:
            k = r.choice([b"nosuchkey", b"NOSUCH", b"k1 ", b"bad\xffkey"])
        else:
            k = long_key(r)[0]
        if not k or k == b"-":
            k = b"nosuchkey"
        maps = r.choice([[main], [main], names, list(reversed(names))])
        return "d", ["-c", conf, *flags, "-d", k, *["lmdb:" + m for m in maps]], b"", maps
    flags = r.sample(["-f", "-n", "-N", "-u"], r.choice([0, 0, 0, 1]))
    dk = []
    for _ in range(r.randint(1, 7)):
        y = r.random()
        if y < 0.5:
            dk.append(r.choice(keys))
        elif y < 0.75:
            dk.append(g.variant(r.choice(keys)))
        else:
            dk.append(r.choice([b"nosuchkey", b"", b"NOSUCH", b"a b"]))
    if r.random() < 0.3 and dk:
        dk.append(dk[0])                 # the same key twice
    if r.random() < 0.15 and dk:
        dk[r.randrange(len(dk))] += b"\r"
    stdin = b"\n".join(dk) + (b"\n" if r.random() < 0.8 else b"")
    maps = r.choice([[main], [main], names, list(reversed(names))])
    return "dm", ["-c", conf, *flags, "-d", "-", *["lmdb:" + m for m in maps]], stdin, maps


def run_seq_case(env: Env, sc: SeqCase) -> Ctx:
    ctx = Ctx(env, sc.name)
    r = random.Random(f"{sc.seed}:run:{sc.name}")
    g = th.Gen(r, "mix")
    conf, iflags = sc.init
    names = list(sc.maps)
    raw = []
    for n, src in sc.maps.items():
        env.write_source(n, src)
        ctx.postmap_both(["-c", conf, *iflags, "lmdb:" + n])
        raw += th.crude_keys(src)
    state = {n: (env.records("P", n), env.records("C", n)) for n in names}
    for n in names:
        if state[n][0] != state[n][1]:
            raise RuntimeError(f"[{sc.name}] postmap built different maps in P and C")
    steps = sc.steps
    if steps is None:
        steps = []
        big_at = r.randrange(sc.nsteps) if "+mib" in sc.name else None
        mutations = 0
        while len(steps) < sc.nsteps or mutations < 5:
            if len(steps) > 0 and r.random() < 0.2:
                steps.append(("q",))
                continue
            big = big_at is not None and len(steps) >= big_at
            if big:
                big_at = None       # one -i with a 1 MiB value
            steps.append(("rand", big))
            mutations += 1
    for i, step in enumerate(steps):
        keys = seq_keys(ctx, names[0], raw)
        if step[0] == "q":
            qflags = step[1] if len(step) > 1 else r.choice([[], [], ["-n"], ["-N"], ["-f"]])
            batch = step[2] if len(step) > 2 else th.batch_stdin(r, th.query_keys(r, keys, 8))
            m = names[0] if len(step) < 4 else step[3]
            ctx.read_one(mk_cmd(sc.name, ["-c", conf, *qflags, "-q", "-", "lmdb:" + m],
                                stdin=batch, kind="qb", conf=conf))
            if len(step) < 2:
                k = r.choice(keys)
                ctx.read_one(mk_cmd(sc.name, ["-c", conf, *qflags, "-q", k, "lmdb:" + m],
                                    kind="q", conf=conf))
            continue
        if step[0] == "rand":
            kind, args, stdin, maps = random_step(r, g, names, keys, conf, step[1])
        else:
            kind, args, stdin, maps = step
        if kind == "i":
            srcs = {"stdin": stdin}
            raw += th.crude_keys(stdin)
        else:
            srcs = {}
        cmd = mk_cmd(sc.name, args, stdin=stdin, sources=srcs, conf=conf)
        post = ctx.write_step(f"step {i + 1}", cmd, names, state)
        step_out = ctx.out[-1]
        state.update(post)
        # After a fatal -i/-d the tables differ by design (write_step checked
        # that cmap's is unchanged); they are re-synced below.
        if not step_out.both_fatal:
            for n in names:
                ctx.state(n, conf, f"step {i + 1}")
        # After a difference, continue from postmap's result in both
        # directories, so that one difference is reported once and the later
        # steps are compared from equal starting points again.
        for n in names:
            rp, rc = state[n]
            if rp != rc:
                src = env.path("P", n + ".lmdb")
                dst = env.path("C", n + ".lmdb")
                if os.path.exists(src):
                    shutil.copyfile(src, dst)
                elif os.path.exists(dst):
                    os.unlink(dst)
                state[n] = (rp, env.records("C", n))
                step_out.notes.append(f"{n}.lmdb differed after step {i + 1}; "
                                         "C's copy was replaced by P's before the next step")
    return ctx


def seq_cases(seed: int, count: int) -> list:
    cases = []
    for i in range(count):
        r = random.Random(f"{seed}:lmdb-seq:{i}")
        a, _ = th.generate_source(r, r.choice(["mix", "mix", "dups", "unicode", "quotes"]))
        b, _ = th.generate_source(r, "mix")
        x = r.random()
        init = r.choice([[], [], [], ["-n"], ["-n"], ["-N"], ["-f"], ["-n", "-f"]])
        conf = CONF_TINY if i % 8 == 5 else (CONF_OFF if x < 0.2 else CONF)
        tag = "nul" if "-n" in init else "plain"
        if i in (7, 23):
            tag += "+mib"
        if conf == CONF_TINY:
            tag += "+tiny"
        cases.append(SeqCase(f"seq{i:03d}/{tag}", {f"s{i:03d}a": a, f"s{i:03d}b": b},
                             (conf, init), nsteps=r.randint(6, 9), seed=str(seed)))
    # E5 by hand: a -n table, -i without -n, then order-dependent lookups
    # and deletions.
    mixed = (b"k1 v1\nk2 v2\nK5 v5\n")
    other = b"k1 o1\nk3 o3\n"
    q = lambda stdin, flags=(), m="mixA": ("q", list(flags), stdin, m)
    steps = [
        ("i", ["-c", CONF, "-i", "lmdb:mixA"], b"k3 v3\nk4 v4\nk1 dup\n", ["mixA"]),
        q(b"k1\nk3\nk2\n"), q(b"k3\nk1\nk2\n"), q(b"k2\nk4\nk1\n", ["-n"]),
        q(b"k3\nk1\n", ["-N"]), q(b"K5\nk3\n"), q(b"k3\nK5\n"),
        ("dm", ["-c", CONF, "-d", "-", "lmdb:mixA", "lmdb:mixB"], b"k3\nk1\nk2\n",
         ["mixA", "mixB"]),
        q(b"k1\nk2\nk3\nk4\n"),
        ("dm", ["-c", CONF, "-d", "-", "lmdb:mixA"], b"k5\nk4\n", ["mixA"]),
        ("d", ["-c", CONF, "-d", "K1", "lmdb:mixA", "lmdb:mixB"], b"", ["mixA", "mixB"]),
        ("i", ["-c", CONF, "-n", "-i", "lmdb:mixA"], b"k6 v6\nk3 again\n", ["mixA"]),
        q(b"k6\nk3\nk4\n"), q(b"k4\nk6\nk3\n"),
        ("d", ["-c", CONF, "-N", "-d", "k6", "lmdb:mixA"], b"", ["mixA"]),
        ("d", ["-c", CONF, "-d", "k6", "lmdb:mixA"], b"", ["mixA"]),
    ]
    cases.append(SeqCase("seq-E5/mixed-nul", {"mixA": mixed, "mixB": other}, (CONF, ["-n"]),
                         steps=steps, seed=str(seed)))
    # The samples `mixed` and `nonul`, as in spec E5.
    steps = [
        ("i", ["-c", CONF, "-i", "lmdb:E5mixed"], b"k3 v3\n", ["E5mixed"]),
        q(b"k1\nk3\nk2\n", m="E5mixed"), q(b"k3\nk1\nk2\n", m="E5mixed"),
        ("dm", ["-c", CONF, "-d", "-", "lmdb:E5mixed", "lmdb:E5nonul"], b"k3\nk2\n",
         ["E5mixed", "E5nonul"]),
        ("i", ["-c", CONF, "-N", "-i", "lmdb:E5nonul"], b"k1 again\nk9 v9\n", ["E5nonul"]),
        q(b"k9\nk1\n", m="E5nonul"), q(b"k1\nk9\n", m="E5nonul"),
        ("dm", ["-c", CONF, "-d", "-", "lmdb:E5nonul"], b"k9\nk1\n", ["E5nonul"]),
    ]
    cases.append(SeqCase("seq-E5/samples", {"E5mixed": (DATA / "mixed").read_bytes(),
                                            "E5nonul": (DATA / "nonul").read_bytes()},
                         (CONF, ["-n"]), steps=steps, seed=str(seed)))
    # Keys that are not valid UTF-8, deleted in and out of UTF-8 mode.
    steps = [
        ("d", ["-c", CONF, "-d", b"bad\xffkey", "lmdb:u8A"], b"", ["u8A"]),
        ("dm", ["-c", CONF, "-d", "-", "lmdb:u8A"], b"bad\xffkey\n", ["u8A"]),
        ("dm", ["-c", CONF, "-d", "-", "lmdb:u8A"], b"bad\xffkey\nk1\n", ["u8A"]),
        ("d", ["-c", CONF, "-u", "-d", b"bad\xffkey", "lmdb:u8A"], b"", ["u8A"]),
        ("d", ["-c", CONF_OFF, "-d", b"\xc3\x84\xc3\x96\xc3\x9c", "lmdb:u8A"], b"", ["u8A"]),
        ("d", ["-c", CONF, "-d", "ÄÖÜ", "lmdb:u8A"], b"", ["u8A"]),
        ("i", ["-c", CONF, "-i", "lmdb:u8A"], b"new\xfe v\nok v\n", ["u8A"]),
    ]
    cases.append(SeqCase("seq-utf8/invalid-keys",
                         {"u8A": b"k1 v1\nk2 v2\nbad\xffkey x\n" + "ÄÖÜ u\n".encode()},
                         (CONF, ["-u"]), steps=steps, seed=str(seed)))
    # Oversize keys and a 1 MiB value through -i.
    k511 = b"q" * 511
    steps = [
        ("i", ["-c", CONF, "-i", "lmdb:ovA"], b"n1 v1\n" + b"p" * 510 + b" fits\n" + k511
         + b" toolong\nn2 v2\n", ["ovA"]),
        ("i", ["-c", CONF, "-n", "-i", "lmdb:ovA"], k511 + b" fits-without-nul\n", ["ovA"]),
        ("i", ["-c", CONF, "-i", "lmdb:ovA"], b"n3 v3\n" + b"r" * 700 + b" x\n", ["ovA"]),
        ("i", ["-c", CONF, "-r", "-i", "lmdb:ovA"], b"n1 " + words(random.Random(5), MIB)
         + b"\n", ["ovA"]),
        ("d", ["-c", CONF, "-d", "P" * 510, "lmdb:ovA"], b"", ["ovA"]),
        ("d", ["-c", CONF, "-d", k511.decode(), "lmdb:ovA"], b"", ["ovA"]),
        ("d", ["-c", CONF, "-n", "-d", k511.decode(), "lmdb:ovA"], b"", ["ovA"]),
        ("dm", ["-c", CONF, "-d", "-", "lmdb:ovA"], b"n1\n" + k511 + b"\nn2\n", ["ovA"]),
    ]
    cases.append(SeqCase("seq-limit/oversize", {"ovA": b"base 1\n"}, (CONF, []),
                         steps=steps, weight=4, seed=str(seed)))
    return cases


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

COVERAGE = [(label, re.compile(rx)) for label, rx in [
    ("duplicate", rb"lmdb:\S+: duplicate entry"),
    ("MDB_BAD_VALSIZE", rb"MDB_BAD_VALSIZE"),
    ("non-UTF-8 input", rb"non-UTF-8 input"),
    ("expected format", rb"expected format: key whitespace value"),
    ("-F open error", rb": open .*: skipping this entry"),
    ("empty result", rb"empty string result is not allowed"),
    ("malformed BASE64", rb"malformed BASE64"),
    ("non-UTF-8 query key", rb"non-UTF-8 key"),
]]


def setup(env: Env):
    os.makedirs(env.scratch)
    for side in ("P", "C"):
        d = env.dirs[side]
        os.makedirs(d)
        for conf in (CONF, CONF_OFF):
            text = (DATA / conf / "main.cf").read_bytes()
            assert b"compatibility_level = 3.6" in text, conf
            assert (b"smtputf8_enable = no" in text) == (conf == CONF_OFF), conf
            th.write_file(d, f"{conf}/main.cf", text)
        base = (DATA / CONF / "main.cf").read_bytes()
        th.write_file(d, f"{CONF_SMALL}/main.cf", base + b"\nlmdb_map_size = 1048576\n")
        th.write_file(d, f"{CONF_TINY}/main.cf", base + b"\nlmdb_map_size = 32768\n")
        for name, data in th.VALUE_FILES.items():
            th.write_file(d, name, data)
        os.mkdir(os.path.join(os.fsencode(d), th.VALUE_DIR))
        for name in th.SAMPLE_VALUE_FILES:
            th.write_file(d, name, (DATA / name).read_bytes())
        th.write_file(d, BIG_FILE, random.Random(7).randbytes(MIB))
        old = time.time() - 3600
        for root, dirs, files in os.walk(d):
            for n in files + dirs:
                os.utime(os.path.join(root, n), (old, old))


def format_failure(o: Outcome) -> str:
    out = [f"FAIL [{o.case}] {o.label}: A = {o.a_desc}, B = {o.b_desc}",
           "  $ " + th.command_line("PROG", o.cmd)]
    for kind, what, a, b in o.problems:
        if a is None:
            out.append(f"  {what}")
            continue
        out.append(f"  {what}: --- A +++ B")
        diff = list(difflib.unified_diff([th.show(x) for x in a], [th.show(x) for x in b],
                                         lineterm="", n=1))[2:]
        for d in diff[:24]:
            out.append("    " + d)
        if len(diff) > 24:
            out.append(f"    ... ({len(diff) - 24} more diff lines)")
    for n in o.notes:
        out.append(f"  note: {n}")
    for name, content in o.cmd.sources.items():
        if len(content) <= 600:
            out.append(f"  source {name} ({len(content)} bytes): {th.show(content, 10**6)}")
        else:
            out.append(f"  source {name} ({len(content)} bytes): {th.show(content[:300])} ...")
    return "\n".join(out)


def save_failures(dest: str, first_of_groups: list):
    os.makedirs(dest, exist_ok=True)
    for i, o in enumerate(first_of_groups, 1):
        d = os.path.join(dest, f"{i:03d}")
        os.makedirs(d, exist_ok=True)
        for name, data in o.cmd.sources.items():
            with open(os.path.join(d, f"source.{name}"), "wb") as f:
                f.write(data)
        with open(os.path.join(d, "stdin"), "wb") as f:
            f.write(o.cmd.stdin)
        with open(os.path.join(d, "failure.txt"), "w") as f:
            f.write(format_failure(o) + "\n")
            f.write("argv: " + repr(o.cmd.args) + "\n")


def signature(o: Outcome) -> str:
    kinds = ",".join(sorted({p[0] for p in o.problems}))
    cmd = dataclasses.replace(o.cmd, kind=o.cmd.kind if o.cmd.kind in ("s", "q", "qb") else "err")
    return f"{o.label.split()[0]} [{kinds}] " + th.signature(cmd, o.problems)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cmap", required=True, help="path to the built cmap")
    ap.add_argument("--postmap", default=POSTMAP, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--count", type=int, default=320, help="generated sources (default 320)")
    ap.add_argument("--sequences", type=int, default=48,
                    help="random -i/-d sequences (default 48, plus 3 fixed ones)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="run only cases whose name starts with this")
    ap.add_argument("--max-report", type=int, default=40, help="failures shown in full")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--save-failures", metavar="DIR",
                    help="write the command, stdin and sources of the first failure of "
                    "each group to DIR")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()

    if not os.path.exists(opts.postmap):
        if opts.postmap != POSTMAP:
            print(f"ERROR: {opts.postmap} not found")
            return 2
        print(f"SKIP: {opts.postmap} not found. This differential test needs the real "
              "Postfix postmap with lmdb support (Debian packages 'postfix' and "
              "'postfix-lmdb'). CI installs them, so a skip there means the environment "
              "is broken -- a skip is NOT a pass.")
        return SKIP
    for tool in ("mdb_dump",):
        if shutil.which(tool) is None:
            print(f"ERROR: {tool} (Debian package lmdb-utils) is missing")
            return 2
    cmap = os.path.abspath(opts.cmap)
    if not os.access(cmap, os.X_OK):
        print(f"ERROR: cmap binary {cmap} is missing or not executable")
        return 2

    cases = (fixed_build_cases(opts.seed) + sample_cases(opts.seed)
             + generated_cases(opts.seed, opts.count) + seq_cases(opts.seed, opts.sequences))
    if opts.only:
        cases = [c for c in cases if c.name.startswith(opts.only)]
    # Heavy cases first, so that two workers finish together.
    cases.sort(key=lambda c: -c.weight)

    work = tempfile.mkdtemp(prefix="lmdb-diff-")
    try:
        env = Env(opts.postmap, cmap, work)
        setup(env)
        return run_all(opts, env, cases)
    finally:
        if opts.keep:
            print(f"(scratch directory kept: {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run_all(opts, env: Env, cases: list) -> int:
    t0 = time.time()

    def job(case):
        if isinstance(case, SeqCase):
            return run_seq_case(env, case)
        return run_build_case(env, case)

    outcomes = []
    seen = {label: 0 for label, _ in COVERAGE}
    events = {}
    harness_errors = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        futs = {pool.submit(job, c): c for c in cases}
        done = 0
        for fut in concurrent.futures.as_completed(futs):
            done += 1
            try:
                ctx = fut.result()
            except Exception as e:  # a harness problem, not a difference
                harness_errors.append(f"[{futs[fut].name}] {type(e).__name__}: {e}")
                continue
            outcomes += ctx.out
            for ev in ctx.events:
                events[ev] = events.get(ev, 0) + 1
            for err in ctx.pm_stderr:
                for line in err.split(b"\n"):
                    for label, rx in COVERAGE:
                        if rx.search(line):
                            seen[label] += 1
            if opts.verbose and done % 50 == 0:
                print(f"... {done}/{len(cases)} cases, {len(outcomes)} commands, "
                      f"{sum(1 for o in outcomes if o.problems)} failed, "
                      f"{time.time() - t0:.0f}s", flush=True)

    # Growth check: the 20,000-record map must be bigger than lmdb_map_size.
    grow = env.path("P", "Grow.lmdb")
    if any(c.name == "grow/20000" for c in cases):
        size = os.path.getsize(grow) if os.path.exists(grow) else 0
        if size <= MIB:
            harness_errors.append(f"grow/20000: postmap's map is {size} bytes, not larger "
                                  "than lmdb_map_size; the growth path was not exercised")

    failures = [o for o in outcomes if o.problems]
    groups = {}
    for f in failures:
        groups.setdefault(signature(f), []).append(f)
    ordered = [g[0] for g in groups.values()] + [f for g in groups.values() for f in g[1:]]
    for i, o in enumerate(ordered):
        if i >= opts.max_report:
            print(f"... {len(failures) - opts.max_report} more failures not shown "
                  "(use --max-report N)\n")
            break
        print(format_failure(o))
        print()

    if opts.save_failures and failures:
        save_failures(opts.save_failures, [g[0] for g in groups.values()])

    by_label = {}
    for o in outcomes:
        k = o.label.split()[0]
        t = by_label.setdefault(k, [0, 0])
        t[0] += 1
        t[1] += bool(o.problems)
    print("summary:")
    print(f"  postmap: {env.prog['postmap']}; cmap: {env.prog['cmap']}; seed {opts.seed}, "
          f"{opts.count} generated sources, {opts.sequences} random sequences; "
          f"{time.time() - t0:.0f}s")
    for k, (n, nf) in sorted(by_label.items()):
        print(f"  {k:10s} {n:6d} commands, {nf} failed")
    if groups:
        print(f"  mismatch groups ({len(groups)}; count, example case):")
        for sig, fs in sorted(groups.items(), key=lambda x: -len(x[1]))[:40]:
            print(f"  {len(fs):6d}  [{fs[0].case}] {sig}")
        failed_cases = sorted({o.case for o in failures})
        print(f"  failing cases ({len(failed_cases)}): " + " ".join(failed_cases[:60])
              + (" ..." if len(failed_cases) > 60 else ""))
    print("  postmap messages seen: " + ", ".join(f"{k} {v}" for k, v in seen.items()))
    print("  postmap fatal exits (one second each): " + (", ".join(
        f"{k} {v}" for k, v in sorted(env.fatals.items())) or "none"))
    print("  events: " + (", ".join(f"{k} in {v} cases" for k, v in sorted(events.items()))
                          or "none"))
    missing = [k for k, v in seen.items() if v == 0]
    if missing and not opts.only:
        print(f"  WARNING: cases did not trigger: {', '.join(missing)}")
    for e in harness_errors:
        print(f"  HARNESS ERROR: {e}")
    print(f"lmdb differential: {len(cases)} cases, {len(outcomes)} commands, "
          f"{len(failures)} failed")
    if harness_errors:
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
