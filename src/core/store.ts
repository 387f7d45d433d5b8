/**
 * The node store: the one seam between core logic and storage. Trie nodes and contract code are
 * content-addressed (key = keccak of value), so a store never needs to trust what it holds: every
 * reader can re-hash. Small metadata records (heads, sync progress) live beside them and are written
 * in the same atomic batch as the nodes they describe, which is what makes restarts safe.
 *
 * Implementations: `MemoryNodeStore` here (tests, benchmarks), LevelDB in Node, IndexedDB in the
 * browser.
 */
import { fromHex, toHex } from './bytes.ts'

export interface WriteBatch {
  /** Content-addressed entries: trie nodes and code, keyed by their keccak-256. */
  nodes?: Iterable<readonly [hash: Uint8Array, value: Uint8Array]>
  /** Metadata: a value of `null` deletes the key. */
  meta?: Iterable<readonly [key: string, value: Uint8Array | null]>
  /** Content-addressed entries to delete (pruning). */
  deleteNodes?: Iterable<Uint8Array>
  /** Nodes an unfinished sync keeps aside (verified, waiting for their children), by hash. */
  stage?: Iterable<readonly [hash: Uint8Array, value: Uint8Array]>
  /** Staged nodes to drop (their subtree completed, or they belong to an abandoned target). */
  unstage?: Iterable<Uint8Array>
}

export interface NodeStore {
  getNode(hash: Uint8Array): Promise<Uint8Array | undefined>
  hasNode(hash: Uint8Array): Promise<boolean>
  /** Presence of many nodes at once (the sync's skip-if-present check). */
  hasNodes(hashes: Uint8Array[]): Promise<boolean[]>
  getMeta(key: string): Promise<Uint8Array | undefined>
  /** Metadata keys (without values) that start with `prefix`. */
  metaKeys(prefix: string): AsyncIterable<string>
  /** A staged node (see `WriteBatch.stage`). */
  getStaged(hash: Uint8Array): Promise<Uint8Array | undefined>
  /** Hashes of every staged node. */
  stagedHashes(): AsyncIterable<Uint8Array>
  /** Applies every part of the batch atomically: all of it is visible after, or none of it. */
  write(batch: WriteBatch): Promise<void>
}

/** What a store holds, for progress, pruning decisions and the UI. */
export interface StoreStats {
  /** Content-addressed entries (trie nodes and code) stored. */
  nodes: number
  /** Bytes those entries take (values; a packed store may report its packed size). */
  bytes: number
  /** Nodes kept aside by an unfinished sync. */
  staged: number
}

export interface CompactResult {
  kept: number
  dropped: number
}

/**
 * The store contract the light-client driver needs, on top of `NodeStore`: every backend (memory,
 * LevelDB, IndexedDB) implements it, so the driver never depends on one of them.
 */
export interface StateStore extends NodeStore {
  /** Resolves once node lookups are answered from the whole store (IndexedDB loads its index lazily). */
  ready(): Promise<void>
  /** Current counts (cheap, synchronous). */
  stats(): StoreStats
  /**
   * Drops every node and code blob that no root in `liveRoots` reaches. It walks each live state
   * first and, if one is damaged (a node missing, corrupt or undecodable), throws the walk's
   * `StateIntegrityError` and deletes nothing.
   */
  compact(liveRoots: Uint8Array[], opts?: { signal?: AbortSignal }): Promise<CompactResult>
  close(): Promise<void>
}

/**
 * Stores without a packed layout keep staged nodes as metadata records under this prefix; these
 * helpers give them the staging part of the interface.
 */
export const STAGED_META_PREFIX = 'sync/staged/'
export const stagedMetaKey = (hash: Uint8Array): string => STAGED_META_PREFIX + toHex(hash)

export function stagingAsMeta(batch: WriteBatch): [string, Uint8Array | null][] {
  const out: [string, Uint8Array | null][] = []
  for (const [h, v] of batch.stage ?? []) out.push([stagedMetaKey(h), v])
  for (const h of batch.unstage ?? []) out.push([stagedMetaKey(h), null])
  return out
}

export async function* stagedHashesFromMeta(store: Pick<NodeStore, 'metaKeys'>): AsyncIterable<Uint8Array> {
  for await (const k of store.metaKeys(STAGED_META_PREFIX)) yield fromHex(k.slice(STAGED_META_PREFIX.length))
}

export class MemoryNodeStore implements NodeStore {
  readonly nodes = new Map<string, Uint8Array>()
  readonly meta = new Map<string, Uint8Array>()
  writes = 0

  async getNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.nodes.get(toHex(hash))
  }
  async hasNode(hash: Uint8Array): Promise<boolean> {
    return this.nodes.has(toHex(hash))
  }
  async hasNodes(hashes: Uint8Array[]): Promise<boolean[]> {
    return hashes.map((h) => this.nodes.has(toHex(h)))
  }
  async getMeta(key: string): Promise<Uint8Array | undefined> {
    return this.meta.get(key)
  }
  async *metaKeys(prefix: string): AsyncIterable<string> {
    for (const k of [...this.meta.keys()]) if (k.startsWith(prefix)) yield k
  }
  async write(batch: WriteBatch): Promise<void> {
    this.writes++
    for (const [h, v] of batch.nodes ?? []) this.nodes.set(toHex(h), v)
    for (const h of batch.deleteNodes ?? []) this.nodes.delete(toHex(h))
    for (const [k, v] of [...(batch.meta ?? []), ...stagingAsMeta(batch)]) {
      if (v === null) this.meta.delete(k)
      else this.meta.set(k, v)
    }
  }
  async getStaged(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.meta.get(stagedMetaKey(hash))
  }
  stagedHashes(): AsyncIterable<Uint8Array> {
    return stagedHashesFromMeta(this)
  }
}
