/**
 * The light-client driver (src/core/light) with in-process fake peers over a real devnet chain and a
 * manual clock: liars listed first are banned and the driver completes from the honest peer; all
 * peers lying fails naming each; a stalled peer does not hold the status round; a stored head whose
 * signatures were tampered with is ignored; a failed compaction marks the state for repair.
 */
import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import {
  encodeSignedHeader,
  headerHash,
  type LightBlock,
  type SignedHeader,
} from '../../src/core/chain/header.ts'
import { type LightBlockReply, lightBlockReply } from '../../src/core/chain/validators.ts'
import { type ManualClock, manualClock } from '../../src/core/clock.ts'
import { BootstrapError, checkpointOf, parseBootstrap, pickAddr } from '../../src/core/light/config.ts'
import type { LightEvent } from '../../src/core/light/events.ts'
import { type LightClientDeps, startLightClient } from '../../src/core/light/follow.ts'
import { NoVerifiedHeadError } from '../../src/core/light/headers.ts'
import type { LightPeer } from '../../src/core/light/peers.ts'
import { createSession, type LightOptions } from '../../src/core/light/session.ts'
import { TrustExpiredError } from '../../src/core/light/skipping.ts'
import { peerRows } from '../../src/core/light/summary.ts'
import { syncOnce } from '../../src/core/light/sync-once.ts'
import {
  decodeStoredHead,
  decodeStoredPath,
  headRecords,
  loadTrust,
  readRepair,
} from '../../src/core/light/trust.ts'
import { META } from '../../src/core/meta-keys.ts'
import { ProtocolError, Status, type StatusResponse } from '../../src/core/protocol/messages.ts'
import { type CompactResult, MemoryNodeStore, type StateStore } from '../../src/core/store.ts'
import { StateIntegrityError, verifyStoredState } from '../../src/core/sync/verify.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'
import { fork, type LightChain, lightPeer, makeLightChain } from '../helpers/light-chain.ts'

/** A chain of `blocks` blocks after a small devnet genesis; `extend` produces more. */
const makeChain = (blocks: number) =>
  makeDevnetChain({ seed: 'light-driver', accounts: 200, contracts: 3, slots: 3 }, blocks, 3)
type Chain = Awaited<ReturnType<typeof makeChain>>

type Mode =
  | 'honest'
  | 'bad-checkpoint'
  | 'broken-chain'
  | 'forged'
  | 'claims-head'
  | 'stall'
  | 'stall-headers'
  | 'wrong-root'
  | 'no-validators'

const never = <T>() => new Promise<T>(() => {})

/** The devnet chain's header `n` as a light block reply (its set never changes). */
const lightReply = (chain: Chain, s: SignedHeader): LightBlockReply =>
  lightBlockReply({
    signed: s,
    validators: chain.genesis.validators,
    nextValidators: chain.genesis.validators,
  })

/** A peer answering from `chain`, lying (or stalling) as `mode` says. */
function peer(id: string, chain: Chain, mode: Mode = 'honest'): LightPeer & { headerRequests: number } {
  const p = {
    id,
    headerRequests: 0,
    wire: {
      validators:
        mode === 'no-validators'
          ? undefined
          : async (height: number): Promise<LightBlockReply> => {
              p.headerRequests++
              if (mode === 'stall-headers') return never()
              const s = chain.headers[height]
              if (!s) throw new ProtocolError(Status.UNAVAILABLE, `no header ${height}`)
              const h = s.header
              if ((mode === 'bad-checkpoint' && height === 0) || mode === 'forged')
                return lightReply(chain, { ...s, header: { ...h, timestamp: h.timestamp + 1 } })
              // A header's state root swapped: its signatures no longer cover it.
              if (mode === 'broken-chain' && height >= 2)
                return lightReply(chain, { ...s, header: { ...h, stateRoot: new Uint8Array(32) } })
              return lightReply(chain, s)
            },
      async status(): Promise<StatusResponse> {
        if (mode === 'stall') return never()
        const head = chain.head()
        return {
          chainId: chain.config.chainId,
          genesisHash: headerHash(chain.headers[0]!.header),
          headNumber: mode === 'claims-head' ? 1000 : head.number,
          headHash: headerHash(head),
          headStateRoot: head.stateRoot,
          oldestStateNumber: 0,
        }
      },
      async headers(start: number, count: number): Promise<SignedHeader[]> {
        p.headerRequests++
        if (mode === 'stall-headers') return never()
        const hs = chain.headers.slice(start, start + count)
        if (mode === 'bad-checkpoint' && start === 0)
          return [
            { ...hs[0]!, header: { ...hs[0]!.header, timestamp: hs[0]!.header.timestamp + 1 } },
            ...hs.slice(1),
          ]
        if (mode === 'forged')
          return hs.map((h) => ({ ...h, header: { ...h.header, timestamp: h.header.timestamp + 1 } }))
        if (mode === 'broken-chain')
          // A header's state root swapped: its signatures no longer cover it.
          return hs.map((h) =>
            h.header.number === 2 ? { ...h, header: { ...h.header, stateRoot: new Uint8Array(32) } } : h,
          )
        return hs
      },
      nodes: (hashes: Uint8Array[]) =>
        mode === 'stall'
          ? never<Uint8Array[]>()
          : Promise.all(
              hashes.map(async (h) =>
                // Another node where the state root was asked for (any node but that one).
                mode === 'wrong-root' && toHex(h) === toHex(chain.head().stateRoot)
                  ? [...chain.store.nodes].find(([k]) => k !== toHex(h))![1]
                  : ((await chain.store.getNode(h)) ?? new Uint8Array(0)),
              ),
            ),
      proof: () => never<never>(),
      blocks: () => never<never>(),
    },
  }
  return p
}

/** A `StateStore` over memory; `compact` as given (default: drops nothing). */
/** The following client over one honest peer, its events pushed into `events`. */
function followHonest(
  chain: Chain,
  store: StateStore,
  clock: ManualClock,
  events: LightEvent[],
  options: Partial<LightOptions>,
  recovery?: LightClientDeps['recovery'],
) {
  return startLightClient({
    config: chain.config,
    store,
    peers: { list: () => [peer('honest', chain)] },
    clock,
    emit: (e) => events.push(e),
    options,
    recovery,
  })
}

/** No recovery strategy: what the flag alone does (recovery is tested on its own below). */
const NO_RECOVERY = { strategies: [] }

function memoryStateStore(compact?: () => Promise<CompactResult>): StateStore & MemoryNodeStore {
  const m = new MemoryNodeStore()
  return Object.assign(m, {
    ready: async () => {},
    stats: () => ({ nodes: m.nodes.size, bytes: 0, staged: 0 }),
    compact: compact ?? (async () => ({ kept: m.nodes.size, dropped: 0 })),
    close: async () => {},
  })
}

/** Runs the clock in 50 ms steps (letting promises settle between) until `p` settles. */
async function drive<T>(clock: ManualClock, p: Promise<T>, maxMs = 120_000): Promise<T> {
  let settled = false
  p.then(
    () => (settled = true),
    () => (settled = true),
  )
  for (let t = 0; !settled && t < maxMs; t += 50) {
    await new Promise((r) => setImmediate(r))
    if (!settled) clock.advance(50)
  }
  return p
}

async function until(clock: ManualClock, f: () => boolean, maxMs = 120_000): Promise<void> {
  for (let t = 0; !f(); t += 50) {
    if (t > maxMs) throw new Error('condition not met')
    await new Promise((r) => setImmediate(r))
    clock.advance(50)
  }
}

function once(chain: Chain, peers: LightPeer[], store = memoryStateStore()) {
  const clock = manualClock()
  const events: LightEvent[] = []
  const task = syncOnce(
    { config: chain.config, store, peers: { list: () => peers }, clock, emit: (e) => events.push(e) },
    { target: 'latest' },
  )
  return { clock, events, store, done: drive(clock, task.done) }
}

describe('light driver: liars listed first', () => {
  for (const mode of ['bad-checkpoint', 'broken-chain', 'claims-head'] as const) {
    it(`a peer with ${mode} is banned and the sync completes from the honest peer`, async () => {
      const chain = await makeChain(4)
      const { events, store, done } = once(chain, [peer('liar', chain, mode), peer('honest', chain)])
      const s = await done
      expect(s.height).toBe(4)
      expect(s.root).toBe(toHex(chain.headers[4]!.header.stateRoot))
      const rows = peerRows(s.peers)
      const liar = rows.find((p) => p.peer === 'liar')!
      expect(liar.outcome).toBe('banned')
      expect(liar.banned).toMatch(/headers/)
      expect(rows.find((p) => p.peer === 'honest')!.outcome).toBe('useful')
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'peer-charged', peer: 'liar', kind: 'banned' }),
      )
      // The head kept is the verified one, with its quorum signatures.
      const kept = decodeStoredHead(chain.config.chainId, (await store.getMeta(META.lightHead))!).signed
      expect(kept.header.number).toBe(4)
      expect(kept.signatures.length).toBeGreaterThan(0)
    })
  }

  it('all peers lying: a typed error naming each peer and why', async () => {
    const chain = await makeChain(3)
    const { done } = once(chain, [
      peer('a', chain, 'bad-checkpoint'),
      peer('b', chain, 'broken-chain'),
      peer('c', chain, 'forged'),
    ])
    const e = await done.then(
      () => null,
      (x: unknown) => x,
    )
    expect(e).toBeInstanceOf(NoVerifiedHeadError)
    const err = e as NoVerifiedHeadError
    expect(err.code).toBe('NO_VERIFIED_HEAD')
    expect(err.reasons.map((r) => r.peer).sort()).toEqual(['a', 'b', 'c'])
    expect(err.reasons.find((r) => r.peer === 'a')!.reason).toMatch(/checkpoint/)
    expect(err.message).toMatch(/a: .*b: .*c: /)
  })

  it('a peer that never answers does not hold the status round; it is counted under timeouts', async () => {
    const chain = await makeChain(3)
    const staller = peer('staller', chain, 'stall')
    const { clock, done } = once(chain, [staller, peer('honest', chain)])
    const s = await done
    expect(s.height).toBe(3)
    // Done long before the staller's request deadline (10 s on the manual clock).
    expect(clock.now()).toBeLessThan(2000)
    expect(peerRows(s.peers).find((p) => p.peer === 'staller')).toMatchObject({ outcome: 'refused' })

    // One that answers its status at once, then stalls on headers: dropped after ~2 s, not 10 s.
    const slowHeaders = once(chain, [peer('slow', chain, 'stall-headers'), peer('honest', chain)])
    const h = await slowHeaders.done
    expect(h.height).toBe(3)
    expect(slowHeaders.clock.now()).toBeLessThan(5000)
    expect(peerRows(h.peers).find((p) => p.peer === 'slow')).toMatchObject({ timeouts: 1 })

    const timedOut = once(chain, [peer('staller', chain, 'stall')])
    await expect(timedOut.done).rejects.toBeInstanceOf(NoVerifiedHeadError)
    expect(timedOut.clock.now()).toBeGreaterThanOrEqual(10_000)
    expect(timedOut.events).toContainEqual(
      expect.objectContaining({ type: 'peer-charged', peer: 'staller', kind: 'failure' }),
    )
  })
})

describe('light driver: the state phase', () => {
  it('a peer answering the root probe with another node is banned for the session and named in the summary', async () => {
    const chain = await makeChain(3)
    const { events, done } = once(chain, [peer('liar', chain, 'wrong-root'), peer('honest', chain)])
    const s = await done
    expect(s.height).toBe(3)
    const rows = peerRows(s.peers)
    expect(rows.find((p) => p.peer === 'liar')).toMatchObject({
      outcome: 'banned',
      refusal: 'wrong-root',
      banned: expect.stringMatching(/not the target root/),
      delivered: 0,
    })
    expect(rows.find((p) => p.peer === 'liar')!.bad).toBeGreaterThanOrEqual(1)
    expect(rows.find((p) => p.peer === 'honest')!.outcome).toBe('useful')
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'peer-charged', peer: 'liar', kind: 'banned' }),
    )
  })

  it('a peer whose connection goes away leaves the running sync; the others complete it', async () => {
    const chain = await makeChain(3)
    const clock = manualClock()
    const peers = [peer('a', chain), peer('b', chain)]
    let leave: ((id: string) => void) | null = null
    const task = syncOnce(
      {
        config: chain.config,
        store: memoryStateStore(),
        peers: {
          list: () => peers,
          onLeave: (fn) => {
            leave = fn
            return () => (leave = null)
          },
        },
        clock,
        // b's connection drops as soon as it has joined the sync.
        emit: (e) => {
          if (e.type === 'peer-joined' && e.peer === 'b') leave?.('b')
        },
      },
      { target: 'latest' },
    )
    const s = await drive(clock, task.done)
    expect(s.height).toBe(3)
    expect(s.peers.find((p) => p.id === 'b')).toMatchObject({ outcome: 'left' })
    expect(s.peers.find((p) => p.id === 'a')).toMatchObject({ outcome: 'used' })
  })
})

describe('light driver: the stored head', () => {
  it('a stored head whose signatures were tampered with is ignored: trust restarts from the checkpoint', async () => {
    const chain = await makeChain(4)
    const honest = peer('honest', chain)
    const first = once(chain, [honest])
    await first.done
    const cp = checkpointOf(chain.config)
    const path = decodeStoredPath(cp.chainId, (await first.store.getMeta(META.lightPath))!)
    const stored = path.at(-1)!
    const sig = stored.signed.signatures[0]!
    const tampered = {
      ...stored,
      signed: {
        ...stored.signed,
        signatures: [
          { ...sig, signature: sig.signature.map((b, i) => (i === 5 ? b ^ 1 : b)) },
          ...stored.signed.signatures.slice(1),
        ],
      },
    }
    await first.store.write({ meta: headRecords([...path.slice(0, -1), tampered], cp) })

    await chain.extend(1)
    const requestsBefore = honest.headerRequests
    const second = once(chain, [honest], first.store)
    const s = await second.done
    expect(s.height).toBe(5)
    expect(second.events).toContainEqual(expect.objectContaining({ type: 'stored-head-ignored' }))
    expect(second.events.some((e) => e.type === 'header' && e.fromStore)).toBe(false)
    // Verified from the checkpoint again: header 0 was asked for.
    expect(honest.headerRequests - requestsBefore).toBeGreaterThanOrEqual(2)

    // An intact stored head is trusted again (after its signatures are re-checked).
    const third = once(chain, [honest], first.store)
    await third.done
    expect(third.events).toContainEqual(
      expect.objectContaining({
        type: 'header',
        fromStore: true,
        header: expect.objectContaining({ number: 5 }),
      }),
    )
  })
})

describe('light driver: following', () => {
  it('a compaction that finds the state damaged marks it for repair instead of reporting it synced', async () => {
    const chain = await makeChain(3)
    const store = memoryStateStore(async () => {
      throw new StateIntegrityError(`0x${'ab'.repeat(32)}`, 'missing', '')
    })
    const clock = manualClock()
    const events: LightEvent[] = []
    const lc = followHonest(chain, store, clock, events, { followMs: 100, pruneSlack: -1e9 }, NO_RECOVERY)
    await until(clock, () => events.some((e) => e.type === 'synced'))
    expect(lc.localState(chain.headers[3]!.header.stateRoot)).toBe(store)
    // The chain moves on: the next sync's prune runs compact, which finds the state damaged.
    await chain.extend(2)
    await until(clock, () => events.some((e) => e.type === 'repair-needed'))
    const after = events.slice(events.findIndex((e) => e.type === 'repair-needed'))
    expect(after).toContainEqual(expect.objectContaining({ type: 'phase', phase: 'needs-repair' }))
    expect(await readRepair(store)).toMatchObject({ hash: `0x${'ab'.repeat(32)}` })
    const root5 = chain.headers[5]!.header.stateRoot
    expect(lc.localState(root5)).toBeNull()
    expect(lc.localState(chain.headers[3]!.header.stateRoot)).toBeNull()
    // Reads still get the verified head (answered by proof by the worker).
    await until(clock, () => events.some((e) => e.type === 'header' && e.header.number === 5))
    expect((await lc.head()).number).toBe(5)
    expect(events.filter((e) => e.type === 'synced')).toHaveLength(1)
    lc.task.stop()
    await expect(lc.task.done).rejects.toMatchObject({ code: 'TASK_STOPPED' })

    // The next session on the same store: the flag is announced at once, and the stored state,
    // complete as it looks, is neither reported synced nor read from.
    const later: LightEvent[] = []
    const again = followHonest(chain, store, clock, later, { followMs: 100 }, NO_RECOVERY)
    await until(clock, () => later.some((e) => e.type === 'header' && !e.fromStore))
    expect(later).toContainEqual(
      expect.objectContaining({ type: 'repair-needed', hash: `0x${'ab'.repeat(32)}` }),
    )
    expect(later.some((e) => e.type === 'synced')).toBe(false)
    expect(again.localState(root5)).toBeNull()
    again.task.stop()
    await expect(again.task.done).rejects.toMatchObject({ code: 'TASK_STOPPED' })
  })

  it('a read that meets damage flags the state through the driver: persisted, announced, not read from', async () => {
    const chain = await makeChain(3)
    const store = memoryStateStore()
    const clock = manualClock()
    const events: LightEvent[] = []
    const lc = followHonest(chain, store, clock, events, { followMs: 100 }, NO_RECOVERY)
    await until(clock, () => events.some((e) => e.type === 'synced'))
    const root = chain.headers[3]!.header.stateRoot
    expect(lc.localState(root)).toBe(store)
    await lc.markRepair({ reason: 'missing-node', hash: `0x${'cd'.repeat(32)}` })
    await lc.markRepair({ reason: 'corrupt-node', hash: null }) // once flagged, the first reason stays
    expect(lc.localState(root)).toBeNull()
    expect(await readRepair(store)).toEqual({ reason: 'missing-node', hash: `0x${'cd'.repeat(32)}` })
    expect(events.filter((e) => e.type === 'repair-needed')).toHaveLength(1)
    lc.task.stop()
    await expect(lc.task.done).rejects.toMatchObject({ code: 'TASK_STOPPED' })
  })

  it('reads wait for the peers’ head, then answer under it', async () => {
    const chain = await makeChain(3)
    const clock = manualClock()
    const lc = startLightClient({
      config: chain.config,
      store: memoryStateStore(),
      peers: { list: () => [peer('liar', chain, 'claims-head'), peer('honest', chain)] },
      clock,
      emit: () => {},
    })
    const h = await drive(clock, lc.head())
    expect(h.number).toBe(3)
    expect(peerRows(lc.peers()).find((p) => p.peer === 'liar')!.outcome).toBe('banned')
    lc.task.stop()
  })
})

describe('light config', () => {
  const good = {
    chainId: 1337,
    genesisHash: `0x${'aa'.repeat(32)}`,
    checkpoint: { number: 0, hash: `0x${'aa'.repeat(32)}` },
    validators: [`0x${'11'.repeat(20)}`],
    peers: [
      {
        name: 'node-0',
        peerId: '12D3KooWFb2PW54cnwit4uBSz2YqbArbnCTn3GEx8XygK3MT7v76',
        addrs: [
          '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFb2PW54cnwit4uBSz2YqbArbnCTn3GEx8XygK3MT7v76',
          '/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWFb2PW54cnwit4uBSz2YqbArbnCTn3GEx8XygK3MT7v76',
          '/ip4/127.0.0.1/udp/4003/webrtc-direct/p2p/12D3KooWFb2PW54cnwit4uBSz2YqbArbnCTn3GEx8XygK3MT7v76',
        ],
      },
    ],
    updatedAt: 'ignored',
  }

  it('parses a bootstrap file and names the field it refuses', () => {
    const c = parseBootstrap(good)
    expect(c.chainId).toBe(1337)
    expect(checkpointOf(c).hash).toHaveLength(32)
    const refuse = (json: unknown, field: string) => {
      const e = (() => {
        try {
          parseBootstrap(json)
        } catch (x) {
          return x
        }
      })()
      expect(e).toBeInstanceOf(BootstrapError)
      expect((e as BootstrapError).field).toBe(field)
    }
    refuse({ ...good, chainId: '1' }, 'chainId')
    refuse({ ...good, checkpoint: { number: 0, hash: '0x12' } }, 'checkpoint.hash')
    refuse({ ...good, validators: ['0x12'] }, 'validators[0]')
    refuse({ ...good, peers: [{ ...good.peers[0], addrs: [] }] }, 'peers[0].addrs')
    refuse({ ...good, peers: [{ ...good.peers[0], peerId: 'x' }] }, 'peers[0].peerId')
  })

  it('chooses a peer’s address by transport, and none rather than another transport', () => {
    const [p] = parseBootstrap(good).peers
    expect(pickAddr(p!, 'websocket')).toMatch(/\/tcp\/4002\/ws\//)
    expect(pickAddr(p!, 'webrtc-direct')).toMatch(/\/webrtc-direct\//)
    expect(pickAddr({ addrs: ['/ip4/1.2.3.4/tcp/1/p2p/x'] }, 'websocket')).toBeNull()
  })

  it('a state flagged by a read is recovered at the verified head (peer repair), then read from again', async () => {
    const chain = await makeChain(3)
    const store = memoryStateStore()
    const clock = manualClock()
    const events: LightEvent[] = []
    const lc = followHonest(chain, store, clock, events, { followMs: 100 })
    await until(clock, () => events.some((e) => e.type === 'synced'))
    const root = chain.headers[3]!.header.stateRoot
    // Real damage: a node under the root is gone, and a read met it.
    const victim = [...store.nodes.keys()].find((k) => k !== toHex(root))!
    store.nodes.delete(victim)
    await lc.markRepair({ reason: 'missing-node', hash: victim })
    expect(lc.localState(root)).toBeNull()
    await until(clock, () => events.some((e) => e.type === 'recovery-finished'))
    const started = events.find((e) => e.type === 'recovery-started')
    expect(started).toMatchObject({ why: 'read-damage', strategies: ['local', 'peer', 'replay', 'snapshot'] })
    const report = lc.lastRecovery()!
    expect(report.strategy).toBe('peer')
    // The attempts in order, the first (local snapshot) not the one that restored it, with its reason.
    expect(report.attempts.map((a) => a.strategy)).toEqual(['local', 'peer'])
    expect(report.attempts[0]!.outcome).not.toBe('recovered')
    expect(report.attempts[0]!.reason?.code).toMatch(/^[A-Z_]+$/)
    expect(report.attempts[1]).toMatchObject({ outcome: 'recovered', reason: null })
    const head = (await lc.head()).stateRoot
    expect(lc.localState(fromHex(head))).toBe(store)
    expect(await readRepair(store)).toBeNull()
    await verifyStoredState(store, fromHex(head))
    lc.task.stop()
    await expect(lc.task.done).rejects.toMatchObject({ code: 'TASK_STOPPED' })
  })

  it('verifyAndRepair: a sound state is reported clean; a damaged one is found by the full walk and recovered', async () => {
    const chain = await makeChain(3)
    const store = memoryStateStore()
    const clock = manualClock()
    const events: LightEvent[] = []
    const lc = followHonest(chain, store, clock, events, { followMs: 100 })
    await until(clock, () => events.some((e) => e.type === 'synced'))
    expect(await lc.verifyAndRepair()).toEqual({ damage: 0, report: null })
    const root = chain.headers[3]!.header.stateRoot
    const victims = [...store.nodes.keys()].filter((k) => k !== toHex(root)).slice(0, 2)
    store.nodes.set(victims[0]!, Uint8Array.of(1, 2, 3)) // bytes that do not hash to their key
    store.nodes.delete(victims[1]!)
    const r = lc.verifyAndRepair()
    await until(clock, () => events.some((e) => e.type === 'recovery-finished'))
    const { damage, report } = await r
    expect(damage).toBeGreaterThanOrEqual(1)
    const check = events.findLast((e) => e.type === 'state-check' && e.done && e.damage.length > 0)
    expect(check).toMatchObject({ mode: 'full' })
    const problems = (check as Extract<LightEvent, { type: 'state-check' }>).damage.map((x) => x.problem)
    expect(problems).toContain('corrupt')
    expect(report).toMatchObject({ why: 'user', strategy: 'peer' })
    expect(await lc.verifyAndRepair()).toEqual({ damage: 0, report: null })
    lc.task.stop()
    await expect(lc.task.done).rejects.toMatchObject({ code: 'TASK_STOPPED' })
  })
})

/** A session over light-chain peers: one status round, then a verification to `target`. */
async function verifyWith(
  chain: LightChain,
  peers: LightPeer[],
  o: { cp?: number; clock?: ManualClock; store?: MemoryNodeStore; target?: number | 'latest' } = {},
) {
  const clock = o.clock ?? manualClock()
  const store = o.store ?? new MemoryNodeStore()
  const events: LightEvent[] = []
  const s = createSession({
    config: chain.config(o.cp ?? 0),
    store,
    peers: { list: () => peers },
    clock,
    emit: (e) => events.push(e),
  })
  const ac = new AbortController()
  const run = async () => s.verify(ac.signal, await s.status(ac.signal), o.target ?? 'latest')
  const head = await drive(clock, run()).finally(() => s.close())
  return { head, events, store, session: s, clock }
}

const trustEvents = (events: LightEvent[]) =>
  events.filter((e): e is Extract<LightEvent, { type: 'trust' }> => e.type === 'trust')

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('resolved')
    },
    (e: unknown) => e,
  )

describe('light driver: skipping verification', () => {
  it('a head signed by a minority: the peer is banned (NO_QUORUM); the honest one completes', async () => {
    const chain = makeLightChain({ length: 50 })
    const { head, session, events } = await verifyWith(chain, [
      lightPeer('minority', chain, 'minority'),
      lightPeer('honest', chain),
    ])
    expect(toHex(head.hash)).toBe(toHex(chain.hash(50)))
    expect(session.ledger.record('minority').banned).toMatch(/NO_QUORUM|2\/3/)
    expect(session.ledger.isBanned('honest')).toBe(false)
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'peer-charged', peer: 'minority', kind: 'banned' }),
    )
  })

  it('a peer lying about a validator set is charged and banned (BAD_VALIDATOR_SET)', async () => {
    const chain = makeLightChain({ length: 50, rotateEvery: 10 })
    const liar = lightPeer('liar', chain, 'lie-validators')
    const { head, session } = await verifyWith(chain, [liar, lightPeer('honest', chain)])
    expect(toHex(head.hash)).toBe(toHex(chain.hash(50)))
    const r = session.ledger.record('liar')
    expect(r.bad).toBe(1)
    expect(r.banned).toMatch(/validator set/)
  })

  it('a fork signed by departed validators is refused; alone, it leaves no verified head', async () => {
    const chain = makeLightChain({ length: 100, rotateEvery: 10 })
    const forked = fork(chain, 80, [0, 1, 2, 3], 120)
    // The fork claims the higher head, so it is asked first.
    const { head, session } = await verifyWith(
      chain,
      [lightPeer('fork', chain, 'fork-departed', forked), lightPeer('honest', chain)],
      { cp: 45 },
    )
    expect(toHex(head.hash)).toBe(toHex(chain.hash(100)))
    expect(session.ledger.record('fork').banned).toMatch(/another validator set/)

    const alone = await rejection(
      verifyWith(chain, [lightPeer('fork', chain, 'fork-departed', forked)], { cp: 45 }),
    )
    expect(alone).toBeInstanceOf(NoVerifiedHeadError)
    expect((alone as NoVerifiedHeadError).reasons[0]!.reason).toMatch(/validator set/)
  })

  it('a checkpoint older than the trusting period: TRUST_EXPIRED with what to do, no peer charged', async () => {
    const chain = makeLightChain({ length: 20 })
    const clock = manualClock(0, (chain.header(0).timestamp + 15 * 86_400) * 1000)
    const honest = lightPeer('honest', chain)
    const e = await rejection(verifyWith(chain, [honest], { clock }))
    expect(e).toBeInstanceOf(TrustExpiredError)
    expect((e as Error).message).toMatch(/checkpoint=N:0xHASH/)
    expect(honest.requests).toEqual([0, 20])
  })

  it('asks for the checkpoint and the target together; 10,000 blocks cost 2 light blocks and 3 signatures', async () => {
    const chain = makeLightChain({ length: 10_000 })
    const honest = lightPeer('honest', chain)
    const inner = honest.wire.validators!
    let open: () => void = () => {}
    const gate = new Promise<void>((r) => (open = r))
    honest.wire.validators = async (h, s) => {
      const r = await inner(h, s)
      await gate
      return r
    }
    const clock = manualClock()
    const done = verifyWith(chain, [honest], { clock })
    await until(clock, () => honest.requests.length === 2)
    expect(honest.requests).toEqual([0, 10_000]) // both asked before either was answered
    open()
    const { head, events } = await done
    expect(head.header.number).toBe(10_000)
    expect(trustEvents(events)).toEqual([
      expect.objectContaining({
        from: 0,
        to: 10_000,
        fetched: 2,
        signatures: 3,
        bisections: 0,
        source: 'network',
      }),
    ])
  })

  it('a peer that stalls mid-way is set aside; the next continues from what was verified', async () => {
    const chain = makeLightChain({ length: 60, rotateEvery: 5 })
    const staller = lightPeer('staller', chain)
    const inner = staller.wire.validators!
    staller.wire.validators = (h, s) => (staller.requests.length >= 4 ? new Promise(() => {}) : inner(h, s))
    const honest = lightPeer('honest', chain)
    const { head, session } = await verifyWith(chain, [staller, honest])
    expect(head.header.number).toBe(60)
    expect(session.ledger.record('staller')).toMatchObject({ timeouts: 1, banned: null })
    // The honest peer was not asked for the checkpoint again.
    expect(honest.requests[0]).not.toBe(0)
  })

  it('a peer without the light-block protocol is not asked, and not charged', async () => {
    const chain = makeLightChain({ length: 10 })
    const old = lightPeer('old', chain)
    old.wire.validators = undefined
    const { head, session } = await verifyWith(chain, [old, lightPeer('honest', chain)])
    expect(head.header.number).toBe(10)
    expect(session.ledger.record('old')).toMatchObject({ banned: null, bad: 0, errors: 0 })
  })
})

describe('light driver: stored trust', () => {
  const chain = makeLightChain({ length: 150, rotateEvery: 10 })
  const cp = checkpointOf(chain.config())
  const load = (store: MemoryNodeStore, clock = manualClock()) => {
    const events: LightEvent[] = []
    return loadTrust(store, cp, (e) => events.push(e), false, clock).then((t) => ({ ...t, events }))
  }
  const synced = async () => (await verifyWith(chain, [lightPeer('honest', chain)])).store

  it('the stored trust path re-verifies offline (a `trust` event from the store) and is pruned', async () => {
    const store = await synced()
    const t = await load(store)
    expect(t.head?.header.number).toBe(150)
    const path = decodeStoredPath(cp.chainId, (await store.getMeta(META.lightPath))!)
    expect(path[0]!.header.number).toBe(0)
    // Far fewer blocks than the 14 changes crossed would need one by one.
    expect(path.length).toBeLessThan(15)
    expect(trustEvents(t.events)).toEqual([
      expect.objectContaining({
        from: 0,
        to: 150,
        fetched: 0,
        source: 'store',
        signatures: expect.any(Number),
      }),
    ])
    expect(trustEvents(t.events)[0]!.signatures).toBeGreaterThan(0)
  })

  const tamperings: [string, (p: LightBlock[]) => LightBlock[], string][] = [
    [
      'a swapped validator set',
      (p) => p.map((b, i) => (i === p.length - 1 ? { ...b, validators: [...b.validators].reverse() } : b)),
      'BAD_VALIDATOR_SET',
    ],
    [
      'a forged signature',
      (p) =>
        p.map((b, i) =>
          i === p.length - 1
            ? {
                ...b,
                signed: {
                  ...b.signed,
                  signatures: b.signed.signatures.map((x) => ({
                    ...x,
                    signature: x.signature.map((y) => y ^ 1),
                  })),
                },
              }
            : b,
        ),
      'BAD_HEADER_SIGNATURE',
    ],
    ['a broken link (a hop left out)', (p) => [p[0]!, p.at(-1)!], 'NO_QUORUM'],
    ['another first block than the checkpoint', (p) => p.slice(1), 'CHECKPOINT_MISMATCH'],
  ]
  for (const [what, tamper, code] of tamperings)
    it(`${what}: the stored head is ignored (${code})`, async () => {
      const store = await synced()
      const path = decodeStoredPath(cp.chainId, (await store.getMeta(META.lightPath))!)
      await store.write({ meta: headRecords(tamper(path), cp) })
      const t = await load(store)
      expect(t.head).toBeNull()
      expect(t.events).toContainEqual(expect.objectContaining({ type: 'stored-head-ignored', code }))
    })

  it('a stored head of the older format, or past the trusting period, is ignored', async () => {
    const store = await synced()
    const head = decodeStoredHead(cp.chainId, (await store.getMeta(META.lightHead))!)
    const expired = await load(store, manualClock(0, (head.header.timestamp + 15 * 86_400) * 1000))
    expect(expired.head).toBeNull()
    expect(expired.events).toContainEqual(
      expect.objectContaining({ type: 'stored-head-ignored', code: 'TRUST_EXPIRED' }),
    )
    await store.write({ meta: [[META.lightHead, encodeSignedHeader(head.signed)]] })
    const old = await load(store)
    expect(old.head).toBeNull()
    expect(old.events).toContainEqual(
      expect.objectContaining({ type: 'stored-head-ignored', code: 'STORE_FORMAT' }),
    )
  })

  it('a warm start answers from the stored head before any peer is asked', async () => {
    const store = await synced()
    const peer = lightPeer('honest', chain)
    const clock = manualClock()
    const lc = startLightClient({
      config: chain.config(),
      store: Object.assign(store, {
        ready: async () => {},
        stats: () => ({ nodes: 0, bytes: 0, staged: 0 }),
        compact: async () => ({ kept: 0, dropped: 0 }),
        close: async () => {},
      }),
      peers: { list: () => [peer] },
      clock,
      emit: () => {},
      options: { firstStatusGraceMs: 0 },
    })
    const statusesAtAnswer = await lc.head().then((h) => {
      expect(h.number).toBe(150)
      return peer.statuses
    })
    expect(statusesAtAnswer).toBe(0)
    lc.task.stop()
    await expect(lc.task.done).rejects.toMatchObject({ code: 'TASK_STOPPED' })
  })
})
