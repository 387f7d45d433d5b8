/**
 * Trust for older headers by parent hashes, and trust for code by its hash: the two checks block
 * and code reads make before answering with anything a peer sent.
 *
 * A verified header commits to its parent by hash (`parentHash`), so a run of headers fetched from
 * any peer is verified, without a single signature, when each one hashes to the `parentHash` of the
 * one above it and the topmost hashes to the `parentHash` of a header already verified. The chain is
 * final (validators sign each header), so a header linked this way never changes.
 *
 * Security considerations: nothing in a run is believed before the whole run links to the anchor:
 * the heights must be consecutive and end right below the anchor, every hash is recomputed here
 * (keccak of the header's RLP), never taken from the peer. Code is accepted only when keccak256(code)
 * equals the code hash a verified account proof committed to.
 */
import { equals } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { type Header, headerHash } from './header.ts'

/** A run of headers from a peer that does not link to the verified header it was asked below. */
export class UnlinkedHeadersError extends RootsyncError {
  constructor(message: string) {
    super('HEADERS_UNLINKED', message)
    this.name = 'UnlinkedHeadersError'
  }
}

/**
 * Verifies `run` (headers at heights `from` … `anchor.number - 1`, ascending, as a peer sent them)
 * against the verified `anchor`: returns each with its hash, highest first, or throws
 * `UnlinkedHeadersError` saying where the link breaks.
 */
export function linkBelow(
  anchor: Header,
  from: number,
  run: Header[],
): { header: Header; hash: Uint8Array }[] {
  const want = anchor.number - from
  if (from < 0 || want < 1)
    throw new UnlinkedHeadersError(`no headers lie between ${from} and ${anchor.number}`)
  if (run.length !== want)
    throw new UnlinkedHeadersError(`expected ${want} headers from ${from}, got ${run.length}`)
  const out: { header: Header; hash: Uint8Array }[] = []
  let parent = anchor.parentHash
  for (let i = run.length - 1; i >= 0; i--) {
    const h = run[i]!
    const n = from + i
    if (h.number !== n)
      throw new UnlinkedHeadersError(`header at position ${i} is number ${h.number}, not ${n}`)
    const hash = headerHash(h)
    if (!equals(hash, parent))
      throw new UnlinkedHeadersError(`header ${n} does not hash to the parent hash of header ${n + 1}`)
    out.push({ header: h, hash })
    parent = h.parentHash
  }
  return out
}

/** Whether `code` is the code a proven account's `codeHash` commits to. */
export const codeMatches = (codeHash: Uint8Array, code: Uint8Array): boolean =>
  equals(keccak256(code), codeHash)
