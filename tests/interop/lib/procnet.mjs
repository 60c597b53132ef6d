// procnet.mjs: the kernel's view of a process's sockets (/proc/PID/fd and /proc/PID/net/*): for
// js's own endpoints (jsnode.mjs ownTcpEndpointsTo) and for a peer's, sampled on a worker thread
// while a short-lived peer runs (peers/lib/sockets_worker.mjs). No dependencies: imported by that
// worker too.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

function hexToIPv4 (h) {
  return [3, 2, 1, 0].map(i => parseInt(h.slice(i * 2, i * 2 + 2), 16)).join('.')
}

function hexToIPv6 (h) {
  // /proc/net/*6: four 32-bit words, each in host (little-endian) byte order
  const bytes = []
  for (let w = 0; w < 4; w++) {
    const word = h.slice(w * 8, w * 8 + 8)
    for (let b = 3; b >= 0; b--) bytes.push(parseInt(word.slice(b * 2, b * 2 + 2), 16))
  }
  const groups = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16))
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)
}

/**
 * The sockets of process `pid`: [{ proto: 'tcp' | 'udp', ip, port, remoteIp, remotePort, state }]
 * (state: the kernel's hex state, '01' = established for TCP). Empty when the process is gone.
 */
export function procSockets (pid) {
  const inodes = new Set()
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m) inodes.add(m[1])
      } catch {}
    }
  } catch {
    return []
  }
  if (inodes.size === 0) return []
  const out = []
  for (const [file, proto, toIp] of [['tcp', 'tcp', hexToIPv4], ['tcp6', 'tcp', hexToIPv6], ['udp', 'udp', hexToIPv4], ['udp6', 'udp', hexToIPv6]]) {
    let text
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8')
    } catch {
      continue
    }
    for (const row of text.split('\n').slice(1)) {
      const c = row.trim().split(/\s+/)
      if (c.length < 10 || !inodes.has(c[9])) continue
      const [lip, lport] = c[1].split(':')
      const [rip, rport] = c[2].split(':')
      out.push({ proto, ip: toIp(lip), port: parseInt(lport, 16), remoteIp: toIp(rip), remotePort: parseInt(rport, 16), state: c[3] })
    }
  }
  return out
}

export function socketKey (s) {
  return `${s.proto} ${s.ip}:${s.port} ${s.remoteIp}:${s.remotePort} ${s.state}`
}
