#!/usr/bin/env python3
"""cmap --check-sasl: the credential-setup check.

Tables are compiled by real postmap (Debian's postfix, run as a program only)
wherever the check reads a compiled table, and every credential the check
says Postfix would use is looked up again with `postmap -q` on the same
table: the value postmap returns must carry the username the check reports.
The order of the keys (host, then next hop) is Postfix 3.7's
smtp_sasl_passwd_lookup order, from the project's Postfix semantics notes.

Also checked: exit statuses (0 clean, 1 a warning, 2 usage), that no
password ever appears in the output, and each warning a user needs: a key
written in another form than the relayhost, a table readable by other
users, a compiled table older than its source, a value without ':',
authentication switched off, a missing table. Everything runs in a
temporary directory.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

SECRETS = ["Pw-a91-SECRET", "Pw-b72-SECRET", "Pw-c53-SECRET", "JustOnePasswordWord"]

failures = []


def check(name, cond, detail=""):
    if not cond:
        # A failure report must not show a password either.
        for secret in SECRETS:
            detail = str(detail).replace(secret, "[password]")
        failures.append(f"{name}: {detail}")


class Env:
    def __init__(self, cmap, postmap, work):
        self.cmap, self.postmap, self.work = cmap, postmap, work
        self.conf = os.path.join(work, "conf")
        os.makedirs(self.conf, exist_ok=True)
        self.main_cf()

    def path(self, name):
        return os.path.join(self.work, name)

    def main_cf(self, raw=(), **params):
        lines = ["compatibility_level = 3.6"]
        lines += [f"{k} = {v}" for k, v in params.items()]
        lines += list(raw)
        path = os.path.join(self.conf, "main.cf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        # Postfix's commands wait ~2 s when main.cf changed in the last
        # second or two: back-date it.
        os.utime(path, (0, 0))

    def postconf(self, *args):
        p = subprocess.run([shutil.which("postconf") or "/usr/sbin/postconf", "-c", self.conf,
                            *args], capture_output=True, timeout=60)
        return p.stdout.decode()

    def source(self, name, text, mode=0o600, age=300):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        t = time.time() - age
        os.utime(p, (t, t))
        return p

    def postmap_build(self, spec):
        p = subprocess.run([self.postmap, "-c", self.conf, spec],
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"postmap {spec} failed (exit {p.returncode})")

    def postmap_query(self, key, spec):
        p = subprocess.run([self.postmap, "-c", self.conf, "-q", key, spec],
                           capture_output=True, timeout=60)
        return p.stdout.decode().rstrip("\n") if p.returncode == 0 else None

    def check_sasl(self, *args, env=None):
        p = subprocess.run([self.cmap, "--check-sasl", "-c", self.conf, *args],
                           capture_output=True, timeout=60, env=env)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        for s in SECRETS:
            check(f"no password in output ({' '.join(args)})",
                  s not in out and s not in err, "a password was printed")
        return p.returncode, out, err


def used(out):
    """The (table, key, username) lines 'uses TABLE, key KEY: username "U"'."""
    result = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("uses "):
            table, rest = line[5:].split(", key ", 1)
            key, rest = rest.split(": username \"", 1)
            result.append((table, key, rest.split("\"", 1)[0]))
    return result


def agree_with_postmap(env, name, out):
    """Every credential the check reports is what postmap finds there."""
    for table, key, username in used(out):
        value = env.postmap_query(key, table)
        check(f"{name}: postmap -q {key} {table}", value is not None,
              "postmap finds nothing for the key the check says Postfix uses")
        if value is not None:
            check(f"{name}: username of {key}", value.split(":", 1)[0] == username,
                  f"check says {username!r}, postmap's value has another username")


def guide(smtp_pass, **overrides):
    """main.cf as the relay guide writes it (shared/guide/relay-setup-guide.md),
    with TLS made mandatory: the set-up that works."""
    params = dict(relayhost="[relay.example.jp]:587", smtp_sasl_auth_enable="yes",
                  smtp_sasl_password_maps=f"hash:{smtp_pass}",
                  smtp_sasl_security_options="noanonymous",
                  smtp_sasl_mechanism_filter="plain, login",
                  smtp_tls_security_level="encrypt")
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def mistakes(env, work):
    """One scenario per mistake of issue 18, each on the guide's set-up, with
    real postmap/postconf saying what Postfix makes of the same files."""
    smtp_pass = env.path("guide_pass")
    good = f"[relay.example.jp]:587 userid:{SECRETS[0]}\n"

    def build(text, spec_type="hash"):
        env.source("guide_pass", text)
        env.postmap_build(f"{spec_type}:{smtp_pass}")

    def expect(name, rc_want, needles, *args, env_vars=None, absent=()):
        rc, out, err = env.check_sasl(*args, env=env_vars)
        check(f"{name}: exit {rc_want}", rc == rc_want, f"exit {rc}\n{out}{err}")
        for n in needles:
            check(f"{name}: says {n!r}", n in out, out)
        for n in absent:
            check(f"{name}: does not say {n!r}", n not in out, out)
        return out

    # The working set-up first: the guide with mandatory TLS.
    build(good)
    env.main_cf(**guide(smtp_pass))
    out = expect("guide", 0, ["mechanisms with TLS: PLAIN and LOGIN", "result: ok"])
    agree_with_postmap(env, "guide", out)

    # The guide as written: no TLS level, so PLAIN may go out in clear.
    env.main_cf(**guide(smtp_pass, smtp_tls_security_level=None))
    expect("no tls", 1, ["PLAIN and LOGIN would send the password unencrypted",
                         "smtp_tls_security_level = encrypt"])

    # smtp_sasl_security_options left at its default (noplaintext) while the
    # filter keeps only plain and login: nothing remains.
    env.main_cf(**guide(smtp_pass, smtp_sasl_security_options=None))
    check("default options: postconf default", "noplaintext" in
          env.postconf("-xh", "smtp_sasl_tls_security_options"), "postconf default")
    expect("filtered away", 1, ["no mechanism is left with TLS",
                                "smtp_sasl_tls_security_options = noanonymous"])

    # The Cyrus plugins not installed ($SASL_PATH is Cyrus's own variable).
    empty = os.path.join(work, "no-plugins")
    os.makedirs(empty, exist_ok=True)
    env.main_cf(**guide(smtp_pass))
    expect("no plugins", 1, ["no Cyrus SASL client plugin for a password mechanism"],
           env_vars=dict(os.environ, SASL_PATH=empty))

    # lmdb: missing from postconf -m (this Postfix's meta_directory without
    # postfix-lmdb's dynamicmaps entry): postconf itself says so.
    meta = os.path.join(work, "meta")
    os.makedirs(meta, exist_ok=True)
    open(os.path.join(meta, "dynamicmaps.cf"), "w").close()
    build(good, "lmdb")
    env.main_cf(raw=[f"meta_directory = {meta}"],
                **guide(smtp_pass, smtp_sasl_password_maps=f"lmdb:{smtp_pass}"))
    check("no lmdb: postconf -m", "lmdb" not in env.postconf("-m").split(), env.postconf("-m"))
    expect("no lmdb", 1, ["this Postfix cannot open lmdb: tables",
                          "install the postfix-lmdb package"])

    # hash: on a Postfix without Berkeley DB: a postconf whose -m lacks hash
    # and btree, as on such a system (Debian's postconf, with those two
    # names removed from its -m answer).
    fake = os.path.join(work, "nobdb")
    os.makedirs(fake, exist_ok=True)
    real = shutil.which("postconf") or "/usr/sbin/postconf"
    with open(os.path.join(fake, "postconf"), "w") as f:
        f.write("#!/bin/sh\n"
                f'case " $* " in *" -m "*) "{real}" "$@" | grep -v -x -e hash -e btree;;\n'
                f'*) exec "{real}" "$@";; esac\n')
    os.chmod(os.path.join(fake, "postconf"), 0o755)
    build(good)
    env.main_cf(**guide(smtp_pass))
    expect("no bdb", 1, ["this Postfix cannot open hash: tables",
                         f"cmap --convert hash:{smtp_pass} lmdb"],
           env_vars=dict(os.environ, PATH=fake + ":" + os.environ["PATH"]))

    # A cdb: table (postmap-built) is checked like the others.
    build(good, "cdb")
    env.main_cf(**guide(smtp_pass, smtp_sasl_password_maps=f"cdb:{smtp_pass}"))
    out = expect("cdb", 0, ["result: ok"])
    check("cdb: used", used(out) == [(f"cdb:{smtp_pass}", "[relay.example.jp]:587", "userid")],
          out)
    agree_with_postmap(env, "cdb", out)

    # A comment after the value: postmap stores it as part of the password.
    build(f"[relay.example.jp]:587 userid:{SECRETS[0]}  # relay account\n")
    env.main_cf(**guide(smtp_pass))
    expect("comment", 1, [f"{smtp_pass}, line 1: key [relay.example.jp]:587: the value has "
                          "a '#' after whitespace"])
    value = env.postmap_query("[relay.example.jp]:587", f"hash:{smtp_pass}") or ""
    check("comment: postmap keeps it", value.endswith("# relay account"), "no comment")

    # Two lines for one key: the first wins, the edit below is ignored.
    build(f"[relay.example.jp]:587 olduser:{SECRETS[0]}\n"
          f"[relay.example.jp]:587 newuser:{SECRETS[1]}\n")
    out = expect("duplicate", 1, [f"{smtp_pass}, line 2: key [relay.example.jp]:587 again "
                                  "(first on line 1)", 'username "olduser"'])
    agree_with_postmap(env, "duplicate", out)

    # A byte-order mark from the editor: part of the first key.
    build("\ufeff" + good)
    expect("bom", 1, [f"{smtp_pass}, line 1: the file starts with a UTF-8 byte-order mark",
                      "no credential"])
    check("bom: postmap agrees",
          env.postmap_query("[relay.example.jp]:587", f"hash:{smtp_pass}") is None,
          "postmap finds the key")

    # Every line indented: one logical line that postmap skips; an empty table.
    build("  " + good + "  mx.example.net other:" + SECRETS[1] + "\n")
    expect("indented", 1, [f"{smtp_pass}, line 1: the line starts with whitespace",
                           "Postfix skips it and every indented line that follows",
                           "has no entries"])
    p = subprocess.run([env.postmap, "-c", env.conf, "-s", f"hash:{smtp_pass}"],
                       capture_output=True, timeout=60)
    check("indented: postmap table empty", p.stdout == b"", "postmap -s shows records")
    # One indented line after an entry: appended to that entry's password.
    build(good + "  mx.example.net other:" + SECRETS[1] + "\n")
    expect("continued", 1, [f"{smtp_pass}, line 2: the line starts with whitespace, so "
                            "postmap appends it to the entry of line 1"])

    # Windows line ends: noted; postmap drops the CR, so nothing breaks.
    build(good.replace("\n", "\r\n"))
    expect("crlf", 0, ["Windows line ends (CR LF)", "result: ok"])
    value = env.postmap_query("[relay.example.jp]:587", f"hash:{smtp_pass}") or ""
    check("crlf: postmap drops CR", "\r" not in value and value.startswith("userid:"), "CR kept")

    # A space instead of the colon: the password is never shown.
    build(f"[relay.example.jp]:587 userid {SECRETS[0]}\n")
    expect("space", 1, ['username "userid ..."', "value has no ':'",
                        "shown up to its first space"])

    # main.cf names the .db file: Postfix opens smtp_pass.db.db.
    build(good)
    env.main_cf(**guide(smtp_pass, smtp_sasl_password_maps=f"hash:{smtp_pass}.db"))
    expect("db suffix", 1, [f"is named with its file's .db suffix",
                            f"write hash:{smtp_pass} in main.cf"],
           absent=[f"run cmap hash:{smtp_pass}.db"])

    # A misspelt parameter name, and a later line overriding an earlier one.
    params = guide(smtp_pass)
    del params["smtp_sasl_password_maps"]
    env.main_cf(raw=[f"smtp_sasl_password_map = hash:{smtp_pass}"], **params)
    expect("typo", 1, ["sets smtp_sasl_password_map, which Postfix does not know",
                       "did you mean smtp_sasl_password_maps?",
                       "smtp_sasl_password_maps is empty"])
    env.main_cf(raw=["relayhost = [old-relay.example]:25"], **guide(smtp_pass))
    check("override: postconf agrees", env.postconf("-h", "relayhost").strip() ==
          "[old-relay.example]:25", env.postconf("-h", "relayhost"))
    expect("override", 1, ["sets relayhost again: Postfix uses only this last line",
                           "next hop [old-relay.example]:25 (relayhost)"])

    # Next hops from transport_maps and sender_dependent_relayhost_maps, and
    # -f choosing the sender's relay.
    build(good + f"[relay2.example]:587 user2:{SECRETS[1]}\n"
          f"[relay3.example]:587 user3:{SECRETS[2]}\n")
    env.source("transport", "example.com smtp:[relay2.example]:587\n"
                            "local.example local:\n")
    env.postmap_build(f"hash:{env.path('transport')}")
    env.source("sender_relay", "@sender.example [relay3.example]:587\n")
    env.postmap_build(f"hash:{env.path('sender_relay')}")
    env.main_cf(**guide(smtp_pass, transport_maps=f"hash:{env.path('transport')}",
                        sender_dependent_relayhost_maps=f"hash:{env.path('sender_relay')}"))
    out = expect("next hops", 0, ["next hop [relay.example.jp]:587 (relayhost)",
                                  "next hop [relay2.example]:587 (transport_maps",
                                  "next hop [relay3.example]:587 "
                                  "(sender_dependent_relayhost_maps, key @sender.example)"])
    check("next hops: users", [u[2] for u in used(out)] == ["user3", "userid", "user2"], out)
    out = expect("sender", 0, ["(sender_dependent_relayhost_maps, key @sender.example)"],
                 "-f", "someone@sender.example",
                 absent=["next hop [relay.example.jp]:587"])

    # --resolve: MX hosts from a DNS server of the test's own, in a private
    # network and mount namespace (its own /etc/resolv.conf), so no real
    # DNS is needed or asked. Postfix tries the MX host's name first.
    build(good + f"mx2.example.jp user-mx2:{SECRETS[1]}\n")
    env.main_cf(**guide(smtp_pass, relayhost="example.jp:587"))
    resolv = os.path.join(work, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
    dns = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_dns.py")
    script = os.path.join(work, "resolve.sh")
    with open(script, "w") as f:
        f.write(f"""set -e
ip link set lo up
mount --bind {resolv} /etc/resolv.conf
python3 {dns} 53 example.jp=10:mx1.example.jp,20:mx2.example.jp nomx.example= \\
    missing.example=nx > {work}/dns.out 2>&1 &
dns_pid=$!
trap 'kill $dns_pid' EXIT
while ! grep -q ready {work}/dns.out 2>/dev/null; do sleep 0.05; done
for args in "" "nomx.example" "[relay.example.jp]:587 missing.example"; do
  echo "=== $args"
  {env.cmap} --check-sasl -c {env.conf} --resolve $args || echo "exit $?"
done
""")
    p = subprocess.run(["unshare", "-m", "-n", "sh", script], capture_output=True, timeout=120)
    out = p.stdout.decode(errors="replace")
    check("resolve: ran", p.returncode == 0 and out.count("===") == 3,
          f"exit {p.returncode} {p.stderr!r}")
    for s in SECRETS:
        check("resolve: no password", s not in out, "a password was printed")
    parts = out.split("=== ")
    if len(parts) == 4:
        mx, nomx, missing = parts[1], parts[2], parts[3]
        check("resolve: MX list", "MX: mx1.example.jp and mx2.example.jp" in mx, mx)
        check("resolve: mx1 has none", "host mx1.example.jp\n  keys, in Postfix's order: "
              "mx1.example.jp, example.jp:587" in mx and
              "next hop example.jp:587: no credential" in mx, mx)
        check("resolve: mx2 found", "uses hash:" in mx and 'username "user-mx2"' in mx, mx)
        check("resolve: exit 1 (mx1)", "exit 1" in mx, mx)
        check("resolve: no MX", "MX: none (Postfix connects to nomx.example itself)" in nomx,
              nomx)
        check("resolve: NXDOMAIN", "MX lookup of missing.example: the domain does not "
              "exist" in missing and 'username "userid"' in missing, missing)

    # One command line: options before the command, --help, --version.
    env.main_cf(**guide(smtp_pass))
    p = subprocess.run([env.cmap, "-c", env.conf, "--check-sasl"], capture_output=True,
                       timeout=60)
    check("option first: exit 0", p.returncode == 0, f"exit {p.returncode}")
    for args in (["--help"], ["--version"]):
        p = subprocess.run([env.cmap, *args], capture_output=True, timeout=60)
        check(f"{args[0]}: stdout, exit 0", p.returncode == 0 and p.stdout and not p.stderr,
              f"exit {p.returncode}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    opts = ap.parse_args()
    cmap = os.path.abspath(opts.cmap)
    postmap = shutil.which("postmap") or "/usr/sbin/postmap"
    work = tempfile.mkdtemp(prefix="cmap-check-sasl-")
    try:
        env = Env(cmap, postmap, work)
        smtp_pass = env.path("smtp_pass")

        # 1. The typical setup: relayhost in brackets with a port, a 0600
        # source compiled by postmap. Keys are folded by postmap, so a key
        # written in capitals matches too.
        env.source("smtp_pass", f"[Relay.Example.JP]:587 user:{SECRETS[0]}\n")
        env.postmap_build(f"hash:{smtp_pass}")
        env.main_cf(relayhost="[relay.example.jp]:587", smtp_sasl_auth_enable="yes",
                    smtp_sasl_password_maps=f"hash:{smtp_pass}",
                    smtp_tls_security_level="encrypt")
        rc, out, err = env.check_sasl()
        check("typical: exit 0", rc == 0, f"exit {rc}\n{out}{err}")
        check("typical: result ok", "result: ok" in out, out)
        check("typical: key order", "keys, in Postfix's order: relay.example.jp, "
              "[relay.example.jp]:587" in out, out)
        check("typical: used", used(out) == [(f"hash:{smtp_pass}", "[relay.example.jp]:587",
                                              "user")], out)
        agree_with_postmap(env, "typical", out)

        # 2. The host key comes before the next-hop key: with both in the
        # table, Postfix uses the host's.
        env.source("smtp_pass", f"[relay.example.jp]:587 dest-user:{SECRETS[0]}\n"
                                f"relay.example.jp host-user:{SECRETS[1]}\n")
        env.postmap_build(f"hash:{smtp_pass}")
        rc, out, err = env.check_sasl()
        check("host first: exit 0", rc == 0, f"exit {rc}\n{out}{err}")
        check("host first: used", used(out) == [(f"hash:{smtp_pass}", "relay.example.jp",
                                                 "host-user")], out)
        agree_with_postmap(env, "host first", out)

        # 3. The key written without brackets: no credential, exit 1, and a
        # hint that names the key and the form to write.
        env.source("smtp_pass", f"relay.example.jp:587 user:{SECRETS[0]}\n")
        env.postmap_build(f"hash:{smtp_pass}")
        rc, out, err = env.check_sasl()
        check("other form: exit 1", rc == 1, f"exit {rc}\n{out}")
        check("other form: no credential", "no credential" in out, out)
        check("other form: hint", "has the key relay.example.jp:587 for the same host" in out
              and "write it as [relay.example.jp]:587" in out, out)
        check("other form: postmap agrees",
              env.postmap_query("[relay.example.jp]:587", f"hash:{smtp_pass}") is None
              and env.postmap_query("relay.example.jp", f"hash:{smtp_pass}") is None,
              "postmap finds a key the check says is missing")

        # 4. Readable by others, and a compiled table older than its source.
        env.source("smtp_pass", f"[relay.example.jp]:587 user:{SECRETS[0]}\n", mode=0o644,
                   age=600)
        os.unlink(smtp_pass + ".db")  # (postmap keeps the mode of a .db it rewrites)
        env.postmap_build(f"hash:{smtp_pass}")  # a new .db: 0644, from the source
        db_mtime = os.stat(smtp_pass + ".db").st_mtime
        os.utime(smtp_pass, (db_mtime + 10, db_mtime + 10))  # edited after the build
        rc, out, err = env.check_sasl()
        check("modes: exit 1", rc == 1, f"exit {rc}\n{out}")
        check("modes: source", f"{smtp_pass}: mode 0644 lets every user read" in out, out)
        check("modes: db", f"{smtp_pass}.db: mode 0644 lets every user read" in out, out)
        check("stale", f"{smtp_pass}.db is older than its source" in out, out)
        agree_with_postmap(env, "modes", out)

        # 5. A value without ':' (all username to Postfix), lmdb built by
        # postmap, texthash, and the order of the tables for one key: the
        # first table that has a key wins, key by key.
        os.chmod(smtp_pass, 0o600)
        env.source("first", f"nopw.example {SECRETS[3]}\n")
        env.postmap_build(f"lmdb:{env.path('first')}")
        env.source("second", f"[relay.example.jp]:587 second-user:{SECRETS[2]}\n")
        env.main_cf(relayhost="[relay.example.jp]:587", smtp_sasl_auth_enable="yes",
                    smtp_sasl_password_maps=f"lmdb:{env.path('first')}, "
                                            f"texthash:{env.path('second')}",
                    smtp_tls_security_level="encrypt")
        rc, out, err = env.check_sasl()
        check("no colon: exit 1", rc == 1, f"exit {rc}\n{out}")
        check("no colon: warning", "key nopw.example: the value has no ':'" in out, out)
        check("two tables: used",
              used(out) == [(f"texthash:{env.path('second')}", "[relay.example.jp]:587",
                             "second-user")], out)
        agree_with_postmap(env, "two tables", out)

        # 6. Next hops named on the command line; an MX-style one.
        env.main_cf(relayhost="", smtp_sasl_auth_enable="yes",
                    smtp_sasl_password_maps=f"hash:{smtp_pass}",
                    smtp_tls_security_level="encrypt")
        env.source("smtp_pass", f"[relay.example.jp]:587 user:{SECRETS[0]}\n"
                                f"mx.example.net other:{SECRETS[1]}\n")
        env.postmap_build(f"hash:{smtp_pass}")
        # postmap kept the .db's 0644 from case 4 although the source is
        # 0600 now (it rewrites the file in place): the leak users meet.
        check("postmap keeps 0644", os.stat(smtp_pass + ".db").st_mode & 0o777 == 0o644)
        os.chmod(smtp_pass + ".db", 0o600)
        rc, out, err = env.check_sasl("[relay.example.jp]:587", "mx.example.net")
        check("operands: exit 0", rc == 0, f"exit {rc}\n{out}")
        check("operands: both used", [u[1] for u in used(out)] ==
              ["[relay.example.jp]:587", "mx.example.net"], out)
        check("operands: MX note", "looks up its MX hosts" in out, out)
        agree_with_postmap(env, "operands", out)
        rc, out, err = env.check_sasl()
        check("no relayhost: exit 1", rc == 1 and "relayhost is empty" in out, f"exit {rc}\n{out}")

        # 6a. A table built with -f keeps capitals that Postfix's folded
        # lookups never find (postmap -q, which folds too, agrees).
        env.main_cf(relayhost="[relay.example.jp]:587", smtp_sasl_auth_enable="yes",
                    smtp_sasl_password_maps=f"hash:{smtp_pass}",
                    smtp_tls_security_level="encrypt")
        env.source("smtp_pass", f"[Relay.Example.JP]:587 user:{SECRETS[0]}\n")
        subprocess.run([postmap, "-c", env.conf, "-f", f"hash:{smtp_pass}"], check=True,
                       capture_output=True, timeout=60)
        rc, out, err = env.check_sasl()
        check("-f table: exit 1", rc == 1, f"exit {rc}\n{out}")
        check("-f table: warning", "key [Relay.Example.JP]:587 has capitals" in out, out)
        check("-f table: no credential", "no credential" in out, out)
        check("-f table: postmap agrees",
              env.postmap_query("[relay.example.jp]:587", f"hash:{smtp_pass}") is None,
              "postmap finds the key")
        env.source("smtp_pass", f"[relay.example.jp]:587 user:{SECRETS[0]}\n"
                                f"mx.example.net other:{SECRETS[1]}\n")
        env.postmap_build(f"hash:{smtp_pass}")

        # 6b. A table named through $config_directory (Postfix's built-in
        # value: the configuration directory).
        shutil.copy(smtp_pass, os.path.join(env.conf, "sasl_passwd"))
        os.chmod(os.path.join(env.conf, "sasl_passwd"), 0o600)
        env.postmap_build(f"hash:{env.conf}/sasl_passwd")
        env.main_cf(relayhost="[relay.example.jp]:587", smtp_sasl_auth_enable="yes",
                    smtp_sasl_password_maps="hash:$config_directory/sasl_passwd",
                    smtp_tls_security_level="encrypt")
        rc, out, err = env.check_sasl()
        check("config_directory: exit 0", rc == 0, f"exit {rc}\n{out}")
        check("config_directory: used",
              [u[0] for u in used(out)] == [f"hash:{env.conf}/sasl_passwd"], out)

        # 6c. A table of a type this Postfix cannot open (mysql: without
        # postfix-mysql): a failure, as it is for the SMTP client.
        env.main_cf(relayhost="[elsewhere.example]:587", smtp_sasl_auth_enable="yes",
                    smtp_sasl_password_maps=f"hash:{env.conf}/sasl_passwd, "
                                            "mysql:/etc/postfix/mysql-sasl.cf",
                    smtp_tls_security_level="encrypt")
        rc, out, err = env.check_sasl()
        check("unchecked type: exit 1", rc == 1, f"exit {rc}\n{out}")
        check("unchecked type: warning",
              "this Postfix cannot open mysql: tables" in out, out)
        check("unchecked type: postconf agrees", "mysql" not in env.postconf("-m").split(),
              "postconf -m lists mysql")

        # 7. Authentication off, a missing table, usage errors.
        env.main_cf(relayhost="[relay.example.jp]:587",
                    smtp_sasl_password_maps=f"hash:{env.path('missing')}")
        rc, out, err = env.check_sasl()
        check("off: exit 1", rc == 1, f"exit {rc}\n{out}")
        check("off: warning", "smtp_sasl_auth_enable = no" in out, out)
        check("missing table", f"{env.path('missing')}.db" in out and "No such file" in out, out)
        p = subprocess.run([cmap, "--check-sasl", "-x"], capture_output=True, timeout=60)
        check("usage: exit 2", p.returncode == 2 and b"usage: cmap --check-sasl" in p.stderr,
              f"exit {p.returncode}")
        p = subprocess.run([cmap, "--check-sasl", "-c", env.path("nowhere")],
                           capture_output=True, timeout=60)
        check("no main.cf: exit 1", p.returncode == 1 and b"main.cf" in p.stderr,
              f"exit {p.returncode}: {p.stderr!r}")
        mistakes(env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for f in failures:
        print("FAIL", f)
    print(f"check_sasl: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
