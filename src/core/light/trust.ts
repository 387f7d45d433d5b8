/**
 * What the light client keeps between sessions, and how it is trusted again: the newest verified
 * head as a light block (its signatures and both validator sets, META.lightHead), the trust path
 * that led to it from the checkpoint's block (META.lightPath), the checkpoint the store was synced
 * from (META.lightCheckpoint), the completed state (META.stateRoot, written by the sync engine) and
 * the repair flag (META.repair).
 *
 * Security considerations: local storage can be corrupted or tampered with, and a stored validator
 * set is only as trustworthy as the storage, so a stored head is trusted again only after its whole
 * trust path is re-verified offline (`trustStoredPath`): the first block is the configured
 * checkpoint (hash and validators), each next one verifies from the one before by the skipping
 * rules, the head carries a quorum of its own stored set, and it is still inside the trusting
 * period. A head that fails any of this is ignored — trust restarts from the checkpoint — and the
 * caller is told why. Path pruning drops a block only when ANY quorum of the block after it would
 * meet the trust level of the block before it, so a pruned path still verifies. A state flagged
 * for repair is never reported complete.
 */
import { equals, fromHex, toHex, utf8 } from '../bytes.ts'
import { ChainError } from '../chain/errors.ts'
import { type LightBlock, signedHeaderFromItem, signedHeaderItem } from '../chain/header.ts'
import { type Checkpoint, trustCheckpoint } from '../chain/light.ts'
import { type LightBlockReply, lightBlockOf, lightBlockReply, type SigStats } from '../chain/validators.ts'
import type { Clock } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import { META } from '../meta-keys.ts'
import { asBytes, asList, asSafeInt, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import type { NodeStore } from '../store.ts'
import { readSyncedRoot } from '../sync/state-sync.ts'
import type { LightEvent } from './events.ts'
import { skipOptions } from './headers.ts'
import { checkNotExpired, checkStep, DEFAULT_TRUST_LEVEL, type SkipOptions, tallyFrom } from './skipping.ts'

/** The version tag of META.lightHead and META.lightPath records (format 1: a bare signed header). */
const TRUST_FORMAT = 2

/** The data directory was synced from another checkpoint (another chain, or another trust root). */
export class CheckpointMismatchError extends RootsyncError {
  constructor(stored: Uint8Array, configured: Uint8Array) {
    super(
      'CHAIN_MISMATCH',
      `the data directory was synced from checkpoint ${toHex(stored)}, not ${toHex(configured)}`,
      { stored: toHex(stored), configured: toHex(configured) },
    )
    this.name = 'CheckpointMismatchError'
  }
}

/** The stored state is flagged as damaged; it must be repaired before it is trusted complete. */
export class RepairNeededError extends RootsyncError {
  constructor(reason: string) {
    super('REPAIR_NEEDED', `the stored state needs repair (${reason}); it is not used as complete`, {
      reason,
    })
    this.name = 'RepairNeededError'
  }
}

export interface RepairRecord {
  reason: string
  hash: string | null
}

export interface StoredTrust {
  /** The stored head, re-verified; null if none or refused. */
  head: LightBlock | null
  /** Its trust path, re-verified (empty without a head). */
  path: LightBlock[]
  /** The completed state's root and height, if the last sync completed one. */
  synced: { root: Uint8Array; height: number } | null
  repair: RepairRecord | null
}

export async function readRepair(store: NodeStore): Promise<RepairRecord | null> {
  const b = await store.getMeta(META.repair)
  if (!b) return null
  try {
    const l = asList(rlpDecode(b), 'repair record')
    const hash = l[1] ? asBytes(l[1], 'hash') : new Uint8Array(0)
    return {
      reason: new TextDecoder().decode(asBytes(l[0], 'reason')),
      hash: hash.length ? toHex(hash) : null,
    }
  } catch {
    // An unreadable flag still means "needs repair": it is only ever written when something was wrong.
    return { reason: 'unreadable repair record', hash: null }
  }
}

/** The repair flag's record: written in one batch, read by `readRepair` (and the recovery next). */
export function repairRecord(r: RepairRecord): [string, Uint8Array] {
  return [META.repair, rlpEncode([utf8(r.reason), r.hash ? fromHex(r.hash) : new Uint8Array(0)])]
}

/** A stored record of another format (an older rootsync wrote it). */
class StoreFormatError extends RootsyncError {
  constructor(what: string) {
    super('STORE_FORMAT', `${what} was written in an older format`)
    this.name = 'StoreFormatError'
  }
}

const lightBlockItem = (b: LightBlock): unknown[] => {
  const r = lightBlockReply(b)
  return [signedHeaderItem(r.signed), r.validators, r.nextValidators]
}

function lightBlockFromItem(chainId: number, item: RlpItem | undefined): LightBlock {
  const l = asList(item, 'stored light block', 3)
  const set = (x: RlpItem | undefined, what: string) =>
    asList(x, what).map((a) => asBytes(a, 'validator', 20))
  const r: LightBlockReply = {
    signed: signedHeaderFromItem(l[0]!),
    validators: set(l[1], 'validators'),
    nextValidators: set(l[2], 'next validators'),
  }
  // The sets are checked against the header's hashes: a swapped stored set fails here.
  return lightBlockOf(chainId, r)
}

/** A stored record's body: [2, …] (anything else is an older format). */
function versioned(bytes: Uint8Array, what: string): RlpItem[] {
  const l = asList(rlpDecode(bytes), what)
  const tag = l[0]
  if (!(tag instanceof Uint8Array) || asSafeInt(tag, 'format') !== TRUST_FORMAT)
    throw new StoreFormatError(what)
  return l
}

/** The stored head record's light block (META.lightHead). */
export function decodeStoredHead(chainId: number, bytes: Uint8Array): LightBlock {
  const l = versioned(bytes, 'the stored head')
  return lightBlockFromItem(chainId, l.slice(1) as RlpItem)
}

/** The stored trust path (META.lightPath). */
export function decodeStoredPath(chainId: number, bytes: Uint8Array): LightBlock[] {
  const l = versioned(bytes, 'the stored trust path')
  return asList(l[1], 'trust path').map((x) => lightBlockFromItem(chainId, x))
}

/**
 * Re-verifies a stored trust path offline and returns its head: the first block is the checkpoint
 * (hash and validators), each next one verifies from the one before by the skipping rules (link or
 * trust level, its own quorum; signatures stop at the thresholds), and the head is inside the
 * trusting period (`TrustExpiredError` otherwise). Throws `ChainError` for anything tampered with.
 */
export function trustStoredPath(
  cp: Checkpoint,
  path: LightBlock[],
  o: SkipOptions,
  stats?: SigStats,
): LightBlock {
  const first = path[0]
  if (!first) throw new ChainError('CHECKPOINT_MISMATCH', 'the stored trust path is empty')
  let prev = trustCheckpoint(cp, lightBlockReply(first))
  for (const b of path.slice(1)) {
    checkStep(prev, b)
    if (!tallyFrom(cp.chainId, prev, b, o.trustLevel, stats).trusted)
      throw new ChainError(
        'NO_QUORUM',
        `stored header ${b.header.number} is signed by too few of the validators header ${prev.header.number} trusts`,
        { number: b.header.number },
      )
    prev = b
  }
  checkNotExpired(prev, 'stored head', o)
  return prev
}

/**
 * Whether any quorum of `c`'s own set meets the trust level of `a`'s next set (so `c` verifies from
 * `a` whoever of its set signed it): the smallest quorum, minus every signer outside `a`'s next set.
 */
function anyQuorumTrusted(a: LightBlock, c: LightBlock, level: SkipOptions['trustLevel']): boolean {
  if (c.header.number <= a.header.number + 1) return false
  const { num, den } = level ?? DEFAULT_TRUST_LEVEL
  const n = c.validators.length
  const inA = new Set(a.nextValidators.map(toHex))
  const common = c.validators.filter((x) => inA.has(toHex(x))).length
  const worst = Math.ceil((2 * n) / 3) - (n - common)
  return worst > 0 && worst * den >= a.nextValidators.length * num
}

/** The trust path without the blocks it no longer needs (the first and the last are kept). */
export function prunePath(path: LightBlock[], level?: SkipOptions['trustLevel']): LightBlock[] {
  const out = path.slice(0, 1)
  for (let i = 1; i < path.length; i++)
    if (i === path.length - 1 || !anyQuorumTrusted(out.at(-1)!, path[i + 1]!, level)) out.push(path[i]!)
  return out
}

/**
 * Reads what an earlier session left, re-verifying the stored head's trust path (a `trust` event,
 * source 'store'). `refuseOtherCheckpoint`: a store synced from another checkpoint is refused (the
 * CLI's data directory); otherwise the stored path is simply re-verified against the configured
 * checkpoint (a browser database is per chain; a later checkpoint of the same chain does not start
 * the stored path, so it is ignored and trust restarts from that checkpoint).
 */
export async function loadTrust(
  store: NodeStore,
  cp: Checkpoint,
  emit: (e: LightEvent) => void,
  refuseOtherCheckpoint: boolean,
  clock: Clock,
  skip?: Pick<SkipOptions, 'trustLevel' | 'maxClockDriftSec'>,
): Promise<StoredTrust> {
  // All at once: a return visit's first answer waits on these reads.
  const [storedCp, headBytes, pathBytes, synced, repair] = await Promise.all([
    store.getMeta(META.lightCheckpoint),
    store.getMeta(META.lightHead),
    store.getMeta(META.lightPath),
    readSyncedRoot(store),
    readRepair(store),
  ])
  if (refuseOtherCheckpoint && storedCp && !equals(storedCp, cp.hash))
    throw new CheckpointMismatchError(storedCp, cp.hash)
  let head: LightBlock | null = null
  let path: LightBlock[] = []
  if (headBytes) {
    const started = clock.now()
    const sig: SigStats = { recovered: 0 }
    try {
      const stored = decodeStoredHead(cp.chainId, headBytes)
      if (!pathBytes) throw new StoreFormatError('the stored head has no trust path: it')
      path = decodeStoredPath(cp.chainId, pathBytes)
      if (!equals(path.at(-1)?.hash ?? new Uint8Array(0), stored.hash))
        throw new ChainError('CHECKPOINT_MISMATCH', 'the stored trust path does not end at the stored head')
      head = trustStoredPath(cp, path, skipOptions({ cp, clock, skip }), sig)
      emit({
        type: 'trust',
        from: path[0]!.header.number,
        to: head.header.number,
        fetched: 0,
        signatures: sig.recovered,
        bisections: 0,
        ms: clock.now() - started,
        source: 'store',
      })
    } catch (e) {
      head = null
      path = []
      const err = e as RootsyncError
      emit({ type: 'stored-head-ignored', code: err.code ?? 'UNKNOWN', reason: err.message })
    }
  }
  return { head, path, synced, repair }
}

/** The records that keep the head at the end of `path` (its trust path) as the newest verified one for `cp`. */
export function headRecords(path: LightBlock[], cp: Checkpoint): [string, Uint8Array][] {
  const head = path.at(-1)!
  return [
    [META.lightHead, rlpEncode([TRUST_FORMAT, ...lightBlockItem(head)] as never)],
    [META.lightPath, rlpEncode([TRUST_FORMAT, path.map(lightBlockItem)] as never)],
    [META.lightCheckpoint, cp.hash],
  ]
}
