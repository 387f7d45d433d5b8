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
