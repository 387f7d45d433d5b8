/**
 * Every peer a light-client run saw, with what became of it. It builds on the state engine's
 * summary (`PeerSummary`: outcome, reason, refusal, stats — every peer the sync saw, including those
 * refused at its root probe), extended with what only the driver saw: peers refused at the status
 * round or before the state phase, peers banned for their headers, and the driver's own counts of
 * each peer's status and header requests.
 *
 * `peerRows` is the flat view a person or a script reads (`rootsync sync --json`).
 */
import { newStats, type PeerOutcome, type PeerSummary } from '../peers/scheduler.ts'
import type { LightRefusal, PeerLedger } from './peers.ts'

/**
 * A peer in a light-client run: the engine's `PeerSummary` of it, its stats including the driver's
 * counts. A peer the engine never saw is 'refused' or 'banned' by the driver — or 'unused': it
 * answered, but no state sync has run since.
 */
export interface LightPeerSummary extends Omit<PeerSummary, 'outcome' | 'refusal'> {
  outcome: PeerOutcome | 'unused'
  refusal: LightRefusal | null
}

/** The session's peers: the ledger's records (in the order first seen) over the engine's summary. */
export function lightSummary(ledger: PeerLedger): LightPeerSummary[] {
  const engine = new Map(ledger.stateSummary().map((p) => [p.id, p]))
  const records = new Map(ledger.all().map((r) => [r.id, r]))
  const ids = [...new Set([...records.keys(), ...engine.keys()])]
  return ids.map((id): LightPeerSummary => {
    const p = engine.get(id)
    const r = records.get(id)
    const stats = p ? { ...p.stats } : newStats(id, 0)
    if (r) {
      stats.bad += r.bad
      stats.timeouts += r.timeouts
      stats.errors += r.errors
    }
    // Banned by the driver (headers, a wrong root at the probe): whatever the engine made of it.
    if (r?.banned && p?.outcome !== 'banned')
      return { id, outcome: 'banned', reason: r.banned, refusal: p?.refusal ?? r.refusal, stats }
    // A used peer's reason: the driver's newest charge (a header request that timed out), if any.
    if (p) return { ...p, reason: p.reason ?? r?.reason ?? null, stats }
    return {
      id,
      outcome: r!.refused ? 'refused' : 'unused',
      reason: r!.refused ?? r!.reason,
      refusal: r!.refusal,
      stats,
    }
  })
}

/**
 * A used peer is 'useful' if it delivered verified nodes, 'bad' if it also sent provably wrong
 * ones (below the ban threshold), 'unused' if it was never needed.
 */
export type RowOutcome = Exclude<LightPeerSummary['outcome'], 'used'> | 'useful' | 'bad'

/** One line of the `--json` summary. */
export interface PeerRow {
  peer: string
  outcome: RowOutcome
  reason: string | null
  refusal: LightRefusal | null
  delivered: number
  /** Percent of the nodes delivered in this run. */
  share: number
  bad: number
  missing: number
  timeouts: number
  errors: number
  banned: string | null
}

export function peerRows(peers: LightPeerSummary[]): PeerRow[] {
  const total = peers.reduce((a, p) => a + p.stats.delivered, 0) || 1
  return peers.map(({ id, outcome, reason, refusal, stats: s }) => ({
    peer: id,
    outcome: outcome !== 'used' ? outcome : s.bad ? 'bad' : s.delivered ? 'useful' : 'unused',
    reason,
    refusal,
    delivered: s.delivered,
    share: Number(((100 * s.delivered) / total).toFixed(1)),
    bad: s.bad,
    missing: s.missing,
    timeouts: s.timeouts,
    errors: s.errors,
    banned: outcome === 'banned' ? reason : null,
  }))
}
