/**
 * The IndexedDB store's on-disk layout (version 2), in one place: every part of the IndexedDB store
 * reads and writes records through these names.
 *
 * Object stores:
 * - `packs` (auto-increment key, the pack id ≥ 1): an ArrayBuffer of entries, each `[len u32 BE][bytes]`
 *   — the bytes of trie nodes, code blobs and staged nodes of one write (or one compaction rewrite).
 * - `index` (auto-increment key): one `IndexRecord` per write, naming its pack and, per entry, the
 *   8-byte prefix of its hash, its offset in the pack and its kind (below). Replaying the index
 *   records in key order rebuilds the in-memory lookup table: a later record overrides an earlier one.
 * - `meta` (string key, the keys of core/meta-keys.ts): a Uint8Array value per key.
 *
 * Entry kinds (`IndexRecord.kinds`):
 * - `KIND.node`: a node or code blob in this record's pack; only its hash prefix is kept (readers
 *   confirm a prefix hit by hashing the bytes).
 * - `KIND.staged`: a staged node (sync bookkeeping), in this record's pack, with its full hash kept
 *   (the sync lists staged nodes by hash at a restart). At offset `DELETED`: that node is unstaged.
 * - `KIND.promoted`: a staged node that became a node, its bytes left where they were staged
 *   (`packs[i]`, `offsets[i]`) so they are not written twice.
 * - A `KIND.node` entry at offset `DELETED` is a tombstone: the node (full hash kept) is deleted.
 *
 * Security considerations: nothing in a record is trusted to name the right bytes — a prefix hit is
 * only a candidate until the bytes hash to the hash asked for.
 */

export const STORES = { packs: 'packs', index: 'index', meta: 'meta' } as const
/** Version 2: packs without hashes, prefix index. Older databases are dropped and synced again. */
export const DB_VERSION = 2

export const KIND = { node: 0, staged: 1, promoted: 2 } as const
/** The offset of a tombstone (deleted node) or an unstaging. */
export const DELETED = 0xffffffff

export interface IndexRecord {
  /** The pack holding this record's entries; 0 for a record without bytes (tombstones only). */
  pack: number
  /** First 8 bytes of each entry's hash. */
  prefixes: Uint8Array
  /** Offset of each entry's [len u32][bytes] in the pack; `DELETED` for a tombstone or unstaging. */
  offsets: Uint32Array
  /** Per entry, its `KIND`. */
  kinds: Uint8Array
  /** Per entry, the pack holding a promoted entry's bytes (0 for the others: this record's pack). */
  packs?: Uint32Array
  /** Full hashes of the entries that are staged or deleted, in entry order. */
  full: Uint8Array
  /** Byte length of the pack record. */
  packBytes: number
}

/** Whether entry `i` of `r` keeps its full hash in `r.full`. */
const keepsFullHash = (r: IndexRecord, i: number) => r.kinds[i] === KIND.staged || r.offsets[i] === DELETED

/** The record's entries, with the full hash where the record keeps one. */
export function* entries(
  r: IndexRecord,
): Generator<{ i: number; prefix: Uint8Array; full: Uint8Array | null }> {
  let f = 0
  for (let i = 0; i < r.offsets.length; i++) {
    const full = keepsFullHash(r, i) ? r.full.subarray(32 * f, 32 * ++f) : null
    yield { i, prefix: r.prefixes.subarray(8 * i, 8 * i + 8), full }
  }
}

/** The bytes of the entry at `off` of a pack (a view: copy before handing out). */
export function entryAt(pack: Uint8Array, off: number): Uint8Array {
  const len = new DataView(pack.buffer, pack.byteOffset).getUint32(off)
  return pack.subarray(off + 4, off + 4 + len)
}

/**
 * Packs `items` (each [hash or 8-byte prefix, bytes]) into one pack, filling the first
 * `items.length` slots of `prefixes` and `offsets`; null when there are no bytes to store.
 */
export function packEntries(
  items: readonly (readonly [Uint8Array, Uint8Array])[],
  prefixes: Uint8Array,
  offsets: Uint32Array,
): { pack: Uint8Array | null; size: number } {
  let size = 0
  for (const e of items) size += 4 + e[1].length
  if (!size) return { pack: null, size }
  const pack = new Uint8Array(size)
  const dv = new DataView(pack.buffer)
  let o = 0
  for (let i = 0; i < items.length; i++) {
    const [h, v] = items[i]!
    prefixes.set(h.subarray(0, 8), 8 * i)
    offsets[i] = o
    dv.setUint32(o, v.length)
    pack.set(v, o + 4)
    o += 4 + v.length
  }
  return { pack, size }
}

/** A hash as a 16-character string (two bytes per UTF-16 unit): a cheap Map key for staged nodes. */
export function hashKey(h: Uint8Array): string {
  let s = ''
  for (let i = 0; i < 32; i += 2) s += String.fromCharCode((h[i]! << 8) | h[i + 1]!)
  return s
}

/** The hash back from its `hashKey`. */
export function hashOfKey(k: string): Uint8Array {
  const h = new Uint8Array(32)
  for (let i = 0; i < 16; i++) {
    const c = k.charCodeAt(i)
    h[2 * i] = c >> 8
    h[2 * i + 1] = c & 0xff
  }
  return h
}
