#!/usr/bin/env python3
"""Differential test: cmap against the real Postfix postmap, texthash: maps.

Every case is a texthash source file (the samples in data/ plus sources made
by a seeded generator that covers every rule of the source format) and a set
of commands (-s, -q KEY, -q - with keys on stdin, under several option and
main.cf combinations). Each command is run with /usr/sbin/postmap and with
cmap, in a fresh temporary directory, and the results must agree:

  * exit status: exactly;
  * stdout: exactly, except for -s, where the lines are compared sorted
    (texthash -s order is the in-memory hash order, which is unspecified);
  * stderr: after normalisation, line by line in order. For -s, the lines
    printed while the table is read are compared in order, and the
    "table texthash:...: key ...: empty string result" style warnings that
    -s prints per record (in hash order) are compared as a sorted list.

stderr normalisation:
  * the leading "postmap:" / "cmap:" becomes "PROG:", and so does the program
    name in the usage text ("usage: postmap [..." / "usage: cmap [...").
  * The deliberate difference: where postmap quotes a whole source line,
    cmap quotes only the leading whitespace and first word (password safety).
    postmap's three messages are rewritten into cmap's form, the quoted text
    being recomputed from the source file bytes (see rewrite_postmap_line()).

Usage: texthash_diff.py --cmap PATH [--seed N] [--count N] [--jobs N]
       [--only CASE] [--save-failures DIR] [--max-report N] [-v]
Exit: 0 all cases agree, 1 some differ, 2 harness error, 77 postmap missing.
"""

import argparse
import concurrent.futures
import dataclasses
import difflib
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POSTMAP = "/usr/sbin/postmap"
DATA = Path(__file__).resolve().parent / "data"
SKIP = 77

# Sample sources copied from the shared reference set (see data/README.md).
SAMPLES = ["syntax", "edge", "dups_default", "dups_f", "dups_r", "dups_w",
           "utf8", "texthash_src", "sasl_passwd", "b64files", "mixed",
           "nonul", "empty", "perm640", "perm666"]
SAMPLE_VALUE_FILES = ["b64_part1.txt", "b64_part2.txt", "b64_empty.txt"]

CONF = "conf"            # compatibility_level = 3.6 -> smtputf8_enable = yes
CONF_OFF = "conf-utf8off"  # ... and smtputf8_enable = no
UTF8_CONF = {CONF: True, CONF_OFF: False}

WS = b" \t\n\v\f\r"      # ISSPACE() in the C locale

# ---------------------------------------------------------------------------
# Commands and their comparison
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Command:
    case: str
    args: list               # arguments after the program name (str/bytes)
    stdin: bytes = b""
    kind: str = "q"          # "s", "q", "qb" (-q -), "err" (anything else)
    sources: dict = dataclasses.field(default_factory=dict)  # name -> bytes
    utf8_conf: bool = True   # smtputf8_enable of the -c directory
    env: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Case:
    name: str
    sources: dict            # file name -> bytes (all files of the case)
    commands: list


def printable(data: bytes, utf8: bool) -> bytes:
    """Postfix's rendering of log text (printable()): printable ASCII stays,
    other bytes become '?'; with smtputf8_enable on, a byte C2..FE followed
    by 80..BF is kept together with all immediately following 80..BF."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if 0x20 <= c <= 0x7E:
            out.append(c)
            i += 1
        elif utf8 and 0xC2 <= c <= 0xFE and i + 1 < n and 0x80 <= data[i + 1] <= 0xBF:
            j = i + 2
            while j < n and 0x80 <= data[j] <= 0xBF:
                j += 1
            out += data[i:j]
            i = j
        else:
            out.append(0x3F)
            i += 1
    return bytes(out)


def first_word(phys: bytes) -> bytes:
    """Leading whitespace + first word of a line, cut at its first NUL."""
    phys = phys.split(b"\0", 1)[0]
    i = 0
    while i < len(phys) and phys[i] in WS:
        i += 1
    while i < len(phys) and phys[i] not in WS:
        i += 1
    return phys[:i]


def redacted(phys: bytes, utf8: bool) -> bytes:
    return printable(first_word(phys), utf8) + b" ..."


def physical_lines(src: bytes) -> list:
    lines = src.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def is_ignored(phys: bytes) -> bool:
    s = phys.lstrip(WS)
    return s == b"" or s[:1] == b"#"


RE_NONUTF8 = re.compile(
    rb'^(PROG: warning: )(.+?), line (\d+): non-UTF-8 input "(.*)" -- ignoring this line$', re.S)
RE_UNBAL = re.compile(
    rb"^(PROG: warning: )(.+?), line (\d+): unbalanced '\"' in '(.*)' -- ignoring this line$", re.S)
RE_LEADWS = re.compile(
    rb'^(PROG: warning: )(.+?): logical line must not start with whitespace: "(.*)"$', re.S)

# What the generated cases must make postmap say (checked in the summary).
COVERAGE = [(label, re.compile(rx)) for label, rx in [
    ("non-UTF-8 input", rb"non-UTF-8 input"),
    ("unbalanced quote", rb"unbalanced '\"' in"),
    ("leading whitespace", rb"logical line must not start with whitespace"),
    ("expected format", rb"expected format: key whitespace value"),
    ("key: value", rb'record is in "key: value" format'),
    ("duplicate", rb"line \d+: duplicate entry"),
    ("non-UTF-8 query key", rb"non-UTF-8 key"),
    ("-F open error", rb": open .*: skipping this entry"),
    ("-F read error", rb": read .*: skipping this entry"),
    ("-F empty list", rb"empty pathname list"),
    ("empty result", rb"empty string result is not allowed"),
]]

# Warnings that -s prints per record, in (unspecified) hash order.
RE_SEQ = re.compile(
    rb"^PROG: warning: table texthash:.*("
    rb": key .*: empty string result is not allowed"
    rb"| should return NO RESULT in case of NOT FOUND"
    rb"|: empty lookup key value is not allowed"
    rb"|: key .*: malformed BASE64 value: .*)$", re.S)


def rewrite_postmap_line(line: bytes, cmd: Command, notes: list) -> bytes:
    """Rewrites postmap's whole-line quotes into cmap's documented form.

    non-UTF-8 input "<line>"  -> "<R>";  unbalanced '"' in '<line>' -> '<R>';
    "F: logical line must not start with whitespace: "<30 bytes>..."" ->
    "F, line N: ... "<R>"" with N = first non-ignored physical line.
    R = printable(leading whitespace + first word) + " ...", computed from the
    source bytes. The first word always lies on the first physical line of
    the logical line, so physical line N is all that is needed.
    """
    for rx in (RE_NONUTF8, RE_UNBAL):
        m = rx.match(line)
        if not m:
            continue
        name = m.group(2).decode("latin-1")
        if name not in cmd.sources:
            notes.append(f"normaliser: unknown file {name!r} in postmap message")
            return line
        lines = physical_lines(cmd.sources[name])
        n = int(m.group(3))
        if not 1 <= n <= len(lines):
            notes.append(f"normaliser: {name} has no line {n}")
            return line
        word = printable(first_word(lines[n - 1]), cmd.utf8_conf)
        # Sanity check of the model: postmap quotes the whole logical line,
        # which begins with that first word.
        if not m.group(4).startswith(word):
            notes.append(f"normaliser: postmap's quote at {name}:{n} does not "
                         f"start with the recomputed first word {word!r}")
            return line
        r = word + b" ..."
        start, end = m.span(4)
        return line[:start] + r + line[end:]
    m = RE_LEADWS.match(line)
    if m:
        name = m.group(2).decode("latin-1")
        if name not in cmd.sources:
            notes.append(f"normaliser: unknown file {name!r} in postmap message")
            return line
        lines = physical_lines(cmd.sources[name])
        for n, phys in enumerate(lines, 1):
            if not is_ignored(phys):
                break
        else:
            notes.append(f"normaliser: {name} has no non-ignored line")
            return line
        r = redacted(lines[n - 1], cmd.utf8_conf)
        return (m.group(1) + m.group(2) + b", line " + str(n).encode()
                + b': logical line must not start with whitespace: "' + r + b'"')
    return line


def normalise_stderr(raw: bytes, prog: bytes, cmd: Command, notes: list) -> list:
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for line in lines:
        if line.startswith(prog + b": "):
            line = b"PROG: " + line[len(prog) + 2:]
        line = line.replace(b"usage: " + prog + b" [", b"usage: PROG [")
        if prog == b"postmap":
            line = rewrite_postmap_line(line, cmd, notes)
        out.append(line)
    return out


@dataclasses.dataclass
class Result:
    rc: object
    stdout: bytes
    stderr: bytes


def run_one(prog: str, cmd: Command, work: str) -> Result:
    env = dict(os.environ)
    env.pop("MAIL_CONFIG", None)
    env.update({"LC_ALL": "C", "LANG": "C"})
    env.update(cmd.env)
    try:
        p = subprocess.run([prog, *cmd.args], cwd=work, input=cmd.stdin,
                           capture_output=True, timeout=60, env=env)
        return Result(p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        return Result("timeout", e.stdout or b"", e.stderr or b"")


def split_seq(lines: list):
    ordered = [l for l in lines if not RE_SEQ.match(l)]
    seq = sorted(l for l in lines if RE_SEQ.match(l))
    return ordered, seq


def compare(cmd: Command, pm: Result, cm: Result):
    """Returns (list of problem descriptions, harness notes)."""
    notes = []
    problems = []
    if pm.rc != cm.rc:
        problems.append(("exit", f"exit status: postmap={pm.rc} cmap={cm.rc}", None, None))
    if cmd.kind == "s":
        a = sorted(pm.stdout.split(b"\n"))
        b = sorted(cm.stdout.split(b"\n"))
        what = "stdout (lines sorted)"
    else:
        a = pm.stdout.split(b"\n")
        b = cm.stdout.split(b"\n")
        what = "stdout (exact)"
    if a != b:
        problems.append(("stdout", what, a, b))
    ea = normalise_stderr(pm.stderr, b"postmap", cmd, notes)
    eb = normalise_stderr(cm.stderr, b"cmap", cmd, notes)
    if cmd.kind == "s":
        oa, sa = split_seq(ea)
        ob, sb = split_seq(eb)
        if oa != ob:
            problems.append(("stderr", "stderr (normalised, table-reading messages in order)", oa, ob))
        if sa != sb:
            problems.append(("stderr", "stderr (normalised, per-record -s warnings sorted)", sa, sb))
    elif ea != eb:
        problems.append(("stderr", "stderr (normalised, in order)", ea, eb))
    return problems, notes


# ---------------------------------------------------------------------------
# Display helpers
# ---------------------------------------------------------------------------


def show(b: bytes, limit: int = 300) -> str:
    """Readable rendering: valid UTF-8 stays, other bytes and controls as \\xNN."""
    out = []
    for c in b.decode("utf-8", "surrogateescape"):
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif c == "\\":
            out.append("\\\\")
        elif c in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[c])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(c)
    s = "".join(out)
    if len(s) > limit:
        s = s[:limit] + f"...(+{len(s) - limit} chars)"
    return s


def shell_word(a) -> str:
    b = a if isinstance(a, bytes) else a.encode()
    if b and all(0x21 <= c <= 0x7E for c in b):
        return shlex.quote(b.decode())
    if not b:
        return "''"
    esc = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x27: "\\'", 0x5C: "\\\\"}
    out = "".join(esc.get(c) or (chr(c) if 0x20 <= c <= 0x7E else f"\\x{c:02x}") for c in b)
    return f"$'{out}'"


def command_line(prog: str, cmd: Command) -> str:
    s = " ".join([prog] + [shell_word(a) for a in cmd.args])
    if cmd.kind == "qb" or cmd.stdin:
        s = f"printf %s {shell_word(cmd.stdin)} | " + s
    if cmd.env:
        s = " ".join(f"{k}={v}" for k, v in cmd.env.items()) + " " + s
    return s


def signature(cmd: Command, problems) -> str:
    """A rough grouping key for the summary: the first line only postmap
    printed and the first line only cmap printed, with names, line numbers
    and quoted text masked. (Only for reporting; it decides nothing.)"""
    def mask(line: bytes) -> str:
        for name in cmd.sources:
            line = line.replace(name.encode(), b"F")
        line = re.sub(rb"line \d+", b"line N", line)
        line = re.sub(rb'".*"', b'"..."', line)
        line = re.sub(rb"(open|read) .*?: ", rb"\1 ...: ", line)
        line = re.sub(rb"key .*?: ", b"key ...: ", line)
        return show(line, 120)
    parts = []
    flags = " ".join(a for a in cmd.args if isinstance(a, str) and a in ("-F", "-b", "-h"))
    label = {"s": "-s", "q": "-q KEY", "qb": "-q -", "err": "other"}[cmd.kind]
    for kind, what, a, b in problems:
        if a is None:
            parts.append(what)
        elif kind == "stdout":
            hint = " (a stdin key has a NUL byte)" if b"\0" in cmd.stdin else ""
            parts.append(f"{label} {flags} stdout differs{hint}".replace("  ", " "))
        else:
            ca = {}
            for l in a:
                ca[l] = ca.get(l, 0) + 1
            only_b = []
            for l in b:
                if ca.get(l, 0) > 0:
                    ca[l] -= 1
                else:
                    only_b.append(l)
            only_a = [l for l in a if ca.get(l, 0) > 0]
            if only_a:
                parts.append("postmap: " + mask(only_a[0]))
            if only_b:
                parts.append("cmap:    " + mask(only_b[0]))
    return ("\n" + " " * 10).join(parts)


def format_failure(cmd: Command, problems, notes, pm: Result, cm: Result) -> str:
    out = [f"FAIL [{cmd.case}] {command_line('postmap|cmap', cmd)}"]
    for kind, what, a, b in problems:
        if a is None:
            out.append(f"  {what}")
            continue
        out.append(f"  {what}: --- postmap +++ cmap")
        diff = list(difflib.unified_diff([show(x) for x in a], [show(x) for x in b],
                                         lineterm="", n=1))[2:]
        for d in diff[:24]:
            out.append("    " + d)
        if len(diff) > 24:
            out.append(f"    ... ({len(diff) - 24} more diff lines)")
    for n in notes:
        out.append(f"  note: {n}")
    for name, content in cmd.sources.items():
        if len(content) <= 600:
            out.append(f"  source {name} ({len(content)} bytes): {show(content, 10**6)}")
        else:
            out.append(f"  source {name} ({len(content)} bytes): {show(content[:300])} ...")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------

UNI_WORDS = [
    "Straße", "STRASSE", "strasse", "STRAẞE", "straße", "ß", "ẞ", "SS", "ss",
    "ﬁle", "FILE", "file", "File", "ﬃx", "FFIX", "ﬀ",
    "İstanbul", "istanbul", "ISTANBUL", "i̇stanbul", "ı", "I", "İ",
    "Σ", "σ", "ς", "ΣΊΣΥΦΟΣ", "σίσυφοσ", "σίσυφος", "Σίσυφος",
    "Ä", "ä", "ÄÖÜ", "äöü", "Äöü",
    "Ǆ", "ǅ", "ǆ", "ŉ", "ʼN", "K", "k", "Å", "å", "ΐ", "µ", "μ", "Μ",
    "ſ", "Ω", "ω", "ǰ", "😀", "日本", "𐐀", "𐐨", "Ⅻ", "ⅻ", "Ⓐ", "ⓐ",
    "e\u0301", "é", "É",
]
INVALID = [
    b"\x80", b"\xbf", b"\xff", b"\xfe", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
    b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80", b"\xc3\xa4\xff", b"\xc3\x28", b"\xc3\xa4\x80\x80",
    b"\xe2\x82\xac\xbf",
]
ASCII_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
WORD_CHARS = ASCII_LETTERS + "0123456789._-+=/%!@[]:,;<>()*&^~`|?$'{}"

# Value files for -F sources (created in the work directory).
VALUE_FILES = {
    b"vf_hello.txt": b"hello\n",
    b"vf_world.txt": b"world",
    b"vf_bin.txt": b"\x00\x01bin\r\n\xff\xfe\x00end",
    b"vf_empty.txt": b"",
    b"vf_crlf.txt": b"line1\r\nline2\r\n",
    b"vf_big.txt": bytes(range(256)) * 12,
    "vf_äö.txt".encode(): "umlaut file ÄÖ\n".encode(),
    b"vf_\xff.txt": b"invalid-utf8 name\n",
    b"vf_nul.txt": b"a\0b\n",
    b"vf_nul0.txt": b"\0ab",
}
VALUE_DIR = b"vf_dir"
VALUE_MISSING = [b"vf_missing.txt", b"vf_nope/x.txt"]


class Gen:
    """Builds one source file as a list of physical lines (without EOL)."""

    def __init__(self, r: random.Random, theme: str):
        self.r = r
        self.theme = theme
        self.keys = []       # keys as written (raw bytes)
        self.lines = []

    # -- words -------------------------------------------------------------

    def aword(self, lo=1, hi=10, chars=WORD_CHARS) -> bytes:
        r = self.r
        w = "".join(r.choice(chars) for _ in range(r.randint(lo, hi)))
        return w.encode()

    def name(self) -> bytes:
        return self.aword(2, 8, ASCII_LETTERS + "0123456789._-")

    def uni(self) -> bytes:
        return self.r.choice(UNI_WORDS).encode()

    def pick(self, table):
        total = sum(w for w, _ in table)
        x = self.r.uniform(0, total)
        for w, f in table:
            x -= w
            if x <= 0:
                return f()
        return table[-1][1]()

    def key(self) -> bytes:
        t = self.theme
        w = {"unicode": 6, "quotes": 1, "invalid": 1}
        table = [
            (30, lambda: self.aword(1, 12, ASCII_LETTERS + "0123456789._-+=@")),
            (8, lambda: self.name() + b"@" + self.name() + b"." + self.r.choice([b"COM", b"org", b"Example"])),
            (4, lambda: b"[" + self.name() + b".Example]:" + self.r.choice([b"587", b"25", b"submission"])),
            (15 * w.get(t, 1), lambda: self.r.choice([b"", self.name()]) + self.uni() + self.r.choice([b"", b"@", self.name()])),
            (6 * (8 if t == "quotes" else 1), self.quoted_key),
            (3, lambda: self.name() + b":"),
            (2, lambda: self.name() + bytes([self.r.choice([1, 0x1b, 0x7f, 0x08])]) + self.name()),
            (5 * (8 if t == "invalid" else 1), lambda: self.name() + self.r.choice(INVALID) + self.r.choice([b"", self.name()])),
            (2, lambda: self.name() + b"\0" + self.name()),
            (1, lambda: b"-" + self.name()),
            (1, lambda: self.name() + b"#" + self.name()),
            # Bytes that are not ISSPACE in the C locale: no key/value split.
            (2, lambda: self.name() + self.r.choice([b"\xc2\xa0", b"\xa0", b"\xc2\x85", b"\x85",
                                                     "\u2028".encode(), "\u3000".encode()]) + self.name()),
            (1, lambda: b"\xef\xbb\xbf" + self.name()),     # UTF-8 byte order mark
        ]
        return self.pick(table)

    def quoted_key(self) -> bytes:
        n = self.name
        return self.r.choice([
            lambda: b'"' + n() + b" " + n() + b'"',
            lambda: b'"' + n() + b" " + n() + b'"@' + n(),
            lambda: b'"' + n() + b'"',
            lambda: n() + b'"' + n() + b'"' + n(),
            lambda: n() + b'"' + n(),                       # unbalanced
            lambda: b'"' + n(),                             # unbalanced
            lambda: n() + b"\\ " + n(),                     # escaped space
            lambda: n() + b"\\\\" + n(),                    # escaped backslash
            lambda: n() + b'\\"' + n(),                     # escaped quote
            lambda: b'"' + n() + b'\\"' + n() + b'"',       # escaped quote inside
            lambda: b'"' + n() + b"\t" + n() + b'"',        # tab inside quotes
            lambda: b"\\" + n(),
            lambda: b'""',
            lambda: b'"a""b"',
        ])()

    def value(self) -> bytes:
        r = self.r
        table = [
            (30, lambda: b" ".join(self.aword(1, 8) for _ in range(r.randint(1, 4)))),
            (10, lambda: self.aword() + r.choice([b"\t", b"  ", b" \t ", b"\t\t", b"   "]) + self.aword()),
            (8, lambda: self.aword() + r.choice([b" ", b"\t", b"  ", b" \t", b"\v", b"\f", b" \x0b "])),
            (5, lambda: self.aword() + b" # " + self.aword()),
            (3, lambda: b"#" + self.aword()),
            (8 * (3 if self.theme == "unicode" else 1), lambda: self.uni() + r.choice([b"", b" ", b"-"]) + self.uni()),
            (5 * (6 if self.theme == "invalid" else 1), lambda: self.aword() + r.choice(INVALID) + r.choice([b"", self.aword()])),
            (3, lambda: self.aword() + b"\0" + self.aword()),
            (4, lambda: self.aword() + b'"' + r.choice([b"", self.aword() + b'"'])),
            (2, lambda: self.aword() + b"\\"),
            (2, lambda: b"user:" + self.aword() + b":" + self.aword()),
            (2, lambda: self.aword() + bytes([r.choice([1, 0x1b, 0x7f])]) + self.aword()),
        ]
        return self.pick(table)

    def sep(self) -> bytes:
        return self.pick([(50, lambda: b" "), (20, lambda: b"\t"), (10, lambda: b"  "),
                          (8, lambda: b" \t "), (3, lambda: b"\v"), (3, lambda: b"\f"),
                          (4, lambda: b"\t\t")])

    def lead(self) -> bytes:
        return self.r.choice([b" ", b"  ", b"\t", b" \t", b"\t ", b"    ", b"\v", b"\f "])

    def ignorable(self) -> bytes:
        r = self.r
        return self.pick([
            (6, lambda: b"#" + r.choice([b"", b" ", b"  "]) + self.aword(0, 20)),
            (3, lambda: r.choice([b" ", b"\t", b"   "]) + b"#" + self.aword(0, 10)),
            (2, lambda: b"# " + self.uni() + r.choice(INVALID) + b" comment"),
            (1, lambda: b"#" + b"\0" + b"x"),
            (4, lambda: b""),
            (2, lambda: r.choice([b" ", b"\t", b"  \t", b"\v", b"\f", b" \r"])),
        ])

    # -- constructs ----------------------------------------------------------

    def add_key(self, k: bytes):
        self.keys.append(k)

    def entry(self):
        k = self.key()
        self.add_key(k)
        self.lines.append(k + self.sep() + self.value())

    def novalue(self):
        k = self.key()
        self.add_key(k)
        self.lines.append(k + self.r.choice([b"", b" ", b"   ", b"\t", b" \t", b"\v"]))

    def continued(self):
        r = self.r
        k = self.key()
        self.add_key(k)
        first = k if r.random() < 0.3 else k + self.sep() + self.value()
        self.lines.append(first)
        for _ in range(r.randint(1, 3)):
            while r.random() < 0.35:
                self.lines.append(self.ignorable())
            self.lines.append(self.lead() + self.value() + r.choice([b"", b"", b" ", b"\t"]))

    def dup(self):
        r = self.r
        if not self.keys:
            return self.entry()
        k = r.choice(self.keys)
        v = self.variant(k)
        self.add_key(v)
        self.lines.append(v + self.sep() + self.value())

    def variant(self, k: bytes) -> bytes:
        r = self.r
        choice = r.random()
        if choice < 0.35:
            return k
        try:
            s = k.decode("utf-8")
        except UnicodeDecodeError:
            s = None
        if choice < 0.55 or s is None:
            return r.choice([k.upper(), k.lower(), k.swapcase(), k.capitalize()])
        out = r.choice([s.upper(), s.lower(), s.casefold(), s.swapcase(), s.title()]).encode()
        if any(c in WS for c in out):   # casefold cannot add whitespace, but be safe
            return k
        return out

    def unicode_group(self):
        """Several spellings of one word, Unicode case variants among them."""
        r = self.r
        group = r.choice([
            ["Straße", "STRASSE", "strasse", "STRAẞE", "straße"],
            ["ﬁle", "FILE", "file", "File"],
            ["İstanbul", "istanbul", "ISTANBUL", "i̇stanbul"],
            ["ΣΊΣΥΦΟΣ", "σίσυφοσ", "σίσυφος", "Σίσυφος"],
            ["Ä", "ä"], ["ÄÖÜ", "äöü", "Äöü"], ["ſ", "s", "S"],
            ["K", "k", "K"], ["µ", "μ", "Μ"], ["ǅ", "Ǆ", "ǆ"],
            ["DUP", "dup", "Dup"], ["𐐀", "𐐨"], ["ß", "ss", "SS", "ẞ"],
        ])
        suffix = r.choice([b"", b"", b"@" + self.name()])
        for w in r.sample(group, r.randint(2, len(group))):
            k = w.encode() + suffix
            self.add_key(k)
            self.lines.append(k + self.sep() + self.value())

    def alias(self):
        k = self.name() + b":"
        self.add_key(k)
        self.lines.append(k + self.r.choice([b" ", b"  ", b"\t"]) + self.value())

    def nul_line(self):
        r = self.r
        k = self.name()
        self.add_key(k)
        self.lines.append(r.choice([
            k + b"\0" + self.name() + b" v",
            k + b" " + self.aword() + b"\0" + self.aword(),
            k + b"\0",
            b"\0" + k + b" v",
            k + b" \0tail",
            k + b" v" + b"\0" + b"\xff",                 # invalid UTF-8 after the NUL
            k + self.uni() + b" v\0\xff",
            k + b'\0"' + b" v",                          # quote after the NUL
        ]))

    def invalid_line(self):
        r = self.r
        k = self.key()
        self.add_key(k)
        inv = r.choice(INVALID)
        self.lines.append(r.choice([
            k + inv + self.sep() + self.value(),
            k + self.sep() + self.value() + inv,
            k + self.sep() + self.uni() + inv + self.uni(),
            self.uni() + inv + b" " + self.value(),
            inv + k + b" v",
        ]))

    def hash_value(self):
        k = self.key()
        self.add_key(k)
        self.lines.append(k + self.sep() + self.aword() + self.r.choice([b" # ", b"#", b" #"]) + self.aword())

    def long_line(self, size=None):
        r = self.r
        size = size or r.randint(2048, 8192)
        k = self.name()
        self.add_key(k)
        body = b" ".join(self.aword(1, 12) for _ in range(size // 6))
        self.lines.append(k + b" " + body[:size])

    def first_ws(self):
        r = self.r
        for _ in range(r.randint(0, 2)):
            self.lines.append(self.ignorable())
        k = self.name()
        text = r.choice([
            k + b" " + self.value(),
            k + b" " + self.aword(30, 40),                  # > 30 bytes
            self.aword(25, 29, ASCII_LETTERS) + "äöü".encode() + b" v",  # UTF-8 cut at 30
            k + b"\0" + self.aword(30, 40),                 # NUL within 30
            self.uni() + b" " + self.uni() + b" value",
            k + b"\xff" + b" v",
            b'"' + k + b" v",
        ])
        self.lines.append(self.lead() + text)
        while r.random() < 0.4:
            if r.random() < 0.4:
                self.lines.append(self.ignorable())
            self.lines.append(self.lead() + self.value())

    def file_entry(self):
        r = self.r
        names = list(VALUE_FILES) + [VALUE_DIR] * 1 + VALUE_MISSING + [
            b"b64_part1.txt", b"b64_part2.txt", b"b64_empty.txt"]
        k = self.key() if r.random() < 0.3 else self.name()
        self.add_key(k)
        n = r.randint(1, 3)
        picked = [r.choice(names) for _ in range(n)]
        seps = [b", ", b",", b" ", b"\t", b" , ", b",,"]
        val = picked[0]
        for p in picked[1:]:
            val += r.choice(seps) + p
        val = r.choice([val, val, val, b",", b", ,", val + b","])
        self.lines.append(k + self.sep() + val)

    # -- assembling ------------------------------------------------------

    def body(self, n):
        r = self.r
        t = self.theme
        table = [
            (30, self.entry),
            (6 * (4 if t == "cont" else 1), self.continued),
            (5, lambda: self.lines.append(self.ignorable())),
            (4, self.novalue),
            (8 * (4 if t == "dups" else 1), self.dup),
            (4 * (4 if t == "unicode" else 1), self.unicode_group),
            (2, self.alias),
            (2, self.nul_line),
            (3 * (5 if t == "invalid" else 1), self.invalid_line),
            (2, self.hash_value),
            (4 * (6 if t == "quotes" else 1), lambda: self.plain(self.quoted_key())),
        ]
        if t == "F":
            table = [(40, self.file_entry), (5, lambda: self.lines.append(self.ignorable())),
                     (5, self.dup), (3, self.novalue), (3, self.continued_files)]
        for _ in range(n):
            self.pick(table)

    def continued_files(self):
        k = self.name()
        self.add_key(k)
        self.lines.append(k + b" vf_hello.txt,")
        self.lines.append(self.lead() + b"vf_world.txt")

    def plain(self, k):
        self.add_key(k)
        self.lines.append(k + self.sep() + self.value())


def assemble(r: random.Random, lines: list, eol_mode: str, final_nl: bool) -> bytes:
    out = bytearray()
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if eol_mode == "lf":
            eol = b"\n"
        elif eol_mode == "crlf":
            eol = b"\r\n"
        elif eol_mode == "cr":             # old Mac: \r is no line end
            eol = b"\r"
        else:
            eol = r.choice([b"\n", b"\r\n"])
        out += line
        if not last or final_nl:
            out += eol
    return bytes(out)


# Themes: the first generated cases take these in order, so that every rule
# is covered whatever the seed; the rest are drawn at random.
FIXED_THEMES = ["empty", "comments", "blank", "first_ws", "huge_value",
                "huge_key", "huge_invalid", "F", "unicode", "dups", "quotes",
                "invalid", "cont", "crlf", "no_final_nl", "first_ws", "F",
                "long", "mix", "single_no_nl", "only_ws_first"]
RANDOM_THEMES = [("mix", 40), ("unicode", 8), ("dups", 8), ("quotes", 6),
                 ("invalid", 8), ("cont", 6), ("crlf", 5), ("first_ws", 5),
                 ("F", 6), ("long", 3), ("comments", 1), ("empty", 1),
                 ("no_final_nl", 3)]


def generate_source(r: random.Random, theme: str):
    g = Gen(r, theme)
    eol = r.choice(["lf"] * 12 + ["crlf"] * 4 + ["mixed"] * 4 + ["cr"])
    final_nl = r.random() < 0.85
    if theme == "empty":
        return b"", g.keys
    if theme == "comments":
        g.lines = [g.ignorable() for _ in range(r.randint(1, 8))]
        g.lines[0] = b"# only comments here"
    elif theme == "blank":
        g.lines = [r.choice([b"", b" ", b"\t", b"  \t", b"\r"]) for _ in range(r.randint(1, 5))]
    elif theme == "only_ws_first":
        g.first_ws()
    elif theme == "single_no_nl":
        g.entry()
        final_nl = False
    else:
        if theme == "first_ws" or r.random() < 0.06:
            g.first_ws()
        if theme == "crlf":
            eol = "crlf"
        if theme == "no_final_nl":
            final_nl = False
        g.body(r.randint(3, 14))
        if theme == "long":
            for _ in range(r.randint(1, 3)):
                g.long_line()
            g.body(r.randint(1, 4))
        elif theme == "huge_value":
            g.long_line(r.randint(100 * 1024, 130 * 1024))
            g.entry()
        elif theme == "huge_key":
            k = g.aword(100 * 1024, 101 * 1024, ASCII_LETTERS)
            g.add_key(k)
            g.lines.append(k + b" hugekey-value")
            g.entry()
        elif theme == "huge_invalid":
            g.lines.append(b"hugebad " + b"y" * (100 * 1024) + b"\xff" + b" z")
            g.lines.append(b'hugeunbal "' + b"q" * (5 * 1024))
            g.add_key(b"hugebad")
            g.entry()
        elif r.random() < 0.03:
            g.long_line()
    return assemble(r, g.lines, eol, final_nl), g.keys


FLAGSETS = [  # (weight, conf, flags)
    (5, CONF, []), (2, CONF, ["-f"]), (2, CONF, ["-u"]), (2, CONF, ["-r"]),
    (2, CONF, ["-w"]), (1, CONF, ["-r", "-w"]), (1, CONF, ["-w", "-r"]),
    (1, CONF, ["-rw"]), (1, CONF, ["-wr"]), (1, CONF, ["-f", "-u"]),
    (1, CONF, ["-f", "-r"]), (1, CONF, ["-u", "-w"]),
    (4, CONF_OFF, []), (1, CONF_OFF, ["-f"]), (1, CONF_OFF, ["-r"]),
    (1, CONF_OFF, ["-w"]), (1, CONF_OFF, ["-u"]),
]

EXTRA_KEYS = [b"nosuchkey", b"NOSUCHKEY", b'"quoted key"', b"quoted key", b'"q k"',
              b"bad\xffkey", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf5\x80\x80\x80",
              b"\x80", "straße".encode(), b"STRASSE", "ﬁle".encode(), b"FILE",
              "σίσυφοσ".encode(), "ΣΊΣΥΦΟΣ".encode(), "İstanbul".encode(),
              "i̇stanbul".encode(), "ÄÖÜ".encode(), "äöü".encode(), b"back\\ slash",
              b"unbal\"anced", b"zeta:", b"k1 ", b" k1", b"Key1", b"key1",
              b"dup", b"DUP", b"-dash", b"a\tb"]


def query_keys(r: random.Random, keys: list, n: int) -> list:
    """Keys to look up: present ones in various case forms, absent ones,
    invalid UTF-8, quotes."""
    out = []
    pool = [k.split(b"\0", 1)[0] for k in keys]
    pool = [k for k in pool if k and k != b"-"]
    for _ in range(n):
        x = r.random()
        if pool and x < 0.45:
            k = r.choice(pool)
        elif pool and x < 0.75:
            k = r.choice(pool)
            try:
                s = k.decode("utf-8")
                k = r.choice([s.upper(), s.lower(), s.casefold(), s.swapcase()]).encode()
            except UnicodeDecodeError:
                k = r.choice([k.upper(), k.lower()])
        elif pool and x < 0.8:
            k = r.choice(pool)
            i = r.randint(0, len(k))
            k = k[:i] + r.choice(INVALID) + k[i:]
        elif pool and x < 0.83:
            k = r.choice(pool).strip(b'"')
        else:
            k = r.choice(EXTRA_KEYS)
        if k == b"-" or not k:
            k = b"nosuchkey"
        out.append(k)
    return out


def batch_stdin(r: random.Random, keys: list) -> bytes:
    lines = list(keys)
    i = r.randrange(len(lines))
    lines[i] = lines[i] + b"\r"              # a line ending in \r\n
    if r.random() < 0.15:
        lines.insert(r.randrange(len(lines) + 1), b"")
    if r.random() < 0.1 and keys:
        lines.append(keys[0] + b"\0tail")     # postmap looks up the text before the NUL
    data = b"\n".join(lines)
    # A final line without newline, except when it ends in byte 0xFF: postmap
    # then takes the line for end of input (its line reader returns the last
    # byte as a signed char, and 0xFF == EOF). That quirk has its own case
    # (cli-batch-final-ff) instead of showing up at random.
    if r.random() < 0.5 or data.endswith(b"\xff"):
        data += b"\n"
    return data


def pick_flagsets(r: random.Random, n: int) -> list:
    chosen = []
    while len(chosen) < n:
        total = sum(w for w, _, _ in FLAGSETS)
        x = r.uniform(0, total)
        for w, conf, flags in FLAGSETS:
            x -= w
            if x <= 0:
                break
        if (conf, flags) not in chosen:
            chosen.append((conf, flags))
    return chosen


def commands_for(case: str, name: str, sources: dict, keys: list, r: random.Random,
                 flagsets: list, nq: int = 3, nbatch: int = 8, env=None) -> list:
    cmds = []
    for conf, flags in flagsets:
        base = ["-c", conf, *flags]
        common = dict(case=case, sources=sources, utf8_conf=UTF8_CONF[conf], env=env or {})
        m = "texthash:" + name
        cmds.append(Command(args=base + ["-s", m], kind="s", **common))
        for k in query_keys(r, keys, nq):
            cmds.append(Command(args=base + ["-q", k, m], kind="q", **common))
        cmds.append(Command(args=base + ["-q", "-", m], kind="qb",
                            stdin=batch_stdin(r, query_keys(r, keys, nbatch)), **common))
    return cmds


def crude_keys(src: bytes) -> list:
    keys = []
    for line in physical_lines(src):
        if line[:1] in (b"", b"#") or line[0] in WS:
            continue
        keys.append(line.split(None, 1)[0] if line.split(None, 1) else line)
    return keys


# ---------------------------------------------------------------------------
# Building all cases
# ---------------------------------------------------------------------------


def sample_cases(seed: int) -> list:
    cases = []
    all_flagsets = [(c, f) for _, c, f in FLAGSETS]
    for s in SAMPLES:
        src = (DATA / s).read_bytes()
        r = random.Random(f"{seed}:sample:{s}")
        sources = {s: src}
        keys = crude_keys(src) + [b"Key1", b'"quoted key"', b"quoted key", b"GAMMA",
                                  b"upper", b"UPPER", "straße".encode(), b"STRASSE",
                                  b"[mail.isp.example]:587", b"dup", b"DUP", b"k5"]
        if s == "b64files":
            flagsets = [(c, ["-F", *f]) for c, f in all_flagsets] + all_flagsets[:3]
        else:
            flagsets = all_flagsets
        cases.append(Case(s, sources, commands_for(s, s, sources, keys, r, flagsets,
                                                   nq=3, nbatch=10)))
    return cases


def generated_cases(seed: int, count: int) -> list:
    cases = []
    for i in range(count):
        r = random.Random(f"{seed}:gen:{i}")
        if i < len(FIXED_THEMES):
            theme = FIXED_THEMES[i]
        else:
            total = sum(w for _, w in RANDOM_THEMES)
            x = r.uniform(0, total)
            for theme, w in RANDOM_THEMES:
                x -= w
                if x <= 0:
                    break
        src, keys = generate_source(r, theme)
        name = f"g{i:04d}"
        sources = {name: src}
        flagsets = pick_flagsets(r, r.choice([2, 2, 3]))
        if theme == "F":
            flagsets = [(c, ["-F", *f]) for c, f in flagsets]
            if r.random() < 0.5:
                flagsets.append((CONF, []))
        if theme.startswith("huge"):
            flagsets = flagsets[:2]
        env = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"} if i % 7 == 3 else None
        cases.append(Case(f"{name}/{theme}", sources,
                          commands_for(f"{name}/{theme}", name, sources, keys, r, flagsets,
                                       env=env)))
    return cases


def fixed_cases() -> list:
    """Multi-map, error and command-line cases."""
    cases = []
    A = b"a 1\nshared A-val\nDupA x\ndupa y\nnovalue\n"
    B = b"b 2\nshared B-val\nonlyb B\nbnoval\nOnlyB2 upper\n"
    D = b"k1 v1\nk2 v2\n"
    srcs = {"mA": A, "mB": B, "md": D}

    def c(name, args, kind="err", stdin=b"", conf=CONF, sources=None):
        sources = sources or srcs
        used = {n: d for n, d in sources.items()
                if any(a in (f"texthash:{n}", f"bogus:{n}") for a in args)}
        cmd = Command(case=name, args=["-c", conf, *args] if conf else list(args),
                      kind=kind, stdin=stdin, sources=used,
                      utf8_conf=UTF8_CONF.get(conf, True))
        cases.append(Case(name, sources, [cmd]))

    # Several maps.
    c("multi-q-onlyB", ["-q", "onlyb", "texthash:mA", "texthash:mB"], "q")
    c("multi-q-onlyB-case", ["-q", "ONLYB2", "texthash:mA", "texthash:mB"], "q")
    c("multi-q-both", ["-q", "shared", "texthash:mA", "texthash:mB"], "q")
    c("multi-q-none", ["-q", "zz", "texthash:mA", "texthash:mB"], "q")
    c("multi-q-inA-missingB", ["-q", "a", "texthash:mA", "texthash:nosuch"], "q")
    c("multi-q-missingB", ["-q", "zz", "texthash:mA", "texthash:nosuch"], "q")
    c("multi-q-bogusB", ["-q", "zz", "texthash:mA", "bogus:x"], "q")
    c("multi-q-batch", ["-q", "-", "texthash:mA", "texthash:mB"], "qb",
      stdin=b"a\nonlyb\nzz\nSHARED\nb\r\nDUPA")
    c("multi-q-batch-none", ["-q", "-", "texthash:mA", "texthash:mB"], "qb", stdin=b"zz\nyy\n")
    c("multi-s", ["-s", "texthash:mA", "texthash:mB"], "s")
    c("multi-s-missingB", ["-s", "texthash:mA", "texthash:nosuch"], "s")
    c("multi-s-r", ["-r", "-s", "texthash:mA", "texthash:mB"], "s")
    c("multi-q-same-twice", ["-q", "a", "texthash:mA", "texthash:mA"], "q")
    # Errors.
    c("err-missing-q", ["-q", "k", "texthash:nosuch"])
    c("err-missing-s", ["-s", "texthash:nosuch"])
    c("err-missing-batch", ["-q", "-", "texthash:nosuch"], stdin=b"k\n")
    c("err-missing-dir", ["-q", "k", "texthash:nodir/file"])
    c("err-directory", ["-q", "k", "texthash:."])
    c("err-bogus-q", ["-q", "k", "bogus:x"])
    c("err-bogus-s", ["-s", "bogus:x"])
    c("err-bogus-create", ["bogus:md"])
    c("err-bogus-create-missing-source", ["bogus:x"])
    c("err-empty-name-q", ["-q", "k", "texthash:"])
    c("err-empty-name-s", ["-s", "texthash:"])
    c("err-delete", ["-d", "k1", "texthash:md"])
    c("err-delete-stdin", ["-d", "-", "texthash:md"], stdin=b"k1\n")
    c("err-create", ["texthash:md"])
    c("err-create-two", ["texthash:md", "texthash:mA"])
    c("err-q-without-map", ["-q", "k1"])
    c("err-q-without-arg", ["-q"])
    c("err-s-without-map", ["-s"])
    c("err-no-args", [])
    c("err-s-and-q", ["-s", "-q", "k1", "texthash:md"])
    c("err-q-and-s", ["-q", "k1", "-s", "texthash:md"])
    c("err-q-and-d", ["-q", "k1", "-d", "k1", "texthash:md"])
    c("err-unknown-option", ["-Z", "texthash:md"])
    c("err-unknown-option-q", ["-Z", "-q", "k1", "texthash:md"])
    c("err-conf-without-main-cf", ["-c", "noconf", "-q", "k1", "texthash:md"], conf=None)
    c("err-conf-missing-dir", ["-c", "nosuchdir", "-q", "k1", "texthash:md"], conf=None)
    c("err-b-q-key", ["-b", "-q", "k1", "texthash:md"])
    c("err-h-q-key", ["-h", "-q", "k1", "texthash:md"])
    c("err-m-q-key", ["-m", "-q", "k1", "texthash:md"])
    c("err-b-s", ["-b", "-s", "texthash:md"])
    c("warn-m-q-batch", ["-m", "-q", "-", "texthash:md"], "qb", stdin=b"k1\nk2\n")
    c("warn-m-s", ["-m", "-s", "texthash:md"], "s")
    # Command-line details that postmap accepts.
    c("cli-empty-key", ["-q", "", "texthash:md"], "q")
    c("cli-attached-q", ["-qk1", "texthash:md"], "q")
    c("cli-combined-fq", ["-fq", "K1", "texthash:md"], "q")
    c("cli-attached-c", ["-cconf", "-q", "k1", "texthash:md"], "q", conf=None)
    c("cli-double-dash", ["-q", "k1", "--", "texthash:md"], "q")
    c("cli-option-after-map", ["-q", "K1", "texthash:md", "-f"], "q")
    c("cli-noop-flags", ["-N", "-n", "-p", "-o", "-U", "-q", "k1", "texthash:md"], "q")
    c("cli-noop-flags-s", ["-n", "-s", "texthash:md"], "s")
    c("cli-q-last-wins", ["-q", "k1", "-q", "k2", "texthash:md"], "q")
    c("cli-env-mail-config", ["-q", "k1", "texthash:md"], "q", conf=None)
    cases[-1].commands[0].env = {"MAIL_CONFIG": CONF}
    c("cli-batch-empty-stdin", ["-q", "-", "texthash:md"], "qb", stdin=b"")
    c("cli-batch-crlf", ["-q", "-", "texthash:md"], "qb", stdin=b"k1\r\nk2\r\n")
    c("cli-batch-final-ff", ["-q", "-", "texthash:md"], "qb", stdin=b"k1\nk2\xff")
    c("cli-batch-final-ff-u", ["-u", "-q", "-", "texthash:mff"], "qb", stdin=b"k1\nk\xff",
      sources={"mff": b"k1 v1\nk\xff vff\n"})
    c("cli-batch-nul-key", ["-q", "-", "texthash:md"], "qb", stdin=b"k1\0tail\nk2\n")
    c("cli-batch-long-key", ["-q", "-", "texthash:md"], "qb", stdin=b"x" * 70000 + b"\nk1\n")
    c("cli-b-batch", ["-b", "-q", "-", "texthash:md"], "qb",
      stdin=b"From: a@example\nSubject: k1\n\nk1\nk2 \nnot\n")
    c("cli-h-batch", ["-h", "-q", "-", "texthash:md"], "qb",
      stdin=b"k1: x\nSubject: k2\n\nk1\n")
    # Small named repros of things the generated cases also do.
    dup = {"mdup": "dup first\nDUP second\nStraße a\nSTRASSE b\nk\x01X 1\nk\x01x 2\n".encode()}
    c("dup-message-key", ["-q", "dup", "texthash:mdup"], "q", sources=dup)
    c("dup-message-key-utf8off", ["-q", "dup", "texthash:mdup"], "q", sources=dup, conf=CONF_OFF)
    fnul = {"mfnul": b"k vf_nul.txt\nz vf_nul0.txt\n"}
    c("F-value-with-nul-q", ["-F", "-q", "k", "texthash:mfnul"], "q", sources=fnul)
    c("F-value-with-nul-q0", ["-F", "-q", "z", "texthash:mfnul"], "q", sources=fnul)
    c("F-value-with-nul-s", ["-F", "-s", "texthash:mfnul"], "s", sources=fnul)
    fmsg = {"mfmsg": "m \x01,vf_hello.txt\nn vf_ü.txt\n".encode()}
    c("F-open-error-render", ["-F", "-q", "m", "texthash:mfmsg"], "q", sources=fmsg)
    c("F-open-error-render-utf8off", ["-F", "-q", "m", "texthash:mfmsg"], "q", sources=fmsg,
      conf=CONF_OFF)
    # A source with a future mtime is not "hot" (Postfix reads it once).
    fut = {"mfuture": b"k1 v1\nnovalue\nk1 again\n"}
    c("cli-future-mtime-q", ["-q", "k1", "texthash:mfuture"], "q", sources=fut)
    c("cli-future-mtime-s", ["-s", "texthash:mfuture"], "s", sources=fut)
    return cases


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def write_file(work: str, name, data: bytes):
    path = os.path.join(os.fsencode(work), name if isinstance(name, bytes) else name.encode())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cmap", required=True, help="path to the built cmap")
    ap.add_argument("--postmap", default=POSTMAP, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--count", type=int, default=520, help="generated sources (default 520)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="run only cases whose name starts with this")
    ap.add_argument("--max-report", type=int, default=40,
                    help="failures shown in full (default 40)")
    ap.add_argument("--save-failures", metavar="DIR",
                    help="copy the sources of failing cases and a repro script to DIR")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()

    if not os.path.exists(opts.postmap):
        if opts.postmap != POSTMAP:
            print(f"ERROR: {opts.postmap} not found")
            return 2
        print(f"SKIP: {opts.postmap} not found. This differential test needs the real "
              "Postfix postmap (Debian package 'postfix'). CI installs it, so a skip "
              "there means the environment is broken -- a skip is NOT a pass.")
        return SKIP
    cmap = os.path.abspath(opts.cmap)
    if not os.access(cmap, os.X_OK):
        print(f"ERROR: cmap binary {cmap} is missing or not executable")
        return 2
    if not DATA.is_dir():
        print(f"ERROR: sample directory {DATA} is missing")
        return 2

    cases = sample_cases(opts.seed) + generated_cases(opts.seed, opts.count) + fixed_cases()
    if opts.only:
        cases = [c for c in cases if c.name.startswith(opts.only)]

    work = tempfile.mkdtemp(prefix="texthash-diff-")
    try:
        return run_all(opts, cmap, work, cases)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(opts, cmap: str, work: str, cases: list) -> int:
    t0 = time.time()
    # Configuration directories (copies of the samples, checked).
    for conf in (CONF, CONF_OFF):
        text = (DATA / conf / "main.cf").read_bytes()
        assert b"compatibility_level = 3.6" in text, conf
        assert (b"smtputf8_enable = no" in text) == (conf == CONF_OFF), conf
        write_file(work, f"{conf}/main.cf", text)
    os.mkdir(os.path.join(work, "noconf"))
    # Value files for -F, and the sample value files.
    for name, data in VALUE_FILES.items():
        write_file(work, name, data)
    os.mkdir(os.path.join(os.fsencode(work), VALUE_DIR))
    for name in SAMPLE_VALUE_FILES:
        write_file(work, name, (DATA / name).read_bytes())
    # Sources.
    written = {}
    for case in cases:
        for name, data in case.sources.items():
            if name in written:
                assert written[name] == data, name
                continue
            written[name] = data
            write_file(work, name, data)
    # Texthash re-reads a file whose mtime is less than ~1 s old and then
    # prints its warnings again: make everything old.
    old = time.time() - 3600
    for root, dirs, files in os.walk(work):
        for n in files + dirs:
            os.utime(os.path.join(root, n), (old, old))
    if "mfuture" in written:
        future = time.time() + 3600
        os.utime(os.path.join(work, "mfuture"), (future, future))

    commands = [cmd for case in cases for cmd in case.commands]

    def job(cmd):
        return cmd, run_one(opts.postmap, cmd, work), run_one(cmap, cmd, work)

    failures = []
    notes_all = []
    seen = {label: 0 for label, _ in COVERAGE}
    found = {"q": [0, 0], "qb": [0, 0]}
    by_cause = {}
    done = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        for cmd, pm, cm in pool.map(job, commands):
            done += 1
            problems, notes = compare(cmd, pm, cm)
            notes_all += notes
            for line in pm.stderr.split(b"\n"):
                for label, rx in COVERAGE:
                    if rx.search(line):
                        seen[label] += 1
            if cmd.kind in found and pm.rc in (0, 1):
                found[cmd.kind][pm.rc] += 1
            if problems:
                failures.append((cmd, problems, notes, pm, cm))
                for kind, *_ in problems:
                    key = (cmd.kind, kind)
                    by_cause[key] = by_cause.get(key, 0) + 1
            if opts.verbose and done % 500 == 0:
                print(f"... {done}/{len(commands)} commands, {len(failures)} failed, "
                      f"{time.time() - t0:.0f}s", flush=True)

    # Group by signature; show one example of every group first.
    groups = {}
    for f in failures:
        groups.setdefault(signature(f[0], f[1]), []).append(f)
    ordered = [g[0] for g in groups.values()]
    ordered += [f for g in groups.values() for f in g[1:]]
    for i, (cmd, problems, notes, pm, cm) in enumerate(ordered):
        if i >= opts.max_report:
            print(f"... {len(failures) - opts.max_report} more failures not shown "
                  f"(use --max-report N)\n")
            break
        print(format_failure(cmd, problems, notes, pm, cm))
        print()

    if opts.save_failures and failures:
        save_failures(opts.save_failures, failures, work)

    failed_cases = sorted({cmd.case for cmd, *_ in failures})
    print("summary:")
    print(f"  postmap: {opts.postmap}; cmap: {cmap}; seed {opts.seed}, "
          f"{opts.count} generated sources; {time.time() - t0:.0f}s")
    if by_cause:
        for (ckind, what), n in sorted(by_cause.items()):
            label = {"s": "-s", "q": "-q KEY", "qb": "-q -", "err": "other"}[ckind]
            print(f"  {n:6d} x {what} differs ({label} commands)")
        print(f"  mismatch groups ({len(groups)}, by first differing line; count, example case):")
        for sig, fs in sorted(groups.items(), key=lambda x: -len(x[1]))[:40]:
            print(f"  {len(fs):6d}  [{fs[0][0].case}] {sig}")
        if len(groups) > 40:
            print(f"  ... {len(groups) - 40} more groups")
        print(f"  failing cases ({len(failed_cases)}): "
              + " ".join(failed_cases[:60]) + (" ..." if len(failed_cases) > 60 else ""))
    print("  postmap messages seen: " + ", ".join(f"{k} {v}" for k, v in seen.items()))
    print(f"  postmap -q KEY found/not found: {found['q'][0]}/{found['q'][1]}; "
          f"-q - some found/none found: {found['qb'][0]}/{found['qb'][1]}")
    missing = [k for k, v in seen.items() if v == 0]
    if missing and not opts.only:
        print(f"  WARNING: generator did not trigger: {', '.join(missing)}")
    if notes_all:
        print(f"  normaliser notes: {len(notes_all)} (first: {notes_all[0]})")
    print(f"texthash differential: {len(cases)} cases, {len(commands)} commands, "
          f"{len(failures)} failed")
    return 1 if failures else 0


def save_failures(dest: str, failures, work: str):
    os.makedirs(dest, exist_ok=True)
    script = ["#!/bin/bash", "# Repro commands; run in this directory with POSTMAP/CMAP set.",
              'POSTMAP=${POSTMAP:-/usr/sbin/postmap}; CMAP=${CMAP:-cmap}', "cd \"$(dirname \"$0\")\""]
    for name in os.listdir(work):
        src = os.path.join(work, name)
        dst = os.path.join(dest, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    for cmd, *_ in failures:
        line = command_line("$P", cmd)
        script.append(f"# {cmd.case}")
        script.append(f"for P in \"$POSTMAP\" \"$CMAP\"; do {line}; echo \"exit=$?\"; done")
    with open(os.path.join(dest, "repro.sh"), "w") as f:
        f.write("\n".join(script) + "\n")


if __name__ == "__main__":
    sys.exit(main())
