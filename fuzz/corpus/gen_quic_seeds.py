#!/usr/bin/env python3
"""gen_quic_seeds: seeds for fuzz_quic_initial derived from our client's real first datagram
(quic_initial/client_initial_0, written by test_quic_conn.c with RLY_QUIC_SEEDS): the same
Initial carrying a Retry token (magic 0xb6) that does not verify, one carrying another kind of
token, and the same Initial under a version we do not speak (Version Negotiation)."""
import os

from seedlib import OUT, Corpus


def varint(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | n >> 8, n & 0xFF])
    raise ValueError(n)


def with_token(pkt, token):
    """|pkt| (a long-header Initial without a token) with |token| in its header."""
    at = 5
    dcid = pkt[at]
    at += 1 + dcid
    scid = pkt[at]
    at += 1 + scid
    assert pkt[at] == 0, "the client's first Initial carries no token"
    return pkt[:at] + varint(len(token)) + token + pkt[at + 1:]


def main():
    with open(os.path.join(OUT, "quic_initial", "client_initial_0"), "rb") as f:
        initial = f.read()
    c = Corpus("quic_initial", 16, 40)
    c.add("retry token forged", with_token(initial, bytes([0xB6]) + bytes(range(1, 90))))
    c.add("retry token truncated", with_token(initial, bytes([0xB6, 1, 2, 3])))
    c.add("regular token", with_token(initial, bytes([0x36]) + bytes(40)))
    c.add("version negotiation", initial[:1] + bytes([0x5A, 0x6A, 0x7A, 0x8A]) + initial[5:])
    c.add("version negotiation short", initial[:1] + bytes([0x5A, 0x6A, 0x7A, 0x8A]) + initial[5:1199])


if __name__ == "__main__":
    main()
