/**
 * Local snapshots: the last few complete, verified states the store keeps for recovery, as one
 * metadata record (META.snapshots): RLP list of [height, root, headerHash, nodes], newest first.
 * Every completed sync or recovery adds one (in the same atomic write as its completion marker), and
 * compaction keeps the nodes of every recorded root (`snapshotRoots` → liveRoots).
 *
 * Security considerations: the record is local data and may be damaged or tampered with. It is only
 * a hint of where a complete state might be: a snapshot is used only after its root node is found,
 * its nodes are checked against that root (local.ts), and its header hash is linked to the verified
 * target. A record that does not decode never stops recovery: it reads as "no snapshots", flagged.
 */
import { toHex } from '../bytes.ts'
import type { TrustedHeader } from '../chain/header.ts'
import { RootsyncError } from '../errors.ts'
import { META } from '../meta-keys.ts'
import { asBytes, asList, asSafeInt, rlpDecode, rlpEncode } from '../rlp.ts'
import type { NodeStore } from '../store.ts'

export interface SnapshotRecord {
  height: number
  /** State root at `height` (the state under it was complete and verified when recorded). */
  root: Uint8Array
  /** Hash of the header at `height` that commits to `root`. */
  headerHash: Uint8Array
  /** Nodes the state had when recorded (for display and estimates). */
  nodes: number
}

/** The snapshot record could not be read: the list reads as empty and carries this. */
export class SnapshotRecordError extends RootsyncError {
  constructor(message: string) {
    super('SNAPSHOTS_CORRUPT', `the local snapshot record is unreadable: ${message}`)
    this.name = 'SnapshotRecordError'
  }
}

/** Snapshot records, newest first; `corrupt` is set (and the list empty) when the record is unreadable. */
export type SnapshotList = SnapshotRecord[] & { corrupt: SnapshotRecordError | null }

const listOf = (records: SnapshotRecord[], corrupt: SnapshotRecordError | null = null): SnapshotList =>
  Object.assign(records, { corrupt })

const byHeightDesc = (a: SnapshotRecord, b: SnapshotRecord) => b.height - a.height

export function decodeSnapshots(bytes: Uint8Array): SnapshotRecord[] {
  return asList(rlpDecode(bytes), 'snapshot records')
    .map((item) => {
      const l = asList(item, 'snapshot record', 4)
      return {
        height: asSafeInt(l[0], 'snapshot height'),
        root: exact32(asBytes(l[1], 'snapshot root', 32), 'root'),
        headerHash: exact32(asBytes(l[2], 'snapshot header hash', 32), 'header hash'),
        nodes: asSafeInt(l[3], 'snapshot node count'),
      }
    })
    .sort(byHeightDesc)
}

function exact32(b: Uint8Array, what: string): Uint8Array {
  if (b.length !== 32) throw new SnapshotRecordError(`snapshot ${what} is ${b.length} bytes, not 32`)
  return b
}

export function encodeSnapshots(records: SnapshotRecord[]): Uint8Array {
  return rlpEncode(records.map((r) => [r.height, r.root, r.headerHash, r.nodes]))
}

/** The recorded snapshots, newest first. Never throws on a damaged record (see `SnapshotList`). */
export async function readSnapshots(store: Pick<NodeStore, 'getMeta'>): Promise<SnapshotList> {
  const bytes = await store.getMeta(META.snapshots)
  if (!bytes) return listOf([])
  try {
    return listOf(decodeSnapshots(bytes))
  } catch (e) {
    return listOf([], e instanceof SnapshotRecordError ? e : new SnapshotRecordError((e as Error).message))
  }
}

/**
 * The meta entries (for a write batch) that record `added` among `existing`: one entry per root
 * (`added` replaces an existing record with the same root), newest first, keeping the newest plus
 * `keep` older ones.
 */
export function snapshotRecords(
  existing: readonly SnapshotRecord[],
  added: SnapshotRecord,
  keep: number,
): [string, Uint8Array][] {
  const seen = new Set<string>()
  const merged: SnapshotRecord[] = []
  for (const r of [added, ...existing]) {
    const k = toHex(r.root)
    if (seen.has(k)) continue
    seen.add(k)
    merged.push(r)
  }
  merged.sort(byHeightDesc)
  return [[META.snapshots, encodeSnapshots(merged.slice(0, 1 + Math.max(0, keep)))]]
}

/** The meta entries that record the complete state under `h` as the newest local snapshot. */
export async function snapshotEntriesFor(
  store: Pick<NodeStore, 'getMeta'>,
  h: TrustedHeader,
  nodes: number,
  keep: number,
): Promise<[string, Uint8Array][]> {
  const added = { height: h.header.number, root: h.header.stateRoot, headerHash: h.hash, nodes }
  return snapshotRecords(await readSnapshots(store), added, keep)
}

/** The roots compaction must keep reachable. */
export function snapshotRoots(records: readonly SnapshotRecord[]): Uint8Array[] {
  return records.map((r) => r.root)
}
