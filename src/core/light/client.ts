/**
 * The following light client's contract (follow.ts implements it): what it needs (`LightClientDeps`)
 * and the handle the worker drives (`LightClient`): the head reads use, the local state when it is
 * complete, repair, recovery and consistency checks. Kept apart from the driver so the worker, the
 * page protocol and tests read the contract without the machinery.
 */
import type { Header } from '../chain/header.ts'
import type { ConsistencyResult, EquivocationEvidence } from '../consistency/types.ts'
import type { RecoveryReport } from '../recovery/types.ts'
import type { StateStore } from '../store.ts'
import type { Task } from '../task.ts'
import type { ConsistencySettings } from './consistency-care.ts'
import type { HeaderView } from './events.ts'
import type { SessionDeps } from './session.ts'
import type { StateCareDeps } from './state-care.ts'
import type { LightPeerSummary } from './summary.ts'
import type { RepairRecord } from './trust.ts'

export interface LightClientDeps extends SessionDeps {
  store: StateStore
  /** Recovery: the strategies in order (default: local, peer, replay, snapshot) and their options. */
  recovery?: StateCareDeps['recovery']
  /**
   * Consistency checks: with this, one runs every `options.intervalMs` (default 60 s; 0: only on
   * request); without it, only on request (`checkConsistency`), with the default options.
   */
  consistency?: ConsistencySettings
}

export interface VerifyRepairResult {
  /** Damaged entries the full check found (0: the state was sound). */
  damage: number
  /** The recovery that repaired it (null: nothing needed repairing). */
  report: RecoveryReport | null
}

export interface LightClient {
  /** Runs until stopped (rejects with `TaskStoppedError` then). */
  readonly task: Task<never>
  /**
   * The head reads use: waits (up to `headWaitMs`) for the peers' head, or a stored one. Rejects with
   * `EquivocationHaltError` (EQUIVOCATION_HALT) while unacknowledged evidence halts reads at its height.
   * `full`: every field of that verified header (block reads answer it, and link older headers to it).
   */
  head(): Promise<HeaderView & { root: Uint8Array; full: Header }>
  /**
   * The store, if the state under `root` is complete in it (and not flagged for repair). Throws
   * `EquivocationHaltError` while reads at the head's height are halted.
   */
  localState(root: Uint8Array): StateStore | null
  /**
   * Wakes a run waiting after a failure it does not retry by itself (a full store, an expired
   * checkpoint, validators that are not the checkpoint's).
   */
  retry(): void
  /** Flags the stored state as damaged (a read met a missing or corrupt node); idempotent. */
  markRepair(r: RepairRecord): Promise<void>
  /** Every peer seen this session, with what it did. */
  peers(): LightPeerSummary[]
  /**
   * Walks the whole stored state (events `state-check`, mode 'full') and, if it is damaged or
   * incomplete at the verified head, recovers it (why 'user'). Rejects with `StateRecoveryFailed` when
   * every strategy failed.
   */
  verifyAndRepair(): Promise<VerifyRepairResult>
  /** The last recovery (this session's, or the one stored by an earlier session). */
  lastRecovery(): RecoveryReport | null
  /**
   * A consistency check of the verified head's complete state now (joins one that runs); rejects
   * with CONSISTENCY_NOT_READY when there is none yet. The result is stored and also announced
   * (`consistency-finished`).
   */
  checkConsistency(): Promise<ConsistencyResult>
  /** The stored check results, newest first (the last `RESULTS_KEPT`). */
  consistencyResults(): Promise<ConsistencyResult[]>
  /** The equivocation evidence on record that verifies (acknowledged or not). */
  evidence(): Promise<EquivocationEvidence[]>
  /** Acknowledges evidence `id` (stored): reads resume unless other evidence halts them. */
  acknowledgeEvidence(id: string): Promise<void>
}
