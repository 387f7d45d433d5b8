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
 * - the probe for the target root (probe.ts): work starts with the first peer that returns it
 *   verified; the others join (or are refused, with why) as they answer.
 * This file is the run: options, peers joining and leaving, the loop that ties the parts together,
 * and the result. Time comes only through the `Clock` port.
 *
 * Security considerations: peers are untrusted. Nothing is stored unless its keccak equals a hash
 * taken from the trusted root or from a node already verified under it; the root itself must come
 * from a verified header (the caller's job). A node that hashes correctly but does not decode means
 * the root commits to invalid state: the sync stops with `InvalidStateError` rather than guess.
 * Peers cannot inflate memory: the frontier is capped and every reply is bounded by its request.
 */
import { toHex } from '../bytes.ts'
import type { Clock } from '../clock.ts'
import { createScheduler, type PeerChange, type PeerScheduler } from '../peers/scheduler.ts'
import type { NodeStore } from '../store.ts'
import { startTask, type Task } from '../task.ts'
import { isEmptyRoot } from '../trie/trie.ts'
import { SyncAbortedError } from './errors.ts'
import { NodeFetcher } from './fetch.ts'
import { RootProbe } from './probe.ts'
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
  private readonly probe: RootProbe
  private flushDue = false
  private backoffAt: number | null = null
  private cancelBackoff = () => {}

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
    this.probe = new RootProbe(
      this.clock,
      cfg.requestTimeoutMs,
      root,
      this.rootKey,
      this.sched,
      signal,
      this.emit,
      () => this.poke(),
    )
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
      () => this.probe.probing > 0,
    )
    this.fetcher = fetcher
    const onAbort = () => this.poke()
    this.signal.addEventListener('abort', onAbort)
    const unsubscribe =
      this.opts.joinPeers?.(
        (peer) => this.probe.offer(peer),
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
      const rootBytes = await this.probe.first(this.opts.peers)
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
      this.probe.end()
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
    this.probe.end()
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
    if (walk.rootDone || this.sched.active().length > 0 || this.probe.probing > 0) return
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
