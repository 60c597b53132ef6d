#!/usr/bin/env python3
"""gen_circuit_seeds.py: writes the seed corpora of fuzz_hop and fuzz_stop: the circuit relay v2
messages go, js and rust peers send (PROTOCOLS.md 8.2-8.4), from tests/vectors/circuit/, plus
stream shapes the vectors do not cover (split reads, pipelined bytes after the message, replies
carrying a real signed voucher, oversize and broken frames). Re-run after changing the vectors:

    python3 fuzz/corpus/gen_circuit_seeds.py

Seed layout (see the fuzz targets): byte 0 is the read size (0: everything at once), the rest is
the byte stream (a client's hop stream for fuzz_hop, a target's stop answer for fuzz_stop).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seedlib  # noqa: E402
from seedlib import field, uv  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC = os.path.join(ROOT, "tests", "vectors", "circuit")
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX_SEEDS = 30
# A voucher signed with the spec's Ed25519 test key (written by gen_core_seeds.py).
VOUCHER = os.path.join(OUT, "envelope", "voucher_spec_key")
ED = bytes.fromhex("0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
MULTISTREAM = b"\x13/multistream/1.0.0\n"


def rows(name):
    """Yields (comment, fields) for each vector line, the comment being the line above it."""
    comment = ""
    with open(os.path.join(VEC, name)) as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("#"):
                comment = line[1:].strip()
            elif line:
                yield comment, line.split("\t")


def frame(body):
    return uv(len(body)) + body


def wire():
    return {f[0]: bytes.fromhex(f[1]) for _, f in rows("wire.txt")}


def voucher():
    try:
        with open(VOUCHER, "rb") as f:
            return f.read()
    except OSError:
        return bytes(range(64))


def reserve_ok(v):
    # /ip4/1.2.3.4/tcp/4001/p2p/<relay> with the relay of the voucher, go-style reply.
    addr = b"\x04\x01\x02\x03\x04\x06\x0f\xa1" + uv(421) + uv(len(ED)) + ED
    rsv = field(1, 1700003600) + field(2, addr) + field(3, v)
    return frame(field(1, 2) + field(3, rsv) + field(4, field(1, 120) + field(2, 131072)) +
                 field(5, 100))


def hop_seeds():
    c = seedlib.Corpus("hop", MAX_SEEDS, 48)
    w = wire()
    c.add("reserve go rust js", b"\x00" + w["hop_reserve"])
    c.add("reserve byte by byte then fin junk", b"\x01" + w["hop_reserve"] + b"\xff\xff")
    c.add("connect then pipelined multistream", b"\x00" + w["hop_connect_ed25519"] + MULTISTREAM)
    c.add("connect 3 byte reads", b"\x03" + w["hop_connect_ed25519"])
    c.add("reserve ok reply with signed voucher", b"\x00" + reserve_ok(voucher()))
    c.add("reserve ok reply 7 byte reads", b"\x07" + reserve_ok(voucher()))
    c.add("length 4096 body of unknown field", b"\x00\x80\x20\x4a\xfd\x1f" + bytes(4093))
    c.add("length 4097", b"\x00\x81\x20" + bytes(32))
    c.add("truncated connect", b"\x00" + w["hop_connect_ed25519"][:20])
    # Every other vector, so the seeds stay within MAX_SEEDS and cover both halves of the file
    # (accepted messages first, broken ones after).
    for comment, f in list(rows("hop.txt"))[::2]:
        c.add(comment, b"\x00" + bytes.fromhex(f[0]))
    return c


def stop_seeds():
    c = seedlib.Corpus("stop", MAX_SEEDS, 48)
    w = wire()
    ok = w["stop_status_100"]
    c.add("status ok then target bytes", b"\x00" + ok + MULTISTREAM)
    c.add("status ok byte by byte", b"\x01" + ok + MULTISTREAM)
    c.add("status ok 2 byte reads", b"\x02" + ok)
    for code in (200, 201, 202, 203, 204, 400, 401):
        c.add("status %d" % code, b"\x00" + w["stop_status_%d" % code])
    c.add("connect 2min 128k", b"\x00" + w["stop_connect_2min_128k"])
    c.add("connect unlimited 5 byte reads", b"\x05" + w["stop_connect_unlimited"])
    c.add("hop status ok on a stop stream", b"\x00" + w["hop_connect_ok_2min_128k"])
    c.add("length 4097", b"\x00\x81\x20" + bytes(16))
    c.add("padded length", b"\x00\x80\x05\x08\x01\x20\x64")
    for comment, f in rows("stop.txt"):
        c.add(comment, b"\x00" + bytes.fromhex(f[0]))
    return c


if __name__ == "__main__":
    for corpus in (hop_seeds(), stop_seeds()):
        print("%s: %d seeds" % (corpus.dir, len(corpus.names)))
