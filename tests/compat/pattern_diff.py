#!/usr/bin/env python3
"""regexp:, pcre: and cidr: tables against real postmap (postfix-pcre for pcre:).

First the examples of regexp_table(5), pcre_table(5) and cidr_table(5)
(Postfix 3.7.11, retyped below), then for each type 300 generated tables:
rules with captures and `$n`/`${n}`/`$$` results, case flags, negation,
`if`/`endif` nesting (missing and stray ones too), continuation and comment
lines, malformed rules of every kind Postfix warns about; cidr: IPv4 and
IPv6 networks in every written form, host bits set, bad masks. Each table
is queried through `-q -` with generated keys (hits, misses, case, IPv6
spellings, non-UTF-8) and every tenth also with `-q KEY`. Exit status,
standard output and standard error (sorted) must be postmap's, except where
cmap deliberately shows "..." for a rule's result text.
"""
import argparse
import random
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from oracle import Oracle  # noqa: E402

ROUNDS = 300

# Postfix quotes result text in these; cmap shows "..." (it may be a password).
REDACTED = [
    re.compile(rb'(non-numeric replacement index ")[^\n]*(")'),
    re.compile(rb'(empty macro name: ")[^\n]*(")'),
    re.compile(rb'(truncated macro reference: ")[^\n]*(")'),
    re.compile(rb'(logical line must not start with whitespace: ")[^\n]*(")'),
]


def normalize(err):
    for r in REDACTED:
        err = r.sub(rb"\1...\2", err)
    return err


# --- the man pages' examples -------------------------------------------------

REGEXP_EXAMPLE = r"""# Disallow sender-specified routing. This is a must if you relay mail
# for other domains.
/[%!@].*[%!@]/       550 Sender-specified routing rejected

# Postmaster is OK, that way they can talk to us about how to fix
# their problem.
/^postmaster@/       OK

# Protect your outgoing majordomo exploders
if !/^owner-/
/^(.*)-outgoing@(.*)$/  550 Use ${1}@${2} instead
endif
"""
REGEXP_HEADER_EXAMPLE = r"""/^Subject: make money fast/     REJECT
/^To: friend@public\.com/       REJECT
"""
REGEXP_BODY_EXAMPLE = r"""# First skip over base 64 encoded text to save CPU cycles.
~^[[:alnum:]+/]{60,}$~          OK
"""
PCRE_EXAMPLE = r"""# Protect your outgoing majordomo exploders
/^(?!owner-)(.*)-outgoing@(.*)/ 550 Use ${1}@${2} instead

# Bounce friend@whatever, except when whatever is our domain (you would
# be better just bouncing all friend@ mail - this is just an example).
/^(friend@(?!my\.domain$).*)$/  550 Stick this in your pipe $1

# A multi-line entry. The text is sent as one line.
#
/^noddy@my\.domain$/
 550 This user is a funny one. You really don't want to send mail to
 them as it only makes their head spin.
"""
PCRE_BODY_EXAMPLE = r"""# First skip over base 64 encoded text to save CPU cycles.
# Requires PCRE version 3.
~^[[:alnum:]+/]{60,}$~          OK
"""
CIDR_EXAMPLE = """# Rule order matters. Put more specific allowlist entries
# before more general denylist entries.
192.168.1.1             OK
192.168.0.0/16          REJECT
2001:db8::1             OK
2001:db8::/32           REJECT
"""
EXAMPLE_KEYS = [
    "a!b@c", "user%host@relay", "postmaster@example.com", "POSTMASTER@x",
    "list-outgoing@example.com", "owner-list-outgoing@example.com",
    "Subject: make money fast", "subject: MAKE MONEY FAST now", "To: friend@public.com",
    "To: friend@publicXcom", "A" * 60, "QUJD" * 16, "QUJD" * 14 + "!",
    "friend@my.domain", "friend@other.domain", "noddy@my.domain", "nobody@my.domain", "",
]
CIDR_KEYS = ["192.168.1.1", "192.168.1.2", "192.168.255.255", "192.169.0.1", "2001:db8::1",
             "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:ffff::",
             "2001:db9::1", "::ffff:192.168.1.1", "10.0.0.1", "garbage", ""]


# --- generated regexp:/pcre: tables ------------------------------------------

LITERALS = ["a", "b", "c", "x", "A", "B", "1", "-", "@", "é"]


def gen_atom(rng, depth, pcre):
    r = rng.random()
    if r < 0.45:
        return rng.choice(LITERALS)
    if r < 0.53:
        return "."
    if r < 0.62:
        return rng.choice(["[ab]", "[^a]", "[a-c]", "[[:digit:]]", "[A-Z]", "[.]"])
    if r < 0.67:
        return "\\."
    if depth < 2 and r < 0.88:
        return "(" + gen_alt(rng, depth + 1, pcre) + ")"
    if pcre:
        return rng.choice(["\\d", "(?:ab)", "\\w", "(?=a)", "\\bx", "(?i)a", "(a)\\1"])
    return rng.choice(["\\w", "\\<a", "()", "[[:alpha:]]"])


def gen_piece(rng, depth, pcre):
    quant = rng.choice(["", "", "", "", "*", "+", "?", "{1,2}", "{2}"])
    if pcre and quant and rng.random() < 0.3:
        quant += "?"
    return gen_atom(rng, depth, pcre) + quant


def gen_alt(rng, depth, pcre):
    branches = ["".join(gen_piece(rng, depth, pcre) for _ in range(rng.randint(1, 4)))
                for _ in range(1 if rng.random() < 0.75 else 2)]
    return "|".join(branches)


def gen_regex(rng, pcre):
    if rng.random() < 0.05:
        return rng.choice(["(", "[a", "a{2,1}", "*a", "a)", "(?<", "\\", "a**", "x{99999}"])
    return ("^" if rng.random() < 0.4 else "") + gen_alt(rng, 0, pcre) + \
        ("$" if rng.random() < 0.3 else "")


RESULTS = ["OK", "REJECT no", "$1", "x${1}y", "$(1)", "$$", "a$$b", "$2", "${1}-${2}",
           "DUNNO", "550 $1", "é", "$1$1", "$$1", "OK", "user:s3cret", "[$1]:587"] * 3 + [
           "$0", "$x1", "a$", "${1", "", "pass$word", "user:s3cret$1", "550 $1 $3", "${10}"]


def gen_flags(rng, pcre):
    if pcre:
        return rng.choice(["", "", "", "i", "s", "m", "x", "A", "E", "U", "X", "ii", "q", "!", "iU"])
    return rng.choice(["", "", "", "i", "ii", "x", "m", "q", "im"])


def gen_pattern(rng, pcre):
    delim = rng.choice(["/"] * 12 + ["|", "%", "#", "a"])
    neg = rng.choice([""] * 8 + ["!", "!!", "! "])
    text = gen_regex(rng, pcre)
    if delim != "/" and delim in text:
        delim = "/"
    if "/" == delim:
        text = text.replace("/", "\\/")
    close = delim if rng.random() > 0.03 else ""
    return f"{neg}{delim}{text}{close}{gen_flags(rng, pcre)}"


def gen_pattern_table(rng, pcre):
    lines = []
    if rng.random() < 0.05:
        lines.append("  /a/ leading-whitespace-first-line")
    depth = 0
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.12 and depth < 3:
            lines.append(f"{rng.choice(['if', 'IF', 'if ', 'If'])} {gen_pattern(rng, pcre)}"
                         + (" extra" if rng.random() < 0.05 else ""))
            depth += 1
        elif r < 0.22 and (depth > 0 or rng.random() < 0.2):
            lines.append(rng.choice(["endif", "ENDIF", "endif", "endif junk"]))
            depth = max(0, depth - 1)
        elif r < 0.25:
            lines.append(rng.choice(["# comment", "", "   ", "garbage here", "iff /a/ x",
                                     "endiff", "!", "if", "/a/ x\n  continued text",
                                     "/b/\n  result-on-next-line", "/c/ x\r"]))
        else:
            pat = gen_pattern(rng, pcre)
            if not pcre and rng.random() < 0.1:
                pat += "!" + gen_pattern(rng, pcre).lstrip("!")
            result = rng.choice(RESULTS)
            lines.append(f"{pat}{rng.choice([' ', '  ', chr(9)])}{result}".rstrip()
                         if result or rng.random() < 0.5 else pat)
    if rng.random() < 0.7:
        lines += ["endif"] * depth
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


def gen_keys(rng, table):
    words = re.findall(r"[a-zA-Z0-9@.-]+", table)
    keys = set()
    for _ in range(14):
        if words and rng.random() < 0.5:
            k = "".join(rng.choice(words) for _ in range(rng.randint(1, 2)))
        else:
            k = "".join(rng.choice("abcxAB1-@.é") for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.2:
            k = k.upper()
        keys.add(k.replace("\n", ""))
    keys = sorted(keys)
    rng.shuffle(keys)
    data = "\n".join(keys).encode() + b"\n"
    if rng.random() < 0.05:
        data += b"bad\xffkey\n"
    return keys, data


# --- generated cidr: tables --------------------------------------------------

def gen_v4(rng):
    base = rng.choice([(10, 0, 0, 0), (192, 168, 1, 0), (1, 2, 3, 4), (172, 16, 0, 0),
                       (0, 0, 0, 0), (255, 255, 255, 255)])
    addr = [b if rng.random() < 0.7 else rng.randint(0, 255) for b in base]
    return addr


def v4_text(addr):
    return ".".join(str(b) for b in addr)


def masked_v4(addr, bits):
    n = int.from_bytes(bytes(addr), "big")
    n &= (0xffffffff << (32 - bits)) & 0xffffffff if bits else 0
    return list(n.to_bytes(4, "big"))


V6_NETS = ["2001:db8::", "2001:db8:1::", "2001:DB8::", "fe80::", "::", "::1",
           "2001:db8:0:0:0:0:0:1", "::ffff:10.0.0.1", "2001:db8::8:800:200c:417a"]


def gen_cidr_pattern(rng):
    r = rng.random()
    if r < 0.55:
        addr = gen_v4(rng)
        if rng.random() < 0.2:
            return v4_text(addr)
        bits = rng.choice([0, 8, 16, 24, 25, 30, 32, rng.randint(0, 32)])
        if rng.random() < 0.85:
            addr = masked_v4(addr, bits)
        net = f"{v4_text(addr)}/{bits}"
        form = rng.random()
        if form < 0.1:
            return f"[{v4_text(addr)}]/{bits}"
        if form < 0.15:
            return f"[{net}]"
        return net
    if r < 0.85:
        net = rng.choice(V6_NETS)
        bits = rng.choice([None, 16, 32, 48, 64, 128, 10, 127])
        text = net if bits is None else f"{net}/{bits}"
        return f"[{net}]" + (f"/{bits}" if bits is not None else "") \
            if rng.random() < 0.2 else text
    return rng.choice(["1.2.3", "1.2.3.4.5", "300.1.2.3", "01.2.3.4", "1.2.3.0/33",
                       "1.2.3.0/x", "1.2.3.0/", "[1.2.3.4", "[1.2.3.4]x", "2001:db8::/129",
                       "::/0", "0.0.0.0/0", "1.2.3.0/280", "1.2.3.0/024", "[::1]/128",
                       "garbage", "1.2.3.4/24/8", "[1.2.3.0/24]/24"])


def gen_cidr_table(rng):
    lines = []
    depth = 0
    for _ in range(rng.randint(1, 14)):
        r = rng.random()
        if r < 0.12 and depth < 3:
            neg = rng.choice(["", "", "!", "! "])
            lines.append(f"{rng.choice(['if', 'IF'])} {neg}{gen_cidr_pattern(rng)}")
            depth += 1
        elif r < 0.22 and (depth > 0 or rng.random() < 0.2):
            lines.append(rng.choice(["endif", "ENDIF", "endif x"]))
            depth = max(0, depth - 1)
        elif r < 0.26:
            lines.append(rng.choice(["# comment", "", "if !", "if", "!", "ifx 1.2.3.4 OK",
                                     "1.2.3.4", "10.0.0.0/8 OK\n  continued",
                                     "  1.2.3.4 indented"]))
        else:
            neg = rng.choice([""] * 9 + ["!"])
            value = rng.choice(["OK", "REJECT blocked", "550 5.7.1 no", "DUNNO", "é"])
            lines.append(f"{neg}{gen_cidr_pattern(rng)}{rng.choice([' ', chr(9), '   '])}{value}")
    if rng.random() < 0.7:
        lines += ["endif"] * depth
    return "\n".join(lines) + "\n"


def gen_cidr_keys(rng, table):
    keys = set()
    nets = re.findall(r"[0-9a-fA-F:.]{2,}", table)
    for _ in range(16):
        r = rng.random()
        if r < 0.35 and nets:
            k = rng.choice(nets)
            if "." in k and ":" not in k and rng.random() < 0.6:
                parts = k.split(".")
                if len(parts) == 4:
                    parts[3] = str(rng.randint(0, 255))
                    k = ".".join(parts)
        elif r < 0.7:
            k = v4_text(gen_v4(rng))
        elif r < 0.85:
            k = rng.choice(["2001:db8::1", "2001:DB8::1", "2001:0db8::0001", "fe80::1",
                            "::1", "::", "2001:db9::", "::ffff:10.0.0.1", "::ffff:1.2.3.4",
                            "2001:db8:1::5", "FE80::ABCD"])
        else:
            k = rng.choice(["", "garbage", "1.2.3", "01.2.3.4", " 1.2.3.4", "[1.2.3.4]",
                            "1.2.3.4 ", "1.2.3.4/32", "::g"])
        keys.add(k)
    keys = sorted(keys)
    rng.shuffle(keys)
    return keys, ("\n".join(keys) + "\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmap", required=True)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    opts = ap.parse_args()
    rng = random.Random(opts.seed)
    o = Oracle(opts.cmap, "cmap-pattern-")
    counts = {}
    try:
        def table_case(label, kind, text, keys, data):
            o.write("t", text)
            spec = f"{kind}:t"
            o.compare(f"{label} -q -", ["-q", "-", spec], data, normalize, sort_stderr=True)
            return spec

        examples = [("regexp", REGEXP_EXAMPLE), ("regexp", REGEXP_HEADER_EXAMPLE),
                    ("regexp", REGEXP_BODY_EXAMPLE), ("pcre", PCRE_EXAMPLE),
                    ("pcre", REGEXP_HEADER_EXAMPLE), ("pcre", PCRE_BODY_EXAMPLE)]
        data = ("\n".join(EXAMPLE_KEYS) + "\n").encode()
        for i, (kind, text) in enumerate(examples):
            spec = table_case(f"man page example {i}", kind, text, EXAMPLE_KEYS, data)
            for key in EXAMPLE_KEYS[:8]:
                o.compare(f"man page example {i} -q", ["-q", key, spec], None, normalize)
        table_case("cidr man page example", "cidr", CIDR_EXAMPLE, CIDR_KEYS,
                   ("\n".join(CIDR_KEYS) + "\n").encode())

        for kind in ("regexp", "pcre", "cidr"):
            counts[kind] = 0
            for i in range(opts.rounds):
                if kind == "cidr":
                    text = gen_cidr_table(rng)
                    keys, data = gen_cidr_keys(rng, text)
                else:
                    text = gen_pattern_table(rng, kind == "pcre")
                    keys, data = gen_keys(rng, text)
                spec = table_case(f"{kind} #{i}", kind, text, keys, data)
                counts[kind] += 1
                if i % 10 == 0 and keys:
                    o.compare(f"{kind} #{i} -q", ["-q", keys[0], spec], None, normalize,
                              sort_stderr=True)

        # Tables written in place, and what Postfix refuses.
        for spec in ["regexp:{{/a/ b}, {/c/ d}}", "regexp:{ {/(a)/ x$1y} , {if /b/}, {/./ in},"
                     " {endif} }", "pcre:{{/^a/i A}}", "cidr:{{10.0.0.0/8 ten}, {::1 one}}",
                     "regexp:{}", "regexp:{ , }", "regexp:{/x/ y}", "regexp:{{/a/ b}x}",
                     "regexp:{{/a/ b},{ /a/ c}", "pcre:{{/a/ $}}", "cidr:{{bad y}}",
                     "cidr:{{10.0.0.1 x}", "regexp:{{ if /a/}, {/./ in}, {endif}}",
                     "regexp:{{/a/\n b}}"]:
            for key in ("a", "10.1.2.3", "::1", "b"):
                o.compare(f"inline {spec!r}", ["-q", key, spec], None, normalize, sort_stderr=True)
        # postmap -F: results name files whose contents are the result.
        o.write("v1", "first file\n")
        o.write("v2", "second")
        for kind, text in (("regexp", "/^a/ v1\n/^b/ v1,v2\n/^c/ missing\n/^d/\n/^(e)/ v$1\n"),
                           ("pcre", "/^a/ v1\n/^b/ v1 v2\n/^c/ missing\n"),
                           ("cidr", "10.0.0.1 v1\nif 10.0.0.0/8\n10.0.0.2 v2\nendif\n"
                                    "10.0.0.3 missing\n")):
            o.write("t", text)
            o.compare(f"-F {kind}", ["-F", "-q", "-", f"{kind}:t"],
                      b"a\nb\nc\nd\ne\n10.0.0.1\n10.0.0.2\n10.0.0.3\n", normalize,
                      sort_stderr=True)
        for args in (["-q", "x", "regexp:nonexistent"], ["-q", "x", "pcre:nonexistent"],
                     ["-q", "x", "cidr:nonexistent"], ["-s", "regexp:{{/a/ b}}"],
                     ["-s", "cidr:{{1.2.3.4 b}}"], ["-d", "a", "regexp:{{/a/ b}}"],
                     ["-q", "-", "cidr:{{1.2.3.4 b}}", "regexp:{{/./ any}}"]):
            o.compare(f"edge {args!r}", args, b"1.2.3.4\nx\n", normalize)
    finally:
        o.close()
    return o.report(f"pattern: {sum(counts.values())} generated tables "
                    f"({', '.join(f'{k} {v}' for k, v in counts.items())}) and the man pages' "
                    "examples")


if __name__ == "__main__":
    sys.exit(main())
