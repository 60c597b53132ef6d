#!/usr/bin/env python3
"""gen_yamux_pair_seeds.py: writes the seed corpus of fuzz_yamux_pair (see fuzz/fuzz_yamux_pair.c
for the encoding). An input is a configuration byte (bit 0: 16 KiB Data frames instead of 700
bytes, bit 1: keepalive every 1 s, 500 ms timeout) and then operations. An opcode's bit 4 picks
the side (0 client, 1 server) and opcode % 16 the operation:

    0 open a stream      1 write (stream, size class: 1, 700, 20000, 300000 bytes)
    2 consume (stream, b: odd all, even half)    3 shutdown (stream)    4 reset (stream)
    5 pump the side's output into its wire (b: batch of 12 + 2^(b % 19) bytes)
    6 deliver 2^(b % 23) bytes of its wire to the other side    7 deliver b bytes
    8 inject a hostile frame (type, flags, stream, length)      9 Go Away (code)
    10 set the side's reactions (b: bit 0 consume at once, 1 answer FIN with FIN,
       2 reset on some data, 3 refuse new streams)             11 run the keepalive timer
    14 a round trip: both sides pump and deliver everything    15 the clock moves (b * 20 ms)

Streams are numbered per side in the order that side saw them (opened or accepted). Re-run after
changing the encoding:

    python3 fuzz/corpus/gen_yamux_pair_seeds.py
"""
from seedlib import Corpus

C, S = 0, 16  # side bits
RT = [14]     # round trip


def op(side, code, *args):
    return [side | code] + list(args)


def add(corpus, desc, cfg, ops):
    corpus.add(desc, bytes([cfg] + ops))


def main():
    c = Corpus("yamux_pair", 32, 60)
    open1 = op(C, 0) + RT
    add(c, "echo both ways and close", 1,
        open1 + op(C, 1, 0, 1) + RT + op(S, 1, 0, 1) + RT + op(C, 3, 0) + RT + op(S, 3, 0) + RT)
    add(c, "big writes with backpressure", 0,
        open1 + op(S, 10, 0) + op(C, 1, 0, 3) + RT + RT + op(S, 2, 0, 1) + RT + op(C, 1, 0, 3)
        + RT + op(S, 2, 0, 0) + RT + op(S, 2, 0, 1) + RT + RT)
    add(c, "delivery in small pieces", 1,
        open1 + op(C, 1, 0, 2) + op(C, 5, 10) + op(C, 7, 5) + op(C, 7, 200) + op(C, 6, 12) + RT)
    add(c, "reset mid transfer", 0,
        open1 + op(C, 1, 0, 2) + op(C, 5, 12) + op(C, 7, 100) + op(S, 4, 0) + RT + RT)
    add(c, "reset on data reaction", 0, op(S, 10, 5) + open1 + op(C, 1, 0, 1) + RT + RT)
    add(c, "fin echo reaction", 0, op(S, 10, 3) + open1 + op(C, 3, 0) + RT + RT)
    add(c, "refuse streams", 0, op(S, 10, 9) + open1 + op(C, 0) + RT + op(C, 1, 0, 1) + RT)
    add(c, "many streams", 0, (op(C, 0) + op(S, 0)) * 10 + RT + op(C, 1, 3, 1) + RT)
    add(c, "goaway then streams", 0, open1 + op(S, 9, 0) + RT + op(C, 0) + op(C, 1, 0, 1) + RT)
    add(c, "keepalive answered", 2, open1 + [15, 60] + op(C, 11) + RT + [15, 10] + op(C, 11))
    add(c, "keepalive timeout", 2, open1 + [15, 60] + op(C, 11) + op(C, 5, 12) + [15, 40]
        + op(C, 11))
    # Hostile frames: window update overflow, data for a closed stream, ping flood, bad version,
    # RST for a live stream, data on a stream the peer has not opened.
    add(c, "inject window overflow", 0, open1 + op(S, 8, 1, 0, 0, 255) * 3 + RT)
    add(c, "inject data after close", 0, open1 + op(C, 3, 0) + op(S, 3, 0) + RT
        + op(C, 8, 0, 0, 0, 20) + RT)
    add(c, "inject ping flood", 0, op(C, 8, 2, 1, 0, 0) * 40 + RT)
    add(c, "inject bad version", 0, open1 + op(C, 8, 250, 0, 0, 0) + RT)
    add(c, "inject rst on live stream", 0, open1 + op(C, 1, 0, 1) + op(C, 8, 1, 8, 0, 0) + RT)
    add(c, "inject syn data fin", 0, op(C, 8, 0, 5, 201, 40) + op(C, 7, 40) + RT)


if __name__ == "__main__":
    main()
