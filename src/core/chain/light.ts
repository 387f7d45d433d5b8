/**
 * What a light client trusts: a checkpoint (the genesis hash, or a later header hash) with the chain
 * id and the validator set that signs that header, and how long such trust lasts (the trusting
 * period). Trust moves on from the checkpoint by skipping verification (light/skipping.ts).
 *
 * Security considerations: the checkpoint is the only root of trust. Its light block is taken from
 * an untrusted peer and used only if it hashes to the configured hash and carries exactly the
 * configured validator set (and so, by the header's own `validatorsHash`, the set that signs it);
 * its next set is checked against the header's `nextValidatorsHash` (`lightBlockOf`). A peer that
 * sends anything else is caught here (CHECKPOINT_MISMATCH, BAD_VALIDATOR_SET); a configured set that
 * differs from the one the checkpoint header commits to is the configuration's fault
 * (CHECKPOINT_VALIDATORS), never a peer's. The checkpoint's own
 * signatures are not needed: its hash is what is trusted.
 */
import { equals, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { ChainError } from './errors.ts'
import type { Header, LightBlock } from './header.ts'
import { type LightBlockReply, lightBlockOf } from './validators.ts'

export interface Checkpoint {
  chainId: number
  /** Hash of the trusted header (the genesis hash for a devnet). */
  hash: Uint8Array
  number: number
  /** The validator set that signs the checkpoint's header (its `validatorsHash`). */
  validators: Uint8Array[]
  /**
   * How long (seconds of wall-clock time after a header's timestamp) a trusted header may be used
   * to extend trust; light/skipping.ts's default (14 days) when absent.
   */
  trustingPeriodSec?: number
}

/**
 * The checkpoint's light block from a peer's reply, checked against the checkpoint: the hash, and
 * the validator set it names. Throws `ChainError` (the peer's fault).
 */
export function trustCheckpoint(cp: Checkpoint, reply: LightBlockReply): LightBlock {
  const lb = lightBlockOf(cp.chainId, reply)
  if (lb.header.number !== cp.number || !equals(lb.hash, cp.hash))
    throw new ChainError(
      'CHECKPOINT_MISMATCH',
      `the peer's header ${lb.header.number} is not the checkpoint ${toHex(cp.hash)} (block ${cp.number})`,
    )
  if (
    lb.validators.length !== cp.validators.length ||
    lb.validators.some((a, i) => !equals(a, cp.validators[i]!))
  )
    // The peer's set hashes to what the checkpoint header (trusted by hash) commits to: the
    // configuration is wrong, not the peer.
    throw new RootsyncError(
      'CHECKPOINT_VALIDATORS',
      `the configured validators are not the set the checkpoint header ${cp.number} commits to; fix the validators in the configuration`,
    )
  return lb
}

export type { Header }
