/**
 * The Merkle-Patricia trie node codec.
 *
 * A node is one of: a leaf (rest of the key + value), an extension (shared path + one child), or a
 * branch (16 children + optional value). A node's encoding is RLP; a parent refers to a child by the
 * keccak-256 of the child's encoding, unless that encoding is shorter than 32 bytes, in which case
 * the child is embedded ("inlined") in the parent. The root is always referred to by hash.
 *
 * Security considerations: node bytes come from untrusted peers and disks. `decodeNode` is strict
 * (exactly the shapes above, canonical RLP, hash references of exactly 32 bytes, inline children that
 * really are shorter than 32 bytes, extensions that point at branches) and bounded (it never
 * allocates more than a small multiple of its input). Decoding says nothing about authenticity: only
 * comparing keccak(bytes) with the hash that was asked for does, and that is the caller's job.
 */
import { NodeDecodeError, type RlpError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { readRlpItem, rlpAt } from '../rlp-decode.ts'
import { hexPrefixDecode, hexPrefixEncode, type Nibbles } from './nibbles.ts'

export interface LeafNode {
  kind: 'leaf'
  path: Nibbles
  value: Uint8Array
  enc?: Uint8Array
  hash?: Uint8Array
  /** Set once this node is known to be in the node store (loaded from it, or committed to it). */
  stored?: boolean
}
export interface ExtensionNode {
  kind: 'extension'
  path: Nibbles
  child: TrieNode
  enc?: Uint8Array
  hash?: Uint8Array
  /** Set once this node is known to be in the node store (loaded from it, or committed to it). */
  stored?: boolean
}
export interface BranchNode {
  kind: 'branch'
  children: (TrieNode | null)[]
  value: Uint8Array | null
  enc?: Uint8Array
  hash?: Uint8Array
  /** Set once this node is known to be in the node store (loaded from it, or committed to it). */
  stored?: boolean
}
/** A reference by hash to a node not loaded yet. `resolved` caches it once loaded. */
export interface HashNode {
  kind: 'hash'
  hash: Uint8Array
  resolved?: TrieNode
}
export type TrieNode = LeafNode | ExtensionNode | BranchNode | HashNode

// ---- encoding -------------------------------------------------------------------------------------

const EMPTY_ITEM = Uint8Array.of(0x80)

function lengthPrefix(len: number, offset: number): Uint8Array {
  if (len < 56) return Uint8Array.of(offset + len)
  const bytes: number[] = []
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 255)
  return Uint8Array.of(offset + 55 + bytes.length, ...bytes)
}

/** RLP of a byte string. */
export function encodeBytesItem(b: Uint8Array): Uint8Array {
  if (b.length === 1 && b[0]! < 0x80) return b
  const p = lengthPrefix(b.length, 0x80)
  const out = new Uint8Array(p.length + b.length)
  out.set(p)
  out.set(b, p.length)
  return out
}

/** RLP list of already-encoded items. */
export function encodeListOfItems(items: Uint8Array[]): Uint8Array {
  let len = 0
  for (const it of items) len += it.length
  const p = lengthPrefix(len, 0xc0)
  const out = new Uint8Array(p.length + len)
  out.set(p)
  let o = p.length
  for (const it of items) {
    out.set(it, o)
    o += it.length
  }
  return out
}

/** The encoded item a parent embeds for `child`: 0x80 if none, the inline encoding, or 0xa0 ‖ hash. */
function childItem(child: TrieNode | null): Uint8Array {
  if (child === null) return EMPTY_ITEM
  if (child.kind === 'hash') return hashItem(child.hash)
  const enc = encodeNode(child)
  if (enc.length < 32) return enc
  return hashItem(nodeHash(child))
}

function hashItem(hash: Uint8Array): Uint8Array {
  const out = new Uint8Array(33)
  out[0] = 0xa0
  out.set(hash, 1)
  return out
}

/** The node's RLP encoding (cached on the node). */
export function encodeNode(node: LeafNode | ExtensionNode | BranchNode): Uint8Array {
  if (node.enc) return node.enc
  let enc: Uint8Array
  if (node.kind === 'leaf') {
    enc = encodeListOfItems([encodeBytesItem(hexPrefixEncode(node.path, true)), encodeBytesItem(node.value)])
  } else if (node.kind === 'extension') {
    enc = encodeListOfItems([encodeBytesItem(hexPrefixEncode(node.path, false)), childItem(node.child)])
  } else {
    const items: Uint8Array[] = new Array(17)
    for (let i = 0; i < 16; i++) items[i] = childItem(node.children[i] ?? null)
    items[16] = node.value ? encodeBytesItem(node.value) : EMPTY_ITEM
    enc = encodeListOfItems(items)
  }
  node.enc = enc
  return enc
}

/** keccak-256 of the node's encoding (cached). */
export function nodeHash(node: TrieNode): Uint8Array {
  if (node.kind === 'hash') return node.hash
  if (!node.hash) node.hash = keccak256(encodeNode(node))
  return node.hash
}

/** True if a parent stores this node by hash (its encoding is ≥ 32 bytes) rather than inline. */
export function isHashed(node: LeafNode | ExtensionNode | BranchNode): boolean {
  return encodeNode(node).length >= 32
}

// ---- decoding -------------------------------------------------------------------------------------

/** Decodes node bytes strictly. Throws `NodeDecodeError` (or `RlpError`) on any malformed input. */
export function decodeNode(bytes: Uint8Array): LeafNode | ExtensionNode | BranchNode {
  let item: RlpItem
  try {
    item = rlpDecode(bytes)
  } catch (e) {
    throw new NodeDecodeError(`node is not valid RLP: ${(e as RlpError).message}`)
  }
  const node = nodeFromItem(item, 0)
  node.enc = bytes
  return node
}

function nodeFromItem(item: RlpItem, depth: number): LeafNode | ExtensionNode | BranchNode {
  if (!Array.isArray(item)) throw new NodeDecodeError('node is not an RLP list')
  if (item.length === 2) {
    const [hp, second] = item
    if (!(hp instanceof Uint8Array)) throw new NodeDecodeError('node path is not a byte string')
    const { path, leaf } = hexPrefixDecode(hp)
    if (leaf) {
      if (!(second instanceof Uint8Array)) throw new NodeDecodeError('leaf value is not a byte string')
      if (second.length === 0) throw new NodeDecodeError('leaf value is empty')
      return { kind: 'leaf', path, value: second }
    }
    if (path.length === 0) throw new NodeDecodeError('extension with an empty path')
    const child = childFromItem(second!, depth)
    if (child === null) throw new NodeDecodeError('extension without a child')
    if (child.kind !== 'hash' && child.kind !== 'branch')
      throw new NodeDecodeError('extension must point at a branch')
    return { kind: 'extension', path, child }
  }
  if (item.length === 17) {
    const children: (TrieNode | null)[] = new Array(16)
    for (let i = 0; i < 16; i++) children[i] = childFromItem(item[i]!, depth)
    const v = item[16]!
    if (!(v instanceof Uint8Array)) throw new NodeDecodeError('branch value is not a byte string')
    return { kind: 'branch', children, value: v.length ? v : null }
  }
  throw new NodeDecodeError(`node has ${item.length} items, expected 2 or 17`)
}

function childFromItem(item: RlpItem, depth: number): TrieNode | null {
  if (item instanceof Uint8Array) {
    if (item.length === 0) return null
    if (item.length !== 32) throw new NodeDecodeError(`child reference of ${item.length} bytes, expected 32`)
    return { kind: 'hash', hash: item }
  }
  // An inline child: its own encoding must be shorter than 32 bytes, which also bounds recursion.
  if (depth > 64) throw new NodeDecodeError('inline nodes nested too deeply')
  const enc = rlpEncode(item as never)
  if (enc.length >= 32) throw new NodeDecodeError('inline child of 32 bytes or more')
  const node = nodeFromItem(item, depth + 1)
  node.enc = enc
  return node
}

// ---- scanning without decoding -------------------------------------------------------------------

export const SCAN_LEAF = 0
export const SCAN_EXTENSION = 1
export const SCAN_BRANCH = 2

/** What `scanNode` found; one record is reused for many calls. */
export interface NodeScan {
  kind: typeof SCAN_LEAF | typeof SCAN_EXTENSION | typeof SCAN_BRANCH
  /** Offsets in the input of the child hashes (32 bytes each), in order; `count` of them. */
  refs: Int32Array
  count: number
  /** Branch: bit i set when child i is a hash (the others are empty). */
  mask: number
  /** Extension: its path length in nibbles. */
  pathLength: number
  /** Leaf: its value is input[valueStart, valueEnd). */
  valueStart: number
  valueEnd: number
}

export function newNodeScan(): NodeScan {
  return {
    kind: SCAN_LEAF,
    refs: new Int32Array(16),
    count: 0,
    mask: 0,
    pathLength: 0,
    valueStart: 0,
    valueEnd: 0,
  }
}

/**
 * The sync's fast path: reads what `childRefs(decodeNode(bytes))` needs straight from the encoding,
 * building no objects. It accepts only the common shapes — a leaf, an extension to a hash, a branch
 * whose children are all hashes or empty and whose value is empty — and returns false for anything
 * else (inline children, a branch value, and every malformed input), where the caller uses
 * `decodeNode`. It never accepts bytes `decodeNode` rejects (test/core/child-refs.test.ts).
 */
export function scanNode(b: Uint8Array, s: NodeScan): boolean {
  const n = b.length
  if (!readRlpItem(b, 0, n) || !rlpAt.list || rlpAt.end !== n) return false
  const end = n
  const listStart = rlpAt.start
  let pos = listStart
  // First item: a leaf's or extension's hex-prefix path, or a branch's child 0.
  if (!readRlpItem(b, pos, end)) return false
  if (rlpAt.list) return false // an inline child 0, or a malformed node
  const firstStart = rlpAt.start
  const firstEnd = rlpAt.end
  pos = firstEnd
  if (!readRlpItem(b, pos, end)) return false
  const secondStart = rlpAt.start
  const secondEnd = rlpAt.end
  const secondList = rlpAt.list
  if (secondEnd === end) {
    // Two items: leaf or extension.
    const hpLen = firstEnd - firstStart
    if (hpLen === 0) return false
    const h = b[firstStart]!
    const flag = h >> 4
    if (flag > 3) return false
    const odd = flag & 1
    if (!odd && (h & 15) !== 0) return false
    if (secondList) return false
    if (flag & 2) {
      if (secondEnd === secondStart) return false
      s.kind = SCAN_LEAF
      s.count = 0
      s.valueStart = secondStart
      s.valueEnd = secondEnd
      return true
    }
    const pathLength = (hpLen - 1) * 2 + odd
    if (pathLength === 0 || secondEnd - secondStart !== 32 || b[secondStart - 1] !== 0xa0) return false
    s.kind = SCAN_EXTENSION
    s.pathLength = pathLength
    s.refs[0] = secondStart
    s.count = 1
    return true
  }
  // A branch: 16 children (empty, or a 32-byte hash) and an empty value.
  let count = 0
  let mask = 0
  pos = listStart
  for (let i = 0; i < 16; i++) {
    const tag = b[pos]
    if (tag === 0x80) pos++
    else if (tag === 0xa0 && pos + 33 <= end) {
      s.refs[count++] = pos + 1
      mask |= 1 << i
      pos += 33
    } else return false
  }
  if (pos + 1 !== end || b[pos] !== 0x80) return false
  s.kind = SCAN_BRANCH
  s.count = count
  s.mask = mask
  return true
}

// ---- references the sync follows --------------------------------------------------------------------

/** Which trie a node belongs to decides how its leaves are read. */
export type TrieKind = 'state' | 'storage'
/** What a hash refers to: a node of the account trie, a node of a storage trie, or a code blob. */
export type RefKind = 'state' | 'storage' | 'code'
export interface ChildRef {
  hash: Uint8Array
  kind: RefKind
}

/**
 * Every hash `node` points to, in order: child nodes (looking through inline children), and, for
 * leaves of the account trie, the account's storage root and code hash unless they are the empty ones.
 * `leafRefs` reads a leaf value of the state trie (see account.ts); passing it keeps this module free
 * of the account format.
 */
export function childRefs(
  node: TrieNode,
  trie: TrieKind,
  leafRefs?: (value: Uint8Array) => ChildRef[],
): ChildRef[] {
  const out: ChildRef[] = []
  collect(node, trie, leafRefs, out, true)
  return out
}

function collect(
  node: TrieNode,
  trie: TrieKind,
  leafRefs: ((value: Uint8Array) => ChildRef[]) | undefined,
  out: ChildRef[],
  top: boolean,
): void {
  switch (node.kind) {
    case 'hash':
      if (!top) out.push({ hash: node.hash, kind: trie })
      return
    case 'leaf':
      if (trie === 'state' && leafRefs) out.push(...leafRefs(node.value))
      return
    case 'extension':
      collect(node.child, trie, leafRefs, out, false)
      return
    case 'branch':
      for (const c of node.children) if (c) collect(c, trie, leafRefs, out, false)
      if (node.value && trie === 'state' && leafRefs) out.push(...leafRefs(node.value))
      return
  }
}
