/**
 * An in-memory devnet chain for light-client tests: the genesis state in a memory store, `blocks`
 * produced and signed on top of it (more with `extend`), and the configuration that trusts its
 * genesis. The store holds every state the chain went through, so a test peer can serve any of them.
 */

import { toHex } from '../../src/core/bytes.ts'
import type { Block } from '../../src/core/chain/block.ts'
import {
  type DevnetOptions,
  devnetProducer,
  generateDevnet,
  produceBlock,
} from '../../src/core/chain/devnet.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash, type SignedHeader } from '../../src/core/chain/header.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import type { BootstrapConfig } from '../../src/core/light/config.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'

export async function makeDevnetChain(devnet: DevnetOptions, blocks: number, txPerBlock: number) {
  const { genesis, keys } = generateDevnet(devnet)
  const store = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await store.write({ nodes })
  const headers: SignedHeader[] = [{ header: genesisHeader(genesis, root), signatures: [] }]
  /** produced[n] is block n (produced[0]: the genesis, without transactions). */
  const produced: Block[] = [{ ...headers[0]!, transactions: [], validatorUpdates: [] }]
  const producer = devnetProducer(genesis, keys, txPerBlock)
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
  }
}
