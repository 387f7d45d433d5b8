/**
 * The sync frontier: hashes known to be needed and not yet requested, served deepest first.
 *
 * Deeper-first keeps memory flat (geth's lesson, go-ethereum PR #25666): finishing subtrees early lets
 * their parents complete and leave memory, where breadth-first would hold a frontier as wide as the
 * trie. Buckets by depth make push/pop O(1); within a depth, order is FIFO.
 */
import type { RefKind } from '../trie/node.ts'

export interface Want {
  hash: Uint8Array
  key: string // the engine's identity for the hash (entry.ts keyOf)
  kind: RefKind
  /** Trie depth in nibbles (storage tries count from their account leaf's depth + 1). */
  depth: number
}

export class Frontier<W extends Want = Want> {
  private buckets: W[][] = []
  private heads: number[] = []
  private deepest = -1
  size = 0

  push(w: W): void {
    const d = Math.min(w.depth, 255)
    if (!this.buckets[d]) {
      this.buckets[d] = []
      this.heads[d] = 0
    }
    this.buckets[d]!.push(w)
    if (d > this.deepest) this.deepest = d
    this.size++
  }

  /** Takes up to `n` wants, deepest first, skipping (and keeping) those `skip` rejects. */
  take(n: number, skip?: (w: W) => boolean): W[] {
    const out: W[] = []
    const kept: W[] = []
    for (let d = this.deepest; d >= 0 && out.length < n; d--) {
      const b = this.buckets[d]
      if (!b) continue
      while (this.heads[d]! < b.length && out.length < n) {
        const w = b[this.heads[d]!]!
        this.heads[d]!++
        this.size--
        if (skip?.(w)) kept.push(w)
        else out.push(w)
      }
      if (this.heads[d] === b.length) {
        this.buckets[d] = []
        this.heads[d] = 0
      } else if (this.heads[d]! > 4096) {
        this.buckets[d] = b.slice(this.heads[d])
        this.heads[d] = 0
      }
    }
    while (this.deepest >= 0 && !this.buckets[this.deepest]?.length) this.deepest--
    for (const w of kept) this.push(w)
    return out
  }
}
