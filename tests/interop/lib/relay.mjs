// relay.mjs: start and stop the C relay (relay-server from $RLY_BUILD_DIR) for one test.
//
//   const relay = await startRelay()          // private HOME, loopback port 0, debug logs
//   relay.peerId, relay.addrs, relay.tcp4, relay.tcp6   (banner "Local PeerId:" / "Listening on:")
//   await relay.waitForLog(l => l.message === 'ConnectionEstablished' && l.fields.peer_id === id)
//   const { code } = await relay.stop()       // SIGTERM by PID, SIGKILL after 15 s; idempotent
//
// Every relay is also killed by PID when the Node process exits (procs.mjs), so a failed or
// timed-out test leaves nothing behind. stderr (the relay's log) is kept in memory and written to
// <tmp>/relay.err; on failure, relay.describe() gives the tail for the assertion message.
import './env.mjs'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { BANNER_TIMEOUT_MS, OP_TIMEOUT_MS, RELAY_BIN, SANITIZER_ENV, annotate, hasIPv6Loopback, requireBinary } from './env.mjs'
import { isRunning, spawnTracked, stopProcess } from './procs.mjs'

/**
 * The relay config used by the interop tests: TCP on 127.0.0.1 and ::1 (when available), port 0,
 * QUIC off unless `quic` (then UDP port 0 on loopback too), debug logs in the pretty format.
 * `network` lines go into its [network] section; `extra` is appended verbatim (TOML lines, e.g. a
 * [relay] section with small limits). `tcpPort` / `quicPort` (IPv4; 0: any) and `grace`
 * (shutdown_grace_secs) for a relay that must come back on the same ports or drain longer.
 */
export function loopbackConfig ({ ipv6 = hasIPv6Loopback(), quic = false, level = 'debug', network = [], extra = [], tcpPort = 0, quicPort = 0, grace = 2 } = {}) {
  const lines = [
    '[network]',
    `tcp_listen_addr = "/ip4/127.0.0.1/tcp/${tcpPort}"`,
    `tcp_listen_addr_v6 = "${ipv6 ? '/ip6/::1/tcp/0' : ''}"`,
    `quic_listen_addr = "${quic ? `/ip4/127.0.0.1/udp/${quicPort}/quic-v1` : ''}"`,
    `quic_listen_addr_v6 = "${quic && ipv6 ? '/ip6/::1/udp/0/quic-v1' : ''}"`,
    `shutdown_grace_secs = ${grace}`,
    ...network,
    '',
    '[metrics]',
    'listen_addr = "/ip4/127.0.0.1/tcp/0"',
    '',
    '[logging]',
    `level = "${level}"`,
    'log_format = "pretty"',
    ...extra
  ]
  return lines.join('\n') + '\n'
}

// Temporary directories of relays not stopped yet: removed when Node exits (after procs.mjs has
// killed the relays), so a failed or timed-out test leaves nothing in $TMPDIR either.
const pendingTmp = new Set()
process.on('exit', () => {
  for (const d of pendingTmp) rmSync(d, { recursive: true, force: true })
})

const LOG_RE = /^(\S+)\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+(\S+?):\s(.*)$/
const FIELD_RE = /\s([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S*)/g

/**
 * Parse one pretty log line (src/app/log_sink.h):
 *   2026-11-24T20:46:15.123456Z  INFO relay_server::events: ConnectionEstablished peer_id=12D3... num_established=1
 * into { ts, level, target, message, fields, line }, or null for a line of another shape.
 * Field values are bare or JSON-quoted; quoted ones are unquoted.
 */
export function parseLogLine (line) {
  const m = LOG_RE.exec(line)
  if (m == null) return null
  const [, ts, level, target, rest] = m
  const fields = {}
  let firstField = rest.length + 1
  for (const f of (' ' + rest).matchAll(FIELD_RE)) {
    if (f.index < firstField) firstField = f.index
    let v = f[2]
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v)
      } catch {}
    }
    fields[f[1]] = v
  }
  // The message is the free text before the first key=value (messages may contain spaces).
  const message = (' ' + rest).slice(0, firstField).trim()
  return { ts, level, target, message, fields, line }
}

/** A line-splitting collector for a child's output stream. */
function collectLines (stream, file, onLine) {
  let partial = ''
  const lines = []
  stream.setEncoding('utf8')
  stream.on('data', chunk => {
    appendFileSync(file, chunk)
    partial += chunk
    const parts = partial.split('\n')
    partial = parts.pop()
    for (const l of parts) {
      lines.push(l)
      onLine(l)
    }
  })
  stream.on('end', () => {
    if (partial !== '') {
      lines.push(partial)
      onLine(partial)
      partial = ''
    }
  })
  return lines
}

/**
 * Start relay-server with a private HOME under a fresh temporary directory and `config` (default:
 * loopbackConfig()). Waits (bounded) for the banner: "Local PeerId:" and one "Listening on:" line
 * per configured listener. Rejects with the relay's output if it exits or times out first (and
 * stops it).
 */
export async function startRelay ({
  config = loopbackConfig(),
  args = [],
  env = {},
  bannerTimeoutMs = BANNER_TIMEOUT_MS,
  keepTmp = process.env.RLY_INTEROP_KEEP_TMP === '1'
} = {}) {
  requireBinary(RELAY_BIN, 'relay-server')
  const tmp = mkdtempSync(join(tmpdir(), 'rly-interop-'))
  if (!keepTmp) pendingTmp.add(tmp)
  const home = join(tmp, 'home')
  mkdirSync(home)
  const configPath = join(tmp, 'relay.toml')
  writeFileSync(configPath, config)
  const expectedListeners = (config.match(/^\s*(tcp|quic)_listen_addr(_v6)?\s*=\s*"[^"]+"/gm) ?? []).length

  const outFile = join(tmp, 'relay.out')
  const errFile = join(tmp, 'relay.err')
  writeFileSync(outFile, '')
  writeFileSync(errFile, '')
  const child = spawnTracked(RELAY_BIN, ['--config', configPath, ...args], {
    env: { ...process.env, ...SANITIZER_ENV, HOME: home, ...env },
    cwd: tmp
  })

  const logWaiters = new Set()
  const logs = []
  const onErrLine = l => {
    const rec = parseLogLine(l)
    if (rec == null) return
    logs.push(rec)
    for (const w of logWaiters) w(rec)
  }
  let bannerCheck = () => {}
  const stdout = collectLines(child.stdout, outFile, () => bannerCheck())
  const stderr = collectLines(child.stderr, errFile, onErrLine)

  let stopped = null
  let stoppedByUs = false
  const relay = {
    child,
    pid: child.pid,
    tmp,
    home,
    configPath,
    peerId: null,
    addrs: [], // banner "Listening on:" multiaddrs (strings, with /p2p/<id>)
    tcp4: null, // first /ip4/.../tcp/... address (string, with /p2p/<id>)
    tcp6: null,
    stdout,
    stderr,
    logs, // parsed stderr records (parseLogLine)

    running: () => isRunning(child),

    /** Records matching `pred` so far. */
    findLogs: pred => logs.filter(pred),

    /** Resolve with the first record (already seen or future) matching `pred`; bounded. */
    waitForLog (pred, { timeoutMs = OP_TIMEOUT_MS, what = 'log record' } = {}) {
      const seen = logs.find(pred)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          logWaiters.delete(w)
          reject(new Error(`relay did not log ${what} within ${timeoutMs} ms\n${relay.describe()}`))
        }, timeoutMs)
        const w = rec => {
          if (!pred(rec)) return
          clearTimeout(timer)
          logWaiters.delete(w)
          resolve(rec)
        }
        logWaiters.add(w)
      })
    },

    /** The last lines of the relay's output, for assertion messages. */
    describe (n = 40) {
      const state = isRunning(child)
        ? `running (pid ${child.pid})`
        : `${stoppedByUs ? 'stopped by the test, ' : 'EXITED ON ITS OWN, '}exit code ${child.exitCode}, signal ${child.signalCode}`
      return [
        `relay ${state}; files in ${tmp}${keepTmp ? '' : ' (removed after stop; RLY_INTEROP_KEEP_TMP=1 keeps them)'}`,
        '--- relay stdout (tail) ---', ...stdout.slice(-n),
        '--- relay stderr (tail) ---', ...stderr.slice(-n)
      ].join('\n')
    },

    /**
     * Stop by PID (SIGTERM, then SIGKILL after 15 s) and remove the temporary directory (kept when
     * RLY_INTEROP_KEEP_TMP=1). Resolves with { code, signal, killed }. Safe to call twice.
     */
    async stop ({ signal = 'SIGTERM' } = {}) {
      if (stopped == null) {
        stoppedByUs = isRunning(child)
        stopped = (async () => {
          const r = await stopProcess(child, { signal })
          // let the pipes drain so the last log lines are in `stderr` / `logs`
          await child.closed
          if (!keepTmp) rmSync(tmp, { recursive: true, force: true })
          pendingTmp.delete(tmp)
          return r
        })()
      }
      return stopped
    }
  }

  const banner = new Promise((resolve, reject) => {
    bannerCheck = () => {
      const id = stdout.map(l => /^Local PeerId: (\S+)/.exec(l)).find(m => m != null)
      const addrs = stdout.map(l => /^Listening on: (\S+)/.exec(l)).filter(m => m != null).map(m => m[1])
      if (id != null && addrs.length >= Math.max(1, expectedListeners)) resolve({ peerId: id[1], addrs })
    }
    child.exited.then(r => reject(new Error(`relay-server exited before its banner (code ${r.code}, signal ${r.signal}${r.error ? ', ' + r.error.message : ''})`)))
  })

  try {
    const { peerId, addrs } = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay-server printed no complete banner within ${bannerTimeoutMs} ms`)), bannerTimeoutMs)
      banner.then(resolve, reject).finally(() => clearTimeout(timer))
    })
    relay.peerId = peerId
    relay.addrs = addrs
    relay.tcp4 = addrs.find(a => a.startsWith('/ip4/') && a.includes('/tcp/')) ?? null
    relay.tcp6 = addrs.find(a => a.startsWith('/ip6/') && a.includes('/tcp/')) ?? null
    relay.quic4 = addrs.find(a => a.startsWith('/ip4/') && a.includes('/quic-v1')) ?? null
    relay.quic6 = addrs.find(a => a.startsWith('/ip6/') && a.includes('/quic-v1')) ?? null
    for (const a of addrs) multiaddr(a) // throws on a malformed banner address
  } catch (err) {
    await relay.stop()
    throw annotate(err, relay.describe())
  }
  return relay
}

/** The address without its /p2p/<id> suffix, as a string. */
export function withoutPeerId (addr) {
  return multiaddr(addr.toString()).decapsulateCode(421).toString()
}
