/**
 * bench:coldstart — the first verified balance, cold and warm, at several chain heights: the
 * measure of "a first answer that does not depend on how long the chain has been running".
 *
 * Per height (BENCH_HEIGHTS, default "100,10000"; 100000 is added with BENCH_BIG=1) and per
 * rotation setting (BENCH_ROTATE, default "0,100"; validator rotation every N blocks):
 *
 * 1. A chain of empty blocks (bench/chaingen.ts: 1,000 accounts, 4 validators, 2-second blocks
 *    ending now), cached under bench/.cache; one real serving node (`rootsync serve`) on a copy.
 * 2. The app, built once from the work tree, served by the app's static server (bootstrap.json and
 *    the config inlined into index.html, as `npm start` serves it).
 * 3. Cold: a fresh Chromium profile opens `/?address=<a genesis account>`; the figure is the app's
 *    `rootsync:first-verified-balance` mark (ms since navigation start); the other `rootsync:*`
 *    marks (config, worker start, libp2p loaded, node created, first status, head verified, answer)
 *    give the breakdown. Then the state sync is let finish, and warm: the same profile reloads.
 *    BENCH_RUNS (default 3) cold + warm pairs.
 * 4. `rootsync sync --latest --json` into a fresh directory, BENCH_CLI_RUNS times (default
 *    BENCH_RUNS): seconds to a verified head with its (1,000-account) state; a run longer than
 *    BENCH_CLI_LIMIT_S (default 120) is stopped and counted as over the limit.
 *
 * Light blocks fetched and signatures checked: from the light client's `trust` event (the app marks
 * the first as `rootsync:trust`); "n/a" while the client does not send one.
 * Each figure is the median of its runs, with the spread (min–max) and the load average while it
 * ran. Progress goes to stderr, the tables to stdout. BENCH_KEEP=1 keeps the temporary directory.
 */
import '../src/node/polyfills.ts'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { build } from 'vite'
import { genesisBootstrap } from '../src/node/commands/devnet.ts'
import { serveApp } from '../src/node/static-server.ts'
import { launchBrowser } from '../test/helpers/browser.ts'
import { runCli } from '../test/helpers/cli.ts'
import { startNode, stopAllNodes } from '../test/helpers/nodes.ts'
import { type ChainSpec, copyDataDir, type GeneratedChain, generateChain } from './chaingen.ts'
import { note, printTable } from './lib.ts'

const ROOT = join(import.meta.dirname, '..')
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const HEIGHTS = (process.env.BENCH_HEIGHTS ?? `100,10000${process.env.BENCH_BIG === '1' ? ',100000' : ''}`)
  .split(',')
  .map(Number)
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? RUNS)
/** A `rootsync sync` slower than this is stopped and reported as over the limit. */
const CLI_LIMIT_S = Number(process.env.BENCH_CLI_LIMIT_S ?? 120)
const ROTATIONS = (process.env.BENCH_ROTATE ?? '0,100').split(',').map(Number)
const GOALS = { coldMs: 300, warmMs: 50, coldRatio: 1.2 }
/** The app's marks, in the order a cold start meets them. */
const MARKS = [
  'html-loaded',
  'worker-created',
  'config',
  'worker-start',
  'start-received',
  'libp2p-loaded',
  'node-created',
  'first-status',
  'head-verified',
  'answer',
  'first-verified-balance',
] as const
const BALANCE = 'rootsync:first-verified-balance'

type Marks = Partial<Record<(typeof MARKS)[number], number>>
/** The light client's `trust` event for the first verified head (the app marks it), if it sent one. */
interface Trust {
  fetched: number
  signatures: number
  source: 'network' | 'store'
}
interface Run {
  marks: Marks
  trust: Trust | null
  load: number
}
interface HeightResult {
  height: number
  cold: Run[]
  warm: Run[]
  /** Seconds of `rootsync sync --latest`. */
  cli: { seconds: number; load: number }[]
  generatedSeconds: number
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : Number.NaN
}
const load1 = () => loadavg()[0]!

/** The `rootsync:*` marks of the page (ms since its navigation started) and the trust figures. */
async function runOf(page: Page, timeoutMs: number, load: number): Promise<Run> {
  // The balance, or the lookup's error (e.g. no head verified within the read's wait).
  await page.waitForFunction(
    (n) =>
      performance.getEntriesByName(n).length > 0 || document.querySelector('[data-testid="lookup-error"]'),
    BALANCE,
    { timeout: timeoutMs, polling: 20 },
  )
  const error = await page
    .getByTestId('lookup-error')
    .textContent({ timeout: 1 })
    .catch(() => null)
  if (error) note(`  the lookup failed: ${error}`)
  const all = await page.evaluate(() => [
    // The page's HTML received: what the server and the browser cost before any of the app's code.
    [
      'html-loaded',
      (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).responseEnd,
    ] as const,
    ...performance
      .getEntriesByType('mark')
      .filter((m) => m.name.startsWith('rootsync:'))
      .map((m) => [m.name.slice('rootsync:'.length), m.startTime] as const),
  ])
  const marks: Marks = {}
  for (const [name, t] of all)
    if ((MARKS as readonly string[]).includes(name)) marks[name as keyof Marks] ??= t
  const trust = await page.evaluate(
    () =>
      ((performance.getEntriesByName('rootsync:trust')[0] as PerformanceMark | undefined)?.detail ??
        null) as Trust | null,
  )
  return { marks, trust, load }
}

/** One cold visit in a fresh profile, the sync let finish, then one warm reload of the same profile. */
async function coldThenWarm(url: string): Promise<{ cold: Run; warm: Run }> {
  const ctx: BrowserContext = await launchBrowser()
  try {
    const page = await ctx.newPage()
    let load = load1()
    await page.goto(url)
    const cold = await runOf(page, 180_000, load)
    // The warm visit should find a complete state: wait for the sync to finish.
    await page.waitForFunction(() => performance.getEntriesByName('rootsync:synced').length > 0, null, {
      timeout: 300_000,
    })
    load = load1()
    await page.reload()
    return { cold, warm: await runOf(page, 60_000, load) }
  } finally {
    await ctx.close()
  }
}

/** Seconds of one `rootsync sync --latest` (NaN: stopped at the limit). */
async function cliSync(bootstrap: string, dir: string): Promise<{ seconds: number; load: number }> {
  const load = load1()
  const t = performance.now()
  const r = await runCli(['sync', '--data', dir, '--bootstrap', bootstrap, '--latest', '--json'], {
    killAfterMs: CLI_LIMIT_S * 1000,
  })
  if (r.signal) return { seconds: Number.NaN, load }
  if (r.code !== 0) throw new Error(`rootsync sync failed (${r.code}): ${r.stderr.slice(-400)}`)
  return { seconds: (performance.now() - t) / 1000, load }
}

async function measureHeight(
  dist: string,
  chain: GeneratedChain,
  height: number,
  tmp: string,
): Promise<HeightResult> {
  const dir = copyDataDir(chain, join(tmp, `node-${height}`))
  const node = await startNode(`node-${height}`, dir, ['--genesis', chain.genesisFile])
  const bootstrapFile = join(tmp, `bootstrap-${height}.json`)
  writeFileSync(
    bootstrapFile,
    JSON.stringify(
      genesisBootstrap(chain.chainId, chain.genesisHash, chain.validators, [
        { name: node.name, peerId: node.ready.peerId, addrs: node.ready.addrs },
      ]),
    ),
  )
  const server = await serveApp({ dist, bootstrapFile, host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/?address=${chain.address}`
  const out: HeightResult = { height, cold: [], warm: [], cli: [], generatedSeconds: chain.seconds }
  try {
    for (let i = 0; i < RUNS; i++) {
      const r = await coldThenWarm(url)
      out.cold.push(r.cold)
      out.warm.push(r.warm)
      note(
        `  h=${height} run ${i + 1}: cold ${r.cold.marks['first-verified-balance']?.toFixed(0) ?? 'failed'} ms, warm ${r.warm.marks['first-verified-balance']?.toFixed(0) ?? 'failed'} ms (load ${r.cold.load.toFixed(1)})`,
      )
    }
    for (let i = 0; i < CLI_RUNS; i++) {
      const c = await cliSync(bootstrapFile, join(tmp, `sync-${height}-${i}`))
      out.cli.push(c)
      note(
        `  h=${height} rootsync sync ${i + 1}: ${Number.isNaN(c.seconds) ? `over ${CLI_LIMIT_S} s` : `${c.seconds.toFixed(2)} s`}`,
      )
    }
    // The raw figures, so an interrupted run still leaves them.
    note(`  h=${height} raw: ${JSON.stringify(out)}`)
  } finally {
    server.close()
    await stopAllNodes()
  }
  return out
}

/** "median (min–max)". */
function spread(xs: number[], unit = 'ms', digits = 0, none = '—'): string {
  if (!xs.length) return none
  return `${median(xs).toFixed(digits)} ${unit} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
}
const balances = (runs: Run[]) =>
  runs.map((r) => r.marks['first-verified-balance']).filter((x): x is number => x !== undefined)
const loads = (xs: { load: number }[]) => `load ${xs.map((x) => x.load.toFixed(1)).join('/')}`
const met = (ok: boolean) => (ok ? 'met' : 'NOT MET')
/** A trust figure's median, or n/a when the client did not report it (no `trust` event). */
function trustFigure(runs: Run[], key: 'fetched' | 'signatures'): string {
  const xs = runs.map((r) => r.trust?.[key]).filter((x): x is number => typeof x === 'number')
  return xs.length
    ? `${median(xs)} (${Math.min(...xs)}–${Math.max(...xs)})`
    : 'n/a (no trust event from the client)'
}

function report(rotation: number, results: HeightResult[]): void {
  const base = results[0]!
  const withRatio = (r: HeightResult, v: (r: HeightResult) => number, text: string) =>
    r === base || !Number.isFinite(v(r) / v(base)) ? text : `${text}; ${(v(r) / v(base)).toFixed(2)}×`
  const cold = (r: HeightResult) => median(balances(r.cold))
  const warm = (r: HeightResult) => median(balances(r.warm))
  const cli = (r: HeightResult) => median(r.cli.map((c) => c.seconds).filter((x) => !Number.isNaN(x)))
  const top = results.at(-1)!
  printTable(
    `bench:coldstart, rotation ${rotation ? `every ${rotation} blocks` : 'none'} (median of ${RUNS} runs, spread min–max)`,
    ['metric', ...results.map((r) => `h = ${r.height.toLocaleString('en')}`), 'goal'],
    [
      [
        'cold first verified balance',
        ...results.map((r) =>
          withRatio(r, cold, `${spread(balances(r.cold), 'ms', 0, 'no answer')} ${loads(r.cold)}`),
        ),
        `≤ ${GOALS.coldMs} ms: ${met(results.every((r) => cold(r) <= GOALS.coldMs))}; ≤ ${GOALS.coldRatio}×: ${met(cold(top) / cold(base) <= GOALS.coldRatio)}`,
      ],
      [
        'warm first verified balance',
        ...results.map((r) =>
          withRatio(r, warm, `${spread(balances(r.warm), 'ms', 0, 'no answer')} ${loads(r.warm)}`),
        ),
        `≤ ${GOALS.warmMs} ms: ${met(results.every((r) => warm(r) <= GOALS.warmMs))}`,
      ],
      ['light blocks fetched, cold', ...results.map((r) => trustFigure(r.cold, 'fetched')), '≤ log2 h'],
      ['signatures checked, cold', ...results.map((r) => trustFigure(r.cold, 'signatures')), '—'],
      ['signatures checked, warm', ...results.map((r) => trustFigure(r.warm, 'signatures')), '—'],
      [
        'rootsync sync --latest',
        ...results.map((r) =>
          withRatio(
            r,
            cli,
            `${spread(
              r.cli.map((c) => c.seconds),
              's',
              2,
            )} ${loads(r.cli)}`,
          ),
        ),
        '—',
      ],
    ],
  )
  for (const r of results)
    printTable(
      `breakdown at h = ${r.height.toLocaleString('en')}: ms since navigation (median of ${RUNS}, min–max)`,
      ['mark', 'cold', 'warm'],
      MARKS.map((m) => [
        m,
        spread(r.cold.map((x) => x.marks[m]).filter((x): x is number => x !== undefined)),
        spread(r.warm.map((x) => x.marks[m]).filter((x): x is number => x !== undefined)),
      ]),
    )
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'rootsync-coldstart-'))
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
  note(`bench:coldstart at ${commit} (work tree), heights ${HEIGHTS.join(', ')}, ${RUNS} runs`)
  try {
    const dist = join(tmp, 'dist')
    await build({ root: ROOT, logLevel: 'error', build: { outDir: dist, emptyOutDir: true } })
    for (const rotation of ROTATIONS) {
      const results: HeightResult[] = []
      for (const height of HEIGHTS) {
        const spec: ChainSpec = {
          seed: 'coldstart',
          accounts: 1000,
          height,
          rotateEvery: rotation,
          validators: 4,
          blockSeconds: 2,
        }
        const chain: GeneratedChain = await generateChain(spec)
        note(
          `h=${height}: chain ${chain.seconds ? `generated in ${chain.seconds.toFixed(1)} s` : 'from the cache'}`,
        )
        // Each rotation setting is another chain: its own node and sync directories.
        const dir = join(tmp, `rotate-${rotation}`)
        mkdirSync(dir, { recursive: true })
        results.push(await measureHeight(dist, chain, height, dir))
      }
      if (results.length) report(rotation, results)
    }
  } finally {
    await stopAllNodes()
    if (process.env.BENCH_KEEP !== '1') rmSync(tmp, { recursive: true, force: true })
    else note(`kept ${tmp}`)
  }
}

await main()
