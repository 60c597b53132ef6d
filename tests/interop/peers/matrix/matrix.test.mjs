// matrix.test.mjs: the interop matrix (issue 12). One relay (ours: relay-server from
// $RLY_BUILD_DIR, TCP and QUIC on 127.0.0.1) and every pair of peers of tests/interop/PEERS.md:
// listener in {test_client, js, go, rust} x dialler in the same four, each over the four leg
// combinations (listener's leg / dialler's leg: tcp/tcp, quic/quic, quic/tcp, tcp/quic): the
// listener reserves, the dialler connects through the relay, pings 3 times and sends 1 MiB of
// pseudo-random bytes through the listener's echo, compared byte for byte. 64 cells, 4 at a time.
// Then each peer kind identifies the relay over TCP and over QUIC: the hop protocol listed, the
// observed address is the peer's own loopback address (port checked against the kernel's view of
// the peer's sockets), the signed peer record accepted (go, rust, js).
//
// RLY_MATRIX_KINDS=js,go limits the kinds (by hand; the suite runs all four); one cell by name:
//   tests/interop/run.sh --test-name-pattern='go -> rust tcp/quic' tests/interop/peers/matrix/matrix.test.mjs
import '../../lib/env.mjs'
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { PROTO_HOP } from '../../lib/jsnode.mjs'
import { loopbackConfig, startRelay } from '../../lib/relay.mjs'
import { KINDS, eventsOf, peerCommand, procSockets, runPeer, startPeer, watchSockets } from '../lib/peers.mjs'

const ECHO_BYTES = 1 << 20
const PINGS = 3
const CONCURRENCY = Number(process.env.RLY_MATRIX_CONCURRENCY ?? 4)
const kinds = (process.env.RLY_MATRIX_KINDS ?? KINDS.join(',')).split(',').filter(k => k !== '')
for (const k of kinds) assert.ok(KINDS.includes(k), `RLY_MATRIX_KINDS: unknown kind ${k}`)
const LEGS = [['tcp', 'tcp'], ['quic', 'quic'], ['quic', 'tcp'], ['tcp', 'quic']]

// Known limitations of a library (never of the relay), with the evidence: key: the test's name,
// value: the reason, shown as a todo (the test still runs). Empty: every cell must pass.
const KNOWN = new Map([])

// rust-libp2p 0.57.1 (libp2p-identify 0.48.0, src/protocol.rs:236-237) verifies an identify
// signedPeerRecord only with the legacy rust-only constants (libp2p-core 0.44.0
// src/peer_record.rs: PeerRecord::from_signed_envelope, domain "libp2p-routing-state", payload
// type "/libp2p/routing-state-record") and drops it silently otherwise; the relay, go and js use
// "libp2p-peer-record" / 0x0301 (rust-libp2p issue #6204; PR #6384 "accept interop peer records
// in identify", open). So the rust peer also fetches the raw identify message itself and checks
// its record with libp2p-core's PeerRecord::from_signed_envelope_interop (tests/interop/rust/
// src/spr.rs); its identify event then says so in signed_peer_record_via.
const RUST_SPR_VIA = /from_signed_envelope_interop/

// 1 MiB each way and a few pings per circuit: the limits are far above that (1 GiB per direction,
// an hour), but still set, so that every library sees a circuit with limits as in production.
const RELAY_CONFIG = loopbackConfig({
  ipv6: false,
  quic: true,
  level: 'info',
  extra: [
    '',
    '[relay]',
    'max_circuit_bytes = 1073741824',
    'max_circuit_duration_secs = 3600',
    'max_circuits_per_peer = 64',
    'max_reservations = 1000'
  ]
})

let relay
const addrOf = leg => leg === 'tcp' ? relay.tcp4 : relay.quic4

function relayAlive () {
  assert.ok(relay.running(), `the relay is not running\n${relay.describe()}`)
}

/** it() or, for a known library limitation, it.todo with the evidence. */
function cell (name, fn) {
  const why = KNOWN.get(name)
  if (why != null) it(name, { todo: why, timeout: 180_000 }, fn)
  else it(name, { timeout: 180_000 }, fn)
}

// One outer suite: its after() stops the relay before procs.mjs's root after() kills what is left.
describe('interop matrix', () => {
  before(async () => {
    // build (or find) every peer first, one at a time (two cores are shared): a build failure
    // fails every cell of that kind, visibly
    for (const k of kinds) await peerCommand(k).catch(() => {})
    relay = await startRelay({ config: RELAY_CONFIG })
    assert.ok(relay.tcp4 && relay.quic4, `the relay has no /ip4 TCP or QUIC address: ${relay.addrs}`)
  })

  after(async () => {
    if (relay == null) return
    const r = await relay.stop()
    assert.equal(r.killed, false, `the relay needed SIGKILL\n${relay.describe()}`)
    assert.equal(r.code, 0, `the relay did not exit 0 on SIGTERM\n${relay.describe()}`)
  })

  describe('relayed matrix: dialler -> listener dialler-leg/listener-leg', { concurrency: CONCURRENCY }, () => {
    for (const listener of kinds) {
      for (const dialler of kinds) {
        for (const [legL, legD] of LEGS) {
          cell(`${dialler} -> ${listener} ${legD}/${legL}`, () => relayedCell(listener, dialler, legL, legD))
        }
      }
    }
  })

  describe('each peer identifies the relay', { concurrency: CONCURRENCY }, () => {
    for (const kind of kinds) {
      for (const leg of ['tcp', 'quic']) {
        cell(`${kind} identifies the relay over ${leg}`, () => identifyRelay(kind, leg))
        if (kind === 'test_client') continue // it does not check signed peer records (no such field)
        cell(`${kind} accepts the relay's signed peer record over ${leg}`, async () => {
          const id = await identifyOnce(kind, leg)
          assert.equal(id.event?.signed_peer_record, true, `${kind} did not accept the relay's signed peer record${id.ctx()}`)
          if (kind === 'rust') {
            // identify 0.48 drops the standard record (above): accepted through libp2p-core's
            // interop API, and the event must say so
            assert.match(id.event.signed_peer_record_via ?? '', RUST_SPR_VIA, `rust's record was not checked with the interop API${id.ctx()}`)
          }
        })
      }
    }
  })
})

async function relayedCell (listenerKind, diallerKind, legL, legD) {
  relayAlive()
  const l = await startPeer(listenerKind, ['--relay', addrOf(legL)], { name: `listener ${listenerKind}` })
  try {
    const started = await l.waitForEvent('started')
    const reserved = await l.waitForEvent(e => e.event === 'reserved' || e.event === 'reservation_failed', { what: 'a reservation' })
    assert.equal(reserved.event, 'reserved', `${listenerKind} could not reserve over ${legL}\n${l.describe()}\n${relay.describe(15)}`)
    const listening = await l.waitForEvent('listening')
    const lid = started.peer_id
    assert.ok(listening.addr.endsWith(`/p2p-circuit/p2p/${lid}`), `listening address ${listening.addr} is not a circuit address of ${lid}`)
    assert.ok(listening.addr.startsWith(addrOf(legL)), `listening address ${listening.addr} is not through ${addrOf(legL)}`)

    const d = await runPeer(diallerKind, ['--relay', addrOf(legD), '--dial', lid, '--ping', String(PINGS), '--echo-bytes', String(ECHO_BYTES), '--timeout', '60'],
      { timeoutMs: 90_000, name: `dialler ${diallerKind}` })
    const ctx = () => `\n${d.describe()}\n${l.describe()}\n${relay.describe(15)}`
    const dStarted = eventsOf(d.events, 'started')[0]
    assert.ok(dStarted?.peer_id, `the dialler printed no started event${ctx()}`)
    const circuit = eventsOf(d.events, 'circuit')[0]
    assert.ok(circuit != null, `the dialler got no circuit${ctx()}`)
    assert.equal(circuit.peer_id, lid, `circuit to the wrong peer${ctx()}`)
    const pings = eventsOf(d.events, 'ping')
    assert.equal(pings.length, PINGS, `${pings.length} pings, not ${PINGS}${ctx()}`)
    for (const p of pings) assert.ok(Number.isFinite(p.rtt_ms) && p.rtt_ms >= 0, `bad rtt ${p.rtt_ms}${ctx()}`)
    const echo = eventsOf(d.events, 'echo')[0]
    assert.ok(echo != null, `no echo result${ctx()}`)
    assert.equal(echo.bytes, ECHO_BYTES, `echo: ${echo.bytes} bytes came back, not ${ECHO_BYTES}${ctx()}`)
    assert.equal(echo.ok, true, `echo: the bytes differ${ctx()}`)
    assert.equal(d.timedOut, false, `the dialler was killed after 90 s${ctx()}`)
    assert.equal(d.code, 0, `the dialler exited ${d.code} (signal ${d.signal})${ctx()}`)
    // the listener saw the relayed connection from that dialler
    const incoming = await l.waitForEvent(e => e.event === 'incoming' && e.peer_id === dStarted.peer_id, { timeoutMs: 5_000, what: `an incoming circuit from ${dStarted.peer_id}` })
    assert.ok(incoming.peer_id === dStarted.peer_id)
    relayAlive()
  } finally {
    const r = await l.stop()
    // a listener must stop on SIGTERM (test_client: exit 0 or death by SIGTERM)
    assert.equal(r.killed, false, `the listener needed SIGKILL\n${l.describe()}`)
  }
}

const identified = new Map() // `${kind} ${leg}` -> Promise<{ event, ctx, ... }> (one run, two tests)

function identifyOnce (kind, leg) {
  const k = `${kind} ${leg}`
  if (!identified.has(k)) identified.set(k, identifyRun(kind, leg))
  return identified.get(k)
}

async function identifyRelay (kind, leg) {
  const { event: id, ctx, seen, relayPort } = await identifyOnce(kind, leg)
  assert.ok(id != null, `no identify event${ctx()}`)
  if (id.peer_id != null) assert.equal(id.peer_id, relay.peerId, `identify of the wrong peer${ctx()}`)
  assert.match(id.agent ?? '', /^mesh-relay\//, `agent${ctx()}`)
  assert.ok(id.protocols.includes(PROTO_HOP), `${PROTO_HOP} not listed: ${id.protocols}${ctx()}`)
  assert.ok(id.observed_addr != null, `no observed address${ctx()}`)
  const obs = multiaddr(id.observed_addr).getComponents()
  assert.equal(obs[0].name, 'ip4', `observed ${id.observed_addr}${ctx()}`)
  assert.equal(obs[0].value, '127.0.0.1', `observed ${id.observed_addr}: not the peer's address${ctx()}`)
  const port = Number(obs[1].value)
  if (leg === 'tcp') {
    assert.equal(obs[1].name, 'tcp', `observed ${id.observed_addr} is not TCP${ctx()}`)
    const mine = seen.filter(s => s.proto === 'tcp' && s.remotePort === relayPort && s.remoteIp === '127.0.0.1')
    assert.ok(mine.length > 0, `the peer's TCP socket to the relay was never seen in /proc${ctx()}`)
    assert.ok(mine.some(s => s.port === port && s.ip === '127.0.0.1'),
      `observed ${id.observed_addr}, but the peer's socket to the relay is ${mine.map(s => `${s.ip}:${s.port}`).join(', ')}${ctx()}`)
  } else {
    assert.equal(obs[1].name, 'udp', `observed ${id.observed_addr} is not UDP${ctx()}`)
    assert.equal(obs[2]?.name, 'quic-v1', `observed ${id.observed_addr} is not quic-v1${ctx()}`)
    const mine = seen.filter(s => s.proto === 'udp')
    assert.ok(mine.some(s => s.port === port),
      `observed ${id.observed_addr}, but the peer's UDP sockets are ${mine.map(s => `${s.ip}:${s.port}`).join(', ')}${ctx()}`)
  }
  relayAlive()
}

/** One peer run: dial the relay, ping, identify; the identify event and the sockets seen. */
async function identifyRun (kind, leg) {
  relayAlive()
  const target = addrOf(leg)
  const relayPort = Number(multiaddr(target).getComponents().find(c => c.name === (leg === 'tcp' ? 'tcp' : 'udp')).value)
  // The observed address is checked against the kernel's view of the peer's sockets. The go,
  // rust and js peers hold the connection after identify (--hold) until SIGTERM, so their sockets
  // are read while it is up; test_client cannot hold a direct connection: its sockets are sampled
  // on a worker thread, without pause, while it runs (1000 pings before identify: a few ms).
  const holds = kind !== 'test_client'
  const args = ['--dial', target, '--ping', holds ? '3' : '1000', '--identify', '--timeout', '60', ...(holds ? ['--hold'] : [])]
  const { peer: p, sockets } = await watchSockets(() => startPeer(kind, args, { name: `${kind} (identify)` }), { intervalMs: holds ? 5 : 0 })
  let r
  let held = []
  if (holds) {
    await p.waitForEvent('identify', { timeoutMs: 30_000 }).catch(() => {})
    held = procSockets(p.pid)
    const s = await p.stop()
    r = { ...s, events: p.events }
    // (PEERS.md does not say how a dialling peer exits on SIGTERM: go exits 1, "context canceled")
    assert.equal(s.killed, false, `${kind} did not stop on SIGTERM (it needed SIGKILL)\n${p.describe()}`)
  } else {
    r = await p.done({ timeoutMs: 60_000 })
    assert.equal(r.code, 0, `${kind} exited ${r.code} (signal ${r.signal})\n${p.describe()}`)
  }
  const { sockets: sampled, samples } = await sockets
  const seen = [...held, ...sampled]
  const ctx = () => `\n${p.describe()}\nsockets while held: ${JSON.stringify(held)}; seen in ${samples} samples of /proc/${p.pid}: ${JSON.stringify(sampled)}`
  const event = eventsOf(r.events, 'identify')[0]
  assert.ok(event != null, `no identify event${ctx()}`)
  return { event, ctx, seen, relayPort }
}
