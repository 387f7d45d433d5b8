/**
 * Strict RLP decoding that returns views (`subarray`) into the input instead of copies.
 *
 * Why our own: @ethereumjs/rlp copies every item at every nesting level; in the sync client that was
 * 17% of CPU and much of the GC load (bench:sync profile, 2026-11-23). Encoding stays with the library.
 *
 * Strictness (the same rules as @ethereumjs/rlp, plus a nesting bound): a single byte below 0x80
 * must not be wrapped; lengths under 56 must use the short form; long-form lengths have no leading
 * zero; every length fits in the input; nothing follows the top-level item; lists nest at most
 * `MAX_DEPTH` deep (deeper input would otherwise overflow the stack).
 *
 * Callers that keep a decoded item long after the input should copy it, or the whole input stays
 * alive.
 */
import { RlpError } from './errors.ts'

export type RlpView = Uint8Array | RlpView[]

const MAX_DEPTH = 256

export function decodeRlpView(input: Uint8Array): RlpView {
  if (input.length === 0) throw new RlpError('empty input')
  const [item, end] = item_(input, 0, 0)
  if (end !== input.length) throw new RlpError(`invalid RLP: ${input.length - end} trailing bytes`)
  return item
}

function item_(b: Uint8Array, pos: number, depth: number): [RlpView, number] {
  const p = b[pos]!
  if (p < 0x80) return [b.subarray(pos, pos + 1), pos + 1]
  if (p <= 0xb7) {
    const len = p - 0x80
    const start = pos + 1
    if (start + len > b.length) throw new RlpError('invalid RLP: string longer than the input')
    if (len === 1 && b[start]! < 0x80)
      throw new RlpError('invalid RLP: single byte below 0x80 must not be prefixed')
    return [b.subarray(start, start + len), start + len]
  }
  if (p <= 0xbf) {
    const [len, start] = longLength(b, pos, p - 0xb7)
    if (start + len > b.length) throw new RlpError('invalid RLP: string longer than the input')
    return [b.subarray(start, start + len), start + len]
  }
  if (depth >= MAX_DEPTH) throw new RlpError(`invalid RLP: lists nested deeper than ${MAX_DEPTH}`)
  let len: number
  let start: number
  if (p <= 0xf7) {
    len = p - 0xc0
    start = pos + 1
  } else [len, start] = longLength(b, pos, p - 0xf7)
  const end = start + len
  if (end > b.length) throw new RlpError('invalid RLP: list longer than the input')
  const out: RlpView[] = []
  let at = start
  while (at < end) {
    const [it, next] = item_(b, at, depth + 1)
    if (next > end) throw new RlpError('invalid RLP: list item runs past the list')
    out.push(it)
    at = next
  }
  return [out, end]
}

/** A long-form length of `n` bytes after the prefix at `pos`: [length, start of payload]. */
function longLength(b: Uint8Array, pos: number, n: number): [number, number] {
  if (pos + 1 + n > b.length) throw new RlpError('invalid RLP: length runs past the input')
  if (b[pos + 1] === 0) throw new RlpError('invalid RLP: length has a leading zero')
  if (n > 6) throw new RlpError('invalid RLP: length too large')
  let len = 0
  for (let i = 0; i < n; i++) len = len * 256 + b[pos + 1 + i]!
  if (len < 56) throw new RlpError('invalid RLP: long form used for a length under 56')
  return [len, pos + 1 + n]
}

/**
 * Where the item `readRlpItem` last accepted lies: its payload is `[start, end)` of the input, and
 * `list` tells a list from a byte string. One shared record, so scanning allocates nothing; read it
 * right after the call.
 */
export const rlpAt = { start: 0, end: 0, list: false }

/**
 * Reads the header of the item at `pos`, which must end by `limit`, without allocating and without
 * looking inside lists. It applies `decodeRlpView`'s rules to the header (a single byte below 0x80
 * is not wrapped, short form under 56, long-form lengths without a leading zero and of at most 6
 * bytes, the payload inside `limit`) and returns false where `decodeRlpView` would throw, true
 * otherwise, with the payload in `rlpAt`. For allocation-free scanners that fall back to the full
 * decoder (and its error message) on false.
 */
export function readRlpItem(b: Uint8Array, pos: number, limit: number): boolean {
  if (pos >= limit) return false
  const p = b[pos]!
  let start: number
  let len: number
  if (p < 0x80) {
    rlpAt.start = pos
    rlpAt.end = pos + 1
    rlpAt.list = false
    return true
  }
  if (p <= 0xb7) {
    start = pos + 1
    len = p - 0x80
    if (len === 1 && (start >= limit || b[start]! < 0x80)) return false
  } else if (p <= 0xbf || p >= 0xf8) {
    const n = p <= 0xbf ? p - 0xb7 : p - 0xf7
    if (pos + 1 + n > limit || b[pos + 1] === 0 || n > 6) return false
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + b[pos + 1 + i]!
    if (len < 56) return false
    start = pos + 1 + n
  } else {
    start = pos + 1
    len = p - 0xc0
  }
  if (start + len > limit) return false
  rlpAt.start = start
  rlpAt.end = start + len
  rlpAt.list = p >= 0xc0
  return true
}
