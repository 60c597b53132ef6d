#!/usr/bin/env python3
"""gen_reservation_seeds.py: writes the seed corpus of fuzz_reservation. An input is two limit
bytes followed by 3-byte operations (op % 10, a, b); see fuzz/fuzz_reservation.c:

    0 reserve(peer a&15, conn (a>>4)&3)     5 expire(now)
    1 lookup and find(peer a&15)            6/7 circuit: end #b if b odd, else begin(a&15 -> a>>4)
    2 close(peer, conn, next conn b%6: 0..3, 4 and 5: none left)
    3 remove(peer, conn)                    8 set limits from (a, b)
    4 now += a * 100                        9 set hash key

One reservation per peer, held by one of its connections: a reserve over another connection
refreshes it and moves it there; close moves it to the next connection or drops it.

Limits from (a, b): max_reservations a&31, per peer a>>5 (0 refuses new ones), ttl (b&15)*1000 ns,
max_circuits (b>>4)*4, circuits per peer b>>6. Re-run after changing the encoding:

    python3 fuzz/corpus/gen_reservation_seeds.py
"""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reservation")


def res(p, k):
    return [0, p | (k << 4), 0]


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes(data))


def main():
    os.makedirs(OUT, exist_ok=True)
    # max_reservations 4, 2 per peer, ttl 10000 ns, 32 circuits, 2 per peer.
    head = [4 | (2 << 5), 10 | (8 << 4)]
    # Fill the global cap (peer 1 over three connections holds one slot), refresh at the cap, let
    # time pass and sweep.
    ops = res(1, 0) + res(1, 1) + res(1, 2) + res(2, 0) + res(3, 0) + res(4, 0)
    ops += res(1, 0) + [4, 50, 0] + res(2, 0) + [1, 1, 0, 1, 2, 0] + [4, 60, 0, 5, 0, 0]
    ops += [1, 2, 0] + res(5, 1) + [4, 200, 0, 5, 0, 0]
    write("seed_caps_refresh_expire", head + ops)
    # A refresh over another connection moves the reservation; closing a connection that does
    # not hold it changes nothing, closing the holder moves it on or drops it; remove.
    ops = res(1, 0) + res(1, 1) + res(2, 3) + [2, 1 | (0 << 4), 2] + [1, 1, 0]
    ops += [2, 1 | (1 << 4), 2] + [1, 1, 0] + [2, 1 | (2 << 4), 4] + [1, 1, 0]
    ops += res(1, 2) + [3, 1 | (1 << 4), 0, 3, 1 | (2 << 4), 0] + [3, 2 | (3 << 4), 0, 3, 2, 0]
    write("seed_close_remove", head + ops)
    # Circuits: per-peer caps for source and destination, self circuit, end.
    ops = [6, 1 | (2 << 4), 0, 6, 1 | (3 << 4), 0, 6, 1 | (4 << 4), 0, 6, 5 | (2 << 4), 0]
    ops += [6, 6 | (2 << 4), 0, 6, 7 | (7 << 4), 0, 7, 0, 1, 7, 0, 3, 6, 8 | (1 << 4), 0]
    write("seed_circuits", head + ops)
    # Reload: lower caps and TTL, new hash key, then raise them again.
    ops = res(1, 0) + res(2, 0) + res(3, 0) + [8, 1 | (1 << 5), 0x42] + res(4, 0) + res(1, 0)
    ops += [9, 7, 3] + [1, 2, 0, 1, 3, 0] + [8, 31 | (7 << 5), 0xff] + res(4, 0) + res(4, 1)
    ops += [4, 255, 0, 5, 0, 0]
    write("seed_reload_rekey", head + ops)
    # Pseudo-random operation streams.
    rng = random.Random(11)
    for i in range(4):
        write("seed_random_%d" % i, [rng.randrange(256) for _ in range(2 + 3 * 200)])


if __name__ == "__main__":
    main()
