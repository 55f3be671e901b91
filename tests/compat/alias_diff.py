#!/usr/bin/env python3
"""cmap --alias against real postalias(1): aliases(5) sources, every table type.

Sources: aliases(5)'s own example and a list of quirks (quoted names,
|commands, :include:, comments, trailing commas, escapes, non-local and
malformed names, duplicates, the "@" sentinel, UTF-8, NUL), then ROUNDS
generated files built from the tokens postalias's tokenizer tells apart.
Each source is built by postalias and by cmap --alias as hash:, btree:,
lmdb: and cdb:, and then:
  - the builds' exit status and warnings are the same;
  - real postalias lists (-s) or looks up (-q -, for cdb:) cmap's table
    exactly as its own: Postfix reads what cmap wrote;
  - cmap --alias answers -s, -q - and -q KEY on postalias's table exactly as
    postalias does: cmap reads what Postfix wrote;
  - -i and -d change both tables alike.
YP_LAST_MODIFIED holds the build's time; its value is replaced by a
placeholder before comparing (the two builds may fall in different seconds).
"""
import argparse
import os
import random
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from oracle import Oracle  # noqa: E402

ROUNDS = 40
TYPES = [("hash", ".db"), ("btree", ".db"), ("lmdb", ".lmdb"), ("cdb", ".cdb")]

# aliases(5), Postfix 3.7.11 (retyped), plus the forms it describes.
MAN_EXAMPLE = """# Basic system aliases -- these MUST be present
MAILER-DAEMON:  postmaster
postmaster:     root

# General redirections for pseudo accounts
bin:            root
daemon:         root
named:          root
nobody:         root
uucp:           root
www:            root
ftp-bugs:       root
postfix:        root

# Put your local aliases here.

# Well-known aliases
manager:        root
dumper:         root
operator:       root
abuse:          postmaster

# trap decode to catch security attacks
decode:         root

# deliveries of the forms aliases(5) lists
file-archive:   /var/spool/archive/mail
program:        "|/usr/bin/vacation -a allman"
list:           :include:/etc/mail/list.members
everyone:       alice, bob,
                carol@example.com
"""

QUIRKS = r"""# names
"john doe": john
"quoted@name": x
"quoted,name": y
a\@b: escaped
a\ b: escaped-space
first.last: dotted
Upper.Case: MixedCase@Example.COM
two words: joined
(comment) named: after-comment
named2 (comment): before-colon
 indented-at-top: nothing
# not local, or not a pair
user@example.com: remote
user%relay: percent
a, b: list-name
nocolon value
: noname
empty:
# values
quote: "a b", "c\"d", "e\\f"
comments: a (first), b (second (nested))
pipes: |/bin/cat, "|/usr/bin/prog -x"
includes: :include:/etc/x, /var/mail/file
literal: user@[192.0.2.1], [IPv6:2001:db8::1]
angles: Name <user@example.com>, <other@example.com>
trailing: a, b,
colons: a:b:c
double::colon
escaped: a\,b, c\"d, \(e\)
bang: host!user, %hack
semicolon: a; b
group: list: a, b;
backslash-end: a\
empty-atom: \
multi: a,
  b,
	c
# duplicates and the sentinel
dup: first
DUP: second
"@": at-sign
"YP_MASTER_NAME": quoted-yp
"": empty-name
"""

QUIRKS_UTF8 = "ÄRGER: äh\nstraße: x\nΣΊΣΥΦΟΣ: greek\n".encode() + b"bad\xff: skipped\nok: v\n"

# Tokens the generator joins into names and values.
NAME_WORDS = ["root", "Alice", "bob", "x-y", "a.b", '"q w"', '"q@w"', "a\\@b", "(c)",
              "owner-list", "MAILER-DAEMON", "ü", "x\\,y", "Mixed.Case"]
VALUE_WORDS = ["root", "alice@example.com", '"|/usr/bin/prog arg"', "|/bin/cat",
               ":include:/etc/mail/x", "/var/mail/file", "Name <a@b.c>", "(comment)",
               "[192.0.2.1]", "user@[IPv6:::1]", '"a\\"b"', "a\\ b", "x!y", "%p", "<>",
               "Bob.Smith@Example.COM", "é@example.com", "a;b", "@", "a:b"]


def generated(rng):
    lines = []
    for _ in range(rng.randint(1, 25)):
        r = rng.random()
        if r < 0.08:
            lines.append(rng.choice(["# comment", "", "   ", "#x: y"]))
            continue
        name = " ".join(rng.choice(NAME_WORDS) for _ in range(rng.choice([1, 1, 1, 2])))
        if r < 0.12:
            name = rng.choice(["a@b", "p%q", "a, b", ""])
        sep = rng.choice([":", ": ", " : ", ":\t", ":"])
        if r > 0.97:
            sep = " "
        values = [rng.choice(VALUE_WORDS) for _ in range(rng.randint(0, 4))]
        joiner = rng.choice([", ", ",", " ", ",\n\t", ", \n  "])
        tail = rng.choice(["", "", ",", " ", "\t"])
        lines.append(name + sep + joiner.join(values) + tail)
    return "\n".join(lines) + rng.choice(["\n", ""])


TABLE_NAME = re.compile(rb"(?<![\w/-])(pa|cm)\b")
YP_STAMP = re.compile(rb"(YP_LAST_MODIFIED:?\t)[0-9]{10}")
# Deliberate differences in messages: cmap quotes only a bad line's first
# word (the rest may be a password in other sources), and names itself in
# its usage line.
REDACTED = re.compile(rb'(non-UTF-8 input "[^ "]*)[^"]*(" -- ignoring)')
# cmap also names the line of a logical line that starts with whitespace,
# and quotes only its first word (tests/compat/texthash_diff.py checks that
# form exactly).
LEADING_SPACE = re.compile(rb'(warning: [^,:\n]+)(, line [0-9]+)?: logical line must not start '
                           rb'with whitespace: "[^\n]*"')


def normalize_messages(err):
    err = REDACTED.sub(rb"\1 ...\2", err)
    err = LEADING_SPACE.sub(rb'\1: logical line must not start with whitespace: "..."', err)
    return err.replace(b"usage: cmap --alias ", b"usage: postalias ")


def stamp_free(out):
    return YP_STAMP.sub(rb"\1<time>", out)


def keys_of(source):
    """Names to look up: every line's first word and variants, plus the
    bookkeeping keys."""
    if isinstance(source, bytes):
        source = source.decode("utf-8", "surrogateescape")
    keys = {"@", "YP_LAST_MODIFIED", "YP_MASTER_NAME", "yp_master_name", "missing",
            "root", "ROOT", "john doe", "a@b", "q w"}
    for line in source.splitlines():
        head = line.split(":", 1)[0].strip()
        if head and "\x00" not in head:
            keys.add(head)
            keys.add(head.upper())
            keys.add(head.strip('"'))
    return "".join(k + "\n" for k in sorted(keys) if "\n" not in k).encode("utf-8", "surrogateescape")


class AliasCheck:
    def __init__(self, cmap):
        postalias = shutil.which("postalias") or "/usr/sbin/postalias"
        self.o = Oracle(cmap, "cmap-alias-", postmap=postalias, cmap_args=["--alias"])
        with open(self.o.path("conf/main.cf"), "a") as f:
            f.write("myhostname = mx.example.org\n")
        os.utime(self.o.path("conf/main.cf"), (0, 0))
        self.count = 0

    def build(self, label, source, typ, suffix):
        """Builds `source` with both; leaves pa<suffix> (postalias's) and
        cm<suffix> (cmap's)."""
        o = self.o
        o.write("aliases", source)
        for name in ("pa", "cm"):
            if os.path.exists(o.path(name + suffix)):
                os.remove(o.path(name + suffix))
        want = o.run(o.postmap, [f"{typ}:aliases"])
        os.rename(o.path("aliases" + suffix), o.path("pa" + suffix))
        got = o.run(o.cmap, [f"{typ}:aliases"])
        if os.path.exists(o.path("aliases" + suffix)):
            os.rename(o.path("aliases" + suffix), o.path("cm" + suffix))
        want = (want[0], want[1], sorted(normalize_messages(want[2]).splitlines()))
        got = (got[0], got[1], sorted(normalize_messages(got[2]).splitlines()))
        o.check(f"{label} {typ} build", want == got, f"postalias {want!r}\n  cmap      {got!r}")
        return want[0] == 0 and got[0] == 0

    def same(self, label, a, b):
        # The two tables' names (pa, cm) in messages, and nothing else.
        a = (a[0], stamp_free(a[1]), TABLE_NAME.sub(b"T", a[2]))
        b = (b[0], stamp_free(b[1]), TABLE_NAME.sub(b"T", b[2]))
        self.o.check(label, a == b, f"\n  want {a!r}\n  got  {b!r}")

    def check_source(self, label, source, query_keys=True):
        o = self.o
        keys = keys_of(source)
        for typ, suffix in TYPES:
            self.count += 1
            if not self.build(label, source, typ, suffix):
                continue
            pa, cm = f"{typ}:pa", f"{typ}:cm"
            # Postfix reads cmap's table as its own; cmap reads Postfix's.
            want = o.run(o.postmap, ["-s", pa])
            self.same(f"{label} {typ}: postalias -s on cmap's table",
                      want, o.run(o.postmap, ["-s", cm]))
            if typ == "hash":
                listed = sorted(stamp_free(want[1]).splitlines())
            if typ != "cdb":
                self.same(f"{label} {typ}: cmap -s on postalias's table",
                          want, o.run(o.cmap, ["-s", pa]))
            else:
                # postalias cannot list a cdb: table (cmap can): the records
                # must be those postalias lists of its own hash: table.
                got = o.run(o.cmap, ["-s", pa])
                o.check(f"{label} cdb: cmap -s on postalias's table",
                        got[0] == 0 and sorted(stamp_free(got[1]).splitlines()) == listed,
                        repr(got))
            if query_keys:
                want = o.run(o.postmap, ["-q", "-", pa], stdin=keys)
                self.same(f"{label} {typ}: postalias -q - on cmap's table",
                          want, o.run(o.postmap, ["-q", "-", cm], stdin=keys))
                self.same(f"{label} {typ}: cmap -q - on postalias's table",
                          want, o.run(o.cmap, ["-q", "-", pa], stdin=keys))
                for key in keys.decode("utf-8", "surrogateescape").splitlines()[:3]:
                    k = key.encode("utf-8", "surrogateescape")
                    if k.startswith(b"-"):
                        continue
                    self.same(f"{label} {typ}: -q {key!r}",
                              o.run(o.postmap, ["-q", k, pa]), o.run(o.cmap, ["-q", k, cm]))

    def check_update(self, typ, suffix):
        """-i and -d on both tables alike."""
        o = self.o
        if not self.build("update", MAN_EXAMPLE, typ, suffix):
            return
        more = b"newname: a, b\nroot: replaced\nx@y: remote\n\"q w\": \"|prog\"\n"
        self.same(f"-i {typ}", o.run(o.postmap, ["-i", f"{typ}:pa"], stdin=more),
                  o.run(o.cmap, ["-i", f"{typ}:cm"], stdin=more))
        self.same(f"-i {typ} again", o.run(o.postmap, ["-i", f"{typ}:pa"], stdin=more),
                  o.run(o.cmap, ["-i", f"{typ}:cm"], stdin=more))
        for args in (["-d", "root"], ["-d", "missing"]):
            self.same(f"{args} {typ}", o.run(o.postmap, [*args, f"{typ}:pa"]),
                      o.run(o.cmap, [*args, f"{typ}:cm"]))
        keys = keys_of(MAN_EXAMPLE.replace("\n", "\nnewname: x\nq w: y\n", 1))
        self.same(f"-i/-d {typ}: postalias reads both alike",
                  o.run(o.postmap, ["-q", "-", f"{typ}:pa"], stdin=keys),
                  o.run(o.postmap, ["-q", "-", f"{typ}:cm"], stdin=keys))
        if typ != "cdb":
            self.same(f"-i/-d {typ}: -s", o.run(o.postmap, ["-s", f"{typ}:pa"]),
                      o.run(o.postmap, ["-s", f"{typ}:cm"]))

    def check_command_lines(self):
        o = self.o
        o.write("aliases", MAN_EXAMPLE)
        for args in (["-q"], ["-x", "hash:aliases"], ["-s", "-q", "x", "hash:aliases"],
                     ["-q", "x"], [], ["-b", "hash:aliases"], ["-F", "hash:aliases"],
                     ["proxy:hash:aliases"], ["-q", "root", "hash:missing"]):
            o.compare(f"command line {args}", args, normalize=normalize_messages)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    opts = ap.parse_args()
    rng = random.Random(opts.seed)
    c = AliasCheck(opts.cmap)
    try:
        c.check_source("aliases(5) example", MAN_EXAMPLE)
        c.check_source("quirks", QUIRKS)
        c.check_source("utf-8", QUIRKS_UTF8)
        c.check_source("nul", b"a: b\x00c\nd\x00e: f\ng: h\n")
        c.check_source("crlf", b"a: b\r\nc: d,\r\n  e\r\n")
        for typ, suffix in TYPES:
            c.check_update(typ, suffix)
        c.check_command_lines()
        for i in range(opts.rounds):
            c.check_source(f"generated #{i}", generated(rng), query_keys=i % 2 == 0)
        # Whitespace before the first logical line, as postalias warns.
        c.check_source("leading whitespace", " : x\n indented: y\nok: z\n")
    finally:
        c.o.close()
    return c.o.report(f"alias: {c.count} builds")


if __name__ == "__main__":
    sys.exit(main())
