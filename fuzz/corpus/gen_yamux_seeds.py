#!/usr/bin/env python3
"""gen_yamux_seeds.py: writes the seed corpus of fuzz_yamux_session: byte streams a go, js or rust
client sends to a Yamux server (PROTOCOLS.md 4), plus protocol violations and floods. Each seed
starts with the harness's two control bytes (chunking seed, clock step in ms); the harness lowers
the flood bursts to 64 so short seeds can trip them. Re-run after
changing the harness input format:

    python3 fuzz/corpus/gen_yamux_seeds.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "yamux_session")

DATA, WU, PING, GOAWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8
WIN = 256 * 1024


def hdr(typ, flags, sid, length, version=0):
    return struct.pack(">BBHII", version, typ, flags, sid, length)


def data(sid, payload, flags=0):
    return hdr(DATA, flags, sid, len(payload)) + payload


def mss(proto):
    line = proto.encode() + b"\n"
    return bytes([len(line)]) + line


def seeds():
    hop = mss("/multistream/1.0.0") + mss("/libp2p/circuit/relay/0.2.0/hop")
    # go and js: SYN on a Window Update (delta 0, or js's larger window), then Data.
    yield "go_open_hop_fin", hdr(WU, SYN, 1, 0) + data(1, hop) + data(1, b"\x04\x08\x00", FIN)
    yield "js_open_window_delta", hdr(WU, SYN, 1, 16 * 1024 * 1024 - WIN) + data(1, hop)
    # rust: SYN on the first Data frame, then a full-size (here 4 KiB) frame.
    yield "rust_syn_on_data", data(1, hop, SYN) + data(1, b"\x00" * 4096) + data(1, b"", FIN)
    yield "two_streams_interleaved", (hdr(WU, SYN, 1, 0) + hdr(WU, SYN, 3, 0) + data(3, b"three")
                                      + data(1, b"one") + hdr(WU, FIN, 3, 0) + hdr(WU, RST, 1, 0))
    yield "ack_of_our_stream", hdr(WU, ACK, 2, 0) + data(2, b"reply") + hdr(WU, ACK | FIN, 2, 0)
    yield "window_updates", (hdr(WU, SYN, 1, 0) + data(1, b"R" * 100) + hdr(WU, 0, 1, 65536)
                             + hdr(WU, 0, 1, 0xFFFBFFFF))
    yield "window_overflow", hdr(WU, SYN, 1, 0) + hdr(WU, 0, 1, 0xFFFFFFFF)
    yield "window_overrun", hdr(WU, SYN, 1, 0) + hdr(DATA, 0, 1, WIN + 1) + b"x" * 64
    yield "go_rst_error_code", hdr(WU, SYN, 1, 0) + data(1, b"abc") + hdr(WU, RST, 1, 2)
    yield "pings", hdr(PING, SYN, 0, 1) + hdr(PING, SYN, 0, 0xDEADBEEF) + hdr(PING, ACK, 0, 7)
    yield "ping_bad_flags", hdr(PING, SYN | ACK, 0, 1)
    yield "ping_flood", hdr(PING, SYN, 0, 42) * 40
    yield "goaway_normal", hdr(WU, SYN, 1, 0) + hdr(GOAWAY, 0, 0, 0) + hdr(WU, SYN, 3, 0)
    yield "goaway_protocol_error", hdr(GOAWAY, 0, 0, 1)
    yield "unknown_stream_data", data(41, b"z" * 300) + hdr(WU, FIN, 43, 9) + hdr(PING, SYN, 0, 5)
    yield "wrong_parity_syn", hdr(WU, SYN, 2, 0)
    yield "duplicate_syn", hdr(WU, SYN, 1, 0) + hdr(WU, SYN, 1, 0)
    yield "unknown_version", hdr(WU, SYN, 1, 0, version=1)
    yield "unknown_type", hdr(4, 0, 0, 0)
    yield "truncated_header", hdr(WU, SYN, 1, 0) + hdr(DATA, 0, 1, 10)[:7]
    yield "fin_then_data", hdr(WU, SYN, 1, 0) + hdr(WU, FIN, 1, 0) + data(1, b"late")
    yield "refused_streams", b"".join(hdr(WU, SYN, 2 * i + 1, 0) for i in range(30))
    yield "empty_frame_flood", hdr(WU, SYN, 1, 0) + hdr(WU, 0, 1, 0) * 80
    yield "rapid_reset", b"".join(hdr(WU, SYN, 2 * i + 1, 0) + hdr(WU, RST, 2 * i + 1, 0)
                                  for i in range(80))
    yield "echo_and_fin", hdr(WU, SYN, 5, 0) + data(5, bytes(range(256)) * 16) + data(5, b"", FIN)


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.startswith("seed_"):
            os.remove(os.path.join(OUT, old))
    # Control bytes: (chunking seed, ms per chunk). A zero clock step lets floods trip.
    controls = [(0, 0), (7, 10), (200, 1), (33, 255)]
    for i, (name, stream) in enumerate(seeds()):
        ctl = bytes(controls[i % len(controls)])
        with open(os.path.join(OUT, "seed_" + name), "wb") as f:
            f.write(ctl + stream)


if __name__ == "__main__":
    main()
