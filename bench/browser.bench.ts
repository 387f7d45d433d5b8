/**
 * bench:browser — the real web app in headless Chromium (Debian's `chromium`, driven by
 * playwright-core over CDP) syncing a devnet state from three real `rootsync serve` processes over
 * loopback WebSockets into its packed IndexedDB store, inside its Web Worker.
 *
 * Per size (BENCH_SIZES, default "100000,1000000" accounts; contracts 100 × 100 slots, the
 * bench:sync state):
 *
 * 1. The genesis state is built as `rootsync serve` builds it (ChainDB into LevelDB; the genesis is
 *    dated now, or the app refuses its checkpoint), walked to list its distinct nodes (the raw bytes
 *    a sync must store; written to nodes.bin for the worker pages), and copied to three serving
 *    nodes. bootstrap.json lists the three peers, bootstrap-1.json the first only, as
 *    test/helpers/app.ts writes them; the app (vite build) is served by src/node/static-server.ts,
 *    once per bootstrap file.
 * 2. Write floors, same Chromium binary, fresh profile, in a SharedWorker (as the app's sync runs;
 *    see runWorkerPage) (bench/browser-baseline.page.ts, bundled with esbuild): the same nodes
 *    written one IndexedDB record per node with `idb`, one transaction per batch of the sync's flush
 *    size (the baseline; BENCH_ONE_PER_NODE=0 skips it, it takes minutes at 1M); and the packed
 *    store's raw write rate (IdbNodeStore.write per batch): the packed-write floor.
 * 3. Network and hashing floors, fresh profile, in a SharedWorker (bench/browser-floors.page.ts):
 *    every node asked of the three serving nodes by hash over the app's libp2p stack and PeerClient
 *    with the sync's request size and in-flight limit, nothing verified or stored; keccak of every
 *    node with the app's WASM keccak. BENCH_FLOOR_RUNS (default 3) passes; a floor is the best.
 * 4. Cold: a fresh profile opens `/?address=0x…` (an account of the genesis). The app's marks give
 *    the first verified balance (`rootsync:first-verified-balance`, ms since navigation start) and
 *    the sync (`rootsync:synced`: nodes, seconds). Heap: `Runtime.getHeapUsage` every 100 ms on
 *    every worker of the app (dedicated, shared and service workers, nested ones too: browser-level
 *    Target.setAutoAttach, repeated on each page and worker session; bench/browser-chrome.ts),
 *    summed. Long tasks: a PerformanceObserver('longtask') installed before any page script.
 *    Storage: navigator.storage.estimate() (usageDetails.indexedDB), the sum of the IndexedDB record
 *    sizes read back in the page, and the profile's IndexedDB directory on disk, each against the
 *    raw node bytes.
 * 5. Warm: reloads of the same page (same profile) after the completed sync.
 * 6. 1 peer vs 3: BENCH_PEER_RUNS (default 1) full syncs with one peer, each in a fresh profile,
 *    alternating with more 3-peer syncs (the cold sync is the first), with heap and long tasks.
 * 7. More cold lookups (BENCH_COLD_RUNS, default 3 in all) in fresh profiles, closed after the mark.
 * 8. If a goal is missed (or BENCH_PROFILE=1; BENCH_PROFILE=0 never): one more cold sync with an
 *    unminified build under the CDP Profiler on every worker (each from its first line) and on the
 *    page's main thread, then a reload with every live worker profiled to the first verified
 *    balance; top self-time functions and self time per bundled module, per thread.
 *
 * The report ends with the goals table (bench/browser-goals.ts): each browser goal of issue 14, its
 * figure, its floor or target from the same run, the ratio and whether it is met.
 *
 * Initial JS: every JS file of the build, gzip -9; "initial" = the page entry, the worker (the page
 * starts it at load) and what they import statically; dynamic imports are listed as lazy.
 *
 * The app and the serving nodes come from a snapshot of the last commit (`git archive HEAD`), so
 * edits in progress in the work tree cannot break a run; BENCH_TREE=work uses the work tree.
 * BENCH_KEEP=1 keeps the temp dir. Progress goes to stderr, the report to stdout.
 */
import '../src/node/polyfills.ts'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import {
  closeSync,
  copyFileSync,
  cpSync,
  createReadStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import { cpus, tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { Page } from 'playwright-core'
import { build as viteBuild } from 'vite'
import { accountRefs } from '../src/core/account.ts'
import { toHex } from '../src/core/bytes.ts'
import { ChainDB } from '../src/core/chain/chain-db.ts'
import { generateDevnet } from '../src/core/chain/devnet.ts'
import { genesisToJson } from '../src/core/chain/genesis.ts'
import { headerHash } from '../src/core/chain/header.ts'
import { useWasmKeccak } from '../src/core/hash.ts'
import { DEFAULT_SYNC_CONFIG } from '../src/core/sync/types.ts'
import { childRefs, decodeNode, type RefKind } from '../src/core/trie/node.ts'
import { genesisBootstrap } from '../src/node/commands/devnet.ts'
import { LevelNodeStore } from '../src/store/level-store.ts'
import { chromiumPath } from '../test/helpers/browser.ts'
import type { BaselineResult } from './browser-baseline.page.ts'
import {
  type Chrome,
  firstPage,
  HeapWatch,
  LONGTASK_INIT,
  launchChrome,
  pageSession,
  started,
  stopProc,
  type WorkerTarget,
  watchWorkers,
  workerName,
} from './browser-chrome.ts'
import type { FloorsResult } from './browser-floors.page.ts'
import {
  baselineRate,
  GOALS,
  goalRows,
  type LongTasks,
  median,
  metCell,
  packedRate,
  type SyncRun,
} from './browser-goals.ts'
import { moduleMap, type ProfileSummary, summarizeProfile } from './browser-profile.ts'
import {
  bundleForBrowser,
  type CpuWindow,
  chromiumGroups,
  cpuWindow,
  fmtCpuWindow,
  fmtMs,
  fmtNum,
  fmtRatio,
  gc,
  loadAvg,
  note,
  printTable,
} from './lib.ts'
import type { CpuProfile } from './profile.ts'

const ROOT = join(import.meta.dirname, '..')
const FLUSH = DEFAULT_SYNC_CONFIG.flushOps
const MARK_BALANCE = 'rootsync:first-verified-balance'
const MARK_SYNCED = 'rootsync:synced'
const SYNC_TIMEOUT_MS = Number(process.env.BENCH_SYNC_TIMEOUT_MS ?? 15 * 60_000)
const LOOKUP_TIMEOUT_MS = 60_000
/** The worker pages (bench/browser-<name>.page.ts), bundled with esbuild from the app's tree. */
const PAGES = ['baseline', 'floors'] as const

// ---- the app snapshot, its build and its bundle sizes ------------------------------------------------

interface Tree {
  dir: string
  commit: string
  dirty: string[]
}

function git(args: string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim()
}

function snapshot(tmp: string): Tree {
  const commit = git(['rev-parse', '--short', 'HEAD'])
  const dirty = git(['status', '--porcelain', '--', 'src', 'index.html', 'vite.config.ts', 'bin'])
    .split('\n')
    .filter(Boolean)
  if (process.env.BENCH_TREE === 'work') return { dir: ROOT, commit, dirty }
  const dir = join(tmp, 'app-src')
  mkdirSync(dir)
  execFileSync('sh', ['-c', `git archive HEAD | tar -x -C '${dir}'`], { cwd: ROOT })
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  mkdirSync(join(dir, 'bench'), { recursive: true })
  for (const f of PAGES)
    copyFileSync(join(ROOT, 'bench', `browser-${f}.page.ts`), join(dir, 'bench', `browser-${f}.page.ts`))
  return { dir, commit, dirty: [] }
}

async function buildApp(tree: Tree, outDir: string, minify: boolean): Promise<void> {
  await viteBuild({
    root: tree.dir,
    logLevel: 'error',
    build: { outDir, emptyOutDir: true, minify, sourcemap: false },
  })
}

interface JsFile {
  file: string
  bytes: number
  gzip: number
  role: 'entry' | 'worker' | 'static import' | 'lazy' | 'service worker'
  from: string
}

/**
 * Every emitted JS file with its gzip -9 size and how it is first reached from index.html: entry,
 * static import, `new Worker(new URL(…))` (the page starts its worker at load), or dynamic import
 * (lazy). JS at the top of dist (the PWA's service worker) is listed as such.
 */
function bundleSizes(dist: string): JsFile[] {
  const assets = join(dist, 'assets')
  const files = readdirSync(assets).filter((f) => /\.m?js$/.test(f))
  const code = new Map(files.map((f) => [f, readFileSync(join(assets, f), 'utf8')]))
  const html = readFileSync(join(dist, 'index.html'), 'utf8')
  const out = new Map<string, JsFile>()
  const sized = (path: string): { bytes: number; gzip: number } => {
    const buf = readFileSync(path)
    return { bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length }
  }
  const add = (f: string, role: JsFile['role'], from: string): void => {
    const prev = out.get(f)
    if (prev && prev.role !== 'lazy') return
    if (prev && role === 'lazy') return
    out.set(f, { file: f, ...sized(join(assets, f)), role, from })
  }
  const queue: string[] = []
  for (const m of html.matchAll(/<script[^>]+src="[^"]*?([^"/]+\.js)"/g)) {
    add(m[1]!, 'entry', 'index.html')
    queue.push(m[1]!)
  }
  for (const m of html.matchAll(/<link[^>]+modulepreload[^>]+href="[^"]*?([^"/]+\.js)"/g)) {
    add(m[1]!, 'static import', 'index.html')
    queue.push(m[1]!)
  }
  while (queue.length) {
    const f = queue.shift()!
    const src = code.get(f) ?? ''
    for (const g of files) {
      if (g === f) continue
      for (const m of src.matchAll(new RegExp(g.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'))) {
        const before = src.slice(Math.max(0, m.index - 80), m.index)
        const role: JsFile['role'] = /new Worker\([^;]*$/.test(before)
          ? 'worker'
          : /import\(\s*[`'"][./]*$/.test(before)
            ? 'lazy'
            : 'static import'
        const had = out.get(g)
        // What a lazily loaded chunk imports loads lazily too.
        add(g, out.get(f)?.role === 'lazy' ? 'lazy' : role, f)
        if (!had || (had.role === 'lazy' && role !== 'lazy')) queue.push(g)
      }
    }
  }
  for (const f of files) if (!out.has(f)) add(f, 'lazy', '(not referenced)')
  for (const f of readdirSync(dist).filter((x) => /\.m?js$/.test(x))) {
    const from = [...code].find(([, src]) => src.includes(f))?.[0] ?? '(not referenced)'
    out.set(f, { file: f, ...sized(join(dist, f)), role: 'service worker', from })
  }
  return [...out.values()]
}

// ---- the devnet state ---------------------------------------------------------------------------------

interface State {
  root: string
  nodes: number
  bytes: number
  nodesFile: string
  chainId: number
  genesisHash: string
  validators: string[]
  address: string
  balance: string
  setup: Record<string, number>
}

async function buildState(dir: string, accounts: number): Promise<State> {
  const setup: Record<string, number> = {}
  let t = performance.now()
  // Dated now: the app refuses a checkpoint older than its trusting period (TRUST_EXPIRED), and
  // bootstrap.json's checkpoint is this genesis. The timestamp is in the header only: same state.
  let { genesis } = generateDevnet({
    seed: 'bench-sync',
    accounts,
    contracts: 100,
    slots: 100,
    timestamp: Math.floor(Date.now() / 1000),
  })
  writeFileSync(join(dir, 'genesis.json'), JSON.stringify(genesisToJson(genesis)))
  // An ordinary account of the genesis (not a spender, not a contract), for the lookup.
  const [addr, acct] = genesis.alloc[Math.floor(accounts / 2)]!
  const address = toHex(addr)
  const balance = acct.balance.toString()
  setup.generateMs = performance.now() - t

  t = performance.now()
  const store = await LevelNodeStore.open(join(dir, 'node-0', 'db'))
  const chain = await ChainDB.open(store, genesis)
  genesis = null as unknown as typeof genesis
  const head = (await chain.head()).header
  const rootBytes = head.stateRoot
  const genesisHash = toHex(headerHash(head))
  setup.buildMs = performance.now() - t

  // Every distinct node and code blob under the root, BFS, into nodes.bin: [hash][len u32 BE][bytes].
  t = performance.now()
  const nodesFile = join(dir, 'nodes.bin')
  const fd = openSync(nodesFile, 'w')
  const seen = new Set<string>()
  let nodes = 0
  let bytes = 0
  let frontier: { hash: Uint8Array; kind: RefKind }[] = [{ hash: rootBytes, kind: 'state' }]
  seen.add(toHex(rootBytes))
  while (frontier.length) {
    const next: typeof frontier = []
    for (let i = 0; i < frontier.length; i += 4096) {
      const part = frontier.slice(i, i + 4096)
      const got = await store.getNodes(part.map((f) => f.hash))
      let size = 0
      for (const b of got) size += 36 + (b?.length ?? 0)
      const out = Buffer.allocUnsafe(size)
      let o = 0
      part.forEach((f, j) => {
        const b = got[j]
        if (!b) throw new Error(`node ${toHex(f.hash)} missing from the built store`)
        out.set(f.hash, o)
        out.writeUInt32BE(b.length, o + 32)
        out.set(b, o + 36)
        o += 36 + b.length
        nodes++
        bytes += b.length
        if (f.kind === 'code') return
        const kind = f.kind === 'storage' ? 'storage' : 'state'
        for (const c of childRefs(decodeNode(b), kind, accountRefs)) {
          const k = toHex(c.hash)
          if (seen.has(k)) continue
          seen.add(k)
          next.push({ hash: c.hash.slice(), kind: c.kind })
        }
      })
      writeSync(fd, out)
    }
    frontier = next
  }
  closeSync(fd)
  const validators = chain.info.validators.map(toHex)
  await store.close()
  setup.walkMs = performance.now() - t
  return {
    root: toHex(rootBytes),
    nodes,
    bytes,
    nodesFile,
    chainId: chain.info.chainId,
    genesisHash,
    validators,
    address,
    balance,
    setup,
  }
}

// ---- serving nodes ----------------------------------------------------------------------------------

interface ServeProc {
  proc: ChildProcess
  peerId: string
  addrs: string[]
}

async function startServer(bin: string, dataDir: string): Promise<ServeProc> {
  const proc = spawn(process.execPath, [bin, 'serve', '--data', dataDir], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  started.add(proc)
  proc.once('exit', () => started.delete(proc))
  return new Promise<ServeProc>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`rootsync serve exited with ${code}`)))
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      try {
        const e = JSON.parse(l)
        if (e.event === 'ready') resolve({ proc, peerId: e.peerId, addrs: e.addrs })
      } catch {}
    })
  })
}

/** The app's marks' details (the contract): first verified balance and completed sync. */
interface MarkDetail {
  source?: 'local' | 'proof'
  account?: { balance: string } | null
  root?: string | null
  height?: number
  nodes: number
  skipped?: number
  seconds: number
}

interface Mark {
  startTime: number
  detail: MarkDetail
}

async function readMark(page: Page, name: string): Promise<Mark | null> {
  return page.evaluate((n) => {
    const e = performance.getEntriesByName(n)[0] as PerformanceMark | undefined
    return e ? { startTime: e.startTime, detail: e.detail } : null
  }, name)
}

/** What the page shows of the sync now: the synced mark or line, and the app's error alert. */
const SYNC_STATE_JS = `(() => ({
  marked: performance.getEntriesByName(${JSON.stringify(MARK_SYNCED)}).length > 0,
  synced: document.querySelector('[data-testid=synced]')?.textContent ?? null,
  error: document.querySelector('[data-testid=sync-error]')?.textContent ?? null,
}))()`
/** An app error shown this long without a completed sync ends the wait (errors the app retries clear). */
const SYNC_ERROR_MS = 60_000

/**
 * The synced figures: the app's mark if it makes one, else the DOM ("… (N nodes … in S s)"). An
 * error the app shows is reported as it appears and ends the wait only if it stays for
 * SYNC_ERROR_MS (a transient one — a peer error the sync retries — came and went within 100 ms
 * under load, which used to end the wait with no mark).
 */
async function waitSynced(page: Page, timeout: number): Promise<{ via: 'mark' | 'dom'; mark: Mark }> {
  const deadline = performance.now() + timeout
  let errorSince: number | null = null
  let lastError: string | null = null
  for (;;) {
    const st = (await page.evaluate(SYNC_STATE_JS)) as {
      marked: boolean
      synced: string | null
      error: string | null
    }
    if (st.marked || st.synced !== null) break
    if (st.error && st.error !== lastError) note(`  [app error shown] ${st.error}`)
    lastError = st.error
    errorSince = st.error ? (errorSince ?? performance.now()) : null
    if (errorSince !== null && performance.now() - errorSince > SYNC_ERROR_MS)
      throw new Error(`the app's sync failed: ${st.error}`)
    if (performance.now() > deadline) throw new Error(`no synced mark within ${fmtMs(timeout)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  const m = await readMark(page, MARK_SYNCED)
  if (m) return { via: 'mark', mark: m }
  const now = await page.evaluate(() => performance.now())
  const text = (await page.getByTestId('synced').textContent()) ?? ''
  const r = /\(([\d,]+) nodes[^)]* in ([\d.]+) s\)/.exec(text)
  return {
    via: 'dom',
    mark: {
      startTime: now,
      detail: { nodes: Number(r?.[1]?.replace(/,/g, '')), seconds: Number(r?.[2]), root: null },
    },
  }
}

/** What happened before the first verified balance, in ms since navigation start (page timeline). */
const TIMELINE_JS = `(() => {
  const nav = performance.getEntriesByType('navigation')[0]
  const out = []
  if (nav) {
    out.push(['html response end', nav.responseEnd])
    out.push(['DOMContentLoaded', nav.domContentLoadedEventEnd])
  }
  for (const r of performance.getEntriesByType('resource'))
    if (/\\.(m?js|json|wasm)(\\?|$)/.test(r.name))
      out.push(['fetched ' + r.name.split('/').pop().split('?')[0], r.responseEnd])
  for (const m of performance.getEntriesByType('mark')) out.push(['mark ' + m.name, m.startTime])
  return out.sort((a, b) => a[1] - b[1])
})()`

async function timeline(page: Page): Promise<[string, number][]> {
  return (await page.evaluate(TIMELINE_JS)) as [string, number][]
}

async function waitBalance(page: Page, timeout: number): Promise<Mark | null> {
  try {
    await page.waitForFunction((n) => performance.getEntriesByName(n).length > 0, MARK_BALANCE, {
      timeout,
      polling: 20,
    })
  } catch {
    return null
  }
  return readMark(page, MARK_BALANCE)
}

interface StorageFigures {
  estimateIdb: number | null
  estimateTotal: number
  /** Sum of record sizes read back from every IndexedDB database of the origin. */
  records: { bytes: number; byStore: Record<string, { records: number; bytes: number }> }
}

/**
 * Plain JavaScript (not a compiled function: tsx would inject its `__name` helper, absent in the page):
 * the estimate, and every record of every IndexedDB database of the origin read back and sized.
 */
const STORAGE_JS = `(async () => {
  const e = await navigator.storage.estimate()
  const size = (v) => {
    if (v == null) return 0
    if (v instanceof ArrayBuffer) return v.byteLength
    if (ArrayBuffer.isView(v)) return v.byteLength
    if (typeof v === 'string') return v.length
    if (typeof v === 'number' || typeof v === 'boolean') return 8
    if (Array.isArray(v)) return v.reduce((a, x) => a + size(x), 0)
    if (typeof v === 'object') return Object.entries(v).reduce((a, [k, x]) => a + k.length + size(x), 0)
    return 0
  }
  const byStore = {}
  let bytes = 0
  for (const d of await indexedDB.databases()) {
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open(d.name)
      r.onsuccess = () => res(r.result)
      r.onerror = () => rej(r.error)
    })
    for (const s of [...db.objectStoreNames]) {
      const tally = { records: 0, bytes: 0 }
      await new Promise((res, rej) => {
        const c = db.transaction(s).objectStore(s).openCursor()
        c.onsuccess = () => {
          const cur = c.result
          if (!cur) return res()
          tally.records++
          tally.bytes += size(cur.key) + size(cur.value)
          cur.continue()
        }
        c.onerror = () => rej(c.error)
      })
      byStore[d.name + '/' + s] = tally
      bytes += tally.bytes
    }
    db.close()
  }
  return {
    estimateIdb: e.usageDetails?.indexedDB ?? null,
    estimateTotal: e.usage ?? 0,
    records: { bytes, byStore },
  }
})()`

async function storageFigures(page: Page): Promise<StorageFigures> {
  return (await page.evaluate(STORAGE_JS)) as StorageFigures
}

/** Bytes on disk (allocated blocks) of the profile's IndexedDB directories. */
function diskBytes(profileDir: string): number {
  const walk = (p: string): number => {
    let n = 0
    let st: ReturnType<typeof statSync>
    try {
      st = statSync(p)
    } catch {
      return 0
    }
    if (st.isDirectory()) for (const f of readdirSync(p)) n += walk(join(p, f))
    else n += Number(st.blocks) * 512
    return n
  }
  return walk(join(profileDir, 'Default', 'IndexedDB'))
}

// ---- one size -----------------------------------------------------------------------------------------

interface SizeReport {
  accounts: number
  state: State
  baseline: BaselineResult
  floors: FloorsResult
  /** The first cold sync (3 peers), the one the other figures (storage, lookups) come from. */
  synced: SyncRun
  /** Every app sync of this size, in run order (the first is `synced`): 3 peers and 1 peer. */
  syncs: SyncRun[]
  cold: Mark[]
  warm: (Mark | null)[]
  /** Page timelines up to the first verified balance: the first cold load and the first warm reload. */
  timelines: { cold: [string, number][]; warm: [string, number][] }
  warmSynced: (number | null)[]
  storage: { atSync: StorageFigures; later: StorageFigures; diskBytes: number; laterDelayMs: number }
  requestedJs: string[]
  profile?: {
    /** Every worker profiled from its start (or the profile's start) to the synced mark. */
    workers: { name: string; summary: ProfileSummary }[]
    page: ProfileSummary
    /** After a reload: every live worker, from the reload to the first verified balance. */
    warm: { name: string; summary: ProfileSummary }[]
    /** Workers that ended before their profile could be taken. */
    lost: string[]
    rate: number
  }
  load: { start: string; end: string }
}

function staticServer(
  files: Record<string, { type: string; body?: string; file?: string }>,
): Promise<Server> {
  const server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname] ?? files['/']!
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' })
    if (f.file) createReadStream(f.file).pipe(res)
    else res.end(f.body)
  })
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)))
}

const portOf = (s: Server): number => (s.address() as { port: number }).port

/**
 * One of the bench's worker pages (bundled with esbuild) in a SharedWorker of a fresh profile:
 * `message` is posted to the worker, whose reply is the result (or `{ error }`).
 *
 * A SharedWorker, not a dedicated one, because Playwright instruments a page's dedicated workers:
 * it enables their Network domain, so every WebSocket frame becomes a DevTools event that the browser
 * process serialises and sends to this process. Measured during the network floor in a dedicated
 * worker: the browser process's main thread 57–65% busy and its DevTools thread 29%, with the
 * floor at 21–29k nodes/s. The app's own sync runs in a SharedWorker (sharing=auto), which
 * Playwright does not attach to, so the floors are measured the same way. The page's
 * `self.onmessage` / `self.postMessage` are wired to the connecting port.
 */
async function runWorkerPage<T>(
  tmp: string,
  state: State,
  js: string,
  message: object,
  beforeClose?: () => void,
): Promise<T> {
  const html = `<!doctype html><script type="module">
const w = new SharedWorker('/page.js', { type: 'module' })
w.port.onmessage = (e) => { window.__result = e.data }
w.port.postMessage(${JSON.stringify(message)})
</script>`
  const shim = `self.onconnect = (e) => {
  const port = e.ports[0]
  self.postMessage = (m) => port.postMessage(m)
  port.onmessage = (ev) => self.onmessage(ev)
}
`
  const server = await staticServer({
    '/': { type: 'text/html', body: html },
    '/page.js': { type: 'text/javascript', body: shim + js },
    '/nodes.bin': { type: 'application/octet-stream', file: state.nodesFile },
  })
  const c = await launchChrome(tmp)
  try {
    const page = await firstPage(c)
    await page.goto(`http://127.0.0.1:${portOf(server)}/`)
    await page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, null, {
      timeout: SYNC_TIMEOUT_MS,
      polling: 500,
    })
    const r = (await page.evaluate(() => (window as { __result?: unknown }).__result)) as
      | T
      | { error: string }
    if (r && typeof r === 'object' && 'error' in r) throw new Error(`worker page: ${r.error}`)
    beforeClose?.()
    return r as T
  } finally {
    await c.close()
    server.close()
  }
}

async function appServer(
  tree: Tree,
  dist: string,
  bootstrapFile: string,
  requested: string[],
): Promise<Server> {
  const { serveApp } = (await import(
    pathToFileURL(join(tree.dir, 'src', 'node', 'static-server.ts')).href
  )) as typeof import('../src/node/static-server.ts')
  const server = await serveApp({ dist, bootstrapFile, host: '127.0.0.1', port: 0 })
  server.on('request', (req) => requested.push(new URL(req.url ?? '/', 'http://x').pathname))
  return server
}

function longTasksOf(lt: [number, number][] | null, syncedAt: number): LongTasks {
  const all = lt ?? []
  const during = all.filter((x) => x[0] <= syncedAt)
  return {
    supported: lt !== null,
    count: all.length,
    maxMs: Math.max(0, ...all.map((x) => x[1])),
    over50: all.filter((x) => x[1] > GOALS.longTaskMs).length,
    duringSync: during.length,
    over50DuringSync: during.filter((x) => x[1] > GOALS.longTaskMs).length,
    maxDuringSyncMs: Math.max(0, ...during.map((x) => x[1])),
  }
}

/** A fresh profile's page on `url`, with long tasks observed and every worker's heap sampled. */
async function openApp(c: Chrome, url: string): Promise<{ page: Page; heap: HeapWatch; stop(): void }> {
  await c.context.addInitScript(LONGTASK_INIT)
  const page = await firstPage(c)
  const watch = await watchWorkers(c.cdp, () => {})
  const heap = new HeapWatch(c.cdp, watch.workers)
  heap.start()
  await page.goto(url)
  return { page, heap, stop: watch.stop }
}

/** Waits for the app's synced mark; the sync's figures, heaps and long tasks up to it. */
async function finishSync(page: Page, heap: HeapWatch, peers: number): Promise<SyncRun> {
  const syn = await waitSynced(page, SYNC_TIMEOUT_MS)
  heap.stop()
  const lt = (await page.evaluate(
    () => (window as { __longtasks?: [number, number][] | null }).__longtasks,
  )) as [number, number][] | null
  const d = syn.mark.detail
  const run: SyncRun = {
    peers,
    via: syn.via,
    nodes: d.nodes,
    skipped: d.skipped ?? null,
    seconds: d.seconds,
    rate: d.nodes / d.seconds,
    navToSyncedMs: syn.mark.startTime,
    root: d.root ?? null,
    heap: heap.figures(),
    longTasks: longTasksOf(lt ?? null, syn.mark.startTime),
    load: loadAvg(),
  }
  note(
    `  synced, ${peers} peer${peers > 1 ? 's' : ''} (${syn.via}): ${fmtNum(d.nodes)} nodes in ${d.seconds?.toFixed?.(2)} s = ${fmtNum(run.rate)} nodes/s; navigation → synced ${fmtMs(run.navToSyncedMs)}; heap of all workers peak ${run.heap.peakUsedMB.toFixed(0)} MB (${Object.entries(
      run.heap.perWorkerMB,
    )
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ')}); long tasks > ${GOALS.longTaskMs} ms ${run.longTasks.over50DuringSync}; load ${run.load}`,
  )
  return run
}

/**
 * The processes whose CPU each sync and the floors are charged with: the serving nodes and every
 * process of the bench's Chromium (set once the servers are up).
 */
let cpuGroups: Record<string, () => number[]> = {}

/** One app sync in a fresh profile, closed at the synced mark. */
async function syncRun(tmp: string, url: string, peers: number): Promise<SyncRun> {
  const c = await launchChrome(tmp)
  try {
    const end = cpuWindow(cpuGroups)
    const { page, heap, stop } = await openApp(c, url)
    try {
      const run = await finishSync(page, heap, peers)
      run.cpu = end()
      note(`  CPU from navigation to synced: ${fmtCpuWindow(run.cpu)}`)
      return run
    } finally {
      stop()
    }
  } finally {
    await c.close()
  }
}

async function startServers(tree: Tree, dir: string): Promise<ServeProc[]> {
  for (const i of [1, 2]) cpSync(join(dir, 'node-0'), join(dir, `node-${i}`), { recursive: true })
  const bin = join(tree.dir, 'bin', 'rootsync.js')
  return Promise.all([0, 1, 2].map((i) => startServer(bin, join(dir, `node-${i}`))))
}

/** bootstrap.json for the app, listing these serving nodes (as test/helpers/app.ts writes it). */
function writeBootstrap(file: string, state: State, servers: ServeProc[]): string {
  writeFileSync(
    file,
    JSON.stringify(
      genesisBootstrap(
        state.chainId,
        state.genesisHash,
        state.validators,
        servers.map((s, i) => ({ name: `node-${i}`, peerId: s.peerId, addrs: s.addrs })),
      ),
    ),
  )
  return file
}

const wsAddr = (s: ServeProc): string => {
  const a = s.addrs.find((x) => x.includes('/ws'))
  if (!a) throw new Error(`serving node ${s.peerId} has no WebSocket address: ${s.addrs.join(' ')}`)
  return a
}

async function benchSize(
  tmp: string,
  tree: Tree,
  dist: string,
  pages: { baseline: string; floors: string },
  accounts: number,
  profile: 'auto' | 'always' | 'never',
): Promise<SizeReport> {
  const dir = join(tmp, String(accounts))
  mkdirSync(dir)
  const load = { start: loadAvg(), end: '' }
  note(`${fmtNum(accounts)} accounts: generating the devnet genesis, building and walking the state`)
  const state = await buildState(dir, accounts)
  gc()
  note(
    `state ${state.root.slice(0, 10)}…: ${fmtNum(state.nodes)} distinct nodes and code blobs, ${(state.bytes / 1e6).toFixed(1)} MB (generate ${fmtMs(state.setup.generateMs!)}, build ${fmtMs(state.setup.buildMs!)}, walk ${fmtMs(state.setup.walkMs!)})`,
  )

  note('baseline: one record per node vs packed, in a worker of a fresh Chromium profile…')
  const baseline = await runWorkerPage<BaselineResult>(tmp, state, pages.baseline, {
    batch: FLUSH,
    runs: Number(process.env.BENCH_BASELINE_RUNS ?? 1),
    onePerNode: process.env.BENCH_ONE_PER_NODE !== '0',
  })
  for (const r of baseline.runs)
    note(`  ${r.kind}: ${fmtNum(r.nodes / (r.ms / 1000))} nodes/s (${fmtMs(r.ms)})`)

  const servers = await startServers(tree, dir)
  const bootstrapFile = writeBootstrap(join(dir, 'bootstrap.json'), state, servers)
  const bootstrap1 = writeBootstrap(join(dir, 'bootstrap-1.json'), state, servers.slice(0, 1))
  const requested: string[] = []
  let server = await appServer(tree, dist, bootstrapFile, requested)
  const server1 = await appServer(tree, dist, bootstrap1, [])
  const url = (s = server): string => `http://127.0.0.1:${portOf(s)}/?address=${state.address}`
  note(`3 servers up; app at ${url()} (1-peer app at ${url(server1)})`)
  cpuGroups = {
    servers: () => servers.map((x) => x.proc.pid!),
    ...chromiumGroups(`--user-data-dir=${join(tmp, 'chromium-')}`),
  }

  try {
    note('floors: network (3 peers, no verification, no storage) and keccak, in a worker of a fresh profile…')
    // The floors' CPU, from Chromium's start to the result: the network passes are most of the
    // window (hashing takes under a second of it; start-up and the dial a few).
    const endFloors = cpuWindow(cpuGroups)
    let floorsCpu: CpuWindow | null = null
    const floors = await runWorkerPage<FloorsResult>(
      tmp,
      state,
      pages.floors,
      { addrs: servers.map(wsAddr), runs: Number(process.env.BENCH_FLOOR_RUNS ?? 3) },
      () => {
        floorsCpu = endFloors()
      },
    )
    for (const r of floors.runs)
      note(
        `  ${r.stage}: ${fmtNum(r.nodes / (r.ms / 1000))} nodes/s, ${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s (${fmtMs(r.ms)}${r.missed ? `, ${fmtNum(r.missed)} MISSED` : ''})`,
      )
    if (floorsCpu) note(`  CPU during the floors: ${fmtCpuWindow(floorsCpu)}`)

    // ---- cold sync, then warm reloads, in one fresh profile
    const c = await launchChrome(tmp)
    let report: Omit<
      SizeReport,
      'accounts' | 'state' | 'baseline' | 'floors' | 'syncs' | 'load' | 'profile' | 'requestedJs'
    > & {
      cold: Mark[]
    }
    try {
      note('cold: fresh profile, full sync, 3 peers…')
      const endCold = cpuWindow(cpuGroups)
      const { page, heap, stop } = await openApp(c, url())
      const balance = await waitBalance(page, LOOKUP_TIMEOUT_MS)
      const coldTimeline = await timeline(page)
      const synced = await finishSync(page, heap, 3)
      synced.cpu = endCold()
      note(`  CPU from navigation to synced: ${fmtCpuWindow(synced.cpu)}`)
      stop()
      const atSync = await storageFigures(page)
      note(
        `  first balance ${balance ? `${balance.startTime.toFixed(0)} ms (${balance.detail?.source})` : 'no mark'}`,
      )
      const t0 = performance.now()
      // Without the app's mark there is nothing to wait for: short timeouts.
      const lookupTimeout = balance ? LOOKUP_TIMEOUT_MS : 2000
      const warm: (Mark | null)[] = []
      let warmTimeline: [string, number][] = []
      const warmSynced: (number | null)[] = []
      for (let i = 0; i < Number(process.env.BENCH_WARM_RUNS ?? 3); i++) {
        await page.reload()
        warm.push(await waitBalance(page, lookupTimeout))
        if (i === 0) warmTimeline = await timeline(page)
        warmSynced.push(
          await waitSynced(page, 120_000).then(
            (s) => s.mark.startTime,
            () => null,
          ),
        )
        note(
          `  warm reload ${i + 1}: first balance ${warm.at(-1) ? `${warm.at(-1)!.startTime.toFixed(0)} ms (${warm.at(-1)!.detail?.source})` : 'no mark'}`,
        )
      }
      const later = await storageFigures(page)
      const laterDelayMs = performance.now() - t0
      report = {
        timelines: { cold: coldTimeline, warm: warmTimeline },
        synced,
        cold: balance ? [balance] : [],
        warm,
        warmSynced,
        storage: { atSync, later, diskBytes: 0, laterDelayMs },
      }
      await page.close()
      await new Promise((r) => setTimeout(r, 1000))
      report.storage.diskBytes = diskBytes(c.profileDir)
    } finally {
      await c.close()
    }
    const requestedJs = [...new Set(requested.filter((p) => p.endsWith('.js')).map((p) => basename(p)))]

    // ---- 1 peer against 3, each a full sync in a fresh profile, alternating (the first 3-peer run
    // is the cold sync above): BENCH_PEER_RUNS pairs.
    const syncs: SyncRun[] = [report.synced]
    const pairs = Number(process.env.BENCH_PEER_RUNS ?? 1)
    for (let i = 0; i < pairs; i++) {
      note(`1 peer vs 3: run ${i + 1} of ${pairs}…`)
      syncs.push(await syncRun(tmp, url(server1), 1))
      if (i < pairs - 1) syncs.push(await syncRun(tmp, url(), 3))
    }

    // ---- more cold lookups, each in a fresh profile, closed after the mark
    const coldRuns = report.cold.length ? Number(process.env.BENCH_COLD_RUNS ?? 3) : 0
    for (let i = 1; i < coldRuns; i++) {
      const c2 = await launchChrome(tmp)
      try {
        const page = await firstPage(c2)
        await page.goto(url())
        const m = await waitBalance(page, LOOKUP_TIMEOUT_MS)
        if (m) report.cold.push(m)
        note(
          `  cold lookup ${i + 1}: ${m ? `${m.startTime.toFixed(0)} ms (${m.detail?.source})` : 'no mark'}`,
        )
      } finally {
        await c2.close()
      }
    }

    // ---- profile
    const partial: Pick<SizeReport, 'accounts' | 'baseline' | 'floors' | 'syncs'> = {
      accounts,
      baseline,
      floors,
      syncs,
    }
    let prof: SizeReport['profile']
    if (profile === 'always' || (profile === 'auto' && goalRows(partial).some((g) => g.met === false))) {
      note(
        'profile: unminified build, one more cold sync under the CDP Profiler (every worker and the page)…',
      )
      const pdist = join(tmp, 'dist-profile')
      await buildApp(tree, pdist, false)
      server.close()
      server = await appServer(tree, pdist, bootstrapFile, [])
      try {
        prof = await profileSync(tmp, url(), moduleMap(pdist))
      } finally {
        server.close()
        server = await appServer(tree, dist, bootstrapFile, [])
      }
    }
    load.end = loadAvg()
    return { accounts, state, baseline, floors, ...report, syncs, requestedJs, profile: prof, load }
  } finally {
    server.close()
    server1.close()
    await Promise.all(servers.map((s) => stopProc(s.proc)))
    if (process.env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A cold sync under the CDP Profiler (500 µs sampling) on every worker, each from its first line
 * (workers start paused until their profiler runs), and on the page; then a reload with every live
 * worker profiled again (a shared worker outlives the reload; a dedicated one is new) until the
 * first verified balance.
 */
async function profileSync(
  tmp: string,
  url: string,
  mods: Map<string, { line: number; mod: string }[]>,
): Promise<NonNullable<SizeReport['profile']>> {
  const c = await launchChrome(tmp)
  try {
    const page = await firstPage(c)
    const start = async (sid: string): Promise<void> => {
      await c.cdp.send('Profiler.enable', {}, sid, 10_000)
      await c.cdp.send('Profiler.setSamplingInterval', { interval: 500 }, sid, 10_000)
      await c.cdp.send('Profiler.start', {}, sid, 10_000)
    }
    const profiling = new Set<WorkerTarget>()
    const lost: string[] = []
    const watch = await watchWorkers(
      c.cdp,
      async (w) => {
        await start(w.sid).then(
          () => profiling.add(w),
          () => lost.push(`${workerName(w)} (profiler did not start)`),
        )
      },
      true,
    )
    const stopAll = async (phase: string): Promise<{ name: string; summary: ProfileSummary }[]> => {
      const out: { name: string; summary: ProfileSummary }[] = []
      for (const w of [...profiling]) {
        profiling.delete(w)
        const p = w.ended
          ? null
          : await c.cdp.send('Profiler.stop', {}, w.sid, 60_000).then(
              (r) => r.profile as CpuProfile,
              (e) => {
                note(`  ${workerName(w)}: ${e.message}`)
                return null
              },
            )
        if (p) out.push({ name: workerName(w), summary: summarizeProfile(p, mods) })
        else lost.push(`${workerName(w)} (${phase})`)
      }
      return out
    }
    try {
      const pageSid = await pageSession(c, page)
      await start(pageSid)
      await page.goto(url)
      const syn = await waitSynced(page, SYNC_TIMEOUT_MS)
      note(`  synced under the profiler; stopping the profiles of ${profiling.size} workers and the page…`)
      const workers = await stopAll('cold')
      const pp = (await c.cdp.send('Profiler.stop', {}, pageSid, 60_000)).profile as CpuProfile
      for (const w of watch.workers.filter((x) => !x.ended))
        await start(w.sid).then(
          () => profiling.add(w),
          (e) => note(`  ${workerName(w)}: ${e.message}`),
        )
      note(
        `  reload, every worker profiled until the first verified balance (workers so far: ${watch.workers.map((w) => `${workerName(w)}${w.ended ? ' ended' : ''}`).join(', ')})…`,
      )
      await page.reload()
      await waitBalance(page, LOOKUP_TIMEOUT_MS)
      note(
        `  warm balance; workers: ${watch.workers.map((w) => `${workerName(w)}${w.ended ? ' ended' : ''}${profiling.has(w) ? ' profiled' : ''}`).join(', ')}`,
      )
      const warm = await stopAll('warm')
      return {
        workers,
        page: summarizeProfile(pp, mods),
        warm,
        lost,
        rate: syn.mark.detail.nodes / syn.mark.detail.seconds,
      }
    } finally {
      watch.stop()
    }
  } finally {
    await c.close()
  }
}

// ---- report -------------------------------------------------------------------------------------------

const mark = (ok: boolean): string => (ok ? 'met' : 'NOT MET')

function printReport(
  reports: SizeReport[],
  js: JsFile[],
  env: { chromium: string; tree: Tree; loadStart: string; wallMs: number },
): void {
  const cpu = cpus()
  console.log(
    `\nbench:browser — ${new Date().toISOString().slice(0, 10)}; ${cpu.length} cores, ${cpu[0]?.model ?? '?'}; ` +
      `Chromium ${env.chromium} (${chromiumPath()}, headless); Node ${process.version}; ` +
      `app and serve from commit ${env.tree.commit}${env.tree.dir === ROOT ? ` (work tree${env.tree.dirty.length ? `, ${env.tree.dirty.length} changed files under src/ etc.` : ''})` : ' (git archive HEAD)'}; ` +
      `load avg at start ${env.loadStart}; wall ${fmtMs(env.wallMs)}`,
  )

  const rows: string[][] = []
  for (const r of reports) {
    const a = `${fmtNum(r.accounts)} acc`
    const base = baselineRate(r.baseline)
    const packed = packedRate(r.baseline)
    const rate = r.synced.nodes / r.synced.seconds
    const fullSync = r.synced.nodes === r.state.nodes
    const mbps = fullSync ? r.state.bytes / 1e6 / r.synced.seconds : Number.NaN
    const baseMB = (r.state.bytes / 1e6) * (base / r.state.nodes)
    const packMB = (r.state.bytes / 1e6) * (packed / r.state.nodes)
    const colds = r.cold.map((m) => m.startTime)
    const warms = r.warm.filter((m): m is Mark => !!m).map((m) => m.startTime)
    const idbEst = r.storage.later.estimateIdb ?? r.storage.atSync.estimateIdb
    const h = r.synced.heap
    const lt: LongTasks = r.synced.longTasks
    rows.push(
      [`${a}: state`, `${fmtNum(r.state.nodes)} nodes, ${(r.state.bytes / 1e6).toFixed(1)} MB raw`, '', ''],
      [
        `${a}: baseline, IDB one record per node (batch ${FLUSH})`,
        `${fmtNum(base)} nodes/s, ${baseMB.toFixed(1)} MB/s`,
        '1×',
        '',
      ],
      [
        `${a}: packed store raw write (IdbNodeStore.write, batch ${FLUSH})`,
        `${fmtNum(packed)} nodes/s, ${packMB.toFixed(1)} MB/s`,
        fmtRatio(packed / base),
        '',
      ],
      [
        `${a}: app sync, 3 peers → IndexedDB (worker's own timing; the first cold sync)`,
        `${fmtNum(rate)} nodes/s, ${Number.isNaN(mbps) ? '?' : mbps.toFixed(1)} MB/s; ${fmtNum(r.synced.nodes)} nodes in ${r.synced.seconds.toFixed(2)} s${fullSync ? '' : ` (state has ${fmtNum(r.state.nodes)})`}`,
        fmtRatio(rate / base),
        `≥ ${GOALS.vsBaseline}× baseline: ${mark(rate >= GOALS.vsBaseline * base)} (the rest: goals table)`,
      ],
      ...r.syncs
        .slice(1)
        .map((s) => [
          `${a}: app sync, ${s.peers} peer${s.peers > 1 ? 's' : ''} (fresh profile, load ${s.load})`,
          `${fmtNum(s.rate)} nodes/s; ${fmtNum(s.nodes)} nodes in ${s.seconds.toFixed(2)} s; navigation → synced ${fmtMs(s.navToSyncedMs)}`,
          fmtRatio(s.rate / base),
          '',
        ]),
      [
        `${a}: navigation start → synced (first cold sync)`,
        fmtMs(r.synced.navToSyncedMs),
        '',
        `sync alone ${r.synced.seconds.toFixed(1)} s`,
      ],
      [
        `${a}: first verified balance, cold (fresh profile)`,
        colds.length
          ? `median ${fmtMs(median(colds))} of ${colds.map((x) => x.toFixed(0)).join(' / ')} ms; source ${[...new Set(r.cold.map((m) => m.detail?.source))].join(',')}`
          : 'no mark (app lacks the contract)',
        '',
        colds.length ? `≤ ${GOALS.coldMs} ms: ${mark(median(colds) <= GOALS.coldMs)}` : 'n/a',
      ],
      [
        `${a}: first verified balance, warm (reload after sync)`,
        warms.length
          ? `median ${fmtMs(median(warms))} of ${warms.map((x) => x.toFixed(0)).join(' / ')} ms; source ${[...new Set(r.warm.map((m) => m?.detail?.source))].join(',')}`
          : 'no mark (app lacks the contract)',
        '',
        warms.length ? `≤ ${GOALS.warmMs} ms: ${mark(median(warms) <= GOALS.warmMs)}` : 'n/a',
      ],
      [
        `${a}: heap of every worker, peak of the sum (Runtime.getHeapUsage /100 ms, first cold sync)`,
        `used ${h.peakUsedMB.toFixed(0)} MB, total ${h.peakTotalMB.toFixed(0)} MB${h.peakBackingMB ? `, ArrayBuffers ${h.peakBackingMB.toFixed(0)} MB` : ''} (${h.samples} samples; each worker's own peak: ${Object.entries(
          h.perWorkerMB,
        )
          .map(([k, v]) => `${k} ${v.toFixed(0)} MB`)
          .join(', ')})`,
        '',
        '',
      ],
      [
        `${a}: IndexedDB per raw byte, storage.estimate()`,
        idbEst === null
          ? 'no usageDetails'
          : `${(idbEst / r.state.bytes).toFixed(2)} (${(idbEst / 1e6).toFixed(1)} MB; at sync ${((r.storage.atSync.estimateIdb ?? 0) / 1e6).toFixed(1)} MB, ${(r.storage.laterDelayMs / 1000).toFixed(0)} s later ${((r.storage.later.estimateIdb ?? 0) / 1e6).toFixed(1)} MB)`,
        '',
        idbEst === null
          ? 'n/a'
          : `≤ ${GOALS.storageRatio}: ${mark(idbEst / r.state.bytes <= GOALS.storageRatio)}`,
      ],
      [
        `${a}: IndexedDB per raw byte, record sizes read back`,
        `${(r.storage.later.records.bytes / r.state.bytes).toFixed(2)} (${(r.storage.later.records.bytes / 1e6).toFixed(1)} MB in ${fmtNum(Object.values(r.storage.later.records.byStore).reduce((x, s) => x + s.records, 0))} records)`,
        '',
        `≤ ${GOALS.storageRatio}: ${mark(r.storage.later.records.bytes / r.state.bytes <= GOALS.storageRatio)}`,
      ],
      [
        `${a}: IndexedDB per raw byte, profile dir on disk`,
        `${(r.storage.diskBytes / r.state.bytes).toFixed(2)} (${(r.storage.diskBytes / 1e6).toFixed(1)} MB allocated)`,
        '',
        '',
      ],
      [
        `${a}: main-thread long tasks (first cold sync)`,
        lt.supported
          ? `${lt.duringSync} until synced (max ${lt.maxDuringSyncMs.toFixed(0)} ms, ${lt.over50DuringSync} over ${GOALS.longTaskMs} ms); ${lt.count} until the last reload, max ${lt.maxMs.toFixed(0)} ms, ${lt.over50} over ${GOALS.longTaskMs} ms`
          : 'longtask entries unsupported',
        '',
        '',
      ],
    )
  }
  const initial = js.filter((f) => f.role === 'entry' || f.role === 'worker' || f.role === 'static import')
  const initialGz = initial.reduce((a, f) => a + f.gzip, 0)
  printTable('bench:browser — figures and goals', ['what', 'measured', 'vs baseline', 'goal'], rows)
  const order = ['entry', 'static import', 'worker', 'lazy', 'service worker']
  const fetched = new Set(reports.flatMap((r) => r.requestedJs))
  const fetchedGz = js.filter((f) => fetched.has(f.file)).reduce((a, f) => a + f.gzip, 0)
  printTable(
    `initial JS (entry + its static imports + the worker): ${(initialGz / 1024).toFixed(1)} KB gzip -9 (goal ≤ ${GOALS.initialJsKB} KB: ${mark(initialGz / 1024 <= GOALS.initialJsKB)}); ` +
      `all JS the cold load actually fetched (lazy chunks and service worker included): ${(fetchedGz / 1024).toFixed(1)} KB`,
    ['file', 'role', 'reached from', 'bytes', 'gzip -9', 'fetched by the cold load'],
    js
      .sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role))
      .map((f) => [
        f.file,
        f.role,
        f.from,
        fmtNum(f.bytes),
        fmtNum(f.gzip),
        fetched.has(f.file) ? 'yes' : 'no',
      ]),
  )
  for (const r of reports) {
    console.log(
      `\n${fmtNum(r.accounts)} accounts: address ${r.state.address}; synced figures via ${r.synced.via}; root ${r.synced.root ?? '(from DOM)'} (${r.synced.root === null || r.synced.root === r.state.root ? 'matches' : 'DIFFERS from'} ${r.state.root}); ` +
        `skipped ${r.synced.skipped ?? '?'}; JS fetched by the cold load: ${r.requestedJs.join(', ')}; load avg ${r.load.start} → ${r.load.end}; ` +
        `baseline runs ${r.baseline.runs.map((x) => `${x.kind} ${fmtNum(x.nodes / (x.ms / 1000))}/s`).join(', ')}; ` +
        `warm reload → synced ${r.warmSynced.map((x) => (x === null ? '–' : fmtMs(x))).join(' / ')}; ` +
        `IndexedDB records: ${Object.entries(r.storage.later.records.byStore)
          .map(([k, v]) => `${k} ${fmtNum(v.records)} / ${(v.bytes / 1e6).toFixed(1)} MB`)
          .join(', ')}`,
    )
    for (const [k, tl] of Object.entries(r.timelines))
      console.log(
        `  ${k} page timeline (ms since navigation start): ${tl.map(([n, t]) => `${n} ${t.toFixed(0)}`).join('; ')}`,
      )
    if (r.profile) {
      const threads: [string, ProfileSummary][] = [
        ...r.profile.workers.map((w): [string, ProfileSummary] => [
          `${w.name} (cold load and full sync)`,
          w.summary,
        ]),
        ['page main thread (cold load and full sync)', r.profile.page],
        ...r.profile.warm.map((w): [string, ProfileSummary] => [
          `${w.name} after a reload (warm: reload → first verified balance)`,
          w.summary,
        ]),
      ]
      if (r.profile.lost.length)
        console.log(`  workers that ended before their profile was taken: ${r.profile.lost.join(', ')}`)
      for (const [who, s] of threads) {
        printTable(
          `${fmtNum(r.accounts)} acc — ${who} CPU profile (unminified build, ${fmtNum(r.profile.rate)} nodes/s under the profiler): ${fmtMs(s.totalMs)} sampled, ${fmtMs(s.totalMs - s.idleMs)} busy`,
          ['function', 'module', 'self ms', '% of busy', 'called from (outside its module)'],
          s.top.map((x) => [x.fn, x.where, fmtNum(x.selfMs), x.pct.toFixed(1), x.callers ?? '']),
        )
        printTable(
          `${fmtNum(r.accounts)} acc — ${who}: self time by module / package`,
          ['module', 'self ms', '% of busy'],
          s.groups.map((x) => [x.fn, fmtNum(x.selfMs), x.pct.toFixed(1)]),
        )
      }
    }
  }
  // The final table: every browser goal of issue 14 with its floor or target from the same run.
  const goals: string[][] = []
  for (const r of reports) {
    for (const g of goalRows(r))
      goals.push([`${fmtNum(r.accounts)} acc: ${g.goal}`, g.figure, g.floor, g.ratio, metCell(g.met)])
  }
  goals.push([
    'initial JS (entry + static imports + worker), gzip -9',
    `${(initialGz / 1024).toFixed(1)} KB`,
    `≤ ${GOALS.initialJsKB} KB`,
    fmtRatio(initialGz / 1024 / GOALS.initialJsKB),
    metCell(initialGz / 1024 <= GOALS.initialJsKB),
  ])
  printTable(
    `bench:browser — goals (issue 14), figures and floors from this run; 3-peer figures are medians of ${reports.map((r) => r.syncs.filter((s) => s.peers === 3).length).join('/')} runs, 1-peer of ${reports.map((r) => r.syncs.filter((s) => s.peers === 1).length).join('/')}`,
    ['goal', 'figure', 'floor / goal', 'ratio', 'met?'],
    goals,
  )
  console.log(
    `BENCH_JSON ${JSON.stringify({
      bench: 'browser',
      chromium: env.chromium,
      commit: env.tree.commit,
      js,
      sizes: reports.map((r) => ({ ...r, state: { ...r.state, nodesFile: undefined } })),
    })}`,
  )
}

// ---- main ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now()
  const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map((s) => Number(s.trim()))
  const profile =
    process.env.BENCH_PROFILE === '1' ? 'always' : process.env.BENCH_PROFILE === '0' ? 'never' : 'auto'
  await useWasmKeccak()
  const tmp = mkdtempSync(join(tmpdir(), 'rootsync-bench-browser-'))
  const loadStart = loadAvg()
  const cleanup = async (): Promise<void> => {
    await Promise.all([...started].map((p) => stopProc(p, p.spawnargs[0] !== process.execPath)))
    // Chromium's processes may still be writing into a profile as they exit: retry the removal.
    if (process.env.BENCH_KEEP !== '1')
      rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 })
  }
  const onSig = (): void => {
    void cleanup().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSig)
  process.once('SIGTERM', onSig)
  try {
    const tree = snapshot(tmp)
    note(`app from ${tree.dir === ROOT ? 'the work tree' : `a snapshot of ${tree.commit}`}: vite build…`)
    const dist = join(tmp, 'dist')
    await buildApp(tree, dist, true)
    const js = bundleSizes(dist)
    const bundled = (name: (typeof PAGES)[number]): Promise<string> =>
      bundleForBrowser(join(tree.dir, 'bench', `browser-${name}.page.ts`))
    const pages = { baseline: await bundled('baseline'), floors: await bundled('floors') }
    let chromiumVersion = ''
    const reports: SizeReport[] = []
    for (const n of sizes) {
      reports.push(await benchSize(tmp, tree, dist, pages, n, profile))
    }
    {
      const c = await launchChrome(tmp)
      chromiumVersion = c.version
      await c.close()
    }
    printReport(reports, js, { chromium: chromiumVersion, tree, loadStart, wallMs: performance.now() - t0 })
  } finally {
    process.off('SIGINT', onSig)
    process.off('SIGTERM', onSig)
    await cleanup()
  }
}

await main()
