/**
 * What the light client keeps between sessions, and how it is trusted again: the newest verified
 * header WITH its quorum signatures (META.lightHead), the checkpoint the store was synced from
 * (META.lightCheckpoint), the completed state (META.stateRoot, written by the sync engine) and the
 * repair flag (META.repair).
 *
 * Security considerations: local storage can be corrupted or tampered with, so a stored head is
 * trusted again only after `trustStoredHeader` re-checks its signatures against the configured
 * validators (or its hash, at the checkpoint); one that fails is ignored — trust restarts from the
 * checkpoint — and the caller is told why. A state flagged for repair is never reported complete.
 */
import { equals, fromHex, toHex, utf8 } from '../bytes.ts'
import { decodeSignedHeader, encodeSignedHeader, type TrustedHeader } from '../chain/header.ts'
import { type Checkpoint, trustStoredHeader } from '../chain/light.ts'
import { RootsyncError } from '../errors.ts'
import { META } from '../meta-keys.ts'
import { asBytes, asList, rlpDecode, rlpEncode } from '../rlp.ts'
import type { NodeStore } from '../store.ts'
import { readSyncedRoot } from '../sync/state-sync.ts'
import type { LightEvent } from './events.ts'

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
  head: TrustedHeader | null
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

/**
 * Reads what an earlier session left. `refuseOtherCheckpoint`: a store synced from another
 * checkpoint is refused (the CLI's data directory); otherwise the stored head is simply re-verified
 * against the configured checkpoint (a browser database is per chain; a later checkpoint of the same
 * chain still verifies it).
 */
export async function loadTrust(
  store: NodeStore,
  cp: Checkpoint,
  emit: (e: LightEvent) => void,
  refuseOtherCheckpoint: boolean,
): Promise<StoredTrust> {
  // All at once: a return visit's first answer waits on these reads.
  const [storedCp, bytes, synced, repair] = await Promise.all([
    store.getMeta(META.lightCheckpoint),
    store.getMeta(META.lightHead),
    readSyncedRoot(store),
    readRepair(store),
  ])
  if (refuseOtherCheckpoint && storedCp && !equals(storedCp, cp.hash))
    throw new CheckpointMismatchError(storedCp, cp.hash)
  let head: TrustedHeader | null = null
  if (bytes) {
    try {
      head = trustStoredHeader(cp, decodeSignedHeader(bytes))
    } catch (e) {
      const err = e as RootsyncError
      emit({ type: 'stored-head-ignored', code: err.code ?? 'UNKNOWN', reason: err.message })
    }
  }
  return { head, synced, repair }
}

/** The records that keep `h` as the newest verified head (with its signatures) for `cp`. */
export function headRecords(h: TrustedHeader, cp: Checkpoint): [string, Uint8Array][] {
  return h.signed
    ? [
        [META.lightHead, encodeSignedHeader(h.signed)],
        [META.lightCheckpoint, cp.hash],
      ]
    : [[META.lightCheckpoint, cp.hash]]
}
