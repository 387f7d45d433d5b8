/**
 * The recovery manager (core/recovery/manager.ts): strategies tried in order, each attempt reported
 * with its outcome and typed reason; a result re-checked before it is marked complete; the one
 * completion write; every strategy failing leaves no completion marker; a target that changes
 * mid-recovery does not mix the old partial work into the new one.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { headerHash, type TrustedHeader } from '../../src/core/chain/header.ts'
import { manualClock } from '../../src/core/clock.ts'
import { RootsyncError } from '../../src/core/errors.ts'
import type { LightPeer } from '../../src/core/light/peers.ts'
import { readRepair, repairRecord } from '../../src/core/light/trust.ts'
import { META } from '../../src/core/meta-keys.ts'
import { localSnapshotStrategy } from '../../src/core/recovery/local.ts'
import { readRecoveryReport, recoverState } from '../../src/core/recovery/manager.ts'
import { replayStrategy } from '../../src/core/recovery/replay-strategy.ts'
import { networkSnapshotStrategy } from '../../src/core/recovery/snapshot-sync.ts'
import { snapshotRecords } from '../../src/core/recovery/snapshots.ts'
import {
  NotApplicableError,
  type RecoveryEvent,
  type RecoveryStrategy,
  StateRecoveryFailed,
} from '../../src/core/recovery/types.ts'
import { rlpEncode } from '../../src/core/rlp.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { readSyncedRoot } from '../../src/core/sync/state-sync.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { walkReachable } from '../../src/core/trie/reachable.ts'
import { rangePeer } from '../helpers/range-peer.ts'
import { chainPeer, dumpStore, recoveryChain, storeWithState } from '../helpers/recovery-peers.ts'

const t = recoveryChain('recovery-manager', 30)
const target = (h: number): TrustedHeader => ({
  header: t.chain.headers[h]!.header,
  hash: headerHash(t.chain.headers[h]!.header),
})

/** Every node of the state at `h`, for a fake strategy to write. */
async function stateNodes(h: number): Promise<[Uint8Array, Uint8Array][]> {
  const out: [Uint8Array, Uint8Array][] = []
  await walkReachable(t.chain.store, [t.rootAt(h)], { onNode: (hash, b) => out.push([hash, b]) })
  return out
}

const fake = (name: RecoveryStrategy['name'], run: RecoveryStrategy['run']): RecoveryStrategy => ({
  name,
  run,
})

function deps(store: MemoryNodeStore, strategies: RecoveryStrategy[], peers: LightPeer[] = []) {
  const events: RecoveryEvent[] = []
  const charges: string[] = []
  return {
    events,
    charges,
    d: {
      store,
      clock: manualClock(),
      chainId: t.view.chainId,
      peers: () => peers,
      strategies,
      options: { snapshotCheck: 'full' as const },
      emit: (e: RecoveryEvent) => events.push(e),
      charge: (peer: string) => charges.push(peer),
    },
  }
}

describe('recovery manager', () => {
  it('tries strategies in order; reports each outcome and reason; marks the result complete in one write', async () => {
    const store = new MemoryNodeStore()
    await store.write({ meta: [repairRecord({ reason: 'a read met a missing node', hash: null })] })
    const called: string[] = []
    const { d, events } = deps(store, [
      fake('local', async () => {
        called.push('local')
        throw new NotApplicableError('NO_LOCAL_SNAPSHOT', 'no snapshot at or below the target')
      }),
      fake('peer', async () => {
        called.push('peer')
        throw new RootsyncError('SNAPSHOT_NO_PEERS', 'every peer lied')
      }),
      fake('replay', async (ctx) => {
        called.push('replay')
        const nodes = await stateNodes(20)
        await ctx.store.write({ nodes })
        ctx.counters.nodes += nodes.length
        ctx.counters.blocks += 20
      }),
      fake('snapshot', async () => {
        called.push('snapshot')
      }),
    ])
    const writesBefore = store.writes
    const report = await recoverState(
      target(20),
      'user',
      {
        ...d,
        completionRecords: async (h, nodes) =>
          snapshotRecords(
            [],
            { height: h.header.number, root: h.header.stateRoot, headerHash: h.hash, nodes },
            2,
          ),
      },
      new AbortController().signal,
    )
    expect(called).toEqual(['local', 'peer', 'replay'])
    expect(report.strategy).toBe('replay')
    expect(report.attempts.map((a) => [a.strategy, a.outcome, a.reason?.code ?? null])).toEqual([
      ['local', 'not-applicable', 'NO_LOCAL_SNAPSHOT'],
      ['peer', 'failed', 'SNAPSHOT_NO_PEERS'],
      ['replay', 'recovered', null],
    ])
    expect(report.attempts[2]).toMatchObject({ blocks: 20 })
    expect(events.map((e) => e.type)).toEqual([
      'recovery-started',
      'recovery-attempt-started',
      'recovery-attempt',
      'recovery-attempt-started',
      'recovery-attempt',
      'recovery-attempt-started',
      'recovery-progress',
      'recovery-attempt',
      'recovery-finished',
    ])
    // One write by the strategy, one completion write: marker, cleared flag, report, snapshot record.
    expect(store.writes - writesBefore).toBe(2)
    expect(await readSyncedRoot(store)).toEqual({ root: t.rootAt(20), height: 20 })
    expect(await readRepair(store)).toBeNull()
    expect((await readRecoveryReport(store))?.strategy).toBe('replay')
    expect(await store.getMeta(META.snapshots)).toBeDefined()
  })

  it('re-checks a result: a strategy that leaves the state incomplete fails, and the next one is tried', async () => {
    const store = new MemoryNodeStore()
    const nodes = await stateNodes(10)
    const { d } = deps(store, [
      // Writes the root and all but one node: looks complete at the top.
      fake('peer', async (ctx) => ctx.store.write({ nodes: nodes.filter((_, i) => i !== nodes.length - 1) })),
      fake('snapshot', async (ctx) => ctx.store.write({ nodes })),
    ])
    const report = await recoverState(target(10), 'cli', d, new AbortController().signal)
    expect(report.attempts.map((a) => [a.strategy, a.outcome, a.reason?.code ?? null])).toEqual([
      ['peer', 'failed', 'STATE_MISSING'],
      ['snapshot', 'recovered', null],
    ])
    await verifyStoredState(store, t.rootAt(10))
  })

  it('every strategy failing: StateRecoveryFailed with each reason, and the stored record is left as it was', async () => {
    const store = await storeWithState(t.chain, [5])
    await store.write({ meta: [[META.stateRoot, rlpEncode([t.rootAt(5), 5])]] })
    const { d } = deps(store, [localSnapshotStrategy, replayStrategy, networkSnapshotStrategy])
    const before = dumpStore(store)
    const e = await recoverState(target(25), 'cli', d, new AbortController().signal).catch((x) => x)
    expect(e).toBeInstanceOf(StateRecoveryFailed)
    expect((e as StateRecoveryFailed).attempts.map((a) => [a.strategy, a.outcome, a.reason?.code])).toEqual([
      ['local', 'not-applicable', 'NO_LOCAL_SNAPSHOT'],
      ['replay', 'not-applicable', 'REPLAY_NO_PEERS'],
      ['snapshot', 'not-applicable', 'NO_RANGE_PEERS'],
    ])
    expect((e as StateRecoveryFailed).message).toMatch(/local not-applicable \(NO_LOCAL_SNAPSHOT/)
    // Nothing but the report of the failed recovery was written.
    const after = await readRecoveryReport(store)
    expect(after?.strategy).toBeNull()
    await store.write({ meta: [[META.recovery, null]] })
    expect(dumpStore(store)).toBe(before)
    expect(await readSyncedRoot(store)).toEqual({ root: t.rootAt(5), height: 5 })
  })

  it('real strategies in order: local snapshot older than the target, then block replay from it', async () => {
    const store = await storeWithState(t.chain, [12])
    await store.write({
      meta: snapshotRecords([], { height: 12, root: t.rootAt(12), headerHash: target(12).hash, nodes: 1 }, 2),
    })
    const { d, events } = deps(store, [localSnapshotStrategy, replayStrategy], [chainPeer('a', t.view)])
    const report = await recoverState(target(30), 'startup-check', d, new AbortController().signal)
    expect(report.strategy).toBe('local')
    expect(report.attempts[0]).toMatchObject({ strategy: 'local', outcome: 'recovered', blocks: 18 })
    expect(events.filter((e) => e.type === 'recovery-attempt')).toHaveLength(1)
    await verifyStoredState(store, t.rootAt(30))
  })

  it('a target that changes mid-recovery: the old partial work is discarded, not mixed into the new state', async () => {
    const store = new MemoryNodeStore()
    const stop = new AbortController()
    let replies = 0
    const src = t.chain.store
    const peer = rangePeer('r', src, {
      maxLeaves: 4,
      onRange: () => {
        if (++replies === 5) stop.abort(new Error('target moved'))
      },
    })
    const first = deps(store, [networkSnapshotStrategy], [peer])
    await expect(recoverState(target(10), 'user', first.d, stop.signal)).rejects.toThrow()
    const progress = await store.getMeta(META.snapshotProgress)
    expect(progress).toBeDefined() // partial work for the old target
    const second = deps(store, [networkSnapshotStrategy], [rangePeer('r2', src, { maxLeaves: 64 })])
    const report = await recoverState(target(30), 'user', second.d, new AbortController().signal)
    expect(report.strategy).toBe('snapshot')
    expect(await store.getMeta(META.snapshotProgress)).toBeUndefined()
    await verifyStoredState(store, t.rootAt(30))
    expect(toHex((await readSyncedRoot(store))!.root)).toBe(toHex(t.rootAt(30)))
  })
})
