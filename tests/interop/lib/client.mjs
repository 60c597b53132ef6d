// client.mjs: run our C client (test_client from $RLY_BUILD_DIR) with a private HOME: to completion,
// bounded in time (runTestClient; killed by PID if it outlives the bound), or in the background for
// modes that keep running (startTestClient; stopped by PID).
import './env.mjs'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OP_TIMEOUT_MS, SANITIZER_ENV, TEST_CLIENT_BIN } from './env.mjs'
import { isRunning, spawnTracked, stopProcess } from './procs.mjs'

export function testClientBuilt () {
  return existsSync(TEST_CLIENT_BIN)
}

/**
 * Run `test_client ...args`. Resolves with { code, signal, timedOut, stdout, stderr, lines }
 * (lines: stdout split into lines). Throws "test_client not built" when the binary is missing.
 */
export async function runTestClient (args, { timeoutMs = 30_000, env = {} } = {}) {
  if (!testClientBuilt()) {
    throw new Error(`test_client not built: ${TEST_CLIENT_BIN} does not exist`)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'rly-interop-client-'))
  try {
    const child = spawnTracked(TEST_CLIENT_BIN, args, {
      env: { ...process.env, ...SANITIZER_ENV, HOME: tmp, ...env },
      cwd: tmp
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', d => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', d => { stderr += d })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      stopProcess(child, { signal: 'SIGKILL' })
    }, timeoutMs)
    const r = await child.exited
    clearTimeout(timer)
    await child.closed
    return { ...r, timedOut, stdout, stderr, lines: stdout.split('\n').filter(l => l !== '') }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/**
 * Start `test_client ...args` in the background (private HOME), for modes that keep running
 * (e.g. `--relay ADDR --name N`: listen through a relay). Returns
 *   { child, pid, lines (stdout lines so far), running(), waitForLine(re, opts), stop(), describe() }
 * waitForLine resolves with the match of the first stdout line (seen or future) matching `re`, and
 * rejects when the client exits first or after timeoutMs. stop() sends SIGTERM by PID (SIGKILL
 * after the stop bound), removes the HOME and resolves with { code, signal, killed }.
 * Throws "test_client not built" when the binary is missing.
 */
export function startTestClient (args, { env = {} } = {}) {
  if (!testClientBuilt()) {
    throw new Error(`test_client not built: ${TEST_CLIENT_BIN} does not exist`)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'rly-interop-client-'))
  const child = spawnTracked(TEST_CLIENT_BIN, args, {
    env: { ...process.env, ...SANITIZER_ENV, HOME: tmp, ...env },
    cwd: tmp
  })
  const lines = []
  let partial = ''
  let stderr = ''
  const waiters = new Set()
  child.stdout.setEncoding('utf8').on('data', d => {
    partial += d
    const parts = partial.split('\n')
    partial = parts.pop()
    for (const l of parts) {
      lines.push(l)
      for (const w of waiters) w()
    }
  })
  child.stderr.setEncoding('utf8').on('data', d => { stderr += d })
  let exit = null
  child.exited.then(r => {
    exit = r
    for (const w of waiters) w()
  })
  let stopped = null
  const client = {
    child,
    pid: child.pid,
    lines,
    stderr: () => stderr,
    running: () => isRunning(child),
    describe () {
      const state = exit == null ? `running (pid ${child.pid})` : `exited: code ${exit.code}, signal ${exit.signal}`
      return `test_client ${args.join(' ')}: ${state}\n--- stdout ---\n${[...lines, partial].join('\n')}\n--- stderr ---\n${stderr}`
    },
    waitForLine (re, { timeoutMs = OP_TIMEOUT_MS, what = String(re) } = {}) {
      return new Promise((resolve, reject) => {
        let timer
        const check = () => {
          for (const l of lines) {
            const m = re.exec(l)
            if (m != null) {
              done()
              resolve(m)
              return
            }
          }
          if (exit != null) {
            done()
            reject(new Error(`test_client exited before printing ${what}\n${client.describe()}`))
          }
        }
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        timer = setTimeout(() => {
          done()
          reject(new Error(`test_client did not print ${what} within ${timeoutMs} ms\n${client.describe()}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async stop ({ signal = 'SIGTERM' } = {}) {
      stopped ??= (async () => {
        const r = await stopProcess(child, { signal })
        await child.closed
        rmSync(tmp, { recursive: true, force: true })
        return r
      })()
      return stopped
    }
  }
  return client
}
