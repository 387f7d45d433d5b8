/**
 * Sampled paths of a consistency check (core/consistency/sample.ts, prove.ts, path-repair.ts): a
 * devnet state in memory, paths chosen with a seeded random source, proven by in-memory peers that
 * answer honestly (serveRange / the chain's proof function at the same root) or lie in the ways a
 * peer can: a valid proof of another root, another address or another storage trie, garbage; and
 * peers that lack the root or never answer, which are not charged.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { decodeAccount, encodeAccount } from '../../src/core/account.ts'
import type { AccountProof } from '../../src/core/account-proof.ts'
import { equals, toHex, utf8 } from '../../src/core/bytes.ts'
import { createRng } from '../../src/core/chain/rng.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import { manualClock } from '../../src/core/clock.ts'
import { repairPath } from '../../src/core/consistency/path-repair.ts'
import { type PathVerdict, type ProveOptions, provePaths } from '../../src/core/consistency/prove.ts'
import {
  lookupLocal,
  type SampledPath,
  type SampleOptions,
  sampleLocal,
} from '../../src/core/consistency/sample.ts'
import { RlpError, type RootsyncError } from '../../src/core/errors.ts'
import { keccak256 } from '../../src/core/hash.ts'
import type { PeerWire } from '../../src/core/light/peers.ts'
import { ProtocolError, Status } from '../../src/core/protocol/messages.ts'
import { findDamage } from '../../src/core/recovery/integrity.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { decodeNode, encodeNode, type LeafNode } from '../../src/core/trie/node.ts'
import { serveRange } from '../../src/core/trie/range-serve.ts'
import { Trie } from '../../src/core/trie/trie.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'
import { type PeerOpts, rangePeer } from '../helpers/range-peer.ts'

let base: MemoryNodeStore
/** The local verified root (the head's), and another root of the same chain (the genesis'). */
let root: Uint8Array
let otherRoot: Uint8Array
/** Contracts with storage: address and storage root at `root`. */
let contracts: { address: Uint8Array; storageRoot: Uint8Array }[]
/** The account trie's leaf nodes at `root` (hash, and the hashed key they hold), in hash order. */
let accountLeaves: { hash: string; key: Uint8Array }[]

beforeAll(async () => {
  const chain = await makeDevnetChain(
    { seed: 'consistency-sample', accounts: 300, contracts: 6, slots: 12 },
    1,
    8,
  )
  base = chain.store
  root = chain.head().stateRoot
  otherRoot = chain.headers[0]!.header.stateRoot
  const accounts = new Trie(base, { secure: true, root })
  contracts = []
  for (const [address, a] of chain.genesis.alloc)
    if (a.storage.length) {
      const v = (await accounts.get(address))!
      contracts.push({ address, storageRoot: decodeAccount(v).storageRoot })
    }
  const trie = new Trie(base, { root })
  accountLeaves = []
  for await (const [key] of trie.entries())
    accountLeaves.push({ hash: toHex(keccak256((await trie.prove(key)).at(-1)!)), key })
  accountLeaves.sort((x, y) => (x.hash < y.hash ? -1 : 1))
}, 60_000)

const signal = new AbortController().signal
const seeded = (seed: string) => {
  const rng = createRng(seed)
  return () => rng.u32() / 2 ** 32
}

function copy(): MemoryNodeStore {
  const s = new MemoryNodeStore()
  for (const [k, v] of base.nodes) s.nodes.set(k, v)
  return s
}

/** What the trusted state holds at a hashed key (of the account trie, or of a storage trie). */
const truth = async (key: Uint8Array, trieRoot: Uint8Array = root) =>
  (await new Trie(base, { root: trieRoot }).get(key)) ?? null

/** A peer that answers ranges (serveRange) and proofs (the chain's proof function) from the state. */
function peer(id: string, o: PeerOpts & { proof?: PeerWire['proof']; noRange?: boolean } = {}) {
  const p = rangePeer(id, base, { maxLeaves: 1, ...o })
  p.wire.proof = o.proof ?? ((req) => accountProof(base, req.stateRoot, req.address, req.slots))
  if (o.noRange) delete p.wire.range
  return p
}

function options(extra: Partial<ProveOptions> = {}) {
  const charged: { peer: string; code: string }[] = []
  const o: ProveOptions = {
    proofPeers: 2,
    requestTimeoutMs: 1_000,
    clock: manualClock(),
    ledger: { charge: (id, e) => void charged.push({ peer: id, code: (e as RootsyncError).code }) },
    ...extra,
  }
  return { o, charged }
}

/**
 * Damages every 20th account leaf (5%): half with flipped bytes, half replaced by a well-formed leaf
 * of another value (the balance plus one) under the same hash. Returns the damaged hashes.
 */
function corruptLeaves(s: MemoryNodeStore): Set<string> {
  const damaged = new Set<string>()
  accountLeaves.forEach(({ hash: h }, i) => {
    if (i % 20 !== 7) return
    const bytes = s.nodes.get(h)!
    if (i % 40 === 7) {
      const flipped = bytes.slice()
      flipped[bytes.length - 3]! ^= 0x21
      s.nodes.set(h, flipped)
    } else {
      const leaf = decodeNode(bytes) as LeafNode
      const a = decodeAccount(leaf.value)
      s.nodes.set(
        h,
        encodeNode({
          kind: 'leaf',
          path: leaf.path,
          value: encodeAccount({ ...a, balance: a.balance + 1n }),
        }),
      )
    }
    damaged.add(h)
  })
  return damaged
}

/** `sampleLocal` at `root` (no accounts, slots or watched addresses unless given). */
const sample = (store: MemoryNodeStore, o: Partial<SampleOptions> & { random: () => number }) =>
  sampleLocal(store, root, { accounts: 0, slotsPerAccount: 0, watched: [], ...o }, signal)

/** The honest peers 'a' and 'b' both proved the path, and it holds what the trusted state holds. */
async function expectConfirmedByAB(v: PathVerdict) {
  const valid = v.answers.filter((a) => a.outcome === 'valid').map((a) => a.peer)
  expect(valid.sort()).toEqual(['a', 'b'])
  expect(v.proven).toEqual(await truth(v.path.key))
}

const damageOf = (p: SampledPath) => ('damage' in p.local ? p.local.damage : null)

describe('sampleLocal', () => {
  it('a clean state: sampled accounts are real leaves with their values, slots under their account’s storage root, watched addresses by keccak', async () => {
    const absent = keccak256(utf8('nobody')).subarray(0, 20)
    const watched = [contracts[0]!.address, absent]
    const paths = await sample(base, { accounts: 32, slotsPerAccount: 2, watched, random: seeded('clean') })
    const accounts = paths.filter((p) => p.trie === 'account' && !p.path.address)
    const slots = paths.filter((p) => p.trie === 'storage')
    expect(accounts.length).toBeGreaterThan(20) // 32 draws over 300 accounts: a few land on one leaf twice
    expect(new Set(accounts.map((p) => p.path.account)).size).toBe(accounts.length)
    for (const p of accounts) {
      expect(damageOf(p)).toBeNull()
      expect(p.local).toEqual({ value: await truth(p.key) })
      expect(p.path.account).toBe(toHex(p.key))
    }
    for (const p of slots) {
      const account = decodeAccount((await truth(p.storage!.account))!)
      expect(p.storage!.root).toEqual(account.storageRoot)
      expect(p.local).toEqual({ value: await truth(p.key, account.storageRoot) })
      expect(p.local).not.toEqual({ value: null })
      expect(p.path).toEqual({ account: toHex(p.storage!.account), slot: toHex(p.key) })
    }
    const w = paths.filter((p) => p.path.address)
    expect(w.map((p) => p.path.address)).toEqual(watched.map(toHex))
    expect(w[0]!.key).toEqual(keccak256(contracts[0]!.address))
    expect(w[0]!.local).toEqual({ value: await truth(keccak256(contracts[0]!.address)) })
    expect(w[1]!.local).toEqual({ value: null })
  })

  it('the same seed samples the same paths; another seed others', async () => {
    const o = { accounts: 16, slotsPerAccount: 1, watched: [] }
    const keys = async (seed: string) =>
      (await sample(base, { ...o, random: seeded(seed) })).map((p) => toHex(p.key))
    expect(await keys('a')).toEqual(await keys('a'))
    expect(await keys('a')).not.toEqual(await keys('b'))
  })
})

describe('provePaths against honest peers', () => {
  it('confirms every path of a clean state, each by two peers; slots against the storage root', async () => {
    const paths = await sample(base, {
      accounts: 24,
      slotsPerAccount: 2,
      watched: [contracts[1]!.address, new Uint8Array(20).fill(7)],
      random: seeded('prove'),
    })
    expect(paths.some((p) => p.trie === 'storage')).toBe(true)
    const peers = [peer('a'), peer('b'), peer('c')]
    const { o, charged } = options()
    const progress: number[] = []
    const verdicts = await provePaths(
      root,
      paths,
      peers,
      { ...o, onProgress: (n) => progress.push(n) },
      signal,
    )
    expect(progress.at(-1)).toBe(paths.length)
    expect(verdicts.map((v) => v.path)).toEqual(paths)
    for (const v of verdicts) {
      expect(v.answers.map((a) => a.outcome)).toEqual(['valid', 'valid'])
      expect(v.proven).toEqual((v.path.local as { value: Uint8Array | null }).value)
      expect(v.nodes.length).toBeGreaterThan(0)
    }
    // Rotation: the load is spread over all three peers.
    for (const p of peers) expect(p.requests.length).toBeGreaterThan(0)
    // Slots were asked by account, under the state root.
    const storageAsked = peers.flatMap((p) => p.requests).filter((r) => r.account)
    expect(storageAsked.length).toBe(2 * paths.filter((p) => p.trie === 'storage').length)
    for (const r of storageAsked) expect(r.root).toEqual(root)
    expect(charged).toEqual([])
  })
})

describe('provePaths against lying and absent peers', () => {
  const accountPaths = async (n: number, seed: string) => sample(base, { accounts: n, random: seeded(seed) })

  it('a valid range proof from another root is invalid and charged; honest peers still confirm', async () => {
    const other = peer('other', {
      range: (req) => serveRange(base, otherRoot, req.origin, req.limit, { maxBytes: 1, maxLeaves: 1 }),
    })
    const paths = await accountPaths(6, 'other-root')
    const { o, charged } = options()
    const verdicts = await provePaths(root, paths, [other, peer('a'), peer('b')], o, signal)
    const wrong = verdicts.flatMap((v) => v.answers).filter((a) => a.peer === 'other')
    expect(wrong.length).toBeGreaterThan(0)
    for (const a of wrong)
      expect(a).toMatchObject({ outcome: 'invalid', code: expect.stringMatching(/^PROOF_/) })
    expect(charged.length).toBe(wrong.length)
    expect(charged.every((c) => c.peer === 'other')).toBe(true)
    for (const v of verdicts) {
      await expectConfirmedByAB(v)
    }
  })

  it('a slot proven from another account’s storage trie is invalid and charged', async () => {
    const [mine, theirs] = contracts
    const account = keccak256(mine!.address)
    const key = (await new Trie(base, { root: mine!.storageRoot }).entries().next()).value![0]
    const path: SampledPath = {
      path: { account: toHex(account), slot: toHex(key) },
      trie: 'storage',
      key,
      storage: { account, root: mine!.storageRoot },
      local: await lookupLocal(base, mine!.storageRoot, key, 'storage'),
    }
    const liar = peer('liar', {
      range: (req) =>
        serveRange(base, theirs!.storageRoot, req.origin, req.limit, { maxBytes: 1, maxLeaves: 1 }),
    })
    const { o, charged } = options()
    const [v] = await provePaths(root, [path], [liar, peer('a'), peer('b')], o, signal)
    expect(v!.answers.map((a) => [a.peer, a.outcome])).toEqual([
      ['liar', 'invalid'],
      ['a', 'valid'],
      ['b', 'valid'],
    ])
    expect(charged).toEqual([{ peer: 'liar', code: expect.stringMatching(/^PROOF_/) }])
    expect(v!.proven).toEqual(await truth(key, mine!.storageRoot))
    expect(v!.proven).not.toBeNull()
  })

  it('garbage (a reply that proves nothing, or bytes that do not decode) is charged; the next peer proves the path', async () => {
    const junk = peer('junk', {
      range: async (req) => ({ keys: [req.origin], values: [utf8('garbage')], proof: [utf8('not a node')] }),
    })
    const rlp = peer('rlp', {
      range: () => Promise.reject(new RlpError('range reply: expected a list')),
    })
    const paths = await accountPaths(1, 'garbage')
    const { o, charged } = options({ proofPeers: 1 })
    const [v] = await provePaths(root, paths, [junk, rlp, peer('a')], o, signal)
    expect(v!.answers).toEqual([
      {
        peer: 'junk',
        outcome: 'invalid',
        code: expect.stringMatching(/^PROOF_/),
        detail: expect.any(String),
      },
      { peer: 'rlp', outcome: 'invalid', code: 'RLP_INVALID', detail: expect.any(String) },
      { peer: 'a', outcome: 'valid' },
    ])
    expect(charged.map((c) => c.peer)).toEqual(['junk', 'rlp'])
    expect(v!.proven).toEqual(await truth(paths[0]!.key))
  })

  it('a peer lacking the root (UNAVAILABLE) is not charged and the next peer is asked; a peer without the range protocol is not asked for hashed keys', async () => {
    const pruned = peer('pruned', {
      range: () => Promise.reject(new ProtocolError(Status.UNAVAILABLE, 'root not served')),
    })
    const legacy = peer('legacy', { noRange: true })
    const paths = await accountPaths(5, 'unavailable')
    const { o, charged } = options()
    const verdicts = await provePaths(root, paths, [pruned, legacy, peer('a'), peer('b')], o, signal)
    for (const v of verdicts) {
      await expectConfirmedByAB(v)
      expect(v.answers.every((a) => a.peer !== 'legacy')).toBe(true)
    }
    const unavailable = verdicts.flatMap((v) => v.answers).filter((a) => a.peer === 'pruned')
    expect(unavailable.length).toBeGreaterThan(0)
    for (const a of unavailable)
      expect(a).toMatchObject({ outcome: 'unavailable', code: 'PROTOCOL_UNAVAILABLE' })
    expect(charged).toEqual([])
  })

  it('a peer that never answers fails at the deadline, uncharged; the next peer proves the path', async () => {
    const clock = manualClock()
    const stall = peer('stall', { range: () => new Promise(() => {}) })
    const paths = await accountPaths(1, 'stall')
    const { o, charged } = options({ clock, proofPeers: 1 })
    const pending = provePaths(root, paths, [stall, peer('a')], o, signal)
    await vi.waitFor(() => expect(stall.requests.length).toBe(1))
    clock.advance(1_000)
    const [v] = await pending
    expect(v!.answers).toEqual([
      { peer: 'stall', outcome: 'failed', code: 'PEER_TIMEOUT', detail: expect.any(String) },
      { peer: 'a', outcome: 'valid' },
    ])
    expect(v!.proven).toEqual(await truth(paths[0]!.key))
    expect(charged).toEqual([])
  })

  it('a watched address answered with a proof of another address, or against another root, is invalid and charged', async () => {
    const [watchedAddr, otherAddr] = contracts.map((c) => c.address)
    const paths = await sample(base, { watched: [watchedAddr!], random: seeded('w') })
    const swap = peer('swap', {
      proof: (req) => accountProof(base, req.stateRoot, otherAddr!, req.slots),
      noRange: true,
    })
    const stale = peer('stale', {
      proof: (req): Promise<AccountProof> => accountProof(base, otherRoot, req.address, req.slots),
    })
    const { o, charged } = options()
    const [v] = await provePaths(root, paths, [swap, stale, peer('a'), peer('b')], o, signal)
    expect(v!.answers.map((a) => [a.peer, a.outcome, a.code])).toEqual([
      ['swap', 'invalid', 'PROOF_WRONG_ANSWER'],
      ['stale', 'invalid', expect.stringMatching(/^PROOF_/)],
      ['a', 'valid', undefined],
      ['b', 'valid', undefined],
    ])
    expect(charged.map((c) => c.peer)).toEqual(['swap', 'stale'])
    expect(v!.proven).toEqual(await truth(keccak256(watchedAddr!)))
  })
})

describe('local damage found, proven and repaired', () => {
  it('5% of account leaves corrupted: the sampled ones are reported, each repaired from the proof; only those nodes change', async () => {
    const local = copy()
    const damaged = corruptLeaves(local)
    const paths = await sample(local, { accounts: 64, random: seeded('damage') })
    const hit = paths.filter((p) => damageOf(p))
    expect(hit.length).toBeGreaterThan(0)
    for (const p of hit) expect(damaged.has(damageOf(p)!.hash)).toBe(true)
    for (const p of paths.filter((p) => !damageOf(p))) expect(p.local).toEqual({ value: await truth(p.key) })

    const before = new Map(local.nodes)
    const { o } = options()
    const verdicts = await provePaths(root, hit, [peer('a'), peer('b')], o, signal)
    for (const v of verdicts) {
      expect(v.proven).not.toBeUndefined()
      expect(await repairPath(local, root, v)).toMatchObject({ repaired: true, written: 1 })
      expect(await lookupLocal(local, root, v.path.key)).toEqual({ value: v.proven })
      // The account the damaged walk was heading to reads the devnet's value again, verified.
      expect(v.leaf).toBeDefined()
      expect(await lookupLocal(local, root, v.leaf!.key)).toEqual({ value: await truth(v.leaf!.key) })
    }
    const changed = [...local.nodes].filter(([k, b]) => !equals(before.get(k)!, b)).map(([k]) => k)
    expect(changed.sort()).toEqual(hit.map((p) => damageOf(p)!.hash).sort())
    for (const h of changed) expect(toHex(keccak256(local.nodes.get(h)!))).toBe(h)
    // The damage the sample did not reach is still there (reported by the full walk), untouched.
    const left = await findDamage(local, root)
    expect(left.damage.map((d) => d.hash).sort()).toEqual(
      [...damaged].filter((h) => !changed.includes(h)).sort(),
    )
  })

  it('when every damaged leaf is sampled and repaired, the full walk passes', async () => {
    const local = copy()
    const damaged = corruptLeaves(local)
    // A random source that draws exactly the damaged accounts' keys: every damaged leaf is sampled.
    const keys = accountLeaves.filter((l) => damaged.has(l.hash)).map((l) => l.key)
    const bytes = keys.flatMap((k) => [...k])
    let i = 0
    const random = () => (bytes[i++]! + 0.5) / 256
    const paths = await sample(local, { accounts: keys.length, random })
    expect(new Set(paths.map((p) => damageOf(p)?.hash))).toEqual(damaged)
    const { o } = options({ proofPeers: 1 })
    for (const v of await provePaths(root, paths, [peer('a')], o, signal)) {
      expect(v.proven).toEqual(await truth(v.leaf!.key))
      expect((await repairPath(local, root, v)).repaired).toBe(true)
    }
    await expect(verifyStoredState(local, root)).resolves.toMatchObject({ accounts: accountLeaves.length })
  })

  it('a missing storage root is met by slot paths and repaired from the storage range proof', async () => {
    const local = copy()
    for (const c of contracts) local.nodes.delete(toHex(c.storageRoot))
    const paths = await sample(local, { accounts: 300, slotsPerAccount: 1, random: seeded('storage') })
    const hit = paths.filter((p) => damageOf(p))
    expect(hit.length).toBeGreaterThan(0)
    for (const p of hit) {
      expect(p.trie).toBe('storage')
      expect(damageOf(p)).toEqual({ problem: 'missing', hash: toHex(p.storage!.root) })
    }
    const { o } = options()
    for (const v of await provePaths(root, hit, [peer('a'), peer('b')], o, signal)) {
      expect(await repairPath(local, root, v)).toMatchObject({ repaired: true, written: 1 })
      expect(await lookupLocal(local, v.path.storage!.root, v.path.key, 'storage')).toEqual({
        value: v.proven,
      })
    }
    const fixed = new Set(hit.map((p) => toHex(p.storage!.root)))
    const left = await findDamage(local, root)
    expect(left.damage.every((d) => !fixed.has(d.hash))).toBe(true)
  })

  it('damage the proof does not cover is not repaired and nothing is written; no proof, no repair', async () => {
    // A watched address that does not exist: its proof of absence does not hold the leaf after it.
    let address: Uint8Array | null = null
    let successor: string | null = null
    for (let i = 0; !successor; i++) {
      address = keccak256(utf8(`absent-${i}`)).subarray(0, 20)
      const key = keccak256(address)
      const proofNodes = await new Trie(base, { root }).prove(key)
      const [next] = (await new Trie(base, { root }).entries(key).next()).value!
      const leafNode = (await new Trie(base, { root }).prove(next)).at(-1)!
      if (!proofNodes.some((n) => equals(n, leafNode))) successor = toHex(keccak256(leafNode))
    }
    const local = copy()
    local.nodes.delete(successor)
    const paths = await sample(local, { watched: [address!], random: seeded('x') })
    expect(paths[0]!.local).toEqual({ damage: { problem: 'missing', hash: successor } })
    const { o } = options()
    const [v] = await provePaths(root, paths, [peer('a'), peer('b')], o, signal)
    expect(v!.proven).toBeNull()
    const before = new Map(local.nodes)
    const r = await repairPath(local, root, v!)
    expect(r).toMatchObject({ repaired: false, written: 0 })
    expect(r.detail).toContain(successor)
    expect(local.nodes).toEqual(before)
    expect(await repairPath(local, root, { ...v!, proven: undefined })).toMatchObject({
      repaired: false,
      written: 0,
    })
    expect(local.nodes).toEqual(before)
  })

  it('a path that is already right is left as it is', async () => {
    const paths = await sample(base, { accounts: 3, slotsPerAccount: 1, random: seeded('ok') })
    const { o } = options()
    const writes = base.writes
    for (const v of await provePaths(root, paths, [peer('a'), peer('b')], o, signal))
      expect(await repairPath(base, root, v)).toMatchObject({ repaired: true, written: 0 })
    expect(base.writes).toBe(writes)
  })
})
