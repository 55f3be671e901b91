#!/usr/bin/env python3
"""A tiny DNS server for tests run in a private network namespace.

Usage: fake_dns.py PORT ZONE...   where ZONE is "domain=10:mx1.example,20:mx2"
(MX records), "domain=nx" (NXDOMAIN) or "domain=" (exists, no MX). Answers
UDP queries on 127.0.0.1 until killed; prints "ready" once bound.
"""
import socket
import struct
import sys


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def parse_question(packet):
    pos, labels = 12, []
    while packet[pos] != 0:
        n = packet[pos]
        labels.append(packet[pos + 1:pos + 1 + n].decode(errors="replace"))
        pos += 1 + n
    qtype, qclass = struct.unpack("!HH", packet[pos + 1:pos + 5])
    return ".".join(labels).lower(), qtype, packet[12:pos + 5]


def main():
    port = int(sys.argv[1])
    zones = {}
    for spec in sys.argv[2:]:
        domain, _, records = spec.partition("=")
        zones[domain.lower()] = records
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        packet, peer = s.recvfrom(4096)
        if len(packet) < 17:
            continue
        qid = packet[:2]
        name, qtype, question = parse_question(packet)
        records = zones.get(name)
        answers = []
        rcode = 0
        if records is None or records == "nx":
            rcode = 3  # NXDOMAIN
        elif qtype == 15 and records:
            for mx in records.split(","):
                pref, host = mx.split(":")
                rdata = struct.pack("!H", int(pref)) + encode_name(host)
                answers.append(b"\xc0\x0c" + struct.pack("!HHIH", 15, 1, 60, len(rdata)) + rdata)
        header = qid + struct.pack("!HHHHH", 0x8180 | rcode, 1, len(answers), 0, 0)
        s.sendto(header + question + b"".join(answers), peer)


if __name__ == "__main__":
    main()
