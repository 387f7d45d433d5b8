/**
 * The light client's life in the worker: trust a checkpoint, verify the header chain from it to the
 * peers' head, sync the state that head commits to into IndexedDB, then keep up with the chain.
 *
 * Warm start: the newest verified header is kept in the store (with its quorum signatures). On the
 * next visit it is trusted again only after those signatures are re-checked against the configured
 * validators; if the state under it is complete, reads answer from IndexedDB at once, before any peer
 * is reached (and offline).
 *
 * Security considerations: the only root of trust is the configured checkpoint (chain id, header
 * hash, validators). Peers are untrusted: every header is linked and quorum-checked before its state
 * root is used, every synced node is hashed against what was asked, and reads are answered only
 * against a verified header's root (verified-reads.ts).
 */
import type { BootstrapInfo, FromWorker, HeaderView } from '../client/messages.ts'
import { fromHexExact, toHex } from '../core/bytes.ts'
import { ChainError } from '../core/chain/errors.ts'
import { decodeSignedHeader, encodeSignedHeader, type TrustedHeader } from '../core/chain/header.ts'
import { type Checkpoint, trustCheckpoint, trustStoredHeader, verifyHeadersTo } from '../core/chain/light.ts'
import { RootsyncError } from '../core/errors.ts'
import { readSyncedRoot, syncToState } from '../core/sync/state-sync.ts'
import type { PeerStats } from '../core/sync/types.ts'
import { realClock } from '../platform/clock.ts'
import type { IdbNodeStore } from '../store/idb-store.ts'
import type { PeerRegistry, RegisteredPeer } from './peer-registry.ts'
import type { ProofCache } from './proof-cache.ts'
import type { ReadContext } from './verified-reads.ts'

/** Meta key of the newest verified header (signed header RLP). */
export const HEAD_KEY = 'light/head'

export interface LightClientDeps {
  config: BootstrapInfo
  store: IdbNodeStore
  peers: PeerRegistry
  post: (m: FromWorker) => void
  /** How often to ask peers for a newer head once synced. */
  followMs?: number
  cache?: ProofCache | null
}

export interface LightClient extends ReadContext {
  /**
   * Trusts the head stored by an earlier visit again, if its signatures still verify (metadata only:
   * does not wait for the node index). Reads can be answered from then on.
   */
  warmStart(): Promise<void>
  /** Connects, verifies and syncs, then follows the head; never returns. */
  run(): Promise<never>
  /** Wakes a run waiting after a failure it does not retry by itself (a full store). */
  retry(): void
}

/** How long a read waits for the first verified header before failing. */
const HEAD_WAIT_MS = 20_000

/** Nodes of older states tolerated beyond the live state's own count before pruning. */
const PRUNE_SLACK = 1000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function checkpointOf(b: BootstrapInfo): Checkpoint {
  return {
    chainId: b.chainId,
    number: b.checkpoint.number,
    hash: fromHexExact(b.checkpoint.hash, 32, 'checkpoint hash'),
    validators: b.validators.map((v) => fromHexExact(v, 20, 'validator')),
  }
}

export function createLightClient(d: LightClientDeps): LightClient {
  const cp = checkpointOf(d.config)
  const { store, peers, post } = d
  const followMs = d.followMs ?? 2000
  let head: TrustedHeader | null = null
  let completeRoot: string | null = null
  let peersHead = 0
  /** Nodes of the newest complete state, as last counted (0: not yet known). */
  let liveNodes = 0
  const headWaiters: (() => void)[] = []
  /** Reads may use `head`: it is the peers' head (or one verified in an earlier visit). */
  let readable = false
  let wakeRetry: (() => void) | null = null

  const view = (h: TrustedHeader): HeaderView => ({
    number: h.header.number,
    hash: toHex(h.hash),
    stateRoot: toHex(h.header.stateRoot),
  })
  const postStore = () => post({ type: 'store', nodes: store.size, bytes: store.packBytes })

  async function adopt(h: TrustedHeader, fromStore: boolean): Promise<void> {
    head = h
    if (!fromStore && h.signed) await store.write({ meta: [[HEAD_KEY, encodeSignedHeader(h.signed)]] })
    post({ type: 'header', header: view(h), fromStore, peersHead })
    // Reads wait for the header the peers are at, not the checkpoint on the way there: a balance
    // at the checkpoint's block would be verified but stale. A head from an earlier visit is
    // answered from at once (the answer names its block).
    if (fromStore || h.header.number >= peersHead) {
      readable = true
      for (const w of headWaiters.splice(0)) w()
    }
  }

  async function warmStart(): Promise<void> {
    // Both records at once: a return visit's first answer waits on these reads.
    const [bytes, synced] = await Promise.all([store.getMeta(HEAD_KEY), readSyncedRoot(store)])
    if (!bytes) return
    let stored: TrustedHeader
    try {
      stored = trustStoredHeader(cp, decodeSignedHeader(bytes))
    } catch (e) {
      // Not ours to trust (corrupted, or another checkpoint's chain): start from the checkpoint.
      post({ type: 'status', phase: 'starting', detail: `ignoring the stored head: ${(e as Error).message}` })
      return
    }
    if (
      synced &&
      synced.height === stored.header.number &&
      toHex(synced.root) === toHex(stored.header.stateRoot)
    ) {
      completeRoot = toHex(synced.root)
      await adopt(stored, true)
      post({ type: 'synced', root: completeRoot, height: synced.height, nodes: 0, skipped: 0, seconds: 0 })
    } else await adopt(stored, true)
  }

  /** Peers answering on our chain; waits (saying so) while there are none. */
  async function connected(): Promise<{ best: RegisteredPeer; number: number }> {
    for (let wait = 1000; ; wait = Math.min(wait * 2, 15_000)) {
      // The first round goes with whichever peer answers first; later rounds look for the best head.
      const first = readable ? null : await peers.firstAnswer(cp.chainId)
      const live = first ? [first] : await peers.refresh(cp.chainId)
      if (live.length) {
        const best = live.reduce((a, x) => (x.status.headNumber > a.status.headNumber ? x : a))
        peersHead = best.status.headNumber
        return { best: best.peer, number: best.status.headNumber }
      }
      post({
        type: 'status',
        phase: 'offline',
        detail: completeRoot
          ? `no peer reachable; answering from the state stored at block ${head?.header.number}, retrying in ${wait / 1000} s`
          : `no peer on chain ${cp.chainId} reachable; retrying in ${wait / 1000} s`,
      })
      await sleep(wait)
    }
  }

  async function syncHead(h: TrustedHeader): Promise<void> {
    const usable = peers.usable()
    if (!usable.length) throw new RootsyncError('NO_PEERS', 'no usable peer to sync from')
    const root = h.header.stateRoot
    await store.ready()
    post({ type: 'status', phase: 'syncing', detail: toHex(root) })
    if (store.size || store.stagedCount)
      post({ type: 'resumed', storedNodes: store.size, stagedNodes: store.stagedCount })
    let last: PeerStats[] = []
    const started = performance.now()
    try {
      const r = await syncToState(root, h.header.number, {
        clock: realClock,
        store,
        peers: usable.map((p) => peers.syncPeer(p)),
        joinPeers: (offer) => {
          const unsubscribe = peers.onJoin((p) => offer(peers.syncPeer(p)))
          // Peers that connected between the start of this round and the subscription.
          for (const p of peers.usable()) if (!usable.includes(p)) offer(peers.syncPeer(p))
          return unsubscribe
        },
        onEvent: (e) => {
          if (e.type === 'progress' || e.type === 'done' || e.type === 'stall') {
            last = e.progress.peers
            peers.sync(last, false)
            post({ type: 'progress', progress: e.progress })
            postStore()
          }
        },
      })
      last = r.peers
      completeRoot = r.root
      await prune(root)
      post({
        type: 'synced',
        root: r.root,
        height: r.height,
        nodes: r.nodes,
        skipped: r.skipped,
        seconds: (performance.now() - started) / 1000,
      })
      post({ type: 'status', phase: 'synced', detail: r.root })
    } finally {
      peers.sync(last, true)
      postStore()
    }
  }

  /**
   * Following the head stores each block's changed nodes beside the old ones; once the store holds
   * twice as many nodes as the state it serves (+ PRUNE_SLACK), everything the newest complete root
   * does not reach is dropped (IdbNodeStore.compact). The cost, one walk of the live state, is so
   * paid once per live-state-sized amount of change. Reads keep answering meanwhile.
   */
  async function prune(root: Uint8Array): Promise<void> {
    if (!liveNodes) {
      liveNodes = store.size
      return
    }
    if (store.size < liveNodes * 2 + PRUNE_SLACK) return
    const before = store.size
    post({ type: 'status', phase: 'synced', detail: `pruning ${before - liveNodes}+ nodes of older states` })
    const r = await store.compact(root)
    liveNodes = r.kept
    post({ type: 'pruned', dropped: r.dropped, kept: r.kept })
  }

  /**
   * Header work with one peer. Headers that do not verify (or a head it claimed and cannot serve)
   * are provably wrong: the peer is banned for the session, so a liar cannot hold the client on
   * a head that does not exist. Transport failures are only charged.
   */
  async function fromPeer<T>(p: RegisteredPeer, work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (e) {
      if (e instanceof ChainError) peers.ban(p, `headers did not verify: ${e.message}`)
      else peers.charge(p, 'failure', (e as Error).message)
      throw e
    }
  }

  /** One step towards the peers' head: verify headers to it and sync its state. */
  async function advance(): Promise<void> {
    const { best, number } = await connected()
    if (!head) {
      post({
        type: 'status',
        phase: 'verifying-headers',
        detail: `checkpoint ${cp.number} to block ${number}`,
      })
      await adopt(await fromPeer(best, () => trustCheckpoint(cp, best.client)), false)
    }
    const at = head!
    if (number > at.header.number) {
      if (!completeRoot)
        post({ type: 'status', phase: 'verifying-headers', detail: `block ${at.header.number} to ${number}` })
      await adopt(await fromPeer(best, () => verifyHeadersTo(cp, at, number, best.client)), false)
    } else post({ type: 'header', header: view(at), peersHead })
    if (completeRoot !== toHex(head!.header.stateRoot)) await syncHead(head!)
  }

  return {
    warmStart,
    async run(): Promise<never> {
      await store.ready()
      postStore()
      post({ type: 'status', phase: 'connecting', detail: `${d.config.peers.length} configured peers` })
      for (let failures = 0; ; ) {
        try {
          await advance()
          failures = 0
          await sleep(followMs)
        } catch (e) {
          const err = e as RootsyncError
          const code = err.code ?? 'SYNC_FAILED'
          post({ type: 'error', code, message: err.message })
          post({ type: 'status', phase: completeRoot ? 'synced' : 'failed', detail: err.message })
          if (code === 'STORE_FULL') {
            // Retrying cannot help until space is freed: wait for the user.
            await new Promise<void>((r) => (wakeRetry = r))
            wakeRetry = null
          } else await sleep(Math.min(1000 * 2 ** failures++, 15_000))
        }
      }
    },
    retry() {
      wakeRetry?.()
    },
    async head() {
      if (!readable) {
        let timer: ReturnType<typeof setTimeout> | undefined
        await Promise.race([
          new Promise<void>((r) => headWaiters.push(r)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new RootsyncError(
                    'NO_VERIFIED_HEADER',
                    head
                      ? `still verifying headers after ${HEAD_WAIT_MS / 1000} s (at block ${head.header.number} of ${peersHead}); try again shortly`
                      : `no header verified in ${HEAD_WAIT_MS / 1000} s: no reachable peer on this chain yet`,
                  ),
                ),
              HEAD_WAIT_MS,
            )
          }),
        ]).finally(() => clearTimeout(timer))
      }
      return { ...view(head!), root: head!.header.stateRoot }
    },
    localState(root) {
      return completeRoot === toHex(root) ? store : null
    },
    peers,
    cache: d.cache ?? null,
  }
}
