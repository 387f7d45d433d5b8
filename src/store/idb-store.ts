/**
 * The node store on IndexedDB (through `idb`), for the browser worker.
 *
 * IndexedDB costs ~65 µs per record whatever its size (DESIGN.md §5), so one record per trie node
 * caps a sync near 15k nodes/s. This store packs instead: each `write()` appends ONE pack record
 * holding all of its nodes (`[len u32][bytes]…`) and ONE index record (each entry's 8-byte hash
 * prefix, offset and kind), in a single transaction with the metadata changes — so a batch is atomic
 * across tab kills and reloads exactly as on LevelDB.
 *
 * Lookups go through an in-memory hash table on typed arrays (8-byte hash prefix → pack, offset;
 * 16 bytes per node, outside the JS object heap), rebuilt from the index records when the store
 * opens. A prefix hit is confirmed by hashing the stored bytes (keccak equals the hash asked for),
 * so a prefix collision cannot return a wrong node — which is why full hashes need not be stored:
 * a node costs its bytes + 17 bytes (length, prefix, offset, kind) instead of + 73. Recently read
 * packs are cached.
 *
 * Nodes the sync keeps aside while their children arrive (`WriteBatch.stage`) go into the same
 * pack, flagged in the index with their full hash (the sync lists them by hash at a restart), so they
 * cost no records of their own either (one record per staged node held a sync at 7.8k nodes/s).
 *
 * Deletions are tombstones (full hash) in a later index record; pruning (`compact`) rewrites packs.
 *
 * Security considerations: nothing here trusts the stored bytes; every node returned hashes to the
 * hash asked for, and readers (the trie, the sync, the integrity walk) re-hash what they load. A
 * full quota aborts the transaction (nothing of the batch is stored) and surfaces as
 * `StoreFullError`.
 */
import { type IDBPDatabase, openDB } from 'idb'
import { equals } from '../core/bytes.ts'
import { RootsyncError } from '../core/errors.ts'
import { keccak256 } from '../core/hash.ts'
import type { NodeStore, WriteBatch } from '../core/store.ts'
import { keyOf } from '../core/sync/state-sync.ts'
import { verifyStoredState } from '../core/sync/verify.ts'

/** The hash back from its `keyOf` key (16 UTF-16 code units, two bytes each). */
function hashOfKey(k: string): Uint8Array {
  const h = new Uint8Array(32)
  for (let i = 0; i < 16; i++) {
    const c = k.charCodeAt(i)
    h[2 * i] = c >> 8
    h[2 * i + 1] = c & 0xff
  }
  return h
}

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
/** Version 2: packs without hashes, prefix index. Older databases are dropped and synced again. */
const DB_VERSION = 2

interface IndexRecord {
  pack: number // 0 for a tombstone-only record
  /** First 8 bytes of each entry's hash. */
  prefixes: Uint8Array
  /** Offset of each entry's [len u32][bytes] in the pack; DELETED for a tombstone. */
  offsets: Uint32Array
  /**
   * Per entry: 0 node, 1 staged node (sync bookkeeping), 2 promoted: a staged node that became a
   * node, its bytes left where they were staged (`packs[i]`, `offsets[i]`), so they are not written
   * twice.
   */
  kinds: Uint8Array
  /** Per entry, the pack holding a promoted entry's bytes (0 for the others: this record's pack). */
  packs?: Uint32Array
  /** Full hashes of the entries that are staged or tombstones, in entry order. */
  full: Uint8Array
  /** Byte length of the pack record. */
  packBytes: number
}

const DELETED = 0xffffffff

/** The record's entries, with the full hash where the record keeps one. */
function* entries(r: IndexRecord): Generator<{ i: number; prefix: Uint8Array; full: Uint8Array | null }> {
  let f = 0
  for (let i = 0; i < r.offsets.length; i++) {
    const needsFull = r.kinds[i] === 1 || r.offsets[i] === DELETED
    const full = needsFull ? r.full.subarray(32 * f, 32 * ++f) : null
    yield { i, prefix: r.prefixes.subarray(8 * i, 8 * i + 8), full }
  }
}

/** Open addressing on typed arrays: key = first 8 bytes of the hash (two u32), value = pack, offset. */
class PrefixTable {
  private keys = new Uint32Array(2 * 1024)
  private vals = new Uint32Array(2 * 1024)
  private used = new Uint8Array(1024)
  private mask = 1023
  count = 0

  private static hi(h: Uint8Array, at = 0): number {
    return ((h[at]! << 24) | (h[at + 1]! << 16) | (h[at + 2]! << 8) | h[at + 3]!) >>> 0
  }
  private static lo(h: Uint8Array, at = 0): number {
    return ((h[at + 4]! << 24) | (h[at + 5]! << 16) | (h[at + 6]! << 8) | h[at + 7]!) >>> 0
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

  /** Adds the prefix at `h[at..at+8]` (no subarray per node: the index is loaded in bulk). */
  insert(h: Uint8Array, pack: number, offset: number, at = 0): void {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow()
    const hi = PrefixTable.hi(h, at)
    let s = hi & this.mask
    while (this.used[s]) s = (s + 1) & this.mask
    this.used[s] = 1
    this.keys[2 * s] = hi
    this.keys[2 * s + 1] = PrefixTable.lo(h, at)
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
  /** Staged nodes: hash (as the sync engine's 16-character key) → [pack, offset]. */
  private staged = new Map<string, [number, number]>()
  /** The same, by location (pack · 2^32 + offset) → key: promotions name a location. */
  private stagedAt = new Map<number, string>()
  private readonly cache = new Map<number, Uint8Array>()
  /** Bytes of packs kept in memory: recent writes and reads (the worker's heap budget is 128 MB). */
  private readonly cacheLimitBytes = 16 * 1024 * 1024
  private cacheBytes = 0
  private indexLoaded: Promise<void> = Promise.resolve()
  /** Bytes of node packs written (lengths and node bytes; IndexedDB's own overhead excluded). */
  packBytes = 0

  private constructor(readonly db: IDBPDatabase) {}

  static async open(name: string): Promise<IdbNodeStore> {
    const db = await openDB(name, DB_VERSION, {
      upgrade(d, oldVersion) {
        // Version 1 stored full hashes in packs and index; its data is dropped (synced again).
        if (oldVersion > 0) for (const n of [...d.objectStoreNames]) d.deleteObjectStore(n)
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

  private stage(key: string, pack: number, off: number): void {
    this.unstage(key)
    this.staged.set(key, [pack, off])
    this.stagedAt.set(pack * 2 ** 32 + off, key)
  }

  private unstage(key: string): void {
    const at = this.staged.get(key)
    if (!at) return
    this.staged.delete(key)
    this.stagedAt.delete(at[0] * 2 ** 32 + at[1])
  }

  private applyIndex(r: IndexRecord): void {
    this.packBytes += r.packBytes
    if (!r.full.length && !r.packs) {
      // The common record: nodes only. A plain loop, no per-entry objects.
      for (let i = 0; i < r.offsets.length; i++) this.table.insert(r.prefixes, r.pack, r.offsets[i]!, 8 * i)
      return
    }
    for (const { i, prefix, full } of entries(r)) {
      const off = r.offsets[i]!
      if (r.kinds[i] === 1) {
        if (off === DELETED) this.unstage(keyOf(full!))
        else this.stage(keyOf(full!), r.pack, off)
      } else if (r.kinds[i] === 2) {
        // Promoted: a node now, at its staged location. If that location is unknown, pruning has
        // rewritten the record that held it, and the rewrite carries the node.
        const loc = r.packs![i]! * 2 ** 32 + off
        const key = this.stagedAt.get(loc)
        if (key === undefined) continue
        this.unstage(key)
        this.table.insert(prefix, r.packs![i]!, off)
      } else if (off === DELETED) {
        // A tombstone clears every slot with this prefix (a colliding node, ~2^-64 per pair, would
        // then read as missing, never as wrong).
        for (const s of this.table.find(prefix)) this.table.setOffset(s, DELETED)
      } else this.table.insert(prefix, r.pack, off)
    }
  }

  private async pack(id: number): Promise<Uint8Array> {
    let p = this.cache.get(id)
    if (p) {
      this.remember(id, p) // most recently used again
      return p
    }
    const buf = (await this.db.get(PACKS, id)) as ArrayBuffer | undefined
    // A compaction may have replaced the pack since the slot was looked up: callers look again.
    if (!buf) throw new PackMovedError()
    p = new Uint8Array(buf)
    this.remember(id, p)
    return p
  }

  private remember(id: number, p: Uint8Array): void {
    const old = this.cache.get(id)
    if (old) this.cacheBytes -= old.byteLength
    this.cache.delete(id)
    this.cache.set(id, p)
    this.cacheBytes += p.byteLength
    while (this.cacheBytes > this.cacheLimitBytes && this.cache.size > 1) {
      const [k, v] = this.cache.entries().next().value!
      this.cache.delete(k)
      this.cacheBytes -= v.byteLength
    }
  }

  private forget(id: number): void {
    const p = this.cache.get(id)
    if (!p) return
    this.cacheBytes -= p.byteLength
    this.cache.delete(id)
  }

  /** The bytes of the entry at `off` (a view into the cached pack: copy before handing out). */
  private static view(p: Uint8Array, off: number): Uint8Array {
    const len = new DataView(p.buffer, p.byteOffset).getUint32(off)
    return p.subarray(off + 4, off + 4 + len)
  }

  async getStaged(hash: Uint8Array): Promise<Uint8Array | undefined> {
    await this.indexLoaded
    const at = this.staged.get(keyOf(hash))
    return at ? IdbNodeStore.view(await this.pack(at[0]), at[1]).slice() : undefined
  }

  async *stagedHashes(): AsyncIterable<Uint8Array> {
    await this.indexLoaded
    for (const k of [...this.staged.keys()]) yield hashOfKey(k)
  }

  /** The node bytes (a copy) if stored: the bytes under a matching prefix whose keccak is `hash`. */
  async getNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    await this.indexLoaded
    for (let attempt = 0; ; attempt++) {
      try {
        for (const s of this.table.find(hash)) {
          const off = this.table.offset(s)
          if (off === DELETED) continue
          const v = IdbNodeStore.view(await this.pack(this.table.pack(s)), off)
          if (equals(keccak256(v), hash)) return v.slice()
        }
        return undefined
      } catch (e) {
        if (!(e instanceof PackMovedError) || attempt > 2) throw e
      }
    }
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
      // A prefix hit is confirmed by hashing the stored bytes (a collision reads as absent).
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

  /**
   * Nodes of this batch that are staged here and unstaged by the same batch (a staged node whose
   * children all arrived) become promotions: an index entry at the staged bytes, no second copy.
   */
  private promotions(nodes: (readonly [Uint8Array, Uint8Array])[], unstage: Uint8Array[]) {
    const promoted: { hash: Uint8Array; at: [number, number] }[] = []
    if (!unstage.length || !this.staged.size) return { nodes, promoted, unstage }
    // Keyed by the first 4 bytes, confirmed in full: no hex string per node of the batch.
    const byHi = new Map<number, Uint8Array[]>()
    for (const u of unstage) {
      const k = ((u[0]! << 24) | (u[1]! << 16) | (u[2]! << 8) | u[3]!) >>> 0
      byHi.set(k, [...(byHi.get(k) ?? []), u])
    }
    const done = new Set<Uint8Array>()
    const rest: (readonly [Uint8Array, Uint8Array])[] = []
    for (const e of nodes) {
      const h = e[0]
      const cands = byHi.get(((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0)
      const u = cands?.find((c) => !done.has(c) && equals(c, h))
      const at = u && this.staged.get(keyOf(h))
      if (u && at) {
        promoted.push({ hash: h, at })
        done.add(u)
      } else rest.push(e)
    }
    return { nodes: rest, promoted, unstage: unstage.filter((u) => !done.has(u)) }
  }

  async write(batch: WriteBatch): Promise<void> {
    await this.indexLoaded
    const stage = [...(batch.stage ?? [])]
    const deletes = [...(batch.deleteNodes ?? [])]
    const meta = [...(batch.meta ?? [])]
    const { nodes, promoted, unstage } = this.promotions([...(batch.nodes ?? [])], [...(batch.unstage ?? [])])
    const stored = [...nodes, ...stage]
    const n = stored.length + promoted.length + deletes.length + unstage.length
    const prefixes = new Uint8Array(8 * n)
    const offsets = new Uint32Array(n)
    const kinds = new Uint8Array(n)
    const packs = promoted.length ? new Uint32Array(n) : undefined
    const full = new Uint8Array(32 * (stage.length + deletes.length + unstage.length))
    kinds.fill(1, nodes.length, stored.length)
    kinds.fill(2, stored.length, stored.length + promoted.length)
    kinds.fill(1, stored.length + promoted.length + deletes.length)
    let size = 0
    for (const [, v] of stored) size += 4 + v.length
    const pack = size ? new Uint8Array(size) : null
    const dv = pack && new DataView(pack.buffer)
    let o = 0
    let f = 0
    stored.forEach(([h, v], i) => {
      prefixes.set(h.subarray(0, 8), 8 * i)
      offsets[i] = o
      dv!.setUint32(o, v.length)
      pack!.set(v, o + 4)
      o += 4 + v.length
      if (i >= nodes.length) full.set(h, 32 * f++)
    })
    promoted.forEach(({ hash, at }, j) => {
      prefixes.set(hash.subarray(0, 8), 8 * (stored.length + j))
      packs![stored.length + j] = at[0]
      offsets[stored.length + j] = at[1]
    })
    const tail = stored.length + promoted.length
    ;[...deletes, ...unstage].forEach((h, j) => {
      prefixes.set(h.subarray(0, 8), 8 * (tail + j))
      offsets[tail + j] = DELETED
      full.set(h, 32 * f++)
    })
    let record: IndexRecord | null = null
    try {
      const tx = this.db.transaction([PACKS, INDEX, META], 'readwrite')
      const packId = pack ? ((await tx.objectStore(PACKS).add(pack.buffer)) as number) : 0
      if (n) {
        record = {
          pack: packId,
          prefixes,
          offsets,
          kinds,
          full,
          packBytes: size,
          ...(packs ? { packs } : {}),
        }
        await tx.objectStore(INDEX).add(record)
      }
      for (const [k, v] of meta) {
        if (v === null) await tx.objectStore(META).delete(k)
        else await tx.objectStore(META).put(v, k)
      }
      await tx.done
      if (pack) this.remember(packId, pack)
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
      // Entries to keep: live nodes at this very location (promoted staged entries included, which
      // become plain nodes), and staged nodes still staged here. Promotions (kind 2) are dropped:
      // the record holding their bytes is rewritten with them as nodes.
      const keep: { i: number; full: Uint8Array | null; slot: number }[] = []
      let changed = !r.pack
      for (const { i, prefix, full } of entries(r)) {
        const off = r.offsets[i]!
        if (r.kinds[i] === 2 || off === DELETED || !old) {
          changed = true
          continue
        }
        if (r.kinds[i] === 1) {
          const at = this.staged.get(keyOf(full!))
          if (at && at[0] === r.pack && at[1] === off) {
            keep.push({ i, full, slot: -1 })
            continue
          }
        }
        let slot = -1
        for (const s of this.table.find(prefix))
          if (this.table.pack(s) === r.pack && this.table.offset(s) === off) slot = s
        if (slot >= 0 && live[slot]) {
          keep.push({ i, full: null, slot })
          if (r.kinds[i] !== 0) changed = true // promoted: written back as a plain node
        } else {
          changed = true
          if (r.kinds[i] === 0) dropped++
        }
      }
      kept += keep.filter((k) => k.slot >= 0).length
      if (!changed) continue // nothing to drop or convert here
      const views = keep.map((k) => IdbNodeStore.view(old!, r.offsets[k.i]!))
      const size = views.reduce((a, v) => a + 4 + v.length, 0)
      const pack = new Uint8Array(size)
      const dv = new DataView(pack.buffer)
      const prefixes = new Uint8Array(8 * keep.length)
      const offsets = new Uint32Array(keep.length)
      const kinds = new Uint8Array(keep.length)
      const fulls = keep.filter((k) => k.full)
      const full = new Uint8Array(32 * fulls.length)
      fulls.forEach((k, j) => {
        full.set(k.full!, 32 * j)
      })
      let o = 0
      keep.forEach((k, j) => {
        prefixes.set(r.prefixes.subarray(8 * k.i, 8 * k.i + 8), 8 * j)
        offsets[j] = o
        kinds[j] = k.full ? 1 : 0
        dv.setUint32(o, views[j]!.length)
        pack.set(views[j]!, o + 4)
        o += 4 + views[j]!.length
      })
      const tx = this.db.transaction([PACKS, INDEX], 'readwrite')
      let packId = 0
      if (keep.length) {
        packId = (await tx.objectStore(PACKS).add(pack.buffer)) as number
        await tx
          .objectStore(INDEX)
          .add({ pack: packId, prefixes, offsets, kinds, full, packBytes: size } satisfies IndexRecord)
      }
      if (r.pack) await tx.objectStore(PACKS).delete(r.pack)
      await tx.objectStore(INDEX).delete(key)
      await tx.done
      // Point the in-memory index at the new locations (reads in flight retry on a moved pack).
      this.packBytes += size - r.packBytes
      keep.forEach((k, j) => {
        if (k.full) this.stage(keyOf(k.full), packId, offsets[j]!)
        else this.table.move(k.slot, packId, offsets[j]!)
      })
      this.forget(r.pack)
      if (keep.length) this.remember(packId, pack)
    }
    // Dropped entries still hold slots: rebuild the index from the records as at open, then swap.
    const fresh = new IdbNodeStore(this.db)
    await fresh.loadIndex()
    this.table = fresh.table
    this.staged = fresh.staged
    this.stagedAt = fresh.stagedAt
    this.packBytes = fresh.packBytes
    return { kept, dropped, bytes: this.packBytes }
  }

  close(): void {
    this.db.close()
  }
}
