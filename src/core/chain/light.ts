/**
 * What a light client trusts and how it extends that trust: a checkpoint (the genesis hash, or a
 * later header hash) plus the chain id and validator set, and header-chain verification from there
 * to any height, through a small port that fetches headers from some peer.
 *
 * Security considerations: the checkpoint is the only root of trust. A genesis checkpoint also pins
 * the validator set, because the genesis header's `extra` commits to it; a peer that sends a
 * different genesis header or validator set is caught here. Headers are fetched from untrusted
 * peers, so every one is checked (link + quorum) before its state root is used.
 */
import { equals, toHex } from '../bytes.ts'
import { ChainError } from './errors.ts'
import { type Header, headerHash, type SignedHeader, type TrustedHeader, verifyLink } from './header.ts'
import { validatorSetHash, verifyHeaderSignatures } from './validators.ts'

export interface Checkpoint {
  chainId: number
  /** Hash of the trusted header (the genesis hash for a devnet). */
  hash: Uint8Array
  number: number
  validators: Uint8Array[]
}

export interface HeaderSource {
  headers(start: number, count: number, signal?: AbortSignal): Promise<SignedHeader[]>
}

/** Fetches the checkpoint header itself and checks it is the one the checkpoint names. */
export async function trustCheckpoint(
  cp: Checkpoint,
  source: HeaderSource,
  signal?: AbortSignal,
): Promise<TrustedHeader> {
  const [h] = await source.headers(cp.number, 1, signal)
  if (!h || !equals(headerHash(h.header), cp.hash))
    throw new ChainError(
      'CHECKPOINT_MISMATCH',
      `the peer's header ${cp.number} is not the checkpoint ${toHex(cp.hash)}`,
    )
  if (!equals(h.header.validatorsHash, validatorSetHash(cp.chainId, cp.validators)))
    throw new ChainError(
      'CHECKPOINT_MISMATCH',
      `the checkpoint header ${cp.number} does not commit to the configured chain id and validators`,
    )
  return { header: h.header, hash: cp.hash, signed: h }
}

/** Verifies headers from `trusted` up to `height` (fetched in chunks) and returns the header there. */
export async function verifyHeadersTo(
  cp: Checkpoint,
  trusted: TrustedHeader,
  height: number,
  source: HeaderSource,
  signal?: AbortSignal,
): Promise<TrustedHeader> {
  let at = trusted
  while (at.header.number < height) {
    const count = Math.min(512, height - at.header.number)
    const hs = await source.headers(at.header.number + 1, count, signal)
    if (!hs.length)
      throw new ChainError(
        'BAD_PARENT',
        `peer returned no headers after ${at.header.number} (wanted up to ${height})`,
      )
    at = verifyHeaderChain(cp.chainId, cp.validators, at, hs.slice(0, count))
  }
  return at
}

/**
 * Verifies `headers` (ascending, contiguous) as extending `trusted`: each links to the one before,
 * names the set the one before announced, and carries a quorum of `validators`. Returns the last
 * verified header. Valid only while the set does not change.
 */
export function verifyHeaderChain(
  chainId: number,
  validators: Uint8Array[],
  trusted: TrustedHeader,
  headers: SignedHeader[],
): TrustedHeader {
  let prev = trusted.header
  let signed = trusted.signed
  for (const s of headers) {
    verifyLink(prev, s.header)
    if (!equals(s.header.validatorsHash, prev.nextValidatorsHash))
      throw new ChainError(
        'BAD_VALIDATOR_SET',
        `header ${s.header.number} names another validator set than its parent announced`,
      )
    verifyHeaderSignatures(chainId, s, validators)
    prev = s.header
    signed = s
  }
  return { header: prev, hash: headerHash(prev), signed }
}

export type { Header }

/**
 * A header verified in an earlier session and kept locally (the browser's IndexedDB), trusted again
 * only after its quorum signatures are re-checked against the configured validators — or, at the
 * checkpoint's height, after its hash matches the checkpoint. Local storage can be corrupted or
 * tampered with; this makes a stored head as trustworthy as one fetched and verified now.
 */
export function trustStoredHeader(cp: Checkpoint, s: SignedHeader): TrustedHeader {
  const hash = headerHash(s.header)
  if (s.header.number < cp.number)
    throw new ChainError('CHECKPOINT_MISMATCH', `stored header ${s.header.number} is below the checkpoint`)
  if (s.header.number === cp.number) {
    if (!equals(hash, cp.hash))
      throw new ChainError(
        'CHECKPOINT_MISMATCH',
        'stored header at the checkpoint height is not the checkpoint',
      )
  } else verifyHeaderSignatures(cp.chainId, s, cp.validators)
  return { header: s.header, hash, signed: s }
}
