/**
 * bench:idb — the packed IndexedDB store's write path in headless Chromium, as the sync worker
 * drives it: a stream of nodes (realistic sizes, batches of the sync's flush size, some staged and
 * promoted) written into a fresh `IdbNodeStore` in a dedicated worker (bench/idb.worker.ts), with
 * the raw write rate per slice of nodes, so a cost that grows with the store shows.
 *
 * Busy time is measured from outside, per thread: Chromium runs each dedicated worker on its own
 * thread (`DedicatedWorker` in /proc/<pid>/task/<tid>/comm), and /proc/…/schedstat gives each
 * thread's CPU time in ns — exact, and unaffected by the other load on a shared machine (wall-clock
 * rates are). The sync worker is the first such thread, the store-writer worker (when the store runs
 * one) the second. "browser" is the CPU of every Chromium process of the run (the IndexedDB backend
 * included), per node.
 *
 * Modes per tree: `in-thread` (the store's transactions on the sync worker's thread, as before
 * issue 14) and `writer` (transactions in the store-writer worker, src/worker/idb-writer.ts) when the
 * tree has one. BENCH_BASE=<dir> (a `git archive main` tree with node_modules linked) runs the same
 * worker against that tree's store too, alternating with this one, in the same run.
 *
 * Env: BENCH_NODES (default "100000,1400000"), BENCH_RUNS (default 1: runs per mode and size),
 * BENCH_SLICE (default 100000), BENCH_STAGE (staged fraction, default 0.1), BENCH_MODES (default
 * all: e.g. "writer,in-thread,base").
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_SYNC_CONFIG } from '../src/core/sync/types.ts'
import { launchBrowser } from '../test/helpers/browser.ts'
import type { IdbBenchMessage, IdbBenchRequest } from './idb.worker.ts'
import { bundleForBrowser, fmtNum, loadAvg, note, printTable } from './lib.ts'

const ROOT = join(import.meta.dirname, '..')
const SIZES = (process.env.BENCH_NODES ?? '100000,1400000').split(',').map(Number)
const RUNS = Number(process.env.BENCH_RUNS ?? 1)
const SLICE = Number(process.env.BENCH_SLICE ?? 100_000)
const STAGE = Number(process.env.BENCH_STAGE ?? 0.1)
const BATCH = DEFAULT_SYNC_CONFIG.flushOps
const WRITER_ENTRY = join('src', 'worker', 'idb-writer.ts')

interface Bundle {
  worker: string
  writer: string | null
}

/** The bench worker (and the store-writer worker, if the tree has one) bundled from `tree`. */
async function bundle(tree: string): Promise<Bundle> {
  const entry = join(tree, 'bench', 'idb.worker.ts')
  if (tree !== ROOT) {
    mkdirSync(join(tree, 'bench'), { recursive: true })
    copyFileSync(join(ROOT, 'bench', 'idb.worker.ts'), entry)
  }
  const one = (file: string) => bundleForBrowser(file, { minify: false })
  const writer = existsSync(join(tree, WRITER_ENTRY)) ? await one(join(tree, WRITER_ENTRY)) : null
  return { worker: await one(entry), writer }
}

const PAGE = `<!doctype html><script type="module">
const w = new Worker('/worker.js', { type: 'module' })
w.onmessage = (e) => window.__bench(e.data)
window.__start = (q) => w.postMessage(q)
</script>`

function serve(b: Bundle): Promise<Server> {
  const files: Record<string, [string, string]> = {
    '/': ['text/html', PAGE],
    '/worker.js': ['text/javascript', b.worker],
    ...(b.writer ? { '/writer.js': ['text/javascript', b.writer] as [string, string] } : {}),
  }
  const server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname] ?? files['/']!
    res.writeHead(200, { 'content-type': f[0], 'cache-control': 'no-store' }).end(f[1])
  })
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)))
}

// ---- CPU time from /proc -------------------------------------------------------------------------

const read = (f: string): string | null => {
  try {
    return readFileSync(f, 'utf8')
  } catch {
    return null
  }
}
const TICK_NS = 1e7 // USER_HZ 100

function browserPids(profile: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => read(`/proc/${pid}/cmdline`)?.includes(profile))
}

interface Cpu {
  /** ns on CPU of each DedicatedWorker thread, by thread id (ascending: creation order). */
  workers: [number, number][]
  /** ns of CPU of every process of the browser (all threads). */
  browser: number
}

function cpu(profile: string): Cpu {
  const workers: [number, number][] = []
  let browser = 0
  for (const pid of browserPids(profile)) {
    const stat = read(`/proc/${pid}/stat`)
    if (stat) {
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      browser += (Number(f[11]) + Number(f[12])) * TICK_NS
    }
    for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
      if (!read(`/proc/${pid}/task/${tid}/comm`)?.startsWith('DedicatedWorker')) continue
      const s = read(`/proc/${pid}/task/${tid}/schedstat`)
      if (s) workers.push([tid, Number(s.split(' ')[0])])
    }
  }
  workers.sort((a, b) => a[0] - b[0])
  return { workers, browser }
}

// ---- one run -------------------------------------------------------------------------------------

interface Slice {
  nodes: number
  ms: number
  /** µs of CPU per node in this slice: the sync worker's thread, the writer's, all of Chromium. */
  syncUs: number
  writerUs: number
  browserUs: number
}

interface Run {
  mode: string
  nodes: number
  ms: number
  slices: Slice[]
  syncUs: number
  writerUs: number
  browserUs: number
}

async function runOnce(mode: string, b: Bundle, nodes: number): Promise<Run> {
  const server = await serve(b)
  const profile = mkdtempSync(join(tmpdir(), 'rootsync-idb-bench-'))
  const ctx = await launchBrowser({ userDataDir: profile })
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage())
    const slices: Slice[] = []
    let last: Cpu | null = null
    let first: Cpu | null = null
    const delta = (a: Cpu, z: Cpu, i: number) =>
      (z.workers[i]?.[1] ?? 0) - (a.workers.find((w) => w[0] === z.workers[i]?.[0])?.[1] ?? 0)
    let done!: (r: Run) => void
    let fail!: (e: Error) => void
    const finished = new Promise<Run>((res, rej) => {
      done = res
      fail = rej
    })
    await page.exposeFunction('__bench', (m: IdbBenchMessage) => {
      const now = cpu(profile)
      if (m.type === 'error') return fail(new Error(m.error))
      if (m.type === 'slice') {
        const n = SLICE
        slices.push({
          nodes: m.nodes,
          ms: m.ms,
          syncUs: delta(last!, now, 0) / n / 1e3,
          writerUs: delta(last!, now, 1) / n / 1e3,
          browserUs: (now.browser - last!.browser) / n / 1e3,
        })
        last = now
        return
      }
      done({
        mode,
        nodes: m.nodes,
        ms: m.ms,
        slices,
        syncUs: delta(first!, now, 0) / m.nodes / 1e3,
        writerUs: delta(first!, now, 1) / m.nodes / 1e3,
        browserUs: (now.browser - first!.browser) / m.nodes / 1e3,
      })
    })
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)
    await page.waitForFunction(() => typeof (window as { __start?: unknown }).__start === 'function')
    // The worker thread exists once its script ran; the writer's appears when the store opens it.
    first = last = cpu(profile)
    const q: IdbBenchRequest = {
      nodes,
      batch: BATCH,
      slice: SLICE,
      stageFraction: STAGE,
      writerUrl: mode === 'writer' ? '/writer.js' : null,
    }
    await page.evaluate((req) => (window as unknown as { __start(r: unknown): void }).__start(req), q)
    return await finished
  } finally {
    await ctx.close()
    server.close()
    rmSync(profile, { recursive: true, force: true })
  }
}

// ---- main ----------------------------------------------------------------------------------------

async function main() {
  const work = await bundle(ROOT)
  const base = process.env.BENCH_BASE ? await bundle(process.env.BENCH_BASE) : null
  const all: [string, Bundle][] = [
    ...(work.writer ? [['writer', work] as [string, Bundle]] : []),
    ['in-thread', work],
    ...(base ? [['base', base] as [string, Bundle]] : []),
  ]
  const want = process.env.BENCH_MODES?.split(',')
  const modes = all.filter(([m]) => !want || want.includes(m))
  const loadStart = loadAvg()
  const results: Run[] = []
  for (const nodes of SIZES)
    for (let r = 0; r < RUNS; r++)
      for (const [mode, b] of modes) {
        note(`${mode}: ${fmtNum(nodes)} nodes (run ${r + 1}/${RUNS}), load ${loadAvg()}`)
        const run = await runOnce(mode, b, nodes)
        results.push(run)
        note(
          `  ${fmtNum(run.nodes / (run.ms / 1000))} nodes/s; sync worker ${run.syncUs.toFixed(2)} µs/node, writer ${run.writerUs.toFixed(2)}, browser ${run.browserUs.toFixed(2)}`,
        )
      }
  const us = (x: number) => x.toFixed(2)
  printTable(
    `bench:idb — IdbNodeStore.write in a Chromium worker, batch ${BATCH}, ${STAGE * 100}% staged then promoted (load ${loadStart} → ${loadAvg()})`,
    ['mode', 'nodes', 'nodes/s', 'sync worker µs/node', 'writer µs/node', 'all Chromium µs/node'],
    results.map((r) => [
      r.mode,
      fmtNum(r.nodes),
      fmtNum(r.nodes / (r.ms / 1000)),
      us(r.syncUs),
      us(r.writerUs),
      us(r.browserUs),
    ]),
  )
  for (const r of results.filter((x) => x.slices.length > 1))
    printTable(
      `${r.mode}, ${fmtNum(r.nodes)} nodes: per slice of ${fmtNum(SLICE)}`,
      ['up to', 'nodes/s', 'sync worker µs/node', 'writer µs/node', 'all Chromium µs/node'],
      r.slices.map((s) => [
        fmtNum(s.nodes),
        fmtNum(SLICE / (s.ms / 1000)),
        us(s.syncUs),
        us(s.writerUs),
        us(s.browserUs),
      ]),
    )
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
