/**
 * The header phase: extend trust from the checkpoint (or a head verified earlier) to a target height
 * by skipping verification (skipping.ts), taking light blocks from ANY peer that can serve them.
 *
 * Peers are tried best head first. A peer whose checkpoint block, light blocks or claimed head do
 * not verify (ChainError; undecodable replies) is banned and the next one is asked; a peer that
 * fails to answer (timeout, transport) is charged and skipped for this round, and asked again with
 * the full request timeout if nobody else can serve. Blocks verified before a peer failed stay
 * verified: the next peer continues from there. Only when no peer can back a verified head does the
 * phase fail, with `NoVerifiedHeadError` naming every peer and why. On a first run the checkpoint's
 * block and the target's are asked for at the same time (one round trip for both).
 *
 * Security considerations: nothing from a peer is used before it verifies (from the checkpoint, by
 * the skipping rules), so the order peers are tried in is a matter of speed, never of trust; a peer
 * that claims a higher head than it can back is treated as a liar (banned), else it could hold the
 * client on a head that does not exist. Errors no peer caused — an expired trust anchor, a header
 * from the future (the device's clock), configured validators that are not the checkpoint's — end the
 * phase at once and charge nobody.
 */
import { ChainError } from '../chain/errors.ts'
import type { LightBlock } from '../chain/header.ts'
import { type Checkpoint, trustCheckpoint } from '../chain/light.ts'
import type { LightBlockReply } from '../chain/validators.ts'
import type { Clock } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import { failureKind } from '../peers/failure.ts'
import { ProtocolError, Status } from '../protocol/messages.ts'
import { throwIfStopped } from '../task.ts'
import { type Answered, type PeerLedger, timed } from './peers.ts'
import {
  DEFAULT_TRUSTING_PERIOD_SEC,
  type SkipOptions,
  type Skipper,
  type SkipStats,
  startSkip,
  trustExpired,
} from './skipping.ts'

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
  /** The trust level and clock drift (skipping.ts defaults when absent). */
  skip?: Pick<SkipOptions, 'trustLevel' | 'maxClockDriftSec'>
}

/** What a verification did: the head, the blocks verified on the way (from `from` or the checkpoint's block), the cost. */
export interface VerifiedHead {
  head: LightBlock
  path: LightBlock[]
  stats: SkipStats
}

/** Failures no peer caused: the phase ends with them at once (they wait for the user or the clock). */
const NOT_THE_PEERS = new Set(['TRUST_EXPIRED', 'HEADER_FROM_FUTURE', 'CHECKPOINT_VALIDATORS'])

/** A light-block request's deadline never goes below this (a reply on a loaded machine). */
const MIN_DEADLINE_MS = 2000

/** The options skipping runs with under this phase (the wall clock from the clock port). */
export function skipOptions(ph: Pick<HeaderPhase, 'cp' | 'clock' | 'skip'>): SkipOptions {
  return {
    chainId: ph.cp.chainId,
    trustingPeriodSec: ph.cp.trustingPeriodSec ?? DEFAULT_TRUSTING_PERIOD_SEC,
    nowSec: () => Math.floor(ph.clock.wallMs() / 1000),
    ...ph.skip,
  }
}

type Fetch = (height: number) => Promise<LightBlockReply>

/**
 * A peer's light blocks, every request under a deadline from the clock sized from the peer's status
 * round trip: a peer that answers its status at once but then stalls costs about two seconds, not
 * the full request timeout, before the next peer is asked. `patient`: the full request timeout
 * (once every peer has timed out on the short deadline: the machine or network is slow).
 */
function fetchOf(ph: HeaderPhase, a: Answered, patient: boolean): Fetch {
  const ms = patient
    ? ph.requestTimeoutMs
    : Math.min(ph.requestTimeoutMs, Math.max(MIN_DEADLINE_MS, 20 * a.rttMs))
  const wire = a.peer.wire
  return (height) =>
    timed(ph.clock, ph.signal, ms, a.peer.id, 'validators', (s) => wire.validators!(height, s)).catch((e) => {
      // A height at or below the head it claimed: a full node keeps every header, so it lied.
      if (e instanceof ProtocolError && e.status === Status.UNAVAILABLE && height <= a.status.headNumber)
        throw new ChainError(
          'BAD_PARENT',
          `claimed head ${a.status.headNumber} but has no header ${height}`,
          {
            number: height,
          },
        )
      throw e
    })
}

/** Runs `sk` to its target with replies from `fetch` (`first`: a reply already asked for). */
async function skipWith(
  sk: Skipper,
  fetch: Fetch,
  first?: { height: number; reply: Promise<LightBlockReply> },
): Promise<void> {
  for (;;) {
    const step = sk.next()
    if (step.kind === 'done') return
    const reply = first?.height === step.height ? await first.reply : await fetch(step.height)
    first = undefined
    sk.take(step.height, reply)
  }
}

/**
 * Verifies a light block at `target` ('latest': the highest head some peer can back) starting from
 * `from` (null, or outside the trusting period: from the checkpoint). `from` must not be above a
 * numeric target. `peers()` is read on every attempt: peers that answer the status round late join.
 */
export async function verifyHead(
  ph: HeaderPhase,
  from: LightBlock | null,
  peers: () => Answered[],
  target: number | 'latest',
): Promise<VerifiedHead> {
  const o = skipOptions(ph)
  const failed = new Set<string>()
  /** Peers that only timed out (on the short deadline): asked again, patiently, if nobody else can serve. */
  const slow = new Set<string>()
  let patient = false
  const reasons = new Map<string, string>()
  if (typeof target === 'number') {
    const best = Math.max(-1, ...peers().map((a) => a.status.headNumber))
    if (peers().length && target > best) throw new HeightAheadError(target, best)
    if (target < ph.cp.number)
      throw new RootsyncError('BELOW_CHECKPOINT', `height ${target} is below the checkpoint ${ph.cp.number}`)
  }
  // A head verified long ago cannot vouch any more: start again from the checkpoint (which says so
  // if it has expired too).
  let at = from && !trustExpired(from, o) ? from : null
  const path: LightBlock[] = at ? [at] : []
  const stats: SkipStats = { fetched: 0, signatures: 0, bisections: 0 }
  for (;;) {
    throwIfStopped(ph.signal, 'header verification')
    const live = peers().filter((a) => !ph.ledger.isBanned(a.peer.id) && !failed.has(a.peer.id))
    const height = target === 'latest' ? Math.max(-1, ...live.map((a) => a.status.headNumber)) : target
    // A head is returned only while some peer not found lying stands behind it.
    if (live.length && at && (target === 'latest' ? at.header.number >= height : at.header.number === height))
      return { head: at, path, stats }
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
    if (!next.peer.wire.validators) {
      // Not a fault: the transport does not carry the light-block protocol.
      failed.add(next.peer.id)
      reasons.set(next.peer.id, 'does not serve validator sets (/rootsync/validators/1)')
      continue
    }
    const fetch = fetchOf(ph, next, patient)
    let sk: Skipper | null = null
    try {
      let first: { height: number; reply: Promise<LightBlockReply> } | undefined
      if (!at) {
        // The checkpoint's block and the target's, asked for together.
        const cpReply = fetch(ph.cp.number)
        if (height > ph.cp.number) {
          first = { height, reply: fetch(height) }
          first.reply.catch(() => {}) // awaited only if the checkpoint verifies
        }
        at = trustCheckpoint(ph.cp, await cpReply)
        stats.fetched++
        path.push(at)
      }
      sk = startSkip(at, Math.max(height, at.header.number), o, from === at ? 'stored head' : 'checkpoint')
      await skipWith(sk, fetch, first)
    } catch (e) {
      throwIfStopped(ph.signal, 'header verification')
      if (e instanceof RootsyncError && NOT_THE_PEERS.has(e.code)) throw e
      ph.ledger.charge(next.peer.id, e, `headers (claimed head ${next.status.headNumber})`)
      failed.add(next.peer.id)
      if (failureKind(e) === 'timeout' && !ph.ledger.isBanned(next.peer.id)) slow.add(next.peer.id)
      reasons.set(next.peer.id, ph.ledger.record(next.peer.id).reason ?? String(e))
    } finally {
      // What was verified stays verified: the next peer continues from there.
      if (sk) {
        const st = sk.stats()
        stats.fetched += st.fetched
        stats.signatures += st.signatures
        stats.bisections += st.bisections
        path.push(...sk.path().slice(1))
        at = sk.verified()
      }
    }
  }
}
