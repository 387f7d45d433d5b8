/**
 * bench:browser's goals (issue 14, browser): each goal's figure against its floor or target from
 * the same run, the ratio, and whether it is met. The stage floors are measured in the same
 * Chromium on the same nodes (bench/browser-floors.page.ts: network, keccak; bench/browser-baseline
 * .page.ts: the packed store's raw write); the sync is put against the slowest of them.
 *
 * A goal that does not apply at this size (the 1M navigation goal at 100k) has `met: null` and is
 * shown as n/a, never as met.
 */

import type { BaselineResult } from './browser-baseline.page.ts'
import type { HeapFigures } from './browser-chrome.ts'
import type { FloorRun, FloorsResult } from './browser-floors.page.ts'
import type { CpuWindow } from './lib.ts'
import { fmtMs, fmtNum, fmtRatio } from './lib.ts'

export const GOALS = {
  rate: 100_000,
  vsFloor: 0.5,
  vsBaseline: 6,
  sync1MSeconds: 15,
  coldMs: 300,
  warmMs: 50,
  heapMB: 128,
  storageRatio: 1.3,
  initialJsKB: 250,
  longTaskMs: 50,
}

/** Long tasks of the page's main thread (a PerformanceObserver installed before any page script). */
export interface LongTasks {
  supported: boolean
  count: number
  maxMs: number
  over50: number
  /** From navigation start to the synced mark. */
  duringSync: number
  over50DuringSync: number
  maxDuringSyncMs: number
}

/** One app sync in a fresh profile: the worker's own figures, every worker's heap, long tasks. */
export interface SyncRun {
  peers: number
  via: 'mark' | 'dom'
  nodes: number
  skipped: number | null
  seconds: number
  rate: number
  navToSyncedMs: number
  root: string | null
  heap: HeapFigures
  longTasks: LongTasks
  load: string
  /** Cores used from navigation to synced: the machine, the serving nodes, Chromium. */
  cpu?: CpuWindow
}

export interface GoalInput {
  accounts: number
  baseline: BaselineResult
  floors: FloorsResult
  syncs: SyncRun[]
}

export interface GoalRow {
  goal: string
  figure: string
  floor: string
  ratio: string
  met: boolean | null
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN
}

const rateOf = (r: { nodes: number; ms: number }): number => r.nodes / (r.ms / 1000)
const best = (runs: { nodes: number; ms: number }[]): number => Math.max(...runs.map(rateOf))
const spread = (xs: number[], f: (x: number) => string): string =>
  xs.length > 1 ? ` (${xs.map(f).join(' / ')})` : ''

/** The best of the runs of one stage (a floor is what the stage can do); NaN if a run missed nodes. */
export function floorRate(f: FloorsResult, stage: FloorRun['stage']): number {
  const runs = f.runs.filter((r) => r.stage === stage)
  return runs.some((r) => r.missed > 0) ? Number.NaN : best(runs)
}

export const baselineRate = (b: BaselineResult): number =>
  best(b.runs.filter((r) => r.kind === 'one-record-per-node'))
export const packedRate = (b: BaselineResult): number => best(b.runs.filter((r) => r.kind === 'packed'))

/** The stage floors (nodes/s), slowest first. */
export function stageFloors(r: GoalInput): { name: string; rate: number }[] {
  return [
    { name: 'network', rate: floorRate(r.floors, 'network') },
    { name: 'hashing', rate: floorRate(r.floors, 'hashing') },
    { name: 'packed write', rate: packedRate(r.baseline) },
  ].sort((a, b) => (Number.isNaN(a.rate) ? -1 : Number.isNaN(b.rate) ? 1 : a.rate - b.rate))
}

export function goalRows(r: GoalInput): GoalRow[] {
  const three = r.syncs.filter((s) => s.peers === 3)
  const one = r.syncs.filter((s) => s.peers === 1)
  const rate3 = median(three.map((s) => s.rate))
  const rate1 = median(one.map((s) => s.rate))
  const k = (x: number): string => fmtNum(x)
  const runs3 = spread(
    three.map((s) => s.rate),
    k,
  )
  const floors = stageFloors(r)
  const slowest = floors[0]!
  const rows: GoalRow[] = [
    {
      goal: 'verified nodes/s into IndexedDB, 3 peers',
      figure: `${k(rate3)}/s${runs3}`,
      floor: `≥ ${k(GOALS.rate)}/s`,
      ratio: fmtRatio(rate3 / GOALS.rate),
      met: rate3 >= GOALS.rate,
    },
    {
      goal: `3 peers vs the slowest stage floor (${slowest.name})`,
      figure: `${k(rate3)}/s`,
      floor: `≥ ${GOALS.vsFloor} × ${k(slowest.rate)}/s`,
      ratio: fmtRatio(rate3 / slowest.rate),
      met: Number.isNaN(slowest.rate) ? false : rate3 >= GOALS.vsFloor * slowest.rate,
    },
  ]
  const mbps = (runs: { bytes: number; ms: number }[]): string =>
    runs.length ? `, ${Math.max(...runs.map((x) => x.bytes / 1e6 / (x.ms / 1000))).toFixed(1)} MB/s` : ''
  for (const f of [...floors].sort((a, b) => a.name.localeCompare(b.name))) {
    const runs =
      f.name === 'packed write'
        ? r.baseline.runs.filter((x) => x.kind === 'packed')
        : r.floors.runs.filter((x) => x.stage === f.name)
    rows.push({
      goal: `  stage floor: ${f.name}${f.name === 'network' ? ` (${r.floors.peers} peers, ${r.floors.inFlightPerPeer} × ${r.floors.batch} in flight each)` : f.name === 'hashing' ? ` (keccak ${r.floors.keccak})` : ' (IdbNodeStore.write)'}`,
      figure: `${Number.isNaN(f.rate) ? 'nodes MISSED' : `${k(f.rate)}/s`}${mbps(runs)}${spread(runs.map(rateOf), k)}`,
      floor: '',
      ratio: `sync ${fmtRatio(rate3 / f.rate)}`,
      met: null,
    })
  }
  rows.push({
    goal: 'more peers never slower: 3 peers ≥ 1 peer',
    figure: `3: ${k(rate3)}/s, 1: ${k(rate1)}/s${spread(
      one.map((s) => s.rate),
      k,
    )}`,
    floor: '≥ 1×',
    ratio: fmtRatio(rate3 / rate1),
    met: one.length ? rate3 >= rate1 : null,
  })
  const nav = median(three.map((s) => s.navToSyncedMs))
  const at1M = r.accounts >= 1_000_000
  rows.push({
    goal: 'navigation → complete verified state, 3 peers',
    figure: `${fmtMs(nav)}${spread(
      three.map((s) => s.navToSyncedMs),
      fmtMs,
    )}`,
    floor: `≤ ${GOALS.sync1MSeconds} s at 1M`,
    ratio: at1M ? fmtRatio(nav / 1000 / GOALS.sync1MSeconds) : '',
    met: at1M ? nav / 1000 <= GOALS.sync1MSeconds : null,
  })
  const heap = Math.max(...r.syncs.map((s) => s.heap.peakUsedMB))
  const sampled = r.syncs.every((s) => s.heap.samples > 0)
  const perWorker = new Map<string, number>()
  for (const s of r.syncs)
    for (const [w, mb] of Object.entries(s.heap.perWorkerMB))
      perWorker.set(w, Math.max(perWorker.get(w) ?? 0, mb))
  rows.push({
    goal: 'worker heap, peak of the sum over every worker',
    figure: sampled
      ? `${heap.toFixed(0)} MB (${[...perWorker].map(([w, mb]) => `${w} ${mb.toFixed(0)}`).join(', ')})`
      : 'no samples',
    floor: `≤ ${GOALS.heapMB} MB`,
    ratio: fmtRatio(heap / GOALS.heapMB),
    met: sampled && heap <= GOALS.heapMB,
  })
  const lt = r.syncs.map((s) => s.longTasks)
  const over = Math.max(...lt.map((x) => x.over50DuringSync))
  rows.push({
    goal: `main-thread tasks over ${GOALS.longTaskMs} ms, load → synced`,
    figure: lt.every((x) => x.supported)
      ? `${lt.map((x) => x.over50DuringSync).join(' / ')} (longest ${Math.max(...lt.map((x) => x.maxDuringSyncMs)).toFixed(0)} ms)`
      : 'longtask entries unsupported',
    floor: 'none',
    ratio: '',
    met: lt.every((x) => x.supported) && over === 0,
  })
  return rows
}

export const metCell = (m: boolean | null): string => (m === null ? 'n/a' : m ? 'met' : 'NOT MET')
