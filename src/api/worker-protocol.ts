/**
 * The page ↔ sync-worker protocol: the one module both sides import (src/client and src/ui on the
 * page, src/worker in the worker, src/page for the WebRTC bridge), so neither depends on the other.
 * Everything here is structured-clone data.
 *
 * The worker forwards the light client's events (`LightEvent`, src/core/light/events.ts) unchanged
 * inside `{ type: 'event' }`: machine-readable fields carry the meaning, `detail` strings are for
 * display only. Long jobs are controlled by messages, not by terminating the worker: `start` runs
 * (or resumes) the light client's task, `stop` stops it cleanly (sync, follow and prune end at a
 * consistent point of the store; reads keep answering), `cancel` abandons one read.
 *
 * Security considerations: nothing the page sends is trusted for verification. The configuration
 * (`BootstrapInfo`) is the root of trust by design; every answer the worker sends back was verified
 * in the worker against a header verified from it. The bridge messages carry raw bytes the worker
 * decodes and verifies itself.
 */

import type {
  ConsistencyOptions,
  ConsistencyResult,
  EquivocationEvidence,
} from '../core/consistency/types.ts'
import type { BootstrapConfig as BootstrapInfo, PeerEntry as PeerInfo } from '../core/light/config.ts'
import type { HeaderView, LightEvent } from '../core/light/events.ts'
import type { VerifyRepairResult } from '../core/light/follow.ts'
import type { ProtocolName } from '../core/protocol/messages.ts'
import type { AttemptReport, RecoveryOptions, RecoveryReport, StrategyName } from '../core/recovery/types.ts'

export type {
  ConsistencyEvent,
  ConsistencyOptions,
  ConsistencyResult,
  Discrepancy,
  EquivocationEvidence,
  PeerCheck,
} from '../core/consistency/types.ts'
/**
 * What the client trusts and where it looks (the chain, a checkpoint with the validator set that
 * signs from it, the peers to try): the light client's one configuration type. The devnet writes one
 * as bootstrap.json; URL parameters and the settings form override it.
 */
export type {
  BootstrapConfig as BootstrapInfo,
  PeerEntry as PeerInfo,
} from '../core/light/config.ts'
export type { HeaderView, LightEvent, LightPhase } from '../core/light/events.ts'
/** What "Verify and repair" found (`damage`: damaged entries) and did (`report`: null, nothing to repair). */
export type { VerifyRepairResult } from '../core/light/follow.ts'
export type {
  AttemptReport,
  RecoveryCause,
  RecoveryReport,
  StrategyName,
} from '../core/recovery/types.ts'

export type Transport = 'websocket' | 'webrtc'

/** A peer as the peers table shows it; totals are over the whole session, not one sync round. */
export interface PeerView {
  id: string
  name: string
  transport: Transport
  addr: string
  state: 'connecting' | 'connected' | 'unreachable' | 'wrong-chain' | 'closed'
  /** Last status round trip, ms. */
  rttMs: number | null
  nodesServed: number
  bytesServed: number
  /** Timeouts, transport errors and missing nodes. */
  failures: number
  /** Replies that provably did not match what was asked (wrong hash): never stored. */
  bad: number
  /** 0–100: 100 for a peer that served everything asked, lower for each failure and bad reply. */
  score: number
  banned: string | null
  error: string | null
}

export interface AccountAnswer {
  address: string
  /** `null`: proven absent. */
  account: { balance: string; nonce: string; codeHash: string; storageRoot: string } | null
  /** Where the answer came from: the complete local state, or a Merkle proof from a peer. */
  source: 'local' | 'proof'
  /** Answered from the proof path cached on this device by an earlier read (verified again now). */
  cached?: boolean
  peer?: string
  /** The verified header whose state root the answer is proven against. */
  header: HeaderView
  /** Milliseconds the worker spent answering. */
  ms: number
}

export interface StorageAnswer {
  address: string
  slot: string
  /** The slot's value (32 bytes, hex); zero when the slot or the account is proven absent. */
  value: string
  source: 'local' | 'proof'
  cached?: boolean
  peer?: string
  header: HeaderView
  ms: number
}

/**
 * How this app recovers a damaged or incomplete state: the strategies in order (default: local
 * snapshot, peer state sync, block replay, network snapshot) and their options (e.g. `samplePaths`,
 * the start-up check's random paths; 0 turns it off).
 */
export interface RecoveryConfig {
  strategies?: StrategyName[]
  options?: Partial<RecoveryOptions>
}

/**
 * How this app checks its state against peers (core/consistency): the options (default: every 60 s,
 * 3 peers, 32 accounts, auto-repair on; `intervalMs` 0: only on "Check now"), addresses always
 * checked (`watch`, 0x… each), and `seed`, which makes the sampling repeatable — for tests only: a
 * sample peers can predict is one they can dodge.
 */
export interface ConsistencyConfig {
  options?: Partial<ConsistencyOptions>
  watch?: string[]
  seed?: string
}

export type ToWorker =
  /**
   * Opens the chain's database and runs the light client (checkpoint → headers → sync → follow →
   * prune). After `stop`, the same message resumes it. A worker serves one database: a `start`
   * naming another is refused with an `error` event (code WORKER_BOUND); use a new worker.
   */
  | {
      type: 'start'
      bootstrap: BootstrapInfo
      dbName: string
      recovery?: RecoveryConfig
      consistency?: ConsistencyConfig
    }
  /** Stops the light client's task; answered by a `phase: 'stopped'` event once it has stopped. */
  | { type: 'stop'; reason?: string }
  /**
   * Verified reads (answered by `account`, `storage`, `proof`, `code`, `block`, or `read-error`
   * with a code: see src/client/errors.ts `ReadErrorCode`). `block` (default `latest`): the
   * verified header to answer at.
   */
  | { type: 'getAccount'; id: number; address: string; block?: BlockTag }
  | { type: 'getStorage'; id: number; address: string; slot: string; block?: BlockTag }
  | { type: 'getProof'; id: number; address: string; slots: string[]; block?: BlockTag }
  | { type: 'getCode'; id: number; address: string; block?: BlockTag }
  /** A verified header: `latest`, a height, or a 0x block hash. */
  | { type: 'getBlock'; id: number; block: BlockTag | string }
  /** Abandons read `id`: it is answered with a `read-error` of code READ_CANCELLED. */
  | { type: 'cancel'; id: number }
  /** A peer whose connection the page owns (WebRTC): requests go over `port` (BridgeRequest). */
  | { type: 'add-peer'; peer: { peerId: string; name: string; addr: string }; port: MessagePort }
  | { type: 'peer-closed'; peerId: string }
  /** Try again after a failure the worker does not retry by itself (a full store). */
  | { type: 'retry' }
  /**
   * "Verify and repair": a full check of the stored state (`state-check` events, mode 'full'), then a
   * recovery if it is damaged or incomplete (`recovery-*` events, why 'user'). Answered by
   * `verify-repair-done` or `verify-repair-error`. One runs at a time: a request that arrives while
   * one runs joins it (both are answered with its result).
   */
  | { type: 'verify-repair'; id: number }
  /**
   * A consistency check now (`consistency-*` events while it runs; one runs at a time, a request
   * while one runs joins it): answered by `check-done`, or `read-error` (CONSISTENCY_NOT_READY: no
   * complete verified state yet).
   */
  | { type: 'check-now'; id: number }
  /** The stored check results, newest first: answered by `consistency-results`. */
  | { type: 'consistency-results'; id: number }
  /** The equivocation evidence on record that verifies: answered by `evidence`. */
  | { type: 'evidence'; id: number }
  /** Acknowledges evidence `evidence` (its id): answered by `acknowledged` (a `halt` event follows). */
  | { type: 'acknowledge-evidence'; id: number; evidence: string }

export type FromWorker =
  /** One of the light client's events, unchanged. */
  | { type: 'event'; event: LightEvent }
  /** The peers table (the worker's peer registry, whole-session totals). */
  | { type: 'peers'; peers: PeerView[] }
  | { type: 'account'; id: number; answer: AccountAnswer }
  | { type: 'storage'; id: number; answer: StorageAnswer }
  | { type: 'proof'; id: number; answer: ProofAnswer }
  | { type: 'code'; id: number; answer: CodeAnswer }
  | { type: 'block'; id: number; answer: BlockHeaderAnswer }
  /** A read, or a consistency request (check-now, results, evidence, acknowledge), failed. */
  | { type: 'read-error'; id: number; code: string; message: string }
  /**
   * The last recovery recorded in the store (META.recovery) when the worker opened it, or null: sent
   * once per `start` that opens the store, before any event of the light client. Later recoveries
   * arrive as `recovery-finished` events (their `report`).
   */
  | { type: 'last-recovery'; report: RecoveryReport | null }
  | ({ type: 'verify-repair-done'; id: number } & VerifyRepairResult)
  /**
   * The verify-and-repair failed: `attempts` (with code STATE_RECOVERY_FAILED) lists every strategy
   * tried and why it failed; other codes (NOT_STARTED, a failed check) carry none.
   */
  | { type: 'verify-repair-error'; id: number; code: string; message: string; attempts?: AttemptReport[] }
  | { type: 'check-done'; id: number; result: ConsistencyResult }
  | { type: 'consistency-results'; id: number; results: ConsistencyResult[] }
  | { type: 'evidence'; id: number; evidence: EquivocationEvidence[] }
  | { type: 'acknowledged'; id: number }
  /**
   * A start-up milestone, once each (the client turns it into a `rootsync:<name>` performance mark,
   * for bench:coldstart): `epochMs` is the worker's clock in ms since the Unix epoch.
   */
  | { type: 'timing'; name: WorkerMilestone; epochMs: number }

/** The worker's start-up milestones, in the order a cold start meets them. */
export type WorkerMilestone =
  | 'worker-start'
  | 'start-received'
  | 'libp2p-loaded'
  | 'node-created'
  | 'first-status'
  | 'head-verified'
  | 'answer'

/** Worker → page over a bridged peer's port. `cancel` aborts a request in flight. */
export type BridgeRequest = { id: number; name: ProtocolName; bytes: Uint8Array } | { cancel: number }

/** Page → worker: the reply bytes (transferred), or why there are none. */
export type BridgeReply =
  | { id: number; bytes: Uint8Array }
  | { id: number; reason: 'timeout' | 'stream' | 'dial' | 'aborted'; message: string }

/** What the page's WebRTC bridge reports about its dials. */
export interface BridgeEvent {
  peerId: string
  type: 'connected' | 'failed' | 'closed'
  message?: string
}

/**
 * The page's WebRTC bridge as the embeddable client uses it (src/page/webrtc-bridge.ts
 * `bridgeWebRtcPeers` is one): dial `peers` on the page and hand each to `worker` as an `add-peer`.
 */
export type WebRtcBridgeFn = (
  peers: PeerInfo[],
  worker: Pick<Worker, 'postMessage'>,
  opts: { allowLocal: boolean; onEvent?: (e: BridgeEvent) => void },
) => Promise<{ close(): Promise<void> }>

/**
 * Which verified header a read is answered at: `latest` (the newest verified head) or a height. A
 * height other than the head's is answered only where a header at it can be verified (linked by
 * parent hashes to a verified header) and a peer still serves that state; otherwise the read
 * rejects with BLOCK_UNAVAILABLE or STATE_UNAVAILABLE.
 */
export type BlockTag = 'latest' | number

/** A verified header, every field (hex strings 0x…; `number` and `timestamp` as numbers). */
export interface BlockHeaderAnswer {
  number: number
  hash: string
  parentHash: string
  stateRoot: string
  transactionsRoot: string
  /** Seconds since the Unix epoch, as the validators signed it. */
  timestamp: number
  validatorsHash: string
  nextValidatorsHash: string
  extraData: string
  /**
   * How it was verified: `head` (the verified head itself, by skipping verification from the
   * checkpoint) or `parent-hashes` (linked by parent hashes to a verified header).
   */
  verifiedBy: 'head' | 'parent-hashes'
}

/**
 * An account with its EIP-1186 proof, verified against `header.stateRoot`: the proof nodes (RLP,
 * hex, root first) are returned as verified, so the caller can verify them again independently.
 */
export interface ProofAnswer {
  address: string
  /** `null`: proven absent (the proof then proves the absence). */
  account: AccountAnswer['account']
  accountProof: string[]
  /** One per requested slot, in order: the key as given (32 bytes, hex), its value, its proof. */
  storage: { key: string; value: string; proof: string[] }[]
  source: 'local' | 'proof'
  cached?: boolean
  peer?: string
  header: HeaderView
  ms: number
}

/** An account's code (hex, `0x` for none), whose keccak256 equals the proven account's code hash. */
export interface CodeAnswer {
  address: string
  code: string
  codeHash: string
  source: 'local' | 'proof'
  peer?: string
  header: HeaderView
  ms: number
}
