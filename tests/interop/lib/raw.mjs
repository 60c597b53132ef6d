// raw.mjs: hand-made libp2p wire traffic over node:net, for robustness tests that must send what
// no well-behaved libp2p stack sends (PROTOCOLS.md 2-4): a buffered raw TCP client with bounded
// reads, multistream-select framing, a minimal Noise XX initiator (libp2p payload, optional early
// muxer negotiation) built on node:crypto, and Yamux frame encoding/decoding.
//
//   const c = await rawConnect(host, port)        // loopback only; c.closed resolves on 'close'
//   c.write(mssMsg(MSS_HEADER)); await c.readMss()
//   const t = await noiseHandshake(c, { identity })  // -> { send(plain), recv(), peerId }
//   t.send(yamuxFrame({ type: YAMUX.WINDOW_UPDATE, flags: YAMUX.SYN, streamId: 1 }))
import './env.mjs'
import { createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto'
import net from 'node:net'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { OP_TIMEOUT_MS } from './env.mjs'

export const MSS_HEADER = '/multistream/1.0.0'

/** uvarint encoding of a non-negative integer (< 2^53). */
export function uvarint (n) {
  const out = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

/** One multistream-select message: uvarint(len) || text || '\n'. */
export function mssMsg (text) {
  const body = Buffer.from(`${text}\n`, 'utf8')
  return Buffer.concat([uvarint(body.length), body])
}

/** A Noise frame: 2-byte big-endian length || message (<= 65535 bytes). */
export function noiseFrame (msg) {
  const hdr = Buffer.alloc(2)
  hdr.writeUInt16BE(msg.length)
  return Buffer.concat([hdr, msg])
}

/**
 * A raw TCP connection with a receive buffer. Never closes on its own; the peer (the relay) does.
 *   closed: promise of { at (ms, performance.now()), error (code or null) } on 'close'
 *   isClosed, bytesIn, localAddress, localPort
 */
class RawConn {
  constructor (sock) {
    this.sock = sock
    this.chunks = []
    this.buffered = 0
    this.bytesIn = 0
    this.isClosed = false
    this.error = null
    this.waiter = null
    this.localAddress = sock.localAddress
    this.localPort = sock.localPort
    this.openedAt = performance.now()
    sock.on('data', d => {
      this.chunks.push(d)
      this.buffered += d.length
      this.bytesIn += d.length
      this.waiter?.()
    })
    sock.on('error', err => { this.error = err.code ?? err.message })
    this.closed = new Promise(resolve => {
      sock.once('close', () => {
        this.isClosed = true
        this.closedAt = performance.now()
        this.waiter?.()
        resolve({ at: this.closedAt, error: this.error })
      })
    })
  }

  write (buf) {
    if (this.isClosed || this.sock.destroyed) return false
    this.sock.write(buf)
    return true
  }

  /** End our side (FIN). */
  end () {
    if (!this.sock.destroyed) this.sock.end()
  }

  /** Stop reading from the socket (the kernel buffers fill, then the peer's writes block). */
  pauseReading () {
    this.sock.pause()
  }

  /** Read again (a close by the peer shows only while reading). */
  resumeReading () {
    this.sock.resume()
  }

  /** Bytes we wrote that the kernel has not taken yet. */
  get pendingWrite () {
    return this.sock.writableLength
  }

  /** Close our side at once (used by the test's own cleanup). */
  destroy () {
    this.sock.destroy()
  }

  take (n) {
    const all = Buffer.concat(this.chunks)
    this.chunks = all.length > n ? [all.subarray(n)] : []
    this.buffered = all.length - n
    return all.subarray(0, n)
  }

  /** Every byte buffered so far (consumed). */
  drain () {
    return this.take(this.buffered)
  }

  /** Exactly n bytes; rejects on close or after timeoutMs. */
  async read (n, { timeoutMs = OP_TIMEOUT_MS, what = `${n} bytes` } = {}) {
    const deadline = performance.now() + timeoutMs
    while (this.buffered < n) {
      if (this.isClosed) throw new Error(`connection closed while reading ${what} (have ${this.buffered})`)
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms reading ${what} (have ${this.buffered})`)
      await new Promise(resolve => {
        const t = setTimeout(resolve, left)
        this.waiter = () => { clearTimeout(t); resolve() }
      })
      this.waiter = null
    }
    return this.take(n)
  }

  /** One multistream-select message, without its trailing newline (a string). */
  async readMss (opts = {}) {
    let len = 0
    let shift = 0
    for (let i = 0; i < 3; i++) {
      const b = (await this.read(1, opts))[0]
      len += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) break
    }
    const body = await this.read(len, opts)
    return body.subarray(0, len - 1).toString('utf8')
  }

  /** One Noise frame's message. */
  async readNoiseFrame (opts = {}) {
    const hdr = await this.read(2, opts)
    return this.read(hdr.readUInt16BE(0), opts)
  }
}

/**
 * Connect to host:port over TCP (bounded), from `localAddress` when given (any 127.x.y.z works on
 * Linux loopback: a test can stand for many clients). Resolves with a RawConn.
 */
export function rawConnect (host, port, { timeoutMs = OP_TIMEOUT_MS, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, localAddress })
    sock.setNoDelay(true)
    const t = setTimeout(() => { sock.destroy(); reject(new Error(`connect ${host}:${port} timed out`)) }, timeoutMs)
    sock.once('error', err => { clearTimeout(t); reject(err) })
    sock.once('connect', () => {
      clearTimeout(t)
      sock.removeAllListeners('error')
      resolve(new RawConn(sock))
    })
  })
}

/** Wait (bounded) for the peer to close `conn`; resolves with { at, error } or rejects. */
export async function waitClosed (conn, timeoutMs, what = 'connection') {
  let timer
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (local port ${conn.localPort}) was not closed by the relay within ${timeoutMs} ms (received ${conn.bytesIn} bytes)`)), timeoutMs)
  })
  try {
    return await Promise.race([conn.closed, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/* ---- Noise XX (Noise_XX_25519_ChaChaPoly_SHA256, empty prologue), initiator side ----------- */

const PROTOCOL_NAME = Buffer.from('Noise_XX_25519_ChaChaPoly_SHA256') // exactly 32 bytes: h = name
const SIG_PREFIX = Buffer.from('noise-libp2p-static-key:')
export const NOISE_MAX_PLAINTEXT = 65535 - 16

const sha256 = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest()
const hmac = (key, ...parts) => createHmac('sha256', key).update(Buffer.concat(parts)).digest()

function hkdf2 (ck, ikm) {
  const tk = hmac(ck, ikm)
  const o1 = hmac(tk, Buffer.from([1]))
  const o2 = hmac(tk, o1, Buffer.from([2]))
  return [o1, o2]
}

function nonce (n) {
  const b = Buffer.alloc(12)
  b.writeBigUInt64LE(BigInt(n), 4)
  return b
}

function aeadSeal (k, n, ad, pt) {
  const c = createCipheriv('chacha20-poly1305', k, nonce(n), { authTagLength: 16 })
  c.setAAD(ad, { plaintextLength: pt.length })
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()])
}

function aeadOpen (k, n, ad, ct) {
  if (ct.length < 16) throw new Error('noise: ciphertext shorter than the tag')
  const d = createDecipheriv('chacha20-poly1305', k, nonce(n), { authTagLength: 16 })
  d.setAAD(ad, { plaintextLength: ct.length - 16 })
  d.setAuthTag(ct.subarray(ct.length - 16))
  return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()])
}

function x25519Pair () {
  const { publicKey, privateKey } = generateKeyPairSync('x25519')
  return { privateKey, pub: Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url') }
}

function x25519 (privateKey, rawPub) {
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(rawPub).toString('base64url') }, format: 'jwk' })
  return diffieHellman({ privateKey, publicKey })
}

class SymmetricState {
  constructor () {
    this.h = Buffer.from(PROTOCOL_NAME)
    this.ck = Buffer.from(PROTOCOL_NAME)
    this.k = null
    this.n = 0
    this.mixHash(Buffer.alloc(0)) // empty prologue
  }

  mixHash (data) { this.h = sha256(this.h, data) }
  mixKey (ikm) {
    const [ck, k] = hkdf2(this.ck, ikm)
    this.ck = ck
    this.k = k
    this.n = 0
  }

  encryptAndHash (pt) {
    const ct = this.k == null ? Buffer.from(pt) : aeadSeal(this.k, this.n++, this.h, pt)
    this.mixHash(ct)
    return ct
  }

  decryptAndHash (ct) {
    const pt = this.k == null ? Buffer.from(ct) : aeadOpen(this.k, this.n++, this.h, ct)
    this.mixHash(ct)
    return pt
  }
}

function pbBytes (field, bytes) {
  return Buffer.concat([Buffer.from([(field << 3) | 2]), uvarint(bytes.length), Buffer.from(bytes)])
}

/** A libp2p identity for raw peers: Ed25519 key, its PeerId (string). */
export async function rawIdentity () {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

/** The libp2p Noise handshake payload; muxers: early muxer negotiation list (may be empty). */
async function handshakePayload (identity, staticPub, { muxers = ['/yamux/1.0.0'], badSignature = false } = {}) {
  const sig = Buffer.from(await identity.key.sign(Buffer.concat([SIG_PREFIX, staticPub])))
  if (badSignature) sig[0] ^= 0xff
  const parts = [pbBytes(1, publicKeyToProtobuf(identity.key.publicKey)), pbBytes(2, sig)]
  if (muxers.length > 0) parts.push(pbBytes(4, Buffer.concat(muxers.map(m => pbBytes(2, Buffer.from(m))))))
  return Buffer.concat(parts)
}

/**
 * Run multistream-select for /noise on `conn` (header + proposal, expect the header and the echo).
 */
export async function selectNoise (conn, opts = {}) {
  conn.write(Buffer.concat([mssMsg(MSS_HEADER), mssMsg('/noise')]))
  const h = await conn.readMss(opts)
  if (h !== MSS_HEADER) throw new Error(`expected the multistream header, got ${JSON.stringify(h)}`)
  const p = await conn.readMss(opts)
  if (p !== '/noise') throw new Error(`expected the /noise echo, got ${JSON.stringify(p)}`)
}

/**
 * Noise XX as initiator on `conn` (after selectNoise). Options:
 *   identity      from rawIdentity() (default: a new one)
 *   muxers        early muxer list sent in msg3 (default ['/yamux/1.0.0']; [] for none)
 *   badSignature  flip a bit of identity_sig in msg3
 *   msg3Override  (Buffer) send this message as msg3 instead of the real one (framed for you)
 *   payloadOverride (Buffer) encrypt these bytes as the msg3 payload instead of the real payload
 * Resolves after msg3 is written with { peerId, send(plain), recv(opts), sendRaw(frame) }:
 * transport messages with the split keys (send: initiator->responder).
 */
export async function noiseHandshake (conn, { identity, muxers, badSignature = false, msg3Override, payloadOverride, timeoutMs = OP_TIMEOUT_MS } = {}) {
  identity ??= await rawIdentity()
  const ss = new SymmetricState()
  const e = x25519Pair()
  const s = x25519Pair()
  // msg1: e (empty plaintext payload)
  ss.mixHash(e.pub)
  ss.encryptAndHash(Buffer.alloc(0))
  conn.write(noiseFrame(e.pub))
  // msg2: e, ee, s, es, payload
  const m2 = await conn.readNoiseFrame({ timeoutMs, what: 'Noise msg2' })
  if (m2.length < 32 + 48 + 16) throw new Error(`Noise msg2 too short: ${m2.length}`)
  const re = m2.subarray(0, 32)
  ss.mixHash(re)
  ss.mixKey(x25519(e.privateKey, re))
  const rs = ss.decryptAndHash(m2.subarray(32, 80))
  ss.mixKey(x25519(e.privateKey, rs))
  const remotePayload = ss.decryptAndHash(m2.subarray(80))
  // msg3: s, se, payload
  if (msg3Override != null) {
    conn.write(noiseFrame(msg3Override))
    return { peerId: identity.peerId, remotePayload }
  }
  const cs = ss.encryptAndHash(s.pub)
  ss.mixKey(x25519(s.privateKey, re))
  const cp = ss.encryptAndHash(payloadOverride ?? await handshakePayload(identity, s.pub, { muxers, badSignature }))
  conn.write(noiseFrame(Buffer.concat([cs, cp])))
  const [k1, k2] = hkdf2(ss.ck, Buffer.alloc(0))
  let sendN = 0
  let recvN = 0
  return {
    peerId: identity.peerId,
    remotePayload,
    send (plain) {
      const frames = []
      for (let off = 0; off < plain.length || (off === 0 && plain.length === 0); off += NOISE_MAX_PLAINTEXT) {
        frames.push(noiseFrame(aeadSeal(k1, sendN++, Buffer.alloc(0), plain.subarray(off, off + NOISE_MAX_PLAINTEXT))))
        if (plain.length === 0) break
      }
      return conn.write(Buffer.concat(frames))
    },
    sendRaw (buf) { return conn.write(buf) },
    async recv (opts = {}) {
      const ct = await conn.readNoiseFrame(opts)
      return aeadOpen(k2, recvN++, Buffer.alloc(0), ct)
    }
  }
}

/* ---- Yamux ---------------------------------------------------------------------------------- */

export const YAMUX = {
  DATA: 0,
  WINDOW_UPDATE: 1,
  PING: 2,
  GO_AWAY: 3,
  SYN: 1,
  ACK: 2,
  FIN: 4,
  RST: 8
}

/** One 12-byte Yamux header (plus payload for Data). */
export function yamuxFrame ({ version = 0, type, flags = 0, streamId = 0, length = 0, payload }) {
  const b = Buffer.alloc(12)
  b[0] = version
  b[1] = type
  b.writeUInt16BE(flags, 2)
  b.writeUInt32BE(streamId >>> 0, 4)
  b.writeUInt32BE((payload != null ? payload.length : length) >>> 0, 8)
  return payload != null ? Buffer.concat([b, payload]) : b
}

/** Incremental Yamux decoder: push(plaintext) -> complete frames { type, flags, streamId, length, payload }. */
export class YamuxDecoder {
  constructor () { this.buf = Buffer.alloc(0) }
  push (data) {
    this.buf = Buffer.concat([this.buf, data])
    const out = []
    for (;;) {
      if (this.buf.length < 12) break
      const type = this.buf[1]
      const length = this.buf.readUInt32BE(8)
      const total = 12 + (type === YAMUX.DATA ? length : 0)
      if (this.buf.length < total) break
      out.push({
        version: this.buf[0],
        type,
        flags: this.buf.readUInt16BE(2),
        streamId: this.buf.readUInt32BE(4),
        length,
        payload: type === YAMUX.DATA ? this.buf.subarray(12, total) : null
      })
      this.buf = this.buf.subarray(total)
    }
    return out
  }
}
