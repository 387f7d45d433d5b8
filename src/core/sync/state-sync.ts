/**
 * State sync (seed §7.1, fast sync): download the whole state trie under a trusted root — account
 * trie, storage tries, code — from several peers at once, into a node store. A task: `startSync`
 * returns a handle whose `stop()` ends the run cleanly (what was verified stays stored, consistent).
 *
 * The parts, each its own module:
 * - the peer scheduler (core/peers/scheduler.ts): who gets the next request, how big, backoff, bans,
 *   rotation of peers that answer empty, hedging of overdue requests;
 * - the requests (fetch.ts): frontier → peers → verified replies;
 * - the trie walk (walk.ts): verified node → the hashes it names → complete subtrees;
 * - the writer (writer.ts): children before parents, staging, atomic batches, the root record;
 * - progress (progress.ts): rates, percent, ETA, stalls.
 * This file is the run: the probe for the target root, peers joining and leaving, the loop that ties
 * the parts together, and the result. Time comes only through the `Clock` port.
 *
 * The probe asks every peer for the root node and starts work with the first that returns it
 * verified; the others join (or are recorded as refused, with why) as they answer, so a silent peer
 * delays nothing.
 *
 * Security considerations: peers are untrusted. Nothing is stored unless its keccak equals a hash
 * taken from the trusted root or from a node already verified under it; the root itself must come
 * from a verified header (the caller's job). A node that hashes correctly but does not decode means
 * the root commits to invalid state: the sync stops with `InvalidStateError` rather than guess.
 * Peers cannot inflate memory: the frontier is capped and every reply is bounded by its request.
 */
import { equals, toHex } from '../bytes.ts'
import { type Clock, timeoutSignal } from '../clock.ts'
import { keccak256 } from '../hash.ts'
import { failureKind } from '../peers/failure.ts'
import { createScheduler, type PeerChange, type PeerScheduler, type RefusalKind } from '../peers/scheduler.ts'
import type { NodeStore } from '../store.ts'
import { startTask, type Task } from '../task.ts'
import { isEmptyRoot } from '../trie/trie.ts'
import { NoPeersWithTargetState, SyncAbortedError } from './errors.ts'
import { NodeFetcher } from './fetch.ts'
import { ProgressMeter } from './progress.ts'
import { STATE_ROOT_KEY } from './root-record.ts'
import {
  DEFAULT_SYNC_CONFIG,
  type PeerStats,
  type PeerSummary,
  type SyncConfig,
  type SyncEvent,
  type SyncPeer,
  type SyncProgress,
} from './types.ts'
import { TrieWalk } from './walk.ts'
import { SyncWriter } from './writer.ts'

export { STAGED_META_PREFIX as STAGED_PREFIX } from '../store.ts'
export { keyOf } from './entry.ts'
export { readSyncedRoot, STATE_ROOT_KEY } from './root-record.ts'

export interface SyncOptions {
  store: NodeStore
  /** Peers known at the start; each is probed for the target root. */
  peers: SyncPeer[]
  /** Time (platforms pass `realClock` from src/platform/clock.ts; tests a `manualClock()`). */
  clock: Clock
  config?: Partial<SyncConfig>
  /** Stops the run like the task's `stop()`. */
  signal?: AbortSignal
  onEvent?: (e: SyncEvent) => void
  /**
   * The peer source for peers that come and go during the run (a WebRTC connection coming up on the
   * page, a libp2p connection closing): called once when the run starts with `offer` (a peer to
   * probe and use if it has the target root; an id seen before rejoins with its history, a banned
   * one stays banned) and `leave` (that peer's connection is gone: no more work for it); returns the
   * unsubscribe, called when the run ends.
   */
  joinPeers?: (offer: (peer: SyncPeer) => void, leave: (id: string) => void) => () => void
}

export interface SyncResult {
  root: string
  height: number
  /** Nodes and code blobs downloaded and verified in this run. */
  nodes: number
  /** Subtrees found already stored (not downloaded). */
  skipped: number
  bytes: number
  ms: number
  /** Stats of every peer that joined the run. */
  peers: PeerStats[]
  /** Every peer the run saw, with its outcome and why: used, refused (at the probe), banned, dropped, left. */
  summary: PeerSummary[]
  /** Largest frontier seen (the memory bound in action). */
  maxFrontier: number
}

/** Starts syncing the state trie under `root` (which a verified header at `height` commits to). */
export function startSync(root: Uint8Array, height: number, opts: SyncOptions): Task<SyncResult> {
  const cfg: SyncConfig = { ...DEFAULT_SYNC_CONFIG, ...opts.config }
  return startTask('sync', (signal) => new SyncRun(opts, cfg, root, height, signal).run(), opts.signal)
}

/** `startSync(…).done`. */
export function syncToState(root: Uint8Array, height: number, opts: SyncOptions): Promise<SyncResult> {
  return startSync(root, height, opts).done
}

class SyncRun {
  private readonly clock: Clock
  private readonly store: NodeStore
  private readonly rootKey: string
  private readonly emit: (e: SyncEvent) => void
  private readonly sched: PeerScheduler<SyncPeer>
  private readonly writer: SyncWriter
  private readonly meter: ProgressMeter
  private walk: TrieWalk | null = null
  private fetcher: NodeFetcher | null = null
  private wake: (() => void) | null = null
  /** Probes not yet answered. */
  private probing = 0
  private found: ((bytes: Uint8Array) => void) | null = null
  private notFound: ((e: Error) => void) | null = null
  private rootBytes: Uint8Array | null = null
  private flushDue = false
  private backoffAt: number | null = null
  private cancelBackoff = () => {}
  /** Set once the run has ended: late probe answers are ignored. */
  private ended = false
  /** Probes still out, by the cancel that ends each (the run ended without needing its answer). */
  private readonly probes = new Map<() => void, string>()

  constructor(
    private readonly opts: SyncOptions,
    private readonly cfg: SyncConfig,
    private readonly root: Uint8Array,
    private readonly height: number,
    private readonly signal: AbortSignal,
  ) {
    this.clock = opts.clock
    this.store = opts.store
    this.rootKey = toHex(root)
    this.emit = opts.onEvent ?? (() => {})
    this.sched = createScheduler<SyncPeer>(this.clock, cfg)
    this.writer = new SyncWriter(this.store, root, height)
    this.meter = new ProgressMeter(this.clock, this.rootKey, height, {
      frontier: () => this.walk?.frontier.size ?? 0,
      inFlight: () => this.fetcher?.inFlight ?? 0,
      staged: () => this.writer.stagedKeys.size,
      peers: () => this.sched.stats(),
    })
  }

  async run(): Promise<SyncResult> {
    if (this.signal.aborted) throw new SyncAbortedError()
    if (isEmptyRoot(this.root) || (await this.store.hasNode(this.root))) {
      await this.writer.recordRoot()
      return this.finish()
    }
    await this.writer.loadStaged()
    // A store with no completed state and nothing staged holds nothing of ours: skip presence checks.
    const checkPresence =
      this.cfg.checkPresence ??
      (this.writer.stagedKeys.size > 0 || (await this.store.getMeta(STATE_ROOT_KEY)) !== undefined)
    const walk = new TrieWalk(this.store, this.writer, this.meter, checkPresence)
    this.walk = walk
    const fetcher = new NodeFetcher(
      this.cfg,
      this.clock,
      this.sched,
      walk,
      this.meter,
      this.signal,
      (c) => this.changed(c),
      () => this.poke(),
      () => this.probing > 0,
    )
    this.fetcher = fetcher
    const onAbort = () => {
      this.poke()
      this.notFound?.(new SyncAbortedError())
    }
    this.signal.addEventListener('abort', onAbort)
    const unsubscribe =
      this.opts.joinPeers?.(
        (peer) => void this.probe(peer),
        (id) => this.leave(id),
      ) ?? (() => {})
    let cancelTick = () => {}
    const tickEvery = Math.min(this.cfg.progressIntervalMs, 250)
    const arm = () => {
      cancelTick = this.clock.setTimer(tickEvery, () => {
        this.poke()
        arm()
      })
    }
    try {
      this.emit({ type: 'progress', progress: this.meter.report('probing') })
      const rootBytes = await this.firstRoot()
      this.meter.received(1, rootBytes.length)
      await walk.start(this.root, rootBytes)
      arm()
      while (!walk.rootDone) {
        if (this.signal.aborted) throw new SyncAbortedError()
        const fatal = walk.fatal ?? fetcher.fatal
        if (fatal) throw fatal
        fetcher.dispatch()
        this.armBackoffWake()
        this.checkPeersLeft()
        fetcher.checkStuck()
        if (!fetcher.hasReplies() && !fetcher.fatal) await new Promise<void>((r) => (this.wake = r))
        this.wake = null
        await fetcher.handleReplies()
        this.tick()
        // Persist what the replies just handled brought, in one atomic batch, before asking for more:
        // a crash then loses at most the requests in flight.
        if (this.flushDue || this.writer.pending() > 0) await this.flush()
      }
      await this.flush()
      // Everything reachable from the root is now stored; what is still staged is stale.
      await this.writer.dropStale()
      return this.finish()
    } catch (e) {
      // Keep what was verified: the batch is consistent on its own (children before parents).
      await this.flush().catch(() => {})
      throw e
    } finally {
      this.ended = true
      for (const cancel of [...this.probes.keys()]) cancel()
      cancelTick()
      this.cancelBackoff()
      fetcher.close()
      unsubscribe()
      this.signal.removeEventListener('abort', onAbort)
    }
  }

  private async flush(): Promise<void> {
    this.flushDue = false
    this.walk?.flushed(await this.writer.flush())
  }

  private finish(): SyncResult {
    // A peer still silent at the end is in the summary too, refused for not answering in time.
    for (const id of this.probes.values())
      this.sched.refuse(id, 'timeout', 'had not answered the probe when the sync ended')
    const progress = this.meter.report('done')
    this.emit({ type: 'done', progress })
    return {
      root: this.rootKey,
      height: this.height,
      nodes: this.meter.processed,
      skipped: this.meter.skipped,
      bytes: this.meter.bytes,
      ms: this.meter.elapsed(),
      peers: this.sched.stats(),
      summary: this.sched.summary(),
      maxFrontier: this.meter.maxFrontier,
    }
  }

  private poke(): void {
    this.wake?.()
  }

  // ---- peers ----------------------------------------------------------------------------------

  /** Probes the initial peers; resolves with the root node from the first that returns it verified. */
  private firstRoot(): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      this.found = resolve
      this.notFound = reject
      for (const p of this.opts.peers) void this.probe(p)
      if (this.rootBytes) resolve(this.rootBytes)
      else this.probeEnded()
    }).finally(() => {
      this.found = null
      this.notFound = null
    })
  }

  /** Asks `peer` for the target root; it joins if it has it, else it is recorded as refused. */
  private async probe(peer: SyncPeer): Promise<void> {
    if (this.ended) return
    const standing = this.sched.standing(peer.id)
    if (standing === 'left') return this.joined(peer) // a reconnect: it proved the root already
    if (standing !== null && standing !== 'refused') return // present, banned or rotated out
    this.probing++
    const t0 = this.clock.now()
    try {
      const [b] = await this.ask(peer)
      if (this.ended || this.signal.aborted) return
      if (!b || b.length === 0) this.refuse(peer.id, 'empty', 'does not have the target root')
      else if (!equals(keccak256(b), this.root))
        this.refuse(peer.id, 'wrong-root', 'answered with a node that is not the target root')
      else {
        this.joined(peer, this.clock.now() - t0)
        if (!this.rootBytes) {
          this.rootBytes = b
          this.found?.(b)
        }
      }
    } catch (e) {
      if (this.ended || this.signal.aborted) return
      const kind = failureKind(e)
      this.refuse(peer.id, kind === 'timeout' ? 'timeout' : 'error', (e as Error).message ?? String(e))
    } finally {
      this.probing--
      this.probeEnded()
      this.poke()
    }
  }

  /** The probe request: the root node, within the request timeout, cancelled when the run ends. */
  private ask(peer: SyncPeer): Promise<Uint8Array[]> {
    const { signal, clear } = timeoutSignal(this.clock, this.signal, this.cfg.requestTimeoutMs)
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const cancel = () => {
        clear()
        this.probes.delete(cancel)
        reject(new SyncAbortedError('run ended'))
      }
      // Timed out means refused now, whether or not the peer honours the abort.
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      this.probes.set(cancel, peer.id)
      Promise.resolve()
        .then(() => peer.getNodes([this.root], signal))
        .then(resolve, reject)
        .finally(() => {
          clear()
          this.probes.delete(cancel)
        })
    })
  }

  /** No peer returned the root and none is still being asked: the sync cannot start. */
  private probeEnded(): void {
    if (this.rootBytes || this.probing > 0 || !this.notFound) return
    const reasons = this.sched
      .summary()
      .filter((p) => p.outcome === 'refused')
      .map((p) => ({ peer: p.id, reason: p.reason ?? 'refused' }))
    this.notFound(new NoPeersWithTargetState(this.rootKey, reasons))
  }

  private joined(peer: SyncPeer, rttMs?: number): void {
    const r = this.sched.join(peer, rttMs)
    if (r === 'joined' || r === 'rejoined')
      this.emit({ type: 'peer-joined', peer: peer.id, rejoined: r === 'rejoined' })
    this.poke()
  }

  private refuse(id: string, kind: RefusalKind, reason: string): void {
    this.sched.refuse(id, kind, reason)
    this.emit({ type: 'peer-refused', peer: id, reason })
  }

  private leave(id: string): void {
    if (!this.sched.leave(id)) return
    this.emit({ type: 'peer-left', peer: id })
    this.fetcher?.peerLeft(id)
  }

  private changed(c: PeerChange): void {
    if (c.type === 'banned') this.emit({ type: 'peer-banned', peer: c.id, reason: c.reason })
    else this.emit({ type: 'peer-dropped', peer: c.id, reason: c.reason })
  }

  /**
   * Fails the sync when no peer is left that could make progress: none active, none being probed,
   * and none that left and could come back through the peer source.
   */
  private checkPeersLeft(): void {
    const walk = this.walk!
    if (walk.rootDone || this.sched.active().length > 0 || this.probing > 0) return
    const mayReturn = this.opts.joinPeers && this.sched.summary().some((p) => p.outcome === 'left')
    if (mayReturn) return
    this.fetcher!.fail(walk.wanted(16), 'every peer that had the target root is banned, rotated out or gone')
  }

  /** Wakes the loop when a backed-off peer becomes ready. */
  private armBackoffWake(): void {
    const at = this.sched.nextReadyAt()
    if (at === this.backoffAt) return
    this.cancelBackoff()
    this.backoffAt = at
    if (at === null) return
    this.cancelBackoff = this.clock.setTimer(at - this.clock.now(), () => {
      this.backoffAt = null
      this.poke()
    })
  }

  // ---- progress -------------------------------------------------------------------------------

  private tick(): void {
    if (this.meter.due(this.cfg.progressIntervalMs)) {
      this.emit({ type: 'progress', progress: this.progress('syncing') })
      if (this.writer.pending()) this.flushDue = true
    }
    const idle = this.meter.stalled(this.cfg.stallMs)
    if (idle !== null) {
      const peers = this.sched
        .summary()
        .map((p) => `${p.id}: ${this.sched.describe(p.id)}`)
        .join('; ')
      this.emit({
        type: 'stall',
        sinceMs: idle,
        progress: this.progress('syncing'),
        reason: `no verified node for ${Math.round(idle / 1000)} s — ${peers}`,
      })
    }
  }

  private progress(phase: SyncProgress['phase']): SyncProgress {
    return this.meter.report(phase)
  }
}
