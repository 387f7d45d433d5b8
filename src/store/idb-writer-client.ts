/**
 * The sync worker's end of the store-writer worker (idb-writer.ts): starts it, sends each batch with
 * its buffers transferred, and resolves a batch when the writer reports it committed (with the
 * buffers handed back). Replies come in message order, which is commit order.
 *
 * Where the writer cannot run — no nested `Worker` in this scope (a shared worker without one), a
 * script that fails to load (a Content-Security-Policy, a missing file) or a database it cannot open
 * — `start` resolves null and the store keeps its transactions on its own thread, as before: the
 * same guarantees, only the thread differs. A writer that dies later fails the batches in flight
 * (STORE_WRITE_FAILED: the store does not know whether they committed; its index does not apply
 * them) and the store writes on its own thread from then on.
 *
 * Security considerations: nothing read back from the writer is trusted beyond the pack id it
 * assigned; the index applies the record the sync worker built itself.
 */
import { type CommitRequest, type FromWriter, type ToWriter, transferables } from './idb-writer.ts'

/** Creates the store-writer worker (the entry is src/worker/idb-writer.ts; bundlers need the URL literal). */
export type SpawnWriter = () => Worker

interface Pending {
  resolve(r: { packId: number; req: CommitRequest }): void
  reject(e: { name: string; message: string }): void
}

export class WriterClient {
  private next = 1
  private readonly pending = new Map<number, Pending>()
  /** The latest batch sent (replies come in order: when it settles, all have). */
  private last: Promise<unknown> = Promise.resolve()
  /** Set once the worker failed: the store writes on its own thread from then on. */
  dead = false

  private constructor(private readonly worker: Worker) {
    worker.onmessage = ({ data: m }: MessageEvent<FromWriter>) => {
      if (m.type !== 'done' && m.type !== 'error') return
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.type === 'done') p?.resolve({ packId: m.packId, req: m.req })
      else p?.reject({ name: m.name, message: m.message })
    }
    worker.onerror = (ev) => {
      ev.preventDefault?.()
      this.lost(`the store-writer worker failed: ${ev.message ?? 'error'}`)
    }
  }

  /** The writer for database `name`, open and ready; null where it cannot run (see above). */
  static start(spawn: SpawnWriter, name: string): Promise<WriterClient | null> {
    let worker: Worker
    try {
      if (typeof Worker !== 'function') return Promise.resolve(null)
      worker = spawn()
    } catch {
      return Promise.resolve(null)
    }
    return new Promise((resolve) => {
      worker.onmessage = ({ data: m }: MessageEvent<FromWriter>) => {
        if (m.type === 'ready') return resolve(new WriterClient(worker))
        worker.terminate()
        resolve(null)
      }
      worker.onerror = (ev) => {
        ev.preventDefault?.()
        worker.terminate()
        resolve(null)
      }
      worker.postMessage({ type: 'open', name } satisfies ToWriter)
    })
  }

  /** Commits `req` in the writer; its buffers are transferred (unusable here until it resolves). */
  commit(req: CommitRequest): Promise<{ packId: number; req: CommitRequest }> {
    if (this.dead) return Promise.reject({ name: 'WriterLost', message: 'the store-writer worker is gone' })
    const id = this.next++
    const done = new Promise<{ packId: number; req: CommitRequest }>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage({ type: 'write', id, req } satisfies ToWriter, transferables(req))
    })
    this.last = done.catch(() => {})
    return done
  }

  /** Ends the worker once the batches in flight are answered (ending it sooner would abort them). */
  async close(): Promise<void> {
    await this.last
    if (!this.dead) this.worker.postMessage({ type: 'close' } satisfies ToWriter)
  }

  private lost(message: string): void {
    this.dead = true
    for (const p of this.pending.values()) p.reject({ name: 'WriterLost', message })
    this.pending.clear()
    this.worker.terminate()
  }
}
