// relay.test.mjs: js-libp2p clients (@libp2p/circuit-relay-v2) and our C client against the relay's
// Circuit Relay v2 service (PROTOCOLS.md 8): reservations (with the raw reply checked byte by byte:
// addrs, Limit, signed voucher), circuits js <-> js and js <-> C in both directions, the limits
// (data per direction, duration, reservation count) and NO_RESERVATION, each with the relay's
// events (src/relay/relay.h).
//
// Each test starts its own relay (private HOME, loopback port 0, [relay] limits as the test needs)
// and its js nodes / clients, and stops them in `finally`; the relay must then exit 0 on SIGTERM
// (under ASan this also catches leaks and UB). Relayed connections are "limited" in js: our echo
// handler and its streams use runOnLimitedConnection (ping and identify opt in by default).
// Run by hand: see README.md in this directory.
import './polyfill.mjs'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  PROTO_ECHO, PROTO_HOP, PROTO_PING, TEST_CLIENT_BIN, annotate, createJsNode, echoHandler, echoOver,
  loopbackConfig, opSignal, readAll, runTestClient, startRelay, startTestClient, stopJsNodes,
  testClientBuilt, waitUntil
} from './lib/index.mjs'
import { uvarint } from './lib/raw.mjs'

const P2P_CODE = 421
const CIRCUIT_CODE = 290

// Relay defaults (README.md [relay]); the reservation reply must carry them.
const DEFAULT_TTL_S = 3600
const DEFAULT_DURATION_S = 120
const DEFAULT_DATA = 10485760n

// HopMessage / Status numbers (PROTOCOLS.md 8.2)
const HOP_STATUS = 2n
const ST_OK = 100n

const VOUCHER_DOMAIN = 'libp2p-relay-rsvp'
const VOUCHER_TYPE = Buffer.from([0x03, 0x02])

// ---- relay + cleanup -------------------------------------------------------------------------

/**
 * loopbackConfig() with a [relay] table (e.g. { max_circuit_bytes: 65536 }) and, with `auth` (a
 * token), authentication on.
 */
function relayConfig (limits = {}, auth = null) {
  const rel = Object.entries(limits).map(([k, v]) => `${k} = ${v}`)
  const extra = rel.length > 0 ? ['', '[relay]', ...rel] : []
  if (auth != null) extra.push('', '[auth]', 'auth_enabled = true', `auth_token = '${auth}'`)
  return loopbackConfig({ extra })
}

/**
 * Run `fn({ relay, track })` with a fresh relay; `track(x)` registers a js node or a background
 * test_client to stop afterwards (returns x). When `fn` succeeds, the relay must still be running
 * and must exit 0 after SIGTERM. Failures carry the relay's output tail.
 */
async function withRelay (fn, { limits = {}, auth = null } = {}) {
  const relay = await startRelay({ config: relayConfig(limits, auth) })
  const nodes = []
  const clients = []
  const track = x => {
    if (x != null) (typeof x.getMultiaddrs === 'function' ? nodes : clients).push(x)
    return x
  }
  const cleanup = async () => {
    await Promise.all(clients.map(c => c.stop()))
    await stopJsNodes(...nodes)
  }
  try {
    await fn({ relay, track })
    assert.ok(relay.running(), 'the relay exited during the test')
  } catch (err) {
    await cleanup()
    await relay.stop()
    throw annotate(err, relay.describe())
  }
  await cleanup()
  const r = await relay.stop()
  assert.ok(!r.killed && r.code === 0,
    `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${relay.describe()}`)
}

// ---- js nodes ----------------------------------------------------------------------------------

/** The circuit listen address a js user configures: <relay /ip4 tcp addr with /p2p>/p2p-circuit. */
function circuitListenAddr (relay) {
  return `${relay.tcp4}/p2p-circuit`
}

/** Where `peerId` is reachable through the relay's /ip4 TCP address. */
function circuitAddrOf (relay, peerId) {
  return multiaddr(`${relay.tcp4}/p2p-circuit/p2p/${peerId}`)
}

/**
 * A js node as a js user writes it (tcp, noise, yamux, identify, ping + circuitRelayTransport),
 * answering PROTO_ECHO on limited connections too. `listenOnRelay`: listen on the relay's circuit
 * address, so start() makes the reservation (and fails if it is refused). `echoed` records what
 * the echo handler received, per remote PeerId.
 */
async function relayClient (relay, { listenOnRelay = false } = {}) {
  const node = await createJsNode({
    listenAddrs: listenOnRelay ? [circuitListenAddr(relay)] : [],
    transports: [circuitRelayTransport()]
  })
  node.echoed = new Map()
  await node.handle(PROTO_ECHO, (stream, connection) => echoHandler(node, stream, connection),
    { runOnLimitedConnection: true })
  return node
}

/**
 * One ping (/ipfs/ping/1.0.0: 32 random bytes echoed) on a new stream of `conn` itself. js's
 * ping service cannot be used on a relayed connection: it asks the connection manager for a
 * connection to the peer, which ignores limited connections and dials a second circuit.
 * Resolves with the round-trip time in ms.
 */
async function pingOver (conn) {
  const stream = await conn.newStream(PROTO_PING, { runOnLimitedConnection: true, signal: opSignal() })
  const data = randomBytes(32)
  const t0 = performance.now()
  const reading = readAll(stream, { what: 'the ping reply' })
  reading.catch(() => {})
  stream.send(data)
  await stream.close({ signal: opSignal() })
  const back = await reading
  const rtt = performance.now() - t0
  assert.ok(back.equals(data), `ping reply ${back.toString('hex')} != ${data.toString('hex')}`)
  return rtt
}

/** Every message in an error (AggregateError members and causes too), for matching. */
function errorText (err, depth = 0) {
  if (err == null || depth > 5) return ''
  const parts = [`${err.name ?? 'Error'}: ${err.message ?? err}`]
  for (const e of err.errors ?? []) parts.push(errorText(e, depth + 1))
  if (err.cause != null) parts.push(errorText(err.cause, depth + 1))
  return parts.join(' | ')
}

/** The circuit address among `node`'s multiaddrs that goes through `relay` over /ip4 (bounded). */
async function circuitAddrOfNode (node, relay) {
  const want = circuitAddrOf(relay, node.peerId).toString()
  try {
    return await waitUntil(() => node.getMultiaddrs().map(String).find(a => a === want),
      { what: `js node advertising ${want}` })
  } catch (err) {
    throw annotate(err, `js multiaddrs: ${JSON.stringify(node.getMultiaddrs().map(String))}`)
  }
}

/** js's (non-relayed) connection to the relay. */
function relayConnOf (node, relay) {
  const c = node.getConnections(peerIdFromString(relay.peerId)).find(c => c.status === 'open' && !c.remoteAddr.toString().includes('/p2p-circuit'))
  assert.ok(c, `js node has no open direct connection to the relay ${relay.peerId}`)
  return c
}

/** Dial `peerId` through the relay (js circuit transport), naming the operation in the error. */
async function dialThrough (node, relay, peerId, what = 'circuit dial') {
  const addr = circuitAddrOf(relay, peerId)
  try {
    return await node.dial(addr, { signal: opSignal() })
  } catch (err) {
    throw new Error(`js ${what} to ${addr} failed: ${errorText(err)}`, { cause: err })
  }
}

// ---- relay events ------------------------------------------------------------------------------

function eventLog (relay, message, fields, what = '') {
  const pred = l => l.message === message && Object.entries(fields).every(([k, v]) => l.fields[k] === v)
  return relay.waitForLog(pred, { what: `${message} ${JSON.stringify(fields)}${what}` })
}

function countLogs (relay, message, fields = {}) {
  return relay.findLogs(l => l.message === message && Object.entries(fields).every(([k, v]) => l.fields[k] === v)).length
}

// ---- protobuf and the raw RESERVE -------------------------------------------------------------

/** Decode a protobuf message into [{ no, wt, v }] (v: BigInt for varints, Buffer for bytes). */
function pbDecode (buf, what = 'message') {
  const out = []
  let i = 0
  const varint = () => {
    let x = 0n
    let shift = 0n
    for (;;) {
      if (i >= buf.length) throw new Error(`${what}: truncated varint`)
      const b = buf[i++]
      x |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return x
      shift += 7n
      if (shift > 63n) throw new Error(`${what}: varint too long`)
    }
  }
  while (i < buf.length) {
    const key = Number(varint())
    const no = key >> 3
    const wt = key & 7
    if (wt === 0) {
      out.push({ no, wt, v: varint() })
    } else if (wt === 2) {
      const n = Number(varint())
      if (i + n > buf.length) throw new Error(`${what}: field ${no} runs past the end`)
      out.push({ no, wt, v: buf.subarray(i, i + n) })
      i += n
    } else {
      throw new Error(`${what}: field ${no} has wire type ${wt}`)
    }
  }
  return out
}

/** The single field `no` of wire type `wt` (asserted present exactly once). */
function one (fields, no, wt, what) {
  const f = fields.filter(x => x.no === no)
  assert.equal(f.length, 1, `${what}: field ${no} occurs ${f.length} times`)
  assert.equal(f[0].wt, wt, `${what}: field ${no} has wire type ${f[0].wt}, not ${wt}`)
  return f[0].v
}

/**
 * RESERVE on a new hop stream of `conn` by hand: writes `02 08 00` (lp HopMessage{type=RESERVE}),
 * closes the write side and reads the reply to the end. Resolves with the decoded HopMessage
 * fields and the raw bytes.
 */
async function rawReserve (conn) {
  const stream = await conn.newStream(PROTO_HOP, { signal: opSignal() })
  stream.send(Uint8Array.from([0x02, 0x08, 0x00]))
  await stream.close({ signal: opSignal() })
  const raw = await readAll(stream, { what: 'the RESERVE reply' })
  assert.ok(raw.length > 0, 'the relay answered RESERVE with nothing')
  let len = 0
  let i = 0
  for (let shift = 0; ; shift += 7) {
    assert.ok(i < raw.length && shift < 35, `bad length prefix: ${raw.toString('hex')}`)
    const b = raw[i++]
    len += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) break
  }
  assert.ok(len <= 4096, `RESERVE reply of ${len} bytes (max message 4096)`)
  assert.equal(raw.length, i + len, `RESERVE reply: length prefix ${len}, ${raw.length - i} bytes follow: ${raw.toString('hex')}`)
  return { raw, fields: pbDecode(raw.subarray(i), 'HopMessage') }
}

/**
 * Check a RESERVE reply (decoded HopMessage) from `relay` for `peerId`: status OK, Reservation
 * (expire ~ now + ttl, addrs parseable each ending in exactly one /p2p/<relay>, covering the
 * banner's addresses, signed voucher), Limit (seconds, bytes). Returns { expire, addrs, limit }.
 */
async function checkReservationReply (fields, relay, peerId, { ttlS = DEFAULT_TTL_S, durationS = DEFAULT_DURATION_S, data = DEFAULT_DATA } = {}) {
  const what = 'RESERVE reply'
  assert.equal(one(fields, 1, 0, what), HOP_STATUS, `${what}: type is not STATUS`)
  assert.equal(one(fields, 5, 0, what), ST_OK, `${what}: status is not OK`)
  const rsv = pbDecode(one(fields, 3, 2, what), 'Reservation')

  // expire: absolute UNIX seconds, now + TTL
  const expire = one(rsv, 1, 0, 'Reservation')
  const now = BigInt(Math.floor(Date.now() / 1000))
  assert.ok(expire >= now + BigInt(ttlS) - 30n && expire <= now + BigInt(ttlS) + 30n,
    `Reservation.expire ${expire} is not now (${now}) + ${ttlS} s`)

  // addrs: parseable, exactly one trailing /p2p/<relay>, no /p2p-circuit, the banner's included
  const addrs = rsv.filter(f => f.no === 2).map(f => {
    assert.equal(f.wt, 2, 'Reservation.addrs wire type')
    let ma
    try {
      ma = multiaddr(Uint8Array.from(f.v))
    } catch (err) {
      assert.fail(`Reservation.addrs entry ${f.v.toString('hex')} does not parse: ${err.message}`)
    }
    const comps = ma.getComponents()
    const p2p = comps.filter(c => c.code === P2P_CODE)
    assert.equal(p2p.length, 1, `${ma}: ${p2p.length} /p2p components`)
    assert.equal(comps[comps.length - 1].code, P2P_CODE, `${ma} does not end with /p2p/<relay>`)
    assert.equal(p2p[0].value, relay.peerId, `${ma} names another peer than the relay`)
    assert.ok(!comps.some(c => c.code === CIRCUIT_CODE), `${ma} contains /p2p-circuit`)
    return ma.toString()
  })
  assert.ok(addrs.length > 0, 'Reservation.addrs is empty')
  for (const a of [relay.tcp4, relay.tcp6].filter(a => a != null)) {
    assert.ok(addrs.includes(a), `Reservation.addrs ${JSON.stringify(addrs)} lack the banner's ${a}`)
  }

  // voucher: signed envelope (PROTOCOLS.md 6, 8.3), verified here with the relay's key
  await checkVoucher(one(rsv, 3, 2, 'Reservation'), relay, peerId, expire)

  // Limit: present, duration in seconds (not ms), data per direction
  const lim = pbDecode(one(fields, 4, 2, what), 'Limit')
  const limit = {
    duration: lim.some(f => f.no === 1) ? one(lim, 1, 0, 'Limit') : 0n,
    data: lim.some(f => f.no === 2) ? one(lim, 2, 0, 'Limit') : 0n
  }
  assert.equal(limit.duration, BigInt(durationS), `Limit.duration ${limit.duration} (seconds expected: ${durationS})`)
  assert.equal(limit.data, data, `Limit.data ${limit.data}`)
  return { expire, addrs, limit }
}

/** The signed bytes of an envelope (RFC 0002): lp(domain) lp(payload_type) lp(payload). */
function envelopeSignedBytes (domain, type, payload) {
  const d = Buffer.from(domain)
  return Buffer.concat([uvarint(d.length), d, uvarint(type.length), type, uvarint(payload.length), payload])
}

async function checkVoucher (env, relay, peerId, expire) {
  const ef = pbDecode(env, 'voucher Envelope')
  const pkBytes = one(ef, 1, 2, 'Envelope')
  const type = one(ef, 2, 2, 'Envelope')
  const payload = one(ef, 3, 2, 'Envelope')
  const sig = one(ef, 5, 2, 'Envelope')
  assert.deepEqual([...type], [...VOUCHER_TYPE], `voucher payload_type ${type.toString('hex')} (want 0302)`)
  const key = publicKeyFromProtobuf(Uint8Array.from(pkBytes))
  assert.equal(peerIdFromPublicKey(key).toString(), relay.peerId, 'the voucher is signed by another key than the relay\'s')
  assert.equal(await key.verify(envelopeSignedBytes(VOUCHER_DOMAIN, type, payload), Uint8Array.from(sig)), true,
    `the voucher signature does not verify with domain ${VOUCHER_DOMAIN}`)
  assert.equal(await key.verify(envelopeSignedBytes('libp2p-peer-record', type, payload), Uint8Array.from(sig)), false,
    'the voucher signature verifies under another domain too')

  // Voucher { relay 1, peer 2, expiration 3 }, canonical: in order, nothing else
  const vf = pbDecode(payload, 'Voucher')
  assert.deepEqual(vf.map(f => f.no), [1, 2, 3], `Voucher fields ${JSON.stringify(vf.map(f => f.no))}`)
  assert.deepEqual([...one(vf, 1, 2, 'Voucher')], [...peerIdFromString(relay.peerId).toMultihash().bytes], 'Voucher.relay')
  assert.deepEqual([...one(vf, 2, 2, 'Voucher')], [...peerIdFromString(peerId.toString()).toMultihash().bytes], 'Voucher.peer')
  assert.equal(one(vf, 3, 0, 'Voucher'), expire, 'Voucher.expiration != Reservation.expire')
}

// ---- 1. reservation ----------------------------------------------------------------------------

test('js listens on <relay>/p2p-circuit: reservation accepted, raw reply (addrs, Limit, voucher) checked', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay, track }) => {
    const a = track(await relayClient(relay, { listenOnRelay: true }))
    const aId = a.peerId.toString()

    // js advertises <relay addr>/p2p-circuit/p2p/<a>, the relay logged the reservation
    await circuitAddrOfNode(a, relay)
    const acc = await eventLog(relay, 'ReservationReqAccepted', { peer_id: aId })
    assert.equal(acc.fields.renewed, 'false', acc.line)
    assert.equal(acc.target, 'relay_server::events')

    // the raw reply to a second RESERVE on the same connection: a renewal, with every field
    const conn = relayConnOf(a, relay)
    const { fields, raw } = await rawReserve(conn)
    let res
    try {
      res = await checkReservationReply(fields, relay, aId)
    } catch (err) {
      throw annotate(err, `raw RESERVE reply: ${raw.toString('hex')}`)
    }
    const renewed = await relay.waitForLog(l => l.message === 'ReservationReqAccepted' && l.fields.peer_id === aId && l.fields.renewed === 'true',
      { what: `ReservationReqAccepted peer_id=${aId} renewed=true` })
    if (renewed.fields.expire != null) assert.equal(BigInt(renewed.fields.expire), res.expire, renewed.line)
    assert.equal(countLogs(relay, 'ReservationReqDenied'), 0, 'a reservation was denied')

    // js built its circuit addresses from the reservation's addrs
    const adv = a.getMultiaddrs().map(String)
    for (const ra of res.addrs) {
      assert.ok(adv.includes(`${ra}/p2p-circuit/p2p/${aId}`), `js multiaddrs ${JSON.stringify(adv)} lack ${ra}/p2p-circuit/p2p/${aId}`)
    }
    assert.equal(conn.status, 'open')
  })
})

// ---- 2. js <-> js circuit ----------------------------------------------------------------------

test('js dials js through the relay: limited connection, echo and ping, CircuitReqAccepted / CircuitClosed with byte counts', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay, track }) => {
    const a = track(await relayClient(relay, { listenOnRelay: true }))
    const b = track(await relayClient(relay))
    const [aId, bId] = [a.peerId.toString(), b.peerId.toString()]
    await circuitAddrOfNode(a, relay)

    const conn = await dialThrough(b, relay, a.peerId)
    assert.equal(conn.remotePeer.toString(), aId)
    assert.ok(conn.remoteAddr.toString().includes('/p2p-circuit'), `remoteAddr ${conn.remoteAddr}`)
    // the relay's Limit made the connection limited; js turns Limit.duration (seconds) into
    // `seconds` left: ~120, not 120000 (a relay sending ms)
    assert.ok(conn.limits != null, 'the relayed connection has no limits (the relay sent no Limit)')
    assert.ok(conn.limits.seconds > DEFAULT_DURATION_S - 10 && conn.limits.seconds <= DEFAULT_DURATION_S,
      `js sees ${conn.limits.seconds} s left on the circuit (Limit.duration must be ${DEFAULT_DURATION_S} seconds)`)
    assert.ok(conn.limits.bytes != null && conn.limits.bytes <= DEFAULT_DATA, `limits.bytes ${conn.limits.bytes}`)
    await eventLog(relay, 'CircuitReqAccepted', { src_peer_id: bId, dst_peer_id: aId })

    const small = Buffer.from('hello through the relay')
    assert.deepEqual(await echoOver(conn, small), small, 'small echo differs')
    const big = randomBytes(256 * 1024)
    const back = await echoOver(conn, big)
    assert.equal(back.length, big.length, 'big echo length')
    assert.ok(back.equals(big), 'big echo differs')
    assert.ok(a.echoed.get(bId)?.length === small.length + big.length, `a received ${a.echoed.get(bId)?.length} bytes from b`)
    const rtt = await pingOver(conn)
    assert.ok(Number.isFinite(rtt) && rtt > 0, `ping rtt ${rtt}`)
    // the listener's side: an inbound relayed connection from b
    const inbound = a.getConnections(b.peerId).find(c => c.remoteAddr.toString().includes('/p2p-circuit'))
    assert.ok(inbound, `a has no relayed connection from b: ${a.getConnections(b.peerId).map(c => c.remoteAddr.toString())}`)
    assert.equal(countLogs(relay, 'CircuitClosed'), 0, 'CircuitClosed before the connection closed')

    await conn.close({ signal: opSignal() })
    const closed = await eventLog(relay, 'CircuitClosed', { src_peer_id: bId, dst_peer_id: aId })
    const s2d = Number(closed.fields.bytes_src_to_dst)
    const d2s = Number(closed.fields.bytes_dst_to_src)
    assert.ok(s2d >= big.length + small.length, `bytes_src_to_dst ${s2d} < the ${big.length + small.length} payload bytes: ${closed.line}`)
    assert.ok(d2s >= big.length + small.length, `bytes_dst_to_src ${d2s}: ${closed.line}`)
    assert.ok(Number(closed.fields.duration_ms) >= 0, closed.line)
    assert.ok(!['data limit', 'duration limit'].includes(closed.fields.error), `circuit closed by a limit: ${closed.line}`)
    // a closed circuit does not end the reservation: b dials a again
    const again = await dialThrough(b, relay, a.peerId, 'second circuit dial')
    assert.deepEqual(await echoOver(again, small), small)
  })
})

// ---- 3. js <-> C client through the relay -----------------------------------------------------

function requireTestClient () {
  if (!testClientBuilt()) assert.fail(`test_client not built (${TEST_CLIENT_BIN} does not exist)`)
}

test('C client listens through the relay (--relay --name): js dials it, echoes on /mesh-relay/echo/1.0.0 and pings', { timeout: 60_000 }, async () => {
  requireTestClient()
  await withRelay(async ({ relay, track }) => {
    const c = track(startTestClient(['--relay', relay.tcp4, '--name', 'c-listener']))
    let m
    try {
      m = await c.waitForLine(/^listening on (\S+)$/, { timeoutMs: 20_000, what: '"listening on <circuit addr>" (relay listen mode: --relay ADDR --name NAME)' })
    } catch (err) {
      throw new Error(`test_client in relay listen mode failed (is --relay/--name implemented?): ${err.message}`)
    }
    let addr
    try {
      addr = multiaddr(m[1])
    } catch (err) {
      assert.fail(`test_client printed an unparsable circuit address ${m[1]}: ${err.message}`)
    }
    const comps = addr.getComponents()
    const cId = comps[comps.length - 1].code === P2P_CODE ? comps[comps.length - 1].value : null
    assert.ok(cId, `${addr} does not end with /p2p/<client id>`)
    assert.ok(addr.toString().startsWith(`${relay.tcp4}/p2p-circuit/`) || addr.toString().startsWith(`${relay.tcp6}/p2p-circuit/`),
      `${addr} is not <relay addr>/p2p-circuit/p2p/<id>`)
    const acc = await eventLog(relay, 'ReservationReqAccepted', { peer_id: cId })
    assert.equal(acc.fields.renewed, 'false', acc.line)

    const js = track(await relayClient(relay))
    const jsId = js.peerId.toString()
    const conn = await dialThrough(js, relay, peerIdFromString(cId), 'circuit dial of the C client')
    assert.equal(conn.remotePeer.toString(), cId)
    await eventLog(relay, 'CircuitReqAccepted', { src_peer_id: jsId, dst_peer_id: cId })
    await c.waitForLine(new RegExp(`^relayed connection established peer_id=${jsId}$`), { what: `"relayed connection established peer_id=${jsId}"` })

    const msg = Buffer.from('hello C, from js through the relay')
    let back
    try {
      back = await echoOver(conn, msg)
    } catch (err) {
      throw annotate(err, c.describe())
    }
    assert.deepEqual(back.toString(), msg.toString(), 'echo from the C client differs')
    const payload = randomBytes(32 * 1024)
    assert.ok((await echoOver(conn, payload)).equals(payload), '32 KiB echo from the C client differs')
    for (let i = 0; i < 2; i++) {
      const rtt = await pingOver(conn)
      assert.ok(Number.isFinite(rtt) && rtt > 0, `ping rtt ${rtt}`)
    }
    assert.ok(c.running(), `test_client exited while listening\n${c.describe()}`)

    await conn.close({ signal: opSignal() })
    const closed = await eventLog(relay, 'CircuitClosed', { src_peer_id: jsId, dst_peer_id: cId })
    assert.ok(Number(closed.fields.bytes_src_to_dst) > payload.length && Number(closed.fields.bytes_dst_to_src) > payload.length, closed.line)
    const r = await c.stop()
    assert.ok(!r.killed && (r.code === 0 || r.signal === 'SIGTERM'), `test_client did not stop on SIGTERM: ${JSON.stringify(r)}\n${c.describe()}`)
    assert.doesNotMatch(c.stderr(), /AddressSanitizer|runtime error:|LeakSanitizer/, c.describe())
  })
})

test('C client dials a js listener through the relay (--relay --dial --ping 2 --echo hello)', { timeout: 60_000 }, async () => {
  requireTestClient()
  await withRelay(async ({ relay, track }) => {
    const js = track(await relayClient(relay, { listenOnRelay: true }))
    const jsId = js.peerId.toString()
    await circuitAddrOfNode(js, relay)
    await eventLog(relay, 'ReservationReqAccepted', { peer_id: jsId })
    const inbound = []
    js.addEventListener('connection:open', evt => {
      if (evt.detail.remoteAddr.toString().includes('/p2p-circuit')) inbound.push(evt.detail)
    })

    const r = await runTestClient(['--relay', relay.tcp4, '--dial', jsId, '--ping', '2', '--echo', 'hello'], { timeoutMs: 45_000 })
    const out = `test_client exit ${r.code} signal ${r.signal}${r.timedOut ? ' (killed after timeout)' : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
    assert.equal(r.code, 0, `test_client --relay --dial failed (is relay dial mode implemented?)\n${out}`)
    assert.ok(r.lines.includes(`relayed connection established peer_id=${jsId}`), `no "relayed connection established peer_id=${jsId}" line\n${out}`)
    const rtts = r.lines.map(l => /^ping rtt_ms=([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)$/.exec(l)).filter(m => m != null).map(m => Number(m[1]))
    assert.equal(rtts.length, 2, `expected 2 "ping rtt_ms=<float>" lines\n${out}`)
    for (const v of rtts) assert.ok(Number.isFinite(v) && v > 0, `rtt_ms ${v}\n${out}`)
    assert.ok(r.lines.includes('echo hello'), `no "echo hello" line\n${out}`)

    // js side: a relayed inbound connection from the C client, which echoed "hello" to it
    assert.ok(inbound.length >= 1, 'js saw no inbound relayed connection')
    const cId = inbound[0].remotePeer.toString()
    assert.equal(js.echoed.get(cId)?.toString(), 'hello', `js echo handler got ${JSON.stringify([...js.echoed].map(([k, v]) => [k, v.toString()]))}`)
    await eventLog(relay, 'CircuitReqAccepted', { src_peer_id: cId, dst_peer_id: jsId })
    const closed = await eventLog(relay, 'CircuitClosed', { src_peer_id: cId, dst_peer_id: jsId })
    assert.ok(Number(closed.fields.bytes_src_to_dst) > 0 && Number(closed.fields.bytes_dst_to_src) > 0, closed.line)
  })
})

// ---- 4. limits ---------------------------------------------------------------------------------

const SMALL_DATA = 65536

test(`limits: max_reservations = 1 refuses a second peer; max_circuit_bytes = ${SMALL_DATA} resets a circuit (per direction)`, { timeout: 60_000 }, async () => {
  const limits = { max_reservations: 1, max_reservations_per_peer: 1, max_circuit_bytes: SMALL_DATA }
  await withRelay(async ({ relay, track }) => {
    const a = track(await relayClient(relay, { listenOnRelay: true }))
    const aId = a.peerId.toString()
    await circuitAddrOfNode(a, relay)
    await eventLog(relay, 'ReservationReqAccepted', { peer_id: aId })

    // a renewal on the same connection is not a new slot: accepted at max_reservations = 1
    const { fields, raw } = await rawReserve(relayConnOf(a, relay))
    try {
      await checkReservationReply(fields, relay, aId, { data: BigInt(SMALL_DATA) })
    } catch (err) {
      throw annotate(err, `raw RESERVE (renewal) reply: ${raw.toString('hex')}`)
    }
    await relay.waitForLog(l => l.message === 'ReservationReqAccepted' && l.fields.peer_id === aId && l.fields.renewed === 'true',
      { what: 'the renewal accepted' })

    // a second peer: its listen on the circuit address fails, the relay refused it
    let second
    let listenErr
    try {
      second = await relayClient(relay, { listenOnRelay: true })
    } catch (err) {
      listenErr = err
    }
    if (second != null) {
      track(second)
      assert.fail(`a second js node could listen on ${circuitListenAddr(relay)} at max_reservations = 1: ${second.getMultiaddrs()}`)
    }
    assert.match(errorText(listenErr), /RESERVATION_REFUSED/, `js's listen error does not say RESERVATION_REFUSED: ${errorText(listenErr)}`)
    const denied = await relay.waitForLog(l => l.message === 'ReservationReqDenied' && l.fields.peer_id !== aId,
      { what: 'ReservationReqDenied for the second peer' })
    assert.equal(denied.fields.status, 'RESERVATION_REFUSED', denied.line)

    // data limit: b pushes 192 KiB through an echo; the relay resets the circuit after 65536
    // bytes in one direction (relayed bytes: Noise + Yamux framing included)
    const b = track(await relayClient(relay))
    const bId = b.peerId.toString()
    const conn = await dialThrough(b, relay, a.peerId)
    assert.ok(conn.limits?.bytes != null && conn.limits.bytes <= BigInt(SMALL_DATA), `js limits.bytes ${conn.limits?.bytes}`)
    await eventLog(relay, 'CircuitReqAccepted', { src_peer_id: bId, dst_peer_id: aId })
    const payload = randomBytes(3 * SMALL_DATA)
    let echoErr
    let echoed
    try {
      echoed = await echoOver(conn, payload, { chunk: 8192 })
    } catch (err) {
      echoErr = err
    }
    assert.ok(echoErr != null || echoed.length < payload.length,
      `js pushed ${payload.length} bytes through a ${SMALL_DATA}-byte circuit and got all of them echoed back`)
    const closed = await eventLog(relay, 'CircuitClosed', { src_peer_id: bId, dst_peer_id: aId })
    assert.equal(closed.fields.error, 'data limit', closed.line)
    const s2d = Number(closed.fields.bytes_src_to_dst)
    const d2s = Number(closed.fields.bytes_dst_to_src)
    assert.ok(s2d <= SMALL_DATA && d2s <= SMALL_DATA, `more than ${SMALL_DATA} bytes forwarded in a direction: ${closed.line}`)
    assert.equal(Math.max(s2d, d2s), SMALL_DATA, `the limit is per direction and exact: ${closed.line}`)
    // js sees the relayed connection reset
    await waitUntil(() => conn.status !== 'open', { what: 'js\'s relayed connection to close after the reset' })
    assert.ok(['aborted', 'reset'].includes(conn.status), `js's relayed connection is ${conn.status} after the data limit`)

    // the reservation outlives the circuit; a's slot is freed when a disconnects
    const again = await dialThrough(b, relay, a.peerId, 'circuit dial after the data-limit reset')
    assert.deepEqual(await echoOver(again, Buffer.from('still here')), Buffer.from('still here'))
    await stopJsNodes(a)
    await relay.waitForLog(l => l.message === 'ConnectionClosed' && l.fields.peer_id === aId, { what: `ConnectionClosed peer_id=${aId}` })
    const d = track(await relayClient(relay, { listenOnRelay: true }))
    await eventLog(relay, 'ReservationReqAccepted', { peer_id: d.peerId.toString() })
  }, { limits })
})

test('limits: max_circuit_duration_secs = 2 resets a circuit after ~2 s', { timeout: 60_000 }, async () => {
  const DURATION_S = 2
  await withRelay(async ({ relay, track }) => {
    const a = track(await relayClient(relay, { listenOnRelay: true }))
    const b = track(await relayClient(relay))
    const [aId, bId] = [a.peerId.toString(), b.peerId.toString()]
    await circuitAddrOfNode(a, relay)
    const t0 = performance.now()
    const conn = await dialThrough(b, relay, a.peerId)
    assert.ok(conn.limits?.seconds != null && conn.limits.seconds <= DURATION_S && conn.limits.seconds >= 0,
      `js sees ${conn.limits?.seconds} s left (Limit.duration must be ${DURATION_S} seconds)`)
    await eventLog(relay, 'CircuitReqAccepted', { src_peer_id: bId, dst_peer_id: aId })
    // an echo stream stays open and is used while the clock runs
    const stream = await conn.newStream(PROTO_ECHO, { runOnLimitedConnection: true, signal: opSignal() })
    const reading = readAll(stream, { timeoutMs: 20_000, what: 'the long-lived echo stream' })
    reading.catch(() => {})
    while (conn.status === 'open' && performance.now() - t0 < 15_000) {
      try {
        stream.send(Buffer.from('tick'))
      } catch {
        break
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const tClosed = performance.now() - t0
    assert.notEqual(conn.status, 'open', `the circuit was still open after ${Math.round(tClosed)} ms`)
    const closed = await eventLog(relay, 'CircuitClosed', { src_peer_id: bId, dst_peer_id: aId })
    assert.equal(closed.fields.error, 'duration limit', closed.line)
    const ms = Number(closed.fields.duration_ms)
    assert.ok(ms >= DURATION_S * 1000 - 50 && ms < DURATION_S * 1000 + 2000, `duration_ms ${ms}: ${closed.line}`)
    assert.ok(tClosed >= DURATION_S * 1000 - 100 && tClosed < DURATION_S * 1000 + 5000, `js saw the circuit end after ${Math.round(tClosed)} ms`)
    // reset, not closed: js reports an aborted (or reset) connection, not a clean close
    assert.ok(['aborted', 'reset'].includes(conn.status), `js's relayed connection is ${conn.status} after the duration limit`)
    await reading.catch(() => {})
    assert.ok(Number(closed.fields.bytes_src_to_dst) > 0 && Number(closed.fields.bytes_dst_to_src) > 0, closed.line)
  }, { limits: { max_circuit_duration_secs: DURATION_S } })
})

// ---- 5. no reservation -------------------------------------------------------------------------

test('auth on: a js node without a token is refused its reservation (PERMISSION_DENIED); auth off: it gets one', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay, track }) => {
    let node
    let listenErr
    try {
      node = await relayClient(relay, { listenOnRelay: true })
    } catch (err) {
      listenErr = err
    }
    if (node != null) {
      track(node)
      assert.fail(`a js node without a token listens on ${circuitListenAddr(relay)} with auth on: ${node.getMultiaddrs()}`)
    }
    assert.match(errorText(listenErr), /PERMISSION_DENIED/, `js's listen error does not say PERMISSION_DENIED: ${errorText(listenErr)}`)
    const denied = await relay.waitForLog(l => l.message === 'ReservationReqDenied', { what: 'ReservationReqDenied' })
    assert.equal(denied.fields.status, 'PERMISSION_DENIED', denied.line)
    assert.match(denied.fields.reason, /not authenticated/, denied.line)
  }, { auth: 'a-test-secret-of-more-than-32-bytes-0123456789' })
  await withRelay(async ({ relay, track }) => {
    const node = track(await relayClient(relay, { listenOnRelay: true }))
    await eventLog(relay, 'ReservationReqAccepted', { peer_id: node.peerId.toString() })
  })
})

test('dialling a peer without a reservation through the relay fails with NO_RESERVATION', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay, track }) => {
    // x is connected to the relay but holds no reservation; y was never seen by the relay
    const x = track(await relayClient(relay))
    const xId = x.peerId.toString()
    await x.dial(multiaddr(relay.tcp4), { signal: opSignal() })
    await relay.waitForLog(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === xId, { what: `ConnectionEstablished peer_id=${xId}` })
    const b = track(await relayClient(relay))
    const bId = b.peerId.toString()
    const y = (await relayClient(relay))
    const yId = y.peerId.toString()
    await stopJsNodes(y)

    for (const [id, who] of [[xId, 'connected peer without reservation'], [yId, 'unknown peer']]) {
      const addr = circuitAddrOf(relay, id)
      const err = await b.dial(addr, { signal: opSignal() }).then(() => null, e => e)
      assert.ok(err != null, `dialling the ${who} through the relay succeeded`)
      assert.match(errorText(err), /NO_RESERVATION/, `dial error for the ${who} does not say NO_RESERVATION: ${errorText(err)}`)
      const denied = await eventLog(relay, 'CircuitReqDenied', { src_peer_id: bId, dst_peer_id: id })
      assert.equal(denied.fields.status, 'NO_RESERVATION', denied.line)
    }
    assert.equal(countLogs(relay, 'CircuitReqAccepted'), 0, 'a circuit was accepted')
    // b's connection to the relay survives the refusals
    const rc = relayConnOf(b, relay)
    assert.equal(rc.status, 'open')
    await b.services.ping.ping(peerIdFromString(relay.peerId), { signal: opSignal() })
  })
})
