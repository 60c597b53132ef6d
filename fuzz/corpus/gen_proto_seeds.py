#!/usr/bin/env python3
"""gen_proto_seeds.py: writes the seed corpora of fuzz_mss and fuzz_identify from the wire vectors
in tests/vectors/mss/ and tests/vectors/identify/, plus a few stream shapes the vectors do not
cover (dialer role, split reads, go's two-message identify, floods). Re-run after changing the
vectors:

    python3 fuzz/corpus/gen_proto_seeds.py

Seed layout (see the fuzz targets): byte 0 selects the read size (0: all at once; for fuzz_mss
bit 7 selects the dialer role), the rest is the byte stream.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seedlib  # noqa: E402
from seedlib import uv  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC = os.path.join(ROOT, "tests", "vectors")
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX_SEEDS = 30


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


def unhex(s):
    return b"" if s == "-" else bytes.fromhex(s)


def msg(text):
    b = text.encode() + b"\n"
    return uv(len(b)) + b


def mss_seeds():
    c = seedlib.Corpus("mss", MAX_SEEDS, 48)
    hdr = msg("/multistream/1.0.0")
    # Dialer role (offers /tls/1.0.0 then /noise): the answers a listener can give.
    c.add("dialer na then noise", bytes([0x80]) + hdr + msg("na") + msg("/noise"))
    c.add("dialer echo then noise frame", bytes([0x83]) + hdr + msg("/tls/1.0.0") + b"\x00\x20" + bytes(32))
    c.add("dialer refused twice", bytes([0x81]) + hdr + msg("na") + msg("na"))
    c.add("dialer echo before header", bytes([0x80]) + msg("/tls/1.0.0") + hdr)
    # Split reads of the common listener inputs.
    lazy = hdr + msg("/noise") + b"\x00\x20" + bytes(range(32))
    c.add("listener lazy rust byte by byte", b"\x01" + lazy)
    c.add("listener lazy rust 7 byte reads", b"\x07" + lazy)
    c.add("listener go tls noise 3 byte reads", b"\x03" + hdr + msg("/tls/1.0.0") + msg("/noise"))
    c.add("listener 17 refusals", b"\x00" + hdr + msg("/nope") * 17)
    c.add("listener max message", b"\x40" + hdr + msg("/" + "a" * 1022))
    for comment, f in rows("mss/listener.txt"):
        c.add("listener " + comment, b"\x00" + unhex(f[0]))
    return c


def identify_seeds():
    c = seedlib.Corpus("identify", MAX_SEEDS, 48)
    bodies = [(comment, unhex(f[0])) for comment, f in rows("identify/decode.txt")]
    relay = bodies[2][1]
    spr_only = bodies[4][1]
    # Stream shapes: go's split answer, split reads, floods and bad prefixes.
    c.add("go split two messages", b"\x00" + uv(len(relay)) + relay + uv(len(spr_only)) + spr_only)
    c.add("relay message byte by byte", b"\x01" + uv(len(relay)) + relay)
    c.add("relay message 61 byte reads", b"\x3d" + uv(len(relay)) + relay)
    c.add("eleven empty messages", b"\x00" + bytes(11))
    c.add("prefix 8193", b"\x00\x81\x40" + bytes(16))
    c.add("prefix non minimal", b"\x00\x80\x00")
    c.add("truncated message", b"\x00" + uv(len(relay)) + relay[:50])
    for comment, body in bodies:
        c.add(comment, b"\x00" + uv(len(body)) + body)
    return c


if __name__ == "__main__":
    for corpus in (mss_seeds(), identify_seeds()):
        print("%s: %d seeds" % (corpus.dir, len(corpus.names)))
