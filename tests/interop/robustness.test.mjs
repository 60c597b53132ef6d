// robustness.test.mjs: ONE relay (small limits: handshake_timeout_secs = 2,
// max_pending_handshakes = 64, 8 of them per address, keepalive 2 s; TCP and QUIC) is attacked with
// raw sockets (node:net, hand-made multistream-select / Noise / Yamux bytes from lib/raw.mjs), a
// flood of stalled handshakes (TCP from node, QUIC from tests/tools/quic_stall.c) and misbehaving
// js peers, while a good js-libp2p peer stays connected and is pinged throughout. Raw connections
// come from their own loopback addresses (127.0.2.x), each as a client of its own, unless a case
// is about many connections from one address. Every bad connection must be
// closed by the relay within a bound, and where the relay logs it (debug "Handshake failed",
// info "ConnectionClosed") with the matching stage / reason / error. At the end the good peer's
// connection is the same one, identify still works, the relay's RSS has not grown by more than
// RSS_BOUND_MIB, the pending-handshake counter has not leaked, and the relay exits 0 on SIGTERM
// (under ASan that also means no leak and no UB report).
//
// The tests share the relay and run in order; each one names the attack it makes. More relays
// follow, each for its own tests: a flood of stalled handshakes over TCP and QUIC while honest js
// clients keep connecting (issue 11, item 3), a peer that never reads (item 7), the stream-memory
// attacks with what they make the relay hold from its memory metric, per idle stream and per
// attacker byte (item 4), and the memory budget (item 4).
// Run by hand: RLY_BUILD_DIR=build tests/interop/run.sh tests/interop/robustness.test.mjs
import './polyfill.mjs'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { after, before, describe, test } from 'node:test'
import { quic } from '@chainsafe/libp2p-quic'
import { multiaddr } from '@multiformats/multiaddr'
import {
  BUILD_DIR, OP_TIMEOUT_MS, PROTO_HOP, PROTO_IDENTIFY, PROTO_PING, SANITIZER_ENV, annotate,
  createJsNode, loopbackConfig, opSignal, sleep, spawnTracked, startRelay, stopJsNodes,
  stopProcess, tcpParts, waitUntil, withTimeout
} from './lib/index.mjs'
import {
  MSS_HEADER, YAMUX, YamuxDecoder, mssMsg, noiseFrame, noiseHandshake, rawConnect, rawIdentity,
  selectNoise, uvarint, waitClosed, yamuxFrame
} from './lib/raw.mjs'

const HS_TIMEOUT_S = 2
const MAX_PENDING = 64
const MAX_PENDING_PER_IP = 16
const KEEPALIVE_S = 2
const KEEPALIVE_ANSWER_S = 10 // yamux keepalive_timeout (fixed in yamux.c)
const MAX_INBOUND_STREAMS = 256 // rly_tcp_settings.max_inbound_streams (go's resource manager, per peer)
const YAMUX_RESET_BURST = 1000 // yamux.c stream_reset_burst: refused streams count against it
const MSS_MAX_ATTEMPTS = 16 // mss.h RLY_MSS_MAX_ATTEMPTS
// A bad connection must be closed within the handshake timeout plus this slack (ASan, loaded CI).
const CLOSE_SLACK_MS = 8_000
const CLOSE_BOUND_MS = HS_TIMEOUT_S * 1000 + CLOSE_SLACK_MS
const RSS_BOUND_MIB = 64
// every attack of cases 1-5 and 7 is made X times over (or X times as large) as first written
const X = 10
const PING_INTERVAL_MS = 200
// case 8: non-reading connections, and the streams each fills (x 256 KiB: 1 GiB, far above
// RSS_BOUND_MIB if the relay queued every echo; issue 11 asked for ten times the first 400 streams)
const NONREADER_CONNS = 10
const NONREADER_STREAMS = 400
// case 6: streams a js peer opens at once on one connection (ten times the first 2000)
const FLOOD_STREAMS = 20_000

const STAGE_SEC = 'security negotiation'
const STAGE_NOISE = 'noise handshake'
const STAGE_MUX = 'muxer negotiation'
const REASON_TIMEOUT = 'handshake timeout'
const REASON_EVICTED_IP = 'evicted for a newer handshake from its address (max_pending_handshakes_per_ip)'
const ERR_NEGOTIATION = 'protocol negotiation failed'

// The stalled-handshake flood (issue 11, item 3) has a relay of its own, with the default
// handshake_timeout_secs (10) and a small table (FLOOD_MAX_PENDING, FLOOD_PER_IP per address).
// Ten times the table in stalled handshakes per handshake timeout (FLOOD_RATE a second: ten times
// the issue's attack, which refilled 256 every 10 s), over TCP (every connection the relay closes
// is reopened, at most FLOOD_RATE a second) and QUIC (real Initials; a Retry is answered), for
// FLOOD_S, half of it from the honest clients' own address and half from FLOOD_OTHER_ADDRS.
// A handshake that has said nothing whole yet lives about FLOOD_PER_IP / (FLOOD_RATE / 2) s
// under the flood from its own address (the newer ones of the address push it out), which is the
// time an honest client has for its first message: half the table per address gives it about a
// second (a quarter gave it 0.44 s: CI failed this test once with that, its output too short to
// say why), while the flood still overfills both the address's share and the table.
const FLOOD_S = 30
const FLOOD_HS_TIMEOUT_S = 10
const FLOOD_MAX_PENDING = 32
const FLOOD_PER_IP = 16
const FLOOD_CONNS = 10 * FLOOD_MAX_PENDING
const FLOOD_RATE = FLOOD_CONNS / FLOOD_HS_TIMEOUT_S
const FLOOD_OTHER_ADDRS = Array.from({ length: 8 }, (_, i) => `127.0.1.${i + 1}`)
const HONEST_EVERY_MS = 1000
// a peer that never reads (issue 11, item 7): a relay of its own with write_timeout_secs =
// WRITE_TIMEOUT_S; the peer opens ping streams, NONREADER_BATCH every 100 ms and at most
// NONREADER_MAX_STREAMS, fills each (256 KiB) and reads no echo
const WRITE_TIMEOUT_S = 2
const NONREADER_BATCH = 16
const NONREADER_MAX_STREAMS = 640
const HONEST_MIN_SUCCESS = 0.95
// the parked flood (issue 11 review): how long, the relay's per-address cap (one fewer are
// parked), and newcomers a second from the honest address
const PARKED_S = 16
const PARKED_PER_IP = 32
const PARKED_NEWCOMERS_PER_S = 30
// the silent flood against a distant client (second review): SILENT_PER_S connections a second
// that send nothing, from the client's address, against the default max_pending_handshakes_per_ip
// (32); the client's every byte is delayed SILENT_DELAY_MS each way (a 200 ms round trip)
const SILENT_PER_S = 200
const SILENT_DELAY_MS = 100
const QUIC_STALL_BIN = join(BUILD_DIR, 'tests', 'quic_stall')

/** loopbackConfig() and our [network] limits added to its [network] table. */
function robustnessConfig () {
  return loopbackConfig({
    network: [
      `handshake_timeout_secs = ${HS_TIMEOUT_S}`,
      `max_pending_handshakes = ${MAX_PENDING}`,
      `max_pending_handshakes_per_ip = ${MAX_PENDING_PER_IP}`,
      'max_connections = 400',
      `keepalive_interval_secs = ${KEEPALIVE_S}`
    ]
  })
}

/** The relay's /metrics as a Map of "name{labels}" to a number. */
async function relayMetrics (r = relay) {
  const url = r.stdout.map(l => /^Metrics on: (\S+)/.exec(l)).find(m => m != null)?.[1]
  assert.ok(url, 'the relay printed no "Metrics on:" line')
  const res = await fetch(url, { signal: opSignal() })
  const m = new Map()
  for (const line of (await res.text()).split('\n')) {
    const r = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (r) m.set(r[1], Number(r[2]))
  }
  return m
}

function vmRssKiB (pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  assert.ok(m, `no VmRSS in /proc/${pid}/status`)
  return Number(m[1])
}

// ---- shared state -------------------------------------------------------------------------------

let relay
let host
let port
let good // the good js node
let goodConn // its one connection to the relay
let pinger
let rssBeforeKiB
let rssPeakKiB = 0
const raws = new Set() // every raw connection, destroyed in after()
let silent // an authenticated raw peer that never answers the relay's keepalive pings

let nextSource = 0

/**
 * A raw connection to the relay, from `localAddress`, by default from a loopback address of its
 * own (127.0.2.1 .. 127.0.2.250 in turn: never at max_pending_handshakes_per_ip).
 */
async function connect (localAddress = `127.0.2.${1 + (nextSource++ % 250)}`, r = relay) {
  const { host, port } = tcpParts(r.tcp4)
  const c = await rawConnect(host, port, { localAddress })
  raws.add(c)
  return c
}

function sampleRss () {
  if (relay?.running()) rssPeakKiB = Math.max(rssPeakKiB, vmRssKiB(relay.pid))
}

/**
 * Ping the good peer every PING_INTERVAL_MS (its existing connection), recording each result with
 * its start time, until stopped.
 */
function startPinger (node, peer) {
  const p = { oks: [], failures: [], running: true }
  p.loop = (async () => {
    while (p.running) {
      const start = performance.now()
      try {
        await node.services.ping.ping(peer, { signal: opSignal(OP_TIMEOUT_MS) })
        p.oks.push({ start, end: performance.now() })
      } catch (err) {
        p.failures.push({ start, error: `${err.name}: ${err.message}` })
      }
      sampleRss()
      await sleep(PING_INTERVAL_MS)
    }
  })()
  p.stop = async () => {
    p.running = false
    await p.loop
  }
  return p
}

/** A background ping that started at or after `t` has succeeded (bounded); no ping failed. */
async function goodPingSince (t, what) {
  await waitUntil(() => pinger.oks.some(o => o.start >= t) || pinger.failures.length > 0,
    { timeoutMs: 2 * OP_TIMEOUT_MS, what: `a ping of the good peer ${what}` })
  assert.deepEqual(pinger.failures, [], `pings of the good peer failed (${what})`)
  assert.equal(goodConn.status, 'open', `the good peer's connection is ${goodConn.status} (${what})`)
}

/** The relay's "Handshake failed" record for the raw connection `c` (bounded wait). */
async function handshakeFailedLog (c) {
  const ra = `/ip4/${c.localAddress}/tcp/${c.localPort}`
  // Ephemeral ports are reused across the subtests: the connection is the newest one the relay
  // accepted from this port, and its record is the one with that conn_id.
  const isInbound = l => l.message === 'Inbound connection' && l.fields.remote_addr === ra
  await relay.waitForLog(isInbound, { what: `"Inbound connection" remote_addr=${ra}` })
  const accepted = relay.findLogs(isInbound)
  const id = accepted[accepted.length - 1].fields.conn_id
  return relay.waitForLog(l => l.message === 'Handshake failed' && l.fields.conn_id === id,
    { what: `"Handshake failed" conn_id=${id} remote_addr=${ra}` })
}

function matches (value, expected) {
  if (expected == null) return true
  if (Array.isArray(expected)) return expected.some(e => matches(value, e))
  if (expected instanceof RegExp) return expected.test(value)
  return value === expected
}

/**
 * `c` is closed by the relay within `boundMs`, and the relay logged "Handshake failed" for it with
 * the expected stage / reason / error (a string, RegExp or array of them; null: any).
 * Resolves with { rec, ms } (ms: from connect to close).
 */
async function expectHandshakeFailed (c, what, { stage, reason, error, boundMs = CLOSE_BOUND_MS } = {}) {
  const { at } = await waitClosed(c, boundMs, what)
  const rec = await handshakeFailedLog(c)
  const ms = Math.round(at - c.openedAt)
  const desc = `${what}: ${rec.line}`
  assert.ok(matches(rec.fields.stage, stage), `stage ${rec.fields.stage}, expected ${stage} (${desc})`)
  assert.ok(rec.fields.reason, `no reason field (${desc})`)
  assert.ok(matches(rec.fields.reason, reason), `reason ${rec.fields.reason}, expected ${reason} (${desc})`)
  assert.ok(matches(rec.fields.error, error), `error ${rec.fields.error}, expected ${error} (${desc})`)
  console.log(`# ${what}: closed after ${ms} ms; stage="${rec.fields.stage}" reason="${rec.fields.reason}" error="${rec.fields.error}"`)
  return { rec, ms }
}

/** A raw peer through multistream-select and Noise (early muxer: Yamux), seen as established. */
async function authedRaw (opts = {}, r = relay) {
  const c = await connect(undefined, r)
  await selectNoise(c)
  const t = await noiseHandshake(c, opts)
  const est = await r.waitForLog(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === t.peerId,
    { what: `ConnectionEstablished of raw peer ${t.peerId}` })
  return { c, t, peerId: t.peerId, est }
}

/**
 * `peerId`'s raw connection is closed by the relay (bounded) and logged ConnectionClosed with the
 * expected error / cause. yamuxError: the "Yamux session failed" debug record with that error (and,
 * with protoReason, a "Yamux protocol error" record) comes right before the ConnectionClosed.
 */
async function expectConnectionClosed (c, peerId, what, { error, cause, yamuxError, protoReason, boundMs = CLOSE_BOUND_MS, r = relay } = {}) {
  const { at } = await waitClosed(c, boundMs, what)
  const rec = await r.waitForLog(l => l.message === 'ConnectionClosed' && l.fields.peer_id === peerId,
    { what: `ConnectionClosed peer_id=${peerId}` })
  assert.ok(matches(rec.fields.error, error), `error ${rec.fields.error}, expected ${error} (${what}: ${rec.line})`)
  assert.ok(matches(rec.fields.cause, cause), `cause ${rec.fields.cause}, expected ${cause} (${what}: ${rec.line})`)
  if (yamuxError != null) {
    // the records the failure produced: everything logged between this peer's
    // ConnectionEstablished and its ConnectionClosed (Yamux records carry no connection id, and
    // the good peer's records may interleave, so the window is bounded by this connection's own
    // events rather than by a record count)
    const prior = []
    for (let i = r.logs.indexOf(rec) - 1; i >= 0; i--) {
      const l = r.logs[i]
      if (l.message === 'ConnectionEstablished' && l.fields.peer_id === peerId) break
      if (l.fields.conn_id === rec.fields.conn_id && l.message === 'Inbound stream refused') continue
      prior.push(l)
    }
    const failed = prior.find(l => l.message === 'Yamux session failed')
    assert.ok(failed, `no "Yamux session failed" record right before ${rec.line}:\n${prior.map(l => l.line).join('\n')}`)
    assert.equal(failed.fields.error, yamuxError, failed.line)
    if (protoReason != null) {
      const pe = prior.find(l => l.message === 'Yamux protocol error')
      assert.ok(pe, `no "Yamux protocol error" record right before ${rec.line}`)
      assert.ok(matches(pe.fields.reason, protoReason), `Yamux protocol error reason ${pe.fields.reason}, expected ${protoReason}`)
    }
  }
  console.log(`# ${what}: closed after ${Math.round(at - c.openedAt)} ms; cause="${rec.fields.cause}" error="${rec.fields.error}" (received ${c.bytesIn} bytes)`)
  return rec
}

/**
 * The Yamux frames the relay sent on an authenticated raw connection that are still buffered
 * (e.g. after it closed): decrypted and decoded, best effort.
 */
async function leftoverYamuxFrames (r) {
  const dec = new YamuxDecoder()
  const frames = []
  while (r.c.buffered >= 2) {
    try {
      frames.push(...dec.push(await r.t.recv({ timeoutMs: 100 })))
    } catch {
      break
    }
  }
  return frames
}

// ---- the stalled-handshake flood -----------------------------------------------------------------

/**
 * Keep `n` stalled TCP connections to the relay (each sends nothing, or only the multistream
 * header), spread over `addrs`; every one the relay closes is reopened, at most `perSecond` a
 * second, until stop(). Resolves stop() with { opened, closedByRelay }.
 */
function startTcpFlood ({ r, n, addrs, perSecond }) {
  const { host, port } = tcpParts(r.tcp4)
  const st = { opened: 0, closedByRelay: 0, running: true }
  const socks = new Set()
  const queue = [] // source addresses of connections to (re)open
  const open = addr => {
    const sock = net.connect({ host, port, localAddress: addr })
    const headerOnly = st.opened++ % 2 === 1
    socks.add(sock)
    sock.on('connect', () => { if (headerOnly) sock.write(mssMsg(MSS_HEADER)) })
    sock.on('error', () => {})
    sock.on('close', () => {
      socks.delete(sock)
      if (!st.running) return
      st.closedByRelay++
      queue.push(addr)
    })
  }
  for (let i = 0; i < n; i++) open(addrs[i % addrs.length])
  let credit = 0 // connections that may be opened now (perSecond, in 10 ms steps)
  const tick = setInterval(() => {
    credit = Math.min(credit + perSecond / 100, Math.max(1, perSecond / 10))
    for (; credit >= 1 && queue.length > 0; credit--) open(queue.shift())
  }, 10)
  return {
    stop () {
      st.running = false
      clearInterval(tick)
      for (const sock of socks) sock.destroy()
      return { opened: st.opened, closedByRelay: st.closedByRelay }
    }
  }
}

/** tests/tools/quic_stall against the relay's QUIC listener (stalled handshakes; see its header). */
function startQuicFlood ({ r, burst, addrs, perSecond, seconds }) {
  const { host: qhost, port: qport } = /\/ip4\/(?<host>[^/]+)\/udp\/(?<port>\d+)/.exec(r.quic4).groups
  const child = spawnTracked(QUIC_STALL_BIN, ['--to', `${qhost}:${qport}`, '--peer', r.peerId,
    '--from', addrs.join(','), '--burst', String(burst), '--rate', String(perSecond), '--seconds', String(seconds)],
  { env: { ...process.env, ...SANITIZER_ENV } })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', d => { out += d })
  child.stderr.setEncoding('utf8').on('data', d => { out += d })
  return {
    async stop () {
      const r = await stopProcess(child, { signal: 'SIGTERM', timeoutMs: (seconds + 15) * 1000 })
      await child.closed
      assert.equal(r.code, 0, `quic_stall failed: ${JSON.stringify(r)} ${out}`)
      return JSON.parse(out.trim().split('\n').pop())
    },
    wait: () => child.exited
  }
}

/**
 * Bytes from `stream` until `done(bytes)` holds (bounded). Read before closing: closing a QUIC
 * stream in js also stops its reading (STOP_SENDING), and an answer not yet in is lost.
 */
async function readUntil (stream, done, what) {
  let got = Buffer.alloc(0)
  const reading = (async () => {
    for await (const c of stream) {
      got = Buffer.concat([got, Buffer.from(c.subarray())])
      if (done(got)) return got
    }
    throw new Error(`${what}: the stream ended after ${got.length} bytes`)
  })()
  return withTimeout(reading, OP_TIMEOUT_MS, `reading ${what}`)
}

/** Whether `b` holds a whole length-prefixed message. */
function lpComplete (b) {
  let len = 0
  for (let i = 0, shift = 0; i < b.length && shift < 35; i++, shift += 7) {
    len += (b[i] & 0x7f) * 2 ** shift
    if ((b[i] & 0x80) === 0) return b.length >= i + 1 + len
  }
  return false
}

/** RESERVE on a new hop stream of `conn`: resolves when the relay answers STATUS OK. */
async function reserveOver (conn) {
  const stream = await conn.newStream(PROTO_HOP, { signal: opSignal() })
  stream.send(Uint8Array.from([0x02, 0x08, 0x00])) // lp HopMessage { type: RESERVE }
  const raw = await readUntil(stream, lpComplete, 'the RESERVE reply')
  await stream.close({ signal: opSignal() })
  const status = hopStatus(raw)
  assert.equal(status, 100, `RESERVE answered with status ${status} (${raw.length} bytes): ${raw.toString('hex')}`)
}

/** /ipfs/ping/1.0.0 on a new stream of `conn`: 32 bytes echoed. */
async function pingOver (conn) {
  const stream = await conn.newStream(PROTO_PING, { signal: opSignal() })
  const data = randomBytes(32)
  stream.send(data)
  const back = await readUntil(stream, b => b.length >= 32, 'the ping reply')
  await stream.close({ signal: opSignal() })
  assert.ok(back.equals(data), 'ping not echoed')
}

/** The status (field 5) of a length-prefixed HopMessage, or null. */
function hopStatus (raw) {
  let i = 0
  const varint = () => {
    let x = 0
    for (let shift = 0; i < raw.length && shift < 35; shift += 7) {
      const b = raw[i++]
      x += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return x
    }
    throw new Error(`bad varint in ${raw.toString('hex')}`)
  }
  const len = varint()
  const end = i + len
  while (i < end) {
    const key = varint()
    if ((key & 7) === 0) {
      const v = varint()
      if (key >> 3 === 5) return v
    } else if ((key & 7) === 2) {
      const n = varint() // (not "i += varint()": that adds to the i read before the call)
      i += n
    } else {
      return null
    }
  }
  return null
}

/**
 * An honest client's attempts for `ms`, one every HONEST_EVERY_MS: a new connection to `addr`,
 * a reservation, a ping, close. Resolves with [{ ok, ms, error }].
 */
async function honestAttempts (node, addr, ms) {
  const results = []
  const end = performance.now() + ms
  while (performance.now() < end) {
    const t0 = performance.now()
    let conn
    let dialMs
    try {
      conn = await node.dial(multiaddr(addr), { force: true, signal: opSignal() })
      dialMs = performance.now() - t0
      await reserveOver(conn)
      await pingOver(conn)
      results.push({ ok: true, ms: performance.now() - t0, dialMs })
    } catch (err) {
      results.push({ ok: false, ms: performance.now() - t0, dialMs, error: `${err.name}: ${err.message}`.slice(0, 200) })
    }
    await conn?.close().catch(() => {})
    await sleep(Math.max(0, HONEST_EVERY_MS - (performance.now() - t0)))
  }
  return results
}

/** "23/24 (95.8%), slowest 312 ms, failures: ..." */
function describeAttempts (results) {
  const ok = results.filter(r => r.ok).length
  const errors = [...new Set(results.filter(r => !r.ok).map(r => r.error))]
  const ms = results.map(r => Math.round(r.ms)).sort((a, b) => a - b)
  const median = ms[Math.floor(ms.length / 2)] ?? 0
  const slowest = results.reduce((a, r) => (a == null || r.ms > a.ms ? r : a), null)
  return `${ok}/${results.length} succeeded (${(100 * ok / Math.max(1, results.length)).toFixed(1)}%), median ${median} ms, slowest ${Math.round(slowest?.ms ?? 0)} ms (dial ${Math.round(slowest?.dialMs ?? -1)} ms)${errors.length ? `; failures: ${errors.join(' | ')}` : ''}`
}

/**
 * The honest client's bar under a flood: at least `minAttempts` attempts, HONEST_MIN_SUCCESS of
 * them succeeded, and none, good or failed, waited out the handshake timeout.
 */
function assertHonest (res, what, minAttempts) {
  const ok = res.filter(r => r.ok).length
  assert.ok(res.length >= minAttempts, `only ${res.length} ${what} attempts`)
  assert.ok(ok >= HONEST_MIN_SUCCESS * res.length, `honest ${what} client under the flood: ${describeAttempts(res)}`)
  const slow = res.filter(r => r.ms >= FLOOD_HS_TIMEOUT_S * 1000)
  assert.deepEqual(slow, [], `${what} attempts that took the handshake timeout (${FLOOD_HS_TIMEOUT_S} s) or longer`)
}

/** Run a test body; on failure attach the relay's output tail. */
async function withTail (fn) {
  try {
    await fn()
    sampleRss()
  } catch (err) {
    throw annotate(err, relay?.describe() ?? '(no relay)')
  }
}

// ---- the suite ------------------------------------------------------------------------------------

describe('robustness: one relay under attack while a good js peer keeps working', () => {
  before(async () => {
    relay = await startRelay({ config: robustnessConfig() })
    ;({ host, port } = tcpParts(relay.tcp4))
    good = await createJsNode()
    goodConn = await good.dial(multiaddr(relay.tcp4), { signal: opSignal() })
    assert.equal(goodConn.remotePeer.toString(), relay.peerId)
    for (let i = 0; i < 3; i++) await good.services.ping.ping(goodConn.remotePeer, { signal: opSignal() })
    // an authenticated peer that then stays silent: the keepalive must close it (checked at the end)
    silent = await authedRaw()
    rssBeforeKiB = vmRssKiB(relay.pid)
    rssPeakKiB = rssBeforeKiB
    pinger = startPinger(good, goodConn.remotePeer)
  })

  after(async () => {
    await pinger?.stop()
    for (const c of raws) c.destroy()
    await stopJsNodes(good)
    await relay?.stop() // idempotent; the last test checks the exit code
  })

  test(`1. garbage instead of the multistream header, ${X} of each: ${256 * X} random bytes, an HTTP request, a zero-length message, silence`, { timeout: 60_000 }, async () => {
    await withTail(async () => {
      const t0 = performance.now()
      const kinds = await Promise.all(Array.from({ length: X }, async () => {
        const rnd = await connect()
        rnd.write(randomBytes(256 * X))
        const http = await connect()
        http.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: robustness-test/1.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n')
        const zero = await connect()
        zero.write(Buffer.from([0x00])) // a message of length 0
        const quiet = await connect() // connects and sends nothing at all
        return { rnd, http, zero, quiet }
      }))
      await goodPingSince(t0, 'during attack 1')
      for (const [i, { rnd, http, zero, quiet }] of kinds.entries()) {
        // random bytes: rejected at once, or (a plausible length prefix) left waiting: timeout
        await expectHandshakeFailed(rnd, `${256 * X} random bytes #${i}`, { stage: STAGE_SEC, reason: [STAGE_SEC, REASON_TIMEOUT] })
        await expectHandshakeFailed(http, `an HTTP request #${i}`, { stage: STAGE_SEC, reason: STAGE_SEC, error: ERR_NEGOTIATION })
        await expectHandshakeFailed(zero, `a zero-length mss message #${i}`, { stage: STAGE_SEC, reason: STAGE_SEC, error: ERR_NEGOTIATION })
        await expectHandshakeFailed(quiet, `a silent connection #${i}`, { stage: STAGE_SEC, reason: REASON_TIMEOUT, error: 'timed out' })
      }
      await goodPingSince(performance.now(), 'after attack 1')
    })
  })

  test(`2. Noise stage, ${X} of each: truncated msg1 then silence, msg1 too short, 65535-byte frames`, { timeout: 60_000 }, async () => {
    await withTail(async () => {
      const t0 = performance.now()
      const kinds = await Promise.all(Array.from({ length: X }, async () => {
        // truncated msg1: the frame announces 32 bytes, 10 arrive, then nothing
        const trunc = await connect()
        await selectNoise(trunc)
        trunc.write(Buffer.concat([Buffer.from([0x00, 0x20]), randomBytes(10)]))
        // msg1 of the wrong length: a complete 10-byte frame
        const short = await connect()
        await selectNoise(short)
        short.write(noiseFrame(randomBytes(10)))
        // a frame announcing 65535 bytes, 100 of them, then our FIN
        const fin = await connect()
        await selectNoise(fin)
        fin.write(Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(100)]))
        fin.end()
        // a frame announcing 65535 bytes, 100 of them, then silence
        const big = await connect()
        await selectNoise(big)
        big.write(Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(100)]))
        // a complete 65535-byte msg1 (32 bytes of e, then a "payload" the responder may ignore),
        // then silence: the relay answers or rejects it; either way the connection must end
        const full = await connect()
        await selectNoise(full)
        full.write(noiseFrame(randomBytes(65535)))
        return { trunc, short, fin, big, full }
      }))
      await goodPingSince(t0, 'during attack 2')

      for (const [i, { trunc, short, fin, big, full }] of kinds.entries()) {
        await expectHandshakeFailed(trunc, `truncated msg1, then silence #${i}`, { stage: STAGE_NOISE, reason: REASON_TIMEOUT, error: 'timed out' })
        await expectHandshakeFailed(short, `a 10-byte msg1 #${i}`, { stage: STAGE_NOISE, reason: STAGE_NOISE, error: 'handshake failed' })
        await expectHandshakeFailed(fin, `65535 announced, 100 sent, FIN #${i}`, { stage: STAGE_NOISE, reason: 'remote closed' })
        await expectHandshakeFailed(big, `65535 announced, 100 sent, silence #${i}`, { stage: STAGE_NOISE, reason: REASON_TIMEOUT, error: 'timed out' })
        await expectHandshakeFailed(full, `a 65535-byte msg1, then silence #${i}`, { stage: STAGE_NOISE, reason: [REASON_TIMEOUT, STAGE_NOISE] })
      }
      await goodPingSince(performance.now(), 'after attack 2')
    })
  })

  test(`3. multistream-select limits: messages of ${2000 * X} and ${1025 * X} bytes, a ${X} x 2^28 length prefix, ${20 * X} refused proposals (also inside Noise)`, { timeout: 60_000 }, async () => {
    await withTail(async () => {
      const t0 = performance.now()
      const bigHeader = await connect() // the very first message is 20000 bytes long
      bigHeader.write(Buffer.concat([uvarint(2000 * X), Buffer.alloc(2000 * X - 1, 0x61), Buffer.from('\n')]))
      const bigProposal = await connect() // a valid header, then a 10250-byte proposal
      bigProposal.write(Buffer.concat([mssMsg(MSS_HEADER), uvarint(1025 * X), Buffer.from('/'), Buffer.alloc(1025 * X - 2, 0x62), Buffer.from('\n')]))
      const hugeLen = await connect() // a length prefix of 10 x 2^28 and nothing else
      hugeLen.write(Buffer.concat([mssMsg(MSS_HEADER), uvarint(X * 2 ** 28)]))
      const attempts = await connect() // 200 proposals the relay does not speak
      attempts.write(Buffer.concat([mssMsg(MSS_HEADER), ...Array.from({ length: 20 * X }, (_, i) => mssMsg(`/not-noise/${i}`))]))
      // the same inside Noise: no early muxer, then 200 unknown muxers
      const inner = await connect()
      await selectNoise(inner)
      const t = await noiseHandshake(inner, { muxers: [] })
      t.send(Buffer.concat([mssMsg(MSS_HEADER), ...Array.from({ length: 20 * X }, (_, i) => mssMsg(`/not-yamux/${i}`))]))
      await goodPingSince(t0, 'during attack 3')

      await expectHandshakeFailed(bigHeader, `a ${2000 * X}-byte first message`, { stage: STAGE_SEC, reason: STAGE_SEC, error: ERR_NEGOTIATION })
      await expectHandshakeFailed(bigProposal, `a ${1025 * X}-byte proposal`, { stage: STAGE_SEC, reason: STAGE_SEC, error: ERR_NEGOTIATION })
      await expectHandshakeFailed(hugeLen, `a ${X} x 2^28 length prefix`, { stage: STAGE_SEC, reason: STAGE_SEC, error: ERR_NEGOTIATION })
      await expectHandshakeFailed(attempts, `${20 * X} refused proposals`, { stage: STAGE_SEC, reason: STAGE_SEC, error: ERR_NEGOTIATION })
      // what the relay answered before it gave up: its header, then at most 16 "na"
      const out = attempts.drain()
      const na = Buffer.from([0x03, 0x6e, 0x61, 0x0a])
      let nas = 0
      for (let i = out.indexOf(na); i >= 0; i = out.indexOf(na, i + 1)) nas++
      assert.ok(out.subarray(0, 20).equals(mssMsg(MSS_HEADER)), `the relay did not send its header first: ${out.subarray(0, 32).toString('hex')}`)
      assert.ok(nas <= MSS_MAX_ATTEMPTS, `${nas} "na" answers (max_attempts ${MSS_MAX_ATTEMPTS})`)
      console.log(`# ${20 * X} refused proposals: the relay answered ${nas} "na" before closing`)
      await expectHandshakeFailed(inner, `${20 * X} refused muxers inside Noise`, { stage: STAGE_MUX, reason: STAGE_MUX, error: ERR_NEGOTIATION })
      await goodPingSince(performance.now(), 'after attack 3')
    })
  })

  test(`4. Noise msg3, ${X} of each: garbage after a real msg1/msg2, garbage after a random msg1, a bad identity signature, a garbage payload`, { timeout: 60_000 }, async () => {
    await withTail(async () => {
      const t0 = performance.now()
      const kinds = await Promise.all(Array.from({ length: X }, async () => {
        const garbage3 = await connect()
        await selectNoise(garbage3)
        await noiseHandshake(garbage3, { msg3Override: randomBytes(200) })
        const blind = await connect() // msg1 = 32 random bytes, then a garbage "msg3" without reading msg2
        await selectNoise(blind)
        blind.write(noiseFrame(randomBytes(32)))
        await blind.readNoiseFrame({ what: 'msg2' })
        blind.write(noiseFrame(randomBytes(96)))
        const badSig = await connect()
        await selectNoise(badSig)
        const badSigId = await rawIdentity()
        await noiseHandshake(badSig, { identity: badSigId, badSignature: true })
        const badPayload = await connect()
        await selectNoise(badPayload)
        const badPayloadId = await rawIdentity()
        await noiseHandshake(badPayload, { identity: badPayloadId, payloadOverride: randomBytes(80) })
        return { garbage3, blind, badSig, badSigId, badPayload, badPayloadId }
      }))
      await goodPingSince(t0, 'during attack 4')

      for (const [i, { garbage3, blind, badSig, badSigId, badPayload, badPayloadId }] of kinds.entries()) {
        await expectHandshakeFailed(garbage3, `a garbage msg3 #${i}`, { stage: STAGE_NOISE, reason: STAGE_NOISE, error: 'handshake failed' })
        await expectHandshakeFailed(blind, `random msg1, garbage msg3 #${i}`, { stage: STAGE_NOISE, reason: STAGE_NOISE, error: 'handshake failed' })
        await expectHandshakeFailed(badSig, `a msg3 with a bad identity signature #${i}`, { stage: STAGE_NOISE, reason: STAGE_NOISE, error: ['invalid signature', 'handshake failed'] })
        await expectHandshakeFailed(badPayload, `a msg3 with a garbage payload #${i}`, { stage: STAGE_NOISE, reason: STAGE_NOISE })
        // never authenticated: no ConnectionEstablished for either identity
        for (const id of [badSigId.peerId, badPayloadId.peerId]) {
          assert.equal(relay.findLogs(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === id).length, 0,
            `the relay established a connection for ${id} despite a bad msg3`)
        }
      }
      await goodPingSince(performance.now(), 'after attack 4')
    })
  })

  test(`5. slow-loris: ${50 * X} connections from one address dripping one header byte per second; max_pending_handshakes_per_ip = ${MAX_PENDING_PER_IP}`, { timeout: 60_000 }, async () => {
    await withTail(async () => {
      const N = 50 * X
      const from = '127.0.3.1'
      const drip = Buffer.concat([mssMsg(MSS_HEADER), mssMsg('/noise')])
      const t0 = performance.now()
      const conns = []
      const timers = []
      let maxPending = 0
      try {
        for (let i = 0; i < N; i++) {
          const c = await connect(from)
          conns.push(c)
          let off = 0
          const send = () => {
            if (c.isClosed || off >= drip.length) return
            c.write(drip.subarray(off, off + 1))
            off++
          }
          send()
          timers.push(setInterval(send, 1000))
          if (i % 50 === 49) maxPending = Math.max(maxPending, (await relayMetrics()).get('mesh_relay_tcp_handshakes'))
        }
        const opened = performance.now() - t0
        await goodPingSince(t0, 'during the slow-loris')
        const results = []
        for (const [i, c] of conns.entries()) {
          const { at } = await waitClosed(c, CLOSE_BOUND_MS, `slow-loris connection #${i + 1}`)
          const rec = await handshakeFailedLog(c)
          results.push({ c, at, rec })
        }
        const evicted = results.filter(r => r.rec.fields.reason === REASON_EVICTED_IP)
        const timedOut = results.filter(r => r.rec.fields.reason === REASON_TIMEOUT)
        const other = results.filter(r => !evicted.includes(r) && !timedOut.includes(r))
        console.log(`# slow-loris: ${N} connections from ${from} opened in ${Math.round(opened)} ms; ${evicted.length} closed for newer ones of the address (max_pending_handshakes_per_ip), ${timedOut.length} by the handshake timeout (last after ${Math.round(Math.max(0, ...timedOut.map(r => r.at - r.c.openedAt)))} ms); relay's pending handshakes at most ${maxPending}`)
        assert.deepEqual(other.map(r => r.rec.line), [], 'slow-loris connections closed for another reason')
        // one address holds at most its cap: newcomers pushed out the stalest (those that had
        // not dripped for longest), and only the freshest lived to the handshake timeout
        assert.ok(maxPending <= MAX_PENDING_PER_IP, `the relay held ${maxPending} handshakes of one address (max_pending_handshakes_per_ip ${MAX_PENDING_PER_IP})`)
        assert.ok(evicted.length >= N / 2, `only ${evicted.length} of ${N} were pushed out by newer ones`)
        for (const r of evicted) assert.equal(r.rec.fields.error, 'resource limit exceeded', r.rec.line)
        for (const r of timedOut) assert.equal(r.rec.fields.error, 'timed out', r.rec.line)
      } finally {
        for (const t of timers) clearInterval(t)
      }
      await goodPingSince(performance.now(), 'after the slow-loris')
    })
  })

  test(`6. stream flood from an authenticated js peer: ${FLOOD_STREAMS} streams opened at once, none closed`, { timeout: 180_000 }, async () => {
    await withTail(async () => {
      const N = FLOOD_STREAMS
      // the attacker runs in a worker thread: setting up its streams blocks js for seconds, and
      // the good peer pinging from this thread must not be the one waiting
      const worker = new Worker(new URL('./lib/stream_flood_worker.mjs', import.meta.url), { workerData: { addr: relay.tcp4, n: N } })
      const messages = []
      let wake = () => {}
      worker.on('message', m => { messages.push(m); wake() })
      worker.on('error', err => { messages.push({ error: `worker: ${err.message}` }); wake() })
      const next = async what => {
        const deadline = performance.now() + 120_000
        while (messages.length === 0 && performance.now() < deadline) await new Promise(resolve => { wake = resolve; setTimeout(resolve, 1000) })
        const m = messages.shift()
        assert.ok(m != null, `no message from the flooding worker (${what})`)
        assert.ok(m.error == null, `the flooding worker failed (${what}): ${m.error}`)
        return m
      }
      try {
        const { peerId: aid } = await next('connected')
        await relay.waitForLog(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === aid, { what: 'attacker ConnectionEstablished' })
        const t0 = performance.now()
        worker.postMessage('go')
        const r = await next('the flood')
        sampleRss()
        console.log(`# stream flood: ${N} streams in ${r.ms} ms: ${r.ok} negotiated, ${N - r.ok} refused; attacker connection ${r.status}; errors ${JSON.stringify(r.errors)}`)
        await goodPingSince(t0, 'during the stream flood')
        assert.ok(r.ok <= MAX_INBOUND_STREAMS, `the relay accepted ${r.ok} streams on one connection (max_inbound_streams ${MAX_INBOUND_STREAMS})`)
        const closed = relay.findLogs(l => l.message === 'ConnectionClosed' && l.fields.peer_id === aid)
        if (r.status === 'open' && closed.length === 0) {
          // still open: the excess was reset, and the accepted streams still work
          assert.ok(r.ok > 0, 'the connection stayed open but no stream was accepted')
          assert.equal(r.echoed, true, 'ping on a flood stream was not echoed')
        } else {
          console.log(`# stream flood: the relay closed the attacker's connection: ${closed[0]?.line}`)
        }
        await goodPingSince(performance.now(), 'after the stream flood')
        await relay.waitForLog(l => l.message === 'ConnectionClosed' && l.fields.peer_id === aid,
          { what: `ConnectionClosed of the flooding js peer ${aid}` })
      } finally {
        await worker.terminate()
      }
    })
  })

  test(`7. Yamux violations and floods from authenticated raw peers, ${X} of each (floods ${X} times as large); garbage inside Noise`, { timeout: 90_000 }, async () => {
    await withTail(async () => {
      const t0 = performance.now()
      const PROTO = 'protocol error'
      const FLOOD = 'flood limit exceeded'
      const attacks = [
        ['yamux version 1', { error: PROTO, yamuxError: PROTO, protoReason: 'unknown version or type' },
          r => r.t.send(yamuxFrame({ version: 1, type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: 1 }))],
        ['a SYN with an even stream ID', { error: PROTO, yamuxError: PROTO, protoReason: /parity/ },
          r => r.t.send(yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: 2 }))],
        ['yamux frame type 7', { error: PROTO, yamuxError: PROTO, protoReason: 'unknown version or type' },
          r => r.t.send(yamuxFrame({ type: 7, streamId: 1 }))],
        [`${300 * X} KiB of Data in a 256 KiB window`, { error: 'flow control violation', yamuxError: 'flow control violation' },
          r => r.t.send(Buffer.concat([
            yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: 1 }),
            ...Array.from({ length: X }, () => yamuxFrame({ type: YAMUX.DATA, streamId: 1, payload: Buffer.alloc(300 * 1024) }))]))],
        [`${1500 * X} pings at once`, { error: FLOOD, yamuxError: FLOOD },
          r => r.t.send(Buffer.concat(Array.from({ length: 1500 * X }, (_, i) => yamuxFrame({ type: YAMUX.PING, flags: YAMUX.SYN, length: i }))))],
        // empty Data frames for a stream that does not exist
        [`${1500 * X} empty frames`, { error: FLOOD, yamuxError: FLOOD },
          r => r.t.send(Buffer.concat(Array.from({ length: 1500 * X }, () => yamuxFrame({ type: YAMUX.DATA, streamId: 99 }))))],
        // SYNs beyond the streams cap and the reset budget
        [`${3000 * X} SYNs at once`, { error: FLOOD, yamuxError: FLOOD },
          r => r.t.send(Buffer.concat(Array.from({ length: 3000 * X }, (_, i) => yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: 2 * i + 1 }))))],
        // a transport frame that does not decrypt
        ['a garbage Noise transport frame', { error: 'crypto failure' }, r => r.t.sendRaw(noiseFrame(randomBytes(64)))]
      ]
      const made = []
      for (const [what, expect, send] of attacks) {
        const rs = await Promise.all(Array.from({ length: X }, () => authedRaw()))
        for (const r of rs) send(r)
        made.push({ what, expect, rs })
      }
      await goodPingSince(t0, 'during attack 7')

      for (const { what, expect, rs } of made) {
        for (const [i, r] of rs.entries()) await expectConnectionClosed(r.c, r.peerId, `${what} #${i}`, expect)
      }
      // Not asserted (see the report): streams of a failed session announced to the swarm, which
      // logs each as "Inbound stream refused error=out of memory"; the Go Away reaching the peer
      const synFlood = made.find(m => m.what.endsWith('SYNs at once')).rs[0]
      const cid = relay.findLogs(l => l.message === 'ConnectionClosed' && l.fields.peer_id === synFlood.peerId)[0].fields.conn_id
      const oom = relay.findLogs(l => l.message === 'Inbound stream refused' && l.fields.conn_id === cid)
      console.log(`# ${3000 * X} SYNs: ${oom.length} "Inbound stream refused" records on that connection${oom.length ? ` (error="${oom[0].fields.error}")` : ''}`)
      for (const { what, rs } of made.slice(0, 5)) {
        const ga = (await leftoverYamuxFrames(rs[0])).filter(f => f.type === YAMUX.GO_AWAY)
        console.log(`# ${what}: Go Away received before the close: ${ga.length > 0 ? `yes (code ${ga[0].length})` : 'no'}`)
      }

      // SYNs at once, the refused ones within the reset budget: every SYN is answered, ACK (at
      // most max_inbound_streams) or RST, and the connection stays up. Not ten times: this one
      // checks the budget from below (ten times as many is the SYN flood above).
      const streams = await authedRaw()
      const N = MAX_INBOUND_STREAMS + YAMUX_RESET_BURST - 100
      streams.t.send(Buffer.concat(Array.from({ length: N }, (_, i) => yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: 2 * i + 1 }))))
      const dec = new YamuxDecoder()
      const acked = new Set()
      const reset = new Set()
      const deadline = performance.now() + 2 * OP_TIMEOUT_MS
      while (acked.size + reset.size < N) {
        const left = deadline - performance.now()
        assert.ok(left > 0 && !streams.c.isClosed, `after ${N} SYNs: ${acked.size} ACK + ${reset.size} RST answered, connection ${streams.c.isClosed ? 'closed' : 'open'}`)
        for (const f of dec.push(await streams.t.recv({ timeoutMs: left }))) {
          if (f.type === YAMUX.PING && f.flags === YAMUX.SYN) streams.t.send(yamuxFrame({ type: YAMUX.PING, flags: YAMUX.ACK, length: f.length }))
          if (f.type === YAMUX.DATA || f.type === YAMUX.WINDOW_UPDATE) {
            if (f.flags & YAMUX.ACK) acked.add(f.streamId)
            if (f.flags & YAMUX.RST) reset.add(f.streamId)
          }
        }
      }
      console.log(`# ${N} SYNs: ${acked.size} ACKed, ${reset.size} reset; connection open`)
      assert.ok(acked.size <= MAX_INBOUND_STREAMS, `${acked.size} streams accepted (max ${MAX_INBOUND_STREAMS})`)
      assert.equal(acked.size + reset.size, N)
      // the connection still works: a yamux ping is answered
      streams.t.send(yamuxFrame({ type: YAMUX.PING, flags: YAMUX.SYN, length: 0xC0FFEE }))
      let pong = false
      while (!pong) {
        for (const f of dec.push(await streams.t.recv())) {
          if (f.type === YAMUX.PING && f.flags === YAMUX.ACK && f.length === 0xC0FFEE) pong = true
          if (f.type === YAMUX.PING && f.flags === YAMUX.SYN) streams.t.send(yamuxFrame({ type: YAMUX.PING, flags: YAMUX.ACK, length: f.length }))
        }
      }
      sampleRss()
      streams.c.end()
      await expectConnectionClosed(streams.c, streams.peerId, `our FIN after ${N} SYNs`, { error: 'none', cause: 'remote closed' })
      await goodPingSince(performance.now(), 'after attack 7')
    })
  })

  test(`8. peers that never read: ${NONREADER_CONNS} connections, ${NONREADER_STREAMS} ping streams each, each stream filled to its 256 KiB window, no echo read`, { timeout: 240_000 }, async () => {
    await withTail(async () => {
      const rss0 = vmRssKiB(relay.pid)
      let peak = rss0
      const t0 = performance.now()
      const neg = Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_PING)])
      // exactly the rest of a stream's receive window: ping requests whose echoes are never read
      const fill = yamuxFrame({ type: YAMUX.DATA, streamId: 0, payload: Buffer.alloc(256 * 1024 - neg.length, 0x5a) })
      const nrs = []
      const deadline = performance.now() + 150_000
      for (let k = 0; k < NONREADER_CONNS; k++) {
        const nr = await authedRaw()
        nr.c.pauseReading()
        nrs.push(nr)
        for (let i = 0; i < NONREADER_STREAMS && !nr.c.isClosed; i++) {
          const id = 2 * i + 1
          fill.writeUInt32BE(id, 4)
          nr.t.send(Buffer.concat([
            yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: id }),
            yamuxFrame({ type: YAMUX.DATA, streamId: id, payload: neg }),
            fill
          ]))
          // keep our own memory small: wait while the kernel has not taken 8 MiB of it (bounded)
          while (nr.c.pendingWrite > 8 << 20 && !nr.c.isClosed && performance.now() < deadline) {
            await sleep(20)
            peak = Math.max(peak, vmRssKiB(relay.pid))
          }
        }
        peak = Math.max(peak, vmRssKiB(relay.pid))
      }
      // let the relay take in what it will: until neither its RSS nor our unsent bytes change for
      // 1.5 s (a relay with backpressure stops reading; one without takes everything), bounded
      let stableSince = performance.now()
      let last = ''
      const settle = performance.now() + 25_000
      while (performance.now() < settle && performance.now() - stableSince < 1500) {
        await sleep(250)
        const now = vmRssKiB(relay.pid)
        peak = Math.max(peak, now)
        const state = `${now}/${nrs.map(nr => nr.c.pendingWrite).join(',')}`
        if (state !== last) stableSince = performance.now()
        last = state
      }
      sampleRss()
      await goodPingSince(t0, 'while peers do not read')
      const grownMiB = (peak - rss0) / 1024
      const unsent = nrs.reduce((n, nr) => n + nr.c.pendingWrite, 0)
      const closed = nrs.filter(nr => nr.c.isClosed).length
      console.log(`# peers that never read: sent ${NONREADER_CONNS} x ${NONREADER_STREAMS} x 256 KiB in ${Math.round(performance.now() - t0)} ms (${(unsent / 1048576).toFixed(1)} MiB not taken by the relay); relay VmRSS ${rss0} kB -> peak ${peak} kB (+${grownMiB.toFixed(1)} MiB); ${closed} of ${NONREADER_CONNS} connections closed by the relay`)
      for (const nr of nrs) nr.c.destroy()
      for (const nr of nrs) {
        await waitClosed(nr.c, OP_TIMEOUT_MS, 'a non-reading connection (destroyed by us)')
        await relay.waitForLog(l => l.message === 'ConnectionClosed' && l.fields.peer_id === nr.peerId,
          { what: `ConnectionClosed of the non-reading peer ${nr.peerId}` })
      }
      assert.ok(grownMiB <= RSS_BOUND_MIB,
        `the relay buffered ${grownMiB.toFixed(1)} MiB for ${NONREADER_CONNS} connections that do not read (bound ${RSS_BOUND_MIB} MiB): ` +
        'send queues are not capped per connection')
      await goodPingSince(performance.now(), 'after the non-reading peers')
    })
  })

  test('the good peer still works (same connection, pings, identify); nothing leaked', { timeout: 90_000 }, async () => {
    await withTail(async () => {
      // the silent authenticated peer: closed by the keepalive (ping after 2 s idle, no answer in 10 s)
      await expectConnectionClosed(silent.c, silent.peerId, 'an authenticated peer that never answers keepalive pings',
        { cause: 'keepalive timeout', boundMs: (KEEPALIVE_S + KEEPALIVE_ANSWER_S) * 1000 + CLOSE_SLACK_MS })
      // every raw connection the relay had to close is closed (those we ended ourselves too)
      const open = [...raws].filter(c => !c.isClosed)
      assert.deepEqual(open.map(c => c.localPort), [], 'raw connections still open')

      // the pending-handshake counter did not leak: MAX_PENDING new handshakes at once are served
      const fresh = await Promise.all(Array.from({ length: MAX_PENDING }, () => connect()))
      await Promise.all(fresh.map(c => selectNoise(c)))
      for (const c of fresh) c.destroy()
      await Promise.all(fresh.map(c => handshakeFailedLog(c)))

      await pinger.stop()
      assert.deepEqual(pinger.failures, [], 'pings of the good peer failed')
      console.log(`# good peer: ${pinger.oks.length} background pings succeeded, none failed`)
      assert.equal(goodConn.status, 'open')
      const gid = good.peerId.toString()
      assert.equal(relay.findLogs(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === gid).length, 1, 'the good peer was reconnected')
      assert.equal(relay.findLogs(l => l.message === 'ConnectionClosed' && l.fields.peer_id === gid).length, 0, 'the good peer\'s connection was closed')
      assert.deepEqual(good.getConnections(goodConn.remotePeer).map(c => c.id), [goodConn.id])
      for (let i = 0; i < 3; i++) await good.services.ping.ping(goodConn.remotePeer, { signal: opSignal() })
      const id = await good.services.identify.identify(goodConn, { signal: opSignal() })
      assert.ok(id.agentVersion?.startsWith('mesh-relay/'), `agentVersion ${id.agentVersion}`)
      for (const p of [PROTO_IDENTIFY, PROTO_PING]) assert.ok(id.protocols.includes(p), `identify protocols ${id.protocols}`)

      // memory: all attack connections are gone; RSS must not have grown without bound
      await sleep(500)
      const rssAfterKiB = vmRssKiB(relay.pid)
      sampleRss()
      const grownMiB = (rssAfterKiB - rssBeforeKiB) / 1024
      console.log(`# relay VmRSS: before ${rssBeforeKiB} kB, peak ${rssPeakKiB} kB, after ${rssAfterKiB} kB (grew ${grownMiB.toFixed(1)} MiB; bound ${RSS_BOUND_MIB} MiB)`)
      assert.ok(grownMiB <= RSS_BOUND_MIB, `relay VmRSS grew by ${grownMiB.toFixed(1)} MiB (before ${rssBeforeKiB} kB, after ${rssAfterKiB} kB, peak ${rssPeakKiB} kB; if case 8 failed, its buffers are the likely cause)`)
    })
  })

  test('the relay is still running and exits 0 on SIGTERM', { timeout: 30_000 }, async () => {
    assert.ok(relay.running(), `the relay exited during the test\n${relay.describe()}`)
    await stopJsNodes(good)
    for (const c of raws) c.destroy()
    const r = await relay.stop()
    assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${relay.describe()}`)
  })
})

/**
 * An honest js client's attempts (honestAttempts) to `addr` (default r.tcp4) for `ms` while
 * lib/parked_flood_worker.mjs (with `data`) attacks `r` from 127.0.0.1 in a worker thread: on
 * another host in real life, its churn must not slow the honest client's event loop here.
 * Resolves with { res, fst }: the attempts and the worker's counts.
 */
async function honestUnderWorkerFlood ({ r, data, addr, ms }) {
  const honest = await createJsNode()
  const { host, port } = tcpParts(r.tcp4)
  const worker = new Worker(new URL('./lib/parked_flood_worker.mjs', import.meta.url), {
    workerData: { host, port, localAddress: '127.0.0.1', park: 0, perSecond: 0, silent: false, ...data }
  })
  const fromWorker = () => new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  let res, fst
  try {
    const ready = await Promise.race([fromWorker(), sleep(30_000).then(() => 'timeout')])
    assert.equal(ready, 'ready', 'the attacker could not park its connections')
    res = await honestAttempts(honest, addr ?? r.tcp4, ms)
  } finally {
    const stats = fromWorker()
    worker.postMessage('stop')
    fst = await Promise.race([stats, sleep(30_000).then(() => ({ parked: -1, newcomers: -1 }))])
    await worker.terminate()
    await stopJsNodes(honest)
  }
  return { res, fst }
}

/** A loopback TCP proxy to `port` that delays every chunk `delayMs` each way; { port, close }. */
async function startDelayProxy (port, delayMs) {
  const socks = new Set()
  const srv = net.createServer(a => {
    const b = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' })
    for (const [x, y] of [[a, b], [b, a]]) {
      socks.add(x)
      x.on('data', d => setTimeout(() => y.writable && y.write(d), delayMs))
      x.on('close', () => { socks.delete(x); setTimeout(() => y.destroy(), delayMs) })
      x.on('error', () => {})
    }
  })
  await new Promise(resolve => srv.listen(0, '127.0.0.1', resolve))
  return {
    port: srv.address().port,
    close: () => {
      for (const x of socks) x.destroy()
      return new Promise(resolve => srv.close(resolve))
    }
  }
}

describe('robustness: a flood of stalled handshakes never keeps an honest client out', () => {
  let frelay

  before(async () => {
    frelay = await startRelay({
      config: loopbackConfig({
        quic: true,
        network: [
          `handshake_timeout_secs = ${FLOOD_HS_TIMEOUT_S}`,
          `max_pending_handshakes = ${FLOOD_MAX_PENDING}`,
          `max_pending_handshakes_per_ip = ${FLOOD_PER_IP}`
        ]
      })
    })
  })

  after(async () => {
    await frelay?.stop()
  })

  test(`${FLOOD_RATE} stalled TCP connections and as many QUIC handshakes a second (${FLOOD_CONNS} per ${FLOOD_HS_TIMEOUT_S} s handshake timeout) for ${FLOOD_S} s, half from the honest clients' address; js clients connect, reserve and ping every second over TCP and QUIC`, { timeout: (FLOOD_S + 60) * 1000 }, async () => {
    try {
      assert.ok(existsSync(QUIC_STALL_BIN), `${QUIC_STALL_BIN} is not built`)
      const addrs = ['127.0.0.1', ...FLOOD_OTHER_ADDRS]
      // half of the attack from 127.0.0.1 (where the honest clients are), half from the others
      const weighted = [...Array(FLOOD_OTHER_ADDRS.length).fill('127.0.0.1'), ...FLOOD_OTHER_ADDRS]
      const honestTcp = await createJsNode()
      const honestQuic = await createJsNode({ transports: [quic()] })
      const t0 = performance.now()
      const tcpFlood = startTcpFlood({ r: frelay, n: FLOOD_CONNS, addrs: weighted, perSecond: FLOOD_RATE })
      const quicFlood = startQuicFlood({ r: frelay, burst: FLOOD_CONNS, addrs: weighted, perSecond: FLOOD_RATE, seconds: FLOOD_S })
      let tcp, quicRes, tcpStats, quicStats, during
      try {
        await sleep(1000) // the flood fills both tables first
        during = await relayMetrics(frelay)
        ;[tcp, quicRes] = await Promise.all([
          honestAttempts(honestTcp, frelay.tcp4, FLOOD_S * 1000 - 2000),
          honestAttempts(honestQuic, frelay.quic4, FLOOD_S * 1000 - 2000)
        ])
      } finally {
        tcpStats = tcpFlood.stop()
        quicStats = await quicFlood.stop()
        await stopJsNodes(honestTcp, honestQuic)
      }
      const m = await relayMetrics(frelay)
      const ev = (tr, limit) => m.get(`mesh_relay_handshakes_evicted_total{transport="${tr}",limit="${limit}"}`)
      console.log(`# flood over ${Math.round((performance.now() - t0) / 1000)} s from ${addrs.length} addresses: TCP ${tcpStats.opened} stalled connections opened (${tcpStats.closedByRelay} closed by the relay), QUIC ${quicStats.initials} Initials (${quicStats.retries_answered} after a Retry)`)
      console.log(`# relay: handshakes in progress 1 s in: tcp ${during.get('mesh_relay_tcp_handshakes')}, quic ${during.get('mesh_relay_quic_handshakes')} (max ${FLOOD_MAX_PENDING} each); evicted: tcp ${ev('tcp', 'max_pending_handshakes_per_ip')} for a newer one of the address + ${ev('tcp', 'max_pending_handshakes')} from the full table, quic ${ev('quic', 'max_pending_handshakes_per_ip')} + ${ev('quic', 'max_pending_handshakes')}`)
      console.log(`# honest TCP client on 127.0.0.1: ${describeAttempts(tcp)}`)
      console.log(`# honest QUIC client on 127.0.0.1: ${describeAttempts(quicRes)}`)
      for (const [what, res] of [['TCP', tcp], ['QUIC', quicRes]]) assertHonest(res, what, (FLOOD_S - 2) / 3)
      // the flood did fill the tables: stalled handshakes were pushed out, per address and of all
      for (const tr of ['tcp', 'quic']) {
        assert.ok(ev(tr, 'max_pending_handshakes_per_ip') > 0, `no ${tr} handshake evicted per address`)
        assert.ok(ev(tr, 'max_pending_handshakes') > 0, `no ${tr} handshake evicted from the full table`)
      }
      assert.ok(frelay.running(), 'the relay exited during the flood')
    } catch (err) {
      throw annotate(err, frelay?.describe() ?? '(no relay)')
    }
    const r = await frelay.stop()
    assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${frelay.describe()}`)
  })

  test(`${PARKED_PER_IP - 1} handshakes parked after Noise (a byte every 2 s) and ${PARKED_NEWCOMERS_PER_S} newcomers a second stalled at the Noise stage, all from the honest client's address: a js client connects, reserves and pings every second over TCP`, { timeout: (PARKED_S + 60) * 1000 }, async () => {
    const prelay = await startRelay({
      config: loopbackConfig({
        network: [
          `handshake_timeout_secs = ${FLOOD_HS_TIMEOUT_S}`,
          `max_pending_handshakes = ${FLOOD_MAX_PENDING}`,
          `max_pending_handshakes_per_ip = ${PARKED_PER_IP}`
        ]
      })
    })
    try {
      const { res, fst } = await honestUnderWorkerFlood({
        r: prelay, data: { park: PARKED_PER_IP - 1, perSecond: PARKED_NEWCOMERS_PER_S }, ms: PARKED_S * 1000
      })
      const m = await relayMetrics(prelay)
      console.log(`# ${fst.parked} connections parked after Noise, ${fst.newcomers} newcomers; evicted: ${m.get('mesh_relay_handshakes_evicted_total{transport="tcp",limit="max_pending_handshakes_per_ip"}')} for a newer one of the address`)
      console.log(`# honest TCP client on 127.0.0.1: ${describeAttempts(res)}`)
      assert.ok(fst.parked >= PARKED_PER_IP - 1, `the attacker parked only ${fst.parked} connections`)
      assertHonest(res, 'TCP', PARKED_S / 3)
      assert.ok(prelay.running(), 'the relay exited during the flood')
    } catch (err) {
      throw annotate(err, prelay?.describe() ?? '(no relay)')
    }
    const r = await prelay.stop()
    assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${prelay.describe()}`)
  })

  test(`${SILENT_PER_S} connections a second that send nothing, from the address of a js client ${2 * SILENT_DELAY_MS} ms away (default per-address cap): it connects, reserves and pings every second over TCP`, { timeout: (PARKED_S + 60) * 1000 }, async () => {
    const srelay = await startRelay({ config: loopbackConfig({ network: [`handshake_timeout_secs = ${FLOOD_HS_TIMEOUT_S}`] }) })
    let proxy
    try {
      proxy = await startDelayProxy(tcpParts(srelay.tcp4).port, SILENT_DELAY_MS)
      const { res, fst } = await honestUnderWorkerFlood({
        r: srelay,
        data: { perSecond: SILENT_PER_S, silent: true },
        addr: srelay.tcp4.replace(/\/tcp\/\d+\//, `/tcp/${proxy.port}/`),
        ms: PARKED_S * 1000
      })
      const m = await relayMetrics(srelay)
      const evicted = m.get('mesh_relay_handshakes_evicted_total{transport="tcp",limit="max_pending_handshakes_per_ip"}')
      console.log(`# ${fst.newcomers} silent connections; evicted: ${evicted} for a newer one of the address`)
      console.log(`# honest TCP client on 127.0.0.1, ${2 * SILENT_DELAY_MS} ms away: ${describeAttempts(res)}`)
      assert.ok(evicted > 0, 'the flood never filled the address\'s share')
      assertHonest(res, 'TCP', PARKED_S / 3)
      assert.ok(srelay.running(), 'the relay exited during the flood')
    } catch (err) {
      throw annotate(err, srelay?.describe() ?? '(no relay)')
    } finally {
      await proxy?.close()
    }
    const r = await srelay.stop()
    assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${srelay.describe()}`)
  })
})

describe('robustness: a peer that never reads is closed by write_timeout_secs', () => {
  let wrelay

  before(async () => {
    wrelay = await startRelay({ config: loopbackConfig({ network: [`write_timeout_secs = ${WRITE_TIMEOUT_S}`] }) })
  })

  after(async () => {
    await wrelay?.stop()
  })

  test(`a raw peer fills ping streams and reads nothing: closed ${WRITE_TIMEOUT_S} s after the relay's output stalls, its memory released`, { timeout: 60_000 }, async () => {
    try {
      const mem = async () => (await relayMetrics(wrelay)).get('mesh_relay_memory_bytes')
      const nr = await authedRaw({}, wrelay)
      // with the connection up (and the relay's read buffer, shared by all, allocated)
      const base = await mem()
      nr.c.pauseReading()
      const t0 = performance.now()
      const neg = Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_PING)])
      const pings = Buffer.alloc(256 * 1024 - neg.length, 0x5a)
      // The relay echoes into the socket until the kernel's buffers are full, then its output
      // waits. New streams keep asking for more (the ping service drops a stream whose echo finds
      // the session's send buffer full). A paused socket does not see the relay's reset: the
      // relay's log tells.
      let peak = base
      let streams = 0
      const isClosed = l => l.message === 'ConnectionClosed' && l.fields.peer_id === nr.peerId
      const deadline = performance.now() + (WRITE_TIMEOUT_S + 25) * 1000
      while (wrelay.findLogs(isClosed).length === 0 && performance.now() < deadline) {
        for (let k = 0; k < NONREADER_BATCH && streams < NONREADER_MAX_STREAMS; k++, streams++) {
          const id = 2 * streams + 1
          nr.t.send(Buffer.concat([
            yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: id }),
            yamuxFrame({ type: YAMUX.DATA, streamId: id, payload: neg }),
            yamuxFrame({ type: YAMUX.DATA, streamId: id, payload: pings })
          ]))
        }
        // and once they are all sent, keep the session from looking idle (the keepalive would end
        // it after 40 s): such a peer would pin the relay's memory for as long as it likes
        if (streams === NONREADER_MAX_STREAMS) nr.t.send(yamuxFrame({ type: YAMUX.WINDOW_UPDATE, streamId: 1 }))
        peak = Math.max(peak, await mem())
        await sleep(100)
      }
      const openMs = Math.round(performance.now() - t0)
      const closed = wrelay.findLogs(isClosed)[0]
      console.log(`# a peer that never reads: ${streams} ping streams filled; relay memory ${base} B before, ${peak} B at the peak (+${Math.round((peak - base) / 1024)} KiB); connection ${closed ? `closed by the relay after ${openMs} ms` : `still open after ${openMs} ms`}`)
      nr.c.resumeReading()
      await expectConnectionClosed(nr.c, nr.peerId, 'a peer that never reads',
        { error: 'timed out', cause: 'write timeout (write_timeout_secs)', boundMs: OP_TIMEOUT_MS, r: wrelay })
      const m = await relayMetrics(wrelay)
      assert.equal(m.get('mesh_relay_write_timeouts_total{transport="tcp"}'), 1)
      // what the connection held is released, the idle connection's own share too (the
      // allocator's cache of large blocks is not in mesh_relay_memory_bytes)
      let after
      await waitUntil(async () => (after = await mem()) <= base, { what: `relay memory back under ${base} B (now ${after} B)` })
      console.log(`# after the close: relay memory ${after} B (${after - base >= 0 ? '+' : ''}${after - base} B against before)`)
      assert.ok(peak - base > 256 * 1024, `the peer pinned only ${peak - base} B: the test did not make the relay's output stall`)
      assert.ok(wrelay.running(), 'the relay exited')
    } catch (err) {
      throw annotate(err, wrelay?.describe() ?? '(no relay)')
    }
    const r = await wrelay.stop()
    assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${wrelay.describe()}`)
  })
})

// ---- issue 11, item 4: what peer-opened streams make the relay hold ------------------------------
//
// A relay of its own with the default stream limits (256 streams per connection, 10 s to agree on
// a protocol or deliver an identify push). Memory is the relay's own metric
// (mesh_relay_memory_bytes, every byte allocated through rly_mem), read once the relay has taken
// in what it was sent; "per attacker byte" divides what the relay holds by what the attackers put
// on the wire. Before issue 11: 14-30 KB held per stream, and 112 MB held by eight connections
// for as long as they stayed (40 s) after sending 3 MB.

const STREAM_DEADLINE_S = 10 // RLY_SWARM_STREAM_TIMEOUT
const PROTO_IDENTIFY_PUSH = '/ipfs/id/push/1.0.0'

/** A protobuf length-delimited field. */
function pbField (num, bytes) {
  return Buffer.concat([uvarint((num << 3) | 2), uvarint(bytes.length), bytes])
}

/** A framed identify message (uvarint length || protobuf) from its fields. */
function identifyMsg (fields) {
  const body = Buffer.concat(fields)
  return Buffer.concat([uvarint(body.length), body])
}

/** SYN, then `payload` as Data on stream `id` (both in one write of the caller). */
function openWith (id, payload) {
  const syn = yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: id })
  return payload.length ? Buffer.concat([syn, yamuxFrame({ type: YAMUX.DATA, streamId: id, payload })]) : syn
}

/** The URL of relay `r`'s /metrics, from its "Metrics on:" line (bounded wait). */
async function metricsUrlOf (r) {
  const prefix = 'Metrics on: '
  await waitUntil(() => r.stdout.some(l => l.startsWith(prefix)), { what: `the relay's "${prefix}" line` })
  return r.stdout.find(l => l.startsWith(prefix)).slice(prefix.length)
}

/** The value in /metrics at `url` that `re` (one capture group) finds. */
async function metricOf (url, re) {
  const text = await (await fetch(url, { signal: opSignal() })).text()
  const m = re.exec(text)
  assert.ok(m, `no ${re} in /metrics`)
  return Number(m[1])
}

const MEMORY_BYTES = /^mesh_relay_memory_bytes (\d+)$/m

/** A raw peer of relay `r` through Noise, established there; its socket is added to `set`. */
async function rawPeerOf (r, set) {
  const { host, port } = tcpParts(r.tcp4)
  const c = await rawConnect(host, port)
  set.add(c)
  await selectNoise(c)
  const t = await noiseHandshake(c)
  await r.waitForLog(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === t.peerId,
    { what: `ConnectionEstablished of raw peer ${t.peerId}` })
  return { c, t, peerId: t.peerId, dec: new YamuxDecoder(), frames: [] }
}

describe('robustness: memory held for peer-opened streams (issue 11, item 4)', () => {
  let mr
  let metricsUrl
  const mraws = new Set()

  const memBytes = () => metricOf(metricsUrl, MEMORY_BYTES)

  /** The metric once it has not changed for 1 s (the relay took in what it was sent), bounded. */
  async function settledMem () {
    let last = await memBytes()
    let since = performance.now()
    const deadline = performance.now() + 20_000
    while (performance.now() - since < 1000 && performance.now() < deadline) {
      await sleep(200)
      const now = await memBytes()
      if (now !== last) since = performance.now()
      last = now
    }
    return last
  }

  /** `n` raw peers through Noise, established at the relay. */
  async function attackers (n) {
    const out = []
    for (let i = 0; i < n; i++) out.push(await rawPeerOf(mr, mraws))
    return out
  }

  /** Open `n` streams on each of `peers`, stream i carrying payloadFor(i); the bytes on the wire. */
  function flood (peers, n, payloadFor) {
    const before = peers.reduce((s, p) => s + p.c.sock.bytesWritten + p.c.pendingWrite, 0)
    for (const p of peers) {
      const frames = []
      for (let i = 0; i < n; i++) frames.push(openWith(2 * i + 1, payloadFor(i)))
      p.t.send(Buffer.concat(frames))
    }
    return peers.reduce((s, p) => s + p.c.sock.bytesWritten + p.c.pendingWrite, 0) - before
  }

  /** Records logged since index `from` that match `pred`. */
  function logsSince (from, pred) {
    return mr.logs.slice(from).filter(pred)
  }

  async function closeAll (peers) {
    for (const p of peers) p.c.destroy()
    for (const p of peers) await waitClosed(p.c, OP_TIMEOUT_MS, 'an attacker (destroyed by us)')
  }

  async function withMemTail (fn) {
    try {
      await fn()
    } catch (err) {
      throw annotate(err, mr?.describe() ?? '(no relay)')
    }
  }

  before(async () => {
    mr = await startRelay()
    metricsUrl = await metricsUrlOf(mr)
  })

  after(async () => {
    for (const c of mraws) c.destroy()
    await mr?.stop()
  })

  test('streams left open: 4 connections x 256 ping streams, pinged once, then silent', { timeout: 60_000 }, async () => {
    await withMemTail(async () => {
      const peers = await attackers(4)
      const m0 = await settledMem()
      const ping = Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_PING), randomBytes(32)])
      const sent = flood(peers, MAX_INBOUND_STREAMS, () => ping)
      const m1 = await settledMem()
      const n = peers.length * MAX_INBOUND_STREAMS
      const perStream = (m1 - m0) / n
      console.log(`# ${n} idle ping streams: relay holds ${m1 - m0} bytes, ${perStream.toFixed(0)} per stream (before issue 11: 14-30 KB), ${((m1 - m0) / sent).toFixed(2)} per attacker byte (${sent} sent)`)
      assert.ok(perStream < 1024, `an idle stream costs the relay ${perStream.toFixed(0)} bytes (target < 1 KiB)`)
      assert.ok(peers.every(p => !p.c.isClosed), 'the relay closed an attacker that stayed within its limits')
      await closeAll(peers)
      const m2 = await settledMem()
      console.log(`# ... after the attackers left: ${m2} bytes (${m2 - m0 >= 0 ? '+' : ''}${m2 - m0} from before the streams)`)
      assert.ok(m2 <= m0, `the relay still holds ${m2 - m0} bytes more after the attackers left`)
    })
  })

  test(`negotiation stalls: a SYN only, the multistream header only, half a proposal; reset at ${STREAM_DEADLINE_S} s`, { timeout: 60_000 }, async () => {
    await withMemTail(async () => {
      const peers = await attackers(3)
      const m0 = await settledMem()
      const from = mr.logs.length
      const half = Buffer.concat([mssMsg(MSS_HEADER), Buffer.from([17]), Buffer.from('/ipfs/pi')])
      let sent = flood([peers[0]], MAX_INBOUND_STREAMS, () => Buffer.alloc(0))
      sent += flood([peers[1]], MAX_INBOUND_STREAMS, () => mssMsg(MSS_HEADER))
      sent += flood([peers[2]], MAX_INBOUND_STREAMS, () => half)
      const t0 = performance.now()
      const m1 = await settledMem()
      const n = 3 * MAX_INBOUND_STREAMS
      console.log(`# ${n} stalled negotiations: relay holds ${m1 - m0} bytes, ${((m1 - m0) / n).toFixed(0)} per stream, ${((m1 - m0) / sent).toFixed(2)} per attacker byte (${sent} sent), until the deadline`)
      const isReset = l => l.message === 'Stream deadline passed, resetting it' && l.fields.waiting_for === 'protocol negotiation'
      await waitUntil(() => logsSince(from, isReset).length >= n,
        { timeoutMs: (STREAM_DEADLINE_S + 15) * 1000, what: `${n} negotiations reset by their deadline (${logsSince(from, isReset).length} so far)` })
      const ms = Math.round(performance.now() - t0)
      const m2 = await settledMem()
      console.log(`# ... all ${n} reset by the relay ${ms} ms after the attack; it then holds ${m2 - m0} bytes more than before (connections still open)`)
      assert.ok(m2 - m0 < 16 * 1024, `after the deadline the relay still holds ${m2 - m0} bytes for ${n} reset streams`)
      assert.ok(peers.every(p => !p.c.isClosed), 'the connections themselves stay')
      await closeAll(peers)
    })
  })

  test('identify push floods: 8 KiB records never closed, and messages cut short', { timeout: 60_000 }, async () => {
    await withMemTail(async () => {
      const peers = await attackers(2)
      const m0 = await settledMem()
      const from = mr.logs.length
      const neg = Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_IDENTIFY_PUSH)])
      // a valid message of 8 KiB: a peer record field filling it
      const big = identifyMsg([pbField(8, Buffer.alloc(8192 - 3, 0x11))])
      assert.equal(big.length, 2 + 8192)
      const cut = big.subarray(0, big.length - 200)
      let sent = flood([peers[0]], MAX_INBOUND_STREAMS, () => Buffer.concat([neg, big]))
      sent += flood([peers[1]], MAX_INBOUND_STREAMS, () => Buffer.concat([neg, cut]))
      const m1 = await settledMem()
      const n = 2 * MAX_INBOUND_STREAMS
      const perByte = (m1 - m0) / sent
      console.log(`# ${n} identify pushes of 8 KiB (half of them cut short), never closed: relay holds ${m1 - m0} bytes, ${((m1 - m0) / n).toFixed(0)} per stream, ${perByte.toFixed(3)} per attacker byte (${sent} sent; before issue 11: ~9-22 KB per stream)`)
      assert.ok(perByte < 1, `the relay holds ${perByte.toFixed(2)} bytes per attacker byte`)
      const isReset = l => l.message === 'Stream deadline passed, resetting it' &&
        (l.fields.waiting_for === 'the identify push' || l.fields.waiting_for === "the peer's FIN")
      await waitUntil(() => logsSince(from, isReset).length >= n,
        { timeoutMs: (STREAM_DEADLINE_S + 15) * 1000, what: `${n} pushes reset by their deadline (${logsSince(from, isReset).length} so far)` })
      const m2 = await settledMem()
      console.log(`# ... after the deadline: ${m2 - m0} bytes more than before`)
      assert.ok(m2 - m0 < 16 * 1024, `after the deadline the relay still holds ${m2 - m0} bytes`)
      await closeAll(peers)
    })
  })

  test('the issue\'s scenario: 8 connections x 1000 identify pushes (32 addresses, 64 protocols each), never closed', { timeout: 90_000 }, async () => {
    await withMemTail(async () => {
      const peers = await attackers(8)
      const m0 = await settledMem()
      const neg = Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_IDENTIFY_PUSH)])
      const addrs = Array.from({ length: 32 }, (_, i) => pbField(2, Buffer.from([4, 10, 0, i >> 8, i & 255, 6, 0x0f, 0xa1])))
      const protos = Array.from({ length: 64 }, (_, i) => pbField(3, Buffer.from(`/p/${i}`)))
      const push = Buffer.concat([neg, identifyMsg([...addrs, ...protos])])
      const sent = flood(peers, 1000, () => push)
      const t0 = performance.now()
      const m1 = await settledMem()
      console.log(`# issue scenario: 8 connections sent ${(sent / 1e6).toFixed(2)} MB (${push.length} bytes a stream, 8000 streams): relay holds ${((m1 - m0) / 1e6).toFixed(2)} MB, ${((m1 - m0) / sent).toFixed(3)} per attacker byte (before issue 11: 112 MB for 3 MB, 37 per byte, held as long as the connections stayed)`)
      assert.ok(m1 - m0 < sent, `the relay holds ${m1 - m0} bytes for ${sent} sent`)
      await waitUntil(async () => (await memBytes()) - m0 < 64 * 1024,
        { timeoutMs: (STREAM_DEADLINE_S + 15) * 1000, intervalMs: 500, what: 'the relay to let go of the pushes' })
      const m2 = await settledMem()
      console.log(`# ... ${Math.round(performance.now() - t0)} ms later, connections still open: ${m2 - m0} bytes more than before`)
      assert.ok(peers.every(p => !p.c.isClosed), 'the connections themselves stay')
      await closeAll(peers)
    })
  })

  test('this relay exits 0 on SIGTERM', { timeout: 30_000 }, async () => {
    assert.ok(mr.running(), `the relay exited during the test\n${mr.describe()}`)
    for (const c of mraws) c.destroy()
    const r = await mr.stop()
    assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${mr.describe()}`)
  })
})

// ---- issue 11, item 4: the process-wide memory budget ---------------------------------------------
//
// A relay that holds about 1.5 MiB (it idles at about 0.75 MiB; 8 peers leave 256 ping streams
// each idle, about 100 KB a peer), then told by SIGHUP that its budget is 1 MiB. Then a new
// connection is closed at accept, a new stream is reset, a RESERVE on a hop stream opened earlier
// is answered RESOURCE_LIMIT_EXCEEDED; the refusals are counted in /metrics and logged once with
// their counts; once the peers are gone, memory falls and the same things work again.

describe('robustness: the memory budget (issue 11, item 4)', () => {
  let br
  let bhost, bport, bmetrics
  const braws = new Set()

  const metric = re => metricOf(bmetrics, re)
  const authed = () => rawPeerOf(br, braws)

  /** The first Yamux frame from the relay on `p` matching `pred` (answering its pings), bounded. */
  async function frame (p, pred, what) {
    const deadline = performance.now() + OP_TIMEOUT_MS
    for (;;) {
      const i = p.frames.findIndex(pred)
      if (i >= 0) return p.frames.splice(i, 1)[0]
      const left = deadline - performance.now()
      assert.ok(left > 0 && !p.c.isClosed, `no ${what} from the relay (connection ${p.c.isClosed ? 'closed' : 'open'})`)
      for (const f of p.dec.push(await p.t.recv({ timeoutMs: left }))) {
        if (f.type === YAMUX.PING && f.flags === YAMUX.SYN) p.t.send(yamuxFrame({ type: YAMUX.PING, flags: YAMUX.ACK, length: f.length }))
        else p.frames.push(f)
      }
    }
  }

  /** The status of the length-prefixed HopMessage `data` (shorter than 128 bytes). */
  function hopStatus (data) {
    const body = data.subarray(1, 1 + data[0])
    for (let i = 0; i < body.length;) {
      const tag = body[i++]
      let v = 0
      let shift = 0
      for (;;) {
        const b = body[i++]
        v += (b & 0x7f) * 2 ** shift
        shift += 7
        if ((b & 0x80) === 0) break
      }
      if ((tag & 7) === 2) { i += v; continue }
      if (tag === 0x28) return v // HopMessage.status
    }
    return null
  }

  before(async () => {
    br = await startRelay() /* the default budget; the test lowers it with SIGHUP */
    ;({ host: bhost, port: bport } = tcpParts(br.tcp4))
    bmetrics = await metricsUrlOf(br)
  })

  after(async () => {
    for (const c of braws) c.destroy()
    await br?.stop()
  })

  test('over the budget: a new connection closed, a new stream reset, RESERVE refused; counted, logged once; back under it, all work again', { timeout: 150_000 }, async () => {
    try {
      // before the hogs: a peer with a hop stream negotiated, waiting to send its RESERVE
      const early = await authed()
      early.t.send(openWith(1, Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_HOP)])))
      await frame(early, f => f.streamId === 1 && f.type === YAMUX.DATA && f.payload.includes(Buffer.from(PROTO_HOP)), 'the hop protocol echo')
      // the hogs: 8 connections with 256 ping streams each, pinged once and then idle (the ping
      // deadline is 30 s): about 800 KB more in the relay
      const hogs = []
      const ping = Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_PING), randomBytes(32)])
      for (let k = 0; k < 8; k++) {
        const hog = await authed()
        hogs.push(hog)
        const frames = []
        for (let i = 0; i < MAX_INBOUND_STREAMS; i++) frames.push(openWith(2 * i + 1, ping))
        hog.t.send(Buffer.concat(frames))
      }
      const margin = 256 * 1024 // what the relay's own memory may vary by meanwhile
      await waitUntil(async () => (await metric(MEMORY_BYTES)) > (1 << 20) + margin,
        { timeoutMs: 15_000, intervalMs: 250, what: 'the relay well over 1 MiB' })
      // now the budget: 1 MiB (SIGHUP applies it)
      writeFileSync(br.configPath, loopbackConfig({ extra: ['', '[limits]', 'max_memory_mb = 1'] }))
      process.kill(br.pid, 'SIGHUP')
      await br.waitForLog(l => l.message === 'Memory budget' && l.fields.budget_mb === '1', { what: 'the 1 MiB budget applied' })
      const budget = await metric(/^mesh_relay_memory_budget_bytes (\d+)$/m)
      assert.equal(budget, 1 << 20, 'max_memory_mb = 1')
      const over = await metric(MEMORY_BYTES)
      console.log(`# budget: ${hogs.length} peers with idle streams put the relay at ${over} bytes, over its budget of ${budget}`)
      const from = br.logs.length

      // a new connection: closed at accept, nothing sent
      const late = await rawConnect(bhost, bport)
      braws.add(late)
      await waitClosed(late, OP_TIMEOUT_MS, 'a connection over the budget')
      assert.equal(late.bytesIn, 0, 'a connection refused over the budget got bytes')
      // a new stream on a connection that was there before: reset
      early.t.send(openWith(3, Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_PING)])))
      await frame(early, f => f.streamId === 3 && (f.flags & YAMUX.RST) !== 0, 'a reset of the new stream')
      // the RESERVE on the hop stream opened before: RESOURCE_LIMIT_EXCEEDED (201)
      early.t.send(yamuxFrame({ type: YAMUX.DATA, streamId: 1, payload: Buffer.from([0x02, 0x08, 0x00]) }))
      const reply = await frame(early, f => f.streamId === 1 && f.type === YAMUX.DATA && f.payload.length > 2, 'the RESERVE reply')
      const status = hopStatus(reply.payload)
      assert.equal(status, 201, `RESERVE over the budget answered ${status}`)

      // counted, and logged once per interval with the counts
      const warn = await br.waitForLog(l => br.logs.indexOf(l) >= from && l.message === 'Memory budget exceeded: new work refused (max_memory_mb)',
        { timeoutMs: 12_000, what: 'the budget warning' })
      console.log(`# budget: ${warn.line.replace(/^\S+\s+/, '')}`)
      assert.ok(Number(warn.fields.connections) >= 1 && Number(warn.fields.streams) >= 1 && Number(warn.fields.reservations) >= 1, warn.line)
      for (const what of ['connection', 'stream', 'reservation']) {
        const n = await metric(new RegExp(`^mesh_relay_memory_refusals_total\\{what="${what}"\\} (\\d+)$`, 'm'))
        assert.ok(n >= 1, `mesh_relay_memory_refusals_total{what="${what}"} ${n}`)
      }

      // the hogs leave: memory falls, and new work is taken again
      for (const hog of hogs) hog.c.destroy()
      await waitUntil(async () => (await metric(MEMORY_BYTES)) <= budget,
        { timeoutMs: 15_000, intervalMs: 250, what: 'the relay back under its budget' })
      await br.waitForLog(l => l.message === 'Memory back under the budget', { timeoutMs: 12_000, what: '"Memory back under the budget"' })
      const again = await authed()
      again.t.send(openWith(1, Buffer.concat([mssMsg(MSS_HEADER), mssMsg(PROTO_PING), randomBytes(32)])))
      const pong = await frame(again, f => f.streamId === 1 && f.type === YAMUX.DATA, 'an answer on a new stream')
      assert.ok(pong.payload.length > 0)
      const warnings = br.logs.filter(l => br.logs.indexOf(l) >= from && l.message === 'Memory budget exceeded: new work refused (max_memory_mb)')
      console.log(`# budget: back under it, a new connection and stream work; ${warnings.length} warning line(s) in all`)
    } catch (err) {
      throw annotate(err, br?.describe() ?? '(no relay)')
    }
  })

  test('this relay exits 0 on SIGTERM', { timeout: 30_000 }, async () => {
    assert.ok(br.running(), `the relay exited during the test\n${br.describe()}`)
    for (const c of braws) c.destroy()
    const r = await br.stop()
    assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${br.describe()}`)
  })
})
