/**
 * Peer state sync as repair (core/recovery/peer-repair.ts): a damaged local state is repaired by
 * downloading only the damaged paths; it does not apply without a local state or without a peer that
 * serves the target root, and then changes nothing. Fake peers serve nodes by hash from the full state.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { headerHash, type TrustedHeader } from '../../src/core/chain/header.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { manualClock } from '../../src/core/clock.ts'
import type { LightPeer } from '../../src/core/light/peers.ts'
import { readRepair } from '../../src/core/light/trust.ts'
import { META } from '../../src/core/meta-keys.ts'
import { findDamage, isClean } from '../../src/core/recovery/integrity.ts'
import { peerRepairStrategy } from '../../src/core/recovery/peer-repair.ts'
import {
  DEFAULT_RECOVERY_OPTIONS,
  NotApplicableError,
  type StrategyContext,
} from '../../src/core/recovery/types.ts'
import { rlpEncode } from '../../src/core/rlp.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { readSyncedRoot } from '../../src/core/sync/state-sync.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { type BranchNode, decodeNode } from '../../src/core/trie/node.ts'
import { walkReachable } from '../../src/core/trie/reachable.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'

let full: MemoryNodeStore
let root: Uint8Array
let genesisRoot: Uint8Array
let target: TrustedHeader
let totalNodes: number
let contracts: { storageRoot: Uint8Array; codeHash: Uint8Array }[]

beforeAll(async () => {
  const chain = await makeDevnetChain({ seed: 'peer-repair', accounts: 3000, contracts: 8, slots: 10 }, 3, 20)
  // The store holds every state the chain went through; the target is the head's.
  full = chain.store
  genesisRoot = chain.headers[0]!.header.stateRoot
  const header = chain.head()
  root = header.stateRoot
  target = { header, hash: headerHash(header) }
  const t = await verifyStoredState(full, root)
  totalNodes = t.nodes + t.code
  const state = new StateDB(full, root)
  contracts = []
  for (const [address, a] of chain.genesis.alloc)
    if (a.code.length && a.storage.length) contracts.push((await state.getAccount(address))!)
}, 60_000)

/** A peer serving nodes by hash from `from`; counts what it served. */
function peer(id: string, from: MemoryNodeStore) {
  const served = { nodes: 0 }
  const no = () => Promise.reject(new Error('not served in this test'))
  const p: LightPeer = {
    id,
    wire: {
      nodes: async (hashes) =>
        hashes.map((h) => {
          const b = from.nodes.get(toHex(h))
          if (b) served.nodes++
          return b ?? new Uint8Array(0)
        }),
      status: no,
      headers: no,
      proof: no,
      blocks: no,
    },
  }
  return { p, served }
}

function context(store: MemoryNodeStore, peers: LightPeer[]) {
  const charged: string[] = []
  const ctx: StrategyContext = {
    target,
    chainId: 1,
    store,
    clock: manualClock(),
    peers: () => peers,
    signal: new AbortController().signal,
    counters: { bytes: 0, nodes: 0, blocks: 0 },
    progress: () => {},
    charge: (id) => charged.push(id),
    options: DEFAULT_RECOVERY_OPTIONS,
  }
  return { ctx, charged }
}

/** The local store: the complete state with its completion record. */
function localCopy(): MemoryNodeStore {
  const s = new MemoryNodeStore()
  for (const [k, v] of full.nodes) s.nodes.set(k, v)
  s.meta.set(META.stateRoot, rlpEncode([root, target.header.number]))
  return s
}

const childOf = (s: MemoryNodeStore, h: Uint8Array, i: number) => {
  const c = (decodeNode(s.nodes.get(toHex(h))!) as BranchNode).children[i]!
  if (c.kind !== 'hash') throw new Error('expected a hashed child')
  return c.hash
}

const snapshot = (s: MemoryNodeStore) => ({ nodes: new Map(s.nodes), meta: new Map(s.meta) })

describe('peer state sync as repair', () => {
  it('repairs three damaged entries by downloading only the damaged paths', async () => {
    const local = localCopy()
    // A node of the account trie deleted, a storage node's bytes flipped, a code blob deleted.
    local.nodes.delete(toHex(childOf(local, childOf(local, root, 6), 1)))
    const [a, b] = contracts
    const slot = (decodeNode(local.nodes.get(toHex(a!.storageRoot))!) as BranchNode).children.findIndex(
      (c) => c?.kind === 'hash',
    )
    const storageNode = toHex(childOf(local, a!.storageRoot, slot))
    const flipped = local.nodes.get(storageNode)!.slice()
    flipped[5]! ^= 0x10
    local.nodes.set(storageNode, flipped)
    local.nodes.delete(toHex(b!.codeHash))

    const damage = await findDamage(local, root)
    expect(damage.damage).toHaveLength(3)
    const onPaths = new Set(damage.damage.flatMap((d) => [...d.ancestors, d.hash]))

    const peers = [peer('p1', full), peer('p2', full)]
    const { ctx, charged } = context(
      local,
      peers.map((x) => x.p),
    )
    await peerRepairStrategy.run(ctx)

    // Downloaded and written: the damaged entries and the ancestors that vouched for them, no more.
    expect(ctx.counters.nodes).toBeGreaterThanOrEqual(3)
    expect(ctx.counters.nodes).toBeLessThanOrEqual(onPaths.size)
    expect(ctx.counters.nodes).toBeLessThan(totalNodes / 20)
    // What the peers served: those, plus the root probes (ours, and the sync's to each peer).
    const served = peers.reduce((n, x) => n + x.served.nodes, 0)
    expect(served).toBeLessThanOrEqual(onPaths.size + 1 + peers.length)
    expect(ctx.counters.bytes).toBeGreaterThan(0)
    expect(charged).toEqual([])

    // The state under the target root is complete and clean again, with the sync's root record.
    expect(isClean(await findDamage(local, root))).toBe(true)
    expect(toHex((await readSyncedRoot(local))!.root)).toBe(toHex(root))
    // Marked as under repair until the manager writes the completion marker.
    expect(await readRepair(local)).not.toBeNull()
  })

  it('damage hidden under a damaged node (never walked) is found after the sync and repaired in another round', async () => {
    const local = localCopy()
    const x = childOf(local, root, 0xa)
    const z = childOf(local, x, 0x7)
    for (const h of [x, z]) {
      const bad = local.nodes.get(toHex(h))!.slice()
      bad[9]! ^= 0x21
      local.nodes.set(toHex(h), bad)
    }
    // The first walk sees only x: its corrupt bytes hide z.
    expect((await findDamage(local, root)).damage.map((d) => d.hash)).toEqual([toHex(x)])
    const { p } = peer('p1', full)
    const { ctx } = context(local, [p])
    await peerRepairStrategy.run(ctx)
    expect(isClean(await findDamage(local, root))).toBe(true)
    // Round one: root and x; round two: root, x and z again.
    expect(ctx.counters.nodes).toBeLessThanOrEqual(5)
  })

  it('an older damaged local state: repaired while syncing to the newer target, downloading the changes and the damaged paths', async () => {
    // The local store holds the genesis state only, complete, then damaged.
    const local = new MemoryNodeStore()
    await walkReachable(full, [genesisRoot], { onNode: (h, b) => local.nodes.set(toHex(h), b) })
    local.meta.set(META.stateRoot, rlpEncode([genesisRoot, 0]))
    local.nodes.delete(toHex(childOf(local, childOf(local, genesisRoot, 2), 8)))
    const damage = await findDamage(local, genesisRoot)
    expect(damage.damage).toHaveLength(1)
    const onPath = damage.damage[0]!.ancestors.length + 1
    // What the target has that the genesis state does not.
    const old = new Set(local.nodes.keys())
    let changed = 0
    await walkReachable(full, [root], { onNode: (h) => void (old.has(toHex(h)) ? 0 : changed++) })
    const { p } = peer('p1', full)
    const { ctx } = context(local, [p])
    await peerRepairStrategy.run(ctx)
    expect(isClean(await findDamage(local, root))).toBe(true)
    expect(toHex((await readSyncedRoot(local))!.root)).toBe(toHex(root))
    expect(ctx.counters.nodes).toBeGreaterThanOrEqual(changed)
    expect(ctx.counters.nodes).toBeLessThanOrEqual(changed + onPath)
    expect(ctx.counters.nodes).toBeLessThan(totalNodes / 10)
  })

  it('does not apply without a local state: nothing stored, or nodes without a state record', async () => {
    const { p } = peer('p1', full)
    for (const store of [new MemoryNodeStore(), localCopy()]) {
      store.meta.delete(META.stateRoot)
      const { ctx } = context(store, [p])
      const e = await peerRepairStrategy.run(ctx).catch((x) => x)
      expect(e).toBeInstanceOf(NotApplicableError)
      expect(e.code).toBe('NO_LOCAL_STATE')
    }
  })

  it('does not apply, and changes nothing, when no peer serves the target root; a peer lying about it is charged', async () => {
    const local = localCopy()
    local.nodes.delete(toHex(childOf(local, root, 3)))
    const before = snapshot(local)
    const empty = peer('empty', new MemoryNodeStore())
    const liar: LightPeer = {
      id: 'liar',
      wire: { ...empty.p.wire, nodes: async (hashes) => hashes.map(() => Uint8Array.of(0xc0)) },
    }
    const { ctx, charged } = context(local, [empty.p, liar])
    const e = await peerRepairStrategy.run(ctx).catch((x) => x)
    expect(e).toBeInstanceOf(NotApplicableError)
    expect(e.code).toBe('ROOT_NOT_SERVED')
    expect(charged).toEqual(['liar'])
    expect(snapshot(local)).toEqual(before)
    expect(local.writes).toBe(0)
  })
})
