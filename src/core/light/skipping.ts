/**
 * Skipping verification: moving trust from a verified light block to one far ahead without
 * fetching or checking the headers between (the idea of CometBFT's light client).
 *
 * A light block `u` is trusted from a verified one `t` when
 *  - u carries a quorum of its own set: ≥ 2/3 of `u.validators` validly signed it, and
 *  - adjacent (u = t + 1): u links to t by hash, names the set t announced (`validatorsHash ==
 *    t.nextValidatorsHash`) and is not older than t;
 *  - non-adjacent: u is not older than t, and enough of the set t vouches for (`t.nextValidators`)
 *    signed u — the trust level, ≥ 1/3 by default. Too few is not anybody's fault (the set changed
 *    a lot in between): the machine bisects, asking for the block halfway and trying again from
 *    there, so it always ends — at worst at adjacency, where a wrong block is proven wrong.
 * Signature recovery (the cost) stops as soon as both thresholds are met, and signatures by members
 * of the trusted set are tried first: each counts toward both.
 *
 * The machine is pure (`next` says which height to fetch, `take` accepts the reply); the driver
 * (headers.ts) does the fetching and decides whom to blame. Everything `take` or `next` throws as a
 * `ChainError` is the fault of the peer that sent the pending blocks: `dropPending` runs on every
 * change of peer, so pending blocks all come from the peer being asked.
 *
 * Security considerations. The assumption: fewer than 1/3 of any trusted validator set is faulty
 * while its header is inside the trusting period. Then any ⌈n/3⌉ members of a set include an honest
 * one, so a header signed by that many of the trusted next set is on the honest chain. Once a set's
 * validators may have left (and so stopped caring, or sold their keys), its header is too old: an
 * anchor older than `trustingPeriodSec` is refused (`TrustExpiredError`) — judged by this device's
 * wall clock, never by header timestamps, which a long-range attacker chooses. A header dated
 * further ahead than `maxClockDriftSec` is refused as from the future (HEADER_FROM_FUTURE, not the
 * peer's fault: the device's clock may be wrong). A fork signed by departed validators fails the
 * trust level against a recent anchor, bisects down to adjacency and is refused there
 * (BAD_VALIDATOR_SET); against an old anchor the period refuses it first. Signatures past the
 * thresholds are not checked: a stored block may carry invalid ones (evidence code checks every
 * signature it names; full nodes check all).
 */
import { toHex } from '../bytes.ts'
import { ChainError } from '../chain/errors.ts'
import { type LightBlock, verifyLink } from '../chain/header.ts'
import {
  hasQuorum,
  type LightBlockReply,
  lightBlockOf,
  type SigStats,
  tallySigners,
} from '../chain/validators.ts'
import { RootsyncError } from '../errors.ts'

/** Default trusting period: 14 days of wall-clock time. */
export const DEFAULT_TRUSTING_PERIOD_SEC = 14 * 86_400
/** How far ahead of this device's clock a header may be dated. */
export const DEFAULT_MAX_CLOCK_DRIFT_SEC = 10
/** ≥ 1/3 of the trusted next set must have signed a header skipped to. */
export const DEFAULT_TRUST_LEVEL = { num: 1, den: 3 } as const

export interface SkipOptions {
  chainId: number
  trustingPeriodSec: number
  /** Wall-clock seconds since the Unix epoch (from `Clock.wallMs`). */
  nowSec: () => number
  trustLevel?: { num: number; den: number }
  maxClockDriftSec?: number
}

export type SkipStep = { kind: 'fetch'; height: number } | { kind: 'done'; head: LightBlock }

export interface SkipStats {
  /** Light blocks taken from peers. */
  fetched: number
  /** Signatures recovered. */
  signatures: number
  /** Times the trust level was not met and a block halfway was asked for. */
  bisections: number
}

export interface Skipper {
  /** What to do next; throws `ChainError` when a pending block fails against a newly verified one. */
  next(): SkipStep
  /** The reply for the height asked. Throws `ChainError` (the sender's fault): nothing of it is kept. */
  take(height: number, reply: LightBlockReply): void
  /** A peer failed: forget the unverified blocks it sent; `verified()` stays. */
  dropPending(): void
  verified(): LightBlock
  /** The verified blocks from the anchor (first) to `verified()` (last): the trust path. */
  path(): LightBlock[]
  stats(): SkipStats
}

/** A trusted header older than the trusting period: trust cannot start from it. */
export class TrustExpiredError extends RootsyncError {
  constructor(
    which: 'checkpoint' | 'stored head',
    number: number,
    hash: string,
    ageSec: number,
    periodSec: number,
    /** The header's own timestamp (seconds), for the date in the message. */
    timestampSec?: number,
  ) {
    super(
      'TRUST_EXPIRED',
      `the ${which} (block ${number}, ${hash.slice(0, 10)}…${timestampSec === undefined ? '' : `, from ${new Date(timestampSec * 1000).toISOString().slice(0, 10)}`}) is ${duration(ageSec)} old; ` +
        `this client only trusts checkpoints from the last ${duration(periodSec)}, because validators that have ` +
        'since left could sign a fake history. Get the number and hash of a recent block from a source you ' +
        'trust and set it as the checkpoint (checkpoint=N:0xHASH with its validators in the URL or the ' +
        'settings form, or --checkpoint N:0xHASH --validators … for rootsync sync). For a devnet, restart ' +
        'rootsync devnet: it writes a fresh checkpoint to bootstrap.json. If this device’s clock is wrong, correct it.',
      { which, number, hash, ageSec, periodSec },
    )
    this.name = 'TrustExpiredError'
  }
}

/** A header dated ahead of this device's clock: the clock is probably wrong (not the peer's fault). */
export class HeaderFromFutureError extends RootsyncError {
  constructor(number: number, aheadSec: number) {
    super(
      'HEADER_FROM_FUTURE',
      `header ${number} is dated ${duration(aheadSec)} ahead of this device's clock; check this device's clock`,
      { number, aheadSec },
    )
    this.name = 'HeaderFromFutureError'
  }
}

function duration(sec: number): string {
  const units: [number, string][] = [
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ]
  for (const [s, name] of units)
    if (sec >= s) {
      const n = Math.floor(sec / s)
      return `${n} ${name}${n === 1 ? '' : 's'}`
    }
  return `${sec} second${sec === 1 ? '' : 's'}`
}

/** Whether `b` is outside the trusting period at `nowSec` (its age reaches the period). */
export const trustExpired = (b: LightBlock, o: Pick<SkipOptions, 'trustingPeriodSec' | 'nowSec'>): boolean =>
  o.nowSec() - b.header.timestamp >= o.trustingPeriodSec

/** Throws `TrustExpiredError` unless `b` is inside the trusting period at `nowSec`. */
export function checkNotExpired(
  b: LightBlock,
  which: 'checkpoint' | 'stored head',
  o: Pick<SkipOptions, 'trustingPeriodSec' | 'nowSec'>,
): void {
  if (trustExpired(b, o))
    throw new TrustExpiredError(
      which,
      b.header.number,
      toHex(b.hash),
      o.nowSec() - b.header.timestamp,
      o.trustingPeriodSec,
      b.header.timestamp,
    )
}

/** A fetched block whose own quorum was checked; `signers`: the valid signer indexes found. */
interface Pending {
  b: LightBlock
  /** Complete when the block fell short of the trust level (every signature was recovered then). */
  signers: Set<number>
}

/** For each slot of `u.validators`: whether that validator is in `t.nextValidators` (hashed once per pair). */
function inTrustedSet(t: LightBlock, u: LightBlock): boolean[] {
  const trusted = new Set(t.nextValidators.map(toHex))
  return u.validators.map((a) => trusted.has(toHex(a)))
}

/**
 * Whether the members of `t.nextValidators` among `signers` (indexes into `u.validators`, marked by
 * `inTrusted`) meet the trust level: `overlap·den ≥ |t.next|·num`.
 */
function trusts(
  t: LightBlock,
  inTrusted: boolean[],
  signers: ReadonlySet<number>,
  level: SkipOptions['trustLevel'],
) {
  const { num, den } = level ?? DEFAULT_TRUST_LEVEL
  let overlap = 0
  for (const i of signers) if (inTrusted[i]) overlap++
  return overlap * den >= t.nextValidators.length * num
}

/**
 * The adjacency and time rules between a verified block and the next one checked (signatures are
 * counted elsewhere). Throws `ChainError` (the sender's fault).
 */
export function checkStep(t: LightBlock, u: LightBlock): void {
  if (u.header.number <= t.header.number)
    throw new ChainError('BAD_PARENT', `header ${u.header.number} is not above ${t.header.number}`, {
      number: u.header.number,
    })
  if (u.header.number === t.header.number + 1) {
    verifyLink(t.header, u.header)
    if (toHex(u.header.validatorsHash) !== toHex(t.header.nextValidatorsHash))
      throw new ChainError(
        'BAD_VALIDATOR_SET',
        `header ${u.header.number} is signed by another validator set than header ${t.header.number} announced`,
        { number: u.header.number },
      )
  } else if (u.header.timestamp < t.header.timestamp)
    throw new ChainError(
      'BAD_PARENT',
      `header ${u.header.number} is older than the verified header ${t.header.number}`,
      { number: u.header.number },
    )
}

/**
 * Tallies `u`'s signers (members of `t.nextValidators` first) until it has its own quorum and, when
 * not adjacent to `t`, the trust level; throws NO_QUORUM / BAD_HEADER_SIGNATURE (`ChainError`).
 * Returns whether `u` is trusted from `t` — false: not enough trust (bisect).
 */
export function tallyFrom(
  chainId: number,
  t: LightBlock,
  u: LightBlock,
  level: SkipOptions['trustLevel'],
  stats?: SigStats,
): Pending & { trusted: boolean } {
  const adjacent = u.header.number === t.header.number + 1
  const n = u.validators.length
  // Membership computed once: `enough` runs after every signature recovered.
  const inTrusted = inTrustedSet(t, u)
  const slotOf = new Map(u.validators.map((a, i) => [a, i]))
  const enough = (s: ReadonlySet<number>) =>
    hasQuorum(s.size, n) && (adjacent || trusts(t, inTrusted, s, level))
  const signers = tallySigners(
    chainId,
    u.signed,
    u.validators,
    enough,
    (a) => inTrusted[slotOf.get(a)!]!,
    stats,
  )
  if (!hasQuorum(signers.size, n))
    throw new ChainError(
      'NO_QUORUM',
      `header ${u.header.number} has ${signers.size} of ${n} validator signatures; at least 2/3 are needed`,
      { number: u.header.number, signed: signers.size, validators: n },
    )
  return { b: u, signers, trusted: enough(signers) }
}

/** Starts moving trust from `trusted` to `target` (≥ its height). Throws `TrustExpiredError`. */
export function startSkip(
  trusted: LightBlock,
  target: number,
  o: SkipOptions,
  which: 'checkpoint' | 'stored head' = 'checkpoint',
): Skipper {
  checkNotExpired(trusted, which, o)
  if (target < trusted.header.number)
    throw new RangeError(`target ${target} is below the trusted header ${trusted.header.number}`)
  const drift = o.maxClockDriftSec ?? DEFAULT_MAX_CLOCK_DRIFT_SEC
  let verified = trusted
  const path: LightBlock[] = [trusted]
  /** Fetched, not yet verified, highest first (the last is checked next). */
  let pending: Pending[] = []
  const sig: SigStats = { recovered: 0 }
  let fetched = 0
  let bisections = 0

  const accept = (p: Pending) => {
    verified = p.b
    path.push(p.b)
    pending.pop()
  }

  return {
    next() {
      for (;;) {
        if (verified.header.number === target) return { kind: 'done', head: verified }
        const top = pending.at(-1)
        if (!top) return { kind: 'fetch', height: target }
        checkStep(verified, top.b)
        const adjacent = top.b.header.number === verified.header.number + 1
        // Signers of a block still pending were all recovered when it fell short of the trust level.
        if (adjacent || trusts(verified, inTrustedSet(verified, top.b), top.signers, o.trustLevel)) {
          accept(top)
          continue
        }
        bisections++
        const v = verified.header.number
        return { kind: 'fetch', height: v + Math.floor((top.b.header.number - v) / 2) }
      }
    },
    take(height, reply) {
      const b = lightBlockOf(o.chainId, reply)
      if (b.header.number !== height)
        throw new ChainError('BAD_PARENT', `asked for header ${height}, got ${b.header.number}`, {
          number: b.header.number,
        })
      const above = pending.at(-1)?.b.header.number ?? target + 1
      if (height <= verified.header.number || height >= above)
        throw new RangeError(`height ${height} was not asked for`)
      const ahead = b.header.timestamp - o.nowSec()
      if (ahead > drift) throw new HeaderFromFutureError(height, ahead)
      checkStep(verified, b)
      const p = tallyFrom(o.chainId, verified, b, o.trustLevel, sig)
      fetched++
      pending.push(p)
    },
    dropPending() {
      pending = []
    },
    verified: () => verified,
    path: () => [...path],
    stats: () => ({ fetched, signatures: sig.recovered, bisections }),
  }
}
