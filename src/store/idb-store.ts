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
import { verifyStoredState } from '../core/sync/verify.ts'

/** A pack was replaced by a compaction between a lookup and its read (internal; retried). */
class PackMovedError extends Error {}

export class StoreFullError extends RootsyncError {
  constructor(detail: string) {
    super(
      'STORE_FULL',
      `browser storage is full${detail ? ` (${detail})` : ''}: free space on this device or clear old site data, then retry — nothing of the last batch was stored`,
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
  move(slot: number, pack: number, offset: number): void {
    this.vals[2 * slot] = pack
    this.vals[2 * slot + 1] = offset
  }
  /** Slots (an upper bound for slot numbers). */
  get capacity(): number {
    return this.mask + 1
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
  private table = new PrefixTable()
  /** Staged nodes (few at a time): hex hash → [pack, offset]. */
  private staged = new Map<string, [number, number]>()
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
    // Metadata (the stored head, the proof cache) is readable at once; node reads and writes wait
    // for the index, which takes a while to load for a large state.
    store.indexLoaded = store.loadIndex()
    store.indexLoaded.catch(() => {})
    return store
  }

  private indexLoaded: Promise<void> = Promise.resolve()

  private async loadIndex(): Promise<void> {
    let cursor = await this.db.transaction(INDEX).store.openCursor()
    while (cursor) {
      this.applyIndex(cursor.value as IndexRecord)
      cursor = await cursor.continue()
    }
  }

  /** Resolves once the node index is loaded (`size`, `stagedCount` and `packBytes` are then exact). */
  ready(): Promise<void> {
    return this.indexLoaded
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
    const buf = (await this.db.get(PACKS, id)) as ArrayBuffer | undefined
    // A compaction may have replaced the pack since the slot was looked up: callers look again.
    if (!buf) throw new PackMovedError()
    p = new Uint8Array(buf)
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
    await this.indexLoaded
    const at = this.staged.get(toHex(hash))
    return at ? this.entry(at[0], at[1]) : undefined
  }

  async *stagedHashes(): AsyncIterable<Uint8Array> {
    await this.indexLoaded
    for (const k of [...this.staged.keys()]) yield fromHex(k)
  }

  /** The node bytes (a copy) if stored. */
  async getNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    await this.indexLoaded
    for (let attempt = 0; ; attempt++) {
      try {
        const slot = await this.slotOf(hash)
        if (slot < 0) return undefined
        const p = await this.pack(this.table.pack(slot))
        const off = this.table.offset(slot)
        const len = new DataView(p.buffer, p.byteOffset).getUint32(off + 32)
        return p.slice(off + 36, off + 36 + len)
      } catch (e) {
        if (!(e instanceof PackMovedError) || attempt > 2) throw e
      }
    }
  }

  /** The table slot holding `hash` (full hash confirmed), or -1. */
  private async slotOf(hash: Uint8Array): Promise<number> {
    for (const s of this.table.find(hash)) {
      const off = this.table.offset(s)
      if (off === DELETED) continue
      if (sameHash(await this.pack(this.table.pack(s)), off, hash)) return s
    }
    return -1
  }

  /**
   * Pruning: drops every node not reachable from `root` (staged nodes are kept), so a client that
   * follows the head does not grow without bound. Live nodes are marked by the integrity walk (each
   * re-hashed on the way, so a corrupt store fails here, loudly, before anything is dropped); then
   * each pack is rewritten with only its live entries, new pack and index in, old ones out, in one
   * transaction per pack. A crash between packs leaves some garbage, never a missing live node.
   */
  async compact(
    root: Uint8Array,
    signal?: AbortSignal,
  ): Promise<{ kept: number; dropped: number; bytes: number }> {
    await this.indexLoaded
    const live = new Uint8Array(this.table.capacity)
    await verifyStoredState(this, root, {
      signal,
      onNode: (h) => {
        for (const s of this.table.find(h)) live[s] = 1
      },
    })
    const keys = (await this.db.getAllKeys(INDEX)) as number[]
    let kept = 0
    let dropped = 0
    for (const key of keys) {
      if (signal?.aborted) break
      const r = (await this.db.get(INDEX, key)) as IndexRecord | undefined
      if (!r) continue
      const old = r.pack ? await this.pack(r.pack).catch(() => null) : null
      // Entries to keep: live nodes at this very location, and staged nodes still staged here.
      const keep: number[] = []
      const slots: number[] = []
      for (let i = 0; i < r.offsets.length; i++) {
        const off = r.offsets[i]!
        if (off === DELETED || !old) continue
        const h = r.hashes.subarray(32 * i, 32 * i + 32)
        if (r.kinds?.[i] === 1) {
          const at = this.staged.get(toHex(h))
          if (at && at[0] === r.pack && at[1] === off) keep.push(i)
          continue
        }
        let slot = -1
        for (const s of this.table.find(h))
          if (this.table.pack(s) === r.pack && this.table.offset(s) === off) slot = s
        if (slot >= 0 && live[slot]) {
          keep.push(i)
          slots.push(slot)
        } else dropped++
      }
      if (r.pack && keep.length === r.offsets.length) {
        kept += slots.length
        continue // nothing to drop here
      }
      let size = 0
      for (const i of keep)
        size += 36 + new DataView(old!.buffer, old!.byteOffset).getUint32(r.offsets[i]! + 32)
      const pack = new Uint8Array(size)
      const hashes = new Uint8Array(32 * keep.length)
      const offsets = new Uint32Array(keep.length)
      const kinds = new Uint8Array(keep.length)
      let o = 0
      keep.forEach((i, j) => {
        const from = r.offsets[i]!
        const len = 36 + new DataView(old!.buffer, old!.byteOffset).getUint32(from + 32)
        pack.set(old!.subarray(from, from + len), o)
        hashes.set(r.hashes.subarray(32 * i, 32 * i + 32), 32 * j)
        offsets[j] = o
        kinds[j] = r.kinds?.[i] ?? 0
        o += len
      })
      const tx = this.db.transaction([PACKS, INDEX], 'readwrite')
      let packId = 0
      if (keep.length) {
        packId = (await tx.objectStore(PACKS).add(pack.buffer)) as number
        await tx
          .objectStore(INDEX)
          .add({ pack: packId, hashes, offsets, kinds, packBytes: size } satisfies IndexRecord)
      }
      if (r.pack) await tx.objectStore(PACKS).delete(r.pack)
      await tx.objectStore(INDEX).delete(key)
      await tx.done
      // Point the in-memory index at the new locations (reads in flight retry on a moved pack).
      this.packBytes += size - (r.packBytes ?? 0)
      let k = 0
      keep.forEach((i, j) => {
        const h = r.hashes.subarray(32 * i, 32 * i + 32)
        if (r.kinds?.[i] === 1) this.staged.set(toHex(h), [packId, offsets[j]!])
        else this.table.move(slots[k++]!, packId, offsets[j]!)
      })
      kept += slots.length
      this.cache.delete(r.pack)
      if (keep.length) this.cache.set(packId, pack)
    }
    // Dropped entries still hold slots: rebuild the index from the records as at open, then swap.
    const fresh = new IdbNodeStore(this.db)
    await fresh.loadIndex()
    this.table = fresh.table
    this.staged = fresh.staged
    this.packBytes = fresh.packBytes
    return { kept, dropped, bytes: this.packBytes }
  }

  async hasNode(hash: Uint8Array): Promise<boolean> {
    return (await this.getNode(hash)) !== undefined
  }

  async hasNodes(hashes: Uint8Array[]): Promise<boolean[]> {
    await this.indexLoaded
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
    await this.indexLoaded
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
