/**
 * The sync's progress: counts, a rate from recent samples, percent and ETA from the share of the
 * account trie's key space that is complete, and stall detection (no verified node for `stallMs`).
 * Time comes from the clock port, so a stall is a decision tested by advancing a fake clock.
 *
 * Percent is a share of key space, not of nodes: every subtree completed or skipped closes 16^-depth
 * of it, so the estimate needs no total the peers could lie about.
 */
import type { Clock } from '../clock.ts'
import type { PeerStats, SyncProgress } from './types.ts'

/** 16 ** -d for the depths the account trie has, computed once. */
const POW16 = Array.from({ length: 80 }, (_, d) => 16 ** -d)
export const pow16 = (d: number): number => (d < 80 ? POW16[d]! : 16 ** -d)

/** What the meter reads from the rest of the run when it builds a progress report. */
export interface ProgressSource {
  frontier(): number
  inFlight(): number
  staged(): number
  peers(): PeerStats[]
}

interface Sample {
  t: number
  n: number
  b: number
}

export class ProgressMeter {
  /** Share of the account trie's key space complete (0–1). */
  coverage = 0
  processed = 0
  skipped = 0
  bytes = 0
  maxFrontier = 0
  readonly startedAt: number
  /** Last time a verified node arrived (or a stored subtree was found). */
  private lastProgressAt: number
  private lastEventAt = Number.NEGATIVE_INFINITY
  private lastStallAt = Number.NEGATIVE_INFINITY
  private samples: Sample[] = []

  constructor(
    private readonly clock: Clock,
    private readonly rootKey: string,
    private readonly height: number,
    private readonly src: ProgressSource,
  ) {
    this.startedAt = clock.now()
    this.lastProgressAt = this.startedAt
  }

  /** Verified nodes arrived. */
  received(n: number, bytes: number): void {
    this.processed += n
    this.bytes += bytes
    this.lastProgressAt = this.clock.now()
  }

  /** A subtree found already stored; `share` of the key space it closes. */
  skip(share: number): void {
    this.skipped++
    this.coverage += share
    this.lastProgressAt = this.clock.now()
  }

  /** A progress report is due (at most every `intervalMs`): records a rate sample. */
  due(intervalMs: number): boolean {
    const now = this.clock.now()
    if (now - this.lastEventAt < intervalMs) return false
    this.lastEventAt = now
    this.samples.push({ t: now, n: this.processed, b: this.bytes })
    while (this.samples.length > 2 && now - this.samples[0]!.t > 5000) this.samples.shift()
    return true
  }

  /** Milliseconds without progress, when a stall is to be reported now (at most every `stallMs`). */
  stalled(stallMs: number): number | null {
    const now = this.clock.now()
    const idle = now - this.lastProgressAt
    if (idle < stallMs || now - this.lastStallAt < stallMs) return null
    this.lastStallAt = now
    return idle
  }

  elapsed(): number {
    return this.clock.now() - this.startedAt
  }

  report(phase: SyncProgress['phase']): SyncProgress {
    const elapsed = this.elapsed()
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    const sampled = first !== undefined && last !== undefined && last.t > first.t
    const span = sampled ? (last.t - first.t) / 1000 : Math.max(elapsed / 1000, 0.001)
    const rate = sampled ? (last.n - first.n) / span : this.processed / span
    const brate = sampled ? (last.b - first.b) / span : this.bytes / span
    const done = phase === 'done'
    const coverage = done ? 1 : Math.min(this.coverage, 0.9999)
    const estTotal = coverage > 0.001 ? this.processed / coverage : 0
    const frontier = this.src.frontier()
    const inFlight = this.src.inFlight()
    const remaining = done ? 0 : Math.max(frontier + inFlight, Math.round(estTotal - this.processed))
    return {
      targetRoot: this.rootKey,
      targetHeight: this.height,
      phase,
      nodesProcessed: this.processed,
      nodesSkipped: this.skipped,
      nodesRemaining: remaining,
      bytesDownloaded: this.bytes,
      nodesPerSecond: rate,
      bytesPerSecond: brate,
      percent: coverage * 100,
      etaSeconds: done ? 0 : rate > 0 && coverage > 0.001 ? remaining / rate : null,
      elapsedMs: elapsed,
      frontier,
      inFlight,
      staged: this.src.staged(),
      peers: this.src.peers(),
    }
  }
}
