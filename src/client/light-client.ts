/**
 * The embeddable light client: the library's one entry point for a page (`createLightClient`).
 * It runs the sync in a worker (one per origin where the browser allows: see `sharing`) and answers
 * reads verified against a header the worker verified from the configured checkpoint.
 *
 *   const lc = createLightClient({ bootstrap: '/bootstrap.json' })
 *   await lc.start()
 *   lc.subscribe((e) => …)                              // progress, header, phase… (ClientEvent)
 *   const a = await lc.getAccount('0x…', { signal })    // a.header: what it is proven against
 *   const p = await lc.getProof('0x…', ['0x0'])         // EIP-1186 nodes, verified
 *   await lc.waitSynced()                               // the complete local state is verified
 *   await lc.stop()
 *
 * Security considerations: the configuration (`bootstrap`: chain id, checkpoint, validators) is the
 * root of trust; a page that passes a wrong one gets answers verified against the wrong chain. A
 * bootstrap fetched by URL is trusted exactly as much as the origin serving it.
 */
import type {
  BlockHeaderAnswer,
  BlockTag,
  BootstrapInfo,
  CodeAnswer,
  HeaderView,
  ProofAnswer,
} from '../api/worker-protocol.ts'
import type { ClientEvent, ReadOptions, RootsyncClient, RootsyncClientOptions } from './rootsync-client.ts'

export interface LightClientOptions extends Omit<RootsyncClientOptions, 'worker'> {
  /** The configuration, or the URL of a bootstrap.json to fetch at `start()`. */
  bootstrap?: BootstrapInfo | string | URL
  /** The sync worker's script (default: `sync-worker.js` beside the library's built files). */
  workerUrl?: string | URL
  /** The shared worker's script (default: `shared-worker.js` beside the library's built files). */
  sharedWorkerUrl?: string | URL
  /**
   * One sync per origin: `auto` (a SharedWorker where the browser has one, else a leader tab elected
   * with Web Locks), `shared-worker`, `leader`, or `off` (this page runs its own worker).
   */
  sharing?: 'auto' | 'shared-worker' | 'leader' | 'off'
  /** Creates the dedicated worker (tests, custom bundling); overrides `workerUrl`. */
  worker?: () => Worker
}

export interface BlockReadOptions extends ReadOptions {
  /** The header to answer at (default `latest`). */
  block?: BlockTag
}

export interface LightClient extends Omit<RootsyncClient, 'start' | 'getAccount' | 'getStorage'> {
  /** Starts (or joins) the sync; `config` overrides the `bootstrap` option. Rejects with BootstrapError. */
  start(config?: BootstrapInfo, opts?: ReadOptions): Promise<void>
  getAccount(address: string, opts?: BlockReadOptions): ReturnType<RootsyncClient['getAccount']>
  getStorage(address: string, slot: string, opts?: BlockReadOptions): ReturnType<RootsyncClient['getStorage']>
  /** EIP-1186: the account and `slots` with their proof nodes, verified. */
  getProof(address: string, slots: string[], opts?: BlockReadOptions): Promise<ProofAnswer>
  /** The account's code, verified against its proven code hash. */
  getCode(address: string, opts?: BlockReadOptions): Promise<CodeAnswer>
  /** A verified header: `latest`, a height, or a 0x hash. Rejects BLOCK_UNAVAILABLE where none verifies. */
  getBlock(block: BlockTag | string, opts?: ReadOptions): Promise<BlockHeaderAnswer>
  /** The newest verified header, or null before the first. */
  head(): HeaderView | null
  /** The configured chain's id once `start()` has its configuration, else null (the provider's eth_chainId). */
  chainId(): number | null
  /** Resolves once the complete local state under the verified head is verified (phase `synced`). */
  waitSynced(opts?: ReadOptions): Promise<HeaderView>
  /** How this page takes part in the origin's one sync. */
  readonly role: 'dedicated' | 'shared-worker' | 'leader' | 'follower' | null
}

export type { ClientEvent }

export function createLightClient(_options: LightClientOptions = {}): LightClient {
  throw new Error('createLightClient: not built yet (issue 13, contract commit)')
}
