/**
 * The sync's requests: hands wanted hashes from the walk's frontier to the peers the scheduler says
 * are ready, verifies every reply item against the hash asked for, and reports each request's
 * outcome back to the scheduler.
 *
 * - Each item is useful (verified: handed to the walk), lacking (empty: asked elsewhere, no penalty),
 *   bad (does not hash to what was asked: charged, never stored, asked elsewhere) or not served this
 *   time (the reply was cut short: asked again, no penalty).
 * - A request outstanding past its peer's usual round trip (the scheduler's `hedgeAt`) is also asked
 *   of another peer: the first verified answer wins, the late one is verified and ignored (never
 *   counted or stored twice). `Entry.asked` counts the requests carrying an entry, so a hash is put
 *   back in the frontier only when no request for it is still out.
 * - A request is settled as a timeout when its time is up, whether or not the peer honours the
 *   abort: a deaf peer cannot hold a request slot.
 *
 * Security considerations: nothing is handed on unless its keccak equals the hash asked for; replies
 * longer than the request are ignored past its length; a peer that sends provably bad data is banned
 * by the scheduler past its threshold.
 */
import { equals, toHex } from '../bytes.ts'
import { type Clock, timeoutSignal } from '../clock.ts'
import { keccak256 } from '../hash.ts'
import {
  failedOutcome,
  type Outcome,
  type PeerChange,
  type PeerRequest,
  type PeerScheduler,
} from '../peers/scheduler.ts'
import type { Entry } from './entry.ts'
import { FailedToFetchStateNodes, type PeerReason } from './errors.ts'
import type { ProgressMeter } from './progress.ts'
import type { SyncConfig, SyncPeer } from './types.ts'
import type { TrieWalk } from './walk.ts'

interface Request {
  readonly req: PeerRequest<SyncPeer>
  readonly wants: Entry[]
  open: boolean
  hedged: boolean
  cancel: () => void
}

interface Reply {
  r: Request
  items: Uint8Array[] | undefined
  error: unknown
}

const BAD_HASH = 'do not match the requested hash'

export class NodeFetcher {
  /** Requests in flight. */
  inFlight = 0
  fatal: Error | null = null
  private replies: Reply[] = []
  private overdue: Request[] = []
  private readonly open = new Set<Request>()
  /** Aborts every request still out when the run ends. */
  private readonly requests = new AbortController()

  constructor(
    private readonly cfg: SyncConfig,
    private readonly clock: Clock,
    private readonly sched: PeerScheduler<SyncPeer>,
    private readonly walk: TrieWalk,
    private readonly meter: ProgressMeter,
    private readonly runSignal: AbortSignal,
    /** A peer's standing changed (banned, rotated out). */
    private readonly onChange: (c: PeerChange) => void,
    /** Something arrived: the run loop should look. */
    private readonly poke: () => void,
    /** Whether peers may still join (probes out): a hash no active peer has is not yet hopeless. */
    private readonly mayGainPeers: () => boolean,
  ) {
    const stop = () => this.requests.abort(runSignal.reason)
    if (runSignal.aborted) stop()
    else runSignal.addEventListener('abort', stop, { once: true })
  }

  hasReplies(): boolean {
    return this.replies.length > 0
  }

  /** Gives queued hashes to ready peers: overdue requests' hashes first, then the frontier. */
  dispatch(): void {
    const ready = this.sched.ready()
    if (!ready.length) return
    if (this.overdue.length) this.hedge(ready)
    const frontier = this.walk.frontier
    const max = this.cfg.maxInFlightPerPeer
    // Past the frontier cap, expansion slows to one small request at a time so deep nodes drain.
    const overCap = frontier.size >= this.cfg.frontierCap
    // Round-robin, one request per peer per pass, each at most a fair share of what is queued, so
    // one fast peer does not take everything while others idle.
    for (let progress = true; progress && frontier.size > 0; ) {
      progress = false
      for (const p of ready) {
        if (p.stats.inFlight >= max || frontier.size === 0) continue
        if (overCap && this.inFlight > 0) return
        const share = Math.ceil(frontier.size / ready.length)
        const n = overCap ? this.cfg.minBatch : Math.min(p.stats.batch, share)
        const id = p.id
        const wants = frontier.take(n, (e) => !e.done && e.lackedBy !== undefined && e.lackedBy.has(id))
        if (!wants.length) continue
        // A want may have been answered meanwhile by a hedged request: skip it.
        const es: Entry[] = []
        for (const e of wants) {
          if (e.done || e.bytes || !e.queued) continue
          e.queued = false
          es.push(e)
        }
        if (es.length) this.send(id, es)
        progress = true
      }
    }
  }

  /** Overdue requests: their unanswered hashes are asked of another ready peer too (once). */
  private hedge(ready: ReturnType<PeerScheduler<SyncPeer>['ready']>): void {
    const max = this.cfg.maxInFlightPerPeer
    const waiting: Request[] = []
    for (const r of this.overdue) {
      if (!r.open || r.hedged) continue
      const alt = ready.find((p) => p.id !== r.req.id && p.stats.inFlight < max)
      if (!alt) {
        waiting.push(r)
        continue
      }
      r.hedged = true
      const es = r.wants.filter((e) => !e.done && !e.bytes && !e.lackedBy?.has(alt.id))
      if (es.length) this.send(alt.id, es)
    }
    this.overdue = waiting
  }

  /** `id` is gone: its requests still out are overdue now. */
  peerLeft(id: string): void {
    for (const r of this.open) if (r.req.id === id && !r.hedged) this.overdue.push(r)
    this.poke()
  }

  private send(id: string, wants: Entry[]): void {
    const req = this.sched.begin(id)
    for (const e of wants) e.asked++
    this.inFlight++
    const cfg = this.cfg
    const { signal, clear } = timeoutSignal(this.clock, this.requests.signal, cfg.requestTimeoutMs)
    const r: Request = { req, wants, open: true, hedged: false, cancel: clear }
    const settle = (items: Uint8Array[] | undefined, error: unknown) => {
      if (!r.open) return
      r.open = false
      r.cancel()
      signal.removeEventListener('abort', onAbort)
      this.open.delete(r)
      this.replies.push({ r, items, error })
      this.poke()
    }
    // Timed out (or cancelled) means settled now, whether or not the peer honours the abort: a deaf
    // peer cannot hold a request slot, and its late answer is ignored.
    const onAbort = () => settle(undefined, signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    const cancelHedge = this.clock.setTimer(Math.max(0, req.hedgeAt - req.startedAt), () => {
      if (!r.open || r.hedged) return
      this.overdue.push(r)
      this.poke()
    })
    r.cancel = () => {
      clear()
      cancelHedge()
    }
    this.open.add(r)
    const hashes = wants.map((e) => e.hash)
    new Promise<Uint8Array[]>((resolve) => resolve(req.peer.getNodes(hashes, signal))).then(
      (items) => settle(items, undefined),
      (error: unknown) => settle(undefined, error),
    )
  }

  /** Handles the replies that arrived, handing verified nodes to the walk. */
  async handleReplies(): Promise<void> {
    while (this.replies.length && !this.fatal && !this.walk.fatal) await this.handle(this.replies.shift()!)
  }

  private async handle({ r, items, error }: Reply): Promise<void> {
    const { req, wants } = r
    this.inFlight--
    for (const e of wants) e.asked--
    if (items === undefined) {
      // Cancelled on our side (the run is stopping): no one's fault.
      const stopping = this.runSignal.aborted || this.requests.signal.aborted
      this.sched.settle(req, [failedOutcome(error, stopping)])
      if (stopping) return
      for (const e of wants) {
        if (e.done || e.bytes) continue
        e.attempts++
        this.requeue(e)
      }
      return
    }
    let useful = 0
    let usefulBytes = 0
    let lacking = 0
    let bad = 0
    const id = req.id
    // Verified and not delivered before (a hedged entry may come twice): `bytes` set.
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
        lacking++
        ;(e.lackedBy ??= new Set()).add(id)
        this.requeue(e)
        continue
      }
      if (!equals(keccak256(b), e.hash)) {
        // Charged to the peer, and this hash is not asked of it again; other peers still may.
        bad++
        ;(e.lackedBy ??= new Set()).add(id)
        this.requeue(e)
        continue
      }
      useful++
      usefulBytes += b.length
      if (e.done || e.bytes) continue // answered first by another request: verified, not used twice
      e.bytes = b
      freshBytes += b.length
      fresh.push(e)
    }
    const outcomes: Outcome[] = []
    if (useful) outcomes.push({ kind: 'useful', items: useful, bytes: usefulBytes })
    if (lacking) outcomes.push({ kind: 'lacking', items: lacking })
    if (bad) outcomes.push({ kind: 'bad', items: bad, reason: BAD_HASH })
    const change = this.sched.settle(req, outcomes)
    if (change) this.onChange(change)
    if (fresh.length) {
      this.meter.received(fresh.length, freshBytes)
      await this.walk.accept(fresh)
    }
  }

  /** Puts `e` back in the frontier (unless another request for it is out), or fails the sync. */
  private requeue(e: Entry): void {
    if (e.queued || e.done || e.bytes || e.asked > 0) return
    e.queued = true
    this.walk.frontier.push(e)
    // A hash no usable peer can give us ends the sync with a clear error instead of a silent stall.
    const active = this.sched.active()
    if (!active.length || this.mayGainPeers()) return // the run decides whether to wait for peers
    if (e.lackedBy && active.every((p) => e.lackedBy!.has(p.id)))
      this.fail([e], 'no usable peer has this node')
    else if (e.attempts > this.cfg.maxRetries) this.fail([e], `${e.attempts} failed attempts`)
  }

  /**
   * Nothing is out and nothing can be sent: every queued hash is lacked by every active peer (once
   * no more peers can join). Fails the sync naming them.
   */
  checkStuck(): void {
    if (this.fatal || this.inFlight > 0 || this.replies.length || this.walk.frontier.size === 0) return
    if (this.mayGainPeers() || this.sched.nextReadyAt() !== null || this.sched.active().length === 0) return
    this.fail(this.walk.wanted(16), 'no usable peer has these nodes')
  }

  /** Fails the sync: these hashes cannot be fetched; every peer seen is named with its standing. */
  fail(entries: Entry[], why: string): void {
    if (this.fatal) return
    const summary = this.sched.summary()
    const reasons: PeerReason[] = summary.map((p) => ({ peer: p.id, reason: this.sched.describe(p.id) }))
    reasons.unshift({ peer: '*', reason: why })
    this.fatal = new FailedToFetchStateNodes(
      entries.map((e) => toHex(e.hash)),
      reasons,
      summary,
    )
    this.poke()
  }

  /** The run is over: abort what is still out and cancel its timers. */
  close(): void {
    for (const r of this.open) {
      r.open = false
      r.cancel()
    }
    this.open.clear()
    this.overdue = []
    this.requests.abort()
  }
}
