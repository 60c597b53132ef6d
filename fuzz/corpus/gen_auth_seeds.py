#!/usr/bin/env python3
"""gen_auth_seeds.py: writes the seed corpus of fuzz_auth: tokens (the fuzz target's shared secret,
tokens minted for its peer, for another peer and with another secret, expired ones, and every way
to break the v1.<expiry>.<mac> form), AuthRequest bodies carrying them, and AuthResponse bodies.
The MACs are computed here with Python's hmac module, independently of the C code. Re-run after
changing the fuzz target's secret, peer or time:

    python3 fuzz/corpus/gen_auth_seeds.py

Seed layout (see fuzz/fuzz_auth.c): the whole input is at once an AuthRequest body, an
AuthResponse body (no length prefix: the decoders take bodies) and a token.
"""
import base64
import hashlib
import hmac
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seedlib  # noqa: E402
from seedlib import field, uv  # noqa: E402

MAX_SEEDS = 60
# The values of fuzz/fuzz_auth.c.
SECRET = b"fuzz-auth-secret-0123456789abcdef"
NOW = 1700000000
# 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA as bytes; peer B flips the last bit.
PEER = bytes.fromhex("0024080112202ffa35a99d3a3cfbb17bb7c1dc5561b18a8dcca4df38dc613ea859c37eb1336b")
PEER_B = PEER[:-1] + bytes([PEER[-1] ^ 1])
LABEL = b"mesh-relay-auth-v1"
INT64_MAX = (1 << 63) - 1


def mint(expiry, peer=PEER, secret=SECRET, digits=None):
    text = digits if digits is not None else str(expiry).encode()
    mac = hmac.new(secret, LABEL + peer + text, hashlib.sha256).digest()
    return b"v1." + text + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")


def tokens(c):
    good = mint(NOW + 100000000)
    mac = good.split(b".")[2]
    c.add("secret", SECRET)
    c.add("minted valid", good)
    c.add("minted expires now", mint(NOW))
    c.add("minted expires next second", mint(NOW + 1))
    c.add("minted expired", mint(NOW - 100000000))
    c.add("minted expiry 0", mint(0))
    c.add("minted expiry int64 max", mint(INT64_MAX))
    c.add("minted for peer b", mint(NOW + 100000000, peer=PEER_B))
    c.add("minted with another secret", mint(NOW + 100000000, secret=b"another-secret"))
    c.add("default token", b"CHANGE_ME_IN_PRODUCTION")
    c.add("secret minus one byte", SECRET[:-1])
    c.add("empty", b"")
    c.add("v2 prefix", b"v2" + good[2:])
    c.add("prefix only", b"v1.")
    c.add("leading zero", mint(0, digits=b"0" + str(NOW + 100000000).encode()))
    c.add("twenty digits", b"v1.17000000000000000000." + mac)
    c.add("int64 max plus one", b"v1.9223372036854775808." + mac)
    c.add("twenty digits wrapping to 0", b"v1.18446744073709551616." + mac)
    c.add("sign", b"v1.+1800000000." + mac)
    c.add("missing mac", b"v1.1800000000")
    c.add("empty mac", b"v1.1800000000.")
    c.add("mac with padding", good + b"=")
    c.add("mac base64 alphabet", good[:-1] + b"+")
    c.add("mac truncated", good[:-1])
    c.add("mac stray bits", good[:-1] + bytes([good[-1] + 1]))
    c.add("mac base64 alphabet inside", good[:20] + b"+/" + good[22:])
    c.add("mac padding inside", good[:20] + b"=" + good[21:])
    c.add("mac nul inside", good[:20] + b"\0" + good[21:])
    c.add("mac one flipped char", good[:20] + (b"A" if good[20:21] != b"A" else b"B") + good[21:])
    return good


def requests(c, good):
    c.add("request secret", field(1, SECRET))
    c.add("request minted", field(1, good))
    c.add("request minted peer b", field(1, mint(NOW + 100000000, peer=PEER_B)))
    c.add("request expired", field(1, mint(NOW - 1)))
    c.add("request empty token", field(1, b""))
    c.add("request unknown fields around token",
          field(2, 150) + field(3, b"hi") + b"\x21" + bytes(8) + field(1, good) + b"\x2d" +
          bytes(4) + field(9, b""))
    c.add("request token twice", field(1, b"wrong") + field(1, SECRET))
    c.add("request token 1024", field(1, b"t" * 1024))
    c.add("request token 1025", field(1, b"t" * 1025))
    c.add("request token as varint", field(1, 5))
    c.add("request truncated", field(1, SECRET)[:-3])
    c.add("request framed", uv(len(field(1, SECRET))) + field(1, SECRET))
    c.add("request group", b"\x0b\x0c")


def responses(c):
    c.add("response ok", field(1, 100) + field(2, b"ok"))
    c.add("response permission denied", field(1, 202) + field(2, b"wrong token"))
    c.add("response too many failures", field(1, 201) + field(2, b"too many failures"))
    c.add("response malformed", field(1, 400))
    c.add("response long text", field(1, 202) + field(2, b"x" * 300))
    c.add("response control and utf8", field(2, b"\x01\xffh\xc3\xa9\n") + field(1, 100))
    c.add("response status 64 bit", field(1, (1 << 64) - 1) + field(2, b"big"))
    c.add("response status as bytes", field(1, b"\x64") + field(2, 7))
    c.add("response truncated", (field(1, 100) + field(2, b"ok"))[:-1])
    # Texts (the target also sends the input as a response text, cut to 127 bytes).
    c.add("text 2 byte sequence across the cut", b"a" * 126 + "\u00e9".encode() * 3)
    c.add("text 4 byte sequence across the cut", b"a" * 125 + "\U0001f600".encode() * 2)
    c.add("text sequence ending at the cut", b"a" * 125 + "\u00e9".encode() + b"b" * 10)
    c.add("text only continuation bytes", b"\x80" * 200)


if __name__ == "__main__":
    corpus = seedlib.Corpus("auth", MAX_SEEDS, 48)
    requests(corpus, tokens(corpus))
    responses(corpus)
    print("%s: %d seeds" % (corpus.dir, len(corpus.names)))
