/** Typed errors of the state sync: each names what failed and why, so a person can act on it. */
import { RootsyncError } from '../errors.ts'
import type { PeerSummary } from '../peers/scheduler.ts'
import { TaskStoppedError } from '../task.ts'

export interface PeerReason {
  peer: string
  reason: string
}

/**
 * No peer could serve the target root (none reachable, none with that state). `summary`: every peer
 * the run saw, with its outcome (as in a successful run's result).
 */
export class NoPeersWithTargetState extends RootsyncError {
  constructor(
    readonly root: string,
    readonly reasons: PeerReason[],
    readonly summary: PeerSummary[] = [],
  ) {
    super(
      'NO_PEERS_WITH_TARGET_STATE',
      `no peer serves state root ${root}${reasons.length ? `: ${reasons.map((r) => `${r.peer}: ${r.reason}`).join('; ')}` : ' (no peers given)'}`,
      { root, reasons },
    )
    this.name = 'NoPeersWithTargetState'
  }
}

/** Some nodes could not be fetched from any peer. `summary`: every peer the run saw, with its outcome. */
export class FailedToFetchStateNodes extends RootsyncError {
  constructor(
    readonly hashes: string[],
    readonly reasons: PeerReason[],
    readonly summary: PeerSummary[] = [],
  ) {
    super(
      'FAILED_TO_FETCH_STATE_NODES',
      `could not fetch ${hashes.length} state node(s) (first ${hashes[0]}) from any peer: ${reasons.map((r) => `${r.peer}: ${r.reason}`).join('; ')}`,
      { hashes, reasons },
    )
    this.name = 'FailedToFetchStateNodes'
  }
}

/** A node that hashes correctly but is not a valid trie node: the target state itself is invalid. */
export class InvalidStateError extends RootsyncError {
  constructor(hash: string, why: string) {
    super(
      'INVALID_STATE',
      `state node ${hash} is authentic but malformed (${why}); the target root is unusable`,
      { hash },
    )
    this.name = 'InvalidStateError'
  }
}

/** The sync was stopped (its task's `stop()` or the caller's signal); what was verified stays stored. */
export class SyncAbortedError extends TaskStoppedError {
  constructor(reason?: string) {
    super('sync', reason)
    this.name = 'SyncAbortedError'
  }
}
