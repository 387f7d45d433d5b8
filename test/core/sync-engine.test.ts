/**
 * The sync engine's scheduling decisions with a fake clock: timeouts, backoff, stalls, bans, peers
 * leaving and rejoining, peers that answer empty forever, the first-answer probe, hedged requests,
 * and every peer in the summary. Peers answer on the fake clock's timers; `until` advances the clock
 * and lets promises settle, step by step, until a condition holds.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeAccount } from '../../src/core/account.ts'
import { equals, toHex } from '../../src/core/bytes.ts'
import { generateDevnet } from '../../src/core/chain/devnet.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { type ManualClock, manualClock } from '../../src/core/clock.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { FailedToFetchStateNodes, SyncAbortedError } from '../../src/core/sync/errors.ts'
import { childRefsOf } from '../../src/core/sync/node-refs.ts'
import {
  readSyncedRoot,
  type SyncOptions,
  type SyncResult,
  startSync,
} from '../../src/core/sync/state-sync.ts'
import type { SyncEvent, SyncPeer } from '../../src/core/sync/types.ts'
import { encodeNode, type LeafNode, nodeHash, type RefKind } from '../../src/core/trie/node.ts'
import { PeerRequestError } from '../../src/net/errors.ts'

async function makeState(accounts: number, seed = 'engine-test') {
  const { genesis } = generateDevnet({ seed, accounts, contracts: 10, slots: 10 })
  const store = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await store.write({ nodes })
  return { store, root }
}

/** Every hash reachable from `root` in `store` (throws on a missing node). */
async function reachable(store: MemoryNodeStore, root: Uint8Array): Promise<Set<string>> {
  const seen = new Set<string>()
  const todo: { hash: Uint8Array; kind: RefKind }[] = [{ hash: root, kind: 'state' }]
  while (todo.length) {
    const { hash, kind } = todo.pop()!
    const k = toHex(hash)
    if (seen.has(k)) continue
    seen.add(k)
    if (kind === 'code') continue
    const b = await store.getNode(hash)
    if (!b) throw new Error(`missing ${k}`)
    todo.push(...childRefsOf(b, kind))
  }
  return seen
}

function assertAllVerified(store: MemoryNodeStore) {
  for (const [k, v] of store.nodes) expect(toHex(keccak256(v))).toBe(k)
}

type Behaviour = 'honest' | 'silent' | 'empty' | 'corrupt' | 'error' | 'timeout-error' | 'wrong'

interface ClockPeer extends SyncPeer {
  /** Fake-clock times of node requests (the probe excluded). */
  asked: number[]
}

/**
 * A peer answering on the fake clock after `latencyMs`: the root probe by `root`, node requests by
 * `nodes`. 'silent' never answers (but honours the abort, as a stalled stream does).
 */
function clockPeer(
  id: string,
  src: MemoryNodeStore,
  target: Uint8Array,
  clock: ManualClock,
  o: {
    root?: Behaviour
    nodes?: Behaviour
    latencyMs?: number
    /** Latency of the n-th node request (0-based), if not `latencyMs`. */
    nodeLatencyMs?: (n: number) => number
  } = {},
): ClockPeer {
  const p: ClockPeer = {
    id,
    asked: [],
    getNodes(hashes, signal) {
      const probe = hashes.length === 1 && equals(hashes[0]!, target)
      const how = (probe ? o.root : o.nodes) ?? 'honest'
      if (!probe) p.asked.push(clock.now())
      return new Promise<Uint8Array[]>((resolve, reject) => {
        let cancel = () => {}
        signal.addEventListener(
          'abort',
          () => {
            cancel()
            reject(signal.reason)
          },
          { once: true },
        )
        if (how === 'silent') return
        const ms = (probe ? undefined : o.nodeLatencyMs?.(p.asked.length - 1)) ?? o.latencyMs ?? 10
        cancel = clock.setTimer(ms, () => {
          if (how === 'error') return reject(new PeerRequestError('stream', 'connection reset'))
          if (how === 'timeout-error') return reject(new PeerRequestError('timeout', 'no answer in time'))
          Promise.all(hashes.map((h) => src.getNode(h))).then((bs) => {
            resolve(
              bs.map((b) => {
                if (!b || how === 'empty') return new Uint8Array(0)
                if (how === 'wrong') return new Uint8Array([0xc1, 0x80])
                if (how !== 'corrupt') return b
                const c = b.slice()
                c[c.length >> 1]! ^= 0x40
                return c
              }),
            )
          }, reject)
        })
      })
    },
  }
  return p
}

/** Advances the fake clock in steps, letting promises settle between steps, until `cond()` holds. */
async function until(clock: ManualClock, cond: () => boolean, stepMs = 5, maxMs = 120_000) {
  const start = clock.now()
  for (;;) {
    await new Promise((r) => setImmediate(r))
    if (cond()) return
    if (clock.now() - start > maxMs) throw new Error(`condition not met within ${maxMs} ms of fake time`)
    clock.advance(stepMs)
  }
}

/** Starts a sync on the fake clock; `settled()` tells when it is over. */
function run(root: Uint8Array, opts: Omit<SyncOptions, 'store'> & { store?: MemoryNodeStore }) {
  const events: SyncEvent[] = []
  const store = opts.store ?? new MemoryNodeStore()
  const task = startSync(root, 0, {
    ...opts,
    store,
    onEvent: (e) => {
      events.push(e)
      opts.onEvent?.(e)
    },
  })
  const out: { result?: SyncResult; error?: unknown } = {}
  task.done.then(
    (r) => (out.result = r),
    (e) => (out.error = e ?? new Error('rejected')),
  )
  const settled = () => out.result !== undefined || out.error !== undefined
  return { task, store, events, out, settled }
}

type State = Awaited<ReturnType<typeof makeState>>
let small: State
let mid: State
let big: State
let elsewhere: State
beforeAll(async () => {
  ;[small, mid, big, elsewhere] = await Promise.all([
    makeState(150),
    makeState(300),
    makeState(600),
    makeState(50, 'other'),
  ])
})

describe('sync engine on a fake clock', () => {
  it('counts timeouts (ours and the transport PeerRequestError) under timeouts and shrinks those requests', async () => {
    const src = small
    const clock = manualClock()
    const peers = [
      clockPeer('honest', src.store, src.root, clock, { latencyMs: 20 }),
      clockPeer('stalled', src.store, src.root, clock, { nodes: 'silent' }),
      clockPeer('timing-out', src.store, src.root, clock, { nodes: 'timeout-error', latencyMs: 50 }),
    ]
    const r = run(src.root, { peers, clock, config: { requestTimeoutMs: 300, hedgeFloorMs: 1000 } })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    const stats = Object.fromEntries(r.out.result!.peers.map((p) => [p.id, p]))
    for (const id of ['stalled', 'timing-out']) {
      expect(stats[id]!.timeouts).toBeGreaterThan(0)
      expect(stats[id]!.errors).toBe(0)
      expect(stats[id]!.batch).toBeLessThan(128)
    }
    expect(await reachable(r.store, src.root)).toEqual(await reachable(src.store, src.root))
  })

  it('backs off after a failure: no request to that peer before the backoff ends, one after', async () => {
    const src = mid
    const clock = manualClock()
    const flaky = clockPeer('flaky', src.store, src.root, clock, { nodes: 'error', latencyMs: 10 })
    const honest = clockPeer('honest', src.store, src.root, clock, { latencyMs: 40 })
    const config = {
      maxBatch: 16,
      initialBatch: 16,
      maxInFlightPerPeer: 1,
      backoffBaseMs: 100,
      backoffMaxMs: 5000,
    }
    const r = run(src.root, { peers: [flaky, honest], clock, config })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    const t = flaky.asked
    expect(t.length).toBeGreaterThanOrEqual(3)
    // Its n-th failure (10 ms after the request) backs it off for 100 × 2^n ms.
    for (let i = 1; i < t.length; i++)
      expect(t[i]! - t[i - 1]!).toBeGreaterThanOrEqual(10 + Math.min(5000, 100 * 2 ** i))
    expect(r.out.result!.peers.find((p) => p.id === 'flaky')!.errors).toBe(t.length)
  })

  it('reports a stall after stallMs without a verified node, and stop() ends the task', async () => {
    const src = small
    const clock = manualClock()
    const mute = clockPeer('mute', src.store, src.root, clock, { nodes: 'silent' })
    const stalls: number[] = []
    const r = run(src.root, {
      peers: [mute],
      clock,
      config: { requestTimeoutMs: 60_000, stallMs: 1000, hedgeFloorMs: 60_000 },
      onEvent: (e) => e.type === 'stall' && stalls.push(clock.now()),
    })
    await until(clock, () => stalls.length > 0, 50)
    expect(stalls[0]).toBeGreaterThanOrEqual(1000)
    expect(stalls[0]).toBeLessThan(1500)
    const stall = r.events.find((e) => e.type === 'stall')!
    expect(stall).toMatchObject({ reason: expect.stringMatching(/no verified node for 1 s — mute/) })
    r.task.stop('test over')
    await until(clock, r.settled)
    expect(r.out.error).toBeInstanceOf(SyncAbortedError)
    expect(await readSyncedRoot(r.store)).toBeNull()
  })

  it('bans a peer that sends bad data; nothing it sent is stored', async () => {
    const src = small
    const clock = manualClock()
    const peers = [
      clockPeer('liar', src.store, src.root, clock, { nodes: 'corrupt', latencyMs: 5 }),
      clockPeer('honest', src.store, src.root, clock, { latencyMs: 20 }),
    ]
    const r = run(src.root, { peers, clock, config: { banThreshold: 3 } })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    assertAllVerified(r.store)
    const liar = r.out.result!.summary.find((p) => p.id === 'liar')!
    expect(liar.outcome).toBe('banned')
    expect(liar.reason).toMatch(/do not match the requested hash/)
    expect(r.events).toContainEqual({ type: 'peer-banned', peer: 'liar', reason: liar.reason })
  })

  it('a peer leaving mid-run gets no work while gone, and work again after it rejoins', async () => {
    const src = big
    const clock = manualClock()
    const a = clockPeer('a', src.store, src.root, clock, { latencyMs: 20 })
    const b = clockPeer('b', src.store, src.root, clock, { latencyMs: 20 })
    let offer: (p: SyncPeer) => void = () => {}
    let leave: (id: string) => void = () => {}
    let processed = 0
    const r = run(src.root, {
      peers: [a, b],
      clock,
      config: { maxBatch: 16, initialBatch: 16 },
      joinPeers: (o, l) => {
        offer = o
        leave = l
        return () => {}
      },
      onEvent: (e) => {
        if (e.type === 'progress') processed = e.progress.nodesProcessed
      },
    })
    await until(clock, () => b.asked.length >= 3)
    leave('b')
    const askedWhenLeft = b.asked.length
    const processedWhenLeft = processed
    await until(clock, () => processed > processedWhenLeft + 200 || r.settled())
    expect(r.settled()).toBe(false)
    expect(b.asked.length).toBe(askedWhenLeft) // nothing asked of it while gone; a kept working
    offer(b)
    await until(clock, () => b.asked.length > askedWhenLeft || r.settled())
    expect(b.asked.length).toBeGreaterThan(askedWhenLeft)
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    expect(r.events).toContainEqual({ type: 'peer-left', peer: 'b' })
    expect(r.events).toContainEqual({ type: 'peer-joined', peer: 'b', rejoined: true })
    expect(r.out.result!.summary.find((p) => p.id === 'b')!.outcome).toBe('used')
    expect(await reachable(r.store, src.root)).toEqual(await reachable(src.store, src.root))
  })

  it('a peer that answers empty forever is charged and rotated out; the sync completes from the others', async () => {
    const src = mid
    const clock = manualClock()
    const hollow = clockPeer('hollow', src.store, src.root, clock, { nodes: 'empty', latencyMs: 5 })
    const r = run(src.root, {
      peers: [hollow, clockPeer('honest', src.store, src.root, clock, { latencyMs: 30 })],
      clock,
      config: { emptyThreshold: 4, maxBatch: 32, initialBatch: 32 },
    })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    const s = r.out.result!.summary.find((p) => p.id === 'hollow')!
    expect(s).toMatchObject({ outcome: 'dropped', reason: 'answered empty to 4 requests in a row' })
    expect(s.stats.missing).toBeGreaterThan(0)
    expect(hollow.asked.length).toBe(4) // rotated out: no work after that
    expect(r.events).toContainEqual({ type: 'peer-dropped', peer: 'hollow', reason: s.reason })
  })

  it('with only peers that answer empty, fails fast with a typed error whose summary names each peer', async () => {
    const src = small
    const clock = manualClock()
    const r = run(src.root, {
      peers: ['h1', 'h2'].map((id) => clockPeer(id, src.store, src.root, clock, { nodes: 'empty' })),
      clock,
      config: { emptyThreshold: 3 },
    })
    await until(clock, r.settled)
    expect(r.out.error).toBeInstanceOf(FailedToFetchStateNodes)
    const err = r.out.error as FailedToFetchStateNodes
    expect(err.summary.map((p) => p.id)).toEqual(['h1', 'h2'])
    for (const p of err.summary) expect(p.stats.missing).toBeGreaterThan(0)
    expect(err.message).toMatch(/no usable peer has/)
    expect(err.message).toMatch(/; h1: .*; h2: /)
  })

  it('the probe starts work with the first verified root while another peer never answers', async () => {
    const src = small
    const clock = manualClock()
    const r = run(src.root, {
      peers: [
        clockPeer('mute', src.store, src.root, clock, { root: 'silent' }),
        clockPeer('honest', src.store, src.root, clock, { latencyMs: 20 }),
      ],
      clock,
      config: { requestTimeoutMs: 10_000 },
    })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    expect(clock.now()).toBeLessThan(2000)
    expect(r.out.result!.summary.find((p) => p.id === 'mute')).toMatchObject({
      outcome: 'refused',
      refusal: 'timeout',
    })
  })

  it('hedges: a silent peer’s hashes are served by another long before the request timeout', async () => {
    const src = mid
    const clock = manualClock()
    const r = run(src.root, {
      peers: [
        clockPeer('silent', src.store, src.root, clock, { nodes: 'silent', latencyMs: 5 }),
        clockPeer('honest', src.store, src.root, clock, { latencyMs: 20 }),
      ],
      clock,
      config: { requestTimeoutMs: 10_000, hedgeFloorMs: 300 },
    })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    expect(clock.now()).toBeLessThan(5000)
    const want = await reachable(src.store, src.root)
    expect(await reachable(r.store, src.root)).toEqual(want)
    expect(r.out.result!.nodes).toBe(want.size)
  })

  it('a late duplicate of a hedged request is verified and ignored: never counted or stored twice', async () => {
    const src = big
    const clock = manualClock()
    const r = run(src.root, {
      peers: [
        // Quick at first (its usual round trip is short), then 700 ms: its requests go overdue.
        clockPeer('late', src.store, src.root, clock, {
          latencyMs: 5,
          nodeLatencyMs: (n) => (n < 3 ? 5 : 700),
        }),
        clockPeer('honest', src.store, src.root, clock, { latencyMs: 40 }),
      ],
      clock,
      config: { requestTimeoutMs: 10_000, hedgeFloorMs: 300, maxBatch: 16, initialBatch: 16 },
    })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    const want = await reachable(src.store, src.root)
    const res = r.out.result!
    expect(res.nodes).toBe(want.size)
    let bytes = 0
    for (const h of want)
      bytes += (await src.store.getNode(Uint8Array.from(Buffer.from(h.slice(2), 'hex'))))!.length
    expect(res.bytes).toBe(bytes)
    // Late answers did arrive, for hashes another peer had already served: verified, not used twice.
    const delivered = res.peers.reduce((n, p) => n + p.delivered, 0)
    expect(delivered).toBeGreaterThan(res.nodes)
    expect(r.store.nodes.size).toBe(want.size)
  })

  it('the summary lists every peer refused at the probe, with its reason', async () => {
    const src = small
    const other = elsewhere
    const clock = manualClock()
    const r = run(src.root, {
      peers: [
        clockPeer('elsewhere', other.store, src.root, clock),
        clockPeer('liar', src.store, src.root, clock, { root: 'wrong' }),
        clockPeer('broken', src.store, src.root, clock, { root: 'error' }),
        clockPeer('slow-to-fail', src.store, src.root, clock, { root: 'timeout-error', latencyMs: 100 }),
        clockPeer('honest', src.store, src.root, clock, { latencyMs: 20 }),
      ],
      clock,
    })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    const s = Object.fromEntries(r.out.result!.summary.map((p) => [p.id, p]))
    expect(s.elsewhere).toMatchObject({
      outcome: 'refused',
      refusal: 'empty',
      reason: 'does not have the target root',
    })
    expect(s.liar).toMatchObject({ outcome: 'refused', refusal: 'wrong-root', reason: /not the target root/ })
    expect(s.broken).toMatchObject({ outcome: 'refused', refusal: 'error', reason: /connection reset/ })
    expect(s['slow-to-fail']).toMatchObject({ outcome: 'refused', refusal: 'timeout' })
    expect(s.honest).toMatchObject({ outcome: 'used', reason: null })
    expect(r.out.result!.peers.map((p) => p.id)).toEqual(['honest'])
  })

  it('stop() mid-run keeps what was verified, consistent; a new run completes it', async () => {
    const src = mid
    const clock = manualClock()
    const peer = clockPeer('a', src.store, src.root, clock, { latencyMs: 20 })
    let processed = 0
    const r = run(src.root, {
      peers: [peer],
      clock,
      config: { maxBatch: 32, initialBatch: 32, maxInFlightPerPeer: 1, progressIntervalMs: 10 },
      onEvent: (e) => {
        if (e.type === 'progress') processed = e.progress.nodesProcessed
      },
    })
    await until(clock, () => processed > 200 || r.settled())
    expect(r.settled()).toBe(false)
    r.task.stop()
    await until(clock, r.settled)
    expect(r.out.error).toBeInstanceOf(SyncAbortedError)
    expect(await readSyncedRoot(r.store)).toBeNull()
    expect(r.store.nodes.size).toBeGreaterThan(0)
    assertAllVerified(r.store)
    const again = run(src.root, { store: r.store, peers: [peer], clock })
    await until(clock, again.settled)
    expect(again.out.result!.skipped).toBeGreaterThan(0)
    expect(await reachable(r.store, src.root)).toEqual(await reachable(src.store, src.root))
  })

  it('follows the references the fast scan leaves to the full decoders: an account in a branch value', async () => {
    // A root whose branch carries an account as its value (a shape the scan declines): its storage
    // trie and code must be fetched like any other account's.
    const code = new TextEncoder().encode('contract code that only this account references')
    const storageLeaf: LeafNode = {
      kind: 'leaf',
      path: new Uint8Array(64).fill(7),
      value: new Uint8Array(40).fill(9),
    }
    const account = (storageRoot: Uint8Array, codeHash: Uint8Array) =>
      encodeAccount({ nonce: 1n, balance: 10n ** 18n, storageRoot, codeHash })
    const plain: LeafNode = {
      kind: 'leaf',
      path: new Uint8Array(63).fill(3),
      value: account(
        nodeHash({ kind: 'leaf', path: Uint8Array.of(1), value: new Uint8Array(40) }),
        keccak256(code),
      ),
    }
    const children: (LeafNode | { kind: 'hash'; hash: Uint8Array } | null)[] = new Array(16).fill(null)
    children[3] = { kind: 'hash', hash: nodeHash(plain) }
    children[5] = { kind: 'hash', hash: nodeHash(plain) }
    const root = encodeNode({
      kind: 'branch',
      children,
      value: account(nodeHash(storageLeaf), keccak256(code)),
    })
    const other: LeafNode = { kind: 'leaf', path: Uint8Array.of(1), value: new Uint8Array(40) }
    const src = new MemoryNodeStore()
    await src.write({
      nodes: [
        [keccak256(root), root],
        [nodeHash(plain), encodeNode(plain)],
        [nodeHash(storageLeaf), encodeNode(storageLeaf)],
        [nodeHash(other), encodeNode(other)],
        [keccak256(code), code],
      ],
    })
    const clock = manualClock()
    const r = run(keccak256(root), { peers: [clockPeer('a', src, keccak256(root), clock)], clock })
    await until(clock, r.settled)
    expect(r.out.error).toBeUndefined()
    expect(new Set(r.store.nodes.keys())).toEqual(new Set(src.nodes.keys()))
    expect(r.out.result!.nodes).toBe(5)
    expect(toHex((await readSyncedRoot(r.store))!.root)).toBe(toHex(keccak256(root)))
  })
})
