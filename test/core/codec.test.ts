import { RLP } from '@ethereumjs/rlp'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { accountRefs, EMPTY_CODE_HASH, EMPTY_ROOT, encodeAccount } from '../../src/core/account.ts'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import { InputError, NodeDecodeError, RlpError } from '../../src/core/errors.ts'
import {
  keccak256,
  keccakImplementation,
  nobleKeccak,
  useNobleKeccak,
  useWasmKeccak,
} from '../../src/core/hash.ts'
import { rlpDecode, rlpEncode } from '../../src/core/rlp.ts'
import { hexPrefixDecode, hexPrefixEncode } from '../../src/core/trie/nibbles.ts'
import { childRefs, decodeNode, encodeNode } from '../../src/core/trie/node.ts'

describe('keccak-256', () => {
  it('the WASM implementation gives the same digests as @noble/hashes and can be swapped back', async () => {
    await useWasmKeccak()
    expect(keccakImplementation()).toBe('wasm')
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        expect(toHex(keccak256(data))).toBe(toHex(nobleKeccak(data)))
      }),
      { numRuns: 500, seed: 1 },
    )
    useNobleKeccak()
    expect(keccakImplementation()).toBe('noble')
    expect(toHex(keccak256(new Uint8Array()))).toBe(
      '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
    )
  })
})

describe('hex', () => {
  it('round-trips and rejects bad input with InputError', () => {
    expect(toHex(fromHex('0xABcd'))).toBe('0xabcd')
    expect(() => fromHex('0xabc')).toThrow(InputError)
    expect(() => fromHex('0xzz')).toThrow(InputError)
  })
})

describe('trie node codec', () => {
  it('hex-prefix round-trips every path and flag', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 64 }),
        fc.boolean(),
        (path, leaf) => {
          const d = hexPrefixDecode(hexPrefixEncode(Uint8Array.from(path), leaf))
          expect([...d.path]).toEqual(path)
          expect(d.leaf).toBe(leaf)
        },
      ),
    )
    expect(() => hexPrefixDecode(Uint8Array.of(0x41))).toThrow(NodeDecodeError) // flag 4
    expect(() => hexPrefixDecode(Uint8Array.of(0x01))).toThrow(NodeDecodeError) // even with a pad nibble
  })

  const hp = (path: number[], leaf: boolean) => hexPrefixEncode(Uint8Array.from(path), leaf)
  const h32 = new Uint8Array(32).fill(0xab)

  it.each([
    ['a byte string', rlpEncode(new Uint8Array(40))],
    ['a 3-item list', rlpEncode([1, 2, 3])],
    ['a leaf with an empty value', rlpEncode([hp([1], true), new Uint8Array()])],
    ['an extension with an empty path', rlpEncode([hp([], false), h32])],
    ['an extension pointing at a leaf', rlpEncode([hp([1], false), [hp([2], true), Uint8Array.of(1)]])],
    ['a 31-byte child reference', rlpEncode([...Array(16).fill(new Uint8Array(31)), new Uint8Array()])],
    [
      'an inline child of 32+ bytes',
      rlpEncode([hp([1], false), [...Array(16).fill(new Uint8Array()), new Uint8Array(20)]]),
    ],
    ['trailing bytes', Uint8Array.from([...rlpEncode([hp([1], true), Uint8Array.of(1)]), 0])],
  ])('rejects %s with a typed error', (_name, bytes) => {
    expect(() => decodeNode(bytes)).toThrow(NodeDecodeError)
  })

  it('re-encodes what it decodes, byte for byte', () => {
    const branch = rlpEncode([
      h32,
      [hp([2], true), Uint8Array.of(7)],
      ...Array(14).fill(new Uint8Array()),
      new Uint8Array(),
    ])
    const n = decodeNode(branch)
    delete n.enc
    expect(toHex(encodeNode(n))).toBe(toHex(branch))
  })

  it('childRefs lists child hashes, and an account leaf’s storage root and code hash unless empty', () => {
    const storageRoot = new Uint8Array(32).fill(1)
    const codeHash = new Uint8Array(32).fill(2)
    const leaf = rlpEncode([
      hp([3, 4], true),
      encodeAccount({ nonce: 0n, balance: 1n, storageRoot, codeHash }),
    ])
    expect(childRefs(decodeNode(leaf), 'state', accountRefs).map((r) => [toHex(r.hash), r.kind])).toEqual([
      [toHex(storageRoot), 'storage'],
      [toHex(codeHash), 'code'],
    ])
    const plain = rlpEncode([
      hp([3, 4], true),
      encodeAccount({ nonce: 0n, balance: 1n, storageRoot: EMPTY_ROOT, codeHash: EMPTY_CODE_HASH }),
    ])
    expect(childRefs(decodeNode(plain), 'state', accountRefs)).toEqual([])
    // In a storage trie, leaves are values, not accounts.
    expect(childRefs(decodeNode(leaf), 'storage', accountRefs)).toEqual([])
    const branch = rlpEncode([h32, ...Array(15).fill(new Uint8Array()), new Uint8Array()])
    expect(childRefs(decodeNode(branch), 'storage').map((r) => [toHex(r.hash), r.kind])).toEqual([
      [toHex(h32), 'storage'],
    ])
  })
})

describe('strict RLP decoder', () => {
  type Nested = Uint8Array | Nested[]
  const item: fc.Arbitrary<Nested> = fc.letrec<{ node: Nested }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      fc.uint8Array({ maxLength: 70 }),
      fc.array(tie('node'), { maxLength: 5 }),
    ),
  })).node
  const plain = (x: unknown): unknown => (x instanceof Uint8Array ? [...x] : (x as unknown[]).map(plain))

  it('agrees with @ethereumjs/rlp on valid encodings and on every mutation of them', () => {
    fc.assert(
      fc.property(item, fc.nat(), fc.integer({ min: 0, max: 255 }), (x, at, byte) => {
        const enc = RLP.encode(x as never)
        expect(plain(rlpDecode(enc))).toEqual(plain(x))
        const bad = enc.slice()
        bad[at % bad.length] = byte
        let theirs: unknown
        try {
          theirs = plain(RLP.decode(bad))
        } catch {
          theirs = 'error'
        }
        let ours: unknown
        try {
          ours = plain(rlpDecode(bad))
        } catch (e) {
          expect(e).toBeInstanceOf(RlpError)
          ours = 'error'
        }
        expect(ours).toEqual(theirs)
      }),
      { numRuns: 3000, seed: 5 },
    )
  })

  it('refuses nesting deeper than its bound instead of overflowing the stack', () => {
    let nested: unknown[] = []
    for (let i = 0; i < 300; i++) nested = [nested]
    expect(() => rlpDecode(RLP.encode(nested as never))).toThrow(RlpError)
    nested = []
    for (let i = 0; i < 200; i++) nested = [nested]
    expect(() => rlpDecode(RLP.encode(nested as never))).not.toThrow()
  })
})
