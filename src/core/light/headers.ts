/**
 * The header phase: extend trust from the checkpoint (or a head verified earlier) to a target height,
 * taking headers from ANY peer that can serve them.
 *
 * Peers are tried best head first. A peer whose checkpoint header, header chain or claimed head does
 * not verify (ChainError; undecodable replies) is banned and the next one is asked; a peer that
 * fails to answer (timeout, transport) is charged and skipped for this round. Headers verified
 * before a peer failed stay verified: the next peer continues from there. Only when no peer can back
 * a verified head does the phase fail, with `NoVerifiedHeadError` naming every peer and why.
 *
 * Security considerations: nothing from a peer is used before it verifies (link + quorum from the
 * checkpoint), so the order peers are tried in is a matter of speed, never of trust; a peer that
 * claims a higher head than it can back is treated as a liar (banned), else it could hold the client
 * on a head that does not exist.
 */
import type { TrustedHeader } from '../chain/header.ts'
import { type Checkpoint, type HeaderSource, trustCheckpoint, verifyHeadersTo } from '../chain/light.ts'
import type { Clock } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import { failureKind } from '../peers/failure.ts'
import { throwIfStopped } from '../task.ts'
import { type Answered, type PeerLedger, timed } from './peers.ts'

/** Headers asked per request (the server's cap). */
const HEADER_CHUNK = 512

/** No peer could back a verified head; `reasons` names each peer asked and why it was not used. */
export class NoVerifiedHeadError extends RootsyncError {
  constructor(
    readonly target: number | 'latest',
    readonly reasons: { peer: string; reason: string }[],
  ) {
    super(
      'NO_VERIFIED_HEAD',
      `no peer could back a verified header${target === 'latest' ? '' : ` at height ${target}`}: ${
        reasons.length
          ? reasons.map((r) => `${r.peer}: ${r.reason}`).join('; ')
          : 'no peer on this chain answered'
      }`,
      { target, reasons },
    )
    this.name = 'NoVerifiedHeadError'
  }
}

/** The wanted height is above every head the peers claim. */
export class HeightAheadError extends RootsyncError {
  constructor(height: number, peersHead: number) {
    super('HEIGHT_AHEAD', `height ${height} is beyond the peers' head ${peersHead}`, { height, peersHead })
    this.name = 'HeightAheadError'
  }
}

export interface HeaderPhase {
  cp: Checkpoint
  clock: Clock
  signal: AbortSignal
  ledger: PeerLedger
  requestTimeoutMs: number
}

/** A header request's deadline never goes below this (a 512-header reply on a loaded machine). */
const MIN_HEADER_DEADLINE_MS = 2000

/**
 * A peer's headers as a `HeaderSource`, every request under a deadline from the clock sized from the
 * peer's status round trip: a peer that answers its status at once but then stalls costs about two
 * seconds, not the full request timeout, before the next peer is asked. `patient`: the full request
 * timeout (once every peer has timed out on the short deadline: the machine or network is slow).
 */
function sourceOf(ph: HeaderPhase, a: Answered, patient: boolean): HeaderSource {
  const ms = patient
    ? ph.requestTimeoutMs
    : Math.min(ph.requestTimeoutMs, Math.max(MIN_HEADER_DEADLINE_MS, 20 * a.rttMs))
  return {
    headers: (start, count) =>
      timed(ph.clock, ph.signal, ms, a.peer.id, 'headers', (s) => a.peer.wire.headers(start, count, s)),
  }
}

/**
 * Verifies a header at `target` ('latest': the highest head some peer can back) starting from
 * `from` (null: from the checkpoint). `from` must not be above a numeric target.
 */
export async function verifyHead(
  ph: HeaderPhase,
  from: TrustedHeader | null,
  answered: Answered[],
  target: number | 'latest',
): Promise<TrustedHeader> {
  const failed = new Set<string>()
  /** Peers that only timed out (on the short deadline): asked again, patiently, if nobody else can serve. */
  const slow = new Set<string>()
  let patient = false
  const reasons = new Map<string, string>()
  if (typeof target === 'number') {
    const best = Math.max(-1, ...answered.map((a) => a.status.headNumber))
    if (answered.length && target > best) throw new HeightAheadError(target, best)
  }
  let at = from
  for (;;) {
    throwIfStopped(ph.signal, 'header verification')
    const live = answered.filter((a) => !ph.ledger.isBanned(a.peer.id) && !failed.has(a.peer.id))
    const height = target === 'latest' ? Math.max(-1, ...live.map((a) => a.status.headNumber)) : target
    // A head is returned only while some peer not found lying stands behind it.
    if (live.length && at && (target === 'latest' ? at.header.number >= height : at.header.number === height))
      return at
    const next = live
      .filter((a) => a.status.headNumber >= height)
      .sort((x, y) => y.status.headNumber - x.status.headNumber)[0]
    if (!next && !patient && slow.size) {
      patient = true
      for (const id of slow) failed.delete(id)
      continue
    }
    if (!next)
      throw new NoVerifiedHeadError(
        target,
        ph.ledger.all().map((r) => ({
          peer: r.id,
          reason:
            r.banned ??
            reasons.get(r.id) ??
            r.refused ??
            `its head ${r.status?.headNumber} is below ${height}`,
        })),
      )
    const src = sourceOf(ph, next, patient)
    try {
      if (!at) {
        at = await trustCheckpoint(ph.cp, src, ph.signal)
      }
      while (at.header.number < height) {
        // Chunk by chunk, so headers verified before a peer fails stay verified.
        at = await verifyHeadersTo(
          ph.cp,
          at,
          Math.min(at.header.number + HEADER_CHUNK, height),
          src,
          ph.signal,
        )
      }
    } catch (e) {
      throwIfStopped(ph.signal, 'header verification')
      ph.ledger.charge(next.peer.id, e, `headers (claimed head ${next.status.headNumber})`)
      failed.add(next.peer.id)
      if (failureKind(e) === 'timeout' && !ph.ledger.isBanned(next.peer.id)) slow.add(next.peer.id)
      reasons.set(next.peer.id, ph.ledger.record(next.peer.id).reason ?? String(e))
    }
  }
}
