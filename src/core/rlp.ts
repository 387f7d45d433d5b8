/**
 * RLP: encoding through @ethereumjs/rlp (maintained); decoding through our strict, copy-free decoder
 * (rlp-decode.ts, measured reason there). This module adds the shape checks every decoder needs, so a
 * hostile input becomes an `RlpError`, never an untyped throw.
 *
 * Allocation is bounded by the input: RLP lengths are checked against the bytes actually present
 * before anything is sliced.
 */
import { RLP } from '@ethereumjs/rlp'
import { RlpError } from './errors.ts'
import { decodeRlpView } from './rlp-decode.ts'

export type RlpItem = Uint8Array | RlpItem[]
export type RlpInput = Uint8Array | number | bigint | RlpInput[]

export function rlpEncode(item: RlpInput): Uint8Array {
  return RLP.encode(item as Parameters<typeof RLP.encode>[0])
}

/** Strict decoding (see rlp-decode.ts); items are views into `data`. */
export function rlpDecode(data: Uint8Array): RlpItem {
  if (!(data instanceof Uint8Array)) throw new RlpError('expected bytes')
  return decodeRlpView(data)
}

export function asList(item: RlpItem | undefined, what: string, length?: number): RlpItem[] {
  if (!Array.isArray(item)) throw new RlpError(`${what}: expected a list`)
  if (length !== undefined && item.length !== length)
    throw new RlpError(`${what}: expected ${length} items, got ${item.length}`)
  return item
}

export function asBytes(item: RlpItem | undefined, what: string, maxLength?: number): Uint8Array {
  if (!(item instanceof Uint8Array)) throw new RlpError(`${what}: expected bytes`)
  if (maxLength !== undefined && item.length > maxLength)
    throw new RlpError(`${what}: ${item.length} bytes, at most ${maxLength} allowed`)
  return item
}

/** A canonical RLP integer: at most `maxBytes`, no leading zero byte. */
export function asUint(item: RlpItem | undefined, what: string, maxBytes = 32): bigint {
  const b = asBytes(item, what, maxBytes)
  if (b.length > 0 && b[0] === 0) throw new RlpError(`${what}: integer has a leading zero byte`)
  let n = 0n
  for (const x of b) n = (n << 8n) | BigInt(x)
  return n
}

export function asSafeInt(item: RlpItem | undefined, what: string): number {
  return Number(asUint(item, what, 6))
}
