// quic.test.mjs: js-libp2p over QUIC (@chainsafe/libp2p-quic: quinn + rustls + rust-libp2p's
// libp2p-tls) against our QUIC transport (ngtcp2 + GnuTLS, src/transport/quic): a js node pings
// and identifies the relay over QUIC; a js node reserves over QUIC and is dialled through the
// relay by a js node over TCP and by one over QUIC (a TCP-to-QUIC and a QUIC-to-QUIC circuit),
// echo verified byte for byte; our test_client dials a js QUIC node directly. The relay must exit
// 0 after each test (under ASan: no leak, no UB).
import './polyfill.mjs'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { quic } from '@chainsafe/libp2p-quic'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  PROTO_ECHO, PROTO_HOP, TEST_CLIENT_BIN, annotate, createJsNode, echoHandler, echoOver, identifyRightAfterConnecting, loopbackConfig,
  opSignal, runTestClient, startRelay, stopJsNodes, testClientBuilt, waitUntil
} from './lib/index.mjs'

/**
 * Run `fn({ relay, track })` with a relay listening on QUIC too; it must exit 0 afterwards.
 * `network`: more lines for its [network] section.
 */
async function withQuicRelay (fn, { network = [] } = {}) {
  const relay = await startRelay({ config: loopbackConfig({ quic: true, network }) })
  const nodes = []
  const track = n => { nodes.push(n); return n }
  try {
    assert.ok(relay.quic4, `the relay printed no /ip4 QUIC address: ${JSON.stringify(relay.addrs)}`)
    await fn({ relay, track })
    assert.ok(relay.running(), 'the relay exited during the test')
  } catch (err) {
    await stopJsNodes(...nodes)
    await relay.stop()
    throw annotate(err, relay.describe())
  }
  await stopJsNodes(...nodes)
  const r = await relay.stop()
  assert.ok(!r.killed && r.code === 0, `relay did not exit cleanly after SIGTERM: ${JSON.stringify(r)}\n${relay.describe()}`)
}

function logged (relay, message, fields) {
  const pred = l => l.message === message && Object.entries(fields).every(([k, v]) => l.fields[k] === v)
  return relay.waitForLog(pred, { what: `${message} ${JSON.stringify(fields)}` })
}

test('js pings and identifies the relay over QUIC', { timeout: 60_000 }, async () => {
  await withQuicRelay(async ({ relay, track }) => {
    const js = track(await createJsNode({ transports: [quic()] }))
    const rtt = await js.services.ping.ping(multiaddr(relay.quic4), { signal: opSignal() })
    assert.ok(Number.isFinite(rtt) && rtt >= 0, `ping rtt ${rtt}`)
    const conn = js.getConnections(peerIdFromString(relay.peerId)).find(c => c.status === 'open')
    assert.ok(conn, 'js has no open connection to the relay')
    assert.match(conn.remoteAddr.toString(), /\/udp\/\d+\/quic-v1\//, `not over QUIC: ${conn.remoteAddr}`)
    // identify (run by js on every new connection): our agent and the hop protocol
    const peer = await waitUntil(async () => {
      const p = await js.peerStore.get(conn.remotePeer)
      return p.protocols.includes(PROTO_HOP) ? p : null
    }, { what: 'identify over QUIC (the hop protocol in js peer store)' })
    const agent = new TextDecoder().decode(peer.metadata.get('AgentVersion'))
    assert.match(agent, /^mesh-relay\//, `agent ${agent}`)
    assert.ok(peer.addresses.some(a => a.multiaddr.toString().includes('/quic-v1')),
      `identify listen addrs lack QUIC: ${peer.addresses.map(a => a.multiaddr.toString())}`)
    const est = await logged(relay, 'ConnectionEstablished', { peer_id: js.peerId.toString(), transport: 'quic-v1' })
    assert.match(est.fields.endpoint, /send_back_addr: \/ip4\/127\.0\.0\.1\/udp\/\d+\/quic-v1/, est.line)
  })
})

test('js identifies the relay over QUIC automatically on connecting and explicitly right after (issue 11, item 10)', { timeout: 60_000 }, async () => {
  await withQuicRelay(async ({ relay, track }) => {
    const ids = await identifyRightAfterConnecting(async () => track(await createJsNode({ transports: [quic()] })), relay.quic4, relay.peerId)
    for (const id of ids) assert.ok(id.agentVersion?.startsWith('mesh-relay/'), `agentVersion ${id.agentVersion}`)
  })
})

test('js connects through a Retry when the relay validates addresses (max_pending_handshakes = 3)', { timeout: 60_000 }, async () => {
  // A quarter of 3 handshake slots is 0 for unproven addresses: every QUIC client must first
  // answer a Retry (RFC 9000 8.1.2) and come back with the token; quinn does that by itself.
  await withQuicRelay(async ({ relay, track }) => {
    const js = track(await createJsNode({ transports: [quic()] }))
    const rtt = await js.services.ping.ping(multiaddr(relay.quic4), { signal: opSignal() })
    assert.ok(Number.isFinite(rtt) && rtt >= 0, `ping rtt ${rtt}`)
    await relay.waitForLog(l => l.message === 'Retry sent', { what: 'Retry sent' })
    await relay.waitForLog(l => l.message === 'Inbound connection' && l.fields.reason === 'quic, address validated by retry',
      { what: 'an inbound QUIC connection validated by its Retry token' })
    await logged(relay, 'ConnectionEstablished', { peer_id: js.peerId.toString(), transport: 'quic-v1' })
  }, { network: ['max_pending_handshakes = 3'] })
})

test('js reserves over QUIC and is dialled through the relay over TCP and over QUIC (echo)', { timeout: 60_000 }, async () => {
  await withQuicRelay(async ({ relay, track }) => {
    const a = track(await createJsNode({
      listenAddrs: [`${relay.quic4}/p2p-circuit`],
      transports: [quic(), circuitRelayTransport()]
    }))
    a.echoed = new Map()
    await a.handle(PROTO_ECHO, (stream, connection) => echoHandler(a, stream, connection), { runOnLimitedConnection: true })
    const aId = a.peerId.toString()
    await logged(relay, 'ReservationReqAccepted', { peer_id: aId })
    const viaQuic = `${relay.quic4}/p2p-circuit/p2p/${aId}`
    await waitUntil(() => a.getMultiaddrs().map(String).includes(viaQuic), { what: `js advertising ${viaQuic}` })

    const cases = [
      { name: 'TCP', transports: [circuitRelayTransport()], addr: `${relay.tcp4}/p2p-circuit/p2p/${aId}` },
      { name: 'QUIC', transports: [quic(), circuitRelayTransport()], addr: viaQuic }
    ]
    for (const c of cases) {
      const b = track(await createJsNode({ transports: c.transports }))
      const conn = await b.dial(multiaddr(c.addr), { signal: opSignal() })
      const data = randomBytes(200_000)
      const back = await echoOver(conn, data)
      assert.ok(back.equals(data), `${c.name} -> QUIC: echoed ${back.length} of ${data.length} bytes, or different`)
      const bId = b.peerId.toString()
      await logged(relay, 'CircuitReqAccepted', { src_peer_id: bId, dst_peer_id: aId })
      const relayConn = b.getConnections(peerIdFromString(relay.peerId)).find(x => !x.remoteAddr.toString().includes('/p2p-circuit'))
      assert.ok(relayConn, `B (${c.name}) has no direct relay connection`)
      assert.equal(relayConn.remoteAddr.toString().includes('/quic-v1'), c.name === 'QUIC', relayConn.remoteAddr.toString())
    }
  })
})

test('test_client dials a js QUIC node directly (--dial .../quic-v1/p2p/<id> --ping 2 --identify)', { timeout: 60_000 }, async () => {
  if (!testClientBuilt()) assert.fail(`test_client not built (${TEST_CLIENT_BIN} does not exist)`)
  const js = await createJsNode({ listenAddrs: ['/ip4/127.0.0.1/udp/0/quic-v1'], transports: [quic()] })
  try {
    const addr = js.getMultiaddrs().map(String).find(a => a.includes('/quic-v1'))
    assert.ok(addr, `js node has no QUIC address: ${js.getMultiaddrs()}`)
    const r = await runTestClient(['--dial', addr, '--ping', '2', '--identify'], { timeoutMs: 45_000 })
    const out = `test_client exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
    assert.equal(r.code, 0, out)
    assert.ok(r.lines.includes(`connected peer_id=${js.peerId}`), out)
    assert.equal(r.lines.filter(l => /^ping rtt_ms=[0-9.]+$/.test(l)).length, 2, out)
    assert.ok(r.lines.some(l => /^identify agent=js-libp2p\/\S+ .*observed_addr=\/ip4\/127\.0\.0\.1\/udp\/\d+\/quic-v1/.test(l)), out)
  } finally {
    await stopJsNodes(js)
  }
})
