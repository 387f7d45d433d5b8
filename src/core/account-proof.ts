/**
 * EIP-1186 account and storage proofs (the shape of `eth_getProof`), and their verification against
 * a state root.
 *
 * Security considerations: the claimed fields (balance, nonce, storageHash, codeHash, storage values)
 * are never believed; they are compared with what the proof nodes, authenticated from the state root,
 * actually contain. A proof of absence is accepted only as a walk that provably leaves the trie, and
 * an absent account must claim the empty account.
 */
import {
  type Account,
  accountKey,
  decodeAccount,
  decodeStorageValue,
  EMPTY_CODE_HASH,
  EMPTY_ROOT,
  storageKey,
} from './account.ts'
import { equals, fromHex, fromHexExact, padLeft, toHex } from './bytes.ts'
import { ProofError } from './errors.ts'
import { verifyProof } from './trie/proof.ts'

export interface StorageProof {
  /** The slot as given (up to 32 bytes; left-padded to a word before hashing). */
  key: Uint8Array
  value: bigint
  proof: Uint8Array[]
}

export interface AccountProof {
  address: Uint8Array
  balance: bigint
  nonce: bigint
  codeHash: Uint8Array
  storageHash: Uint8Array
  accountProof: Uint8Array[]
  storageProof: StorageProof[]
}

export interface VerifiedAccount {
  address: Uint8Array
  /** `null` when the proof shows the account does not exist. */
  account: Account | null
  storage: { key: Uint8Array; value: bigint }[]
}

const quantity = (s: unknown, what: string): bigint => {
  if (typeof s !== 'string' || !/^0x[0-9a-fA-F]+$/.test(s))
    throw new ProofError('MALFORMED', `${what}: expected a hex quantity`)
  return BigInt(s)
}

/** Parses the JSON result of `eth_getProof`. Malformed input is a `ProofError('MALFORMED')`. */
export function parseAccountProofJson(json: unknown): AccountProof {
  const o = json as Record<string, unknown>
  if (!o || typeof o !== 'object') throw new ProofError('MALFORMED', 'proof: expected an object')
  const list = (v: unknown, what: string): Uint8Array[] => {
    if (!Array.isArray(v)) throw new ProofError('MALFORMED', `${what}: expected an array`)
    return v.map((x, i) => hexField(x, `${what}[${i}]`))
  }
  const storage = o.storageProof ?? []
  if (!Array.isArray(storage)) throw new ProofError('MALFORMED', 'storageProof: expected an array')
  return {
    address: hexField(o.address, 'address', 20),
    balance: quantity(o.balance, 'balance'),
    nonce: quantity(o.nonce, 'nonce'),
    codeHash: hexField(o.codeHash, 'codeHash', 32),
    storageHash: hexField(o.storageHash, 'storageHash', 32),
    accountProof: list(o.accountProof, 'accountProof'),
    storageProof: storage.map((s: Record<string, unknown>, i: number) => {
      const key = hexQuantityBytes(s?.key, `storageProof[${i}].key`)
      return {
        key,
        value: quantity(s?.value, `storageProof[${i}].value`),
        proof: list(s?.proof, `storageProof[${i}].proof`),
      }
    }),
  }
}

function hexField(v: unknown, what: string, length?: number): Uint8Array {
  try {
    if (typeof v !== 'string') throw new Error('expected a hex string')
    return length === undefined ? fromHex(v, what) : fromHexExact(v, length, what)
  } catch (e) {
    throw new ProofError('MALFORMED', `${what}: ${(e as Error).message}`)
  }
}

/** A storage key as JSON-RPC gives it: a quantity ("0x0") or a full word. */
function hexQuantityBytes(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(v))
    throw new ProofError('MALFORMED', `${what}: expected a hex slot`)
  const digits = v.slice(2)
  return fromHex(digits.length % 2 ? `0${digits}` : digits)
}

/** Verifies `p` against `stateRoot`; returns the proven account and storage values. */
export function verifyAccountProof(stateRoot: Uint8Array, p: AccountProof): VerifiedAccount {
  const leaf = verifyProof(stateRoot, accountKey(p.address), p.accountProof)
  let account: Account | null = null
  let storageRoot = EMPTY_ROOT
  if (leaf) {
    try {
      account = decodeAccount(leaf)
    } catch (e) {
      throw new ProofError('MALFORMED_NODE', `account leaf is malformed: ${(e as Error).message}`)
    }
    const mismatch: string[] = []
    if (account.balance !== p.balance) mismatch.push(`balance ${p.balance} (proven ${account.balance})`)
    if (account.nonce !== p.nonce) mismatch.push(`nonce ${p.nonce} (proven ${account.nonce})`)
    if (!equals(account.codeHash, p.codeHash)) mismatch.push(`codeHash ${toHex(p.codeHash)}`)
    if (!equals(account.storageRoot, p.storageHash)) mismatch.push(`storageHash ${toHex(p.storageHash)}`)
    if (mismatch.length)
      throw new ProofError(
        'ACCOUNT_MISMATCH',
        `claimed account fields differ from the proof: ${mismatch.join(', ')}`,
      )
    storageRoot = account.storageRoot
  } else {
    const emptyCode = equals(p.codeHash, EMPTY_CODE_HASH) || p.codeHash.every((b) => b === 0)
    const emptyStorage = equals(p.storageHash, EMPTY_ROOT) || p.storageHash.every((b) => b === 0)
    if (p.balance !== 0n || p.nonce !== 0n || !emptyCode || !emptyStorage)
      throw new ProofError(
        'ACCOUNT_MISMATCH',
        'the proof shows no such account, but non-empty fields were claimed',
      )
  }
  const storage = p.storageProof.map((s) => {
    if (s.key.length > 32) throw new ProofError('MALFORMED', 'storage key longer than 32 bytes')
    const v = verifyProof(storageRoot, storageKey(padLeft(s.key, 32)), s.proof)
    let proven = 0n
    if (v) {
      try {
        proven = decodeStorageValue(v)
      } catch (e) {
        throw new ProofError('MALFORMED_NODE', `storage leaf is malformed: ${(e as Error).message}`)
      }
      if (proven === 0n)
        throw new ProofError('MALFORMED_NODE', 'storage leaf holds zero (zero slots are deleted)')
    }
    if (proven !== s.value)
      throw new ProofError('STORAGE_MISMATCH', `slot ${toHex(s.key)}: claimed ${s.value}, proven ${proven}`)
    return { key: s.key, value: proven }
  })
  return { address: p.address, account, storage }
}

/**
 * Verifies a proof answering a request for `address` and `slots`: on top of `verifyAccountProof`,
 * the proof must be for that address and prove exactly those slots, in order. A valid proof of some
 * other account (or slot) is still a wrong answer.
 */
export function verifyRequestedProof(
  stateRoot: Uint8Array,
  address: Uint8Array,
  slots: Uint8Array[],
  p: AccountProof,
): VerifiedAccount {
  if (!equals(p.address, address))
    throw new ProofError('WRONG_ANSWER', `asked for ${toHex(address)}, got a proof of ${toHex(p.address)}`)
  if (p.storageProof.length !== slots.length)
    throw new ProofError('WRONG_ANSWER', `asked for ${slots.length} slots, got ${p.storageProof.length}`)
  p.storageProof.forEach((s, i) => {
    if (!equals(padLeft(s.key, 32), padLeft(slots[i]!, 32)))
      throw new ProofError('WRONG_ANSWER', `asked for slot ${toHex(slots[i]!)}, got ${toHex(s.key)}`)
  })
  return verifyAccountProof(stateRoot, p)
}
