/**
 * Network snapshot recovery (core/recovery/snapshot-sync.ts) against in-memory peers serving a real
 * devnet state with `serveRange`: honest ones, liars (gap, extra leaf, altered value, forged proof
 * node, wrong code), one that lacks the root, one that never answers. And the stack builder's
 * save/restore it resumes with.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compare, toHex } from '../../src/core/bytes.ts'
import { headerHash, type TrustedHeader } from '../../src/core/chain/header.ts'
import { manualClock } from '../../src/core/clock.ts'
import { InputError, RootsyncError } from '../../src/core/errors.ts'
import { keccak256 } from '../../src/core/hash.ts'
import type { LightPeer } from '../../src/core/light/peers.ts'
import { META } from '../../src/core/meta-keys.ts'
import { ProtocolError, Status } from '../../src/core/protocol/messages.ts'
import type { RangeReply } from '../../src/core/protocol/range.ts'
import {
  decodeSnapshotProgress,
  encodeSnapshotProgress,
  type SnapshotSyncOptions,
  snapshotSync,
} from '../../src/core/recovery/snapshot-sync.ts'
import {
  DEFAULT_RECOVERY_OPTIONS,
  NotApplicableError,
  type StrategyContext,
} from '../../src/core/recovery/types.ts'
import { MemoryNodeStore, type NodeStore, type WriteBatch } from '../../src/core/store.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { TaskStoppedError } from '../../src/core/task.ts'
import { walkReachable } from '../../src/core/trie/reachable.ts'
import { buildRoot, createRootBuilder, restoreRootBuilder } from '../../src/core/trie/root-builder.ts'
import { realClock } from '../../src/platform/clock.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'
import { type Mangle, rangePeer } from '../helpers/range-peer.ts'

const chainP = makeDevnetChain({ seed: 'snapshot-sync', accounts: 120, contracts: 6, slots: 40 }, 2, 4)

const trusted = (h: TrustedHeader['header']): TrustedHeader => ({ header: h, hash: headerHash(h) })

/** Never answers (the request's deadline is the only way out). */
const stallingPeer = (id: string, src: NodeStore) =>
  rangePeer(id, src, { range: () => new Promise<RangeReply>(() => {}) })
/** Does not keep the state asked for: honest, answers "unavailable". */
const lackingPeer = (id: string, src: NodeStore) =>
  rangePeer(id, src, {
    range: async () => {
      throw new ProtocolError(Status.UNAVAILABLE, 'root not kept')
    },
  })

const flipLast = (b: Uint8Array) => {
  const c = b.slice()
  c[c.length - 1]! ^= 1
  return c
}

/** Each returns the reply changed so that it no longer proves what it claims (given ≥ 2 leaves). */
const LIES: Record<string, Mangle> = {
  gap: (r) => ({
    ...r,
    keys: [r.keys[0]!, ...r.keys.slice(2)],
    values: [r.values[0]!, ...r.values.slice(2)],
  }),
  'extra leaf': (r) => {
    const k = r.keys[0]!.slice()
    k[31]! += 1
    return {
      ...r,
      keys: [r.keys[0]!, k, ...r.keys.slice(1)],
      values: [r.values[0]!, r.values[0]!, ...r.values.slice(1)],
    }
  },
  'altered value': (r) => ({ ...r, values: [flipLast(r.values[0]!), ...r.values.slice(1)] }),
  'forged proof node': (r) => ({ ...r, proof: r.proof.map(flipLast) }),
}
const onlyStorage =
  (m: Mangle): Mangle =>
  (r, req) =>
    req.account ? m(r, req) : r

function context(
  store: MemoryNodeStore,
  target: TrustedHeader,
  peers: LightPeer[],
  o: { signal?: AbortSignal; clock?: StrategyContext['clock']; timeoutMs?: number } = {},
) {
  const charges: [string, string][] = []
  const phases: string[] = []
  const ctx: StrategyContext = {
    target,
    chainId: 1337,
    store,
    clock: o.clock ?? manualClock(),
    peers: () => peers,
    signal: o.signal ?? new AbortController().signal,
    counters: { bytes: 0, nodes: 0, blocks: 0 },
    progress: (p) => void phases.push(p),
    charge: (p, r) => void charges.push([p, r]),
    options: { ...DEFAULT_RECOVERY_OPTIONS, requestTimeoutMs: o.timeoutMs ?? 10_000 },
  }
  return { ctx, charges, phases }
}

// Small chunks, so every trie of the devnet spans several of them.
const SMALL: Partial<SnapshotSyncOptions> = { accountBytes: 1 << 20, storageBytes: 1 << 20, codeBatch: 2 }

async function expectComplete(store: MemoryNodeStore, src: NodeStore, root: Uint8Array) {
  const want = await verifyStoredState(src, root)
  const got = await verifyStoredState(store, root)
  expect(got.accounts).toBe(want.accounts)
  expect(got.code).toBe(want.code)
  expect(got.nodes).toBe(want.nodes)
  // Never marked complete by the strategy, and its progress is gone.
  expect(store.meta.has(META.stateRoot)).toBe(false)
  expect(store.meta.has(META.snapshotProgress)).toBe(false)
}

/** A run over one honest peer that is stopped when the `n`th account (or storage) reply arrives. */
async function stoppedRun(
  store: MemoryNodeStore,
  src: NodeStore,
  target: TrustedHeader,
  n: number,
  kind: 'account' | 'storage',
  opts: Partial<SnapshotSyncOptions> = SMALL,
) {
  const ac = new AbortController()
  let seen = 0
  const peer = rangePeer('a', src, {
    onRange: (req) => {
      if (!!req.account === (kind === 'storage') && ++seen === n)
        ac.abort(new TaskStoppedError('recovery', 'test stop'))
    },
  })
  const run = context(store, target, [peer], { signal: ac.signal })
  await expect(snapshotSync(run.ctx, opts)).rejects.toBeInstanceOf(TaskStoppedError)
  return run
}

/** The devnet, its head as the target, and an empty store to recover into. */
async function fresh() {
  const chain = await chainP
  return { chain, target: trusted(chain.head()), store: new MemoryNodeStore() }
}

describe('network snapshot sync', () => {
  it('rebuilds a devnet state (accounts, storage, code) into an empty store from honest peers', async () => {
    const { chain, target, store } = await fresh()
    const peers = [rangePeer('a', chain.store), rangePeer('b', chain.store)]
    const { ctx, charges, phases } = context(store, target, peers)
    await snapshotSync(ctx, SMALL)
    await expectComplete(store, chain.store, target.header.stateRoot)
    expect(charges).toEqual([])
    expect(ctx.counters.bytes).toBeGreaterThan(0)
    expect(ctx.counters.nodes).toBe(store.stats().nodes)
    expect(phases).toEqual(expect.arrayContaining(['accounts', 'storage', 'code']))
    // Spread over both peers, storage ranges included.
    for (const p of peers) expect(p.requests.some((r) => r.account)).toBe(true)
  })

  it('is not applicable, changing nothing, when no peer offers ranges', async () => {
    const chain = await chainP
    const store = new MemoryNodeStore()
    const { range: _r, code: _c, ...plain } = rangePeer('old', chain.store).wire
    const { ctx } = context(store, trusted(chain.head()), [{ id: 'old', wire: plain }])
    const err = await snapshotSync(ctx).catch((e) => e)
    expect(err).toBeInstanceOf(NotApplicableError)
    expect(err.code).toBe('NO_RANGE_PEERS')
    expect(store.writes).toBe(0)
  })

  const variants: [string, Mangle][] = [
    ...Object.entries(LIES),
    ...Object.entries(LIES).map(([k, m]): [string, Mangle] => [`${k} in a storage range`, onlyStorage(m)]),
  ]
  for (const [name, lie] of variants) {
    it(`charges a peer sending a ${name} and completes from an honest one`, async () => {
      const chain = await chainP
      const target = trusted(chain.head())
      const store = new MemoryNodeStore()
      const liar = rangePeer('liar', chain.store, { mangle: lie })
      const { ctx, charges } = context(store, target, [liar, rangePeer('honest', chain.store)])
      await snapshotSync(ctx, SMALL)
      await expectComplete(store, chain.store, target.header.stateRoot)
      expect(charges.map(([p]) => p)).toEqual(['liar'])
      expect(charges[0]![1]).toMatch(/range/)
    })
  }

  it('charges a peer sending code that does not hash to what was asked', async () => {
    const { chain, target, store } = await fresh()
    const liar = rangePeer('liar', chain.store, {
      code: async (hs) => hs.map((h) => keccak256(h)),
    })
    const { ctx, charges } = context(store, target, [liar, rangePeer('honest', chain.store)])
    await snapshotSync(ctx, SMALL)
    await expectComplete(store, chain.store, target.header.stateRoot)
    expect(charges.map(([p]) => p)).toEqual(['liar'])
  })

  it('takes code replies cut short at the size limit from the same peer, without charging it', async () => {
    const { chain, target, store } = await fresh()
    let calls = 0
    const terse = rangePeer('terse', chain.store, {
      // Answers one blob per request, as a server past its reply size limit does.
      code: async (hs) => {
        calls++
        return [(await chain.store.getNode(hs[0]!)) ?? new Uint8Array(0)]
      },
    })
    const { ctx, charges } = context(store, target, [terse])
    await snapshotSync(ctx, SMALL)
    await expectComplete(store, chain.store, target.header.stateRoot)
    expect(charges).toEqual([])
    expect(calls).toBeGreaterThan(1)
  })

  it('does not charge a peer that lacks the root, and does not ask it again', async () => {
    const { chain, target, store } = await fresh()
    const lacking = lackingPeer('lacking', chain.store)
    const { ctx, charges } = context(store, target, [lacking, rangePeer('honest', chain.store)])
    await snapshotSync(ctx, SMALL)
    await expectComplete(store, chain.store, target.header.stateRoot)
    expect(charges).toEqual([])
    expect(lacking.requests.length).toBe(1)
  })

  it('moves past a peer that never answers (bounded by the request timeout)', async () => {
    const { chain, target, store } = await fresh()
    const staller = stallingPeer('staller', chain.store)
    const { ctx, charges } = context(store, target, [staller, rangePeer('honest', chain.store)], {
      clock: realClock,
      timeoutMs: 40,
    })
    await snapshotSync(ctx, { ...SMALL, maxFailures: 2 })
    await expectComplete(store, chain.store, target.header.stateRoot)
    expect(charges).toEqual([])
    // Dropped after two timeouts in a row (a request in flight at that moment may be the third).
    expect(staller.requests.length).toBeGreaterThanOrEqual(1)
    expect(staller.requests.length).toBeLessThanOrEqual(2 + DEFAULT_PARALLEL_BOUND)
  })

  it('fails typed when the only peer never answers, without charging it', async () => {
    const { chain, target, store } = await fresh()
    const staller = stallingPeer('staller', chain.store)
    const { ctx, charges } = context(store, target, [staller], { clock: realClock, timeoutMs: 30 })
    const err = await snapshotSync(ctx, SMALL).catch((e) => e)
    expect(err.code).toBe('SNAPSHOT_NO_PEERS')
    expect(err.details.peers).toMatchObject([{ id: 'staller', timeouts: 1 }])
    expect(charges).toEqual([])
    expect(store.nodes.size).toBe(0)
  })

  it('fails typed, naming each peer, when every peer is bad — and stores no account-trie root', async () => {
    const { chain, target, store } = await fresh()
    const peers = [
      rangePeer('gap', chain.store, { mangle: LIES.gap }),
      rangePeer('forger', chain.store, { mangle: LIES['forged proof node'] }),
      lackingPeer('lacking', chain.store),
    ]
    const { ctx, charges } = context(store, target, peers)
    const err = await snapshotSync(ctx, SMALL).catch((e) => e)
    expect(err).toBeInstanceOf(RootsyncError)
    expect(err.code).toBe('SNAPSHOT_NO_PEERS')
    const verdicts = Object.fromEntries(
      (err.details.peers as { id: string; verdict: string }[]).map((p) => [p.id, p.verdict]),
    )
    expect(verdicts).toEqual({ gap: 'bad', forger: 'bad', lacking: 'unavailable' })
    expect(charges.map(([p]) => p).sort()).toEqual(['forger', 'gap'])
    expect(await store.hasNode(target.header.stateRoot)).toBe(false)
    expect(store.meta.has(META.stateRoot)).toBe(false)
  })

  it('resumes from its saved progress after a stop, downloading less than a full run', async () => {
    const chain = await chainP
    const target = trusted(chain.head())
    const root = target.header.stateRoot

    const full = context(new MemoryNodeStore(), target, [rangePeer('a', chain.store)])
    await snapshotSync(full.ctx, SMALL)
    const fullBytes = full.ctx.counters.bytes

    const store = new MemoryNodeStore()
    const first = await stoppedRun(store, chain.store, target, 6, 'account')
    const saved = decodeSnapshotProgress(store.meta.get(META.snapshotProgress)!)
    expect(saved && toHex(saved.root)).toBe(toHex(root))
    expect(await store.hasNode(root)).toBe(false)

    const again = rangePeer('a', chain.store)
    const second = context(store, target, [again])
    await snapshotSync(second.ctx, SMALL)
    await expectComplete(store, chain.store, root)
    expect(compare(again.requests[0]!.origin, new Uint8Array(32))).toBeGreaterThan(0)
    expect(second.ctx.counters.bytes).toBeLessThan(fullBytes)
    expect(first.ctx.counters.bytes + second.ctx.counters.bytes).toBeGreaterThanOrEqual(fullBytes * 0.5)
  })

  it('resumes a storage trie spanning several chunks from its saved builder state', async () => {
    const { chain, target, store } = await fresh()
    // One storage trie at a time: the stop falls on its third chunk, after two were stored.
    const opts = { ...SMALL, parallel: 1 }
    await stoppedRun(store, chain.store, target, 3, 'storage', opts)
    const saved = decodeSnapshotProgress(store.meta.get(META.snapshotProgress)!)!
    expect(saved.storage.size).toBe(1)
    const [entry] = [...saved.storage.values()]
    expect(await store.hasNode(entry!.root)).toBe(false)

    const again = rangePeer('a', chain.store)
    await snapshotSync(context(store, target, [again]).ctx, opts)
    const resumed = again.requests.find((r) => r.account && toHex(r.account) === toHex(entry!.account))
    expect(toHex(resumed!.origin)).toBe(toHex(entry!.next))
    await expectComplete(store, chain.store, target.header.stateRoot)
  })

  it('discards progress saved for another root (and damaged progress) and starts over', async () => {
    const chain = await chainP
    const older = trusted(chain.headers[1]!.header)
    const target = trusted(chain.head())
    expect(toHex(older.header.stateRoot)).not.toBe(toHex(target.header.stateRoot))

    const store = new MemoryNodeStore()
    await stoppedRun(store, chain.store, older, 5, 'account')
    const stale = decodeSnapshotProgress(store.meta.get(META.snapshotProgress)!)!
    expect(toHex(stale.root)).toBe(toHex(older.header.stateRoot))

    const peer = rangePeer('a', chain.store)
    await snapshotSync(context(store, target, [peer]).ctx, SMALL)
    expect(toHex(peer.requests[0]!.origin)).toBe(toHex(new Uint8Array(32)))
    await expectComplete(store, chain.store, target.header.stateRoot)

    // A record for this very root but damaged on disk (one byte of its builder state flipped, or
    // not decodable at all) is dropped the same way.
    for (const damage of ['flipped', 'garbage'] as const) {
      const fresh = new MemoryNodeStore()
      await stoppedRun(fresh, chain.store, target, 5, 'account')
      const rec = fresh.meta.get(META.snapshotProgress)!
      expect(decodeSnapshotProgress(rec)).not.toBeNull()
      const bad = damage === 'flipped' ? flipLast(rec) : Uint8Array.of(1, 2, 3)
      await fresh.write({ meta: [[META.snapshotProgress, bad]] })
      const p2 = rangePeer('a', chain.store)
      await snapshotSync(context(fresh, target, [p2]).ctx, SMALL)
      expect(toHex(p2.requests[0]!.origin)).toBe(toHex(new Uint8Array(32)))
      await expectComplete(fresh, chain.store, target.header.stateRoot)
    }
  })

  it('drops resumed progress whose builder state does not lead to the root, blaming no peer, and completes next time', async () => {
    const { chain, target } = await fresh()
    // A record that hashes right but pairs the builder of an earlier stop with a later origin: the
    // accounts in between are missing from it, as if the record had been written wrong.
    const early = new MemoryNodeStore()
    await stoppedRun(early, chain.store, target, 3, 'account')
    const store = new MemoryNodeStore()
    await stoppedRun(store, chain.store, target, 6, 'account')
    const later = decodeSnapshotProgress(store.meta.get(META.snapshotProgress)!)!
    const earlier = decodeSnapshotProgress(early.meta.get(META.snapshotProgress)!)!
    expect(compare(earlier.next, later.next)).toBeLessThan(0)
    await store.write({
      meta: [[META.snapshotProgress, encodeSnapshotProgress({ ...later, builder: earlier.builder })]],
    })

    const peer = rangePeer('a', chain.store)
    const run = context(store, target, [peer])
    const e = await snapshotSync(run.ctx, SMALL).catch((x) => x)
    expect(e).toBeInstanceOf(RootsyncError)
    expect(e.code).toBe('SNAPSHOT_ROOT_MISMATCH')
    expect(run.charges).toEqual([])
    expect(peer.requests.length).toBe(1) // found at the first range, not at the end of the trie
    expect(store.meta.has(META.snapshotProgress)).toBe(false)

    await snapshotSync(context(store, target, [rangePeer('a', chain.store)]).ctx, SMALL)
    await expectComplete(store, chain.store, target.header.stateRoot)
  })

  it('keeps "stored account-trie node ⇒ complete subtree" at every write', async () => {
    const small = await makeDevnetChain(
      { seed: 'snapshot-invariant', accounts: 30, contracts: 4, slots: 12 },
      0,
      0,
    )
    const target = trusted(small.head())
    const root = target.header.stateRoot
    const accountNodes: Uint8Array[] = []
    await walkReachable(small.store, [root], {
      onNode: (h, _b, kind) => void (kind === 'state' && accountNodes.push(h)),
    })
    let checked = 0
    const violations: string[] = []
    class CheckingStore extends MemoryNodeStore {
      override async write(batch: WriteBatch): Promise<void> {
        await super.write(batch)
        for (const h of accountNodes) {
          if (!(await this.hasNode(h))) continue
          checked++
          await walkReachable(this, [h]).catch((e) => violations.push(`${toHex(h)}: ${e.message}`))
        }
      }
    }
    const store = new CheckingStore()
    const peers = [
      rangePeer('a', small.store, { maxLeaves: 3 }),
      rangePeer('b', small.store, { maxLeaves: 3 }),
    ]
    await snapshotSync(context(store, target, peers).ctx, { ...SMALL, parallel: 3 })
    await expectComplete(store, small.store, root)
    expect(violations).toEqual([])
    // Account-trie nodes were stored (and checked) before the last write, not only at the end.
    expect(checked).toBeGreaterThan(accountNodes.length)
  })

  it('leaves a stored target alone (a stored root is a complete state) and drops its stale progress', async () => {
    const { chain, target, store } = await fresh()
    const peer = rangePeer('a', chain.store)
    await snapshotSync(context(store, target, [peer]).ctx, SMALL)
    const asked = peer.requests.length
    await store.write({
      meta: [
        [
          META.snapshotProgress,
          encodeSnapshotProgress({
            root: target.header.stateRoot,
            next: new Uint8Array(32),
            builder: createRootBuilder().save(),
            storage: new Map(),
          }),
        ],
      ],
    })
    await snapshotSync(context(store, target, [peer]).ctx, SMALL)
    expect(peer.requests.length).toBe(asked)
    expect(store.meta.has(META.snapshotProgress)).toBe(false)
  })
})

// Requests in flight when the staller is dropped: at most one account range ahead plus the parallel jobs.
const DEFAULT_PARALLEL_BOUND = 1 + 4

describe('root builder save/restore', () => {
  const entries = fc
    .uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
      minLength: 0,
      maxLength: 60,
      selector: toHex,
    })
    .chain((keys) =>
      fc.tuple(
        fc.constant(keys.sort(compare)),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), {
          minLength: keys.length,
          maxLength: keys.length,
        }),
        fc.array(fc.boolean(), { minLength: keys.length, maxLength: keys.length }),
      ),
    )

  it('a build saved and restored after any keys emits the same nodes and root as one in a single pass', () => {
    fc.assert(
      fc.property(entries, ([keys, values, cuts]) => {
        const straight: string[] = []
        const want = buildRoot(
          keys.map((k, i) => [k, values[i]!] as const),
          (h) => void straight.push(toHex(h)),
        )
        const resumed: string[] = []
        const onNode = (h: Uint8Array) => void resumed.push(toHex(h))
        let b = createRootBuilder(onNode)
        keys.forEach((k, i) => {
          b.add(k, values[i]!)
          if (cuts[i]) b = restoreRootBuilder(b.save(), onNode)
        })
        expect(toHex(b.finish())).toBe(toHex(want))
        expect(resumed).toEqual(straight)
      }),
      { numRuns: 100 },
    )
  })

  it('refuses a damaged saved state with a typed error', () => {
    const b = createRootBuilder()
    b.add(new Uint8Array(32).fill(1), Uint8Array.of(1))
    const saved = b.save()
    expect(() => restoreRootBuilder(saved.subarray(0, saved.length - 1))).toThrow(InputError)
    expect(() => restoreRootBuilder(Uint8Array.of(0xc0))).toThrow(InputError)
  })
})
