/**
 * Block replay (core/recovery/replay.ts, replay-strategy.ts) over a devnet chain and fake peers:
 * a replay reaches exactly the target root and the result walks clean; a peer serving an altered
 * block or headers that do not link is charged and another peer finishes; a block nobody serves
 * right, or one that matches its header but not its root, stops the replay with nothing committed
 * past the last good block; not-applicable cases leave the store as it was; a restart resumes; an
 * empty store replays from the genesis file.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisToJson } from '../../src/core/chain/genesis.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { META } from '../../src/core/meta-keys.ts'
import { ReplayError, readReplayProgress, replayBlocks } from '../../src/core/recovery/replay.ts'
import { replayStrategy } from '../../src/core/recovery/replay-strategy.ts'
import { NotApplicableError } from '../../src/core/recovery/types.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import {
  badBlockAt,
  chainPeer,
  contextFor,
  driveClock,
  dumpStore,
  forkWithWrongRoot,
  recordSynced,
  recoveryChain,
  storeWithState,
} from '../helpers/recovery-peers.ts'

const t = recoveryChain('replay', 60)

/** A store with the state at `height` recorded as the last completed sync. */
async function syncedAt(height: number): Promise<MemoryNodeStore> {
  const store = await storeWithState(t.chain, [height])
  await recordSynced(store, t.chain, height)
  return store
}

async function notApplicable(p: Promise<unknown>): Promise<NotApplicableError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(NotApplicableError)
  return e as NotApplicableError
}

describe('block replay', () => {
  it('replays 50 blocks to exactly the target root, the result walks clean, META.stateRoot is left alone', async () => {
    const store = await syncedAt(5)
    const stateRecord = store.meta.get(META.stateRoot)
    // Replies of at most 20 blocks: several windows, as from a server's size limit.
    const ctx = contextFor(t.view, 55, store, [
      chainPeer('a', t.view, { maxBlocksPerReply: 20 }),
      chainPeer('b', t.view),
    ])
    await replayStrategy.run(ctx)
    expect(ctx.counters.blocks).toBe(50)
    expect(ctx.counters.nodes).toBeGreaterThan(50)
    expect(ctx.counters.bytes).toBeGreaterThan(0)
    expect(ctx.charges).toEqual([])
    expect(ctx.phases).toContain('replaying')
    await expect(verifyStoredState(store, t.rootAt(55))).resolves.toMatchObject({
      accounts: expect.any(Number),
    })
    const progress = await readReplayProgress(ctx)
    expect(progress && { h: progress.height, root: toHex(progress.root) }).toEqual({
      h: 55,
      root: toHex(t.rootAt(55)),
    })
    expect(store.meta.get(META.stateRoot)).toEqual(stateRecord)
  })

  it('charges a peer serving a block with an altered transaction and completes from another peer', async () => {
    const store = await syncedAt(5)
    // Small replies, so the peers take turns and the altered one is asked for its bad block.
    const altered = chainPeer('altered', t.view, { blocks: badBlockAt(12), maxBlocksPerReply: 5 })
    const ctx = contextFor(t.view, 55, store, [
      altered,
      chainPeer('honest', t.view, { maxBlocksPerReply: 5 }),
    ])
    await replayStrategy.run(ctx)
    expect(altered.blocksServed).toBeGreaterThan(0)
    expect(ctx.charges.map((c) => c.peer)).toEqual(['altered'])
    expect(ctx.charges[0]!.reason).toContain('block 12')
    expect(ctx.counters.blocks).toBe(50)
    await verifyStoredState(store, t.rootAt(55))
  })

  it('charges a peer whose headers do not link to the target and takes them from another', async () => {
    const store = await syncedAt(5)
    const liar = chainPeer('liar', t.view, {
      headers: (hs) =>
        hs.map((h) =>
          h.header.number === 30 ? { ...h, header: { ...h.header, timestamp: h.header.timestamp + 1 } } : h,
        ),
    })
    const ctx = contextFor(t.view, 55, store, [liar, chainPeer('honest', t.view)])
    await replayStrategy.run(ctx)
    expect(ctx.charges.map((c) => c.peer)).toEqual(['liar'])
    expect(liar.blocksServed).toBe(0)
    await verifyStoredState(store, t.rootAt(55))
  })

  it('sets a stalled peer aside at the request deadline, without charging it, and completes', async () => {
    const store = await syncedAt(5)
    const stalled = chainPeer('stalled', t.view, { stallBlocks: true })
    const honest = chainPeer('honest', t.view, { maxBlocksPerReply: 10 })
    const ctx = contextFor(t.view, 55, store, [stalled, honest], { requestTimeoutMs: 1000 })
    await driveClock(ctx, replayStrategy.run(ctx))
    expect(stalled.blockRequests).toBe(1)
    expect(ctx.charges).toEqual([])
    expect(honest.blocksServed).toBe(50)
    await verifyStoredState(store, t.rootAt(55))
  })

  it('stops when every peer serves a bad block N: nothing past N-1 is committed', async () => {
    const store = await syncedAt(5)
    const ctx = contextFor(t.view, 55, store, [
      chainPeer('a', t.view, { blocks: badBlockAt(30) }),
      chainPeer('b', t.view, { blocks: badBlockAt(30) }),
    ])
    const stopped = replayStrategy.run(ctx)
    await expect(stopped).rejects.toBeInstanceOf(ReplayError)
    await expect(stopped).rejects.toMatchObject({
      code: 'REPLAY_BLOCKS_UNAVAILABLE',
      details: { height: 30, lastGood: 29 },
    })
    expect(ctx.charges.map((c) => c.peer).sort()).toEqual(['a', 'b'])
    const progress = await readReplayProgress(ctx)
    expect(progress?.height).toBe(29)
    expect(toHex(progress!.root)).toBe(toHex(t.rootAt(29)))
    // The state at 29 reads fine; block 30's root was never written.
    const spender = addressOf(t.chain.keys.spenders[0]!)
    const at29 = await new StateDB(store, t.rootAt(29)).getAccount(spender)
    expect(at29?.nonce).toBeGreaterThan(0n)
    await verifyStoredState(store, t.rootAt(29))
    expect(await store.hasNode(t.rootAt(30))).toBe(false)
  })

  it('stops without charging anyone when a block matching its header does not reach its root', async () => {
    const fork = forkWithWrongRoot(t.view, 20)
    const store = await syncedAt(5)
    const ctx = contextFor(fork, 40, store, [chainPeer('a', fork), chainPeer('b', fork)])
    const stopped = replayStrategy.run(ctx)
    await expect(stopped).rejects.toBeInstanceOf(ReplayError)
    await expect(stopped).rejects.toMatchObject({
      code: 'REPLAY_ROOT_MISMATCH',
      details: { height: 20, lastGood: 19 },
    })
    expect(ctx.charges).toEqual([])
    expect((await readReplayProgress(ctx))?.height).toBe(19)
    // Block 20's real result (what its transactions give) was not written either.
    expect(await store.hasNode(t.rootAt(20))).toBe(false)
    await verifyStoredState(store, t.rootAt(19))
  })

  describe('not applicable: the store is left exactly as it was', () => {
    it('no start state and no genesis file', async () => {
      const store = new MemoryNodeStore()
      const before = dumpStore(store)
      const e = await notApplicable(
        replayStrategy.run(contextFor(t.view, 55, store, [chainPeer('a', t.view)])),
      )
      expect(e.code).toBe('REPLAY_NO_START')
      expect(dumpStore(store)).toBe(before)
    })

    it('the target is further than maxReplayBlocks', async () => {
      const store = await syncedAt(5)
      const before = dumpStore(store)
      const ctx = contextFor(t.view, 55, store, [chainPeer('a', t.view)], { maxReplayBlocks: 49 })
      expect((await notApplicable(replayStrategy.run(ctx))).code).toBe('REPLAY_TOO_FAR')
      expect(dumpStore(store)).toBe(before)
    })

    it('no peer claims the blocks (heads below the target, or no peers)', async () => {
      const store = await syncedAt(5)
      const before = dumpStore(store)
      const behind = contextFor(t.view, 55, store, [chainPeer('a', t.view, { headNumber: 40 })])
      expect((await notApplicable(replayStrategy.run(behind))).code).toBe('REPLAY_NO_PEERS')
      expect((await notApplicable(replayStrategy.run(contextFor(t.view, 55, store, [])))).code).toBe(
        'REPLAY_NO_PEERS',
      )
      expect(dumpStore(store)).toBe(before)
    })

    it('a starting root that is not stored', async () => {
      const store = new MemoryNodeStore()
      const before = dumpStore(store)
      const ctx = contextFor(t.view, 55, store, [chainPeer('a', t.view)])
      const e = await notApplicable(replayBlocks(ctx, { height: 5, root: t.rootAt(5) }))
      expect(e.code).toBe('REPLAY_START_MISSING')
      expect(dumpStore(store)).toBe(before)
    })

    it('no peer serves headers that link to the target', async () => {
      const store = await syncedAt(5)
      const before = dumpStore(store)
      const forged = (hs: typeof t.chain.headers) =>
        hs.map((h) => ({ ...h, header: { ...h.header, timestamp: h.header.timestamp + 1 } }))
      const ctx = contextFor(t.view, 55, store, [chainPeer('a', t.view, { headers: forged })])
      expect((await notApplicable(replayStrategy.run(ctx))).code).toBe('REPLAY_NO_HEADER_CHAIN')
      expect(ctx.charges.map((c) => c.peer)).toEqual(['a'])
      expect(dumpStore(store)).toBe(before)
    })

    it('a genesis file that is not the chain’s', async () => {
      const store = new MemoryNodeStore()
      const before = dumpStore(store)
      const json = genesisToJson(t.chain.genesis)
      const [firstAddress, first] = Object.entries(json.alloc)[0]!
      const other = { ...json, alloc: { ...json.alloc, [firstAddress]: { ...first, balance: '0x1' } } }
      const ctx = contextFor(t.view, 30, store, [chainPeer('a', t.view)], { genesis: other })
      expect((await notApplicable(replayStrategy.run(ctx))).code).toBe('REPLAY_START_NOT_ON_CHAIN')
      expect(ctx.charges).toEqual([])
      expect(dumpStore(store)).toBe(before)
    })
  })

  it('resumes from its progress after an abort instead of starting over', async () => {
    const store = await syncedAt(5)
    const first = contextFor(t.view, 55, store, [chainPeer('a', t.view)])
    first.progress = () => {
      if (first.counters.blocks === 20) first.abort.abort(new Error('stopped by the test'))
    }
    await expect(replayStrategy.run(first)).rejects.toThrow('stopped by the test')
    expect((await readReplayProgress(first))?.height).toBe(25)

    const second = contextFor(t.view, 55, store, [chainPeer('a', t.view)])
    await replayStrategy.run(second)
    expect(second.counters.blocks).toBe(30)
    await verifyStoredState(store, t.rootAt(55))
  })

  it('replays from the genesis file into an empty store', async () => {
    const store = new MemoryNodeStore()
    const ctx = contextFor(t.view, 30, store, [chainPeer('a', t.view)], {
      genesis: genesisToJson(t.chain.genesis),
    })
    await replayStrategy.run(ctx)
    expect(ctx.counters.blocks).toBe(30)
    await verifyStoredState(store, t.rootAt(30))
  })
})
