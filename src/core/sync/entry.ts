/**
 * The engine's record of a wanted node (or code blob), and its identity for a hash. One class, so
 * every entry has the same shape (the hot path touches millions of them); most nodes have exactly
 * one parent, kept in `parent`, without an array.
 */
import type { Want } from './frontier.ts'

/**
 * The engine's identity for a hash: a 16-character string of its bytes (a Map key that is cheap to
 * build and hash; hex is for people and for store keys only).
 */
export function keyOf(h: Uint8Array): string {
  return keyAt(h, 0)
}

/** `keyOf` of the 32-byte hash at offset `o` of `b` (a child reference inside a node), without a copy. */
export function keyAt(b: Uint8Array, o: number): string {
  return String.fromCharCode(
    (b[o]! << 8) | b[o + 1]!,
    (b[o + 2]! << 8) | b[o + 3]!,
    (b[o + 4]! << 8) | b[o + 5]!,
    (b[o + 6]! << 8) | b[o + 7]!,
    (b[o + 8]! << 8) | b[o + 9]!,
    (b[o + 10]! << 8) | b[o + 11]!,
    (b[o + 12]! << 8) | b[o + 13]!,
    (b[o + 14]! << 8) | b[o + 15]!,
    (b[o + 16]! << 8) | b[o + 17]!,
    (b[o + 18]! << 8) | b[o + 19]!,
    (b[o + 20]! << 8) | b[o + 21]!,
    (b[o + 22]! << 8) | b[o + 23]!,
    (b[o + 24]! << 8) | b[o + 25]!,
    (b[o + 26]! << 8) | b[o + 27]!,
    (b[o + 28]! << 8) | b[o + 29]!,
    (b[o + 30]! << 8) | b[o + 31]!,
  )
}

/** A wanted node, from the moment a verified parent names it until it is stored. */
export class Entry implements Want {
  /** Further parents (a subtree shared by several nodes). */
  parents: Entry[] | null = null
  /** Children not yet stored. */
  missing = 0
  /** Set once received and verified; cleared once written. */
  bytes: Uint8Array | undefined = undefined
  /** Failed attempts (timeouts, errors). */
  attempts = 0
  /** Requests in flight that carry it (more than one once hedged). */
  asked = 0
  /** Peers that said they do not have it, or sent something else for it. */
  lackedBy: Set<string> | undefined = undefined
  /** In the frontier, to be asked for. */
  queued = false
  /** Written (completed): leaves the walk's map at the next flush. */
  done = false
  /** Waiting for children since the last flush: staged at the flush if still waiting. */
  staging = false
  constructor(
    readonly hash: Uint8Array,
    readonly key: string,
    readonly kind: Want['kind'],
    readonly depth: number,
    public parent: Entry | null,
  ) {}
}
