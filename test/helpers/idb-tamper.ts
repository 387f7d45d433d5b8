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

/**
 * Loses records of the app's database the way a damaged IndexedDB would: every record of `from`
 * that is linked to a pack holding `node`'s bytes — the pack record itself (`packs`: its id is its
 * key), or the index records naming that pack (`index`: as their own `pack`, or in `packs`, where a
 * promoted entry's bytes live; see src/store/idb-layout.ts). Returns how many records were deleted.
 */
export async function loseRecordsOf(page: Page, node: Uint8Array, from: 'packs' | 'index'): Promise<number> {
  return page.evaluate(
    async ([needle, which]: [number[], string]) => {
      const dbs = await indexedDB.databases()
      const name = dbs.find((d) => d.name?.startsWith('rootsync-'))?.name
      if (!name) throw new Error('no rootsync database in this profile')
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(name)
        r.onsuccess = () => res(r.result)
        r.onerror = () => rej(r.error)
      })
      const holds = (hay: Uint8Array): boolean => {
        outer: for (let i = 0; i + needle.length <= hay.length; i++) {
          for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
          return true
        }
        return false
      }
      const tx = db.transaction(['packs', 'index'], 'readwrite')
      const cursor = (store: string, each: (c: IDBCursorWithValue) => void) =>
        new Promise<void>((res, rej) => {
          const c = tx.objectStore(store).openCursor()
          c.onerror = () => rej(c.error)
          c.onsuccess = () => {
            if (!c.result) return res()
            each(c.result)
            c.result.continue()
          }
        })
      const packs = new Set<number>()
      await cursor('packs', (c) => {
        if (c.value instanceof ArrayBuffer && holds(new Uint8Array(c.value))) packs.add(c.key as number)
      })
      let lost = 0
      if (which === 'packs')
        for (const id of packs) {
          tx.objectStore('packs').delete(id)
          lost++
        }
      else
        await cursor('index', (c) => {
          const r = c.value as { pack: number; packs?: Uint32Array }
          if (packs.has(r.pack) || [...(r.packs ?? [])].some((p) => packs.has(p))) {
            c.delete()
            lost++
          }
        })
      await new Promise((res, rej) => {
        tx.oncomplete = res
        tx.onerror = () => rej(tx.error)
      })
      db.close()
      return lost
    },
    [[...node], from] as [number[], string],
  )
}

/**
 * Leaves the repair flag on disk, as a session that met damage and was closed before it could
 * recover leaves it: `record` is the META.repair entry (src/core/light/trust.ts `repairRecord`).
 */
export async function writeMeta(page: Page, key: string, value: Uint8Array): Promise<void> {
  await page.evaluate(
    async ([k, v]: [string, number[]]) => {
      const name = (await indexedDB.databases()).find((d) => d.name?.startsWith('rootsync-'))?.name
      if (!name) throw new Error('no rootsync database in this profile')
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(name)
        r.onsuccess = () => res(r.result)
        r.onerror = () => rej(r.error)
      })
      const tx = db.transaction('meta', 'readwrite')
      tx.objectStore('meta').put(new Uint8Array(v), k)
      await new Promise((res, rej) => {
        tx.oncomplete = res
        tx.onerror = () => rej(tx.error)
      })
      db.close()
    },
    [key, [...value]] as [string, number[]],
  )
}
