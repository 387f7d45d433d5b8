/**
 * The consistency check end to end in core (check.ts), over a devnet chain in memory: fake peers
 * serve its signed headers, range proofs and account proofs — honestly, or lying in the ways the
 * issue names — and the local store holds the state at one height, clean or damaged.
 */
import { describe, expect, it } from 'vitest'
import { decodeAccount, encodeAccount } from '../../src/core/account.ts'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import { type Header, headerHash, type SignedHeader, signHeader } from '../../src/core/chain/header.ts'
import { createRng } from '../../src/core/chain/rng.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import { manualClock } from '../../src/core/clock.ts'
import { checkConsistency, unresolved } from '../../src/core/consistency/check.ts'
import { readEvidence, readResults } from '../../src/core/consistency/records.ts'
import { lookupLocal } from '../../src/core/consistency/sample.ts'
import {
  type ConsistencyEvent,
  type ConsistencyOptions,
  DEFAULT_CONSISTENCY_OPTIONS,
} from '../../src/core/consistency/types.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { checkpointOf } from '../../src/core/light/config.ts'
import type { LightEvent } from '../../src/core/light/events.ts'
import { createLedger, type LightPeer, type PeerWire } from '../../src/core/light/peers.ts'
import { ProtocolError, Status } from '../../src/core/protocol/messages.ts'
import type { RecoveryReport } from '../../src/core/recovery/types.ts'
import type { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { decodeNode, encodeNode, type LeafNode } from '../../src/core/trie/node.ts'
import { Trie } from '../../src/core/trie/trie.ts'
import { rangePeer } from '../helpers/range-peer.ts'
import { type DevChain, recordSynced, recoveryChain, storeWithState } from '../helpers/recovery-peers.ts'

const H = 4
const uniform = (r: ReturnType<typeof createRng>) => () => r.u32() / 2 ** 32
const rc = recoveryChain('consistency-check', 6)

/** A peer serving the chain's headers at every height, ranges and proofs at any of its states. */
function honest(id: string, chain: DevChain, over: Partial<PeerWire> = {}): LightPeer {
  const base = rangePeer(id, chain.store, { maxLeaves: 4 })
  return {
    id,
    wire: {
      ...base.wire,
      root: async (h) => {
        const s = chain.headers[h]
        if (!s) throw new ProtocolError(Status.UNAVAILABLE, `no header ${h}`)
        return s
      },
      proof: (req) => accountProof(chain.store, req.stateRoot, req.address, req.slots),
      ...over,
    },
  }
}

/** Another header at `h` (another state root), signed by `keys` (validator index + key). */
function otherHeader(chain: DevChain, h: number, keys: { index: number; key: Uint8Array }[]): SignedHeader {
  const header: Header = { ...chain.headers[h]!.header, stateRoot: new Uint8Array(32).fill(9) }
  return signHeader(chain.config.chainId, header, keys)
}

/** A liar: claims another (unsigned) header at every height, and other values in every range. */
function liar(id: string, chain: DevChain): LightPeer {
  const base = rangePeer(id, chain.store, {
    maxLeaves: 4,
    mangle: (r) => ({
      ...r,
      values: r.values.map((v) => {
        try {
          const a = decodeAccount(v)
          return encodeAccount({ ...a, balance: a.balance + 1000n })
        } catch {
          return v
        }
      }),
    }),
  })
  return honest(id, chain, { range: base.wire.range, root: async (h) => otherHeader(chain, h, []) })
}

async function setup(opts: Partial<ConsistencyOptions> = {}) {
  const chain = rc.chain
  const store = await storeWithState(chain, [H])
  await recordSynced(store, chain, H)
  const events: (ConsistencyEvent | LightEvent)[] = []
  const ledger = createLedger((e) => events.push(e))
  const recoveries: number[] = []
  const deps = (peers: LightPeer[], extra: { recover?: () => Promise<RecoveryReport> } = {}) => ({
    store,
    checkpoint: checkpointOf(chain.config),
    header: {
      header: chain.headers[H]!.header,
      hash: headerHash(chain.headers[H]!.header),
      signed: chain.headers[H]!,
    },
    peers,
    ledger,
    clock: manualClock(),
    random: uniform(createRng('consistency-check')),
    watched: [],
    now: () => 1_700_000_000_000,
    emit: (e: ConsistencyEvent) => events.push(e),
    ...(extra.recover
      ? {
          recover: async () => {
            recoveries.push(1)
            return extra.recover!()
          },
        }
      : {}),
  })
  const options = { ...DEFAULT_CONSISTENCY_OPTIONS, ...opts }
  return { chain, store, events, ledger, deps, options, recoveries }
}

const dump = (s: MemoryNodeStore) => [...s.nodes.entries()].map(([k, v]) => `${k}:${toHex(v)}`).sort()

/** Account leaves of the stored state: the nodes that decode as a leaf holding an account. */
function accountLeaves(store: MemoryNodeStore): string[] {
  const out: string[] = []
  for (const [k, v] of store.nodes) {
    try {
      const n = decodeNode(v)
      if (n.kind === 'leaf') {
        decodeAccount(n.value)
        out.push(k)
      }
    } catch {}
  }
  return out.sort()
}

describe('consistency check', () => {
  it('a clean state and honest peers: consistent, every sampled path proven, the result kept', async () => {
    const t = await setup({ accounts: 16 })
    const peers = ['a', 'b', 'c'].map((id) => honest(id, t.chain))
    const r = await checkConsistency(t.deps(peers), t.options, new AbortController().signal)
    expect(r.stateRootMatches).toBe(true)
    expect(r.discrepancies).toEqual([])
    expect(r.sampled).toBeGreaterThanOrEqual(16)
    expect(r.accountMatches).toBe(r.sampled)
    expect(r.peers.map((p) => p.root)).toEqual(['match', 'match', 'match'])
    expect(r.summary).toMatch(/^consistent/)
    expect((await readResults(t.store))[0]).toEqual(r)
    expect(t.events.some((e) => e.type === 'consistency-finished')).toBe(true)
  })

  it('a lying majority: 3 of 4 peers claim another root and other values; the local state is untouched, each liar charged', async () => {
    const t = await setup({ peers: 4, accounts: 12, proofPeers: 4 })
    const before = dump(t.store)
    const peers = [liar('l1', t.chain), liar('l2', t.chain), honest('h', t.chain), liar('l3', t.chain)]
    const r = await checkConsistency(t.deps(peers), t.options, new AbortController().signal)
    expect(dump(t.store).filter((x) => !x.startsWith('consistency'))).toEqual(before)
    const byPeer = Object.fromEntries(r.peers.map((p) => [p.peer, p]))
    expect(byPeer.h!.root).toBe('match')
    for (const id of ['l1', 'l2', 'l3']) {
      expect(byPeer[id]!.root).toBe('invalid')
      expect(t.ledger.isBanned(id)).toBe(true)
    }
    expect(r.stateRootMatches).toBe(true)
    expect(r.discrepancies.filter((x) => x.kind === 'InvalidPeerData').length).toBeGreaterThanOrEqual(3)
    expect(r.discrepancies.some((x) => x.kind === 'AccountMismatch' || x.kind === 'LocalDamage')).toBe(false)
    expect(r.accountMatches).toBe(r.sampled)
    expect(unresolved(r)).toEqual([])
  })

  it('a valid header at the same height with a validator quorum is equivocation: evidence kept, reads halted, never repaired', async () => {
    const t = await setup({ accounts: 4 })
    const keys = t.chain.keys.validators.map((key, index) => ({ index, key }))
    const forked = otherHeader(t.chain, H, keys.slice(0, 3))
    const peers = [honest('a', t.chain), honest('fork', t.chain, { root: async () => forked })]
    const r = await checkConsistency(t.deps(peers), t.options, new AbortController().signal)
    const eq = r.discrepancies.find((x) => x.kind === 'Equivocation')
    expect(eq?.action).toBe('halted')
    expect(r.stateRootMatches).toBe(false)
    const [ev] = await readEvidence(t.store)
    expect(ev!.height).toBe(H)
    expect(ev!.conflicting.hash).toBe(toHex(headerHash(forked.header)))
    // Every validator signed the chain's header; the fork was signed by validators 0-2.
    expect(ev!.doubleSigners.map((s) => s.index)).toEqual([0, 1, 2])
    expect(t.ledger.isBanned('fork')).toBe(false)
    expect(t.events.some((e) => e.type === 'equivocation')).toBe(true)
    expect(r.summary).toMatch(/equivocation/)
  })

  it('flipped account leaves are found, repaired from proven nodes, and read back right', async () => {
    const t = await setup({ accounts: 64, escalateAfter: 1000 })
    const leaves = accountLeaves(t.store)
    const rng = createRng('flip')
    const victims = leaves.filter(() => rng.int(100) < 20)
    for (const k of victims) {
      const v = t.store.nodes.get(k)!.slice()
      v[v.length - 1]! ^= 0x01
      t.store.nodes.set(k, v)
    }
    const peers = ['a', 'b', 'c'].map((id) => honest(id, t.chain))
    const r = await checkConsistency(t.deps(peers), t.options, new AbortController().signal)
    const damaged = r.discrepancies.filter((x) => x.kind === 'LocalDamage' || x.kind === 'AccountMismatch')
    expect(damaged.length).toBeGreaterThan(0)
    expect(damaged.every((x) => x.action === 'repaired')).toBe(true)
    expect(r.repaired.length).toBe(damaged.length)
    // Every repaired account reads back, through the re-hashing local lookup, the chain's value.
    const root = t.chain.headers[H]!.header.stateRoot
    for (const name of r.repaired) {
      const key = fromHex(name)
      const local = await lookupLocal(t.store, root, key)
      const want = await new Trie(t.chain.store, { root }).get(key)
      expect(local).toEqual({ value: want ?? null })
    }
    // What the sample did not reach is still damaged: the check does not pretend otherwise.
    const stillBad = victims.filter((k) => toHex(keccak256(t.store.nodes.get(k)!)) !== k)
    expect(stillBad.length + r.repaired.length).toBeGreaterThanOrEqual(victims.length)
  })

  it('with auto-repair off, damage is reported and left', async () => {
    const t = await setup({ accounts: 64, autoRepair: false })
    const [k] = accountLeaves(t.store)
    const leaf = decodeNode(t.store.nodes.get(k!)!) as LeafNode
    const bad = encodeNode({ kind: 'leaf', path: leaf.path, value: new Uint8Array([1]) })
    // A well-formed leaf of another value under the same key: not what the key commits to.
    for (const key of accountLeaves(t.store)) t.store.nodes.set(key, bad)
    const before = dump(t.store)
    const peers = ['a', 'b'].map((id) => honest(id, t.chain))
    const r = await checkConsistency(t.deps(peers), t.options, new AbortController().signal)
    expect(r.discrepancies.some((x) => x.kind === 'LocalDamage' && x.action === 'reported')).toBe(true)
    expect(r.repaired).toEqual([])
    expect(unresolved(r).length).toBeGreaterThan(0)
    expect(dump(t.store).filter((x) => !x.startsWith('consistency'))).toEqual(before)
  })

  it('much damage escalates to the recovery manager', async () => {
    const t = await setup({ accounts: 32, escalateAfter: 2 })
    for (const k of accountLeaves(t.store)) {
      const v = t.store.nodes.get(k)!.slice()
      v[v.length - 1]! ^= 0x01
      t.store.nodes.set(k, v)
    }
    const report: RecoveryReport = {
      at: 0,
      why: 'consistency',
      target: { height: H, root: toHex(t.chain.headers[H]!.header.stateRoot), hash: '' },
      strategy: 'peer',
      attempts: [],
    }
    const peers = ['a', 'b'].map((id) => honest(id, t.chain))
    const r = await checkConsistency(
      t.deps(peers, { recover: async () => report }),
      t.options,
      new AbortController().signal,
    )
    expect(t.recoveries.length).toBe(1)
    expect(r.recovery).toBe(report)
  })

  it('a local root record that disagrees with the verified header goes to recovery before anything is sampled', async () => {
    const t = await setup({ accounts: 8 })
    await recordSynced(t.store, t.chain, H - 1)
    const peers = ['a', 'b'].map((id) => honest(id, t.chain))
    const r = await checkConsistency(t.deps(peers), t.options, new AbortController().signal)
    const m = r.discrepancies.find((x) => x.kind === 'StateRootMismatch')
    expect(m?.action).toBe('reported')
    expect(r.sampled).toBe(0)
    expect(r.stateRootMatches).toBe(false)
  })

  it('peers lacking the height are not charged; garbage is', async () => {
    const t = await setup({ accounts: 4 })
    const peers = [
      honest('a', t.chain),
      honest('pruned', t.chain, {
        root: async () => {
          throw new ProtocolError(Status.UNAVAILABLE, 'pruned')
        },
        range: async () => {
          throw new ProtocolError(Status.UNAVAILABLE, 'pruned')
        },
      }),
      honest('garbage', t.chain, {
        root: async () => {
          const { RlpError } = await import('../../src/core/errors.ts')
          throw new RlpError('not RLP')
        },
      }),
    ]
    const r = await checkConsistency(t.deps(peers), t.options, new AbortController().signal)
    const byPeer = Object.fromEntries(r.peers.map((p) => [p.peer, p]))
    expect(byPeer.pruned!.root).toBe('unavailable')
    expect(t.ledger.isBanned('pruned')).toBe(false)
    expect(byPeer.garbage!.root).toBe('invalid')
    expect(t.ledger.isBanned('garbage')).toBe(true)
    await verifyStoredState(t.store, t.chain.headers[H]!.header.stateRoot)
  })
})
