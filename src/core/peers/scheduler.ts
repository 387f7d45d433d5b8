/**
 * The peer scheduler: which peer gets the next request, how big it is, and what each answer says
 * about the peer. A pure state machine — no I/O, time only through the `Clock` port — generic over
 * the peer type, so every fetcher (state nodes now; blocks, proofs and ranges next) drives it the
 * same way: `ready()` → `begin(id)` → send → `settle(request, outcomes)`.
 *
 * Per peer it keeps a measured rate of *useful* items (an EWMA; a peer that answers fast with nothing
 * earns nothing), sizes requests from it (items/s × target round trip, clamped), limits requests in
 * flight, backs off exponentially after failures, halves the request size after a timeout, and says
 * when an outstanding request is overdue and should also be asked of another peer (hedging).
 *
 * Outcomes: useful (verified items), lacking (the peer does not have them: no penalty, ask
 * elsewhere — but a peer whose every reply is empty N times in a row is rotated out), bad (provably
 * wrong data: counted, banned past a threshold), timeout, error, aborted (ours: no penalty).
 *
 * Peers may join and leave at any time; a peer that comes back under the same id keeps its history
 * (a banned or dropped peer stays out). Every peer ever seen — including those refused before they
 * joined — is in `summary()` with its outcome and why.
 *
 * Security considerations: peers are untrusted and may lie, stall or flood. The scheduler never
 * judges data itself (the caller verifies and reports `bad`); it only bounds what each peer can cost:
 * requests in flight, request size, and time (backoff, hedging) — and bans provable liars.
 */
import type { Clock } from '../clock.ts'
import { failureKind } from './failure.ts'
import {
  DEFAULT_SCHEDULER_CONFIG,
  type JoinResult,
  newStats,
  type Outcome,
  type PeerChange,
  type PeerRequest,
  type PeerStanding,
  type PeerStats,
  type PeerSummary,
  type RefusalKind,
  type ScheduledPeer,
  type SchedulerConfig,
} from './types.ts'

export * from './types.ts'

export interface PeerScheduler<P extends { id: string }> {
  readonly config: SchedulerConfig
  /**
   * `peer` may be given work (it proved it has what the run needs). `rttMs`: the probe's round trip.
   * An id seen before keeps its history: a peer that left rejoins, an active one is replaced by
   * this (newer) connection, a banned or dropped one stays out.
   */
  join(peer: P, rttMs?: number): JoinResult
  /** The peer's connection is gone: no more work until it rejoins. False if it was not active. */
  leave(id: string): boolean
  /** `id` was refused before it joined, and why. A peer already active is not affected. */
  refuse(id: string, kind: RefusalKind, reason: string): void
  /** Active peers that can take a request now, best first. */
  ready(): ScheduledPeer<P>[]
  /** Whether `id` is active (joined, not left, banned or dropped). */
  isActive(id: string): boolean
  /** Active peers (ready or not). */
  active(): ScheduledPeer<P>[]
  /** Where `id` stands: null if never seen. */
  standing(id: string): PeerStanding | null
  /** The earliest time a backed-off active peer becomes ready, or null if none is backing off. */
  nextReadyAt(): number | null
  /** A request to `id` starts now. */
  begin(id: string): PeerRequest<P>
  /** The request ended with these outcomes; returns a change in the peer's standing, if any. */
  settle(req: PeerRequest<P>, outcomes: readonly Outcome[]): PeerChange | null
  /** Stats of every peer that joined (copies). */
  stats(): PeerStats[]
  /** Every peer seen, with its outcome. */
  summary(): PeerSummary[]
  /** One line per peer, for people (stall reports, errors). */
  describe(id: string): string
}

interface PeerRecord<P> {
  id: string
  peer: P | null
  joined: boolean
  status: PeerStanding
  reason: string | null
  refusal: RefusalKind | null
  stats: PeerStats
  failures: number
  backoffUntil: number
  emptyStreak: number
  /** Replies measured (the RTT that decides hedging is a reply's, not the probe's). */
  replies: number
}

export function createScheduler<P extends { id: string }>(
  clock: Clock,
  config: Partial<SchedulerConfig> = {},
): PeerScheduler<P> {
  const cfg: SchedulerConfig = { ...DEFAULT_SCHEDULER_CONFIG, ...config }
  const peers = new Map<string, PeerRecord<P>>()

  const record = (id: string): PeerRecord<P> => {
    let r = peers.get(id)
    if (!r) {
      r = {
        id,
        peer: null,
        joined: false,
        status: 'refused',
        reason: null,
        refusal: null,
        stats: newStats(id, cfg.initialBatch),
        failures: 0,
        backoffUntil: 0,
        emptyStreak: 0,
        replies: 0,
      }
      peers.set(id, r)
    }
    return r
  }
  const get = (id: string): PeerRecord<P> => {
    const r = peers.get(id)
    if (!r) throw new Error(`scheduler: unknown peer ${id}`)
    return r
  }

  const failed = (r: PeerRecord<P>, now: number) => {
    r.failures++
    r.backoffUntil = now + Math.min(cfg.backoffMaxMs, cfg.backoffBaseMs * 2 ** r.failures)
    r.stats.rate *= 0.5
  }

  const reply = (r: PeerRecord<P>, req: PeerRequest<P>, outcomes: readonly Outcome[], now: number) => {
    const s = r.stats
    let useful = 0
    let lacking = 0
    let bad = 0
    let why: string | undefined
    for (const o of outcomes) {
      if (o.kind === 'useful') {
        useful += o.items
        s.bytes += o.bytes
      } else if (o.kind === 'lacking') lacking += o.items
      else if (o.kind === 'bad') {
        bad += o.items
        why ??= o.reason
      }
    }
    s.delivered += useful
    s.missing += lacking
    r.failures = 0
    // Rate of useful items only: a peer that answers fast with nothing gets smaller requests.
    const ms = Math.max(now - req.startedAt, 1)
    const sample = (useful / ms) * 1000
    s.rate = s.rate === 0 ? sample : 0.7 * s.rate + 0.3 * sample
    s.rttMs = r.replies++ === 0 ? ms : 0.7 * s.rttMs + 0.3 * ms
    s.batch = clamp(Math.round((s.rate * cfg.targetRttMs) / 1000), cfg.minBatch, cfg.maxBatch)
    if (bad) {
      s.bad += bad
      if (s.bad >= cfg.banThreshold && r.status !== 'banned') {
        s.banned = `sent ${s.bad} item(s) that ${why ?? 'failed verification'}`
        r.status = 'banned'
        r.reason = s.banned
        return { type: 'banned', id: r.id, reason: s.banned } satisfies PeerChange
      }
    }
    if (useful > 0) r.emptyStreak = 0
    else if (lacking > 0 && bad === 0 && ++r.emptyStreak >= cfg.emptyThreshold && r.status === 'active') {
      r.status = 'dropped'
      r.reason = `answered empty to ${r.emptyStreak} requests in a row`
      return { type: 'dropped', id: r.id, reason: r.reason } satisfies PeerChange
    }
    return null
  }

  return {
    config: cfg,
    join(peer, rttMs) {
      const r = record(peer.id)
      if (r.status === 'banned' || r.status === 'dropped') return r.status
      if (r.status === 'active') {
        r.peer = peer // the same peer over a new connection: later requests use it
        return 'present'
      }
      const again = r.joined
      r.peer = peer
      r.joined = true
      r.status = 'active'
      r.reason = null
      r.refusal = null
      if (rttMs !== undefined && r.stats.rttMs === 0) r.stats.rttMs = rttMs
      return again ? 'rejoined' : 'joined'
    },
    leave(id) {
      const r = peers.get(id)
      if (r?.status !== 'active') return false
      r.status = 'left'
      return true
    },
    refuse(id, kind, reason) {
      const r = record(id)
      if (r.status === 'active' || r.status === 'banned' || r.status === 'dropped') return
      if (r.joined) return // a reconnected peer that failed its probe keeps its earlier standing ('left')
      r.status = 'refused'
      r.refusal = kind
      r.reason = reason
      // The probe was a request too: its failure shows in the stats like any other.
      if (kind === 'timeout') r.stats.timeouts++
      else if (kind === 'error') r.stats.errors++
      else if (kind === 'wrong-root') r.stats.bad++
      else r.stats.missing++
    },
    ready() {
      const now = clock.now()
      const out: ScheduledPeer<P>[] = []
      for (const r of peers.values())
        if (r.status === 'active' && r.backoffUntil <= now && r.stats.inFlight < cfg.maxInFlightPerPeer)
          out.push(r as ScheduledPeer<P>)
      return out.sort(
        (a, b) =>
          b.stats.rate - a.stats.rate ||
          a.stats.timeouts + a.stats.errors - (b.stats.timeouts + b.stats.errors),
      )
    },
    isActive: (id) => peers.get(id)?.status === 'active',
    active() {
      const out: ScheduledPeer<P>[] = []
      for (const r of peers.values()) if (r.status === 'active') out.push(r as ScheduledPeer<P>)
      return out
    },
    standing: (id) => peers.get(id)?.status ?? null,
    nextReadyAt() {
      const now = clock.now()
      let at: number | null = null
      for (const r of peers.values())
        if (r.status === 'active' && r.backoffUntil > now && (at === null || r.backoffUntil < at))
          at = r.backoffUntil
      return at
    },
    begin(id) {
      const r = get(id)
      if (r.status !== 'active' || !r.peer) throw new Error(`scheduler: peer ${id} is not active`)
      r.stats.inFlight++
      r.stats.requests++
      const now = clock.now()
      // Before its first reply a peer's usual round trip is unknown (a one-item probe says little
      // about a full request): the floor stands in for it.
      const rtt = r.replies > 0 ? r.stats.rttMs : cfg.hedgeFloorMs
      const hedge = Math.max(cfg.hedgeFactor * rtt, cfg.hedgeFloorMs)
      return { peer: r.peer, id, size: r.stats.batch, startedAt: now, hedgeAt: now + hedge }
    },
    settle(req, outcomes) {
      const r = get(req.id)
      const s = r.stats
      s.inFlight--
      const now = clock.now()
      const first = outcomes[0]
      if (first?.kind === 'timeout') {
        s.timeouts++
        s.batch = Math.max(cfg.minBatch, Math.floor(s.batch / 2))
        failed(r, now)
        return null
      }
      if (first?.kind === 'error') {
        s.errors++
        failed(r, now)
        return null
      }
      if (first?.kind === 'aborted') return null
      return reply(r, req, outcomes, now)
    },
    stats: () => [...peers.values()].filter((r) => r.joined).map((r) => ({ ...r.stats })),
    summary: () =>
      [...peers.values()].map((r) => ({
        id: r.id,
        outcome: r.status === 'active' ? 'used' : r.status,
        reason: r.reason,
        refusal: r.refusal,
        stats: { ...r.stats },
      })),
    describe(id) {
      const r = peers.get(id)
      if (!r) return 'unknown'
      const s = r.stats
      if (r.status !== 'active' && r.reason) return `${r.status}: ${r.reason}`
      const parts = [`${s.delivered} delivered`]
      if (s.missing) parts.push(`${s.missing} not had`)
      if (s.bad) parts.push(`${s.bad} bad`)
      if (s.timeouts) parts.push(`${s.timeouts} timeouts`)
      if (s.errors) parts.push(`${s.errors} errors`)
      if (r.status === 'left') parts.push('left')
      return parts.join(', ')
    },
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, n))
}

/**
 * The outcome of a request that threw, by the error's type (failure.ts `failureKind`). `stopping`:
 * the caller cancelled it (its run is ending) — no one's fault. A request aborted while the caller
 * was not stopping (a closed connection) is a transport error.
 */
export function failedOutcome(error: unknown, stopping: boolean): Outcome {
  if (stopping) return { kind: 'aborted' }
  return failureKind(error) === 'timeout' ? { kind: 'timeout' } : { kind: 'error', error }
}
