/**
 * A deterministic pseudo-random generator for the devnet (xoshiro128**, seeded from keccak of a seed
 * string): the same seed gives the same genesis and blocks on every machine. Not for secrets.
 */
import { utf8 } from '../bytes.ts'
import { keccak256 } from '../hash.ts'

export interface Rng {
  u32(): number
  /** Integer in [0, n). */
  int(n: number): number
  bytes(n: number): Uint8Array
}

export function createRng(seed: string): Rng {
  const h = keccak256(utf8(seed))
  const s = new Uint32Array(4)
  for (let i = 0; i < 4; i++)
    s[i] = (h[4 * i]! << 24) | (h[4 * i + 1]! << 16) | (h[4 * i + 2]! << 8) | h[4 * i + 3]!
  if (s.every((x) => x === 0)) s[0] = 1
  const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k))
  const u32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0
    const t = s[1]! << 9
    s[2]! ^= s[0]!
    s[3]! ^= s[1]!
    s[1]! ^= s[2]!
    s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return result
  }
  return {
    u32,
    int: (n) => Math.floor((u32() / 0x1_0000_0000) * n),
    bytes: (n) => {
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i += 4) {
        const x = u32()
        out[i] = x >>> 24
        if (i + 1 < n) out[i + 1] = (x >>> 16) & 255
        if (i + 2 < n) out[i + 2] = (x >>> 8) & 255
        if (i + 3 < n) out[i + 3] = x & 255
      }
      return out
    },
  }
}
