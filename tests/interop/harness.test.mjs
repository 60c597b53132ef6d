// harness.test.mjs: checks of the interop harness itself, independent of what the relay speaks:
// two js nodes over the same helpers (dial, ping, identify, observed address, many streams), and
// the relay lifecycle (banner parsing, logs, stop by PID, nothing left running).
import './polyfill.mjs'
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  PROTO_IDENTIFY, PROTO_PING, createJsNode, hasIPv6Loopback, isRunning, jsAgentVersion,
  livePids, loopbackConfig, opSignal, ownTcpEndpointsTo, parseLogLine, startRelay, stopJsNodes, tcpParts,
  waitForEvent
} from './lib/index.mjs'

describe('harness: js <-> js over the interop helpers', () => {
  test('dial, ping, identify (observedAddr = own endpoint), many streams', { timeout: 60_000 }, async () => {
    let a, b
    try {
      b = await createJsNode({ listen: true })
      a = await createJsNode()
      const bAddr = b.getMultiaddrs().find(ma => ma.toString().startsWith('/ip4/127.0.0.1/tcp/'))
      assert.ok(bAddr, `js listener address: ${b.getMultiaddrs()}`)

      const identified = waitForEvent(a, 'peer:identify', r => r.peerId.equals(b.peerId))
      const conn = await a.dial(bAddr, { signal: opSignal() })
      assert.ok(conn.remotePeer.equals(b.peerId))
      const id = await identified

      assert.equal(id.agentVersion, jsAgentVersion())
      assert.equal(id.protocolVersion, 'ipfs/0.1.0')
      assert.ok(id.protocols.includes(PROTO_IDENTIFY) && id.protocols.includes(PROTO_PING), String(id.protocols))
      const port = tcpParts(bAddr).port
      const mine = ownTcpEndpointsTo(port)
      assert.equal(mine.length, 1, `own sockets to port ${port}: ${JSON.stringify(mine)}`)
      const obs = tcpParts(id.observedAddr)
      assert.deepEqual([obs.host, obs.port], ['127.0.0.1', mine[0].port], `observedAddr ${id.observedAddr}`)

      for (let i = 0; i < 20; i++) {
        const rtt = await a.services.ping.ping(b.peerId, { signal: opSignal() })
        assert.ok(Number.isFinite(rtt) && rtt >= 0)
      }
      const rtts = await Promise.all(Array.from({ length: 50 }, () => a.services.ping.ping(b.peerId, { signal: opSignal() })))
      assert.equal(rtts.length, 50)
      assert.equal(a.getConnections(b.peerId).length, 1)
      assert.equal(conn.status, 'open')

      const closed = waitForEvent(b, 'peer:disconnect', p => p.equals(a.peerId))
      await conn.close()
      await closed
    } finally {
      await stopJsNodes(a, b)
    }
  })

  test('js dials js over /ip6 loopback', { timeout: 30_000, skip: !hasIPv6Loopback() && '::1 unavailable' }, async () => {
    let a, b
    try {
      b = await createJsNode({ listenAddrs: ['/ip6/::1/tcp/0'] })
      a = await createJsNode()
      const conn = await a.dial(b.getMultiaddrs()[0], { signal: opSignal() })
      assert.ok(conn.remotePeer.equals(b.peerId))
      await a.services.ping.ping(b.peerId, { signal: opSignal() })
    } finally {
      await stopJsNodes(a, b)
    }
  })
})

describe('harness: relay lifecycle', () => {
  test('parseLogLine reads the pretty format', () => {
    const r = parseLogLine('2026-11-24T20:46:15.123456Z  INFO relay_server::events: ConnectionEstablished peer_id=12D3KooWabc endpoint="Dialer { address: /ip4/1.2.3.4/tcp/1 }" num_established=1')
    assert.equal(r.level, 'INFO')
    assert.equal(r.target, 'relay_server::events')
    assert.equal(r.message, 'ConnectionEstablished')
    assert.deepEqual(r.fields, { peer_id: '12D3KooWabc', endpoint: 'Dialer { address: /ip4/1.2.3.4/tcp/1 }', num_established: '1' })
    const s = parseLogLine('2026-11-24T21:15:44.330290Z  INFO relay_server: Starting Mesh Relay Server version=0.1.0')
    assert.equal(s.message, 'Starting Mesh Relay Server')
    assert.equal(s.fields.version, '0.1.0')
    assert.equal(parseLogLine('2026-11-24T21:15:44.330290Z  INFO relay_server: Relay server stopped').message, 'Relay server stopped')
    assert.equal(parseLogLine('Listening on: /ip4/127.0.0.1/tcp/1'), null)
  })

  test('start: banner parsed, loopback only, logs collected; stop by PID', { timeout: 60_000 }, async () => {
    const relay = await startRelay()
    let stopped = false
    try {
      assert.match(relay.peerId, /^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/)
      assert.ok(relay.tcp4, relay.describe())
      for (const a of relay.addrs) {
        const p = tcpParts(a)
        assert.ok(['127.0.0.1', '::1'].includes(p.host), a)
        assert.equal(p.peerId, relay.peerId, a)
        assert.ok(p.port > 0, a)
      }
      if (hasIPv6Loopback()) assert.ok(relay.tcp6, relay.describe())
      const started = await relay.waitForLog(l => l.message === 'Listening', { what: 'Listening' })
      assert.equal(started.level, 'INFO')
      assert.ok(relay.addrs.includes(started.fields.address), started.line)
      assert.ok(relay.running())
      const r = await relay.stop()
      stopped = true
      assert.equal(r.killed, false, 'relay needed SIGKILL')
      assert.equal(r.code, 0, `relay exit after SIGTERM: ${JSON.stringify(r)}\n${relay.describe()}`)
      assert.ok(!isRunning(relay.child))
      assert.ok(relay.logs.some(l => l.message === 'Relay server stopped'), relay.describe())
    } finally {
      if (!stopped) await relay.stop()
    }
  })

  test('a relay that cannot start is reported with its output', { timeout: 30_000 }, async () => {
    let relay
    try {
      await assert.rejects(async () => { relay = await startRelay({ config: loopbackConfig({ extra: ['[nosuchsection]', 'x = 1'] }) }) },
        /exited before its banner[\s\S]*relay stderr/)
    } finally {
      await relay?.stop()
    }
  })

  test('nothing left running', () => {
    assert.deepEqual(livePids(), [])
  })
})
