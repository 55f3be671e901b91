#!/usr/bin/env python3
"""static:, inline:, fail:, environ:, unionmap: and pipemap: against real postmap.

For each type, 300 generated table specs (random keys in both cases, values
with blanks inside inner braces, repeated keys, empty values, nesting of
unionmap and pipemap over inline, static, environ and fail) are queried
with generated keys through `-q -` (hits, misses, case), some with `-q KEY`
and `-f`, inline also with `-s`; then the malformed specs of the man pages
and of Postfix's parser. Standard output, standard error (program name
replaced) and exit status must be the same as real postmap's.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

failures = []
ROUNDS = 300


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {detail}")


def word(rng, upper=True):
    letters = "abcdefgh" + ("ABCD" if upper else "")
    return "".join(rng.choice(letters) for _ in range(rng.randint(1, 3)))


def value(rng):
    v = rng.choice(["", "1", "ok", "REJECT", "x y", "a,b", "550 no", "v=1"])
    return v


def gen_inline(rng):
    items = []
    for _ in range(rng.randint(1, 6)):
        k, v = word(rng), value(rng)
        if " " in v or "," in v or "=" in v or rng.random() < 0.2:
            items.append(f"{{ {k} = {v} }}" if rng.random() < 0.5 else f"{{{k}={v}}}")
        else:
            items.append(f"{k}={v}")
    sep = rng.choice([", ", ",", " ", " , "])
    pad = rng.choice(["", " "])
    return f"inline:{{{pad}{sep.join(items)}{pad}}}"


def gen_static(rng):
    v = value(rng)
    if v == "" or " " in v or "," in v or rng.random() < 0.3:
        return f"static:{{{rng.choice(['', ' '])}{v}{rng.choice(['', ' '])}}}"
    return f"static:{v}"


def gen_leaf(rng):
    return rng.choice([gen_inline, gen_inline, gen_static,
                       lambda r: "environ:" + word(r)])(rng)


def gen_list(rng, kind, depth=0):
    parts = []
    for _ in range(rng.randint(1, 4)):
        if depth < 2 and rng.random() < 0.2:
            parts.append(gen_list(rng, rng.choice(["unionmap", "pipemap"]), depth + 1))
        else:
            parts.append(gen_leaf(rng))
    return f"{kind}:{{{rng.choice([', ', ',', ' '])}".replace(", ", "", 1) + \
        rng.choice([", ", ",", " "]).join(parts) + "}"


def keys_for(rng, spec):
    """Keys likely to hit (the spec's words, in either case) and misses."""
    words = set()
    for token in spec.replace("{", " ").replace("}", " ").replace(",", " ").replace(
            "=", " ").split():
        if token.isalpha():
            words.add(token)
    keys = list(words) + [w.upper() for w in words] + ["", "zz", "a b", "LANG", "lang",
                                                       "Ab", "tz"]
    rng.shuffle(keys)
    return keys[:12]


def run(prog, work, args, stdin=None):
    env = dict(os.environ, LANG="en_US.UTF-8", ab="environ-ab", AB="environ-AB",
               tz="lower-tz")
    p = subprocess.run([prog, "-c", "conf", *args], cwd=work, input=stdin,
                       capture_output=True, timeout=60, env=env)
    name = os.path.basename(prog).encode()
    return p.returncode, p.stdout, p.stderr.replace(name + b":", b"PROG:")


def compare(name, postmap, cmap, work, args, stdin=None, sort_stdout=False):
    want = run(postmap, work, args, stdin)
    got = run(cmap, work, args, stdin)
    if sort_stdout:
        want = (want[0], sorted(want[1].splitlines()), sorted(want[2].splitlines()))
        got = (got[0], sorted(got[1].splitlines()), sorted(got[2].splitlines()))
    check(name, want == got, f"args {args!r} stdin {stdin!r}\n  postmap: {want!r}\n"
                             f"  cmap:    {got!r}")


# Malformed specs and edge cases, each with a key to look up.
EDGE = [
    "static:{}", "static:{foo", "static:{ x y }z", "static:{{x}}", "static:",
    "inline:{}", "inline:a=1", "inline:{a=1", "inline:{a=1}x", "inline:{ a = 1 }",
    "inline:{a, b=2}", "inline:{{b}}", "inline:{a=1,a=}", "inline:{{ a = }}",
    "unionmap:{}", "unionmap:inline:{a=1}", "unionmap:{nosuch:x}", "pipemap:{}",
    "pipemap:{inline:{a=b},{inline:{b=c}}}", "unionmap:{static:1,fail:y}",
    "pipemap:{static:a, fail:z}", "fail:x", "fail:", "unionmap:{inline:{a=1}, static:{x, y}}",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--seed", type=int, default=14)
    opts = ap.parse_args()
    cmap = os.path.abspath(opts.cmap)
    postmap = shutil.which("postmap") or "/usr/sbin/postmap"
    rng = random.Random(opts.seed)
    work = tempfile.mkdtemp(prefix="cmap-composite-")
    try:
        os.mkdir(os.path.join(work, "conf"))
        path = os.path.join(work, "conf", "main.cf")
        with open(path, "w") as f:
            f.write("compatibility_level = 3.6\n")
        os.utime(path, (0, 0))
        gens = {
            "static": gen_static,
            "inline": gen_inline,
            "environ": lambda r: "environ:" + word(r),
            "unionmap": lambda r: gen_list(r, "unionmap"),
            "pipemap": lambda r: gen_list(r, "pipemap"),
        }
        for kind, gen in gens.items():
            for i in range(ROUNDS):
                spec = gen(rng)
                keys = keys_for(rng, spec)
                flags = ["-f"] if rng.random() < 0.3 else []
                compare(f"{kind} #{i} -q -", postmap, cmap, work,
                        [*flags, "-q", "-", spec], ("\n".join(keys) + "\n").encode())
                if i % 10 == 0:
                    compare(f"{kind} #{i} -q", postmap, cmap, work,
                            [*flags, "-q", keys[0] if keys else "a", spec])
                if kind == "inline" and i % 5 == 0:
                    # postmap lists an inline: table in the order of its
                    # internal hash table; cmap in the order written. The
                    # records and messages (one pair per empty value) must be
                    # the same.
                    compare(f"{kind} #{i} -s", postmap, cmap, work, ["-s", spec],
                            sort_stdout=True)
        for spec in EDGE:
            compare(f"edge {spec}", postmap, cmap, work, ["-q", "a", spec])
        # Two tables on the command line: the first with a hit wins.
        compare("two tables", postmap, cmap, work,
                ["-q", "-", "inline:{a=1}", "unionmap:{static:x, inline:{b=2}}"], b"a\nb\nc\n")
        # Lookup-only types are never built, changed or listed.
        for args in (["-s", "static:x"], ["-s", "unionmap:{static:x}"], ["-d", "a", "inline:{a=1}"],
                     ["-d", "a", "static:x"]):
            compare(f"refused {args}", postmap, cmap, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures[:int(os.environ.get("SHOW", "30"))]:
        print("FAIL", f)
    print(f"composite: {len(gens) * ROUNDS} generated specs, {len(EDGE)} edge specs, "
          f"{len(failures)} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
