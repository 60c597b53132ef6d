#!/usr/bin/env node
// peer.mjs: the js-libp2p interop peer, with the command line and JSON events of
// tests/interop/PEERS.md (one object per line on stdout, diagnostics on stderr). Built from the
// exactly pinned packages of tests/interop/package.json: TCP + Noise + Yamux, QUIC
// (@chainsafe/libp2p-quic), identify, ping, @libp2p/circuit-relay-v2's client transport.
//
//   node peer.mjs --relay MULTIADDR                          listen through the relay
//   node peer.mjs --relay MULTIADDR --dial PEER_ID [steps]   dial PEER_ID through the relay
//   node peer.mjs --dial MULTIADDR [steps]                   dial directly
//   node peer.mjs --relay MULTIADDR --reserve-only           reserve once and exit
//
// js-libp2p has no DCUtR client here: --holepunch exits 2 (usage) with a message.
import '../polyfill.mjs'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { quic } from '@chainsafe/libp2p-quic'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createJsNode } from '../lib/jsnode.mjs'

const EXIT = { OK: 0, FAIL: 1, USAGE: 2, TIMEOUT: 3, REFUSED: 4 }
const PROTO_ECHO = '/mesh-relay/echo/1.0.0'
const PROTO_SINK = '/mesh-relay/sink/1.0.0'
const PROTO_PING = '/ipfs/ping/1.0.0'
const STATUS_NAMES = ['RESERVATION_REFUSED', 'RESOURCE_LIMIT_EXCEEDED', 'PERMISSION_DENIED',
  'CONNECTION_FAILED', 'NO_RESERVATION', 'MALFORMED_MESSAGE', 'UNEXPECTED_MESSAGE']
const CHUNK = 65536

function emit (event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}

function diag (...a) {
  process.stderr.write(`peer.mjs: ${a.join(' ')}\n`)
}

// ---- options ---------------------------------------------------------------------------------

function usage (msg) {
  diag(msg)
  diag('usage: peer.mjs --relay MULTIADDR [--dial PEER_ID] | --dial MULTIADDR [--ping N] [--identify] ' +
    '[--echo-bytes N] [--send N] [--hold] [--reserve-only] [--refresh-log] [--reconnect] ' +
    '[--listen-addr MULTIADDR]... [--timeout SECS] (see tests/interop/PEERS.md)')
  process.exit(EXIT.USAGE)
}

function parseArgs (argv) {
  const o = { listenAddrs: [], ping: 0, identify: false, echoBytes: null, send: null, hold: false, reserveOnly: false, refreshLog: false, reconnect: false, holepunch: false, timeout: null }
  const count = (k, v, max) => {
    if (v == null || !/^\d+$/.test(v) || Number(v) > max) usage(`${k} takes a count of 0..${max}`)
    return Number(v)
  }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) usage(`${k} needs a value`)
      return argv[++i]
    }
    switch (k) {
      case '--relay': o.relay = v(); break
      case '--dial': o.dial = v(); break
      case '--listen-addr': o.listenAddrs.push(v()); break
      case '--holepunch': o.holepunch = true; break
      case '--direct-timeout': v(); break
      case '--ping': o.ping = count(k, v(), 1000); break
      case '--identify': o.identify = true; break
      case '--echo-bytes': o.echoBytes = count(k, v(), 1 << 30); break
      case '--send': o.send = count(k, v(), 2 ** 40); break
      case '--hold': o.hold = true; break
      case '--reserve-only': o.reserveOnly = true; break
      case '--refresh-log': o.refreshLog = true; break
      case '--reconnect': o.reconnect = true; break
      case '--timeout': o.timeout = count(k, v(), 86400); if (o.timeout === 0) usage('--timeout takes 1..86400'); break
      case '-h': case '--help': usage('help'); break
      default: usage(`unknown option ${k}`)
    }
  }
  if (o.holepunch) usage('--holepunch: js-libp2p has no DCUtR here (the js peer cannot hole punch)')
  for (const a of [o.relay, ...o.listenAddrs]) {
    if (a == null) continue
    try {
      multiaddr(a)
    } catch (err) {
      usage(`not a multiaddr: ${a} (${err.message})`)
    }
  }
  if (o.relay != null && !/\/p2p\/[^/]+$/.test(o.relay)) usage('--relay must end in /p2p/<relay id>')
  const steps = o.ping > 0 || o.identify || o.echoBytes != null || o.send != null || o.hold
  if (o.dial == null) {
    if (o.relay == null) usage('give --relay and/or --dial')
    if (steps) usage('--ping, --identify, --echo-bytes, --send and --hold need --dial')
    if (o.reserveOnly && o.timeout == null) o.timeout = 30
  } else {
    if (o.reserveOnly) usage('--reserve-only is for listening (no --dial)')
    if (o.dial.startsWith('/')) {
      try {
        multiaddr(o.dial)
      } catch (err) {
        usage(`not a multiaddr: ${o.dial} (${err.message})`)
      }
      if (!/\/p2p\/[^/]+$/.test(o.dial)) usage('--dial MULTIADDR must end in /p2p/<id>')
    } else if (o.relay == null) {
      usage('--dial PEER_ID needs --relay')
    }
    if (o.timeout == null) o.timeout = 30
  }
  return o
}

// ---- protocols served ------------------------------------------------------------------------

async function echoHandler (stream) {
  try {
    for await (const c of stream) {
      if (!stream.send(c)) await stream.onDrain()
    }
    await stream.close()
  } catch (err) {
    stream.abort(err)
  }
}

async function sinkHandler (stream) {
  try {
    let n = 0n
    for await (const c of stream) n += BigInt(c.byteLength)
    const out = Buffer.alloc(8)
    out.writeBigUInt64BE(n)
    stream.send(out)
    await stream.close()
  } catch (err) {
    stream.abort(err)
  }
}

// ---- steps -----------------------------------------------------------------------------------

async function readAll (stream) {
  const chunks = []
  for await (const c of stream) chunks.push(Buffer.from(c.subarray()))
  return Buffer.concat(chunks)
}

async function writeAll (stream, data, signal) {
  for (let off = 0; off < data.length; off += CHUNK) {
    if (!stream.send(data.subarray(off, off + CHUNK))) await stream.onDrain({ signal })
  }
  await stream.close({ signal })
}

async function echoStep (conn, n, signal) {
  const data = randomBytes(n)
  const stream = await conn.newStream(PROTO_ECHO, { runOnLimitedConnection: true, signal })
  const reading = readAll(stream)
  reading.catch(() => {})
  await writeAll(stream, data, signal)
  const back = await reading
  const ok = back.equals(data)
  let firstDiff
  if (!ok) {
    firstDiff = 0
    while (firstDiff < Math.min(back.length, data.length) && back[firstDiff] === data[firstDiff]) firstDiff++
  }
  emit('echo', { bytes: back.length, ok, ...(ok ? {} : { sent: n, first_difference_at: firstDiff }) })
  return ok
}

async function sendStep (conn, n, signal) {
  const stream = await conn.newStream(PROTO_SINK, { runOnLimitedConnection: true, signal })
  const reading = readAll(stream)
  reading.catch(() => {})
  const block = randomBytes(Math.min(n, CHUNK))
  let left = n
  while (left > 0) {
    const k = Math.min(left, block.length)
    if (!stream.send(block.subarray(0, k))) await stream.onDrain({ signal })
    left -= k
  }
  await stream.close({ signal })
  const reply = await reading
  const count = reply.length === 8 ? Number(reply.readBigUInt64BE()) : -1
  const ok = count === n
  emit('sent', { bytes: n, count, ok })
  return ok
}

// One ping on the connection itself: js's ping service opens its stream through the connection
// manager, which does not reuse a limited (relayed) connection and dials a new circuit instead.
async function pingStep (conn, signal) {
  const stream = await conn.newStream(PROTO_PING, { runOnLimitedConnection: true, signal })
  const data = randomBytes(32)
  const reading = readAll(stream)
  reading.catch(() => {})
  const t0 = performance.now()
  stream.send(data)
  await stream.close({ signal })
  const back = await reading
  const rtt = performance.now() - t0
  if (!back.equals(data)) throw new Error(`ping: ${back.length} bytes came back, not the 32 sent`)
  return Math.round(rtt * 1000) / 1000
}

async function identifyStep (node, conn, signal, automatic) {
  let r
  try {
    r = await node.services.identify.identify(conn, { signal })
  } catch (err) {
    // js allows one outbound identify stream per connection; the automatic identify on connecting
    // may still hold it: then its result is the answer.
    if (err.name !== 'TooManyOutboundProtocolStreamsError') throw err
    r = await automatic
  }
  emit('identify', {
    peer_id: r.peerId.toString(),
    ...(r.agentVersion != null ? { agent: r.agentVersion } : {}),
    ...(r.protocolVersion != null ? { protocol_version: r.protocolVersion } : {}),
    protocols: r.protocols ?? [],
    listen_addrs: (r.listenAddrs ?? []).map(String),
    ...(r.observedAddr != null ? { observed_addr: r.observedAddr.toString() } : {}),
    // identify rejects a record that does not verify (the whole identify fails); present = accepted
    signed_peer_record: r.signedPeerRecord != null
  })
}

function statusOf (err) {
  const m = /status (\w+)/.exec(err?.message ?? '')
  return m != null && STATUS_NAMES.includes(m[1]) ? m[1] : undefined
}

function errText (err) {
  return `${err?.name ?? 'Error'}: ${err?.message ?? err}`
}

function limitFields (conn) {
  const l = conn.limits
  if (l == null) return {}
  return {
    ...(l.seconds != null ? { limit_duration: l.seconds } : {}),
    ...(l.bytes != null ? { limit_data: Number(l.bytes) } : {})
  }
}

// ---- main ------------------------------------------------------------------------------------

const o = parseArgs(process.argv.slice(2))
const version = JSON.parse(readFileSync(new URL('../node_modules/libp2p/package.json', import.meta.url), 'utf8')).version
const relayPeer = o.relay != null ? multiaddr(o.relay).getComponents().find(c => c.name === 'p2p')?.value : undefined

let relayTransport = null
const relayFactory = circuitRelayTransport({ reservationCompletionTimeout: 15_000 })
const transports = [quic(), components => {
  relayTransport = relayFactory(components)
  return relayTransport
}]

const listening = o.dial == null
let node
try {
  node = await createJsNode({
    listenAddrs: [...(listening ? [`${o.relay}/p2p-circuit`] : []), ...o.listenAddrs],
    transports,
  })
} catch (err) {
  const status = statusOf(err) ?? statusOf(err?.errors?.[0]) ?? statusOf(err?.cause)
  if (listening) {
    emit('reservation_failed', { error: errText(err), ...(status ? { status } : {}) })
    process.exit(status ? EXIT.REFUSED : EXIT.FAIL)
  }
  emit('error', { error: errText(err) })
  process.exit(EXIT.FAIL)
}

let finished = false
async function finish (code) {
  if (finished) return
  finished = true
  const timer = setTimeout(() => process.exit(code), 5000)
  timer.unref()
  try {
    await node.stop()
  } catch {}
  process.exit(code)
}

for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => finish(EXIT.OK))
if (o.timeout != null) {
  setTimeout(() => {
    emit('error', { error: `timed out after ${o.timeout} s` })
    finish(EXIT.TIMEOUT)
  }, o.timeout * 1000).unref()
}

emit('started', { peer_id: node.peerId.toString(), impl: 'js', version })
for (const a of node.getMultiaddrs()) {
  if (!a.toString().includes('/p2p-circuit')) emit('listen_addr', { addr: a.toString() })
}

const isRelayed = c => c.remoteAddr.toString().includes('/p2p-circuit')
const openedAt = new Map()
for (const c of node.getConnections()) { // opened by start() (listening: the relay)
  openedAt.set(c.id, Date.now())
  emit('connected', { peer_id: c.remotePeer.toString(), addr: c.remoteAddr.toString(), relayed: isRelayed(c) })
}
node.addEventListener('connection:open', ({ detail: c }) => {
  openedAt.set(c.id, Date.now())
  emit('connected', { peer_id: c.remotePeer.toString(), addr: c.remoteAddr.toString(), relayed: isRelayed(c) })
  if (listening && isRelayed(c) && c.direction === 'inbound') {
    emit('incoming', { peer_id: c.remotePeer.toString(), addr: c.remoteAddr.toString(), ...limitFields(c) })
  }
})
node.addEventListener('connection:close', ({ detail: c }) => {
  if (finished) return
  const t0 = openedAt.get(c.id)
  emit('closed', { peer_id: c.remotePeer.toString(), relayed: isRelayed(c), ...(t0 != null ? { after_ms: Date.now() - t0 } : {}) })
})

await node.handle(PROTO_ECHO, (s) => echoHandler(s), { runOnLimitedConnection: true })
await node.handle(PROTO_SINK, (s) => sinkHandler(s), { runOnLimitedConnection: true })

if (listening) {
  // the first reservation happened inside start() (listen on <relay>/p2p-circuit)
  const store = relayTransport?.reservationStore
  const reservedEvent = (res, renewal) => {
    const r = res ?? store?.getReservation(peerIdFromString(relayPeer))
    if (r == null) return false
    emit('reserved', {
      relay: relayPeer,
      addrs: (r.addrs ?? []).map(b => multiaddr(b).encapsulate('/p2p-circuit').toString()),
      expire: Number(r.expire),
      renewal
    })
    return true
  }
  if (!reservedEvent(null, false)) {
    emit('reservation_failed', { error: 'no reservation on the relay after listening' })
    await finish(EXIT.FAIL)
  }
  const self = node.peerId.toString()
  const addr = node.getMultiaddrs().map(String).find(a => a === `${o.relay}/p2p-circuit/p2p/${self}`) ??
    `${o.relay}/p2p-circuit/p2p/${self}`
  emit('listening', { addr })
  store?.addEventListener('relay:created-reservation', ({ detail }) => {
    if (o.refreshLog && detail.relay.toString() === relayPeer) reservedEvent(detail.details.reservation, true)
  })
  if (o.reserveOnly) await finish(EXIT.OK)
  store?.addEventListener('relay:removed', async ({ detail }) => {
    if (detail.relay.toString() !== relayPeer || finished) return
    emit('reservation_failed', { error: 'reservation lost (relay:removed)' })
    if (!o.reconnect) return
    for (let i = 0; i < 3600 && !finished; i++) {
      await new Promise(resolve => setTimeout(resolve, 1000))
      try {
        await node.stop()
        await node.start()
        if (reservedEvent(null, false)) {
          emit('listening', { addr })
          return
        }
      } catch (err) {
        emit('reservation_failed', { error: errText(err), ...(statusOf(err) ? { status: statusOf(err) } : {}) })
      }
    }
  })
} else {
  const signal = AbortSignal.timeout(o.timeout * 1000)
  let conn
  const target = o.dial.startsWith('/') ? o.dial : `${o.relay}/p2p-circuit/p2p/${o.dial}`
  const targetPeer = multiaddr(target).getComponents().filter(c => c.name === 'p2p').pop()?.value
  const automatic = new Promise(resolve => {
    node.addEventListener('peer:identify', ({ detail }) => {
      if (conn != null && detail.connection?.id === conn.id) resolve(detail)
    })
  })
  try {
    conn = await node.dial(multiaddr(target), { signal })
  } catch (err) {
    const status = statusOf(err) ?? statusOf(err?.errors?.[0]) ?? statusOf(err?.cause)
    emit('dial_failed', { error: errText(err), ...(status ? { status } : {}) })
    await finish(status ? EXIT.REFUSED : EXIT.FAIL)
  }
  if (conn.remotePeer.toString() !== targetPeer) {
    emit('error', { error: `connected to ${conn.remotePeer}, not ${targetPeer}` })
    await finish(EXIT.FAIL)
  }
  if (isRelayed(conn)) emit('circuit', { peer_id: conn.remotePeer.toString(), addr: conn.remoteAddr.toString(), ...limitFields(conn) })
  let ok = true
  try {
    for (let i = 0; i < o.ping; i++) {
      emit('ping', { rtt_ms: await pingStep(conn, signal) })
    }
    if (o.identify) await identifyStep(node, conn, signal, automatic)
    if (o.echoBytes != null) ok = (await echoStep(conn, o.echoBytes, signal)) && ok
    if (o.send != null) ok = (await sendStep(conn, o.send, signal)) && ok
  } catch (err) {
    emit('error', { error: errText(err) })
    await finish(signal.aborted ? EXIT.TIMEOUT : EXIT.FAIL)
  }
  if (o.hold && ok) {
    // the 'closed' event comes from the connection:close listener above
    await new Promise(resolve => {
      if (conn.status !== 'open') resolve()
      node.addEventListener('connection:close', ({ detail }) => {
        if (detail.id === conn.id) setImmediate(resolve)
      })
    })
  }
  await finish(ok ? EXIT.OK : EXIT.FAIL)
}
