/** The seams of the sync engine: peers it fetches from, the progress it reports. */

/** A peer as the sync sees it. Transport (libp2p, in-process fakes for tests) lives behind this. */
export interface SyncPeer {
  readonly id: string
  /**
   * The nodes (or code) with these hashes, in order: empty bytes where the peer does not have one.
   * The reply may be shorter than the request (size limits); the rest were not served this time.
   */
  getNodes(hashes: Uint8Array[], signal: AbortSignal): Promise<Uint8Array[]>
}

export interface SyncConfig {
  /** Requests in flight per peer. */
  maxInFlightPerPeer: number
  /** Request size bounds (hashes per request); the server's cap is the upper bound. */
  minBatch: number
  maxBatch: number
  initialBatch: number
  /** Round trip a request is sized for, from the peer's measured rate (geth msgrate). */
  targetRttMs: number
  requestTimeoutMs: number
  /** Wanted hashes kept in memory before expansion slows down. */
  frontierCap: number
  /** Provably bad replies before a peer is banned. */
  banThreshold: number
  /** Failed attempts (timeouts, errors) per hash before the sync gives up on it. */
  maxRetries: number
  /** No progress for this long is reported as a stall. */
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
  maxInFlightPerPeer: 3,
  minBatch: 16,
  maxBatch: 1024,
  initialBatch: 128,
  targetRttMs: 300,
  requestTimeoutMs: 10_000,
  frontierCap: 200_000,
  banThreshold: 3,
  maxRetries: 8,
  stallMs: 15_000,
  progressIntervalMs: 250,
  flushOps: 4096,
}

export interface PeerStats {
  id: string
  requests: number
  inFlight: number
  /** Nodes delivered that verified. */
  delivered: number
  bytes: number
  /** Hashes it said it does not have. */
  missing: number
  /** Provably bad items (wrong hash). */
  bad: number
  timeouts: number
  errors: number
  /** Useful items per second (moving average). */
  rate: number
  rttMs: number
  batch: number
  banned: string | null
}

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
  /** A peer offered mid-sync that does not have the target state. */
  | { type: 'peer-refused'; peer: string; reason: string }
  | { type: 'done'; progress: SyncProgress }
