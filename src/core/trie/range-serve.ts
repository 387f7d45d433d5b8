/**
 * Serving side of range proofs: a run of leaves of the trie under `root` from `origin`, with the
 * proof of its two edges (the origin's path and the last leaf's path), in the shape
 * `verifyRangeProof` checks. The serving node answers `/rootsync/range/1` with it, and tests build
 * honest (and, by altering the result, dishonest) peers from it.
 *
 * Keys are trie keys (already hashed for secure tries); the trie is opened non-secure.
 * Security considerations: it reads only through the node store; a missing node throws
 * `MissingNodeError` (the server answers "unavailable": it does not have that state whole).
 */
import { compare } from '../bytes.ts'
import type { RangeReply } from '../protocol/range.ts'
import type { NodeStore } from '../store.ts'
import { Trie } from './trie.ts'

export interface ServeRangeLimits {
  /** Stop once the leaves' bytes (keys and values) reach this. */
  maxBytes: number
  /** Stop at this many leaves. */
  maxLeaves: number
}

export async function serveRange(
  store: NodeStore,
  root: Uint8Array,
  origin: Uint8Array,
  limit: Uint8Array,
  caps: ServeRangeLimits,
): Promise<RangeReply> {
  const t = new Trie(store, { root })
  const keys: Uint8Array[] = []
  const values: Uint8Array[] = []
  let bytes = 0
  for await (const [k, v] of t.entries(origin)) {
    keys.push(k)
    values.push(v)
    bytes += k.length + v.length
    // The first leaf at or past `limit` ends the run (it proves nothing is missing before it).
    if (compare(k, limit) >= 0 || bytes >= caps.maxBytes || keys.length >= caps.maxLeaves) break
  }
  const proof = await t.prove(origin)
  if (keys.length) {
    const seen = new Set(proof.map((p) => p.join(',')))
    for (const p of await t.prove(keys[keys.length - 1]!)) if (!seen.has(p.join(','))) proof.push(p)
  }
  return { keys, values, proof }
}
