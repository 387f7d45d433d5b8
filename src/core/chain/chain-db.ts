/**
 * The chain as a node keeps it: genesis facts, signed headers and blocks by height, and the head, all
 * as metadata in the node store next to the state they describe.
 *
 * `importBlock` verifies a block against its parent (link, validator quorum), applies it, and writes
 * the new state nodes, the header, the block and the new head in ONE atomic batch: after a crash the
 * store holds either the old head with its state or the new head with its state, never a head whose
 * state is missing.
 */
import { bytesToNumber, equals, fromHex, numberToBytes, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { META } from '../meta-keys.ts'
import type { NodeStore } from '../store.ts'
import { applyBlock } from './apply.ts'
import { type Block, decodeBlock, encodeBlock } from './block.ts'
import { ChainError } from './errors.ts'
import { type Genesis, genesisHeader, genesisStateRoot } from './genesis.ts'
import {
  decodeSignedHeader,
  encodeSignedHeader,
  type Header,
  headerHash,
  type SignedHeader,
  verifyLink,
} from './header.ts'
import { StateDB } from './state.ts'
import { validatorSetHash, verifyHeaderSignatures } from './validators.ts'

/** The chain's metadata keys (meta-keys.ts); `chain` holds JSON: { chainId, validators[], genesisHash }. */
const K = { chain: META.chain, head: META.chainHead, header: META.header, block: META.block }

export interface ChainInfo {
  chainId: number
  validators: Uint8Array[]
  genesisHash: Uint8Array
}

export class ChainDB {
  private headCache: SignedHeader | null = null
  private constructor(
    readonly store: NodeStore,
    readonly info: ChainInfo,
  ) {}

  /**
   * Opens the chain in `store`, initializing it from `genesis` if the store is empty. A store that
   * already holds another chain is refused.
   */
  static async open(store: NodeStore, genesis?: Genesis): Promise<ChainDB> {
    const existing = await store.getMeta(K.chain)
    if (existing) {
      const j = JSON.parse(new TextDecoder().decode(existing)) as {
        chainId: number
        validators: string[]
        genesisHash: string
      }
      const info: ChainInfo = {
        chainId: j.chainId,
        validators: j.validators.map((v) => fromHex(v)),
        genesisHash: fromHex(j.genesisHash),
      }
      if (genesis) {
        const gh = headerHash(genesisHeader(genesis, genesisStateRoot(genesis)))
        if (toHex(gh) !== j.genesisHash)
          throw new RootsyncError(
            'CHAIN_MISMATCH',
            `the data directory holds chain ${j.genesisHash}, not this genesis (${toHex(gh)})`,
          )
      }
      return new ChainDB(store, info)
    }
    if (!genesis)
      throw new RootsyncError('NO_GENESIS', 'the data directory is empty and no genesis was given')
    const nodes: [Uint8Array, Uint8Array][] = []
    const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
    const header = genesisHeader(genesis, root)
    const info: ChainInfo = {
      chainId: genesis.chainId,
      validators: genesis.validators,
      genesisHash: headerHash(header),
    }
    const infoJson = JSON.stringify({
      chainId: info.chainId,
      validators: info.validators.map(toHex),
      genesisHash: toHex(info.genesisHash),
    })
    // Nodes first in their own batches (a genesis can be large); the chain record last, so a crash
    // before it leaves a store that initializes again from scratch.
    for (let i = 0; i < nodes.length; i += 50_000) await store.write({ nodes: nodes.slice(i, i + 50_000) })
    await store.write({
      meta: [
        [K.header(0), encodeSignedHeader({ header, signatures: [] })],
        [K.head, numberToBytes(0)],
        [K.chain, new TextEncoder().encode(infoJson)],
      ],
    })
    return new ChainDB(store, info)
  }

  async head(): Promise<SignedHeader> {
    if (this.headCache) return this.headCache
    const n = await this.store.getMeta(K.head)
    if (!n) throw new RootsyncError('STORE_CORRUPT', 'chain record present but no head')
    const h = await this.header(bytesToNumber(n))
    if (!h) throw new RootsyncError('STORE_CORRUPT', `head header ${bytesToNumber(n)} is missing`)
    this.headCache = h
    return h
  }

  async header(n: number): Promise<SignedHeader | undefined> {
    const b = await this.store.getMeta(K.header(n))
    return b ? decodeSignedHeader(b) : undefined
  }

  async block(n: number): Promise<Block | undefined> {
    const b = await this.store.getMeta(K.block(n))
    return b ? decodeBlock(b) : undefined
  }

  /** The state at the head (or at `root`). */
  state(root?: Uint8Array): Promise<StateDB> | StateDB {
    if (root) return new StateDB(this.store, root)
    return this.head().then((h) => new StateDB(this.store, h.header.stateRoot))
  }

  /** Verifies and applies `block` on the head, then stores it and moves the head, atomically. */
  async importBlock(block: Block): Promise<Header> {
    const head = await this.head()
    verifyLink(head.header, block.header)
    // The set never changes yet: every header names the genesis set for itself and the next.
    const setHash = validatorSetHash(this.info.chainId, this.info.validators)
    if (
      !equals(block.header.validatorsHash, head.header.nextValidatorsHash) ||
      !equals(block.header.nextValidatorsHash, setHash)
    )
      throw new ChainError('BAD_VALIDATOR_SET', `block ${block.header.number} names another validator set`)
    if (block.validatorUpdates.length)
      throw new ChainError('BAD_VALIDATOR_UPDATE', `block ${block.header.number} changes the validator set`)
    verifyHeaderSignatures(this.info.chainId, block, this.info.validators)
    const applied = await applyBlock(new StateDB(this.store, head.header.stateRoot), block, this.info.chainId)
    return this.commitBlock(block, applied.commit)
  }

  /**
   * Stores a block whose state was already computed (the producer's own block). The caller vouches
   * for `commit` matching `block`; `importBlock` is the path for blocks from anyone else.
   */
  async commitBlock(
    block: Block,
    commit: { root: Uint8Array; nodes: [Uint8Array, Uint8Array][]; markStored: () => void },
  ): Promise<Header> {
    const head = await this.head()
    if (block.header.number !== head.header.number + 1)
      throw new ChainError(
        'BAD_PARENT',
        `block ${block.header.number} does not follow head ${head.header.number}`,
      )
    await this.store.write({
      nodes: commit.nodes,
      meta: [
        [K.header(block.header.number), encodeSignedHeader(block)],
        [K.block(block.header.number), encodeBlock(block)],
        [K.head, numberToBytes(block.header.number)],
      ],
    })
    commit.markStored()
    this.headCache = { header: block.header, signatures: block.signatures }
    return block.header
  }
}
