#!/usr/bin/env python3
"""cmap's own command-line contract: what postmap does not define.

The compatibility of cmap's output with postmap's is checked against real
postmap in tests/compat/. This file checks the rest: that no message ever
shows a password from a source file, the documented wording of cmap's own
refusals, and exit statuses. Everything runs in a temporary directory.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

PASSWORD = "Pw-7c1e9-SECRET"  # distinctive, so any leak is found

failures = []


def check(name, cond, detail=""):
    if not cond:
        # A failure report must not show the password either.
        failures.append(f"{name}: {str(detail).replace(PASSWORD, '[password]')}")


def run(cmap, args, cwd, stdin=b""):
    p = subprocess.run([cmap, "-c", "conf", *args], cwd=cwd, input=stdin,
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    opts = ap.parse_args()
    cmap = os.path.abspath(opts.cmap)
    work = tempfile.mkdtemp(prefix="cmap-cli-")
    try:
        os.mkdir(os.path.join(work, "conf"))
        with open(os.path.join(work, "conf", "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        pw = PASSWORD.encode()
        # Every kind of broken line that makes postmap quote the whole line.
        broken = (b"  [lead.example]:587 user:" + pw + b"\n"
                  b"[good.example]:587 user:" + pw + b"\n"
                  b"\"[unbalanced.example]:587 user:" + pw + b"\n"
                  b"[bad\xff.example]:587 user:" + pw + b"\n"
                  b"[badvalue.example]:587 user:" + pw + b"\xfe\n"
                  b"[novalue.example]:587\n"
                  b"[good.example]:587 other:" + pw + b"\n"
                  b"alias: user:" + pw + b"\n")
        with open(os.path.join(work, "smtp_pass"), "wb") as f:
            f.write(broken)
        for args in (["-q", "[good.example]:587", "texthash:smtp_pass"],
                     ["-s", "texthash:smtp_pass"],
                     ["-q", "-", "texthash:smtp_pass"],
                     ["-u", "-s", "texthash:smtp_pass"],
                     ["-r", "-s", "texthash:smtp_pass"],
                     # (-F is left out: it declares that values are file
                     # names, and "open FILE: ..." must name the file.)
                     ["-d", "x", "texthash:smtp_pass"],
                     ["texthash:smtp_pass"],
                     ["smtp_pass"]):
            rc, out, err = run(cmap, args, work, stdin=b"[good.example]:587\n")
            name = "no password in messages: cmap " + " ".join(args)
            check(name, pw not in err, "stderr shows the password")
            check(name + " (warnings present)", b"warning" in err or b"fatal" in err,
                  "expected diagnostics on stderr")
        # The same file does produce each warning, with the line number.
        rc, out, err = run(cmap, ["-s", "texthash:smtp_pass"], work)
        text = err.decode("utf-8", "replace")
        for expected in (
                'smtp_pass, line 1: logical line must not start with whitespace: "  [lead.example]:587 ..."',
                "smtp_pass, line 3: unbalanced '\"' in '\"[unbalanced.example]:587 ...' -- ignoring this line",
                'smtp_pass, line 4: non-UTF-8 input "[bad?.example]:587 ..." -- ignoring this line',
                'smtp_pass, line 5: non-UTF-8 input "[badvalue.example]:587 ..." -- ignoring this line',
                "smtp_pass, line 6: expected format: key whitespace value -- ignoring this line",
                'smtp_pass, line 7: duplicate entry: "[good.example]:587"',
                'smtp_pass, line 8: record is in "key: value" format; is this an alias file?'):
            check("warning text", ("cmap: warning: " + expected) in text,
                  "missing: " + expected)
        check("-s exit status", rc == 0, f"rc={rc}")

        # Exit statuses of the query modes.
        rc, out, _ = run(cmap, ["-q", "[good.example]:587", "texthash:smtp_pass"], work)
        check("-q found", rc == 0 and out == b"user:" + pw + b"\n", f"rc={rc}")
        rc, out, _ = run(cmap, ["-q", "absent", "texthash:smtp_pass"], work)
        check("-q not found", rc == 1 and out == b"", f"rc={rc}")
        rc, out, _ = run(cmap, ["-q", "-", "texthash:smtp_pass"], work, b"absent\n")
        check("-q - none found", rc == 1 and out == b"", f"rc={rc}")

        # A credential map built from a 0600 source: a 0600 table for every
        # type, found by its bracketed key, and no password in the messages.
        rc, _, err = run(cmap, ["-q", "x", "hash:nosuch"], work)
        check("hash read of a missing .db",
              rc == 1 and b"open database nosuch.db: No such file or directory" in err,
              "wrong message")
        # (The loop above built smtp_pass.db from a 0644 source; an existing
        # table keeps its mode, so start afresh.)
        for ext in (".db", ".lmdb"):
            if os.path.exists(os.path.join(work, "smtp_pass" + ext)):
                os.unlink(os.path.join(work, "smtp_pass" + ext))
        os.chmod(os.path.join(work, "smtp_pass"), 0o600)
        for typ, ext in (("hash", ".db"), ("lmdb", ".lmdb")):
            rc, _, err = run(cmap, [f"{typ}:smtp_pass"], work)
            check(f"{typ} build", rc == 0, f"rc={rc}")
            check(f"{typ} build: no password in messages", pw not in err, "stderr shows it")
            mode = os.stat(os.path.join(work, "smtp_pass" + ext)).st_mode & 0o777
            check(f"{typ} build: mode", mode == 0o600, f"mode {mode:o}")
            rc, out, _ = run(cmap, ["-q", "[GOOD.example]:587", f"{typ}:smtp_pass"], work)
            check(f"{typ} -q found", rc == 0 and out == b"user:" + pw + b"\n", f"rc={rc}")
        # No temporary files are left behind.
        debris = [n for n in os.listdir(work) if ".cmap-" in n]
        check("no temporary files left", not debris, " ".join(debris))
        shrinking_source(cmap, work)
    finally:
        shutil.rmtree(work)
    for f in failures:
        print("FAIL", f)
    print(f"cli: {len(failures)} failed")
    return 1 if failures else 0


def has_open(pid, path):
    """Whether process `pid` has `path` open (or mapped)."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                    return True
            except OSError:
                pass
        with open(f"/proc/{pid}/maps") as f:
            return any(line.rstrip().endswith(" " + path) for line in f)
    except OSError:
        return False


def shrinking_source(cmap, work):
    """A source truncated while cmap parses it (cmap maps the file): the
    build either finished first (the whole new table) or fails with "the
    file shrank" and leaves the old table; never a crash, never a partial
    table."""
    big = os.path.join(work, "big")
    lines = 400000
    with open(big, "w") as f:
        for i in range(lines):
            f.write(f"[smtp-{i:07d}.example.net]:587 user-{i}:{PASSWORD}-{i}\n")
    rc, _, _ = run(cmap, ["hash:big"], work)
    check("shrink: first build", rc == 0, f"rc={rc}")
    full = open(big, "rb").read()
    # A build that opened the file after the cut builds the shorter file
    # (its last line cut short is an entry too): also a whole table.
    cut = len(full) // 3
    short = len(full[:cut].split(b"\n"))
    outcomes = {"finished": 0, "shrank": 0}
    for i in range(12):
        with open(big, "wb") as f:
            f.write(full)
        p = subprocess.Popen([cmap, "-c", "conf", "hash:big"], cwd=work,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Cut after cmap has opened the source (its start-up time varies
        # with the machine and the sanitizers), at a different moment of
        # the parse each time.
        opened = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < opened and not has_open(p.pid, big):
            time.sleep(0.0005)
        time.sleep(0.002 * i)
        os.truncate(big, cut)
        out, err = p.communicate(timeout=120)
        check(f"shrink {i}: not killed by a signal", p.returncode in (0, 1),
              f"exit {p.returncode}")
        check(f"shrink {i}: no password in messages", PASSWORD.encode() not in err, "")
        if p.returncode == 1:
            check(f"shrink {i}: message", b"the file shrank while it was read" in err,
                  err.decode(errors="replace"))
            outcomes["shrank"] += 1
        else:
            outcomes["finished"] += 1
        # Whatever happened, the table is whole: the whole file's records
        # or the shorter file's, never part of a parse.
        rc, out, _ = run(cmap, ["-s", "hash:big"], work)
        count = out.count(b"\n")
        check(f"shrink {i}: table whole", rc == 0 and count in (lines, short),
              f"rc={rc}, {count} records (whole: {lines}, cut: {short})")
    check("shrink: the cut hit a running parse at least once", outcomes["shrank"] > 0,
          str(outcomes))
    print(f"shrinking source: {outcomes}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
