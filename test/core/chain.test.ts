import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { applyBlock } from '../../src/core/chain/apply.ts'
import { type Block, transactionsRoot } from '../../src/core/chain/block.ts'
import { ChainDB } from '../../src/core/chain/chain-db.ts'
import {
  devnetProducer,
  devnetSlotsAt,
  devnetUpdateAt,
  devnetValidatorKey,
  generateDevnet,
  produceBlock,
} from '../../src/core/chain/devnet.ts'
import { ChainError } from '../../src/core/chain/errors.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { type Header, headerHash, signHeader } from '../../src/core/chain/header.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { signTransaction } from '../../src/core/chain/tx.ts'
import { lightBlockReply, validatorSetHash, verifyHeaderSignatures } from '../../src/core/chain/validators.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { makeDevnetChain, verifySequentially } from '../helpers/devnet-chain.ts'

const OPTS = { seed: 'chain-test', accounts: 10_000, contracts: 100, slots: 10 }

async function genesisState(opts = OPTS) {
  const { genesis, keys } = generateDevnet(opts)
  const store = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await store.write({ nodes })
  return { genesis, keys, store, root, header: genesisHeader(genesis, root) }
}

async function runChain(blocks: number) {
  const g = await genesisState()
  const producer = devnetProducer(g.genesis, g.keys)
  let state = new StateDB(g.store, g.root)
  let parent: Header = g.header
  const produced: Block[] = []
  for (let i = 0; i < blocks; i++) {
    const r = await produceBlock(producer, state, parent, parent.timestamp + 1)
    await g.store.write({ nodes: r.commit.nodes })
    r.commit.markStored()
    state = r.state
    parent = r.block.header
    produced.push(r.block)
  }
  return { g, produced, head: parent }
}

/** What a server replies for a block of a chain whose set never changes (the genesis set). */
const fixedSetReply = (g: { genesis: { validators: Uint8Array[] } }) => (b: Block) =>
  lightBlockReply({ signed: b, validators: g.genesis.validators, nextValidators: g.genesis.validators })

/** A fresh follower state at genesis, to apply produced blocks to. */
async function follower() {
  const g = await genesisState()
  return { g, state: new StateDB(g.store, g.root) }
}

describe('devnet chain', () => {
  it('10k accounts + 100 contracts, 100 blocks: same roots twice from one seed, and blocks re-apply to them', async () => {
    const a = await runChain(100)
    const b = await runChain(100)
    expect(a.g.genesis.alloc.length).toBe(10_100)
    expect(toHex(a.g.root)).toBe(toHex(b.g.root))
    expect(a.produced.map((x) => toHex(x.header.stateRoot))).toEqual(
      b.produced.map((x) => toHex(x.header.stateRoot)),
    )
    expect(toHex(headerHash(a.head))).toBe(toHex(headerHash(b.head)))
    // The state changed block by block (no block is empty).
    expect(new Set(a.produced.map((x) => toHex(x.header.stateRoot))).size).toBe(100)

    // A follower applying the blocks (with their header chain verified) reaches every root.
    const f = await follower()
    let state = f.state
    const verified = verifySequentially(f.g.genesis.chainId, f.g.header, a.produced.map(fixedSetReply(f.g)))
    expect(verified.header.number).toBe(100)
    for (const block of a.produced) {
      const r = await applyBlock(state, block, f.g.genesis.chainId)
      await f.g.store.write({ nodes: r.commit.nodes })
      r.commit.markStored()
      expect(toHex(r.commit.root)).toBe(toHex(block.header.stateRoot))
      state = r.state
    }
    // Two 100-block chains on a 10k-account genesis: ~45 s on an idle 2-core machine, more under load.
  }, 180_000)
})

describe('block rejection, each with its own error', () => {
  async function oneBlock() {
    const g = await genesisState({ ...OPTS, accounts: 200, contracts: 5 })
    const producer = devnetProducer(g.genesis, g.keys, 5)
    const state = new StateDB(g.store, g.root)
    const { block } = await produceBlock(producer, state, g.header, g.header.timestamp + 1)
    return { g, state, block, chainId: g.genesis.chainId }
  }
  const code = (e: unknown) => (e as ChainError).code

  /** Rebuilds a block around `txs` with a consistent tx root, so only the rule under test fails. */
  async function withTxs(block: Block, txs: Block['transactions']): Promise<Block> {
    return { ...block, transactions: txs, header: { ...block.header, txRoot: await transactionsRoot(txs) } }
  }

  it('accepts the untouched block, and leaves the input state unchanged on refusal', async () => {
    const { state, block, chainId } = await oneBlock()
    const before = toHex(state.root())
    await expect(applyBlock(state, block, chainId)).resolves.toBeDefined()
    const bad = { ...block, header: { ...block.header, stateRoot: new Uint8Array(32).fill(9) } }
    await expect(applyBlock(state, bad, chainId)).rejects.toSatisfy((e) => code(e) === 'STATE_ROOT_MISMATCH')
    expect(toHex(state.root())).toBe(before)
  })

  it('bad transaction signature → BAD_SIGNATURE', async () => {
    const { state, block, chainId } = await oneBlock()
    const tx = block.transactions[0]!
    const sig = tx.signature.slice()
    sig[10]! ^= 1
    const bad = await withTxs(block, [{ ...tx, signature: sig }, ...block.transactions.slice(1)])
    await expect(applyBlock(state, bad, chainId)).rejects.toSatisfy((e) => code(e) === 'BAD_SIGNATURE')
  })

  it('bad nonce → BAD_NONCE; overdraft → OVERDRAFT; writes to a non-contract → NOT_A_CONTRACT', async () => {
    const { g, state, block, chainId } = await oneBlock()
    const key = g.keys.spenders[0]!
    const acct = (await state.getAccount(addressOf(key)))!
    const to = new Uint8Array(20).fill(3)
    const replay = signTransaction({ chainId, nonce: acct.nonce + 5n, to, value: 1n, writes: [] }, key)
    await expect(applyBlock(state, await withTxs(block, [replay]), chainId)).rejects.toSatisfy(
      (e) => code(e) === 'BAD_NONCE',
    )
    const overdraft = signTransaction(
      { chainId, nonce: acct.nonce, to, value: acct.balance + 1n, writes: [] },
      key,
    )
    await expect(applyBlock(state, await withTxs(block, [overdraft]), chainId)).rejects.toSatisfy(
      (e) => code(e) === 'OVERDRAFT',
    )
    const write = signTransaction(
      { chainId, nonce: acct.nonce, to, value: 1n, writes: [{ slot: new Uint8Array(32), value: 1n }] },
      key,
    )
    await expect(applyBlock(state, await withTxs(block, [write]), chainId)).rejects.toSatisfy(
      (e) => code(e) === 'NOT_A_CONTRACT',
    )
    const otherChain = signTransaction(
      { chainId: chainId + 1, nonce: acct.nonce, to, value: 1n, writes: [] },
      key,
    )
    await expect(applyBlock(state, await withTxs(block, [otherChain]), chainId)).rejects.toSatisfy(
      (e) => code(e) === 'WRONG_CHAIN',
    )
  })

  it('transactions that do not match the header → TX_ROOT_MISMATCH', async () => {
    const { state, block, chainId } = await oneBlock()
    const bad = { ...block, transactions: block.transactions.slice(1) }
    await expect(applyBlock(state, bad, chainId)).rejects.toSatisfy((e) => code(e) === 'TX_ROOT_MISMATCH')
  })

  it('header signatures: a forged one, too few, duplicates and unknown validators are refused', async () => {
    const { g, block, chainId } = await oneBlock()
    const validators = g.genesis.validators
    const signed = { header: block.header, signatures: block.signatures }
    expect(() => verifyHeaderSignatures(chainId, signed, validators)).not.toThrow()
    const forged = block.signatures.map((s, i) =>
      i === 0 ? { ...s, signature: s.signature.map((b, j) => (j === 3 ? b ^ 1 : b)) } : s,
    )
    expect(() => verifyHeaderSignatures(chainId, { ...signed, signatures: forged }, validators)).toThrow(
      expect.objectContaining({ code: 'BAD_HEADER_SIGNATURE' }),
    )
    // Checking stops at the quorum: a bad signature past it (3 of 4 valid first) changes nothing.
    const lateForgery = block.signatures.map((s, i) =>
      i === 3 ? { ...s, signature: s.signature.map((b, j) => (j === 3 ? b ^ 1 : b)) } : s,
    )
    expect(() =>
      verifyHeaderSignatures(chainId, { ...signed, signatures: lateForgery }, validators),
    ).not.toThrow()
    const two = block.signatures.slice(0, 2) // 2 of 4 < 2/3
    expect(() => verifyHeaderSignatures(chainId, { ...signed, signatures: two }, validators)).toThrow(
      expect.objectContaining({ code: 'NO_QUORUM' }),
    )
    const dup = [block.signatures[0]!, block.signatures[0]!, block.signatures[0]!]
    expect(() => verifyHeaderSignatures(chainId, { ...signed, signatures: dup }, validators)).toThrow(
      expect.objectContaining({ code: 'NO_QUORUM' }),
    )
    const outsider = signHeader(chainId, block.header, [
      { index: 0, key: new Uint8Array(32).fill(5) },
    ]).signatures
    expect(() => verifyHeaderSignatures(chainId, { ...signed, signatures: outsider }, validators)).toThrow(
      expect.objectContaining({ code: 'BAD_HEADER_SIGNATURE' }),
    )
    // Signatures for another chain id do not count here.
    const elsewhere = signHeader(
      chainId + 1,
      block.header,
      g.keys.validators.map((key, index) => ({ index, key })),
    )
    expect(() => verifyHeaderSignatures(chainId, elsewhere, validators)).toThrow(ChainError)
  })

  it('a header chain that does not link to the checkpoint is refused', async () => {
    const { g, block, chainId } = await oneBlock()
    const other = { ...g.header, timestamp: g.header.timestamp + 99 }
    expect(() => verifySequentially(chainId, other, [fixedSetReply(g)(block)])).toThrow(
      expect.objectContaining({ code: 'BAD_PARENT' }),
    )
  })
})

describe('validator rotation', () => {
  const DEVNET = { seed: 'rotation-test', accounts: 40, contracts: 2, slots: 2 }
  const EVERY = 2
  const BLOCKS = 24 // 12 rotations: every genesis validator replaced three times over

  /** The rotating chain, and a follower's ChainDB at its genesis. */
  async function rotating(blocks = BLOCKS) {
    const chain = await makeDevnetChain(DEVNET, blocks, 2, { rotateEvery: EVERY })
    const db = await ChainDB.open(new MemoryNodeStore(), chain.genesis)
    return { chain, db, chainId: chain.genesis.chainId }
  }
  /** A block around `header`, signed by every validator of the set that signs block `height`. */
  const signedBy = (
    chain: Awaited<ReturnType<typeof makeDevnetChain>>,
    height: number,
    header: Header,
    transactions: Block['transactions'],
    validatorUpdates: Block['validatorUpdates'],
  ): Block => {
    const keys = devnetSlotsAt(chain.rotation, height).map((i, index) => ({
      index,
      key: devnetValidatorKey(chain.rotation.seed, i),
    }))
    return { ...signHeader(chain.genesis.chainId, header, keys), transactions, validatorUpdates }
  }
  const setHash = (chainId: number, set: Uint8Array[]) => toHex(validatorSetHash(chainId, set))

  it('the producer signs every block with the set the rule names, carries its update, and a follower imports it all', async () => {
    const { chain, db, chainId } = await rotating()
    const r = chain.rotation
    // The rule's closed form against applying each block's update in turn from the genesis slots.
    let slots = Array.from({ length: r.validators }, (_, i) => i)
    let changes = 0
    for (let h = 1; h <= BLOCKS; h++) {
      expect(devnetSlotsAt(r, h)).toEqual(slots)
      const block = chain.blocks[h]!
      const set = slots.map((i) => addressOf(devnetValidatorKey(r.seed, i)))
      expect(toHex(block.header.validatorsHash)).toBe(setHash(chainId, set))
      expect(block.signatures.length).toBe(set.length)
      verifyHeaderSignatures(chainId, block, set)
      const updates = devnetUpdateAt(r, h)
      expect(block.validatorUpdates.map((u) => [u.slot, toHex(u.address)])).toEqual(
        updates.map((u) => [u.slot, toHex(addressOf(devnetValidatorKey(r.seed, u.keyIndex)))]),
      )
      slots = slots.map((k, s) => updates.find((u) => u.slot === s)?.keyIndex ?? k)
      const next = slots.map((i) => addressOf(devnetValidatorKey(r.seed, i)))
      expect(toHex(block.header.nextValidatorsHash)).toBe(setHash(chainId, next))
      if (updates.length) changes++
      await db.importBlock(block)
      expect((await db.lightBlock(h))!).toEqual(chain.lightBlock(h))
    }
    expect(changes).toBeGreaterThanOrEqual(10)
    // No genesis validator is left after 12 rotations of 4 slots.
    const last = chain.lightBlock(BLOCKS)!
    const genesisSet = new Set(chain.genesis.validators.map(toHex))
    expect(last.validators.filter((a) => genesisSet.has(toHex(a)))).toEqual([])
    // A client checking header by header against each header's own served set reaches the head.
    const replies = Array.from({ length: BLOCKS }, (_, i) => chain.lightBlock(i + 1)!)
    expect(verifySequentially(chainId, chain.headers[0]!.header, replies).header.number).toBe(BLOCKS)
    // The genesis keys alone cannot sign past the first rotations.
    const stale = lightBlockReply({
      signed: chain.headers[BLOCKS]!,
      validators: chain.genesis.validators,
      nextValidators: [],
    })
    expect(() => verifySequentially(chainId, chain.headers[BLOCKS - 1]!.header, [stale])).toThrow(
      expect.objectContaining({ code: 'BAD_VALIDATOR_SET' }),
    )
  })

  it('forged validator updates → BAD_VALIDATOR_UPDATE, and the head stays', async () => {
    const { chain, db } = await rotating(EVERY)
    await db.importBlock(chain.blocks[1]!)
    const block = chain.blocks[EVERY]!
    expect(block.validatorUpdates.length).toBe(1)
    // The header (and its quorum) is intact; only the body's update differs from what it names.
    const forged = {
      ...block,
      validatorUpdates: [{ ...block.validatorUpdates[0]!, address: new Uint8Array(20).fill(7) }],
    }
    await expect(db.importBlock(forged)).rejects.toMatchObject({ code: 'BAD_VALIDATOR_UPDATE' })
    const dropped = { ...block, validatorUpdates: [] }
    await expect(db.importBlock(dropped)).rejects.toMatchObject({ code: 'BAD_VALIDATOR_UPDATE' })
    const otherSlot = { ...block, validatorUpdates: [{ ...block.validatorUpdates[0]!, slot: 3 }] }
    await expect(db.importBlock(otherSlot)).rejects.toMatchObject({ code: 'BAD_VALIDATOR_UPDATE' })
    expect((await db.head()).header.number).toBe(1)
    await db.importBlock(block)
    expect((await db.head()).header.number).toBe(EVERY)
  })

  it('an update to an address already in the set → BAD_VALIDATOR_UPDATE', async () => {
    const { chain, db, chainId } = await rotating(EVERY)
    await db.importBlock(chain.blocks[1]!)
    const block = chain.blocks[EVERY]!
    const current = chain.lightBlock(EVERY)!.validators
    // Slot 0 replaced by slot 1's validator: one key would sign twice. Its header names that outcome
    // and is signed by the real set, so only the duplicate is wrong.
    const dup = [{ slot: 0, address: current[1]! }]
    const next = [current[1]!, ...current.slice(1)]
    const header = { ...block.header, nextValidatorsHash: validatorSetHash(chainId, next) }
    const resigned = signedBy(chain, EVERY, header, block.transactions, dup)
    await expect(db.importBlock(resigned)).rejects.toMatchObject({ code: 'BAD_VALIDATOR_UPDATE' })
    expect((await db.head()).header.number).toBe(1)
  })

  it("a block whose validatorsHash is not the head's nextValidatorsHash → BAD_VALIDATOR_SET", async () => {
    const { chain, db, chainId } = await rotating(EVERY + 1)
    for (let h = 1; h <= EVERY; h++) await db.importBlock(chain.blocks[h]!)
    // Block 3 signed, with a quorum, by the set before the rotation (and naming it): the chain says the
    // rotated set signs block 3.
    const block = chain.blocks[EVERY + 1]!
    const old = chain.lightBlock(EVERY)!.validators
    const header = {
      ...block.header,
      validatorsHash: validatorSetHash(chainId, old),
      nextValidatorsHash: validatorSetHash(chainId, old),
    }
    const stale = signedBy(chain, EVERY, header, block.transactions, [])
    verifyHeaderSignatures(chainId, stale, old)
    await expect(db.importBlock(stale)).rejects.toMatchObject({ code: 'BAD_VALIDATOR_SET' })
    await db.importBlock(block)
  })
})
