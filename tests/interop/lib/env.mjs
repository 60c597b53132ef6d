// env.mjs: where things are, and small utilities shared by the interop helpers.
import '../polyfill.mjs'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const INTEROP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const SOURCE_DIR = process.env.RLY_SOURCE_DIR ?? resolve(INTEROP_DIR, '..', '..')

// The build whose binaries are under test: CTest sets RLY_BUILD_DIR per build directory
// (build/ for the release run, build-asan/ for the ASan+UBSan run). By hand it defaults to build/.
export const BUILD_DIR = resolve(process.env.RLY_BUILD_DIR ?? join(SOURCE_DIR, 'build'))
export const RELAY_BIN = join(BUILD_DIR, 'relay-server')
export const TEST_CLIENT_BIN = join(BUILD_DIR, 'test_client')

// Sanitizer settings for every C process a test starts (same defaults as tests/integ/lib.sh).
// ASan's quarantine (256 MB by default) keeps freed memory resident, which would make the RSS
// bounds the tests check meaningless under ASan: keep it small.
const asanBase = process.env.ASAN_OPTIONS ?? 'detect_leaks=1:abort_on_error=1'
export const SANITIZER_ENV = {
  ASAN_OPTIONS: asanBase.includes('quarantine_size_mb') ? asanBase : `${asanBase}:quarantine_size_mb=16`,
  UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1:halt_on_error=1'
}

// Bounds (ms). Generous: the ASan build and a loaded 2-core CI machine are slow.
export const BANNER_TIMEOUT_MS = 15_000
export const STOP_TIMEOUT_MS = 15_000
export const OP_TIMEOUT_MS = 15_000

/** True when ::1 is configured on this machine (IPv6 loopback usable). */
export function hasIPv6Loopback () {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8')
      .split('\n')
      .some(l => l.startsWith('00000000000000000000000000000001'))
  } catch {
    return false
  }
}

export function sleep (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * Resolve with `promise`, or reject with Error(`${what}: timed out after ${ms} ms`).
 * The timer does not keep the process alive.
 */
export async function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms)
    timer.unref?.()
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Poll `fn` (sync or async) until it returns a truthy value; bounded. */
export async function waitUntil (fn, { timeoutMs = OP_TIMEOUT_MS, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() >= deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`)
    await sleep(intervalMs)
  }
}

/** Fail early with a clear message when a binary is missing. */
export function requireBinary (path, what) {
  if (!existsSync(path)) {
    throw new Error(`${what} not built: ${path} does not exist (set RLY_BUILD_DIR to a build directory)`)
  }
  return path
}

/**
 * Append `text` to an error's message and return the error to throw. Errors whose message cannot
 * be set (e.g. DOMException from AbortSignal.timeout) are wrapped in a new Error (cause: err).
 */
export function annotate (err, text) {
  if (err instanceof Error) {
    try {
      err.message += `\n${text}`
      if (err.message.endsWith(text)) return err
    } catch {}
  }
  return new Error(`${err?.name ?? 'Error'}: ${err?.message ?? err}\n${text}`, { cause: err })
}
