/**
 * `/rootsync/range/1` over real libp2p between real processes: an honest `rootsync serve` node that
 * stays at genesis answers account ranges, storage ranges and code that verify against the genesis
 * header's state root and together are exactly the genesis allocation; a producing node with a tiny
 * retention window answers UNAVAILABLE for a root it pruned; and each range lie of
 * test/helpers/corrupt-serve.ts produces a reply that `verifyRangeProof` rejects (or, for
 * `range-unavailable`, an UNAVAILABLE refusal).
 */

import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { accountKey, decodeAccount, EMPTY_CODE_HASH, EMPTY_ROOT, storageKey } from '../../src/core/account.ts'
import { equals, toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { ProofError } from '../../src/core/errors.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { ProtocolError } from '../../src/core/protocol/messages.ts'
import { isUnavailable, keyAfter, LAST_KEY, type RangeRequest } from '../../src/core/protocol/range.ts'
import { rlpEncode } from '../../src/core/rlp.ts'
import { verifyRangeProof } from '../../src/core/trie/range-proof.ts'
import { PeerClient, PeerRequestError } from '../../src/net/client.ts'
import { createClientLibp2p, createServingLibp2p } from '../../src/node/libp2p.ts'
import { CORRUPT_SERVE, makeDevnetFiles, type NodeProc, startNode, stopAllNodes } from '../helpers/nodes.ts'

const LIES = ['range-gap', 'range-extra', 'range-altered', 'range-forged-proof'] as const
const ZERO = new Uint8Array(32)

let files: ReturnType<typeof makeDevnetFiles>
let still: NodeProc
let producer: NodeProc
const liars: Record<string, NodeProc> = {}
let client: Libp2p
const clients: PeerClient[] = []

const peerOf = (n: NodeProc) => {
  const c = new PeerClient(client, multiaddr(n.ws), { timeoutMs: 30_000 })
  clients.push(c)
  return c
}

beforeAll(async () => {
  files = makeDevnetFiles({ accounts: 1500, contracts: 12, slots: 40, seed: 'range-serve' })
  still = await startNode('still', `${files.dir}/still`, ['--genesis', files.genesisFile])
  producer = await startNode('producer', `${files.dir}/producer`, [
    '--genesis',
    files.genesisFile,
    '--produce',
    files.keysFile,
    '--block-time',
    '300',
    '--txs',
    '5',
    '--retain',
    '2',
  ])
  // One after another: several processes building the genesis state at once overload a small machine.
  for (const mode of [...LIES, 'range-unavailable'])
    liars[mode] = await startNode(
      mode,
      `${files.dir}/${mode}`,
      ['--genesis', files.genesisFile, '--mode', mode],
      {
        script: CORRUPT_SERVE,
      },
    )
  client = await createClientLibp2p()
}, 300_000)

afterAll(async () => {
  for (const c of clients) c.close()
  await client?.stop()
  await stopAllNodes()
})

/** The genesis state root, taken from the node's genesis header after checking that header's hash. */
async function genesisRoot(c: PeerClient): Promise<Uint8Array> {
  const want = headerHash(genesisHeader(files.genesis, genesisStateRoot(files.genesis)))
  const [h] = await c.headers(0, 1)
  expect(toHex(headerHash(h!.header))).toBe(toHex(want))
  return h!.header.stateRoot
}

/** The client's loop: every leaf of one trie, each reply verified against `trieRoot` before use. */
async function fetchTrie(c: PeerClient, req: Omit<RangeRequest, 'origin' | 'limit'>, trieRoot: Uint8Array) {
  const leaves: [Uint8Array, Uint8Array][] = []
  let origin: Uint8Array | null = ZERO
  let replies = 0
  while (origin) {
    const r = await c.range({ ...req, origin, limit: LAST_KEY })
    const { hasMore } = verifyRangeProof(trieRoot, origin, r.keys, r.values, r.proof)
    replies++
    for (const [i, k] of r.keys.entries()) leaves.push([k, r.values[i]!])
    origin = hasMore ? keyAfter(r.keys[r.keys.length - 1]!) : null
  }
  return { leaves, replies }
}

describe('/rootsync/range/1 from a real serving node', () => {
  it('account ranges, storage ranges and code verify and are exactly the genesis allocation', async () => {
    const c = peerOf(still)
    const root = await genesisRoot(c)
    const accounts = await fetchTrie(c, { root, maxBytes: 16 * 1024 }, root)
    expect(accounts.replies).toBeGreaterThan(3) // the byte cap split the trie
    const byKey = new Map(accounts.leaves.map(([k, v]) => [toHex(k), decodeAccount(v)]))
    expect([...byKey.keys()].sort()).toEqual(files.genesis.alloc.map(([a]) => toHex(accountKey(a))).sort())

    const contracts = files.genesis.alloc.filter(([, a]) => a.storage.length > 0 && a.code.length > 0)
    expect(contracts.length).toBeGreaterThan(0)
    for (const [address, alloc] of contracts) {
      const account = accountKey(address)
      const a = byKey.get(toHex(account))!
      expect(equals(a.storageRoot, EMPTY_ROOT)).toBe(false)
      const storage = await fetchTrie(c, { root, account, maxBytes: 512 }, a.storageRoot)
      expect(storage.replies).toBeGreaterThan(1)
      const want = alloc.storage.map(([slot, v]) => [
        toHex(storageKey(slot)),
        toHex(rlpEncode(v)), // a storage leaf is the RLP of its (canonical) value
      ])
      expect(storage.leaves.map(([k, v]) => [toHex(k), toHex(v)])).toEqual(
        want.sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
      )
    }

    const hashes = contracts.map(([address]) => byKey.get(toHex(accountKey(address)))!.codeHash)
    const unknown = keccak256(Uint8Array.of(1, 2, 3))
    const codes = await c.code([...hashes, unknown])
    expect(codes).toHaveLength(hashes.length + 1)
    for (const [i, h] of hashes.entries()) expect(toHex(keccak256(codes[i]!))).toBe(toHex(h))
    expect(codes.map((x) => toHex(x)).slice(0, -1)).toEqual(contracts.map(([, a]) => toHex(a.code)))
    expect(codes[hashes.length]).toHaveLength(0)
    expect(hashes.some((h) => equals(h, EMPTY_CODE_HASH))).toBe(false)
  }, 120_000)

  it('a storage range of an account the state lacks is the empty trie', async () => {
    const c = peerOf(still)
    const root = await genesisRoot(c)
    const account = keccak256(Uint8Array.of(0xde, 0xad))
    const r = await c.range({ root, account, origin: ZERO, limit: LAST_KEY, maxBytes: 1024 })
    expect(r.keys).toHaveLength(0)
    expect(verifyRangeProof(EMPTY_ROOT, ZERO, r.keys, r.values, r.proof).hasMore).toBe(false)
  })

  it('a root outside the retention window is refused UNAVAILABLE; a retained one is served', async () => {
    const c = peerOf(producer)
    const root = await genesisRoot(c)
    await producer.waitHead(4, 60_000) // retain 2: genesis state is out of the window (and pruned)
    let refused: unknown
    try {
      await c.range({ root, origin: ZERO, limit: LAST_KEY, maxBytes: 1024 })
    } catch (e) {
      refused = e
    }
    expect(refused).toBeInstanceOf(ProtocolError)
    expect((refused as ProtocolError).code).toBe('PROTOCOL_UNAVAILABLE')
    expect(isUnavailable(refused)).toBe(true)
    await expect(
      c.range({ root, account: ZERO, origin: ZERO, limit: LAST_KEY, maxBytes: 1024 }),
    ).rejects.toSatisfy(isUnavailable)
    // Its head keeps moving: ask at its newest root until one answer lands inside the window.
    await vi.waitFor(
      async () => {
        const head = (await c.status()).headStateRoot
        const r = await c.range({ root: head, origin: ZERO, limit: LAST_KEY, maxBytes: 2048 })
        expect(verifyRangeProof(head, ZERO, r.keys, r.values, r.proof).hasMore).toBe(true)
      },
      { timeout: 30_000, interval: 50 },
    )
  }, 90_000)

  for (const mode of LIES)
    it(`corrupt-serve --mode ${mode}: its range replies do not verify`, async () => {
      const c = peerOf(liars[mode]!)
      const root = await genesisRoot(c)
      for (const maxBytes of [4096, 64 * 1024]) {
        const r = await c.range({ root, origin: ZERO, limit: LAST_KEY, maxBytes })
        expect(r.keys.length).toBeGreaterThan(2)
        expect(
          () => verifyRangeProof(root, ZERO, r.keys, r.values, r.proof),
          `${mode} at ${maxBytes}`,
        ).toThrow(ProofError)
      }
      // The liar counted its lies (its stdout events arrive on their own schedule).
      await expect
        .poll(() => liars[mode]!.events.filter((e) => e.event === 'corrupted').length)
        .toBeGreaterThanOrEqual(2)
    }, 60_000)

  it('corrupt-serve --mode range-unavailable refuses every root UNAVAILABLE (a peer lacking it)', async () => {
    const c = peerOf(liars['range-unavailable']!)
    const root = await genesisRoot(c)
    await expect(c.range({ root, origin: ZERO, limit: LAST_KEY, maxBytes: 1024 })).rejects.toSatisfy(
      isUnavailable,
    )
  })

  it('a peer that does not speak the range protocol is reported as lacking the root, not as failing', async () => {
    // A libp2p node with no rootsync handlers: protocol negotiation for /rootsync/range/1 fails.
    const bare = await createServingLibp2p(await generateKeyPair('Ed25519'), ['/ip4/127.0.0.1/tcp/0/ws'])
    try {
      const c = new PeerClient(client, bare.getMultiaddrs()[0]!, { timeoutMs: 30_000 })
      clients.push(c)
      await expect(c.range({ root: ZERO, origin: ZERO, limit: LAST_KEY, maxBytes: 1024 })).rejects.toSatisfy(
        isUnavailable,
      )
      await expect(c.code([ZERO])).rejects.toSatisfy(isUnavailable)
      // Other protocols keep their meaning: a dial failure.
      await expect(c.status()).rejects.toBeInstanceOf(PeerRequestError)
    } finally {
      await bare.stop()
    }
  })
})
