// failures_reporter.mjs: a node:test reporter that prints nothing until the run ends, then one
// short block per failed test: its name and the first lines of its error. run.sh sends it to
// stderr beside the TAP on stdout, so that a log cut to its head and tail (CI) still says which
// assertion failed and why; the full message (relay log tail included) stays in the TAP.
const MAX_LINES = 6

function firstLines (err) {
  const e = err?.cause ?? err // the runner wraps a test's error in ERR_TEST_FAILURE
  const text = String(e?.message ?? e ?? 'unknown error')
  const lines = text.split('\n')
  return lines.slice(0, MAX_LINES).concat(lines.length > MAX_LINES ? ['  ...'] : [])
}

function * summary (failed) {
  yield `\nfailed tests (${failed.length}):\n`
  for (const f of failed) {
    yield `- ${f.name}${f.file ? ` (${f.file.split('/').pop()})` : ''}\n`
    for (const l of f.lines) yield `    ${l}\n`
  }
}

export default async function * failuresReporter (source) {
  const failed = []
  let done = false
  for await (const ev of source) {
    if (ev.type === 'test:fail' && ev.data.details?.error?.failureType !== 'subtestsFailed') {
      failed.push({ name: ev.data.name, file: ev.data.file, lines: firstLines(ev.data.details?.error) })
    }
    // The run's closing counts ("tests N", ..., "duration_ms X"): the summary goes out with the
    // first of them, as --test-force-exit (run.sh) may end the process before the stream ends.
    if (!done && ev.type === 'test:diagnostic' && ev.data.nesting === 0 && /^tests \d/.test(ev.data.message)) {
      done = true
      if (failed.length) yield * summary(failed)
    }
  }
  if (!done && failed.length) yield * summary(failed)
}
