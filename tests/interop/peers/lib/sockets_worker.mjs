// sockets_worker.mjs: samples procSockets(pid) every intervalMs on its own thread (the test's
// event loop may be busy for longer than a short-lived peer lives). It posts 'ready', waits for
// the PID (shared[1], set after the spawn), samples until the process is gone, shared[0] is set
// or timeoutMs passed, then posts every distinct socket seen.
import { existsSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { procSockets, socketKey } from '../../lib/procnet.mjs'

const { intervalMs, timeoutMs, shared } = workerData
const flag = new Int32Array(shared) // [0]: stop, [1]: pid
const seen = new Map()
const deadline = Date.now() + timeoutMs
let samples = 0
parentPort.postMessage('ready')
while (Atomics.load(flag, 1) === 0 && Atomics.load(flag, 0) === 0 && Date.now() < deadline) Atomics.wait(flag, 1, 0, 50)
const pid = Atomics.load(flag, 1)
while (pid !== 0 && Atomics.load(flag, 0) === 0 && Date.now() < deadline && existsSync(`/proc/${pid}/fd`)) {
  for (const s of procSockets(pid)) seen.set(socketKey(s), s)
  samples++
  Atomics.wait(flag, 0, 0, intervalMs)
}
parentPort.postMessage({ sockets: [...seen.values()], samples })
