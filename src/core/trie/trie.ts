/**
 * A Merkle-Patricia trie over an async node store.
 *
 * The in-memory tree is persistent (immutable): every change builds new nodes along one path and
 * shares the rest, so `copy()` is O(1) and a failed block import simply drops its copy. Nodes not yet
 * loaded are `hash` references, loaded from the store on first use and checked against their hash
 * (corrupt local data is a `NodeDecodeError`/`MissingNodeError`, never a wrong answer).
 *
 * The walks themselves are synchronous. When one meets an unloaded node it throws a `NeedNode`
 * marker; the async wrapper loads that node and runs the walk again. An in-memory trie thus never
 * awaits, and a stored trie pays one await per node it actually loads.
 *
 * `commit()` writes only nodes that are new since the last commit (hashed children before parents, in
 * one atomic batch) and never rewrites stored ones.
 */
import { toHex } from '../bytes.ts'
import { MissingNodeError, NodeDecodeError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { EMPTY_ROOT_HASH } from './constants.ts'
import { bytesToNibbles, commonPrefixLength, concatNibbles, type Nibbles, nibblesToBytes } from './nibbles.ts'
import {
  type BranchNode,
  decodeNode,
  type ExtensionNode,
  encodeNode,
  type HashNode,
  type LeafNode,
  nodeHash,
  type TrieNode,
} from './node.ts'

export interface TrieOptions {
  /** Hash keys with keccak-256 before use (Ethereum's "secure" trie: state and storage tries). */
  secure?: boolean
  /** Root to open; omitted or the empty root gives an empty trie. */
  root?: Uint8Array
}

export type TrieOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }

/** Thrown (not as an Error: it is control flow, and cheap) when a walk meets an unloaded node. */
class NeedNode {
  constructor(readonly node: HashNode) {}
}

type Resolved = LeafNode | ExtensionNode | BranchNode

function resolveSync(n: TrieNode): Resolved {
  if (n.kind !== 'hash') return n
  if (n.resolved) return n.resolved as Resolved
  throw new NeedNode(n)
}

const UNCHANGED = Symbol('unchanged')
const NO_NIBBLES = new Uint8Array(0)

const leaf = (path: Nibbles, value: Uint8Array): LeafNode => ({ kind: 'leaf', path, value })
const ext = (path: Nibbles, child: TrieNode): ExtensionNode => ({ kind: 'extension', path, child })
const emptyChildren = (): (TrieNode | null)[] => new Array(16).fill(null)

export function trieInsert(n: TrieNode | null, key: Nibbles, off: number, value: Uint8Array): TrieNode {
  if (n === null) return leaf(off === 0 ? key : key.subarray(off), value)
  const r = resolveSync(n)
  if (r.kind === 'branch') {
    const children = r.children.slice()
    let v = r.value
    if (off === key.length) v = value
    else children[key[off]!] = trieInsert(children[key[off]!] ?? null, key, off + 1, value)
    return { kind: 'branch', children, value: v }
  }
  const c = commonPrefixLength(r.path, 0, key, off)
  if (r.kind === 'extension' && c === r.path.length) {
    return ext(r.path, trieInsert(r.child, key, off + c, value))
  }
  if (r.kind === 'leaf' && c === r.path.length && off + c === key.length) {
    return leaf(r.path, value)
  }
  const branch: BranchNode = { kind: 'branch', children: emptyChildren(), value: null }
  if (r.kind === 'leaf') {
    if (c === r.path.length) branch.value = r.value
    else branch.children[r.path[c]!] = leaf(r.path.subarray(c + 1), r.value)
  } else {
    branch.children[r.path[c]!] = c + 1 === r.path.length ? r.child : ext(r.path.subarray(c + 1), r.child)
  }
  if (off + c === key.length) branch.value = value
  else branch.children[key[off + c]!] = leaf(key.subarray(off + c + 1), value)
  return c > 0 ? ext(r.path.subarray(0, c), branch) : branch
}

function trieRemove(n: TrieNode | null, key: Nibbles, off: number): TrieNode | null | typeof UNCHANGED {
  if (n === null) return UNCHANGED
  const r = resolveSync(n)
  if (r.kind === 'leaf') {
    if (r.path.length !== key.length - off) return UNCHANGED
    return commonPrefixLength(r.path, 0, key, off) === r.path.length ? null : UNCHANGED
  }
  if (r.kind === 'extension') {
    if (commonPrefixLength(r.path, 0, key, off) < r.path.length) return UNCHANGED
    const child = trieRemove(r.child, key, off + r.path.length)
    if (child === UNCHANGED) return UNCHANGED
    return joinPath(r.path, child)
  }
  const children = r.children.slice()
  let value = r.value
  if (off === key.length) {
    if (!value) return UNCHANGED
    value = null
  } else {
    const child = trieRemove(children[key[off]!] ?? null, key, off + 1)
    if (child === UNCHANGED) return UNCHANGED
    children[key[off]!] = child
  }
  return normalizeBranch(children, value)
}

/** A branch left with one entry collapses into its parent path. */
function normalizeBranch(children: (TrieNode | null)[], value: Uint8Array | null): TrieNode | null {
  let count = 0
  let only = -1
  for (let i = 0; i < 16; i++) {
    if (children[i]) {
      count++
      only = i
    }
  }
  if (count >= 2 || (count === 1 && value)) return { kind: 'branch', children, value }
  if (count === 0) return value ? leaf(NO_NIBBLES, value) : null
  return joinPath(Uint8Array.of(only), children[only]!)
}

/** `path` followed by `child`, merged into one canonical node. */
function joinPath(path: Nibbles, child: TrieNode | null): TrieNode | null {
  if (child === null) return null
  const r = resolveSync(child)
  if (r.kind === 'leaf') return leaf(concatNibbles(path, r.path), r.value)
  if (r.kind === 'extension') return ext(concatNibbles(path, r.path), r.child)
  return ext(path, child)
}

function trieGet(n: TrieNode | null, key: Nibbles): Uint8Array | undefined {
  let off = 0
  while (n !== null) {
    const r = resolveSync(n)
    if (r.kind === 'leaf') {
      return r.path.length === key.length - off && commonPrefixLength(r.path, 0, key, off) === r.path.length
        ? r.value
        : undefined
    }
    if (r.kind === 'extension') {
      if (commonPrefixLength(r.path, 0, key, off) < r.path.length) return undefined
      off += r.path.length
      n = r.child
    } else {
      if (off === key.length) return r.value ?? undefined
      n = r.children[key[off++]!] ?? null
    }
  }
  return undefined
}

/** Encodings of the hashed nodes on `key`'s path, root first: an EIP-1186 style proof. */
function trieProve(root: TrieNode | null, key: Nibbles): Uint8Array[] {
  const out: Uint8Array[] = []
  let n = root
  let off = 0
  while (n !== null) {
    const r = resolveSync(n)
    const enc = encodeNode(r)
    if (n === root || enc.length >= 32) out.push(enc)
    if (r.kind === 'leaf') break
    if (r.kind === 'extension') {
      if (commonPrefixLength(r.path, 0, key, off) < r.path.length) break
      off += r.path.length
      n = r.child
    } else {
      if (off === key.length) break
      n = r.children[key[off++]!] ?? null
    }
  }
  return out
}

export class Trie {
  private rootNode: TrieNode | null
  /** Mutations run one at a time: each reads the root, may await node loads, then replaces it. */
  private mutations: Promise<unknown> = Promise.resolve()
  constructor(
    readonly store: NodeStore,
    private readonly opts: TrieOptions = {},
  ) {
    const root = opts.root
    this.rootNode = !root || isEmptyRoot(root) ? null : { kind: 'hash', hash: root }
  }

  /** A trie sharing this one's nodes; changes to either do not affect the other. */
  copy(): Trie {
    const t = new Trie(this.store, { secure: this.opts.secure })
    t.rootNode = this.rootNode
    return t
  }

  get secure(): boolean {
    return this.opts.secure === true
  }

  private path(key: Uint8Array): Nibbles {
    return bytesToNibbles(this.opts.secure ? keccak256(key) : key)
  }

  /** Runs a synchronous walk, loading unloaded nodes from the store as it meets them. */
  private async run<T>(walk: () => T): Promise<T> {
    for (;;) {
      try {
        return walk()
      } catch (e) {
        if (!(e instanceof NeedNode)) throw e
        e.node.resolved = await this.load(e.node.hash)
      }
    }
  }

  private async load(hash: Uint8Array): Promise<Resolved> {
    const bytes = await this.store.getNode(hash)
    if (!bytes) throw new MissingNodeError(toHex(hash))
    const actual = keccak256(bytes)
    for (let i = 0; i < 32; i++) {
      if (actual[i] !== hash[i])
        throw new NodeDecodeError(`stored node ${toHex(hash)} does not hash to its key (corrupt store)`, {
          hash: toHex(hash),
        })
    }
    const node = decodeNode(bytes)
    node.hash = hash
    node.stored = true
    return node
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const path = this.path(key)
    return this.run(() => trieGet(this.rootNode, path))
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.mutations.then(fn, fn)
    this.mutations = run.catch(() => {})
    return run
  }

  /** Sets `key` to `value`; an empty value deletes the key, as in Ethereum. Safe to call concurrently. */
  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    if (value.length === 0) return this.del(key)
    const path = this.path(key)
    return this.exclusive(async () => {
      this.rootNode = await this.run(() => trieInsert(this.rootNode, path, 0, value))
    })
  }

  del(key: Uint8Array): Promise<void> {
    const path = this.path(key)
    return this.exclusive(async () => {
      const r = await this.run(() => trieRemove(this.rootNode, path, 0))
      if (r !== UNCHANGED) this.rootNode = r
    })
  }

  async batch(ops: Iterable<TrieOp>): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') await this.put(op.key, op.value)
      else await this.del(op.key)
    }
  }

  /** The root hash of the current contents (committed or not). */
  root(): Uint8Array {
    return this.rootNode === null ? EMPTY_ROOT_HASH : nodeHash(this.rootNode)
  }

  /** Proof of `key` (present or absent) against `root()`. */
  async prove(key: Uint8Array): Promise<Uint8Array[]> {
    const path = this.path(key)
    return this.run(() => trieProve(this.rootNode, path))
  }

  /**
   * The nodes a commit would write (children before parents) and the root they give. Call
   * `markStored()` after writing them yourself, e.g. in one batch with other records.
   */
  pendingNodes(): { root: Uint8Array; nodes: [Uint8Array, Uint8Array][]; markStored: () => void } {
    const nodes: [Uint8Array, Uint8Array][] = []
    const visited: Resolved[] = []
    const visit = (n: TrieNode, isRoot: boolean): void => {
      if (n.kind === 'hash' || n.stored) return
      if (n.kind === 'extension') visit(n.child, false)
      else if (n.kind === 'branch') for (const c of n.children) if (c) visit(c, false)
      const enc = encodeNode(n)
      if (isRoot || enc.length >= 32) nodes.push([nodeHash(n), enc])
      visited.push(n)
    }
    if (this.rootNode) visit(this.rootNode, true)
    return {
      root: this.root(),
      nodes,
      markStored: () => {
        for (const n of visited) n.stored = true
      },
    }
  }

  /** Writes new nodes in one atomic batch and returns the root. */
  async commit(): Promise<Uint8Array> {
    const { root, nodes, markStored } = this.pendingNodes()
    if (nodes.length) await this.store.write({ nodes })
    markStored()
    return root
  }

  /**
   * Every leaf as [trie key, value] in key order, starting at the first key ≥ `from` (trie key
   * bytes: hashed keys for secure tries). Loads nodes as it goes; do not modify the trie meanwhile.
   */
  async *entries(from?: Uint8Array): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const start = from ? bytesToNibbles(from) : NO_NIBBLES
    // Depth-first, children in nibble order; each frame is a node and the path that leads to it.
    const stack: { node: TrieNode; path: Nibbles }[] = this.rootNode
      ? [{ node: this.rootNode, path: NO_NIBBLES }]
      : []
    while (stack.length) {
      const { node, path } = stack.pop()!
      let r: Resolved
      if (node.kind === 'hash') {
        if (!node.resolved) node.resolved = await this.load(node.hash)
        r = node.resolved as Resolved
      } else r = node
      if (r.kind === 'leaf') {
        const full = concatNibbles(path, r.path)
        if (compareNibbles(full, start) >= 0) yield [nibblesToBytes(full), r.value]
      } else if (r.kind === 'extension') {
        const p = concatNibbles(path, r.path)
        if (!subtreeBefore(p, start)) stack.push({ node: r.child, path: p })
      } else {
        for (let i = 15; i >= 0; i--) {
          const c = r.children[i]
          if (!c) continue
          const p = concatNibbles(path, Uint8Array.of(i))
          if (!subtreeBefore(p, start)) stack.push({ node: c, path: p })
        }
        if (r.value && compareNibbles(path, start) >= 0) yield [nibblesToBytes(path), r.value]
      }
    }
  }

  /** Drops the in-memory tree (after a commit) so memory stays flat; nodes reload on demand. */
  unload(): void {
    if (this.rootNode && this.rootNode.kind !== 'hash') {
      if (!this.rootNode.stored) throw new Error('unload() before commit() would lose changes')
      this.rootNode = { kind: 'hash', hash: nodeHash(this.rootNode) }
    }
  }
}

function compareNibbles(a: Nibbles, b: Nibbles): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/** True if every key under `prefix` sorts before `start` (the subtree can be skipped). */
function subtreeBefore(prefix: Nibbles, start: Nibbles): boolean {
  const n = Math.min(prefix.length, start.length)
  for (let i = 0; i < n; i++) if (prefix[i] !== start[i]) return prefix[i]! < start[i]!
  return false
}

export function isEmptyRoot(root: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (root[i] !== EMPTY_ROOT_HASH[i]) return false
  return root.length === 32
}
