#!/usr/bin/env python3
"""gen_xx_kat.py: an independent Noise_XX_25519_ChaChaPoly_SHA256 + libp2p payload transcript.

Written from the Noise spec (rev34, sections 4, 5 and 7.5) and PROTOCOLS.md 3, without looking at
src/proto/noise: the primitives come from the Python `cryptography` package (X25519,
ChaCha20-Poly1305, Ed25519) and hashlib / hmac. Every key is fixed, so the transcript is
deterministic (Ed25519 signatures are). Writes xx_kat.txt next to this script in the vecfile
format of tests/unit/vecfile.h: "name<TAB>lower-case hex".

    python3 tests/vectors/noise/gen_xx_kat.py
"""
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, PrivateFormat, NoEncryption

PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
SIG_PREFIX = b"noise-libp2p-static-key:"
YAMUX = b"/yamux/1.0.0"


def key(label):
    """A fixed 32-byte key derived from a label, so the vector needs no randomness."""
    return hashlib.sha256(b"mesh-relay noise kat " + label.encode()).digest()


def raw_pub(k):
    return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def dh(priv32, pub32):
    return X25519PrivateKey.from_private_bytes(priv32).exchange(X25519PublicKey.from_public_bytes(pub32))


def hkdf(ck, ikm, n):
    """Noise rev34 section 4.3."""
    temp = hmac.new(ck, ikm, hashlib.sha256).digest()
    outs, prev = [], b""
    for i in range(1, n + 1):
        prev = hmac.new(temp, prev + bytes([i]), hashlib.sha256).digest()
        outs.append(prev)
    return outs


def nonce(n):
    return b"\x00" * 4 + struct.pack("<Q", n)


class CipherState:
    def __init__(self, k=None):
        self.k, self.n = k, 0

    def encrypt(self, ad, p):
        if self.k is None:
            return p
        c = ChaCha20Poly1305(self.k).encrypt(nonce(self.n), p, ad)
        self.n += 1
        return c

    def decrypt(self, ad, c):
        if self.k is None:
            return c
        p = ChaCha20Poly1305(self.k).decrypt(nonce(self.n), c, ad)
        self.n += 1
        return p


class SymmetricState:
    def __init__(self):
        # The name is exactly 32 bytes: h = name, ck = h; then MixHash(empty prologue).
        assert len(PROTOCOL_NAME) == 32
        self.h = PROTOCOL_NAME
        self.ck = self.h
        self.cs = CipherState()
        self.mix_hash(b"")

    def mix_hash(self, data):
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm):
        self.ck, k = hkdf(self.ck, ikm, 2)
        self.cs = CipherState(k)

    def encrypt_and_hash(self, p):
        c = self.cs.encrypt(self.h, p)
        self.mix_hash(c)
        return c

    def decrypt_and_hash(self, c):
        p = self.cs.decrypt(self.h, c)
        self.mix_hash(c)
        return p

    def split(self):
        k1, k2 = hkdf(self.ck, b"", 2)
        return CipherState(k1), CipherState(k2)


def pb_bytes(field, data):
    """A length-delimited protobuf field (lengths here are < 128 except when noted)."""
    out = bytes([field << 3 | 2])
    n = len(data)
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n]) + data


def payload(identity_seed, static_pub):
    ident = Ed25519PrivateKey.from_private_bytes(identity_seed)
    pubkey_pb = bytes([0x08, 0x01]) + pb_bytes(2, raw_pub(ident))  # PublicKey{Ed25519, Data}
    sig = ident.sign(SIG_PREFIX + static_pub)
    ext = pb_bytes(2, YAMUX)  # NoiseExtensions.stream_muxers
    return pb_bytes(1, pubkey_pb) + pb_bytes(2, sig) + pb_bytes(4, ext)


def frame(msg):
    assert len(msg) <= 65535
    return struct.pack(">H", len(msg)) + msg


def main():
    k = {name: key(name) for name in (
        "init_identity_seed", "init_static_priv", "init_ephemeral_priv",
        "resp_identity_seed", "resp_static_priv", "resp_ephemeral_priv")}
    i_s = raw_pub(X25519PrivateKey.from_private_bytes(k["init_static_priv"]))
    i_e = raw_pub(X25519PrivateKey.from_private_bytes(k["init_ephemeral_priv"]))
    r_s = raw_pub(X25519PrivateKey.from_private_bytes(k["resp_static_priv"]))
    r_e = raw_pub(X25519PrivateKey.from_private_bytes(k["resp_ephemeral_priv"]))
    i_payload = payload(k["init_identity_seed"], i_s)
    r_payload = payload(k["resp_identity_seed"], r_s)

    ini, res = SymmetricState(), SymmetricState()
    # msg1  -> e   (empty payload)
    ini.mix_hash(i_e)                                              # e
    m1 = i_e + ini.encrypt_and_hash(b"")
    res.mix_hash(m1[:32])
    assert res.decrypt_and_hash(m1[32:]) == b""
    # msg2  <- e, ee, s, es + payload
    m2 = r_e
    res.mix_hash(r_e)
    res.mix_key(dh(k["resp_ephemeral_priv"], i_e))                 # ee
    m2 += res.encrypt_and_hash(r_s)                                # s
    res.mix_key(dh(k["resp_static_priv"], i_e))                    # es
    m2 += res.encrypt_and_hash(r_payload)
    ini.mix_hash(m2[:32])
    ini.mix_key(dh(k["init_ephemeral_priv"], m2[:32]))             # ee
    assert ini.decrypt_and_hash(m2[32:80]) == r_s                  # s
    ini.mix_key(dh(k["init_ephemeral_priv"], r_s))                 # es
    assert ini.decrypt_and_hash(m2[80:]) == r_payload
    # msg3  -> s, se + payload
    m3 = ini.encrypt_and_hash(i_s)                                 # s
    ini.mix_key(dh(k["init_static_priv"], r_e))                    # se
    m3 += ini.encrypt_and_hash(i_payload)
    assert res.decrypt_and_hash(m3[:48]) == i_s
    res.mix_key(dh(k["resp_ephemeral_priv"], i_s))                 # se
    assert res.decrypt_and_hash(m3[48:]) == i_payload
    assert ini.h == res.h and ini.ck == res.ck

    i_c1, i_c2 = ini.split()  # c1: initiator -> responder, c2: responder -> initiator
    r_c1, r_c2 = res.split()
    lines_keys = [("i2r_key", i_c1.k.hex()), ("r2i_key", i_c2.k.hex())]
    i2r = [b"/multistream/1.0.0\n", b"", b"second message"]
    r2i = [b"hello from the responder"]
    lines = [(name, v.hex()) for name, v in k.items()]
    lines += [("msg1", frame(m1).hex()), ("msg2", frame(m2).hex()), ("msg3", frame(m3).hex()),
              ("handshake_hash", ini.h.hex())] + lines_keys
    for i, p in enumerate(i2r):
        c = i_c1.encrypt(b"", p)
        assert r_c1.decrypt(b"", c) == p
        lines += [("i2r_plain_%d" % i, p.hex()), ("i2r_frame_%d" % i, frame(c).hex())]
    for i, p in enumerate(r2i):
        c = r_c2.encrypt(b"", p)
        assert i_c2.decrypt(b"", c) == p
        lines += [("r2i_plain_%d" % i, p.hex()), ("r2i_frame_%d" % i, frame(c).hex())]

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xx_kat.txt")
    with open(out, "w") as f:
        f.write("# Noise_XX_25519_ChaChaPoly_SHA256 libp2p transcript, fixed keys.\n")
        f.write("# Generated by gen_xx_kat.py (independent Python implementation); do not edit.\n")
        f.write("# name<TAB>hex. Private keys are raw X25519 scalars / Ed25519 seeds.\n")
        for name, v in lines:
            f.write("%s\t%s\n" % (name, v))
    print("wrote", out)


if __name__ == "__main__":
    main()
