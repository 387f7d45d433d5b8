/**
 * The worker's light client in Node, with in-process peers over a real devnet chain: it verifies
 * from the checkpoint, syncs, follows, and a peer that claims a head it cannot back with verifying
 * headers is banned instead of holding the client. (IndexedDB itself is covered in Chromium.)
 */
import { describe, expect, it } from 'vitest'
import type { LightEvent } from '../../src/api/worker-protocol.ts'
import type { AccountProof } from '../../src/core/account-proof.ts'
import { toHex } from '../../src/core/bytes.ts'
import { headerHash, type SignedHeader } from '../../src/core/chain/header.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import { type LightBlockReply, lightBlockReply } from '../../src/core/chain/validators.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { readRepair } from '../../src/core/light/trust.ts'
import {
  type ProofRequest,
  ProtocolError,
  Status,
  type StatusResponse,
} from '../../src/core/protocol/messages.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { WireClient } from '../../src/net/wire-client.ts'
import { peerSourceOf } from '../../src/worker/driver-ports.ts'
import { createLightClient } from '../../src/worker/light-client.ts'
import { createPeerRegistry } from '../../src/worker/peer-registry.ts'
import { getAccount } from '../../src/worker/verified-reads.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'

/** Dated now: the worker runs on the real clock, and trusts nothing older than its trusting period. */
const makeChain = (blocks: number) =>
  makeDevnetChain(
    { seed: 'light', accounts: 400, contracts: 4, slots: 4, timestamp: Math.floor(Date.now() / 1000) - 60 },
    blocks,
    5,
  )

/** A peer answering from the chain; `claimHead` makes it claim a head it does not have. */
class ChainPeer extends WireClient {
  constructor(
    readonly id: string,
    private readonly chain: Awaited<ReturnType<typeof makeChain>>,
    private readonly claimHead?: number,
    /** Delay before serving headers past the checkpoint (a slow header download). */
    private readonly headerDelayMs = 0,
  ) {
    super()
  }
  request(): Promise<Uint8Array> {
    throw new Error('not used')
  }
  close() {}
  override async status(): Promise<StatusResponse> {
    const head = this.chain.headers.at(-1)!.header
    return {
      chainId: this.chain.config.chainId,
      genesisHash: headerHash(this.chain.headers[0]!.header),
      headNumber: this.claimHead ?? head.number,
      headHash: headerHash(head),
      headStateRoot: head.stateRoot,
      oldestStateNumber: 0,
    }
  }
  override async headers(start: number, count: number): Promise<SignedHeader[]> {
    if (start > 0 && this.headerDelayMs) await new Promise((r) => setTimeout(r, this.headerDelayMs))
    return this.chain.headers.slice(start, start + count)
  }
  override async validators(height: number): Promise<LightBlockReply> {
    const s = this.chain.headers[height]
    if (!s) throw new ProtocolError(Status.UNAVAILABLE, `no header ${height}`)
    if (height > 0 && this.headerDelayMs) await new Promise((r) => setTimeout(r, this.headerDelayMs))
    const set = this.chain.genesis.validators
    return lightBlockReply({ signed: s, validators: set, nextValidators: set })
  }
  override async nodes(hashes: Uint8Array[]): Promise<Uint8Array[]> {
    return Promise.all(hashes.map(async (h) => (await this.chain.store.getNode(h)) ?? new Uint8Array(0)))
  }
  override async proof(req: ProofRequest): Promise<AccountProof> {
    return accountProof(this.chain.store, req.stateRoot, req.address, req.slots)
  }
}

/** The driver's store contract, over memory (pruning is a no-op here). */
function memoryStore() {
  const s = new MemoryNodeStore()
  return Object.assign(s, {
    ready: async () => {},
    stats: () => ({ nodes: s.nodes.size, bytes: 0, staged: 0 }),
    compact: async () => ({ kept: s.nodes.size, dropped: 0 }),
    close: async () => {},
  })
}

function client(chain: Awaited<ReturnType<typeof makeChain>>, peers: WireClient[]) {
  const events: LightEvent[] = []
  const registry = createPeerRegistry(() => {})
  for (const p of peers)
    registry.add({ peerId: p.id, name: p.id, transport: 'websocket', addr: `/mem/${p.id}`, client: p })
  const store = memoryStore()
  const lc = createLightClient({
    config: chain.config,
    store,
    source: peerSourceOf(registry, chain.config, async () => {}),
    peers: registry,
    emit: (e) => events.push(e),
    options: { followMs: 20 },
  })
  lc.start()
  return { lc, events, registry, store, stop: () => lc.stop() }
}

const until = async (f: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('light client (worker pipeline)', () => {
  it('verifies from the checkpoint to the head, syncs its state and answers reads from it', async () => {
    const chain = await makeChain(3)
    const { lc, events } = client(chain, [new ChainPeer('honest', chain)])
    await until(() => events.some((e) => e.type === 'synced'))
    const synced = events.find((e) => e.type === 'synced') as Extract<LightEvent, { type: 'synced' }>
    expect(synced.height).toBe(3)
    expect(synced.root).toBe(toHex(chain.headers[3]!.header.stateRoot))
    const [address] = chain.genesis.alloc[5]!
    const a = await getAccount(lc, toHex(address))
    expect(a.source).toBe('local')
    expect(a.header.number).toBe(3)
    const want = await new StateDB(chain.store, chain.headers[3]!.header.stateRoot).getAccount(address)
    expect(a.account?.balance).toBe(want!.balance.toString())
  })

  it('a read issued at start is answered under the peers’ head, not the checkpoint on the way', async () => {
    const chain = await makeChain(3)
    const { lc } = client(chain, [new ChainPeer('honest', chain, undefined, 100)])
    const [address] = chain.genesis.alloc[9]!
    const a = await getAccount(lc, toHex(address))
    // By proof unless the (tiny) state finished syncing first; either way under the head.
    if (a.source === 'proof') expect(a.peer).toBe('honest')
    expect(a.header.number).toBe(3)
    const want = await new StateDB(chain.store, chain.headers[3]!.header.stateRoot).getAccount(address)
    expect(a.account?.balance).toBe(want!.balance.toString())
  })

  it('trusts a later checkpoint (a header hash) the same way, and refuses a chain that does not contain it', async () => {
    const chain = await makeChain(4)
    const at2 = toHex(headerHash(chain.headers[2]!.header))
    const ok = client({ ...chain, config: { ...chain.config, checkpoint: { number: 2, hash: at2 } } }, [
      new ChainPeer('honest', chain),
    ])
    await until(() => ok.events.some((e) => e.type === 'synced'))
    expect(ok.events.find((e) => e.type === 'synced')).toMatchObject({ height: 4 })

    const wrong = client(
      { ...chain, config: { ...chain.config, checkpoint: { number: 2, hash: `0x${'11'.repeat(32)}` } } },
      [new ChainPeer('other', chain)],
    )
    await until(() => wrong.events.some((e) => e.type === 'error'))
    // No peer can back a verified head: the error names each peer and why.
    expect(wrong.events.find((e) => e.type === 'error')).toMatchObject({
      code: 'NO_VERIFIED_HEAD',
      message: expect.stringMatching(/other: .*is not the checkpoint/),
    })
    expect(wrong.events.some((e) => e.type === 'synced' || e.type === 'header')).toBe(false)
  })

  it('a peer claiming a head it cannot back is banned; the client goes on with the honest one', async () => {
    const chain = await makeChain(3)
    const liar = new ChainPeer('liar', chain, 1_000_000)
    const { events, registry } = client(chain, [liar, new ChainPeer('honest', chain)])
    await until(() => events.some((e) => e.type === 'synced'))
    const views = Object.fromEntries(registry.views().map((v) => [v.id, v]))
    expect(views.liar!.banned).toMatch(/headers/)
    expect(views.liar!.score).toBe(0)
    expect(views.honest!.banned).toBeNull()
    const synced = events.find((e) => e.type === 'synced') as Extract<LightEvent, { type: 'synced' }>
    expect(synced.height).toBe(3)
  })

  it('stops cleanly when asked (a stopped phase, no more work) and a later run resumes from the store', async () => {
    const chain = await makeChain(2)
    const { lc, events, stop } = client(chain, [new ChainPeer('honest', chain)])
    await until(() => events.some((e) => e.type === 'synced'))
    await stop()
    // The task has ended (its loop is over) and said so last.
    expect(events.at(-1)).toMatchObject({ type: 'phase', phase: 'stopped' })
    const count = events.length
    // Reads still answer after the stop, from the complete local state.
    const [address] = chain.genesis.alloc[3]!
    expect((await getAccount(lc, toHex(address))).source).toBe('local')
    lc.start()
    await until(() => events.slice(count).some((e) => e.type === 'header'))
    await lc.stop()
    // The state was complete already: nothing downloaded again.
    const again = events.slice(count).filter((e) => e.type === 'synced')
    expect(again.length).toBeGreaterThan(0)
    expect(again.every((e) => e.nodes === 0)).toBe(true)
  })

  it('a local read that meets a missing node answers by proof and flags the state for repair', async () => {
    const chain = await makeChain(2)
    const { lc, events, store } = client(chain, [new ChainPeer('honest', chain)])
    await until(() => events.some((e) => e.type === 'synced'))
    const root = chain.headers[2]!.header.stateRoot
    const [address] = chain.genesis.alloc[7]!
    // Drop a node on the account's proof path (below the root) from the client's store.
    const path = (await accountProof(chain.store, root, address, [])).accountProof
    const victim = toHex(keccak256(path[1]!))
    expect(store.nodes.delete(victim)).toBe(true)
    const a = await getAccount(lc, toHex(address))
    expect(a.source).toBe('proof')
    expect(a.peer).toBe('honest')
    const want = await new StateDB(chain.store, root).getAccount(address)
    expect(a.account?.balance).toBe(want!.balance.toString())
    expect(events.find((e) => e.type === 'repair-needed')).toEqual({
      type: 'repair-needed',
      reason: 'missing-node',
      hash: victim,
    })
    expect(await readRepair(store)).toEqual({ reason: 'missing-node', hash: victim })
    // From then on the local state is not used as complete, even for an undamaged path.
    const [other] = chain.genesis.alloc[100]!
    expect((await getAccount(lc, toHex(other))).source).toBe('proof')
    expect(events.filter((e) => e.type === 'repair-needed')).toHaveLength(1)
  })

  it('a read can be cancelled while it waits (for a verified header, here: no peer answers)', async () => {
    const chain = await makeChain(1)
    const { lc, stop } = client(chain, [])
    const ac = new AbortController()
    const [address] = chain.genesis.alloc[1]!
    const read = getAccount(lc, toHex(address), ac.signal)
    ac.abort(new DOMException('the read was cancelled', 'AbortError'))
    await expect(read).rejects.toMatchObject({ name: 'AbortError' })
    await stop()
  })
})
