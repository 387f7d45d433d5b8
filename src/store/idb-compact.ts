/**
 * The IndexedDB store's sweep: once the reachability walk has marked the live slots of the lookup
 * table, each pack is rewritten with only its live entries (and the staged nodes still staged there)
 * — new pack and index record in, old ones out, in one transaction per pack. A crash between packs
 * leaves some garbage, never a missing live node; the caller rebuilds the index afterwards (dropped
 * entries still hold slots).
 */
import type { IDBPDatabase } from 'idb'
import type { IdbIndex } from './idb-index.ts'
import {
  DELETED,
  entries,
  entryAt,
  hashKey,
  type IndexRecord,
  KIND,
  packEntries,
  STORES,
} from './idb-layout.ts'
import type { PackCache } from './idb-packs.ts'

/** Rewrites every pack that holds something not live; `live[slot]` marks the live slots of `index`. */
export async function sweepPacks(
  db: IDBPDatabase,
  index: IdbIndex,
  packs: PackCache,
  live: Uint8Array,
  signal?: AbortSignal,
): Promise<{ kept: number; dropped: number }> {
  const keys = (await db.getAllKeys(STORES.index)) as number[]
  let kept = 0
  let dropped = 0
  for (const key of keys) {
    // A write during the sweep may have grown the table, renumbering its slots: `live` no longer
    // names them, so stop (what is left is garbage kept, never a live node dropped).
    if (signal?.aborted || index.table.capacity !== live.length) break
    const r = (await db.get(STORES.index, key)) as IndexRecord | undefined
    if (!r) continue
    const old = r.pack ? await packs.get(r.pack).catch(() => null) : null
    // Entries to keep: live nodes at this very location (promoted staged entries included, which
    // become plain nodes), and staged nodes still staged here. Promotions are dropped: the record
    // holding their bytes is rewritten with them as nodes.
    const keep: { i: number; full: Uint8Array | null; slot: number }[] = []
    let changed = !r.pack
    for (const { i, prefix, full } of entries(r)) {
      const off = r.offsets[i]!
      if (r.kinds[i] === KIND.promoted || off === DELETED || !old) {
        changed = true
        continue
      }
      if (r.kinds[i] === KIND.staged) {
        const at = index.staged.get(hashKey(full!))
        if (at && at[0] === r.pack && at[1] === off) {
          keep.push({ i, full, slot: -1 })
          continue
        }
      }
      const slot = index.slotAt(prefix, r.pack, off)
      if (slot >= 0 && live[slot]) {
        keep.push({ i, full: null, slot })
        if (r.kinds[i] !== KIND.node) changed = true // promoted: written back as a plain node
      } else {
        changed = true
        if (r.kinds[i] === KIND.node) dropped++
      }
    }
    kept += keep.filter((k) => k.slot >= 0).length
    if (!changed) continue // nothing to drop or convert here
    await rewrite(db, index, packs, key, r, old, keep)
  }
  return { kept, dropped }
}

/** Replaces record `key` (and its pack) by one holding only `keep`, and moves their slots. */
async function rewrite(
  db: IDBPDatabase,
  index: IdbIndex,
  packs: PackCache,
  key: number,
  r: IndexRecord,
  old: Uint8Array | null,
  keep: { i: number; full: Uint8Array | null; slot: number }[],
): Promise<void> {
  const prefixes = new Uint8Array(8 * keep.length)
  const offsets = new Uint32Array(keep.length)
  const kinds = new Uint8Array(keep.length)
  const items = keep.map(
    (k) => [r.prefixes.subarray(8 * k.i, 8 * k.i + 8), entryAt(old!, r.offsets[k.i]!)] as const,
  )
  const { pack, size } = packEntries(items, prefixes, offsets)
  const fulls = keep.filter((k) => k.full)
  const full = new Uint8Array(32 * fulls.length)
  fulls.forEach((k, j) => {
    full.set(k.full!, 32 * j)
  })
  keep.forEach((k, j) => {
    kinds[j] = k.full ? KIND.staged : KIND.node
  })
  const tx = db.transaction([STORES.packs, STORES.index], 'readwrite')
  let packId = 0
  if (pack) {
    packId = (await tx.objectStore(STORES.packs).add(pack.buffer)) as number
    await tx
      .objectStore(STORES.index)
      .add({ pack: packId, prefixes, offsets, kinds, full, packBytes: size } satisfies IndexRecord)
  }
  if (r.pack) await tx.objectStore(STORES.packs).delete(r.pack)
  await tx.objectStore(STORES.index).delete(key)
  await tx.done
  // Point the in-memory index at the new locations (reads in flight retry on a moved pack).
  index.packBytes += size - r.packBytes
  keep.forEach((k, j) => {
    if (k.full) index.stage(hashKey(k.full), packId, offsets[j]!)
    else index.table.move(k.slot, packId, offsets[j]!)
  })
  packs.forget(r.pack)
  if (pack) packs.remember(packId, pack)
}
