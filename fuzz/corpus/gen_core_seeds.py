#!/usr/bin/env python3
"""gen_core_seeds.py: writes the seed corpora of fuzz_varint, fuzz_multiaddr_bytes,
fuzz_multiaddr_str and fuzz_peerid from the spec vectors in tests/vectors/ (valid and invalid
cases), so seeds and unit tests share one source of truth. Re-run after changing the vectors:

    python3 fuzz/corpus/gen_core_seeds.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seedlib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC = os.path.join(ROOT, "tests", "vectors")
OUT = os.path.join(ROOT, "fuzz", "corpus")
MAX_SEEDS = 40


def rows(name):
    with open(os.path.join(VEC, name)) as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line and not line.startswith("#"):
                yield line.split("\t")


def varint():
    c = seedlib.Corpus("varint", MAX_SEEDS, 40)
    for hexs, want in rows("varint.txt"):
        c.add(("bad_" + want[1:] + "_" if want.startswith("!") else "v") + hexs[:20],
              bytes.fromhex(hexs))
    c.add("empty", b"")


def multiaddr_bytes():
    c = seedlib.Corpus("multiaddr_bytes", MAX_SEEDS, 40)
    good = [r for r in rows("multiaddr.txt") if len(r) == 2]
    for text, hexs in good[:20]:
        c.add(text, bytes.fromhex(hexs))
    for hexs, err in list(rows("multiaddr_bad_bytes.txt"))[::2]:
        c.add("bad_" + err[1:] + "_" + hexs[:16], bytes.fromhex(hexs))


def multiaddr_str():
    c = seedlib.Corpus("multiaddr_str", MAX_SEEDS, 40)
    good = list(rows("multiaddr.txt"))
    for r in good[:16] + [r for r in good if len(r) == 3]:
        c.add(r[0], r[0])
    bad = list(rows("multiaddr_bad_text.txt"))
    for text, err in bad[::5]:
        c.add("bad_" + err[1:] + "_" + text, text)


def peerid():
    c = seedlib.Corpus("peerid", MAX_SEEDS, 40)
    for b58, cid, hexs in rows("peerid.txt"):
        c.add("bin_" + b58[:12], bytes.fromhex(hexs))
        c.add("b58_" + b58[:12], b58)
        c.add("cid_" + b58[:12], cid)
    for text, want in rows("peerid_text.txt"):
        c.add(("bad_" + want[1:] + "_" if want.startswith("!") else "alt_") + text[:24], text)
    c.add("multibase_b32_foobar", "bmzxw6ytboi")
    c.add("multibase_b32_trailing_bits", "bmz")
    c.add("multibase_b58_zeros", "z111")


def cidr():
    c = seedlib.Corpus("cidr", MAX_SEEDS, 40)
    for text in ["203.0.113.0/24", "0.0.0.0/0", "127.0.0.1", "10.1.2.3/8", "2001:db8::/32", "::1",
                 "::/0", "::ffff:10.0.0.1/104", "2001:db8:ffff:ffff::1/33"]:
        c.add("ok_" + text, text)
    for text in ["", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/024", "::/129", "fe80::1%eth0",
                 "1.2.3.4.5", "10.0.0.0/8/8", "10.0.0.0\x00/8"]:
        c.add("bad_" + text, text)


if __name__ == "__main__":
    cidr()
    varint()
    multiaddr_bytes()
    multiaddr_str()
    peerid()
