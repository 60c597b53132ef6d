// clients.test.mjs: what real clients (go-libp2p, rust-libp2p: the peers of tests/interop/PEERS.md)
// do with the relay's answers (issue 12, items 3 and 5). Every check runs with the go client and
// with the rust client (a named subtest each), each against a relay of its own (ours:
// relay-server from $RLY_BUILD_DIR, TCP and QUIC on 127.0.0.1, a config of its own), a few at a
// time (RLY_CLIENTS_CONCURRENCY, default 4):
//
//  1. limits: the Limit of RESERVE and CONNECT/STOP replies as each library reports it (reserved,
//     circuit, incoming: limit_duration / limit_data = max_circuit_duration_secs /
//     max_circuit_bytes), and enforced: --send / --echo-bytes beyond max_circuit_bytes and --hold
//     beyond max_circuit_duration_secs end the circuit on both clients (dialling and listening);
//  2. statuses: NO_RESERVATION and RESERVATION_REFUSED are the libraries' own errors (exit 4);
//  3. our voucher: go verifies it (client.Reserve) and accepts the reservation; rust too;
//  4. refresh: reservation_ttl_secs = 10, ~65 s of refreshes, never timed out, still reachable;
//  5. restart: the relay restarts (same identity, same ports), the clients reserve again
//     (--reconnect) and are reachable within 30 s;
//  6. go-libp2p's own relay (tests/interop/go/relaylab) with the same limits: each client reports
//     the same limits for it as for ours;
//  7. item 5: (a) one reservation per peer over two connections of one go identity (relaylab
//     two-conn listener); (b) rust when its reservation moves to a connection it did not reserve
//     on; (c) RESERVE (a refresh) while the relay drains -> RESERVATION_REFUSED.
//
// The exact texts each library reports are printed as TAP diagnostics ("text: ..."); the table in
// docs/INTEROP.md is made from them.
//
//   tests/interop/peers/clients/run.sh [--test-name-pattern='go: ...']
//   RLY_CLIENTS_KINDS=go RLY_BUILD_DIR=build tests/interop/run.sh tests/interop/peers/clients/clients.test.mjs
import '../../lib/env.mjs'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { annotate, sleep } from '../../lib/env.mjs'
import { loopbackConfig, startRelay } from '../../lib/relay.mjs'
import { eventsOf, processGroup } from '../lib/peers.mjs'

const CLIENTS = (process.env.RLY_CLIENTS_KINDS ?? 'go,rust').split(',').filter(k => k !== '')
for (const k of CLIENTS) assert.ok(['go', 'rust'].includes(k), `RLY_CLIENTS_KINDS: unknown kind ${k}`)
const CONCURRENCY = Number(process.env.RLY_CLIENTS_CONCURRENCY ?? 4)
const LEGS = ['tcp', 'quic']
const DATA_LIMIT = 65536
const BEYOND = 4 * DATA_LIMIT

// ---- relays ----------------------------------------------------------------------------------

/** A relay config: TCP and QUIC on 127.0.0.1 (ports given or 0), `relay` lines in [relay]. */
function relayConfig ({ relay = [], grace = 2, tcpPort = 0, quicPort = 0, level = 'debug' } = {}) {
  return loopbackConfig({ ipv6: false, quic: true, level, tcpPort, quicPort, grace, extra: ['', '[relay]', ...relay] })
}

const addrOf = (relay, leg) => leg === 'tcp' ? relay.tcp4 : relay.quic4
const other = leg => leg === 'tcp' ? 'quic' : 'tcp'

/** The relay's /metrics URL (banner line "Metrics on: URL"). */
function metricsUrl (relay) {
  const m = relay.stdout.map(l => /^Metrics on: (\S+)/.exec(l)).find(x => x != null)
  assert.ok(m, `the relay printed no "Metrics on:" line\n${relay.describe()}`)
  return m[1]
}

async function gauge (relay, name) {
  const text = await (await fetch(metricsUrl(relay))).text()
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  assert.ok(m, `no ${name} in /metrics`)
  return Number(m[1])
}

/** A TCP port and a UDP port on 127.0.0.1 that were free a moment ago. */
async function freePorts () {
  const tcp = await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
  const udp = await new Promise((resolve, reject) => {
    const s = createSocket('udp4')
    s.once('error', reject)
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
  return { tcp, udp }
}

/** A peer id that never reserved anywhere (a fresh Ed25519 key). */
async function freshPeerId () {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

// ---- one test's processes ---------------------------------------------------------------------

/**
 * Runs fn(ctx) with a relay of its own (config from `relayOpts`) and stops everything it started
 * (peers, relays) by PID afterwards. ctx: { relay, peer(kind, args, name), run(kind, args, opts),
 * relays (all relays started, for restarts), describe() }. On failure the error carries the
 * output of every process.
 */
async function withRelay (relayOpts, fn, { relayEnv = {} } = {}) {
  const g = processGroup()
  const ctx = {
    relays: g.relays,
    relay: null,
    async startRelay (opts = relayOpts, env = relayEnv) {
      ctx.relay = g.addRelay(await startRelay({ config: relayConfig(opts), env }))
      return ctx.relay
    },
    peer: g.peer,
    run: g.run,
    describe: g.describe
  }
  try {
    await ctx.startRelay()
    return await fn(ctx)
  } catch (err) {
    throw annotate(err, ctx.describe())
  } finally {
    await g.stopAll()
  }
}

/** assert with every process's output attached. */
function check (ctx, cond, msg) {
  if (!cond) assert.fail(`${msg}\n\n${ctx.describe()}`)
}

/** Start a listener of `kind` through `relay` over `leg`; resolves once it is `listening`. */
async function listen (ctx, kind, leg, extra = [], name = `${kind} listener`) {
  const l = await ctx.peer(kind, ['--relay', addrOf(ctx.relay, leg), ...extra], name)
  const { peer_id: id } = await l.waitForEvent('started')
  await l.waitForEvent('listening', { timeoutMs: 20_000 })
  return { l, id }
}

const text = (t, label, s) => t.diagnostic(`text: ${label}: ${JSON.stringify(s)}`)

function lastError (events) {
  const e = [...events].reverse().find(x => x.error != null)
  return e?.error
}

// ---- 1. limits --------------------------------------------------------------------------------

function assertLimits (ctx, ev, what, { duration, data }) {
  check(ctx, ev != null, `no ${what} event`)
  check(ctx, ev.limit_duration === duration && ev.limit_data === data,
    `${what}: limit_duration=${ev.limit_duration} limit_data=${ev.limit_data}, expected ${duration} / ${data} (the relay's max_circuit_duration_secs / max_circuit_bytes): ${JSON.stringify(ev)}`)
}

/**
 * Data limit: a listener and a dialler of `kind`, both over `leg`; the dialler's `step` (--send or
 * --echo-bytes, BEYOND bytes) must be cut by the relay at DATA_LIMIT.
 */
async function dataLimitCase (t, kind, leg, step) {
  const DURATION = 600
  await withRelay({ relay: [`max_circuit_bytes = ${DATA_LIMIT}`, `max_circuit_duration_secs = ${DURATION}`] }, async ctx => {
    const { l, id: lid } = await listen(ctx, kind, leg)
    const lim = { duration: DURATION, data: DATA_LIMIT }
    assertLimits(ctx, eventsOf(l.events, 'reserved')[0], 'the listener\'s reserved', lim)
    const d = await ctx.run(kind, ['--relay', addrOf(ctx.relay, leg), '--dial', lid, step, String(BEYOND), '--timeout', '30'], { name: `${kind} dialler` })
    const did = eventsOf(d.events, 'started')[0]?.peer_id
    assertLimits(ctx, eventsOf(d.events, 'circuit')[0], 'the dialler\'s circuit', lim)
    const inc = await l.waitForEvent(e => e.event === 'incoming' && e.peer_id === did, { what: 'an incoming event for the dialler' })
    assertLimits(ctx, inc, 'the listener\'s incoming', lim)
    // the relay ended it: CircuitClosed for the pair, no more than the limit in a direction
    const cc = await ctx.relay.waitForLog(r => r.message === 'CircuitClosed' && r.fields.src_peer_id === did && r.fields.dst_peer_id === lid, { what: 'CircuitClosed' })
    check(ctx, Number(cc.fields.bytes_src_to_dst) <= DATA_LIMIT && Number(cc.fields.bytes_dst_to_src) <= DATA_LIMIT,
      `the relay forwarded more than ${DATA_LIMIT} bytes in a direction: ${cc.line}`)
    // the dialler: its step did not complete, its library reported the cut
    const done = eventsOf(d.events, step === '--send' ? 'sent' : 'echo').find(e => e.ok === true)
    check(ctx, done == null && d.code !== 0 && !d.timedOut, `the dialler's ${step} ${BEYOND} completed or hung past a ${DATA_LIMIT}-byte circuit (exit ${d.code}, timedOut ${d.timedOut})`)
    const derr = lastError(d.events)
    check(ctx, typeof derr === 'string' && derr.length > 0, 'the dialler reported no error text')
    // the listener: its library reports the relayed connection from the dialler closed
    const lc = await l.waitForEvent(e => e.event === 'closed' && e.relayed === true && e.peer_id === did, { what: 'a closed event for the circuit', timeoutMs: 20_000 })
    text(t, `${kind} dialler ${step} ${BEYOND} over ${leg}, circuit cut at ${DATA_LIMIT} B: exit ${d.code}, error`, derr)
    text(t, `${kind} listener over ${leg}: closed (after_ms ${lc.after_ms}) reason`, lc.reason ?? '(no reason field)')
    text(t, 'relay CircuitClosed', cc.line.replace(/^\S+\s+/, ''))
  })
}

async function durationLimitCase (t, kind, leg) {
  const DURATION = 3
  await withRelay({ relay: [`max_circuit_duration_secs = ${DURATION}`, 'max_circuit_bytes = 1073741824'] }, async ctx => {
    const { l, id: lid } = await listen(ctx, kind, leg)
    const lim = { duration: DURATION, data: 1073741824 }
    assertLimits(ctx, eventsOf(l.events, 'reserved')[0], 'the listener\'s reserved', lim)
    const d = await ctx.run(kind, ['--relay', addrOf(ctx.relay, leg), '--dial', lid, '--ping', '1', '--hold', '--timeout', '40'], { name: `${kind} dialler`, timeoutMs: 45_000 })
    const did = eventsOf(d.events, 'started')[0]?.peer_id
    const circ = eventsOf(d.events, 'circuit')[0]
    assertLimits(ctx, circ, 'the dialler\'s circuit', lim)
    check(ctx, d.code === 0, `the dialler (--hold) exited ${d.code}, not 0 after its circuit closed`)
    const dc = eventsOf(d.events, 'closed').find(e => e.relayed === true)
    check(ctx, dc != null, 'the dialler printed no closed event for its circuit')
    const heldMs = dc.ts - circ.ts
    check(ctx, heldMs >= 2000 && heldMs <= 15000, `the circuit closed ${heldMs} ms after it opened (limit ${DURATION} s; expected 2..15 s)`)
    const inc = await l.waitForEvent(e => e.event === 'incoming' && e.peer_id === did, { what: 'an incoming event for the dialler' })
    assertLimits(ctx, inc, 'the listener\'s incoming', lim)
    const lc = await l.waitForEvent(e => e.event === 'closed' && e.relayed === true && e.peer_id === did, { what: 'a closed event for the circuit', timeoutMs: 20_000 })
    const lHeld = lc.ts - inc.ts
    check(ctx, lHeld >= 2000 && lHeld <= 15000, `the listener's circuit closed ${lHeld} ms after it arrived (expected 2..15 s)`)
    const cc = await ctx.relay.waitForLog(r => r.message === 'CircuitClosed' && r.fields.src_peer_id === did, { what: 'CircuitClosed' })
    text(t, `${kind} dialler --hold over ${leg}, ${DURATION} s limit: closed after ${heldMs} ms, reason`, dc.reason ?? '(no reason field)')
    text(t, `${kind} listener over ${leg}: closed after ${lHeld} ms, reason`, lc.reason ?? '(no reason field)')
    text(t, 'relay CircuitClosed', cc.line.replace(/^\S+\s+/, ''))
  })
}

// ---- 2, 3. statuses and the voucher -----------------------------------------------------------

async function noReservationCase (t, kind, leg) {
  await withRelay({}, async ctx => {
    const target = await freshPeerId()
    const d = await ctx.run(kind, ['--relay', addrOf(ctx.relay, leg), '--dial', target, '--ping', '1', '--timeout', '20'], { name: `${kind} dialler` })
    const f = eventsOf(d.events, 'dial_failed').at(-1)
    check(ctx, d.code === 4, `dialling a peer that never reserved: exit ${d.code}, expected 4 (refused by the relay)`)
    check(ctx, f != null && (f.status === 'NO_RESERVATION' || /NO_RESERVATION/.test(f.error ?? '')),
      `the dial_failed event names no NO_RESERVATION: ${JSON.stringify(f)}`)
    await ctx.relay.waitForLog(r => r.message === 'CircuitReqDenied' && r.fields.dst_peer_id === target && r.fields.status === 'NO_RESERVATION', { what: 'CircuitReqDenied status=NO_RESERVATION' })
    text(t, `${kind} over ${leg}: NO_RESERVATION: status ${f.status}, error`, f.error)
  })
}

async function reservationRefusedCase (t, kind, leg) {
  await withRelay({ relay: ['max_reservations = 1'] }, async ctx => {
    await listen(ctx, kind, leg, [], `${kind} first listener`)
    const second = await ctx.run(kind, ['--relay', addrOf(ctx.relay, leg), '--reserve-only', '--timeout', '20'], { name: `${kind} second` })
    const sid = eventsOf(second.events, 'started')[0]?.peer_id
    const f = eventsOf(second.events, 'reservation_failed').at(-1)
    check(ctx, second.code === 4, `a second peer's RESERVE at max_reservations = 1: exit ${second.code}, expected 4`)
    check(ctx, eventsOf(second.events, 'reserved').length === 0, 'the second peer printed reserved')
    check(ctx, f != null && (f.status === 'RESERVATION_REFUSED' || /RESERVATION_REFUSED/.test(f.error ?? '')),
      `the reservation_failed event names no RESERVATION_REFUSED: ${JSON.stringify(f)}`)
    await ctx.relay.waitForLog(r => r.message === 'ReservationReqDenied' && r.fields.peer_id === sid && r.fields.status === 'RESERVATION_REFUSED', { what: 'ReservationReqDenied status=RESERVATION_REFUSED' })
    text(t, `${kind} over ${leg}: RESERVATION_REFUSED (max_reservations): status ${f.status}, error`, f.error)
  })
}

async function voucherCase (t, kind, leg) {
  await withRelay({}, async ctx => {
    const r = await ctx.run(kind, ['--relay', addrOf(ctx.relay, leg), '--reserve-only', '--timeout', '20'], { name: `${kind} reserve-only` })
    const ev = eventsOf(r.events, 'reserved')[0]
    check(ctx, r.code === 0 && ev != null, `--reserve-only: exit ${r.code}, reserved ${JSON.stringify(ev)}`)
    if (kind === 'go') {
      // go-libp2p v0.52.0 p2p/protocol/circuitv2/client/reservation.go:128-167: a voucher present
      // is opened (record.ConsumeEnvelope), its signer must be voucher.Relay and voucher.Peer the
      // client, or Reserve fails with MALFORMED_MESSAGE; voucher: true = sent and accepted.
      check(ctx, ev.voucher === true, `go reports no verified voucher: ${JSON.stringify(ev)}`)
    }
    check(ctx, Array.isArray(ev.addrs) && ev.addrs.length > 0, `reserved carries no addresses: ${JSON.stringify(ev)}`)
    text(t, `${kind} over ${leg}: reserved`, JSON.stringify({ voucher: ev.voucher, expire: ev.expire, limit_duration: ev.limit_duration, limit_data: ev.limit_data }))
  })
}

// ---- 4. refresh ---------------------------------------------------------------------------------

async function refreshCase (t, kind) {
  const TTL = 10
  const RUN_MS = 65_000
  await withRelay({ relay: [`reservation_ttl_secs = ${TTL}`] }, async ctx => {
    const leg = kind === 'go' ? 'tcp' : 'quic'
    const { l, id } = await listen(ctx, kind, leg, ['--refresh-log'])
    const t0 = Date.now()
    // bounded: RUN_MS, or earlier if the listener dies
    while (Date.now() - t0 < RUN_MS && l.running()) await sleep(500)
    check(ctx, l.running(), `the listener exited during the minute of refreshes`)
    const renewals = eventsOf(l.events, 'reserved').filter(e => e.renewal === true)
    check(ctx, renewals.length >= 5, `${renewals.length} renewals in ${RUN_MS} ms at reservation_ttl_secs = ${TTL} (expected >= 5)`)
    const relayRenewed = ctx.relay.findLogs(r => r.message === 'ReservationReqAccepted' && r.fields.peer_id === id && r.fields.renewed === 'true')
    check(ctx, relayRenewed.length >= 5, `the relay logged ${relayRenewed.length} ReservationReqAccepted renewed=true for ${id} (expected >= 5)`)
    const timedOut = ctx.relay.findLogs(r => r.message === 'ReservationTimedOut')
    check(ctx, timedOut.length === 0, `the relay timed out a reservation: ${timedOut.map(r => r.line).join('\n')}`)
    check(ctx, eventsOf(l.events, 'reservation_failed').length === 0, 'a refresh failed')
    const d = await ctx.run(kind, ['--relay', addrOf(ctx.relay, other(leg)), '--dial', id, '--ping', '2', '--timeout', '20'], { name: `${kind} dialler` })
    check(ctx, d.code === 0 && eventsOf(d.events, 'ping').length === 2, `after a minute of refreshes the dialler did not reach the listener (exit ${d.code})`)
    const gaps = renewals.map((e, i) => e.ts - (i === 0 ? eventsOf(l.events, 'reserved')[0].ts : renewals[i - 1].ts))
    text(t, `${kind}: ${renewals.length} renewals in ${RUN_MS} ms at ttl ${TTL} s, intervals (ms)`, gaps.join(','))
  })
}

// ---- 5. restart ---------------------------------------------------------------------------------

async function restartCase (t, kind, leg) {
  const home = mkdtempSync(join(tmpdir(), 'rly-clients-home-'))
  try {
    const ports = await freePorts()
    const opts = { tcpPort: ports.tcp, quicPort: ports.udp }
    await withRelay(opts, async ctx => {
      const first = ctx.relay
      const { l, id } = await listen(ctx, kind, leg, ['--reconnect'])
      const stopped = await first.stop()
      check(ctx, stopped.code === 0 && !stopped.killed, `the first relay did not exit 0 on SIGTERM (${JSON.stringify(stopped)})`)
      const nBefore = l.events.length
      const tRestart = Date.now()
      const second = await ctx.startRelay(opts, { HOME: home })
      check(ctx, second.peerId === first.peerId, `the restarted relay has another identity: ${second.peerId} != ${first.peerId}`)
      check(ctx, second.addrs.join() === first.addrs.join(), `the restarted relay listens elsewhere: ${second.addrs} != ${first.addrs}`)
      await l.waitForEvent(e => l.events.indexOf(e) >= nBefore && e.event === 'reserved', { what: 'a reserved event after the restart', timeoutMs: 30_000 })
      const reservedMs = Date.now() - tRestart
      const d = await ctx.run(kind, ['--relay', addrOf(second, other(leg)), '--dial', id, '--ping', '2', '--timeout', '20'], { name: `${kind} dialler` })
      const elapsed = Date.now() - tRestart
      check(ctx, d.code === 0 && eventsOf(d.events, 'ping').length === 2, `the dialler did not reach the listener after the restart (exit ${d.code})`)
      check(ctx, elapsed <= 30_000, `reserved again and reached ${elapsed} ms after the restart (expected <= 30 s)`)
      text(t, `${kind} over ${leg}: reserved again ${reservedMs} ms; reachable ${elapsed} ms after the restart; events between`,
        l.events.slice(nBefore).filter(e => e.event !== 'connected').map(e => e.event + (e.error ? `(${e.error})` : '')).join(' '))
    }, { relayEnv: { HOME: home } })
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

// ---- 7c. drain ----------------------------------------------------------------------------------

async function drainCase (t, kind, leg) {
  await withRelay({ relay: ['reservation_ttl_secs = 10', 'max_circuit_duration_secs = 120'], grace: 60 }, async ctx => {
    const { l, id } = await listen(ctx, kind, leg, ['--refresh-log'])
    const d = await ctx.peer(kind, ['--relay', addrOf(ctx.relay, leg), '--dial', id, '--ping', '1', '--hold', '--timeout', '90'], `${kind} dialler`)
    await d.waitForEvent('ping', { timeoutMs: 20_000 })
    process.kill(ctx.relay.pid, 'SIGTERM') // by PID: drain, the circuit stays open (grace 60 s)
    await ctx.relay.waitForLog(r => /^Shutdown signal received, draining/.test(r.message), { what: 'the drain' })
    const nBefore = l.events.length
    const f = await l.waitForEvent(e => l.events.indexOf(e) >= nBefore && e.event === 'reservation_failed', { what: 'a failed refresh during the drain', timeoutMs: 20_000 })
    check(ctx, f.status === 'RESERVATION_REFUSED' || /RESERVATION_REFUSED/.test(f.error ?? ''), `a RESERVE during the drain: ${JSON.stringify(f)} names no RESERVATION_REFUSED`)
    await ctx.relay.waitForLog(r => r.message === 'ReservationReqDenied' && r.fields.peer_id === id && r.fields.status === 'RESERVATION_REFUSED', { what: 'ReservationReqDenied RESERVATION_REFUSED' })
    check(ctx, ctx.relay.running(), 'the relay stopped while a circuit was open (grace 60 s)')
    const lexit = await l.done({ timeoutMs: 10_000 }).then(r => r.timedOut ? 'still running' : `exit ${r.code}`)
    text(t, `${kind} over ${leg}: refresh during the drain: status ${f.status}, listener ${lexit}, error`, f.error)
    await d.stop()
  })
}

// ---- 6. go-libp2p's own relay with the same limits ---------------------------------------------

/** go-libp2p v0.52.0's relay (relaylab relay) with `limits`; { peerId, tcp4, quic4, peer }. */
async function startGoRelay (ctx, { data, duration }) {
  const p = await ctx.peer('go-relaylab', ['relay', '--max-circuit-bytes', String(data), '--max-circuit-duration', String(duration)], 'go-libp2p relay')
  const { peer_id: peerId } = await p.waitForEvent('started')
  await p.waitForEvent(e => e.event === 'listen_addr' && e.addr.includes('/quic-v1'))
  const addrs = eventsOf(p.events, 'listen_addr').map(e => e.addr)
  return { peerId, tcp4: addrs.find(a => a.includes('/tcp/')), quic4: addrs.find(a => a.includes('/quic-v1')), peer: p }
}

/** What `kind` reports for one relay: a listener over tcp, a dialler over quic (--send, --hold). */
async function observeRelay (ctx, kind, relay, tag) {
  const l = await ctx.peer(kind, ['--relay', relay.tcp4], `${kind} listener (${tag})`)
  const { peer_id: lid } = await l.waitForEvent('started')
  await l.waitForEvent('listening', { timeoutMs: 20_000 })
  const send = await ctx.run(kind, ['--relay', relay.quic4, '--dial', lid, '--send', String(BEYOND), '--timeout', '30'], { name: `${kind} dialler --send (${tag})` })
  const hold = await ctx.run(kind, ['--relay', relay.quic4, '--dial', lid, '--ping', '1', '--hold', '--timeout', '40'], { name: `${kind} dialler --hold (${tag})`, timeoutMs: 45_000 })
  const hid = eventsOf(hold.events, 'started')[0]?.peer_id
  const lc = await l.waitForEvent(e => e.event === 'closed' && e.relayed === true && e.peer_id === hid, { what: `the listener's closed event for the held circuit (${tag})`, timeoutMs: 20_000 })
  const pick = (ev, keys) => ev == null ? null : Object.fromEntries(keys.filter(k => k in ev).map(k => [k, ev[k]]))
  const circ = eventsOf(hold.events, 'circuit')[0]
  const hc = eventsOf(hold.events, 'closed').find(e => e.relayed === true)
  return {
    reserved: pick(eventsOf(l.events, 'reserved')[0], ['limit_duration', 'limit_data', 'voucher', 'renewal']),
    circuit: pick(eventsOf(send.events, 'circuit')[0], ['limit_duration', 'limit_data']),
    incoming: pick(eventsOf(l.events, 'incoming')[0], ['limit_duration', 'limit_data']),
    sendExit: send.code,
    sendOk: eventsOf(send.events, 'sent').some(e => e.ok === true),
    sendError: lastError(send.events),
    holdExit: hold.code,
    holdClosedMs: hc != null && circ != null ? hc.ts - circ.ts : null,
    holdReason: hc?.reason,
    listenerClosedReason: lc.reason ?? null
  }
}

async function compareWithGoRelayCase (t, kind) {
  const lim = { data: DATA_LIMIT, duration: 3 }
  await withRelay({ relay: [`max_circuit_bytes = ${lim.data}`, `max_circuit_duration_secs = ${lim.duration}`] }, async ctx => {
    const goRelay = await startGoRelay(ctx, lim)
    const [ours, gos] = await Promise.all([observeRelay(ctx, kind, ctx.relay, 'ours'), observeRelay(ctx, kind, goRelay, 'go relay')])
    const want = { limit_duration: lim.duration, limit_data: lim.data }
    for (const [tag, o] of [['ours', ours], ['go relay', gos]]) {
      for (const what of ['reserved', 'circuit', 'incoming']) {
        check(ctx, o[what] != null && o[what].limit_duration === want.limit_duration && o[what].limit_data === want.limit_data,
          `${kind} against ${tag}: ${what} ${JSON.stringify(o[what])}, expected ${JSON.stringify(want)}`)
      }
      check(ctx, !o.sendOk && o.sendExit !== 0, `${kind} against ${tag}: --send ${BEYOND} was not cut at ${lim.data} (exit ${o.sendExit})`)
      check(ctx, o.holdExit === 0 && o.holdClosedMs >= 2000 && o.holdClosedMs <= 15000, `${kind} against ${tag}: --hold exit ${o.holdExit}, closed after ${o.holdClosedMs} ms (expected exit 0 and 2..15 s)`)
    }
    // the same report for both relays: the reserved/circuit/incoming fields, the exit codes
    check(ctx, JSON.stringify(ours.reserved) === JSON.stringify(gos.reserved), `${kind} reports the reservation differently: ours ${JSON.stringify(ours.reserved)}, go's ${JSON.stringify(gos.reserved)}`)
    check(ctx, JSON.stringify(ours.circuit) === JSON.stringify(gos.circuit) && JSON.stringify(ours.incoming) === JSON.stringify(gos.incoming),
      `${kind} reports the circuit limits differently: ours ${JSON.stringify([ours.circuit, ours.incoming])}, go's ${JSON.stringify([gos.circuit, gos.incoming])}`)
    check(ctx, ours.sendExit === gos.sendExit && ours.holdExit === gos.holdExit, `${kind} exits differently: ours send ${ours.sendExit} hold ${ours.holdExit}, go's send ${gos.sendExit} hold ${gos.holdExit}`)
    for (const [tag, o] of [['ours', ours], ['go relay', gos]]) {
      text(t, `${kind} against ${tag}: reserved ${JSON.stringify(o.reserved)}, --send cut: exit ${o.sendExit}, error`, o.sendError)
      text(t, `${kind} against ${tag}: --hold closed after ${o.holdClosedMs} ms, reason`, o.holdReason ?? '(no reason field)')
    }
  })
}

// ---- 7a. one reservation per peer: one go identity on two connections --------------------------

/**
 * relaylab two-conn: go host a (TCP) reserves, go host b (QUIC, same key) is connected; then the
 * steps, one per SIGUSR1. After each, a `kind` dialler must reach the identity through the relay,
 * on the host (a or b) that holds the reservation, and the relay's gauge stays 1.
 */
async function twoConnCase (t, kind, steps, expectAfter) {
  await withRelay({ relay: ['max_reservations = 1', 'reservation_ttl_secs = 3600'] }, async ctx => {
    const lab = await ctx.peer('go-relaylab', ['two-conn', '--relay-a', ctx.relay.tcp4, '--relay-b', ctx.relay.quic4, '--steps', steps.join(',')], 'go two-conn')
    const { peer_id: id } = await lab.waitForEvent('started')
    await lab.waitForEvent('ready', { timeoutMs: 20_000 })
    const reservations = await gauge(ctx.relay, 'mesh_relay_reservations')
    check(ctx, reservations === 1, `mesh_relay_reservations = ${reservations} after one RESERVE`)
    const dialOnce = async (label, want) => {
      const n = lab.events.length
      const d = await ctx.run(kind, ['--relay', ctx.relay.tcp4, '--dial', id, '--ping', '1', '--timeout', '20'], { name: `${kind} dialler (${label})` })
      const did = eventsOf(d.events, 'started')[0]?.peer_id
      check(ctx, d.code === 0 && eventsOf(d.events, 'ping').length === 1, `${label}: the ${kind} dialler did not reach the go identity through the relay (exit ${d.code}): ${lastError(d.events)}`)
      const inc = await lab.waitForEvent(e => lab.events.indexOf(e) >= n && e.event === 'incoming' && e.peer_id === did, { what: `the incoming circuit (${label})` })
      check(ctx, inc.conn === want, `${label}: the circuit arrived on connection ${inc.conn}, expected ${want} (the one holding the reservation)`)
      const g = await gauge(ctx.relay, 'mesh_relay_reservations')
      check(ctx, g === 1, `${label}: mesh_relay_reservations = ${g}, expected 1 (one reservation per peer)`)
      return inc.conn
    }
    const seen = [await dialOnce('reserved over a (tcp)', 'a')]
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]
      const n = lab.events.length
      process.kill(lab.pid, 'SIGUSR1')
      await lab.waitForEvent(e => lab.events.indexOf(e) >= n && e.event === 'step' && e.step === step, { what: `step ${step}` })
      const failed = lab.events.slice(n).find(e => e.event === 'reservation_failed')
      check(ctx, failed == null, `step ${step}: ${JSON.stringify(failed)}`)
      if (step.startsWith('refresh-')) {
        const r = lab.events.slice(n).find(e => e.event === 'reserved')
        check(ctx, r != null && r.conn === step.slice(-1), `step ${step}: no reserved event on ${step.slice(-1)}`)
      }
      if (step.startsWith('drop-')) {
        await ctx.relay.waitForLog(r => r.message === 'ConnectionClosed' && r.fields.peer_id === id, { what: `ConnectionClosed for ${id}` })
      }
      seen.push(await dialOnce(`after ${step}`, expectAfter[i]))
    }
    const renewed = ctx.relay.findLogs(r => r.message === 'ReservationReqAccepted' && r.fields.peer_id === id)
    text(t, `go identity on two connections, steps ${steps.join(',')}: circuits arrived on`, seen.join(','))
    text(t, 'relay ReservationReqAccepted', renewed.map(r => `renewed=${r.fields.renewed}`).join(','))
  })
}

// ---- 7b. rust when its reservation moves to a connection it did not reserve on -------------------

/** Close the rust listener's TCP connection to the relay from outside (ss -K: needs CAP_NET_ADMIN). */
function killTcpTo (port) {
  return new Promise(resolve => {
    execFile('ss', ['-K', '-t', 'dst', '127.0.0.1', 'dport', '=', `:${port}`], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ ok: err == null && /ESTAB/.test(stdout), out: `${stdout}${stderr}${err ? err.message : ''}` })
    })
  })
}

async function rustMovedCase (t, dialler, reconnect) {
  await withRelay({}, async ctx => {
    const tcpPort = Number(/\/tcp\/(\d+)\//.exec(ctx.relay.tcp4)[1])
    const extra = ['--dial-after-reserve', ctx.relay.quic4, ...(reconnect ? ['--reconnect'] : [])]
    const { l, id } = await listen(ctx, 'rust', 'tcp', extra, 'rust listener')
    // the relay sees the second (reservation-less) connection, over QUIC
    await ctx.relay.waitForLog(r => r.message === 'ConnectionEstablished' && r.fields.peer_id === id && Number(r.fields.num_established) === 2, { what: 'the rust listener\'s second connection' })
    const n = l.events.length
    const k = await killTcpTo(tcpPort)
    if (!k.ok) {
      t.skip(`cannot close the listener's TCP connection from outside (ss -K): ${k.out}`)
      return
    }
    await ctx.relay.waitForLog(r => r.message === 'ConnectionClosed' && r.fields.peer_id === id, { what: 'ConnectionClosed for the reserving connection' })
    // the relay moved the reservation to rust's QUIC connection (its newest, its only one)
    const g = await gauge(ctx.relay, 'mesh_relay_reservations')
    check(ctx, g === 1, `mesh_relay_reservations = ${g} after the reserving connection closed (the peer still has one: expected 1)`)
    if (reconnect) {
      // rust: its circuit listener on the closed connection ends; --reconnect listens again, and
      // rust-libp2p reserves over the connection it still has
      await l.waitForEvent(e => l.events.indexOf(e) >= n && e.event === 'reserved', { what: 'a reserved event after the move', timeoutMs: 20_000 })
      await l.waitForEvent(e => l.events.indexOf(e) >= n && e.event === 'listening', { what: 'a listening event after the move', timeoutMs: 20_000 })
      const d = await ctx.run(dialler, ['--relay', ctx.relay.quic4, '--dial', id, '--ping', '2', '--timeout', '20'], { name: `${dialler} dialler` })
      check(ctx, d.code === 0 && eventsOf(d.events, 'ping').length === 2, `the ${dialler} dialler did not reach rust after it reserved again (exit ${d.code}): ${lastError(d.events)}`)
      text(t, 'rust listener after its reserving connection closed (--reconnect): events', l.events.slice(n).map(e => e.event + (e.error ? `(${e.error})` : '')).join(' '))
    } else {
      // rust keeps running (it had reserved) but holds no reservation on its QUIC connection: its
      // relay client answers the STOP there with NO_RESERVATION (libp2p-relay 0.22.0
      // src/priv_client/handler.rs:391-393, Reservation::None -> insert_to_deny_futs ->
      // circuit.deny(NoReservation)); the relay answers the dialler CONNECTION_FAILED
      await sleep(1500)
      check(ctx, l.running(), 'the rust listener exited when its reserving connection closed')
      const d = await ctx.run(dialler, ['--relay', ctx.relay.quic4, '--dial', id, '--ping', '1', '--timeout', '20'], { name: `${dialler} dialler` })
      const f = eventsOf(d.events, 'dial_failed').at(-1)
      check(ctx, d.code !== 0 && eventsOf(d.events, 'ping').length === 0, `the ${dialler} dialler reached rust over a connection rust did not reserve on (exit ${d.code}): rust-libp2p 0.22.0 is expected to refuse that STOP`)
      const denied = await ctx.relay.waitForLog(r => r.message === 'CircuitReqDenied' && r.fields.dst_peer_id === id, { what: 'CircuitReqDenied for rust' })
      text(t, `${dialler} dialler to rust whose reservation moved: exit ${d.code}, status ${f?.status}, error`, f?.error ?? lastError(d.events))
      text(t, 'relay', denied.line.replace(/^\S+\s+/, ''))
    }
  })
}

// ---- the suite ----------------------------------------------------------------------------------

describe('what real clients do with the relay\'s answers', { concurrency: CONCURRENCY }, () => {
  // the minute of refreshes first, so that both run at once beside the short tests
  for (const kind of CLIENTS) {
    it(`${kind}: keeps its reservation for a minute by refreshing (reservation_ttl_secs = 10)`, { timeout: 150_000 }, t => refreshCase(t, kind))
  }
  for (const kind of CLIENTS) {
    for (const leg of LEGS) {
      it(`${kind}: limits reported, data limit ends the circuit (--send) over ${leg}`, { timeout: 90_000 }, t => dataLimitCase(t, kind, leg, '--send'))
      it(`${kind}: limits reported, data limit ends the circuit (--echo-bytes) over ${leg}`, { timeout: 90_000 }, t => dataLimitCase(t, kind, leg, '--echo-bytes'))
      it(`${kind}: limits reported, duration limit ends a held circuit over ${leg}`, { timeout: 90_000 }, t => durationLimitCase(t, kind, leg))
      it(`${kind}: NO_RESERVATION over ${leg}`, { timeout: 60_000 }, t => noReservationCase(t, kind, leg))
      it(`${kind}: RESERVATION_REFUSED at max_reservations over ${leg}`, { timeout: 60_000 }, t => reservationRefusedCase(t, kind, leg))
      it(`${kind}: accepts the reservation and our voucher over ${leg}`, { timeout: 60_000 }, t => voucherCase(t, kind, leg))
      it(`${kind}: reserves again after a relay restart over ${leg}`, { timeout: 120_000 }, t => restartCase(t, kind, leg))
      it(`${kind}: RESERVE while the relay drains is RESERVATION_REFUSED over ${leg}`, { timeout: 120_000 }, t => drainCase(t, kind, leg))
    }
    it(`${kind}: reports go-libp2p's relay's limits as it reports ours`, { timeout: 150_000 }, t => compareWithGoRelayCase(t, kind))
    it(`${kind} dialler: one go identity on two connections, the reserving one closes: reachable, one slot`, { timeout: 120_000 }, t => twoConnCase(t, kind, ['drop-a'], ['b']))
    it(`${kind} dialler: one go identity on two connections, refresh over the other: one slot, STOP follows it`, { timeout: 120_000 }, t => twoConnCase(t, kind, ['refresh-b', 'drop-a'], ['b', 'b']))
    it(`${kind} dialler: rust's reservation moves to a connection it did not reserve on: refused STOP`, { timeout: 120_000 }, t => rustMovedCase(t, kind, false))
    it(`${kind} dialler: rust's reservation moves to a connection it did not reserve on: --reconnect reserves again`, { timeout: 120_000 }, t => rustMovedCase(t, kind, true))
  }
})
