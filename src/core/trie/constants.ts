import { keccak256 } from '../hash.ts'

/** Root of the empty trie: keccak(RLP('')) = 0x56e81f…b421. */
export const EMPTY_ROOT_HASH = keccak256(Uint8Array.of(0x80))
