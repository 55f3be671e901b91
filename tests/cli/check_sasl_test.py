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

    def main_cf(self, **params):
        lines = ["compatibility_level = 3.6"]
        lines += [f"{k} = {v}" for k, v in params.items()]
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("\n".join(lines) + "\n")

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

    def check_sasl(self, *args):
        p = subprocess.run([self.cmap, "--check-sasl", "-c", self.conf, *args],
                           capture_output=True, timeout=60)
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

        # 6c. A table of a type cmap cannot read: a missing credential may
        # be there, so it is a note, not a warning.
        env.main_cf(relayhost="[elsewhere.example]:587", smtp_sasl_auth_enable="yes",
                    smtp_sasl_password_maps=f"hash:{env.conf}/sasl_passwd, "
                                            "mysql:/etc/postfix/mysql-sasl.cf",
                    smtp_tls_security_level="encrypt")
        rc, out, err = env.check_sasl()
        check("unchecked type: exit 0", rc == 0, f"exit {rc}\n{out}")
        check("unchecked type: note", "not checked: mysql:/etc/postfix/mysql-sasl.cf" in out,
              out)

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
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for f in failures:
        print("FAIL", f)
    print(f"check_sasl: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
