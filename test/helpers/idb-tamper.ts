/**
 * Damages the app's IndexedDB on disk, the way a failing disk or a buggy browser would, through the
 * raw IndexedDB API in the page. The one thing assumed about the store's layout: a trie node's bytes
 * are stored verbatim inside some record (packed with others or not). Every record of every object
 * store of the app's database is searched for them, and a byte inside each copy is flipped.
 */
import type { Page } from 'playwright-core'

/** Flips a byte inside every stored copy of `node`; returns how many copies were damaged. */
export async function corruptStoredNode(page: Page, node: Uint8Array): Promise<number> {
  return page.evaluate(
    async (needle: number[]) => {
      const dbs = await indexedDB.databases()
      const name = dbs.find((d) => d.name?.startsWith('rootsync-'))?.name
      if (!name) throw new Error('no rootsync database in this profile')
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(name)
        r.onsuccess = () => res(r.result)
        r.onerror = () => rej(r.error)
      })
      const indexOf = (hay: Uint8Array): number => {
        outer: for (let i = 0; i + needle.length <= hay.length; i++) {
          for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
          return i
        }
        return -1
      }
      const bytesOf = (v: unknown): Uint8Array | null =>
        v instanceof ArrayBuffer
          ? new Uint8Array(v)
          : ArrayBuffer.isView(v)
            ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
            : null
      let damaged = 0
      const tx = db.transaction([...db.objectStoreNames], 'readwrite')
      for (const storeName of db.objectStoreNames) {
        await new Promise<void>((res, rej) => {
          const c = tx.objectStore(storeName).openCursor()
          c.onerror = () => rej(c.error)
          c.onsuccess = () => {
            const cur = c.result
            if (!cur) return res()
            const b = bytesOf(cur.value)
            const at = b ? indexOf(b) : -1
            if (b && at >= 0) {
              const copy = new Uint8Array(b)
              copy[at + (needle.length >> 1)]! ^= 0xff
              cur.update(cur.value instanceof ArrayBuffer ? copy.buffer : copy)
              damaged++
            }
            cur.continue()
          }
        })
      }
      await new Promise((res, rej) => {
        tx.oncomplete = res
        tx.onerror = () => rej(tx.error)
      })
      db.close()
      return damaged
    },
    [...node],
  )
}
