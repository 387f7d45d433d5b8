/**
 * Range proofs: a sorted run of leaves [k1 … kn] plus the proof of the range's two edges (the origin
 * key the range starts at, which may be absent, and kn) proves that these are exactly all the leaves
 * the trie has between origin and kn. This is how snap-style sync checks a whole run of accounts with
 * two paths' worth of nodes instead of every interior node.
 *
 * Verification rebuilds the trie: the edge proofs give every node that straddles a range boundary;
 * everything strictly inside the range is cut away and replaced by the given leaves; everything
 * outside stays as the hashes the proof commits to. The rebuilt root equals the trusted root only if
 * the given leaves are exactly the trie's leaves in range (keccak collision resistance), so a gap, an
 * extra or altered leaf, or a wrong order is rejected.
 *
 * Keys are fixed-length (32 bytes, as in secure tries).
 *
 * Security considerations: every proof node is used only via its hash. A subtree that straddles a
 * boundary but is not in the proof is an `INCOMPLETE` error, never assumed empty.
 */
import { compare, toHex } from '../bytes.ts'
import { ProofError } from '../errors.ts'
import { bytesToNibbles, concatNibbles, type Nibbles } from './nibbles.ts'
import { decodeNode, nodeHash, type TrieNode } from './node.ts'
import { proofMap } from './proof.ts'
import { buildRoot } from './root-builder.ts'
import { isEmptyRoot, trieInsert } from './trie.ts'

const KEY_BYTES = 32

export interface RangeProofResult {
  /** True if the trie has leaves after the last one given (the range is not the trie's end). */
  hasMore: boolean
}

/**
 * Verifies that `keys`/`values` are all the leaves of the trie `root` from `origin` through the last
 * key (to the end of the key space when `keys` is empty). Throws `ProofError` if not.
 */
export function verifyRangeProof(
  root: Uint8Array,
  origin: Uint8Array,
  keys: Uint8Array[],
  values: Uint8Array[],
  proof: Uint8Array[],
): RangeProofResult {
  if (keys.length !== values.length) throw new ProofError('MALFORMED', 'keys and values differ in number')
  if (origin.length !== KEY_BYTES) throw new ProofError('MALFORMED', `origin must be ${KEY_BYTES} bytes`)
  for (let i = 0; i < keys.length; i++) {
    if (keys[i]!.length !== KEY_BYTES) throw new ProofError('MALFORMED', `key ${i} is not ${KEY_BYTES} bytes`)
    if (values[i]!.length === 0) throw new ProofError('MALFORMED', `value ${i} is empty`)
    const prev = i === 0 ? null : keys[i - 1]!
    if (prev ? compare(prev, keys[i]!) >= 0 : compare(origin, keys[i]!) > 0)
      throw new ProofError('ORDER', `key ${i} is out of order (keys must increase strictly from the origin)`)
  }

  // No proof: the leaves must be the whole trie.
  if (proof.length === 0) {
    if (origin.some((b) => b !== 0))
      throw new ProofError('INCOMPLETE', 'a range not starting at zero needs edge proofs')
    const got = buildRoot(keys.map((k, i) => [k, values[i]!] as const))
    if (compare(got, root) !== 0) throw rootMismatch(root, got)
    return { hasMore: false }
  }
  if (isEmptyRoot(root)) {
    if (keys.length) throw new ProofError('ROOT_MISMATCH', 'leaves given for the empty trie')
    return { hasMore: false }
  }

  const nodes = proofMap(proof)
  const left = bytesToNibbles(origin)
  const right = keys.length ? bytesToNibbles(keys[keys.length - 1]!) : new Uint8Array(KEY_BYTES * 2).fill(15)
  const state = { hasMore: false }

  const resolve = (n: TrieNode): TrieNode => {
    if (n.kind !== 'hash') return n
    const bytes = nodes.get(toHex(n.hash))
    if (!bytes) return n
    try {
      const d = decodeNode(bytes)
      d.hash = n.hash
      return d
    } catch (e) {
      throw new ProofError(
        'MALFORMED_NODE',
        `proof node ${toHex(n.hash)} is malformed: ${(e as Error).message}`,
      )
    }
  }

  const rootNode = resolve({ kind: 'hash', hash: root })
  if (rootNode.kind === 'hash')
    throw new ProofError('MISSING_NODE', `no proof node hashes to the root ${toHex(root)}`)
  let trie = prune(rootNode, new Uint8Array(0), left, right, resolve, state)
  for (let i = 0; i < keys.length; i++) {
    try {
      trie = trieInsert(trie, bytesToNibbles(keys[i]!), 0, values[i]!)
    } catch {
      throw new ProofError('INCOMPLETE', `proof does not cover key ${toHex(keys[i]!)}`)
    }
  }
  const got = trie ? nodeHash(trie) : new Uint8Array(32)
  if (compare(got, root) !== 0) throw rootMismatch(root, got)
  return state
}

function rootMismatch(want: Uint8Array, got: Uint8Array): ProofError {
  return new ProofError(
    'ROOT_MISMATCH',
    `range does not rebuild the root: expected ${toHex(want)}, got ${toHex(got)} (missing, extra or altered leaves)`,
  )
}

/** Where the subtree of all keys starting with `prefix` lies relative to [left, right]. */
function relation(prefix: Nibbles, left: Nibbles, right: Nibbles): 'left' | 'right' | 'inside' | 'straddles' {
  const d = prefix.length
  let cl = 0
  while (cl < d && prefix[cl] === left[cl]) cl++
  if (cl < d && prefix[cl]! < left[cl]!) return 'left'
  let cr = 0
  while (cr < d && prefix[cr] === right[cr]) cr++
  if (cr < d && prefix[cr]! > right[cr]!) return 'right'
  // prefix ≥ left's prefix and ≤ right's prefix; it straddles if it is a prefix of either bound.
  return cl === d || cr === d ? 'straddles' : 'inside'
}

function keyInRange(key: Nibbles, left: Nibbles, right: Nibbles): -1 | 0 | 1 {
  if (compare(key, left) < 0) return -1
  if (compare(key, right) > 0) return 1
  return 0
}

/** Removes every leaf in [left, right] from the subtree at `prefix`, keeping all else as it was. */
function prune(
  node: TrieNode,
  prefix: Nibbles,
  left: Nibbles,
  right: Nibbles,
  resolve: (n: TrieNode) => TrieNode,
  state: { hasMore: boolean },
): TrieNode | null {
  const rel = relation(prefix, left, right)
  if (rel === 'inside') return null
  if (rel === 'left') return node
  if (rel === 'right') {
    state.hasMore = true
    return node
  }
  const n = resolve(node)
  switch (n.kind) {
    case 'hash':
      throw new ProofError('INCOMPLETE', `proof lacks node ${toHex(n.hash)} on a range boundary`)
    case 'leaf': {
      const key = concatNibbles(prefix, n.path)
      const where = keyInRange(key, left, right)
      if (where === 1) state.hasMore = true
      return where === 0 ? null : n
    }
    case 'extension': {
      const child = prune(n.child, concatNibbles(prefix, n.path), left, right, resolve, state)
      return child === null ? null : { kind: 'extension', path: n.path, child }
    }
    case 'branch': {
      if (n.value) throw new ProofError('MALFORMED', 'branch with a value in a fixed-length-key trie')
      const children = n.children.map((c, i) =>
        c === null ? null : prune(c, concatNibbles(prefix, Uint8Array.of(i)), left, right, resolve, state),
      )
      return children.some((c) => c !== null) ? { kind: 'branch', children, value: null } : null
    }
  }
}
