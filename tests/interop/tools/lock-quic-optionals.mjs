// lock-quic-optionals.mjs: after `npm install`, add lockfile entries for the platform packages of
// @chainsafe/libp2p-quic that the registry reachable here does not serve (it only has
// linux-x64-gnu). Without them `npm ci` says the lockfile is out of sync. Each entry is marked
// optional with its os/cpu/libc, and has no integrity: npm skips it on other platforms without
// fetching it. Run from tests/interop:  node tools/lock-quic-optionals.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const LOCK = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(LOCK, 'utf8'))
const parentKey = 'node_modules/@chainsafe/libp2p-quic'
const parent = lock.packages[parentKey]
if (parent == null) {
  console.error(`${parentKey} is not in package-lock.json`)
  process.exit(1)
}

// napi-rs package name suffix -> npm platform fields
function platformOf (suffix) {
  const [os, cpu, abi] = suffix.split('-')
  const p = { cpu: [cpu], os: [os] }
  if (abi === 'gnu') p.libc = ['glibc']
  if (abi === 'musl') p.libc = ['musl']
  return p
}

let added = 0
for (const [name, version] of Object.entries(parent.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`
  if (lock.packages[key] != null) continue
  const suffix = name.slice('@chainsafe/libp2p-quic-'.length)
  const { cpu, os, libc } = platformOf(suffix)
  lock.packages[key] = {
    version,
    cpu,
    ...(libc ? { libc } : {}),
    license: 'MIT',
    optional: true,
    os,
    engines: { node: '>= 10' }
  }
  added++
}

// npm keeps lockfile package keys sorted
const sorted = {}
for (const k of Object.keys(lock.packages).sort((a, b) => a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))) {
  sorted[k] = lock.packages[k]
}
lock.packages = sorted
writeFileSync(LOCK, JSON.stringify(lock, null, 2) + '\n')
console.log(`lock-quic-optionals: added ${added} entr${added === 1 ? 'y' : 'ies'}`)
