#!/usr/bin/env python3
"""gen_noise_seeds.py: writes the seed corpora of fuzz_noise_responder, fuzz_noise_transport and
fuzz_noise_payload from the known-answer transcript tests/vectors/noise/xx_kat.txt (whose keys
fuzz/noise_fixture.h uses), so seeds hold real handshake messages and real transport frames.
Valid frames beyond the transcript are sealed here with the transcript's transport key. Needs
the Python `cryptography` package. Re-run after regenerating the transcript:

    python3 fuzz/corpus/gen_noise_seeds.py

Responder and transport seeds start with one byte: the piece size the target feeds input in
(0: all at once).
"""
import hashlib
import importlib.util
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC_DIR = os.path.join(ROOT, "tests", "vectors", "noise")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def load_kat():
    kat = {}
    with open(os.path.join(VEC_DIR, "xx_kat.txt")) as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line and not line.startswith("#"):
                name, hexval = line.split("\t")
                kat[name] = bytes.fromhex(hexval)
    return kat


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_xx_kat", os.path.join(VEC_DIR, "gen_xx_kat.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def junk(label, n):
    out = b""
    while len(out) < n:
        out += hashlib.sha256(label.encode() + len(out).to_bytes(4, "big")).digest()
    return out[:n]


def frame(msg):
    return struct.pack(">H", len(msg)) + msg


def seal(key, n, plaintext):
    return frame(ChaCha20Poly1305(key).encrypt(b"\x00" * 4 + struct.pack("<Q", n), plaintext, b""))


def write(target, seeds):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (target, len(seeds)))


def responder_seeds(k):
    m1, m3 = k["msg1"], k["msg3"]
    frames = k["i2r_frame_0"] + k["i2r_frame_1"] + k["i2r_frame_2"]
    flipped = bytearray(m3)
    flipped[60] ^= 0x01
    return {
        "empty": b"",
        "handshake": b"\x00" + m1 + m3,
        "handshake_transport": b"\x00" + m1 + m3 + frames,
        "handshake_chunk1": b"\x01" + m1 + m3 + k["i2r_frame_0"],
        "handshake_chunk7": b"\x07" + m1 + m3 + frames,
        "handshake_chunk33": b"\x21" + m1 + m3 + frames,
        "handshake_bad_transport": b"\x00" + m1 + m3 + b"\x00\x05hello",
        "msg1_only": b"\x00" + m1,
        "msg1_garbage_msg3": b"\x00" + m1 + frame(junk("msg3", len(m3) - 2)),
        "msg1_flipped_msg3": b"\x00" + m1 + bytes(flipped),
        "msg1_truncated": b"\x00" + m1[:20],
        "msg3_truncated": b"\x00" + m1 + m3[:50],
        "msg3_short": b"\x00" + m1 + frame(junk("short", 63)),
        "msg1_short": b"\x00" + frame(junk("e", 31)),
        "msg1_low_order": b"\x00" + frame(bytes(32)),
        "msg1_payload": b"\x00" + frame(m1[2:] + junk("payload", 32)) + m3,
        "frame_empty": b"\x00\x00\x00",
        "frame_max_header": b"\x00\xff\xff" + junk("max", 10),
    }


def rsa_key(e):
    """A 2048-bit RSA key with public exponent |e| (any size: the primes of a fresh e = 65537 key,
    with d recomputed; fresh primes until e is invertible)."""
    from math import gcd
    from cryptography.hazmat.primitives.asymmetric import rsa
    while True:
        nums = rsa.generate_private_key(65537, 2048).private_numbers()
        p, q = nums.p, nums.q
        lam = (p - 1) * (q - 1) // gcd(p - 1, q - 1)
        if gcd(e, lam) == 1:
            break
    d = pow(e, -1, lam)
    pub = rsa.RSAPublicNumbers(e, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), pub).private_key()


def msg3_rsa(k, gen, e):
    """The KAT's msg3 again, but from an initiator whose identity is an RSA key of exponent |e|:
    the responder reaches the RSA key checks of the payload (issue 11 item 6)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    i_s = gen.raw_pub(X25519PrivateKey.from_private_bytes(k["init_static_priv"]))
    r_s = gen.raw_pub(X25519PrivateKey.from_private_bytes(k["resp_static_priv"]))
    m1, m2 = k["msg1"][2:], k["msg2"][2:]
    ini = gen.SymmetricState()
    ini.mix_hash(m1[:32])
    ini.encrypt_and_hash(b"")
    ini.mix_hash(m2[:32])
    ini.mix_key(gen.dh(k["init_ephemeral_priv"], m2[:32]))
    assert ini.decrypt_and_hash(m2[32:80]) == r_s
    ini.mix_key(gen.dh(k["init_ephemeral_priv"], r_s))
    ini.decrypt_and_hash(m2[80:])
    key = rsa_key(e)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    sig = key.sign(gen.SIG_PREFIX + i_s, padding.PKCS1v15(), hashes.SHA256())
    pl = gen.pb_bytes(1, b"\x08\x00" + gen.pb_bytes(2, spki)) + gen.pb_bytes(2, sig)
    m3 = ini.encrypt_and_hash(i_s)
    ini.mix_key(gen.dh(k["init_static_priv"], m2[:32]))
    m3 += ini.encrypt_and_hash(pl)
    return frame(m3)


def rsa_seeds(k, gen):
    m1 = k["msg1"]
    return {
        "msg3_rsa_e_max": b"\x00" + m1 + msg3_rsa(k, gen, 2**31 - 1),
        "msg3_rsa_e_over": b"\x00" + m1 + msg3_rsa(k, gen, 2**31 + 1),
        "msg3_rsa_e_huge": b"\x00" + m1 + msg3_rsa(k, gen, 2**1999 + 0x1B),
    }


def transport_seeds(k):
    key = k["i2r_key"]
    f0, f1, f2 = k["i2r_frame_0"], k["i2r_frame_1"], k["i2r_frame_2"]
    tampered = bytearray(f0)
    tampered[10] ^= 0x80
    big = seal(key, 0, junk("big", 65519))
    return {
        "empty": b"",
        "frames": b"\x00" + f0 + f1 + f2,
        "frames_chunk1": b"\x01" + f0 + f1 + f2,
        "frames_chunk5": b"\x05" + f0 + f1 + f2,
        "frame_max": b"\x00" + big + seal(key, 1, b"after"),
        "frame_max_chunk255": b"\xff" + big,
        "frame_empty_plaintext": b"\x00" + seal(key, 0, b"") + seal(key, 1, b""),
        "frame_tampered": b"\x00" + bytes(tampered),
        "frame_wrong_nonce": b"\x00" + f1,
        "frame_short": b"\x00\x00\x05hello",
        "frame_zero": b"\x00\x00\x00",
        "frame_truncated": b"\x00" + f0[:10],
        "frame_header_only": b"\x03\xff\xff" + junk("partial", 100),
    }


def payload_seeds(gen):
    k = {n: gen.key(n) for n in ("resp_identity_seed", "resp_static_priv")}
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    spub = gen.raw_pub(X25519PrivateKey.from_private_bytes(k["resp_static_priv"]))
    real = gen.payload(k["resp_identity_seed"], spub)
    key_sig = gen.pb_bytes(1, b"K" * 36) + gen.pb_bytes(2, b"S" * 64)
    many = b"".join(gen.pb_bytes(2, b"/m") for _ in range(100))
    return {
        "empty": b"",
        "real": real,
        "real_no_extensions": real[: real.rfind(b"\x22\x0e")],
        "muxers_mplex_yamux": key_sig + gen.pb_bytes(4, gen.pb_bytes(2, b"/mplex/6.7.0") + gen.pb_bytes(2, b"/yamux/1.0.0")),
        "muxers_other": key_sig + gen.pb_bytes(4, gen.pb_bytes(2, b"/mplex/6.7.0")),
        "muxers_100": key_sig + gen.pb_bytes(4, many),
        "muxers_101": key_sig + gen.pb_bytes(4, many + gen.pb_bytes(2, b"/m")),
        "certhashes": key_sig + gen.pb_bytes(4, gen.pb_bytes(1, b"\x12\x20" + bytes(32))),
        "unknown_fields": gen.pb_bytes(3, b"data") + b"\x28\xac\x02\x31" + bytes(8) + b"\x3d" + bytes(4) + key_sig,
        "split_extensions": key_sig + gen.pb_bytes(4, gen.pb_bytes(2, b"/a")) + gen.pb_bytes(4, gen.pb_bytes(2, b"/yamux/1.0.0")),
        "missing_sig": gen.pb_bytes(1, b"K"),
        "group": key_sig + b"\x1b",
        "truncated": real[:40],
        "long_varint": key_sig + b"\xff" * 10 + b"\x01",
    }


def main():
    k = load_kat()
    gen = load_generator()
    write("noise_responder", {**responder_seeds(k), **rsa_seeds(k, gen)})
    write("noise_transport", transport_seeds(k))
    write("noise_payload", payload_seeds(gen))


if __name__ == "__main__":
    main()
