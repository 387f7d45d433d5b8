/** The seams of the sync engine: peers it fetches from, the progress it reports. */
import { DEFAULT_SCHEDULER_CONFIG, type PeerStats, type SchedulerConfig } from '../peers/scheduler.ts'

/** A peer as the sync sees it. Transport (libp2p, in-process fakes for tests) lives behind this. */
export interface SyncPeer {
  readonly id: string
  /**
   * The nodes (or code) with these hashes, in order: empty bytes where the peer does not have one.
   * The reply may be shorter than the request (size limits); the rest were not served this time.
   */
  getNodes(hashes: Uint8Array[], signal: AbortSignal): Promise<Uint8Array[]>
}

/**
 * The scheduler's knobs (core/peers/scheduler.ts: request sizes, in-flight limits, bans, backoff,
 * rotation of always-empty peers, hedging) plus the sync's own.
 */
export interface SyncConfig extends SchedulerConfig {
  /** A request (or probe) not answered within this is settled as a timeout, abort honoured or not. */
  requestTimeoutMs: number
  /** Wanted hashes kept in memory before expansion slows down. */
  frontierCap: number
  /** Failed attempts (timeouts, errors) per hash before the sync gives up on it. */
  maxRetries: number
  /** No verified node for this long is reported as a stall. */
  stallMs: number
  /** How often, at most, progress events are emitted. */
  progressIntervalMs: number
  /** Unused since every round of replies is flushed on its own (kept for configuration compatibility). */
  flushOps: number
  /**
   * Ask the store whether children are already there (incremental sync, restarts). Default: only
   * when the store holds a completed or partly synced state; a fresh store skips the queries (an
   * identical subtree met twice is then downloaded twice, verified both times).
   */
  checkPresence?: boolean
}

export const DEFAULT_SYNC_CONFIG: SyncConfig = {
  ...DEFAULT_SCHEDULER_CONFIG,
  requestTimeoutMs: 10_000,
  frontierCap: 200_000,
  maxRetries: 8,
  stallMs: 15_000,
  progressIntervalMs: 250,
  flushOps: 4096,
}

export type { PeerStats, PeerSummary } from '../peers/scheduler.ts'

export interface SyncProgress {
  targetRoot: string
  targetHeight: number
  phase: 'probing' | 'syncing' | 'done'
  nodesProcessed: number
  /** Nodes skipped because the store already had their subtree (incremental sync, restarts). */
  nodesSkipped: number
  /** Estimated nodes still to fetch (from the share of the account key space completed). */
  nodesRemaining: number
  bytesDownloaded: number
  nodesPerSecond: number
  bytesPerSecond: number
  /** 0–100, from the share of the account trie's key space that is complete. */
  percent: number
  etaSeconds: number | null
  elapsedMs: number
  frontier: number
  inFlight: number
  /** Nodes received and stored aside, waiting for their children. */
  staged: number
  peers: PeerStats[]
}

export type SyncEvent =
  | { type: 'progress'; progress: SyncProgress }
  | { type: 'stall'; sinceMs: number; progress: SyncProgress; reason: string }
  | { type: 'peer-banned'; peer: string; reason: string }
  /** A peer (probed at the start or offered mid-sync) that does not have the target state. */
  | { type: 'peer-refused'; peer: string; reason: string }
  /** A peer proved it has the target root (or came back under the same id) and gets work. */
  | { type: 'peer-joined'; peer: string; rejoined: boolean }
  /** A peer's connection went away: no more work for it unless it rejoins. */
  | { type: 'peer-left'; peer: string }
  /** A peer rotated out (it answered empty to everything it was asked). */
  | { type: 'peer-dropped'; peer: string; reason: string }
  | { type: 'done'; progress: SyncProgress }
