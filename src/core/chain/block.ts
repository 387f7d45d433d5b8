/**
 * Blocks: a signed header, the transactions it commits to (through `txRoot`, the root of a trie
 * mapping RLP(index) to the encoded transaction, as in Ethereum), and the validator updates it makes
 * (committed to through the header's `nextValidatorsHash`, see validators.ts).
 * Wire form: RLP[signedHeader, [tx…], [[slot, address]…]].
 */
import { numberToBytes } from '../bytes.ts'
import { RlpError } from '../errors.ts'
import { asBytes, asList, asSafeInt, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { MemoryNodeStore } from '../store.ts'
import { Trie } from '../trie/trie.ts'
import {
  type Header,
  type HeaderSignature,
  MAX_VALIDATORS,
  signedHeaderFromItem,
  signedHeaderItem,
} from './header.ts'
import { encodeTransaction, type Transaction, transactionFromItem, transactionItem } from './tx.ts'
import type { ValidatorUpdate } from './validators.ts'

export const MAX_TXS_PER_BLOCK = 10_000

export interface Block {
  header: Header
  signatures: HeaderSignature[]
  transactions: Transaction[]
  /** Applied after this block: header `number + 1` is signed by the updated set. */
  validatorUpdates: ValidatorUpdate[]
}

export async function transactionsRoot(txs: Transaction[]): Promise<Uint8Array> {
  const t = new Trie(new MemoryNodeStore())
  for (let i = 0; i < txs.length; i++) await t.put(rlpEncode(numberToBytes(i)), encodeTransaction(txs[i]!))
  return t.root()
}

export function blockItem(b: Block): unknown[] {
  return [
    signedHeaderItem(b),
    b.transactions.map(transactionItem),
    b.validatorUpdates.map((u) => [u.slot, u.address]),
  ]
}

export function encodeBlock(b: Block): Uint8Array {
  return rlpEncode(blockItem(b) as never)
}

export function blockFromItem(item: RlpItem): Block {
  const l = asList(item, 'block', 3)
  const { header, signatures } = signedHeaderFromItem(l[0]!)
  const txs = asList(l[1], 'block transactions')
  if (txs.length > MAX_TXS_PER_BLOCK)
    throw new RlpError(`block has ${txs.length} transactions, at most ${MAX_TXS_PER_BLOCK}`)
  const ups = asList(l[2], 'validator updates')
  if (ups.length > MAX_VALIDATORS)
    throw new RlpError(`block has ${ups.length} validator updates, at most ${MAX_VALIDATORS}`)
  const validatorUpdates = ups.map((u) => {
    const p = asList(u, 'validator update', 2)
    return { slot: asSafeInt(p[0], 'validator slot'), address: asBytes(p[1], 'validator address', 20) }
  })
  return { header, signatures, transactions: txs.map(transactionFromItem), validatorUpdates }
}

export function decodeBlock(bytes: Uint8Array): Block {
  return blockFromItem(rlpDecode(bytes))
}
