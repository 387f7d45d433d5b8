/**
 * The Ethereum account record stored in the state trie's leaves: RLP[nonce, balance, storageRoot,
 * codeHash]. Keys of the state trie are keccak(address); keys of a contract's storage trie are
 * keccak(slot as a 32-byte word) and values are RLP(value without leading zeros).
 */
import { bytesToBigint, padLeft, stripLeadingZeros } from './bytes.ts'
import { NodeDecodeError } from './errors.ts'
import { keccak256 } from './hash.ts'
import { asBytes, asList, asUint, rlpDecode, rlpEncode } from './rlp.ts'
import { EMPTY_ROOT_HASH } from './trie/constants.ts'
import type { ChildRef } from './trie/node.ts'

export const EMPTY_ROOT = EMPTY_ROOT_HASH
/** Hash of empty code: keccak(''). */
export const EMPTY_CODE_HASH = keccak256(new Uint8Array(0))

export interface Account {
  nonce: bigint
  balance: bigint
  storageRoot: Uint8Array
  codeHash: Uint8Array
}

export function emptyAccount(): Account {
  return { nonce: 0n, balance: 0n, storageRoot: EMPTY_ROOT, codeHash: EMPTY_CODE_HASH }
}

export function encodeAccount(a: Account): Uint8Array {
  return rlpEncode([a.nonce, a.balance, a.storageRoot, a.codeHash])
}

export function decodeAccount(value: Uint8Array): Account {
  const l = asList(rlpDecode(value), 'account', 4)
  const storageRoot = asBytes(l[2], 'account storage root')
  const codeHash = asBytes(l[3], 'account code hash')
  if (storageRoot.length !== 32 || codeHash.length !== 32)
    throw new NodeDecodeError('account storage root and code hash must be 32 bytes')
  return {
    nonce: asUint(l[0], 'account nonce', 8),
    balance: asUint(l[1], 'account balance'),
    storageRoot,
    codeHash,
  }
}

/** An account leaf's storage root and code hash, as the sync follows them. */
export function accountRefs(value: Uint8Array): ChildRef[] {
  let a: Account
  try {
    a = decodeAccount(value)
  } catch (e) {
    throw new NodeDecodeError(`state trie leaf is not an account: ${(e as Error).message}`)
  }
  const out: ChildRef[] = []
  if (!sameBytes32(a.storageRoot, EMPTY_ROOT)) out.push({ hash: a.storageRoot, kind: 'storage' })
  if (!sameBytes32(a.codeHash, EMPTY_CODE_HASH)) out.push({ hash: a.codeHash, kind: 'code' })
  return out
}

function sameBytes32(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false
  return true
}

/** Storage values are stored as RLP of the value with leading zeros stripped. */
export function encodeStorageValue(word: Uint8Array): Uint8Array {
  return rlpEncode(stripLeadingZeros(word))
}

export function decodeStorageValue(value: Uint8Array): bigint {
  return bytesToBigint(asBytes(rlpDecode(value), 'storage value', 32))
}

export const storageKey = (slot: Uint8Array): Uint8Array => keccak256(padLeft(slot, 32))
export const accountKey = (address: Uint8Array): Uint8Array => keccak256(address)
