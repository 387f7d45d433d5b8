/**
 * bench:first-sync — the first sync two ways, in ONE run, against the same three `rootsync serve`
 * processes over loopback WebSockets, each run in its own child process into a fresh LevelDB:
 *   (a) node by node: `syncToState` (bench/sync.bench.ts's child, exactly what bench:sync measures);
 *   (b) by verified ranges: the range-proven network snapshot (recovery/snapshot-sync.ts) to its
 *       verified root, then the completed-sync record (bench/first-sync.child.ts).
 * The state is bench:sync's (its `buildState`: a devnet genesis, contracts 100 × 100 slots); runs
 * alternate a, b, b, a, a, b… so drift in the machine's load falls on both. Per run: wall (child's
 * SYNC_START → SYNC_END), client CPU µs per node, the servers' CPU, MB down, nodes; both must end at
 * the target root with every node of the state stored. The summary gives medians, spreads and the
 * ratio b ÷ a.
 *
 * Env: BENCH_ACCOUNTS (100000), BENCH_RUNS (3 of each), BENCH_FINAL_CHECK=1 (time the recovery
 * manager's full final check after (b), outside its window), BENCH_PROFILE=1 (one more (b) under
 * --cpu-prof, top functions printed), BENCH_SNAPSHOT_OPTIONS (JSON, for (b)), BENCH_KEEP=1.
 */
import '../src/node/polyfills.ts'
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { useWasmKeccak } from '../src/core/hash.ts'
import { type ServeProcess, startServe, stopServe } from './devnet-state.ts'
import { fmtMs, fmtNum, fmtRatio, gc, loadAvg, note, printTable } from './lib.ts'
import { buildState, mainProfile, printProfile, type RunResult, runSync } from './sync.bench.ts'

const CHILD_B = join(import.meta.dirname, 'first-sync.child.ts')

type Way = 'a' | 'b'
interface Run {
  way: Way
  r: RunResult & { stored?: number; finalCheckMs?: number | null }
}

const cpuSec = (r: RunResult): number => (r.cpuMs.user + r.cpuMs.system) / 1000
const serverSec = (r: RunResult): number => r.serverCpuMs.reduce((x, y) => x + y, 0) / 1000
const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const spread = (xs: number[], f: (x: number) => string): string =>
  `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`

async function main(): Promise<void> {
  const accounts = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
  const runs = Number(process.env.BENCH_RUNS ?? 3)
  await useWasmKeccak()
  const dir = mkdtempSync(join(tmpdir(), 'rootsync-bench-first-sync-'))
  const loadStart = loadAvg()
  const onSig = () => {
    rmSync(dir, { recursive: true, force: true })
    process.exit(130)
  }
  process.once('SIGINT', onSig)
  let servers: ServeProcess[] = []
  const done: Run[] = []
  try {
    note(`${fmtNum(accounts)} accounts: generating the devnet genesis and building the state`)
    const built = await buildState(dir, accounts)
    const { root, nodes, bytes } = built
    built.pairs.length = 0
    gc()
    note(`state: ${fmtNum(nodes)} distinct nodes and code blobs, ${(bytes / 1e6).toFixed(1)} MB`)
    for (const i of [1, 2]) cpSync(join(dir, 'node-0'), join(dir, `node-${i}`), { recursive: true })
    servers = await Promise.all([0, 1, 2].map((i) => startServe(join(dir, `node-${i}`))))

    const one = async (way: Way, i: number, flags: string[] = []): Promise<Run> => {
      const db = join(dir, `client-${way}-${i}`, 'db')
      note(`run ${i + 1}/${runs} (${way}) ${way === 'a' ? 'node by node' : 'by verified ranges'}…`)
      const r = await runSync(servers, root, db, flags, way === 'a' ? undefined : CHILD_B)
      rmSync(join(dir, `client-${way}-${i}`), { recursive: true, force: true })
      const count = way === 'b' ? (r as Run['r']).stored! : r.nodes
      if (!r.verified) throw new Error(`(${way}) did not end at the target root`)
      if (count !== nodes) throw new Error(`(${way}) stored ${count} nodes, the state has ${nodes}`)
      note(
        `  ${fmtNum(count)} nodes in ${fmtMs(r.wallMs)}, client ${((cpuSec(r) * 1e6) / nodes).toFixed(1)} µs CPU/node, load ${loadAvg()}`,
      )
      return { way, r }
    }
    for (let i = 0; i < runs; i++) {
      const order: Way[] = i % 2 ? ['b', 'a'] : ['a', 'b']
      for (const w of order) done.push(await one(w, i))
    }

    if (process.env.BENCH_PROFILE === '1') {
      const prof = join(dir, 'prof')
      mkdirSync(prof, { recursive: true })
      note('profile: (b) under --cpu-prof…')
      const p = await one('b', runs, ['--cpu-prof', '--cpu-prof-dir', prof])
      printProfile('(b) by verified ranges: client CPU profile', mainProfile(prof, p.r.windowUs))
    }

    const rows = done.map(({ way, r }, k) => [
      `${k + 1}. (${way}) ${way === 'a' ? 'node by node' : 'verified ranges'}`,
      fmtMs(r.wallMs),
      ((cpuSec(r) * 1e6) / nodes).toFixed(1),
      `${serverSec(r).toFixed(1)} s`,
      (r.bytes / 1e6).toFixed(2),
      fmtNum(way === 'b' ? r.stored! : r.nodes),
      r.machineBusyCores.toFixed(2),
      r.finalCheckMs == null ? '' : fmtMs(r.finalCheckMs),
    ])
    printTable(
      `bench:first-sync — ${fmtNum(accounts)} accounts (${fmtNum(nodes)} nodes, ${(bytes / 1e6).toFixed(1)} MB), 3 peers → LevelDB; load avg at start ${loadStart}, at end ${loadAvg()}`,
      [
        'run',
        'wall',
        'client CPU µs/node',
        'servers CPU',
        'MB down',
        'nodes',
        'machine busy cores',
        'final check (b)',
      ],
      rows,
    )
    const of = (w: Way) => done.filter((x) => x.way === w).map((x) => x.r)
    const [a, b] = [of('a'), of('b')]
    const wall = (rs: RunResult[]) => rs.map((r) => r.wallMs)
    const cpu = (rs: RunResult[]) => rs.map((r) => (cpuSec(r) * 1e6) / nodes)
    const srv = (rs: RunResult[]) => rs.map((r) => (serverSec(r) * 1e6) / nodes)
    const us = (x: number) => x.toFixed(1)
    const wins = b.filter((r, i) => r.wallMs < a[i]!.wallMs).length
    console.log(
      `\nmedian (min–max) of ${runs}:\n` +
        `  (a) node by node:    wall ${spread(wall(a), fmtMs)}, client ${spread(cpu(a), us)} µs CPU/node, servers ${spread(srv(a), us)} µs/node, ${(median(a.map((r) => r.bytes)) / 1e6).toFixed(2)} MB\n` +
        `  (b) verified ranges: wall ${spread(wall(b), fmtMs)}, client ${spread(cpu(b), us)} µs CPU/node, servers ${spread(srv(b), us)} µs/node, ${(median(b.map((r) => r.bytes)) / 1e6).toFixed(2)} MB\n` +
        `  b ÷ a: wall ${fmtRatio(median(wall(b)) / median(wall(a)))}, client CPU ${fmtRatio(median(cpu(b)) / median(cpu(a)))}, ` +
        `servers CPU ${fmtRatio(median(srv(b)) / median(srv(a)))}, bytes ${fmtRatio(median(b.map((r) => r.bytes)) / median(a.map((r) => r.bytes)))}` +
        `; (b) faster in ${wins}/${runs} pairs (run i of each) — ${wins === runs ? 'FASTER in every pair' : 'NOT consistently faster'} end to end`,
    )
    console.log(
      `BENCH_JSON ${JSON.stringify({
        bench: 'first-sync',
        accounts,
        nodes,
        bytes,
        loadAvgAtStart: loadStart,
        loadAvgAtEnd: loadAvg(),
        runs: done.map(({ way, r }) => ({
          way,
          wallMs: r.wallMs,
          clientCpuMs: r.cpuMs,
          serverCpuMs: r.serverCpuMs,
          bytes: r.bytes,
          nodes: way === 'b' ? r.stored : r.nodes,
          finalCheckMs: r.finalCheckMs ?? null,
        })),
      })}`,
    )
  } finally {
    await Promise.all(servers.map(stopServe))
    process.off('SIGINT', onSig)
    if (process.env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true })
  }
}

await main()
