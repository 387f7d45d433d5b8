/**
 * An in-memory devnet chain for light-client tests: the genesis state in a memory store, `blocks`
 * produced and signed on top of it (more with `extend`), and the configuration that trusts its
 * genesis. The store holds every state the chain went through, so a test peer can serve any of them.
 * With `rotateEvery` a validator is replaced every that many blocks (the devnet's rotation rule), and
 * `lightBlock(n)` is what a serving node answers on `/rootsync/validators/1` for height n.
 */

import { equals, toHex } from '../../src/core/bytes.ts'
import type { Block } from '../../src/core/chain/block.ts'
import {
  type DevnetOptions,
  devnetProducer,
  devnetSetAt,
  generateDevnet,
  produceBlock,
} from '../../src/core/chain/devnet.ts'
import { ChainError } from '../../src/core/chain/errors.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { type Header, headerHash, type SignedHeader, verifyLink } from '../../src/core/chain/header.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import {
  type LightBlockReply,
  lightBlockOf,
  lightBlockReply,
  verifyHeaderSignatures,
} from '../../src/core/chain/validators.ts'
import type { BootstrapConfig } from '../../src/core/light/config.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'

export async function makeDevnetChain(
  devnet: DevnetOptions,
  blocks: number,
  txPerBlock: number,
  opts: { rotateEvery?: number } = {},
) {
  const { genesis, keys } = generateDevnet(devnet)
  const store = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await store.write({ nodes })
  const headers: SignedHeader[] = [{ header: genesisHeader(genesis, root), signatures: [] }]
  /** produced[n] is block n (produced[0]: the genesis, without transactions). */
  const produced: Block[] = [{ ...headers[0]!, transactions: [], validatorUpdates: [] }]
  const producer = devnetProducer(genesis, keys, txPerBlock, {
    seed: devnet.seed,
    every: opts.rotateEvery ?? 0,
  })
  let state = new StateDB(store, root)
  const extend = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const parent = headers.at(-1)!.header
      const b = await produceBlock(producer, state, parent, parent.timestamp + 1)
      await store.write({ nodes: b.commit.nodes })
      b.commit.markStored()
      state = b.state
      headers.push({ header: b.block.header, signatures: b.block.signatures })
      produced.push(b.block)
    }
  }
  await extend(blocks)
  const genesisHash = toHex(headerHash(headers[0]!.header))
  const config: BootstrapConfig = {
    chainId: genesis.chainId,
    genesisHash,
    checkpoint: { number: 0, hash: genesisHash },
    validators: genesis.validators.map(toHex),
    peers: [],
  }
  return {
    genesis,
    keys,
    store,
    headers,
    blocks: produced,
    config,
    extend,
    head: () => headers.at(-1)!.header,
    rotation: producer.rotation,
    /** The signed header at `n` with the set that signs it and the next, as a server replies (none above the head). */
    lightBlock: (n: number): LightBlockReply | undefined =>
      headers[n] &&
      lightBlockReply({
        signed: headers[n]!,
        validators: devnetSetAt(producer.rotation, n),
        nextValidators: devnetSetAt(producer.rotation, n + 1),
      }),
  }
}

/**
 * Verifies light blocks one after another from `trusted` (what a client without skipping would do):
 * each links to the previous header, its served sets hash to what its header commits to, its own set
 * is the one the previous header named as next, and a quorum of that set signed it. Returns the last.
 */
export function verifySequentially(
  chainId: number,
  trusted: Header,
  replies: LightBlockReply[],
): { header: Header; hash: Uint8Array } {
  let prev = trusted
  for (const r of replies) {
    verifyLink(prev, r.signed.header)
    const lb = lightBlockOf(chainId, r)
    if (!equals(lb.header.validatorsHash, prev.nextValidatorsHash))
      throw new ChainError('BAD_VALIDATOR_SET', `header ${lb.header.number} is signed by an unexpected set`)
    verifyHeaderSignatures(chainId, lb.signed, lb.validators)
    prev = lb.header
  }
  return { header: prev, hash: headerHash(prev) }
}
