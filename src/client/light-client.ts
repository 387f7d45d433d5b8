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
import { BootstrapError } from '../core/light/config.ts'
import { ReadError } from './errors.ts'
import {
  type ClientEvent,
  createRootsyncClient,
  type ReadOptions,
  type RootsyncClient,
  type RootsyncClientOptions,
} from './rootsync-client.ts'
import { workerSource } from './worker-source.ts'

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

const cancelled = () => new ReadError('READ_CANCELLED', 'the read was cancelled')

/**
 * The configuration from `bootstrap`: as given, or fetched from its URL. Every failure is a
 * `BootstrapError` (code BAD_BOOTSTRAP, field `bootstrap`) saying what to fix.
 */
async function loadBootstrap(b: LightClientOptions['bootstrap'], signal?: AbortSignal): Promise<unknown> {
  if (b === undefined)
    throw new BootstrapError(
      'bootstrap',
      'no configuration: pass the `bootstrap` option, or a config to start()',
    )
  if (typeof b !== 'string' && !(b instanceof URL)) return b
  const url = String(b)
  let res: Response
  try {
    res = await fetch(url, { signal })
  } catch (e) {
    if (signal?.aborted) throw cancelled()
    throw new BootstrapError(
      'bootstrap',
      `could not fetch ${url} (${(e as Error).message}): check the URL, and that its server allows this origin (CORS)`,
    )
  }
  if (!res.ok)
    throw new BootstrapError(
      'bootstrap',
      `${url} answered HTTP ${res.status}: check the URL of bootstrap.json`,
    )
  try {
    return await res.json()
  } catch (e) {
    if (signal?.aborted) throw cancelled()
    throw new BootstrapError(
      'bootstrap',
      `${url} is not JSON (${(e as Error).message}): it must be a bootstrap.json`,
    )
  }
}

export function createLightClient(options: LightClientOptions = {}): LightClient {
  const { bootstrap, workerUrl, sharedWorkerUrl, sharing, worker, ...rest } = options
  const source = workerSource({ worker, workerUrl, sharedWorkerUrl, sharing })
  // The one protocol client: this wraps it, adding the configuration's URL, the head and waitSynced.
  const inner = createRootsyncClient({ ...rest, worker: source.create })
  let head: HeaderView | null = null
  let chainId: number | null = null
  let synced = false
  /** waitSynced calls in progress: resolved at `synced`, rejected when the client stops or closes. */
  const waiters = new Set<{ resolve(h: HeaderView): void; reject(e: Error): void }>()
  const settle = (fn: (w: { resolve(h: HeaderView): void; reject(e: Error): void }) => void) => {
    for (const w of [...waiters]) fn(w)
  }
  const stopped = () =>
    settle((w) => w.reject(new ReadError('STOPPED', 'the client was stopped before its state was synced')))
  inner.subscribe((e) => {
    if (e.type === 'header') head = e.header
    if (e.type !== 'phase') return
    synced = e.phase === 'synced'
    if (synced && head) {
      const h = head
      settle((w) => w.resolve(h))
    }
  })

  return {
    ...inner,
    get dbName() {
      return inner.dbName
    },
    get role() {
      return source.role()
    },
    async start(config, opts) {
      if (opts?.signal?.aborted) throw cancelled()
      const c = config ?? (await loadBootstrap(bootstrap, opts?.signal))
      if (opts?.signal?.aborted) throw cancelled()
      // The one configuration parser (BootstrapError naming the field) runs in here.
      inner.start(c as BootstrapInfo)
      chainId = (c as BootstrapInfo).chainId
    },
    async stop() {
      stopped()
      synced = false
      await inner.stop()
    },
    close() {
      stopped()
      synced = false
      inner.close()
    },
    head: () => head,
    chainId: () => chainId,
    waitSynced(opts) {
      const signal = opts?.signal
      if (signal?.aborted) return Promise.reject(cancelled())
      if (synced && head) return Promise.resolve(head)
      return new Promise<HeaderView>((resolve, reject) => {
        const onAbort = () => w.reject(cancelled())
        const w = {
          resolve(h: HeaderView) {
            waiters.delete(w)
            signal?.removeEventListener('abort', onAbort)
            resolve(h)
          },
          reject(e: Error) {
            waiters.delete(w)
            signal?.removeEventListener('abort', onAbort)
            reject(e)
          },
        }
        waiters.add(w)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
  }
}

export { BootstrapError } from '../core/light/config.ts'
export { ReadError, type ReadErrorCode } from './errors.ts'
