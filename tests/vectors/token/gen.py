#!/usr/bin/env python3
"""gen.py: the signed-token test vectors (docs/AUTH.md "Signed tokens"), built here from the
specification alone (protobuf by hand, Ed25519 from the `cryptography` package), independently of
the relay's C code, which tests/unit/test_token.c checks against token.txt.

    python3 tests/vectors/token/gen.py > tests/vectors/token/token.txt

Keys: RFC 8032 section 7.1 test keys (1: the control plane, 2: the peer, 3: the relay).
"""
import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SEED1 = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUB2 = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
PUB3 = bytes.fromhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025")
DOMAIN = b"mesh-relay-token"
PTYPE = b"/meshnet/token/1"


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field_bytes(num: int, data: bytes) -> bytes:
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_uint(num: int, v: int) -> bytes:
    return varint(num << 3 | 0) + varint(v)


def pubkey_pb(raw: bytes) -> bytes:
    return field_uint(1, 1) + field_bytes(2, raw)  # KeyType Ed25519 = 1


def peer_id(raw: bytes) -> bytes:
    pb = pubkey_pb(raw)
    return bytes([0x00, len(pb)]) + pb  # identity multihash of the key


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58(b: bytes) -> str:
    n = int.from_bytes(b, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + s


def main() -> None:
    cp = Ed25519PrivateKey.from_private_bytes(SEED1)
    cp_pub = cp.public_key().public_bytes_raw()
    peer, relay = peer_id(PUB2), peer_id(PUB3)
    expiry, issued, cls, tid = 1893456000, 1767225600, b"trusted", bytes(range(1, 17))
    payload = (field_bytes(1, peer) + field_uint(2, expiry) + field_bytes(3, relay)
               + field_bytes(4, cls) + field_bytes(5, tid) + field_uint(6, issued))
    signed = (varint(len(DOMAIN)) + DOMAIN + varint(len(PTYPE)) + PTYPE
              + varint(len(payload)) + payload)
    sig = cp.sign(signed)
    Ed25519PublicKey.from_public_bytes(cp_pub).verify(sig, signed)
    env = (field_bytes(1, pubkey_pb(cp_pub)) + field_bytes(2, PTYPE) + field_bytes(3, payload)
           + field_bytes(5, sig))
    token = "v2." + base64.urlsafe_b64encode(env).rstrip(b"=").decode()
    print("# Signed-token vector (tests/vectors/token/gen.py; docs/AUTH.md)")
    print("control_plane_seed=" + SEED1.hex())
    print("control_plane=" + b58(peer_id(cp_pub)))
    print("peer=" + b58(peer))
    print("relay=" + b58(relay))
    print("expiry=%d" % expiry)
    print("issued=%d" % issued)
    print("class=" + cls.decode())
    print("id=" + tid.hex())
    print("payload=" + payload.hex())
    print("signed=" + signed.hex())
    print("token=" + token)


if __name__ == "__main__":
    main()
