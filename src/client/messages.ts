/** Messages between the page (UI, embedding wallet) and the sync worker. */
import type { SyncProgress } from '../core/sync/types.ts'

export interface BootstrapInfo {
  chainId: number
  genesisHash: string
  checkpoint: { number: number; hash: string }
  validators: string[]
  peers: { name: string; peerId: string; addrs: string[] }[]
}

export type ToWorker =
  | { type: 'start'; bootstrap: BootstrapInfo }
  | { type: 'getAccount'; id: number; address: string }

export interface AccountAnswer {
  address: string
  /** `null`: proven absent. */
  account: { balance: string; nonce: string; codeHash: string; storageRoot: string } | null
  /** Where the answer came from: the complete local state, or a Merkle proof from a peer. */
  source: 'local' | 'proof'
  peer?: string
  /** The verified header whose state root the answer is proven against. */
  header: { number: number; hash: string; stateRoot: string }
}

export type FromWorker =
  | { type: 'status'; phase: 'connecting' | 'verifying-headers' | 'syncing' | 'synced'; detail: string }
  | { type: 'header'; number: number; hash: string; stateRoot: string }
  | { type: 'progress'; progress: SyncProgress }
  | { type: 'synced'; root: string; height: number; nodes: number; seconds: number }
  | { type: 'error'; code: string; message: string }
  | { type: 'account'; id: number; answer: AccountAnswer }
  | { type: 'account-error'; id: number; message: string }
