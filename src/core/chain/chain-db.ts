/**
 * The chain as a node keeps it: genesis facts, signed headers and blocks by height, the validator
 * sets headers commit to (by hash), and the head, all as metadata in the node store next to the state
 * they describe.
 *
 * `importBlock` verifies a block against its parent: the link, that it is signed by the set its
 * parent named as next (`validatorsHash == head.nextValidatorsHash`, every signature up to the quorum
 * checked), that its validator updates turn that set into the one its header names as next, and its
 * transactions (by re-applying them to reach its state root). It then writes the new state nodes, the
 * header, the block, the new validator set and the new head in ONE atomic batch: after a crash the
 * store holds either the old head with its state and sets or the new head with its own, never a head
 * whose state or validator set is missing.
 *
 * Security considerations: a validator set is only stored as the outcome of a verified transition
 * from the genesis set, so every set a serving node hands out (`lightBlock`) hashes to what its
 * header commits to. Record format 2 (headers that commit to validator sets) cannot be mixed with
 * data written by an older rootsync: such a directory is refused, not reinterpreted.
 */
import { bytesToNumber, equals, fromHex, numberToBytes, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { META } from '../meta-keys.ts'
import { asBytes, asList, rlpDecode, rlpEncode } from '../rlp.ts'
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
import type { StateCommit } from './state.ts'
import { StateDB } from './state.ts'
import {
  applyValidatorUpdates,
  type LightBlockReply,
  lightBlockReply,
  type ValidatorSet,
  validatorSetHash,
  verifyHeaderSignatures,
} from './validators.ts'

/** The chain's metadata keys (meta-keys.ts); `chain` holds JSON: ChainRecord. */
const K = {
  chain: META.chain,
  head: META.chainHead,
  header: META.header,
  block: META.block,
  set: (hash: Uint8Array) => META.validatorSet(toHex(hash)),
}

/** Headers commit to validator sets (validatorsHash, nextValidatorsHash; 8-item RLP). */
export const CHAIN_FORMAT = 2

interface ChainRecord {
  format: typeof CHAIN_FORMAT
  chainId: number
  /** The genesis validator set (0x addresses). */
  validators: string[]
  genesisHash: string
}

export interface ChainInfo {
  chainId: number
  /** The genesis validator set. */
  validators: Uint8Array[]
  genesisHash: Uint8Array
}

/** A block and the state it leads to, computed by the caller (see `appendBlocks`). */
export interface ComputedBlock {
  block: Block
  commit: StateCommit
}

/** Validator sets kept in memory by hash (the head's two, and a few recent ones for serving). */
const SET_CACHE = 64

const encodeSet = (set: ValidatorSet): Uint8Array => rlpEncode(set)
const decodeSet = (bytes: Uint8Array): ValidatorSet =>
  asList(rlpDecode(bytes), 'validator set').map((a) => asBytes(a, 'validator', 20))

/** `child` must be signed by the set `parent` named as next (else BAD_VALIDATOR_SET). */
function checkSigningSet(parent: Header, child: Header): void {
  if (!equals(child.validatorsHash, parent.nextValidatorsHash))
    throw new ChainError(
      'BAD_VALIDATOR_SET',
      `block ${child.number} names another validator set than its parent named as next`,
      { number: child.number },
    )
}

export class ChainDB {
  private headCache: SignedHeader | null = null
  private readonly sets = new Map<string, ValidatorSet>()
  private constructor(
    readonly store: NodeStore,
    readonly info: ChainInfo,
  ) {}

  /**
   * Opens the chain in `store`, initializing it from `genesis` if the store is empty. A store that
   * already holds another chain is refused (CHAIN_MISMATCH), and so is one written by an older
   * rootsync (CHAIN_FORMAT). `name` says where the store lives, for those messages.
   */
  static async open(store: NodeStore, genesis?: Genesis, name = 'the data directory'): Promise<ChainDB> {
    const existing = await store.getMeta(K.chain)
    if (existing) {
      const j = JSON.parse(new TextDecoder().decode(existing)) as Partial<ChainRecord>
      if (j.format !== CHAIN_FORMAT)
        throw new RootsyncError(
          'CHAIN_FORMAT',
          `${name} was written by an older rootsync (header format ${j.format ?? 1}); delete it and start again`,
          { format: j.format ?? 1 },
        )
      const info: ChainInfo = {
        chainId: j.chainId!,
        validators: j.validators!.map((v) => fromHex(v)),
        genesisHash: fromHex(j.genesisHash!),
      }
      if (genesis) {
        const gh = headerHash(genesisHeader(genesis, genesisStateRoot(genesis)))
        if (toHex(gh) !== j.genesisHash)
          throw new RootsyncError(
            'CHAIN_MISMATCH',
            `${name} holds chain ${j.genesisHash}, not this genesis (${toHex(gh)})`,
          )
      }
      return new ChainDB(store, info)
    }
    if (!genesis) throw new RootsyncError('NO_GENESIS', `${name} is empty and no genesis was given`)
    if (!genesis.validators.length)
      throw new ChainError(
        'BAD_GENESIS',
        'the genesis lists no validators: a chain needs a validator set to sign its blocks',
      )
    const nodes: [Uint8Array, Uint8Array][] = []
    const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
    const header = genesisHeader(genesis, root)
    const info: ChainInfo = {
      chainId: genesis.chainId,
      validators: genesis.validators,
      genesisHash: headerHash(header),
    }
    const record: ChainRecord = {
      format: CHAIN_FORMAT,
      chainId: info.chainId,
      validators: info.validators.map(toHex),
      genesisHash: toHex(info.genesisHash),
    }
    // Nodes first in their own batches (a genesis can be large); the chain record last, so a crash
    // before it leaves a store that initializes again from scratch.
    for (let i = 0; i < nodes.length; i += 50_000) await store.write({ nodes: nodes.slice(i, i + 50_000) })
    await store.write({
      meta: [
        [K.header(0), encodeSignedHeader({ header, signatures: [] })],
        [K.set(header.validatorsHash), encodeSet(genesis.validators)],
        [K.head, numberToBytes(0)],
        [K.chain, new TextEncoder().encode(JSON.stringify(record))],
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

  /** The validator set with this hash; every set a stored header names is stored (else STORE_CORRUPT). */
  async validatorSet(hash: Uint8Array): Promise<ValidatorSet> {
    const key = toHex(hash)
    const cached = this.sets.get(key)
    if (cached) return cached
    const b = await this.store.getMeta(K.set(hash))
    if (!b) throw new RootsyncError('STORE_CORRUPT', `validator set ${key} is missing`)
    const set = decodeSet(b)
    this.remember(key, set)
    return set
  }

  private remember(key: string, set: ValidatorSet): void {
    if (this.sets.size >= SET_CACHE) this.sets.delete(this.sets.keys().next().value!)
    this.sets.set(key, set)
  }

  /** What `/rootsync/validators/1` serves for height `n`: its signed header and both sets; none above the head. */
  async lightBlock(n: number): Promise<LightBlockReply | undefined> {
    const head = await this.head()
    if (n > head.header.number) return undefined
    const signed = await this.header(n)
    if (!signed) return undefined
    return lightBlockReply({
      signed,
      validators: await this.validatorSet(signed.header.validatorsHash),
      nextValidators: await this.validatorSet(signed.header.nextValidatorsHash),
    })
  }

  /** The state at the head (or at `root`). */
  state(root?: Uint8Array): Promise<StateDB> | StateDB {
    if (root) return new StateDB(this.store, root)
    return this.head().then((h) => new StateDB(this.store, h.header.stateRoot))
  }

  /**
   * Verifies and applies `block` on the head (link, the set the head named signs it with a quorum,
   * its validator updates, its transactions), then stores it and moves the head, atomically.
   */
  async importBlock(block: Block): Promise<Header> {
    const head = await this.head()
    verifyLink(head.header, block.header)
    checkSigningSet(head.header, block.header)
    const current = await this.validatorSet(head.header.nextValidatorsHash)
    // Full nodes check every signature up to the quorum, against the set the chain says signs.
    verifyHeaderSignatures(this.info.chainId, block, current)
    const next = this.nextSet(current, block)
    const applied = await applyBlock(new StateDB(this.store, head.header.stateRoot), block, this.info.chainId)
    return this.write([{ block, commit: applied.commit }], [next])
  }

  /**
   * Stores a block whose state was already computed (the producer's own block). The caller vouches
   * for `commit` matching `block` and for its signatures; the validator-set transition is checked
   * here too (it is cheap). `importBlock` is the path for blocks from anyone else.
   */
  commitBlock(block: Block, commit: ComputedBlock['commit']): Promise<Header> {
    return this.appendBlocks([{ block, commit }])
  }

  /**
   * `commitBlock` for a run of consecutive blocks in one atomic batch (a chain generator's fast
   * path): each must follow the previous and make a valid validator-set transition.
   */
  async appendBlocks(blocks: ComputedBlock[]): Promise<Header> {
    if (!blocks.length) return (await this.head()).header
    let parent = (await this.head()).header
    // Each block's signing set is the previous one's outcome (not yet stored: it goes in this batch).
    let current = await this.validatorSet(parent.nextValidatorsHash)
    const nexts: ValidatorSet[] = []
    for (const { block } of blocks) {
      if (block.header.number !== parent.number + 1)
        throw new ChainError('BAD_PARENT', `block ${block.header.number} does not follow ${parent.number}`)
      checkSigningSet(parent, block.header)
      current = this.nextSet(current, block)
      nexts.push(current)
      parent = block.header
    }
    return this.write(blocks, nexts)
  }

  /** The set after `block`'s updates; it must be the one its header names as next. */
  private nextSet(current: ValidatorSet, block: Block): ValidatorSet {
    const h = block.header
    const next = block.validatorUpdates.length
      ? applyValidatorUpdates(current, block.validatorUpdates)
      : current
    if (!equals(validatorSetHash(this.info.chainId, next), h.nextValidatorsHash))
      throw new ChainError(
        'BAD_VALIDATOR_UPDATE',
        `block ${h.number}: its validator updates do not lead to the set its header names as next`,
        { number: h.number },
      )
    return next
  }

  /** One batch: state nodes, headers, blocks, new validator sets, and the head. */
  private async write(blocks: ComputedBlock[], nexts: ValidatorSet[]): Promise<Header> {
    const meta: [string, Uint8Array][] = []
    const nodes: [Uint8Array, Uint8Array][] = []
    blocks.forEach(({ block, commit }, i) => {
      const n = block.header.number
      for (const x of commit.nodes) nodes.push(x)
      meta.push([K.header(n), encodeSignedHeader(block)], [K.block(n), encodeBlock(block)])
      if (!equals(block.header.validatorsHash, block.header.nextValidatorsHash))
        meta.push([K.set(block.header.nextValidatorsHash), encodeSet(nexts[i]!)])
    })
    const last = blocks.at(-1)!.block
    meta.push([K.head, numberToBytes(last.header.number)])
    await this.store.write({ nodes, meta })
    for (const { commit } of blocks) commit.markStored()
    blocks.forEach(({ block }, i) => {
      this.remember(toHex(block.header.nextValidatorsHash), nexts[i]!)
    })
    this.headCache = { header: last.header, signatures: last.signatures }
    return last.header
  }
}
