#!/usr/bin/env python3
"""report.py DIR: bench/RESULTS.md from the raw records scripts/bench.sh left in DIR.

DIR/meta holds key=value lines (machine, knobs, each relay's status and version); DIR/raw/NAME
the record lines of the tools ("word key=value ..."), one file per relay and measure, every run
appended. DIR/core.md and DIR/noise.md are the micro-benchmarks' own tables.

Each measure is one table: a row per quantity, a column per relay, then the ratio of ours to the
best of the others, and the ceiling where there is one. The value shown for a relay is its median
run (by the measure's main quantity); every run is in the raw output at the end."""
import os
import sys

KINDS = ["ours", "go", "rust", "js"]
NAMES = {"ours": "ours", "go": "go-libp2p", "rust": "rust-libp2p", "js": "js-libp2p"}


def parse(line):
    parts = line.split()
    rec = {"_": parts[0] if parts else ""}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            try:
                rec[k] = float(v)
            except ValueError:
                rec[k] = v
    return rec


class Bench:
    def __init__(self, d):
        self.d = d
        self.meta = {}
        with open(os.path.join(d, "meta")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    self.meta[k] = v
        self.kinds = [k for k in self.meta["relays"].split() if k in KINDS]
        self.ok = [k for k in self.kinds if self.meta.get("status." + k) == "ok"]

    def lines(self, name):
        p = os.path.join(self.d, "raw", name)
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return [l.rstrip("\n") for l in f if l.strip()]

    def records(self, name, word):
        return [parse(l) for l in self.lines(name) if l.split()[0] == word]

    def text(self, name):
        p = os.path.join(self.d, name)
        return open(p).read() if os.path.exists(p) else ""


def median_by(recs, key):
    """The record with the median value of key (the lower middle for an even count)."""
    recs = [r for r in recs if isinstance(r.get(key), float)]
    if not recs:
        return None
    recs = sorted(recs, key=lambda r: r[key])
    return recs[(len(recs) - 1) // 2]


def fmt(v, nd=None):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if nd is None:
        nd = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
    return f"{v:,.{nd}f}"


def ratio_cell(ours, others, higher_better):
    others = [o for o in others if isinstance(o, float) and o > 0]
    if not isinstance(ours, float) or not others:
        return "-"
    best = max(others) if higher_better else min(others)
    if best == 0:
        return "-"
    r = ours / best
    lead = r >= 1 if higher_better else r <= 1
    return f"**{r:.2f}x** {'leads' if lead else 'BEHIND'}"


class Table:
    """Rows of one measure: label, per-relay values, which direction is better, a ceiling."""

    def __init__(self, b, ceiling_title=None):
        self.b = b
        self.rows = []
        self.ceiling_title = ceiling_title

    def row(self, label, values, higher_better=None, nd=None, ceiling=None, unit=""):
        self.rows.append((label, values, higher_better, nd, ceiling, unit))

    def render(self):
        kinds = self.b.ok
        head = ["", *[NAMES[k] for k in kinds], "ours / best other"]
        if self.ceiling_title:
            head.append(self.ceiling_title)
        out = ["| " + " | ".join(head) + " |",
               "| --- |" + " ---: |" * (len(head) - 1)]
        for label, values, hb, nd, ceiling, unit in self.rows:
            cells = [label]
            for k in kinds:
                v = values.get(k)
                cells.append(fmt(v, nd) + (unit if v is not None and unit else ""))
            if hb is None or "ours" not in kinds:
                cells.append("")
            else:
                cells.append(ratio_cell(values.get("ours"),
                                        [values.get(k) for k in kinds if k != "ours"], hb))
            if self.ceiling_title:
                cells.append(fmt(ceiling, nd) if isinstance(ceiling, float) else (ceiling or ""))
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out)


def noise_responder(b):
    for line in b.text("noise.md").splitlines():
        if "responder share" in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            try:
                return float(cells[-1].replace(",", ""))
            except ValueError:
                return None
    return None


def copy_median(b, name):
    return median_by(b.records(name, "copy"), "mbps")


def hold_runs(b, k):
    """Per run of the hold measure: (mem lines, rate lines)."""
    runs, mem, rate = [], [], []
    for l in b.lines(k + ".hold"):
        r = parse(l)
        if r["_"] == "mem":
            mem.append(r)
        elif r["_"] == "rate":
            rate.append(r)
        elif r["_"] == "end":
            runs.append((mem, rate))
            mem, rate = [], []
    return runs


def mem_calc(base, cp):
    n = cp["conns"]
    if not n:
        return None
    rss = (cp["server_rss_kb"] - base["server_rss_kb"]) * 1024 / n
    kern = (cp["slab_bytes"] - base["slab_bytes"]) / (2 * n)
    return {"n": n, "target": cp["target"], "rss_mb": cp["server_rss_kb"] / 1024,
            "rss": rss / 1000, "kern": kern / 1000, "total": (rss + kern) / 1000}


def main():
    b = Bench(sys.argv[1])
    m = b.meta
    o = []
    p = o.append
    kinds = b.ok
    p("# Benchmark results")
    p("")
    p(f"Written by `make bench` (scripts/bench.sh, bench/report.py) on {m['date']}: {m['cpu']},")
    p(f"{m['kernel']}, {m['ram']} RAM, open-file limit {m['fdlim']}. Source: commit {m['commit']},")
    p(f"release build (`-O3`), one thread; {m['openssl']}, libuv {m['libuv']}.")
    p(f"Invoked as `{m['invocation']}`; took {m['seconds']} s. Load average (1, 5, 15 min) before:")
    p(f"{m['load_before']}; after: {m['load_after']}. {m['placement']}.")
    if "steal" in m:
        p(f"CPU stolen by the hypervisor during the run: {m['steal']} (/proc/stat).")
    p(f"Each measure ran {m['runs']} time(s) per relay, a fresh relay each time; the tables show the")
    p("median run (by the measure's first row), every run is in the raw output. Wall-clock numbers on")
    p("a shared machine move by 10-20 % between runs.")
    if m["quick"] == "1":
        p("")
        p("**BENCH=quick**: every row once, smaller transfers and windows: a smoke run, not results.")
    p("")
    p("## The relays")
    p("")
    p("All four listen on 127.0.0.1, TCP and QUIC v1, port 0, with every limit that would cap a")
    p("benchmark lifted (no circuit data or duration limit, reservation and circuit caps far above")
    p("the load, connection caps at 20000), and quiet logs. Exactly how each is built and")
    p("configured: bench/relays/README.md (go, rust) and the header of bench/js_relay.mjs (js).")
    p("")
    for k in b.kinds:
        st = m.get("status." + k, "")
        v = m.get("version." + k, "")
        desc = {
            "ours": "`build/relay-server`: `[relay]` max_circuit_bytes = 0 and max_circuit_duration_secs = 0 (unlimited), max_reservations and max_circuits 10^6, per-peer caps raised; `[network]` max_connections = 20000, max_pending_handshakes(_per_ip) = 4096; `[limits]` exempt_cidrs loopback; logging warn. TCP: Noise + Yamux; QUIC: ngtcp2 + GnuTLS.",
            "go": "bench/relays/go: a go-libp2p host (its default transports, security and muxers: TCP with Noise and TLS, Yamux; QUIC) with the circuit v2 relay service, resource manager and connection manager that never limit, relay resources raised and no circuit limit.",
            "rust": "bench/relays/rust: the behaviours of rust-libp2p's relay-server example (relay, identify, ping) on tokio, TCP + Noise + Yamux and QUIC, relay::Config caps raised, no circuit limit, idle connections kept (idle_connection_timeout 1 h), release build.",
            "js": "`node bench/js_relay.mjs --quic`: js-libp2p with TCP + Noise + Yamux, identify, ping, @libp2p/circuit-relay-v2 (applyDefaultLimit false, maxReservations 10^6), @chainsafe/libp2p-quic; connection manager raised, connection monitor off.",
        }[k]
        p(f"- **{NAMES[k]}** ({v}): {desc}" if st == "ok" else f"- **{NAMES[k]}**: {st}.")
    p("")
    p("The load generators are ours (one libuv loop each, on core 0): `bench_connect`, `bench_circuit`,")
    p("`bench_many`, `test_client`. *Per relay CPU-second*: the count over the relay process's own CPU")
    p("time (utime + stime, /proc) in the same window: what one fully used relay core would do, when")
    p("the one-core load generator cannot saturate the relay. *ours / best other*: our value over the")
    p("best of the other relays (the highest, or the lowest where lower is better); `leads` when ours")
    p("is the best.")

    # ---- TCP churn
    noise = noise_responder(b)
    for title, name, ceil_note in (("New TCP connections per second", "churn", True),
                                   ("New QUIC connections per second", "qchurn", False)):
        t = Table(b, "ceiling" if ceil_note else None)
        med = {k: median_by(b.records(f"{k}.{name}", "rate"), "per_server_cpu_s") for k in kinds}
        udp = {}
        for k in kinds:
            rates = b.records(f"{k}.{name}", "rate")
            udps = b.records(f"{k}.{name}", "udp")
            if med[k] is not None and med[k] in rates and len(udps) == len(rates):
                udp[k] = udps[rates.index(med[k])].get("udp_rcvbuf_drops")
        g = lambda key: {k: (med[k] or {}).get(key) for k in kinds}
        t.row("handshakes per relay CPU-second", g("per_server_cpu_s"), True, 0,
              noise if ceil_note else None)
        t.row("handshakes/s (wall)", g("per_sec"), True, 0)
        t.row("relay CPU use", {k: v * 100 if v is not None else None for k, v in g("server_cpu_util").items()},
              None, 0, unit=" %")
        # with a fixed number of dials in flight the latency follows from the rate (Little's law):
        # shown, not ranked
        t.row("latency p50 (ms)", g("lat_p50_ms"), None, 1)
        t.row("latency p99 (ms)", g("lat_p99_ms"), None, 1)
        t.row("failed dials", g("failed"), None, 0)
        if not ceil_note:
            t.row("UDP receive-buffer drops", udp, None, 0)
        p("")
        p(f"## {title}")
        p("")
        if ceil_note:
            p(f"`bench_connect --mode churn`: {m['conc']} dials in flight from 1000 identities; a dial")
            p("counts when the full upgrade is done on its side (TCP, multistream-select, Noise XX, Yamux)")
            p(f"and is closed at once; counted over {m['secs']} s after 1 s of warm-up. Ceiling: the")
            p("responder's share of a Noise XX handshake in memory (`bench_noise`, no sockets).")
        else:
            p("`bench_connect --mode churn --ping`: each dial is a QUIC v1 handshake with TLS 1.3 and the")
            p("libp2p certificate on both sides, confirmed by one ping (/ipfs/ping/1.0.0) so that the")
            p("server has verified our certificate too, then CONNECTION_CLOSE; the warm-up lasts until")
            p(f"each of the 1000 identities has dialled once; counted over {m['secs']} s. Latency rows not")
            p("ranked, as above.")
        p("")
        p(t.render())

    # ---- memory
    cp1, conns = int(m["cp1"]), int(m["conns"])
    per = {}
    reached = {}
    rates = {}
    for k in kinds:
        rs = []
        for mem, rate in hold_runs(b, k):
            if len(mem) < 3:
                continue
            a, c = mem_calc(mem[0], mem[1]), mem_calc(mem[0], mem[2])
            if a and c:
                rs.append((c["total"], a, c, rate))
        if rs:
            rs.sort(key=lambda x: x[0])
            _, a, c, rate = rs[(len(rs) - 1) // 2]
            per[k] = (a, c)
            reached[k] = c["n"]
            rates[k] = rate
    t = Table(b)
    for lbl, i in ((f"{cp1:,}", 0), (f"{conns:,}", 1)):
        t.row(f"total per connection at {lbl} (kB)", {k: per[k][i]["total"] for k in per}, False, 1)
        t.row(f"RSS per connection at {lbl} (kB)", {k: per[k][i]["rss"] for k in per}, False, 1)
        t.row(f"kernel per connection at {lbl} (kB)", {k: per[k][i]["kern"] for k in per}, None, 1)
        t.row(f"relay RSS at {lbl} (MB)", {k: per[k][i]["rss_mb"] for k in per}, False, 1)
    t.row("connections reached", {k: reached[k] for k in reached}, None, 0)
    p("")
    p("## Memory per idle connection")
    p("")
    p(f"`bench_connect --mode hold`: connections dialled as above and kept open; measured {int(m['settle_ms']) / 1000:g} s after")
    p(f"the {cp1:,}th and the {conns:,}th (a run stops dialling after {m['hold_max']} s and is measured")
    p("at the count it reached: see *connections reached*). RSS: the relay's VmRSS over the one before")
    p("the first connection, per connection. Kernel: slab memory in use (/proc/slabinfo, TIME_WAIT")
    p("left out) over 2N: both ends of each loopback connection live in this kernel (socket, inode,")
    p("dentry, file, epoll item), half is the relay's; the objects are the same for every relay, so")
    p("that row has no ratio (its differences are the noise of a machine-wide count), the total has.")
    p("kB = 1000 bytes. Lower is better.")
    p("")
    p(t.render())
    t = Table(b)
    for lbl, i in ((f"0 -> {cp1:,}", 0), (f"{cp1:,} -> {conns:,}", 1)):
        t.row(f"{lbl}: handshakes per relay CPU-second",
              {k: rates[k][i]["per_server_cpu_s"] for k in rates if len(rates[k]) > i}, True, 0)
        t.row(f"{lbl}: handshakes/s (wall)",
              {k: rates[k][i]["per_sec"] for k in rates if len(rates[k]) > i}, True, 0)
    p("")
    p("## Connection rate while connections accumulate")
    p("")
    p("The dials of the memory runs (same median run), every connection kept open.")
    p("")
    p(t.render())

    # ---- circuits and reservations
    t = Table(b)
    cm = {k: median_by(b.records(f"{k}.circuit", "circuit"), "lat_p50_ms") for k in kinds}
    g = lambda key: {k: (cm[k] or {}).get(key) for k in kinds}
    t.row("CONNECT -> OK p50 (ms)", g("lat_p50_ms"), False, 3)
    t.row("CONNECT -> OK p99 (ms)", g("lat_p99_ms"), False, 3)
    t.row("stream open -> OK p50 (ms)", g("open_p50_ms"), False, 3)
    t.row("stream open -> OK p99 (ms)", g("open_p99_ms"), False, 3)
    t.row("circuits/s (one after another)", g("per_sec"), True, 0)
    t.row("circuits per relay CPU-second",
          {k: cm[k]["n"] / cm[k]["server_cpu_s"] if cm[k] and cm[k].get("server_cpu_s") else None
           for k in kinds}, True, 0)
    p("")
    p("## Circuit setup latency")
    p("")
    p(f"`bench_circuit`: a listener identity reserves and answers each STOP CONNECT with OK at once;")
    p(f"a dialler sends {m['ncircuits']} CONNECTs to it one after another (after 5 warm-up), each on a")
    p("new hop stream over one connection, reset when the OK is in. *CONNECT -> OK*: the relay's STOP")
    p("round trip to the listener included; *stream open -> OK* adds the Yamux stream and the")
    p("multistream-select negotiation of the hop protocol.")
    p("")
    p(t.render())
    t = Table(b)
    nm = {k: median_by(b.records(f"{k}.circuit", "reserve_new"), "per_sec") for k in kinds}
    rm = {k: median_by(b.records(f"{k}.circuit", "reserve_refresh"), "per_server_cpu_s") for k in kinds}
    t.row("refreshes per relay CPU-second", {k: (rm[k] or {}).get("per_server_cpu_s") for k in kinds}, True, 0)
    t.row("refreshes/s (wall)", {k: (rm[k] or {}).get("per_sec") for k in kinds}, True, 0)
    t.row("new reservations per relay CPU-second",
          {k: nm[k]["n"] / nm[k]["server_cpu_s"] if nm[k] and nm[k].get("server_cpu_s") else None
           for k in kinds}, True, 0)
    t.row("new reservations/s (wall)", {k: (nm[k] or {}).get("per_sec") for k in kinds}, True, 0)
    p("")
    p("## Reservations per second")
    p("")
    p(f"The same tool: {m['res_peers']} more identities connect (one connection each); *new*: each")
    p("sends one RESERVE, all at once (first sent -> last OK); *refresh*: for")
    p(f"{m['res_secs']} s each connection RESERVEs again as soon as its answer is in (one in flight per")
    p("connection, a fresh hop stream each time). Every relay signs a voucher per answer.")
    p("")
    p(t.render())

    # ---- throughput
    plain, noisec, e2e, crypto = (copy_median(b, n) for n in ("copy.plain", "copy.noise", "copy.e2e", "copy.crypto"))
    dq = median_by(b.records("direct.quic", "tput"), "mbps")
    dt = median_by(b.records("direct.tcp", "tput"), "mbps")
    p("")
    p("## Throughput through one circuit")
    p("")
    p(f"A listening `test_client` reserves (over TCP, or over QUIC for the QUIC-QUIC and TCP-QUIC")
    p(f"paths) and serves `/mesh-relay/sink/1.0.0`; a second one pushes {int(m['relay_bytes']):,} bytes")
    p("through the relay to it (`--dial <id> --send N`). Both clients run on core 0, the relay on")
    p("core 1. Inside the circuit the clients run Noise + Yamux end to end (1 MiB windows), so each")
    p("encrypts twice per byte; the relay decrypts and re-encrypts each leg's outer layer. MB = 10^6")
    p("bytes. Ceilings, same run: `bench_copy --noise` (a copy loop on real loopback sockets that")
    p("decrypts and re-encrypts Noise frames, the relay's work with nothing else: its MB per CPU-second")
    p("bounds a relay's), `bench_copy --noise --e2e` (the same with the clients' end-to-end layer,")
    p("the wall-clock bound on two cores), and for QUIC the same sender to `bench_sink` over one direct")
    p("QUIC connection, both ends on core 0 like a circuit's clients (no relay, no end-to-end layer).")
    for path, name, ceil in (("TCP -> TCP", "tt", (noisec, e2e, "copy loop --noise / --noise --e2e")),
                             ("QUIC -> QUIC", "qq", (None, dq, "direct QUIC, no relay")),
                             ("TCP -> QUIC", "tq", (None, None, ""))):
        tm = {k: median_by(b.records(f"{k}.{name}", "tput"), "mbps") for k in kinds}
        t = Table(b, "ceiling")
        g = lambda key: {k: (tm[k] or {}).get(key) for k in kinds}
        per_cpu = {k: tm[k]["bytes"] / 1e6 / tm[k]["server_cpu_s"] if tm[k] and tm[k].get("server_cpu_s") else None
                   for k in kinds}
        c_cpu = ceil[0]["bytes"] / 1e6 / ceil[0]["relay_cpu_s"] if ceil[0] else None
        t.row("MB per relay CPU-second", per_cpu, True, 0, c_cpu)
        t.row("MB/s (wall)", g("mbps"), True, 0, ceil[1]["mbps"] if ceil[1] else None)
        t.row("relay CPU use", {k: v * 100 if v is not None else None for k, v in g("server_cpu_util").items()},
              None, 0, unit=" %")
        t.row("core 0 (clients) busy", {k: v * 100 if v is not None else None for k, v in g("core0_util").items()},
              None, 0, unit=" %")
        t.row("client CPU-seconds", g("client_cpu_s"), None, 2)
        if name != "tt":
            t.row("UDP drops", g("udp_rcvbuf_drops"), None, 0)
        p("")
        p(f"### {path}" + (f" (ceiling: {ceil[2]})" if ceil[2] else ""))
        p("")
        p(t.render())
    if plain and crypto:
        p("")
        p(f"Other ceilings: a plain copy loop (no protocol) moves {fmt(plain['mbps'])} MB/s "
          f"({fmt(plain['bytes'] / 1e6 / plain['relay_cpu_s'])} MB per copying CPU-second); decrypt + "
          f"re-encrypt in memory, no sockets: {fmt(crypto['mbps'])} MB/s on one core.")
    if dt:
        p(f"A direct TCP transfer (test_client -> bench_sink, both on core 0): {fmt(dt['mbps'])} MB/s.")

    # ---- many circuits
    p("")
    p("## Many circuits at once")
    p("")
    p("`bench_many`: N listener identities reserve, N dialler identities each open a circuit to one of")
    p("them (connections and circuits set up 64 at a time), upgrade it end to end (Noise + Yamux) and")
    p(f"send {m['many_rate']} bytes/s through it in small chunks, echoed back by the listener and")
    p(f"checked; measured over {m['many_secs']} s once all are up. One more circuit carries a ping")
    p("(/ipfs/ping/1.0.0) every 20 ms during the load (none while one is unanswered): its round-trip")
    p("time is the latency an agent sees through a busy relay; both ends of every circuit run in the")
    p("one load-generator process, so its own delays are in it too (*client_lag* in the raw output:")
    p("how late its timers fired). MB per relay CPU-second: bytes through the relay (both")
    p("directions) over the relay's CPU time in the window.")
    for n in m["many"].split():
        mm = {}
        for k in kinds:
            recs = b.records(f"{k}.many{n}", "many")
            # a relay that timed out has only its short record: established, failed, RSS
            mm[k] = median_by(recs, "per_server_cpu_s_mb") or (recs[0] if recs else None)
        t = Table(b, "ceiling")
        g = lambda key: {k: (mm[k] or {}).get(key) for k in kinds}
        t.row("MB per relay CPU-second", g("per_server_cpu_s_mb"), True, 0,
              noisec["bytes"] / 1e6 / noisec["relay_cpu_s"] if noisec else None)
        t.row("MB/s (wall; the offered load, not ranked)", g("mbps"), None, 1)
        t.row("relay RSS (MB)", {k: mm[k]["server_rss_kb"] / 1024 if mm[k] and isinstance(mm[k].get("server_rss_kb"), float) else None for k in kinds}, False, 1)
        t.row("relay RSS growth per circuit (kB)",
              {k: (mm[k]["server_rss_kb"] - mm[k]["server_rss0_kb"]) * 1.024 / int(n)
               if mm[k] and isinstance(mm[k].get("server_rss0_kb"), float) else None for k in kinds}, False, 1)
        t.row("ping through a circuit p50 (ms)", g("ping_p50_ms"), False, 2)
        t.row("ping through a circuit p99 (ms)", g("ping_p99_ms"), False, 2)
        t.row("circuits established", g("established"), None, 0)
        t.row("failed", g("failed"), None, 0)
        t.row("setup (s)", {k: (mm[k] or {}).get("setup_s", "timed out" if mm[k] else None) for k in kinds}, False, 1)
        p("")
        p(f"### {n} circuits")
        p("")
        p(t.render())

    # ---- micro
    p("")
    p("## Core codecs and identity crypto (`bench_core`)")
    p("")
    p(b.text("core.md").rstrip())
    p("")
    p("## Noise XX in memory (`bench_noise`, core 1)")
    p("")
    p(b.text("noise.md").rstrip())

    # ---- commands and raw output
    p("")
    p("## Commands")
    p("")
    p("What `make bench` ran for each relay and run (`<ma>`/`<qma>`: the relay's TCP/QUIC address")
    p("with its /p2p/ id, `<pid>` its process id; the relay on core 1, everything else on core 0):")
    p("")
    p("```sh")
    p("taskset -c 1 build/relay-server --config <tmp>/relay.toml      # ours, the keys above")
    p("taskset -c 1 $(bench/relays/go/build.sh | tail -1)            # go")
    p("taskset -c 1 $(bench/relays/rust/build.sh | tail -1)          # rust")
    p("taskset -c 1 node bench/js_relay.mjs --quic                    # js")
    p(f"taskset -c 0 build/bench/bench_connect --dial <ma> --server-pid <pid> --concurrency {m['conc']} --mode churn --warmup 1 --duration {m['secs']} --peers 1000")
    p(f"taskset -c 0 build/bench/bench_connect --dial <qma> --server-pid <pid> --concurrency {m['conc']} --mode churn --warmup 1 --warmup-all-peers --ping --duration {m['secs']} --peers 1000")
    p(f"taskset -c 0 build/bench/bench_connect --dial <ma> --server-pid <pid> --concurrency {m['conc']} --mode hold --checkpoints {m['cp1']},{m['conns']} --settle-ms {m['settle_ms']} --peers {m['conns']} --hold-max-seconds {m['hold_max']}")
    p(f"taskset -c 0 build/bench/bench_circuit --relay <ma> --server-pid <pid> --circuits {m['ncircuits']} --reserve-peers {m['res_peers']} --reserve-seconds {m['res_secs']}")
    p("taskset -c 0 build/test_client --relay <ma> &        # listener (TCP-TCP); <qma> for QUIC-QUIC and TCP-QUIC")
    p(f"taskset -c 0 build/test_client --relay <ma|qma> --dial <listener id> --send {m['relay_bytes']}")
    p(f"taskset -c 0 build/bench/bench_many --relay <ma> --server-pid <pid> --circuits N --rate {m['many_rate']} --seconds {m['many_secs']}   # N in {m['many']}")
    p(f"build/bench/bench_copy --bytes {m['relay_bytes']} [--noise [--e2e] | --crypto]")
    p("taskset -c 0 build/bench/bench_sink --listen /ip4/127.0.0.1/tcp/0 --listen /ip4/127.0.0.1/udp/0/quic-v1 &")
    p(f"taskset -c 0 build/test_client --dial <sink qma|ma> --send {m['relay_bytes']}")
    p("```")
    p("")
    p("<details><summary>Raw output</summary>")
    p("")
    p("```")
    raw = os.path.join(b.d, "raw")
    for name in sorted(os.listdir(raw)):
        p(f"# {name}")
        for l in b.lines(name):
            p(l)
    p("```")
    p("")
    p("</details>")
    print("\n".join(o))


if __name__ == "__main__":
    main()
