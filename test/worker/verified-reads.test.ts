/**
 * Verified reads over an in-memory devnet chain and in-memory peers: code is accepted only when it
 * hashes to the proven code hash (a peer that lies is charged, one that lacks it is skipped), from
 * the local store when the state is complete; proofs come back as the nodes they were verified from;
 * a read at an older height whose state no peer keeps fails with STATE_UNAVAILABLE naming it.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import { ProtocolError, Status } from '../../src/core/protocol/messages.ts'
import type { MemoryNodeStore } from '../../src/core/store.ts'
import { getCode } from '../../src/worker/code-reads.ts'
import type { PeerRegistry, RegisteredPeer } from '../../src/worker/peer-registry.ts'
import { getProof, type ReadContext } from '../../src/worker/verified-reads.ts'
import { makeDevnetChain } from '../helpers/devnet-chain.ts'

const chain = await makeDevnetChain({ seed: 'reads-unit', accounts: 40, contracts: 3, slots: 3 }, 4, 2)
const contracts = chain.genesis.alloc.filter(([, a]) => a.code.length)
const eoa = chain.genesis.alloc.find(([, a]) => !a.code.length)![0]

interface Fake {
  name: string
  nodes?: (hashes: Uint8Array[]) => Promise<Uint8Array[]>
  proof?: (req: { stateRoot: Uint8Array; address: Uint8Array; slots: Uint8Array[] }) => Promise<unknown>
}

function context(fakes: Fake[], opts: { local?: boolean } = {}) {
  const store = chain.store as MemoryNodeStore
  const charges: { peer: string; kind: string }[] = []
  const honest = {
    nodes: async (hs: Uint8Array[]) =>
      Promise.all(hs.map(async (h) => (await store.getNode(h)) ?? new Uint8Array(0))),
    proof: (r: { stateRoot: Uint8Array; address: Uint8Array; slots: Uint8Array[] }) =>
      accountProof(store, r.stateRoot, r.address, r.slots),
    headers: async (start: number, count: number) => chain.headers.slice(start, start + count),
  }
  const registered = fakes.map(
    (f) =>
      ({ key: f.name, view: { name: f.name }, client: { ...honest, ...f } }) as unknown as RegisteredPeer,
  )
  const top = chain.headers.at(-1)!.header
  const ctx: ReadContext = {
    head: async () => ({
      number: top.number,
      hash: toHex(headerHash(top)),
      stateRoot: toHex(top.stateRoot),
      root: top.stateRoot,
      full: top,
    }),
    localState: (root) => (opts.local && toHex(root) === toHex(top.stateRoot) ? store : null),
    damaged: async () => {},
    peers: {
      usable: () => registered,
      onJoin: () => () => {},
      charge: (p: RegisteredPeer, kind: string) => charges.push({ peer: p.key, kind }),
    } as unknown as PeerRegistry,
    cache: null,
  }
  return { ctx, charges }
}

describe('verified code', () => {
  it('charges a peer whose code does not hash to the proven code hash, skips one that lacks it', async () => {
    const [address, account] = contracts[0]!
    const { ctx, charges } = context([
      { name: 'liar', nodes: async () => [new Uint8Array([0x60, 0x01])] },
      { name: 'lacking', nodes: async () => [new Uint8Array(0)] },
      { name: 'honest' },
    ])
    const a = await getCode(ctx, toHex(address))
    expect(a).toMatchObject({ code: toHex(account.code), source: 'proof', peer: 'honest' })
    expect(charges).toEqual([{ peer: 'liar', kind: 'bad' }])
  })

  it('fails with NO_VALID_CODE when no peer has it', async () => {
    const { ctx } = context([{ name: 'liar', nodes: async () => [new Uint8Array([0x60])] }])
    await expect(getCode(ctx, toHex(contracts[1]![0]))).rejects.toMatchObject({ code: 'NO_VALID_CODE' })
  })

  it('reads code from the complete local state without asking for it, and 0x for none', async () => {
    const asked: string[] = []
    const nodes = async () => {
      asked.push('nodes')
      return []
    }
    const { ctx } = context([{ name: 'p', nodes }], { local: true })
    const [address, account] = contracts[2]!
    expect(await getCode(ctx, toHex(address))).toMatchObject({ code: toHex(account.code), source: 'local' })
    expect((await getCode(ctx, toHex(eoa))).code).toBe('0x')
    expect((await getCode(ctx, `0x${'de'.repeat(20)}`)).code).toBe('0x')
    expect(asked).toEqual([])
  })
})

describe('proofs', () => {
  it('returns the verified nodes, and empty storage proofs for an absent account', async () => {
    const { ctx } = context([{ name: 'p' }])
    const [address] = contracts[0]!
    const p = await getProof(ctx, toHex(address), ['0x0', '0x1'])
    expect(p.accountProof.length).toBeGreaterThan(0)
    expect(p.storage.map((s) => s.key)).toEqual([`0x${'00'.repeat(32)}`, `0x${'00'.repeat(31)}01`])
    expect(p.storage.every((s) => s.proof.length > 0)).toBe(true)
    const absent = await getProof(ctx, `0x${'de'.repeat(20)}`, ['0x5'])
    expect(absent.account).toBeNull()
    expect(absent.storage[0]).toMatchObject({ value: `0x${'00'.repeat(32)}`, proof: [] })
  })

  it('at an older height no peer keeps, fails with STATE_UNAVAILABLE naming the height', async () => {
    const gone = async () => {
      throw new ProtocolError(Status.UNAVAILABLE, 'peer replied UNAVAILABLE: pruned')
    }
    const { ctx } = context([
      { name: 'a', proof: gone },
      { name: 'b', proof: gone },
    ])
    const e = await getProof(ctx, toHex(eoa), [], undefined, 2).catch((x) => x)
    expect(e).toMatchObject({ code: 'STATE_UNAVAILABLE', message: expect.stringContaining('block 2') })
    // With a peer that keeps it, the same read is proven against that header's root.
    const ok = await getProof(context([{ name: 'c' }]).ctx, toHex(eoa), [], undefined, 2)
    expect(ok.header).toMatchObject({ number: 2, stateRoot: toHex(chain.headers[2]!.header.stateRoot) })
  })

  it('refuses more than 64 slots and malformed ones with INPUT_INVALID', async () => {
    const { ctx } = context([{ name: 'p' }])
    await expect(getProof(ctx, toHex(eoa), Array(65).fill('0x1'))).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    })
    await expect(getProof(ctx, toHex(eoa), ['0xg'])).rejects.toMatchObject({ code: 'INPUT_INVALID' })
  })
})
