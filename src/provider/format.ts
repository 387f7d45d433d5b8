/**
 * The light client's verified answers in Ethereum JSON-RPC shapes: a header as a block object, a
 * proof as EIP-1186's `eth_getProof` result.
 *
 * A block object carries every field of the verified header (`number`, `hash`, `parentHash`,
 * `stateRoot`, `transactionsRoot`, `timestamp`, `extraData`, and this chain's `validatorsHash` /
 * `nextValidatorsHash`). Fields this chain's headers do not have are filled with neutral values so
 * viem's and ethers' block formatters accept the object; none of them is verified and none should be
 * read as chain data:
 *
 *   nonce 0x0000000000000000, mixHash 0x00…(32 bytes), sha3Uncles keccak256(rlp([])) (no uncles),
 *   logsBloom 0x00…(256 bytes), receiptsRoot the empty trie's root, miner 0x00…(20 bytes),
 *   difficulty / totalDifficulty / size / gasLimit / gasUsed 0x0, baseFeePerGas absent (pre-London
 *   shape), transactions [] (hydrated or not: the light client holds no transactions), uncles [].
 *
 * Security considerations: only fields verified as part of the header are taken from the answer; a
 * proof result carries the proof nodes as the light client verified them, so the caller can verify
 * them again against `stateRoot` independently.
 */
import type { BlockHeaderAnswer, ProofAnswer } from '../api/worker-protocol.ts'
import { EMPTY_CODE_HASH, EMPTY_ROOT } from '../core/account.ts'
import { toHex } from '../core/bytes.ts'
import { quantity, zeros } from './hex.ts'

/** keccak256(rlp([])): the uncles hash of a block without uncles. */
const EMPTY_UNCLES_HASH = '0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347'
const EMPTY_ROOT_HEX = toHex(EMPTY_ROOT)
const EMPTY_CODE_HASH_HEX = toHex(EMPTY_CODE_HASH)

export function blockObject(h: BlockHeaderAnswer): Record<string, unknown> {
  return {
    number: quantity(h.number),
    hash: h.hash,
    parentHash: h.parentHash,
    nonce: zeros(8),
    mixHash: zeros(32),
    sha3Uncles: EMPTY_UNCLES_HASH,
    logsBloom: zeros(256),
    transactionsRoot: h.transactionsRoot,
    stateRoot: h.stateRoot,
    receiptsRoot: EMPTY_ROOT_HEX,
    miner: zeros(20),
    difficulty: '0x0',
    totalDifficulty: '0x0',
    extraData: h.extraData,
    size: '0x0',
    gasLimit: '0x0',
    gasUsed: '0x0',
    timestamp: quantity(h.timestamp),
    transactions: [],
    uncles: [],
    validatorsHash: h.validatorsHash,
    nextValidatorsHash: h.nextValidatorsHash,
  }
}

/**
 * EIP-1186: an absent account is shown as the empty account (balance and nonce 0, the empty code
 * hash and storage root) with the proof of its absence; an absent slot as value 0 with its proof.
 * `keys` are the storage keys as the caller gave them (the answer's are normalised to 32 bytes).
 */
export function proofObject(p: ProofAnswer, keys: readonly string[]): Record<string, unknown> {
  const a = p.account
  return {
    address: p.address.toLowerCase(),
    accountProof: p.accountProof,
    balance: quantity(a?.balance ?? 0),
    codeHash: a?.codeHash ?? EMPTY_CODE_HASH_HEX,
    nonce: quantity(a?.nonce ?? 0),
    storageHash: a?.storageRoot ?? EMPTY_ROOT_HEX,
    storageProof: p.storage.map((s, i) => ({
      key: keys[i] ?? s.key,
      value: quantity(s.value === '0x' ? 0 : s.value),
      proof: s.proof,
    })),
  }
}
