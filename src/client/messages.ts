/** Messages between the page (UI, embedding wallet) and the sync worker. */
import type { SyncProgress } from '../core/sync/types.ts'

export interface BootstrapInfo {
  chainId: number
  genesisHash: string
  checkpoint: { number: number; hash: string }
  validators: string[]
  peers: { name: string; peerId: string; addrs: string[] }[]
}

export type ToWorker = { type: 'start'; bootstrap: BootstrapInfo }

export type FromWorker =
  | { type: 'status'; phase: 'connecting' | 'verifying-headers' | 'syncing' | 'synced'; detail: string }
  | { type: 'header'; number: number; hash: string; stateRoot: string }
  | { type: 'progress'; progress: SyncProgress }
  | { type: 'synced'; root: string; height: number; nodes: number; seconds: number }
  | { type: 'error'; code: string; message: string }
