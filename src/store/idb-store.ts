/**
 * The node store on IndexedDB (through `idb`), for the browser worker.
 *
 * IndexedDB costs ~65 µs per record whatever its size, so one record per trie node caps a sync near
 * 15k nodes/s. This store packs instead: each `write()` appends ONE pack record holding all of its
 * nodes and ONE index record (each entry's 8-byte hash prefix, offset and kind), in a single
 * transaction with the metadata changes — so a batch is atomic across tab kills and reloads exactly
 * as on LevelDB. The record layout is described in idb-layout.ts.
 *
 * Lookups go through an in-memory table on typed arrays (idb-index.ts, prefix-table.ts), rebuilt
 * from the index records when the store opens. A prefix hit is confirmed by hashing the stored bytes
 * (keccak equals the hash asked for), so a prefix collision cannot return a wrong node — which is
 * why full hashes need not be stored: a node costs its bytes + 17 bytes instead of + 73. Recently
 * read packs are cached (idb-packs.ts).
 *
 * Nodes the sync keeps aside while their children arrive (`WriteBatch.stage`) go into the same
 * pack, flagged in the index with their full hash, so they cost no records of their own either.
 * Deletions are tombstones in a later index record; `compact` rewrites packs (idb-compact.ts).
 *
 * Security considerations: nothing here trusts the stored bytes; every node returned hashes to the
 * hash asked for, and readers (the trie, the sync, the reachability walk) re-hash what they load. A
 * full quota aborts the transaction (nothing of the batch is stored) and surfaces as
 * `StoreFullError`.
 */
import { type IDBPDatabase, openDB } from 'idb'
import { equals } from '../core/bytes.ts'
import { keccak256 } from '../core/hash.ts'
import type { CompactResult, StateStore, StoreStats, WriteBatch } from '../core/store.ts'
import { throwIfStopped } from '../core/task.ts'
import { walkReachable } from '../core/trie/reachable.ts'
import { commitOf } from './idb-batch.ts'
import { sweepPacks } from './idb-compact.ts'
import { StoreVersionChangedError, WRITER_VERSION_CHANGED, writeError } from './idb-errors.ts'
import { IdbIndex } from './idb-index.ts'
import { DB_VERSION, DELETED, entryAt, hashKey, hashOfKey, STORES } from './idb-layout.ts'
import { PackCache, PackMovedError } from './idb-packs.ts'
import { type CommitRequest, commitBatch } from './idb-writer.ts'
import { type SpawnWriter, WriterClient } from './idb-writer-client.ts'

export { StoreFullError, StoreVersionChangedError } from './idb-errors.ts'

/** Options of `IdbNodeStore.open`. */
export interface IdbStoreOptions {
  /**
   * Runs the write transactions in a store-writer worker (idb-writer.ts) created by this function;
   * where it cannot run, they stay on this thread (idb-writer-client.ts).
   */
  spawnWriter?: SpawnWriter
}

export class IdbNodeStore implements StateStore {
  /** Set when another connection asked for a version change: this one closed itself. */
  private versionChanged: StoreVersionChangedError | null = null
  private index = new IdbIndex()
  private readonly packs: PackCache
  private indexLoaded: Promise<void> = Promise.resolve()
  /** The store-writer worker, once started (null: transactions run on this thread). */
  private writer: Promise<WriterClient | null> = Promise.resolve(null)
  /** The latest write's commit (settled: no write in flight). */
  private inFlight: Promise<unknown> = Promise.resolve()

  private constructor(
    readonly db: IDBPDatabase,
    private readonly name: string,
    private readonly onVersionChange?: (e: StoreVersionChangedError) => void,
  ) {
    this.packs = new PackCache(db)
  }

  /**
   * `onVersionChange` hears (once) that a newer version of the database was asked for elsewhere:
   * the store has closed itself by then (an open connection would block that upgrade forever).
   */
  static async open(
    name: string,
    onVersionChange?: (e: StoreVersionChangedError) => void,
    opts: IdbStoreOptions = {},
  ): Promise<IdbNodeStore> {
    let store: IdbNodeStore | null = null
    const db = await openDB(name, DB_VERSION, {
      blocking() {
        db.close()
        store?.versionChange()
      },
      upgrade(d, oldVersion) {
        // Version 1 stored full hashes in packs and index; its data is dropped (synced again).
        if (oldVersion > 0) for (const n of [...d.objectStoreNames]) d.deleteObjectStore(n)
        d.createObjectStore(STORES.packs, { autoIncrement: true })
        d.createObjectStore(STORES.index, { autoIncrement: true })
        d.createObjectStore(STORES.meta)
      },
    })
    store = new IdbNodeStore(db, name, onVersionChange)
    // Started after the upgrade above (the writer opens the database as it is); writes wait for it,
    // reads never do.
    if (opts.spawnWriter) store.writer = WriterClient.start(opts.spawnWriter, name)
    // Metadata (the stored head, the proof cache) is readable at once; node reads and writes wait
    // for the index, which takes a while to load for a large state.
    store.indexLoaded = IdbIndex.load(db).then((index) => {
      store.index = index
    })
    store.indexLoaded.catch(() => {})
    return store
  }

  /** Another connection asked for a version change: closed, and every later call refused (once). */
  private versionChange(): void {
    this.db.close()
    if (this.versionChanged) return
    this.versionChanged = new StoreVersionChangedError(this.name)
    this.onVersionChange?.(this.versionChanged)
  }

  /** Refuses work on a connection closed for a version change (typed, instead of IndexedDB's InvalidStateError). */
  private assertOpen(): void {
    if (this.versionChanged) throw this.versionChanged
  }

  /** Whether writes run in the store-writer worker (false: on this thread; see idb-writer-client.ts). */
  async writesOffThread(): Promise<boolean> {
    const w = await this.writer
    return !!w && !w.dead
  }

  /** Resolves once the node index is loaded (`stats()` is then exact). */
  ready(): Promise<void> {
    return this.indexLoaded
  }

  stats(): StoreStats {
    return { nodes: this.index.table.live, bytes: this.index.packBytes, staged: this.index.staged.size }
  }

  /** Nodes stored (`stats().nodes`; kept for the worker). */
  get size(): number {
    return this.index.table.live
  }

  /** Nodes kept aside by an unfinished sync (`stats().staged`; kept for the worker). */
  get stagedCount(): number {
    return this.index.staged.size
  }

  /** Bytes of node packs written (`stats().bytes`; kept for the worker). */
  get packBytes(): number {
    return this.index.packBytes
  }

  async getStaged(hash: Uint8Array): Promise<Uint8Array | undefined> {
    await this.indexLoaded
    const at = this.index.staged.get(hashKey(hash))
    return at ? entryAt(await this.packs.get(at[0]), at[1]).slice() : undefined
  }

  async *stagedHashes(): AsyncIterable<Uint8Array> {
    await this.indexLoaded
    for (const k of [...this.index.staged.keys()]) yield hashOfKey(k)
  }

  /** The node bytes (a copy) if stored: the bytes under a matching prefix whose keccak is `hash`. */
  async getNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    await this.indexLoaded
    this.assertOpen()
    for (let attempt = 0; ; attempt++) {
      const table = this.index.table
      try {
        for (const s of table.find(hash)) {
          const off = table.offset(s)
          if (off === DELETED) continue
          // Still gone after looking again: the pack record is lost (a damaged database), so its
          // nodes are missing — reported as such, for a check to find and a recovery to restore.
          const pack = await this.packs.get(table.pack(s)).catch((e) => {
            if (attempt < 2 || !(e instanceof PackMovedError)) throw e
            return null
          })
          if (!pack) continue
          const v = entryAt(pack, off)
          if (equals(keccak256(v), hash)) return v.slice()
        }
        return undefined
      } catch (e) {
        // A compaction replaced the pack since the slot was looked up: look again.
        if (!(e instanceof PackMovedError)) throw e
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
      for (const s of this.index.table.find(h)) if (this.index.table.offset(s) !== DELETED) any = true
      // A prefix hit is confirmed by hashing the stored bytes (a collision reads as absent).
      out.push(any && (await this.hasNode(h)))
    }
    return out
  }

  async getMeta(key: string): Promise<Uint8Array | undefined> {
    this.assertOpen()
    const v = (await this.db.get(STORES.meta, key)) as Uint8Array | undefined
    return v ?? undefined
  }

  async *metaKeys(prefix: string): AsyncIterable<string> {
    this.assertOpen()
    const keys = (await this.db.getAllKeys(
      STORES.meta,
      IDBKeyRange.bound(prefix, `${prefix}\uffff`),
    )) as string[]
    yield* keys
  }

  async write(batch: WriteBatch): Promise<void> {
    const writer = await this.writer
    // A compaction rebuilding the index replaces `indexLoaded`: wait for the one that is current.
    // No await from here until the commit is under way and in `inFlight` (which that rebuild awaits).
    for (let p: Promise<void> | null = null; p !== this.indexLoaded; ) await (p = this.indexLoaded)
    this.assertOpen()
    const req = commitOf(this.index, batch)
    const done = (async (): Promise<[number, CommitRequest]> => {
      if (writer && !writer.dead) {
        // Off this thread: the buffers travel to the writer and back (transferred, not copied).
        const r = await writer.commit(req).catch((e: { name: string; message: string }) => {
          if (e.name === WRITER_VERSION_CHANGED) this.versionChange()
          throw e
        })
        return [r.packId, r.req]
      }
      return [await commitBatch(this.db, req), req]
    })()
    this.inFlight = done.catch(() => {})
    let packId: number
    let committed: CommitRequest
    try {
      ;[packId, committed] = await done
    } catch (e) {
      if (this.versionChanged) throw this.versionChanged
      const err = e as { name?: string; message?: string }
      throw writeError(err?.name, err?.message ?? String(e))
    }
    if (committed.pack) this.packs.remember(packId, new Uint8Array(committed.pack))
    // Only after the transaction committed: the in-memory index never runs ahead of the disk.
    if (committed.record) this.index.apply({ ...committed.record, pack: packId })
  }

  /**
   * Pruning: drops every node that no root in `liveRoots` reaches (staged nodes are kept), so a
   * client that follows the head does not grow without bound. Live nodes are marked by the
   * reachability walk (each re-hashed on the way, so a damaged live state throws its
   * `StateIntegrityError` here, before anything is dropped); then packs are rewritten
   * (idb-compact.ts). A single root (not in an array) is accepted for older callers.
   */
  async compact(
    liveRoots: readonly Uint8Array[] | Uint8Array,
    opts: { signal?: AbortSignal } = {},
  ): Promise<CompactResult & { bytes: number }> {
    await this.indexLoaded
    const roots = liveRoots instanceof Uint8Array ? [liveRoots] : liveRoots
    const table = this.index.table
    const live = new Uint8Array(table.capacity)
    const isLive = (h: Uint8Array) => {
      for (const s of table.find(h)) if (live[s]) return true
      return false
    }
    await walkReachable(this, roots, {
      signal: opts.signal,
      visited: isLive,
      onNode: (h) => {
        for (const s of table.find(h)) live[s] = 1
      },
    })
    // Writes during the walk may have grown the table (new slot numbers): mark again on the new one.
    if (table !== this.index.table || table.capacity !== live.length) return this.compact(roots, opts)
    let r: { kept: number; dropped: number }
    try {
      r = await sweepPacks(this.db, this.index, this.packs, live, opts.signal)
    } finally {
      // Dropped entries still hold slots: rebuild the index from the records as at open, then swap.
      // Reads and writes wait for it; a write already under way committed before the rebuild's
      // read of the index (IndexedDB orders the transactions), so the new index holds it.
      // With a store-writer worker, writes commit on another connection: the rebuild starts once
      // those already sent have committed (later ones wait for the rebuild: see `write`).
      this.indexLoaded = this.inFlight
        .then(() => IdbIndex.load(this.db))
        .then((index) => {
          this.index = index
        })
      await this.indexLoaded
    }
    if (opts.signal) throwIfStopped(opts.signal, 'compaction')
    return { ...r, bytes: this.index.packBytes }
  }

  async close(): Promise<void> {
    this.db.close()
    await (await this.writer)?.close()
  }
}
