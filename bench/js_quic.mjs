// js_quic.mjs: the listen addresses and transports of the bench's js nodes (js_server.mjs,
// js_relay.mjs): TCP on 127.0.0.1 port 0 and, with --quic, QUIC v1 beside it through
// @chainsafe/libp2p-quic with its default options, as tests/interop/quic.test.mjs builds js QUIC
// nodes. The package is loaded only when asked for (it is a native module).
const TCP_LISTEN = '/ip4/127.0.0.1/tcp/0'
const QUIC_LISTEN = '/ip4/127.0.0.1/udp/0/quic-v1'

/** createJsNode options: { listenAddrs, transports } for TCP alone or TCP + QUIC. */
export async function quicOptions (withQuic) {
  if (!withQuic) return { listenAddrs: [TCP_LISTEN] }
  const { quic } = await import('../tests/interop/node_modules/@chainsafe/libp2p-quic/dist/src/index.js')
  return { listenAddrs: [TCP_LISTEN, QUIC_LISTEN], transports: [quic()] }
}
