/**
 * Blocks: a signed header and the transactions it commits to (through `txRoot`, the root of a trie
 * mapping RLP(index) to the encoded transaction, as in Ethereum).
 * Wire form: RLP[signedHeader, [tx…]].
 */
import { numberToBytes } from '../bytes.ts'
import { RlpError } from '../errors.ts'
import { asList, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { MemoryNodeStore } from '../store.ts'
import { Trie } from '../trie/trie.ts'
import { type Header, type HeaderSignature, signedHeaderFromItem, signedHeaderItem } from './header.ts'
import { encodeTransaction, type Transaction, transactionFromItem, transactionItem } from './tx.ts'

export const MAX_TXS_PER_BLOCK = 10_000

export interface Block {
  header: Header
  signatures: HeaderSignature[]
  transactions: Transaction[]
}

export async function transactionsRoot(txs: Transaction[]): Promise<Uint8Array> {
  const t = new Trie(new MemoryNodeStore())
  for (let i = 0; i < txs.length; i++) await t.put(rlpEncode(numberToBytes(i)), encodeTransaction(txs[i]!))
  return t.root()
}

export function blockItem(b: Block): unknown[] {
  return [signedHeaderItem(b), b.transactions.map(transactionItem)]
}

export function encodeBlock(b: Block): Uint8Array {
  return rlpEncode(blockItem(b) as never)
}

export function blockFromItem(item: RlpItem): Block {
  const l = asList(item, 'block', 2)
  const { header, signatures } = signedHeaderFromItem(l[0]!)
  const txs = asList(l[1], 'block transactions')
  if (txs.length > MAX_TXS_PER_BLOCK)
    throw new RlpError(`block has ${txs.length} transactions, at most ${MAX_TXS_PER_BLOCK}`)
  return { header, signatures, transactions: txs.map(transactionFromItem) }
}

export function decodeBlock(bytes: Uint8Array): Block {
  return blockFromItem(rlpDecode(bytes))
}
