/**
 * The peer scheduler's vocabulary (scheduler.ts): its configuration, a peer's stats and standing,
 * the outcomes a request reports, and the summary a run gives of every peer it saw.
 */

export interface SchedulerConfig {
  /** Requests in flight per peer. */
  maxInFlightPerPeer: number
  /** Request size bounds (items per request). */
  minBatch: number
  maxBatch: number
  initialBatch: number
  /** Round trip a request is sized for, from the peer's measured rate (geth msgrate). */
  targetRttMs: number
  /** Provably bad items before a peer is banned. */
  banThreshold: number
  /** Consecutive all-empty replies after which a peer is rotated out. */
  emptyThreshold: number
  /** Backoff after the n-th consecutive failure: min(backoffMaxMs, backoffBaseMs × 2^n). */
  backoffBaseMs: number
  backoffMaxMs: number
  /**
   * A request outstanding longer than max(hedgeFactor × the peer's reply RTT, hedgeFloorMs) is
   * overdue (before its first reply, hedgeFactor × hedgeFloorMs).
   */
  hedgeFactor: number
  hedgeFloorMs: number
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = {
  maxInFlightPerPeer: 3,
  minBatch: 16,
  maxBatch: 1024,
  initialBatch: 128,
  targetRttMs: 300,
  banThreshold: 3,
  emptyThreshold: 6,
  backoffBaseMs: 100,
  backoffMaxMs: 5000,
  hedgeFactor: 4,
  hedgeFloorMs: 400,
}

export interface PeerStats {
  id: string
  requests: number
  inFlight: number
  /** Items delivered that verified. */
  delivered: number
  bytes: number
  /** Items it said it does not have. */
  missing: number
  /** Provably bad items. */
  bad: number
  timeouts: number
  errors: number
  /** Useful items per second (moving average). */
  rate: number
  rttMs: number
  /** Current request size. */
  batch: number
  banned: string | null
}

/** What became of a peer in a run: worked with, refused before it joined, banned, rotated out, gone. */
export type PeerOutcome = 'used' | 'refused' | 'banned' | 'dropped' | 'left'

/** Why a peer was refused before it joined (the probe for what the run needs). */
export type RefusalKind = 'wrong-root' | 'empty' | 'timeout' | 'error'

export interface PeerSummary {
  id: string
  outcome: PeerOutcome
  /** Why (refused, banned, dropped); null for a peer used to the end. */
  reason: string | null
  refusal: RefusalKind | null
  stats: PeerStats
}

/** One part of a request's result. A reply is settled with its useful, lacking and bad counts. */
export type Outcome =
  | { kind: 'useful'; items: number; bytes: number }
  | { kind: 'lacking'; items: number }
  /** `reason` completes "sent N item(s) that …" (e.g. "do not match the requested hash"). */
  | { kind: 'bad'; items: number; reason?: string }
  | { kind: 'timeout' }
  | { kind: 'error'; error?: unknown }
  | { kind: 'aborted' }

export interface PeerRequest<P> {
  readonly peer: P
  readonly id: string
  /** Items the scheduler would have this request carry. */
  readonly size: number
  readonly startedAt: number
  /** When the request is overdue: ask another peer too. */
  readonly hedgeAt: number
}

/** A change in a peer's standing that the caller reports (events, logs). */
export interface PeerChange {
  type: 'banned' | 'dropped'
  id: string
  reason: string
}

export interface ScheduledPeer<P> {
  readonly id: string
  readonly peer: P
  readonly stats: PeerStats
}

/** A peer's standing now: working, gone for now, banned, rotated out, or refused before it joined. */
export type PeerStanding = 'active' | 'left' | 'banned' | 'dropped' | 'refused'

export type JoinResult = 'joined' | 'rejoined' | 'present' | 'banned' | 'dropped'

export function newStats(id: string, batch: number): PeerStats {
  return {
    id,
    requests: 0,
    inFlight: 0,
    delivered: 0,
    bytes: 0,
    missing: 0,
    bad: 0,
    timeouts: 0,
    errors: 0,
    rate: 0,
    rttMs: 0,
    batch,
    banned: null,
  }
}
