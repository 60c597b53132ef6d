// client.mjs: run our C client (test_client from $RLY_BUILD_DIR) to completion, bounded in time,
// with a private HOME; it is killed by PID if it outlives the bound.
import './env.mjs'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SANITIZER_ENV, TEST_CLIENT_BIN } from './env.mjs'
import { spawnTracked, stopProcess } from './procs.mjs'

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
