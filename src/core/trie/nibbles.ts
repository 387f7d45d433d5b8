/**
 * Trie paths are sequences of 4-bit nibbles. On the wire and in node encodings they use the
 * hex-prefix (HP) form: a flag nibble (bit 1 = leaf, bit 0 = odd length), a pad nibble when even,
 * then the path packed two nibbles a byte.
 */
import { NodeDecodeError } from '../errors.ts'

export type Nibbles = Uint8Array

export function bytesToNibbles(b: Uint8Array): Nibbles {
  const out = new Uint8Array(b.length * 2)
  for (let i = 0; i < b.length; i++) {
    out[2 * i] = b[i]! >> 4
    out[2 * i + 1] = b[i]! & 15
  }
  return out
}

/** Packs an even-length nibble path back into bytes (keys of fixed-length tries). */
export function nibblesToBytes(n: Nibbles): Uint8Array {
  const out = new Uint8Array(n.length >> 1)
  for (let i = 0; i < out.length; i++) out[i] = (n[2 * i]! << 4) | n[2 * i + 1]!
  return out
}

export function commonPrefixLength(a: Nibbles, aOff: number, b: Nibbles, bOff: number): number {
  const n = Math.min(a.length - aOff, b.length - bOff)
  let i = 0
  while (i < n && a[aOff + i] === b[bOff + i]) i++
  return i
}

/** Nibble paths are byte arrays, so joining them is byte concatenation. */
export { concat as concatNibbles } from '../bytes.ts'

export function hexPrefixEncode(path: Nibbles, leaf: boolean): Uint8Array {
  const odd = path.length & 1
  const out = new Uint8Array((path.length >> 1) + 1)
  let i = 0
  if (odd) {
    out[0] = ((leaf ? 3 : 1) << 4) | path[0]!
    i = 1
  } else {
    out[0] = (leaf ? 2 : 0) << 4
  }
  for (let o = 1; i < path.length; i += 2, o++) out[o] = (path[i]! << 4) | path[i + 1]!
  return out
}

/** Strict HP decoding: unknown flags and a non-zero pad nibble are errors. */
export function hexPrefixDecode(b: Uint8Array): { path: Nibbles; leaf: boolean } {
  if (b.length === 0) throw new NodeDecodeError('empty hex-prefix path')
  const flag = b[0]! >> 4
  if (flag > 3) throw new NodeDecodeError(`hex-prefix flag ${flag} is not 0-3`)
  const odd = flag & 1
  if (!odd && (b[0]! & 15) !== 0) throw new NodeDecodeError('hex-prefix pad nibble is not zero')
  const path = new Uint8Array((b.length - 1) * 2 + odd)
  let o = 0
  if (odd) path[o++] = b[0]! & 15
  for (let i = 1; i < b.length; i++) {
    path[o++] = b[i]! >> 4
    path[o++] = b[i]! & 15
  }
  return { path, leaf: flag >= 2 }
}
