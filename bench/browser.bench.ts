/**
 * bench:browser — the real web app in headless Chromium (Debian's `chromium`, driven by
 * playwright-core over CDP) syncing a devnet state from three real `rootsync serve` processes over
 * loopback WebSockets into its packed IndexedDB store, inside its Web Worker.
 *
 * Per size (BENCH_SIZES, default "100000,1000000" accounts; contracts 100 × 100 slots, the
 * bench:sync state):
 *
 * 1. The genesis state is built as `rootsync serve` builds it (ChainDB into LevelDB), walked to list
 *    its distinct nodes (the raw bytes a sync must store; written to nodes.bin for the baseline), and
 *    copied to three serving nodes. bootstrap.json lists the three peers, as test/helpers/app.ts
 *    writes it; the app (vite build) is served by src/node/static-server.ts.
 * 2. Baseline, same Chromium binary, fresh profile, in a dedicated worker
 *    (bench/browser-baseline.page.ts, bundled with esbuild): the same nodes written one IndexedDB
 *    record per node with `idb`, one transaction per batch of the sync's flush size; and the packed
 *    store's raw write rate (IdbNodeStore.write per batch) for context.
 * 3. Cold: a fresh profile opens `/?address=0x…` (an account of the genesis). The app's marks give
 *    the first verified balance (`rootsync:first-verified-balance`, ms since navigation start) and
 *    the sync (`rootsync:synced`: nodes, seconds). Worker heap: `Runtime.getHeapUsage` every 100 ms
 *    on a CDP session attached to the worker target (Target.setAutoAttach, flatten). Long tasks: a
 *    PerformanceObserver('longtask') installed before any page script. Storage: navigator.storage
 *    .estimate() (usageDetails.indexedDB), the sum of the IndexedDB record sizes read back in the page,
 *    and the profile's IndexedDB directory on disk, each against the raw node bytes.
 * 4. Warm: reloads of the same page (same profile) after the completed sync.
 * 5. More cold lookups (BENCH_COLD_RUNS, default 3 in all) in fresh profiles, closed after the mark.
 * 6. If a sync goal is missed (or BENCH_PROFILE=1; BENCH_PROFILE=0 never): one more cold sync with
 *    an unminified build under the CDP Profiler on the worker and on the page's main thread; top
 *    self-time functions and self time per bundled module.
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
import { build as esbuild } from 'esbuild'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { build as viteBuild } from 'vite'
import WebSocket from 'ws'
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
import { fmtMs, fmtNum, fmtRatio, gc, MB, note, printTable } from './lib.ts'
import { type CpuProfile, type ProfileRow, profileRows } from './profile.ts'

const ROOT = join(import.meta.dirname, '..')
const FLUSH = DEFAULT_SYNC_CONFIG.flushOps
const GOALS = {
  rate: 100_000,
  vsBaseline: 6,
  sync1MSeconds: 20,
  coldMs: 300,
  warmMs: 50,
  heapMB: 128,
  storageRatio: 1.3,
  initialJsKB: 250,
  longTaskMs: 50,
}
const MARK_BALANCE = 'rootsync:first-verified-balance'
const MARK_SYNCED = 'rootsync:synced'
const SYNC_TIMEOUT_MS = Number(process.env.BENCH_SYNC_TIMEOUT_MS ?? 15 * 60_000)
const LOOKUP_TIMEOUT_MS = 60_000

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
  copyFileSync(
    join(ROOT, 'bench', 'browser-baseline.page.ts'),
    join(dir, 'bench', 'browser-baseline.page.ts'),
  )
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
        add(g, role, f)
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
  let { genesis } = generateDevnet({ seed: 'bench-sync', accounts, contracts: 100, slots: 100 })
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

const started = new Set<ChildProcess>()

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

async function stopProc(p: ChildProcess, group = false): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise<void>((r) => p.once('exit', () => r()))
  const kill = (sig: NodeJS.Signals): void => {
    try {
      if (group) process.kill(-p.pid!, sig)
      else p.kill(sig)
    } catch {}
  }
  kill('SIGTERM')
  const t = setTimeout(() => kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(t)
}

// ---- Chromium, and a raw CDP connection beside playwright's ------------------------------------------

/** Raw CDP: results and event params are whatever the protocol method returns (see its docs). */
// biome-ignore lint/suspicious/noExplicitAny: untyped protocol payloads
type Json = any
type CdpMsg = {
  id?: number
  method?: string
  params?: Json
  result?: Json
  error?: { message: string; code: number }
  sessionId?: string
}

class Cdp {
  private id = 0
  private readonly pending = new Map<number, { res: (v: Json) => void; rej: (e: Error) => void }>()
  private readonly listeners = new Set<(m: CdpMsg) => void>()
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as CdpMsg
      if (m.id !== undefined) {
        const p = this.pending.get(m.id)
        this.pending.delete(m.id)
        if (m.error) p?.rej(new Error(`${m.error.message} (${m.error.code})`))
        else p?.res(m.result)
      } else for (const l of this.listeners) l(m)
    })
    ws.on('close', () => {
      for (const p of this.pending.values()) p.rej(new Error('CDP connection closed'))
      this.pending.clear()
    })
  }
  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * MB })
      ws.once('open', () => resolve(new Cdp(ws)))
      ws.once('error', reject)
    })
  }
  send(method: string, params: object = {}, sessionId?: string): Promise<Json> {
    const id = ++this.id
    return new Promise((res, rej) => {
      this.pending.set(id, { res, rej })
      this.ws.send(JSON.stringify({ id, method, params, sessionId }))
    })
  }
  on(fn: (m: CdpMsg) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }
  close(): void {
    this.ws.close()
  }
}

interface Chrome {
  proc: ChildProcess
  profileDir: string
  browser: Browser
  context: BrowserContext
  cdp: Cdp
  version: string
  close(): Promise<void>
}

async function launchChrome(tmp: string): Promise<Chrome> {
  const profileDir = mkdtempSync(join(tmp, 'chromium-'))
  const proc = spawn(
    chromiumPath(),
    [
      '--headless',
      '--remote-debugging-port=0',
      `--user-data-dir=${profileDir}`,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  )
  started.add(proc)
  proc.once('exit', () => started.delete(proc))
  const ws = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('Chromium did not start in 30 s')), 30_000)
    proc.once('exit', (c) => reject(new Error(`Chromium exited with ${c}`)))
    createInterface({ input: proc.stderr! }).on('line', (l) => {
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(l)
      if (m) {
        clearTimeout(t)
        resolve(m[1]!)
      }
    })
  })
  const browser = await chromium.connectOverCDP(ws)
  const context = browser.contexts()[0]!
  const cdp = await Cdp.connect(ws)
  return {
    proc,
    profileDir,
    browser,
    context,
    cdp,
    version: browser.version(),
    async close() {
      cdp.close()
      await browser.close().catch(() => {})
      await stopProc(proc, true)
      rmSync(profileDir, { recursive: true, force: true })
    },
  }
}

/** The profile's page, with the page's console errors and uncaught exceptions on stderr. */
async function firstPage(c: Chrome): Promise<Page> {
  const page = c.context.pages()[0] ?? (await c.context.newPage())
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') note(`  [page ${m.type()}] ${m.text()}`)
  })
  page.on('pageerror', (e) => note(`  [page error] ${e.message}`))
  page.on('worker', (w) =>
    w.on('console', (m) => m.type() === 'error' && note(`  [worker error] ${m.text()}`)),
  )
  return page
}

/**
 * Attaches a raw CDP session to the page's target and auto-attaches to its workers (flatten): calls
 * `onWorker(sessionId)` for each dedicated worker the page starts (again after a reload).
 */
async function watchWorkers(
  c: Chrome,
  page: Page,
  onWorker: (sid: string) => void,
  pause = false,
): Promise<string> {
  const s = await c.context.newCDPSession(page)
  const { targetInfo } = (await s.send('Target.getTargetInfo')) as { targetInfo: { targetId: string } }
  await s.detach()
  const { sessionId } = await c.cdp.send('Target.attachToTarget', {
    targetId: targetInfo.targetId,
    flatten: true,
  })
  c.cdp.on((m) => {
    if (m.method === 'Target.attachedToTarget' && m.sessionId === sessionId) {
      if (m.params.targetInfo.type === 'worker') onWorker(m.params.sessionId)
    }
  })
  await c.cdp.send(
    'Target.setAutoAttach',
    { autoAttach: true, waitForDebuggerOnStart: pause, flatten: true },
    sessionId,
  )
  return sessionId
}

/** Samples the worker's JS heap every 100 ms (Runtime.getHeapUsage on the worker's session). */
class HeapWatch {
  sid: string | null = null
  peakUsed = 0
  peakTotal = 0
  peakBacking = 0
  samples = 0
  errors = 0
  private timer: NodeJS.Timeout | null = null
  private busy = false
  constructor(private readonly cdp: Cdp) {}
  start(): void {
    this.timer = setInterval(() => {
      if (!this.sid || this.busy) return
      this.busy = true
      this.cdp
        .send('Runtime.getHeapUsage', {}, this.sid)
        .then(
          (r: { usedSize: number; totalSize: number; backingStorageSize?: number }) => {
            this.samples++
            this.peakUsed = Math.max(this.peakUsed, r.usedSize)
            this.peakTotal = Math.max(this.peakTotal, r.totalSize)
            this.peakBacking = Math.max(this.peakBacking, r.backingStorageSize ?? 0)
          },
          () => this.errors++,
        )
        .finally(() => (this.busy = false))
    }, 100)
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }
}

const LONGTASK_INIT = `(() => {
  window.__longtasks = []
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__longtasks.push([e.startTime, e.duration])
    }).observe({ type: 'longtask', buffered: true })
  } catch (e) { window.__longtasks = null }
})()`

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

/** The synced figures: the app's mark if it makes one, else the DOM ("… (N nodes in S s)"). */
async function waitSynced(page: Page, timeout: number): Promise<{ via: 'mark' | 'dom'; mark: Mark }> {
  // Ends early with the app's error when the sync fails (an alert instead of the synced line).
  await page.waitForFunction(
    (n) =>
      performance.getEntriesByName(n).length > 0 ||
      !!document.querySelector('[data-testid=synced]') ||
      !!document.querySelector('[data-testid=sync-error]'),
    MARK_SYNCED,
    { timeout, polling: 50 },
  )
  const err = await page
    .getByTestId('sync-error')
    .first()
    .textContent({ timeout: 100 })
    .catch(() => null)
  if (err && !(await readMark(page, MARK_SYNCED))) throw new Error(`the app's sync failed: ${err}`)
  const m = await readMark(page, MARK_SYNCED)
  if (m) return { via: 'mark', mark: m }
  const now = await page.evaluate(() => performance.now())
  const text = (await page.getByTestId('synced').textContent()) ?? ''
  const r = /\((\d+) nodes in ([\d.]+) s\)/.exec(text)
  return {
    via: 'dom',
    mark: { startTime: now, detail: { nodes: Number(r?.[1]), seconds: Number(r?.[2]), root: null } },
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

// ---- CPU profiles ------------------------------------------------------------------------------------

/** Module boundaries of an unminified rolldown bundle: "// path" comment lines at column 0. */
function moduleMap(dist: string): Map<string, { line: number; mod: string }[]> {
  const out = new Map<string, { line: number; mod: string }[]>()
  for (const f of readdirSync(join(dist, 'assets')).filter((x) => x.endsWith('.js'))) {
    const lines = readFileSync(join(dist, 'assets', f), 'utf8').split('\n')
    const mods: { line: number; mod: string }[] = []
    lines.forEach((l, i) => {
      const m = /^\/\/ (\S+\.(?:[cm]?js|ts|svelte)\S*)$/.exec(l)
      if (m) mods.push({ line: i, mod: shortMod(m[1]!) })
    })
    out.set(f, mods)
  }
  return out
}

function shortMod(p: string): string {
  const nm = p.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const parts = p.slice(nm + 'node_modules/'.length).split('/')
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!
  }
  const src = p.lastIndexOf('/src/')
  return src >= 0 ? p.slice(src + 1) : p
}

function summarizeProfile(
  p: CpuProfile,
  mods: Map<string, { line: number; mod: string }[]>,
): { top: ProfileRow[]; groups: ProfileRow[]; totalMs: number; idleMs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]))
  const modOf = (url: string, line: number): string => {
    const list = mods.get(basename(url.split('?')[0]!))
    if (!list) return url ? basename(url) : ''
    let m = ''
    for (const x of list) {
      if (x.line > line) break
      m = x.mod
    }
    return m
  }
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const modOfNode = (id: number): string => {
    const cf = byId.get(id)!
    return cf.url ? modOf(cf.url, cf.lineNumber) : ''
  }
  const callers = new Map<string, Map<string, number>>()
  const self = new Map<string, number>()
  const group = new Map<string, number>()
  let total = 0
  let idle = 0
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000
    const cf = byId.get(p.samples[i]!)!
    total += dt
    if (cf.functionName === '(idle)' || cf.functionName === '(program)') {
      if (cf.functionName === '(idle)') idle += dt
      else self.set('(program)\t', (self.get('(program)\t') ?? 0) + dt)
      if (cf.functionName === '(program)') group.set('(program)', (group.get('(program)') ?? 0) + dt)
      continue
    }
    const mod = cf.url ? modOf(cf.url, cf.lineNumber) : ''
    const key = `${cf.functionName || '(anonymous)'}\t${mod}`
    self.set(key, (self.get(key) ?? 0) + dt)
    // The nearest caller outside this module (or the direct caller of a native/GC frame).
    let up = parent.get(p.samples[i]!)
    while (up !== undefined && mod && modOfNode(up) === mod) up = parent.get(up)
    if (up !== undefined) {
      const uf = byId.get(up)!
      const ck = `${uf.functionName || '(anonymous)'} (${modOfNode(up) || 'native'})`
      const m = callers.get(key) ?? new Map<string, number>()
      m.set(ck, (m.get(ck) ?? 0) + dt)
      callers.set(key, m)
    }
    const g = mod || cf.functionName
    group.set(g, (group.get(g) ?? 0) + dt)
  }
  const busy = Math.max(total - idle, 1e-9)
  const top = profileRows(self, busy).slice(0, 20)
  for (const r of top.slice(0, 8)) {
    const m = callers.get(`${r.fn}\t${r.where}`)
    if (!m) continue
    const sum = [...m.values()].reduce((a, b) => a + b, 0)
    r.callers = [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, ms]) => `${k} ${((ms / sum) * 100).toFixed(0)}%`)
      .join(', ')
  }
  return { top, groups: profileRows(group, busy).slice(0, 15), totalMs: total, idleMs: idle }
}

// ---- one size -----------------------------------------------------------------------------------------

interface SizeReport {
  accounts: number
  state: State
  baseline: BaselineResult
  synced: {
    via: 'mark' | 'dom'
    nodes: number
    skipped: number | null
    seconds: number
    navToSyncedMs: number
    root: string | null
  }
  heap: { peakUsedMB: number; peakTotalMB: number; peakBackingMB: number; samples: number }
  cold: Mark[]
  warm: (Mark | null)[]
  /** Page timelines up to the first verified balance: the first cold load and the first warm reload. */
  timelines: { cold: [string, number][]; warm: [string, number][] }
  warmSynced: (number | null)[]
  longTasks: { supported: boolean; count: number; maxMs: number; over50: number; duringSync: number }
  storage: { atSync: StorageFigures; later: StorageFigures; diskBytes: number; laterDelayMs: number }
  requestedJs: string[]
  profile?: {
    worker: ReturnType<typeof summarizeProfile>
    page: ReturnType<typeof summarizeProfile>
    /** The reloaded page's new worker, from its start to the first verified balance. */
    warm: ReturnType<typeof summarizeProfile> | null
    rate: number
  }
  load: { start: string; end: string }
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

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

async function runBaseline(tmp: string, state: State, baselineJs: string): Promise<BaselineResult> {
  const html = `<!doctype html><script type="module">
const w = new Worker('/baseline.js', { type: 'module' })
w.onmessage = (e) => { window.__result = e.data }
w.postMessage({ batch: ${FLUSH}, runs: ${Number(process.env.BENCH_BASELINE_RUNS ?? 1)} })
</script>`
  const server = await staticServer({
    '/': { type: 'text/html', body: html },
    '/baseline.js': { type: 'text/javascript', body: baselineJs },
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
      | BaselineResult
      | { error: string }
    if ('error' in r) throw new Error(`baseline page: ${r.error}`)
    return r
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

async function benchSize(
  tmp: string,
  tree: Tree,
  dist: string,
  baselineJs: string,
  accounts: number,
  profile: 'auto' | 'always' | 'never',
): Promise<SizeReport> {
  const dir = join(tmp, String(accounts))
  mkdirSync(dir)
  const load = { start: loadavg(), end: '' }
  note(`${fmtNum(accounts)} accounts: generating the devnet genesis, building and walking the state`)
  const state = await buildState(dir, accounts)
  gc()
  note(
    `state ${state.root.slice(0, 10)}…: ${fmtNum(state.nodes)} distinct nodes and code blobs, ${(state.bytes / 1e6).toFixed(1)} MB (generate ${fmtMs(state.setup.generateMs!)}, build ${fmtMs(state.setup.buildMs!)}, walk ${fmtMs(state.setup.walkMs!)})`,
  )

  note('baseline: one record per node vs packed, in a worker of a fresh Chromium profile…')
  const baseline = await runBaseline(tmp, state, baselineJs)
  for (const r of baseline.runs)
    note(`  ${r.kind}: ${fmtNum(r.nodes / (r.ms / 1000))} nodes/s (${fmtMs(r.ms)})`)

  for (const i of [1, 2]) cpSync(join(dir, 'node-0'), join(dir, `node-${i}`), { recursive: true })
  const bin = join(tree.dir, 'bin', 'rootsync.js')
  const servers = await Promise.all([0, 1, 2].map((i) => startServer(bin, join(dir, `node-${i}`))))
  const bootstrapFile = join(dir, 'bootstrap.json')
  writeFileSync(
    bootstrapFile,
    JSON.stringify(
      genesisBootstrap(
        state.chainId,
        state.genesisHash,
        state.validators,
        servers.map((s, i) => ({ name: `node-${i}`, peerId: s.peerId, addrs: s.addrs })),
      ),
    ),
  )
  const requested: string[] = []
  let server = await appServer(tree, dist, bootstrapFile, requested)
  const url = (): string => `http://127.0.0.1:${portOf(server)}/?address=${state.address}`
  note(`3 servers up; app at ${url()}`)

  try {
    // ---- cold sync, then warm reloads, in one fresh profile
    const c = await launchChrome(tmp)
    let report: Omit<SizeReport, 'accounts' | 'state' | 'baseline' | 'load' | 'profile' | 'requestedJs'> & {
      cold: Mark[]
    }
    try {
      await c.context.addInitScript(LONGTASK_INIT)
      const page = await firstPage(c)
      const heap = new HeapWatch(c.cdp)
      await watchWorkers(c, page, (sid) => {
        if (!heap.sid) heap.sid = sid
      })
      heap.start()
      note('cold: fresh profile, full sync…')
      await page.goto(url())
      const balance = await waitBalance(page, LOOKUP_TIMEOUT_MS)
      const coldTimeline = await timeline(page)
      const syn = await waitSynced(page, SYNC_TIMEOUT_MS)
      heap.stop()
      const lt =
        (await page.evaluate(() => (window as { __longtasks?: [number, number][] | null }).__longtasks)) ??
        null
      const atSync = await storageFigures(page)
      const d = syn.mark.detail
      note(
        `  synced (${syn.via}): ${fmtNum(d.nodes)} nodes in ${d.seconds?.toFixed?.(2)} s; first balance ${balance ? `${balance.startTime.toFixed(0)} ms (${balance.detail?.source})` : 'no mark'}; worker heap peak ${(heap.peakUsed / MB).toFixed(0)} MB`,
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
        synced: {
          via: syn.via,
          nodes: d.nodes,
          skipped: d.skipped ?? null,
          seconds: d.seconds,
          navToSyncedMs: syn.mark.startTime,
          root: d.root ?? null,
        },
        heap: {
          peakUsedMB: heap.peakUsed / MB,
          peakTotalMB: heap.peakTotal / MB,
          peakBackingMB: heap.peakBacking / MB,
          samples: heap.samples,
        },
        cold: balance ? [balance] : [],
        warm,
        warmSynced,
        longTasks: {
          supported: lt !== null,
          count: lt?.length ?? 0,
          maxMs: Math.max(0, ...(lt ?? []).map((x) => x[1])),
          over50: (lt ?? []).filter((x) => x[1] > GOALS.longTaskMs).length,
          duringSync: (lt ?? []).filter((x) => x[0] <= syn.mark.startTime).length,
        },
        storage: { atSync, later, diskBytes: 0, laterDelayMs },
      }
      await page.close()
      await new Promise((r) => setTimeout(r, 1000))
      report.storage.diskBytes = diskBytes(c.profileDir)
    } finally {
      await c.close()
    }
    const requestedJs = [...new Set(requested.filter((p) => p.endsWith('.js')).map((p) => basename(p)))]

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
    const rate = report.synced.nodes / report.synced.seconds
    const missed =
      rate < GOALS.rate ||
      rate < GOALS.vsBaseline * baselineRate(baseline) ||
      (accounts >= 1_000_000 && report.synced.navToSyncedMs / 1000 > GOALS.sync1MSeconds) ||
      report.heap.peakUsedMB > GOALS.heapMB ||
      report.longTasks.over50 > 0
    let prof: SizeReport['profile']
    if (profile === 'always' || (profile === 'auto' && missed)) {
      note('profile: unminified build, one more cold sync under the CDP Profiler (worker and page)…')
      const pdist = join(tmp, 'dist-profile')
      await buildApp(tree, pdist, false)
      server.close()
      server = await appServer(tree, pdist, bootstrapFile, [])
      const c3 = await launchChrome(tmp)
      try {
        const page = await firstPage(c3)
        // Every worker the page starts (the first load, then the reload) waits for its profiler.
        const workers: Promise<string>[] = []
        const pageSid = await watchWorkers(
          c3,
          page,
          (sid) => {
            workers.push(
              c3.cdp
                .send('Profiler.enable', {}, sid)
                .then(() => c3.cdp.send('Profiler.setSamplingInterval', { interval: 500 }, sid))
                .then(() => c3.cdp.send('Profiler.start', {}, sid))
                .then(() => c3.cdp.send('Runtime.runIfWaitingForDebugger', {}, sid))
                .then(() => sid),
            )
          },
          true,
        )
        await c3.cdp.send('Profiler.enable', {}, pageSid)
        await c3.cdp.send('Profiler.setSamplingInterval', { interval: 500 }, pageSid)
        await c3.cdp.send('Profiler.start', {}, pageSid)
        await page.goto(url())
        const syn = await waitSynced(page, SYNC_TIMEOUT_MS)
        const wp = (await c3.cdp.send('Profiler.stop', {}, await workers[0]!)).profile as CpuProfile
        const pp = (await c3.cdp.send('Profiler.stop', {}, pageSid)).profile as CpuProfile
        // Warm: reload, profile the new worker until the first verified balance.
        await page.reload()
        await waitBalance(page, LOOKUP_TIMEOUT_MS)
        const warmSid = workers[1] ? await workers[1] : null
        const warmP = warmSid
          ? ((await c3.cdp.send('Profiler.stop', {}, warmSid)).profile as CpuProfile)
          : null
        const mods = moduleMap(pdist)
        prof = {
          worker: summarizeProfile(wp, mods),
          page: summarizeProfile(pp, mods),
          warm: warmP ? summarizeProfile(warmP, mods) : null,
          rate: syn.mark.detail.nodes / syn.mark.detail.seconds,
        }
      } finally {
        await c3.close()
        server.close()
        server = await appServer(tree, dist, bootstrapFile, [])
      }
    }
    load.end = loadavg()
    return { accounts, state, baseline, ...report, requestedJs, profile: prof, load }
  } finally {
    server.close()
    await Promise.all(servers.map((s) => stopProc(s.proc)))
    if (process.env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true })
  }
}

function baselineRate(b: BaselineResult): number {
  const runs = b.runs.filter((r) => r.kind === 'one-record-per-node')
  return Math.max(...runs.map((r) => r.nodes / (r.ms / 1000)))
}

function packedRate(b: BaselineResult): number {
  const runs = b.runs.filter((r) => r.kind === 'packed')
  return Math.max(...runs.map((r) => r.nodes / (r.ms / 1000)))
}

// ---- report -------------------------------------------------------------------------------------------

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN
}
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
        `${a}: app sync, 3 peers → IndexedDB (worker's own timing)`,
        `${fmtNum(rate)} nodes/s, ${Number.isNaN(mbps) ? '?' : mbps.toFixed(1)} MB/s; ${fmtNum(r.synced.nodes)} nodes in ${r.synced.seconds.toFixed(2)} s${fullSync ? '' : ` (state has ${fmtNum(r.state.nodes)})`}`,
        fmtRatio(rate / base),
        `≥ ${fmtNum(GOALS.rate)}/s: ${mark(rate >= GOALS.rate)}; ≥ ${GOALS.vsBaseline}× baseline: ${mark(rate >= GOALS.vsBaseline * base)}`,
      ],
      [
        `${a}: navigation start → synced`,
        fmtMs(r.synced.navToSyncedMs),
        '',
        r.accounts >= 1_000_000
          ? `1M ≤ ${GOALS.sync1MSeconds} s: ${mark(r.synced.navToSyncedMs / 1000 <= GOALS.sync1MSeconds)} (sync alone ${r.synced.seconds.toFixed(1)} s: ${mark(r.synced.seconds <= GOALS.sync1MSeconds)})`
          : '',
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
        `${a}: worker heap peak (CDP Runtime.getHeapUsage /100 ms)`,
        `used ${r.heap.peakUsedMB.toFixed(0)} MB, total ${r.heap.peakTotalMB.toFixed(0)} MB${r.heap.peakBackingMB ? `, ArrayBuffers ${r.heap.peakBackingMB.toFixed(0)} MB` : ''} (${r.heap.samples} samples)`,
        '',
        `≤ ${GOALS.heapMB} MB: ${mark(r.heap.samples > 0 && r.heap.peakUsedMB <= GOALS.heapMB)}`,
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
        `${a}: main-thread long tasks, load → synced`,
        r.longTasks.supported
          ? `${r.longTasks.duringSync} (${r.longTasks.count} until the last reload), max ${r.longTasks.maxMs.toFixed(0)} ms, ${r.longTasks.over50} over ${GOALS.longTaskMs} ms`
          : 'longtask entries unsupported',
        '',
        `none over ${GOALS.longTaskMs} ms: ${mark(r.longTasks.supported && r.longTasks.over50 === 0)}`,
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
      for (const [who, s] of [
        ['worker (cold load and full sync)', r.profile.worker],
        ['page main thread (cold load and full sync)', r.profile.page],
        ['worker after a reload (warm: start → first verified balance)', r.profile.warm],
      ] as const) {
        if (!s) continue
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
  const loadStart = loadavg()
  const cleanup = async (): Promise<void> => {
    await Promise.all([...started].map((p) => stopProc(p, p.spawnargs[0] !== process.execPath)))
    if (process.env.BENCH_KEEP !== '1') rmSync(tmp, { recursive: true, force: true })
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
    const bundle = await esbuild({
      entryPoints: [join(tree.dir, 'bench', 'browser-baseline.page.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'error',
    })
    const baselineJs = bundle.outputFiles[0]!.text
    let chromiumVersion = ''
    const reports: SizeReport[] = []
    for (const n of sizes) {
      reports.push(await benchSize(tmp, tree, dist, baselineJs, n, profile))
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
