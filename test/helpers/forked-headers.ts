/**
 * Headers at one height signed by chosen validators (or by keys that are not validators), for the
 * consistency tests: the test holds the validator keys, so it can sign a second header at the same
 * height with a quorum (an equivocation), or with too few signatures, or with outsiders' keys.
 */

import { devnetKeys } from '../../src/core/chain/devnet.ts'
import {
  type Header,
  headerHash,
  type SignedHeader,
  signHeader,
  type TrustedHeader,
} from '../../src/core/chain/header.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import type { Checkpoint } from '../../src/core/chain/light.ts'
import { validatorSetHash } from '../../src/core/chain/validators.ts'

export const CHAIN_ID = 77
/** 7 validators: a quorum is 5 (5·3 ≥ 7·2), so two quorums share at least 3 validators. */
const keys = devnetKeys('consistency', 7, 0).validators
const outsiderKeys = devnetKeys('not-validators', 7, 0).validators
export const validators = keys.map(addressOf)

const fill = (b: number) => new Uint8Array(32).fill(b)
const setHash = validatorSetHash(CHAIN_ID, validators)

export const genesis: Header = {
  parentHash: fill(0),
  number: 0,
  stateRoot: fill(1),
  txRoot: fill(2),
  timestamp: 1000,
  validatorsHash: setHash,
  nextValidatorsHash: setHash,
  extra: new Uint8Array(0),
}
export const checkpoint: Checkpoint = { chainId: CHAIN_ID, hash: headerHash(genesis), number: 0, validators }

/** A header at `number`; `variant` changes its state root (another header at the same height). */
export const headerAt = (number: number, variant = 0): Header => ({
  parentHash: fill(3),
  number,
  stateRoot: fill(10 + variant),
  txRoot: fill(4),
  timestamp: 1000 + number,
  validatorsHash: setHash,
  nextValidatorsHash: setHash,
  extra: new Uint8Array(0),
})

/** `h` signed by the validators at `indexes` (with outsiders' keys in their place if `outsiders`). */
export const signBy = (h: Header, indexes: number[], outsiders = false): SignedHeader =>
  signHeader(
    CHAIN_ID,
    h,
    indexes.map((index) => ({ index, key: (outsiders ? outsiderKeys : keys)[index]! })),
  )

export const trusted = (s: SignedHeader): TrustedHeader => ({
  header: s.header,
  hash: headerHash(s.header),
  signed: s,
})
