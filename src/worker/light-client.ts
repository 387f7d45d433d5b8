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
 * against a verified header's root (verified-reads.ts). A local state a read found damaged is
 * flagged for repair (repair-flag.ts) and no longer used as complete, nor synced onto or pruned,
 * until it is repaired or cleared.
 *
 * It reports through the light client's event union (`LightEvent`), which the worker forwards to
 * the page unchanged; `run(signal)` is the long job, stopped cleanly by aborting `signal` (every
 * store write is an atomic batch, so a stop leaves the store consistent and a later run resumes).
 */
import type { BootstrapInfo, HeaderView, LightEvent } from '../api/worker-protocol.ts'
import { fromHexExact, toHex } from '../core/bytes.ts'
import { ChainError } from '../core/chain/errors.ts'
import { decodeSignedHeader, encodeSignedHeader, type TrustedHeader } from '../core/chain/header.ts'
import { type Checkpoint, trustCheckpoint, trustStoredHeader, verifyHeadersTo } from '../core/chain/light.ts'
import { sleep } from '../core/clock.ts'
import { RootsyncError } from '../core/errors.ts'
import { META } from '../core/meta-keys.ts'
import { readSyncedRoot, syncToState } from '../core/sync/state-sync.ts'
import type { PeerStats } from '../core/sync/types.ts'
import { TaskStoppedError, throwIfStopped } from '../core/task.ts'
import { realClock } from '../platform/clock.ts'
import type { IdbNodeStore } from '../store/idb-store.ts'
import type { PeerRegistry, RegisteredPeer } from './peer-registry.ts'
import type { ProofCache } from './proof-cache.ts'
import { type RepairFlag, readRepairFlag, writeRepairFlag } from './repair-flag.ts'
import type { ReadContext } from './verified-reads.ts'

/** Meta key of the newest verified header (signed header RLP). */
export const HEAD_KEY = META.lightHead

export interface LightClientDeps {
  config: BootstrapInfo
  store: IdbNodeStore
  peers: PeerRegistry
  emit: (e: LightEvent) => void
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
  /**
   * Connects, verifies and syncs, then follows the head until `signal` aborts; then emits the
   * `stopped` phase and resolves.
   */
  run(signal: AbortSignal): Promise<void>
  /** Wakes a run waiting after a failure it does not retry by itself (a full store). */
  retry(): void
}

/** How long a read waits for the first verified header before failing. */
const HEAD_WAIT_MS = 20_000

/** Nodes of older states tolerated beyond the live state's own count before pruning. */
const PRUNE_SLACK = 1000

export function checkpointOf(b: BootstrapInfo): Checkpoint {
  return {
    chainId: b.chainId,
    number: b.checkpoint.number,
    hash: fromHexExact(b.checkpoint.hash, 32, 'checkpoint hash'),
    validators: b.validators.map((v) => fromHexExact(v, 20, 'validator')),
  }
}

const repairPhase = (f: RepairFlag): LightEvent => ({
  type: 'phase',
  phase: 'failed',
  detail: `the local state needs repair (${f.reason}${f.hash ? ` ${f.hash}` : ''}): lookups are answered by proofs from peers`,
})

export function createLightClient(d: LightClientDeps): LightClient {
  const cp = checkpointOf(d.config)
  const { store, peers, emit } = d
  const followMs = d.followMs ?? 2000
  let head: TrustedHeader | null = null
  let completeRoot: string | null = null
  let repair: RepairFlag | null = null
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
  const emitStore = () =>
    emit({ type: 'store', nodes: store.size, bytes: store.packBytes, staged: store.stagedCount })

  async function adopt(h: TrustedHeader, fromStore: boolean): Promise<void> {
    head = h
    if (!fromStore && h.signed) await store.write({ meta: [[HEAD_KEY, encodeSignedHeader(h.signed)]] })
    emit({ type: 'header', header: view(h), fromStore, peersHead })
    // Reads wait for the header the peers are at, not the checkpoint on the way there: a balance
    // at the checkpoint's block would be verified but stale. A head from an earlier visit is
    // answered from at once (the answer names its block).
    if (fromStore || h.header.number >= peersHead) {
      readable = true
      for (const w of headWaiters.splice(0)) w()
    }
  }

  async function warmStart(): Promise<void> {
    // All records at once: a return visit's first answer waits on these reads.
    const [bytes, synced, flag] = await Promise.all([
      store.getMeta(HEAD_KEY),
      readSyncedRoot(store),
      readRepairFlag(store),
    ])
    if (flag) {
      repair = flag
      emit({ type: 'repair-needed', reason: flag.reason, hash: flag.hash })
    }
    if (!bytes) return
    let stored: TrustedHeader
    try {
      stored = trustStoredHeader(cp, decodeSignedHeader(bytes))
    } catch (e) {
      // Not ours to trust (corrupted, or another checkpoint's chain): start from the checkpoint.
      emit({ type: 'phase', phase: 'starting', detail: `ignoring the stored head: ${(e as Error).message}` })
      return
    }
    const complete =
      !repair &&
      synced &&
      synced.height === stored.header.number &&
      toHex(synced.root) === toHex(stored.header.stateRoot)
    await adopt(stored, true)
    if (complete) {
      completeRoot = toHex(synced.root)
      emit({ type: 'synced', root: completeRoot, height: synced.height, nodes: 0, skipped: 0, ms: 0 })
    }
  }

  /** Peers answering on our chain; waits (saying so) while there are none. */
  async function connected(signal: AbortSignal): Promise<{ best: RegisteredPeer; number: number }> {
    for (let wait = 1000; ; wait = Math.min(wait * 2, 15_000)) {
      // The first round goes with whichever peer answers first; later rounds look for the best head.
      const first = readable ? null : await peers.firstAnswer(cp.chainId)
      const live = first ? [first] : await peers.refresh(cp.chainId)
      throwIfStopped(signal, 'light client')
      if (live.length) {
        const best = live.reduce((a, x) => (x.status.headNumber > a.status.headNumber ? x : a))
        peersHead = best.status.headNumber
        return { best: best.peer, number: best.status.headNumber }
      }
      const answeringFrom = completeRoot && head ? head.header.number : null
      emit({ type: 'offline', retryInMs: wait, answeringFrom })
      emit({
        type: 'phase',
        phase: 'offline',
        detail:
          answeringFrom !== null
            ? `no peer reachable; answering from the state stored at block ${answeringFrom}, retrying in ${wait / 1000} s`
            : `no peer on chain ${cp.chainId} reachable; retrying in ${wait / 1000} s`,
      })
      await sleep(realClock, wait, signal)
    }
  }

  async function syncHead(h: TrustedHeader, signal: AbortSignal): Promise<void> {
    const usable = peers.usable()
    if (!usable.length) throw new RootsyncError('NO_PEERS', 'no usable peer to sync from')
    const root = h.header.stateRoot
    await store.ready()
    emit({ type: 'phase', phase: 'syncing', detail: toHex(root) })
    if (store.size || store.stagedCount)
      emit({ type: 'resumed', storedNodes: store.size, stagedNodes: store.stagedCount })
    let last: PeerStats[] = []
    const started = realClock.now()
    try {
      const r = await syncToState(root, h.header.number, {
        store,
        signal,
        peers: usable.map((p) => peers.syncPeer(p)),
        joinPeers: (offer) => {
          const unsubscribe = peers.onJoin((p) => offer(peers.syncPeer(p)))
          // Peers that connected between the start of this round and the subscription.
          for (const p of peers.usable()) if (!usable.includes(p)) offer(peers.syncPeer(p))
          return unsubscribe
        },
        onEvent: (e) => {
          if ('progress' in e) {
            last = e.progress.peers
            peers.sync(last, false)
          }
          emit(e)
          if ('progress' in e) emitStore()
        },
      })
      last = r.peers
      completeRoot = r.root
      await prune(root)
      emit({
        type: 'synced',
        root: r.root,
        height: r.height,
        nodes: r.nodes,
        skipped: r.skipped,
        ms: realClock.now() - started,
      })
      emit({ type: 'phase', phase: 'synced', detail: r.root })
    } finally {
      peers.sync(last, true)
      emitStore()
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
    emit({ type: 'phase', phase: 'pruning', detail: `pruning ${before - liveNodes}+ nodes of older states` })
    const r = await store.compact(root)
    liveNodes = r.kept
    emit({ type: 'pruned', dropped: r.dropped, kept: r.kept })
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
      const reason = (e as Error).message
      if (e instanceof ChainError) {
        peers.ban(p, `headers did not verify: ${reason}`)
        emit({ type: 'peer-charged', peer: p.view.name, kind: 'banned', reason })
      } else {
        peers.charge(p, 'failure', reason)
        emit({ type: 'peer-charged', peer: p.view.name, kind: 'failure', reason })
      }
      throw e
    }
  }

  /** One step towards the peers' head: verify headers to it and sync its state. */
  async function advance(signal: AbortSignal): Promise<void> {
    const { best, number } = await connected(signal)
    if (!head) {
      emit({
        type: 'phase',
        phase: 'verifying-headers',
        detail: `checkpoint ${cp.number} to block ${number}`,
      })
      await adopt(await fromPeer(best, () => trustCheckpoint(cp, best.client)), false)
    }
    const at = head!
    if (number > at.header.number) {
      if (!completeRoot)
        emit({ type: 'phase', phase: 'verifying-headers', detail: `block ${at.header.number} to ${number}` })
      await adopt(await fromPeer(best, () => verifyHeadersTo(cp, at, number, best.client)), false)
    } else emit({ type: 'header', header: view(at), fromStore: false, peersHead })
    throwIfStopped(signal, 'light client')
    // A state flagged for repair is neither synced onto nor pruned: reads go by proof until the
    // state is repaired (or cleared).
    if (repair) emit(repairPhase(repair))
    else if (completeRoot !== toHex(head!.header.stateRoot)) await syncHead(head!, signal)
  }

  async function run(signal: AbortSignal): Promise<void> {
    try {
      await store.ready()
      emitStore()
      emit({ type: 'phase', phase: 'connecting', detail: `${d.config.peers.length} configured peers` })
      for (let failures = 0; ; ) {
        try {
          await advance(signal)
          failures = 0
          await sleep(realClock, followMs, signal)
        } catch (e) {
          if (signal.aborted) throw e
          const err = e as RootsyncError
          const code = err.code ?? 'SYNC_FAILED'
          // Retrying cannot help a full store until space is freed: wait for the user.
          const retryInMs = code === 'STORE_FULL' ? null : Math.min(1000 * 2 ** failures++, 15_000)
          emit({ type: 'error', code, message: err.message, retryInMs })
          emit({ type: 'phase', phase: completeRoot ? 'synced' : 'failed', detail: err.message })
          if (retryInMs === null) {
            await new Promise<void>((r) => {
              wakeRetry = r
              signal.addEventListener('abort', () => r(), { once: true })
            })
            wakeRetry = null
          } else await sleep(realClock, retryInMs, signal)
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e
      emitStore()
      emit({
        type: 'phase',
        phase: 'stopped',
        detail: signal.reason instanceof TaskStoppedError ? signal.reason.message : 'stopped',
      })
    }
  }

  return {
    warmStart,
    run,
    retry() {
      wakeRetry?.()
    },
    async head(signal) {
      if (!readable) {
        let cancel = () => {}
        await new Promise<void>((resolve, reject) => {
          const fail = (e: unknown) => {
            cancel()
            reject(e)
          }
          headWaiters.push(() => {
            cancel()
            resolve()
          })
          const timeout = realClock.setTimer(HEAD_WAIT_MS, () =>
            fail(
              new RootsyncError(
                'NO_VERIFIED_HEADER',
                head
                  ? `still verifying headers after ${HEAD_WAIT_MS / 1000} s (at block ${head.header.number} of ${peersHead}); try again shortly`
                  : `no header verified in ${HEAD_WAIT_MS / 1000} s: no reachable peer on this chain yet`,
              ),
            ),
          )
          const onAbort = () => fail(signal!.reason)
          signal?.addEventListener('abort', onAbort, { once: true })
          cancel = () => {
            timeout()
            signal?.removeEventListener('abort', onAbort)
          }
        })
      }
      return { ...view(head!), root: head!.header.stateRoot }
    },
    localState(root) {
      return !repair && completeRoot === toHex(root) ? store : null
    },
    async damaged(flag) {
      if (repair) return
      repair = flag
      emit({ type: 'repair-needed', reason: flag.reason, hash: flag.hash })
      emit(repairPhase(flag))
      await writeRepairFlag(store, flag)
    },
    peers,
    cache: d.cache ?? null,
  }
}
