import { describe, expect, it } from 'vitest'
import { accountRefs } from '../../src/core/account.ts'
import { toHex } from '../../src/core/bytes.ts'
import { devnetProducer, generateDevnet, produceBlock } from '../../src/core/chain/devnet.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import type { Header } from '../../src/core/chain/header.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import {
  FailedToFetchStateNodes,
  NoPeersWithTargetState,
  SyncAbortedError,
} from '../../src/core/sync/errors.ts'
import { readSyncedRoot, STAGED_PREFIX, syncToState } from '../../src/core/sync/state-sync.ts'
import type { SyncEvent } from '../../src/core/sync/types.ts'
import { childRefs, decodeNode, type RefKind } from '../../src/core/trie/node.ts'
import { realClock } from '../../src/platform/clock.ts'
import { type Fault, type FaultPeer, faultPeer } from '../helpers/fault-peers.ts'

async function makeState(accounts = 3000, seed = 'sync-test') {
  const { genesis, keys } = generateDevnet({ seed, accounts, contracts: 30, slots: 20 })
  const store = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await store.write({ nodes })
  return { genesis, keys, store, root }
}

/** Every node and code blob reachable from `root`, as hex hashes. */
async function reachable(store: MemoryNodeStore, root: Uint8Array): Promise<Set<string>> {
  const seen = new Set<string>()
  let frontier: { hash: Uint8Array; kind: RefKind }[] = [{ hash: root, kind: 'state' }]
  while (frontier.length) {
    const next: typeof frontier = []
    for (const f of frontier) {
      const k = toHex(f.hash)
      if (seen.has(k)) continue
      seen.add(k)
      if (f.kind === 'code') continue
      const b = await store.getNode(f.hash)
      if (!b) throw new Error(`missing ${k}`)
      next.push(...childRefs(decodeNode(b), f.kind === 'storage' ? 'storage' : 'state', accountRefs))
    }
    frontier = next
  }
  return seen
}

/** Nothing unverified is stored: every stored value hashes to its key. */
function assertAllVerified(store: MemoryNodeStore) {
  for (const [k, v] of store.nodes) expect(toHex(keccak256(v))).toBe(k)
}

/** Serves the target root honestly (so the peer passes the probe), and everything else by its fault. */
function honestRoot<P extends FaultPeer>(p: P, store: MemoryNodeStore, root: Uint8Array): P {
  const inner = p.getNodes.bind(p)
  p.getNodes = async (hashes, signal) => {
    if (hashes.length === 1 && toHex(hashes[0]!) === toHex(root)) return [(await store.getNode(root))!]
    return inner(hashes, signal)
  }
  return p
}

const FAST = { requestTimeoutMs: 400, progressIntervalMs: 20, stallMs: 300 }

describe('state sync', () => {
  it('syncs a whole state (accounts, storage, code) from one peer; totals match the source trie', async () => {
    const src = await makeState()
    const dst = new MemoryNodeStore()
    const events: SyncEvent[] = []
    const r = await syncToState(src.root, 0, {
      clock: realClock,
      store: dst,
      peers: [faultPeer('a', src.store, 'honest')],
      onEvent: (e) => events.push(e),
    })
    const want = await reachable(src.store, src.root)
    expect(r.nodes).toBe(want.size)
    expect(new Set(dst.nodes.keys())).toEqual(want)
    expect(await reachable(dst, src.root)).toEqual(want)
    expect(toHex((await readSyncedRoot(dst))!.root)).toBe(toHex(src.root))
    assertAllVerified(dst)
    // Progress events: monotone node counts and a final 100 %.
    const progress = events
      .filter((e) => e.type === 'progress')
      .map((e) => (e as { progress: { nodesProcessed: number } }).progress.nodesProcessed)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
    const done = events.at(-1)!
    expect(done.type).toBe('done')
    expect((done as { progress: { percent: number } }).progress.percent).toBe(100)
    expect([...dst.meta.keys()].some((k) => k.startsWith(STAGED_PREFIX))).toBe(false)
  })

  it('spreads the work over several peers', async () => {
    const src = await makeState()
    const peers = ['a', 'b', 'c'].map((id) => faultPeer(id, src.store, 'honest', { latencyMs: 5 }))
    const r = await syncToState(src.root, 0, {
      clock: realClock,
      store: new MemoryNodeStore(),
      peers,
      config: { initialBatch: 32 },
    })
    for (const p of r.peers) expect(p.delivered).toBeGreaterThan(0)
  })

  it('a peer offered mid-sync joins once it proves it has the root; one without it is refused', async () => {
    const src = await makeState()
    const other = await makeState(300, 'other')
    const events: SyncEvent[] = []
    const late = faultPeer('late', src.store, 'honest', { latencyMs: 2 })
    const r = await syncToState(src.root, 0, {
      clock: realClock,
      store: new MemoryNodeStore(),
      peers: [faultPeer('first', src.store, 'honest', { latencyMs: 20 })],
      config: { initialBatch: 16, maxBatch: 16 },
      onEvent: (e) => events.push(e),
      joinPeers: (offer) => {
        const t = setTimeout(() => {
          offer(late)
          offer(faultPeer('elsewhere', other.store, 'honest'))
        }, 30)
        return () => clearTimeout(t)
      },
    })
    expect(r.peers.find((p) => p.id === 'late')?.delivered).toBeGreaterThan(0)
    expect(r.peers.find((p) => p.id === 'elsewhere')).toBeUndefined()
    expect(events).toContainEqual({
      type: 'peer-refused',
      peer: 'elsewhere',
      reason: 'does not have the target root',
    })
  })

  const faults: Fault[] = ['corrupt', 'wrong', 'empty', 'stall', 'disconnect', 'slow', 'other-root']
  for (const fault of faults) {
    it(`completes with 1 honest peer among 3 '${fault}' peers, charging every bad reply to its sender`, async () => {
      const src = await makeState(1500)
      const other = await makeState(300, 'other')
      // Faulty peers pass the probe (they serve the root) except 'other-root', which the probe refuses.
      const bad = ['x', 'y', 'z'].map((id) =>
        fault === 'other-root'
          ? faultPeer(`${fault}-${id}`, src.store, fault, { otherStore: other.store })
          : honestRoot(faultPeer(`${fault}-${id}`, src.store, fault), src.store, src.root),
      )
      const dst = new MemoryNodeStore()
      const r = await syncToState(src.root, 0, {
        clock: realClock,
        store: dst,
        peers: [...bad, faultPeer('honest', src.store, 'honest', { latencyMs: 3 })],
        config: FAST,
      })
      expect(await reachable(dst, src.root)).toEqual(await reachable(src.store, src.root))
      assertAllVerified(dst)
      const stats = Object.fromEntries(r.peers.map((p) => [p.id, p]))
      const honest = stats.honest!
      expect(honest.bad + honest.missing + honest.timeouts + honest.errors).toBe(0)
      for (const b of bad) {
        const s = stats[b.id]
        if (fault === 'other-root') {
          expect(s).toBeUndefined() // refused at the probe: it does not serve the target root
          continue
        }
        if (fault === 'corrupt' || fault === 'wrong') expect(s!.bad).toBeGreaterThan(0)
        if (fault === 'corrupt' || fault === 'wrong') expect(s!.banned).toMatch(/do not match/)
        if (fault === 'empty') expect(s!.missing).toBeGreaterThan(0)
        if (fault === 'stall') expect(s!.timeouts).toBeGreaterThan(0)
        if (fault === 'disconnect') expect(s!.errors).toBeGreaterThan(0)
        if (fault === 'slow') expect(s!.delivered).toBeGreaterThan(0)
      }
    })
  }

  for (const fault of ['corrupt', 'empty', 'stall', 'disconnect', 'other-root'] as Fault[]) {
    it(`with 0 honest peers ('${fault}') fails with a typed error naming the peers, in bounded time`, async () => {
      const src = await makeState(800)
      const other = await makeState(100, 'other')
      // The root itself is served honestly by the faulty peers here (except other-root), so the
      // failure happens mid-sync, not at the probe.
      const peers = ['x', 'y'].map((id) => {
        const p = faultPeer(`${fault}-${id}`, src.store, fault, { otherStore: other.store })
        const inner = p.getNodes.bind(p)
        p.getNodes = async (hashes, signal) => {
          if (fault !== 'other-root' && hashes.length === 1 && toHex(hashes[0]!) === toHex(src.root))
            return [(await src.store.getNode(src.root))!]
          return inner(hashes, signal)
        }
        return p
      })
      const started = Date.now()
      const err = await syncToState(src.root, 0, {
        clock: realClock,
        store: new MemoryNodeStore(),
        peers,
        config: { ...FAST, maxRetries: 3 },
      }).catch((e) => e)
      expect(Date.now() - started).toBeLessThan(20_000)
      if (fault === 'other-root') {
        expect(err).toBeInstanceOf(NoPeersWithTargetState)
      } else {
        expect(err).toBeInstanceOf(FailedToFetchStateNodes)
        expect(err.hashes.length).toBeGreaterThan(0)
      }
      for (const p of peers) expect(err.message).toContain(p.id)
    })
  }

  it('with no peers at all, or none having the root, fails with NoPeersWithTargetState', async () => {
    const src = await makeState(200)
    await expect(
      syncToState(src.root, 0, { clock: realClock, store: new MemoryNodeStore(), peers: [] }),
    ).rejects.toBeInstanceOf(NoPeersWithTargetState)
    const other = await makeState(100, 'other')
    await expect(
      syncToState(src.root, 0, {
        clock: realClock,
        store: new MemoryNodeStore(),
        peers: [faultPeer('p', other.store, 'honest')],
      }),
    ).rejects.toThrow(/p: does not have the target root/)
  })

  it('reports a stall loudly while no verified node arrives', async () => {
    const src = await makeState(500)
    const stalls: SyncEvent[] = []
    const stall = faultPeer('staller', src.store, 'stall')
    const root = (await src.store.getNode(src.root))!
    stall.getNodes = async (hashes, signal) =>
      hashes.length === 1 && toHex(hashes[0]!) === toHex(src.root)
        ? [root]
        : new Promise((_, rej) => signal.addEventListener('abort', () => rej(signal.reason)))
    await syncToState(src.root, 0, {
      clock: realClock,
      store: new MemoryNodeStore(),
      peers: [stall],
      config: { requestTimeoutMs: 2000, stallMs: 200, progressIntervalMs: 20, maxRetries: 1 },
      onEvent: (e) => e.type === 'stall' && stalls.push(e),
    }).catch(() => {})
    expect(stalls.length).toBeGreaterThan(0)
    expect((stalls[0] as { reason: string }).reason).toMatch(/no verified node for/)
  })

  it('aborted mid-sync: never marked complete; resumed, it finishes re-downloading at most what was in flight', async () => {
    const src = await makeState(3000)
    const dst = new MemoryNodeStore()
    const total = (await reachable(src.store, src.root)).size
    const ac = new AbortController()
    const peer = faultPeer('a', src.store, 'honest', { latencyMs: 2 })
    let abortedAt = 0
    const config = {
      initialBatch: 64,
      maxBatch: 64,
      maxInFlightPerPeer: 2,
      flushOps: 1,
      progressIntervalMs: 1,
    }
    const first = await syncToState(src.root, 0, {
      clock: realClock,
      store: dst,
      peers: [peer],
      config,
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.progress.nodesProcessed > total / 3 && !abortedAt) {
          abortedAt = e.progress.nodesProcessed
          ac.abort()
        }
      },
    }).catch((e) => e)
    expect(first).toBeInstanceOf(SyncAbortedError)
    expect(await readSyncedRoot(dst)).toBeNull()
    expect(dst.nodes.has(toHex(src.root))).toBe(false) // the root is written last
    const servedBefore = peer.served
    const storedBefore = dst.nodes.size
    const stagedBefore = [...dst.meta.keys()].filter((k) => k.startsWith(STAGED_PREFIX)).length
    expect(stagedBefore).toBeGreaterThan(0)
    const second = await syncToState(src.root, 0, { clock: realClock, store: dst, peers: [peer], config })
    // Stored and staged nodes are not downloaded again (+1: the probe asks for the root).
    expect(peer.served - servedBefore).toBeLessThanOrEqual(total - storedBefore - stagedBefore + 1)
    expect(await reachable(dst, src.root)).toEqual(await reachable(src.store, src.root))
    const downloaded = servedBefore + (peer.served - servedBefore)
    // In flight at the abort: at most 2 requests × 64 hashes.
    expect(downloaded - total).toBeLessThanOrEqual(2 * 64)
    expect(second.skipped).toBeGreaterThan(0)
  })

  it('syncing to a newer root downloads only what changed (≤ 1.1× the changed nodes)', async () => {
    const src = await makeState(3000)
    const dst = new MemoryNodeStore()
    await syncToState(src.root, 0, {
      clock: realClock,
      store: dst,
      peers: [faultPeer('a', src.store, 'honest')],
    })
    const before = await reachable(src.store, src.root)
    // The chain moves on 30 blocks.
    const producer = devnetProducer(src.genesis, src.keys, 10)
    let state = new StateDB(src.store, src.root)
    let parent: Header = genesisHeader(src.genesis, src.root)
    for (let i = 0; i < 30; i++) {
      const b = await produceBlock(producer, state, parent, parent.timestamp + 1)
      await src.store.write({ nodes: b.commit.nodes })
      b.commit.markStored()
      state = b.state
      parent = b.block.header
    }
    const after = await reachable(src.store, parent.stateRoot)
    const changed = [...after].filter((h) => !before.has(h)).length
    const r = await syncToState(parent.stateRoot, 30, {
      clock: realClock,
      store: dst,
      peers: [faultPeer('a', src.store, 'honest')],
    })
    expect(r.nodes).toBeLessThanOrEqual(Math.ceil(1.1 * changed))
    expect(r.nodes).toBeGreaterThanOrEqual(changed)
    expect(await reachable(dst, parent.stateRoot)).toEqual(after)
  })

  it('keeps the frontier near its cap', async () => {
    const src = await makeState(3000)
    const cap = 300
    const r = await syncToState(src.root, 0, {
      clock: realClock,
      store: new MemoryNodeStore(),
      peers: [faultPeer('a', src.store, 'honest')],
      config: { frontierCap: cap, maxBatch: 64 },
    })
    // When the cap is crossed, the requests already in flight (≤ 3 × 64 hashes) may still expand.
    expect(r.maxFrontier).toBeLessThanOrEqual(cap + 3 * 64 * 17)
  })

  it('a peer that ignores the abort signal cannot hold the sync: its requests expire', async () => {
    const src = await makeState(500)
    const deaf = honestRoot(faultPeer('deaf', src.store, 'honest'), src.store, src.root)
    const inner = deaf.getNodes.bind(deaf)
    deaf.getNodes = (hashes, signal) =>
      hashes.length === 1 && toHex(hashes[0]!) === toHex(src.root)
        ? inner(hashes, signal)
        : new Promise(() => {})
    const dst = new MemoryNodeStore()
    const r = await syncToState(src.root, 0, {
      clock: realClock,
      store: dst,
      peers: [deaf, faultPeer('honest', src.store, 'honest', { latencyMs: 2 })],
      config: { requestTimeoutMs: 300, progressIntervalMs: 20 },
    })
    expect(await reachable(dst, src.root)).toEqual(await reachable(src.store, src.root))
    expect(r.peers.find((p) => p.id === 'deaf')!.timeouts).toBeGreaterThan(0)
    const alone = await syncToState(src.root, 0, {
      clock: realClock,
      store: new MemoryNodeStore(),
      peers: [deaf],
      config: { requestTimeoutMs: 300, progressIntervalMs: 20, maxRetries: 2 },
    }).catch((e) => e)
    expect(alone).toBeInstanceOf(FailedToFetchStateNodes)
  })

  it('an AbortSignal cancels cleanly', async () => {
    const src = await makeState(500)
    const ac = new AbortController()
    ac.abort()
    await expect(
      syncToState(src.root, 0, {
        clock: realClock,
        store: new MemoryNodeStore(),
        peers: [faultPeer('a', src.store, 'honest')],
        signal: ac.signal,
      }),
    ).rejects.toBeInstanceOf(SyncAbortedError)
  })
})
