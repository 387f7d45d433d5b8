/**
 * bench:webrtc — a sync worker in headless Chromium fetching a devnet state from a real
 * `rootsync serve` process (a) over WebSockets from the worker itself (the baseline, measured in the
 * same run) and (b) over WebRTC-direct through the page bridge (src/page/webrtc-bridge.ts → MessagePort
 * → src/worker/bridged-peer.ts). Both are full `syncToState` runs (every node hash-checked) into the
 * same store kind, alternating a/b so drift hits both alike. Reports verified nodes/s and MB/s, the
 * ratio b/a, and the main thread's cost during each: long tasks (PerformanceObserver 'longtask', the
 * ≥ 50 ms tasks that make a page janky) and its busy time (CDP Performance.getMetrics TaskDuration /
 * ScriptDuration of the page's renderer main thread). Also the gzipped sizes of the bridge's chunks
 * (Vite build of the bridge test page, the same modules the app loads lazily) and of the app's entry.
 *
 * Env: BENCH_ACCOUNTS (default 100000), BENCH_ROUNDS (default 3), BENCH_STORE=memory|idb (default
 * memory: isolates the transports; idb adds the IndexedDB store's writes to both), BENCH_CONCURRENCY
 * (default "3,8": requests in flight for the raw `nodes` test).
 *
 * Two tests per transport: `sync` is the engine as the app runs it (one peer: at most 3 requests in
 * flight, batches growing from 128 to 1024); `nodes xC` asks for every node of the state again in
 * batches of 1024 with C requests in flight, hash-checking each, so the transport rather than the
 * engine's pacing sets the rate.
 */
import '../src/node/polyfills.ts'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type Rolldown } from 'vite'
import { toHex } from '../src/core/bytes.ts'
import { genesisStateRoot } from '../src/core/chain/genesis.ts'
import { buildBridgePage, serveBridgePage } from '../test/browser/webrtc-bridge.harness.ts'
import type { Cmd } from '../test/browser/webrtc-bridge.worker.ts'
import { launchBrowser } from '../test/helpers/browser.ts'
import { ROOT } from '../test/helpers/cli.ts'
import { makeDevnetFiles, startNode, stopAllNodes } from '../test/helpers/nodes.ts'
import { fmtNum, fmtRatio, note, printTable } from './lib.ts'

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '3,8').split(',').map(Number)
const STORE = (process.env.BENCH_STORE ?? 'memory') as 'memory' | 'idb'

interface SyncOut {
  nodes: number
  bytes: number
  ms: number
  root: string | null
  peers: { id: string; delivered: number; timeouts: number; errors: number }[]
}

interface Run {
  test: string
  via: 'ws' | 'bridge'
  nodes: number
  bytes: number
  ms: number
  longTasks: number
  longTaskMaxMs: number
  longTaskTotalMs: number
  mainTaskMs: number
  mainScriptMs: number
}

async function appEntrySize(): Promise<{ file: string; gzip: number } | null> {
  try {
    const out = await build({
      root: ROOT,
      logLevel: 'error',
      build: { outDir: mkdtempSync(join(tmpdir(), 'rootsync-app-')), emptyOutDir: true },
    })
    const outputs = (Array.isArray(out) ? out : [out]) as Rolldown.RolldownOutput[]
    for (const o of outputs)
      for (const c of o.output)
        if (c.type === 'chunk' && c.isEntry) return { file: c.fileName, gzip: gzipSync(c.code).byteLength }
  } catch (e) {
    note(`app build failed (${(e as Error).message.split('\n')[0]}); app entry size not measured`)
  }
  return null
}

async function main(): Promise<void> {
  note(`devnet: ${ACCOUNTS} accounts; store in the worker: ${STORE}; ${ROUNDS} rounds of (a) then (b)`)
  const files = makeDevnetFiles({ seed: 'bench-webrtc', accounts: ACCOUNTS, contracts: 50, slots: 20 })
  const root = toHex(genesisStateRoot(files.genesis))
  const t0 = performance.now()
  const node = await startNode('node-0', join(files.dir, 'node-0'), ['--genesis', files.genesisFile])
  note(`serve ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (genesis state built)`)
  const rtc = node.ready.addrs.find((a) => a.includes('/webrtc-direct/'))
  if (!rtc) throw new Error(`serve advertises no webrtc-direct address: ${node.ready.addrs.join(' ')}`)

  const { dir, chunks } = await buildBridgePage()
  const { url, server } = await serveBridgePage(dir, {
    peers: [{ name: 'node-0', peerId: node.ready.peerId, addrs: node.ready.addrs }],
    timeoutMs: 30_000,
    wasm: true,
  })
  const browser = await launchBrowser()
  const runs: Run[] = []
  try {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(url)
    await page.waitForFunction(() => {
      const w = window as unknown as { __ready?: boolean; __error?: string }
      return w.__ready || w.__error
    })
    const err = await page.evaluate(() => (window as unknown as { __error?: string }).__error)
    if (err) throw new Error(err)
    const bridgeMs = await page.evaluate(
      () => (window as unknown as { __rt: { bridgeMs: number } }).__rt.bridgeMs,
    )
    note(
      `bridge up (lazy import + libp2p start + WebRTC-direct dial + add-peer) in ${bridgeMs.toFixed(0)} ms`,
    )
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Performance.enable')
    const metrics = async () => {
      const m = (await cdp.send('Performance.getMetrics')).metrics
      const get = (n: string) => (m.find((x) => x.name === n)?.value ?? 0) * 1000
      return { task: get('TaskDuration'), script: get('ScriptDuration') }
    }
    const longTasks = () =>
      page.evaluate(
        () =>
          (window as unknown as { __rt: { longTasks: { start: number; duration: number }[] } }).__rt.longTasks
            .length,
      )
    const cmd = (c: Cmd) =>
      page.evaluate(
        (c) =>
          (
            window as unknown as {
              __rt: { cmd(c: unknown): Promise<{ ok: boolean; value?: SyncOut; error?: unknown }> }
            }
          ).__rt.cmd(c),
        c,
      )

    const measure = async (test: string, via: 'ws' | 'bridge', c: Cmd): Promise<Run> => {
      const lt0 = await longTasks()
      const m0 = await metrics()
      const r = await cmd(c)
      const m1 = await metrics()
      if (!r.ok || !r.value) throw new Error(`${test} via ${via} failed: ${JSON.stringify(r.error)}`)
      if (c.op === 'sync' && r.value.root !== root)
        throw new Error(`sync via ${via} ended at ${r.value.root}, not ${root}`)
      if (c.op === 'blast' && (r.value as { bad?: number }).bad)
        throw new Error(`${test} via ${via}: bad nodes`)
      const lts = await page.evaluate(
        (from) =>
          (
            window as unknown as { __rt: { longTasks: { start: number; duration: number }[] } }
          ).__rt.longTasks.slice(from),
        lt0,
      )
      const run: Run = {
        test,
        via,
        nodes: r.value.nodes,
        bytes: r.value.bytes,
        ms: r.value.ms,
        longTasks: lts.length,
        longTaskMaxMs: Math.max(0, ...lts.map((x) => x.duration)),
        longTaskTotalMs: lts.reduce((s, x) => s + x.duration, 0),
        mainTaskMs: m1.task - m0.task,
        mainScriptMs: m1.script - m0.script,
      }
      runs.push(run)
      note(
        `${test} ${via}: ${fmtNum(Math.round((run.nodes / run.ms) * 1000))} nodes/s, ${run.longTasks} long tasks, main thread busy ${run.mainTaskMs.toFixed(0)} ms of ${run.ms.toFixed(0)} ms`,
      )
      return run
    }

    for (let round = 0; round < ROUNDS; round++) {
      note(`round ${round + 1}`)
      for (const via of ['ws', 'bridge'] as const)
        await measure('sync', via, {
          op: 'sync',
          via,
          peers: [via === 'ws' ? node.ws : node.ready.peerId],
          root,
          store: STORE,
        })
      // The memory store of the last sync lists every node: ask for all of them again, raw.
      if (STORE === 'memory')
        for (const concurrency of CONCURRENCY)
          for (const via of ['ws', 'bridge'] as const)
            await measure(`nodes x${concurrency}`, via, {
              op: 'blast',
              via,
              peer: via === 'ws' ? node.ws : node.ready.peerId,
              batch: 1024,
              concurrency,
            })
    }
    const stats = await page.evaluate(() =>
      (window as unknown as { __rt: { stats(): unknown } }).__rt.stats(),
    )
    note(`bridge relayed: ${JSON.stringify(stats)}`)
    if (errors.length) note(`page errors: ${errors.join('; ')}`)
  } finally {
    await browser.close()
    server.close()
    await stopAllNodes()
  }

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.floor(s.length / 2)]!
  }
  const summary = (test: string, via: 'ws' | 'bridge') => {
    const rs = runs.filter((r) => r.test === test && r.via === via)
    const rates = rs.map((r) => (r.nodes / r.ms) * 1000)
    return {
      nodes: rs[0]!.nodes,
      rate: median(rates),
      best: Math.max(...rates),
      mbps: median(rs.map((r) => r.bytes / 1e6 / (r.ms / 1000))),
      longTasks: rs.reduce((s, r) => s + r.longTasks, 0),
      longMax: Math.max(...rs.map((r) => r.longTaskMaxMs)),
      busy: median(rs.map((r) => r.mainTaskMs / r.ms)),
      script: median(rs.map((r) => r.mainScriptMs / r.ms)),
    }
  }
  const tests = [...new Set(runs.map((r) => r.test))]
  const rows: string[][] = []
  const ratios: string[] = []
  for (const test of tests) {
    const a = summary(test, 'ws')
    const b = summary(test, 'bridge')
    for (const [name, x] of [
      ['(a) WebSockets in the worker', a],
      ['(b) WebRTC-direct via page bridge', b],
    ] as const)
      rows.push([
        test,
        name,
        fmtNum(Math.round(x.rate)),
        fmtNum(Math.round(x.best)),
        x.mbps.toFixed(1),
        String(x.longTasks),
        x.longTasks ? `${x.longMax.toFixed(0)} ms` : '-',
        `${(x.busy * 100).toFixed(1)}%`,
        `${(x.script * 100).toFixed(1)}%`,
      ])
    ratios.push(`${test}: (b)/(a) nodes/s = ${fmtRatio(b.rate / a.rate)}`)
  }
  printTable(
    `Worker in Chromium <- rootsync serve, ${ACCOUNTS} accounts (${runs[0]!.nodes} nodes), store: ${STORE}; median of ${ROUNDS}`,
    [
      'test',
      'transport',
      'nodes/s',
      'best',
      'MB/s',
      'long tasks (all runs)',
      'longest',
      'main thread busy',
      'of which JS',
    ],
    rows,
  )
  for (const r of ratios) console.log(r)

  const app = await appEntrySize()
  const sizes: string[][] = []
  if (app) sizes.push([`app entry (${app.file})`, 'page, eager', `${(app.gzip / 1024).toFixed(1)} KiB`])
  for (const c of chunks) {
    const what = c.modules.includes('src/page/webrtc-bridge.ts')
      ? 'src/page/webrtc-bridge.ts (lazy)'
      : c.modules.includes('src/page/libp2p-page.ts')
        ? 'libp2p + WebRTC-direct + PeerClient (lazy, loaded by the bridge)'
        : c.kind === 'entry'
          ? 'bridge test page entry'
          : c.kind === 'worker'
            ? 'bridge test worker'
            : `other (${c.kind})`
    sizes.push([c.file, what, `${(c.gzip / 1024).toFixed(1)} KiB`])
  }
  printTable('Bundle (Vite, min + gzip)', ['chunk', 'what', 'gzip'], sizes)
}

main().then(
  () => process.exit(0),
  async (e) => {
    console.error(e)
    await stopAllNodes()
    process.exit(1)
  },
)
