// jsnode.mjs: js-libp2p nodes configured the way a js user would: TCP + Noise + Yamux, identify
// and ping, defaults otherwise; only the limits that throttle many loopback connections are
// raised (js allows 5 inbound connections per second per host and 10 pending by default).
import './env.mjs'
import { readFileSync } from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { OP_TIMEOUT_MS, withTimeout } from './env.mjs'
import { procSockets } from './procnet.mjs'

export const PROTO_IDENTIFY = '/ipfs/id/1.0.0'
export const PROTO_PING = '/ipfs/ping/1.0.0'
export const PROTO_HOP = '/libp2p/circuit/relay/0.2.0/hop'
export const PROTO_STOP = '/libp2p/circuit/relay/0.2.0/stop'

/** The agentVersion js-libp2p sends by default ("js-libp2p/<version> node/<node version>"). */
export function jsAgentVersion () {
  const src = readFileSync(new URL('../node_modules/libp2p/dist/src/version.js', import.meta.url), 'utf8')
  const version = /version = '([^']+)'/.exec(src)?.[1]
  const name = /name = '([^']+)'/.exec(src)?.[1]
  return `${name}/${version} node/${process.versions.node}`
}

/** { proto: 'ip4' | 'ip6', host, port (number), peerId } of a TCP multiaddr (string or Multiaddr). */
export function tcpParts (addr) {
  const c = multiaddr(addr.toString()).getComponents()
  const ip = c.find(x => x.name === 'ip4' || x.name === 'ip6')
  const tcpc = c.find(x => x.name === 'tcp')
  return {
    proto: ip?.name,
    host: ip?.value,
    port: tcpc != null ? Number(tcpc.value) : undefined,
    peerId: c.find(x => x.name === 'p2p')?.value
  }
}

/**
 * createLibp2p with the interop defaults, started. Options:
 *   listen     listen on /ip4/127.0.0.1/tcp/0 (default false: dial-only)
 *   listenAddrs explicit listen addresses (overrides `listen`)
 *   services   extra services merged into { identify, ping }
 *   transports extra transports appended to [tcp()]
 *   init       anything else merged into the createLibp2p options
 */
export async function createJsNode ({ listen = false, listenAddrs, services = {}, transports = [], init = {} } = {}) {
  const node = await createLibp2p({
    addresses: {
      listen: listenAddrs ?? (listen ? ['/ip4/127.0.0.1/tcp/0'] : [])
    },
    transports: [tcp(), ...transports],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      // several concurrent pings on one connection: raise the per-connection stream limits (1/2)
      ping: ping({ maxOutboundStreams: 256, maxInboundStreams: 256 }),
      ...services
    },
    connectionManager: {
      maxConnections: 10_000,
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: 10_000,
      maxParallelDials: 500,
      maxDialQueueLength: 10_000,
      ...(init.connectionManager ?? {})
    },
    connectionGater: {
      // loopback only in tests, and js must be allowed to dial it
      denyDialMultiaddr: async () => false,
      ...(init.connectionGater ?? {})
    },
    ...Object.fromEntries(Object.entries(init).filter(([k]) => k !== 'connectionManager' && k !== 'connectionGater'))
  })
  await node.start()
  return node
}

/** Stop js nodes; never throws (used in finally blocks), bounded. */
export async function stopJsNodes (...nodes) {
  await Promise.all(nodes.filter(n => n != null).map(n =>
    withTimeout(n.stop(), OP_TIMEOUT_MS, 'libp2p.stop()').catch(() => {})))
}

/**
 * Resolve with the detail of the first `event` on `target` (a libp2p node or any EventTarget)
 * for which `pred(detail)` holds; reject after `timeoutMs`. Attach BEFORE triggering the event.
 */
export function waitForEvent (target, event, pred = () => true, { timeoutMs = OP_TIMEOUT_MS } = {}) {
  let listener
  const p = new Promise(resolve => {
    listener = evt => {
      if (pred(evt.detail)) resolve(evt.detail)
    }
    target.addEventListener(event, listener)
  })
  const r = withTimeout(p, timeoutMs, `waiting for '${event}'`).finally(() => target.removeEventListener(event, listener))
  r.catch(() => {}) // a test that fails before awaiting this must not see an unhandled rejection
  return r
}

/** AbortSignal for one libp2p operation. */
export function opSignal (ms = OP_TIMEOUT_MS) {
  return AbortSignal.timeout(ms)
}

/**
 * The local TCP endpoints ({ ip, port }) of this process's established sockets whose remote port
 * is `remotePort`, read from /proc (the kernel's view, independent of libp2p internals). Used
 * to know js's own address as the relay sees it (identify observedAddr).
 */
export function ownTcpEndpointsTo (remotePort) {
  return procSockets(process.pid)
    .filter(s => s.proto === 'tcp' && s.state === '01' && s.remotePort === remotePort)
    .map(s => ({ ip: s.ip, port: s.port }))
}

/**
 * Issue 11, item 10: js identifies the relay by itself on connecting (identify's
 * runOnConnectionOpen), and the user asks again explicitly right after connecting. js allows one
 * outbound identify stream per connection and counts the automatic one until it is closed, which
 * needs the relay's FIN: a relay that holds its FIN back (ours did, 100 ms) makes the explicit
 * one fail with TooManyOutboundProtocolStreamsError. `rounds` fresh js nodes from `makeNode()`
 * each dial `addr`, ping once (one round trip), identify explicitly, and must also see the
 * automatic identify complete. Resolves with the explicit results.
 */
export async function identifyRightAfterConnecting (makeNode, addr, relayPeerId, { rounds = 3 } = {}) {
  const results = []
  for (let i = 0; i < rounds; i++) {
    const node = await makeNode()
    try {
      const auto = waitForEvent(node, 'peer:identify', r => r.peerId.toString() === relayPeerId)
      const conn = await node.dial(multiaddr(addr), { signal: opSignal() })
      await node.services.ping.ping(conn.remotePeer, { signal: opSignal() })
      let id
      try {
        id = await node.services.identify.identify(conn, { signal: opSignal() })
      } catch (err) {
        throw new Error(`round ${i + 1}: js's explicit identify right after connecting failed: ${err.name}: ${err.message}`, { cause: err })
      }
      const automatic = await auto
      if (automatic.agentVersion !== id.agentVersion) throw new Error(`round ${i + 1}: automatic identify saw ${automatic.agentVersion}, explicit ${id.agentVersion}`)
      results.push(id)
    } finally {
      await stopJsNodes(node)
    }
  }
  return results
}
