/**
 * Runs in Chromium (bundled by idb-store.test.ts): a real sync into the real IndexedDB store, then
 * a "reload" (close and reopen) and an integrity walk. Results go to `window.__result`.
 */
import { toHex } from '../../src/core/bytes.ts'
import { generateDevnet } from '../../src/core/chain/devnet.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { readSyncedRoot, syncToState } from '../../src/core/sync/state-sync.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { realClock } from '../../src/platform/clock.ts'
import { IdbNodeStore } from '../../src/store/idb-store.ts'
import { faultPeer } from '../helpers/fault-peers.ts'

declare global {
  interface Window {
    __result?: unknown
  }
}

async function main() {
  const { genesis } = generateDevnet({ seed: 'idb', accounts: 2000, contracts: 20, slots: 10 })
  const src = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await src.write({ nodes })
  const name = `rootsync-test-${Math.random()}`
  const store = await IdbNodeStore.open(name)
  // A corrupting peer that passes the probe (serves the root honestly), beside an honest one.
  const liar = faultPeer('b', src, 'corrupt')
  const lie = liar.getNodes.bind(liar)
  const rootBytes = (await src.getNode(root))!
  liar.getNodes = (hashes, signal) =>
    hashes.length === 1 && toHex(hashes[0]!) === toHex(root)
      ? Promise.resolve([rootBytes])
      : lie(hashes, signal)
  const r = await syncToState(root, 0, {
    clock: realClock,
    store,
    peers: [faultPeer('a', src, 'honest', { latencyMs: 3 }), liar],
    config: { banThreshold: 1000, initialBatch: 32 },
  })
  const sizeAfterSync = store.stats().nodes
  store.close()
  // "Reload": a fresh store object over the same database.
  const reopened = await IdbNodeStore.open(name)
  const synced = await readSyncedRoot(reopened)
  const report = await verifyStoredState(reopened, synced!.root)
  // Every stored node is the one asked for.
  let mismatches = 0
  for (const [h, v] of nodes) {
    const got = await reopened.getNode(h)
    if (!got || toHex(got) !== toHex(v)) mismatches++
  }
  const absent = await reopened.hasNodes([new Uint8Array(32).fill(7), nodes[0]![0]])
  // Same 8-byte prefix as a stored node, another hash: the index matches, the bytes do not hash to it.
  const twin = nodes[0]![0].slice()
  twin[31]! ^= 1
  const prefixTwin = { get: (await reopened.getNode(twin)) ?? null, has: await reopened.hasNodes([twin]) }
  const records = await reopened.db.count('packs')
  // Staged nodes whose children arrived were promoted in place (kind 2), not written twice.
  let promoted = 0
  for (const r of (await reopened.db.getAll('index')) as { kinds: Uint8Array }[])
    promoted += r.kinds.filter((k) => k === 2).length

  // Pruning: a newer state B (200 accounts changed), synced incrementally, then everything not
  // reachable from B dropped; B stays whole across another reopen, A-only nodes are gone.
  const sourceNodes = src.nodes.size
  const state = new StateDB(src, root)
  for (const [address, a] of genesis.alloc.slice(0, 200))
    await state.putAccount(address, { ...(await state.getAccount(address))!, balance: a.balance + 1n })
  const rootB = await state.flush()
  await syncToState(rootB, 1, { clock: realClock, store: reopened, peers: [faultPeer('a', src, 'honest')] })
  const sizeBeforeCompact = reopened.stats().nodes
  const bytesBeforeCompact = reopened.stats().bytes
  const compacted = await reopened.compact([rootB])
  const reportB = await verifyStoredState(reopened, rootB)
  const aOnly = (await reopened.getNode(root)) === undefined
  reopened.close()
  const again = await IdbNodeStore.open(name)
  const reportAgain = await verifyStoredState(again, rootB)
  const sizeAfterCompactReopen = again.stats().nodes
  again.close()
  return {
    root: toHex(root),
    syncedRoot: synced ? toHex(synced.root) : null,
    downloaded: r.nodes,
    sourceNodes,
    sizeAfterSync,
    sizeAfterReopen: reopened.stats().nodes,
    verified: report.nodes + report.code,
    mismatches,
    absent,
    packRecords: records,
    badFromCorrupt: r.peers.find((p) => p.id === 'b')?.bad ?? 0,
    prefixTwin,
    promoted,
    sizeBeforeCompact,
    compacted,
    bytesBeforeCompact,
    liveB: reportB.nodes + reportB.code,
    liveBAfterReopen: reportAgain.nodes + reportAgain.code,
    sizeAfterCompactReopen,
    rootAGone: aOnly,
  }
}

main().then(
  (r) => (window.__result = r),
  (e) => (window.__result = { error: String(e?.stack ?? e) }),
)
