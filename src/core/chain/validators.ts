/**
 * Validator sets and how they change.
 *
 * A validator set is an ordered list of 20-byte addresses; a header signature names its signer by
 * index into the set that signs that header. Every header commits to two sets by hash
 * (`validatorSetHash` = keccak(RLP[chainId, [address…]])): its own (`validatorsHash`) and the one
 * that signs the next header (`nextValidatorsHash`).
 *
 * How the set changes (the chain model): a block may carry validator updates, each replacing the
 * validator in one slot with a new address. The update in block H is authorised by the quorum (≥ 2/3
 * of the current set) that signs header H, and header H's `nextValidatorsHash` already names the
 * resulting set, which signs H+1 onwards. No separate signature is needed: the header's quorum signs
 * the change by signing the hash of its outcome.
 *
 * Security considerations: every set that reaches a light client comes from an untrusted peer and
 * is only used once it hashes to what a header commits to (`lightBlockOf`). A set with a duplicate
 * address is refused everywhere (genesis, served sets, updates): one key listed twice would count
 * twice toward a quorum. `tallySigners` stops recovering signatures once the caller's thresholds are
 * met (each recovery is the bulk of the cost); a signature it does recover and finds invalid is the
 * sender's fault, never ignored.
 */
import { bigintToBytes, equals, toHex } from '../bytes.ts'
import { keccak256 } from '../hash.ts'
import { rlpEncode } from '../rlp.ts'
import { ChainError } from './errors.ts'
import {
  headerHash,
  headerSigningHash,
  type LightBlock,
  MAX_VALIDATORS,
  type SignedHeader,
} from './header.ts'
import { recoverAddress } from './keys.ts'

/** 20-byte addresses; a signature's `validator` is an index into this list. */
export type ValidatorSet = Uint8Array[]

/** Replace the validator at `slot` with `address` (from the next header on). */
export interface ValidatorUpdate {
  slot: number
  address: Uint8Array
}

/** keccak(RLP[chainId, [address…]]): what a header's validators hashes commit to. */
export function validatorSetHash(chainId: number, set: ValidatorSet): Uint8Array {
  return keccak256(rlpEncode([bigintToBytes(BigInt(chainId)), set]))
}

/** Throws `ChainError` BAD_VALIDATOR_SET unless `set` is non-empty, bounded, of addresses, without duplicates. */
export function checkValidatorSet(set: ValidatorSet, what: string): void {
  if (set.length === 0) throw new ChainError('BAD_VALIDATOR_SET', `${what} is empty`)
  if (set.length > MAX_VALIDATORS)
    throw new ChainError(
      'BAD_VALIDATOR_SET',
      `${what} has ${set.length} validators, at most ${MAX_VALIDATORS}`,
    )
  const seen = new Set<string>()
  for (const [i, a] of set.entries()) {
    if (a.length !== 20)
      throw new ChainError('BAD_VALIDATOR_SET', `${what}: validator #${i} is ${a.length} bytes, not 20`)
    const k = toHex(a)
    if (seen.has(k)) throw new ChainError('BAD_VALIDATOR_SET', `${what} lists ${k} twice`)
    seen.add(k)
  }
}

/**
 * The set after `updates` (in order). Throws `ChainError` BAD_VALIDATOR_UPDATE for a slot out of
 * range, a slot updated twice, or an address already in the set.
 */
export function applyValidatorUpdates(set: ValidatorSet, updates: ValidatorUpdate[]): ValidatorSet {
  if (updates.length > MAX_VALIDATORS)
    throw new ChainError(
      'BAD_VALIDATOR_UPDATE',
      `${updates.length} validator updates, at most ${MAX_VALIDATORS}`,
    )
  const next = [...set]
  const slots = new Set<number>()
  for (const u of updates) {
    if (!Number.isSafeInteger(u.slot) || u.slot < 0 || u.slot >= set.length)
      throw new ChainError(
        'BAD_VALIDATOR_UPDATE',
        `validator update for slot ${u.slot}; the set has ${set.length}`,
      )
    if (slots.has(u.slot))
      throw new ChainError('BAD_VALIDATOR_UPDATE', `two validator updates for slot ${u.slot}`)
    if (u.address.length !== 20)
      throw new ChainError('BAD_VALIDATOR_UPDATE', `validator update with a ${u.address.length}-byte address`)
    if (next.some((a) => equals(a, u.address)))
      throw new ChainError(
        'BAD_VALIDATOR_UPDATE',
        `validator update adds ${toHex(u.address)}, already in the set`,
      )
    slots.add(u.slot)
    next[u.slot] = u.address
  }
  return next
}

/** What `/rootsync/validators/1` returns for a height: unverified until `lightBlockOf`. */
export interface LightBlockReply {
  signed: SignedHeader
  validators: ValidatorSet
  /** Empty means "the same as `validators`" (no change in this block). */
  nextValidators: ValidatorSet
}

/**
 * Checks a reply's sets against its header's hashes and shapes (`ChainError` BAD_VALIDATOR_SET: the
 * sender's fault) and returns it as a `LightBlock`. Says nothing about signatures or links.
 */
export function lightBlockOf(chainId: number, r: LightBlockReply): LightBlock {
  const h = r.signed.header
  const next = r.nextValidators.length ? r.nextValidators : r.validators
  checkValidatorSet(r.validators, `validator set of header ${h.number}`)
  if (!equals(validatorSetHash(chainId, r.validators), h.validatorsHash))
    throw new ChainError(
      'BAD_VALIDATOR_SET',
      `the validator set sent for header ${h.number} does not hash to the header's validatorsHash`,
      { number: h.number },
    )
  if (r.nextValidators.length) checkValidatorSet(next, `next validator set of header ${h.number}`)
  if (!equals(validatorSetHash(chainId, next), h.nextValidatorsHash))
    throw new ChainError(
      'BAD_VALIDATOR_SET',
      `the next validator set sent for header ${h.number} does not hash to the header's nextValidatorsHash`,
      { number: h.number },
    )
  return { header: h, hash: headerHash(h), signed: r.signed, validators: r.validators, nextValidators: next }
}

/** The reply a server sends for a light block (the inverse of `lightBlockOf`, next set elided if equal). */
export function lightBlockReply(b: {
  signed: SignedHeader
  validators: ValidatorSet
  nextValidators: ValidatorSet
}): LightBlockReply {
  const same =
    b.validators.length === b.nextValidators.length &&
    b.validators.every((a, i) => equals(a, b.nextValidators[i]!))
  return { signed: b.signed, validators: b.validators, nextValidators: same ? [] : b.nextValidators }
}

/** Counts public-key recoveries (the cost that skipping verification keeps small). */
export interface SigStats {
  recovered: number
}

/**
 * Recovers `s`'s signatures against `set` until `enough(signers)` holds, and returns the valid
 * signer indexes found (each counted once). Signatures by members `prefer` picks are tried first (a
 * light client prefers members of its trusted set: each counts toward both of its thresholds). A
 * signature naming an index outside the set, or not recovering to that validator, throws `ChainError`
 * BAD_HEADER_SIGNATURE (the sender's fault). If every signature is used up first, the signers found
 * are returned and the caller decides (NO_QUORUM, or not enough trust).
 */
export function tallySigners(
  chainId: number,
  s: SignedHeader,
  set: ValidatorSet,
  enough: (signers: ReadonlySet<number>) => boolean,
  prefer?: (address: Uint8Array) => boolean,
  stats?: SigStats,
): Set<number> {
  const digest = headerSigningHash(chainId, headerHash(s.header))
  const signers = new Set<number>()
  const sigs = prefer
    ? [
        ...s.signatures.filter((x) => set[x.validator] && prefer(set[x.validator]!)),
        ...s.signatures.filter((x) => !(set[x.validator] && prefer(set[x.validator]!))),
      ]
    : s.signatures
  for (const { validator, signature } of sigs) {
    if (enough(signers)) break
    if (signers.has(validator)) continue
    const expected = set[validator]
    if (!expected)
      throw new ChainError(
        'BAD_HEADER_SIGNATURE',
        `header ${s.header.number}: signature by unknown validator #${validator}`,
        {
          number: s.header.number,
          validator,
        },
      )
    if (stats) stats.recovered++
    const got = recoverAddress(digest, signature)
    if (!got || !equals(got, expected))
      throw new ChainError(
        'BAD_HEADER_SIGNATURE',
        `header ${s.header.number}: signature of validator #${validator} is invalid`,
        { number: s.header.number, validator },
      )
    signers.add(validator)
  }
  return signers
}

/** `signed·3 ≥ n·2`: the quorum a header needs from its own set. */
export const hasQuorum = (signed: number, n: number): boolean => signed * 3 >= n * 2

/**
 * Throws unless ≥ 2/3 of `set` validly signed the header (recovery stops at the quorum): NO_QUORUM
 * or BAD_HEADER_SIGNATURE, both `ChainError`s.
 */
export function verifyHeaderSignatures(
  chainId: number,
  s: SignedHeader,
  set: ValidatorSet,
  stats?: SigStats,
): void {
  const signers = tallySigners(chainId, s, set, (x) => hasQuorum(x.size, set.length), undefined, stats)
  if (!hasQuorum(signers.size, set.length))
    throw new ChainError(
      'NO_QUORUM',
      `header ${s.header.number} has ${signers.size} of ${set.length} validator signatures; at least 2/3 are needed`,
      { number: s.header.number, signed: signers.size, validators: set.length },
    )
}
