/**
 * The IndexedDB store's in-memory index: where every node and staged node lives (pack, offset),
 * rebuilt by replaying the `index` records (idb-layout.ts) when the store opens, and advanced by each
 * record a committed write adds. It never runs ahead of the disk: records are applied only after
 * their transaction committed.
 */
import type { IDBPDatabase } from 'idb'
import { DELETED, entries, hashKey, type IndexRecord, KIND, STORES } from './idb-layout.ts'
import { PrefixTable } from './prefix-table.ts'

export class IdbIndex {
  readonly table = new PrefixTable()
  /** Staged nodes: `hashKey` → [pack, offset]. */
  readonly staged = new Map<string, [number, number]>()
  /** The same, by location (pack · 2^32 + offset) → key: promotions name a location. */
  private readonly stagedAt = new Map<number, string>()
  /** Bytes of packs written (lengths and entry bytes; IndexedDB's own overhead excluded). */
  packBytes = 0

  /** The index of everything `db` holds (replays its index records in order). */
  static async load(db: IDBPDatabase): Promise<IdbIndex> {
    const index = new IdbIndex()
    let cursor = await db.transaction(STORES.index).store.openCursor()
    while (cursor) {
      index.apply(cursor.value as IndexRecord)
      cursor = await cursor.continue()
    }
    return index
  }

  stage(key: string, pack: number, off: number): void {
    this.unstage(key)
    this.staged.set(key, [pack, off])
    this.stagedAt.set(pack * 2 ** 32 + off, key)
  }

  unstage(key: string): void {
    const at = this.staged.get(key)
    if (!at) return
    this.staged.delete(key)
    this.stagedAt.delete(at[0] * 2 ** 32 + at[1])
  }

  /** The slot of the node stored at exactly (pack, off) under `prefix`, or -1. */
  slotAt(prefix: Uint8Array, pack: number, off: number): number {
    for (const s of this.table.find(prefix))
      if (this.table.pack(s) === pack && this.table.offset(s) === off) return s
    return -1
  }

  apply(r: IndexRecord): void {
    this.packBytes += r.packBytes
    if (!r.full.length && !r.packs) {
      // The common record: nodes only. A plain loop, no per-entry objects.
      for (let i = 0; i < r.offsets.length; i++) this.table.insert(r.prefixes, r.pack, r.offsets[i]!, 8 * i)
      return
    }
    for (const { i, prefix, full } of entries(r)) {
      const off = r.offsets[i]!
      if (r.kinds[i] === KIND.staged) {
        if (off === DELETED) this.unstage(hashKey(full!))
        else this.stage(hashKey(full!), r.pack, off)
      } else if (r.kinds[i] === KIND.promoted) {
        // Promoted: a node now, at its staged location. If that location is unknown, pruning has
        // rewritten the record that held it, and the rewrite carries the node.
        const loc = r.packs![i]! * 2 ** 32 + off
        const key = this.stagedAt.get(loc)
        if (key === undefined) continue
        this.unstage(key)
        this.table.insert(prefix, r.packs![i]!, off)
      } else if (off === DELETED) this.table.delete(prefix)
      else this.table.insert(prefix, r.pack, off)
    }
  }
}
