/**
 * The node store on LevelDB (classic-level), for Node.js. Nodes and code live under `n` ‖ hash,
 * staged nodes (a sync's verified nodes still waiting for children) under `s` ‖ hash, metadata under
 * `m` ‖ utf8(key); a `write` is one LevelDB batch, so nodes and the metadata that describes them
 * become visible together or not at all (LevelDB's write-ahead log makes the batch atomic across
 * crashes).
 *
 * Staged nodes have binary keys because a sync stages and unstages about 0.28 nodes per node it
 * stores (bench:sync, 100k accounts: 42.9k of each for 153k nodes): as metadata each took a
 * 71-character key built and UTF-8 encoded twice (≈ 5% of the client's CPU in its profile). Stores
 * written before keep theirs under `m` ‖ "staged/" ‖ hex: those are still read, listed and unstaged.
 *
 * Counts (`stats()`) are taken by one scan in `ready()` and then follow the writes: a node written
 * again while present counts twice until the next `compact()`, which counts exactly again (keeping the
 * write path free of a presence check per node).
 */
import { ClassicLevel } from 'classic-level'
import { utf8 } from '../core/bytes.ts'
import { RootsyncError } from '../core/errors.ts'
import {
  assertHash,
  type CompactResult,
  compactByMarkAndSweep,
  STAGED_META_PREFIX,
  type StateStore,
  type StoreStats,
  stagedHashesFromMeta,
  stagedMetaKey,
  type WriteBatch,
} from '../core/store.ts'

/** Key prefixes: `n` ‖ hash for nodes and code, `m` ‖ utf8(key) for metadata. */
const NODE = 0x6e
const META = 0x6d
/** `s` ‖ hash: staged nodes. */
const STAGE = 0x73

function prefixed(prefix: number, hash: Uint8Array): Uint8Array {
  const k = new Uint8Array(hash.length + 1)
  k[0] = prefix
  k.set(hash, 1)
  return k
}

const nodeKey = (hash: Uint8Array): Uint8Array => prefixed(NODE, hash)
const stageKey = (hash: Uint8Array): Uint8Array => prefixed(STAGE, hash)

function metaKey(key: string): Uint8Array {
  const b = utf8(key)
  const k = new Uint8Array(b.length + 1)
  k[0] = META
  k.set(b, 1)
  return k
}

/** Key range of the metadata keys that start with `prefix` (all metadata for ''). */
function metaRange(prefix: string): { gte: Uint8Array; lt: Uint8Array } {
  const start = metaKey(prefix)
  const end = start.slice()
  end[end.length - 1]!++
  return { gte: start, lt: prefix ? end : Uint8Array.of(META + 1) }
}

type Db = ClassicLevel<Uint8Array, Uint8Array>
type Op = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }

/** Key range of one single-byte prefix. */
const range = (p: number) => ({ gte: Uint8Array.of(p), lt: Uint8Array.of(p + 1) })

export class LevelNodeStore implements StateStore {
  private counts: StoreStats = { nodes: 0, bytes: 0, staged: 0 }
  private counted: Promise<void> | null = null

  /** `legacyStaged`: the store holds staged nodes in the older metadata form (see above). */
  private constructor(
    readonly db: Db,
    private legacyStaged: boolean,
  ) {}

  static async open(path: string): Promise<LevelNodeStore> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    try {
      await db.open()
    } catch (e) {
      const cause = (e as { cause?: Error }).cause?.message ?? (e as Error).message
      throw new RootsyncError('STORE_UNAVAILABLE', `cannot open the database at ${path}: ${cause}`)
    }
    const legacy = metaRange(STAGED_META_PREFIX)
    const [first] = await db.keys({ ...legacy, limit: 1 }).all()
    return new LevelNodeStore(db, first !== undefined)
  }

  async getNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return (await this.db.get(nodeKey(hash))) ?? undefined
  }

  /** Many nodes in one call (LevelDB's multi-get): what the serving node's hot path uses. */
  async getNodes(hashes: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const r = await this.db.getMany(hashes.map(nodeKey))
    return r.map((v) => v ?? undefined)
  }

  async hasNode(hash: Uint8Array): Promise<boolean> {
    return (await this.db.get(nodeKey(hash))) !== undefined
  }

  async hasNodes(hashes: Uint8Array[]): Promise<boolean[]> {
    return (await this.db.hasMany(hashes.map(nodeKey))) as boolean[]
  }

  async *metaKeys(prefix: string): AsyncIterable<string> {
    const dec = new TextDecoder()
    for await (const k of this.db.keys(metaRange(prefix))) yield dec.decode(k.subarray(1))
  }

  async getStaged(hash: Uint8Array): Promise<Uint8Array | undefined> {
    const v = (await this.db.get(stageKey(hash))) ?? undefined
    if (v !== undefined || !this.legacyStaged) return v
    return this.getMeta(stagedMetaKey(hash))
  }

  async *stagedHashes(): AsyncIterable<Uint8Array> {
    for await (const k of this.db.keys(range(STAGE))) yield k.subarray(1)
    if (this.legacyStaged) yield* stagedHashesFromMeta(this)
  }

  async getMeta(key: string): Promise<Uint8Array | undefined> {
    return (await this.db.get(metaKey(key))) ?? undefined
  }

  async write(batch: WriteBatch): Promise<void> {
    const ops: Op[] = []
    const delta: StoreStats = { nodes: 0, bytes: 0, staged: 0 }
    for (const [h, v] of batch.nodes ?? []) {
      assertHash(h)
      ops.push({ type: 'put', key: nodeKey(h), value: v })
      delta.nodes++
      delta.bytes += v.length
    }
    const deletes = [...(batch.deleteNodes ?? [])]
    // Deletes are rare (pruning): their sizes are read so that the counts stay exact.
    if (deletes.length)
      for (const v of await this.db.getMany(deletes.map(nodeKey)))
        if (v) {
          delta.nodes--
          delta.bytes -= v.length
        }
    for (const h of deletes) ops.push({ type: 'del', key: nodeKey(h) })
    for (const [h, v] of batch.stage ?? []) {
      assertHash(h)
      ops.push({ type: 'put', key: stageKey(h), value: v })
      delta.staged++
    }
    for (const h of batch.unstage ?? []) {
      assertHash(h)
      ops.push({ type: 'del', key: stageKey(h) })
      if (this.legacyStaged) ops.push({ type: 'del', key: metaKey(stagedMetaKey(h)) })
      delta.staged--
    }
    for (const [k, v] of batch.meta ?? [])
      ops.push(v === null ? { type: 'del', key: metaKey(k) } : { type: 'put', key: metaKey(k), value: v })
    if (ops.length) await this.db.batch(ops)
    this.counts.nodes += delta.nodes
    this.counts.bytes += delta.bytes
    this.counts.staged = Math.max(0, this.counts.staged + delta.staged)
  }

  /** Counts what the database holds (one scan); `stats()` is exact from then on, see above. */
  ready(): Promise<void> {
    this.counted ??= this.count()
    return this.counted
  }

  private async count(): Promise<void> {
    const before = { ...this.counts }
    const c: StoreStats = { nodes: 0, bytes: 0, staged: 0 }
    for await (const v of this.db.values(range(NODE))) {
      c.nodes++
      c.bytes += v.length
    }
    for await (const _ of this.stagedHashes()) c.staged++
    // Writes that landed during the scan are added on top.
    this.counts = {
      nodes: c.nodes + this.counts.nodes - before.nodes,
      bytes: c.bytes + this.counts.bytes - before.bytes,
      staged: c.staged + this.counts.staged - before.staged,
    }
  }

  stats(): StoreStats {
    return { ...this.counts }
  }

  /** Drops every node no live root reaches (throws, deleting nothing, if a live state is damaged). */
  async compact(liveRoots: Uint8Array[], opts: { signal?: AbortSignal } = {}): Promise<CompactResult> {
    const { kept, dropped, bytes } = await compactByMarkAndSweep(this, liveRoots, opts.signal)
    // Every stored node is now one the walk counted once.
    this.counts.nodes = kept
    this.counts.bytes = bytes
    return { kept, dropped }
  }

  /** Every stored node hash (for garbage collection). */
  async *nodeHashes(): AsyncGenerator<Uint8Array> {
    for await (const k of this.db.keys(range(NODE))) yield k.subarray(1)
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
