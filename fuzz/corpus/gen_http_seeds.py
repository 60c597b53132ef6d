#!/usr/bin/env python3
"""gen_http_seeds.py: writes the seed corpus of fuzz_http (rly_http_parse_head, src/app/httpd.h):
request heads as curl, wget, Prometheus and browsers send them, every line ending style, each
method class, and every way to break a head: request lines, targets, versions, control characters,
header lines, obs-fold, the head cap (RLY_HTTPD_HEAD_MAX) and the path cap (RLY_HTTP_PATH_MAX),
plus other protocols arriving on the port. Re-run after changing the caps:

    python3 fuzz/corpus/gen_http_seeds.py

Seed layout (see fuzz/fuzz_http.c): the whole input is the bytes received on a connection.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seedlib  # noqa: E402

MAX_SEEDS = 80
# The caps of src/app/httpd.h.
HEAD_MAX = 8192
PATH_MAX = 256


def head(request_line, headers=(), eol=b"\r\n"):
    out = request_line + eol
    for h in headers:
        out += h + eol
    return out + eol


def filled_head(total, complete, eol=b"\r\n"):
    """A valid request line and "X-Fill: aaa" lines up to |total| bytes; complete (ending with the
    empty line) or cut inside its last header line."""
    out = b"GET /metrics HTTP/1.1" + eol
    end = total - len(eol) if complete else total
    while len(out) < end:
        room = end - len(out)
        line = min(100, room)
        if 0 < room - line < 16:
            line = room
        out += b"X-Fill: " + b"a" * (line - 8 - len(eol)) + eol
    if complete:
        return out + eol
    return out[:-len(eol)] + b"a" * len(eol)


def valid(c):
    c.add("curl get metrics", head(b"GET /metrics HTTP/1.1", [
        b"Host: 127.0.0.1:9090", b"User-Agent: curl/7.88.1", b"Accept: */*"]))
    c.add("prometheus scrape", head(b"GET /metrics HTTP/1.1", [
        b"Host: 127.0.0.1:9090", b"User-Agent: Prometheus/2.45.0",
        b"Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        b"Accept-Encoding: gzip", b"X-Prometheus-Scrape-Timeout-Seconds: 10"]))
    c.add("wget http 1 0", head(b"GET /healthz HTTP/1.0", [
        b"User-Agent: Wget/1.21.3", b"Accept: */*", b"Host: [::1]:9090",
        b"Connection: Keep-Alive"]))
    c.add("bare lf", head(b"GET /readyz HTTP/1.1", [b"Host: a"], eol=b"\n"))
    c.add("mixed line ends", b"GET /addrs HTTP/1.1\r\nHost: a\nAccept: */*\r\n\n")
    c.add("no headers", head(b"GET / HTTP/1.0"))
    c.add("head method", head(b"HEAD /metrics HTTP/1.1", [b"Host: a"]))
    c.add("post with body", head(b"POST /metrics HTTP/1.1", [b"Content-Length: 5"]) + b"hello")
    c.add("lower case get", head(b"get /metrics HTTP/1.1"))
    c.add("odd token method", head(b"M-SEARCH /x HTTP/1.1"))
    c.add("query string", head(b"GET /metrics?name[]=a&x=%20%ff HTTP/1.1"))
    c.add("odd values", head(b"GET / HTTP/1.1", [b"Empty:", b"Tab:\tv a l\t",
                                                   b"X-!#$%&'*+-.^_`|~: ~!@\"()<>"]))
    c.add("pipelined", head(b"GET /a HTTP/1.1") + head(b"GET /b HTTP/1.1"))
    c.add("browser", head(b"GET /metrics HTTP/1.1", [
        b"Host: localhost:9090", b"Connection: keep-alive", b"Upgrade-Insecure-Requests: 1",
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        b"Accept: text/html,application/xhtml+xml,*/*;q=0.8", b"Sec-Fetch-Mode: navigate",
        b"Accept-Language: en-US,en;q=0.9"]))
    c.add("incomplete", b"GET /metrics HTTP/1.1\r\nHost: a\r\n")
    c.add("incomplete cr", b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r")
    c.add("empty", b"")


def bad_request_lines(c):
    for desc, line in [
        ("empty request line", b""),
        ("no target", b"GET"),
        ("http 0 9", b"GET /"),
        ("no version", b"GET / "),
        ("two spaces", b"GET  / HTTP/1.1"),
        ("leading space", b" GET / HTTP/1.1"),
        ("trailing space", b"GET / HTTP/1.1 "),
        ("tab separator", b"GET\t/ HTTP/1.1"),
        ("method not a token", b"G(T / HTTP/1.1"),
        ("version lower case", b"GET / http/1.1"),
        ("version 1 2", b"GET / HTTP/1.2"),
        ("version 2 0", b"GET / HTTP/2.0"),
        ("version 1 10", b"GET / HTTP/1.10"),
        ("absolute form", b"GET http://127.0.0.1:9090/metrics HTTP/1.1"),
        ("authority form", b"CONNECT 127.0.0.1:9090 HTTP/1.1"),
        ("asterisk form", b"OPTIONS * HTTP/1.1"),
        ("relative target", b"GET metrics HTTP/1.1"),
        ("control char in target", b"GET /a\x01b HTTP/1.1"),
        ("del in target", b"GET /a\x7fb HTTP/1.1"),
        ("high byte in target", b"GET /caf\xc3\xa9 HTTP/1.1"),
        ("nul in target", b"GET /a\x00b HTTP/1.1"),
        ("bare cr in line", b"GET / HTTP/1.1\rX"),
        ("two crs", b"GET / HTTP/1.1\r"),
    ]:
        c.add("bad " + desc, head(line, [b"Host: a"]))
    c.add("bad empty line first", b"\r\n" + head(b"GET / HTTP/1.1"))


def bad_headers(c):
    for desc, h in [
        ("no colon", b"Host 127.0.0.1"),
        ("no name", b": v"),
        ("space before colon", b"Host : a"),
        ("name not a token", b"Ho(st: a"),
        ("nul in value", b"X: a\x00b"),
        ("control in value", b"X: a\x1bb"),
        ("high byte in value", b"X: caf\xc3\xa9"),
        ("del in value", b"X: a\x7f"),
        ("bare cr in value", b"X: a\rb"),
    ]:
        c.add("bad header " + desc, head(b"GET / HTTP/1.1", [h]))
    c.add("obs fold space", head(b"GET / HTTP/1.1", [b"X: a", b" b"]))
    c.add("obs fold tab", head(b"GET / HTTP/1.1", [b"X: a", b"\tb"]))
    c.add("space before first header", head(b"GET / HTTP/1.1", [b" Host: a"]))


def caps(c):
    path = b"/" + b"p" * (PATH_MAX - 2)
    c.add("path longest kept", head(b"GET " + path + b" HTTP/1.1"))
    c.add("path one too long", head(b"GET " + path + b"p HTTP/1.1"))
    c.add("path too long unended", b"GET " + path + b"pppp")
    c.add("head exactly at cap", filled_head(HEAD_MAX, True))
    c.add("head exactly at cap lf", filled_head(HEAD_MAX, True, eol=b"\n"))
    c.add("head one over cap", filled_head(HEAD_MAX + 1, True))
    c.add("head cut at cap", filled_head(HEAD_MAX, False))
    c.add("head cut past cap", filled_head(HEAD_MAX + 8, False))
    c.add("head cut below cap", filled_head(HEAD_MAX - 1, False))
    c.add("long method", head(b"A" * 4000 + b" / HTTP/1.1"))


def other_protocols(c):
    c.add("tls client hello", bytes.fromhex(
        "160301010001fc0303") + bytes(range(32)) + b"\x00\x02\x13\x01\x01\x00")
    c.add("http2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    c.add("multistream select", b"\x13/multistream/1.0.0\n")
    c.add("ssh banner", b"SSH-2.0-OpenSSH_9.2\r\n")
    c.add("nul bytes", b"\x00" * 16)


if __name__ == "__main__":
    corpus = seedlib.Corpus("http", MAX_SEEDS, 40)
    valid(corpus)
    bad_request_lines(corpus)
    bad_headers(corpus)
    caps(corpus)
    other_protocols(corpus)
