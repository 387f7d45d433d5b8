/**
 * Genesis files in geth's `genesis.json` shape: `config.chainId`, `timestamp`, and `alloc` mapping
 * addresses to `{ balance, nonce?, code?, storage? }` (numbers as hex or decimal strings), plus
 * rootsync's `validators` (the addresses whose 2/3 signatures finalize headers).
 *
 * The state root is computed with the stack root builder (sorted secure keys), so a genesis with
 * millions of accounts needs memory for its entries only, not for a trie. The genesis header's
 * `validatorsHash` and `nextValidatorsHash` commit to the chain id and the validator set, so the
 * genesis hash alone pins both: a light client whose checkpoint is the genesis hash cannot be handed
 * another validator set.
 */
import { type Account, EMPTY_CODE_HASH, encodeAccount, encodeStorageValue } from '../account.ts'
import { bigintToBytes, compare, fromHex, fromHexExact, padLeft, toHex } from '../bytes.ts'
import { keccak256 } from '../hash.ts'
import { EMPTY_ROOT_HASH } from '../trie/constants.ts'
import { buildRoot } from '../trie/root-builder.ts'
import { ChainError } from './errors.ts'
import type { Header } from './header.ts'
import { checkValidatorSet, validatorSetHash } from './validators.ts'

export { validatorSetHash }

export interface GenesisAccount {
  balance: bigint
  nonce: bigint
  code: Uint8Array
  /** slot word → value (zero values are dropped) */
  storage: [Uint8Array, bigint][]
}

export interface Genesis {
  chainId: number
  timestamp: number
  validators: Uint8Array[]
  alloc: [address: Uint8Array, GenesisAccount][]
}

/** The JSON shape (what `rootsync devnet` writes and geth reads). */
export interface GenesisJson {
  config: { chainId: number; [k: string]: unknown }
  timestamp?: string | number
  validators?: string[]
  alloc: Record<
    string,
    { balance?: string; nonce?: string | number; code?: string; storage?: Record<string, string> }
  >
  [k: string]: unknown
}

function bad(message: string): ChainError {
  return new ChainError('BAD_GENESIS', message)
}

function parseQuantity(v: unknown, what: string): bigint {
  if (v === undefined || v === null || v === '') return 0n
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
  if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) return BigInt(v)
  throw bad(`${what}: expected a non-negative number as a decimal or 0x-hex string, got ${JSON.stringify(v)}`)
}

export function parseGenesis(json: unknown): Genesis {
  if (!json || typeof json !== 'object') throw bad('genesis: expected a JSON object')
  const g = json as GenesisJson
  const chainId = g.config?.chainId
  if (!Number.isSafeInteger(chainId) || chainId <= 0)
    throw bad('genesis: config.chainId must be a positive integer')
  if (!g.alloc || typeof g.alloc !== 'object') throw bad('genesis: missing "alloc"')
  const wrap = <T>(what: string, f: () => T): T => {
    try {
      return f()
    } catch (e) {
      throw e instanceof ChainError ? e : bad(`${what}: ${(e as Error).message}`)
    }
  }
  const alloc: Genesis['alloc'] = Object.entries(g.alloc).map(([addr, a]) => {
    const where = `alloc ${addr}`
    const address = wrap(where, () => fromHexExact(addr.startsWith('0x') ? addr : `0x${addr}`, 20, 'address'))
    if (!a || typeof a !== 'object') throw bad(`${where}: expected an object`)
    const storage = Object.entries(a.storage ?? {})
      .map(([k, v]): [Uint8Array, bigint] => [
        wrap(`${where} storage key ${k}`, () => padLeft(fromHex(k), 32)),
        parseQuantity(v, `${where} storage ${k}`),
      ])
      .filter(([k, v]) => {
        if (k.length !== 32) throw bad(`${where}: storage key longer than 32 bytes`)
        return v !== 0n
      })
    return [
      address,
      {
        balance: parseQuantity(a.balance, `${where} balance`),
        nonce: parseQuantity(a.nonce, `${where} nonce`),
        code: a.code ? wrap(`${where} code`, () => fromHex(a.code!)) : new Uint8Array(0),
        storage,
      },
    ]
  })
  const validators = (g.validators ?? []).map((v, i) =>
    wrap(`validators[${i}]`, () => fromHexExact(v, 20, 'validator')),
  )
  // A genesis without validators still has a state root (geth's files: `rootsync genesis-root`);
  // a chain cannot start from one (ChainDB.open refuses it).
  if (validators.length) {
    try {
      checkValidatorSet(validators, 'genesis: validators')
    } catch (e) {
      throw bad((e as Error).message)
    }
  }
  return { chainId, timestamp: Number(parseQuantity(g.timestamp, 'timestamp')), validators, alloc }
}

export type NodeSink = (hash: Uint8Array, bytes: Uint8Array) => void

/** The genesis state root; every trie node and code blob is handed to `onNode` if given. */
export function genesisStateRoot(genesis: Genesis, onNode?: NodeSink): Uint8Array {
  const leaves: [Uint8Array, Uint8Array][] = genesis.alloc.map(([address, a]) => {
    let storageRoot = EMPTY_ROOT_HASH
    if (a.storage.length) {
      const slots = a.storage
        .map(([k, v]): [Uint8Array, Uint8Array] => [keccak256(k), encodeStorageValue(bigintToBytes(v))])
        .sort((x, y) => compare(x[0], y[0]))
      storageRoot = buildRoot(slots, onNode)
    }
    let codeHash = EMPTY_CODE_HASH
    if (a.code.length) {
      codeHash = keccak256(a.code)
      onNode?.(codeHash, a.code)
    }
    const account: Account = { nonce: a.nonce, balance: a.balance, storageRoot, codeHash }
    return [keccak256(address), encodeAccount(account)]
  })
  leaves.sort((x, y) => compare(x[0], y[0]))
  for (let i = 1; i < leaves.length; i++) {
    if (compare(leaves[i - 1]![0], leaves[i]![0]) === 0)
      throw bad('genesis: an address appears twice in alloc')
  }
  return buildRoot(leaves, onNode)
}

export function genesisHeader(genesis: Genesis, stateRoot: Uint8Array): Header {
  return {
    parentHash: new Uint8Array(32),
    number: 0,
    stateRoot,
    txRoot: EMPTY_ROOT_HASH,
    timestamp: genesis.timestamp,
    validatorsHash: validatorSetHash(genesis.chainId, genesis.validators),
    nextValidatorsHash: validatorSetHash(genesis.chainId, genesis.validators),
    extra: new Uint8Array(0),
  }
}

export function genesisToJson(g: Genesis): GenesisJson {
  const hex = (n: bigint) => `0x${n.toString(16)}`
  return {
    config: { chainId: g.chainId },
    timestamp: hex(BigInt(g.timestamp)),
    validators: g.validators.map(toHex),
    alloc: Object.fromEntries(
      g.alloc.map(([addr, a]) => [
        toHex(addr),
        {
          balance: hex(a.balance),
          ...(a.nonce ? { nonce: hex(a.nonce) } : {}),
          ...(a.code.length ? { code: toHex(a.code) } : {}),
          ...(a.storage.length
            ? {
                storage: Object.fromEntries(
                  a.storage.map(([k, v]) => [toHex(k), toHex(padLeft(bigintToBytes(v), 32))]),
                ),
              }
            : {}),
        },
      ]),
    ),
  }
}
