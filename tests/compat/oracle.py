"""Running cmap beside real postmap (or postalias) and comparing what they print.

A scratch directory holds a minimal `conf/main.cf`, back-dated so postmap
does not wait for a freshly changed main.cf. `Oracle.compare` runs both
programs with the same arguments and input, replaces the program name in
standard error, and records a difference when the exit status, standard
output or standard error differ (after the caller's normalisation).
"""
import os
import shutil
import subprocess
import tempfile


class Oracle:
    def __init__(self, cmap, prefix, postmap=None, env=None, cmap_args=()):
        self.cmap = os.path.abspath(cmap)
        self.postmap = postmap or shutil.which("postmap") or "/usr/sbin/postmap"
        # Words cmap needs before the common arguments (["--alias"] when the
        # oracle is postalias).
        self.cmap_args = list(cmap_args)
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.env = dict(os.environ, LANG="C.UTF-8", **(env or {}))
        self.failures = []
        os.mkdir(os.path.join(self.work, "conf"))
        main_cf = os.path.join(self.work, "conf", "main.cf")
        with open(main_cf, "w") as f:
            f.write("compatibility_level = 3.6\n")
        os.utime(main_cf, (0, 0))

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    def run(self, prog, args, stdin=None):
        extra = self.cmap_args if prog == self.cmap else []
        p = subprocess.run([prog, *extra, "-c", "conf", *args], cwd=self.work, input=stdin,
                           capture_output=True, timeout=120, env=self.env)
        name = os.path.basename(prog).encode()
        return p.returncode, p.stdout, p.stderr.replace(name + b":", b"PROG:")

    def compare(self, label, args, stdin=None, normalize=None, sort_stderr=False):
        want = self.run(self.postmap, args, stdin)
        got = self.run(self.cmap, args, stdin)
        if normalize:
            want = (want[0], want[1], normalize(want[2]))
            got = (got[0], got[1], normalize(got[2]))
        if sort_stderr:
            want = (want[0], want[1], sorted(want[2].splitlines()))
            got = (got[0], got[1], sorted(got[2].splitlines()))
        if want != got:
            self.failures.append(f"{label}: args {args!r} stdin {stdin!r}\n"
                                 f"  postmap: {want!r}\n  cmap:    {got!r}")
        return want == got

    def check(self, label, cond, detail=""):
        if not cond:
            self.failures.append(f"{label}: {detail}")

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def report(self, summary):
        for f in self.failures[:int(os.environ.get("SHOW", "30"))]:
            print("FAIL", f)
        print(f"{summary}, {len(self.failures)} differences")
        return 1 if self.failures else 0
