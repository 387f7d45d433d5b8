/**
 * One consistency check (seed §7.3, done the CometBFT detector's way — see types.ts): the local
 * state at height h against a few sampled peers.
 *
 *   1. the local root record against the verified header at h (a disagreement is local damage:
 *      the recovery manager restores the state);
 *   2. each peer's header at h (roots.ts): match, unavailable, invalid (charged), or equivocation
 *      (evidence kept, reads halted — never repaired automatically);
 *   3. S accounts sampled uniformly, some of their storage slots, and every watched address
 *      (sample.ts), each proven at the verified root by ≥ 2 peers (prove.ts): a valid proof that
 *      disagrees with the local value, or local damage met on the way, is repaired from the proven
 *      nodes (path-repair.ts); damage a path repair cannot fix, or at `escalateAfter` paths or more,
 *      goes to the recovery manager.
 *
 * The result (types.ts ConsistencyResult) is saved with any new evidence in one atomic write, and
 * announced as events.
 *
 * Security considerations: nothing a peer says changes the local state unless it is proven against
 * the root a verified header commits to; peers that answer with what does not verify are charged
 * whatever their number. Repairs write only nodes whose hashes the verified path references.
 */
import { equals, toHex } from '../bytes.ts'
import type { LightPeer } from '../light/peers.ts'
import type { RecoveryReport } from '../recovery/types.ts'
import { readSyncedRoot } from '../sync/state-sync.ts'
import { throwIfStopped } from '../task.ts'
import { leafKeyAt, repairPath } from './path-repair.ts'
import { type PathVerdict, provePaths } from './prove.ts'
import { evidenceMeta, readEvidence, saveResult } from './records.ts'
import { checkRoots } from './roots.ts'
import { sameValue, sampleLocal } from './sample.ts'
import type {
  ConsistencyDeps,
  ConsistencyOptions,
  ConsistencyResult,
  Discrepancy,
  PeerCheck,
  RootOutcome,
} from './types.ts'

/** `n` of `peers` chosen uniformly (a partial Fisher–Yates shuffle driven by `random`). */
export function samplePeers(peers: LightPeer[], n: number, random: () => number): LightPeer[] {
  const a = peers.slice()
  const k = Math.min(n, a.length)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (a.length - i))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a.slice(0, k)
}

/**
 * What a repaired path is called: the address when known, else the hashed key (`account/slot` for a
 * slot). A walk that met damage before reaching a leaf knows only the random key it started from;
 * when the damaged node is a leaf, the proven node with its hash names the account (leafKeyAt).
 */
function pathName(v: PathVerdict, root: Uint8Array): string {
  const p = v.path
  if (p.path.address) return p.path.address
  const l = p.local
  const key = 'damage' in l ? leafKeyAt(p.storage?.root ?? root, v.nodes, l.damage.hash) : null
  if (p.path.slot) return `${p.path.account}/${key ? toHex(key) : p.path.slot}`
  return key ? toHex(key) : p.path.account
}

const hexOrNull = (v: Uint8Array | null | undefined): string | null => (v ? toHex(v) : null)

export async function checkConsistency(
  d: ConsistencyDeps,
  o: ConsistencyOptions,
  signal: AbortSignal,
): Promise<ConsistencyResult> {
  const started = d.clock.now()
  const height = d.header.header.number
  const root = d.header.header.stateRoot
  const asked = samplePeers(
    d.peers.filter((p) => !d.ledger.isBanned(p.id)),
    o.peers,
    d.random,
  )
  d.emit({
    type: 'consistency-started',
    height,
    root: toHex(root),
    peers: asked.map((p) => p.id),
    accounts: o.accounts + d.watched.length,
  })
  const discrepancies: Discrepancy[] = []
  const repaired: string[] = []
  let recovery: RecoveryReport | null = null
  const recover = async (): Promise<boolean> => {
    if (!o.autoRepair || !d.recover) return false
    if (!recovery) recovery = await d.recover(signal)
    return recovery.strategy !== null
  }

  // 1. The local root record against the verified header at h.
  const local = await readSyncedRoot(d.store)
  let localUsable = !!local && local.height === height && equals(local.root, root)
  if (!localUsable) {
    const ok = await recover().catch((e) => {
      if (signal.aborted) throw e
      return false
    })
    discrepancies.push({
      kind: 'StateRootMismatch',
      height,
      localRoot: local ? toHex(local.root) : null,
      headerRoot: toHex(root),
      action: ok ? 'recovery' : 'reported',
      detail: local
        ? `the local state is recorded at block ${local.height} with root ${toHex(local.root)}, the verified header at ${height} commits to ${toHex(root)}`
        : `no complete local state is recorded; the verified header at ${height} commits to ${toHex(root)}`,
    })
    localUsable = ok
  }

  // 2. The peers' headers at h.
  const roots = await checkRoots(
    {
      checkpoint: d.checkpoint,
      header: d.header,
      peers: asked,
      ledger: d.ledger,
      clock: d.clock,
      requestTimeoutMs: o.requestTimeoutMs,
      now: d.now,
    },
    signal,
  )
  discrepancies.push(...roots.discrepancies)
  const rootOf = new Map<string, RootOutcome>(roots.peers.map((p) => [p.peer, p.root]))
  const chargedOf = new Map<string, string | null>(roots.peers.map((p) => [p.peer, p.charged]))

  // 3. Sampled paths, proven by the peers that did not prove themselves wrong or on another fork.
  const provers = asked.filter((p) => {
    const r = rootOf.get(p.id)
    return (r === 'match' || r === 'unavailable' || r === 'failed') && !d.ledger.isBanned(p.id)
  })
  let verdicts: PathVerdict[] = []
  let accountMatches = 0
  let sampled = 0
  if (localUsable) {
    const paths = await sampleLocal(
      d.store,
      root,
      { accounts: o.accounts, slotsPerAccount: o.slotsPerAccount, watched: d.watched, random: d.random },
      signal,
    )
    sampled = paths.length
    verdicts = await provePaths(
      root,
      paths,
      provers,
      {
        proofPeers: o.proofPeers,
        requestTimeoutMs: o.requestTimeoutMs,
        clock: d.clock,
        ledger: d.ledger,
        onProgress: (checked) => d.emit({ type: 'consistency-progress', checked, total: paths.length }),
      },
      signal,
    )
    const unfixed: Discrepancy[] = []
    const wrong: { v: PathVerdict; disc: Discrepancy }[] = []
    for (const v of verdicts) {
      for (const a of v.answers)
        if (a.outcome === 'invalid')
          // prove.ts charged it: a proof that does not verify is provably wrong (the ledger bans).
          discrepancies.push({
            kind: 'InvalidPeerData',
            peer: a.peer,
            what: 'proof',
            path: v.path.path,
            code: a.code ?? 'INVALID_PROOF',
            action: 'charged',
            detail: a.detail ?? 'the proof does not verify against the verified root',
          })
      const l = v.path.local
      if ('damage' in l) {
        const disc: Discrepancy = {
          kind: 'LocalDamage',
          path: v.path.path,
          problem: l.damage.problem,
          hash: l.damage.hash,
          action: 'reported',
          detail: `the local lookup met a ${l.damage.problem} node ${l.damage.hash}`,
        }
        discrepancies.push(disc)
        wrong.push({ v, disc })
      } else if (v.proven === undefined) {
        // No peer could prove it (all unavailable or failing): neither confirmed nor contradicted.
      } else if (!sameValue(l, v.proven)) {
        const by = v.answers.find((a) => a.outcome === 'valid')?.peer ?? ''
        const disc: Discrepancy = {
          kind: 'AccountMismatch',
          path: v.path.path,
          local: hexOrNull(l.value),
          proven: hexOrNull(v.proven),
          peer: by,
          action: 'reported',
          detail: `the local value differs from the value ${by} proved at the verified root`,
        }
        discrepancies.push(disc)
        wrong.push({ v, disc })
      } else accountMatches++
    }

    // Repair: path by path from the proven nodes; what that cannot fix, or too much of it, escalates.
    if (o.autoRepair && wrong.length) {
      for (const { v, disc } of wrong) {
        throwIfStopped(signal, 'consistency check')
        if (v.proven === undefined) {
          unfixed.push(disc)
          continue
        }
        const r = await repairPath(d.store, root, v)
        if (r.repaired) {
          disc.action = 'repaired'
          disc.detail += `; repaired (${r.written} proven node${r.written === 1 ? '' : 's'} written)`
          repaired.push(pathName(v, root))
        } else {
          disc.detail += `; a path repair could not fix it: ${r.detail}`
          unfixed.push(disc)
        }
      }
      if (unfixed.length || wrong.length >= o.escalateAfter) {
        const ok = await recover().catch((e) => {
          if (signal.aborted) throw e
          return false
        })
        for (const disc of unfixed) if (ok) disc.action = 'recovery'
      }
    }
  }

  // 4. The result, saved with any new evidence in one write.
  const peers: PeerCheck[] = asked.map((p) => {
    let proofsValid = 0
    let proofsInvalid = 0
    let proofsUnavailable = 0
    let charged = chargedOf.get(p.id) ?? null
    for (const v of verdicts)
      for (const a of v.answers) {
        if (a.peer !== p.id) continue
        if (a.outcome === 'valid') proofsValid++
        else if (a.outcome === 'invalid') {
          proofsInvalid++
          charged = `proof: ${a.code ?? 'INVALID_PROOF'}${a.detail ? ` (${a.detail})` : ''}`
        } else proofsUnavailable++
      }
    return {
      peer: p.id,
      root: rootOf.get(p.id) ?? 'failed',
      proofsValid,
      proofsInvalid,
      proofsUnavailable,
      charged,
    }
  })
  const equivocation = roots.evidence.length > 0
  // A root record that disagreed and was not restored left `localUsable` false.
  const stateRootMatches = localUsable && !equivocation && roots.peers.some((p) => p.root === 'match')
  const result: ConsistencyResult = {
    checkedAt: d.now(),
    height,
    root: toHex(root),
    stateRootMatches,
    accountMatches,
    sampled,
    discrepancies,
    peers,
    repaired,
    recovery,
    summary: '',
    ms: d.clock.now() - started,
  }
  result.summary = summarize(result)
  const extra = equivocation ? [evidenceMeta(await readEvidence(d.store), roots.evidence)] : []
  await saveResult(d.store, result, extra)
  for (const evidence of roots.evidence) d.emit({ type: 'equivocation', evidence })
  d.emit({ type: 'consistency-finished', result })
  return result
}

/** Discrepancies still standing: not repaired, not handed to a recovery that restored the state, not a charged liar. */
export const unresolved = (r: ConsistencyResult): Discrepancy[] =>
  r.discrepancies.filter((x) => x.action === 'reported' || x.action === 'halted')

/** The outcome in words, for people. */
export function summarize(r: ConsistencyResult): string {
  const eq = r.discrepancies.filter((x) => x.kind === 'Equivocation')
  if (eq.length)
    return `equivocation at block ${r.height}: two headers with a validator quorum; reads from block ${r.height} are halted`
  const parts: string[] = []
  const confirmed = r.peers.filter((p) => p.root === 'match').length
  parts.push(
    confirmed
      ? `header at block ${r.height} confirmed by ${confirmed} peer${confirmed === 1 ? '' : 's'}`
      : `no peer confirmed the header at block ${r.height}`,
  )
  parts.push(`${r.accountMatches} of ${r.sampled} sampled paths proven equal`)
  const liars = new Set(r.discrepancies.filter((x) => x.kind === 'InvalidPeerData').map((x) => x.peer))
  if (liars.size)
    parts.push(`${liars.size} peer${liars.size === 1 ? '' : 's'} charged for data that does not verify`)
  if (r.repaired.length) parts.push(`${r.repaired.length} path${r.repaired.length === 1 ? '' : 's'} repaired`)
  if (r.recovery)
    parts.push(r.recovery.strategy ? `state recovered (${r.recovery.strategy})` : 'recovery failed')
  const left = unresolved(r).length
  return `${left ? `${left} discrepanc${left === 1 ? 'y' : 'ies'} left` : 'consistent'}: ${parts.join('; ')}`
}
