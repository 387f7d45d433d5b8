/**
 * The state transition: `applyBlock(state, block)` runs a block's transactions on a copy of `state`
 * and accepts the result only if it reaches the state root the header commits to.
 *
 * Rules per transaction: right chain id; signature by `from`; nonce equal to the sender's nonce;
 * value at most the sender's balance (no fees); storage writes only into contracts. The first broken
 * rule refuses the whole block with its own `ChainError` code, and `state` is left untouched.
 */
import { EMPTY_CODE_HASH, emptyAccount } from '../account.ts'
import { equals, toHex } from '../bytes.ts'
import { type Block, transactionsRoot } from './block.ts'
import { ChainError } from './errors.ts'
import type { StateCommit, StateDB } from './state.ts'
import { type Transaction, verifyTransactionSignature } from './tx.ts'

export interface AppliedBlock {
  /** The state after the block (a copy; the input state is unchanged). */
  state: StateDB
  /** The new root and nodes to write (atomically, with the new head). */
  commit: StateCommit
}

export async function applyTransaction(
  state: StateDB,
  chainId: number,
  tx: Transaction,
  index = 0,
): Promise<void> {
  const where = `transaction ${index}`
  if (tx.chainId !== chainId)
    throw new ChainError('WRONG_CHAIN', `${where} is for chain ${tx.chainId}, not ${chainId}`)
  verifyTransactionSignature(tx)
  const sender = (await state.getAccount(tx.from)) ?? emptyAccount()
  if (tx.nonce !== sender.nonce)
    throw new ChainError(
      'BAD_NONCE',
      `${where}: nonce ${tx.nonce}, but ${toHex(tx.from)} is at nonce ${sender.nonce}`,
      {
        index,
        expected: sender.nonce.toString(),
        got: tx.nonce.toString(),
      },
    )
  if (tx.value > sender.balance)
    throw new ChainError(
      'OVERDRAFT',
      `${where}: sends ${tx.value} but ${toHex(tx.from)} has ${sender.balance}`,
      {
        index,
      },
    )
  sender.nonce += 1n
  sender.balance -= tx.value
  await state.putAccount(tx.from, sender)
  const recipient = (await state.getAccount(tx.to)) ?? emptyAccount()
  recipient.balance += tx.value
  await state.putAccount(tx.to, recipient)
  if (tx.writes.length) {
    if (equals(recipient.codeHash, EMPTY_CODE_HASH))
      throw new ChainError(
        'NOT_A_CONTRACT',
        `${where}: storage writes to ${toHex(tx.to)}, which has no code`,
        { index },
      )
    for (const w of tx.writes) await state.setStorage(tx.to, w.slot, w.value)
  }
}

/** Applies `block` on a copy of `state`; throws `ChainError` if any rule or the state root fails. */
export async function applyBlock(state: StateDB, block: Block, chainId: number): Promise<AppliedBlock> {
  const h = block.header
  const txRoot = await transactionsRoot(block.transactions)
  if (!equals(txRoot, h.txRoot))
    throw new ChainError(
      'TX_ROOT_MISMATCH',
      `block ${h.number}: transactions do not match the header's tx root`,
    )
  const next = state.copy()
  for (let i = 0; i < block.transactions.length; i++)
    await applyTransaction(next, chainId, block.transactions[i]!, i)
  const commit = await next.commit()
  if (!equals(commit.root, h.stateRoot)) {
    throw new ChainError(
      'STATE_ROOT_MISMATCH',
      `block ${h.number}: applying it gives state root ${toHex(commit.root)}, the header says ${toHex(h.stateRoot)}`,
      { number: h.number, expected: toHex(h.stateRoot), actual: toHex(commit.root) },
    )
  }
  return { state: next, commit }
}
