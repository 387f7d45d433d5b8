/**
 * One line per peer a run saw — the state engine's counts merged with the driver's own (status,
 * headers, the root probe) — with an outcome and the reason behind it, so a user can see who served
 * the state, who was refused and who lied.
 */
import type { PeerStats } from '../sync/types.ts'
import type { PeerRecord } from './peers.ts'

/**
 * useful: delivered verified nodes; unused: answered but was not needed; refused: not used (another
 * chain, no answer, does not serve the target); bad: sent provably wrong data; banned: excluded for
 * the session for it.
 */
export type PeerOutcome = 'useful' | 'unused' | 'refused' | 'bad' | 'banned'

export interface PeerSummary {
  peer: string
  outcome: PeerOutcome
  reason: string | null
  delivered: number
  /** Percent of the nodes delivered in this run. */
  share: number
  bad: number
  missing: number
  timeouts: number
  errors: number
  banned: string | null
}

export function peerSummaries(records: PeerRecord[], engine: PeerStats[]): PeerSummary[] {
  const total = engine.reduce((a, p) => a + p.delivered, 0) || 1
  const byId = new Map(engine.map((s) => [s.id, s]))
  const ids = [...new Set([...engine.map((s) => s.id), ...records.map((r) => r.id)])]
  const recs = new Map(records.map((r) => [r.id, r]))
  return ids.map((id) => {
    const s = byId.get(id)
    const r = recs.get(id)
    const banned = s?.banned ?? r?.banned ?? null
    const bad = (s?.bad ?? 0) + (r?.bad ?? 0)
    const delivered = s?.delivered ?? 0
    const refused = s ? null : (r?.refused ?? null)
    const outcome: PeerOutcome = banned
      ? 'banned'
      : bad
        ? 'bad'
        : delivered
          ? 'useful'
          : refused
            ? 'refused'
            : 'unused'
    return {
      peer: id,
      outcome,
      reason: banned ?? refused ?? r?.reason ?? null,
      delivered,
      share: Number(((100 * delivered) / total).toFixed(1)),
      bad,
      missing: s?.missing ?? 0,
      timeouts: (s?.timeouts ?? 0) + (r?.timeouts ?? 0),
      errors: (s?.errors ?? 0) + (r?.errors ?? 0),
      banned,
    }
  })
}
