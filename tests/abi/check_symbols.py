#!/usr/bin/env python3
"""The symbols libmaps.so exports, against the committed list.

Lists the dynamic symbols the library defines (`nm -D --defined-only`,
demangled, with their version node), and fails when
  * a symbol outside the C API (libmaps_*) and the C++ API (namespace
    libmaps, its vtables and type information) is exported;
  * a symbol is not under the version node LIBMAPS_0;
  * the list differs from tests/abi/symbols.txt: an addition must be
    committed there on purpose, a removal breaks the ABI (docs/abi.md).
Weak functions (nm type W: inline functions of the headers that the
compiler chose to emit; g++ emits Map's inline virtuals, clang does not)
are checked against the rules above but left out of the list: every
consumer has its own copy of them.
With --update, writes the list instead of comparing (review the diff).
"""
import argparse
import os
import re
import subprocess
import sys

ALLOWED = re.compile(r"^(libmaps_\w+|libmaps::.*|(typeinfo|typeinfo name|vtable) for libmaps::.*)$")


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", "--with-symbol-versions", lib],
                         check=True, capture_output=True, text=True).stdout
    symbols = []
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2]
        version = ""
        if "@" in name:
            name, version = re.split(r"@+", name, maxsplit=1)
        if name == version or name in ("LIBMAPS_0",):  # the version node itself
            continue
        symbols.append((name, version, kind))
    names = [n for n, _, _ in symbols]
    demangled = subprocess.run(["c++filt"], input="\n".join(names), check=True,
                               capture_output=True, text=True).stdout.splitlines()
    return sorted((d, v, k) for d, (_, v, k) in zip(demangled, symbols))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--list", default=os.path.join(os.path.dirname(__file__), "symbols.txt"))
    ap.add_argument("--update", action="store_true")
    opts = ap.parse_args()
    symbols = exported(opts.lib)
    problems = []
    for name, version, _ in symbols:
        if not ALLOWED.match(name):
            problems.append(f"exported but not public API: {name}")
        if version != "LIBMAPS_0":
            problems.append(f"not under LIBMAPS_0 ({version or 'no version'}): {name}")
    lines = [name for name, _, kind in symbols if kind != "W"]
    if opts.update:
        with open(opts.list, "w") as f:
            f.write("# Exported by libmaps.so (version node LIBMAPS_0), demangled, sorted.\n"
                    "# Regenerate: tests/abi/check_symbols.py --lib build/libmaps/libmaps.so "
                    "--update\n")
            f.write("\n".join(lines) + "\n")
    else:
        want = [l for l in open(opts.list).read().splitlines() if l and not l.startswith("#")]
        for name in sorted(set(want) - set(lines)):
            problems.append(f"removed (an ABI break): {name}")
        for name in sorted(set(lines) - set(want)):
            problems.append(f"added (commit it in tests/abi/symbols.txt): {name}")
    for p in problems:
        print("FAIL", p)
    c = sum(1 for n in lines if n.startswith("libmaps_"))
    print(f"symbols: {len(lines)} exported ({c} C, {len(lines) - c} C++), {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
