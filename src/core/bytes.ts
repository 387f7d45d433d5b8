/** Byte helpers shared by every layer. Hex is always lower-case, `0x`-prefixed on output. */
import { InputError } from './errors.ts'

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex(bytes: Uint8Array): string {
  let s = '0x'
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]
  return s
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/** Parses hex with or without `0x`. Odd length or a non-hex character is an `InputError`. */
export function fromHex(hex: string, what = 'hex string'): Uint8Array {
  if (typeof hex !== 'string') throw new InputError(`${what}: expected a hex string, got ${typeof hex}`)
  const s = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex
  if (s.length % 2 !== 0) throw new InputError(`${what}: odd number of hex digits (${s.length})`)
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(s.charCodeAt(2 * i))
    const lo = nibble(s.charCodeAt(2 * i + 1))
    if (hi < 0 || lo < 0) throw new InputError(`${what}: not a hex digit at position ${2 * i}`)
    out[i] = (hi << 4) | lo
  }
  return out
}

/** Parses exactly `length` bytes of hex (an address, a hash). */
export function fromHexExact(hex: string, length: number, what: string): Uint8Array {
  const b = fromHex(hex, what)
  if (b.length !== length) throw new InputError(`${what}: expected ${length} bytes, got ${b.length}`)
  return b
}

export function equals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Lexicographic byte order, as the trie orders keys. */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Minimal big-endian encoding of a non-negative integer (RLP's integer form: 0 is empty). */
export function bigintToBytes(n: bigint): Uint8Array {
  if (n < 0n) throw new InputError(`negative integer ${n}`)
  if (n === 0n) return new Uint8Array(0)
  let hex = n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  return fromHex(hex)
}

export function bytesToBigint(b: Uint8Array): bigint {
  if (b.length === 0) return 0n
  return BigInt(toHex(b))
}

export function numberToBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new InputError(`not a non-negative safe integer: ${n}`)
  return bigintToBytes(BigInt(n))
}

export function bytesToNumber(b: Uint8Array): number {
  if (b.length > 6) throw new InputError(`integer too large: ${b.length} bytes`)
  let n = 0
  for (let i = 0; i < b.length; i++) n = n * 256 + b[i]!
  return n
}

/** Left-pads to `length` bytes (storage slots and values are 32-byte words). */
export function padLeft(b: Uint8Array, length: number): Uint8Array {
  if (b.length >= length) return b
  const out = new Uint8Array(length)
  out.set(b, length - b.length)
  return out
}

/** Strips leading zero bytes (storage values are stored RLP-encoded without them). */
export function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0
  while (i < b.length && b[i] === 0) i++
  return b.subarray(i)
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
