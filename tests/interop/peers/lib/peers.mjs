// peers.mjs: start the interop peers of tests/interop/PEERS.md (test_client, js, go, rust) by PID,
// read their events, stop them by PID.
//
//   const l = startPeer('go', ['--relay', relay.tcp4])          // background (listening)
//   const { peer_id } = await l.waitForEvent('started')
//   await l.waitForEvent(e => e.event === 'listening')
//   const r = await runPeer('rust', ['--relay', relay.quic4, '--dial', peer_id, '--ping', '3'])
//   r.code, r.signal, r.events, r.describe()                       // run to completion, bounded
//   await l.stop()                                                 // SIGTERM by PID, SIGKILL later
//
// go, rust and js print the JSON events of PEERS.md; test_client's text lines are mapped onto the
// same events (parseTestClientLine). Each peer runs with a private HOME in a fresh temporary
// directory (removed when it is stopped). The go and rust peers are built once per process by
// tests/interop/{go,rust}/build.sh (the binary's path is its last line of stdout), unless
// RLY_GO_PEER / RLY_RUST_PEER already name the binaries (peers/matrix/run.sh builds them first;
// RLY_GO_PEER_BUILD_FAILED / RLY_RUST_PEER_BUILD_FAILED say that its build failed).
import '../../lib/env.mjs'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { INTEROP_DIR, OP_TIMEOUT_MS, SANITIZER_ENV, TEST_CLIENT_BIN } from '../../lib/env.mjs'
import { isRunning, spawnTracked, stopProcess } from '../../lib/procs.mjs'

export { procSockets } from '../../lib/procnet.mjs'

export const KINDS = ['test_client', 'js', 'go', 'rust']
export const JS_PEER = join(INTEROP_DIR, 'tools', 'peer.mjs')
const BUILD_TIMEOUT_MS = 20 * 60_000

// ---- builds --------------------------------------------------------------------------------

const builds = new Map() // kind -> Promise<binary path>

// Helper programs that are no PEERS.md peers but print the same JSON events, so startPeer and
// runPeer start them too: kind -> [build script under INTEROP_DIR, variable naming a prebuilt
// binary (its build failure in VAR_BUILD_FAILED)]. Used by peers/clients.
export const TOOLS = {
  'go-relaylab': ['go/relaylab/build.sh', 'RLY_GO_RELAYLAB']
}

function buildPeer (kind, script = join(INTEROP_DIR, kind, 'build.sh'), envVar = `RLY_${kind.toUpperCase()}_PEER`) {
  const failed = process.env[`${envVar}_BUILD_FAILED`]
  if (failed) return Promise.reject(new Error(`the ${kind} peer did not build: ${failed}`))
  const envPath = process.env[envVar]
  if (envPath) {
    if (!existsSync(envPath)) return Promise.reject(new Error(`${envVar}=${envPath} does not exist`))
    return Promise.resolve(envPath)
  }
  if (!existsSync(script)) return Promise.reject(new Error(`the ${kind} peer has no build script: ${script} does not exist`))
  return new Promise((resolve, reject) => {
    execFile(script, [], { timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 << 20, env: process.env }, (err, stdout, stderr) => {
      const last = stdout.trim().split('\n').pop()?.trim()
      if (err) {
        reject(new Error(`${script} failed: ${err.message}\n--- stderr (tail) ---\n${stderr.split('\n').slice(-30).join('\n')}`))
      } else if (!last || !existsSync(last)) {
        reject(new Error(`${script} printed no existing binary path as its last line (got ${JSON.stringify(last)})`))
      } else {
        resolve(last)
      }
    })
  })
}

/** The command line ({ cmd, args }) that starts a peer of `kind`; builds go and rust once. */
export async function peerCommand (kind) {
  switch (kind) {
    case 'test_client':
      if (!existsSync(TEST_CLIENT_BIN)) throw new Error(`test_client not built: ${TEST_CLIENT_BIN} does not exist`)
      return { cmd: TEST_CLIENT_BIN, args: [] }
    case 'js':
      return { cmd: process.execPath, args: [JS_PEER] }
    case 'go':
    case 'rust': {
      if (!builds.has(kind)) builds.set(kind, buildPeer(kind))
      return { cmd: await builds.get(kind), args: [] }
    }
    default:
      if (Object.hasOwn(TOOLS, kind)) {
        if (!builds.has(kind)) builds.set(kind, buildPeer(kind, join(INTEROP_DIR, TOOLS[kind][0]), TOOLS[kind][1]))
        return { cmd: await builds.get(kind), args: [] }
      }
      throw new Error(`unknown peer kind ${kind} (one of ${KINDS.join(', ')}, ${Object.keys(TOOLS).join(', ')})`)
  }
}

// ---- test_client's lines as events ---------------------------------------------------------

const kv = (s) => Object.fromEntries([...s.matchAll(/(\w+)=(\S*)/g)].map(m => [m[1], m[2]]))
const num = (v) => v == null || v === '' ? undefined : Number(v)
const list = (v) => v == null || v === '' ? [] : v.split(',')

/**
 * One line of test_client's stdout as a PEERS.md event (`dialling`: it was started with --dial,
 * so an established relayed connection is a `circuit`, else an `incoming`). `state` carries the
 * limits printed on the line before ("circuit to X accepted ...", "incoming circuit from ...").
 * Lines of no known shape become { event: 'line', line }.
 */
export function parseTestClientLine (line, { dialling = false, state = {} } = {}) {
  let m
  if ((m = /^local peer_id=(\S+)$/.exec(line))) return { event: 'started', peer_id: m[1], impl: 'test_client' }
  if ((m = /^(?:relay )?connected peer_id=(\S+)$/.exec(line))) return { event: 'connected', peer_id: m[1], relayed: false }
  if ((m = /^reservation (accepted|refreshed) (.*)$/.exec(line))) {
    const f = kv(m[2])
    return {
      event: 'reserved',
      addrs: list(f.addrs),
      expire: num(f.expire),
      limit_duration: num(f.limit_duration),
      limit_data: num(f.limit_data),
      voucher: f.voucher,
      renewal: m[1] === 'refreshed'
    }
  }
  if ((m = /^reservation refused status=(\S+)/.exec(line))) return { event: 'reservation_failed', status: m[1], error: line }
  if ((m = /^reservation refresh failed (.*)$/.exec(line))) return { event: 'reservation_failed', error: line, ...(kv(m[1]).status ? { status: kv(m[1]).status } : {}) }
  if ((m = /^listening on (\S+)$/.exec(line))) return { event: 'listening', addr: m[1] }
  if ((m = /^circuit to (\S+) accepted (.*)$/.exec(line))) {
    const f = kv(m[2])
    state.limits = { limit_duration: num(f.limit_duration), limit_data: num(f.limit_data) }
    return { event: 'circuit_accepted', peer_id: m[1], ...state.limits }
  }
  if ((m = /^incoming circuit from (\S+) (.*)$/.exec(line))) {
    const f = kv(m[2])
    state.limits = { limit_duration: num(f.limit_duration), limit_data: num(f.limit_data) }
    return { event: 'incoming_circuit', peer_id: m[1], ...state.limits }
  }
  if ((m = /^circuit refused status=(\S+)/.exec(line))) return { event: 'dial_failed', status: m[1], error: line }
  if ((m = /^relayed connection failed error=(.*)$/.exec(line))) return { event: dialling ? 'dial_failed' : 'error', error: m[1] }
  if ((m = /^relayed connection established peer_id=(\S+)$/.exec(line))) {
    const ev = { event: dialling ? 'circuit' : 'incoming', peer_id: m[1], ...(state.limits ?? {}) }
    state.limits = undefined
    return ev
  }
  if ((m = /^ping rtt_ms=(\S+)$/.exec(line))) return { event: 'ping', rtt_ms: Number(m[1]) }
  if ((m = /^identify agent=(.*?) protocol_version=(.*?) protocols=(\S*) listen_addrs=(\S*) observed_addr=(\S*) public_key_bytes=(\d+)$/.exec(line))) {
    return {
      event: 'identify',
      agent: m[1],
      protocol_version: m[2],
      protocols: list(m[3]),
      listen_addrs: list(m[4]),
      ...(m[5] ? { observed_addr: m[5] } : {}),
      public_key_bytes: Number(m[6])
    }
  }
  if ((m = /^echo bytes=(\d+) seconds=\S+$/.exec(line))) return { event: 'echo', bytes: Number(m[1]), ok: true } // --echo-bytes: exits 1 on a mismatch
  if ((m = /^echo (.*)$/.exec(line))) return { event: 'echo', text: m[1], bytes: Buffer.byteLength(m[1]), ok: true }
  if ((m = /^sent bytes=(\d+) /.exec(line))) return { event: 'sent', bytes: Number(m[1]), count: Number(m[1]), ok: true }
  if ((m = /^circuit closed reason=(\S+) after_ms=(\d+)$/.exec(line))) return { event: 'closed', relayed: true, reason: m[1], after_ms: Number(m[2]) }
  if ((m = /^relayed connection closed peer_id=(\S+) reason=(\S+)$/.exec(line))) return { event: 'closed', peer_id: m[1], relayed: true, reason: m[2] }
  if ((m = /^relay connection closed reason=(\S+)$/.exec(line))) return { event: 'closed', relayed: false, reason: m[1] }
  if (line === 'holding the circuit') return { event: 'holding' }
  return { event: 'line', line }
}

// ---- peers ---------------------------------------------------------------------------------

/**
 * Start a peer of `kind` with `args` (PEERS.md options) in the background. Returns
 *   { kind, args, pid, child, events, stderr(), running(), waitForEvent(pred, opts),
 *     done({ timeoutMs }), stop(), describe() }
 * `events` are the parsed stdout lines so far (each with `ts`, ms since the start); a JSON line
 * that does not parse is kept as { event: 'line', line }.
 */
export async function startPeer (kind, args, { env = {}, name = kind } = {}) {
  const { cmd, args: pre } = await peerCommand(kind)
  const home = mkdtempSync(join(tmpdir(), `rly-peer-${kind}-`))
  const child = spawnTracked(cmd, [...pre, ...args], {
    env: { ...process.env, ...SANITIZER_ENV, HOME: home, ...env },
    cwd: home
  })
  const t0 = Date.now()
  const events = []
  let stderr = ''
  let partial = ''
  const waiters = new Set()
  const dialling = args.includes('--dial')
  const tcState = {}
  const onLine = (line) => {
    if (line.trim() === '') return
    let ev
    if (kind === 'test_client') {
      ev = parseTestClientLine(line, { dialling, state: tcState })
    } else {
      try {
        ev = JSON.parse(line)
        if (ev == null || typeof ev !== 'object' || typeof ev.event !== 'string') ev = { event: 'line', line }
      } catch {
        ev = { event: 'line', line }
      }
    }
    ev.ts = Date.now() - t0
    events.push(ev)
    for (const w of waiters) w()
  }
  child.stdout.setEncoding('utf8').on('data', d => {
    partial += d
    const parts = partial.split('\n')
    partial = parts.pop()
    parts.forEach(onLine)
  })
  child.stdout.on('end', () => {
    if (partial !== '') onLine(partial)
    partial = ''
  })
  child.stderr.setEncoding('utf8').on('data', d => {
    stderr += d
    if (stderr.length > 4 << 20) stderr = stderr.slice(-(2 << 20))
  })
  let exit = null
  child.exited.then(r => {
    exit = r
    for (const w of waiters) w()
  })

  let stopped = null
  const peer = {
    kind,
    name,
    args,
    pid: child.pid,
    child,
    events,
    home,
    stderr: () => stderr,
    running: () => isRunning(child),
    exit: () => exit,

    describe ({ stderrLines = 40 } = {}) {
      const state = exit == null ? `running (pid ${child.pid})` : `exited: code ${exit.code}, signal ${exit.signal}${exit.error ? ', ' + exit.error.message : ''}`
      const out = events.map(e => e.event === 'line' ? e.line : JSON.stringify(e)).slice(-60)
      return [`${name} (${kind}) ${[...pre, ...args].join(' ')}: ${state}`,
        '--- events ---', ...out,
        `--- stderr (tail ${stderrLines}) ---`, ...stderr.split('\n').slice(-stderrLines)].join('\n')
    },

    /**
     * The first event (seen or future) for which `pred` holds (`pred` may be an event name).
     * Rejects when the peer exits first or after timeoutMs, with the peer's output.
     */
    waitForEvent (pred, { timeoutMs = OP_TIMEOUT_MS, what } = {}) {
      const test = typeof pred === 'string' ? (e => e.event === pred) : pred
      what ??= typeof pred === 'string' ? `a '${pred}' event` : 'the event'
      return new Promise((resolve, reject) => {
        let timer
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        const check = () => {
          const e = events.find(test)
          if (e != null) {
            done()
            resolve(e)
          } else if (exit != null) {
            done()
            // the last lines may still be in the pipe
            child.closed.then(() => {
              const late = events.find(test)
              if (late != null) resolve(late)
              else reject(new Error(`${name} exited before ${what}\n${peer.describe()}`))
            })
          }
        }
        timer = setTimeout(() => {
          done()
          reject(new Error(`${name} printed no ${what} within ${timeoutMs} ms\n${peer.describe()}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },

    /** Wait (bounded: SIGKILL after timeoutMs) until it exits; { code, signal, timedOut, events }. */
    async done ({ timeoutMs = 60_000 } = {}) {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        stopProcess(child, { signal: 'SIGKILL' })
      }, timeoutMs)
      const r = await child.exited
      clearTimeout(timer)
      await child.closed
      cleanup()
      return { ...r, timedOut, events }
    },

    /** SIGTERM by PID (SIGKILL after the stop bound); { code, signal, killed }. Idempotent. */
    async stop ({ signal = 'SIGTERM' } = {}) {
      stopped ??= (async () => {
        const r = await stopProcess(child, { signal })
        await child.closed
        cleanup()
        return r
      })()
      return stopped
    }
  }
  function cleanup () {
    rmSync(home, { recursive: true, force: true })
  }
  return peer
}

/**
 * Run a peer to completion (bounded by timeoutMs, then SIGKILL). Resolves with
 * { code, signal, timedOut, events, stderr, describe(), peer }.
 */
export async function runPeer (kind, args, { timeoutMs = 60_000, env = {}, name = kind } = {}) {
  const peer = await startPeer(kind, args, { env, name })
  const r = await peer.done({ timeoutMs })
  return { ...r, stderr: peer.stderr(), describe: (o) => peer.describe(o), peer }
}

/**
 * The processes of one test: peers started through it and relays added to it. Returns
 *   { peers, relays, peer(kind, args, name), run(kind, args, { name, timeoutMs }), addRelay(r),
 *     describe(), stopAll() }
 * run starts a peer and waits (bounded) for its exit: { code, signal, timedOut, events, peer };
 * describe() is every process's output (for a failure's message); stopAll() stops them all by PID.
 */
export function processGroup () {
  const peers = []
  const relays = []
  const g = {
    peers,
    relays,
    addRelay (r) {
      relays.push(r)
      return r
    },
    async peer (kind, args, name = kind) {
      const p = await startPeer(kind, args, { name })
      peers.push(p)
      return p
    },
    async run (kind, args, { name = kind, timeoutMs = 60_000 } = {}) {
      const p = await g.peer(kind, args, name)
      return { ...await p.done({ timeoutMs }), peer: p }
    },
    describe () {
      return [...peers.map(p => p.describe()), ...relays.map(r => r.describe())].join('\n\n')
    },
    async stopAll () {
      await Promise.all(peers.map(p => p.stop()))
      await Promise.all(relays.map(r => r.stop()))
    }
  }
  return g
}

/** The events named `name` in `events`. */
export function eventsOf (events, name) {
  return events.filter(e => e.event === name)
}

// ---- the kernel's view of a peer's sockets -------------------------------------------------

/**
 * Start a peer (`start()`: resolves with a startPeer result) with a sampler on a worker thread
 * that reads procSockets(peer.pid) every `intervalMs` from right after the spawn until the peer
 * exits (bounded by timeoutMs), keeping every distinct socket seen: a short-lived peer's
 * connection to the relay is seen even if it is gone by the time its output is read.
 * Resolves with { peer, sockets: Promise<{ sockets, samples }>, stop() } (stop: end early).
 */
export async function watchSockets (start, { intervalMs = 1, timeoutMs = 60_000 } = {}) {
  const shared = new SharedArrayBuffer(8)
  const flag = new Int32Array(shared)
  const worker = new Worker(new URL('./sockets_worker.mjs', import.meta.url), { workerData: { intervalMs, timeoutMs, shared } })
  let ready
  const readyP = new Promise(resolve => { ready = resolve })
  const sockets = new Promise((resolve, reject) => {
    worker.on('message', m => m === 'ready' ? ready() : resolve(m))
    worker.once('error', reject)
    worker.once('exit', code => reject(new Error(`the socket sampler exited (${code}) without a result`)))
  })
  sockets.catch(() => {})
  await readyP
  let peer
  try {
    peer = await start()
  } finally {
    Atomics.store(flag, 1, peer?.pid ?? 0)
    if (peer == null) Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 1)
  }
  return {
    peer,
    sockets,
    stop () {
      Atomics.store(flag, 0, 1)
      Atomics.notify(flag, 0)
      return sockets
    }
  }
}
