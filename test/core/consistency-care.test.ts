/**
 * The light client's consistency checks (src/core/light/consistency-care.ts) on a manual clock: the
 * periodic task fires every interval, 0 means on demand only, stopping cancels it (and a check in
 * flight), one check runs at a time and never beside another state job; and, through the driver
 * with the real check over an in-memory devnet chain, equivocation evidence halts reads
 * (EQUIVOCATION_HALT) until acknowledged — also after a restart, where stored evidence is verified
 * again and tampered evidence halts nothing.
 */
import { describe, expect, it } from 'vitest'
import { fromHex } from '../../src/core/bytes.ts'
import { headerHash, type SignedHeader, signHeader } from '../../src/core/chain/header.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import { lightBlockReply } from '../../src/core/chain/validators.ts'
import { type ManualClock, manualClock } from '../../src/core/clock.ts'
import type { ConsistencyResult, EquivocationEvidence } from '../../src/core/consistency/types.ts'
import { checkpointOf } from '../../src/core/light/config.ts'
import { type CheckFn, type CheckTarget, consistencyCare } from '../../src/core/light/consistency-care.ts'
import type { LightEvent } from '../../src/core/light/events.ts'
import { type LightClient, startLightClient } from '../../src/core/light/follow.ts'
import type { LightPeer } from '../../src/core/light/peers.ts'
import { META } from '../../src/core/meta-keys.ts'
import { ProtocolError, Status, type StatusResponse } from '../../src/core/protocol/messages.ts'
import { MemoryNodeStore, type StateStore } from '../../src/core/store.ts'
import { startTask, TaskStoppedError } from '../../src/core/task.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'

const makeChain = () =>
  makeDevnetChain({ seed: 'consistency-care', accounts: 60, contracts: 2, slots: 2 }, 3, 2)
type Chain = Awaited<ReturnType<typeof makeChain>>

function memoryStateStore(): StateStore & MemoryNodeStore {
  const m = new MemoryNodeStore()
  return Object.assign(m, {
    ready: async () => {},
    stats: () => ({ nodes: m.nodes.size, bytes: 0, staged: 0 }),
    compact: async () => ({ kept: m.nodes.size, dropped: 0 }),
    close: async () => {},
  })
}

const flush = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

async function until(clock: ManualClock, f: () => boolean, maxMs = 120_000): Promise<void> {
  for (let t = 0; !f(); t += 50) {
    if (t > maxMs) throw new Error('condition not met')
    await new Promise((r) => setImmediate(r))
    clock.advance(50)
  }
}

/** Runs the clock in 50 ms steps until `p` settles. */
async function drive<T>(clock: ManualClock, p: Promise<T>, maxMs = 120_000): Promise<T> {
  let settled = false
  p.then(
    () => (settled = true),
    () => (settled = true),
  )
  await until(clock, () => settled, maxMs)
  return p
}

describe('consistency care: the periodic task', () => {
  /** A care over a fake check that counts its runs (and, with `hold`, waits until aborted). */
  async function setup(intervalMs: number, opts: { hold?: boolean; target?: boolean } = {}) {
    const chain = await makeChain()
    const clock = manualClock()
    const events: LightEvent[] = []
    const runs: AbortSignal[] = []
    const check: CheckFn = (deps, _o, signal) => {
      runs.push(signal)
      const result = { height: deps.header.header.number } as ConsistencyResult
      if (!opts.hold) return Promise.resolve(result)
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    }
    let queue: Promise<unknown> = Promise.resolve()
    const serially = <T>(job: () => Promise<T>): Promise<T> => {
      const r = queue.then(job, job)
      queue = r.catch(() => {})
      return r
    }
    const target: CheckTarget = {
      header: { header: chain.head(), hash: new Uint8Array(32) },
      peers: [],
      ledger: { charge() {}, ban() {}, isBanned: () => false },
    }
    const care = consistencyCare({
      store: memoryStateStore(),
      clock,
      checkpoint: checkpointOf(chain.config),
      settings: { options: { intervalMs } },
      emit: (e) => events.push(e),
      target: () => (opts.target === false ? null : target),
      serially,
      check,
    })
    await care.load()
    return { care, clock, runs, events, serially }
  }

  it('fires every interval', async () => {
    const { care, clock, runs } = await setup(60_000)
    const task = startTask('checks', (s) => care.periodic(s))
    await flush()
    clock.advance(59_999)
    await flush()
    expect(runs.length).toBe(0)
    clock.advance(1)
    await flush()
    expect(runs.length).toBe(1)
    clock.advance(60_000)
    await flush()
    expect(runs.length).toBe(2)
    task.stop()
  })

  it('interval 0: no periodic check (on demand only)', async () => {
    const { care, clock, runs } = await setup(0)
    await care.periodic(new AbortController().signal)
    expect(clock.pending()).toBe(0)
    clock.advance(3_600_000)
    await flush()
    expect(runs.length).toBe(0)
    expect((await care.checkNow(new AbortController().signal)).height).toBe(3)
    expect(runs.length).toBe(1)
  })

  it('stop() cancels the task and the check in flight; nothing fires afterwards', async () => {
    const { care, clock, runs } = await setup(1000, { hold: true })
    const task = startTask('checks', (s) => care.periodic(s))
    await flush()
    clock.advance(1000)
    await flush()
    expect(runs.length).toBe(1)
    expect(runs[0]!.aborted).toBe(false)
    task.stop('test')
    await expect(task.done).rejects.toBeInstanceOf(TaskStoppedError)
    expect(runs[0]!.aborted).toBe(true)
    expect(clock.pending()).toBe(0)
    clock.advance(10_000)
    await flush()
    expect(runs.length).toBe(1)
  })

  it('one check at a time (requests join it), never beside another state job', async () => {
    const { care, runs, serially } = await setup(0)
    let release = () => {}
    const job = serially(() => new Promise<void>((r) => (release = r)))
    const signal = new AbortController().signal
    const a = care.checkNow(signal)
    const b = care.checkNow(signal)
    await flush()
    // The sync step (or recovery) holds the queue: no check yet.
    expect(runs.length).toBe(0)
    release()
    await job
    const [ra, rb] = await Promise.all([a, b])
    expect(runs.length).toBe(1)
    expect(ra).toBe(rb)
  })

  it('no complete state to check: a periodic check is skipped, a requested one refused', async () => {
    const { care, clock, runs, events } = await setup(1000, { target: false })
    const task = startTask('checks', (s) => care.periodic(s))
    await flush()
    clock.advance(1000)
    await flush()
    expect(runs.length).toBe(0)
    expect(events.filter((e) => e.type === 'error')).toEqual([])
    await expect(care.checkNow(new AbortController().signal)).rejects.toMatchObject({
      code: 'CONSISTENCY_NOT_READY',
    })
    task.stop()
  })
})

/**
 * A peer answering from `chain`; `equivocate`: its header at any height is another one, signed by a
 * quorum; 'unsigned': another header with no signatures (a liar).
 */
function peer(id: string, chain: Chain, equivocate: boolean | 'unsigned' = false): LightPeer {
  const signers = chain.keys.validators.map((key, index) => ({ index, key }))
  return {
    id,
    wire: {
      async status(): Promise<StatusResponse> {
        const head = chain.head()
        return {
          chainId: chain.config.chainId,
          genesisHash: fromHex(chain.config.genesisHash),
          headNumber: head.number,
          headHash: headerHash(head),
          headStateRoot: head.stateRoot,
          oldestStateNumber: 0,
        }
      },
      headers: async (start, count) => chain.headers.slice(start, start + count),
      // The light block at a height (this chain's set never changes).
      async validators(height) {
        const signed = chain.headers[height]
        if (!signed) throw new ProtocolError(Status.UNAVAILABLE, `no header ${height}`)
        const set = chain.genesis.validators
        return lightBlockReply({ signed, validators: set, nextValidators: set })
      },
      nodes: (hashes) =>
        Promise.all(hashes.map(async (h) => (await chain.store.getNode(h)) ?? new Uint8Array(0))),
      proof: (req) => accountProof(chain.store, req.stateRoot, req.address, req.slots),
      blocks: async () => [],
      async root(height): Promise<SignedHeader> {
        const s = chain.headers[height]
        if (!s) throw new ProtocolError(Status.UNAVAILABLE, `no header ${height}`)
        if (!equivocate) return s
        if (equivocate === 'unsigned')
          return { header: { ...s.header, stateRoot: new Uint8Array(32).fill(7) }, signatures: [] }
        return signHeader(chain.config.chainId, { ...s.header, timestamp: s.header.timestamp + 1 }, signers)
      },
    },
  }
}

describe('consistency care: equivocation halts reads', () => {
  function follow(chain: Chain, store: StateStore, peers: LightPeer[], checkPeers = 3) {
    const clock = manualClock()
    const events: LightEvent[] = []
    const client = startLightClient({
      config: chain.config,
      store,
      peers: { list: () => peers },
      clock,
      emit: (e) => events.push(e),
      options: { followMs: 60_000 },
      recovery: { strategies: [] },
      consistency: {
        options: { intervalMs: 0, accounts: 4, slotsPerAccount: 0, peers: checkPeers },
        random: seeded(),
      },
    })
    return { client, clock, events }
  }

  const seeded = () => {
    let x = 1
    return () => {
      x = (x * 48271) % 2147483647
      return x / 2147483647
    }
  }

  const halted = async (client: LightClient) =>
    client.head().then(
      () => null,
      (e: { code?: string; details?: Record<string, unknown> }) => ({ code: e.code, ...e.details }),
    )

  it('a quorum-signed second header: evidence kept, reads at its height refused until acknowledged, also after a restart', async () => {
    const chain = await makeChain()
    const store = memoryStateStore()
    const a = follow(chain, store, [peer('honest', chain), peer('equivocator', chain, true)])
    await until(a.clock, () => a.events.some((e) => e.type === 'synced' && e.height === 3))
    expect(await halted(a.client)).toBeNull()

    const result = await drive(a.clock, a.client.checkConsistency())
    expect(result.height).toBe(3)
    const eq = result.discrepancies.find((d) => d.kind === 'Equivocation')
    expect(eq).toMatchObject({ peer: 'equivocator', height: 3, action: 'halted' })
    const [evidence] = await a.client.evidence()
    expect(evidence).toMatchObject({ height: 3, peer: 'equivocator', acknowledgedAt: null })
    expect(evidence!.doubleSigners.length).toBeGreaterThan(0)
    expect(a.events).toContainEqual({ type: 'halt', height: 3, evidence: evidence!.id })

    // Reads at (and above) the height: refused, naming the height and the evidence.
    expect(await halted(a.client)).toEqual({ code: 'EQUIVOCATION_HALT', height: 3, evidence: evidence!.id })
    expect(() => a.client.localState(chain.head().stateRoot)).toThrow(
      expect.objectContaining({ code: 'EQUIVOCATION_HALT' }),
    )
    a.client.task.stop()
    await a.client.task.done.catch(() => {})

    // A restart on the same store: the stored evidence verifies again and halts reads at once.
    const b = follow(chain, store, [peer('honest', chain)])
    const beforeAck = await drive(b.clock, halted(b.client))
    expect(beforeAck).toEqual({ code: 'EQUIVOCATION_HALT', height: 3, evidence: evidence!.id })
    await drive(b.clock, b.client.acknowledgeEvidence(evidence!.id))
    expect(b.events).toContainEqual({ type: 'halt', height: null, evidence: null })
    expect(await drive(b.clock, halted(b.client))).toBeNull()
    const [acked] = await b.client.evidence()
    expect(acked!.acknowledgedAt).not.toBeNull()
    b.client.task.stop()
    await b.client.task.done.catch(() => {})

    // Acknowledged stays acknowledged after another restart.
    const c = follow(chain, store, [peer('honest', chain)])
    expect(await drive(c.clock, halted(c.client))).toBeNull()
    c.client.task.stop()
    await c.client.task.done.catch(() => {})
  })

  it('a lying majority (3 of 4 peers claim another, unsigned header): liars banned, no halt, reads go on', async () => {
    const chain = await makeChain()
    const store = memoryStateStore()
    const liars = ['l1', 'l2', 'l3'].map((id) => peer(id, chain, 'unsigned'))
    const a = follow(chain, store, [...liars, peer('honest', chain)], 4)
    await until(a.clock, () => a.events.some((e) => e.type === 'synced' && e.height === 3))
    const result = await drive(a.clock, a.client.checkConsistency())
    expect(result.stateRootMatches).toBe(true)
    expect(result.discrepancies.map((d) => d.kind).sort()).toEqual([
      'InvalidPeerData',
      'InvalidPeerData',
      'InvalidPeerData',
    ])
    expect(
      result.peers
        .filter((p) => p.root === 'invalid')
        .map((p) => p.peer)
        .sort(),
    ).toEqual(['l1', 'l2', 'l3'])
    expect(a.events.filter((e) => e.type === 'peer-charged' && e.kind === 'banned').length).toBe(3)
    // Reads go on, from the local state.
    expect(await halted(a.client)).toBeNull()
    expect(a.client.localState(chain.head().stateRoot)).toBe(store)
    expect(await a.client.evidence()).toEqual([])
    a.client.task.stop()
    await a.client.task.done.catch(() => {})
  })

  /** Evidence found in one run, altered on disk by `alter`, then a restart: what the new run says. */
  async function restartWithStored(alter: (stored: EquivocationEvidence) => void) {
    const chain = await makeChain()
    const store = memoryStateStore()
    const a = follow(chain, store, [peer('honest', chain), peer('equivocator', chain, true)])
    await until(a.clock, () => a.events.some((e) => e.type === 'synced' && e.height === 3))
    await drive(a.clock, a.client.checkConsistency())
    a.client.task.stop()
    await a.client.task.done.catch(() => {})

    const stored = JSON.parse(
      new TextDecoder().decode(store.meta.get(META.evidence)!),
    ) as EquivocationEvidence[]
    expect(stored.length).toBe(1)
    alter(stored[0]!)
    await store.write({ meta: [[META.evidence, new TextEncoder().encode(JSON.stringify(stored))]] })

    const b = follow(chain, store, [peer('honest', chain)])
    const halt = await drive(b.clock, halted(b.client))
    const ignored = b.events.filter((e) => e.type === 'evidence-ignored')
    const evidence = await b.client.evidence()
    b.client.task.stop()
    await b.client.task.done.catch(() => {})
    return { id: stored[0]!.id, halt, ignored, evidence }
  }

  it('stored evidence that no longer verifies (tampered) halts nothing and is reported', async () => {
    // The conflicting header's bytes altered on disk: its signatures no longer cover it.
    const r = await restartWithStored((e) => {
      const signed = e.conflicting.signed
      const at = signed.length - 70
      e.conflicting.signed = `${signed.slice(0, at)}${signed[at] === '0' ? '1' : '0'}${signed.slice(at + 1)}`
    })
    expect(r.halt).toBeNull()
    expect(r.ignored).toContainEqual(expect.objectContaining({ type: 'evidence-ignored', id: r.id }))
    expect(r.evidence).toEqual([])
  })

  it('stored evidence kept without its validator set (the format before rotation) halts nothing: evidence-ignored, STORE_FORMAT', async () => {
    const r = await restartWithStored((e) => {
      delete e.validators
    })
    expect(r.halt).toBeNull()
    expect(r.ignored).toEqual([expect.objectContaining({ id: r.id, code: 'STORE_FORMAT' })])
    expect(r.evidence).toEqual([])
  })
})
