/**
 * Finding damage in a stored state (core/recovery/integrity.ts): the full walk reports every damaged
 * entry with its path and ancestors and goes on; the sampled check finds damage that covers a large
 * share of the key space; both on a real devnet genesis state in memory.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { accountKey } from '../../src/core/account.ts'
import { toHex, utf8 } from '../../src/core/bytes.ts'
import { createRng } from '../../src/core/chain/rng.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { checkState, findDamage, isClean, sampleCheck } from '../../src/core/recovery/integrity.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { type BranchNode, decodeNode, encodeNode } from '../../src/core/trie/node.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'

let base: MemoryNodeStore
let root: Uint8Array
let contract: { key: string; storageRoot: Uint8Array; codeHash: Uint8Array }
let total: { nodes: number; code: number; accounts: number }

beforeAll(async () => {
  const chain = await makeDevnetChain({ seed: 'integrity', accounts: 600, contracts: 6, slots: 12 }, 0, 0)
  base = chain.store
  root = chain.headers[0]!.header.stateRoot
  const [address] = chain.genesis.alloc.find(([, a]) => a.code.length > 0 && a.storage.length > 0)!
  const acct = (await new StateDB(base, root).getAccount(address))!
  contract = { key: toHex(accountKey(address)), storageRoot: acct.storageRoot, codeHash: acct.codeHash }
  total = await verifyStoredState(base, root)
})

/** A copy of the clean state to damage. */
function copy(): MemoryNodeStore {
  const s = new MemoryNodeStore()
  for (const [k, v] of base.nodes) s.nodes.set(k, v)
  return s
}

const node = (s: MemoryNodeStore, h: Uint8Array | string) =>
  s.nodes.get(typeof h === 'string' ? h : toHex(h))!
const branch = (s: MemoryNodeStore, h: Uint8Array | string) => decodeNode(node(s, h)) as BranchNode
/** The hash of child `i` of the branch stored under `h`. */
const childOf = (s: MemoryNodeStore, h: Uint8Array | string, i: number) => {
  const c = branch(s, h).children[i]!
  if (c.kind !== 'hash') throw new Error('expected a hashed child')
  return c.hash
}

describe('findDamage (the full walk)', () => {
  it('reports a clean state as clean, with the walk’s totals', async () => {
    const r = await findDamage(base, root)
    expect(isClean(r)).toBe(true)
    expect(r).toMatchObject({ root: toHex(root), mode: 'full', ...total })
  })

  it('a deleted node: missing, with its nibble path and its ancestors; the rest is still walked', async () => {
    const s = copy()
    const c5 = childOf(s, root, 5)
    const c53 = childOf(s, c5, 3)
    s.nodes.delete(toHex(c53))
    const r = await findDamage(s, root)
    expect(r.damage).toEqual([
      {
        problem: 'missing',
        hash: toHex(c53),
        kind: 'state',
        path: '53',
        account: null,
        ancestors: [toHex(root), toHex(c5)],
        detail: expect.any(String),
      },
    ])
    // Only the subtree under it was skipped: more than 15/16 of the state was still visited.
    expect(r.nodes).toBeGreaterThan(total.nodes * 0.9)
    expect(r.nodes).toBeLessThan(total.nodes)
  })

  it('flipped bytes: corrupt; bytes that hash to their key but do not decode: undecodable', async () => {
    const s = copy()
    const c2 = childOf(s, root, 2)
    const bad = node(s, c2).slice()
    bad[bad.length - 1]! ^= 1
    s.nodes.set(toHex(c2), bad)
    // Point the root's child 9 at honest junk (a new root then commits to it).
    const junk = utf8('not a trie node at all, but hashed honestly')
    const rootNode = branch(s, root)
    rootNode.children[9] = { kind: 'hash', hash: keccak256(junk) }
    const enc = encodeNode({ ...rootNode, enc: undefined, hash: undefined })
    const root2 = keccak256(enc)
    await s.write({
      nodes: [
        [root2, enc],
        [keccak256(junk), junk],
      ],
    })
    const r = await findDamage(s, root2)
    const by = Object.fromEntries(r.damage.map((d) => [d.path, d]))
    expect(Object.keys(by).sort()).toEqual(['2', '9'])
    expect(by['2']).toMatchObject({ problem: 'corrupt', hash: toHex(c2), ancestors: [toHex(root2)] })
    expect(by['9']).toMatchObject({
      problem: 'undecodable',
      hash: toHex(keccak256(junk)),
      ancestors: [toHex(root2)],
    })
  })

  it('damage in a storage trie and a missing code blob are reported with their account; all damage is listed', async () => {
    const s = copy()
    const c0 = childOf(s, root, 0)
    s.nodes.delete(toHex(c0))
    s.nodes.delete(toHex(contract.codeHash))
    const storageRoot = branch(s, contract.storageRoot)
    const slot = storageRoot.children.findIndex((c) => c?.kind === 'hash')
    const storageChild = childOf(s, contract.storageRoot, slot)
    const flipped = node(s, storageChild).slice()
    flipped[3]! ^= 0x40
    s.nodes.set(toHex(storageChild), flipped)
    const r = await findDamage(s, root)
    // The contract must not sit under the deleted child 0 for its own damage to be reached.
    expect(contract.key.slice(2, 3)).not.toBe('0')
    expect(r.damage).toHaveLength(3)
    const code = r.damage.find((d) => d.kind === 'code')!
    expect(code).toMatchObject({
      problem: 'missing',
      hash: toHex(contract.codeHash),
      account: contract.key,
      path: '',
    })
    const storage = r.damage.find((d) => d.kind === 'storage')!
    expect(storage).toMatchObject({
      problem: 'corrupt',
      hash: toHex(storageChild),
      account: contract.key,
      path: slot.toString(16),
    })
    // Ancestors: the account trie from the root down to the account's leaf, then the storage root.
    expect(storage.ancestors[0]).toBe(toHex(root))
    expect(storage.ancestors.at(-1)).toBe(toHex(contract.storageRoot))
    const leaf = decodeNode(node(s, storage.ancestors.at(-2)!))
    expect(leaf.kind).toBe('leaf')
    expect(code.ancestors).toEqual(storage.ancestors.slice(0, -1))
    expect(r.damage.find((d) => d.kind === 'state')).toMatchObject({ problem: 'missing', path: '0' })
  })

  it('lists at most `limit` records and counts the rest', async () => {
    const s = copy()
    for (const i of [1, 4, 7, 10]) s.nodes.delete(toHex(childOf(s, root, i)))
    const r = await findDamage(s, root, { limit: 3 })
    expect(r.damage).toHaveLength(3)
    expect(r.omitted).toBe(1)
    expect(isClean(r)).toBe(false)
  })
})

describe('sampleCheck (random paths)', () => {
  const seeded = (seed: string) => {
    const rng = createRng(seed)
    return () => rng.u32() / 0x1_0000_0000
  }

  it('reports a clean state as clean, each path having ended at an account', async () => {
    const r = await sampleCheck(base, root, { paths: 64, random: seeded('clean') })
    expect(isClean(r)).toBe(true)
    expect(r.paths).toBe(64)
    expect(r.accounts).toBeGreaterThan(50)
    expect(r.nodes).toBeLessThan(total.nodes)
  })

  it('finds a missing child of the root (1/16 of the key space) with its path', async () => {
    const s = copy()
    const c = childOf(s, root, 0xc)
    s.nodes.delete(toHex(c))
    const r = await sampleCheck(s, root, { paths: 64, random: seeded('missing') })
    expect(r.damage).toEqual([
      expect.objectContaining({ problem: 'missing', hash: toHex(c), path: 'c', ancestors: [toHex(root)] }),
    ])
  })

  it('finds a damaged storage root and code on the way through their account', async () => {
    const s = copy()
    s.nodes.delete(toHex(contract.storageRoot))
    s.nodes.delete(toHex(contract.codeHash))
    // Each path ends at one of ~600 accounts: enough paths that this contract's is among them
    // (seeded: the same run every time).
    const r = await checkState(s, root, 'sampled', { paths: 3000, random: seeded('storage') })
    const where = { problem: 'missing', account: contract.key, path: '' }
    expect(r.damage).toEqual([
      expect.objectContaining({ ...where, kind: 'storage', hash: toHex(contract.storageRoot) }),
      expect.objectContaining({ ...where, kind: 'code', hash: toHex(contract.codeHash) }),
    ])
    const full = await checkState(s, root, 'full')
    expect(full.damage.map((d) => d.hash).sort()).toEqual(
      [toHex(contract.storageRoot), toHex(contract.codeHash)].sort(),
    )
  })
})
