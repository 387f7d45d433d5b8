/**
 * The IndexedDB store's pack reader: recently written and read packs kept in memory (least recently
 * used dropped first, within a byte budget: the worker's heap is limited), the rest read from the
 * `packs` object store.
 */
import type { IDBPDatabase } from 'idb'
import { STORES } from './idb-layout.ts'

/** A pack was replaced by a compaction between a lookup and its read (internal; callers look again). */
export class PackMovedError extends Error {}

export class PackCache {
  private readonly cache = new Map<number, Uint8Array>()
  private bytes = 0

  constructor(
    private readonly db: IDBPDatabase,
    private readonly limitBytes = 16 * 1024 * 1024,
  ) {}

  async get(id: number): Promise<Uint8Array> {
    let p = this.cache.get(id)
    if (p) {
      this.remember(id, p) // most recently used again
      return p
    }
    const buf = (await this.db.get(STORES.packs, id)) as ArrayBuffer | undefined
    if (!buf) throw new PackMovedError()
    p = new Uint8Array(buf)
    this.remember(id, p)
    return p
  }

  remember(id: number, p: Uint8Array): void {
    this.forget(id)
    this.cache.set(id, p)
    this.bytes += p.byteLength
    while (this.bytes > this.limitBytes && this.cache.size > 1) {
      const [k, v] = this.cache.entries().next().value!
      this.cache.delete(k)
      this.bytes -= v.byteLength
    }
  }

  forget(id: number): void {
    const p = this.cache.get(id)
    if (!p) return
    this.bytes -= p.byteLength
    this.cache.delete(id)
  }
}
