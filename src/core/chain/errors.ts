/** Typed errors of block import and header verification: one code per reason a block is refused. */
import { RootsyncError } from '../errors.ts'

export type ChainErrorCode =
  | 'BAD_SIGNATURE' // a transaction's signature is malformed or not by its `from`
  | 'BAD_NONCE' // a transaction's nonce is not the sender's next nonce
  | 'OVERDRAFT' // a transfer of more than the sender's balance
  | 'NOT_A_CONTRACT' // storage writes to an account without code
  | 'WRONG_CHAIN' // a transaction or header for another chain id
  | 'STATE_ROOT_MISMATCH' // applying the block gives another root than its header says
  | 'TX_ROOT_MISMATCH' // the header's transaction root does not match the body
  | 'BAD_PARENT' // a header that does not extend its parent (hash, number, time)
  | 'NO_QUORUM' // a header signed by fewer than 2/3 of its validator set
  | 'BAD_HEADER_SIGNATURE' // a header signature that is malformed or not by the validator named
  | 'CHECKPOINT_MISMATCH' // a header chain that does not start at the trusted checkpoint
  | 'BAD_GENESIS' // a genesis file that cannot be read
  | 'BAD_VALIDATOR_SET' // a validator set that is malformed or does not hash to what its header says
  | 'BAD_VALIDATOR_UPDATE' // a block's validator updates that are malformed or give another set

export class ChainError extends RootsyncError {
  constructor(code: ChainErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
    this.name = 'ChainError'
  }
}
