#!/usr/bin/env python3
"""gen_relay_service_seeds.py: writes the seed corpus of fuzz_relay_service (see
fuzz/fuzz_relay_service.c for the encoding). An input is a configuration byte (bit 0: 5 s circuit
duration limit, bit 1: 200-byte data limit, bit 2: [acl] with peer 3 denied and peer 2 trusted,
bit 3: [limits] per address, bit 4: token authentication required (control-plane key), bit 5:
with the shared secret too) and then operations, each an opcode (op % 16) and its operands:

    0/1  new connection (b: peer b%4, bit 2 QUIC, bits 3-4 address; both set: relayed)
    2    tear a connection down (conn)
    3/4  open a hop stream (conn, stream mode, kind | 0x80 to send it with the negotiation)
    5/6  the peer sends (stream, kind, chunking, [kind operands])
    7    FIN from the peer (stream)        8   reset by the peer (stream)
    9    window update (stream, log2 bytes) 10  the transport delivers a close it owes (stream)
    11/12 resolve a pending STOP open (open, how: 0 "na", 1 reset, 2 ok, 3 ok with a message
         (then stream mode, kind, [kind operands]))
    13   the clock moves (b: (b>>2) units of 1 ms, 100 ms, 1 s, 10 s by b&3)
    14   settings (b: odd drains; else reload with other limits)
    15   misc (b < 16: the next open fails; < 32: an allocation fails soon; < 48: the peer of
         connection b % n loses its authorisation (rly_relay_revoke); < 64: memory budget b & 1 bytes (odd:
         everything is over it, even: none); 64..127: an auth stream (conn, how: token kind
         (how & 7) % 7 (0 signed, 1 signed expiring 4 s in, 2 signed trusted (odd peers: class gold, 2 s circuits), 3 another key's, 4 minted,
         5 the shared secret, 6 garbage), of peer (how >> 3) % 4 (0: the connection's own),
         0x40 sent with the negotiation, 0x80 in 3-byte pieces; then stream mode);
         128..143: revoked list (bits: bit i revokes kind i % 4 of peer i / 2);
         144..159: a reload (b & 1 not required, & 2 another key, & 4 no key, & 8 secret);
         160..175: queries; 255: shutdown)

Stream mode byte: bit 0 set: a reset by the relay calls on_close later (deferred) instead of at
once; bits 1-2: 3 no window, 2 seven bytes, else 1 MiB.
Message kinds: 0 RESERVE, 1 CONNECT (then peer), 2 HOP STATUS, 3 a HOP message without type,
4 STOP STATUS OK, 5 STOP STATUS refused, 6 STOP CONNECT, 7 raw (then length, bytes), 8/9 bulk
(then size class: 16, 1000, 70000, 600000 bytes). Chunking byte: < 128 whole, else pieces of
1 + (b & 15) bytes.

Streams and connections are numbered in the order they are made. Re-run after changing the
encoding:

    python3 fuzz/corpus/gen_relay_service_seeds.py
"""
from seedlib import Corpus

SYNC, DEFER = 0, 1
SEC = 2  # clock unit selector for seconds


def conn(peer, quic=False, addr=0, relayed=False):
    b = peer | (4 if quic else 0) | ((3 if relayed else addr) << 3)
    return [0, b]


def hop(c, kind=None, mode=SYNC, *extra):
    return [3, c, mode, (0x80 | kind) if kind is not None else 0] + list(extra)


def send(s, kind, *extra, chunk=0):
    return [5, s, kind, 128 | (chunk - 1) if chunk else 0] + list(extra)


def fin(s):
    return [7, s]


def reset(s):
    return [8, s]


def settle(s):
    return [10, s]


def window(s, log2):
    return [9, s, log2]


def resolve(o, how, mode=SYNC, *msg):
    out = [11, o, how]
    if how >= 2:
        out += [mode]
    return out + list(msg)


VALID, SHORT, TRUSTED, ROGUE, MINTED, SHARED, GARBAGE = range(7)


def auth(c, kind, of=0, early=False, pieces=False, mode=SYNC):
    """An auth stream on conn c with a token of |kind| for peer |of| (0: the connection's own)."""
    return [15, 64, c, kind | (of << 3) | (0x40 if early else 0) | (0x80 if pieces else 0), mode]


def secs(n):
    return [13, (n << 2) | SEC]


def ms(n):
    return [13, n << 2]


class Seeds:
    """Corpus.add for operation lists."""

    def __init__(self, corpus):
        self.corpus = corpus

    def add(self, desc, ops):
        self.corpus.add(desc, bytes(ops))


RESERVE, CONNECT, HOP_STATUS, NO_TYPE, STOP_OK, STOP_NO, STOP_CONNECT, RAW, BULK = range(9)

# A reserves over conn 0 (stream 0); B is conn 1.
A_RESERVES = conn(0) + conn(1, addr=1) + hop(0, RESERVE)


def main():
    c = Seeds(Corpus("relay_service", 64, 60))
    # Issue 11 item 1, first path: B's CONNECT (stream 1) makes the relay open a STOP stream to A
    # (open 0); B resets its hop stream; then A answers the negotiation, or resets it.
    connect = A_RESERVES + hop(1, CONNECT, SYNC, 0)
    c.add("uaf source resets then destination answers ok",
          [0] + connect + reset(1) + resolve(0, 3, SYNC, STOP_OK))
    c.add("uaf source resets then destination takes stop silently",
          [0] + connect + reset(1) + resolve(0, 2) + secs(5))
    c.add("uaf source resets then destination refuses",
          [0] + connect + reset(1) + resolve(0, 0))
    c.add("uaf source resets then negotiation reset",
          [0] + connect + reset(1) + resolve(0, 1))
    c.add("uaf deferred close source resets then ok",
          [0] + conn(0) + conn(1) + hop(0, RESERVE) + hop(1, CONNECT, DEFER, 0) + reset(1)
          + resolve(0, 3, DEFER, STOP_OK) + settle(2))
    # Second path: A never answers, the relay's deadline answers B CONNECTION_FAILED, B sends FIN,
    # then A resets the STOP stream during the negotiation.
    c.add("uaf deadline then source fin then destination resets",
          [0] + connect + secs(4) + fin(1) + resolve(0, 1))
    c.add("uaf deadline then source fin then destination answers",
          [0] + connect + secs(4) + fin(1) + resolve(0, 3, SYNC, STOP_OK))
    c.add("destination connection closes while stop opens", [0] + connect + [2, 0])
    c.add("source connection closes while stop opens", [0] + connect + [2, 1] + resolve(0, 2))
    # A whole circuit: OK, data both ways, half-close each way, both sides finished.
    circuit = connect + resolve(0, 3, SYNC, STOP_OK)
    c.add("circuit data and clean close",
          [0] + circuit + send(1, BULK, 1) + send(2, BULK, 1) + fin(1) + fin(2)
          + settle(1) + settle(2))
    c.add("circuit data limit", [2] + circuit + send(1, BULK, 1) + send(2, BULK, 0))
    c.add("circuit duration limit", [1] + circuit + send(1, BULK, 0) + secs(6))
    c.add("circuit backpressure then window",
          [0] + connect + resolve(0, 3, 6, STOP_OK) + send(1, BULK, 2) + window(2, 20)
          + send(1, BULK, 3) + window(2, 20) + reset(2))
    c.add("circuit early data before stop answers",
          [0] + connect + send(1, BULK, 2) + send(1, RAW, 8, *range(8)) + resolve(0, 2)
          + send(2, STOP_OK) + send(2, BULK, 0))
    c.add("circuit shutdown", [0] + circuit + send(1, BULK, 0) + [15, 255])
    c.add("circuit destination resets", [0] + circuit + reset(2) + settle(1))
    c.add("stop reply cut in pieces",
          [0] + connect + resolve(0, 2) + send(2, STOP_OK, chunk=1) + send(1, BULK, 0))
    c.add("stop refused", [0] + connect + resolve(0, 2) + send(2, STOP_NO))
    c.add("stop fin without answer", [0] + connect + resolve(0, 2) + fin(2))
    c.add("stop wrong message", [0] + connect + resolve(0, 2) + send(2, STOP_CONNECT))
    c.add("open fails at once", [0] + A_RESERVES + [15, 0] + hop(1, CONNECT, SYNC, 0))
    # Requests on their own.
    c.add("reserve twice and expire", [0] + A_RESERVES + hop(0, RESERVE) + secs(25))
    c.add("reserve sent in pieces", [0] + conn(0) + hop(0) + send(0, RESERVE, chunk=1))
    c.add("hop message without type", [0] + conn(0) + hop(0, NO_TYPE) + conn(1) + hop(1)
          + send(1, NO_TYPE))
    c.add("hop status as request", [0] + conn(0) + hop(0, HOP_STATUS))
    c.add("hop garbage", [0] + conn(0) + hop(0) + send(0, RAW, 6, 0xff, 0xff, 0xff, 1, 2, 3))
    c.add("hop silent until deadline", [0] + conn(0) + hop(0) + secs(4))
    c.add("hop fin before request", [0] + conn(0) + hop(0) + fin(0))
    c.add("connect without reservation", [0] + conn(1) + hop(0, CONNECT, SYNC, 0))
    c.add("reserve over relayed connection", [0] + conn(0, relayed=True) + hop(0, RESERVE))
    c.add("reserve no window", [0] + conn(0) + hop(0, RESERVE, 6))
    c.add("acl denied and trusted", [4] + conn(3) + conn(2) + hop(1, RESERVE) + conn(0)
          + hop(2, CONNECT, SYNC, 2) + resolve(0, 3, SYNC, STOP_OK) + send(2, BULK, 2))
    c.add("ip limits", [8] + conn(0) + conn(1) + conn(2) + conn(3) + hop(0, RESERVE)
          + hop(1, RESERVE) + hop(2, RESERVE) + hop(0, RESERVE) + hop(0, RESERVE))
    c.add("drain with a circuit", [0] + circuit + [14, 1] + hop(0, RESERVE) + send(1, BULK, 0))
    c.add("reload limits mid circuit", [0] + circuit + [14, 0x26] + hop(1, CONNECT, SYNC, 0))
    c.add("allocation failures", [0] + conn(0) + conn(1) + [15, 16] + hop(0, RESERVE) + [15, 17]
          + hop(1, CONNECT, SYNC, 0) + [15, 18] + resolve(0, 3, SYNC, STOP_OK))
    c.add("revoke source during circuit", [0] + circuit + send(1, BULK, 0) + [15, 33])
    c.add("revoke destination while stop opens", [0] + connect + [15, 32] + resolve(0, 2))
    c.add("revoke source while stop answers", [0] + connect + resolve(0, 2) + [15, 33]
          + send(2, STOP_OK))
    c.add("reload denies a connected peer", [0] + conn(3) + hop(0, RESERVE) + conn(1)
          + hop(1, CONNECT, SYNC, 3) + [14, 0x80] + resolve(0, 2) + [2, 0])
    c.add("over the memory budget", [0] + conn(0) + conn(1) + [15, 49] + hop(0, RESERVE)
          + hop(1, CONNECT, SYNC, 0) + [15, 48] + hop(0, RESERVE) + hop(1, CONNECT, SYNC, 0)
          + [15, 49] + resolve(0, 3, SYNC, STOP_OK))
    c.add("two sources one destination", [0] + A_RESERVES + conn(2) + hop(1, CONNECT, SYNC, 0)
          + hop(2, CONNECT, SYNC, 0) + resolve(1, 3, SYNC, STOP_OK) + reset(1)
          + resolve(0, 3, SYNC, STOP_OK))

    # Token authentication (bit 4): A authenticates on conn 0 (stream 0), B on conn 1 (stream 1).
    AUTH = conn(0) + conn(1, addr=1) + auth(0, VALID) + auth(1, VALID)
    auth_circuit = AUTH + hop(0, RESERVE) + hop(1, CONNECT, SYNC, 0) + resolve(0, 3, SYNC, STOP_OK)
    c.add("auth revoke live circuit", [0x10] + auth_circuit + send(3, BULK, 0) + [15, 128, 1]
          + send(4, BULK, 0))
    c.add("auth revoke while stop opens", [0x10] + AUTH + hop(0, RESERVE)
          + hop(1, CONNECT, SYNC, 0) + [15, 128, 1] + resolve(0, 2) + send(4, STOP_OK))
    c.add("auth token expires with circuit", [0x10] + conn(0) + conn(1, addr=1) + auth(0, SHORT)
          + auth(1, VALID) + hop(0, RESERVE) + hop(1, CONNECT, SYNC, 0)
          + resolve(0, 3, SYNC, STOP_OK) + secs(6) + send(3, BULK, 0))
    c.add("auth last authenticated conn closes", [0x10] + conn(0) + conn(0, addr=2) + auth(0, VALID)
          + hop(1, RESERVE) + conn(1, addr=1) + auth(3, VALID) + hop(3, CONNECT, SYNC, 0)
          + resolve(0, 3, SYNC, STOP_OK) + [2, 0] + send(3, BULK, 0))
    c.add("auth reload drops the key", [0x30] + auth_circuit + [15, 146] + hop(0, RESERVE))
    c.add("auth reload turns it off and on", [0x30] + auth_circuit + [15, 145] + [15, 152]
          + hop(0, RESERVE))
    c.add("auth trusted token no limits", [0x11] + conn(0) + conn(1, addr=1) + auth(0, TRUSTED)
          + auth(1, VALID) + hop(0, RESERVE) + hop(1, CONNECT, SYNC, 0)
          + resolve(0, 3, SYNC, STOP_OK) + secs(6) + [15, 160] + [15, 128, 4])
    c.add("auth shared minted garbage other", [0x30] + conn(0) + conn(1, addr=1)
          + auth(0, SHARED) + auth(1, MINTED) + auth(0, GARBAGE, pieces=True)
          + auth(1, VALID, of=2) + auth(0, ROGUE, early=True) + hop(0, RESERVE) + secs(9)
          + hop(0, RESERVE))
    c.add("auth pieces fin reset", [0x10] + conn(0) + auth(0, VALID, pieces=True) + fin(0)
          + auth(0, VALID) + reset(1) + hop(0, RESERVE) + secs(11))
    c.add("auth shutdown with grants", [0x10] + auth_circuit + [15, 255] + [15, 128, 1]
          + [2, 0])


if __name__ == "__main__":
    main()
