// echo.mjs: the echo protocol of our example client (/mesh-relay/echo/1.0.0) on js nodes, and
// bounded reads: shared by relay.test.mjs and quic.test.mjs.
import { OP_TIMEOUT_MS, withTimeout } from './env.mjs'
import { opSignal } from './jsnode.mjs'

export const PROTO_ECHO = '/mesh-relay/echo/1.0.0'

/** A js echo handler: sends back what arrives; records it in node.echoed per remote PeerId. */
export async function echoHandler (node, stream, connection) {
  const k = connection.remotePeer.toString()
  try {
    for await (const chunk of stream) {
      const buf = chunk.subarray()
      node.echoed.set(k, Buffer.concat([node.echoed.get(k) ?? Buffer.alloc(0), buf]))
      if (!stream.send(buf)) await stream.onDrain({ signal: opSignal() })
    }
    await stream.close({ signal: opSignal() })
  } catch (err) {
    stream.abort(err)
  }
}

/** All bytes from `stream` until the remote closes its write side; bounded (aborts on timeout). */
export async function readAll (stream, { timeoutMs = OP_TIMEOUT_MS, what = 'stream' } = {}) {
  const chunks = []
  const collect = (async () => {
    for await (const c of stream) chunks.push(Buffer.from(c.subarray()))
    return Buffer.concat(chunks)
  })()
  try {
    return await withTimeout(collect, timeoutMs, `reading ${what}`)
  } catch (err) {
    stream.abort(err)
    err.partial = Buffer.concat(chunks)
    throw err
  }
}

/**
 * Send `data` on a new PROTO_ECHO stream on `conn` (16 KiB writes, honouring backpressure), close
 * the write side and read the echo to the end. Resolves with the echoed bytes.
 */
export async function echoOver (conn, data, { chunk = 16384, timeoutMs = OP_TIMEOUT_MS } = {}) {
  const stream = await conn.newStream(PROTO_ECHO, { runOnLimitedConnection: true, signal: opSignal() })
  const reading = readAll(stream, { timeoutMs, what: `the echo of ${data.length} bytes` })
  reading.catch(() => {})
  for (let off = 0; off < data.length; off += chunk) {
    if (!stream.send(data.subarray(off, off + chunk))) await stream.onDrain({ signal: opSignal(timeoutMs) })
  }
  await stream.close({ signal: opSignal(timeoutMs) })
  return await reading
}

