/**
 * The node store on IndexedDB (through `idb`), for the browser worker.
 *
 * IndexedDB costs ~65 µs per record whatever its size (DESIGN.md §5), so one record per trie node
 * caps a sync near 15k nodes/s. This store packs instead: each `write()` appends ONE pack record
 * holding all of its nodes (`[hash 32][len u32][bytes]…`) and ONE index record listing their hashes
 * and offsets, in a single transaction with the metadata changes — so a batch is atomic across tab
 * kills and reloads exactly as on LevelDB.
 *
 * Lookups go through an in-memory hash table on typed arrays (8-byte hash prefix → pack, offset;
 * 16 bytes per node, outside the JS object heap), rebuilt from the index records when the store
 * opens. A prefix hit is confirmed against the full hash stored in the pack, so prefix collisions
 * cannot return a wrong node. Recently read packs are cached.
 *
 * Nodes the sync keeps aside while their children arrive (`WriteBatch.stage`) go into the same
 * pack, flagged in the index, so they cost no records of their own either (one record per staged
 * node held a sync at 7.8k nodes/s; packed, 113k — docs/benchmarks.md).
 *
 * Deletions are tombstones in a later index record (the browser rarely deletes: "clear data" drops
 * the whole database).
 *
 * Security considerations: nothing here trusts the stored bytes; readers (the trie, the sync, the
 * integrity walk) re-hash what they load. A full quota aborts the transaction (nothing of the batch
 * is stored) and surfaces as `StoreFullError`.
 */
import { type IDBPDatabase, openDB } from 'idb'
import { fromHex, toHex } from '../core/bytes.ts'
import { RootsyncError } from '../core/errors.ts'
import type { NodeStore, WriteBatch } from '../core/store.ts'

export class StoreFullError extends RootsyncError {
  constructor(detail: string) {
    super(
      'STORE_FULL',
      `browser storage is full (${detail}); free space or clear old data — nothing of the last batch was stored`,
    )
    this.name = 'StoreFullError'
  }
}

const PACKS = 'packs'
const INDEX = 'index'
const META = 'meta'

interface IndexRecord {
  pack: number // 0 for a tombstone-only record
  hashes: Uint8Array // 32 bytes each
  offsets: Uint32Array // offset of each entry's [hash][len][bytes] in the pack; 0xffffffff = deleted
  /** Per entry: 0 node, 1 staged node (sync bookkeeping). Absent = all nodes. */
  kinds?: Uint8Array
  /** Byte length of the pack record this index describes. */
  packBytes?: number
}

const DELETED = 0xffffffff

/** Open addressing on typed arrays: key = first 8 bytes of the hash (two u32), value = pack, offset. */
class PrefixTable {
  private keys = new Uint32Array(2 * 1024)
  private vals = new Uint32Array(2 * 1024)
  private used = new Uint8Array(1024)
  private mask = 1023
  count = 0

  private static hi(h: Uint8Array): number {
    return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0
  }
  private static lo(h: Uint8Array): number {
    return ((h[4]! << 24) | (h[5]! << 16) | (h[6]! << 8) | h[7]!) >>> 0
  }

  /** Every slot whose prefix matches `h` (collisions are rare; callers confirm the full hash). */
  *find(h: Uint8Array): Generator<number> {
    const hi = PrefixTable.hi(h)
    const lo = PrefixTable.lo(h)
    for (let s = hi & this.mask; this.used[s]; s = (s + 1) & this.mask) {
      if (this.keys[2 * s] === hi && this.keys[2 * s + 1] === lo) yield s
    }
  }
  pack(slot: number): number {
    return this.vals[2 * slot]!
  }
  offset(slot: number): number {
    return this.vals[2 * slot + 1]!
  }
  setOffset(slot: number, offset: number): void {
    this.vals[2 * slot + 1] = offset
  }

  insert(h: Uint8Array, pack: number, offset: number): void {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow()
    const hi = PrefixTable.hi(h)
    let s = hi & this.mask
    while (this.used[s]) s = (s + 1) & this.mask
    this.used[s] = 1
    this.keys[2 * s] = hi
    this.keys[2 * s + 1] = PrefixTable.lo(h)
    this.vals[2 * s] = pack
    this.vals[2 * s + 1] = offset
    this.count++
  }

  private grow(): void {
    const { keys, vals, used } = this
    const size = (this.mask + 1) * 2
    this.keys = new Uint32Array(2 * size)
    this.vals = new Uint32Array(2 * size)
    this.used = new Uint8Array(size)
    this.mask = size - 1
    for (let s = 0; s < used.length; s++) {
      if (!used[s]) continue
      let t = keys[2 * s]! & this.mask
      while (this.used[t]) t = (t + 1) & this.mask
      this.used[t] = 1
      this.keys[2 * t] = keys[2 * s]!
      this.keys[2 * t + 1] = keys[2 * s + 1]!
      this.vals[2 * t] = vals[2 * s]!
      this.vals[2 * t + 1] = vals[2 * s + 1]!
    }
  }
}

export class IdbNodeStore implements NodeStore {
  private readonly table = new PrefixTable()
  /** Staged nodes (few at a time): hex hash → [pack, offset]. */
  private readonly staged = new Map<string, [number, number]>()
  private readonly cache = new Map<number, Uint8Array>()
  private readonly cacheLimit = 64

  private constructor(readonly db: IDBPDatabase) {}

  static async open(name: string): Promise<IdbNodeStore> {
    const db = await openDB(name, 1, {
      upgrade(d) {
        d.createObjectStore(PACKS, { autoIncrement: true })
        d.createObjectStore(INDEX, { autoIncrement: true })
        d.createObjectStore(META)
      },
    })
    const store = new IdbNodeStore(db)
    let cursor = await db.transaction(INDEX).store.openCursor()
    while (cursor) {
      store.applyIndex(cursor.value as IndexRecord)
      cursor = await cursor.continue()
    }
    return store
  }

  /** Nodes stored (the in-memory index size; deleted nodes still count until the table is rebuilt). */
  get size(): number {
    return this.table.count
  }

  /** Nodes kept aside by an unfinished sync, waiting for their children. */
  get stagedCount(): number {
    return this.staged.size
  }

  /** Bytes of node packs written (hashes, lengths and node bytes; IndexedDB's own overhead excluded). */
  packBytes = 0

  private applyIndex(r: IndexRecord): void {
    this.packBytes += r.packBytes ?? 0
    for (let i = 0; i < r.offsets.length; i++) {
      const h = r.hashes.subarray(32 * i, 32 * i + 32)
      if (r.kinds?.[i] === 1) {
        if (r.offsets[i] === DELETED) this.staged.delete(toHex(h))
        else this.staged.set(toHex(h), [r.pack, r.offsets[i]!])
        continue
      }
      if (r.offsets[i] === DELETED) {
        for (const s of this.table.find(h)) this.table.setOffset(s, DELETED)
      } else this.table.insert(h, r.pack, r.offsets[i]!)
    }
  }

  private async pack(id: number): Promise<Uint8Array> {
    let p = this.cache.get(id)
    if (p) {
      this.cache.delete(id)
      this.cache.set(id, p)
      return p
    }
    p = new Uint8Array((await this.db.get(PACKS, id)) as ArrayBuffer)
    this.cache.set(id, p)
    if (this.cache.size > this.cacheLimit) this.cache.delete(this.cache.keys().next().value!)
    return p
  }

  private async entry(pack: number, off: number): Promise<Uint8Array> {
    const p = await this.pack(pack)
    const len = new DataView(p.buffer, p.byteOffset).getUint32(off + 32)
    return p.slice(off + 36, off + 36 + len)
  }

  async getStaged(hash: Uint8Array): Promise<Uint8Array | undefined> {
    const at = this.staged.get(toHex(hash))
    return at ? this.entry(at[0], at[1]) : undefined
  }

  async *stagedHashes(): AsyncIterable<Uint8Array> {
    for (const k of [...this.staged.keys()]) yield fromHex(k)
  }

  /** The node bytes (a copy) if stored. */
  async getNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    for (const s of this.table.find(hash)) {
      const off = this.table.offset(s)
      if (off === DELETED) continue
      const p = await this.pack(this.table.pack(s))
      if (!sameHash(p, off, hash)) continue
      const len = new DataView(p.buffer, p.byteOffset).getUint32(off + 32)
      return p.slice(off + 36, off + 36 + len)
    }
    return undefined
  }

  async hasNode(hash: Uint8Array): Promise<boolean> {
    return (await this.getNode(hash)) !== undefined
  }

  async hasNodes(hashes: Uint8Array[]): Promise<boolean[]> {
    const out: boolean[] = []
    for (const h of hashes) {
      let any = false
      for (const s of this.table.find(h)) if (this.table.offset(s) !== DELETED) any = true
      // A prefix hit is confirmed by the full hash in the pack (rare misses on collisions).
      out.push(any && (await this.hasNode(h)))
    }
    return out
  }

  async getMeta(key: string): Promise<Uint8Array | undefined> {
    const v = (await this.db.get(META, key)) as Uint8Array | undefined
    return v ?? undefined
  }

  async *metaKeys(prefix: string): AsyncIterable<string> {
    const keys = (await this.db.getAllKeys(META, IDBKeyRange.bound(prefix, `${prefix}\uffff`))) as string[]
    yield* keys
  }

  async write(batch: WriteBatch): Promise<void> {
    const stage = [...(batch.stage ?? [])]
    const nodes = [...(batch.nodes ?? []), ...stage]
    const deletes = [...(batch.deleteNodes ?? [])]
    const unstage = [...(batch.unstage ?? [])]
    const meta = [...(batch.meta ?? [])]
    let pack: Uint8Array | null = null
    const n = nodes.length + deletes.length + unstage.length
    const hashes = new Uint8Array(32 * n)
    const offsets = new Uint32Array(n)
    const kinds = new Uint8Array(n)
    kinds.fill(1, nodes.length - stage.length, nodes.length)
    kinds.fill(1, nodes.length + deletes.length)
    if (nodes.length) {
      let size = 0
      for (const [, v] of nodes) size += 36 + v.length
      pack = new Uint8Array(size)
      const dv = new DataView(pack.buffer)
      let o = 0
      nodes.forEach(([h, v], i) => {
        hashes.set(h, 32 * i)
        offsets[i] = o
        pack!.set(h, o)
        dv.setUint32(o + 32, v.length)
        pack!.set(v, o + 36)
        o += 36 + v.length
      })
    }
    ;[...deletes, ...unstage].forEach((h, j) => {
      hashes.set(h, 32 * (nodes.length + j))
      offsets[nodes.length + j] = DELETED
    })
    let record: IndexRecord | null = null
    try {
      const tx = this.db.transaction([PACKS, INDEX, META], 'readwrite')
      const packId = pack ? ((await tx.objectStore(PACKS).add(pack.buffer)) as number) : 0
      if (offsets.length) {
        record = { pack: packId, hashes, offsets, kinds, packBytes: pack?.length ?? 0 }
        await tx.objectStore(INDEX).add(record)
      }
      for (const [k, v] of meta) {
        if (v === null) await tx.objectStore(META).delete(k)
        else await tx.objectStore(META).put(v, k)
      }
      await tx.done
      if (pack) this.cache.set(packId, pack)
    } catch (e) {
      const err = e as DOMException
      if (err?.name === 'QuotaExceededError') throw new StoreFullError(err.message)
      throw new RootsyncError(
        'STORE_WRITE_FAILED',
        `IndexedDB write failed: ${err?.name ?? ''} ${err?.message ?? e}`,
      )
    }
    // Only after the transaction committed: the in-memory index never runs ahead of the disk.
    if (record) this.applyIndex(record)
  }

  close(): void {
    this.db.close()
  }
}

function sameHash(p: Uint8Array, off: number, h: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (p[off + i] !== h[i]) return false
  return true
}
