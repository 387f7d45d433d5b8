/**
 * State recovery (seed §7.2): when the local state is incomplete or damaged, restore a complete,
 * verified state at a verified target header by trying strategies in order — local snapshot, peer
 * state sync, block replay, network snapshot — each a small module of the same shape.
 *
 * This file holds the shapes every part shares: strategy names, the per-attempt report, the events,
 * the context a strategy runs in, and the typed failures.
 *
 * Security considerations:
 * - The target is a header the light client verified (quorum signatures from the checkpoint); a
 *   strategy never decides what is true, it only produces nodes that hash to what the target's state
 *   root commits to, or blocks that link by hash to it.
 * - A strategy must check that it can apply (`NotApplicableError`) before it changes anything.
 * - Only the manager marks a state complete, after verifying it, in one atomic write with the record
 *   of the recovery; a strategy that fails leaves the store consistent (it may leave verified nodes and
 *   its own resumable progress, never a completion marker).
 */
import type { TrustedHeader } from '../chain/header.ts'
import type { Clock } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import type { LightPeer } from '../light/peers.ts'
import type { StateStore } from '../store.ts'
import type { SyncConfig } from '../sync/types.ts'

export const STRATEGY_NAMES = ['local', 'peer', 'replay', 'snapshot'] as const
export type StrategyName = (typeof STRATEGY_NAMES)[number]
/** The seed's order: local snapshot, peer state sync, block replay, network snapshot. */
export const DEFAULT_STRATEGIES: readonly StrategyName[] = STRATEGY_NAMES

/** Why a recovery ran (shown in the UI's Recovery panel and in the CLI's report). */
export type RecoveryCause =
  /** The sampled check of the stored state after the first answer of a session failed. */
  | 'startup-check'
  /** A read met a missing or corrupt node. */
  | 'read-damage'
  /** The store carried the repair flag (an earlier session or a failed compaction set it). */
  | 'repair-flag'
  /** The consistency check found the local state wrong. */
  | 'consistency'
  /** The user asked ("Verify and repair"). */
  | 'user'
  /** `rootsync recover`. */
  | 'cli'

export type AttemptOutcome = 'recovered' | 'not-applicable' | 'failed'

/** What a strategy moved; every strategy counts what it can (zeros otherwise). */
export interface RecoveryCounters {
  /** Bytes downloaded from peers. */
  bytes: number
  /** Trie nodes and code blobs written (or checked, for a local snapshot that needed nothing). */
  nodes: number
  /** Blocks applied. */
  blocks: number
}

export interface AttemptReport extends RecoveryCounters {
  strategy: StrategyName
  outcome: AttemptOutcome
  /** Null when recovered; the typed reason otherwise (`code` is machine-readable). */
  reason: { code: string; message: string } | null
  ms: number
}

export interface TargetView {
  height: number
  root: string
  hash: string
}

/** One recovery, as stored (META.recovery) and shown. */
export interface RecoveryReport {
  /** Clock time (ms) when it started. */
  at: number
  why: RecoveryCause
  target: TargetView
  /** The strategy that restored the state, or null if every one failed. */
  strategy: StrategyName | null
  attempts: AttemptReport[]
}

export type RecoveryEvent =
  | { type: 'recovery-started'; why: RecoveryCause; target: TargetView; strategies: StrategyName[] }
  | { type: 'recovery-attempt-started'; strategy: StrategyName }
  /** Live progress of the running attempt; `phase` is for display (e.g. 'checking', 'replaying'). */
  | ({ type: 'recovery-progress'; strategy: StrategyName; phase: string } & RecoveryCounters)
  | { type: 'recovery-attempt'; attempt: AttemptReport }
  /** The recovery ended: `report.strategy` null means every attempt failed. */
  | { type: 'recovery-finished'; report: RecoveryReport }

/** Where a strategy runs: the verified target, the ports, and how it reports. */
export interface StrategyContext {
  target: TrustedHeader
  chainId: number
  store: StateStore
  clock: Clock
  /** Peers to fetch from (the light client's peer list at the time the attempt starts). */
  peers: () => LightPeer[]
  signal: AbortSignal
  /** The attempt's running counters: the strategy adds to them as it goes. */
  counters: RecoveryCounters
  /** Reports progress (rate-limited by the manager). */
  progress(phase: string): void
  /** A peer proved wrong (a bad chunk, a block not matching the chain): charged and reported. */
  charge(peer: string, reason: string): void
  options: RecoveryOptions
}

export interface RecoveryOptions {
  /** Complete verified states kept as local snapshots (besides the newest). */
  keepSnapshots: number
  /** How a local snapshot is checked before use: sampled paths, or a full walk. */
  snapshotCheck: 'sampled' | 'full'
  /** Random paths of a sampled check. */
  samplePaths: number
  /** How the manager verifies the recovered state before marking it complete. */
  finalCheck: 'sampled' | 'full'
  /** Most blocks a replay applies (more is not applicable: use another strategy). */
  maxReplayBlocks: number
  /** Deadline of each peer request. */
  requestTimeoutMs: number
  /** The genesis file's content (JSON), when the app's config or the CLI's bootstrap dir carries it. */
  genesis?: unknown
  sync?: Partial<SyncConfig>
}

export const DEFAULT_RECOVERY_OPTIONS: RecoveryOptions = {
  keepSnapshots: 2,
  snapshotCheck: 'sampled',
  samplePaths: 64,
  finalCheck: 'full',
  maxReplayBlocks: 10_000,
  requestTimeoutMs: 10_000,
}

/** One way to restore the state. `run` throws `NotApplicableError` before changing anything if it cannot apply. */
export interface RecoveryStrategy {
  name: StrategyName
  /** Leaves the state under `ctx.target`'s root complete in the store (verified nodes only), or throws. */
  run(ctx: StrategyContext): Promise<void>
}

/** The strategy does not apply here (no snapshot, no genesis, blocks not available…): `code` says why. */
export class NotApplicableError extends RootsyncError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
    this.name = 'NotApplicableError'
  }
}

/** Every strategy failed or did not apply: the attempts, each with its reason. The store is as it was. */
export class StateRecoveryFailed extends RootsyncError {
  constructor(readonly attempts: AttemptReport[]) {
    super(
      'STATE_RECOVERY_FAILED',
      `state recovery failed: ${
        attempts
          .map(
            (a) => `${a.strategy} ${a.outcome}${a.reason ? ` (${a.reason.code}: ${a.reason.message})` : ''}`,
          )
          .join('; ') || 'no strategy configured'
      }`,
      { attempts },
    )
    this.name = 'StateRecoveryFailed'
  }
}

/** Parses "local,peer,replay,snapshot" (CLI flag, app config): known names, no repeats, at least one. */
export function parseStrategies(text: string): StrategyName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (!names.length)
    throw new RootsyncError(
      'BAD_STRATEGIES',
      `no recovery strategy given; choose from ${STRATEGY_NAMES.join(', ')}`,
    )
  const out: StrategyName[] = []
  for (const n of names) {
    if (!(STRATEGY_NAMES as readonly string[]).includes(n))
      throw new RootsyncError(
        'BAD_STRATEGIES',
        `unknown recovery strategy '${n}'; choose from ${STRATEGY_NAMES.join(', ')}`,
      )
    if (out.includes(n as StrategyName))
      throw new RootsyncError('BAD_STRATEGIES', `recovery strategy '${n}' is listed twice`)
    out.push(n as StrategyName)
  }
  return out
}
