/**
 * bench:noise — ChaCha20-Poly1305 as noise uses it, JavaScript (@noble/ciphers, what @libp2p/noise's
 * browser build uses) against WebAssembly (@chainsafe/as-chacha20poly1305 via src/net/noise-crypto.ts),
 * in Node and in a dedicated worker of headless Chromium (Debian's `chromium`, playwright-core).
 *
 * A frame = seal `size` plaintext bytes, then open them in place, as noise does for each transport
 * message (bench/noise.worker.ts). Sizes: noise's largest frame (65,535 B with the tag, so 65,519 B of
 * plaintext, what a large sync response is cut into), a few middle ones, and small control frames.
 *
 * Figures are CPU time of the thread that runs the loop, not wall clock (the machine is shared): the
 * utime+stime of that thread in /proc (the Node main thread; Chromium's "DedicatedWorker" thread of
 * the renderer), 10 ms ticks, so each case runs ~0.3–1 s of CPU. JS and WASM alternate within a run;
 * RUNS runs (default 3), reported as median and min–max. The Chromium part also checks the fallback:
 * a worker served with `Content-Security-Policy: script-src 'self'` (no 'wasm-unsafe-eval') must
 * choose the JS crypto, and one without it the WASM crypto.
 *
 * Env: NOISE_RUNS (3), NOISE_MB (plaintext MB per case, 16), NOISE_ONLY=node|chromium.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { launchBrowser } from '../test/helpers/browser.ts'
import { bundleForBrowser, fmtNum, fmtRatio, loadAvg, note, printTable } from './lib.ts'
import { type FromNoiseWorker, type ImplName, impls, runFrames, type ToNoiseWorker } from './noise.worker.ts'

const SIZES = [32, 256, 1200, 4096, 16384, 65519]
const IMPLS: ImplName[] = ['js', 'wasm']
const RUNS = Number(process.env.NOISE_RUNS ?? 3)
const BYTES = Number(process.env.NOISE_MB ?? 16) * 1024 * 1024
const ONLY = process.env.NOISE_ONLY
const TICK_MS = 1000 / 100 // CLK_TCK is 100 on Linux

/** Frames per case: ~BYTES of plaintext, with a per-frame overhead so small frames stay bounded. */
const framesFor = (size: number): number => Math.ceil(BYTES / (size + 512))

/** CPU ms (user + system) a thread has used so far, from /proc/<pid>/task/<tid>/stat. */
function threadCpuMs(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
  // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}

type Samples = Record<ImplName, Map<number, number[]>> // µs of CPU per frame, per size

const emptySamples = (): Samples => ({ js: new Map(), wasm: new Map() })

async function measureAll(
  label: string,
  run: (impl: ImplName, size: number, frames: number) => Promise<void>,
  cpuMs: () => number,
): Promise<Samples> {
  const samples = emptySamples()
  // Warm-up: JIT and WASM tier-up, one small pass of everything.
  for (const size of SIZES) for (const impl of IMPLS) await run(impl, size, Math.ceil(framesFor(size) / 20))
  for (let r = 0; r < RUNS; r++) {
    note(`${label}: run ${r + 1}/${RUNS} (load ${loadAvg()})`)
    for (const size of SIZES) {
      const frames = framesFor(size)
      // Alternate which implementation goes first, so a load change favours neither.
      const order = r % 2 === 0 ? IMPLS : [...IMPLS].reverse()
      for (const impl of order) {
        const before = cpuMs()
        await run(impl, size, frames)
        const us = ((cpuMs() - before) * 1000) / frames
        const list = samples[impl].get(size) ?? []
        list.push(us)
        samples[impl].set(size, list)
      }
    }
  }
  return samples
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function report(title: string, samples: Samples): void {
  const fmtUs = (xs: number[]): string =>
    `${fmtNum(median(xs), 1)} (${fmtNum(Math.min(...xs), 1)}–${fmtNum(Math.max(...xs), 1)})`
  const mbs = (size: number, us: number): string => fmtNum(size / us, 1) // B/µs = MB/s (10^6)
  const rows = SIZES.map((size) => {
    const js = samples.js.get(size) ?? []
    const wasm = samples.wasm.get(size) ?? []
    const speedups = js.map((j, i) => j / (wasm[i] ?? Number.NaN))
    return [
      `${fmtNum(size)} B`,
      fmtUs(js),
      fmtUs(wasm),
      mbs(size, median(js)),
      mbs(size, median(wasm)),
      `${fmtRatio(median(speedups))} (${fmtRatio(Math.min(...speedups))}–${fmtRatio(Math.max(...speedups))})`,
    ]
  })
  printTable(
    `${title}: CPU µs per frame (seal + open), median (min–max) of ${RUNS} runs; MB/s of plaintext at the median`,
    ['frame', 'JS µs', 'WASM µs', 'JS MB/s', 'WASM MB/s', 'WASM speed-up'],
    rows,
  )
}

async function benchNode(): Promise<void> {
  const all = await impls()
  const samples = await measureAll(
    'node',
    async (impl, size, frames) => runFrames(all[impl], size, frames),
    () => threadCpuMs(process.pid, process.pid),
  )
  report(`Node ${process.version}`, samples)
}

// ---- Chromium --------------------------------------------------------------------------------------

const PAGE = `<!doctype html><script type="module">
let pending = null
const start = (url) => {
  const w = new Worker(url, { type: 'module' })
  w.onmessage = (e) => { const p = pending; pending = null; p?.(e.data) }
  w.onerror = (e) => { const p = pending; pending = null; p?.({ type: 'error', message: String(e.message) }) }
  return w
}
let w = start('/noise.js')
window.__ask = (m) => new Promise((r) => { pending = r; w.postMessage(m) })
window.__restart = (url) => { w.terminate(); w = start(url) }
window.__ready = true
</script>`

function serve(workerJs: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const js = { 'content-type': 'text/javascript', 'cache-control': 'no-store' }
    if (path === '/noise.js') res.writeHead(200, js).end(workerJs)
    // A worker's own response carries its CSP: this one forbids WebAssembly compilation.
    else if (path === '/noise-csp.js')
      res.writeHead(200, { ...js, 'content-security-policy': "script-src 'self'" }).end(workerJs)
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
  })
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)))
}

const ask = async (page: Page, m: ToNoiseWorker): Promise<FromNoiseWorker> => {
  const r = (await page.evaluate(
    (msg) => (window as unknown as { __ask(m: unknown): Promise<unknown> }).__ask(msg),
    m,
  )) as FromNoiseWorker
  if (r.type === 'error') throw new Error(`noise worker: ${r.message}`)
  return r
}

/** The renderer thread running the dedicated worker: a "DedicatedWorker" thread of this profile's processes. */
function findWorkerThread(profileDir: string): { pid: number; tid: number } {
  const found: { pid: number; tid: number }[] = []
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    let cmdline: string
    try {
      cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (!cmdline.includes(profileDir) || !cmdline.includes('--type=renderer')) continue
    for (const t of readdirSync(`/proc/${p}/task`)) {
      const comm = readFileSync(`/proc/${p}/task/${t}/comm`, 'utf8').trim()
      if (comm.startsWith('DedicatedWorker')) found.push({ pid: Number(p), tid: Number(t) })
    }
  }
  if (found.length !== 1) throw new Error(`expected one DedicatedWorker thread, found ${found.length}`)
  return found[0]!
}

async function benchChromium(tmp: string): Promise<void> {
  const bundle = await bundleForBrowser(join(import.meta.dirname, 'noise.worker.ts'))
  const server = await serve(bundle)
  const profileDir = mkdtempSync(join(tmp, 'chromium-'))
  const context = await launchBrowser({ userDataDir: profileDir })
  try {
    const page = context.pages()[0] ?? (await context.newPage())
    page.on('pageerror', (e) => note(`  [page error] ${e.message}`))
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)
    await page.waitForFunction(() => (window as { __ready?: boolean }).__ready === true)
    const probe = await ask(page, { type: 'probe' })
    const chromium = await page.evaluate(() => navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? '?')
    const thread = findWorkerThread(profileDir)
    const samples = await measureAll(
      'chromium',
      async (impl, size, frames) => void (await ask(page, { type: 'run', impl, size, frames })),
      () => threadCpuMs(thread.pid, thread.tid),
    )
    report(`Chromium ${chromium} (headless), dedicated worker`, samples)
    await page.evaluate(() =>
      (window as unknown as { __restart(u: string): void }).__restart('/noise-csp.js'),
    )
    const csp = await ask(page, { type: 'probe' })
    console.log(
      `\nChosen noise crypto in the worker: without CSP "${probe.type === 'probe' ? probe.chosen : '?'}"; ` +
        `with CSP script-src 'self' "${csp.type === 'probe' ? csp.chosen : '?'}"` +
        (csp.type === 'probe' && csp.wasmError ? ` (WASM: ${csp.wasmError.slice(0, 120)})` : ''),
    )
    if (probe.type !== 'probe' || probe.chosen !== 'wasm') throw new Error('WASM not chosen without CSP')
    if (csp.type !== 'probe' || csp.chosen !== 'js') throw new Error('the CSP worker did not fall back to JS')
  } finally {
    await context.close()
    server.close()
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'rootsync-noise-'))
const loadStart = loadAvg()
console.log(
  `bench:noise ${new Date().toISOString()}; ${fmtNum(BYTES / 1024 / 1024)} MB of plaintext per case`,
)
try {
  if (ONLY !== 'chromium') await benchNode()
  if (ONLY !== 'node') await benchChromium(tmp)
} finally {
  rmSync(tmp, { recursive: true, force: true })
}
console.log(`\nload average (1, 5, 15 min): start ${loadStart}, end ${loadAvg()}`)
