// js_serve.mjs: what the bench's js servers share: print the listen addresses the way
// relay-server's banner does (scripts/bench.sh waits for "Listening on:"), and stop cleanly on
// SIGTERM/SIGINT (forced after 10 s).
export function serve (node) {
  for (const ma of node.getMultiaddrs()) {
    process.stdout.write(`Listening on: ${ma.toString()}\n`)
  }
  process.stdout.write(`pid ${process.pid}\n`)

  let stopping = false
  async function stop () {
    if (stopping) return
    stopping = true
    const force = setTimeout(() => process.exit(0), 10_000)
    force.unref()
    try {
      await node.stop()
    } catch {}
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
