/**
 * bench:recovery — the four state-recovery strategies side by side, each as a real `rootsync recover`
 * process against a real 3-node devnet (one producer, two followers, `rootsync serve` processes over
 * loopback WebSockets), all to the same pinned target height T, with a local state B = T − behind:
 *   - local:    a data dir holding the complete state at B as a local snapshot; checks it, replays B→T;
 *   - peer:     the same data dir; peer state sync downloads only what changed between B and T;
 *   - replay:   the same data dir; replays the blocks B→T from the stored state;
 *   - snapshot: an empty data dir; range-proven network snapshot of the whole state at T;
 *   - baseline: `rootsync sync --height T` into an empty dir (node-by-node first sync), same run.
 * Reported per run: the strategy's own time and bytes downloaded (the attempt report), the process's
 * wall time (start-up, header verification to T and the final check included), nodes and blocks.
 *
 * The local state at B is made with `rootsync sync --height B`; the bench then records it as a local
 * snapshot (META.snapshots, with `snapshotRecords`, as the following client does after a completed
 * sync): neither `rootsync sync` nor `rootsync recover` records one, so without this the local
 * strategy has nothing to start from. The data dir is copied once per strategy while no process has
 * it open. The devnet keeps producing during the runs; `--retain` is large so T stays
 * served throughout.
 *
 * Flags: --accounts N (100000), --contracts M (100), --slots K (100), --behind N (50),
 * --block-time MS (500), --txs N (20), --keep (keep the temp dir).
 */
import '../src/node/polyfills.ts'
import { spawn } from 'node:child_process'
import { cpSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fromHex } from '../src/core/bytes.ts'
import { snapshotRecords } from '../src/core/recovery/snapshots.ts'
import { LevelNodeStore } from '../src/store/level-store.ts'
import { BIN, ROOT } from '../test/helpers/cli.ts'
import { makeDevnetFiles, type NodeProc, nodesBootstrap, startNode, stopNode } from '../test/helpers/nodes.ts'
import { fmtMs, fmtNum, fmtRatio, note, printTable } from './lib.ts'

const MBYTE = 1e6

// ---- the devnet (the integration tests' helpers: real `rootsync serve` processes) ---------------

/** Resolves once every node's head is at least `n`. */
async function waitHeads(nodes: NodeProc[], n: number): Promise<void> {
  await Promise.all(nodes.map((p) => p.waitHead(n, 600_000)))
}

// ---- one CLI run ----------------------------------------------------------------------------------

interface CliRun {
  code: number | null
  wallMs: number
  out: Record<string, unknown> | null
  stderr: string
}

function runCli(args: string[]): Promise<CliRun> {
  const t0 = performance.now()
  const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout!.on('data', (d) => (stdout += d))
  proc.stderr!.on('data', (d) => (stderr += d))
  return new Promise((resolve, reject) => {
    proc.on('error', reject)
    proc.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? ''
      let out: Record<string, unknown> | null = null
      try {
        out = JSON.parse(last)
      } catch {}
      resolve({ code, wallMs: performance.now() - t0, out, stderr })
    })
  })
}

interface Attempt {
  strategy: string
  outcome: string
  reason: string | null
  ms: number
  bytes: number
  nodes: number
  blocks: number
}

interface Row {
  name: string
  what: string
  ok: boolean
  root: string | null
  headerHash?: string
  /** The strategy's (or sync's) own time, ms. */
  ms: number
  wallMs: number
  bytes: number
  nodes: number
  blocks: number
  error?: string
}

async function recover(
  name: string,
  what: string,
  dir: string,
  boot: string,
  height: number,
  strategy: string,
): Promise<Row> {
  note(`${name}: rootsync recover --strategies ${strategy} --height ${height}`)
  const r = await runCli([
    'recover',
    '--data',
    dir,
    '--bootstrap',
    boot,
    '--height',
    String(height),
    '--strategies',
    strategy,
    '--json',
  ])
  const attempts = ((r.out?.attempts as Attempt[] | undefined) ?? []).filter((a) => a.strategy === strategy)
  const a = attempts[attempts.length - 1]
  const ok = r.code === 0 && r.out?.strategy === strategy
  return {
    name,
    what,
    ok,
    root: (r.out?.root as string | null) ?? null,
    ms: a?.ms ?? Number.NaN,
    wallMs: r.wallMs,
    bytes: a?.bytes ?? Number.NaN,
    nodes: a?.nodes ?? Number.NaN,
    blocks: a?.blocks ?? Number.NaN,
    ...(ok
      ? {}
      : {
          error: `exit ${r.code}; ${a ? `${a.outcome}: ${a.reason}` : ''} ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        }),
  }
}

async function sync(name: string, what: string, dir: string, boot: string, height: number): Promise<Row> {
  note(`${name}: rootsync sync --height ${height}`)
  const r = await runCli(['sync', '--data', dir, '--bootstrap', boot, '--height', String(height), '--json'])
  const o = r.out ?? {}
  const ok = r.code === 0 && o.height === height
  return {
    name,
    what,
    ok,
    root: (o.root as string | undefined) ?? null,
    headerHash: o.headerHash as string | undefined,
    ms: typeof o.seconds === 'number' ? o.seconds * 1000 : Number.NaN,
    wallMs: r.wallMs,
    bytes: (o.bytes as number | undefined) ?? Number.NaN,
    nodes: (o.nodes as number | undefined) ?? Number.NaN,
    blocks: 0,
    ...(ok ? {} : { error: `exit ${r.code}; ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` }),
  }
}

/** Records the synced state at `height` as the store's local snapshot (what the following client does). */
async function recordSnapshot(db: string, height: number, synced: Row): Promise<void> {
  const store = await LevelNodeStore.open(db)
  try {
    await store.write({
      meta: snapshotRecords(
        [],
        {
          height,
          root: fromHex(synced.root!, 'root'),
          headerHash: fromHex(synced.headerHash!, 'header hash'),
          nodes: synced.nodes,
        },
        0,
      ),
    })
  } finally {
    await store.close()
  }
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      accounts: { type: 'string', default: '100000' },
      contracts: { type: 'string', default: '100' },
      slots: { type: 'string', default: '100' },
      behind: { type: 'string', default: '50' },
      'block-time': { type: 'string', default: '500' },
      txs: { type: 'string', default: '20' },
      keep: { type: 'boolean', default: false },
    },
  })
  const accounts = Number(values.accounts)
  const contracts = Number(values.contracts)
  const slots = Number(values.slots)
  const behind = Number(values.behind)
  const load = (): string =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')
  const loadStart = load()
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, Node ${process.version}`
  note(`generating the devnet genesis: ${fmtNum(accounts)} accounts, ${contracts} contracts × ${slots} slots`)
  const files = makeDevnetFiles({ seed: 'bench-recovery', accounts, contracts, slots })
  const dir = files.dir
  note(`temp dir ${dir}; ${machine}; load avg ${loadStart}`)

  const servers: NodeProc[] = []
  const rows: Row[] = []
  let setup: Record<string, unknown> = {}
  let target = 0
  let base = 0
  try {
    // The target must stay served for the whole run: no state is pruned within 1M blocks.
    const common = ['--genesis', files.genesisFile, '--retain', '1000000']
    note('starting the producer and 2 followers')
    const producer = await startNode('node-0', join(dir, 'node-0'), [
      ...common,
      '--produce',
      files.keysFile,
      '--block-time',
      values['block-time']!,
      '--txs',
      values.txs!,
    ])
    servers.push(producer)
    servers.push(
      ...(await Promise.all(
        [1, 2].map((i) =>
          startNode(`node-${i}`, join(dir, `node-${i}`), [...common, '--follow', producer.ws]),
        ),
      )),
    )
    const boot = join(dir, 'bootstrap.json')
    const genesisHash = (producer.ready as unknown as { genesisHash: string }).genesisHash
    writeFileSync(boot, JSON.stringify(nodesBootstrap(files, genesisHash, servers)))

    // The local state at B, recorded as a local snapshot.
    base = Math.max(producer.ready.head.number, ...producer.heads.map((h) => h.number)) + 2
    target = base + behind
    await waitHeads(servers, base)
    const baseDir = join(dir, 'base')
    const baseSync = await sync('setup', `sync to B=${base}`, baseDir, boot, base)
    if (!baseSync.ok) throw new Error(`setup sync failed: ${baseSync.error}`)
    await recordSnapshot(join(baseDir, 'db'), base, baseSync)
    setup = { baseSync }
    note(`local state at ${base}: ${fmtNum(baseSync.nodes)} nodes; waiting for the head to reach T=${target}`)
    await waitHeads(servers, target)
    for (const s of ['local', 'peer', 'replay']) cpSync(baseDir, join(dir, s), { recursive: true })

    note(`load avg before the runs: ${load()}`)
    rows.push(
      await sync(
        'baseline',
        'node-by-node first sync (`rootsync sync`), empty dir',
        join(dir, 'sync'),
        boot,
        target,
      ),
    )
    rows.push(
      await recover(
        'snapshot',
        'network snapshot, empty dir',
        join(dir, 'snapshot'),
        boot,
        target,
        'snapshot',
      ),
    )
    rows.push(
      await recover(
        'local',
        `local snapshot at B + replay of ${behind} blocks`,
        join(dir, 'local'),
        boot,
        target,
        'local',
      ),
    )
    rows.push(
      await recover('peer', `peer state sync from the state at B`, join(dir, 'peer'), boot, target, 'peer'),
    )
    rows.push(
      await recover(
        'replay',
        `block replay of ${behind} blocks from the state at B`,
        join(dir, 'replay'),
        boot,
        target,
        'replay',
      ),
    )
  } finally {
    await Promise.all(
      servers.map(async (n) => {
        const t = setTimeout(() => n.child.kill('SIGKILL'), 15_000)
        await stopNode(n)
        clearTimeout(t)
      }),
    )
    if (!values.keep) rmSync(dir, { recursive: true, force: true })
  }
  const loadEnd = load()

  const roots = new Set(rows.filter((r) => r.ok).map((r) => r.root))
  const baseline = rows.find((r) => r.name === 'baseline')!
  printTable(
    `bench:recovery — ${fmtNum(accounts)} accounts (${contracts} contracts × ${slots} slots), target block ${target}, local state at ${base} (${behind} behind); ${machine}; load avg ${loadStart} at start, ${loadEnd} at end`,
    ['run', 'what', 'ok', 'time', 'process wall', 'MB down', 'nodes', 'blocks', 'time ÷ baseline'],
    rows.map((r) => [
      r.name,
      r.what,
      r.ok ? 'yes' : 'NO',
      fmtMs(r.ms),
      fmtMs(r.wallMs),
      fmtNum(r.bytes / MBYTE, 2),
      fmtNum(r.nodes),
      fmtNum(r.blocks),
      r.name === 'baseline' || !r.ok ? '' : `${fmtRatio(r.ms / baseline.ms)}`,
    ]),
  )
  for (const r of rows) if (r.error) console.log(`${r.name}: ${r.error}`)
  console.log(
    `\nall successful runs ended at the same root: ${roots.size === 1 ? 'yes' : `NO (${[...roots].join(', ')})`}` +
      `\n"time" is the strategy's own time (the attempt report; for the baseline, the sync's); "process wall" adds start-up, header verification to the target and the final check.`,
  )
  console.log(
    `BENCH_JSON ${JSON.stringify({
      bench: 'recovery',
      accounts,
      contracts,
      slots,
      base,
      target,
      behind,
      machine,
      loadAvgAtStart: loadStart,
      loadAvgAtEnd: loadEnd,
      sameRoot: roots.size === 1,
      setup,
      runs: rows,
    })}`,
  )
}

await main()
