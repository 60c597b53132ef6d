// js_relay.mjs: the js-libp2p Circuit Relay v2 server `make bench` compares our relay with
// (scripts/bench.sh, "Relay" section).
//
//   node bench/js_relay.mjs [--quic]
//
// The js node of js_server.mjs (tests/interop/lib/jsnode.mjs: TCP + Noise + Yamux, identify, ping;
// connection monitor off) plus circuitRelayServer from @libp2p/circuit-relay-v2, with the limits
// that would cap a benchmark raised: reservations.applyDefaultLimit false (no 2 min / 128 KiB
// circuit limit: unlimited circuits), maxReservations 1e6, 256 hop streams per connection.
// With --quic it also listens on QUIC (as js_server.mjs --quic, see js_quic.mjs).
//
// Prints "Listening on: <multiaddr>/p2p/<id>" and "pid <pid>", then runs until SIGTERM/SIGINT.
import '../tests/interop/polyfill.mjs'
import { circuitRelayServer } from '../tests/interop/node_modules/@libp2p/circuit-relay-v2/dist/src/index.js'
import { createJsNode } from '../tests/interop/lib/jsnode.mjs'
import { quicOptions } from './js_quic.mjs'
import { serve } from './js_serve.mjs'

const node = await createJsNode({
  ...await quicOptions(process.argv.includes('--quic')),
  services: {
    relay: circuitRelayServer({
      maxInboundHopStreams: 256,
      reservations: {
        maxReservations: 1_000_000,
        applyDefaultLimit: false
      }
    })
  },
  init: {
    connectionManager: {
      maxConnections: 20_000,
      inboundConnectionThreshold: 1_000_000,
      maxIncomingPendingConnections: 20_000
    },
    connectionMonitor: { enabled: false }
  }
})

serve(node)
