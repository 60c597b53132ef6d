// procs.mjs: every child process a test starts goes through spawnTracked, so it can be stopped by
// its PID: explicitly (stopProcess), and in any case when this Node process exits (even after a
// failed or timed-out test), by SIGKILL to each PID still running. Nothing is killed by name.
import './env.mjs'
import { spawn } from 'node:child_process'
import { STOP_TIMEOUT_MS } from './env.mjs'

const live = new Map() // pid -> ChildProcess

function killAllSync () {
  for (const pid of live.keys()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  live.clear()
}

process.on('exit', killAllSync)
// Killed from outside (ctest's timeout, Ctrl+C): kill the children, reap them (bounded), exit.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    const code = 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 })[sig]
    killAll({ timeoutMs: 2_000 }).finally(() => process.exit(code))
  })
}

/** SIGKILL every child still running and wait (bounded) until each has exited (reaped). */
export async function killAll ({ timeoutMs = 5_000 } = {}) {
  const children = [...live.values()]
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL')
    } catch {}
  }
  let timer
  await Promise.race([
    Promise.all(children.map(c => c.exited)),
    new Promise(resolve => { timer = setTimeout(resolve, timeoutMs) })
  ])
  clearTimeout(timer)
}

// Under `node --test`, the root test's after-hook also runs when a test failed or timed out with
// its processes still up: kill and reap them there (the 'exit' handler above cannot wait, so a
// child killed only there may linger as a zombie until its new parent reaps it).
if (process.env.NODE_TEST_CONTEXT != null) {
  const { after } = await import('node:test')
  after(() => killAll())
}

/**
 * spawn(cmd, args, opts) and remember the child. The returned child has `exited`, a promise of
 * { code, signal } that resolves when the process has exited (never rejects; a spawn error
 * resolves with code null and `error`).
 */
export function spawnTracked (cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
  child.exited = new Promise(resolve => {
    let done = false
    child.once('error', error => {
      if (done) return
      done = true
      if (child.pid != null) live.delete(child.pid)
      resolve({ code: null, signal: null, error })
    })
    child.once('exit', (code, signal) => {
      if (done) return
      done = true
      live.delete(child.pid)
      resolve({ code, signal })
    })
  })
  // closed: resolves once the process has exited AND its stdout/stderr are fully read
  // (bounded: 2 s after the exit, in case something else holds the pipes open)
  const pipesClosed = new Promise(resolve => child.once('close', () => resolve()))
  child.closed = child.exited.then(r => r.error
    ? undefined
    : Promise.race([pipesClosed, new Promise(resolve => setTimeout(resolve, 2000).unref())]))
  if (child.pid != null) live.set(child.pid, child)
  return child
}

/** True while the child has not exited. */
export function isRunning (child) {
  return child.pid != null && child.exitCode == null && child.signalCode == null && live.has(child.pid)
}

/**
 * Stop `child` by its PID: send `signal`, wait up to `timeoutMs` for it to exit, then SIGKILL.
 * Resolves with { code, signal, killed } (killed: it needed the SIGKILL).
 */
export async function stopProcess (child, { signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS } = {}) {
  if (!isRunning(child)) return { ...(await child.exited), killed: false }
  try {
    process.kill(child.pid, signal)
  } catch {}
  let timer
  const timedOut = new Promise(resolve => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs)
  })
  const r = await Promise.race([child.exited, timedOut])
  clearTimeout(timer)
  if (r !== 'timeout') return { ...r, killed: false }
  try {
    process.kill(child.pid, 'SIGKILL')
  } catch {}
  return { ...(await child.exited), killed: true }
}

/** PIDs of children still running (for leak checks in the harness self-test). */
export function livePids () {
  return [...live.keys()]
}
