/**
 * Block headers, their validator signatures, and header-chain verification.
 *
 * A header commits to its parent, its height, the state root after its block, the root of its
 * transactions, a timestamp, and the hashes of two validator sets: the one that signs it
 * (`validatorsHash`) and the one that signs the next header (`nextValidatorsHash`; they differ when
 * the block changes the set, see validators.ts). Its hash is keccak(RLP(header)). Validators sign
 * keccak(RLP[chainId, headerHash]) (the chain id prevents replaying signatures across chains), and a
 * header counts as final when at least 2/3 of its own validator set signed it.
 *
 * Security considerations: a light client trusts exactly one thing, a checkpoint in its config.
 * Trust moves forward only through headers signed by a quorum of a validator set that an already
 * trusted header commits to (by hash, see light/skipping.ts). Signatures are counted once per
 * validator; a header with duplicate or unknown signers is not helped by them. A state root is only
 * ever synced to, or answered from, if such a verified header commits to it.
 */
import { equals, numberToBytes, toHex } from '../bytes.ts'
import { RlpError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { asBytes, asList, asSafeInt, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { ChainError } from './errors.ts'
import { sign } from './keys.ts'

export const MAX_VALIDATORS = 1024

export interface Header {
  parentHash: Uint8Array
  number: number
  stateRoot: Uint8Array
  txRoot: Uint8Array
  /** Seconds since the Unix epoch (chain time, signed by the validators). */
  timestamp: number
  /** validatorSetHash(chainId, the set whose quorum signs THIS header). */
  validatorsHash: Uint8Array
  /** validatorSetHash(chainId, the set that signs header number + 1). */
  nextValidatorsHash: Uint8Array
  /** Up to 32 bytes of anything; empty in rootsync's own chains. */
  extra: Uint8Array
}

export interface HeaderSignature {
  validator: number // index into the validator list
  signature: Uint8Array // 65 bytes
}

export interface SignedHeader {
  header: Header
  signatures: HeaderSignature[]
}

export function headerItem(h: Header): unknown[] {
  return [
    h.parentHash,
    h.number,
    h.stateRoot,
    h.txRoot,
    h.timestamp,
    h.validatorsHash,
    h.nextValidatorsHash,
    h.extra,
  ]
}

export function encodeHeader(h: Header): Uint8Array {
  return rlpEncode(headerItem(h) as never)
}

export function headerHash(h: Header): Uint8Array {
  return keccak256(encodeHeader(h))
}

export function headerFromItem(item: RlpItem): Header {
  const l = asList(item, 'header', 8)
  const b32 = (i: number, what: string) => {
    const b = asBytes(l[i], what)
    if (b.length !== 32) throw new RlpError(`header ${what} must be 32 bytes`)
    return b
  }
  return {
    parentHash: b32(0, 'parent hash'),
    number: asSafeInt(l[1], 'header number'),
    stateRoot: b32(2, 'state root'),
    txRoot: b32(3, 'tx root'),
    timestamp: asSafeInt(l[4], 'timestamp'),
    validatorsHash: b32(5, 'validators hash'),
    nextValidatorsHash: b32(6, 'next validators hash'),
    extra: asBytes(l[7], 'extra', 32),
  }
}

export function decodeHeader(bytes: Uint8Array): Header {
  return headerFromItem(rlpDecode(bytes))
}

export function encodeSignedHeader(s: SignedHeader): Uint8Array {
  return rlpEncode(signedHeaderItem(s) as never)
}

export function signedHeaderItem(s: SignedHeader): unknown[] {
  return [headerItem(s.header), s.signatures.map((x) => [x.validator, x.signature])]
}

export function signedHeaderFromItem(item: RlpItem): SignedHeader {
  const l = asList(item, 'signed header', 2)
  const sigs = asList(l[1], 'header signatures')
  if (sigs.length > MAX_VALIDATORS)
    throw new RlpError(`header has ${sigs.length} signatures, at most ${MAX_VALIDATORS}`)
  return {
    header: headerFromItem(l[0]!),
    signatures: sigs.map((s) => {
      const p = asList(s, 'header signature', 2)
      return { validator: asSafeInt(p[0], 'validator index'), signature: asBytes(p[1], 'signature', 65) }
    }),
  }
}

export function decodeSignedHeader(bytes: Uint8Array): SignedHeader {
  return signedHeaderFromItem(rlpDecode(bytes))
}

/** The digest validators sign for a header. */
export function headerSigningHash(chainId: number, hash: Uint8Array): Uint8Array {
  return keccak256(rlpEncode([numberToBytes(chainId), hash]))
}

export function signHeader(
  chainId: number,
  h: Header,
  validatorKeys: { index: number; key: Uint8Array }[],
): SignedHeader {
  const digest = headerSigningHash(chainId, headerHash(h))
  return {
    header: h,
    signatures: validatorKeys.map(({ index, key }) => ({ validator: index, signature: sign(digest, key) })),
  }
}

/** Throws unless `child` extends `parent`. */
export function verifyLink(parent: Header, child: Header): void {
  const ph = headerHash(parent)
  if (!equals(child.parentHash, ph))
    throw new ChainError('BAD_PARENT', `header ${child.number} does not link to ${toHex(ph)}`, {
      number: child.number,
    })
  if (child.number !== parent.number + 1)
    throw new ChainError('BAD_PARENT', `header ${child.number} follows header ${parent.number}`, {
      number: child.number,
    })
  if (child.timestamp < parent.timestamp)
    throw new ChainError('BAD_PARENT', `header ${child.number} is older than its parent`, {
      number: child.number,
    })
}

export interface TrustedHeader {
  header: Header
  hash: Uint8Array
  /** The header with its quorum signatures, when it came from a peer (kept so it can be re-checked). */
  signed?: SignedHeader
}

/**
 * A header with its signatures and both validator sets it commits to, the sets already checked
 * against the header's hashes (`lightBlockOf` in validators.ts). What skipping verification moves
 * trust along; as a `TrustedHeader` it serves every consumer that only needs the header.
 */
export interface LightBlock extends TrustedHeader {
  signed: SignedHeader
  validators: Uint8Array[]
  nextValidators: Uint8Array[]
}
