/**
 * The light client's events: one union for everything its long jobs report (connecting, header
 * verification, state sync, follow, prune, verify, recovery, consistency checks), which the worker
 * forwards to the page unchanged and the CLI prints. Machine-readable fields carry the meaning; `detail` strings are for people only.
 */
import type { ConsistencyEvent } from '../consistency/types.ts'
import type { RecoveryEvent } from '../recovery/types.ts'
import type { SyncEvent } from '../sync/types.ts'

export interface HeaderView {
  number: number
  hash: string
  stateRoot: string
}

export type LightPhase =
  | 'starting'
  | 'connecting'
  | 'verifying-headers'
  | 'syncing'
  | 'synced'
  | 'pruning'
  | 'offline'
  /** The stored state met a missing or corrupt node: reads go by proof until it is repaired. */
  | 'needs-repair'
  /** A recovery is restoring the state (reads keep working, by proof). */
  | 'recovering'
  | 'failed'
  | 'stopped'

export type LightEvent =
  /** The driver moved to another phase; `detail` is for display only. */
  | { type: 'phase'; phase: LightPhase; detail?: string }
  /** The newest verified header; `fromStore` when it was verified in an earlier session. */
  | { type: 'header'; header: HeaderView; fromStore: boolean; peersHead: number }
  /**
   * The head stored by an earlier session was not trusted again (its signatures or hash do not
   * verify against the configured checkpoint, or it does not decode): trust restarts from the
   * checkpoint. `code` is the verification error's code.
   */
  | { type: 'stored-head-ignored'; code: string; reason: string }
  /**
   * Trust moved from header `from` to `to` (skipping verification): `fetched` light blocks asked
   * of peers, `signatures` recovered, `bisections` made; `source` 'store' for a warm start's
   * re-check of the stored trust path (nothing fetched).
   */
  | {
      type: 'trust'
      from: number
      to: number
      fetched: number
      signatures: number
      bisections: number
      ms: number
      source: 'network' | 'store'
    }
  /** The target's state is no longer served (the peers pruned it): the run moves to the newer head. */
  | { type: 'target-moved'; from: number; reason: string }
  /** A sync started on a store that already held nodes from an earlier session. */
  | { type: 'resumed'; storedNodes: number; stagedNodes: number }
  /** The state engine's own events (progress, stall, peer-banned, peer-refused, done), unchanged. */
  | SyncEvent
  /**
   * A check of the stored state (`sampled` after a warm start's first answer, `full` on "Verify and
   * repair"): running (`done` false, with the count so far) or finished, with every damaged entry found.
   */
  | {
      type: 'state-check'
      mode: 'sampled' | 'full'
      root: string
      nodes: number
      done: boolean
      damage: { problem: 'missing' | 'corrupt' | 'undecodable'; hash: string; path: string }[]
    }
  /** The recovery manager's events (started, each attempt, progress, finished), unchanged. */
  | RecoveryEvent
  /** The consistency checks' events (started, progress, finished, equivocation), unchanged. */
  | ConsistencyEvent
  /**
   * Reads from `height` on are halted by unacknowledged equivocation evidence (`evidence`: its id),
   * or (both null) no longer halted. Sent when the halt starts, changes or ends.
   */
  | { type: 'halt'; height: number | null; evidence: string | null }
  /**
   * Stored equivocation evidence did not verify again (tampered with, or another chain's): it is
   * ignored and halts nothing. `code` is the verification error's code.
   */
  | { type: 'evidence-ignored'; id: string; code: string; reason: string }
  /** The state under `root` is complete in the store. */
  | { type: 'synced'; root: string; height: number; nodes: number; skipped: number; ms: number }
  | { type: 'store'; nodes: number; bytes: number; staged: number }
  /** Nodes of older states dropped from the store (kept: the live state's nodes). */
  | { type: 'pruned'; dropped: number; kept: number }
  /** No peer reachable; answering from the stored state at `answeringFrom` (block) if there is one. */
  | { type: 'offline'; retryInMs: number; answeringFrom: number | null }
  /** The local state met a missing or corrupt node: it is no longer trusted complete. */
  | { type: 'repair-needed'; reason: string; hash: string | null }
  /** A peer was charged or banned by the driver (headers that do not verify, a head it cannot back). */
  | { type: 'peer-charged'; peer: string; kind: 'failure' | 'bad' | 'banned'; reason: string }
  /** A failure; `retryInMs` null when the driver waits for `retry()` (a full store). */
  | { type: 'error'; code: string; message: string; retryInMs: number | null }
