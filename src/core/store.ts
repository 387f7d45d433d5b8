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
import { RootsyncError } from './errors.ts'
import { META } from './meta-keys.ts'
import { throwIfStopped } from './task.ts'
import { markReachable, type WalkSource } from './trie/reachable.ts'

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

/** A hash that is not 32 bytes cannot be a content address: the whole batch is refused. */
export function assertHash(h: Uint8Array): void {
  if (h?.length !== 32)
    throw new RootsyncError(
      'STORE_INVALID_BATCH',
      `a node hash must be 32 bytes, not ${h?.length ?? typeof h}`,
    )
}

/**
 * Stores without a packed layout keep staged nodes as metadata records under `META.stagedPrefix`;
 * these helpers give them the staging part of the interface.
 */
export const STAGED_META_PREFIX = META.stagedPrefix
export const stagedMetaKey = (hash: Uint8Array): string => STAGED_META_PREFIX + toHex(hash)

export function stagingAsMeta(batch: WriteBatch): [string, Uint8Array | null][] {
  const out: [string, Uint8Array | null][] = []
  for (const [h, v] of batch.stage ?? []) {
    assertHash(h)
    out.push([stagedMetaKey(h), v])
  }
  for (const h of batch.unstage ?? []) out.push([stagedMetaKey(h), null])
  return out
}

export async function* stagedHashesFromMeta(store: Pick<NodeStore, 'metaKeys'>): AsyncIterable<Uint8Array> {
  for await (const k of store.metaKeys(STAGED_META_PREFIX)) yield fromHex(k.slice(STAGED_META_PREFIX.length))
}

/**
 * Compaction for stores that can list their node keys (memory, LevelDB): mark everything the live
 * roots reach with the reachability walk — which throws, before anything is deleted, if a live state
 * is damaged — then delete the rest in batches. Staged nodes are metadata here and are kept.
 */
export async function compactByMarkAndSweep(
  store: NodeStore & WalkSource & { nodeHashes(): AsyncIterable<Uint8Array> },
  liveRoots: readonly Uint8Array[],
  signal?: AbortSignal,
): Promise<CompactResult & { bytes: number }> {
  const { marked, totals } = await markReachable(store, liveRoots, signal)
  let dropped = 0
  let batch: Uint8Array[] = []
  const flush = async () => {
    if (signal) throwIfStopped(signal, 'compaction')
    await store.write({ deleteNodes: batch })
    dropped += batch.length
    batch = []
  }
  for await (const h of store.nodeHashes()) {
    if (marked.has(toHex(h))) continue
    batch.push(h.slice())
    if (batch.length >= 10_000) await flush()
  }
  if (batch.length) await flush()
  return { kept: marked.size, dropped, bytes: totals.bytes }
}

/** Everything in memory: for tests, benchmarks and one-shot tools. */
export class MemoryNodeStore implements StateStore {
  readonly nodes = new Map<string, Uint8Array>()
  readonly meta = new Map<string, Uint8Array>()
  writes = 0
  private bytes = 0
  private staged = 0

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
    // Everything is read (and checked) before anything is applied: a batch that fails leaves nothing.
    const nodes = [...(batch.nodes ?? [])]
    for (const [h] of nodes) assertHash(h)
    const deletes = [...(batch.deleteNodes ?? [])]
    const meta = [...(batch.meta ?? []), ...stagingAsMeta(batch)]
    this.writes++
    for (const [h, v] of nodes) {
      const k = toHex(h)
      this.bytes += v.length - (this.nodes.get(k)?.length ?? 0)
      this.nodes.set(k, v)
    }
    for (const h of deletes) {
      const k = toHex(h)
      this.bytes -= this.nodes.get(k)?.length ?? 0
      this.nodes.delete(k)
    }
    for (const [k, v] of meta) {
      const counts = k.startsWith(STAGED_META_PREFIX)
      if (counts) this.staged -= this.meta.has(k) ? 1 : 0
      if (v === null) this.meta.delete(k)
      else this.meta.set(k, v)
      if (counts) this.staged += v === null ? 0 : 1
    }
  }
  async getStaged(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.meta.get(stagedMetaKey(hash))
  }
  stagedHashes(): AsyncIterable<Uint8Array> {
    return stagedHashesFromMeta(this)
  }
  async *nodeHashes(): AsyncIterable<Uint8Array> {
    for (const k of [...this.nodes.keys()]) yield fromHex(k)
  }
  async ready(): Promise<void> {}
  stats(): StoreStats {
    return { nodes: this.nodes.size, bytes: this.bytes, staged: this.staged }
  }
  async compact(liveRoots: Uint8Array[], opts: { signal?: AbortSignal } = {}): Promise<CompactResult> {
    const { kept, dropped } = await compactByMarkAndSweep(this, liveRoots, opts.signal)
    return { kept, dropped }
  }
  async close(): Promise<void> {}
}
