/**
 * Local snapshots (core/recovery/snapshots.ts) and the local-snapshot strategy (local.ts): the
 * record keeps the newest plus `keep` older states without duplicates and never blocks recovery when
 * damaged; the strategy uses a snapshot at the target as is, replays from an older one, skips a
 * damaged one for the next older, and does not apply when there is none at or below the target.
 */
import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { META } from '../../src/core/meta-keys.ts'
import { LocalSnapshotsDamagedError, localSnapshotStrategy } from '../../src/core/recovery/local.ts'
import {
  readSnapshots,
  type SnapshotRecord,
  snapshotRecords,
  snapshotRoots,
} from '../../src/core/recovery/snapshots.ts'
import { NotApplicableError } from '../../src/core/recovery/types.ts'
import type { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { walkReachable } from '../../src/core/trie/reachable.ts'
import { chainPeer, contextFor, dumpStore, recoveryChain, storeWithState } from '../helpers/recovery-peers.ts'

const t = recoveryChain('local-snapshot', 50)
const recordAt = (h: number): SnapshotRecord => ({
  height: h,
  root: t.rootAt(h),
  headerHash: headerHash(t.chain.headers[h]!.header),
  nodes: 1,
})

/** A store holding the states at `heights`, each recorded as a local snapshot. */
async function withSnapshots(heights: number[]): Promise<MemoryNodeStore> {
  const store = await storeWithState(t.chain, heights)
  let records: SnapshotRecord[] = []
  for (const h of heights) {
    await store.write({ meta: snapshotRecords(records, recordAt(h), 5) })
    records = await readSnapshots(store)
  }
  return store
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  )

/** Hashes of every node the state at `h` reaches. */
async function reachable(h: number): Promise<Set<string>> {
  const out = new Set<string>()
  await walkReachable(t.chain.store, [t.rootAt(h)], { onNode: (hash) => out.add(toHex(hash)) })
  return out
}

describe('snapshot records', () => {
  const rec = (height: number, fill: number): SnapshotRecord => ({
    height,
    root: new Uint8Array(32).fill(fill),
    headerHash: new Uint8Array(32).fill(100 + fill),
    nodes: height * 10,
  })

  it('keeps the newest plus `keep` older ones, newest first, one per root', async () => {
    let existing: SnapshotRecord[] = []
    const store = await storeWithState(t.chain, [])
    for (const r of [rec(10, 1), rec(20, 2), rec(30, 3), rec(40, 4)]) {
      await store.write({ meta: snapshotRecords(existing, r, 2) })
      existing = await readSnapshots(store)
    }
    expect(existing.map((r) => r.height)).toEqual([40, 30, 20])
    expect((await readSnapshots(store)).corrupt).toBeNull()
    // The same root again (recorded anew after a recovery): still one record for it.
    await store.write({ meta: snapshotRecords(existing, { ...rec(40, 4), nodes: 7 }, 2) })
    const again = await readSnapshots(store)
    expect(again.map((r) => [r.height, r.nodes])).toEqual([
      [40, 7],
      [30, 300],
      [20, 200],
    ])
    expect(snapshotRoots(again).map(toHex)).toEqual([4, 3, 2].map((f) => toHex(new Uint8Array(32).fill(f))))
  })

  it('reads a damaged record as no snapshots, flagged, without throwing', async () => {
    const store = await storeWithState(t.chain, [])
    await store.write({ meta: [[META.snapshots, Uint8Array.of(0xc3, 0x01, 0x02)]] })
    const list = await readSnapshots(store)
    expect(list).toHaveLength(0)
    expect(list.corrupt?.code).toBe('SNAPSHOTS_CORRUPT')
  })
})

describe('local snapshot strategy', () => {
  it('uses a snapshot at the target height as it is, after checking it', async () => {
    const store = await withSnapshots([40])
    const before = dumpStore(store)
    const ctx = contextFor(t.view, 40, store, [])
    await localSnapshotStrategy.run(ctx)
    expect(ctx.counters.nodes).toBeGreaterThan(0)
    expect(ctx.counters.blocks).toBe(0)
    expect(ctx.phases).toContain('checking')
    expect(dumpStore(store)).toBe(before)
  })

  it('replays from an older snapshot to the target', async () => {
    const store = await withSnapshots([30])
    const ctx = contextFor(t.view, 50, store, [chainPeer('a', t.view)])
    await localSnapshotStrategy.run(ctx)
    expect(ctx.counters.blocks).toBe(20)
    await verifyStoredState(store, t.rootAt(50))
  })

  it('skips the newest snapshot when its check finds damage and replays from the older one', async () => {
    const store = await withSnapshots([20, 40])
    const older = await reachable(20)
    const onlyNewest = [...(await reachable(40))].filter((h) => !older.has(h) && h !== toHex(t.rootAt(40)))
    await store.write({ deleteNodes: [fromHex(onlyNewest[0]!)] })
    await expect(verifyStoredState(store, t.rootAt(40))).rejects.toMatchObject({ code: 'STATE_MISSING' })
    const ctx = contextFor(t.view, 45, store, [chainPeer('a', t.view)], { snapshotCheck: 'full' })
    await localSnapshotStrategy.run(ctx)
    expect(ctx.counters.blocks).toBe(25)
    await verifyStoredState(store, t.rootAt(45))
  })

  it('fails naming each snapshot when every one is damaged', async () => {
    const store = await withSnapshots([20, 40])
    const both = [...(await reachable(20))].filter((h) => h !== toHex(t.rootAt(20)))
    const shared = [...(await reachable(40))].find((h) => both.includes(h))!
    await store.write({ deleteNodes: [fromHex(shared)] })
    // A full check: one deleted interior node is below what a few random paths are sure to meet.
    const e = await failure(
      localSnapshotStrategy.run(
        contextFor(t.view, 45, store, [chainPeer('a', t.view)], { snapshotCheck: 'full' }),
      ),
    )
    expect(e).toBeInstanceOf(LocalSnapshotsDamagedError)
    expect((e as LocalSnapshotsDamagedError).reasons.map((r) => r.height)).toEqual([40, 20])
  })

  it('does not apply when no snapshot is at or below the target, changing nothing', async () => {
    const store = await withSnapshots([45])
    const before = dumpStore(store)
    const e = await failure(
      localSnapshotStrategy.run(contextFor(t.view, 40, store, [chainPeer('a', t.view)])),
    )
    expect(e).toBeInstanceOf(NotApplicableError)
    expect((e as NotApplicableError).code).toBe('NO_LOCAL_SNAPSHOT')
    const none = await failure(
      localSnapshotStrategy.run(contextFor(t.view, 40, await storeWithState(t.chain, []), [])),
    )
    expect((none as NotApplicableError).code).toBe('NO_LOCAL_SNAPSHOT')
    expect(dumpStore(store)).toBe(before)
  })

  it('skips a snapshot the verified chain does not commit to (its header hash) for an older one', async () => {
    const store = await withSnapshots([20, 40])
    const forged = { ...recordAt(40), headerHash: new Uint8Array(32).fill(9) }
    await store.write({ meta: snapshotRecords(await readSnapshots(store), forged, 5) })
    const ctx = contextFor(t.view, 45, store, [chainPeer('a', t.view)], { snapshotCheck: 'full' })
    await localSnapshotStrategy.run(ctx)
    expect(ctx.counters.blocks).toBe(25)
    await verifyStoredState(store, t.rootAt(45))
  })

  it('skips a snapshot whose root node is gone (pruned)', async () => {
    const store = await withSnapshots([20, 40])
    await store.write({ deleteNodes: [t.rootAt(40)] })
    const ctx = contextFor(t.view, 45, store, [chainPeer('a', t.view)], { snapshotCheck: 'full' })
    await localSnapshotStrategy.run(ctx)
    expect(ctx.counters.blocks).toBe(25)
    await verifyStoredState(store, t.rootAt(45))
  })
})
