/**
 * Injected into the web app's page by faults.test.ts (bundled as an IIFE): an independent check of
 * what the worker stored in IndexedDB. Every entry of every index record is re-hashed against the
 * hash (prefix, and full hash where kept) it is stored under (pack = [len u32 BE][bytes]…, index =
 * prefixes, offsets, kinds, full hashes of staged entries: see src/store/idb-store.ts), and
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
    const index = (await store.db.getAll('index')) as {
      pack: number
      prefixes: Uint8Array
      offsets: Uint32Array
      kinds: Uint8Array
      full: Uint8Array
    }[]
    for (const r of index) {
      if (!r.pack) continue
      const p = new Uint8Array((await store.db.get('packs', r.pack)) as ArrayBuffer)
      const dv = new DataView(p.buffer, p.byteOffset, p.byteLength)
      out.packs++
      let f = 0
      for (let i = 0; i < r.offsets.length; i++) {
        const off = r.offsets[i]!
        const full = r.kinds[i] === 1 || off === 0xffffffff ? r.full.subarray(32 * f, 32 * ++f) : null
        // Tombstones hold no bytes; promotions (kind 2) point at bytes checked in their own record.
        if (off === 0xffffffff || r.kinds[i] === 2) continue
        const len = dv.getUint32(off)
        const h = keccak256(p.subarray(off + 4, off + 4 + len))
        out.entries++
        if (!equals(h.subarray(0, 8), r.prefixes.subarray(8 * i, 8 * i + 8)) || (full && !equals(h, full))) {
          out.mismatches++
          out.firstMismatch ??= toHex(r.prefixes.subarray(8 * i, 8 * i + 8))
        }
      }
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
  const bad = new Uint8Array(4 + node.length)
  new DataView(bad.buffer).setUint32(0, node.length)
  bad.set(node, 4)
  bad[4 + (node.length >> 1)]! ^= 0x40
  const pack = await store.db.add('packs', bad.buffer)
  await store.db.add('index', {
    pack,
    prefixes: keccak256(node).slice(0, 8),
    offsets: new Uint32Array([0]),
    kinds: new Uint8Array(1),
    full: new Uint8Array(0),
    packBytes: bad.length,
  })
  store.close()
  try {
    return await checkStore(name)
  } finally {
    indexedDB.deleteDatabase(name)
  }
}

Object.assign(globalThis, { __checkStore: checkStore, __checkerSelfTest: checkerSelfTest })
