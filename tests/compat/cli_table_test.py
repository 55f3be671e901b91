#!/usr/bin/env python3
"""A table of postmap command lines, good and bad, run by real postmap and by
cmap in identical scratch directories. Each must give the same exit status,
stdout and stderr (program name aside), and leave tables with the same
contents (read back with real `postmap -s`).

Where cmap deliberately differs (see docs/atomic-rebuilds.md and
docs/source-format.md), the case says so and what is compared instead.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

LONG510 = "k" * 510
LONG511 = "k" * 511

FILES = {
    "s": "k1 v1\nK2 Value Two\n[relay.example.jp]:587 user:secret\n",
    "t": "t1 x\n",
    "dups": "dup first\nother x\nDUP second\ndup third\n",
    "m1": "a 1\nb 2\n",
    "m2": "b 22\nc 33\n",
    "utf8": "Stra\u00dfe sharp-s\n\u00c4\u00d6\u00dc umlaut\n\ufb01le lig\n",
    "b64files": "k1 p1.txt\nk2 p1.txt, p2.txt\nk4 missing.txt\n",
    "p1.txt": "hello\n",
    "p2.txt": "world",
    "empty": "",
    "key510": LONG510 + " v\n",
    "key511": LONG511 + " v\n",
    "syntax": ("alpha one # data\n  # comment\n  cont\nepsilon\nzeta: z\n"
               "\"quoted key\" qv\ncrlf v\r\n"),
    # (Lines that postmap quotes whole are compared in texthash_diff.py,
    # which applies cmap's documented redaction.)
}

# (name, argv, stdin, note). `note` marks a deliberate difference.
CASES = [
    ("build", ["lmdb:s"], None, None),
    ("build two maps", ["lmdb:s", "lmdb:t"], None, None),
    ("build dups default", ["lmdb:dups"], None, None),
    ("build dups -r", ["-r", "lmdb:dups"], None, None),
    ("build dups -w", ["-w", "lmdb:dups"], None, None),
    ("build dups -rw", ["-rw", "lmdb:dups"], None, None),
    ("build dups -wr", ["-w", "-r", "lmdb:dups"], None, None),
    ("build dups -f", ["-f", "lmdb:dups"], None, None),
    ("build -n", ["-n", "lmdb:s"], None, None),
    ("build -N", ["-N", "lmdb:s"], None, None),
    ("build -u", ["-u", "lmdb:utf8"], None, None),
    ("build utf8", ["lmdb:utf8"], None, None),
    ("build -F", ["-F", "lmdb:b64files"], None, None),
    ("build syntax", ["lmdb:syntax"], None, None),
    ("build empty", ["lmdb:empty"], None, None),
    ("build 510-byte key", ["lmdb:key510"], None, None),
    ("build 511-byte key -n", ["-n", "lmdb:key511"], None, None),
    ("build 511-byte key", ["lmdb:key511"], None,
     "cmap names the source line and the limit, and creates no file"),
    ("build missing source", ["lmdb:nosuch"], None, None),
    ("build default type from main.cf", ["-c", "lmconf", "s"], None, None),
    ("build -p", ["-p", "lmdb:s"], None, None),
    ("build -o", ["-o", "lmdb:s"], None, None),
    ("build texthash", ["texthash:s"], None, None),
    ("build bogus type", ["bogus:s"], None, None),
    # Types Postfix knows only for lookups, and proxy: (issue 18: postmap's
    # words, not a package that does not exist).
    ("build regexp", ["regexp:s"], None, None),
    ("build pcre", ["pcre:s"], None, None),
    ("build static", ["static:s"], None, None),
    ("build proxy", ["proxy:lmdb:s"], None, None),
    ("incremental regexp", ["-i", "regexp:s"], "a 1\n", None),
    ("delete regexp", ["-d", "k1", "regexp:s"], None, None),
    ("build ldap (not installed)", ["ldap:s"], None, None),
    ("build empty name", ["lmdb:"], None, None),
    ("build empty type", [":s"], None, None),
    ("query", ["-q", "K1", "lmdb:s"], None, None),
    ("query miss", ["-q", "nope", "lmdb:s"], None, None),
    ("query first map wins", ["-q", "b", "lmdb:m1", "lmdb:m2"], None, None),
    ("query second map", ["-q", "c", "lmdb:m1", "lmdb:m2"], None, None),
    ("query stdin", ["-q", "-", "lmdb:m1", "lmdb:m2"], "a\nB\nc\nzz\nc\r\n", None),
    ("query stdin none", ["-q", "-", "lmdb:m1"], "zz\n", None),
    ("query -N on default map", ["-N", "-q", "k1", "lmdb:s"], None, None),
    ("query -n on default map", ["-n", "-q", "k1", "lmdb:s"], None, None),
    ("query -f", ["-f", "-q", "K2", "lmdb:s"], None, None),
    ("query -F", ["-F", "-q", "k2", "lmdb:b64files"], None, None),
    ("query missing table", ["-q", "x", "lmdb:nonexistent"], None, None),
    ("query bogus type", ["-q", "x", "bogus:s"], None, None),
    ("query zero-length lmdb", ["-q", "x", "lmdb:zero"], None, None),
    ("query garbage lmdb", ["-q", "x", "lmdb:garbage"], None, None),
    ("query texthash", ["-q", "k1", "texthash:s"], None, None),
    ("query empty key", ["-q", "", "lmdb:s"], None, None),
    ("sequence", ["-s", "lmdb:s"], None, None),
    ("sequence first map only", ["-s", "lmdb:m1", "lmdb:m2"], None, None),
    ("sequence no map", ["-s"], None, None),
    ("delete", ["-d", "k1", "lmdb:s"], None, None),
    ("delete folded", ["-d", "K1", "lmdb:s"], None, None),
    ("delete miss", ["-d", "nope", "lmdb:s"], None, None),
    ("delete from two maps", ["-d", "b", "lmdb:m1", "lmdb:m2"], None, None),
    ("delete stdin", ["-d", "-", "lmdb:m1", "lmdb:m2"], "a\nc\nzz\n", None),
    ("delete texthash", ["-d", "k1", "texthash:s"], None, None),
    ("delete missing lmdb", ["-d", "k1", "lmdb:nonexistent"], None,
     "postmap creates an empty nonexistent.lmdb; cmap creates nothing"),
    ("incremental", ["-i", "lmdb:s"], "k3 v3\nk1 again\nK4 v4\n", None),
    ("incremental -r", ["-r", "-i", "lmdb:s"], "k1 again\n", None),
    ("incremental new table", ["-i", "lmdb:fresh"], "a 1\n", None),
    ("incremental texthash", ["-i", "texthash:s"], "a 1\n", None),
    ("usage: no map for -q", ["-q", "k"], None, None),
    ("usage: no arguments", [], None, None),
    ("invalid option", ["-Z", "lmdb:s"], None, None),
    ("missing option argument", ["-q"], None, None),
    ("-s then -q", ["-s", "-q", "k", "lmdb:s"], None, None),
    ("-q then -s", ["-q", "k", "-s", "lmdb:s"], None, None),
    ("-q then -d", ["-q", "k", "-d", "k", "lmdb:s"], None, None),
    ("-b without -q -", ["-b", "-q", "k", "lmdb:s"], None, None),
    ("-h with build", ["-h", "lmdb:s"], None, None),
    ("-m alone", ["-m", "-q", "-", "lmdb:s"], "k1\n", None),
    ("missing config dir", ["-c", "nodir", "-q", "k", "lmdb:s"], None, None),
]

# Tables prepared (by real postmap) before the cases that read them.
PREBUILT = ["s", "t", "m1", "m2", "b64files"]


def setup(work, postmap_conf):
    os.makedirs(work)
    for name, text in FILES.items():
        with open(os.path.join(work, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    for conf, extra in (("conf", ""), ("lmconf", "default_database_type = lmdb\n")):
        os.mkdir(os.path.join(work, conf))
        with open(os.path.join(work, conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n" + extra)
    for name in PREBUILT:
        opts = ["-F"] if name == "b64files" else []
        subprocess.run(["postmap", "-c", "conf", *opts, f"lmdb:{name}"], cwd=work,
                       check=True, capture_output=True)
    open(os.path.join(work, "zero.lmdb"), "w").close()
    with open(os.path.join(work, "garbage.lmdb"), "w") as f:
        f.write("this is not an lmdb file\n" * 200)


def run(prog, work, argv, stdin):
    args = [prog] + (argv if argv[:1] == ["-c"] else ["-c", "conf"] + argv)
    p = subprocess.run(args, cwd=work, input=(stdin or "").encode(),
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def normalize(stderr):
    text = stderr.decode("utf-8", "replace")
    text = re.sub(r"^(postmap|cmap): ", "PROG: ", text, flags=re.M)
    text = text.replace("usage: postmap [", "usage: PROG [").replace(
        "usage: cmap [", "usage: PROG [")
    return text


def tables(work):
    """Contents of every .lmdb table in `work`, read by real postmap."""
    out = {}
    for name in sorted(os.listdir(work)):
        if not name.endswith(".lmdb") or name in ("zero.lmdb", "garbage.lmdb"):
            continue
        base = name[:-5]
        p = subprocess.run(["postmap", "-c", "conf", "-s", f"lmdb:{base}"], cwd=work,
                           capture_output=True, timeout=120)
        out[name] = (p.returncode, sorted(p.stdout.split(b"\n")))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    opts = ap.parse_args()
    if shutil.which("postmap") is None:
        print("SKIP: postmap (Debian package postfix) is not installed")
        return 77
    cmap = os.path.abspath(opts.cmap)
    root = tempfile.mkdtemp(prefix="cmap-cli-table-")
    failures = 0
    try:
        for i, (name, argv, stdin, note) in enumerate(CASES):
            results = {}
            for prog in ("postmap", cmap):
                work = os.path.join(root, f"{i}-{os.path.basename(prog)}")
                setup(work, "conf")
                rc, out, err = run(prog, work, argv, stdin)
                results[prog] = (rc, out, normalize(err), tables(work))
            p, c = results["postmap"], results[cmap]
            problems = []
            if p[0] != c[0]:
                problems.append(f"exit {p[0]} vs {c[0]}")
            if p[1] != c[1]:
                problems.append(f"stdout {p[1][:200]!r} vs {c[1][:200]!r}")
            if note is None:
                if p[2] != c[2]:
                    problems.append(f"stderr\n  postmap: {p[2]!r}\n  cmap:    {c[2]!r}")
                if p[3] != c[3]:
                    problems.append(f"tables {sorted(p[3])} vs {sorted(c[3])} "
                                    "(or their contents) differ")
            else:
                # The deliberate differences concern messages and debris
                # files; both must still fail or succeed alike, with a fatal
                # message, and every table both have must hold the same.
                if ("fatal" in p[2]) != ("fatal" in c[2]):
                    problems.append(f"stderr\n  postmap: {p[2]!r}\n  cmap:    {c[2]!r}")
                for t in set(p[3]) & set(c[3]):
                    if p[3][t] != c[3][t]:
                        problems.append(f"table {t} differs")
            status = "ok" if not problems else "FAIL"
            print(f"{status:4} {name}: {' '.join(argv)}" +
                  (f"  [{note}]" if note else ""))
            for pr in problems:
                print("     " + pr)
            failures += bool(problems)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"cli table: {len(CASES)} command lines, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
