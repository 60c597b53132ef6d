// stream_flood_worker.mjs: robustness case 6's attacker, a js-libp2p peer in a worker thread, so
// that the event loop its stream flood blocks (js needs seconds to set up tens of thousands of
// streams) is not the test's, where the good peer keeps pinging the relay.
//
//   new Worker(new URL('./stream_flood_worker.mjs', import.meta.url), { workerData: { addr, n } })
//
// Posts { peerId } once connected (wait for ConnectionEstablished, then post 'go' back), then
// { ms, ok, errors, status, echoed } after opening `n` ping streams at once on the one connection
// (ok: how many were negotiated; echoed: a ping on the first of them came back, when the
// connection is still open), and stops its node.
import '../polyfill.mjs'
import { randomBytes } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { PROTO_PING, createJsNode, opSignal, stopJsNodes } from './jsnode.mjs'

const { addr, n } = workerData
// no ping service of its own, so only the per-call maxOutboundStreams limits js
const node = await createJsNode({ init: { services: {}, streamMuxers: [yamux({ maxOutboundStreams: n + 1000 })] } })
try {
  const conn = await node.dial(multiaddr(addr), { signal: opSignal() })
  const go = new Promise(resolve => parentPort.once('message', resolve))
  parentPort.postMessage({ peerId: node.peerId.toString() })
  await go
  const t0 = performance.now()
  const results = await Promise.allSettled(Array.from({ length: n }, () =>
    conn.newStream(PROTO_PING, { maxOutboundStreams: n + 1000, runOnLimitedConnection: true, signal: AbortSignal.timeout(60_000) })))
  const ms = Math.round(performance.now() - t0)
  const ok = results.filter(r => r.status === 'fulfilled').map(r => r.value)
  const errors = new Map()
  for (const r of results.filter(r => r.status === 'rejected')) {
    const k = `${r.reason?.name}: ${r.reason?.message}`.slice(0, 120)
    errors.set(k, (errors.get(k) ?? 0) + 1)
  }
  let echoed = null
  if (conn.status === 'open' && ok.length > 0) {
    const payload = randomBytes(32)
    ok[0].send(payload)
    const echo = await (async () => {
      for await (const chunk of ok[0]) return chunk.subarray()
    })()
    echoed = echo != null && Buffer.from(echo).equals(payload)
  }
  parentPort.postMessage({ ms, ok: ok.length, errors: [...errors], status: conn.status, echoed })
} catch (err) {
  parentPort.postMessage({ error: `${err.name}: ${err.message}` })
} finally {
  await stopJsNodes(node)
}
