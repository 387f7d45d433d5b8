/**
 * Validator rotation between real processes: a producer (`rootsync serve --produce` on a keys file
 * that rotates a validator every 3 blocks), a follower that imports the blocks over libp2p (checking
 * each against the set its parent named), and a lying node that serves validator sets that do not
 * hash to the header. A Node client asks each for `/rootsync/validators/1` replies.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { type LightBlockReply, lightBlockOf } from '../../src/core/chain/validators.ts'
import { encodeValidatorsResponse } from '../../src/core/protocol/messages.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { verifySequentially } from '../helpers/devnet-chain.ts'
import {
  CORRUPT_SERVE,
  type DevnetFiles,
  makeDevnetFiles,
  type NodeProc,
  startDevnetNodes,
  startNode,
  stopAllNodes,
} from '../helpers/nodes.ts'

const EVERY = 3
const CHANGES = 11
/** The first block signed by the set after the 11th change (block 33 carries it). */
const TARGET = EVERY * CHANGES + 1

let files: DevnetFiles
let producer: NodeProc
let follower: NodeProc
let liar: NodeProc
let client: Libp2p
const peers: PeerClient[] = []
const dial = (n: NodeProc) => {
  const p = new PeerClient(client, multiaddr(n.ws), { timeoutMs: 20_000 })
  peers.push(p)
  return p
}

beforeAll(async () => {
  files = makeDevnetFiles({ seed: 'rotation-cli', accounts: 300, contracts: 4, slots: 4, rotateEvery: EVERY })
  const nodes = await startDevnetNodes(files, { followers: 1, blockTime: 250, txs: 2 })
  producer = nodes[0]!
  follower = nodes[1]!
  liar = await startNode(
    'liar',
    `${files.dir}/liar`,
    ['--genesis', files.genesisFile, '--follow', producer.ws, '--mode', 'lie-validators'],
    { script: CORRUPT_SERVE },
  )
  client = await createClientLibp2p()
}, 120_000)

afterAll(async () => {
  for (const p of peers) p.close()
  await client?.stop()
  await stopAllNodes()
})

/** Light blocks 0…n from a node, in order (one request at a time, as a client verifying them would). */
async function lightBlocks(p: PeerClient, n: number): Promise<LightBlockReply[]> {
  const out: LightBlockReply[] = []
  for (let h = 0; h <= n; h++) out.push(await p.validators(h))
  return out
}

describe('validator rotation across real nodes', () => {
  it(`a follower imports across ${CHANGES} set changes and serves the same validators replies as the producer`, async () => {
    await follower.waitHead(TARGET, 90_000)
    const [fromProducer, fromFollower] = await Promise.all([
      lightBlocks(dial(producer), TARGET),
      lightBlocks(dial(follower), TARGET),
    ])
    expect(fromFollower.map((r) => toHex(encodeValidatorsResponse(r)))).toEqual(
      fromProducer.map((r) => toHex(encodeValidatorsResponse(r))),
    )
    const chainId = files.genesis.chainId
    const sets = new Set(fromFollower.map((r) => toHex(lightBlockOf(chainId, r).header.validatorsHash)))
    expect(sets.size).toBe(CHANGES + 1)
    // Verified header by header from genesis, each against the set its parent named as next.
    const g = genesisHeader(files.genesis, genesisStateRoot(files.genesis))
    const last = verifySequentially(chainId, g, fromFollower.slice(1))
    expect(last.header.number).toBe(TARGET)
    // None of the genesis validators signs the target any more.
    const genesisSet = new Set(files.genesis.validators.map(toHex))
    expect(fromFollower[TARGET]!.validators.filter((a) => genesisSet.has(toHex(a)))).toEqual([])
  }, 120_000)

  it('a node serving validator sets that do not hash to the header is caught (BAD_VALIDATOR_SET)', async () => {
    await liar.waitHead(EVERY + 1, 60_000)
    const p = dial(liar)
    const lie = await p.validators(EVERY + 1)
    // The header it sends is the real one; the set is not the one it commits to.
    const honest = await dial(producer).validators(EVERY + 1)
    expect(toHex(encodeValidatorsResponse({ ...lie, validators: [] }))).toBe(
      toHex(encodeValidatorsResponse({ ...honest, validators: [] })),
    )
    expect(() => lightBlockOf(files.genesis.chainId, lie)).toThrow(
      expect.objectContaining({ code: 'BAD_VALIDATOR_SET' }),
    )
    await expect
      .poll(() => liar.events.some((e) => e.event === 'corrupted' && e.kind === 'validators'))
      .toBe(true)
  }, 90_000)
})
