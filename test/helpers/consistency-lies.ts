/**
 * The lies corrupt-serve.ts tells a consistency check (issue 11): headers at a height that are not
 * the chain's (unsigned, signed by non-validators, or — equivocation — signed by a quorum of the real
 * validator keys), a header that does not decode, and account proofs that are well-formed but claim
 * other values. Pure functions over the honest answers, so each lie is exactly one lie.
 */
import { decodeAccount, encodeAccount } from '../../src/core/account.ts'
import type { AccountProof } from '../../src/core/account-proof.ts'
import { utf8 } from '../../src/core/bytes.ts'
import { type Header, type SignedHeader, signHeader } from '../../src/core/chain/header.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { decodeNode, encodeNode } from '../../src/core/trie/node.ts'

/** The same height and parent, another state root: a header the chain never had. */
export const otherHeader = (h: Header): Header => ({ ...h, stateRoot: keccak256(h.stateRoot) })

export const unsignedRoot = (s: SignedHeader): SignedHeader => ({
  header: otherHeader(s.header),
  signatures: [],
})

/** Another header signed, at the real validators' indexes, by keys that are not theirs. */
export function forgedRoot(chainId: number, s: SignedHeader, validators: number): SignedHeader {
  const keys = Array.from({ length: validators }, (_, index) => ({
    index,
    key: keccak256(utf8(`not a validator ${index}`)),
  }))
  return signHeader(chainId, otherHeader(s.header), keys)
}

/** Another header signed by every real validator key: a second header at the height with a quorum. */
export const equivocatedRoot = (
  chainId: number,
  s: SignedHeader,
  validatorKeys: Uint8Array[],
): SignedHeader =>
  signHeader(
    chainId,
    otherHeader(s.header),
    validatorKeys.map((key, index) => ({ index, key })),
  )

/** A header whose encoding does not decode (a 5-byte state root; the decoder wants 32). */
export const garbageRoot = (s: SignedHeader): SignedHeader => ({
  header: { ...s.header, stateRoot: s.header.stateRoot.slice(0, 5) },
  signatures: s.signatures,
})

/**
 * The proof with the account leaf's balance raised by one and the claimed balance with it: every
 * node still decodes, but the changed leaf no longer hashes to its parent's reference. An absent
 * account claims a balance; each storage slot claims its value plus one.
 */
export function lyingProof(p: AccountProof): AccountProof {
  const storageProof = p.storageProof.map((s) => ({ ...s, value: s.value + 1n }))
  const last = p.accountProof.at(-1)
  const leaf = last ? decodeNode(last) : null
  if (leaf?.kind !== 'leaf') return { ...p, balance: p.balance + 1n, storageProof }
  const account = decodeAccount(leaf.value)
  const lied = { ...account, balance: account.balance + 1n }
  const node = encodeNode({ kind: 'leaf', path: leaf.path, value: encodeAccount(lied) })
  return {
    ...p,
    balance: lied.balance,
    accountProof: [...p.accountProof.slice(0, -1), node],
    storageProof,
  }
}
