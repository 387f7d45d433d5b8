/**
 * ChainDB's record format and the atomicity of what it writes with each head: the header, the block,
 * the state and the validator set a header names as next, together or not at all.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { ChainDB } from '../../src/core/chain/chain-db.ts'
import { devnetProducer, produceBlock } from '../../src/core/chain/devnet.ts'
import { META } from '../../src/core/meta-keys.ts'
import { MemoryNodeStore, type WriteBatch } from '../../src/core/store.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'

const DEVNET = { seed: 'chain-db-test', accounts: 40, contracts: 2, slots: 2 }

/** A memory store whose writes can be made to fail, and that records each batch's meta keys. */
class FlakyStore extends MemoryNodeStore {
  failWrites = false
  batches: string[][] = []
  override async write(batch: WriteBatch): Promise<void> {
    if (this.failWrites) throw new Error('disk full')
    this.batches.push([...(batch.meta ?? [])].map(([k]) => k))
    return super.write(batch)
  }
}

describe('ChainDB', () => {
  it('a data directory written by an older rootsync (no format 2) is refused with CHAIN_FORMAT', async () => {
    const chain = await makeDevnetChain(DEVNET, 0, 0)
    const store = new MemoryNodeStore()
    await ChainDB.open(store, chain.genesis)
    // What rootsync wrote before headers committed to validator sets: no `format`.
    const old = JSON.parse(new TextDecoder().decode(await store.getMeta(META.chain)))
    delete old.format
    await store.write({ meta: [[META.chain, new TextEncoder().encode(JSON.stringify(old))]] })
    const refused = ChainDB.open(store, chain.genesis, 'the data directory /tmp/x')
    await expect(refused).rejects.toMatchObject({ code: 'CHAIN_FORMAT' })
    await expect(refused).rejects.toThrow(/\/tmp\/x was written by an older rootsync.*delete it/)
    // Without a genesis too (a node restarted on its data directory alone).
    await expect(ChainDB.open(store)).rejects.toMatchObject({ code: 'CHAIN_FORMAT' })
  })

  it('serves the genesis set after a reopen, light blocks up to the head, and none above it', async () => {
    const chain = await makeDevnetChain(DEVNET, 4, 1, { rotateEvery: 2 })
    const store = new MemoryNodeStore()
    const db = await ChainDB.open(store, chain.genesis)
    for (let h = 1; h <= 4; h++) await db.importBlock(chain.blocks[h]!)
    const reopened = await ChainDB.open(store)
    for (let h = 0; h <= 4; h++) expect(await reopened.lightBlock(h)).toEqual(chain.lightBlock(h))
    expect(await reopened.lightBlock(5)).toBeUndefined()
    // A block with an update sends its next set; others elide it (the same set).
    expect((await reopened.lightBlock(2))!.nextValidators.length).toBe(4)
    expect((await reopened.lightBlock(3))!.nextValidators.length).toBe(0)
  })

  it('writes the new validator set in the same batch as the head; a failed write leaves neither', async () => {
    const chain = await makeDevnetChain(DEVNET, 2, 1, { rotateEvery: 2 })
    const store = new FlakyStore()
    const db = await ChainDB.open(store, chain.genesis)
    await db.importBlock(chain.blocks[1]!)
    const rotation = chain.blocks[2]!
    const newSet = META.validatorSet(toHex(rotation.header.nextValidatorsHash))
    store.failWrites = true
    await expect(db.importBlock(rotation)).rejects.toThrow('disk full')
    store.failWrites = false
    const after = await ChainDB.open(store)
    expect((await after.head()).header.number).toBe(1)
    expect(await store.getMeta(newSet)).toBeUndefined()
    await expect(after.validatorSet(rotation.header.nextValidatorsHash)).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
    })
    await after.importBlock(rotation)
    const batch = store.batches.at(-1)!
    expect(batch).toContain(META.chainHead)
    expect(batch).toContain(newSet)
    expect(batch).toContain(META.header(2))
    expect(batch).toContain(META.block(2))
    expect((await ChainDB.open(store).then((d) => d.lightBlock(2)))!).toEqual(chain.lightBlock(2))
  })

  it('appendBlocks stores a run of computed blocks in one batch, and refuses a broken set transition', async () => {
    const chain = await makeDevnetChain(DEVNET, 4, 1, { rotateEvery: 2 })
    const store = new FlakyStore()
    const db = await ChainDB.open(store, chain.genesis)
    // The same producer rule run again on the node's own store, as a chain generator would.
    const producer = devnetProducer(chain.genesis, chain.keys, 1, { seed: DEVNET.seed, every: 2 })
    let state = await db.state()
    let parent = (await db.head()).header
    const computed = []
    for (let i = 0; i < 4; i++) {
      const r = await produceBlock(producer, state, parent, parent.timestamp + 1)
      computed.push({ block: r.block, commit: r.commit })
      state = r.state
      parent = r.block.header
    }
    const bad = computed.map((c, i) => (i === 1 ? { ...c, block: { ...c.block, validatorUpdates: [] } } : c))
    await expect(db.appendBlocks(bad)).rejects.toMatchObject({ code: 'BAD_VALIDATOR_UPDATE' })
    expect((await db.head()).header.number).toBe(0)
    const before = store.batches.length
    expect((await db.appendBlocks(computed)).number).toBe(4)
    expect(store.batches.length).toBe(before + 1)
    for (let h = 0; h <= 4; h++) expect(await db.lightBlock(h)).toEqual(chain.lightBlock(h))
    // The stored state is whole: the head's root node is there.
    expect(await store.hasNode(parent.stateRoot)).toBe(true)
  })
})
