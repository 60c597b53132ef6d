"""seedlib: what the gen_*_seeds.py scripts share: seed file names and a corpus directory that
is rewritten from scratch (only files named seed_* are replaced; hand-added inputs stay)."""
import os
import re

OUT = os.path.dirname(os.path.abspath(__file__))


def slug(text, limit):
    s = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return (s or "empty")[:limit]


class Corpus:
    def __init__(self, target, max_seeds, slug_limit):
        self.dir = os.path.join(OUT, target)
        self.max_seeds = max_seeds
        self.slug_limit = slug_limit
        os.makedirs(self.dir, exist_ok=True)
        for old in os.listdir(self.dir):
            if old.startswith("seed_"):
                os.remove(os.path.join(self.dir, old))
        self.names = set()

    def add(self, desc, data):
        if len(self.names) >= self.max_seeds:
            return
        name = "seed_" + slug(desc, self.slug_limit)
        base, i = name, 2
        while name in self.names:
            name, i = "%s_%d" % (base, i), i + 1
        self.names.add(name)
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def uv(n):
    """The unsigned varint (protobuf, multiformats) of |n|."""
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def field(num, value):
    """A protobuf field: a varint for an int, length-delimited for bytes."""
    if isinstance(value, int):
        return uv(num << 3) + uv(value)
    return uv(num << 3 | 2) + uv(len(value)) + value
