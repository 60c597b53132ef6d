// js_server.mjs: the js-libp2p node `make bench` compares our relay with (scripts/bench.sh).
//
//   node bench/js_server.mjs [--quic]
//
// A js-libp2p 3.x node as a js user writes it: TCP + Noise + Yamux, identify and ping, built by
// the interop harness's createJsNode (tests/interop/lib/jsnode.mjs, whose imports resolve from
// tests/interop/node_modules: run `tests/interop/run.sh --deps` first), listening on
// 127.0.0.1 port 0. With --quic it also listens on /ip4/127.0.0.1/udp/0/quic-v1 with
// @chainsafe/libp2p-quic (quinn + rustls, its default options), as tests/interop/quic.test.mjs
// builds js QUIC nodes (js_quic.mjs). Only the connection limits are raised so that it accepts 10k
// connections from one host: maxConnections 20000 (js prunes above it), inboundConnectionThreshold
// (5 per second per host by default) and maxIncomingPendingConnections (10 by default).
//
// js's connection monitor (on by default) is turned off unless JS_CONNECTION_MONITOR=1: it opens
// a ping stream on every connection every 10 s, so with thousands of held connections js spends
// its one core pinging (measured here: 5.7k connections reached in 240 s instead of 10k). Our
// relay's liveness check is a Yamux ping every 30 s (no stream); js's Yamux keepalive (also every
// 30 s) stays on, the equivalent.
//
// Prints "Listening on: <multiaddr>/p2p/<id>" per address (the relay's banner lines) and
// "pid <pid>", then runs until SIGTERM/SIGINT, when it stops the node (bounded) and exits 0.
import '../tests/interop/polyfill.mjs'
import { createJsNode } from '../tests/interop/lib/jsnode.mjs'
import { quicOptions } from './js_quic.mjs'
import { serve } from './js_serve.mjs'

const node = await createJsNode({
  ...await quicOptions(process.argv.includes('--quic')),
  init: {
    connectionManager: {
      maxConnections: 20_000,
      inboundConnectionThreshold: 1_000_000,
      maxIncomingPendingConnections: 20_000
    },
    connectionMonitor: { enabled: process.env.JS_CONNECTION_MONITOR === '1' }
  }
})

serve(node)
