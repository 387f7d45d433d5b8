/**
 * State sync (seed §7.1, fast sync): download the whole state trie under a trusted root — account
 * trie, storage tries, code — from several peers at once, into a node store.
 *
 * How it works
 * - A frontier of wanted hashes, served deepest first, is spread over all usable peers; each peer
 *   keeps a few requests in flight, sized from its measured rate (items/s × target round trip).
 * - Every reply item is hashed and must equal the hash asked for. Per item there are three outcomes:
 *   useful (stored), "don't have" (empty: no penalty, asked of another peer), provably bad (wrong
 *   hash: counted against the peer, banned past a threshold, asked elsewhere). Timeouts shrink a
 *   peer's request size; its measured rate (of useful items only) decides its share, so a fast peer
 *   that has nothing cannot starve the sync.
 * - Children before parents: a node is written to the store only once all its children are in the
 *   store, so "node present" always means "whole subtree present". That makes the sync incremental
 *   (a newer root only downloads what changed: present subtrees are skipped) and restarts safe (a
 *   crash never leaves a partial trie that looks complete). Nodes waiting for children are kept
 *   aside in the store (`sync/staged/<hash>`), written in the same atomic batch as the rest, so after
 *   a crash nothing received and persisted is downloaded again; they are adopted when the walk from
 *   the root meets them.
 * - The root's own write, in the same batch as the `state/root` record, is what marks the state
 *   complete.
 *
 * Security considerations: peers are untrusted. Nothing is stored unless its keccak equals a hash
 * taken from the trusted root or from a node already verified under it; the root itself must come
 * from a verified header (the caller's job). A node that hashes correctly but does not decode means
 * the root commits to invalid state: the sync stops with `InvalidStateError` rather than guess.
 * Peers cannot inflate memory: the frontier is capped and every reply is bounded by its request.
 */
import { timeoutSignal } from '../abort.ts'
import { accountRefs } from '../account.ts'
import { equals, toHex } from '../bytes.ts'
import { keccak256 } from '../hash.ts'
import { asBytes, asList, asSafeInt, rlpDecode, rlpEncode } from '../rlp.ts'
import type { NodeStore } from '../store.ts'
import {
  type BranchNode,
  decodeNode,
  type ExtensionNode,
  type LeafNode,
  type TrieNode,
} from '../trie/node.ts'
import { isEmptyRoot } from '../trie/trie.ts'
import {
  FailedToFetchStateNodes,
  InvalidStateError,
  NoPeersWithTargetState,
  type PeerReason,
  SyncAbortedError,
} from './errors.ts'
import { Frontier, type Want } from './frontier.ts'
import { newRefScan, scanRefs } from './node-refs.ts'
import {
  DEFAULT_SYNC_CONFIG,
  type PeerStats,
  type SyncConfig,
  type SyncEvent,
  type SyncPeer,
  type SyncProgress,
} from './types.ts'

export { STAGED_META_PREFIX as STAGED_PREFIX } from '../store.ts'

/**
 * The engine's identity for a hash: a 16-character string of its bytes (a Map key that is cheap to
 * build and hash; hex is for people and for store keys only).
 */
export function keyOf(h: Uint8Array): string {
  return keyAt(h, 0)
}

/** `keyOf` of the 32-byte hash at offset `o` of `b` (a child reference inside a node), without a copy. */
function keyAt(b: Uint8Array, o: number): string {
  return String.fromCharCode(
    (b[o]! << 8) | b[o + 1]!,
    (b[o + 2]! << 8) | b[o + 3]!,
    (b[o + 4]! << 8) | b[o + 5]!,
    (b[o + 6]! << 8) | b[o + 7]!,
    (b[o + 8]! << 8) | b[o + 9]!,
    (b[o + 10]! << 8) | b[o + 11]!,
    (b[o + 12]! << 8) | b[o + 13]!,
    (b[o + 14]! << 8) | b[o + 15]!,
    (b[o + 16]! << 8) | b[o + 17]!,
    (b[o + 18]! << 8) | b[o + 19]!,
    (b[o + 20]! << 8) | b[o + 21]!,
    (b[o + 22]! << 8) | b[o + 23]!,
    (b[o + 24]! << 8) | b[o + 25]!,
    (b[o + 26]! << 8) | b[o + 27]!,
    (b[o + 28]! << 8) | b[o + 29]!,
    (b[o + 30]! << 8) | b[o + 31]!,
  )
}

/** 16 ** -d for the depths the account trie has (progress accounting), computed once. */
const POW16 = Array.from({ length: 80 }, (_, d) => 16 ** -d)
const pow16 = (d: number): number => (d < 80 ? POW16[d]! : 16 ** -d)

export const STATE_ROOT_KEY = 'state/root'

export interface SyncOptions {
  store: NodeStore
  peers: SyncPeer[]
  config?: Partial<SyncConfig>
  signal?: AbortSignal
  onEvent?: (e: SyncEvent) => void
  /**
   * Peers that connect after the sync started (a WebRTC connection coming up on the page, say):
   * called once the run starts with a function that offers a peer; returns the unsubscribe. An
   * offered peer is probed for the target root like the first ones and used only if it has it.
   */
  joinPeers?: (offer: (peer: SyncPeer) => void) => () => void
  /** Clock (ms); tests may pass a fake. */
  now?: () => number
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
  peers: PeerStats[]
  /** Largest frontier seen (the memory bound in action). */
  maxFrontier: number
}

/** The synced state recorded by the last completed sync. */
export async function readSyncedRoot(store: NodeStore): Promise<{ root: Uint8Array; height: number } | null> {
  const b = await store.getMeta(STATE_ROOT_KEY)
  if (!b) return null
  const l = asList(rlpDecode(b), 'state root record', 2)
  return { root: asBytes(l[0], 'root', 32), height: asSafeInt(l[1], 'height') }
}

/**
 * A wanted node (or code blob), from the moment a verified parent names it until it is stored. One
 * class, so every entry has the same shape; most nodes have exactly one parent, kept in `parent`.
 */
class Entry implements Want {
  /** Further parents (a subtree shared by several nodes). */
  parents: Entry[] | null = null
  /** Children not yet stored. */
  missing = 0
  /** Set once received and verified; cleared once written. */
  bytes: Uint8Array | undefined = undefined
  attempts = 0
  lackedBy: Set<string> | undefined = undefined
  /** In the frontier, to be asked for. */
  queued = false
  /** Written (completed): leaves `entries` at the next flush. */
  done = false
  /** Waiting for children since the last flush: staged at the flush if still waiting. */
  staging = false
  constructor(
    readonly hash: Uint8Array,
    readonly key: string,
    readonly kind: Want['kind'],
    readonly depth: number,
    public parent: Entry | null,
  ) {}
}

interface PeerState {
  peer: SyncPeer
  stats: PeerStats
  consecutiveFailures: number
  backoffUntil: number
}

interface Reply {
  ps: PeerState
  wants: Entry[]
  items?: Uint8Array[]
  error?: Error
  ms: number
}

export class StateSynchronizer {
  private readonly cfg: SyncConfig
  private readonly now: () => number
  constructor(private readonly opts: SyncOptions) {
    this.cfg = { ...DEFAULT_SYNC_CONFIG, ...opts.config }
    this.now = opts.now ?? (() => Date.now())
  }

  /** Syncs the state trie under `root` (which a verified header at `height` commits to). */
  async syncToState(root: Uint8Array, height: number): Promise<SyncResult> {
    return new SyncRun(this.opts, this.cfg, this.now, root, height).run()
  }
}

export function syncToState(root: Uint8Array, height: number, opts: SyncOptions): Promise<SyncResult> {
  return new StateSynchronizer(opts).syncToState(root, height)
}

class SyncRun {
  private readonly store: NodeStore
  private readonly signal: AbortSignal
  private readonly rootKey: string
  /**
   * Wanted nodes by key, and nodes written since the last flush (`done`: a child met again is
   * skipped, not downloaded twice); those leave at the flush.
   */
  private readonly entries = new Map<string, Entry>()
  private doneSinceFlush: Entry[] = []
  private readonly frontier = new Frontier<Entry>()
  /** Keys of nodes kept aside in the store (flushed). */
  private readonly stagedKeys = new Set<string>()
  /**
   * Nodes waiting for children since the last flush (`Entry.staging`); staged at the flush if still
   * waiting. `toStageCount` of them still are.
   */
  private toStage: Entry[] = []
  private toStageCount = 0
  /** Scratch for the fast reference scan, and for `complete`. */
  private readonly refScan = newRefScan()
  private readonly completing: Entry[] = []
  private checkPresence = true
  private peers: PeerState[] = []
  // The write batch in progress: nodes, and metadata (null deletes), flushed atomically.
  private pendingNodes: [Uint8Array, Uint8Array][] = []
  private pendingMeta = new Map<string, Uint8Array | null>()
  /** Staging changes since the last flush: bytes to stage, or null to unstage. */
  private pendingStage = new Map<string, [Uint8Array, Uint8Array | null]>()
  private readonly replies: Reply[] = []
  private wake: (() => void) | null = null
  private inFlight = 0
  private coverage = 0
  private processed = 0
  private skipped = 0
  private bytes = 0
  private rootDone = false
  private fatal: Error | null = null
  private startedAt = 0
  private lastProgressAt = 0
  private lastEventAt = 0
  private lastStallEventAt = 0
  private maxFrontier = 0
  private samples: { t: number; n: number; b: number }[] = []
  private flushDue = false

  constructor(
    opts: SyncOptions,
    private readonly cfg: SyncConfig,
    private readonly now: () => number,
    private readonly root: Uint8Array,
    private readonly height: number,
  ) {
    this.store = opts.store
    this.signal = opts.signal ?? new AbortController().signal
    this.rootKey = toHex(root)
    this.emit = opts.onEvent ?? (() => {})
    this.peerList = opts.peers
    this.opts = opts
  }
  private readonly opts: SyncOptions
  private readonly emit: (e: SyncEvent) => void
  private readonly peerList: SyncPeer[]

  async run(): Promise<SyncResult> {
    this.startedAt = this.now()
    this.lastProgressAt = this.startedAt
    if (this.signal.aborted) throw new SyncAbortedError()
    if (isEmptyRoot(this.root) || (await this.store.hasNode(this.root))) {
      await this.store.write({ meta: [[STATE_ROOT_KEY, rlpEncode([this.root, this.height])]] })
      return this.finish()
    }
    for await (const h of this.store.stagedHashes()) this.stagedKeys.add(keyOf(h))
    // A store with no completed state and nothing staged holds nothing of ours: skip presence checks.
    this.checkPresence =
      this.cfg.checkPresence ??
      (this.stagedKeys.size > 0 || (await this.store.getMeta(STATE_ROOT_KEY)) !== undefined)

    const rootEntry = this.newEntry(this.root, keyOf(this.root), 'state', 0, null)
    rootEntry.bytes = await this.probe()
    await this.acceptMany([rootEntry], false)

    const unsubscribe = this.opts.joinPeers?.((peer) => void this.join(peer)) ?? (() => {})
    const ticker = setInterval(() => this.poke(), Math.min(this.cfg.progressIntervalMs, 250))
    const onAbort = () => this.poke()
    this.signal.addEventListener('abort', onAbort)
    try {
      while (!this.rootDone) {
        if (this.signal.aborted) throw new SyncAbortedError()
        if (this.fatal) throw this.fatal
        this.dispatch()
        if (!this.replies.length) await new Promise<void>((r) => (this.wake = r))
        this.wake = null
        while (this.replies.length && !this.fatal) await this.handle(this.replies.shift()!)
        this.tick()
        // Persist what the replies just handled brought, in one atomic batch, before asking for more:
        // a crash then loses at most the requests in flight.
        if (this.flushDue || this.pendingOps() > 0) await this.flush()
      }
      await this.flush()
      // Everything reachable from the root is now stored; what is still staged belongs to an older
      // target and will never be adopted.
      if (this.stagedKeys.size) {
        for await (const h of this.store.stagedHashes()) this.pendingStage.set(keyOf(h), [h, null])
        this.stagedKeys.clear()
        await this.flush()
      }
      return this.finish()
    } catch (e) {
      // Keep what was verified: the batch is consistent on its own (children before parents).
      await this.flush().catch(() => {})
      throw e
    } finally {
      clearInterval(ticker)
      unsubscribe()
      this.signal.removeEventListener('abort', onAbort)
    }
  }

  private finish(): SyncResult {
    const progress = this.progress('done')
    this.emit({ type: 'done', progress })
    return {
      root: this.rootKey,
      height: this.height,
      nodes: this.processed,
      skipped: this.skipped,
      bytes: this.bytes,
      ms: this.now() - this.startedAt,
      peers: this.peers.map((p) => ({ ...p.stats })),
      maxFrontier: this.maxFrontier,
    }
  }

  private poke(): void {
    this.wake?.()
  }

  // ---- peers ----------------------------------------------------------------------------------

  /** Finds the peers that have the target root; returns the root node from the first that does. */
  private async probe(): Promise<Uint8Array> {
    const reasons: PeerReason[] = []
    let rootBytes: Uint8Array | null = null
    this.emit({ type: 'progress', progress: this.progress('probing') })
    await Promise.all(
      this.peerList.map(async (peer) => {
        const r = await this.probeOne(peer)
        if (typeof r === 'string') reasons.push({ peer: peer.id, reason: r })
        else rootBytes ??= r
      }),
    )
    if (this.signal.aborted) throw new SyncAbortedError()
    if (!rootBytes || !this.peers.length) throw new NoPeersWithTargetState(this.rootKey, reasons)
    this.bytes += (rootBytes as Uint8Array).length
    this.processed++
    return rootBytes
  }

  /** Asks one peer for the target root: its bytes if it has it (and joins the run), else why not. */
  private async probeOne(peer: SyncPeer): Promise<Uint8Array | string> {
    const { signal, clear } = timeoutSignal(this.signal, this.cfg.requestTimeoutMs)
    const stats = newStats(peer.id, this.cfg.initialBatch)
    try {
      const t = this.now()
      const [b] = await peer.getNodes([this.root], signal)
      stats.rttMs = this.now() - t
      if (!b || b.length === 0) return 'does not have the target root'
      if (!equals(keccak256(b), this.root)) return 'answered with a node that is not the target root'
      this.peers.push({ peer, stats, consecutiveFailures: 0, backoffUntil: 0 })
      return b
    } catch (e) {
      return (e as Error).message
    } finally {
      clear()
    }
  }

  /** A peer offered mid-sync: used once it proves it has the target root. */
  private async join(peer: SyncPeer): Promise<void> {
    if (this.peers.some((p) => p.peer.id === peer.id)) return
    const r = await this.probeOne(peer)
    if (typeof r === 'string') this.emit({ type: 'peer-refused', peer: peer.id, reason: r })
    this.poke()
  }

  private usable(ps: PeerState): boolean {
    return ps.stats.banned === null
  }

  private dispatch(): void {
    const now = this.now()
    const ready = this.peers
      .filter(
        (p) => this.usable(p) && p.backoffUntil <= now && p.stats.inFlight < this.cfg.maxInFlightPerPeer,
      )
      .sort(
        (a, b) =>
          b.stats.rate - a.stats.rate ||
          a.stats.timeouts + a.stats.errors - (b.stats.timeouts + b.stats.errors),
      )
    if (!ready.length) return
    // Past the frontier cap, expansion slows to one small request at a time so deep nodes drain.
    const overCap = this.frontier.size >= this.cfg.frontierCap
    // Round-robin, one request per peer per pass, each at most a fair share of what is queued, so
    // one fast peer does not take everything while others idle.
    for (let progress = true; progress && this.frontier.size > 0; ) {
      progress = false
      for (const ps of ready) {
        if (ps.stats.inFlight >= this.cfg.maxInFlightPerPeer || this.frontier.size === 0) continue
        if (overCap && this.inFlight > 0) return
        const share = Math.ceil(this.frontier.size / ready.length)
        const n = overCap ? this.cfg.minBatch : Math.min(ps.stats.batch, share)
        const id = ps.peer.id
        const wants = this.frontier.take(n, (e) => !e.done && e.lackedBy !== undefined && e.lackedBy.has(id))
        if (!wants.length) continue
        // A want may have been answered late by an earlier peer while it waited here: skip it.
        const es: Entry[] = []
        for (const e of wants) {
          if (e.done || e.bytes || !e.queued) continue
          e.queued = false
          es.push(e)
        }
        if (es.length) this.send(ps, es)
        progress = true
      }
    }
  }

  /** Fails the sync when no peer is left that could make progress. */
  private checkPeersLeft(): void {
    if (this.fatal || this.rootDone) return
    if (!this.peers.some((p) => this.usable(p))) {
      const sample = [...this.entries.values()].filter((e) => e.queued && !e.done).slice(0, 16)
      this.fail(sample, 'every peer that had the target root is banned')
    }
  }

  private send(ps: PeerState, wants: Entry[]): void {
    ps.stats.inFlight++
    ps.stats.requests++
    this.inFlight++
    const started = this.now()
    const { signal, clear } = timeoutSignal(this.signal, this.cfg.requestTimeoutMs)
    // A peer (or transport) that ignores the abort must not hold a request slot forever.
    let deadline: ReturnType<typeof setTimeout> | undefined
    const ignored = new Promise<never>((_, reject) => {
      deadline = setTimeout(
        () =>
          reject(
            new DOMException(
              `no reply within ${this.cfg.requestTimeoutMs} ms (abort ignored)`,
              'TimeoutError',
            ),
          ),
        this.cfg.requestTimeoutMs + 1000,
      )
    })
    Promise.race([
      ps.peer.getNodes(
        wants.map((e) => e.hash),
        signal,
      ),
      ignored,
    ])
      .then(
        (items) => this.replies.push({ ps, wants, items, ms: this.now() - started }),
        (error: Error) => this.replies.push({ ps, wants, error, ms: this.now() - started }),
      )
      .finally(() => {
        clearTimeout(deadline)
        clear()
        this.poke()
      })
  }

  private requeue(e: Entry): void {
    if (e.queued) return
    e.queued = true
    this.frontier.push(e)
    // A hash no usable peer can give us ends the sync with a clear error instead of a silent stall.
    const usable = this.peers.filter((p) => this.usable(p))
    if (!usable.length) {
      this.fail([e], 'every peer that had the target root is banned')
    } else if (e.lackedBy && usable.every((p) => e.lackedBy!.has(p.peer.id))) {
      this.fail([e], 'no usable peer has this node')
    } else if (e.attempts > this.cfg.maxRetries) {
      this.fail([e], `${e.attempts} failed attempts`)
    }
  }

  private fail(entries: Entry[], why: string): void {
    if (this.fatal) return
    const reasons: PeerReason[] = this.peers.map((p) => ({ peer: p.peer.id, reason: describePeer(p.stats) }))
    reasons.unshift({ peer: '*', reason: why })
    this.fatal = new FailedToFetchStateNodes(
      entries.map((e) => toHex(e.hash)),
      reasons,
    )
    this.poke()
  }

  private async handle(r: Reply): Promise<void> {
    const { ps, wants } = r
    const s = ps.stats
    s.inFlight--
    this.inFlight--
    if (r.error) {
      if (this.signal.aborted) return
      const timeout = r.error.name === 'TimeoutError' || /timeout/i.test(r.error.message)
      if (timeout) {
        s.timeouts++
        s.batch = Math.max(this.cfg.minBatch, Math.floor(s.batch / 2))
      } else s.errors++
      ps.consecutiveFailures++
      ps.backoffUntil = this.now() + Math.min(5000, 100 * 2 ** ps.consecutiveFailures)
      s.rate *= 0.5
      for (const e of wants) {
        e.attempts++
        this.requeue(e)
      }
      return
    }
    ps.consecutiveFailures = 0
    const items = r.items!
    let useful = 0
    let bad = 0
    // Verified and not delivered before (an entry requeued meanwhile may come twice): `bytes` set.
    const fresh: Entry[] = []
    let freshBytes = 0
    for (let i = 0; i < wants.length; i++) {
      const e = wants[i]!
      const b = items[i]
      if (b === undefined) {
        this.requeue(e) // not served this time (size limit): no penalty
        continue
      }
      if (b.length === 0) {
        s.missing++
        ;(e.lackedBy ??= new Set()).add(ps.peer.id)
        this.requeue(e)
        continue
      }
      if (!equals(keccak256(b), e.hash)) {
        // Charged to the peer, and this hash is not asked of it again; other peers still may.
        bad++
        ;(e.lackedBy ??= new Set()).add(ps.peer.id)
        this.requeue(e)
        continue
      }
      useful++
      s.delivered++
      s.bytes += b.length
      if (e.done || e.bytes) continue // delivered twice (requeued meanwhile)
      e.bytes = b
      freshBytes += b.length
      fresh.push(e)
    }
    if (bad) {
      s.bad += bad
      if (s.bad >= this.cfg.banThreshold && s.banned === null) {
        s.banned = `sent ${s.bad} node(s) that do not match the requested hash`
        this.emit({ type: 'peer-banned', peer: ps.peer.id, reason: s.banned })
        this.checkPeersLeft()
      }
    }
    // Rate of useful items only: a peer that answers fast with nothing gets smaller requests.
    const sample = (useful / Math.max(r.ms, 1)) * 1000
    s.rate = s.rate === 0 ? sample : 0.7 * s.rate + 0.3 * sample
    s.rttMs = s.rttMs === 0 ? r.ms : 0.7 * s.rttMs + 0.3 * r.ms
    s.batch = clamp(Math.round((s.rate * this.cfg.targetRttMs) / 1000), this.cfg.minBatch, this.cfg.maxBatch)
    if (fresh.length) {
      this.processed += fresh.length
      this.bytes += freshBytes
      this.lastProgressAt = this.now()
      await this.acceptMany(fresh, false)
    }
  }

  // ---- the trie walk -------------------------------------------------------------------------

  private newEntry(
    hash: Uint8Array,
    key: string,
    kind: Want['kind'],
    depth: number,
    parent: Entry | null,
  ): Entry {
    const e = new Entry(hash, key, kind, depth, parent)
    this.entries.set(key, e)
    return e
  }

  /**
   * Verified nodes (or code), each with `bytes` set: find which children are still needed and
   * complete each node whose children are all stored. On a store that may hold some of them
   * already, one presence query for all the children of the batch comes first.
   */
  private async acceptMany(list: Entry[], fromStaging: boolean): Promise<void> {
    let present: Set<string> | null = null
    if (this.checkPresence) {
      present = await this.presentChildren(list)
      if (!present) return
    }
    let adopt: Entry[] | null = null
    for (const e of list) {
      if (e.kind !== 'code') {
        const a = this.expand(e, present)
        if (a === false) return
        if (a) adopt = adopt ? adopt.concat(a) : a
      }
      if (e.missing === 0) this.complete(e)
      else if (!fromStaging) {
        e.staging = true
        this.toStage.push(e)
        this.toStageCount++
      }
    }
    if (this.frontier.size > this.maxFrontier) this.maxFrontier = this.frontier.size
    if (!adopt) return
    // Children received before a restart and kept aside: adopt them instead of downloading.
    const again: Entry[] = []
    for (const ce of adopt) {
      const staged = await this.store.getStaged(ce.hash)
      if (staged && equals(keccak256(staged), ce.hash)) {
        this.skipped++
        ce.bytes = staged
        again.push(ce)
      } else {
        // Missing or corrupt aside-copy: forget it and download the node.
        this.stagedKeys.delete(ce.key)
        this.pendingStage.set(ce.key, [ce.hash, null])
        ce.queued = true
        this.frontier.push(ce)
      }
    }
    if (again.length) await this.acceptMany(again, true)
  }

  /**
   * Links `e` to its children: each is already wanted (one more parent), stored (skipped), staged
   * (returned, to adopt) or new (queued). False after an undecodable node (the sync's fatal error).
   */
  private expand(e: Entry, present: Set<string> | null): Entry[] | null | false {
    const b = e.bytes!
    const r = this.refScan
    let adopt: Entry[] | null = null
    if (scanRefs(b, e.kind === 'storage' ? 'storage' : 'state', r)) {
      for (let i = 0; i < r.n; i++) {
        const off = r.off[i]!
        const key = keyAt(b, off)
        const known = this.entries.get(key)
        const kind = r.kind[i]!
        const depth = e.depth + r.depthDelta[i]!
        if (known && !known.done) {
          this.link(known, e)
          continue
        }
        if (known || present?.has(key)) {
          this.skip(kind, depth) // written since the last flush, or already in the store
          continue
        }
        // A view, not a copy: `e` (and its bytes) stays until this child is stored; stores copy keys.
        const ce = this.newEntry(b.subarray(off, off + 32), key, kind, depth, e)
        e.missing++
        if (this.stagedKeys.size && this.stagedKeys.has(key)) (adopt ??= []).push(ce)
        else {
          ce.queued = true
          this.frontier.push(ce)
        }
      }
      if (r.closed) {
        const c = pow16(e.depth + r.closedDelta)
        for (let i = 0; i < r.closed; i++) this.coverage += c
      }
      return adopt
    }
    // Any other shape (inline children, a branch value) or malformed: the full decoders.
    const children: Want[] = []
    try {
      this.children(decodeNode(b), e, children)
    } catch (err) {
      this.fatal = new InvalidStateError(toHex(e.hash), (err as Error).message)
      return false
    }
    for (const c of children) {
      const known = this.entries.get(c.key)
      if (known && !known.done) {
        this.link(known, e)
        continue
      }
      if (known || present?.has(c.key)) {
        this.skip(c.kind, c.depth)
        continue
      }
      const ce = this.newEntry(c.hash, c.key, c.kind, c.depth, e)
      e.missing++
      if (this.stagedKeys.has(c.key)) (adopt ??= []).push(ce)
      else {
        ce.queued = true
        this.frontier.push(ce)
      }
    }
    return adopt
  }

  /** `parent` waits for `child` too. */
  private link(child: Entry, parent: Entry): void {
    if (child.parent === null) child.parent = parent
    else (child.parents ??= []).push(parent)
    parent.missing++
  }

  /**
   * Keys of the children of `list` that the store already holds (one presence query), or null after
   * an undecodable node (the sync's fatal error).
   */
  private async presentChildren(list: Entry[]): Promise<Set<string> | null> {
    const ask: Want[] = []
    for (const e of list) {
      if (e.kind === 'code') continue
      const children: Want[] = []
      try {
        this.children(decodeNode(e.bytes!), e, children, false)
      } catch (err) {
        this.fatal = new InvalidStateError(toHex(e.hash), (err as Error).message)
        return null
      }
      for (const c of children) if (!this.entries.has(c.key)) ask.push(c)
    }
    const present = new Set<string>()
    if (!ask.length) return present
    const answers = await this.store.hasNodes(ask.map((c) => c.hash))
    for (let i = 0; i < ask.length; i++) if (answers[i]) present.add(ask[i]!.key)
    return present
  }

  /** A child found already stored: its whole subtree is complete. */
  private skip(kind: Want['kind'], depth: number): void {
    this.skipped++
    if (kind === 'state') this.coverage += pow16(depth)
    this.lastProgressAt = this.now()
  }

  /**
   * Hash references of `node`, and (with `count`) the account-trie key space it closes (empty or
   * inline slots). The general path; `scanRefs` reads the common shapes without decoding.
   */
  private children(node: TrieNode, w: Want, out: Want[], count = true): void {
    const state = w.kind === 'state'
    const ref = (n: TrieNode | null, depth: number) => {
      if (n === null || n.kind !== 'hash') {
        if (state && count) this.coverage += pow16(depth)
        if (n && state) this.inlineRefs(n, out, depth)
        return
      }
      const hash = n.hash.slice()
      out.push({ hash, key: keyOf(hash), kind: w.kind, depth })
    }
    switch (node.kind) {
      case 'leaf':
        this.leafRefs(node, w, out)
        if (state && count) this.coverage += pow16(w.depth)
        return
      case 'extension':
        ref((node as ExtensionNode).child, w.depth + node.path.length)
        return
      case 'branch':
        for (let i = 0; i < 16; i++) ref((node as BranchNode).children[i] ?? null, w.depth + 1)
        return
    }
  }

  /** Account leaves point at a storage trie and code; storage leaves point at nothing. */
  private leafRefs(node: LeafNode, w: Want, out: Want[]): void {
    if (w.kind !== 'state') return
    for (const r of accountRefs(node.value)) {
      const hash = r.hash.slice()
      out.push({ hash, key: keyOf(hash), kind: r.kind, depth: w.depth + 1 })
    }
  }

  /** Inline children (encodings under 32 bytes) cannot hold hashes, but their leaves could be accounts. */
  private inlineRefs(n: TrieNode, out: Want[], depth: number): void {
    if (n.kind === 'leaf') this.leafRefs(n, { hash: new Uint8Array(), key: '', kind: 'state', depth }, out)
  }

  /** `e` and its subtree are stored: write it, and complete every parent that was only waiting for it. */
  private complete(first: Entry): void {
    const stack = this.completing
    stack.push(first)
    while (stack.length) {
      const e = stack.pop()!
      const key = e.key
      e.done = true
      this.doneSinceFlush.push(e)
      this.pendingNodes.push([e.hash, e.bytes!])
      // Staged since the last flush: never written, so nothing to delete.
      if (e.staging) {
        e.staging = false
        this.toStageCount--
      } else if (this.stagedKeys.size && this.stagedKeys.delete(key))
        this.pendingStage.set(key, [e.hash, null])
      if (e.depth === 0 && e.kind === 'state') {
        this.rootDone = true
        this.pendingMeta.set(STATE_ROOT_KEY, rlpEncode([this.root, this.height]))
      }
      e.bytes = undefined
      const p = e.parent
      if (p !== null) {
        if (--p.missing === 0) stack.push(p)
        e.parent = null
      }
      const ps = e.parents
      if (ps !== null) {
        for (const q of ps) if (--q.missing === 0) stack.push(q)
        e.parents = null
      }
    }
  }

  private pendingOps(): number {
    return this.pendingNodes.length + this.pendingMeta.size + this.pendingStage.size + this.toStageCount
  }

  private async flush(): Promise<void> {
    this.flushDue = false
    // Nodes still waiting for children go aside now; most nodes staged since the last flush have
    // completed meanwhile (deepest first) and are never written twice.
    for (const e of this.toStage) {
      if (!e.staging) continue // completed meanwhile
      e.staging = false
      this.pendingStage.set(e.key, [e.hash, e.bytes!])
      this.stagedKeys.add(e.key)
    }
    this.toStage = []
    this.toStageCount = 0
    if (!this.pendingOps()) return
    const nodes = this.pendingNodes
    const meta = this.pendingMeta
    const done = this.doneSinceFlush
    this.doneSinceFlush = []
    this.pendingNodes = []
    this.pendingMeta = new Map()
    const staging = [...this.pendingStage.values()]
    this.pendingStage = new Map()
    await this.store.write({
      nodes,
      meta,
      stage: staging.filter((x): x is [Uint8Array, Uint8Array] => x[1] !== null),
      unstage: staging.filter(([, v]) => v === null).map(([h]) => h),
    })
    for (const e of done) this.entries.delete(e.key)
  }

  // ---- progress -------------------------------------------------------------------------------

  private tick(): void {
    const now = this.now()
    if (now - this.lastEventAt >= this.cfg.progressIntervalMs) {
      this.lastEventAt = now
      this.samples.push({ t: now, n: this.processed, b: this.bytes })
      while (this.samples.length > 2 && now - this.samples[0]!.t > 5000) this.samples.shift()
      this.emit({ type: 'progress', progress: this.progress('syncing') })
      if (this.pendingOps()) this.flushDue = true
    }
    const idle = now - this.lastProgressAt
    if (idle >= this.cfg.stallMs && now - this.lastStallEventAt >= this.cfg.stallMs) {
      this.lastStallEventAt = now
      const reason = this.peers.map((p) => `${p.peer.id}: ${describePeer(p.stats)}`).join('; ')
      this.emit({
        type: 'stall',
        sinceMs: idle,
        progress: this.progress('syncing'),
        reason: `no verified node for ${Math.round(idle / 1000)} s — ${reason}`,
      })
    }
  }

  progress(phase: SyncProgress['phase']): SyncProgress {
    const now = this.now()
    const elapsed = now - this.startedAt
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    const span = first && last && last.t > first.t ? (last.t - first.t) / 1000 : elapsed / 1000
    const rate =
      first && last && last.t > first.t
        ? (last.n - first.n) / span
        : this.processed / Math.max(elapsed / 1000, 0.001)
    const brate =
      first && last && last.t > first.t
        ? (last.b - first.b) / span
        : this.bytes / Math.max(elapsed / 1000, 0.001)
    const done = phase === 'done'
    const coverage = done ? 1 : Math.min(this.coverage, 0.9999)
    const estTotal = coverage > 0.001 ? this.processed / coverage : 0
    const remaining = done
      ? 0
      : Math.max(this.frontier.size + this.inFlight, Math.round(estTotal - this.processed))
    return {
      targetRoot: this.rootKey,
      targetHeight: this.height,
      phase,
      nodesProcessed: this.processed,
      nodesSkipped: this.skipped,
      nodesRemaining: remaining,
      bytesDownloaded: this.bytes,
      nodesPerSecond: rate,
      bytesPerSecond: brate,
      percent: coverage * 100,
      etaSeconds: done ? 0 : rate > 0 && coverage > 0.001 ? remaining / rate : null,
      elapsedMs: elapsed,
      frontier: this.frontier.size,
      inFlight: this.inFlight,
      staged: this.stagedKeys.size,
      peers: this.peers.map((p) => ({ ...p.stats })),
    }
  }
}

function newStats(id: string, batch: number): PeerStats {
  return {
    id,
    requests: 0,
    inFlight: 0,
    delivered: 0,
    bytes: 0,
    missing: 0,
    bad: 0,
    timeouts: 0,
    errors: 0,
    rate: 0,
    rttMs: 0,
    batch,
    banned: null,
  }
}

function describePeer(s: PeerStats): string {
  if (s.banned) return `banned: ${s.banned}`
  const parts = [`${s.delivered} delivered`]
  if (s.missing) parts.push(`${s.missing} not had`)
  if (s.bad) parts.push(`${s.bad} bad`)
  if (s.timeouts) parts.push(`${s.timeouts} timeouts`)
  if (s.errors) parts.push(`${s.errors} errors`)
  return parts.join(', ')
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, n))
}
