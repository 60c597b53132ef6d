// lab.mjs: the hole-punching lab (lab.sh) driven from node: namespaces up and down, the relay and
// the interop peers (tests/interop/PEERS.md) started inside them by PID, their output collected.
//
//   const lab = labUp()                      // lab.sh up + check; lab.down() in after(), and on exit
//   const relay = await startLabRelay(lab, { port })
//   const peer = startLabPeer(lab, 'a', bin, [...args])
//   await peer.waitEvent(e => e.event === 'listening', 20_000)
//   await relay.relayedBytes()               // libp2p_relaysvc_data_transferred_bytes_total
import { execFileSync, execFile } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BANNER_TIMEOUT_MS, RELAY_BIN, SANITIZER_ENV, requireBinary, withTimeout } from '../../lib/env.mjs'
import { spawnTracked, stopProcess } from '../../lib/procs.mjs'
import { parseLogLine } from '../../lib/relay.mjs'

export const LAB_SH = join(dirname(fileURLToPath(import.meta.url)), 'lab.sh')

// The lab's addresses (lab.sh has the same; README.md has the picture).
export const ADDR = {
  relay: '17.0.0.1',
  natA: '17.0.0.10',
  natB: '17.0.0.20',
  privA: '10.1.0.2',
  privB: '10.2.0.2'
}

/** Create the lab (lab.sh up, then lab.sh check); returns { tag, ns(node), check, down() }. */
export function labUp () {
  // run.sh picks the tag (RLY_DCUTR_TAG) so that its trap can remove the lab too
  const tag = process.env.RLY_DCUTR_TAG ?? 'p' + process.pid.toString(36).slice(-7)
  const down = () => {
    try {
      execFileSync(LAB_SH, ['down', tag], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 30_000 })
    } catch {}
  }
  // down also runs when node exits in any way (after procs.mjs has killed our children)
  process.on('exit', down)
  execFileSync(LAB_SH, ['up', tag], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  const check = execFileSync(LAB_SH, ['check', tag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
  return { tag, ns: node => `rlyd-${tag}-${node}`, check, down }
}

/** lab.sh counters TAG: the routers' drop counters and conntrack tables, as text. */
export function labCounters (lab) {
  try {
    return execFileSync(LAB_SH, ['counters', lab.tag], { encoding: 'utf8', timeout: 10_000 })
  } catch (e) {
    return `lab.sh counters failed: ${e.message}`
  }
}

/** Run a command in a namespace, resolve with stdout (reject on failure), bounded. */
export function nsExec (lab, node, cmd, args, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', lab.ns(node), cmd, ...args], { timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) => err ? reject(new Error(`${cmd} in ${lab.ns(node)}: ${err.message} ${stderr}`)) : resolve(stdout))
  })
}

function lineReader (stream, onLine) {
  let partial = ''
  stream.setEncoding('utf8')
  stream.on('data', chunk => {
    partial += chunk
    const parts = partial.split('\n')
    partial = parts.pop()
    for (const l of parts) onLine(l)
  })
  stream.on('end', () => { if (partial !== '') onLine(partial) })
}

/** A waiter list over a growing array: wait(pred, ms, what) resolves with the first item matching. */
function waitable (items) {
  const waiters = new Set()
  return {
    push (x) {
      items.push(x)
      for (const w of waiters) w(x)
    },
    wait (pred, ms, what, exited) {
      const hit = items.find(pred)
      if (hit !== undefined) return Promise.resolve(hit)
      let w
      const p = new Promise((resolve, reject) => {
        w = x => { if (pred(x)) resolve(x) }
        waiters.add(w)
        exited?.then(r => reject(new Error(`${what}: the process exited first (code ${r.code}, signal ${r.signal})`)))
      })
      return withTimeout(p, ms, what).finally(() => waiters.delete(w))
    }
  }
}

/**
 * Start the relay in the lab's public namespace: TCP and QUIC on ADDR.relay:port, announcing
 * those (external_addrs), metrics on 127.0.0.1:9464 inside the namespace, debug logs.
 * `unspecified`: listen on 0.0.0.0 instead and set no external_addrs (the default config's way).
 */
export async function startLabRelay (lab, { port = 4001, extra = [], unspecified = false } = {}) {
  requireBinary(RELAY_BIN, 'relay-server')
  const tmp = mkdtempSync(join(tmpdir(), 'rly-dcutr-'))
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
  mkdirSync(join(tmp, 'home'))
  const tcp = `/ip4/${ADDR.relay}/tcp/${port}`
  const quic = `/ip4/${ADDR.relay}/udp/${port}/quic-v1`
  const metricsPort = 9464
  const config = [
    '[network]',
    `tcp_listen_addr = "${unspecified ? `/ip4/0.0.0.0/tcp/${port}` : tcp}"`,
    'tcp_listen_addr_v6 = ""',
    `quic_listen_addr = "${unspecified ? `/ip4/0.0.0.0/udp/${port}/quic-v1` : quic}"`,
    'quic_listen_addr_v6 = ""',
    unspecified ? '' : `external_addrs = ["${tcp}", "${quic}"]`,
    'shutdown_grace_secs = 1',
    '',
    '[metrics]',
    `listen_addr = "/ip4/127.0.0.1/tcp/${metricsPort}"`,
    '',
    '[logging]',
    'level = "debug"',
    'log_format = "pretty"',
    ...extra
  ].join('\n') + '\n'
  const configPath = join(tmp, 'relay.toml')
  writeFileSync(configPath, config)
  // `ip netns exec` execs the command: the PID is the relay's own
  const child = spawnTracked('ip', ['netns', 'exec', lab.ns('pub'), RELAY_BIN, '--config', configPath], {
    env: { ...process.env, ...SANITIZER_ENV, HOME: join(tmp, 'home') },
    cwd: tmp
  })
  const out = []
  const logs = []
  const logW = waitable(logs)
  const outW = waitable(out)
  lineReader(child.stdout, l => outW.push(l))
  lineReader(child.stderr, l => logW.push(parseLogLine(l) ?? { message: '', fields: {}, line: l }))
  await outW.wait(l => l.startsWith('Metrics on:'), BANNER_TIMEOUT_MS, 'relay banner', child.exited)
  const idLine = out.find(l => l.startsWith('Local PeerId:'))
  const peerId = idLine.split(':')[1].trim()
  return {
    child,
    peerId,
    tcp: `${tcp}/p2p/${peerId}`,
    quic: `${quic}/p2p/${peerId}`,
    logs,
    waitLog: (pred, ms, what) => logW.wait(pred, ms, what, child.exited),
    /** the relay's /metrics, fetched inside the namespace (bash /dev/tcp: no curl needed) */
    async metrics () {
      const text = await nsExec(lab, 'pub', 'bash', ['-c',
        `exec 3<>/dev/tcp/127.0.0.1/${metricsPort} && printf 'GET /metrics HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3 && cat <&3`], 5_000)
      const m = {}
      for (const l of text.split('\n')) {
        const r = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.e+-]+)\s*$/.exec(l.trim())
        if (r) m[r[1] + (r[2] ?? '')] = Number(r[3])
      }
      return m
    },
    async relayedBytes () {
      const m = await this.metrics()
      const v = m.libp2p_relaysvc_data_transferred_bytes_total
      if (v === undefined) throw new Error('relay metrics: no libp2p_relaysvc_data_transferred_bytes_total')
      return v
    },
    /** the relay's log lines that tell what it saw: connections (with the address it observed and
     *  sends back in identify), reservations, circuits */
    describe () {
      const keep = /Connection|Reservation|Circuit|Identify|identify|hop|stop|denied|Denied|WARN|ERROR/
      return logs.filter(r => keep.test(r.line)).map(r => r.line).slice(-80).join('\n')
    },
    stop: () => stopProcess(child)
  }
}

/**
 * Start an interop peer (PEERS.md) in the lab namespace `node` ('a' or 'b'); stdout JSON events
 * are parsed into `events`, stderr kept (last 300 lines) for failure messages.
 */
export function startLabPeer (lab, node, bin, args, name = node) {
  const t0 = Date.now()
  const child = spawnTracked('ip', ['netns', 'exec', lab.ns(node), bin, ...args], { env: { ...process.env } })
  const events = []
  const evW = waitable(events)
  const stderr = []
  const other = []
  lineReader(child.stdout, l => {
    let e
    try {
      e = JSON.parse(l)
    } catch {
      other.push(l)
      return
    }
    if (e == null || typeof e !== 'object') return
    e.t_ms = Date.now() - t0
    e.t_abs = Date.now()
    evW.push(e)
  })
  lineReader(child.stderr, l => {
    stderr.push(l)
    if (stderr.length > 300) stderr.shift()
  })
  return {
    child,
    name,
    events,
    waitEvent: (pred, ms, what) => evW.wait(pred, ms, `${name}: ${what}`, child.exited),
    describe () {
      return `--- ${name} (${bin.split('/').slice(-1)[0]} ${args.join(' ')}) exit=${child.exitCode} signal=${child.signalCode}\n` +
        `events:\n${events.map(({ t_abs: _, ...e }) => '  ' + JSON.stringify(e)).join('\n')}\n` +
        (other.length ? `other stdout:\n${other.slice(-20).join('\n')}\n` : '') +
        `stderr (tail):\n${stderr.slice(-60).join('\n')}`
    },
    stop: () => stopProcess(child, { timeoutMs: 5_000 })
  }
}
