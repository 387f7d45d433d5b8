/**
 * The IndexedDB store's lookup table: open addressing on typed arrays, key = the first 8 bytes of a
 * hash (two u32), value = (pack, offset) — 16 bytes per node, outside the JS object heap, so a state
 * of millions of nodes can be indexed in a worker's memory. Several slots may share a prefix (a
 * collision, or a node written twice); callers confirm a hit by hashing the stored bytes.
 */
import { DELETED } from './idb-layout.ts'

export class PrefixTable {
  private keys = new Uint32Array(2 * 1024)
  private vals = new Uint32Array(2 * 1024)
  private used = new Uint8Array(1024)
  private mask = 1023
  /** Slots used (deleted ones included, until the table is rebuilt). */
  count = 0
  /** Slots that hold a node (not deleted). */
  live = 0

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
  /**
   * A tombstone clears every slot with this prefix (a colliding node, ~2^-64 per pair, then reads as
   * missing, never as wrong).
   */
  delete(h: Uint8Array): void {
    for (const s of this.find(h)) {
      if (this.vals[2 * s + 1] === DELETED) continue
      this.vals[2 * s + 1] = DELETED
      this.live--
    }
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
    this.live++
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
