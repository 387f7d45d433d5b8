/**
 * A `WriteBatch` as the IndexedDB store commits it (idb-writer.ts `CommitRequest`): its nodes and
 * staged nodes packed into one buffer, one index record naming them by hash prefix and offset, its
 * metadata. Staged nodes that this batch writes as nodes and unstages become promotions: an index
 * entry at the staged bytes, no second copy. The layout is idb-layout.ts's.
 *
 * Security considerations: only hashes are checked here (32 bytes each); the bytes were verified by
 * the sync before they reached the store, and are re-hashed by every reader.
 */
import { equals } from '../core/bytes.ts'
import { assertHash, type WriteBatch } from '../core/store.ts'
import type { IdbIndex } from './idb-index.ts'
import { DELETED, hashKey, KIND, packEntries } from './idb-layout.ts'
import type { CommitRequest } from './idb-writer.ts'

type Pair = readonly [Uint8Array, Uint8Array]

const hi32 = (h: Uint8Array) => ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0

/**
 * Nodes of this batch that are staged here and unstaged by the same batch become promotions.
 * Keyed by the first 4 bytes, confirmed in full: no string key per node of the batch.
 */
function promotions(index: IdbIndex, nodes: Pair[], unstage: Uint8Array[]) {
  const promoted: { hash: Uint8Array; at: [number, number] }[] = []
  if (!unstage.length || !index.staged.size) return { nodes, promoted, unstage }
  const byHi = new Map<number, Uint8Array | Uint8Array[]>()
  for (const u of unstage) {
    const k = hi32(u)
    const had = byHi.get(k)
    byHi.set(k, had === undefined ? u : Array.isArray(had) ? [...had, u] : [had, u])
  }
  const done = new Set<Uint8Array>()
  const rest: Pair[] = []
  for (const e of nodes) {
    const h = e[0]
    const c = byHi.get(hi32(h))
    const u =
      c === undefined
        ? undefined
        : Array.isArray(c)
          ? c.find((x) => !done.has(x) && equals(x, h))
          : !done.has(c) && equals(c, h)
            ? c
            : undefined
    const at = u && index.staged.get(hashKey(h))
    if (u && at) {
      promoted.push({ hash: h, at })
      done.add(u)
    } else rest.push(e)
  }
  return { nodes: rest, promoted, unstage: done.size ? unstage.filter((u) => !done.has(u)) : unstage }
}

/** The commit of `batch` against the current `index` (which it does not change). */
export function commitOf(index: IdbIndex, batch: WriteBatch): CommitRequest {
  const stage = [...(batch.stage ?? [])]
  const deletes = [...(batch.deleteNodes ?? [])]
  const meta = [...(batch.meta ?? [])]
  const p = promotions(index, [...(batch.nodes ?? [])], [...(batch.unstage ?? [])])
  const { nodes, promoted, unstage } = p
  const stored = nodes.length ? [...nodes, ...stage] : stage
  const n = stored.length + promoted.length + deletes.length + unstage.length
  const prefixes = new Uint8Array(8 * n)
  const offsets = new Uint32Array(n)
  const kinds = new Uint8Array(n)
  const packs = promoted.length ? new Uint32Array(n) : undefined
  const full = new Uint8Array(32 * (stage.length + deletes.length + unstage.length))
  kinds.fill(KIND.staged, nodes.length, stored.length)
  kinds.fill(KIND.promoted, stored.length, stored.length + promoted.length)
  kinds.fill(KIND.staged, stored.length + promoted.length + deletes.length)
  for (const e of stored) assertHash(e[0])
  const { pack, size } = packEntries(stored, prefixes, offsets)
  let f = 0
  for (let i = nodes.length; i < stored.length; i++) full.set(stored[i]![0], 32 * f++)
  for (let j = 0; j < promoted.length; j++) {
    const { hash, at } = promoted[j]!
    prefixes.set(hash.subarray(0, 8), 8 * (stored.length + j))
    packs![stored.length + j] = at[0]
    offsets[stored.length + j] = at[1]
  }
  const tail = stored.length + promoted.length
  const gone = unstage.length ? [...deletes, ...unstage] : deletes
  for (let j = 0; j < gone.length; j++) {
    const h = gone[j]!
    assertHash(h)
    prefixes.set(h.subarray(0, 8), 8 * (tail + j))
    offsets[tail + j] = DELETED
    full.set(h, 32 * f++)
  }
  return {
    pack: pack ? (pack.buffer as ArrayBuffer) : null,
    record: n ? { prefixes, offsets, kinds, full, packBytes: size, ...(packs ? { packs } : {}) } : null,
    meta,
  }
}
