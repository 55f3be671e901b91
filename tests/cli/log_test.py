#!/usr/bin/env python3
"""cmap's mail-log trail, beside real postmap's.

postmap logs every message it prints: to syslog (facility mail, tag
"postfix/postmap", fatal as crit) or, when main.cf sets maillog_file, to
postlogd's socket $queue_directory/public/postlog, and it refuses to run
when maillog_file breaks maillog_file_prefixes. cmap must do the same with
the tag "postfix/cmap", and log exactly what it prints, redacted: a source
line that holds a password never reaches the log.

1. maillog_file: a private socket at queue_directory/public/postlog
   receives both programs' datagrams for the same source.
2. maillog_file outside maillog_file_prefixes: both refuse, same words.
3. syslog: a private /dev/log in a mount namespace (unshare -m, a tmpfs
   over /dev), so the machine's logger is neither needed nor touched.
Everything is written under a temporary directory.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

PASSWORD = "Pw-log-4411-SECRET"
failures = []


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {str(detail).replace(PASSWORD, '[password]')}")


def receiver(path):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s


def drain(sock):
    got = []
    while True:
        try:
            got.append(sock.recv(65536).decode(errors="replace"))
        except socket.timeout:
            return got


def write_main_cf(conf, lines):
    path = os.path.join(conf, "main.cf")
    with open(path, "w") as f:
        f.write("compatibility_level = 3.6\n" + "".join(l + "\n" for l in lines))
    os.utime(path, (0, 0))  # postmap waits ~2 s after a recent main.cf change


def run(prog, conf, args, cwd):
    return subprocess.run([prog, "-c", conf, *args], cwd=cwd, capture_output=True,
                          timeout=60)


def body(line, tag):
    """The message after 'TAG[pid]: ', or None when the envelope is wrong."""
    m = re.search(re.escape(tag) + r"\[\d+\]: (.*)$", line, re.S)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    opts = ap.parse_args()
    cmap = os.path.abspath(opts.cmap)
    postmap = shutil.which("postmap") or "/usr/sbin/postmap"
    work = tempfile.mkdtemp(prefix="cmap-log-")
    try:
        conf = os.path.join(work, "conf")
        os.makedirs(os.path.join(work, "q", "public"))
        os.mkdir(conf)
        # A line postmap skips with a warning that quotes it (the leading
        # whitespace): postmap quotes the password, cmap must not.
        with open(os.path.join(work, "smtp_pass"), "w") as f:
            f.write(f"  [l]:25 u:{PASSWORD}\n"
                    f"[good.example]:587 user:{PASSWORD}\n")

        # 1. maillog_file: postlogd's socket.
        write_main_cf(conf, [f"maillog_file = {work}/maillog",
                             f"maillog_file_prefixes = /var, {work}",
                             f"queue_directory = {work}/q"])
        sock = receiver(os.path.join(work, "q", "public", "postlog"))
        logged = {}
        for prog, tag in ((postmap, "postfix/postmap"), (cmap, "postfix/cmap")):
            p = run(prog, conf, ["hash:smtp_pass"], work)
            check(f"postlog: {tag} exit 0", p.returncode == 0, p.stderr)
            lines = drain(sock)
            check(f"postlog: {tag} one line", len(lines) == 1, lines)
            if lines:
                check(f"postlog: {tag} envelope",
                      re.match(r"^\w{3} \d\d \d\d:\d\d:\d\d \S+ " + re.escape(tag) +
                               r"\[\d+\]: warning: ", lines[0]), lines[0])
                logged[tag] = (body(lines[0], tag), p.stderr.decode(errors="replace"))
        sock.close()
        if "postfix/cmap" in logged:
            text, stderr = logged["postfix/cmap"]
            check("postlog: cmap logs what it prints",
                  text is not None and stderr.strip() == "cmap: " + text.strip(),
                  f"{text!r} vs {stderr!r}")
            check("postlog: cmap redacts", PASSWORD[:8] not in (text or ""), "password logged")
            check("postlog: names the problem",
                  "logical line must not start with whitespace" in (text or ""), text)
        if "postfix/postmap" in logged:
            # The oracle shows why redaction matters: postmap logs the line's
            # first 30 bytes, password included.
            check("postlog: postmap's own line quotes the password (known leak)",
                  PASSWORD[:12] in (logged["postfix/postmap"][0] or ""), "postmap changed")

        # 2. maillog_file outside maillog_file_prefixes: refused by both.
        write_main_cf(conf, [f"maillog_file = {work}/maillog",
                             f"queue_directory = {work}/q"])
        pm = run(postmap, conf, ["-q", "x", "hash:smtp_pass"], work)
        cm = run(cmap, conf, ["-q", "x", "hash:smtp_pass"], work)
        check("prefixes: both exit 1", pm.returncode == 1 and cm.returncode == 1,
              f"{pm.returncode} {cm.returncode}")
        check("prefixes: same message",
              pm.stderr.replace(b"postmap:", b"PROG:") == cm.stderr.replace(b"cmap:", b"PROG:"),
              f"{pm.stderr!r} vs {cm.stderr!r}")
        check("prefixes: no maillog written", not os.path.exists(f"{work}/maillog"), "")

        # 3. syslog through a private /dev/log.
        write_main_cf(conf, [])
        devlog = os.path.join(work, "devlog")
        sock = receiver(devlog)
        olddev = os.path.join(work, "olddev")
        os.mkdir(olddev)
        script = os.path.join(work, "ns.sh")
        with open(script, "w") as f:
            f.write(f"""set -e
mount --bind /dev {olddev}
mount -t tmpfs -o mode=755 none /dev
for n in null zero random urandom tty; do touch /dev/$n; mount --bind {olddev}/$n /dev/$n; done
ln -s /proc/self/fd /dev/fd
touch /dev/log
mount --bind {devlog} /dev/log
cd {work}
for p in {postmap} {cmap}; do
  $p -c {conf} hash:smtp_pass 2>/dev/null || true
  $p -c {conf} -q x hash:missing 2>/dev/null || true
done
{cmap} -v -c {conf} hash:smtp_pass 2>/dev/null
""")
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", script],
                           capture_output=True, timeout=120)
        check("syslog: namespace set up", p.returncode == 0, p.stderr)
        lines = drain(sock)
        sock.close()
        by_tag = {"postfix/postmap": [], "postfix/cmap": []}
        for line in lines:
            for tag in by_tag:
                if f" {tag}[" in line:
                    by_tag[tag].append(line)
        pm_lines, cm_lines = by_tag["postfix/postmap"], by_tag["postfix/cmap"]
        check("syslog: postmap logged 2", len(pm_lines) == 2, pm_lines)
        check("syslog: cmap logged warning, fatal, then -v's",
              len(cm_lines) >= 4, cm_lines)
        if len(pm_lines) == 2 and len(cm_lines) >= 4:
            for i, what in ((0, "warning <20>"), (1, "fatal <18>")):
                want = what.split()[1]
                check(f"syslog: postmap {what}", pm_lines[i].startswith(want), pm_lines[i])
                check(f"syslog: cmap {what}", cm_lines[i].startswith(want), cm_lines[i])
            check("syslog: cmap warning redacted", PASSWORD[:8] not in "".join(cm_lines),
                  "password in syslog")
            check("syslog: same fatal text",
                  body(pm_lines[1], "postfix/postmap") == body(cm_lines[1], "postfix/cmap"),
                  f"{pm_lines[1]!r} vs {cm_lines[1]!r}")
            check("syslog: -v is info <22>, names the table",
                  any(l.startswith("<22>") and "open hash smtp_pass" in l
                      for l in cm_lines[2:]), cm_lines[2:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL", f)
    print(f"log: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
