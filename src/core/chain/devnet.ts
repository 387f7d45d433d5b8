/**
 * A deterministic devnet: genesis and blocks generated from a seed string, so tests, benchmarks and
 * `rootsync devnet` rebuild the same chain anywhere.
 *
 * The genesis holds `accounts` plain accounts, `contracts` contracts (random code, `slots` storage
 * slots each) and a validator set. Only the first few accounts ("spenders") have known private keys
 * (deriving a key pair costs ~0.4 ms, too much for millions of accounts); blocks are made of
 * transfers from spenders to new and existing addresses, and storage writes into contracts.
 *
 * Validator rotation (`Rotation`): every `every` blocks one validator is replaced, in turn by slot,
 * by a fresh key derived from the seed like the genesis validators' keys. The rule is a pure function
 * of (seed, set size, every, height), so the producer, followers' tests, the benchmark generator and
 * the CLI all agree on which set signs which block without exchanging anything. Security note: a
 * devnet's validator keys are derivable by anyone who knows its seed; this is for development only.
 */
import { fromHex, toHex, utf8 } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { applyTransaction } from './apply.ts'
import { type Block, transactionsRoot } from './block.ts'
import type { Genesis } from './genesis.ts'
import { type Header, headerHash, signHeader } from './header.ts'
import { addressOf } from './keys.ts'
import { createRng, type Rng } from './rng.ts'
import type { StateCommit, StateDB } from './state.ts'
import { signTransaction, slotWord, type Transaction } from './tx.ts'
import { applyValidatorUpdates, type ValidatorSet, validatorSetHash } from './validators.ts'

export interface DevnetOptions {
  seed: string
  accounts: number
  contracts: number
  slots: number
  validators?: number
  chainId?: number
  timestamp?: number
}

export interface DevnetKeys {
  validators: Uint8Array[]
  spenders: Uint8Array[]
}

export const MAX_SPENDERS = 64
const ETHER = 10n ** 18n

const devnetKey = (seed: string, kind: string, i: number) =>
  keccak256(utf8(`rootsync-devnet/${seed}/${kind}/${i}`))

/** The private key of the devnet's validator number `i` (0…n-1 at genesis, n, n+1… as they rotate in). */
export const devnetValidatorKey = (seed: string, i: number): Uint8Array => devnetKey(seed, 'validator', i)

export function devnetKeys(seed: string, validators: number, spenders: number): DevnetKeys {
  const key = (kind: string, i: number) => devnetKey(seed, kind, i)
  return {
    validators: Array.from({ length: validators }, (_, i) => devnetValidatorKey(seed, i)),
    spenders: Array.from({ length: spenders }, (_, i) => key('spender', i)),
  }
}

export function generateDevnet(o: DevnetOptions): { genesis: Genesis; keys: DevnetKeys } {
  const rng = createRng(`genesis/${o.seed}`)
  const spenders = Math.min(o.accounts, MAX_SPENDERS)
  const keys = devnetKeys(o.seed, o.validators ?? 4, spenders)
  const alloc: Genesis['alloc'] = []
  const noCode = new Uint8Array(0)
  for (const k of keys.spenders)
    alloc.push([addressOf(k), { balance: 1_000_000n * ETHER, nonce: 0n, code: noCode, storage: [] }])
  for (let i = spenders; i < o.accounts; i++) {
    const balance = BigInt(1 + rng.int(1_000_000)) * 10n ** 15n
    alloc.push([rng.bytes(20), { balance, nonce: BigInt(rng.int(4)), code: noCode, storage: [] }])
  }
  for (let c = 0; c < o.contracts; c++) {
    const code = rng.bytes(32 + rng.int(224))
    code[0] = 0x60 // PUSH1: looks like bytecode, and is never all zeros
    const storage: [Uint8Array, bigint][] = []
    for (let s = 0; s < o.slots; s++)
      storage.push([slotWord(BigInt(s)), 1n + BigInt(rng.u32()) * BigInt(rng.u32())])
    alloc.push([rng.bytes(20), { balance: 0n, nonce: 1n, code, storage }])
  }
  return {
    genesis: {
      chainId: o.chainId ?? 1337,
      timestamp: o.timestamp ?? 1_700_000_000,
      validators: keys.validators.map(addressOf),
      alloc,
    },
    keys,
  }
}

/** How a devnet's validator set rotates; `every` = 0: never. */
export interface Rotation {
  seed: string
  /** The set's size (the genesis set's). */
  validators: number
  every: number
}

/** Rotations applied before block `height` is signed (block k·every carries rotation k). */
const rotationsBefore = (r: Rotation, height: number): number =>
  r.every > 0 && height > 1 ? Math.floor((height - 1) / r.every) : 0

/**
 * The key index of each slot in the set that signs block `height` (block h's update applies from
 * h + 1). Slot s was last replaced by the latest rotation k ≤ rotations with (k-1) mod n = s, which
 * brought key index n + k - 1.
 */
export function devnetSlotsAt(r: Rotation, height: number): number[] {
  const done = rotationsBefore(r, height)
  const n = r.validators
  return Array.from({ length: n }, (_, s) => {
    if (done <= s) return s
    const k = s + 1 + n * Math.floor((done - 1 - s) / n)
    return n + k - 1
  })
}

/**
 * The update block `height` carries: none unless `every` > 0 and `height` is a positive multiple of
 * it; then slot (k-1) mod n gets key index n + k - 1, with k = height / every.
 */
export function devnetUpdateAt(r: Rotation, height: number): { slot: number; keyIndex: number }[] {
  if (r.every <= 0 || height <= 0 || height % r.every !== 0) return []
  const k = height / r.every
  return [{ slot: (k - 1) % r.validators, keyIndex: r.validators + k - 1 }]
}

const addressCache = new Map<string, Uint8Array>()
const ADDRESS_CACHE_MAX = 1 << 16

/** `addressOf(key)`, memoised by key (the producer derives the same few addresses every block). */
function keyAddress(key: Uint8Array): Uint8Array {
  const k = toHex(key)
  let a = addressCache.get(k)
  if (!a) {
    if (addressCache.size >= ADDRESS_CACHE_MAX) addressCache.clear()
    a = addressOf(key)
    addressCache.set(k, a)
  }
  return a
}

/** The address of devnet validator `i` (memoised: deriving one costs ~0.4 ms). */
export const devnetValidatorAddress = (seed: string, i: number): Uint8Array =>
  keyAddress(devnetValidatorKey(seed, i))

/** The validator set (addresses) that signs block `height` under rotation `r`. */
export const devnetSetAt = (r: Rotation, height: number): ValidatorSet =>
  devnetSlotsAt(r, height).map((i) => devnetValidatorAddress(r.seed, i))

export interface BlockProducer {
  chainId: number
  keys: DevnetKeys
  /** Contract addresses storage writes go to. */
  contracts: Uint8Array[]
  txsPerBlock: number
  rotation: Rotation
}

/**
 * A producer for `genesis`. `rotation` (default: never) must name the seed the validator keys were
 * derived from when it rotates: future keys come from it. Without rotation, `keys.validators` sign.
 */
export function devnetProducer(
  genesis: Genesis,
  keys: DevnetKeys,
  txsPerBlock = 20,
  rotation: Omit<Rotation, 'validators'> = { seed: '', every: 0 },
): BlockProducer {
  return {
    chainId: genesis.chainId,
    keys,
    contracts: genesis.alloc.filter(([, a]) => a.code.length > 0).map(([addr]) => addr),
    txsPerBlock,
    rotation: { ...rotation, validators: genesis.validators.length },
  }
}

/** Validator `i`'s key: the given genesis keys first, later ones from the rotation's seed. */
const producerKey = (p: BlockProducer, i: number): Uint8Array =>
  p.keys.validators[i] ?? devnetValidatorKey(p.rotation.seed, i)

/** Validator `i`'s address: of the given genesis keys first, later ones derived from the seed. */
function producerAddress(p: BlockProducer, i: number): Uint8Array {
  const given = p.keys.validators[i]
  return given ? keyAddress(given) : devnetValidatorAddress(p.rotation.seed, i)
}

/**
 * Makes the next block on top of `parent` and `state`: generated transactions (deterministic for a
 * given seed, parent and state), applied, the rotation's validator update for this height in the
 * body, and the header signed by every validator of the current set, committing to it and the next.
 */
export async function produceBlock(
  p: BlockProducer,
  state: StateDB,
  parent: Header,
  timestamp: number,
): Promise<{ block: Block; state: StateDB; commit: StateCommit }> {
  // Seeded by height and parent state, not the parent's hash: the same genesis alloc gives the same
  // states whatever the genesis time (tests date their genesis now, and still get the same chain).
  const rng: Rng = createRng(`block/${parent.number + 1}/${toHex(parent.stateRoot)}`)
  const next = state.copy()
  const txs: Transaction[] = []
  for (let i = 0; i < p.txsPerBlock; i++) {
    const key = p.keys.spenders[rng.int(p.keys.spenders.length)]!
    const from = keyAddress(key)
    const sender = await next.getAccount(from)
    if (!sender) continue
    const wantsWrite = p.contracts.length > 0 && rng.int(2) === 0
    const to = wantsWrite ? p.contracts[rng.int(p.contracts.length)]! : rng.bytes(20)
    const writes = wantsWrite
      ? Array.from({ length: 1 + rng.int(4) }, () => ({
          slot: slotWord(BigInt(rng.int(64))),
          value: rng.int(8) === 0 ? 0n : BigInt(rng.u32()) + 1n,
        }))
      : []
    const value = BigInt(1 + rng.int(1000)) * 10n ** 12n
    const tx = signTransaction({ chainId: p.chainId, nonce: sender.nonce, to, value, writes }, key)
    await applyTransaction(next, p.chainId, tx, txs.length)
    txs.push(tx)
  }
  const commit = await next.commit()
  const height = parent.number + 1
  const slots = devnetSlotsAt(p.rotation, height)
  const current = slots.map((i) => producerAddress(p, i))
  const validatorUpdates = devnetUpdateAt(p.rotation, height).map((u) => ({
    slot: u.slot,
    address: producerAddress(p, u.keyIndex),
  }))
  const nextSet = applyValidatorUpdates(current, validatorUpdates)
  const header: Header = {
    parentHash: headerHash(parent),
    number: height,
    stateRoot: commit.root,
    txRoot: await transactionsRoot(txs),
    timestamp: Math.max(timestamp, parent.timestamp),
    validatorsHash: validatorSetHash(p.chainId, current),
    nextValidatorsHash: validatorSetHash(p.chainId, nextSet),
    extra: new Uint8Array(0),
  }
  // Every current validator signs, as a healthy network's would.
  const signed = signHeader(
    p.chainId,
    header,
    slots.map((i, index) => ({ index, key: producerKey(p, i) })),
  )
  return {
    block: { header, signatures: signed.signatures, transactions: txs, validatorUpdates },
    state: next,
    commit,
  }
}

/** A devnet's keys.json: the validator and spender keys, the seed they come from and the rotation. */
export interface KeysFile {
  keys: DevnetKeys
  seed: string
  /** Blocks between validator rotations (0: never). */
  rotateEvery: number
}

export const keysFileJson = (k: KeysFile) => ({
  seed: k.seed,
  rotateEvery: k.rotateEvery,
  validators: k.keys.validators.map(toHex),
  spenders: k.keys.spenders.map(toHex),
})

/**
 * Parses keys.json. Files from before rotation (no `seed`, no `rotateEvery`) do not rotate. A file
 * that rotates must name its seed: the producer derives the validators that rotate in from it.
 */
export function parseKeysFile(json: unknown, file: string): KeysFile {
  const j = (json ?? {}) as Record<string, unknown>
  const hexList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string')
  if (!hexList(j.validators) || !hexList(j.spenders))
    throw new RootsyncError(
      'BAD_KEYS',
      `${file} must hold { "validators": [hex keys], "spenders": [hex keys] }`,
    )
  const rotateEvery = j.rotateEvery ?? 0
  if (typeof rotateEvery !== 'number' || !Number.isSafeInteger(rotateEvery) || rotateEvery < 0)
    throw new RootsyncError('BAD_KEYS', `${file}: "rotateEvery" must be an integer ≥ 0`)
  if (j.seed !== undefined && typeof j.seed !== 'string')
    throw new RootsyncError('BAD_KEYS', `${file}: "seed" must be a string`)
  if (rotateEvery > 0 && typeof j.seed !== 'string')
    throw new RootsyncError('BAD_KEYS', `${file} rotates validators but names no "seed" to derive them from`)
  return {
    keys: {
      validators: (j.validators as string[]).map((x) => fromHex(x, 'validator key')),
      spenders: (j.spenders as string[]).map((x) => fromHex(x, 'spender key')),
    },
    seed: (j.seed as string | undefined) ?? '',
    rotateEvery,
  }
}
