// polyfill.mjs: import this FIRST in every interop script, before anything from libp2p.
//
// js-libp2p 3.x calls Promise.withResolvers (Node 22+). On Node 18 and 20 the call throws inside
// libp2p's connection upgrade and inbound connections die with ECONNRESET, so every script
// loads this module before importing libp2p (lib/*.mjs import it too, as a safety net).
// Node 18 is Debian 12's nodejs, what `make test` installs on a bare Debian 12: the suite must
// pass there as on Node 20 (scripts/fresh-machine.sh runs it on Debian's Node 18).

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}

// Node 18: no global WebCrypto without a flag, no CustomEvent.
if (globalThis.crypto == null) {
  const { webcrypto } = await import('node:crypto')
  Object.defineProperty(globalThis, 'crypto', { configurable: true, writable: true, value: webcrypto })
}

if (typeof globalThis.CustomEvent !== 'function') {
  globalThis.CustomEvent = class CustomEvent extends Event {
    #detail
    constructor (type, options) {
      super(type, options)
      this.#detail = options?.detail ?? null
    }

    get detail () {
      return this.#detail
    }
  }
}
