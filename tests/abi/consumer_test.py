#!/usr/bin/env python3
"""Consumers built from an install, as a distribution's users build them.

`meson install --destdir` into a scratch directory, then a C program (cc)
and a C++ program (g++ and clang++, -std=c++20) compiled and linked with
nothing but `pkg-config --cflags --libs libmaps` pointed at that install,
run against a hash: table written by real postmap.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    opts = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="libmaps-consumer-")
    failures = []
    try:
        dest = os.path.join(work, "destdir")
        subprocess.run(["meson", "install", "-C", opts.build_dir, "--destdir", dest,
                        "--no-rebuild", "--quiet"], check=True, capture_output=True)
        pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "libmaps.pc"), recursive=True)
        if len(pcs) != 1:
            print(f"FAIL libmaps.pc not installed once: {pcs}")
            return 1
        for want in ("libmaps.3", "abi.md", "sasl_maps.h", "version.h"):
            if not glob.glob(os.path.join(dest, "**", want), recursive=True):
                failures.append(f"{want} is not installed")
        pcdir = os.path.dirname(pcs[0])
        prefix = None
        for line in open(pcs[0]):
            if line.startswith("prefix="):
                prefix = line.split("=", 1)[1].strip()
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
        flags = subprocess.run(["pkg-config", f"--define-variable=prefix={dest}{prefix}",
                                "--cflags", "--libs", "libmaps"], env=env, check=True,
                               capture_output=True, text=True).stdout.split()
        libdir = os.path.dirname(glob.glob(os.path.join(dest, "**", "libmaps.so"),
                                           recursive=True)[0])
        # A table written by real postmap.
        conf = os.path.join(work, "conf")
        os.mkdir(conf)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        os.utime(os.path.join(conf, "main.cf"), (0, 0))
        table = os.path.join(work, "smtp_pass")
        with open(table, "w") as f:
            f.write("[relay.example.jp]:587 user:s3cret:x\n")
        postmap = shutil.which("postmap") or "/usr/sbin/postmap"
        subprocess.run([postmap, "-c", conf, f"hash:{table}"], check=True)
        run_env = dict(os.environ, LD_LIBRARY_PATH=libdir)
        builds = [("cc", ["cc", "-std=c11", "-Wall", "-Werror", os.path.join(here, "consumer.c")]),
                  ("g++", ["g++", "-std=c++20", "-Wall", "-Werror",
                           os.path.join(here, "consumer.cc")]),
                  ("clang++", ["clang++", "-std=c++20", "-Wall", "-Werror",
                               os.path.join(here, "consumer.cc")])]
        for name, argv in builds:
            exe = os.path.join(work, f"consumer-{name}")
            p = subprocess.run(argv + ["-o", exe] + flags, capture_output=True, text=True)
            if p.returncode != 0:
                failures.append(f"{name}: build failed:\n{p.stderr[-3000:]}")
                continue
            r = subprocess.run([exe, f"hash:{table}"], env=run_env, capture_output=True,
                               text=True)
            print(f"{name}: {r.stdout.strip()}")
            if r.returncode != 0:
                failures.append(f"{name}: exit {r.returncode}: {r.stdout}{r.stderr}")
            if "s3cret" in r.stdout + r.stderr:
                failures.append(f"{name}: printed the password")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL", f)
    print(f"consumers: {len(builds)} built from the install, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
