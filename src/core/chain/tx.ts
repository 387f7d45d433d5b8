/**
 * Transactions of the rootsync chain: a transfer of `value` from `from` to `to`, optionally with
 * storage writes into `to` (which must be a contract). There is no VM: writes set slots directly,
 * which is enough to make storage tries change the way real chains change them.
 *
 * Wire form: RLP[chainId, nonce, from, to, value, [[slot, value]…], signature(65)]. The signature is
 * over keccak(RLP[chainId, nonce, from, to, value, writes]) and must recover to `from`; naming the
 * sender makes a damaged signature its own error (`BAD_SIGNATURE`) rather than a random sender.
 */
import { bigintToBytes, padLeft, toHex } from '../bytes.ts'
import { RlpError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { asBytes, asList, asSafeInt, asUint, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { ChainError } from './errors.ts'
import { addressOf, recoverAddress, sign } from './keys.ts'

export const MAX_WRITES_PER_TX = 64

export interface StorageWrite {
  slot: Uint8Array // 32 bytes
  value: bigint // 0 clears the slot
}

export interface Transaction {
  chainId: number
  nonce: bigint
  from: Uint8Array
  to: Uint8Array
  value: bigint
  writes: StorageWrite[]
  signature: Uint8Array
}

export type UnsignedTransaction = Omit<Transaction, 'signature' | 'from'>

function payload(tx: Omit<Transaction, 'signature'>): unknown[] {
  return [
    tx.chainId,
    tx.nonce,
    tx.from,
    tx.to,
    tx.value,
    tx.writes.map((w) => [w.slot, bigintToBytes(w.value)]),
  ]
}

export function txSigningHash(tx: Omit<Transaction, 'signature'>): Uint8Array {
  return keccak256(rlpEncode(payload(tx) as never))
}

export function signTransaction(tx: UnsignedTransaction, privateKey: Uint8Array): Transaction {
  const from = addressOf(privateKey)
  const unsigned = { ...tx, from }
  return { ...unsigned, signature: sign(txSigningHash(unsigned), privateKey) }
}

export function transactionItem(tx: Transaction): unknown[] {
  return [...payload(tx), tx.signature]
}

export function encodeTransaction(tx: Transaction): Uint8Array {
  return rlpEncode(transactionItem(tx) as never)
}

export function txHash(tx: Transaction): Uint8Array {
  return keccak256(encodeTransaction(tx))
}

export function decodeTransaction(bytes: Uint8Array): Transaction {
  return transactionFromItem(rlpDecode(bytes))
}

export function transactionFromItem(item: RlpItem): Transaction {
  const l = asList(item, 'transaction', 7)
  const writes = asList(l[5], 'transaction writes')
  if (writes.length > MAX_WRITES_PER_TX)
    throw new ChainError(
      'BAD_SIGNATURE',
      `transaction has ${writes.length} writes, at most ${MAX_WRITES_PER_TX}`,
    )
  return {
    chainId: asSafeInt(l[0], 'chain id'),
    nonce: asUint(l[1], 'nonce', 8),
    from: exact(asBytes(l[2], 'from'), 20, 'from'),
    to: exact(asBytes(l[3], 'to'), 20, 'to'),
    value: asUint(l[4], 'value'),
    writes: writes.map((w) => {
      const p = asList(w, 'write', 2)
      return { slot: exact(asBytes(p[0], 'slot'), 32, 'slot'), value: asUint(p[1], 'slot value') }
    }),
    signature: exact(asBytes(l[6], 'signature'), 65, 'signature'),
  }
}

function exact(b: Uint8Array, n: number, what: string): Uint8Array {
  if (b.length !== n) throw new RlpError(`transaction ${what} must be ${n} bytes, got ${b.length}`)
  return b
}

/** Throws `BAD_SIGNATURE` unless the signature recovers to `tx.from`. */
export function verifyTransactionSignature(tx: Transaction): void {
  const signer = recoverAddress(txSigningHash(tx), tx.signature)
  if (!signer || toHex(signer) !== toHex(tx.from)) {
    throw new ChainError(
      'BAD_SIGNATURE',
      `transaction ${toHex(txHash(tx))} is not signed by ${toHex(tx.from)}`,
      {
        tx: toHex(txHash(tx)),
      },
    )
  }
}

export const slotWord = (n: bigint): Uint8Array => padLeft(bigintToBytes(n), 32)
