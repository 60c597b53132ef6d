// tcp.test.mjs: js-libp2p against our relay over TCP (issue 3): Noise + Yamux + Identify + Ping,
// the relay's connection events, and our C client (test_client) against a js node.
//
// Each test starts its own relay (private HOME, loopback port 0) and js node(s), and stops them in
// `finally`; the relay must then exit 0 on SIGTERM (under ASan this also catches leaks and UB).
// Run by hand: see README.md in this directory.
import './polyfill.mjs'
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, test } from 'node:test'
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  PROTO_IDENTIFY, PROTO_PING, TEST_CLIENT_BIN, annotate, createJsNode, hasIPv6Loopback, identifyRightAfterConnecting, jsAgentVersion,
  opSignal, ownTcpEndpointsTo, runTestClient, startRelay, stopJsNodes, tcpParts, testClientBuilt,
  waitForEvent, withoutPeerId
} from './lib/index.mjs'

const NOISE = '/noise'
const YAMUX = '/yamux/1.0.0'

/**
 * Run `fn({ relay, node })` with a fresh relay and a fresh dial-only js node; always stop both.
 * When `fn` succeeds, the relay must still be running and must exit 0 after SIGTERM.
 * Failures carry the relay's output tail.
 */
async function withRelay (fn, { node: nodeOpts = {} } = {}) {
  const relay = await startRelay()
  let node
  try {
    node = await createJsNode(nodeOpts)
    await fn({ relay, node })
    assert.ok(relay.running(), 'the relay exited during the test')
  } catch (err) {
    await stopJsNodes(node)
    await relay.stop()
    throw annotate(err, relay.describe())
  }
  await stopJsNodes(node)
  const r = await relay.stop()
  assert.ok(!r.killed && r.code === 0,
    `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${relay.describe()}`)
}

/** One js ping of `peer`, naming the operation in the error. */
async function pingRelay (node, peer, what = 'ping') {
  try {
    return await node.services.ping.ping(peer, { signal: opSignal() })
  } catch (err) {
    throw new Error(`js ${what} of the relay failed: ${err.name}: ${err.message}`, { cause: err })
  }
}

/** Dial `addr`, naming the operation in the error (the relay may not speak libp2p yet). */
async function dialRelay (node, addr, relay) {
  try {
    return await node.dial(multiaddr(addr), { signal: opSignal() })
  } catch (err) {
    throw new Error(`js could not open a libp2p connection (tcp + noise + yamux) to the relay at ${addr}: ${err.name}: ${err.message}`, { cause: err })
  }
}

describe('js dials the relay over TCP', () => {
  for (const family of ['ip4', 'ip6']) {
    const skip = family === 'ip6' && !hasIPv6Loopback() ? '::1 is not available here' : false
    test(`connect over /${family} loopback; the Noise-authenticated PeerId is the banner's`, { timeout: 60_000, skip }, async () => {
      await withRelay(async ({ relay, node }) => {
        const addr = family === 'ip4' ? relay.tcp4 : relay.tcp6
        assert.ok(addr, `relay banner has no /${family}/.../tcp address: ${relay.addrs}`)
        // dial without /p2p so js accepts whichever key the relay proves in Noise, then compare
        const conn = await dialRelay(node, withoutPeerId(addr), relay)
        assert.equal(conn.remotePeer.toString(), relay.peerId, 'remote PeerId (from Noise) != banner PeerId')
        assert.equal(conn.status, 'open')
        assert.equal(conn.encryption, NOISE)
        assert.equal(conn.multiplexer, YAMUX)
        assert.equal(tcpParts(conn.remoteAddr).host, tcpParts(addr).host)
        // and a dial that names the PeerId reuses / matches it
        const again = await dialRelay(node, addr, relay)
        assert.equal(again.remotePeer.toString(), relay.peerId)
        // the connection is usable
        await pingRelay(node, conn.remotePeer)
      })
    })
  }
})

test('js pings the relay', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay, node }) => {
    const conn = await dialRelay(node, relay.tcp4, relay)
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      const rtt = await pingRelay(node, conn.remotePeer, `ping #${i + 1}`)
      const wall = performance.now() - t0
      // js measures with Date.now() (whole ms; 0 is common on loopback): check it is a sane
      // number, and that a real round trip happened by our own sub-ms clock
      assert.ok(Number.isFinite(rtt) && rtt >= 0, `ping rtt ${rtt}`)
      assert.ok(wall > 0, `ping wall time ${wall}`)
    }
    assert.equal(conn.status, 'open')
  })
})

test('js identifies the relay', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay, node }) => {
    const relayId = peerIdFromString(relay.peerId)
    const identified = waitForEvent(node, 'peer:identify', r => r.peerId.equals(relayId))
    const conn = await dialRelay(node, relay.tcp4, relay)
    let id
    try {
      id = await identified
    } catch (err) {
      throw new Error(`js's identify of the relay did not complete (no peer:identify event): ${err.message}`)
    }

    assert.equal(id.peerId.toString(), relay.peerId)
    assert.ok(id.agentVersion?.startsWith('mesh-relay/'), `agentVersion ${id.agentVersion}`)
    assert.equal(id.protocolVersion, 'ipfs/0.1.0')
    for (const p of [PROTO_IDENTIFY, PROTO_PING]) {
      assert.ok(id.protocols.includes(p), `protocols ${JSON.stringify(id.protocols)} lack ${p}`)
    }

    // listenAddrs: non-empty, and they include the addresses of the banner
    const listen = id.listenAddrs.map(a => withoutPeerId(a))
    assert.ok(listen.length > 0, 'identify listenAddrs is empty')
    for (const a of [relay.tcp4, relay.tcp6].filter(a => a != null)) {
      assert.ok(listen.includes(withoutPeerId(a)), `listenAddrs ${JSON.stringify(listen)} lack ${withoutPeerId(a)}`)
    }

    // observedAddr: js's own end of this TCP connection, as the kernel reports it
    assert.ok(id.observedAddr, 'identify has no observedAddr')
    const mine = ownTcpEndpointsTo(tcpParts(relay.tcp4).port)
    assert.equal(mine.length, 1, `js sockets to the relay: ${JSON.stringify(mine)}`)
    const obs = tcpParts(id.observedAddr)
    assert.equal(obs.proto, 'ip4', `observedAddr ${id.observedAddr}`)
    assert.deepEqual([obs.host, obs.port], [mine[0].ip, mine[0].port], `observedAddr ${id.observedAddr} != js's ${mine[0].ip}:${mine[0].port}`)
    if (obs.peerId != null) assert.equal(obs.peerId, node.peerId.toString())

    // the public key: sent, and it is the key of the banner's PeerId (js checked it before the
    // event; check it again here, and that js stored it)
    assert.ok(id.publicKey instanceof Uint8Array && id.publicKey.length > 0, 'identify has no publicKey')
    const key = publicKeyFromProtobuf(id.publicKey)
    assert.equal(peerIdFromPublicKey(key).toString(), relay.peerId)
    const stored = await node.peerStore.get(relayId)
    assert.ok(stored.id.publicKey?.equals(key), 'peerStore has not the relay public key')
    assert.equal(stored.id.toString(), relay.peerId)
    for (const p of [PROTO_IDENTIFY, PROTO_PING]) assert.ok(stored.protocols.includes(p), `peerStore protocols ${stored.protocols}`)

    // a signed peer record is optional; when sent, js verified it and it must name our addresses
    if (id.signedPeerRecord != null) {
      const rec = id.signedPeerRecord.addresses.map(a => withoutPeerId(a))
      assert.ok(rec.includes(withoutPeerId(relay.tcp4)), `signed peer record addresses ${JSON.stringify(rec)}`)
    }

    // an explicit identify on the same connection works too
    const again = await node.services.identify.identify(conn, { signal: opSignal() })
    assert.equal(again.agentVersion, id.agentVersion)
  })
})

test('js identifies the relay automatically on connecting and explicitly right after (issue 11, item 10)', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay }) => {
    const ids = await identifyRightAfterConnecting(() => createJsNode(), relay.tcp4, relay.peerId)
    for (const id of ids) assert.ok(id.agentVersion?.startsWith('mesh-relay/'), `agentVersion ${id.agentVersion}`)
  })
})

test('many streams on one connection: 200 sequential and 50 concurrent', { timeout: 120_000 }, async () => {
  await withRelay(async ({ relay, node }) => {
    const conn = await dialRelay(node, relay.tcp4, relay)
    const peer = conn.remotePeer
    for (let i = 0; i < 200; i++) await pingRelay(node, peer, `sequential ping stream #${i + 1} (of 200)`)
    const results = await Promise.allSettled(Array.from({ length: 50 }, () =>
      node.services.ping.ping(peer, { signal: opSignal() })))
    const failed = results.filter(r => r.status === 'rejected')
    assert.equal(failed.length, 0, `${failed.length}/50 concurrent ping streams failed: ${failed[0]?.reason?.message}`)

    // still the same single healthy connection, and it still works
    const conns = node.getConnections(peer)
    assert.equal(conns.length, 1, `connections to the relay: ${conns.length}`)
    assert.equal(conns[0].id, conn.id)
    assert.equal(conn.status, 'open')
    await pingRelay(node, peer, 'ping after the 250 streams')
  })
})

test('the relay logs ConnectionEstablished and ConnectionClosed for a js peer', { timeout: 60_000 }, async () => {
  await withRelay(async ({ relay, node }) => {
    const jsId = node.peerId.toString()
    const conn = await dialRelay(node, relay.tcp4, relay)
    const up = await relay.waitForLog(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === jsId,
      { what: `ConnectionEstablished peer_id=${jsId}` })
    assert.equal(up.level, 'INFO')
    assert.equal(up.target, 'relay_server::events')
    assert.equal(up.fields.num_established, '1', up.line)
    assert.ok(up.fields.endpoint, `no endpoint field: ${up.line}`)
    assert.equal(relay.findLogs(l => l.message === 'ConnectionClosed' && l.fields.peer_id === jsId).length, 0,
      'ConnectionClosed logged before js hung up')

    await conn.close()
    const down = await relay.waitForLog(l => l.message === 'ConnectionClosed' && l.fields.peer_id === jsId,
      { what: `ConnectionClosed peer_id=${jsId}` })
    assert.equal(down.level, 'INFO')
    assert.equal(down.target, 'relay_server::events')
    assert.ok(relay.logs.indexOf(down) > relay.logs.indexOf(up))
  })
})

// Our C client against a js node. Interface of $RLY_BUILD_DIR/test_client (examples/test_client):
//   test_client --dial <multiaddr ending in /p2p/<id>> --ping 3 --identify
//   exit 0; stdout: "connected peer_id=<remote id>" (optional), exactly 3 lines
//   "ping rtt_ms=<float>", and one line "identify agent=<agentVersion> protocols=<a,b,...>", in
//   which further " key=value" fields may appear anywhere after agent (protocol_version,
//   listen_addrs, observed_addr, public_key_bytes: checked when present).
const IDENTIFY_KEYS = ['agent', 'protocol_version', 'protocols', 'listen_addrs', 'observed_addr', 'public_key_bytes']

/** Parse "identify agent=<may have spaces> k=v ..." by the known keys; null if not such a line. */
function parseIdentifyLine (line) {
  if (!line.startsWith('identify agent=')) return null
  const marks = []
  for (const k of IDENTIFY_KEYS) {
    const i = k === 'agent' ? line.indexOf('agent=') : line.indexOf(` ${k}=`)
    if (i >= 0) marks.push({ k, start: i + (k === 'agent' ? 0 : 1), vstart: i + (k === 'agent' ? 0 : 1) + k.length + 1 })
  }
  marks.sort((a, b) => a.start - b.start)
  const out = {}
  marks.forEach((m, j) => {
    const end = j + 1 < marks.length ? marks[j + 1].start - 1 : line.length
    out[m.k] = line.slice(m.vstart, end)
  })
  return out
}

test('our client (test_client) dials a js node: ping + identify', { timeout: 90_000 }, async () => {
  if (!testClientBuilt()) {
    assert.fail(`test_client not built (${TEST_CLIENT_BIN} does not exist)`)
  }
  let node
  try {
    node = await createJsNode({ listen: true })
    // count the pings js answers, per remote peer: wrap the ping service's own handler
    const pingsFrom = new Map()
    await node.unhandle(PROTO_PING)
    await node.handle(PROTO_PING, (stream, connection) => {
      const k = connection.remotePeer.toString()
      pingsFrom.set(k, (pingsFrom.get(k) ?? 0) + 1)
      return node.services.ping.handlePing(stream, connection)
    }, { maxInboundStreams: 256, maxOutboundStreams: 256 })

    const inbound = waitForEvent(node, 'connection:open', c => c.direction === 'inbound', { timeoutMs: 30_000 })
    const jsIdentified = []
    node.addEventListener('peer:identify', evt => jsIdentified.push(evt.detail))

    const target = node.getMultiaddrs().find(a => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
    assert.ok(target, `js listen addresses: ${node.getMultiaddrs()}`)
    assert.equal(tcpParts(target).peerId, node.peerId.toString())
    const r = await runTestClient(['--dial', target.toString(), '--ping', '3', '--identify'], { timeoutMs: 60_000 })
    const out = `test_client exit ${r.code} signal ${r.signal}${r.timedOut ? ' (killed after timeout)' : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
    assert.equal(r.code, 0, out)

    const rtts = r.lines.map(l => /^ping rtt_ms=([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)$/.exec(l)).filter(m => m != null).map(m => Number(m[1]))
    assert.equal(rtts.length, 3, `expected 3 "ping rtt_ms=<float>" lines\n${out}`)
    for (const v of rtts) assert.ok(Number.isFinite(v) && v > 0, `rtt_ms ${v}\n${out}`)

    const idLines = r.lines.map(parseIdentifyLine).filter(m => m != null)
    assert.equal(idLines.length, 1, `expected one "identify agent=... protocols=..." line\n${out}`)
    const idl = idLines[0]
    assert.equal(idl.agent, jsAgentVersion(), out)
    assert.ok(idl.protocols != null, `no protocols= in the identify line\n${out}`)
    const protos = idl.protocols.split(',')
    for (const p of [PROTO_IDENTIFY, PROTO_PING]) assert.ok(protos.includes(p), `client saw protocols ${idl.protocols}`)
    if (idl.protocol_version != null) assert.equal(idl.protocol_version, 'ipfs/0.1.0', out)
    if (idl.listen_addrs != null) {
      const la = idl.listen_addrs.split(',').filter(a => a !== '').map(a => withoutPeerId(a))
      assert.ok(la.includes(withoutPeerId(target)), `client saw listen_addrs ${idl.listen_addrs}, not ${withoutPeerId(target)}`)
    }
    if (idl.public_key_bytes != null) assert.ok(Number(idl.public_key_bytes) > 0, out)
    const connected = r.lines.map(l => /^connected peer_id=(\S+)$/.exec(l)).find(m => m != null)
    if (connected != null) assert.equal(connected[1], node.peerId.toString(), 'client reports another remote PeerId')

    // js side: the inbound connection came from the C peer, js answered its 3 pings, and js's
    // identify of the C client completed (its protocols are in js's peer store)
    const conn = await inbound
    const cPeer = conn.remotePeer
    assert.equal(conn.encryption, NOISE)
    assert.equal(conn.multiplexer, YAMUX)
    if (idl.observed_addr != null && idl.observed_addr !== '') {
      // what js told the client it saw: the client's own end of the TCP connection
      const o = tcpParts(idl.observed_addr)
      const seen = tcpParts(conn.remoteAddr)
      assert.deepEqual([o.host, o.port], [seen.host, seen.port], `client saw observed_addr ${idl.observed_addr}, js saw it as ${conn.remoteAddr}`)
    }
    assert.equal(pingsFrom.get(cPeer.toString()) ?? 0, 3, `pings js answered per peer: ${JSON.stringify([...pingsFrom])}`)
    const cId = jsIdentified.find(d => d.peerId.equals(cPeer))
    assert.ok(cId, `js's identify of the C client (${cPeer}) did not complete before it hung up`)
    const stored = await node.peerStore.get(cPeer)
    assert.ok(stored.protocols.length > 0, 'js peerStore has no protocols for the C client')
    assert.ok(stored.protocols.includes(PROTO_IDENTIFY), `C client protocols in js peerStore: ${stored.protocols}`)
  } finally {
    await stopJsNodes(node)
  }
})
