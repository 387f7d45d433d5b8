/**
 * The one reachability walk: from a set of state roots, every trie node and code blob they reach —
 * the account trie, each account's storage trie and its code — loaded through the `NodeStore` port,
 * re-hashed against the hash that points to it, and decoded with `childRefsOf` (the one
 * child-reference function). `rootsync verify`, the full node's garbage collection and every store's
 * `compact` mark what is live with it; nothing else walks a stored state.
 *
 * Security considerations: a store is never trusted. A node that is absent, whose bytes do not hash
 * to the reference that led to it, or that does not decode, stops the walk with a
 * `StateIntegrityError` naming the hash — so a compaction built on this walk learns that the live
 * state is damaged before it deletes anything, and a verify never reports a state it could not read
 * whole.
 *
 * With `onDamage` the walk is a diagnosis instead (core/recovery/integrity.ts): it reports every damaged
 * entry with where it sits — the chain of verified ancestors that led to it — skips the subtree under
 * it, and goes on. Only then do stack entries carry their parent, so a compaction does not pay for it.
 *
 * Depth-first with an explicit stack: memory stays proportional to the tries' depth (times their
 * fan-out), not their size. Reads are issued a few at a time from the top of the stack, so stores
 * with a multi-get (LevelDB) are not held to one round trip per node. Storage roots and code shared
 * by several accounts are visited once; a caller that keeps its own mark set (pruning over several
 * roots, which share most of their nodes) passes `visited` to skip whole subtrees it already saw.
 */
import { equals, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { childRefsOf } from '../sync/node-refs.ts'
import { throwIfStopped } from '../task.ts'
import type { ChildRef, RefKind } from './node.ts'
import { isEmptyRoot } from './trie.ts'

export type IntegrityProblem = 'missing' | 'corrupt' | 'undecodable'

/** A stored state is damaged: code STATE_MISSING, STATE_CORRUPT or STATE_UNDECODABLE, naming the hash. */
export class StateIntegrityError extends RootsyncError {
  constructor(
    readonly hash: string,
    readonly problem: IntegrityProblem,
    detail: string,
  ) {
    super(
      `STATE_${problem.toUpperCase()}`,
      `state node ${hash} is ${problem}${detail ? `: ${detail}` : ''}`,
      { hash, problem },
    )
    this.name = 'StateIntegrityError'
  }
}

export interface WalkTotals {
  /** Trie nodes visited (account and storage tries). */
  nodes: number
  /** Code blobs visited. */
  code: number
  /** Bytes of everything visited. */
  bytes: number
}

export interface WalkOptions {
  /** Stops the walk between reads (throws the signal's reason, see task.ts). */
  signal?: AbortSignal
  /** Every node and code blob, once it has verified (hash matched, decoded). */
  onNode?: (hash: Uint8Array, bytes: Uint8Array, kind: RefKind) => void
  /** Called every 10,000 trie nodes with the running totals. */
  onProgress?: (t: WalkTotals) => void
  /**
   * True for a hash already visited (with its whole subtree) by this caller: it is skipped. Lets a
   * caller with a mark set walk several roots that share subtrees once.
   */
  visited?: (hash: Uint8Array, kind: RefKind) => boolean
  /**
   * When given, a damaged entry does not stop the walk: it is reported here (with its position) and
   * the subtree under it is skipped.
   */
  onDamage?: (damage: StateIntegrityError, at: WalkPosition) => void
}

/** A verified node on the way down, kept (only with `onDamage`) so a damaged entry can name its path. */
export interface WalkFrame extends ChildRef {
  bytes: Uint8Array
  /** Where this node sits: its parent, and which of the parent's `childRefsOf` references it is. */
  at: WalkPosition
}

/** Where an entry sits: its parent (null for a root) and its index in the parent's references. */
export interface WalkPosition {
  kind: RefKind
  parent: WalkFrame | null
  slot: number
}

type Entry = ChildRef & { at?: WalkPosition }

/** The store's reads the walk needs; a multi-get is used when the store has one. */
export type WalkSource = Pick<NodeStore, 'getNode'> & {
  getNodes?: (hashes: Uint8Array[]) => Promise<(Uint8Array | undefined)[]>
}

/** Reads issued together from the top of the stack (bounded: memory stays ∝ depth). */
const READ_AHEAD = 64

/**
 * Walks everything `roots` reach; throws `StateIntegrityError` on the first damaged entry (or, with
 * `onDamage`, reports each one and skips what is under it).
 */
export async function walkReachable(
  store: WalkSource,
  roots: readonly Uint8Array[],
  opts: WalkOptions = {},
): Promise<WalkTotals> {
  const totals: WalkTotals = { nodes: 0, code: 0, bytes: 0 }
  const shared = new Set<string>()
  const track = opts.onDamage !== undefined
  const stack: Entry[] = roots
    .filter((r) => !isEmptyRoot(r))
    .map((hash) =>
      track ? { hash, kind: 'state', at: { kind: 'state', parent: null, slot: 0 } } : { hash, kind: 'state' },
    )
  const read = store.getNodes
    ? (hs: Uint8Array[]) => store.getNodes!(hs)
    : (hs: Uint8Array[]) => Promise.all(hs.map((h) => store.getNode(h)))
  while (stack.length) {
    if (opts.signal) throwIfStopped(opts.signal, 'state walk')
    const batch: Entry[] = []
    while (stack.length && batch.length < READ_AHEAD) {
      const ref = stack.pop()!
      if (!opts.visited?.(ref.hash, ref.kind)) batch.push(ref)
    }
    if (!batch.length) continue
    const got = await read(batch.map((r) => r.hash))
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!
      const { hash, kind } = entry
      // A duplicate within one read (two references to one subtree) is visited once.
      if (i > 0 && opts.visited?.(hash, kind)) continue
      const bytes = got[i]
      const refs = checkEntry(hash, bytes, kind)
      if (!Array.isArray(refs)) {
        if (!opts.onDamage) throw refs
        opts.onDamage(refs, entry.at!)
        continue
      }
      totals.bytes += bytes!.length
      opts.onNode?.(hash, bytes!, kind)
      if (kind === 'code') {
        totals.code++
        continue
      }
      totals.nodes++
      const frame: WalkFrame | null = track ? { hash, kind, bytes: bytes!, at: entry.at! } : null
      for (let j = 0; j < refs.length; j++) {
        const r = refs[j]!
        if (r.kind !== kind) {
          // A storage root or code hash: several accounts may share one.
          const k = toHex(r.hash)
          if (shared.has(k)) continue
          shared.add(k)
        }
        stack.push(frame ? { ...r, at: { kind: r.kind, parent: frame, slot: j } } : r)
      }
      if (totals.nodes % 10_000 === 0) opts.onProgress?.(totals)
    }
  }
  return totals
}

/**
 * One stored entry checked against the hash that led to it: its references (see `childRefsOf`), or
 * the damage — absent, bytes that do not hash to the key, or a node that does not decode.
 */
export function checkEntry(
  hash: Uint8Array,
  bytes: Uint8Array | undefined,
  kind: RefKind,
): ChildRef[] | StateIntegrityError {
  if (!bytes) return new StateIntegrityError(toHex(hash), 'missing', '')
  if (!equals(keccak256(bytes), hash))
    return new StateIntegrityError(toHex(hash), 'corrupt', 'stored bytes do not hash to their key')
  try {
    return childRefsOf(bytes, kind)
  } catch (e) {
    return new StateIntegrityError(toHex(hash), 'undecodable', (e as Error).message)
  }
}

/**
 * The mark phase of a compaction: walks every live root (so a damaged live state throws before
 * anything is deleted) and returns the hex hashes of everything live with the walk's totals (each
 * live entry counted once), for stores that sweep by listing their keys.
 */
export async function markReachable(
  store: WalkSource,
  roots: readonly Uint8Array[],
  signal?: AbortSignal,
): Promise<{ marked: Set<string>; totals: WalkTotals }> {
  const marked = new Set<string>()
  const totals = await walkReachable(store, roots, {
    signal,
    visited: (h) => marked.has(toHex(h)),
    onNode: (h) => marked.add(toHex(h)),
  })
  return { marked, totals }
}
