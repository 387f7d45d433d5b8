/**
 * Damages the app's IndexedDB on disk, the way a failing disk or a buggy browser would, through the
 * raw IndexedDB API in the page. The one thing assumed about the store's layout for flipping bytes:
 * a trie node's bytes are stored verbatim inside some record (packed with others or not). Every
 * record of every object store of the app's database is searched for them, and a byte inside each
 * copy is flipped. Losing records follows src/store/idb-layout.ts (packs, index records, meta).
 */
import type { JSHandle, Page } from 'playwright-core'

/** In the page: the app's database (the one `rootsync-…` database of the profile), and a byte search. */
interface Tools {
  db: IDBDatabase
  /** Where `needle` starts in `hay`, or -1. */
  find(hay: Uint8Array, needle: number[]): number
  /** Resolves once `tx` has committed. */
  done(tx: IDBTransaction): Promise<void>
}

/**
 * Runs `work` in the page with the app's database open (closed afterwards). `work` is sent to the
 * page as source: it may use only its arguments.
 */
async function withAppDb<A, R>(page: Page, work: (t: Tools, arg: A) => Promise<R>, arg: A): Promise<R> {
  const tools: JSHandle<Tools> = await page.evaluateHandle(async () => {
    const name = (await indexedDB.databases()).find((d) => d.name?.startsWith('rootsync-'))?.name
    if (!name) throw new Error('no rootsync database in this profile')
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open(name)
      r.onsuccess = () => res(r.result)
      r.onerror = () => rej(r.error)
    })
    return {
      db,
      find(hay: Uint8Array, needle: number[]): number {
        outer: for (let i = 0; i + needle.length <= hay.length; i++) {
          for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
          return i
        }
        return -1
      },
      done: (tx: IDBTransaction) =>
        new Promise<void>((res, rej) => {
          tx.oncomplete = () => res()
          tx.onerror = () => rej(tx.error)
        }),
    }
  })
  try {
    // `arg` is plain data (numbers, strings, arrays): it arrives in the page as it is.
    return await tools.evaluate<R, A>(work as never, arg)
  } finally {
    await tools.evaluate((t) => t.db.close())
    await tools.dispose()
  }
}

/** Flips a byte inside every stored copy of `node`; returns how many copies were damaged. */
export async function corruptStoredNode(page: Page, node: Uint8Array): Promise<number> {
  return withAppDb(
    page,
    async ({ db, find, done }, needle: number[]) => {
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
            const at = b ? find(b, needle) : -1
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
      await done(tx)
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
  return withAppDb(
    page,
    async ({ db, find, done }, [needle, which]: [number[], string]) => {
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
        if (c.value instanceof ArrayBuffer && find(new Uint8Array(c.value), needle) >= 0)
          packs.add(c.key as number)
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
      await done(tx)
      return lost
    },
    [[...node], from] as [number[], string],
  )
}

/**
 * Writes one `meta` record (a Uint8Array under a core/meta-keys.ts key), e.g. the repair flag as a
 * session that met damage and was closed before it could recover leaves it.
 */
export async function writeMeta(page: Page, key: string, value: Uint8Array): Promise<void> {
  await withAppDb(
    page,
    async ({ db, done }, [k, v]: [string, number[]]) => {
      const tx = db.transaction('meta', 'readwrite')
      tx.objectStore('meta').put(new Uint8Array(v), k)
      await done(tx)
    },
    [key, [...value]] as [string, number[]],
  )
}

/** One `meta` record's bytes (as numbers), or null when absent. */
export async function readMeta(page: Page, key: string): Promise<number[] | null> {
  return withAppDb(
    page,
    async ({ db }, k: string) =>
      new Promise<number[] | null>((res, rej) => {
        const r = db.transaction('meta').objectStore('meta').get(k)
        r.onerror = () => rej(r.error)
        r.onsuccess = () => {
          const v = r.result as ArrayBuffer | ArrayBufferView | undefined
          if (v === undefined) return res(null)
          const b =
            v instanceof ArrayBuffer
              ? new Uint8Array(v)
              : new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
          res([...b])
        }
      }),
    key,
  )
}

/**
 * Loses index records (src/store/idb-layout.ts) the way a damaged IndexedDB would: the nodes they
 * list are gone from the store. `picks` are fractions in [0, 1): each loses the record at that share
 * of the records in key order; 'all' loses every index record and every pack (no node is left, the
 * metadata stays). Returns how many index records were deleted.
 */
export async function loseIndexRecords(page: Page, picks: number[] | 'all'): Promise<number> {
  return withAppDb(
    page,
    async ({ db, done }, p: number[] | 'all') => {
      const tx = db.transaction(['packs', 'index'], 'readwrite')
      const keys = await new Promise<IDBValidKey[]>((res, rej) => {
        const r = tx.objectStore('index').getAllKeys()
        r.onerror = () => rej(r.error)
        r.onsuccess = () => res(r.result)
      })
      const lost = new Set(p === 'all' ? keys : p.map((f) => keys[Math.floor(f * keys.length)]!))
      for (const k of lost) tx.objectStore('index').delete(k)
      if (p === 'all') tx.objectStore('packs').clear()
      await done(tx)
      return lost.size
    },
    picks,
  )
}
