/**
 * Merkle proofs: the nodes on one key's path, root first. Verifying walks that path from a trusted
 * root, finding each node by its hash, so every byte used is bound to the root.
 *
 * Security considerations: the proof is untrusted input. A node is only used if its keccak equals a
 * hash already authenticated (the root, or a reference inside an authenticated node), so a flipped
 * byte anywhere in a used node makes verification fail with `ProofError`, never a wrong value. An
 * absence result is as strong as a presence result: the walk must reach a point where the key's path
 * provably leaves the trie (an empty branch slot, a diverging leaf or extension).
 */
import { toHex } from '../bytes.ts'
import { ProofError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { bytesToNibbles, commonPrefixLength } from './nibbles.ts'
import { decodeNode, type TrieNode } from './node.ts'
import { isEmptyRoot } from './trie.ts'

/** Indexes proof nodes by their hash. */
export function proofMap(proof: Uint8Array[]): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>()
  for (const node of proof) {
    if (!(node instanceof Uint8Array)) throw new ProofError('MALFORMED', 'proof node is not bytes')
    m.set(toHex(keccak256(node)), node)
  }
  return m
}

/**
 * Returns the value stored under `key` (trie key bytes; hash it first for secure tries) in the trie
 * with root `root`, or `null` if the proof shows the key is absent. Throws `ProofError` otherwise.
 */
export function verifyProof(root: Uint8Array, key: Uint8Array, proof: Uint8Array[]): Uint8Array | null {
  if (isEmptyRoot(root)) return null
  const nodes = proofMap(proof)
  const path = bytesToNibbles(key)
  let off = 0
  let hash = root
  let depth = 0
  for (;;) {
    const bytes = nodes.get(toHex(hash))
    if (!bytes) {
      throw new ProofError(
        'MISSING_NODE',
        depth === 0
          ? `no proof node hashes to the root ${toHex(root)}`
          : `proof lacks node ${toHex(hash)} at depth ${depth}`,
        { hash: toHex(hash), depth },
      )
    }
    let n: TrieNode
    try {
      n = decodeNode(bytes)
    } catch (e) {
      throw new ProofError(
        'MALFORMED_NODE',
        `proof node ${toHex(hash)} is malformed: ${(e as Error).message}`,
      )
    }
    // Follow inline children within this node until the path leaves it or reaches a hash reference.
    for (;;) {
      if (n.kind === 'hash') {
        hash = n.hash
        depth++
        break
      }
      if (n.kind === 'leaf') {
        const matches =
          n.path.length === path.length - off && commonPrefixLength(n.path, 0, path, off) === n.path.length
        return matches ? n.value : null
      }
      if (n.kind === 'extension') {
        if (commonPrefixLength(n.path, 0, path, off) < n.path.length) return null
        off += n.path.length
        n = n.child
        continue
      }
      if (off === path.length) return n.value
      const c: TrieNode | null = n.children[path[off++]!] ?? null
      if (!c) return null
      n = c
    }
  }
}
