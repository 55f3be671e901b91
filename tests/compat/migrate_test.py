#!/usr/bin/env python3
"""cmap --migrate against real Postfix (issue 15).

1. A scratch configuration whose hash: and btree: tables, built by real
   postmap and postalias, are named by smtp_sasl_password_maps,
   transport_maps, virtual_alias_maps (btree), alias_maps + alias_database
   (postalias), sender_dependent_relayhost_maps inside unionmap:{…} (its
   source deleted), a restriction list through proxy:, and a master.cf -o
   override; transport's source is newer than its table and holds another
   record. The dry run lists every table and changes nothing; --apply
   leaves no hash:/btree: in `postconf -n` or `postconf -P`, and real
   postmap (postalias for aliases) answers every key of every old table as
   before from the new one; a second --apply changes no byte; --rollback
   puts main.cf and master.cf back byte for byte and removes the new tables
   (the old ones were never touched).
2. The same without postconf (CMAP_POSTCONF=""): cmap's own readers and
   edits, judged by real postconf and postmap.
3. Bad input leaves every file as it was, with a message: main.cf that
   cannot be read and a configuration directory that cannot be written (as
   an unprivileged user), a corrupt table, a full disk (a small tmpfs in a
   private mount namespace).
4. A private Postfix instance (its own configuration, queue and data
   directories; no smtpd listener; loopback only) is migrated and relays a
   message through a test SMTP server that requires AUTH, with the
   credential from the migrated smtp_sasl_password_maps.
Runs as root (the private instance and the namespaces need it).
"""
import argparse
import base64
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

failures = []
SECRET = "relay-Secret-93"


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {str(detail).replace(SECRET, '[password]')}")


def run(args, cwd=None, env=None, stdin=None):
    p = subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def backdate(conf):
    # Postfix's commands wait ~2 s after a recent change of main.cf.
    os.utime(os.path.join(conf, "main.cf"), (0, 0))


def snapshot(root):
    """Every file under root (but cmap's backups) with its bytes' digest."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith("cmap-migrate-")]
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


class Scenario:
    """The scratch configuration of part 1, in `work`/conf."""

    TABLES = {  # name: (type, tool, source)
        "sasl_passwd": ("hash", "postmap", f"[relay.example.jp]:587 user:{SECRET}\n"
                        "[other.example]:25 other:pw2\n"),
        "transport": ("hash", "postmap", "example.com smtp:[relay.example.jp]:587\n"
                      "Example.NET relay:[gw.example]\n"),
        "virtual": ("btree", "postmap", "info@example.com alice\nsales@example.com bob, carol\n"),
        "aliases": ("hash", "postalias", "postmaster: root\nlist: a, b,\n  c\n"
                    '"john doe": john\nprog: "|/usr/bin/true x"\n'),
        "relays": ("hash", "postmap", "bob@example.com [relay2.example.jp]:587\n"),
        "access": ("hash", "postmap", "spammer@example.com REJECT\n"),
        "clients": ("btree", "postmap", "192.0.2.1 REJECT\n198.51.100.0 OK\n"),
        # Named as $default_database_type:NAME (Postfix 3.11's alias_maps
        # default is written so): follows that parameter.
        "relocated": ("hash", "postmap", "old@example.com new@example.net\n"),
    }

    def __init__(self, work, cmap):
        self.work, self.cmap = work, cmap
        self.conf = os.path.join(work, "conf")
        os.makedirs(self.conf)
        c = self.conf
        shutil.copy(master_cf_proto(), os.path.join(c, "master.cf"))
        with open(os.path.join(c, "master.cf"), "a") as f:
            f.write("submission inet n       -       y       -       -       smtpd\n"
                    "  -o syslog_name=postfix/submission\n"
                    f"  -o smtpd_client_restrictions=check_client_access,btree:{c}/clients,permit\n")
        with open(os.path.join(c, "main.cf"), "w") as f:
            f.write("# scratch configuration of migrate_test.py\n"
                    "compatibility_level = 3.6\n"
                    "myhostname = mx.example.org\n"
                    "default_database_type = hash\n"
                    f"relocated_maps = ${{default_database_type}}:{c}/relocated\n"
                    f"smtp_sasl_password_maps = hash:{c}/sasl_passwd\n"
                    "transport_maps = hash:$config_directory/transport\n"
                    f"virtual_alias_maps = btree:{c}/virtual\n"
                    f"alias_maps = hash:{c}/aliases\n"
                    "# the database newaliases rebuilds\n"
                    f"alias_database = hash:{c}/aliases\n"
                    f"sender_dependent_relayhost_maps = unionmap:{{hash:{c}/relays, "
                    "inline:{x@example.com=[gw]}}\n"
                    f"smtpd_sender_restrictions = check_sender_access proxy:hash:{c}/access,\n"
                    "    permit\n")
        for name, (typ, tool, text) in self.TABLES.items():
            with open(os.path.join(c, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(c, name), 0o600 if name == "sasl_passwd" else 0o644)
            backdate(c)
            r = run([tool, "-c", c, f"{typ}:{c}/{name}"])
            check(f"setup {tool} {name}", r[0] == 0, r)
        os.remove(os.path.join(c, "relays"))  # a source lost
        # A source edited after its table was built, never postmap'ed.
        with open(os.path.join(c, "transport"), "a") as f:
            f.write("new.example smtp:[elsewhere]\n")
        t = os.path.getmtime(os.path.join(c, "transport.db"))
        os.utime(os.path.join(c, "transport"), (t + 60, t + 60))
        backdate(c)
        # What real Postfix answers from the old tables, key by key.
        self.before = {}
        for name, (typ, tool, _) in self.TABLES.items():
            r = run([tool, "-c", c, "-s", f"{typ}:{c}/{name}"])
            check(f"setup: {tool} -s {name}", r[0] == 0, r)
            sep = ":\t" if tool == "postalias" else "\t"
            self.before[name] = dict(l.split(sep, 1) for l in r[1].splitlines())

    def cmap_run(self, *args, env=None):
        return run([self.cmap, "--migrate", "-c", self.conf, *args], env=env)

    def answers_as_before(self, label):
        """Real postmap/postalias on each new table answers every old key."""
        c = self.conf
        backdate(c)
        for name, (typ, tool, _) in self.TABLES.items():
            new = [t for t in ("cdb", "lmdb") if os.path.exists(os.path.join(c, f"{name}.{t}"))]
            check(f"{label}: one new table for {name}", len(new) == 1, new)
            if len(new) != 1:
                continue
            keys = [k for k in self.before[name] if not k.startswith("YP_")]
            r = run([tool, "-c", c, "-q", "-", f"{new[0]}:{c}/{name}"],
                    stdin="".join(k + "\n" for k in keys).encode())
            sep = ":\t" if tool == "postalias" else "\t"
            got = dict(l.split(sep, 1) for l in r[1].splitlines())
            want = {k: self.before[name][k] for k in keys}
            check(f"{label}: {tool} -q - {new[0]}:{name} answers as the old table", got == want,
                  f"{got!r} != {want!r}")

    def no_berkeley(self, label):
        backdate(self.conf)
        for opt in ("-n", "-P"):
            r = run(["postconf", "-c", self.conf, opt])
            bad = [l for l in r[1].splitlines() if "hash:" in l or "btree:" in l]
            check(f"{label}: postconf {opt} names no hash:/btree:", r[0] == 0 and not bad, bad or r)


def master_cf_proto():
    for p in ("/etc/postfix/master.cf.proto", "/usr/share/postfix/master.cf.dist",
              "/etc/postfix/master.cf"):
        if os.path.exists(p):
            return p
    raise SystemExit("no master.cf prototype (is postfix installed?)")


def part1(cmap, work):
    s = Scenario(os.path.join(work, "p1"), cmap)
    c = s.conf
    before = snapshot(c)
    r = s.cmap_run()
    check("dry run exits 0", r[0] == 0, r)
    for name in Scenario.TABLES:
        check(f"dry run lists {name}", f"{c}/{name}" in r[1], r[1])
    for words in ("source: missing", "newer than the table", "submission/inet -o",
                  "cmap --alias -c", "--convert hash:" + c + "/relays lmdb",
                  "recreated empty by Postfix", "Dry run: nothing was changed"):
        check(f"dry run says {words!r}", words in r[1], r[1])
    check("dry run shows no password", SECRET not in r[1] + r[2])
    check("dry run changes nothing", snapshot(c) == before)

    r = s.cmap_run("--apply")
    check("--apply exits 0", r[0] == 0, r)
    check("--apply shows no password", SECRET not in r[1] + r[2])
    check("--apply prints the rollback command", "cmap --migrate --rollback " in r[1], r[1])
    backup = [l.split()[-1] for l in r[1].splitlines() if "--rollback" in l]
    s.no_berkeley("after --apply")
    s.answers_as_before("after --apply")
    # The source newer than its table was not used: its new record is not
    # in the new table (the records Postfix used are).
    r2 = run(["postmap", "-c", c, "-q", "new.example", f"lmdb:{c}/transport"])
    check("transport converted from the .db (its newer source not used)", r2[0] == 1, r2)
    r2 = run(["stat", "-c", "%a", f"{c}/sasl_passwd.cdb"])
    check("sasl_passwd.cdb keeps the source's mode 0600", r2[1].strip() == "600", r2)
    for name in Scenario.TABLES:
        dbh = before.get(f"{name}.db")
        check(f"old {name}.db untouched", snapshot(c).get(f"{name}.db") == dbh)

    after = snapshot(c)
    r = s.cmap_run("--apply")
    check("second --apply: nothing to do", r[0] == 0 and "Nothing to do" in r[1], r)
    check("second --apply changes no byte", snapshot(c) == after)
    check("second --apply makes no backup",
          len([d for d in os.listdir(c) if d.startswith("cmap-migrate-")]) == 1)

    check("one rollback command", len(backup) == 1, backup)
    if backup:
        r = run([cmap, "--migrate", "--rollback", backup[0]])
        check("--rollback exits 0", r[0] == 0, r)
        check("--rollback restores every file byte for byte", snapshot(c) == before,
              set(snapshot(c).items()) ^ set(before.items()))
    return s


def part1b_options(cmap, work):
    """--lmdb and --convert-caches, and one --apply at a time."""
    s = Scenario(os.path.join(work, "p1b"), cmap)
    c = s.conf
    # A cache with a record (Postfix's verify cache is a btree: table).
    with open(os.path.join(c, "verify_cache"), "w") as f:
        f.write("probe@example.com 0:0:1:ok\n")
    backdate(c)
    r = run(["postmap", "-c", c, f"btree:{c}/verify_cache"])
    check("setup: verify_cache", r[0] == 0, r)
    os.remove(os.path.join(c, "verify_cache"))
    with open(os.path.join(c, "main.cf"), "a") as f:
        f.write(f"address_verify_map = btree:{c}/verify_cache\n")
    backdate(c)

    # A second --apply while one holds the directory is refused untouched.
    import fcntl
    before = snapshot(c)
    fd = os.open(c, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = s.cmap_run("--lmdb", "--apply")
        check("a concurrent --apply is refused", r[0] == 1 and "another cmap --migrate" in r[2], r)
        check("a refused --apply changes nothing", snapshot(c) == before)
    finally:
        os.close(fd)

    r = s.cmap_run("--lmdb", "--convert-caches")
    check("--lmdb --convert-caches: dry run", r[0] == 0 and "cdb:" not in r[1] and
          f"lmdb:{c}/verify_cache, converted from" in r[1], r[1])
    r = s.cmap_run("--lmdb", "--convert-caches", "--apply")
    check("--lmdb --convert-caches --apply", r[0] == 0, r)
    check("--lmdb: no cdb: table made", not [f for f in os.listdir(c) if f.endswith(".cdb")],
          os.listdir(c))
    s.no_berkeley("--lmdb")
    s.answers_as_before("--lmdb")
    backdate(c)
    r = run(["postmap", "-c", c, "-q", "probe@example.com", f"lmdb:{c}/verify_cache"])
    check("--convert-caches kept the cache's record", r[0] == 0 and r[1].strip() == "0:0:1:ok", r)


def part2_fallback(cmap, work):
    """Without postconf: cmap's own readers and edits."""
    s = Scenario(os.path.join(work, "p2"), cmap)
    c = s.conf
    with open(os.path.join(c, "main.cf")) as f:
        comments = [l for l in f if l.startswith("#")]
    env = dict(os.environ, CMAP_POSTCONF="")
    r = s.cmap_run(env=env)
    check("fallback: dry run", r[0] == 0 and "read without postconf" in r[1], r)
    r = s.cmap_run("--apply", env=env)
    check("fallback: --apply", r[0] == 0, r)
    s.no_berkeley("fallback")
    s.answers_as_before("fallback")
    with open(os.path.join(c, "main.cf")) as f:
        text = f.read()
    check("fallback: main.cf keeps its comments", all(l in text for l in comments), text)
    r = s.cmap_run("--apply", env=env)
    check("fallback: second --apply: nothing to do", r[0] == 0 and "Nothing to do" in r[1], r)


def part3_bad_input(cmap, work):
    # A corrupt table: the plan names it, --apply changes nothing.
    s = Scenario(os.path.join(work, "p3a"), cmap)
    c = s.conf
    with open(os.path.join(c, "virtual.db"), "r+b") as f:
        f.seek(0)
        f.write(b"\x00" * 64)
    before = snapshot(c)
    r = s.cmap_run("--apply")
    check("corrupt table: exit 1", r[0] == 1, r)
    check("corrupt table: named", "PROBLEM" in r[1] and "virtual.db" in r[1], r)
    check("corrupt table: nothing changed", snapshot(c) == before)

    # Unprivileged: main.cf unreadable, then a directory it cannot write.
    s = Scenario(os.path.join(work, "p3b"), cmap)
    c = s.conf
    for d in (s.work, work):
        os.chmod(d, 0o755)
    os.chmod(os.path.join(c, "main.cf"), 0o600)
    before = snapshot(c)
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    r = run(nobody + [cmap, "--migrate", "-c", c, "--apply"])
    check("unreadable main.cf: exit 1 with a message",
          r[0] == 1 and "main.cf" in r[2] and "Permission denied" in r[2], r)
    os.chmod(os.path.join(c, "main.cf"), 0o644)
    os.chmod(os.path.join(c, "sasl_passwd"), 0o644)
    os.chmod(os.path.join(c, "sasl_passwd.db"), 0o644)
    r = run(nobody + [cmap, "--migrate", "-c", c, "--apply"])
    check("no write permission: exit 1 with a message",
          r[0] == 1 and "no write permission" in r[2], r)
    os.chmod(os.path.join(c, "sasl_passwd"), 0o600)
    os.chmod(os.path.join(c, "sasl_passwd.db"), 0o600)
    check("unprivileged runs change nothing", snapshot(c) == before)

    # A full disk: the scenario on a 2 MB tmpfs, filled up; with no page
    # free (the backup fails) and with a few (the backup fits, a table
    # build fails).
    s = Scenario(os.path.join(work, "p3c-src"), cmap)
    for reserve_pages in (0, 6):
        full_disk(cmap, work, s, reserve_pages)


def full_disk(cmap, work, s, reserve_pages):
    tag = f"full disk ({reserve_pages} pages free)"
    out = os.path.join(work, f"fulldisk{reserve_pages}")
    mnt = os.path.join(work, f"small{reserve_pages}")
    os.makedirs(mnt)
    script = out + ".sh"
    with open(script, "w") as f:
        f.write(f"""set -e
mount -t tmpfs -o size=2m tmpfs {mnt}
# Sparse .db files stay sparse: reading their holes must not need space.
cp -a --sparse=always {s.work}/. {mnt}/
python3 - {mnt} {s.work} <<'PY'
import sys, os
mnt, old = sys.argv[1], sys.argv[2]
# main.cf names the old place: point it here.
for name in ("main.cf", "master.cf"):
    p = os.path.join(mnt, "conf", name)
    t = open(p).read().replace(old, mnt)
    open(p, "w").write(t)
    os.utime(p, (0, 0))
PY
dd if=/dev/zero of={mnt}/reserve bs=4k count={reserve_pages} 2>/dev/null
dd if=/dev/zero of={mnt}/filler bs=4k 2>/dev/null || true
rm -f {mnt}/reserve
find {mnt} -path '*cmap-migrate-*' -prune -o -type f -print0 | sort -z | xargs -0 sha256sum > {out}.before
set +e
{cmap} --migrate -c {mnt}/conf --apply > {out}.out 2> {out}.err
echo $? > {out}.status
find {mnt} -path '*cmap-migrate-*' -prune -o -type f -print0 | sort -z | xargs -0 sha256sum > {out}.after
ls {mnt}/conf > {out}.ls
""")
    r = run(["unshare", "-m", "--propagation", "private", "sh", script])
    check(f"{tag}: the namespace script ran", r[0] == 0, r)
    try:
        status = open(out + ".status").read().strip()
        err = open(out + ".err").read()
        same = open(out + ".before").read() == open(out + ".after").read()
        listing = open(out + ".ls").read().split()
    except OSError as e:
        check(f"{tag}: results", False, e)
        return
    check(f"{tag}: exit 1", status == "1", (status, err))
    check(f"{tag}: says why", "No space left on device" in err and "undone" in err, err)
    check(f"{tag}: every file as it was", same)
    check(f"{tag}: no new table and no backup left",
          not [f for f in listing if f.endswith((".cdb", ".lmdb")) or f.startswith("cmap-migrate")],
          listing)
    if reserve_pages:
        check(f"{tag}: a table build was what failed", "building" in err, err)


class AuthSmtpServer:
    """A relay that requires AUTH PLAIN or LOGIN before MAIL."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.auths, self.messages = [], []
        self.delivered = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rwb")

        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 relay.test ESMTP")
        authed, mail, rcpts = False, None, []
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            verb = cmd.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                f.write(b"250-relay.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                f.flush()
            elif verb == "AUTH":
                parts = cmd.split(" ")
                mech = parts[1].upper() if len(parts) > 1 else ""
                if mech == "PLAIN":
                    blob = parts[2] if len(parts) > 2 else None
                    if blob is None:
                        say("334 ")
                        blob = f.readline().decode().strip()
                    fields = base64.b64decode(blob).split(b"\0")
                    user, password = (fields + [b"", b""])[1:3]
                elif mech == "LOGIN":
                    say("334 VXNlcm5hbWU6")
                    user = base64.b64decode(f.readline().strip())
                    say("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(f.readline().strip())
                else:
                    say("504 5.5.4 unsupported")
                    continue
                ok = (user.decode(errors="replace"), password.decode(errors="replace")) == \
                    (self.user, self.password)
                self.auths.append((mech, ok))
                authed = authed or ok
                say("235 2.7.0 accepted" if ok else "535 5.7.8 bad credentials")
            elif verb == "MAIL":
                if not authed:
                    say("530 5.7.0 authentication required")
                    continue
                mail, rcpts = cmd, []
                say("250 ok")
            elif verb == "RCPT":
                rcpts.append(cmd)
                say("250 ok")
            elif verb == "DATA":
                say("354 go ahead")
                body = []
                while True:
                    l = f.readline()
                    if l in (b".\r\n", b""):
                        break
                    body.append(l)
                self.messages.append((mail, rcpts, b"".join(body)))
                say("250 queued")
                self.delivered.set()
            elif verb == "QUIT":
                say("221 bye")
                conn.close()
                return
            else:
                say("250 ok")


def part4_private_instance(cmap, work):
    base = os.path.join(work, "instance")
    conf, queue, data = (os.path.join(base, d) for d in ("conf", "queue", "data"))
    for d in (conf, queue, data):
        os.makedirs(d)
    for d in (base, work):
        os.chmod(d, 0o755)
    shutil.chown(data, "postfix", "postfix")
    server = AuthSmtpServer("relayuser", SECRET)
    shutil.copy(master_cf_proto(), os.path.join(conf, "master.cf"))
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(f"""compatibility_level = 3.6
myhostname = client.migrate.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
relayhost = [127.0.0.1]:{server.port}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:{conf}/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_tls_security_level = none
alias_maps =
alias_database =
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
""")
    sasl = os.path.join(conf, "sasl_passwd")
    with open(sasl, "w") as f:
        f.write(f"[127.0.0.1]:{server.port} relayuser:{SECRET}\n")
    os.chmod(sasl, 0o600)
    backdate(conf)
    # No listener of its own; no chroot (the queue is not set up for one).
    for args in (["-MX", "smtp/inet"], ["-F", "*/*/chroot = n"]):
        r = run(["postconf", "-c", conf, *args])
        check(f"instance: postconf {args}", r[0] == 0, r)
    backdate(conf)
    r = run(["postmap", "-c", conf, f"hash:{sasl}"])
    check("instance: postmap", r[0] == 0, r)

    r = run([cmap, "--migrate", "-c", conf, "--apply"])
    check("instance: --apply", r[0] == 0, r)
    backdate(conf)
    r = run(["postconf", "-c", conf, "-h", "smtp_sasl_password_maps"])
    check("instance: smtp_sasl_password_maps migrated",
          r[1].strip() == f"cdb:{sasl}", r)
    os.rename(sasl + ".db", sasl + ".db.moved")  # Postfix cannot fall back on it
    started = False
    try:
        r = run(["postfix", "-c", conf, "start"])
        started = r[0] == 0
        check("instance: postfix start", started, r)
        if started:
            r = run(["/usr/sbin/sendmail", "-C", conf, "-f", "sender@client.migrate.test",
                     "rcpt@remote.example"], stdin=b"Subject: migrated\n\nhello\n")
            check("instance: sendmail", r[0] == 0, r)
            delivered = server.delivered.wait(60)
            # postlogd writes the log line after the relay's answer: wait
            # for it (at most 20 s).
            log = ""
            for _ in range(200):
                if os.path.exists(os.path.join(base, "maillog")):
                    log = open(os.path.join(base, "maillog")).read()
                if "status=sent" in log:
                    break
                time.sleep(0.1)
            check("instance: the message reached the relay after AUTH", delivered and
                  server.messages and b"hello" in server.messages[0][2], log[-2000:])
            check("instance: the credential was accepted", server.auths and
                  all(ok for _, ok in server.auths), server.auths)
            check("instance: Postfix logged status=sent", "status=sent" in log, log[-2000:])
    finally:
        if started or os.path.exists(os.path.join(data, "master.lock")):
            run(["postfix", "-c", conf, "stop"])
        server.sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    opts = ap.parse_args()
    cmap = os.path.abspath(opts.cmap)
    if os.geteuid() != 0:
        print("FAIL migrate_test needs root (a private Postfix instance, namespaces)")
        return 1
    work = tempfile.mkdtemp(prefix="cmap-migrate-test-")
    os.chmod(work, 0o755)
    try:
        part1(cmap, work)
        part1b_options(cmap, work)
        part2_fallback(cmap, work)
        part3_bad_input(cmap, work)
        part4_private_instance(cmap, work)
    finally:
        if not os.environ.get("KEEP"): shutil.rmtree(work, ignore_errors=True)
        else: print("kept", work)
    for f in failures:
        print("FAIL", f)
    print(f"migrate: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
