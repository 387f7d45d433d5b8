/**
 * One write batch of the IndexedDB store as a transaction (`commitBatch`), and the store-writer
 * worker that runs those transactions off the sync worker's thread (`serveWriter`, started by
 * src/worker/idb-writer.ts).
 *
 * Why a second worker: putting a record into IndexedDB serialises it on the calling thread (a pack
 * is ~0.5 MB per batch, and Chromium wraps large values into blobs there too); the browser profile of
 * issue 14 put that at 14% of the sync worker's busy time. The sync worker keeps everything else —
 * the in-memory index, pack assembly, reads — and hands each batch's pack and index arrays over as
 * TRANSFERRED ArrayBuffers (no copy, no per-node objects); the writer runs the transaction and hands
 * them back once it has committed.
 *
 * Guarantees, the same on either thread: one transaction per batch (all of it or nothing, across tab
 * kills); the caller hears of success only after the commit (so its index never runs ahead of the
 * disk, and a read after the write sees it); a failure is reported by the DOMException's name (a
 * full quota aborts the whole transaction: idb-errors.ts maps it to StoreFullError). When another
 * tab asks for a version change, the writer's connection closes itself like the sync worker's
 * (both would block the upgrade otherwise) and refuses further batches with WRITER_VERSION_CHANGED.
 *
 * Security considerations: the writer stores what it is given and nothing else; it never decides
 * what is verified — only nodes the sync worker verified reach a batch.
 */
import { type IDBPDatabase, openDB } from 'idb'
import { WRITER_VERSION_CHANGED } from './idb-errors.ts'
import { DB_VERSION, type IndexRecord, STORES } from './idb-layout.ts'

/** A batch as the store hands it to `commitBatch`: the pack's bytes, its index record, metadata. */
export interface CommitRequest {
  pack: ArrayBuffer | null
  /** The index record without its pack id (assigned by the transaction); null: no node entries. */
  record: Omit<IndexRecord, 'pack'> | null
  meta: (readonly [string, Uint8Array | null])[]
}

/** Runs `req` as one readwrite transaction; resolves with the new pack's id (0: none) once committed. */
export async function commitBatch(db: IDBPDatabase, req: CommitRequest): Promise<number> {
  const tx = db.transaction([STORES.packs, STORES.index, STORES.meta], 'readwrite')
  // Requests are queued at once (no await between them): the transaction stays one unit either way.
  const packId = req.pack ? ((await tx.objectStore(STORES.packs).add(req.pack)) as number) : 0
  const done: Promise<unknown>[] = []
  if (req.record) done.push(tx.objectStore(STORES.index).add({ ...req.record, pack: packId }))
  for (const [k, v] of req.meta)
    done.push(v === null ? tx.objectStore(STORES.meta).delete(k) : tx.objectStore(STORES.meta).put(v, k))
  await Promise.all([...done, tx.done])
  return packId
}

/** The buffers of a request, to transfer (the pack and the index record's typed arrays). */
export function transferables(req: CommitRequest): ArrayBuffer[] {
  const out: ArrayBuffer[] = req.pack ? [req.pack] : []
  const r = req.record
  if (r)
    for (const a of [r.prefixes, r.offsets, r.kinds, r.full, r.packs])
      if (a && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) out.push(a.buffer as ArrayBuffer)
  return out
}

export type ToWriter =
  | { type: 'open'; name: string }
  | { type: 'write'; id: number; req: CommitRequest }
  | { type: 'close' }

export type FromWriter =
  | { type: 'ready' }
  | { type: 'failed'; name: string; message: string }
  | { type: 'done'; id: number; packId: number; req: CommitRequest }
  | { type: 'error'; id: number; name: string; message: string }

interface WriterScope {
  postMessage(m: FromWriter, transfer?: Transferable[]): void
  onmessage: ((ev: MessageEvent<ToWriter>) => void) | null
  close(): void
}

/** The store-writer worker: opens the database named by the first message, then commits each batch. */
export function serveWriter(scope: WriterScope): void {
  let db: Promise<IDBPDatabase> | null = null
  let closed = false
  const fail = (e: unknown) => ({
    name: closed ? WRITER_VERSION_CHANGED : ((e as DOMException)?.name ?? 'Error'),
    message: String((e as Error)?.message ?? e),
  })
  scope.onmessage = ({ data: m }) => {
    if (m.type === 'open') {
      db = openDB(m.name, DB_VERSION, {
        // Another tab upgrades the database: close, as the sync worker's connection does.
        blocking() {
          closed = true
          void db?.then((d) => d.close())
        },
      })
      db.then(
        () => scope.postMessage({ type: 'ready' }),
        (e) => scope.postMessage({ type: 'failed', ...fail(e) }),
      )
    } else if (m.type === 'write') {
      // Transactions start in message order, so IndexedDB commits them in that order.
      const { id, req } = m
      ;(closed || !db ? Promise.reject(new Error('closed')) : db.then((d) => commitBatch(d, req))).then(
        (packId) => scope.postMessage({ type: 'done', id, packId, req }, transferables(req)),
        (e) => scope.postMessage({ type: 'error', id, ...fail(e) }),
      )
    } else {
      // After the transactions already started: closing waits for them to finish.
      void db?.then((d) => d.close()).finally(() => scope.close())
    }
  }
}
