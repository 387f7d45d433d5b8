/**
 * Messages between the page (UI, or a wallet embedding rootsync) and the sync worker, and between
 * the page's WebRTC bridge and the worker. Everything here is structured-clone data.
 */
import type { ProtocolName } from '../core/protocol/messages.ts'
import type { SyncProgress } from '../core/sync/types.ts'

export interface PeerInfo {
  name: string
  peerId: string
  addrs: string[]
}

/**
 * What the client trusts and where it looks: the chain, a checkpoint (the genesis header or a later
 * header hash) with the validator set that signs from it, and the peers to try. The devnet writes one
 * as bootstrap.json; URL parameters and the settings form override it.
 */
export interface BootstrapInfo {
  chainId: number
  genesisHash: string
  checkpoint: { number: number; hash: string }
  validators: string[]
  peers: PeerInfo[]
}

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

export interface HeaderView {
  number: number
  hash: string
  stateRoot: string
}

export type ToWorker =
  | { type: 'start'; bootstrap: BootstrapInfo; dbName: string }
  | { type: 'getAccount'; id: number; address: string }
  | { type: 'getStorage'; id: number; address: string; slot: string }
  /** A peer whose connection the page owns (WebRTC): requests go over `port` (BridgeRequest). */
  | { type: 'add-peer'; peer: { peerId: string; name: string; addr: string }; port: MessagePort }
  | { type: 'peer-closed'; peerId: string }
  /** Try again after a failure the worker does not retry by itself (a full store). */
  | { type: 'retry' }

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

export type Phase =
  | 'starting'
  | 'connecting'
  | 'verifying-headers'
  | 'syncing'
  | 'synced'
  | 'offline'
  | 'failed'

export type FromWorker =
  | { type: 'status'; phase: Phase; detail: string }
  /** The newest verified header; `fromStore` when it was verified in an earlier visit. */
  | { type: 'header'; header: HeaderView; fromStore?: boolean; peersHead?: number }
  | { type: 'progress'; progress: SyncProgress }
  /** The sync started on a store that already held nodes from an earlier visit. */
  | { type: 'resumed'; storedNodes: number; stagedNodes: number }
  | { type: 'synced'; root: string; height: number; nodes: number; skipped: number; seconds: number }
  | { type: 'peers'; peers: PeerView[] }
  | { type: 'store'; nodes: number; bytes: number }
  /** Nodes of older states dropped from the store (kept: the live state's nodes). */
  | { type: 'pruned'; dropped: number; kept: number }
  | { type: 'error'; code: string; message: string }
  | { type: 'account'; id: number; answer: AccountAnswer }
  | { type: 'storage'; id: number; answer: StorageAnswer }
  | { type: 'read-error'; id: number; code: string; message: string }

/** Worker → page over a bridged peer's port. `cancel` aborts a request in flight. */
export type BridgeRequest = { id: number; name: ProtocolName; bytes: Uint8Array } | { cancel: number }

/** Page → worker: the reply bytes (transferred), or why there are none. */
export type BridgeReply =
  | { id: number; bytes: Uint8Array }
  | { id: number; reason: 'timeout' | 'stream' | 'dial' | 'aborted'; message: string }
