/**
 * The sync's fast path for "which hashes does this node point to": `scanRefs` reads them straight
 * from a node's encoding (trie/node.ts `scanNode`, and an account leaf's value here) without building
 * node objects, RLP views or bigints. It covers the shapes that make up nearly every real trie and
 * answers false for the rest — inline children, branch values, anything malformed — so the caller falls
 * back to `childRefs(decodeNode(bytes), trie, accountRefs)`, which gives the same references or
 * throws the proper error. It never accepts what the full decoders reject, and where it accepts it
 * yields the same references in the same order (test/core/child-refs.test.ts checks both on random
 * and mutated nodes).
 */
import { accountRefs, EMPTY_CODE_HASH } from '../account.ts'
import { readRlpItem, rlpAt } from '../rlp-decode.ts'
import { EMPTY_ROOT_HASH } from '../trie/constants.ts'
import {
  type ChildRef,
  childRefs,
  decodeNode,
  newNodeScan,
  type RefKind,
  SCAN_BRANCH,
  SCAN_EXTENSION,
  scanNode,
  type TrieKind,
} from '../trie/node.ts'

/** One node's references, as offsets into its bytes; reused between calls. */
export interface RefScan {
  readonly node: ReturnType<typeof newNodeScan>
  /** Number of references. */
  n: number
  /** Each reference: where its 32-byte hash starts in the node, what it is, and how many nibbles deeper it sits. */
  readonly off: Int32Array
  readonly kind: RefKind[]
  readonly depthDelta: Int32Array
  /**
   * Account trie only: key space the node closes (an account leaf, or a branch's empty slots):
   * `closed` slots, each at this node's depth + `closedDelta`.
   */
  closed: number
  closedDelta: number
}

/** A scan with room for `slots` references (17 covers every shape `scanRefs` reads). */
export function newRefScan(slots = 17): RefScan {
  return {
    node: newNodeScan(),
    n: 0,
    off: new Int32Array(slots),
    kind: new Array<RefKind>(slots).fill('state'),
    depthDelta: new Int32Array(slots),
    closed: 0,
    closedDelta: 0,
  }
}

/**
 * Fills `r` with the references of the node `b` in a trie of kind `trie`; false when the node is
 * not one of the shapes read here (use the full decoders then).
 */
export function scanRefs(b: Uint8Array, trie: TrieKind, r: RefScan): boolean {
  const s = r.node
  if (!scanNode(b, s)) return false
  const state = trie === 'state'
  r.closed = 0
  r.closedDelta = 0
  if (s.kind === SCAN_BRANCH) {
    const n = s.count
    for (let i = 0; i < n; i++) {
      r.off[i] = s.refs[i]!
      r.kind[i] = trie
      r.depthDelta[i] = 1
    }
    r.n = n
    if (state) {
      r.closed = 16 - n
      r.closedDelta = 1
    }
    return true
  }
  if (s.kind === SCAN_EXTENSION) {
    r.off[0] = s.refs[0]!
    r.kind[0] = trie
    r.depthDelta[0] = s.pathLength
    r.n = 1
    return true
  }
  // A leaf: storage leaves point at nothing; account leaves at a storage trie and code.
  r.n = 0
  if (!state) return true
  if (!scanAccount(b, s.valueStart, s.valueEnd, r)) return false
  r.closed = 1
  return true
}

/**
 * An account, RLP[nonce, balance, storageRoot, codeHash], read as `decodeAccount` would accept it
 * (canonical integers of at most 8 and 32 bytes, two 32-byte hashes, nothing after); its non-empty
 * storage root and code hash are appended to `r` one nibble deeper.
 */
function scanAccount(b: Uint8Array, start: number, end: number, r: RefScan): boolean {
  if (!readRlpItem(b, start, end) || !rlpAt.list || rlpAt.end !== end) return false
  let pos = rlpAt.start
  // nonce, balance
  if (!readRlpItem(b, pos, end) || rlpAt.list) return false
  if (rlpAt.end - rlpAt.start > 8 || (rlpAt.end > rlpAt.start && b[rlpAt.start] === 0)) return false
  pos = rlpAt.end
  if (!readRlpItem(b, pos, end) || rlpAt.list) return false
  if (rlpAt.end - rlpAt.start > 32 || (rlpAt.end > rlpAt.start && b[rlpAt.start] === 0)) return false
  pos = rlpAt.end
  // storage root, code hash: 0xa0 ‖ 32 bytes each, and nothing after
  if (pos + 66 !== end || b[pos] !== 0xa0 || b[pos + 33] !== 0xa0) return false
  const root = pos + 1
  const code = pos + 34
  if (!equalAt(b, root, EMPTY_ROOT_HASH)) push(r, root, 'storage')
  if (!equalAt(b, code, EMPTY_CODE_HASH)) push(r, code, 'code')
  return true
}

function push(r: RefScan, off: number, kind: RefKind): void {
  const i = r.n++
  r.off[i] = off
  r.kind[i] = kind
  r.depthDelta[i] = 1
}

function equalAt(b: Uint8Array, off: number, h: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (b[off + i] !== h[i]) return false
  return true
}

/** `scanRefs` as `ChildRef`s (copies), or null where the full decoders must be used. For tests and tools. */
export function fastChildRefs(b: Uint8Array, trie: TrieKind): ChildRef[] | null {
  const r = newRefScan()
  if (!scanRefs(b, trie, r)) return null
  const out: ChildRef[] = []
  for (let i = 0; i < r.n; i++) out.push({ hash: b.slice(r.off[i]!, r.off[i]! + 32), kind: r.kind[i]! })
  return out
}

/**
 * The one child-reference function: every hash the stored bytes `b` of a `kind` entry point to —
 * child nodes (through inline children), an account's storage root and code hash, including those of
 * a branch value. The fast scan first, the full decoders as its fallback (which throw the proper
 * error for a malformed node). Code blobs point at nothing.
 */
export function childRefsOf(b: Uint8Array, kind: RefKind): ChildRef[] {
  if (kind === 'code') return []
  return fastChildRefs(b, kind) ?? childRefs(decodeNode(b), kind, accountRefs)
}
