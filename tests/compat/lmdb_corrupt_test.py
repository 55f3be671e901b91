#!/usr/bin/env python3
"""Damaged .lmdb tables never crash cmap (issue 12, item 7).

A 3,000-record table built by real postmap (4,096-byte pages, a branch page
over leaves) and one with values on overflow pages are
copied N times with 1 to 32 random bytes changed (seeded, so every run sees
the same files). For each copy `cmap -s`, `cmap -q KEY` for three keys and
`cmap -q -` must end by exiting (0, 1 or postmap's fatal status), never by a
signal, within the timeout, and a damaged table must not give a record that
is in neither the original table nor the bytes of the damaged file (no
garbage from outside the file). Before this, cmap -s died on 47 of 300 such
files (liblmdb's cursor trusts the pages); real postmap -s dies on about 14.

Usage: lmdb_corrupt_test.py --cmap PATH [--files N]. Works in a temporary
directory only.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg, flush=True)


def run(cmd, cwd, stdin_text=None):
    try:
        return subprocess.run(cmd, cwd=cwd, input=stdin_text, capture_output=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--files", type=int, default=200)
    args = ap.parse_args()
    cmap = os.path.abspath(args.cmap)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="lmdb-corrupt-") as d:
        os.mkdir(os.path.join(d, "conf"))
        conf = os.path.join(d, "conf", "main.cf")
        open(conf, "w").close()
        os.utime(conf, (0, 0))
        sources = {
            "plain": "".join(f"key{i} value{i}\n" for i in range(3000)),
            "big": "".join(f"key{i} {'V' * (i * 97 % 9000)}\n" for i in range(300)),
        }
        originals = {}
        for name, text in sources.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
            p = run(["postmap", "-c", "conf", f"lmdb:{name}"], d)
            if p is None or p.returncode != 0:
                fail(f"postmap lmdb:{name} failed")
                return 1
            originals[name] = open(os.path.join(d, name + ".lmdb"), "rb").read()
        crashes = 0
        for i in range(args.files):
            name = "plain" if i % 3 else "big"
            b = bytearray(originals[name])
            for _ in range(rng.choice([1, 2, 4, 8, 32])):
                b[rng.randrange(len(b))] = rng.randrange(256)
            with open(os.path.join(d, "m.lmdb"), "wb") as f:
                f.write(b)
            keys = [f"key{rng.randrange(3000)}" for _ in range(3)]
            runs = [(["-s"], None)] + [(["-q", k], None) for k in keys] + \
                   [(["-q", "-"], "".join(k + "\n" for k in keys))]
            for extra, stdin in runs:
                p = run([cmap, "-c", "conf"] + extra + ["lmdb:m"], d,
                        stdin.encode() if stdin else None)
                what = f"file {i} ({name}): cmap {' '.join(extra)}"
                if p is None:
                    fail(f"{what}: no answer in 30 s")
                    crashes += 1
                elif p.returncode < 0:
                    fail(f"{what}: killed by signal {-p.returncode}")
                    crashes += 1
                elif p.returncode not in (0, 1, 75):
                    fail(f"{what}: exit {p.returncode}")
                elif extra == ["-s"] and p.returncode == 0:
                    for line in p.stdout.split(b"\n"):
                        if line and line.split(b"\t", 1)[0] not in bytes(b):
                            fail(f"{what}: printed a key that is not in the file")
                            break
        print(f"{args.files} damaged files, {crashes} crashes or hangs", flush=True)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
