// parked_flood_worker.mjs: the attacker of robustness.test.mjs's parked-handshake flood, in a
// worker thread so that its connection churn does not slow the honest client's event loop (in
// real life they are different hosts behind one address). It keeps `park` connections parked
// after Noise: each finishes Noise with its own key, proposes no muxer and then sends one byte of
// a Noise frame that never ends every 2 s, and is opened again when the relay closes it; and it
// opens `perSecond` newcomers that send the multistream header and /noise at once and nothing
// more, so they sit at the Noise stage (with `silent`, newcomers that send nothing at all). A
// relay that ranks handshakes by stage alone, or counts any byte as progress, kept the parked
// ones and closed honest clients in the middle of their Noise exchange instead (issue 11 review);
// one that counted silence only after 200 ms closed a client waiting a long round trip for the
// silent newcomers' sake (second review).
//
//   new Worker(url, { workerData: { host, port, park, perSecond, silent, localAddress } })
//
// Posts 'ready' once every parked connection got through Noise at least once, and
// { parked, newcomers } after it is sent 'stop'.
import net from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'
import { MSS_HEADER, mssMsg, noiseHandshake, rawConnect, rawIdentity, selectNoise } from './raw.mjs'

const { host, port, park, perSecond, silent, localAddress } = workerData
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const st = { parked: 0, newcomers: 0, running: true }
const live = new Set()
const ids = await Promise.all(Array.from({ length: 4 }, () => rawIdentity()))
let ready = 0

async function parkOne (i) {
  let first = true
  while (st.running) {
    let c
    try {
      c = await rawConnect(host, port, { localAddress, timeoutMs: 5000 })
      live.add(c)
      await selectNoise(c, { timeoutMs: 5000 })
      await noiseHandshake(c, { identity: ids[i % ids.length], muxers: [], timeoutMs: 5000 })
      st.parked++
      if (first && ++ready === park) parentPort.postMessage('ready')
      first = false
      c.write(Buffer.from([0x00])) // the first byte of a Noise frame length
      const iv = setInterval(() => c.write(Buffer.from([0x40])), 2000)
      await c.closed
      clearInterval(iv)
    } catch {
      c?.destroy()
      await sleep(100)
    }
    live.delete(c)
  }
}

const parkers = Array.from({ length: park }, (_, i) => parkOne(i))
if (park === 0) parentPort.postMessage('ready')
const hello = Buffer.concat([mssMsg(MSS_HEADER), mssMsg('/noise')])
const socks = new Set()
let credit = 0
const tick = setInterval(() => {
  credit += perSecond / 100
  for (; credit >= 1; credit--) {
    const s = net.connect({ host, port, localAddress })
    st.newcomers++
    if (!silent) s.on('connect', () => s.write(hello))
    s.on('error', () => {})
    s.on('close', () => socks.delete(s))
    socks.add(s)
  }
}, 10)

parentPort.once('message', async () => {
  st.running = false
  clearInterval(tick)
  for (const s of socks) s.destroy()
  for (const c of live) c.destroy()
  await Promise.allSettled(parkers)
  parentPort.postMessage({ parked: st.parked, newcomers: st.newcomers })
})
