/**
 * Root of a trie built from leaves given in strictly increasing key order, in one pass with memory
 * bounded by the key length (not the number of leaves), like geth's StackTrie.
 *
 * Keys all have the same length (32 bytes for secure tries). Between consecutive keys k and k', the
 * length c of their common nibble prefix says where the next branch sits. The builder keeps a stack
 * of open branches along the current key's path; a leaf stays pending until the next key shows how
 * deep it sits, and a branch is finished (encoded, hashed, emitted) as soon as no later key can fall
 * under it. Each finished node is handed to `onNode` if given (for writing to a store).
 *
 * `save()` turns the builder's state (the open branches, the pending subtree, the last key) into
 * bytes, and `restoreRootBuilder` continues from them: a long build (a network snapshot) can stop
 * after any key and resume in another session, the nodes emitted before the save being already
 * stored. Saved state is read back with the same shape checks as any RLP (a damaged record is an
 * `InputError`, never a silently different trie — and a different trie could not reach the expected
 * root anyway).
 *
 * Chained range proofs (range-proof.ts `proveChained`): `fork()` copies the builder (a few dozen open
 * branches at most) so a range's leaves can be tried without touching the proven state, and
 * `rootWith(right)` gives the root the trie would have if the given subtrees — the ones right of the
 * last key, as a range proof's right edge names them — followed the leaves added so far. Nothing is
 * emitted for those edge nodes, and the builder is left as it was: only O(depth) extra hashes per
 * range, so every interior node is hashed once, by the builder that also stores it.
 */
import { InputError, RlpError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { asBytes, asList, asSafeInt, type RlpInput, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { EMPTY_ROOT_HASH } from './constants.ts'
import { bytesToNibbles, hexPrefixEncode, type Nibbles } from './nibbles.ts'
import { encodeBytesItem, encodeListOfItems } from './node.ts'

interface Frame {
  depth: number // nibble index of the branch's children
  children: (Uint8Array | null)[] // encoded child items (inline encoding or 0xa0 ‖ hash)
}

/**
 * A subtree waiting to be placed: a leaf with its full key, a finished branch at `depth`, or (only
 * in `rootWith`) a subtree known by the item its parent embeds, in the slot `key[depth - 1]` of a
 * branch at `depth - 1`.
 */
type Pending =
  | { kind: 'leaf'; key: Nibbles; value: Uint8Array }
  | { kind: 'branch'; key: Nibbles; depth: number; enc: Uint8Array }
  | { kind: 'item'; key: Nibbles; depth: number; item: Uint8Array }

/** A subtree right of a range's last key: the item at child `nibble` of the branch at `depth`. */
export interface EdgeItem {
  depth: number
  nibble: number
  item: Uint8Array
}

const EMPTY = Uint8Array.of(0x80)

export interface RootBuilder {
  add(key: Uint8Array, value: Uint8Array): void
  /** The root hash; the builder cannot be used afterwards. */
  finish(): Uint8Array
  /** The state so far, as bytes for `restoreRootBuilder` (nodes emitted so far are not in it). */
  save(): Uint8Array
  /** An independent copy of this builder, emitting to `onNode` from now on. */
  fork(onNode?: OnNode): RootBuilder
  /**
   * The root if the subtrees `right` (in key order: deepest first, then by nibble; each right of
   * every key added) followed the keys added so far. Emits nothing; this builder is unchanged.
   */
  rootWith(right: readonly EdgeItem[]): Uint8Array
}

type OnNode = (hash: Uint8Array, enc: Uint8Array) => void

interface BuilderState {
  stack: Frame[]
  pending: Pending | null
  prevKey: Uint8Array | null
}

export function createRootBuilder(onNode?: OnNode): RootBuilder {
  return builderFrom({ stack: [], pending: null, prevKey: null }, onNode)
}

/** A builder continuing from `saved` (from `save()`); throws `InputError` if the bytes are not one. */
export function restoreRootBuilder(saved: Uint8Array, onNode?: OnNode): RootBuilder {
  let state: BuilderState
  try {
    state = decodeState(saved)
  } catch (e) {
    throw new InputError(`saved root builder state is damaged: ${(e as Error).message}`)
  }
  return builderFrom(state, onNode)
}

function builderFrom(
  init: BuilderState,
  onNode?: OnNode,
): RootBuilder & { placeItem(c: number, p: Pending): void } {
  const stack = init.stack
  let pending = init.pending
  let prevKey = init.prevKey
  let done = false

  /** What the parent embeds for `p` when its slot ends at nibble `start`. */
  function slot(p: Pending, start: number): Uint8Array {
    if (p.kind !== 'item') return ref(encodeAt(p, start))
    if (p.depth !== start) throw new InputError('edge subtree placed off its slot')
    return p.item
  }

  /** The node `p` would be when its parent slot ends at nibble `start`, as an encoding. */
  function encodeAt(p: Pending, start: number): Uint8Array {
    if (p.kind === 'item') throw new InputError('an edge subtree cannot be the root')
    if (p.kind === 'leaf') {
      return encodeListOfItems([
        encodeBytesItem(hexPrefixEncode(p.key.subarray(start), true)),
        encodeBytesItem(p.value),
      ])
    }
    if (p.depth === start) return p.enc
    return encodeListOfItems([
      encodeBytesItem(hexPrefixEncode(p.key.subarray(start, p.depth), false)),
      ref(p.enc),
    ])
  }

  /** The item a parent embeds: inline if shorter than 32 bytes, else by hash (emitting the node). */
  function ref(enc: Uint8Array): Uint8Array {
    if (enc.length < 32) return enc
    const h = keccak256(enc)
    onNode?.(h, enc)
    const out = new Uint8Array(33)
    out[0] = 0xa0
    out.set(h, 1)
    return out
  }

  function finishFrame(f: Frame, key: Nibbles): Pending {
    const items = new Array<Uint8Array>(17)
    for (let i = 0; i < 16; i++) items[i] = f.children[i] ?? EMPTY
    items[16] = EMPTY
    return { kind: 'branch', key, depth: f.depth, enc: encodeListOfItems(items) }
  }

  /** Places the pending subtree into branches deeper than `c`, closing them, then into depth `c`. */
  function place(c: number): void {
    let p = pending!
    while (stack.length && stack[stack.length - 1]!.depth > c) {
      const f = stack.pop()!
      f.children[p.key[f.depth]!] = slot(p, f.depth + 1)
      p = finishFrame(f, p.key)
    }
    if (c < 0) {
      pending = p
      return
    }
    let top = stack[stack.length - 1]
    if (!top || top.depth < c) {
      top = { depth: c, children: new Array(16).fill(null) }
      stack.push(top)
    }
    top.children[p.key[c]!] = slot(p, c + 1)
    pending = null
  }

  return {
    add(key, value) {
      if (done) throw new InputError('root builder already finished')
      if (value.length === 0) throw new InputError('empty leaf value')
      if (prevKey) {
        if (key.length !== prevKey.length) throw new InputError('keys must all have the same length')
        let i = 0
        while (i < key.length && key[i] === prevKey[i]) i++
        if (i === key.length || key[i]! < prevKey[i]!)
          throw new InputError('keys must be strictly increasing')
        const nk = bytesToNibbles(key)
        const c = 2 * i + (key[i]! >> 4 === prevKey[i]! >> 4 ? 1 : 0)
        place(c)
        pending = { kind: 'leaf', key: nk, value }
      } else {
        pending = { kind: 'leaf', key: bytesToNibbles(key), value }
      }
      prevKey = key
    },
    finish() {
      if (done) throw new InputError('root builder already finished')
      done = true
      if (!pending) return EMPTY_ROOT_HASH
      place(-1)
      const enc = encodeAt(pending, 0)
      const h = keccak256(enc)
      onNode?.(h, enc)
      return h
    },
    save() {
      if (done) throw new InputError('root builder already finished')
      return encodeState({ stack, pending, prevKey })
    },
    fork(emit) {
      if (done) throw new InputError('root builder already finished')
      return builderFrom(copyState({ stack, pending, prevKey }), emit)
    },
    rootWith(right) {
      if (done) throw new InputError('root builder already finished')
      if (!right.length) return builderFrom(copyState({ stack, pending, prevKey })).finish()
      if (!prevKey || !pending) throw new InputError('edge subtrees with no key before them')
      const b = builderFrom(copyState({ stack, pending, prevKey }))
      const last = bytesToNibbles(prevKey)
      let before = { depth: last.length, nibble: 16 }
      for (const r of right) {
        // Each subtree lies right of the previous one: shallower, or at the same branch further right.
        const inOrder = r.depth < before.depth || (r.depth === before.depth && r.nibble > before.nibble)
        if (!inOrder || r.nibble <= last[r.depth]! || r.nibble > 15 || r.depth < 0)
          throw new InputError('edge subtrees out of order')
        before = r
        const key = last.slice()
        key[r.depth] = r.nibble
        b.placeItem(r.depth, { kind: 'item', key, depth: r.depth + 1, item: r.item })
      }
      return b.finish()
    },
    placeItem(c: number, p: Pending) {
      place(c)
      pending = p
    },
  } as RootBuilder & { placeItem(c: number, p: Pending): void }
}

/** A copy whose frames the copy may change without touching the original's. */
function copyState(s: BuilderState): BuilderState {
  return {
    stack: s.stack.map((f) => ({ depth: f.depth, children: f.children.slice() })),
    pending: s.pending,
    prevKey: s.prevKey,
  }
}

// Saved state: RLP [prevKey, pending, frames]; pending is [] or [1, key nibbles, value] (a leaf) or
// [2, key nibbles, depth, encoding] (a branch); a frame is [depth, 16 children] ('' for an empty slot).
const LEAF = 1
const BRANCH = 2

function encodeState(s: BuilderState): Uint8Array {
  const p = s.pending
  if (p?.kind === 'item') throw new InputError('an edge subtree is never saved')
  const pending: RlpInput[] =
    p === null ? [] : p.kind === 'leaf' ? [LEAF, p.key, p.value] : [BRANCH, p.key, p.depth, p.enc]
  const frames = s.stack.map((f) => [f.depth, f.children.map((c) => c ?? new Uint8Array(0))])
  return rlpEncode([s.prevKey ?? new Uint8Array(0), pending, frames])
}

function decodeState(bytes: Uint8Array): BuilderState {
  const [k, p, fs] = asList(rlpDecode(bytes), 'root builder state', 3)
  const key = asBytes(k, 'last key')
  const prevKey = key.length ? key.slice() : null
  const nibbles = (item: RlpItem | undefined): Nibbles => {
    const n = asBytes(item, 'pending key').slice()
    if (!prevKey || n.length !== prevKey.length * 2 || n.some((x) => x > 15))
      throw new RlpError('pending key does not match the last key')
    return n
  }
  const pl = asList(p, 'pending')
  let pending: Pending | null = null
  if (pl.length) {
    const kind = asSafeInt(pl[0], 'pending kind')
    if (kind === LEAF && pl.length === 3)
      pending = { kind: 'leaf', key: nibbles(pl[1]), value: asBytes(pl[2], 'leaf value').slice() }
    else if (kind === BRANCH && pl.length === 4)
      pending = {
        kind: 'branch',
        key: nibbles(pl[1]),
        depth: asSafeInt(pl[2], 'branch depth'),
        enc: asBytes(pl[3], 'branch').slice(),
      }
    else throw new RlpError('pending subtree of an unknown shape')
  }
  if (prevKey && !pending) throw new RlpError('a builder with keys has a pending subtree')
  let last = -1
  const stack = asList(fs, 'frames').map((item): Frame => {
    const [d, cs] = asList(item, 'frame', 2)
    const depth = asSafeInt(d, 'frame depth')
    if (depth <= last || !prevKey || depth >= prevKey.length * 2) throw new RlpError('frames out of order')
    last = depth
    const children = asList(cs, 'frame children', 16).map((c) => {
      const b = asBytes(c, 'child')
      return b.length ? b.slice() : null
    })
    return { depth, children }
  })
  return { stack, pending, prevKey }
}

/** Root of the trie holding `entries` (strictly increasing, equal-length keys). */
export function buildRoot(
  entries: Iterable<readonly [Uint8Array, Uint8Array]>,
  onNode?: (hash: Uint8Array, enc: Uint8Array) => void,
): Uint8Array {
  const b = createRootBuilder(onNode)
  for (const [k, v] of entries) b.add(k, v)
  return b.finish()
}
