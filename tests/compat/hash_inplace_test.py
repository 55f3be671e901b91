#!/usr/bin/env python3
"""cmap -i / -d change hash: (issue 12) and btree: (issue 13, --type btree)
tables in place: checked with libdb.

1. Rounds of random batches (new keys, replaced values small and big,
   deletes) by cmap -i and cmap -d on tables made by real postmap and by
   db5.3_load (512-byte pages; big-endian with page checksums). After every
   round: db5.3_verify accepts the file, `postmap -s` prints exactly the
   model, `postmap -q -` finds every key with its value, and the file kept
   its inode. Then real postmap -i adds to the file cmap changed, and cmap
   reads what it wrote.
2. Failures: strace makes the Nth pwrite (and each fdatasync) of a cmap -i
   fail with EIO or ENOSPC, for every N the change takes. cmap must end in
   `cmap: fatal:` naming the table, exit 1, and leave the file byte for
   byte as it was (btree: hold the old records and pass db5.3_verify; after
   a failed fdatasync that follows the root's write, the new records).
3. Kills: strace kills cmap -i with SIGKILL at its Nth pwrite, for every N.
   The table must still be read by postmap (`postmap -s`), and libdb must
   find every key with its old or its new value (a record that was moving to
   another page may be on both for now). Running the same cmap -i again must
   give exactly the new table, each key once. (db5.3_verify is not asked:
   a kill after the meta page counted new pages and before anything linked
   to them leaves them unreferenced, which it reports.)
4. Cost (hash: only): one key added to a 200,000-record table reads and
   writes a few pages, not the table (strace counts the bytes).

Usage: hash_inplace_test.py --cmap PATH [--rounds N] [--type hash|btree]. Works in a temporary
directory only.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

failures = []
TYPE = "hash"  # --type: hash or btree


def fail(msg):
    failures.append(msg)
    print("FAIL", msg, flush=True)


def run(cmd, cwd, stdin_text=None, timeout=300):
    return subprocess.run(cmd, cwd=cwd, input=stdin_text, capture_output=True,
                          text=True, timeout=timeout)


def escape_dump(s):
    return "".join(c if c.isalnum() else "\\%02x" % ord(c) for c in s)


def make_table(cwd, kind, model):
    """Writes base.db holding `model` (Postfix conventions: NUL-terminated)."""
    path = os.path.join(cwd, "base.db")
    if os.path.exists(path):
        os.unlink(path)
    if kind == "postmap":
        with open(os.path.join(cwd, "base"), "w") as f:
            f.writelines(f"{k} {v}\n" for k, v in model.items())
        p = run(["postmap", "-c", "conf", f"{TYPE}:base"], cwd)
        if p.returncode != 0:
            fail(f"postmap build: {p.stderr}")
        return
    header = ["VERSION=3", "format=print", f"type={TYPE}", "db_pagesize=512"]
    if kind == "db_load-be-chksum-512":
        header += ["db_lorder=4321", "chksum=1"]
    lines = header + ["HEADER=END"]
    for k, v in model.items():
        lines.append(" " + escape_dump(k) + "\\00")
        lines.append(" " + escape_dump(v) + "\\00")
    lines.append("DATA=END")
    with open(os.path.join(cwd, "in.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    p = run(["db5.3_load", "-f", "in.txt", "base.db"], cwd)
    if p.returncode != 0:
        fail(f"db5.3_load: {p.stderr}")


def check(cwd, label, model, inode=None):
    ok = True
    v = run(["db5.3_verify", "base.db"], cwd)
    if v.returncode != 0:
        fail(f"{label}: db5.3_verify: {(v.stdout + v.stderr)[:300]}")
        ok = False
    p = run(["postmap", "-c", "conf", "-s", f"{TYPE}:base"], cwd)
    got = {}
    for line in p.stdout.splitlines():
        k, _, val = line.partition("\t")
        got[k] = val
    if p.returncode != 0 or got != model:
        extra = sorted(set(got) - set(model))[:3]
        missing = sorted(set(model) - set(got))[:3]
        wrong = [k for k in model if k in got and got[k] != model[k]][:3]
        fail(f"{label}: postmap -s differs from the model: extra {extra}, "
             f"missing {missing}, wrong values {wrong}, rc {p.returncode}")
        ok = False
    keys = list(model)
    q = run(["postmap", "-c", "conf", "-q", "-", f"{TYPE}:base"], cwd,
            "".join(k + "\n" for k in keys))
    found = dict(line.split("\t", 1) for line in q.stdout.splitlines())
    bad = [k for k in keys if found.get(k) != model[k]]
    if bad:
        fail(f"{label}: libdb lookups miss {len(bad)} keys, e.g. {bad[:3]}")
        ok = False
    if inode is not None and os.stat(os.path.join(cwd, "base.db")).st_ino != inode:
        fail(f"{label}: the table got a new inode (not changed in place)")
        ok = False
    return ok


def rand_key(rng):
    return "k" + "".join(rng.choice("abcdefghijklmnop0123456789") for _ in range(rng.randint(3, 14)))


def rand_value(rng):
    r = rng.random()
    n = rng.randint(0, 30) if r < 0.8 else rng.randint(100, 3000)
    return "v" + "".join(rng.choice("ABCDEFGHIJKLMNOP") for _ in range(n))


def rounds_test(cmap, cwd, kind, rounds, rng):
    model = {rand_key(rng): rand_value(rng) for _ in range(2000)}
    make_table(cwd, kind, model)
    inode = os.stat(os.path.join(cwd, "base.db")).st_ino
    if not check(cwd, f"{kind} as built", model):
        return
    for rnd in range(rounds):
        adds = {}
        for _ in range(rng.randint(1, 300)):
            k = rng.choice(list(model)) if rng.random() < 0.3 else rand_key(rng)
            adds[k] = rand_value(rng)
        p = run([cmap, "-c", "conf", "-i", "-r", f"{TYPE}:base"], cwd,
                "".join(f"{k} {v}\n" for k, v in adds.items()))
        if p.returncode != 0:
            fail(f"{kind} round {rnd}: cmap -i exited {p.returncode}: {p.stderr[:300]}")
            return
        model.update(adds)
        dels = rng.sample(list(model), min(len(model), rng.randint(1, 200)))
        p = run([cmap, "-c", "conf", "-d", "-", f"{TYPE}:base"], cwd,
                "".join(k + "\n" for k in dels))
        if p.returncode != 0:
            fail(f"{kind} round {rnd}: cmap -d exited {p.returncode}: {p.stderr[:300]}")
            return
        for k in dels:
            del model[k]
        if not check(cwd, f"{kind} round {rnd}", model, inode):
            return
    # Real postmap changes what cmap changed, and cmap reads the result.
    more = {rand_key(rng): rand_value(rng) for _ in range(200)}
    p = run(["postmap", "-c", "conf", "-i", "-r", f"{TYPE}:base"], cwd,
            "".join(f"{k} {v}\n" for k, v in more.items()))
    if p.returncode != 0:
        fail(f"{kind}: postmap -i after cmap: {p.stderr[:300]}")
    model.update(more)
    check(cwd, f"{kind} after postmap -i", model, inode)
    p = run([cmap, "-c", "conf", "-s", f"{TYPE}:base"], cwd)
    got = dict(line.split("\t", 1) for line in p.stdout.splitlines())
    if got != model:
        fail(f"{kind}: cmap -s differs from the model after postmap -i")
    print(f"{kind}: {rounds} rounds, ok" if not failures else f"{kind}: done", flush=True)


def count_pwrites(cmap, cwd, stdin_text):
    """How many pwrite64 calls a cmap -i of stdin_text makes on base.db."""
    saved = os.path.join(cwd, "saved.db")
    shutil.copy2(os.path.join(cwd, "base.db"), saved)
    p = run(["strace", "-f", "-e", "trace=pwrite64", "-o", "trace.txt",
             cmap, "-c", "conf", "-i", f"{TYPE}:base"], cwd, stdin_text)
    shutil.copy2(saved, os.path.join(cwd, "base.db"))
    with open(os.path.join(cwd, "trace.txt")) as f:
        return sum(1 for line in f if "pwrite64(" in line), p.returncode


def faults_test(cmap, cwd, rng):
    model = {rand_key(rng): rand_value(rng) for _ in range(600)}
    make_table(cwd, "db_load-512", model)
    # New keys (new chained and overflow pages), replaced values (some move
    # to other pages), a deleted big value (pages freed) come with -d below.
    batch = {rand_key(rng): rand_value(rng) for _ in range(150)}
    for k in rng.sample(list(model), 40):
        batch[k] = "w" * rng.choice([5, 200, 2000])
    text = "".join(f"{k} {v}\n" for k, v in batch.items())
    n, rc = count_pwrites(cmap, cwd, text)
    if rc != 0 or n < 3:
        fail(f"faults: the batch made {n} pwrites (rc {rc}); expected several")
        return
    before = open(os.path.join(cwd, "base.db"), "rb").read()
    cases = [("pwrite64", "EIO", i) for i in range(1, n + 1)]
    cases += [("pwrite64", "ENOSPC", 1), ("fdatasync", "EIO", 1), ("fdatasync", "EIO", 2)]
    for call, err, when in cases:
        p = run(["strace", "-f", "-o", "/dev/null", "-e", f"trace={call}",
                 "-e", f"inject={call}:error={err}:when={when}",
                 cmap, "-c", "conf", "-i", "-r", f"{TYPE}:base"], cwd, text)
        after = open(os.path.join(cwd, "base.db"), "rb").read()
        label = f"faults: {call} #{when} fails with {err}"
        failed = p.returncode == 1 and re.search(r"cmap: fatal: .*base\.db", p.stderr)
        # btree: a failure while the old tree's pages go onto the free list
        # comes after the change is in place; cmap says nothing and exits 0.
        if not failed and not (TYPE == "btree" and p.returncode == 0):
            fail(f"{label}: exit {p.returncode}, stderr {p.stderr[:300]!r}")
        if TYPE == "hash" and after != before:
            fail(f"{label}: the table changed ({len(before)} -> {len(after)} bytes)")
        if TYPE == "btree":
            # The btree editor writes a whole new tree beside the old one;
            # a failure before the root page is written must leave the old
            # records (and a file libdb verifies); only a failed fdatasync
            # after that write may leave the new table, complete.
            s = run(["postmap", "-c", "conf", "-s", f"{TYPE}:base"], cwd)
            got = dict(line.split("\t", 1) for line in s.stdout.splitlines())
            new_model = dict(model)
            new_model.update(batch)
            allowed = [new_model] if p.returncode == 0 else (
                [model] + ([new_model] if call == "fdatasync" else []))
            if s.returncode != 0 or got not in allowed:
                fail(f"{label}: the table holds neither the old records nor the new")
            v = run(["db5.3_verify", "base.db"], cwd)
            complaints = [line for line in (v.stdout + v.stderr).splitlines()
                          if "unreferenced page" not in line and "BDB5105" not in line
                          and "referenced 0 times" not in line
                          and "DB_VERIFY_BAD" not in line]
            # Pages left off the free list are reported, and reused by the
            # next change; anything else is damage.
            if v.returncode != 0 and (p.returncode != 0 or complaints):
                fail(f"{label}: db5.3_verify: {(v.stdout + v.stderr)[:300]}")
        open(os.path.join(cwd, "base.db"), "wb").write(before)
    print(f"faults: {len(cases)} injected failures, done", flush=True)

    # Kills at every pwrite: old or new value for every key, libdb reads all.
    new_model = dict(model)
    new_model.update(batch)
    for when in range(1, n + 1):
        open(os.path.join(cwd, "base.db"), "wb").write(before)
        p = run(["strace", "-f", "-o", "/dev/null", "-e", "trace=pwrite64",
                 "-e", f"inject=pwrite64:signal=KILL:when={when}",
                 cmap, "-c", "conf", "-i", "-r", f"{TYPE}:base"], cwd, text)
        label = f"kill at pwrite #{when}"
        s = run(["postmap", "-c", "conf", "-s", f"{TYPE}:base"], cwd)
        got = dict(line.split("\t", 1) for line in s.stdout.splitlines())
        if s.returncode != 0:
            fail(f"{label}: postmap -s exit {s.returncode}: {s.stderr[:200]}")
            continue
        for k in set(model) | set(batch):
            if got.get(k) not in {model.get(k), new_model.get(k)}:
                fail(f"{label}: key {k} has neither its old nor its new value")
                break
        keys = sorted(set(model) | set(batch))
        q = run(["postmap", "-c", "conf", "-q", "-", f"{TYPE}:base"], cwd,
                "".join(k + "\n" for k in keys))
        found = dict(line.split("\t", 1) for line in q.stdout.splitlines())
        bad = [k for k in keys if found.get(k) not in {model.get(k), new_model.get(k)}]
        if bad:
            fail(f"{label}: libdb finds neither the old nor the new value of {bad[:3]}")
        # The next change of the table finishes what the kill left: every
        # key once, with its new value.
        p = run([cmap, "-c", "conf", "-i", "-r", f"{TYPE}:base"], cwd, text)
        s = run(["postmap", "-c", "conf", "-s", f"{TYPE}:base"], cwd)
        lines = s.stdout.splitlines()
        got = dict(line.split("\t", 1) for line in lines)
        if p.returncode != 0 or len(lines) != len(got) or got != new_model:
            fail(f"{label}: cmap -i again does not give the new table "
                 f"(rc {p.returncode}, {len(lines)} lines, {len(got)} keys, "
                 f"{len(new_model)} expected)")
    print(f"kills: {n} kill points, done", flush=True)


def cost_test(cmap, cwd):
    with open(os.path.join(cwd, "base"), "w") as f:
        f.writelines(f"key{i:07d} value-{i}\n" for i in range(200000))
    p = run([cmap, "-c", "conf", f"{TYPE}:base"], cwd)
    if p.returncode != 0:
        fail(f"cost: build: {p.stderr}")
        return
    size = os.path.getsize(os.path.join(cwd, "base.db"))
    p = run(["strace", "-f", "-e", "trace=pread64,pwrite64,read", "-o", "trace.txt",
             cmap, "-c", "conf", "-i", f"{TYPE}:base"], cwd, "newkey newvalue\n")
    moved = 0
    with open(os.path.join(cwd, "trace.txt")) as f:
        for line in f:
            m = re.search(r"^\d+\s+(pread64|pwrite64)\(\d+, .*\) = (\d+)$", line)
            if m:
                moved += int(m.group(2))
    if p.returncode != 0 or moved > 16 * 4096 or moved > size // 50:
        fail(f"cost: one key on a {size}-byte table moved {moved} bytes (rc {p.returncode})")
    else:
        print(f"cost: one key on a {size}-byte table: {moved} bytes read and written",
              flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--type", choices=["hash", "btree"], default="hash")
    args = ap.parse_args()
    global TYPE
    TYPE = args.type
    cmap = os.path.abspath(args.cmap)
    for tool in ("postmap", "db5.3_verify", "db5.3_load", "strace"):
        if shutil.which(tool) is None:
            print(f"FAIL {tool} is not installed (scripts/setup.sh installs it)")
            return 1
    rng = random.Random(12)
    with tempfile.TemporaryDirectory(prefix=f"{TYPE}-inplace-") as tmp:
        os.mkdir(os.path.join(tmp, "conf"))
        conf = os.path.join(tmp, "conf", "main.cf")
        open(conf, "w").close()
        os.utime(conf, (0, 0))  # back-dated: postmap does not wait for it
        for kind in ("postmap", "db_load-512", "db_load-be-chksum-512"):
            d = os.path.join(tmp, kind)
            os.mkdir(d)
            os.symlink(os.path.join(tmp, "conf"), os.path.join(d, "conf"))
            rounds_test(cmap, d, kind, args.rounds, rng)
        d = os.path.join(tmp, "faults")
        os.mkdir(d)
        os.symlink(os.path.join(tmp, "conf"), os.path.join(d, "conf"))
        faults_test(cmap, d, rng)
        if TYPE == "hash":  # a btree change rewrites the tree: O(table)
            d = os.path.join(tmp, "cost")
            os.mkdir(d)
            os.symlink(os.path.join(tmp, "conf"), os.path.join(d, "conf"))
            cost_test(cmap, d)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
