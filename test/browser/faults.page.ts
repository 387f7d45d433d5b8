/**
 * Injected into the web app's page by faults.test.ts (bundled as an IIFE): an independent check of
 * what the worker stored in IndexedDB. Every entry of every pack record is re-hashed against the
 * hash it is stored under (pack = [hash 32][len u32 BE][bytes]…, see src/store/idb-store.ts), and
 * the stored state is walked from its synced root with the same integrity walk as `rootsync verify`.
 */
import { equals, toHex } from '../../src/core/bytes.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { readSyncedRoot } from '../../src/core/sync/state-sync.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { IdbNodeStore } from '../../src/store/idb-store.ts'

export interface StoreCheck {
  packs: number
  entries: number
  mismatches: number
  firstMismatch: string | null
  /** The state root the store says it completed, if any. */
  syncedRoot: string | null
  /** Nodes and code blobs the integrity walk re-hashed from the synced root. */
  verified: number
  accounts: number
  verifyError: string | null
}

async function checkStore(dbName: string): Promise<StoreCheck> {
  const names = (await indexedDB.databases()).map((d) => d.name)
  if (!names.includes(dbName)) throw new Error(`no IndexedDB database '${dbName}' (have ${names.join(', ')})`)
  const store = await IdbNodeStore.open(dbName)
  try {
    const out: StoreCheck = {
      packs: 0,
      entries: 0,
      mismatches: 0,
      firstMismatch: null,
      syncedRoot: null,
      verified: 0,
      accounts: 0,
      verifyError: null,
    }
    let cursor = await store.db.transaction('packs').store.openCursor()
    while (cursor) {
      const p = new Uint8Array(cursor.value as ArrayBuffer)
      const dv = new DataView(p.buffer, p.byteOffset, p.byteLength)
      out.packs++
      for (let o = 0; o < p.length; ) {
        const hash = p.subarray(o, o + 32)
        const len = dv.getUint32(o + 32)
        const bytes = p.subarray(o + 36, o + 36 + len)
        out.entries++
        if (bytes.length !== len || !equals(keccak256(bytes), hash)) {
          out.mismatches++
          out.firstMismatch ??= toHex(hash)
        }
        o += 36 + len
      }
      cursor = await cursor.continue()
    }
    const synced = await readSyncedRoot(store)
    if (synced) {
      out.syncedRoot = toHex(synced.root)
      try {
        const r = await verifyStoredState(store, synced.root)
        out.verified = r.nodes + r.code
        out.accounts = r.accounts
      } catch (e) {
        out.verifyError = (e as Error).message
      }
    }
    return out
  } finally {
    store.close()
  }
}

/** The check itself must be able to fail: a database with one good and one corrupted entry. */
async function checkerSelfTest(): Promise<StoreCheck> {
  const name = `rootsync-checker-self-test-${Math.random()}`
  const store = await IdbNodeStore.open(name)
  const node = new TextEncoder().encode('a node that is long enough to be stored by its hash')
  await store.write({ nodes: [[keccak256(node), node]] })
  const bad = new Uint8Array(36 + node.length)
  bad.set(keccak256(node))
  new DataView(bad.buffer).setUint32(32, node.length)
  bad.set(node, 36)
  bad[36 + (node.length >> 1)]! ^= 0x40
  await store.db.add('packs', bad.buffer)
  store.close()
  try {
    return await checkStore(name)
  } finally {
    indexedDB.deleteDatabase(name)
  }
}

Object.assign(globalThis, { __checkStore: checkStore, __checkerSelfTest: checkerSelfTest })
