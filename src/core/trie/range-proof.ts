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
 * Chained proving (`proveChained`), for a client that reads a whole trie range after range from key
 * zero with the stack builder (root-builder.ts): the builder already holds every leaf before the
 * range, proven by the ranges before it. The range's leaves are added to (a fork of) it, and the root
 * is computed as if the subtrees right of the last key — taken from the right edge of the proof —
 * followed. Equal to the trusted root, it proves the leaves from key zero through the last key are
 * exactly the trie's (keccak collision resistance, as above), so the range is proven with the nodes
 * the builder hashes anyway: each interior node once instead of twice (verify, then build). A
 * mismatch means the reply or the builder's state is wrong: `verifyRangeProof` on the range alone
 * tells which (the caller's job).
 *
 * Security considerations: every proof node is used only via its hash. A subtree that straddles a
 * boundary but is not in the proof is an `INCOMPLETE` error, never assumed empty. The right edge's
 * items are taken from the proof unverified, and are only ever inputs to the root comparison: one
 * that is not the trie's cannot give the trusted root. A chained proof reads only the right edge, so
 * it also requires every proof node to be reachable from the root (`rejectStrayNodes`): a forged node
 * on the origin's edge is then a `ProofError` that charges the peer, as with `verifyRangeProof`.
 */
import { compare, equals, toHex } from '../bytes.ts'
import { NodeDecodeError, ProofError } from '../errors.ts'
import { readRlpItem, rlpAt } from '../rlp-decode.ts'
import { bytesToNibbles, concatNibbles, hexPrefixDecode, type Nibbles } from './nibbles.ts'
import { decodeNode, nodeHash, type TrieNode } from './node.ts'
import { proofMap } from './proof.ts'
import { buildRoot, type EdgeItem, type RootBuilder } from './root-builder.ts'
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
  checkLeaves(origin, keys, values)

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

/** The shape every range must have: 32-byte keys, strictly increasing from the origin, values not empty. */
function checkLeaves(origin: Uint8Array, keys: Uint8Array[], values: Uint8Array[]): void {
  if (keys.length !== values.length) throw new ProofError('MALFORMED', 'keys and values differ in number')
  if (origin.length !== KEY_BYTES) throw new ProofError('MALFORMED', `origin must be ${KEY_BYTES} bytes`)
  for (let i = 0; i < keys.length; i++) {
    if (keys[i]!.length !== KEY_BYTES) throw new ProofError('MALFORMED', `key ${i} is not ${KEY_BYTES} bytes`)
    if (values[i]!.length === 0) throw new ProofError('MALFORMED', `value ${i} is empty`)
    const prev = i === 0 ? null : keys[i - 1]!
    if (prev ? compare(prev, keys[i]!) >= 0 : compare(origin, keys[i]!) > 0)
      throw new ProofError('ORDER', `key ${i} is out of order (keys must increase strictly from the origin)`)
  }
}

/**
 * Proves a range chained onto `builder`, which holds every leaf of the trie `root` before `origin`
 * (see the module comment): adds the leaves to it and returns whether the trie has leaves after the
 * last one — or null if the root does not come out (the reply or the builder's state is wrong; the
 * builder is then in no useful state). Throws `ProofError` for a reply that is malformed on its face
 * (leaf shapes and order, a right edge the proof does not give).
 */
export function proveChained(
  root: Uint8Array,
  origin: Uint8Array,
  keys: Uint8Array[],
  values: Uint8Array[],
  proof: Uint8Array[],
  builder: RootBuilder,
): { hasMore: boolean } | null {
  checkLeaves(origin, keys, values)
  const right = keys.length && proof.length ? rightEdge(root, keys[keys.length - 1]!, proof) : []
  if (proof.length) rejectStrayNodes(root, proof)
  try {
    for (let i = 0; i < keys.length; i++) builder.add(keys[i]!, values[i]!)
  } catch {
    return null // keys not after the builder's: its state is not the one before `origin`
  }
  return equals(builder.rootWith(right), root) ? { hasMore: right.length > 0 } : null
}

/**
 * Throws `ProofError` unless every proof node is reachable from `root` through the proof's own
 * references. Chained proving reads only the right edge, so without this a forged node on the left
 * edge (the origin's path) would go unnoticed: harmless to what is stored (the root still decides),
 * but a lying peer must be caught lying, as `verifyRangeProof` catches it (it needs both edges).
 * An honest proof holds only the two edge paths, so each of its nodes is referenced from the root.
 */
function rejectStrayNodes(root: Uint8Array, proof: Uint8Array[]): void {
  const nodes = proofMap(proof)
  const seen = new Set<string>()
  const stack = [toHex(root)]
  while (stack.length) {
    const h = stack.pop()!
    const node = nodes.get(h)
    if (!node || seen.has(h)) continue
    seen.add(h)
    const items = listItems(node)
    let children: Uint8Array[] = []
    if (items?.length === 17) children = items.slice(0, 16)
    else if (items?.length === 2) {
      try {
        if (!hexPrefixDecode(payload(items[0]!)).leaf) children = [items[1]!]
      } catch {
        // A malformed path: its node is still reached; the root comparison rejects the proof.
      }
    }
    for (const c of children) if (c.length === 33 && c[0] === 0xa0) stack.push(toHex(c.subarray(1)))
  }
  for (const h of nodes.keys())
    if (!seen.has(h)) throw new ProofError('STRAY_NODE', `proof node ${h} is on no path from the root`)
}

/**
 * The subtrees of the trie `root` right of `last`, in key order (deepest first, then by nibble), as
 * the items their branches embed, read from the proof of `last`'s path. Throws `ProofError` when the
 * proof does not lead from the root to `last`'s leaf.
 */
export function rightEdge(root: Uint8Array, last: Uint8Array, proof: Uint8Array[]): EdgeItem[] {
  const nodes = proofMap(proof)
  const key = bytesToNibbles(last)
  const levels: EdgeItem[][] = []
  const lacks = (what: string) => new ProofError('INCOMPLETE', `proof of the last key's path ${what}`)
  let node = nodes.get(toHex(root))
  if (!node) throw new ProofError('MISSING_NODE', `no proof node hashes to the root ${toHex(root)}`)
  let d = 0
  for (;;) {
    const items = listItems(node)
    let child: Uint8Array
    if (items?.length === 17) {
      if (d >= key.length) throw lacks('runs past the key')
      const level: EdgeItem[] = []
      for (let i = key[d]! + 1; i < 16; i++)
        if (!isEmptyItem(items[i]!)) level.push({ depth: d, nibble: i, item: items[i]! })
      levels.push(level)
      child = items[key[d]!]!
      d++
    } else if (items?.length === 2) {
      let path: Nibbles
      let leaf: boolean
      try {
        ;({ path, leaf } = hexPrefixDecode(payload(items[0]!)))
      } catch (e) {
        throw new ProofError('MALFORMED_NODE', `proof node on the right edge: ${(e as Error).message}`)
      }
      if (!equals(path, key.subarray(d, d + path.length)) || (leaf && d + path.length !== key.length))
        throw lacks('leaves the key')
      if (leaf) break
      child = items[1]!
      d += path.length
    } else throw new ProofError('MALFORMED_NODE', 'proof node on the right edge is not a trie node')
    if (isEmptyItem(child)) throw lacks('ends before its leaf')
    if (child[0]! >= 0xc0)
      node = child // an inline node
    else {
      const next = child.length === 33 && child[0] === 0xa0 ? nodes.get(toHex(child.subarray(1))) : undefined
      if (!next) throw lacks('lacks a node')
      node = next
    }
  }
  return levels.reverse().flat()
}

const isEmptyItem = (item: Uint8Array): boolean => item.length === 1 && item[0] === 0x80

/** The items (headers included) of the RLP list `b`, or null if `b` is not exactly one list. */
function listItems(b: Uint8Array): Uint8Array[] | null {
  if (!readRlpItem(b, 0, b.length) || !rlpAt.list || rlpAt.end !== b.length) return null
  const end = rlpAt.end
  const out: Uint8Array[] = []
  for (let pos = rlpAt.start; pos < end; pos = rlpAt.end) {
    if (!readRlpItem(b, pos, end)) return null
    out.push(b.subarray(pos, rlpAt.end))
  }
  return out
}

/** A string item's payload. */
function payload(item: Uint8Array): Uint8Array {
  if (!readRlpItem(item, 0, item.length) || rlpAt.list) throw new NodeDecodeError('path is not a byte string')
  return item.subarray(rlpAt.start, rlpAt.end)
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
